/*
 * test_heap.c: heap lifecycle and configuration. Opening and closing many
 * heaps, several heaps at once that share nothing, threads attached and
 * detached, bad configurations, config defaults, status names and the last
 * error record.
 */
#include "tt_test.h"

struct node {
    tt_ref next;
    uint64_t value;
};
static const tt_type node_type = TT_TYPE_INIT(struct node, next);

/* A list of n nodes with values base, base+1, ... rooted in a new local of
 * the current frame (which must have room). Returns the local. */
static tt_local make_list(tt_thread *t, int n, uint64_t base)
{
    tt_local head = tt_local_new(t, TT_NULL);
    for (int i = n - 1; i >= 0; i--) {
        tt_ref r = tt_alloc(t, &node_type);
        if (tt_is_null(r)) return head;
        TT_PTR(struct node, r)->value = base + (uint64_t)i;
        tt_store(t, r, &TT_PTR(struct node, r)->next, tt_local_get(t, head));
        tt_local_set(t, head, r);
    }
    return head;
}

/* Whether the list at r holds exactly base .. base+n-1. */
static int list_ok(tt_ref r, int n, uint64_t base)
{
    for (int i = 0; i < n; i++) {
        if (tt_is_null(r)) return 0;
        if (tt_type_of(r) != &node_type) return 0;
        if (TT_PTR(struct node, r)->value != base + (uint64_t)i) return 0;
        r = TT_PTR(struct node, r)->next;
    }
    return tt_is_null(r);
}

static void test_config_init(void)
{
    tt_config cfg;
    memset(&cfg, 0x5a, sizeof cfg);
    tt_config_init(&cfg);
    CHECK_EQU(cfg.initial_size, 0);
    CHECK_EQU(cfg.max_size, 0);
    CHECK_EQU(cfg.growth_percent, 0);
    CHECK_EQ(cfg.checked, TT_CHECKED_DEFAULT);
    CHECK_EQU(cfg.base_frame_capacity, 0);
    CHECK(cfg.on_misuse == NULL);
    CHECK(cfg.misuse_ctx == NULL);
    CHECK(cfg.pages == NULL);
}

static void test_open_null_and_defaults(void)
{
    tt_heap *h = tt_heap_open(NULL);
    REQUIRE(h != NULL);
    const char *env = getenv("TT_CHECKED");
    int env_on = TT_TEST_CHECKS_BUILT && env && strcmp(env, "1") == 0;
    CHECK_EQ(tt_heap_checked(h), env_on);

    tt_thread *t = tt_thread_attach(h);
    REQUIRE(t != NULL);
    CHECK(tt_thread_heap(t) == h);

    tt_stats s = tt_test_stats(h);
    CHECK_EQU(s.collections, 0);
    CHECK_EQU(s.bytes_allocated, 0);
    CHECK_EQU(s.live_objects, 0);
    CHECK_EQU(s.large_objects, 0);
    CHECK_EQU(s.globals, 0);
    CHECK_EQU(s.weaks, 0);
    /* The default initial size is 4 MiB: that much allocation may happen
     * before the first collection. */
    CHECK_EQU(s.next_collection, (uint64_t)4 << 20);

    /* The default base frame has 16 slots, guaranteed even in checked mode. */
    tt_local l[16];
    for (int i = 0; i < 16; i++) {
        l[i] = tt_local_new(t, tt_alloc(t, &node_type));
        CHECK(!tt_local_is_null(l[i]));
    }
    for (int i = 0; i < 16; i++) CHECK(!tt_is_null(tt_local_get(t, l[i])));

    tt_thread_detach(t);
    tt_heap_close(h);
}

static void test_checked_flag(void)
{
    tt_heap *on = tt_test_open(TT_CHECKED_ON);
    tt_heap *off = tt_test_open(TT_CHECKED_OFF);
    REQUIRE(on != NULL);
    REQUIRE(off != NULL);
    CHECK_EQ(tt_heap_checked(on), TT_TEST_CHECKS_BUILT);
    CHECK_EQ(tt_heap_checked(off), 0);
    tt_heap_close(on);
    tt_heap_close(off);
}

static void test_close_null(void)
{
    tt_clear_error();
    tt_heap_close(NULL);
    CHECK_ERR(TT_OK);
}

static void test_open_close_many(void)
{
    for (int i = 0; i < 200; i++) {
        tt_heap *h = tt_heap_open(NULL);
        REQUIRE(h != NULL);
        if (i % 3 == 0) {
            tt_thread *t = tt_thread_attach(h);
            REQUIRE(t != NULL);
            tt_frame f = tt_frame_push(t, 2);
            tt_local l = make_list(t, 50 + i, (uint64_t)i * 1000);
            if (i % 2) tt_collect(t);
            CHECK(list_ok(tt_local_get(t, l), 50 + i, (uint64_t)i * 1000));
            tt_frame_pop(t, f, TT_NO_LOCAL);
            if (i % 6 == 0) tt_thread_detach(t); /* else close detaches it */
        }
        tt_heap_close(h);
    }
}

/* Several heaps at once: objects, collections and stats of one do not
 * touch another. */
static void test_several_heaps(void)
{
    enum { N = 6 };
    tt_heap *h[N];
    tt_thread *t[N];
    tt_local head[N];
    for (int i = 0; i < N; i++) {
        h[i] = tt_heap_open(NULL);
        REQUIRE(h[i] != NULL);
        t[i] = tt_thread_attach(h[i]);
        REQUIRE(t[i] != NULL);
    }
    for (int i = 0; i < N; i++) head[i] = make_list(t[i], 100 * (i + 1), (uint64_t)i << 32);
    /* Collect only the even heaps. */
    for (int i = 0; i < N; i += 2) CHECK_EQ(tt_collect(t[i]), TT_OK);
    for (int i = 0; i < N; i++) {
        tt_stats s = tt_test_stats(h[i]);
        CHECK_EQU(s.collections, i % 2 == 0 ? 1 : 0);
        if (i % 2 == 0) CHECK_EQU(s.live_objects, 100 * (i + 1));
        CHECK_EQU(s.bytes_allocated, (uint64_t)100 * (i + 1) * (8 + sizeof(struct node)));
        CHECK(list_ok(tt_local_get(t[i], head[i]), 100 * (i + 1), (uint64_t)i << 32));
    }
    /* An object of one heap is not an object of another. */
    tt_ref r0 = tt_local_get(t[0], head[0]);
    CHECK_EQ(tt_is_object(t[0], r0), 1);
    CHECK_EQ(tt_is_object(t[1], r0), 0);
    /* Closing some heaps leaves the others intact. */
    for (int i = 0; i < N; i += 2) tt_heap_close(h[i]);
    for (int i = 1; i < N; i += 2) {
        CHECK_EQ(tt_collect(t[i]), TT_OK);
        CHECK(list_ok(tt_local_get(t[i], head[i]), 100 * (i + 1), (uint64_t)i << 32));
        tt_stats s = tt_test_stats(h[i]);
        CHECK_EQU(s.live_objects, 100 * (i + 1));
        tt_heap_close(h[i]);
    }
}

/* Several threads of one heap (used from this OS thread in turn): each
 * thread's locals are roots. */
static void test_several_threads(void)
{
    tt_heap *h = tt_heap_open(NULL);
    REQUIRE(h != NULL);
    tt_thread *a = tt_thread_attach(h);
    tt_thread *b = tt_thread_attach(h);
    REQUIRE(a != NULL && b != NULL);
    CHECK(a != b);
    CHECK(tt_thread_heap(a) == h && tt_thread_heap(b) == h);
    tt_local la = make_list(a, 300, 1);
    tt_local lb = make_list(b, 200, 5000);
    CHECK_EQ(tt_collect(a), TT_OK);
    tt_stats s = tt_test_stats(h);
    CHECK_EQU(s.live_objects, 500);
    CHECK(list_ok(tt_local_get(a, la), 300, 1));
    CHECK(list_ok(tt_local_get(b, lb), 200, 5000));
    /* Objects of a are objects of the heap, seen from b too. */
    CHECK_EQ(tt_is_object(b, tt_local_get(a, la)), 1);
    /* Detaching b drops its roots. */
    tt_thread_detach(b);
    CHECK_EQ(tt_collect(a), TT_OK);
    s = tt_test_stats(h);
    CHECK_EQU(s.live_objects, 300);
    CHECK(list_ok(tt_local_get(a, la), 300, 1));
    /* A new thread can attach after another detached. */
    tt_thread *c = tt_thread_attach(h);
    REQUIRE(c != NULL);
    tt_local lc = make_list(c, 10, 77);
    CHECK_EQ(tt_collect(c), TT_OK);
    s = tt_test_stats(h);
    CHECK_EQU(s.live_objects, 310);
    CHECK(list_ok(tt_local_get(c, lc), 10, 77));
    tt_heap_close(h); /* detaches a and c */
}

static void test_bad_configs(void)
{
    tt_config cfg;

    tt_config_init(&cfg);
    cfg.checked = 3;
    tt_clear_error();
    CHECK(tt_heap_open(&cfg) == NULL);
    CHECK_ERR(TT_EINVAL);
    CHECK(tt_last_error()->message[0] != '\0');

    tt_config_init(&cfg);
    cfg.checked = -1;
    CHECK(tt_heap_open(&cfg) == NULL);
    CHECK_ERR(TT_EINVAL);

    tt_page_hooks no_reserve = {NULL, NULL, NULL, NULL};
    tt_config_init(&cfg);
    cfg.pages = &no_reserve;
    tt_clear_error();
    CHECK(tt_heap_open(&cfg) == NULL);
    CHECK_ERR(TT_EINVAL);

    tt_config_init(&cfg);
    cfg.base_frame_capacity = TT_FRAME_MAX_CAPACITY + 1;
    tt_clear_error();
    CHECK(tt_heap_open(&cfg) == NULL);
    CHECK_ERR(TT_ERANGE);

    tt_config_init(&cfg);
    cfg.growth_percent = 4000000000u;
    tt_clear_error();
    CHECK(tt_heap_open(&cfg) == NULL);
    CHECK_ERR(TT_EINVAL);

    /* A max_size too small to hold anything. */
    tt_config_init(&cfg);
    cfg.max_size = 1;
    tt_clear_error();
    CHECK(tt_heap_open(&cfg) == NULL);
    CHECK_ERR(TT_EINVAL);

    /* A good config still opens after all that. */
    tt_config_init(&cfg);
    cfg.initial_size = 1 << 20;
    cfg.max_size = 64 << 20;
    cfg.growth_percent = 200;
    cfg.base_frame_capacity = 100;
    tt_heap *h = tt_heap_open(&cfg);
    REQUIRE(h != NULL);
    tt_thread *t = tt_thread_attach(h);
    REQUIRE(t != NULL);
    tt_stats s = tt_test_stats(h);
    CHECK_EQU(s.next_collection, 1 << 20);
    /* The base frame has the configured room, even in checked mode. */
    for (int i = 0; i < 100; i++) CHECK(!tt_local_is_null(tt_local_new(t, TT_NULL)));
    tt_heap_close(h);
}

/* The config is copied at open: changing it afterwards changes nothing. */
static void test_config_copied(void)
{
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.initial_size = 256 << 10;
    cfg.checked = TT_CHECKED_OFF;
    tt_heap *h = tt_heap_open(&cfg);
    REQUIRE(h != NULL);
    cfg.initial_size = 1;
    cfg.checked = TT_CHECKED_ON;
    memset(&cfg, 0xff, sizeof cfg);
    CHECK_EQ(tt_heap_checked(h), 0);
    tt_stats s = tt_test_stats(h);
    CHECK_EQU(s.next_collection, 256 << 10);
    tt_heap_close(h);
}

/* initial_size paces the first collection; growth_percent the next. */
static void test_pacing(void)
{
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.initial_size = 64 << 10;
    tt_heap *h = tt_heap_open(&cfg);
    REQUIRE(h != NULL);
    tt_thread *t = tt_thread_attach(h);
    REQUIRE(t != NULL);
    /* 1 MiB of garbage in 24-byte objects: 16 initial_size worth. */
    for (int i = 0; i < (1 << 20) / 24; i++) REQUIRE(!tt_is_null(tt_alloc(t, &node_type)));
    tt_stats s = tt_test_stats(h);
    CHECK_CMPU(s.collections, >=, 8);
    CHECK_CMPU(s.collections, <=, 32);
    /* Nothing is live, so the footprint stayed small: one chunk. */
    CHECK_CMPU(s.heap_bytes_peak, <=, 4 << 20);
    tt_heap_close(h);
}

static void test_status_names(void)
{
    CHECK_STREQ(tt_status_name(TT_OK), "TT_OK");
    CHECK_STREQ(tt_status_name(TT_ENOMEM), "TT_ENOMEM");
    CHECK_STREQ(tt_status_name(TT_EINVAL), "TT_EINVAL");
    CHECK_STREQ(tt_status_name(TT_ESTALE), "TT_ESTALE");
    CHECK_STREQ(tt_status_name(TT_ECLOSED), "TT_ECLOSED");
    CHECK_STREQ(tt_status_name(TT_EMISUSE), "TT_EMISUSE");
    CHECK_STREQ(tt_status_name(TT_ERANGE), "TT_ERANGE");
    CHECK_STREQ(tt_status_name(TT_ESTATE), "TT_ESTATE");
    CHECK_STREQ(tt_status_name(1), "TT_?");
    CHECK_STREQ(tt_status_name(-100), "TT_?");
}

static void test_last_error(void)
{
    const tt_error *e = tt_last_error();
    CHECK(e != NULL);
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.checked = 42;
    CHECK(tt_heap_open(&cfg) == NULL);
    CHECK_EQ(tt_last_error()->code, TT_EINVAL);
    CHECK(strlen(tt_last_error()->message) > 0);
    tt_clear_error();
    CHECK_EQ(tt_last_error()->code, TT_OK);
    CHECK_EQ(tt_last_error()->line, 0);
    CHECK_STREQ(tt_last_error()->message, "");
    /* The record is per OS thread, and the same record every time. */
    CHECK(tt_last_error() == e);
}

/* Errors raised through the convenience macros name the caller. */
static void test_error_site(void)
{
    tt_heap *h = tt_test_open(TT_CHECKED_OFF);
    REQUIRE(h != NULL);
    tt_thread *t = tt_thread_attach(h);
    REQUIRE(t != NULL);
    tt_clear_error();
    int line = __LINE__; tt_frame f = tt_frame_push(t, (size_t)TT_FRAME_MAX_CAPACITY + 1);
    CHECK(tt_frame_is_null(f));
    CHECK_ERR(TT_ERANGE);
    CHECK_STREQ(tt_last_error()->file, __FILE__);
    CHECK_EQ(tt_last_error()->line, line);
    tt_heap_close(h);
}

/* A heap closed with live objects, globals, weaks, open frames and several
 * attached threads frees everything (ASan's leak check sees the rest). */
static void test_close_with_everything(void)
{
    tt_heap *h = tt_heap_open(NULL);
    REQUIRE(h != NULL);
    tt_thread *t = tt_thread_attach(h);
    tt_thread *u = tt_thread_attach(h);
    REQUIRE(t && u);
    tt_frame f = tt_frame_push(t, 8);
    CHECK(!tt_frame_is_null(f));
    tt_local l = make_list(t, 1000, 0);
    tt_global g = tt_global_new(t, tt_local_get(t, l));
    tt_weak w = tt_weak_new(t, tt_local_get(t, l));
    CHECK(!tt_global_is_null(g));
    CHECK(!tt_weak_is_null(w));
    tt_local_new(u, tt_alloc_array(u, &tt_bytes_type, 1 << 20));
    tt_local_new(u, tt_alloc_array(u, &tt_refs_type, 10000));
    CHECK_EQ(tt_collect(u), TT_OK);
    tt_stats s = tt_test_stats(h);
    CHECK_EQU(s.live_objects, 1002);
    CHECK_EQU(s.large_objects, 2);
    CHECK_EQU(s.globals, 1);
    CHECK_EQU(s.weaks, 1);
    tt_heap_close(h);
}

int main(void)
{
    RUN(test_config_init);
    RUN(test_open_null_and_defaults);
    RUN(test_checked_flag);
    RUN(test_close_null);
    RUN(test_open_close_many);
    RUN(test_several_heaps);
    RUN(test_several_threads);
    RUN(test_bad_configs);
    RUN(test_config_copied);
    RUN(test_pacing);
    RUN(test_status_names);
    RUN(test_last_error);
    RUN(test_error_site);
    RUN(test_close_with_everything);
    return tt_test_done();
}
