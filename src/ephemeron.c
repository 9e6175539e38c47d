/*
 * ephemeron.c: ephemerons, key/value objects whose value is held only
 * while the key is alive.
 *
 * Marking does not trace an ephemeron's fields; it records the ephemeron
 * (mark.c calls tt__ephemeron_found). After strong marking, the fixpoint
 * in finalize.c calls tt__ephemerons_step until no recorded ephemeron has
 * a marked key and an unmarked value; then ephemerons whose key stayed
 * unmarked are cleared. A value that refers to its own key therefore does
 * not keep the key alive. If the record cannot grow, the ephemeron is
 * traced strongly instead: it keeps too much alive, never too little.
 */
#include "internal.h"

struct tt__eph {
    tt_ref key;
    tt_ref value;
};

const tt_type tt_ephemeron_type = {TT_TYPE_SIG, "tt_ephemeron", TT__KIND_EPHEMERON,
                                   (uint32_t)sizeof(struct tt__eph), 0, 0, NULL, NULL, NULL};

bool tt__ephemeron_found(tt_heap *h, uintptr_t p)
{
    if (h->ephs_len == h->ephs_cap) {
        size_t cap = h->ephs_cap ? h->ephs_cap * 2 : 512;
        uintptr_t *a = tt__pages_grow(h, h->ephs, h->ephs_cap * sizeof *a, cap * sizeof *a);
        if (!a) return false;
        h->ephs = a;
        h->ephs_cap = cap;
    }
    h->ephs[h->ephs_len++] = p;
    return true;
}

bool tt__ephemerons_step(tt_heap *h)
{
    bool changed = false;
    for (size_t i = 0; i < h->ephs_len; i++) {
        struct tt__eph *e = (struct tt__eph *)h->ephs[i];
        if (e->key.bits && e->value.bits && tt__is_marked(e->key.bits) &&
            !tt__is_marked(e->value.bits)) {
            tt__mark_root(h, e->value.bits);
            changed = true;
        }
    }
    return changed;
}

void tt__ephemerons_clear_dead(tt_heap *h)
{
    for (size_t i = 0; i < h->ephs_len; i++) {
        struct tt__eph *e = (struct tt__eph *)h->ephs[i];
        if (e->key.bits && !tt__is_marked(e->key.bits)) {
            e->key = TT_NULL;
            e->value = TT_NULL;
        }
    }
    h->ephs_len = 0;
}

/* The ephemeron payload of e, or NULL with the error set (and, in checked
 * mode, "not-ephemeron" reported, as foreign.c does with "not-foreign"). */
static struct tt__eph *eph_arg(tt_thread *t, tt_ref e, const char *fname, const char *file,
                               int line, int *code)
{
    tt_heap *h = tt__enter(t, file, line, code);
    if (!h) return NULL;
    const char *why = NULL;
    if (e.bits == 0 || (e.bits & 7))
        why = e.bits ? "misaligned reference" : "null reference";
    else if (h->checked)
        why = tt__object_problem(h, e.bits);
    if (!why && tt_type_of(e) != &tt_ephemeron_type) why = "not an ephemeron";
    if (why) {
        if (h->checked)
            *code = tt__misuse(h, TT_EINVAL, "not-ephemeron", file, line, "%s on %p: %s", fname,
                               (void *)e.bits, why);
        else
            *code = tt__fail(TT_EINVAL, file, line, "%s on %p: %s", fname, (void *)e.bits, why);
        return NULL;
    }
    return (struct tt__eph *)e.bits;
}

tt_ref tt_ephemeron_new_at(tt_thread *t, tt_ref key, tt_ref value, const char *file, int line)
{
    TT__LOCKED_T(t);
    int code;
    tt_heap *h = tt__enter(t, file, line, &code);
    if (!h) return TT_NULL;
    if (key.bits == 0) {
        tt__fail(TT_EINVAL, file, line, "tt_ephemeron_new: null key");
        return TT_NULL;
    }
    if (h->checked) {
        const char *why = tt__object_problem(h, key.bits);
        if (!why && value.bits) why = tt__object_problem(h, value.bits);
        if (why) {
            tt__misuse(h, TT_EINVAL, "handle-not-object", file, line,
                       "tt_ephemeron_new with a key or value that is not a live object: %s", why);
            return TT_NULL;
        }
    }
    /* key and value are the caller's, rooted or not; hold them across the
     * allocation, which may collect. */
    tt_frame f = tt_frame_push_at(t, 2, file, line);
    if (tt_frame_is_null(f)) return TT_NULL;
    tt_local lk = tt_local_new_at(t, key, file, line);
    tt_local lv = tt_local_new_at(t, value, file, line);
    tt_ref r = tt__alloc_slow(t, &tt_ephemeron_type, 0, 0, file, line);
    if (r.bits) {
        struct tt__eph *e = (struct tt__eph *)r.bits;
        e->key = tt_local_get_at(t, lk, file, line);
        e->value = tt_local_get_at(t, lv, file, line);
    }
    tt_frame_pop_at(t, f, TT_NO_LOCAL, file, line);
    return r;
}

tt_ref tt_ephemeron_key_at(tt_thread *t, tt_ref e, const char *file, int line)
{
    TT__LOCKED_T(t);
    int code;
    struct tt__eph *p = eph_arg(t, e, "tt_ephemeron_key", file, line, &code);
    return p ? p->key : TT_NULL;
}

tt_ref tt_ephemeron_value_at(tt_thread *t, tt_ref e, const char *file, int line)
{
    TT__LOCKED_T(t);
    int code;
    struct tt__eph *p = eph_arg(t, e, "tt_ephemeron_value", file, line, &code);
    return p ? p->value : TT_NULL;
}

int tt_ephemeron_set_value_at(tt_thread *t, tt_ref e, tt_ref value, const char *file, int line)
{
    TT__LOCKED_T(t);
    int code;
    struct tt__eph *p = eph_arg(t, e, "tt_ephemeron_set_value", file, line, &code);
    if (!p) return code;
    if (!p->key.bits)
        return tt__fail(TT_ESTATE, file, line, "tt_ephemeron_set_value: the key died");
    tt_heap *h = t->heap;
    if (h->checked && value.bits) {
        const char *why = tt__object_problem(h, value.bits);
        if (why)
            return tt__misuse(h, TT_EINVAL, "handle-not-object", file, line,
                              "tt_ephemeron_set_value of %p, which is not a live object of this "
                              "heap: %s",
                              (void *)value.bits, why);
        if ((code = tt__check_resurrect(t, value, "tt_ephemeron_set_value", file, line)) != TT_OK)
            return code;
    }
    p->value = value;
    return TT_OK;
}
