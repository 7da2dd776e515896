/*
 * client/lib/json.c - MessagePack to JSON text, over the bounded cursor.
 *
 * The input was checked by proto_mp_check (nesting <= PROTO_MAX_DEPTH), so the recursion
 * below is bounded. The output may hold secrets: it lives in a proto_buf (wiped on growth)
 * and is wiped by skr_string_free.
 */
#include <inttypes.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "mp.h"
#include "utf8.h"

#define OUT(s, n) do { if (proto_buf_append(out, (s), (n)) != 0) return SKR_ENOMEM; } while (0)
#define OUTS(lit) OUT(lit, sizeof(lit) - 1)

/* \uXXXX for a code unit (every caller's is below 0x10000: surrogates for the rest). */
static int put_u(proto_buf *out, uint32_t u)
{
    static const char hex[] = "0123456789abcdef";
    const char tmp[6] = { '\\', 'u', hex[(u >> 12) & 15], hex[(u >> 8) & 15], hex[(u >> 4) & 15],
                          hex[u & 15] };
    OUT(tmp, sizeof(tmp));
    return 0;
}

static int json_string(proto_buf *out, const uint8_t *s, size_t n, int flags)
{
    OUTS("\"");
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = proto_utf8_decode(s + i, n - i, &cp);
        if (l == 0) {
            cp = 0xfffd; /* invalid UTF-8: the replacement character */
            l = 1;
            if (flags & SKR_JSON_ASCII) {
                if (put_u(out, cp) != 0)
                    return SKR_ENOMEM;
            } else {
                OUTS("\xef\xbf\xbd");
            }
            i += l;
            continue;
        }
        switch (cp) {
        case '"': OUTS("\\\""); break;
        case '\\': OUTS("\\\\"); break;
        case '\n': OUTS("\\n"); break;
        case '\r': OUTS("\\r"); break;
        case '\t': OUTS("\\t"); break;
        case '\b': OUTS("\\b"); break;
        case '\f': OUTS("\\f"); break;
        default:
            if (cp < 0x20 || cp == 0x7f) {
                if (put_u(out, cp) != 0)
                    return SKR_ENOMEM;
            } else if (cp >= 0x80 && (flags & SKR_JSON_ASCII)) {
                if (cp >= 0x10000) {
                    uint32_t v = cp - 0x10000;
                    if (put_u(out, 0xd800 | (v >> 10)) != 0 || put_u(out, 0xdc00 | (v & 0x3ff)) != 0)
                        return SKR_ENOMEM;
                } else if (put_u(out, cp) != 0) {
                    return SKR_ENOMEM;
                }
            } else {
                OUT(s + i, l);
            }
        }
        i += l;
    }
    OUTS("\"");
    return 0;
}

static int json_base64(proto_buf *out, const uint8_t *p, size_t n)
{
    size_t b64 = sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL);
    OUTS("\"");
    /* reserved after the quote: the room must be there for the encoder's b64 bytes */
    if (proto_buf_reserve(out, b64) != 0)
        return SKR_ENOMEM;
    sodium_bin2base64((char *)out->data + out->len, b64, p, n, sodium_base64_VARIANT_ORIGINAL);
    out->len += b64 - 1; /* without the NUL */
    OUTS("\"");
    return 0;
}

static int indent(proto_buf *out, int flags, int depth)
{
    if (!(flags & SKR_JSON_PRETTY))
        return 0;
    OUTS("\n");
    for (int i = 0; i < depth; i++)
        OUTS("  ");
    return 0;
}

static int json_double(proto_buf *out, double d)
{
    char tmp[40];
    if (!isfinite(d)) {
        OUTS("null");
        return 0;
    }
    /* The shortest of 15..17 digits that reads back to the same value. */
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    /* Keep it a JSON number that reads back as a float. */
    if (strpbrk(tmp, ".eE") == NULL)
        strcat(tmp, ".0");
    OUT(tmp, strlen(tmp));
    return 0;
}

static uint64_t be_n(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* A key that is not a str is rendered as JSON and that text escaped once more, so each
 * level of keys inside keys doubles the backslashes of the levels within: a few dozen
 * bytes nested 31 levels would make gigabytes. Key levels are counted in the depth
 * (level L renders from depth L * PROTO_MAX_DEPTH) and refused past JSON_KEY_LEVELS. */
#define JSON_KEY_LEVELS 4

/* Renders the key of a map pair as a JSON string: a str as is, anything else as its JSON. */
static int json_key(proto_buf *out, proto_cur *c, int flags, int depth)
{
    const uint8_t *s;
    uint32_t n;
    bool is_bin;
    if (proto_cur_peek(c) == PROTO_MP_STR) {
        if (proto_cur_str_or_bin(c, &s, &n, &is_bin) != 0)
            return SKR_EINVAL;
        return json_string(out, s, n, flags);
    }
    int kdepth = (depth / PROTO_MAX_DEPTH + 1) * PROTO_MAX_DEPTH;
    if (kdepth > JSON_KEY_LEVELS * PROTO_MAX_DEPTH)
        return SKR_EINVAL;
    /* Plain UTF-8 inside: json_string below applies SKR_JSON_ASCII once, to the whole key
     * (escaping twice would make the key's value differ with the flag). */
    proto_buf tmp = PROTO_BUF_INIT;
    int r = json_render(&tmp, c, flags & ~(SKR_JSON_PRETTY | SKR_JSON_ASCII), kdepth);
    if (r == 0)
        r = json_string(out, tmp.data, tmp.len, flags);
    proto_buf_free(&tmp);
    return r;
}

int json_render(proto_buf *out, proto_cur *c, int flags, int depth)
{
    char tmp[32];
    const uint8_t *raw, *s;
    size_t rawn;
    uint32_t n;
    uint64_t u;
    int64_t i64;
    bool b, is_bin;
    int r;

    if (depth >= (JSON_KEY_LEVELS + 1) * PROTO_MAX_DEPTH)
        return SKR_EINVAL;
    switch (proto_cur_peek(c)) {
    case PROTO_MP_NIL:
        proto_cur_skip(c, NULL, NULL);
        OUTS("null");
        return 0;
    case PROTO_MP_BOOL:
        proto_cur_bool(c, &b);
        if (b)
            OUTS("true");
        else
            OUTS("false");
        return 0;
    case PROTO_MP_UINT:
        if (proto_cur_uint(c, &u) != 0)
            return SKR_EINVAL;
        snprintf(tmp, sizeof(tmp), "%" PRIu64, u);
        OUT(tmp, strlen(tmp));
        return 0;
    case PROTO_MP_INT:
        if (proto_cur_int(c, &i64) != 0)
            return SKR_EINVAL;
        snprintf(tmp, sizeof(tmp), "%" PRId64, i64);
        OUT(tmp, strlen(tmp));
        return 0;
    case PROTO_MP_FLOAT:
        if (proto_cur_skip(c, &raw, &rawn) != 0)
            return SKR_EINVAL;
        if (raw[0] == 0xca && rawn == 5) {
            uint32_t bits = (uint32_t)be_n(raw + 1, 4);
            float f;
            memcpy(&f, &bits, 4);
            return json_double(out, (double)f);
        } else if (rawn == 9) {
            uint64_t bits = be_n(raw + 1, 8);
            double d;
            memcpy(&d, &bits, 8);
            return json_double(out, d);
        }
        return SKR_EINVAL;
    case PROTO_MP_STR:
        if (proto_cur_str_or_bin(c, &s, &n, &is_bin) != 0)
            return SKR_EINVAL;
        return json_string(out, s, n, flags);
    case PROTO_MP_BIN:
        if (proto_cur_str_or_bin(c, &s, &n, &is_bin) != 0)
            return SKR_EINVAL;
        OUTS("{\"$bin\":");
        if (flags & SKR_JSON_PRETTY)
            OUTS(" ");
        if ((r = json_base64(out, s, n)) != 0)
            return r;
        OUTS("}");
        return 0;
    case PROTO_MP_EXT: {
        if (proto_cur_skip(c, &raw, &rawn) != 0)
            return SKR_EINVAL;
        size_t hdr;
        switch (raw[0]) {
        case 0xc7: hdr = 2; break;
        case 0xc8: hdr = 3; break;
        case 0xc9: hdr = 5; break;
        default: hdr = 1; break; /* fixext */
        }
        if (rawn < hdr + 1)
            return SKR_EINVAL;
        snprintf(tmp, sizeof(tmp), "%d", (int)(int8_t)raw[hdr]);
        OUTS("{\"$ext\":");
        if (flags & SKR_JSON_PRETTY)
            OUTS(" ");
        OUTS("[");
        OUT(tmp, strlen(tmp));
        OUTS(",");
        if (flags & SKR_JSON_PRETTY)
            OUTS(" ");
        if ((r = json_base64(out, raw + hdr + 1, rawn - hdr - 1)) != 0)
            return r;
        OUTS("]}");
        return 0;
    }
    case PROTO_MP_ARRAY:
        if (proto_cur_array(c, &n) != 0)
            return SKR_EINVAL;
        OUTS("[");
        for (uint32_t i = 0; i < n; i++) {
            if (i > 0)
                OUTS(",");
            if ((r = indent(out, flags, depth + 1)) != 0 ||
                (r = json_render(out, c, flags, depth + 1)) != 0)
                return r;
        }
        if (n > 0 && (r = indent(out, flags, depth)) != 0)
            return r;
        OUTS("]");
        return 0;
    case PROTO_MP_MAP:
        if (proto_cur_map(c, &n) != 0)
            return SKR_EINVAL;
        OUTS("{");
        for (uint32_t i = 0; i < n; i++) {
            if (i > 0)
                OUTS(",");
            if ((r = indent(out, flags, depth + 1)) != 0 || (r = json_key(out, c, flags, depth)) != 0)
                return r;
            OUTS(":");
            if (flags & SKR_JSON_PRETTY)
                OUTS(" ");
            if ((r = json_render(out, c, flags, depth + 1)) != 0)
                return r;
        }
        if (n > 0 && (r = indent(out, flags, depth)) != 0)
            return r;
        OUTS("}");
        return 0;
    default:
        return SKR_EINVAL;
    }
}

int skr_msgpack_to_json(const void *mp, size_t len, int flags, char **json)
{
    proto_buf out = PROTO_BUF_INIT;
    size_t obj;
    int r;

    if (mp == NULL || json == NULL)
        return SKR_EINVAL;
    if (proto_mp_check(mp, len, &obj) != 0 || obj != len)
        return SKR_EINVAL;
    proto_cur c = proto_cur_make(mp, len);
    if ((r = json_render(&out, &c, flags, 0)) != 0)
        goto out;
    if ((r = proto_buf_append(&out, "", 1)) != 0)
        goto out;
    *json = (char *)out.data; /* malloc'd by proto_buf; skr_string_free wipes it */
    out.data = NULL;
    out.len = out.cap = 0;
out:
    proto_buf_free(&out);
    return r;
}

void skr_string_free(char *s)
{
    if (s == NULL)
        return;
    sodium_memzero(s, strlen(s));
    free(s);
}
