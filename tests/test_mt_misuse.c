/*
 * test_mt_misuse.c: the misuses that come with threads, reported in
 * checked mode through a handler that records the report and returns.
 * Each report is checked like in test_misuse.c: the handler is called
 * exactly once, with the name, the status, the caller's file:line and a
 * message naming them; the call fails with that status (the last error of
 * the OS thread that made it) and changes nothing.
 *
 *   local-other-thread          a local of thread A used by thread B with B's
 *                               own tt_thread (get, set, escape)
 *   wrong-thread                thread B (attached or not) passing thread A's
 *                               tt_thread
 *   heap-in-foreign-region      a tether call inside a foreign region
 *   foreign-region-twice        entering a region twice
 *   foreign-region-not-entered  leaving without entering
 *   thread-exit-attached        an OS thread that exits attached (with
 *                               frames open, inside a region, while a
 *                               collection waits for it, or with two
 *                               attachments): each attachment reported with
 *                               its attach site and detached, its locals no
 *                               longer roots, collections do not hang
 *   frame-open-at-detach        from another thread than the main one
 *   heap-corrupt                verify_collections finding a forged
 *                               reference, in both checked modes
 * A callback run with the heap lock held (an allocator of
 * tt_foreign_alloc or tt_foreign_allocate, a retain of tt_cleanup_retain)
 * cannot enter a foreign region: TT_ESTATE and no report, in both modes.
 * One OS thread may hold several attachments of a heap (no misuse): a
 * collection through one treats the others as stopped. Without checked
 * mode: region twice / not entered fail with TT_ESTATE and no report, a
 * thread exiting attached is detached silently; in both modes a heap
 * closed while another OS thread is still attached (in a region) lets that
 * thread exit without a report, also when the exits race the close
 * (then only thread-exit-attached, for exits that precede it), and a
 * long-lived thread left attached at the close of 1100 heaps in turn does
 * not exhaust what heaps need to open.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "tt_test.h"

struct pair {
    tt_ref a, b;
    uint64_t v;
};
static const tt_type pair_type = TT_TYPE_INIT(struct pair, a, b);

struct blob {
    uint64_t w[4];
};
static const tt_type blob_type = TT_ATOMIC_TYPE_INIT(struct blob);

/* ------------------------------------------------------------------ */
/* The recording handler; reports may come from any thread              */

static pthread_mutex_t rec_mu = PTHREAD_MUTEX_INITIALIZER;
static tt_test_report rec;

static void record_misuse(const tt_misuse *m, void *ctx)
{
    pthread_mutex_lock(&rec_mu);
    tt_test_report_add(&rec, m, ctx);
    pthread_mutex_unlock(&rec_mu);
}

static void rec_reset(void)
{
    pthread_mutex_lock(&rec_mu);
    memset(&rec, 0, sizeof rec);
    pthread_mutex_unlock(&rec_mu);
}

static int rec_calls(void)
{
    pthread_mutex_lock(&rec_mu);
    int n = rec.calls;
    pthread_mutex_unlock(&rec_mu);
    return n;
}

/* What one call left behind, taken on the thread that made it: the report
 * (then cleared) and that thread's last error (then cleared). */
struct obs {
    int taken;
    int line; /* the line of the call */
    tt_test_report rec;
    int err_code;
    int err_line;
    char err_file[256];
};

static void observe(struct obs *o, int line)
{
    pthread_mutex_lock(&rec_mu);
    o->rec = rec;
    memset(&rec, 0, sizeof rec);
    pthread_mutex_unlock(&rec_mu);
    const tt_error *e = tt_last_error();
    o->err_code = e->code;
    o->err_line = e->line;
    snprintf(o->err_file, sizeof o->err_file, "%s", e->file ? e->file : "(null)");
    o->line = line;
    o->taken = 1;
    tt_clear_error();
}

/* The report made by the call observed in *o. */
#define CHECK_OBS(o, name, status) check_obs(__LINE__, (o), (name), (status))
static void check_obs(int at, const struct obs *o, const char *name, int status)
{
    char where[300];
    int failures = tt__failures;
    CHECK(o->taken);
    CHECK_EQ(o->rec.calls, 1);
    CHECK_STREQ(o->rec.what, name);
    CHECK_EQ(o->rec.code, status);
    CHECK_STREQ(o->rec.file, __FILE__);
    CHECK_EQ(o->rec.line, o->line);
    CHECK(o->rec.ctx == &rec);
    CHECK_CONTAINS(o->rec.message, name);
    snprintf(where, sizeof where, "%s:%d", tt__basename(__FILE__), o->line);
    CHECK_CONTAINS(o->rec.message, where);
    CHECK_EQ(o->err_code, status);
    CHECK_EQ(o->err_line, o->line);
    CHECK_STREQ(o->err_file, __FILE__);
    if (tt__failures != failures) fprintf(stderr, "  (the report checked at line %d)\n", at);
}

/* A call that failed with `status` and no report (checked mode off). */
#define CHECK_QUIET(o, status) check_quiet(__LINE__, (o), (status))
static void check_quiet(int at, const struct obs *o, int status)
{
    int failures = tt__failures;
    CHECK(o->taken);
    CHECK_EQ(o->rec.calls, 0);
    CHECK_EQ(o->err_code, status);
    CHECK_EQ(o->err_line, o->line);
    CHECK_STREQ(o->err_file, __FILE__);
    if (tt__failures != failures) fprintf(stderr, "  (the failure checked at line %d)\n", at);
}

/* ------------------------------------------------------------------ */
/* Heaps and threads                                                    */

static tt_heap *open_heap(int checked, int verify)
{
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.checked = checked;
    cfg.on_misuse = record_misuse;
    cfg.misuse_ctx = &rec;
    cfg.verify_collections = verify;
    tt_heap *h = tt_heap_open(&cfg);
    if (!h) {
        fprintf(stderr, "cannot open a heap: %s\n", tt_last_error()->message);
        exit(2);
    }
    rec_reset();
    return h;
}

static tt_thread *attach_main(tt_heap *h)
{
    tt_thread *t = tt_thread_attach(h);
    if (!t) {
        fprintf(stderr, "cannot attach: %s\n", tt_last_error()->message);
        exit(2);
    }
    return t;
}

/* Run fn(arg) on a new OS thread and join it; the join blocks, so it is
 * made inside a foreign region of t (if t is not NULL). */
static void run_thread(tt_thread *t, void *(*fn)(void *), void *arg)
{
    pthread_t th;
    if (pthread_create(&th, NULL, fn, arg) != 0) {
        fprintf(stderr, "pthread_create failed\n");
        exit(2);
    }
    if (t) CHECK_EQ(tt_foreign_region_enter(t), TT_OK);
    pthread_join(th, NULL);
    if (t) CHECK_EQ(tt_foreign_region_leave(t), TT_OK);
}

static tt_ref new_pair(tt_thread *t, uint64_t v)
{
    tt_ref r = tt_alloc(t, &pair_type);
    if (!tt_is_null(r)) TT_PTR(struct pair, r)->v = v;
    return r;
}

static uint64_t pair_v(tt_ref r) { return tt_is_null(r) ? 0 : TT_PTR(struct pair, r)->v; }

static void nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000 * 1000};
    nanosleep(&ts, NULL);
}

static tt_heap *h; /* the heap of the current test */

/* The end of a test whose last attachment is t: no report is pending,
 * and once t is detached the heap has no thread left; then it is closed. */
#define DETACH_LAST(t) detach_last(__LINE__, (t))
static void detach_last(int at, tt_thread *t)
{
    int failures = tt__failures;
    CHECK_EQ(rec_calls(), 0);
    tt_thread_detach(t);
    CHECK_EQU(tt_heap_threads(h), 0);
    tt_heap_close(h);
    if (tt__failures != failures) fprintf(stderr, "  (the end checked at line %d)\n", at);
}

/* ------------------------------------------------------------------ */
/* local-other-thread                                                   */

struct lot {
    tt_local la; /* a local of the main thread's frame */
    int attached;
    struct obs get, set, esc;
    int get_null, set_rc, esc_null, pop_ok, own_ok;
};

static void *lot_thread(void *arg)
{
    struct lot *x = arg;
    tt_thread *tb = tt_thread_attach(h);
    if (!tb) return NULL;
    x->attached = 1;
    int line = __LINE__; tt_ref r = tt_local_get(tb, x->la);
    observe(&x->get, line);
    x->get_null = tt_is_null(r);
    line = __LINE__; x->set_rc = tt_local_set(tb, x->la, TT_NULL);
    observe(&x->set, line);
    tt_frame fb = tt_frame_push(tb, 1);
    line = __LINE__; tt_local e = tt_frame_pop(tb, fb, x->la);
    observe(&x->esc, line);
    x->esc_null = tt_local_is_null(e);
    /* nothing was popped: the frame pops now, without a report */
    x->pop_ok = tt_local_is_null(tt_frame_pop(tb, fb, TT_NO_LOCAL)) && rec_calls() == 0;
    /* B's own locals are fine */
    tt_local lb = tt_local_new(tb, new_pair(tb, 5));
    x->own_ok = pair_v(tt_local_get(tb, lb)) == 5 && rec_calls() == 0;
    tt_thread_detach(tb);
    return NULL;
}

static void test_local_other_thread(void)
{
    h = open_heap(TT_CHECKED_ON, 0);
    tt_thread *t = attach_main(h);
    tt_frame f = tt_frame_push(t, 1);
    struct lot x;
    memset(&x, 0, sizeof x);
    x.la = tt_local_new(t, new_pair(t, 77));
    run_thread(t, lot_thread, &x);
    REQUIRE(x.attached);
    CHECK_OBS(&x.get, "local-other-thread", TT_ESTALE);
    CHECK(x.get_null);
    CHECK_OBS(&x.set, "local-other-thread", TT_ESTALE);
    CHECK_EQ(x.set_rc, TT_ESTALE);
    CHECK_OBS(&x.esc, "local-other-thread", TT_ESTALE);
    CHECK(x.esc_null);
    CHECK(x.pop_ok);
    CHECK(x.own_ok);
    /* unchanged: the local still holds its object (the set did nothing) */
    CHECK_EQU(pair_v(tt_local_get(t, x.la)), 77);
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK_EQU(pair_v(tt_local_get(t, x.la)), 77);
    CHECK(tt_local_is_null(tt_frame_pop(t, f, TT_NO_LOCAL)));
    CHECK_EQ(rec_calls(), 0);
    CHECK_EQU(tt_heap_threads(h), 1);
    tt_thread_detach(t);
    tt_heap_close(h);
}

/* ------------------------------------------------------------------ */
/* wrong-thread                                                         */

struct wt {
    tt_thread *ta; /* the main thread's */
    tt_local la;
    int attached;
    struct obs alloc, collect, get, push, gnew, detach, unattached;
    int alloc_null, collect_rc, get_null, push_null, gnew_null, unattached_null;
    int own_ok;
};

static void *wt_thread(void *arg)
{
    struct wt *x = arg;
    tt_thread *tb = tt_thread_attach(h);
    if (!tb) return NULL;
    x->attached = 1;
    int line = __LINE__; tt_ref r = tt_alloc(x->ta, &pair_type);
    observe(&x->alloc, line);
    x->alloc_null = tt_is_null(r);
    line = __LINE__; x->collect_rc = tt_collect(x->ta);
    observe(&x->collect, line);
    line = __LINE__; r = tt_local_get(x->ta, x->la);
    observe(&x->get, line);
    x->get_null = tt_is_null(r);
    line = __LINE__; tt_frame fr = tt_frame_push(x->ta, 4);
    observe(&x->push, line);
    x->push_null = tt_frame_is_null(fr);
    line = __LINE__; tt_global g = tt_global_new(x->ta, TT_NULL);
    observe(&x->gnew, line);
    x->gnew_null = tt_global_is_null(g);
    line = __LINE__; tt_thread_detach(x->ta);
    observe(&x->detach, line);
    /* its own thread works */
    tt_local lb = tt_local_new(tb, new_pair(tb, 6));
    x->own_ok = pair_v(tt_local_get(tb, lb)) == 6 && tt_collect(tb) == TT_OK &&
                pair_v(tt_local_get(tb, lb)) == 6 && rec_calls() == 0;
    tt_thread_detach(tb);
    return NULL;
}

/* A thread that never attached. */
static void *wt_unattached(void *arg)
{
    struct wt *x = arg;
    int line = __LINE__; tt_ref r = tt_alloc(x->ta, &pair_type);
    observe(&x->unattached, line);
    x->unattached_null = tt_is_null(r);
    return NULL;
}

static void test_wrong_thread(void)
{
    h = open_heap(TT_CHECKED_ON, 0);
    tt_thread *t = attach_main(h);
    tt_frame f = tt_frame_push(t, 1);
    struct wt x;
    memset(&x, 0, sizeof x);
    x.ta = t;
    x.la = tt_local_new(t, new_pair(t, 88));
    run_thread(t, wt_thread, &x);
    run_thread(t, wt_unattached, &x);
    REQUIRE(x.attached);
    CHECK_OBS(&x.alloc, "wrong-thread", TT_ESTATE);
    CHECK(x.alloc_null);
    CHECK_OBS(&x.collect, "wrong-thread", TT_ESTATE);
    CHECK_EQ(x.collect_rc, TT_ESTATE);
    CHECK_OBS(&x.get, "wrong-thread", TT_ESTATE);
    CHECK(x.get_null);
    CHECK_OBS(&x.push, "wrong-thread", TT_ESTATE);
    CHECK(x.push_null);
    CHECK_OBS(&x.gnew, "wrong-thread", TT_ESTATE);
    CHECK(x.gnew_null);
    CHECK_OBS(&x.detach, "wrong-thread", TT_ESTATE);
    CHECK_OBS(&x.unattached, "wrong-thread", TT_ESTATE);
    CHECK(x.unattached_null);
    CHECK(x.own_ok);
    /* nothing changed: still attached, f is still the innermost frame (no
     * frame was pushed), the local holds its object, no global was made */
    CHECK_EQU(tt_heap_threads(h), 1);
    CHECK_EQU(pair_v(tt_local_get(t, x.la)), 88);
    CHECK_EQU(tt_test_stats(h).globals, 0);
    CHECK(tt_local_is_null(tt_frame_pop(t, f, TT_NO_LOCAL)));
    CHECK_EQ(tt_collect(t), TT_OK);
    DETACH_LAST(t);
}

/* ------------------------------------------------------------------ */
/* heap-in-foreign-region                                               */

static void test_heap_in_foreign_region(void)
{
    struct obs o;
    h = open_heap(TT_CHECKED_ON, 0);
    tt_thread *t = attach_main(h);
    tt_frame f = tt_frame_push(t, 1);
    tt_local l = tt_local_new(t, new_pair(t, 9));
    tt_global g = tt_global_new(t, new_pair(t, 10));
    REQUIRE(!tt_global_is_null(g));
    CHECK_EQ(tt_foreign_region_enter(t), TT_OK);

    memset(&o, 0, sizeof o);
    int line = __LINE__; tt_ref r = tt_alloc(t, &pair_type);
    observe(&o, line);
    CHECK_OBS(&o, "heap-in-foreign-region", TT_ESTATE);
    CHECK(tt_is_null(r));

    memset(&o, 0, sizeof o);
    line = __LINE__; int rc = tt_collect(t);
    observe(&o, line);
    CHECK_OBS(&o, "heap-in-foreign-region", TT_ESTATE);
    CHECK_EQ(rc, TT_ESTATE);

    memset(&o, 0, sizeof o);
    line = __LINE__; r = tt_local_get(t, l);
    observe(&o, line);
    CHECK_OBS(&o, "heap-in-foreign-region", TT_ESTATE);
    CHECK(tt_is_null(r));

    memset(&o, 0, sizeof o);
    line = __LINE__; r = tt_global_get(t, g);
    observe(&o, line);
    CHECK_OBS(&o, "heap-in-foreign-region", TT_ESTATE);
    CHECK(tt_is_null(r));

    memset(&o, 0, sizeof o);
    line = __LINE__; tt_frame fr = tt_frame_push(t, 1);
    observe(&o, line);
    CHECK_OBS(&o, "heap-in-foreign-region", TT_ESTATE);
    CHECK(tt_frame_is_null(fr));

    memset(&o, 0, sizeof o);
    line = __LINE__; tt_thread_detach(t);
    observe(&o, line);
    CHECK_OBS(&o, "heap-in-foreign-region", TT_ESTATE);

    /* the queries any thread may make are not misuse */
    CHECK_EQ(tt_in_foreign_region(t), 1);
    CHECK_EQU(tt_heap_threads(h), 1);
    CHECK_EQ(rec_calls(), 0);

    CHECK_EQ(tt_foreign_region_leave(t), TT_OK);
    CHECK_EQ(tt_in_foreign_region(t), 0);
    CHECK_EQ(rec_calls(), 0);
    /* unchanged: still attached, f innermost, the objects intact */
    CHECK_EQU(pair_v(tt_local_get(t, l)), 9);
    CHECK_EQU(pair_v(tt_global_get(t, g)), 10);
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK_EQU(tt_test_stats(h).live_objects, 2);
    CHECK(tt_local_is_null(tt_frame_pop(t, f, TT_NO_LOCAL)));
    CHECK_EQ(tt_global_free(t, g), TT_OK);
    DETACH_LAST(t);
}

/* ------------------------------------------------------------------ */
/* foreign-region-twice, foreign-region-not-entered                     */

static void test_region_twice(void)
{
    struct obs o;
    h = open_heap(TT_CHECKED_ON, 0);
    tt_thread *t = attach_main(h);
    tt_local l = tt_local_new(t, new_pair(t, 12));
    CHECK_EQ(tt_foreign_region_enter(t), TT_OK);
    CHECK_EQ(rec_calls(), 0);

    memset(&o, 0, sizeof o);
    int line = __LINE__; int rc = tt_foreign_region_enter(t);
    observe(&o, line);
    CHECK_OBS(&o, "foreign-region-twice", TT_ESTATE);
    CHECK_EQ(rc, TT_ESTATE);
    CHECK_EQ(tt_in_foreign_region(t), 1); /* still in the first one */

    CHECK_EQ(tt_foreign_region_leave(t), TT_OK);
    CHECK_EQ(tt_in_foreign_region(t), 0);
    CHECK_EQ(rec_calls(), 0);

    memset(&o, 0, sizeof o);
    line = __LINE__; rc = tt_foreign_region_leave(t);
    observe(&o, line);
    CHECK_OBS(&o, "foreign-region-not-entered", TT_ESTATE);
    CHECK_EQ(rc, TT_ESTATE);
    CHECK_EQ(tt_in_foreign_region(t), 0);

    /* never entered at all, on a fresh thread */
    tt_heap *h2 = open_heap(TT_CHECKED_ON, 0);
    tt_thread *t2 = attach_main(h2);
    memset(&o, 0, sizeof o);
    line = __LINE__; rc = tt_foreign_region_leave(t2);
    observe(&o, line);
    CHECK_OBS(&o, "foreign-region-not-entered", TT_ESTATE);
    CHECK_EQ(rc, TT_ESTATE);
    tt_thread_detach(t2);
    tt_heap_close(h2);

    /* the thread works normally */
    CHECK_EQU(pair_v(tt_local_get(t, l)), 12);
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK_EQU(pair_v(tt_local_get(t, l)), 12);
    CHECK_EQ(tt_foreign_region_enter(t), TT_OK);
    CHECK_EQ(tt_foreign_region_leave(t), TT_OK);
    CHECK_EQ(rec_calls(), 0);
    tt_thread_detach(t);
    tt_heap_close(h);
}

/* A callback that runs with the heap lock held (the allocator of
 * tt_foreign_alloc or tt_foreign_allocate, the retain of
 * tt_cleanup_retain) cannot enter a foreign region: TT_ESTATE with the
 * callback's own site and no report, in every mode; the thread is left
 * outside any region, and the call that ran the callback completes. */
static struct {
    tt_thread *t;
    int calls;
    struct obs o;
    int rc, in_region_after;
    char msg[256];
} cbr;
static char cbr_buf[2][16];

static void cbr_enter(void)
{
    memset(&cbr.o, 0, sizeof cbr.o);
    int line = __LINE__; cbr.rc = tt_foreign_region_enter(cbr.t);
    snprintf(cbr.msg, sizeof cbr.msg, "%s", tt_last_error()->message);
    observe(&cbr.o, line);
    cbr.in_region_after = tt_in_foreign_region(cbr.t);
    if (cbr.rc == TT_OK) tt_foreign_region_leave(cbr.t); /* a failure: let the caller go on */
}
static void *cbr_alloc(void *ctx)
{
    cbr_enter();
    cbr.calls++;
    return ctx;
}
static void cbr_retain(void *env)
{
    (void)env;
    cbr_enter();
    cbr.calls++;
}
static void cbr_nothing(tt_thread *t, tt_ref obj, void *env) { (void)t, (void)obj, (void)env; }

/* The last callback's attempt failed as it should. */
#define CHECK_CBR() check_cbr(__LINE__)
static void check_cbr(int at)
{
    int failures = tt__failures;
    CHECK_EQ(cbr.rc, TT_ESTATE);
    CHECK_QUIET(&cbr.o, TT_ESTATE);
    CHECK_CONTAINS(cbr.msg, "tt_foreign_region_enter inside a tether callback that holds the heap");
    CHECK_EQ(cbr.in_region_after, 0);
    cbr.rc = -1;
    cbr.msg[0] = 0;
    if (tt__failures != failures) fprintf(stderr, "  (the callback checked at line %d)\n", at);
}

static void region_in_callback(int checked)
{
    h = open_heap(checked, 0);
    tt_thread *t = attach_main(h);
    CHECK_EQ(tt_heap_checked(h), checked == TT_CHECKED_ON);
    memset(&cbr, 0, sizeof cbr);
    cbr.t = t;
    tt_local l = tt_local_new(t, tt_foreign_alloc(t, 0, cbr_alloc, cbr_buf[0], cbr_nothing, NULL));
    CHECK_EQ(cbr.calls, 1);
    CHECK_CBR();
    CHECK(tt_foreign_addr(t, tt_local_get(t, l)) == cbr_buf[0]);

    CHECK(tt_foreign_allocate(t, tt_local_get(t, l), 0, cbr_alloc, cbr_buf[1], cbr_nothing, NULL) ==
          cbr_buf[1]);
    CHECK_EQ(cbr.calls, 2);
    CHECK_CBR();

    CHECK_EQ(tt_cleanup_retain(t, tt_local_get(t, l), cbr_retain, cbr_nothing, NULL), TT_OK);
    CHECK_EQ(cbr.calls, 3);
    CHECK_CBR();
    CHECK_EQU(tt_cleanup_count(t, tt_local_get(t, l)), 2);

    /* The thread is outside any region and works; a region can be entered
     * where the lock is not held. */
    CHECK_EQ(tt_in_foreign_region(t), 0);
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK(tt_foreign_addr(t, tt_local_get(t, l)) == cbr_buf[1]);
    CHECK_EQ(tt_foreign_region_enter(t), TT_OK);
    CHECK_EQ(tt_foreign_region_leave(t), TT_OK);
    CHECK_EQ(tt_release(t, tt_local_get(t, l)), TT_OK);
    DETACH_LAST(t);
}

static void test_region_in_callback(void)
{
    region_in_callback(TT_CHECKED_ON);
    region_in_callback(TT_CHECKED_OFF);
}

/* ------------------------------------------------------------------ */
/* Several attachments of one OS thread (allowed: say, one per coroutine
 * it runs); no misuse. A collection on that OS thread treats its other
 * attachments as stopped; one on another OS thread waits for those not in
 * a foreign region. */

struct sev {
    int ok;
};

static void *sev_collector(void *arg)
{
    struct sev *x = arg;
    tt_thread *tb = tt_thread_attach(h);
    if (!tb) return NULL;
    tt_local l = tt_local_new(tb, new_pair(tb, 61));
    x->ok = tt_collect(tb) == TT_OK && pair_v(tt_local_get(tb, l)) == 61;
    tt_thread_detach(tb);
    return NULL;
}

static void test_several_attachments(void)
{
    h = open_heap(TT_CHECKED_ON, 1);
    tt_thread *t = attach_main(h);
    tt_thread *u = tt_thread_attach(h);
    REQUIRE(u != NULL);
    CHECK(u != t);
    CHECK_EQ(rec_calls(), 0);
    CHECK_EQU(tt_heap_threads(h), 2);
    tt_local lt = tt_local_new(t, new_pair(t, 13));
    tt_local lu = tt_local_new(u, new_pair(u, 14));
    /* u is not in a region, yet a collection through t does not wait for
     * it: the same OS thread */
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK_EQ(tt_collect(u), TT_OK);
    CHECK_EQU(tt_test_stats(h).live_objects, 2);
    CHECK_EQU(pair_v(tt_local_get(t, lt)), 13);
    CHECK_EQU(pair_v(tt_local_get(u, lu)), 14);
    /* another OS thread collects while both are in foreign regions */
    struct sev x = {0};
    CHECK_EQ(tt_foreign_region_enter(u), TT_OK);
    run_thread(t, sev_collector, &x);
    CHECK_EQ(tt_foreign_region_leave(u), TT_OK);
    CHECK(x.ok);
    CHECK_EQU(pair_v(tt_local_get(u, lu)), 14);
    /* each is still checked as this OS thread's own */
    tt_frame f = tt_frame_push(u, 1);
    int line = __LINE__; tt_local_get(t, tt_local_new(u, TT_NULL));
    struct obs o;
    memset(&o, 0, sizeof o);
    observe(&o, line);
    CHECK_OBS(&o, "local-other-thread", TT_ESTALE);
    tt_frame_pop(u, f, TT_NO_LOCAL);
    /* another heap too */
    tt_heap *h2 = open_heap(TT_CHECKED_ON, 0);
    tt_thread *v = tt_thread_attach(h2);
    CHECK(v != NULL);
    CHECK_EQ(rec_calls(), 0);
    if (v) tt_thread_detach(v);
    tt_heap_close(h2);
    tt_thread_detach(u);
    CHECK_EQU(tt_heap_threads(h), 1);
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK_EQU(tt_test_stats(h).live_objects, 1);
    DETACH_LAST(t);
}

/* ------------------------------------------------------------------ */
/* thread-exit-attached                                                 */

enum { EXIT_PLAIN, EXIT_IN_REGION, EXIT_WHILE_COLLECTING, EXIT_TWO_ATTACHMENTS };

struct tea {
    int how;
    int attach_line, attach_line2;
    tt_global g;  /* survives the thread */
    tt_weak w;    /* to an object only the thread's locals held */
    atomic_int attached;
    int ok;
};

static void *tea_thread(void *arg)
{
    struct tea *x = arg;
    int line = __LINE__; tt_thread *tb = tt_thread_attach(h);
    x->attach_line = line;
    if (!tb) return NULL;
    tt_local l = tt_local_new(tb, new_pair(tb, 21));
    x->w = tt_weak_new(tb, tt_local_get(tb, l));
    x->g = tt_global_new(tb, new_pair(tb, 22));
    tt_frame_push(tb, 2); /* left open */
    tt_local_new(tb, new_pair(tb, 23));
    x->ok = !tt_weak_is_null(x->w) && !tt_global_is_null(x->g);
    if (x->how == EXIT_TWO_ATTACHMENTS) {
        line = __LINE__; tt_thread *tc = tt_thread_attach(h);
        x->attach_line2 = line;
        x->ok = x->ok && tc != NULL;
        if (tc) tt_local_new(tc, new_pair(tc, 24));
    }
    if (x->how == EXIT_IN_REGION) x->ok = x->ok && tt_foreign_region_enter(tb) == TT_OK;
    atomic_store(&x->attached, 1);
    /* EXIT_WHILE_COLLECTING: the main thread is (most likely) waiting in
     * tt_collect for this thread to stop while it sleeps outside any
     * region; exiting must let that collection go on. */
    if (x->how == EXIT_WHILE_COLLECTING) nap_ms(100);
    return NULL; /* without tt_thread_detach */
}

static void exit_attached(int checked, int how)
{
    h = open_heap(checked, 1);
    tt_thread *t = attach_main(h);
    struct tea x;
    memset(&x, 0, sizeof x);
    x.how = how;
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, tea_thread, &x) == 0);
    CHECK_EQ(tt_foreign_region_enter(t), TT_OK);
    while (!atomic_load(&x.attached)) nap_ms(1);
    CHECK_EQ(tt_foreign_region_leave(t), TT_OK);
    if (how == EXIT_WHILE_COLLECTING) CHECK_EQ(tt_collect(t), TT_OK); /* must not hang */
    CHECK_EQ(tt_foreign_region_enter(t), TT_OK);
    pthread_join(th, NULL);
    CHECK_EQ(tt_foreign_region_leave(t), TT_OK);
    REQUIRE(x.ok);

    /* detached by tether when it exited */
    CHECK_EQU(tt_heap_threads(h), 1);
    CHECK_EQU(tt_test_stats(h).threads, 1);
    if (checked == TT_CHECKED_ON) {
        char where[300];
        pthread_mutex_lock(&rec_mu);
        tt_test_report r = rec;
        memset(&rec, 0, sizeof rec);
        pthread_mutex_unlock(&rec_mu);
        if (how == EXIT_TWO_ATTACHMENTS) {
            /* one report per attachment, each with its own attach site */
            CHECK_EQ(r.calls, 2);
            CHECK_EQ(r.nlog, 2);
            int seen1 = 0, seen2 = 0;
            for (int i = 0; i < r.nlog && i < 8; i++) {
                CHECK_STREQ(r.log[i].what, "thread-exit-attached");
                seen1 += r.log[i].line == x.attach_line;
                seen2 += r.log[i].line == x.attach_line2;
            }
            CHECK_EQ(seen1, 1);
            CHECK_EQ(seen2, 1);
        } else {
            CHECK_EQ(r.calls, 1);
            CHECK_STREQ(r.what, "thread-exit-attached");
            CHECK_EQ(r.code, TT_ESTATE);
            /* the site that applies: where the thread attached */
            CHECK_STREQ(r.file, __FILE__);
            CHECK_EQ(r.line, x.attach_line);
            CHECK(r.ctx == &rec);
            CHECK_CONTAINS(r.message, "thread-exit-attached");
            snprintf(where, sizeof where, "%s:%d", tt__basename(__FILE__), x.attach_line);
            CHECK_CONTAINS(r.message, where);
        }
    } else {
        CHECK_EQ(rec_calls(), 0);
    }
    /* collections do not wait for it, and its locals are no roots */
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK(tt_is_null(tt_weak_get(t, x.w)));
    CHECK_EQU(pair_v(tt_global_get(t, x.g)), 22);
    CHECK_EQU(tt_test_stats(h).live_objects, 1);
    CHECK_EQ(tt_heap_verify(t, NULL), TT_OK);
    CHECK_EQ(tt_weak_free(t, x.w), TT_OK);
    CHECK_EQ(tt_global_free(t, x.g), TT_OK);
    CHECK_EQ(rec_calls(), 0);
    tt_thread_detach(t);
    tt_heap_close(h);
}

static void test_thread_exit_attached(void)
{
    exit_attached(TT_CHECKED_ON, EXIT_PLAIN);
    exit_attached(TT_CHECKED_ON, EXIT_IN_REGION);
    exit_attached(TT_CHECKED_ON, EXIT_WHILE_COLLECTING);
    exit_attached(TT_CHECKED_ON, EXIT_TWO_ATTACHMENTS);
}

/* ------------------------------------------------------------------ */
/* frame-open-at-detach, on another thread than the main one            */

struct foad {
    struct obs o;
    int attached, still_attached, ok;
};

static void *foad_thread(void *arg)
{
    struct foad *x = arg;
    tt_thread *tb = tt_thread_attach(h);
    if (!tb) return NULL;
    x->attached = 1;
    tt_frame f = tt_frame_push(tb, 1);
    tt_local l = tt_local_new(tb, new_pair(tb, 31));
    int line = __LINE__; tt_thread_detach(tb);
    observe(&x->o, line);
    x->still_attached = tt_heap_threads(h) == 2;
    x->ok = pair_v(tt_local_get(tb, l)) == 31 &&
            tt_local_is_null(tt_frame_pop(tb, f, TT_NO_LOCAL)) && rec_calls() == 0;
    tt_thread_detach(tb);
    x->ok = x->ok && rec_calls() == 0 && tt_heap_threads(h) == 1;
    return NULL;
}

static void test_frame_open_at_detach(void)
{
    h = open_heap(TT_CHECKED_ON, 0);
    tt_thread *t = attach_main(h);
    struct foad x;
    memset(&x, 0, sizeof x);
    run_thread(t, foad_thread, &x);
    REQUIRE(x.attached);
    CHECK_OBS(&x.o, "frame-open-at-detach", TT_ESTATE);
    CHECK(x.still_attached);
    CHECK(x.ok);
    CHECK_EQU(tt_heap_threads(h), 1);
    tt_thread_detach(t);
    tt_heap_close(h);
}

/* ------------------------------------------------------------------ */
/* heap-corrupt: a reference forged past the write barrier into the
 * middle of a live object, found by the verifier after the collection.
 * The word before that address holds a valid atomic type, so marking
 * takes it for an atomic object and goes on. */

static void heap_corrupt(int checked)
{
    h = open_heap(checked, 1);
    tt_thread *t = attach_main(h);
    tt_frame f = tt_frame_push(t, 2);
    tt_local holder = tt_local_new(t, new_pair(t, 41));
    tt_local target = tt_local_new(t, tt_alloc(t, &blob_type));
    REQUIRE(!tt_is_null(tt_local_get(t, holder)) && !tt_is_null(tt_local_get(t, target)));
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK_EQ(rec_calls(), 0);

    tt_ref tr = tt_local_get(t, target);
    TT_PTR(struct blob, tr)->w[1] = (uint64_t)(uintptr_t)&blob_type;
    tt_ref forged = {tr.bits + 2 * sizeof(uint64_t)};
    TT_PTR(struct pair, tt_local_get(t, holder))->a = forged; /* no barrier: corruption */
    tt_clear_error();
    /* reported on the collecting thread, with no call site; the handler
     * returned, so the collection completes normally */
    CHECK_EQ(tt_collect(t), TT_OK);
    pthread_mutex_lock(&rec_mu);
    tt_test_report r = rec;
    memset(&rec, 0, sizeof rec);
    pthread_mutex_unlock(&rec_mu);
    CHECK_EQ(r.calls, 1);
    CHECK_STREQ(r.what, "heap-corrupt");
    CHECK_EQ(r.code, TT_EINVAL);
    CHECK(r.ctx == &rec);
    CHECK_CONTAINS(r.message, "heap-corrupt");
    CHECK_ERR(TT_EINVAL); /* the last error holds the report */
    CHECK_CONTAINS(tt_last_error()->message, "heap-corrupt");
    tt_clear_error();

    /* repaired: no report any more */
    TT_PTR(struct pair, tt_local_get(t, holder))->a = TT_NULL;
    TT_PTR(struct blob, tt_local_get(t, target))->w[1] = 0;
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK_EQ(rec_calls(), 0);
    CHECK_EQ(tt_heap_verify(t, NULL), TT_OK);
    CHECK_EQU(pair_v(tt_local_get(t, holder)), 41);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_thread_detach(t);
    tt_heap_close(h);
}

static void test_heap_corrupt(void)
{
    heap_corrupt(TT_CHECKED_OFF);
    heap_corrupt(TT_CHECKED_ON);
}

/* ------------------------------------------------------------------ */
/* Without checked mode                                                 */

static void test_unchecked(void)
{
    struct obs o;
    h = open_heap(TT_CHECKED_OFF, 0);
    tt_thread *t = attach_main(h);
    CHECK_EQ(tt_heap_checked(h), 0);

    CHECK_EQ(tt_foreign_region_enter(t), TT_OK);
    memset(&o, 0, sizeof o);
    int line = __LINE__; int rc = tt_foreign_region_enter(t);
    observe(&o, line);
    CHECK_QUIET(&o, TT_ESTATE);
    CHECK_EQ(rc, TT_ESTATE);
    CHECK_EQ(tt_in_foreign_region(t), 1);
    CHECK_EQ(tt_foreign_region_leave(t), TT_OK);
    memset(&o, 0, sizeof o);
    line = __LINE__; rc = tt_foreign_region_leave(t);
    observe(&o, line);
    CHECK_QUIET(&o, TT_ESTATE);
    CHECK_EQ(rc, TT_ESTATE);
    CHECK_EQ(tt_in_foreign_region(t), 0);

    tt_local l = tt_local_new(t, new_pair(t, 14));
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK_EQU(pair_v(tt_local_get(t, l)), 14);
    CHECK_EQ(rec_calls(), 0);
    tt_thread_detach(t);
    tt_heap_close(h);

    /* a thread exiting attached is detached without a report */
    exit_attached(TT_CHECKED_OFF, EXIT_PLAIN);
    exit_attached(TT_CHECKED_OFF, EXIT_IN_REGION);
    exit_attached(TT_CHECKED_OFF, EXIT_WHILE_COLLECTING);
    exit_attached(TT_CHECKED_OFF, EXIT_TWO_ATTACHMENTS);
}

/* ------------------------------------------------------------------ */
/* A heap closed while another OS thread is attached (inside a foreign
 * region): tt_heap_close detaches it; when it exits later nothing is
 * reported and nothing of the closed heap is touched. */

struct cwa {
    atomic_int in_region, closed;
    int ok;
};

static void *cwa_thread(void *arg)
{
    struct cwa *x = arg;
    tt_thread *tb = tt_thread_attach(h);
    if (!tb) {
        atomic_store(&x->in_region, 1);
        return NULL;
    }
    tt_local_new(tb, new_pair(tb, 51));
    x->ok = tt_foreign_region_enter(tb) == TT_OK;
    atomic_store(&x->in_region, 1);
    while (!atomic_load(&x->closed)) nap_ms(1);
    return NULL; /* the heap is gone: no tether call */
}

static void close_while_attached(int checked)
{
    h = open_heap(checked, 0);
    tt_thread *t = attach_main(h);
    struct cwa x;
    memset(&x, 0, sizeof x);
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, cwa_thread, &x) == 0);
    CHECK_EQ(tt_foreign_region_enter(t), TT_OK);
    while (!atomic_load(&x.in_region)) nap_ms(1);
    CHECK_EQ(tt_foreign_region_leave(t), TT_OK);
    CHECK_EQU(tt_heap_threads(h), 2);
    tt_thread_detach(t);
    tt_heap_close(h);
    atomic_store(&x.closed, 1);
    pthread_join(th, NULL);
    CHECK(x.ok);
    CHECK_EQ(rec_calls(), 0);
}

static void test_close_while_attached(void)
{
    close_while_attached(TT_CHECKED_OFF);
    close_while_attached(TT_CHECKED_ON);
}

/* The same, with the threads exiting while tt_heap_close runs (some
 * heaps with a finalizer thread): an exit racing the close touches
 * nothing close frees, and reports nothing but "thread-exit-attached".
 * Run many times; ASan sees a use after free if the exit detaches a
 * thread that close frees. */
struct edc {
    atomic_int ready, go;
};

static void *edc_thread(void *arg)
{
    struct edc *x = arg;
    tt_thread *tb = tt_thread_attach(h);
    if (tb) {
        tt_local_new(tb, new_pair(tb, 71));
        tt_foreign_region_enter(tb);
    }
    atomic_fetch_add(&x->ready, 1);
    while (!atomic_load(&x->go)) sched_yield();
    return NULL; /* attached, in a region, while (or after) the heap closes */
}

static void exit_during_close(int checked)
{
    enum { NT = 4, ROUNDS_EDC = 100 };
    int reports = 0;
    for (int round = 0; round < ROUNDS_EDC; round++) {
        tt_config cfg;
        tt_config_init(&cfg);
        cfg.checked = checked;
        cfg.on_misuse = record_misuse;
        cfg.misuse_ctx = &rec;
        cfg.finalizer_thread = round % 2;
        h = tt_heap_open(&cfg);
        REQUIRE(h != NULL);
        struct edc x;
        atomic_store(&x.ready, 0);
        atomic_store(&x.go, 0);
        pthread_t th[NT];
        for (int i = 0; i < NT; i++) REQUIRE(pthread_create(&th[i], NULL, edc_thread, &x) == 0);
        while (atomic_load(&x.ready) < NT) sched_yield();
        CHECK_EQU(tt_heap_threads(h), NT + (size_t)(round % 2));
        atomic_store(&x.go, 1);
        tt_heap_close(h);
        for (int i = 0; i < NT; i++) pthread_join(th[i], NULL);
        /* A thread that exits before close begins is exiting attached, and
         * checked mode says so; one that exits after it is not reported.
         * Either way nothing else is reported, and nothing is touched after
         * close freed it (ASan and TSan check that). */
        pthread_mutex_lock(&rec_mu);
        for (int i = 0; i < rec.nlog; i++)
            if (strcmp(rec.log[i].what, "thread-exit-attached") != 0) reports++;
        if (checked == TT_CHECKED_OFF) reports += rec.calls;
        pthread_mutex_unlock(&rec_mu);
        rec_reset();
    }
    CHECK_EQ(reports, 0);
}

static void test_exit_during_close(void)
{
    exit_during_close(TT_CHECKED_OFF);
    exit_during_close(TT_CHECKED_ON);
}

/* A long-lived OS thread (a pool thread) attaches to each new heap and is
 * still attached, inside a foreign region, when that heap closes; it
 * outlives many heaps. Whatever a heap keeps for the threads attached at
 * its close must not pile up: the 1100th heap opens like the first (a
 * process has about 1024 thread-specific-data keys). */
struct pool {
    _Atomic(tt_heap *) heap;
    atomic_int step, done, stop;
    int attached;
};

static void *pool_thread(void *arg)
{
    struct pool *x = arg;
    int seen = 0;
    while (!atomic_load(&x->stop)) {
        int want = atomic_load(&x->step);
        if (want == seen) {
            sched_yield();
            continue;
        }
        seen = want;
        tt_thread *tp = tt_thread_attach(atomic_load(&x->heap));
        if (tp) {
            x->attached++;
            tt_local_new(tp, new_pair(tp, 81));
            tt_foreign_region_enter(tp); /* left there: the heap closes under it */
        }
        atomic_store(&x->done, seen);
    }
    return NULL;
}

static void test_pool_thread_outlives_heaps(void)
{
    enum { NHEAPS = 1100 };
    struct pool x;
    memset(&x, 0, sizeof x);
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, pool_thread, &x) == 0);
    int opened = 0;
    for (int i = 1; i <= NHEAPS; i++) {
        tt_config cfg;
        tt_config_init(&cfg);
        cfg.checked = i % 2 ? TT_CHECKED_ON : TT_CHECKED_OFF;
        cfg.on_misuse = record_misuse;
        cfg.misuse_ctx = &rec;
        tt_heap *hp = tt_heap_open(&cfg);
        if (!hp) {
            fprintf(stderr, "heap %d of %d: %s\n", i, NHEAPS, tt_last_error()->message);
            break;
        }
        opened++;
        atomic_store(&x.heap, hp);
        atomic_store(&x.step, i);
        while (atomic_load(&x.done) != i) sched_yield();
        tt_heap_close(hp);
    }
    atomic_store(&x.stop, 1);
    pthread_join(th, NULL);
    CHECK_EQ(opened, NHEAPS);
    CHECK_EQ(x.attached, opened);
    CHECK_EQ(rec_calls(), 0); /* its exit, after every close, is not reported */
    rec_reset();
}

/* ------------------------------------------------------------------ */
/* Two threads free the same handle at once                             */

enum { RACE_ROUNDS = 400 };

struct racer {
    tt_heap *h;
    int kind; /* 0 global, 1 weak, 2 weak with a callback */
    int me;
    _Atomic uint64_t *handle; /* the round's handle, 0 between rounds */
    atomic_int *round_go, *done;
    int ok, stale; /* frees that succeeded, frees refused as stale */
};

static void race_cb(tt_thread *t, tt_weak w, void *env)
{
    (void)t, (void)w, (void)env;
}

static void *racer_main(void *arg)
{
    struct racer *r = arg;
    tt_thread *t = tt_thread_attach(r->h);
    if (!t) return NULL;
    for (int round = 1; round <= RACE_ROUNDS; round++) {
        while (atomic_load(r->round_go) < round) sched_yield();
        uint64_t bits = atomic_load(r->handle);
        int st = r->kind == 0 ? tt_global_free(t, (tt_global){bits})
                              : tt_weak_free(t, (tt_weak){bits});
        r->ok += st == TT_OK;
        r->stale += st == TT_ESTALE;
        tt_clear_error();
        atomic_fetch_add(r->done, 1);
    }
    tt_thread_detach(t);
    return NULL;
}

/* Of two threads freeing one handle at once, exactly one succeeds and the
 * other gets TT_ESTALE with a double-free report (checked mode), for
 * globals and for weak references with and without a callback (the latter
 * free under the heap lock, the others without). After the rounds no slot
 * is in use twice: every handle made reads back its own object. (The two
 * frees overlap only now and then: this checks what the outcome is, and
 * ThreadSanitizer what the frees touch; it cannot force the window in
 * which only the compare-and-swap on the generation decides.) */
static void race_free(int kind)
{
    h = open_heap(TT_CHECKED_ON, 0);
    tt_thread *t = attach_main(h);
    _Atomic uint64_t handle = 0;
    atomic_int round_go = 0, done = 0;
    struct racer rs[2];
    pthread_t ids[2];
    for (int i = 0; i < 2; i++) {
        rs[i] = (struct racer){h, kind, i, &handle, &round_go, &done, 0, 0};
        REQUIRE(pthread_create(&ids[i], NULL, racer_main, &rs[i]) == 0);
    }
    tt_frame f = tt_frame_push(t, 1);
    tt_local obj = tt_local_new(t, new_pair(t, 7));
    if (tt_foreign_region_enter(t) != TT_OK) REQUIRE(0);
    for (int round = 1; round <= RACE_ROUNDS; round++) {
        REQUIRE(tt_foreign_region_leave(t) == TT_OK);
        uint64_t bits = kind == 0   ? tt_global_new(t, tt_local_get(t, obj)).bits
                        : kind == 1 ? tt_weak_new(t, tt_local_get(t, obj)).bits
                                    : tt_weak_new_cb(t, tt_local_get(t, obj), race_cb, NULL).bits;
        REQUIRE(bits != 0);
        REQUIRE(tt_foreign_region_enter(t) == TT_OK);
        atomic_store(&handle, bits);
        atomic_store(&round_go, round);
        while (atomic_load(&done) < 2 * round) sched_yield();
    }
    REQUIRE(tt_foreign_region_leave(t) == TT_OK);
    for (int i = 0; i < 2; i++) pthread_join(ids[i], NULL);
    CHECK_EQ(rs[0].ok + rs[1].ok, RACE_ROUNDS);
    CHECK_EQ(rs[0].stale + rs[1].stale, RACE_ROUNDS);
    CHECK_EQ(rec_calls(), RACE_ROUNDS);
    CHECK_STREQ(rec.what, kind == 0 ? "global-double-free" : "weak-double-free");
    tt_stats st = tt_test_stats(h);
    CHECK_EQU(kind == 0 ? st.globals : st.weaks, 0);
    /* Every slot is free once: 2 * RACE_ROUNDS new handles are distinct
     * and each reads back its own object. */
    enum { N = 2 * RACE_ROUNDS };
    static uint64_t made[N];
    tt_local objs = tt_local_new(t, tt_alloc_array(t, &tt_refs_type, N));
    for (int i = 0; i < N; i++) {
        tt_ref o = new_pair(t, (uint64_t)i);
        tt_array_set(t, tt_local_get(t, objs), (size_t)i, o);
        made[i] = kind == 0 ? tt_global_new(t, o).bits : tt_weak_new(t, o).bits;
        REQUIRE(made[i] != 0);
    }
    int wrong = 0;
    for (int i = 0; i < N; i++) {
        tt_ref o = kind == 0 ? tt_global_get(t, (tt_global){made[i]}) : tt_weak_get(t, (tt_weak){made[i]});
        wrong += tt_is_null(o) || TT_PTR(struct pair, o)->v != (uint64_t)i;
        if (kind == 0)
            wrong += tt_global_free(t, (tt_global){made[i]}) != TT_OK;
        else
            wrong += tt_weak_free(t, (tt_weak){made[i]}) != TT_OK;
    }
    CHECK_EQ(wrong, 0);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_thread_detach(t);
    tt_heap_close(h);
    h = NULL;
}

static void test_free_race_global(void) { race_free(0); }
static void test_free_race_weak(void) { race_free(1); }
static void test_free_race_weak_cb(void) { race_free(2); }

int main(void)
{
    if (!TT_TEST_CHECKS_BUILT) {
        printf("checked mode is not compiled in: skipped\n");
        return TT_TEST_SKIP;
    }
    RUN(test_local_other_thread);
    RUN(test_wrong_thread);
    RUN(test_heap_in_foreign_region);
    RUN(test_region_twice);
    RUN(test_region_in_callback);
    RUN(test_several_attachments);
    RUN(test_thread_exit_attached);
    RUN(test_frame_open_at_detach);
    RUN(test_heap_corrupt);
    RUN(test_unchecked);
    RUN(test_close_while_attached);
    RUN(test_exit_during_close);
    RUN(test_pool_thread_outlives_heaps);
    RUN(test_free_race_global);
    RUN(test_free_race_weak);
    RUN(test_free_race_weak_cb);
    return tt_test_done();
}
