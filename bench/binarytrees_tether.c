/*
 * bench/binarytrees_tether.c: binary-trees on tether, default heap
 * configuration: nodes from tt_alloc, never freed.
 *
 * Rooting. An inner node is allocated first and rooted in a local of a
 * one-slot frame; each child, once built, is stored into it before the
 * next allocation, so everything built so far is reachable from that
 * local. Objects never move, so the C variable holding the node stays
 * valid while the local keeps it alive. Leaves allocate nothing after
 * themselves and need no frame. The tree being checked is not rooted:
 * checking allocates nothing.
 */
#include <stdio.h>
#include <stdlib.h>

#include <tether.h>

#include "binarytrees.h"

struct node {
    tt_ref left, right;
};

static const tt_type node_type = TT_TYPE_INIT(struct node, left, right);

static void die(const char *what)
{
    const tt_error *e = tt_last_error();
    fprintf(stderr, "binarytrees_tether: %s failed: %s (%s)\n", what, tt_status_name(e->code),
            e->message);
    exit(2);
}

static tt_ref new_node(tt_thread *t)
{
    tt_ref r = tt_alloc(t, &node_type); /* zeroed: both children null */
    if (TT_UNLIKELY(tt_is_null(r))) die("tt_alloc");
    return r;
}

/* A tree of `depth` levels. The result is not rooted: the caller stores or
 * roots it before its next allocation. */
static tt_ref bottom_up_tree(tt_thread *t, int depth)
{
    tt_ref n = new_node(t);
    if (depth > 0) {
        tt_frame f = tt_frame_push(t, 1);
        (void)tt_local_new(t, n);
        tt_ref l = bottom_up_tree(t, depth - 1);
        tt_store(t, n, &TT_PTR(struct node, n)->left, l);
        tt_ref r = bottom_up_tree(t, depth - 1);
        tt_store(t, n, &TT_PTR(struct node, n)->right, r);
        tt_frame_pop(t, f, TT_NO_LOCAL);
    }
    return n;
}

static long check_tree(tt_ref n)
{
    const struct node *p = TT_PTR(struct node, n);
    if (tt_is_null(p->left)) return 1;
    return 1 + check_tree(p->left) + check_tree(p->right);
}

int main(int argc, char **argv)
{
    int max_depth = bt_max_depth(argc, argv);
    tt_heap *h = tt_heap_open(NULL);
    if (!h) die("tt_heap_open");
    tt_thread *t = tt_thread_attach(h);
    if (!t) die("tt_thread_attach");
    tt_frame f = tt_frame_push(t, 1);
    if (tt_frame_is_null(f)) die("tt_frame_push");

    bt_print_stretch(max_depth + 1, check_tree(bottom_up_tree(t, max_depth + 1)));

    tt_local long_lived = tt_local_new(t, bottom_up_tree(t, max_depth));

    for (int d = BT_MIN_DEPTH; d <= max_depth; d += 2) {
        long iters = bt_iterations(max_depth, d), check = 0;
        for (long i = 0; i < iters; ++i) check += check_tree(bottom_up_tree(t, d));
        bt_print_depth(iters, d, check);
    }

    bt_print_long_lived(max_depth, check_tree(tt_local_get(t, long_lived)));
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_thread_detach(t);
    tt_heap_close(h);
    return 0;
}
