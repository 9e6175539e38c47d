/*
 * bench/fin_bdwgc.c: finalizable objects end to end on the
 * Boehm-Demers-Weiser collector; the port of fin_tether.c.
 *
 *   fin_bdwgc VARIANT [N]       N objects (default 2,000,000): allocate a
 *                               16-byte object, register a finalizer, drop;
 *                               the collector collects on its own, with
 *                               finalization on demand GC_invoke_finalizers
 *                               runs every 10,000 objects, and at the end
 *                               GC_gcollect + GC_invoke_finalizers repeat
 *                               until every finalizer ran (at most 10 times).
 *   fin_bdwgc meta VARIANT [N]  N objects (default 1,000,000) held live in a
 *                               GC_MALLOC'd array: the growth of the bytes
 *                               in use in the heap when their finalizers are
 *                               registered (the finalizer records and the
 *                               hash table, both in the collected heap), per
 *                               object.
 *
 * VARIANT: noorder (GC_register_finalizer_no_order) or ordered
 * (GC_register_finalizer, the default Boehm ordering).
 *
 * The object holds no pointers, like tether's atomic cell type, so it comes
 * from GC_MALLOC_ATOMIC (never scanned). With GC_MALLOC (scanned), one
 * object in 2,000,000 was regularly retained by a conservatively found
 * pointer and never finalized, which the exact-once check counts as a
 * failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gc.h>

#include "finbench.h"

static unsigned char *ran;
static long finalized;
static int ordered;

static void GC_CALLBACK cell_fin(void *obj, void *cd)
{
    (void)cd;
    ran[((struct fb_cell *)obj)->id]++;
    finalized++;
}

static void oom(void)
{
    fprintf(stderr, "fin_bdwgc: out of memory\n");
    exit(2);
}

static struct fb_cell *alloc_cell(long id)
{
    struct fb_cell *c = GC_MALLOC_ATOMIC(sizeof *c);
    if (!c) oom();
    c->id = id;
    return c;
}

static void register_fin(struct fb_cell *c)
{
    if (ordered)
        GC_register_finalizer(c, cell_fin, NULL, NULL, NULL);
    else
        GC_register_finalizer_no_order(c, cell_fin, NULL, NULL, NULL);
}

/* The allocation loop, in a function of its own so that no pointer to its
 * objects is left in the caller's frame or registers for the final
 * collections to find. */
static __attribute__((noinline)) void fill(long n)
{
    for (long i = 0; i < n; ++i) {
        register_fin(alloc_cell(i));
        if ((i + 1) % FB_RUN_EVERY == 0) (void)GC_invoke_finalizers();
    }
}

static int throughput(long n)
{
    GC_word gc0 = GC_get_gc_no();
    double t0 = fb_now();
    fill(n);
    fb_scrub_stack();
    for (int k = 0; k < 10 && finalized < n; ++k) {
        GC_gcollect();
        (void)GC_invoke_finalizers();
        fb_scrub_stack();
    }
    double t1 = fb_now();
    return fb_report("fin_bdwgc", ran, n, t1 - t0, (unsigned long)(GC_get_gc_no() - gc0));
}

/* Bytes in use in the collected heap: its size less its free bytes
 * (GC_get_memory_use() of libgc 8.2.2 reads 8 times too high). */
static size_t heap_used(void) { return GC_get_heap_size() - GC_get_free_bytes(); }

static int meta(long n)
{
    struct fb_cell **arr = GC_MALLOC((size_t)n * sizeof *arr);
    if (!arr) oom();
    GC_gcollect();
    size_t base = heap_used();
    for (long i = 0; i < n; ++i) arr[i] = alloc_cell(i);
    GC_gcollect();
    size_t m0 = heap_used();
    for (long i = 0; i < n; ++i) register_fin(arr[i]);
    GC_gcollect(); /* frees the hash tables outgrown on the way */
    size_t m1 = heap_used();
    GC_reachable_here(arr);
    return fb_meta_report(n, 1, (double)(m1 - m0), (double)(m0 - base));
}

int main(int argc, char **argv)
{
    int is_meta = argc > 1 && strcmp(argv[1], "meta") == 0;
    int a = is_meta ? 2 : 1;
    if (argc < a + 1 || argc > a + 2 ||
        (strcmp(argv[a], "ordered") != 0 && strcmp(argv[a], "noorder") != 0)) {
        fprintf(stderr, "usage: fin_bdwgc [meta] noorder|ordered [N]\n");
        return 2;
    }
    ordered = strcmp(argv[a], "ordered") == 0;
    long n = argc > a + 1 ? fb_count("fin_bdwgc", argv[a + 1])
                          : (is_meta ? FB_META_OBJECTS : FB_OBJECTS);
    GC_INIT();
    GC_set_finalize_on_demand(1);
    ran = calloc((size_t)n, 1);
    if (!ran) oom();
    int status = is_meta ? meta(n) : throughput(n);
    free(ran);
    return status;
}
