/*
 * The hex test vectors of proto/PROTOCOL.md, byte for byte: each request encodes to exactly
 * its bytes and decodes to exactly its fields; each response encodes to exactly its bytes
 * and decodes back; each broken frame gets exactly its error reply. A last test checks that
 * the document carries the very same hex strings as this file, and no others.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "request.h"
#include "response.h"
#include "sekrets/error.h"

/* ---- helpers ------------------------------------------------------------------------ */

static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
    size_t n = 0;
    while (*s) {
        if (*s == ' ') {
            s++;
            continue;
        }
        unsigned v;
        ck_assert_msg(sscanf(s, "%2x", &v) == 1, "bad hex at '%s'", s);
        ck_assert_uint_lt(n, cap);
        out[n++] = (uint8_t)v;
        s += 2;
    }
    return n;
}

static char *tohex(const uint8_t *p, size_t n)
{
    char *s = malloc(n * 3 + 1);
    ck_assert_ptr_nonnull(s);
    size_t o = 0;
    s[0] = '\0';
    for (size_t i = 0; i < n; i++)
        o += (size_t)sprintf(s + o, i ? " %02x" : "%02x", p[i]);
    return s;
}

static void ck_hex(const uint8_t *p, size_t n, const char *want)
{
    char *got = tohex(p, n);
    ck_assert_str_eq(got, want);
    free(got);
}

/* ---- requests ------------------------------------------------------------------------ */

static const char body_post[] = "\x81\xa5token\xa6s3cr3t"; /* {"token":"s3cr3t"} */
static const char body_put[] = "\x81\xa5token\xa3n3w";     /* {"token":"n3w"} */

typedef struct req_vec {
    const char *label;
    uint32_t id;
    proto_op op;
    const char *protocol, *name, *body;
    size_t body_len;
    const char *pass, *old, *new_;
    const char *hex;
} req_vec;

static const req_vec req_vecs[] = {
    { "ping", 1, PROTO_OP_PING, NULL, NULL, NULL, 0, NULL, NULL, NULL,
      "00 00 00 0d 82 a2 69 64 01 a2 6f 70 a4 70 69 6e 67" },
    { "status", 2, PROTO_OP_STATUS, NULL, NULL, NULL, 0, NULL, NULL, NULL,
      "00 00 00 0f 82 a2 69 64 02 a2 6f 70 a6 73 74 61 74 75 73" },
    { "get", 3, PROTO_OP_GET, "github", "alice", NULL, 0, NULL, NULL, NULL,
      "00 00 00 27 84 a2 69 64 03 a2 6f 70 a3 67 65 74 a8 70 72 6f 74 6f 63 6f 6c a6 67 69 74 68 75 62 a4 6e 61 6d 65 a5 61 6c 69 63 65" },
    { "get without protocol", 3, PROTO_OP_GET, NULL, "alice", NULL, 0, NULL, NULL, NULL,
      "00 00 00 17 83 a2 69 64 03 a2 6f 70 a3 67 65 74 a4 6e 61 6d 65 a5 61 6c 69 63 65" },
    { "getDb", 4, PROTO_OP_GETDB, "github", NULL, NULL, 0, NULL, NULL, NULL,
      "00 00 00 1e 83 a2 69 64 04 a2 6f 70 a5 67 65 74 44 62 a8 70 72 6f 74 6f 63 6f 6c a6 67 69 74 68 75 62" },
    { "getHub", 5, PROTO_OP_GETHUB, NULL, NULL, NULL, 0, NULL, NULL, NULL,
      "00 00 00 0f 82 a2 69 64 05 a2 6f 70 a6 67 65 74 48 75 62" },
    { "post", 6, PROTO_OP_POST, "github", "alice", body_post, sizeof(body_post) - 1, NULL, NULL, NULL,
      "00 00 00 3b 85 a2 69 64 06 a2 6f 70 a4 70 6f 73 74 a8 70 72 6f 74 6f 63 6f 6c a6 67 69 74 68 75 62 a4 6e 61 6d 65 a5 61 6c 69 63 65 a4 62 6f 64 79 81 a5 74 6f 6b 65 6e a6 73 33 63 72 33 74" },
    { "put", 7, PROTO_OP_PUT, "github", "alice", body_put, sizeof(body_put) - 1, NULL, NULL, NULL,
      "00 00 00 37 85 a2 69 64 07 a2 6f 70 a3 70 75 74 a8 70 72 6f 74 6f 63 6f 6c a6 67 69 74 68 75 62 a4 6e 61 6d 65 a5 61 6c 69 63 65 a4 62 6f 64 79 81 a5 74 6f 6b 65 6e a3 6e 33 77" },
    { "delete", 8, PROTO_OP_DELETE, "github", "alice", NULL, 0, NULL, NULL, NULL,
      "00 00 00 2a 84 a2 69 64 08 a2 6f 70 a6 64 65 6c 65 74 65 a8 70 72 6f 74 6f 63 6f 6c a6 67 69 74 68 75 62 a4 6e 61 6d 65 a5 61 6c 69 63 65" },
    { "init", 9, PROTO_OP_INIT, NULL, NULL, NULL, 0, "correct horse", NULL, NULL,
      "00 00 00 26 83 a2 69 64 09 a2 6f 70 a4 69 6e 69 74 aa 70 61 73 73 70 68 72 61 73 65 ad 63 6f 72 72 65 63 74 20 68 6f 72 73 65" },
    { "unlock", 10, PROTO_OP_UNLOCK, NULL, NULL, NULL, 0, "correct horse", NULL, NULL,
      "00 00 00 28 83 a2 69 64 0a a2 6f 70 a6 75 6e 6c 6f 63 6b aa 70 61 73 73 70 68 72 61 73 65 ad 63 6f 72 72 65 63 74 20 68 6f 72 73 65" },
    { "lock", 11, PROTO_OP_LOCK, NULL, NULL, NULL, 0, NULL, NULL, NULL,
      "00 00 00 0d 82 a2 69 64 0b a2 6f 70 a4 6c 6f 63 6b" },
    { "passwd", 12, PROTO_OP_PASSWD, NULL, NULL, NULL, 0, NULL, "correct horse", "battery staple",
      "00 00 00 34 84 a2 69 64 0c a2 6f 70 a6 70 61 73 73 77 64 a3 6f 6c 64 ad 63 6f 72 72 65 63 74 20 68 6f 72 73 65 a3 6e 65 77 ae 62 61 74 74 65 72 79 20 73 74 61 70 6c 65" },
    { "rotate", 13, PROTO_OP_ROTATE, NULL, NULL, NULL, 0, NULL, NULL, NULL,
      "00 00 00 0f 82 a2 69 64 0d a2 6f 70 a6 72 6f 74 61 74 65" },
};
#define N_REQ (int)(sizeof(req_vecs) / sizeof(req_vecs[0]))

static void make_req(const req_vec *v, proto_request *r)
{
    memset(r, 0, sizeof(*r));
    r->id = v->id;
    r->op = v->op;
    if (v->protocol) {
        r->fields |= PROTO_F_PROTOCOL;
        r->protocol_len = (uint32_t)strlen(v->protocol);
        memcpy(r->protocol, v->protocol, r->protocol_len);
    }
    if (v->name) {
        r->fields |= PROTO_F_NAME;
        r->name_len = (uint32_t)strlen(v->name);
        memcpy(r->name, v->name, r->name_len);
    }
    if (v->body) {
        r->fields |= PROTO_F_BODY;
        r->body.ptr = (const uint8_t *)v->body;
        r->body.len = (uint32_t)v->body_len;
    }
    if (v->pass) {
        r->fields |= PROTO_F_PASSPHRASE;
        r->passphrase.ptr = (const uint8_t *)v->pass;
        r->passphrase.len = (uint32_t)strlen(v->pass);
    }
    if (v->old) {
        r->fields |= PROTO_F_OLD;
        r->old_pass.ptr = (const uint8_t *)v->old;
        r->old_pass.len = (uint32_t)strlen(v->old);
    }
    if (v->new_) {
        r->fields |= PROTO_F_NEW;
        r->new_pass.ptr = (const uint8_t *)v->new_;
        r->new_pass.len = (uint32_t)strlen(v->new_);
    }
}

static void ck_span(proto_span s, const char *want, size_t want_len)
{
    if (want == NULL) {
        ck_assert_ptr_null(s.ptr);
        ck_assert_uint_eq(s.len, 0);
        return;
    }
    ck_assert_uint_eq(s.len, want_len);
    ck_assert_mem_eq(s.ptr, want, want_len);
}

START_TEST(request_encode_exact)
{
    const req_vec *v = &req_vecs[_i];
    proto_request r;
    proto_buf out = PROTO_BUF_INIT;
    make_req(v, &r);
    ck_assert_int_eq(proto_request_encode(&out, &r, PROTO_MAX_FRAME_DEFAULT), 0);
    ck_hex(out.data, out.len, v->hex);
    proto_buf_free(&out);
}
END_TEST

START_TEST(request_decode_exact)
{
    const req_vec *v = &req_vecs[_i];
    uint8_t frame[256];
    size_t n = unhex(v->hex, frame, sizeof(frame));
    ck_assert_uint_eq(proto_be32(frame), n - 4);

    proto_request r;
    char msg[PROTO_ERRMSG_MAX];
    ck_assert_int_eq(proto_request_decode(frame + 4, n - 4, &r, msg), 0);
    ck_assert_str_eq(msg, "");
    ck_assert_uint_eq(r.id, v->id);
    ck_assert_int_eq(r.op, v->op);
    const char *wire = proto_op_name(r.op); /* the label starts with the op's wire name */
    ck_assert_ptr_nonnull(wire);
    ck_assert_int_eq(strncmp(v->label, wire, strlen(wire)), 0);
    ck_assert(v->label[strlen(wire)] == '\0' || v->label[strlen(wire)] == ' ');
    unsigned want = (v->protocol ? PROTO_F_PROTOCOL : 0) | (v->name ? PROTO_F_NAME : 0) |
                    (v->body ? PROTO_F_BODY : 0) | (v->pass ? PROTO_F_PASSPHRASE : 0) |
                    (v->old ? PROTO_F_OLD : 0) | (v->new_ ? PROTO_F_NEW : 0);
    ck_assert_uint_eq(r.fields, want);
    ck_assert_str_eq(r.protocol, v->protocol ? v->protocol : "");
    ck_assert_uint_eq(r.protocol_len, v->protocol ? strlen(v->protocol) : 0);
    ck_assert_str_eq(r.name, v->name ? v->name : "");
    ck_assert_uint_eq(r.name_len, v->name ? strlen(v->name) : 0);
    ck_span(r.body, v->body, v->body_len);
    ck_span(r.passphrase, v->pass, v->pass ? strlen(v->pass) : 0);
    ck_span(r.old_pass, v->old, v->old ? strlen(v->old) : 0);
    ck_span(r.new_pass, v->new_, v->new_ ? strlen(v->new_) : 0);
    /* spans point into the frame itself */
    if (v->body)
        ck_assert(r.body.ptr > frame && r.body.ptr + r.body.len <= frame + n);
}
END_TEST

/* ---- responses ----------------------------------------------------------------------- */

#define HEX_PONG    "00 00 00 15 83 a2 69 64 01 a2 6f 6b c3 a6 72 65 73 75 6c 74 a4 70 6f 6e 67"
#define HEX_EMPTY   "00 00 00 11 83 a2 69 64 09 a2 6f 6b c3 a6 72 65 73 75 6c 74 80"
#define HEX_CREATED "00 00 00 1a 83 a2 69 64 06 a2 6f 6b c3 a6 72 65 73 75 6c 74 81 a7 63 72 65 61 74 65 64 c3"
#define HEX_NOTFOUND "00 00 00 3d 83 a2 69 64 03 a2 6f 6b c2 a5 65 72 72 6f 72 82 a4 63 6f 64 65 a9 6e 6f 74 5f 66 6f 75 6e 64 a7 6d 65 73 73 61 67 65 b5 6e 6f 20 63 72 65 64 65 6e 74 69 61 6c 20 27 61 6c 69 63 65 27"
#define HEX_DENIED  "00 00 00 36 83 a2 69 64 00 a2 6f 6b c2 a5 65 72 72 6f 72 82 a4 63 6f 64 65 a6 64 65 6e 69 65 64 a7 6d 65 73 73 61 67 65 b1 70 65 72 6d 69 73 73 69 6f 6e 20 64 65 6e 69 65 64"

static void ck_decodes_ok(const char *hex, uint32_t id, const char *result_hex)
{
    uint8_t f[256];
    size_t n = unhex(hex, f, sizeof(f));
    proto_response r;
    ck_assert_int_eq(proto_response_decode(f + 4, n - 4, &r), 0);
    ck_assert_uint_eq(r.id, id);
    ck_assert(r.ok);
    ck_assert_int_eq(r.code, 0);
    ck_hex(r.result.ptr, r.result.len, result_hex);
}

static void ck_decodes_err(const char *hex, uint32_t id, int code, const char *message)
{
    uint8_t f[512];
    size_t n = unhex(hex, f, sizeof(f));
    proto_response r;
    ck_assert_int_eq(proto_response_decode(f + 4, n - 4, &r), 0);
    ck_assert_uint_eq(r.id, id);
    ck_assert(!r.ok);
    ck_assert_int_eq(r.code, code);
    ck_assert_uint_eq(r.message.len, strlen(message));
    ck_assert_mem_eq(r.message.ptr, message, r.message.len);
}

START_TEST(response_pong)
{
    proto_buf out = PROTO_BUF_INIT;
    msgpack_packer pk;
    size_t mark;
    ck_assert_int_eq(proto_response_begin_ok(&out, &pk, 1, &mark), 0);
    proto_pack_cstr(&pk, "pong");
    ck_assert_int_eq(proto_frame_end(&out, mark, PROTO_MAX_FRAME_DEFAULT), 0);
    ck_hex(out.data, out.len, HEX_PONG);
    ck_decodes_ok(HEX_PONG, 1, "a4 70 6f 6e 67");
    proto_buf_free(&out);
}
END_TEST

START_TEST(response_empty)
{
    proto_buf out = PROTO_BUF_INIT;
    ck_assert_int_eq(proto_response_ok_empty(&out, 9), 0);
    ck_hex(out.data, out.len, HEX_EMPTY);
    ck_decodes_ok(HEX_EMPTY, 9, "80");
    proto_buf_free(&out);
}
END_TEST

START_TEST(response_created)
{
    proto_buf out = PROTO_BUF_INIT;
    msgpack_packer pk;
    size_t mark;
    ck_assert_int_eq(proto_response_begin_ok(&out, &pk, 6, &mark), 0);
    msgpack_pack_map(&pk, 1);
    proto_pack_cstr(&pk, "created");
    msgpack_pack_true(&pk);
    ck_assert_int_eq(proto_frame_end(&out, mark, PROTO_MAX_FRAME_DEFAULT), 0);
    ck_hex(out.data, out.len, HEX_CREATED);
    ck_decodes_ok(HEX_CREATED, 6, "81 a7 63 72 65 61 74 65 64 c3");
    proto_buf_free(&out);
}
END_TEST

START_TEST(response_not_found)
{
    proto_buf out = PROTO_BUF_INIT;
    ck_assert_int_eq(proto_response_error(&out, 3, SKR_ENOT_FOUND, "no credential 'alice'"), 0);
    ck_hex(out.data, out.len, HEX_NOTFOUND);
    ck_decodes_err(HEX_NOTFOUND, 3, SKR_ENOT_FOUND, "no credential 'alice'");
    proto_buf_free(&out);
}
END_TEST

START_TEST(response_denied)
{
    proto_buf out = PROTO_BUF_INIT;
    ck_assert_int_eq(proto_response_error(&out, 0, SKR_EDENIED, NULL), 0);
    ck_hex(out.data, out.len, HEX_DENIED);
    ck_decodes_err(HEX_DENIED, 0, SKR_EDENIED, "permission denied");
    proto_buf_free(&out);
}
END_TEST

/* ---- errors: what is sent, what comes back ------------------------------------------- */

#define REPLY_BAD_FRAME "00 00 00 37 83 a2 69 64 00 a2 6f 6b c2 a5 65 72 72 6f 72 82 a4 63 6f 64 65 a9 62 61 64 5f 66 72 61 6d 65 a7 6d 65 73 73 61 67 65 af 6d 61 6c 66 6f 72 6d 65 64 20 66 72 61 6d 65"
#define REPLY_NOT_MSGPACK "00 00 00 71 83 a2 69 64 00 a2 6f 6b c2 a5 65 72 72 6f 72 82 a4 63 6f 64 65 a9 62 61 64 5f 66 72 61 6d 65 a7 6d 65 73 73 61 67 65 d9 48 66 72 61 6d 65 20 69 73 20 6e 6f 74 20 6f 6e 65 20 77 65 6c 6c 2d 66 6f 72 6d 65 64 20 4d 65 73 73 61 67 65 50 61 63 6b 20 6f 62 6a 65 63 74 20 28 6e 65 73 74 65 64 20 61 74 20 6d 6f 73 74 20 33 32 20 64 65 65 70 29"

typedef struct err_vec {
    const char *label;
    const char *sent;
    int stage;        /* 0: the frame reader refuses it; 1: proto_request_decode does */
    int code;
    uint32_t id;
    const char *message;
    const char *reply;
} err_vec;

static const err_vec err_vecs[] = {
    { "length 0", "00 00 00 00", 0, SKR_EBAD_FRAME, 0, "malformed frame", REPLY_BAD_FRAME },
    { "length max_frame + 1", "00 10 00 01", 0, SKR_EBAD_FRAME, 0, "malformed frame", REPLY_BAD_FRAME },
    { "length 0xffffffff", "ff ff ff ff", 0, SKR_EBAD_FRAME, 0, "malformed frame", REPLY_BAD_FRAME },
    { "trailing byte", "00 00 00 0e 82 a2 69 64 01 a2 6f 70 a4 70 69 6e 67 c0", 1, SKR_EBAD_FRAME, 1,
      "1 bytes left over after the MessagePack object",
      "00 00 00 57 83 a2 69 64 01 a2 6f 6b c2 a5 65 72 72 6f 72 82 a4 63 6f 64 65 a9 62 61 64 5f 66 72 61 6d 65 a7 6d 65 73 73 61 67 65 d9 2e 31 20 62 79 74 65 73 20 6c 65 66 74 20 6f 76 65 72 20 61 66 74 65 72 20 74 68 65 20 4d 65 73 73 61 67 65 50 61 63 6b 20 6f 62 6a 65 63 74" },
    { "truncated object", "00 00 00 05 82 a2 69 64 01", 1, SKR_EBAD_FRAME, 0,
      "frame is not one well-formed MessagePack object (nested at most 32 deep)", REPLY_NOT_MSGPACK },
    { "byte 0xc1", "00 00 00 01 c1", 1, SKR_EBAD_FRAME, 0,
      "frame is not one well-formed MessagePack object (nested at most 32 deep)", REPLY_NOT_MSGPACK },
    { "not a map", "00 00 00 01 c0", 1, SKR_EBAD_REQUEST, 0, "request must be a map",
      "00 00 00 3f 83 a2 69 64 00 a2 6f 6b c2 a5 65 72 72 6f 72 82 a4 63 6f 64 65 ab 62 61 64 5f 72 65 71 75 65 73 74 a7 6d 65 73 73 61 67 65 b5 72 65 71 75 65 73 74 20 6d 75 73 74 20 62 65 20 61 20 6d 61 70" },
    { "unknown op", "00 00 00 0d 82 a2 69 64 07 a2 6f 70 a4 70 6f 6e 67", 1, SKR_EUNKNOWN_OP, 7,
      "unknown op 'pong'",
      "00 00 00 3a 83 a2 69 64 07 a2 6f 6b c2 a5 65 72 72 6f 72 82 a4 63 6f 64 65 aa 75 6e 6b 6e 6f 77 6e 5f 6f 70 a7 6d 65 73 73 61 67 65 b1 75 6e 6b 6e 6f 77 6e 20 6f 70 20 27 70 6f 6e 67 27" },
    { "version 2", "00 00 00 10 83 a2 69 64 07 a2 6f 70 a4 70 69 6e 67 a1 76 02", 1, SKR_EUNSUPPORTED, 7,
      "protocol version 2 is not supported (this daemon speaks 1)",
      "00 00 00 65 83 a2 69 64 07 a2 6f 6b c2 a5 65 72 72 6f 72 82 a4 63 6f 64 65 ab 75 6e 73 75 70 70 6f 72 74 65 64 a7 6d 65 73 73 61 67 65 d9 3a 70 72 6f 74 6f 63 6f 6c 20 76 65 72 73 69 6f 6e 20 32 20 69 73 20 6e 6f 74 20 73 75 70 70 6f 72 74 65 64 20 28 74 68 69 73 20 64 61 65 6d 6f 6e 20 73 70 65 61 6b 73 20 31 29" },
    { "get without name", "00 00 00 0c 82 a2 69 64 07 a2 6f 70 a3 67 65 74", 1, SKR_EBAD_REQUEST, 7,
      "missing field 'name'",
      "00 00 00 3e 83 a2 69 64 07 a2 6f 6b c2 a5 65 72 72 6f 72 82 a4 63 6f 64 65 ab 62 61 64 5f 72 65 71 75 65 73 74 a7 6d 65 73 73 61 67 65 b4 6d 69 73 73 69 6e 67 20 66 69 65 6c 64 20 27 6e 61 6d 65 27" },
    { "no id", "00 00 00 09 81 a2 6f 70 a4 70 69 6e 67", 1, SKR_EBAD_REQUEST, 0, "missing field 'id'",
      "00 00 00 3c 83 a2 69 64 00 a2 6f 6b c2 a5 65 72 72 6f 72 82 a4 63 6f 64 65 ab 62 61 64 5f 72 65 71 75 65 73 74 a7 6d 65 73 73 61 67 65 b2 6d 69 73 73 69 6e 67 20 66 69 65 6c 64 20 27 69 64 27" },
};
#define N_ERR (int)(sizeof(err_vecs) / sizeof(err_vecs[0]))

START_TEST(error_vector)
{
    const err_vec *v = &err_vecs[_i];
    uint8_t sent[64];
    size_t n = unhex(v->sent, sent, sizeof(sent));
    proto_reader rd;
    proto_reader_init(&rd, PROTO_MAX_FRAME_DEFAULT);
    ck_assert_int_eq(proto_reader_feed(&rd, sent, n), 0);
    const uint8_t *payload;
    size_t len;
    int rc = proto_reader_next(&rd, &payload, &len);
    proto_buf out = PROTO_BUF_INIT;
    if (v->stage == 0) {
        ck_assert_int_eq(rc, v->code);
        ck_assert_int_eq(proto_reader_next(&rd, &payload, &len), v->code); /* sticky */
        ck_assert_int_eq(proto_response_error(&out, 0, rc, NULL), 0);
    } else {
        ck_assert_int_eq(rc, 1);
        ck_assert_uint_eq(len, n - 4);
        proto_request req;
        char msg[PROTO_ERRMSG_MAX];
        ck_assert_int_eq(proto_request_decode(payload, len, &req, msg), v->code);
        ck_assert_uint_eq(req.id, v->id);
        ck_assert_str_eq(msg, v->message);
        ck_assert_int_eq(proto_response_error(&out, req.id, v->code, msg), 0);
    }
    ck_hex(out.data, out.len, v->reply);
    ck_decodes_err(v->reply, v->id, v->code, v->message);
    proto_buf_free(&out);
    proto_reader_free(&rd);
}
END_TEST

/* ---- the document carries exactly these vectors -------------------------------------- */

static int known_hex(const char *h)
{
    static const char *const extra[] = {
        HEX_PONG, HEX_EMPTY, HEX_CREATED, HEX_NOTFOUND, HEX_DENIED,
        "a4 70 6f 6e 67", "80", "81 a7 63 72 65 61 74 65 64 c3",
    };
    for (int i = 0; i < N_REQ; i++)
        if (strcmp(h, req_vecs[i].hex) == 0)
            return 1;
    for (int i = 0; i < N_ERR; i++)
        if (strcmp(h, err_vecs[i].sent) == 0 || strcmp(h, err_vecs[i].reply) == 0)
            return 1;
    for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
        if (strcmp(h, extra[i]) == 0)
            return 1;
    return 0;
}

static char *read_doc(void)
{
    /* __FILE__ is this source as the compiler saw it: absolute, or relative to the build
     * directory that meson test runs us in. */
    char path[4096];
    const char *slash = strrchr(__FILE__, '/');
    ck_assert_ptr_nonnull(slash);
    snprintf(path, sizeof(path), "%.*s/../../proto/PROTOCOL.md", (int)(slash - __FILE__), __FILE__);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    static char doc[256 * 1024];
    size_t n = fread(doc, 1, sizeof(doc) - 1, f);
    fclose(f);
    doc[n] = '\0';
    return doc;
}

START_TEST(document_matches)
{
    char *doc = read_doc();
    int seen_req[N_REQ] = { 0 }, seen_err[N_ERR] = { 0 }, found = 0;
    /* Every `..` span made only of hex byte pairs and spaces is a vector. */
    for (char *p = strchr(doc, '`'); p != NULL; ) {
        char *q = strchr(p + 1, '`');
        if (q == NULL)
            break;
        size_t n = (size_t)(q - p - 1);
        int is_hex = n >= 2 && (n + 1) % 3 == 0;
        for (size_t i = 0; is_hex && i < n; i++)
            is_hex = i % 3 == 2 ? p[1 + i] == ' ' : strchr("0123456789abcdef", p[1 + i]) != NULL;
        if (is_hex) {
            *q = '\0';
            ck_assert_msg(known_hex(p + 1), "vector in PROTOCOL.md not checked by this test: %s", p + 1);
            for (int i = 0; i < N_REQ; i++)
                seen_req[i] |= strcmp(p + 1, req_vecs[i].hex) == 0;
            for (int i = 0; i < N_ERR; i++)
                seen_err[i] |= strcmp(p + 1, err_vecs[i].reply) == 0;
            found++;
            *q = '`';
        }
        p = strchr(q + 1, '`');
    }
    for (int i = 0; i < N_REQ; i++)
        ck_assert_msg(seen_req[i], "request vector '%s' missing from PROTOCOL.md", req_vecs[i].label);
    for (int i = 0; i < N_ERR; i++)
        ck_assert_msg(seen_err[i], "error vector '%s' missing from PROTOCOL.md", err_vecs[i].label);
    ck_assert_ptr_nonnull(strstr(doc, HEX_PONG));
    ck_assert_ptr_nonnull(strstr(doc, HEX_EMPTY));
    ck_assert_ptr_nonnull(strstr(doc, HEX_CREATED));
    ck_assert_ptr_nonnull(strstr(doc, HEX_NOTFOUND));
    ck_assert_ptr_nonnull(strstr(doc, HEX_DENIED));
    ck_assert_int_ge(found, N_REQ + N_ERR + 5);
}
END_TEST

static Suite *vectors_suite(void)
{
    Suite *s = suite_create("vectors");
    TCase *tc = tcase_create("requests");
    tcase_add_loop_test(tc, request_encode_exact, 0, N_REQ);
    tcase_add_loop_test(tc, request_decode_exact, 0, N_REQ);
    suite_add_tcase(s, tc);
    tc = tcase_create("responses");
    tcase_add_test(tc, response_pong);
    tcase_add_test(tc, response_empty);
    tcase_add_test(tc, response_created);
    tcase_add_test(tc, response_not_found);
    tcase_add_test(tc, response_denied);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_loop_test(tc, error_vector, 0, N_ERR);
    suite_add_tcase(s, tc);
    tc = tcase_create("document");
    tcase_add_test(tc, document_matches);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(vectors_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
