/*
 * bench/fin_latency.c: finalizer latency with a finalizer thread
 * (tt_config.finalizer_thread = 1).
 *
 *   fin_latency [SECONDS] [RATE]
 *
 * One mutator makes N = SECONDS x RATE (default 2.5 x 1,000,000) foreign
 * objects, tt_foreign_new(t, &ran[i], 0, cleanup, NULL), and drops each at
 * once, so that the next collection finds it dead. The cleanup is trivial:
 * it adds one to ran[i] (through tt_foreign_addr) and to a counter. The
 * mutator is paced against CLOCK_MONOTONIC in batches of BATCH objects: the
 * batch that ends with object i must not end before start + i / RATE. A
 * mutator ahead of that schedule waits (sleeping inside a foreign region
 * when the wait is long, otherwise spinning on tt_safepoint); one that falls
 * behind runs flat out to catch up, but never by more than MAX_LAG_S: past
 * that the schedule is moved, so that a long stall is not followed by a
 * long burst. Collections come from the allocations alone (default
 * configuration otherwise); the finalizer thread runs the cleanups as
 * collections queue them. After the last object, one tt_collect, and the
 * mutator waits (in a foreign region) until every cleanup has run.
 *
 * Figures (metric lines): the heap's finalizer latency, from the collection
 * that found an object dead to the end of its cleanup
 * (stats.finalize_latency_ns_p50/_p99/_max), in milliseconds; the rate the
 * mutator reached (N / the time it took to make them) and the cleanup rate
 * (N / the time from the first object to the last cleanup), in millions
 * per second; the collections; the longest the pending queue was; and how
 * many cleanups ran on the mutator rather than on the finalizer thread.
 * On a machine that cannot make RATE objects per second while the
 * collector and the finalizer thread share its cores, the rates say what
 * was reached.
 *
 * Check: every ran[i] must be exactly 1 at the end, or exit status 1.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <tether.h>

#define BENCH_NAME "fin_latency"
#include "tt_bench.h"

enum { BATCH = 1000 };
#define MAX_LAG_S 0.010   /* catch up at most this far behind the schedule */
#define SPIN_BELOW_S 0.0002 /* shorter waits spin instead of sleeping */
#define DRAIN_TIMEOUT_S 60.0

static unsigned char *ran;
static atomic_long cleaned;
static pthread_t mutator;
static long on_mutator; /* cleanups that ran on the mutator thread */

static void cleanup(tt_thread *t, tt_ref obj, void *env)
{
    (void)env;
    unsigned char *c = tt_foreign_addr(t, obj);
    if (c) (*c)++;
    if (pthread_equal(pthread_self(), mutator)) on_mutator++;
    atomic_fetch_add_explicit(&cleaned, 1, memory_order_release);
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* Wait until `due`: asleep in a foreign region if it is far, else spinning
 * on safepoints (so that a collection never waits for the spin). */
static void wait_until(tt_thread *t, double due)
{
    double left = due - now_s();
    if (left > SPIN_BELOW_S) {
        if (tt_foreign_region_enter(t) != TT_OK) die("tt_foreign_region_enter");
        sleep_s(left - SPIN_BELOW_S / 2);
        if (tt_foreign_region_leave(t) != TT_OK) die("tt_foreign_region_leave");
    }
    while (now_s() < due) tt_safepoint(t);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 2.5;
    double rate = argc > 2 ? atof(argv[2]) : 1e6;
    if (argc > 3 || seconds <= 0 || seconds > 600 || rate < 1000 || rate > 1e9) {
        fprintf(stderr, "usage: fin_latency [SECONDS (0-600)] [RATE (objects/s, >= 1000)]\n");
        return 2;
    }
    long n = (long)(seconds * rate);
    n = (n + BATCH - 1) / BATCH * BATCH;
    ran = calloc((size_t)n, 1);
    if (!ran) {
        fprintf(stderr, "fin_latency: out of memory\n");
        return 2;
    }
    mutator = pthread_self();

    tt_config cfg;
    tt_config_init(&cfg);
    cfg.finalizer_thread = 1;
    tt_heap *h = tt_heap_open(&cfg);
    if (!h) die("tt_heap_open");
    tt_thread *t = tt_thread_attach(h);
    if (!t) die("tt_thread_attach");

    tt_stats st0, st1;
    tt_heap_stats(h, &st0);
    long resets = 0;
    double t0 = now_s(), start = t0;
    for (long i = 0; i < n; i += BATCH) {
        for (long j = i; j < i + BATCH; ++j)
            if (TT_UNLIKELY(tt_is_null(tt_foreign_new(t, &ran[j], 0, cleanup, NULL))))
                die("tt_foreign_new");
        double due = start + (double)(i + BATCH) / rate, now = now_s();
        if (now < due) {
            wait_until(t, due);
        } else if (now - due > MAX_LAG_S) {
            start += now - due - MAX_LAG_S; /* give up catching up past MAX_LAG_S */
            resets++;
        }
    }
    double t_alloc = now_s();
    size_t threads = tt_heap_threads(h);
    if (tt_collect(t) != TT_OK) die("tt_collect");

    /* Every cleanup is queued now; wait for the finalizer thread. */
    if (tt_foreign_region_enter(t) != TT_OK) die("tt_foreign_region_enter");
    while (atomic_load_explicit(&cleaned, memory_order_acquire) < n &&
           now_s() - t_alloc < DRAIN_TIMEOUT_S)
        sleep_s(50e-6);
    double t_end = now_s();
    if (tt_foreign_region_leave(t) != TT_OK) die("tt_foreign_region_leave");
    tt_heap_stats(h, &st1);

    long never = 0, twice = 0;
    for (long i = 0; i < n; ++i) {
        if (ran[i] == 0) never++;
        if (ran[i] > 1) twice++;
    }
    int ok = never == 0 && twice == 0;
    if (!ok)
        fprintf(stderr,
                "fin_latency: %ld cleanups never ran (after waiting %.0f s), %ld more than once\n",
                never, DRAIN_TIMEOUT_S, twice);
    uint64_t counted = st1.finalize_latency_count - st0.finalize_latency_count;
    if (counted != (uint64_t)n)
        fprintf(stderr, "fin_latency: note: finalize_latency_count grew by %llu, not %ld\n",
                (unsigned long long)counted, n);

    printf("fin_latency: %ld foreign objects made at a paced %.2f M/s and dropped; every cleanup "
           "ran once: %s\n",
           n, rate / 1e6, ok ? "ok" : "FAILED");
    printf("@ latency_p99_ms %.2f ms from the collection to the end of the cleanup, 99th "
           "percentile lower\n",
           (double)st1.finalize_latency_ns_p99 / 1e6);
    printf("@ latency_p50_ms %.2f ms, median lower\n", (double)st1.finalize_latency_ns_p50 / 1e6);
    printf("@ latency_max_ms %.2f ms, maximum lower\n", (double)st1.finalize_latency_ns_max / 1e6);
    printf("@ alloc_rate %.2f M objects/s made by the mutator (paced at %.2f) higher\n",
           (double)n / (t_alloc - t0) / 1e6, rate / 1e6);
    printf("@ cleanup_rate %.2f M cleanups/s, first object to last cleanup higher\n",
           (double)n / (t_end - t0) / 1e6);
    printf("@ collections %llu collections -\n",
           (unsigned long long)(st1.collections - st0.collections));
    printf("@ pending_peak %llu longest pending queue -\n",
           (unsigned long long)st1.pending_cleanups_peak);
    printf("@ on_mutator %ld cleanups run on the mutator thread -\n", on_mutator);
    printf("@ lag_resets %ld times the mutator fell over %.0f ms behind -\n", resets,
           MAX_LAG_S * 1e3);
    printf("@ heap_threads %zu threads attached while allocating (finalizer thread included) -\n",
           threads);

    tt_thread_detach(t);
    tt_heap_close(h);
    free(ran);
    return ok ? 0 : 1;
}
