/*
 * test_cleanup.c: cleanup stacks. Cleanups run newest first, exactly once,
 * whichever of tt_cleanup_run_last, tt_release, finalization and close
 * gets to them first; allocators register their deallocation atomically
 * and replace an earlier one; retainers pair every retain with a release;
 * a released foreign object reads NULL; keep-alive edges hold their target;
 * close runs what is left in reverse registration order, and stops, with a
 * report, a cleanup that keeps registering itself; misuse is reported with
 * its name in checked mode.
 */
#include "tt_test.h"

struct node {
    tt_ref next;
    int id;
};
static const tt_type node_type = TT_TYPE_INIT(struct node, next);

/* ---- a log of cleanup runs ---- */

static int log_ids[16384];
static int log_len;
static void log_reset(void) { log_len = 0; }
static void record(tt_thread *t, tt_ref obj, void *env)
{
    (void)t;
    (void)obj;
    log_ids[log_len++] = (int)(intptr_t)env;
}
static int logged(int id)
{
    int n = 0;
    for (int i = 0; i < log_len; i++) n += log_ids[i] == id;
    return n;
}
#define CHECK_LOG(...)                                                 \
    do {                                                               \
        const int want_[] = {__VA_ARGS__};                             \
        int n_ = (int)(sizeof want_ / sizeof want_[0]);                \
        CHECK_EQ(log_len, n_);                                         \
        for (int i_ = 0; i_ < n_ && i_ < log_len; i_++)                \
            CHECK_EQ(log_ids[i_], want_[i_]);                          \
    } while (0)

/* A heap in the environment's checked mode whose misuse reports are
 * recorded instead of aborting, so the failing calls return their code. */
static tt_heap *open_heap(int checked)
{
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.checked = checked;
    cfg.on_misuse = tt_test_record_misuse;
    return tt_heap_open(&cfg);
}

static tt_ref new_node(tt_thread *t, int id)
{
    tt_ref n = tt_alloc(t, &node_type);
    TT_PTR(struct node, n)->id = id;
    return n;
}

/* ---- per-object stacks ---- */

static void test_newest_first_on_release(void)
{
    tt_heap *h = open_heap(TT_CHECKED_DEFAULT);
    tt_thread *t = tt_thread_attach(h);
    tt_frame f = tt_frame_push(t, 2);
    tt_local l = tt_local_new(t, new_node(t, 1));
    log_reset();
    for (int i = 1; i <= 5; i++)
        CHECK_EQ(tt_cleanup_push(t, tt_local_get(t, l), record, (void *)(intptr_t)i), TT_OK);
    CHECK_EQU(tt_cleanup_count(t, tt_local_get(t, l)), 5);
    CHECK_EQ(tt_release(t, tt_local_get(t, l)), TT_OK);
    CHECK_LOG(5, 4, 3, 2, 1);
    CHECK_EQU(tt_cleanup_count(t, tt_local_get(t, l)), 0);
    /* Nothing left: a second release of a plain object has nothing to do,
     * and a collection finds no cleanup to queue. */
    CHECK_EQ(tt_release(t, tt_local_get(t, l)), TT_OK);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_collect(t);
    CHECK_EQU(tt_pending_cleanups(t), 0);
    CHECK_EQ(log_len, 5);
    tt_heap_close(h);
    CHECK_EQ(log_len, 5);
}

static void test_run_last(void)
{
    tt_heap *h = open_heap(TT_CHECKED_DEFAULT);
    tt_thread *t = tt_thread_attach(h);
    tt_frame f = tt_frame_push(t, 2);
    tt_local a = tt_local_new(t, new_node(t, 1));
    tt_local b = tt_local_new(t, new_node(t, 2));
    log_reset();
    /* Interleaved registrations on two objects. */
    tt_cleanup_push(t, tt_local_get(t, a), record, (void *)11);
    tt_cleanup_push(t, tt_local_get(t, b), record, (void *)21);
    tt_cleanup_push(t, tt_local_get(t, a), record, (void *)12);
    tt_cleanup_push(t, tt_local_get(t, b), record, (void *)22);
    tt_cleanup_push(t, tt_local_get(t, a), record, (void *)13);
    CHECK_EQ(tt_cleanup_run_last(t, tt_local_get(t, a)), TT_OK);
    CHECK_LOG(13);
    CHECK_EQ(tt_cleanup_run_last(t, tt_local_get(t, b)), TT_OK);
    CHECK_LOG(13, 22);
    CHECK_EQ(tt_cleanup_run_last(t, tt_local_get(t, a)), TT_OK);
    CHECK_LOG(13, 22, 12);
    CHECK_EQU(tt_cleanup_count(t, tt_local_get(t, a)), 1);
    CHECK_EQU(tt_cleanup_count(t, tt_local_get(t, b)), 1);
    CHECK_EQ(tt_release(t, tt_local_get(t, a)), TT_OK);
    CHECK_LOG(13, 22, 12, 11);
    /* No cleanup left: an error, not a second run. */
    tt_clear_error();
    CHECK_EQ(tt_cleanup_run_last(t, tt_local_get(t, a)), TT_ESTATE);
    CHECK_ERR(TT_ESTATE);
    CHECK_EQ(log_len, 4);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_heap_close(h); /* b's last cleanup runs at close */
    CHECK_LOG(13, 22, 12, 11, 21);
}

/* A retain/release loop leaves no garbage in the log. */
static int refcount;
static void retain(void *env)
{
    (void)env;
    refcount++;
}
static void release(tt_thread *t, tt_ref obj, void *env)
{
    (void)t;
    (void)obj;
    (void)env;
    refcount--;
}

static void test_retainer(void)
{
    tt_heap *h = open_heap(TT_CHECKED_DEFAULT);
    tt_thread *t = tt_thread_attach(h);
    tt_frame f = tt_frame_push(t, 1);
    tt_local l = tt_local_new(t, new_node(t, 1));
    refcount = 0;
    for (int i = 0; i < 100000; i++) {
        CHECK_EQ(tt_cleanup_retain(t, tt_local_get(t, l), retain, release, NULL), TT_OK);
        if (i % 3 != 2) CHECK_EQ(tt_cleanup_run_last(t, tt_local_get(t, l)), TT_OK);
    }
    CHECK_EQ(refcount, 100000 / 3);
    tt_stats st;
    tt_heap_stats(h, &st);
    CHECK_EQU(st.cleanups_live, 100000 / 3);
    /* Dropping the object releases every remaining retain once. */
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_collect(t);
    tt_run_finalizers(t, 0);
    CHECK_EQ(refcount, 0);
    tt_heap_stats(h, &st);
    CHECK_EQU(st.cleanups_live, 0);
    CHECK_EQU(st.objects_finalized, 1);
    tt_heap_close(h);
    CHECK_EQ(refcount, 0);
}

/* ---- foreign objects ---- */

static int frees;
static void count_free(tt_thread *t, tt_ref obj, void *env)
{
    (void)env;
    void *p = tt_foreign_addr(t, obj);
    if (p) frees++;
    free(p);
}

static void test_foreign_release(void)
{
    for (int checked = TT_CHECKED_OFF; checked >= TT_CHECKED_ON; checked--) {
        if (checked == TT_CHECKED_ON && !TT_TEST_CHECKS_BUILT) continue;
        tt_config cfg;
        tt_config_init(&cfg);
        cfg.checked = checked;
        cfg.on_misuse = tt_test_record_misuse;
        tt_heap *h = tt_heap_open(&cfg);
        tt_thread *t = tt_thread_attach(h);
        tt_frame f = tt_frame_push(t, 2);
        frees = 0;
        void *buf = malloc(100);
        tt_local l = tt_local_new(t, tt_foreign_new(t, buf, 100, count_free, NULL));
        tt_ref r = tt_local_get(t, l);
        REQUIRE(!tt_is_null(r));
        CHECK(tt_foreign_addr(t, r) == buf);
        CHECK_EQU(tt_foreign_size(t, r), 100);
        tt_stats st;
        tt_heap_stats(h, &st);
        CHECK_EQU(st.external_bytes, 100);
        CHECK_EQ(tt_release(t, r), TT_OK);
        CHECK_EQ(frees, 1);
        CHECK(tt_foreign_released(t, r));
        CHECK_EQU(tt_foreign_size(t, r), 0);
        tt_heap_stats(h, &st);
        CHECK_EQU(st.external_bytes, 0);
        CHECK_EQU(st.external_freed, 100);
        /* After release: NULL and an error, never the stale address. */
        tt_test_misuse_reset();
        tt_clear_error();
        CHECK(tt_foreign_addr(t, r) == NULL);
        CHECK_ERR(TT_ESTATE);
        if (checked == TT_CHECKED_ON) CHECK_STREQ(tt_test_last_misuse(), "foreign-after-release");
        CHECK_EQ(tt_release(t, r), TT_ESTATE);
        if (checked == TT_CHECKED_ON) CHECK_STREQ(tt_test_last_misuse(), "release-twice");
        CHECK_EQ(tt_cleanup_push(t, r, count_free, NULL), TT_ESTATE);
        CHECK_EQ(tt_external_adjust(t, r, 10), TT_ESTATE);
        /* Not a foreign object. */
        tt_local n = tt_local_new(t, new_node(t, 1));
        tt_clear_error();
        CHECK(tt_foreign_addr(t, tt_local_get(t, n)) == NULL);
        CHECK_ERR(TT_EINVAL);
        if (checked == TT_CHECKED_ON) CHECK_STREQ(tt_test_last_misuse(), "not-foreign");
        tt_frame_pop(t, f, TT_NO_LOCAL);
        tt_collect(t);
        tt_run_finalizers(t, 0);
        CHECK_EQ(frees, 1);
        tt_heap_close(h);
        CHECK_EQ(frees, 1);
    }
}

/* tt_foreign_addr_if recognises the objects made with one cleanup and
 * env, follows a deallocation tt_foreign_allocate put in place of the
 * base, and refuses the rest with distinct codes; in checked mode a
 * mismatch is an answer, not a misuse. A release through the path for a
 * lone base entry and one through the general path (a pushed cleanup
 * above the base) both run everything, newest first. */
static void count_free_none(tt_thread *t, tt_ref obj, void *env)
{
    (void)t;
    (void)obj;
    (void)env;
    frees++;
}
static void other_free(tt_thread *t, tt_ref obj, void *env)
{
    (void)t;
    (void)obj;
    (void)env;
}
static void *make_buf(void *ctx)
{
    (void)ctx;
    return malloc(8);
}
static void free_env_buf(tt_thread *t, tt_ref obj, void *env)
{
    (void)env;
    free(tt_foreign_addr(t, obj));
    frees++;
}

static void test_foreign_addr_if(void)
{
    for (int checked = TT_CHECKED_OFF; checked >= TT_CHECKED_ON; checked--) {
        if (checked == TT_CHECKED_ON && !TT_TEST_CHECKS_BUILT) continue;
        tt_heap *h = open_heap(checked);
        tt_thread *t = tt_thread_attach(h);
        tt_frame f = tt_frame_push(t, 4);
        int a = 0, b = 0, owner = 0, other = 0;
        frees = 0;
        log_reset();
        tt_local la = tt_local_new(t, tt_foreign_new(t, &a, 0, count_free_none, &owner));
        tt_local lb = tt_local_new(t, tt_foreign_new(t, &b, 0, other_free, &owner));
        tt_ref ra = tt_local_get(t, la), rb = tt_local_get(t, lb);
        tt_test_misuse_reset();
        CHECK(tt_foreign_addr_if(t, ra, count_free_none, &owner) == &a);
        tt_clear_error();
        CHECK(tt_foreign_addr_if(t, ra, count_free_none, &other) == NULL);
        CHECK_ERR(TT_ETYPE);
        CHECK(tt_foreign_addr_if(t, ra, other_free, &owner) == NULL);
        CHECK_ERR(TT_ETYPE);
        CHECK(tt_foreign_addr_if(t, rb, count_free_none, &owner) == NULL);
        CHECK_ERR(TT_ETYPE);
        CHECK(tt_foreign_addr_if(t, ra, NULL, &owner) == NULL);
        CHECK_ERR(TT_ETYPE);
        /* A function never registered matches nothing. */
        CHECK(tt_foreign_addr_if(t, ra, free_env_buf, &owner) == NULL);
        CHECK_ERR(TT_ETYPE);
        CHECK_EQ(tt_test_misuse_calls(), 0);
        /* A pushed cleanup above the base does not hide it. */
        CHECK_EQ(tt_cleanup_push(t, ra, record, (void *)(intptr_t)1), TT_OK);
        CHECK(tt_foreign_addr_if(t, ra, count_free_none, &owner) == &a);
        /* The deallocation tt_foreign_allocate puts in place of the base is
         * what identifies the object from then on. */
        void *p = tt_foreign_allocate(t, rb, 8, make_buf, NULL, free_env_buf, &other);
        REQUIRE(p != NULL);
        CHECK(tt_foreign_addr_if(t, rb, free_env_buf, &other) == p);
        CHECK(tt_foreign_addr_if(t, rb, other_free, &owner) == NULL);
        CHECK_ERR(TT_ETYPE);
        /* Not a foreign object: the errors of tt_foreign_addr. */
        tt_local n = tt_local_new(t, new_node(t, 1));
        tt_clear_error();
        CHECK(tt_foreign_addr_if(t, tt_local_get(t, n), count_free_none, &owner) == NULL);
        CHECK_ERR(TT_EINVAL);
        if (checked == TT_CHECKED_ON) CHECK_STREQ(tt_test_last_misuse(), "not-foreign");
        /* Released (general path: two entries; lone-base path: one). */
        CHECK_EQ(tt_release(t, ra), TT_OK);
        CHECK_LOG(1);
        CHECK_EQ(frees, 1);
        CHECK_EQ(tt_release(t, rb), TT_OK);
        CHECK_EQ(frees, 2);
        tt_test_misuse_reset();
        tt_clear_error();
        CHECK(tt_foreign_addr_if(t, ra, count_free_none, &owner) == NULL);
        CHECK_ERR(TT_ESTATE);
        if (checked == TT_CHECKED_ON) CHECK_STREQ(tt_test_last_misuse(), "foreign-after-release");
        tt_frame_pop(t, f, TT_NO_LOCAL);
        tt_heap_close(h);
        CHECK_EQ(frees, 2);
    }
}

/* tt_release of a foreign object made by tt_foreign_new with 0 external
 * bytes and nothing else registered runs its base without the heap lock
 * on an unchecked heap, and leaves its log entry to the next collection:
 *   - the object is pinned for the call: unrooted by the caller, it
 *     survives a collection inside its own cleanup and the allocations
 *     that would reuse its memory;
 *   - a second release from inside the cleanup finds nothing to run, and
 *     the object takes no external bytes once its release began;
 *   - the stats count the run at once and no stale entry as live, before
 *     and after the collection that purges them;
 *   - a leak report leaves released objects out; close runs only the rest,
 *     newest first;
 *   - an object that took external bytes or a second cleanup is released
 *     the locked way, its bytes given back. */
static void count_foreign_leaks(const tt_leak *leak, void *ctx)
{
    if (strcmp(leak->kind, "foreign") == 0) *(uint64_t *)ctx += leak->count;
}
/* Foreign objects a leak report names now. */
static uint64_t foreign_leaks(tt_thread *t)
{
    uint64_t n = 0;
    CHECK_EQ(tt_heap_leaks(t, count_foreign_leaks, &n), TT_OK);
    return n;
}
static void *unlocked_addr;
static int unlocked_seen, unlocked_again, unlocked_adjust;
static void unlocked_cleanup(tt_thread *t, tt_ref obj, void *env)
{
    (void)env;
    tt_collect(t);
    for (int i = 0; i < 20000; i++) (void)tt_foreign_new(t, NULL, 0, NULL, NULL);
    tt_collect(t);
    unlocked_seen += tt_foreign_addr(t, obj) == unlocked_addr;
    unlocked_again = tt_release(t, obj);
    unlocked_adjust = tt_external_adjust(t, obj, 8);
    log_ids[log_len++] = 100;
}

static void test_release_unlocked(void)
{
    tt_heap *h = open_heap(TT_CHECKED_OFF);
    tt_thread *t = tt_thread_attach(h);
    REQUIRE(t != NULL);
    log_reset();
    int a = 0;
    unlocked_addr = &a;
    unlocked_seen = 0;
    tt_stats st0, st;
    /* Unrooted on purpose: the release pins it. */
    tt_ref r = tt_foreign_new(t, &a, 0, unlocked_cleanup, NULL);
    REQUIRE(!tt_is_null(r));
    CHECK_EQ(tt_release(t, r), TT_OK);
    CHECK_EQ(unlocked_seen, 1);
    CHECK_EQ(unlocked_again, TT_OK);
    CHECK_EQ(unlocked_adjust, TT_ESTATE);
    CHECK_LOG(100);
    tt_collect(t); /* the cleanup's 20,000 objects go */
    tt_run_finalizers(t, 0);

    tt_heap_stats(h, &st0);
    tt_frame f = tt_frame_push(t, 8);
    tt_local l[5];
    for (int i = 0; i < 5; i++)
        l[i] = tt_local_new(t, tt_foreign_new(t, &a, 0, record, (void *)(intptr_t)(i + 1)));
    log_reset();
    CHECK_EQ(tt_release(t, tt_local_get(t, l[1])), TT_OK);
    CHECK_EQ(tt_release(t, tt_local_get(t, l[3])), TT_OK);
    CHECK_LOG(2, 4);
    CHECK(tt_foreign_released(t, tt_local_get(t, l[1])));
    CHECK_EQ(tt_release(t, tt_local_get(t, l[1])), TT_ESTATE);
    CHECK_EQ((int)tt_cleanup_count(t, tt_local_get(t, l[3])), 0);
    tt_heap_stats(h, &st);
    CHECK_EQU(st.cleanups_run - st0.cleanups_run, 2);
    CHECK_EQU(st.cleanups_live, 3);
    CHECK_EQU(foreign_leaks(t), 3);
    /* Released and dropped: the collection purges their entries, so it
     * finds nothing of them to queue. */
    for (int i = 0; i < 2; i++)
        CHECK_EQ(tt_release(t, tt_foreign_new(t, &a, 0, record, (void *)(intptr_t)50)), TT_OK);
    tt_collect(t); /* purges the stale entries */
    tt_heap_stats(h, &st);
    CHECK_EQU(st.objects_queued, st0.objects_queued);
    CHECK_EQU(st.cleanups_run - st0.cleanups_run, 4);
    CHECK_EQU(st.cleanups_live, 3);
    CHECK_LOG(2, 4, 50, 50);

    /* No longer FAST: external bytes, a second cleanup. */
    CHECK_EQ(tt_external_adjust(t, tt_local_get(t, l[0]), 100), TT_OK);
    CHECK_EQ(tt_cleanup_push(t, tt_local_get(t, l[2]), record, (void *)(intptr_t)30), TT_OK);
    log_reset();
    CHECK_EQ(tt_release(t, tt_local_get(t, l[0])), TT_OK);
    CHECK_EQ(tt_release(t, tt_local_get(t, l[2])), TT_OK);
    CHECK_LOG(1, 30, 3);
    tt_heap_stats(h, &st);
    CHECK_EQU(st.external_bytes, 0);
    CHECK_EQU(st.cleanups_live, 1);
    /* Close runs what is left (l[4]) and nothing released before. */
    log_reset();
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_heap_close(h);
    CHECK_LOG(5);
}

/* tt_foreign_new without the lock (unchecked, 0 external bytes, a
 * function the thread registered before): the object's base waits in the
 * thread's ring until the next holder of the heap lock appends it, so
 *   - registration order holds across both paths: close runs, newest
 *     first, objects made alternately without the lock and with it;
 *   - a cleanup pushed on a waiting object lands above its base;
 *   - a waiting object that dies is finalized; one released while waiting
 *     never reaches the log, and is not reported as a leak; one still held
 *     is;
 *   - the stats count every registration and nothing released as live. */
static void test_new_unlocked(void)
{
    tt_heap *h = open_heap(TT_CHECKED_OFF);
    tt_thread *t = tt_thread_attach(h);
    REQUIRE(t != NULL);
    int a = 0;
    log_reset();
    /* The first registration of record takes the lock; the next ones
     * need not. */
    tt_frame f = tt_frame_push(t, 8);
    tt_local l[6];
    for (int i = 0; i < 6; i++) {
        size_t bytes = i % 2 ? 64 : 0; /* odd ones: external bytes, locked */
        l[i] = tt_local_new(t, tt_foreign_new(t, &a, bytes, record, (void *)(intptr_t)(i + 1)));
    }
    CHECK_EQ(tt_cleanup_push(t, tt_local_get(t, l[4]), record, (void *)(intptr_t)50), TT_OK);
    tt_stats st0, st;
    tt_heap_stats(h, &st0);
    CHECK_EQU(st0.cleanups_live, 7);
    CHECK_EQU(foreign_leaks(t), 6);

    /* Made, released while waiting, dropped; made and dropped unreleased. */
    for (int i = 0; i < 100; i++)
        CHECK_EQ(tt_release(t, tt_foreign_new(t, &a, 0, record, (void *)(intptr_t)60)), TT_OK);
    for (int i = 0; i < 10; i++) (void)tt_foreign_new(t, &a, 0, record, (void *)(intptr_t)70);
    CHECK_EQ(logged(60), 100);
    tt_collect(t);
    tt_run_finalizers(t, 0);
    CHECK_EQ(logged(70), 10);
    tt_heap_stats(h, &st);
    CHECK_EQU(st.cleanups_registered - st0.cleanups_registered, 110);
    CHECK_EQU(st.cleanups_run - st0.cleanups_run, 110);
    CHECK_EQU(st.cleanups_live, 7);
    CHECK_EQU(foreign_leaks(t), 6);

    log_reset();
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_heap_close(h);
    CHECK_LOG(50, 6, 5, 4, 3, 2, 1);
}

/* tt_release_if releases only an object made with the given cleanup and
 * env (through the unlocked path for a lone base, the locked one
 * otherwise), refuses others with TT_ETYPE and no misuse, and answers a
 * second release and a non-foreign object as tt_release and
 * tt_foreign_addr do. */
static void test_release_if(void)
{
    for (int checked = TT_CHECKED_OFF; checked >= TT_CHECKED_ON; checked--) {
        if (checked == TT_CHECKED_ON && !TT_TEST_CHECKS_BUILT) continue;
        tt_heap *h = open_heap(checked);
        tt_thread *t = tt_thread_attach(h);
        tt_frame f = tt_frame_push(t, 4);
        int a = 0, owner = 0, other = 0;
        log_reset();
        tt_local l1 = tt_local_new(t, tt_foreign_new(t, &a, 0, record, &owner));
        tt_local l2 = tt_local_new(t, tt_foreign_new(t, &a, 0, record, &owner));
        CHECK_EQ(tt_cleanup_push(t, tt_local_get(t, l2), record, (void *)(intptr_t)7), TT_OK);
        tt_test_misuse_reset();
        CHECK_EQ(tt_release_if(t, tt_local_get(t, l1), record, &other), TT_ETYPE);
        CHECK_EQ(tt_release_if(t, tt_local_get(t, l1), other_free, &owner), TT_ETYPE);
        CHECK_EQ(tt_release_if(t, tt_local_get(t, l2), record, &other), TT_ETYPE);
        CHECK_EQ(tt_test_misuse_calls(), 0);
        CHECK_EQ(log_len, 0);
        CHECK(!tt_foreign_released(t, tt_local_get(t, l1)));
        CHECK_EQ(tt_release_if(t, tt_local_get(t, l1), record, &owner), TT_OK);
        CHECK_EQ(log_len, 1);
        CHECK(log_ids[0] == (int)(intptr_t)&owner);
        CHECK_EQ(tt_release_if(t, tt_local_get(t, l2), record, &owner), TT_OK);
        CHECK_EQ(log_len, 3);
        CHECK_EQ(log_ids[1], 7);
        CHECK_EQ(tt_release_if(t, tt_local_get(t, l1), record, &owner), TT_ESTATE);
        if (checked == TT_CHECKED_ON) CHECK_STREQ(tt_test_last_misuse(), "release-twice");
        tt_local n = tt_local_new(t, new_node(t, 1));
        CHECK_EQ(tt_release_if(t, tt_local_get(t, n), record, &owner), TT_EINVAL);
        if (checked == TT_CHECKED_ON) CHECK_STREQ(tt_test_last_misuse(), "not-foreign");
        tt_frame_pop(t, f, TT_NO_LOCAL);
        tt_heap_close(h);
        CHECK_EQ(log_len, 3);
    }
}

/* A released foreign object cannot be put into a wrapper table: TT_ESTATE
 * with the caller's site and no report, in every mode; the table is left
 * as it was. */
static void test_wtable_put_released(void)
{
    for (int checked = TT_CHECKED_OFF; checked >= TT_CHECKED_ON; checked--) {
        if (checked == TT_CHECKED_ON && !TT_TEST_CHECKS_BUILT) continue;
        tt_heap *h = open_heap(checked);
        tt_thread *t = tt_thread_attach(h);
        tt_frame f = tt_frame_push(t, 2);
        static char things[2];
        tt_local a = tt_local_new(t, tt_foreign_new(t, &things[0], 0, NULL, NULL));
        tt_local b = tt_local_new(t, tt_foreign_new(t, &things[1], 0, NULL, NULL));
        tt_wtable *w = tt_wtable_new(t);
        REQUIRE(w != NULL);
        CHECK_EQ(tt_wtable_put(t, w, &things[0], tt_local_get(t, a)), TT_OK);
        CHECK_EQ(tt_release(t, tt_local_get(t, b)), TT_OK);

        tt_test_misuse_reset();
        tt_clear_error();
        int line = __LINE__; int rc = tt_wtable_put(t, w, &things[1], tt_local_get(t, b));
        CHECK_EQ(rc, TT_ESTATE);
        CHECK_ERR(TT_ESTATE);
        CHECK_STREQ(tt_last_error()->file, __FILE__);
        CHECK_EQ(tt_last_error()->line, line);
        CHECK_CONTAINS(tt_last_error()->message, "released");
        CHECK_EQ(tt_test_misuse_calls(), 0);
        /* Nothing entered, nothing replaced. */
        CHECK(tt_is_null(tt_wtable_get(t, w, &things[1])));
        CHECK_EQU(tt_wtable_count(w), 1);
        CHECK_EQ(tt_wtable_put(t, w, &things[0], tt_local_get(t, b)), TT_ESTATE);
        CHECK(tt_same(tt_wtable_get(t, w, &things[0]), tt_local_get(t, a)));

        CHECK_EQ(tt_wtable_free(t, w), TT_OK);
        tt_frame_pop(t, f, TT_NO_LOCAL);
        tt_heap_close(h);
    }
}

/* Cleanups of a foreign object run before its release: they still read
 * the address, and the base (first) cleanup runs last. */
static void *seen_addr[8];
static int nseen;
static void see_addr(tt_thread *t, tt_ref obj, void *env)
{
    (void)env;
    seen_addr[nseen++] = tt_foreign_addr(t, obj);
}

static void test_foreign_stack(void)
{
    tt_heap *h = open_heap(TT_CHECKED_DEFAULT);
    tt_thread *t = tt_thread_attach(h);
    tt_frame f = tt_frame_push(t, 1);
    static char thing[16];
    nseen = 0;
    tt_local l = tt_local_new(t, tt_foreign_new(t, thing, 0, see_addr, NULL));
    tt_cleanup_push(t, tt_local_get(t, l), see_addr, NULL);
    tt_cleanup_push(t, tt_local_get(t, l), see_addr, NULL);
    CHECK_EQ(tt_cleanup_run_last(t, tt_local_get(t, l)), TT_OK);
    CHECK(!tt_foreign_released(t, tt_local_get(t, l)));
    CHECK_EQ(tt_cleanup_run_last(t, tt_local_get(t, l)), TT_OK);
    CHECK(!tt_foreign_released(t, tt_local_get(t, l)));
    CHECK_EQ(tt_cleanup_run_last(t, tt_local_get(t, l)), TT_OK); /* the base: releases */
    CHECK(tt_foreign_released(t, tt_local_get(t, l)));
    CHECK_EQ(nseen, 3);
    for (int i = 0; i < 3; i++) CHECK(seen_addr[i] == thing);
    /* A foreign object with no cleanup is released by tt_release all the same. */
    tt_local_set(t, l, tt_foreign_new(t, thing, 7, NULL, NULL));
    CHECK_EQU(tt_cleanup_count(t, tt_local_get(t, l)), 0);
    CHECK_EQ(tt_release(t, tt_local_get(t, l)), TT_OK);
    CHECK(tt_foreign_released(t, tt_local_get(t, l)));
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_heap_close(h);
}

/* ---- allocators ---- */

static int allocs, deallocs, fail_next_alloc;
static void *counting_alloc(void *ctx)
{
    if (fail_next_alloc) {
        fail_next_alloc = 0;
        return NULL;
    }
    allocs++;
    return malloc((size_t)(uintptr_t)ctx);
}
static void counting_dealloc(tt_thread *t, tt_ref obj, void *env)
{
    (void)env;
    deallocs++;
    free(tt_foreign_addr(t, obj));
}
struct grow_ctx {
    void *old;
    size_t bytes;
};
static void *grow_alloc(void *ctx)
{
    struct grow_ctx *g = ctx;
    if (fail_next_alloc) {
        fail_next_alloc = 0;
        return NULL;
    }
    return realloc(g->old, g->bytes);
}

static void test_allocator(void)
{
    tt_heap *h = open_heap(TT_CHECKED_DEFAULT);
    tt_thread *t = tt_thread_attach(h);
    tt_frame f = tt_frame_push(t, 1);
    allocs = deallocs = 0;
    tt_local l = tt_local_new(
        t, tt_foreign_alloc(t, 64, counting_alloc, (void *)(uintptr_t)64, counting_dealloc, NULL));
    REQUIRE(!tt_is_null(tt_local_get(t, l)));
    CHECK_EQ(allocs, 1);
    CHECK(tt_foreign_addr(t, tt_local_get(t, l)) != NULL);
    /* realloc-style: the new deallocation replaces the old one, which is
     * never run (realloc consumed its value). */
    struct grow_ctx g = {tt_foreign_addr(t, tt_local_get(t, l)), 4096};
    void *p = tt_foreign_allocate(t, tt_local_get(t, l), 4096, grow_alloc, &g, counting_dealloc,
                                  NULL);
    REQUIRE(p != NULL);
    CHECK(tt_foreign_addr(t, tt_local_get(t, l)) == p);
    CHECK_EQU(tt_foreign_size(t, tt_local_get(t, l)), 4096);
    CHECK_EQU(tt_cleanup_count(t, tt_local_get(t, l)), 1);
    /* A failing allocator leaves the object unchanged. */
    fail_next_alloc = 1;
    g.old = p;
    tt_clear_error();
    CHECK(tt_foreign_allocate(t, tt_local_get(t, l), 8192, grow_alloc, &g, counting_dealloc,
                              NULL) == NULL);
    CHECK_ERR(TT_ENOMEM);
    CHECK(tt_foreign_addr(t, tt_local_get(t, l)) == p);
    CHECK_EQU(tt_foreign_size(t, tt_local_get(t, l)), 4096);
    CHECK_EQ(deallocs, 0);
    CHECK_EQ(tt_release(t, tt_local_get(t, l)), TT_OK);
    CHECK_EQ(deallocs, 1);
    /* An allocator that fails gives no object and runs no deallocation. */
    fail_next_alloc = 1;
    tt_clear_error();
    CHECK(tt_is_null(tt_foreign_alloc(t, 64, counting_alloc, (void *)(uintptr_t)64,
                                      counting_dealloc, NULL)));
    CHECK_ERR(TT_ENOMEM);
    tt_stats st;
    tt_heap_stats(h, &st);
    CHECK_EQU(st.external_bytes, 0);
    /* Growing an object made by tt_foreign_new replaces its first cleanup,
     * which owned the old address: one deallocation in the end, of the new
     * address. */
    deallocs = 0;
    void *old = malloc(64);
    tt_local_set(t, l, tt_foreign_new(t, old, 64, counting_dealloc, NULL));
    tt_cleanup_push(t, tt_local_get(t, l), record, (void *)77);
    g.old = old;
    g.bytes = 8192;
    log_reset();
    p = tt_foreign_allocate(t, tt_local_get(t, l), 8192, grow_alloc, &g, counting_dealloc, NULL);
    REQUIRE(p != NULL);
    CHECK_EQU(tt_cleanup_count(t, tt_local_get(t, l)), 2);
    CHECK_EQ(tt_release(t, tt_local_get(t, l)), TT_OK);
    CHECK_LOG(77);
    CHECK_EQ(deallocs, 1);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_heap_close(h);
    CHECK_EQ(deallocs, 1);
    CHECK_EQ(allocs, 1);
}

/* ---- type finalize hooks ---- */

struct res {
    int id;
};
static int finalized_ids[64], nfinalized;
static void res_finalize(tt_thread *t, tt_ref obj, void *env)
{
    (void)t;
    (void)env;
    finalized_ids[nfinalized++] = TT_PTR(struct res, obj)->id;
}
static const tt_type res_type = TT_FINALIZED_ATOMIC_TYPE_INIT(struct res, res_finalize);

static void test_type_finalize(void)
{
    tt_heap *h = open_heap(TT_CHECKED_DEFAULT);
    tt_thread *t = tt_thread_attach(h);
    nfinalized = 0;
    tt_frame f = tt_frame_push(t, 1);
    tt_local keep = tt_local_new(t, TT_NULL);
    for (int i = 0; i < 10; i++) {
        tt_ref r = tt_alloc(t, &res_type);
        REQUIRE(!tt_is_null(r));
        TT_PTR(struct res, r)->id = i;
        CHECK_EQU(tt_cleanup_count(t, r), 1);
        if (i == 3) tt_local_set(t, keep, r);
    }
    tt_collect(t);
    CHECK_EQU(tt_pending_cleanups(t), 9);
    CHECK_EQ(nfinalized, 0); /* nothing runs inside the collector */
    CHECK_EQU(tt_run_finalizers(t, 4), 4);
    CHECK_EQ(nfinalized, 4);
    CHECK_EQU(tt_run_finalizers(t, 0), 5);
    CHECK_EQ(nfinalized, 9);
    for (int i = 0; i < nfinalized; i++) CHECK(finalized_ids[i] != 3);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_heap_close(h); /* the kept one at close */
    CHECK_EQ(nfinalized, 10);
    CHECK_EQ(finalized_ids[9], 3);
}

/* ---- shutdown ---- */

static void test_close_reverse_order(void)
{
    tt_heap *h = open_heap(TT_CHECKED_DEFAULT);
    tt_thread *t = tt_thread_attach(h);
    tt_frame f = tt_frame_push(t, 3);
    tt_local a = tt_local_new(t, new_node(t, 1));
    tt_local b = tt_local_new(t, new_node(t, 2));
    tt_local c = tt_local_new(t, tt_foreign_new(t, NULL, 0, record, (void *)30));
    log_reset();
    tt_cleanup_push(t, tt_local_get(t, a), record, (void *)1);
    tt_cleanup_push(t, tt_local_get(t, b), record, (void *)2);
    tt_cleanup_push(t, tt_local_get(t, a), record, (void *)3);
    tt_cleanup_push(t, tt_local_get(t, c), record, (void *)31);
    tt_cleanup_push(t, tt_local_get(t, b), record, (void *)4);
    tt_global g = tt_global_new(t, tt_local_get(t, a));
    (void)g;
    tt_frame_pop(t, f, TT_NO_LOCAL);
    /* b and c are dead but not yet collected; a is held by a global. */
    tt_heap_close(h);
    CHECK_LOG(4, 31, 3, 2, 1, 30);
}

static void test_fast_close(void)
{
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.fast_close = 1;
    tt_heap *h = tt_heap_open(&cfg);
    tt_thread *t = tt_thread_attach(h);
    log_reset();
    tt_global g = tt_global_new(t, new_node(t, 1));
    tt_cleanup_push(t, tt_global_get(t, g), record, (void *)1);
    tt_heap_close(h);
    CHECK_EQ(log_len, 0);
}

/* A cleanup that allocates, makes handles, registers a cleanup on a new
 * object and releases another object: all allowed, each runs once. */
static tt_global other;
static void busy_cleanup(tt_thread *t, tt_ref obj, void *env)
{
    (void)obj;
    (void)env;
    log_ids[log_len++] = 100;
    tt_frame f = tt_frame_push(t, 2);
    tt_local l = tt_local_new(t, TT_NULL);
    for (int i = 0; i < 20000; i++) tt_local_set(t, l, new_node(t, i)); /* enough to collect */
    tt_cleanup_push(t, tt_local_get(t, l), record, (void *)101);
    tt_ref o = tt_global_get(t, other);
    if (!tt_is_null(o)) tt_release(t, o);
    tt_frame_pop(t, f, TT_NO_LOCAL);
}

static void test_cleanup_uses_heap(void)
{
    tt_heap *h = open_heap(TT_CHECKED_DEFAULT);
    tt_thread *t = tt_thread_attach(h);
    log_reset();
    tt_ref o = new_node(t, 7);
    other = tt_global_new(t, o);
    tt_cleanup_push(t, tt_global_get(t, other), record, (void *)7);
    tt_ref n = new_node(t, 1);
    tt_cleanup_push(t, n, busy_cleanup, NULL);
    tt_collect(t);
    CHECK_EQU(tt_pending_cleanups(t), 1);
    tt_run_finalizers(t, 0);
    CHECK_EQ(logged(100), 1);
    CHECK_EQ(logged(7), 1);
    /* The node registered inside the cleanup died with it and is queued by
     * a later collection. */
    tt_collect(t);
    tt_run_finalizers(t, 0);
    CHECK_EQ(logged(101), 1);
    tt_global_free(t, other);
    tt_heap_close(h);
    CHECK_EQ(logged(100), 1);
    CHECK_EQ(logged(7), 1);
    CHECK_EQ(logged(101), 1);
}

/* Release, finalization and close racing on one thread: a pending object
 * released by another object's cleanup, a cleanup releasing its own object,
 * close after a partial tt_run_finalizers. Each cleanup exactly once. */
static tt_global victim;
static void release_victim(tt_thread *t, tt_ref obj, void *env)
{
    (void)obj;
    record(t, obj, env);
    tt_ref v = tt_global_get(t, victim);
    if (!tt_is_null(v)) tt_release(t, v);
}
static void release_self(tt_thread *t, tt_ref obj, void *env)
{
    record(t, obj, env);
    CHECK_EQ(tt_release(t, obj), TT_OK); /* finds the older ones, runs them */
}

static void test_exactly_once(void)
{
    tt_heap *h = open_heap(TT_CHECKED_DEFAULT);
    tt_thread *t = tt_thread_attach(h);
    log_reset();
    /* A (dead) reaches B (dead) ; A's cleanup releases V (alive through a
     * global); B's cleanup releases itself from inside. */
    tt_frame f = tt_frame_push(t, 3);
    tt_local a = tt_local_new(t, new_node(t, 1));
    tt_local b = tt_local_new(t, new_node(t, 2));
    tt_ref v = new_node(t, 3);
    victim = tt_global_new(t, v);
    tt_store(t, tt_local_get(t, a), &TT_PTR(struct node, tt_local_get(t, a))->next,
             tt_local_get(t, b));
    tt_cleanup_push(t, tt_global_get(t, victim), record, (void *)31);
    tt_cleanup_push(t, tt_global_get(t, victim), record, (void *)32);
    tt_cleanup_push(t, tt_local_get(t, a), release_victim, (void *)11);
    tt_cleanup_push(t, tt_local_get(t, b), record, (void *)21);
    tt_cleanup_push(t, tt_local_get(t, b), release_self, (void *)22);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_collect(t);
    CHECK_EQU(tt_pending_cleanups(t), 2);
    CHECK_EQU(tt_run_finalizers(t, 1), 1);
    CHECK_LOG(11, 32, 31);
    /* B's cleanups wait; releasing V again is an error, not a rerun. */
    CHECK_EQ(tt_cleanup_run_last(t, tt_global_get(t, victim)), TT_ESTATE);
    tt_heap_close(h); /* runs B's from the pending queue, then nothing else */
    CHECK_LOG(11, 32, 31, 22, 21);
}

/* Resurrection: a cleanup that stores its object in a global. The object
 * stays valid memory while reachable, but its cleanups never run again. */
static tt_global saved;
static void resurrect(tt_thread *t, tt_ref obj, void *env)
{
    record(t, obj, env);
    saved = tt_global_new(t, obj);
}

static void test_resurrection(void)
{
    tt_heap *h = open_heap(TT_CHECKED_DEFAULT);
    tt_thread *t = tt_thread_attach(h);
    log_reset();
    tt_ref n = new_node(t, 42);
    tt_ref child = new_node(t, 43);
    tt_store(t, n, &TT_PTR(struct node, n)->next, child);
    tt_cleanup_push(t, n, resurrect, (void *)1);
    tt_collect(t);
    tt_run_finalizers(t, 0);
    CHECK_LOG(1);
    for (int i = 0; i < 3; i++) {
        tt_collect(t);
        tt_run_finalizers(t, 0);
    }
    CHECK_LOG(1);
    tt_ref r = tt_global_get(t, saved);
    CHECK_EQ(TT_PTR(struct node, r)->id, 42);
    CHECK_EQ(TT_PTR(struct node, TT_PTR(struct node, r)->next)->id, 43);
    tt_verify_report rep;
    CHECK_EQ(tt_heap_verify(t, &rep), TT_OK);
    CHECK_EQU(rep.errors, 0);
    tt_global_free(t, saved);
    tt_heap_close(h);
    CHECK_LOG(1);
}

/* With forbid_resurrection (checked mode), a cleanup run from the pending
 * queue that stores its dead object into a global, a field or a reference
 * array is reported at the storing call ("resurrection", TT_ESTATE) and the
 * store is not made, so the object goes at the next collection. Storing
 * another object is no resurrection, nor is storing an object whose
 * cleanup runs because the program released it. */
static tt_test_report res_rep;
static void res_misuse(const tt_misuse *m, void *ctx) { tt_test_report_add(&res_rep, m, ctx); }
static tt_global res_holder, res_array, res_saved;
static int res_lines[3], res_codes[3], res_reg_line;

static void res_cleanup(tt_thread *t, tt_ref obj, void *env)
{
    record(t, obj, env);
    tt_ref holder = tt_global_get(t, res_holder);
    /* another object: allowed */
    tt_array_set(t, tt_global_get(t, res_array), 1, TT_PTR(struct node, obj)->next);
    int before = res_rep.calls;
    res_lines[0] = __LINE__; res_saved = tt_global_new(t, obj);
    res_codes[0] = res_rep.calls > before ? res_rep.code : 0;
    before = res_rep.calls;
    res_lines[1] = __LINE__; tt_store(t, holder, &TT_PTR(struct node, holder)->next, obj);
    res_codes[1] = res_rep.calls > before ? res_rep.code : 0;
    res_lines[2] = __LINE__; res_codes[2] = tt_array_set(t, tt_global_get(t, res_array), 0, obj);
}

static void test_resurrection_forbidden(void)
{
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.checked = TT_CHECKED_ON;
    cfg.forbid_resurrection = 1;
    cfg.on_misuse = res_misuse;
    tt_heap *h = tt_heap_open(&cfg);
    REQUIRE(h != NULL);
    if (!tt_heap_checked(h)) { /* built without checked mode */
        tt_heap_close(h);
        return;
    }
    tt_thread *t = tt_thread_attach(h);
    log_reset();
    memset(&res_rep, 0, sizeof res_rep);
    res_holder = tt_global_new(t, new_node(t, 1));
    res_array = tt_global_new(t, tt_alloc_array(t, &tt_refs_type, 2));
    tt_ref n = new_node(t, 2);
    tt_ref child = new_node(t, 3);
    tt_store(t, n, &TT_PTR(struct node, n)->next, child);
    res_reg_line = __LINE__; tt_cleanup_push(t, n, res_cleanup, (void *)2);
    tt_collect(t);
    CHECK_EQU(tt_run_finalizers(t, 0), 1);
    CHECK_LOG(2);
    /* three reports, each at its storing call, none made */
    CHECK_EQ(res_rep.calls, 3);
    for (int i = 0; i < 3 && i < res_rep.nlog; i++) {
        CHECK_STREQ(res_rep.log[i].what, "resurrection");
        CHECK_EQ(res_rep.log[i].line, res_lines[i]);
        CHECK_EQ(res_codes[i], TT_ESTATE);
    }
    CHECK_STREQ(res_rep.file, __FILE__);
    char site[300];
    snprintf(site, sizeof site, "registered at %s:%d", __FILE__, res_reg_line);
    CHECK_CONTAINS(res_rep.message, site);
    CHECK(tt_global_is_null(res_saved));
    tt_ref holder = tt_global_get(t, res_holder);
    CHECK(tt_is_null(TT_PTR(struct node, holder)->next));
    CHECK(tt_is_null(tt_array_get(tt_global_get(t, res_array), 0)));
    /* the other object was stored: it lives on, the dead one is gone */
    CHECK_EQ(TT_PTR(struct node, tt_array_get(tt_global_get(t, res_array), 1))->id, 3);
    tt_collect(t);
    CHECK_EQU(tt_test_stats(h).live_objects, 3); /* holder, array, child */

    /* A cleanup run by tt_release: the object is alive, storing it is fine. */
    memset(&res_rep, 0, sizeof res_rep);
    tt_frame f = tt_frame_push(t, 1);
    tt_local l = tt_local_new(t, new_node(t, 4));
    TT_PTR(struct node, tt_local_get(t, l))->next = TT_NULL;
    tt_cleanup_push(t, tt_local_get(t, l), res_cleanup, (void *)4);
    CHECK_EQ(tt_release(t, tt_local_get(t, l)), TT_OK);
    CHECK_EQ(res_rep.calls, 0);
    CHECK(!tt_global_is_null(res_saved));
    CHECK_EQ(tt_global_free(t, res_saved), TT_OK);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_global_free(t, res_holder);
    tt_global_free(t, res_array);
    tt_thread_detach(t);
    tt_heap_close(h);
}

/* A cleanup that registers itself again every time it runs would keep
 * close running for ever: close stops after a bound (over a million runs),
 * says so once in a report named "close" through on_report, and finishes. */
static long rereg_runs;
static void reregister(tt_thread *t, tt_ref obj, void *env)
{
    rereg_runs++;
    tt_cleanup_push(t, obj, reregister, env);
}

static struct {
    int n;
    char what[4][32];
    char msg[4][512];
    void *ctx;
} close_reports;
static void record_report(const char *what, const char *message, void *ctx)
{
    if (close_reports.n < 4) {
        snprintf(close_reports.what[close_reports.n], sizeof close_reports.what[0], "%s", what);
        snprintf(close_reports.msg[close_reports.n], sizeof close_reports.msg[0], "%s", message);
    }
    close_reports.n++;
    close_reports.ctx = ctx;
}

static void test_close_reregistering_cleanup(void)
{
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.on_report = record_report;
    cfg.report_ctx = &close_reports;
    tt_heap *h = tt_heap_open(&cfg);
    REQUIRE(h != NULL);
    tt_thread *t = tt_thread_attach(h);
    tt_global g = tt_global_new(t, new_node(t, 1));
    CHECK_EQ(tt_cleanup_push(t, tt_global_get(t, g), reregister, NULL), TT_OK);
    CHECK_EQ(tt_global_free(t, g), TT_OK); /* not a leak (checked heaps report those at close) */
    memset(&close_reports, 0, sizeof close_reports);
    rereg_runs = 0;
    tt_heap_close(h); /* returns */
    CHECK_CMPU(rereg_runs, >=, 1000000);
    REQUIRE(close_reports.n == 1);
    CHECK_STREQ(close_reports.what[0], "close");
    CHECK(close_reports.ctx == &close_reports);
    char want[128];
    snprintf(want, sizeof want, "cleanups still being registered after %ld runs at close", rereg_runs);
    CHECK_CONTAINS(close_reports.msg[0], want);
    CHECK_CONTAINS(close_reports.msg[0], "the rest are not run");
}

/* The heap's signature dies first at close: a cleanup run by the close
 * that tries to attach a new thread to the heap is told it is closed
 * (checked mode: the misuse "heap-closed"), and the close completes. */
static tt_heap *closing_heap;
static int attach_refused;
static void attach_during_close(tt_thread *t, tt_ref obj, void *env)
{
    (void)t, (void)obj, (void)env;
    tt_thread *late = tt_thread_attach(closing_heap);
    attach_refused = late == NULL && tt_last_error()->code == TT_ECLOSED;
}

static void test_close_refuses_attach(void)
{
    tt_heap *h = open_heap(TT_CHECKED_ON);
    REQUIRE(h != NULL);
    if (!tt_heap_checked(h)) { /* built without checked mode */
        tt_heap_close(h);
        return;
    }
    tt_thread *t = tt_thread_attach(h);
    tt_global g = tt_global_new(t, new_node(t, 1));
    tt_cleanup_push(t, tt_global_get(t, g), attach_during_close, NULL);
    closing_heap = h;
    attach_refused = 0;
    tt_test_misuse_reset();
    tt_heap_close(h); /* the global is still held: its cleanup runs here */
    CHECK_EQ(attach_refused, 1);
    CHECK_STREQ(tt_test_last_misuse(), "heap-closed");
}

/* ---- keep-alive ---- */

static void test_keep_alive(void)
{
    tt_heap *h = open_heap(TT_CHECKED_DEFAULT);
    tt_thread *t = tt_thread_attach(h);
    log_reset();
    tt_frame f = tt_frame_push(t, 2);
    tt_local a = tt_local_new(t, new_node(t, 1));
    tt_ref b = new_node(t, 2);
    tt_weak wb = tt_weak_new(t, b);
    CHECK_EQ(tt_keep_alive(t, tt_local_get(t, a), b), TT_OK);
    tt_cleanup_push(t, b, record, (void *)2);
    tt_cleanup_push(t, tt_local_get(t, a), record, (void *)1);
    /* B is held only by the edge from live A. */
    tt_collect(t);
    CHECK(!tt_is_null(tt_weak_get(t, wb)));
    CHECK_EQ(TT_PTR(struct node, tt_weak_get(t, wb))->id, 2);
    /* Both die together: all of A's cleanups first. */
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_collect(t);
    tt_run_finalizers(t, 0);
    CHECK_LOG(1, 2);
    /* The edge went with A's last cleanup: B goes at the next collection. */
    tt_collect(t);
    CHECK(tt_is_null(tt_weak_get(t, wb)));
    tt_weak_free(t, wb);
    tt_heap_close(h);
    CHECK_LOG(1, 2);
}

/* A cleanup run at close or by a release of an unrooted object still has
 * its object alive through a collection it causes, and running the queue
 * from inside any cleanup does nothing. */
static int obj_ok, nested_ran;
static void collect_then_read(tt_thread *t, tt_ref obj, void *env)
{
    (void)env;
    for (int i = 0; i < 1000; i++) new_node(t, -1);
    tt_collect(t);
    obj_ok += tt_is_object(t, obj) && TT_PTR(struct node, obj)->id == 5;
    nested_ran += (int)tt_run_finalizers(t, 0);
}

static void test_object_held_during_cleanup(void)
{
    tt_heap *h = open_heap(TT_CHECKED_DEFAULT);
    tt_thread *t = tt_thread_attach(h);
    obj_ok = nested_ran = 0;
    tt_ref dead = new_node(t, 6); /* queued by the collections inside */
    tt_cleanup_push(t, dead, record, (void *)6);
    tt_ref n = new_node(t, 5);
    tt_cleanup_push(t, n, collect_then_read, NULL);
    CHECK_EQ(tt_release(t, n), TT_OK); /* n is not rooted anywhere */
    CHECK_EQ(obj_ok, 1);
    CHECK_EQ(nested_ran, 0);
    tt_ref m = new_node(t, 5);
    tt_cleanup_push(t, m, collect_then_read, NULL);
    tt_heap_close(h);
    CHECK_EQ(obj_ok, 2);
    CHECK_EQ(nested_ran, 0);
}

/* ---- misuse ---- */

static void test_misuse(void)
{
    if (!TT_TEST_CHECKS_BUILT) return;
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.checked = TT_CHECKED_ON;
    cfg.on_misuse = tt_test_record_misuse;
    tt_heap *h = tt_heap_open(&cfg);
    tt_thread *t = tt_thread_attach(h);
    static uint64_t fake[4];
    tt_ref bogus = {(uintptr_t)&fake[1]};
    tt_test_misuse_reset();
    CHECK_EQ(tt_cleanup_push(t, bogus, record, NULL), TT_EINVAL);
    CHECK_STREQ(tt_test_last_misuse(), "cleanup-not-object");
    CHECK_EQ(tt_release(t, bogus), TT_EINVAL);
    CHECK_EQ(tt_keep_alive(t, new_node(t, 1), bogus), TT_EINVAL);
    CHECK_STREQ(tt_test_last_misuse(), "cleanup-not-object");
    tt_ref n = new_node(t, 1);
    CHECK_EQ(tt_cleanup_run_last(t, n), TT_ESTATE);
    CHECK_STREQ(tt_test_last_misuse(), "cleanup-none");
    CHECK_EQ(tt_cleanup_push(t, n, NULL, NULL), TT_EINVAL);
    CHECK_EQ(tt_cleanup_push(t, TT_NULL, record, NULL), TT_EINVAL);
    tt_heap_close(h);
}

/* Open heap helper used by the compaction test. */
static void test_log_compaction(void)
{
    tt_heap *h = open_heap(TT_CHECKED_DEFAULT);
    tt_thread *t = tt_thread_attach(h);
    log_reset();
    enum { N = 3000 };
    tt_frame f = tt_frame_push(t, N);
    tt_local ls[N];
    for (int i = 0; i < N; i++) {
        ls[i] = tt_local_new(t, new_node(t, i));
        tt_cleanup_push(t, tt_local_get(t, ls[i]), record, (void *)(intptr_t)(2 * i));
        tt_cleanup_push(t, tt_local_get(t, ls[i]), record, (void *)(intptr_t)(2 * i + 1));
    }
    /* Holes in the middle of the log, then enough new entries to compact. */
    for (int i = 0; i < N; i += 2) tt_release(t, tt_local_get(t, ls[i]));
    for (int i = 0; i < 4 * N; i++) tt_cleanup_push(t, tt_local_get(t, ls[1]), release, NULL);
    for (int i = 0; i < 4 * N; i++) tt_cleanup_run_last(t, tt_local_get(t, ls[1]));
    CHECK_EQ(log_len, N);
    /* Stacks survive compaction intact: newest first per object. */
    for (int i = 1; i < N; i += 2) {
        CHECK_EQU(tt_cleanup_count(t, tt_local_get(t, ls[i])), 2);
        CHECK_EQ(tt_cleanup_run_last(t, tt_local_get(t, ls[i])), TT_OK);
        CHECK_EQ(log_ids[log_len - 1], 2 * i + 1);
    }
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_heap_close(h);
    CHECK_EQ(log_len, 2 * N);
    /* Close ran the oldest entries newest first. */
    CHECK_EQ(log_ids[2 * N - 1], 2);
}

int main(void)
{
    RUN(test_newest_first_on_release);
    RUN(test_run_last);
    RUN(test_retainer);
    RUN(test_foreign_release);
    RUN(test_foreign_addr_if);
    RUN(test_release_unlocked);
    RUN(test_new_unlocked);
    RUN(test_release_if);
    RUN(test_wtable_put_released);
    RUN(test_foreign_stack);
    RUN(test_allocator);
    RUN(test_type_finalize);
    RUN(test_close_reverse_order);
    RUN(test_fast_close);
    RUN(test_cleanup_uses_heap);
    RUN(test_exactly_once);
    RUN(test_resurrection);
    RUN(test_resurrection_forbidden);
    RUN(test_close_reregistering_cleanup);
    RUN(test_close_refuses_attach);
    RUN(test_keep_alive);
    RUN(test_object_held_during_cleanup);
    RUN(test_misuse);
    RUN(test_log_compaction);
    return tt_test_done();
}
