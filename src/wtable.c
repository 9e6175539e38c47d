/*
 * wtable.c: wrapper tables, weak maps from a foreign address to the heap
 * object that wraps it (the canonical-wrapper cache of a binding).
 *
 * A table is a u64map from address to wrapper payload address. Entries are
 * weak: after strong marking, entries whose wrapper is unmarked are removed
 * (tt__wtables_sweep), before dead wrappers are queued for their cleanups,
 * so a wrapper about to be finalized is never handed out again. A foreign
 * wrapper remembers that it is in a table (TT__FOREIGN_IN_WTABLE), and its
 * release removes it from every table at once: a new foreign object at the
 * same address (malloc reuses addresses) never meets a stale wrapper.
 */
#include <stdlib.h>

#include "internal.h"

static tt_wtable *wtable_arg(tt_thread *t, tt_wtable *w, const char *fname, const char *file,
                             int line, int *code)
{
    tt_heap *h = tt__enter(t, file, line, code);
    if (!h) return NULL;
    if (!w || w->sig != TT__WTABLE_SIG) {
        *code = tt__misuse(h, TT_EINVAL, "bad-wtable", file, line, "%s: %p %s", fname, (void *)w,
                           w && w->sig == TT__WTABLE_DEAD ? "is a wrapper table that was freed"
                                                          : "is not a wrapper table");
        return NULL;
    }
    if (w->heap != h) {
        *code = tt__misuse(h, TT_EINVAL, "wtable-other-heap", file, line,
                           "%s: the wrapper table %p (made at %s:%d) belongs to another heap "
                           "than the calling thread's",
                           fname, (void *)w, w->file ? w->file : "?", w->line);
        return NULL;
    }
    return w;
}

tt_wtable *tt_wtable_new_at(tt_thread *t, const char *file, int line)
{
    TT__LOCKED_T(t);
    int code;
    tt_heap *h = tt__enter(t, file, line, &code);
    if (!h) return NULL;
    tt_wtable *w = calloc(1, sizeof *w);
    if (!w) {
        tt__fail(TT_ENOMEM, file, line, "tt_wtable_new: out of memory");
        return NULL;
    }
    w->file = file;
    w->line = line;
    w->heap = h;
    w->next = h->wtables;
    if (h->wtables) h->wtables->prev = w;
    h->wtables = w;
    w->sig = TT__WTABLE_SIG;
    return w;
}

tt_ref tt_wtable_get_at(tt_thread *t, tt_wtable *w, const void *addr, const char *file, int line)
{
    TT__LOCKED_T(t);
    int code;
    uint64_t v;
    if (!wtable_arg(t, w, "tt_wtable_get", file, line, &code) || !addr) return TT_NULL;
    return tt__u64map_get(&w->map, (uint64_t)(uintptr_t)addr, &v) ? (tt_ref){(uintptr_t)v}
                                                                   : TT_NULL;
}

int tt_wtable_put_at(tt_thread *t, tt_wtable *w, const void *addr, tt_ref wrapper,
                     const char *file, int line)
{
    TT__LOCKED_T(t);
    int code;
    if (!wtable_arg(t, w, "tt_wtable_put", file, line, &code)) return code;
    tt_heap *h = t->heap;
    if (!addr) return tt__fail(TT_EINVAL, file, line, "tt_wtable_put: null address");
    const char *why = wrapper.bits == 0 ? "null reference" : NULL;
    if (!why && h->checked) why = tt__object_problem(h, wrapper.bits);
    if (why) {
        if (h->checked)
            return tt__misuse(h, TT_EINVAL, "handle-not-object", file, line,
                              "tt_wtable_put of %p: %s", (void *)wrapper.bits, why);
        return tt__fail(TT_EINVAL, file, line, "tt_wtable_put: %s", why);
    }
    if (tt__is_foreign(wrapper.bits)) {
        struct tt__foreign *fp = (struct tt__foreign *)wrapper.bits;
        if (tt__foreign_state(fp) & TT__FOREIGN_RELEASED)
            return tt__fail(TT_ESTATE, file, line, "tt_wtable_put: the wrapper was released");
        /* Atomic: read unlocked. Its release must leave the table, under
         * the lock, so it is no longer FAST. */
        __atomic_or_fetch(&fp->state, TT__FOREIGN_IN_WTABLE, __ATOMIC_RELAXED);
        tt__foreign_unfast(fp);
    }
    if (tt__u64map_put(&w->map, (uint64_t)(uintptr_t)addr, wrapper.bits) != 0)
        return tt__fail(TT_ENOMEM, file, line, "tt_wtable_put: out of memory");
    return TT_OK;
}

int tt_wtable_remove_at(tt_thread *t, tt_wtable *w, const void *addr, const char *file, int line)
{
    TT__LOCKED_T(t);
    int code;
    if (!wtable_arg(t, w, "tt_wtable_remove", file, line, &code)) return code;
    if (addr && tt__u64map_remove(&w->map, (uint64_t)(uintptr_t)addr)) return TT_OK;
    return tt__fail(TT_ESTATE, file, line, "tt_wtable_remove: %p has no entry", addr);
}

tt_ref tt_wtable_wrap_at(tt_thread *t, tt_wtable *w, void *addr, size_t external_bytes,
                         tt_cleanup_fn fn, void *env, int *created, const char *file, int line)
{
    TT__LOCKED_T(t);
    int code;
    if (created) *created = 0;
    if (!wtable_arg(t, w, "tt_wtable_wrap", file, line, &code)) return TT_NULL;
    uint64_t v;
    if (addr && tt__u64map_get(&w->map, (uint64_t)(uintptr_t)addr, &v)) return (tt_ref){(uintptr_t)v};
    if (!addr) {
        tt__fail(TT_EINVAL, file, line, "tt_wtable_wrap: null address");
        return TT_NULL;
    }
    /* Room first, so that once the wrapper owns addr the entry cannot fail. */
    if (tt__u64map_reserve(&w->map, 1) != 0) {
        tt__fail(TT_ENOMEM, file, line, "tt_wtable_wrap: out of memory");
        return TT_NULL;
    }
    tt_ref r = tt_foreign_new_at(t, addr, external_bytes, fn, env, file, line);
    if (r.bits == 0) return TT_NULL;
    /* The allocation may have let other threads in: one may have wrapped
     * addr meanwhile, or used the room reserved. Then ours goes, without
     * its cleanup: addr is not ours to clean. */
    if (w->sig != TT__WTABLE_SIG || tt__u64map_get(&w->map, (uint64_t)(uintptr_t)addr, &v) ||
        tt__u64map_put(&w->map, (uint64_t)(uintptr_t)addr, r.bits) != 0) {
        tt__foreign_disown(t, r.bits);
        if (w->sig == TT__WTABLE_SIG && tt__u64map_get(&w->map, (uint64_t)(uintptr_t)addr, &v))
            return (tt_ref){(uintptr_t)v};
        tt__fail(TT_ENOMEM, file, line, "tt_wtable_wrap: out of memory (or the table was freed)");
        return TT_NULL;
    }
    struct tt__foreign *made = (struct tt__foreign *)r.bits;
    __atomic_or_fetch(&made->state, TT__FOREIGN_IN_WTABLE, __ATOMIC_RELAXED);
    tt__foreign_unfast(made);
    if (created) *created = 1;
    return r;
}

size_t tt_wtable_count_at(tt_wtable *w, const char *file, int line)
{
    if (!w) {
        tt__fail(TT_EINVAL, file, line, "tt_wtable_count: null wrapper table");
        return 0;
    }
    if (w->sig != TT__WTABLE_SIG) {
        /* A freed table is readable only in checked mode, and then so is
         * its heap, closed or not (see tt__retire). */
        if (w->sig != TT__WTABLE_DEAD)
            tt__misuse(NULL, TT_EINVAL, "bad-wtable", file, line,
                       "tt_wtable_count: %p is not a wrapper table", (void *)w);
        else if (w->heap->sig == TT__HEAP_DEAD)
            tt__misuse(w->heap, TT_ECLOSED, "heap-closed", file, line,
                       "tt_wtable_count of a wrapper table (made at %s:%d) whose heap was closed",
                       w->file ? w->file : "?", w->line);
        else
            tt__misuse(w->heap, TT_EINVAL, "bad-wtable", file, line,
                       "tt_wtable_count: %p is a wrapper table that was freed", (void *)w);
        return 0;
    }
    tt_heap *h = w->heap;
    TT__LOCKED(h);
    return w->map.count;
}

static void wtable_unlink(tt_heap *h, tt_wtable *w)
{
    w->sig = TT__WTABLE_DEAD; /* first: nothing reaches it from here on */
    if (w->prev)
        w->prev->next = w->next;
    else
        h->wtables = w->next;
    if (w->next) w->next->prev = w->prev;
    tt__u64map_free(&w->map);
    tt__retire(h, w);
}

int tt_wtable_free_at(tt_thread *t, tt_wtable *w, const char *file, int line)
{
    TT__LOCKED_T(t);
    int code;
    if (!wtable_arg(t, w, "tt_wtable_free", file, line, &code)) return code;
    wtable_unlink(t->heap, w);
    return TT_OK;
}

static bool wrapper_marked(uint64_t key, uint64_t val, void *ctx)
{
    (void)key;
    (void)ctx;
    return tt__is_marked((uintptr_t)val);
}

void tt__wtables_sweep(tt_heap *h)
{
    for (tt_wtable *w = h->wtables; w; w = w->next) tt__u64map_filter(&w->map, wrapper_marked, NULL);
}

void tt__wtables_drop(tt_heap *h, uintptr_t obj, const void *addr)
{
    uint64_t v;
    for (tt_wtable *w = h->wtables; w; w = w->next)
        if (tt__u64map_get(&w->map, (uint64_t)(uintptr_t)addr, &v) && v == obj)
            tt__u64map_remove(&w->map, (uint64_t)(uintptr_t)addr);
}

void tt__wtables_finish(tt_heap *h)
{
    while (h->wtables) wtable_unlink(h, h->wtables);
}
