/*
 * thread.c: attaching and detaching mutator threads, and the entry check
 * of every out-of-line path.
 *
 * A thread holds its allocation buffers (one run per size class), its
 * local slots and its frame records. The inline fast paths read only the
 * struct tt__fast at its start; anything unusual about the thread (checked
 * mode, detached) sets a bit of `slow`, so the fast paths stay one test.
 */
#include <pthread.h>
#include <stdlib.h>

#include "internal.h"

/* A byte per OS thread: its address names the calling OS thread in one
 * instruction, where pthread_self is a call (checked mode asks on every
 * entry). initial-exec: a library loaded with the program; glibc keeps
 * room for a few such bytes in libraries loaded later. */
_Thread_local char tt__self_token __attribute__((tls_model("initial-exec")));
/* ---- frame serial ranges ----
 *
 * A thread's frame serials start at index << 20, in a range of its own
 * among all the threads attached in the process, whatever their heap: a
 * local of another thread (of this heap or another) then matches none of
 * this thread's slots. Ranges are handed out round-robin, skipping those
 * in use, so a range is reused only after every other one was; range 0 is
 * never used (serial 0 is no serial). Past RANGES - 1 threads attached at
 * once, ranges are shared and the check is no longer a guarantee.
 * range_heap keeps the id of the heap whose thread last had each range,
 * for naming a local of another heap (checked mode, frame.c). */
#define RANGE_SHIFT 20
#define RANGES (1u << (32 - RANGE_SHIFT))

static pthread_mutex_t range_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t range_users[RANGES]; /* threads attached with each range */
static uint32_t range_next = 1;
static uint32_t range_heap[RANGES];  /* atomic */

static uint32_t range_take(const tt_heap *h)
{
    pthread_mutex_lock(&range_lock);
    uint32_t r = range_next;
    for (uint32_t k = 0; k < RANGES - 1; k++) {
        uint32_t c = 1 + (range_next - 1 + k) % (RANGES - 1);
        if (range_users[c] == 0) {
            r = c;
            break;
        }
    }
    range_users[r] += 1;
    range_next = 1 + r % (RANGES - 1);
    __atomic_store_n(&range_heap[r], h->id, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&range_lock);
    return r;
}

void tt__serial_range_drop(uint32_t r)
{
    pthread_mutex_lock(&range_lock);
    if (range_users[r]) range_users[r] -= 1;
    pthread_mutex_unlock(&range_lock);
}

uint32_t tt__serial_heap(uint32_t serial)
{
    return __atomic_load_n(&range_heap[serial >> RANGE_SHIFT], __ATOMIC_RELAXED);
}

/* tt__enter's checks, made again to report what failed (internal.h). */
tt_heap *tt__enter_fail(tt_thread *t, const char *file, int line, int *code)
{
    if (!t) {
        *code = tt__fail(TT_EINVAL, file, line, "null thread");
        return NULL;
    }
    if (TT_UNLIKELY(t->f.sig != TT__THREAD_SIG)) {
        /* Only a checked heap keeps dead threads readable; see heap.c. */
        if (t->f.sig == TT__THREAD_DEAD) {
            tt_heap *h = t->heap;
            if (t->dead_reason == 2)
                *code = tt__misuse(h, TT_ECLOSED, "heap-closed", file, line,
                                   "thread attached at %s:%d used after its heap was closed",
                                   t->file ? t->file : "?", t->line);
            else
                *code = tt__misuse(h, TT_ECLOSED, "thread-detached", file, line,
                                   "thread attached at %s:%d used after tt_thread_detach",
                                   t->file ? t->file : "?", t->line);
        } else {
            *code = tt__misuse(NULL, TT_EINVAL, "bad-thread", file, line,
                               "%p is not a tether thread", (void *)t);
        }
        return NULL;
    }
    if (TT_UNLIKELY(t->f.checked)) {
        tt_heap *h = t->heap;
        if (t->owner_token != &tt__self_token) {
            *code = tt__misuse(h, TT_ESTATE, "wrong-thread", file, line,
                               "thread attached at %s:%d used from another OS thread: a tt_thread "
                               "belongs to the OS thread that attached it",
                               t->file ? t->file : "?", t->line);
            return NULL;
        }
        if (tt__thread_state(t) == TT__TS_FOREIGN) {
            *code = tt__misuse(h, TT_ESTATE, "heap-in-foreign-region", file, line,
                               "heap used inside the foreign region entered at %s:%d",
                               t->region_file ? t->region_file : "?", t->region_line);
            return NULL;
        }
    }
    return t->heap;
}

tt_heap *tt_thread_heap(const tt_thread *t) { return t ? t->heap : NULL; }

/* Make room for `need` local slots in total, and as many frame records
 * (every frame beyond the base takes a slot, so the fast push needs no
 * check of its own on the frame records). */
int tt__locals_reserve(tt_thread *t, uint64_t need)
{
    if (need <= t->f.local_cap) return TT_OK;
    if (need > (uint64_t)UINT32_MAX / 2) return TT_ERANGE;
    uint64_t cap = t->f.local_cap ? t->f.local_cap : 256;
    while (cap < need) cap *= 2;
    tt_heap *h = t->heap;
    size_t old = t->f.local_cap;
    tt_ref *locals = tt__pages_reserve(h, cap * sizeof(tt_ref), TT__PAGE);
    uint32_t *serial = tt__pages_reserve(h, cap * sizeof(uint32_t), TT__PAGE);
    struct tt__frame_rec *frames = tt__pages_reserve(h, cap * sizeof *frames, TT__PAGE);
    if (!locals || !serial || !frames) {
        tt__pages_release(h, locals, cap * sizeof(tt_ref));
        tt__pages_release(h, serial, cap * sizeof(uint32_t));
        tt__pages_release(h, frames, cap * sizeof *frames);
        return TT_ENOMEM;
    }
    if (old) {
        memcpy(locals, t->f.locals, t->f.local_top * sizeof(tt_ref));
        memcpy(serial, t->f.local_serial, t->f.local_top * sizeof(uint32_t));
        memcpy(frames, t->f.frames, t->f.frame_top * sizeof *frames);
        tt__pages_release(h, t->f.locals, old * sizeof(tt_ref));
        tt__pages_release(h, t->f.local_serial, old * sizeof(uint32_t));
        tt__pages_release(h, t->f.frames, old * sizeof *frames);
    }
    t->f.locals = locals;
    t->f.local_serial = serial;
    t->f.frames = frames;
    t->f.local_cap = (uint32_t)cap;
    t->f.frame_cap = (uint32_t)cap;
    return TT_OK;
}

/* Whether the calling OS thread has an attachment (internal ones aside). */
static bool attached_here(tt_heap *h)
{
    pthread_t me = pthread_self();
    bool found = false;
    pthread_mutex_lock(&h->world_lock);
    for (tt_thread *o = h->threads; o && !found; o = o->next)
        found = !o->internal && pthread_equal(o->owner, me);
    pthread_mutex_unlock(&h->world_lock);
    return found;
}

tt_thread *tt__thread_attach(tt_heap *h, bool internal, const char *file, int line)
{
    tt_thread *t = calloc(1, sizeof *t);
    if (!t) {
        tt__fail(TT_ENOMEM, file, line, "tt_thread_attach: out of memory");
        return NULL;
    }
    t->heap = h;
    t->file = file;
    t->line = line;
    t->owner = pthread_self();
    t->owner_token = &tt__self_token;
    /* Without a thread pointer, or one whose low bits the hold bits
     * would need, all ones: nothing matches, the inline checks defer. */
    uintptr_t tp = tt__thread_pointer();
    t->f.owner_key = tp && (tp & 7) == 0 ? tp : ~(uintptr_t)0;
    t->internal = internal;
    /* Held before linking: an OS thread's attachments are always known to
     * its exit. A hold left by a failed attach is harmless. */
    if (!internal && tt__thread_exit_hold(h) != TT_OK) {
        free(t);
        tt__fail(TT_ENOMEM, file, line, "tt_thread_attach: out of memory for the thread-exit record");
        return NULL;
    }
    TT__LOCKED(h);
    if (tt__locals_reserve(t, (uint64_t)h->cfg.base_frame_capacity + 1) != TT_OK) {
        free(t);
        tt__fail(TT_ENOMEM, file, line, "tt_thread_attach: out of memory for local slots");
        return NULL;
    }
    /* Each thread's frame serials start in a range of their own, so that a
     * local handed to another thread (of any heap) matches none of that
     * thread's slots, and checked mode can name the thread it belongs to. */
    t->index = range_take(h);
    uint32_t base = t->index << RANGE_SHIFT;
    /* The base frame: never popped, no escape slot. */
    t->f.frames[0] = (struct tt__frame_rec){.saved_top = 0,
                                            .limit = h->cfg.base_frame_capacity,
                                            .serial = base,
                                            .capacity = h->cfg.base_frame_capacity,
                                            .file = file,
                                            .line = line};
    t->f.frame_top = 1;
    t->f.serial = base;
    t->f.serial_next = base + 1;
    t->f.local_top = 0;
    t->f.local_limit = h->cfg.base_frame_capacity;
    t->f.checked = h->checked;
    t->f.slow = h->checked ? TT__SLOW_CHECKED : 0;
    /* Linked stopped: a collection in progress does not wait for it, and
     * it starts running only once that collection is over. */
    t->state = TT__TS_PARKED;
    tt__world_link(h, t);
    t->f.sig = TT__THREAD_SIG;
    unsigned d = tt__unlock_all(h);
    tt__thread_set_state(t, TT__TS_RUNNING);
    tt__relock(h, d);
    return t;
}

tt_thread *tt_thread_attach_at(tt_heap *h, const char *file, int line)
{
    if (!h) {
        tt__fail(TT_EINVAL, file, line, "tt_thread_attach: null heap");
        return NULL;
    }
    if (h->sig != TT__HEAP_SIG) {
        if (h->sig == TT__HEAP_DEAD)
            tt__misuse(h, TT_ECLOSED, "heap-closed", file, line, "tt_thread_attach on a closed heap");
        else
            tt__misuse(NULL, TT_EINVAL, "bad-heap", file, line, "%p is not a tether heap", (void *)h);
        return NULL;
    }
    return tt__thread_attach(h, false, file, line);
}

void tt__thread_detach(tt_thread *t, int reason)
{
    tt_heap *h = t->heap;
    TT__LOCKED(h);
    /* The signature dies first: nothing below enters the API through t. */
    t->f.sig = TT__THREAD_DEAD;
    tt__hcache_flush(t);
    (void)tt__regs_drain(h); /* its ring goes with it (a nested lock did not drain) */
    h->released_fast += t->released_fast; /* the count stays with the heap */
    __atomic_store_n(&t->released_fast, 0, __ATOMIC_RELAXED);
    tt__space_flush_thread(t);
    tt__world_unlink(h, t);
    if (!t->internal && pthread_equal(t->owner, pthread_self()) && !attached_here(h))
        tt__thread_exit_drop(h);
    tt__thread_free(t, reason);
}

void tt_thread_detach_at(tt_thread *t, const char *file, int line)
{
    int code;
    tt_heap *h = tt__enter(t, file, line, &code);
    if (!h) return;
    if (t->f.frame_top > 1 && h->checked) {
        const struct tt__frame_rec *fr = &t->f.frames[t->f.frame_top - 1];
        tt__misuse(h, TT_ESTATE, "frame-open-at-detach", file, line,
                   "thread detached with %u frame(s) still open; innermost pushed at %s:%d",
                   t->f.frame_top - 1, fr->file ? fr->file : "?", fr->line);
        return;
    }
    tt__thread_detach(t, 1);
}
