/*
 * test_mt.c: several mutator threads on one heap.
 *
 * Each scenario opens a heap with verify_collections = 1 (the verifier
 * walks the heap after every collection, with the world stopped, and
 * reports "heap-corrupt" through the misuse handler, which counts it) and
 * mark_threads = 2, once without and once with a finalizer thread, and
 * runs these phases on it, checking exact results:
 *   - parallel marking: a large live set survives intact, two threads
 *     marked it, and groups of ephemerons (a live key, a key alive only
 *     through another ephemeron's value, dead keys) settle exactly;
 *   - thread counts: tt_heap_threads and stats.threads follow attaches and
 *     detaches; threads parked in foreign regions do not hold collections;
 *   - mixed work on three threads: trees and lists built in frames, weak
 *     references whose targets die (and others that stay), weak callbacks,
 *     ephemerons, foreign objects dropped for finalization (their cleanups
 *     allocate, some collect); globals holding lists and
 *     foreign objects handed from two producers to a consumer through a
 *     mutex-protected queue (blocking inside foreign regions), the consumer
 *     verifying and freeing the lists and releasing the foreign objects;
 *   - tt_collect from three threads at once while a fourth allocates
 *     (and stats.safepoint_waits);
 *   - one thread in a loop that only calls tt_safepoint while another
 *     collects;
 *   - one thread asleep in a foreign region while another collects;
 *   - at the end: every cleanup ran exactly once, on the expected thread
 *     (the finalizer thread, the consumer, or the closing thread), with its
 *     object's foreign address; what is left runs at tt_heap_close; the
 *     statistics of cleanups, globals, weak references and threads are
 *     exact.
 * Separate tests: many heaps opened and closed in a row (per-heap
 * resources of the thread machinery must be given back); a finalizer
 * thread racing the program's own tt_run_finalizers still runs every
 * queued cleanup; parallel marking of every object shape its drain treats
 * apart (header-only, odd-granule, custom, large, shared objects).
 *
 * The checks made on the worker threads are counted per thread (the
 * harness's counters are not atomic) and merged after the join.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "tt_test.h"

#if defined(__SANITIZE_THREAD__)
#define TT_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TT_TEST_TSAN 1
#endif
#endif
#ifndef TT_TEST_TSAN
#define TT_TEST_TSAN 0
#endif
#define SLOW (TT_TEST_SANITIZED || TT_TEST_TSAN)

struct node {
    tt_ref left, right; /* a tree node; in a list, right is the next node */
    uint64_t value;
};
static const tt_type node_type = TT_TYPE_INIT(struct node, left, right);

struct leaf {
    uint64_t value, check;
};
static const tt_type leaf_type = TT_ATOMIC_TYPE_INIT(struct leaf);

enum {
    NW = 3,             /* worker threads of the mixed and collect phases */
    TREE_DEPTH = 9,     /* 1023 nodes */
    LIST_LEN = 300,
    NDROP = 8,          /* foreign objects dropped per round and worker */
    ITEMS = 10,         /* items queued per round by each of two producers */
    QCAP = 8,
    NCLOSE = 4,         /* foreign objects per worker kept until close */
    EXT = 4096,         /* external bytes of each foreign object */
    MAXREC = 4096
};
#define ROUNDS (TT_TEST_TSAN ? 8 : TT_TEST_SANITIZED ? 24 : 80)
#define BIG_DEPTH (SLOW ? 13 : 15)
#define NCOLLECT (SLOW ? 6 : 16)

/* ------------------------------------------------------------------ */
/* Checks made on any thread                                            */

struct wstat {
    int role;
    int failures;
    long checks;
};

/* On a worker thread (w not NULL) the check is counted in *w; on the main
 * thread (w NULL) it goes to the harness. */
static int wcheck(struct wstat *w, int ok, const char *file, int line, const char *expr,
                  long long a, long long b, int has_values)
{
    if (!w) {
        tt__checks++;
        if (!ok) {
            if (has_values)
                tt__fail(file, line, "%s: %lld vs %lld", expr, a, b);
            else
                tt__fail(file, line, "%s", expr);
        }
        return ok;
    }
    w->checks++;
    if (!ok) {
        w->failures++;
        if (has_values)
            fprintf(stderr, "%s:%d: FAILED on thread %d: %s: %lld vs %lld\n", file, line, w->role,
                    expr, a, b);
        else
            fprintf(stderr, "%s:%d: FAILED on thread %d: %s\n", file, line, w->role, expr);
        fflush(stderr);
    }
    return ok;
}
#define WCHECK(w, cond) wcheck((w), (cond) != 0, __FILE__, __LINE__, #cond, 0, 0, 0)
#define WCHECK_EQ(w, a, b)                                                                    \
    do {                                                                                      \
        long long wa_ = (long long)(a), wb_ = (long long)(b);                                 \
        wcheck((w), wa_ == wb_, __FILE__, __LINE__, "WCHECK_EQ(" #a ", " #b ")", wa_, wb_, 1); \
    } while (0)

static void merge(struct wstat *w)
{
    tt__checks += w->checks;
    CHECK_EQ(w->failures, 0);
}

/* ------------------------------------------------------------------ */
/* Trees and lists                                                      */

/* A complete tree of the given depth; node `id` holds id ^ salt and has
 * children 2 id and 2 id + 1. Returned as a local of the caller's frame
 * (the null local if an allocation failed). */
static tt_local build_tree(tt_thread *t, int depth, uint64_t id, uint64_t salt)
{
    tt_frame f = tt_frame_push(t, 1);
    tt_ref r = tt_alloc(t, &node_type);
    if (tt_is_null(r)) {
        tt_frame_pop(t, f, TT_NO_LOCAL);
        return TT_NO_LOCAL;
    }
    TT_PTR(struct node, r)->value = id ^ salt;
    tt_local n = tt_local_new(t, r);
    if (depth > 0) {
        tt_local l = build_tree(t, depth - 1, 2 * id, salt);
        tt_local rr = build_tree(t, depth - 1, 2 * id + 1, salt);
        if (tt_local_is_null(l) || tt_local_is_null(rr)) {
            tt_frame_pop(t, f, TT_NO_LOCAL);
            return TT_NO_LOCAL;
        }
        tt_ref p = tt_local_get(t, n);
        tt_store(t, p, &TT_PTR(struct node, p)->left, tt_local_get(t, l));
        tt_store(t, p, &TT_PTR(struct node, p)->right, tt_local_get(t, rr));
    }
    return tt_frame_pop(t, f, n);
}

/* The number of nodes of a tree built by build_tree, or -1 if anything in
 * it is wrong. Reads only: no safepoint. */
static long check_tree(tt_ref r, int depth, uint64_t id, uint64_t salt)
{
    if (tt_is_null(r)) return -1;
    const struct node *n = TT_PTR(struct node, r);
    if (n->value != (id ^ salt)) return -1;
    if (depth == 0) return tt_is_null(n->left) && tt_is_null(n->right) ? 1 : -1;
    long a = check_tree(n->left, depth - 1, 2 * id, salt);
    long b = check_tree(n->right, depth - 1, 2 * id + 1, salt);
    return a < 0 || b < 0 ? -1 : a + b + 1;
}

static long tree_nodes(int depth) { return (2L << depth) - 1; }

/* A list of n nodes holding base + n - 1, ..., base + 1, base (newest
 * first), as a local of the caller's frame. */
static tt_local build_list(tt_thread *t, uint32_t n, uint64_t base)
{
    tt_frame f = tt_frame_push(t, 1);
    tt_local head = tt_local_new(t, TT_NULL);
    for (uint32_t i = 0; i < n; i++) {
        tt_ref r = tt_alloc(t, &node_type);
        if (tt_is_null(r)) {
            tt_frame_pop(t, f, TT_NO_LOCAL);
            return TT_NO_LOCAL;
        }
        TT_PTR(struct node, r)->value = base + i;
        tt_store(t, r, &TT_PTR(struct node, r)->right, tt_local_get(t, head));
        tt_local_set(t, head, r);
    }
    return tt_frame_pop(t, f, head);
}

static int check_list(tt_ref r, uint32_t n, uint64_t base)
{
    for (uint32_t i = n; i-- > 0;) {
        if (tt_is_null(r)) return 0;
        const struct node *p = TT_PTR(struct node, r);
        if (p->value != base + i || !tt_is_null(p->left)) return 0;
        r = p->right;
    }
    return tt_is_null(r);
}

/* ------------------------------------------------------------------ */
/* Roles, foreign objects and their cleanups                            */

enum { ROLE_FOREIGN = 0, ROLE_MAIN = 1, ROLE_WORKER = 10 };
/* The role of the calling OS thread; 0 on threads tether started (the
 * finalizer thread). */
static _Thread_local int my_role;

enum { K_DROP = 1, K_RELEASE, K_CLOSE };

struct frec {
    unsigned id;
    int kind;
    uint64_t *addr;
    atomic_int runs;    /* times the cleanup ran */
    atomic_int role;    /* my_role of the thread that ran it */
    atomic_int addr_ok; /* tt_foreign_addr gave addr, with its contents, in the cleanup */
    atomic_int work_ok; /* what the cleanup did with the heap worked */
};
static struct frec recs[MAXREC];
static atomic_uint nrecs;

static atomic_int misuses, reports_close, reports_cycle;

static void count_misuse(const tt_misuse *m, void *ctx)
{
    (void)ctx;
    atomic_fetch_add(&misuses, 1);
    fprintf(stderr, "unexpected misuse: %s\n", m->message);
    fflush(stderr);
}

static void count_report(const char *what, const char *message, void *ctx)
{
    (void)ctx;
    if (strcmp(what, "close") == 0) {
        atomic_fetch_add(&reports_close, 1);
        fprintf(stderr, "report: %s\n", message);
    } else if (strcmp(what, "finalizer-cycle") == 0) {
        atomic_fetch_add(&reports_cycle, 1);
        fprintf(stderr, "report: %s\n", message);
    }
    /* leak reports at close (checked mode) are expected: objects are kept
     * until close on purpose */
}

/* A cleanup may use the heap through the thread that runs it (the
 * finalizer thread, a worker at a cleanup point or in tt_release, the
 * closing thread): some allocate a list, some of those also collect. */
static int cleanup_work(tt_thread *t, unsigned id)
{
    if (id % 8 != 0) return 1;
    uint64_t base = (uint64_t)id << 12;
    tt_frame f = tt_frame_push(t, 1);
    tt_local l = build_list(t, 40, base);
    int ok = !tt_local_is_null(l);
    if (ok && id % 64 == 0) ok = tt_collect(t) == TT_OK;
    ok = ok && check_list(tt_local_get(t, l), 40, base);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    return ok;
}

static void fo_cleanup(tt_thread *t, tt_ref obj, void *env)
{
    struct frec *r = env;
    if (atomic_fetch_add(&r->runs, 1) != 0) return; /* counted; never free twice */
    void *a = tt_foreign_addr(t, obj);
    atomic_store(&r->addr_ok, a == (void *)r->addr && r->addr[0] == r->id &&
                                  r->addr[1] == ~(uint64_t)r->id);
    atomic_store(&r->role, my_role);
    atomic_store(&r->work_ok, cleanup_work(t, r->id));
    free(r->addr);
}

/* Weak references with callbacks, to objects that die. */
struct wrec {
    tt_weak w;
    atomic_int runs, role, ok;
};
#define MAXWREC 1024
static struct wrec wrecs[MAXWREC];
static atomic_uint nwrecs;

static void weak_cb(tt_thread *t, tt_weak w, void *env)
{
    struct wrec *r = env;
    if (atomic_fetch_add(&r->runs, 1) != 0) return;
    atomic_store(&r->role, my_role);
    /* the weak reference reads null by now; the callback frees it */
    atomic_store(&r->ok, w.bits == r->w.bits && tt_is_null(tt_weak_get(t, w)) &&
                             tt_weak_free(t, w) == TT_OK);
}

/* A foreign object owning a malloc'd block that names its record. */
static tt_ref new_foreign(tt_thread *t, int kind, struct wstat *w, unsigned *idp)
{
    unsigned id = atomic_fetch_add(&nrecs, 1);
    if (idp) *idp = id;
    if (!WCHECK(w, id < MAXREC)) return TT_NULL;
    struct frec *r = &recs[id];
    uint64_t *mem = malloc(2 * sizeof *mem);
    if (!WCHECK(w, mem != NULL)) return TT_NULL;
    mem[0] = id;
    mem[1] = ~(uint64_t)id;
    r->id = id;
    r->kind = kind;
    r->addr = mem;
    tt_ref o = tt_foreign_new(t, mem, EXT, fo_cleanup, r);
    if (!WCHECK(w, !tt_is_null(o))) {
        free(mem);
        r->kind = 0;
    }
    return o;
}

static void reset_records(void)
{
    for (unsigned i = 0; i < MAXREC; i++) {
        recs[i].id = 0;
        recs[i].kind = 0;
        recs[i].addr = NULL;
        atomic_store(&recs[i].runs, 0);
        atomic_store(&recs[i].role, -1);
        atomic_store(&recs[i].addr_ok, 0);
        atomic_store(&recs[i].work_ok, 0);
    }
    atomic_store(&nrecs, 0);
    for (unsigned i = 0; i < MAXWREC; i++) {
        wrecs[i].w = (tt_weak){0};
        atomic_store(&wrecs[i].runs, 0);
        atomic_store(&wrecs[i].role, -1);
        atomic_store(&wrecs[i].ok, 0);
    }
    atomic_store(&nwrecs, 0);
    atomic_store(&misuses, 0);
    atomic_store(&reports_close, 0);
    atomic_store(&reports_cycle, 0);
}

static unsigned count_kind(int kind)
{
    unsigned n = 0, end = atomic_load(&nrecs);
    for (unsigned i = 0; i < end && i < MAXREC; i++) n += recs[i].kind == kind;
    return n;
}

/* ------------------------------------------------------------------ */
/* Waiting without holding collections                                  */

static void nap(void)
{
    struct timespec ts = {0, 200 * 1000};
    nanosleep(&ts, NULL);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A guard against hangs, not a timing assertion. */
#define HANG_GUARD_S 60.0

/* Wait, inside a foreign region, until *flag >= want. */
static void wait_flag(tt_thread *t, struct wstat *w, atomic_int *flag, int want)
{
    WCHECK_EQ(w, tt_foreign_region_enter(t), TT_OK);
    double end = now_s() + HANG_GUARD_S;
    while (atomic_load(flag) < want) {
        if (now_s() > end) {
            WCHECK(w, !"waited too long for another thread (hang guard)");
            break;
        }
        nap();
    }
    WCHECK_EQ(w, tt_foreign_region_leave(t), TT_OK);
}

/* ------------------------------------------------------------------ */
/* The scenario                                                         */

struct item {
    tt_global g;
    int kind;      /* 1: a list; 2: a foreign object */
    uint64_t base; /* list */
    uint32_t len;
    unsigned rec; /* foreign */
};

struct queue {
    pthread_mutex_t mu;
    pthread_cond_t nonempty, nonfull;
    struct item buf[QCAP];
    unsigned head, count;
};

struct scen {
    tt_heap *h;
    int fin;
    tt_global close_g[NW][NCLOSE];
    struct queue q;
    atomic_int ready, go, stop, sleeping, done;
};

struct wk {
    struct scen *s;
    int idx;
    struct wstat st;
    _Atomic(tt_thread *) t;
    long spins; /* safepoint phase */
    pthread_t th;
};

static void start_workers(struct scen *s, struct wk *w, int n, int first, void *(*fn)(void *))
{
    for (int i = 0; i < n; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].s = s;
        w[i].idx = first + i;
        w[i].st.role = ROLE_WORKER + first + i;
        atomic_store(&w[i].t, NULL);
        if (pthread_create(&w[i].th, NULL, fn, &w[i]) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            exit(2);
        }
    }
}

/* Join inside a foreign region (pthread_join blocks), then merge. */
static void join_workers(tt_thread *t, struct wk *w, int n)
{
    CHECK_EQ(tt_foreign_region_enter(t), TT_OK);
    for (int i = 0; i < n; i++) pthread_join(w[i].th, NULL);
    CHECK_EQ(tt_foreign_region_leave(t), TT_OK);
    for (int i = 0; i < n; i++) merge(&w[i].st);
}

static tt_thread *attach_worker(struct wk *w)
{
    my_role = w->st.role;
    tt_thread *t = tt_thread_attach(w->s->h);
    WCHECK(&w->st, t != NULL);
    atomic_store(&w->t, t);
    return t;
}

/* Queue every dead object and run every pending cleanup and weak
 * callback: on the finalizer thread (waited for in a foreign region), or
 * here. */
static void drain(struct scen *s, tt_thread *t)
{
    CHECK_EQ(tt_collect(t), TT_OK);
    if (!s->fin) {
        tt_run_finalizers(t, 0);
        return;
    }
    double deadline = now_s() + HANG_GUARD_S;
    for (;;) {
        tt_stats st = tt_test_stats(s->h);
        if (st.pending_cleanups == 0 && st.objects_finalized == st.objects_queued) break;
        if (now_s() > deadline) {
            CHECK(!"the finalizer thread did not finish (hang guard)");
            break;
        }
        CHECK_EQ(tt_foreign_region_enter(t), TT_OK);
        nap();
        CHECK_EQ(tt_foreign_region_leave(t), TT_OK);
    }
}

/* ---- phase 1: parallel marking of a large live set ---- */

/* Groups of four ephemerons, stored in a reference array in reverse:
 *   e0: key A (rooted in `keys`), value V0, a node whose left is B
 *   e1: key B (alive only through V0, so through e0), value V1 (a leaf)
 *   e2: key C (held by nothing), value V2, a node whose left is D
 *   e3: key D (reachable only through V2), value V3 (a leaf)
 * After a collection e0 and e1 hold their key and value, e2 and e3 read
 * null: the fixpoint, whichever marking thread meets them. */
enum { NGROUPS = 1024 };

static int build_groups(tt_thread *t, tt_local ephs, tt_local keys)
{
    for (int g = 0; g < NGROUPS; g++) {
        tt_frame f = tt_frame_push(t, 8);
        tt_local A = tt_local_new(t, tt_alloc(t, &node_type));
        tt_local B = tt_local_new(t, tt_alloc(t, &node_type));
        tt_local C = tt_local_new(t, tt_alloc(t, &node_type));
        tt_local D = tt_local_new(t, tt_alloc(t, &node_type));
        tt_local V0 = tt_local_new(t, tt_alloc(t, &node_type));
        tt_local V1 = tt_local_new(t, tt_alloc(t, &leaf_type));
        tt_local V2 = tt_local_new(t, tt_alloc(t, &node_type));
        tt_local V3 = tt_local_new(t, tt_alloc(t, &leaf_type));
        tt_local all[8] = {A, B, C, D, V0, V1, V2, V3};
        for (int i = 0; i < 8; i++)
            if (tt_is_null(tt_local_get(t, all[i]))) {
                tt_frame_pop(t, f, TT_NO_LOCAL);
                return 0;
            }
        for (int i = 0; i < 4; i++)
            TT_PTR(struct node, tt_local_get(t, all[i]))->value = (uint64_t)g * 4 + (uint64_t)i;
        TT_PTR(struct leaf, tt_local_get(t, V1))->value = (uint64_t)g * 4 + 1;
        TT_PTR(struct leaf, tt_local_get(t, V3))->value = (uint64_t)g * 4 + 3;
        tt_ref v0 = tt_local_get(t, V0), v2 = tt_local_get(t, V2);
        tt_store(t, v0, &TT_PTR(struct node, v0)->left, tt_local_get(t, B));
        tt_store(t, v2, &TT_PTR(struct node, v2)->left, tt_local_get(t, D));
        tt_array_set(t, tt_local_get(t, keys), (size_t)g, tt_local_get(t, A));
        for (int e = 0; e < 4; e++) { /* key all[e], value all[4 + e] */
            tt_ref r = tt_ephemeron_new(t, tt_local_get(t, all[e]), tt_local_get(t, all[4 + e]));
            if (tt_is_null(r)) {
                tt_frame_pop(t, f, TT_NO_LOCAL);
                return 0;
            }
            tt_array_set(t, tt_local_get(t, ephs), (size_t)g * 4 + (size_t)(3 - e), r);
        }
        tt_frame_pop(t, f, TT_NO_LOCAL);
    }
    return 1;
}

/* The number of groups found wrong. */
static int check_groups(tt_thread *t, tt_ref ephs, tt_ref keys)
{
    int bad = 0;
    for (int g = 0; g < NGROUPS; g++) {
        tt_ref e0 = tt_array_get(ephs, (size_t)g * 4 + 3), e1 = tt_array_get(ephs, (size_t)g * 4 + 2);
        tt_ref e2 = tt_array_get(ephs, (size_t)g * 4 + 1), e3 = tt_array_get(ephs, (size_t)g * 4);
        tt_ref a = tt_ephemeron_key(t, e0), v0 = tt_ephemeron_value(t, e0);
        tt_ref b = tt_ephemeron_key(t, e1), v1 = tt_ephemeron_value(t, e1);
        int ok = tt_same(a, tt_array_get(keys, (size_t)g)) && !tt_is_null(a) &&
                 TT_PTR(struct node, a)->value == (uint64_t)g * 4 && !tt_is_null(v0) &&
                 !tt_is_null(b) && tt_same(TT_PTR(struct node, v0)->left, b) &&
                 TT_PTR(struct node, b)->value == (uint64_t)g * 4 + 1 && !tt_is_null(v1) &&
                 TT_PTR(struct leaf, v1)->value == (uint64_t)g * 4 + 1 &&
                 tt_is_null(tt_ephemeron_key(t, e2)) && tt_is_null(tt_ephemeron_value(t, e2)) &&
                 tt_is_null(tt_ephemeron_key(t, e3)) && tt_is_null(tt_ephemeron_value(t, e3));
        bad += !ok;
    }
    return bad;
}

static void phase_parallel_mark(struct scen *s, tt_thread *t)
{
    tt_frame f = tt_frame_push(t, 2);
    tt_local ephs = tt_local_new(t, tt_alloc_array(t, &tt_refs_type, 4 * NGROUPS));
    tt_local keys = tt_local_new(t, tt_alloc_array(t, &tt_refs_type, NGROUPS));
    REQUIRE(!tt_is_null(tt_local_get(t, ephs)) && !tt_is_null(tt_local_get(t, keys)));
    tt_local trees[4];
    for (int i = 0; i < 4; i++) {
        trees[i] = build_tree(t, BIG_DEPTH, 1, (uint64_t)i << 40);
        REQUIRE(!tt_local_is_null(trees[i]));
    }
    REQUIRE(build_groups(t, ephs, keys));
    CHECK_EQ(tt_collect(t), TT_OK);
    tt_stats st = tt_test_stats(s->h);
    /* the trees, the two arrays, and per group the four ephemerons, A, B,
     * V0 and V1 */
    uint64_t live = 4 * (uint64_t)tree_nodes(BIG_DEPTH) + 2 + 8 * (uint64_t)NGROUPS;
    CHECK_EQU(st.live_objects, live);
    CHECK_EQU(st.mark_threads, 2); /* enough work to share with the helper */
    for (int i = 0; i < 4; i++)
        CHECK_EQ(check_tree(tt_local_get(t, trees[i]), BIG_DEPTH, 1, (uint64_t)i << 40),
                 tree_nodes(BIG_DEPTH));
    CHECK_EQ(check_groups(t, tt_local_get(t, ephs), tt_local_get(t, keys)), 0);
    tt_verify_report rep;
    CHECK_EQ(tt_heap_verify(t, &rep), TT_OK);
    CHECK_EQU(rep.objects, live);
    CHECK_EQU(rep.errors, 0);
    /* once more, everything already settled */
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK_EQU(tt_test_stats(s->h).live_objects, live);
    CHECK_EQ(check_groups(t, tt_local_get(t, ephs), tt_local_get(t, keys)), 0);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    CHECK_EQ(tt_collect(t), TT_OK);
    st = tt_test_stats(s->h);
    CHECK_EQU(st.live_objects, 0);
    CHECK_CMPU(st.mark_threads, >=, 1);
    CHECK_CMPU(st.mark_threads, <=, 2);
}

/* ---- phase 2: thread counts; collections while others are in regions ---- */

static void *parked_worker(void *arg)
{
    struct wk *w = arg;
    struct scen *s = w->s;
    tt_thread *t = attach_worker(w);
    if (!t) return NULL;
    /* a local that must survive the collections made meanwhile */
    tt_local l = build_list(t, 100, 7000 + (uint64_t)w->idx * 1000);
    WCHECK(&w->st, !tt_local_is_null(l));
    WCHECK_EQ(&w->st, tt_foreign_region_enter(t), TT_OK);
    atomic_fetch_add(&s->ready, 1);
    while (!atomic_load(&s->go)) nap();
    WCHECK_EQ(&w->st, tt_foreign_region_leave(t), TT_OK);
    WCHECK(&w->st, check_list(tt_local_get(t, l), 100, 7000 + (uint64_t)w->idx * 1000));
    tt_thread_detach(t);
    return NULL;
}

static void phase_thread_counts(struct scen *s, tt_thread *t)
{
    struct wk w[NW];
    size_t before = tt_heap_threads(s->h);
    CHECK_EQU(tt_test_stats(s->h).threads, before);
    atomic_store(&s->ready, 0);
    atomic_store(&s->go, 0);
    start_workers(s, w, NW, 0, parked_worker);
    wait_flag(t, NULL, &s->ready, NW);
    CHECK_EQU(tt_heap_threads(s->h), before + NW);
    CHECK_EQU(tt_test_stats(s->h).threads, before + NW);
    CHECK_EQ(tt_in_foreign_region(t), 0);
    for (int i = 0; i < NW; i++) CHECK_EQ(tt_in_foreign_region(atomic_load(&w[i].t)), 1);
    /* every other thread is in a foreign region: collections proceed */
    uint64_t c0 = tt_test_stats(s->h).collections;
    for (int i = 0; i < 3; i++) {
        tt_frame f = tt_frame_push(t, 1);
        build_tree(t, 6, 1, 99); /* garbage */
        tt_frame_pop(t, f, TT_NO_LOCAL);
        CHECK_EQ(tt_collect(t), TT_OK);
    }
    CHECK_CMPU(tt_test_stats(s->h).collections, >=, c0 + 3);
    atomic_store(&s->go, 1);
    join_workers(t, w, NW);
    CHECK_EQU(tt_heap_threads(s->h), before);
    CHECK_EQU(tt_test_stats(s->h).threads, before);
}

/* ---- phase 3: mixed work, hand-offs through a queue ---- */

static void q_push(tt_thread *t, struct wstat *w, struct queue *q, struct item it)
{
    WCHECK_EQ(w, tt_foreign_region_enter(t), TT_OK);
    pthread_mutex_lock(&q->mu);
    while (q->count == QCAP) pthread_cond_wait(&q->nonfull, &q->mu);
    q->buf[(q->head + q->count++) % QCAP] = it;
    pthread_cond_signal(&q->nonempty);
    pthread_mutex_unlock(&q->mu);
    WCHECK_EQ(w, tt_foreign_region_leave(t), TT_OK);
}

static struct item q_pop(tt_thread *t, struct wstat *w, struct queue *q)
{
    WCHECK_EQ(w, tt_foreign_region_enter(t), TT_OK);
    pthread_mutex_lock(&q->mu);
    while (q->count == 0) pthread_cond_wait(&q->nonempty, &q->mu);
    struct item it = q->buf[q->head];
    q->head = (q->head + 1) % QCAP;
    q->count--;
    pthread_cond_broadcast(&q->nonfull);
    pthread_mutex_unlock(&q->mu);
    WCHECK_EQ(w, tt_foreign_region_leave(t), TT_OK);
    return it;
}

/* One round of a worker's own work; ends with its own full collection,
 * after which weak references and ephemerons are checked exactly. */
static void own_round(tt_thread *t, struct wk *w, int round)
{
    struct wstat *st = &w->st;
    uint64_t salt = ((uint64_t)(w->idx + 1) << 48) | ((uint64_t)round << 32);
    tt_frame f = tt_frame_push(t, 8);
    tt_local tree = build_tree(t, TREE_DEPTH, 1, salt);
    tt_local list = build_list(t, LIST_LEN, salt);
    if (!WCHECK(st, !tt_local_is_null(tree) && !tt_local_is_null(list))) {
        tt_frame_pop(t, f, TT_NO_LOCAL);
        return;
    }
    /* garbage */
    tt_frame g = tt_frame_push(t, 1);
    build_tree(t, TREE_DEPTH, 1, ~salt);
    tt_frame_pop(t, g, TT_NO_LOCAL);

    /* a weak reference to an object that lives, one to an object that dies */
    tt_weak w_live = tt_weak_new(t, tt_local_get(t, tree));
    g = tt_frame_push(t, 1);
    tt_local tmp = tt_local_new(t, tt_alloc(t, &leaf_type));
    TT_PTR(struct leaf, tt_local_get(t, tmp))->value = salt;
    tt_weak w_dead = tt_weak_new(t, tt_local_get(t, tmp));
    /* and one with a callback, which frees it */
    unsigned wid = atomic_fetch_add(&nwrecs, 1);
    if (WCHECK(st, wid < MAXWREC)) {
        wrecs[wid].w = tt_weak_new_cb(t, tt_local_get(t, tmp), weak_cb, &wrecs[wid]);
        WCHECK(st, !tt_weak_is_null(wrecs[wid].w));
    }
    tt_frame_pop(t, g, TT_NO_LOCAL);
    WCHECK(st, !tt_weak_is_null(w_live) && !tt_weak_is_null(w_dead));

    /* ephemerons: e1's key lives (the tree), so its value (a leaf held by
     * nothing else) lives; e2's key dies, and its value, which refers
     * back to the key, dies with it */
    tt_local lv = tt_local_new(t, tt_alloc(t, &leaf_type));
    TT_PTR(struct leaf, tt_local_get(t, lv))->value = salt + 1;
    TT_PTR(struct leaf, tt_local_get(t, lv))->check = ~(salt + 1);
    tt_local e1 = tt_local_new(t, tt_ephemeron_new(t, tt_local_get(t, tree), tt_local_get(t, lv)));
    uintptr_t leaf_bits = tt_local_get(t, lv).bits;
    tt_local_set(t, lv, TT_NULL);
    tt_local k2 = tt_local_new(t, tt_alloc(t, &node_type));
    tt_local v2 = tt_local_new(t, tt_alloc(t, &node_type));
    {
        tt_ref v = tt_local_get(t, v2);
        tt_store(t, v, &TT_PTR(struct node, v)->left, tt_local_get(t, k2));
    }
    tt_local e2 = tt_local_new(t, tt_ephemeron_new(t, tt_local_get(t, k2), tt_local_get(t, v2)));
    tt_weak w_v2 = tt_weak_new(t, tt_local_get(t, v2));
    tt_local_set(t, k2, TT_NULL);
    tt_local_set(t, v2, TT_NULL);
    WCHECK(st, !tt_is_null(tt_local_get(t, e1)) && !tt_is_null(tt_local_get(t, e2)));

    /* foreign objects dropped at once: finalized later */
    for (int i = 0; i < NDROP; i++) new_foreign(t, K_DROP, st, NULL);

    WCHECK_EQ(st, tt_collect(t), TT_OK);

    WCHECK(st, tt_is_null(tt_weak_get(t, w_dead)));
    WCHECK(st, tt_same(tt_weak_get(t, w_live), tt_local_get(t, tree)));
    WCHECK(st, tt_same(tt_ephemeron_key(t, tt_local_get(t, e1)), tt_local_get(t, tree)));
    tt_ref val1 = tt_ephemeron_value(t, tt_local_get(t, e1));
    if (WCHECK(st, val1.bits == leaf_bits))
        WCHECK(st, TT_PTR(struct leaf, val1)->value == salt + 1 &&
                       TT_PTR(struct leaf, val1)->check == ~(salt + 1));
    WCHECK(st, tt_is_null(tt_ephemeron_key(t, tt_local_get(t, e2))));
    WCHECK(st, tt_is_null(tt_ephemeron_value(t, tt_local_get(t, e2))));
    WCHECK(st, tt_is_null(tt_weak_get(t, w_v2)));
    WCHECK_EQ(st, check_tree(tt_local_get(t, tree), TREE_DEPTH, 1, salt), tree_nodes(TREE_DEPTH));
    WCHECK(st, check_list(tt_local_get(t, list), LIST_LEN, salt));

    WCHECK_EQ(st, tt_weak_free(t, w_live), TT_OK);
    WCHECK_EQ(st, tt_weak_free(t, w_dead), TT_OK);
    WCHECK_EQ(st, tt_weak_free(t, w_v2), TT_OK);
    tt_frame_pop(t, f, TT_NO_LOCAL);
}

static void produce(tt_thread *t, struct wk *w, int round)
{
    struct wstat *st = &w->st;
    for (int i = 0; i < ITEMS; i++) {
        struct item it;
        memset(&it, 0, sizeof it);
        tt_frame f = tt_frame_push(t, 1);
        if (i % 2 == 0) {
            it.kind = 1;
            it.len = 20 + (uint32_t)(round * ITEMS + i) % 60;
            it.base = ((uint64_t)(w->idx + 1) << 40) | ((uint64_t)round << 20) | ((uint64_t)i << 10);
            tt_local l = build_list(t, it.len, it.base);
            if (WCHECK(st, !tt_local_is_null(l))) it.g = tt_global_new(t, tt_local_get(t, l));
        } else {
            it.kind = 2;
            tt_local l = tt_local_new(t, new_foreign(t, K_RELEASE, st, &it.rec));
            if (!tt_is_null(tt_local_get(t, l))) it.g = tt_global_new(t, tt_local_get(t, l));
        }
        tt_frame_pop(t, f, TT_NO_LOCAL);
        /* pushed even if it failed (a null global), so the consumer's count
         * stays right */
        WCHECK(st, !tt_global_is_null(it.g));
        q_push(t, st, &w->s->q, it);
    }
}

static int consumed_foreign;

static void consume(tt_thread *t, struct wk *w, int n)
{
    struct wstat *st = &w->st;
    for (int i = 0; i < n; i++) {
        struct item it = q_pop(t, st, &w->s->q);
        if (tt_global_is_null(it.g)) continue; /* the producer failed (reported there) */
        tt_frame f = tt_frame_push(t, 1);
        tt_local l = tt_local_new(t, tt_global_get(t, it.g));
        build_tree(t, 4, 1, 5); /* garbage in between: collections happen here too */
        tt_ref r = tt_local_get(t, l);
        if (it.kind == 1) {
            WCHECK(st, check_list(r, it.len, it.base));
        } else {
            struct frec *rec = &recs[it.rec];
            consumed_foreign++;
            WCHECK(st, tt_foreign_addr(t, r) == (void *)rec->addr);
            WCHECK_EQ(st, atomic_load(&rec->runs), 0);
            WCHECK_EQ(st, tt_release(t, r), TT_OK);
            WCHECK_EQ(st, atomic_load(&rec->runs), 1);
            WCHECK_EQ(st, atomic_load(&rec->role), my_role);
            WCHECK(st, atomic_load(&rec->addr_ok));
            WCHECK(st, tt_foreign_released(t, r));
            WCHECK_EQ(st, tt_foreign_size(t, r), 0);
        }
        tt_frame_pop(t, f, TT_NO_LOCAL);
        WCHECK_EQ(st, tt_global_free(t, it.g), TT_OK);
    }
}

static void *mixed_worker(void *arg)
{
    struct wk *w = arg;
    struct scen *s = w->s;
    tt_thread *t = attach_worker(w);
    if (!t) return NULL;
    for (int k = 0; k < NCLOSE; k++) {
        tt_frame f = tt_frame_push(t, 1);
        tt_local l = tt_local_new(t, new_foreign(t, K_CLOSE, &w->st, NULL));
        s->close_g[w->idx][k] = tt_global_new(t, tt_local_get(t, l));
        WCHECK(&w->st, !tt_global_is_null(s->close_g[w->idx][k]));
        tt_frame_pop(t, f, TT_NO_LOCAL);
    }
    for (int round = 0; round < ROUNDS; round++) {
        own_round(t, w, round);
        if (w->idx < 2)
            produce(t, w, round);
        else
            consume(t, w, 2 * ITEMS);
        tt_safepoint(t);
    }
    tt_thread_detach(t);
    return NULL;
}

static void phase_mixed(struct scen *s, tt_thread *t)
{
    struct wk w[NW];
    consumed_foreign = 0;
    uint64_t c0 = tt_test_stats(s->h).collections;
    start_workers(s, w, NW, 0, mixed_worker);
    join_workers(t, w, NW);
    tt_stats st = tt_test_stats(s->h);
    /* every worker collected once per round */
    CHECK_CMPU(st.collections, >=, c0 + (uint64_t)NW * ROUNDS);
    /* the foreign objects handed over were released by the consumer */
    unsigned nrel = count_kind(K_RELEASE);
    CHECK_EQ(nrel, 2 * ROUNDS * (ITEMS / 2));
    CHECK_EQ(consumed_foreign, nrel);
    unsigned end = atomic_load(&nrecs);
    for (unsigned i = 0; i < end; i++) {
        if (recs[i].kind != K_RELEASE) continue;
        CHECK_EQ(atomic_load(&recs[i].runs), 1);
        CHECK_EQ(atomic_load(&recs[i].role), ROLE_WORKER + 2);
        CHECK(atomic_load(&recs[i].addr_ok));
        CHECK(atomic_load(&recs[i].work_ok));
    }
    CHECK_EQ(count_kind(K_DROP), NW * ROUNDS * NDROP);
    CHECK_EQ(count_kind(K_CLOSE), NW * NCLOSE);
    CHECK_EQU(st.globals, NW * NCLOSE);
    CHECK_EQ(atomic_load(&nwrecs), NW * ROUNDS);
}

/* ---- phase 4: collections forced from several threads at once ---- */

static void *collect_worker(void *arg)
{
    struct wk *w = arg;
    struct scen *s = w->s;
    tt_thread *t = attach_worker(w);
    if (!t) return NULL;
    atomic_fetch_add(&s->ready, 1);
    wait_flag(t, &w->st, &s->go, 1);
    for (int k = 0; k < NCOLLECT; k++) {
        uint64_t salt = ((uint64_t)w->idx << 32) | (uint64_t)k;
        tt_frame f = tt_frame_push(t, 1);
        tt_local tree = build_tree(t, 8, 1, salt);
        WCHECK(&w->st, !tt_local_is_null(tree));
        WCHECK_EQ(&w->st, tt_collect(t), TT_OK);
        WCHECK_EQ(&w->st, check_tree(tt_local_get(t, tree), 8, 1, salt), tree_nodes(8));
        tt_frame_pop(t, f, TT_NO_LOCAL);
    }
    tt_thread_detach(t);
    return NULL;
}

/* Allocates (and so reaches safepoints) without ever collecting on
 * purpose or entering a region: the collections of the others must stop
 * it. The first collection after go made by another thread finds it
 * running, whatever the interleaving. */
static void *busy_worker(void *arg)
{
    struct wk *w = arg;
    struct scen *s = w->s;
    tt_thread *t = attach_worker(w);
    if (!t) return NULL;
    tt_local keep = build_list(t, 200, 0xb0b0000);
    atomic_fetch_add(&s->ready, 1);
    while (!atomic_load(&s->stop)) {
        tt_frame f = tt_frame_push(t, 1);
        build_tree(t, 5, 1, 11); /* garbage */
        tt_frame_pop(t, f, TT_NO_LOCAL);
        tt_safepoint(t);
        w->spins++;
    }
    WCHECK(&w->st, check_list(tt_local_get(t, keep), 200, 0xb0b0000));
    tt_thread_detach(t);
    return NULL;
}

static void phase_concurrent_collect(struct scen *s, tt_thread *t)
{
    struct wk w[NW], busy[1];
    atomic_store(&s->ready, 0);
    atomic_store(&s->go, 0);
    atomic_store(&s->stop, 0);
    start_workers(s, busy, 1, NW, busy_worker);
    start_workers(s, w, NW, 0, collect_worker);
    wait_flag(t, NULL, &s->ready, NW + 1); /* all attached before any collects */
    tt_stats a = tt_test_stats(s->h);
    atomic_store(&s->go, 1);
    join_workers(t, w, NW);
    tt_stats b = tt_test_stats(s->h);
    atomic_store(&s->stop, 1);
    join_workers(t, busy, 1);
    /* a tt_collect waiting for another thread's collection runs one more:
     * at least one collection per call of the busiest thread */
    CHECK_CMPU(b.collections - a.collections, >=, NCOLLECT);
    CHECK_CMPU(b.safepoint_waits - a.safepoint_waits, >=, 1);
    CHECK_CMPU(b.safepoint_waits, <=, b.collections);
    CHECK_CMPU(b.safepoint_ns_p50, <=, b.safepoint_ns_max);
    CHECK_CMPU(b.safepoint_ns_p99, <=, b.safepoint_ns_max);
}

/* ---- phase 5: a loop that only polls, while another thread collects ---- */

static void *spinning_worker(void *arg)
{
    struct wk *w = arg;
    struct scen *s = w->s;
    tt_thread *t = attach_worker(w);
    if (!t) return NULL;
    tt_local l = tt_local_new(t, tt_alloc(t, &leaf_type));
    tt_ref r = tt_local_get(t, l); /* rooted by l: valid across safepoints */
    TT_PTR(struct leaf, r)->value = 0x5eed;
    atomic_fetch_add(&s->ready, 1);
    long bad = 0;
    while (!atomic_load(&s->stop)) {
        tt_safepoint(t);
        if (TT_PTR(struct leaf, r)->value != 0x5eed) bad++;
        w->spins++;
    }
    WCHECK_EQ(&w->st, bad, 0);
    WCHECK(&w->st, w->spins > 0);
    WCHECK(&w->st, tt_same(tt_local_get(t, l), r));
    tt_thread_detach(t);
    return NULL;
}

static void phase_safepoint_loop(struct scen *s, tt_thread *t)
{
    struct wk w[1];
    atomic_store(&s->ready, 0);
    atomic_store(&s->stop, 0);
    drain(s, t); /* no cleanup may collect meanwhile: the count below is exact */
    start_workers(s, w, 1, 0, spinning_worker);
    wait_flag(t, NULL, &s->ready, 1);
    tt_stats a = tt_test_stats(s->h);
    for (int i = 0; i < 10; i++) CHECK_EQ(tt_collect(t), TT_OK);
    tt_stats b = tt_test_stats(s->h);
    atomic_store(&s->stop, 1);
    join_workers(t, w, 1);
    /* nothing else allocates: exactly these ten. The first had the
     * spinning thread to stop; a later one may find it still parked from
     * the one before (it had no time to run in between), and then need
     * not wait. */
    CHECK_EQU(b.collections - a.collections, 10);
    CHECK_CMPU(b.safepoint_waits - a.safepoint_waits, >=, 1);
    CHECK_CMPU(b.safepoint_waits - a.safepoint_waits, <=, 10);
    CHECK(w[0].spins > 0);
}

/* ---- phase 6: a thread asleep in a foreign region ---- */

static void *sleeping_worker(void *arg)
{
    struct wk *w = arg;
    struct scen *s = w->s;
    tt_thread *t = attach_worker(w);
    if (!t) return NULL;
    tt_local l = build_list(t, 500, 0xabc000);
    WCHECK(&w->st, !tt_local_is_null(l));
    WCHECK_EQ(&w->st, tt_foreign_region_enter(t), TT_OK);
    WCHECK_EQ(&w->st, tt_in_foreign_region(t), 1);
    atomic_store(&s->sleeping, 1);
    double end = now_s() + HANG_GUARD_S;
    while (!atomic_load(&s->done) && now_s() < end) {
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    WCHECK(&w->st, atomic_load(&s->done));
    WCHECK_EQ(&w->st, tt_foreign_region_leave(t), TT_OK);
    WCHECK_EQ(&w->st, tt_in_foreign_region(t), 0);
    WCHECK(&w->st, check_list(tt_local_get(t, l), 500, 0xabc000));
    tt_thread_detach(t);
    return NULL;
}

static void phase_sleeper(struct scen *s, tt_thread *t)
{
    struct wk w[1];
    atomic_store(&s->sleeping, 0);
    atomic_store(&s->done, 0);
    start_workers(s, w, 1, 0, sleeping_worker);
    wait_flag(t, NULL, &s->sleeping, 1);
    CHECK_EQ(tt_in_foreign_region(atomic_load(&w[0].t)), 1);
    tt_stats a = tt_test_stats(s->h);
    for (int i = 0; i < 5; i++) {
        tt_frame f = tt_frame_push(t, 1);
        build_tree(t, 7, 1, 3); /* garbage */
        tt_frame_pop(t, f, TT_NO_LOCAL);
        CHECK_EQ(tt_collect(t), TT_OK);
    }
    tt_stats b = tt_test_stats(s->h);
    /* the collections ran while the other thread slept */
    CHECK_CMPU(b.collections - a.collections, >=, 5);
    CHECK_EQ(atomic_load(&s->done), 0);
    CHECK_EQ(tt_in_foreign_region(atomic_load(&w[0].t)), 1);
    atomic_store(&s->done, 1);
    join_workers(t, w, 1);
}

/* ---- the end: finalization, statistics, close ---- */

static void phase_finish(struct scen *s, tt_thread *t)
{
    unsigned ndrop = count_kind(K_DROP), nrel = count_kind(K_RELEASE);
    unsigned nclose = count_kind(K_CLOSE);
    unsigned end = atomic_load(&nrecs), nw = atomic_load(&nwrecs);
    drain(s, t);
    tt_stats st = tt_test_stats(s->h);
    CHECK_EQU(st.pending_cleanups, 0);
    CHECK_EQU(tt_pending_cleanups(t), 0);
    CHECK_EQU(st.objects_queued, ndrop);
    CHECK_EQU(st.objects_finalized, ndrop);
    CHECK_EQU(st.cleanups_run, ndrop + nrel);
    CHECK_EQU(st.weak_callbacks_run, nw);
    CHECK_EQU(st.weaks, 0); /* the callbacks freed theirs */
    CHECK_CMPU(st.pending_cleanups_peak, >=, 1);
    CHECK_CMPU(st.pending_cleanups_peak, <=, ndrop + nw);
    if (s->fin) {
        CHECK_CMPU(st.finalize_latency_count, >, 0);
        CHECK_CMPU(st.finalize_latency_count, <=, ndrop + nw);
        CHECK_CMPU(st.finalize_latency_ns_p50, <=, st.finalize_latency_ns_max);
        CHECK_CMPU(st.finalize_latency_ns_p99, <=, st.finalize_latency_ns_max);
    }
    int bad_wruns = 0, bad_wrole = 0, bad_wok = 0;
    for (unsigned i = 0; i < nw && i < MAXWREC; i++) {
        int role = atomic_load(&wrecs[i].role);
        bad_wruns += atomic_load(&wrecs[i].runs) != 1;
        bad_wok += !atomic_load(&wrecs[i].ok);
        bad_wrole += s->fin ? role != ROLE_FOREIGN : role == ROLE_FOREIGN || role < 0;
    }
    CHECK_EQ(bad_wruns, 0);
    CHECK_EQ(bad_wrole, 0);
    CHECK_EQ(bad_wok, 0);
    int bad_runs = 0, bad_role = 0, bad_addr = 0;
    for (unsigned i = 0; i < end; i++) {
        if (recs[i].kind != K_DROP) continue;
        int role = atomic_load(&recs[i].role);
        bad_runs += atomic_load(&recs[i].runs) != 1;
        bad_addr += !atomic_load(&recs[i].addr_ok) || !atomic_load(&recs[i].work_ok);
        /* with a finalizer thread, queued cleanups run only there;
         * otherwise on the program's threads (foreign-memory calls of the
         * workers, tt_run_finalizers here) */
        bad_role += s->fin ? role != ROLE_FOREIGN : role == ROLE_FOREIGN || role < 0;
    }
    CHECK_EQ(bad_runs, 0);
    CHECK_EQ(bad_role, 0);
    CHECK_EQ(bad_addr, 0);

    /* what is left: the objects kept until close, in globals */
    CHECK_EQ(tt_collect(t), TT_OK);
    st = tt_test_stats(s->h);
    CHECK_EQU(st.live_objects, nclose);
    CHECK_EQU(st.globals, nclose);
    CHECK_EQU(st.weaks, 0);
    CHECK_EQU(st.external_bytes, (uint64_t)nclose * EXT);
    CHECK_EQU(st.threads, 1 + (s->fin != 0));
    CHECK_EQU(tt_heap_threads(s->h), 1 + (s->fin != 0));
    for (int i = 0; i < NW; i++)
        for (int k = 0; k < NCLOSE; k++) {
            tt_ref r = tt_global_get(t, s->close_g[i][k]);
            CHECK(!tt_is_null(r) && !tt_foreign_released(t, r));
            /* half of them stay in globals; the others are dropped but no
             * collection runs before close */
            if (k % 2) CHECK_EQ(tt_global_free(t, s->close_g[i][k]), TT_OK);
        }
    for (unsigned i = 0; i < end; i++)
        if (recs[i].kind == K_CLOSE) CHECK_EQ(atomic_load(&recs[i].runs), 0);
}

static void run_scenario(int fin)
{
    struct scen *s = calloc(1, sizeof *s);
    REQUIRE(s != NULL);
    reset_records();
    s->fin = fin;
    pthread_mutex_init(&s->q.mu, NULL);
    pthread_cond_init(&s->q.nonempty, NULL);
    pthread_cond_init(&s->q.nonfull, NULL);

    tt_config cfg;
    tt_config_init(&cfg);
    cfg.initial_size = 1 << 20;
    cfg.verify_collections = 1;
    cfg.mark_threads = 2;
    cfg.parallel_mark_min = 1; /* share from the first drain, small as the heap is */
    cfg.finalizer_thread = fin;
    cfg.on_misuse = count_misuse;
    cfg.on_report = count_report;
    s->h = tt_heap_open(&cfg);
    REQUIRE(s->h != NULL);
    my_role = ROLE_MAIN;
    tt_thread *t = tt_thread_attach(s->h);
    REQUIRE(t != NULL);

    phase_parallel_mark(s, t);
    phase_thread_counts(s, t);
    phase_mixed(s, t);
    phase_concurrent_collect(s, t);
    phase_safepoint_loop(s, t);
    phase_sleeper(s, t);
    phase_finish(s, t);

    tt_thread_detach(t);
    tt_heap_close(s->h);

    /* the cleanups left ran at close, on the closing thread, once each */
    unsigned end = atomic_load(&nrecs);
    int bad = 0;
    for (unsigned i = 0; i < end; i++) {
        if (recs[i].kind == 0) continue;
        CHECK_EQ(atomic_load(&recs[i].runs), 1);
        CHECK(atomic_load(&recs[i].addr_ok));
        CHECK(atomic_load(&recs[i].work_ok));
        if (recs[i].kind == K_CLOSE) bad += atomic_load(&recs[i].role) != ROLE_MAIN;
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(atomic_load(&misuses), 0);
    CHECK_EQ(atomic_load(&reports_close), 0);
    CHECK_EQ(atomic_load(&reports_cycle), 0);
    pthread_cond_destroy(&s->q.nonfull);
    pthread_cond_destroy(&s->q.nonempty);
    pthread_mutex_destroy(&s->q.mu);
    free(s);
}

static void test_mt_without_finalizer_thread(void) { run_scenario(0); }
static void test_mt_with_finalizer_thread(void) { run_scenario(1); }

/* With a finalizer thread, the program may still run pending cleanups
 * itself (tt_run_finalizers). Whoever runs them, every queued cleanup runs
 * once and soon: the finalizer thread must not be left idle with items in
 * the queue because the program's run held the queue when it looked. */
static atomic_int slow_runs[400];

static void slow_cleanup(tt_thread *t, tt_ref obj, void *env)
{
    (void)t;
    (void)obj;
    struct timespec ts = {0, 100 * 1000};
    nanosleep(&ts, NULL);
    atomic_fetch_add(&slow_runs[(intptr_t)env], 1);
}

static void test_finalizer_thread_and_explicit_runs(void)
{
    enum { N = 400 };
    for (int round = 0; round < 5; round++) {
        tt_config cfg;
        tt_config_init(&cfg);
        cfg.finalizer_thread = 1;
        cfg.on_misuse = count_misuse;
        atomic_store(&misuses, 0);
        tt_heap *h = tt_heap_open(&cfg);
        REQUIRE(h != NULL);
        my_role = ROLE_MAIN;
        tt_thread *t = tt_thread_attach(h);
        REQUIRE(t != NULL);
        for (int i = 0; i < N; i++) atomic_store(&slow_runs[i], 0);
        for (intptr_t i = 0; i < N; i++)
            REQUIRE(!tt_is_null(tt_foreign_new(t, NULL, 0, slow_cleanup, (void *)i)));
        CHECK_EQ(tt_collect(t), TT_OK);
        size_t mine = 0;
        for (int i = 0; i < 20; i++) mine += tt_run_finalizers(t, 1);
        CHECK_CMPU(mine, <=, 20);
        /* the rest is the finalizer thread's */
        double deadline = now_s() + HANG_GUARD_S;
        int total = 0;
        CHECK_EQ(tt_foreign_region_enter(t), TT_OK);
        for (;;) {
            total = 0;
            for (int i = 0; i < N; i++) total += atomic_load(&slow_runs[i]);
            if (total >= N || now_s() > deadline) break;
            nap();
        }
        CHECK_EQ(tt_foreign_region_leave(t), TT_OK);
        if (total < N)
            fprintf(stderr, "round %d: %d of %d cleanups ran (%zu by tt_run_finalizers); %zu "
                            "left pending with the finalizer thread idle\n",
                    round, total, N, mine, tt_pending_cleanups(t));
        CHECK_EQ(total, N);
        CHECK_EQU(tt_pending_cleanups(t), 0);
        tt_thread_detach(t);
        tt_heap_close(h);
        int wrong = 0;
        for (int i = 0; i < N; i++) wrong += atomic_load(&slow_runs[i]) != 1;
        CHECK_EQ(wrong, 0);
        CHECK_EQ(atomic_load(&misuses), 0);
        if (total < N) break; /* once is enough to show it */
    }
}

static atomic_long noop_runs;
static void noop_cleanup(tt_thread *t, tt_ref obj, void *env)
{
    (void)t;
    (void)obj;
    (void)env;
    atomic_fetch_add(&noop_runs, 1);
}

/* N foreign objects made and dropped at once; the collections it took
 * into *out. */
static void collections_for(int fin, size_t initial_size, int n, uint64_t *out)
{
    *out = UINT64_MAX;
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.finalizer_thread = fin;
    cfg.initial_size = initial_size;
    tt_heap *h = tt_heap_open(&cfg);
    REQUIRE(h != NULL);
    tt_thread *t = tt_thread_attach(h);
    REQUIRE(t != NULL);
    atomic_store(&noop_runs, 0);
    for (int i = 0; i < n; i++) REQUIRE(!tt_is_null(tt_foreign_new(t, NULL, 0, noop_cleanup, NULL)));
    tt_stats st;
    tt_heap_stats(h, &st);
    tt_thread_detach(t);
    tt_heap_close(h);
    CHECK_EQ(atomic_load(&noop_runs), n); /* every cleanup ran, by close at the latest */
    *out = st.collections;
}

/* With a finalizer thread, a collection is due after 16,384 registrations,
 * so no batch keeps its last item waiting long; but collections are never
 * more than 4x as frequent as the allocation alone would make them. */
static void test_finalizer_thread_batches(void)
{
    enum { N = 100000 }; /* ~10 MiB of objects and registrations */
    uint64_t paced, plain, big;
    collections_for(1, 4u << 20, N, &paced);
    collections_for(0, 4u << 20, N, &plain);
    CHECK_CMPU(paced, >=, N / 16384 - 1);
    CHECK_CMPU(plain, <, paced);
    /* A quarter of a 256 MiB trigger is more than the loop allocates. */
    collections_for(1, 256u << 20, N, &big);
    CHECK_EQU(big, 0);
}

/* Parallel marking of every shape a drain treats apart, each object in
 * reach of both markers: header-only objects (8-byte slots, two to a mark
 * byte), 24-byte objects (odd granules), custom objects of 32 and of 8
 * bytes (each must be traced exactly once per collection), large
 * reference arrays, and objects reached from two parents. */
struct odd {
    tt_ref next;
    uint64_t value;
};
static const tt_type odd_type = TT_TYPE_INIT(struct odd, next);
static const tt_type tiny_type = {TT_TYPE_SIG, "tiny", TT_KIND_ATOMIC, 0, 0, 0, NULL, NULL, NULL};

static atomic_long cust_traced, tinyc_traced;

struct cust {
    tt_ref a, b;
    uint64_t value;
};
static void trace_cust(tt_tracer *tr, void *payload)
{
    struct cust *c = payload;
    atomic_fetch_add(&cust_traced, 1);
    tt_trace_field(tr, &c->a);
    tt_trace_field(tr, &c->b);
}
static const tt_type cust_type = TT_CUSTOM_TYPE_INIT(struct cust, trace_cust);

static void trace_tinyc(tt_tracer *tr, void *payload)
{
    (void)tr;
    (void)payload;
    atomic_fetch_add(&tinyc_traced, 1);
}
static const tt_type tinyc_type = {TT_TYPE_SIG, "tinyc", TT_KIND_CUSTOM, 0, 0, 0, NULL, trace_tinyc, NULL};

static void test_parallel_mark_shapes(void)
{
    enum { GROUPS = 200, PER = 100, NC = GROUPS * PER };
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.mark_threads = 2;
    cfg.parallel_mark_min = 1; /* share from the first drain, small as the heap is */
    cfg.on_misuse = count_misuse;
    atomic_store(&misuses, 0);
    tt_heap *h = tt_heap_open(&cfg);
    REQUIRE(h != NULL);
    my_role = ROLE_MAIN;
    tt_thread *t = tt_thread_attach(h);
    REQUIRE(t != NULL);
    tt_frame f = tt_frame_push(t, 8);
    /* tiny objects by groups in arrays, the arrays in `tarr`; chains of odd
     * objects, their heads in `odds`; custom objects, each held by both
     * large arrays, custs1 in order and custs2 in reverse, pointing at a
     * tiny object and an odd one; tiny custom objects in `tcs` */
    tt_local tarr = tt_local_new(t, tt_alloc_array(t, &tt_refs_type, GROUPS));
    tt_local odds = tt_local_new(t, tt_alloc_array(t, &tt_refs_type, GROUPS));
    tt_local custs1 = tt_local_new(t, tt_alloc_array(t, &tt_refs_type, NC));
    tt_local custs2 = tt_local_new(t, tt_alloc_array(t, &tt_refs_type, NC));
    tt_local tcs = tt_local_new(t, tt_alloc_array(t, &tt_refs_type, NC));
    REQUIRE(!tt_is_null(tt_local_get(t, tarr)) && !tt_is_null(tt_local_get(t, odds)) &&
            !tt_is_null(tt_local_get(t, custs1)) && !tt_is_null(tt_local_get(t, custs2)) &&
            !tt_is_null(tt_local_get(t, tcs)));
    for (int g = 0; g < GROUPS; g++) {
        tt_frame gf = tt_frame_push(t, 4);
        tt_local arr = tt_local_new(t, tt_alloc_array(t, &tt_refs_type, PER));
        REQUIRE(!tt_is_null(tt_local_get(t, arr)));
        tt_array_set(t, tt_local_get(t, tarr), (size_t)g, tt_local_get(t, arr));
        tt_local chain = tt_local_new(t, TT_NULL);
        for (int i = 0; i < PER; i++) {
            tt_ref tiny = tt_alloc(t, &tiny_type);
            REQUIRE(!tt_is_null(tiny));
            tt_array_set(t, tt_local_get(t, arr), (size_t)i, tiny);
            tt_ref o = tt_alloc(t, &odd_type);
            REQUIRE(!tt_is_null(o));
            TT_PTR(struct odd, o)->value = (uint64_t)g * PER + (uint64_t)i;
            tt_store(t, o, &TT_PTR(struct odd, o)->next, tt_local_get(t, chain));
            tt_local_set(t, chain, o);
        }
        tt_array_set(t, tt_local_get(t, odds), (size_t)g, tt_local_get(t, chain));
        tt_frame_pop(t, gf, TT_NO_LOCAL);
    }
    for (int k = 0; k < NC; k++) {
        tt_ref c = tt_alloc(t, &cust_type);
        REQUIRE(!tt_is_null(c));
        TT_PTR(struct cust, c)->value = (uint64_t)k;
        tt_ref arr = tt_array_get(tt_local_get(t, tarr), (size_t)(k / PER));
        tt_store(t, c, &TT_PTR(struct cust, c)->a, tt_array_get(arr, (size_t)(k % PER)));
        tt_store(t, c, &TT_PTR(struct cust, c)->b,
                 tt_array_get(tt_local_get(t, odds), (size_t)(k / PER)));
        tt_array_set(t, tt_local_get(t, custs1), (size_t)k, c);
        tt_array_set(t, tt_local_get(t, custs2), (size_t)(NC - 1 - k), c);
        tt_ref tc = tt_alloc(t, &tinyc_type);
        REQUIRE(!tt_is_null(tc));
        tt_array_set(t, tt_local_get(t, tcs), (size_t)k, tc);
    }
    /* the five arrays, GROUPS tiny arrays, and per group PER tiny, odd,
     * custom and tiny custom objects */
    uint64_t live = 5 + GROUPS + 4 * (uint64_t)NC;
    for (int round = 0; round < 4; round++) {
        atomic_store(&cust_traced, 0);
        atomic_store(&tinyc_traced, 0);
        CHECK_EQ(tt_collect(t), TT_OK);
        tt_stats st = tt_test_stats(h);
        CHECK_EQU(st.live_objects, live);
        CHECK_EQU(st.mark_threads, 2);
        CHECK_EQ(atomic_load(&cust_traced), NC);
        CHECK_EQ(atomic_load(&tinyc_traced), NC);
        /* allocate over the freed slots of any object wrongly found dead */
        for (int i = 0; i < 4 * NC; i++) {
            tt_ref r = tt_alloc(t, (i & 1) ? &tiny_type : &odd_type);
            REQUIRE(!tt_is_null(r));
            if (i & 1) continue;
            TT_PTR(struct odd, r)->value = UINT64_MAX;
        }
    }
    int bad = 0;
    for (int k = 0; k < NC; k++) {
        tt_ref c = tt_array_get(tt_local_get(t, custs1), (size_t)k);
        bad += !tt_same(c, tt_array_get(tt_local_get(t, custs2), (size_t)(NC - 1 - k)));
        bad += TT_PTR(struct cust, c)->value != (uint64_t)k;
        bad += tt_type_of(TT_PTR(struct cust, c)->a) != &tiny_type;
        bad += tt_type_of(tt_array_get(tt_local_get(t, tcs), (size_t)k)) != &tinyc_type;
    }
    for (int g = 0; g < GROUPS; g++) {
        tt_ref o = tt_array_get(tt_local_get(t, odds), (size_t)g);
        for (int i = PER; i-- > 0; o = TT_PTR(struct odd, o)->next)
            bad += tt_is_null(o) || TT_PTR(struct odd, o)->value != (uint64_t)g * PER + (uint64_t)i;
        tt_ref arr = tt_array_get(tt_local_get(t, tarr), (size_t)g);
        for (int i = 0; i < PER; i++) bad += tt_type_of(tt_array_get(arr, (size_t)i)) != &tiny_type;
    }
    CHECK_EQ(bad, 0);
    tt_verify_report rep;
    CHECK_EQ(tt_heap_verify(t, &rep), TT_OK);
    CHECK_EQU(rep.objects, live);
    CHECK_EQU(rep.errors, 0);
    CHECK_EQ(atomic_load(&misuses), 0);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_thread_detach(t);
    tt_heap_close(h);
}

/* Heaps opened and closed in a row, each with a thread attached and
 * detached, and some with a finalizer thread: whatever the thread
 * machinery takes per heap (thread-exit keys, helpers) is given back, so
 * the thousandth heap opens like the first. */
static void test_many_heaps(void)
{
    int n = SLOW ? 1100 : 1500, failed = 0;
    for (int i = 0; i < n; i++) {
        tt_config cfg;
        tt_config_init(&cfg);
        cfg.finalizer_thread = i % 50 == 0;
        cfg.mark_threads = 2;
        tt_heap *h = tt_heap_open(&cfg);
        tt_thread *t = h ? tt_thread_attach(h) : NULL;
        if (!t) {
            if (!failed)
                fprintf(stderr, "heap %d: %s\n", i, tt_last_error()->message);
            failed++;
            tt_heap_close(h);
            continue;
        }
        tt_ref r = tt_alloc(t, &leaf_type);
        if (tt_is_null(r)) failed++;
        tt_thread_detach(t);
        tt_heap_close(h);
    }
    CHECK_EQ(failed, 0);
}

/* tt_foreign_addr reads a live object's address without the heap lock
 * (unchecked mode; checked mode locks, and calls a read after release
 * a misuse). One thread reads the addresses of foreign objects held in
 * globals while another releases them: every read is the object's own
 * address, or NULL with TT_ESTATE once it was released, never anything
 * else; each cleanup runs once. ThreadSanitizer runs this test too. */
enum { ADDR_OBJS = 64, ADDR_ROUNDS = 400 };
struct addr_share {
    tt_heap *h;
    tt_global g[ADDR_OBJS];
    char slots[ADDR_OBJS];
    int released; /* atomic: how many the releaser released */
    int bad;      /* reads that were neither the address nor a clean NULL */
    long nulls;
};
/* A cleanup that counts its runs in the int env points to (atomic: the
 * tests below run cleanups on several threads). */
static void count_into(tt_thread *t, tt_ref obj, void *env)
{
    (void)t;
    (void)obj;
    __atomic_fetch_add((int *)env, 1, __ATOMIC_RELAXED);
}
static int addr_frees;
static void *addr_reader(void *arg)
{
    struct addr_share *s = arg;
    tt_thread *t = tt_thread_attach(s->h);
    if (!t) {
        s->bad++;
        return NULL;
    }
    for (int r = 0; r < ADDR_ROUNDS; r++) {
        for (int i = 0; i < ADDR_OBJS; i++) {
            tt_clear_error();
            void *p = tt_foreign_addr(t, tt_global_get(t, s->g[i]));
            if (p == &s->slots[i]) continue;
            if (p == NULL && tt_last_error()->code == TT_ESTATE)
                s->nulls++;
            else
                s->bad++;
        }
        if (__atomic_load_n(&s->released, __ATOMIC_ACQUIRE) == ADDR_OBJS) break;
    }
    tt_thread_detach(t);
    return NULL;
}
static void test_foreign_addr_unlocked(void)
{
    static struct addr_share s;
    memset(&s, 0, sizeof s);
    addr_frees = 0;
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.checked = TT_CHECKED_OFF; /* the unlocked read is the unchecked path */
    s.h = tt_heap_open(&cfg);
    tt_thread *t = tt_thread_attach(s.h);
    REQUIRE(t != NULL);
    for (int i = 0; i < ADDR_OBJS; i++)
        s.g[i] = tt_global_new(t, tt_foreign_new(t, &s.slots[i], 16, count_into, &addr_frees));
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, addr_reader, &s) == 0);
    for (int i = 0; i < ADDR_OBJS; i++) {
        usleep(200);
        CHECK_EQ(tt_release(t, tt_global_get(t, s.g[i])), TT_OK);
        __atomic_store_n(&s.released, i + 1, __ATOMIC_RELEASE);
    }
    pthread_join(th, NULL);
    CHECK_EQ(s.bad, 0);
    CHECK_EQ(addr_frees, ADDR_OBJS);
    for (int i = 0; i < ADDR_OBJS; i++) {
        tt_clear_error();
        CHECK(tt_foreign_addr(t, tt_global_get(t, s.g[i])) == NULL);
        CHECK_ERR(TT_ESTATE);
    }
    tt_heap_close(s.h);
    CHECK_EQ(addr_frees, ADDR_OBJS);
}

/* tt_release's unlocked path against itself and against collections:
 * two threads release the same foreign objects (held in globals) while a
 * third collects. Each cleanup runs exactly once; each call returns TT_OK
 * or, once the other finished it, TT_ESTATE; the cleanups see the
 * object's own address; the stats count each run once and nothing stale
 * as live. ThreadSanitizer runs this test too. */
enum { RACE_OBJS = 2000 };
struct race_share {
    tt_heap *h;
    tt_global g[RACE_OBJS];
    char slots[RACE_OBJS];
    int runs[RACE_OBJS]; /* atomic */
    int bad;             /* atomic: unexpected results or addresses */
    int done;            /* atomic: releasers finished */
    int garbage_made, garbage_runs; /* the collector thread's own objects */
};

static void race_cleanup(tt_thread *t, tt_ref obj, void *env)
{
    struct race_share *s = env;
    char *p = tt_foreign_addr(t, obj);
    if (!p || p < s->slots || p >= s->slots + RACE_OBJS) {
        __atomic_fetch_add(&s->bad, 1, __ATOMIC_RELAXED);
        return;
    }
    __atomic_fetch_add(&s->runs[p - s->slots], 1, __ATOMIC_RELAXED);
}
static void *race_releaser(void *arg)
{
    struct race_share *s = arg;
    tt_thread *t = tt_thread_attach(s->h);
    if (t) {
        for (int i = 0; i < RACE_OBJS; i++) {
            int rc = tt_release(t, tt_global_get(t, s->g[i]));
            if (rc != TT_OK && rc != TT_ESTATE) __atomic_fetch_add(&s->bad, 1, __ATOMIC_RELAXED);
        }
        tt_thread_detach(t);
    } else {
        __atomic_fetch_add(&s->bad, 1, __ATOMIC_RELAXED);
    }
    __atomic_fetch_add(&s->done, 1, __ATOMIC_RELEASE);
    return NULL;
}
static void *race_collector(void *arg)
{
    struct race_share *s = arg;
    tt_thread *t = tt_thread_attach(s->h);
    if (!t) return NULL;
    while (__atomic_load_n(&s->done, __ATOMIC_ACQUIRE) < 2) {
        tt_collect(t);
        /* Garbage released unlocked, for the purge to meet dead. */
        for (int i = 0; i < 50; i++) {
            if (tt_release(t, tt_foreign_new(t, NULL, 0, count_into, &s->garbage_runs)) != TT_OK)
                __atomic_fetch_add(&s->bad, 1, __ATOMIC_RELAXED);
            s->garbage_made++;
        }
    }
    tt_thread_detach(t);
    return NULL;
}
static void test_release_race(void)
{
    static struct race_share s;
    memset(&s, 0, sizeof s);
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.checked = TT_CHECKED_OFF; /* the unlocked path is the unchecked one */
    s.h = tt_heap_open(&cfg);
    tt_thread *t = tt_thread_attach(s.h);
    REQUIRE(t != NULL);
    for (int i = 0; i < RACE_OBJS; i++)
        s.g[i] = tt_global_new(t, tt_foreign_new(t, &s.slots[i], 0, race_cleanup, &s));
    tt_stats st0, st;
    tt_heap_stats(s.h, &st0);
    pthread_t th[3];
    REQUIRE(pthread_create(&th[0], NULL, race_releaser, &s) == 0);
    REQUIRE(pthread_create(&th[1], NULL, race_releaser, &s) == 0);
    REQUIRE(pthread_create(&th[2], NULL, race_collector, &s) == 0);
    /* Blocked in join: a foreign region, so collections need not wait. */
    CHECK_EQ(tt_foreign_region_enter(t), TT_OK);
    for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
    CHECK_EQ(tt_foreign_region_leave(t), TT_OK);
    int once = 0;
    for (int i = 0; i < RACE_OBJS; i++) once += s.runs[i] == 1;
    CHECK_EQ(once, RACE_OBJS);
    tt_collect(t);
    tt_heap_stats(s.h, &st);
    CHECK_EQU(st.cleanups_live, st0.cleanups_live - RACE_OBJS);
    for (int i = 0; i < RACE_OBJS; i++) tt_global_free(t, s.g[i]);
    tt_heap_close(s.h);
    /* The collector's NULL-addressed objects count as bad in their cleanup:
     * they are released by tt_release before close, so each ran with a
     * NULL address? No: their address is NULL from the start. */
}

/* tt_foreign_new without the lock on several threads at once: two
 * producers make objects (each first registers its function under the
 * lock, then goes without it), releasing a third of them, dropping the
 * rest, while a third thread collects and asks for leak reports. Every
 * cleanup runs exactly once, by release, by finalization or at close; a
 * collection never sweeps an object whose base was still waiting in a
 * ring. Then the order across threads: an object made without the lock
 * on one thread before that thread signals another, which then makes one
 * with the lock, runs after it at close (newest first). ThreadSanitizer
 * runs this test too. */
enum { PROD_OBJS = 20000 };
struct prod_share {
    tt_heap *h;
    int runs[2][PROD_OBJS]; /* atomic */
    int done;               /* atomic: producers finished */
    int order[2], norder;   /* close order of the two-thread pair */
};
struct prod_env {
    struct prod_share *s;
    int who, i;
};
static struct prod_env prod_envs[2][PROD_OBJS];
static void prod_cleanup(tt_thread *t, tt_ref obj, void *env)
{
    (void)t;
    (void)obj;
    struct prod_env *e = env;
    __atomic_fetch_add(&e->s->runs[e->who][e->i], 1, __ATOMIC_RELAXED);
}
static void *producer(void *arg)
{
    struct prod_env *first = arg;
    struct prod_share *s = first->s;
    tt_thread *t = tt_thread_attach(s->h);
    if (t) {
        for (int i = 0; i < PROD_OBJS; i++) {
            struct prod_env *e = &prod_envs[first->who][i];
            tt_ref r = tt_foreign_new(t, e, 0, prod_cleanup, e);
            if (i % 3 == 0) (void)tt_release(t, r);
        }
        tt_thread_detach(t);
    }
    __atomic_fetch_add(&s->done, 1, __ATOMIC_RELEASE);
    return NULL;
}
static void count_leaks(const tt_leak *leak, void *ctx)
{
    (void)leak;
    (void)ctx;
}
static void *prod_collector(void *arg)
{
    struct prod_share *s = arg;
    tt_thread *t = tt_thread_attach(s->h);
    if (!t) return NULL;
    while (__atomic_load_n(&s->done, __ATOMIC_ACQUIRE) < 2) {
        tt_collect(t);
        tt_run_finalizers(t, 0);
        (void)tt_heap_leaks(t, count_leaks, NULL);
    }
    tt_thread_detach(t);
    return NULL;
}

static pthread_mutex_t pair_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pair_cv = PTHREAD_COND_INITIALIZER;
static int pair_made;
static void pair_cleanup(tt_thread *t, tt_ref obj, void *env)
{
    (void)t;
    (void)obj;
    struct prod_share *s = tt_foreign_addr(t, obj);
    if (s->norder < 2) s->order[s->norder++] = (int)(intptr_t)env;
}
static void *pair_first(void *arg)
{
    struct prod_share *s = arg;
    tt_thread *t = tt_thread_attach(s->h);
    if (!t) return NULL;
    /* Registered once under the lock (held by a global), then the one
     * that matters, without it. */
    (void)tt_global_new(t, tt_foreign_new(t, s, 1, pair_cleanup, (void *)(intptr_t)0));
    (void)tt_global_new(t, tt_foreign_new(t, s, 0, pair_cleanup, (void *)(intptr_t)1));
    /* Still attached (its ring not drained by a detach) while the other
     * thread registers: only that thread's lock can put ours first. */
    (void)tt_foreign_region_enter(t);
    pthread_mutex_lock(&pair_mu);
    pair_made = 1;
    pthread_cond_broadcast(&pair_cv);
    while (pair_made != 2) pthread_cond_wait(&pair_cv, &pair_mu);
    pthread_mutex_unlock(&pair_mu);
    (void)tt_foreign_region_leave(t);
    tt_thread_detach(t);
    return NULL;
}
static void *pair_second(void *arg)
{
    struct prod_share *s = arg;
    pthread_mutex_lock(&pair_mu);
    while (!pair_made) pthread_cond_wait(&pair_cv, &pair_mu);
    pthread_mutex_unlock(&pair_mu);
    tt_thread *t = tt_thread_attach(s->h);
    if (!t) return NULL;
    (void)tt_global_new(t, tt_foreign_new(t, s, 64, pair_cleanup, (void *)(intptr_t)2));
    tt_thread_detach(t);
    pthread_mutex_lock(&pair_mu);
    pair_made = 2;
    pthread_cond_broadcast(&pair_cv);
    pthread_mutex_unlock(&pair_mu);
    return NULL;
}

/* Objects made without the lock, dropped, and their thread then parked
 * in a foreign region without taking the lock again: the collection on
 * another thread must register them (its stop drains the rings), not
 * sweep them unregistered. */
static int region_made, region_runs;
static void *region_maker(void *arg)
{
    struct prod_share *s = arg;
    tt_thread *t = tt_thread_attach(s->h);
    if (!t) return NULL;
    (void)tt_release(t, tt_foreign_new(t, NULL, 1, count_into, &region_runs)); /* registers the function */
    for (int i = 0; i < 50; i++) (void)tt_foreign_new(t, NULL, 0, count_into, &region_runs);
    (void)tt_foreign_region_enter(t);
    pthread_mutex_lock(&pair_mu);
    region_made = 1;
    pthread_cond_broadcast(&pair_cv);
    while (region_made != 2) pthread_cond_wait(&pair_cv, &pair_mu);
    pthread_mutex_unlock(&pair_mu);
    (void)tt_foreign_region_leave(t);
    tt_thread_detach(t);
    return NULL;
}

static void test_new_unlocked_threads(void)
{
    static struct prod_share s;
    memset(&s, 0, sizeof s);
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.checked = TT_CHECKED_OFF; /* the unlocked paths are the unchecked ones */
    s.h = tt_heap_open(&cfg);
    REQUIRE(s.h != NULL);
    for (int w = 0; w < 2; w++)
        for (int i = 0; i < PROD_OBJS; i++) prod_envs[w][i] = (struct prod_env){&s, w, i};
    pthread_t th[3];
    REQUIRE(pthread_create(&th[0], NULL, producer, &prod_envs[0][0]) == 0);
    REQUIRE(pthread_create(&th[1], NULL, producer, &prod_envs[1][0]) == 0);
    REQUIRE(pthread_create(&th[2], NULL, prod_collector, &s) == 0);
    for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
    tt_heap_close(s.h);
    int once = 0;
    for (int w = 0; w < 2; w++)
        for (int i = 0; i < PROD_OBJS; i++) once += s.runs[w][i] == 1;
    CHECK_EQ(once, 2 * PROD_OBJS);

    memset(&s, 0, sizeof s);
    pair_made = 0;
    s.h = tt_heap_open(&cfg);
    REQUIRE(s.h != NULL);
    REQUIRE(pthread_create(&th[0], NULL, pair_first, &s) == 0);
    REQUIRE(pthread_create(&th[1], NULL, pair_second, &s) == 0);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    tt_heap_close(s.h);
    CHECK_EQ(s.norder, 2);
    CHECK_EQ(s.order[0], 2);
    CHECK_EQ(s.order[1], 1);

    memset(&s, 0, sizeof s);
    region_made = region_runs = 0;
    s.h = tt_heap_open(&cfg);
    tt_thread *t = s.h ? tt_thread_attach(s.h) : NULL;
    REQUIRE(t != NULL);
    REQUIRE(pthread_create(&th[0], NULL, region_maker, &s) == 0);
    CHECK_EQ(tt_foreign_region_enter(t), TT_OK);
    pthread_mutex_lock(&pair_mu);
    while (region_made != 1) pthread_cond_wait(&pair_cv, &pair_mu);
    pthread_mutex_unlock(&pair_mu);
    CHECK_EQ(tt_foreign_region_leave(t), TT_OK);
    tt_collect(t);
    tt_run_finalizers(t, 0);
    CHECK_EQ(region_runs, 51);
    pthread_mutex_lock(&pair_mu);
    region_made = 2;
    pthread_cond_broadcast(&pair_cv);
    pthread_mutex_unlock(&pair_mu);
    CHECK_EQ(tt_foreign_region_enter(t), TT_OK);
    pthread_join(th[0], NULL);
    CHECK_EQ(tt_foreign_region_leave(t), TT_OK);
    tt_heap_close(s.h);
}

/* Prepend n nodes to the list in l. */
static void grow_list(tt_thread *t, tt_local l, int n)
{
    for (int i = 0; i < n; i++) {
        tt_ref r = tt_alloc(t, &node_type);
        REQUIRE(!tt_is_null(r));
        tt_store(t, r, &TT_PTR(struct node, r)->right, tt_local_get(t, l));
        tt_local_set(t, l, r);
    }
}

/* Drains share work only when the heap is big enough to repay it: below
 * parallel_mark_min live bytes (as found by the last collection) a drain
 * first marks parallel_mark_min / 32 objects alone; at or above it, 16,384.
 * With 2 markers and a 2 MiB mark: 30,000 nodes (about 1 MiB) are marked
 * alone although they are more than 16,384; 110,000 (3.4 MiB, more than
 * 65,536) are shared in the first drain that sees them, and in the next.
 * The default mark (16 MiB) keeps the 30,000 alone too, whatever the
 * cores. */
static void test_parallel_mark_min(void)
{
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.mark_threads = 2;
    cfg.parallel_mark_min = 2 << 20;
    tt_heap *h = tt_heap_open(&cfg);
    REQUIRE(h != NULL);
    tt_thread *t = tt_thread_attach(h);
    REQUIRE(t != NULL);
    tt_frame f = tt_frame_push(t, 1);
    tt_local l = tt_local_new(t, TT_NULL);
    grow_list(t, l, 30000);
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(tt_collect(t), TT_OK);
        tt_stats st = tt_test_stats(h);
        CHECK_EQU(st.live_objects, 30000);
        CHECK_CMPU(st.live_bytes, <, (uint64_t)cfg.parallel_mark_min);
        CHECK_EQU(st.mark_threads, 1);
    }
    grow_list(t, l, 80000);
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(tt_collect(t), TT_OK);
        tt_stats st = tt_test_stats(h);
        CHECK_EQU(st.live_objects, 110000);
        CHECK_CMPU(st.live_bytes, >=, (uint64_t)cfg.parallel_mark_min);
        CHECK_EQU(st.mark_threads, 2);
    }
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_thread_detach(t);
    tt_heap_close(h);

    tt_config_init(&cfg); /* one marker per core, 16 MiB */
    h = tt_heap_open(&cfg);
    REQUIRE(h != NULL);
    t = tt_thread_attach(h);
    REQUIRE(t != NULL);
    f = tt_frame_push(t, 1);
    l = tt_local_new(t, TT_NULL);
    grow_list(t, l, 30000);
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(tt_collect(t), TT_OK);
        CHECK_EQU(tt_test_stats(h).mark_threads, 1);
    }
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_thread_detach(t);
    tt_heap_close(h);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    RUN(test_many_heaps);
    RUN(test_foreign_addr_unlocked);
    RUN(test_release_race);
    RUN(test_new_unlocked_threads);
    RUN(test_mt_without_finalizer_thread);
    RUN(test_mt_with_finalizer_thread);
    RUN(test_finalizer_thread_and_explicit_runs);
    RUN(test_finalizer_thread_batches);
    RUN(test_parallel_mark_shapes);
    RUN(test_parallel_mark_min);
    return tt_test_done();
}
