/*
 * handles.c: global and weak references.
 *
 * Both live in a table of slots grouped in segments of 1024, so a slot
 * never moves once made. A slot's generation is odd while in use and even
 * while free; a handle carries the index and the generation it was made
 * with, so a freed or reused handle no longer matches its slot, and the
 * heap's tag, so that a handle of another heap matches none of this heap's
 * slots and is reported as such. A slot whose generation would wrap
 * around is retired instead of reused, so no stale handle ever matches. Freed
 * slots go to the freeing thread's cache, and in batches to a shared LIFO
 * free list. Global slots are roots; weak slots are cleared by the
 * collector (with the world stopped) when their target dies.
 *
 * Threads: tt_global_get/set/new/free take no lock in the common case;
 * reading a handle races only with freeing that same handle, which the
 * generation check catches. Weak references take the heap lock.
 */
#include "internal.h"

static struct tt__hslot *slot_at(const struct tt__htable *tb, uint32_t idx)
{
    return &tb->segs[idx >> TT__HSEG_SHIFT][idx & (TT__HSEG_SLOTS - 1)];
}

static uint32_t nsegs(const struct tt__htable *tb) { return __atomic_load_n(&tb->nsegs, __ATOMIC_ACQUIRE); }
static uint32_t gen_of(const struct tt__hslot *s) { return __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE); }
static tt_ref ref_of(const struct tt__hslot *s)
{
    return (tt_ref){__atomic_load_n(&s->ref.bits, __ATOMIC_RELAXED)};
}
static void set_ref(struct tt__hslot *s, tt_ref r) { __atomic_store_n(&s->ref.bits, r.bits, __ATOMIC_RELAXED); }

/* Lock held. */
static int add_segment(tt_heap *h, struct tt__htable *tb)
{
    if (!tb->segs) {
        tb->segs = tt__pages_reserve(h, TT__HSEG_MAX * sizeof *tb->segs, TT__PAGE);
        if (!tb->segs) return TT_ENOMEM;
    }
    uint32_t n = tb->nsegs;
    if (n == TT__HSEG_MAX) return TT_ENOMEM;
    struct tt__hslot *seg = tt__pages_reserve(h, TT__HSEG_SLOTS * sizeof *seg, TT__PAGE);
    if (!seg) return TT_ENOMEM;
    uint32_t base = n << TT__HSEG_SHIFT;
    /* Thread the new slots onto the free list in index order. */
    for (uint32_t i = 0; i < TT__HSEG_SLOTS; i++)
        seg[i].next_free = i + 1 < TT__HSEG_SLOTS ? base + i + 2 : tb->free_head;
    tb->segs[n] = seg;
    __atomic_store_n(&tb->nsegs, n + 1, __ATOMIC_RELEASE);
    tb->free_head = base + 1;
    return TT_OK;
}

void tt__htable_finish(tt_heap *h, struct tt__htable *tb)
{
    for (uint32_t i = 0; i < tb->nsegs; i++)
        tt__pages_release(h, tb->segs[i], TT__HSEG_SLOTS * sizeof(struct tt__hslot));
    if (tb->segs) tt__pages_release(h, tb->segs, TT__HSEG_MAX * sizeof(struct tt__hslot *));
    uint32_t kind = tb->kind, tag = tb->tag;
    memset(tb, 0, sizeof *tb);
    tb->kind = kind;
    tb->tag = tag;
}

void tt__htable_each(struct tt__htable *tb, void (*fn)(tt_heap *, struct tt__hslot *), tt_heap *h)
{
    for (uint32_t s = 0, n = nsegs(tb); s < n; s++) {
        struct tt__hslot *seg = tb->segs[s];
        for (uint32_t i = 0; i < TT__HSEG_SLOTS; i++)
            if (gen_of(&seg[i]) & 1) fn(h, &seg[i]);
    }
}

/* The slot a handle names if it has this heap's tag and its slot is in use
 * with the handle's generation. A handle of another heap (another tag)
 * leaves bits at or above TT__HTAG_SHIFT in idx, past any table; so does
 * the null handle, whose tag is 0. */
static inline struct tt__hslot *lookup(const struct tt__htable *tb, uint64_t bits)
{
    uint32_t idx = (uint32_t)bits ^ tb->tag;
    if (idx >= (nsegs(tb) << TT__HSEG_SHIFT)) return NULL;
    struct tt__hslot *s = slot_at(tb, idx);
    uint32_t g = gen_of(s);
    return g == (uint32_t)(bits >> 32) && (g & 1) ? s : NULL;
}

/* The tag in handle bits: 0 for the null handle (and for bits that no
 * heap made), else the tag of the heap that made the handle. */
static uint32_t tag_of(uint64_t bits) { return (uint32_t)bits >> TT__HTAG_SHIFT; }

struct kind {
    const char *name;   /* "global" or "weak" */
    const char *after;  /* misuse names */
    const char *twice;
    const char *other;  /* a handle of another heap */
};
static const struct kind GLOBAL = {"global", "global-after-free", "global-double-free",
                                   "global-other-heap"};
static const struct kind WEAK = {"weak", "weak-after-free", "weak-double-free", "weak-other-heap"};

/* ---- the per-thread caches of free slots ----
 *
 * A thread takes free slots from the shared free list a batch at a time,
 * and gives freed ones to its own cache, so that most tt_global_new and
 * tt_global_free calls touch no lock and no line another thread writes. */

#define BATCH (TT__HCACHE_MAX / 2)

/* Fill t's cache from the shared list; 0 or TT_ENOMEM. */
static int cache_fill(tt_thread *t, struct tt__htable *tb)
{
    tt_heap *h = t->heap;
    struct tt__hcache *c = &t->hcache[tb->kind];
    TT__LOCKED(h);
    while (c->n < BATCH) {
        if (tb->free_head == 0 && add_segment(h, tb) != TT_OK) break;
        uint32_t idx = tb->free_head - 1;
        tb->free_head = slot_at(tb, idx)->next_free;
        c->idx[c->n++] = idx;
    }
    return c->n ? TT_OK : TT_ENOMEM;
}

/* Give n slots of t's cache back to the shared list. */
static void cache_spill(tt_thread *t, struct tt__htable *tb, uint32_t n)
{
    tt_heap *h = t->heap;
    struct tt__hcache *c = &t->hcache[tb->kind];
    TT__LOCKED(h);
    while (n-- && c->n) {
        uint32_t idx = c->idx[--c->n];
        slot_at(tb, idx)->next_free = tb->free_head;
        tb->free_head = idx + 1;
    }
}

void tt__hcache_flush(tt_thread *t)
{
    tt_heap *h = t->heap;
    TT__LOCKED(h);
    cache_spill(t, &h->globals, TT__HCACHE_MAX);
    cache_spill(t, &h->weaks, TT__HCACHE_MAX);
    /* The detaching thread's count stays with the heap. */
    h->globals.count += t->hcount[0];
    h->weaks.count += t->hcount[1];
    __atomic_store_n(&t->hcount[0], 0, __ATOMIC_RELAXED);
    __atomic_store_n(&t->hcount[1], 0, __ATOMIC_RELAXED);
}

uint64_t tt__handles_in_use(tt_heap *h, unsigned kind)
{
    int64_t n = kind ? h->weaks.count : h->globals.count;
    pthread_mutex_lock(&h->world_lock);
    for (const tt_thread *o = h->threads; o; o = o->next) n += __atomic_load_n(&o->hcount[kind], __ATOMIC_RELAXED);
    pthread_mutex_unlock(&h->world_lock);
    return n > 0 ? (uint64_t)n : 0;
}

static inline __attribute__((always_inline)) uint64_t handle_new(tt_thread *t,
                                                                 struct tt__htable *tb,
                                                                 const struct kind *k, tt_ref r,
                                                                 const char *file, int line)
{
    int code;
    tt_heap *h = tt__enter(t, file, line, &code);
    if (!h) return 0;
    if (h->checked && r.bits) {
        const char *why = tt__object_problem_t(t, r.bits);
        if (why) {
            tt__misuse(h, TT_EINVAL, "handle-not-object", file, line,
                       "tt_%s_new of %p, which is not a live object of this heap: %s", k->name,
                       (void *)r.bits, why);
            return 0;
        }
        /* A weak reference keeps nothing alive: only globals resurrect. */
        if (k == &GLOBAL && tt__check_resurrect(t, r, "tt_global_new", file, line) != TT_OK) return 0;
    }
    struct tt__hcache *c = &t->hcache[tb->kind];
    if (c->n == 0 && cache_fill(t, tb) != TT_OK) {
        tt__fail(TT_ENOMEM, file, line, "tt_%s_new: out of memory for the handle table", k->name);
        return 0;
    }
    uint32_t idx = c->idx[--c->n];
    struct tt__hslot *s = slot_at(tb, idx);
    uint32_t gen = s->gen + 1;
    if (gen == 0) gen = 1; /* keep it odd across wrap-around */
    set_ref(s, r);
    s->file = file;
    s->line = line;
    s->cb = NULL;
    s->cb_env = NULL;
    __atomic_store_n(&s->gen, gen, __ATOMIC_RELEASE);
    /* Counted per thread: a shared counter would make every new and free
     * contend for one line. */
    __atomic_store_n(&t->hcount[tb->kind], t->hcount[tb->kind] + 1, __ATOMIC_RELAXED);
    return ((uint64_t)gen << 32) | tb->tag | idx;
}

/* Why bits names no slot in use of tb: report it (cold). */
static __attribute__((noinline, cold)) int stale_handle(tt_heap *h, const struct tt__htable *tb,
                                                       const struct kind *k, uint64_t bits,
                                                       bool freeing, const char *file, int line)
{
    uint32_t tag = tag_of(bits);
    if (tag != 0 && tag << TT__HTAG_SHIFT != tb->tag) {
        if (h->checked)
            return tt__misuse(h, TT_ESTALE, k->other, file, line,
                              "%s %#llx was made by another heap (its tag is %u, this heap's "
                              "%u): a handle is used only through threads of its own heap",
                              k->name, (unsigned long long)bits, tag, tb->tag >> TT__HTAG_SHIFT);
        return tt__fail(TT_ESTALE, file, line, "%s handle %#llx of another heap", k->name,
                        (unsigned long long)bits);
    }
    const char *what = freeing ? k->twice : k->after;
    if (h->checked)
        return tt__misuse(h, TT_ESTALE, what, file, line, "%s %#llx %s", k->name,
                          (unsigned long long)bits,
                          bits == 0 ? "is the null handle"
                          : freeing ? "was freed already"
                                    : "was used after it was freed");
    return tt__fail(TT_ESTALE, file, line, "stale %s handle %#llx", k->name,
                    (unsigned long long)bits);
}

/* The slot in use that bits names, or NULL with the misuse reported.
 * Inline in every handle call: a handle's whole cost is a few loads. */
static inline __attribute__((always_inline)) struct tt__hslot *
handle_use(tt_thread *t, struct tt__htable *tb, const struct kind *k, uint64_t bits, bool freeing,
           const char *file, int line, int *code)
{
    tt_heap *h = tt__enter(t, file, line, code);
    if (!h) return NULL;
    struct tt__hslot *s = lookup(tb, bits);
    if (TT_LIKELY(s != NULL)) return s;
    *code = stale_handle(h, tb, k, bits, freeing, file, line);
    return NULL;
}

/* Free the slot s that handle_use found for bits. */
static inline __attribute__((always_inline)) int free_slot(tt_thread *t, struct tt__htable *tb,
                                                          const struct kind *k, uint64_t bits,
                                                          struct tt__hslot *s, const char *file,
                                                          int line)
{
    int code;
    /* Of two threads freeing the same handle at once, one wins the slot;
     * the other reports the double free. */
    uint32_t gen = (uint32_t)(bits >> 32);
    if (!__atomic_compare_exchange_n(&s->gen, &gen, gen + 1, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        s = handle_use(t, tb, k, bits, true, file, line, &code);
        return code;
    }
    set_ref(s, TT_NULL);
    __atomic_store_n(&s->cb, NULL, __ATOMIC_RELAXED);
    __atomic_store_n(&t->hcount[tb->kind], t->hcount[tb->kind] - 1, __ATOMIC_RELAXED);
    /* Its generation wrapped around to 0: reused, the slot would match
     * handles freed 2^31 uses ago. Retired instead (one slot lost every
     * 2^31 uses of it). */
    if (gen + 1 == 0) return TT_OK;
    struct tt__hcache *c = &t->hcache[tb->kind];
    if (c->n == TT__HCACHE_MAX) cache_spill(t, tb, BATCH);
    c->idx[c->n++] = (uint32_t)bits ^ tb->tag;
    return TT_OK;
}

static inline __attribute__((always_inline)) int handle_free(tt_thread *t,
                                                            struct tt__htable *tb,
                                                            const struct kind *k, uint64_t bits,
                                                            const char *file, int line)
{
    int code;
    struct tt__hslot *s = handle_use(t, tb, k, bits, true, file, line, &code);
    if (!s) return code;
    /* A weak reference with a callback is shared with the context that
     * takes its callback from the pending queue (tt__weak_take_callback,
     * under the heap lock), so it is freed under the lock. No other handle
     * is: only tt_weak_new_cb sets a callback, under the lock, before it
     * returns the handle, so a slot read here without one cannot gain one,
     * and the collector reads callbacks only while this thread is stopped. */
    if (__atomic_load_n(&s->cb, __ATOMIC_RELAXED)) {
        TT__LOCKED_T(t);
        return free_slot(t, tb, k, bits, s, file, line);
    }
    return free_slot(t, tb, k, bits, s, file, line);
}

tt_global tt_global_new_at(tt_thread *t, tt_ref r, const char *file, int line)
{
    return (tt_global){handle_new(t, t ? &t->heap->globals : NULL, &GLOBAL, r, file, line)};
}

tt_ref tt_global_get_at(tt_thread *t, tt_global g, const char *file, int line)
{
    int code;
    struct tt__hslot *s = handle_use(t, t ? &t->heap->globals : NULL, &GLOBAL, g.bits, false, file,
                                     line, &code);
    return s ? ref_of(s) : TT_NULL;
}

int tt_global_set_at(tt_thread *t, tt_global g, tt_ref r, const char *file, int line)
{
    int code;
    struct tt__hslot *s = handle_use(t, t ? &t->heap->globals : NULL, &GLOBAL, g.bits, false, file,
                                     line, &code);
    if (!s) return code;
    if (t->heap->checked && r.bits) {
        const char *why = tt__object_problem_t(t, r.bits);
        if (why)
            return tt__misuse(t->heap, TT_EINVAL, "handle-not-object", file, line,
                              "tt_global_set of %p, which is not a live object of this heap: %s",
                              (void *)r.bits, why);
        if ((code = tt__check_resurrect(t, r, "tt_global_set", file, line)) != TT_OK) return code;
    }
    set_ref(s, r);
    return TT_OK;
}

int tt_global_free_at(tt_thread *t, tt_global g, const char *file, int line)
{
    return handle_free(t, t ? &t->heap->globals : NULL, &GLOBAL, g.bits, file, line);
}

/* Weak references go the globals' way (per-thread caches of free slots,
 * no lock), but for their callbacks: tt_weak_new_cb sets one under the
 * heap lock, and one with a callback is freed under it (handle_free),
 * since the context that runs the pending queue takes callbacks under it. */
tt_weak tt_weak_new_at(tt_thread *t, tt_ref r, const char *file, int line)
{
    return (tt_weak){handle_new(t, t ? &t->heap->weaks : NULL, &WEAK, r, file, line)};
}

tt_ref tt_weak_get_at(tt_thread *t, tt_weak w, const char *file, int line)
{
    int code;
    struct tt__hslot *s =
        handle_use(t, t ? &t->heap->weaks : NULL, &WEAK, w.bits, false, file, line, &code);
    return s ? ref_of(s) : TT_NULL;
}

int tt_weak_free_at(tt_thread *t, tt_weak w, const char *file, int line)
{
    return handle_free(t, t ? &t->heap->weaks : NULL, &WEAK, w.bits, file, line);
}

tt_weak tt_weak_new_cb_at(tt_thread *t, tt_ref r, tt_weak_fn fn, void *env, const char *file,
                          int line)
{
    if (!fn) {
        tt__fail(TT_EINVAL, file, line, "tt_weak_new_cb: null callback");
        return (tt_weak){0};
    }
    TT__LOCKED_T(t);
    tt_weak w = tt_weak_new_at(t, r, file, line);
    if (w.bits) {
        struct tt__hslot *s = lookup(&t->heap->weaks, w.bits);
        s->cb = fn;
        s->cb_env = env;
    }
    return w;
}

void tt__weaks_clear_dead(tt_heap *h)
{
    struct tt__htable *tb = &h->weaks;
    for (uint32_t g = 0, n = nsegs(tb); g < n; g++) {
        struct tt__hslot *seg = tb->segs[g];
        for (uint32_t i = 0; i < TT__HSEG_SLOTS; i++) {
            struct tt__hslot *s = &seg[i];
            if (!(s->gen & 1) || !s->ref.bits || tt__is_marked(s->ref.bits)) continue;
            set_ref(s, TT_NULL);
            /* If the queue cannot grow, the callback is lost, not run twice. */
            if (s->cb) {
                uint64_t bits = ((uint64_t)s->gen << 32) | tb->tag | ((g << TT__HSEG_SHIFT) + i);
                if (tt__queue_push(h, &h->pending, bits, TT__PEND_WEAK) != TT_OK) s->cb = NULL;
            }
        }
    }
}

bool tt__weak_take_callback(tt_heap *h, tt_weak w, tt_weak_fn *fn, void **env)
{
    struct tt__hslot *s = lookup(&h->weaks, w.bits);
    if (!s || !s->cb) return false;
    *fn = s->cb;
    *env = s->cb_env;
    s->cb = NULL;
    return true;
}
