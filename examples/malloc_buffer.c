/*
 * malloc_buffer.c: malloc'd memory owned by heap objects.
 *
 * A foreign object is a small heap object holding an address tether never
 * traces (here, memory from malloc), the number of external bytes behind
 * that address, and a stack of cleanups. The external bytes count toward
 * the next collection and toward cfg.max_size, so a program whose heap
 * objects are tiny but own big buffers still collects in time.
 *
 *   1. tt_foreign_new + tt_cleanup_free: adopt a buffer you already have.
 *   2. tt_foreign_alloc: let tether call your allocator, so that no failure
 *      can leave the buffer without an owner; then grow it realloc-style
 *      with tt_foreign_allocate.
 *   3. tt_external_adjust: the address stays, the memory behind it grows.
 *   4. tt_release, and what tt_foreign_addr answers afterwards.
 *
 * The program checks every result and exits 1 at the first surprise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tether.h>

/* ------------------------------------------------------------------ */
/* Checking                                                             */

#define EXPECT(cond) ((cond) ? (void)0 : expect_failed(__LINE__, #cond))

static void expect_failed(int line, const char *what)
{
    const tt_error *e = tt_last_error();
    fprintf(stderr, "malloc_buffer.c:%d: expected %s (last tether error: %s %s)\n", line, what,
            tt_status_name(e->code), e->message);
    exit(1);
}

/* External bytes of every unreleased foreign object of the heap. */
static size_t external_bytes(tt_thread *t)
{
    tt_stats st;
    tt_heap_stats(tt_thread_heap(t), &st);
    return (size_t)st.external_bytes;
}

/* Using a released foreign object is misuse. In checked mode (TT_CHECKED=1)
 * the misuse handler hears of it first; the default one aborts. This one
 * counts and returns, so the call then fails with its status as it does
 * without checked mode. */
static int misuses;

static void count_misuse(const tt_misuse *m, void *ctx)
{
    (void)ctx;
    misuses++;
    printf("   (checked mode reported \"%s\")\n", m->what);
}

/* ------------------------------------------------------------------ */
/* 1. Adopt a buffer                                                    */

static void adopt_buffer(tt_thread *t)
{
    printf("1. tt_foreign_new adopts a malloc'd buffer, tt_cleanup_free frees it\n");
    tt_frame f = tt_frame_push(t, 1);

    char *text = malloc(64);
    EXPECT(text != NULL);
    snprintf(text, 64, "hello from malloc");

    /* On success the object owns text through tt_cleanup_free. On failure
     * nothing was registered and the buffer is still ours to free. */
    tt_ref r = tt_foreign_new(t, text, 64, tt_cleanup_free, NULL);
    if (tt_is_null(r)) free(text);
    EXPECT(!tt_is_null(r));
    tt_local l = tt_local_new(t, r); /* root it before the next allocation */

    EXPECT(tt_foreign_size(t, r) == 64 && external_bytes(t) == 64);
    tt_collect(t); /* rooted: survives; objects never move, so r is valid */
    EXPECT(tt_foreign_addr(t, tt_local_get(t, l)) == text);
    printf("   reads \"%s\"; %zu external bytes declared\n", (char *)tt_foreign_addr(t, r),
           tt_foreign_size(t, r));

    /* Release it now instead of waiting for a collection: free runs here. */
    EXPECT(tt_release(t, r) == TT_OK);
    EXPECT(tt_foreign_released(t, r) && tt_foreign_size(t, r) == 0 && external_bytes(t) == 0);

    /* The wrapper object is still alive (l roots it), but its address is
     * gone: tt_foreign_addr returns NULL, never the freed pointer. */
    tt_clear_error();
    void *p = tt_foreign_addr(t, r);
    EXPECT(p == NULL && tt_last_error()->code == TT_ESTATE);
    printf("   after tt_release: tt_foreign_addr -> NULL, %s\n",
           tt_status_name(tt_last_error()->code));

    tt_frame_pop(t, f, TT_NO_LOCAL);
}

/* ------------------------------------------------------------------ */
/* 2. Allocate through tether, grow realloc-style                       */

/* One allocator for both calls: realloc(NULL, n) is malloc(n). tether
 * calls it once every resource of its own is secured, so when it succeeds
 * nothing else can fail. `fail` simulates an allocation failure. */
struct resize {
    void *old;
    size_t size;
    int fail;
};

static void *resize_buffer(void *ctx)
{
    struct resize *rq = ctx;
    return rq->fail ? NULL : realloc(rq->old, rq->size);
}

/* The deallocation: count, then the ready-made free. */
static int buffers_freed;

static void free_buffer(tt_thread *t, tt_ref obj, void *env)
{
    buffers_freed++;
    tt_cleanup_free(t, obj, env);
}

static tt_local allocate_and_grow(tt_thread *t)
{
    printf("2. tt_foreign_alloc, then tt_foreign_allocate grows it like realloc\n");
    tt_frame f = tt_frame_push(t, 1);

    struct resize rq = {NULL, 100, 0};
    tt_ref r = tt_foreign_alloc(t, rq.size, resize_buffer, &rq, free_buffer, NULL);
    EXPECT(!tt_is_null(r));
    tt_local l = tt_local_new(t, r);
    char *p = tt_foreign_addr(t, r);
    memcpy(p, "0123456789", 11);
    EXPECT(tt_cleanup_count(t, r) == 1); /* the deallocation */

    /* Grow to 10000 bytes. realloc consumes the old buffer, so the old
     * deallocation is replaced, not run: still one cleanup, none ran. */
    rq = (struct resize){p, 10000, 0};
    char *q = tt_foreign_allocate(t, r, rq.size, resize_buffer, &rq, free_buffer, NULL);
    EXPECT(q != NULL && q == tt_foreign_addr(t, r) && strcmp(q, "0123456789") == 0);
    EXPECT(tt_foreign_size(t, r) == 10000 && tt_cleanup_count(t, r) == 1);
    EXPECT(buffers_freed == 0);
    printf("   grown from 100 to %zu bytes, contents kept: \"%s\"\n", tt_foreign_size(t, r), q);

    /* A failed allocation changes nothing, as with realloc. */
    rq = (struct resize){q, 1u << 20, 1};
    EXPECT(tt_foreign_allocate(t, r, rq.size, resize_buffer, &rq, free_buffer, NULL) == NULL);
    EXPECT(tt_last_error()->code == TT_ENOMEM);
    EXPECT(tt_foreign_addr(t, r) == q && tt_foreign_size(t, r) == 10000);
    printf("   a failed growth: %s, buffer and size unchanged\n", tt_status_name(TT_ENOMEM));

    return tt_frame_pop(t, f, l);
}

/* ------------------------------------------------------------------ */
/* 3. A stable address whose memory grows: tt_external_adjust           */

/* A growable string. The foreign address is the header, which never
 * moves; the characters behind it are reallocated as it grows. */
struct strbuf {
    size_t len, cap;
    char *data;
};

static void *strbuf_new(void *ctx)
{
    (void)ctx;
    return calloc(1, sizeof(struct strbuf));
}

static int strbufs_freed;

static void strbuf_free(tt_thread *t, tt_ref obj, void *env)
{
    (void)env;
    struct strbuf *s = tt_foreign_addr(t, obj); /* valid during its cleanups */
    free(s->data);
    free(s);
    strbufs_freed++;
}

/* Append text, declaring any growth of the characters to tether. */
static int strbuf_append(tt_thread *t, tt_ref obj, const char *text)
{
    struct strbuf *s = tt_foreign_addr(t, obj);
    if (!s) return tt_last_error()->code;
    size_t n = strlen(text);
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 16;
        while (cap < s->len + n + 1) cap *= 2;
        /* Declare first: this may collect, or refuse past the heap limit. */
        int rc = tt_external_adjust(t, obj, (ptrdiff_t)(cap - s->cap));
        if (rc != TT_OK) return rc;
        char *d = realloc(s->data, cap);
        if (!d) {
            tt_external_adjust(t, obj, -(ptrdiff_t)(cap - s->cap)); /* take it back */
            return TT_ENOMEM;
        }
        s->data = d;
        s->cap = cap;
    }
    memcpy(s->data + s->len, text, n + 1);
    s->len += n;
    return TT_OK;
}

static tt_local growing_string(tt_thread *t)
{
    printf("3. tt_external_adjust: the header stays put, its characters grow\n");
    tt_frame f = tt_frame_push(t, 1);
    tt_ref r = tt_foreign_alloc(t, sizeof(struct strbuf), strbuf_new, NULL, strbuf_free, NULL);
    EXPECT(!tt_is_null(r));
    tt_local l = tt_local_new(t, r);

    static const char *const words[] = {"a foreign ", "string ", "that ", "keeps ",
                                        "growing, ", "declared ", "as it goes"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        EXPECT(strbuf_append(t, r, words[i]) == TT_OK);
    struct strbuf *s = tt_foreign_addr(t, r);
    EXPECT(strcmp(s->data, "a foreign string that keeps growing, declared as it goes") == 0);
    EXPECT(tt_foreign_size(t, r) == sizeof *s + s->cap);
    printf("   %zu chars in capacity %zu: %zu external bytes declared (header + capacity)\n",
           s->len, s->cap, tt_foreign_size(t, r));

    /* The size cannot go below zero. */
    EXPECT(tt_external_adjust(t, r, -(ptrdiff_t)(tt_foreign_size(t, r) + 1)) == TT_ERANGE);
    return tt_frame_pop(t, f, l);
}

/* ------------------------------------------------------------------ */
/* 4. Release                                                           */

static void release_both(tt_thread *t, tt_local buf, tt_local str)
{
    printf("4. tt_release runs each deallocation once, now\n");
    size_t before = external_bytes(t);
    EXPECT(before == 10000 + tt_foreign_size(t, tt_local_get(t, str)));

    EXPECT(tt_release(t, tt_local_get(t, buf)) == TT_OK);
    EXPECT(tt_release(t, tt_local_get(t, str)) == TT_OK);
    EXPECT(buffers_freed == 1 && strbufs_freed == 1 && external_bytes(t) == 0);
    printf("   %zu external bytes given back; buffers freed %d, strings freed %d\n", before,
           buffers_freed, strbufs_freed);

    /* Each released wrapper answers NULL with TT_ESTATE. */
    tt_clear_error();
    EXPECT(tt_foreign_addr(t, tt_local_get(t, str)) == NULL);
    EXPECT(tt_last_error()->code == TT_ESTATE);
    EXPECT(strbuf_append(t, tt_local_get(t, str), "more") == TT_ESTATE);
    printf("   appending to the released string: %s\n", tt_status_name(TT_ESTATE));
}

int main(void)
{
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.on_misuse = count_misuse;
    tt_heap *h = tt_heap_open(&cfg);
    EXPECT(h != NULL);
    tt_thread *t = tt_thread_attach(h);
    EXPECT(t != NULL);

    tt_frame f = tt_frame_push(t, 0); /* holds the two escaped locals */
    adopt_buffer(t);
    tt_local buf = allocate_and_grow(t);
    tt_local str = growing_string(t);
    release_both(t, buf, str);
    tt_frame_pop(t, f, TT_NO_LOCAL);

    /* Three reads of a released object: each one is misuse in checked mode
     * and an ordinary TT_ESTATE without it. */
    EXPECT(misuses == (tt_heap_checked(h) ? 3 : 0));

    tt_stats st;
    tt_heap_stats(h, &st);
    EXPECT(st.external_bytes == 0 && st.cleanups_run == 3);
    printf("done: %llu external bytes freed in all, peak %llu, %llu cleanups run\n",
           (unsigned long long)st.external_freed, (unsigned long long)st.external_bytes_peak,
           (unsigned long long)st.cleanups_run);

    tt_thread_detach(t);
    tt_heap_close(h);
    return 0;
}
