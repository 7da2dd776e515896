/*
 * tests/client/test_client_unit.c - the client pieces that need no daemon:
 * MessagePack -> JSON (library), JSON -> MessagePack with $bin/$ext (CLI), .gluedb parsing,
 * exit codes, escaping of human output, credential accessors.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "sekrets/sekrets.h"

/* JSON text -> msgpack (CLI) -> JSON text (library): must give `want`. */
static void roundtrip(const char *in, const char *want)
{
    proto_buf b = PROTO_BUF_INIT;
    char err[200] = "", *out = NULL;
    ck_assert_msg(jsonmp_from_text(in, strlen(in), &b, err, sizeof(err)) == 0, "%s: %s", in, err);
    ck_assert_int_eq(skr_msgpack_to_json(b.data, b.len, 0, &out), 0);
    ck_assert_str_eq(out, want);
    skr_string_free(out);
    proto_buf_free(&b);
}

static void refused(const char *in)
{
    proto_buf b = PROTO_BUF_INIT;
    char err[200] = "";
    ck_assert_msg(jsonmp_from_text(in, strlen(in), &b, err, sizeof(err)) != 0, "accepted %s", in);
    ck_assert(err[0] != '\0');
    proto_buf_free(&b);
}

START_TEST(test_json_roundtrip)
{
    roundtrip("{\"b\":1,\"a\":[true,false,null,-5,2.5,\"x\"]}",
              "{\"b\":1,\"a\":[true,false,null,-5,2.5,\"x\"]}");
    roundtrip("{\"k\":{\"$bin\":\"AAEC/w==\"}}", "{\"k\":{\"$bin\":\"AAEC/w==\"}}");
    roundtrip("{\"$bin\":\"\"}", "{\"$bin\":\"\"}");
    roundtrip("{\"e\":{\"$ext\":[5,\"AQI=\"]}}", "{\"e\":{\"$ext\":[5,\"AQI=\"]}}");
    roundtrip("{\"e\":{\"$ext\":[-1,\"AAAAAA==\"]}}", "{\"e\":{\"$ext\":[-1,\"AAAAAA==\"]}}");
    /* Two keys: an ordinary map that happens to have a $bin key. */
    roundtrip("{\"$bin\":\"AA==\",\"x\":1}", "{\"$bin\":\"AA==\",\"x\":1}");
    roundtrip("\"caf\\u00e9 \\ud83d\\ude00\"", "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"");
    roundtrip("\"a\\nb\\t\\u0001\\\"\\\\\"", "\"a\\nb\\t\\u0001\\\"\\\\\"");
    roundtrip("9223372036854775807", "9223372036854775807");
    roundtrip("-9223372036854775808", "-9223372036854775808");
    roundtrip("1e300", "1e+300");
    roundtrip("0.1", "0.1");
    roundtrip("[]", "[]");
    roundtrip("{}", "{}");
}
END_TEST

START_TEST(test_json_refused)
{
    refused("{\"a\":1,\"a\":2}");          /* duplicate key */
    refused("{\"k\":{\"$bin\":\"***\"}}");  /* bad base64 */
    refused("{\"k\":{\"$bin\":5}}");
    refused("{\"e\":{\"$ext\":[300,\"AA==\"]}}");
    refused("{\"e\":{\"$ext\":[1]}}");
    refused("{");
    refused("");
    refused("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]");
}
END_TEST

static void render(const uint8_t *mp, size_t len, int flags, const char *want)
{
    char *out = NULL;
    ck_assert_int_eq(skr_msgpack_to_json(mp, len, flags, &out), 0);
    ck_assert_str_eq(out, want);
    skr_string_free(out);
}

START_TEST(test_render)
{
    /* {1: "x"}: a non-string key is quoted. */
    static const uint8_t intkey[] = { 0x81, 0x01, 0xa1, 'x' };
    render(intkey, sizeof(intkey), 0, "{\"1\":\"x\"}");
    /* Invalid UTF-8 becomes U+FFFD; DEL and controls are escaped. */
    static const uint8_t bad[] = { 0xa4, 'a', 0xff, 0x7f, 0x1b };
    render(bad, sizeof(bad), 0, "\"a\xef\xbf\xbd\\u007f\\u001b\"");
    /* ASCII mode. */
    static const uint8_t uni[] = { 0xa6, 0xc3, 0xa9, 0xf0, 0x9f, 0x98, 0x80 };
    render(uni, sizeof(uni), SKR_JSON_ASCII, "\"\\u00e9\\ud83d\\ude00\"");
    /* float32 1.5, NaN -> null. */
    static const uint8_t f32[] = { 0x92, 0xca, 0x3f, 0xc0, 0x00, 0x00,
                                   0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0 };
    render(f32, sizeof(f32), 0, "[1.5,null]");
    /* uint64 max. */
    static const uint8_t u64[] = { 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    render(u64, sizeof(u64), 0, "18446744073709551615");
    /* Pretty. */
    static const uint8_t m[] = { 0x82, 0xa1, 'a', 0x01, 0xa1, 'b', 0x91, 0xc0 };
    render(m, sizeof(m), SKR_JSON_PRETTY, "{\n  \"a\": 1,\n  \"b\": [\n    null\n  ]\n}");
    /* Refused: truncated, trailing bytes, 0xc1, too deep. */
    char *out = NULL;
    static const uint8_t trunc[] = { 0x82, 0xa1, 'a' };
    ck_assert_int_eq(skr_msgpack_to_json(trunc, sizeof(trunc), 0, &out), SKR_EINVAL);
    static const uint8_t extra[] = { 0xc0, 0xc0 };
    ck_assert_int_eq(skr_msgpack_to_json(extra, sizeof(extra), 0, &out), SKR_EINVAL);
    static const uint8_t never[] = { 0xc1 };
    ck_assert_int_eq(skr_msgpack_to_json(never, sizeof(never), 0, &out), SKR_EINVAL);
    uint8_t deep[64];
    memset(deep, 0x91, sizeof(deep) - 1);
    deep[sizeof(deep) - 1] = 0xc0;
    ck_assert_int_eq(skr_msgpack_to_json(deep, sizeof(deep), 0, &out), SKR_EINVAL);
    /* A huge array count with no bytes behind it. */
    static const uint8_t huge[] = { 0xdd, 0xff, 0xff, 0xff, 0xff };
    ck_assert_int_eq(skr_msgpack_to_json(huge, sizeof(huge), 0, &out), SKR_EINVAL);
    ck_assert_ptr_null(out);
}
END_TEST

static const char good_gluedb[] =
    "{\"model\": \"pyswark.gluedb.db.Db\", \"contents\": {\"records\": ["
    "{\"info\": {\"name\": \"b\xc3\xb6\", \"date_created\": \"2024-01-01\", \"date_modified\": null},"
    " \"body\": {\"model\": \"x\", \"contents\": {\"id\": \"1\", \"n\": {\"d\": [1]}}}},"
    "{\"info\": {\"name\": \"a\"}, \"body\": {\"model\": \"x\", \"contents\": \"{\\\"t\\\": \\\"v\\\"}\"}}"
    "]}}";

START_TEST(test_gluedb_good)
{
    gluedb_rec *recs = NULL;
    size_t n = 0;
    char err[300] = "", *json = NULL;
    ck_assert_msg(gluedb_parse(good_gluedb, strlen(good_gluedb), &recs, &n, err, sizeof(err)) == 0, "%s", err);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(recs[0].name, "b\xc3\xb6");
    ck_assert_str_eq(recs[1].name, "a");
    ck_assert_int_eq(recs[0].created, 1704067200); /* a date alone: midnight UTC */
    ck_assert_int_eq(recs[0].modified, SKR_TIME_NOW); /* null: now */
    ck_assert_int_eq(recs[1].created, SKR_TIME_NOW); /* absent: now */
    ck_assert_int_eq(recs[1].modified, SKR_TIME_NOW);
    ck_assert_int_eq(skr_msgpack_to_json(recs[0].body.data, recs[0].body.len, 0, &json), 0);
    ck_assert_str_eq(json, "{\"id\":\"1\",\"n\":{\"d\":[1]}}");
    skr_string_free(json);
    ck_assert_int_eq(skr_msgpack_to_json(recs[1].body.data, recs[1].body.len, 0, &json), 0);
    ck_assert_str_eq(json, "{\"t\":\"v\"}");
    skr_string_free(json);
    gluedb_free(recs, n);
}
END_TEST

static void gluedb_bad(const char *text, const char *want_in_err)
{
    gluedb_rec *recs = NULL;
    size_t n = 0;
    char err[300] = "";
    ck_assert_int_eq(gluedb_parse(text, strlen(text), &recs, &n, err, sizeof(err)), -1);
    ck_assert_ptr_null(recs);
    ck_assert_msg(strstr(err, want_in_err) != NULL, "error '%s' lacks '%s'", err, want_in_err);
}

START_TEST(test_gluedb_bad)
{
    gluedb_bad("[]", "not a .gluedb file");
    gluedb_bad("{\"contents\": {}}", "not a .gluedb file");
    gluedb_bad("{\"contents\": {\"records\": [{\"body\": {\"contents\": {}}}]}}", "record 1: no \"info\"");
    gluedb_bad("{\"contents\": {\"records\": [{\"info\": {\"name\": \"\"}, \"body\": {\"contents\": {}}}]}}", "record 1: info.name");
    gluedb_bad("{\"contents\": {\"records\": [{\"info\": {\"name\": \"a\\u0001\"}, \"body\": {\"contents\": {}}}]}}", "record 1: info.name");
    gluedb_bad("{\"contents\": {\"records\": [{\"info\": {\"name\": \"a\"}, \"body\": {\"contents\": {}}},"
               "{\"info\": {\"name\": \"a\"}, \"body\": {\"contents\": {}}}]}}", "record 2: name repeats record 1");
    gluedb_bad("{\"contents\": {\"records\": [{\"info\": {\"name\": \"a\"}, \"body\": {\"contents\": [1]}}]}}", "record 1: body.contents");
    gluedb_bad("{\"contents\": {\"records\": [{\"info\": {\"name\": \"a\"}, \"body\": {\"contents\": \"[1]\"}}]}}", "record 1: body.contents");
    gluedb_bad("{\"contents\": {\"records\": [{\"info\": {\"name\": \"a\"}, \"body\": {\"contents\": \"{nope\"}}]}}", "record 1: body.contents");
    gluedb_bad("{\"contents\": {\"records\": [{\"info\": {\"name\": \"a\"}}]}}", "record 1: no \"body\"");
    gluedb_bad("{\"contents\": {\"records\": [], \"x\": 1", "invalid JSON");
    gluedb_bad("{\"model\": 5, \"contents\": {\"records\": []}}", "\"model\"");
    gluedb_bad("{\"contents\": {\"records\": [{\"info\": {\"name\": \"a\"}, \"body\": {\"contents\": {}}},"
               "{\"info\": {\"name\": \"zed\", \"date_modified\": \"yesterday\"}, \"body\": {\"contents\": {}}}]}}",
               "record 2 (zed): info.date_modified is not a date");
    gluedb_bad("{\"contents\": {\"records\": [{\"info\": {\"name\": \"a\", \"date_created\": 1700000000},"
               " \"body\": {\"contents\": {}}}]}}", "record 1 (a): info.date_created is not a date");
}
END_TEST

/* The dates of .gluedb records: export's form, pyswark's variants, and what is refused. */
START_TEST(test_gluedb_dates)
{
    static const struct { const char *s; int64_t t; } good[] = {
        { "2024-05-01T12:00:00+00:00", 1714564800 },
        { "2024-05-01 14:00:00.123456+02:00", 1714564800 },
        { "2024-05-01T12:00:00.999Z", 1714564800 },
        { "2024-05-01t12:00:00z", 1714564800 },
        { "2024-05-01T07:30:00-04:30", 1714564800 },
        { "2024-05-01T14:00:00+0200", 1714564800 },
        { "2024-05-01T12:00:00", 1714564800 }, /* no offset: UTC */
        { "2024-05-01", 1714521600 },
        { "1970-01-01T00:00:00+00:00", 0 },
        { "1970-01-01T01:00:00+01:00", 0 },
        { "2000-02-29T00:00:00Z", 951782400 },
        { "9999-12-31T23:59:59+00:00", SKR_TIME_MAX },
    };
    static const char *const bad[] = {
        "", "2024", "2024-05-01T", "2024-05-01T12:00", "2024-05-01T12:00:00.",
        "2024-05-01T12:00:00+02", "2024-05-01T12:00:00+02:0", "2024-05-01T12:00:00+24:00",
        "2024-05-01T12:00:00+02:60", "2024-05-01T12:00:00 ", "2024-05-01T12:00:00Zx",
        "2024-13-01T00:00:00Z", "2024-00-01T00:00:00Z", "2023-02-29T00:00:00Z",
        "2024-04-31T00:00:00Z", "2024-05-00T00:00:00Z", "2024-05-01T24:00:00Z",
        "2024-05-01T12:60:00Z", "2024-05-01T12:00:60Z", "1969-12-31T23:59:59Z",
        "1970-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01", "24-05-01", "2024/05/01",
        "2024-05-01X12:00:00", "+2024-05-01", "2024-05-01T12:00:00+02:00:00",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        int64_t t = -7;
        ck_assert_msg(gluedb_parse_date(good[i].s, strlen(good[i].s), &t) == 0, "%s", good[i].s);
        ck_assert_msg(t == good[i].t, "%s: %lld", good[i].s, (long long)t);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t t = -7;
        ck_assert_msg(gluedb_parse_date(bad[i], strlen(bad[i]), &t) == -1, "%s", bad[i]);
        ck_assert_int_eq(t, -7);
    }
    /* export's own form reads back: every date gluedb_date writes */
    static const int64_t back[] = { 0, 1, 951782399, 1714564800, SKR_TIME_MAX };
    for (size_t i = 0; i < sizeof(back) / sizeof(back[0]); i++) {
        char buf[32];
        int64_t t;
        gluedb_date(back[i], buf);
        ck_assert_int_eq(gluedb_parse_date(buf, strlen(buf), &t), 0);
        ck_assert_int_eq(t, back[i]);
    }
    /* a NUL inside is not a date (json strings may hold one) */
    int64_t t;
    ck_assert_int_eq(gluedb_parse_date("2024-05-01\0T12:00:00Z", 21, &t), -1);
}
END_TEST

START_TEST(test_exit_codes)
{
    ck_assert_int_eq(cli_exit_code(SKR_OK), 0);
    ck_assert_int_eq(cli_exit_code(SKR_EINTERNAL), 1);
    ck_assert_int_eq(cli_exit_code(SKR_EIO), 1);
    ck_assert_int_eq(cli_exit_code(SKR_EPROTOCOL), 1);
    ck_assert_int_eq(cli_exit_code(SKR_ENOMEM), 1);
    ck_assert_int_eq(cli_exit_code(SKR_EBAD_REQUEST), 2);
    ck_assert_int_eq(cli_exit_code(SKR_EBAD_FRAME), 2);
    ck_assert_int_eq(cli_exit_code(SKR_EUNKNOWN_OP), 2);
    ck_assert_int_eq(cli_exit_code(SKR_EUNSUPPORTED), 2);
    ck_assert_int_eq(cli_exit_code(SKR_ETOO_LARGE), 2);
    ck_assert_int_eq(cli_exit_code(SKR_EINVAL), 2);
    ck_assert_int_eq(cli_exit_code(SKR_ENOT_FOUND), 3);
    ck_assert_int_eq(cli_exit_code(SKR_ELOCKED), 4);
    ck_assert_int_eq(cli_exit_code(SKR_EDENIED), 5);
    ck_assert_int_eq(cli_exit_code(SKR_ECONNECT), 6);
    ck_assert_int_eq(cli_exit_code(SKR_ETIMEOUT), 6);
    ck_assert_int_eq(cli_exit_code(SKR_EBUSY), 6);
    ck_assert_int_eq(cli_exit_code(SKR_EEXISTS), 7);
    ck_assert_int_eq(cli_exit_code(SKR_EBAD_PASSPHRASE), 8);
    ck_assert_int_eq(cli_exit_code(SKR_ERATE_LIMITED), 9);
    ck_assert_int_eq(cli_exit_code(SKR_EAMBIGUOUS), 10);
    ck_assert_int_eq(cli_exit_code(SKR_EINTEGRITY), 11);
    /* Every code is mapped; the table lists each number once. */
    for (int c = SKR_ERR_MIN; c <= 0; c++)
        ck_assert_int_le(cli_exit_code(c), 11);
    for (int e = 0; e <= 11; e++) {
        char line[8];
        snprintf(line, sizeof(line), "\n%4d  ", e);
        ck_assert_msg(strstr(cli_exit_table, line) != NULL, "table lacks %d", e);
    }
}
END_TEST

static void escaped(const char *in, size_t n, const char *want)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cli_put_escaped(f, in, n);
    fclose(f);
    ck_assert_str_eq(buf, want);
    free(buf);
}

START_TEST(test_escape)
{
    escaped("plain", 5, "plain");
    escaped("a\nb\tc\r", 6, "a\\nb\\tc\\r");
    escaped("\x1b[31mred", 8, "\\x1b[31mred");
    escaped("back\\slash", 10, "back\\\\slash");
    escaped("z\xc3\xb6\xe6\x97\xa5", 6, "z\xc3\xb6\xe6\x97\xa5");
    escaped("\xc2\x9b", 2, "\\xc2\\x9b");      /* C1 CSI */
    escaped("\xff\xfe", 2, "\\xff\\xfe");
    escaped("\xe6\x97", 2, "\\xe6\\x97");      /* truncated sequence */
    escaped("a\0b", 3, "a\\x00b");
    escaped("\x7f", 1, "\\x7f");
}
END_TEST

START_TEST(test_limits_and_names)
{
    ck_assert_uint_eq(skr_max_protocol(), 64);
    ck_assert_uint_eq(skr_max_name(), 256);
    ck_assert_uint_eq(skr_max_body(), 65536);
    ck_assert_uint_eq(skr_max_passphrase(), 4096);
    ck_assert_uint_eq(skr_max_name(), SKR_MAX_NAME);

    char long_proto[SKR_MAX_PROTOCOL + 1];
    memset(long_proto, 'p', sizeof(long_proto));
    ck_assert(skr_valid_protocol(long_proto, SKR_MAX_PROTOCOL));
    ck_assert(!skr_valid_protocol(long_proto, SKR_MAX_PROTOCOL + 1));
    ck_assert(skr_valid_protocol("gdrive2", 7));
    ck_assert(skr_valid_protocol("s3.eu-west_1", 12));
    ck_assert(!skr_valid_protocol("", 0));
    ck_assert(!skr_valid_protocol(".hidden", 7));
    ck_assert(!skr_valid_protocol("a b", 3));
    ck_assert(!skr_valid_protocol("g/x", 3));
    ck_assert(!skr_valid_protocol(NULL, 3));
    ck_assert(skr_valid_protocol("gdrive2-and-more", 7)); /* len counts, not the NUL */

    ck_assert(skr_valid_name("alice@example.com", 17));
    ck_assert(skr_valid_name("caf\xc3\xa9 \xf0\x9f\x94\x91", 10));
    ck_assert(!skr_valid_name("", 0));
    ck_assert(!skr_valid_name("a\nb", 3));
    ck_assert(!skr_valid_name("a\x7f", 2));
    ck_assert(!skr_valid_name("\xc2\x85", 2));      /* C1 control (NEL) */
    ck_assert(!skr_valid_name("\xc0\xaf", 2));      /* overlong '/' */
    ck_assert(!skr_valid_name("\xed\xa0\x80", 3));  /* surrogate */
    ck_assert(!skr_valid_name(NULL, 1));
    char big[SKR_MAX_NAME + 1];
    memset(big, 'n', sizeof(big));
    ck_assert(skr_valid_name(big, SKR_MAX_NAME));
    ck_assert(!skr_valid_name(big, SKR_MAX_NAME + 1));
}
END_TEST

START_TEST(test_misc)
{
    long v;
    ck_assert_int_eq(cli_parse_int("12", 0, 20, &v), 0);
    ck_assert_int_eq(v, 12);
    ck_assert_int_eq(cli_parse_int("21", 0, 20, &v), -1);
    ck_assert_int_eq(cli_parse_int("1x", 0, 20, &v), -1);
    ck_assert_int_eq(cli_parse_int("", 0, 20, &v), -1);
    char d[32];
    gluedb_date(0, d);
    ck_assert_str_eq(d, "1970-01-01T00:00:00+00:00");
    gluedb_date(1700000000, d);
    ck_assert_str_eq(d, "2023-11-14T22:13:20+00:00");

    char path[64];
    setenv("SEKRETS_SOCKET", "/x/y.sock", 1);
    ck_assert_int_eq(skr_default_socket(path, sizeof(path)), 0);
    ck_assert_str_eq(path, "/x/y.sock");
    unsetenv("SEKRETS_SOCKET");
    setenv("XDG_RUNTIME_DIR", "/run/user/7", 1);
    ck_assert_int_eq(skr_default_socket(path, sizeof(path)), 0);
    ck_assert_str_eq(path, "/run/user/7/sekrets/sekretsd.sock");
    ck_assert_int_eq(skr_default_socket(path, 10), SKR_EINVAL);
    /* a relative XDG_RUNTIME_DIR is ignored (XDG spec), as sekretsd does */
    setenv("XDG_RUNTIME_DIR", "run/user/7", 1);
    ck_assert_int_eq(skr_default_socket(path, sizeof(path)), SKR_ECONNECT);
    unsetenv("XDG_RUNTIME_DIR");
    ck_assert_int_eq(skr_default_socket(path, sizeof(path)), SKR_ECONNECT);

    skr_client *c = (skr_client *)0x1;
    ck_assert_int_eq(skr_connect("/nonexistent/dir/s.sock", 100, &c), SKR_ECONNECT);
    ck_assert_ptr_null(c); /* NULL on failure: skr_client_close(c) is then safe */
    /* the generated header and the library agree, and the numeric macros match the string */
    ck_assert_str_eq(skr_version(), SKR_VERSION_STRING);
    char ver[32];
    snprintf(ver, sizeof(ver), "%d.%d.%d", SKR_VERSION_MAJOR, SKR_VERSION_MINOR, SKR_VERSION_PATCH);
    ck_assert_str_eq(ver, SKR_VERSION_STRING);
    ck_assert_int_eq(SKR_VERSION_NUMBER,
                     SKR_VERSION_MAJOR * 10000 + SKR_VERSION_MINOR * 100 + SKR_VERSION_PATCH);
    skr_client_close(NULL);
    skr_cred_free(NULL);
    skr_list_free(NULL);
    skr_string_free(NULL);
    skr_buffer_free(NULL, 0);
}
END_TEST

/* A NULL client is SKR_EINVAL for every call, checked before anything else is touched
 * (the other arguments are valid, so only the client is wrong). */
START_TEST(test_null_client)
{
    static const uint8_t body[] = { 0x81, 0xa1, 'k', 0xa1, 'v' }, ping[] = { 0x80 };
    skr_get_req one = { "n", NULL };
    skr_cred *cred = NULL;
    skr_list *list = NULL;
    skr_status st;
    size_t len = 0;
    void *reply = NULL;
    uint64_t recs;
    int code;
    bool b;

    ck_assert_int_eq(skr_ping(NULL), SKR_EINVAL);
    ck_assert_int_eq(skr_get_status(NULL, &st), SKR_EINVAL);
    ck_assert_int_eq(skr_get(NULL, "n", "p", &cred), SKR_EINVAL);
    ck_assert_int_eq(skr_get_batch(NULL, &one, 1, &cred, &code), SKR_EINVAL);
    ck_assert_int_eq(skr_get_db(NULL, "p", &list), SKR_EINVAL);
    ck_assert_int_eq(skr_get_hub(NULL, &list), SKR_EINVAL);
    ck_assert_int_eq(skr_post(NULL, "p", "n", body, sizeof body), SKR_EINVAL);
    ck_assert_int_eq(skr_put(NULL, "p", "n", body, sizeof body, &b), SKR_EINVAL);
    ck_assert_int_eq(skr_delete(NULL, "p", "n", &b), SKR_EINVAL);
    ck_assert_int_eq(skr_init(NULL, "passphrase", 10), SKR_EINVAL);
    ck_assert_int_eq(skr_unlock(NULL, "passphrase", 10), SKR_EINVAL);
    ck_assert_int_eq(skr_lock(NULL), SKR_EINVAL);
    ck_assert_int_eq(skr_passwd(NULL, "passphrase", 10, "other one", 9), SKR_EINVAL);
    ck_assert_int_eq(skr_passwd_rotate(NULL, "passphrase", 10, "other one", 9), SKR_EINVAL);
    ck_assert_int_eq(skr_rotate(NULL, &recs), SKR_EINVAL);
    ck_assert_int_eq(skr_call(NULL, ping, sizeof ping, &reply, &len, &code), SKR_EINVAL);
    ck_assert_ptr_null(cred);
    ck_assert_ptr_null(list);
    ck_assert_ptr_null(reply);
}
END_TEST

int main(void)
{
    jsonmp_init();
    Suite *s = suite_create("client_unit");
    TCase *tc = tcase_create("all");
    tcase_add_test(tc, test_json_roundtrip);
    tcase_add_test(tc, test_json_refused);
    tcase_add_test(tc, test_render);
    tcase_add_test(tc, test_gluedb_good);
    tcase_add_test(tc, test_gluedb_bad);
    tcase_add_test(tc, test_gluedb_dates);
    tcase_add_test(tc, test_exit_codes);
    tcase_add_test(tc, test_escape);
    tcase_add_test(tc, test_misc);
    tcase_add_test(tc, test_limits_and_names);
    tcase_add_test(tc, test_null_client);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
