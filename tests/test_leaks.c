/*
 * test_leaks.c: the leak report. tt_heap_leaks groups what a heap still
 * holds (globals, weak references, foreign objects, guardians, wrapper
 * tables) by kind and creation site, with exact counts and external bytes,
 * in any mode (foreign sites in checked mode only); with no function it
 * reports through on_report. Checked heaps report at close; heaps opened
 * with leak_report_at_exit report at process exit if still open, and not
 * once closed. A report made while another thread makes and frees globals
 * sees a consistent picture. Without memory (malloc made to fail), the
 * report that cannot be made, at close or at exit, and the cleanups close
 * cannot run, are said through on_report ("leak", "close").
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "tt_test.h"

struct pair {
    tt_ref a, b;
    uint64_t v;
};
static const tt_type pair_type = TT_TYPE_INIT(struct pair, a, b);

/* ---- what the reports say ---- */

enum { MAXG = 16 };
struct groups {
    int n;
    tt_leak g[MAXG];
};

static void collect_group(const tt_leak *l, void *ctx)
{
    struct groups *gs = ctx;
    if (gs->n < MAXG) gs->g[gs->n++] = *l;
}

static struct {
    int n;
    char what[MAXG][32];
    char msg[MAXG][512];
} reports;

static void on_report(const char *what, const char *message, void *ctx)
{
    (void)ctx;
    if (reports.n < MAXG) {
        snprintf(reports.what[reports.n], sizeof reports.what[0], "%s", what);
        snprintf(reports.msg[reports.n], sizeof reports.msg[0], "%s", message);
        reports.n++;
    }
}

static tt_heap *open_heap(int checked)
{
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.checked = checked;
    cfg.on_report = on_report;
    tt_heap *h = tt_heap_open(&cfg);
    if (!h) {
        fprintf(stderr, "cannot open a heap: %s\n", tt_last_error()->message);
        exit(2);
    }
    return h;
}

static void no_cleanup(tt_thread *t, tt_ref obj, void *env)
{
    (void)t, (void)obj, (void)env;
}

/* The same things held in both modes; the lines of their creating calls. */
struct held {
    tt_global g[4];
    tt_weak w;
    tt_ref f[3];
    tt_guardian *gd;
    tt_wtable *wt;
    int line_g1, line_g2, line_w, line_f, line_gd, line_wt;
};

static void make_held(tt_thread *t, struct held *x, tt_local keep)
{
    tt_ref o = tt_local_get(t, keep);
    for (int i = 0; i < 3; i++) {
        x->line_g1 = __LINE__; x->g[i] = tt_global_new(t, o);
    }
    x->line_g2 = __LINE__; x->g[3] = tt_global_new(t, o);
    x->line_w = __LINE__; x->w = tt_weak_new(t, o);
    static char bufs[3][8];
    for (int i = 0; i < 3; i++) {
        x->line_f = __LINE__; x->f[i] = tt_foreign_new(t, bufs[i], 1000u * (unsigned)(i + 1), no_cleanup, NULL);
        REQUIRE(!tt_is_null(x->f[i]));
        tt_array_set(t, tt_local_get(t, keep), (size_t)i, x->f[i]);
    }
    x->line_gd = __LINE__; x->gd = tt_guardian_new(t);
    x->line_wt = __LINE__; x->wt = tt_wtable_new(t);
    REQUIRE(x->gd != NULL && x->wt != NULL);
}

static void check_group(const tt_leak *l, const char *kind, const char *file, int line,
                        uint64_t count, uint64_t bytes)
{
    CHECK_STREQ(l->kind, kind);
    if (file)
        CHECK_STREQ(l->file, file);
    else
        CHECK(l->file == NULL);
    CHECK_EQ(l->line, line);
    CHECK_EQU(l->count, count);
    CHECK_EQU(l->external_bytes, bytes);
}

static void report_groups(int checked)
{
    tt_heap *h = open_heap(checked ? TT_CHECKED_ON : TT_CHECKED_OFF);
    tt_thread *t = tt_thread_attach(h);
    REQUIRE(t != NULL);
    tt_frame f = tt_frame_push(t, 1);
    tt_local keep = tt_local_new(t, tt_alloc_array(t, &tt_refs_type, 3));
    struct groups gs = {0};
    CHECK_EQ(tt_heap_leaks(t, collect_group, &gs), TT_OK);
    CHECK_EQ(gs.n, 0); /* nothing held yet */

    struct held x;
    memset(&x, 0, sizeof x);
    make_held(t, &x, keep);
    memset(&gs, 0, sizeof gs);
    CHECK_EQ(tt_heap_leaks(t, collect_group, &gs), TT_OK);
    REQUIRE(gs.n == 6);
    /* kinds in order, then file, then line */
    check_group(&gs.g[0], "global", __FILE__, x.line_g1, 3, 0);
    check_group(&gs.g[1], "global", __FILE__, x.line_g2, 1, 0);
    check_group(&gs.g[2], "weak", __FILE__, x.line_w, 1, 0);
    /* foreign sites are kept in checked mode only */
    check_group(&gs.g[3], "foreign", checked ? __FILE__ : NULL, checked ? x.line_f : 0, 3, 6000);
    check_group(&gs.g[4], "guardian", __FILE__, x.line_gd, 1, 0);
    check_group(&gs.g[5], "wtable", __FILE__, x.line_wt, 1, 0);

    /* With no function: through on_report, one report per group. */
    reports.n = 0;
    CHECK_EQ(tt_heap_leaks(t, NULL, NULL), TT_OK);
    CHECK_EQ(reports.n, 6);
    CHECK_STREQ(reports.what[0], "leak-global");
    CHECK_CONTAINS(reports.msg[0], "leak: 3 global reference(s) created at ");
    CHECK_CONTAINS(reports.msg[0], "still held now");
    CHECK_STREQ(reports.what[2], "leak-weak");
    CHECK_STREQ(reports.what[3], "leak-foreign");
    CHECK_CONTAINS(reports.msg[3], "3 foreign object(s)");
    CHECK_CONTAINS(reports.msg[3], "not released now (6000 external bytes)");
    CHECK_STREQ(reports.what[4], "leak-guardian");
    CHECK_STREQ(reports.what[5], "leak-wtable");

    /* Given back, they are gone from the report. */
    for (int i = 0; i < 4; i++) CHECK_EQ(tt_global_free(t, x.g[i]), TT_OK);
    CHECK_EQ(tt_weak_free(t, x.w), TT_OK);
    CHECK_EQ(tt_release(t, x.f[1]), TT_OK);
    CHECK_EQ(tt_guardian_free(t, x.gd), TT_OK);
    memset(&gs, 0, sizeof gs);
    CHECK_EQ(tt_heap_leaks(t, collect_group, &gs), TT_OK);
    REQUIRE(gs.n == 2);
    check_group(&gs.g[0], "foreign", checked ? __FILE__ : NULL, checked ? x.line_f : 0, 2, 4000);
    check_group(&gs.g[1], "wtable", __FILE__, x.line_wt, 1, 0);

    /* At close: checked heaps report what is left, unchecked ones do not. */
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_thread_detach(t);
    reports.n = 0;
    tt_heap_close(h);
    if (checked) {
        CHECK_EQ(reports.n, 2);
        CHECK_STREQ(reports.what[0], "leak-foreign");
        CHECK_CONTAINS(reports.msg[0], "2 foreign object(s)");
        CHECK_CONTAINS(reports.msg[0], "not released at close (4000 external bytes)");
        CHECK_STREQ(reports.what[1], "leak-wtable");
        CHECK_CONTAINS(reports.msg[1], "not freed at close");
    } else {
        CHECK_EQ(reports.n, 0);
    }
}

#ifndef TT_TEST_NO_CHECKS
static void test_groups_checked(void) { report_groups(1); }
#endif
static void test_groups_unchecked(void) { report_groups(0); }

#ifndef TT_TEST_NO_CHECKS
/* Misuse of the call itself: a detached thread (checked mode, so the
 * descriptor is kept and the use reported). */
static int misuses;
static char misuse_what[64];
static void count_misuse(const tt_misuse *m, void *ctx)
{
    (void)ctx;
    misuses++;
    snprintf(misuse_what, sizeof misuse_what, "%s", m->what);
}

static void test_dead_thread(void)
{
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.checked = TT_CHECKED_ON;
    cfg.on_misuse = count_misuse;
    tt_heap *h = tt_heap_open(&cfg);
    REQUIRE(h != NULL);
    tt_thread *t = tt_thread_attach(h);
    REQUIRE(t != NULL);
    tt_thread_detach(t);
    struct groups gs = {0};
    misuses = 0;
    CHECK_EQ(tt_heap_leaks(t, collect_group, &gs), TT_ECLOSED);
    CHECK_EQ(gs.n, 0);
    CHECK_EQ(misuses, 1);
    CHECK_STREQ(misuse_what, "thread-detached");
    tt_clear_error();
    tt_heap_close(h);
}
#endif

/* ---- at exit ---- */

static int exit_line;

/* The child: two heaps that ask for the exit report; one closed, one left
 * open with a global, then exit(). */
static void exit_child(void *arg)
{
    (void)arg;
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.leak_report_at_exit = 1;
    /* Unchecked whatever TT_CHECKED says: a checked heap reports at close. */
    cfg.checked = TT_CHECKED_OFF;
    tt_heap *closed = tt_heap_open(&cfg);
    tt_heap *open = tt_heap_open(&cfg);
    if (!closed || !open) _exit(90);
    tt_thread *t = tt_thread_attach(closed);
    if (!t) _exit(91);
    (void)tt_global_new(t, tt_alloc(t, &pair_type));
    tt_thread_detach(t);
    tt_heap_close(closed); /* unchecked: no report at close, none at exit */
    t = tt_thread_attach(open);
    if (!t) _exit(92);
    exit_line = __LINE__; (void)tt_global_new(t, tt_alloc(t, &pair_type));
    *tt__death_line_word() = exit_line;
    exit(0); /* still attached, heap open */
}

static void test_report_at_exit(void)
{
    tt_death_result res;
    REQUIRE(tt_death_run(exit_child, NULL, &res) == 0);
    CHECK(res.exited);
    CHECK_EQ(res.status, 0);
    char want[512];
    snprintf(want, sizeof want, "leak: 1 global reference(s) created at %s:%d still held at exit",
             __FILE__, res.line);
    CHECK(res.line != 0);
    CHECK_CONTAINS(res.err, want);
    /* one report only: the closed heap's global is not reported */
    const char *first = strstr(res.err, "leak:");
    CHECK(first != NULL && strstr(first + 1, "leak:") == NULL);
}

/* ---- out of memory (malloc failing, see tt_test_alloc_fail) ---- */

/* These run in a child process, which ends with _exit: a checked heap
 * closed without memory cannot keep its dead descriptor (it leaks it
 * rather than free it under a late user), which a leak checker in this
 * process would report. The child's reports go to its stderr as
 * "report <what>: <message>"; its exit status says what went wrong. */
static void print_report(const char *what, const char *message, void *ctx)
{
    (void)ctx;
    fprintf(stderr, "report %s: %s\n", what, message);
}

static int cleanups_run;
static void count_cleanup(tt_thread *t, tt_ref obj, void *env)
{
    (void)t, (void)obj, (void)env;
    cleanups_run++;
}

/* A close without memory: a checked heap's leak report cannot be made
 * ("leak"), and no thread can be attached to run the cleanups still
 * registered ("close"); both are said through on_report, the cleanups do
 * not run, and the close finishes. An unchecked heap makes no leak report
 * at close, so only "close". With memory back, heaps work. */
static void close_oom_child(void *arg)
{
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.checked = *(const int *)arg ? TT_CHECKED_ON : TT_CHECKED_OFF;
    cfg.on_report = print_report;
    tt_heap *h = tt_heap_open(&cfg);
    tt_thread *t = h ? tt_thread_attach(h) : NULL;
    if (!t) _exit(90);
    tt_global g = tt_global_new(t, tt_alloc(t, &pair_type));
    if (tt_cleanup_push(t, tt_global_get(t, g), count_cleanup, NULL) != TT_OK) _exit(91);
    tt_thread_detach(t);
    tt_test_alloc_fail(1);
    tt_heap_close(h);
    tt_test_alloc_fail(0);
    if (tt_test_alloc_failures() == 0) _exit(92); /* no allocation was made to fail */
    if (cleanups_run != 0) _exit(93);
    h = tt_heap_open(&cfg);
    t = h ? tt_thread_attach(h) : NULL;
    if (!t) _exit(94);
    if (tt_cleanup_push(t, tt_alloc(t, &pair_type), count_cleanup, NULL) != TT_OK) _exit(95);
    tt_thread_detach(t);
    tt_heap_close(h);
    _exit(cleanups_run == 1 ? 0 : 96);
}

static void close_out_of_memory(int checked)
{
    int failures = tt__failures;
    tt_death_result res;
    REQUIRE(tt_death_run(close_oom_child, &checked, &res) == 0);
    CHECK(res.exited);
    CHECK_EQ(res.status, 0);
    const char *leak = strstr(res.err, "report leak: leak report at close skipped: out of memory\n");
    const char *close = strstr(res.err, "report close: cleanups not run at close: no memory to attach a thread\n");
    CHECK(close != NULL);
    if (checked)
        CHECK(leak != NULL && leak < close);
    else
        CHECK(leak == NULL);
    int lines = 0; /* lines of reports */
    for (const char *p = res.err; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        lines += strncmp(p, "report ", 7) == 0;
    CHECK_EQ(lines, checked ? 2 : 1);
    if (tt__failures != failures) fprintf(stderr, "  child stderr:\n-----\n%s-----\n", res.err);
}

#ifndef TT_TEST_NO_CHECKS
static void test_close_out_of_memory_checked(void) { close_out_of_memory(1); }
#endif
static void test_close_out_of_memory_unchecked(void) { close_out_of_memory(0); }

/* At exit without memory: no thread can be attached to make the exit
 * report of a heap still open; that is said ("leak", through the default
 * on_report, to stderr) and the process exits normally. */
static void exit_oom_child(void *arg)
{
    (void)arg;
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.leak_report_at_exit = 1;
    cfg.checked = TT_CHECKED_OFF;
    tt_heap *h = tt_heap_open(&cfg);
    if (!h) _exit(90);
    tt_thread *t = tt_thread_attach(h);
    if (!t) _exit(91);
    (void)tt_global_new(t, tt_alloc(t, &pair_type));
    tt_thread_detach(t);
    tt_test_alloc_fail(1); /* the exit handler runs on this thread */
    exit(0);
}

static void test_report_at_exit_out_of_memory(void)
{
    tt_death_result res;
    REQUIRE(tt_death_run(exit_oom_child, NULL, &res) == 0);
    CHECK(res.exited);
    CHECK_EQ(res.status, 0);
    CHECK_CONTAINS(res.err, "tether: leak report at exit skipped: no memory to attach a thread");
    CHECK(strstr(res.err, "leak:") == NULL);
}

/* ---- while another thread makes and frees globals ---- */

static atomic_int churn_stop, churn_iters;

static void *churn(void *arg)
{
    tt_heap *h = arg;
    tt_thread *t = tt_thread_attach(h);
    if (!t) return NULL;
    tt_frame f = tt_frame_push(t, 1);
    tt_local l = tt_local_new(t, tt_alloc(t, &pair_type));
    while (!atomic_load(&churn_stop)) {
        tt_global g = tt_global_new(t, tt_local_get(t, l));
        tt_safepoint(t); /* may be stopped holding it */
        tt_global_free(t, g);
        tt_safepoint(t); /* or not */
        atomic_fetch_add(&churn_iters, 1);
    }
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_thread_detach(t);
    return NULL;
}

/* The other thread holds at most one global at any moment it can be
 * stopped: every report sees 0 or 1 of them, never a torn count. */
static void test_report_while_churning(void)
{
    tt_heap *h = open_heap(TT_CHECKED_DEFAULT);
    tt_thread *t = tt_thread_attach(h);
    REQUIRE(t != NULL);
    atomic_store(&churn_stop, 0);
    pthread_t id;
    atomic_store(&churn_iters, 0);
    REQUIRE(pthread_create(&id, NULL, churn, h) == 0);
    /* Reports from when the other thread is at work. */
    if (tt_foreign_region_enter(t) != TT_OK) REQUIRE(0);
    while (atomic_load(&churn_iters) < 100) sched_yield();
    CHECK_EQ(tt_foreign_region_leave(t), TT_OK);
    int bad = 0, seen = 0;
    for (int i = 0; i < 200; i++) {
        struct groups gs = {0};
        CHECK_EQ(tt_heap_leaks(t, collect_group, &gs), TT_OK);
        bad += gs.n > 1;
        for (int k = 0; k < gs.n; k++) {
            bad += strcmp(gs.g[k].kind, "global") != 0 || gs.g[k].count != 1;
            seen++;
        }
    }
    atomic_store(&churn_stop, 1);
    if (tt_foreign_region_enter(t) != TT_OK) REQUIRE(0);
    pthread_join(id, NULL);
    CHECK_EQ(tt_foreign_region_leave(t), TT_OK);
    CHECK_EQ(bad, 0);
    printf("   %d of 200 reports caught the other thread holding its global (%d iters)\n", seen, atomic_load(&churn_iters));
    tt_thread_detach(t);
    tt_heap_close(h);
}

int main(void)
{
#ifndef TT_TEST_NO_CHECKS
    RUN(test_groups_checked);
#endif
    RUN(test_groups_unchecked);
#ifndef TT_TEST_NO_CHECKS
    RUN(test_dead_thread);
#endif
    RUN(test_report_at_exit);
#ifndef TT_TEST_NO_CHECKS
    RUN(test_close_out_of_memory_checked);
#endif
    RUN(test_close_out_of_memory_unchecked);
    RUN(test_report_at_exit_out_of_memory);
    RUN(test_report_while_churning);
    return tt_test_done();
}
