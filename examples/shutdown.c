/*
 * shutdown.c: the order in which cleanups run.
 *
 * Six resources, each a heap object with a cleanup that "closes" it and
 * records its name. Some depend on others:
 *
 *   session --field--> socket     (a traced reference)
 *   request ..raw...> session     (a plain C pointer the collector cannot
 *                                   see, declared with tt_keep_alive)
 *   db      --field--> logger
 *
 * and db has a second cleanup, a flush, pushed after its close.
 *
 * Rules shown:
 *   - A collection queues every unreachable object with cleanups, and
 *     tt_run_finalizers runs them in dependency order: if A reaches B (by
 *     references or tt_keep_alive), all of A's cleanups complete before
 *     any of B's start, so a cleanup may still use what its object uses.
 *     One collection is enough for a whole chain.
 *   - tt_heap_close runs every cleanup still registered, newest
 *     registration first, whatever the references. Registering the
 *     cleanups of what you depend on before those of what depends on it
 *     gives a safe shutdown order too.
 *   - An object's own cleanups run newest first (db: flush, then close).
 *   - cfg.fast_close skips them all (a fast exit).
 *
 * The cleanups record the order in a static array; main checks it after
 * tt_heap_close returns.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tether.h>

#define EXPECT(cond) ((cond) ? (void)0 : expect_failed(__LINE__, #cond))

static void expect_failed(int line, const char *what)
{
    const tt_error *e = tt_last_error();
    fprintf(stderr, "shutdown.c:%d: expected %s (last tether error: %s %s)\n", line, what,
            tt_status_name(e->code), e->message);
    exit(1);
}

/* ------------------------------------------------------------------ */
/* Resources                                                            */

struct res {
    tt_ref dep;       /* a resource this one uses: traced */
    struct res *raw;  /* another one, by plain pointer: NOT traced */
    const char *name;
    int closed;
};
static const tt_type res_type = TT_TYPE_INIT(struct res, dep);

/* The order in which cleanups ran, and dependency violations seen. */
static const char *ran[16];
static int nran, violations;

static void record(const char *what)
{
    if (nran < (int)(sizeof ran / sizeof ran[0])) ran[nran++] = what;
}

/* A cleanup may read its object and everything it reaches: here, check
 * that what this resource uses is still open, then close it. */
static void close_res(tt_thread *t, tt_ref obj, void *env)
{
    (void)t;
    (void)env;
    struct res *r = TT_PTR(struct res, obj);
    if (!tt_is_null(r->dep) && TT_PTR(struct res, r->dep)->closed) violations++;
    if (r->raw && r->raw->closed) violations++;
    r->closed = 1;
    record(r->name);
}

static void flush_res(tt_thread *t, tt_ref obj, void *env)
{
    (void)t;
    if (TT_PTR(struct res, obj)->closed) violations++; /* flush before close */
    record(env);
}

/* A new resource with its close registered, held by local `into`. */
static tt_ref make_res(tt_thread *t, tt_local into, const char *name)
{
    tt_ref r = tt_alloc(t, &res_type);
    EXPECT(!tt_is_null(r));
    TT_PTR(struct res, r)->name = name;
    tt_local_set(t, into, r); /* rooted before the push allocates */
    EXPECT(tt_cleanup_push(t, r, close_res, NULL) == TT_OK);
    return r;
}

static int same_order(const char *const *want, int n, int from)
{
    if (nran - from != n) return 0;
    for (int i = 0; i < n; i++)
        if (strcmp(ran[from + i], want[i]) != 0) return 0;
    return 1;
}

static void print_order(const char *label, int from, int to)
{
    printf("%s:", label);
    for (int i = from; i < to; i++) printf(" %s", ran[i]);
    printf("\n");
}

/* Non-fatal reports (finalizer cycles; leaks at close in checked mode). */
static int reports;

static void count_report(const char *what, const char *message, void *ctx)
{
    (void)ctx;
    reports++;
    printf("report %s: %s\n", what, message);
}

int main(void)
{
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.on_report = count_report;
    tt_heap *h = tt_heap_open(&cfg);
    EXPECT(h != NULL);
    tt_thread *t = tt_thread_attach(h);
    EXPECT(t != NULL);

    /* config, logger and db stay until the end, in locals of the outer
     * frame; session, request and socket live in an inner frame that is
     * dropped. Locals are made in the innermost frame, so the outer ones
     * are made first, empty, and filled below. */
    tt_frame outer = tt_frame_push(t, 3);
    tt_local config = tt_local_new(t, TT_NULL);
    tt_local logger = tt_local_new(t, TT_NULL);
    tt_local db = tt_local_new(t, TT_NULL);
    tt_frame inner = tt_frame_push(t, 3);
    tt_local session = tt_local_new(t, TT_NULL);
    tt_local request = tt_local_new(t, TT_NULL);
    tt_local sock = tt_local_new(t, TT_NULL);

    /* Registration order: config, request, logger, session, socket, db,
     * db.flush. (request is older than the session it uses: without the
     * tt_keep_alive below, the collection would close session first.) */
    make_res(t, config, "config");
    make_res(t, request, "request");
    make_res(t, logger, "logger");
    make_res(t, session, "session");
    make_res(t, sock, "socket");
    make_res(t, db, "db");
    EXPECT(tt_cleanup_push(t, tt_local_get(t, db), flush_res, "db.flush") == TT_OK);

    /* The dependencies. s and d are rooted by their locals, and objects
     * never move: C variables holding them stay valid. */
    tt_ref s = tt_local_get(t, session), d = tt_local_get(t, db);
    tt_store(t, s, &TT_PTR(struct res, s)->dep, tt_local_get(t, sock));
    tt_store(t, d, &TT_PTR(struct res, d)->dep, tt_local_get(t, logger));
    TT_PTR(struct res, tt_local_get(t, request))->raw = TT_PTR(struct res, s);
    EXPECT(tt_keep_alive(t, tt_local_get(t, request), s) == TT_OK);

    /* Drop session, request and socket; one collection queues all three. */
    tt_frame_pop(t, inner, TT_NO_LOCAL);
    tt_collect(t);
    EXPECT(tt_pending_cleanups(t) == 3 && nran == 0); /* queued, none run */
    EXPECT(tt_run_finalizers(t, 0) == 3);
    print_order("collected", 0, nran);
    static const char *const collected[] = {"request", "session", "socket"};
    EXPECT(same_order(collected, 3, 0));
    int at_close = nran;

    /* The rest run at close, newest registration first. (The frame is
     * popped first: a thread must not detach with frames open.) Objects
     * that a collection had already queued would go first, in dependency
     * order; here nothing collects, so all three are still registered. */
    tt_frame_pop(t, outer, TT_NO_LOCAL);
    tt_thread_detach(t);
    tt_heap_close(h);

    print_order("at close", at_close, nran);
    static const char *const closed[] = {"db.flush", "db", "logger", "config"};
    EXPECT(same_order(closed, 4, at_close));
    EXPECT(violations == 0 && reports == 0);

    /* With fast_close, tt_heap_close frees everything and runs nothing. */
    cfg.fast_close = 1;
    h = tt_heap_open(&cfg);
    EXPECT(h != NULL);
    t = tt_thread_attach(h);
    EXPECT(t != NULL);
    int before = nran;
    tt_frame f = tt_frame_push(t, 1);
    make_res(t, tt_local_new(t, TT_NULL), "never closed");
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_thread_detach(t);
    tt_heap_close(h);
    EXPECT(nran == before);
    printf("fast_close: %d cleanups ran at close\n", nran - before);
    return 0;
}
