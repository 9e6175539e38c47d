/*
 * cleanup.c: the cleanup log, every object's cleanup stack, and the calls
 * that push, run and cancel cleanups.
 *
 * One mechanism serves finalizers, allocators, retainers, per-type
 * finalize hooks, keep-alive edges and guardian registrations: each is an
 * entry of 16 bytes in one log kept in registration order (see
 * struct tt__centry in internal.h). Invariants:
 *   - an object has entries iff its header has TT__HDR_CLEANUPS;
 *   - its newest entry (its head) is in its foreign payload, or in the
 *     `heads` map for other objects; older ones are chained through the
 *     `older` map, so one object's stack is a list from newest to oldest;
 *   - the log's last live entry is the newest entry of its object (the log
 *     is append-only; compaction keeps the order), which is what makes the
 *     shutdown order "reverse registration" a walk from the end;
 *   - an entry is unlinked and zeroed before its function is called, so a
 *     cleanup that releases its own object again finds nothing to run.
 * Dead entries are holes; they are trimmed from the tail at once (the
 * common retain/release pattern never leaves holes) and compacted away
 * when they make up a quarter of a full log or half of it after a
 * collection. Compaction rebuilds the heads and links from the log alone.
 */
#include "internal.h"

#define INITIAL_LOG 1024u

/* ---- heads and links ---- */

static struct tt__foreign *foreign_payload(uintptr_t obj)
{
    return tt__is_foreign(obj) ? (struct tt__foreign *)obj : NULL;
}

static uintptr_t *header_of(uintptr_t obj) { return (uintptr_t *)obj - 1; }

uint32_t tt__cleanup_head(tt_heap *h, uintptr_t obj)
{
    if (!(*header_of(obj) & TT__HDR_CLEANUPS)) return 0;
    struct tt__foreign *fp = foreign_payload(obj);
    if (fp) return fp->head;
    uint64_t v;
    return tt__u64map_get(&h->heads, obj, &v) ? (uint32_t)v : 0;
}

/* Callers have reserved room in `heads`, so the put cannot fail. */
static void set_head(tt_heap *h, uintptr_t obj, uint32_t idx1)
{
    struct tt__foreign *fp = foreign_payload(obj);
    if (fp)
        fp->head = idx1;
    else if (idx1)
        (void)tt__u64map_put(&h->heads, obj, idx1);
    else
        tt__u64map_remove(&h->heads, obj);
    /* Atomic (the lock orders writers): tt_foreign_addr reads the header
     * of a live foreign object without the lock. */
    uintptr_t hdr = *header_of(obj);
    hdr = idx1 ? hdr | TT__HDR_CLEANUPS : hdr & ~TT__HDR_CLEANUPS;
    __atomic_store_n(header_of(obj), hdr, __ATOMIC_RELAXED);
}

uint32_t tt__cleanup_older(tt_heap *h, uint32_t idx)
{
    if (!(h->ce[idx].w & TT__CE_OLDER)) return 0;
    uint64_t v;
    return tt__u64map_get(&h->older, (uint64_t)idx + 1, &v) ? (uint32_t)v : 0;
}

static void set_older(tt_heap *h, uint32_t idx, uint32_t older1)
{
    if (older1) {
        h->ce[idx].w |= TT__CE_OLDER;
        (void)tt__u64map_put(&h->older, (uint64_t)idx + 1, older1);
    } else if (h->ce[idx].w & TT__CE_OLDER) {
        h->ce[idx].w &= ~TT__CE_OLDER;
        tt__u64map_remove(&h->older, (uint64_t)idx + 1);
    }
}

/* ---- the log ---- */

size_t tt__cleanup_bytes(const tt_heap *h)
{
    size_t b = h->ce_cap * sizeof(struct tt__centry) + tt__u64map_bytes(&h->heads) +
               tt__u64map_bytes(&h->older);
    if (h->ce_site) b += h->ce_cap * sizeof(struct tt__site);
    return b;
}

static void trim_tail(tt_heap *h)
{
    while (h->ce_len && h->ce[h->ce_len - 1].w == 0) {
        h->ce_len--;
        h->ce_dead--;
    }
}

void tt__cleanup_compact(tt_heap *h)
{
    for (size_t i = 0; i < h->ce_len; i++) {
        struct tt__foreign *fp = h->ce[i].w ? foreign_payload(tt__ce_obj(h->ce[i].w)) : NULL;
        if (fp) fp->head = 0;
    }
    tt__u64map_clear(&h->heads);
    tt__u64map_clear(&h->older);
    size_t j = 0;
    for (size_t i = 0; i < h->ce_len; i++) {
        struct tt__centry e = h->ce[i];
        if (!e.w) continue;
        uintptr_t obj = tt__ce_obj(e.w);
        uint32_t prev = tt__cleanup_head(h, obj);
        h->ce[j].w = e.w & ~TT__CE_OLDER;
        h->ce[j].env = e.env;
        if (h->ce_site) h->ce_site[j] = h->ce_site[i];
        /* Both maps hold no more keys than before, so no put can fail. */
        set_older(h, (uint32_t)j, prev);
        set_head(h, obj, (uint32_t)j + 1);
        j++;
    }
    for (size_t i = j; i < h->ce_len; i++) h->ce[i] = (struct tt__centry){0, NULL};
    h->ce_len = j;
    h->ce_dead = 0;
}

int tt__cleanup_reserve(tt_heap *h, size_t n)
{
    if (tt__u64map_reserve(&h->heads, n) != 0 || tt__u64map_reserve(&h->older, n) != 0)
        return TT_ENOMEM;
    if (h->ce_len + n <= h->ce_cap) return TT_OK;
    if (h->ce_dead * 4 >= h->ce_cap && h->ce_dead) {
        tt__cleanup_compact(h);
        if (h->ce_len + n <= h->ce_cap) return TT_OK;
    }
    size_t cap = h->ce_cap ? h->ce_cap * 2 : INITIAL_LOG;
    while (cap < h->ce_len + n) cap *= 2;
    if (cap > UINT32_MAX - 1) return TT_ENOMEM;
    /* Both arrays or neither, so ce_cap always describes both. */
    struct tt__centry *ce = tt__pages_reserve(h, cap * sizeof *ce, TT__PAGE);
    struct tt__site *site = h->checked ? tt__pages_reserve(h, cap * sizeof *site, TT__PAGE) : NULL;
    if (!ce || (h->checked && !site)) {
        tt__pages_release(h, ce, cap * sizeof *ce);
        tt__pages_release(h, site, cap * sizeof *site);
        return TT_ENOMEM;
    }
    if (h->ce_len) memcpy(ce, h->ce, h->ce_len * sizeof *ce);
    tt__pages_release(h, h->ce, h->ce_cap * sizeof *ce);
    h->ce = ce;
    if (site) {
        if (h->ce_len) memcpy(site, h->ce_site, h->ce_len * sizeof *site);
        tt__pages_release(h, h->ce_site, h->ce_cap * sizeof *site);
        h->ce_site = site;
    }
    h->ce_cap = cap;
    return TT_OK;
}

bool tt__cleanup_find(tt_heap *h, tt_cleanup_fn fn, uint32_t *id)
{
    uint64_t v;
    if (fn == h->fn_last && h->fn_last_id) {
        *id = h->fn_last_id;
        return true;
    }
    if (!tt__u64map_get(&h->fn_ids, (uint64_t)(uintptr_t)fn, &v)) return false;
    *id = (uint32_t)v;
    return true;
}

int tt__cleanup_intern(tt_heap *h, tt_cleanup_fn fn, uint32_t *id)
{
    /* Programs register with few functions, usually the same one in a
     * row: a one-entry cache (in tt__cleanup_find) spares the map. */
    if (tt__cleanup_find(h, fn, id)) {
        h->fn_last = fn;
        h->fn_last_id = *id;
        return TT_OK;
    }
    if (h->nfns == TT__FN_MAX + 1) return TT_ENOMEM;
    if (h->nfns == h->fns_cap) {
        uint32_t cap = h->fns_cap ? h->fns_cap * 2 : 64;
        if (h->fns && h->nfns_retired == sizeof h->fns_retired / sizeof h->fns_retired[0])
            return TT_ENOMEM;
        tt_cleanup_fn *fns = tt__pages_reserve(h, cap * sizeof *fns, TT__PAGE);
        if (!fns) return TT_ENOMEM;
        /* The old array stays readable: tt_release's unlocked path may be
         * reading it (see fns_retired). */
        if (h->fns) {
            memcpy(fns, h->fns, h->fns_cap * sizeof *fns);
            h->fns_retired[h->nfns_retired] = h->fns;
            h->fns_retired_cap[h->nfns_retired++] = h->fns_cap;
        }
        __atomic_store_n(&h->fns, fns, __ATOMIC_RELEASE);
        h->fns_cap = cap;
        if (h->nfns < TT__FN_USER) h->nfns = TT__FN_USER;
    }
    if (tt__u64map_put(&h->fn_ids, (uint64_t)(uintptr_t)fn, h->nfns) != 0) return TT_ENOMEM;
    h->fns[h->nfns] = fn;
    *id = h->nfns++;
    return TT_OK;
}

int tt__cleanup_add(tt_heap *h, uintptr_t obj, uint32_t fn, uintptr_t flags, void *env,
                    const char *file, int line)
{
    /* A foreign object's first entry needs no map slot (its head is in
     * its payload and nothing is older): only the log must have room. */
    struct tt__foreign *fp = foreign_payload(obj);
    if ((h->ce_len == h->ce_cap || !fp || fp->head) && tt__cleanup_reserve(h, 1) != TT_OK)
        return TT_ENOMEM;
    if (fp && fp->head) tt__foreign_unfast(fp); /* its base is no longer alone */
    uint32_t idx = (uint32_t)h->ce_len++;
    uint32_t prev = tt__cleanup_head(h, obj);
    h->ce[idx].w = obj | ((uintptr_t)fn << TT__CE_FN_SHIFT) | flags;
    h->ce[idx].env = env;
    if (h->ce_site) h->ce_site[idx] = (struct tt__site){file, line};
    set_older(h, idx, prev);
    set_head(h, obj, idx + 1);
    if (fn == TT__FN_KEEPALIVE) h->ce_keepalive++;
    h->st.cleanups_registered++;
    /* Registrations are memory too (the entry, and a map slot for most
     * objects): pace collections by them, so the log and maps of objects
     * that die young stay small and in cache. */
    h->alloc_since_gc += sizeof(struct tt__centry) + sizeof(struct tt__u64slot);
    /* With a finalizer thread, a collection should queue no more than it
     * can run promptly: the latency of the last item of a batch is the
     * whole batch. After TT__FIN_BATCH registrations the trigger is
     * lowered to what was allocated so far, but never below a quarter of
     * the usual one, so this never makes collections more than 4x as
     * frequent. */
    if (h->fin_started && ++h->regs_since_gc == TT__FIN_BATCH) {
        size_t used = h->alloc_since_gc + h->ext_since_gc, quarter = h->threshold / 4;
        if (used < h->threshold) h->threshold = used > quarter ? used : quarter;
    }
    return TT_OK;
}

/* Take entry idx of obj out of its stack; newer1 is the entry above it
 * (index + 1), 0 if idx is the head. */
static void unlink_entry(tt_heap *h, uintptr_t obj, uint32_t idx, uint32_t newer1)
{
    uint32_t older1 = tt__cleanup_older(h, idx);
    set_older(h, idx, 0);
    if (newer1)
        set_older(h, newer1 - 1, older1);
    else
        set_head(h, obj, older1);
    if (tt__ce_fn(h->ce[idx].w) == TT__FN_KEEPALIVE) h->ce_keepalive--;
    h->ce[idx].w = 0;
    h->ce[idx].env = NULL;
    h->ce_dead++;
    trim_tail(h);
}

static bool is_cleanup(uint32_t fn) { return fn != TT__FN_KEEPALIVE && fn != TT__FN_GUARDIAN; }

/* A base entry whose object's base was claimed: run (or running) by
 * tt_release's unlocked path, left for the next collection to purge. A
 * base run under the lock is unlinked before it runs, so it never is. */
static bool is_stale(uintptr_t w)
{
    if (!(w & TT__CE_BASE)) return false;
    const struct tt__foreign *fp = (const struct tt__foreign *)tt__ce_obj(w);
    return (__atomic_load_n(&fp->state, __ATOMIC_ACQUIRE) & TT__FOREIGN_CLAIMED) != 0;
}

/* The newest entry of obj that is a cleanup (not an edge or a guardian):
 * its index + 1, and the entry above it in *newer1. */
static uint32_t newest_cleanup(tt_heap *h, uintptr_t obj, uint32_t *newer1)
{
    uint32_t newer = 0;
    for (uint32_t cur = tt__cleanup_head(h, obj); cur; cur = tt__cleanup_older(h, cur - 1)) {
        uintptr_t w = h->ce[cur - 1].w;
        if (is_cleanup(tt__ce_fn(w)) && !is_stale(w)) {
            *newer1 = newer;
            return cur;
        }
        newer = cur;
    }
    return 0;
}

const struct tt__site *tt__cleanup_next_site(tt_heap *h, uintptr_t obj)
{
    uint32_t newer, cur = newest_cleanup(h, obj, &newer);
    return cur && h->ce_site ? &h->ce_site[cur - 1] : NULL;
}

void tt__cleanup_drop(tt_heap *h, uintptr_t obj, uint32_t fn, const void *env)
{
    uint32_t newer = 0, cur = tt__cleanup_head(h, obj);
    while (cur) {
        uint32_t next = tt__cleanup_older(h, cur - 1);
        if (tt__ce_fn(h->ce[cur - 1].w) == fn && (!env || h->ce[cur - 1].env == env))
            unlink_entry(h, obj, cur - 1, newer);
        else
            newer = cur;
        cur = next;
    }
}

/* Run entry idx of obj: unlink it first, then call it. */
static void run_entry(tt_thread *t, uintptr_t obj, uint32_t idx, uint32_t newer1)
{
    tt_heap *h = t->heap;
    struct tt__centry e = h->ce[idx];
    uint32_t fn = tt__ce_fn(e.w);
    unlink_entry(h, obj, idx, newer1);
    if ((e.w & TT__CE_BASE) && !tt__foreign_claim((struct tt__foreign *)obj)) {
        h->stale_dropped++; /* the unlocked path ran it */
        return;
    }
    tt_ref r = {obj};
    if (fn == TT__FN_FINALIZE || fn >= TT__FN_USER) {
        /* The object may be held by nothing else now (close, or a release
         * of an unrooted object): root it for the call, which may collect.
         * The depth makes every queue-running context a no-op inside. */
        tt_frame f = tt_frame_push_at(t, 1, "tether cleanup", 0);
        if (!tt_frame_is_null(f)) (void)tt_local_new_at(t, r, "tether cleanup", 0);
        t->cleanup_depth++;
        if (fn == TT__FN_FINALIZE) {
            TT__USER(h, tt_type_of(r)->finalize(t, r, NULL));
        } else {
            tt_cleanup_fn call = h->fns[fn];
            TT__USER(h, call(t, r, e.env));
        }
        t->cleanup_depth--;
        if (!tt_frame_is_null(f)) tt_frame_pop_at(t, f, TT_NO_LOCAL, "tether cleanup", 0);
    }
    if (e.w & TT__CE_BASE) tt__foreign_release(h, obj);
    h->st.cleanups_run++;
}

bool tt__cleanup_run_one(tt_thread *t, uintptr_t obj)
{
    tt_heap *h = t->heap;
    uint32_t newer, cur = newest_cleanup(h, obj, &newer);
    if (!cur) return false;
    run_entry(t, obj, cur - 1, newer);
    /* Edges hold their target until the last cleanup of obj completed. */
    if (h->ce_keepalive && !newest_cleanup(h, obj, &newer)) tt__cleanup_drop(h, obj, TT__FN_KEEPALIVE, NULL);
    return true;
}

size_t tt__cleanup_run_all(tt_thread *t, uintptr_t obj, bool drop_guardians)
{
    size_t n = 0;
    while (tt__cleanup_run_one(t, obj)) n++;
    tt_heap *h = t->heap;
    if (h->ce_keepalive) tt__cleanup_drop(h, obj, TT__FN_KEEPALIVE, NULL);
    if (drop_guardians) tt__cleanup_drop(h, obj, TT__FN_GUARDIAN, NULL);
    return n;
}

bool tt__cleanup_run_newest(tt_thread *t)
{
    tt_heap *h = t->heap;
    trim_tail(h);
    if (h->ce_len == 0) return false;
    uint32_t idx = (uint32_t)h->ce_len - 1;
    uintptr_t obj = tt__ce_obj(h->ce[idx].w);
    if (is_cleanup(tt__ce_fn(h->ce[idx].w)))
        run_entry(t, obj, idx, 0); /* the log's last entry is its object's head */
    else
        unlink_entry(h, obj, idx, 0);
    return true;
}

tt_guardian *tt__cleanup_take_guardian(tt_heap *h, uintptr_t obj)
{
    if (!h->guardians) return NULL;
    uint32_t newer = 0;
    for (uint32_t cur = tt__cleanup_head(h, obj); cur; cur = tt__cleanup_older(h, cur - 1)) {
        if (tt__ce_fn(h->ce[cur - 1].w) == TT__FN_GUARDIAN) {
            tt_guardian *g = h->ce[cur - 1].env;
            unlink_entry(h, obj, cur - 1, newer);
            return g;
        }
        newer = cur;
    }
    return NULL;
}

void tt__cleanup_purge_stale(tt_heap *h)
{
    if (tt__released_fast(h) == h->stale_dropped) return; /* none in the log */
    for (size_t i = 0; i < h->ce_len; i++) {
        uintptr_t w = h->ce[i].w;
        if (!w || !is_stale(w)) continue;
        uintptr_t obj = tt__ce_obj(w);
        h->stale_dropped++;
        if (((struct tt__foreign *)obj)->head == i + 1 && !(w & TT__CE_OLDER)) {
            /* The usual case, the object's only entry: what unlink_entry
             * does, without its map lookups or a trim per entry. */
            set_head(h, obj, 0);
            h->ce[i] = (struct tt__centry){0, NULL};
            h->ce_dead++;
            continue;
        }
        /* Something was pushed above it: unlink with the entry above. */
        uint32_t newer = 0;
        for (uint32_t cur = tt__cleanup_head(h, obj); cur && cur != i + 1;
             cur = tt__cleanup_older(h, cur - 1))
            newer = cur;
        unlink_entry(h, obj, (uint32_t)i, newer);
    }
    trim_tail(h);
}

bool tt__regs_drain(tt_heap *h)
{
    bool all = true;
    for (tt_thread *o = h->threads; o; o = o->next) {
        struct tt__regs *g = &o->regs;
        uint32_t head = g->head, tail = __atomic_load_n(&g->tail, __ATOMIC_ACQUIRE);
        if (head == tail) continue;
        for (; head != tail; head++) {
            uintptr_t obj = g->obj[head % TT__REGS];
            struct tt__foreign *fp = (struct tt__foreign *)obj;
            uint32_t s = tt__foreign_state(fp);
            /* A release racing with this either claimed first (skipped
             * here) or claims after (its entry goes stale, purged later). */
            if (s & TT__FOREIGN_CLAIMED) {
                /* Released before it reached the log: it never will. */
                h->st.cleanups_registered++;
                h->stale_dropped++;
            } else if (tt__cleanup_add(h, obj, s >> TT__FOREIGN_FN_SHIFT, TT__CE_BASE, fp->base_env,
                                       NULL, 0) != TT_OK) {
                all = false;
                break;
            }
        }
        __atomic_store_n(&g->head, head, __ATOMIC_RELEASE);
    }
    return all;
}

void tt__regs_mark(tt_heap *h)
{
    for (tt_thread *o = h->threads; o; o = o->next)
        for (uint32_t i = o->regs.head; i != o->regs.tail; i++) tt__mark_root(h, o->regs.obj[i % TT__REGS]);
}

uint64_t tt__released_fast(tt_heap *h)
{
    uint64_t n = h->released_fast;
    pthread_mutex_lock(&h->world_lock);
    for (const tt_thread *o = h->threads; o; o = o->next)
        n += __atomic_load_n(&o->released_fast, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&h->world_lock);
    return n;
}

void tt__cleanup_finish(tt_heap *h)
{
    tt__pages_release(h, h->ce, h->ce_cap * sizeof *h->ce);
    tt__pages_release(h, h->ce_site, h->ce_cap * sizeof *h->ce_site);
    tt__pages_release(h, h->fns, h->fns_cap * sizeof *h->fns);
    for (uint32_t i = 0; i < h->nfns_retired; i++)
        tt__pages_release(h, h->fns_retired[i], h->fns_retired_cap[i] * sizeof *h->fns);
    h->nfns_retired = 0;
    h->ce = NULL;
    h->ce_site = NULL;
    h->fns = NULL;
    h->ce_len = h->ce_cap = h->ce_dead = 0;
    tt__u64map_free(&h->heads);
    tt__u64map_free(&h->older);
    tt__u64map_free(&h->fn_ids);
}

/* ---- the API ---- */

/* Entry check for calls on an object: the heap, or NULL with *code. */
static tt_heap *enter_obj(tt_thread *t, tt_ref obj, const char *fname, const char *file, int line,
                          int *code)
{
    tt_heap *h = tt__enter(t, file, line, code);
    if (!h) return NULL;
    if (obj.bits == 0 || (obj.bits & 7)) {
        *code = tt__fail(TT_EINVAL, file, line, "%s: %s", fname,
                         obj.bits ? "misaligned reference" : "null reference");
        return NULL;
    }
    if (h->checked) {
        const char *why = tt__object_problem(h, obj.bits);
        if (why) {
            *code = tt__misuse(h, TT_EINVAL, "cleanup-not-object", file, line,
                               "%s on %p, which is not a live object of this heap: %s", fname,
                               (void *)obj.bits, why);
            return NULL;
        }
    }
    return h;
}

/* A released foreign object takes no new registrations. */
static int refuse_released(tt_heap *h, tt_ref obj, const char *fname, const char *file, int line)
{
    struct tt__foreign *fp = foreign_payload(obj.bits);
    if (!fp || !(tt__foreign_state(fp) & TT__FOREIGN_RELEASED)) return TT_OK;
    if (h->checked)
        return tt__misuse(h, TT_ESTATE, "foreign-after-release", file, line,
                          "%s on a foreign object that was already released", fname);
    return tt__fail(TT_ESTATE, file, line, "%s: the foreign object was already released", fname);
}

int tt_cleanup_push_at(tt_thread *t, tt_ref obj, tt_cleanup_fn fn, void *env, const char *file,
                       int line)
{
    int code;
    tt_heap *h = enter_obj(t, obj, "tt_cleanup_push", file, line, &code);
    if (!h) return code;
    TT__LOCKED(h);
    if (!fn) return tt__fail(TT_EINVAL, file, line, "tt_cleanup_push: null function");
    if ((code = refuse_released(h, obj, "tt_cleanup_push", file, line)) != TT_OK) return code;
    uint32_t id;
    if (tt__cleanup_intern(h, fn, &id) != TT_OK ||
        tt__cleanup_add(h, obj.bits, id, 0, env, file, line) != TT_OK)
        return tt__fail(TT_ENOMEM, file, line, "tt_cleanup_push: out of memory for the cleanup log");
    return TT_OK;
}

int tt_cleanup_retain_at(tt_thread *t, tt_ref obj, void (*retain)(void *env),
                         tt_cleanup_fn release, void *env, const char *file, int line)
{
    int code;
    tt_heap *h = enter_obj(t, obj, "tt_cleanup_retain", file, line, &code);
    if (!h) return code;
    TT__LOCKED(h);
    if (!release) return tt__fail(TT_EINVAL, file, line, "tt_cleanup_retain: null release");
    if ((code = refuse_released(h, obj, "tt_cleanup_retain", file, line)) != TT_OK) return code;
    uint32_t id;
    if (tt__cleanup_intern(h, release, &id) != TT_OK || tt__cleanup_reserve(h, 1) != TT_OK)
        return tt__fail(TT_ENOMEM, file, line,
                        "tt_cleanup_retain: out of memory for the cleanup log (not retained)");
    if (retain) retain(env);
    (void)tt__cleanup_add(h, obj.bits, id, 0, env, file, line); /* room is reserved */
    return TT_OK;
}

int tt_cleanup_run_last_at(tt_thread *t, tt_ref obj, const char *file, int line)
{
    int code;
    tt_heap *h = enter_obj(t, obj, "tt_cleanup_run_last", file, line, &code);
    if (!h) return code;
    TT__LOCKED(h);
    if (tt__cleanup_run_one(t, obj.bits)) return TT_OK;
    if (h->checked)
        return tt__misuse(h, TT_ESTATE, "cleanup-none", file, line,
                          "tt_cleanup_run_last on a '%s' with no cleanup left (it ran already)",
                          tt_type_of(obj)->name);
    return tt__fail(TT_ESTATE, file, line, "tt_cleanup_run_last: no cleanup left");
}

static TT__SLOW_PATH int release_locked(tt_thread *t, tt_ref obj, const char *file, int line)
{
    int code;
    tt_heap *h = enter_obj(t, obj, "tt_release", file, line, &code);
    if (!h) return code;
    TT__LOCKED(h);
    struct tt__foreign *fp = foreign_payload(obj.bits);
    if (fp && (tt__foreign_state(fp) & TT__FOREIGN_RELEASED)) {
        if (h->checked)
            return tt__misuse(h, TT_ESTATE, "release-twice", file, line,
                              "tt_release of a foreign object that was already released");
        return tt__fail(TT_ESTATE, file, line, "tt_release: already released");
    }
    /* Most foreign objects hold one entry, their base: run it directly,
     * without the walks that look for further cleanups, edges and
     * guardians (a lone entry has no older one). */
    uint32_t head = fp ? tt__cleanup_head(h, obj.bits) : 0;
    if (head && (h->ce[head - 1].w & (TT__CE_BASE | TT__CE_OLDER)) == TT__CE_BASE)
        run_entry(t, obj.bits, head - 1, 0);
    else
        tt__cleanup_run_all(t, obj.bits, false);
    return TT_OK;
}

int tt_release_at(tt_thread *t, tt_ref obj, const char *file, int line)
{
    if (tt__foreign_release_fast(t, obj)) return TT_OK;
    return release_locked(t, obj, file, line);
}

size_t tt_cleanup_count_at(tt_thread *t, tt_ref obj, const char *file, int line)
{
    int code;
    tt_heap *h = enter_obj(t, obj, "tt_cleanup_count", file, line, &code);
    if (!h) return 0;
    TT__LOCKED(h);
    size_t n = 0;
    for (uint32_t cur = tt__cleanup_head(h, obj.bits); cur; cur = tt__cleanup_older(h, cur - 1)) {
        uint32_t fn = tt__ce_fn(h->ce[cur - 1].w);
        if (is_cleanup(fn) && fn != TT__FN_NONE && !is_stale(h->ce[cur - 1].w)) n++;
    }
    return n;
}

int tt_keep_alive_at(tt_thread *t, tt_ref a, tt_ref b, const char *file, int line)
{
    int code;
    tt_heap *h = enter_obj(t, a, "tt_keep_alive", file, line, &code);
    if (!h) return code;
    TT__LOCKED(h);
    if (b.bits == 0 || (b.bits & 7))
        return tt__fail(TT_EINVAL, file, line, "tt_keep_alive: bad second object");
    if (h->checked) {
        const char *why = tt__object_problem(h, b.bits);
        if (why)
            return tt__misuse(h, TT_EINVAL, "cleanup-not-object", file, line,
                              "tt_keep_alive(a, %p): not a live object of this heap: %s",
                              (void *)b.bits, why);
    }
    if (tt__cleanup_add(h, a.bits, TT__FN_KEEPALIVE, 0, (void *)b.bits, file, line) != TT_OK)
        return tt__fail(TT_ENOMEM, file, line, "tt_keep_alive: out of memory for the cleanup log");
    return TT_OK;
}
