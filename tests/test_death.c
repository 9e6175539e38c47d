/*
 * test_death.c: every checked-mode detection, with the default misuse
 * handler, kills the program with SIGABRT after printing what went wrong
 * and the caller's file:line. Each case runs in a forked child (tt_test.h)
 * whose stderr is captured; the line checked is the one marked with
 * DEATH_LINE() in the child, which is the line of the offending call.
 */
#include "tt_test.h"

struct pair {
    tt_ref a, b;
    uint64_t v;
};
static const tt_type pair_type = TT_TYPE_INIT(struct pair, a, b);

static tt_heap *open_checked(void)
{
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.checked = TT_CHECKED_ON;
    tt_heap *h = tt_heap_open(&cfg);
    if (!h) _exit(90);
    return h;
}

static tt_thread *attach(tt_heap *h)
{
    tt_thread *t = tt_thread_attach(h);
    if (!t) _exit(91);
    return t;
}

/* ---- the children ---- */

static void local_after_pop(void *arg)
{
    (void)arg;
    tt_thread *t = attach(open_checked());
    tt_frame f = tt_frame_push(t, 1);
    tt_local l = tt_local_new(t, tt_alloc(t, &pair_type));
    tt_frame_pop(t, f, TT_NO_LOCAL);
    DEATH_LINE(); tt_local_get(t, l);
}

static void local_set_after_pop(void *arg)
{
    (void)arg;
    tt_thread *t = attach(open_checked());
    tt_frame f = tt_frame_push(t, 1);
    tt_local l = tt_local_new(t, TT_NULL);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_frame g = tt_frame_push(t, 1); /* the slot is in use again */
    tt_local_new(t, TT_NULL);
    DEATH_LINE(); tt_local_set(t, l, TT_NULL);
    (void)g;
}

/* With TT_CHECKED=1 in the environment, a heap opened with the default
 * config is checked. */
static void local_after_pop_env(void *arg)
{
    (void)arg;
    setenv("TT_CHECKED", "1", 1);
    tt_heap *h = tt_heap_open(NULL);
    if (!h) _exit(90);
    tt_thread *t = attach(h);
    tt_frame f = tt_frame_push(t, 1);
    tt_local l = tt_local_new(t, TT_NULL);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    DEATH_LINE(); tt_local_get(t, l);
}

/* The same misuse with checked mode off is an error status, not a death:
 * the child returns normally. */
static void local_after_pop_unchecked(void *arg)
{
    (void)arg;
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.checked = TT_CHECKED_OFF;
    tt_heap *h = tt_heap_open(&cfg);
    if (!h) _exit(90);
    tt_thread *t = attach(h);
    tt_frame f = tt_frame_push(t, 1);
    tt_local l = tt_local_new(t, TT_NULL);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    DEATH_LINE(); tt_local_get(t, l);
    if (tt_last_error()->code != TT_ESTALE) _exit(92);
    tt_heap_close(h);
}

static void frame_pop_order(void *arg)
{
    (void)arg;
    tt_thread *t = attach(open_checked());
    tt_frame f1 = tt_frame_push(t, 1);
    tt_frame f2 = tt_frame_push(t, 1);
    (void)f2;
    DEATH_LINE(); tt_frame_pop(t, f1, TT_NO_LOCAL);
}

static void frame_popped_twice(void *arg)
{
    (void)arg;
    tt_thread *t = attach(open_checked());
    tt_frame f1 = tt_frame_push(t, 1);
    tt_frame_pop(t, f1, TT_NO_LOCAL);
    DEATH_LINE(); tt_frame_pop(t, f1, TT_NO_LOCAL);
}

static void frame_capacity(void *arg)
{
    (void)arg;
    tt_thread *t = attach(open_checked());
    tt_frame_push(t, 2);
    tt_local_new(t, TT_NULL);
    tt_local_new(t, TT_NULL);
    DEATH_LINE(); tt_local_new(t, TT_NULL);
}

static void global_double_free(void *arg)
{
    (void)arg;
    tt_thread *t = attach(open_checked());
    tt_global g = tt_global_new(t, tt_alloc(t, &pair_type));
    tt_global_free(t, g);
    DEATH_LINE(); tt_global_free(t, g);
}

static void global_after_free(void *arg)
{
    (void)arg;
    tt_thread *t = attach(open_checked());
    tt_global g = tt_global_new(t, tt_alloc(t, &pair_type));
    tt_global_free(t, g);
    DEATH_LINE(); tt_global_get(t, g);
}

static void global_set_after_free(void *arg)
{
    (void)arg;
    tt_thread *t = attach(open_checked());
    tt_global g = tt_global_new(t, TT_NULL);
    tt_global_free(t, g);
    tt_global_new(t, TT_NULL); /* reuses the slot */
    DEATH_LINE(); tt_global_set(t, g, TT_NULL);
}

static void weak_double_free(void *arg)
{
    (void)arg;
    tt_thread *t = attach(open_checked());
    tt_weak w = tt_weak_new(t, TT_NULL);
    tt_weak_free(t, w);
    DEATH_LINE(); tt_weak_free(t, w);
}

static void weak_after_free(void *arg)
{
    (void)arg;
    tt_thread *t = attach(open_checked());
    tt_weak w = tt_weak_new(t, TT_NULL);
    tt_weak_free(t, w);
    DEATH_LINE(); tt_weak_get(t, w);
}

static void store_malloced(void *arg)
{
    (void)arg;
    tt_thread *t = attach(open_checked());
    tt_local l = tt_local_new(t, tt_alloc(t, &pair_type));
    void *m = calloc(1, 64);
    tt_ref fake = {(uintptr_t)m + 8}; /* a foreign address cast into a reference */
    tt_ref p = tt_local_get(t, l);
    DEATH_LINE(); tt_store(t, p, &TT_PTR(struct pair, p)->a, fake);
}

static void store_other_heap(void *arg)
{
    (void)arg;
    tt_thread *t = attach(open_checked());
    tt_thread *u = attach(open_checked());
    tt_local l = tt_local_new(t, tt_alloc(t, &pair_type));
    tt_local k = tt_local_new(u, tt_alloc(u, &pair_type));
    tt_ref p = tt_local_get(t, l), q = tt_local_get(u, k);
    DEATH_LINE(); tt_store(t, p, &TT_PTR(struct pair, p)->a, q);
}

static void store_dead_object(void *arg)
{
    (void)arg;
    tt_thread *t = attach(open_checked());
    tt_local l = tt_local_new(t, tt_alloc(t, &pair_type));
    tt_ref dead = tt_alloc(t, &pair_type);
    tt_collect(t);
    tt_ref p = tt_local_get(t, l);
    DEATH_LINE(); tt_store(t, p, &TT_PTR(struct pair, p)->b, dead);
}

static void store_into_non_object(void *arg)
{
    (void)arg;
    tt_thread *t = attach(open_checked());
    uint64_t *m = calloc(4, sizeof(uint64_t));
    tt_ref fake = {(uintptr_t)m};
    DEATH_LINE(); tt_store(t, fake, (tt_ref *)m, TT_NULL);
}

static void store_bad_field(void *arg)
{
    (void)arg;
    tt_thread *t = attach(open_checked());
    tt_local l = tt_local_new(t, tt_alloc(t, &pair_type));
    tt_ref p = tt_local_get(t, l);
    DEATH_LINE(); tt_store(t, p, (tt_ref *)&TT_PTR(struct pair, p)->v, p);
}

static void bad_type_zeroed(void *arg)
{
    (void)arg;
    static const tt_type zero_type;
    tt_thread *t = attach(open_checked());
    DEATH_LINE(); tt_alloc(t, &zero_type);
}

static void bad_type_garbage(void *arg)
{
    (void)arg;
    /* a descriptor that was never valid: random bytes */
    static uint64_t garbage[8] = {0x1122334455667788u, 0x99, 3, 48, 0, 0, 0, 0};
    tt_thread *t = attach(open_checked());
    tt_alloc(t, &pair_type);
    DEATH_LINE(); tt_alloc(t, (const tt_type *)(void *)garbage);
}

static void bad_type_array(void *arg)
{
    (void)arg;
    tt_thread *t = attach(open_checked());
    DEATH_LINE(); tt_alloc_array(t, &pair_type, 10);
}

static void heap_closed_attach(void *arg)
{
    (void)arg;
    tt_heap *h = open_checked();
    tt_heap_close(h);
    DEATH_LINE(); tt_thread_attach(h);
}

static void heap_closed_thread(void *arg)
{
    (void)arg;
    tt_heap *h = open_checked();
    tt_thread *t = attach(h);
    tt_heap_close(h);
    DEATH_LINE(); tt_alloc(t, &pair_type);
}

static void thread_detached(void *arg)
{
    (void)arg;
    tt_heap *h = open_checked();
    tt_thread *t = attach(h);
    tt_thread_detach(t);
    DEATH_LINE(); tt_collect(t);
}

static void thread_detached_local(void *arg)
{
    (void)arg;
    tt_heap *h = open_checked();
    tt_thread *t = attach(h);
    tt_thread_detach(t);
    DEATH_LINE(); tt_local_new(t, TT_NULL);
}

/* ---- the tests ---- */

static void test_locals(void)
{
    CHECK_DIES(local_after_pop, NULL, "local-after-pop");
    CHECK_DIES(local_set_after_pop, NULL, "local-after-pop");
    CHECK_DIES(local_after_pop_env, NULL, "local-after-pop");
}

static void test_unchecked_lives(void)
{
    tt_death_result *res = malloc(sizeof *res);
    REQUIRE(res != NULL);
    CHECK_EQ(tt_death_run(local_after_pop_unchecked, NULL, res), 0);
    CHECK(res->exited);
    CHECK_EQ(res->status, 0);
    CHECK(!strstr(res->err, "local-after-pop"));
    free(res);
}

static void test_frames(void)
{
    CHECK_DIES(frame_pop_order, NULL, "frame-pop-order");
    CHECK_DIES(frame_popped_twice, NULL, "frame-pop-order");
    CHECK_DIES(frame_capacity, NULL, "frame-capacity");
}

static void test_handles(void)
{
    CHECK_DIES(global_double_free, NULL, "global-double-free");
    CHECK_DIES(global_after_free, NULL, "global-after-free");
    CHECK_DIES(global_set_after_free, NULL, "global-after-free");
    CHECK_DIES(weak_double_free, NULL, "weak-double-free");
    CHECK_DIES(weak_after_free, NULL, "weak-after-free");
}

static void test_stores(void)
{
    CHECK_DIES(store_malloced, NULL, "store-not-object");
    CHECK_DIES(store_other_heap, NULL, "store-not-object");
    CHECK_DIES(store_dead_object, NULL, "store-not-object");
    CHECK_DIES(store_into_non_object, NULL, "store-not-object");
    CHECK_DIES(store_bad_field, NULL, "store-bad-field");
}

static void test_types(void)
{
    CHECK_DIES(bad_type_zeroed, NULL, "bad-type");
    CHECK_DIES(bad_type_garbage, NULL, "bad-type");
    CHECK_DIES(bad_type_array, NULL, "bad-type");
}

static void test_lifecycle(void)
{
    CHECK_DIES(heap_closed_attach, NULL, "heap-closed");
    CHECK_DIES(heap_closed_thread, NULL, "heap-closed");
    CHECK_DIES(thread_detached, NULL, "thread-detached");
    CHECK_DIES(thread_detached_local, NULL, "thread-detached");
}

/* The report says what, where and why: the message of one death in full. */
static void test_message_shape(void)
{
    tt_death_result *res = malloc(sizeof *res);
    REQUIRE(res != NULL);
    CHECK_EQ(tt_death_run(global_double_free, NULL, res), 0);
    CHECK(res->signaled && res->sig == SIGABRT);
    CHECK_CONTAINS(res->err, "tether");
    CHECK_CONTAINS(res->err, "global-double-free");
    CHECK_CONTAINS(res->err, "test_death.c:");
    /* and a reason beyond the name and place */
    CHECK(strlen(res->err) > strlen("global-double-free") + strlen(__FILE__) + 20);
    free(res);
}

int main(void)
{
    if (!TT_TEST_CHECKS_BUILT) {
        printf("checked mode is not compiled in (TETHER_CHECKS=OFF): skipped\n");
        return TT_TEST_SKIP;
    }
    unsetenv("TT_CHECKED"); /* each child chooses its mode */
    RUN(test_locals);
    RUN(test_unchecked_lives);
    RUN(test_frames);
    RUN(test_handles);
    RUN(test_stores);
    RUN(test_types);
    RUN(test_lifecycle);
    RUN(test_message_shape);
    return tt_test_done();
}
