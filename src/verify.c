/*
 * verify.c: the heap verifier. Walks everything reachable from the roots
 * with its own visited set and stack (malloc'd, so it neither disturbs the
 * mark bits the allocator relies on nor allocates from the heap), checking
 * each reference with the same validation checked mode uses.
 */
#include <stdlib.h>

#include "internal.h"

struct walk {
    tt_tracer tr; /* first, so a tt_tracer * is a struct walk * */
    tt__ptrset seen;
    uintptr_t *stack;
    size_t top, cap;
    tt_verify_report rep;
    bool nomem;
    const char *file;
    int line;
    const char *where; /* what holds the reference being visited */
    uintptr_t holder;
};

static void problem(struct walk *w, uintptr_t p, const char *why)
{
    if (w->rep.errors++ == 0)
        tt__fail(TT_EINVAL, w->file, w->line, "heap verify: %s %p (held by %s %p): %s",
                 "reference", (void *)p, w->where, (void *)w->holder, why);
}

static void visit(tt_tracer *tr, tt_ref *field)
{
    struct walk *w = (struct walk *)tr;
    uintptr_t p = field->bits;
    if (!p || tt__ptrset_has(&w->seen, p)) return;
    const char *why = tt__object_problem(tr->heap, p);
    if (why) {
        problem(w, p, why);
        return;
    }
    if (tt__ptrset_add(&w->seen, p) != 0) {
        w->nomem = true;
        return;
    }
    if (w->top == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 1024;
        uintptr_t *s = realloc(w->stack, cap * sizeof *s);
        if (!s) {
            w->nomem = true;
            return;
        }
        w->stack = s;
        w->cap = cap;
    }
    w->stack[w->top++] = p;
}

static void visit_root(struct walk *w, tt_ref r, const char *where)
{
    w->where = where;
    w->holder = 0;
    visit(&w->tr, &r);
}

static void visit_static(void *ctx, tt_ref r) { visit_root(ctx, r, "a static object"); }

/* The walk itself; the world is stopped (or the heap has one thread). */
static int verify(tt_heap *h, tt_verify_report *out, const char *file, int line)
{
    struct walk w;
    memset(&w, 0, sizeof w);
    w.tr.visit = visit;
    w.tr.heap = h;
    w.file = file;
    w.line = line;
    for (tt_thread *th = h->threads; th; th = th->next) {
        for (uint32_t i = 0; i < th->f.local_top; i++) visit_root(&w, th->f.locals[i], "a local");
        for (const struct tt__pin *p = th->pins; p; p = p->prev)
            visit_root(&w, (tt_ref){p->obj}, "a pinned object");
    }
    for (uint32_t s = 0; s < h->globals.nsegs; s++)
        for (uint32_t i = 0; i < TT__HSEG_SLOTS; i++) {
            const struct tt__hslot *sl = &h->globals.segs[s][i];
            if (sl->gen & 1) visit_root(&w, sl->ref, "a global");
        }
    tt__static_roots_each(h, visit_static, &w);
    while (w.top && !w.nomem) {
        uintptr_t p = w.stack[--w.top];
        const tt_type *ty = tt_type_of((tt_ref){p});
        w.rep.objects++;
        w.rep.bytes += tt__object_bytes(ty, p);
        w.where = ty->name ? ty->name : "an object";
        w.holder = p;
        tt__trace_object(h, p, &w.tr);
    }
    free(w.stack);
    tt__ptrset_free(&w.seen);
    if (out) *out = w.rep;
    if (w.nomem) return tt__fail(TT_ENOMEM, file, line, "heap verify: out of memory");
    return w.rep.errors ? TT_EINVAL : TT_OK;
}

void tt__verify_stopped(tt_heap *h)
{
    tt_error saved = *tt_last_error();
    tt_verify_report rep;
    int rc = verify(h, &rep, "tether collection", 0);
    if (rc == TT_EINVAL)
        tt__misuse(h, TT_EINVAL, "heap-corrupt", NULL, 0,
                   "the verifier found %llu problem(s) after collection %llu; the first: %s",
                   (unsigned long long)rep.errors, (unsigned long long)h->st.collections,
                   tt_last_error()->message);
    else
        tt__error_restore(&saved);
}

int tt_heap_verify_at(tt_thread *t, tt_verify_report *out, const char *file, int line)
{
    int code;
    tt_heap *h = tt__enter(t, file, line, &code);
    if (!h) return code;
    TT__LOCKED(h);
    /* Other threads write objects without the lock: stop them. */
    while (!tt__world_stop(h, t)) {
    }
    code = verify(h, out, file, line);
    tt__world_resume(h);
    return code;
}
