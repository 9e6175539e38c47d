/*
 * bench/gcbench_tether.c: GCBench on tether, default heap configuration.
 *
 * Rooting. tether is precise and non-moving: a tt_ref held only in a C
 * variable across an allocation may be reclaimed, but an object kept alive
 * by a local or by a field of a live object stays put, so a C variable that
 * holds it stays valid. Hence:
 *   - top-down (populate): the tree's root sits in a local; every node is
 *     stored into its parent before anything else is allocated, so the
 *     whole tree under construction is reachable from that local and no
 *     other root is needed;
 *   - bottom-up (make_tree): the left subtree must survive the building of
 *     the right one, and both must survive the allocation of their parent,
 *     so each inner node opens a frame with two locals for its children.
 */
#include <stdio.h>
#include <stdlib.h>

#include <tether.h>

#include "gcbench.h"

struct node {
    tt_ref left, right;
    int i, j;
};

static const tt_type node_type = TT_TYPE_INIT(struct node, left, right);
static const tt_type doubles_type = TT_DATA_ARRAY_TYPE_INIT("doubles", double);

static void die(const char *what)
{
    const tt_error *e = tt_last_error();
    fprintf(stderr, "gcbench_tether: %s failed: %s (%s)\n", what, tt_status_name(e->code),
            e->message);
    exit(2);
}

static tt_ref new_node(tt_thread *t)
{
    tt_ref r = tt_alloc(t, &node_type);
    if (TT_UNLIKELY(tt_is_null(r))) die("tt_alloc");
    return r;
}

/* Give `node` (reachable from a root) children down to `depth` levels. */
static void populate(tt_thread *t, int depth, tt_ref node)
{
    if (depth <= 0) return;
    depth--;
    tt_ref l = new_node(t);
    tt_store(t, node, &TT_PTR(struct node, node)->left, l);
    tt_ref r = new_node(t);
    tt_store(t, node, &TT_PTR(struct node, node)->right, r);
    populate(t, depth, l);
    populate(t, depth, r);
}

/* A tree of `depth` levels built children first. The result is not rooted:
 * the caller roots it before its next allocation. */
static tt_ref make_tree(tt_thread *t, int depth)
{
    if (depth <= 0) return new_node(t);
    tt_frame f = tt_frame_push(t, 2);
    tt_ref l = make_tree(t, depth - 1);
    (void)tt_local_new(t, l);
    tt_ref r = make_tree(t, depth - 1);
    (void)tt_local_new(t, r);
    tt_ref n = new_node(t);
    tt_store(t, n, &TT_PTR(struct node, n)->left, l);
    tt_store(t, n, &TT_PTR(struct node, n)->right, r);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    return n;
}

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
