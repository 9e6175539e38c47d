/*
 * lua_pressure.c: the scenario of issue 7 on Lua 5.4. N items of 1 MiB,
 * only the last 10 reachable, through a Lua allocator capped at CAP MiB
 * and a tether heap limited to CAP MiB:
 *
 *   strings   each item is a Lua string of 1 MiB held from C by a tether
 *             foreign object; the last 10 are kept in a tether array.
 *   objects   each item is a tether foreign object owning 1 MiB of malloc
 *             memory, held from Lua by a userdata; the last 10 are kept
 *             in a Lua table.
 *
 * Each runs twice: with the bridge (tt_lua_hold, tt_lua_push_object), and
 * as a baseline doing what a program without it would: a registry
 * reference wrapped in a foreign object of no external size whose cleanup
 * unrefs (strings), and a userdata holding a tether global with a plain
 * __gc (objects). The report gives, per run, whether it completed (or the
 * item where it failed), peak Lua memory and peak RSS.
 *
 * Usage: lua_pressure [--check] [N]   (default 10000; CAP is 256)
 * With --check the exit status is 0 only if both bridge runs complete and
 * both baselines fail (the test); without it, 0 unless a bridge run fails
 * (the benchmark, bench/run.sh).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "capped_alloc.h"
#include "tether_lua.h"

#define MIB ((size_t)1 << 20)
#define KEEP 10
#define CAP_MIB 256

struct run {
    tt_heap *h;
    tt_thread *t;
    lua_State *L;
    tt_lua *b;
    struct capped mem;
    int bridge;
    tt_global keep; /* strings: the array of the last KEEP items */
};

/* ---- strings held from C ---- */

static void baseline_unref(tt_thread *t, tt_ref obj, void *env)
{
    int ref = (int)(intptr_t)tt_foreign_addr(t, obj);
    luaL_unref((lua_State *)env, LUA_REGISTRYINDEX, ref);
}

static int string_step(lua_State *L)
{
    struct run *r = lua_touserdata(L, 1);
    long i = (long)lua_tointeger(L, 2);
    static char buf[1 << 20];
    buf[0] = (char)i;
    lua_pushlstring(L, buf, sizeof buf);
    tt_ref held;
    if (r->bridge) {
        held = tt_lua_hold(r->b, -1);
    } else {
        /* A cleanup point as tt_lua_hold is: queued cleanups run here. */
        tt_run_finalizers(r->t, 0);
        lua_pushvalue(L, -1);
        int ref = luaL_ref(L, LUA_REGISTRYINDEX);
        held = tt_foreign_new(r->t, (void *)(intptr_t)ref, 0, baseline_unref, L);
    }
    if (tt_is_null(held)) return luaL_error(L, "tether: %s", tt_last_error()->message);
    tt_array_set(r->t, tt_global_get(r->t, r->keep), (size_t)(i % KEEP), held);
    return 0;
}

/* ---- tether objects held from Lua ---- */

static void *alloc_mib(void *ctx)
{
    (void)ctx;
    char *p = malloc(MIB);
    if (p) memset(p, 1, MIB); /* touched: it counts in RSS */
    return p;
}

static void free_mib(tt_thread *t, tt_ref obj, void *env)
{
    (void)env;
    free(tt_foreign_addr(t, obj));
}

static int baseline_gc(lua_State *L)
{
    tt_global *g = lua_touserdata(L, 1);
    struct run *r = lua_touserdata(L, lua_upvalueindex(1));
    if (!tt_global_is_null(*g)) tt_global_free(r->t, *g);
    *g = (tt_global){0};
    return 0;
}

static int object_step(lua_State *L)
{
    struct run *r = lua_touserdata(L, 1);
    tt_ref o = tt_foreign_alloc(r->t, MIB, alloc_mib, NULL, free_mib, NULL);
    if (tt_is_null(o)) return luaL_error(L, "tether: %s", tt_last_error()->message);
    if (r->bridge) {
        if (tt_lua_push_object(r->b, o) != TT_OK) return luaL_error(L, "tether: %s", tt_last_error()->message);
    } else {
        tt_run_finalizers(r->t, 0);
        tt_global *g = lua_newuserdatauv(L, sizeof *g, 0);
        *g = tt_global_new(r->t, o);
        luaL_setmetatable(L, "baseline.object");
    }
    return 1;
}

/* Run one scenario in a child process, so that each run's peak RSS is its
 * own. Returns the items completed (n if all), via the exit status and a
 * line printed by the child. */
static long run_one(const char *what, int bridge, long n)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        struct run r = {.bridge = bridge, .mem = {0, 0, (size_t)CAP_MIB * MIB}};
        tt_config cfg;
        tt_config_init(&cfg);
        cfg.max_size = (size_t)CAP_MIB * MIB;
        r.h = tt_heap_open(&cfg);
        r.t = r.h ? tt_thread_attach(r.h) : NULL;
        r.L = lua_newstate(capped_alloc, &r.mem);
        if (!r.t || !r.L) _exit(2);
        luaL_openlibs(r.L);
        if (bridge && !(r.b = tt_lua_open(r.L, r.t))) _exit(2);
        luaL_newmetatable(r.L, "baseline.object");
        lua_pushlightuserdata(r.L, &r);
        lua_pushcclosure(r.L, baseline_gc, 1);
        lua_setfield(r.L, -2, "__gc");
        lua_pop(r.L, 1);
        r.keep = tt_global_new(r.t, tt_alloc_array(r.t, &tt_refs_type, KEEP));
        int strings = strcmp(what, "strings") == 0;
        lua_pushcfunction(r.L, strings ? string_step : object_step);
        lua_setglobal(r.L, "step");
        lua_pushlightuserdata(r.L, &r);
        lua_setglobal(r.L, "run");
        char code[256];
        snprintf(code, sizeof code,
                 "local keep = {} for i = 0, %ld - 1 do done = i; keep[i %% %d] = step(run, i) end done = %ld",
                 n, KEEP, n);
        long done = 0;
        const char *err = NULL;
        if (luaL_dostring(r.L, code) != LUA_OK) err = lua_tostring(r.L, -1);
        lua_getglobal(r.L, "done");
        done = (long)lua_tointeger(r.L, -1);
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        tt_stats st;
        tt_heap_stats(r.h, &st);
        printf("  %-8s %-9s %-10s %6ld of %ld items  peak Lua memory %6.1f MiB  peak RSS %6.1f MiB  "
               "tether collections %4llu  peak external %6.1f MiB%s%s\n",
               what, bridge ? "bridge" : "baseline", done == n ? "completed" : "FAILED", done, n,
               (double)r.mem.peak / (double)MIB, (double)ru.ru_maxrss / 1024.0,
               (unsigned long long)st.collections, (double)st.external_bytes_peak / (double)MIB,
               err ? "\n           " : "", err ? err : "");
        fflush(stdout);
        _exit(done == n ? 0 : 1);
    }
    int status;
    if (waitpid(pid, &status, 0) < 0) return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? n : 0;
}

int main(int argc, char **argv)
{
    int check = 0;
    long n = 10000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--check") == 0) check = 1;
        else n = atol(argv[i]);
    }
    if (n <= 0) return 2;
    printf("lua_pressure: %ld items of 1 MiB, last %d kept, Lua allocator and tether heap capped at %d MiB\n",
           n, KEEP, CAP_MIB);
    int bad = 0;
    const char *kinds[] = {"strings", "objects"};
    for (int k = 0; k < 2; k++) {
        if (run_one(kinds[k], 1, n) != n) bad = 1;
        long base = run_one(kinds[k], 0, n);
        if (check && base == n) {
            printf("  %s baseline completed: the scenario does not show what the bridge is for\n",
                   kinds[k]);
            bad = 1;
        }
    }
    return bad;
}
