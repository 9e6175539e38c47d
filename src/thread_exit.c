/*
 * thread_exit.c: OS threads that exit with attachments left.
 *
 * One pthread key for the whole process (created once, never deleted):
 * pthread keys are a process resource of ~1,024 entries, so a key per heap
 * would run out after that many heaps closed while some OS thread (a pool
 * thread parked in a foreign region, say) still had attachments to them.
 * This key is, with the static pointer table, tether's only global state.
 *
 * The key's value is the OS thread's record: the anchors of the heaps it
 * has attachments to. An anchor outlives its heap as long as a record
 * holds it, so an exit racing tt_heap_close never reads freed memory.
 * Only the owning OS thread touches its record; anchors of closed heaps
 * are dropped from it on the next attach, so a long-lived thread that
 * outlives many heaps keeps a record the size of the heaps still open.
 */
#include <pthread.h>
#include <stdlib.h>

#include "internal.h"

struct tt__os_record {
    struct tt__anchor **anchors;
    size_t n, cap;
};

static pthread_key_t exit_key;
static int exit_key_error = -1; /* written once under pthread_once */
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

static void anchor_release(struct tt__anchor *a)
{
    pthread_mutex_lock(&a->lock);
    unsigned left = --a->refs;
    pthread_mutex_unlock(&a->lock);
    if (left == 0) {
        pthread_mutex_destroy(&a->lock);
        free(a);
    }
}

static tt_heap *anchor_heap(struct tt__anchor *a)
{
    pthread_mutex_lock(&a->lock);
    tt_heap *h = a->h;
    pthread_mutex_unlock(&a->lock);
    return h;
}

/* Detach every attachment the exiting OS thread left on the anchor's heap. */
static void exited_attached(struct tt__anchor *a)
{
    pthread_mutex_lock(&a->lock);
    tt_heap *h = a->h;
    if (h) {
        /* Counted while the anchor still names the heap: close waits. */
        pthread_mutex_lock(&h->world_lock);
        h->exiting++;
        pthread_mutex_unlock(&h->world_lock);
    }
    pthread_mutex_unlock(&a->lock);
    if (!h) return;
    pthread_t me = pthread_self();
    for (;;) {
        tt_thread *t = NULL;
        pthread_mutex_lock(&h->world_lock);
        for (tt_thread *o = h->threads; o; o = o->next)
            if (!o->internal && pthread_equal(o->owner, me)) t = o;
        pthread_mutex_unlock(&h->world_lock);
        if (!t) break;
        if (h->checked)
            tt__misuse(h, TT_ESTATE, "thread-exit-attached", t->file, t->line,
                       "an OS thread exited while attached (at %s:%d); tether detached it",
                       t->file ? t->file : "?", t->line);
        /* Detached whatever the mode, so that no collection waits for it. */
        tt__thread_detach(t, 3);
    }
    pthread_mutex_lock(&h->world_lock);
    h->exiting--;
    pthread_cond_broadcast(&h->stopped_cv);
    pthread_mutex_unlock(&h->world_lock);
}

/* The key's destructor: the C library has already cleared the value, so
 * the detaches below find no record and leave the anchors to this loop. */
static void os_thread_exited(void *arg)
{
    struct tt__os_record *r = arg;
    for (size_t i = r->n; i-- > 0;) {
        exited_attached(r->anchors[i]);
        anchor_release(r->anchors[i]);
    }
    free(r->anchors);
    free(r);
}

static void exit_key_create(void)
{
    exit_key_error = pthread_key_create(&exit_key, os_thread_exited);
}

int tt__thread_exit_key_init(tt_heap *h)
{
    pthread_once(&exit_key_once, exit_key_create);
    if (exit_key_error != 0) {
        tt__fail(TT_ENOMEM, NULL, 0,
                 "tt_heap_open: no pthread key left for detecting OS threads that exit attached "
                 "(error %d)", exit_key_error);
        return TT_ENOMEM;
    }
    struct tt__anchor *a = calloc(1, sizeof *a);
    if (!a || pthread_mutex_init(&a->lock, NULL) != 0) {
        free(a);
        tt__fail(TT_ENOMEM, NULL, 0, "tt_heap_open: out of memory for the thread-exit anchor");
        return TT_ENOMEM;
    }
    a->h = h;
    a->refs = 1;
    h->anchor = a;
    return TT_OK;
}

void tt__thread_exit_anchor_free(tt_heap *h)
{
    if (!h->anchor) return;
    anchor_release(h->anchor);
    h->anchor = NULL;
}

static size_t record_find(const struct tt__os_record *r, const struct tt__anchor *a)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->anchors[i] == a) return i;
    return r->n;
}

static void record_remove(struct tt__os_record *r, size_t i)
{
    struct tt__anchor *a = r->anchors[i];
    r->anchors[i] = r->anchors[--r->n];
    anchor_release(a);
}

int tt__thread_exit_hold(tt_heap *h)
{
    struct tt__os_record *r = pthread_getspecific(exit_key);
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) return TT_ENOMEM;
        if (pthread_setspecific(exit_key, r) != 0) {
            free(r);
            return TT_ENOMEM;
        }
    }
    if (record_find(r, h->anchor) < r->n) return TT_OK;
    /* Anchors of heaps closed since the last attach are let go here. */
    for (size_t i = r->n; i-- > 0;)
        if (!anchor_heap(r->anchors[i])) record_remove(r, i);
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 4;
        struct tt__anchor **n = realloc(r->anchors, cap * sizeof *n);
        if (!n) return TT_ENOMEM;
        r->anchors = n;
        r->cap = cap;
    }
    pthread_mutex_lock(&h->anchor->lock);
    h->anchor->refs++;
    pthread_mutex_unlock(&h->anchor->lock);
    r->anchors[r->n++] = h->anchor;
    return TT_OK;
}

void tt__thread_exit_drop(tt_heap *h)
{
    struct tt__os_record *r = pthread_getspecific(exit_key);
    if (!r || !h->anchor) return;
    size_t i = record_find(r, h->anchor);
    if (i < r->n) record_remove(r, i);
}

void tt__thread_exit_key_close(tt_heap *h)
{
    struct tt__anchor *a = h->anchor;
    if (!a) return;
    pthread_mutex_lock(&a->lock);
    a->h = NULL;
    pthread_mutex_unlock(&a->lock);
    pthread_mutex_lock(&h->world_lock);
    h->closing = true;
    while (h->exiting) pthread_cond_wait(&h->stopped_cv, &h->world_lock);
    pthread_mutex_unlock(&h->world_lock);
    /* The closing OS thread may still be attached: it lets go now. Other
     * OS threads still attached let go on their next attach or at exit. */
    tt__thread_exit_drop(h);
    tt__thread_exit_anchor_free(h);
}
