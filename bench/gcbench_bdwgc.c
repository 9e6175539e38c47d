/*
 * bench/gcbench_bdwgc.c: GCBench on the Boehm-Demers-Weiser collector,
 * default configuration. Nodes come from GC_MALLOC (scanned), the array of
 * doubles from GC_MALLOC_ATOMIC (never scanned). bdwgc finds its roots by
 * scanning the stack and data segments, so nothing is registered.
 */
#include <stdio.h>
#include <stdlib.h>

#include <gc.h>

#include "gcbench.h"

struct node {
    struct node *left, *right;
    int i, j;
};

static struct node *new_node(struct node *l, struct node *r)
{
    struct node *n = GC_MALLOC(sizeof *n); /* zeroed */
    if (!n) {
        fprintf(stderr, "gcbench_bdwgc: out of memory\n");
        exit(2);
    }
    n->left = l;
    n->right = r;
    return n;
}

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
        fprintf(stderr, "gcbench_bdwgc: out of memory\n");
        return 2;
    }
    gcb_fill_array(array);

    long trees = 0;
    for (int d = kMinTreeDepth; d <= kMaxTreeDepth; d += 2) trees += time_construction(d);

    return gcb_report(count_nodes(long_lived), array, trees);
}
