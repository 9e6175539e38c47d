/*
 * tether/roots.h: local frames, global references, weak references.
 *
 * Roots are explicit. A tt_ref is kept alive by being stored in
 *   - a local: a slot in the current local frame of a thread. Frames nest;
 *     pushing a frame guarantees room for `capacity` locals, and popping it
 *     frees them all at once, optionally carrying one result (the escape)
 *     into the parent frame. Locals belong to their thread.
 *   - a global: a slot in the heap's global table, freed explicitly.
 *   - a field of an object that is itself kept alive.
 * A weak reference does not keep its target alive; it reads TT_NULL once
 * the target has been found dead by a collection.
 *
 * Handles (tt_frame, tt_local, tt_global, tt_weak) are small values that
 * carry an index and a serial or generation, so a handle used after its
 * frame popped or after it was freed is detected: in checked mode it is
 * reported as misuse; otherwise the call fails with TT_ESTALE and returns
 * TT_NULL. So is a handle of another heap (globals and weak references
 * carry their heap's tag; frame serials are unique in the process). A
 * zeroed handle is the null handle and is always invalid.
 */
#ifndef TETHER_ROOTS_H
#define TETHER_ROOTS_H

#include <stdint.h>

#include "core.h"
#include "fast.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tt_frame {
    uint64_t bits; /* serial << 32 | slot reserved for the escape */
} tt_frame;
typedef struct tt_local {
    uint64_t bits; /* serial << 32 | slot */
} tt_local;
typedef struct tt_global {
    uint64_t bits; /* generation << 32 | heap tag << 24 | index */
} tt_global;
typedef struct tt_weak {
    uint64_t bits; /* generation << 32 | heap tag << 24 | index */
} tt_weak;

#define TT_NO_LOCAL ((tt_local){0})
static inline int tt_local_is_null(tt_local l) { return l.bits == 0; }
static inline int tt_frame_is_null(tt_frame f) { return f.bits == 0; }
static inline int tt_global_is_null(tt_global g) { return g.bits == 0; }
static inline int tt_weak_is_null(tt_weak w) { return w.bits == 0; }

/* Largest capacity a single frame may ask for. */
#define TT_FRAME_MAX_CAPACITY (1u << 24)

/* Out-of-line paths; call the macros below instead. */
TT_API tt_frame tt__frame_push_slow(tt_thread *t, size_t capacity, const char *file, int line);
TT_API tt_local tt__frame_pop_slow(tt_thread *t, tt_frame f, tt_local escape, const char *file,
                                   int line);
TT_API tt_local tt__local_new_slow(tt_thread *t, tt_ref r, const char *file, int line);
TT_API tt_ref tt__local_get_slow(tt_thread *t, tt_local l, const char *file, int line);
TT_API int tt__local_set_slow(tt_thread *t, tt_local l, tt_ref r, const char *file, int line);

/* ------------------------------------------------------------------ */
/* Frames and locals                                                    */

/* The inline push, given the thread's fields it read first (the stores
 * could alias them): the frame's record, its reserved escape slot, the
 * thread's new top, limit, serial and depth. */
TT_INLINE struct tt__frame_rec *tt__frame_open(struct tt__fast *f, uint32_t capacity,
                                               uint32_t top, uint32_t depth, uint32_t serial,
                                               uint32_t parent_serial)
{
    struct tt__frame_rec *fr = &f->frames[depth];
    tt_ref *locals = f->locals;
    uint32_t *local_serial = f->local_serial;
    uint32_t limit = top + 1 + capacity;
    f->serial_next = serial + 1;
    f->local_top = top + 1;
    f->local_limit = limit;
    f->serial = serial;
    f->frame_top = depth + 1;
    fr->saved_top = top;
    fr->limit = limit;
    fr->serial = serial;
    locals[top] = TT_NULL;
    local_serial[top] = parent_serial;
    return fr;
}

/* Open a frame with room for `capacity` locals: the next `capacity`
 * tt_local_new calls in it cannot fail. Returns the null frame with the
 * last error set on failure (TT_ERANGE for a capacity above
 * TT_FRAME_MAX_CAPACITY, TT_ENOMEM). */
#define tt_frame_push(t, capacity) tt_frame_push_at((t), (capacity), TT_HERE)
TT_INLINE tt_frame tt_frame_push_at(tt_thread *t, size_t capacity, const char *file,
                                    int line)
{
    struct tt__fast *f = (struct tt__fast *)t;
    uint32_t slow = tt__slow(f);
    /* Read everything first: the stores below could alias these fields. */
    uint32_t top = f->local_top, depth = f->frame_top, serial = f->serial_next;
    uint32_t parent_serial = f->serial;
    /* One slot below the frame is reserved for the escaped result, and the
     * parent's room must stay physically available after it lands there.
     * The frame records are kept at least as many as the local slots, and
     * every frame takes a slot, so they need no check of their own; an
     * absurd capacity fails the first test and is refused out of line. */
    int fits = capacity < (size_t)(f->local_cap - top) && f->local_limit < f->local_cap;
    if (TT_LIKELY(!slow && fits)) {
        /* The frame's size and site matter only to checked mode. */
        tt__frame_open(f, (uint32_t)capacity, top, depth, serial, parent_serial);
        return (tt_frame){((uint64_t)serial << 32) | top};
    }
    /* Checked mode, the same with the frame's size and site recorded for
     * the reports; a serial wrapping to 0 is left to the out-of-line path. */
    if (fits && serial != 0 && tt__checked_inline(f, slow)) {
        struct tt__frame_rec *fr =
            tt__frame_open(f, (uint32_t)capacity, top, depth, serial, parent_serial);
        fr->capacity = (uint32_t)capacity;
        fr->file = file;
        fr->line = line;
        return (tt_frame){((uint64_t)serial << 32) | top};
    }
    return tt__frame_push_slow(t, capacity, file, line);
}

/* Close frame fr, which must be the innermost open frame: every local in it
 * dies. If escape is a local of fr (or of an outer frame), its reference is
 * carried into a new local of the parent frame, which is returned. Room for
 * it was reserved at push, and it does not count against the parent's
 * capacity: the parent can still make as many locals as before. Otherwise
 * pass TT_NO_LOCAL; returns TT_NO_LOCAL. Never fails for lack of memory.
 * Popping a frame that is not innermost fails with TT_ESTATE (checked mode:
 * misuse "frame-pop-order"). */
#define tt_frame_pop(t, fr, escape) tt_frame_pop_at((t), (fr), (escape), TT_HERE)
TT_INLINE tt_local tt_frame_pop_at(tt_thread *t, tt_frame fr, tt_local escape,
                                   const char *file, int line)
{
    struct tt__fast *f = (struct tt__fast *)t;
    uint32_t slow = tt__slow(f);
    uint32_t depth = f->frame_top;
    /* Serials are unique, so a matching serial names the innermost frame,
     * and the handle itself says where its slots began: the new top does
     * not wait on a load of the frame record. */
    /* Checked mode trusts no handle bits: the frame's record must also
     * agree on where its slots began. */
    if (TT_LIKELY((!slow || (tt__checked_inline(f, slow) && depth > 1 &&
                                f->frames[depth - 1].saved_top == (uint32_t)fr.bits)) &&
                  escape.bits == 0 && depth > 1 && (uint32_t)(fr.bits >> 32) == f->serial)) {
        const struct tt__frame_rec *parent = &f->frames[depth - 2];
        uint32_t parent_limit = parent->limit, parent_serial = parent->serial;
        f->frame_top = depth - 1;
        f->local_top = (uint32_t)fr.bits;
        f->local_limit = parent_limit;
        f->serial = parent_serial;
        return (tt_local){0};
    }
    return tt__frame_pop_slow(t, fr, escape, file, line);
}

/* Make a new local in the current frame holding r (which may be TT_NULL).
 * Within the frame's capacity it cannot fail. Past it: in checked mode a
 * misuse report ("frame-capacity"); otherwise the frame grows, and only an
 * out-of-memory can make it fail (null local, TT_ENOMEM). */
#define tt_local_new(t, r) tt_local_new_at((t), (r), TT_HERE)
TT_INLINE tt_local tt_local_new_at(tt_thread *t, tt_ref r, const char *file, int line)
{
    struct tt__fast *f = (struct tt__fast *)t;
    uint32_t slow = tt__slow(f);
    uint32_t i = f->local_top;
    /* Checked mode: r must also be null or known live to the thread. */
    if (TT_LIKELY((!slow || (tt__checked_inline(f, slow) &&
                              (r.bits == 0 || tt__vc_known(f, r.bits)))) &&
                  i < f->local_limit)) {
        f->locals[i] = r;
        f->local_serial[i] = f->serial;
        f->local_top = i + 1;
        return (tt_local){((uint64_t)f->serial << 32) | i};
    }
    return tt__local_new_slow(t, r, file, line);
}

/* The reference held by local l. A local of a popped frame, or of another
 * thread, is detected: TT_NULL with TT_ESTALE (checked mode: misuse
 * "local-after-pop"). */
#define tt_local_get(t, l) tt_local_get_at((t), (l), TT_HERE)
TT_INLINE tt_ref tt_local_get_at(tt_thread *t, tt_local l, const char *file, int line)
{
    struct tt__fast *f = (struct tt__fast *)t;
    uint32_t slow = tt__slow(f);
    uint32_t i = (uint32_t)l.bits;
    if (TT_LIKELY((!slow || tt__checked_inline(f, slow)) && i < f->local_top &&
                  f->local_serial[i] == (uint32_t)(l.bits >> 32) && l.bits != 0))
        return f->locals[i];
    return tt__local_get_slow(t, l, file, line);
}

/* Replace the reference held by local l. Returns TT_OK or TT_ESTALE. */
#define tt_local_set(t, l, r) tt_local_set_at((t), (l), (r), TT_HERE)
TT_INLINE int tt_local_set_at(tt_thread *t, tt_local l, tt_ref r, const char *file,
                              int line)
{
    struct tt__fast *f = (struct tt__fast *)t;
    uint32_t slow = tt__slow(f);
    uint32_t i = (uint32_t)l.bits;
    if (TT_LIKELY((!slow || (tt__checked_inline(f, slow) &&
                              (r.bits == 0 || tt__vc_known(f, r.bits)))) &&
                  i < f->local_top && f->local_serial[i] == (uint32_t)(l.bits >> 32) &&
                  l.bits != 0)) {
        f->locals[i] = r;
        return TT_OK;
    }
    return tt__local_set_slow(t, l, r, file, line);
}

/* ------------------------------------------------------------------ */
/* Global references                                                    */

/* A global reference to r, usable until tt_global_free. Returns the null
 * global with the last error set on failure (TT_ENOMEM; TT_EINVAL in
 * checked mode if r is not a live object of this heap). r may be TT_NULL. */
#define tt_global_new(t, r) tt_global_new_at((t), (r), TT_HERE)
TT_API tt_global tt_global_new_at(tt_thread *t, tt_ref r, const char *file, int line);

/* The reference held by g; TT_NULL with TT_ESTALE if g was freed. */
#define tt_global_get(t, g) tt_global_get_at((t), (g), TT_HERE)
TT_API tt_ref tt_global_get_at(tt_thread *t, tt_global g, const char *file, int line);

/* Replace the reference held by g. Returns TT_OK or TT_ESTALE. */
#define tt_global_set(t, g, r) tt_global_set_at((t), (g), (r), TT_HERE)
TT_API int tt_global_set_at(tt_thread *t, tt_global g, tt_ref r, const char *file, int line);

/* Free g. Returns TT_OK, or TT_ESTALE for a global already freed (checked
 * mode: misuse "global-double-free"). */
#define tt_global_free(t, g) tt_global_free_at((t), (g), TT_HERE)
TT_API int tt_global_free_at(tt_thread *t, tt_global g, const char *file, int line);

/* ------------------------------------------------------------------ */
/* Weak references                                                      */

/* A weak reference to r: it does not keep r alive, and reads TT_NULL after
 * a collection finds r unreachable. Freed with tt_weak_free. */
#define tt_weak_new(t, r) tt_weak_new_at((t), (r), TT_HERE)
TT_API tt_weak tt_weak_new_at(tt_thread *t, tt_ref r, const char *file, int line);

/* The target of w, or TT_NULL if it died. TT_NULL with TT_ESTALE if w was
 * freed. The result is an ordinary strong tt_ref: root it before the next
 * allocation if it must survive. */
#define tt_weak_get(t, w) tt_weak_get_at((t), (w), TT_HERE)
TT_API tt_ref tt_weak_get_at(tt_thread *t, tt_weak w, const char *file, int line);

/* Free w. Returns TT_OK or TT_ESTALE (checked mode: "weak-double-free"). */
#define tt_weak_free(t, w) tt_weak_free_at((t), (w), TT_HERE)
TT_API int tt_weak_free_at(tt_thread *t, tt_weak w, const char *file, int line);

#ifdef __cplusplus
}
#endif
#endif
