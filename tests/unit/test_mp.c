/*
 * proto/mp.c: every MessagePack format byte through proto_mp_check (size and truncation),
 * lying counts, 0xc1, the depth limit, and the typed cursor reads.
 */
#include <check.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "mp.h"
#include "sekrets/error.h"

typedef struct fmt {
    const char *what;
    const char *bytes;
    size_t len;
    proto_mp_type type;
} fmt;
#define F(what, lit, type) { what, lit, sizeof(lit) - 1, type }

/* One complete object of each format. */
static const fmt fmts[] = {
    F("positive fixint 0", "\x00", PROTO_MP_UINT),
    F("positive fixint 127", "\x7f", PROTO_MP_UINT),
    F("negative fixint -1", "\xff", PROTO_MP_INT),
    F("negative fixint -32", "\xe0", PROTO_MP_INT),
    F("nil", "\xc0", PROTO_MP_NIL),
    F("false", "\xc2", PROTO_MP_BOOL),
    F("true", "\xc3", PROTO_MP_BOOL),
    F("bin8", "\xc4\x02" "ab", PROTO_MP_BIN),
    F("bin16", "\xc5\x00\x02" "ab", PROTO_MP_BIN),
    F("bin32", "\xc6\x00\x00\x00\x02" "ab", PROTO_MP_BIN),
    F("ext8", "\xc7\x02\x05" "ab", PROTO_MP_EXT),
    F("ext16", "\xc8\x00\x02\x05" "ab", PROTO_MP_EXT),
    F("ext32", "\xc9\x00\x00\x00\x02\x05" "ab", PROTO_MP_EXT),
    F("float32", "\xca\x3f\x80\x00\x00", PROTO_MP_FLOAT),
    F("float64", "\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00", PROTO_MP_FLOAT),
    F("uint8", "\xcc\xff", PROTO_MP_UINT),
    F("uint16", "\xcd\xff\xff", PROTO_MP_UINT),
    F("uint32", "\xce\xff\xff\xff\xff", PROTO_MP_UINT),
    F("uint64", "\xcf\xff\xff\xff\xff\xff\xff\xff\xff", PROTO_MP_UINT),
    F("int8 -128", "\xd0\x80", PROTO_MP_INT),
    F("int16 -1", "\xd1\xff\xff", PROTO_MP_INT),
    F("int32 min", "\xd2\x80\x00\x00\x00", PROTO_MP_INT),
    F("int64 min", "\xd3\x80\x00\x00\x00\x00\x00\x00\x00", PROTO_MP_INT),
    F("int8 +5", "\xd0\x05", PROTO_MP_UINT),
    F("fixext1", "\xd4\x01" "a", PROTO_MP_EXT),
    F("fixext2", "\xd5\x01" "ab", PROTO_MP_EXT),
    F("fixext4", "\xd6\x01" "abcd", PROTO_MP_EXT),
    F("fixext8", "\xd7\x01" "abcdefgh", PROTO_MP_EXT),
    F("fixext16", "\xd8\x01" "abcdefghijklmnop", PROTO_MP_EXT),
    F("fixstr empty", "\xa0", PROTO_MP_STR),
    F("fixstr", "\xa3" "abc", PROTO_MP_STR),
    F("fixstr 31", "\xbf" "0123456789012345678901234567890", PROTO_MP_STR),
    F("str8", "\xd9\x03" "abc", PROTO_MP_STR),
    F("str16", "\xda\x00\x03" "abc", PROTO_MP_STR),
    F("str32", "\xdb\x00\x00\x00\x03" "abc", PROTO_MP_STR),
    F("fixarray empty", "\x90", PROTO_MP_ARRAY),
    F("fixarray", "\x92\x01\xc0", PROTO_MP_ARRAY),
    F("array16", "\xdc\x00\x02\x01\xc0", PROTO_MP_ARRAY),
    F("array32", "\xdd\x00\x00\x00\x02\x01\xc0", PROTO_MP_ARRAY),
    F("fixmap empty", "\x80", PROTO_MP_MAP),
    F("fixmap", "\x81\xa1k\x01", PROTO_MP_MAP),
    F("map16", "\xde\x00\x01\xa1k\x01", PROTO_MP_MAP),
    F("map32", "\xdf\x00\x00\x00\x01\xa1k\x92\x01\x02", PROTO_MP_MAP),
};
#define N_FMTS (int)(sizeof(fmts) / sizeof(fmts[0]))

START_TEST(format_complete)
{
    const fmt *f = &fmts[_i];
    uint8_t buf[64];
    size_t obj = 999;
    memcpy(buf, f->bytes, f->len);
    ck_assert_msg(proto_mp_check(buf, f->len, &obj) == 0, "%s", f->what);
    ck_assert_uint_eq(obj, f->len);
    proto_cur c = proto_cur_make(buf, f->len);
    ck_assert_int_eq(proto_cur_peek(&c), f->type);
    /* followed by more bytes: the object's size is still its own */
    buf[f->len] = 0xc0;
    ck_assert_int_eq(proto_mp_check(buf, f->len + 1, &obj), 0);
    ck_assert_uint_eq(obj, f->len);
    /* skip gives the raw span */
    const uint8_t *raw;
    size_t n;
    ck_assert_int_eq(proto_cur_skip(&c, &raw, &n), 0);
    ck_assert_ptr_eq(raw, buf);
    ck_assert_uint_eq(n, f->len);
    ck_assert_ptr_eq(c.p, buf + f->len);
}
END_TEST

START_TEST(format_truncated)
{
    /* every proper prefix is refused, and obj_len is left alone */
    const fmt *f = &fmts[_i];
    for (size_t k = 0; k < f->len; k++) {
        uint8_t *buf = malloc(k ? k : 1); /* exactly k bytes: ASan sees any over-read */
        memcpy(buf, f->bytes, k);
        size_t obj = 999;
        ck_assert_msg(proto_mp_check(buf, k, &obj) == SKR_EBAD_FRAME, "%s cut at %zu", f->what, k);
        ck_assert_uint_eq(obj, 999);
        proto_cur c = proto_cur_make(buf, k);
        ck_assert_int_eq(proto_cur_skip(&c, NULL, NULL), SKR_EBAD_REQUEST);
        ck_assert_ptr_eq(c.p, buf);
        free(buf);
    }
}
END_TEST

START_TEST(every_first_byte)
{
    /* all 256 first bytes followed by enough zero bytes: only 0xc1 is refused */
    uint8_t buf[64];
    for (int b = 0; b < 256; b++) {
        memset(buf, 0, sizeof(buf));
        buf[0] = (uint8_t)b;
        size_t obj;
        int rc = proto_mp_check(buf, sizeof(buf), &obj);
        if (b == 0xc1) {
            ck_assert_int_eq(rc, SKR_EBAD_FRAME);
            proto_cur c = proto_cur_make(buf, 1);
            ck_assert_int_eq(proto_cur_peek(&c), PROTO_MP_INVALID);
        } else {
            ck_assert_msg(rc == 0, "first byte 0x%02x", b);
            ck_assert_uint_le(obj, sizeof(buf));
        }
    }
    /* cross-check the sizes against msgpack-c's own unpacker */
    for (int b = 0; b < 256; b++) {
        if (b == 0xc1)
            continue;
        memset(buf, 0, sizeof(buf));
        buf[0] = (uint8_t)b;
        size_t obj, off = 0;
        ck_assert_int_eq(proto_mp_check(buf, sizeof(buf), &obj), 0);
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        ck_assert_int_eq(msgpack_unpack_next(&u, (const char *)buf, sizeof(buf), &off), MSGPACK_UNPACK_SUCCESS);
        ck_assert_msg(off == obj, "0x%02x: msgpack-c %zu, ours %zu", b, off, obj);
        msgpack_unpacked_destroy(&u);
    }
}
END_TEST

START_TEST(lying_counts)
{
    static const struct { const char *b; size_t n; } lies[] = {
        { "\x92\x01", 2 },                          /* fixarray 2, one element */
        { "\x9f", 1 },                              /* fixarray 15, none */
        { "\xdc\xff\xff\x01\x02", 5 },              /* array16 of 65535 */
        { "\xdd\xff\xff\xff\xff\x01", 6 },          /* array32 of 2^32-1 */
        { "\xdd\x00\x00\x00\x03\x01\x02", 7 },      /* array32 of 3 with 2 bytes left */
        { "\x81\xa1k", 3 },                         /* fixmap 1, no value */
        { "\xde\x00\x02\x01\x02\x03", 6 },          /* map16 of 2 = 4 children, 3 bytes */
        { "\xdf\x80\x00\x00\x00\x01\x02", 7 },      /* map32 of 2^31: 2^32 children */
        { "\xdb\xff\xff\xff\xff" "abc", 8 },        /* str32 of 2^32-1 */
        { "\xc6\x00\x01\x00\x00" "abc", 8 },        /* bin32 of 65536 */
        { "\xc9\xff\xff\xff\xff\x01" "ab", 8 },     /* ext32 of 2^32-1 (+ type byte) */
        { "\xc7\x02\x01" "a", 4 },                  /* ext8 of 2, 1 byte */
    };
    for (size_t i = 0; i < sizeof(lies) / sizeof(lies[0]); i++) {
        size_t obj;
        ck_assert_msg(proto_mp_check((const uint8_t *)lies[i].b, lies[i].n, &obj) == SKR_EBAD_FRAME,
                      "lie %zu", i);
    }
    /* the count may be exactly as large as the bytes left */
    size_t obj;
    ck_assert_int_eq(proto_mp_check((const uint8_t *)"\xdc\x00\x03\x01\x02\x03", 6, &obj), 0);
    ck_assert_uint_eq(obj, 6);
    /* 0xc1 anywhere inside is refused */
    ck_assert_int_eq(proto_mp_check((const uint8_t *)"\x92\x01\xc1", 3, &obj), SKR_EBAD_FRAME);
    ck_assert_int_eq(proto_mp_check((const uint8_t *)"\x81\xc1\x01", 3, &obj), SKR_EBAD_FRAME);
}
END_TEST

static size_t nest(uint8_t *buf, int depth, uint8_t container, uint8_t leaf)
{
    size_t n = 0;
    for (int i = 0; i < depth; i++) {
        buf[n++] = container;
        if (container == 0x81)
            buf[n++] = 0x01; /* key of the map */
    }
    buf[n++] = leaf;
    return n;
}

START_TEST(depth_limit)
{
    uint8_t buf[200];
    size_t obj, n;
    static const uint8_t containers[] = { 0x91, 0x81 };
    for (size_t i = 0; i < 2; i++) {
        n = nest(buf, 32, containers[i], 0xc0);
        ck_assert_int_eq(proto_mp_check(buf, n, &obj), 0);
        ck_assert_uint_eq(obj, n);
        n = nest(buf, 31, containers[i], 0x90); /* 32 with an empty array last */
        ck_assert_int_eq(proto_mp_check(buf, n, &obj), 0);
        n = nest(buf, 33, containers[i], 0xc0);
        ck_assert_int_eq(proto_mp_check(buf, n, &obj), SKR_EBAD_FRAME);
        n = nest(buf, 32, containers[i], 0x80); /* 33 with an empty map last */
        ck_assert_int_eq(proto_mp_check(buf, n, &obj), SKR_EBAD_FRAME);
    }
    /* depth is nesting, not count: many containers side by side are fine */
    n = 0;
    buf[n++] = 0xdc;
    buf[n++] = 0;
    buf[n++] = 100;
    for (int i = 0; i < 100; i++)
        buf[n++] = 0x90;
    ck_assert_int_eq(proto_mp_check(buf, n, &obj), 0);
    ck_assert_uint_eq(obj, n);

    /* a lower limit, as used for a request body */
    n = nest(buf, 31, 0x91, 0xc0);
    ck_assert_int_eq(proto_mp_check_depth(buf, n, 31, &obj), 0);
    n = nest(buf, 32, 0x91, 0xc0);
    ck_assert_int_eq(proto_mp_check_depth(buf, n, 31, &obj), SKR_EBAD_FRAME);
    ck_assert_int_eq(proto_mp_check_depth(buf, n, 0, &obj), SKR_EBAD_FRAME);
    ck_assert_int_eq(proto_mp_check_depth((const uint8_t *)"\x01", 1, 0, &obj), 0);
    ck_assert_int_eq(proto_mp_check_depth(buf, n, 33, &obj), SKR_EINVAL);
    ck_assert_int_eq(proto_mp_check_depth(buf, n, -1, &obj), SKR_EINVAL);

    /* what we accept at depth 32, msgpack-c's unpacker accepts too */
    n = nest(buf, 32, 0x91, 0xc0);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    ck_assert_int_eq(msgpack_unpack_next(&u, (const char *)buf, n, &off), MSGPACK_UNPACK_SUCCESS);
    ck_assert_uint_eq(off, n);
    msgpack_unpacked_destroy(&u);
}
END_TEST

START_TEST(deep_10000)
{
    enum { DEPTH = 10000 };
    static uint8_t buf[DEPTH + 1];
    memset(buf, 0x91, DEPTH);
    buf[DEPTH] = 0xc0;
    size_t obj = 7;
    ck_assert_int_eq(proto_mp_check(buf, sizeof(buf), &obj), SKR_EBAD_FRAME);
    ck_assert_uint_eq(obj, 7);
    memset(buf, 0xdc, sizeof(buf)); /* array16 headers chained: same */
    ck_assert_int_eq(proto_mp_check(buf, sizeof(buf), &obj), SKR_EBAD_FRAME);
}
END_TEST

/* ---- typed reads ---------------------------------------------------------------------------- */

START_TEST(cursor_ints)
{
    static const struct { const char *b; size_t n; int ok_uint; uint64_t u; int ok_int; int64_t i; } v[] = {
        { "\x05", 1, 1, 5, 1, 5 },
        { "\xff", 1, 0, 0, 1, -1 },
        { "\xcc\xc8", 2, 1, 200, 1, 200 },
        { "\xcd\x01\x00", 3, 1, 256, 1, 256 },
        { "\xce\x00\x01\x00\x00", 5, 1, 65536, 1, 65536 },
        { "\xcf\xff\xff\xff\xff\xff\xff\xff\xff", 9, 1, UINT64_MAX, 0, 0 },
        { "\xcf\x7f\xff\xff\xff\xff\xff\xff\xff", 9, 1, INT64_MAX, 1, INT64_MAX },
        { "\xd0\x80", 2, 0, 0, 1, -128 },
        { "\xd0\x7f", 2, 1, 127, 1, 127 },
        { "\xd1\x80\x00", 3, 0, 0, 1, -32768 },
        { "\xd2\xff\xff\xff\xfe", 5, 0, 0, 1, -2 },
        { "\xd3\x80\x00\x00\x00\x00\x00\x00\x00", 9, 0, 0, 1, INT64_MIN },
        { "\xd3\x00\x00\x00\x00\x00\x00\x00\x09", 9, 1, 9, 1, 9 },
        { "\xc0", 1, 0, 0, 0, 0 },
        { "\xca\x3f\x80\x00\x00", 5, 0, 0, 0, 0 },
        { "\xa1" "1", 2, 0, 0, 0, 0 },
    };
    for (size_t k = 0; k < sizeof(v) / sizeof(v[0]); k++) {
        proto_cur c = proto_cur_make(v[k].b, v[k].n);
        uint64_t u = 12345;
        int64_t i = 12345;
        ck_assert_int_eq(proto_cur_uint(&c, &u), v[k].ok_uint ? 0 : SKR_EBAD_REQUEST);
        if (v[k].ok_uint) {
            ck_assert_uint_eq(u, v[k].u);
            ck_assert_ptr_eq(c.p, c.end);
            c = proto_cur_make(v[k].b, v[k].n);
        } else {
            ck_assert_ptr_eq(c.p, (const uint8_t *)v[k].b); /* unchanged on failure */
        }
        ck_assert_int_eq(proto_cur_int(&c, &i), v[k].ok_int ? 0 : SKR_EBAD_REQUEST);
        if (v[k].ok_int) {
            ck_assert_int_eq(i, v[k].i);
            ck_assert_ptr_eq(c.p, c.end);
        } else {
            ck_assert_ptr_eq(c.p, (const uint8_t *)v[k].b);
        }
    }
}
END_TEST

START_TEST(cursor_strings_and_containers)
{
    static const uint8_t msg[] = "\x83\xa3" "abc" "\xc4\x02" "xy" "\xd9\x01" "z" "\x92\xc3\xc2" "\xa0\xc0";
    proto_cur c = proto_cur_make(msg, sizeof(msg) - 1);
    uint32_t n;
    const char *s;
    const uint8_t *b;
    bool is_bin, t;
    ck_assert_int_eq(proto_cur_array(&c, &n), SKR_EBAD_REQUEST);
    ck_assert_int_eq(proto_cur_map(&c, &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(proto_cur_bool(&c, &t), SKR_EBAD_REQUEST);
    ck_assert_int_eq(proto_cur_str(&c, &s, &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_mem_eq(s, "abc", 3);
    ck_assert_int_eq(proto_cur_str(&c, &s, &n), SKR_EBAD_REQUEST); /* bin is not str */
    ck_assert_int_eq(proto_cur_str_or_bin(&c, &b, &n, &is_bin), 0);
    ck_assert(is_bin);
    ck_assert_uint_eq(n, 2);
    ck_assert_mem_eq(b, "xy", 2);
    ck_assert_int_eq(proto_cur_str_or_bin(&c, &b, &n, &is_bin), 0);
    ck_assert(!is_bin);
    ck_assert_uint_eq(n, 1);
    ck_assert_mem_eq(b, "z", 1);
    ck_assert_int_eq(proto_cur_map(&c, &n), SKR_EBAD_REQUEST);
    ck_assert_int_eq(proto_cur_array(&c, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(proto_cur_bool(&c, &t), 0);
    ck_assert(t);
    ck_assert_int_eq(proto_cur_bool(&c, &t), 0);
    ck_assert(!t);
    ck_assert_int_eq(proto_cur_str_or_bin(&c, &b, &n, NULL), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(proto_cur_str_or_bin(&c, &b, &n, NULL), SKR_EBAD_REQUEST); /* nil */
    ck_assert_int_eq(proto_cur_peek(&c), PROTO_MP_NIL);
    ck_assert_int_eq(proto_cur_skip(&c, NULL, NULL), 0);
    ck_assert_ptr_eq(c.p, c.end);
    ck_assert_int_eq(proto_cur_peek(&c), PROTO_MP_INVALID); /* at the end */
    ck_assert_int_eq(proto_cur_skip(&c, NULL, NULL), SKR_EBAD_REQUEST);
    /* big headers report their counts */
    proto_cur a = proto_cur_make("\xdd\x00\x01\x00\x00", 5);
    ck_assert_int_eq(proto_cur_array(&a, &n), SKR_EBAD_REQUEST); /* 65536 elements, 0 bytes */
    proto_cur m = proto_cur_make("\xde\x00\x01\x01\x02", 5);
    ck_assert_int_eq(proto_cur_map(&m, &n), 0);
    ck_assert_uint_eq(n, 1);
}
END_TEST

/* Every typed read on every format, whole and cut short: the fast paths for fixstr,
 * fixint, uint8..uint32 and fixmap must accept and refuse exactly what the general header
 * decode does (a cut object is refused, the cursor left where it was). */
static int read_as(proto_cur *c, proto_mp_type t)
{
    uint32_t n;
    const char *s;
    const uint8_t *b;
    uint64_t u;
    int64_t i;
    bool v;
    switch (t) {
    case PROTO_MP_MAP: return proto_cur_map(c, &n);
    case PROTO_MP_ARRAY: return proto_cur_array(c, &n);
    case PROTO_MP_STR: return proto_cur_str(c, &s, &n);
    case PROTO_MP_BIN: return proto_cur_str_or_bin(c, &b, &n, NULL);
    case PROTO_MP_UINT: return proto_cur_uint(c, &u);
    case PROTO_MP_INT: return proto_cur_int(c, &i);
    case PROTO_MP_BOOL: return proto_cur_bool(c, &v);
    default: return proto_cur_skip(c, NULL, NULL);
    }
}

START_TEST(cursor_reads_whole_and_cut)
{
    static const proto_mp_type reads[] = { PROTO_MP_MAP, PROTO_MP_ARRAY, PROTO_MP_STR,
                                           PROTO_MP_BIN, PROTO_MP_UINT, PROTO_MP_INT,
                                           PROTO_MP_BOOL };
    const fmt *f = &fmts[_i];
    bool container = f->type == PROTO_MP_MAP || f->type == PROTO_MP_ARRAY;
    for (size_t r = 0; r < sizeof(reads) / sizeof(reads[0]); r++) {
        proto_cur c = proto_cur_make(f->bytes, f->len);
        int rc = read_as(&c, reads[r]);
        bool same = reads[r] == f->type || (reads[r] == PROTO_MP_BIN && f->type == PROTO_MP_STR) ||
                    (reads[r] == PROTO_MP_INT && f->type == PROTO_MP_UINT &&
                     strcmp(f->what, "uint64") != 0);
        ck_assert_msg(rc == (same ? 0 : SKR_EBAD_REQUEST), "%s read as %d: %d", f->what, reads[r], rc);
        if (rc == 0 && !container)
            ck_assert_ptr_eq(c.p, c.end);
        if (rc != 0)
            ck_assert_ptr_eq(c.p, (const uint8_t *)f->bytes);
        for (size_t cut = 0; cut < f->len && !container; cut++) {
            c = proto_cur_make(f->bytes, cut);
            ck_assert_msg(read_as(&c, reads[r]) == SKR_EBAD_REQUEST, "%s cut at %zu", f->what, cut);
            ck_assert_ptr_eq(c.p, (const uint8_t *)f->bytes);
        }
    }
    /* a fixmap's count against the bytes left, as for every other map header */
    static const uint8_t two[] = "\x82\xa1k\x01\xa1j\x02";
    uint32_t n;
    proto_cur m = proto_cur_make(two, 5); /* 4 bytes left for 4 children: fine so far */
    ck_assert_int_eq(proto_cur_map(&m, &n), 0);
    ck_assert_uint_eq(n, 2);
    m = proto_cur_make(two, 4); /* 3 bytes left for 4 children: a lie */
    ck_assert_int_eq(proto_cur_map(&m, &n), SKR_EBAD_REQUEST);
    ck_assert_ptr_eq(m.p, two);
}
END_TEST

static Suite *mp_suite(void)
{
    Suite *s = suite_create("mp");
    TCase *tc = tcase_create("check");
    tcase_add_loop_test(tc, format_complete, 0, N_FMTS);
    tcase_add_loop_test(tc, format_truncated, 0, N_FMTS);
    tcase_add_test(tc, every_first_byte);
    tcase_add_test(tc, lying_counts);
    tcase_add_test(tc, depth_limit);
    tcase_add_test(tc, deep_10000);
    suite_add_tcase(s, tc);
    tc = tcase_create("cursor");
    tcase_add_test(tc, cursor_ints);
    tcase_add_test(tc, cursor_strings_and_containers);
    tcase_add_loop_test(tc, cursor_reads_whole_and_cut, 0, N_FMTS);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(mp_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
