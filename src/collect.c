/*
 * collect.c: one full, stop-the-world collection.
 *
 *   1. Threads give back their runs (their unused tails are reclaimed).
 *   2. Mark bits of blocks in use are cleared.
 *   3. Roots are marked: every thread's locals, every global reference.
 *   4. The mark stack is drained (mark.c).
 *   5. Weak references to unmarked objects are cleared.
 *   6. Blocks are classified by their survivors (space.c); dead large
 *      objects are unmapped (large.c). Free slots inside surviving blocks
 *      are found lazily by the allocator.
 *   7. The next trigger is set from the live size, and empty blocks the
 *      next cycle will not need are returned to the OS.
 *
 * Collections never run user code (no finalizers, no callbacks besides
 * custom trace functions), so they can run inside any allocation.
 */
#include "internal.h"

static void mark_global(tt_heap *h, struct tt__hslot *s) { tt__mark_root(h, s->ref.bits); }

static void clear_dead_weak(tt_heap *h, struct tt__hslot *s)
{
    (void)h;
    if (s->ref.bits && !tt__is_marked(s->ref.bits)) s->ref = TT_NULL;
}

static void set_threshold(tt_heap *h)
{
    uint64_t live = h->marked_bytes;
    uint64_t next = live * h->cfg.growth_percent / 100;
    if (next < h->cfg.initial_size) next = h->cfg.initial_size;
    h->threshold = (size_t)next;
}

void tt__collect(tt_heap *h)
{
    if (h->collecting) return;
    h->collecting = true;
    uint64_t t0 = tt__now_ns();

    for (tt_thread *t = h->threads; t; t = t->next) tt__space_flush_thread(t);
    tt__space_clear_marks(h);

    for (tt_thread *t = h->threads; t; t = t->next)
        for (uint32_t i = 0; i < t->f.local_top; i++) tt__mark_root(h, t->f.locals[i].bits);
    tt__htable_each(&h->globals, mark_global, h);
    tt__mark_drain(h);

    tt__htable_each(&h->weaks, clear_dead_weak, h);

    h->marked_objects = 0;
    h->marked_bytes = 0;
    tt__space_sweep(h);
    tt__large_sweep(h);

    h->alloc_since_gc = 0;
    set_threshold(h);
    tt__space_trim(h);

    h->st.live_objects = h->marked_objects;
    h->st.live_bytes = h->marked_bytes;
    tt__stats_footprint(h);
    tt__stats_pause(h, tt__now_ns() - t0);
    h->collecting = false;
}

int tt_collect_at(tt_thread *t, const char *file, int line)
{
    int code;
    tt_heap *h = tt__enter(t, file, line, &code);
    if (!h) return code;
    tt__collect(h);
    return TT_OK;
}
