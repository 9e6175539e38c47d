/*
 * stress.c: random object graphs checked against a model.
 *
 * Each round opens a heap with a random configuration and runs a few
 * thousand random operations on it: allocate objects of every kind (fixed
 * nodes with four reference fields, reference arrays with and without a
 * prefix, byte arrays with known contents, word arrays and atomic structs
 * holding bit patterns that look like references, custom-traced objects,
 * some large objects), store references between them, root random parts
 * in locals of nested frames (popped with escapes) and in globals, take
 * weak references, drop random parts, and collect, explicitly or because
 * allocation asked for it.
 *
 * The model is a shadow graph: one malloc'd record per tether object with
 * its kind, unique id, address and the model index of every reference
 * field. After every tt_collect:
 *   - tt_heap_verify returns TT_OK and visits exactly the model's
 *     reachable objects;
 *   - every object reachable in the model has, in tether, its type, id,
 *     contents and edges (each reference field holds exactly the address
 *     of the model's target);
 *   - stats.live_objects equals the model's reachable count and
 *     stats.large_objects its reachable large objects (so every unreachable
 *     object was reclaimed), weak references to dead objects read TT_NULL
 *     and to live ones their target, and in checked mode (or for large
 *     objects) tt_is_object says no for every object that just died.
 * After a collection triggered by an allocation, stats.live_objects equals
 * the model's reachable count before that allocation.
 *
 * The seed is printed; TT_STRESS_SEED=<n> repeats a run and
 * TT_STRESS_ROUNDS=<n> changes its length.
 */
#include <time.h>

#include "tt_test.h"

/* ------------------------------------------------------------------ */
/* Random numbers                                                       */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static uint32_t below(uint32_t n) { return n ? (uint32_t)(rnd() % n) : 0; }
static int chance(unsigned percent) { return below(1000) < percent * 10; }
static int chance_permille(unsigned permille) { return below(1000) < permille; }

/* ------------------------------------------------------------------ */
/* Tether types                                                         */

enum { K_NODE, K_PARR, K_REFS, K_BYTES, K_WORDS, K_CUSTOM, K_ATOMIC, NKINDS };
static const char *kind_name[NKINDS] = {"node", "parr", "refs", "bytes", "words", "custom", "atomic"};

struct snode {
    uint64_t id;
    tt_ref a, b, c, d;
    uint64_t check;
};
static const tt_type node_type = TT_TYPE_INIT(struct snode, a, b, c, d);

/* A reference array whose prefix holds the id: length, id, elements. */
static const tt_type parr_type = {TT_TYPE_SIG, "parr", TT_KIND_REF_ARRAY, 16, sizeof(tt_ref), 0,
                                  NULL, NULL, NULL};

static const tt_type words_type = TT_DATA_ARRAY_TYPE_INIT("words", uint64_t);

struct scustom {
    uint64_t id;
    uint64_t nused; /* r[0, nused) are references; the rest is never traced */
    tt_ref r[3];
    uintptr_t fake; /* bits of some object's address: not a reference */
};
static void custom_trace(tt_tracer *tr, void *payload)
{
    struct scustom *c = payload;
    for (uint64_t i = 0; i < c->nused && i < 3; i++) tt_trace_field(tr, &c->r[i]);
}
static const tt_type custom_type = TT_CUSTOM_TYPE_INIT(struct scustom, custom_trace);

struct satomic {
    uint64_t id;
    uintptr_t fake;
    uint64_t w[4];
};
static const tt_type atomic_type = TT_ATOMIC_TYPE_INIT(struct satomic);

static const tt_type *type_of_kind(int k)
{
    switch (k) {
    case K_NODE: return &node_type;
    case K_PARR: return &parr_type;
    case K_REFS: return &tt_refs_type;
    case K_BYTES: return &tt_bytes_type;
    case K_WORDS: return &words_type;
    case K_CUSTOM: return &custom_type;
    default: return &atomic_type;
    }
}

static uint64_t node_check(uint64_t id) { return id * 0x2545f4914f6cdd1du ^ 0x5a5a; }
static unsigned char byte_pattern(uint64_t id, size_t i)
{
    return (unsigned char)((id * 131u + i * 7u + (i >> 9)) ^ (id >> 3));
}
static uint64_t word_pattern(uint64_t id, size_t i) { return id * 1000003u + i * 77u; }

/* ------------------------------------------------------------------ */
/* The model                                                            */

struct mobj {
    uintptr_t addr;
    uint64_t id;
    int kind;
    uint32_t nref;    /* reference slots */
    int32_t *ref;     /* model index of each slot's target, -1 for null */
    size_t len;       /* arrays: element count */
    uintptr_t fake;   /* words, custom, atomic: the planted bit pattern */
    uint8_t dead;     /* unreachable in the model (for ever after) */
    uint8_t mark;
    uint8_t large;
};

enum { MAXDEPTH = 5, FRAME_CAP = 24, MAXLOC = FRAME_CAP + 48, MAXGLOBALS = 32, MAXWEAKS = 48 };

struct mframe {
    tt_frame f;
    int n;     /* locals, escapes included */
    int n_new; /* locals made with tt_local_new (bounded by FRAME_CAP) */
    struct {
        tt_local l;
        int32_t idx;
    } loc[MAXLOC];
};

static struct {
    tt_heap *h;
    tt_thread *t, *u;
    int checked;
    struct mobj *obj;
    int nobj, capobj;
    int32_t *alive; /* indices of reachable objects */
    int nalive;
    int32_t *pending; /* died since the last collection */
    int npending, cappending;
    int dirty; /* an edge or root was removed since the last recompute */
    struct mframe fr[MAXDEPTH];
    int depth;
    struct {
        tt_global g;
        int32_t idx;
        int used;
    } glob[MAXGLOBALS];
    struct {
        tt_weak w;
        int32_t idx;
        int used;
    } weak[MAXWEAKS];
    uint64_t next_id;
    int32_t *stack;
    int32_t newborn;  /* allocated, not linked yet: a root for the model */
    int calm;         /* a growing round: most drops are skipped */
    long recomputes;
    /* counters */
    long allocs, collects, auto_collects, exact_auto_checks, verifies, large_allocs, pops;
    long live_sum, live_max; /* reachable objects at explicit collections */
} M;

static struct mobj *ob(int32_t i) { return &M.obj[i]; }
static tt_ref ref_of(int32_t i) { return i < 0 ? TT_NULL : (tt_ref){M.obj[i].addr}; }

static void model_reset(void)
{
    for (int i = 0; i < M.nobj; i++) free(M.obj[i].ref);
    M.nobj = 0;
    M.nalive = 0;
    M.npending = 0;
    M.dirty = 0;
    M.depth = 0;
    M.newborn = -1;
    memset(M.glob, 0, sizeof M.glob);
    memset(M.weak, 0, sizeof M.weak);
}

static void *grow(void *p, int *cap, int need, size_t elem)
{
    if (need <= *cap) return p;
    int c = *cap ? *cap * 2 : 1024;
    while (c < need) c *= 2;
    void *q = realloc(p, (size_t)c * elem);
    if (!q) {
        fprintf(stderr, "stress: out of memory for the model\n");
        exit(2);
    }
    *cap = c;
    return q;
}

static int32_t model_new(int kind, uintptr_t addr, uint32_t nref, size_t len)
{
    int capalive = M.capobj;
    M.obj = grow(M.obj, &M.capobj, M.nobj + 1, sizeof *M.obj);
    if (M.capobj != capalive) {
        int c1 = capalive, c2 = capalive;
        M.alive = grow(M.alive, &c1, M.capobj, sizeof *M.alive);
        M.stack = grow(M.stack, &c2, M.capobj, sizeof *M.stack);
    }
    int32_t i = M.nobj++;
    struct mobj *m = ob(i);
    memset(m, 0, sizeof *m);
    m->addr = addr;
    m->id = ++M.next_id;
    m->kind = kind;
    m->nref = nref;
    m->len = len;
    m->ref = nref ? malloc(nref * sizeof(int32_t)) : NULL;
    if (nref && !m->ref) exit(2);
    for (uint32_t k = 0; k < nref; k++) m->ref[k] = -1;
    return i;
}

static void note_dead(int32_t i)
{
    M.obj[i].dead = 1;
    M.pending = grow(M.pending, &M.cappending, M.npending + 1, sizeof *M.pending);
    M.pending[M.npending++] = i;
}

/* Recompute reachability from the roots; newly unreachable objects die. */
static void recompute(void)
{
    int top = 0;
    for (int i = 0; i < M.nobj; i++) M.obj[i].mark = 0;
#define ROOT(ix)                                               \
    do {                                                       \
        int32_t r_ = (ix);                                     \
        if (r_ >= 0 && !M.obj[r_].mark) {                      \
            M.obj[r_].mark = 1;                                \
            M.stack[top++] = r_;                               \
        }                                                      \
    } while (0)
    for (int d = 0; d < M.depth; d++)
        for (int k = 0; k < M.fr[d].n; k++) ROOT(M.fr[d].loc[k].idx);
    for (int g = 0; g < MAXGLOBALS; g++)
        if (M.glob[g].used) ROOT(M.glob[g].idx);
    ROOT(M.newborn);
    while (top > 0) {
        struct mobj *m = ob(M.stack[--top]);
        for (uint32_t k = 0; k < m->nref; k++) ROOT(m->ref[k]);
    }
#undef ROOT
    M.nalive = 0;
    for (int32_t i = 0; i < M.nobj; i++) {
        struct mobj *m = ob(i);
        if (m->mark) {
            if (m->dead) {
                CHECK(!"the model resurrected a dead object");
                exit(3);
            }
            M.alive[M.nalive++] = i;
        } else if (!m->dead) {
            note_dead(i);
        }
    }
    M.dirty = 0;
    M.recomputes++;
}

static void settle(void)
{
    if (M.dirty) recompute();
}

static int32_t random_alive(void)
{
    settle();
    return M.nalive ? M.alive[below((uint32_t)M.nalive)] : -1;
}

/* A random alive object with reference slots, or -1. */
static int32_t random_holder(void)
{
    settle();
    for (int tries = 0; tries < 8 && M.nalive; tries++) {
        int32_t i = M.alive[below((uint32_t)M.nalive)];
        if (ob(i)->nref) return i;
    }
    return -1;
}

/* ------------------------------------------------------------------ */
/* Tether side of the model's operations                                */

static tt_ref *slot_addr(int32_t i, uint32_t k)
{
    struct mobj *m = ob(i);
    switch (m->kind) {
    case K_NODE: {
        struct snode *n = (struct snode *)m->addr;
        return k == 0 ? &n->a : k == 1 ? &n->b : k == 2 ? &n->c : &n->d;
    }
    case K_PARR:
    case K_REFS: return (tt_ref *)tt_array_data(ref_of(i)) + k;
    case K_CUSTOM: return &((struct scustom *)m->addr)->r[k];
    default: abort();
    }
}

/* Store model object `val` (or -1) into slot k of object i. */
static void store_slot(int32_t i, uint32_t k, int32_t val)
{
    struct mobj *m = ob(i);
    if (m->ref[k] >= 0 && m->ref[k] != val) M.dirty = 1;
    m->ref[k] = val;
    tt_ref obj = ref_of(i), v = ref_of(val);
    if ((m->kind == K_PARR || m->kind == K_REFS) && chance(70)) {
        CHECK_EQ(tt_array_set(M.t, obj, k, v), TT_OK);
    } else {
        tt_store(M.t, obj, slot_addr(i, k), v);
    }
}

static int is_large(const tt_type *ty, size_t len)
{
    size_t bytes = (size_t)ty->size + 8 + len * ty->elem_size;
    return ((bytes + 7) & ~(size_t)7) > 16384;
}

static void fill_new(int32_t i)
{
    struct mobj *m = ob(i);
    tt_ref r = ref_of(i);
    switch (m->kind) {
    case K_NODE: {
        struct snode *n = tt_ptr(r);
        n->id = m->id;
        n->check = node_check(m->id);
        break;
    }
    case K_PARR: ((uint64_t *)tt_ptr(r))[1] = m->id; break;
    case K_REFS: break;
    case K_BYTES: {
        unsigned char *b = tt_array_data(r);
        for (size_t k = 0; k < m->len; k++) b[k] = byte_pattern(m->id, k);
        break;
    }
    case K_WORDS: {
        uint64_t *w = tt_array_data(r);
        w[0] = m->id;
        w[1] = m->fake;
        for (size_t k = 2; k < m->len; k++) w[k] = word_pattern(m->id, k);
        break;
    }
    case K_CUSTOM: {
        struct scustom *c = tt_ptr(r);
        c->id = m->id;
        c->nused = m->nref;
        c->fake = m->fake;
        /* the untraced slots hold bits too: they must stay as they are */
        for (uint32_t k = m->nref; k < 3; k++) c->r[k].bits = m->fake;
        break;
    }
    case K_ATOMIC: {
        struct satomic *a = tt_ptr(r);
        a->id = m->id;
        a->fake = m->fake;
        for (int k = 0; k < 4; k++) a->w[k] = word_pattern(m->id, (size_t)k);
        break;
    }
    }
}

static int fresh_zero(tt_ref r, const tt_type *ty, size_t len)
{
    const unsigned char *p = tt_ptr(r);
    size_t n = ty->size + len * ty->elem_size;
    size_t start = ty->elem_size ? 8 : 0; /* the length word is set */
    size_t step = n > 65536 ? 61 : 1;
    for (size_t k = start; k < n; k += step)
        if (p[k]) return 0;
    return 1;
}

/* A local in the innermost frame, if it has room left. */
static int new_local(int32_t idx)
{
    struct mframe *f = &M.fr[M.depth - 1];
    if (f->n_new >= FRAME_CAP || f->n >= MAXLOC) return 0;
    tt_local l = tt_local_new(M.t, ref_of(idx));
    CHECK(!tt_local_is_null(l));
    if (tt_local_is_null(l)) return 0;
    f->loc[f->n].l = l;
    f->loc[f->n].idx = idx;
    f->n++;
    f->n_new++;
    return 1;
}

/* Allocate one object of a random kind and link it somewhere (or not). */
static void op_alloc(void)
{
    int kind = (int)below(NKINDS);
    size_t len = 0;
    uint32_t nref = 0;
    switch (kind) {
    case K_NODE: nref = 4; break;
    case K_PARR:
        len = chance_permille(5) ? 2100 + below(300) : below(40);
        nref = (uint32_t)len;
        break;
    case K_REFS:
        len = below(20);
        nref = (uint32_t)len;
        break;
    case K_BYTES:
        if (chance_permille(15))
            len = 16384 + below(1536u << 10); /* large */
        else if (chance(10))
            len = 300 + below(16000); /* medium classes */
        else
            len = below(300);
        break;
    case K_WORDS: len = 2 + below(60); break;
    case K_CUSTOM: nref = below(4); break;
    default: break;
    }
    const tt_type *ty = type_of_kind(kind);
    int is_array = ty->kind == TT_KIND_REF_ARRAY || ty->kind == TT_KIND_DATA_ARRAY;
    tt_thread *via = chance(20) ? M.u : M.t;

    settle();
    tt_stats s0 = tt_test_stats(M.h);
    int nalive_before = M.nalive;
    tt_ref r = is_array ? tt_alloc_array(via, ty, len) : tt_alloc(via, ty);
    if (tt_is_null(r)) {
        CHECK(!"allocation failed");
        fprintf(stderr, "  %s len %zu: %s\n", kind_name[kind], len, tt_last_error()->message);
        return;
    }
    M.allocs++;
    tt_stats s1 = tt_test_stats(M.h);
    if (s1.collections != s0.collections) {
        /* The collection ran before the new object existed. */
        M.auto_collects++;
        M.exact_auto_checks++;
        CHECK_EQU(s1.live_objects, nalive_before);
        M.npending = 0; /* reclaimed, and their memory may be reused now */
    }
    CHECK(tt_type_of(r) == ty);
    if (is_array) CHECK_EQU(tt_array_length(r), len);
    if (!fresh_zero(r, ty, len)) {
        CHECK(!"fresh object not zeroed");
        fprintf(stderr, "  %s len %zu\n", kind_name[kind], len);
    }
    int32_t i = model_new(kind, r.bits, nref, len);
    struct mobj *m = ob(i);
    long recomputes_before = M.recomputes;
    M.newborn = i;
    m->large = (uint8_t)is_large(ty, len);
    if (m->large) M.large_allocs++;
    if (kind == K_WORDS || kind == K_CUSTOM || kind == K_ATOMIC) {
        int32_t victim = M.nobj > 1 ? (int32_t)below((uint32_t)M.nobj - 1) : i;
        m->fake = ob(victim)->addr + (chance(20) ? 8 : 0);
    }
    fill_new(i);
    /* Point its slots at alive objects. */
    for (uint32_t k = 0; k < nref && k < 64; k++)
        if (chance(50)) store_slot(i, k, random_alive());

    /* Link it. The model holds it as a root until then, in case the
     * picks above recomputed reachability. */
    unsigned how = below(100);
    int linked = 0;
    if (how < 45) {
        int32_t holder = random_holder();
        if (holder >= 0 && holder != i) {
            uint32_t k = below(ob(holder)->nref);
            if (!M.calm || ob(holder)->ref[k] < 0 || chance(10)) {
                store_slot(holder, k, i);
                linked = 1;
            }
        }
    }
    if (!linked && how < 75 && new_local(i)) linked = 1;
    if (!linked && how < 85) {
        int g = (int)below(MAXGLOBALS);
        if (M.glob[g].used) {
            CHECK_EQ(tt_global_set(M.t, M.glob[g].g, r), TT_OK);
            if (M.glob[g].idx >= 0 && M.glob[g].idx != i) M.dirty = 1;
            M.glob[g].idx = i;
            linked = 1;
        }
    }
    /* A growing round keeps nearly everything: find a free slot. */
    for (int tries = 0; M.calm && !linked && how < 97 && tries < 16; tries++) {
        int32_t holder = random_holder();
        if (holder < 0 || holder == i) continue;
        uint32_t k = below(ob(holder)->nref);
        if (ob(holder)->ref[k] < 0) {
            store_slot(holder, k, i);
            linked = 1;
        }
    }
    M.newborn = -1;
    if (M.recomputes != recomputes_before) {
        /* i is in the alive list already; if it stays unlinked, the next
         * recompute finds it dead. */
        if (!linked) M.dirty = 1;
    } else if (linked) {
        M.alive[M.nalive++] = i;
    } else {
        note_dead(i); /* garbage from birth (its slots may point at live objects) */
    }
}

static void op_store(void)
{
    int32_t holder = random_holder();
    if (holder < 0) return;
    uint32_t k = below(ob(holder)->nref);
    if (M.calm && ob(holder)->ref[k] >= 0 && chance(90)) return;
    int32_t val = chance(15) ? -1 : random_alive();
    store_slot(holder, k, val);
}

static void op_root_set(void)
{
    if (M.calm && chance(80)) return;
    int d = (int)below((uint32_t)M.depth);
    struct mframe *f = &M.fr[d];
    if (f->n == 0) return;
    int k = (int)below((uint32_t)f->n);
    int32_t val = chance(30) ? -1 : random_alive();
    if (f->loc[k].idx >= 0 && f->loc[k].idx != val) M.dirty = 1;
    f->loc[k].idx = val;
    CHECK_EQ(tt_local_set(M.t, f->loc[k].l, ref_of(val)), TT_OK);
}

static void op_global(void)
{
    int g = (int)below(MAXGLOBALS);
    if (!M.glob[g].used) {
        int32_t val = random_alive();
        tt_global h = tt_global_new(M.t, ref_of(val));
        CHECK(!tt_global_is_null(h));
        M.glob[g].g = h;
        M.glob[g].idx = val;
        M.glob[g].used = 1;
    } else if (chance(50)) {
        if (M.glob[g].idx >= 0) M.dirty = 1;
        CHECK_EQ(tt_global_free(M.t, M.glob[g].g), TT_OK);
        M.glob[g].used = 0;
    } else {
        int32_t val = chance(20) ? -1 : random_alive();
        if (M.glob[g].idx >= 0 && M.glob[g].idx != val) M.dirty = 1;
        CHECK_EQ(tt_global_set(M.t, M.glob[g].g, ref_of(val)), TT_OK);
        M.glob[g].idx = val;
    }
}

static void op_weak(void)
{
    int w = (int)below(MAXWEAKS);
    if (!M.weak[w].used) {
        int32_t val = random_alive();
        if (val < 0) return;
        M.weak[w].w = tt_weak_new(M.t, ref_of(val));
        CHECK(!tt_weak_is_null(M.weak[w].w));
        M.weak[w].idx = val;
        M.weak[w].used = 1;
    } else if (chance(30)) {
        CHECK_EQ(tt_weak_free(M.t, M.weak[w].w), TT_OK);
        M.weak[w].used = 0;
    }
}

static void op_push(void)
{
    if (M.depth >= MAXDEPTH) return;
    struct mframe *f = &M.fr[M.depth];
    f->f = tt_frame_push(M.t, FRAME_CAP);
    CHECK(!tt_frame_is_null(f->f));
    f->n = 0;
    f->n_new = 0;
    M.depth++;
}

static void op_pop(void)
{
    if (M.depth <= 1 || (M.calm && chance(80))) return;
    struct mframe *f = &M.fr[M.depth - 1];
    struct mframe *parent = &M.fr[M.depth - 2];
    int esc = (f->n && parent->n < MAXLOC && chance(60)) ? (int)below((uint32_t)f->n) : -1;
    tt_local e = tt_frame_pop(M.t, f->f, esc >= 0 ? f->loc[esc].l : TT_NO_LOCAL);
    M.depth--;
    M.pops++;
    if (esc >= 0) {
        CHECK(!tt_local_is_null(e));
        parent->loc[parent->n].l = e;
        parent->loc[parent->n].idx = f->loc[esc].idx;
        parent->n++;
        CHECK_REF(tt_local_get(M.t, e), ref_of(f->loc[esc].idx));
    } else {
        CHECK(tt_local_is_null(e));
    }
    M.dirty = 1;
}

/* ------------------------------------------------------------------ */
/* Verification                                                         */

static int bad_objects;

static void object_wrong(int32_t i, const char *what)
{
    if (bad_objects++ < 10)
        fprintf(stderr, "  object #%d (%s, id %" PRIu64 ", at %#" PRIxPTR "): %s\n", (int)i,
                kind_name[ob(i)->kind], ob(i)->id, ob(i)->addr, what);
}

static void verify_object(int32_t i)
{
    struct mobj *m = ob(i);
    tt_ref r = ref_of(i);
    if (tt_type_of(r) != type_of_kind(m->kind)) {
        object_wrong(i, "wrong type in the header");
        return;
    }
    switch (m->kind) {
    case K_NODE: {
        struct snode *n = tt_ptr(r);
        if (n->id != m->id || n->check != node_check(m->id)) object_wrong(i, "node contents");
        break;
    }
    case K_PARR:
        if (((uint64_t *)tt_ptr(r))[1] != m->id) object_wrong(i, "prefix id");
        /* fall through */
    case K_REFS:
        if (tt_array_length(r) != m->len) object_wrong(i, "array length");
        break;
    case K_BYTES: {
        if (tt_array_length(r) != m->len) object_wrong(i, "array length");
        const unsigned char *b = tt_array_data(r);
        size_t step = m->len > 65536 ? 4093 : 1;
        for (size_t k = 0; k < m->len; k += step)
            if (b[k] != byte_pattern(m->id, k)) {
                object_wrong(i, "byte contents");
                break;
            }
        if (m->len && b[m->len - 1] != byte_pattern(m->id, m->len - 1)) object_wrong(i, "last byte");
        break;
    }
    case K_WORDS: {
        if (tt_array_length(r) != m->len) object_wrong(i, "array length");
        const uint64_t *w = tt_array_data(r);
        if (w[0] != m->id || w[1] != m->fake) object_wrong(i, "words id or planted bits");
        for (size_t k = 2; k < m->len; k++)
            if (w[k] != word_pattern(m->id, k)) {
                object_wrong(i, "word contents");
                break;
            }
        break;
    }
    case K_CUSTOM: {
        struct scustom *c = tt_ptr(r);
        if (c->id != m->id || c->nused != m->nref || c->fake != m->fake)
            object_wrong(i, "custom contents");
        for (uint32_t k = m->nref; k < 3; k++)
            if (c->r[k].bits != m->fake) object_wrong(i, "custom untraced slot changed");
        break;
    }
    case K_ATOMIC: {
        struct satomic *a = tt_ptr(r);
        if (a->id != m->id || a->fake != m->fake) object_wrong(i, "atomic contents");
        for (int k = 0; k < 4; k++)
            if (a->w[k] != word_pattern(m->id, (size_t)k)) object_wrong(i, "atomic words");
        break;
    }
    }
    for (uint32_t k = 0; k < m->nref; k++)
        if (slot_addr(i, k)->bits != ref_of(m->ref[k]).bits) {
            object_wrong(i, "an edge differs from the model");
            break;
        }
}

/* Everything the model says, checked against tether. `exact`: right after
 * tt_collect, so counts are those of this collection. */
static void verify_all(int exact)
{
    settle();
    M.verifies++;
    bad_objects = 0;
    for (int k = 0; k < M.nalive; k++) verify_object(M.alive[k]);
    CHECK_EQ(bad_objects, 0);

    tt_verify_report rep;
    memset(&rep, 0, sizeof rep);
    int rc = tt_heap_verify(M.t, &rep);
    CHECK_EQ(rc, TT_OK);
    if (rc != TT_OK) fprintf(stderr, "  verify: %s\n", tt_last_error()->message);
    CHECK_EQU(rep.errors, 0);
    CHECK_EQU(rep.objects, M.nalive);

    for (int d = 0; d < M.depth; d++)
        for (int k = 0; k < M.fr[d].n; k++)
            CHECK_REF(tt_local_get(M.t, M.fr[d].loc[k].l), ref_of(M.fr[d].loc[k].idx));
    int nglob = 0, nweak = 0;
    for (int g = 0; g < MAXGLOBALS; g++)
        if (M.glob[g].used) {
            nglob++;
            CHECK_REF(tt_global_get(M.t, M.glob[g].g), ref_of(M.glob[g].idx));
        }
    tt_stats s = tt_test_stats(M.h);
    for (int w = 0; w < MAXWEAKS; w++)
        if (M.weak[w].used) {
            nweak++;
            struct mobj *m = ob(M.weak[w].idx);
            tt_ref got = tt_weak_get(M.t, M.weak[w].w);
            if (!m->dead)
                CHECK_REF(got, ref_of(M.weak[w].idx));
            else if (exact)
                CHECK(tt_is_null(got));
        }
    CHECK_EQU(s.globals, nglob);
    CHECK_EQU(s.weaks, nweak);

    if (exact) {
        CHECK_EQU(s.live_objects, M.nalive);
        uint64_t large = 0;
        for (int k = 0; k < M.nalive; k++) large += ob(M.alive[k])->large;
        CHECK_EQU(s.large_objects, large);
        int lingering = 0;
        for (int k = 0; k < M.npending; k++) {
            struct mobj *m = ob(M.pending[k]);
            if ((M.checked || m->large) && tt_is_object(M.t, ref_of(M.pending[k]))) lingering++;
        }
        CHECK_EQ(lingering, 0);
        M.npending = 0;
    }
}

static void op_collect(void)
{
    settle();
    tt_stats s0 = tt_test_stats(M.h);
    CHECK_EQ(tt_collect(M.t), TT_OK);
    tt_stats s1 = tt_test_stats(M.h);
    CHECK_EQU(s1.collections, s0.collections + 1);
    M.collects++;
    M.live_sum += M.nalive;
    if (M.nalive > M.live_max) M.live_max = M.nalive;
    verify_all(1);
}

/* ------------------------------------------------------------------ */
/* Rounds                                                               */

static void round_run(int round, int ops)
{
    static const size_t initial[] = {16 << 10, 64 << 10, 256 << 10, 0};
    static const unsigned growth[] = {0, 50, 150, 400};
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.initial_size = initial[below(4)];
    cfg.growth_percent = growth[below(4)];
    model_reset();
    M.calm = round % 3 == 1;
    M.h = tt_heap_open(&cfg);
    if (!M.h) {
        CHECK(!"cannot open a heap");
        return;
    }
    M.checked = tt_heap_checked(M.h);
    M.t = tt_thread_attach(M.h);
    M.u = tt_thread_attach(M.h);
    if (!M.t || !M.u) {
        CHECK(!"cannot attach");
        return;
    }
    op_push(); /* the round's outer frame, never popped until the end */

    for (int n = 0; n < ops && tt__failures == 0; n++) {
        settle();
        /* Keep the live graph within bounds: drop more when it is big. */
        int big = M.nalive > 2500;
        unsigned r = below(1000);
        if (r < (big ? 250u : 450u))
            op_alloc();
        else if (r < 600)
            op_store();
        else if (r < (big ? 720u : 640u)) {
            int32_t holder = random_holder();
            if (holder >= 0) store_slot(holder, below(ob(holder)->nref), -1);
        } else if (r < 720)
            new_local(random_alive());
        else if (r < 800)
            op_root_set();
        else if (r < 860)
            op_global();
        else if (r < 900)
            op_weak();
        else if (r < 935)
            op_push();
        else if (r < (big ? 985u : 965u))
            op_pop();
        else if (r < 985)
            op_collect();
        else if (r < 995)
            verify_all(0);
        else {
            /* out-of-range stores change nothing */
            int32_t i = random_holder();
            if (i >= 0 && (ob(i)->kind == K_PARR || ob(i)->kind == K_REFS)) {
                CHECK_EQ(tt_array_set(M.t, ref_of(i), ob(i)->len, TT_NULL), TT_ERANGE);
                CHECK(tt_is_null(tt_array_get(ref_of(i), ob(i)->len)));
            }
        }
    }
    op_collect();

    if (round % 2 == 0) {
        /* Drop everything: nothing may survive. */
        M.calm = 0;
        while (M.depth > 1) op_pop();
        for (int k = 0; k < M.fr[0].n; k++) {
            CHECK_EQ(tt_local_set(M.t, M.fr[0].loc[k].l, TT_NULL), TT_OK);
            M.fr[0].loc[k].idx = -1;
        }
        for (int g = 0; g < MAXGLOBALS; g++)
            if (M.glob[g].used) {
                CHECK_EQ(tt_global_free(M.t, M.glob[g].g), TT_OK);
                M.glob[g].used = 0;
            }
        M.dirty = 1;
        op_collect();
        tt_stats s = tt_test_stats(M.h);
        CHECK_EQU(s.live_objects, 0);
        CHECK_EQU(s.large_objects, 0);
        for (int w = 0; w < MAXWEAKS; w++)
            if (M.weak[w].used) {
                CHECK(tt_is_null(tt_weak_get(M.t, M.weak[w].w)));
                CHECK_EQ(tt_weak_free(M.t, M.weak[w].w), TT_OK);
                M.weak[w].used = 0;
            }
        tt_frame_pop(M.t, M.fr[0].f, TT_NO_LOCAL);
        M.depth = 0;
        tt_thread_detach(M.u);
        tt_thread_detach(M.t);
    }
    /* Odd rounds close the heap with everything alive and frames open. */
    tt_heap_close(M.h);
    M.h = NULL;
}

int main(void)
{
    uint64_t seed;
    const char *env = getenv("TT_STRESS_SEED");
    if (env && *env)
        seed = strtoull(env, NULL, 0);
    else
        seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    /* About a second in an optimised build; a few under ASan. */
    int rounds = TT_TEST_SANITIZED ? 9 : 24, ops = 4000;
    env = getenv("TT_STRESS_ROUNDS");
    if (env && *env) rounds = atoi(env);
    printf("stress: seed %" PRIu64 " (repeat with TT_STRESS_SEED=%" PRIu64 "), %d rounds\n", seed,
           seed, rounds);
    fflush(stdout);
    rng_state = seed;
    int r;
    for (r = 0; r < rounds && tt__failures == 0; r++) round_run(r, r % 3 == 1 ? 2 * ops : ops);
    if (tt__failures)
        printf("stress: FAILED in round %d; seed %" PRIu64 "\n", r - 1, seed);
    printf("stress: %ld allocations (%ld large), %ld explicit and %ld allocation-triggered "
           "collections, %ld verifications, %ld frame pops; reachable objects at a collection: "
           "%ld on average, %ld at most\n",
           M.allocs, M.large_allocs, M.collects, M.auto_collects, M.verifies, M.pops,
           M.collects ? M.live_sum / M.collects : 0, M.live_max);
    CHECK(M.collects > 0);
    CHECK(M.auto_collects > 0);
    model_reset();
    free(M.obj);
    free(M.alive);
    free(M.pending);
    free(M.stack);
    return tt_test_done();
}
