/*
 * bench/tt_bench.h: what the tether benchmarks share (gcbench_tether,
 * mt_gcbench_tether, fin_latency, handles_mt): how a failed tether call
 * ends the program, and the clock.
 *
 * The includer defines BENCH_NAME, the program's name (a string literal),
 * before including this header: die() starts its message with it.
 */
#ifndef BENCH_TT_BENCH_H
#define BENCH_TT_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <tether.h>

#ifndef BENCH_NAME
#error "define BENCH_NAME (the program's name) before including tt_bench.h"
#endif

/* A tether call failed: say which, with the thread's last error, and exit
 * with status 2 (no figure of a run that failed may be used). */
static inline void die(const char *what)
{
    const tt_error *e = tt_last_error();
    fprintf(stderr, BENCH_NAME ": %s failed: %s (%s)\n", what, tt_status_name(e->code),
            e->message);
    exit(2);
}

/* CLOCK_MONOTONIC in seconds. */
static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#endif
