/*
 * test_pressure.c: external memory pressure. Foreign bytes trigger
 * collections and are counted in the stats; dead foreign memory is given
 * back at foreign-memory calls (or only at explicit points when asked);
 * the heap limit covers heap and external bytes and gives TT_ENOMEM, after
 * which the heap stays usable; tt_collect_and_release reports what it
 * freed; the on_collect hook sees every collection; tt_external_adjust
 * keeps the books balanced; the leak report names creation sites.
 */
#include "tt_test.h"

#define MIB ((size_t)1 << 20)

struct node {
    tt_ref next;
    int id;
};
static const tt_type node_type = TT_TYPE_INIT(struct node, next);

static int releases;
static void count_release(tt_thread *t, tt_ref obj, void *env)
{
    (void)t;
    (void)obj;
    (void)env;
    releases++;
}

static tt_heap *open_with(size_t max_size, int explicit_only)
{
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.max_size = max_size;
    cfg.explicit_cleanups_only = explicit_only;
    cfg.on_misuse = tt_test_record_misuse;
    return tt_heap_open(&cfg);
}

/* 2,000 foreign objects of 1 MiB each, the last 10 kept: collections come
 * from the external bytes alone, and the live external count stays near
 * what is kept. */
static void test_pressure_collects(void)
{
    tt_heap *h = open_with(0, 0);
    tt_thread *t = tt_thread_attach(h);
    releases = 0;
    tt_frame f = tt_frame_push(t, 10);
    tt_local ring[10];
    for (int i = 0; i < 10; i++) ring[i] = tt_local_new(t, TT_NULL);
    static char fake;
    for (int i = 0; i < 2000; i++) {
        tt_ref r = tt_foreign_new(t, &fake, MIB, count_release, NULL);
        REQUIRE(!tt_is_null(r));
        tt_local_set(t, ring[i % 10], r);
    }
    tt_stats st;
    tt_heap_stats(h, &st);
    CHECK_CMPU(st.collections_external, >, 10);
    CHECK_CMPU(st.collections, >=, st.collections_external);
    /* Bounded: kept plus one budget's worth plus what is waiting. */
    CHECK_CMPU(st.external_bytes_peak, <=, 64 * MIB);
    CHECK_CMPU(st.external_bytes, <=, 64 * MIB);
    CHECK_CMPU(st.external_freed, >=, 1900 * MIB);
    CHECK_CMPU((uint64_t)releases, >=, 1900);
    CHECK_EQU(st.external_bytes + st.external_freed, 2000 * MIB);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_heap_close(h);
    CHECK_EQ(releases, 2000);
}

/* With explicit_cleanups_only, nothing runs until the program asks. */
/* The same with every object in a guardian that the program drains after
 * each allocation (as a bridge does): what a collection delivers to the
 * guardian does not count in the next budget, so the live external count
 * stays bounded instead of doubling the budget at every collection. */
static void test_pressure_guardian(void)
{
    tt_heap *h = open_with(0, 0);
    tt_thread *t = tt_thread_attach(h);
    tt_guardian *g = tt_guardian_new(t);
    REQUIRE(g != NULL);
    tt_frame f = tt_frame_push(t, 10);
    tt_local ring[10];
    for (int i = 0; i < 10; i++) ring[i] = tt_local_new(t, TT_NULL);
    static char fake;
    size_t taken = 0;
    for (int i = 0; i < 2000; i++) {
        tt_ref r = tt_foreign_new(t, &fake, MIB, NULL, NULL);
        REQUIRE(!tt_is_null(r));
        tt_local_set(t, ring[i % 10], r);
        REQUIRE(tt_guardian_add(t, g, r) == TT_OK);
        for (tt_ref d; !tt_is_null(d = tt_guardian_next(t, g)); taken++) tt_release(t, d);
    }
    tt_stats st;
    tt_heap_stats(h, &st);
    CHECK_CMPU((uint64_t)taken, >=, 1900);
    CHECK_CMPU(st.collections_external, >, 10);
    CHECK_CMPU(st.external_bytes_peak, <=, 64 * MIB);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_guardian_free(t, g);
    tt_heap_close(h);
}

static void test_explicit_only(void)
{
    tt_heap *h = open_with(0, 1);
    tt_thread *t = tt_thread_attach(h);
    releases = 0;
    static char fake;
    for (int i = 0; i < 100; i++) tt_foreign_new(t, &fake, MIB, count_release, NULL);
    tt_collect(t);
    CHECK_EQ(releases, 0);
    CHECK_CMPU(tt_pending_cleanups(t), >, 0);
    size_t freed = tt_collect_and_release(t);
    CHECK_EQ(releases, 100);
    CHECK_EQU(freed, 100 * MIB);
    tt_stats st;
    tt_heap_stats(h, &st);
    CHECK_EQU(st.external_bytes, 0);
    CHECK_EQU(tt_collect_and_release(t), 0);
    tt_heap_close(h);
}

/* The limit covers both: external bytes over it give TT_ENOMEM, and so do
 * heap allocations while external bytes fill it. */
static void test_limit(void)
{
    tt_heap *h = open_with(16 * MIB, 0);
    REQUIRE(h != NULL);
    tt_thread *t = tt_thread_attach(h);
    releases = 0;
    static char fake;
    tt_frame f = tt_frame_push(t, 64);
    int made = 0;
    for (int i = 0; i < 64; i++) {
        tt_ref r = tt_foreign_new(t, &fake, MIB, count_release, NULL);
        if (tt_is_null(r)) {
            CHECK_ERR(TT_ENOMEM);
            break;
        }
        tt_local_new(t, r);
        made++;
    }
    CHECK_CMPU((uint64_t)made, >=, 8);
    CHECK_CMPU((uint64_t)made, <, 16);
    CHECK_EQ(releases, 0); /* all held: nothing could be freed */
    tt_clear_error();
    CHECK(tt_is_null(tt_foreign_new(t, &fake, 64 * MIB, count_release, NULL)));
    CHECK_ERR(TT_ENOMEM);
    /* A heap allocation that needs a new block fails too, cleanly. */
    tt_ref big = tt_alloc_array(t, &tt_bytes_type, 8 * MIB);
    CHECK(tt_is_null(big));
    CHECK_ERR(TT_ENOMEM);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    /* Dropped: the next foreign call collects, runs the cleanups, fits. */
    tt_ref r = tt_foreign_new(t, &fake, 4 * MIB, count_release, NULL);
    CHECK(!tt_is_null(r));
    CHECK_EQ(releases, made);
    tt_heap_close(h);
    CHECK_EQ(releases, made + 1);
}

static void test_adjust(void)
{
    tt_heap *h = open_with(16 * MIB, 0);
    tt_thread *t = tt_thread_attach(h);
    static char fake;
    tt_frame f = tt_frame_push(t, 1);
    tt_local l = tt_local_new(t, tt_foreign_new(t, &fake, 1000, NULL, NULL));
    CHECK_EQ(tt_external_adjust(t, tt_local_get(t, l), 500), TT_OK);
    CHECK_EQU(tt_foreign_size(t, tt_local_get(t, l)), 1500);
    CHECK_EQ(tt_external_adjust(t, tt_local_get(t, l), -1000), TT_OK);
    CHECK_EQU(tt_foreign_size(t, tt_local_get(t, l)), 500);
    CHECK_EQ(tt_external_adjust(t, tt_local_get(t, l), -501), TT_ERANGE);
    CHECK_EQ(tt_external_adjust(t, tt_local_get(t, l), (ptrdiff_t)(64 * MIB)), TT_ENOMEM);
    CHECK_EQU(tt_foreign_size(t, tt_local_get(t, l)), 500);
    tt_stats st;
    tt_heap_stats(h, &st);
    CHECK_EQU(st.external_bytes, 500);
    /* Release gives back exactly what is accounted, never by hand. */
    tt_release(t, tt_local_get(t, l));
    tt_heap_stats(h, &st);
    CHECK_EQU(st.external_bytes, 0);
    CHECK_EQU(st.external_freed, 500);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_heap_close(h);
}

/* The on_collect hook sees every collection, with the stats. */
static int hook_calls;
static uint64_t hook_last_collections;
static void on_collect(tt_heap *h, const tt_stats *st, void *ctx)
{
    (void)h;
    hook_calls += ctx == (void *)&hook_calls;
    hook_last_collections = st->collections;
}

static void test_collect_hook(void)
{
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.on_collect = on_collect;
    cfg.collect_ctx = &hook_calls;
    tt_heap *h = tt_heap_open(&cfg);
    tt_thread *t = tt_thread_attach(h);
    hook_calls = 0;
    tt_collect(t);
    tt_collect(t);
    for (int i = 0; i < 300000; i++) tt_alloc(t, &node_type);
    tt_stats st;
    tt_heap_stats(h, &st);
    CHECK_CMPU(st.collections, >, 2);
    CHECK_EQU((uint64_t)hook_calls, st.collections);
    CHECK_EQU(hook_last_collections, st.collections);
    tt_heap_close(h);
}

/* The leak report names the creation site of what was never released. */
static char report_text[4096];
static void on_report(const char *what, const char *message, void *ctx)
{
    (void)ctx;
    size_t n = strlen(report_text);
    snprintf(report_text + n, sizeof report_text - n, "%s|%s\n", what, message);
}

static void test_leak_report(void)
{
    if (!TT_TEST_CHECKS_BUILT) return;
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.checked = TT_CHECKED_ON;
    cfg.on_report = on_report;
    tt_heap *h = tt_heap_open(&cfg);
    tt_thread *t = tt_thread_attach(h);
    report_text[0] = 0;
    static char fake;
    tt_global g1 = tt_global_new(t, tt_foreign_new(t, &fake, 300, NULL, NULL));
    tt_global g2 = tt_global_new(t, tt_foreign_new(t, &fake, 300, NULL, NULL));
    (void)g1;
    (void)g2;
    tt_ref released = tt_foreign_new(t, &fake, 7, NULL, NULL);
    tt_release(t, released);
    tt_heap_close(h);
    CHECK_CONTAINS(report_text, "leak-global|leak: 1 global reference(s) created at");
    CHECK_CONTAINS(report_text, "test_pressure.c");
    CHECK_CONTAINS(report_text, "leak-foreign|leak: 1 foreign object(s) created at");
    CHECK_CONTAINS(report_text, "(300 external bytes)");
    CHECK(strstr(report_text, "(7 external bytes)") == NULL);
}

int main(void)
{
    RUN(test_pressure_collects);
    RUN(test_pressure_guardian);
    RUN(test_explicit_only);
    RUN(test_limit);
    RUN(test_adjust);
    RUN(test_collect_hook);
    RUN(test_leak_report);
    return tt_test_done();
}
