/*
 * tether/cleanup.h: foreign objects, cleanup stacks, ordered finalization,
 * guardians, and external memory pressure.
 *
 * Every object can carry a stack of cleanups, each a function and an
 * environment pointer. The stack is filled by:
 *   - tt_cleanup_push: a finalizer, or the release for one retain;
 *   - tt_cleanup_retain: call a retain function and push its release;
 *   - tt_foreign_alloc / tt_foreign_allocate: an allocator, whose
 *     deallocation is registered with no window for a leak;
 *   - a type's `finalize` hook (see tether/type.h), registered when the
 *     object is allocated.
 * A cleanup runs exactly once, in one of these ways:
 *   - tt_cleanup_run_last runs the most recent remaining one now
 *     (a deallocator or releaser);
 *   - tt_release runs all of them now, newest first;
 *   - when a collection finds the object unreachable, they are queued and
 *     run newest first, later, in a cleanup context the program chooses:
 *     tt_run_finalizers (an explicit safe point), a guardian the program
 *     drains, or (unless tt_config.explicit_cleanups_only) the
 *     foreign-object calls that create external memory;
 *   - tt_heap_close runs the pending queue, then every cleanup still
 *     registered, in reverse order of registration.
 * Cleanups never run inside the collector, and never inside an ordinary
 * allocation.
 *
 * Ordering. Everything reachable from an object with cleanups stays
 * allocated until its cleanups have run, so a finalizer may read its object
 * and anything it reaches. If A reaches B (through any path of references,
 * or a tt_keep_alive(A, B) declaration) and both are found unreachable by
 * the same collection, every cleanup of A completes before any cleanup of
 * B starts. All unreachable objects with cleanups are queued by the
 * collection that finds them, so a chain of any length is finalized after
 * one collection. Objects that reach each other in a cycle are queued in a
 * deterministic order (registration order of the object first met, then
 * field order); every reference found closing such a cycle is counted
 * (stats.finalizer_cycles) and reported in checked mode.
 *
 * A cleanup may use the tether API on the thread that runs it: allocate,
 * create handles, release other objects. It must not assume that objects
 * it did not reach from its own object are still alive.
 */
#ifndef TETHER_CLEANUP_H
#define TETHER_CLEANUP_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* tt_cleanup_fn is declared in tether/core.h. The object is valid for
 * the whole call; for a foreign object, tt_foreign_addr still returns its
 * address until every cleanup has run. */

/* A ready-made cleanup for foreign objects: free(tt_foreign_addr(obj)). */
TT_API void tt_cleanup_free(tt_thread *t, tt_ref obj, void *env);

/* ------------------------------------------------------------------ */
/* Foreign objects                                                      */

/* The type of foreign objects (atomic: a foreign address is never
 * traced). */
TT_API extern const struct tt_type tt_foreign_type;

/* Make a foreign object holding `addr` (a foreign address, never traced),
 * whose external size is `external_bytes`, with `fn` (may be NULL) as its
 * first cleanup. The external size counts toward collection and toward
 * the heap limit until the object is released or finalized.
 *
 * Ownership: on success the object owns addr through fn. On failure
 * (TT_NULL with the last error set: TT_ENOMEM when the heap limit cannot
 * take the external bytes even after a collection and, unless
 * explicit_cleanups_only, running pending cleanups; TT_EINVAL, TT_ECLOSED) nothing was registered and the caller
 * still owns addr. To allocate the foreign memory with no window for a
 * leak, use tt_foreign_alloc.
 *
 * This call is a cleanup point unless tt_config.explicit_cleanups_only:
 * if pending cleanups are queued, it runs them on the calling thread
 * before returning. One exception, for speed: on an unchecked heap, with
 * 0 external bytes and a function this thread registered before, the call
 * takes no lock (the object's cleanup reaches the heap's log at the next
 * lock, in order) and is no cleanup point; at least every 256th such call
 * on a thread takes the lock and is one. Any thread, through its own
 * tt_thread. */
#define tt_foreign_new(t, addr, external_bytes, fn, env) \
    tt_foreign_new_at((t), (addr), (external_bytes), (fn), (env), TT_HERE)
TT_API tt_ref tt_foreign_new_at(tt_thread *t, void *addr, size_t external_bytes, tt_cleanup_fn fn,
                                void *env, const char *file, int line);

/* An allocator: make a foreign object, then call alloc(ctx) and make its
 * result the object's address, with `dealloc` registered as its
 * deallocation. Every tether resource is secured before alloc is called,
 * so once alloc succeeds nothing can fail and nothing leaks. If alloc
 * returns NULL, the object is released at once and TT_NULL is returned
 * with TT_ENOMEM. `external_bytes` is accounted as for tt_foreign_new.
 * A cleanup point like tt_foreign_new. alloc runs with the heap lock held:
 * it may call tether on this thread, and other threads' tether calls that
 * need the lock wait until it returns, so keep it short. */
#define tt_foreign_alloc(t, external_bytes, alloc, ctx, dealloc, env) \
    tt_foreign_alloc_at((t), (external_bytes), (alloc), (ctx), (dealloc), (env), TT_HERE)
TT_API tt_ref tt_foreign_alloc_at(tt_thread *t, size_t external_bytes, void *(*alloc)(void *ctx),
                                  void *ctx, tt_cleanup_fn dealloc, void *env, const char *file,
                                  int line);

/* An allocator on an existing foreign object (realloc-style): call
 * alloc(ctx) and, if it returns non-NULL, make the result obj's address,
 * with `dealloc` registered as its deallocation. The deallocation
 * registered before on obj (by tt_foreign_alloc or an earlier
 * tt_foreign_allocate, or else the first cleanup given to tt_foreign_new,
 * which owns the address) is replaced: it is cancelled without running,
 * since the allocator consumed the old value. The external size becomes `external_bytes`. Returns the
 * new address, or NULL with the last error set (TT_ENOMEM if alloc
 * failed: obj is unchanged; TT_ESTATE if obj was released; TT_EINVAL if
 * obj is not a foreign object). alloc runs with the heap lock held (see
 * tt_foreign_alloc). */
#define tt_foreign_allocate(t, obj, external_bytes, alloc, ctx, dealloc, env)                     \
    tt_foreign_allocate_at((t), (obj), (external_bytes), (alloc), (ctx), (dealloc), (env), \
                           TT_HERE)
TT_API void *tt_foreign_allocate_at(tt_thread *t, tt_ref obj, size_t external_bytes,
                                    void *(*alloc)(void *ctx), void *ctx, tt_cleanup_fn dealloc,
                                    void *env, const char *file, int line);

/* The foreign address of obj. After obj was released (explicitly or by
 * finalization) it returns NULL with TT_ESTATE ("foreign-after-release"
 * in checked mode), never the stale address. NULL with TT_EINVAL if obj
 * is not a foreign object. Any attached thread, through its own
 * tt_thread; in unchecked mode it takes no lock (two atomic loads), so it
 * is cheap enough for every call into the foreign code; a release racing
 * with it on another thread makes it return the address or NULL with
 * TT_ESTATE, nothing else. */
#define tt_foreign_addr(t, obj) tt_foreign_addr_at((t), (obj), TT_HERE)
TT_API void *tt_foreign_addr_at(tt_thread *t, tt_ref obj, const char *file, int line);

/* The foreign address of obj if its base cleanup (the one given to
 * tt_foreign_new or tt_foreign_alloc, or the deallocation tt_foreign_allocate
 * replaced it with) is fn with env: how a library recognises the foreign
 * objects it made, as luaL_checkudata does by metatable, before trusting
 * the address. NULL with TT_ETYPE if obj is a foreign object made with
 * another cleanup or env (an answer, not a misuse, so checked mode reports
 * nothing); otherwise the errors of tt_foreign_addr. One lock, like
 * tt_foreign_addr. Any attached thread, through its own tt_thread. */
#define tt_foreign_addr_if(t, obj, fn, env) tt_foreign_addr_if_at((t), (obj), (fn), (env), TT_HERE)
TT_API void *tt_foreign_addr_if_at(tt_thread *t, tt_ref obj, tt_cleanup_fn fn, const void *env,
                                   const char *file, int line);

/* The external size of a foreign object (0 after release). Works on a
 * released object. 0 with TT_EINVAL if obj is null, misaligned or not a
 * foreign object ("not-foreign" in checked mode, which also refuses a
 * reference that is not a live object of this heap); TT_ECLOSED for a dead
 * thread or heap. Any attached thread, through its own tt_thread. */
#define tt_foreign_size(t, obj) tt_foreign_size_at((t), (obj), TT_HERE)
TT_API size_t tt_foreign_size_at(tt_thread *t, tt_ref obj, const char *file, int line);

/* Whether a foreign object has been released: 1 or 0. Errors as
 * tt_foreign_size (0 on error). No lock in unchecked mode, as
 * tt_foreign_addr. */
#define tt_foreign_released(t, obj) tt_foreign_released_at((t), (obj), TT_HERE)
TT_API int tt_foreign_released_at(tt_thread *t, tt_ref obj, const char *file, int line);

/* Change the external size of a live foreign object by delta bytes (a
 * buffer that grew or shrank). A growth counts toward the next collection
 * and the heap limit like a new foreign object, and the call is a cleanup
 * point like tt_foreign_new. Returns TT_OK; TT_ERANGE if the size would
 * go below zero; TT_ENOMEM if growth passes the heap limit after a
 * collection (the size is unchanged); TT_ESTATE after release, and once
 * its release has begun (from inside its own last cleanup). */
#define tt_external_adjust(t, obj, delta) tt_external_adjust_at((t), (obj), (delta), TT_HERE)
TT_API int tt_external_adjust_at(tt_thread *t, tt_ref obj, ptrdiff_t delta, const char *file,
                                 int line);

/* ------------------------------------------------------------------ */
/* Cleanup stacks                                                       */

/* Push fn(env) onto obj's cleanup stack: a finalizer, or the release of
 * one retain. obj may be any live object. Returns TT_OK, TT_ENOMEM,
 * TT_EINVAL (fn NULL, obj not an object), TT_ESTATE (obj is a released
 * foreign object). */
#define tt_cleanup_push(t, obj, fn, env) tt_cleanup_push_at((t), (obj), (fn), (env), TT_HERE)
TT_API int tt_cleanup_push_at(tt_thread *t, tt_ref obj, tt_cleanup_fn fn, void *env,
                              const char *file, int line);

/* A retainer: call retain(env) (may be NULL) and push release(env) on
 * obj's stack, with the room for the release secured first, so a retain
 * is never left without its release. Errors as tt_cleanup_push; on error
 * retain was not called. retain runs with the heap lock held (see
 * tt_foreign_alloc). */
#define tt_cleanup_retain(t, obj, retain, release, env) \
    tt_cleanup_retain_at((t), (obj), (retain), (release), (env), TT_HERE)
TT_API int tt_cleanup_retain_at(tt_thread *t, tt_ref obj, void (*retain)(void *env),
                                tt_cleanup_fn release, void *env, const char *file, int line);

/* A deallocator or releaser: run the most recent remaining cleanup of obj
 * now, on the calling thread, and remove it. Returns TT_OK, or TT_ESTATE
 * if obj has no cleanup left ("cleanup-none" in checked mode). For a
 * foreign object, running the last cleanup releases it. */
#define tt_cleanup_run_last(t, obj) tt_cleanup_run_last_at((t), (obj), TT_HERE)
TT_API int tt_cleanup_run_last_at(tt_thread *t, tt_ref obj, const char *file, int line);

/* Run every remaining cleanup of obj now, newest first, exactly once; a
 * foreign object is then released (its address reads NULL, its external
 * bytes are given back) and dropped from wrapper tables. Releasing again
 * returns TT_ESTATE ("release-twice" in checked mode). An object without
 * cleanups that is not foreign: TT_OK, nothing to do. Cleanups that
 * release the same object from inside find nothing left. obj need not be
 * rooted: it is kept for the calls. On an unchecked heap, a foreign
 * object made by tt_foreign_new with 0 external bytes that holds nothing
 * else (no other cleanup, edge or guardian, no wrapper table) is released
 * without the heap lock: one atomic claim, then its cleanup runs on the
 * calling thread (two threads releasing it at once: one runs it, the
 * other gets TT_OK or TT_ESTATE). A cleanup must return normally (no
 * longjmp out of it). */
#define tt_release(t, obj) tt_release_at((t), (obj), TT_HERE)
TT_API int tt_release_at(tt_thread *t, tt_ref obj, const char *file, int line);

/* tt_release of obj if it is a foreign object whose base cleanup is fn
 * with env (as tt_foreign_addr_if tells): how a library releases only
 * what it made, in one call. TT_ETYPE if it was made with another
 * cleanup or env (nothing is done; no misuse even in checked mode);
 * otherwise the results of tt_release, and TT_EINVAL if obj is not a
 * foreign object ("not-foreign" in checked mode). Takes no lock where
 * tt_release takes none. */
#define tt_release_if(t, obj, fn, env) tt_release_if_at((t), (obj), (fn), (env), TT_HERE)
TT_API int tt_release_if_at(tt_thread *t, tt_ref obj, tt_cleanup_fn fn, const void *env,
                            const char *file, int line);

/* Number of cleanups still registered on obj (keep-alive edges and
 * guardian registrations are not counted). 0 on error: TT_EINVAL for a
 * null or misaligned reference (checked mode: "cleanup-not-object" for
 * anything that is not a live object of this heap); TT_ECLOSED for a dead
 * thread or heap. Any attached thread, through its own tt_thread. */
#define tt_cleanup_count(t, obj) tt_cleanup_count_at((t), (obj), TT_HERE)
TT_API size_t tt_cleanup_count_at(tt_thread *t, tt_ref obj, const char *file, int line);

/* Declare that b must outlive a: while a is alive b stays alive, and if
 * both die together every cleanup of a completes before any of b starts.
 * The edge is dropped when a's cleanups have all run (or a is released).
 * Returns TT_OK, TT_ENOMEM, TT_EINVAL. */
#define tt_keep_alive(t, a, b) tt_keep_alive_at((t), (a), (b), TT_HERE)
TT_API int tt_keep_alive_at(tt_thread *t, tt_ref a, tt_ref b, const char *file, int line);

/* ------------------------------------------------------------------ */
/* Cleanup contexts                                                     */

/* An explicit safe point: run up to `budget` pending cleanups (0: all) on
 * the calling thread, one at a time, in queue order. Returns how many
 * ran. A call from inside any cleanup or weak callback (however it was
 * started: the queue, tt_release, close) returns 0 at once, and so do the
 * other queue-running calls: queued cleanups never nest. */
#define tt_run_finalizers(t, budget) tt_run_finalizers_at((t), (budget), TT_HERE)
TT_API size_t tt_run_finalizers_at(tt_thread *t, size_t budget, const char *file, int line);

/* Items in the pending queue: dead objects whose cleanups have not all
 * run yet, and weak-reference callbacks not yet called. (One object may
 * carry several cleanups; tt_run_finalizers counts cleanups.) 0 on error
 * (TT_ECLOSED for a dead thread or heap). Any attached thread, through its
 * own tt_thread; takes the heap lock briefly. */
#define tt_pending_cleanups(t) tt_pending_cleanups_at((t), TT_HERE)
TT_API size_t tt_pending_cleanups_at(tt_thread *t, const char *file, int line);

/* Another runtime asks this heap to give memory back: collect, give every
 * empty block of the small-object space back to the operating system
 * (through the decommit page hook; ordinary collections keep empty blocks
 * for a second or more), then run every pending cleanup on the calling
 * thread. Returns the external bytes released by the cleanups (0 if called
 * from inside a cleanup, which only collects and gives blocks back). */
#define tt_collect_and_release(t) tt_collect_and_release_at((t), TT_HERE)
TT_API size_t tt_collect_and_release_at(tt_thread *t, const char *file, int line);

/* A guardian: a queue the program drains itself (Chez Scheme guardians,
 * Racket will executors). An object added to a guardian is, when a
 * collection finds it unreachable, kept alive and queued in the guardian
 * instead of having its cleanups queued; the program takes it back with
 * tt_guardian_next and decides (typically tt_release). Delivery happens
 * once per tt_guardian_add. The guardian itself is owned by the heap and
 * lives until tt_guardian_free or heap close; objects still queued in it
 * at free or close have their cleanups run by the shutdown order. */
typedef struct tt_guardian tt_guardian;

/* A new, empty guardian of t's heap; NULL with TT_ENOMEM. */
#define tt_guardian_new(t) tt_guardian_new_at((t), TT_HERE)
TT_API tt_guardian *tt_guardian_new_at(tt_thread *t, const char *file, int line);

/* Register obj with g. Returns TT_OK, TT_ENOMEM, TT_EINVAL. The guardian
 * calls taking a thread report, in every mode, a g that is not a live
 * guardian ("bad-guardian"; a freed one is recognized only in checked
 * mode) and a guardian of another heap than t's ("guardian-other-heap"),
 * both TT_EINVAL. */
#define tt_guardian_add(t, g, obj) tt_guardian_add_at((t), (g), (obj), TT_HERE)
TT_API int tt_guardian_add_at(tt_thread *t, tt_guardian *g, tt_ref obj, const char *file,
                              int line);

/* The next unreachable object of g, oldest first in dependency order, or
 * TT_NULL if none is queued. The object is no longer held by g: root it
 * (a local) before allocating. */
#define tt_guardian_next(t, g) tt_guardian_next_at((t), (g), TT_HERE)
TT_API tt_ref tt_guardian_next_at(tt_thread *t, tt_guardian *g, const char *file, int line);

/* Objects queued in g. Takes no thread: any thread may ask, attached or
 * not (it takes the heap lock briefly, so it waits for a collection in
 * progress). 0 on error: TT_EINVAL for NULL (no report); "bad-guardian"
 * (TT_EINVAL) for a pointer that is not a guardian (always to
 * tt_misuse_abort: there is no heap to take a handler from) or, in checked
 * mode, a guardian already freed; "heap-closed" (TT_ECLOSED) in checked
 * mode for a guardian whose heap was closed. */
#define tt_guardian_pending(g) tt_guardian_pending_at((g), TT_HERE)
TT_API size_t tt_guardian_pending_at(tt_guardian *g, const char *file, int line);

/* Free g. Objects queued in it go to the heap's pending cleanups; objects
 * registered and not yet dead are simply no longer guarded. */
#define tt_guardian_free(t, g) tt_guardian_free_at((t), (g), TT_HERE)
TT_API int tt_guardian_free_at(tt_thread *t, tt_guardian *g, const char *file, int line);

#ifdef __cplusplus
}
#endif
#endif
