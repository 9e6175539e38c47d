/*
 * test_finalize.c: what collections do for objects with cleanups, and the
 * weak things. Dead objects are queued in dependency order (a chain of any
 * length after one collection, diamonds, objects reached through plain
 * objects), with everything they reach readable by their finalizers;
 * cycles are finalized in a deterministic order and reported; guardians
 * receive their dead objects; weak callbacks run in cleanup contexts;
 * ephemerons hold their value only through their key; wrapper tables map
 * one address to one live wrapper.
 */
#include "tt_test.h"

struct node {
    tt_ref next;
    tt_ref other;
    int id;
};
static const tt_type node_type = TT_TYPE_INIT(struct node, next, other);

static int order[8192];
static int norder;
static int bad_reads;

/* A finalizer that records its id and reads everything its object reaches
 * (which must still be intact). */
static void fin(tt_thread *t, tt_ref obj, void *env)
{
    (void)t;
    (void)env;
    struct node *n = TT_PTR(struct node, obj);
    order[norder++] = n->id;
    for (tt_ref p = n->next; !tt_is_null(p); p = TT_PTR(struct node, p)->next) {
        int id = TT_PTR(struct node, p)->id;
        if (id <= 0 || id > 100000) bad_reads++;
        if (tt_same(p, obj)) break; /* a cycle */
    }
}

static tt_heap *open_heap(void)
{
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.on_misuse = tt_test_record_misuse;
    return tt_heap_open(&cfg);
}

static tt_ref new_node(tt_thread *t, int id, int finalizable)
{
    tt_ref n = tt_alloc(t, &node_type);
    TT_PTR(struct node, n)->id = id;
    if (finalizable) tt_cleanup_push(t, n, fin, NULL);
    return n;
}

static void link_to(tt_thread *t, tt_ref from, tt_ref to)
{
    tt_store(t, from, &TT_PTR(struct node, from)->next, to);
}

static int position(int id)
{
    for (int i = 0; i < norder; i++)
        if (order[i] == id) return i;
    return -1;
}

/* A chain A1 -> A2 -> ... -> A1000, built so that registration order is
 * the reverse of the chain: all of it is queued by one collection, in
 * chain order, and reclaimed by the next. */
static void test_chain(void)
{
    tt_heap *h = open_heap();
    tt_thread *t = tt_thread_attach(h);
    norder = bad_reads = 0;
    tt_frame f = tt_frame_push(t, 1);
    tt_local head = tt_local_new(t, TT_NULL);
    for (int i = 1000; i >= 1; i--) {
        tt_ref n = new_node(t, i, 1);
        link_to(t, n, tt_local_get(t, head));
        tt_local_set(t, head, n);
    }
    tt_weak w = tt_weak_new(t, tt_local_get(t, head));
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_stats st0, st;
    tt_heap_stats(h, &st0);
    tt_collect(t);
    CHECK_EQU(tt_pending_cleanups(t), 1000);
    CHECK_EQU(tt_run_finalizers(t, 0), 1000);
    CHECK_EQ(norder, 1000);
    for (int i = 0; i < norder; i++) CHECK_EQ(order[i], i + 1);
    CHECK_EQ(bad_reads, 0);
    CHECK(tt_is_null(tt_weak_get(t, w))); /* weak refs see strong reachability */
    tt_collect(t);
    tt_heap_stats(h, &st);
    CHECK_EQU(st.collections - st0.collections, 2);
    CHECK_EQU(st.live_objects, 0);
    CHECK_EQU(st.objects_finalized, 1000);
    tt_weak_free(t, w);
    tt_heap_close(h);
    CHECK_EQ(norder, 1000);
}

/* A diamond through plain objects: A -> x -> B, A -> y -> C, B -> D,
 * C -> D, registered in the worst order. A before B and C, both before D. */
static void test_diamond(void)
{
    tt_heap *h = open_heap();
    tt_thread *t = tt_thread_attach(h);
    norder = bad_reads = 0;
    tt_frame f = tt_frame_push(t, 8);
    tt_ref d = new_node(t, 4, 1);
    tt_local ld = tt_local_new(t, d);
    tt_local lc = tt_local_new(t, new_node(t, 3, 1));
    tt_local lb = tt_local_new(t, new_node(t, 2, 1));
    tt_local la = tt_local_new(t, new_node(t, 1, 1));
    tt_local lx = tt_local_new(t, new_node(t, 50, 0));
    tt_local ly = tt_local_new(t, new_node(t, 51, 0));
    link_to(t, tt_local_get(t, lb), tt_local_get(t, ld));
    link_to(t, tt_local_get(t, lc), tt_local_get(t, ld));
    link_to(t, tt_local_get(t, lx), tt_local_get(t, lb));
    link_to(t, tt_local_get(t, ly), tt_local_get(t, lc));
    link_to(t, tt_local_get(t, la), tt_local_get(t, lx));
    tt_store(t, tt_local_get(t, la), &TT_PTR(struct node, tt_local_get(t, la))->other,
             tt_local_get(t, ly));
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_collect(t);
    tt_run_finalizers(t, 0);
    CHECK_EQ(norder, 4);
    CHECK(position(1) < position(2));
    CHECK(position(1) < position(3));
    CHECK(position(2) < position(4));
    CHECK(position(3) < position(4));
    CHECK_EQ(bad_reads, 0);
    tt_heap_close(h);
}

/* Only the dead are ordered: a live finalizable object reached by a dead
 * one is not queued. */
static void test_live_not_queued(void)
{
    tt_heap *h = open_heap();
    tt_thread *t = tt_thread_attach(h);
    norder = 0;
    tt_frame f = tt_frame_push(t, 2);
    tt_local live = tt_local_new(t, new_node(t, 2, 1));
    tt_ref dead = new_node(t, 1, 1);
    link_to(t, dead, tt_local_get(t, live));
    tt_collect(t);
    tt_run_finalizers(t, 0);
    CHECK_EQ(norder, 1);
    CHECK_EQ(order[0], 1);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_collect(t);
    tt_run_finalizers(t, 0);
    CHECK_EQ(norder, 2);
    tt_heap_close(h);
}

/* Cycles: finalized (bdwgc never does), deterministically, and reported. */
static char reports[8][256];
static int nreports;
static void on_report(const char *what, const char *message, void *ctx)
{
    (void)ctx;
    if (nreports < 8) snprintf(reports[nreports], sizeof reports[0], "%s: %s", what, message);
    nreports++;
}

static void build_cycle_and_collect(int checked, int *first)
{
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.checked = checked;
    cfg.on_report = on_report;
    tt_heap *h = tt_heap_open(&cfg);
    tt_thread *t = tt_thread_attach(h);
    norder = bad_reads = 0;
    nreports = 0;
    tt_frame f = tt_frame_push(t, 3);
    tt_local a = tt_local_new(t, new_node(t, 1, 1));
    tt_local b = tt_local_new(t, new_node(t, 2, 1));
    tt_local c = tt_local_new(t, new_node(t, 3, 1));
    link_to(t, tt_local_get(t, a), tt_local_get(t, b));
    link_to(t, tt_local_get(t, b), tt_local_get(t, c));
    link_to(t, tt_local_get(t, c), tt_local_get(t, a));
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_collect(t);
    tt_run_finalizers(t, 0);
    CHECK_EQ(norder, 3);
    CHECK_EQ(bad_reads, 0);
    *first = norder ? order[0] : -1;
    tt_stats st;
    tt_heap_stats(h, &st);
    CHECK_EQU(st.finalizer_cycles, 1);
    /* Reclaimed at the next collection. */
    tt_collect(t);
    tt_heap_stats(h, &st);
    CHECK_EQU(st.live_objects, 0);
    tt_heap_close(h);
}

static void test_cycle(void)
{
    int first1, first2;
    build_cycle_and_collect(TT_CHECKED_OFF, &first1);
    CHECK_EQ(nreports, 0);
    build_cycle_and_collect(TT_CHECKED_OFF, &first2);
    CHECK_EQ(first1, first2);
    /* The walk starts from the first registered: 1, and 1 reaches 2 and 3. */
    CHECK_EQ(first1, 1);
    CHECK_EQ(order[1], 2);
    CHECK_EQ(order[2], 3);
    if (TT_TEST_CHECKS_BUILT) {
        build_cycle_and_collect(TT_CHECKED_ON, &first1);
        CHECK_EQ(nreports, 1);
        CHECK_CONTAINS(reports[0], "finalizer-cycle");
        CHECK_CONTAINS(reports[0], "test_finalize.c");
    }
    /* A two-object cycle and a self-loop. */
    tt_heap *h = open_heap();
    tt_thread *t = tt_thread_attach(h);
    norder = 0;
    tt_ref x = new_node(t, 1, 1);
    tt_frame f = tt_frame_push(t, 1);
    tt_local lx = tt_local_new(t, x);
    tt_ref y = new_node(t, 2, 1);
    link_to(t, tt_local_get(t, lx), y);
    link_to(t, y, tt_local_get(t, lx));
    tt_ref self = new_node(t, 3, 1);
    link_to(t, self, self);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_collect(t);
    tt_run_finalizers(t, 0);
    CHECK_EQ(norder, 3);
    tt_stats st;
    tt_heap_stats(h, &st);
    CHECK_EQU(st.finalizer_cycles, 2);
    tt_heap_close(h);
}

/* ---- guardians ---- */

static void test_guardian(void)
{
    tt_heap *h = open_heap();
    tt_thread *t = tt_thread_attach(h);
    norder = 0;
    tt_guardian *g = tt_guardian_new(t);
    REQUIRE(g != NULL);
    tt_frame f = tt_frame_push(t, 2);
    tt_local keep = tt_local_new(t, new_node(t, 1, 1));
    CHECK_EQ(tt_guardian_add(t, g, tt_local_get(t, keep)), TT_OK);
    tt_ref plain = new_node(t, 2, 0);
    CHECK_EQ(tt_guardian_add(t, g, plain), TT_OK);
    tt_collect(t);
    CHECK_EQU(tt_guardian_pending(g), 1); /* only the dead one */
    CHECK_EQU(tt_pending_cleanups(t), 0);
    tt_ref back = tt_guardian_next(t, g);
    REQUIRE(!tt_is_null(back));
    CHECK_EQ(TT_PTR(struct node, back)->id, 2);
    CHECK(tt_is_null(tt_guardian_next(t, g)));
    /* Delivered once: held again, then dropped, it is simply reclaimed. */
    tt_local lb = tt_local_new(t, back);
    (void)lb;
    tt_local_set(t, keep, TT_NULL);
    tt_collect(t);
    /* The finalizable one goes to the guardian, its cleanup stays
     * registered for the program to run. */
    CHECK_EQU(tt_guardian_pending(g), 1);
    tt_ref k = tt_guardian_next(t, g);
    REQUIRE(!tt_is_null(k));
    CHECK_EQ(TT_PTR(struct node, k)->id, 1);
    CHECK_EQU(tt_cleanup_count(t, k), 1);
    CHECK_EQ(norder, 0);
    CHECK_EQ(tt_release(t, k), TT_OK);
    CHECK_EQ(norder, 1);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    /* Freeing a guardian hands what it holds to the pending queue. */
    tt_ref z = new_node(t, 3, 1);
    tt_guardian_add(t, g, z);
    tt_collect(t);
    CHECK_EQU(tt_guardian_pending(g), 1);
    CHECK_EQ(tt_guardian_free(t, g), TT_OK);
    CHECK_EQU(tt_pending_cleanups(t), 1);
    tt_run_finalizers(t, 0);
    CHECK_EQ(norder, 2);
    if (TT_TEST_CHECKS_BUILT && tt_heap_checked(h)) {
        tt_test_misuse_reset();
        CHECK_EQ(tt_guardian_add(t, g, new_node(t, 4, 0)), TT_EINVAL);
        CHECK_STREQ(tt_test_last_misuse(), "bad-guardian");
    }
    tt_heap_close(h);
    CHECK_EQ(norder, 2);
}

/* ---- weak callbacks ---- */

static int weak_calls;
static tt_weak weak_seen;
static void on_weak(tt_thread *t, tt_weak w, void *env)
{
    weak_calls += (int)(intptr_t)env;
    weak_seen = w;
    /* The reference is already clear. */
    if (!tt_is_null(tt_weak_get(t, w))) weak_calls += 1000;
}

static void test_weak_callbacks(void)
{
    tt_heap *h = open_heap();
    tt_thread *t = tt_thread_attach(h);
    weak_calls = 0;
    tt_frame f = tt_frame_push(t, 1);
    tt_local l = tt_local_new(t, new_node(t, 1, 0));
    tt_weak w1 = tt_weak_new_cb(t, tt_local_get(t, l), on_weak, (void *)1);
    tt_weak w2 = tt_weak_new_cb(t, new_node(t, 2, 0), on_weak, (void *)10);
    tt_weak w3 = tt_weak_new_cb(t, new_node(t, 3, 0), on_weak, (void *)100);
    CHECK_EQ(tt_weak_free(t, w3), TT_OK); /* freed before death: no call */
    tt_collect(t);
    CHECK_EQ(weak_calls, 0); /* never inside the collector */
    CHECK_EQU(tt_pending_cleanups(t), 1);
    tt_run_finalizers(t, 0);
    CHECK_EQ(weak_calls, 10);
    CHECK_EQ(weak_seen.bits, w2.bits);
    tt_collect(t);
    tt_run_finalizers(t, 0);
    CHECK_EQ(weak_calls, 10); /* once */
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_collect(t);
    tt_run_finalizers(t, 0);
    CHECK_EQ(weak_calls, 11);
    tt_clear_error();
    CHECK(tt_is_null(tt_weak_get(t, w1)));
    CHECK_EQ(tt_weak_new_cb(t, new_node(t, 4, 0), NULL, NULL).bits, 0);
    CHECK_ERR(TT_EINVAL);
    tt_weak_free(t, w1);
    tt_weak_free(t, w2);
    tt_heap_close(h);
}

/* ---- ephemerons ---- */

static void test_ephemerons(void)
{
    tt_heap *h = open_heap();
    tt_thread *t = tt_thread_attach(h);
    tt_frame f = tt_frame_push(t, 4);
    tt_local key = tt_local_new(t, new_node(t, 1, 0));
    tt_local e = tt_local_new(t, tt_ephemeron_new(t, tt_local_get(t, key), new_node(t, 2, 0)));
    REQUIRE(!tt_is_null(tt_local_get(t, e)));
    /* The value refers back to its key: that must not keep the key alive. */
    tt_ref v = tt_ephemeron_value(t, tt_local_get(t, e));
    link_to(t, v, tt_local_get(t, key));
    /* A chain of ephemerons: e2's key is e's value. */
    tt_local e2 = tt_local_new(t, tt_ephemeron_new(t, v, new_node(t, 3, 0)));
    tt_weak wv = tt_weak_new(t, v);
    tt_collect(t);
    CHECK(tt_same(tt_ephemeron_key(t, tt_local_get(t, e)), tt_local_get(t, key)));
    CHECK_EQ(TT_PTR(struct node, tt_ephemeron_value(t, tt_local_get(t, e)))->id, 2);
    CHECK_EQ(TT_PTR(struct node, tt_ephemeron_value(t, tt_local_get(t, e2)))->id, 3);
    tt_stats st;
    tt_heap_stats(h, &st);
    CHECK_EQU(st.live_objects, 5);
    /* Drop the key: both ephemerons clear, values are reclaimed. */
    tt_local_set(t, key, TT_NULL);
    tt_collect(t);
    CHECK(tt_is_null(tt_ephemeron_key(t, tt_local_get(t, e))));
    CHECK(tt_is_null(tt_ephemeron_value(t, tt_local_get(t, e))));
    CHECK(tt_is_null(tt_ephemeron_key(t, tt_local_get(t, e2))));
    CHECK(tt_is_null(tt_weak_get(t, wv)));
    tt_heap_stats(h, &st);
    CHECK_EQU(st.live_objects, 2);
    CHECK_EQ(tt_ephemeron_set_value(t, tt_local_get(t, e), new_node(t, 9, 0)), TT_ESTATE);
    tt_clear_error();
    CHECK(tt_is_null(tt_ephemeron_key(t, new_node(t, 5, 0))));
    CHECK_ERR(TT_EINVAL);
    CHECK(tt_is_null(tt_ephemeron_new(t, TT_NULL, TT_NULL)));
    tt_weak_free(t, wv);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    /* Many ephemerons, to grow the collector's record of them. */
    tt_frame f2 = tt_frame_push(t, 2);
    tt_local arr = tt_local_new(t, tt_alloc_array(t, &tt_refs_type, 5000));
    tt_local keyl = tt_local_new(t, new_node(t, 1, 0));
    for (int i = 0; i < 5000; i++)
        tt_array_set(t, tt_local_get(t, arr), (size_t)i,
                     tt_ephemeron_new(t, i % 2 ? tt_local_get(t, keyl) : new_node(t, 7, 0),
                                      new_node(t, 8, 0)));
    tt_collect(t);
    int alive = 0;
    for (int i = 0; i < 5000; i++)
        alive += !tt_is_null(tt_ephemeron_value(t, tt_array_get(tt_local_get(t, arr), (size_t)i)));
    CHECK_EQ(alive, 2500);
    tt_frame_pop(t, f2, TT_NO_LOCAL);
    tt_heap_close(h);
}

/* ---- wrapper tables ---- */

static int closes;
static void close_it(tt_thread *t, tt_ref obj, void *env)
{
    (void)t;
    (void)obj;
    (void)env;
    closes++;
}

static void test_wtable(void)
{
    tt_heap *h = open_heap();
    tt_thread *t = tt_thread_attach(h);
    closes = 0;
    tt_wtable *w = tt_wtable_new(t);
    REQUIRE(w != NULL);
    static int things[4];
    tt_frame f = tt_frame_push(t, 2);
    int created;
    tt_local a = tt_local_new(t, tt_wtable_wrap(t, w, &things[0], 10, close_it, NULL, &created));
    CHECK_EQ(created, 1);
    tt_ref again = tt_wtable_wrap(t, w, &things[0], 10, close_it, NULL, &created);
    CHECK_EQ(created, 0);
    CHECK(tt_same(again, tt_local_get(t, a)));
    CHECK(tt_same(tt_wtable_get(t, w, &things[0]), tt_local_get(t, a)));
    CHECK_EQU(tt_wtable_count(w), 1);
    /* A dead wrapper leaves the table at the collection that finds it dead,
     * before its cleanup runs. */
    tt_ref b = tt_wtable_wrap(t, w, &things[1], 10, close_it, NULL, &created);
    CHECK(!tt_is_null(b));
    tt_collect(t);
    CHECK(tt_is_null(tt_wtable_get(t, w, &things[1])));
    CHECK_EQ(closes, 0);
    tt_run_finalizers(t, 0);
    CHECK_EQ(closes, 1);
    /* A released wrapper leaves the table at once: a new foreign object at
     * the same address gets a new wrapper. */
    CHECK_EQ(tt_release(t, tt_local_get(t, a)), TT_OK);
    CHECK_EQ(closes, 2);
    CHECK(tt_is_null(tt_wtable_get(t, w, &things[0])));
    tt_local b2 = tt_local_new(t, tt_wtable_wrap(t, w, &things[0], 10, close_it, NULL, &created));
    CHECK_EQ(created, 1);
    CHECK(!tt_same(tt_local_get(t, b2), tt_local_get(t, a)));
    /* Plain objects can be entered too; remove works. */
    CHECK_EQ(tt_wtable_put(t, w, &things[2], new_node(t, 1, 0)), TT_OK);
    CHECK_EQ(tt_wtable_remove(t, w, &things[2]), TT_OK);
    CHECK_EQ(tt_wtable_remove(t, w, &things[2]), TT_ESTATE);
    CHECK_EQ(tt_wtable_put(t, w, NULL, tt_local_get(t, b2)), TT_EINVAL);
    /* Many entries churning through collections. */
    for (int round = 0; round < 3; round++) {
        for (intptr_t i = 1; i <= 20000; i++) tt_wtable_wrap(t, w, (void *)(i * 16), 0, NULL, NULL, NULL);
        tt_collect(t);
        CHECK_EQU(tt_wtable_count(w), 1);
    }
    tt_frame_pop(t, f, TT_NO_LOCAL);
    CHECK_EQ(tt_wtable_free(t, w), TT_OK);
    tt_heap_close(h);
    CHECK_EQ(closes, 3);
}

int main(void)
{
    RUN(test_chain);
    RUN(test_diamond);
    RUN(test_live_not_queued);
    RUN(test_cycle);
    RUN(test_guardian);
    RUN(test_weak_callbacks);
    RUN(test_ephemerons);
    RUN(test_wtable);
    return tt_test_done();
}
