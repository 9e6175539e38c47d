/*
 * tether/threads.h: many mutator threads, safepoints and foreign regions.
 *
 * Any number of OS threads attach to a heap (tt_thread_attach), each
 * getting a tt_thread of its own: its allocation buffers, its local frames.
 * A tt_thread belongs to the OS thread that attached it; only that thread
 * may pass it to tether (checked mode reports "wrong-thread" otherwise).
 *
 * Collections stop the world cooperatively. A collection starts on the
 * thread whose allocation (or tt_collect) needs it, and waits until every
 * other attached thread is at a safepoint or inside a foreign region. An
 * attached thread reaches a safepoint when it
 *   - calls tt_safepoint (an inline poll: one load and a branch),
 *   - allocates and needs a new run or a large object (any allocation
 *     may collect, as with one thread),
 *   - calls tt_collect, tt_collect_and_release, tt_heap_verify (which stops
 *     the world too) or an external-memory call that may collect, or
 *   - enters a foreign region.
 * No other call stops the thread, so a tt_ref held in a C variable stays
 * valid between two of these points, whatever other threads do.
 *
 * The latency guarantee: a collection waits for the longest stretch any
 * thread runs between two safepoints. Allocation-heavy code reaches one at
 * least once per run (a few hundred allocations at most); a loop that does
 * not allocate must call tt_safepoint, and code that blocks or runs long
 * without touching the heap must be inside a foreign region. A thread that
 * blocks outside a foreign region (on a lock, in a system call) holds every
 * collection of its heap until it wakes: that is a deadlock if what it
 * waits for needs a collection. The time each collection waited is in
 * tt_stats (safepoint_ns_*).
 */
#ifndef TETHER_THREADS_H
#define TETHER_THREADS_H

#include "core.h"
#include "fast.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Out of line; call tt_safepoint. */
TT_API void tt__safepoint_slow(tt_thread *t, const char *file, int line);

/* A safepoint: if a collection is waiting for this thread, stop until it is
 * over. Costs one load and a branch otherwise; cheap enough for an
 * interpreter's backward branches. Every tt_ref held only in a C variable
 * may be reclaimed here. t must be the calling OS thread's own thread,
 * outside a foreign region; the poll checks nothing, and only when a
 * collection waits are the entry checks made (wrong-thread,
 * heap-in-foreign-region, thread-detached, heap-closed, bad-thread, with
 * the caller's site; a failure returns without stopping). Returns
 * nothing: failures go to the last error and the misuse handler. */
#define tt_safepoint(t) tt_safepoint_at((t), TT_HERE)
static inline void tt_safepoint_at(tt_thread *t, const char *file, int line)
{
    struct tt__fast *f = (struct tt__fast *)t;
    if (TT_UNLIKELY(__atomic_load_n(&f->poll, __ATOMIC_RELAXED))) tt__safepoint_slow(t, file, line);
}

/* Enter a foreign region: the thread promises not to touch the heap (no
 * tether call but tt_foreign_region_leave, no read or write of a heap
 * object, its locals included) until it leaves. Collections proceed without
 * waiting for it. Use it around blocking calls (I/O, locks, joins, sleeps)
 * and long foreign code. It is a safepoint: tt_refs held in C variables may
 * be reclaimed. Returns TT_OK; TT_ESTATE if the thread is already in a
 * region (misuse "foreign-region-twice" in checked mode); TT_ECLOSED. Not
 * nestable. */
#define tt_foreign_region_enter(t) tt_foreign_region_enter_at((t), TT_HERE)
TT_API int tt_foreign_region_enter_at(tt_thread *t, const char *file, int line);

/* Leave the foreign region: if a collection is running, wait until it is
 * over, then the thread may use the heap again. Returns TT_OK; TT_ESTATE
 * if the thread is not in a region (misuse "foreign-region-not-entered");
 * TT_ECLOSED. In checked mode, any other tether call made by a thread
 * inside a region is the misuse "heap-in-foreign-region". */
#define tt_foreign_region_leave(t) tt_foreign_region_leave_at((t), TT_HERE)
TT_API int tt_foreign_region_leave_at(tt_thread *t, const char *file, int line);

/* Whether t is inside a foreign region: 1 or 0. Any thread may ask. */
TT_API int tt_in_foreign_region(const tt_thread *t);

/* The number of threads attached to h now, the finalizer thread included.
 * Any thread may ask, attached or not; it takes only the lock of the
 * heap's thread list, briefly. 0 on error: TT_EINVAL for NULL (no report);
 * "bad-heap" (TT_EINVAL, always to tt_misuse_abort) for a pointer that is
 * not a heap; "heap-closed" (TT_ECLOSED) for a closed heap, which only
 * checked mode can tell (otherwise h must be an open heap). */
#define tt_heap_threads(h) tt_heap_threads_at((h), TT_HERE)
TT_API size_t tt_heap_threads_at(tt_heap *h, const char *file, int line);

#ifdef __cplusplus
}
#endif
#endif
