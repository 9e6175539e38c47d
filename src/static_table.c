/*
 * static_table.c: the process-wide static pointer table.
 *
 * The table maps 128-bit keys to registered entries (struct tt_static,
 * which live in the program's or a shared library's data). It is an
 * open-addressing hash table with linear probing. A slot is 32 bytes,
 * half a cache line: the entry's whole key, its interned type record and
 * the entry pointer. A lookup that hits reads that one line (and the type
 * record, which is shared by every entry of the type and stays cached),
 * never the entry itself: with 100,000 entries the entries do not fit in
 * cache, and reading one was half the cost of a lookup. Keys are XXH3
 * output, so their low bits index the table directly.
 *
 * Readers take no lock. Writers (register, unregister) hold `lock` and
 * keep these invariants, which make a concurrent probe safe:
 *   - a slot's entry pointer goes empty -> entry -> tombstone -> entry
 *     ...; it never becomes empty again in a published table, so a probe
 *     for a key that stays registered always reaches it;
 *   - a slot's key and type are written only while it is empty or a
 *     tombstone, before the release store that publishes the entry; a
 *     reader reads the entry pointer, then the fields, then the pointer
 *     again, and retries if it changed (a seqlock with the pointer as
 *     its sequence), so it never pairs one entry with another's fields;
 *   - replacing an entry publishes the new one in another slot before
 *     the old one becomes a tombstone, so a reader finds one or the other;
 *   - a table that is replaced (to grow, or to purge tombstones) is never
 *     freed, because a reader may still be probing it. Tables grow
 *     geometrically, so the retired ones together are smaller than the
 *     current one.
 * A probe may therefore return an entry that is being unregistered at
 * that moment; that is the race of dlsym with dlclose, and is documented.
 *
 * Conflicts (the same key twice) and invalid entries are reported with
 * both sites to a handler the program can set; the default aborts. The
 * handler runs under `lock`, so it can look entries up but not register.
 *
 * `names_lock` guards the interned type records (a tag and a copy of its
 * name, never freed: slots point at them) and the records of unregistered
 * entries (so a lookup of one says so and names it). It is never held
 * while taking `lock`.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

/* A slot's `ent` word: the entry's address (bits 0..47: user-space
 * addresses on x86-64 and arm64 Linux), its kind (48..49) and its type's
 * id (50..63). 0 is an empty slot, TOMB a removed one. */
#define TOMB ((uintptr_t)1)
#define ENT_ADDR (((uintptr_t)1 << 48) - 1)
#define ENT_KIND_SHIFT 48
#define ENT_TYPE_SHIFT 50
#define MAX_TYPES ((1u << 14) - 1) /* type ids 1 .. MAX_TYPES */

static tt_static *ent_entry(uintptr_t w) { return (tt_static *)(w & ENT_ADDR); }
static int ent_kind(uintptr_t w) { return (int)((w >> ENT_KIND_SHIFT) & 3); }
static uint32_t ent_type(uintptr_t w) { return (uint32_t)(w >> ENT_TYPE_SHIFT); }
#define TYPE_NAME_MAX 256

/* A type name and its tag, interned once per process. */
struct stype {
    tt_type_tag tag;
    uint32_t id;
    char name[];
};

struct slot {
    _Atomic uint64_t hi, lo;     /* the entry's key */
    _Atomic uintptr_t ent;       /* entry, kind and type id; 0 empty, TOMB removed */
    _Atomic uintptr_t value;     /* the function or data address, so a caller
                                    that wants only the value never reads the entry */
};

/* Slots start on a cache line: the header is padded to 64 bytes. */
struct table {
    size_t mask;
    struct table *retired_next;
    char pad_[48];
    struct slot slots[];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(struct table *) current;
static struct table *retired;
static size_t count, tombs;
static uint64_t last_serial;
static tt_static **order; /* registered entries in registration order; NULL = hole */
static size_t order_len, order_cap, order_holes;
static tt_static_conflict_fn handler = tt_static_conflict_abort;
static void *handler_ctx;

/* Under names_lock. */
struct gone {
    tt_static_key key;
    char *what; /* "ns.module.name, declared at file:line" */
};
static pthread_mutex_t names_lock = PTHREAD_MUTEX_INITIALIZER;
static struct stype **types;
static size_t ntypes, types_cap;
static tt__u64map type_ix;      /* tag.lo (or 1) -> index + 1 */
static _Atomic(const struct stype *) type_last; /* the last interned: entries come in runs */
static _Atomic(const struct stype *) type_by_id[MAX_TYPES + 1]; /* read without a lock */
static struct gone *gones;
static size_t gones_cap;
static _Atomic size_t ngones;   /* read without the lock: zero means none to search */
static tt__u64map gone_ix;      /* key.lo (or 1) -> index + 1 */

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* A child of fork must not inherit a lock held by a thread it lacks. */
static void fork_prepare(void)
{
    pthread_mutex_lock(&lock);
    pthread_mutex_lock(&names_lock);
}
static void fork_done(void)
{
    pthread_mutex_unlock(&names_lock);
    pthread_mutex_unlock(&lock);
}
static void install_atfork(void) { pthread_atfork(fork_prepare, fork_done, fork_done); }

static uint64_t map_key(uint64_t lo) { return lo ? lo : 1; }

static uint64_t serial_of(const tt_static *e) { return __atomic_load_n(&e->serial_, __ATOMIC_ACQUIRE); }

/* ------------------------------------------------------------------ */
/* Lookup (no lock)                                                     */

/* Find key k in the current table: the slot's `ent` word (0 if k is not
 * registered) and its value, read consistently. */
static uintptr_t find(tt_static_key k, uintptr_t *value)
{
    struct table *tb = atomic_load_explicit(&current, memory_order_acquire);
    if (!tb) return 0;
    size_t i = (size_t)k.lo & tb->mask;
    for (;;) {
        struct slot *s = &tb->slots[i];
        uintptr_t w = atomic_load_explicit(&s->ent, memory_order_acquire);
        if (!w) return 0;
        if (w != TOMB) {
            uint64_t lo = atomic_load_explicit(&s->lo, memory_order_relaxed);
            uint64_t hi = atomic_load_explicit(&s->hi, memory_order_relaxed);
            uintptr_t v = atomic_load_explicit(&s->value, memory_order_relaxed);
            atomic_thread_fence(memory_order_acquire);
            if (TT_UNLIKELY(atomic_load_explicit(&s->ent, memory_order_relaxed) != w))
                continue; /* the slot changed under us: read it again */
            if (lo == k.lo && hi == k.hi) {
                *value = v;
                return w;
            }
        }
        i = (i + 1) & tb->mask;
    }
}

static const struct stype *type_of_id(uint32_t id)
{
    return atomic_load_explicit(&type_by_id[id], memory_order_acquire);
}

const tt_static *tt__static_find(tt_static_key k)
{
    uintptr_t v;
    return ent_entry(find(k, &v));
}
uint64_t tt__static_serial(const tt_static *e) { return serial_of(e); }

static const struct stype *type_locked(tt_type_tag tag)
{
    uint64_t ix;
    if (tt__u64map_get(&type_ix, map_key(tag.lo), &ix) && tt_type_tag_eq(types[ix - 1]->tag, tag))
        return types[ix - 1];
    for (size_t i = 0; i < ntypes; i++) /* two tags sharing their low bits */
        if (tt_type_tag_eq(types[i]->tag, tag)) return types[i];
    return NULL;
}

static const char *tag_name_locked(tt_type_tag tag)
{
    const struct stype *t = type_locked(tag);
    return t ? t->name : NULL;
}

const char *tt_type_tag_name(tt_type_tag tag)
{
    pthread_mutex_lock(&names_lock);
    const char *n = tag_name_locked(tag);
    pthread_mutex_unlock(&names_lock);
    return n;
}

static const char *kind_name(int kind)
{
    return kind == TT_STATIC_KIND_FN ? "a function" : kind == TT_STATIC_KIND_DATA ? "data" : "an object";
}

/* The process's handler for failed lookups (NULL: none, the status
 * alone), under misuse_lock. */
static pthread_mutex_t misuse_lock = PTHREAD_MUTEX_INITIALIZER;
static tt_misuse_handler misuse_fn;
static void *misuse_ctx;

void tt_static_set_misuse_handler(tt_misuse_handler fn, void *ctx)
{
    pthread_mutex_lock(&misuse_lock);
    misuse_fn = fn;
    misuse_ctx = fn ? ctx : NULL;
    pthread_mutex_unlock(&misuse_lock);
}

/* A failed lookup, already in the last error: to the handler, if any. */
static void lookup_misuse(const char *what, const char *file, int line)
{
    pthread_mutex_lock(&misuse_lock);
    tt_misuse_handler fn = misuse_fn;
    void *ctx = misuse_ctx;
    pthread_mutex_unlock(&misuse_lock);
    if (!fn) return;
    const tt_error *e = tt_last_error();
    char message[sizeof e->message + 64];
    snprintf(message, sizeof message, "%s at %s:%d: %s", what, file ? file : "?", line, e->message);
    tt_misuse m = {e->code, what, file, line, message};
    fn(&m, ctx);
}

/* Why looking up k (whose slot word is w, 0 if none) for `expected` and,
 * if want_kind is not 0, that kind, failed. */
static void explain_failure(tt_static_key k, uintptr_t w, tt_type_tag expected, int want_kind,
                            const char *file, int line)
{
    char kt[TT_STATIC_KEY_TEXT];
    tt_static_key_to_text(k, kt);
    const tt_static *e = ent_entry(w);
    if (e) {
        const struct stype *ty = type_of_id(ent_type(w));
        if (!tt_type_tag_eq(ty->tag, expected)) {
            pthread_mutex_lock(&names_lock);
            const char *want = tag_name_locked(expected);
            char tagtext[TT_STATIC_KEY_TEXT];
            if (!want) tt_static_key_to_text((tt_static_key){expected.hi, expected.lo}, tagtext);
            tt__fail(TT_ETYPE, file, line,
                     "static entry %s.%s.%s has type '%s', not the expected %s%s%s", e->ns,
                     e->module, e->name, ty->name, want ? "'" : "type tag ", want ? want : tagtext,
                     want ? "'" : "");
            pthread_mutex_unlock(&names_lock);
        } else {
            tt__fail(TT_ETYPE, file, line, "static entry %s.%s.%s of type '%s' is %s, not %s",
                     e->ns, e->module, e->name, ty->name, kind_name(ent_kind(w)),
                     kind_name(want_kind));
        }
        return;
    }
    if (atomic_load_explicit(&ngones, memory_order_relaxed)) {
        uint64_t ix;
        bool told = false;
        pthread_mutex_lock(&names_lock);
        if (tt__u64map_get(&gone_ix, map_key(k.lo), &ix) && tt_static_key_eq(gones[ix - 1].key, k)) {
            tt__fail(TT_ENOTFOUND, file, line,
                     "static entry %s (key %s) was unregistered: its library was unloaded, or "
                     "tt_static_unregister removed it",
                     gones[ix - 1].what, kt);
            told = true;
        }
        pthread_mutex_unlock(&names_lock);
        if (told) return;
    }
    tt__fail(TT_ENOTFOUND, file, line, "no static entry has key %s", kt);
}

/* Whether slot word w holds an entry whose type is `expected`. The type
 * record is shared by every entry of its type, so it is in cache. */
static inline bool type_is(uintptr_t w, tt_type_tag expected)
{
    if (!w) return false;
    const struct stype *ty = type_of_id(ent_type(w));
    return ty->tag.lo == expected.lo && ty->tag.hi == expected.hi;
}

static __attribute__((noinline)) void lookup_failed(tt_static_key k, uintptr_t w,
                                                    tt_type_tag expected, int want_kind,
                                                    const char *file, int line)
{
    explain_failure(k, w, expected, want_kind, file, line);
    int code = tt_last_error()->code;
    const tt_static *e = ent_entry(w);
    lookup_misuse(!e                           ? "static-unknown-key"
                  : code == TT_ETYPE && !type_is(w, expected) ? "static-wrong-type"
                                                              : "static-wrong-kind",
                  file, line);
}

const tt_static *tt_static_lookup_at(tt_static_key k, tt_type_tag expected, const char *file,
                                     int line)
{
    uintptr_t v;
    uintptr_t w = find(k, &v);
    if (TT_LIKELY(type_is(w, expected))) return ent_entry(w);
    lookup_failed(k, w, expected, 0, file, line);
    return NULL;
}

tt_static_code tt_static_lookup_fn_at(tt_static_key k, tt_type_tag expected, const char *file,
                                      int line)
{
    uintptr_t v;
    uintptr_t w = find(k, &v);
    if (TT_LIKELY(type_is(w, expected) && ent_kind(w) == TT_STATIC_KIND_FN))
        return (tt_static_code)v;
    lookup_failed(k, w, expected, TT_STATIC_KIND_FN, file, line);
    return NULL;
}

void *tt_static_lookup_data_at(tt_static_key k, tt_type_tag expected, const char *file, int line)
{
    uintptr_t v;
    uintptr_t w = find(k, &v);
    if (TT_LIKELY(type_is(w, expected) && ent_kind(w) == TT_STATIC_KIND_DATA)) return (void *)v;
    lookup_failed(k, w, expected, TT_STATIC_KIND_DATA, file, line);
    return NULL;
}

const tt_static *tt_static_find(tt_static_key k)
{
    const tt_static *e = tt__static_find(k);
    if (!e) {
        char kt[TT_STATIC_KEY_TEXT];
        tt__fail(TT_ENOTFOUND, NULL, 0, "no static entry has key %s", tt_static_key_to_text(k, kt));
    }
    return e;
}

/* ------------------------------------------------------------------ */
/* Entries                                                              */

static bool is_entry(const tt_static *e) { return e && e->sig == TT_STATIC_SIG; }

static const char *entry_problem(const tt_static *e)
{
    if (!e) return "the entry is NULL";
    if (e->sig != TT_STATIC_SIG) return "it has no static-entry signature (not made with TT_STATIC_INIT?)";
    const char *why = tt__static_name_problem(e->ns, e->module, e->name);
    if (why) return why;
    if ((uintptr_t)e > ENT_ADDR) return "its address is above 2^48, which the table cannot hold";
    if (!e->type_name || !*e->type_name) return "the type name is missing";
    if (strlen(e->type_name) >= TYPE_NAME_MAX) return "the type name is over 255 bytes";
    switch (e->kind) {
    case TT_STATIC_KIND_FN: return e->fn ? NULL : "a function entry without a function";
    case TT_STATIC_KIND_DATA: return e->data ? NULL : "a data entry with a NULL address";
    case TT_STATIC_KIND_OBJECT: return e->build ? NULL : "an object entry without a build function";
    default: return "its kind is not a TT_STATIC_KIND_*";
    }
}

static tt_type_tag tag_of_name(const char *type_name)
{
    tt_static_key h = tt_static_hash128(type_name, strlen(type_name));
    return (tt_type_tag){h.hi, h.lo};
}

/* The process's record of a type name, made on first use; NULL if out of
 * memory. Records are never freed: slots point at them, and lookups read
 * them without a lock. */
static const struct stype *intern_type(tt_type_tag tag, const char *name)
{
    const struct stype *t = atomic_load_explicit(&type_last, memory_order_acquire);
    if (t && tt_type_tag_eq(t->tag, tag)) return t;
    pthread_mutex_lock(&names_lock);
    t = type_locked(tag);
    if (!t) {
        size_t len = strlen(name);
        struct stype *n = malloc(sizeof *n + len + 1);
        if (n && ntypes == types_cap) {
            size_t cap = types_cap ? types_cap * 2 : 16;
            struct stype **a = realloc(types, cap * sizeof *a);
            if (a) {
                types = a;
                types_cap = cap;
            }
        }
        if (!n || ntypes == types_cap || ntypes == MAX_TYPES ||
            tt__u64map_reserve(&type_ix, 1) != 0) {
            free(n);
        } else {
            n->tag = tag;
            n->id = (uint32_t)ntypes + 1;
            memcpy(n->name, name, len + 1);
            types[ntypes++] = n;
            atomic_store_explicit(&type_by_id[n->id], n, memory_order_release);
            uint64_t ix;
            if (!tt__u64map_get(&type_ix, map_key(tag.lo), &ix))
                tt__u64map_put(&type_ix, map_key(tag.lo), ntypes);
            t = n;
        }
    }
    if (t) atomic_store_explicit(&type_last, t, memory_order_release);
    pthread_mutex_unlock(&names_lock);
    return t;
}

tt_type_tag tt_type_tag_for(const char *type_name)
{
    if (!type_name || !*type_name) {
        tt__fail(TT_EINVAL, NULL, 0, "tt_type_tag_for: the type name is missing");
        return (tt_type_tag){0, 0};
    }
    if (strlen(type_name) >= TYPE_NAME_MAX) {
        tt__fail(TT_EINVAL, NULL, 0, "tt_type_tag_for: the type name is over 255 bytes");
        return (tt_type_tag){0, 0};
    }
    tt_type_tag tag = tag_of_name(type_name);
    if (!intern_type(tag, type_name)) {
        tt__fail(TT_ENOMEM, NULL, 0,
                 "tt_type_tag_for: out of memory, or the process already names %u types", MAX_TYPES);
        return (tt_type_tag){0, 0};
    }
    return tag;
}

/* Record that the entry with key k was unloaded, for the error message of
 * later lookups. A record whose key's low bits equal another's replaces it
 * in the index: that key's lookups then say only "no entry". */
static void remember_gone(const tt_static *e)
{
    size_t n = (size_t)snprintf(NULL, 0, "%s.%s.%s, declared at %s:%d", e->ns, e->module, e->name,
                                e->file ? e->file : "?", e->line);
    char *what = malloc(n + 1);
    if (!what) return; /* the lookup will say "no entry": still an error */
    snprintf(what, n + 1, "%s.%s.%s, declared at %s:%d", e->ns, e->module, e->name,
             e->file ? e->file : "?", e->line);
    pthread_mutex_lock(&names_lock);
    uint64_t ix;
    if (tt__u64map_get(&gone_ix, map_key(e->key_.lo), &ix) && tt_static_key_eq(gones[ix - 1].key, e->key_)) {
        free(gones[ix - 1].what);
        gones[ix - 1].what = what;
        what = NULL;
    } else {
        if (atomic_load_explicit(&ngones, memory_order_relaxed) == gones_cap) {
            size_t cap = gones_cap ? gones_cap * 2 : 16;
            struct gone *g = realloc(gones, cap * sizeof *g);
            if (g) {
                gones = g;
                gones_cap = cap;
            }
        }
        size_t used = atomic_load_explicit(&ngones, memory_order_relaxed);
        if (used < gones_cap && tt__u64map_reserve(&gone_ix, 1) == 0) {
            gones[used].key = e->key_;
            gones[used].what = what;
            what = NULL;
            atomic_store_explicit(&ngones, used + 1, memory_order_relaxed);
            tt__u64map_put(&gone_ix, map_key(e->key_.lo), used + 1);
        }
    }
    pthread_mutex_unlock(&names_lock);
    free(what);
}

/* A key registered again is no longer "unloaded". The record stays (its
 * index is shared), but is emptied of its key. */
static void forget_gone(tt_static_key k)
{
    if (!atomic_load_explicit(&ngones, memory_order_relaxed)) return;
    pthread_mutex_lock(&names_lock);
    uint64_t ix;
    if (tt__u64map_get(&gone_ix, map_key(k.lo), &ix) && tt_static_key_eq(gones[ix - 1].key, k))
        gones[ix - 1].key = (tt_static_key){0, 0};
    pthread_mutex_unlock(&names_lock);
}

/* ---- under `lock` ---- */

/* Room for one more entry in `order`: squeeze the holes out if they are
 * over half, else grow. */
static int order_reserve(void)
{
    if (order_len < order_cap) return 0;
    if (order_holes * 2 > order_len) {
        size_t j = 0;
        for (size_t i = 0; i < order_len; i++) {
            if (!order[i]) continue;
            order[i]->order_ = j;
            order[j++] = order[i];
        }
        order_len = j;
        order_holes = 0;
        return 0;
    }
    size_t cap = order_cap ? order_cap * 2 : 64;
    tt_static **o = realloc(order, cap * sizeof *o);
    if (!o) return -1;
    order = o;
    order_cap = cap;
    return 0;
}

static void order_append(tt_static *e)
{
    e->order_ = order_len;
    order[order_len++] = e;
}

static void order_remove(tt_static *e)
{
    if (e->order_ < order_len && order[e->order_] == e) {
        order[e->order_] = NULL;
        order_holes++;
    }
}

/* Room for one more entry: a new table when the load (tombstones
 * included) would pass 1/2, sized for a load of at most 1/4 after. */
static int table_reserve(void)
{
    struct table *tb = atomic_load_explicit(&current, memory_order_relaxed);
    size_t cap = tb ? tb->mask + 1 : 0;
    if ((count + tombs + 1) * 2 <= cap) return 0;
    size_t ncap = 64;
    while (ncap < (count + 1) * 4) ncap *= 2;
    size_t bytes = sizeof(struct table) + ncap * sizeof(struct slot);
    struct table *nt = aligned_alloc(64, bytes);
    if (!nt) return -1;
    memset(nt, 0, bytes);
    nt->mask = ncap - 1;
    for (size_t i = 0; tb && i <= tb->mask; i++) {
        const struct slot *from = &tb->slots[i];
        uintptr_t w = atomic_load_explicit(&from->ent, memory_order_relaxed);
        if (!w || w == TOMB) continue;
        uint64_t lo = atomic_load_explicit(&from->lo, memory_order_relaxed);
        size_t j = (size_t)lo & nt->mask;
        while (atomic_load_explicit(&nt->slots[j].ent, memory_order_relaxed)) j = (j + 1) & nt->mask;
        struct slot *to = &nt->slots[j];
        atomic_store_explicit(&to->lo, lo, memory_order_relaxed);
        atomic_store_explicit(&to->hi, atomic_load_explicit(&from->hi, memory_order_relaxed),
                              memory_order_relaxed);
        atomic_store_explicit(&to->value, atomic_load_explicit(&from->value, memory_order_relaxed),
                              memory_order_relaxed);
        atomic_store_explicit(&to->ent, w, memory_order_relaxed);
    }
    atomic_store_explicit(&current, nt, memory_order_release);
    if (tb) {
        tb->retired_next = retired;
        retired = tb;
    }
    tombs = 0;
    return 0;
}

static struct slot *slot_of_key(struct table *tb, tt_static_key k)
{
    size_t i = (size_t)k.lo & tb->mask;
    for (;;) {
        struct slot *s = &tb->slots[i];
        uintptr_t w = atomic_load_explicit(&s->ent, memory_order_relaxed);
        if (!w) return NULL;
        if (w != TOMB && atomic_load_explicit(&s->lo, memory_order_relaxed) == k.lo &&
            atomic_load_explicit(&s->hi, memory_order_relaxed) == k.hi)
            return s;
        i = (i + 1) & tb->mask;
    }
}

static uintptr_t value_of(const tt_static *e)
{
    switch (e->kind) {
    case TT_STATIC_KIND_FN: return (uintptr_t)e->fn;
    case TT_STATIC_KIND_DATA: return (uintptr_t)e->data;
    default: return 0;
    }
}

/* Put e in the first free slot of its probe sequence (room was made by
 * table_reserve). */
static void publish(tt_static *e, const struct stype *ty)
{
    struct table *tb = atomic_load_explicit(&current, memory_order_relaxed);
    uintptr_t w = (uintptr_t)e | (uintptr_t)e->kind << ENT_KIND_SHIFT |
                  (uintptr_t)ty->id << ENT_TYPE_SHIFT;
    size_t i = (size_t)e->key_.lo & tb->mask;
    for (;;) {
        struct slot *s = &tb->slots[i];
        uintptr_t old = atomic_load_explicit(&s->ent, memory_order_relaxed);
        if (!old || old == TOMB) {
            if (old == TOMB) tombs--;
            atomic_store_explicit(&s->lo, e->key_.lo, memory_order_relaxed);
            atomic_store_explicit(&s->hi, e->key_.hi, memory_order_relaxed);
            atomic_store_explicit(&s->value, value_of(e), memory_order_relaxed);
            atomic_store_explicit(&s->ent, w, memory_order_release);
            count++;
            return;
        }
        i = (i + 1) & tb->mask;
    }
}

static void bury_slot(struct slot *s)
{
    atomic_store_explicit(&s->ent, TOMB, memory_order_release);
    count--;
    tombs++;
}

static bool same_name(const tt_static *a, const tt_static *b)
{
    return strcmp(a->ns, b->ns) == 0 && strcmp(a->module, b->module) == 0 &&
           strcmp(a->name, b->name) == 0;
}

static int report(int kind, const tt_static *existing, const tt_static *incoming, const char *msg)
{
    tt_static_conflict c = {kind, existing, incoming, msg};
    return handler(&c, handler_ctx);
}

static int register_invalid(tt_static *e, const char *why)
{
    char msg[512];
    if (is_entry(e))
        snprintf(msg, sizeof msg, "static entry %s.%s.%s declared at %s:%d cannot be registered: %s",
                 e->ns ? e->ns : "?", e->module ? e->module : "?", e->name ? e->name : "?",
                 e->file ? e->file : "?", e->line, why);
    else
        snprintf(msg, sizeof msg, "tt_static_register(%p): %s", (void *)e, why);
    pthread_mutex_lock(&lock);
    report(TT_STATIC_INVALID, NULL, e, msg);
    pthread_mutex_unlock(&lock);
    return tt__fail(TT_EINVAL, NULL, 0, "%s", msg);
}

/* Out of memory: reported like a conflict, since a constructor that
 * registers an entry before main has nobody to return a status to. */
static int register_nomem(tt_static *e)
{
    char msg[512];
    snprintf(msg, sizeof msg, "static entry %s.%s.%s declared at %s:%d cannot be registered: out of memory (or over %u type names)",
             e->ns, e->module, e->name, e->file ? e->file : "?", e->line, MAX_TYPES);
    pthread_mutex_lock(&lock);
    report(TT_STATIC_FAILED, NULL, e, msg);
    pthread_mutex_unlock(&lock);
    return tt__fail(TT_ENOMEM, e->file, e->line, "%s", msg);
}

int tt_static_register(tt_static *e)
{
    pthread_once(&atfork_once, install_atfork);
    const char *why = entry_problem(e);
    if (why) return register_invalid(e, why);
    tt_static_key key = tt__static_key_of_name(e->ns, e->module, e->name);
    tt_type_tag tag = tag_of_name(e->type_name);
    const struct stype *ty = intern_type(tag, e->type_name);
    if (!ty) return register_nomem(e);

    pthread_mutex_lock(&lock);
    if (serial_of(e)) {
        pthread_mutex_unlock(&lock);
        return TT_OK;
    }
    if (table_reserve() != 0 || order_reserve() != 0) {
        pthread_mutex_unlock(&lock);
        return register_nomem(e);
    }
    struct table *tb = atomic_load_explicit(&current, memory_order_relaxed);
    struct slot *s = slot_of_key(tb, key);
    e->key_ = key;
    e->tag_ = tag;
    if (s) {
        tt_static *old = ent_entry(atomic_load_explicit(&s->ent, memory_order_relaxed));
        char kt[TT_STATIC_KEY_TEXT], msg[768];
        tt_static_key_to_text(key, kt);
        int kind = same_name(old, e) ? TT_STATIC_DUPLICATE : TT_STATIC_COLLISION;
        if (kind == TT_STATIC_DUPLICATE)
            snprintf(msg, sizeof msg,
                     "static entry %s.%s.%s is declared twice: at %s:%d (registered) and at %s:%d",
                     e->ns, e->module, e->name, old->file ? old->file : "?", old->line,
                     e->file ? e->file : "?", e->line);
        else
            snprintf(msg, sizeof msg,
                     "static entries %s.%s.%s (%s:%d, registered) and %s.%s.%s (%s:%d) have the "
                     "same key %s: rename one",
                     old->ns, old->module, old->name, old->file ? old->file : "?", old->line, e->ns,
                     e->module, e->name, e->file ? e->file : "?", e->line, kt);
        if (report(kind, old, e, msg) != TT_STATIC_REPLACE) {
            pthread_mutex_unlock(&lock);
            return tt__fail(TT_EEXIST, e->file, e->line, "%s", msg);
        }
        /* The new entry is published before the old one leaves: a reader
         * sees one or the other, never neither. */
        publish(e, ty);
        bury_slot(s);
        order_remove(old);
        __atomic_store_n(&old->serial_, 0, __ATOMIC_RELEASE);
    } else {
        publish(e, ty);
    }
    order_append(e);
    __atomic_store_n(&e->serial_, ++last_serial, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&lock);
    forget_gone(key);
    return TT_OK;
}

int tt_static_unregister(tt_static *e)
{
    if (!is_entry(e)) return tt__fail(TT_EINVAL, NULL, 0, "tt_static_unregister: not a static entry");
    pthread_mutex_lock(&lock);
    if (!serial_of(e)) {
        pthread_mutex_unlock(&lock);
        return tt__fail(TT_ENOTFOUND, e->file, e->line,
                        "tt_static_unregister: %s.%s.%s is not registered", e->ns, e->module,
                        e->name);
    }
    struct table *tb = atomic_load_explicit(&current, memory_order_relaxed);
    struct slot *s = slot_of_key(tb, e->key_);
    if (s && ent_entry(atomic_load_explicit(&s->ent, memory_order_relaxed)) == e) bury_slot(s);
    order_remove(e);
    __atomic_store_n(&e->serial_, 0, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&lock);
    remember_gone(e);
    return TT_OK;
}

/* ------------------------------------------------------------------ */
/* Conflicts                                                            */

int tt_static_conflict_abort(const tt_static_conflict *c, void *ctx)
{
    (void)ctx;
    fprintf(stderr, "tether: static table: %s\n", c->message);
    fflush(stderr);
    abort();
}

void tt_static_set_conflict_handler(tt_static_conflict_fn fn, void *ctx)
{
    pthread_mutex_lock(&lock);
    handler = fn ? fn : tt_static_conflict_abort;
    handler_ctx = fn ? ctx : NULL;
    pthread_mutex_unlock(&lock);
}

/* ------------------------------------------------------------------ */
/* Information                                                          */

tt_static_code tt_static_fn(const tt_static *e)
{
    if (!is_entry(e) || e->kind != TT_STATIC_KIND_FN) {
        tt__fail(TT_EINVAL, NULL, 0, "tt_static_fn: not a function entry");
        return NULL;
    }
    return e->fn;
}

void *tt_static_data(const tt_static *e)
{
    if (!is_entry(e) || e->kind != TT_STATIC_KIND_DATA) {
        tt__fail(TT_EINVAL, NULL, 0, "tt_static_data: not a data entry");
        return NULL;
    }
    return e->data;
}

int tt_static_info_of(const tt_static *e, tt_static_info *out)
{
    if (!is_entry(e) || !out) return tt__fail(TT_EINVAL, NULL, 0, "tt_static_info_of: not a static entry");
    bool reg = serial_of(e) != 0;
    memset(out, 0, sizeof *out);
    out->kind = e->kind;
    out->registered = reg;
    out->ns = e->ns;
    out->module = e->module;
    out->name = e->name;
    out->type_name = e->type_name;
    out->file = e->file;
    out->line = e->line;
    if (reg) {
        out->key = e->key_;
        out->tag = e->tag_;
    } else {
        if (!tt__static_name_problem(e->ns, e->module, e->name))
            out->key = tt__static_key_of_name(e->ns, e->module, e->name);
        if (e->type_name && *e->type_name) out->tag = tag_of_name(e->type_name);
    }
    return TT_OK;
}

tt_static_key tt_static_key_of(const tt_static *e)
{
    if (!is_entry(e)) {
        tt__fail(TT_EINVAL, NULL, 0, "tt_static_key_of: not a static entry");
        return (tt_static_key){0, 0};
    }
    if (serial_of(e)) return e->key_;
    return tt_static_key_for(e->ns, e->module, e->name);
}

size_t tt_static_count(void)
{
    pthread_mutex_lock(&lock);
    size_t n = count;
    pthread_mutex_unlock(&lock);
    return n;
}

size_t tt_static_keys(tt_static_key *out, size_t cap)
{
    pthread_mutex_lock(&lock);
    size_t n = 0;
    for (size_t i = 0; i < order_len; i++) {
        if (!order[i]) continue;
        if (out && n < cap) out[n] = order[i]->key_;
        n++;
    }
    pthread_mutex_unlock(&lock);
    return n;
}
