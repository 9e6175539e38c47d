/*
 * handles.c: global and weak references.
 *
 * Both live in a table of slots grouped in segments of 1024, so a slot
 * never moves once made. A slot's generation is odd while in use and even
 * while free; a handle carries the index and the generation it was made
 * with, so a freed or reused handle no longer matches its slot. Freed
 * slots go on a LIFO free list. Global slots are roots; weak slots are
 * cleared by the collector when their target dies.
 */
#include "internal.h"

static struct tt__hslot *slot_at(const struct tt__htable *tb, uint32_t idx)
{
    return &tb->segs[idx >> TT__HSEG_SHIFT][idx & (TT__HSEG_SLOTS - 1)];
}

static int add_segment(tt_heap *h, struct tt__htable *tb)
{
    if (tb->nsegs == tb->segs_cap) {
        uint32_t cap = tb->segs_cap ? tb->segs_cap * 2 : 16;
        if (cap > (UINT32_MAX >> TT__HSEG_SHIFT)) return TT_ENOMEM;
        struct tt__hslot **segs = tt__pages_grow(h, tb->segs, tb->segs_cap * sizeof *segs,
                                                 cap * sizeof *segs);
        if (!segs) return TT_ENOMEM;
        tb->segs = segs;
        tb->segs_cap = cap;
    }
    struct tt__hslot *seg = tt__pages_reserve(h, TT__HSEG_SLOTS * sizeof *seg, TT__PAGE);
    if (!seg) return TT_ENOMEM;
    uint32_t base = tb->nsegs << TT__HSEG_SHIFT;
    /* Thread the new slots onto the free list in index order. */
    for (uint32_t i = 0; i < TT__HSEG_SLOTS; i++)
        seg[i].next_free = i + 1 < TT__HSEG_SLOTS ? base + i + 2 : tb->free_head;
    tb->segs[tb->nsegs++] = seg;
    tb->free_head = base + 1;
    return TT_OK;
}

void tt__htable_finish(tt_heap *h, struct tt__htable *tb)
{
    for (uint32_t i = 0; i < tb->nsegs; i++)
        tt__pages_release(h, tb->segs[i], TT__HSEG_SLOTS * sizeof(struct tt__hslot));
    tt__pages_release(h, tb->segs, tb->segs_cap * sizeof(struct tt__hslot *));
    memset(tb, 0, sizeof *tb);
}

void tt__htable_each(struct tt__htable *tb, void (*fn)(tt_heap *, struct tt__hslot *), tt_heap *h)
{
    for (uint32_t s = 0; s < tb->nsegs; s++) {
        struct tt__hslot *seg = tb->segs[s];
        for (uint32_t i = 0; i < TT__HSEG_SLOTS; i++)
            if (seg[i].gen & 1) fn(h, &seg[i]);
    }
}

/* The slot a handle names if it is in use with the handle's generation. */
static struct tt__hslot *lookup(const struct tt__htable *tb, uint64_t bits)
{
    uint32_t idx1 = (uint32_t)bits;
    if (idx1 == 0 || idx1 - 1 >= (tb->nsegs << TT__HSEG_SHIFT)) return NULL;
    struct tt__hslot *s = slot_at(tb, idx1 - 1);
    return s->gen == (uint32_t)(bits >> 32) && (s->gen & 1) ? s : NULL;
}

struct kind {
    const char *name;   /* "global" or "weak" */
    const char *after;  /* misuse names */
    const char *twice;
};
static const struct kind GLOBAL = {"global", "global-after-free", "global-double-free"};
static const struct kind WEAK = {"weak", "weak-after-free", "weak-double-free"};

static uint64_t handle_new(tt_thread *t, struct tt__htable *tb, const struct kind *k, tt_ref r,
                           const char *file, int line)
{
    int code;
    tt_heap *h = tt__enter(t, file, line, &code);
    if (!h) return 0;
    if (h->checked && r.bits) {
        const char *why = tt__object_problem(h, r.bits);
        if (why) {
            tt__misuse(h, TT_EINVAL, "handle-not-object", file, line,
                       "tt_%s_new of %p, which is not a live object of this heap: %s", k->name,
                       (void *)r.bits, why);
            return 0;
        }
    }
    if (tb->free_head == 0 && add_segment(h, tb) != TT_OK) {
        tt__fail(TT_ENOMEM, file, line, "tt_%s_new: out of memory for the handle table", k->name);
        return 0;
    }
    uint32_t idx = tb->free_head - 1;
    struct tt__hslot *s = slot_at(tb, idx);
    tb->free_head = s->next_free;
    s->gen += 1;
    if (s->gen == 0) s->gen = 1; /* keep it odd across wrap-around */
    s->ref = r;
    s->file = file;
    s->line = line;
    s->cb = NULL;
    s->cb_env = NULL;
    tb->count++;
    return ((uint64_t)s->gen << 32) | (idx + 1);
}

static struct tt__hslot *handle_use(tt_thread *t, struct tt__htable *tb, const struct kind *k,
                                    uint64_t bits, bool freeing, const char *file, int line,
                                    int *code)
{
    tt_heap *h = tt__enter(t, file, line, code);
    if (!h) return NULL;
    struct tt__hslot *s = lookup(tb, bits);
    if (s) return s;
    const char *what = freeing ? k->twice : k->after;
    if (h->checked)
        *code = tt__misuse(h, TT_ESTALE, what, file, line, "%s %#llx %s", k->name,
                           (unsigned long long)bits,
                           bits == 0 ? "is the null handle"
                           : freeing ? "was freed already"
                                     : "was used after it was freed");
    else
        *code = tt__fail(TT_ESTALE, file, line, "stale %s handle %#llx", k->name,
                         (unsigned long long)bits);
    return NULL;
}

static int handle_free(tt_thread *t, struct tt__htable *tb, const struct kind *k, uint64_t bits,
                       const char *file, int line)
{
    int code;
    struct tt__hslot *s = handle_use(t, tb, k, bits, true, file, line, &code);
    if (!s) return code;
    s->gen += 1;
    s->ref = TT_NULL;
    s->cb = NULL;
    s->cb_env = NULL;
    s->next_free = tb->free_head;
    tb->free_head = (uint32_t)bits;
    tb->count--;
    return TT_OK;
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
    return s ? s->ref : TT_NULL;
}

int tt_global_set_at(tt_thread *t, tt_global g, tt_ref r, const char *file, int line)
{
    int code;
    struct tt__hslot *s = handle_use(t, t ? &t->heap->globals : NULL, &GLOBAL, g.bits, false, file,
                                     line, &code);
    if (!s) return code;
    if (t->heap->checked && r.bits) {
        const char *why = tt__object_problem(t->heap, r.bits);
        if (why)
            return tt__misuse(t->heap, TT_EINVAL, "handle-not-object", file, line,
                              "tt_global_set of %p, which is not a live object of this heap: %s",
                              (void *)r.bits, why);
    }
    s->ref = r;
    return TT_OK;
}

int tt_global_free_at(tt_thread *t, tt_global g, const char *file, int line)
{
    return handle_free(t, t ? &t->heap->globals : NULL, &GLOBAL, g.bits, file, line);
}

tt_weak tt_weak_new_at(tt_thread *t, tt_ref r, const char *file, int line)
{
    return (tt_weak){handle_new(t, t ? &t->heap->weaks : NULL, &WEAK, r, file, line)};
}

tt_ref tt_weak_get_at(tt_thread *t, tt_weak w, const char *file, int line)
{
    int code;
    struct tt__hslot *s =
        handle_use(t, t ? &t->heap->weaks : NULL, &WEAK, w.bits, false, file, line, &code);
    return s ? s->ref : TT_NULL;
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
    for (uint32_t g = 0; g < tb->nsegs; g++) {
        struct tt__hslot *seg = tb->segs[g];
        for (uint32_t i = 0; i < TT__HSEG_SLOTS; i++) {
            struct tt__hslot *s = &seg[i];
            if (!(s->gen & 1) || !s->ref.bits || tt__is_marked(s->ref.bits)) continue;
            s->ref = TT_NULL;
            /* If the queue cannot grow, the callback is lost, not run twice. */
            if (s->cb) {
                uint64_t bits = ((uint64_t)s->gen << 32) | ((g << TT__HSEG_SHIFT) + i + 1);
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
