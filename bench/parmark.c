/*
 * bench/parmark.c: the pause of a full collection of a large live heap,
 * with one marking thread or several (tt_config.mark_threads).
 *
 *   parmark MARK_THREADS [MIB] [COLLECTIONS]
 *
 * One mutator thread builds a live heap of about MIB MiB (default 200) of
 * small objects: nodes of two references and a long (struct node below),
 * in complete binary trees of depth TREE_DEPTH and, one for every
 * TREES_PER_LIST trees, linked lists of LIST_LEN nodes. Each tree and each
 * list is held by a tt_global. The node count comes from the footprint of
 * one node (measured on a first small structure), so it is the same for
 * every MARK_THREADS.
 *
 * Then one untimed tt_collect (it starts the marking helpers), and
 * COLLECTIONS (default 7) timed ones, each timed with CLOCK_MONOTONIC
 * around tt_collect. Nothing is garbage, so a collection is the marking of
 * the whole live heap plus the sweep. The figure is the median pause.
 *
 * Checks: after the collections, stats.live_objects must equal the node
 * count, and a walk of every structure must find every node with its value
 * (the sum of the values is checked). Exit status 1 if not.
 *
 * Output: one ordinary line (the same for every MARK_THREADS), then metric
 * lines: pause_ms (median), pause_min_ms, mark_threads (stats.mark_threads
 * of the last collection: the threads that actually marked).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <tether.h>

enum {
    TREE_DEPTH = 12,     /* 8,191 nodes */
    TREES_PER_LIST = 8,  /* one list for every 8 trees */
    LIST_LEN = 8192,
    MAX_COLLECTIONS = 101
};

struct node {
    tt_ref left, right; /* a list uses left as its next */
    long value;
};

static const tt_type node_type = TT_TYPE_INIT(struct node, left, right);

static void die(const char *what)
{
    const tt_error *e = tt_last_error();
    fprintf(stderr, "parmark: %s failed: %s (%s)\n", what, tt_status_name(e->code), e->message);
    exit(2);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long next_value; /* the value of the next node made */

static tt_ref new_node(tt_thread *t)
{
    tt_ref r = tt_alloc(t, &node_type);
    if (TT_UNLIKELY(tt_is_null(r))) die("tt_alloc");
    TT_PTR(struct node, r)->value = next_value++;
    return r;
}

static long tree_size(int depth) { return (1L << (depth + 1)) - 1; }

/* Give `node` (reachable from a root) children down to `depth` levels. */
static void populate(tt_thread *t, int depth, tt_ref node)
{
    if (depth <= 0) return;
    tt_ref l = new_node(t);
    tt_store(t, node, &TT_PTR(struct node, node)->left, l);
    tt_ref r = new_node(t);
    tt_store(t, node, &TT_PTR(struct node, node)->right, r);
    populate(t, depth - 1, l);
    populate(t, depth - 1, r);
}

/* The structures, each held by a global. */
static tt_global *roots;
static int *is_list;
static long nroots, roots_cap;

static void add_root(tt_thread *t, tt_ref r, int list)
{
    if (nroots == roots_cap) {
        roots_cap = roots_cap ? 2 * roots_cap : 256;
        roots = realloc(roots, (size_t)roots_cap * sizeof *roots);
        is_list = realloc(is_list, (size_t)roots_cap * sizeof *is_list);
        if (!roots || !is_list) {
            fprintf(stderr, "parmark: out of memory\n");
            exit(2);
        }
    }
    roots[nroots] = tt_global_new(t, r);
    if (tt_global_is_null(roots[nroots])) die("tt_global_new");
    is_list[nroots++] = list;
}

static void make_tree(tt_thread *t)
{
    tt_ref root = new_node(t);
    add_root(t, root, 0); /* nothing allocated in between: root needs no other root */
    populate(t, TREE_DEPTH, root);
}

static void make_list(tt_thread *t)
{
    tt_ref head = new_node(t);
    add_root(t, head, 1);
    tt_ref tail = head; /* reachable from the global, never moves */
    for (int i = 1; i < LIST_LEN; ++i) {
        tt_ref n = new_node(t);
        tt_store(t, tail, &TT_PTR(struct node, tail)->left, n);
        tail = n;
    }
}

/* Nodes and the sum of their values, of a tree or a list. */
static void walk(tt_ref n, int list, long *count, long *sum)
{
    while (!tt_is_null(n)) {
        (*count)++;
        *sum += TT_PTR(struct node, n)->value;
        if (!list) walk(TT_PTR(struct node, n)->right, 0, count, sum);
        n = TT_PTR(struct node, n)->left;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static long arg(const char *s, long lo, long hi, const char *what)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi) {
        fprintf(stderr, "parmark: %s must be %ld to %ld\n", what, lo, hi);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: parmark MARK_THREADS [MIB] [COLLECTIONS]\n");
        return 2;
    }
    unsigned mark_threads = (unsigned)arg(argv[1], 1, 64, "MARK_THREADS");
    long mib = argc > 2 ? arg(argv[2], 8, 1 << 20, "MIB") : 200;
    int ncollect = argc > 3 ? (int)arg(argv[3], 1, MAX_COLLECTIONS, "COLLECTIONS") : 7;

    tt_config cfg;
    tt_config_init(&cfg);
    cfg.mark_threads = mark_threads;
    tt_heap *h = tt_heap_open(&cfg);
    if (!h) die("tt_heap_open");
    tt_thread *t = tt_thread_attach(h);
    if (!t) die("tt_thread_attach");

    /* The footprint of a node: one list, collected. */
    tt_stats st;
    make_list(t);
    if (tt_collect(t) != TT_OK) die("tt_collect");
    tt_heap_stats(h, &st);
    if (st.live_objects != LIST_LEN) {
        fprintf(stderr, "parmark: %llu objects live after the first list, expected %d\n",
                (unsigned long long)st.live_objects, LIST_LEN);
        return 1;
    }
    double node_bytes = (double)st.live_bytes / (double)st.live_objects;
    long target_nodes = (long)((double)mib * 1048576.0 / node_bytes);

    /* The heap: trees, and a list every TREES_PER_LIST trees. */
    double b0 = now_s();
    long trees = 0, lists = 1;
    while (next_value < target_nodes) {
        make_tree(t);
        if (++trees % TREES_PER_LIST == 0) {
            make_list(t);
            lists++;
        }
    }
    double build_s = now_s() - b0;
    long nodes = next_value;

    if (tt_collect(t) != TT_OK) die("tt_collect"); /* warm-up: starts the helpers */
    double pause[MAX_COLLECTIONS];
    for (int i = 0; i < ncollect; ++i) {
        double c0 = now_s();
        if (tt_collect(t) != TT_OK) die("tt_collect");
        pause[i] = now_s() - c0;
    }
    tt_heap_stats(h, &st);

    long count = 0, sum = 0;
    for (long i = 0; i < nroots; ++i) walk(tt_global_get(t, roots[i]), is_list[i], &count, &sum);
    int ok = st.live_objects == (uint64_t)nodes && count == nodes &&
             sum == nodes * (nodes - 1) / 2 &&
             trees * tree_size(TREE_DEPTH) + lists * LIST_LEN == nodes;
    if (!ok)
        fprintf(stderr, "parmark: %llu objects live, %ld walked (value sum %ld), expected %ld\n",
                (unsigned long long)st.live_objects, count, sum, nodes);

    qsort(pause, (size_t)ncollect, sizeof pause[0], cmp_double);
    double med = ncollect % 2 ? pause[ncollect / 2]
                              : (pause[ncollect / 2 - 1] + pause[ncollect / 2]) / 2;
    printf("parmark: %ld nodes of %.0f bytes in %ld trees and %ld lists (%.0f MiB live), "
           "%d collections: %s\n",
           nodes, node_bytes, trees, lists, (double)st.live_bytes / 1048576.0, ncollect,
           ok ? "ok" : "CORRUPT");
    printf("@ pause_ms %.1f ms per full collection, median lower\n", med * 1e3);
    printf("@ pause_min_ms %.1f ms per full collection, fastest lower\n", pause[0] * 1e3);
    printf("@ mark_threads %llu threads that marked the last collection -\n",
           (unsigned long long)st.mark_threads);
    printf("@ build_s %.2f s to build the live heap (collections included) lower\n", build_s);

    for (long i = 0; i < nroots; ++i) tt_global_free(t, roots[i]);
    free(roots);
    free(is_list);
    tt_thread_detach(t);
    tt_heap_close(h);
    return ok ? 0 : 1;
}
