/*
 * tether/weak.h: weak references with callbacks, ephemerons, and wrapper
 * tables (weak tables keyed by foreign address).
 *
 * Weakness is decided on strong reachability: a weak reference, an
 * ephemeron's key and a wrapper-table entry are cleared by the collection
 * that finds their target reachable only through objects that are about
 * to be finalized. So a wrapper whose cleanups are pending is never handed
 * out again by a wrapper table.
 */
#ifndef TETHER_WEAK_H
#define TETHER_WEAK_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "cleanup.h"
#include "roots.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Called in a cleanup context after the target of weak reference w was
 * found dead (w reads TT_NULL by then). Freeing w before the callback ran
 * cancels it. */
typedef void (*tt_weak_fn)(tt_thread *t, tt_weak w, void *env);

/* A weak reference to r with a callback, queued with the pending cleanups
 * when r dies (see tether/cleanup.h for where those run). Errors as
 * tt_weak_new; fn NULL is TT_EINVAL. */
#define tt_weak_new_cb(t, r, fn, env) tt_weak_new_cb_at((t), (r), (fn), (env), TT_HERE)
TT_API tt_weak tt_weak_new_cb_at(tt_thread *t, tt_ref r, tt_weak_fn fn, void *env,
                                 const char *file, int line);

/* ------------------------------------------------------------------ */
/* Ephemerons                                                           */

/* An ephemeron is a heap object holding a key and a value: the value is
 * kept alive by the ephemeron only while the key is alive through other
 * paths, and a key referenced only by its own value does not keep itself
 * alive. When the key dies, both fields read TT_NULL. Ephemerons are
 * ordinary objects: keep them alive with locals, globals or fields. */
TT_API extern const struct tt_type tt_ephemeron_type;

/* A new ephemeron (TT_NULL with the last error set on failure). */
#define tt_ephemeron_new(t, key, value) tt_ephemeron_new_at((t), (key), (value), TT_HERE)
TT_API tt_ref tt_ephemeron_new_at(tt_thread *t, tt_ref key, tt_ref value, const char *file,
                                  int line);

/* The key and value, or TT_NULL once the key died. TT_NULL with TT_EINVAL
 * if e is null, misaligned or not an ephemeron (checked mode: misuse
 * "not-ephemeron", which also catches a reference that is not a live
 * object of this heap; without checked mode e must be an object, whose
 * header is read); TT_ECLOSED for a dead thread or heap. The result is an
 * ordinary strong tt_ref: root it before allocating. Any attached thread,
 * through its own tt_thread. */
#define tt_ephemeron_key(t, e) tt_ephemeron_key_at((t), (e), TT_HERE)
TT_API tt_ref tt_ephemeron_key_at(tt_thread *t, tt_ref e, const char *file, int line);
#define tt_ephemeron_value(t, e) tt_ephemeron_value_at((t), (e), TT_HERE)
TT_API tt_ref tt_ephemeron_value_at(tt_thread *t, tt_ref e, const char *file, int line);

/* Replace the value (the key is fixed). TT_OK; TT_EINVAL as for
 * tt_ephemeron_key ("not-ephemeron"); TT_ESTATE if the key died (the value
 * is not set). value must be TT_NULL or a live object of this heap:
 * checked mode reports anything else as "handle-not-object" (TT_EINVAL,
 * nothing set), and with cfg.forbid_resurrection a queued cleanup's own
 * dead object as "resurrection"; without checked mode it is not
 * validated. */
#define tt_ephemeron_set_value(t, e, value) tt_ephemeron_set_value_at((t), (e), (value), TT_HERE)
TT_API int tt_ephemeron_set_value_at(tt_thread *t, tt_ref e, tt_ref value, const char *file,
                                     int line);

/* ------------------------------------------------------------------ */
/* Wrapper tables                                                       */

/* A weak table from foreign address to the heap object that wraps it, so
 * that one foreign object maps to one wrapper. Entries do not keep their
 * wrapper alive: an entry goes away when its wrapper dies or is released
 * (tt_release of a foreign object drops it from every table). The table
 * is owned by the heap and freed by tt_wtable_free or heap close. */
typedef struct tt_wtable tt_wtable;

/* A new, empty wrapper table of t's heap; NULL with TT_ENOMEM. The calls
 * below that take a thread report, in every mode, a w that is not a live
 * wrapper table ("bad-wtable"; a freed one is recognized only in checked
 * mode) and a table of another heap than t's ("wtable-other-heap"), both
 * TT_EINVAL. Any attached thread may use a table, through its own
 * tt_thread. */
#define tt_wtable_new(t) tt_wtable_new_at((t), TT_HERE)
TT_API tt_wtable *tt_wtable_new_at(tt_thread *t, const char *file, int line);

/* The wrapper of addr, or TT_NULL if none (TT_NULL without error; also for
 * a NULL addr). The result is an ordinary strong tt_ref: root it before
 * allocating. */
#define tt_wtable_get(t, w, addr) tt_wtable_get_at((t), (w), (addr), TT_HERE)
TT_API tt_ref tt_wtable_get_at(tt_thread *t, tt_wtable *w, const void *addr, const char *file,
                               int line);

/* Map addr to wrapper (replacing an earlier entry). TT_OK, TT_ENOMEM,
 * TT_EINVAL (addr NULL or wrapper not an object). */
#define tt_wtable_put(t, w, addr, wrapper) tt_wtable_put_at((t), (w), (addr), (wrapper), TT_HERE)
TT_API int tt_wtable_put_at(tt_thread *t, tt_wtable *w, const void *addr, tt_ref wrapper,
                            const char *file, int line);

/* Remove addr's entry (the wrapper itself is not touched). TT_OK, or
 * TT_ESTATE if there was none. */
#define tt_wtable_remove(t, w, addr) tt_wtable_remove_at((t), (w), (addr), TT_HERE)
TT_API int tt_wtable_remove_at(tt_thread *t, tt_wtable *w, const void *addr, const char *file,
                               int line);

/* The canonical wrapper of a foreign address: the existing one if addr is
 * already wrapped, otherwise a new foreign object made by
 * tt_foreign_new(addr, external_bytes, fn, env) and entered in the table.
 * *created (may be NULL) says which. On failure TT_NULL; the caller still
 * owns addr. */
#define tt_wtable_wrap(t, w, addr, external_bytes, fn, env, created) \
    tt_wtable_wrap_at((t), (w), (addr), (external_bytes), (fn), (env), (created), TT_HERE)
TT_API tt_ref tt_wtable_wrap_at(tt_thread *t, tt_wtable *w, void *addr, size_t external_bytes,
                                tt_cleanup_fn fn, void *env, int *created,
                                const char *file, int line);

/* Entries (including those of wrappers unreachable but not yet
 * collected). Takes no thread: any thread may ask, attached or not (it
 * takes the heap lock briefly). 0 on error: TT_EINVAL for NULL (no report);
 * "bad-wtable" (TT_EINVAL) for a pointer that is not a wrapper table
 * (always to tt_misuse_abort: there is no heap to take a handler from) or,
 * in checked mode, a table already freed; "heap-closed" (TT_ECLOSED) in
 * checked mode for a table whose heap was closed. */
#define tt_wtable_count(w) tt_wtable_count_at((w), TT_HERE)
TT_API size_t tt_wtable_count_at(tt_wtable *w, const char *file, int line);

/* Free w and its entries (the wrappers are not touched). TT_OK, or
 * TT_EINVAL as above. After it, w is dead: using it is "bad-wtable". */
#define tt_wtable_free(t, w) tt_wtable_free_at((t), (w), TT_HERE)
TT_API int tt_wtable_free_at(tt_thread *t, tt_wtable *w, const char *file, int line);

#ifdef __cplusplus
}
#endif
#endif
