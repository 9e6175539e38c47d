/*
 * alloc.c: the out-of-line allocation path and the checked write barrier.
 *
 * The inline path in tether/alloc.h bumps through the thread's current run
 * for sizes up to TT__INLINE_MAX. Everything else comes here: checked-mode
 * validation, size computation with overflow checks, medium size classes,
 * a refill of the run (which may collect), and large objects.
 */
#include "internal.h"

const tt_type tt_bytes_type = TT_DATA_ARRAY_TYPE_INIT("tt_bytes", uint8_t);
const tt_type tt_refs_type = TT_REF_ARRAY_TYPE_INIT("tt_refs");

static bool is_array_kind(uint32_t kind)
{
    return kind == TT_KIND_REF_ARRAY || kind == TT_KIND_DATA_ARRAY ||
           kind == TT_KIND_CUSTOM;
}

/* Header plus payload of an object, rounded to the granule. */
size_t tt__object_bytes(const tt_type *ty, uintptr_t payload)
{
    size_t bytes = (size_t)ty->size + 8;
    if (ty->elem_size) bytes += *(const size_t *)payload * ty->elem_size;
    return tt__align_up(bytes, TT__GRANULE);
}

/* Bytes for an allocation of ty (n elements if an array), or 0 with the
 * error recorded. */
static size_t request_bytes(tt_heap *h, const tt_type *ty, size_t n, int is_array,
                            const char *file, int line)
{
    if (!is_array) return tt__align_up((size_t)ty->size + 8, TT__GRANULE);
    if (ty->elem_size == 0 || !is_array_kind(ty->kind) || ty->size < sizeof(size_t)) {
        if (h->checked)
            tt__misuse(h, TT_EINVAL, "bad-type", file, line,
                       "tt_alloc_array with type '%s', which is not an array type",
                       ty->name ? ty->name : "?");
        else
            tt__fail(TT_EINVAL, file, line, "tt_alloc_array: type '%s' is not an array type",
                     ty->name ? ty->name : "?");
        return 0;
    }
    /* Reject sizes that overflow or could never fit in an address space. */
    if (n > ((size_t)1 << 47) / ty->elem_size) {
        tt__fail(TT_ENOMEM, file, line, "tt_alloc_array: %zu elements of %u bytes is too large", n,
                 ty->elem_size);
        return 0;
    }
    return tt__align_up((size_t)ty->size + 8 + n * ty->elem_size, TT__GRANULE);
}

static int checked_type(tt_heap *h, const tt_type *ty, const char *file, int line)
{
    const char *why;
    if (!tt__type_valid(ty, &why))
        return tt__misuse(h, TT_EINVAL, "bad-type", file, line, "allocation with %s", why);
    if (tt__ptrset_add(&h->types_seen, (uintptr_t)ty) != 0)
        return tt__fail(TT_ENOMEM, file, line, "out of memory recording type '%s'", ty->name);
    return TT_OK;
}

/* A slot from the run in b (which has room): its header, its payload. */
static inline tt_ref bump(struct tt__alloc_buf *b, uint32_t slot, const tt_type *ty)
{
    uintptr_t p = b->cursor;
    b->cursor = p + slot;
    *(uintptr_t *)p = (uintptr_t)ty;
    return (tt_ref){p + 8};
}

/* The end of every allocation: the array length, and checked mode's
 * record of a live object. */
static tt_ref finish_alloc(tt_thread *t, tt_ref r, size_t n, int is_array)
{
    if (is_array) *(size_t *)r.bits = n;
    if (t->f.checked) tt__vcache_add(t, r.bits); /* live until the next collection */
    return r;
}

tt_ref tt__alloc_slow(tt_thread *t, const tt_type *ty, size_t n, int is_array, const char *file,
                      int line)
{
    int code;
    tt_heap *h = tt__enter(t, file, line, &code);
    if (!h) return TT_NULL;
    /* The allocation slow path is a safepoint. */
    tt__safepoint(t);
    if (h->checked) {
        /* A type validated and recorded once stays so. */
        if (!ty || ty != t->f.vc_type) {
            TT__LOCKED(h); /* types_seen */
            if (checked_type(h, ty, file, line) != TT_OK) return TT_NULL;
            t->f.vc_type = ty;
        }
    } else {
        const char *why;
        if (!tt__type_valid(ty, &why)) {
            tt__fail(TT_EINVAL, file, line, "allocation with %s", why);
            return TT_NULL;
        }
    }
    size_t bytes = request_bytes(h, ty, n, is_array, file, line);
    if (bytes == 0) return TT_NULL;
    /* Checked mode sends every allocation here. One that fits the thread's
     * current run and registers nothing touches only the thread's own
     * buffer, as the inline path does: no lock. */
    if (bytes < TT__LARGE_MIN && !ty->finalize) {
        uint32_t cls = tt__class_of(bytes);
        uint32_t slot = tt__class_size[cls];
        struct tt__alloc_buf *b = &t->f.buf[cls];
        if (b->limit - b->cursor >= slot) {
            return finish_alloc(t, bump(b, slot, ty), n, is_array);
        }
    }
    TT__LOCKED(h);
    /* A finalize hook is registered with the allocation; secure its room
     * first (a collection never shrinks it) so the pair cannot half-fail. */
    if (ty->finalize && tt__cleanup_reserve(h, 1) != TT_OK) {
        tt__fail(TT_ENOMEM, file, line, "out of memory for the cleanup log of a '%s'", ty->name);
        return TT_NULL;
    }
    if (h->cfg.max_size && bytes > h->cfg.max_size) {
        tt__fail(TT_ENOMEM, file, line, "object of %zu bytes exceeds the heap limit %zu", bytes,
                 h->cfg.max_size);
        return TT_NULL;
    }
    tt_ref r;
    if (bytes >= TT__LARGE_MIN) {
        r = tt__large_alloc(t, ty, bytes, file, line);
        if (r.bits == 0) return TT_NULL;
    } else {
        uint32_t cls = tt__class_of(bytes);
        uint32_t slot = tt__class_size[cls];
        struct tt__alloc_buf *b = &t->f.buf[cls];
        if (b->limit - b->cursor < slot) {
            if (tt__space_refill(t, cls, file, line) != TT_OK) return TT_NULL;
        }
        r = bump(b, slot, ty);
    }
    r = finish_alloc(t, r, n, is_array);
    /* A collection inside the allocation may have let other threads use
     * the room reserved: then the object is dropped unregistered. */
    if (ty->finalize && tt__cleanup_add(h, r.bits, TT__FN_FINALIZE, 0, NULL, file, line) != TT_OK) {
        tt__fail(TT_ENOMEM, file, line, "out of memory for the cleanup log of a '%s'", ty->name);
        return TT_NULL;
    }
    return r;
}

/* ---- the checked write barrier ---- */

/* Whether `field` is a reference field of the live object obj. */
static const char *field_problem(tt_ref obj, const tt_ref *field)
{
    const tt_type *ty = tt_type_of(obj);
    uintptr_t off = (uintptr_t)field - obj.bits;
    if ((uintptr_t)field < obj.bits) return "the field lies before the object";
    if (off & 7) return "the field is not aligned";
    switch (ty->kind) {
    case TT_KIND_FIXED:
        for (uint32_t i = 0; i < ty->nrefs; i++)
            if (ty->ref_offsets[i] == off) return NULL;
        return off < ty->size ? "the field is not one of the type's reference fields"
                              : "the field lies past the end of the object";
    case TT_KIND_REF_ARRAY: {
        size_t len = tt_array_length(obj);
        if (off < ty->size) return "the field is the array's length or prefix";
        if ((off - ty->size) / sizeof(tt_ref) >= len) return "the field lies past the end of the array";
        return NULL;
    }
    case TT_KIND_CUSTOM: {
        size_t end = ty->size;
        if (ty->elem_size) end += tt_array_length(obj) * ty->elem_size;
        return off + sizeof(tt_ref) <= end ? NULL : "the field lies past the end of the object";
    }
    default:
        return "the object's type holds no references (atomic): the collector would not see it";
    }
}

/* Remember the reference fields of ty (a fixed-size type proved valid by
 * a checked store) for the inline checked store: offsets 0..504. */
static void field_cache_fill(tt_thread *t, const tt_type *ty)
{
    if (ty->kind != TT_KIND_FIXED) return;
    uint64_t mask = 0;
    for (uint32_t i = 0; i < ty->nrefs; i++)
        if (ty->ref_offsets[i] < 64 * 8) mask |= (uint64_t)1 << (ty->ref_offsets[i] / 8);
    struct tt__field_cache *fc = &t->f.fc[tt__fc_index((uintptr_t)ty)];
    fc->ty = (uintptr_t)ty;
    fc->mask = mask;
}

/* Validate a store in checked mode; TT_OK if it may proceed. */
static int check_store(tt_thread *t, tt_ref obj, const tt_ref *field, tt_ref val,
                       const char *file, int line)
{
    tt_heap *h = t->heap;
    const char *why = tt__object_problem_t(t, obj.bits);
    if (why)
        return tt__misuse(h, TT_EINVAL, "store-not-object", file, line,
                          "store into %p, which is not a live object of this heap: %s",
                          (void *)obj.bits, why);
    if ((why = field_problem(obj, field)) != NULL)
        return tt__misuse(h, TT_EINVAL, "store-bad-field", file, line,
                          "store into field %p of a '%s' at %p: %s", (void *)field,
                          tt_type_of(obj)->name, (void *)obj.bits, why);
    if (val.bits && (why = tt__object_problem_t(t, val.bits)) != NULL)
        return tt__misuse(h, TT_EINVAL, "store-not-object", file, line,
                          "store of %p, which is not a live object of this heap: %s",
                          (void *)val.bits, why);
    field_cache_fill(t, tt_type_of(obj));
    return TT_OK;
}

void tt__store_checked(tt_thread *t, tt_ref obj, tt_ref *field, tt_ref val, const char *file,
                       int line)
{
    int code;
    tt_heap *h = tt__enter(t, file, line, &code);
    if (!h) return;
    if (h->checked && (check_store(t, obj, field, val, file, line) != TT_OK ||
                       tt__check_resurrect(t, val, "tt_store", file, line) != TT_OK))
        return;
    *field = val;
}

int tt__array_set_slow(tt_thread *t, tt_ref arr, size_t i, tt_ref val, const char *file, int line)
{
    int code;
    tt_heap *h = tt__enter(t, file, line, &code);
    if (!h) return code;
    if (h->checked) {
        const char *why = tt__object_problem_t(t, arr.bits);
        if (why)
            return tt__misuse(h, TT_EINVAL, "store-not-object", file, line,
                              "tt_array_set on %p, which is not a live object of this heap: %s",
                              (void *)arr.bits, why);
        if (tt_type_of(arr)->kind != TT_KIND_REF_ARRAY)
            return tt__misuse(h, TT_EINVAL, "store-bad-field", file, line,
                              "tt_array_set on a '%s', which is not a reference array",
                              tt_type_of(arr)->name);
    }
    if (i >= tt_array_length(arr))
        return tt__fail(TT_ERANGE, file, line, "tt_array_set: index %zu out of range (length %zu)",
                        i, tt_array_length(arr));
    tt_ref *field = (tt_ref *)tt_array_data(arr) + i;
    if (h->checked && ((code = check_store(t, arr, field, val, file, line)) != TT_OK ||
                       (code = tt__check_resurrect(t, val, "tt_array_set", file, line)) != TT_OK))
        return code;
    *field = val;
    return TT_OK;
}
