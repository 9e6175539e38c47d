/*
 * bench/chain_tether.c: how many collections it takes to finalize a dropped
 * chain of 1,000 finalizable objects, and a dropped 2-object cycle, on
 * tether (default heap configuration).
 *
 * The chain is A1 -> A2 -> ... -> A1000 (each object references the next),
 * each with a cleanup pushed by tt_cleanup_push. It is built from its end,
 * the head rooted in one local, and dropped by clearing that local. Then
 * `tt_collect; tt_run_finalizers` repeats until all 1,000 cleanups have run
 * (at most 2,000 times). tether queues every unreachable object with
 * cleanups in one collection, in dependency order, so A1's cleanup must run
 * first and A1000's last; each cleanup also checks that the object it
 * references is still intact. The same for the cycle A <-> B (at most 10
 * times): tether finalizes it in a deterministic order.
 *
 * Exits 1 if the chain is not finalized, in the wrong order, or a cleanup
 * found its successor damaged, or if the cycle is not finalized.
 */
#include <stdio.h>
#include <stdlib.h>

#include <tether.h>

#include "finbench.h"

struct link {
    tt_ref next;
    long idx;
};

static const tt_type link_type = TT_TYPE_INIT(struct link, next);

static long order[FB_CHAIN];
static long chain_ran, cycle_ran, damaged;

static void die(const char *what)
{
    const tt_error *e = tt_last_error();
    fprintf(stderr, "chain_tether: %s failed: %s (%s)\n", what, tt_status_name(e->code),
            e->message);
    exit(2);
}

/* A chain link's cleanup: record the order, and read the next link, which
 * must still be intact (everything an object reaches stays allocated until
 * its cleanups have run). */
static void chain_cleanup(tt_thread *t, tt_ref obj, void *env)
{
    (void)t;
    (void)env;
    const struct link *l = TT_PTR(struct link, obj);
    if (chain_ran < FB_CHAIN) order[chain_ran] = l->idx;
    chain_ran++;
    if (!tt_is_null(l->next) && TT_PTR(struct link, l->next)->idx != l->idx + 1) damaged++;
}

static void cycle_cleanup(tt_thread *t, tt_ref obj, void *env)
{
    (void)t;
    (void)env;
    const struct link *l = TT_PTR(struct link, obj);
    if (tt_is_null(l->next) || TT_PTR(struct link, l->next)->idx != 3 - l->idx) damaged++;
    cycle_ran++;
}

/* A new link in local `slot`, pointing to `next`, with cleanup fn. */
static tt_ref new_link(tt_thread *t, tt_local slot, long idx, tt_ref next, tt_cleanup_fn fn)
{
    tt_ref r = tt_alloc(t, &link_type);
    if (tt_is_null(r)) die("tt_alloc");
    tt_local_set(t, slot, r);
    TT_PTR(struct link, r)->idx = idx;
    tt_store(t, r, &TT_PTR(struct link, r)->next, next);
    if (tt_cleanup_push(t, r, fn, NULL) != TT_OK) die("tt_cleanup_push");
    return r;
}

/* Collect and run cleanups until *count reaches want; the collections it
 * took, or -1 if not within cap. */
static long collect_until(tt_thread *t, const long *count, long want, long cap)
{
    for (long k = 1; k <= cap; ++k) {
        if (tt_collect(t) != TT_OK) die("tt_collect");
        (void)tt_run_finalizers(t, 0);
        if (*count >= want) return k;
    }
    return -1;
}

int main(void)
{
    tt_heap *h = tt_heap_open(NULL);
    if (!h) die("tt_heap_open");
    tt_thread *t = tt_thread_attach(h);
    if (!t) die("tt_thread_attach");
    tt_frame f = tt_frame_push(t, 2);
    if (tt_frame_is_null(f)) die("tt_frame_push");
    tt_local head = tt_local_new(t, TT_NULL), other = tt_local_new(t, TT_NULL);

    /* The chain, built from A1000 back to A1; `head` holds the newest. */
    tt_ref next = TT_NULL;
    for (long i = FB_CHAIN; i >= 1; --i) next = new_link(t, head, i, next, chain_cleanup);
    tt_local_set(t, head, TT_NULL);
    long chain = collect_until(t, &chain_ran, FB_CHAIN, FB_CHAIN_CAP);

    /* The cycle A1 <-> A2. */
    tt_ref a = new_link(t, head, 1, TT_NULL, cycle_cleanup);
    tt_ref b = new_link(t, other, 2, a, cycle_cleanup);
    tt_store(t, a, &TT_PTR(struct link, a)->next, b);
    tt_local_set(t, head, TT_NULL);
    tt_local_set(t, other, TT_NULL);
    long cycle = collect_until(t, &cycle_ran, 2, FB_CYCLE_CAP);

    fb_chain_report(chain, order, chain_ran, cycle);
    int ok = chain >= 0 && chain_ran == FB_CHAIN && cycle >= 0 && cycle_ran == 2 && damaged == 0;
    for (long k = 0; k < FB_CHAIN && ok; ++k) ok = order[k] == k + 1;
    if (!ok)
        fprintf(stderr,
                "chain_tether: FAILED: chain %ld collections, %ld cleanups; cycle %ld "
                "collections, %ld cleanups; %ld found a damaged successor (order: see "
                "chain_order)\n",
                chain, chain_ran, cycle, cycle_ran, damaged);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_thread_detach(t);
    tt_heap_close(h);
    return ok ? 0 : 1;
}
