/*
 * stats.c: statistics: pauses in a log2 histogram of microseconds, and the
 * footprint with its peak.
 */
#include <inttypes.h>

#include "internal.h"

void tt__stats_pause(tt_heap *h, uint64_t ns)
{
    tt_stats *s = &h->st;
    s->collections++;
    s->pause_ns_total += ns;
    if (ns > s->pause_ns_max) s->pause_ns_max = ns;
    uint64_t us = ns / 1000;
    unsigned b = us ? 63u - (unsigned)__builtin_clzll(us) : 0;
    if (b >= TT_PAUSE_BUCKETS) b = TT_PAUSE_BUCKETS - 1;
    s->pause_hist[b]++;
}

void tt__stats_footprint(tt_heap *h)
{
    uint64_t now = tt__footprint(h);
    h->st.heap_bytes = now;
    if (now > h->st.heap_bytes_peak) h->st.heap_bytes_peak = now;
}

/* Upper bound, in ns, of the bucket holding the q-th fraction of pauses. */
static uint64_t percentile(const tt_stats *s, double q)
{
    if (s->collections == 0) return 0;
    uint64_t want = (uint64_t)(q * (double)s->collections + 0.999999);
    if (want == 0) want = 1;
    uint64_t seen = 0;
    for (unsigned b = 0; b < TT_PAUSE_BUCKETS; b++) {
        seen += s->pause_hist[b];
        if (seen >= want) {
            uint64_t upper = ((uint64_t)2 << b) * 1000;
            return upper < s->pause_ns_max ? upper : s->pause_ns_max;
        }
    }
    return s->pause_ns_max;
}

void tt_heap_stats_at(const tt_heap *ch, tt_stats *out, const char *file, int line)
{
    if (!out) {
        tt__fail(TT_EINVAL, file, line, "tt_heap_stats: null output");
        return;
    }
    if (tt__heap_arg(ch, "tt_heap_stats", file, line) != TT_OK) {
        memset(out, 0, sizeof *out);
        return;
    }
    tt_heap *h = (tt_heap *)ch;
    TT__LOCKED(h);
    *out = h->st;
    /* Runs are counted whole when handed out; the unused tails of the runs
     * threads hold now were not allocated yet. Only the calling OS thread's
     * own runs are read: the others move under their threads' feet. */
    uint64_t unused = 0;
    pthread_t me = pthread_self();
    pthread_mutex_lock(&h->world_lock);
    for (const tt_thread *t = h->threads; t; t = t->next)
        if (pthread_equal(t->owner, me))
            for (uint32_t c = 0; c < TT__NCLASSES; c++) unused += t->f.buf[c].limit - t->f.buf[c].cursor;
    out->threads = h->nthreads;
    pthread_mutex_unlock(&h->world_lock);
    out->safepoint_ns_max = h->ttsp.max;
    out->safepoint_ns_p50 = tt__hist_percentile(&h->ttsp, 0.50);
    out->safepoint_ns_p99 = tt__hist_percentile(&h->ttsp, 0.99);
    out->finalize_latency_count = h->fin_latency.count;
    out->finalize_latency_ns_max = h->fin_latency.max;
    out->finalize_latency_ns_p50 = tt__hist_percentile(&h->fin_latency, 0.50);
    out->finalize_latency_ns_p99 = tt__hist_percentile(&h->fin_latency, 0.99);
    out->bytes_allocated -= unused;
    out->large_objects = h->nlarge;
    size_t since = h->alloc_since_gc - unused + h->ext_since_gc;
    out->next_collection = h->threshold > since ? h->threshold - since : 0;
    out->globals = tt__handles_in_use(h, 0);
    out->weaks = tt__handles_in_use(h, 1);
    out->external_bytes = h->ext_live;
    out->external_freed = h->ext_freed;
    /* Unlocked releases ran their base entries without unlinking them;
     * those not purged yet are still in the log, but not live. */
    uint64_t fast = tt__released_fast(h);
    out->cleanups_run += fast;
    out->cleanups_live = h->ce_len - h->ce_dead - (size_t)(fast - h->stale_dropped);
    out->cleanup_meta_bytes = tt__cleanup_bytes(h);
    out->pending_cleanups = h->pending.count;
    out->pause_ns_p50 = percentile(out, 0.50);
    out->pause_ns_p90 = percentile(out, 0.90);
    out->pause_ns_p99 = percentile(out, 0.99);
}

void tt_stats_print(const tt_stats *s, FILE *f)
{
    fprintf(f, "collections        %" PRIu64 "\n", s->collections);
    fprintf(f, "pause total        %.3f ms\n", (double)s->pause_ns_total / 1e6);
    fprintf(f, "pause max          %.3f ms\n", (double)s->pause_ns_max / 1e6);
    fprintf(f, "pause p50/p90/p99  %.3f / %.3f / %.3f ms (bucket upper bounds)\n",
            (double)s->pause_ns_p50 / 1e6, (double)s->pause_ns_p90 / 1e6,
            (double)s->pause_ns_p99 / 1e6);
    fprintf(f, "bytes allocated    %" PRIu64 "\n", s->bytes_allocated);
    fprintf(f, "live               %" PRIu64 " bytes in %" PRIu64 " objects\n", s->live_bytes,
            s->live_objects);
    fprintf(f, "heap               %" PRIu64 " bytes (peak %" PRIu64 ")\n", s->heap_bytes,
            s->heap_bytes_peak);
    fprintf(f, "large objects      %" PRIu64 "\n", s->large_objects);
    fprintf(f, "next collection in %" PRIu64 " bytes\n", s->next_collection);
    fprintf(f, "handles            %" PRIu64 " global, %" PRIu64 " weak\n", s->globals, s->weaks);
    fprintf(f, "external           %" PRIu64 " bytes (peak %" PRIu64 ", freed %" PRIu64
               "), %" PRIu64 " collections triggered by it\n",
            s->external_bytes, s->external_bytes_peak, s->external_freed, s->collections_external);
    fprintf(f, "cleanups           %" PRIu64 " registered now (%" PRIu64 " bytes of metadata), %" PRIu64
               " run, %" PRIu64 " pending\n",
            s->cleanups_live, s->cleanup_meta_bytes, s->cleanups_run, s->pending_cleanups);
    fprintf(f, "finalization       %" PRIu64 " objects queued, %" PRIu64 " finalized, %" PRIu64
               " to guardians, %" PRIu64 " weak callbacks, %" PRIu64 " cycles\n",
            s->objects_queued, s->objects_finalized, s->guardian_deliveries,
            s->weak_callbacks_run, s->finalizer_cycles);
    fprintf(f, "static objects     %" PRIu64 "\n", s->static_objects);
    fprintf(f, "threads            %" PRIu64 " attached, %" PRIu64 " marked the last collection\n",
            s->threads, s->mark_threads);
    fprintf(f, "time to safepoint  %" PRIu64 " waits, p50/p99/max %.3f / %.3f / %.3f ms\n",
            s->safepoint_waits, (double)s->safepoint_ns_p50 / 1e6,
            (double)s->safepoint_ns_p99 / 1e6, (double)s->safepoint_ns_max / 1e6);
    fprintf(f, "finalize latency   %" PRIu64 " items, p50/p99/max %.3f / %.3f / %.3f ms, queue peak %" PRIu64 "\n",
            s->finalize_latency_count, (double)s->finalize_latency_ns_p50 / 1e6,
            (double)s->finalize_latency_ns_p99 / 1e6, (double)s->finalize_latency_ns_max / 1e6,
            s->pending_cleanups_peak);
    fprintf(f, "pause histogram   ");
    for (unsigned b = 0; b < TT_PAUSE_BUCKETS; b++)
        if (s->pause_hist[b]) fprintf(f, " <%lluus:%" PRIu64, 2ull << b, s->pause_hist[b]);
    fprintf(f, "\n");
}
