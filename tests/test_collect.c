/*
 * test_collect.c: the collector. What is reachable from locals, globals
 * and fields survives intact; what is not is reclaimed (weak references
 * cleared, exact live counts); custom trace functions are followed; atomic
 * objects and data arrays are never scanned, so bit patterns that look
 * like references keep nothing alive; large objects are reclaimed; the
 * heap grows and shrinks; max_size gives TT_ENOMEM and the heap stays
 * usable; collections are counted; stats print; the verifier and
 * tt_is_object tell good from bad.
 */
#include <time.h>

#include "tt_test.h"

struct pair {
    tt_ref a, b;
    uint64_t v; /* plain bits, never traced */
};
static const tt_type pair_type = TT_TYPE_INIT(struct pair, a, b);

struct blob {
    uint64_t x[5];
};
static const tt_type blob_type = TT_ATOMIC_TYPE_INIT(struct blob);

struct tagged {
    uint64_t tag; /* 1: r is a reference; else r holds plain bits */
    tt_ref r;
    uint64_t w;
};
static void tagged_trace(tt_tracer *tr, void *payload)
{
    struct tagged *p = payload;
    if (p->tag == 1) tt_trace_field(tr, &p->r);
}
static const tt_type tagged_type = TT_CUSTOM_TYPE_INIT(struct tagged, tagged_trace);

/* A custom type whose references live in an odd layout: a count, then
 * references interleaved with plain words. */
struct odd {
    uint32_t n;
    uint32_t pad;
    struct {
        uint64_t plain;
        tt_ref ref;
    } slot[4];
};
static void odd_trace(tt_tracer *tr, void *payload)
{
    struct odd *o = payload;
    for (uint32_t i = 0; i < o->n && i < 4; i++) tt_trace_field(tr, &o->slot[i].ref);
}
static const tt_type odd_type = TT_CUSTOM_TYPE_INIT(struct odd, odd_trace);

static const tt_type words_type = TT_DATA_ARRAY_TYPE_INIT("words", uintptr_t);

struct node {
    tt_ref next;
    uint64_t value;
};
static const tt_type node_type = TT_TYPE_INIT(struct node, next);

static tt_heap *h;
static tt_thread *t;

static void open_with(tt_config *cfg)
{
    h = tt_heap_open(cfg);
    t = h ? tt_thread_attach(h) : NULL;
    if (!t) {
        fprintf(stderr, "cannot open a heap: %s\n", tt_last_error()->message);
        exit(2);
    }
}

static void open_heap(void) { open_with(NULL); }

static void close_heap(void)
{
    tt_thread_detach(t);
    tt_heap_close(h);
    h = NULL;
    t = NULL;
}

static tt_stats stats(void) { return tt_test_stats(h); }

/* Allocate, root nothing: the caller stores it before the next
 * allocation. */
static tt_ref new_pair(uint64_t v)
{
    tt_ref r = tt_alloc(t, &pair_type);
    if (!tt_is_null(r)) TT_PTR(struct pair, r)->v = v;
    return r;
}

static void test_empty_heap(void)
{
    open_heap();
    CHECK_EQ(tt_collect(t), TT_OK);
    tt_stats s = stats();
    CHECK_EQU(s.collections, 1);
    CHECK_EQU(s.live_objects, 0);
    CHECK_EQU(s.live_bytes, 0);
    tt_verify_report rep;
    memset(&rep, 0xff, sizeof rep);
    CHECK_EQ(tt_heap_verify(t, &rep), TT_OK);
    CHECK_EQU(rep.objects, 0);
    CHECK_EQU(rep.bytes, 0);
    CHECK_EQU(rep.errors, 0);
    close_heap();
}

/*
 * The known graph. Live (10 objects):
 *   local -> A (pair); A.a -> B (pair); A.b -> C (blob); B.a -> A (cycle);
 *   B.b -> R (refs[5]); R[0] -> T (tagged, tag 1) -> D (blob);
 *   R[1] -> U (tagged, tag 0, r holds E's bits); R[2] -> W (words[4], one
 *   word holds F's bits); R[3] -> L (large byte array);
 *   global -> G (blob).
 * Dead: E (blob), F (pair), X <-> Y (a cycle), Z (pair whose v holds A's
 * bits), M (large, unrooted), and the object in A.v's... nothing: A.v
 * holds Z's bits, which keeps Z dead.
 */
enum { A_, B_, C_, R_, T_, D_, U_, W_, L_, G_, E_, F_, X_, Y_, Z_, M_, NOBJ };
static const char *names = "ABCRTDUWLGEFXYZM";
#define NLIVE 10
#define LARGE_N 100000

static void test_known_graph(void)
{
    open_heap();
    tt_frame f = tt_frame_push(t, NOBJ + 2);
    tt_local l[NOBJ];
    l[A_] = tt_local_new(t, new_pair(1));
    l[B_] = tt_local_new(t, new_pair(2));
    l[C_] = tt_local_new(t, tt_alloc(t, &blob_type));
    l[R_] = tt_local_new(t, tt_alloc_array(t, &tt_refs_type, 5));
    l[T_] = tt_local_new(t, tt_alloc(t, &tagged_type));
    l[D_] = tt_local_new(t, tt_alloc(t, &blob_type));
    l[U_] = tt_local_new(t, tt_alloc(t, &tagged_type));
    l[W_] = tt_local_new(t, tt_alloc_array(t, &words_type, 4));
    l[L_] = tt_local_new(t, tt_alloc_array(t, &tt_bytes_type, LARGE_N));
    l[G_] = tt_local_new(t, tt_alloc(t, &blob_type));
    l[E_] = tt_local_new(t, tt_alloc(t, &blob_type));
    l[F_] = tt_local_new(t, new_pair(6));
    l[X_] = tt_local_new(t, new_pair(7));
    l[Y_] = tt_local_new(t, new_pair(8));
    l[Z_] = tt_local_new(t, new_pair(9));
    l[M_] = tt_local_new(t, tt_alloc_array(t, &tt_bytes_type, 3 * LARGE_N));
    tt_ref o[NOBJ];
    tt_weak w[NOBJ];
    for (int i = 0; i < NOBJ; i++) {
        o[i] = tt_local_get(t, l[i]);
        REQUIRE(!tt_is_null(o[i]));
        w[i] = tt_weak_new(t, o[i]);
        CHECK(!tt_weak_is_null(w[i]));
    }
    /* No allocation from here until the collection: o[] stays valid. */
    tt_stats s = stats();
    CHECK_EQU(s.large_objects, 2);
    CHECK_EQU(s.weaks, NOBJ);

    struct pair *A = tt_ptr(o[A_]), *B = tt_ptr(o[B_]);
    tt_store(t, o[A_], &A->a, o[B_]);
    tt_store(t, o[A_], &A->b, o[C_]);
    A->v = o[Z_].bits; /* plain bits: does not keep Z alive */
    tt_store(t, o[B_], &B->a, o[A_]);
    tt_store(t, o[B_], &B->b, o[R_]);
    CHECK_EQ(tt_array_set(t, o[R_], 0, o[T_]), TT_OK);
    CHECK_EQ(tt_array_set(t, o[R_], 1, o[U_]), TT_OK);
    CHECK_EQ(tt_array_set(t, o[R_], 2, o[W_]), TT_OK);
    CHECK_EQ(tt_array_set(t, o[R_], 3, o[L_]), TT_OK);
    struct tagged *T = tt_ptr(o[T_]), *U = tt_ptr(o[U_]);
    T->tag = 1;
    tt_store(t, o[T_], &T->r, o[D_]);
    T->w = 0x7777;
    U->tag = 0;
    memcpy(&U->r, &o[E_], sizeof(tt_ref)); /* bits, not a reference */
    uintptr_t *words = tt_array_data(o[W_]);
    words[0] = 0;
    words[1] = o[F_].bits;      /* looks exactly like a reference to F */
    words[2] = o[F_].bits - 8;  /* and like F's header address */
    words[3] = o[A_].bits;
    struct pair *X = tt_ptr(o[X_]), *Y = tt_ptr(o[Y_]);
    tt_store(t, o[X_], &X->a, o[Y_]);
    tt_store(t, o[Y_], &Y->a, o[X_]);
    for (int i = 0; i < 5; i++) TT_PTR(struct blob, o[C_])->x[i] = 100 + (uint64_t)i;
    for (int i = 0; i < 5; i++) TT_PTR(struct blob, o[G_])->x[i] = 200 + (uint64_t)i;
    for (int i = 0; i < 5; i++) TT_PTR(struct blob, o[D_])->x[i] = 300 + (uint64_t)i;
    memset(tt_array_data(o[L_]), 0x5c, LARGE_N);
    tt_global g = tt_global_new(t, o[G_]);
    REQUIRE(!tt_global_is_null(g));

    /* Drop every local but A's. */
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_local la = tt_local_new(t, o[A_]);
    CHECK_EQ(tt_collect(t), TT_OK);

    s = stats();
    CHECK_EQU(s.live_objects, NLIVE);
    uint64_t small = 32 + 32 + 48 + (16 + 5 * 8) + 32 + 48 + 32 + (16 + 4 * 8) + 48;
    CHECK_EQU(s.live_bytes, small + (16 + LARGE_N));
    CHECK_EQU(s.large_objects, 1);
    CHECK_EQU(s.globals, 1);

    for (int i = 0; i < NOBJ; i++) {
        tt_ref got = tt_weak_get(t, w[i]);
        if (i < NLIVE) {
            if (!tt_same(got, o[i])) {
                CHECK(!"a live object's weak reference changed");
                fprintf(stderr, "  object %c\n", names[i]);
            }
        } else if (!tt_is_null(got)) {
            CHECK(!"a dead object's weak reference was not cleared");
            fprintf(stderr, "  object %c\n", names[i]);
        }
    }
    /* Contents intact. */
    A = tt_ptr(tt_local_get(t, la));
    CHECK_REF(tt_local_get(t, la), o[A_]);
    CHECK_REF(A->a, o[B_]);
    CHECK_REF(A->b, o[C_]);
    CHECK_EQU(A->v, o[Z_].bits);
    CHECK_REF(B->a, o[A_]);
    CHECK_REF(B->b, o[R_]);
    CHECK_EQU(B->v, 2);
    CHECK_EQU(tt_array_length(o[R_]), 5);
    CHECK_REF(tt_array_get(o[R_], 0), o[T_]);
    CHECK_REF(tt_array_get(o[R_], 1), o[U_]);
    CHECK_REF(tt_array_get(o[R_], 2), o[W_]);
    CHECK_REF(tt_array_get(o[R_], 3), o[L_]);
    CHECK(tt_is_null(tt_array_get(o[R_], 4)));
    CHECK_REF(T->r, o[D_]);
    CHECK_EQU(T->w, 0x7777);
    CHECK_EQU(U->r.bits, o[E_].bits);
    CHECK_EQU(words[1], o[F_].bits);
    CHECK_EQU(words[3], o[A_].bits);
    for (int i = 0; i < 5; i++) {
        CHECK_EQU(TT_PTR(struct blob, o[C_])->x[i], 100 + (uint64_t)i);
        CHECK_EQU(TT_PTR(struct blob, o[G_])->x[i], 200 + (uint64_t)i);
        CHECK_EQU(TT_PTR(struct blob, o[D_])->x[i], 300 + (uint64_t)i);
    }
    const unsigned char *lb = tt_array_data(o[L_]);
    int bad = 0;
    for (size_t i = 0; i < LARGE_N; i++) bad += lb[i] != 0x5c;
    CHECK_EQ(bad, 0);
    CHECK_REF(tt_global_get(t, g), o[G_]);

    /* Checked mode erases dead objects, so tt_is_object is exact there.
     * Dead large objects are unmapped in either mode. */
    for (int i = 0; i < NLIVE; i++) CHECK_EQ(tt_is_object(t, o[i]), 1);
    if (tt_heap_checked(h))
        for (int i = NLIVE; i < NOBJ; i++) CHECK_EQ(tt_is_object(t, o[i]), 0);
    CHECK_EQ(tt_is_object(t, o[M_]), 0);

    /* The verifier agrees. */
    tt_verify_report rep;
    CHECK_EQ(tt_heap_verify(t, &rep), TT_OK);
    CHECK_EQU(rep.objects, NLIVE);
    CHECK_EQU(rep.errors, 0);
    CHECK_EQU(rep.bytes, s.live_bytes);

    /* Drop the global: G dies; drop A: everything dies. */
    CHECK_EQ(tt_global_free(t, g), TT_OK);
    CHECK_EQ(tt_collect(t), TT_OK);
    s = stats();
    CHECK_EQU(s.live_objects, NLIVE - 1);
    CHECK(tt_is_null(tt_weak_get(t, w[G_])));
    CHECK_REF(tt_weak_get(t, w[D_]), o[D_]);
    tt_local_set(t, la, TT_NULL);
    CHECK_EQ(tt_collect(t), TT_OK);
    s = stats();
    CHECK_EQU(s.live_objects, 0);
    CHECK_EQU(s.live_bytes, 0);
    CHECK_EQU(s.large_objects, 0);
    for (int i = 0; i < NOBJ; i++) CHECK(tt_is_null(tt_weak_get(t, w[i])));
    for (int i = 0; i < NOBJ; i++) CHECK_EQ(tt_weak_free(t, w[i]), TT_OK);
    s = stats();
    CHECK_EQU(s.weaks, 0);
    CHECK_EQU(s.globals, 0);
    close_heap();
}

/* Custom trace functions: the collector follows exactly the references
 * the function reports. */
static void test_custom_trace(void)
{
    open_heap();
    tt_frame f = tt_frame_push(t, 8);
    tt_local lo = tt_local_new(t, tt_alloc(t, &odd_type));
    tt_local lt[4];
    tt_weak wt[4];
    for (int i = 0; i < 4; i++) {
        lt[i] = tt_local_new(t, new_pair((uint64_t)i));
        wt[i] = tt_weak_new(t, tt_local_get(t, lt[i]));
    }
    tt_ref o = tt_local_get(t, lo);
    REQUIRE(!tt_is_null(o));
    struct odd *od = tt_ptr(o);
    od->n = 2; /* only slots 0 and 1 are references */
    for (int i = 0; i < 4; i++) {
        od->slot[i].plain = 0xabc0 + (uint64_t)i;
        if (i < 2)
            tt_store(t, o, &od->slot[i].ref, tt_local_get(t, lt[i]));
        else
            od->slot[i].ref = tt_local_get(t, lt[i]); /* bits the trace does not report */
    }
    for (int i = 0; i < 4; i++) tt_local_set(t, lt[i], TT_NULL);
    CHECK_EQ(tt_collect(t), TT_OK);
    tt_stats s = stats();
    CHECK_EQU(s.live_objects, 3);
    CHECK(!tt_is_null(tt_weak_get(t, wt[0])));
    CHECK(!tt_is_null(tt_weak_get(t, wt[1])));
    CHECK(tt_is_null(tt_weak_get(t, wt[2])));
    CHECK(tt_is_null(tt_weak_get(t, wt[3])));
    od = tt_ptr(tt_local_get(t, lo));
    CHECK_EQU(TT_PTR(struct pair, od->slot[1].ref)->v, 1);
    for (int i = 0; i < 4; i++) CHECK_EQU(od->slot[i].plain, 0xabc0 + (uint64_t)i);
    /* A custom object reachable only through another custom object. */
    tt_ref inner = tt_alloc(t, &tagged_type);
    REQUIRE(!tt_is_null(inner));
    od = tt_ptr(tt_local_get(t, lo));
    od->slot[2].ref = TT_NULL;
    od->slot[3].ref = TT_NULL;
    tt_store(t, tt_local_get(t, lo), &od->slot[0].ref, inner);
    tt_ref leaf = tt_alloc(t, &blob_type);
    REQUIRE(!tt_is_null(leaf));
    inner = TT_PTR(struct odd, tt_local_get(t, lo))->slot[0].ref;
    TT_PTR(struct tagged, inner)->tag = 1;
    tt_store(t, inner, &TT_PTR(struct tagged, inner)->r, leaf);
    TT_PTR(struct blob, leaf)->x[4] = 99;
    tt_weak wl = tt_weak_new(t, leaf);
    CHECK_EQ(tt_collect(t), TT_OK);
    s = stats();
    CHECK_EQU(s.live_objects, 4); /* odd, inner, leaf, pair 1 */
    CHECK_REF(tt_weak_get(t, wl), leaf);
    CHECK_EQU(TT_PTR(struct blob, leaf)->x[4], 99);
    CHECK(tt_is_null(tt_weak_get(t, wt[0])));
    tt_verify_report rep;
    CHECK_EQ(tt_heap_verify(t, &rep), TT_OK);
    CHECK_EQU(rep.objects, 4);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    close_heap();
}

/* Atomic objects and data arrays are never scanned, whatever they hold. */
static void test_atomic_not_traced(void)
{
    open_heap();
    tt_frame f = tt_frame_push(t, 8);
    enum { N = 200 };
    tt_local lw = tt_local_new(t, tt_alloc_array(t, &words_type, 2 * N));
    tt_local lb = tt_local_new(t, tt_alloc(t, &blob_type));
    tt_local lbig = tt_local_new(t, tt_alloc_array(t, &words_type, 5000)); /* large */
    tt_local lp = tt_local_new(t, tt_alloc_array(t, &tt_refs_type, N));
    tt_weak w[N];
    for (int i = 0; i < N; i++) {
        tt_ref p = new_pair((uint64_t)i);
        REQUIRE(!tt_is_null(p));
        CHECK_EQ(tt_array_set(t, tt_local_get(t, lp), (size_t)i, p), TT_OK);
        w[i] = tt_weak_new(t, p);
    }
    uintptr_t *words = tt_array_data(tt_local_get(t, lw));
    uintptr_t *big = tt_array_data(tt_local_get(t, lbig));
    struct blob *b = tt_ptr(tt_local_get(t, lb));
    tt_ref ps = tt_local_get(t, lp);
    for (int i = 0; i < N; i++) {
        uintptr_t bits = tt_array_get(ps, (size_t)i).bits;
        words[2 * i] = bits;
        words[2 * i + 1] = bits - 8;
        big[i * 20] = bits;
        if (i < 5) b->x[i] = bits;
    }
    tt_local_set(t, lp, TT_NULL);
    CHECK_EQ(tt_collect(t), TT_OK);
    tt_stats s = stats();
    CHECK_EQU(s.live_objects, 3);
    int alive = 0;
    for (int i = 0; i < N; i++) alive += !tt_is_null(tt_weak_get(t, w[i]));
    CHECK_EQ(alive, 0);
    /* The bit patterns are left as they were. */
    words = tt_array_data(tt_local_get(t, lw));
    CHECK_EQU(words[0] - 8, words[1]);
    CHECK(words[0] != 0);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    close_heap();
}

/* Roots: locals of every open frame, globals, and fields of reachable
 * objects; nothing else. */
static void test_roots_keep_alive(void)
{
    open_heap();
    tt_frame f1 = tt_frame_push(t, 2);
    tt_local l1 = tt_local_new(t, new_pair(11));
    tt_frame f2 = tt_frame_push(t, 2);
    tt_local l2 = tt_local_new(t, new_pair(22));
    tt_global g = tt_global_new(t, new_pair(33));
    tt_ref p44 = new_pair(44);
    tt_store(t, tt_local_get(t, l2), &TT_PTR(struct pair, tt_local_get(t, l2))->a, p44);
    tt_weak w44 = tt_weak_new(t, p44);
    tt_weak w22 = tt_weak_new(t, tt_local_get(t, l2));
    new_pair(55); /* garbage */
    CHECK_EQ(tt_collect(t), TT_OK);
    tt_stats s = stats();
    CHECK_EQU(s.live_objects, 4);
    CHECK_EQU(TT_PTR(struct pair, tt_local_get(t, l1))->v, 11);
    CHECK_EQU(TT_PTR(struct pair, tt_local_get(t, l2))->v, 22);
    CHECK_EQU(TT_PTR(struct pair, tt_global_get(t, g))->v, 33);
    CHECK_EQU(TT_PTR(struct pair, tt_weak_get(t, w44))->v, 44);
    /* Popping f2 drops l2 and with it p44. */
    tt_frame_pop(t, f2, TT_NO_LOCAL);
    CHECK_EQ(tt_collect(t), TT_OK);
    s = stats();
    CHECK_EQU(s.live_objects, 2);
    CHECK(tt_is_null(tt_weak_get(t, w44)));
    CHECK(tt_is_null(tt_weak_get(t, w22)));
    CHECK_EQU(TT_PTR(struct pair, tt_local_get(t, l1))->v, 11);
    tt_frame_pop(t, f1, TT_NO_LOCAL);
    CHECK_EQ(tt_collect(t), TT_OK);
    s = stats();
    CHECK_EQU(s.live_objects, 1);
    CHECK_EQU(TT_PTR(struct pair, tt_global_get(t, g))->v, 33);
    CHECK_EQ(tt_global_free(t, g), TT_OK);
    CHECK_EQ(tt_collect(t), TT_OK);
    s = stats();
    CHECK_EQU(s.live_objects, 0);
    close_heap();
}

/* Collections triggered by allocation keep what the locals hold. */
static void test_allocation_triggered(void)
{
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.initial_size = 64 << 10;
    open_with(&cfg);
    tt_frame f = tt_frame_push(t, 2);
    tt_local head = tt_local_new(t, TT_NULL);
    enum { N = 20000 };
    for (int i = 0; i < N; i++) {
        tt_ref n = tt_alloc(t, &node_type);
        REQUIRE(!tt_is_null(n));
        TT_PTR(struct node, n)->value = (uint64_t)i;
        tt_store(t, n, &TT_PTR(struct node, n)->next, tt_local_get(t, head));
        tt_local_set(t, head, n);
        for (int k = 0; k < 3; k++) CHECK(!tt_is_null(tt_alloc(t, &blob_type))); /* garbage */
        if (i % 1000 == 0) CHECK(!tt_is_null(tt_alloc_array(t, &tt_bytes_type, 20000)));
    }
    tt_stats s = stats();
    CHECK_CMPU(s.collections, >=, 10);
    uint64_t c0 = s.collections;
    tt_ref n = tt_local_get(t, head);
    int bad = 0;
    for (int i = N - 1; i >= 0; i--) {
        if (tt_is_null(n) || TT_PTR(struct node, n)->value != (uint64_t)i) {
            bad++;
            break;
        }
        n = TT_PTR(struct node, n)->next;
    }
    CHECK_EQ(bad, 0);
    CHECK(tt_is_null(n));
    CHECK_EQ(tt_collect(t), TT_OK);
    s = stats();
    CHECK_EQU(s.collections, c0 + 1);
    CHECK_EQU(s.live_objects, N);
    CHECK_EQU(s.live_bytes, (uint64_t)N * 24);
    CHECK_EQU(s.large_objects, 0);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    close_heap();
}

/* Long chains and wide arrays: marking does not recurse on the C stack and
 * its stack grows as needed. */
static void test_deep_and_wide(void)
{
    open_heap();
    tt_frame f = tt_frame_push(t, 4);
    enum { N = 300000 };
    tt_local head = tt_local_new(t, TT_NULL);
    for (int i = 0; i < N; i++) {
        tt_ref n = tt_alloc(t, &node_type);
        REQUIRE(!tt_is_null(n));
        TT_PTR(struct node, n)->value = (uint64_t)i;
        tt_store(t, n, &TT_PTR(struct node, n)->next, tt_local_get(t, head));
        tt_local_set(t, head, n);
    }
    tt_local arr = tt_local_new(t, tt_alloc_array(t, &tt_refs_type, N));
    REQUIRE(!tt_is_null(tt_local_get(t, arr)));
    for (int i = 0; i < N; i++) {
        tt_ref p = new_pair((uint64_t)i);
        REQUIRE(!tt_is_null(p));
        CHECK_EQ(tt_array_set(t, tt_local_get(t, arr), (size_t)i, p), TT_OK);
    }
    CHECK_EQ(tt_collect(t), TT_OK);
    tt_stats s = stats();
    CHECK_EQU(s.live_objects, 2 * N + 1);
    tt_ref a = tt_local_get(t, arr);
    int bad = 0;
    for (int i = 0; i < N; i++)
        if (TT_PTR(struct pair, tt_array_get(a, (size_t)i))->v != (uint64_t)i) bad++;
    CHECK_EQ(bad, 0);
    tt_verify_report rep;
    CHECK_EQ(tt_heap_verify(t, &rep), TT_OK);
    CHECK_EQU(rep.objects, 2 * N + 1);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    CHECK_EQ(tt_collect(t), TT_OK);
    s = stats();
    CHECK_EQU(s.live_objects, 0);
    close_heap();
}

static void test_large_reclaimed(void)
{
    open_heap();
    CHECK_EQ(tt_collect(t), TT_OK);
    uint64_t base = stats().heap_bytes;
    tt_frame f = tt_frame_push(t, 8);
    tt_local l[5];
    for (int i = 0; i < 5; i++) {
        l[i] = tt_local_new(t, tt_alloc_array(t, &tt_bytes_type, (size_t)1 << 20));
        REQUIRE(!tt_is_null(tt_local_get(t, l[i])));
        memset(tt_array_data(tt_local_get(t, l[i])), i + 1, (size_t)1 << 20);
    }
    tt_stats s = stats();
    CHECK_EQU(s.large_objects, 5);
    CHECK_CMPU(s.heap_bytes, >=, base + 5 * ((uint64_t)1 << 20));
    CHECK_EQ(tt_collect(t), TT_OK);
    s = stats();
    CHECK_EQU(s.large_objects, 5);
    CHECK_EQU(s.live_objects, 5);
    CHECK_EQU(((unsigned char *)tt_array_data(tt_local_get(t, l[3])))[12345], 4);
    /* Drop three of them. */
    tt_local_set(t, l[0], TT_NULL);
    tt_local_set(t, l[2], TT_NULL);
    tt_local_set(t, l[4], TT_NULL);
    CHECK_EQ(tt_collect(t), TT_OK);
    s = stats();
    CHECK_EQU(s.large_objects, 2);
    CHECK_EQU(s.live_objects, 2);
    CHECK_CMPU(s.heap_bytes, <, base + 3 * ((uint64_t)1 << 20));
    CHECK_CMPU(s.heap_bytes, >=, base + 2 * ((uint64_t)1 << 20));
    tt_frame_pop(t, f, TT_NO_LOCAL);
    CHECK_EQ(tt_collect(t), TT_OK);
    s = stats();
    CHECK_EQU(s.large_objects, 0);
    CHECK_EQU(s.heap_bytes, base);
    CHECK_CMPU(s.heap_bytes_peak, >=, base + 5 * ((uint64_t)1 << 20));
    close_heap();
}

/* The heap grows for a big structure and gives memory back once it dies. */
static void test_grow_and_shrink(void)
{
    /* One marker: a parallel drain would give the heap mark bytes for
     * every chunk, which stay to the end (counted in heap_bytes). */
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.mark_threads = 1;
    open_with(&cfg);
    CHECK_EQ(tt_collect(t), TT_OK);
    uint64_t base = stats().heap_bytes;
    tt_frame f = tt_frame_push(t, 2);
    enum { N = 3000 };
    tt_local arr = tt_local_new(t, tt_alloc_array(t, &tt_refs_type, N));
    for (int i = 0; i < N; i++) {
        tt_ref r = tt_alloc_array(t, &tt_bytes_type, 8000); /* medium, not large */
        REQUIRE(!tt_is_null(r));
        ((unsigned char *)tt_array_data(r))[7999] = (unsigned char)i;
        CHECK_EQ(tt_array_set(t, tt_local_get(t, arr), (size_t)i, r), TT_OK);
    }
    /* and 2 MiB of small objects */
    tt_local list = tt_local_new(t, TT_NULL);
    for (int i = 0; i < 65536; i++) {
        tt_ref n = tt_alloc(t, &node_type);
        REQUIRE(!tt_is_null(n));
        tt_store(t, n, &TT_PTR(struct node, n)->next, tt_local_get(t, list));
        tt_local_set(t, list, n);
    }
    CHECK_EQ(tt_collect(t), TT_OK);
    tt_stats s = stats();
    uint64_t big = s.heap_bytes;
    CHECK_EQU(s.large_objects, 1); /* the array of 3000 references */
    CHECK_CMPU(big, >=, (uint64_t)N * 8000 + 65536 * 24);
    CHECK_EQU(((unsigned char *)tt_array_data(tt_array_get(tt_local_get(t, arr), 2999)))[7999],
              2999 % 256);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    /* Empty blocks may stay committed for a second (so that a heap
     * breathing in and out does not fault pages in every cycle), but not
     * for ever: the first collection empties them, the next ones, a second
     * later by the clock, give back what the next cycle does not need. */
    CHECK_EQ(tt_collect(t), TT_OK);
    struct timespec pause = {1, 100 * 1000 * 1000};
    while (nanosleep(&pause, &pause) != 0) {
    }
    for (int i = 0; i < 2; i++) CHECK_EQ(tt_collect(t), TT_OK);
    s = stats();
    CHECK_EQU(s.live_objects, 0);
    /* Everything beyond what the next cycle needs (4 MiB of allocation)
     * went back. */
    CHECK_CMPU(s.heap_bytes, <, big / 3);
    CHECK_CMPU(s.heap_bytes, <=, base + ((uint64_t)5 << 20));
    CHECK_CMPU(s.heap_bytes_peak, >=, big);
    /* And it can grow again. */
    tt_local again = tt_local_new(t, tt_alloc_array(t, &tt_refs_type, N));
    for (int i = 0; i < N; i++) {
        tt_ref r = tt_alloc_array(t, &tt_bytes_type, 8000);
        REQUIRE(!tt_is_null(r));
        CHECK_EQ(tt_array_set(t, tt_local_get(t, again), (size_t)i, r), TT_OK);
    }
    CHECK_EQ(tt_collect(t), TT_OK);
    s = stats();
    CHECK_EQU(s.live_objects, N + 1);
    CHECK_CMPU(s.heap_bytes, >=, (uint64_t)N * 8000);
    close_heap();
}

/* max_size: allocation past it fails with TT_ENOMEM after a collection;
 * the heap stays usable once roots are dropped. */
static void test_max_size(void)
{
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.max_size = 8 << 20;
    cfg.initial_size = 1 << 20;
    open_with(&cfg);
    for (int round = 0; round < 2; round++) {
        tt_frame f = tt_frame_push(t, 2);
        tt_local head = tt_local_new(t, TT_NULL);
        long n = 0;
        uint64_t c0 = stats().collections;
        tt_clear_error();
        for (;;) {
            tt_ref r = tt_alloc(t, &node_type);
            if (tt_is_null(r)) break;
            TT_PTR(struct node, r)->value = (uint64_t)n;
            tt_store(t, r, &TT_PTR(struct node, r)->next, tt_local_get(t, head));
            tt_local_set(t, head, r);
            if (++n > (16 << 20) / 24) break; /* more than can fit */
        }
        CHECK_ERR(TT_ENOMEM);
        CHECK(tt_last_error()->message[0] != '\0');
        CHECK_CMPU((uint64_t)n * 24, <=, 8 << 20);
        CHECK_CMPU((uint64_t)n * 24, >=, 4 << 20);
        tt_stats s = stats();
        CHECK_CMPU(s.heap_bytes, <=, 8 << 20);
        CHECK_CMPU(s.heap_bytes_peak, <=, 8 << 20);
        CHECK_CMPU(s.collections, >, c0); /* a last collection ran */
        /* Large objects fail too while the heap is full. */
        tt_clear_error();
        CHECK(tt_is_null(tt_alloc_array(t, &tt_bytes_type, 1 << 20)));
        CHECK_ERR(TT_ENOMEM);
        /* The list is intact. */
        tt_ref r = tt_local_get(t, head);
        long k = n - 1, bad = 0;
        for (; !tt_is_null(r); r = TT_PTR(struct node, r)->next, k--)
            if (TT_PTR(struct node, r)->value != (uint64_t)k) bad++;
        CHECK_EQ(bad, 0);
        CHECK_EQ(k, -1);
        tt_frame_pop(t, f, TT_NO_LOCAL);
        /* Usable again: the allocation collects and succeeds. */
        tt_ref big = tt_alloc_array(t, &tt_bytes_type, 6 << 20);
        CHECK(!tt_is_null(big));
        CHECK(!tt_is_null(tt_alloc(t, &node_type)));
        CHECK_EQ(tt_collect(t), TT_OK);
        s = stats();
        CHECK_EQU(s.live_objects, 0);
    }
    /* An object bigger than the limit fails at once, heap untouched. */
    uint64_t c0 = stats().collections;
    tt_clear_error();
    CHECK(tt_is_null(tt_alloc_array(t, &tt_bytes_type, 9 << 20)));
    CHECK_ERR(TT_ENOMEM);
    CHECK(!tt_is_null(tt_alloc_array(t, &tt_bytes_type, 5 << 20)));
    CHECK_CMPU(stats().collections, <=, c0 + 1);
    close_heap();
}

static void test_collections_counted(void)
{
    open_heap();
    for (uint64_t i = 1; i <= 20; i++) {
        CHECK_EQ(tt_collect(t), TT_OK);
        tt_stats s = stats();
        CHECK_EQU(s.collections, i);
        uint64_t hist = 0;
        for (int b = 0; b < TT_PAUSE_BUCKETS; b++) hist += s.pause_hist[b];
        CHECK_EQU(hist, i);
        CHECK_CMPU(s.pause_ns_total, >=, s.pause_ns_max);
        CHECK_CMPU(s.pause_ns_p50, <=, s.pause_ns_p90);
        CHECK_CMPU(s.pause_ns_p90, <=, s.pause_ns_p99);
        CHECK_CMPU(s.pause_ns_p99, <=, s.pause_ns_max);
    }
    close_heap();
}

static void test_stats_print(void)
{
    open_heap();
    tt_local l = tt_local_new(t, new_pair(1));
    (void)l;
    for (int i = 0; i < 3; i++) CHECK_EQ(tt_collect(t), TT_OK);
    tt_stats s = stats();
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    REQUIRE(mem != NULL);
    tt_stats_print(&s, mem);
    fclose(mem);
    REQUIRE(buf != NULL);
    CHECK(len > 100);
    int lines = 0;
    for (size_t i = 0; i < len; i++) lines += buf[i] == '\n';
    CHECK(lines >= 8);
    CHECK_CONTAINS(buf, "collections");
    CHECK_CONTAINS(buf, "3");
    free(buf);
    close_heap();
}

/* The verifier finds a corrupt reference field, and stays read-only. */
static void test_verifier_detects(void)
{
    open_heap();
    tt_local l = tt_local_new(t, new_pair(1));
    tt_local_new(t, tt_alloc(t, &blob_type));
    CHECK_EQ(tt_collect(t), TT_OK);
    tt_stats s0 = stats();
    tt_verify_report rep;
    CHECK_EQ(tt_heap_verify(t, &rep), TT_OK);
    CHECK_EQU(rep.objects, 2);
    CHECK_EQU(rep.bytes, 32 + 48);

    void *foreign = malloc(64);
    REQUIRE(foreign != NULL);
    memset(foreign, 0, 64);
    struct pair *p = tt_ptr(tt_local_get(t, l));
    p->a.bits = (uintptr_t)foreign + 8; /* corrupt, bypassing the barrier */
    tt_clear_error();
    memset(&rep, 0, sizeof rep);
    CHECK_EQ(tt_heap_verify(t, &rep), TT_EINVAL);
    CHECK_CMPU(rep.errors, >=, 1);
    CHECK_ERR(TT_EINVAL);
    CHECK(tt_last_error()->message[0] != '\0');
    p->a.bits = 12345; /* misaligned garbage */
    CHECK_EQ(tt_heap_verify(t, &rep), TT_EINVAL);
    p->a.bits = tt_local_get(t, l).bits + 8; /* inside an object */
    CHECK_EQ(tt_heap_verify(t, &rep), TT_EINVAL);
    p->a = TT_NULL;
    CHECK_EQ(tt_heap_verify(t, NULL), TT_OK);
    tt_stats s1 = stats();
    CHECK_EQU(s1.collections, s0.collections);
    CHECK_EQU(s1.bytes_allocated, s0.bytes_allocated);
    free(foreign);
    close_heap();
}

/* tt_is_object never faults and says no to anything but an object's
 * payload address. */
static void test_is_object(void)
{
    open_heap();
    tt_local l = tt_local_new(t, new_pair(1));
    tt_local lg = tt_local_new(t, tt_alloc_array(t, &tt_bytes_type, 100000));
    tt_ref p = tt_local_get(t, l), g = tt_local_get(t, lg);
    CHECK_EQ(tt_is_object(t, p), 1);
    CHECK_EQ(tt_is_object(t, g), 1);
    CHECK_EQ(tt_is_object(t, TT_NULL), 0);
    CHECK_EQ(tt_is_object(t, (tt_ref){p.bits + 8}), 0);
    CHECK_EQ(tt_is_object(t, (tt_ref){p.bits - 8}), 0);
    CHECK_EQ(tt_is_object(t, (tt_ref){p.bits + 1}), 0);
    CHECK_EQ(tt_is_object(t, (tt_ref){g.bits + 4096}), 0);
    CHECK_EQ(tt_is_object(t, (tt_ref){g.bits - 4096}), 0);
    void *m = malloc(100);
    REQUIRE(m != NULL);
    CHECK_EQ(tt_is_object(t, (tt_ref){(uintptr_t)m}), 0);
    free(m);
    int on_stack = 0;
    CHECK_EQ(tt_is_object(t, (tt_ref){(uintptr_t)&on_stack}), 0);
    static const uintptr_t junk[] = {1, 8, 4096, 0xdeadbeef, 0xdeadbee8, UINTPTR_MAX - 7,
                                     (uintptr_t)1 << 47, ((uintptr_t)1 << 63) | 8};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++)
        CHECK_EQ(tt_is_object(t, (tt_ref){junk[i]}), 0);
    /* Addresses in the heap's own chunk but not at an object. */
    uintptr_t chunk = p.bits & ~(uintptr_t)((4u << 20) - 1);
    for (uintptr_t off = 0; off < (4u << 20); off += 4096 * 17 + 8)
        if (chunk + off != p.bits) CHECK_EQ(tt_is_object(t, (tt_ref){chunk + off}), 0);
    /* A dead object: exact in checked mode; large objects in both modes. */
    tt_local_set(t, l, TT_NULL);
    tt_local_set(t, lg, TT_NULL);
    CHECK_EQ(tt_collect(t), TT_OK);
    if (tt_heap_checked(h)) CHECK_EQ(tt_is_object(t, p), 0);
    CHECK_EQ(tt_is_object(t, g), 0);
    close_heap();
}

int main(void)
{
    RUN(test_empty_heap);
    RUN(test_known_graph);
    RUN(test_custom_trace);
    RUN(test_atomic_not_traced);
    RUN(test_roots_keep_alive);
    RUN(test_allocation_triggered);
    RUN(test_deep_and_wide);
    RUN(test_large_reclaimed);
    RUN(test_grow_and_shrink);
    RUN(test_max_size);
    RUN(test_collections_counted);
    RUN(test_stats_print);
    RUN(test_verifier_detects);
    RUN(test_is_object);
    return tt_test_done();
}
