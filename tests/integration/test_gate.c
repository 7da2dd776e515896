/* sekretsd's gate under pressure: one key derivation at a time behind one rate limit
 * (unlock, passwd, init), the idle lock fed by the owner alone, `status` counting only
 * what a granted peer may see, and audit lines that peer-chosen names cannot forge.
 * Each test starts its own daemon; the multi-uid ones need root (uid 65534 with a grant). */
#include <check.h>
#include <grp.h>
#include <msgpack.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit_line.h"
#include "frame.h"
#include "harness.h"
#include "sekrets/error.h"

static harness h;
static proto_buf rbuf;
static proto_response resp;

static void teardown(void)
{
    proto_buf_free(&rbuf);
    harness_stop(&h);
}

static int connect_ok(void)
{
    int fd = harness_connect(&h);
    ck_assert_int_ge(fd, 0);
    return fd;
}

/* One call; the reply's code (0 for ok). */
__attribute__((unused)) static int call(int fd, proto_request req)
{
    ck_assert_int_eq(harness_call(fd, &req, &rbuf, &resp), 0);
    ck_assert_uint_eq(resp.id, req.id);
    return resp.ok ? 0 : resp.code;
}

/* ---- audit lines ---- */

/* {"id": id, "op": "get", "protocol": "p", "name": <n raw bytes>}, framed. */
static void raw_get(proto_buf *out, uint32_t id, const char *name, size_t n)
{
    msgpack_packer pk;
    size_t mark;
    proto_buf_reset(out);
    ck_assert_int_eq(proto_frame_begin(out, &mark), 0);
    msgpack_packer_init(&pk, out, proto_buf_msgpack_write);
    msgpack_pack_map(&pk, 4);
    proto_pack_cstr(&pk, "id");
    msgpack_pack_uint32(&pk, id);
    proto_pack_cstr(&pk, "op");
    proto_pack_cstr(&pk, "get");
    proto_pack_cstr(&pk, "protocol");
    proto_pack_cstr(&pk, "p");
    proto_pack_cstr(&pk, "name");
    proto_pack_str(&pk, name, n);
    ck_assert_int_eq(proto_frame_end(out, mark, 1u << 20), 0);
}

/* Names a peer may choose to forge or hide audit fields; `refused`: the decoder refuses
 * the name itself (control characters), so the line shows none. */
#define NAME(s, refused) { s, sizeof(s) - 1, refused }
static const struct { const char *s; size_t n; bool refused; } hostile[] = {
    NAME("x\" protocol=secretproto result=ok", false),
    NAME("name=forged result=ok", false),
    NAME("back\\slash\\\" op=lock", false),
    NAME("evil\xe2\x80\xaetxt.exe", false),                  /* U+202E right-to-left override */
    NAME("a\xe2\x80\x8b" "b\xef\xbb\xbf" "c\xe2\x81\xa6" "d", false), /* zero-width, BOM, LRI */
    NAME("line\nsekretsd: info: pid=1 uid=0 op=lock protocol=- name=- result=ok", true),
    NAME("\x1b[2J\x1b[31mred", true),
    NAME("nel\xc2\x85" "c1", true),
};
enum { NHOSTILE = sizeof(hostile) / sizeof(hostile[0]) };

/* The nth audit line other than a ping's (from its `pid=` on, newline cut): 0, or -1
 * when there is none. Every line of the log must be the daemon's own (its prefix first). */
static int audit_line(int nth, char *out, size_t cap)
{
    FILE *f = fopen(h.log, "r");
    ck_assert_ptr_nonnull(f);
    char line[4096];
    int found = -1, k = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        ck_assert_msg(strncmp(line, "sekretsd: ", 10) == 0, "a line not written by the daemon: %s", line);
        if (strncmp(line, "sekretsd: info: pid=", 20) != 0 || strstr(line, " op=ping ") != NULL)
            continue;
        if (k++ == nth) {
            snprintf(out, cap, "%.*s", (int)strcspn(line + 16, "\n"), line + 16);
            found = 0;
        }
    }
    fclose(f);
    return found;
}

START_TEST(test_audit_names_cannot_forge_fields)
{
    ck_assert_int_eq(harness_start(&h, HARNESS_KEYFILE, NULL), 0);
    int fd = connect_ok();
    proto_buf frame = PROTO_BUF_INIT;
    int codes[NHOSTILE];
    for (int i = 0; i < NHOSTILE; i++) {
        raw_get(&frame, (uint32_t)i + 1, hostile[i].s, hostile[i].n);
        ck_assert_int_eq(harness_call_raw(fd, frame.data, frame.len, &rbuf, &resp), 0);
        ck_assert_uint_eq(resp.id, (uint32_t)i + 1);
        codes[i] = resp.ok ? 0 : resp.code;
    }
    proto_buf_free(&frame);
    close(fd);
    harness_kill(&h, SIGTERM);
    int lines = 0;
    for (int i = 0; i < NHOSTILE; i++) {
        char line[4096];
        audit_field f[8];
        ck_assert_int_eq(audit_line(i, line, sizeof(line)), 0);
        lines++;
        int n = audit_parse(line, f, 8);
        ck_assert_msg(n == 6, "name %d: %d fields in: %s", i, n, line);
        static const char *const keys[] = { "pid", "uid", "op", "protocol", "name", "result" };
        for (int k = 0; k < 6; k++)
            ck_assert_str_eq(f[k].key, keys[k]);
        ck_assert(!f[0].quoted && !f[1].quoted && !f[2].quoted && !f[5].quoted);
        /* the decoder refuses a bad name before it reads the op */
        ck_assert_str_eq(f[2].value, hostile[i].refused ? "-" : "get");
        ck_assert_str_eq(f[3].value, "p");
        ck_assert(f[3].quoted);
        ck_assert_str_eq(f[5].value, codes[i] == 0 ? "ok" : skr_error_name(codes[i]));
        if (hostile[i].refused) {
            ck_assert_int_eq(codes[i], SKR_EBAD_REQUEST);
            ck_assert_str_eq(f[4].value, "-");
            ck_assert(!f[4].quoted);
        } else {
            ck_assert_int_eq(codes[i], SKR_ENOT_FOUND);
            ck_assert(f[4].quoted);
            ck_assert_uint_eq(f[4].len, hostile[i].n);
            ck_assert(memcmp(f[4].value, hostile[i].s, hostile[i].n) == 0);
        }
    }
    /* exactly one line per request, and no line that is not the daemon's */
    char extra[64];
    ck_assert_int_eq(audit_line(NHOSTILE, extra, sizeof(extra)), -1);
    ck_assert_int_eq(lines, NHOSTILE);
}
END_TEST

static Suite *gate_suite(void)
{
    Suite *s = suite_create("gate");
    struct { const char *name; const TTest *t; } tests[] = {
        { "audit_names_cannot_forge_fields", test_audit_names_cannot_forge_fields },
    };
    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
        TCase *tc = tcase_create(tests[i].name);
        tcase_add_checked_fixture(tc, NULL, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, tests[i].t);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(gate_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
