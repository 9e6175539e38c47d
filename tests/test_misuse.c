/*
 * test_misuse.c: checked mode with a custom misuse handler that records the
 * report and returns. For each detection: the handler is called exactly
 * once, with the right name, status, caller's file and line, and a message
 * naming them; the call then fails with that status (also in the last
 * error) and leaves the heap unchanged, and the heap stays usable.
 */
#include "tt_test.h"

struct pair {
    tt_ref a, b;
    uint64_t v;
};
static const tt_type pair_type = TT_TYPE_INIT(struct pair, a, b);
static const tt_type blob_type = {TT_TYPE_SIG, "blob", TT_KIND_ATOMIC, 32, 0, 0, NULL, NULL, NULL};
static const tt_type words_type = TT_DATA_ARRAY_TYPE_INIT("words", uint64_t);

/* The report goes to the record the heap names as its misuse_ctx: rec, or
 * another one in test_handler_per_heap. */
static void record_misuse(const tt_misuse *m, void *ctx)
{
    tt_test_report_add(ctx, m, ctx);
}

static tt_test_report rec;
static tt_heap *h;
static tt_thread *t;

static tt_heap *open_recording(void)
{
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.checked = TT_CHECKED_ON;
    cfg.on_misuse = record_misuse;
    cfg.misuse_ctx = &rec;
    return tt_heap_open(&cfg);
}

static void open_heap(void)
{
    memset(&rec, 0, sizeof rec);
    h = open_recording();
    t = h ? tt_thread_attach(h) : NULL;
    if (!t) {
        fprintf(stderr, "cannot open a heap: %s\n", tt_last_error()->message);
        exit(2);
    }
    CHECK_EQ(tt_heap_checked(h), 1);
}

static void close_heap(void)
{
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK_EQ(tt_heap_verify(t, NULL), TT_OK);
    tt_thread_detach(t);
    tt_heap_close(h);
}

/* The report made by the call on `line` of this file. */
#define CHECK_REPORT(name, status, line_) check_report(__LINE__, (name), (status), (line_))
static void check_report(int at, const char *name, int status, int line)
{
    char where[300];
    int failures = tt__failures;
    CHECK_EQ(rec.calls, 1);
    CHECK_STREQ(rec.what, name);
    CHECK_EQ(rec.code, status);
    CHECK_STREQ(rec.file, __FILE__);
    CHECK_EQ(rec.line, line);
    CHECK(rec.ctx == &rec);
    CHECK_CONTAINS(rec.message, name);
    snprintf(where, sizeof where, "test_misuse.c:%d", line);
    CHECK_CONTAINS(rec.message, where);
    CHECK_ERR(status);
    CHECK_EQ(tt_last_error()->line, line);
    CHECK_STREQ(tt_last_error()->file, __FILE__);
    if (tt__failures != failures) fprintf(stderr, "  (the report checked at line %d)\n", at);
    memset(&rec, 0, sizeof rec);
    tt_clear_error();
}

/* The report made through an _at form given the site "caller.c":line_. */
#define CHECK_REPORT_AT(name, status, line_) check_report_at(__LINE__, (name), (status), (line_))
static void check_report_at(int at, const char *name, int status, int line)
{
    char where[64];
    int failures = tt__failures;
    CHECK_EQ(rec.calls, 1);
    CHECK_STREQ(rec.what, name);
    CHECK_EQ(rec.code, status);
    CHECK_STREQ(rec.file, "caller.c");
    CHECK_EQ(rec.line, line);
    snprintf(where, sizeof where, "caller.c:%d", line);
    CHECK_CONTAINS(rec.message, where);
    CHECK_ERR(status);
    CHECK_STREQ(tt_last_error()->file, "caller.c");
    CHECK_EQ(tt_last_error()->line, line);
    if (tt__failures != failures) fprintf(stderr, "  (the report checked at line %d)\n", at);
    memset(&rec, 0, sizeof rec);
    tt_clear_error();
}

static tt_ref new_pair(uint64_t v)
{
    tt_ref r = tt_alloc(t, &pair_type);
    if (!tt_is_null(r)) TT_PTR(struct pair, r)->v = v;
    return r;
}

static uint64_t value_of(tt_ref r) { return tt_is_null(r) ? UINT64_MAX : TT_PTR(struct pair, r)->v; }

static void test_local_after_pop(void)
{
    open_heap();
    tt_frame f = tt_frame_push(t, 2);
    tt_local l = tt_local_new(t, new_pair(1));
    tt_frame_pop(t, f, TT_NO_LOCAL);
    int line = __LINE__; tt_ref r = tt_local_get(t, l);
    CHECK(tt_is_null(r));
    CHECK_REPORT("local-after-pop", TT_ESTALE, line);
    line = __LINE__; int rc = tt_local_set(t, l, TT_NULL);
    CHECK_EQ(rc, TT_ESTALE);
    CHECK_REPORT("local-after-pop", TT_ESTALE, line);
    /* escaping a stale local: nothing popped */
    tt_frame g = tt_frame_push(t, 1);
    line = __LINE__; tt_local e = tt_frame_pop(t, g, l);
    CHECK(tt_local_is_null(e));
    CHECK_REPORT("local-after-pop", TT_ESTALE, line);
    CHECK(tt_local_is_null(tt_frame_pop(t, g, TT_NO_LOCAL)));
    CHECK_EQ(rec.calls, 0);
    /* its slot in use again by a new frame: still stale */
    tt_frame k = tt_frame_push(t, 2);
    tt_local fresh = tt_local_new(t, new_pair(7));
    CHECK((uint32_t)fresh.bits == (uint32_t)l.bits); /* the same slot */
    line = __LINE__; r = tt_local_get(t, l);
    CHECK(tt_is_null(r));
    CHECK_REPORT("local-after-pop", TT_ESTALE, line);
    CHECK_EQU(TT_PTR(struct pair, tt_local_get(t, fresh))->v, 7);
    tt_frame_pop(t, k, TT_NO_LOCAL);
    /* the null local */
    line = __LINE__; r = tt_local_get(t, TT_NO_LOCAL);
    CHECK(tt_is_null(r));
    CHECK_REPORT("local-after-pop", TT_ESTALE, line);
    close_heap();
}

static void test_frame_pop_order(void)
{
    open_heap();
    tt_frame f1 = tt_frame_push(t, 1);
    tt_local a = tt_local_new(t, new_pair(1));
    tt_frame f2 = tt_frame_push(t, 1);
    tt_local b = tt_local_new(t, new_pair(2));
    int line = __LINE__; tt_local r = tt_frame_pop(t, f1, TT_NO_LOCAL);
    CHECK(tt_local_is_null(r));
    CHECK_REPORT("frame-pop-order", TT_ESTATE, line);
    /* unchanged: both frames open, both locals good */
    CHECK_EQU(TT_PTR(struct pair, tt_local_get(t, a))->v, 1);
    CHECK_EQU(TT_PTR(struct pair, tt_local_get(t, b))->v, 2);
    CHECK_EQ(rec.calls, 0);
    CHECK(tt_local_is_null(tt_frame_pop(t, f2, TT_NO_LOCAL)));
    line = __LINE__; tt_frame_pop(t, f2, TT_NO_LOCAL);
    CHECK_REPORT("frame-pop-order", TT_ESTATE, line);
    CHECK(tt_local_is_null(tt_frame_pop(t, f1, TT_NO_LOCAL)));
    CHECK_EQ(rec.calls, 0);
    close_heap();
}

static void test_frame_capacity(void)
{
    open_heap();
    tt_frame f = tt_frame_push(t, 2);
    tt_local a = tt_local_new(t, new_pair(1));
    tt_local b = tt_local_new(t, new_pair(2));
    CHECK_EQ(rec.calls, 0);
    int line = __LINE__; tt_local c = tt_local_new(t, TT_NULL);
    CHECK(tt_local_is_null(c));
    CHECK_REPORT("frame-capacity", TT_ERANGE, line);
    CHECK_EQU(TT_PTR(struct pair, tt_local_get(t, a))->v, 1);
    CHECK_EQU(TT_PTR(struct pair, tt_local_get(t, b))->v, 2);
    /* An escape into a full parent is not a capacity misuse. */
    tt_frame g = tt_frame_push(t, 1);
    tt_local x = tt_local_new(t, new_pair(3));
    tt_local ex = tt_frame_pop(t, g, x);
    CHECK(!tt_local_is_null(ex));
    CHECK_EQ(rec.calls, 0);
    CHECK_EQU(TT_PTR(struct pair, tt_local_get(t, ex))->v, 3);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    /* The base frame has its configured capacity (16 by default). */
    for (int i = 0; i < 16; i++) CHECK(!tt_local_is_null(tt_local_new(t, TT_NULL)));
    CHECK_EQ(rec.calls, 0);
    line = __LINE__; c = tt_local_new(t, TT_NULL);
    CHECK(tt_local_is_null(c));
    CHECK_REPORT("frame-capacity", TT_ERANGE, line);
    close_heap();
}

static void test_globals(void)
{
    open_heap();
    tt_global g = tt_global_new(t, new_pair(1));
    CHECK_EQ(tt_global_free(t, g), TT_OK);
    int line = __LINE__; int rc = tt_global_free(t, g);
    CHECK_EQ(rc, TT_ESTALE);
    CHECK_REPORT("global-double-free", TT_ESTALE, line);
    line = __LINE__; tt_ref r = tt_global_get(t, g);
    CHECK(tt_is_null(r));
    CHECK_REPORT("global-after-free", TT_ESTALE, line);
    line = __LINE__; rc = tt_global_set(t, g, TT_NULL);
    CHECK_EQ(rc, TT_ESTALE);
    CHECK_REPORT("global-after-free", TT_ESTALE, line);
    /* a new global in the old slot is not reachable through the old handle */
    tt_global g2 = tt_global_new(t, new_pair(2));
    line = __LINE__; r = tt_global_get(t, g);
    CHECK(tt_is_null(r));
    CHECK_REPORT("global-after-free", TT_ESTALE, line);
    CHECK_EQU(TT_PTR(struct pair, tt_global_get(t, g2))->v, 2);
    CHECK_EQU(tt_test_stats(h).globals, 1);
    CHECK_EQ(tt_global_free(t, g2), TT_OK);
    CHECK_EQ(rec.calls, 0);
    close_heap();
}

static void test_weaks(void)
{
    open_heap();
    tt_local l = tt_local_new(t, new_pair(1));
    tt_weak w = tt_weak_new(t, tt_local_get(t, l));
    CHECK_EQ(tt_weak_free(t, w), TT_OK);
    int line = __LINE__; int rc = tt_weak_free(t, w);
    CHECK_EQ(rc, TT_ESTALE);
    CHECK_REPORT("weak-double-free", TT_ESTALE, line);
    line = __LINE__; tt_ref r = tt_weak_get(t, w);
    CHECK(tt_is_null(r));
    CHECK_REPORT("weak-after-free", TT_ESTALE, line);
    CHECK_EQU(tt_test_stats(h).weaks, 0);
    close_heap();
}

static void test_store_not_object(void)
{
    open_heap();
    tt_local l = tt_local_new(t, new_pair(1));
    struct pair *p = tt_ptr(tt_local_get(t, l));
    tt_local keep = tt_local_new(t, new_pair(2));
    tt_store(t, tt_local_get(t, l), &p->a, tt_local_get(t, keep));
    CHECK_EQ(rec.calls, 0);

    /* a malloc'd address cast into a reference */
    void *m = calloc(1, 64);
    REQUIRE(m != NULL);
    tt_ref fake = {(uintptr_t)m + 16};
    int line = __LINE__; tt_store(t, tt_local_get(t, l), &p->a, fake);
    CHECK_REPORT("store-not-object", TT_EINVAL, line);
    CHECK_REF(p->a, tt_local_get(t, keep)); /* unchanged */

    /* an object of another heap */
    tt_heap *h2 = open_recording();
    REQUIRE(h2 != NULL);
    tt_thread *t2 = tt_thread_attach(h2);
    REQUIRE(t2 != NULL);
    tt_local other = tt_local_new(t2, tt_alloc(t2, &pair_type));
    line = __LINE__; tt_store(t, tt_local_get(t, l), &p->b, tt_local_get(t2, other));
    CHECK_REPORT("store-not-object", TT_EINVAL, line);
    CHECK(tt_is_null(p->b));
    /* ... and storing into the other heap's object through this heap */
    line = __LINE__; tt_store(t, tt_local_get(t2, other), &TT_PTR(struct pair, tt_local_get(t2, other))->a, TT_NULL);
    CHECK_REPORT("store-not-object", TT_EINVAL, line);
    tt_thread_detach(t2);
    tt_heap_close(h2);

    /* an object that died */
    tt_ref dead = new_pair(3);
    CHECK_EQ(tt_collect(t), TT_OK);
    line = __LINE__; tt_store(t, tt_local_get(t, l), &p->b, dead);
    CHECK_REPORT("store-not-object", TT_EINVAL, line);
    CHECK(tt_is_null(p->b));

    /* storing into something that is not an object */
    line = __LINE__; tt_store(t, fake, (tt_ref *)m, tt_local_get(t, keep));
    CHECK_REPORT("store-not-object", TT_EINVAL, line);
    CHECK_EQU(((uint64_t *)m)[0], 0);
    /* tt_array_set on something that is not an object */
    line = __LINE__; int rc = tt_array_set(t, fake, 0, TT_NULL);
    CHECK_EQ(rc, TT_EINVAL);
    CHECK_REPORT("store-not-object", TT_EINVAL, line);
    free(m);
    CHECK_REF(p->a, tt_local_get(t, keep));
    close_heap();
}

static void test_store_bad_field(void)
{
    open_heap();
    tt_frame f = tt_frame_push(t, 8);
    tt_local l = tt_local_new(t, new_pair(1));
    tt_local l2 = tt_local_new(t, new_pair(2));
    tt_local lb = tt_local_new(t, tt_alloc(t, &blob_type));
    tt_local la = tt_local_new(t, tt_alloc_array(t, &tt_refs_type, 4));
    tt_local lw = tt_local_new(t, tt_alloc_array(t, &words_type, 4));
    tt_ref p = tt_local_get(t, l), q = tt_local_get(t, l2);
    /* a field of another object */
    int line = __LINE__; tt_store(t, p, &TT_PTR(struct pair, q)->a, q);
    CHECK_REPORT("store-bad-field", TT_EINVAL, line);
    CHECK(tt_is_null(TT_PTR(struct pair, q)->a));
    /* a plain (non-reference) field of the object */
    line = __LINE__; tt_store(t, p, (tt_ref *)&TT_PTR(struct pair, p)->v, q);
    CHECK_REPORT("store-bad-field", TT_EINVAL, line);
    CHECK_EQU(TT_PTR(struct pair, p)->v, 1);
    /* a field of an atomic object */
    tt_ref b = tt_local_get(t, lb);
    line = __LINE__; tt_store(t, b, (tt_ref *)tt_ptr(b), q);
    CHECK_REPORT("store-bad-field", TT_EINVAL, line);
    CHECK_EQU(((uint64_t *)tt_ptr(b))[0], 0);
    /* an array's length word, and past its end */
    tt_ref a = tt_local_get(t, la);
    line = __LINE__; tt_store(t, a, (tt_ref *)tt_ptr(a), q);
    CHECK_REPORT("store-bad-field", TT_EINVAL, line);
    CHECK_EQU(tt_array_length(a), 4);
    line = __LINE__; tt_store(t, a, (tt_ref *)tt_array_data(a) + 4, q);
    CHECK_REPORT("store-bad-field", TT_EINVAL, line);
    /* tt_array_set on a data array */
    line = __LINE__; int rc = tt_array_set(t, tt_local_get(t, lw), 0, q);
    CHECK_EQ(rc, TT_EINVAL);
    CHECK_REPORT("store-bad-field", TT_EINVAL, line);
    /* good stores are silent */
    tt_store(t, a, (tt_ref *)tt_array_data(a) + 3, q);
    tt_store(t, p, &TT_PTR(struct pair, p)->b, q);
    CHECK_EQ(tt_array_set(t, a, 0, p), TT_OK);
    CHECK_EQ(rec.calls, 0);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    close_heap();
}

static void test_bad_type(void)
{
    static const tt_type zero_type;
    static const tt_type garbage_type = {0x0123456789abcdefu, "garbage", TT_KIND_FIXED, 16, 0, 0,
                                         NULL, NULL, NULL};
    open_heap();
    int line = __LINE__; tt_ref r = tt_alloc(t, &zero_type);
    CHECK(tt_is_null(r));
    CHECK_REPORT("bad-type", TT_EINVAL, line);
    line = __LINE__; r = tt_alloc(t, &garbage_type);
    CHECK(tt_is_null(r));
    CHECK_REPORT("bad-type", TT_EINVAL, line);
    line = __LINE__; r = tt_alloc_array(t, &garbage_type, 3);
    CHECK(tt_is_null(r));
    CHECK_REPORT("bad-type", TT_EINVAL, line);
    line = __LINE__; r = tt_alloc(t, NULL);
    CHECK(tt_is_null(r));
    CHECK_REPORT("bad-type", TT_EINVAL, line);
    line = __LINE__; r = tt_alloc_array(t, NULL, 3);
    CHECK(tt_is_null(r));
    CHECK_REPORT("bad-type", TT_EINVAL, line);
    line = __LINE__; r = tt_alloc_array(t, &pair_type, 3);
    CHECK(tt_is_null(r));
    CHECK_REPORT("bad-type", TT_EINVAL, line);
    /* After good allocations of the same size class, still caught. */
    CHECK(!tt_is_null(tt_alloc(t, &blob_type)));
    static const tt_type garbage32 = {0, "garbage32", TT_KIND_ATOMIC, 32, 0, 0, NULL, NULL, NULL};
    line = __LINE__; r = tt_alloc(t, &garbage32);
    CHECK(tt_is_null(r));
    CHECK_REPORT("bad-type", TT_EINVAL, line);
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK_EQU(tt_test_stats(h).live_objects, 0);
    close_heap();
}

/* tt_cast: the right type gives the payload with no report, for an
 * object just made and for one found again after a collection; another
 * type, a dead object or a non-object is reported and gives NULL, also
 * for an object the thread already knows live; null gives NULL. Without
 * checked mode nothing is checked. */
static void test_cast(void)
{
    open_heap();
    tt_frame f = tt_frame_push(t, 2);
    tt_ref p = new_pair(7);
    tt_local lp = tt_local_new(t, p);
    CHECK(TT_CAST(t, struct pair, p, &pair_type) == TT_PTR(struct pair, p));
    CHECK_EQ(rec.calls, 0);
    int line = __LINE__; void *q = tt_cast(t, p, &blob_type);
    CHECK(q == NULL);
    CHECK_CONTAINS(rec.message, "'struct pair'");
    CHECK_CONTAINS(rec.message, "'blob'");
    CHECK_REPORT("wrong-type", TT_ETYPE, line);
    CHECK_EQ(tt_collect(t), TT_OK);
    p = tt_local_get(t, lp);
    CHECK(tt_cast(t, p, &pair_type) == tt_ptr(p));
    CHECK_EQ(rec.calls, 0);
    line = __LINE__; q = tt_cast(t, p, &blob_type);
    CHECK(q == NULL);
    CHECK_REPORT("wrong-type", TT_ETYPE, line);
    static uint64_t fake[4];
    line = __LINE__; q = tt_cast(t, (tt_ref){(uintptr_t)&fake[1]}, &pair_type);
    CHECK(q == NULL);
    CHECK_REPORT("cast-not-object", TT_EINVAL, line);
    fake[0] = (uint64_t)(uintptr_t)&pair_type; /* looks like a pair's header */
    line = __LINE__; q = tt_cast(t, (tt_ref){(uintptr_t)&fake[1]}, &pair_type);
    CHECK(q == NULL);
    CHECK_REPORT("cast-not-object", TT_EINVAL, line);
    tt_ref dead = new_pair(8); /* held by nothing */
    CHECK_EQ(tt_collect(t), TT_OK);
    line = __LINE__; q = tt_cast(t, dead, &pair_type);
    CHECK(q == NULL);
    CHECK_REPORT("cast-not-object", TT_EINVAL, line);
    CHECK(tt_cast(t, TT_NULL, &pair_type) == NULL);
    CHECK_EQ(rec.calls, 0);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    close_heap();

    tt_heap *hu = tt_test_open(TT_CHECKED_OFF);
    REQUIRE(hu != NULL);
    tt_thread *tu = tt_thread_attach(hu);
    REQUIRE(tu != NULL);
    tt_ref u = tt_alloc(tu, &pair_type);
    tt_clear_error();
    CHECK(tt_cast(tu, u, &blob_type) == tt_ptr(u));
    CHECK_EQ(tt_last_error()->code, TT_OK);
    tt_thread_detach(tu);
    tt_heap_close(hu);
}

static void test_not_object_handles(void)
{
    open_heap();
    void *m = calloc(1, 64);
    REQUIRE(m != NULL);
    tt_ref fake = {(uintptr_t)m + 8};
    int line = __LINE__; tt_local l = tt_local_new(t, fake);
    CHECK(tt_local_is_null(l));
    CHECK_EQ(rec.calls, 1);
    CHECK_EQ(rec.code, TT_EINVAL);
    CHECK_EQ(rec.line, line);
    memset(&rec, 0, sizeof rec);
    line = __LINE__; tt_global g = tt_global_new(t, fake);
    CHECK(tt_global_is_null(g));
    CHECK_EQ(rec.calls, 1);
    CHECK_EQ(rec.code, TT_EINVAL);
    CHECK_EQ(rec.line, line);
    CHECK_ERR(TT_EINVAL);
    memset(&rec, 0, sizeof rec);
    CHECK_EQU(tt_test_stats(h).globals, 0);
    free(m);
    close_heap();
}

static void test_heap_closed(void)
{
    memset(&rec, 0, sizeof rec);
    h = open_recording();
    REQUIRE(h != NULL);
    t = tt_thread_attach(h);
    REQUIRE(t != NULL);
    tt_heap_close(h);
    CHECK_EQ(rec.calls, 0);
    int line = __LINE__; tt_thread *u = tt_thread_attach(h);
    CHECK(u == NULL);
    CHECK_REPORT("heap-closed", TT_ECLOSED, line);
    line = __LINE__; int rc = tt_collect(t);
    CHECK_EQ(rc, TT_ECLOSED);
    CHECK_REPORT("heap-closed", TT_ECLOSED, line);
    line = __LINE__; tt_ref r = tt_alloc(t, &pair_type);
    CHECK(tt_is_null(r));
    CHECK_REPORT("heap-closed", TT_ECLOSED, line);
    line = __LINE__; tt_frame f = tt_frame_push(t, 1);
    CHECK(tt_frame_is_null(f));
    CHECK_REPORT("heap-closed", TT_ECLOSED, line);
    line = __LINE__; tt_global g = tt_global_new(t, TT_NULL);
    CHECK(tt_global_is_null(g));
    CHECK_REPORT("heap-closed", TT_ECLOSED, line);
    CHECK_EQ(tt_is_object(t, TT_NULL), 0);
    memset(&rec, 0, sizeof rec);
    tt_heap_close(h); /* twice */
    CHECK_EQ(rec.calls, 1);
    CHECK_STREQ(rec.what, "heap-closed");
    CHECK_EQ(rec.code, TT_ECLOSED);
}

static void test_thread_detached(void)
{
    memset(&rec, 0, sizeof rec);
    h = open_recording();
    REQUIRE(h != NULL);
    t = tt_thread_attach(h);
    tt_thread *u = tt_thread_attach(h);
    REQUIRE(t != NULL && u != NULL);
    tt_local keep = tt_local_new(u, tt_alloc(u, &pair_type));
    tt_thread_detach(t);
    CHECK_EQ(rec.calls, 0);
    int line = __LINE__; int rc = tt_collect(t);
    CHECK_EQ(rc, TT_ECLOSED);
    CHECK_REPORT("thread-detached", TT_ECLOSED, line);
    line = __LINE__; tt_ref r = tt_alloc(t, &pair_type);
    CHECK(tt_is_null(r));
    CHECK_REPORT("thread-detached", TT_ECLOSED, line);
    line = __LINE__; tt_local l = tt_local_new(t, TT_NULL);
    CHECK(tt_local_is_null(l));
    CHECK_REPORT("thread-detached", TT_ECLOSED, line);
    line = __LINE__; rc = tt_heap_verify(t, NULL);
    CHECK_EQ(rc, TT_ECLOSED);
    CHECK_REPORT("thread-detached", TT_ECLOSED, line);
    line = __LINE__; tt_thread_detach(t);
    CHECK_REPORT("thread-detached", TT_ECLOSED, line);
    /* the other thread is fine */
    CHECK_EQ(tt_collect(u), TT_OK);
    CHECK_EQU(tt_test_stats(h).live_objects, 1);
    CHECK(!tt_is_null(tt_local_get(u, keep)));
    /* detaching with a frame open is refused, and leaves it attached */
    tt_frame f = tt_frame_push(u, 1);
    tt_thread_detach(u);
    CHECK_EQ(rec.calls, 1);
    CHECK_EQ(rec.code, TT_ESTATE);
    memset(&rec, 0, sizeof rec);
    CHECK(tt_local_is_null(tt_frame_pop(u, f, TT_NO_LOCAL)));
    CHECK_EQ(tt_collect(u), TT_OK);
    CHECK_EQ(rec.calls, 0);
    tt_thread_detach(u);
    CHECK_EQ(rec.calls, 0);
    tt_heap_close(h);
}

/* The queries that had no _at form: their reports name the caller's line,
 * and their _at forms the site given. */
static void test_query_sites(void)
{
    open_heap();
    tt_frame f = tt_frame_push(t, 4);
    tt_local lp = tt_local_new(t, new_pair(1));
    tt_local lf = tt_local_new(t, tt_foreign_new(t, &rec, 100, NULL, NULL));
    tt_ref p = tt_local_get(t, lp), fo = tt_local_get(t, lf);
    void *m = calloc(1, 64);
    REQUIRE(m != NULL);
    tt_ref fake = {(uintptr_t)m + 8};
    /* good calls are silent */
    CHECK_EQU(tt_foreign_size(t, fo), 100);
    CHECK_EQ(tt_foreign_released(t, fo), 0);
    CHECK_EQU(tt_cleanup_count(t, p), 0);
    CHECK_EQU(tt_pending_cleanups(t), 0);
    CHECK_EQ(tt_is_object(t, p), 1);
    CHECK_EQ(tt_is_object(t, fake), 0); /* an answer, not a misuse */
    CHECK_EQ(rec.calls, 0);

    int line = __LINE__; size_t n = tt_foreign_size(t, p);
    CHECK_EQU(n, 0);
    CHECK_REPORT("not-foreign", TT_EINVAL, line);
    line = __LINE__; int rc = tt_foreign_released(t, fake);
    CHECK_EQ(rc, 0);
    CHECK_REPORT("not-foreign", TT_EINVAL, line);
    line = __LINE__; n = tt_cleanup_count(t, fake);
    CHECK_EQU(n, 0);
    CHECK_REPORT("cleanup-not-object", TT_EINVAL, line);
    n = tt_foreign_size_at(t, p, "caller.c", 11);
    CHECK_EQU(n, 0);
    CHECK_REPORT_AT("not-foreign", TT_EINVAL, 11);
    rc = tt_foreign_released_at(t, p, "caller.c", 12);
    CHECK_EQ(rc, 0);
    CHECK_REPORT_AT("not-foreign", TT_EINVAL, 12);
    n = tt_cleanup_count_at(t, fake, "caller.c", 13);
    CHECK_EQU(n, 0);
    CHECK_REPORT_AT("cleanup-not-object", TT_EINVAL, 13);

    /* tt_safepoint, when a collection waits (the poll word set by hand):
     * the entry checks run, with the caller's site. */
    struct tt__fast *fast = (struct tt__fast *)t;
    CHECK_EQ(tt_foreign_region_enter(t), TT_OK);
    __atomic_store_n(&fast->poll, 1, __ATOMIC_RELAXED);
    line = __LINE__; tt_safepoint(t);
    CHECK_REPORT("heap-in-foreign-region", TT_ESTATE, line);
    tt_safepoint_at(t, "caller.c", 14);
    CHECK_REPORT_AT("heap-in-foreign-region", TT_ESTATE, 14);
    __atomic_store_n(&fast->poll, 0, __ATOMIC_RELAXED);
    tt_safepoint(t); /* the poll only: nothing checked */
    CHECK_EQ(rec.calls, 0);
    CHECK_EQ(tt_foreign_region_leave(t), TT_OK);

    /* tt_is_object and tt_pending_cleanups on a detached thread */
    tt_thread *u = tt_thread_attach(h);
    REQUIRE(u != NULL);
    tt_thread_detach(u);
    line = __LINE__; rc = tt_is_object(u, p);
    CHECK_EQ(rc, 0);
    CHECK_REPORT("thread-detached", TT_ECLOSED, line);
    line = __LINE__; n = tt_pending_cleanups(u);
    CHECK_EQU(n, 0);
    CHECK_REPORT("thread-detached", TT_ECLOSED, line);
    rc = tt_is_object_at(u, p, "caller.c", 15);
    CHECK_REPORT_AT("thread-detached", TT_ECLOSED, 15);
    n = tt_pending_cleanups_at(u, "caller.c", 16);
    CHECK_REPORT_AT("thread-detached", TT_ECLOSED, 16);
    /* and tt_safepoint on it, when a collection waits */
    __atomic_store_n(&((struct tt__fast *)u)->poll, 1, __ATOMIC_RELAXED);
    line = __LINE__; tt_safepoint(u);
    CHECK_REPORT("thread-detached", TT_ECLOSED, line);

    CHECK_EQ(tt_release(t, fo), TT_OK);
    CHECK_EQU(tt_foreign_size(t, fo), 0);
    CHECK_EQ(tt_foreign_released(t, fo), 1);
    CHECK_EQ(rec.calls, 0);
    free(m);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    close_heap();
}

/* Something that is not an ephemeron given to the ephemeron accessors. */
static void test_not_ephemeron(void)
{
    open_heap();
    tt_frame f = tt_frame_push(t, 4);
    tt_local lk = tt_local_new(t, new_pair(1));
    tt_local lv = tt_local_new(t, new_pair(2));
    tt_local le = tt_local_new(t, tt_ephemeron_new(t, tt_local_get(t, lk), tt_local_get(t, lv)));
    tt_ref e = tt_local_get(t, le), p = tt_local_get(t, lk);
    REQUIRE(!tt_is_null(e));
    void *m = calloc(1, 64);
    REQUIRE(m != NULL);
    tt_ref fake = {(uintptr_t)m + 8};
    CHECK_REF(tt_ephemeron_key(t, e), p);
    CHECK_REF(tt_ephemeron_value(t, e), tt_local_get(t, lv));
    CHECK_EQ(rec.calls, 0);

    /* an object that is not an ephemeron */
    int line = __LINE__; tt_ref r = tt_ephemeron_key(t, p);
    CHECK(tt_is_null(r));
    CHECK_REPORT("not-ephemeron", TT_EINVAL, line);
    line = __LINE__; r = tt_ephemeron_value(t, p);
    CHECK(tt_is_null(r));
    CHECK_REPORT("not-ephemeron", TT_EINVAL, line);
    line = __LINE__; int rc = tt_ephemeron_set_value(t, p, TT_NULL);
    CHECK_EQ(rc, TT_EINVAL);
    CHECK_REPORT("not-ephemeron", TT_EINVAL, line);
    CHECK(tt_is_null(TT_PTR(struct pair, p)->a)); /* unchanged */
    /* null, misaligned, not an object at all */
    line = __LINE__; r = tt_ephemeron_key(t, TT_NULL);
    CHECK(tt_is_null(r));
    CHECK_REPORT("not-ephemeron", TT_EINVAL, line);
    line = __LINE__; r = tt_ephemeron_value(t, (tt_ref){e.bits + 4});
    CHECK(tt_is_null(r));
    CHECK_REPORT("not-ephemeron", TT_EINVAL, line);
    line = __LINE__; rc = tt_ephemeron_set_value(t, fake, TT_NULL);
    CHECK_EQ(rc, TT_EINVAL);
    CHECK_REPORT("not-ephemeron", TT_EINVAL, line);
    CHECK_EQU(((uint64_t *)m)[2], 0);
    /* the _at forms */
    r = tt_ephemeron_key_at(t, p, "caller.c", 21);
    CHECK_REPORT_AT("not-ephemeron", TT_EINVAL, 21);
    r = tt_ephemeron_value_at(t, fake, "caller.c", 22);
    CHECK_REPORT_AT("not-ephemeron", TT_EINVAL, 22);
    rc = tt_ephemeron_set_value_at(t, p, TT_NULL, "caller.c", 23);
    CHECK_EQ(rc, TT_EINVAL);
    CHECK_REPORT_AT("not-ephemeron", TT_EINVAL, 23);
    /* the ephemeron itself still works; a dead key is a status, not a misuse,
     * with the caller's site */
    CHECK_EQ(tt_ephemeron_set_value(t, e, TT_NULL), TT_OK);
    CHECK(tt_is_null(tt_ephemeron_value(t, e)));
    tt_local_set(t, lk, TT_NULL);
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK(tt_is_null(tt_ephemeron_key(t, tt_local_get(t, le))));
    line = __LINE__; rc = tt_ephemeron_set_value(t, tt_local_get(t, le), TT_NULL);
    CHECK_EQ(rc, TT_ESTATE);
    CHECK_ERR(TT_ESTATE);
    CHECK_EQ(tt_last_error()->line, line);
    CHECK_STREQ(tt_last_error()->file, __FILE__);
    CHECK_EQ(rec.calls, 0);
    free(m);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    close_heap();
}

/* Wrapper tables and guardians used after free, through the calls that
 * had no _at form and those that take no thread. */
static void test_freed_tables(void)
{
    open_heap();
    int addr;
    tt_wtable *w = tt_wtable_new(t);
    tt_guardian *g = tt_guardian_new(t);
    REQUIRE(w != NULL && g != NULL);
    CHECK_EQ(tt_wtable_put(t, w, &addr, new_pair(1)), TT_OK);
    CHECK_EQU(tt_wtable_count(w), 1);
    CHECK_EQU(tt_guardian_pending(g), 0);
    CHECK_EQ(tt_wtable_remove(t, w, &addr), TT_OK);
    int line = __LINE__; int rc = tt_wtable_remove(t, w, &addr);
    CHECK_EQ(rc, TT_ESTATE); /* no entry: a status, with the caller's site */
    CHECK_ERR(TT_ESTATE);
    CHECK_EQ(tt_last_error()->line, line);
    CHECK_STREQ(tt_last_error()->file, __FILE__);
    CHECK_EQ(rec.calls, 0);
    CHECK_EQ(tt_wtable_free(t, w), TT_OK);
    CHECK_EQ(tt_guardian_free(t, g), TT_OK);

    line = __LINE__; tt_ref r = tt_wtable_get(t, w, &addr);
    CHECK(tt_is_null(r));
    CHECK_REPORT("bad-wtable", TT_EINVAL, line);
    line = __LINE__; rc = tt_wtable_remove(t, w, &addr);
    CHECK_EQ(rc, TT_EINVAL);
    CHECK_REPORT("bad-wtable", TT_EINVAL, line);
    line = __LINE__; size_t n = tt_wtable_count(w);
    CHECK_EQU(n, 0);
    CHECK_REPORT("bad-wtable", TT_EINVAL, line);
    line = __LINE__; n = tt_guardian_pending(g);
    CHECK_EQU(n, 0);
    CHECK_REPORT("bad-guardian", TT_EINVAL, line);
    r = tt_wtable_get_at(t, w, &addr, "caller.c", 31);
    CHECK_REPORT_AT("bad-wtable", TT_EINVAL, 31);
    rc = tt_wtable_remove_at(t, w, &addr, "caller.c", 32);
    CHECK_REPORT_AT("bad-wtable", TT_EINVAL, 32);
    n = tt_wtable_count_at(w, "caller.c", 33);
    CHECK_REPORT_AT("bad-wtable", TT_EINVAL, 33);
    n = tt_guardian_pending_at(g, "caller.c", 34);
    CHECK_REPORT_AT("bad-guardian", TT_EINVAL, 34);
    /* NULL: a status, no report */
    line = __LINE__; n = tt_wtable_count(NULL);
    CHECK_EQU(n, 0);
    CHECK_ERR(TT_EINVAL);
    CHECK_EQ(tt_last_error()->line, line);
    line = __LINE__; n = tt_guardian_pending(NULL);
    CHECK_EQU(n, 0);
    CHECK_ERR(TT_EINVAL);
    CHECK_EQ(tt_last_error()->line, line);
    CHECK_EQ(rec.calls, 0);
    tt_clear_error();

    /* a table and a guardian whose heap was closed */
    tt_wtable *w2 = tt_wtable_new(t);
    tt_guardian *g2 = tt_guardian_new(t);
    REQUIRE(w2 != NULL && g2 != NULL);
    tt_thread_detach(t);
    tt_heap_close(h);
    memset(&rec, 0, sizeof rec); /* the leak report at close is not a misuse */
    line = __LINE__; n = tt_wtable_count(w2);
    CHECK_EQU(n, 0);
    CHECK_REPORT("heap-closed", TT_ECLOSED, line);
    line = __LINE__; n = tt_guardian_pending(g2);
    CHECK_EQU(n, 0);
    CHECK_REPORT("heap-closed", TT_ECLOSED, line);
}

/* A guardian or wrapper table of one heap used through a thread of
 * another: reported in every mode, to the calling thread's heap. */
static void other_heap_case(int checked)
{
    memset(&rec, 0, sizeof rec);
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.checked = checked ? TT_CHECKED_ON : TT_CHECKED_OFF;
    cfg.on_misuse = record_misuse;
    cfg.misuse_ctx = &rec;
    tt_heap *ha = tt_heap_open(&cfg), *hb = tt_heap_open(&cfg);
    REQUIRE(ha != NULL && hb != NULL);
    tt_thread *ta = tt_thread_attach(ha), *tb = tt_thread_attach(hb);
    REQUIRE(ta != NULL && tb != NULL);
    CHECK_EQ(tt_heap_checked(ha), checked);
    int addr;
    tt_guardian *g = tt_guardian_new(ta);
    tt_wtable *w = tt_wtable_new(ta);
    REQUIRE(g != NULL && w != NULL);
    tt_local la = tt_local_new(ta, tt_alloc(ta, &pair_type));
    tt_local lb = tt_local_new(tb, tt_alloc(tb, &pair_type));
    CHECK_EQ(tt_wtable_put(ta, w, &addr, tt_local_get(ta, la)), TT_OK);
    CHECK_EQ(rec.calls, 0);
    tt_ref ob = tt_local_get(tb, lb);

    int line = __LINE__; int rc = tt_guardian_add(tb, g, ob);
    CHECK_EQ(rc, TT_EINVAL);
    CHECK_REPORT("guardian-other-heap", TT_EINVAL, line);
    CHECK_EQU(tt_cleanup_count(tb, ob), 0); /* nothing registered */
    line = __LINE__; tt_ref r = tt_guardian_next(tb, g);
    CHECK(tt_is_null(r));
    CHECK_REPORT("guardian-other-heap", TT_EINVAL, line);
    line = __LINE__; rc = tt_guardian_free(tb, g);
    CHECK_EQ(rc, TT_EINVAL);
    CHECK_REPORT("guardian-other-heap", TT_EINVAL, line);
    CHECK_EQU(tt_guardian_pending(g), 0); /* still a guardian */
    CHECK_EQ(rec.calls, 0);

    line = __LINE__; r = tt_wtable_get(tb, w, &addr);
    CHECK(tt_is_null(r));
    CHECK_REPORT("wtable-other-heap", TT_EINVAL, line);
    line = __LINE__; rc = tt_wtable_put(tb, w, &addr, ob);
    CHECK_EQ(rc, TT_EINVAL);
    CHECK_REPORT("wtable-other-heap", TT_EINVAL, line);
    line = __LINE__; rc = tt_wtable_remove(tb, w, &addr);
    CHECK_EQ(rc, TT_EINVAL);
    CHECK_REPORT("wtable-other-heap", TT_EINVAL, line);
    int created = -1;
    line = __LINE__; r = tt_wtable_wrap(tb, w, &created, 0, NULL, NULL, &created);
    CHECK(tt_is_null(r));
    CHECK_EQ(created, 0);
    CHECK_REPORT("wtable-other-heap", TT_EINVAL, line);
    line = __LINE__; rc = tt_wtable_free(tb, w);
    CHECK_EQ(rc, TT_EINVAL);
    CHECK_REPORT("wtable-other-heap", TT_EINVAL, line);
    r = tt_wtable_get_at(tb, w, &addr, "caller.c", 41);
    CHECK_REPORT_AT("wtable-other-heap", TT_EINVAL, 41);
    rc = tt_guardian_add_at(tb, g, ob, "caller.c", 42);
    CHECK_REPORT_AT("guardian-other-heap", TT_EINVAL, 42);
    /* unchanged, and still usable through its own heap */
    CHECK_EQU(tt_wtable_count(w), 1);
    CHECK_REF(tt_wtable_get(ta, w, &addr), tt_local_get(ta, la));
    CHECK_EQ(tt_guardian_add(ta, g, tt_local_get(ta, la)), TT_OK);
    CHECK_EQ(tt_wtable_free(ta, w), TT_OK);
    CHECK_EQ(tt_guardian_free(ta, g), TT_OK);
    CHECK_EQ(rec.calls, 0);
    tt_thread_detach(ta);
    tt_thread_detach(tb);
    tt_heap_close(ha);
    tt_heap_close(hb);
}

static void test_other_heap_tables(void)
{
    other_heap_case(1);
    other_heap_case(0);
}

/* The calls that take a heap and no thread, on a closed heap. */
static void test_heap_queries_closed(void)
{
    open_heap();
    CHECK_EQU(tt_heap_threads(h), 1);
    tt_stats st;
    tt_heap_stats(h, &st);
    CHECK_EQU(st.threads, 1);
    CHECK_EQ(rec.calls, 0);
    close_heap();
    memset(&st, 0xa5, sizeof st);
    int line = __LINE__; size_t n = tt_heap_threads(h);
    CHECK_EQU(n, 0);
    CHECK_REPORT("heap-closed", TT_ECLOSED, line);
    line = __LINE__; tt_heap_stats(h, &st);
    CHECK_REPORT("heap-closed", TT_ECLOSED, line);
    CHECK_EQU(st.collections, 0); /* zeroed, not left as it was */
    CHECK_EQU(st.threads, 0);
    n = tt_heap_threads_at(h, "caller.c", 51);
    CHECK_REPORT_AT("heap-closed", TT_ECLOSED, 51);
    tt_heap_stats_at(h, &st, "caller.c", 52);
    CHECK_REPORT_AT("heap-closed", TT_ECLOSED, 52);
    /* NULL: a status, no report */
    line = __LINE__; n = tt_heap_threads(NULL);
    CHECK_EQU(n, 0);
    CHECK_ERR(TT_EINVAL);
    CHECK_EQ(tt_last_error()->line, line);
    memset(&st, 0xa5, sizeof st);
    line = __LINE__; tt_heap_stats(NULL, &st);
    CHECK_ERR(TT_EINVAL);
    CHECK_EQ(tt_last_error()->line, line);
    CHECK_EQU(st.collections, 0);
    CHECK_EQ(rec.calls, 0);
    tt_clear_error();
}

/* Handles of heap A used through a thread of heap B. Each heap's first
 * global, weak reference and base-frame local take the same index or slot
 * as the other's, so only the heap tag (handles) and the process-wide
 * serial ranges (locals) tell them apart: without them, B's own handle
 * would be read or changed. */
static void test_other_heap_handles(void)
{
    open_heap(); /* A: h, t */
    tt_heap *hb = open_recording();
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
    CHECK((uint32_t)la.bits == (uint32_t)lb.bits); /* the same slot */
    CHECK_EQ(rec.calls, 0);

    int line = __LINE__; tt_ref r = tt_global_get(tb, ga);
    CHECK(tt_is_null(r));
    CHECK_REPORT("global-other-heap", TT_ESTALE, line);
    line = __LINE__; int rc = tt_global_set(tb, ga, TT_NULL);
    CHECK_EQ(rc, TT_ESTALE);
    CHECK_REPORT("global-other-heap", TT_ESTALE, line);
    line = __LINE__; rc = tt_global_free(tb, ga);
    CHECK_EQ(rc, TT_ESTALE);
    CHECK_REPORT("global-other-heap", TT_ESTALE, line);

    line = __LINE__; r = tt_weak_get(tb, wa);
    CHECK(tt_is_null(r));
    CHECK_REPORT("weak-other-heap", TT_ESTALE, line);
    line = __LINE__; rc = tt_weak_free(tb, wa);
    CHECK_EQ(rc, TT_ESTALE);
    CHECK_REPORT("weak-other-heap", TT_ESTALE, line);

    line = __LINE__; r = tt_local_get(tb, la);
    CHECK(tt_is_null(r));
    CHECK_REPORT("local-other-heap", TT_ESTALE, line);
    line = __LINE__; rc = tt_local_set(tb, la, TT_NULL);
    CHECK_EQ(rc, TT_ESTALE);
    CHECK_REPORT("local-other-heap", TT_ESTALE, line);
    /* a local of a pushed frame, and as the escape of B's frame */
    tt_frame fa = tt_frame_push(t, 1);
    tt_frame fb = tt_frame_push(tb, 1);
    tt_local la2 = tt_local_new(t, tt_local_get(t, la));
    tt_local lb2 = tt_local_new(tb, ob);
    CHECK((uint32_t)la2.bits == (uint32_t)lb2.bits);
    line = __LINE__; r = tt_local_get(tb, la2);
    CHECK(tt_is_null(r));
    CHECK_REPORT("local-other-heap", TT_ESTALE, line);
    line = __LINE__; tt_local e = tt_frame_pop(tb, fb, la2);
    CHECK(tt_local_is_null(e));
    CHECK_REPORT("local-other-heap", TT_ESTALE, line);
    CHECK(tt_local_is_null(tt_frame_pop(tb, fb, TT_NO_LOCAL)));
    CHECK(tt_local_is_null(tt_frame_pop(t, fa, TT_NO_LOCAL)));

    /* Nothing changed, and each heap's own handles work without a report. */
    CHECK_EQU(value_of(tt_global_get(t, ga)), 1);
    CHECK_EQU(value_of(tt_weak_get(t, wa)), 1);
    CHECK_EQU(value_of(tt_local_get(t, la)), 1);
    CHECK_EQU(value_of(tt_global_get(tb, gb)), 2);
    CHECK_EQU(value_of(tt_weak_get(tb, wb)), 2);
    CHECK_EQU(value_of(tt_local_get(tb, lb)), 2);
    CHECK_EQ(tt_global_set(tb, gb, tt_local_get(tb, lb)), TT_OK);
    CHECK_EQ(tt_global_free(t, ga), TT_OK);
    CHECK_EQ(tt_weak_free(t, wa), TT_OK);
    CHECK_EQ(tt_global_free(tb, gb), TT_OK);
    CHECK_EQ(tt_weak_free(tb, wb), TT_OK);
    /* freed, a handle of A is stale for A, still of another heap for B */
    line = __LINE__; r = tt_global_get(t, ga);
    CHECK_REPORT("global-after-free", TT_ESTALE, line);
    line = __LINE__; r = tt_global_get(tb, ga);
    CHECK_REPORT("global-other-heap", TT_ESTALE, line);
    /* the null handle (tag 0, no heap's) is no other heap's handle */
    line = __LINE__; r = tt_global_get(tb, (tt_global){0});
    CHECK_REPORT("global-after-free", TT_ESTALE, line);
    line = __LINE__; rc = tt_weak_free(tb, (tt_weak){0});
    CHECK_REPORT("weak-double-free", TT_ESTALE, line);
    (void)r;
    CHECK_EQ(rec.calls, 0);
    tt_thread_detach(tb);
    tt_heap_close(hb);
    close_heap();
}

/* Many heaps and threads at once: every heap's own handles and locals are
 * valid through its own thread (no false other-heap report), and each
 * heap's handles are refused by every other heap. */
static void test_other_heap_many(void)
{
    enum { N = 12 };
    tt_heap *hs[N];
    tt_thread *ts[N];
    tt_global gs[N];
    tt_weak ws[N];
    tt_local ls[N];
    memset(&rec, 0, sizeof rec);
    for (int i = 0; i < N; i++) {
        hs[i] = open_recording();
        REQUIRE(hs[i] != NULL);
        ts[i] = tt_thread_attach(hs[i]);
        REQUIRE(ts[i] != NULL);
        tt_ref o = tt_alloc(ts[i], &pair_type);
        REQUIRE(!tt_is_null(o));
        TT_PTR(struct pair, o)->v = (uint64_t)i;
        ls[i] = tt_local_new(ts[i], o);
        gs[i] = tt_global_new(ts[i], o);
        ws[i] = tt_weak_new(ts[i], o);
    }
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            if (i == j) {
                CHECK_EQU(value_of(tt_global_get(ts[j], gs[i])), (uint64_t)i);
                CHECK_EQU(value_of(tt_weak_get(ts[j], ws[i])), (uint64_t)i);
                CHECK_EQU(value_of(tt_local_get(ts[j], ls[i])), (uint64_t)i);
                CHECK_EQ(rec.calls, 0);
                continue;
            }
            CHECK(tt_is_null(tt_global_get(ts[j], gs[i])));
            CHECK_STREQ(rec.what, "global-other-heap");
            CHECK(tt_is_null(tt_weak_get(ts[j], ws[i])));
            CHECK_STREQ(rec.what, "weak-other-heap");
            CHECK(tt_is_null(tt_local_get(ts[j], ls[i])));
            CHECK_STREQ(rec.what, "local-other-heap");
            CHECK_EQ(rec.calls, 3);
            memset(&rec, 0, sizeof rec);
        }
    for (int i = 0; i < N; i++) {
        CHECK_EQ(tt_global_free(ts[i], gs[i]), TT_OK);
        CHECK_EQ(tt_weak_free(ts[i], ws[i]), TT_OK);
        tt_thread_detach(ts[i]);
        tt_heap_close(hs[i]);
    }
    CHECK_EQ(rec.calls, 0);
}

/* Without a handler, the default one is tt_misuse_abort: see
 * test_death.c. Here: a handler gets its own context, per heap. */
static void test_handler_per_heap(void)
{
    tt_test_report other;
    memset(&other, 0, sizeof other);
    memset(&rec, 0, sizeof rec);
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.checked = TT_CHECKED_ON;
    cfg.on_misuse = record_misuse;
    cfg.misuse_ctx = &other;
    tt_heap *h2 = tt_heap_open(&cfg);
    REQUIRE(h2 != NULL);
    tt_thread *t2 = tt_thread_attach(h2);
    REQUIRE(t2 != NULL);
    open_heap();
    tt_global g = tt_global_new(t2, TT_NULL);
    tt_global_free(t2, g);
    tt_global_free(t2, g);
    CHECK_EQ(other.calls, 1);
    CHECK(other.ctx == &other);
    CHECK_EQ(rec.calls, 0);
    tt_thread_detach(t2);
    tt_heap_close(h2);
    close_heap();
}

int main(void)
{
    if (!TT_TEST_CHECKS_BUILT) {
        printf("checked mode is not compiled in (TETHER_CHECKS=OFF): skipped\n");
        return TT_TEST_SKIP;
    }
    RUN(test_local_after_pop);
    RUN(test_frame_pop_order);
    RUN(test_frame_capacity);
    RUN(test_globals);
    RUN(test_weaks);
    RUN(test_store_not_object);
    RUN(test_store_bad_field);
    RUN(test_bad_type);
    RUN(test_not_object_handles);
    RUN(test_cast);
    RUN(test_heap_closed);
    RUN(test_thread_detached);
    RUN(test_handler_per_heap);
    RUN(test_query_sites);
    RUN(test_not_ephemeron);
    RUN(test_freed_tables);
    RUN(test_other_heap_tables);
    RUN(test_heap_queries_closed);
    RUN(test_other_heap_handles);
    RUN(test_other_heap_many);
    return tt_test_done();
}
