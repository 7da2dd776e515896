#include "mp.h"

#include <string.h>

#include "sekrets/error.h"

/* Header of one object: how many bytes the header and payload take (not children), and
 * how many child objects follow it (2n for a map of n pairs). */
typedef struct mp_head {
    proto_mp_type type;
    size_t size;      /* header + inline payload */
    uint64_t children;
    uint64_t value;   /* for ints/lengths/bools: the decoded value */
    int negative;     /* value holds a negative int64 as two's complement */
} mp_head;

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Decodes the header at p. Returns 0 or SKR_EBAD_FRAME if it is truncated or invalid. */
static int mp_head_read(const uint8_t *p, const uint8_t *end, mp_head *h)
{
    size_t avail = (size_t)(end - p);
    if (avail == 0)
        return SKR_EBAD_FRAME;
    uint8_t b = p[0];
    memset(h, 0, sizeof(*h));
    h->size = 1;
    size_t n = 0;  /* extra header bytes */
    uint64_t payload = 0; /* 64 bits: a 32-bit length plus the ext type byte cannot wrap */

    if (b <= 0x7f) { h->type = PROTO_MP_UINT; h->value = b; return 0; }
    if (b >= 0xe0) { h->type = PROTO_MP_INT; h->value = (uint64_t)(int64_t)(int8_t)b; h->negative = 1; return 0; }
    if ((b & 0xf0) == 0x80) { h->type = PROTO_MP_MAP; h->value = b & 0x0f; h->children = 2 * h->value; goto checked; }
    if ((b & 0xf0) == 0x90) { h->type = PROTO_MP_ARRAY; h->value = b & 0x0f; h->children = h->value; goto checked; }
    if ((b & 0xe0) == 0xa0) { h->type = PROTO_MP_STR; h->value = b & 0x1f; payload = h->value; goto sized; }

    switch (b) {
    case 0xc0: h->type = PROTO_MP_NIL; return 0;
    case 0xc2: case 0xc3: h->type = PROTO_MP_BOOL; h->value = b == 0xc3; return 0;
    case 0xc4: case 0xc5: case 0xc6:
        h->type = PROTO_MP_BIN; n = (size_t)1 << (b - 0xc4); break;
    case 0xd9: case 0xda: case 0xdb:
        h->type = PROTO_MP_STR; n = (size_t)1 << (b - 0xd9); break;
    case 0xc7: case 0xc8: case 0xc9:
        h->type = PROTO_MP_EXT; n = (size_t)1 << (b - 0xc7); break;
    case 0xca: h->type = PROTO_MP_FLOAT; payload = 4; goto sized;
    case 0xcb: h->type = PROTO_MP_FLOAT; payload = 8; goto sized;
    case 0xcc: case 0xcd: case 0xce: case 0xcf:
        h->type = PROTO_MP_UINT; payload = (size_t)1 << (b - 0xcc);
        if (avail < 1 + payload) return SKR_EBAD_FRAME;
        h->value = be(p + 1, (int)payload); h->size += payload; return 0;
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
        payload = (size_t)1 << (b - 0xd0);
        if (avail < 1 + payload) return SKR_EBAD_FRAME;
        uint64_t raw = be(p + 1, (int)payload);
        int bits = (int)payload * 8;
        int64_t v = bits == 64 ? (int64_t)raw
                  : (raw & ((uint64_t)1 << (bits - 1))) ? (int64_t)(raw | (~(uint64_t)0 << bits))
                  : (int64_t)raw;
        h->type = v < 0 ? PROTO_MP_INT : PROTO_MP_UINT;
        h->negative = v < 0;
        h->value = (uint64_t)v;
        h->size += payload;
        return 0;
    }
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
        h->type = PROTO_MP_EXT; payload = 1 + ((size_t)1 << (b - 0xd4)); goto sized;
    case 0xdc: case 0xdd:
        h->type = PROTO_MP_ARRAY; n = b == 0xdc ? 2 : 4;
        if (avail < 1 + n) return SKR_EBAD_FRAME;
        h->value = be(p + 1, (int)n); h->children = h->value; h->size += n; goto checked;
    case 0xde: case 0xdf:
        h->type = PROTO_MP_MAP; n = b == 0xde ? 2 : 4;
        if (avail < 1 + n) return SKR_EBAD_FRAME;
        h->value = be(p + 1, (int)n); h->children = 2 * h->value; h->size += n; goto checked;
    default: /* 0xc1: never used */
        h->type = PROTO_MP_INVALID;
        return SKR_EBAD_FRAME;
    }
    /* str/bin/ext with an explicit length field of n bytes */
    if (avail < 1 + n) return SKR_EBAD_FRAME;
    payload = be(p + 1, (int)n);
    h->value = payload;
    h->size += n;
    if (h->type == PROTO_MP_EXT)
        payload += 1; /* the ext type byte */
sized:
    if (payload > avail - h->size) return SKR_EBAD_FRAME;
    h->size += payload;
    if (h->type == PROTO_MP_STR) h->value = payload; /* fixstr */
    return 0;
checked:
    /* Every child takes at least one byte: a count beyond the bytes left is a lie. */
    if (h->children > avail - h->size) return SKR_EBAD_FRAME;
    return 0;
}

int proto_mp_check(const uint8_t *p, size_t len, size_t *obj_len)
{
    return proto_mp_check_depth(p, len, PROTO_MAX_DEPTH, obj_len);
}

int proto_mp_check_depth(const uint8_t *p, size_t len, int max_depth, size_t *obj_len)
{
    const uint8_t *cur = p, *end = p + len;
    uint64_t left[PROTO_MAX_DEPTH + 1]; /* objects still to read at each open level */
    int top = 0;
    if (max_depth < 0 || max_depth > PROTO_MAX_DEPTH)
        return SKR_EINVAL;
    left[0] = 1;
    while (top >= 0) {
        if (left[top] == 0) {
            top--;
            continue;
        }
        left[top]--;
        mp_head h;
        if (mp_head_read(cur, end, &h) != 0)
            return SKR_EBAD_FRAME;
        cur += h.size;
        if (h.children > 0) {
            if (top == max_depth)
                return SKR_EBAD_FRAME;
            left[++top] = h.children;
        } else if ((h.type == PROTO_MP_ARRAY || h.type == PROTO_MP_MAP) && top == max_depth) {
            return SKR_EBAD_FRAME; /* an empty container still counts as a level */
        }
    }
    *obj_len = (size_t)(cur - p);
    return 0;
}

proto_mp_type proto_cur_peek(const proto_cur *c)
{
    mp_head h;
    if (mp_head_read(c->p, c->end, &h) != 0)
        return PROTO_MP_INVALID;
    return h.type;
}

static int cur_take(proto_cur *c, proto_mp_type want, mp_head *h)
{
    if (mp_head_read(c->p, c->end, h) != 0 || h->type != want)
        return SKR_EBAD_REQUEST;
    return 0;
}

/* Every key of a request and most of its values are fixstrs, its ids and versions
 * fixints or uint8..uint32, its map a fixmap: the cursor reads take these first, without
 * the general header decode, under the same bounds checks. The rest goes through
 * mp_head_read in the *_any functions, kept out of line so that the common case needs no
 * stack frame. */
static inline size_t cur_left(const proto_cur *c)
{
    return (size_t)(c->end - c->p);
}

static __attribute__((noinline)) int cur_map_any(proto_cur *c, uint32_t *n)
{
    mp_head h;
    if (cur_take(c, PROTO_MP_MAP, &h) != 0)
        return SKR_EBAD_REQUEST;
    c->p += h.size;
    *n = (uint32_t)h.value;
    return 0;
}

int proto_cur_map(proto_cur *c, uint32_t *n)
{
    if (cur_left(c) > 0 && (c->p[0] & 0xf0) == 0x80) {
        uint32_t pairs = c->p[0] & 0x0f;
        if (2 * (size_t)pairs > cur_left(c) - 1)
            return SKR_EBAD_REQUEST; /* a count beyond the bytes left, as mp_head_read */
        *n = pairs;
        c->p++;
        return 0;
    }
    return cur_map_any(c, n);
}

int proto_cur_array(proto_cur *c, uint32_t *n)
{
    mp_head h;
    if (cur_take(c, PROTO_MP_ARRAY, &h) != 0)
        return SKR_EBAD_REQUEST;
    c->p += h.size;
    *n = (uint32_t)h.value;
    return 0;
}

static __attribute__((noinline)) int cur_str_any(proto_cur *c, const char **s, uint32_t *len)
{
    mp_head h;
    if (cur_take(c, PROTO_MP_STR, &h) != 0)
        return SKR_EBAD_REQUEST;
    *len = (uint32_t)h.value;
    *s = (const char *)c->p + (h.size - h.value);
    c->p += h.size;
    return 0;
}

int proto_cur_str(proto_cur *c, const char **s, uint32_t *len)
{
    if (cur_left(c) > 0 && (c->p[0] & 0xe0) == 0xa0) {
        uint32_t n = c->p[0] & 0x1f;
        if (n >= cur_left(c))
            return SKR_EBAD_REQUEST; /* truncated */
        *len = n;
        *s = (const char *)c->p + 1;
        c->p += 1 + n;
        return 0;
    }
    return cur_str_any(c, s, len);
}

int proto_cur_str_or_bin(proto_cur *c, const uint8_t **s, uint32_t *len, bool *is_bin)
{
    mp_head h;
    if (mp_head_read(c->p, c->end, &h) != 0 || (h.type != PROTO_MP_STR && h.type != PROTO_MP_BIN))
        return SKR_EBAD_REQUEST;
    *len = (uint32_t)h.value;
    *s = c->p + (h.size - h.value);
    if (is_bin != NULL)
        *is_bin = h.type == PROTO_MP_BIN;
    c->p += h.size;
    return 0;
}

static __attribute__((noinline)) int cur_uint_any(proto_cur *c, uint64_t *v)
{
    mp_head h;
    if (cur_take(c, PROTO_MP_UINT, &h) != 0)
        return SKR_EBAD_REQUEST;
    *v = h.value;
    c->p += h.size;
    return 0;
}

int proto_cur_uint(proto_cur *c, uint64_t *v)
{
    size_t left = cur_left(c);
    if (left > 0 && c->p[0] <= 0x7f) {
        *v = c->p[0];
        c->p++;
        return 0;
    }
    if (left > 0 && c->p[0] >= 0xcc && c->p[0] <= 0xce) { /* uint8, uint16, uint32 */
        size_t n = (size_t)1 << (c->p[0] - 0xcc);
        if (left < 1 + n)
            return SKR_EBAD_REQUEST;
        *v = be(c->p + 1, (int)n);
        c->p += 1 + n;
        return 0;
    }
    return cur_uint_any(c, v);
}

int proto_cur_int(proto_cur *c, int64_t *v)
{
    mp_head h;
    if (mp_head_read(c->p, c->end, &h) != 0)
        return SKR_EBAD_REQUEST;
    if (h.type == PROTO_MP_INT)
        *v = (int64_t)h.value;
    else if (h.type == PROTO_MP_UINT && h.value <= INT64_MAX)
        *v = (int64_t)h.value;
    else
        return SKR_EBAD_REQUEST;
    c->p += h.size;
    return 0;
}

int proto_cur_bool(proto_cur *c, bool *v)
{
    mp_head h;
    if (cur_take(c, PROTO_MP_BOOL, &h) != 0)
        return SKR_EBAD_REQUEST;
    *v = h.value != 0;
    c->p += h.size;
    return 0;
}

int proto_cur_skip(proto_cur *c, const uint8_t **raw, size_t *len)
{
    size_t n;
    if (proto_mp_check(c->p, (size_t)(c->end - c->p), &n) != 0)
        return SKR_EBAD_REQUEST;
    if (raw != NULL)
        *raw = c->p;
    if (len != NULL)
        *len = n;
    c->p += n;
    return 0;
}
