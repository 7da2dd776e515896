#include "response.h"

#include <stdint.h>
#include <string.h>

#include "frame.h"
#include "mp.h"
#include "sekrets/error.h"

void proto_pack_str(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

void proto_pack_cstr(msgpack_packer *pk, const char *s)
{
    proto_pack_str(pk, s, strlen(s));
}

/*
 * Writers of single items straight into room reserved before: each writes the bytes
 * msgpack_pack_* writes for the same value (the shortest encoding; test_response checks
 * them against msgpack-c at every boundary) and returns where it stopped.
 */
static uint8_t *put_be(uint8_t *p, uint8_t tag, uint64_t v, int n)
{
    *p++ = tag;
    for (int i = n - 1; i >= 0; i--)
        *p++ = (uint8_t)(v >> (8 * i));
    return p;
}

static uint8_t *put_uint(uint8_t *p, uint64_t v) /* msgpack_pack_uint64 */
{
    if (v < 0x80) {
        *p = (uint8_t)v;
        return p + 1;
    }
    return v < 0x100 ? put_be(p, 0xcc, v, 1) : v < 0x10000 ? put_be(p, 0xcd, v, 2)
         : v <= UINT32_MAX ? put_be(p, 0xce, v, 4) : put_be(p, 0xcf, v, 8);
}

static uint8_t *put_int(uint8_t *p, int64_t v) /* msgpack_pack_int64 */
{
    if (v >= 0)
        return put_uint(p, (uint64_t)v);
    if (v >= -32) {
        *p = (uint8_t)v; /* negative fixint */
        return p + 1;
    }
    uint64_t u = (uint64_t)v;
    return v >= INT8_MIN ? put_be(p, 0xd0, u, 1) : v >= INT16_MIN ? put_be(p, 0xd1, u, 2)
         : v >= INT32_MIN ? put_be(p, 0xd2, u, 4) : put_be(p, 0xd3, u, 8);
}

static uint8_t *put_str(uint8_t *p, const void *s, size_t n) /* msgpack_pack_str + body */
{
    if (n < 32)
        *p++ = (uint8_t)(0xa0 | n);
    else
        p = n < 0x100 ? put_be(p, 0xd9, n, 1) : n < 0x10000 ? put_be(p, 0xda, n, 2)
          : put_be(p, 0xdb, n, 4);
    memcpy(p, s, n);
    return p + n;
}

/* A key or other fixed bytes, given as a literal with its MessagePack header. */
#define PUT_LIT(p, lit) (memcpy((p), "" lit, sizeof(lit) - 1), (p) + sizeof(lit) - 1)

/* The most an ok head takes: fixmap, "id", a uint32, "ok", true, "result". */
#define OK_HEAD_MAX (1 + 3 + 5 + 3 + 1 + 7)

/* {"id": id, "ok": true, "result": ... as proto_response_begin_ok packs it. */
static uint8_t *put_ok_head(uint8_t *p, uint32_t id)
{
    p = PUT_LIT(p, "\x83\xa2" "id");
    p = put_uint(p, id);
    return PUT_LIT(p, "\xa2" "ok" "\xc3" "\xa6" "result");
}

/* The bytes written straight into reserved room, up to `end`, now count as appended. */
static void buf_commit(proto_buf *out, const uint8_t *end)
{
    out->len = (size_t)(end - out->data);
}

int proto_response_begin_ok(proto_buf *out, msgpack_packer *pk, uint32_t id, size_t *mark)
{
    int rc = proto_buf_reserve(out, PROTO_HEADER_LEN + OK_HEAD_MAX);
    if (rc != 0)
        return rc;
    proto_frame_begin(out, mark);
    buf_commit(out, put_ok_head(out->data + out->len, id));
    msgpack_packer_init(pk, out, proto_buf_msgpack_write);
    return 0;
}

int proto_response_ok_record(proto_buf *out, uint32_t id, const proto_record *r,
                             uint32_t max_frame)
{
    /* A str longer than 32 bits has no MessagePack header; no frame could hold it anyway. */
    if (r->protocol_len > UINT32_MAX || r->name_len > UINT32_MAX || r->body_len > UINT32_MAX)
        return SKR_ETOO_LARGE;
    /* The fixed parts at their longest: map header, 5 keys, 2 str headers, 2 int64s. */
    size_t need = PROTO_HEADER_LEN + OK_HEAD_MAX + 1 + 9 + 5 + 5 + 8 + 9 + 2 * 5 + 2 * 9;
    need += r->protocol_len + r->name_len + r->body_len;
    /* One reserve: nothing below can fail half-way, so no append can leave a hole (the
     * sticky `failed` of an earlier one is still honoured by proto_frame_end). */
    int rc = proto_buf_reserve(out, need);
    if (rc != 0)
        return rc;
    size_t mark;
    proto_frame_begin(out, &mark);
    uint8_t *p = put_ok_head(out->data + out->len, id);
    p = PUT_LIT(p, "\x85\xa8" "protocol");
    p = put_str(p, r->protocol, r->protocol_len);
    p = PUT_LIT(p, "\xa4" "name");
    p = put_str(p, r->name, r->name_len);
    p = PUT_LIT(p, "\xa4" "body");
    memcpy(p, r->body, r->body_len);
    p = PUT_LIT(p + r->body_len, "\xa7" "created");
    p = put_int(p, r->created);
    p = PUT_LIT(p, "\xa8" "modified");
    p = put_int(p, r->modified);
    buf_commit(out, p);
    return proto_frame_end(out, mark, max_frame);
}

int proto_response_ok_empty(proto_buf *out, uint32_t id)
{
    msgpack_packer pk;
    size_t mark;
    int rc = proto_response_begin_ok(out, &pk, id, &mark);
    if (rc != 0)
        return rc;
    msgpack_pack_map(&pk, 0);
    return proto_frame_end(out, mark, UINT32_MAX);
}

/* Room the optional keys take, or SIZE_MAX when extra is out of bounds. */
static size_t extra_size(const proto_error_extra *extra)
{
    size_t n = 0;
    if (extra == NULL)
        return 0;
    if (extra->nprotocols > PROTO_MAX_AMBIGUOUS)
        return SIZE_MAX;
    for (size_t i = 0; i < extra->nprotocols; i++) {
        size_t len = strnlen(extra->protocols[i], PROTO_MAX_PROTOCOL + 1);
        if (len > PROTO_MAX_PROTOCOL)
            return SIZE_MAX;
        n += len + 5;
    }
    return n + 32;
}

static void pack_extra(msgpack_packer *pk, const proto_error_extra *extra)
{
    if (extra == NULL)
        return;
    if (extra->nprotocols > 0) {
        PROTO_PACK_LIT(pk, "protocols");
        msgpack_pack_array(pk, extra->nprotocols);
        for (size_t i = 0; i < extra->nprotocols; i++)
            proto_pack_cstr(pk, extra->protocols[i]);
    }
    if (extra->has_retry_after) {
        PROTO_PACK_LIT(pk, "retry_after");
        msgpack_pack_uint32(pk, extra->retry_after);
    }
}

static size_t extra_keys(const proto_error_extra *extra)
{
    if (extra == NULL)
        return 0;
    return (extra->nprotocols > 0 ? 1 : 0) + (extra->has_retry_after ? 1 : 0);
}

int proto_response_error(proto_buf *out, uint32_t id, int code, const char *message)
{
    return proto_response_error_ex(out, id, code, message, NULL);
}

int proto_response_error_ex(proto_buf *out, uint32_t id, int code, const char *message,
                            const proto_error_extra *extra)
{
    size_t more = extra_size(extra);
    if (more == SIZE_MAX)
        return SKR_EINVAL;
    const char *name = skr_error_name(code);
    if (name == NULL) {
        code = SKR_EINTERNAL;
        name = skr_error_name(code);
    }
    if (message == NULL)
        message = skr_strerror(code);
    /* strlen, not strnlen: the message is a C string, and gcc -flto flags a strnlen bound
     * above the size of a caller's buffer (the daemon's 160-byte decode messages). */
    size_t mlen = strlen(message);
    /* A cut message must stay valid UTF-8: do not end inside a multi-byte sequence. */
    if (mlen > PROTO_MAX_MESSAGE) {
        mlen = PROTO_MAX_MESSAGE;
        while (mlen > 0 && ((unsigned char)message[mlen] & 0xc0) == 0x80)
            mlen--;
    }
    int rc = proto_buf_reserve(out, 64 + mlen + more);
    if (rc != 0)
        return rc;
    size_t mark;
    proto_frame_begin(out, &mark);
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, proto_buf_msgpack_write);
    msgpack_pack_map(&pk, 3);
    PROTO_PACK_LIT(&pk, "id");
    msgpack_pack_uint32(&pk, id);
    PROTO_PACK_LIT(&pk, "ok");
    msgpack_pack_false(&pk);
    PROTO_PACK_LIT(&pk, "error");
    msgpack_pack_map(&pk, 2 + extra_keys(extra));
    PROTO_PACK_LIT(&pk, "code");
    proto_pack_cstr(&pk, name);
    PROTO_PACK_LIT(&pk, "message");
    proto_pack_str(&pk, message, mlen);
    pack_extra(&pk, extra);
    return proto_frame_end(out, mark, UINT32_MAX);
}

static int key_is(const char *k, uint32_t n, const char *want)
{
    return strlen(want) == n && memcmp(k, want, n) == 0;
}

/* error.protocols: an array of str, kept as its packed bytes (proto_response_protocol
 * reads one). */
static int decode_protocols(proto_cur *c, proto_span *out)
{
    proto_cur start = *c;
    uint32_t n;
    if (proto_cur_array(c, &n) != 0)
        return SKR_EPROTOCOL;
    for (uint32_t i = 0; i < n; i++) {
        const char *s;
        uint32_t sn;
        if (proto_cur_str(c, &s, &sn) != 0)
            return SKR_EPROTOCOL;
    }
    size_t len;
    if (proto_cur_skip(&start, &out->ptr, &len) != 0)
        return SKR_EPROTOCOL;
    out->len = (uint32_t)len;
    return 0;
}

static int decode_error(proto_cur *c, proto_response *r)
{
    uint32_t pairs;
    bool have_code = false;
    if (proto_cur_map(c, &pairs) != 0)
        return SKR_EPROTOCOL;
    for (uint32_t i = 0; i < pairs; i++) {
        const char *k, *s;
        uint32_t kn, sn;
        if (proto_cur_str(c, &k, &kn) != 0)
            return SKR_EPROTOCOL;
        if (key_is(k, kn, "code")) {
            if (proto_cur_str(c, &s, &sn) != 0)
                return SKR_EPROTOCOL;
            r->code = skr_error_from_name(s, sn);
            have_code = true;
        } else if (key_is(k, kn, "message")) {
            if (proto_cur_str(c, &s, &sn) != 0)
                return SKR_EPROTOCOL;
            r->message.ptr = (const uint8_t *)s;
            r->message.len = sn;
        } else if (key_is(k, kn, "protocols")) {
            if (decode_protocols(c, &r->protocols) != 0)
                return SKR_EPROTOCOL;
        } else if (key_is(k, kn, "retry_after")) {
            uint64_t v;
            if (proto_cur_uint(c, &v) != 0)
                return SKR_EPROTOCOL;
            r->retry_after = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
            r->has_retry_after = true;
        } else if (proto_cur_skip(c, NULL, NULL) != 0) {
            return SKR_EPROTOCOL;
        }
    }
    return have_code ? 0 : SKR_EPROTOCOL;
}

/* The response map, each of its keys and values checked by proto_mp_check_depth (honest
 * counts, no 0xc1, ...) and nothing after it. Values may nest PROTO_MAX_DEPTH deep inside
 * the map: get's result is the record map around a body that nests up to
 * PROTO_MAX_DEPTH - 1 deep (as in the request that stored it), so a response is one
 * level deeper than a request may be. 0 or -1. */
static int check_response(const uint8_t *buf, size_t len)
{
    proto_cur c = proto_cur_make(buf, len);
    uint32_t pairs;
    if (proto_cur_map(&c, &pairs) != 0)
        return -1;
    /* each key and value takes a byte at least: the loop ends with the buffer */
    for (uint64_t i = 0; i < 2 * (uint64_t)pairs; i++) {
        size_t n;
        if (proto_mp_check_depth(c.p, (size_t)(c.end - c.p), PROTO_MAX_DEPTH, &n) != 0)
            return -1;
        c.p += n;
    }
    return c.p == c.end ? 0 : -1;
}

int proto_response_decode(const uint8_t *buf, size_t len, proto_response *r)
{
    memset(r, 0, sizeof(*r));
    if (check_response(buf, len) != 0)
        return SKR_EPROTOCOL;
    proto_cur c = proto_cur_make(buf, len);
    uint32_t pairs;
    if (proto_cur_map(&c, &pairs) != 0)
        return SKR_EPROTOCOL;
    bool have_id = false, have_ok = false, have_payload = false;
    for (uint32_t i = 0; i < pairs; i++) {
        const char *k;
        uint32_t kn;
        if (proto_cur_str(&c, &k, &kn) != 0)
            return SKR_EPROTOCOL;
        if (key_is(k, kn, "id")) {
            uint64_t id;
            if (proto_cur_uint(&c, &id) != 0 || id > UINT32_MAX)
                return SKR_EPROTOCOL;
            r->id = (uint32_t)id;
            have_id = true;
        } else if (key_is(k, kn, "ok")) {
            if (proto_cur_bool(&c, &r->ok) != 0)
                return SKR_EPROTOCOL;
            have_ok = true;
        } else if (key_is(k, kn, "result")) {
            size_t n;
            if (proto_cur_skip(&c, &r->result.ptr, &n) != 0)
                return SKR_EPROTOCOL;
            r->result.len = (uint32_t)n;
            have_payload = true;
        } else if (key_is(k, kn, "error")) {
            if (decode_error(&c, r) != 0)
                return SKR_EPROTOCOL;
            have_payload = true;
        } else if (proto_cur_skip(&c, NULL, NULL) != 0) {
            return SKR_EPROTOCOL;
        }
    }
    if (!have_id || !have_ok || !have_payload)
        return SKR_EPROTOCOL;
    if (!r->ok && r->code == 0)
        return SKR_EPROTOCOL;
    if (r->ok) {
        r->code = 0;
        if (r->result.ptr == NULL)
            return SKR_EPROTOCOL;
    }
    return 0;
}
