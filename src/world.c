/*
 * world.c: the heap lock, stopping the world, safepoints, foreign regions.
 *
 * Two locks, always taken in this order:
 *
 *   `lock`, the heap lock, guards everything threads share: block lists,
 *   the large space, handle tables, the cleanup log, queues, statistics.
 *   Every out-of-line path that touches them holds it; the inline fast
 *   paths (bump allocation, locals, stores) touch only the thread's own
 *   state and take nothing. It is recursive for its holder, so that an
 *   allocation inside a locked call just goes deeper.
 *
 *   `world_lock` guards the thread list and the hand-over of thread states
 *   while a collection stops the world.
 *
 * A collection runs on the thread that needs it. It claims the heap's
 * `stopping` word (one collector at a time; a thread that loses the race
 * waits for the winner's collection instead), lets go of the heap lock,
 * sets the `poll` word of every RUNNING thread of other OS threads (the
 * collector's OS thread may have several attachments; they are idle while
 * it collects), and waits until none is RUNNING: each stops at its next safepoint (PARKED) or is inside a
 * foreign region (FOREIGN). Then it takes the heap lock, which no stopped
 * thread can hold, and collects.
 *
 * The invariants that keep this free of deadlock:
 *   - a thread never waits for a collection while holding the heap lock:
 *     tt__safepoint and tt__world_stop let go of it entirely first;
 *   - user code (cleanups, callbacks, builds) never runs with the lock
 *     held (TT__USER), so it may block or call tether freely;
 *   - a thread leaves PARKED or FOREIGN for RUNNING only under world_lock
 *     and only while no stop is in progress.
 * A RUNNING thread may hold the lock or wait for it; the holder is RUNNING
 * too and lets go soon, so a collector's wait always ends.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

/* The calling OS thread's token (thread.c): one instruction, where
 * pthread_self is a call; unique among live OS threads. */
static uintptr_t self_id(void) { return (uintptr_t)&tt__self_token; }

int tt__world_init(tt_heap *h)
{
    if (pthread_mutex_init(&h->lock, NULL) != 0) return TT_ENOMEM;
    if (pthread_mutex_init(&h->world_lock, NULL) != 0) goto no_world;
    if (pthread_cond_init(&h->stopped_cv, NULL) != 0) goto no_stopped;
    if (pthread_cond_init(&h->resume_cv, NULL) != 0) goto no_resume;
    if (pthread_cond_init(&h->fin_cv, NULL) != 0) goto no_fin;
    return TT_OK;
no_fin:
    pthread_cond_destroy(&h->resume_cv);
no_resume:
    pthread_cond_destroy(&h->stopped_cv);
no_stopped:
    pthread_mutex_destroy(&h->world_lock);
no_world:
    pthread_mutex_destroy(&h->lock);
    return TT_ENOMEM;
}

void tt__world_finish(tt_heap *h)
{
    pthread_cond_destroy(&h->fin_cv);
    pthread_cond_destroy(&h->resume_cv);
    pthread_cond_destroy(&h->stopped_cv);
    pthread_mutex_destroy(&h->world_lock);
    pthread_mutex_destroy(&h->lock);
}

/* ---- the heap lock ---- */


void tt__lock(tt_heap *h)
{
    /* Only this thread ever stores its own id, so the comparison is exact
     * even though other threads change the word. */
    if (tt__lock_held(h)) {
        h->lock_depth++;
        return;
    }
    pthread_mutex_lock(&h->lock);
    __atomic_store_n(&h->lock_owner, self_id(), __ATOMIC_RELAXED);
    h->lock_depth = 1;
    /* Registrations made without the lock go to the log before anything
     * that holds the lock can register or look (see struct tt__regs). */
    (void)tt__regs_drain(h);
}

void tt__unlock(tt_heap *h)
{
    if (--h->lock_depth) return;
    __atomic_store_n(&h->lock_owner, 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&h->lock);
}

unsigned tt__unlock_all(tt_heap *h)
{
    if (!tt__lock_held(h)) return 0;
    unsigned d = h->lock_depth;
    h->lock_depth = 0;
    __atomic_store_n(&h->lock_owner, 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&h->lock);
    return d;
}

void tt__relock(tt_heap *h, unsigned depth)
{
    if (!depth) return;
    pthread_mutex_lock(&h->lock);
    __atomic_store_n(&h->lock_owner, self_id(), __ATOMIC_RELAXED);
    h->lock_depth = depth;
    (void)tt__regs_drain(h); /* as tt__lock */
}

/* ---- thread states ---- */

void tt__world_link(tt_heap *h, tt_thread *t)
{
    pthread_mutex_lock(&h->world_lock);
    t->prev = NULL;
    t->next = h->threads;
    if (h->threads) h->threads->prev = t;
    h->threads = t;
    h->nthreads++;
    pthread_mutex_unlock(&h->world_lock);
}

void tt__world_unlink(tt_heap *h, tt_thread *t)
{
    pthread_mutex_lock(&h->world_lock);
    if (t->prev)
        t->prev->next = t->next;
    else
        h->threads = t->next;
    if (t->next) t->next->prev = t->prev;
    t->next = t->prev = NULL;
    h->nthreads--;
    /* A collector may be waiting for this thread. */
    pthread_cond_broadcast(&h->stopped_cv);
    pthread_mutex_unlock(&h->world_lock);
}

void tt__thread_set_state(tt_thread *t, uint32_t state)
{
    tt_heap *h = t->heap;
    pthread_mutex_lock(&h->world_lock);
    if (state == TT__TS_RUNNING) {
        while (__atomic_load_n(&h->stopping, __ATOMIC_SEQ_CST))
            pthread_cond_wait(&h->resume_cv, &h->world_lock);
        __atomic_store_n(&t->f.poll, 0, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&t->state, state, __ATOMIC_SEQ_CST);
    if (state != TT__TS_RUNNING && __atomic_load_n(&h->stopping, __ATOMIC_SEQ_CST))
        pthread_cond_broadcast(&h->stopped_cv);
    pthread_mutex_unlock(&h->world_lock);
}

/* Stop until the collection in progress is over. The caller holds no lock. */
static void park(tt_thread *t)
{
    tt__thread_set_state(t, TT__TS_PARKED);
    tt__thread_set_state(t, TT__TS_RUNNING);
}

void tt__safepoint(tt_thread *t)
{
    if (!__atomic_load_n(&t->f.poll, __ATOMIC_RELAXED)) return;
    tt_heap *h = t->heap;
    unsigned d = tt__unlock_all(h);
    park(t);
    tt__relock(h, d);
}

/* ---- stopping the world ---- */

/* Whether another attachment of o's OS thread is parked (world_lock held):
 * that OS thread is blocked in tether, so o cannot run. */
static bool sibling_parked(tt_heap *h, const tt_thread *o)
{
    for (const tt_thread *s = h->threads; s; s = s->next)
        if (s != o && pthread_equal(s->owner, o->owner) && tt__thread_state(s) == TT__TS_PARKED)
            return true;
    return false;
}

bool tt__world_stop(tt_heap *h, tt_thread *t)
{
    unsigned d = tt__unlock_all(h);
    uint32_t idle = 0;
    if (!__atomic_compare_exchange_n(&h->stopping, &idle, 1, false, __ATOMIC_SEQ_CST,
                                     __ATOMIC_SEQ_CST)) {
        /* Another thread is collecting: be stopped by it. */
        park(t);
        tt__relock(h, d);
        return false;
    }
    uint64_t t0 = 0;
    bool waited = false;
    pthread_t me = pthread_self();
    pthread_mutex_lock(&h->world_lock);
    for (;;) {
        bool all = true;
        for (tt_thread *o = h->threads; o; o = o->next) {
            /* Threads attached by this OS thread cannot be running: it is
             * busy here. Nor can those of an OS thread parked through
             * another of its attachments. */
            if (pthread_equal(o->owner, me) || tt__thread_state(o) != TT__TS_RUNNING ||
                sibling_parked(h, o))
                continue;
            __atomic_store_n(&o->f.poll, 1, __ATOMIC_RELAXED);
            all = false;
        }
        if (all) break;
        if (!waited) t0 = tt__now_ns();
        waited = true;
        pthread_cond_wait(&h->stopped_cv, &h->world_lock);
    }
    pthread_mutex_unlock(&h->world_lock);
    /* Every other thread is stopped and none holds the heap lock. */
    tt__relock(h, d ? d : 1);
    if (waited) {
        tt__hist_add(&h->ttsp, tt__now_ns() - t0);
        h->st.safepoint_waits++;
    }
    if (!d) tt__unlock(h);
    return true;
}

void tt__world_resume(tt_heap *h)
{
    pthread_mutex_lock(&h->world_lock);
    for (tt_thread *o = h->threads; o; o = o->next) __atomic_store_n(&o->f.poll, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&h->stopping, 0, __ATOMIC_SEQ_CST);
    pthread_cond_broadcast(&h->resume_cv);
    pthread_mutex_unlock(&h->world_lock);
}

/* ---- the API ---- */

void tt__safepoint_slow(tt_thread *t, const char *file, int line)
{
    int code;
    tt_heap *h = tt__enter(t, file, line, &code);
    if (h) tt__safepoint(t);
}

/* Entry check of the region calls: like tt__enter, but being inside a
 * region is what these calls are about, not a misuse. */
static tt_heap *region_enter(tt_thread *t, const char *file, int line, int *code)
{
    if (t && t->f.sig == TT__THREAD_SIG && tt__thread_state(t) == TT__TS_FOREIGN) {
        if (t->f.checked && !pthread_equal(t->owner, pthread_self())) return tt__enter(t, file, line, code);
        return t->heap;
    }
    return tt__enter(t, file, line, code);
}

int tt_foreign_region_enter_at(tt_thread *t, const char *file, int line)
{
    int code;
    tt_heap *h = region_enter(t, file, line, &code);
    if (!h) return code;
    if (tt__thread_state(t) == TT__TS_FOREIGN) {
        if (t->f.checked)
            return tt__misuse(h, TT_ESTATE, "foreign-region-twice", file, line,
                              "tt_foreign_region_enter inside the foreign region entered at %s:%d",
                              t->region_file ? t->region_file : "?", t->region_line);
        return tt__fail(TT_ESTATE, file, line, "tt_foreign_region_enter: already in a foreign region");
    }
    if (tt__lock_held(h))
        return tt__fail(TT_ESTATE, file, line,
                        "tt_foreign_region_enter inside a tether callback that holds the heap");
    t->region_file = file;
    t->region_line = line;
    /* Checked mode's inline paths stop; the out-of-line ones report. */
    tt__hold_set(t, TT__HOLD_REGION);
    tt__thread_set_state(t, TT__TS_FOREIGN);
    return TT_OK;
}

int tt_foreign_region_leave_at(tt_thread *t, const char *file, int line)
{
    int code;
    tt_heap *h = region_enter(t, file, line, &code);
    if (!h) return code;
    if (tt__thread_state(t) != TT__TS_FOREIGN) {
        if (t->f.checked)
            return tt__misuse(h, TT_ESTATE, "foreign-region-not-entered", file, line,
                              "tt_foreign_region_leave without tt_foreign_region_enter");
        return tt__fail(TT_ESTATE, file, line, "tt_foreign_region_leave: not in a foreign region");
    }
    tt__thread_set_state(t, TT__TS_RUNNING);
    tt__hold_clear(t, TT__HOLD_REGION);
    t->region_file = NULL;
    t->region_line = 0;
    return TT_OK;
}

int tt_in_foreign_region(const tt_thread *t)
{
    return t && t->f.sig == TT__THREAD_SIG && tt__thread_state(t) == TT__TS_FOREIGN;
}

size_t tt_heap_threads_at(tt_heap *h, const char *file, int line)
{
    if (tt__heap_arg(h, "tt_heap_threads", file, line) != TT_OK) return 0;
    pthread_mutex_lock(&h->world_lock);
    size_t n = h->nthreads;
    pthread_mutex_unlock(&h->world_lock);
    return n;
}

/* ---- histograms ---- */

static unsigned bucket_of(uint64_t ns)
{
    if (ns < 8) return (unsigned)ns;
    unsigned e = 63u - (unsigned)__builtin_clzll(ns); /* >= 3 */
    unsigned sub = (unsigned)(ns >> (e - 3)) & 7u;
    return (e - 2) * 8 + sub;
}

/* The largest value of bucket b. */
static uint64_t bucket_top(unsigned b)
{
    if (b < 8) return b;
    unsigned e = b / 8 + 2, sub = b % 8;
    if (e >= 63) return UINT64_MAX;
    return (((uint64_t)8 + sub + 1) << (e - 3)) - 1;
}

void tt__hist_add(struct tt__hist *hs, uint64_t ns)
{
    hs->count++;
    if (ns > hs->max) hs->max = ns;
    hs->b[bucket_of(ns)]++;
}

uint64_t tt__hist_percentile(const struct tt__hist *hs, double q)
{
    if (!hs->count) return 0;
    uint64_t want = (uint64_t)(q * (double)hs->count + 0.999999);
    if (want == 0) want = 1;
    uint64_t seen = 0;
    for (unsigned b = 0; b < TT__HIST_BUCKETS; b++) {
        seen += hs->b[b];
        if (seen >= want) {
            uint64_t top = bucket_top(b);
            return top < hs->max ? top : hs->max;
        }
    }
    return hs->max;
}
