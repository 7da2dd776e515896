/*
 * daemon/log.c log_quote: each class of byte escaped exactly as documented, the worst case
 * fits LOG_QUOTED_SIZE, a short buffer cuts at a whole escape, and random bytes come back
 * unchanged through the test's reader (tests/integration/audit_line.h) with nothing
 * unescaped left in the line that a terminal would act on.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_line.h"
#include "log.h"
#include "request.h"
#include "utf8.h"

static const char *quoted(const char *s, size_t n)
{
    static char out[LOG_QUOTED_SIZE(PROTO_MAX_NAME)];
    ck_assert_uint_le(n, PROTO_MAX_NAME);
    return log_quote(out, sizeof(out), s, n);
}

#define Q(lit) quoted(lit, sizeof(lit) - 1)

START_TEST(plain_and_quotes)
{
    ck_assert_str_eq(Q(""), "\"\"");
    ck_assert_str_eq(Q("alice"), "\"alice\"");
    ck_assert_str_eq(Q("x\" protocol=secretproto result=ok"),
                     "\"x\\\" protocol=secretproto result=ok\"");
    ck_assert_str_eq(Q("a\\b"), "\"a\\\\b\"");
    ck_assert_str_eq(Q("\\\""), "\"\\\\\\\"\"");
}
END_TEST

START_TEST(controls_as_hex)
{
    ck_assert_str_eq(Q("a\nb"), "\"a\\x0ab\"");
    ck_assert_str_eq(Q("\r\t"), "\"\\x0d\\x09\"");
    ck_assert_str_eq(Q("\x1b[31mred"), "\"\\x1b[31mred\"");
    ck_assert_str_eq(Q("\x7f"), "\"\\x7f\"");
    ck_assert_str_eq(Q("a\0b"), "\"a\\x00b\"");
}
END_TEST

START_TEST(hidden_code_points)
{
    ck_assert_str_eq(Q("\xe2\x80\xae" "evil"), "\"\\u{202E}evil\"");   /* RLO */
    ck_assert_str_eq(Q("\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad"),
                     "\"\\u{202A}\\u{202B}\\u{202C}\\u{202D}\"");
    ck_assert_str_eq(Q("\xe2\x81\xa6\xe2\x81\xa7\xe2\x81\xa8\xe2\x81\xa9"),
                     "\"\\u{2066}\\u{2067}\\u{2068}\\u{2069}\"");
    ck_assert_str_eq(Q("\xe2\x80\x8e\xe2\x80\x8f\xd8\x9c"), "\"\\u{200E}\\u{200F}\\u{061C}\"");
    ck_assert_str_eq(Q("a\xe2\x80\x8b" "b\xe2\x80\x8c\xe2\x80\x8d\xe2\x81\xa0\xef\xbb\xbf"),
                     "\"a\\u{200B}b\\u{200C}\\u{200D}\\u{2060}\\u{FEFF}\"");
    ck_assert_str_eq(Q("\xe2\x80\xa8\xe2\x80\xa9"), "\"\\u{2028}\\u{2029}\"");
    ck_assert_str_eq(Q("\xc2\x85\xc2\x9b"), "\"\\u{0085}\\u{009B}\"");   /* C1: NEL, CSI */
    /* ordinary UTF-8 stays readable */
    ck_assert_str_eq(Q("al\xc3\xaf" "ce \xf0\x9f\x94\x91 \xd7\xa9"), "\"al\xc3\xaf" "ce \xf0\x9f\x94\x91 \xd7\xa9\"");
    ck_assert_str_eq(Q("\xe2\x80\x90"), "\"\xe2\x80\x90\""); /* U+2010, next to the range */
}
END_TEST

START_TEST(invalid_utf8_as_hex)
{
    ck_assert_str_eq(Q("\xff"), "\"\\xff\"");
    ck_assert_str_eq(Q("a\xe2\x80"), "\"a\\xe2\\x80\"");          /* cut sequence */
    ck_assert_str_eq(Q("\xc0\xaf"), "\"\\xc0\\xaf\"");            /* overlong '/' */
    ck_assert_str_eq(Q("\xed\xa0\x80"), "\"\\xed\\xa0\\x80\"");   /* surrogate */
    ck_assert_str_eq(Q("\xf4\x90\x80\x80"), "\"\\xf4\\x90\\x80\\x80\""); /* past U+10FFFF */
    ck_assert_str_eq(Q("\xe2\x80\xae\xe2"), "\"\\u{202E}\\xe2\"");
}
END_TEST

START_TEST(worst_case_fits)
{
    char in[PROTO_MAX_NAME], out[LOG_QUOTED_SIZE(PROTO_MAX_NAME)];
    memset(in, 0x01, sizeof(in));
    log_quote(out, sizeof(out), in, sizeof(in));
    ck_assert_uint_eq(strlen(out), 4 * sizeof(in) + 2);
    ck_assert_int_eq(out[strlen(out) - 1], '"');
    /* two-byte C1 controls: 8 characters for 2 bytes, the same ratio */
    for (size_t i = 0; i < sizeof(in); i += 2) {
        in[i] = (char)0xc2;
        in[i + 1] = (char)0x85;
    }
    log_quote(out, sizeof(out), in, sizeof(in));
    ck_assert_uint_eq(strlen(out), 4 * sizeof(in) + 2);
}
END_TEST

START_TEST(short_buffer_cuts_whole_escapes)
{
    char out[8];
    ck_assert_str_eq(log_quote(out, sizeof(out), "\x01\x01", 2), "\"\\x01\"");
    ck_assert_str_eq(log_quote(out, sizeof(out), "abcdefgh", 8), "\"abcde\"");
    ck_assert_str_eq(log_quote(out, 3, "abc", 3), "\"\"");
    out[0] = 'x';
    log_quote(out, 2, "abc", 3);
    ck_assert_str_eq(out, "");
}
END_TEST

/* Nothing a terminal would act on survives in the output. NULL, or what was found (plain
 * checks: a ck_assert per byte costs Check a write to its pipe). */
static const char *active_in(const char *q)
{
    size_t n = strlen(q);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)q[i];
        uint32_t cp = c;
        size_t len = c < 0x80 ? 1 : proto_utf8_decode((const uint8_t *)q + i, n - i, &cp);
        if (c < 0x20 || c == 0x7f)
            return "a raw C0 control or DEL";
        if (len == 0)
            return "invalid UTF-8";
        if ((cp >= 0x80 && cp <= 0x9f) || (cp >= 0x200b && cp <= 0x200f) ||
            (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x206f) ||
            cp == 0xfeff || cp == 0x061c)
            return "a raw C1, bidi or zero-width character";
        i += len;
    }
    return NULL;
}

START_TEST(random_round_trip)
{
    /* bytes biased towards the interesting ones: controls, quotes, UTF-8 lead bytes */
    static const unsigned char pool[] = { 0x00, 0x0a, 0x1b, 0x7f, '"', '\\', ' ', '=', 'a',
                                          0xc2, 0x85, 0xe2, 0x80, 0xae, 0x8b, 0x81, 0xa6,
                                          0xef, 0xbb, 0xbf, 0xd8, 0x9c, 0xf0, 0x9f, 0xff };
    srand(12345);
    char in[PROTO_MAX_NAME], out[LOG_QUOTED_SIZE(PROTO_MAX_NAME)], back[AUDIT_VALUE_MAX];
    for (int round = 0; round < 20000; round++) {
        size_t n = (size_t)rand() % (sizeof(in) + 1);
        for (size_t i = 0; i < n; i++)
            in[i] = (char)(rand() % 3 == 0 ? rand() % 256 : pool[(size_t)rand() % sizeof(pool)]);
        log_quote(out, sizeof(out), in, n);
        const char *found = active_in(out), *end;
        if (found != NULL)
            ck_abort_msg("round %d: %s in %s", round, found, out);
        long len = audit_unquote(out, &end, back, sizeof(back));
        if (len != (long)n || *end != '\0' || memcmp(back, in, n) != 0)
            ck_abort_msg("round %d: %s did not read back as its %zu bytes", round, out, n);
    }
}
END_TEST

START_TEST(reader_refuses_raw_and_unknown)
{
    char back[64];
    const char *end;
    ck_assert_int_eq(audit_unquote("\"a\nb\"", &end, back, sizeof(back)), -1);
    ck_assert_int_eq(audit_unquote("\"a\\qb\"", &end, back, sizeof(back)), -1);
    ck_assert_int_eq(audit_unquote("\"open", &end, back, sizeof(back)), -1);
    ck_assert_int_eq(audit_unquote("\"\\u{D800}\"", &end, back, sizeof(back)), -1);
    audit_field f[4];
    ck_assert_int_eq(audit_parse("a=1 b=\"x y\" c=-", f, 4), 3);
    ck_assert_str_eq(f[1].value, "x y");
    ck_assert(f[1].quoted && !f[2].quoted);
    ck_assert_int_eq(audit_parse("a=1  b=2", f, 4), -1);
    ck_assert_int_eq(audit_parse("a=1 b=x\"y\"", f, 4), -1);
    ck_assert_int_eq(audit_parse("a=\"1\"b=2", f, 4), -1);
    ck_assert_int_eq(audit_parse("a=1 ", f, 4), -1);
}
END_TEST

static Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("quote");
    tcase_add_test(tc, plain_and_quotes);
    tcase_add_test(tc, controls_as_hex);
    tcase_add_test(tc, hidden_code_points);
    tcase_add_test(tc, invalid_utf8_as_hex);
    tcase_add_test(tc, worst_case_fits);
    tcase_add_test(tc, short_buffer_cuts_whole_escapes);
    tcase_add_test(tc, random_round_trip);
    tcase_add_test(tc, reader_refuses_raw_and_unknown);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(log_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
