/*
 * large.c: objects of more than 16 KiB (header included) get pages of
 * their own, preceded by a record that links them and holds their mark.
 * They are reclaimed by unmapping, so their memory goes straight back to
 * the operating system.
 */
#include "internal.h"

tt_ref tt__large_alloc(tt_thread *t, const tt_type *ty, size_t bytes, const char *file, int line)
{
    tt_heap *h = t->heap;
    size_t mapped = tt__align_up(TT__LARGE_OVERHEAD + bytes, TT__PAGE);
    if (mapped < bytes) {
        tt__fail(TT_ENOMEM, file, line, "object of %zu bytes is too large", bytes);
        return TT_NULL;
    }
    bool collected = false;
    if (h->alloc_since_gc + h->ext_since_gc + bytes >= h->threshold) {
        tt__collect(h, t);
        collected = true;
    }
    for (;;) {
        bool fits = h->cfg.max_size == 0 ||
                    (mapped <= h->cfg.max_size &&
                     tt__footprint(h) + h->ext_live <= h->cfg.max_size - mapped);
        struct tt__large *lo = fits ? tt__pages_reserve(h, mapped, TT__PAGE) : NULL;
        if (lo && tt__ptrset_add(&h->large_set, (uintptr_t)(&lo->hdr + 1)) != 0) {
            tt__pages_release(h, lo, mapped);
            lo = NULL;
        }
        if (lo) {
            lo->mapped = mapped;
            lo->bytes = bytes;
            lo->mark = 0;
            lo->hdr = (uintptr_t)ty | TT__HDR_LARGE;
            lo->prev = NULL;
            lo->next = h->large;
            if (h->large) h->large->prev = lo;
            h->large = lo;
            h->nlarge++;
            h->large_bytes += mapped;
            h->alloc_since_gc += bytes;
            h->st.bytes_allocated += bytes;
            tt__stats_footprint(h);
            lo->sig = TT__LARGE_SIG;
            return (tt_ref){(uintptr_t)(&lo->hdr + 1)};
        }
        if (!fits && tt__space_release_free(h)) continue; /* empty blocks made room */
        if (collected) {
            tt__fail(TT_ENOMEM, file, line,
                     "out of memory for an object of %zu bytes (heap at %zu, limit %zu) after a "
                     "full collection",
                     bytes, tt__footprint(h), h->cfg.max_size);
            return TT_NULL;
        }
        while (!tt__collect(h, t)) {
        }
        collected = true;
    }
}

static void unlink_free(tt_heap *h, struct tt__large *lo)
{
    if (lo->prev)
        lo->prev->next = lo->next;
    else
        h->large = lo->next;
    if (lo->next) lo->next->prev = lo->prev;
    tt__ptrset_remove(&h->large_set, (uintptr_t)(&lo->hdr + 1));
    h->nlarge--;
    h->large_bytes -= lo->mapped;
    lo->sig = 0;
    tt__pages_release(h, lo, lo->mapped);
}

void tt__large_sweep(tt_heap *h)
{
    struct tt__large *lo = h->large;
    while (lo) {
        struct tt__large *next = lo->next;
        if (lo->mark) {
            lo->mark = 0;
            h->marked_objects++;
            h->marked_bytes += lo->bytes;
        } else {
            unlink_free(h, lo);
        }
        lo = next;
    }
}

void tt__large_finish(tt_heap *h)
{
    while (h->large) unlink_free(h, h->large);
    tt__ptrset_free(&h->large_set);
}
