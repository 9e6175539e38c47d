/*
 * bench/mt_gcbench_bdwgc.c: GCBench on several threads on the
 * Boehm-Demers-Weiser collector, default configuration (on Debian, libgc
 * is built with thread-local allocation and a parallel marker).
 *
 *   mt_gcbench_bdwgc THREADS [REPEAT]      (see mt_gcbench.h)
 *
 * GC_THREADS is defined before gc.h, GC_INIT runs first, and the workers
 * are created with GC_pthread_create, which registers each with the
 * collector (its stack is scanned, and it is stopped with a signal during
 * collections). The shared structure is held by static variables, which
 * the collector scans as roots.
 */
#define GC_THREADS
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <gc.h>

#define BENCH_NAME "mt_gcbench_bdwgc"
#include "gctree_bdwgc.h"
#include "mt_gcbench.h"

static struct node *shared_tree;
static double *shared_array;

static long read_path(long i)
{
    const struct node *n = shared_tree;
    long visited = 0;
    for (int level = 0; n; ++level) {
        visited++;
        n = mt_path_bit(i, level) ? n->right : n->left;
    }
    return visited;
}

struct worker {
    pthread_t id;
    int repeat;
    struct mt_result res;
};

static void construction(int depth, struct mt_result *res)
{
    long iters = gcb_num_iters(depth), size = gcb_tree_size(depth);
    for (long i = 0; i < iters; ++i) {
        struct node *tmp = new_node(NULL, NULL);
        populate(depth, tmp);
        if (i == iters - 1 && count_nodes(tmp) != size) res->bad++;
        res->trees++;
        res->nodes += size;
        res->path_sum += read_path(res->trees);
    }
    for (long i = 0; i < iters; ++i) {
        struct node *tmp = make_tree(depth);
        if (i == iters - 1 && count_nodes(tmp) != size) res->bad++;
        res->trees++;
        res->nodes += size;
        res->path_sum += read_path(res->trees);
    }
}

static void *work(void *arg)
{
    struct worker *w = arg;
    for (int r = 0; r < w->repeat; ++r) {
        for (int d = kMinTreeDepth; d <= kMaxTreeDepth; d += 2) {
            construction(d, &w->res);
            if (count_nodes(shared_tree) != gcb_tree_size(MT_SHARED_DEPTH)) w->res.bad++;
            if (!mt_array_ok(shared_array)) w->res.bad++;
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int threads, repeat, processes;
    mt_args(BENCH_NAME, argc, argv, &threads, &repeat, &processes);
    if (processes) {
        fprintf(stderr, BENCH_NAME ": the processes mode is tether's ceiling check only\n");
        return 2;
    }
    GC_INIT();

    (void)make_tree(kStretchTreeDepth);

    shared_tree = new_node(NULL, NULL);
    populate(MT_SHARED_DEPTH, shared_tree);
    shared_array = GC_MALLOC_ATOMIC(sizeof(double) * MT_ARRAY_SIZE);
    if (!shared_array) {
        fprintf(stderr, BENCH_NAME ": out of memory\n");
        return 2;
    }
    memset(shared_array, 0, sizeof(double) * MT_ARRAY_SIZE); /* atomic memory is not zeroed */
    gcb_fill_array(shared_array);

    struct worker *w = calloc((size_t)threads, sizeof *w);
    if (!w) {
        fprintf(stderr, BENCH_NAME ": out of memory\n");
        return 2;
    }
    GC_word gc0 = GC_get_gc_no();
    double t0 = mt_now();
    for (int i = 0; i < threads; ++i) {
        w[i].repeat = repeat;
        if (GC_pthread_create(&w[i].id, NULL, work, &w[i]) != 0) {
            fprintf(stderr, BENCH_NAME ": GC_pthread_create failed\n");
            return 2;
        }
    }
    for (int i = 0; i < threads; ++i) GC_pthread_join(w[i].id, NULL);
    double t1 = mt_now();
    GC_word gc1 = GC_get_gc_no();

    struct mt_result all[MT_MAX_THREADS];
    for (int i = 0; i < threads; ++i) all[i] = w[i].res;
    int status = mt_report(BENCH_NAME, all, threads, repeat, count_nodes(shared_tree),
                           mt_array_ok(shared_array), t1 - t0);
    printf("@ collections %lu collections in the timed part -\n", (unsigned long)(gc1 - gc0));
    free(w);
    return status;
}
