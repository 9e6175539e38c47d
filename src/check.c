/*
 * check.c: validating addresses and type descriptors.
 *
 * tt__object_problem decides whether an address is the payload of a live
 * object of a heap without ever faulting: it reads memory only after the
 * address is known to be inside a chunk or to be a large object of that
 * heap. In checked mode a collection erases the header word of every
 * object it finds dead, so "header is zero" means "dead or never
 * allocated", and headers are matched against the types allocated in
 * checked mode.
 */
#include <string.h>

#include "internal.h"

bool tt__type_valid(const tt_type *ty, const char **why)
{
    if (!ty) {
        *why = "a null type descriptor";
        return false;
    }
    if ((uintptr_t)ty & 7) {
        *why = "a misaligned type descriptor";
        return false;
    }
    if (ty->sig != TT_TYPE_SIG) {
        *why = "a type descriptor that was never valid (bad signature; declare it with "
               "TT_TYPE_INIT and friends)";
        return false;
    }
    switch (ty->kind) {
    case TT_KIND_FIXED:
        if (ty->nrefs && !ty->ref_offsets) {
            *why = "a fixed type with references but no offsets";
            return false;
        }
        for (uint32_t i = 0; i < ty->nrefs; i++)
            if (ty->ref_offsets[i] + sizeof(tt_ref) > ty->size || (ty->ref_offsets[i] & 7)) {
                *why = "a fixed type whose reference offsets lie outside it or are misaligned";
                return false;
            }
        return true;
    case TT_KIND_ATOMIC:
        return true;
    case TT_KIND_REF_ARRAY:
        if (ty->elem_size != sizeof(tt_ref) || ty->size < sizeof(size_t) || (ty->size & 7)) {
            *why = "a reference array type with a bad element size or prefix";
            return false;
        }
        return true;
    case TT_KIND_DATA_ARRAY:
        if (ty->elem_size == 0 || ty->size < sizeof(size_t)) {
            *why = "a data array type with no element size or no length word";
            return false;
        }
        return true;
    case TT_KIND_CUSTOM:
        if (!ty->trace) {
            *why = "a custom type with no trace function";
            return false;
        }
        if (ty->elem_size && ty->size < sizeof(size_t)) {
            *why = "a custom array type with no length word";
            return false;
        }
        return true;
    case TT__KIND_EPHEMERON:
        if (ty != &tt_ephemeron_type) {
            *why = "a type descriptor of tether's internal ephemeron kind";
            return false;
        }
        return true;
    default:
        *why = "a type descriptor of unknown kind";
        return false;
    }
}

static const char *header_problem(const tt_heap *h, uintptr_t hdr)
{
    if (hdr == 0) return "no object there (dead, freed or never allocated)";
    const tt_type *ty = (const tt_type *)(hdr & ~TT__HDR_FLAGS);
    if (h->checked) {
        if (!tt__ptrset_has(&h->types_seen, (uintptr_t)ty)) return "the header names no known type";
    } else if (((uintptr_t)ty & 7) || ty->sig != TT_TYPE_SIG) {
        return "the header names no type";
    }
    return NULL;
}

static const char *object_problem(const tt_heap *h, uintptr_t p)
{
    if (p == 0) return "it is null";
    if (p & 7) return "it is not aligned";
    if (p < 8) return "it is not an address";
    uintptr_t slot = p - 8;
    if (tt__ptrset_has(&h->chunk_set, tt__chunk_base(slot))) {
        if (((slot & TT__CHUNK_MASK) >> TT__BLOCK_SHIFT) < TT__META_BLOCKS)
            return "it points into the heap's own metadata";
        struct tt__block *b = tt__space_find_block(h, slot);
        if (!b) return "it points into an empty block";
        uintptr_t off = slot - b->start;
        if (off % b->slot_size != 0) return "it points inside an object, not at its start";
        if (off / b->slot_size >= b->nslots) return "it points past the last slot of a block";
        return header_problem(h, *(const uintptr_t *)slot);
    }
    if (tt__ptrset_has(&h->large_set, p)) return header_problem(h, ((const uintptr_t *)p)[-1]);
    return "it is not in this heap";
}

const char *tt__object_problem(const tt_heap *h, uintptr_t p)
{
    /* The space's tables change under the heap lock. */
    tt_heap *mh = (tt_heap *)h;
    TT__LOCKED(mh);
    return object_problem(h, p);
}

int tt__resurrect_report(tt_thread *t, tt_ref val, const char *what, const char *file, int line)
{
    tt_heap *h = t->heap;
    return tt__misuse(h, TT_ESTATE, "resurrection", file, line,
                      "%s of the '%s' at %p, whose cleanup (registered at %s:%d) is running: "
                      "cleanups may not resurrect their object in this heap (forbid_resurrection)",
                      what, tt_type_of(val)->name, (void *)val.bits,
                      t->dying_file ? t->dying_file : "?", t->dying_line);
}

int tt_is_object_at(tt_thread *t, tt_ref r, const char *file, int line)
{
    TT__LOCKED_T(t);
    int code;
    tt_heap *h = tt__enter(t, file, line, &code);
    return h && tt__object_problem(h, r.bits) == NULL;
}

void *tt__cast_slow(tt_thread *t, tt_ref r, const tt_type *ty, const char *file, int line)
{
    int code;
    tt_heap *h = tt__enter(t, file, line, &code);
    if (!h) return NULL;
    if (!h->checked || r.bits == 0) return (void *)r.bits;
    const char *why, *want = "(an invalid type descriptor)";
    if (tt__type_valid(ty, &why)) want = ty->name ? ty->name : "?";
    if ((why = tt__object_problem_t(t, r.bits)) != NULL) {
        tt__misuse(h, TT_EINVAL, "cast-not-object", file, line,
                   "tt_cast of %p to '%s', which is not a live object of this heap: %s",
                   (void *)r.bits, want, why);
        return NULL;
    }
    const tt_type *actual = tt_type_of(r);
    if (actual != ty) {
        tt__misuse(h, TT_ETYPE, "wrong-type", file, line, "tt_cast of a '%s' at %p to '%s'",
                   actual->name ? actual->name : "?", (void *)r.bits, want);
        return NULL;
    }
    return (void *)r.bits;
}
