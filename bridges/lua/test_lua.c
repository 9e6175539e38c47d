/*
 * test_lua.c: the Lua 5.4 bridge against a real Lua state. Lua values
 * held from C (kept alive in Lua while held, released on the owner
 * thread only, by drains and by Lua collection cycles, early by
 * tt_lua_release); tether objects held from Lua (__gc, __close); memory
 * pressure in both directions; the shutdown order; refused calls.
 * Run with TT_CHECKED=0 and =1.
 */
#include <pthread.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "capped_alloc.h"
#include "tether_lua.h"
#include "tt_test.h"

static tt_heap *h;
static tt_thread *t;
static lua_State *L;
static tt_lua *b;

static void open_all(void)
{
    h = tt_heap_open(NULL);
    REQUIRE(h != NULL);
    t = tt_thread_attach(h);
    REQUIRE(t != NULL);
    L = luaL_newstate();
    REQUIRE(L != NULL);
    luaL_openlibs(L);
    b = tt_lua_open(L, t);
    REQUIRE(b != NULL);
}

static void close_all(void)
{
    CHECK_EQ(tt_lua_close(b), TT_OK);
    lua_close(L);
    tt_thread_detach(t);
    tt_heap_close(h);
}

static tt_lua_stats stats(void)
{
    tt_lua_stats s;
    memset(&s, 0xa5, sizeof s);
    tt_lua_get_stats(b, &s);
    return s;
}

static void run_lua(const char *code)
{
    if (luaL_dostring(L, code) != LUA_OK) {
        fprintf(stderr, "lua: %s\n", lua_tostring(L, -1));
        CHECK(0);
        lua_pop(L, 1);
    }
}

/* The number of entries of the Lua table global `name` (a weak table the
 * tests use to see whether Lua collected a value). */
static int weak_count(const char *name)
{
    lua_getglobal(L, name);
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        n++;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return n;
}

/* A held string comes back equal; a held table keeps Lua from collecting
 * it; release lets Lua collect it and later pushes fail. */
static void test_hold_push_release(void)
{
    open_all();
    tt_frame f = tt_frame_push(t, 2);
    lua_pushstring(L, "hello from lua");
    tt_local ls = tt_local_new(t, tt_lua_hold(b, -1));
    lua_pop(L, 1);
    run_lua("seen = setmetatable({}, {__mode = 'k'}); local x = {}; seen[x] = true; held = x");
    lua_getglobal(L, "held");
    tt_local lt = tt_local_new(t, tt_lua_hold(b, -1));
    lua_pop(L, 1);
    run_lua("held = nil");
    CHECK_EQU(stats().held, 2);
    /* External size: the string's length. */
    CHECK_EQU(tt_foreign_size(t, tt_local_get(t, ls)), strlen("hello from lua"));

    lua_gc(L, LUA_GCCOLLECT);
    CHECK_EQ(weak_count("seen"), 1); /* held from C: alive */
    CHECK_EQ(tt_lua_push_held(b, tt_local_get(t, ls)), TT_OK);
    CHECK_STREQ(lua_tostring(L, -1), "hello from lua");
    lua_pop(L, 1);
    CHECK_EQ(tt_lua_push_held(b, tt_local_get(t, lt)), TT_OK);
    CHECK_EQ(lua_type(L, -1), LUA_TTABLE);
    lua_pop(L, 1);

    CHECK_EQ(tt_lua_release(b, tt_local_get(t, lt)), TT_OK);
    CHECK_EQU(stats().held, 1);
    CHECK_EQU(stats().released, 1);
    lua_gc(L, LUA_GCCOLLECT);
    CHECK_EQ(weak_count("seen"), 0); /* released: Lua collected it */
    int top = lua_gettop(L);
    CHECK_EQ(tt_lua_push_held(b, tt_local_get(t, lt)), TT_ESTATE);
    CHECK_EQ(tt_lua_release(b, tt_local_get(t, lt)), TT_ESTATE);
    CHECK_EQ(lua_gettop(L), top);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    close_all();
}

/* A held value tether finds dead is released by the next drain, on this
 * thread, and Lua can then collect it. */
static void test_dead_released_by_drain(void)
{
    open_all();
    run_lua("seen = setmetatable({}, {__mode = 'k'}); local x = {}; seen[x] = true; held = x");
    lua_getglobal(L, "held");
    (void)tt_lua_hold(b, -1); /* not rooted in tether */
    lua_pop(L, 1);
    run_lua("held = nil");
    CHECK_EQ(tt_collect(t), TT_OK);
    lua_gc(L, LUA_GCSTOP); /* no Lua cycle may drain for us */
    CHECK_EQU(stats().released, 0);
    CHECK_EQU(tt_lua_drain(b), 1);
    CHECK_EQU(stats().released, 1);
    CHECK_EQU(stats().held, 0);
    CHECK_EQU(tt_lua_drain(b), 0);
    lua_gc(L, LUA_GCRESTART);
    lua_gc(L, LUA_GCCOLLECT);
    CHECK_EQ(weak_count("seen"), 0);
    close_all();
}

/* A Lua collection cycle drains by itself (the sentinel's __gc). */
static void test_lua_cycle_drains(void)
{
    open_all();
    for (int i = 0; i < 10; i++) {
        lua_pushfstring(L, "value %d", i);
        (void)tt_lua_hold(b, -1);
        lua_pop(L, 1);
    }
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK_EQU(stats().released, 0);
    size_t cycles = stats().lua_cycles;
    lua_gc(L, LUA_GCCOLLECT);
    CHECK(stats().lua_cycles > cycles);
    CHECK_EQU(stats().released, 10);
    lua_gc(L, LUA_GCCOLLECT); /* the sentinel re-armed itself */
    CHECK(stats().lua_cycles > cycles + 1);
    close_all();
}

/* Another thread of the heap collects: the dead held values wait in the
 * guardian for the owner, and nothing touches the Lua state meanwhile
 * (ThreadSanitizer would see it). */
static void *collect_elsewhere(void *arg)
{
    (void)arg;
    tt_thread *t2 = tt_thread_attach(h);
    if (!t2) return NULL;
    tt_collect(t2);
    tt_run_finalizers(t2, 0);
    tt_thread_detach(t2);
    return NULL;
}

static void test_other_thread_collects(void)
{
    open_all();
    for (int i = 0; i < 5; i++) {
        lua_pushfstring(L, "value %d", i);
        (void)tt_lua_hold(b, -1);
        lua_pop(L, 1);
    }
    pthread_t th;
    CHECK_EQ(tt_foreign_region_enter(t), TT_OK);
    REQUIRE(pthread_create(&th, NULL, collect_elsewhere, NULL) == 0);
    pthread_join(th, NULL);
    CHECK_EQ(tt_foreign_region_leave(t), TT_OK);
    CHECK_EQU(stats().released, 0);
    CHECK_EQU(tt_lua_drain(b), 5);
    close_all();
}

/* A tether object pushed to Lua stays alive while Lua holds it; __gc
 * frees the global when Lua drops it; __close frees it at once. */
static int cleanups_run;
static void count_cleanup(tt_thread *tc, tt_ref obj, void *env)
{
    (void)tc;
    (void)obj;
    (void)env;
    cleanups_run++;
}

static int make_object(lua_State *Ls)
{
    tt_lua *bl = tt_lua_of(Ls);
    tt_ref o = tt_foreign_new(t, NULL, (size_t)luaL_optinteger(Ls, 1, 0), count_cleanup, NULL);
    if (tt_is_null(o) || tt_lua_push_object(bl, o) != TT_OK) return luaL_error(Ls, "make: %s", tt_last_error()->message);
    return 1;
}

static void test_objects_held_from_lua(void)
{
    open_all();
    cleanups_run = 0;
    lua_register(L, "make", make_object);
    run_lua("kept = make()");
    lua_getglobal(L, "kept");
    tt_ref o = tt_lua_to_object(b, -1);
    CHECK(!tt_is_null(o));
    lua_pop(L, 1);
    CHECK_EQU(stats().objects, 1);
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK_EQ(tt_run_finalizers(t, 0), 0);
    CHECK_EQ(cleanups_run, 0); /* Lua holds it */

    run_lua("kept = nil");
    lua_gc(L, LUA_GCCOLLECT);
    CHECK_EQU(stats().objects, 0);
    CHECK_EQU(stats().objects_freed, 1);
    CHECK_EQ(tt_collect(t), TT_OK);
    tt_run_finalizers(t, 0);
    CHECK_EQ(cleanups_run, 1);

    /* To-be-closed: freed at the end of the block, before any collection. */
    lua_gc(L, LUA_GCSTOP);
    run_lua("do local o <close> = make() end");
    CHECK_EQU(stats().objects_freed, 2);
    CHECK_EQ(tt_collect(t), TT_OK);
    tt_run_finalizers(t, 0);
    CHECK_EQ(cleanups_run, 2);
    lua_gc(L, LUA_GCRESTART);

    /* Not a tether userdata: TT_NULL. */
    lua_pushinteger(L, 3);
    CHECK(tt_is_null(tt_lua_to_object(b, -1)));
    lua_pop(L, 1);
    close_all();
}

/* Pressure, both ways: a held 1 MiB string counts in tether's external
 * bytes; tether objects with 1 MiB external each make Lua collect,
 * though Lua itself allocates only small userdata. */
static void test_pressure_both_ways(void)
{
    open_all();
    tt_frame f = tt_frame_push(t, 1);
    size_t big = (size_t)1 << 20;
    char *buf = calloc(1, big);
    REQUIRE(buf != NULL);
    lua_pushlstring(L, buf, big);
    free(buf);
    tt_local l = tt_local_new(t, tt_lua_hold(b, -1));
    lua_pop(L, 1);
    tt_stats st;
    tt_heap_stats(h, &st);
    CHECK(st.external_bytes >= big);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    (void)l;

    lua_register(L, "make", make_object);
    size_t cycles = stats().lua_cycles;
    run_lua("for i = 1, 200 do local o = make(1048576) end");
    CHECK(stats().lua_cycles > cycles);
    /* Without the step, the same loop of small userdata runs no cycle:
     * the baseline the step is measured against. */
    cycles = stats().lua_cycles;
    run_lua("for i = 1, 200 do local o = make(0) end");
    CHECK_EQU(stats().lua_cycles, cycles);
    close_all();
}

/* The shutdown order: held values alive at tt_lua_close release nothing
 * afterwards (Lua frees its registry), and their records are freed by
 * tether's cleanups at heap close (the leak checkers see any left). */
static void test_close_with_values_held(void)
{
    open_all();
    tt_global g;
    lua_pushstring(L, "kept past the bridge");
    g = tt_global_new(t, tt_lua_hold(b, -1));
    lua_pop(L, 1);
    lua_pushstring(L, "dead before the bridge closes");
    (void)tt_lua_hold(b, -1);
    lua_pop(L, 1);
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK_EQ(tt_lua_close(b), TT_OK); /* drains the dead one */
    lua_close(L);
    tt_global_free(t, g);
    CHECK_EQ(tt_collect(t), TT_OK);
    tt_run_finalizers(t, 0);
    tt_thread_detach(t);
    tt_heap_close(h);
}

/* A Lua memory error inside tt_lua_hold (the registry cannot grow):
 * raised to the protected caller as Lua does, leaving a foreign object
 * that holds no reference and whose cleanup releases nothing (ASan and
 * the counters see any leak). */

static int hold_many(lua_State *Ls)
{
    tt_lua *bl = tt_lua_of(Ls);
    for (int i = 0; i < 100000; i++) {
        lua_pushinteger(Ls, i);
        (void)tt_lua_hold(bl, -1);
        lua_pop(Ls, 1);
    }
    return 0;
}

static void test_lua_memory_error(void)
{
    h = tt_heap_open(NULL);
    REQUIRE(h != NULL);
    t = tt_thread_attach(h);
    struct capped mem = {0, 0, 256 * 1024};
    L = lua_newstate(capped_alloc, &mem);
    REQUIRE(L != NULL);
    b = tt_lua_open(L, t);
    REQUIRE(b != NULL);
    lua_pushcfunction(L, hold_many);
    CHECK_EQ(lua_pcall(L, 0, 0, 0), LUA_ERRMEM); /* the registry filled the cap */
    lua_pop(L, 1);
    size_t held = stats().held;
    CHECK(held > 1000);
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK_EQU(tt_lua_drain(b), held); /* every one, the last without a reference */
    CHECK_EQU(stats().held, 0);
    close_all();
}

/* Refusals: a second bridge on one state; a foreign object the bridge did
 * not make; null arguments. */
static void test_refused(void)
{
    open_all();
    CHECK(tt_lua_open(L, t) == NULL);
    CHECK_ERR(TT_ESTATE);
    CHECK(tt_lua_open(NULL, t) == NULL);
    CHECK_ERR(TT_EINVAL);
    tt_frame f = tt_frame_push(t, 1);
    int x = 0;
    tt_local l = tt_local_new(t, tt_foreign_new(t, &x, 0, NULL, NULL));
    CHECK_EQ(tt_lua_push_held(b, tt_local_get(t, l)), TT_EINVAL);
    CHECK_EQ(tt_lua_release(b, tt_local_get(t, l)), TT_EINVAL);
    CHECK_EQ(tt_release(t, tt_local_get(t, l)), TT_OK);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    CHECK(tt_lua_of(L) == b);
    close_all();
    CHECK_EQ(tt_lua_close(NULL), TT_EINVAL);
}

int main(void)
{
    RUN(test_hold_push_release);
    RUN(test_dead_released_by_drain);
    RUN(test_lua_cycle_drains);
    RUN(test_other_thread_collects);
    RUN(test_objects_held_from_lua);
    RUN(test_pressure_both_ways);
    RUN(test_close_with_values_held);
    RUN(test_lua_memory_error);
    RUN(test_refused);
    return tt_test_done();
}
