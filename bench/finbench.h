/*
 * bench/finbench.h: what the finalizer benchmarks share (fin_*, chain_*,
 * pressure_*).
 *
 * Each program prints its result on standard output in two kinds of line:
 * ordinary lines, identical for every variant, so that the runner can check
 * that the variants did the same work; and metric lines
 *     @ NAME VALUE UNIT BETTER
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
    printf("@ objects_per_s %.3f M_objects/s_(allocate,_register,_collect,_run_the_cleanup) "
           "higher\n",
           (double)n / seconds / 1e6);
    printf("@ collections %lu collections_during_the_timed_part -\n", collections);
    return ok ? 0 : 1;
}

#endif
