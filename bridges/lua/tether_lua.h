/*
 * tether_lua.h: a bridge between a tether heap and a Lua 5.4 state.
 *
 * Two collectors, neither of which can see the other's references:
 *
 *  - Lua values held from C. tt_lua_hold makes a tether foreign object
 *    that owns a registry reference (luaL_ref) to the value. When tether
 *    finds the object unreachable it does not run the cleanup on whatever
 *    thread collects: the object goes to the bridge's guardian, and the
 *    bridge releases it (luaL_unref) on the thread that runs the Lua
 *    state, at its next bridge call or Lua collection cycle. Lua is
 *    single-threaded; the registry is never touched from another thread.
 *  - tether objects held from Lua. tt_lua_push_object pushes a full
 *    userdata holding a tether global reference; its __gc frees the
 *    global, and so does its __close, for prompt release with Lua 5.4's
 *    to-be-closed variables (`local f <close> = ...`).
 *
 * Memory pressure crosses in both directions: a held Lua string or
 * userdata counts its size as the foreign object's external bytes, so
 * tether collects when C holds much Lua memory; and pushing a tether
 * object whose external size is large steps Lua's collector by that many
 * kilobytes (lua_gc LUA_GCSTEP), so Lua collects when Lua holds much
 * tether memory.
 *
 * Threads: a bridge belongs to one OS thread, the one that runs the Lua
 * state and whose tether thread is given to tt_lua_open. Every call here
 * must be made by it (tether's checked mode reports another thread as
 * "wrong-thread").
 *
 * Shutdown: tt_lua_close, then lua_close, then tt_heap_close. A held
 * value whose foreign object outlives the bridge releases nothing (the
 * Lua state frees its registry as it closes).
 */
#ifndef TETHER_LUA_H
#define TETHER_LUA_H

#include <stddef.h>

#include <lua.h>
#include <tether.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tt_lua tt_lua;

/* Open a bridge between L and t, both run by the calling OS thread.
 * Registers in L the metatable of tether userdata ("tether.object") and a
 * sentinel whose finalizer drains the bridge on every Lua collection
 * cycle. Returns NULL with tether's last error set on failure (TT_ENOMEM;
 * TT_EINVAL for a null L or t; the errors of tt_guardian_new). One bridge
 * per Lua state: a second tt_lua_open on the same L fails with
 * TT_ESTATE. */
tt_lua *tt_lua_open(lua_State *L, tt_thread *t);

/* Close the bridge: release every held value whose object has died,
 * detach the bridge from L (its userdata then only free their globals),
 * and free it once no held value refers to it. Call before lua_close and
 * before tt_heap_close. Returns TT_OK, or TT_EINVAL for NULL. */
int tt_lua_close(tt_lua *b);

/* The bridge of L (set by tt_lua_open), or NULL. */
tt_lua *tt_lua_of(lua_State *L);

/* ---- Lua values held from C ---- */

/* A tether foreign object holding the Lua value at stack index idx (the
 * stack is unchanged). It keeps the value alive in Lua until the object
 * dies in tether (then released at the owner thread's next bridge call or
 * Lua collection cycle) or tt_lua_release. Its external size is the
 * value's size for a string or full userdata, otherwise 0; use
 * tt_lua_hold_sized to give one. Returns TT_NULL with tether's last error
 * set on failure (TT_ENOMEM, from tether or from Lua's allocator;
 * TT_ECLOSED for a closed bridge). A cleanup point: drains the bridge
 * first. */
tt_ref tt_lua_hold(tt_lua *b, int idx);
tt_ref tt_lua_hold_sized(tt_lua *b, int idx, size_t external_bytes);

/* Push onto L the value held by `held`. Returns TT_OK; TT_ESTATE if it
 * was released (nothing pushed); TT_EINVAL if held is not a held value of
 * this bridge (nothing pushed). */
int tt_lua_push_held(tt_lua *b, tt_ref held);

/* Release the held value now (luaL_unref), without waiting for tether's
 * collector; later pushes fail with TT_ESTATE. Returns TT_OK, or the
 * error of tt_release (TT_ESTATE: released already). */
int tt_lua_release(tt_lua *b, tt_ref held);

/* Release every held value whose object tether found dead. Returns how
 * many were released. Called by every bridge call and on every Lua
 * collection cycle; call it yourself at other safe points. */
size_t tt_lua_drain(tt_lua *b);

/* ---- tether objects held from Lua ---- */

/* Push onto L a full userdata holding a tether global reference to obj
 * (TT_NULL allowed). Its __gc and __close free the global. If obj is a
 * foreign object, its external size is reported to Lua as an allocation
 * of that many bytes (one collector step). Returns TT_OK, or TT_ENOMEM
 * (tether could not make the global; nothing pushed). Lua's own
 * allocation failure raises a Lua error, as lua_newuserdatauv does. */
int tt_lua_push_object(tt_lua *b, tt_ref obj);

/* The object held by the tether userdata at stack index idx: TT_NULL if
 * the value is not one, or its global was freed by __close. */
tt_ref tt_lua_to_object(tt_lua *b, int idx);

/* Counters, for tests and reports. */
typedef struct tt_lua_stats {
    size_t held;          /* held values not yet released */
    size_t released;      /* released by drains, tt_lua_release or close */
    size_t objects;       /* tether userdata whose global is not yet freed */
    size_t objects_freed; /* globals freed by __gc or __close */
    size_t drains;        /* drains that released at least one value */
    size_t lua_cycles;    /* Lua collection cycles seen (each drains) */
} tt_lua_stats;
void tt_lua_get_stats(const tt_lua *b, tt_lua_stats *out);

#ifdef __cplusplus
}
#endif
#endif
