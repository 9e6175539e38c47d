/*
 * test_badinput.c: bad input with checked mode off gives a clear error (a
 * status and a message) and corrupts nothing: types that were never valid,
 * array sizes that overflow or could never fit, capacities beyond the
 * maximum, null threads and heaps, wrong kinds of type for an array.
 * (With checked mode on, the same calls are misuse reports: test_misuse.c
 * and test_death.c.)
 */
#include "tt_test.h"

struct pair {
    tt_ref a, b;
    uint64_t v;
};
static const tt_type pair_type = TT_TYPE_INIT(struct pair, a, b);

/* Types that were never valid. The big ones never take the inline path. */
static const tt_type zero_type; /* all zero */
static const tt_type nosig_type = {0, "nosig", TT_KIND_ATOMIC, 16, 0, 0, NULL, NULL, NULL};
static const tt_type badsig_type = {TT_TYPE_SIG ^ 1, "badsig", TT_KIND_ATOMIC, 16, 0, 0, NULL, NULL, NULL};
static const tt_type nosig_big_type = {0, "nosig_big", TT_KIND_ATOMIC, 1000, 0, 0, NULL, NULL, NULL};
static const tt_type badkind_type = {TT_TYPE_SIG, "badkind", 99, 1000, 0, 0, NULL, NULL, NULL};
static const tt_type notrace_type = {TT_TYPE_SIG, "notrace", TT_KIND_CUSTOM, 1000, 0, 0, NULL, NULL, NULL};
static const uint32_t bad_offsets[] = {996};
static const tt_type badoff_type = {TT_TYPE_SIG, "badoff", TT_KIND_FIXED, 1000, 0, 1, bad_offsets, NULL, NULL};
static const tt_type nooffsets_type = {TT_TYPE_SIG, "nooffsets", TT_KIND_FIXED, 1000, 0, 3, NULL, NULL, NULL};
static const tt_type badrefs_type = {TT_TYPE_SIG, "badrefs", TT_KIND_REF_ARRAY, 8, 4, 0, NULL, NULL, NULL};
static const tt_type nolen_type = {TT_TYPE_SIG, "nolen", TT_KIND_DATA_ARRAY, 0, 1, 0, NULL, NULL, NULL};

static tt_heap *h;
static tt_thread *t;

static void open_cfg(size_t max_size)
{
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.checked = TT_CHECKED_OFF;
    cfg.max_size = max_size;
    h = tt_heap_open(&cfg);
    t = h ? tt_thread_attach(h) : NULL;
    if (!t) {
        fprintf(stderr, "cannot open a heap: %s\n", tt_last_error()->message);
        exit(2);
    }
}

static void close_heap(void)
{
    tt_thread_detach(t);
    tt_heap_close(h);
}

/* The heap still works: allocate, collect, verify, count. */
static void still_usable(tt_local keep, uint64_t expect_live)
{
    tt_ref p = tt_alloc(t, &pair_type);
    CHECK(!tt_is_null(p));
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK_EQ(tt_heap_verify(t, NULL), TT_OK);
    CHECK_EQU(tt_test_stats(h).live_objects, expect_live);
    if (!tt_local_is_null(keep)) CHECK_EQU(TT_PTR(struct pair, tt_local_get(t, keep))->v, 1234);
}

static tt_local make_keep(void)
{
    tt_local l = tt_local_new(t, tt_alloc(t, &pair_type));
    TT_PTR(struct pair, tt_local_get(t, l))->v = 1234;
    return l;
}

#define CHECK_BAD_ALLOC(expr, code)                     \
    do {                                                \
        tt_clear_error();                               \
        tt_ref r_ = (expr);                             \
        CHECK(tt_is_null(r_));                          \
        CHECK_ERR(code);                                \
        CHECK(tt_last_error()->message[0] != '\0');     \
        CHECK_STREQ(tt_last_error()->file, __FILE__);   \
        CHECK_EQ(tt_last_error()->line, __LINE__);      \
    } while (0)

/* Types that never take the inline path: every one is refused. */
static void test_bad_types(void)
{
    open_cfg(0);
    tt_local keep = make_keep();
    CHECK_BAD_ALLOC(tt_alloc(t, NULL), TT_EINVAL);
    CHECK_BAD_ALLOC(tt_alloc_array(t, NULL, 3), TT_EINVAL);
    CHECK_BAD_ALLOC(tt_alloc_array(t, NULL, 100000), TT_EINVAL);
    CHECK_BAD_ALLOC(tt_alloc(t, &nosig_big_type), TT_EINVAL);
    CHECK_BAD_ALLOC(tt_alloc(t, &badkind_type), TT_EINVAL);
    CHECK_BAD_ALLOC(tt_alloc(t, &notrace_type), TT_EINVAL);
    CHECK_BAD_ALLOC(tt_alloc(t, &badoff_type), TT_EINVAL);
    CHECK_BAD_ALLOC(tt_alloc(t, &nooffsets_type), TT_EINVAL);
    CHECK_BAD_ALLOC(tt_alloc_array(t, &badrefs_type, 1000), TT_EINVAL);
    CHECK_BAD_ALLOC(tt_alloc_array(t, &nolen_type, 1000), TT_EINVAL);
    CHECK_BAD_ALLOC(tt_alloc_array(t, &nosig_big_type, 1000), TT_EINVAL);
    still_usable(keep, 1);
    close_heap();
}

/* Small bad types on a fresh thread, before any allocation of their size
 * class. */
static void test_bad_small_types_cold(void)
{
    open_cfg(0);
    CHECK_BAD_ALLOC(tt_alloc(t, &zero_type), TT_EINVAL);
    CHECK_BAD_ALLOC(tt_alloc(t, &nosig_type), TT_EINVAL);
    CHECK_BAD_ALLOC(tt_alloc(t, &badsig_type), TT_EINVAL);
    tt_local keep = make_keep();
    still_usable(keep, 1);
    close_heap();
}

/* Small bad types after good allocations of the same size class: the
 * documented TT_EINVAL must not depend on which path the call takes. */
static void test_bad_small_types_warm(void)
{
    static const tt_type empty_type = {TT_TYPE_SIG, "empty", TT_KIND_ATOMIC, 0, 0, 0, NULL, NULL, NULL};
    static const tt_type sixteen_type = {TT_TYPE_SIG, "sixteen", TT_KIND_ATOMIC, 16, 0, 0, NULL, NULL, NULL};
    open_cfg(0);
    tt_local keep = make_keep();
    CHECK(!tt_is_null(tt_alloc(t, &empty_type)));   /* class of zero_type */
    CHECK(!tt_is_null(tt_alloc(t, &sixteen_type))); /* class of nosig_type */
    CHECK_BAD_ALLOC(tt_alloc(t, &zero_type), TT_EINVAL);
    CHECK_BAD_ALLOC(tt_alloc(t, &nosig_type), TT_EINVAL);
    CHECK_BAD_ALLOC(tt_alloc(t, &badsig_type), TT_EINVAL);
    still_usable(keep, 1);
    close_heap();
}

static void test_not_an_array_type(void)
{
    open_cfg(0);
    tt_local keep = make_keep();
    CHECK_BAD_ALLOC(tt_alloc_array(t, &pair_type, 4), TT_EINVAL);
    CHECK_BAD_ALLOC(tt_alloc_array(t, &pair_type, 0), TT_EINVAL);
    static const tt_type atomic_type = {TT_TYPE_SIG, "atom", TT_KIND_ATOMIC, 24, 0, 0, NULL, NULL, NULL};
    CHECK_BAD_ALLOC(tt_alloc_array(t, &atomic_type, 4), TT_EINVAL);
    still_usable(keep, 1);
    close_heap();
}

/* Sizes that overflow size_t or could never fit. */
static void test_absurd_sizes(void)
{
    static const tt_type u64s_type = TT_DATA_ARRAY_TYPE_INIT("u64s", uint64_t);
    static const size_t ns[] = {SIZE_MAX,           SIZE_MAX - 7,       SIZE_MAX / 2 + 1,
                                SIZE_MAX / 8 + 1,   (size_t)1 << 61,    (size_t)1 << 50,
                                (SIZE_MAX - 8) / 8, ((size_t)1 << 60) - 1};
    open_cfg(0);
    tt_local keep = make_keep();
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        const tt_type *types[] = {&tt_bytes_type, &tt_refs_type, &u64s_type};
        for (int k = 0; k < 3; k++) {
            tt_clear_error();
            tt_ref r = tt_alloc_array(t, types[k], ns[i]);
            CHECK(tt_is_null(r));
            int code = tt_last_error()->code;
            CHECK(code == TT_EINVAL || code == TT_ENOMEM);
            CHECK(tt_last_error()->message[0] != '\0');
        }
    }
    CHECK_EQU(tt_test_stats(h).large_objects, 0);
    still_usable(keep, 1);
    close_heap();
}

/* With a limit, anything bigger than the limit fails at once. */
static void test_beyond_limit(void)
{
    open_cfg(64 << 20);
    tt_local keep = make_keep();
    CHECK_BAD_ALLOC(tt_alloc_array(t, &tt_bytes_type, (size_t)1 << 40), TT_ENOMEM);
    CHECK_BAD_ALLOC(tt_alloc_array(t, &tt_bytes_type, (size_t)65 << 20), TT_ENOMEM);
    CHECK_BAD_ALLOC(tt_alloc_array(t, &tt_refs_type, (size_t)9 << 20), TT_ENOMEM);
    /* A huge fixed size. */
    static const tt_type huge_type = {TT_TYPE_SIG, "huge", TT_KIND_ATOMIC, UINT32_MAX - 7, 0, 0,
                                      NULL, NULL, NULL};
    CHECK_BAD_ALLOC(tt_alloc(t, &huge_type), TT_ENOMEM);
    CHECK(!tt_is_null(tt_alloc_array(t, &tt_bytes_type, (size_t)32 << 20)));
    still_usable(keep, 1);
    close_heap();
}

static void test_frame_capacity_range(void)
{
    open_cfg(0);
    tt_local keep = make_keep();
    static const size_t caps[] = {(size_t)TT_FRAME_MAX_CAPACITY + 1, (size_t)UINT32_MAX,
                                  (size_t)UINT32_MAX + 1, (size_t)1 << 40, SIZE_MAX};
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        tt_clear_error();
        int line = __LINE__; tt_frame f = tt_frame_push(t, caps[i]);
        CHECK(tt_frame_is_null(f));
        CHECK_ERR(TT_ERANGE);
        CHECK_EQ(tt_last_error()->line, line);
        CHECK(tt_last_error()->message[0] != '\0');
    }
    /* No frame was opened: the next push and pop pair up, and keep is
     * still a local of the base frame. */
    tt_frame f = tt_frame_push(t, 3);
    CHECK(!tt_frame_is_null(f));
    tt_local l = tt_local_new(t, tt_local_get(t, keep));
    CHECK(!tt_local_is_null(l));
    CHECK(tt_local_is_null(tt_frame_pop(t, f, TT_NO_LOCAL)));
    tt_clear_error();
    tt_frame_pop(t, f, TT_NO_LOCAL);
    CHECK_ERR(TT_ESTATE);
    still_usable(keep, 1);
    close_heap();
}

/* Null threads and heaps: an error, never a crash, on the out-of-line
 * entry points. */
static void test_null_handles(void)
{
    tt_clear_error();
    CHECK(tt_thread_attach(NULL) == NULL);
    CHECK_ERR(TT_EINVAL);
    tt_clear_error();
    CHECK_EQ(tt_collect(NULL), TT_EINVAL);
    CHECK_ERR(TT_EINVAL);
    CHECK_EQ(tt_heap_verify(NULL, NULL), TT_EINVAL);
    CHECK_EQ(tt_is_object(NULL, TT_NULL), 0);
    CHECK(tt_thread_heap(NULL) == NULL);
    CHECK_EQ(tt_heap_checked(NULL), 0);
    tt_clear_error();
    CHECK(tt_global_is_null(tt_global_new(NULL, TT_NULL)));
    CHECK_ERR(TT_EINVAL);
    CHECK(tt_weak_is_null(tt_weak_new(NULL, TT_NULL)));
    CHECK_ERR(TT_EINVAL);
    tt_heap_close(NULL);
}

/* Handles of the wrong kind, or made up: TT_ESTALE, no crash. */
static void test_made_up_handles(void)
{
    open_cfg(0);
    tt_local keep = make_keep();
    tt_global g = tt_global_new(t, tt_local_get(t, keep));
    static const uint64_t junk[] = {0, 1, 0xffffffff, (uint64_t)3 << 32 | 1, UINT64_MAX,
                                    (uint64_t)1 << 32 | 0x7fffffff};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        if (junk[i] == g.bits) continue;
        tt_clear_error();
        CHECK(tt_is_null(tt_global_get(t, (tt_global){junk[i]})));
        CHECK_ERR(TT_ESTALE);
        CHECK_EQ(tt_global_free(t, (tt_global){junk[i]}), TT_ESTALE);
        CHECK(tt_is_null(tt_weak_get(t, (tt_weak){junk[i]})));
        CHECK_ERR(TT_ESTALE);
        CHECK_EQ(tt_weak_free(t, (tt_weak){junk[i]}), TT_ESTALE);
        CHECK(tt_is_null(tt_local_get(t, (tt_local){junk[i]})));
        CHECK_ERR(TT_ESTALE);
        CHECK_EQ(tt_local_set(t, (tt_local){junk[i]}, TT_NULL), TT_ESTALE);
    }
    CHECK_EQU(tt_test_stats(h).globals, 1);
    CHECK_REF(tt_global_get(t, g), tt_local_get(t, keep));
    CHECK_EQ(tt_global_free(t, g), TT_OK);
    still_usable(keep, 1);
    close_heap();
}

int main(void)
{
    RUN(test_bad_types);
    RUN(test_bad_small_types_cold);
    RUN(test_bad_small_types_warm);
    RUN(test_not_an_array_type);
    RUN(test_absurd_sizes);
    RUN(test_beyond_limit);
    RUN(test_frame_capacity_range);
    RUN(test_null_handles);
    RUN(test_made_up_handles);
    return tt_test_done();
}
