/*
 * test_roots.c: local frames, global references and weak references.
 * Frames nest; capacity is a guarantee, also for large capacities; the
 * escape is carried into the parent; stale locals, freed globals and weak
 * references give TT_NULL / TT_ESTALE with checked mode off (checked mode
 * turns the same calls into misuse reports: see test_misuse.c and
 * test_death.c); weak references are cleared exactly when their target
 * dies.
 */
#include "tt_test.h"

struct pair {
    tt_ref a, b;
    uint64_t v;
};
static const tt_type pair_type = TT_TYPE_INIT(struct pair, a, b);

static tt_heap *h;
static tt_thread *t;

static void open_mode(int checked)
{
    h = tt_test_open(checked);
    t = h ? tt_thread_attach(h) : NULL;
    if (!t) {
        fprintf(stderr, "cannot open a heap: %s\n", tt_last_error()->message);
        exit(2);
    }
}

static void open_heap(void) { open_mode(TT_CHECKED_DEFAULT); }

static void close_heap(void)
{
    tt_thread_detach(t);
    tt_heap_close(h);
    h = NULL;
    t = NULL;
}

static tt_stats stats(void) { return tt_test_stats(h); }

static tt_ref new_pair(uint64_t v)
{
    tt_ref r = tt_alloc(t, &pair_type);
    if (!tt_is_null(r)) TT_PTR(struct pair, r)->v = v;
    return r;
}

static uint64_t value_of(tt_ref r) { return tt_is_null(r) ? UINT64_MAX : TT_PTR(struct pair, r)->v; }

static void test_frames_nest(void)
{
    open_heap();
    tt_frame f1 = tt_frame_push(t, 3);
    REQUIRE(!tt_frame_is_null(f1));
    tt_local a = tt_local_new(t, new_pair(1));
    tt_local b = tt_local_new(t, new_pair(2));
    tt_frame f2 = tt_frame_push(t, 2);
    REQUIRE(!tt_frame_is_null(f2));
    CHECK(f1.bits != f2.bits);
    tt_local c = tt_local_new(t, new_pair(3));
    tt_frame f3 = tt_frame_push(t, 0);
    REQUIRE(!tt_frame_is_null(f3));
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK_EQU(value_of(tt_local_get(t, a)), 1);
    CHECK_EQU(value_of(tt_local_get(t, b)), 2);
    CHECK_EQU(value_of(tt_local_get(t, c)), 3);
    CHECK(tt_local_is_null(tt_frame_pop(t, f3, TT_NO_LOCAL)));
    CHECK(tt_local_is_null(tt_frame_pop(t, f2, TT_NO_LOCAL)));
    /* f1's locals are still good; a new local reuses f2's slots. */
    CHECK_EQU(value_of(tt_local_get(t, a)), 1);
    CHECK_EQU(value_of(tt_local_get(t, b)), 2);
    tt_local d = tt_local_new(t, new_pair(4));
    CHECK_EQU(value_of(tt_local_get(t, d)), 4);
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK_EQU(stats().live_objects, 3);
    CHECK(tt_local_is_null(tt_frame_pop(t, f1, TT_NO_LOCAL)));
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK_EQU(stats().live_objects, 0);
    close_heap();
}

/* Capacity is a guarantee: `capacity` locals always fit, whatever the
 * frame depth, also in checked mode. */
static void test_capacity_guarantee(void)
{
    static const size_t caps[] = {0, 1, 2, 15, 16, 17, 255, 256, 257, 1000, 4096, 100000, 1 << 20};
    open_heap();
    for (size_t k = 0; k < sizeof caps / sizeof caps[0]; k++) {
        size_t cap = caps[k];
        tt_frame f = tt_frame_push(t, cap);
        REQUIRE(!tt_frame_is_null(f));
        int fails = 0;
        tt_local first = TT_NO_LOCAL, last = TT_NO_LOCAL;
        for (size_t i = 0; i < cap; i++) {
            /* allocate for a few, plain nulls for the rest (fast) */
            tt_ref r = i < 2000 ? new_pair(i) : TT_NULL;
            tt_local l = tt_local_new(t, r);
            if (tt_local_is_null(l)) fails++;
            if (i == 0) first = l;
            last = l;
        }
        CHECK_EQ(fails, 0);
        if (cap) {
            CHECK_EQ(tt_collect(t), TT_OK);
            CHECK_EQU(value_of(tt_local_get(t, first)), 0);
            CHECK_EQU(stats().live_objects, cap < 2000 ? cap : 2000);
            if (cap <= 2000) CHECK_EQU(value_of(tt_local_get(t, last)), cap - 1);
            else CHECK(tt_is_null(tt_local_get(t, last)));
        }
        tt_frame_pop(t, f, TT_NO_LOCAL);
    }
    /* The largest capacity there is. */
    tt_frame f = tt_frame_push(t, TT_FRAME_MAX_CAPACITY);
    CHECK(!tt_frame_is_null(f));
    if (!tt_frame_is_null(f)) {
        tt_local l = tt_local_new(t, new_pair(77));
        CHECK(!tt_local_is_null(l));
        for (int i = 0; i < 1000; i++) CHECK(!tt_local_is_null(tt_local_new(t, TT_NULL)));
        CHECK_EQ(tt_collect(t), TT_OK);
        CHECK_EQU(value_of(tt_local_get(t, l)), 77);
        tt_frame_pop(t, f, TT_NO_LOCAL);
    }
    close_heap();
}

/* Capacity is guaranteed inside nested frames too, at every depth. */
static void test_deep_nesting(void)
{
    enum { DEPTH = 5000 };
    open_heap();
    static tt_frame fr[DEPTH];
    static tt_local loc[DEPTH][3];
    for (int d = 0; d < DEPTH; d++) {
        fr[d] = tt_frame_push(t, 3);
        REQUIRE(!tt_frame_is_null(fr[d]));
        for (int k = 0; k < 3; k++) {
            loc[d][k] = tt_local_new(t, d % 50 == 0 ? new_pair((uint64_t)(d * 3 + k)) : TT_NULL);
            CHECK(!tt_local_is_null(loc[d][k]));
        }
    }
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK_EQU(stats().live_objects, (DEPTH / 50) * 3);
    for (int d = DEPTH - 1; d >= 0; d--) {
        if (d % 50 == 0)
            for (int k = 0; k < 3; k++)
                CHECK_EQU(value_of(tt_local_get(t, loc[d][k])), (uint64_t)(d * 3 + k));
        tt_local e = tt_frame_pop(t, fr[d], TT_NO_LOCAL);
        CHECK(tt_local_is_null(e));
    }
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK_EQU(stats().live_objects, 0);
    close_heap();
}

/* Popping with an escape carries the reference into a new local of the
 * parent, beyond the parent's capacity. */
static void test_escape(void)
{
    open_heap();
    tt_frame outer = tt_frame_push(t, 1);
    tt_local o = tt_local_new(t, new_pair(10)); /* outer is now full */
    tt_frame inner = tt_frame_push(t, 2);
    tt_local x = tt_local_new(t, new_pair(20));
    tt_local y = tt_local_new(t, new_pair(30));
    (void)y;
    tt_local e = tt_frame_pop(t, inner, x);
    CHECK(!tt_local_is_null(e));
    CHECK_EQU(value_of(tt_local_get(t, e)), 20);
    CHECK_EQU(value_of(tt_local_get(t, o)), 10);
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK_EQU(stats().live_objects, 2); /* 10 and 20; 30 died with inner */
    CHECK_EQU(value_of(tt_local_get(t, e)), 20);
    /* The escaped local can be set, and escaped again from the parent. */
    CHECK_EQ(tt_local_set(t, e, new_pair(21)), TT_OK);
    tt_local e2 = tt_frame_pop(t, outer, e);
    CHECK(!tt_local_is_null(e2));
    CHECK_EQU(value_of(tt_local_get(t, e2)), 21);
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK_EQU(stats().live_objects, 1);

    /* Escaping a local of an outer frame carries it too. */
    tt_frame f1 = tt_frame_push(t, 1);
    tt_local a = tt_local_new(t, new_pair(40));
    tt_frame f2 = tt_frame_push(t, 0);
    tt_local ea = tt_frame_pop(t, f2, a);
    CHECK(!tt_local_is_null(ea));
    CHECK_EQU(value_of(tt_local_get(t, ea)), 40);
    CHECK_EQU(value_of(tt_local_get(t, a)), 40);
    /* Escaping a null reference gives a local holding null. */
    tt_frame f3 = tt_frame_push(t, 1);
    tt_local n = tt_local_new(t, TT_NULL);
    tt_local en = tt_frame_pop(t, f3, n);
    CHECK(!tt_local_is_null(en));
    CHECK(tt_is_null(tt_local_get(t, en)));
    tt_frame_pop(t, f1, TT_NO_LOCAL);
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK_EQU(stats().live_objects, 1); /* e2's 21 in the base frame */
    close_heap();
}

/* Escapes in a loop never exhaust the parent: each pop with an escape
 * adds one local to the parent, beyond its capacity, guaranteed. */
static void test_escape_many(void)
{
    open_heap();
    tt_frame outer = tt_frame_push(t, 0);
    enum { N = 3000 };
    static tt_local got[N];
    for (int i = 0; i < N; i++) {
        tt_frame f = tt_frame_push(t, 1);
        REQUIRE(!tt_frame_is_null(f));
        tt_local l = tt_local_new(t, new_pair((uint64_t)i));
        got[i] = tt_frame_pop(t, f, l);
        CHECK(!tt_local_is_null(got[i]));
    }
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK_EQU(stats().live_objects, N);
    int bad = 0;
    for (int i = 0; i < N; i++) bad += value_of(tt_local_get(t, got[i])) != (uint64_t)i;
    CHECK_EQ(bad, 0);
    tt_frame_pop(t, outer, TT_NO_LOCAL);
    close_heap();
}

/* Checked mode off: stale locals give TT_NULL and TT_ESTALE, and nothing
 * else happens. */
static void test_stale_locals_unchecked(void)
{
    open_mode(TT_CHECKED_OFF);
    tt_frame f = tt_frame_push(t, 2);
    tt_local l = tt_local_new(t, new_pair(1));
    tt_local m = tt_local_new(t, new_pair(2));
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_clear_error();
    CHECK(tt_is_null(tt_local_get(t, l)));
    CHECK_ERR(TT_ESTALE);
    tt_clear_error();
    CHECK_EQ(tt_local_set(t, m, new_pair(3)), TT_ESTALE);
    CHECK_ERR(TT_ESTALE);
    /* The slots are reused by a new frame: the old handles stay stale. */
    tt_frame g = tt_frame_push(t, 2);
    tt_local l2 = tt_local_new(t, new_pair(5));
    tt_local m2 = tt_local_new(t, new_pair(6));
    tt_clear_error();
    CHECK(tt_is_null(tt_local_get(t, l)));
    CHECK_ERR(TT_ESTALE);
    CHECK(tt_is_null(tt_local_get(t, m)));
    CHECK_EQ(tt_local_set(t, l, TT_NULL), TT_ESTALE);
    CHECK_EQU(value_of(tt_local_get(t, l2)), 5);
    CHECK_EQU(value_of(tt_local_get(t, m2)), 6);
    /* The null local is never valid. */
    tt_clear_error();
    CHECK(tt_is_null(tt_local_get(t, TT_NO_LOCAL)));
    CHECK_ERR(TT_ESTALE);
    /* A made-up local past the top. */
    tt_local bogus = {((uint64_t)1 << 32) | 100000};
    CHECK(tt_is_null(tt_local_get(t, bogus)));
    CHECK_ERR(TT_ESTALE);
    /* Escaping a stale local fails. */
    tt_frame k = tt_frame_push(t, 1);
    tt_clear_error();
    tt_local e = tt_frame_pop(t, k, l);
    CHECK(tt_local_is_null(e));
    CHECK_ERR(TT_ESTALE);
    /* ... and the frame was left open, so it can be popped properly. */
    CHECK(tt_local_is_null(tt_frame_pop(t, k, TT_NO_LOCAL)));
    tt_frame_pop(t, g, TT_NO_LOCAL);
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK_EQU(stats().live_objects, 0);
    close_heap();
}

/* Checked mode off: popping out of order fails with TT_ESTATE and leaves
 * the frames as they were. */
static void test_pop_order_unchecked(void)
{
    open_mode(TT_CHECKED_OFF);
    tt_frame f1 = tt_frame_push(t, 1);
    tt_local a = tt_local_new(t, new_pair(1));
    tt_frame f2 = tt_frame_push(t, 1);
    tt_local b = tt_local_new(t, new_pair(2));
    tt_clear_error();
    CHECK(tt_local_is_null(tt_frame_pop(t, f1, TT_NO_LOCAL)));
    CHECK_ERR(TT_ESTATE);
    CHECK_EQU(value_of(tt_local_get(t, a)), 1);
    CHECK_EQU(value_of(tt_local_get(t, b)), 2);
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK_EQU(stats().live_objects, 2);
    CHECK(tt_local_is_null(tt_frame_pop(t, f2, TT_NO_LOCAL)));
    /* popping f2 again: not open */
    tt_clear_error();
    CHECK(tt_local_is_null(tt_frame_pop(t, f2, TT_NO_LOCAL)));
    CHECK_ERR(TT_ESTATE);
    CHECK_EQU(value_of(tt_local_get(t, a)), 1);
    tt_clear_error();
    tt_frame_pop(t, (tt_frame){0}, TT_NO_LOCAL);
    CHECK_ERR(TT_ESTATE);
    CHECK(tt_local_is_null(tt_frame_pop(t, f1, TT_NO_LOCAL)));
    close_heap();
}

/* Checked mode off: past its capacity a frame grows. */
static void test_past_capacity_unchecked(void)
{
    open_mode(TT_CHECKED_OFF);
    tt_frame f = tt_frame_push(t, 2);
    enum { N = 5000 };
    static tt_local l[N];
    for (int i = 0; i < N; i++) {
        l[i] = tt_local_new(t, new_pair((uint64_t)i));
        CHECK(!tt_local_is_null(l[i]));
    }
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK_EQU(stats().live_objects, N);
    int bad = 0;
    for (int i = 0; i < N; i++) bad += value_of(tt_local_get(t, l[i])) != (uint64_t)i;
    CHECK_EQ(bad, 0);
    /* A nested frame after the growth still works. */
    tt_frame g = tt_frame_push(t, 1);
    tt_local x = tt_local_new(t, new_pair(9));
    tt_local ex = tt_frame_pop(t, g, x);
    CHECK_EQU(value_of(tt_local_get(t, ex)), 9);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK_EQU(stats().live_objects, 0);
    close_heap();
}

static void test_nest_unchecked_overflow(void)
{
    open_mode(TT_CHECKED_OFF);
    tt_frame f = tt_frame_push(t, 0);
    tt_local l = tt_local_new(t, new_pair(5));
    CHECK(!tt_local_is_null(l));
    tt_frame g = tt_frame_push(t, 0);
    tt_local m = tt_local_new(t, new_pair(6));
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK_EQU(value_of(tt_local_get(t, l)), 5);
    CHECK_EQU(value_of(tt_local_get(t, m)), 6);
    tt_frame_pop(t, g, TT_NO_LOCAL);
    CHECK_EQU(value_of(tt_local_get(t, l)), 5);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    close_heap();
}

/* Locals belong to their thread: a local of another thread is detected. */
static void test_local_of_other_thread(void)
{
    open_mode(TT_CHECKED_OFF);
    tt_thread *u = tt_thread_attach(h);
    REQUIRE(u != NULL);
    tt_frame ft = tt_frame_push(t, 2);
    tt_frame fu = tt_frame_push(u, 2);
    tt_local lt = tt_local_new(t, new_pair(1));
    tt_local lu = tt_local_new(u, TT_NULL);
    (void)lu;
    tt_clear_error();
    CHECK(tt_is_null(tt_local_get(u, lt)));
    CHECK_ERR(TT_ESTALE);
    CHECK_EQU(value_of(tt_local_get(t, lt)), 1);
    tt_frame_pop(u, fu, TT_NO_LOCAL);
    tt_frame_pop(t, ft, TT_NO_LOCAL);
    tt_thread_detach(u);
    close_heap();
}

static void test_globals(void)
{
    open_heap();
    tt_global g1 = tt_global_new(t, new_pair(1));
    tt_global g2 = tt_global_new(t, new_pair(2));
    tt_global gn = tt_global_new(t, TT_NULL);
    REQUIRE(!tt_global_is_null(g1) && !tt_global_is_null(g2) && !tt_global_is_null(gn));
    CHECK(g1.bits != g2.bits);
    CHECK_EQU(stats().globals, 3);
    CHECK(tt_is_null(tt_global_get(t, gn)));
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK_EQU(stats().live_objects, 2);
    CHECK_EQU(value_of(tt_global_get(t, g1)), 1);
    CHECK_EQU(value_of(tt_global_get(t, g2)), 2);
    /* set: the old target dies, the new one lives */
    tt_weak w1 = tt_weak_new(t, tt_global_get(t, g1));
    CHECK_EQ(tt_global_set(t, g1, new_pair(11)), TT_OK);
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK_EQU(stats().live_objects, 2);
    CHECK(tt_is_null(tt_weak_get(t, w1)));
    CHECK_EQU(value_of(tt_global_get(t, g1)), 11);
    CHECK_EQ(tt_global_set(t, gn, tt_global_get(t, g2)), TT_OK);
    CHECK_EQ(tt_global_free(t, g2), TT_OK);
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK_EQU(stats().live_objects, 2);
    CHECK_EQU(value_of(tt_global_get(t, gn)), 2);
    CHECK_EQ(tt_global_free(t, g1), TT_OK);
    CHECK_EQ(tt_global_free(t, gn), TT_OK);
    CHECK_EQU(stats().globals, 0);
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK_EQU(stats().live_objects, 0);
    CHECK_EQ(tt_weak_free(t, w1), TT_OK);
    /* Globals are usable from every thread of the heap. */
    tt_thread *u = tt_thread_attach(h);
    REQUIRE(u != NULL);
    tt_global gu = tt_global_new(u, new_pair(99));
    CHECK_EQU(value_of(tt_global_get(t, gu)), 99);
    tt_thread_detach(u);
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK_EQU(value_of(tt_global_get(t, gu)), 99);
    CHECK_EQU(stats().live_objects, 1);
    CHECK_EQ(tt_global_free(t, gu), TT_OK);
    close_heap();
}

/* Many globals: create, free in a scattered order, reuse slots. */
static void test_many_globals(void)
{
    enum { N = 5000 };
    static tt_global g[N];
    open_heap();
    for (int i = 0; i < N; i++) {
        g[i] = tt_global_new(t, new_pair((uint64_t)i));
        REQUIRE(!tt_global_is_null(g[i]));
    }
    CHECK_EQU(stats().globals, N);
    for (int i = 0; i < N; i += 3) CHECK_EQ(tt_global_free(t, g[i]), TT_OK);
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK_EQU(stats().live_objects, N - (N + 2) / 3);
    int bad = 0;
    for (int i = 0; i < N; i++)
        if (i % 3 && value_of(tt_global_get(t, g[i])) != (uint64_t)i) bad++;
    CHECK_EQ(bad, 0);
    /* New globals reuse freed slots; the freed handles stay stale. */
    int same = 0;
    for (int i = 0; i < N; i += 3) {
        tt_global ng = tt_global_new(t, new_pair((uint64_t)i + 100000));
        REQUIRE(!tt_global_is_null(ng));
        for (int j = 0; j < N; j++) same += ng.bits == g[j].bits;
        g[i] = ng;
    }
    CHECK_EQ(same, 0);
    CHECK_EQU(stats().globals, N);
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK_EQU(stats().live_objects, N);
    bad = 0;
    for (int i = 0; i < N; i++)
        if (value_of(tt_global_get(t, g[i])) != (uint64_t)i + (i % 3 ? 0 : 100000)) bad++;
    CHECK_EQ(bad, 0);
    for (int i = 0; i < N; i++) CHECK_EQ(tt_global_free(t, g[i]), TT_OK);
    CHECK_EQU(stats().globals, 0);
    close_heap();
}

/* Checked mode off: freed globals give TT_ESTALE, also once their slot
 * is reused. */
static void test_stale_globals_unchecked(void)
{
    open_mode(TT_CHECKED_OFF);
    tt_global g = tt_global_new(t, new_pair(1));
    CHECK_EQ(tt_global_free(t, g), TT_OK);
    tt_clear_error();
    CHECK_EQ(tt_global_free(t, g), TT_ESTALE);
    CHECK_ERR(TT_ESTALE);
    tt_clear_error();
    CHECK(tt_is_null(tt_global_get(t, g)));
    CHECK_ERR(TT_ESTALE);
    CHECK_EQ(tt_global_set(t, g, TT_NULL), TT_ESTALE);
    tt_global g2 = tt_global_new(t, new_pair(2)); /* probably g's slot */
    CHECK(g2.bits != g.bits);
    CHECK(tt_is_null(tt_global_get(t, g)));
    CHECK_EQ(tt_global_free(t, g), TT_ESTALE);
    CHECK_EQU(value_of(tt_global_get(t, g2)), 2);
    CHECK_EQU(stats().globals, 1);
    /* the null handle and a made-up one */
    tt_clear_error();
    CHECK(tt_is_null(tt_global_get(t, (tt_global){0})));
    CHECK_ERR(TT_ESTALE);
    CHECK_EQ(tt_global_free(t, (tt_global){((uint64_t)1 << 32) | 999999}), TT_ESTALE);
    CHECK_EQ(tt_global_free(t, g2), TT_OK);
    close_heap();
}

static void test_weaks(void)
{
    open_heap();
    tt_frame f = tt_frame_push(t, 4);
    tt_local keep = tt_local_new(t, new_pair(1));
    tt_ref dropped = new_pair(2);
    tt_weak wk = tt_weak_new(t, tt_local_get(t, keep));
    tt_weak wd = tt_weak_new(t, dropped);
    tt_weak wn = tt_weak_new(t, TT_NULL);
    REQUIRE(!tt_weak_is_null(wk) && !tt_weak_is_null(wd) && !tt_weak_is_null(wn));
    CHECK_EQU(stats().weaks, 3);
    /* Before a collection, the weak reads its target. */
    CHECK_REF(tt_weak_get(t, wd), dropped);
    CHECK(tt_is_null(tt_weak_get(t, wn)));
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK_REF(tt_weak_get(t, wk), tt_local_get(t, keep));
    CHECK(tt_is_null(tt_weak_get(t, wd)));
    CHECK_EQU(stats().live_objects, 1);
    /* A weak alone does not keep its target. */
    tt_local_set(t, keep, TT_NULL);
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK(tt_is_null(tt_weak_get(t, wk)));
    CHECK_EQU(stats().live_objects, 0);
    /* Several weaks to one target, kept alive by a field of a global. */
    tt_global g = tt_global_new(t, new_pair(3));
    tt_ref leaf = new_pair(4);
    tt_ref holder = tt_global_get(t, g);
    tt_store(t, holder, &TT_PTR(struct pair, holder)->a, leaf);
    tt_weak ws[10];
    for (int i = 0; i < 10; i++) ws[i] = tt_weak_new(t, leaf);
    for (int round = 0; round < 3; round++) {
        CHECK_EQ(tt_collect(t), TT_OK);
        for (int i = 0; i < 10; i++) CHECK_REF(tt_weak_get(t, ws[i]), leaf);
    }
    tt_store(t, holder, &TT_PTR(struct pair, holder)->a, TT_NULL);
    CHECK_EQ(tt_collect(t), TT_OK);
    for (int i = 0; i < 10; i++) CHECK(tt_is_null(tt_weak_get(t, ws[i])));
    CHECK_EQU(value_of(tt_global_get(t, g)), 3);
    for (int i = 0; i < 10; i++) CHECK_EQ(tt_weak_free(t, ws[i]), TT_OK);
    CHECK_EQ(tt_weak_free(t, wk), TT_OK);
    CHECK_EQ(tt_weak_free(t, wd), TT_OK);
    CHECK_EQ(tt_weak_free(t, wn), TT_OK);
    CHECK_EQU(stats().weaks, 0);
    CHECK_EQ(tt_global_free(t, g), TT_OK);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    close_heap();
}

/* A weak reference does not count as a reference for other weaks either:
 * an object reachable only through the target of a weak dies with it. */
static void test_weak_chain(void)
{
    open_heap();
    tt_ref a = new_pair(1);
    tt_weak wa = tt_weak_new(t, a);
    tt_ref b = new_pair(2);
    a = tt_weak_get(t, wa); /* still there: no collection since */
    tt_store(t, a, &TT_PTR(struct pair, a)->a, b);
    tt_weak wb = tt_weak_new(t, b);
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK(tt_is_null(tt_weak_get(t, wa)));
    CHECK(tt_is_null(tt_weak_get(t, wb)));
    CHECK_EQU(stats().live_objects, 0);
    tt_weak_free(t, wa);
    tt_weak_free(t, wb);
    close_heap();
}

static void test_stale_weaks_unchecked(void)
{
    open_mode(TT_CHECKED_OFF);
    tt_local l = tt_local_new(t, new_pair(1));
    tt_weak w = tt_weak_new(t, tt_local_get(t, l));
    CHECK_EQ(tt_weak_free(t, w), TT_OK);
    tt_clear_error();
    CHECK(tt_is_null(tt_weak_get(t, w)));
    CHECK_ERR(TT_ESTALE);
    tt_clear_error();
    CHECK_EQ(tt_weak_free(t, w), TT_ESTALE);
    CHECK_ERR(TT_ESTALE);
    tt_weak w2 = tt_weak_new(t, tt_local_get(t, l));
    CHECK(w2.bits != w.bits);
    CHECK(tt_is_null(tt_weak_get(t, w)));
    CHECK_REF(tt_weak_get(t, w2), tt_local_get(t, l));
    CHECK_EQ(tt_weak_free(t, w2), TT_OK);
    /* a weak handle is not a global handle: tables are separate */
    tt_global g = tt_global_new(t, tt_local_get(t, l));
    CHECK_EQ(tt_global_free(t, g), TT_OK);
    CHECK_EQU(stats().weaks, 0);
    CHECK_EQU(stats().globals, 0);
    close_heap();
}

/* Locals are roots during collections triggered by allocation. */
/* Handles and locals of heap A used through a thread of heap B fail with
 * TT_ESTALE, without checked mode too, and change nothing: each heap's
 * first global, weak reference and base-frame local have the same index or
 * slot, which B would otherwise read or change (test_misuse.c checks the
 * reports of checked mode). */
static void test_other_heap_unchecked(void)
{
    open_mode(TT_CHECKED_OFF);
    tt_heap *hb = tt_test_open(TT_CHECKED_OFF);
    REQUIRE(hb != NULL);
    tt_thread *tb = tt_thread_attach(hb);
    REQUIRE(tb != NULL);
    tt_local la = tt_local_new(t, new_pair(1));
    tt_global ga = tt_global_new(t, tt_local_get(t, la));
    tt_weak wa = tt_weak_new(t, tt_local_get(t, la));
    tt_ref ob = tt_alloc(tb, &pair_type);
    REQUIRE(!tt_is_null(ob));
    TT_PTR(struct pair, ob)->v = 2;
    tt_local lb = tt_local_new(tb, ob);
    tt_global gb = tt_global_new(tb, ob);
    tt_weak wb = tt_weak_new(tb, ob);
    CHECK((uint32_t)la.bits == (uint32_t)lb.bits);
    tt_clear_error();
    CHECK(tt_is_null(tt_global_get(tb, ga)));
    CHECK_ERR(TT_ESTALE);
    CHECK_CONTAINS(tt_last_error()->message, "another heap");
    tt_clear_error();
    CHECK_EQ(tt_global_set(tb, ga, TT_NULL), TT_ESTALE);
    CHECK_EQ(tt_global_free(tb, ga), TT_ESTALE);
    tt_clear_error();
    CHECK(tt_is_null(tt_weak_get(tb, wa)));
    CHECK_ERR(TT_ESTALE);
    CHECK_CONTAINS(tt_last_error()->message, "another heap");
    CHECK_EQ(tt_weak_free(tb, wa), TT_ESTALE);
    tt_clear_error();
    CHECK(tt_is_null(tt_local_get(tb, la)));
    CHECK_ERR(TT_ESTALE);
    CHECK_EQ(tt_local_set(tb, la, TT_NULL), TT_ESTALE);
    tt_frame fa = tt_frame_push(t, 1);
    tt_frame fb = tt_frame_push(tb, 1);
    tt_local la2 = tt_local_new(t, new_pair(3));
    tt_local lb2 = tt_local_new(tb, TT_NULL);
    CHECK((uint32_t)la2.bits == (uint32_t)lb2.bits);
    tt_clear_error();
    CHECK(tt_is_null(tt_local_get(tb, la2)));
    CHECK_ERR(TT_ESTALE);
    tt_frame_pop(tb, fb, TT_NO_LOCAL);
    tt_frame_pop(t, fa, TT_NO_LOCAL);
    /* nothing changed */
    CHECK_EQU(value_of(tt_global_get(t, ga)), 1);
    CHECK_EQU(value_of(tt_weak_get(t, wa)), 1);
    CHECK_EQU(value_of(tt_local_get(t, la)), 1);
    CHECK_EQU(value_of(tt_global_get(tb, gb)), 2);
    CHECK_EQU(value_of(tt_weak_get(tb, wb)), 2);
    CHECK_EQU(value_of(tt_local_get(tb, lb)), 2);
    CHECK_EQ(tt_global_free(t, ga), TT_OK);
    CHECK_EQ(tt_weak_free(t, wa), TT_OK);
    CHECK_EQ(tt_global_free(tb, gb), TT_OK);
    CHECK_EQ(tt_weak_free(tb, wb), TT_OK);
    tt_thread_detach(tb);
    tt_heap_close(hb);
    close_heap();
}

/* Frame serial ranges are unique among the threads attached in the
 * process: however many threads of any heap attach and detach meanwhile
 * (more than there are ranges), none gets the range of a thread still
 * attached, so that thread's locals validate on no other thread. */
static void test_serial_ranges_unique(void)
{
    open_mode(TT_CHECKED_OFF);
    tt_heap *hb = tt_test_open(TT_CHECKED_OFF);
    REQUIRE(hb != NULL);
    tt_local la = tt_local_new(t, new_pair(1));
    int matched = 0;
    for (int i = 0; i < 4200; i++) {
        tt_thread *u = tt_thread_attach(i % 2 ? h : hb);
        REQUIRE(u != NULL);
        tt_local lu = tt_local_new(u, TT_NULL);
        CHECK((uint32_t)lu.bits == (uint32_t)la.bits);
        tt_clear_error();
        (void)tt_local_get(u, la);
        if (tt_last_error()->code != TT_ESTALE) matched++;
        tt_thread_detach(u);
    }
    CHECK_EQ(matched, 0);
    CHECK_EQU(value_of(tt_local_get(t, la)), 1);
    tt_heap_close(hb);
    close_heap();
}

static void test_locals_root_during_allocation(void)
{
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.initial_size = 32 << 10;
    h = tt_heap_open(&cfg);
    REQUIRE(h != NULL);
    t = tt_thread_attach(h);
    REQUIRE(t != NULL);
    enum { N = 500 };
    tt_frame f = tt_frame_push(t, N);
    static tt_local l[N];
    for (int i = 0; i < N; i++) {
        l[i] = tt_local_new(t, new_pair((uint64_t)i));
        for (int k = 0; k < 20; k++) tt_alloc(t, &pair_type); /* garbage */
    }
    CHECK_CMPU(stats().collections, >=, 5);
    int bad = 0;
    for (int i = 0; i < N; i++) bad += value_of(tt_local_get(t, l[i])) != (uint64_t)i;
    CHECK_EQ(bad, 0);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    close_heap();
}

int main(void)
{
    RUN(test_frames_nest);
    RUN(test_capacity_guarantee);
    RUN(test_deep_nesting);
    RUN(test_escape);
    RUN(test_escape_many);
    RUN(test_stale_locals_unchecked);
    RUN(test_pop_order_unchecked);
    RUN(test_past_capacity_unchecked);
    RUN(test_nest_unchecked_overflow);
    RUN(test_local_of_other_thread);
    RUN(test_globals);
    RUN(test_many_globals);
    RUN(test_stale_globals_unchecked);
    RUN(test_weaks);
    RUN(test_weak_chain);
    RUN(test_stale_weaks_unchecked);
    RUN(test_locals_root_during_allocation);
    RUN(test_other_heap_unchecked);
    RUN(test_serial_ranges_unique);
    return tt_test_done();
}
