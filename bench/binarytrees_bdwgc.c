/*
 * bench/binarytrees_bdwgc.c: binary-trees on the Boehm-Demers-Weiser
 * collector, default configuration: nodes from GC_MALLOC, never freed.
 */
#include <stdio.h>
#include <stdlib.h>

#include <gc.h>

#include "binarytrees.h"

struct node {
    struct node *left, *right;
};

static struct node *new_node(struct node *l, struct node *r)
{
    struct node *n = GC_MALLOC(sizeof *n);
    if (!n) {
        fprintf(stderr, "binarytrees_bdwgc: out of memory\n");
        exit(2);
    }
    n->left = l;
    n->right = r;
    return n;
}

static struct node *bottom_up_tree(int depth)
{
    if (depth <= 0) return new_node(NULL, NULL);
    struct node *l = bottom_up_tree(depth - 1);
    struct node *r = bottom_up_tree(depth - 1);
    return new_node(l, r);
}

static long check_tree(const struct node *n)
{
    if (!n->left) return 1;
    return 1 + check_tree(n->left) + check_tree(n->right);
}

int main(int argc, char **argv)
{
    GC_INIT();
    int max_depth = bt_max_depth(argc, argv);

    bt_print_stretch(max_depth + 1, check_tree(bottom_up_tree(max_depth + 1)));

    struct node *long_lived = bottom_up_tree(max_depth);

    for (int d = BT_MIN_DEPTH; d <= max_depth; d += 2) {
        long iters = bt_iterations(max_depth, d), check = 0;
        for (long i = 0; i < iters; ++i) check += check_tree(bottom_up_tree(d));
        bt_print_depth(iters, d, check);
    }

    bt_print_long_lived(max_depth, check_tree(long_lived));
    return 0;
}
