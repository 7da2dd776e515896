/* daemon/creds_config.c: systemd's unit-name and credential-ID rules, the peer address,
 * /proc/PID/cgroup (cgroup2, and the name=systemd fallback of hybrid hosts), templates. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "creds.h"

static bool unit_ok(const char *s)
{
    return creds_unit_valid(s, strlen(s));
}

START_TEST(unit_names)
{
    const char *good[] = { "mail.service", "backup@daily.service", "a.socket", "home.mount",
                           "swapfile.swap", "x-y_z:1\\x2d.service" };
    const char *bad[] = { "", "mail", ".service", "mail.target", "mail.slice", "@x.service",
                          "x@.service", "a b.service", "a/b.service", "m\xc3\xa9l.service",
                          "mail.service\n" };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        ck_assert_msg(unit_ok(good[i]), "%s refused", good[i]);
    ck_assert(!unit_ok("a@b@c.service")); /* one '@' only */
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(!unit_ok(bad[i]), "%s accepted", bad[i]);
    char n[300];
    memset(n, 'a', sizeof(n));
    memcpy(n + 255 - 8, ".service", 8);
    ck_assert(creds_unit_valid(n, 255));
    memcpy(n + 256 - 8, ".service", 8);
    ck_assert(!creds_unit_valid(n, 256));
}
END_TEST

START_TEST(credential_ids)
{
    ck_assert(creds_id_valid("smtp-password", 13));
    ck_assert(creds_id_valid("a b~!", 5));
    ck_assert(creds_id_valid("...", 3));
    ck_assert(!creds_id_valid("", 0));
    ck_assert(!creds_id_valid(".", 1));
    ck_assert(!creds_id_valid("..", 2));
    ck_assert(!creds_id_valid("a:b", 3));
    ck_assert(!creds_id_valid("a/b", 3));
    ck_assert(!creds_id_valid("a\x7f", 2));
    ck_assert(!creds_id_valid("a\0b", 3));
    ck_assert(!creds_id_valid("\xc3\xa9", 2));
    char n[256];
    memset(n, 'i', sizeof(n));
    ck_assert(creds_id_valid(n, 255));
    ck_assert(!creds_id_valid(n, 256));
}
END_TEST

static int parse(const char *a, char *unit, char *id)
{
    return creds_parse_address(a, strlen(a), unit, id);
}

START_TEST(addresses)
{
    char unit[CREDS_UNIT_MAX + 1] = "untouched", id[CREDS_ID_MAX + 1] = "untouched";
    ck_assert_int_eq(parse("f00d/unit/mail.service/smtp-password", unit, id), 0);
    ck_assert_str_eq(unit, "mail.service");
    ck_assert_str_eq(id, "smtp-password");
    ck_assert_int_eq(parse("0123456789abcdef/unit/a@b.service/x", unit, id), 0);
    ck_assert_str_eq(unit, "a@b.service");
    const char *bad[] = { "", "f00d", "f00d/unit/", "f00d/unit/mail.service",
                          "f00d/unit/mail.service/", "F00D/unit/mail.service/x",
                          "0123456789abcdef0/unit/mail.service/x", "/unit/mail.service/x",
                          "f00d/Unit/mail.service/x", "f00d/unit/mail/x", "f00d//unit/mail.service/x",
                          "f00d/unit/mail.service/a/b", "f00d/unit/mail.service/.." };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        strcpy(unit, "untouched");
        ck_assert_msg(parse(bad[i], unit, id) != 0, "%s accepted", bad[i]);
        ck_assert_str_eq(unit, "untouched"); /* outputs only on success */
    }
    const char nul[] = "f00d/unit/mail.service/a\0b";
    ck_assert(creds_parse_address(nul, sizeof(nul) - 1, unit, id) != 0);
}
END_TEST

static const char *leaf(const char *text)
{
    static char out[CREDS_UNIT_MAX + 1];
    return creds_cgroup_leaf(text, strlen(text), out, sizeof(out)) == 0 ? out : NULL;
}

START_TEST(cgroups)
{
    ck_assert_str_eq(leaf("0::/system.slice/mail.service\n"), "mail.service");
    ck_assert_str_eq(leaf("0::/user.slice/user-1000.slice/user@1000.service/app.slice/m.service\n"),
                     "m.service");
    /* hybrid: the unified line first; when it is just "/", the name=systemd hierarchy */
    const char *hybrid = "12:pids:/system.slice/x.service\n1:name=systemd:/system.slice/mail.service\n"
                         "0::/\n";
    ck_assert_str_eq(leaf(hybrid), "mail.service");
    const char *both = "1:name=systemd:/system.slice/other.service\n0::/mail.service\n";
    ck_assert_str_eq(leaf(both), "mail.service");
    /* a controller hierarchy's path is never taken */
    ck_assert_ptr_null(leaf("4:memory:/mail.service\n0::/\n"));
    ck_assert_ptr_null(leaf("0::/\n"));
    ck_assert_ptr_null(leaf(""));
    ck_assert_ptr_null(leaf("10::/mail.service\n")); /* only hierarchy 0 has no controllers */
    ck_assert_str_eq(leaf("0::/a.service/sub\n"), "sub"); /* a sub-cgroup is not the unit */
    ck_assert_str_eq(leaf("0::/mail.service"), "mail.service"); /* no final newline */
}
END_TEST

START_TEST(templates)
{
    creds_config c = { 0 };
    char err[256];
    ck_assert_int_eq(creds_config_set(&c, "x", "template", "u={user} {{p}}={pass}}}", err, sizeof(err)), 0);
    const creds_grant *g = &c.grants[0];
    ck_assert_uint_eq(g->npieces, 5);
    ck_assert(!g->pieces[0].is_field);
    ck_assert_str_eq(g->pieces[0].text, "u=");
    ck_assert(g->pieces[1].is_field);
    ck_assert_str_eq(g->pieces[1].text, "user");
    ck_assert_str_eq(g->pieces[2].text, " {p}=");
    ck_assert(g->pieces[3].is_field);
    ck_assert_str_eq(g->pieces[3].text, "pass");
    ck_assert(!g->pieces[4].is_field);
    ck_assert_str_eq(g->pieces[4].text, "}");
    creds_config_free(&c);
    ck_assert_int_eq(c.ngrants, 0);
    const char *bad[] = { "{", "{}", "a}", "{a{b}", "{a" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(creds_config_set(&c, "x", "template", bad[i], err, sizeof(err)) != 0,
                      "%s accepted", bad[i]);
        creds_config_free(&c);
    }
    /* a literal run longer than the parser's buffer, split across pieces, loses nothing */
    char lon[3000];
    memset(lon, 'a', sizeof(lon) - 1);
    lon[sizeof(lon) - 1] = '\0';
    ck_assert_int_eq(creds_config_set(&c, "x", "template", lon, err, sizeof(err)), 0);
    size_t total = 0;
    for (size_t i = 0; i < c.grants[0].npieces; i++)
        total += c.grants[0].pieces[i].len;
    ck_assert_uint_eq(total, sizeof(lon) - 1);
    creds_config_free(&c);
}
END_TEST

START_TEST(grants_lookup)
{
    creds_config c = { 0 };
    char err[256];
    ck_assert_int_eq(creds_config_set(&c, "pw", "unit", "a.service, b.service c.service", err, sizeof(err)), 0);
    ck_assert_int_eq(creds_config_set(&c, "pw", "protocol", "smtp", err, sizeof(err)), 0);
    ck_assert_int_eq(creds_config_set(&c, "pw", "name", "n", err, sizeof(err)), 0);
    ck_assert_int_eq(creds_config_validate(&c, err, sizeof(err)), -1); /* no format yet */
    ck_assert_int_eq(creds_config_set(&c, "pw", "field", "password", err, sizeof(err)), 0);
    ck_assert_int_eq(creds_config_validate(&c, err, sizeof(err)), 0);
    ck_assert_ptr_nonnull(creds_config_find(&c, "b.service", "pw"));
    ck_assert_ptr_nonnull(creds_config_find(&c, "c.service", "pw"));
    ck_assert_ptr_null(creds_config_find(&c, "d.service", "pw"));
    ck_assert_ptr_null(creds_config_find(&c, "a.service", "other"));
    ck_assert_int_eq(creds_config_set(&c, "pw", "name", "again", err, sizeof(err)), -1);
    ck_assert_str_eq(err, "name given twice");
    creds_config_free(&c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("creds");
    TCase *tc = tcase_create("creds");
    tcase_add_test(tc, unit_names);
    tcase_add_test(tc, credential_ids);
    tcase_add_test(tc, addresses);
    tcase_add_test(tc, cgroups);
    tcase_add_test(tc, templates);
    tcase_add_test(tc, grants_lookup);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
