/*
 * example_lua.c: a Lua 5.4 state and a tether heap sharing references
 * through the bridge (bridges/lua/tether_lua.h).
 *
 *   1. C keeps a Lua table alive with tt_lua_hold, and reads it back;
 *   2. Lua keeps a tether object alive through a userdata, and frees it
 *      early with a to-be-closed variable;
 *   3. a held value that C forgets is released on this thread at the next
 *      Lua collection cycle.
 */
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lualib.h>

#include "tether_lua.h"

static int buffers_freed;

static void free_buffer(tt_thread *t, tt_ref obj, void *env)
{
    (void)env;
    free(tt_foreign_addr(t, obj));
    buffers_freed++;
}

/* Lua: buffer(n) -> a tether foreign object owning n bytes of malloc. */
static int lua_buffer(lua_State *L)
{
    tt_lua *b = tt_lua_of(L);
    size_t n = (size_t)luaL_checkinteger(L, 1);
    tt_thread *t = lua_touserdata(L, lua_upvalueindex(1));
    void *mem = calloc(1, n);
    tt_ref o = mem ? tt_foreign_new(t, mem, n, free_buffer, NULL) : TT_NULL;
    if (tt_is_null(o)) {
        free(mem);
        return luaL_error(L, "buffer: out of memory");
    }
    if (tt_lua_push_object(b, o) != TT_OK) return luaL_error(L, "buffer: %s", tt_last_error()->message);
    return 1;
}

static void check(int ok, const char *what)
{
    printf("   %-58s %s\n", what, ok ? "ok" : "FAILED");
    if (!ok) exit(1);
}

int main(void)
{
    tt_heap *h = tt_heap_open(NULL);
    tt_thread *t = h ? tt_thread_attach(h) : NULL;
    lua_State *L = luaL_newstate();
    if (!t || !L) return 1;
    luaL_openlibs(L);
    tt_lua *b = tt_lua_open(L, t);
    if (!b) return 1;
    printf("tether + Lua 5.4 through the bridge\n");

    /* 1. C holds a Lua table. */
    tt_frame f = tt_frame_push(t, 1);
    luaL_dostring(L, "return {greeting = 'hello from Lua'}");
    tt_local held = tt_local_new(t, tt_lua_hold(b, -1));
    lua_pop(L, 1);
    lua_gc(L, LUA_GCCOLLECT); /* the table survives: C holds it */
    tt_lua_push_held(b, tt_local_get(t, held));
    lua_getfield(L, -1, "greeting");
    printf("1. C holds a Lua table; after a Lua collection it reads: %s\n", lua_tostring(L, -1));
    lua_pop(L, 2);
    tt_frame_pop(t, f, TT_NO_LOCAL);

    /* 2. Lua holds tether objects. */
    lua_pushlightuserdata(L, t);
    lua_pushcclosure(L, lua_buffer, 1);
    lua_setglobal(L, "buffer");
    luaL_dostring(L, "kept = buffer(4096)\n"
                     "do local scratch <close> = buffer(1024) end");
    tt_collect(t);
    tt_run_finalizers(t, 0);
    printf("2. Lua holds a buffer; a to-be-closed one was freed at its block's end\n");
    check(buffers_freed == 1, "the <close> buffer freed, the kept one alive");
    luaL_dostring(L, "kept = nil");
    lua_gc(L, LUA_GCCOLLECT); /* __gc frees the global */
    tt_collect(t);
    tt_run_finalizers(t, 0);
    check(buffers_freed == 2, "after Lua drops it and both collect, freed too");

    /* 3. C forgets a held value: released at the next Lua cycle. */
    lua_pushstring(L, "forgotten");
    (void)tt_lua_hold(b, -1);
    lua_pop(L, 1);
    tt_collect(t);
    lua_gc(L, LUA_GCCOLLECT);
    tt_lua_stats st;
    tt_lua_get_stats(b, &st);
    printf("3. C forgot a held string: tether found it dead, Lua's next cycle released it\n");
    check(st.held == 0 && st.released == 2, "no held value left, both released on this thread");

    tt_lua_close(b);
    lua_close(L);
    tt_thread_detach(t);
    tt_heap_close(h);
    return 0;
}
