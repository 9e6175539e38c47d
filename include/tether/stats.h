/*
 * tether/stats.h: statistics and the heap verifier.
 */
#ifndef TETHER_STATS_H
#define TETHER_STATS_H

#include <stdint.h>
#include <stdio.h>

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Pause histogram: bucket i counts pauses in [2^i, 2^(i+1)) microseconds
 * (bucket 0 also holds pauses under 1 us; the last bucket is open). */
#define TT_PAUSE_BUCKETS 24

typedef struct tt_stats {
    uint64_t collections;       /* completed collections */
    uint64_t pause_ns_total;    /* sum of all pauses */
    uint64_t pause_ns_max;
    uint64_t pause_ns_p50;      /* percentiles, upper bound of their bucket */
    uint64_t pause_ns_p90;
    uint64_t pause_ns_p99;
    uint64_t pause_hist[TT_PAUSE_BUCKETS];
    uint64_t bytes_allocated;   /* total bytes handed out since open, headers included */
    uint64_t live_bytes;        /* marked by the last collection */
    uint64_t live_objects;      /* marked by the last collection */
    uint64_t heap_bytes;        /* footprint now: blocks held from the OS plus large objects
                                   (plus the mark bytes of parallel marking, once used) */
    uint64_t heap_bytes_peak;
    uint64_t large_objects;     /* large objects alive now (not yet reclaimed) */
    uint64_t next_collection;   /* bytes of allocation until the next collection */
    uint64_t globals;           /* global references in use */
    uint64_t weaks;             /* weak references in use */
    /* cleanups and foreign memory */
    uint64_t external_bytes;       /* external bytes of unreleased foreign objects */
    uint64_t external_bytes_peak;
    uint64_t external_freed;       /* external bytes released since open */
    uint64_t collections_external; /* collections triggered by a foreign-memory call */
    uint64_t cleanups_registered;  /* log entries ever made (cleanups, edges, guardians) */
    uint64_t cleanups_live;        /* log entries registered now */
    uint64_t cleanups_run;
    uint64_t cleanup_meta_bytes;   /* memory of the cleanup log and its maps */
    uint64_t objects_queued;       /* dead objects queued for their cleanups */
    uint64_t objects_finalized;    /* queued objects whose cleanups all ran */
    uint64_t pending_cleanups;     /* items in the pending queue now */
    uint64_t guardian_deliveries;
    uint64_t weak_callbacks_run;
    uint64_t finalizer_cycles;     /* references found closing a cycle among dead
                                      objects with cleanups */
    uint64_t static_objects;       /* objects built for static entries, rooted */
    /* threads */
    uint64_t threads;              /* attached now, the finalizer thread included */
    uint64_t mark_threads;         /* threads that marked in the last collection */
    uint64_t safepoint_waits;      /* collections that had other threads to stop */
    uint64_t safepoint_ns_max;     /* time to safepoint: from a collection's
                                      request to every other thread stopped */
    uint64_t safepoint_ns_p50;     /* percentiles, each within 1/8 above the */
    uint64_t safepoint_ns_p99;     /* true value (log-linear buckets) */
    /* finalizer latency: from the collection that found an object dead (or a
     * weak reference cleared) to the end of its last cleanup (its callback) */
    uint64_t finalize_latency_count;
    uint64_t finalize_latency_ns_max;
    uint64_t finalize_latency_ns_p50;
    uint64_t finalize_latency_ns_p99;
    uint64_t pending_cleanups_peak; /* the longest the pending queue has been */
} tt_stats;

/* Copy h's statistics into *out. Never collects. Thread-safe: any thread
 * may call it, attached or not; it takes the heap lock, so it waits for a
 * collection in progress. The unused tails of the allocation runs of
 * threads that are running elsewhere count as allocated. On error *out is
 * zeroed (if out is not NULL) and the last error set: TT_EINVAL for a NULL
 * h or out (no report); "bad-heap" (TT_EINVAL, always to tt_misuse_abort)
 * for a pointer that is not a heap; "heap-closed" (TT_ECLOSED) for a
 * closed heap, which only checked mode can tell (otherwise h must be an
 * open heap). */
#define tt_heap_stats(h, out) tt_heap_stats_at((h), (out), TT_HERE)
TT_API void tt_heap_stats_at(const tt_heap *h, tt_stats *out, const char *file, int line);

/* Print statistics in a readable form, one item per line. */
TT_API void tt_stats_print(const tt_stats *s, FILE *out);

/* What the verifier found. */
typedef struct tt_verify_report {
    uint64_t objects; /* reachable objects visited */
    uint64_t bytes;   /* their footprint, headers included */
    uint64_t errors;  /* corrupt headers or references found */
} tt_verify_report;

/* Walk every object reachable from the roots, checking that each header
 * names a valid type and that each reference field is null or points to a
 * live object of this heap. Fills *out (may be NULL). Returns TT_OK if
 * nothing was wrong, TT_EINVAL otherwise (the first problem is described in
 * the last error); TT_ENOMEM if the walk could not get memory for its own
 * bookkeeping; TT_ECLOSED for a dead thread. Does not collect or allocate
 * from the heap. */
#define tt_heap_verify(t, out) tt_heap_verify_at((t), (out), TT_HERE)
TT_API int tt_heap_verify_at(tt_thread *t, tt_verify_report *out, const char *file, int line);

/* ---- Leak reports ---- */

/* One group of a leak report: the handles of one kind, or the foreign
 * objects, still held that were created at one site. */
typedef struct tt_leak {
    /* "global", "weak", "foreign", "guardian" or "wtable". */
    const char *kind;
    /* The creating call's site (TT_HERE of tt_global_new, tt_foreign_new,
     * ...). NULL (line 0) for foreign objects of a heap not in checked
     * mode, which does not keep their sites. */
    const char *file;
    int line;
    uint64_t count;          /* how many */
    uint64_t external_bytes; /* foreign objects: the external bytes they hold */
} tt_leak;

/* Called once per group; must not call tether. */
typedef void (*tt_leak_fn)(const tt_leak *leak, void *ctx);

/* Report what the heap of t still holds that the program must give back:
 * global and weak references not freed, foreign objects not released,
 * guardians and wrapper tables not freed. Groups by kind and creation
 * site, in that order (kind as listed, then file name, then line). With fn,
 * calls fn(group, ctx) for each group, on the calling thread, after the
 * other threads have gone on; with fn NULL, sends one report per group
 * through cfg.on_report, named "leak-global", "leak-weak", "leak-foreign",
 * "leak-guardian" or "leak-wtable", reading "leak: N global reference(s)
 * created at F:L still held now" (plus " (B external bytes)" for foreign
 * objects). Works in any mode; heaps in checked mode also make it at close
 * ("... at close"), and heaps opened with cfg.leak_report_at_exit at
 * process exit if still open.
 * Thread safety: any attached thread; it stops the heap's other threads
 * while it gathers (as a collection does), so the picture is exact at that
 * moment. Returns TT_OK; TT_ENOMEM if the report could not get memory;
 * TT_ECLOSED for a dead thread or heap. */
#define tt_heap_leaks(t, fn, ctx) tt_heap_leaks_at((t), (fn), (ctx), TT_HERE)
TT_API int tt_heap_leaks_at(tt_thread *t, tt_leak_fn fn, void *ctx, const char *file, int line);

/* Whether r is the payload address of an object in the heap of t that has
 * not been reclaimed: 1 or 0. Exact in checked mode, where a collection
 * erases the headers of the objects it finds dead; otherwise an object
 * found dead still answers 1 until its memory is reused. Costs a table
 * look-up; never faults, whatever r holds. A bad r is an answer (0), not
 * an error; 0 with the last error set for a dead or foreign thread (the
 * entry checks of every call taking a thread, with the caller's site). */
#define tt_is_object(t, r) tt_is_object_at((t), (r), TT_HERE)
TT_API int tt_is_object_at(tt_thread *t, tt_ref r, const char *file, int line);

#ifdef __cplusplus
}
#endif
#endif
