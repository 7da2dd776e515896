/*
 * bench/bench_kv.c - requests for credential i, and the check of each reply (bench_kv.h).
 */
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_kv.h"
#include "frame.h"
#include "mp.h"
#include "request.h"
#include "response.h"

/* Decimal digits of v at p; their count. (snprintf cost this client more per request
 * than the daemon's whole decode.) */
static size_t utoa(char *p, unsigned long v)
{
    char t[24];
    size_t n = 0, k;

    do {
        t[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (k = 0; k < n; k++)
        p[k] = t[n - 1 - k];
    return n;
}

/* A msgpack str header for n < 256 bytes at p; its size. */
static size_t str_head(uint8_t *p, size_t n)
{
    if (n < 32) {
        p[0] = (uint8_t)(0xa0 | n);
        return 1;
    }
    p[0] = 0xd9;
    p[1] = (uint8_t)n;
    return 2;
}

void kv_body(const kv_spec *k, unsigned long i, proto_buf *b)
{
    uint8_t out[256];
    char val[200];
    unsigned bytes = k->body_bytes < 200 ? k->body_bytes : 200;
    /* {"password": <str>}: 1 map + 9 key bytes, a str header of 1 byte (up to 31) or 2
     * (up to 255), the rest the value: 64 bytes in all hold a 52-byte value */
    size_t vlen = bytes > 43 ? bytes - 12 : bytes > 14 ? bytes - 11 : 3, n, o;

    val[0] = 'v';
    n = 1 + utoa(val + 1, i);
    val[n++] = ':';
    for (size_t j = n; j < vlen; j++)
        val[j] = (char)('a' + (i + j) % 26);
    if (n > vlen)
        vlen = n;
    out[0] = 0x81;
    out[1] = 0xa8;
    memcpy(out + 2, "password", 8);
    o = 10 + str_head(out + 10, vlen);
    memcpy(out + o, val, vlen);
    proto_buf_reset(b);
    proto_buf_append(b, out, o + vlen);
}

static void resp_bulk(proto_buf *out, const void *p, size_t n)
{
    char head[32];
    int h = snprintf(head, sizeof(head), "$%zu\r\n", n);
    proto_buf_append(out, head, (size_t)h);
    proto_buf_append(out, p, n);
    proto_buf_append(out, "\r\n", 2);
}

static void encode_resp(const kv_spec *k, unsigned long i, proto_buf *out)
{
    char key[64];
    size_t kn = 1;

    key[0] = 'p';
    kn += utoa(key + kn, i % k->protocols);
    memcpy(key + kn, ":user", 5);
    kn += 5;
    kn += utoa(key + kn, i);
    if (k->op == KV_PUT) {
        proto_buf body = PROTO_BUF_INIT;
        kv_body(k, i, &body);
        proto_buf_append(out, "*3\r\n$3\r\nSET\r\n", 13);
        resp_bulk(out, key, kn);
        resp_bulk(out, body.data, body.len);
        proto_buf_free(&body);
    } else if (k->op == KV_PING) {
        proto_buf_append(out, "*1\r\n$4\r\nPING\r\n", 14);
    } else {
        proto_buf_append(out, "*2\r\n$3\r\nGET\r\n", 13);
        resp_bulk(out, key, kn);
    }
}

/* A get frame for credential i, packed by hand: {"id", "op": "get", "protocol", "name"}. */
static void encode_get(const kv_spec *k, unsigned long i, uint32_t id, proto_buf *out)
{
    uint8_t f[96];
    char num[24];
    size_t n = 4, d;

    memcpy(f + n, "\x84\xa2id\xce", 5);
    n += 5;
    proto_put_be32(f + n, id);
    n += 4;
    memcpy(f + n, "\xa2op\xa3get\xa8protocol", 16);
    n += 16;
    d = utoa(num, i % k->protocols);
    f[n++] = (uint8_t)(0xa0 | (d + 1));
    f[n++] = 'p';
    memcpy(f + n, num, d);
    n += d;
    memcpy(f + n, "\xa4name", 5);
    n += 5;
    d = utoa(num, i);
    f[n++] = (uint8_t)(0xa0 | (d + 4));
    memcpy(f + n, "user", 4);
    memcpy(f + n + 4, num, d);
    n += 4 + d;
    proto_put_be32(f, (uint32_t)(n - 4));
    proto_buf_append(out, f, n);
}

void kv_encode(const kv_spec *k, unsigned long i, uint32_t id, proto_buf *out)
{
    static proto_buf body = PROTO_BUF_INIT;
    proto_request r;

    if (k->redis) {
        encode_resp(k, i, out);
        return;
    }
    if (k->op == KV_GET) {
        encode_get(k, i, id, out);
        return;
    }
    memset(&r, 0, sizeof(r));
    r.id = id;
    if (k->op == KV_PING) {
        r.op = PROTO_OP_PING;
    } else if (k->op == KV_GETDB) {
        r.op = PROTO_OP_GETDB;
        r.protocol_len = (uint32_t)snprintf(r.protocol, sizeof(r.protocol), "db1000");
        r.fields = PROTO_F_PROTOCOL;
    } else {
        r.op = k->op == KV_PUT ? PROTO_OP_PUT : PROTO_OP_GET;
        r.protocol_len = (uint32_t)snprintf(r.protocol, sizeof(r.protocol), "p%lu", i % k->protocols);
        r.name_len = (uint32_t)snprintf(r.name, sizeof(r.name), "user%lu", i);
        r.fields = PROTO_F_PROTOCOL | PROTO_F_NAME;
        if (r.op == PROTO_OP_PUT) {
            kv_body(k, i, &body);
            r.body = (proto_span){ body.data, (uint32_t)body.len };
            r.fields |= PROTO_F_BODY;
        }
    }
    if (proto_request_encode(out, &r, PROTO_MAX_FRAME_LIMIT) != 0) {
        fprintf(stderr, "bench_wire: encode failed\n");
        exit(1);
    }
}

/* 0 when the get result map holds name "user<i>" and exactly i's body. */
static int check_result(const kv_spec *k, proto_span res, unsigned long i, proto_buf *scratch)
{
    proto_cur c = proto_cur_make(res.ptr, res.len);
    char want[32];
    size_t wn = 4 + utoa(want + 4, i);
    int seen = 0;
    uint32_t n;

    memcpy(want, "user", 4);

    if (proto_cur_map(&c, &n) != 0)
        return 1;
    kv_body(k, i, scratch);
    while (n-- > 0) {
        const char *key, *s;
        uint32_t kn, sn;
        const uint8_t *raw;
        size_t rn;
        if (proto_cur_str(&c, &key, &kn) != 0)
            return 1;
        if (kn == 4 && memcmp(key, "name", 4) == 0) {
            if (proto_cur_str(&c, &s, &sn) != 0 || sn != wn || memcmp(s, want, sn) != 0)
                return 1;
            seen |= 1;
        } else if (proto_cur_skip(&c, &raw, &rn) != 0) {
            return 1;
        } else if (kn == 4 && memcmp(key, "body", 4) == 0) {
            if (rn != scratch->len || memcmp(raw, scratch->data, rn) != 0)
                return 1;
            seen |= 2;
        }
    }
    return seen == 3 ? 0 : 1;
}

int kv_check_frame(const kv_spec *k, const uint8_t *f, size_t len, unsigned long i,
                   uint32_t *id, proto_buf *scratch)
{
    proto_response r;
    const char *key;
    uint32_t kn;
    uint64_t v;
    bool ok;

    /* The daemon's key order (id, ok, result): read in place; anything else (an error
     * reply) by the full decoder. */
    if (len > 4 && f[0] == 0x83 && f[1] == 0xa2 && f[2] == 'i' && f[3] == 'd') {
        proto_cur c = proto_cur_make(f + 4, len - 4);
        if (proto_cur_uint(&c, &v) == 0 && proto_cur_str(&c, &key, &kn) == 0 && kn == 2 &&
            memcmp(key, "ok", 2) == 0 && proto_cur_bool(&c, &ok) == 0 &&
            proto_cur_str(&c, &key, &kn) == 0 && kn == 6 && memcmp(key, "result", 6) == 0) {
            *id = (uint32_t)v;
            if (!ok)
                return 1;
            return k->op == KV_GET
                       ? check_result(k, (proto_span){ c.p, (uint32_t)(c.end - c.p) }, i, scratch)
                       : 0;
        }
    }
    if (proto_response_decode(f, len, &r) != 0)
        return -1;
    *id = r.id;
    if (!r.ok)
        return 1;
    return k->op == KV_GET ? check_result(k, r.result, i, scratch) : 0;
}

/* The end of the line starting at p (just past its \r\n), or NULL when not whole yet. */
static const uint8_t *resp_line(const uint8_t *p, const uint8_t *end)
{
    const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
    return nl == NULL ? NULL : nl + 1;
}

int kv_check_resp(const kv_spec *k, const kv_in *in, size_t at, size_t *used, unsigned long i,
                  proto_buf *scratch)
{
    const uint8_t *p = in->p + at, *end = in->p + in->len, *eol;

    *used = 0;
    if (p == end || (eol = resp_line(p, end)) == NULL)
        return 0;
    if (p[0] == '+' || p[0] == '-' || p[0] == ':') { /* +OK / +PONG, an error, a number */
        *used = (size_t)(eol - p);
        return p[0] == '-' || k->op == KV_GET;
    }
    if (p[0] != '$')
        return -1;
    long n = strtol((const char *)p + 1, NULL, 10);
    if (n < 0) { /* nil: the key is not there */
        *used = (size_t)(eol - p);
        return 1;
    }
    if ((size_t)(end - eol) < (size_t)n + 2)
        return 0;
    *used = (size_t)(eol - p) + (size_t)n + 2;
    if (k->op != KV_GET)
        return 0;
    kv_body(k, i, scratch);
    return (size_t)n == scratch->len && memcmp(eol, scratch->data, (size_t)n) == 0 ? 0 : 1;
}
