/*
 * tether/type.h: object layouts.
 *
 * The collector is precise: it traces only what an object's type declares
 * to be a reference. A type is declared once, usually as a static const, and
 * must outlive every heap that holds objects of it.
 *
 *   struct pair { tt_ref left, right; long value; };
 *   static const tt_type pair_type = TT_TYPE_INIT(struct pair, left, right);
 *
 * Kinds:
 *   TT_KIND_FIXED      a struct; refs at the listed offsets
 *   TT_KIND_ATOMIC     a struct with no refs; never scanned
 *   TT_KIND_REF_ARRAY  a length word, then `length` tt_ref elements
 *   TT_KIND_DATA_ARRAY a length word, then `length` elements of elem_size
 *                      bytes holding no refs; never scanned
 *   TT_KIND_CUSTOM     any layout; the collector calls `trace`, which reports
 *                      each tt_ref field with tt_trace_field
 *
 * Arrays: the payload starts with the element count (a size_t, read with
 * tt_array_length, never written by the program), the elements start at
 * offset `size` of the payload (8 for the macros below, more for a custom
 * array type with a fixed prefix).
 */
#ifndef TETHER_TYPE_H
#define TETHER_TYPE_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    TT_KIND_FIXED = 1,
    TT_KIND_ATOMIC = 2,
    TT_KIND_REF_ARRAY = 3,
    TT_KIND_DATA_ARRAY = 4,
    TT_KIND_CUSTOM = 5
};

/* The signature word of a valid type descriptor. */
#define TT_TYPE_SIG UINT64_C(0x7474545950453031) /* "ttTYPE01" */

typedef struct tt_tracer tt_tracer;

/* Custom trace: call tt_trace_field for every tt_ref field of the object
 * whose payload is `payload`. Must not allocate or call other tether
 * functions; runs inside the collector, possibly on several marking
 * threads at once (tt_config.mark_threads), so it must only read. */
typedef void (*tt_trace_fn)(tt_tracer *tr, void *payload);

typedef struct tt_type {
    uint64_t sig;               /* TT_TYPE_SIG */
    const char *name;           /* for messages and stats */
    uint32_t kind;              /* TT_KIND_* */
    uint32_t size;              /* fixed payload bytes; arrays: offset of element 0 */
    uint32_t elem_size;         /* arrays: bytes per element; else 0 */
    uint32_t nrefs;             /* TT_KIND_FIXED: number of ref offsets */
    const uint32_t *ref_offsets; /* TT_KIND_FIXED: payload offsets of refs */
    tt_trace_fn trace;          /* TT_KIND_CUSTOM */
    /* Optional finalize hook: registered as the first cleanup of every
     * object of this type when it is allocated (tether/cleanup.h), and
     * called with env NULL. Such allocations take the out-of-line path. */
    tt_cleanup_fn finalize;
} tt_type;

/* Report one reference field to the collector from a trace callback. */
TT_API void tt_trace_field(tt_tracer *tr, tt_ref *field);

/* ------------------------------------------------------------------ */
/* One-line declarations                                                */

#define TT__OFF(T, f) (uint32_t) offsetof(T, f),
#define TT__MAP1(m, T, a) m(T, a)
#define TT__MAP2(m, T, a, ...) m(T, a) TT__MAP1(m, T, __VA_ARGS__)
#define TT__MAP3(m, T, a, ...) m(T, a) TT__MAP2(m, T, __VA_ARGS__)
#define TT__MAP4(m, T, a, ...) m(T, a) TT__MAP3(m, T, __VA_ARGS__)
#define TT__MAP5(m, T, a, ...) m(T, a) TT__MAP4(m, T, __VA_ARGS__)
#define TT__MAP6(m, T, a, ...) m(T, a) TT__MAP5(m, T, __VA_ARGS__)
#define TT__MAP7(m, T, a, ...) m(T, a) TT__MAP6(m, T, __VA_ARGS__)
#define TT__MAP8(m, T, a, ...) m(T, a) TT__MAP7(m, T, __VA_ARGS__)
#define TT__MAP9(m, T, a, ...) m(T, a) TT__MAP8(m, T, __VA_ARGS__)
#define TT__MAP10(m, T, a, ...) m(T, a) TT__MAP9(m, T, __VA_ARGS__)
#define TT__MAP11(m, T, a, ...) m(T, a) TT__MAP10(m, T, __VA_ARGS__)
#define TT__MAP12(m, T, a, ...) m(T, a) TT__MAP11(m, T, __VA_ARGS__)
#define TT__MAP13(m, T, a, ...) m(T, a) TT__MAP12(m, T, __VA_ARGS__)
#define TT__MAP14(m, T, a, ...) m(T, a) TT__MAP13(m, T, __VA_ARGS__)
#define TT__MAP15(m, T, a, ...) m(T, a) TT__MAP14(m, T, __VA_ARGS__)
#define TT__MAP16(m, T, a, ...) m(T, a) TT__MAP15(m, T, __VA_ARGS__)
#define TT__NARG(...) TT__NARG_(__VA_ARGS__, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define TT__NARG_(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, n, ...) n
#define TT__CAT(a, b) TT__CAT_(a, b)
#define TT__CAT_(a, b) a##b
#define TT__MAP(m, T, ...) TT__CAT(TT__MAP, TT__NARG(__VA_ARGS__))(m, T, __VA_ARGS__)

/* A struct type with 1 to 16 tt_ref fields, named after the struct:
 *   static const tt_type pair_type = TT_TYPE_INIT(struct pair, left, right); */
#define TT_TYPE_INIT(T, ...)                                                  \
    {                                                                         \
        TT_TYPE_SIG, #T, TT_KIND_FIXED, (uint32_t)sizeof(T), 0,               \
            (uint32_t)TT__NARG(__VA_ARGS__),                                  \
            (const uint32_t[]){TT__MAP(TT__OFF, T, __VA_ARGS__)}, NULL, NULL  \
    }

/* A struct type holding no references: never scanned. */
#define TT_ATOMIC_TYPE_INIT(T) \
    { TT_TYPE_SIG, #T, TT_KIND_ATOMIC, (uint32_t)sizeof(T), 0, 0, NULL, NULL, NULL }

/* An array of tt_ref, allocated with tt_alloc_array. */
#define TT_REF_ARRAY_TYPE_INIT(name) \
    { TT_TYPE_SIG, name, TT_KIND_REF_ARRAY, 8, (uint32_t)sizeof(tt_ref), 0, NULL, NULL, NULL }

/* An array of plain elements of type E (no refs): never scanned. */
#define TT_DATA_ARRAY_TYPE_INIT(name, E) \
    { TT_TYPE_SIG, name, TT_KIND_DATA_ARRAY, 8, (uint32_t)sizeof(E), 0, NULL, NULL, NULL }

/* A fixed-size struct with a custom trace function. */
#define TT_CUSTOM_TYPE_INIT(T, trace_fn) \
    { TT_TYPE_SIG, #T, TT_KIND_CUSTOM, (uint32_t)sizeof(T), 0, 0, NULL, (trace_fn), NULL }

/* The same with a finalize hook (see tt_type.finalize). */
#define TT_FINALIZED_TYPE_INIT(T, finalize_fn, ...)                           \
    {                                                                         \
        TT_TYPE_SIG, #T, TT_KIND_FIXED, (uint32_t)sizeof(T), 0,               \
            (uint32_t)TT__NARG(__VA_ARGS__),                                  \
            (const uint32_t[]){TT__MAP(TT__OFF, T, __VA_ARGS__)}, NULL,       \
            (finalize_fn)                                                     \
    }
#define TT_FINALIZED_ATOMIC_TYPE_INIT(T, finalize_fn) \
    { TT_TYPE_SIG, #T, TT_KIND_ATOMIC, (uint32_t)sizeof(T), 0, 0, NULL, NULL, (finalize_fn) }

/* Ready-made array types: bytes (atomic) and references. */
TT_API extern const tt_type tt_bytes_type;
TT_API extern const tt_type tt_refs_type;

/* The type an object was allocated with. r must be a live object. */
static inline const tt_type *tt_type_of(tt_ref r)
{
    return (const tt_type *)(((const uintptr_t *)r.bits)[-1] & ~(uintptr_t)7);
}

/* Element count of an array object. */
static inline size_t tt_array_length(tt_ref r) { return *(const size_t *)r.bits; }

/* Address of element 0 of an array object. */
static inline void *tt_array_data(tt_ref r)
{
    return (char *)r.bits + tt_type_of(r)->size;
}

/* Element i of a ref array, or TT_NULL if i is out of range. */
static inline tt_ref tt_array_get(tt_ref arr, size_t i)
{
    if (TT_UNLIKELY(i >= tt_array_length(arr))) return TT_NULL;
    return ((const tt_ref *)tt_array_data(arr))[i];
}

#ifdef __cplusplus
}
#endif
#endif
