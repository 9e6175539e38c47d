/*
 * bench/gcbench.h: what the GCBench variants share.
 *
 * GCBench is Hans Boehm's classic collector benchmark (after John Ellis and
 * Pete Kovac). It builds complete binary trees of depth 4, 6, ..., 16, each
 * as many times as it takes to allocate about twice the nodes of a tree of
 * depth 18, once top-down (a node is allocated, then its children are
 * stored into it) and once bottom-up (children first, then their parent).
 * Throughout, a long-lived tree of depth 16 and an array of 500,000 doubles
 * stay alive, so every collection has real live data to trace.
 *
 * The variants differ only in how a node is allocated, rooted and (for
 * malloc) freed. Each prints one line, identical across variants, so the
 * runner can check that they did the same work.
 */
#ifndef BENCH_GCBENCH_H
#define BENCH_GCBENCH_H

#include <stdio.h>

/* The classic constants. */
enum {
    kStretchTreeDepth = 18,
    kLongLivedTreeDepth = 16,
    kArraySize = 500000,
    kMinTreeDepth = 4,
    kMaxTreeDepth = 16
};

/* Nodes in a complete binary tree of depth `depth` (a lone node is depth 0). */
static inline long gcb_tree_size(int depth) { return (1L << (depth + 1)) - 1; }

/* Trees of depth `depth` to build in each of the two phases. */
static inline long gcb_num_iters(int depth)
{
    return 2 * gcb_tree_size(kStretchTreeDepth) / gcb_tree_size(depth);
}

/* Fill the first half of the long-lived array as the original does
 * (element 0 is 1.0/0.0, infinity). */
static inline void gcb_fill_array(double *a)
{
    for (int i = 0; i < kArraySize / 2; ++i) a[i] = 1.0 / i;
}

/* The final check and line: the long-lived tree still has all its nodes,
 * the array still holds its values. Returns the exit status. */
static inline int gcb_report(long long_lived_nodes, const double *a, long trees_built)
{
    int ok = long_lived_nodes == gcb_tree_size(kLongLivedTreeDepth) && a[1000] == 1.0 / 1000 &&
             a[kArraySize / 2 - 1] == 1.0 / (kArraySize / 2 - 1);
    printf("gcbench: %ld temporary trees, long-lived tree %ld nodes, array[1000] %.6f: %s\n",
           trees_built, long_lived_nodes, a[1000], ok ? "ok" : "CORRUPT");
    return ok ? 0 : 1;
}

#endif
