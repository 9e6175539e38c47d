/*
 * bench/fin_tether.c: finalizable objects end to end on tether, default
 * heap configuration.
 *
 *   fin_tether VARIANT [N]       N objects (default 2,000,000): allocate,
 *                                register a cleanup, drop; the heap collects
 *                                on its own, tt_run_finalizers runs every
 *                                10,000 objects, and once more after a final
 *                                tt_collect. Timed from the first allocation
 *                                to the last cleanup; every cleanup must have
 *                                run exactly once.
 *   fin_tether meta VARIANT [N]  N objects (default 1,000,000) registered and
 *                                held live in a reference array: the cleanup
 *                                metadata (tt_stats.cleanup_meta_bytes) and
 *                                the heap bytes per object.
 *
 * VARIANT is one of
 *   push     a 16-byte atomic object, then tt_cleanup_push(t, obj, fn, NULL);
 *   foreign  tt_foreign_new(t, addr, 0, fn, NULL), addr a byte of the
 *            program's own table;
 *   type     a 16-byte atomic type with a finalize hook
 *            (TT_FINALIZED_ATOMIC_TYPE_INIT), registered by the allocation.
 *
 * Each cleanup adds one to ran[id], so the end can check that each ran
 * exactly once. Between the allocation of an object and the registration
 * of its cleanup nothing is allocated from the heap, so the object needs no
 * root; it is dropped by simply not being kept.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tether.h>

#include "finbench.h"

enum variant { PUSH, FOREIGN, TYPE };

static unsigned char *ran; /* ran[id]: how many times the cleanup of object id ran */

static void cell_cleanup(tt_thread *t, tt_ref obj, void *env)
{
    (void)t;
    (void)env;
    ran[TT_PTR(struct fb_cell, obj)->id]++;
}

static void foreign_cleanup(tt_thread *t, tt_ref obj, void *env)
{
    (void)env;
    unsigned char *counter = tt_foreign_addr(t, obj);
    (*counter)++;
}

static const tt_type cell_type = TT_ATOMIC_TYPE_INIT(struct fb_cell);
static const tt_type finalized_cell_type =
    TT_FINALIZED_ATOMIC_TYPE_INIT(struct fb_cell, cell_cleanup);

static void die(const char *what)
{
    const tt_error *e = tt_last_error();
    fprintf(stderr, "fin_tether: %s failed: %s (%s)\n", what, tt_status_name(e->code),
            e->message);
    exit(2);
}

/* A new object with one cleanup that counts ran[id]. Not rooted. */
static tt_ref make(tt_thread *t, enum variant v, long id)
{
    tt_ref r;
    switch (v) {
    case PUSH:
        r = tt_alloc(t, &cell_type);
        if (TT_UNLIKELY(tt_is_null(r))) die("tt_alloc");
        TT_PTR(struct fb_cell, r)->id = id;
        if (TT_UNLIKELY(tt_cleanup_push(t, r, cell_cleanup, NULL) != TT_OK))
            die("tt_cleanup_push");
        return r;
    case FOREIGN:
        r = tt_foreign_new(t, &ran[id], 0, foreign_cleanup, NULL);
        if (TT_UNLIKELY(tt_is_null(r))) die("tt_foreign_new");
        return r;
    case TYPE:
    default:
        r = tt_alloc(t, &finalized_cell_type);
        if (TT_UNLIKELY(tt_is_null(r))) die("tt_alloc");
        TT_PTR(struct fb_cell, r)->id = id;
        return r;
    }
}

static enum variant parse_variant(const char *s)
{
    if (strcmp(s, "push") == 0) return PUSH;
    if (strcmp(s, "foreign") == 0) return FOREIGN;
    if (strcmp(s, "type") == 0) return TYPE;
    fprintf(stderr, "fin_tether: unknown variant %s (push, foreign, type)\n", s);
    exit(2);
}

static int throughput(tt_thread *t, enum variant v, long n)
{
    tt_heap *h = tt_thread_heap(t);
    tt_stats st0, st1;
    tt_heap_stats(h, &st0);
    double t0 = fb_now();
    for (long i = 0; i < n; ++i) {
        (void)make(t, v, i);
        if ((i + 1) % FB_RUN_EVERY == 0) (void)tt_run_finalizers(t, 0);
    }
    if (tt_collect(t) != TT_OK) die("tt_collect");
    (void)tt_run_finalizers(t, 0);
    double t1 = fb_now();
    tt_heap_stats(h, &st1);
    return fb_report("fin_tether", ran, n, t1 - t0,
                     (unsigned long)(st1.collections - st0.collections));
}

static int meta(tt_thread *t, enum variant v, long n)
{
    tt_heap *h = tt_thread_heap(t);
    tt_ref arr = tt_alloc_array(t, &tt_refs_type, (size_t)n);
    if (tt_is_null(arr)) die("tt_alloc_array");
    (void)tt_local_new(t, arr);
    tt_stats st0, st1, st2;
    if (tt_collect(t) != TT_OK) die("tt_collect");
    tt_heap_stats(h, &st0);
    /* arr is rooted and never moves, so the C variable stays valid. */
    for (long i = 0; i < n; ++i)
        if (tt_array_set(t, arr, (size_t)i, make(t, v, i)) != TT_OK) die("tt_array_set");
    tt_heap_stats(h, &st1); /* the moment every object is registered */
    if (tt_collect(t) != TT_OK) die("tt_collect");
    tt_heap_stats(h, &st2);
    int ok = st1.cleanups_live - st0.cleanups_live == (uint64_t)n &&
             st2.live_objects - st0.live_objects == (uint64_t)n;
    if (!ok)
        fprintf(stderr, "fin_tether: %llu cleanups registered, %llu objects live; expected %ld\n",
                (unsigned long long)(st1.cleanups_live - st0.cleanups_live),
                (unsigned long long)(st2.live_objects - st0.live_objects), n);
    return fb_meta_report(n, ok, (double)(st1.cleanup_meta_bytes - st0.cleanup_meta_bytes),
                          (double)(st2.live_bytes - st0.live_bytes));
}

int main(int argc, char **argv)
{
    int is_meta = argc > 1 && strcmp(argv[1], "meta") == 0;
    int a = is_meta ? 2 : 1;
    if (argc < a + 1 || argc > a + 2) {
        fprintf(stderr, "usage: fin_tether [meta] push|foreign|type [N]\n");
        return 2;
    }
    enum variant v = parse_variant(argv[a]);
    long n = argc > a + 1 ? fb_count("fin_tether", argv[a + 1])
                          : (is_meta ? FB_META_OBJECTS : FB_OBJECTS);
    ran = calloc((size_t)n, 1);
    if (!ran) {
        fprintf(stderr, "fin_tether: out of memory\n");
        return 2;
    }
    tt_heap *h = tt_heap_open(NULL);
    if (!h) die("tt_heap_open");
    tt_thread *t = tt_thread_attach(h);
    if (!t) die("tt_thread_attach");
    tt_frame f = tt_frame_push(t, 1);
    if (tt_frame_is_null(f)) die("tt_frame_push");
    int status = is_meta ? meta(t, v, n) : throughput(t, v, n);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_thread_detach(t);
    tt_heap_close(h); /* meta: runs the n cleanups still registered */
    free(ran);
    return status;
}
