/*
 * collect.c: one full, stop-the-world collection.
 *
 *   1. Threads give back their runs (their unused tails are reclaimed).
 *   2. Mark bits of blocks in use are cleared.
 *   3. Roots are marked: every thread's locals, every global reference,
 *      every object built for a static entry that is still registered,
 *      every object queued for its cleanups or in a guardian.
 *   4. The mark stack is drained (mark.c).
 *   5. Ephemerons and keep-alive edges reach a fixpoint; weak references,
 *      wrapper-table entries and ephemerons whose target is unmarked are
 *      cleared; dead objects with cleanups are queued in dependency order,
 *      with everything they reach kept (finalize.c).
 *   6. Blocks are classified by their survivors (space.c); dead large
 *      objects are unmapped (large.c). Free slots inside surviving blocks
 *      are found lazily by the allocator.
 *   7. The next trigger is set from the live size, and empty blocks the
 *      next cycle will not need are returned to the OS.
 *
 * Collections never run user code (no cleanups, no weak callbacks; only
 * custom trace functions, and the on_collect hook once it is over, which
 * must not call tether), so they can run inside any allocation.
 *
 * With several threads, the collecting thread first stops every other
 * attached thread at a safepoint (world.c), and lets them go once the
 * heap is consistent again; the on_collect hook runs after that.
 */
#include "internal.h"

static void mark_global(tt_heap *h, struct tt__hslot *s) { tt__mark_root(h, s->ref.bits); }

/* External bytes of the foreign objects of queue q. */
static size_t external_queued(const struct tt__queue *q)
{
    size_t n = 0;
    for (size_t i = 0; i < q->count; i++) {
        const struct tt__pend *it = &q->items[(q->head + i) & (q->cap - 1)];
        if (it->kind == TT__PEND_OBJECT && tt__is_foreign((uintptr_t)it->v))
            n += ((const struct tt__foreign *)(uintptr_t)it->v)->ext;
    }
    return n;
}

/* External bytes of foreign objects already found dead, queued for their
 * cleanups or in a guardian for the program to take: they are still
 * counted live until released, but must not inflate the next budget (a
 * guardian drained after every collection would otherwise double it each
 * time). */
static size_t external_dying(tt_heap *h)
{
    size_t n = external_queued(&h->pending);
    for (const tt_guardian *g = h->guardians; g; g = g->next) n += external_queued(&g->q);
    return n;
}

static void set_threshold(tt_heap *h)
{
    uint64_t live = h->marked_bytes + (h->ext_live - external_dying(h));
    uint64_t next = live * h->cfg.growth_percent / 100;
    if (next < h->cfg.initial_size) next = h->cfg.initial_size;
    h->threshold = (size_t)next;
    h->regs_since_gc = 0;
}

static void collect_stopped(tt_heap *h)
{
    h->collecting = true;
    uint64_t t0 = tt__now_ns();
    h->st.mark_threads = 1; /* a parallel drain raises it */

    for (tt_thread *t = h->threads; t; t = t->next) tt__space_flush_thread(t);
    tt__space_clear_marks(h);
    /* Threads may have registered without the lock on their way to this
     * stop. What cannot reach the log (no memory) is kept alive instead:
     * swept, its cleanup would be lost. */
    bool drained = tt__regs_drain(h);

    for (tt_thread *t = h->threads; t; t = t->next) {
        for (uint32_t i = 0; i < t->f.local_top; i++) tt__mark_root(h, t->f.locals[i].bits);
        for (const struct tt__pin *p = t->pins; p; p = p->prev) tt__mark_root(h, p->obj);
    }
    tt__htable_each(&h->globals, mark_global, h);
    tt__static_roots_mark(h);
    if (!drained) tt__regs_mark(h);
    tt__finalize_mark_roots(h);
    tt__mark_drain(h);
    tt__finalize_fixpoint(h);
    h->found_ns = tt__now_ns();
    tt__finalize_clear_weak(h);
    tt__cleanup_purge_stale(h);
    tt__finalize_queue_dead(h);

    h->marked_objects = 0;
    h->marked_bytes = 0;
    tt__space_sweep(h);
    tt__large_sweep(h);
    /* Checked mode: what the threads' caches proved live may have died. */
    if (h->checked)
        for (tt_thread *t = h->threads; t; t = t->next) {
            memset(t->f.vcache, 0, sizeof t->f.vcache);
        }

    h->alloc_since_gc = 0;
    h->ext_since_gc = 0;
    set_threshold(h);
    tt__space_trim(h);
    if (h->ce_dead > 64 && h->ce_dead * 2 > h->ce_len) tt__cleanup_compact(h);

    h->st.live_objects = h->marked_objects;
    h->st.live_bytes = h->marked_bytes;
    tt__stats_footprint(h);
    tt__stats_pause(h, tt__now_ns() - t0);
    if (h->cfg.verify_collections) tt__verify_stopped(h);
    h->collecting = false;
}

bool tt__collect(tt_heap *h, tt_thread *t)
{
    if (h->collecting) return true;
    if (!tt__world_stop(h, t)) return false;
    collect_stopped(h);
    if (h->pending.count) pthread_cond_broadcast(&h->fin_cv);
    tt__world_resume(h);
    if (h->cfg.on_collect) {
        tt_stats st;
        tt_heap_stats(h, &st);
        h->cfg.on_collect(h, &st, h->cfg.collect_ctx);
    }
    return true;
}

int tt_collect_at(tt_thread *t, const char *file, int line)
{
    int code;
    tt_heap *h = tt__enter(t, file, line, &code);
    if (!h) return code;
    TT__LOCKED(h);
    /* Losing the race to another collector still means a collection ran,
     * but it may have started before the caller's last change: run one
     * that surely follows it. */
    while (!tt__collect(h, t)) {
    }
    return TT_OK;
}
