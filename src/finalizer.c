/*
 * finalizer.c: the finalizer thread (tt_config.finalizer_thread).
 *
 * A dedicated OS thread, attached to the heap as a mutator of its own,
 * runs the pending queue one cleanup at a time. It sleeps on `fin_cv`
 * (with the heap lock) in the IDLE state, so collections never wait for
 * it; a collection that queues anything wakes it. Between two cleanups it
 * passes a safepoint, and each cleanup runs without the heap lock, so
 * mutators and collections go on while it works.
 *
 * The latency of each item, from the collection that found it dead to the
 * end of its last cleanup, goes into a histogram (finalize.c records it).
 *
 * Close: the thread is told to stop; it first empties the queue (running
 * what collections queue meanwhile too), then detaches and exits, and
 * close joins it before running the cleanups still registered, newest
 * first, on the closing thread.
 */
#include "internal.h"

/* Wait on fin_cv with the lock held once (depth 1), letting it go meanwhile. */
static void wait_for_work(tt_heap *h)
{
    h->lock_depth = 0;
    __atomic_store_n(&h->lock_owner, 0, __ATOMIC_RELAXED);
    pthread_cond_wait(&h->fin_cv, &h->lock);
    __atomic_store_n(&h->lock_owner, (uintptr_t)&tt__self_token, __ATOMIC_RELAXED); /* as tt__lock */
    h->lock_depth = 1;
}

static void *finalizer_main(void *arg)
{
    tt_heap *h = arg;
    tt_thread *t = tt__thread_attach(h, true, "tether finalizer thread", 0);
    tt__lock(h);
    h->fin_t = t;
    h->fin_started = t != NULL;
    h->fin_ready = true;
    pthread_cond_broadcast(&h->fin_cv);
    if (!t) {
        tt__unlock(h);
        return NULL;
    }
    for (;;) {
        if (h->pending.count && !h->running_cleanups) {
            /* A batch per turn: each cleanup still runs alone and without
             * the lock, but the turn's overhead is paid once per batch. */
            tt__unlock(h);
            tt__run_pending(t, 256);
            tt__safepoint(t);
            tt__lock(h);
            continue;
        }
        if (h->fin_stop) break;
        tt__thread_set_state(t, TT__TS_IDLE);
        wait_for_work(h);
        /* Back to RUNNING without the lock: a collection may be going on. */
        tt__unlock(h);
        tt__thread_set_state(t, TT__TS_RUNNING);
        tt__lock(h);
    }
    tt__unlock(h);
    tt__thread_detach(t, 1);
    return NULL;
}

int tt__finalizer_start(tt_heap *h)
{
    h->fin_stop = false;
    h->fin_ready = false;
    h->fin_t = NULL;
    if (pthread_create(&h->fin_thread, NULL, finalizer_main, h) != 0)
        return tt__fail(TT_ENOMEM, NULL, 0, "tt_heap_open: could not start the finalizer thread");
    tt__lock(h);
    /* The thread says whether it attached. */
    while (!h->fin_ready) wait_for_work(h);
    bool ok = h->fin_started;
    tt__unlock(h);
    if (!ok) {
        pthread_join(h->fin_thread, NULL);
        return tt__fail(TT_ENOMEM, NULL, 0, "tt_heap_open: the finalizer thread could not attach");
    }
    return TT_OK;
}

void tt__finalizer_stop(tt_heap *h)
{
    if (!h->fin_started) return;
    tt__lock(h);
    h->fin_stop = true;
    pthread_cond_broadcast(&h->fin_cv);
    tt__unlock(h);
    pthread_join(h->fin_thread, NULL);
    h->fin_started = false;
    h->fin_t = NULL;
}
