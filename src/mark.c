/*
 * mark.c: marking, with an explicit stack and a prefetch ring.
 *
 * Reaching an object only pushes it. Popping it moves it into a small ring
 * and prefetches its header; when it leaves the ring its header is read
 * (usually from cache by then), it is marked, and if it was not marked
 * already and its type can hold references, its reference fields are
 * pushed as the type declares: a list of offsets, every element of a
 * reference array, or the type's own trace function through a tt_tracer.
 * Atomic objects and data arrays are marked but never scanned. An object
 * reached twice before it is marked is pushed twice; the second copy finds
 * it marked and is dropped.
 *
 * Roots are marked at once and pushed tagged (bit 0 set) as "marked, scan
 * it", so that a root dropped by a stack overflow is still found by its
 * mark.
 *
 * If the stack cannot grow, the reference is dropped and the heap notes an
 * overflow; after the drain, the children of every marked object are
 * pushed again until no overflow remains. That is slow but bounded, and it
 * keeps marking correct when memory is short, exactly when a collection is
 * most needed.
 *
 * Parallel marking. A drain starts on the collecting thread; if work is
 * still left after a few thousand objects and the heap has more than one
 * marking thread (tt_config.mark_threads), helper threads join: each
 * marker has its own stack, and marks small objects with plain stores to
 * a side table of mark bytes (see set_mark_par), which the markers fold
 * into the bitmap when the drain is over; only objects whose scan must
 * happen once are claimed with an atomic or on the bitmap word. Work is
 * shared through a pool of packets: a marker with a deep stack moves the
 * oldest half of its stack (the entries nearest the roots, the largest
 * subgraphs) into a packet while more markers wait than the pool has
 * packets for; an empty marker takes a packet or waits. The drain ends
 * when every marker is idle and the pool is empty.
 * Everything else of a collection (roots, the ephemeron fixpoint,
 * finalization ordering, sweeping) runs on the collecting thread between
 * drains, so ordering and ephemerons see one finished marking each time.
 */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "internal.h"

#define INITIAL_STACK 8192u
#define RING 32u /* objects in flight between prefetch and use; a power of two */
#define ROOT_TAG ((uintptr_t)1)

#define PACKET 512u       /* entries moved per shared packet */
/* Objects a drain marks alone before asking for help. Sharing has costs a
 * small drain does not repay: waking the helpers and waiting for them,
 * and folding the mark bytes of every chunk. On the 2-core machines
 * measured (bench/parmark, full collections), 2 markers took 1.3x the
 * pause of one at 8 MiB live, about the same at 16, 0.77x at 32 and 0.65x
 * at 64. So a drain marks alone for SOLO_BUDGET objects when the last
 * collection found at least cfg.parallel_mark_min bytes live (default
 * PAR_MIN_LIVE), and for that many bytes of 32-byte objects otherwise: a
 * small heap marks alone, a heap that grew past the mark asks for help
 * late in its first big drain, and from the next one early. */
#define SOLO_BUDGET 16384u
#define PAR_MIN_LIVE ((size_t)16 << 20)
#define MAX_MARKERS 64u
#define PMHINTS 1024u /* a power of two */

struct tt__marker {
    tt_heap *h;
    uintptr_t *stack;
    size_t top, cap;
    bool overflow;
    bool parallel; /* mark bytes, shared work */
    /* Parallel drains: the mark bytes of the chunk at each address modulo
     * PMHINTS chunks (the last chunk there wins), PMHINTS entries set
     * before each drain. Only for prefetching: an address reached is not
     * known to be in a chunk until its header is read (large objects are
     * not), so a wrong guess must be harmless. One copy per marker, in
     * memory of its own: shared with the pool's hot fields it was slower. */
    const uint8_t **pmhint;
    struct tt__markpool *pool;
};

struct packet {
    size_t n;
    uintptr_t v[PACKET];
};

struct tt__markpool {
    pthread_mutex_t lock;
    pthread_cond_t work_cv;   /* a packet was shared, the drain is over, or a job starts */
    pthread_cond_t done_cv;   /* a helper left the job */
    unsigned nhelpers;        /* started */
    unsigned want;            /* markers in the current job, the collector included */
    uint64_t job;             /* job number */
    unsigned idle;            /* markers of the job waiting for a packet */
    unsigned finished;        /* helpers that left the job */
    unsigned waiting_idle;    /* read without the lock by busy markers: more markers wait
                                 than the pool has packets for (set under the lock) */
    bool done, stop;
    struct packet **packets;  /* the pool: a stack of full packets */
    size_t npackets, packets_cap;
    pthread_t threads[MAX_MARKERS];
    struct tt__marker m[MAX_MARKERS]; /* m[0] is the collector's */
};

int tt__mark_init(tt_heap *h)
{
    h->mark_stack = tt__pages_reserve(h, INITIAL_STACK * sizeof(uintptr_t), TT__PAGE);
    if (!h->mark_stack) return TT_ENOMEM;
    h->mark_cap = INITIAL_STACK;
    return TT_OK;
}

void tt__mark_finish(tt_heap *h)
{
    tt__pages_release(h, h->mark_stack, h->mark_cap * sizeof(uintptr_t));
    h->mark_stack = NULL;
    h->mark_cap = 0;
}


/* Push when the stack is full: grow it, or note the overflow. */
static void __attribute__((noinline)) push_slow(struct tt__marker *m, uintptr_t p)
{
    if (m->top == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : INITIAL_STACK;
        uintptr_t *s = m->cap ? tt__pages_grow(m->h, m->stack, m->cap * sizeof(uintptr_t),
                                               cap * sizeof(uintptr_t))
                              : tt__pages_reserve(m->h, cap * sizeof(uintptr_t), TT__PAGE);
        if (!s) {
            m->overflow = true;
            return;
        }
        m->stack = s;
        m->cap = cap;
    }
    m->stack[m->top++] = p;
}

static inline void push(struct tt__marker *m, uintptr_t p)
{
    if (TT_UNLIKELY(m->top == m->cap)) {
        push_slow(m, p);
        return;
    }
    m->stack[m->top++] = p;
}

static inline bool scannable(const tt_type *ty)
{
    return ty->kind != TT_KIND_ATOMIC && ty->kind != TT_KIND_DATA_ARRAY;
}

static inline const tt_type *type_of_hdr(uintptr_t hdr)
{
    return (const tt_type *)(hdr & ~TT__HDR_FLAGS);
}

/* The collector's marker, over the heap's own stack (which the
 * finalization walk also uses between drains). */
static struct tt__marker main_marker(tt_heap *h)
{
    return (struct tt__marker){.h = h, .stack = h->mark_stack, .top = h->mark_top, .cap = h->mark_cap};
}
static void main_marker_save(tt_heap *h, const struct tt__marker *m)
{
    h->mark_stack = m->stack;
    h->mark_top = m->top;
    h->mark_cap = m->cap;
    if (m->overflow) h->mark_overflow = true;
}

void tt__mark_root(tt_heap *h, uintptr_t p)
{
    if (!p) return;
    uintptr_t hdr = ((const uintptr_t *)p)[-1];
    if (!tt__set_mark_hdr(p, hdr) || !scannable(type_of_hdr(hdr))) return;
    if (TT_LIKELY(h->mark_top < h->mark_cap)) {
        h->mark_stack[h->mark_top++] = p | ROOT_TAG;
        return;
    }
    struct tt__marker m = main_marker(h);
    push_slow(&m, p | ROOT_TAG);
    main_marker_save(h, &m);
}

/* Parallel marking of p; true if this marker is to scan p. An object is
 * marked if its bitmap bit is set (by an earlier drain, or by an exact
 * claim below) or its mark byte holds its tag (see TT__PMARK_SHIFT). The
 * drain sets mark bytes with plain stores, not locked ors on the shared
 * bitmap word: two markers that reach the same unmarked object at once
 * may both store and both scan it, which only pushes its children twice.
 * Where that is not enough, the scan makes an exact claim (claim_bit): a
 * custom trace function is called once per object, an ephemeron recorded
 * once, and an object of an 8-byte slot, which shares its byte with a
 * neighbour (whose store may overwrite its tag), keeps its mark in the
 * bitmap. Large objects have a mark word of their own, claimed exactly. */
static inline bool set_mark_par(uintptr_t p, uintptr_t hdr)
{
    if (TT_UNLIKELY(hdr & TT__HDR_LARGE)) {
        struct tt__large *lo = tt__large_of(p);
        if (__atomic_load_n(&lo->mark, __ATOMIC_RELAXED)) return false;
        return __atomic_exchange_n(&lo->mark, 1, __ATOMIC_RELAXED) == 0;
    }
    uint64_t bit;
    const uint64_t *w = tt__mark_word(p - 8, &bit);
    if (__atomic_load_n(w, __ATOMIC_RELAXED) & bit) return false;
    struct tt__chunk *c = tt__chunk_of(p);
    uintptr_t off = (p - 8) & TT__CHUNK_MASK;
    uint8_t *b = c->pmarks + (off >> TT__PMARK_SHIFT); /* every chunk has them (prepare) */
    uint8_t tag = (uint8_t)(1u + ((off >> 3) & 1));
    if (__atomic_load_n(b, __ATOMIC_RELAXED) == tag) return false;
    __atomic_store_n(b, tag, __ATOMIC_RELAXED);
    if (TT_UNLIKELY(!__atomic_load_n(&c->pdirty, __ATOMIC_RELAXED)))
        __atomic_store_n(&c->pdirty, 1, __ATOMIC_RELAXED);
    return true;
}

/* The exact claim of a small object in a parallel drain: an atomic or on
 * its bitmap word (which holds the bits of 63 other granules, which other
 * markers may be setting); true if this marker set the bit. */
static bool claim_bit(uintptr_t p)
{
    uint64_t bit;
    uint64_t *w = tt__mark_word(p - 8, &bit);
    return (__atomic_fetch_or(w, bit, __ATOMIC_RELAXED) & bit) == 0;
}

/* A small object with nothing to scan, marked by its byte: one of an
 * 8-byte slot (header only) keeps its mark in the bitmap (see
 * set_mark_par). */
static inline void claim_if_tiny(uintptr_t p, const tt_type *ty)
{
    if (TT_UNLIKELY(ty->size == 0)) claim_bit(p);
}

static void visit_field(tt_tracer *tr, tt_ref *field)
{
    if (field->bits) push(tr->ctx, field->bits);
}

void tt_trace_field(tt_tracer *tr, tt_ref *field) { tr->visit(tr, field); }

/* An ephemeron met by marker m: recorded for the fixpoint (under the pool
 * lock when markers run in parallel), or traced strongly if the record
 * cannot grow. */
static void ephemeron_met(struct tt__marker *m, uintptr_t p)
{
    bool ok;
    if (m->parallel) {
        pthread_mutex_lock(&m->pool->lock);
        ok = tt__ephemeron_found(m->h, p);
        pthread_mutex_unlock(&m->pool->lock);
    } else {
        ok = tt__ephemeron_found(m->h, p);
    }
    if (!ok) {
        const tt_ref *e = (const tt_ref *)p;
        if (e[0].bits) push(m, e[0].bits);
        if (e[1].bits) push(m, e[1].bits);
    }
}

/* Push the reference fields of the object at p onto m, as marking does. */
static void trace_into(struct tt__marker *m, uintptr_t p)
{
    const tt_type *ty = type_of_hdr(((const uintptr_t *)p)[-1]);
    if (ty->kind == TT__KIND_EPHEMERON) {
        ephemeron_met(m, p);
        return;
    }
    tt_tracer tr = {visit_field, m->h, m};
    tt__trace_object(m->h, p, &tr);
}

/* Report every reference field of the object at p to tr->visit (tr NULL:
 * push them onto the collector's stack for marking). Used by the verifier,
 * the finalization walk and overflow recovery; the drain loop below has
 * its own copy of the common cases. */
void tt__trace_object(tt_heap *h, uintptr_t p, tt_tracer *tr)
{
    if (!tr) {
        struct tt__marker m = main_marker(h);
        trace_into(&m, p);
        main_marker_save(h, &m);
        return;
    }
    const tt_type *ty = type_of_hdr(((const uintptr_t *)p)[-1]);
    switch (ty->kind) {
    case TT_KIND_FIXED:
        for (uint32_t i = 0; i < ty->nrefs; i++) tr->visit(tr, (tt_ref *)(p + ty->ref_offsets[i]));
        break;
    case TT_KIND_REF_ARRAY: {
        size_t n = *(const size_t *)p;
        tt_ref *e = (tt_ref *)(p + ty->size);
        for (size_t i = 0; i < n; i++) tr->visit(tr, &e[i]);
        break;
    }
    case TT_KIND_CUSTOM:
        if (ty->trace) ty->trace(tr, (void *)p);
        break;
    case TT__KIND_EPHEMERON:
        /* Only walks other than marking get here; they see both fields. */
        tr->visit(tr, (tt_ref *)p);
        tr->visit(tr, (tt_ref *)p + 1);
        break;
    default:
        break;
    }
}

/* ---- sharing work ---- */

/* Move the oldest half of m's stack (at most a packet) to the pool. */
static void __attribute__((noinline)) share(struct tt__marker *m)
{
    struct packet *pk = malloc(sizeof *pk);
    if (!pk) return;
    size_t n = m->top / 2;
    if (n > PACKET) n = PACKET;
    memcpy(pk->v, m->stack, n * sizeof(uintptr_t));
    memmove(m->stack, m->stack + n, (m->top - n) * sizeof(uintptr_t));
    m->top -= n;
    pk->n = n;
    struct tt__markpool *mp = m->pool;
    pthread_mutex_lock(&mp->lock);
    if (mp->npackets == mp->packets_cap) {
        size_t cap = mp->packets_cap ? mp->packets_cap * 2 : 64;
        struct packet **a = realloc(mp->packets, cap * sizeof *a);
        if (!a) {
            pthread_mutex_unlock(&mp->lock);
            memmove(m->stack + n, m->stack, m->top * sizeof(uintptr_t));
            memcpy(m->stack, pk->v, n * sizeof(uintptr_t));
            m->top += n;
            free(pk);
            return;
        }
        mp->packets = a;
        mp->packets_cap = cap;
    }
    mp->packets[mp->npackets++] = pk;
    /* Enough packets for every waiting marker: stop sharing, or markers
     * would keep handing each other work through the pool. */
    if (mp->npackets >= mp->idle) __atomic_store_n(&mp->waiting_idle, 0, __ATOMIC_RELAXED);
    pthread_cond_signal(&mp->work_cv);
    pthread_mutex_unlock(&mp->lock);
}

/* Take a packet into m's empty stack, waiting for one while other markers
 * work; false once the drain is over (every marker idle, pool empty). */
static bool take_work(struct tt__marker *m)
{
    struct tt__markpool *mp = m->pool;
    pthread_mutex_lock(&mp->lock);
    mp->idle++;
    for (;;) {
        if (mp->npackets) {
            struct packet *pk = mp->packets[--mp->npackets];
            mp->idle--;
            pthread_mutex_unlock(&mp->lock);
            for (size_t i = 0; i < pk->n; i++) push(m, pk->v[i]);
            free(pk);
            return true;
        }
        if (mp->done || mp->idle == mp->want) {
            mp->done = true;
            pthread_cond_broadcast(&mp->work_cv);
            pthread_mutex_unlock(&mp->lock);
            return false;
        }
        __atomic_store_n(&mp->waiting_idle, 1, __ATOMIC_RELAXED);
        pthread_cond_wait(&mp->work_cv, &mp->lock);
    }
}

/* ---- the drain ---- */

/* The hot loop, for one marker. The stack lives in locals so the compiler
 * can keep it in registers; anything that may push through the marker (a
 * custom trace function, an ephemeron, a stack that must grow) writes it
 * back first. `par` is a constant at each call, so each mode gets its own
 * copy (forced: gcc 12 kept one copy testing `par` at run time, which made
 * marking alone about 7% slower). Returns early, stack not empty, after
 * `budget` objects (0: none). */
static inline __attribute__((always_inline)) void drain_core(struct tt__marker *m, const bool par,
                                                            size_t budget)
{
    uintptr_t ring[RING];
    unsigned head = 0, count = 0;
    const uint8_t *const *pmhint = par ? m->pmhint : NULL;
    uintptr_t *stack = m->stack;
    size_t top = m->top, cap = m->cap;
    size_t done = 0;

#define PUSH(v)                                                    \
    do {                                                           \
        uintptr_t v_ = (v);                                        \
        if (v_) {                                                  \
            if (TT_LIKELY(top < cap)) {                            \
                stack[top++] = v_;                                 \
            } else {                                               \
                m->top = top;                                      \
                push_slow(m, v_);                                  \
                stack = m->stack;                                  \
                top = m->top;                                      \
                cap = m->cap;                                      \
            }                                                      \
        }                                                          \
    } while (0)

    for (;;) {
        while (count < RING && top) {
            uintptr_t q = stack[--top];
            __builtin_prefetch((const void *)((q & ~ROOT_TAG) - 8), 1);
            if (par) { /* in integers: the hint may be NULL */
                uintptr_t a_ = (q & ~ROOT_TAG) - 8;
                uintptr_t pm_ = (uintptr_t)pmhint[(a_ >> TT__CHUNK_SHIFT) & (PMHINTS - 1)];
                __builtin_prefetch((const void *)(pm_ + ((a_ & TT__CHUNK_MASK) >> TT__PMARK_SHIFT)), 1);
            }
            ring[(head + count++) & (RING - 1)] = q;
        }
        if (!count) break;
        if (budget && done >= budget) {
            /* Put the ring back under the stack's top, in order. */
            while (count) PUSH(ring[(head + --count) & (RING - 1)]);
            break;
        }
        uintptr_t p = ring[head];
        head = (head + 1) & (RING - 1);
        count--;
        uintptr_t hdr;
        bool by_byte = false; /* marked by its byte here: the scan may be another's too */
        if (p & ROOT_TAG) {
            p &= ~ROOT_TAG;
            hdr = ((const uintptr_t *)p)[-1];
        } else {
            hdr = ((const uintptr_t *)p)[-1];
            if (par) {
                if (!set_mark_par(p, hdr)) continue;
                by_byte = !(hdr & TT__HDR_LARGE);
            } else if (!tt__set_mark_hdr(p, hdr)) {
                continue;
            }
        }
        done++;
        const tt_type *ty = type_of_hdr(hdr);
        switch (ty->kind) {
        case TT_KIND_FIXED: {
            uint32_t n = ty->nrefs;
            if (TT_UNLIKELY(n == 0)) {
                if (par && by_byte) claim_if_tiny(p, ty);
                break;
            }
            const uint32_t *off = ty->ref_offsets;
            for (uint32_t i = 0; i < n; i++) PUSH(*(const uintptr_t *)(p + off[i]));
            break;
        }
        case TT_KIND_REF_ARRAY: {
            size_t n = *(const size_t *)p;
            const uintptr_t *e = (const uintptr_t *)(p + ty->size);
            for (size_t i = 0; i < n; i++) PUSH(e[i]);
            break;
        }
        case TT_KIND_CUSTOM:
        case TT__KIND_EPHEMERON:
            if (par && by_byte && !claim_bit(p)) break;
            m->top = top;
            trace_into(m, p);
            stack = m->stack;
            top = m->top;
            cap = m->cap;
            break;
        default: /* atomic objects and data arrays */
            if (par && by_byte) claim_if_tiny(p, ty);
            break;
        }
        if (par && (done & 255) == 0 && top >= 64 &&
            __atomic_load_n(&m->pool->waiting_idle, __ATOMIC_RELAXED)) {
            m->top = top;
            share(m);
            top = m->top;
        }
    }
#undef PUSH
    m->top = top;
}

static void drain_seq(struct tt__marker *m, size_t budget) { drain_core(m, false, budget); }

/* One marker's part of a parallel drain: marking, then (once every
 * marker is done) its share of folding the mark bytes into the bitmap. */
static void drain_par(struct tt__marker *m)
{
    do {
        drain_core(m, true, 0);
    } while (take_work(m));
    tt__space_pmarks_fold(m->h);
}

static void *helper_main(void *arg)
{
    struct tt__marker *m = arg;
    struct tt__markpool *mp = m->pool;
    uint64_t seen = 0;
    pthread_mutex_lock(&mp->lock);
    for (;;) {
        while (!mp->stop && mp->job == seen) pthread_cond_wait(&mp->work_cv, &mp->lock);
        if (mp->stop) break;
        seen = mp->job;
        pthread_mutex_unlock(&mp->lock);
        if (take_work(m)) drain_par(m);
        pthread_mutex_lock(&mp->lock);
        mp->finished++;
        pthread_cond_signal(&mp->done_cv);
    }
    pthread_mutex_unlock(&mp->lock);
    return NULL;
}

static unsigned markers_wanted(const tt_heap *h)
{
    unsigned n = h->cfg.mark_threads;
    if (n == 0 || n == TT_MARK_THREADS_CORES) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (unsigned)c : 1;
    }
    return n > MAX_MARKERS ? MAX_MARKERS : n;
}

/* The pool and its helpers, started on first use; NULL: mark alone. */
static struct tt__markpool *pool_of(tt_heap *h)
{
    if (h->mp) return h->mp->nhelpers ? h->mp : NULL;
    unsigned want = markers_wanted(h);
    if (want < 2) return NULL;
    struct tt__markpool *mp = calloc(1, sizeof *mp);
    if (!mp) return NULL;
    h->mp = mp;
    if (pthread_mutex_init(&mp->lock, NULL) != 0) return NULL;
    pthread_cond_init(&mp->work_cv, NULL);
    pthread_cond_init(&mp->done_cv, NULL);
    for (unsigned i = 0; i < want; i++)
        mp->m[i] = (struct tt__marker){.h = h, .parallel = true, .pool = mp};
    mp->m[0].pmhint = calloc(PMHINTS, sizeof(const uint8_t *));
    if (!mp->m[0].pmhint) return NULL;
    for (unsigned i = 1; i < want; i++) {
        mp->m[i].pmhint = calloc(PMHINTS, sizeof(const uint8_t *));
        if (!mp->m[i].pmhint) break;
        if (pthread_create(&mp->threads[i], NULL, helper_main, &mp->m[i]) != 0) {
            free(mp->m[i].pmhint);
            mp->m[i].pmhint = NULL;
            break;
        }
        mp->nhelpers++;
    }
    return mp->nhelpers ? mp : NULL;
}

/* Drain m0's stack with every helper. */
static void drain_parallel(tt_heap *h, struct tt__markpool *mp, struct tt__marker *m0)
{
    for (unsigned i = 0; i <= mp->nhelpers; i++)
        for (struct tt__chunk *c = h->chunks; c; c = c->next)
            mp->m[i].pmhint[((uintptr_t)c >> TT__CHUNK_SHIFT) & (PMHINTS - 1)] = c->pmarks;
    m0->pmhint = mp->m[0].pmhint;
    pthread_mutex_lock(&mp->lock);
    mp->want = mp->nhelpers + 1;
    mp->idle = 0;
    mp->finished = 0;
    mp->done = false;
    mp->job++;
    /* Helpers enter through take_work, which counts them idle; until they
     * have work, the collector shares what it finds. */
    __atomic_store_n(&mp->waiting_idle, 1, __ATOMIC_RELAXED);
    pthread_cond_broadcast(&mp->work_cv);
    pthread_mutex_unlock(&mp->lock);
    m0->parallel = true;
    m0->pool = mp;
    drain_par(m0);
    m0->parallel = false;
    pthread_mutex_lock(&mp->lock);
    while (mp->finished < mp->nhelpers) pthread_cond_wait(&mp->done_cv, &mp->lock);
    __atomic_store_n(&mp->waiting_idle, 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&mp->lock);
    for (unsigned i = 1; i <= mp->nhelpers; i++)
        if (mp->m[i].overflow) {
            mp->m[i].overflow = false;
            m0->overflow = true;
        }
    h->st.mark_threads = mp->want;
}

static void drain(tt_heap *h)
{
    struct tt__marker m = main_marker(h);
    size_t min_live = h->cfg.parallel_mark_min ? h->cfg.parallel_mark_min : PAR_MIN_LIVE;
    size_t budget = h->st.live_bytes >= min_live ? SOLO_BUDGET : min_live / 32;
    drain_seq(&m, budget > SOLO_BUDGET ? budget : SOLO_BUDGET);
    if (m.top) {
        struct tt__markpool *mp = pool_of(h);
        /* Without mark bytes for every chunk (memory, max_size), alone. */
        if (mp && tt__space_pmarks_prepare(h))
            drain_parallel(h, mp, &m);
        else
            drain_seq(&m, 0);
    }
    main_marker_save(h, &m);
}

/* Overflow recovery: push the children of a marked object again. */
static void retrace(tt_heap *h, uintptr_t p)
{
    if (!scannable(type_of_hdr(((const uintptr_t *)p)[-1]))) return;
    tt__trace_object(h, p, NULL);
    drain(h);
}

void tt__mark_drain(tt_heap *h)
{
    drain(h);
    while (h->mark_overflow) {
        h->mark_overflow = false;
        tt__space_each_marked(h, retrace);
        for (struct tt__large *lo = h->large; lo; lo = lo->next)
            if (lo->mark) retrace(h, (uintptr_t)(&lo->hdr + 1));
    }
}

void tt__mark_workers_stop(tt_heap *h)
{
    struct tt__markpool *mp = h->mp;
    if (!mp) return;
    pthread_mutex_lock(&mp->lock);
    mp->stop = true;
    pthread_cond_broadcast(&mp->work_cv);
    pthread_mutex_unlock(&mp->lock);
    for (unsigned i = 1; i <= mp->nhelpers; i++) pthread_join(mp->threads[i], NULL);
    for (unsigned i = 1; i <= mp->nhelpers; i++)
        tt__pages_release(h, mp->m[i].stack, mp->m[i].cap * sizeof(uintptr_t));
    for (unsigned i = 0; i <= mp->nhelpers; i++) free(mp->m[i].pmhint);
    for (size_t i = 0; i < mp->npackets; i++) free(mp->packets[i]);
    free(mp->packets);
    pthread_cond_destroy(&mp->done_cv);
    pthread_cond_destroy(&mp->work_cv);
    pthread_mutex_destroy(&mp->lock);
    free(mp);
    h->mp = NULL;
}
