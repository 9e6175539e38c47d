/*
 * list.c: a linked list of numbers, built and transformed with frames and
 * escaped results.
 *
 * The pattern every allocating function follows:
 *
 *   tt_frame f = tt_frame_push(t, N);   room for the N locals it makes
 *   ... root each object it must keep across an allocation ...
 *   return tt_frame_pop(t, f, result); the result becomes a local of the
 *                                      caller's frame; the rest dies
 *
 * The escaped local lands in a slot that tt_frame_push reserved, so it
 * never fails and does not use up the caller's capacity: a frame counts
 * only the locals it makes itself.
 */
#include <stdio.h>
#include <stdlib.h>

#include <tether.h>

/* A cell: one reference field (next) and a number the collector ignores. */
struct cell {
    tt_ref next;
    long value;
};
static const tt_type cell_type = TT_TYPE_INIT(struct cell, next);

static struct cell *cell_of(tt_ref r) { return TT_PTR(struct cell, r); }

/* A new cell holding value, in front of `rest` (which must be reachable
 * from a root: a local or a global, or TT_NULL). Returns TT_NULL if the
 * heap is full. The result is held in a C variable only: the caller
 * must root it or link it before its next allocation. */
static tt_ref cons(tt_thread *t, long value, tt_ref rest)
{
    tt_ref c = tt_alloc(t, &cell_type);
    if (tt_is_null(c)) return TT_NULL;
    cell_of(c)->value = value;
    tt_store(t, c, &cell_of(c)->next, rest);
    return c;
}

/* The list lo, lo+1, ..., hi-1, returned as a local of the caller's frame
 * (the null local if the heap is full). Built back to front, so every new
 * cell goes in front of the list so far. */
static tt_local range(tt_thread *t, long lo, long hi)
{
    tt_frame f = tt_frame_push(t, 1);
    tt_local head = tt_local_new(t, TT_NULL); /* roots the list so far */
    for (long i = hi - 1; i >= lo; i--) {
        /* cons may collect: the list so far is safe, rooted by head. */
        tt_ref c = cons(t, i, tt_local_get(t, head));
        if (tt_is_null(c)) {
            tt_frame_pop(t, f, TT_NO_LOCAL);
            return TT_NO_LOCAL;
        }
        tt_local_set(t, head, c); /* rooted before the next allocation */
    }
    return tt_frame_pop(t, f, head);
}

/* A new list of the squares of `list`, in the same order. `list` is a
 * local of the caller, so the source cells stay alive, and never move:
 * the C variable walking them stays valid across allocations. */
static tt_local map_square(tt_thread *t, tt_local list)
{
    tt_frame f = tt_frame_push(t, 1);
    tt_local head = tt_local_new(t, TT_NULL);
    tt_ref last = TT_NULL; /* reachable from head: no local needed */
    for (tt_ref p = tt_local_get(t, list); !tt_is_null(p); p = cell_of(p)->next) {
        long v = cell_of(p)->value;
        tt_ref c = cons(t, v * v, TT_NULL);
        if (tt_is_null(c)) {
            tt_frame_pop(t, f, TT_NO_LOCAL);
            return TT_NO_LOCAL;
        }
        /* Link the new cell at once: from then on head reaches it. */
        if (tt_is_null(last))
            tt_local_set(t, head, c);
        else
            tt_store(t, last, &cell_of(last)->next, c);
        last = c;
    }
    return tt_frame_pop(t, f, head);
}

/* A new list with the elements of `list` in reverse order. */
static tt_local reverse(tt_thread *t, tt_local list)
{
    tt_frame f = tt_frame_push(t, 1);
    tt_local out = tt_local_new(t, TT_NULL);
    for (tt_ref p = tt_local_get(t, list); !tt_is_null(p); p = cell_of(p)->next) {
        tt_ref c = cons(t, cell_of(p)->value, tt_local_get(t, out));
        if (tt_is_null(c)) {
            tt_frame_pop(t, f, TT_NO_LOCAL);
            return TT_NO_LOCAL;
        }
        tt_local_set(t, out, c);
    }
    return tt_frame_pop(t, f, out);
}

/* Reading needs no frame: nothing allocates. */
static void print_list(tt_thread *t, const char *label, tt_local list)
{
    long sum = 0;
    size_t n = 0;
    printf("%-9s", label);
    for (tt_ref p = tt_local_get(t, list); !tt_is_null(p); p = cell_of(p)->next) {
        printf(" %ld", cell_of(p)->value);
        sum += cell_of(p)->value;
        n++;
    }
    printf("   (%zu cells, sum %ld)\n", n, sum);
}

static void fail(const char *what)
{
    const tt_error *e = tt_last_error();
    fprintf(stderr, "list: %s: %s: %s\n", what, tt_status_name(e->code), e->message);
    exit(1);
}

int main(void)
{
    tt_heap *h = tt_heap_open(NULL);
    if (!h) fail("tt_heap_open");
    tt_thread *t = tt_thread_attach(h);
    if (!t) fail("tt_thread_attach");

    /* The three calls below each escape one local into this frame. Escaped
     * locals do not count against capacity, and main makes no local of
     * its own: capacity 0. */
    tt_frame f = tt_frame_push(t, 0);
    tt_local nums = range(t, 1, 11);
    if (tt_local_is_null(nums)) fail("range");
    tt_local squares = map_square(t, nums);
    if (tt_local_is_null(squares)) fail("map_square");
    tt_local backwards = reverse(t, squares);
    if (tt_local_is_null(backwards)) fail("reverse");

    /* Make a lot of garbage: many collections run, the lists survive. */
    for (int i = 0; i < 1000; i++) {
        tt_frame g = tt_frame_push(t, 0); /* holds only range's escape */
        if (tt_local_is_null(range(t, 0, 1000))) fail("range");
        tt_frame_pop(t, g, TT_NO_LOCAL); /* the 1000 cells are garbage now */
    }
    tt_collect(t);

    print_list(t, "numbers", nums);
    print_list(t, "squares", squares);
    print_list(t, "reversed", backwards);

    /* Dropping a root frees the cells only it reached. */
    tt_stats st;
    tt_heap_stats(h, &st);
    unsigned long long live = st.live_objects;
    tt_local_set(t, nums, TT_NULL);
    tt_collect(t);
    tt_heap_stats(h, &st);
    printf("live cells: %llu, then %llu after dropping the numbers (%llu collections in all)\n",
           live, (unsigned long long)st.live_objects, (unsigned long long)st.collections);

    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_thread_detach(t);
    tt_heap_close(h);
    return 0;
}
