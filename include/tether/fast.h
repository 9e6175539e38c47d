/*
 * tether/fast.h: the part of a thread's state that the inline fast paths
 * read. Not API: the layout changes between releases; use the functions in
 * alloc.h and roots.h.
 *
 * A tt_thread starts with a struct tt__fast. Every inline fast path first
 * tests `slow`: zero means the plain fast path applies, so it needs no
 * other mode test. Otherwise it holds TT__SLOW_* bits. Exactly
 * TT__SLOW_CHECKED means checked mode: the inline paths then run their
 * checked variants (below) if the caller owns the thread and no hold bit
 * is set; they prove the common case correct with a few compares and leave
 * everything else, including every misuse, to the out-of-line path that
 * reports it. Any
 * other value sends every call out of line. `slow` is written by the
 * owning thread, and by heap close once no thread may run.
 *
 * `poll` is the one word other threads write: a collector sets it to ask
 * the thread to stop at its next safepoint (tt_safepoint, an allocation
 * that needs a new run). It is read and written with atomic builtins.
 */
#ifndef TETHER_FAST_H
#define TETHER_FAST_H

#include <stdint.h>

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

struct tt_type;

/* Bits of struct tt__fast's `slow`. */
#define TT__SLOW_CHECKED 1u /* checked mode */
#define TT__SLOW_DEAD 2u    /* detached, heap closed, or its OS thread exited */
/* Hold bits, in the low bits of `owner_key` (a thread pointer is
 * aligned): while one is set, the owner's own thread pointer no longer
 * matches, so checked mode's inline paths stop on the owning thread too. */
#define TT__HOLD_REGION 1u /* inside a foreign region */
#define TT__HOLD_DYING 2u  /* running a cleanup whose object may not be stored */

/* Sizes up to this many bytes (header included) are bump-allocated inline
 * from a per-thread buffer indexed by size / 8. */
#define TT__INLINE_MAX 256
#define TT__INLINE_CLASSES (TT__INLINE_MAX / 8 + 1)
/* All small size classes: the inline ones (index = size / 8), then four
 * per doubling from 320 to 16384 bytes. */
#define TT__NCLASSES (TT__INLINE_CLASSES + 24)
/* Checked mode's caches of proofs (see struct tt__fast). */
#define TT__VC_SLOTS 64
#define TT__FC_SLOTS 4

struct tt__alloc_buf {
    uintptr_t cursor; /* next free byte of the current run */
    uintptr_t limit;  /* end of the current run */
};

/* One open local frame. The inline push writes saved_top, limit and
 * serial, and the inline pop reads the parent's limit and serial: no two
 * of them are neighbours (see struct tt__fast). */
struct tt__frame_rec {
    uint32_t limit;       /* this frame's guaranteed end (exclusive) */
    uint32_t capacity;    /* as requested; with file and line, recorded */
    uint32_t serial;      /* this frame's serial, stored in its locals */
    int line;
    const char *file;     /* only for checked mode's messages */
    uint32_t saved_top;   /* slot reserved in the parent for the escape */
};

/* The fields the inline frame and local paths write (local_top,
 * local_limit, serial, frame_top, serial_next) each sit between fields
 * they never write. Neighbouring 32-bit stores are otherwise merged by
 * gcc's SLP vectorizer into one 64-bit vector store, and the next call's
 * 32-bit load of the upper half is not forwarded from it but waits for
 * the store to retire: frame push + 1 local + pop took 9.3 ns instead of
 * 3.3 ns on bench/handles (gcc 12 -O2, AMD EPYC). */
struct tt__fast {
    uint64_t sig;
    uint32_t slow;         /* nonzero: take the out-of-line path */
    uint32_t local_top;
    tt_ref *locals;        /* local slots, [0, local_top) in use */
    uint32_t *local_serial; /* serial of the frame owning each slot */
    uint32_t local_limit;  /* end of the current frame's guaranteed room */
    uint32_t checked;      /* checked mode on */
    uint32_t serial;       /* serial of the current frame */
    uint32_t local_cap;    /* slots allocated in locals / local_serial */
    uint32_t frame_top;    /* frames[0, frame_top) are open */
    uint32_t frame_cap;    /* always >= local_cap: every frame takes a slot */
    uint32_t serial_next;  /* next frame serial to hand out */
    uint32_t poll;         /* nonzero: a collection waits for this thread */
    struct tt__frame_rec *frames;
    struct tt__alloc_buf buf[TT__NCLASSES];

    /* Checked mode's inline paths; unused otherwise. */
    /* The owning OS thread's thread pointer, or'ed with TT__HOLD_* bits;
     * written by the owner alone, read by any thread that is given this
     * tt_thread (a misuse it must detect): relaxed atomic both ways. */
    uintptr_t owner_key;
    const struct tt_type *vc_type; /* last type validated for allocation */
    /* Reference fields proven per type: bit k of mask means offset 8k is
     * a reference field of a fixed-size type ty (direct-mapped). */
    struct tt__field_cache {
        uintptr_t ty;
        uint64_t mask;
    } fc[TT__FC_SLOTS];
    /* Objects this thread allocated or proved live since the last
     * collection, which empties it (direct-mapped by tt__vc_index; 0 is
     * never an object, so an empty slot matches nothing but null). */
    uintptr_t vcache[TT__VC_SLOTS];
};

/* The calling OS thread's thread pointer: one load, unique among running
 * threads. Where the compiler cannot give it, 0, which no owner_key holds
 * (attach stores all ones then), so checked mode's inline paths defer
 * every call to the out-of-line path. */
TT_INLINE uintptr_t tt__thread_pointer(void)
{
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__aarch64__))
    return (uintptr_t)__builtin_thread_pointer();
#else
    return 0;
#endif
}

TT_INLINE uint32_t tt__vc_index(uintptr_t p)
{
    return (uint32_t)((p >> 4) ^ (p >> 10)) & (TT__VC_SLOTS - 1);
}

TT_INLINE uint32_t tt__fc_index(uintptr_t ty)
{
    return (uint32_t)((ty >> 4) ^ (ty >> 7)) & (TT__FC_SLOTS - 1);
}

TT_INLINE uint32_t tt__slow(const struct tt__fast *f) { return f->slow; }

/* Whether the inline checked variants may run on this call, given the
 * thread's `slow` word: checked mode, called from the owning OS thread,
 * which is outside a foreign region and not running a cleanup that
 * watches for resurrection (no hold bit: one compare covers all three). */
TT_INLINE int tt__checked_inline(const struct tt__fast *f, uint32_t slow)
{
    return slow == TT__SLOW_CHECKED &&
           __atomic_load_n(&f->owner_key, __ATOMIC_RELAXED) == tt__thread_pointer();
}

/* Whether p (nonzero) is known live to this thread's cache. */
TT_INLINE int tt__vc_known(const struct tt__fast *f, uintptr_t p)
{
    return f->vcache[tt__vc_index(p)] == p;
}

#ifdef __cplusplus
}
#endif
#endif
