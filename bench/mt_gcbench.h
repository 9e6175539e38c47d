/*
 * bench/mt_gcbench.h: what the multi-threaded GCBench variants share
 * (mt_gcbench_tether, mt_gcbench_bdwgc).
 *
 *   mt_gcbench_VARIANT THREADS [REPEAT]
 *
 * The main thread first builds a shared long-lived structure: a complete
 * binary tree of depth MT_SHARED_DEPTH and an array of MT_ARRAY_SIZE
 * doubles (tether: each held by a tt_global; bdwgc: by static variables,
 * which its collector scans). Then THREADS worker threads start, and each
 * does the same work, whatever THREADS is: REPEAT times (default
 * MT_REPEAT) the GCBench loop, that is, for each depth 4, 6, ..., 16,
 * gcb_num_iters(depth) trees built top-down and as many bottom-up, each
 * dropped once built. After every temporary tree a worker reads one path
 * from the root of the shared tree to a leaf (chosen by the tree's number);
 * after every depth it walks the whole shared tree, checks the array, and
 * counts the nodes of its last temporary tree of each phase. So THREADS
 * threads do THREADS times the work of one.
 *
 * The timed part runs from just before the first worker is created to just
 * after the last one is joined (thread start-up and attachment included).
 * Its throughput, in millions of tree nodes allocated per second, is
 * printed as a metric; the 2-thread run should reach at least 1.6 times
 * the 1-thread figure.
 *
 * The ceiling of the machine: `mt_gcbench_VARIANT Np [REPEAT]` runs the
 * same work as N threads, but in N processes of one worker thread each,
 * every one with its own heap and shared structure: nothing is shared but
 * the machine (cores, caches, memory bandwidth, the kernel's page
 * allocator). The timed part runs from the moment every process has built
 * its shared structure (a pipe barrier) to the last one's result. Threads
 * sharing one heap cannot do better than this, so the N-process figure
 * says how much of a miss in thread scaling is the machine's.
 *
 * Output: one ordinary line, identical for every variant and thread count
 * (what each thread built, and "ok"), so that the runner can check that
 * the runs did the same work per thread; then metric lines. A check that
 * fails makes the program print CORRUPT and exit with status 1.
 */
#ifndef BENCH_MT_GCBENCH_H
#define BENCH_MT_GCBENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gcbench.h"

enum {
    MT_SHARED_DEPTH = kLongLivedTreeDepth, /* 16: 131,071 nodes */
    MT_ARRAY_SIZE = kArraySize,
    MT_REPEAT = 2,    /* GCBench loops per thread */
    MT_MAX_THREADS = 64
};

/* What one worker did and found. */
struct mt_result {
    long trees;        /* temporary trees built */
    long nodes;        /* nodes allocated for them */
    long path_sum;     /* sum of the depths reached by the path reads */
    long bad;          /* checks that failed */
};

static inline double mt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* THREADS (or Np: *processes set) and REPEAT from the command line, or
 * exit 2. */
static inline void mt_args(const char *prog, int argc, char **argv, int *threads, int *repeat,
                           int *processes)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s THREADS|Np [REPEAT]\n", prog);
        exit(2);
    }
    char *end;
    long n = strtol(argv[1], &end, 10);
    *processes = *end == 'p';
    if (*processes) end++;
    if (*end || n < 1 || n > MT_MAX_THREADS) {
        fprintf(stderr, "%s: THREADS must be 1 to %d\n", prog, MT_MAX_THREADS);
        exit(2);
    }
    *threads = (int)n;
    *repeat = MT_REPEAT;
    if (argc == 3) {
        long r = strtol(argv[2], &end, 10);
        if (*end || r < 1 || r > 1000) {
            fprintf(stderr, "%s: REPEAT must be 1 to 1000\n", prog);
            exit(2);
        }
        *repeat = (int)r;
    }
}

/* The work of one thread, for the checks: trees and nodes per thread. */
static inline long mt_expected_trees(int repeat)
{
    long trees = 0;
    for (int d = kMinTreeDepth; d <= kMaxTreeDepth; d += 2) trees += 2 * gcb_num_iters(d);
    return trees * repeat;
}

static inline long mt_expected_nodes(int repeat)
{
    long nodes = 0;
    for (int d = kMinTreeDepth; d <= kMaxTreeDepth; d += 2)
        nodes += 2 * gcb_num_iters(d) * gcb_tree_size(d);
    return nodes * repeat;
}

/* The path read of temporary tree number i: its bits choose left (0) or
 * right (1) at each level. Every path of a complete tree of depth
 * MT_SHARED_DEPTH has MT_SHARED_DEPTH + 1 nodes. */
static inline int mt_path_bit(long i, int level) { return (int)((i >> (level % 31)) & 1); }

/* The array of the shared structure as gcb_fill_array leaves it. */
static inline int mt_array_ok(const double *a)
{
    return a[1000] == 1.0 / 1000 && a[MT_ARRAY_SIZE / 2 - 1] == 1.0 / (MT_ARRAY_SIZE / 2 - 1) &&
           a[MT_ARRAY_SIZE / 2] == 0.0;
}

/* The end: check every worker's result, print the line and the metrics.
 * Returns the exit status. */
static inline int mt_report(const char *prog, const struct mt_result *res, int threads,
                            int repeat, long shared_nodes, int array_ok, double seconds)
{
    long trees = mt_expected_trees(repeat), nodes = mt_expected_nodes(repeat);
    long path = trees * (MT_SHARED_DEPTH + 1);
    int ok = shared_nodes == gcb_tree_size(MT_SHARED_DEPTH) && array_ok;
    long total_nodes = 0;
    for (int i = 0; i < threads; ++i) {
        const struct mt_result *r = &res[i];
        if (r->trees != trees || r->nodes != nodes || r->path_sum != path || r->bad != 0) {
            fprintf(stderr,
                    "%s: thread %d: %ld trees (expected %ld), %ld nodes (%ld), path sum %ld (%ld), "
                    "%ld failed checks\n",
                    prog, i, r->trees, trees, r->nodes, nodes, r->path_sum, path, r->bad);
            ok = 0;
        }
        total_nodes += r->nodes;
    }
    printf("mt_gcbench: per thread %ld temporary trees, %ld nodes; shared tree %ld nodes: %s\n",
           trees, nodes, shared_nodes, ok ? "ok" : "CORRUPT");
    printf("@ mnodes_per_s %.2f M tree nodes allocated per second (all threads) higher\n",
           (double)total_nodes / seconds / 1e6);
    printf("@ timed_s %.3f s from the first thread created to the last joined lower\n", seconds);
    return ok ? 0 : 1;
}

/* ---- the processes mode ---- */

/* What one process of the processes mode sends back. */
struct mt_proc_result {
    struct mt_result res;
    long shared_nodes;
    int array_ok;
};

/* The two pipes of the barrier: children say "built" on one and wait for
 * "go" on the other. */
struct mt_barrier {
    int ready[2], go[2], results[2];
};

/* In a child: its shared structure is built; wait until every child's is. */
static inline void mt_barrier_wait(const struct mt_barrier *b)
{
    char c = 1;
    if (write(b->ready[1], &c, 1) != 1 || read(b->go[0], &c, 1) != 1) _exit(3);
}

/* Run `child` in n processes (each calls mt_barrier_wait once its shared
 * structure is built, then does one worker's work and fills *out), time
 * them from the barrier to the last result, and report as mt_report does.
 * Returns the exit status. */
static inline int mt_processes(const char *prog, int n, int repeat,
                               void (*child)(int repeat, const struct mt_barrier *b,
                                             struct mt_proc_result *out))
{
    struct mt_barrier b;
    if (pipe(b.ready) || pipe(b.go) || pipe(b.results)) {
        fprintf(stderr, "%s: pipe failed\n", prog);
        return 2;
    }
    fflush(stdout);
    for (int i = 0; i < n; ++i) {
        pid_t pid = fork();
        if (pid < 0) {
            fprintf(stderr, "%s: fork failed\n", prog);
            return 2;
        }
        if (pid == 0) {
            struct mt_proc_result r;
            memset(&r, 0, sizeof r);
            child(repeat, &b, &r);
            /* Under PIPE_BUF bytes: one atomic write. */
            _exit(write(b.results[1], &r, sizeof r) == (ssize_t)sizeof r ? 0 : 3);
        }
    }
    char c;
    for (int i = 0; i < n; ++i)
        if (read(b.ready[0], &c, 1) != 1) {
            fprintf(stderr, "%s: a process died before the barrier\n", prog);
            return 2;
        }
    double t0 = mt_now();
    for (int i = 0; i < n; ++i)
        if (write(b.go[1], &c, 1) != 1) return 2;
    struct mt_result all[MT_MAX_THREADS];
    long shared_nodes = gcb_tree_size(MT_SHARED_DEPTH);
    int array_ok = 1;
    for (int i = 0; i < n; ++i) {
        struct mt_proc_result r;
        if (read(b.results[0], &r, sizeof r) != (ssize_t)sizeof r) {
            fprintf(stderr, "%s: a process died before its result\n", prog);
            return 2;
        }
        all[i] = r.res;
        if (r.shared_nodes != gcb_tree_size(MT_SHARED_DEPTH)) shared_nodes = r.shared_nodes;
        array_ok &= r.array_ok;
    }
    double t1 = mt_now();
    int status = 0;
    for (int i = 0; i < n; ++i) {
        int ws;
        if (wait(&ws) < 0 || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0) status = 2;
    }
    int rs = mt_report(prog, all, n, repeat, shared_nodes, array_ok, t1 - t0);
    return status ? status : rs;
}

#endif
