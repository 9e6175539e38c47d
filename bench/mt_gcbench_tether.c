/*
 * bench/mt_gcbench_tether.c: GCBench on several threads sharing one tether
 * heap, default configuration (one marking thread per core; at this
 * benchmark's 10 MiB live heap, drains mark alone: see parallel_mark_min).
 *
 *   mt_gcbench_tether THREADS|Np [REPEAT]      (see mt_gcbench.h)
 *
 * Threads. Each worker attaches itself (tt_thread_attach on its own OS
 * thread) and uses only its own tt_thread; it detaches before it returns.
 * The main thread stays attached, holding the shared structure's globals,
 * and waits for the workers inside a foreign region, so that collections
 * do not wait for it while it blocks in pthread_join.
 *
 * Rooting is as in gctree_tether.h: a top-down tree is reachable from a
 * local from its first node on; a bottom-up tree keeps its finished
 * subtrees in locals. The shared structure is reachable from two globals;
 * a worker reads it through tt_global_get. Walks that do not allocate
 * (counting nodes) call tt_safepoint at every node, so that a collection
 * requested by another thread never waits for a whole walk; what they walk
 * is rooted, and objects never move, so the C variables stay valid across
 * those safepoints.
 *
 * After the run (THREADS > 1) the heap's time-to-safepoint figures are
 * printed as metrics: the time from a collection's request to every other
 * thread stopped.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <tether.h>

#define BENCH_NAME "mt_gcbench_tether"
#include "gctree_tether.h"
#include "mt_gcbench.h"

/* The shared structure: the long-lived tree and the array. */
static tt_global shared_tree, shared_array;

/* The nodes of a rooted tree; a safepoint at every node. */
static long count_nodes(tt_thread *t, tt_ref n)
{
    if (tt_is_null(n)) return 0;
    tt_safepoint(t);
    return 1 + count_nodes(t, TT_PTR(struct node, n)->left) +
           count_nodes(t, TT_PTR(struct node, n)->right);
}

/* Read one root-to-leaf path of the shared tree: the nodes visited. */
static long read_path(tt_thread *t, long i)
{
    tt_ref n = tt_global_get(t, shared_tree);
    long visited = 0;
    for (int level = 0; !tt_is_null(n); ++level) {
        visited++;
        n = mt_path_bit(i, level) ? TT_PTR(struct node, n)->right : TT_PTR(struct node, n)->left;
    }
    return visited;
}

struct worker {
    pthread_t id;
    tt_heap *h;
    int repeat;
    struct mt_result res;
};

/* Both phases at one depth. `slot` keeps the tree being built (top-down)
 * or checked (bottom-up) alive. */
static void construction(tt_thread *t, int depth, tt_local slot, struct mt_result *res)
{
    long iters = gcb_num_iters(depth), size = gcb_tree_size(depth);
    for (long i = 0; i < iters; ++i) {
        tt_ref tmp = new_node(t);
        tt_local_set(t, slot, tmp);
        populate(t, depth, tmp);
        if (i == iters - 1 && count_nodes(t, tmp) != size) res->bad++;
        res->trees++;
        res->nodes += size;
        res->path_sum += read_path(t, res->trees);
    }
    for (long i = 0; i < iters; ++i) {
        tt_ref tmp = make_tree(t, depth);
        if (i == iters - 1) {
            tt_local_set(t, slot, tmp);
            if (count_nodes(t, tmp) != size) res->bad++;
        }
        res->trees++;
        res->nodes += size;
        res->path_sum += read_path(t, res->trees);
    }
    tt_local_set(t, slot, TT_NULL);
}

static void *work(void *arg)
{
    struct worker *w = arg;
    tt_thread *t = tt_thread_attach(w->h);
    if (!t) die("tt_thread_attach (worker)");
    tt_frame f = tt_frame_push(t, 1);
    if (tt_frame_is_null(f)) die("tt_frame_push");
    tt_local slot = tt_local_new(t, TT_NULL);
    for (int r = 0; r < w->repeat; ++r) {
        for (int d = kMinTreeDepth; d <= kMaxTreeDepth; d += 2) {
            construction(t, d, slot, &w->res);
            if (count_nodes(t, tt_global_get(t, shared_tree)) != gcb_tree_size(MT_SHARED_DEPTH))
                w->res.bad++;
            if (!mt_array_ok(tt_array_data(tt_global_get(t, shared_array)))) w->res.bad++;
        }
    }
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_thread_detach(t);
    return NULL;
}

/* The run: shared structure, then `threads` workers timed. With a
 * barrier (a process of the processes mode), wait at it before the timed
 * part and return the result in *out instead of printing it. */
static int run(int threads, int repeat, const struct mt_barrier *b, struct mt_proc_result *out)
{
    tt_heap *h = tt_heap_open(NULL);
    if (!h) die("tt_heap_open");
    tt_thread *t = tt_thread_attach(h);
    if (!t) die("tt_thread_attach");
    tt_frame f = tt_frame_push(t, 2);
    if (tt_frame_is_null(f)) die("tt_frame_push");

    /* Stretch the heap with a temporary tree of the largest depth. */
    (void)make_tree(t, kStretchTreeDepth);

    /* The shared structure, held by globals. */
    tt_ref tree = new_node(t);
    (void)tt_local_new(t, tree);
    populate(t, MT_SHARED_DEPTH, tree);
    shared_tree = tt_global_new(t, tree);
    if (tt_global_is_null(shared_tree)) die("tt_global_new");
    tt_ref array = tt_alloc_array(t, &doubles_type, MT_ARRAY_SIZE);
    if (tt_is_null(array)) die("tt_alloc_array");
    shared_array = tt_global_new(t, array);
    if (tt_global_is_null(shared_array)) die("tt_global_new");
    gcb_fill_array(tt_array_data(array));
    tt_frame_pop(t, f, TT_NO_LOCAL); /* from here on only the globals hold it */

    struct worker *w = calloc((size_t)threads, sizeof *w);
    if (!w) die("calloc");
    tt_stats st0, st1;
    tt_heap_stats(h, &st0);

    /* The main thread blocks in pthread_join: inside a foreign region. */
    if (tt_foreign_region_enter(t) != TT_OK) die("tt_foreign_region_enter");
    if (b) mt_barrier_wait(b);
    double t0 = mt_now();
    for (int i = 0; i < threads; ++i) {
        w[i].h = h;
        w[i].repeat = repeat;
        if (pthread_create(&w[i].id, NULL, work, &w[i]) != 0) {
            fprintf(stderr, BENCH_NAME ": pthread_create failed\n");
            return 2;
        }
    }
    for (int i = 0; i < threads; ++i) pthread_join(w[i].id, NULL);
    double t1 = mt_now();
    if (tt_foreign_region_leave(t) != TT_OK) die("tt_foreign_region_leave");
    tt_heap_stats(h, &st1);

    long shared_nodes = count_nodes(t, tt_global_get(t, shared_tree));
    int array_ok = mt_array_ok(tt_array_data(tt_global_get(t, shared_array)));
    int status = 0;
    if (out) {
        out->res = w[0].res;
        out->shared_nodes = shared_nodes;
        out->array_ok = array_ok;
    } else {
        struct mt_result all[MT_MAX_THREADS];
        for (int i = 0; i < threads; ++i) all[i] = w[i].res;
        status = mt_report(BENCH_NAME, all, threads, repeat, shared_nodes, array_ok, t1 - t0);
        printf("@ collections %llu collections in the timed part -\n",
               (unsigned long long)(st1.collections - st0.collections));
        printf("@ gc_pct %.1f %% of the timed part in collection pauses lower\n",
               (double)(st1.pause_ns_total - st0.pause_ns_total) / 1e9 / (t1 - t0) * 100.0);
    }
    if (!out && threads > 1) {
        printf("@ safepoint_p99_us %.1f us time to safepoint, 99th percentile lower\n",
               (double)st1.safepoint_ns_p99 / 1e3);
        printf("@ safepoint_max_us %.1f us time to safepoint, maximum lower\n",
               (double)st1.safepoint_ns_max / 1e3);
        printf("@ safepoint_waits %llu collections that stopped other threads -\n",
               (unsigned long long)(st1.safepoint_waits - st0.safepoint_waits));
        printf("@ mark_threads %llu threads marking in the last collection -\n",
               (unsigned long long)st1.mark_threads);
    }

    tt_global_free(t, shared_tree);
    tt_global_free(t, shared_array);
    tt_thread_detach(t);
    tt_heap_close(h);
    free(w);
    return status;
}

/* A process of the processes mode: one worker thread. */
static void child(int repeat, const struct mt_barrier *b, struct mt_proc_result *out)
{
    if (run(1, repeat, b, out) != 0) _exit(2);
}

int main(int argc, char **argv)
{
    int threads, repeat, processes;
    mt_args(BENCH_NAME, argc, argv, &threads, &repeat, &processes);
    if (processes) return mt_processes(BENCH_NAME, threads, repeat, child);
    return run(threads, repeat, NULL, NULL);
}
