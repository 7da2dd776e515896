/* proto/utf8.c: the one UTF-8 decoder (names on the wire, the CLI's bodies and output,
 * libsekrets' JSON). Strict RFC 3629: every overlong, surrogate and out-of-range form. */
#include <check.h>
#include <string.h>

#include "utf8.h"

static const struct { const char *what; const char *s; size_t n; size_t len; uint32_t cp; } cases[] = {
    { "ascii", "A", 1, 1, 0x41 },
    { "nul", "\x00", 1, 1, 0 },
    { "2-byte min", "\xc2\x80", 2, 2, 0x80 },
    { "2-byte max", "\xdf\xbf", 2, 2, 0x7ff },
    { "3-byte min", "\xe0\xa0\x80", 3, 3, 0x800 },
    { "last before surrogates", "\xed\x9f\xbf", 3, 3, 0xd7ff },
    { "first after surrogates", "\xee\x80\x80", 3, 3, 0xe000 },
    { "BOM", "\xef\xbb\xbf", 3, 3, 0xfeff },
    { "4-byte min", "\xf0\x90\x80\x80", 4, 4, 0x10000 },
    { "4-byte max", "\xf4\x8f\xbf\xbf", 4, 4, 0x10ffff },
    { "overlong NUL", "\xc0\x80", 2, 0, 0 },
    { "overlong slash", "\xc1\xaf", 2, 0, 0 },
    { "overlong 3-byte", "\xe0\x9f\xbf", 3, 0, 0 },
    { "overlong 4-byte", "\xf0\x8f\xbf\xbf", 4, 0, 0 },
    { "high surrogate", "\xed\xa0\x80", 3, 0, 0 },
    { "low surrogate", "\xed\xbf\xbf", 3, 0, 0 },
    { "past U+10FFFF", "\xf4\x90\x80\x80", 4, 0, 0 },
    { "5-byte lead", "\xf8\x88\x80\x80\x80", 5, 0, 0 },
    { "lone continuation", "\x80", 1, 0, 0 },
    { "0xff", "\xff", 1, 0, 0 },
    { "truncated 2", "\xc3", 1, 0, 0 },
    { "truncated 4", "\xf0\x9f\x98", 3, 0, 0 },
    { "bad continuation", "\xe2\x28\xa1", 3, 0, 0 },
};

START_TEST(decode_each_form)
{
    uint32_t cp = 0xdeadbeef;
    size_t len = proto_utf8_decode((const uint8_t *)cases[_i].s, cases[_i].n, &cp);
    ck_assert_msg(len == cases[_i].len, "%s: length %zu, want %zu", cases[_i].what, len, cases[_i].len);
    if (len > 0)
        ck_assert_msg(cp == cases[_i].cp, "%s: U+%04X", cases[_i].what, (unsigned)cp);
    else
        ck_assert_msg(cp == 0xdeadbeef, "%s: *cp written on failure", cases[_i].what);
    /* a string of exactly that sequence is valid iff the sequence is */
    ck_assert_int_eq(proto_utf8_valid((const uint8_t *)cases[_i].s, cases[_i].n),
                     cases[_i].len == cases[_i].n);
}
END_TEST

START_TEST(valid_strings)
{
    static const char mixed[] = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91";
    ck_assert(proto_utf8_valid((const uint8_t *)"", 0));
    ck_assert(proto_utf8_valid((const uint8_t *)mixed, sizeof(mixed) - 1));
    ck_assert(!proto_utf8_valid((const uint8_t *)mixed, sizeof(mixed) - 2)); /* cut mid-char */
    static const char tail_bad[] = "ok\xed\xa0\x80";
    ck_assert(!proto_utf8_valid((const uint8_t *)tail_bad, sizeof(tail_bad) - 1));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("utf8");
    TCase *tc = tcase_create("decode");
    tcase_add_loop_test(tc, decode_each_form, 0, (int)(sizeof(cases) / sizeof(cases[0])));
    tcase_add_test(tc, valid_strings);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
