/*
 * test_threads.c: several heaps used from different OS threads at the same
 * time share nothing; the last-error record belongs to each OS thread; a
 * heap may be handed from one OS thread to another (a tt_thread may not:
 * each OS thread attaches its own).
 */
#include <pthread.h>

#include "tt_test.h"

struct node {
    tt_ref next;
    uint64_t value;
};
static const tt_type node_type = TT_TYPE_INIT(struct node, next);

enum { NTHREADS = 4, ROUNDS = 6, LEN = 5000 };

struct job {
    int id;
    int failures; /* counted here: the harness counters are not atomic */
    uint64_t live_seen[ROUNDS];
};

static int list_ok(tt_ref r, int n, uint64_t base)
{
    for (int i = n - 1; i >= 0; i--) {
        if (tt_is_null(r) || TT_PTR(struct node, r)->value != base + (uint64_t)i) return 0;
        r = TT_PTR(struct node, r)->next;
    }
    return tt_is_null(r);
}

static void *worker(void *arg)
{
    struct job *j = arg;
    for (int round = 0; round < ROUNDS; round++) {
        tt_config cfg;
        tt_config_init(&cfg);
        cfg.initial_size = 64 << 10;
        tt_heap *h = tt_heap_open(&cfg);
        if (!h) {
            j->failures++;
            continue;
        }
        tt_thread *t = tt_thread_attach(h);
        tt_frame f = tt_frame_push(t, 1);
        tt_local head = tt_local_new(t, TT_NULL);
        uint64_t base = (uint64_t)j->id << 40 | (uint64_t)round << 20;
        int n = LEN + j->id * 100;
        for (int i = 0; i < n; i++) {
            tt_ref r = tt_alloc(t, &node_type);
            if (tt_is_null(r)) {
                j->failures++;
                break;
            }
            TT_PTR(struct node, r)->value = base + (uint64_t)i;
            tt_store(t, r, &TT_PTR(struct node, r)->next, tt_local_get(t, head));
            tt_local_set(t, head, r);
            tt_alloc(t, &node_type); /* garbage */
        }
        if (tt_collect(t) != TT_OK) j->failures++;
        tt_stats s;
        tt_heap_stats(h, &s);
        j->live_seen[round] = s.live_objects;
        if (s.live_objects != (uint64_t)n) j->failures++;
        if (!list_ok(tt_local_get(t, head), n, base)) j->failures++;
        /* this OS thread's last error is its own */
        tt_clear_error();
        tt_frame bad = tt_frame_push(t, (size_t)TT_FRAME_MAX_CAPACITY + 1 + (size_t)j->id);
        if (!tt_frame_is_null(bad) || tt_last_error()->code != TT_ERANGE) j->failures++;
        tt_frame_pop(t, f, TT_NO_LOCAL);
        tt_thread_detach(t);
        tt_heap_close(h);
    }
    return NULL;
}

static void test_heaps_in_parallel(void)
{
    pthread_t th[NTHREADS];
    struct job jobs[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].id = i + 1;
        REQUIRE(pthread_create(&th[i], NULL, worker, &jobs[i]) == 0);
    }
    for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < NTHREADS; i++) {
        CHECK_EQ(jobs[i].failures, 0);
        for (int r = 0; r < ROUNDS; r++) CHECK_EQU(jobs[i].live_seen[r], LEN + jobs[i].id * 100);
    }
}

static void *set_error(void *arg)
{
    (void)arg;
    tt_clear_error();
    CHECK(tt_thread_attach(NULL) == NULL); /* TT_EINVAL on this OS thread */
    return (void *)(intptr_t)tt_last_error()->code;
}

static void test_last_error_per_thread(void)
{
    pthread_t th;
    void *ret = NULL;
    tt_clear_error();
    REQUIRE(pthread_create(&th, NULL, set_error, NULL) == 0);
    pthread_join(th, &ret);
    CHECK_EQ((intptr_t)ret, TT_EINVAL);
    CHECK_ERR(TT_OK); /* untouched here */
}

/* A heap handed over: built on one OS thread, used and closed on another.
 * A tt_thread belongs to the OS thread that attached it, so the building
 * thread detaches its own and the finishing thread attaches its own; the
 * object crosses over in a global. */
struct handoff {
    tt_heap *h;
    tt_global g;
    int built;
    int ok;
    size_t threads_built; /* tt_heap_threads after the builder detached */
    size_t threads_finish; /* ... while the finisher is attached */
};

static void *build(void *arg)
{
    struct handoff *x = arg;
    x->h = tt_heap_open(NULL);
    tt_thread *t = x->h ? tt_thread_attach(x->h) : NULL;
    if (!t) return NULL;
    tt_ref r = tt_alloc(t, &node_type);
    if (!tt_is_null(r)) {
        TT_PTR(struct node, r)->value = 4242;
        x->g = tt_global_new(t, r);
        x->built = !tt_global_is_null(x->g);
    }
    tt_thread_detach(t);
    x->threads_built = tt_heap_threads(x->h);
    return NULL;
}

static void *finish(void *arg)
{
    struct handoff *x = arg;
    tt_thread *t = tt_thread_attach(x->h);
    if (!t) return NULL;
    x->threads_finish = tt_heap_threads(x->h);
    for (int i = 0; i < 1000; i++) tt_alloc(t, &node_type);
    tt_ref r = tt_collect(t) == TT_OK ? tt_global_get(t, x->g) : TT_NULL;
    x->ok = !tt_is_null(r) && TT_PTR(struct node, r)->value == 4242;
    tt_stats s;
    tt_heap_stats(x->h, &s);
    x->ok = x->ok && s.live_objects == 1;
    x->ok = x->ok && tt_global_free(t, x->g) == TT_OK;
    tt_thread_detach(t);
    tt_heap_close(x->h);
    return NULL;
}

static void test_handoff(void)
{
    struct handoff x;
    memset(&x, 0, sizeof x);
    pthread_t a, b;
    REQUIRE(pthread_create(&a, NULL, build, &x) == 0);
    pthread_join(a, NULL);
    REQUIRE(x.h != NULL);
    REQUIRE(x.built);
    CHECK_EQU(x.threads_built, 0);
    REQUIRE(pthread_create(&b, NULL, finish, &x) == 0);
    pthread_join(b, NULL);
    CHECK_EQU(x.threads_finish, 1);
    CHECK(x.ok);
}

int main(void)
{
    RUN(test_heaps_in_parallel);
    RUN(test_last_error_per_thread);
    RUN(test_handoff);
    return tt_test_done();
}
