/*
 * finalize.c: what a collection does for objects with cleanups, the
 * pending queue, guardians, the contexts that run cleanups, and shutdown.
 *
 * A collection proceeds in phases (collect.c calls them in order):
 *   1. Strong marking from the roots, which include every object queued
 *      in the pending queue or a guardian.
 *   2. A fixpoint over ephemerons (value marked once its key is) and
 *      keep-alive edges (b marked once a is).
 *   3. Weak things whose target is unmarked are cleared: weak references
 *      (their callbacks are queued), wrapper-table entries, ephemerons.
 *   4. Every unmarked object with log entries is dead. They are collected
 *      in log order and walked depth first, marking everything they reach
 *      (so a finalizer can read all of it). An object with entries is
 *      "finished" once everything reachable from it has been walked; the
 *      reverse of the finishing order puts A before B whenever A reaches B
 *      (a topological order), so queueing in that order runs A's cleanups
 *      to completion before B's. Meeting an object that is still on the
 *      walk's path means a cycle: it is counted and reported in checked
 *      mode, and the deterministic walk order decides.
 *   5. Each dead object goes to the guardian it was registered with, or to
 *      the pending queue.
 * The collector itself runs no cleanup. The pending queue is a FIFO run by
 * the finalizer thread (finalizer.c) if the heap has one, tt_run_finalizers,
 * tt_collect_and_release, foreign-memory calls (unless
 * explicit_cleanups_only, or a finalizer thread does it) and close; one
 * context at a time runs it. An object stays at the front of the queue,
 * rooted, until its last cleanup has run, so a collection inside a cleanup
 * keeps it alive. Cleanups run without the heap lock (TT__USER), so other
 * threads go on meanwhile and the cleanup may use the heap.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

#define FINISH ((uintptr_t)2) /* tag on the walk stack: emit this object */

/* ---- reports ---- */

void tt__report(tt_heap *h, const char *what, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (h->cfg.on_report)
        h->cfg.on_report(what, msg, h->cfg.report_ctx);
    else
        fprintf(stderr, "tether: %s\n", msg);
}

/* ---- queues ---- */

int tt__queue_push(tt_heap *h, struct tt__queue *q, uint64_t v, uint32_t kind)
{
    if (q->count == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 256;
        struct tt__pend *items = tt__pages_reserve(h, cap * sizeof *items, TT__PAGE);
        if (!items) return TT_ENOMEM;
        for (size_t i = 0; i < q->count; i++) items[i] = q->items[(q->head + i) & (q->cap - 1)];
        tt__pages_release(h, q->items, q->cap * sizeof *items);
        q->items = items;
        q->cap = cap;
        q->head = 0;
    }
    q->items[(q->head + q->count) & (q->cap - 1)] = (struct tt__pend){v, kind, 0, h->found_ns};
    q->count++;
    if (q == &h->pending && q->count > h->st.pending_cleanups_peak) h->st.pending_cleanups_peak = q->count;
    return TT_OK;
}

static struct tt__pend *queue_front(struct tt__queue *q)
{
    return q->count ? &q->items[q->head] : NULL;
}

static void queue_pop(struct tt__queue *q)
{
    q->head = (q->head + 1) & (q->cap - 1);
    q->count--;
}

void tt__queue_free(tt_heap *h, struct tt__queue *q)
{
    tt__pages_release(h, q->items, q->cap * sizeof *q->items);
    memset(q, 0, sizeof *q);
}

static void queue_mark(tt_heap *h, struct tt__queue *q)
{
    for (size_t i = 0; i < q->count; i++) {
        struct tt__pend *it = &q->items[(q->head + i) & (q->cap - 1)];
        if (it->kind == TT__PEND_OBJECT) tt__mark_root(h, (uintptr_t)it->v);
    }
}

void tt__finalize_mark_roots(tt_heap *h)
{
    queue_mark(h, &h->pending);
    for (tt_guardian *g = h->guardians; g; g = g->next) queue_mark(h, &g->q);
}

/* ---- phase 2: ephemerons and keep-alive edges ---- */

static bool keepalive_step(tt_heap *h)
{
    bool changed = false;
    for (size_t i = 0; i < h->ce_len; i++) {
        uintptr_t w = h->ce[i].w;
        if (!w || tt__ce_fn(w) != TT__FN_KEEPALIVE) continue;
        uintptr_t b = (uintptr_t)h->ce[i].env;
        if (tt__is_marked(tt__ce_obj(w)) && !tt__is_marked(b)) {
            tt__mark_root(h, b);
            changed = true;
        }
    }
    return changed;
}

void tt__finalize_fixpoint(tt_heap *h)
{
    for (;;) {
        bool changed = tt__ephemerons_step(h);
        if (h->ce_keepalive && keepalive_step(h)) changed = true;
        if (!changed) return;
        tt__mark_drain(h);
    }
}

/* ---- phase 3 ---- */

void tt__finalize_clear_weak(tt_heap *h)
{
    tt__weaks_clear_dead(h);
    tt__wtables_sweep(h);
    tt__ephemerons_clear_dead(h);
}

/* ---- phase 4: ordering the dead ---- */

static uintptr_t *hdr_of(uintptr_t p) { return (uintptr_t *)p - 1; }

static bool scratch_reserve(tt_heap *h, size_t n)
{
    if (n <= h->fin_cap) return true;
    size_t cap = h->fin_cap ? h->fin_cap : 1024;
    while (cap < n) cap *= 2;
    uintptr_t *a = tt__pages_grow(h, h->fin_objs, h->fin_cap * sizeof *a, cap * sizeof *a);
    if (!a) return false;
    h->fin_objs = a;
    h->fin_cap = cap;
    return true;
}

/* The walk's stack is the mark stack (empty between phases). */
static void walk_push(tt_heap *h, uintptr_t v)
{
    if (h->mark_top == h->mark_cap) {
        size_t cap = h->mark_cap * 2;
        uintptr_t *s = tt__pages_grow(h, h->mark_stack, h->mark_cap * sizeof *s, cap * sizeof *s);
        if (!s) {
            /* Keep correctness: mark it now; overflow recovery traces it.
             * Only the order among the dead may suffer. */
            if (!(v & FINISH) && tt__set_mark(v)) h->mark_overflow = true;
            return;
        }
        h->mark_stack = s;
        h->mark_cap = cap;
    }
    h->mark_stack[h->mark_top++] = v;
}

static void walk_visit(tt_tracer *tr, tt_ref *field)
{
    if (field->bits) walk_push(tr->heap, field->bits);
}

static void report_cycle(tt_heap *h, uintptr_t p)
{
    h->st.finalizer_cycles++;
    if (!h->checked) return;
    uint32_t head = tt__cleanup_head(h, p);
    const struct tt__site *s = head && h->ce_site ? &h->ce_site[head - 1] : NULL;
    tt__report(h, "finalizer-cycle",
               "finalizer cycle: a '%s' with cleanups (registered at %s:%d) reaches itself "
               "through references; its cycle is finalized in registration order",
               tt_type_of((tt_ref){p})->name, s && s->file ? s->file : "?", s ? s->line : 0);
}

/* Walk from dead object root; emit objects with entries as they finish.
 * Returns the new emitted count. */
static size_t walk(tt_heap *h, uintptr_t root, uintptr_t *out, size_t n)
{
    tt_tracer tr = {walk_visit, h, NULL};
    walk_push(h, root);
    while (h->mark_top) {
        uintptr_t v = h->mark_stack[--h->mark_top];
        if (v & FINISH) {
            uintptr_t p = v & ~FINISH;
            *hdr_of(p) &= ~TT__HDR_GRAY;
            out[n++] = p;
            continue;
        }
        if (!tt__set_mark(v)) {
            if (*hdr_of(v) & TT__HDR_GRAY) report_cycle(h, v);
            continue;
        }
        if (*hdr_of(v) & TT__HDR_CLEANUPS) {
            *hdr_of(v) |= TT__HDR_GRAY;
            walk_push(h, v | FINISH);
            uint32_t c = h->ce_keepalive ? tt__cleanup_head(h, v) : 0;
            for (; c; c = tt__cleanup_older(h, c - 1))
                if (tt__ce_fn(h->ce[c - 1].w) == TT__FN_KEEPALIVE)
                    walk_push(h, (uintptr_t)h->ce[c - 1].env);
        }
        const tt_type *ty = tt_type_of((tt_ref){v});
        if (ty->kind != TT_KIND_ATOMIC && ty->kind != TT_KIND_DATA_ARRAY)
            tt__trace_object(h, v, &tr);
    }
    return n;
}

static void deliver(tt_heap *h, uintptr_t p)
{
    tt_guardian *g = tt__cleanup_take_guardian(h, p);
    struct tt__queue *q = g ? &g->q : &h->pending;
    /* If the queue cannot grow, the object stays registered and unqueued:
     * the next collection finds it dead again. */
    if (tt__queue_push(h, q, p, TT__PEND_OBJECT) != TT_OK) return;
    if (g)
        h->st.guardian_deliveries++;
    else
        h->st.objects_queued++;
}

void tt__finalize_queue_dead(tt_heap *h)
{
    /* Collect the dead in log order; GRAY marks "already collected". */
    size_t nf = 0;
    for (size_t i = 0; i < h->ce_len; i++) {
        uintptr_t w = h->ce[i].w;
        if (!w) continue;
        uintptr_t p = tt__ce_obj(w);
        if (tt__is_marked(p) || (*hdr_of(p) & TT__HDR_GRAY)) continue;
        if (!scratch_reserve(h, 2 * (nf + 1))) {
            /* No room to order it: keep it (and what it reaches) for the
             * next cycle, so no walk can emit an object not listed. */
            tt__mark_root(h, p);
            continue;
        }
        *hdr_of(p) |= TT__HDR_GRAY;
        h->fin_objs[nf++] = p;
    }
    tt__mark_drain(h);
    for (size_t i = 0; i < nf; i++) *hdr_of(h->fin_objs[i]) &= ~TT__HDR_GRAY;
    if (nf == 0) return;

    /* Everything with entries that the walks reach is in the list, so the
     * finishing order fits in the second half of the scratch. */
    uintptr_t *order = h->fin_objs + nf;
    size_t no = 0;
    for (size_t i = 0; i < nf; i++)
        if (!tt__is_marked(h->fin_objs[i])) no = walk(h, h->fin_objs[i], order, no);
    if (h->mark_overflow) tt__mark_drain(h);
    for (size_t i = no; i-- > 0;) deliver(h, order[i]);
}

/* ---- running cleanups ---- */

/* Record the latency of the items done since the last clock read, with
 * one read: an upper bound for each, by at most the group's run time. */
static void latency_flush(tt_heap *h)
{
    if (!h->lat_n) return;
    uint64_t now = tt__now_ns();
    for (unsigned i = 0; i < h->lat_n; i++) tt__hist_add(&h->fin_latency, now - h->lat_found[i]);
    h->lat_n = 0;
}

/* An item found dead at `found` is done. Reading the clock costs as much
 * as a small cleanup on some machines, so items are timed in groups. */
static void latency_done(tt_heap *h, uint64_t found)
{
    h->lat_found[h->lat_n++] = found;
    if (h->lat_n == sizeof h->lat_found / sizeof h->lat_found[0]) latency_flush(h);
}

/* The front item is done: record how long after its collection. */
static void front_done(tt_heap *h)
{
    latency_done(h, queue_front(&h->pending)->found_ns);
    queue_pop(&h->pending);
}

/* Run one cleanup (or weak callback) of the front item; lock held. */
static bool run_front(tt_thread *t)
{
    tt_heap *h = t->heap;
    struct tt__pend *it = queue_front(&h->pending);
    if (it->kind == TT__PEND_WEAK) {
        tt_weak w = {it->v};
        uint64_t found = it->found_ns;
        queue_pop(&h->pending);
        tt_weak_fn fn;
        void *env;
        if (!tt__weak_take_callback(h, w, &fn, &env)) return false;
        t->cleanup_depth++;
        TT__USER(h, fn(t, w, env));
        t->cleanup_depth--;
        latency_done(h, found);
        h->st.weak_callbacks_run++;
        return true;
    }
    uintptr_t p = (uintptr_t)it->v;
    if (h->checked && h->cfg.forbid_resurrection) {
        /* The object is dead: its cleanup may not store it anywhere. */
        const struct tt__site *s = tt__cleanup_next_site(h, p);
        t->dying = p;
        t->dying_file = s ? s->file : NULL;
        t->dying_line = s ? s->line : 0;
        tt__hold_set(t, TT__HOLD_DYING); /* the inline stores do not watch */
    }
    bool ran = tt__cleanup_run_one(t, p);
    t->dying = 0;
    tt__hold_clear(t, TT__HOLD_DYING);
    if (ran) return true;
    /* No cleanup left: drop what remains (edges, guardians) and let go. */
    tt__cleanup_run_all(t, p, true);
    it = queue_front(&h->pending);
    if (it && it->v == p) front_done(h);
    h->st.objects_finalized++;
    return false;
}

size_t tt__run_pending(tt_thread *t, size_t budget)
{
    tt_heap *h = t->heap;
    TT__LOCKED(h);
    if (h->running_cleanups || t->cleanup_depth) return 0;
    h->running_cleanups = true;
    size_t n = 0;
    while (h->pending.count && (budget == 0 || n < budget))
        if (run_front(t)) n++;
    latency_flush(h);
    h->running_cleanups = false;
    /* The finalizer thread may have gone to sleep while this context had
     * the queue: hand the rest back to it. */
    if (h->pending.count && h->fin_started && t != h->fin_t) pthread_cond_broadcast(&h->fin_cv);
    return n;
}

size_t tt_run_finalizers_at(tt_thread *t, size_t budget, const char *file, int line)
{
    int code;
    tt_heap *h = tt__enter(t, file, line, &code);
    return h ? tt__run_pending(t, budget) : 0;
}

size_t tt_pending_cleanups_at(tt_thread *t, const char *file, int line)
{
    int code;
    tt_heap *h = tt__enter(t, file, line, &code);
    if (!h) return 0;
    TT__LOCKED(h);
    return h->pending.count;
}

size_t tt_collect_and_release_at(tt_thread *t, const char *file, int line)
{
    int code;
    tt_heap *h = tt__enter(t, file, line, &code);
    if (!h) return 0;
    TT__LOCKED(h);
    size_t before = h->ext_freed;
    while (!tt__collect(h, t)) {
    }
    /* Every empty block too, not only those trimming would give back. */
    (void)tt__space_release_free(h);
    tt__run_pending(t, 0);
    /* With a finalizer thread, it may be the one running the queue now. */
    return h->ext_freed - before;
}

/* ---- guardians ---- */

static tt_guardian *guardian_arg(tt_thread *t, tt_guardian *g, const char *fname,
                                 const char *file, int line, int *code)
{
    tt_heap *h = tt__enter(t, file, line, code);
    if (!h) return NULL;
    if (!g || g->sig != TT__GUARDIAN_SIG) {
        *code = tt__misuse(h, TT_EINVAL, "bad-guardian", file, line, "%s: %p %s", fname,
                           (void *)g,
                           g && g->sig == TT__GUARDIAN_DEAD ? "is a guardian that was freed"
                                                            : "is not a guardian");
        return NULL;
    }
    if (g->heap != h) {
        *code = tt__misuse(h, TT_EINVAL, "guardian-other-heap", file, line,
                           "%s: the guardian %p (made at %s:%d) belongs to another heap than "
                           "the calling thread's",
                           fname, (void *)g, g->file ? g->file : "?", g->line);
        return NULL;
    }
    return g;
}

tt_guardian *tt_guardian_new_at(tt_thread *t, const char *file, int line)
{
    int code;
    tt_heap *h = tt__enter(t, file, line, &code);
    if (!h) return NULL;
    TT__LOCKED(h);
    tt_guardian *g = calloc(1, sizeof *g);
    if (!g) {
        tt__fail(TT_ENOMEM, file, line, "tt_guardian_new: out of memory");
        return NULL;
    }
    g->file = file;
    g->line = line;
    g->heap = h;
    g->next = h->guardians;
    if (h->guardians) h->guardians->prev = g;
    h->guardians = g;
    g->sig = TT__GUARDIAN_SIG;
    return g;
}

int tt_guardian_add_at(tt_thread *t, tt_guardian *g, tt_ref obj, const char *file, int line)
{
    int code;
    if (!guardian_arg(t, g, "tt_guardian_add", file, line, &code)) return code;
    tt_heap *h = t->heap;
    TT__LOCKED(h);
    if (obj.bits == 0 || (obj.bits & 7))
        return tt__fail(TT_EINVAL, file, line, "tt_guardian_add: null or misaligned reference");
    const char *why = h->checked ? tt__object_problem(h, obj.bits) : NULL;
    if (why)
        return tt__misuse(h, TT_EINVAL, "cleanup-not-object", file, line,
                          "tt_guardian_add of %p: %s", (void *)obj.bits, why);
    if (tt__cleanup_add(h, obj.bits, TT__FN_GUARDIAN, 0, g, file, line) != TT_OK)
        return tt__fail(TT_ENOMEM, file, line, "tt_guardian_add: out of memory for the cleanup log");
    return TT_OK;
}

tt_ref tt_guardian_next_at(tt_thread *t, tt_guardian *g, const char *file, int line)
{
    int code;
    if (!guardian_arg(t, g, "tt_guardian_next", file, line, &code)) return TT_NULL;
    TT__LOCKED(t->heap);
    struct tt__pend *it = queue_front(&g->q);
    if (!it) return TT_NULL;
    tt_ref r = {(uintptr_t)it->v};
    queue_pop(&g->q);
    return r;
}

size_t tt_guardian_pending_at(tt_guardian *g, const char *file, int line)
{
    if (!g) {
        tt__fail(TT_EINVAL, file, line, "tt_guardian_pending: null guardian");
        return 0;
    }
    if (g->sig != TT__GUARDIAN_SIG) {
        /* A freed guardian is readable only in checked mode, and then so
         * is its heap, closed or not (see tt__retire). */
        if (g->sig != TT__GUARDIAN_DEAD)
            tt__misuse(NULL, TT_EINVAL, "bad-guardian", file, line,
                       "tt_guardian_pending: %p is not a guardian", (void *)g);
        else if (g->heap->sig == TT__HEAP_DEAD)
            tt__misuse(g->heap, TT_ECLOSED, "heap-closed", file, line,
                       "tt_guardian_pending of a guardian (made at %s:%d) whose heap was closed",
                       g->file ? g->file : "?", g->line);
        else
            tt__misuse(g->heap, TT_EINVAL, "bad-guardian", file, line,
                       "tt_guardian_pending: %p is a guardian that was freed", (void *)g);
        return 0;
    }
    tt_heap *h = g->heap;
    TT__LOCKED(h);
    return g->q.count;
}

static void guardian_unlink(tt_heap *h, tt_guardian *g)
{
    g->sig = TT__GUARDIAN_DEAD;
    if (g->prev)
        g->prev->next = g->next;
    else
        h->guardians = g->next;
    if (g->next) g->next->prev = g->prev;
    tt__queue_free(h, &g->q);
    tt__retire(h, g);
}

int tt_guardian_free_at(tt_thread *t, tt_guardian *g, const char *file, int line)
{
    /* Checked and killed under the lock: of two frees, the second sees a
     * dead guardian. */
    TT__LOCKED_T(t);
    int code;
    if (!guardian_arg(t, g, "tt_guardian_free", file, line, &code)) return code;
    tt_heap *h = t->heap;
    g->sig = TT__GUARDIAN_DEAD; /* first: nothing reaches it from here on */
    /* Registrations naming g go; what g holds goes to the pending queue. */
    for (size_t i = 0; i < h->ce_len; i++)
        if (h->ce[i].w && tt__ce_fn(h->ce[i].w) == TT__FN_GUARDIAN && h->ce[i].env == g)
            tt__cleanup_drop(h, tt__ce_obj(h->ce[i].w), TT__FN_GUARDIAN, g);
    for (struct tt__pend *it; (it = queue_front(&g->q)) != NULL; queue_pop(&g->q))
        if (tt__queue_push(h, &h->pending, it->v, it->kind) != TT_OK) break;
    guardian_unlink(h, g);
    return TT_OK;
}

/* ---- shutdown ---- */

void tt__finalize_shutdown(tt_heap *h)
{
    if (h->checked) tt__leaks_at_close(h);
    if (h->cfg.fast_close) return;
    tt_thread *t = tt__thread_attach(h, true, "tt_heap_close", 0);
    if (!t) {
        tt__report(h, "close", "cleanups not run at close: no memory to attach a thread");
        return;
    }
    TT__LOCKED(h);
    /* Objects already found dead go first, in their dependency order. */
    tt__run_pending(t, 0);
    /* Then every cleanup still registered, newest registration first. A
     * cleanup may register more; they run too, up to a bound that stops a
     * cleanup that keeps re-registering itself. */
    size_t bound = 4 * h->ce_len + 1000000, runs = 0;
    while (runs < bound && tt__cleanup_run_newest(t)) runs++;
    if (runs == bound)
        tt__report(h, "close", "cleanups still being registered after %zu runs at close; "
                               "the rest are not run", runs);
    h->running_cleanups = false;
    tt__run_pending(t, 0); /* weak callbacks queued by collections at close */
    tt__thread_detach(t, 1);
}

void tt__finalize_finish(tt_heap *h)
{
    while (h->guardians) guardian_unlink(h, h->guardians);
    tt__queue_free(h, &h->pending);
    tt__pages_release(h, h->fin_objs, h->fin_cap * sizeof *h->fin_objs);
    tt__pages_release(h, h->ephs, h->ephs_cap * sizeof *h->ephs);
    h->fin_objs = h->ephs = NULL;
    h->fin_cap = h->ephs_cap = h->ephs_len = 0;
}
