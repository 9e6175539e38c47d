/*
 * bench/gcbench_malloc.c: GCBench with explicit memory management: every
 * temporary tree is freed node by node once built, as in the original's
 * non-GC configuration.
 *
 * Compiled twice: as gcbench_malloc against the C library's allocator
 * (glibc malloc), and with -DUSE_MIMALLOC as gcbench_mimalloc against
 * mimalloc, called explicitly (mi_malloc/mi_free).
 */
#include <stdio.h>
#include <stdlib.h>

#ifdef USE_MIMALLOC
#include <mimalloc.h>
#define bench_malloc mi_malloc
#define bench_free mi_free
#define BENCH_NAME "gcbench_mimalloc"
#else
#define bench_malloc malloc
#define bench_free free
#define BENCH_NAME "gcbench_malloc"
#endif

#include "gcbench.h"
#include "gctree.h"

static void *xmalloc(size_t n)
{
    void *p = bench_malloc(n);
    if (!p) {
        fprintf(stderr, BENCH_NAME ": out of memory\n");
        exit(2);
    }
    return p;
}

static struct node *new_node(struct node *l, struct node *r)
{
    struct node *n = xmalloc(sizeof *n);
    n->left = l;
    n->right = r;
    n->i = n->j = 0;
    return n;
}

static void free_tree(struct node *n)
{
    if (!n) return;
    free_tree(n->left);
    free_tree(n->right);
    bench_free(n);
}

static long time_construction(int depth)
{
    long iters = gcb_num_iters(depth);
    for (long i = 0; i < iters; ++i) {
        struct node *tmp = new_node(NULL, NULL);
        populate(depth, tmp);
        free_tree(tmp);
    }
    for (long i = 0; i < iters; ++i) free_tree(make_tree(depth));
    return 2 * iters;
}

int main(void)
{
    free_tree(make_tree(kStretchTreeDepth));

    struct node *long_lived = new_node(NULL, NULL);
    populate(kLongLivedTreeDepth, long_lived);
    double *array = xmalloc(sizeof(double) * kArraySize);
    gcb_fill_array(array);

    long trees = 0;
    for (int d = kMinTreeDepth; d <= kMaxTreeDepth; d += 2) trees += time_construction(d);

    int status = gcb_report(count_nodes(long_lived), array, trees);
    free_tree(long_lived);
    bench_free(array);
    return status;
}
