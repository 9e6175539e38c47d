/*
 * test_death.c: every misuse of the catalogue (docs/checked-mode.md) that
 * the default misuse handler reports kills the program with SIGABRT after
 * printing the name of the misuse and the caller's file:line. Each case
 * runs in a forked child (tt_test.h) whose stderr is captured; the line
 * checked is the one marked with DEATH_LINE() in the child, which is the
 * line of the offending call.
 *
 * Checked mode (the heap is opened with TT_CHECKED_ON, or TT_CHECKED=1):
 *   locals and frames    local-after-pop, local-other-thread (from a
 *                        second pthread), local-not-object,
 *                        frame-pop-order, frame-capacity,
 *                        frame-open-at-detach
 *   threads and regions  wrong-thread (from an unattached and from an
 *                        attached pthread), heap-in-foreign-region,
 *                        foreign-region-twice, foreign-region-not-entered,
 *                        thread-exit-attached (the report names the site
 *                        where the exiting pthread attached)
 *   handles              global-double-free, global-after-free,
 *                        weak-double-free, weak-after-free,
 *                        handle-not-object (tt_global_new, tt_global_set,
 *                        tt_weak_new, tt_weak_new_cb, tt_ephemeron_new,
 *                        tt_wtable_put), bad-wtable and bad-guardian of a
 *                        freed table or guardian
 *   objects and types    store-not-object, store-bad-field, wrong-type,
 *                        cast-not-object, bad-type, bad-static-object
 *   foreign objects      release-twice, foreign-after-release,
 *   and cleanups         not-foreign, cleanup-not-object, cleanup-none,
 *                        resurrection (with forbid_resurrection)
 *   lifecycle            heap-closed, thread-detached
 * Every mode (each also with a heap opened TT_CHECKED_OFF):
 *   bad-heap, bad-thread, bad-guardian and bad-wtable of a pointer that
 *   is not one, heap-corrupt (verify_collections).
 * Some reports carry no call site ("?:0"): heap-corrupt, found by the
 * verifier after a collection, and those of tt_heap_close (bad-heap, and
 * heap-closed for a heap closed twice); for them only the name and
 * SIGABRT are checked, after the child reached its DEATH_LINE()
 * (CHECK_DIES_NO_SITE). Without
 * checked mode a stale local is an error status, not a death
 * (test_unchecked_lives).
 */
#include <pthread.h>

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

/* The children of the every-mode misuses take the mode as their argument:
 * &mode_on or &mode_off. */
static int mode_on = TT_CHECKED_ON, mode_off = TT_CHECKED_OFF;

static tt_heap *open_mode(void *arg, int verify_collections)
{
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.checked = *(const int *)arg;
    cfg.verify_collections = verify_collections;
    tt_heap *h = tt_heap_open(&cfg);
    if (!h) _exit(90);
    return h;
}

/* Run fn(arg) on a new pthread of the child and wait for it; t (may be
 * NULL), the child's main thread, waits inside a foreign region. */
static void in_pthread(tt_thread *t, void *(*fn)(void *), void *arg)
{
    pthread_t th;
    if (pthread_create(&th, NULL, fn, arg) != 0) _exit(93);
    if (t && tt_foreign_region_enter(t) != TT_OK) _exit(94);
    pthread_join(th, NULL);
    if (t && tt_foreign_region_leave(t) != TT_OK) _exit(95);
}

/* Readable memory that is no tether heap, thread, guardian or table: their
 * signature words are not zero. */
static uint64_t junk[64];

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

/* A handle whose serial names the innermost frame but whose slot bits
 * were changed: checked mode trusts the frame's record, not the bits. */
static void frame_pop_forged(void *arg)
{
    (void)arg;
    tt_thread *t = attach(open_checked());
    tt_frame f1 = tt_frame_push(t, 1);
    tt_frame forged = {f1.bits + 1};
    DEATH_LINE(); tt_frame_pop(t, forged, TT_NO_LOCAL);
}

/* The report of a frame's capacity names the site the frame was pushed
 * at (given explicitly here, as a wrapper would pass its caller's). */
static void frame_capacity_site(void *arg)
{
    (void)arg;
    tt_thread *t = attach(open_checked());
    tt_frame_push_at(t, 1, "push-site.c", 4242);
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

/* The same after good stores into the same object: what those proved
 * about the type's fields does not cover another field. */
static void store_bad_field_after_good(void *arg)
{
    (void)arg;
    tt_thread *t = attach(open_checked());
    tt_local l = tt_local_new(t, tt_alloc(t, &pair_type));
    tt_ref p = tt_local_get(t, l);
    tt_store(t, p, &TT_PTR(struct pair, p)->a, p);
    tt_store(t, p, &TT_PTR(struct pair, p)->b, p);
    DEATH_LINE(); tt_store(t, p, (tt_ref *)&TT_PTR(struct pair, p)->v, p);
}

/* tt_cast to another type than the object's, right after making it (so
 * the thread knows it live), and of something that is not an object. */
static void cast_wrong_type(void *arg)
{
    (void)arg;
    tt_thread *t = attach(open_checked());
    static const tt_type other_type = TT_ATOMIC_TYPE_INIT(uint64_t);
    tt_ref p = tt_alloc(t, &pair_type);
    DEATH_LINE(); tt_cast(t, p, &other_type);
}

static void cast_not_object(void *arg)
{
    (void)arg;
    static uint64_t fake[4];
    tt_thread *t = attach(open_checked());
    DEATH_LINE(); tt_cast(t, (tt_ref){(uintptr_t)&fake[1]}, &pair_type);
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

/* The same right after a good tt_alloc of that type: the type is valid,
 * but not as an array. */
static void bad_type_array_after_alloc(void *arg)
{
    (void)arg;
    tt_thread *t = attach(open_checked());
    tt_frame_push(t, 1);
    tt_local_new(t, tt_alloc(t, &pair_type));
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

/* -- locals and frames, continued -- */

struct other {
    tt_heap *h;
    tt_thread *t; /* the child's main thread */
    tt_local l;   /* a local of t */
};

static void *local_other_thread_body(void *arg)
{
    struct other *x = arg;
    tt_thread *tb = attach(x->h);
    DEATH_LINE(); tt_local_get(tb, x->l);
    tt_thread_detach(tb);
    return NULL;
}

static void local_other_thread(void *arg)
{
    (void)arg;
    struct other x;
    x.h = open_checked();
    x.t = attach(x.h);
    tt_frame_push(x.t, 1);
    x.l = tt_local_new(x.t, tt_alloc(x.t, &pair_type));
    in_pthread(x.t, local_other_thread_body, &x);
}

static void local_not_object(void *arg)
{
    (void)arg;
    tt_thread *t = attach(open_checked());
    void *m = calloc(1, 64);
    DEATH_LINE(); tt_local_new(t, (tt_ref){(uintptr_t)m + 8});
}

static void local_set_not_object(void *arg)
{
    (void)arg;
    static uint64_t fake[4];
    tt_thread *t = attach(open_checked());
    tt_local l = tt_local_new(t, TT_NULL);
    DEATH_LINE(); tt_local_set(t, l, (tt_ref){(uintptr_t)&fake[1]});
}

static void frame_open_at_detach(void *arg)
{
    (void)arg;
    tt_thread *t = attach(open_checked());
    tt_frame_push(t, 1);
    DEATH_LINE(); tt_thread_detach(t);
}

/* -- threads and regions -- */

static void *wrong_thread_unattached_body(void *arg)
{
    struct other *x = arg;
    DEATH_LINE(); tt_collect(x->t);
    return NULL;
}

static void wrong_thread_unattached(void *arg)
{
    (void)arg;
    struct other x;
    x.h = open_checked();
    x.t = attach(x.h);
    in_pthread(NULL, wrong_thread_unattached_body, &x);
}

static void *wrong_thread_attached_body(void *arg)
{
    struct other *x = arg;
    tt_thread *tb = attach(x->h);
    DEATH_LINE(); tt_alloc(x->t, &pair_type);
    tt_thread_detach(tb);
    return NULL;
}

static void wrong_thread_attached(void *arg)
{
    (void)arg;
    struct other x;
    x.h = open_checked();
    x.t = attach(x.h);
    in_pthread(NULL, wrong_thread_attached_body, &x);
}

/* Another OS thread calls the inline paths with a thread whose owner
 * has just made the same calls, so that only the owner test stands
 * between them and the inline checked variants. */
enum { OP_ALLOC, OP_LOCAL_NEW, OP_STORE, OP_PUSH };
struct primed {
    tt_thread *t;
    tt_ref obj; /* a live object, rooted by a local of t */
    int op;
};

static void *wrong_thread_inline_body(void *arg)
{
    struct primed *x = arg;
    struct pair *p = TT_PTR(struct pair, x->obj);
    switch (x->op) {
    case OP_ALLOC: DEATH_LINE(); tt_alloc(x->t, &pair_type); break;
    case OP_LOCAL_NEW: DEATH_LINE(); tt_local_new(x->t, x->obj); break;
    case OP_STORE: DEATH_LINE(); tt_store(x->t, x->obj, &p->a, x->obj); break;
    default: DEATH_LINE(); tt_frame_push(x->t, 1); break;
    }
    return NULL;
}

static void wrong_thread_inline(void *arg)
{
    struct primed x = {.t = attach(open_checked()), .op = *(const int *)arg};
    tt_frame_push(x.t, 8);
    x.obj = tt_alloc(x.t, &pair_type);
    tt_local_new(x.t, x.obj);
    tt_store(x.t, x.obj, &TT_PTR(struct pair, x.obj)->a, x.obj);
    tt_frame_pop(x.t, tt_frame_push(x.t, 1), TT_NO_LOCAL);
    in_pthread(NULL, wrong_thread_inline_body, &x);
}

static void heap_in_foreign_region(void *arg)
{
    (void)arg;
    tt_thread *t = attach(open_checked());
    tt_foreign_region_enter(t);
    DEATH_LINE(); tt_collect(t);
}

static void alloc_in_foreign_region(void *arg)
{
    (void)arg;
    tt_thread *t = attach(open_checked());
    tt_foreign_region_enter(t);
    DEATH_LINE(); tt_alloc(t, &pair_type);
}

static void foreign_region_twice(void *arg)
{
    (void)arg;
    tt_thread *t = attach(open_checked());
    tt_foreign_region_enter(t);
    DEATH_LINE(); tt_foreign_region_enter(t);
}

static void foreign_region_not_entered(void *arg)
{
    (void)arg;
    tt_thread *t = attach(open_checked());
    DEATH_LINE(); tt_foreign_region_leave(t);
}

static void *thread_exit_attached_body(void *arg)
{
    tt_heap *h = arg;
    DEATH_LINE(); tt_thread *tb = tt_thread_attach(h);
    if (!tb) _exit(91);
    return NULL; /* without tt_thread_detach */
}

static void thread_exit_attached(void *arg)
{
    (void)arg;
    in_pthread(NULL, thread_exit_attached_body, open_checked());
}

/* -- handles, continued -- */

static void global_new_not_object(void *arg)
{
    (void)arg;
    static uint64_t fake[4];
    tt_thread *t = attach(open_checked());
    DEATH_LINE(); tt_global_new(t, (tt_ref){(uintptr_t)&fake[1]});
}

static void global_set_not_object(void *arg)
{
    (void)arg;
    tt_thread *t = attach(open_checked());
    tt_global g = tt_global_new(t, TT_NULL);
    void *m = calloc(1, 64);
    DEATH_LINE(); tt_global_set(t, g, (tt_ref){(uintptr_t)m + 8});
}

static void weak_new_not_object(void *arg)
{
    (void)arg;
    static uint64_t fake[4];
    tt_thread *t = attach(open_checked());
    DEATH_LINE(); tt_weak_new(t, (tt_ref){(uintptr_t)&fake[1]});
}

static void weak_cb(tt_thread *t, tt_weak w, void *env)
{
    (void)t;
    (void)w;
    (void)env;
}

static void weak_new_cb_not_object(void *arg)
{
    (void)arg;
    static uint64_t fake[4];
    tt_thread *t = attach(open_checked());
    DEATH_LINE(); tt_weak_new_cb(t, (tt_ref){(uintptr_t)&fake[1]}, weak_cb, NULL);
}

static void ephemeron_not_object(void *arg)
{
    (void)arg;
    static uint64_t fake[4];
    tt_thread *t = attach(open_checked());
    tt_local key = tt_local_new(t, tt_alloc(t, &pair_type));
    DEATH_LINE(); tt_ephemeron_new(t, tt_local_get(t, key), (tt_ref){(uintptr_t)&fake[1]});
}

static void ephemeron_set_not_object(void *arg)
{
    (void)arg;
    static uint64_t fake[4];
    tt_thread *t = attach(open_checked());
    tt_local key = tt_local_new(t, tt_alloc(t, &pair_type));
    tt_local e = tt_local_new(t, tt_ephemeron_new(t, tt_local_get(t, key), TT_NULL));
    DEATH_LINE(); tt_ephemeron_set_value(t, tt_local_get(t, e), (tt_ref){(uintptr_t)&fake[1]});
}

static void wtable_put_not_object(void *arg)
{
    (void)arg;
    static uint64_t fake[4];
    static char addr[8];
    tt_thread *t = attach(open_checked());
    tt_wtable *w = tt_wtable_new(t);
    DEATH_LINE(); tt_wtable_put(t, w, addr, (tt_ref){(uintptr_t)&fake[1]});
}

static void wtable_junk(void *arg)
{
    static char addr[8];
    tt_thread *t = attach(open_mode(arg, 0));
    DEATH_LINE(); tt_wtable_wrap(t, (tt_wtable *)(void *)junk, addr, 0, NULL, NULL, NULL);
}

static void wtable_freed(void *arg)
{
    (void)arg;
    tt_thread *t = attach(open_checked());
    tt_wtable *w = tt_wtable_new(t);
    tt_wtable_free(t, w);
    DEATH_LINE(); tt_wtable_free(t, w);
}

/* -- objects and types, continued -- */

static tt_ref build_junk(tt_thread *t, const tt_static *e)
{
    (void)t;
    (void)e;
    return (tt_ref){(uintptr_t)&junk[1]};
}

static void bad_static_object(void *arg)
{
    (void)arg;
    static tt_static e = TT_STATIC_INIT(TT_STATIC_KIND_OBJECT, "tether", "test_death", "junk",
                                        "struct pair", NULL, NULL, build_junk);
    if (tt_static_register(&e) != TT_OK) _exit(96);
    tt_thread *t = attach(open_checked());
    DEATH_LINE(); tt_static_object(t, &e);
}

struct blob {
    uint64_t w[4];
};
static const tt_type blob_type = TT_ATOMIC_TYPE_INIT(struct blob);

/* A reference forged into the middle of an object, stored past the write
 * barrier, found by the verifier after the next collection. The line
 * marked is that collection's (the report itself names no site). */
static void heap_corrupt(void *arg)
{
    tt_thread *t = attach(open_mode(arg, 1));
    tt_frame_push(t, 2);
    tt_local holder = tt_local_new(t, tt_alloc(t, &pair_type));
    tt_local target = tt_local_new(t, tt_alloc(t, &blob_type));
    if (tt_collect(t) != TT_OK) _exit(97); /* sound so far */
    tt_ref tr = tt_local_get(t, target);
    TT_PTR(struct blob, tr)->w[1] = (uint64_t)(uintptr_t)&blob_type;
    tt_ref forged = {tr.bits + 2 * sizeof(uint64_t)};
    TT_PTR(struct pair, tt_local_get(t, holder))->a = forged; /* no barrier: corruption */
    DEATH_LINE(); tt_collect(t);
}

/* -- foreign objects and cleanups -- */

static char foreign_buf[100];

static tt_local released_foreign(tt_thread *t)
{
    tt_local l = tt_local_new(t, tt_foreign_new(t, foreign_buf, 100, NULL, NULL));
    if (tt_release(t, tt_local_get(t, l)) != TT_OK) _exit(98);
    return l;
}

static void release_twice(void *arg)
{
    (void)arg;
    tt_thread *t = attach(open_checked());
    tt_local l = released_foreign(t);
    DEATH_LINE(); tt_release(t, tt_local_get(t, l));
}

static void foreign_after_release(void *arg)
{
    (void)arg;
    tt_thread *t = attach(open_checked());
    tt_local l = released_foreign(t);
    DEATH_LINE(); tt_foreign_addr(t, tt_local_get(t, l));
}

static void cleanup_fn(tt_thread *t, tt_ref obj, void *env)
{
    (void)t;
    (void)obj;
    (void)env;
}

static void push_after_release(void *arg)
{
    (void)arg;
    tt_thread *t = attach(open_checked());
    tt_local l = released_foreign(t);
    DEATH_LINE(); tt_cleanup_push(t, tt_local_get(t, l), cleanup_fn, NULL);
}

static void not_foreign(void *arg)
{
    (void)arg;
    tt_thread *t = attach(open_checked());
    tt_ref p = tt_alloc(t, &pair_type);
    DEATH_LINE(); tt_foreign_addr(t, p);
}

static void not_foreign_non_object(void *arg)
{
    (void)arg;
    static uint64_t fake[4];
    tt_thread *t = attach(open_checked());
    DEATH_LINE(); tt_external_adjust(t, (tt_ref){(uintptr_t)&fake[1]}, 8);
}

static void cleanup_not_object(void *arg)
{
    (void)arg;
    static uint64_t fake[4];
    tt_thread *t = attach(open_checked());
    DEATH_LINE(); tt_cleanup_push(t, (tt_ref){(uintptr_t)&fake[1]}, cleanup_fn, NULL);
}

static void keep_alive_not_object(void *arg)
{
    (void)arg;
    tt_thread *t = attach(open_checked());
    tt_local l = tt_local_new(t, tt_alloc(t, &pair_type));
    void *m = calloc(1, 64);
    DEATH_LINE(); tt_keep_alive(t, tt_local_get(t, l), (tt_ref){(uintptr_t)m + 8});
}

static void cleanup_none(void *arg)
{
    (void)arg;
    tt_thread *t = attach(open_checked());
    tt_local l = tt_local_new(t, tt_alloc(t, &pair_type));
    DEATH_LINE(); tt_cleanup_run_last(t, tt_local_get(t, l));
}

static void cleanup_none_after_run(void *arg)
{
    (void)arg;
    tt_thread *t = attach(open_checked());
    tt_local l = tt_local_new(t, tt_alloc(t, &pair_type));
    tt_cleanup_push(t, tt_local_get(t, l), cleanup_fn, NULL);
    if (tt_cleanup_run_last(t, tt_local_get(t, l)) != TT_OK) _exit(98);
    DEATH_LINE(); tt_cleanup_run_last(t, tt_local_get(t, l));
}

static void guardian_junk(void *arg)
{
    tt_thread *t = attach(open_mode(arg, 0));
    DEATH_LINE(); tt_guardian_next(t, (tt_guardian *)(void *)junk);
}

/* A block of zeros where a heap, guardian or table is expected. */
static void *not_a_descriptor(void)
{
    void *p = calloc(1, 4096);
    if (!p) _exit(92);
    return p;
}

static void bad_heap_threads(void *arg)
{
    (void)arg;
    tt_heap *h = not_a_descriptor();
    DEATH_LINE(); tt_heap_threads(h);
}

static void bad_heap_stats(void *arg)
{
    (void)arg;
    tt_heap *h = not_a_descriptor();
    tt_stats st;
    DEATH_LINE(); tt_heap_stats(h, &st);
}

static void heap_closed_stats(void *arg)
{
    (void)arg;
    tt_heap *h = open_checked();
    tt_heap_close(h);
    tt_stats st;
    DEATH_LINE(); tt_heap_stats(h, &st);
}

static void bad_guardian_pending(void *arg)
{
    (void)arg;
    tt_guardian *g = not_a_descriptor();
    DEATH_LINE(); tt_guardian_pending(g);
}

static void bad_wtable_count(void *arg)
{
    (void)arg;
    tt_wtable *w = not_a_descriptor();
    DEATH_LINE(); tt_wtable_count(w);
}

static void not_ephemeron(void *arg)
{
    (void)arg;
    tt_thread *t = attach(open_checked());
    tt_local l = tt_local_new(t, tt_alloc(t, &pair_type));
    DEATH_LINE(); tt_ephemeron_key(t, tt_local_get(t, l));
}

static void guardian_freed(void *arg)
{
    (void)arg;
    tt_thread *t = attach(open_checked());
    tt_local l = tt_local_new(t, tt_alloc(t, &pair_type));
    tt_guardian *g = tt_guardian_new(t);
    tt_guardian_free(t, g);
    DEATH_LINE(); tt_guardian_add(t, g, tt_local_get(t, l));
}

/* A cleanup run from the pending queue, with forbid_resurrection, stores
 * its dead object into a global or into a field of a live object. */
static tt_global resurrect_global;
static tt_local resurrect_holder;

static void resurrect_into_global(tt_thread *t, tt_ref obj, void *env)
{
    (void)env;
    DEATH_LINE(); tt_global_set(t, resurrect_global, obj);
}

static void resurrect_into_field(tt_thread *t, tt_ref obj, void *env)
{
    (void)env;
    tt_ref holder = tt_local_get(t, resurrect_holder);
    DEATH_LINE(); tt_store(t, holder, &TT_PTR(struct pair, holder)->a, obj);
}

/* The same after the cleanup made a local of its object and a good store
 * into the holder: neither lets the storing call skip the check. */
static void resurrect_into_field_known(tt_thread *t, tt_ref obj, void *env)
{
    (void)env;
    tt_ref holder = tt_local_get(t, resurrect_holder);
    tt_frame_push(t, 1);
    tt_local_new(t, obj);
    tt_store(t, holder, &TT_PTR(struct pair, holder)->b, holder);
    DEATH_LINE(); tt_store(t, holder, &TT_PTR(struct pair, holder)->a, obj);
}

static void resurrection(void *arg)
{
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.checked = TT_CHECKED_ON;
    cfg.forbid_resurrection = 1;
    tt_heap *h = tt_heap_open(&cfg);
    if (!h) _exit(90);
    tt_thread *t = attach(h);
    resurrect_global = tt_global_new(t, TT_NULL);
    resurrect_holder = tt_local_new(t, tt_alloc(t, &pair_type));
    tt_ref dying = tt_alloc(t, &pair_type); /* held by nothing */
    if (tt_cleanup_push(t, dying, *(const tt_cleanup_fn *)arg, NULL) != TT_OK) _exit(98);
    tt_collect(t);
    tt_run_finalizers(t, 0);
}

/* -- heap lifecycle, continued -- */

/* bad-heap and bad-thread have no heap to take a handler or a mode from:
 * a real heap of the given mode is open beside the junk, and changes
 * nothing. */
static void bad_heap_attach(void *arg)
{
    open_mode(arg, 0);
    DEATH_LINE(); tt_thread_attach((tt_heap *)(void *)junk);
}

static void bad_heap_close(void *arg)
{
    open_mode(arg, 0);
    DEATH_LINE(); tt_heap_close((tt_heap *)(void *)junk);
}

static void bad_thread(void *arg)
{
    attach(open_mode(arg, 0));
    DEATH_LINE(); tt_collect((tt_thread *)(void *)junk);
}

static void bad_thread_guardian(void *arg)
{
    attach(open_mode(arg, 0));
    DEATH_LINE(); tt_guardian_new((tt_thread *)(void *)junk);
}

static void heap_closed_twice(void *arg)
{
    (void)arg;
    tt_heap *h = open_checked();
    tt_heap_close(h);
    DEATH_LINE(); tt_heap_close(h);
}

/* Every mode: an unchecked heap's thread given another heap's guardian or
 * table. */
static tt_heap *open_unchecked(void)
{
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.checked = TT_CHECKED_OFF;
    tt_heap *h = tt_heap_open(&cfg);
    if (!h) _exit(90);
    return h;
}

static void guardian_other_heap(void *arg)
{
    (void)arg;
    tt_thread *ta = attach(open_unchecked()), *tb = attach(open_unchecked());
    tt_guardian *g = tt_guardian_new(ta);
    if (!g) _exit(93);
    DEATH_LINE(); tt_guardian_next(tb, g);
}

static void wtable_other_heap(void *arg)
{
    (void)arg;
    tt_thread *ta = attach(open_unchecked()), *tb = attach(open_unchecked());
    tt_wtable *w = tt_wtable_new(ta);
    if (!w) _exit(93);
    int addr;
    DEATH_LINE(); tt_wtable_get(tb, w, &addr);
}

/* ---- the tests ---- */

/* For the reports that name no call site: the child dies of SIGABRT with
 * `what` on its stderr, after reaching its DEATH_LINE() (the line is not
 * looked for in the report). */
static void check_dies_no_site(int line, const char *fnname, tt_death_fn fn, void *arg,
                               const char *what)
{
    tt_death_result *res = malloc(sizeof *res);
    tt__checks++;
    if (!res) {
        tt__fail(__FILE__, line, "CHECK_DIES_NO_SITE(%s): out of memory", fnname);
        return;
    }
    if (tt_death_run(fn, arg, res) != 0)
        tt__fail(__FILE__, line, "CHECK_DIES_NO_SITE(%s): could not fork: %s", fnname,
                 strerror(errno));
    else if (!res->signaled || res->sig != SIGABRT || !strstr(res->err, what) || res->line <= 0)
        tt__fail(__FILE__, line,
                 "CHECK_DIES_NO_SITE(%s, \"%s\"): %s %d, DEATH_LINE %d; child stderr:\n-----\n%s-----",
                 fnname, what, res->signaled ? "signal" : "exit status",
                 res->signaled ? res->sig : res->status, res->line, res->err);
    free(res);
}

#define CHECK_DIES_NO_SITE(fn, arg, what) check_dies_no_site(__LINE__, #fn, (fn), (arg), (what))

/* A local used after its frame was popped (get, set, env-var checked
 * mode), by another thread than its own (the report names the owner's
 * attach site), or made or set with something that is not an object. */
static void test_locals(void)
{
    CHECK_DIES(local_after_pop, NULL, "local-after-pop");
    CHECK_DIES(local_set_after_pop, NULL, "local-after-pop");
    CHECK_DIES(local_after_pop_env, NULL, "local-after-pop");
    CHECK_DIES(local_other_thread, NULL, "local-other-thread");
    CHECK_DIES(local_not_object, NULL, "local-not-object");
    CHECK_DIES(local_set_not_object, NULL, "local-not-object");
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

/* Frames popped out of order or twice, a frame's capacity passed, a
 * thread detached with a frame still open. */
static void test_frames(void)
{
    CHECK_DIES(frame_pop_order, NULL, "frame-pop-order");
    CHECK_DIES(frame_popped_twice, NULL, "frame-pop-order");
    CHECK_DIES(frame_capacity, NULL, "frame-capacity");
    CHECK_DIES(frame_pop_forged, NULL, "frame-pop-order");
    tt_death_result *res = malloc(sizeof *res);
    REQUIRE(res != NULL);
    CHECK_EQ(tt_death_run(frame_capacity_site, NULL, res), 0);
    CHECK(res->signaled && res->sig == SIGABRT);
    CHECK(strstr(res->err, "frame-capacity") != NULL);
    CHECK(strstr(res->err, "pushed at push-site.c:4242") != NULL);
    free(res);
    CHECK_DIES(frame_open_at_detach, NULL, "frame-open-at-detach");
}

/* A tt_thread used from another OS thread (attached or not), the heap
 * used inside a foreign region, regions entered twice or left unentered,
 * and a pthread exiting attached: the death comes at its exit, on that
 * pthread, and names the line where it attached. */
static void test_threads(void)
{
    CHECK_DIES(wrong_thread_unattached, NULL, "wrong-thread");
    CHECK_DIES(wrong_thread_attached, NULL, "wrong-thread");
    static const int ops[] = {OP_ALLOC, OP_LOCAL_NEW, OP_STORE, OP_PUSH};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        CHECK_DIES(wrong_thread_inline, (void *)&ops[i], "wrong-thread");
    CHECK_DIES(heap_in_foreign_region, NULL, "heap-in-foreign-region");
    CHECK_DIES(alloc_in_foreign_region, NULL, "heap-in-foreign-region");
    CHECK_DIES(foreign_region_twice, NULL, "foreign-region-twice");
    CHECK_DIES(foreign_region_not_entered, NULL, "foreign-region-not-entered");
    CHECK_DIES(thread_exit_attached, NULL, "thread-exit-attached");
}

/* Globals and weak references freed twice or used after free; handles
 * (and wrapper-table entries) given something that is not an object; a
 * wrapper table freed twice. */
static void test_handles(void)
{
    CHECK_DIES(global_double_free, NULL, "global-double-free");
    CHECK_DIES(global_after_free, NULL, "global-after-free");
    CHECK_DIES(global_set_after_free, NULL, "global-after-free");
    CHECK_DIES(weak_double_free, NULL, "weak-double-free");
    CHECK_DIES(weak_after_free, NULL, "weak-after-free");
    CHECK_DIES(global_new_not_object, NULL, "handle-not-object");
    CHECK_DIES(global_set_not_object, NULL, "handle-not-object");
    CHECK_DIES(weak_new_not_object, NULL, "handle-not-object");
    CHECK_DIES(weak_new_cb_not_object, NULL, "handle-not-object");
    CHECK_DIES(ephemeron_not_object, NULL, "handle-not-object");
    CHECK_DIES(ephemeron_set_not_object, NULL, "handle-not-object");
    CHECK_DIES(wtable_put_not_object, NULL, "handle-not-object");
    CHECK_DIES(wtable_freed, NULL, "bad-wtable");
}

static void test_stores(void)
{
    CHECK_DIES(store_malloced, NULL, "store-not-object");
    CHECK_DIES(store_other_heap, NULL, "store-not-object");
    CHECK_DIES(store_dead_object, NULL, "store-not-object");
    CHECK_DIES(store_into_non_object, NULL, "store-not-object");
    CHECK_DIES(store_bad_field, NULL, "store-bad-field");
    CHECK_DIES(store_bad_field_after_good, NULL, "store-bad-field");
    CHECK_DIES(cast_wrong_type, NULL, "wrong-type");
    CHECK_DIES(cast_not_object, NULL, "cast-not-object");
}

/* Type descriptors that were never valid, and a static object whose build
 * function returned something that is not an object. */
static void test_types(void)
{
    CHECK_DIES(bad_type_zeroed, NULL, "bad-type");
    CHECK_DIES(bad_type_garbage, NULL, "bad-type");
    CHECK_DIES(bad_type_array, NULL, "bad-type");
    CHECK_DIES(bad_type_array_after_alloc, NULL, "bad-type");
    CHECK_DIES(bad_static_object, NULL, "bad-static-object");
}

/* A foreign object released twice, or used (its address, a new cleanup)
 * after release; the foreign calls on an object that is not foreign or not
 * an object; the cleanup calls on something that is not an object; a
 * cleanup run where none is left; a guardian used after it was freed. */
static void test_foreign(void)
{
    CHECK_DIES(release_twice, NULL, "release-twice");
    CHECK_DIES(foreign_after_release, NULL, "foreign-after-release");
    CHECK_DIES(push_after_release, NULL, "foreign-after-release");
    CHECK_DIES(not_foreign, NULL, "not-foreign");
    CHECK_DIES(not_foreign_non_object, NULL, "not-foreign");
    CHECK_DIES(cleanup_not_object, NULL, "cleanup-not-object");
    CHECK_DIES(keep_alive_not_object, NULL, "cleanup-not-object");
    CHECK_DIES(cleanup_none, NULL, "cleanup-none");
    CHECK_DIES(cleanup_none_after_run, NULL, "cleanup-none");
    CHECK_DIES(guardian_freed, NULL, "bad-guardian");
}

/* With forbid_resurrection, a cleanup run from the queue that stores its
 * dead object (into a global, into a field) dies at the storing call. */
static void test_resurrection(void)
{
    static const tt_cleanup_fn into_global = resurrect_into_global;
    static const tt_cleanup_fn into_field = resurrect_into_field;
    static const tt_cleanup_fn into_field_known = resurrect_into_field_known;
    CHECK_DIES(resurrection, (void *)&into_global, "resurrection");
    CHECK_DIES(resurrection, (void *)&into_field, "resurrection");
    CHECK_DIES(resurrection, (void *)&into_field_known, "resurrection");
}

static void test_lifecycle(void)
{
    CHECK_DIES(heap_closed_attach, NULL, "heap-closed");
    CHECK_DIES(heap_closed_thread, NULL, "heap-closed");
    CHECK_DIES(thread_detached, NULL, "thread-detached");
    CHECK_DIES(thread_detached_local, NULL, "thread-detached");
    /* tt_heap_close takes no site */
    CHECK_DIES_NO_SITE(heap_closed_twice, NULL, "heap-closed");
}

/* The misuses reported whatever the mode: with a checked heap and with an
 * unchecked one, a pointer that is not a heap, a thread, a guardian or a
 * wrapper table kills the program at the call, and a corrupt heap at the
 * collection that finds it (that report names no call site). */
static void test_every_mode(void)
{
    void *modes[2] = {&mode_on, &mode_off};
    for (int i = 0; i < 2; i++) {
        printf("   %s\n", i == 0 ? "checked" : "unchecked");
        CHECK_DIES(bad_heap_attach, modes[i], "bad-heap");
        CHECK_DIES_NO_SITE(bad_heap_close, modes[i], "bad-heap");
        CHECK_DIES(bad_thread, modes[i], "bad-thread");
        CHECK_DIES(bad_thread_guardian, modes[i], "bad-thread");
        CHECK_DIES(guardian_junk, modes[i], "bad-guardian");
        CHECK_DIES(wtable_junk, modes[i], "bad-wtable");
        CHECK_DIES_NO_SITE(heap_corrupt, modes[i], "heap-corrupt");
    }
}

/* The calls that take a heap, guardian or table and no thread. */
static void test_no_thread(void)
{
    CHECK_DIES(bad_heap_threads, NULL, "bad-heap");
    CHECK_DIES(bad_heap_stats, NULL, "bad-heap");
    CHECK_DIES(heap_closed_stats, NULL, "heap-closed");
    CHECK_DIES(bad_guardian_pending, NULL, "bad-guardian");
    CHECK_DIES(bad_wtable_count, NULL, "bad-wtable");
}

/* Handles of heap A used through a thread of heap B: every heap's first
 * global, weak reference and base-frame local share index, slot and
 * place, so only the heap tag and the process-wide serial ranges tell. */
static void global_other_heap(void *arg)
{
    (void)arg;
    tt_thread *ta = attach(open_checked()), *tb = attach(open_checked());
    tt_global g = tt_global_new(ta, TT_NULL);
    (void)tt_global_new(tb, TT_NULL);
    DEATH_LINE(); tt_global_get(tb, g);
}

static void weak_other_heap(void *arg)
{
    (void)arg;
    tt_thread *ta = attach(open_checked()), *tb = attach(open_checked());
    tt_local la = tt_local_new(ta, tt_alloc(ta, &pair_type));
    tt_weak w = tt_weak_new(ta, tt_local_get(ta, la));
    DEATH_LINE(); tt_weak_get(tb, w);
}

static void local_other_heap(void *arg)
{
    (void)arg;
    tt_thread *ta = attach(open_checked()), *tb = attach(open_checked());
    tt_local la = tt_local_new(ta, tt_alloc(ta, &pair_type));
    (void)tt_local_new(tb, tt_alloc(tb, &pair_type));
    DEATH_LINE(); tt_local_get(tb, la);
}

/* Failed static-table lookups with tt_misuse_abort as the table's misuse
 * handler: fatal, named, at the caller's line. */
static double death_pi = 3.14159;
static TT_STATIC_DATA(death_pi_entry, "tether", "death", "pi", "double", &death_pi);

static void static_wrong_type(void *arg)
{
    (void)arg;
    tt_static_set_misuse_handler(tt_misuse_abort, NULL);
    DEATH_LINE(); tt_static_lookup_data(tt_static_key_of(&death_pi_entry), tt_type_tag_for("int"));
}

static void static_unknown_key(void *arg)
{
    (void)arg;
    tt_static_set_misuse_handler(tt_misuse_abort, NULL);
    DEATH_LINE(); tt_static_lookup(tt_static_key_for("tether", "death", "nothing"), tt_type_tag_for("int"));
}

static void test_static_lookups(void)
{
    CHECK_DIES(static_wrong_type, NULL, "static-wrong-type");
    CHECK_DIES(static_unknown_key, NULL, "static-unknown-key");
}

static void test_weak_things(void)
{
    CHECK_DIES(global_other_heap, NULL, "global-other-heap");
    CHECK_DIES(weak_other_heap, NULL, "weak-other-heap");
    CHECK_DIES(local_other_heap, NULL, "local-other-heap");
    CHECK_DIES(not_ephemeron, NULL, "not-ephemeron");
    CHECK_DIES(guardian_other_heap, NULL, "guardian-other-heap");
    CHECK_DIES(wtable_other_heap, NULL, "wtable-other-heap");
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
    RUN(test_threads);
    RUN(test_handles);
    RUN(test_stores);
    RUN(test_types);
    RUN(test_foreign);
    RUN(test_resurrection);
    RUN(test_lifecycle);
    RUN(test_every_mode);
    RUN(test_no_thread);
    RUN(test_weak_things);
    RUN(test_static_lookups);
    RUN(test_message_shape);
    return tt_test_done();
}
