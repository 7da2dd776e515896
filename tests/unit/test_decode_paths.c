/*
 * proto/request.c's two decode paths: the one pass taken for a request that is good
 * throughout, and the careful path (proto_request_decode_checked) that judges the rest.
 * Valid requests of every op and every encoding the decoder reads, and thousands of
 * mutations of them (every byte replaced by each interesting byte, random edits), must
 * give the same code, message and request both ways. test_request.c checks the same on
 * every request it builds.
 */
#include <check.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "../decode_paths.h"
#include "frame.h"
#include "request.h"
#include "sekrets/error.h"

#define MAX_BASE 256

typedef struct base {
    uint8_t b[MAX_BASE];
    size_t n;
} base;

static base bases[64];
static size_t n_bases;

static void add_base(const void *p, size_t n)
{
    ck_assert_uint_le(n, MAX_BASE);
    ck_assert_uint_lt(n_bases, sizeof(bases) / sizeof(bases[0]));
    memcpy(bases[n_bases].b, p, n);
    bases[n_bases++].n = n;
}

/* A request as every client packs it (proto_request_encode), without its length prefix. */
static void add_encoded(const proto_request *req)
{
    proto_buf out = PROTO_BUF_INIT;
    ck_assert_int_eq(proto_request_encode(&out, req, PROTO_MAX_FRAME_DEFAULT), 0);
    add_base(out.data + PROTO_HEADER_LEN, out.len - PROTO_HEADER_LEN);
    proto_buf_free(&out);
}

static void set_str(char *dst, uint32_t *len, const char *s)
{
    *len = (uint32_t)strlen(s);
    memcpy(dst, s, *len + 1);
}

static void add_encoded_bases(void)
{
    static const uint32_t ids[] = { 0, 127, 128, 255, 256, 65535, 65536, UINT32_MAX };
    static const uint8_t body[] = "\x82\xa5token\xa6s3cr3t\xa4list\x93\x01\xc0\x92\xc3\xcb"
                                  "\x3f\xf0\x00\x00\x00\x00\x00\x00";
    for (int op = PROTO_OP_PING; op < PROTO_OP_COUNT; op++) {
        proto_request r = { .id = ids[op % 8], .op = (proto_op)op };
        switch (r.op) {
        case PROTO_OP_PUT: case PROTO_OP_POST:
            r.fields |= PROTO_F_BODY;
            r.body = (proto_span){ body, sizeof(body) - 1 };
            /* fall through */
        case PROTO_OP_DELETE: case PROTO_OP_GET:
            r.fields |= PROTO_F_NAME;
            set_str(r.name, &r.name_len, op == PROTO_OP_GET ? "alice \xc3\xa9\xe2\x82\xac\xf0\x9f\x94\x91" : "alice");
            /* fall through */
        case PROTO_OP_GETDB:
            r.fields |= PROTO_F_PROTOCOL;
            set_str(r.protocol, &r.protocol_len, "git-hub_2.x");
            break;
        case PROTO_OP_INIT: case PROTO_OP_UNLOCK:
            r.fields |= PROTO_F_PASSPHRASE;
            r.passphrase = (proto_span){ (const uint8_t *)"correct horse", 13 };
            break;
        case PROTO_OP_PASSWD:
            r.fields |= PROTO_F_OLD | PROTO_F_NEW | PROTO_F_ROTATE;
            r.old_pass = (proto_span){ (const uint8_t *)"old one", 7 };
            r.new_pass = (proto_span){ (const uint8_t *)"new one", 7 };
            r.rotate = true;
            break;
        default:
            break;
        }
        add_encoded(&r);
    }
    proto_request get = { .id = 3, .op = PROTO_OP_GET, .fields = PROTO_F_NAME };
    set_str(get.name, &get.name_len, "alice");
    add_encoded(&get);
    /* post and put with the record's times (import): both, and each alone */
    static const int64_t times[][2] = { { 0, PROTO_MAX_TIME }, { 1700000000, -1 },
                                        { -1, 65536 } };
    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        proto_request t = { .id = 9, .op = i % 2 ? PROTO_OP_POST : PROTO_OP_PUT,
                            .fields = PROTO_F_PROTOCOL | PROTO_F_NAME | PROTO_F_BODY,
                            .body = { (const uint8_t *)"\xc3", 1 } };
        set_str(t.protocol, &t.protocol_len, "p");
        set_str(t.name, &t.name_len, "n");
        if (times[i][0] >= 0) {
            t.fields |= PROTO_F_CREATED;
            t.created = times[i][0];
        }
        if (times[i][1] >= 0) {
            t.fields |= PROTO_F_MODIFIED;
            t.modified = times[i][1];
        }
        add_encoded(&t);
    }
}

static void pk_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

/* Encodings the clients do not send but the decoder accepts: other key orders, v, unknown
 * keys with nested values, wide ints and headers, bin passphrases, rotate false. */
static void add_packed_bases(void)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    for (int which = 0; which < 5; which++) {
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        switch (which) {
        case 0: /* map16, the id as uint64, v, an unknown key holding containers and an ext */
            msgpack_sbuffer_write(&sb, "\xde\x00\x05", 3);
            pk_str(&pk, "v");
            msgpack_pack_uint8(&pk, 1);
            pk_str(&pk, "name");
            pk_str(&pk, "n");
            pk_str(&pk, "later");
            msgpack_pack_array(&pk, 2);
            msgpack_pack_map(&pk, 1);
            pk_str(&pk, "k");
            msgpack_pack_ext(&pk, 2, 7);
            msgpack_pack_ext_body(&pk, "ab", 2);
            msgpack_pack_float(&pk, 1.5f);
            pk_str(&pk, "op");
            pk_str(&pk, "get");
            pk_str(&pk, "id");
            msgpack_sbuffer_write(&sb, "\xcf\x00\x00\x00\x00\x00\x00\x00\x07", 9);
            break;
        case 1: /* str8 keys and values, an int8 id, bin secrets, rotate false */
            msgpack_pack_map(&pk, 5);
            msgpack_sbuffer_write(&sb, "\xd9\x02id\xd0\x05", 6);
            msgpack_sbuffer_write(&sb, "\xd9\x02op\xd9\x06passwd", 12);
            pk_str(&pk, "old");
            msgpack_pack_bin(&pk, 3);
            msgpack_pack_bin_body(&pk, "o\0d", 3);
            pk_str(&pk, "new");
            msgpack_pack_bin(&pk, 2);
            msgpack_pack_bin_body(&pk, "nw", 2);
            pk_str(&pk, "rotate");
            msgpack_pack_false(&pk);
            break;
        case 2: /* a body 31 deep (the most), keys in reverse order */
            msgpack_pack_map(&pk, 5);
            pk_str(&pk, "body");
            for (int d = 0; d < 31; d++)
                msgpack_pack_array(&pk, d == 30 ? 0 : 1);
            pk_str(&pk, "name");
            pk_str(&pk, "n");
            pk_str(&pk, "protocol");
            pk_str(&pk, "p");
            pk_str(&pk, "op");
            pk_str(&pk, "put");
            pk_str(&pk, "id");
            msgpack_pack_uint16(&pk, 300);
            break;
        case 4: /* post, the times as int64 and int8 (any integer encoding of 0..9999) */
            msgpack_pack_map(&pk, 7);
            pk_str(&pk, "modified");
            msgpack_sbuffer_write(&sb, "\xd3\x00\x00\x00\x3a\xff\xf4\x41\x7f", 9);
            pk_str(&pk, "op");
            pk_str(&pk, "post");
            pk_str(&pk, "created");
            msgpack_sbuffer_write(&sb, "\xd0\x00", 2);
            pk_str(&pk, "name");
            pk_str(&pk, "n");
            pk_str(&pk, "body");
            msgpack_pack_nil(&pk);
            pk_str(&pk, "protocol");
            pk_str(&pk, "p");
            pk_str(&pk, "id");
            msgpack_pack_uint8(&pk, 4);
            break;
        default: /* a 32-bit id, an unknown key of every scalar type */
            msgpack_pack_map(&pk, 4);
            pk_str(&pk, "id");
            msgpack_pack_uint32(&pk, 0x12345678);
            pk_str(&pk, "x");
            msgpack_pack_array(&pk, 4);
            msgpack_pack_nil(&pk);
            msgpack_pack_int64(&pk, INT64_MIN);
            msgpack_pack_double(&pk, -0.0);
            msgpack_pack_bin(&pk, 0);
            pk_str(&pk, "op");
            pk_str(&pk, "ping");
            pk_str(&pk, "");
            msgpack_pack_map(&pk, 0);
            break;
        }
        add_base(sb.data, sb.size);
        msgpack_sbuffer_destroy(&sb);
    }
}

static void make_bases(void)
{
    n_bases = 0;
    add_encoded_bases();
    add_packed_bases();
}

/* Outcomes seen, by code, so that a test that never reached a path says so. */
static unsigned long seen_ok, seen_frame, seen_request, seen_unsupported, seen_unknown_op;

static void check_both(const uint8_t *p, size_t n, const char *what, size_t at)
{
    proto_request req;
    char msg[PROTO_ERRMSG_MAX];
    int rc;
    const char *differ = decode_paths_differ(p, n, &req, msg, &rc);
    ck_assert_msg(differ == NULL, "%s at %zu (%zu bytes): the paths differ in %s (code %d: %s)",
                  what, at, n, differ, rc, msg);
    switch (rc) {
    case 0: seen_ok++; break;
    case SKR_EBAD_FRAME: seen_frame++; break;
    case SKR_EBAD_REQUEST: seen_request++; break;
    case SKR_EUNSUPPORTED: seen_unsupported++; break;
    case SKR_EUNKNOWN_OP: seen_unknown_op++; break;
    default: ck_abort_msg("%s at %zu: code %d", what, at, rc);
    }
}

START_TEST(bases_decode_both_ways)
{
    make_bases();
    seen_ok = 0;
    for (size_t i = 0; i < n_bases; i++)
        check_both(bases[i].b, bases[i].n, "base", i);
    ck_assert_uint_eq(seen_ok, n_bases); /* every base is a good request */
}
END_TEST

/* Every byte of every base replaced by each byte that starts a different kind of object
 * or sits on a boundary of a length, a count or a type: */
static const uint8_t interesting[] = {
    0x00, 0x01, 0x02, 0x1f, 0x20, 0x7f, 0x80, 0x81, 0x8f, 0x90, 0x9f, 0xa0, 0xa1, 0xa2,
    0xbf, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc7, 0xca, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd3,
    0xd4, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff,
};

START_TEST(every_byte_replaced)
{
    make_bases();
    seen_ok = seen_frame = seen_request = seen_unsupported = seen_unknown_op = 0;
    uint8_t buf[MAX_BASE];
    for (size_t i = 0; i < n_bases; i++) {
        for (size_t at = 0; at < bases[i].n; at++) {
            for (size_t v = 0; v < sizeof(interesting); v++) {
                memcpy(buf, bases[i].b, bases[i].n);
                buf[at] = interesting[v];
                check_both(buf, bases[i].n, "replaced byte", at);
            }
            /* and cut there: every truncation */
            check_both(bases[i].b, at, "truncated", at);
        }
    }
    ck_assert_uint_gt(seen_ok, 0);
    ck_assert_uint_gt(seen_frame, 0);
    ck_assert_uint_gt(seen_request, 0);
    ck_assert_uint_gt(seen_unsupported, 0);
    ck_assert_uint_gt(seen_unknown_op, 0);
}
END_TEST

static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* One random edit of buf (n bytes, room for MAX_BASE + 8): replace, insert, delete, or
 * copy a run of bytes from elsewhere (a key or a value twice, a count off by a pair). */
static size_t mutate(uint8_t *buf, size_t n)
{
    size_t at = n > 0 ? rnd() % n : 0;
    switch (rnd() % 5) {
    case 0:
        if (n > 0)
            buf[at] = (uint8_t)rnd();
        return n;
    case 1:
        if (n > 0)
            buf[at] = interesting[rnd() % sizeof(interesting)];
        return n;
    case 2:
        if (n >= MAX_BASE)
            return n;
        memmove(buf + at + 1, buf + at, n - at);
        buf[at] = (uint8_t)rnd();
        return n + 1;
    case 3:
        if (n == 0)
            return n;
        memmove(buf + at, buf + at + 1, n - at - 1);
        return n - 1;
    default: {
        size_t from = n > 0 ? rnd() % n : 0, run = 1 + rnd() % 8;
        if (from + run > n || n + run > MAX_BASE)
            return n;
        uint8_t copy[8];
        memcpy(copy, buf + from, run);
        memmove(buf + at + run, buf + at, n - at);
        memcpy(buf + at, copy, run);
        return n + run;
    }
    }
}

START_TEST(random_edits)
{
    make_bases();
    seen_ok = seen_frame = seen_request = seen_unsupported = seen_unknown_op = 0;
    uint8_t buf[MAX_BASE + 8];
    for (int round = 0; round < 40000; round++) {
        const base *b = &bases[rnd() % n_bases];
        memcpy(buf, b->b, b->n);
        size_t n = b->n;
        for (uint64_t edits = 1 + rnd() % 3; edits > 0; edits--)
            n = mutate(buf, n);
        check_both(buf, n, "random edits, round", (size_t)round);
    }
    ck_assert_uint_gt(seen_ok, 0);
    ck_assert_uint_gt(seen_frame, 0);
    ck_assert_uint_gt(seen_request, 0);
    ck_assert_uint_gt(seen_unknown_op, 0);
}
END_TEST

static Suite *paths_suite(void)
{
    Suite *su = suite_create("decode_paths");
    TCase *tc = tcase_create("differential");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, bases_decode_both_ways);
    tcase_add_test(tc, every_byte_replaced);
    tcase_add_test(tc, random_edits);
    suite_add_tcase(su, tc);
    return su;
}

int main(void)
{
    SRunner *sr = srunner_create(paths_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
