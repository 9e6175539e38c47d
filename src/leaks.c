/*
 * leaks.c: the leak report. What a heap still holds that the program made
 * and must give back: global and weak references not freed, foreign
 * objects not released, guardians and wrapper tables not freed; grouped by
 * kind and creation site, with counts and external bytes.
 *
 * Made on demand (tt_heap_leaks), at close in checked mode, and at process
 * exit for heaps opened with leak_report_at_exit that are still open.
 *
 * Invariants:
 *  - The report is gathered with the world stopped (or, at close, with no
 *    thread running in the heap): handles are made and freed without the
 *    heap lock, so only a stop gives a consistent picture.
 *  - The exit registry holds exactly the open heaps that asked for an exit
 *    report; a heap leaves it first thing in tt_heap_close, under the
 *    registry's lock, so the exit handler never sees a heap being closed.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* One item still held, before grouping. */
struct item {
    unsigned kind; /* index into kinds[] */
    const char *file;
    int line;
    uint64_t bytes;
};

enum { K_GLOBAL, K_WEAK, K_FOREIGN, K_GUARDIAN, K_WTABLE, NKINDS };

static const struct {
    const char *name, *what, *noun, *verb;
} kinds[NKINDS] = {
    {"global", "leak-global", "global reference(s)", "still held"},
    {"weak", "leak-weak", "weak reference(s)", "still held"},
    {"foreign", "leak-foreign", "foreign object(s)", "not released"},
    {"guardian", "leak-guardian", "guardian(s)", "not freed"},
    {"wtable", "leak-wtable", "wrapper table(s)", "not freed"},
};

struct gather {
    struct item *v;
    size_t n, cap;
    unsigned kind;
};

static void add(struct gather *g, unsigned kind, const char *file, int line, uint64_t bytes)
{
    /* The capacity was counted with the world stopped; the bound only
     * guards against a miscount. */
    if (g->n < g->cap) g->v[g->n++] = (struct item){kind, file, line, bytes};
}

static void add_handle(tt_heap *h, struct tt__hslot *s)
{
    struct gather *g = h->leak_acc;
    add(g, g->kind, s->file, s->line, 0);
}

static int item_cmp(const void *a, const void *b)
{
    const struct item *x = a, *y = b;
    if (x->kind != y->kind) return x->kind < y->kind ? -1 : 1;
    int c = strcmp(x->file ? x->file : "", y->file ? y->file : "");
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

/* Everything still held, in g (sorted). TT_ENOMEM if g could not be had. */
static int gather(tt_heap *h, struct gather *g)
{
    /* Registrations made without the lock on the way to the stop. */
    (void)tt__regs_drain(h);
    size_t nguard = 0, nwt = 0;
    for (tt_guardian *x = h->guardians; x; x = x->next) nguard++;
    for (tt_wtable *x = h->wtables; x; x = x->next) nwt++;
    g->cap = tt__handles_in_use(h, 0) + tt__handles_in_use(h, 1) + h->ce_len + nguard + nwt;
    g->n = 0;
    g->v = NULL;
    if (g->cap == 0) return TT_OK;
    g->v = malloc(g->cap * sizeof *g->v);
    if (!g->v) return TT_ENOMEM;
    h->leak_acc = g;
    g->kind = K_GLOBAL;
    tt__htable_each(&h->globals, add_handle, h);
    g->kind = K_WEAK;
    tt__htable_each(&h->weaks, add_handle, h);
    h->leak_acc = NULL;
    for (size_t i = 0; i < h->ce_len; i++) {
        uintptr_t w = h->ce[i].w;
        if (!w || !(w & TT__CE_BASE)) continue;
        const struct tt__foreign *fp = (const struct tt__foreign *)tt__ce_obj(w);
        if (tt__foreign_state(fp) & TT__FOREIGN_CLAIMED) continue; /* released unlocked */
        /* Sites of log entries are kept in checked mode only. */
        const struct tt__site *s = h->ce_site ? &h->ce_site[i] : NULL;
        add(g, K_FOREIGN, s ? s->file : NULL, s ? s->line : 0, fp->ext);
    }
    for (tt_guardian *x = h->guardians; x; x = x->next) add(g, K_GUARDIAN, x->file, x->line, 0);
    for (tt_wtable *x = h->wtables; x; x = x->next) add(g, K_WTABLE, x->file, x->line, 0);
    qsort(g->v, g->n, sizeof *g->v, item_cmp);
    return TT_OK;
}

/* Call fn on each group, or report it through on_report (`when`: "at
 * close", "at exit", "now"). */
static void emit(tt_heap *h, const struct gather *g, tt_leak_fn fn, void *ctx, const char *when)
{
    for (size_t i = 0; i < g->n;) {
        size_t j = i;
        uint64_t bytes = 0;
        while (j < g->n && item_cmp(&g->v[i], &g->v[j]) == 0) bytes += g->v[j++].bytes;
        const struct item *it = &g->v[i];
        if (fn) {
            tt_leak l = {kinds[it->kind].name, it->file, it->line, j - i, bytes};
            TT__USER(h, fn(&l, ctx));
        } else {
            char extra[64] = "";
            if (bytes) snprintf(extra, sizeof extra, " (%llu external bytes)", (unsigned long long)bytes);
            tt__report(h, kinds[it->kind].what, "leak: %zu %s created at %s:%d %s %s%s", j - i,
                       kinds[it->kind].noun, it->file ? it->file : "?", it->line,
                       kinds[it->kind].verb, when, extra);
        }
        i = j;
    }
}

/* With the world stopped (or nothing else running): gather and emit. */
static int report(tt_heap *h, tt_leak_fn fn, void *ctx, const char *when)
{
    struct gather g;
    if (gather(h, &g) != TT_OK) {
        tt__report(h, "leak", "leak report %s skipped: out of memory", when);
        return TT_ENOMEM;
    }
    emit(h, &g, fn, ctx, when);
    free(g.v);
    return TT_OK;
}

int tt_heap_leaks_at(tt_thread *t, tt_leak_fn fn, void *ctx, const char *file, int line)
{
    int code;
    tt_heap *h = tt__enter(t, file, line, &code);
    if (!h) return code;
    TT__LOCKED(h);
    /* Other threads make and free handles without the lock: stop them. */
    while (!tt__world_stop(h, t)) {
    }
    struct gather g;
    code = gather(h, &g);
    tt__world_resume(h);
    if (code != TT_OK)
        return tt__fail(TT_ENOMEM, file, line, "tt_heap_leaks: out of memory for the report");
    /* The groups are the program's to read; the world runs again while fn
     * runs (it may not call tether, but it may take its time). */
    emit(h, &g, fn, ctx, "now");
    free(g.v);
    return TT_OK;
}

void tt__leaks_at_close(tt_heap *h)
{
    /* No thread runs in the heap any more: close made them all idle. */
    (void)report(h, NULL, NULL, "at close");
}

/* ---- the exit report ---- */

static pthread_mutex_t exit_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;
static tt_heap *exit_heaps; /* linked through exit_next */
static int exit_installed;  /* atexit accepted the handler */

static void at_exit(void)
{
    pthread_mutex_lock(&exit_lock);
    while (exit_heaps) {
        tt_heap *h = exit_heaps;
        exit_heaps = h->exit_next;
        h->exit_next = NULL;
        h->exit_listed = false;
        /* An attachment of the exiting thread, to stop the others. */
        tt_thread *t = tt__thread_attach(h, true, "tt_heap_leaks (at exit)", 0);
        if (!t) {
            tt__report(h, "leak", "leak report at exit skipped: no memory to attach a thread");
            continue;
        }
        {
            TT__LOCKED(h);
            while (!tt__world_stop(h, t)) {
            }
            (void)report(h, NULL, NULL, "at exit");
            tt__world_resume(h);
        }
        tt__thread_detach(t, 1);
    }
    pthread_mutex_unlock(&exit_lock);
}

static void install(void) { exit_installed = atexit(at_exit) == 0; }

int tt__leaks_exit_register(tt_heap *h)
{
    pthread_once(&exit_once, install);
    if (!exit_installed) return TT_ENOMEM;
    pthread_mutex_lock(&exit_lock);
    h->exit_next = exit_heaps;
    exit_heaps = h;
    h->exit_listed = true;
    pthread_mutex_unlock(&exit_lock);
    return TT_OK;
}

void tt__leaks_exit_unregister(tt_heap *h)
{
    pthread_mutex_lock(&exit_lock);
    if (h->exit_listed) {
        tt_heap **link = &exit_heaps;
        while (*link != h) link = &(*link)->exit_next;
        *link = h->exit_next;
        h->exit_next = NULL;
        h->exit_listed = false;
    }
    pthread_mutex_unlock(&exit_lock);
}
