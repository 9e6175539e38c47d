/*
 * tether/fast.h: the part of a thread's state that the inline fast paths
 * read. Not API: the layout changes between releases; use the functions in
 * alloc.h and roots.h.
 *
 * A tt_thread starts with a struct tt__fast. Every inline fast path first
 * tests `slow`: it is nonzero when the thread must take the out-of-line
 * path for every call (checked mode, a detached thread), so the fast paths
 * need no other mode test. `slow` is written only by the owning thread.
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

/* Sizes up to this many bytes (header included) are bump-allocated inline
 * from a per-thread buffer indexed by size / 8. */
#define TT__INLINE_MAX 256
#define TT__INLINE_CLASSES (TT__INLINE_MAX / 8 + 1)
/* All small size classes: the inline ones (index = size / 8), then four
 * per doubling from 320 to 16384 bytes. */
#define TT__NCLASSES (TT__INLINE_CLASSES + 24)

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
};

#ifdef __cplusplus
}
#endif
#endif
