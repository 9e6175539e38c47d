/*
 * bench/gctree_tether.h: GCBench's trees on tether, shared by
 * gcbench_tether and mt_gcbench_tether so that both build exactly the same
 * trees. The includer defines BENCH_NAME (see tt_bench.h) first.
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
 *
 * The functions are static, not inline: the keyword would change the
 * compiler's inlining choices in the timed loops. Each includer uses them
 * all, so none is left unused.
 */
#ifndef BENCH_GCTREE_TETHER_H
#define BENCH_GCTREE_TETHER_H

#include <tether.h>

#include "tt_bench.h"

struct node {
    tt_ref left, right;
    int i, j;
};

static const tt_type node_type = TT_TYPE_INIT(struct node, left, right);
static const tt_type doubles_type = TT_DATA_ARRAY_TYPE_INIT("doubles", double);

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

#endif
