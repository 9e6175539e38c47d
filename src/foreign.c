/*
 * foreign.c: foreign objects and the accounting of external memory.
 *
 * A foreign object is an atomic heap object holding a foreign address, the
 * external bytes it keeps alive, and the head of its cleanup stack (see
 * cleanup.c). Its first log entry carries TT__CE_BASE: when that entry has
 * run (it is the oldest, so it runs last), the object is released: its
 * address reads NULL, its external bytes leave the heap's count, and it
 * leaves every wrapper table.
 *
 * Pacing. The collector triggers when heap bytes plus external bytes
 * allocated since the last collection reach the threshold, which grows
 * with live heap plus live external bytes (collect.c). External bytes are
 * added here and subtracted only by release, so the count is balanced by
 * construction. The heap limit covers footprint plus live external bytes.
 * Before adding external bytes, this file collects if the new bytes reach
 * the trigger, and (unless explicit_cleanups_only) runs pending cleanups:
 * the call is creating foreign memory, so giving back dead foreign memory
 * there is what keeps a program that only declares sizes within bounds.
 */
#include <stdlib.h>

#include "internal.h"

const tt_type tt_foreign_type = {TT_TYPE_SIG, "tt_foreign", TT_KIND_ATOMIC,
                                 (uint32_t)sizeof(struct tt__foreign), 0, 0, NULL, NULL, NULL};

void tt_cleanup_free(tt_thread *t, tt_ref obj, void *env)
{
    (void)env;
    free(tt_foreign_addr(t, obj));
}

void tt__foreign_release(tt_heap *h, uintptr_t p)
{
    struct tt__foreign *fp = (struct tt__foreign *)p;
    if (tt__foreign_state(fp) & TT__FOREIGN_RELEASED) return;
    if (tt__foreign_state(fp) & TT__FOREIGN_IN_WTABLE) tt__wtables_drop(h, p, fp->addr);
    /* Atomic, and the state before the address: tt_foreign_addr reads both
     * without the lock (see there). Released implies claimed. */
    __atomic_store_n(&fp->state, TT__FOREIGN_RELEASED | TT__FOREIGN_CLAIMED, __ATOMIC_RELEASE);
    h->ext_live -= fp->ext;
    h->ext_freed += fp->ext;
    fp->ext = 0;
    __atomic_store_n(&fp->addr, NULL, __ATOMIC_RELEASE);
}

void tt__foreign_cleanup_point(tt_thread *t)
{
    tt_heap *h = t->heap;
    /* A finalizer thread runs the queue itself. */
    if (!h->cfg.explicit_cleanups_only && !h->fin_started && h->pending.count && !h->running_cleanups)
        tt__run_pending(t, 0);
}

void tt__foreign_disown(tt_thread *t, uintptr_t p)
{
    tt_heap *h = t->heap;
    uint32_t base = tt__cleanup_head(h, p);
    h->ce[base - 1].w = tt__ce_with_fn(h->ce[base - 1].w, TT__FN_NONE);
    tt__cleanup_run_one(t, p);
}

static bool over_limit(const tt_heap *h, size_t bytes)
{
    if (!h->cfg.max_size) return false;
    size_t used = tt__footprint(h) + h->ext_live;
    return used > h->cfg.max_size || bytes > h->cfg.max_size - used;
}

/* Make room for `bytes` more external bytes: collect if they reach the
 * trigger, run pending cleanups at this cleanup point, and refuse them if
 * the heap limit cannot take them even after a full collection. */
static int make_room(tt_thread *t, size_t bytes, const char *fname, const char *file, int line)
{
    tt_heap *h = t->heap;
    if (h->alloc_since_gc + h->ext_since_gc + bytes >= h->threshold) {
        h->st.collections_external++;
        tt__collect(h, t);
    }
    tt__foreign_cleanup_point(t);
    if (over_limit(h, bytes)) {
        while (!tt__collect(h, t)) {
        }
        tt__foreign_cleanup_point(t);
        /* At the limit, a finalizer thread's queue is run here too: the
         * memory it would free is needed now. */
        if (over_limit(h, bytes) && h->fin_started && !h->cfg.explicit_cleanups_only) tt__run_pending(t, 0);
        if (over_limit(h, bytes))
            return tt__fail(TT_ENOMEM, file, line,
                            "%s: %zu external bytes would pass the heap limit %zu (heap %zu, "
                            "external %zu, after a full collection)",
                            fname, bytes, h->cfg.max_size, tt__footprint(h),
                            h->ext_live);
    }
    return TT_OK;
}

static void add_external(tt_heap *h, struct tt__foreign *fp, size_t bytes)
{
    if (bytes) tt__foreign_unfast(fp); /* release must give them back, under the lock */
    fp->ext += bytes;
    h->ext_live += bytes;
    h->ext_since_gc += bytes;
    if (h->ext_live > h->st.external_bytes_peak) h->st.external_bytes_peak = h->ext_live;
}

/* A new foreign object with a null address and its base entry, or TT_NULL
 * with the error set. fn is the base's function id. */
static tt_ref make_foreign(tt_thread *t, uint32_t fn, uintptr_t flags, void *env,
                           const char *fname, const char *file, int line)
{
    tt_heap *h = t->heap;
    if (tt__cleanup_reserve(h, 1) != TT_OK) {
        tt__fail(TT_ENOMEM, file, line, "%s: out of memory for the cleanup log", fname);
        return TT_NULL;
    }
    tt_ref r = tt__alloc_slow(t, &tt_foreign_type, 0, 0, file, line);
    if (r.bits == 0) return TT_NULL;
    /* The allocation may have let other threads use the reservation. */
    if (tt__cleanup_add(h, r.bits, fn, TT__CE_BASE | flags, env, file, line) != TT_OK) {
        tt__fail(TT_ENOMEM, file, line, "%s: out of memory for the cleanup log", fname);
        return TT_NULL;
    }
    return r;
}

static int intern_or_fail(tt_heap *h, tt_cleanup_fn fn, uint32_t *id, const char *fname,
                          const char *file, int line)
{
    *id = TT__FN_NONE;
    if (!fn) return TT_OK;
    if (tt__cleanup_intern(h, fn, id) == TT_OK) return TT_OK;
    return tt__fail(TT_ENOMEM, file, line, "%s: out of memory for the cleanup function table",
                    fname);
}

/* A new object from tt_foreign_new: its base (fn id, env) is its only
 * entry, so an unlocked release may run it (add_external clears the flag
 * again if the object holds external bytes). Not yet seen by another
 * thread: plain stores. */
/* Bytes of a foreign object with its header, as tt_alloc rounds them. */
#define FOREIGN_BYTES (((uintptr_t)sizeof(struct tt__foreign) + 15) & ~(uintptr_t)7)

/* The function this thread registered last under the lock: the unlocked
 * creation may use it (and only it) from now on. */
static void remember_fn(tt_thread *t, tt_cleanup_fn fn, uint32_t id)
{
    if (!fn) return;
    t->regs.fn = fn;
    t->regs.fn_id = id;
}

static void make_fast(struct tt__foreign *fp, uint32_t id, void *env)
{
    fp->base_env = env;
    fp->state = TT__FOREIGN_FAST | (id << TT__FOREIGN_FN_SHIFT);
}

bool tt__foreign_claim(struct tt__foreign *fp)
{
    uint32_t s = __atomic_load_n(&fp->state, __ATOMIC_ACQUIRE);
    do {
        if (s & TT__FOREIGN_CLAIMED) return false;
    } while (!__atomic_compare_exchange_n(&fp->state, &s,
                                          (s | TT__FOREIGN_CLAIMED) & ~(uint32_t)TT__FOREIGN_FAST,
                                          true, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
    return true;
}

/* Whether `bytes` more external bytes need no collection, cleanup point
 * or limit check: make_room would do nothing. */
static bool room_is_free(const tt_heap *h, size_t bytes)
{
    return h->alloc_since_gc + h->ext_since_gc + bytes < h->threshold && !h->pending.count &&
           !h->cfg.max_size;
}

/* tt_foreign_new's common case, unchecked: the function registered
 * before, room for the external bytes and the log entry, and a free slot
 * in the thread's run, so the object is bumped as tt_alloc does inline and
 * its base entry appended with nothing to reserve. TT_NULL if any of that
 * does not hold (the caller takes the general path; nothing was done). */
static tt_ref foreign_new_fast(tt_thread *t, tt_heap *h, void *addr, size_t external_bytes,
                               tt_cleanup_fn fn, void *env, const char *file, int line)
{
    uint32_t id = TT__FN_NONE;
    if (h->checked || tt__slow(&t->f) || !room_is_free(h, external_bytes) ||
        h->ce_len == h->ce_cap || (fn && !tt__cleanup_find(h, fn, &id)))
        return TT_NULL;
    remember_fn(t, fn, id);
    tt_ref r = tt__bump(t, &tt_foreign_type, FOREIGN_BYTES);
    if (r.bits == 0) return TT_NULL;
    (void)tt__cleanup_add(h, r.bits, id, TT__CE_BASE, env, file, line); /* room checked */
    struct tt__foreign *fp = (struct tt__foreign *)r.bits;
    fp->addr = addr;
    make_fast(fp, id, env);
    add_external(h, fp, external_bytes);
    return r;
}

/* tt_foreign_new without the lock, unchecked: 0 external bytes, the
 * function this thread registered last under the lock (or none), room in
 * its registration ring and its run. The object is bumped as tt_alloc
 * does inline, made FAST, and its base waits in the ring for
 * the next holder of the heap lock (struct tt__regs). Neither a
 * collection nor a cleanup point: its allocation counts toward the next
 * collection as any, and a full ring (every TT__REGS calls at most) sends
 * the call to the locked path, which is both. Not while this thread holds
 * the lock (tt_wtable_wrap creates under it): the object must be in the
 * log at once there. TT_NULL if any of that does not hold. */
static tt_ref foreign_new_unlocked(tt_thread *t, void *addr, size_t external_bytes,
                                   tt_cleanup_fn fn, void *env)
{
    if (!t || t->f.sig != TT__THREAD_SIG || t->f.slow || external_bytes) return TT_NULL;
    struct tt__regs *g = &t->regs;
    uint32_t id = TT__FN_NONE;
    if (fn) {
        if (fn != g->fn) return TT_NULL;
        id = g->fn_id;
    }
    if (g->tail - __atomic_load_n(&g->head, __ATOMIC_ACQUIRE) >= TT__REGS || tt__lock_held(t->heap))
        return TT_NULL;
    tt_ref r = tt__bump(t, &tt_foreign_type, FOREIGN_BYTES);
    if (r.bits == 0) return TT_NULL;
    struct tt__foreign *fp = (struct tt__foreign *)r.bits;
    fp->addr = addr;
    fp->ext = 0;
    fp->head = 0;
    make_fast(fp, id, env);
    g->obj[g->tail % TT__REGS] = r.bits;
    __atomic_store_n(&g->tail, g->tail + 1, __ATOMIC_RELEASE);
    return r;
}

static TT__SLOW_PATH tt_ref foreign_new_locked(tt_thread *t, void *addr, size_t external_bytes,
                                               tt_cleanup_fn fn, void *env, const char *file,
                                               int line)
{
    TT__LOCKED_T(t);
    int code;
    tt_heap *h = tt__enter(t, file, line, &code);
    if (!h) return TT_NULL;
    tt_ref fast = foreign_new_fast(t, h, addr, external_bytes, fn, env, file, line);
    if (fast.bits) return fast;
    uint32_t id;
    if (make_room(t, external_bytes, "tt_foreign_new", file, line) != TT_OK ||
        intern_or_fail(h, fn, &id, "tt_foreign_new", file, line) != TT_OK)
        return TT_NULL;
    remember_fn(t, fn, id);
    tt_ref r = make_foreign(t, id, 0, env, "tt_foreign_new", file, line);
    if (r.bits == 0) return TT_NULL;
    struct tt__foreign *fp = (struct tt__foreign *)r.bits;
    fp->addr = addr;
    make_fast(fp, id, env);
    add_external(h, fp, external_bytes);
    return r;
}

tt_ref tt_foreign_new_at(tt_thread *t, void *addr, size_t external_bytes, tt_cleanup_fn fn,
                         void *env, const char *file, int line)
{
    tt_ref quick = foreign_new_unlocked(t, addr, external_bytes, fn, env);
    if (quick.bits) return quick;
    return foreign_new_locked(t, addr, external_bytes, fn, env, file, line);
}

tt_ref tt_foreign_alloc_at(tt_thread *t, size_t external_bytes, void *(*alloc)(void *ctx),
                           void *ctx, tt_cleanup_fn dealloc, void *env, const char *file, int line)
{
    TT__LOCKED_T(t);
    int code;
    tt_heap *h = tt__enter(t, file, line, &code);
    if (!h) return TT_NULL;
    if (!alloc) {
        tt__fail(TT_EINVAL, file, line, "tt_foreign_alloc: null allocator");
        return TT_NULL;
    }
    uint32_t id;
    if (make_room(t, external_bytes, "tt_foreign_alloc", file, line) != TT_OK ||
        intern_or_fail(h, dealloc, &id, "tt_foreign_alloc", file, line) != TT_OK)
        return TT_NULL;
    /* The object holds the deallocation from the start, with a null
     * address, so that nothing of tether's can fail once alloc succeeded.
     * It is rooted while alloc runs, in case alloc uses the heap. */
    tt_frame f = tt_frame_push_at(t, 1, file, line);
    if (tt_frame_is_null(f)) return TT_NULL;
    tt_ref r = make_foreign(t, id, TT__CE_DEALLOC, env, "tt_foreign_alloc", file, line);
    if (r.bits == 0) {
        tt_frame_pop_at(t, f, TT_NO_LOCAL, file, line);
        return TT_NULL;
    }
    tt_local l = tt_local_new_at(t, r, file, line);
    void *p = alloc(ctx);
    r = tt_local_get_at(t, l, file, line);
    tt_frame_pop_at(t, f, TT_NO_LOCAL, file, line);
    struct tt__foreign *fp = (struct tt__foreign *)r.bits;
    if (!p) {
        /* Nothing to deallocate: the base (its only entry) releases the
         * object without calling dealloc. */
        tt__foreign_disown(t, r.bits);
        tt__fail(TT_ENOMEM, file, line, "tt_foreign_alloc: the allocator returned NULL");
        return TT_NULL;
    }
    fp->addr = p;
    add_external(h, fp, external_bytes);
    return r;
}

/* The foreign payload of obj, or NULL with the error set. */
static struct tt__foreign *foreign_arg(tt_thread *t, tt_ref obj, bool live, const char *fname,
                                       const char *file, int line, int *code)
{
    tt_heap *h = tt__enter(t, file, line, code);
    if (!h) return NULL;
    const char *why = NULL;
    if (obj.bits == 0 || (obj.bits & 7))
        why = obj.bits ? "misaligned reference" : "null reference";
    else if (h->checked)
        why = tt__object_problem(h, obj.bits);
    if (!why && !tt__is_foreign(obj.bits)) why = "not a foreign object";
    if (why) {
        if (h->checked)
            *code = tt__misuse(h, TT_EINVAL, "not-foreign", file, line, "%s on %p: %s", fname,
                               (void *)obj.bits, why);
        else
            *code = tt__fail(TT_EINVAL, file, line, "%s on %p: %s", fname, (void *)obj.bits, why);
        return NULL;
    }
    struct tt__foreign *fp = (struct tt__foreign *)obj.bits;
    if (live && (tt__foreign_state(fp) & TT__FOREIGN_RELEASED)) {
        if (h->checked)
            *code = tt__misuse(h, TT_ESTATE, "foreign-after-release", file, line,
                               "%s on a foreign object that was already released", fname);
        else
            *code = tt__fail(TT_ESTATE, file, line, "%s: the foreign object was released", fname);
        return NULL;
    }
    return fp;
}

void *tt_foreign_allocate_at(tt_thread *t, tt_ref obj, size_t external_bytes,
                             void *(*alloc)(void *ctx), void *ctx, tt_cleanup_fn dealloc, void *env,
                             const char *file, int line)
{
    TT__LOCKED_T(t);
    int code;
    struct tt__foreign *fp = foreign_arg(t, obj, true, "tt_foreign_allocate", file, line, &code);
    if (!fp) return NULL;
    tt_heap *h = t->heap;
    if (!alloc) {
        tt__fail(TT_EINVAL, file, line, "tt_foreign_allocate: null allocator");
        return NULL;
    }
    uint32_t id;
    if (external_bytes > fp->ext &&
        make_room(t, external_bytes - fp->ext, "tt_foreign_allocate", file, line) != TT_OK)
        return NULL;
    if (intern_or_fail(h, dealloc, &id, "tt_foreign_allocate", file, line) != TT_OK) return NULL;
    if (tt__cleanup_reserve(h, 1) != TT_OK) {
        tt__fail(TT_ENOMEM, file, line, "tt_foreign_allocate: out of memory for the cleanup log");
        return NULL;
    }
    /* A cleanup point may have released it meanwhile; and once its base
     * is claimed (its release is under way) it takes no new memory. */
    if (tt__foreign_state(fp) & (TT__FOREIGN_RELEASED | TT__FOREIGN_CLAIMED)) {
        tt__fail(TT_ESTATE, file, line, "tt_foreign_allocate: the foreign object was released");
        return NULL;
    }
    tt__foreign_unfast(fp); /* its base may be replaced below */
    void *p = alloc(ctx);
    if (!p) {
        tt__fail(TT_ENOMEM, file, line, "tt_foreign_allocate: the allocator returned NULL");
        return NULL;
    }
    /* Replace the newest deallocation in place (it keeps its place in the
     * shutdown order and its base flag), or push a new one. */
    /* With no allocator registration, the base entry (tt_foreign_new's
     * cleanup, which owns the address) is the deallocation replaced. */
    uint32_t cur = tt__cleanup_head(h, obj.bits), base = 0;
    while (cur && !(h->ce[cur - 1].w & TT__CE_DEALLOC)) {
        if (h->ce[cur - 1].w & TT__CE_BASE) base = cur;
        cur = tt__cleanup_older(h, cur - 1);
    }
    if (!cur && base) {
        cur = base;
        h->ce[cur - 1].w |= TT__CE_DEALLOC;
    }
    if (cur) {
        h->ce[cur - 1].w = tt__ce_with_fn(h->ce[cur - 1].w, id);
        h->ce[cur - 1].env = env;
    } else {
        (void)tt__cleanup_add(h, obj.bits, id, TT__CE_DEALLOC, env, file, line);
    }
    bool tabled = (tt__foreign_state(fp) & TT__FOREIGN_IN_WTABLE) && fp->addr != p;
    if (tabled) tt__wtables_drop(h, obj.bits, fp->addr);
    __atomic_store_n(&fp->addr, p, __ATOMIC_RELEASE);
    if (external_bytes >= fp->ext) {
        add_external(h, fp, external_bytes - fp->ext);
    } else {
        h->ext_live -= fp->ext - external_bytes;
        fp->ext = external_bytes;
    }
    return p;
}

/* Unchecked, a live foreign object's address is read without the heap
 * lock: bindings read it on every call into the foreign code. The object
 * cannot be freed meanwhile (the caller holds it, so no collection frees
 * it) and the address and state are stored atomically. Release stores the
 * state before nulling the address, so a non-null address read before an
 * unreleased state is the object's current one. Anything else (checked
 * mode, errors, a released or null address) takes the locked path, which
 * reports. */
static struct tt__foreign *foreign_unlocked(tt_thread *t, tt_ref obj)
{
    if (!t || t->f.sig != TT__THREAD_SIG || t->f.checked || obj.bits == 0 || (obj.bits & 7))
        return NULL;
    /* The header's low bits change under the lock (set_head stores them
     * atomically); the type bits never change while obj lives. */
    uintptr_t hdr = __atomic_load_n((uintptr_t *)obj.bits - 1, __ATOMIC_RELAXED);
    if ((const tt_type *)(hdr & ~(uintptr_t)7) != &tt_foreign_type) return NULL;
    return (struct tt__foreign *)obj.bits;
}

static void *foreign_addr_unlocked(tt_thread *t, tt_ref obj)
{
    struct tt__foreign *fp = foreign_unlocked(t, obj);
    if (!fp) return NULL;
    void *addr = __atomic_load_n(&fp->addr, __ATOMIC_ACQUIRE);
    if (__atomic_load_n(&fp->state, __ATOMIC_ACQUIRE) & TT__FOREIGN_RELEASED) return NULL;
    return addr;
}

/* Whether the FAST object fp (state s) was made with fn and env: its
 * payload says, without the lock (fns never moves under a reader). */
static bool fast_base_is(tt_thread *t, const struct tt__foreign *fp, uint32_t s, tt_cleanup_fn fn,
                         const void *env)
{
    uint32_t id = s >> TT__FOREIGN_FN_SHIFT;
    return (s & (TT__FOREIGN_FAST | TT__FOREIGN_CLAIMED)) == TT__FOREIGN_FAST && fn &&
           id >= TT__FN_USER && __atomic_load_n(&t->heap->fns, __ATOMIC_ACQUIRE)[id] == fn &&
           fp->base_env == env;
}

/* Whether obj's base entry in the log is fn with env. Lock held. */
static bool logged_base_is(tt_heap *h, tt_ref obj, tt_cleanup_fn fn, const void *env)
{
    /* The base is the oldest entry carrying TT__CE_BASE; an object with a
     * single registration has it as its head. */
    uint32_t cur = tt__cleanup_head(h, obj.bits), id;
    while (cur && !(h->ce[cur - 1].w & TT__CE_BASE)) cur = tt__cleanup_older(h, cur - 1);
    return cur && fn && tt__cleanup_find(h, fn, &id) && tt__ce_fn(h->ce[cur - 1].w) == id &&
           h->ce[cur - 1].env == env;
}

/* Claim the base of the FAST object fp, read as state s, and run it; false
 * (nothing done) if the claim fails. */
static bool release_claimed(tt_thread *t, tt_ref obj, struct tt__foreign *fp, uint32_t s)
{
    /* Claiming the base is the whole synchronisation: the log is not
     * touched (its entry, now stale, is purged by the next collection),
     * nor are the heap's counts (FAST means no external bytes and no
     * wrapper table). Whoever else would run the base, under the lock,
     * claims it first and finds it taken. */
    if ((s & (TT__FOREIGN_FAST | TT__FOREIGN_CLAIMED)) != TT__FOREIGN_FAST ||
        !__atomic_compare_exchange_n(&fp->state, &s,
                                     (s | TT__FOREIGN_CLAIMED) & ~(uint32_t)TT__FOREIGN_FAST, false,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return false;
    /* Counted now, not after the call: a collection inside it may purge
     * the entry already, and the stats subtract purged from released. */
    __atomic_store_n(&t->released_fast, t->released_fast + 1, __ATOMIC_RELAXED);
    uint32_t id = s >> TT__FOREIGN_FN_SHIFT;
    if (id != TT__FN_NONE) {
        tt_heap *h = t->heap;
        tt_cleanup_fn fn = __atomic_load_n(&h->fns, __ATOMIC_ACQUIRE)[id];
        /* Pinned for the call (which may collect; the caller need not
         * root obj, and it is written after), and the depth keeps
         * queue-running contexts out of it. */
        struct tt__pin pin = {obj.bits, t->pins};
        t->pins = &pin;
        t->cleanup_depth++;
        fn(t, obj, fp->base_env);
        t->cleanup_depth--;
        t->pins = pin.prev;
    }
    /* A store, not a read-modify-write: the claim made the state ours.
     * What another thread may set meanwhile is harmless to overwrite: a
     * wrapper table's flag (a release under way leaves no table; phase 3
     * drops the entry when the object dies). */
    __atomic_store_n(&fp->state, (s | TT__FOREIGN_CLAIMED | TT__FOREIGN_RELEASED) & ~(uint32_t)TT__FOREIGN_FAST,
                     __ATOMIC_RELEASE);
    __atomic_store_n(&fp->addr, NULL, __ATOMIC_RELEASE);
    return true;
}

bool tt__foreign_release_fast(tt_thread *t, tt_ref obj)
{
    struct tt__foreign *fp = foreign_unlocked(t, obj);
    return fp && release_claimed(t, obj, fp, tt__foreign_state(fp));
}

static TT__SLOW_PATH int release_if_locked(tt_thread *t, tt_ref obj, tt_cleanup_fn fn,
                                           const void *env, const char *file, int line)
{
    {
        TT__LOCKED_T(t);
        int code;
        struct tt__foreign *fp = foreign_arg(t, obj, false, "tt_release_if", file, line, &code);
        if (!fp) return code;
        /* Released: tt_release below says so, as for any release. */
        if (!(tt__foreign_state(fp) & TT__FOREIGN_RELEASED) && !logged_base_is(t->heap, obj, fn, env))
            /* Not a misuse even in checked mode, as tt_foreign_addr_if. */
            return tt__fail(TT_ETYPE, file, line,
                            "tt_release_if: the foreign object was not made with this cleanup and env");
    }
    return tt_release_at(t, obj, file, line);
}

int tt_release_if_at(tt_thread *t, tt_ref obj, tt_cleanup_fn fn, const void *env,
                     const char *file, int line)
{
    struct tt__foreign *fast = foreign_unlocked(t, obj);
    if (fast) {
        uint32_t s = tt__foreign_state(fast);
        if (fast_base_is(t, fast, s, fn, env) && release_claimed(t, obj, fast, s)) return TT_OK;
    }
    return release_if_locked(t, obj, fn, env, file, line);
}

static TT__SLOW_PATH void *foreign_addr_locked(tt_thread *t, tt_ref obj, const char *file, int line)
{
    TT__LOCKED_T(t);
    int code;
    struct tt__foreign *fp = foreign_arg(t, obj, true, "tt_foreign_addr", file, line, &code);
    return fp ? fp->addr : NULL;
}

void *tt_foreign_addr_at(tt_thread *t, tt_ref obj, const char *file, int line)
{
    void *fast = foreign_addr_unlocked(t, obj);
    if (fast) return fast;
    return foreign_addr_locked(t, obj, file, line);
}

static void *addr_if_locked(tt_thread *t, tt_ref obj, tt_cleanup_fn fn, const void *env,
                            const char *file, int line);

void *tt_foreign_addr_if_at(tt_thread *t, tt_ref obj, tt_cleanup_fn fn, const void *env,
                            const char *file, int line)
{
    /* A FAST object carries its base in its payload: no lock, as
     * tt_foreign_addr. */
    struct tt__foreign *fast = foreign_unlocked(t, obj);
    if (fast) {
        void *addr = __atomic_load_n(&fast->addr, __ATOMIC_ACQUIRE);
        if (addr && fast_base_is(t, fast, tt__foreign_state(fast), fn, env)) return addr;
    }
    return addr_if_locked(t, obj, fn, env, file, line);
}

static TT__SLOW_PATH void *addr_if_locked(tt_thread *t, tt_ref obj, tt_cleanup_fn fn,
                                          const void *env, const char *file, int line)
{
    TT__LOCKED_T(t);
    int code;
    struct tt__foreign *fp = foreign_arg(t, obj, true, "tt_foreign_addr_if", file, line, &code);
    if (!fp) return NULL;
    if (logged_base_is(t->heap, obj, fn, env)) return fp->addr;
    /* Not a misuse even in checked mode: telling objects apart is what
     * the call is for. */
    tt__fail(TT_ETYPE, file, line,
             "tt_foreign_addr_if: the foreign object was not made with this cleanup and env");
    return NULL;
}

size_t tt_foreign_size_at(tt_thread *t, tt_ref obj, const char *file, int line)
{
    TT__LOCKED_T(t);
    int code;
    struct tt__foreign *fp = foreign_arg(t, obj, false, "tt_foreign_size", file, line, &code);
    return fp ? fp->ext : 0;
}

int tt_foreign_released_at(tt_thread *t, tt_ref obj, const char *file, int line)
{
    /* Unchecked, without the lock, as tt_foreign_addr. */
    struct tt__foreign *fast = foreign_unlocked(t, obj);
    if (fast) return (__atomic_load_n(&fast->state, __ATOMIC_ACQUIRE) & TT__FOREIGN_RELEASED) != 0;
    TT__LOCKED_T(t);
    int code;
    struct tt__foreign *fp = foreign_arg(t, obj, false, "tt_foreign_released", file, line, &code);
    return fp ? (tt__foreign_state(fp) & TT__FOREIGN_RELEASED) != 0 : 0;
}

int tt_external_adjust_at(tt_thread *t, tt_ref obj, ptrdiff_t delta, const char *file, int line)
{
    TT__LOCKED_T(t);
    int code;
    struct tt__foreign *fp = foreign_arg(t, obj, true, "tt_external_adjust", file, line, &code);
    if (!fp) return code;
    tt_heap *h = t->heap;
    if (delta < 0) {
        size_t less = (size_t)0 - (size_t)delta;
        if (less > fp->ext)
            return tt__fail(TT_ERANGE, file, line,
                            "tt_external_adjust: %td would take %zu external bytes below zero",
                            delta, fp->ext);
        fp->ext -= less;
        h->ext_live -= less;
        return TT_OK;
    }
    if ((code = make_room(t, (size_t)delta, "tt_external_adjust", file, line)) != TT_OK)
        return code;
    /* Claimed: its release is under way and would not give the bytes back. */
    if (tt__foreign_state(fp) & (TT__FOREIGN_RELEASED | TT__FOREIGN_CLAIMED))
        return tt__fail(TT_ESTATE, file, line, "tt_external_adjust: the object was released");
    add_external(h, fp, (size_t)delta);
    return TT_OK;
}
