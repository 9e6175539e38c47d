/*
 * bench/gctree_bdwgc.h: GCBench's trees on the Boehm-Demers-Weiser
 * collector (gcbench_bdwgc, mt_gcbench_bdwgc): gctree.h with nodes from
 * GC_MALLOC, which bdwgc scans for pointers. The includer includes gc.h
 * (after defining GC_THREADS if it needs it) and defines BENCH_NAME, the
 * program's name (a string literal), first.
 */
#ifndef BENCH_GCTREE_BDWGC_H
#define BENCH_GCTREE_BDWGC_H

#include <stdio.h>
#include <stdlib.h>

#include <gc.h>

#include "gctree.h"

#ifndef BENCH_NAME
#error "define BENCH_NAME (the program's name) before including gctree_bdwgc.h"
#endif

static struct node *new_node(struct node *l, struct node *r)
{
    struct node *n = GC_MALLOC(sizeof *n); /* zeroed */
    if (!n) {
        fprintf(stderr, BENCH_NAME ": out of memory\n");
        exit(2);
    }
    n->left = l;
    n->right = r;
    return n;
}

#endif
