/*
 * test_static.c: the static pointer table.
 *
 * Keys are XXH3-128 (checked against xxHash's published test vectors and
 * against `xxh128sum` output for the documented name encoding); entries
 * declared with the macros are registered before main; lookups give the
 * entry, or TT_ENOTFOUND / TT_ETYPE with messages that name what went
 * wrong; conflicts are reported with both sites, before main too, and a
 * registration without memory (malloc made to fail) as TT_STATIC_FAILED;
 * a real shared object registers on dlopen and unregisters on dlclose;
 * objects of static entries are built once per heap and are roots until
 * their entry goes; closures decode with bounds checks; lookups stay right
 * while another thread registers and unregisters.
 */
#include <dlfcn.h>
#include <pthread.h>

#include "tt_test.h"

/* ------------------------------------------------------------------ */
/* Conflicts, recorded from before main                                 */

struct conflict_rec {
    int kind;
    char message[768];
};
static struct conflict_rec conflicts[16];
static int nconflicts;
static int decision = TT_STATIC_KEEP_EXISTING;

static int record_conflict(const tt_static_conflict *c, void *ctx)
{
    (void)ctx;
    if (nconflicts < 16) {
        conflicts[nconflicts].kind = c->kind;
        snprintf(conflicts[nconflicts].message, sizeof conflicts[0].message, "%s", c->message);
    }
    nconflicts++;
    return decision;
}

/* Installed before the entries below are registered. */
TT_STATIC_CONFLICT_HANDLER(record_conflict, NULL);

/* ------------------------------------------------------------------ */
/* Entries of this program                                              */

static int add(int a, int b) { return a + b; }
static TT_STATIC_FN(add_entry, "demo", "math", "add", "int(int,int)", add); enum { ADD_LINE = __LINE__ };

static int answer(void) { return 42; }
TT_STATIC_FN(answer_entry, "tether", "test", "answer", "int(void)", answer);

static const double pi = 3.14159;
static TT_STATIC_DATA(pi_entry, "tether", "test", "pi", "double", &pi);

/* Declared twice: the second is refused before main, and recorded. */
static int first(void) { return 1; }
static int second(void) { return 2; }
static TT_STATIC_FN(twice_a, "tether", "test", "twice", "int(void)", first); enum { TWICE_A_LINE = __LINE__ };
static TT_STATIC_FN(twice_b, "tether", "test", "twice", "int(void)", second); enum { TWICE_B_LINE = __LINE__ };

struct box {
    tt_ref next;
    long value;
};
static const tt_type box_type = TT_TYPE_INIT(struct box, next);

static int builds;
static tt_ref build_box(tt_thread *t, const tt_static *e)
{
    (void)e;
    builds++;
    tt_ref r = tt_alloc(t, &box_type);
    if (!tt_is_null(r)) TT_PTR(struct box, r)->value = 1234;
    return r;
}
static TT_STATIC_OBJECT(box_entry, "tether", "test", "box", "struct box", build_box);

/* ------------------------------------------------------------------ */
/* Keys                                                                 */

/* xxHash's sanity buffer: its test vectors hash prefixes of it. */
static void fill_sanity_buffer(uint8_t *p, size_t n)
{
    uint64_t gen = 2654435761U; /* PRIME32 */
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)(gen >> 56);
        gen *= UINT64_C(11400714785074694797); /* PRIME64 */
    }
}

/* XXH3-128, seed 0, from xxHash's published sanity vectors (cli/
 * xsum_sanity_check.c, XSUM_XXH128_testdata): {length, low64, high64}. */
static const struct {
    size_t len;
    uint64_t lo, hi;
} xxh128_vectors[] = {
    {0, UINT64_C(0x6001C324468D497F), UINT64_C(0x99AA06D3014798D8)},
    {1, UINT64_C(0xC44BDFF4074EECDB), UINT64_C(0xA6CD5E9392000F6A)},
    {6, UINT64_C(0x3E7039BDDA43CFC6), UINT64_C(0x082AFE0B8162D12A)},
    {12, UINT64_C(0x061A192713F69AD9), UINT64_C(0x6E3EFD8FC7802B18)},
    {24, UINT64_C(0x1E7044D28B1B901D), UINT64_C(0x0CE966E4678D3761)},
    {48, UINT64_C(0xF942219AED80F67B), UINT64_C(0xA002AC4E5478227E)},
    {81, UINT64_C(0x5E8BAFB9F95FB803), UINT64_C(0x4952F58181AB0042)},
    {222, UINT64_C(0xF1AEBD597CEC6B3A), UINT64_C(0x337E09641B948717)},
    {403, UINT64_C(0xCDEB804D65C6DEA4), UINT64_C(0x1B6DE21E332DD73D)},
    {512, UINT64_C(0x617E49599013CB6B), UINT64_C(0x18D2D110DCC9BCA1)},
    {2048, UINT64_C(0xDD59E2C3A5F038E0), UINT64_C(0xF736557FD47073A5)},
    {2240, UINT64_C(0x6E73A90539CF2948), UINT64_C(0xCCB134FBFA7CE49D)},
    {2367, UINT64_C(0xCB37AEB9E5D361ED), UINT64_C(0xE89C0F6FF369B427)},
};

static void test_hash_vectors(void)
{
    static uint8_t buf[4096 + 64 + 1];
    fill_sanity_buffer(buf, sizeof buf);
    for (size_t i = 0; i < sizeof xxh128_vectors / sizeof xxh128_vectors[0]; i++) {
        tt_static_key k = tt_static_hash128(xxh128_vectors[i].len ? buf : NULL, xxh128_vectors[i].len);
        CHECK_EQU(k.lo, xxh128_vectors[i].lo);
        CHECK_EQU(k.hi, xxh128_vectors[i].hi);
    }
    /* The text form is what `xxh128sum` prints for the same bytes. */
    char text[TT_STATIC_KEY_TEXT];
    CHECK_STREQ(tt_static_key_to_text(tt_static_hash128("", 0), text), "99aa06d3014798d86001c324468d497f");
    CHECK_STREQ(tt_static_key_to_text(tt_static_hash128("abc", 3), text), "06b05ab6733a618578af5f94892f3950");
}

/* The documented encoding of names: `printf 'demo\0math\0add' | xxh128sum`
 * and `printf 'int(int,int)' | xxh128sum`. */
static void test_name_keys(void)
{
    char text[TT_STATIC_KEY_TEXT];
    tt_static_key k = tt_static_key_for("demo", "math", "add");
    CHECK_STREQ(tt_static_key_to_text(k, text), "a21986c19406b4f9ad089c071eeaa782");
    CHECK(tt_static_key_eq(k, tt_static_hash128("demo\0math\0add", 13)));
    CHECK_STREQ(tt_static_key_to_text(tt_static_key_for("tether", "test", "answer"), text),
                "a38f1f0aef8edf1ff708e59b83388b0c");
    tt_type_tag tag = tt_type_tag_for("int(int,int)");
    CHECK_STREQ(tt_static_key_to_text((tt_static_key){tag.hi, tag.lo}, text),
                "f2b3a21a045345edde0eeab1c6ab9d67");
    CHECK_STREQ(tt_type_tag_name(tag), "int(int,int)");
    /* The separators keep ("a.b","c") and ("a","b.c") apart. */
    CHECK(!tt_static_key_eq(tt_static_key_for("a.b", "c", "d"), tt_static_key_for("a", "b.c", "d")));
    CHECK(!tt_static_key_eq(tt_static_key_for("ab", "c", "d"), tt_static_key_for("a", "bc", "d")));

    tt_clear_error();
    k = tt_static_key_for("demo", "", "add");
    CHECK_ERR(TT_EINVAL);
    CHECK_CONTAINS(tt_last_error()->message, "module");
    CHECK(k.hi == 0 && k.lo == 0);
    tt_static_key_for(NULL, "m", "n");
    CHECK_ERR(TT_EINVAL);
    static char big[1100];
    memset(big, 'x', sizeof big - 1);
    tt_static_key_for("a", "b", big);
    CHECK_ERR(TT_EINVAL);
    CHECK_CONTAINS(tt_last_error()->message, "1024");
    tt_type_tag z = tt_type_tag_for("");
    CHECK_ERR(TT_EINVAL);
    CHECK(z.hi == 0 && z.lo == 0);
    CHECK(tt_type_tag_name((tt_type_tag){3, 4}) == NULL);
}

static void test_key_forms(void)
{
    tt_static_key k = {UINT64_C(0x0102030405060708), UINT64_C(0x090a0b0c0d0e0f10)};
    uint8_t b[TT_STATIC_KEY_BYTES];
    tt_static_key_to_bytes(k, b);
    for (int i = 0; i < 16; i++) CHECK_EQ(b[i], i + 1);
    CHECK(tt_static_key_eq(tt_static_key_from_bytes(b), k));
    char text[TT_STATIC_KEY_TEXT];
    CHECK_STREQ(tt_static_key_to_text(k, text), "0102030405060708090a0b0c0d0e0f10");
    tt_static_key back = {0, 0};
    CHECK_EQ(tt_static_key_parse("0102030405060708090A0B0C0D0E0F10", 32, &back), TT_OK);
    CHECK(tt_static_key_eq(back, k));

    /* Errors leave *out alone and say what is wrong. */
    tt_static_key out = {7, 7};
    CHECK_EQ(tt_static_key_parse("0102030405060708090a0b0c0d0e0f1", 31, &out), TT_EINVAL);
    CHECK_CONTAINS(tt_last_error()->message, "31 characters");
    CHECK_EQ(tt_static_key_parse("0102030405060708090a0b0c0d0e0fx0", 32, &out), TT_EINVAL);
    CHECK_CONTAINS(tt_last_error()->message, "character 30");
    CHECK_EQ(tt_static_key_parse(" 102030405060708090a0b0c0d0e0f10", 32, &out), TT_EINVAL);
    CHECK_EQ(tt_static_key_parse(NULL, 0, &out), TT_EINVAL);
    CHECK(out.hi == 7 && out.lo == 7);
    /* Only `len` characters are read: the text needs no NUL. */
    CHECK_EQ(tt_static_key_parse("0102030405060708090a0b0c0d0e0f10zzzz", 32, &out), TT_OK);
}

/* ------------------------------------------------------------------ */
/* Entries, lookup, information                                         */

static void test_registered_before_main(void)
{
    tt_type_tag int2 = tt_type_tag_for("int(int,int)");
    const tt_static *e = tt_static_lookup(tt_static_key_for("demo", "math", "add"), int2);
    REQUIRE(e == &add_entry);
    int (*fn)(int, int) = (int (*)(int, int))tt_static_fn(e);
    REQUIRE(fn != NULL);
    CHECK_EQ(fn(2, 3), 5);
    CHECK(tt_static_data(e) == NULL);
    CHECK_ERR(TT_EINVAL);

    tt_static_info info;
    CHECK_EQ(tt_static_info_of(e, &info), TT_OK);
    CHECK_STREQ(info.ns, "demo");
    CHECK_STREQ(info.module, "math");
    CHECK_STREQ(info.name, "add");
    CHECK_STREQ(info.type_name, "int(int,int)");
    CHECK_CONTAINS(info.file, "test_static.c");
    CHECK_EQ(info.line, ADD_LINE);
    CHECK_EQ(info.kind, TT_STATIC_KIND_FN);
    CHECK(info.registered);
    CHECK(tt_static_key_eq(info.key, tt_static_key_of(e)));
    CHECK(tt_type_tag_eq(info.tag, int2));

    const tt_static *d = tt_static_lookup(tt_static_key_of(&pi_entry), tt_type_tag_for("double"));
    REQUIRE(d != NULL);
    CHECK(*(const double *)tt_static_data(d) == 3.14159);
    CHECK(tt_static_fn(d) == NULL);
    CHECK_ERR(TT_EINVAL);

    /* The value straight from the table. */
    tt_static_code code = tt_static_lookup_fn(tt_static_key_of(&add_entry), int2);
    REQUIRE(code != NULL);
    CHECK_EQ(((int (*)(int, int))code)(20, 22), 42);
    CHECK(tt_static_lookup_data(tt_static_key_of(&pi_entry), tt_type_tag_for("double")) == &pi);
    tt_clear_error();
    CHECK(tt_static_lookup_fn(tt_static_key_of(&pi_entry), tt_type_tag_for("double")) == NULL);
    CHECK_ERR(TT_ETYPE);
    CHECK_CONTAINS(tt_last_error()->message, "tether.test.pi of type 'double' is data, not a function");
    CHECK(tt_static_lookup_data(tt_static_key_of(&add_entry), int2) == NULL);
    CHECK_ERR(TT_ETYPE);
    CHECK_CONTAINS(tt_last_error()->message, "is a function, not data");
    CHECK(tt_static_lookup_data(tt_static_key_of(&add_entry), tt_type_tag_for("double")) == NULL);
    CHECK_ERR(TT_ETYPE);
    CHECK_CONTAINS(tt_last_error()->message, "not the expected 'double'");
    CHECK(tt_static_lookup_fn(tt_static_key_for("demo", "math", "nothing"), int2) == NULL);
    CHECK_ERR(TT_ENOTFOUND);
    CHECK(tt_static_lookup_data(tt_static_key_of(&box_entry), tt_type_tag_for("struct box")) == NULL);
    CHECK_CONTAINS(tt_last_error()->message, "is an object, not data");

    /* Registering again is harmless. */
    CHECK_EQ(tt_static_register(&add_entry), TT_OK);
    CHECK(tt_static_lookup(tt_static_key_of(&add_entry), int2) == &add_entry);
}

/* With a misuse handler set, failed lookups are also reported, named by
 * what went wrong, at the caller's line, after the last error is set; a
 * lookup that succeeds reports nothing, and without a handler nothing is
 * reported. */
static tt_test_report lookup_rep;
static void record_lookup(const tt_misuse *m, void *ctx) { tt_test_report_add(&lookup_rep, m, ctx); }

static void test_lookup_misuse_handler(void)
{
    memset(&lookup_rep, 0, sizeof lookup_rep);
    tt_static_set_misuse_handler(record_lookup, &lookup_rep);
    tt_type_tag dbl = tt_type_tag_for("double");
    CHECK(tt_static_lookup_data(tt_static_key_of(&pi_entry), dbl) == &pi);
    CHECK_EQ(lookup_rep.calls, 0);
    int line = __LINE__; const tt_static *e = tt_static_lookup(tt_static_key_of(&pi_entry), tt_type_tag_for("int"));
    CHECK(e == NULL);
    CHECK_EQ(lookup_rep.calls, 1);
    CHECK_STREQ(lookup_rep.what, "static-wrong-type");
    CHECK_EQ(lookup_rep.code, TT_ETYPE);
    CHECK_EQ(lookup_rep.line, line);
    CHECK_STREQ(lookup_rep.file, __FILE__);
    CHECK_CONTAINS(lookup_rep.message, "not the expected 'int'");
    CHECK(lookup_rep.ctx == &lookup_rep);
    line = __LINE__; tt_static_code c = tt_static_lookup_fn(tt_static_key_of(&pi_entry), dbl);
    CHECK(c == NULL);
    CHECK_STREQ(lookup_rep.what, "static-wrong-kind");
    CHECK_EQ(lookup_rep.line, line);
    line = __LINE__; void *d = tt_static_lookup_data(tt_static_key_for("demo", "math", "nothing"), dbl);
    CHECK(d == NULL);
    CHECK_STREQ(lookup_rep.what, "static-unknown-key");
    CHECK_EQ(lookup_rep.code, TT_ENOTFOUND);
    CHECK_EQ(lookup_rep.line, line);
    CHECK_EQ(lookup_rep.calls, 3);
    /* the status is still in the last error */
    CHECK_ERR(TT_ENOTFOUND);
    tt_static_set_misuse_handler(NULL, NULL);
    CHECK(tt_static_lookup(tt_static_key_of(&pi_entry), tt_type_tag_for("int")) == NULL);
    CHECK_EQ(lookup_rep.calls, 3);
    tt_clear_error();
}

static void test_lookup_errors(void)
{
    char text[TT_STATIC_KEY_TEXT];
    tt_static_key unknown = tt_static_key_for("demo", "math", "nothing");
    tt_clear_error();
    CHECK(tt_static_lookup(unknown, tt_type_tag_for("int(int,int)")) == NULL);
    CHECK_ERR(TT_ENOTFOUND);
    CHECK_CONTAINS(tt_last_error()->message, tt_static_key_to_text(unknown, text));
    CHECK_CONTAINS(tt_last_error()->file, "test_static.c");
    CHECK(tt_static_find(unknown) == NULL);
    CHECK_ERR(TT_ENOTFOUND);

    /* A key that differs in one bit of its high half. */
    tt_static_key k = tt_static_key_of(&add_entry);
    k.hi ^= 1;
    CHECK(tt_static_lookup(k, tt_type_tag_for("int(int,int)")) == NULL);
    CHECK_ERR(TT_ENOTFOUND);

    /* The wrong type names both types. */
    CHECK(tt_static_lookup(tt_static_key_of(&add_entry), tt_type_tag_for("double")) == NULL);
    CHECK_ERR(TT_ETYPE);
    CHECK_CONTAINS(tt_last_error()->message, "demo.math.add");
    CHECK_CONTAINS(tt_last_error()->message, "'int(int,int)'");
    CHECK_CONTAINS(tt_last_error()->message, "'double'");
    /* A tag this process never named is shown as a tag. */
    tt_type_tag odd = {1, 2};
    CHECK(tt_static_lookup(tt_static_key_of(&add_entry), odd) == NULL);
    CHECK_ERR(TT_ETYPE);
    CHECK_CONTAINS(tt_last_error()->message, "type tag 00000000000000010000000000000002");

    /* tt_static_find ignores the type. */
    CHECK(tt_static_find(tt_static_key_of(&add_entry)) == &add_entry);

    /* Not an entry. */
    tt_static junk;
    memset(&junk, 0, sizeof junk);
    tt_static_info info;
    CHECK_EQ(tt_static_info_of(&junk, &info), TT_EINVAL);
    CHECK(tt_static_fn(&junk) == NULL);
    CHECK(tt_static_data(NULL) == NULL);
    tt_static_key zero = tt_static_key_of(&junk);
    CHECK_ERR(TT_EINVAL);
    CHECK(zero.hi == 0 && zero.lo == 0);
}

static void test_enumeration(void)
{
    size_t n = tt_static_count();
    CHECK_CMPU(n, >=, 5);
    tt_static_key *keys = calloc(n + 4, sizeof *keys);
    REQUIRE(keys != NULL);
    CHECK_EQU(tt_static_keys(keys, n + 4), n);
    int found_add = 0, found_pi = 0, found_twice = 0;
    for (size_t i = 0; i < n; i++) {
        CHECK(tt_static_find(keys[i]) != NULL);
        if (tt_static_key_eq(keys[i], tt_static_key_of(&add_entry))) found_add++;
        if (tt_static_key_eq(keys[i], tt_static_key_of(&pi_entry))) found_pi++;
        if (tt_static_key_eq(keys[i], tt_static_key_of(&twice_a))) found_twice++;
    }
    CHECK_EQ(found_add, 1);
    CHECK_EQ(found_pi, 1);
    CHECK_EQ(found_twice, 1);
    /* Registration order: two entries registered now come last, in order. */
    tt_static x = TT_STATIC_INIT(TT_STATIC_KIND_DATA, "tether", "order", "x", "double", NULL,
                                 (void *)&pi, NULL);
    tt_static y = TT_STATIC_INIT(TT_STATIC_KIND_DATA, "tether", "order", "y", "double", NULL,
                                 (void *)&pi, NULL);
    REQUIRE(tt_static_register(&y) == TT_OK && tt_static_register(&x) == TT_OK);
    tt_static_key *all = calloc(n + 2, sizeof *all);
    REQUIRE(all != NULL);
    CHECK_EQU(tt_static_keys(all, n + 2), n + 2);
    CHECK(tt_static_key_eq(all[n], tt_static_key_of(&y)));
    CHECK(tt_static_key_eq(all[n + 1], tt_static_key_of(&x)));
    CHECK_EQ(tt_static_unregister(&y), TT_OK);
    CHECK_EQU(tt_static_keys(all, n + 2), n + 1);
    CHECK(tt_static_key_eq(all[n], tt_static_key_of(&x)));
    CHECK_EQ(tt_static_unregister(&x), TT_OK);
    free(all);
    /* A short array gets the first keys, and the true count. */
    tt_static_key two[2];
    CHECK_EQU(tt_static_keys(two, 2), n);
    CHECK(tt_static_key_eq(two[0], keys[0]) && tt_static_key_eq(two[1], keys[1]));
    CHECK_EQU(tt_static_keys(NULL, 0), n);
    free(keys);
}

/* ------------------------------------------------------------------ */
/* Conflicts and invalid entries                                        */

static void test_conflict_before_main(void)
{
    /* twice_b lost to twice_a before main. */
    REQUIRE(nconflicts >= 1);
    CHECK_EQ(conflicts[0].kind, TT_STATIC_DUPLICATE);
    char site[64];
    snprintf(site, sizeof site, "test_static.c:%d", TWICE_A_LINE);
    CHECK_CONTAINS(conflicts[0].message, site);
    snprintf(site, sizeof site, "test_static.c:%d", TWICE_B_LINE);
    CHECK_CONTAINS(conflicts[0].message, site);
    CHECK_CONTAINS(conflicts[0].message, "tether.test.twice");
    const tt_static *e = tt_static_lookup(tt_static_key_of(&twice_a), tt_type_tag_for("int(void)"));
    REQUIRE(e == &twice_a);
    CHECK_EQ(((int (*)(void))tt_static_fn(e))(), 1);
    tt_static_info info;
    tt_static_info_of(&twice_b, &info);
    CHECK(!info.registered);
    /* Its destructor's unregister must not remove the winner. */
    CHECK_EQ(tt_static_unregister(&twice_b), TT_ENOTFOUND);
    CHECK(tt_static_find(tt_static_key_of(&twice_a)) == &twice_a);
    (void)second;
}

static int other(void) { return 7; }

static void test_conflict_replace(void)
{
    nconflicts = 0;
    tt_static dup = TT_STATIC_INIT(TT_STATIC_KIND_FN, "tether", "test", "answer", "int(void)",
                                   (tt_static_code)other, NULL, NULL);
    CHECK_EQ(tt_static_register(&dup), TT_EEXIST);
    CHECK_CONTAINS(tt_last_error()->message, "declared twice");
    CHECK_EQ(nconflicts, 1);
    CHECK(tt_static_find(tt_static_key_of(&answer_entry)) == &answer_entry);

    decision = TT_STATIC_REPLACE;
    CHECK_EQ(tt_static_register(&dup), TT_OK);
    decision = TT_STATIC_KEEP_EXISTING;
    CHECK_EQ(nconflicts, 2);
    const tt_static *e = tt_static_lookup(tt_static_key_of(&answer_entry), tt_type_tag_for("int(void)"));
    REQUIRE(e == &dup);
    CHECK_EQ(((int (*)(void))tt_static_fn(e))(), 7);
    tt_static_info info;
    tt_static_info_of(&answer_entry, &info);
    CHECK(!info.registered);
    /* Put the program's own entry back. */
    CHECK_EQ(tt_static_unregister(&dup), TT_OK);
    CHECK_EQ(tt_static_register(&answer_entry), TT_OK);
    CHECK(tt_static_find(tt_static_key_of(&answer_entry)) == &answer_entry);
}

/* Two different names that hash alike. XXH3-128 will not produce such a
 * pair on demand, so the test seam replaces the name hash. */
extern tt_static_key (*tt__static_name_hash_for_tests)(const char *, const char *, const char *);
static tt_static_key colliding_hash(const char *ns, const char *module, const char *name)
{
    (void)module;
    (void)name;
    if (strcmp(ns, "collide") == 0) return (tt_static_key){0x1234, 0x5678};
    return tt_static_hash128(ns, strlen(ns)); /* not used for other names here */
}

static void test_collision(void)
{
    nconflicts = 0;
    tt_static a = TT_STATIC_INIT(TT_STATIC_KIND_FN, "collide", "m", "first", "int(void)",
                                 (tt_static_code)first, NULL, NULL);
    tt_static b = TT_STATIC_INIT(TT_STATIC_KIND_FN, "collide", "m", "second", "int(void)",
                                 (tt_static_code)second, NULL, NULL);
    tt__static_name_hash_for_tests = colliding_hash;
    CHECK_EQ(tt_static_register(&a), TT_OK);
    CHECK_EQ(tt_static_register(&b), TT_EEXIST);
    tt__static_name_hash_for_tests = NULL;
    REQUIRE(nconflicts == 1);
    CHECK_EQ(conflicts[0].kind, TT_STATIC_COLLISION);
    CHECK_CONTAINS(conflicts[0].message, "collide.m.first");
    CHECK_CONTAINS(conflicts[0].message, "collide.m.second");
    CHECK_CONTAINS(conflicts[0].message, "same key 00000000000012340000000000005678");
    CHECK_EQ(tt_static_unregister(&a), TT_OK);
}

static void test_invalid_entries(void)
{
    nconflicts = 0;
    tt_static noname = TT_STATIC_INIT(TT_STATIC_KIND_FN, "tether", "test", "", "int(void)",
                                      (tt_static_code)first, NULL, NULL);
    CHECK_EQ(tt_static_register(&noname), TT_EINVAL);
    CHECK_CONTAINS(tt_last_error()->message, "name is missing");
    tt_static nofn = TT_STATIC_INIT(TT_STATIC_KIND_FN, "tether", "test", "nofn", "int(void)", NULL,
                                    NULL, NULL);
    CHECK_EQ(tt_static_register(&nofn), TT_EINVAL);
    tt_static notype = TT_STATIC_INIT(TT_STATIC_KIND_DATA, "tether", "test", "notype", "", NULL,
                                      (void *)&pi, NULL);
    CHECK_EQ(tt_static_register(&notype), TT_EINVAL);
    CHECK_CONTAINS(tt_last_error()->message, "type name");
    tt_static badkind = TT_STATIC_INIT(9, "tether", "test", "badkind", "int", NULL, (void *)&pi, NULL);
    CHECK_EQ(tt_static_register(&badkind), TT_EINVAL);
    tt_static junk;
    memset(&junk, 0, sizeof junk);
    CHECK_EQ(tt_static_register(&junk), TT_EINVAL);
    CHECK_CONTAINS(tt_last_error()->message, "signature");
    CHECK_EQ(tt_static_register(NULL), TT_EINVAL);
    CHECK_EQ(nconflicts, 6);
    for (int i = 0; i < 6 && i < 16; i++) CHECK_EQ(conflicts[i].kind, TT_STATIC_INVALID);
    CHECK_EQ(tt_static_unregister(&junk), TT_EINVAL);
}

/* Registration while out of memory (malloc failing, see
 * tt_test_alloc_fail): the conflict handler is told TT_STATIC_FAILED with
 * the entry's name and site, the call fails with TT_ENOMEM at the entry's
 * site, and the entry is not registered; with memory back, it registers.
 * First an entry whose type name the process has not seen (recording the
 * name needs memory), then entries of a known type until the table or
 * its order needs to grow. */
enum { OOM_ENTRIES = 4096 };
static void check_failed_registration(tt_static *e, int line)
{
    int failures = tt__failures;
    CHECK_EQ(tt_static_register(e), TT_ENOMEM);
    CHECK_ERR(TT_ENOMEM);
    CHECK_STREQ(tt_last_error()->file, __FILE__);
    CHECK_EQ(tt_last_error()->line, line);
    CHECK_CONTAINS(tt_last_error()->message, "out of memory");
    REQUIRE(nconflicts == 1);
    CHECK_EQ(conflicts[0].kind, TT_STATIC_FAILED);
    CHECK_CONTAINS(conflicts[0].message, e->name);
    CHECK_CONTAINS(conflicts[0].message, "out of memory");
    char site[64];
    snprintf(site, sizeof site, "test_static.c:%d", line);
    CHECK_CONTAINS(conflicts[0].message, site);
    tt_static_info info;
    tt_static_info_of(e, &info);
    CHECK(!info.registered);
    CHECK(tt_static_find(tt_static_key_of(e)) == NULL);
    if (tt__failures != failures) fprintf(stderr, "  (the entry %s)\n", e->name);
}

static void test_register_out_of_memory(void)
{
    int line = __LINE__; tt_static fresh = TT_STATIC_INIT(TT_STATIC_KIND_DATA, "tether", "test", "oom_fresh", "a type never named before", NULL, (void *)&pi, NULL);
    nconflicts = 0;
    tt_test_alloc_fail(1);
    long before = tt_test_alloc_failures();
    check_failed_registration(&fresh, line);
    CHECK_CMPU(tt_test_alloc_failures(), >, before);
    tt_test_alloc_fail(0);
    CHECK_EQ(tt_static_register(&fresh), TT_OK);
    CHECK(tt_static_find(tt_static_key_of(&fresh)) == &fresh);
    CHECK_EQ(tt_static_unregister(&fresh), TT_OK);

    /* A known type: entries register without memory until the table or
     * the registration order must grow. */
    tt_static *es = calloc(OOM_ENTRIES, sizeof *es);
    char (*names)[24] = calloc(OOM_ENTRIES, sizeof *names);
    REQUIRE(es && names);
    for (int i = 0; i < OOM_ENTRIES; i++) {
        snprintf(names[i], sizeof names[i], "oom%d", i);
        line = __LINE__; es[i] = (tt_static)TT_STATIC_INIT(TT_STATIC_KIND_DATA, "tether", "test", names[i], "double", NULL, (void *)&pi, NULL);
    }
    nconflicts = 0;
    int n = 0, rc = TT_OK;
    tt_test_alloc_fail(1);
    while (n < OOM_ENTRIES && (rc = tt_static_register(&es[n])) == TT_OK) n++;
    tt_test_alloc_fail(0);
    CHECK_EQ(rc, TT_ENOMEM);
    REQUIRE(n < OOM_ENTRIES);
    printf("   %d entries of a known type registered before one needed memory\n", n);
    nconflicts = 0;
    tt_test_alloc_fail(1);
    check_failed_registration(&es[n], line); /* the same again: still no memory */
    tt_test_alloc_fail(0);
    CHECK_EQ(tt_static_register(&es[n]), TT_OK);
    CHECK(tt_static_lookup(tt_static_key_of(&es[n]), tt_type_tag_for("double")) == &es[n]);
    for (int i = 0; i <= n; i++) CHECK_EQ(tt_static_unregister(&es[i]), TT_OK);
    free(es);
    free(names);
}

/* The default handler aborts with both sites. */
static void register_duplicate_default(void *arg)
{
    (void)arg;
    tt_static_set_conflict_handler(NULL, NULL);
    DEATH_LINE(); static tt_static dup = TT_STATIC_INIT(TT_STATIC_KIND_FN, "demo", "math", "add", "int(int,int)", (tt_static_code)add, NULL, NULL);
    tt_static_register(&dup);
}

static void test_default_handler_aborts(void)
{
    CHECK_DIES(register_duplicate_default, NULL, "declared twice");
}

/* ------------------------------------------------------------------ */
/* Unregistration and shared libraries                                  */

static void test_unregister(void)
{
    tt_static e = TT_STATIC_INIT(TT_STATIC_KIND_DATA, "tether", "test", "transient", "double", NULL,
                                 (void *)&pi, NULL);
    tt_type_tag dbl = tt_type_tag_for("double");
    size_t n = tt_static_count();
    CHECK_EQ(tt_static_register(&e), TT_OK);
    CHECK_EQU(tt_static_count(), n + 1);
    tt_static_key k = tt_static_key_of(&e);
    CHECK(tt_static_lookup(k, dbl) == &e);
    CHECK_EQ(tt_static_unregister(&e), TT_OK);
    CHECK_EQU(tt_static_count(), n);
    CHECK(tt_static_lookup(k, dbl) == NULL);
    CHECK_ERR(TT_ENOTFOUND);
    CHECK_CONTAINS(tt_last_error()->message, "tether.test.transient");
    CHECK_CONTAINS(tt_last_error()->message, "was unregistered");
    CHECK_EQ(tt_static_unregister(&e), TT_ENOTFOUND);
    /* Registered again, it is found again, and no longer "unloaded". */
    CHECK_EQ(tt_static_register(&e), TT_OK);
    CHECK(tt_static_lookup(k, dbl) == &e);
    CHECK_EQ(tt_static_unregister(&e), TT_OK);
    /* The key stays computable from the names. */
    CHECK(tt_static_key_eq(tt_static_key_of(&e), k));
}

static void test_shared_library(void)
{
    tt_static_key triple = tt_static_key_for("tether", "plugin", "triple");
    tt_static_key greeting = tt_static_key_for("tether", "plugin", "greeting");
    tt_type_tag int1 = tt_type_tag_for("int(int)");
    CHECK(tt_static_lookup(triple, int1) == NULL);
    CHECK_CONTAINS(tt_last_error()->message, "no static entry");

    size_t n = tt_static_count();
    nconflicts = 0;
    void *lib = dlopen(TT_TEST_PLUGIN, RTLD_NOW | RTLD_LOCAL);
    if (!lib) fprintf(stderr, "dlopen: %s\n", dlerror());
    REQUIRE(lib != NULL);
    /* Two entries registered; the third conflicted with this program's. */
    CHECK_EQU(tt_static_count(), n + 2);
    REQUIRE(nconflicts == 1);
    CHECK_EQ(conflicts[0].kind, TT_STATIC_DUPLICATE);
    CHECK_CONTAINS(conflicts[0].message, "test_static.c:");
    CHECK_CONTAINS(conflicts[0].message, "static_plugin.c:");
    CHECK(tt_static_find(tt_static_key_of(&answer_entry)) == &answer_entry);

    const tt_static *e = tt_static_lookup(triple, int1);
    REQUIRE(e != NULL);
    CHECK_EQ(((int (*)(int))tt_static_fn(e))(14), 42);
    const tt_static *g = tt_static_lookup(greeting, tt_type_tag_for("char[]"));
    REQUIRE(g != NULL);
    CHECK_STREQ((const char *)tt_static_data(g), "hello from the plugin");
    tt_static_info info;
    CHECK_EQ(tt_static_info_of(e, &info), TT_OK);
    CHECK_CONTAINS(info.file, "static_plugin.c");

    CHECK_EQ(dlclose(lib), 0);
    CHECK_EQU(tt_static_count(), n);
    CHECK(tt_static_lookup(triple, int1) == NULL);
    CHECK_ERR(TT_ENOTFOUND);
    CHECK_CONTAINS(tt_last_error()->message, "tether.plugin.triple");
    CHECK_CONTAINS(tt_last_error()->message, "static_plugin.c");
    CHECK_CONTAINS(tt_last_error()->message, "its library was unloaded");
    /* The conflicting entry's destructor left this program's alone. */
    CHECK(tt_static_find(tt_static_key_of(&answer_entry)) == &answer_entry);

    /* Loading it again registers it again. */
    lib = dlopen(TT_TEST_PLUGIN, RTLD_NOW | RTLD_LOCAL);
    REQUIRE(lib != NULL);
    e = tt_static_lookup(triple, int1);
    REQUIRE(e != NULL);
    CHECK_EQ(((int (*)(int))tt_static_fn(e))(5), 15);
    CHECK_EQ(dlclose(lib), 0);
    CHECK(tt_static_find(triple) == NULL);
}

/* ------------------------------------------------------------------ */
/* Objects of static entries                                            */

static tt_heap *open_heap(void)
{
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.on_misuse = tt_test_record_misuse;
    return tt_heap_open(&cfg);
}

static void test_static_objects(void)
{
    tt_heap *h = open_heap();
    REQUIRE(h != NULL);
    tt_thread *t = tt_thread_attach(h);
    builds = 0;
    tt_ref a = tt_static_object(t, &box_entry);
    REQUIRE(!tt_is_null(a));
    CHECK_EQ(TT_PTR(struct box, a)->value, 1234);
    CHECK_EQ(builds, 1);
    /* Rooted by the heap: it survives collections with nothing else
     * holding it, and the same object comes back. */
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 10000; j++) tt_alloc(t, &box_type);
        tt_collect(t);
    }
    tt_static_key_parse("x", 1, &(tt_static_key){0, 0}); /* leaves an error behind */
    tt_ref again = tt_static_object(t, &box_entry);
    CHECK_REF(again, a);
    CHECK_EQ(TT_PTR(struct box, again)->value, 1234);
    CHECK_EQ(builds, 1);
    CHECK_EQU(tt_test_stats(h).static_objects, 1);
    tt_verify_report rep;
    CHECK_EQ(tt_heap_verify(t, &rep), TT_OK);
    CHECK_CMPU(rep.objects, >=, 1);

    /* Another heap builds its own. */
    tt_heap *h2 = open_heap();
    tt_thread *t2 = tt_thread_attach(h2);
    tt_clear_error();
    tt_static_key_parse("x", 1, &(tt_static_key){0, 0});
    tt_ref b = tt_static_object(t2, &box_entry);
    REQUIRE(!tt_is_null(b));
    CHECK_ERR(TT_EINVAL); /* the build succeeded: the caller's last error is kept */
    CHECK_CONTAINS(tt_last_error()->message, "1 characters");
    CHECK(!tt_same(a, b));
    CHECK_EQ(builds, 2);
    tt_heap_close(h2);

    /* Wrong kinds and unregistered entries. */
    CHECK(tt_is_null(tt_static_object(t, &add_entry)));
    CHECK_ERR(TT_EINVAL);
    CHECK(tt_is_null(tt_static_object(t, NULL)));
    CHECK_ERR(TT_EINVAL);
    tt_static loose = TT_STATIC_INIT(TT_STATIC_KIND_OBJECT, "tether", "test", "loose", "struct box",
                                     NULL, NULL, build_box);
    CHECK(tt_is_null(tt_static_object(t, &loose)));
    CHECK_ERR(TT_ENOTFOUND);
    tt_heap_close(h);
}

/* An object entry registered at run time: once unregistered, its object
 * is no longer a root. */
static void test_static_object_unregistered(void)
{
    tt_heap *h = open_heap();
    tt_thread *t = tt_thread_attach(h);
    tt_static e = TT_STATIC_INIT(TT_STATIC_KIND_OBJECT, "tether", "test", "short-lived",
                                 "struct box", NULL, NULL, build_box);
    REQUIRE(tt_static_register(&e) == TT_OK);
    tt_ref obj = tt_static_object(t, &e);
    REQUIRE(!tt_is_null(obj));
    tt_weak w = tt_weak_new(t, obj);
    tt_collect(t);
    CHECK(!tt_is_null(tt_weak_get(t, w)));
    tt_verify_report before, after;
    CHECK_EQ(tt_heap_verify(t, &before), TT_OK);
    CHECK_EQ(tt_static_unregister(&e), TT_OK);
    /* No longer a root, even before the next collection drops it. */
    CHECK_EQ(tt_heap_verify(t, &after), TT_OK);
    CHECK_EQU(after.objects + 1, before.objects);
    tt_collect(t);
    CHECK(tt_is_null(tt_weak_get(t, w)));
    CHECK_EQU(tt_test_stats(h).static_objects, 0);
    CHECK(tt_is_null(tt_static_object(t, &e)));
    CHECK_ERR(TT_ENOTFOUND);
    /* Registered again: a new object. */
    REQUIRE(tt_static_register(&e) == TT_OK);
    tt_ref fresh = tt_static_object(t, &e);
    CHECK(!tt_is_null(fresh));
    CHECK_EQ(tt_static_unregister(&e), TT_OK);
    tt_weak_free(t, w);
    tt_heap_close(h);
}

static tt_static cyclic;
static tt_ref build_cyclic(tt_thread *t, const tt_static *e)
{
    (void)e;
    return tt_static_object(t, &cyclic); /* asks for itself */
}

static int failing_builds;
static tt_ref build_failing(tt_thread *t, const tt_static *e)
{
    (void)t;
    (void)e;
    failing_builds++;
    return TT_NULL;
}

static int foreign_word;
static tt_ref build_garbage(tt_thread *t, const tt_static *e)
{
    (void)t;
    (void)e;
    return (tt_ref){(uintptr_t)&foreign_word};
}

static void test_static_object_errors(void)
{
    tt_heap *h = open_heap();
    tt_thread *t = tt_thread_attach(h);
    cyclic = (tt_static)TT_STATIC_INIT(TT_STATIC_KIND_OBJECT, "tether", "test", "cyclic", "struct box",
                                       NULL, NULL, build_cyclic);
    REQUIRE(tt_static_register(&cyclic) == TT_OK);
    CHECK(tt_is_null(tt_static_object(t, &cyclic)));
    CHECK_ERR(TT_ESTATE);
    CHECK_CONTAINS(tt_last_error()->message, "cycle");
    CHECK_EQ(tt_static_unregister(&cyclic), TT_OK);

    tt_static fails = TT_STATIC_INIT(TT_STATIC_KIND_OBJECT, "tether", "test", "fails", "struct box",
                                     NULL, NULL, build_failing);
    REQUIRE(tt_static_register(&fails) == TT_OK);
    failing_builds = 0;
    CHECK(tt_is_null(tt_static_object(t, &fails)));
    CHECK_ERR(TT_EINVAL);
    CHECK_CONTAINS(tt_last_error()->message, "returned TT_NULL");
    CHECK(tt_is_null(tt_static_object(t, &fails)));
    CHECK_EQ(failing_builds, 2); /* tried again */
    CHECK_EQ(tt_static_unregister(&fails), TT_OK);

    if (tt_heap_checked(h)) {
        tt_static garbage = TT_STATIC_INIT(TT_STATIC_KIND_OBJECT, "tether", "test", "garbage",
                                           "struct box", NULL, NULL, build_garbage);
        REQUIRE(tt_static_register(&garbage) == TT_OK);
        tt_test_misuse_reset();
        CHECK(tt_is_null(tt_static_object(t, &garbage)));
        CHECK_CONTAINS(tt_test_last_misuse(), "bad-static-object");
        CHECK_EQ(tt_static_unregister(&garbage), TT_OK);
    }
    tt_heap_close(h);
}

/* ------------------------------------------------------------------ */
/* Closures                                                             */

static void test_closures(void)
{
    tt_static_key k = tt_static_key_of(&add_entry);
    const uint8_t payload[5] = {1, 2, 3, 4, 5};
    CHECK_EQU(tt_closure_encode(k, payload, 5, NULL, 0), TT_CLOSURE_HEADER + 5);
    uint8_t buf[2 * (TT_CLOSURE_HEADER + 5)];
    CHECK_EQU(tt_closure_encode(k, payload, 5, buf, sizeof buf), TT_CLOSURE_HEADER + 5);
    CHECK(memcmp(buf, "TTC\1", 4) == 0);
    uint8_t kb[16];
    tt_static_key_to_bytes(k, kb);
    CHECK(memcmp(buf + 4, kb, 16) == 0);
    CHECK(buf[20] == 0 && buf[21] == 0 && buf[22] == 0 && buf[23] == 5);
    /* A second closure right after the first, with no payload. */
    CHECK_EQU(tt_closure_encode(k, NULL, 0, buf + TT_CLOSURE_HEADER + 5, 5 + TT_CLOSURE_HEADER),
              TT_CLOSURE_HEADER);

    tt_closure c;
    size_t used = 0;
    CHECK_EQ(tt_closure_decode(buf, sizeof buf, &c, &used), TT_OK);
    CHECK_EQU(used, TT_CLOSURE_HEADER + 5);
    CHECK(tt_static_key_eq(c.key, k));
    CHECK_EQU(c.payload_len, 5);
    CHECK(c.payload == buf + TT_CLOSURE_HEADER);
    CHECK_EQ(tt_closure_decode(buf + used, TT_CLOSURE_HEADER, &c, &used), TT_OK);
    CHECK_EQU(c.payload_len, 0);
    CHECK_EQU(used, TT_CLOSURE_HEADER);

    /* Truncated anywhere: TT_ERANGE, and *out untouched. */
    tt_closure untouched = {{9, 9}, NULL, 99};
    for (size_t len = 0; len < TT_CLOSURE_HEADER + 5; len++) {
        c = untouched;
        CHECK_EQ(tt_closure_decode(buf, len, &c, NULL), TT_ERANGE);
        CHECK(c.payload_len == 99 && c.key.hi == 9);
    }
    CHECK_EQ(tt_closure_decode(buf, TT_CLOSURE_HEADER + 4, &c, NULL), TT_ERANGE);
    CHECK_CONTAINS(tt_last_error()->message, "truncated payload: 5 bytes declared, 4 present");
    CHECK_EQ(tt_closure_decode(buf, 10, &c, NULL), TT_ERANGE);
    CHECK_CONTAINS(tt_last_error()->message, "truncated header");

    /* Not a closure, or another version. */
    uint8_t bad[TT_CLOSURE_HEADER + 5];
    memcpy(bad, buf, sizeof bad);
    bad[0] = 'X';
    CHECK_EQ(tt_closure_decode(bad, sizeof bad, &c, NULL), TT_EINVAL);
    CHECK_CONTAINS(tt_last_error()->message, "not a closure");
    CHECK_EQ(tt_closure_decode(bad, 1, &c, NULL), TT_EINVAL);
    memcpy(bad, buf, sizeof bad);
    bad[3] = 2;
    CHECK_EQ(tt_closure_decode(bad, sizeof bad, &c, NULL), TT_EINVAL);
    CHECK_CONTAINS(tt_last_error()->message, "version 2");
    /* A declared length near 4 GiB must not wrap anything. */
    memcpy(bad, buf, sizeof bad);
    bad[20] = bad[21] = bad[22] = bad[23] = 0xff;
    CHECK_EQ(tt_closure_decode(bad, sizeof bad, &c, NULL), TT_ERANGE);

    CHECK_EQU(tt_closure_encode(k, NULL, 3, buf, sizeof buf), 0);
    CHECK_ERR(TT_EINVAL);
    CHECK_EQU(tt_closure_encode(k, payload, (size_t)UINT32_MAX + 1, NULL, 0), 0);
    CHECK_ERR(TT_EINVAL);
    CHECK_EQ(tt_closure_decode(NULL, 4, &c, NULL), TT_EINVAL);
}

/* ------------------------------------------------------------------ */
/* Lookups while another thread registers                               */

enum { CHURN = 21000 }; /* a multiple of 3: every i % 3 == 1 entry is unregistered */
static volatile int churn_done;
static long reader_misses, reader_hits;

static void *reader(void *arg)
{
    (void)arg;
    tt_static_key k = tt_static_key_of(&add_entry);
    tt_type_tag tag = tt_type_tag_for("int(int,int)");
    while (!__atomic_load_n(&churn_done, __ATOMIC_ACQUIRE)) {
        if (tt_static_lookup(k, tag) == &add_entry)
            reader_hits++;
        else
            reader_misses++;
    }
    return NULL;
}

static void test_concurrent_lookups(void)
{
    tt_static *es = calloc(CHURN, sizeof *es);
    char (*names)[24] = calloc(CHURN, sizeof *names);
    REQUIRE(es && names);
    pthread_t th;
    churn_done = 0;
    REQUIRE(pthread_create(&th, NULL, reader, NULL) == 0);
    for (int i = 0; i < CHURN; i++) {
        snprintf(names[i], sizeof names[i], "churn%d", i);
        es[i] = (tt_static)TT_STATIC_INIT(TT_STATIC_KIND_DATA, "tether", "churn", names[i], "double",
                                          NULL, (void *)&pi, NULL);
        CHECK_EQ(tt_static_register(&es[i]), TT_OK);
        if (i % 3 == 2) CHECK_EQ(tt_static_unregister(&es[i - 1]), TT_OK);
    }
    tt_type_tag dbl = tt_type_tag_for("double");
    for (int i = 0; i < CHURN; i++) {
        const tt_static *e = tt_static_lookup(tt_static_key_of(&es[i]), dbl);
        CHECK(e == (i % 3 == 1 ? NULL : &es[i]));
    }
    for (int i = 0; i < CHURN; i++)
        if (i % 3 != 1) CHECK_EQ(tt_static_unregister(&es[i]), TT_OK);
    __atomic_store_n(&churn_done, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    CHECK_EQ(reader_misses, 0);
    CHECK_CMPU((uint64_t)reader_hits, >, 0);
    free(es);
    free(names);
}

int main(void)
{
    RUN(test_hash_vectors);
    RUN(test_name_keys);
    RUN(test_key_forms);
    RUN(test_registered_before_main);
    RUN(test_lookup_errors);
    RUN(test_lookup_misuse_handler);
    RUN(test_enumeration);
    RUN(test_conflict_before_main);
    RUN(test_conflict_replace);
    RUN(test_collision);
    RUN(test_invalid_entries);
    RUN(test_register_out_of_memory);
    RUN(test_default_handler_aborts);
    RUN(test_unregister);
    RUN(test_shared_library);
    RUN(test_static_objects);
    RUN(test_static_object_unregistered);
    RUN(test_static_object_errors);
    RUN(test_closures);
    RUN(test_concurrent_lookups);
    return tt_test_done();
}
