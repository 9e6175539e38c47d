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

/* The key and value, or TT_NULL once the key died (or e is not an
 * ephemeron: TT_EINVAL). */
TT_API tt_ref tt_ephemeron_key(tt_thread *t, tt_ref e);
TT_API tt_ref tt_ephemeron_value(tt_thread *t, tt_ref e);

/* Replace the value (the key is fixed). TT_OK, TT_EINVAL, TT_ESTATE if the
 * key died. */
TT_API int tt_ephemeron_set_value(tt_thread *t, tt_ref e, tt_ref value);

/* ------------------------------------------------------------------ */
/* Wrapper tables                                                       */

/* A weak table from foreign address to the heap object that wraps it, so
 * that one foreign object maps to one wrapper. Entries do not keep their
 * wrapper alive: an entry goes away when its wrapper dies or is released
 * (tt_release of a foreign object drops it from every table). The table
 * is owned by the heap and freed by tt_wtable_free or heap close. */
typedef struct tt_wtable tt_wtable;

#define tt_wtable_new(t) tt_wtable_new_at((t), TT_HERE)
TT_API tt_wtable *tt_wtable_new_at(tt_thread *t, const char *file, int line);

/* The wrapper of addr, or TT_NULL if none (TT_NULL without error). */
TT_API tt_ref tt_wtable_get(tt_thread *t, tt_wtable *w, const void *addr);

/* Map addr to wrapper (replacing an earlier entry). TT_OK, TT_ENOMEM,
 * TT_EINVAL (addr NULL or wrapper not an object). */
#define tt_wtable_put(t, w, addr, wrapper) tt_wtable_put_at((t), (w), (addr), (wrapper), TT_HERE)
TT_API int tt_wtable_put_at(tt_thread *t, tt_wtable *w, const void *addr, tt_ref wrapper,
                            const char *file, int line);

/* Remove addr's entry. TT_OK, or TT_ESTATE if there was none. */
TT_API int tt_wtable_remove(tt_thread *t, tt_wtable *w, const void *addr);

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

/* Live entries. */
TT_API size_t tt_wtable_count(tt_wtable *w);

#define tt_wtable_free(t, w) tt_wtable_free_at((t), (w), TT_HERE)
TT_API int tt_wtable_free_at(tt_thread *t, tt_wtable *w, const char *file, int line);

#ifdef __cplusplus
}
#endif
#endif
