/*
 * bench/finbench.h: what the finalizer benchmarks share (fin_*, chain_*,
 * pressure_*).
 *
 * Each program prints its result on standard output in two kinds of line:
 * ordinary lines, identical for every variant, so that the runner can check
 * that the variants did the same work; and metric lines
 *     @ NAME VALUE UNIT... BETTER
 * with the figures the program measured itself (see bench/runner.c), which
 * the runner takes out of the comparison and tabulates.
 */
#ifndef BENCH_FINBENCH_H
#define BENCH_FINBENCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Objects in the throughput run, and in the metadata measurement. */
enum { FB_OBJECTS = 2000000, FB_META_OBJECTS = 1000000, FB_RUN_EVERY = 10000 };

/* The pressure run: buffers made, their size, and how many stay alive. */
enum { FB_BUFFERS = 20000, FB_BUFFER_SIZE = 1 << 20, FB_KEEP = 10 };

/* The chain: its length, and the most collections tried for the chain and
 * for the cycle. */
enum { FB_CHAIN = 1000, FB_CHAIN_CAP = 2000, FB_CYCLE_CAP = 10 };

/* The finalizable object of the throughput and metadata runs: 16 bytes. */
struct fb_cell {
    long id;
    long pad;
};

static inline double fb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* For the bdwgc ports: overwrite the stack below the caller with zeros, so
 * that stale pointers left there by a function that returned are not found
 * by the conservative stack scan of the next collection (which runs in
 * frames laid over that area). */
static __attribute__((noinline, unused)) void fb_scrub_stack(void)
{
    volatile uintptr_t area[8 * 1024]; /* 64 KiB */
    for (size_t i = 0; i < sizeof area / sizeof area[0]; ++i) area[i] = 0;
}

/* A positive count from a command-line argument, or exit 2. */
static inline long fb_count(const char *prog, const char *arg)
{
    char *end;
    long n = strtol(arg, &end, 10);
    if (*end || n <= 0 || n > 100000000) {
        fprintf(stderr, "%s: bad count %s\n", prog, arg);
        exit(2);
    }
    return n;
}

/* The end of a throughput run: every one of the n cleanups must have run
 * exactly once (ran[i] == 1). Prints the result line and the metrics;
 * returns the exit status. */
static inline int fb_report(const char *prog, const unsigned char *ran, long n, double seconds,
                            unsigned long collections)
{
    long never = 0, twice = 0;
    for (long i = 0; i < n; ++i) {
        if (ran[i] == 0) never++;
        if (ran[i] > 1) twice++;
    }
    int ok = never == 0 && twice == 0;
    if (!ok)
        fprintf(stderr, "%s: %ld cleanups never ran, %ld ran more than once\n", prog, never,
                twice);
    printf("finalizable objects: %ld allocated, registered, dropped; every cleanup ran exactly "
           "once: %s\n",
           n, ok ? "ok" : "FAILED");
    printf("@ objects_per_s %.3f M objects/s (allocate, register, collect, run the cleanup) "
           "higher\n",
           (double)n / seconds / 1e6);
    printf("@ collections %lu collections during the timed part -\n", collections);
    return ok ? 0 : 1;
}

/* The end of a metadata run: n objects registered and held live, `meta`
 * bytes of finalization metadata and `objects` heap bytes for them.
 * Returns the exit status. */
static inline int fb_meta_report(long n, int ok, double meta, double objects)
{
    printf("metadata: %ld finalizable objects registered and held live: %s\n", n,
           ok ? "ok" : "FAILED");
    printf("@ meta_bytes_per_object %.2f bytes of finalization metadata per object "
           "(tether: tt_stats.cleanup_meta_bytes / N; bdwgc: growth of heap size less free "
           "bytes / N) lower\n",
           meta / (double)n);
    printf("@ object_bytes %.2f heap bytes per object (headers included) -\n",
           objects / (double)n);
    return ok ? 0 : 1;
}

/* The end of the chain run. chain and cycle: collections until every
 * finalizer ran, or -1 if they did not within the cap; order: the order in
 * which the chain's finalizers ran (order[k] the index of the k-th, 1 to
 * FB_CHAIN), `ran_count` of them. */
static inline void fb_chain_report(long chain, const long *order, long ran_count, long cycle)
{
    int in_order = 1;
    for (long k = 0; k < ran_count && k < FB_CHAIN; ++k)
        if (order[k] != k + 1) in_order = 0;
    printf("chain: %d finalizable objects A1 -> A2 -> ... -> A%d and a 2-object cycle, "
           "all dropped\n",
           FB_CHAIN, FB_CHAIN);
    if (chain >= 0)
        printf("@ chain_collections %ld ", chain);
    else
        printf("@ chain_collections never(%d) ", FB_CHAIN_CAP);
    printf("collections until every finalizer of the 1000-object chain ran lower\n");
    printf("@ chain_finalized %ld finalizers of the chain run by then (of 1000) higher\n",
           ran_count);
    if (!in_order)
        printf("@ chain_order WRONG ");
    else if (ran_count == 0)
        printf("@ chain_order none ");
    else
        printf("@ chain_order A1..A%ld ", ran_count);
    printf("order the chain's finalizers ran in (A1..A1000: A1 first, A1000 last) -\n");
    if (cycle >= 0)
        printf("@ cycle_collections %ld ", cycle);
    else
        printf("@ cycle_collections never(%d) ", FB_CYCLE_CAP);
    printf("collections until both finalizers of a 2-object cycle ran lower\n");
}

/* The end of the pressure run: n buffers made; the last FB_KEEP, kept in
 * `last` (last[i % FB_KEEP] is buffer i), must still hold their fill
 * (i & 0xff); peak: most buffers allocated and not yet freed at one time.
 * Returns the exit status. */
static inline int fb_pressure_report(long n, unsigned char *const *last, long peak,
                                     unsigned long collections)
{
    int ok = 1;
    for (long i = n > FB_KEEP ? n - FB_KEEP : 0; i < n; ++i) {
        const unsigned char *b = last[i % FB_KEEP];
        if (!b || b[0] != (unsigned char)i || b[FB_BUFFER_SIZE - 1] != (unsigned char)i) ok = 0;
    }
    printf("pressure: %ld buffers of 1 MiB, each owned by a collected object, the last %d "
           "kept: %s\n",
           n, FB_KEEP, ok ? "ok" : "FAILED");
    printf("@ peak_buffers_live %ld 1-MiB buffers allocated and not yet freed, at the peak "
           "lower\n",
           peak);
    printf("@ collections %lu collections during the run -\n", collections);
    return ok ? 0 : 1;
}

#endif
