/*
 * tether/alloc.h: allocation and the write barrier.
 *
 * Allocation returns zeroed memory. Small objects are bump-allocated inline
 * from the thread's buffer for their size class; everything else (a new
 * run, a new block, a collection, a large object, in checked mode whatever
 * the thread cannot prove valid inline) goes out of line. Every object
 * carries one header word (its type); arrays also hold their length in the
 * first payload word.
 *
 * A collection can run inside any allocation, so a tt_ref held only in a C
 * variable across an allocation may be reclaimed: keep it in a local
 * (roots.h) or in a field of a reachable object. Objects never move.
 */
#ifndef TETHER_ALLOC_H
#define TETHER_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "fast.h"
#include "type.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Out-of-line paths; call the macros below instead. */
TT_API tt_ref tt__alloc_slow(tt_thread *t, const tt_type *ty, size_t n, int is_array,
                             const char *file, int line);
TT_API void tt__store_checked(tt_thread *t, tt_ref obj, tt_ref *field, tt_ref val,
                              const char *file, int line);
TT_API int tt__array_set_slow(tt_thread *t, tt_ref arr, size_t i, tt_ref val, const char *file,
                              int line);
TT_API void *tt__cast_slow(tt_thread *t, tt_ref r, const tt_type *ty, const char *file, int line);

TT_INLINE tt_ref tt__bump(tt_thread *t, const tt_type *ty, uintptr_t bytes)
{
    struct tt__fast *f = (struct tt__fast *)t;
    struct tt__alloc_buf *b = &f->buf[bytes >> 3];
    uintptr_t p = b->cursor;
    if (TT_LIKELY(bytes <= b->limit - p)) {
        b->cursor = p + bytes;
        *(uintptr_t *)p = (uintptr_t)ty;
        return (tt_ref){p + sizeof(uintptr_t)};
    }
    return TT_NULL;
}

/* Checked mode's inline allocation, once tt__checked_inline holds and ty
 * is the type the out-of-line path validated last (so its fields may be
 * read): bumped as unchecked and remembered live. */
TT_INLINE tt_ref tt__bump_checked(tt_thread *t, const tt_type *ty, uintptr_t bytes)
{
    struct tt__fast *f = (struct tt__fast *)t;
    if (ty->finalize || bytes > TT__INLINE_MAX) return TT_NULL;
    tt_ref r = tt__bump(t, ty, bytes);
    f->vcache[tt__vc_index(r.bits)] = r.bits; /* null lands in its slot harmlessly */
    return r;
}

/* Allocate one zeroed object of fixed-size type ty (for an array type: an
 * empty array). Returns TT_NULL with the last error set on failure:
 * TT_ENOMEM (heap full after a full collection), TT_EINVAL (bad type; in
 * checked mode a misuse report). May collect. */
#define tt_alloc(t, ty) tt_alloc_at((t), (ty), TT_HERE)
TT_INLINE tt_ref tt_alloc_at(tt_thread *t, const tt_type *ty, const char *file, int line)
{
    struct tt__fast *f = (struct tt__fast *)t;
    uint32_t slow = tt__slow(f);
    /* The signature test costs one compare on a line the size load brings
     * in anyway, and keeps a bogus descriptor out of the heap. */
    if (TT_LIKELY(!slow && ty && ty->sig == TT_TYPE_SIG && !ty->finalize)) {
        uintptr_t bytes = ((uintptr_t)ty->size + 15) & ~(uintptr_t)7;
        if (TT_LIKELY(bytes <= TT__INLINE_MAX)) {
            tt_ref r = tt__bump(t, ty, bytes);
            if (TT_LIKELY(r.bits != 0)) return r;
        }
    } else if (ty && ty == f->vc_type && tt__checked_inline(f, slow)) {
        tt_ref r = tt__bump_checked(t, ty, ((uintptr_t)ty->size + 15) & ~(uintptr_t)7);
        if (TT_LIKELY(r.bits != 0)) return r;
    }
    return tt__alloc_slow(t, ty, 0, 0, file, line);
}

/* Allocate an array of n zeroed elements of array type ty. Returns TT_NULL
 * with the last error set on failure: TT_ENOMEM (heap full, or a size too
 * large for any address space), TT_EINVAL (not an array type). May
 * collect. */
#define tt_alloc_array(t, ty, n) tt_alloc_array_at((t), (ty), (n), TT_HERE)
TT_INLINE tt_ref tt_alloc_array_at(tt_thread *t, const tt_type *ty, size_t n,
                                   const char *file, int line)
{
    struct tt__fast *f = (struct tt__fast *)t;
    uint32_t slow = tt__slow(f);
    if (TT_LIKELY(!slow && n <= TT__INLINE_MAX && ty && ty->sig == TT_TYPE_SIG &&
                  !ty->finalize)) {
        uintptr_t bytes = ((uintptr_t)ty->size + (uintptr_t)ty->elem_size * n + 15) & ~(uintptr_t)7;
        if (TT_LIKELY(bytes <= TT__INLINE_MAX && ty->elem_size != 0)) {
            tt_ref r = tt__bump(t, ty, bytes);
            if (TT_LIKELY(r.bits != 0)) {
                *(size_t *)r.bits = n;
                return r;
            }
        }
    } else if (n <= TT__INLINE_MAX && ty && ty == f->vc_type && tt__checked_inline(f, slow) &&
               (ty->kind == TT_KIND_REF_ARRAY || ty->kind == TT_KIND_DATA_ARRAY)) {
        /* The out-of-line path has validated the type, so its array
         * prefix holds the length word. */
        tt_ref r = tt__bump_checked(
            t, ty, ((uintptr_t)ty->size + (uintptr_t)ty->elem_size * n + 15) & ~(uintptr_t)7);
        if (TT_LIKELY(r.bits != 0)) {
            *(size_t *)r.bits = n;
            return r;
        }
    }
    return tt__alloc_slow(t, ty, n, 1, file, line);
}

/* Checked mode's inline store: obj and val (unless null) known live to
 * the thread, and field a reference field of obj's type as proved by an
 * earlier out-of-line store. Anything else, misuse included, is left to
 * the out-of-line check. */
TT_INLINE int tt__store_proved(const struct tt__fast *f, uint32_t slow, tt_ref obj,
                               const tt_ref *field, tt_ref val)
{
    if (!tt__checked_inline(f, slow) || obj.bits == 0 || !tt__vc_known(f, obj.bits) ||
        (val.bits != 0 && !tt__vc_known(f, val.bits)))
        return 0;
    uintptr_t ty = ((const uintptr_t *)obj.bits)[-1] & ~(uintptr_t)7;
    uintptr_t off = (uintptr_t)field - obj.bits; /* a field before obj wraps: too big */
    const struct tt__field_cache *fc = &f->fc[tt__fc_index(ty)];
    return fc->ty == ty && (off & ~(uintptr_t)(63 * 8)) == 0 && ((fc->mask >> (off / 8)) & 1);
}

/* The write barrier: store val into the reference field *field of obj.
 * Every store of a tt_ref into a heap object must go through it (or
 * tt_array_set), so that generational and incremental collection can come
 * without changing programs. Today it is a plain store. In checked mode it
 * verifies that obj is a live object of this heap, that field lies inside
 * it, and that val is TT_NULL or a live object of this heap. */
#define tt_store(t, obj, field, val) tt_store_at((t), (obj), (field), (val), TT_HERE)
TT_INLINE void tt_store_at(tt_thread *t, tt_ref obj, tt_ref *field, tt_ref val,
                           const char *file, int line)
{
    struct tt__fast *f = (struct tt__fast *)t;
    uint32_t slow = tt__slow(f);
    if (TT_UNLIKELY(slow)) {
        if (TT_LIKELY(tt__store_proved(f, slow, obj, field, val))) *field = val;
        else tt__store_checked(t, obj, field, val, file, line);
        return;
    }
    *field = val;
}

/* Store val as element i of ref array arr through the write barrier.
 * Returns TT_OK, or TT_ERANGE if i is out of range (nothing stored). */
#define tt_array_set(t, arr, i, val) tt_array_set_at((t), (arr), (i), (val), TT_HERE)
TT_INLINE int tt_array_set_at(tt_thread *t, tt_ref arr, size_t i, tt_ref val,
                              const char *file, int line)
{
    if (TT_UNLIKELY(tt__slow((struct tt__fast *)t) || i >= tt_array_length(arr)))
        return tt__array_set_slow(t, arr, i, val, file, line);
    ((tt_ref *)tt_array_data(arr))[i] = val;
    return TT_OK;
}

/* The payload of r, for the program to use as the struct of type ty:
 * TT_CAST(t, struct node, r, &node_type). Where a binding receives a
 * reference from foreign code and expects one type, this is the place to
 * say so. Checked mode verifies that r is a live object of this heap whose
 * type is exactly ty, and reports "cast-not-object" (TT_EINVAL) or
 * "wrong-type" (TT_ETYPE, naming both types) otherwise; the result is
 * then NULL. Unchecked, it checks nothing and costs nothing more than
 * tt_ptr. TT_NULL gives NULL in every mode. */
#define tt_cast(t, r, ty) tt_cast_at((t), (r), (ty), TT_HERE)
#define TT_CAST(t, T, r, ty) ((T *)tt_cast_at((t), (r), (ty), TT_HERE))
TT_INLINE void *tt_cast_at(tt_thread *t, tt_ref r, const tt_type *ty, const char *file, int line)
{
    struct tt__fast *f = (struct tt__fast *)t;
    uint32_t slow = tt__slow(f);
    if (TT_LIKELY(!slow || r.bits == 0 ||
                  (tt__checked_inline(f, slow) && tt__vc_known(f, r.bits) && tt_type_of(r) == ty)))
        return (void *)r.bits;
    return tt__cast_slow(t, r, ty, file, line);
}

#ifdef __cplusplus
}
#endif
#endif
