/*
 * bench/gcbench_tether.c: GCBench on tether, default heap configuration.
 * The trees, and how they are rooted while built, are in gctree_tether.h.
 */
#include <stdio.h>
#include <stdlib.h>

#include <tether.h>

#define BENCH_NAME "gcbench_tether"
#include "gcbench.h"
#include "gctree_tether.h"

static long count_nodes(tt_ref n)
{
    if (tt_is_null(n)) return 0;
    return 1 + count_nodes(TT_PTR(struct node, n)->left) +
           count_nodes(TT_PTR(struct node, n)->right);
}

/* Both phases at one depth; `slot` is a local that keeps the current
 * temporary tree alive while it is built. Returns the trees built. */
static long time_construction(tt_thread *t, int depth, tt_local slot)
{
    long iters = gcb_num_iters(depth);
    for (long i = 0; i < iters; ++i) {
        tt_ref tmp = new_node(t);
        tt_local_set(t, slot, tmp);
        populate(t, depth, tmp);
    }
    for (long i = 0; i < iters; ++i) (void)make_tree(t, depth);
    tt_local_set(t, slot, TT_NULL);
    return 2 * iters;
}

int main(void)
{
    tt_heap *h = tt_heap_open(NULL);
    if (!h) die("tt_heap_open");
    tt_thread *t = tt_thread_attach(h);
    if (!t) die("tt_thread_attach");
    tt_frame f = tt_frame_push(t, 3);
    if (tt_frame_is_null(f)) die("tt_frame_push");

    /* Stretch the heap with a temporary tree of the largest depth. */
    (void)make_tree(t, kStretchTreeDepth);

    /* The long-lived data: a tree and an array of doubles. */
    tt_ref long_lived = new_node(t);
    tt_local long_lived_l = tt_local_new(t, long_lived);
    populate(t, kLongLivedTreeDepth, long_lived);
    tt_ref array = tt_alloc_array(t, &doubles_type, kArraySize);
    if (tt_is_null(array)) die("tt_alloc_array");
    tt_local array_l = tt_local_new(t, array);
    gcb_fill_array(tt_array_data(array));

    tt_local slot = tt_local_new(t, TT_NULL);
    long trees = 0;
    for (int d = kMinTreeDepth; d <= kMaxTreeDepth; d += 2) trees += time_construction(t, d, slot);

    int status = gcb_report(count_nodes(tt_local_get(t, long_lived_l)),
                            tt_array_data(tt_local_get(t, array_l)), trees);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_thread_detach(t);
    tt_heap_close(h);
    return status;
}
