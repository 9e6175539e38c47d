/*
 * bench/pressure_tether.c: foreign memory pressure on tether, default heap
 * configuration.
 *
 *   pressure_tether [N]   N buffers (default 20,000)
 *
 * Each buffer is 1 MiB from malloc, touched with memset, and owned by a
 * foreign object made with
 *     tt_foreign_new(t, buf, 1 << 20, tt_cleanup_free, NULL)
 * and nothing else: no explicit collection, no tt_run_finalizers. Declaring
 * the external size is what paces collections, and foreign-object creation
 * is a cleanup point in the default configuration, so dead buffers are
 * freed as the loop goes. Only the last 10 objects are kept, in a ring of
 * 10 locals. The peak RSS is measured by the runner.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tether.h>

#include "finbench.h"

static void die(const char *what)
{
    const tt_error *e = tt_last_error();
    fprintf(stderr, "pressure_tether: %s failed: %s (%s)\n", what, tt_status_name(e->code),
            e->message);
    exit(2);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? fb_count("pressure_tether", argv[1]) : FB_BUFFERS;
    tt_heap *h = tt_heap_open(NULL);
    if (!h) die("tt_heap_open");
    tt_thread *t = tt_thread_attach(h);
    if (!t) die("tt_thread_attach");
    tt_frame f = tt_frame_push(t, FB_KEEP);
    if (tt_frame_is_null(f)) die("tt_frame_push");
    tt_local ring[FB_KEEP];
    for (int k = 0; k < FB_KEEP; ++k) ring[k] = tt_local_new(t, TT_NULL);

    for (long i = 0; i < n; ++i) {
        unsigned char *buf = malloc(FB_BUFFER_SIZE);
        if (!buf) {
            fprintf(stderr, "pressure_tether: out of memory after %ld buffers\n", i);
            return 2;
        }
        memset(buf, (int)(i & 0xff), FB_BUFFER_SIZE);
        tt_ref obj = tt_foreign_new(t, buf, FB_BUFFER_SIZE, tt_cleanup_free, NULL);
        if (tt_is_null(obj)) die("tt_foreign_new");
        tt_local_set(t, ring[i % FB_KEEP], obj);
    }

    unsigned char *last[FB_KEEP];
    for (int k = 0; k < FB_KEEP; ++k) {
        tt_ref obj = tt_local_get(t, ring[k]);
        last[k] = tt_is_null(obj) ? NULL : tt_foreign_addr(t, obj);
    }
    tt_stats st;
    tt_heap_stats(h, &st);
    int status = fb_pressure_report(n, last, (long)(st.external_bytes_peak / FB_BUFFER_SIZE),
                                    (unsigned long)st.collections);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_thread_detach(t);
    tt_heap_close(h); /* frees the last 10 */
    return status;
}
