/*
 * closure.c: the wire format of closures, a static key and an opaque
 * argument payload (layout in tether/static.h).
 *
 * The decoder is the part of tether that reads bytes another process, or
 * an attacker, wrote. It reads nothing before checking that it lies inside
 * the buffer, compares lengths by subtraction (never `offset + n`, which
 * could wrap), and copies nothing: the payload stays in the caller's
 * buffer. It is fuzzed (tests/fuzz).
 */
#include "internal.h"

static const uint8_t magic[3] = {'T', 'T', 'C'};

size_t tt_closure_encode(tt_static_key k, const void *payload, size_t len, uint8_t *out,
                         size_t cap)
{
    if (len > TT_CLOSURE_MAX_PAYLOAD || len > SIZE_MAX - TT_CLOSURE_HEADER) {
        tt__fail(TT_EINVAL, NULL, 0, "tt_closure_encode: payload of %zu bytes is over the %zu limit",
                 len, TT_CLOSURE_MAX_PAYLOAD);
        return 0;
    }
    if (!payload && len) {
        tt__fail(TT_EINVAL, NULL, 0, "tt_closure_encode: null payload of %zu bytes", len);
        return 0;
    }
    size_t size = TT_CLOSURE_HEADER + len;
    if (!out || cap < size) return size;
    memcpy(out, magic, sizeof magic);
    out[3] = TT_CLOSURE_VERSION;
    tt_static_key_to_bytes(k, out + 4);
    out[20] = (uint8_t)(len >> 24);
    out[21] = (uint8_t)(len >> 16);
    out[22] = (uint8_t)(len >> 8);
    out[23] = (uint8_t)len;
    if (len) memcpy(out + TT_CLOSURE_HEADER, payload, len);
    return size;
}

int tt_closure_decode(const uint8_t *buf, size_t len, tt_closure *out, size_t *used)
{
    if (!out || (!buf && len)) return tt__fail(TT_EINVAL, NULL, 0, "tt_closure_decode: null argument");
    /* The magic first, so that a buffer of something else is named as such
     * even when it is short. */
    size_t m = len < sizeof magic ? len : sizeof magic;
    if (m && memcmp(buf, magic, m) != 0)
        return tt__fail(TT_EINVAL, NULL, 0, "tt_closure_decode: not a closure (it does not start with \"TTC\")");
    if (len < TT_CLOSURE_HEADER)
        return tt__fail(TT_ERANGE, NULL, 0,
                        "tt_closure_decode: truncated header: %zu of %d bytes", len,
                        TT_CLOSURE_HEADER);
    if (buf[3] != TT_CLOSURE_VERSION)
        return tt__fail(TT_EINVAL, NULL, 0,
                        "tt_closure_decode: format version %u, this tether reads version %u",
                        (unsigned)buf[3], (unsigned)TT_CLOSURE_VERSION);
    size_t n = (size_t)buf[20] << 24 | (size_t)buf[21] << 16 | (size_t)buf[22] << 8 | buf[23];
    size_t rest = len - TT_CLOSURE_HEADER;
    if (n > rest)
        return tt__fail(TT_ERANGE, NULL, 0,
                        "tt_closure_decode: truncated payload: %zu bytes declared, %zu present", n,
                        rest);
    out->key = tt_static_key_from_bytes(buf + 4);
    out->payload = buf + TT_CLOSURE_HEADER;
    out->payload_len = n;
    if (used) *used = TT_CLOSURE_HEADER + n;
    return TT_OK;
}
