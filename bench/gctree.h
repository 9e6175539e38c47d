/*
 * bench/gctree.h: GCBench's trees made of plain C pointers, shared by the
 * variants whose nodes are ordinary memory (gcbench_bdwgc,
 * mt_gcbench_bdwgc, gcbench_malloc), so that all of them build exactly the
 * same trees.
 *
 * What the variants differ in is how a node is allocated, so the includer
 * defines new_node (declared here); gctree_bdwgc.h defines it for bdwgc.
 * The functions are static, not inline: the keyword would change the
 * compiler's inlining choices in the timed loops.
 */
#ifndef BENCH_GCTREE_H
#define BENCH_GCTREE_H

#include <stddef.h>

struct node {
    struct node *left, *right;
    int i, j;
};

/* A node with children l and r, and i and j zero; it never returns NULL. */
static struct node *new_node(struct node *l, struct node *r);

static void populate(int depth, struct node *node)
{
    if (depth <= 0) return;
    depth--;
    node->left = new_node(NULL, NULL);
    node->right = new_node(NULL, NULL);
    populate(depth, node->left);
    populate(depth, node->right);
}

static struct node *make_tree(int depth)
{
    if (depth <= 0) return new_node(NULL, NULL);
    struct node *l = make_tree(depth - 1);
    struct node *r = make_tree(depth - 1);
    return new_node(l, r);
}

static long count_nodes(const struct node *n)
{
    return n ? 1 + count_nodes(n->left) + count_nodes(n->right) : 0;
}

#endif
