/*
 * bench/handles.c: the cost of tether's root handles, in nanoseconds per
 * operation.
 *
 *   local_in_frame   tt_local_new in an already open frame. A frame of
 *                    capacity FRAME_CAP is pushed, filled with FRAME_CAP
 *                    locals and popped; the push and pop are shared by the
 *                    FRAME_CAP locals and included in the figure.
 *   push_local_pop   tt_frame_push(t, 1) + one tt_local_new + tt_frame_pop.
 *   global_new_free  tt_global_new + tt_global_free.
 *
 * Each is timed with CLOCK_MONOTONIC over a fixed number of operations per
 * round; the figure printed is the median of ROUNDS rounds, after one
 * untimed warm-up round. The handle bits are summed and the sum written to
 * a volatile, so the work cannot be optimised away.
 *
 * Usage: handles [-n MILLIONS]   (operations per round; default 50 for the
 * local benchmarks, 20 for globals; -n sets all three)
 *
 * Output, one line per figure:
 *   handles local_in_frame_ns 1.23
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tether.h>

enum { ROUNDS = 5, FRAME_CAP = 100 };

struct thing {
    long value;
};
static const tt_type thing_type = TT_ATOMIC_TYPE_INIT(struct thing);

static volatile uint64_t sink;

static void die(const char *what)
{
    const tt_error *e = tt_last_error();
    fprintf(stderr, "handles: %s failed: %s (%s)\n", what, tt_status_name(e->code), e->message);
    exit(2);
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* `ops` rounded down to a multiple of FRAME_CAP locals. */
static double local_in_frame(tt_thread *t, tt_ref obj, long ops)
{
    uint64_t acc = 0;
    long frames = ops / FRAME_CAP;
    double t0 = now_ns();
    for (long i = 0; i < frames; ++i) {
        tt_frame f = tt_frame_push(t, FRAME_CAP);
        if (TT_UNLIKELY(tt_frame_is_null(f))) die("tt_frame_push");
        for (int j = 0; j < FRAME_CAP; ++j) {
            tt_local l = tt_local_new(t, obj);
            acc += l.bits;
        }
        tt_frame_pop(t, f, TT_NO_LOCAL);
    }
    double dt = now_ns() - t0;
    sink += acc;
    return dt / (double)(frames * FRAME_CAP);
}

static double push_local_pop(tt_thread *t, tt_ref obj, long ops)
{
    uint64_t acc = 0;
    double t0 = now_ns();
    for (long i = 0; i < ops; ++i) {
        tt_frame f = tt_frame_push(t, 1);
        tt_local l = tt_local_new(t, obj);
        acc += l.bits ^ f.bits;
        tt_frame_pop(t, f, TT_NO_LOCAL);
    }
    double dt = now_ns() - t0;
    sink += acc;
    return dt / (double)ops;
}

static double global_new_free(tt_thread *t, tt_ref obj, long ops)
{
    uint64_t acc = 0;
    double t0 = now_ns();
    for (long i = 0; i < ops; ++i) {
        tt_global g = tt_global_new(t, obj);
        if (TT_UNLIKELY(tt_global_is_null(g))) die("tt_global_new");
        acc += g.bits;
        tt_global_free(t, g);
    }
    double dt = now_ns() - t0;
    sink += acc;
    return dt / (double)ops;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef double (*bench_fn)(tt_thread *t, tt_ref obj, long ops);

static double median_of_rounds(bench_fn fn, tt_thread *t, tt_ref obj, long ops)
{
    double r[ROUNDS];
    (void)fn(t, obj, ops / 10 > 0 ? ops / 10 : 1); /* warm-up */
    for (int i = 0; i < ROUNDS; ++i) r[i] = fn(t, obj, ops);
    qsort(r, ROUNDS, sizeof r[0], cmp_double);
    return r[ROUNDS / 2];
}

int main(int argc, char **argv)
{
    long local_ops = 50000000L, global_ops = 20000000L;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
            double m = atof(argv[++i]);
            if (m <= 0) {
                fprintf(stderr, "handles: -n wants a positive number of millions\n");
                return 2;
            }
            local_ops = global_ops = (long)(m * 1e6) < FRAME_CAP ? FRAME_CAP : (long)(m * 1e6);
        } else {
            fprintf(stderr, "usage: handles [-n MILLIONS]\n");
            return 2;
        }
    }

    tt_heap *h = tt_heap_open(NULL);
    if (!h) die("tt_heap_open");
    tt_thread *t = tt_thread_attach(h);
    if (!t) die("tt_thread_attach");
    tt_frame f = tt_frame_push(t, 1);
    if (tt_frame_is_null(f)) die("tt_frame_push");
    tt_ref obj = tt_alloc(t, &thing_type);
    if (tt_is_null(obj)) die("tt_alloc");
    (void)tt_local_new(t, obj); /* nothing allocates below, but keep it honest */

    double a = median_of_rounds(local_in_frame, t, obj, local_ops);
    double b = median_of_rounds(push_local_pop, t, obj, local_ops);
    double c = median_of_rounds(global_new_free, t, obj, global_ops);

    printf("handles local_in_frame_ns %.2f\n", a);
    printf("handles push_local_pop_ns %.2f\n", b);
    printf("handles global_new_free_ns %.2f\n", c);

    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_thread_detach(t);
    tt_heap_close(h);
    return 0;
}
