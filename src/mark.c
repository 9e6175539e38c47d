/*
 * mark.c: marking, with an explicit stack.
 *
 * An object is marked when first reached; it is pushed only if its type
 * can hold references, so atomic objects and data arrays are never
 * scanned. Popping an object traces its reference fields as its type
 * declares: a list of offsets, every element of a reference array, or the
 * type's own trace function through a tt_tracer.
 *
 * If the stack cannot grow, the object stays marked but unscanned and the
 * heap notes an overflow; after the drain, every marked object is traced
 * again (pushing only what is still unmarked) until no overflow remains.
 * That is slow but bounded, and it keeps marking correct when memory is
 * short, exactly when a collection is most needed.
 */
#include "internal.h"

#define INITIAL_STACK 8192u

int tt__mark_init(tt_heap *h)
{
    h->mark_stack = tt__pages_reserve(h, INITIAL_STACK * sizeof(uintptr_t), TT__PAGE);
    if (!h->mark_stack) return TT_ENOMEM;
    h->mark_cap = INITIAL_STACK;
    return TT_OK;
}

void tt__mark_finish(tt_heap *h)
{
    tt__pages_release(h, h->mark_stack, h->mark_cap * sizeof(uintptr_t));
    h->mark_stack = NULL;
    h->mark_cap = 0;
}

static void push(tt_heap *h, uintptr_t p)
{
    if (TT_UNLIKELY(h->mark_top == h->mark_cap)) {
        size_t cap = h->mark_cap * 2;
        uintptr_t *s = tt__pages_grow(h, h->mark_stack, h->mark_cap * sizeof(uintptr_t),
                                      cap * sizeof(uintptr_t));
        if (!s) {
            h->mark_overflow = true;
            return;
        }
        h->mark_stack = s;
        h->mark_cap = cap;
    }
    h->mark_stack[h->mark_top++] = p;
}

/* Mark p; true if it was not marked before. */
static inline bool mark(uintptr_t p, uintptr_t hdr)
{
    if (TT_UNLIKELY(hdr & TT__HDR_LARGE)) {
        struct tt__large *lo = tt__large_of(p);
        if (lo->mark) return false;
        lo->mark = 1;
        return true;
    }
    uint64_t bit;
    uint64_t *w = tt__mark_word(p - 8, &bit);
    if (*w & bit) return false;
    *w |= bit;
    return true;
}

static inline bool scannable(uintptr_t hdr)
{
    uint32_t kind = ((const tt_type *)(hdr & ~TT__HDR_FLAGS))->kind;
    return kind != TT_KIND_ATOMIC && kind != TT_KIND_DATA_ARRAY;
}

static inline void visit(tt_heap *h, uintptr_t p)
{
    if (!p) return;
    uintptr_t hdr = ((const uintptr_t *)p)[-1];
    if (mark(p, hdr) && scannable(hdr)) push(h, p);
}

void tt__mark_root(tt_heap *h, uintptr_t p) { visit(h, p); }

static void visit_field(tt_tracer *tr, tt_ref *field) { visit(tr->heap, field->bits); }

void tt_trace_field(tt_tracer *tr, tt_ref *field) { tr->visit(tr, field); }

/* Report every reference field of the object at p to tr->visit (or, when
 * tr is NULL, mark them directly). */
void tt__trace_object(tt_heap *h, uintptr_t p, tt_tracer *tr)
{
    const tt_type *ty = (const tt_type *)(((const uintptr_t *)p)[-1] & ~TT__HDR_FLAGS);
    switch (ty->kind) {
    case TT_KIND_FIXED: {
        const uint32_t *off = ty->ref_offsets;
        for (uint32_t i = 0; i < ty->nrefs; i++) {
            tt_ref *f = (tt_ref *)(p + off[i]);
            if (tr)
                tr->visit(tr, f);
            else
                visit(h, f->bits);
        }
        break;
    }
    case TT_KIND_REF_ARRAY: {
        size_t n = *(const size_t *)p;
        tt_ref *e = (tt_ref *)(p + ty->size);
        for (size_t i = 0; i < n; i++) {
            if (tr)
                tr->visit(tr, &e[i]);
            else
                visit(h, e[i].bits);
        }
        break;
    }
    case TT_KIND_CUSTOM: {
        tt_tracer local = {visit_field, h, NULL};
        if (ty->trace) ty->trace(tr ? tr : &local, (void *)p);
        break;
    }
    default:
        break;
    }
}

static void drain_once(tt_heap *h)
{
    while (h->mark_top) {
        uintptr_t p = h->mark_stack[--h->mark_top];
        tt__trace_object(h, p, NULL);
    }
}

static void retrace(tt_heap *h, uintptr_t p)
{
    uintptr_t hdr = ((const uintptr_t *)p)[-1];
    if (!scannable(hdr)) return;
    tt__trace_object(h, p, NULL);
    drain_once(h);
}

void tt__mark_drain(tt_heap *h)
{
    drain_once(h);
    while (h->mark_overflow) {
        h->mark_overflow = false;
        tt__space_each_marked(h, retrace);
        for (struct tt__large *lo = h->large; lo; lo = lo->next)
            if (lo->mark) retrace(h, (uintptr_t)(&lo->hdr + 1));
    }
}
