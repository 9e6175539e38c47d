/*
 * bench/handles_mt.c: global and weak references from one thread and from
 * two threads at once, in nanoseconds per operation, and how the
 * throughput scales.
 *
 *   global        tt_global_new + tt_global_get + tt_global_free of one
 *                 global at a time (one operation = the three calls);
 *   global_batch  the same calls, BATCH globals at a time: BATCH news, then
 *                 BATCH gets, then BATCH frees (per global);
 *   weak          tt_weak_new + tt_weak_get + tt_weak_free, one at a time.
 *
 * Every operation refers to an object the thread allocated and rooted in a
 * local, so every get must return it; the results are summed and checked.
 *
 * The program measures one of them, named by OP. A phase runs the loop on
 * 1 or 2 threads. Each thread is created for the
 * phase, attaches itself, allocates its object, does an untimed warm-up of
 * a tenth of the operations, then waits at a barrier (inside a foreign
 * region, since it blocks while attached) and runs OPS operations, timed
 * with CLOCK_MONOTONIC. With 2 threads, the aggregate throughput is 2 x OPS
 * over the time from the first thread's start to the last thread's end;
 * the scaling is that throughput divided by the 1-thread one (2.00x would
 * be perfect on 2 free cores; the goal is at least 1.6x for globals).
 * A round runs the 1-thread phase, then the 2-thread phase; every figure
 * is the median over ROUNDS rounds.
 *
 * Usage: handles_mt global|global_batch|weak [-n MILLIONS] [-r ROUNDS]
 *   (operations per thread per phase, default 10; rounds, default 5)
 *
 * Output: one ordinary line, then metric lines: ns_1t (ns per operation,
 * one thread), ns_2t (ns per operation on each of the two threads) and
 * scaling (2-thread aggregate throughput / 1-thread throughput).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tether.h>

#define BENCH_NAME "handles_mt"
#include "tt_bench.h"

enum { MAX_ROUNDS = 51, BATCH = 64, NTHREADS = 2 };

struct thing {
    long value;
};
static const tt_type thing_type = TT_ATOMIC_TYPE_INIT(struct thing);

/* Each loop returns the sum of the bits of the references it read, which
 * must be ops x obj.bits. */
static uint64_t global_loop(tt_thread *t, tt_ref obj, long ops)
{
    uint64_t acc = 0;
    for (long i = 0; i < ops; ++i) {
        tt_global g = tt_global_new(t, obj);
        if (TT_UNLIKELY(tt_global_is_null(g))) die("tt_global_new");
        acc += tt_global_get(t, g).bits;
        tt_global_free(t, g);
    }
    return acc;
}

static uint64_t global_batch_loop(tt_thread *t, tt_ref obj, long ops)
{
    uint64_t acc = 0;
    tt_global g[BATCH];
    for (long i = 0; i < ops; i += BATCH) {
        int k = ops - i < BATCH ? (int)(ops - i) : BATCH;
        for (int j = 0; j < k; ++j) {
            g[j] = tt_global_new(t, obj);
            if (TT_UNLIKELY(tt_global_is_null(g[j]))) die("tt_global_new");
        }
        for (int j = 0; j < k; ++j) acc += tt_global_get(t, g[j]).bits;
        for (int j = 0; j < k; ++j) tt_global_free(t, g[j]);
    }
    return acc;
}

static uint64_t weak_loop(tt_thread *t, tt_ref obj, long ops)
{
    uint64_t acc = 0;
    for (long i = 0; i < ops; ++i) {
        tt_weak w = tt_weak_new(t, obj);
        if (TT_UNLIKELY(tt_weak_is_null(w))) die("tt_weak_new");
        acc += tt_weak_get(t, w).bits;
        tt_weak_free(t, w);
    }
    return acc;
}

typedef uint64_t (*loop_fn)(tt_thread *t, tt_ref obj, long ops);

static const struct op {
    const char *name;
    loop_fn fn;
} ops_table[] = {
    {"global", global_loop},
    {"global_batch", global_batch_loop},
    {"weak", weak_loop},
};
enum { NOPS = sizeof ops_table / sizeof ops_table[0] };

struct job {
    pthread_t id;
    tt_heap *h;
    loop_fn fn;
    long ops;
    pthread_barrier_t *start;
    double t0, t1;
    int ok;
};

static void *run(void *arg)
{
    struct job *j = arg;
    tt_thread *t = tt_thread_attach(j->h);
    if (!t) die("tt_thread_attach");
    tt_frame f = tt_frame_push(t, 1);
    if (tt_frame_is_null(f)) die("tt_frame_push");
    tt_ref obj = tt_alloc(t, &thing_type);
    if (tt_is_null(obj)) die("tt_alloc");
    (void)tt_local_new(t, obj); /* rooted; nothing below allocates from the heap */
    long warm = j->ops / 10 > 0 ? j->ops / 10 : 1;
    int ok = j->fn(t, obj, warm) == (uint64_t)warm * obj.bits;

    if (tt_foreign_region_enter(t) != TT_OK) die("tt_foreign_region_enter");
    pthread_barrier_wait(j->start);
    if (tt_foreign_region_leave(t) != TT_OK) die("tt_foreign_region_leave");
    j->t0 = now_s();
    uint64_t acc = j->fn(t, obj, j->ops);
    j->t1 = now_s();

    j->ok = ok && acc == (uint64_t)j->ops * obj.bits;
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_thread_detach(t);
    return NULL;
}

/* One phase on n threads: the aggregate throughput (operations per second)
 * into *thr and the mean per-thread ns per operation into *ns. Returns 1 if
 * every check passed. */
static int phase(tt_heap *h, loop_fn fn, int n, long ops, double *thr, double *ns)
{
    struct job jobs[NTHREADS];
    pthread_barrier_t start;
    if (pthread_barrier_init(&start, NULL, (unsigned)n) != 0) {
        fprintf(stderr, "handles_mt: pthread_barrier_init failed\n");
        exit(2);
    }
    for (int i = 0; i < n; ++i) {
        jobs[i] = (struct job){.h = h, .fn = fn, .ops = ops, .start = &start};
        if (pthread_create(&jobs[i].id, NULL, run, &jobs[i]) != 0) {
            fprintf(stderr, "handles_mt: pthread_create failed\n");
            exit(2);
        }
    }
    for (int i = 0; i < n; ++i) pthread_join(jobs[i].id, NULL);
    pthread_barrier_destroy(&start);
    double first = jobs[0].t0, last = jobs[0].t1, per = 0;
    int ok = 1;
    for (int i = 0; i < n; ++i) {
        if (jobs[i].t0 < first) first = jobs[i].t0;
        if (jobs[i].t1 > last) last = jobs[i].t1;
        per += (jobs[i].t1 - jobs[i].t0) / (double)ops * 1e9;
        ok = ok && jobs[i].ok;
    }
    *thr = (double)n * (double)ops / (last - first);
    *ns = per / n;
    return ok;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof v[0], cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void usage(void)
{
    fprintf(stderr, "usage: handles_mt global|global_batch|weak [-n MILLIONS] [-r ROUNDS]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    long ops = 10000000L;
    int rounds = 5;
    if (argc < 2) usage();
    const struct op *op = NULL;
    for (int k = 0; k < NOPS; ++k)
        if (strcmp(argv[1], ops_table[k].name) == 0) op = &ops_table[k];
    if (!op) usage();
    for (int i = 2; i < argc; ++i) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
            double m = atof(argv[++i]);
            if (m <= 0 || m > 10000) {
                fprintf(stderr, "handles_mt: -n wants a positive number of millions\n");
                return 2;
            }
            ops = (long)(m * 1e6) < BATCH ? BATCH : (long)(m * 1e6);
        } else if (strcmp(argv[i], "-r") == 0 && i + 1 < argc) {
            rounds = atoi(argv[++i]);
            if (rounds < 1 || rounds > MAX_ROUNDS) {
                fprintf(stderr, "handles_mt: -r wants 1 to %d rounds\n", MAX_ROUNDS);
                return 2;
            }
        } else {
            usage();
        }
    }

    tt_heap *h = tt_heap_open(NULL);
    if (!h) die("tt_heap_open");

    double ns1[MAX_ROUNDS], ns2[MAX_ROUNDS], scale[MAX_ROUNDS];
    int ok = 1;
    for (int r = 0; r < rounds; ++r) {
        double thr1, thr2;
        ok &= phase(h, op->fn, 1, ops, &thr1, &ns1[r]);
        ok &= phase(h, op->fn, NTHREADS, ops, &thr2, &ns2[r]);
        scale[r] = thr2 / thr1;
    }
    tt_stats st;
    tt_heap_stats(h, &st);
    ok = ok && st.globals == 0 && st.weaks == 0;
    tt_heap_close(h);

    printf("handles_mt %s: %ld operations per thread per phase, 1 and %d threads, %d rounds: %s\n",
           op->name, ops, NTHREADS, rounds, ok ? "ok" : "FAILED");
    printf("@ ns_1t %.2f ns per operation, 1 thread lower\n", median(ns1, rounds));
    printf("@ ns_2t %.2f ns per operation on each of 2 threads lower\n", median(ns2, rounds));
    printf("@ scaling %.2f x: 2-thread aggregate throughput / 1-thread higher\n",
           median(scale, rounds));
    return ok ? 0 : 1;
}
