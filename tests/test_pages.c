/*
 * test_pages.c: page hooks (tt_config.pages), used to watch every byte the
 * heap takes and to inject failures, SQLite style: for N = 1, 2, 3, ...
 * the Nth reserve fails (once, or from then on), and a whole scenario runs
 * (open, attach, frames, small, medium and large objects, globals, weak
 * references, collections, close). Every step either succeeds or fails
 * cleanly with TT_ENOMEM; the heap stays usable after a failure; and when
 * the heap is closed every reserved range has been released. The loop
 * ends when the scenario reaches its end without meeting a failure.
 */
#include <stdio.h>
#include <unistd.h>

#include "tt_test.h"

struct pair {
    tt_ref a, b;
    uint64_t v;
};
static const tt_type pair_type = TT_TYPE_INIT(struct pair, a, b);

enum { MAX_RANGES = 4096 };

struct pages {
    long reserves;      /* reserve calls so far */
    long fail_at;       /* the reserve call that fails first; 0: none */
    int persistent;     /* fail every call from fail_at on */
    long injected;      /* failures injected */
    long releases, decommits;
    int decommit_fails; /* decommit returns nonzero and does nothing */
    int errors;         /* hook contract violations seen */
    size_t live_bytes, peak_bytes;
    struct range {
        char *p;
        size_t bytes;
    } live[MAX_RANGES];
    int nlive;
};

static void hook_error(struct pages *pg, const char *what)
{
    pg->errors++;
    fprintf(stderr, "page hook contract: %s\n", what);
}

static void *pg_reserve(size_t bytes, size_t align, void *ctx)
{
    struct pages *pg = ctx;
    pg->reserves++;
    if (align < 4096 || (align & (align - 1)) != 0) hook_error(pg, "bad alignment");
    if (bytes == 0) hook_error(pg, "zero-byte reserve");
    if (pg->fail_at &&
        (pg->reserves == pg->fail_at || (pg->persistent && pg->reserves > pg->fail_at))) {
        pg->injected++;
        return NULL;
    }
    if (pg->nlive == MAX_RANGES) {
        hook_error(pg, "too many live ranges");
        return NULL;
    }
    size_t span = bytes + align;
    char *m = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return NULL;
    uintptr_t a = ((uintptr_t)m + align - 1) & ~(uintptr_t)(align - 1);
    size_t head = a - (uintptr_t)m, tail = span - head - bytes;
    if (head) munmap(m, head);
    if (tail) munmap((char *)a + bytes, tail);
    pg->live[pg->nlive].p = (char *)a;
    pg->live[pg->nlive].bytes = bytes;
    pg->nlive++;
    pg->live_bytes += bytes;
    if (pg->live_bytes > pg->peak_bytes) pg->peak_bytes = pg->live_bytes;
    return (void *)a;
}

static void pg_release(void *p, size_t bytes, void *ctx)
{
    struct pages *pg = ctx;
    pg->releases++;
    for (int i = 0; i < pg->nlive; i++) {
        if (pg->live[i].p == p) {
            if (pg->live[i].bytes != bytes) hook_error(pg, "release with another size");
            munmap(p, pg->live[i].bytes);
            pg->live_bytes -= pg->live[i].bytes;
            pg->live[i] = pg->live[--pg->nlive];
            return;
        }
    }
    hook_error(pg, "release of a range never reserved");
}

static int pg_decommit(void *p, size_t bytes, void *ctx)
{
    struct pages *pg = ctx;
    pg->decommits++;
    int inside = 0;
    for (int i = 0; i < pg->nlive; i++)
        if ((char *)p >= pg->live[i].p && (char *)p + bytes <= pg->live[i].p + pg->live[i].bytes)
            inside = 1;
    if (!inside) hook_error(pg, "decommit outside any reserved range");
    if (pg->decommit_fails) return 1;
    return madvise(p, bytes, MADV_DONTNEED) == 0 ? 0 : 1;
}

static struct pages *pg_new(void)
{
    struct pages *pg = calloc(1, sizeof *pg);
    if (!pg) abort();
    return pg;
}

static void pg_config(struct pages *pg, tt_page_hooks *hooks, tt_config *cfg)
{
    hooks->reserve = pg_reserve;
    hooks->release = pg_release;
    hooks->decommit = pg_decommit;
    hooks->ctx = pg;
    tt_config_init(cfg);
    cfg->pages = hooks;
    cfg->initial_size = 256 << 10;
}

/* ------------------------------------------------------------------ */

enum { OK = 0, FAILED = 1 };

/* The scenario's sizes: each part needs memory more than once (blocks,
 * chunks, handle segments, local slots and frame records grow). */
enum { NPAIRS = 12000, NMEDIUM = 600, NHANDLES = 1100, NFRAMES = 120 };

struct run {
    struct pages *pg;
    int recover; /* on a failure: stop injecting and retry (else give up) */
    int failed_steps;
    int bad; /* a step failed with a code other than TT_ENOMEM */
};

/* A step failed: check how. Returns 1 to retry it (recovery mode). */
static int step_failed(struct run *r, const char *step)
{
    int code = tt_last_error()->code;
    r->failed_steps++;
    if (code != TT_ENOMEM) {
        r->bad++;
        fprintf(stderr, "step %s failed with %s (%s), not TT_ENOMEM\n", step,
                tt_status_name(code), tt_last_error()->message);
    }
    if (r->recover) {
        r->pg->fail_at = 0;
        return 1;
    }
    return 0;
}

#define STEP_REF(r, var, name, expr)                   \
    for (;;) {                                         \
        tt_clear_error();                              \
        var = (expr);                                  \
        if (!tt_is_null(var)) break;                   \
        if (!step_failed((r), (name))) goto out;       \
        recovered++;                                   \
    }

static int chain_ok(tt_ref n, long count)
{
    for (long i = count - 1; i >= 0; i--) {
        if (tt_is_null(n) || TT_PTR(struct pair, n)->v != (uint64_t)i) return 0;
        n = TT_PTR(struct pair, n)->a;
    }
    return tt_is_null(n);
}

/* The scenario. Returns OK if it ran to its end. */
static int scenario(struct run *r)
{
    tt_page_hooks hooks;
    tt_config cfg;
    tt_heap *h = NULL;
    tt_thread *t = NULL;
    int result = FAILED;
    int recovered = 0;
    pg_config(r->pg, &hooks, &cfg);

    for (;;) {
        tt_clear_error();
        h = tt_heap_open(&cfg);
        if (h) break;
        if (!step_failed(r, "open")) goto out;
    }
    for (;;) {
        tt_clear_error();
        t = tt_thread_attach(h);
        if (t) break;
        if (!step_failed(r, "attach")) goto out;
    }
    tt_frame f;
    for (;;) {
        tt_clear_error();
        f = tt_frame_push(t, 4);
        if (!tt_frame_is_null(f)) break;
        if (!step_failed(r, "frame push")) goto out;
    }
    tt_local head = tt_local_new(t, TT_NULL);
    tt_local arr = tt_local_new(t, TT_NULL);
    tt_local big = tt_local_new(t, TT_NULL);

    /* A chain of pairs: several blocks, a collection or two. */
    long n = 0;
    for (; n < NPAIRS; n++) {
        tt_ref p;
        STEP_REF(r, p, "small alloc", tt_alloc(t, &pair_type));
        TT_PTR(struct pair, p)->v = (uint64_t)n;
        tt_store(t, p, &TT_PTR(struct pair, p)->a, tt_local_get(t, head));
        tt_local_set(t, head, p);
    }
    /* Medium objects (enough for a second chunk) and a large reference
     * array holding them. */
    tt_ref a;
    STEP_REF(r, a, "large refs", tt_alloc_array(t, &tt_refs_type, NMEDIUM * 10));
    tt_local_set(t, arr, a);
    for (int i = 0; i < NMEDIUM; i++) {
        tt_ref m;
        STEP_REF(r, m, "medium alloc", tt_alloc_array(t, &tt_bytes_type, 6000 + (size_t)i * 3));
        ((unsigned char *)tt_array_data(m))[0] = (unsigned char)i;
        tt_array_set(t, tt_local_get(t, arr), (size_t)i * 10, m);
    }
    tt_ref b;
    STEP_REF(r, b, "large bytes", tt_alloc_array(t, &tt_bytes_type, (size_t)1 << 20));
    tt_local_set(t, big, b);
    memset(tt_array_data(b), 0x3c, (size_t)1 << 20);

    /* Handles: enough to need several segments of the tables. */
    static tt_global g[NHANDLES];
    static tt_weak w[NHANDLES];
    int ng = 0, nw = 0;
    for (; ng < NHANDLES; ng++) {
        for (;;) {
            tt_clear_error();
            g[ng] = tt_global_new(t, tt_local_get(t, head));
            if (!tt_global_is_null(g[ng])) break;
            if (!step_failed(r, "global new")) goto out;
            recovered++;
        }
    }
    for (; nw < NHANDLES; nw++) {
        for (;;) {
            tt_clear_error();
            w[nw] = tt_weak_new(t, tt_local_get(t, big));
            if (!tt_weak_is_null(w[nw])) break;
            if (!step_failed(r, "weak new")) goto out;
            recovered++;
        }
    }
    /* Deep frames: the frame records and the local slots grow. */
    static tt_frame fr[NFRAMES];
    int nf = 0;
    for (; nf < NFRAMES; nf++) {
        for (;;) {
            tt_clear_error();
            fr[nf] = tt_frame_push(t, 40);
            if (!tt_frame_is_null(fr[nf])) break;
            if (!step_failed(r, "nested frame push")) goto out;
            recovered++;
        }
        for (int k = 0; k < 40; k++) CHECK(!tt_local_is_null(tt_local_new(t, TT_NULL)));
    }
    while (nf > 0) tt_frame_pop(t, fr[--nf], TT_NO_LOCAL);

    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK(chain_ok(tt_local_get(t, head), n));
    for (int i = 0; i < NMEDIUM; i++) {
        tt_ref m = tt_array_get(tt_local_get(t, arr), (size_t)i * 10);
        CHECK(!tt_is_null(m) && ((unsigned char *)tt_array_data(m))[0] == (unsigned char)i);
    }
    CHECK_EQU(((unsigned char *)tt_array_data(tt_local_get(t, big)))[(1 << 20) - 1], 0x3c);
    CHECK_EQ(tt_heap_verify(t, NULL), TT_OK);
    tt_stats s = tt_test_stats(h);
    CHECK_EQU(s.live_objects, NPAIRS + 1 + NMEDIUM + 1);
    CHECK_EQU(s.globals, NHANDLES);
    CHECK_EQU(s.weaks, NHANDLES);
    CHECK_CMPU(s.heap_bytes, >, 4 << 20); /* more than one chunk's worth */

    /* Drop most, collect, and allocate again into the freed memory. */
    tt_local_set(t, arr, TT_NULL);
    for (int i = 0; i < ng; i++) tt_global_free(t, g[i]);
    ng = 0;
    CHECK_EQ(tt_collect(t), TT_OK);
    for (int i = 0; i < 2000; i++) {
        tt_ref m;
        STEP_REF(r, m, "realloc", tt_alloc_array(t, &tt_bytes_type, (size_t)(i % 50) * 40));
        (void)m;
    }
    CHECK(chain_ok(tt_local_get(t, head), n));
    tt_frame_pop(t, f, TT_NO_LOCAL);
    for (int i = 0; i < nw; i++) tt_weak_free(t, w[i]);
    nw = 0;
    tt_thread_detach(t);
    t = NULL;
    result = OK;
    if (recovered && !r->recover) CHECK(!"recovered outside recovery mode");
out:
    tt_heap_close(h);
    /* Everything went back, whatever happened. */
    if (r->pg->nlive != 0 || r->pg->live_bytes != 0) {
        CHECK_EQ(r->pg->nlive, 0);
        CHECK_EQU(r->pg->live_bytes, 0);
    }
    return result;
}

/* Fail the Nth reserve (once or from then on), give up at the failure;
 * N grows until the scenario runs through. */
static void fail_nth(int persistent)
{
    long n;
    long total_failures = 0;
    for (n = 1; n < 100000; n++) {
        struct run r = {pg_new(), 0, 0, 0};
        r.pg->fail_at = n;
        r.pg->persistent = persistent;
        int res = scenario(&r);
        CHECK_EQ(r.pg->errors, 0);
        CHECK_EQ(r.bad, 0);
        int injected = r.pg->injected > 0;
        long reserves = r.pg->reserves;
        total_failures += r.failed_steps;
        free(r.pg);
        if (!injected) {
            /* No failure met: the scenario must have succeeded. */
            CHECK_EQ(res, OK);
            printf("   %s: %ld runs, %ld reserves in a full run, %ld steps failed\n",
                   persistent ? "persistent" : "one-shot", n, reserves, total_failures);
            break;
        }
        /* A persistent failure must stop the scenario (or it needed no more
         * memory); a one-shot failure may be absorbed. Either way, if a
         * step failed the scenario did not claim success. */
        if (r.failed_steps) CHECK_EQ(res, FAILED);
        if (tt__failures > 20) break;
    }
    CHECK(n < 100000);
    CHECK(total_failures > 0); /* the injection did reach the heap */
}

static void test_fail_nth_once(void) { fail_nth(0); }
static void test_fail_nth_persistent(void) { fail_nth(1); }

/* Fail from the Nth reserve on; at the first failed step stop failing and
 * retry the step: it must succeed and the scenario must finish intact. */
static void test_recover_after_failure(void)
{
    long n;
    int recoveries = 0;
    for (n = 1; n < 100000; n++) {
        struct run r = {pg_new(), 1, 0, 0};
        r.pg->fail_at = n;
        r.pg->persistent = 1;
        int res = scenario(&r);
        CHECK_EQ(res, OK);
        CHECK_EQ(r.pg->errors, 0);
        CHECK_EQ(r.bad, 0);
        recoveries += r.failed_steps;
        int injected = r.pg->injected > 0;
        free(r.pg);
        if (!injected || tt__failures > 20) break;
    }
    printf("   %ld runs, %d recoveries\n", n, recoveries);
    CHECK(recoveries > 0);
}

/* The hooks see every byte: a normal run releases all it reserved, and
 * the heap's own footprint stat never exceeds what the hooks handed out. */
static void test_hooks_account(void)
{
    struct pages *pg = pg_new();
    tt_page_hooks hooks;
    tt_config cfg;
    pg_config(pg, &hooks, &cfg);
    tt_heap *h = tt_heap_open(&cfg);
    REQUIRE(h != NULL);
    CHECK(pg->reserves > 0);
    tt_thread *t = tt_thread_attach(h);
    REQUIRE(t != NULL);
    tt_local l = tt_local_new(t, tt_alloc_array(t, &tt_refs_type, 100));
    for (int i = 0; i < 100; i++)
        tt_array_set(t, tt_local_get(t, l), (size_t)i, tt_alloc_array(t, &tt_bytes_type, 50000));
    tt_stats s = tt_test_stats(h);
    CHECK_EQU(s.large_objects, 100);
    CHECK_CMPU(s.heap_bytes, <=, pg->live_bytes);
    CHECK_CMPU(pg->live_bytes, >=, 100 * 50000);
    size_t with_large = pg->live_bytes;
    tt_local_set(t, l, TT_NULL);
    CHECK_EQ(tt_collect(t), TT_OK);
    /* dead large objects go straight back through release */
    CHECK_CMPU(pg->live_bytes + 100 * 50000, <=, with_large);
    tt_heap_close(h);
    CHECK_EQ(pg->nlive, 0);
    CHECK_EQU(pg->live_bytes, 0);
    CHECK_EQ(pg->errors, 0);
    CHECK_EQ(pg->reserves, pg->releases);
    free(pg);
}

/* Memory given back with decommit reads as zero when reused; and if the
 * decommit hook fails (or is missing), the heap still hands out zeroed
 * memory. */
static void reuse_after_shrink(int decommit_mode)
{
    struct pages *pg = pg_new();
    tt_page_hooks hooks;
    tt_config cfg;
    pg_config(pg, &hooks, &cfg);
    if (decommit_mode == 1) pg->decommit_fails = 1;
    if (decommit_mode == 2) hooks.decommit = NULL;
    cfg.initial_size = 64 << 10;
    tt_heap *h = tt_heap_open(&cfg);
    REQUIRE(h != NULL);
    tt_thread *t = tt_thread_attach(h);
    REQUIRE(t != NULL);
    for (int round = 0; round < 4; round++) {
        tt_frame f = tt_frame_push(t, 1);
        tt_local l = tt_local_new(t, tt_alloc_array(t, &tt_refs_type, 2000));
        int dirty = 0;
        for (int i = 0; i < 2000; i++) {
            tt_ref m = tt_alloc_array(t, &tt_bytes_type, 1000);
            REQUIRE(!tt_is_null(m));
            const unsigned char *c = tt_array_data(m);
            for (int k = 0; k < 1000; k++) dirty += c[k] != 0;
            memset(tt_array_data(m), 0xee, 1000);
            tt_array_set(t, tt_local_get(t, l), (size_t)i, m);
        }
        CHECK_EQ(dirty, 0);
        tt_frame_pop(t, f, TT_NO_LOCAL);
        for (int k = 0; k < 6; k++) CHECK_EQ(tt_collect(t), TT_OK);
        /* Empty blocks go back to the OS only after a second as surplus,
         * or at once here. */
        tt_stats before, after;
        tt_heap_stats(h, &before);
        long decommits = pg->decommits;
        (void)tt_collect_and_release(t);
        tt_heap_stats(h, &after);
        if (decommit_mode == 0) {
            CHECK(pg->decommits > decommits);
            CHECK(after.heap_bytes < before.heap_bytes);
        } else {
            CHECK_EQU(after.heap_bytes, before.heap_bytes);
        }
    }
    if (decommit_mode == 0) CHECK(pg->decommits > 0);
    tt_heap_close(h);
    CHECK_EQ(pg->nlive, 0);
    CHECK_EQ(pg->errors, 0);
    free(pg);
}

static void test_decommit_zeroes(void) { reuse_after_shrink(0); }
static void test_decommit_fails(void) { reuse_after_shrink(1); }
static void test_decommit_missing(void) { reuse_after_shrink(2); }

/* Hooks are copied at open: the caller's struct may go away. */
/* A drain of the threads' registration rings (tt_foreign_new without the
 * lock) that cannot grow the cleanup log. The log is filled to a few
 * entries short of its first capacity by objects registered under the
 * lock, then 200 objects are made without it and dropped, and every page
 * reserve fails: the collection cannot put them in the log, so it keeps
 * them alive instead (swept, their cleanups would be lost and their slots
 * reused by the allocations that follow). Once pages come back, a
 * collection registers and finalizes each of them exactly once. */
enum { RING_HELD = 1014, RING_MADE = 200 };
struct ring_fill {
    tt_ref a, b, c, d; /* a foreign object's size */
};
static const tt_type ring_fill_type = TT_TYPE_INIT(struct ring_fill, a, b, c, d);
static int ring_runs[RING_MADE];
static int ring_bad;
static void ring_cleanup(tt_thread *t, tt_ref obj, void *env)
{
    (void)t;
    (void)obj;
    int *slot = env;
    if (slot >= ring_runs && slot < ring_runs + RING_MADE)
        (*slot)++;
    else if (env)
        ring_bad++;
}

static void test_ring_drain_without_memory(void)
{
    struct pages *pg = pg_new();
    tt_page_hooks hooks;
    tt_config cfg;
    pg_config(pg, &hooks, &cfg);
    cfg.checked = TT_CHECKED_OFF; /* the unlocked creation is the unchecked one */
    tt_heap *h = tt_heap_open(&cfg);
    tt_thread *t = h ? tt_thread_attach(h) : NULL;
    REQUIRE(t != NULL);
    memset(ring_runs, 0, sizeof ring_runs);
    ring_bad = 0;
    tt_frame f = tt_frame_push(t, 1);
    tt_local held = tt_local_new(t, tt_alloc_array(t, &tt_refs_type, RING_HELD));
    /* 1 external byte each: the locked path, one log entry each. */
    for (int i = 0; i < RING_HELD; i++)
        tt_array_set(t, tt_local_get(t, held), (size_t)i, tt_foreign_new(t, NULL, 1, ring_cleanup, NULL));
    tt_stats st = tt_test_stats(h);
    CHECK_EQU(st.cleanups_live, RING_HELD);
    /* Fewer than a ring holds (256): all of them wait for the next lock. */
    for (int i = 0; i < RING_MADE; i++) (void)tt_foreign_new(t, NULL, 0, ring_cleanup, &ring_runs[i]);
    pg->fail_at = pg->reserves + 1;
    pg->persistent = 1;
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK(pg->injected > 0);
    st = tt_test_stats(h);
    CHECK_CMPU(st.cleanups_live, <, RING_HELD + RING_MADE); /* some still wait */
    /* Reuse what a collection frees, with objects of their size. */
    for (int i = 0; i < 2000; i++) (void)tt_alloc(t, &ring_fill_type);
    pg->fail_at = 0;
    pg->persistent = 0;
    CHECK_EQ(tt_collect(t), TT_OK);
    tt_run_finalizers(t, 0);
    int once = 0;
    for (int i = 0; i < RING_MADE; i++) once += ring_runs[i] == 1;
    CHECK_EQ(once, RING_MADE);
    CHECK_EQ(ring_bad, 0);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_thread_detach(t);
    tt_heap_close(h);
    CHECK_EQ(pg->errors, 0);
    free(pg);
}

static void test_hooks_copied(void)
{
    struct pages *pg = pg_new();
    tt_page_hooks *hooks = malloc(sizeof *hooks);
    REQUIRE(hooks != NULL);
    tt_config cfg;
    pg_config(pg, hooks, &cfg);
    tt_heap *h = tt_heap_open(&cfg);
    REQUIRE(h != NULL);
    memset(hooks, 0, sizeof *hooks);
    free(hooks);
    tt_thread *t = tt_thread_attach(h);
    REQUIRE(t != NULL);
    tt_frame f = tt_frame_push(t, 50);
    for (int i = 0; i < 50; i++) tt_local_new(t, tt_alloc_array(t, &tt_bytes_type, 40000));
    CHECK_EQ(tt_collect(t), TT_OK);
    CHECK_EQU(tt_test_stats(h).large_objects, 50);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_heap_close(h);
    CHECK_EQ(pg->nlive, 0);
    free(pg);
}

/* The VmFlags line of the mapping that holds addr in /proc/self/smaps,
 * or "" if none was found. */
static void vm_flags_of(uintptr_t addr, char *out, size_t cap)
{
    out[0] = 0;
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return;
    char line[512];
    int inside = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            inside = addr >= lo && addr < hi;
        } else if (inside && strncmp(line, "VmFlags:", 8) == 0) {
            size_t n = strlen(line + 8);
            if (n >= cap) n = cap - 1;
            memcpy(out, line + 8, n);
            out[n] = 0;
            break;
        }
    }
    fclose(f);
}

/* The default page source marks chunks for transparent huge pages (the
 * "hg" flag of madvise(MADV_HUGEPAGE)), unless no_huge_pages says not to;
 * large objects are never marked. Skipped where the kernel has no
 * transparent huge pages. */
static void test_huge_pages_offered(void)
{
    if (access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK) != 0) {
        printf("   (no transparent huge pages here: skipped)\n");
        return;
    }
    for (int off = 0; off < 2; off++) {
        tt_config cfg;
        tt_config_init(&cfg);
        cfg.no_huge_pages = off;
        tt_heap *h = tt_heap_open(&cfg);
        REQUIRE(h != NULL);
        tt_thread *t = tt_thread_attach(h);
        REQUIRE(t != NULL);
        tt_ref small = tt_alloc(t, &pair_type);
        tt_ref large = tt_alloc_array(t, &tt_bytes_type, 1 << 20);
        REQUIRE(!tt_is_null(small) && !tt_is_null(large));
        char flags[256];
        vm_flags_of(small.bits, flags, sizeof flags);
        CHECK(flags[0] != 0);
        CHECK_EQ(strstr(flags, " hg") != NULL, !off);
        vm_flags_of(large.bits, flags, sizeof flags);
        CHECK(flags[0] != 0);
        CHECK(strstr(flags, " hg") == NULL);
        tt_thread_detach(t);
        tt_heap_close(h);
    }
}

int main(void)
{
    RUN(test_huge_pages_offered);
    RUN(test_hooks_account);
    RUN(test_hooks_copied);
    RUN(test_ring_drain_without_memory);
    RUN(test_decommit_zeroes);
    RUN(test_decommit_fails);
    RUN(test_decommit_missing);
    RUN(test_fail_nth_once);
    RUN(test_fail_nth_persistent);
    RUN(test_recover_after_failure);
    return tt_test_done();
}
