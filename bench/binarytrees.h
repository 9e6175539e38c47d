/*
 * bench/binarytrees.h: what the binary-trees variants share.
 *
 * binary-trees is the Computer Language Benchmarks Game program: with
 * maximum depth N (the argument, at least 6) it
 *   1. builds a "stretch" tree of depth N+1, checks it, drops it;
 *   2. builds a long-lived tree of depth N that stays alive to the end;
 *   3. for each depth d = 4, 6, ..., N builds 2^(N-d+4) trees of depth d,
 *      checking each one and dropping it;
 *   4. checks the long-lived tree.
 * A check counts a tree's nodes. The output is the same whatever the
 * allocator, so the runner compares it across variants.
 */
#ifndef BENCH_BINARYTREES_H
#define BENCH_BINARYTREES_H

#include <stdio.h>
#include <stdlib.h>

enum { BT_MIN_DEPTH = 4 };

/* The maximum depth from the command line (default 10). */
static inline int bt_max_depth(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 10;
    if (n < BT_MIN_DEPTH + 2) n = BT_MIN_DEPTH + 2;
    if (n > 30) n = 30;
    return n;
}

/* Trees to build at depth d when the maximum is max_depth. */
static inline long bt_iterations(int max_depth, int d)
{
    return 1L << (max_depth - d + BT_MIN_DEPTH);
}

static inline void bt_print_stretch(int depth, long check)
{
    printf("stretch tree of depth %d\t check: %ld\n", depth, check);
}

static inline void bt_print_depth(long iterations, int depth, long check)
{
    printf("%ld\t trees of depth %d\t check: %ld\n", iterations, depth, check);
}

static inline void bt_print_long_lived(int depth, long check)
{
    printf("long lived tree of depth %d\t check: %ld\n", depth, check);
}

#endif
