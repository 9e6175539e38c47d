/*
 * mark.c: marking, with an explicit stack and a prefetch ring.
 *
 * Reaching an object only pushes it. Popping it moves it into a small ring
 * and prefetches its header; when it leaves the ring its header is read
 * (usually from cache by then), it is marked, and if it was not marked
 * already and its type can hold references, its reference fields are
 * pushed as the type declares: a list of offsets, every element of a
 * reference array, or the type's own trace function through a tt_tracer.
 * Atomic objects and data arrays are marked but never scanned. An object
 * reached twice before it is marked is pushed twice; the second copy finds
 * it marked and is dropped.
 *
 * Roots are marked at once and pushed tagged (bit 0 set) as "marked, scan
 * it", so that a root dropped by a stack overflow is still found by its
 * mark.
 *
 * If the stack cannot grow, the reference is dropped and the heap notes an
 * overflow; after the drain, the children of every marked object are
 * pushed again until no overflow remains. That is slow but bounded, and it
 * keeps marking correct when memory is short, exactly when a collection is
 * most needed.
 */
#include "internal.h"

#define INITIAL_STACK 8192u
#define RING 32u /* objects in flight between prefetch and use; a power of two */
#define ROOT_TAG ((uintptr_t)1)

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

/* Push when the stack is full: grow it, or note the overflow. */
static void __attribute__((noinline)) push_slow(tt_heap *h, uintptr_t p)
{
    if (h->mark_top == h->mark_cap) {
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

static inline void push(tt_heap *h, uintptr_t p)
{
    if (TT_UNLIKELY(h->mark_top == h->mark_cap)) {
        push_slow(h, p);
        return;
    }
    h->mark_stack[h->mark_top++] = p;
}

static inline bool scannable(const tt_type *ty)
{
    return ty->kind != TT_KIND_ATOMIC && ty->kind != TT_KIND_DATA_ARRAY;
}

static inline const tt_type *type_of_hdr(uintptr_t hdr)
{
    return (const tt_type *)(hdr & ~TT__HDR_FLAGS);
}

void tt__mark_root(tt_heap *h, uintptr_t p)
{
    if (!p) return;
    uintptr_t hdr = ((const uintptr_t *)p)[-1];
    if (tt__set_mark_hdr(p, hdr) && scannable(type_of_hdr(hdr))) push(h, p | ROOT_TAG);
}

static void visit_field(tt_tracer *tr, tt_ref *field)
{
    if (field->bits) push(tr->heap, field->bits);
}

void tt_trace_field(tt_tracer *tr, tt_ref *field) { tr->visit(tr, field); }

/* Report every reference field of the object at p to tr->visit (tr NULL:
 * push them for marking). Used by the verifier and overflow recovery; the
 * drain loop below has its own copy of the common cases. */
void tt__trace_object(tt_heap *h, uintptr_t p, tt_tracer *tr)
{
    tt_tracer local = {visit_field, h, NULL};
    if (!tr) tr = &local;
    const tt_type *ty = type_of_hdr(((const uintptr_t *)p)[-1]);
    switch (ty->kind) {
    case TT_KIND_FIXED:
        for (uint32_t i = 0; i < ty->nrefs; i++) tr->visit(tr, (tt_ref *)(p + ty->ref_offsets[i]));
        break;
    case TT_KIND_REF_ARRAY: {
        size_t n = *(const size_t *)p;
        tt_ref *e = (tt_ref *)(p + ty->size);
        for (size_t i = 0; i < n; i++) tr->visit(tr, &e[i]);
        break;
    }
    case TT_KIND_CUSTOM:
        if (ty->trace) ty->trace(tr, (void *)p);
        break;
    case TT__KIND_EPHEMERON:
        /* Marking defers an ephemeron's fields to the fixpoint; any other
         * walk (verifier, finalization ordering) sees both. */
        if (tr == &local) {
            tt__ephemeron_found(h, p);
        } else {
            tr->visit(tr, (tt_ref *)p);
            tr->visit(tr, (tt_ref *)p + 1);
        }
        break;
    default:
        break;
    }
}

/* The hot loop. The stack lives in locals so the compiler can keep it in
 * registers; anything that may push through the heap (a custom trace
 * function, a stack that must grow) writes it back first. */
static void drain_once(tt_heap *h)
{
    uintptr_t ring[RING];
    unsigned head = 0, count = 0;
    uintptr_t *stack = h->mark_stack;
    size_t top = h->mark_top, cap = h->mark_cap;

#define PUSH(v)                                                    \
    do {                                                           \
        uintptr_t v_ = (v);                                        \
        if (v_) {                                                  \
            if (TT_LIKELY(top < cap)) {                            \
                stack[top++] = v_;                                 \
            } else {                                               \
                h->mark_top = top;                                 \
                push_slow(h, v_);                                  \
                stack = h->mark_stack;                             \
                top = h->mark_top;                                 \
                cap = h->mark_cap;                                 \
            }                                                      \
        }                                                          \
    } while (0)

    for (;;) {
        while (count < RING && top) {
            uintptr_t q = stack[--top];
            __builtin_prefetch((const void *)((q & ~ROOT_TAG) - 8), 1);
            ring[(head + count++) & (RING - 1)] = q;
        }
        if (!count) break;
        uintptr_t p = ring[head];
        head = (head + 1) & (RING - 1);
        count--;
        uintptr_t hdr;
        if (p & ROOT_TAG) {
            p &= ~ROOT_TAG;
            hdr = ((const uintptr_t *)p)[-1];
        } else {
            hdr = ((const uintptr_t *)p)[-1];
            if (!tt__set_mark_hdr(p, hdr)) continue;
        }
        const tt_type *ty = type_of_hdr(hdr);
        switch (ty->kind) {
        case TT_KIND_FIXED: {
            const uint32_t *off = ty->ref_offsets;
            for (uint32_t i = 0, n = ty->nrefs; i < n; i++) PUSH(*(const uintptr_t *)(p + off[i]));
            break;
        }
        case TT_KIND_REF_ARRAY: {
            size_t n = *(const size_t *)p;
            const uintptr_t *e = (const uintptr_t *)(p + ty->size);
            for (size_t i = 0; i < n; i++) PUSH(e[i]);
            break;
        }
        case TT_KIND_CUSTOM:
        case TT__KIND_EPHEMERON:
            h->mark_top = top;
            tt__trace_object(h, p, NULL);
            stack = h->mark_stack;
            top = h->mark_top;
            cap = h->mark_cap;
            break;
        default:
            break;
        }
    }
#undef PUSH
    h->mark_top = top;
}

/* Overflow recovery: push the children of a marked object again. */
static void retrace(tt_heap *h, uintptr_t p)
{
    if (!scannable(type_of_hdr(((const uintptr_t *)p)[-1]))) return;
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

void tt__mark_workers_stop(tt_heap *h) { (void)h; }
