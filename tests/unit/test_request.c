/*
 * proto/request.c: every rule of PROTOCOL.md "Request" and "Names", each with a passing and
 * a failing case, the error code, the id the error carries and the field its message names;
 * and proto_request_encode's checks and round trip.
 */
#include <check.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "../decode_paths.h"
#include "frame.h"
#include "mp.h"
#include "request.h"
#include "sekrets/error.h"

/* ---- a request builder over msgpack-c ----------------------------------------------- */

typedef struct mb {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    proto_request req;
    char msg[PROTO_ERRMSG_MAX];
} mb;

static void mb_map(mb *m, uint32_t pairs)
{
    msgpack_sbuffer_init(&m->sb);
    msgpack_packer_init(&m->pk, &m->sb, msgpack_sbuffer_write);
    msgpack_pack_map(&m->pk, pairs);
}

static void sn(mb *m, const void *p, size_t n)
{
    msgpack_pack_str(&m->pk, n);
    msgpack_pack_str_body(&m->pk, p, n);
}

static void s(mb *m, const char *str)
{
    sn(m, str, strlen(str));
}

static void bin(mb *m, const void *p, size_t n)
{
    msgpack_pack_bin(&m->pk, n);
    msgpack_pack_bin_body(&m->pk, p, n);
}

/* A map of 2 + extra pairs that starts with id and op. */
static void mb_req(mb *m, uint32_t extra, uint32_t id, const char *op)
{
    mb_map(m, 2 + extra);
    s(m, "id");
    msgpack_pack_uint32(&m->pk, id);
    s(m, "op");
    s(m, op);
}

/* Every request decoded here goes through both decoders (decode_paths.h), which must
 * agree; the result is proto_request_decode's. */
static int decode_both(const void *p, size_t n, proto_request *req, char msg[PROTO_ERRMSG_MAX])
{
    int rc;
    const char *differ = decode_paths_differ(p, n, req, msg, &rc);
    ck_assert_msg(differ == NULL, "one-pass and checked decode differ in %s (code %d: %s)",
                  differ, rc, msg);
    return rc;
}

static int mb_decode(mb *m)
{
    return decode_both(m->sb.data, m->sb.size, &m->req, m->msg);
}

static void mb_free(mb *m)
{
    msgpack_sbuffer_destroy(&m->sb);
}

/* Decodes, checks code, id, that the message names `field` (NULL: message empty), frees. */
static void expect(mb *m, int code, uint32_t id, const char *field)
{
    int rc = mb_decode(m);
    ck_assert_msg(rc == code, "code %d, want %d (message: %s)", rc, code, m->msg);
    ck_assert_uint_eq(m->req.id, id);
    if (field == NULL) {
        ck_assert_str_eq(m->msg, "");
    } else {
        ck_assert_msg(strstr(m->msg, field) != NULL, "message '%s' does not name %s", m->msg, field);
        ck_assert_uint_lt(strlen(m->msg), PROTO_ERRMSG_MAX);
    }
    mb_free(m);
}

/* ---- id --------------------------------------------------------------------------------- */

START_TEST(id_ok)
{
    mb m;
    mb_req(&m, 0, 0, "ping");
    expect(&m, 0, 0, NULL);
    mb_req(&m, 0, UINT32_MAX, "ping");
    expect(&m, 0, UINT32_MAX, NULL);
    /* any integer encoding >= 0 is fine: int8 0x05, uint64 7 */
    mb_map(&m, 2);
    s(&m, "id");
    msgpack_sbuffer_write(&m.sb, "\xd0\x05", 2);
    s(&m, "op");
    s(&m, "ping");
    expect(&m, 0, 5, NULL);
    mb_map(&m, 2);
    s(&m, "op");
    s(&m, "ping");
    s(&m, "id");
    msgpack_sbuffer_write(&m.sb, "\xcf\0\0\0\0\0\0\0\x07", 9);
    expect(&m, 0, 7, NULL);
}
END_TEST

START_TEST(id_bad)
{
    mb m;
    mb_map(&m, 1); /* missing */
    s(&m, "op");
    s(&m, "ping");
    expect(&m, SKR_EBAD_REQUEST, 0, "'id'");
    mb_map(&m, 2); /* negative */
    s(&m, "id");
    msgpack_pack_int(&m.pk, -1);
    s(&m, "op");
    s(&m, "ping");
    expect(&m, SKR_EBAD_REQUEST, 0, "'id'");
    mb_map(&m, 2); /* 2^32 */
    s(&m, "id");
    msgpack_pack_uint64(&m.pk, (uint64_t)UINT32_MAX + 1);
    s(&m, "op");
    s(&m, "ping");
    expect(&m, SKR_EBAD_REQUEST, 0, "'id'");
    mb_map(&m, 2); /* str */
    s(&m, "id");
    s(&m, "1");
    s(&m, "op");
    s(&m, "ping");
    expect(&m, SKR_EBAD_REQUEST, 0, "'id'");
    mb_map(&m, 2); /* float */
    s(&m, "id");
    msgpack_pack_double(&m.pk, 1.0);
    s(&m, "op");
    s(&m, "ping");
    expect(&m, SKR_EBAD_REQUEST, 0, "'id'");
    mb_map(&m, 2); /* nil */
    s(&m, "id");
    msgpack_pack_nil(&m.pk);
    s(&m, "op");
    s(&m, "ping");
    expect(&m, SKR_EBAD_REQUEST, 0, "'id'");
}
END_TEST

START_TEST(error_carries_id)
{
    mb m;
    /* the bad field comes before the id: the id is still read */
    mb_map(&m, 3);
    s(&m, "op");
    s(&m, "get");
    s(&m, "name");
    s(&m, "a\nb");
    s(&m, "id");
    msgpack_pack_uint32(&m.pk, 42);
    expect(&m, SKR_EBAD_REQUEST, 42, "'name'");
    mb_req(&m, 0, 43, "nope");
    expect(&m, SKR_EUNKNOWN_OP, 43, "'nope'");
    mb_req(&m, 0, 44, "get");
    expect(&m, SKR_EBAD_REQUEST, 44, "'name'");
}
END_TEST

/* ---- op ---------------------------------------------------------------------------------- */

START_TEST(op_rules)
{
    mb m;
    mb_map(&m, 1);
    s(&m, "id");
    msgpack_pack_uint32(&m.pk, 3);
    expect(&m, SKR_EBAD_REQUEST, 3, "'op'");
    mb_map(&m, 2); /* int */
    s(&m, "id");
    msgpack_pack_uint32(&m.pk, 3);
    s(&m, "op");
    msgpack_pack_uint32(&m.pk, 1);
    expect(&m, SKR_EBAD_REQUEST, 3, "'op'");
    mb_map(&m, 2); /* bin "ping" */
    s(&m, "id");
    msgpack_pack_uint32(&m.pk, 3);
    s(&m, "op");
    bin(&m, "ping", 4);
    expect(&m, SKR_EBAD_REQUEST, 3, "'op'");
    mb_req(&m, 0, 3, "Ping"); /* case-sensitive */
    expect(&m, SKR_EUNKNOWN_OP, 3, "'Ping'");
    mb_req(&m, 0, 3, "");
    expect(&m, SKR_EUNKNOWN_OP, 3, "''");
    mb_req(&m, 0, 3, "ping");
    expect(&m, 0, 3, NULL);
}
END_TEST

START_TEST(op_unknown_message_is_clean)
{
    /* peer bytes echoed in the message must not carry control characters or bad UTF-8 */
    mb m;
    mb_map(&m, 2);
    s(&m, "id");
    msgpack_pack_uint32(&m.pk, 9);
    s(&m, "op");
    sn(&m, "a\n\xff\x7f'\\z", 7);
    ck_assert_int_eq(mb_decode(&m), SKR_EUNKNOWN_OP);
    ck_assert_str_eq(m.msg, "unknown op 'a\\x0a\\xff\\x7f\\x27\\x5cz'");
    mb_free(&m);
    char longop[100];
    memset(longop, 'x', sizeof(longop));
    mb_map(&m, 2);
    s(&m, "id");
    msgpack_pack_uint32(&m.pk, 9);
    s(&m, "op");
    sn(&m, longop, sizeof(longop));
    ck_assert_int_eq(mb_decode(&m), SKR_EUNKNOWN_OP);
    ck_assert_str_eq(m.msg, "unknown op 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...'");
    mb_free(&m);
}
END_TEST

START_TEST(op_names)
{
    static const char *const names[] = { "ping", "status", "get", "getDb", "getHub", "post",
        "put", "delete", "init", "unlock", "lock", "passwd", "rotate" };
    ck_assert_int_eq(PROTO_OP_COUNT - 1, (int)(sizeof(names) / sizeof(names[0])));
    for (int op = PROTO_OP_PING; op < PROTO_OP_COUNT; op++) {
        ck_assert_str_eq(proto_op_name((proto_op)op), names[op - 1]);
        ck_assert_int_eq(proto_op_from_name(names[op - 1], strlen(names[op - 1])), op);
    }
    ck_assert_ptr_null(proto_op_name(PROTO_OP_NONE));
    ck_assert_ptr_null(proto_op_name(PROTO_OP_COUNT));
    ck_assert_int_eq(proto_op_from_name("", 0), PROTO_OP_NONE);
    ck_assert_int_eq(proto_op_from_name("getdb", 5), PROTO_OP_NONE);
    ck_assert_int_eq(proto_op_from_name("pingx", 4), PROTO_OP_PING); /* length counts */
    ck_assert_int_eq(proto_op_from_name("pingx", 5), PROTO_OP_NONE);
}
END_TEST

/* ---- v ------------------------------------------------------------------------------------ */

static void req_v(mb *m, uint32_t id)
{
    mb_req(m, 1, id, "ping");
    s(m, "v");
}

START_TEST(version_rules)
{
    mb m;
    req_v(&m, 1);
    msgpack_pack_uint32(&m.pk, 1);
    expect(&m, 0, 1, NULL);
    req_v(&m, 2);
    msgpack_pack_uint32(&m.pk, 2);
    expect(&m, SKR_EUNSUPPORTED, 2, "version 2");
    req_v(&m, 3);
    msgpack_pack_uint32(&m.pk, 0);
    expect(&m, SKR_EUNSUPPORTED, 3, "version 0");
    req_v(&m, 4);
    s(&m, "1");
    expect(&m, SKR_EBAD_REQUEST, 4, "'v'");
    req_v(&m, 5);
    msgpack_pack_int(&m.pk, -1);
    expect(&m, SKR_EBAD_REQUEST, 5, "'v'");
    req_v(&m, 6);
    msgpack_pack_nil(&m.pk);
    expect(&m, SKR_EBAD_REQUEST, 6, "'v'");
    /* v is judged before the fields: a v2 request with a field v1 would refuse */
    mb_req(&m, 2, 7, "get");
    s(&m, "name");
    msgpack_pack_uint32(&m.pk, 12);
    s(&m, "v");
    msgpack_pack_uint32(&m.pk, 2);
    expect(&m, SKR_EUNSUPPORTED, 7, "version 2");
    /* ... and before the op */
    mb_req(&m, 1, 8, "frobnicate");
    s(&m, "v");
    msgpack_pack_uint32(&m.pk, 2);
    expect(&m, SKR_EUNSUPPORTED, 8, "version 2");
}
END_TEST

/* ---- keys ------------------------------------------------------------------------------- */

START_TEST(unknown_keys_ignored)
{
    mb m;
    mb_req(&m, 3, 1, "ping");
    s(&m, "zzz");
    msgpack_pack_array(&m.pk, 3);
    msgpack_pack_nil(&m.pk);
    msgpack_pack_map(&m.pk, 1);
    s(&m, "id");
    s(&m, "not an id");
    bin(&m, "\xff", 1);
    s(&m, "zzz"); /* an unknown key twice is still ignored */
    msgpack_pack_double(&m.pk, 2.5);
    s(&m, "Name");
    msgpack_pack_uint32(&m.pk, 1);
    expect(&m, 0, 1, NULL);
    ck_assert_int_eq(m.req.op, PROTO_OP_PING);
    ck_assert_uint_eq(m.req.fields, 0);
}
END_TEST

START_TEST(duplicate_keys)
{
    static const char *const keys[] = { "id", "op", "v", "protocol", "name", "body",
                                         "passphrase", "old", "new" };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        mb m;
        mb_req(&m, 2, 5, "ping");
        for (int k = 0; k < 2; k++) {
            s(&m, keys[i]);
            if (strcmp(keys[i], "id") == 0 || strcmp(keys[i], "v") == 0)
                msgpack_pack_uint32(&m.pk, strcmp(keys[i], "id") == 0 ? 5 : 1);
            else if (strcmp(keys[i], "op") == 0)
                s(&m, "ping");
            else
                s(&m, "abc");
        }
        char want[40];
        snprintf(want, sizeof(want), "duplicate key '%s'", keys[i]);
        expect(&m, SKR_EBAD_REQUEST, 5, want);
    }
}
END_TEST

START_TEST(not_a_map_or_bad_keys)
{
    proto_request r;
    char msg[PROTO_ERRMSG_MAX];
    ck_assert_int_eq(decode_both((const uint8_t *)"\x92\x01\x02", 3, &r, msg), SKR_EBAD_REQUEST);
    ck_assert_ptr_nonnull(strstr(msg, "map"));
    ck_assert_int_eq(decode_both((const uint8_t *)"\xa4ping", 5, &r, msg), SKR_EBAD_REQUEST);
    ck_assert_int_eq(decode_both((const uint8_t *)"\x2a", 1, &r, msg), SKR_EBAD_REQUEST);
    mb m;
    mb_map(&m, 3);
    s(&m, "id");
    msgpack_pack_uint32(&m.pk, 6);
    msgpack_pack_uint32(&m.pk, 1); /* int key */
    msgpack_pack_uint32(&m.pk, 2);
    s(&m, "op");
    s(&m, "ping");
    expect(&m, SKR_EBAD_REQUEST, 6, "keys");
    mb_map(&m, 0);
    expect(&m, SKR_EBAD_REQUEST, 0, "'id'");
}
END_TEST

START_TEST(frame_level_errors)
{
    proto_request r;
    char msg[PROTO_ERRMSG_MAX];
    /* empty payload, truncated map, trailing byte, 0xc1, truncated str */
    ck_assert_int_eq(decode_both((const uint8_t *)"", 0, &r, msg), SKR_EBAD_FRAME);
    ck_assert_int_eq(decode_both((const uint8_t *)"\x82\xa2id\x01", 5, &r, msg), SKR_EBAD_FRAME);
    ck_assert_uint_eq(r.id, 0);
    ck_assert_int_eq(decode_both((const uint8_t *)"\x81\xa2id\x01\x00", 6, &r, msg), SKR_EBAD_FRAME);
    ck_assert_uint_eq(r.id, 1);
    ck_assert_str_eq(msg, "1 bytes left over after the MessagePack object");
    ck_assert_int_eq(decode_both((const uint8_t *)"\xc1", 1, &r, msg), SKR_EBAD_FRAME);
    ck_assert_int_eq(decode_both((const uint8_t *)"\x81\xa2id\xa5x", 6, &r, msg), SKR_EBAD_FRAME);
    ck_assert_ptr_nonnull(strstr(msg, "MessagePack"));
}
END_TEST

/* ---- protocol ---------------------------------------------------------------------------- */

static int decode_protocol(const char *p, size_t n, char *msg)
{
    mb m;
    mb_req(&m, 1, 11, "getDb");
    s(&m, "protocol");
    sn(&m, p, n);
    int rc = mb_decode(&m);
    ck_assert_uint_eq(m.req.id, 11);
    if (rc == 0) {
        ck_assert_uint_eq(m.req.protocol_len, n);
        ck_assert_mem_eq(m.req.protocol, p, n);
        ck_assert_uint_lt(n, sizeof m.req.protocol); /* room for the NUL: the bound holds */
        ck_assert_int_eq(m.req.protocol[n < sizeof m.req.protocol ? n : 0], '\0');
    }
    strcpy(msg, m.msg);
    mb_free(&m);
    return rc;
}

START_TEST(protocol_rules)
{
    char buf[80], msg[PROTO_ERRMSG_MAX];
    static const char *const good[] = { "a", "Z", "0", "github", "a.b_c-D9", "9-.__", "x..." };
    static const char *const bad[] = { ".a", "-a", "_a", "a/b", "/", "a b", "a\n", "é", "a:b", "a@b" };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ck_assert_msg(decode_protocol(good[i], strlen(good[i]), msg) == 0, "%s: %s", good[i], msg);
        ck_assert_int_eq(proto_valid_protocol(good[i], strlen(good[i])), 1);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(decode_protocol(bad[i], strlen(bad[i]), msg) == SKR_EBAD_REQUEST, "%s", bad[i]);
        ck_assert_ptr_nonnull(strstr(msg, "'protocol'"));
        ck_assert_int_eq(proto_valid_protocol(bad[i], strlen(bad[i])), 0);
    }
    ck_assert_int_eq(decode_protocol("", 0, msg), SKR_EBAD_REQUEST);
    ck_assert_ptr_nonnull(strstr(msg, "'protocol'"));
    memset(buf, 'p', sizeof(buf));
    ck_assert_int_eq(decode_protocol(buf, 64, msg), 0);
    ck_assert_int_eq(decode_protocol(buf, 65, msg), SKR_EBAD_REQUEST);
    ck_assert_ptr_nonnull(strstr(msg, "'protocol'"));
    ck_assert_int_eq(decode_protocol("ab\0c", 4, msg), SKR_EBAD_REQUEST);

    mb m; /* wrong type */
    mb_req(&m, 1, 11, "getDb");
    s(&m, "protocol");
    bin(&m, "github", 6);
    expect(&m, SKR_EBAD_REQUEST, 11, "'protocol'");
}
END_TEST

/* ---- name --------------------------------------------------------------------------------- */

static int decode_name(const char *p, size_t n, char *msg)
{
    mb m;
    mb_req(&m, 1, 12, "get");
    s(&m, "name");
    sn(&m, p, n);
    int rc = mb_decode(&m);
    ck_assert_uint_eq(m.req.id, 12);
    if (rc == 0) {
        ck_assert_uint_eq(m.req.name_len, n);
        ck_assert_mem_eq(m.req.name, p, n);
        ck_assert_uint_lt(n, sizeof m.req.name);
        ck_assert_int_eq(m.req.name[n < sizeof m.req.name ? n : 0], '\0');
        ck_assert_uint_eq(m.req.fields, PROTO_F_NAME);
    }
    strcpy(msg, m.msg);
    mb_free(&m);
    return rc;
}

typedef struct bytes { const char *p; size_t n; const char *what; } bytes;
#define B(lit, what) { lit, sizeof(lit) - 1, what }

START_TEST(name_rules)
{
    static const bytes good[] = {
        B("alice", "ascii"), B("a b~", "space and tilde"), B("\xc3\xa9t\xc3\xa9", "2-byte"),
        B("\xc2\xa0", "U+00A0, first after C1"), B("\xe2\x82\xac", "3-byte euro"),
        B("\xef\xbf\xbf", "U+FFFF"), B("\xf0\x9f\x94\x91", "4-byte emoji"),
        B("\xf4\x8f\xbf\xbf", "U+10FFFF"), B("\xed\x9f\xbf", "U+D7FF"), B("\xee\x80\x80", "U+E000"),
    };
    static const bytes bad[] = {
        B("a\0b", "NUL"), B("a\nb", "newline"), B("\t", "tab"), B("\x1f", "U+001F"),
        B("a\x7f", "DEL"), B("\xc2\x85", "C1 U+0085"), B("\xc2\x80", "C1 U+0080"),
        B("\xc2\x9f", "C1 U+009F"), B("\xc0\xaf", "overlong 2-byte"),
        B("\xc1\xbf", "overlong 2-byte c1"), B("\xe0\x80\xaf", "overlong 3-byte"),
        B("\xf0\x80\x80\xaf", "overlong 4-byte"), B("\xed\xa0\x80", "surrogate D800"),
        B("\xed\xbf\xbf", "surrogate DFFF"), B("\xf4\x90\x80\x80", "U+110000"),
        B("\xf5\x80\x80\x80", "lead f5"), B("\xf8\x88\x80\x80\x80", "5-byte"),
        B("\xe2\x82", "truncated 3-byte"), B("a\xf0\x9f\x94", "truncated 4-byte"),
        B("\x80", "lone continuation"), B("\xc3\x28", "bad continuation"), B("\xff", "0xff"),
    };
    char msg[PROTO_ERRMSG_MAX];
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ck_assert_msg(decode_name(good[i].p, good[i].n, msg) == 0, "%s: %s", good[i].what, msg);
        ck_assert_int_eq(proto_valid_name(good[i].p, good[i].n), 1);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(decode_name(bad[i].p, bad[i].n, msg) == SKR_EBAD_REQUEST, "%s", bad[i].what);
        ck_assert_ptr_nonnull(strstr(msg, "'name'"));
        ck_assert_msg(proto_valid_name(bad[i].p, bad[i].n) == 0, "%s", bad[i].what);
    }
    ck_assert_int_eq(decode_name("", 0, msg), SKR_EBAD_REQUEST);
    ck_assert_ptr_nonnull(strstr(msg, "'name'"));

    char big[300];
    memset(big, 'n', sizeof(big));
    ck_assert_int_eq(decode_name(big, 256, msg), 0);
    ck_assert_int_eq(decode_name(big, 257, msg), SKR_EBAD_REQUEST);
    ck_assert_ptr_nonnull(strstr(msg, "'name'"));
    /* 256 bytes made of 64 emoji is fine; one byte more is not */
    for (int i = 0; i < 64; i++)
        memcpy(big + 4 * i, "\xf0\x9f\x94\x91", 4);
    ck_assert_int_eq(decode_name(big, 256, msg), 0);
    big[256] = 'x';
    ck_assert_int_eq(decode_name(big, 257, msg), SKR_EBAD_REQUEST);

    mb m; /* wrong type */
    mb_req(&m, 1, 12, "get");
    s(&m, "name");
    msgpack_pack_uint32(&m.pk, 5);
    expect(&m, SKR_EBAD_REQUEST, 12, "'name'");
}
END_TEST

/* ---- body ----------------------------------------------------------------------------------- */

/* A post whose body is a bin of payload n (bin16/32 header: 3 or 5 bytes). */
static int decode_body_bin(size_t n, size_t *body_len, char *msg)
{
    uint8_t *payload = calloc(1, n ? n : 1);
    mb m;
    mb_req(&m, 3, 13, "post");
    s(&m, "protocol");
    s(&m, "p");
    s(&m, "name");
    s(&m, "n");
    s(&m, "body");
    bin(&m, payload, n);
    int rc = mb_decode(&m);
    *body_len = m.req.body.len;
    if (rc == 0)
        ck_assert_ptr_eq(m.req.body.ptr + m.req.body.len, (const uint8_t *)m.sb.data + m.sb.size);
    ck_assert_uint_eq(m.req.id, 13);
    strcpy(msg, m.msg);
    mb_free(&m);
    free(payload);
    return rc;
}

START_TEST(body_size)
{
    size_t len;
    char msg[PROTO_ERRMSG_MAX];
    ck_assert_int_eq(decode_body_bin(65533, &len, msg), 0); /* 3 + 65533 = 65536 */
    ck_assert_uint_eq(len, 65536);
    ck_assert_int_eq(decode_body_bin(65534, &len, msg), SKR_EBAD_REQUEST); /* 65537 */
    ck_assert_ptr_nonnull(strstr(msg, "'body'"));
    ck_assert_int_eq(decode_body_bin(70000, &len, msg), SKR_EBAD_REQUEST); /* bin32 */
    ck_assert_ptr_nonnull(strstr(msg, "'body'"));
    ck_assert_int_eq(decode_body_bin(0, &len, msg), 0);
    ck_assert_uint_eq(len, 2);
}
END_TEST

static void nested_arrays(mb *m, int depth)
{
    for (int i = 0; i < depth; i++)
        msgpack_pack_array(&m->pk, 1);
    msgpack_pack_nil(&m->pk);
}

START_TEST(body_any_value_and_depth)
{
    mb m;
    /* nil, a float, an ext: any value */
    mb_req(&m, 3, 14, "put");
    s(&m, "protocol");
    s(&m, "p");
    s(&m, "name");
    s(&m, "n");
    s(&m, "body");
    msgpack_pack_nil(&m.pk);
    expect(&m, 0, 14, NULL);
    mb_req(&m, 3, 14, "put");
    s(&m, "body");
    msgpack_pack_ext(&m.pk, 3, 5);
    msgpack_pack_ext_body(&m.pk, "abc", 3);
    s(&m, "protocol");
    s(&m, "p");
    s(&m, "name");
    s(&m, "n");
    ck_assert_int_eq(mb_decode(&m), 0);
    ck_assert_uint_eq(m.req.body.len, 6);
    ck_assert_mem_eq(m.req.body.ptr, "\xc7\x03\x05" "abc", 6);
    mb_free(&m);
    /* the request map is level 1: a body may nest 31 deep, not 32 */
    mb_req(&m, 3, 15, "put");
    s(&m, "protocol");
    s(&m, "p");
    s(&m, "name");
    s(&m, "n");
    s(&m, "body");
    nested_arrays(&m, 31);
    expect(&m, 0, 15, NULL);
    mb_req(&m, 3, 15, "put");
    s(&m, "protocol");
    s(&m, "p");
    s(&m, "name");
    s(&m, "n");
    s(&m, "body");
    nested_arrays(&m, 32);
    expect(&m, SKR_EBAD_FRAME, 0, "32 deep");
}
END_TEST

/* ---- passphrases ------------------------------------------------------------------------------ */

static void pass_case(const char *op, const char *key, int type, size_t n, int code)
{
    char *p = malloc(n + 1);
    memset(p, 'k', n);
    mb m;
    int passwd = strcmp(op, "passwd") == 0;
    mb_req(&m, passwd ? 2 : 1, 16, op);
    if (passwd) { /* the other one, valid */
        s(&m, strcmp(key, "old") == 0 ? "new" : "old");
        s(&m, "other");
    }
    s(&m, key);
    if (type == 's')
        sn(&m, p, n);
    else if (type == 'b')
        bin(&m, p, n);
    else
        msgpack_pack_uint32(&m.pk, 1);
    char field[20];
    snprintf(field, sizeof(field), "'%s'", key);
    int rc = mb_decode(&m);
    ck_assert_msg(rc == code, "%s %s %c %zu: %d (%s)", op, key, type, n, rc, m.msg);
    ck_assert_uint_eq(m.req.id, 16);
    if (code == 0) {
        const proto_span *sp = strcmp(key, "passphrase") == 0 ? &m.req.passphrase
                             : strcmp(key, "old") == 0 ? &m.req.old_pass : &m.req.new_pass;
        ck_assert_uint_eq(sp->len, n);
        ck_assert_mem_eq(sp->ptr, p, n);
    } else {
        ck_assert_msg(strstr(m.msg, field) != NULL, "'%s' does not name %s", m.msg, field);
    }
    mb_free(&m);
    free(p);
}

START_TEST(passphrase_rules)
{
    static const char *const cases[][2] = {
        { "init", "passphrase" }, { "unlock", "passphrase" }, { "passwd", "old" }, { "passwd", "new" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *op = cases[i][0], *key = cases[i][1];
        pass_case(op, key, 's', 1, 0);
        pass_case(op, key, 'b', 1, 0);
        pass_case(op, key, 's', PROTO_MAX_PASSPHRASE, 0);
        pass_case(op, key, 'b', PROTO_MAX_PASSPHRASE, 0);
        pass_case(op, key, 's', 0, SKR_EBAD_REQUEST);
        pass_case(op, key, 'b', 0, SKR_EBAD_REQUEST);
        pass_case(op, key, 's', PROTO_MAX_PASSPHRASE + 1, SKR_EBAD_REQUEST);
        pass_case(op, key, 'i', 0, SKR_EBAD_REQUEST);
    }
}
END_TEST

/* ---- each op's required arguments ------------------------------------------------------------- */

typedef struct op_case {
    const char *op;
    unsigned required;
} op_case;

static const op_case op_cases[] = {
    { "ping", 0 }, { "status", 0 }, { "get", PROTO_F_NAME },
    { "getDb", PROTO_F_PROTOCOL }, { "getHub", 0 },
    { "post", PROTO_F_PROTOCOL | PROTO_F_NAME | PROTO_F_BODY },
    { "put", PROTO_F_PROTOCOL | PROTO_F_NAME | PROTO_F_BODY },
    { "delete", PROTO_F_PROTOCOL | PROTO_F_NAME },
    { "init", PROTO_F_PASSPHRASE }, { "unlock", PROTO_F_PASSPHRASE }, { "lock", 0 },
    { "passwd", PROTO_F_OLD | PROTO_F_NEW }, { "rotate", 0 },
};
static const char *const field_keys[] = { "protocol", "name", "body", "passphrase", "old", "new" };

static void pack_fields(mb *m, unsigned fields)
{
    for (unsigned b = 0; b < 6; b++) {
        if (!(fields & (1u << b)))
            continue;
        s(m, field_keys[b]);
        if (b == 2) {
            msgpack_pack_map(&m->pk, 1);
            s(m, "token");
            s(m, "t");
        } else {
            s(m, b == 0 ? "github" : "value");
        }
    }
}

START_TEST(op_required_fields)
{
    const op_case *c = &op_cases[_i];
    unsigned n = (unsigned)__builtin_popcount(c->required);
    mb m;
    /* all present: ok */
    mb_req(&m, n, 20, c->op);
    pack_fields(&m, c->required);
    ck_assert_msg(mb_decode(&m) == 0, "%s: %s", c->op, m.msg);
    ck_assert_int_eq(m.req.op, proto_op_from_name(c->op, strlen(c->op)));
    ck_assert_uint_eq(m.req.fields, c->required);
    mb_free(&m);
    /* each one left out: bad_request naming it */
    for (unsigned b = 0; b < 6; b++) {
        if (!(c->required & (1u << b)))
            continue;
        mb_req(&m, n - 1, 21, c->op);
        pack_fields(&m, c->required & ~(1u << b));
        char want[40];
        snprintf(want, sizeof(want), "missing field '%s'", field_keys[b]);
        expect(&m, SKR_EBAD_REQUEST, 21, want);
    }
    /* every field present, wanted or not: still ok (extra arguments are checked, not refused) */
    mb_req(&m, 6, 22, c->op);
    pack_fields(&m, 0x3f);
    expect(&m, 0, 22, NULL);
    /* an argument the op does not use is still checked */
    mb_req(&m, 1 + (unsigned)__builtin_popcount(c->required & ~PROTO_F_PROTOCOL), 23, c->op);
    pack_fields(&m, c->required & ~PROTO_F_PROTOCOL);
    s(&m, "protocol");
    s(&m, "no/slash");
    expect(&m, SKR_EBAD_REQUEST, 23, "'protocol'");
}
END_TEST

START_TEST(get_protocol_optional)
{
    mb m;
    mb_req(&m, 2, 30, "get");
    s(&m, "name");
    s(&m, "alice");
    s(&m, "protocol");
    s(&m, "github");
    expect(&m, 0, 30, NULL);
    ck_assert_uint_eq(m.req.fields, PROTO_F_NAME | PROTO_F_PROTOCOL);
    ck_assert_str_eq(m.req.protocol, "github");
    ck_assert_str_eq(m.req.name, "alice");
}
END_TEST

/* ---- encode ------------------------------------------------------------------------------------ */

static proto_request base_req(proto_op op)
{
    proto_request r;
    memset(&r, 0, sizeof(r));
    r.id = 77;
    r.op = op;
    return r;
}

START_TEST(encode_rejects_invalid)
{
    proto_buf out = PROTO_BUF_INIT;
    proto_request r = base_req(PROTO_OP_NONE);
    ck_assert_int_eq(proto_request_encode(&out, &r, PROTO_MAX_FRAME_DEFAULT), SKR_EINVAL);
    r.op = PROTO_OP_COUNT;
    ck_assert_int_eq(proto_request_encode(&out, &r, PROTO_MAX_FRAME_DEFAULT), SKR_EINVAL);

    r = base_req(PROTO_OP_GET);
    r.fields = PROTO_F_NAME;
    memcpy(r.name, "a\nb", 3);
    r.name_len = 3;
    ck_assert_int_eq(proto_request_encode(&out, &r, PROTO_MAX_FRAME_DEFAULT), SKR_EINVAL);
    r.name_len = 0;
    ck_assert_int_eq(proto_request_encode(&out, &r, PROTO_MAX_FRAME_DEFAULT), SKR_EINVAL);

    r = base_req(PROTO_OP_GETDB);
    r.fields = PROTO_F_PROTOCOL;
    memcpy(r.protocol, ".x", 2);
    r.protocol_len = 2;
    ck_assert_int_eq(proto_request_encode(&out, &r, PROTO_MAX_FRAME_DEFAULT), SKR_EINVAL);

    r = base_req(PROTO_OP_PUT);
    r.fields = PROTO_F_BODY;
    r.body.ptr = (const uint8_t *)"\x92\x01";  /* truncated */
    r.body.len = 2;
    ck_assert_int_eq(proto_request_encode(&out, &r, PROTO_MAX_FRAME_DEFAULT), SKR_EINVAL);
    r.body.ptr = (const uint8_t *)"\x01\x02";  /* two objects */
    ck_assert_int_eq(proto_request_encode(&out, &r, PROTO_MAX_FRAME_DEFAULT), SKR_EINVAL);

    r = base_req(PROTO_OP_UNLOCK);
    r.fields = PROTO_F_PASSPHRASE;
    r.passphrase.ptr = (const uint8_t *)"";
    r.passphrase.len = 0;
    ck_assert_int_eq(proto_request_encode(&out, &r, PROTO_MAX_FRAME_DEFAULT), SKR_EINVAL);
    static uint8_t longpass[PROTO_MAX_PASSPHRASE + 1];
    memset(longpass, 'x', sizeof(longpass));
    r.passphrase.ptr = longpass;
    r.passphrase.len = sizeof(longpass);
    ck_assert_int_eq(proto_request_encode(&out, &r, PROTO_MAX_FRAME_DEFAULT), SKR_ETOO_LARGE);
    r = base_req(PROTO_OP_PASSWD);
    r.fields = PROTO_F_OLD | PROTO_F_NEW;
    r.old_pass.ptr = (const uint8_t *)"o";
    r.old_pass.len = 1;
    ck_assert_int_eq(proto_request_encode(&out, &r, PROTO_MAX_FRAME_DEFAULT), SKR_EINVAL);
    ck_assert_uint_eq(out.len, 0); /* nothing was appended by any failure */
    proto_buf_free(&out);
}
END_TEST

START_TEST(encode_body_limits)
{
    proto_buf out = PROTO_BUF_INIT;
    proto_request r = base_req(PROTO_OP_PUT);
    r.fields = PROTO_F_PROTOCOL | PROTO_F_NAME | PROTO_F_BODY;
    memcpy(r.protocol, "p", 1);
    r.protocol_len = 1;
    memcpy(r.name, "n", 1);
    r.name_len = 1;
    static uint8_t body[65537];
    body[0] = 0xc5; /* bin16 of 65533: 65536 bytes packed */
    body[1] = 0xff;
    body[2] = 0xfd;
    r.body.ptr = body;
    r.body.len = 65536;
    ck_assert_int_eq(proto_request_encode(&out, &r, PROTO_MAX_FRAME_DEFAULT), 0);
    proto_request d;
    char msg[PROTO_ERRMSG_MAX];
    ck_assert_int_eq(decode_both(out.data + 4, out.len - 4, &d, msg), 0);
    ck_assert_uint_eq(d.body.len, 65536);
    proto_buf_reset(&out);
    body[2] = 0xfe; /* 65537 packed */
    r.body.len = 65537;
    ck_assert_int_eq(proto_request_encode(&out, &r, PROTO_MAX_FRAME_DEFAULT), SKR_ETOO_LARGE);
    ck_assert_uint_eq(out.len, 0);

    /* depth: 31 nested arrays encode and decode; 32 would be refused by the decoder */
    uint8_t deep[40];
    memset(deep, 0x91, sizeof(deep));
    deep[31] = 0xc0;
    r.body.ptr = deep;
    r.body.len = 32;
    ck_assert_int_eq(proto_request_encode(&out, &r, PROTO_MAX_FRAME_DEFAULT), 0);
    ck_assert_int_eq(decode_both(out.data + 4, out.len - 4, &d, msg), 0);
    proto_buf_reset(&out);
    deep[31] = 0x91;
    deep[32] = 0xc0;
    r.body.len = 33;
    ck_assert_int_eq(proto_request_encode(&out, &r, PROTO_MAX_FRAME_DEFAULT), SKR_EINVAL);
    ck_assert_uint_eq(out.len, 0);
    proto_buf_free(&out);
}
END_TEST

START_TEST(encode_frame_limit_and_append)
{
    proto_buf out = PROTO_BUF_INIT;
    proto_request r = base_req(PROTO_OP_PING);
    ck_assert_int_eq(proto_request_encode(&out, &r, 13), 0); /* ping id 77: exactly 13 */
    ck_assert_uint_eq(out.len, 17);
    ck_assert_int_eq(proto_request_encode(&out, &r, 12), SKR_ETOO_LARGE);
    ck_assert_uint_eq(out.len, 17); /* the partial frame is gone, the first one kept */
    r.id = 78;
    ck_assert_int_eq(proto_request_encode(&out, &r, 13), 0);
    ck_assert_uint_eq(out.len, 34);
    /* both frames come out of a reader */
    proto_reader rd;
    proto_reader_init(&rd, 13);
    ck_assert_int_eq(proto_reader_feed(&rd, out.data, out.len), 0);
    const uint8_t *p;
    size_t n;
    proto_request d;
    char msg[PROTO_ERRMSG_MAX];
    ck_assert_int_eq(proto_reader_next(&rd, &p, &n), 1);
    ck_assert_int_eq(decode_both(p, n, &d, msg), 0);
    ck_assert_uint_eq(d.id, 77);
    ck_assert_int_eq(proto_reader_next(&rd, &p, &n), 1);
    ck_assert_int_eq(decode_both(p, n, &d, msg), 0);
    ck_assert_uint_eq(d.id, 78);
    ck_assert_int_eq(proto_reader_next(&rd, &p, &n), 0);
    proto_reader_free(&rd);
    proto_buf_free(&out);
}
END_TEST

START_TEST(encode_roundtrip_bin_secret)
{
    /* a bin passphrase (any bytes) goes out as str and comes back byte-identical */
    proto_buf out = PROTO_BUF_INIT;
    proto_request r = base_req(PROTO_OP_PASSWD);
    r.fields = PROTO_F_OLD | PROTO_F_NEW;
    r.old_pass.ptr = (const uint8_t *)"\x00\xff\x01";
    r.old_pass.len = 3;
    r.new_pass.ptr = (const uint8_t *)"n\n";
    r.new_pass.len = 2;
    ck_assert_int_eq(proto_request_encode(&out, &r, PROTO_MAX_FRAME_DEFAULT), 0);
    proto_request d;
    char msg[PROTO_ERRMSG_MAX];
    ck_assert_int_eq(decode_both(out.data + 4, out.len - 4, &d, msg), 0);
    ck_assert_int_eq(d.op, PROTO_OP_PASSWD);
    ck_assert_uint_eq(d.id, 77);
    ck_assert_uint_eq(d.old_pass.len, 3);
    ck_assert_mem_eq(d.old_pass.ptr, "\x00\xff\x01", 3);
    ck_assert_uint_eq(d.new_pass.len, 2);
    ck_assert_mem_eq(d.new_pass.ptr, "n\n", 2);
    ck_assert_int_eq(d.old_pass.ptr[-1], (int)0xa3); /* packed as fixstr */
    proto_buf_free(&out);
}
END_TEST

/* passwd's optional `rotate`: a bool (absent = false); any other type is bad_request, and
 * the encoder packs it last, as a bool, only when present. */
START_TEST(passwd_rotate_field)
{
    static const struct { int type; int code; bool rotate; } cases[] = {
        { 't', 0, true }, { 'f', 0, false }, { 'i', SKR_EBAD_REQUEST, false },
        { 's', SKR_EBAD_REQUEST, false }, { 'n', SKR_EBAD_REQUEST, false },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mb m;
        mb_req(&m, 3, 21, "passwd");
        s(&m, "old");
        s(&m, "o");
        s(&m, "new");
        s(&m, "n");
        s(&m, "rotate");
        switch (cases[i].type) {
        case 't': msgpack_pack_true(&m.pk); break;
        case 'f': msgpack_pack_false(&m.pk); break;
        case 'i': msgpack_pack_uint32(&m.pk, 1); break;
        case 's': s(&m, "true"); break;
        default: msgpack_pack_nil(&m.pk); break;
        }
        if (cases[i].code != 0) {
            expect(&m, cases[i].code, 21, "'rotate'");
            continue;
        }
        ck_assert_int_eq(mb_decode(&m), 0);
        ck_assert(m.req.fields & PROTO_F_ROTATE);
        ck_assert(m.req.rotate == cases[i].rotate);
        mb_free(&m);
    }
    mb m; /* absent: no rotate */
    mb_req(&m, 2, 22, "passwd");
    s(&m, "old");
    s(&m, "o");
    s(&m, "new");
    s(&m, "n");
    ck_assert_int_eq(mb_decode(&m), 0);
    ck_assert(!(m.req.fields & PROTO_F_ROTATE) && !m.req.rotate);
    mb_free(&m);

    proto_buf out = PROTO_BUF_INIT;
    proto_request r = base_req(PROTO_OP_PASSWD);
    r.fields = PROTO_F_OLD | PROTO_F_NEW | PROTO_F_ROTATE;
    r.rotate = true;
    r.old_pass.ptr = (const uint8_t *)"o";
    r.old_pass.len = 1;
    r.new_pass.ptr = (const uint8_t *)"n";
    r.new_pass.len = 1;
    ck_assert_int_eq(proto_request_encode(&out, &r, PROTO_MAX_FRAME_DEFAULT), 0);
    static const uint8_t tail[] = { 0xa6, 'r', 'o', 't', 'a', 't', 'e', 0xc3 };
    ck_assert_uint_ge(out.len, sizeof tail);
    ck_assert_mem_eq(out.data + out.len - sizeof tail, tail, sizeof tail);
    ck_assert_int_eq(out.data[4], (int)0x85); /* id, op, old, new, rotate */
    proto_request d;
    char msg[PROTO_ERRMSG_MAX];
    ck_assert_int_eq(decode_both(out.data + 4, out.len - 4, &d, msg), 0);
    ck_assert(d.rotate);
    proto_buf_free(&out);
}
END_TEST

/* A post/put of protocol "p", name "n" and `extra` more pairs, up to the "body" key. */
static void mb_write_pn(mb *m, uint32_t extra, uint32_t id, const char *op)
{
    mb_req(m, 3 + extra, id, op);
    s(m, "protocol");
    s(m, "p");
    s(m, "name");
    s(m, "n");
    s(m, "body");
}

/* post/put's optional `created` and `modified` (import keeps the dates of the file): any
 * integer encoding of 0..PROTO_MAX_TIME; another type or range is bad_request naming the
 * field; the encoder packs them last, as uints, only when present. */
START_TEST(post_put_time_fields)
{
    static const struct { int type; int64_t v; int code; } cases[] = {
        { 'u', 0, 0 }, { 'u', 1700000000, 0 }, { 'u', PROTO_MAX_TIME, 0 },
        { 'i', 5, 0 }, /* int8 5 */
        { 'u', PROTO_MAX_TIME + 1, SKR_EBAD_REQUEST }, { 'i', -1, SKR_EBAD_REQUEST },
        { 'x', 0, SKR_EBAD_REQUEST }, /* UINT64_MAX */
        { 's', 0, SKR_EBAD_REQUEST }, { 'f', 0, SKR_EBAD_REQUEST }, { 'n', 0, SKR_EBAD_REQUEST },
    };
    static const char *const keys[] = { "created", "modified" };
    for (size_t k = 0; k < 2; k++) {
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            mb m;
            mb_write_pn(&m, 1, 31, k ? "put" : "post");
            msgpack_pack_true(&m.pk);
            s(&m, keys[k]);
            switch (cases[i].type) {
            case 'u': msgpack_pack_uint64(&m.pk, (uint64_t)cases[i].v); break;
            case 'i': msgpack_sbuffer_write(&m.sb, cases[i].v < 0 ? "\xd0\xff" : "\xd0\x05", 2); break;
            case 'x': msgpack_pack_uint64(&m.pk, UINT64_MAX); break;
            case 's': s(&m, "1700000000"); break;
            case 'f': msgpack_pack_double(&m.pk, 1.0); break;
            default: msgpack_pack_nil(&m.pk); break;
            }
            if (cases[i].code != 0) {
                expect(&m, cases[i].code, 31, k ? "'modified'" : "'created'");
                continue;
            }
            ck_assert_int_eq(mb_decode(&m), 0);
            ck_assert_uint_eq(m.req.fields & (PROTO_F_CREATED | PROTO_F_MODIFIED),
                              k ? PROTO_F_MODIFIED : PROTO_F_CREATED);
            ck_assert_int_eq(k ? m.req.modified : m.req.created, cases[i].v);
            ck_assert_int_eq(k ? m.req.created : m.req.modified, 0);
            mb_free(&m);
        }
    }
    mb m; /* twice is a duplicate */
    mb_write_pn(&m, 2, 32, "put");
    msgpack_pack_true(&m.pk);
    s(&m, "modified");
    msgpack_pack_uint8(&m.pk, 1);
    s(&m, "modified");
    msgpack_pack_uint8(&m.pk, 2);
    expect(&m, SKR_EBAD_REQUEST, 32, "'modified'");

    proto_buf out = PROTO_BUF_INIT;
    proto_request r = base_req(PROTO_OP_PUT);
    r.fields = PROTO_F_PROTOCOL | PROTO_F_NAME | PROTO_F_BODY | PROTO_F_CREATED | PROTO_F_MODIFIED;
    memcpy(r.protocol, "p", 2);
    r.protocol_len = 1;
    memcpy(r.name, "n", 2);
    r.name_len = 1;
    r.body = (proto_span){ (const uint8_t *)"\xc3", 1 };
    r.created = 1;
    r.modified = PROTO_MAX_TIME;
    ck_assert_int_eq(proto_request_encode(&out, &r, PROTO_MAX_FRAME_DEFAULT), 0);
    static const uint8_t tail[] = { 0xa7, 'c', 'r', 'e', 'a', 't', 'e', 'd', 0x01,
                                    0xa8, 'm', 'o', 'd', 'i', 'f', 'i', 'e', 'd',
                                    0xcf, 0, 0, 0, 0x3a, 0xff, 0xf4, 0x41, 0x7f };
    ck_assert_uint_ge(out.len, sizeof tail);
    ck_assert_mem_eq(out.data + out.len - sizeof tail, tail, sizeof tail);
    ck_assert_int_eq(out.data[4], (int)0x87); /* id, op, protocol, name, body, the times */
    proto_request d;
    char msg[PROTO_ERRMSG_MAX];
    ck_assert_int_eq(decode_both(out.data + 4, out.len - 4, &d, msg), 0);
    ck_assert_int_eq(d.created, 1);
    ck_assert_int_eq(d.modified, PROTO_MAX_TIME);
    proto_buf_free(&out);
    out = (proto_buf)PROTO_BUF_INIT;
    r.modified = PROTO_MAX_TIME + 1;
    ck_assert_int_eq(proto_request_encode(&out, &r, PROTO_MAX_FRAME_DEFAULT), SKR_EINVAL);
    r.modified = 0;
    r.created = -1;
    ck_assert_int_eq(proto_request_encode(&out, &r, PROTO_MAX_FRAME_DEFAULT), SKR_EINVAL);
    proto_buf_free(&out);
}
END_TEST

static Suite *request_suite(void)
{
    Suite *su = suite_create("request");
    TCase *tc = tcase_create("fields");
    tcase_add_test(tc, id_ok);
    tcase_add_test(tc, id_bad);
    tcase_add_test(tc, error_carries_id);
    tcase_add_test(tc, op_rules);
    tcase_add_test(tc, op_unknown_message_is_clean);
    tcase_add_test(tc, op_names);
    tcase_add_test(tc, version_rules);
    tcase_add_test(tc, unknown_keys_ignored);
    tcase_add_test(tc, duplicate_keys);
    tcase_add_test(tc, not_a_map_or_bad_keys);
    tcase_add_test(tc, frame_level_errors);
    suite_add_tcase(su, tc);
    tc = tcase_create("names");
    tcase_add_test(tc, protocol_rules);
    tcase_add_test(tc, name_rules);
    tcase_add_test(tc, body_size);
    tcase_add_test(tc, body_any_value_and_depth);
    tcase_add_test(tc, passphrase_rules);
    suite_add_tcase(su, tc);
    tc = tcase_create("ops");
    tcase_add_loop_test(tc, op_required_fields, 0, (int)(sizeof(op_cases) / sizeof(op_cases[0])));
    tcase_add_test(tc, get_protocol_optional);
    suite_add_tcase(su, tc);
    tc = tcase_create("encode");
    tcase_add_test(tc, encode_rejects_invalid);
    tcase_add_test(tc, encode_body_limits);
    tcase_add_test(tc, encode_frame_limit_and_append);
    tcase_add_test(tc, encode_roundtrip_bin_secret);
    tcase_add_test(tc, passwd_rotate_field);
    tcase_add_test(tc, post_put_time_fields);
    suite_add_tcase(su, tc);
    return su;
}

int main(void)
{
    SRunner *sr = srunner_create(request_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
