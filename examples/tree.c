/*
 * tree.c: a binary search tree rooted in a global reference, with weak
 * references as a cache of its nodes.
 *
 * A global is a root that belongs to no frame: it lives until it is freed,
 * and any code holding the heap's thread can read it. A weak reference
 * remembers an object without keeping it alive: it reads TT_NULL once a
 * collection finds the object unreachable. Both handles (tt_global,
 * tt_weak) are plain values, safe to keep in C variables and structs;
 * unlike tt_ref, they are not invalidated by a collection.
 */
#include <stdio.h>
#include <stdlib.h>

#include <tether.h>

struct node {
    tt_ref left, right; /* subtrees: traced */
    long key;           /* data: not traced */
};
static const tt_type node_type = TT_TYPE_INIT(struct node, left, right);

static struct node *node_of(tt_ref r) { return TT_PTR(struct node, r); }

static void fail(const char *what)
{
    const tt_error *e = tt_last_error();
    fprintf(stderr, "tree: %s: %s: %s\n", what, tt_status_name(e->code), e->message);
    exit(1);
}

/* Insert key into the tree held by global `root`. Returns TT_OK or the
 * error of the allocation. */
static int insert(tt_thread *t, tt_global root, long key)
{
    /* Allocate first: the tree is rooted by the global, so a collection
     * here keeps it. The new node sits in a C variable until it is linked,
     * and nothing allocates in between, so it cannot be collected. */
    tt_ref n = tt_alloc(t, &node_type);
    if (tt_is_null(n)) return tt_last_error()->code;
    node_of(n)->key = key;

    tt_ref cur = tt_global_get(t, root);
    if (tt_is_null(cur)) return tt_global_set(t, root, n);
    for (;;) {
        struct node *c = node_of(cur);
        if (key == c->key) return TT_OK; /* already there; n is garbage */
        tt_ref *side = key < c->key ? &c->left : &c->right;
        if (tt_is_null(*side)) {
            tt_store(t, cur, side, n); /* the write barrier */
            return TT_OK;
        }
        cur = *side;
    }
}

/* The node holding key, or TT_NULL. Does not allocate. */
static tt_ref find(tt_thread *t, tt_global root, long key)
{
    tt_ref cur = tt_global_get(t, root);
    while (!tt_is_null(cur) && node_of(cur)->key != key)
        cur = key < node_of(cur)->key ? node_of(cur)->left : node_of(cur)->right;
    return cur;
}

static void print_in_order(tt_ref n)
{
    if (tt_is_null(n)) return;
    print_in_order(node_of(n)->left);
    printf(" %ld", node_of(n)->key);
    print_in_order(node_of(n)->right);
}

#define NKEYS 15

/* Which cached nodes are still alive. */
static void show_cache(tt_thread *t, const char *when, tt_weak cache[NKEYS + 1])
{
    printf("%-32s alive:", when);
    for (long k = 1; k <= NKEYS; k++)
        if (!tt_is_null(tt_weak_get(t, cache[k]))) printf(" %ld", k);
    printf("\n");
}

int main(void)
{
    tt_heap *h = tt_heap_open(NULL);
    if (!h) fail("tt_heap_open");
    tt_thread *t = tt_thread_attach(h);
    if (!t) fail("tt_thread_attach");

    /* The tree hangs off one global. It starts empty (TT_NULL). */
    tt_global root = tt_global_new(t, TT_NULL);
    if (tt_global_is_null(root)) fail("tt_global_new");

    /* Keys 1..15, inserted so that the tree is balanced:
     *                 8
     *         4               12
     *     2       6       10      14
     *   1   3   5   7   9  11   13  15          */
    static const long order[NKEYS] = {8, 4, 12, 2, 6, 10, 14, 1, 3, 5, 7, 9, 11, 13, 15};
    for (int i = 0; i < NKEYS; i++)
        if (insert(t, root, order[i]) != TT_OK) fail("insert");
    printf("tree in order:                  ");
    print_in_order(tt_global_get(t, root));
    printf("\n");

    /* A cache of the nodes by key, made of weak references: it does not
     * keep any node alive by itself. */
    tt_weak cache[NKEYS + 1] = {{0}};
    for (long k = 1; k <= NKEYS; k++) {
        cache[k] = tt_weak_new(t, find(t, root, k));
        if (tt_weak_is_null(cache[k])) fail("tt_weak_new");
    }
    tt_collect(t);
    show_cache(t, "after tt_collect", cache);

    /* Pin node 6 with a second global: it keeps 6 and its subtree (5, 7)
     * alive whatever happens to the tree. */
    tt_global pinned = tt_global_new(t, find(t, root, 6));
    if (tt_global_is_null(pinned)) fail("tt_global_new");

    /* Cut the left subtree of the root (4 and below) out of the tree. */
    tt_ref top = tt_global_get(t, root);
    tt_store(t, top, &node_of(top)->left, TT_NULL);
    tt_collect(t);
    show_cache(t, "left subtree cut, 6 pinned", cache);

    /* Unpin: 5, 6 and 7 are unreachable now. */
    tt_global_free(t, pinned);
    tt_collect(t);
    show_cache(t, "6 unpinned", cache);

    /* Replace the whole tree: the global now holds a fresh one-node tree. */
    tt_global_set(t, root, TT_NULL);
    if (insert(t, root, 100) != TT_OK) fail("insert");
    tt_collect(t);
    show_cache(t, "tree replaced", cache);
    printf("new tree in order:              ");
    print_in_order(tt_global_get(t, root));
    printf("\n");

    tt_stats st;
    tt_heap_stats(h, &st);
    printf("live objects %llu, globals %llu, weaks %llu\n", (unsigned long long)st.live_objects,
           (unsigned long long)st.globals, (unsigned long long)st.weaks);

    /* Handles are freed explicitly (closing the heap would also free them). */
    for (long k = 1; k <= NKEYS; k++) tt_weak_free(t, cache[k]);
    tt_global_free(t, root);
    tt_thread_detach(t);
    tt_heap_close(h);
    return 0;
}
