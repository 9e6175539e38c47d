/*
 * tour.c: a walk through everything tether does today. `make demo` builds
 * and runs it; each step prints what it does and what happened.
 *
 * Read it from top to bottom. Every step is one function and can be
 * copied on its own. Three rules hold throughout:
 *
 *   1. The collector is precise. It keeps an object only if a root reaches
 *      it: a local (in a frame), a global, or a reference field of another
 *      object that is kept. A tt_ref in a plain C variable is NOT a root.
 *   2. A collection can happen inside any allocation. So a new object held
 *      only in a C variable must be rooted, or stored into a rooted object,
 *      before the next allocation.
 *   3. Objects never move. A C variable that holds a tt_ref to an object
 *      rooted somewhere else stays valid across collections.
 *
 * Every reference stored into a heap object goes through tt_store (or
 * tt_array_set): the write barrier.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tether.h>

/* ------------------------------------------------------------------ */
/* Printing helpers                                                     */

static int step_number;

static void step(const char *title)
{
    printf("\n%d. %s\n", ++step_number, title);
}

/* The last tether error of this OS thread, as one line. */
static void show_error(const char *call)
{
    const tt_error *e = tt_last_error();
    printf("   %s -> %s: %s\n", call, tt_status_name(e->code), e->message);
}

/* Stop the tour when an allocation that must succeed did not. A real
 * program would recover; see tour_out_of_memory for how. */
static tt_ref must(tt_ref r, const char *call)
{
    if (tt_is_null(r)) {
        show_error(call);
        exit(1);
    }
    return r;
}

static const char *base_name(const char *path)
{
    const char *slash = path ? strrchr(path, '/') : NULL;
    return slash ? slash + 1 : path ? path : "?";
}

/* ------------------------------------------------------------------ */
/* Types: one line each                                                 */

/* A struct with references: name its tt_ref fields once. The collector
 * traces left and right and never looks at value. */
struct pair {
    tt_ref left, right;
    long value;
};
static const tt_type pair_type = TT_TYPE_INIT(struct pair, left, right);

/* An atomic struct: it holds no references and is never scanned. */
struct point {
    double x, y;
};
static const tt_type point_type = TT_ATOMIC_TYPE_INIT(struct point);

/* An array of references (tether also ships one: tt_refs_type). */
static const tt_type vec_type = TT_REF_ARRAY_TYPE_INIT("vec");

/* An array of plain data, never scanned (tether ships tt_bytes_type). */
static const tt_type doubles_type = TT_DATA_ARRAY_TYPE_INIT("doubles", double);

/* A layout that a list of offsets cannot describe: a tagged union whose
 * word is a reference only when the tag says so. A custom trace function
 * reports the reference fields of one object; it runs inside the
 * collector and must not allocate or call tether (except
 * tt_trace_field). */
enum { VAL_NUMBER, VAL_OBJECT };
struct value {
    long tag;
    union {
        double number;
        tt_ref object;
    } as;
};

static void trace_value(tt_tracer *tr, void *payload)
{
    struct value *v = payload;
    if (v->tag == VAL_OBJECT) tt_trace_field(tr, &v->as.object);
}
static const tt_type value_type = TT_CUSTOM_TYPE_INIT(struct value, trace_value);

static const char *kind_name(uint32_t kind)
{
    switch (kind) {
    case TT_KIND_FIXED: return "fixed";
    case TT_KIND_ATOMIC: return "atomic";
    case TT_KIND_REF_ARRAY: return "ref array";
    case TT_KIND_DATA_ARRAY: return "data array";
    case TT_KIND_CUSTOM: return "custom";
    default: return "?";
    }
}

static void show_type(const tt_type *ty)
{
    if (ty->kind == TT_KIND_REF_ARRAY || ty->kind == TT_KIND_DATA_ARRAY)
        printf("   %-14s %-10s  a length word, then elements of %u byte%s each\n", ty->name,
               kind_name(ty->kind), ty->elem_size, ty->elem_size == 1 ? "" : "s");
    else if (ty->kind == TT_KIND_CUSTOM)
        printf("   %-14s %-10s  %u-byte payload, traced by its own function\n", ty->name,
               kind_name(ty->kind), ty->size);
    else
        printf("   %-14s %-10s  %u-byte payload, %u reference field(s)\n", ty->name,
               kind_name(ty->kind), ty->size, ty->nrefs);
}

/* ------------------------------------------------------------------ */
/* 1. Open a heap                                                       */

static tt_heap *tour_open(void)
{
    step("open a heap with a configuration");
    tt_config cfg;
    tt_config_init(&cfg);          /* the defaults, the same as all zeros */
    cfg.initial_size = 1u << 20;   /* first collection after 1 MiB */
    cfg.growth_percent = 150;      /* then after 1.5 x the live bytes */
    /* cfg.checked stays TT_CHECKED_DEFAULT: on if TT_CHECKED=1 is set. */
    tt_heap *h = tt_heap_open(&cfg);
    if (!h) {
        show_error("tt_heap_open");
        exit(1);
    }
    printf("   heap open: first collection after %zu KiB, growth %u%%, checked mode %s\n",
           cfg.initial_size >> 10, cfg.growth_percent, tt_heap_checked(h) ? "on" : "off");
    return h;
}

/* ------------------------------------------------------------------ */
/* 2. Attach a thread                                                   */

static tt_thread *tour_attach(tt_heap *h)
{
    step("attach this thread");
    /* Every mutator allocates and roots through its tt_thread. It starts
     * with a base frame of 16 locals (cfg.base_frame_capacity). */
    tt_thread *t = tt_thread_attach(h);
    if (!t) {
        show_error("tt_thread_attach");
        exit(1);
    }
    printf("   attached; tt_thread_heap(t) is the heap: %s\n",
           tt_thread_heap(t) == h ? "yes" : "no");
    return t;
}

/* ------------------------------------------------------------------ */
/* 3. Types                                                             */

static void tour_types(void)
{
    step("declare types, one line each");
    show_type(&pair_type);
    show_type(&point_type);
    show_type(&vec_type);
    show_type(&doubles_type);
    show_type(&value_type);
    show_type(&tt_bytes_type);
    show_type(&tt_refs_type);
}

/* ------------------------------------------------------------------ */
/* 4. Allocate and store                                                */

static void tour_alloc(tt_thread *t)
{
    step("allocate objects and store references through tt_store");
    tt_frame f = tt_frame_push(t, 1);

    /* Root the pair as soon as it exists: the next allocation may collect. */
    tt_local lp = tt_local_new(t, must(tt_alloc(t, &pair_type), "tt_alloc(pair)"));
    tt_ref p = tt_local_get(t, lp);
    printf("   new %s: left %s, right %s, value %ld (allocation is zeroed)\n",
           tt_type_of(p)->name, tt_is_null(TT_PTR(struct pair, p)->left) ? "null" : "set",
           tt_is_null(TT_PTR(struct pair, p)->right) ? "null" : "set",
           TT_PTR(struct pair, p)->value);

    /* The point lives in a C variable only until the store below; no
     * allocation happens in between, so it cannot be collected. */
    tt_ref pt = must(tt_alloc(t, &point_type), "tt_alloc(point)");
    TT_PTR(struct point, pt)->x = 1.5;
    TT_PTR(struct point, pt)->y = -2.0;
    tt_store(t, p, &TT_PTR(struct pair, p)->left, pt);
    TT_PTR(struct pair, p)->value = 7; /* plain data: an ordinary write */

    /* p is still valid after the collection: the pair is rooted by lp and
     * objects never move. The point survives because the pair reaches it. */
    tt_collect(t);
    /* TT_CAST says which type the code expects: checked mode verifies it
     * (a wrong type is reported as "wrong-type"); unchecked it is TT_PTR. */
    struct point *q = TT_CAST(t, struct point, TT_PTR(struct pair, p)->left, &point_type);
    printf("   after tt_collect: pair.value %ld, pair.left -> point (%g, %g)\n",
           TT_PTR(struct pair, p)->value, q->x, q->y);

    tt_frame_pop(t, f, TT_NO_LOCAL);
}

/* ------------------------------------------------------------------ */
/* 5. Arrays                                                            */

static void tour_arrays(tt_thread *t)
{
    step("arrays: references, doubles and bytes");
    tt_frame f = tt_frame_push(t, 3);

    tt_local lv = tt_local_new(t, must(tt_alloc_array(t, &vec_type, 3), "tt_alloc_array(vec)"));
    for (size_t i = 0; i < 3; i++) {
        tt_ref pt = must(tt_alloc(t, &point_type), "tt_alloc(point)");
        TT_PTR(struct point, pt)->x = (double)i;
        TT_PTR(struct point, pt)->y = (double)(i * i);
        tt_array_set(t, tt_local_get(t, lv), i, pt); /* the write barrier for arrays */
    }
    tt_ref v = tt_local_get(t, lv);
    printf("   vec of %zu points:", tt_array_length(v));
    for (size_t i = 0; i < tt_array_length(v); i++) {
        struct point *p = TT_PTR(struct point, tt_array_get(v, i));
        printf(" (%g, %g)", p->x, p->y);
    }
    printf("\n   past the end: tt_array_get gives %s, tt_array_set returns %s (nothing stored)\n",
           tt_is_null(tt_array_get(v, 3)) ? "TT_NULL" : "something",
           tt_status_name(tt_array_set(t, v, 3, TT_NULL)));

    tt_local ld =
        tt_local_new(t, must(tt_alloc_array(t, &doubles_type, 4), "tt_alloc_array(doubles)"));
    double *d = tt_array_data(tt_local_get(t, ld));
    for (int i = 0; i < 4; i++) d[i] = 0.5 * i;
    printf("   doubles: %g %g %g %g (plain data: write it directly)\n", d[0], d[1], d[2], d[3]);

    const char text[] = "bytes are never scanned";
    tt_local lb = tt_local_new(
        t, must(tt_alloc_array(t, &tt_bytes_type, sizeof text), "tt_alloc_array(bytes)"));
    memcpy(tt_array_data(tt_local_get(t, lb)), text, sizeof text);
    printf("   bytes (%zu): \"%s\"\n", tt_array_length(tt_local_get(t, lb)),
           (const char *)tt_array_data(tt_local_get(t, lb)));

    tt_frame_pop(t, f, TT_NO_LOCAL);
}

/* ------------------------------------------------------------------ */
/* 6. A custom trace function                                           */

static void tour_custom_trace(tt_thread *t)
{
    step("a custom trace function decides which words are references");
    tt_frame f = tt_frame_push(t, 1);
    tt_local lv = tt_local_new(t, must(tt_alloc(t, &value_type), "tt_alloc(value)"));

    tt_ref target = must(tt_alloc(t, &point_type), "tt_alloc(point)");
    tt_ref v = tt_local_get(t, lv);
    /* Store the reference, then set the tag. No allocation between them,
     * so the collector never sees a half-made value. */
    tt_store(t, v, &TT_PTR(struct value, v)->as.object, target);
    TT_PTR(struct value, v)->tag = VAL_OBJECT;

    /* A weak reference watches the target without keeping it alive. */
    tt_weak w = tt_weak_new(t, target);
    tt_collect(t);
    printf("   tag = object: after tt_collect the target is %s\n",
           tt_is_null(tt_weak_get(t, w)) ? "gone" : "alive (traced)");

    /* Reuse the word as a number: the trace function stops reporting it,
     * and the old target is no longer reachable. */
    TT_PTR(struct value, v)->tag = VAL_NUMBER;
    TT_PTR(struct value, v)->as.number = 2.5;
    tt_collect(t);
    printf("   tag = number: after tt_collect the target is %s, the number reads %g\n",
           tt_is_null(tt_weak_get(t, w)) ? "gone" : "alive", TT_PTR(struct value, v)->as.number);

    tt_weak_free(t, w);
    tt_frame_pop(t, f, TT_NO_LOCAL);
}

/* ------------------------------------------------------------------ */
/* 7. Frames: capacity, nesting, escape                                 */

/* Make a segment (a pair of two points) and return it as a local of the
 * CALLER's frame. Everything else the function rooted dies with its frame.
 * This is the shape of every function that allocates and returns. */
static tt_local make_segment(tt_thread *t, double x0, double y0, double x1, double y1)
{
    /* Room for the three locals below. The escaped result needs none:
     * push reserves a slot for it, and it does not use up the caller's
     * capacity. */
    tt_frame f = tt_frame_push(t, 3);
    tt_local seg = tt_local_new(t, tt_alloc(t, &pair_type));
    tt_local a = tt_local_new(t, tt_alloc(t, &point_type));
    tt_local b = tt_local_new(t, tt_alloc(t, &point_type));
    tt_ref s = tt_local_get(t, seg), pa = tt_local_get(t, a), pb = tt_local_get(t, b);
    if (tt_is_null(s) || tt_is_null(pa) || tt_is_null(pb)) {
        tt_frame_pop(t, f, TT_NO_LOCAL); /* out of memory: return nothing */
        return TT_NO_LOCAL;
    }
    *TT_PTR(struct point, pa) = (struct point){x0, y0};
    *TT_PTR(struct point, pb) = (struct point){x1, y1};
    tt_store(t, s, &TT_PTR(struct pair, s)->left, pa);
    tt_store(t, s, &TT_PTR(struct pair, s)->right, pb);
    return tt_frame_pop(t, f, seg); /* seg's reference moves to the caller */
}

static void tour_frames(tt_thread *t)
{
    step("frames: capacity is a guarantee, pop carries one escaped result");
    /* The two calls below each escape one local into this frame. An
     * escaped local does not count against capacity (its slot was
     * reserved by the callee's push), and this frame makes no local of
     * its own: capacity 0. */
    tt_frame f = tt_frame_push(t, 0);
    tt_local s1 = make_segment(t, 0, 0, 3, 4);
    tt_local s2 = make_segment(t, 1, 1, 2, 2);
    if (tt_local_is_null(s1) || tt_local_is_null(s2)) {
        show_error("make_segment");
        exit(1);
    }
    tt_collect(t); /* the segments' points were rooted only in popped frames */
    tt_ref s = tt_local_get(t, s1);
    struct point *a = TT_PTR(struct point, TT_PTR(struct pair, s)->left);
    struct point *b = TT_PTR(struct point, TT_PTR(struct pair, s)->right);
    printf("   segment from (%g, %g) to (%g, %g) survived through its escaped local\n", a->x,
           a->y, b->x, b->y);

    /* A frame of 1000: the next 1000 tt_local_new calls cannot fail. */
    tt_frame big = tt_frame_push(t, 1000);
    if (tt_frame_is_null(big)) {
        show_error("tt_frame_push(1000)");
        exit(1);
    }
    int made = 0;
    for (int i = 0; i < 1000; i++)
        if (!tt_local_is_null(tt_local_new(t, tt_local_get(t, s2)))) made++;
    printf("   frame of capacity 1000: %d locals made, none failed\n", made);
    tt_frame_pop(t, big, TT_NO_LOCAL); /* innermost first */

    tt_frame_pop(t, f, TT_NO_LOCAL);
    printf("   frames popped innermost first; every local in them is gone\n");
}

/* ------------------------------------------------------------------ */
/* 8. Globals                                                           */

static void tour_globals(tt_thread *t)
{
    step("global references: roots that outlive any frame");
    tt_stats st;

    /* Allocate inside a frame, then hand the object to a global. After
     * the pop, the global is its only root. */
    tt_frame f = tt_frame_push(t, 1);
    tt_local l = tt_local_new(t, must(tt_alloc(t, &pair_type), "tt_alloc(pair)"));
    TT_PTR(struct pair, tt_local_get(t, l))->value = 42;
    tt_global g = tt_global_new(t, tt_local_get(t, l));
    if (tt_global_is_null(g)) {
        show_error("tt_global_new");
        exit(1);
    }
    tt_frame_pop(t, f, TT_NO_LOCAL);

    tt_collect(t);
    tt_heap_stats(tt_thread_heap(t), &st);
    printf("   after tt_collect the global still holds value %ld (%llu global(s) in use)\n",
           TT_PTR(struct pair, tt_global_get(t, g))->value, (unsigned long long)st.globals);

    /* A global can be pointed elsewhere, and is freed explicitly. */
    tt_global_set(t, g, TT_NULL);
    tt_global_free(t, g);
    tt_heap_stats(tt_thread_heap(t), &st);
    printf("   tt_global_free: %llu global(s) in use; the pair is garbage now\n",
           (unsigned long long)st.globals);
}

/* ------------------------------------------------------------------ */
/* 9. Weak references                                                   */

static void tour_weak(tt_thread *t)
{
    step("weak references are cleared when their target dies");
    tt_frame f = tt_frame_push(t, 1);
    tt_local l = tt_local_new(t, must(tt_alloc(t, &pair_type), "tt_alloc(pair)"));
    TT_PTR(struct pair, tt_local_get(t, l))->value = 99;
    tt_weak w = tt_weak_new(t, tt_local_get(t, l));

    tt_collect(t);
    tt_ref r = tt_weak_get(t, w); /* a strong tt_ref: root it if you allocate */
    printf("   target rooted by a local: weak reads value %ld\n",
           tt_is_null(r) ? -1L : TT_PTR(struct pair, r)->value);

    tt_local_set(t, l, TT_NULL); /* drop the only strong root */
    tt_collect(t);
    printf("   local dropped, tt_collect: weak reads %s\n",
           tt_is_null(tt_weak_get(t, w)) ? "TT_NULL (cleared)" : "the target (not cleared!)");

    tt_weak_free(t, w);
    tt_frame_pop(t, f, TT_NO_LOCAL);
}

/* ------------------------------------------------------------------ */
/* 10. Foreign resources                                                */

/* A cleanup that counts, then frees like tt_cleanup_free. */
static int buffers_freed;

static void free_counted(tt_thread *t, tt_ref obj, void *env)
{
    buffers_freed++;
    tt_cleanup_free(t, obj, env);
}

/* A malloc'd buffer wrapped in a foreign object: the object owns it
 * through `fn` and declares its size. On failure the buffer is ours. */
static tt_ref wrap_malloc(tt_thread *t, size_t bytes, tt_cleanup_fn fn)
{
    char *p = malloc(bytes);
    if (!p) exit(1);
    snprintf(p, bytes, "owned by the heap");
    tt_ref r = tt_foreign_new(t, p, bytes, fn, NULL);
    if (tt_is_null(r)) free(p);
    return must(r, "tt_foreign_new");
}

/* The lines of tt_stats_print that start with `prefix`. */
static void print_stats_lines(const tt_stats *st, const char *prefix)
{
    FILE *tmp = tmpfile();
    if (!tmp) return;
    tt_stats_print(st, tmp);
    rewind(tmp);
    char line[256];
    while (fgets(line, sizeof line, tmp))
        if (strncmp(line, prefix, strlen(prefix)) == 0) printf("   %s", line);
    fclose(tmp);
}

static void tour_foreign(tt_thread *t)
{
    step("foreign resources: a cleanup, release, finalization, external pressure");
    /* More in examples/malloc_buffer.c, file.c, refcount.c and shutdown.c. */
    tt_frame f = tt_frame_push(t, 1);
    tt_local l = tt_local_new(t, wrap_malloc(t, 32, free_counted));
    tt_ref r = tt_local_get(t, l);
    printf("   foreign object: \"%s\", %zu external bytes, %zu cleanup\n",
           (char *)tt_foreign_addr(t, r), tt_foreign_size(t, r), tt_cleanup_count(t, r));

    /* Done with it: tt_release runs its cleanups now. */
    tt_release(t, r);
    printf("   tt_release: %d buffer freed, released %d, size %zu\n", buffers_freed,
           tt_foreign_released(t, r), tt_foreign_size(t, r));

    /* Or drop it: a collection queues its cleanups (it runs none), and a
     * cleanup context of the program's choosing runs them. */
    tt_local_set(t, l, wrap_malloc(t, 32, free_counted));
    tt_local_set(t, l, TT_NULL);
    tt_collect(t);
    size_t pending = tt_pending_cleanups(t);
    size_t ran = tt_run_finalizers(t, 0);
    printf("   dropped, tt_collect: %zu pending; tt_run_finalizers ran %zu; %d freed\n",
           pending, ran, buffers_freed);
    tt_frame_pop(t, f, TT_NO_LOCAL);

    /* External pressure: the wrappers are tiny, but their declared bytes
     * make the heap collect, and each tt_foreign_new frees the dead ones
     * it finds pending (unless cfg.explicit_cleanups_only). */
    for (int i = 0; i < 64; i++) wrap_malloc(t, 256 << 10, tt_cleanup_free); /* dropped */
    tt_stats st;
    tt_heap_stats(tt_thread_heap(t), &st);
    printf("   64 dropped buffers of 256 KiB: %llu KiB still declared\n",
           (unsigned long long)(st.external_bytes >> 10));
    print_stats_lines(&st, "external");
    /* What another runtime calls to make this heap give memory back. */
    size_t back = tt_collect_and_release(t);
    printf("   tt_collect_and_release gave back %zu KiB\n", back >> 10);
}

/* ------------------------------------------------------------------ */
/* 11. Collections and statistics                                       */

static void tour_collect_and_stats(tt_thread *t)
{
    step("allocate garbage, keep a little, collect, print statistics");
    tt_stats before, after;
    tt_heap_stats(tt_thread_heap(t), &before);

    /* Keep 1000 pairs in a rooted array; drop 200000 others at once. */
    tt_frame f = tt_frame_push(t, 1);
    tt_local keep = tt_local_new(t, must(tt_alloc_array(t, &tt_refs_type, 1000), "keep"));
    for (int i = 0; i < 200000; i++) {
        tt_ref p = must(tt_alloc(t, &pair_type), "tt_alloc(pair)");
        TT_PTR(struct pair, p)->value = i;
        if (i % 200 == 0) tt_array_set(t, tt_local_get(t, keep), (size_t)(i / 200), p);
    }
    tt_collect(t);
    tt_heap_stats(tt_thread_heap(t), &after);
    printf("   %llu collection(s) ran during the loop and tt_collect; live now: %llu objects\n",
           (unsigned long long)(after.collections - before.collections),
           (unsigned long long)after.live_objects);
    printf("   kept pair 999 holds value %ld\n",
           TT_PTR(struct pair, tt_array_get(tt_local_get(t, keep), 999))->value);
    tt_frame_pop(t, f, TT_NO_LOCAL);

    printf("   tt_stats_print:\n");
    tt_stats_print(&after, stdout);
}

/* ------------------------------------------------------------------ */
/* 12. The heap verifier and tt_is_object                               */

static void tour_verify(tt_thread *t)
{
    step("verify the heap, and ask what is an object");
    tt_frame f = tt_frame_push(t, 1);
    tt_local l = tt_local_new(t, must(tt_alloc(t, &pair_type), "tt_alloc(pair)"));

    tt_verify_report rep;
    int rc = tt_heap_verify(t, &rep);
    printf("   tt_heap_verify: %s, %llu reachable objects, %llu bytes, %llu errors\n",
           tt_status_name(rc), (unsigned long long)rep.objects, (unsigned long long)rep.bytes,
           (unsigned long long)rep.errors);

    /* tt_is_object never faults, whatever the bits. A foreign address
     * (malloc'd memory) is never mistaken for an object. */
    void *foreign = malloc(64);
    tt_ref forged = {(uintptr_t)foreign};
    printf("   tt_is_object: live pair %d, TT_NULL %d, malloc'd address %d\n",
           tt_is_object(t, tt_local_get(t, l)), tt_is_object(t, TT_NULL),
           tt_is_object(t, forged));
    free(foreign);

    /* A dead object: exactly 0 in checked mode, which erases the headers
     * of the objects a collection finds dead. Without checked mode the
     * answer may stay 1 until the memory is reused. */
    tt_ref dead = tt_local_get(t, l);
    tt_local_set(t, l, TT_NULL);
    tt_collect(t);
    printf("   tt_is_object of a pair found dead: %d (exact only in checked mode, %s here)\n",
           tt_is_object(t, dead), tt_heap_checked(tt_thread_heap(t)) ? "on" : "off");
    tt_frame_pop(t, f, TT_NO_LOCAL);
}

/* ------------------------------------------------------------------ */
/* 13. The leak report                                                  */

/* What tt_heap_leaks found: one line per kind and creation site. */
static void print_leak(const tt_leak *l, void *ctx)
{
    (void)ctx;
    printf("   %llu %s created at %s:%d", (unsigned long long)l->count, l->kind,
           l->file ? base_name(l->file) : "?", l->line);
    if (l->external_bytes) printf(" (%llu external bytes)", (unsigned long long)l->external_bytes);
    printf("\n");
}

static void tour_leaks(tt_thread *t)
{
    step("ask what the heap still holds: the leak report");
    tt_frame f = tt_frame_push(t, 1);
    tt_local l = tt_local_new(t, must(tt_alloc(t, &pair_type), "tt_alloc(pair)"));
    tt_global g[2];
    for (int i = 0; i < 2; i++) g[i] = tt_global_new(t, tt_local_get(t, l));
    tt_weak w = tt_weak_new(t, tt_local_get(t, l));
    /* Grouped by kind and by the file:line that made them; the same report
     * comes through on_report at close in checked mode, or at exit with
     * cfg.leak_report_at_exit. */
    tt_heap_leaks(t, print_leak, NULL);
    for (int i = 0; i < 2; i++) tt_global_free(t, g[i]);
    tt_weak_free(t, w);
    tt_frame_pop(t, f, TT_NO_LOCAL);
}

/* ------------------------------------------------------------------ */
/* 14. Out of memory, and recovery                                      */

static void tour_out_of_memory(void)
{
    step("a second heap with max_size: TT_ENOMEM, then recovery");
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.initial_size = 1u << 20;
    cfg.max_size = 8u << 20; /* a hard limit on the footprint */
    tt_heap *h = tt_heap_open(&cfg);
    if (!h) {
        show_error("tt_heap_open");
        exit(1);
    }
    tt_thread *t = tt_thread_attach(h);
    if (!t) {
        show_error("tt_thread_attach");
        exit(1);
    }

    /* Hold 256 KiB buffers in a rooted array until the heap is full. */
    enum { SLOTS = 64, BUF = 256 << 10 };
    tt_frame f = tt_frame_push(t, 1);
    tt_local keep = tt_local_new(t, must(tt_alloc_array(t, &tt_refs_type, SLOTS), "keep"));
    size_t held = 0;
    while (held < SLOTS) {
        tt_ref buf = tt_alloc_array(t, &tt_bytes_type, BUF);
        if (tt_is_null(buf)) break; /* full, even after a full collection */
        tt_array_set(t, tt_local_get(t, keep), held++, buf);
    }
    show_error("tt_alloc_array");
    tt_stats st;
    tt_heap_stats(h, &st);
    printf("   held %zu buffers (%zu KiB); footprint %llu KiB, limit %zu KiB\n", held,
           held * (BUF >> 10), (unsigned long long)(st.heap_bytes >> 10), cfg.max_size >> 10);

    /* Recovery: drop what we hold. The next allocation that does not fit
     * collects first, so it succeeds without any other action. */
    tt_local_set(t, keep, TT_NULL);
    tt_clear_error();
    tt_ref again = tt_alloc_array(t, &tt_bytes_type, BUF);
    printf("   after dropping them: a new buffer %s\n",
           tt_is_null(again) ? "still fails" : "is allocated");

    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_thread_detach(t);
    tt_heap_close(h);
}

/* ------------------------------------------------------------------ */
/* 15. Checked mode catches misuse                                      */

/* A misuse handler that records and returns, so the program continues.
 * The failing call then returns its error status and changes nothing.
 * (The default handler, tt_misuse_abort, prints and aborts.) */
struct misuse_log {
    int count;
    char what[32];
    char where[128];
    char message[256];
};

static void record_misuse(const tt_misuse *m, void *ctx)
{
    struct misuse_log *log = ctx;
    log->count++;
    /* m and its strings are valid only during the call: copy them. */
    snprintf(log->what, sizeof log->what, "%s", m->what);
    snprintf(log->where, sizeof log->where, "%s:%d", base_name(m->file), m->line);
    snprintf(log->message, sizeof log->message, "%s", m->message);
}

static void show_misuse(const struct misuse_log *log, int before, const char *result)
{
    if (log->count == before) {
        printf("   not caught (is checked mode compiled in?)\n");
        return;
    }
    printf("   caught \"%s\" at %s; the call returned %s\n", log->what, log->where, result);
}

static void tour_checked(void)
{
    step("checked mode catches misuse (here with a handler that records)");
    struct misuse_log log = {0};
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.checked = TT_CHECKED_ON; /* or TT_CHECKED=1 in the environment */
    cfg.on_misuse = record_misuse;
    cfg.misuse_ctx = &log;
    tt_heap *h = tt_heap_open(&cfg);
    if (!h) {
        show_error("tt_heap_open");
        exit(1);
    }
    tt_thread *t = tt_thread_attach(h);
    if (!t) {
        show_error("tt_thread_attach");
        exit(1);
    }
    if (!tt_heap_checked(h)) {
        /* A library built without checks (TETHER_CHECKS=OFF) ignores the
         * flag; the misuses below would then be undefined behaviour. */
        printf("   checked mode is not compiled into this library: skipped\n");
        tt_thread_detach(t);
        tt_heap_close(h);
        return;
    }
    printf("   checked heap open: checked mode %s\n", tt_heap_checked(h) ? "on" : "off");
    int n;

    /* A local used after its frame popped. */
    tt_frame f = tt_frame_push(t, 1);
    tt_local l = tt_local_new(t, must(tt_alloc(t, &pair_type), "tt_alloc(pair)"));
    tt_frame_pop(t, f, TT_NO_LOCAL);
    n = log.count;
    tt_ref r = tt_local_get(t, l);
    show_misuse(&log, n, tt_is_null(r) ? "TT_NULL" : "a reference");

    /* Frames popped out of order. */
    tt_frame outer = tt_frame_push(t, 1);
    tt_frame inner = tt_frame_push(t, 1);
    n = log.count;
    tt_frame_pop(t, outer, TT_NO_LOCAL);
    show_misuse(&log, n, tt_status_name(tt_last_error()->code));
    tt_frame_pop(t, inner, TT_NO_LOCAL); /* the right order still works */
    tt_frame_pop(t, outer, TT_NO_LOCAL);

    /* A global freed twice. */
    tt_global g = tt_global_new(t, TT_NULL);
    tt_global_free(t, g);
    n = log.count;
    int rc = tt_global_free(t, g);
    show_misuse(&log, n, tt_status_name(rc));

    /* A store of something that is not an object of this heap: a foreign
     * address forged into a tt_ref. The field is left unchanged. */
    f = tt_frame_push(t, 1);
    l = tt_local_new(t, must(tt_alloc(t, &pair_type), "tt_alloc(pair)"));
    void *foreign = malloc(32);
    tt_ref p = tt_local_get(t, l);
    n = log.count;
    tt_store(t, p, &TT_PTR(struct pair, p)->left, (tt_ref){(uintptr_t)foreign});
    show_misuse(&log, n, tt_status_name(tt_last_error()->code));
    printf("   the field is still %s\n", tt_is_null(TT_PTR(struct pair, p)->left) ? "null" : "set");
    free(foreign);
    tt_frame_pop(t, f, TT_NO_LOCAL);

    /* More locals than the frame's capacity. (Without checked mode the
     * frame would grow; checked mode holds you to what you declared.) */
    f = tt_frame_push(t, 1);
    tt_local_new(t, TT_NULL);
    n = log.count;
    l = tt_local_new(t, TT_NULL);
    show_misuse(&log, n, tt_local_is_null(l) ? "the null local" : "a local");
    tt_frame_pop(t, f, TT_NO_LOCAL);

    /* Allocation with a descriptor that was never a valid type. */
    static const tt_type not_a_type = {0};
    n = log.count;
    r = tt_alloc(t, &not_a_type);
    show_misuse(&log, n, tt_is_null(r) ? "TT_NULL" : "a reference");

    printf("   last report, in full: %s\n", log.message);
    printf("   after all that the heap is intact: tt_heap_verify says %s\n",
           tt_status_name(tt_heap_verify(t, NULL)));

    tt_thread_detach(t);
    tt_heap_close(h);

    /* A checked heap keeps the descriptors of its dead threads (and its
     * own, after close) until the process exits, so using the detached
     * thread is reported instead of reading freed memory. */
    n = log.count;
    rc = tt_collect(t);
    show_misuse(&log, n, tt_status_name(rc));
    printf("   %d misuse(s) caught in all\n", log.count);
}

/* ------------------------------------------------------------------ */
/* 16. The static pointer table                                         */

/* A function with a stable, fully qualified name. Its key is a 128-bit
 * hash of "tour" "math" "add", the same in every process and every build
 * of this program, so the key (16 bytes, or 32 hex digits) can travel
 * over a pipe or a socket and be looked up on the other side. The entry
 * is registered before main by a constructor. `static` keeps it local to
 * this file (and safe in a shared library). */
static int add_ints(int a, int b) { return a + b; }
static TT_STATIC_FN(add_entry, "tour", "math", "add", "int(int,int)", add_ints);

/* A heap object with a stable name: each heap builds its own the first
 * time it is asked for, and keeps it as a root until the heap closes. */
static int greeting_builds;

static tt_ref build_greeting(tt_thread *t, const tt_static *e)
{
    (void)e;
    static const char text[] = "built once per heap";
    greeting_builds++;
    tt_ref r = tt_alloc_array(t, &tt_bytes_type, sizeof text);
    if (!tt_is_null(r)) memcpy(tt_array_data(r), text, sizeof text);
    return r; /* TT_NULL with the last error set if the allocation failed */
}
static TT_STATIC_OBJECT(greeting_entry, "tour", "text", "greeting", "bytes", build_greeting);

/* Stop the tour if a result of this step is not what it must be. */
static void expect(int ok, const char *what)
{
    if (!ok) {
        printf("   WRONG: %s\n", what);
        show_error("last error");
        exit(1);
    }
}

static void tour_static(tt_thread *t)
{
    step("the static pointer table: stable keys, type-checked lookup, static objects");

    /* The receiving side: compute the key from the name (or read it from
     * the wire) and look it up with the type it expects. Make each tag
     * once and keep it. */
    tt_static_key k = tt_static_key_for("tour", "math", "add");
    tt_type_tag int2 = tt_type_tag_for("int(int,int)");
    char text[TT_STATIC_KEY_TEXT];
    tt_static_key_to_text(k, text);
    printf("   key of tour.math.add: %s\n", text);
    printf("   (a shell gets the same: printf 'tour\\0math\\0add' | xxh128sum)\n");
    expect(strcmp(text, "4ae38bcf144bec571b2a1c00a7a24337") == 0, "the key is XXH3-128 of the name");
    expect(tt_static_key_eq(k, tt_static_key_of(&add_entry)), "the entry has the same key");

    const tt_static *e = tt_static_lookup(k, int2);
    expect(e == &add_entry, "the lookup finds the entry");
    int (*fn)(int, int) = (int (*)(int, int))tt_static_fn(e); /* cast back to its real type */
    int sum = fn(2, 3);
    printf("   tt_static_lookup(key, tag of \"int(int,int)\") -> add; add(2, 3) = %d\n", sum);
    expect(sum == 5, "add(2, 3) is 5");

    /* The wrong type is an error, never a call through the wrong type. */
    e = tt_static_lookup(k, tt_type_tag_for("double"));
    expect(e == NULL && tt_last_error()->code == TT_ETYPE, "a wrong-type lookup fails with TT_ETYPE");
    show_error("tt_static_lookup(key, tag of \"double\")");

    /* A static object in this heap: built on first use, then rooted by
     * the heap, so a plain C variable may hold it across collections. */
    tt_ref g = must(tt_static_object(t, &greeting_entry), "tt_static_object");
    tt_collect(t);
    tt_ref again = must(tt_static_object(t, &greeting_entry), "tt_static_object");
    tt_stats st;
    tt_heap_stats(tt_thread_heap(t), &st);
    printf("   tt_static_object: \"%s\"; after tt_collect the same object (%s), built %d time(s), "
           "%llu static object(s) in this heap\n",
           (const char *)tt_array_data(again), tt_same(g, again) ? "yes" : "no", greeting_builds,
           (unsigned long long)st.static_objects);
    expect(tt_same(g, again) && greeting_builds == 1 && st.static_objects == 1,
           "one static object, built once, kept by the heap");
}

/* ------------------------------------------------------------------ */
/* 17. Close                                                            */

static void tour_close(tt_heap *h, tt_thread *t)
{
    step("detach and close");
    tt_thread_detach(t);
    /* Closing frees every object, handle and byte the heap took. */
    tt_heap_close(h);
    printf("   heap closed: every byte it took from the OS is returned\n");
}

int main(void)
{
    printf("tether %d.%d.%d: a tour\n", TETHER_VERSION_MAJOR, TETHER_VERSION_MINOR,
           TETHER_VERSION_PATCH);
    tt_heap *h = tour_open();
    tt_thread *t = tour_attach(h);
    tour_types();
    tour_alloc(t);
    tour_arrays(t);
    tour_custom_trace(t);
    tour_frames(t);
    tour_globals(t);
    tour_weak(t);
    tour_foreign(t);
    tour_collect_and_stats(t);
    tour_verify(t);
    tour_leaks(t);
    tour_out_of_memory();
    tour_checked();
    tour_static(t);
    tour_close(h, t);
    printf("\nend of the tour\n");
    return 0;
}
