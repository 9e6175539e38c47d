/*
 * bench/binarytrees_malloc.c: binary-trees with explicit memory management:
 * each tree is freed node by node after its check.
 *
 * Compiled twice: as binarytrees_malloc against the C library's allocator
 * (glibc malloc), and with -DUSE_MIMALLOC as binarytrees_mimalloc against
 * mimalloc, called explicitly (mi_malloc/mi_free).
 */
#include <stdio.h>
#include <stdlib.h>

#ifdef USE_MIMALLOC
#include <mimalloc.h>
#define bench_malloc mi_malloc
#define bench_free mi_free
#define BENCH_NAME "binarytrees_mimalloc"
#else
#define bench_malloc malloc
#define bench_free free
#define BENCH_NAME "binarytrees_malloc"
#endif

#include "binarytrees.h"

struct node {
    struct node *left, *right;
};

static struct node *new_node(struct node *l, struct node *r)
{
    struct node *n = bench_malloc(sizeof *n);
    if (!n) {
        fprintf(stderr, BENCH_NAME ": out of memory\n");
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

static void free_tree(struct node *n)
{
    if (n->left) {
        free_tree(n->left);
        free_tree(n->right);
    }
    bench_free(n);
}

int main(int argc, char **argv)
{
    int max_depth = bt_max_depth(argc, argv);

    struct node *stretch = bottom_up_tree(max_depth + 1);
    bt_print_stretch(max_depth + 1, check_tree(stretch));
    free_tree(stretch);

    struct node *long_lived = bottom_up_tree(max_depth);

    for (int d = BT_MIN_DEPTH; d <= max_depth; d += 2) {
        long iters = bt_iterations(max_depth, d), check = 0;
        for (long i = 0; i < iters; ++i) {
            struct node *tmp = bottom_up_tree(d);
            check += check_tree(tmp);
            free_tree(tmp);
        }
        bt_print_depth(iters, d, check);
    }

    bt_print_long_lived(max_depth, check_tree(long_lived));
    free_tree(long_lived);
    return 0;
}
