/*
 * tether_lua.c: the Lua 5.4 bridge (see tether_lua.h).
 *
 * A held Lua value is a tether foreign object whose address is a small
 * record (struct held) naming its registry reference. The object is also
 * added to the bridge's guardian, so that when tether finds it dead it is
 * queued there instead of having its cleanup run by whichever thread
 * collected; the owner thread drains the guardian (tt_release) and the
 * cleanup unrefs on that thread. Objects still alive when the bridge
 * closes release nothing but their record: by then the Lua state is about
 * to free its registry itself.
 *
 * The bridge is freed when it is closed and the last held value's cleanup
 * has run (`live` counts the records), so a cleanup run at heap close,
 * after tt_lua_close, still finds it.
 */
#include "tether_lua.h"

#include <lauxlib.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#define LUA_SIG UINT64_C(0x74744c5541425231)
#define HELD_SIG UINT64_C(0x74744c554148454c)
#define OBJECT_MT "tether.object"
#define SENTINEL_MT "tether.sentinel"

/* The registry key of the bridge of a state: this variable's address. */
static const char bridge_key;

struct tt_lua {
    uint64_t sig;
    lua_State *L; /* NULL once closed */
    tt_thread *t;
    tt_guardian *g;
    tt_wtable *w; /* record address -> held object: which objects are ours */
    pthread_t owner;
    size_t live; /* held records not yet cleaned up; written by the owner,
                    or at heap close once the owner has closed the bridge */
    tt_lua_stats st;
};

struct held {
    uint64_t sig;
    tt_lua *b;
    int ref; /* in the registry of b->L; LUA_NOREF until made */
};

/* The userdata of a tether object held from Lua. */
struct object_ud {
    tt_thread *t;
    tt_global g; /* null once freed */
};

static void bridge_free(tt_lua *b)
{
    b->sig = 0;
    free(b);
}

/* The cleanup of a held value: unref on the owner thread while the
 * bridge is open, then drop the record. */
static void held_cleanup(tt_thread *t, tt_ref obj, void *env)
{
    tt_lua *b = env;
    struct held *hv = tt_foreign_addr(t, obj);
    if (b->L && pthread_equal(b->owner, pthread_self()))
        luaL_unref(b->L, LUA_REGISTRYINDEX, hv->ref);
    hv->sig = 0;
    free(hv);
    b->st.held--;
    b->st.released++;
    if (--b->live == 0 && !b->L) bridge_free(b);
}

tt_lua *tt_lua_of(lua_State *L)
{
    if (!L) return NULL;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &bridge_key);
    tt_lua *b = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return b;
}

size_t tt_lua_drain(tt_lua *b)
{
    if (!b || b->sig != LUA_SIG || !b->L) return 0;
    size_t n = 0;
    for (;;) {
        tt_ref obj = tt_guardian_next(b->t, b->g);
        if (tt_is_null(obj)) break;
        /* Released early already: the guardian still delivers it once. */
        if (!tt_foreign_released(b->t, obj) && tt_release(b->t, obj) == TT_OK) n++;
    }
    if (n) b->st.drains++;
    return n;
}

/* The sentinel's finalizer: a Lua collection cycle has run. Drain, and
 * make a new sentinel for the next cycle (unless the bridge is gone). */
static int sentinel_gc(lua_State *L)
{
    tt_lua *b = tt_lua_of(L);
    if (!b) return 0;
    b->st.lua_cycles++;
    tt_lua_drain(b);
    lua_newuserdatauv(L, 1, 0);
    luaL_setmetatable(L, SENTINEL_MT);
    lua_pop(L, 1);
    return 0;
}

static int object_release(lua_State *L)
{
    struct object_ud *u = luaL_checkudata(L, 1, OBJECT_MT);
    if (tt_global_is_null(u->g)) return 0;
    tt_global_free(u->t, u->g);
    u->g = (tt_global){0};
    tt_lua *b = tt_lua_of(L);
    if (b) {
        b->st.objects--;
        b->st.objects_freed++;
    }
    return 0;
}

tt_lua *tt_lua_open(lua_State *L, tt_thread *t)
{
    if (!L || !t) {
        tt_set_error(TT_EINVAL, "tt_lua_open: null Lua state or thread");
        return NULL;
    }
    if (tt_lua_of(L)) {
        tt_set_error(TT_ESTATE, "tt_lua_open: this Lua state has a bridge already");
        return NULL;
    }
    tt_lua *b = calloc(1, sizeof *b);
    if (!b) {
        tt_set_error(TT_ENOMEM, "tt_lua_open: out of memory");
        return NULL;
    }
    b->g = tt_guardian_new(t);
    b->w = b->g ? tt_wtable_new(t) : NULL;
    if (!b->w) {
        if (b->g) tt_guardian_free(t, b->g);
        free(b);
        return NULL;
    }
    b->L = L;
    b->t = t;
    b->owner = pthread_self();
    if (luaL_newmetatable(L, OBJECT_MT)) {
        lua_pushcfunction(L, object_release);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, object_release);
        lua_setfield(L, -2, "__close");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, SENTINEL_MT)) {
        lua_pushcfunction(L, sentinel_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    lua_pushlightuserdata(L, b);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &bridge_key);
    lua_newuserdatauv(L, 1, 0); /* the first sentinel */
    luaL_setmetatable(L, SENTINEL_MT);
    lua_pop(L, 1);
    b->sig = LUA_SIG;
    return b;
}

int tt_lua_close(tt_lua *b)
{
    if (!b || b->sig != LUA_SIG || !b->L) {
        tt_set_error(TT_EINVAL, "tt_lua_close: not an open bridge");
        return TT_EINVAL;
    }
    tt_lua_drain(b);
    lua_pushnil(b->L);
    lua_rawsetp(b->L, LUA_REGISTRYINDEX, &bridge_key);
    /* Objects still in the guardian have their cleanups run by the heap's
     * shutdown order; with L gone they only free their records. */
    tt_guardian_free(b->t, b->g);
    tt_wtable_free(b->t, b->w);
    b->L = NULL;
    if (b->live == 0) bridge_free(b);
    return TT_OK;
}

/* The record of a value held by this bridge, or NULL. The object's
 * address is read only once the bridge's table says the object is its
 * own: any other foreign object's memory is never touched. */
static struct held *held_of(tt_lua *b, tt_ref held)
{
    if (tt_is_null(held) || tt_type_of(held) != &tt_foreign_type) return NULL;
    struct held *hv = tt_foreign_addr(b->t, held);
    if (!hv || tt_wtable_get(b->t, b->w, hv).bits != held.bits) return NULL;
    return hv->sig == HELD_SIG && hv->b == b ? hv : NULL;
}

tt_ref tt_lua_hold_sized(tt_lua *b, int idx, size_t external_bytes)
{
    if (!b || b->sig != LUA_SIG || !b->L) {
        tt_set_error(TT_ECLOSED, "tt_lua_hold: not an open bridge");
        return TT_NULL;
    }
    lua_State *L = b->L;
    idx = lua_absindex(L, idx);
    tt_lua_drain(b);
    struct held *hv = malloc(sizeof *hv);
    if (!hv) {
        tt_set_error(TT_ENOMEM, "tt_lua_hold: out of memory");
        return TT_NULL;
    }
    *hv = (struct held){HELD_SIG, b, LUA_NOREF};
    /* No tether frame here: luaL_ref below may raise a Lua error, whose
     * longjmp would leave a frame open. Nothing after the object is made
     * can collect (tt_guardian_add never does; Lua allocates only Lua
     * memory), so the object needs no root until it is returned. */
    tt_ref obj = tt_wtable_wrap(b->t, b->w, hv, external_bytes, held_cleanup, b, NULL);
    if (tt_is_null(obj)) {
        free(hv);
        return TT_NULL;
    }
    b->live++;
    b->st.held++;
    if (tt_guardian_add(b->t, b->g, obj) != TT_OK) {
        tt_release(b->t, obj);
        return TT_NULL;
    }
    /* May raise a Lua memory error: the object then holds LUA_NOREF,
     * which its cleanup unrefs harmlessly once tether finds it dead. */
    lua_pushvalue(L, idx);
    hv->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return obj;
}

tt_ref tt_lua_hold(tt_lua *b, int idx)
{
    size_t bytes = 0;
    if (b && b->sig == LUA_SIG && b->L) {
        int ty = lua_type(b->L, idx);
        if (ty == LUA_TSTRING || ty == LUA_TUSERDATA) bytes = lua_rawlen(b->L, idx);
    }
    return tt_lua_hold_sized(b, idx, bytes);
}

int tt_lua_push_held(tt_lua *b, tt_ref held)
{
    if (!b || b->sig != LUA_SIG || !b->L) return tt_set_error(TT_ECLOSED, "tt_lua_push_held: not an open bridge");
    tt_lua_drain(b);
    if (!tt_is_null(held) && tt_type_of(held) == &tt_foreign_type && tt_foreign_released(b->t, held))
        return tt_set_error(TT_ESTATE, "tt_lua_push_held: the value was released");
    struct held *hv = held_of(b, held);
    if (!hv) return tt_set_error(TT_EINVAL, "tt_lua_push_held: not a value held by this bridge");
    lua_rawgeti(b->L, LUA_REGISTRYINDEX, hv->ref);
    return TT_OK;
}

int tt_lua_release(tt_lua *b, tt_ref held)
{
    if (!b || b->sig != LUA_SIG || !b->L) return tt_set_error(TT_ECLOSED, "tt_lua_release: not an open bridge");
    if (!tt_is_null(held) && tt_type_of(held) == &tt_foreign_type && tt_foreign_released(b->t, held))
        return tt_set_error(TT_ESTATE, "tt_lua_release: the value was released already");
    if (!held_of(b, held)) return tt_set_error(TT_EINVAL, "tt_lua_release: not a value held by this bridge");
    return tt_release(b->t, held);
}

int tt_lua_push_object(tt_lua *b, tt_ref obj)
{
    if (!b || b->sig != LUA_SIG || !b->L) return tt_set_error(TT_ECLOSED, "tt_lua_push_object: not an open bridge");
    lua_State *L = b->L;
    tt_lua_drain(b);
    size_t ext = 0;
    if (!tt_is_null(obj) && tt_type_of(obj) == &tt_foreign_type && !tt_foreign_released(b->t, obj))
        ext = tt_foreign_size(b->t, obj);
    /* The userdata first (a Lua error leaves nothing to undo), then the
     * global (which cannot raise). */
    struct object_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->t = b->t;
    u->g = (tt_global){0};
    luaL_setmetatable(L, OBJECT_MT);
    u->g = tt_global_new(b->t, obj);
    if (tt_global_is_null(u->g) && !tt_is_null(obj)) {
        lua_pop(L, 1);
        return tt_last_error()->code;
    }
    b->st.objects++;
    /* Lua sees only a small userdata: step its collector as if it had
     * allocated what the object holds. */
    if (ext >= 1024) lua_gc(L, LUA_GCSTEP, (int)(ext > ((size_t)INT32_MAX << 10) ? INT32_MAX : ext >> 10));
    return TT_OK;
}

tt_ref tt_lua_to_object(tt_lua *b, int idx)
{
    if (!b || b->sig != LUA_SIG || !b->L) return TT_NULL;
    struct object_ud *u = luaL_testudata(b->L, idx, OBJECT_MT);
    if (!u || tt_global_is_null(u->g)) return TT_NULL;
    return tt_global_get(u->t, u->g);
}

void tt_lua_get_stats(const tt_lua *b, tt_lua_stats *out)
{
    if (!out) return;
    if (!b || b->sig != LUA_SIG) {
        *out = (tt_lua_stats){0};
        return;
    }
    *out = b->st;
}
