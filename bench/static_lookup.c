/*
 * bench/static_lookup.c: the cost of the static pointer table
 * (tether/static.h) with 100,000 entries, and dlsym for perspective.
 *
 *   static_lookup [-n ENTRIES] [-r ROUNDS]
 *
 * ENTRIES entries (default 100,000) are made at run time in one malloc'd
 * array and registered with tt_static_register: namespace "bench", module
 * "m<i/1000>", name "f<i>", one of four type names (three function types,
 * TT_STATIC_KIND_FN, and one data type, TT_STATIC_KIND_DATA). The type
 * tags are computed once, before any timing, as a program would.
 *
 * Figures, in nanoseconds per operation. Each lookup figure is the median
 * of ROUNDS timed rounds (default 5) after one untimed warm-up round,
 * timed with CLOCK_MONOTONIC; the returned pointers are summed into a
 * volatile sink, and each round's sum is checked against the expected one.
 *
 *   static_register_ns          tt_static_register of the ENTRIES entries,
 *                               one pass into the table, which grows as it
 *                               goes (the keys are hashed from the names
 *                               here); not repeated, since the table is
 *                               process-wide. Not a target.
 *   static_lookup_random_ns     tt_static_lookup(key, right tag) over the
 *                               ENTRIES keys in a shuffled order (fixed
 *                               seed), every entry once per pass: the table
 * and the entries do not fit in L1/L2, so
 *                               this is the cold-ish case. The lookups are
 *                               independent of each other, so the CPU may
 *                               overlap their cache misses: it is a
 *                               throughput figure, not a latency. THE
 *                               TARGET: <= 20 ns.
 *   static_lookup_value_ns      the random row with the value instead of
 *                               the entry: tt_static_lookup_fn or
 *                               tt_static_lookup_data, which read it from
 *                               the table's slot, as a closure dispatcher
 *                               does.
 *   static_lookup_entry_value_ns  the random row, then the value read
 *                               from the entry (tt_static_fn or
 *                               tt_static_data): a second cache line, the
 *                               entry itself, that the lookup alone does
 *                               not touch.
 *   static_lookup_hot_ns        the same key, with its right tag, every
 *                               time: everything in L1.
 *   static_lookup_miss_ns       random 128-bit keys that are not in the
 *                               table (fixed seed): NULL, TT_ENOTFOUND.
 *   static_lookup_wrongtype_ns  the shuffled keys of the random row, each
 *                               with another type's tag: NULL, TT_ETYPE,
 *                               the error message naming both types. The
 *                               error path; reported, not a target.
 *   dlsym_libc_ns               dlsym(libc handle, name), the name rotating
 *                               over 8 libc function names: how C programs
 *                               usually name code by a string at run time.
 *                               It hashes the string and searches libc's
 *                               dynamic symbol table (a few thousand
 *                               symbols, not ENTRIES), and the 8 names stay
 *                               hot in cache. For perspective only.
 *
 * Output: one ordinary line (the same in every run) and one metric line
 * per figure, "@ NAME VALUE UNIT... lower", which bench/runner.c reads.
 * Exit status 1 if a check fails, 2 for a usage error or a setup failure.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tether.h>

enum { MAX_ROUNDS = 99, NTYPES = 4, NDLSYM = 8 };

/* Lookups per timed round, at least: several passes over the keys. */
#define OPS_PER_ROUND 2000000L
/* The error path and dlsym are slower: fewer operations per round. */
#define SLOW_OPS_PER_ROUND 500000L

static volatile uintptr_t sink;

static const char *const type_names[NTYPES] = {"int(int)", "void(void)",
                                                "double(double,double)", "struct bench_point"};

static const char *const dlsym_names[NDLSYM] = {"malloc", "free",   "memcpy", "strlen",
                                                "printf", "qsort", "getenv", "fopen"};

struct bench_point {
    double x, y;
};

static int f_int(int x) { return x + 1; }
static void f_void(void) {}
static double f_double(double a, double b) { return a + b; }

static void die(const char *what)
{
    const tt_error *e = tt_last_error();
    fprintf(stderr, "static_lookup: %s failed: %s (%s)\n", what, tt_status_name(e->code),
            e->message);
    exit(2);
}

static void check_failed(const char *what)
{
    fprintf(stderr, "static_lookup: check failed: %s\n", what);
    exit(1);
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* splitmix64: a fixed-seed generator, so every run does the same work. */
static uint64_t rng_state = UINT64_C(0x7465746865722121);
static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* What a lookup benchmark works on. */
struct work {
    size_t n;                 /* entries */
    const tt_static *entries; /* the registered entries */
    tt_static_key *keys;      /* the keys in shuffled order */
    tt_type_tag *tags;        /* the right tag of keys[i] */
    unsigned char *is_data;   /* keys[i] names a data entry */
    tt_type_tag *wrong;       /* another type's tag for keys[i] */
    uintptr_t order_sum;      /* the sum of the entries' addresses */
    uintptr_t value_sum;      /* the sum of the entries' values */
    tt_static_key hot_key;
    tt_type_tag hot_tag;
    const tt_static *hot_entry;
    tt_static_key *miss_keys; /* n keys that are not registered */
    void *libc;               /* dlopen'ed libc */
    uintptr_t dlsym_sum;      /* the sum of the NDLSYM addresses */
};

/* Every function below times `passes` passes (or `ops` operations) and
 * returns nanoseconds per operation, checking what it found. */

static double bench_random(const struct work *w, long passes)
{
    uintptr_t acc = 0;
    double t0 = now_ns();
    for (long p = 0; p < passes; ++p)
        for (size_t i = 0; i < w->n; ++i)
            acc += (uintptr_t)tt_static_lookup(w->keys[i], w->tags[i]);
    double dt = now_ns() - t0;
    if (acc != w->order_sum * (uintptr_t)passes) check_failed("random lookups found other entries");
    sink += acc;
    return dt / ((double)passes * (double)w->n);
}

/* The value of an entry, as a caller reads it after the lookup. */
static uintptr_t value_of(const tt_static *e)
{
    if (e->kind == TT_STATIC_KIND_DATA) return (uintptr_t)tt_static_data(e);
    return (uintptr_t)tt_static_fn(e);
}

/* The value straight from the table: tt_static_lookup_fn or _data,
 * chosen by the key's type (the data type is the last). */
static double bench_random_value(const struct work *w, long passes)
{
    uintptr_t acc = 0;
    double t0 = now_ns();
    for (long p = 0; p < passes; ++p)
        for (size_t i = 0; i < w->n; ++i) {
            if (w->is_data[i])
                acc += (uintptr_t)tt_static_lookup_data(w->keys[i], w->tags[i]);
            else
                acc += (uintptr_t)tt_static_lookup_fn(w->keys[i], w->tags[i]);
        }
    double dt = now_ns() - t0;
    if (acc != w->value_sum * (uintptr_t)passes) check_failed("random lookups read other values");
    sink += acc;
    return dt / ((double)passes * (double)w->n);
}

/* The entry, then its value read from the entry. */
static double bench_random_entry_value(const struct work *w, long passes)
{
    uintptr_t acc = 0;
    double t0 = now_ns();
    for (long p = 0; p < passes; ++p)
        for (size_t i = 0; i < w->n; ++i) acc += value_of(tt_static_lookup(w->keys[i], w->tags[i]));
    double dt = now_ns() - t0;
    if (acc != w->value_sum * (uintptr_t)passes) check_failed("random lookups read other values");
    sink += acc;
    return dt / ((double)passes * (double)w->n);
}

static double bench_hot(const struct work *w, long ops)
{
    uintptr_t acc = 0;
    double t0 = now_ns();
    for (long i = 0; i < ops; ++i) acc += (uintptr_t)tt_static_lookup(w->hot_key, w->hot_tag);
    double dt = now_ns() - t0;
    if (acc != (uintptr_t)w->hot_entry * (uintptr_t)ops)
        check_failed("hot lookup found another entry");
    sink += acc;
    return dt / (double)ops;
}

static double bench_miss(const struct work *w, long passes)
{
    uintptr_t acc = 0;
    double t0 = now_ns();
    for (long p = 0; p < passes; ++p)
        for (size_t i = 0; i < w->n; ++i)
            acc += (uintptr_t)tt_static_lookup(w->miss_keys[i], w->tags[i]);
    double dt = now_ns() - t0;
    if (acc != 0) check_failed("a lookup of an unknown key found an entry");
    if (tt_last_error()->code != TT_ENOTFOUND) check_failed("a miss did not set TT_ENOTFOUND");
    sink += acc;
    return dt / ((double)passes * (double)w->n);
}

/* ops operations over the first min(ops, n) shuffled keys, repeated. */
static double bench_wrong_type(const struct work *w, long ops)
{
    uintptr_t acc = 0;
    size_t j = 0;
    double t0 = now_ns();
    for (long i = 0; i < ops; ++i) {
        acc += (uintptr_t)tt_static_lookup(w->keys[j], w->wrong[j]);
        if (++j == w->n) j = 0;
    }
    double dt = now_ns() - t0;
    if (acc != 0) check_failed("a lookup with the wrong type found an entry");
    if (tt_last_error()->code != TT_ETYPE) check_failed("a wrong type did not set TT_ETYPE");
    sink += acc;
    return dt / (double)ops;
}

static double bench_dlsym(const struct work *w, long ops)
{
    uintptr_t acc = 0;
    ops -= ops % NDLSYM;
    double t0 = now_ns();
    for (long i = 0; i < ops; ++i) acc += (uintptr_t)dlsym(w->libc, dlsym_names[i % NDLSYM]);
    double dt = now_ns() - t0;
    if (acc != w->dlsym_sum * (uintptr_t)(ops / NDLSYM)) check_failed("dlsym found other symbols");
    sink += acc;
    return dt / (double)ops;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef double (*bench_fn)(const struct work *w, long arg);

/* The median of `rounds` timed rounds of fn(w, arg), after a warm-up. */
static double median_of_rounds(bench_fn fn, const struct work *w, long arg, int rounds)
{
    double r[MAX_ROUNDS];
    (void)fn(w, arg);
    for (int i = 0; i < rounds; ++i) r[i] = fn(w, arg);
    qsort(r, (size_t)rounds, sizeof r[0], cmp_double);
    return rounds % 2 ? r[rounds / 2] : (r[rounds / 2 - 1] + r[rounds / 2]) / 2;
}

static void *xmalloc(size_t size)
{
    void *p = malloc(size);
    if (!p) {
        fprintf(stderr, "static_lookup: out of memory\n");
        exit(2);
    }
    return p;
}

static void usage(void)
{
    fprintf(stderr, "usage: static_lookup [-n ENTRIES] [-r ROUNDS]   (rounds 1..%d)\n",
            MAX_ROUNDS);
    exit(2);
}

int main(int argc, char **argv)
{
    long n_arg = 100000;
    int rounds = 5;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
            n_arg = atol(argv[++i]);
            if (n_arg < 1 || n_arg > 100000000L) usage();
        } else if (strcmp(argv[i], "-r") == 0 && i + 1 < argc) {
            rounds = atoi(argv[++i]);
            if (rounds < 1 || rounds > MAX_ROUNDS) usage();
        } else {
            usage();
        }
    }
    size_t n = (size_t)n_arg;

    /* The entries and their names. Names: "m<i/1000>" and "f<i>", in two
     * pools of fixed-width slots. */
    enum { NAME_SLOT = 24 }; /* room for "f" and any size_t */
    size_t nmodules = (n + 999) / 1000;
    char *modules = xmalloc(nmodules * NAME_SLOT);
    char *names = xmalloc(n * NAME_SLOT);
    for (size_t m = 0; m < nmodules; ++m) snprintf(modules + m * NAME_SLOT, NAME_SLOT, "m%zu", m);
    for (size_t i = 0; i < n; ++i) snprintf(names + i * NAME_SLOT, NAME_SLOT, "f%zu", i);
    struct bench_point *points = xmalloc(n * sizeof *points);
    tt_static *entries = xmalloc(n * sizeof *entries);
    size_t *type_of = xmalloc(n * sizeof *type_of);
    for (size_t i = 0; i < n; ++i) {
        size_t ty = (size_t)(rng_next() % NTYPES);
        type_of[i] = ty;
        points[i].x = (double)i;
        points[i].y = 0;
        tt_static_code fn = NULL;
        void *data = NULL;
        int kind = TT_STATIC_KIND_FN;
        switch (ty) {
        case 0: fn = (tt_static_code)f_int; break;
        case 1: fn = (tt_static_code)f_void; break;
        case 2: fn = (tt_static_code)f_double; break;
        default:
            kind = TT_STATIC_KIND_DATA;
            data = &points[i];
            break;
        }
        tt_static e = TT_STATIC_INIT(kind, "bench", modules + (i / 1000) * NAME_SLOT,
                                     names + i * NAME_SLOT, type_names[ty], fn, data, NULL);
        entries[i] = e;
    }

    tt_type_tag tags[NTYPES];
    for (int ty = 0; ty < NTYPES; ++ty) {
        tags[ty] = tt_type_tag_for(type_names[ty]);
        if (tags[ty].hi == 0 && tags[ty].lo == 0) die("tt_type_tag_for");
    }

    /* Registration: one timed pass. */
    size_t before = tt_static_count();
    double t0 = now_ns();
    for (size_t i = 0; i < n; ++i)
        if (TT_UNLIKELY(tt_static_register(&entries[i]) != TT_OK)) die("tt_static_register");
    double register_ns = (now_ns() - t0) / (double)n;
    if (tt_static_count() != before + n) check_failed("tt_static_count after registration");

    /* The shuffled keys (Fisher-Yates over the entry indices). */
    size_t *perm = xmalloc(n * sizeof *perm);
    for (size_t i = 0; i < n; ++i) perm[i] = i;
    for (size_t i = n - 1; i > 0; --i) {
        size_t j = (size_t)(rng_next() % (i + 1));
        size_t tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
    struct work w = {0};
    w.n = n;
    w.entries = entries;
    w.keys = xmalloc(n * sizeof *w.keys);
    w.tags = xmalloc(n * sizeof *w.tags);
    w.is_data = xmalloc(n);
    w.wrong = xmalloc(n * sizeof *w.wrong);
    w.miss_keys = xmalloc(n * sizeof *w.miss_keys);
    for (size_t i = 0; i < n; ++i) {
        size_t e = perm[i];
        w.keys[i] = tt_static_key_of(&entries[e]);
        tt_static_key expect = tt_static_key_for("bench", modules + (e / 1000) * NAME_SLOT,
                                                 names + e * NAME_SLOT);
        if (!tt_static_key_eq(w.keys[i], expect))
            check_failed("tt_static_key_of != tt_static_key_for");
        w.tags[i] = tags[type_of[e]];
        w.wrong[i] = tags[(type_of[e] + 1 + (size_t)(rng_next() % (NTYPES - 1))) % NTYPES];
        w.order_sum += (uintptr_t)&entries[e];
        w.value_sum += value_of(&entries[e]);
        w.is_data[i] = entries[e].kind == TT_STATIC_KIND_DATA;
    }
    /* Lookups return the registered entry itself, and its value. */
    for (size_t i = 0; i < n; ++i) {
        const tt_static *e = tt_static_lookup(w.keys[i], w.tags[i]);
        if (e != &entries[perm[i]]) check_failed("lookup did not return the registered entry");
        if (e->kind == TT_STATIC_KIND_DATA ? tt_static_data(e) != (void *)&points[perm[i]]
                                           : tt_static_fn(e) == NULL)
            check_failed("the entry's value");
    }
    w.hot_entry = &entries[n / 2];
    w.hot_key = tt_static_key_of(w.hot_entry);
    w.hot_tag = tags[type_of[n / 2]];
    for (size_t i = 0; i < n; ++i) {
        w.miss_keys[i].hi = rng_next();
        w.miss_keys[i].lo = rng_next();
        if (tt_static_find(w.miss_keys[i]) != NULL) check_failed("a random key is registered");
    }

    /* The peer: libc, already loaded. */
    w.libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    if (!w.libc) {
        fprintf(stderr, "static_lookup: dlopen(libc.so.6): %s\n", dlerror());
        return 2;
    }
    for (int i = 0; i < NDLSYM; ++i) {
        void *p = dlsym(w.libc, dlsym_names[i]);
        if (!p) {
            fprintf(stderr, "static_lookup: dlsym(%s): %s\n", dlsym_names[i], dlerror());
            return 2;
        }
        w.dlsym_sum += (uintptr_t)p;
    }

    long passes = (OPS_PER_ROUND + (long)n - 1) / (long)n;
    double random_ns = median_of_rounds(bench_random, &w, passes, rounds);
    double value_ns = median_of_rounds(bench_random_value, &w, passes, rounds);
    double entry_value_ns = median_of_rounds(bench_random_entry_value, &w, passes, rounds);
    double hot_ns = median_of_rounds(bench_hot, &w, OPS_PER_ROUND, rounds);
    double miss_ns = median_of_rounds(bench_miss, &w, passes, rounds);
    double wrong_ns = median_of_rounds(bench_wrong_type, &w, SLOW_OPS_PER_ROUND, rounds);
    double dlsym_ns = median_of_rounds(bench_dlsym, &w, SLOW_OPS_PER_ROUND, rounds);

    printf("static_lookup: %zu entries registered, %d types; every lookup checked\n", n, NTYPES);
    printf("@ static_lookup_random_ns %.2f ns per lookup (right tag; %zu keys in shuffled "
           "order) lower\n",
           random_ns, n);
    printf("@ static_lookup_value_ns %.2f ns per lookup (as random, the value from "
           "tt_static_lookup_fn or tt_static_lookup_data) lower\n",
           value_ns);
    printf("@ static_lookup_entry_value_ns %.2f ns per lookup (as random, then the value read "
           "from the entry with tt_static_fn or tt_static_data) lower\n",
           entry_value_ns);
    printf("@ static_lookup_hot_ns %.2f ns per lookup (right tag; the same key each time) lower\n",
           hot_ns);
    printf("@ static_lookup_miss_ns %.2f ns per lookup (random unknown keys; NULL, "
           "TT_ENOTFOUND) lower\n",
           miss_ns);
    printf("@ static_lookup_wrongtype_ns %.2f ns per lookup (known keys, wrong tag; NULL, "
           "TT_ETYPE; error path, no target) lower\n",
           wrong_ns);
    printf("@ static_register_ns %.2f ns per entry (tt_static_register of %zu entries into a "
           "growing table, one pass) lower\n",
           register_ns, n);
    printf("@ dlsym_libc_ns %.2f ns per call (peer: dlsym on a libc handle, %d names in "
           "rotation) lower\n",
           dlsym_ns, NDLSYM);

    /* The entries stay registered until the process exits: the table may
     * keep pointing at them, so nothing is freed. */
    dlclose(w.libc);
    return 0;
}
