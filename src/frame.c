/*
 * frame.c: the out-of-line paths of local frames and locals.
 *
 * A thread's locals are one array of slots with a parallel array of frame
 * serials. Frame k owns slots [saved_top + 1, limit); the slot saved_top
 * is reserved in the parent for the value the frame escapes when popped.
 * The escape does not eat into the parent's capacity: popping with an
 * escape moves the parent's limit up by one, and every push makes sure the
 * slot array has room for the current frame's limit plus one.
 * A tt_local names a slot and the serial of the frame that made it, so a
 * local whose frame was popped no longer matches the serial stored in its
 * slot (or lies past the top), which is how stale locals are caught.
 */
#include "internal.h"

tt_frame tt__frame_push_slow(tt_thread *t, size_t capacity, const char *file, int line)
{
    int code;
    tt_heap *h = tt__enter(t, file, line, &code);
    if (!h) return (tt_frame){0};
    if (capacity > TT_FRAME_MAX_CAPACITY) {
        tt__fail(TT_ERANGE, file, line, "tt_frame_push: capacity %zu above TT_FRAME_MAX_CAPACITY (%u)",
                 capacity, TT_FRAME_MAX_CAPACITY);
        return (tt_frame){0};
    }
    uint64_t need = (uint64_t)t->f.local_top + capacity + 1;
    if (need < (uint64_t)t->f.local_limit + 1) need = (uint64_t)t->f.local_limit + 1;
    if (tt__locals_reserve(t, need) != TT_OK) {
        tt__fail(TT_ENOMEM, file, line, "tt_frame_push: out of memory for %zu locals", capacity);
        return (tt_frame){0};
    }
    struct tt__frame_rec *fr = &t->f.frames[t->f.frame_top];
    uint32_t serial = t->f.serial_next++;
    if (serial == 0) serial = t->f.serial_next++; /* wrapped: 0 is never a serial */
    fr->saved_top = t->f.local_top;
    fr->limit = t->f.local_top + 1 + capacity;
    fr->serial = serial;
    fr->capacity = (uint32_t)capacity;
    fr->file = file;
    fr->line = line;
    t->f.locals[t->f.local_top] = TT_NULL;
    t->f.local_serial[t->f.local_top] = t->f.serial;
    t->f.local_top += 1;
    t->f.local_limit = fr->limit;
    t->f.serial = serial;
    t->f.frame_top += 1;
    return (tt_frame){((uint64_t)serial << 32) | fr->saved_top};
}

static bool local_valid(const tt_thread *t, tt_local l)
{
    uint32_t i = (uint32_t)l.bits;
    return l.bits != 0 && i < t->f.local_top && t->f.local_serial[i] == (uint32_t)(l.bits >> 32);
}

/* The thread whose frames made serial s, if it is attached; NULL if none. */
static const tt_thread *serial_owner(tt_heap *h, uint32_t s)
{
    const tt_thread *found = NULL;
    pthread_mutex_lock(&h->world_lock);
    for (const tt_thread *o = h->threads; o; o = o->next)
        if (o->index == s >> 20) found = o; /* ranges are unique in the process */
    pthread_mutex_unlock(&h->world_lock);
    return found;
}

static int stale_local(tt_thread *t, tt_local l, const char *op, const char *file, int line)
{
    tt_heap *h = t->heap;
    if (h->checked) {
        const tt_thread *o = l.bits ? serial_owner(h, (uint32_t)(l.bits >> 32)) : NULL;
        if (o && o != t)
            return tt__misuse(h, TT_ESTALE, "local-other-thread", file, line,
                              "%s of local %#llx, which belongs to a frame of another thread "
                              "(attached at %s:%d): locals are used only by their own thread",
                              op, (unsigned long long)l.bits, o->file ? o->file : "?", o->line);
        /* Serial ranges are unique in the process: one last given to a
         * thread of another heap names a local of that heap. */
        uint32_t other = l.bits ? tt__serial_heap((uint32_t)(l.bits >> 32)) : 0;
        if (!o && other != 0 && other != h->id)
            return tt__misuse(h, TT_ESTALE, "local-other-heap", file, line,
                              "%s of local %#llx, which belongs to a frame of a thread of another "
                              "heap: locals are used only by their own thread",
                              op, (unsigned long long)l.bits);
        return tt__misuse(h, TT_ESTALE, "local-after-pop", file, line,
                          "%s of local %#llx, whose frame was popped (or which was never a local "
                          "of this thread)",
                          op, (unsigned long long)l.bits);
    }
    return tt__fail(TT_ESTALE, file, line, "%s of a stale local (its frame was popped)", op);
}

tt_local tt__frame_pop_slow(tt_thread *t, tt_frame fr, tt_local escape, const char *file, int line)
{
    int code;
    tt_heap *h = tt__enter(t, file, line, &code);
    if (!h) return (tt_local){0};
    /* Find the frame by its serial (1-based index, 0 if not open). */
    uint32_t serial = (uint32_t)(fr.bits >> 32);
    uint32_t idx = 0;
    for (uint32_t k = t->f.frame_top; k > 1; k--)
        if (t->f.frames[k - 1].serial == serial) {
            idx = k;
            break;
        }
    bool open = idx >= 2 && t->f.frames[idx - 1].saved_top == (uint32_t)fr.bits;
    if (!open || idx != t->f.frame_top) {
        const struct tt__frame_rec *in = &t->f.frames[t->f.frame_top - 1];
        if (!open) {
            if (h->checked)
                tt__misuse(h, TT_ESTATE, "frame-pop-order", file, line,
                           "tt_frame_pop of a frame that is not open (popped already, or not a "
                           "frame of this thread)");
            else
                tt__fail(TT_ESTATE, file, line, "tt_frame_pop of a frame that is not open");
        } else if (h->checked) {
            tt__misuse(h, TT_ESTATE, "frame-pop-order", file, line,
                       "tt_frame_pop of the frame pushed at %s:%d while the frame pushed at %s:%d "
                       "inside it is still open",
                       t->f.frames[idx - 1].file ? t->f.frames[idx - 1].file : "?",
                       t->f.frames[idx - 1].line, in->file ? in->file : "?", in->line);
        } else {
            tt__fail(TT_ESTATE, file, line, "tt_frame_pop of a frame that is not the innermost");
        }
        return (tt_local){0};
    }
    tt_ref value = TT_NULL;
    if (escape.bits) {
        if (!local_valid(t, escape)) {
            stale_local(t, escape, "tt_frame_pop escape", file, line);
            return (tt_local){0};
        }
        value = t->f.locals[(uint32_t)escape.bits];
    }
    const struct tt__frame_rec *rec = &t->f.frames[idx - 1];
    struct tt__frame_rec *parent = &t->f.frames[idx - 2];
    t->f.frame_top -= 1;
    t->f.serial = parent->serial;
    t->f.local_top = rec->saved_top;
    if (!escape.bits) {
        t->f.local_limit = parent->limit;
        return (tt_local){0};
    }
    uint32_t slot = rec->saved_top;
    t->f.locals[slot] = value;
    t->f.local_serial[slot] = parent->serial;
    t->f.local_top = slot + 1;
    /* The escape is extra: the parent keeps its room (reserved at push). */
    parent->limit += 1;
    t->f.local_limit = parent->limit;
    return (tt_local){((uint64_t)parent->serial << 32) | slot};
}

tt_local tt__local_new_slow(tt_thread *t, tt_ref r, const char *file, int line)
{
    int code;
    tt_heap *h = tt__enter(t, file, line, &code);
    if (!h) return (tt_local){0};
    if (h->checked && r.bits) {
        const char *why = tt__object_problem_t(t, r.bits);
        if (why) {
            tt__misuse(h, TT_EINVAL, "local-not-object", file, line,
                       "tt_local_new of %p, which is not a live object of this heap: %s",
                       (void *)r.bits, why);
            return (tt_local){0};
        }
    }
    uint32_t i = t->f.local_top;
    if (i >= t->f.local_limit) {
        struct tt__frame_rec *fr = &t->f.frames[t->f.frame_top - 1];
        if (h->checked) {
            tt__misuse(h, TT_ERANGE, "frame-capacity", file, line,
                       "local %u of a frame of capacity %u pushed at %s:%d",
                       i - (t->f.frame_top > 1 ? fr->saved_top + 1 : 0) + 1, fr->capacity,
                       fr->file ? fr->file : "?", fr->line);
            return (tt_local){0};
        }
        /* Unchecked: past the guarantee, the frame grows if memory allows
         * (one slot more than it uses, as every limit has; see push). */
        if (tt__locals_reserve(t, (uint64_t)i + 2) != TT_OK) {
            tt__fail(TT_ENOMEM, file, line, "tt_local_new: out of memory growing a frame");
            return (tt_local){0};
        }
        fr = &t->f.frames[t->f.frame_top - 1]; /* the records may have moved */
        fr->limit = i + 1;
        t->f.local_limit = i + 1;
    }
    t->f.locals[i] = r;
    t->f.local_serial[i] = t->f.serial;
    t->f.local_top = i + 1;
    return (tt_local){((uint64_t)t->f.serial << 32) | i};
}

tt_ref tt__local_get_slow(tt_thread *t, tt_local l, const char *file, int line)
{
    int code;
    tt_heap *h = tt__enter(t, file, line, &code);
    if (!h) return TT_NULL;
    if (!local_valid(t, l)) {
        stale_local(t, l, "tt_local_get", file, line);
        return TT_NULL;
    }
    return t->f.locals[(uint32_t)l.bits];
}

int tt__local_set_slow(tt_thread *t, tt_local l, tt_ref r, const char *file, int line)
{
    int code;
    tt_heap *h = tt__enter(t, file, line, &code);
    if (!h) return code;
    if (!local_valid(t, l)) return stale_local(t, l, "tt_local_set", file, line);
    if (h->checked && r.bits) {
        const char *why = tt__object_problem_t(t, r.bits);
        if (why)
            return tt__misuse(h, TT_EINVAL, "local-not-object", file, line,
                              "tt_local_set of %p, which is not a live object of this heap: %s",
                              (void *)r.bits, why);
    }
    t->f.locals[(uint32_t)l.bits] = r;
    return TT_OK;
}
