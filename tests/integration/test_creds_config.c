/* sekretsd's [credential ID] config sections: every mistake stops the start with one line
 * naming the file and line (exit 2). Needs no root: the daemon never gets to listen. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* A config with a mistake: sekretsd exits 2 with exactly one line on stderr,
 * "sekretsd: <file>" followed by after_path. */
static void bad_config(const char *text, const char *after_path)
{
    char dir[] = "/tmp/skr-creds-conf-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char conf[64], err[64], hub[64], sock[64], want[512], got[512] = "";
    snprintf(conf, sizeof(conf), "%s/c.ini", dir);
    snprintf(err, sizeof(err), "%s/err", dir);
    snprintf(hub, sizeof(hub), "%s/hub", dir);
    snprintf(sock, sizeof(sock), "%s/s.sock", dir);
    FILE *fp = fopen(conf, "w");
    ck_assert_ptr_nonnull(fp);
    fputs(text, fp);
    fclose(fp);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, STDERR_FILENO);
        execl(getenv("SEKRETSD"), "sekretsd", "-f", "--config", conf, "--hub", hub, "--socket", sock,
              (char *)NULL);
        _exit(127);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    fp = fopen(err, "r");
    ck_assert_ptr_nonnull(fp);
    size_t n = fread(got, 1, sizeof(got) - 1, fp);
    got[n] = '\0';
    fclose(fp);
    snprintf(want, sizeof(want), "sekretsd: %s%s", conf, after_path);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir); /* before the checks: no folder left */
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_str_eq(got, want);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2);
}

START_TEST(config_errors_name_file_and_line)
{
    const char *head = "[credential smtp-password]\nunit = mail.service\nprotocol = smtp\nname = a\n";
    char text[512];
    snprintf(text, sizeof(text), "%sfield = password\nbogus = 1\n", head);
    bad_config(text, ":6: [credential smtp-password] unknown key 'bogus' (unit, "
               "protocol, name, field, format, template)\n");
    snprintf(text, sizeof(text), "%sfield = password\nformat = json\n", head);
    bad_config(text, ":6: 'format': give only one of field, format = json, template\n");
    snprintf(text, sizeof(text), "%sformat = yaml\n", head);
    bad_config(text, ":5: format 'yaml': only 'json' (or use field / template)\n");
    snprintf(text, sizeof(text), "%stemplate = user={user pass\n", head);
    bad_config(text, ":5: template: '{' at offset 5 opens no {field}\n");
    snprintf(text, sizeof(text), "%stemplate = a}b\n", head);
    bad_config(text, ":5: template: unmatched '}' at offset 1 (write }} for a brace)\n");
    bad_config("[credential x]\nunit = mail\n",
               ":2: 'mail' is not a unit name that can load credentials (e.g. mail.service)\n");
    bad_config("[credential x]\nunit = mail.target\n",
               ":2: 'mail.target' is not a unit name that can load credentials (e.g. mail.service)\n");
    bad_config("[credential a:b]\nunit = mail.service\n",
               ":2: [credential a:b]: not a valid credential ID (1-255 printable ASCII "
               "characters, no '/' or ':')\n");
    bad_config("[credential x]\nunit = mail.service\nprotocol = smtp\nfield = p\n",
               ": [credential x] needs name = ...\n");
    bad_config("[credential x]\nprotocol = smtp\nname = a\nfield = p\n",
               ": [credential x] needs unit = ...\n");
    bad_config("[credential x]\nunit = mail.service\nprotocol = smtp\nname = a\n",
               ": [credential x] needs one of field = ..., format = json, template = ...\n");
    bad_config("[credential id-of-37-characters-the-most-inih-has]\nunit = "
               "a-long-unit-name-for-the-test-of-the-limits-x.service\nprotocol = smtp\nname = a\nfield = p\n",
               ": [credential id-of-37-characters-the-most-inih-has]: unit "
               "a-long-unit-name-for-the-test-of-the-limits-x.service and this ID together are longer "
               "than 84 characters: systemd cannot put them in its socket address\n");
    bad_config("[credential id-of-37-characters-the-most-inih-hasx]\nunit = mail.service\n",
               ":2: [credential id-of-37-...]: a credential ID here has at most 37 characters\n");
    /* inih cuts section names at 49 bytes: a longer grant name is refused, not merged */
    bad_config("[grant a-grant-name-of-43-characters-is-one-too-many]\nuid = 65534\n",
               ":2: [grant a-grant-name-o...]: a grant name here has at most 42 characters\n");
}
END_TEST

static Suite *creds_config_suite(void)
{
    Suite *s = suite_create("creds_config");
    TCase *tc = tcase_create("creds_config");
    tcase_add_test(tc, config_errors_name_file_and_line);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(creds_config_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
