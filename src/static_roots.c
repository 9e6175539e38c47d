/*
 * static_roots.c: the objects of static entries, one per heap and entry.
 *
 * A TT_STATIC_KIND_OBJECT entry names a heap object, but the table is
 * process-wide and objects belong to heaps; so each heap builds its own
 * copy the first time tt_static_object asks for it, and keeps it as a
 * root. A record remembers the entry by key and serial rather than by
 * pointer: an entry is static data of a shared library, and after dlclose
 * its memory may be gone. At every collection each record is checked
 * against the table; one whose entry was unregistered (or replaced) is
 * dropped, so its object becomes garbage like any other.
 *
 * Records: `sroots` (an array; a dropped record has serial 0) and
 * `sroot_ix` (serial -> index + 1). A record with obj 0 is a build in
 * progress: asking for the same object again during its build is a cycle.
 */
#include <stdlib.h>

#include <sched.h>

#include "internal.h"

static bool still_registered(const struct tt__sroot *r)
{
    const tt_static *e = tt__static_find(r->key);
    return e && tt__static_serial(e) == r->serial;
}

static void compact(tt_heap *h)
{
    size_t j = 0;
    tt__u64map_clear(&h->sroot_ix);
    for (size_t i = 0; i < h->nsroots; i++) {
        if (!h->sroots[i].serial) continue;
        h->sroots[j] = h->sroots[i];
        j++;
        /* Cannot fail: the map held at least as many entries before. */
        tt__u64map_put(&h->sroot_ix, h->sroots[j - 1].serial, j);
    }
    h->nsroots = j;
    h->sroots_dead = 0;
}

static void drop(tt_heap *h, size_t i)
{
    tt__u64map_remove(&h->sroot_ix, h->sroots[i].serial);
    if (h->sroots[i].obj) h->st.static_objects--;
    h->sroots[i].serial = 0;
    h->sroots[i].obj = 0;
    h->sroots_dead++;
}

void tt__static_roots_mark(tt_heap *h)
{
    for (size_t i = 0; i < h->nsroots; i++) {
        struct tt__sroot *r = &h->sroots[i];
        if (!r->serial || !r->obj) continue;
        if (still_registered(r))
            tt__mark_root(h, r->obj);
        else
            drop(h, i);
    }
    if (h->sroots_dead > 16 && h->sroots_dead * 2 > h->nsroots) compact(h);
}

/* The objects that are roots now: those whose entry is still registered
 * (an object whose entry went is dropped at the next collection, and its
 * type may have gone with a library). */
void tt__static_roots_each(tt_heap *h, void (*fn)(void *ctx, tt_ref r), void *ctx)
{
    for (size_t i = 0; i < h->nsroots; i++)
        if (h->sroots[i].serial && h->sroots[i].obj && still_registered(&h->sroots[i]))
            fn(ctx, (tt_ref){h->sroots[i].obj});
}

void tt__static_roots_finish(tt_heap *h)
{
    free(h->sroots);
    h->sroots = NULL;
    h->nsroots = h->sroots_cap = h->sroots_dead = 0;
    tt__u64map_free(&h->sroot_ix);
}

static int add_record(tt_heap *h, const tt_static *e, uint64_t serial, size_t *index)
{
    if (h->nsroots == h->sroots_cap) {
        size_t cap = h->sroots_cap ? h->sroots_cap * 2 : 16;
        struct tt__sroot *n = realloc(h->sroots, cap * sizeof *n);
        if (!n) return TT_ENOMEM;
        h->sroots = n;
        h->sroots_cap = cap;
    }
    if (tt__u64map_put(&h->sroot_ix, serial, h->nsroots + 1) != 0) return TT_ENOMEM;
    *index = h->nsroots;
    h->sroots[h->nsroots++] = (struct tt__sroot){tt_static_key_of(e), serial, 0, NULL};
    return TT_OK;
}

tt_ref tt_static_object_at(tt_thread *t, const tt_static *e, const char *file, int line)
{
    TT__LOCKED_T(t);
    int code;
    tt_heap *h = tt__enter(t, file, line, &code);
    if (!h) return TT_NULL;
    if (!e || e->sig != TT_STATIC_SIG || e->kind != TT_STATIC_KIND_OBJECT) {
        tt__fail(TT_EINVAL, file, line, "tt_static_object: not an object entry");
        return TT_NULL;
    }
    uint64_t serial = tt__static_serial(e);
    if (!serial) {
        tt__fail(TT_ENOTFOUND, file, line, "tt_static_object: static entry %s.%s.%s is not registered",
                 e->ns, e->module, e->name);
        return TT_NULL;
    }
    uint64_t ix;
    while (tt__u64map_get(&h->sroot_ix, serial, &ix)) {
        uintptr_t obj = h->sroots[ix - 1].obj;
        if (TT_LIKELY(obj)) return (tt_ref){obj};
        if (h->sroots[ix - 1].builder != t) {
            /* Another thread is building it: wait for its result, as a
             * safepoint, so that its build can collect. */
            TT__USER(h, tt__safepoint(t); sched_yield());
            if (tt__static_serial(e) != serial) {
                tt__fail(TT_ENOTFOUND, file, line,
                         "tt_static_object: static entry %s.%s.%s was unregistered while built",
                         e->ns, e->module, e->name);
                return TT_NULL;
            }
            continue;
        }
        tt__fail(TT_ESTATE, file, line,
                 "tt_static_object: the object of %s.%s.%s is asked for while it is being built "
                 "(a cycle of build functions)",
                 e->ns, e->module, e->name);
        return TT_NULL;
    }
    size_t i;
    if (add_record(h, e, serial, &i) != TT_OK) {
        tt__fail(TT_ENOMEM, file, line, "tt_static_object: out of memory for the heap's record");
        return TT_NULL;
    }
    /* Cleared so that a build failing silently can be told apart; put
     * back if the build succeeds, so a successful call changes nothing. */
    tt_error saved = *tt_last_error();
    tt_clear_error();
    h->sroots[i].builder = t;
    tt_ref obj;
    TT__USER(h, obj = e->build(t, e));
    /* The build may have added records (and moved the array): find ours
     * again by its serial. */
    if (!tt__u64map_get(&h->sroot_ix, serial, &ix)) return TT_NULL; /* cannot happen */
    i = (size_t)ix - 1;
    if (tt_is_null(obj)) {
        drop(h, i);
        if (tt_last_error()->code == TT_OK)
            tt__fail(TT_EINVAL, file, line, "tt_static_object: build function of %s.%s.%s returned TT_NULL",
                     e->ns, e->module, e->name);
        return TT_NULL;
    }
    const char *why = h->checked ? tt__object_problem(h, obj.bits) : NULL;
    if (why) {
        drop(h, i);
        tt__misuse(h, TT_EINVAL, "bad-static-object", file, line,
                   "build function of %s.%s.%s returned %p: %s", e->ns, e->module, e->name,
                   tt_ptr(obj), why);
        return TT_NULL;
    }
    h->sroots[i].obj = obj.bits;
    h->st.static_objects++;
    tt__error_restore(&saved);
    return obj;
}
