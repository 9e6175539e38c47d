/*
 * libFuzzer target for the decoders of tether/static.h: the closure wire
 * format (tt_closure_decode / tt_closure_encode), the key text form
 * (tt_static_key_parse / tt_static_key_to_text) and the key byte form
 * (tt_static_key_from_bytes / tt_static_key_to_bytes).
 *
 * For every input:
 *   (a) decode closures one after another until the first error. Each
 *       success must describe a slice of the input (payload inside it,
 *       used == header + payload length) that re-encodes to exactly the
 *       same bytes; each failure must leave *out untouched and say
 *       TT_ERANGE (truncated) or TT_EINVAL (bad magic or version). The
 *       key of each closure is looked up against every type tag below:
 *       only a registered key with the matching tag succeeds, every
 *       failure is TT_ENOTFOUND or TT_ETYPE.
 *   (b) parse prefixes of the input as key text: success only for 32
 *       hex digits, and the text form of the key is the input again.
 *   (c) the first 16 bytes as a key, back to bytes and to text.
 * Any broken invariant aborts, which libFuzzer reports as a crash. Nothing
 * is kept from one input to the next: the only state is the entries and
 * the tags, computed once.
 *
 * Prefixes and slices are copied to buffers of their exact size, so that
 * AddressSanitizer catches a decoder reading one byte past its length.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <tether/static.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                         \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "fuzz_closure.c:%d: invariant broken: %s\n", __LINE__, #cond);  \
            abort();                                                                        \
        }                                                                                   \
    } while (0)

/* ------------------------------------------------------------------ */
/* Entries to look up (their closures are in the seed corpus).          */

static int fuzz_add_fn(int a, int b) { return a + b; }
static int fuzz_neg_fn(int a) { return -a; }
static const int fuzz_answer_value = 42;

static TT_STATIC_FN(fuzz_add, "fuzz", "closure", "add", "int(int,int)", fuzz_add_fn);
static TT_STATIC_FN(fuzz_neg, "fuzz", "closure", "neg", "int(int)", fuzz_neg_fn);
static TT_STATIC_DATA(fuzz_answer, "fuzz", "closure", "answer", "const int", &fuzz_answer_value);

#define N_ENTRIES 3
#define N_TAGS (N_ENTRIES + 1) /* the entries' types, and a type nobody has */

static const tt_static *const entries[N_ENTRIES] = {&fuzz_add, &fuzz_neg, &fuzz_answer};
static tt_static_key entry_keys[N_ENTRIES];
static tt_type_tag tags[N_TAGS];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    tt_static_info info;
    for (int i = 0; i < N_ENTRIES; i++) {
        CHECK(tt_static_info_of(entries[i], &info) == TT_OK);
        CHECK(info.registered);
        entry_keys[i] = tt_static_key_of(entries[i]);
        CHECK(tt_static_key_eq(entry_keys[i], info.key));
        tags[i] = tt_type_tag_for(entries[i]->type_name);
        CHECK(tt_type_tag_eq(tags[i], info.tag));
    }
    tags[N_ENTRIES] = tt_type_tag_for("fuzz: a type no entry has");
    for (int i = 0; i < N_TAGS; i++)
        CHECK(tags[i].hi != 0 || tags[i].lo != 0);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Helpers                                                              */

static uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static int is_hex(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int is_lower_hex(int c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

/* A copy of p[0 .. n) in a buffer of exactly n bytes (n may be 0). */
static uint8_t *exact_copy(const uint8_t *p, size_t n)
{
    uint8_t *c = malloc(n);
    CHECK(c != NULL || n == 0);
    if (n > 0)
        memcpy(c, p, n);
    return c;
}

/* The key's text form, written to a buffer of exactly TT_STATIC_KEY_TEXT
 * bytes, checked, and copied to out. */
static void key_text(tt_static_key k, char out[TT_STATIC_KEY_TEXT])
{
    char *buf = malloc(TT_STATIC_KEY_TEXT);
    CHECK(buf != NULL);
    CHECK(tt_static_key_to_text(k, buf) == buf);
    for (int i = 0; i < 32; i++)
        CHECK(is_lower_hex((unsigned char)buf[i]));
    CHECK(buf[32] == '\0');
    memcpy(out, buf, TT_STATIC_KEY_TEXT);
    free(buf);
}

/* ------------------------------------------------------------------ */
/* (a) closures and lookups                                             */

static void check_lookups(tt_static_key k)
{
    int ours = -1;
    for (int i = 0; i < N_ENTRIES; i++)
        if (tt_static_key_eq(k, entry_keys[i]))
            ours = i;

    /* An entry that something else registered (none, normally). */
    const tt_static *other = NULL;
    tt_static_info other_info;
    if (ours < 0) {
        other = tt_static_find(k);
        if (other) {
            CHECK(tt_static_info_of(other, &other_info) == TT_OK);
            CHECK(tt_static_key_eq(other_info.key, k));
        }
    }

    for (int t = 0; t < N_TAGS; t++) {
        tt_clear_error();
        const tt_static *e = tt_static_lookup(k, tags[t]);
        int code = tt_last_error()->code;
        if (e) {
            /* Success only for a registered key with this very type. */
            CHECK(tt_static_key_eq(tt_static_key_of(e), k));
            if (ours >= 0) {
                CHECK(e == entries[ours]);
                CHECK(t == ours);
            } else {
                CHECK(e == other);
                CHECK(tt_type_tag_eq(other_info.tag, tags[t]));
            }
        } else {
            CHECK(code == TT_ENOTFOUND || code == TT_ETYPE);
            if (ours >= 0) {
                CHECK(t != ours);
                CHECK(code == TT_ETYPE);
            } else if (other) {
                CHECK(code == TT_ETYPE);
                CHECK(!tt_type_tag_eq(other_info.tag, tags[t]));
            } else {
                CHECK(code == TT_ENOTFOUND);
            }
        }
    }
}

/* The closure that decoded from `slice` (in the input) as c, `used` long. */
static void check_closure(const uint8_t *slice, size_t avail, const tt_closure *c, size_t used)
{
    /* Its extent: the header and the payload, inside the input. */
    CHECK(used == TT_CLOSURE_HEADER + c->payload_len);
    CHECK(used <= avail);
    CHECK(c->payload_len <= TT_CLOSURE_MAX_PAYLOAD);
    if (c->payload_len > 0 || c->payload != NULL) {
        uintptr_t p = (uintptr_t)c->payload, lo = (uintptr_t)slice;
        CHECK(p == lo + TT_CLOSURE_HEADER);
        CHECK(p + c->payload_len <= lo + avail);
    }
    /* The header it came from. */
    CHECK(memcmp(slice, "TTC", 3) == 0);
    CHECK(slice[3] == TT_CLOSURE_VERSION);
    CHECK(tt_static_key_eq(c->key, tt_static_key_from_bytes(slice + 4)));
    CHECK(be32(slice + 20) == c->payload_len);

    /* Encoding it again gives the same bytes, and sizing writes nothing. */
    CHECK(tt_closure_encode(c->key, c->payload, c->payload_len, NULL, 0) == used);
    uint8_t *buf = malloc(used);
    CHECK(buf != NULL);
    memset(buf, 0xA5, used);
    CHECK(tt_closure_encode(c->key, c->payload, c->payload_len, buf, used - 1) == used);
    for (size_t i = 0; i < used; i++)
        CHECK(buf[i] == 0xA5);
    CHECK(tt_closure_encode(c->key, c->payload, c->payload_len, buf, used) == used);
    CHECK(memcmp(buf, slice, used) == 0);
    free(buf);

    check_lookups(c->key);
}

static void fuzz_closures(const uint8_t *data, size_t size)
{
    static const uint8_t magic[4] = {'T', 'T', 'C', TT_CLOSURE_VERSION};
    size_t off = 0;
    for (;;) {
        const uint8_t *p = data + off;
        size_t avail = size - off;
        tt_closure c, sentinel;
        memset(&sentinel, 0x5A, sizeof sentinel);
        c = sentinel;
        size_t used = (size_t)-1;
        int rc = tt_closure_decode(p, avail, &c, &used);
        if (rc != TT_OK) {
            int code = tt_last_error()->code;
            CHECK(code == rc);
            CHECK(memcmp(&c, &sentinel, sizeof c) == 0);
            CHECK(code == TT_ERANGE || code == TT_EINVAL);
            /* Which error: a buffer that starts like a closure (as far as
             * it goes) is truncated; a whole header with bad magic or
             * version is invalid. A short buffer with a bad start may say
             * either. */
            size_t n = avail < 4 ? avail : 4;
            int prefix_ok = n == 0 || memcmp(p, magic, n) == 0;
            if (prefix_ok)
                CHECK(code == TT_ERANGE);
            else if (avail >= TT_CLOSURE_HEADER)
                CHECK(code == TT_EINVAL);
            break;
        }
        CHECK(used != (size_t)-1);
        check_closure(p, avail, &c, used);

        /* The same without `used`. */
        tt_closure c2;
        CHECK(tt_closure_decode(p, avail, &c2, NULL) == TT_OK);
        CHECK(memcmp(&c, &c2, sizeof c) == 0);

        /* Decoding an exact copy reads nothing past the closure. */
        uint8_t *copy = exact_copy(p, used);
        CHECK(tt_closure_decode(copy, used, &c2, NULL) == TT_OK);
        CHECK(tt_static_key_eq(c.key, c2.key) && c2.payload_len == c.payload_len);
        free(copy);

        off += used;
    }
}

/* ------------------------------------------------------------------ */
/* (b) key text                                                         */

static void fuzz_key_text(const uint8_t *data, size_t size)
{
    static const size_t lens[] = {0, 1, 16, 31, 32, 33, 64};
    const size_t n_lens = sizeof lens / sizeof lens[0];
    for (size_t i = 0; i <= n_lens; i++) {
        size_t len = i < n_lens ? lens[i] : size; /* and the whole input */
        if (len > size)
            continue;
        if (i == n_lens) {
            int seen = 0;
            for (size_t j = 0; j < n_lens; j++)
                seen |= lens[j] == size;
            if (seen)
                continue;
        }
        uint8_t *copy = exact_copy(data, len);
        const char *text = copy ? (const char *)copy : "";

        int all_hex = len == 32;
        for (size_t j = 0; j < len && all_hex; j++)
            all_hex = is_hex(copy[j]);

        tt_static_key k, sentinel;
        memset(&sentinel, 0x5A, sizeof sentinel);
        k = sentinel;
        tt_clear_error();
        int rc = tt_static_key_parse(text, len, &k);
        if (rc == TT_OK) {
            CHECK(all_hex);
            char back[TT_STATIC_KEY_TEXT];
            key_text(k, back);
            CHECK(strncasecmp(back, text, 32) == 0);
            /* And the bytes are the digits. */
            uint8_t bytes[TT_STATIC_KEY_BYTES];
            tt_static_key_to_bytes(k, bytes);
            for (int b = 0; b < TT_STATIC_KEY_BYTES; b++) {
                char two[3];
                snprintf(two, sizeof two, "%02x", bytes[b]);
                CHECK(memcmp(two, back + 2 * b, 2) == 0);
            }
        } else {
            CHECK(!all_hex);
            CHECK(rc == TT_EINVAL);
            CHECK(tt_last_error()->code == TT_EINVAL);
            CHECK(memcmp(&k, &sentinel, sizeof k) == 0);
        }
        free(copy);
    }
}

/* ------------------------------------------------------------------ */
/* (c) key bytes                                                        */

static void fuzz_key_bytes(const uint8_t *data, size_t size)
{
    if (size < TT_STATIC_KEY_BYTES)
        return;
    uint8_t *in = exact_copy(data, TT_STATIC_KEY_BYTES);
    tt_static_key k = tt_static_key_from_bytes(in);
    CHECK(k.hi == be64(in) && k.lo == be64(in + 8));

    uint8_t *out = malloc(TT_STATIC_KEY_BYTES);
    CHECK(out != NULL);
    tt_static_key_to_bytes(k, out);
    CHECK(memcmp(out, in, TT_STATIC_KEY_BYTES) == 0);

    /* Through the text form and back. */
    char text[TT_STATIC_KEY_TEXT];
    key_text(k, text);
    tt_static_key k2 = {0, 0};
    CHECK(tt_static_key_parse(text, 32, &k2) == TT_OK);
    CHECK(tt_static_key_eq(k, k2));
    free(out);
    free(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_closures(data, size);
    fuzz_key_text(data, size);
    fuzz_key_bytes(data, size);
    return 0;
}
