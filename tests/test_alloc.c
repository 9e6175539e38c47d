/*
 * test_alloc.c: types and allocation. Every kind of type; zeroed memory,
 * also when memory is reused after a collection; sizes across every size
 * class from an empty payload up to a few MiB (large objects included);
 * objects do not overlap; tt_type_of; array length, data, get and set with
 * their bounds.
 */
#include "tt_test.h"

struct pair {
    tt_ref a;
    uint64_t v;
    tt_ref b;
};
static const tt_type pair_type = TT_TYPE_INIT(struct pair, a, b);

struct blob {
    uint64_t x[5];
};
static const tt_type blob_type = TT_ATOMIC_TYPE_INIT(struct blob);

struct tagged {
    uint64_t tag; /* 1: r holds a reference; else r holds plain bits */
    tt_ref r;
    uint64_t plain;
};
static void tagged_trace(tt_tracer *tr, void *payload)
{
    struct tagged *p = payload;
    if (p->tag == 1) tt_trace_field(tr, &p->r);
}
static const tt_type tagged_type = TT_CUSTOM_TYPE_INIT(struct tagged, tagged_trace);

static const tt_type u16s_type = TT_DATA_ARRAY_TYPE_INIT("u16s", uint16_t);
static const tt_type u32s_type = TT_DATA_ARRAY_TYPE_INIT("u32s", uint32_t);
struct triple {
    uint64_t a, b, c;
};
static const tt_type triples_type = TT_DATA_ARRAY_TYPE_INIT("triples", struct triple);
static const tt_type my_refs_type = TT_REF_ARRAY_TYPE_INIT("my_refs");
/* A reference array with a two-word prefix after the length: elements
 * start at offset 24. */
static const tt_type prefixed_refs_type = {
    TT_TYPE_SIG, "prefixed_refs", TT_KIND_REF_ARRAY, 24, sizeof(tt_ref), 0, NULL, NULL, NULL};

/* Atomic types of every payload size we try, built at run time. */
enum { MAX_SIZED = 512 };
static tt_type sized_types[MAX_SIZED];
static int nsized;
static const tt_type *atomic_of_size(uint32_t size)
{
    for (int i = 0; i < nsized; i++)
        if (sized_types[i].size == size) return &sized_types[i];
    if (nsized == MAX_SIZED) abort();
    tt_type *ty = &sized_types[nsized++];
    ty->sig = TT_TYPE_SIG;
    ty->name = "sized";
    ty->kind = TT_KIND_ATOMIC;
    ty->size = size;
    return ty;
}

static tt_heap *h;
static tt_thread *t;

static void open_heap(void)
{
    h = tt_heap_open(NULL);
    t = h ? tt_thread_attach(h) : NULL;
    if (!t) {
        fprintf(stderr, "cannot open a heap\n");
        exit(2);
    }
}

static void close_heap(void)
{
    tt_thread_detach(t);
    tt_heap_close(h);
    h = NULL;
    t = NULL;
}

static int all_zero(const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i]) return 0;
    return 1;
}

static unsigned char pattern(uint64_t seed, size_t i)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15u + i * 0xbf58476d1ce4e5b9u;
    x ^= x >> 29;
    return (unsigned char)(x ^ (x >> 17));
}

static void fill(void *p, size_t n, uint64_t seed)
{
    unsigned char *c = p;
    for (size_t i = 0; i < n; i++) c[i] = pattern(seed, i);
}

static int filled(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i] != pattern(seed, i)) return 0;
    return 1;
}

static void test_fixed(void)
{
    open_heap();
    tt_local l1 = tt_local_new(t, tt_alloc(t, &pair_type));
    tt_ref p = tt_local_get(t, l1);
    REQUIRE(!tt_is_null(p));
    CHECK(tt_type_of(p) == &pair_type);
    CHECK(all_zero(tt_ptr(p), sizeof(struct pair)));
    CHECK_EQU(p.bits % 8, 0);
    tt_local l2 = tt_local_new(t, tt_alloc(t, &pair_type));
    tt_ref q = tt_local_get(t, l2);
    p = tt_local_get(t, l1);
    REQUIRE(!tt_is_null(q));
    CHECK(!tt_same(p, q));
    tt_store(t, p, &TT_PTR(struct pair, p)->a, q);
    tt_store(t, p, &TT_PTR(struct pair, p)->b, p);
    TT_PTR(struct pair, p)->v = 42;
    CHECK_REF(TT_PTR(struct pair, p)->a, q);
    CHECK_REF(TT_PTR(struct pair, p)->b, p);
    CHECK_EQ(tt_is_object(t, p), 1);
    CHECK_EQ(tt_is_object(t, q), 1);
    /* The address is the payload and stays put across collections. */
    uintptr_t before = p.bits;
    CHECK_EQ(tt_collect(t), TT_OK);
    p = tt_local_get(t, l1);
    CHECK_EQU(p.bits, before);
    CHECK_EQU(TT_PTR(struct pair, p)->v, 42);
    CHECK_REF(TT_PTR(struct pair, p)->a, tt_local_get(t, l2));
    close_heap();
}

static void test_type_descriptors(void)
{
    CHECK_EQU(pair_type.sig, TT_TYPE_SIG);
    CHECK_EQ(pair_type.kind, TT_KIND_FIXED);
    CHECK_EQU(pair_type.size, sizeof(struct pair));
    CHECK_EQU(pair_type.nrefs, 2);
    CHECK_EQU(pair_type.ref_offsets[0], offsetof(struct pair, a));
    CHECK_EQU(pair_type.ref_offsets[1], offsetof(struct pair, b));
    CHECK_STREQ(pair_type.name, "struct pair");
    CHECK_EQ(blob_type.kind, TT_KIND_ATOMIC);
    CHECK_EQU(blob_type.nrefs, 0);
    CHECK_EQ(tagged_type.kind, TT_KIND_CUSTOM);
    CHECK(tagged_type.trace == tagged_trace);
    CHECK_EQ(tt_bytes_type.kind, TT_KIND_DATA_ARRAY);
    CHECK_EQU(tt_bytes_type.elem_size, 1);
    CHECK_EQU(tt_bytes_type.size, 8);
    CHECK_EQ(tt_refs_type.kind, TT_KIND_REF_ARRAY);
    CHECK_EQU(tt_refs_type.elem_size, sizeof(tt_ref));
    CHECK_EQU(tt_refs_type.size, 8);
    CHECK_EQU(tt_refs_type.sig, TT_TYPE_SIG);
    CHECK_EQU(triples_type.elem_size, 24);
    CHECK_EQ(my_refs_type.kind, TT_KIND_REF_ARRAY);
    CHECK_STREQ(my_refs_type.name, "my_refs");
    CHECK_EQU(my_refs_type.size, 8);
}

static void test_atomic_and_custom(void)
{
    open_heap();
    tt_local lb = tt_local_new(t, tt_alloc(t, &blob_type));
    tt_local lt = tt_local_new(t, tt_alloc(t, &tagged_type));
    tt_ref b = tt_local_get(t, lb), c = tt_local_get(t, lt);
    REQUIRE(!tt_is_null(b) && !tt_is_null(c));
    CHECK(tt_type_of(b) == &blob_type);
    CHECK(tt_type_of(c) == &tagged_type);
    CHECK(all_zero(tt_ptr(b), sizeof(struct blob)));
    CHECK(all_zero(tt_ptr(c), sizeof(struct tagged)));
    for (int i = 0; i < 5; i++) TT_PTR(struct blob, b)->x[i] = 0x1111111111111111u * (uint64_t)i;
    TT_PTR(struct tagged, c)->tag = 1;
    tt_store(t, c, &TT_PTR(struct tagged, c)->r, b);
    TT_PTR(struct tagged, c)->plain = 7;
    CHECK_EQ(tt_collect(t), TT_OK);
    b = tt_local_get(t, lb);
    c = tt_local_get(t, lt);
    for (int i = 0; i < 5; i++)
        CHECK_EQU(TT_PTR(struct blob, b)->x[i], 0x1111111111111111u * (uint64_t)i);
    CHECK_REF(TT_PTR(struct tagged, c)->r, b);
    CHECK_EQU(TT_PTR(struct tagged, c)->plain, 7);
    close_heap();
}

/* Arrays: length, data, zeroed elements, get/set and their bounds. */
static void test_arrays(void)
{
    open_heap();
    tt_frame f = tt_frame_push(t, 8);
    tt_local la = tt_local_new(t, tt_alloc_array(t, &tt_refs_type, 10));
    tt_local lx = tt_local_new(t, tt_alloc(t, &pair_type));
    tt_ref a = tt_local_get(t, la), x = tt_local_get(t, lx);
    REQUIRE(!tt_is_null(a) && !tt_is_null(x));
    CHECK(tt_type_of(a) == &tt_refs_type);
    CHECK_EQU(tt_array_length(a), 10);
    CHECK((char *)tt_array_data(a) == (char *)tt_ptr(a) + 8);
    for (size_t i = 0; i < 10; i++) CHECK(tt_is_null(tt_array_get(a, i)));
    CHECK_EQ(tt_array_set(t, a, 3, x), TT_OK);
    CHECK_EQ(tt_array_set(t, a, 9, a), TT_OK);
    CHECK_REF(tt_array_get(a, 3), x);
    CHECK_REF(tt_array_get(a, 9), a);
    CHECK_REF(((tt_ref *)tt_array_data(a))[3], x);
    /* Out of range: TT_NULL on get, TT_ERANGE on set, nothing stored. */
    CHECK(tt_is_null(tt_array_get(a, 10)));
    CHECK(tt_is_null(tt_array_get(a, (size_t)-1)));
    tt_clear_error();
    CHECK_EQ(tt_array_set(t, a, 10, x), TT_ERANGE);
    CHECK_ERR(TT_ERANGE);
    CHECK_EQ(tt_array_set(t, a, (size_t)-1, x), TT_ERANGE);
    CHECK_EQU(tt_array_length(a), 10);
    for (size_t i = 0; i < 10; i++)
        if (i != 3 && i != 9) CHECK(tt_is_null(tt_array_get(a, i)));
    /* The word after the array is not touched either: it is the next
     * object's header or free memory, so allocate a neighbour and check. */
    CHECK_EQ(tt_collect(t), TT_OK);
    a = tt_local_get(t, la);
    CHECK_REF(tt_array_get(a, 3), tt_local_get(t, lx));
    CHECK_REF(tt_array_get(a, 9), a);

    /* Empty arrays: tt_alloc of an array type and n = 0. */
    tt_local le = tt_local_new(t, tt_alloc(t, &tt_refs_type));
    tt_local le2 = tt_local_new(t, tt_alloc_array(t, &tt_bytes_type, 0));
    tt_ref e = tt_local_get(t, le), e2 = tt_local_get(t, le2);
    REQUIRE(!tt_is_null(e) && !tt_is_null(e2));
    CHECK_EQU(tt_array_length(e), 0);
    CHECK_EQU(tt_array_length(e2), 0);
    CHECK(tt_is_null(tt_array_get(e, 0)));
    CHECK_EQ(tt_array_set(t, e, 0, x), TT_ERANGE);
    CHECK(!tt_same(e, e2));

    /* Data arrays of several element sizes. */
    tt_local l16 = tt_local_new(t, tt_alloc_array(t, &u16s_type, 33));
    tt_local l32 = tt_local_new(t, tt_alloc_array(t, &u32s_type, 1000));
    tt_local ltr = tt_local_new(t, tt_alloc_array(t, &triples_type, 7));
    tt_ref a16 = tt_local_get(t, l16), a32 = tt_local_get(t, l32), atr = tt_local_get(t, ltr);
    REQUIRE(!tt_is_null(a16) && !tt_is_null(a32) && !tt_is_null(atr));
    CHECK_EQU(tt_array_length(a16), 33);
    CHECK_EQU(tt_array_length(a32), 1000);
    CHECK_EQU(tt_array_length(atr), 7);
    CHECK(all_zero(tt_array_data(a16), 33 * 2));
    CHECK(all_zero(tt_array_data(a32), 1000 * 4));
    CHECK(all_zero(tt_array_data(atr), 7 * 24));
    fill(tt_array_data(a16), 66, 16);
    fill(tt_array_data(a32), 4000, 32);
    fill(tt_array_data(atr), 7 * 24, 24);
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK(filled(tt_array_data(tt_local_get(t, l16)), 66, 16));
    CHECK(filled(tt_array_data(tt_local_get(t, l32)), 4000, 32));
    CHECK(filled(tt_array_data(tt_local_get(t, ltr)), 7 * 24, 24));
    CHECK_EQU(tt_array_length(tt_local_get(t, l16)), 33);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    close_heap();
}

/* A reference array with a prefix: elements start at `size`, the prefix
 * is the program's and survives collections untouched. */
static void test_prefixed_array(void)
{
    open_heap();
    tt_frame f = tt_frame_push(t, 4);
    tt_local la = tt_local_new(t, tt_alloc_array(t, &prefixed_refs_type, 5));
    tt_local lx = tt_local_new(t, tt_alloc(t, &blob_type));
    tt_ref a = tt_local_get(t, la);
    REQUIRE(!tt_is_null(a));
    CHECK_EQU(tt_array_length(a), 5);
    CHECK((char *)tt_array_data(a) == (char *)tt_ptr(a) + 24);
    CHECK(all_zero((char *)tt_ptr(a) + 8, 16 + 5 * 8));
    uint64_t *prefix = (uint64_t *)tt_ptr(a) + 1;
    prefix[0] = 0xfeedface;
    prefix[1] = 0xdeadbeefcafe;
    CHECK_EQ(tt_array_set(t, a, 4, tt_local_get(t, lx)), TT_OK);
    tt_local_set(t, lx, TT_NULL); /* now reachable only through the array */
    CHECK_EQ(tt_collect(t), TT_OK);
    a = tt_local_get(t, la);
    prefix = (uint64_t *)tt_ptr(a) + 1;
    CHECK_EQU(prefix[0], 0xfeedface);
    CHECK_EQU(prefix[1], 0xdeadbeefcafe);
    tt_ref x = tt_array_get(a, 4);
    REQUIRE(!tt_is_null(x));
    CHECK(tt_type_of(x) == &blob_type);
    CHECK_EQ(tt_is_object(t, x), 1);
    tt_stats s = tt_test_stats(h);
    CHECK_EQU(s.live_objects, 2);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    close_heap();
}

/* One allocation of `payload` bytes, in one of the ways that give that
 * payload: an atomic type of that size, or a byte array. */
struct sized {
    tt_ref r;
    size_t payload; /* bytes the program may use */
    unsigned char *data;
};

static tt_ref alloc_sized(size_t payload, int as_array)
{
    if (as_array) return tt_alloc_array(t, &tt_bytes_type, payload);
    return tt_alloc(t, atomic_of_size((uint32_t)payload));
}

static void *payload_of(tt_ref r, int as_array)
{
    return as_array ? tt_array_data(r) : tt_ptr(r);
}

/* Payload sizes across every size class (and its neighbours) and into the
 * large-object space. */
static size_t sizes[512];
static int nsizes;
static void build_sizes(void)
{
    static const size_t classes[] = {
        0,    8,    16,   24,   32,    64,    120,   128,   248,   256,   320,   384,
        448,  512,  640,  768,  896,   1024,  1280,  1536,  1792,  2048,  2560,  3072,
        3584, 4096, 5120, 6144, 7168,  8192,  10240, 12288, 14336, 16384, 16392, 20000,
        32768, 65536, 100000, 262144, 1048576, 3u << 20};
    for (size_t s = 0; s <= 264; s += 8) sizes[nsizes++] = s;
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++) {
        size_t c = classes[i];
        /* the class itself as a total size, and one granule either side */
        if (c >= 16) sizes[nsizes++] = c - 16;
        if (c >= 8) sizes[nsizes++] = c - 8;
        sizes[nsizes++] = c;
        sizes[nsizes++] = c + 8;
    }
}

static void test_all_sizes(void)
{
    build_sizes();
    for (int as_array = 0; as_array < 2; as_array++) {
        open_heap();
        tt_frame f = tt_frame_push(t, 2);
        tt_local lroot = tt_local_new(t, tt_alloc_array(t, &tt_refs_type, (size_t)nsizes));
        REQUIRE(!tt_local_is_null(lroot) && !tt_is_null(tt_local_get(t, lroot)));
        uint64_t large = 0;
        for (int i = 0; i < nsizes; i++) {
            size_t n = sizes[i];
            /* atomic types are limited to 32-bit sizes; all ours fit */
            tt_ref r = alloc_sized(n, as_array);
            if (tt_is_null(r)) {
                CHECK(!"allocation failed");
                fprintf(stderr, "  size %zu as_array %d: %s\n", n, as_array,
                        tt_last_error()->message);
                continue;
            }
            CHECK_EQU(r.bits % 8, 0);
            if (as_array) {
                CHECK(tt_type_of(r) == &tt_bytes_type);
                CHECK_EQU(tt_array_length(r), n);
            } else {
                CHECK(tt_type_of(r) == atomic_of_size((uint32_t)n));
            }
            if (!all_zero(payload_of(r, as_array), n)) {
                CHECK(!"fresh object not zeroed");
                fprintf(stderr, "  size %zu as_array %d\n", n, as_array);
            }
            fill(payload_of(r, as_array), n, (uint64_t)i);
            CHECK_EQ(tt_array_set(t, tt_local_get(t, lroot), (size_t)i, r), TT_OK);
            if (8 + (as_array ? 8 : 0) + n > 16384) large++;
        }
        tt_stats s = tt_test_stats(h);
        CHECK_EQU(s.large_objects, large);
        /* Everything is intact (no overlap) before and after a collection. */
        for (int pass = 0; pass < 2; pass++) {
            tt_ref root = tt_local_get(t, lroot);
            for (int i = 0; i < nsizes; i++) {
                tt_ref r = tt_array_get(root, (size_t)i);
                if (tt_is_null(r)) continue;
                if (!filled(payload_of(r, as_array), sizes[i], (uint64_t)i)) {
                    CHECK(!"object contents changed");
                    fprintf(stderr, "  size %zu as_array %d pass %d\n", sizes[i], as_array, pass);
                }
                if (as_array) CHECK_EQU(tt_array_length(r), sizes[i]);
                CHECK_EQ(tt_is_object(t, r), 1);
            }
            CHECK_EQ(tt_collect(t), TT_OK);
            s = tt_test_stats(h);
            CHECK_EQU(s.live_objects, (uint64_t)nsizes + 1);
            CHECK_EQU(s.large_objects, large);
        }
        /* Drop them all: the large ones are reclaimed. */
        tt_local_set(t, lroot, TT_NULL);
        CHECK_EQ(tt_collect(t), TT_OK);
        s = tt_test_stats(h);
        CHECK_EQU(s.live_objects, 0);
        CHECK_EQU(s.large_objects, 0);
        tt_frame_pop(t, f, TT_NO_LOCAL);
        close_heap();
    }
}

/* Memory reused after a collection reads as zero again, for every small
 * class: fill objects with ones, drop them, collect, allocate again. */
static void test_reuse_is_zeroed(void)
{
    static const size_t payloads[] = {0, 8, 16, 40, 120, 248, 300, 1000, 4000, 9000, 16000, 20000};
    open_heap();
    for (size_t k = 0; k < sizeof payloads / sizeof payloads[0]; k++) {
        size_t n = payloads[k];
        int count = (int)((256u << 10) / (n + 16));
        for (int round = 0; round < 3; round++) {
            int dirty = 0;
            tt_frame f = tt_frame_push(t, 1);
            tt_local lroot = tt_local_new(t, tt_alloc_array(t, &tt_refs_type, (size_t)count));
            for (int i = 0; i < count; i++) {
                tt_ref r = tt_alloc_array(t, &tt_bytes_type, n);
                REQUIRE(!tt_is_null(r));
                if (!all_zero(tt_array_data(r), n)) dirty++;
                memset(tt_array_data(r), 0xff, n);
                /* keep half, so that freed slots sit between live ones */
                if (i % 2) CHECK_EQ(tt_array_set(t, tt_local_get(t, lroot), (size_t)i, r), TT_OK);
            }
            if (dirty) fprintf(stderr, "  payload %zu round %d: %d dirty\n", n, round, dirty);
            CHECK_EQ(dirty, 0);
            tt_frame_pop(t, f, TT_NO_LOCAL);
            CHECK_EQ(tt_collect(t), TT_OK);
        }
    }
    close_heap();
}

/* Many objects of mixed sizes at once: no two overlap. */
static void test_no_overlap(void)
{
    enum { N = 4000 };
    open_heap();
    tt_frame f = tt_frame_push(t, 1);
    tt_local lroot = tt_local_new(t, tt_alloc_array(t, &tt_refs_type, N));
    uint64_t x = 12345;
    size_t len[N];
    for (int i = 0; i < N; i++) {
        x = x * 6364136223846793005u + 1442695040888963407u;
        len[i] = (size_t)(x >> 33) % (i % 100 == 0 ? 40000 : 600);
        tt_ref r = tt_alloc_array(t, &tt_bytes_type, len[i]);
        REQUIRE(!tt_is_null(r));
        fill(tt_array_data(r), len[i], (uint64_t)i * 7);
        CHECK_EQ(tt_array_set(t, tt_local_get(t, lroot), (size_t)i, r), TT_OK);
    }
    for (int pass = 0; pass < 2; pass++) {
        int bad = 0;
        for (int i = 0; i < N; i++) {
            tt_ref r = tt_array_get(tt_local_get(t, lroot), (size_t)i);
            if (tt_array_length(r) != len[i] || !filled(tt_array_data(r), len[i], (uint64_t)i * 7))
                bad++;
        }
        CHECK_EQ(bad, 0);
        CHECK_EQ(tt_collect(t), TT_OK);
    }
    tt_frame_pop(t, f, TT_NO_LOCAL);
    close_heap();
}

/* Bytes allocated count headers and are exact for sizes that are size
 * classes (every multiple of 8 up to 256 bytes). */
static void test_bytes_allocated(void)
{
    open_heap();
    CHECK_EQ(tt_collect(t), TT_OK);
    tt_stats s0 = tt_test_stats(h);
    for (int i = 0; i < 100; i++) tt_alloc(t, &pair_type);        /* 32 bytes */
    for (int i = 0; i < 10; i++) tt_alloc(t, &blob_type);         /* 48 bytes */
    for (int i = 0; i < 10; i++) tt_alloc_array(t, &tt_bytes_type, 100); /* 8+8+100 -> 120 */
    tt_alloc_array(t, &tt_bytes_type, 100000); /* large: 100016 */
    CHECK_EQ(tt_collect(t), TT_OK);
    tt_stats s1 = tt_test_stats(h);
    CHECK_EQU(s1.bytes_allocated - s0.bytes_allocated, 100 * 32 + 10 * 48 + 10 * 120 + 100016);
    CHECK_EQU(s1.collections, s0.collections + 1);
    close_heap();
}

int main(void)
{
    RUN(test_type_descriptors);
    RUN(test_fixed);
    RUN(test_atomic_and_custom);
    RUN(test_arrays);
    RUN(test_prefixed_array);
    RUN(test_all_sizes);
    RUN(test_reuse_is_zeroed);
    RUN(test_no_overlap);
    RUN(test_bytes_allocated);
    return tt_test_done();
}
