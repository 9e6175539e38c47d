/*
 * bench/pressure_bdwgc.c: the port of pressure_tether.c to the
 * Boehm-Demers-Weiser collector, default configuration.
 *
 *   pressure_bdwgc [N]   N buffers (default 20,000)
 *
 * Each 1 MiB buffer from malloc, touched with memset, is owned by a small
 * GC_MALLOC'd wrapper whose finalizer (GC_register_finalizer) frees it.
 * Finalization on demand is off (the default), so the collector runs ready
 * finalizers itself during allocation. The same loop as the tether
 * version, and nothing else: bdwgc has no way to be told about the malloc'd
 * bytes, so only the wrappers' own 16 bytes pace its collections. The last
 * 10 wrappers are kept in a ring on the stack.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gc.h>

#include "finbench.h"

struct wrap {
    unsigned char *buf;
};

static long live, peak;

static void GC_CALLBACK free_buf(void *obj, void *cd)
{
    (void)cd;
    free(((struct wrap *)obj)->buf);
    live--;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? fb_count("pressure_bdwgc", argv[1]) : FB_BUFFERS;
    GC_INIT();
    GC_word gc0 = GC_get_gc_no();
    struct wrap *ring[FB_KEEP] = {0};

    for (long i = 0; i < n; ++i) {
        unsigned char *buf = malloc(FB_BUFFER_SIZE);
        if (!buf) {
            fprintf(stderr, "pressure_bdwgc: out of memory after %ld buffers\n", i);
            return 2;
        }
        memset(buf, (int)(i & 0xff), FB_BUFFER_SIZE);
        struct wrap *w = GC_MALLOC(sizeof *w);
        if (!w) {
            fprintf(stderr, "pressure_bdwgc: out of memory\n");
            return 2;
        }
        w->buf = buf;
        GC_register_finalizer(w, free_buf, NULL, NULL, NULL);
        if (++live > peak) peak = live; /* counted as tether counts its external bytes */
        ring[i % FB_KEEP] = w;
    }

    unsigned char *last[FB_KEEP];
    for (int k = 0; k < FB_KEEP; ++k) last[k] = ring[k] ? ring[k]->buf : NULL;
    return fb_pressure_report(n, last, peak, (unsigned long)(GC_get_gc_no() - gc0));
}
