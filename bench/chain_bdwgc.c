/*
 * bench/chain_bdwgc.c: the port of chain_tether.c to the Boehm-Demers-Weiser
 * collector, with its ordered finalization (GC_register_finalizer) and
 * finalization on demand.
 *
 * The chain A1 -> A2 -> ... -> A1000 is built and dropped in a function of
 * its own, so that no pointer to it is left in main's frame, and the stack
 * below main is cleared after that and after every GC_invoke_finalizers
 * (fb_scrub_stack): without that, the stack slot that passed A3 to its
 * finalizer was found by the next collections, A3 -> A4 kept A4 reachable,
 * and the chain stopped after 3 finalizers for good. Then
 * `GC_gcollect; GC_invoke_finalizers` repeats until all 1,000 finalizers
 * have run (at most 2,000 times). Boehm ordering finalizes only the objects
 * that no other finalizable object reaches, so each collection finalizes
 * one link. Even with the stack cleared, libgc 8.2.2 stalls for good after
 * 488 of the 1,000 links on the machine this was written on: an object
 * already finalized, still reached conservatively from the dead links and
 * finalizer records around it, keeps its successor reachable. That is
 * reported as it is (chain_collections never, chain_finalized 488). The
 * cycle A <-> B (at most 10 times) is never finalized: the documented
 * behaviour of ordered finalization for cycles.
 *
 * This program reports what it sees; it exits 0 whatever the counts.
 */
#include <stdio.h>
#include <stdlib.h>

#include <gc.h>

#include "finbench.h"

struct link {
    struct link *next;
    long idx;
};

static long order[FB_CHAIN];
static long chain_ran, cycle_ran;

static void GC_CALLBACK chain_fin(void *obj, void *cd)
{
    (void)cd;
    if (chain_ran < FB_CHAIN) order[chain_ran] = ((struct link *)obj)->idx;
    chain_ran++;
}

static void GC_CALLBACK cycle_fin(void *obj, void *cd)
{
    (void)obj;
    (void)cd;
    cycle_ran++;
}

static struct link *new_link(long idx, struct link *next, GC_finalization_proc fn)
{
    struct link *l = GC_MALLOC(sizeof *l);
    if (!l) {
        fprintf(stderr, "chain_bdwgc: out of memory\n");
        exit(2);
    }
    l->idx = idx;
    l->next = next;
    GC_register_finalizer(l, fn, NULL, NULL, NULL);
    return l;
}

static __attribute__((noinline)) void make_chain(void)
{
    struct link *next = NULL;
    for (long i = FB_CHAIN; i >= 1; --i) next = new_link(i, next, chain_fin);
}

static __attribute__((noinline)) void make_cycle(void)
{
    struct link *a = new_link(1, NULL, cycle_fin);
    a->next = new_link(2, a, cycle_fin);
}

static long collect_until(const long *count, long want, long cap)
{
    for (long k = 1; k <= cap; ++k) {
        GC_gcollect();
        (void)GC_invoke_finalizers();
        /* The finalizers were called with their objects as arguments: the
         * next collection must not find those in dead stack slots. */
        fb_scrub_stack();
        if (*count >= want) return k;
    }
    return -1;
}

int main(void)
{
    GC_INIT();
    GC_set_finalize_on_demand(1);
    /* Silence "GC Warning: Finalization cycle involving ...", printed at
     * every collection that meets the cycle. */
    GC_set_warn_proc(GC_ignore_warn_proc);
    make_chain();
    fb_scrub_stack();
    long chain = collect_until(&chain_ran, FB_CHAIN, FB_CHAIN_CAP);
    make_cycle();
    fb_scrub_stack();
    long cycle = collect_until(&cycle_ran, 2, FB_CYCLE_CAP);
    fb_chain_report(chain, order, chain_ran, cycle);
    return 0;
}
