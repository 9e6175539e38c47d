/*
 * bench/gcbench_bdwgc.c: GCBench on the Boehm-Demers-Weiser collector,
 * default configuration. Nodes come from GC_MALLOC (scanned), the array of
 * doubles from GC_MALLOC_ATOMIC (never scanned). bdwgc finds its roots by
 * scanning the stack and data segments, so nothing is registered.
 */
#include <stdio.h>
#include <stdlib.h>

#include <gc.h>

#define BENCH_NAME "gcbench_bdwgc"
#include "gcbench.h"
#include "gctree_bdwgc.h"

static long time_construction(int depth)
{
    long iters = gcb_num_iters(depth);
    for (long i = 0; i < iters; ++i) {
        struct node *tmp = new_node(NULL, NULL);
        populate(depth, tmp);
    }
    for (long i = 0; i < iters; ++i) (void)make_tree(depth);
    return 2 * iters;
}

int main(void)
{
    GC_INIT();

    (void)make_tree(kStretchTreeDepth);

    struct node *long_lived = new_node(NULL, NULL);
    populate(kLongLivedTreeDepth, long_lived);
    double *array = GC_MALLOC_ATOMIC(sizeof(double) * kArraySize);
    if (!array) {
        fprintf(stderr, BENCH_NAME ": out of memory\n");
        return 2;
    }
    gcb_fill_array(array);

    long trees = 0;
    for (int d = kMinTreeDepth; d <= kMaxTreeDepth; d += 2) trees += time_construction(d);

    return gcb_report(count_nodes(long_lived), array, trees);
}
