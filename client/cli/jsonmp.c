/*
 * client/cli/jsonmp.c - JSON (jansson) to MessagePack and back.
 *
 * {"$bin": "<base64>"} is a bin and {"$ext": [type, "<base64>"]} an ext, both ways, so
 * any body survives a JSON round trip. jansson is given an allocator that wipes on free:
 * bodies and passphrases pass through its strings.
 */
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mp.h"

#define ALLOC_HDR 16 /* keeps the block max-aligned */

static void *wipe_malloc(size_t n)
{
    if (n > SIZE_MAX - ALLOC_HDR)
        return NULL;
    unsigned char *p = malloc(n + ALLOC_HDR);
    if (p == NULL)
        return NULL;
    memcpy(p, &n, sizeof(n));
    return p + ALLOC_HDR;
}

static void wipe_free(void *q)
{
    if (q == NULL)
        return;
    unsigned char *p = (unsigned char *)q - ALLOC_HDR;
    size_t n;
    memcpy(&n, p, sizeof(n));
    sodium_memzero(q, n);
    free(p);
}

void jsonmp_init(void)
{
    json_set_alloc_funcs(wipe_malloc, wipe_free);
}

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err != NULL && errlen > 0) {
        vsnprintf(err, errlen, fmt, ap);
        /* jansson quotes the input near the error: keep the reason one plain line */
        for (char *p = err; *p != '\0'; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = '?';
    }
    va_end(ap);
    return -1;
}

/* Decodes base64 (standard alphabet, padding) into out; -1 if invalid. */
static int b64_decode(const char *s, size_t n, proto_buf *out)
{
    size_t cap = n / 4 * 3 + 3, len;
    if (proto_buf_reserve(out, cap) != 0)
        return -1;
    if (sodium_base642bin(out->data + out->len, cap, s, n, NULL, &len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return -1;
    out->len += len;
    return 0;
}

static int pack_value(const json_t *v, msgpack_packer *pk, proto_buf *out, int depth,
                      char *err, size_t errlen)
{
    if (depth >= PROTO_MAX_DEPTH)
        return fail(err, errlen, "nested deeper than %d", PROTO_MAX_DEPTH);
    switch (json_typeof(v)) {
    case JSON_NULL: msgpack_pack_nil(pk); return 0;
    case JSON_TRUE: msgpack_pack_true(pk); return 0;
    case JSON_FALSE: msgpack_pack_false(pk); return 0;
    case JSON_INTEGER: msgpack_pack_int64(pk, json_integer_value(v)); return 0;
    case JSON_REAL: msgpack_pack_double(pk, json_real_value(v)); return 0;
    case JSON_STRING:
        msgpack_pack_str(pk, json_string_length(v));
        msgpack_pack_str_body(pk, json_string_value(v), json_string_length(v));
        return 0;
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        if (n > UINT32_MAX)
            return fail(err, errlen, "array too long");
        msgpack_pack_array(pk, n);
        for (size_t i = 0; i < n; i++)
            if (pack_value(json_array_get(v, i), pk, out, depth + 1, err, errlen) != 0)
                return -1;
        return 0;
    }
    case JSON_OBJECT: {
        const char *key;
        json_t *val;
        size_t n = json_object_size(v);
        if (n == 1) {
            json_t *b = json_object_get(v, "$bin");
            json_t *e = json_object_get(v, "$ext");
            if (b != NULL) {
                proto_buf tmp = PROTO_BUF_INIT;
                if (!json_is_string(b) ||
                    b64_decode(json_string_value(b), json_string_length(b), &tmp) != 0) {
                    proto_buf_free(&tmp);
                    return fail(err, errlen, "$bin is not a base64 string");
                }
                msgpack_pack_bin(pk, tmp.len);
                msgpack_pack_bin_body(pk, tmp.data, tmp.len);
                proto_buf_free(&tmp);
                return 0;
            }
            if (e != NULL) {
                proto_buf tmp = PROTO_BUF_INIT;
                json_t *t = json_array_get(e, 0), *d = json_array_get(e, 1);
                if (!json_is_array(e) || json_array_size(e) != 2 || !json_is_integer(t) ||
                    json_integer_value(t) < -128 || json_integer_value(t) > 127 ||
                    !json_is_string(d) ||
                    b64_decode(json_string_value(d), json_string_length(d), &tmp) != 0) {
                    proto_buf_free(&tmp);
                    return fail(err, errlen, "$ext is not [type, base64]");
                }
                msgpack_pack_ext(pk, tmp.len, (int8_t)json_integer_value(t));
                msgpack_pack_ext_body(pk, tmp.data, tmp.len);
                proto_buf_free(&tmp);
                return 0;
            }
        }
        msgpack_pack_map(pk, n);
        json_object_foreach((json_t *)v, key, val) {
            size_t kl = strlen(key); /* keys with NUL bytes are refused at parse */
            msgpack_pack_str(pk, kl);
            msgpack_pack_str_body(pk, key, kl);
            if (pack_value(val, pk, out, depth + 1, err, errlen) != 0)
                return -1;
        }
        return 0;
    }
    }
    return fail(err, errlen, "unsupported JSON value");
}

int jsonmp_pack(const json_t *v, proto_buf *out, char *err, size_t errlen)
{
    msgpack_packer pk;
    size_t start = out->len;
    msgpack_packer_init(&pk, out, proto_buf_msgpack_write);
    if (pack_value(v, &pk, out, 0, err, errlen) != 0)
        return -1;
    /* The packer's writes can fail silently on memory: check what came out. */
    size_t obj;
    if (proto_mp_check(out->data + start, out->len - start, &obj) != 0 || obj != out->len - start)
        return fail(err, errlen, "out of memory");
    return 0;
}

int jsonmp_from_text(const char *text, size_t len, proto_buf *out, char *err, size_t errlen)
{
    json_error_t je;
    json_t *v = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (v == NULL)
        return fail(err, errlen, "invalid JSON at line %d column %d: %s", je.line, je.column,
                    je.text);
    int r = jsonmp_pack(v, out, err, errlen);
    json_decref(v);
    return r;
}

json_t *jsonmp_to_json(const void *mp, size_t len)
{
    char *text = NULL;
    if (skr_msgpack_to_json(mp, len, 0, &text) != 0)
        return NULL;
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    skr_string_free(text);
    return v;
}
