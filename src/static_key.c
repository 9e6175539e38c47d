/*
 * static_key.c: the keys of the static pointer table, and their bytes and
 * text forms.
 *
 * A key must mean the same entry in every process, build and machine, so
 * it is a documented hash of the entry's fully qualified name: XXH3-128
 * (xxHash 0.8, whose output is frozen since 0.8.0), seed 0, over
 * ns "\0" module "\0" name. Zero bytes cannot occur inside C strings, so
 * no two different names give the same input. The hash is compiled in from
 * xxhash.h (XXH_INLINE_ALL), so programs do not link libxxhash.
 *
 * The 16-byte form is XXH3's canonical big-endian form, which makes the
 * text form the same 32 hex digits `xxh128sum` prints for the same bytes.
 */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "internal.h"

#if XXH_VERSION_NUMBER < 800
#error "tether needs xxHash 0.8 or later: XXH3-128's output is stable from 0.8.0"
#endif

/* Name parts longer than this are refused: a name is an identifier, and
 * the bound keeps key computation and error messages small. */
#define NAME_MAX_BYTES 1024

tt_static_key tt_static_hash128(const void *data, size_t len)
{
    XXH128_hash_t h = XXH3_128bits(data, len);
    return (tt_static_key){h.high64, h.low64};
}

/* A test seam: tests/test_static.c sets it to make two different names
 * collide, which XXH3-128 itself will not do on demand. Never set by the
 * library. */
TT_HIDDEN tt_static_key (*tt__static_name_hash_for_tests)(const char *ns, const char *module,
                                                          const char *name);

/* Hash ns "\0" module "\0" name. Names within the limit are joined on the
 * stack and hashed in one call, which is faster than XXH3's streaming
 * state. Every caller refuses longer names first; streaming them keeps
 * this function right for any length all the same. */
tt_static_key tt__static_key_of_name(const char *ns, const char *module, const char *name)
{
    if (TT_UNLIKELY(tt__static_name_hash_for_tests != NULL))
        return tt__static_name_hash_for_tests(ns, module, name);
    size_t a = strlen(ns), b = strlen(module), c = strlen(name);
    XXH128_hash_t h;
    if (a + b + c + 2 <= NAME_MAX_BYTES) {
        char buf[NAME_MAX_BYTES];
        memcpy(buf, ns, a);
        buf[a] = 0;
        memcpy(buf + a + 1, module, b);
        buf[a + 1 + b] = 0;
        memcpy(buf + a + b + 2, name, c);
        h = XXH3_128bits(buf, a + b + c + 2);
    } else {
        XXH3_state_t st;
        static const char zero = 0;
        XXH3_128bits_reset(&st);
        XXH3_128bits_update(&st, ns, a);
        XXH3_128bits_update(&st, &zero, 1);
        XXH3_128bits_update(&st, module, b);
        XXH3_128bits_update(&st, &zero, 1);
        XXH3_128bits_update(&st, name, c);
        h = XXH3_128bits_digest(&st);
    }
    return (tt_static_key){h.high64, h.low64};
}

const char *tt__static_name_problem(const char *ns, const char *module, const char *name)
{
    if (!ns || !*ns) return "the namespace is missing";
    if (!module || !*module) return "the module is missing";
    if (!name || !*name) return "the name is missing";
    if (strlen(ns) + strlen(module) + strlen(name) + 2 > NAME_MAX_BYTES)
        return "the fully qualified name is over 1024 bytes";
    return NULL;
}

tt_static_key tt_static_key_for(const char *ns, const char *module, const char *name)
{
    const char *why = tt__static_name_problem(ns, module, name);
    if (why) {
        tt__fail(TT_EINVAL, NULL, 0, "tt_static_key_for: %s", why);
        return (tt_static_key){0, 0};
    }
    return tt__static_key_of_name(ns, module, name);
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | p[i];
    return v;
}

void tt_static_key_to_bytes(tt_static_key k, uint8_t out[TT_STATIC_KEY_BYTES])
{
    put_be64(out, k.hi);
    put_be64(out + 8, k.lo);
}

tt_static_key tt_static_key_from_bytes(const uint8_t in[TT_STATIC_KEY_BYTES])
{
    return (tt_static_key){get_be64(in), get_be64(in + 8)};
}

char *tt_static_key_to_text(tt_static_key k, char out[TT_STATIC_KEY_TEXT])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t b[TT_STATIC_KEY_BYTES];
    tt_static_key_to_bytes(k, b);
    for (int i = 0; i < TT_STATIC_KEY_BYTES; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[32] = 0;
    return out;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int tt_static_key_parse(const char *text, size_t len, tt_static_key *out)
{
    if (!out || (!text && len))
        return tt__fail(TT_EINVAL, NULL, 0, "tt_static_key_parse: null argument");
    if (len != 2 * TT_STATIC_KEY_BYTES)
        return tt__fail(TT_EINVAL, NULL, 0,
                        "tt_static_key_parse: a key is 32 hex digits, not %zu characters", len);
    uint8_t b[TT_STATIC_KEY_BYTES];
    for (size_t i = 0; i < len; i++) {
        int v = hex_value(text[i]);
        if (v < 0)
            return tt__fail(TT_EINVAL, NULL, 0,
                            "tt_static_key_parse: character %zu (byte 0x%02x) is not a hex digit",
                            i, (unsigned)(unsigned char)text[i]);
        if (i & 1)
            b[i / 2] = (uint8_t)(b[i / 2] | v);
        else
            b[i / 2] = (uint8_t)(v << 4);
    }
    *out = tt_static_key_from_bytes(b);
    return TT_OK;
}
