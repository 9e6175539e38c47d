/*
 * heap.c: opening and closing a heap.
 *
 * A heap owns everything: its chunks, large objects, handle tables, mark
 * stack and threads. Closing it gives every byte back. In checked mode the
 * heap's and its threads' descriptors are not freed at close but kept,
 * with dead signatures, on a process-wide list emptied at exit: a program
 * that uses a closed heap or a detached thread then gets a misuse report
 * instead of reading freed memory. This list exists only for descriptors
 * of checked heaps. The other process-wide state: the static pointer
 * table, the thread-exit key, the counter of heap ids below and the frame
 * serial ranges (thread.c).
 */
#include <pthread.h>
#include <stdlib.h>

#include "internal.h"

#define DEFAULT_INITIAL ((size_t)4 << 20)

void tt_config_init(tt_config *cfg) { memset(cfg, 0, sizeof *cfg); }

/* ---- the graveyard of checked-mode descriptors ---- */

struct grave {
    struct grave *next;
    void *desc;
};
static pthread_mutex_t grave_lock = PTHREAD_MUTEX_INITIALIZER;
static struct grave *graves;

static void bury(void *desc)
{
    struct grave *g = malloc(sizeof *g);
    if (!g) { /* cannot keep it: leak it rather than free it under users */
        return;
    }
    g->desc = desc;
    pthread_mutex_lock(&grave_lock);
    g->next = graves;
    graves = g;
    pthread_mutex_unlock(&grave_lock);
}

__attribute__((destructor)) static void empty_graveyard(void)
{
    pthread_mutex_lock(&grave_lock);
    while (graves) {
        struct grave *g = graves;
        graves = g->next;
        free(g->desc);
        free(g);
    }
    pthread_mutex_unlock(&grave_lock);
}

/* Free a descriptor (malloc'd) now, or keep it dead for checked mode. */
void tt__retire(tt_heap *h, void *desc)
{
    if (h->checked)
        bury(desc);
    else
        free(desc);
}

/* ---- open and close ---- */

/* Every heap of the process gets the next id (never 0). Its handles carry
 * a tag derived from it, 1..255, so that consecutive heaps (any 255 in a
 * row) have different tags and a handle of one heap used with another is
 * recognised (handles.c); tag 0 is in no handle. */
static uint32_t heap_ids;

static uint32_t heap_id(void)
{
    uint32_t id;
    do
        id = __atomic_add_fetch(&heap_ids, 1, __ATOMIC_RELAXED);
    while (id == 0);
    return id;
}

static bool env_checked(void)
{
    const char *e = getenv("TT_CHECKED");
    return e && e[0] && e[0] != '0';
}

tt_heap *tt_heap_open(const tt_config *cfg)
{
    tt_config c;
    if (cfg)
        c = *cfg;
    else
        tt_config_init(&c);
    if (c.checked < TT_CHECKED_DEFAULT || c.checked > TT_CHECKED_OFF) {
        tt__fail(TT_EINVAL, NULL, 0, "tt_heap_open: checked must be TT_CHECKED_DEFAULT, _ON or _OFF");
        return NULL;
    }
    if (c.pages && (!c.pages->reserve || !c.pages->release)) {
        tt__fail(TT_EINVAL, NULL, 0, "tt_heap_open: page hooks need reserve and release");
        return NULL;
    }
    if (c.initial_size == 0) c.initial_size = DEFAULT_INITIAL;
    if (c.growth_percent == 0) c.growth_percent = 100;
    if (c.growth_percent > 100000) {
        tt__fail(TT_EINVAL, NULL, 0, "tt_heap_open: growth_percent %u is absurd", c.growth_percent);
        return NULL;
    }
    if (c.base_frame_capacity == 0) c.base_frame_capacity = 16;
    if (c.base_frame_capacity > TT_FRAME_MAX_CAPACITY) {
        tt__fail(TT_ERANGE, NULL, 0, "tt_heap_open: base_frame_capacity %u above %u",
                 c.base_frame_capacity, TT_FRAME_MAX_CAPACITY);
        return NULL;
    }
    if (c.max_size && c.max_size < TT__CHUNK_SIZE) {
        tt__fail(TT_EINVAL, NULL, 0, "tt_heap_open: max_size %zu is below the minimum %zu",
                 c.max_size, (size_t)TT__CHUNK_SIZE);
        return NULL;
    }
    if (c.max_size && c.initial_size > c.max_size) c.initial_size = c.max_size;

    tt_heap *h = calloc(1, sizeof *h);
    if (!h) {
        tt__fail(TT_ENOMEM, NULL, 0, "tt_heap_open: out of memory for the heap descriptor");
        return NULL;
    }
    h->cfg = c;
    if (c.pages)
        h->pages = *c.pages;
    else
        tt__pages_default(&h->pages);
    h->cfg.pages = NULL;
    h->checked = TT__CHECKS_BUILT &&
                 (c.checked == TT_CHECKED_ON || (c.checked == TT_CHECKED_DEFAULT && env_checked()));
    h->threshold = c.initial_size;
    h->id = heap_id();
    h->globals.kind = 0;
    h->weaks.kind = 1;
    h->globals.tag = h->weaks.tag = (1 + (h->id - 1) % 255) << TT__HTAG_SHIFT;
    if (tt__world_init(h) != TT_OK) {
        free(h);
        tt__fail(TT_ENOMEM, NULL, 0, "tt_heap_open: no memory for the heap's locks");
        return NULL;
    }
    bool ok = tt__mark_init(h) == 0 && tt__space_init(h) == 0;
    if (!ok) tt__fail(TT_ENOMEM, NULL, 0, "tt_heap_open: out of memory for the first chunk");
    /* Reports its own cause (no memory, or no pthread key left). */
    if (!ok || tt__thread_exit_key_init(h) != TT_OK) {
        tt__thread_exit_anchor_free(h);
        tt__space_finish(h);
        tt__mark_finish(h);
        tt__world_finish(h);
        free(h);
        return NULL;
    }
    tt__stats_footprint(h);
    h->sig = TT__HEAP_SIG;
    if (c.leak_report_at_exit && tt__leaks_exit_register(h) != TT_OK) {
        tt_heap_close(h);
        tt__fail(TT_ENOMEM, NULL, 0, "tt_heap_open: could not install the exit leak report");
        return NULL;
    }
    if (c.finalizer_thread && tt__finalizer_start(h) != TT_OK) {
        int code = tt_last_error()->code;
        char msg[sizeof tt_last_error()->message];
        memcpy(msg, tt_last_error()->message, sizeof msg);
        h->cfg.finalizer_thread = 0;
        tt_heap_close(h);
        tt__fail(code, NULL, 0, "%s", msg);
        return NULL;
    }
    return h;
}

int tt_heap_checked(const tt_heap *h) { return h && h->checked; }

int tt__heap_arg(const tt_heap *ch, const char *fname, const char *file, int line)
{
    tt_heap *h = (tt_heap *)ch;
    if (!h) return tt__fail(TT_EINVAL, file, line, "%s: null heap", fname);
    if (TT_LIKELY(h->sig == TT__HEAP_SIG)) return TT_OK;
    /* Only a checked heap keeps its descriptor readable after close. */
    if (h->sig == TT__HEAP_DEAD)
        return tt__misuse(h, TT_ECLOSED, "heap-closed", file, line, "%s on a closed heap", fname);
    return tt__misuse(NULL, TT_EINVAL, "bad-heap", file, line, "%s: %p is not a tether heap",
                      fname, (void *)h);
}

void tt_heap_close(tt_heap *h)
{
    if (!h) return;
    if (h->sig != TT__HEAP_SIG) {
        if (h->sig == TT__HEAP_DEAD)
            tt__misuse(h, TT_ECLOSED, "heap-closed", NULL, 0, "tt_heap_close of a heap already closed");
        else
            tt__misuse(NULL, TT_EINVAL, "bad-heap", NULL, 0, "tt_heap_close of something that is not a heap");
        return;
    }
    /* The signature dies first: from here on the heap takes no new
     * thread and a second close is reported; the cleanups run below use
     * threads already attached (or attached internally). */
    h->sig = TT__HEAP_DEAD;
    /* Out of the exit registry, so the exit report never sees a heap
     * being closed. */
    tt__leaks_exit_unregister(h);
    /* Threads still attached are closed with the heap: no collection waits
     * for them any more (their locals stay roots until the end). */
    /* OS threads exiting attached from now on leave their threads to
     * close; those already detaching theirs are waited for. */
    tt__thread_exit_key_close(h);
    pthread_mutex_lock(&h->world_lock);
    for (tt_thread *t = h->threads; t; t = t->next)
        if (t != h->fin_t) __atomic_store_n(&t->state, TT__TS_IDLE, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&h->world_lock);
    /* The finalizer thread runs what is queued, then stops. */
    tt__finalizer_stop(h);
    /* Cleanups run while the heap is whole: they may use it. */
    tt__finalize_shutdown(h);
    tt__mark_workers_stop(h);
    while (h->threads) {
        tt_thread *t = h->threads;
        h->threads = t->next;
        tt__thread_free(t, 2);
    }
    tt__finalize_finish(h);
    tt__wtables_finish(h);
    tt__cleanup_finish(h);
    tt__htable_finish(h, &h->globals);
    tt__htable_finish(h, &h->weaks);
    tt__static_roots_finish(h);
    tt__large_finish(h);
    tt__space_finish(h);
    tt__mark_finish(h);
    tt__ptrset_free(&h->types_seen);
    tt__world_finish(h);
    tt__retire(h, h);
}

/* Threads keep their descriptor dead in checked mode, like heaps. */
void tt__thread_free(tt_thread *t, int reason)
{
    tt_heap *h = t->heap;
    tt__pages_release(h, t->f.locals, (size_t)t->f.local_cap * sizeof(tt_ref));
    tt__pages_release(h, t->f.local_serial, (size_t)t->f.local_cap * sizeof(uint32_t));
    tt__pages_release(h, t->f.frames, (size_t)t->f.frame_cap * sizeof(struct tt__frame_rec));
    t->f.locals = NULL;
    t->f.local_serial = NULL;
    t->f.frames = NULL;
    t->f.local_top = t->f.local_limit = t->f.local_cap = 0;
    t->f.frame_top = t->f.frame_cap = 0;
    memset(t->f.buf, 0, sizeof t->f.buf);
    t->f.sig = TT__THREAD_DEAD;
    t->f.slow |= TT__SLOW_DEAD;
    t->dead_reason = reason;
    tt__serial_range_drop(t->index);
    tt__retire(h, t);
}
