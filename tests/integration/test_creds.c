/* The LoadCredential= socket (daemon/creds.c), asked exactly as systemd asks: a child
 * placed in a cgroup named like the unit binds "\0<hex>/unit/<UNIT>/<ID>", connects,
 * shuts down its write side and reads to EOF. Every case checks the bytes and the one audit
 * line. Needs root and a writable cgroup2 hierarchy: without them the test exits 77
 * (meson: SKIP) saying why. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit_line.h"
#include "creds_client.h"
#include "frame.h"
#include "harness.h"


static harness h;
static char unit_a[64], unit_b[64]; /* unit names, unique per run: skrtest-<pid>-a.service */
static char creds_sock[80];

/* Asks for id as unit from inside cgroup `cg`; returns the bytes (out) and checks EOF. */
static void fetch(const char *unit, const char *id, const char *cg, uid_t uid, proto_buf *out)
{
    char name[120];
    creds_ask a = { creds_sock, name, creds_systemd_name(name, sizeof(name), unit, id),
                    CREDS_BIND_ABSTRACT, cg, uid };
    ck_assert_int_eq(creds_run_ask(&a, out), 0);
}

/* ---- the audit line ---- */

static int audit_count;

/* The next op=credential line of the daemon's log (bounded poll: 5 s), split into fields. */
static int next_audit(audit_field *f, int max)
{
    for (int tries = 0; tries < 500; tries++) {
        FILE *fp = fopen(h.log, "r");
        char line[4096];
        int seen = 0, nf = -1;
        while (fp != NULL && fgets(line, sizeof(line), fp) != NULL) {
            char *p = strstr(line, "pid=");
            if (p == NULL || strstr(line, " op=credential ") == NULL || seen++ < audit_count)
                continue;
            line[strcspn(line, "\n")] = '\0';
            nf = audit_parse(p, f, max);
            break;
        }
        if (fp != NULL)
            fclose(fp);
        if (seen > audit_count) {
            audit_count++;
            return nf;
        }
        usleep(10000);
    }
    return -1;
}

static const char *field(audit_field *f, int n, const char *key)
{
    for (int i = 0; i < n; i++)
        if (strcmp(f[i].key, key) == 0)
            return f[i].value;
    return "(absent)";
}

/* The next audit line says this unit, id, result and byte count (unit/id NULL: "-"). */
static void expect_audit(const char *unit, const char *id, const char *result, size_t bytes)
{
    audit_field f[10];
    int n = next_audit(f, 10);
    ck_assert_msg(n >= 7, "no parseable audit line (log %s)", h.log);
    char b[24];
    snprintf(b, sizeof(b), "%zu", bytes);
    ck_assert_str_eq(field(f, n, "result"), result);
    ck_assert_str_eq(field(f, n, "unit"), unit != NULL ? unit : "-");
    ck_assert_str_eq(field(f, n, "id"), id != NULL ? id : "-");
    ck_assert_str_eq(field(f, n, "bytes"), b);
}

/* ---- the daemon ---- */

static const char smtp_body_json[] = "{\"username\":\"alerts@example.com\",\"password\":\"s3cret-pw\"}";

static void put(int fd, const char *protocol, const char *name, int npairs, const char *const *kv,
                const size_t *vlen)
{
    proto_buf b = PROTO_BUF_INIT, rb = PROTO_BUF_INIT;
    proto_response resp;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &b, proto_buf_msgpack_write);
    msgpack_pack_map(&pk, (size_t)npairs);
    for (int i = 0; i < npairs; i++) {
        proto_pack_cstr(&pk, kv[2 * i]);
        size_t l = vlen != NULL && vlen[i] != 0 ? vlen[i] : strlen(kv[2 * i + 1]);
        msgpack_pack_str(&pk, l);
        msgpack_pack_str_body(&pk, kv[2 * i + 1], l);
    }
    proto_request r = harness_req(1, PROTO_OP_PUT, protocol, name);
    r.body = (proto_span){ b.data, (uint32_t)b.len };
    r.fields |= PROTO_F_BODY;
    ck_assert_int_eq(harness_call(fd, &r, &rb, &resp), 0);
    ck_assert_msg(resp.ok, "put %s/%s failed", protocol, name);
    proto_buf_free(&b);
    proto_buf_free(&rb);
}

static char *big; /* 62,500 bytes of 'x' */

static char conf[300];

/* Starts (or, after harness_kill, restarts) the daemon on the test's folder, config and
 * hub, with this --write-timeout. */
static void start_daemon(const char *write_timeout_ms)
{
    const char *args[] = { "--config", conf, "--credentials-socket", creds_sock,
                           "--write-timeout", write_timeout_ms, NULL };
    ck_assert_int_eq(harness_restart(&h, HARNESS_KEYFILE, args), 0);
}

static void setup(void)
{
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    audit_count = 0;
    ck_assert_int_eq(harness_prepare(&h, HARNESS_KEYFILE), 0);
    ck_assert_int_lt(snprintf(creds_sock, sizeof(creds_sock), "%s/run/creds.sock", h.dir), (int)sizeof(creds_sock));
    snprintf(conf, sizeof(conf), "%s/sekretsd.conf", h.dir);
    FILE *fp = fopen(conf, "w");
    ck_assert_ptr_nonnull(fp);
    fprintf(fp, "[credential smtp-password]\nunit = %s\nprotocol = smtp\nname = alerts@example.com\n"
            "field = password\n\n", unit_a);
    fprintf(fp, "[credential smtp.json]\nunit = other.service, %s\nprotocol = smtp\n"
            "name = alerts@example.com\nformat = json\n\n", unit_a);
    fprintf(fp, "[credential smtp-line]\nunit = %s\nprotocol = smtp\nname = alerts@example.com\n"
            "template = user={username} pass={password} {{literal}}\n\n", unit_a);
    fprintf(fp, "[credential big-ok]\nunit = %s\nprotocol = blob\nname = big\ntemplate = "
            "{p}{p}{p}{p}{p}{p}{p}{p}{p}{p}{p}{p}{p}{p}{p}{p}\n\n", unit_a);
    fprintf(fp, "[credential big-over]\nunit = %s\nprotocol = blob\nname = big\ntemplate = "
            "{p}{p}{p}{p}{p}{p}{p}{p}{p}{p}{p}{p}{p}{p}{p}{p}{p}\n\n", unit_a);
    fprintf(fp, "[credential gone]\nunit = %s\nprotocol = smtp\nname = nobody\nfield = password\n\n",
            unit_a);
    fprintf(fp, "[credential no-field]\nunit = %s\nprotocol = smtp\nname = alerts@example.com\n"
            "field = token\n", unit_a);
    fclose(fp);
    start_daemon("10000");
    int fd = harness_connect(&h);
    ck_assert_int_ge(fd, 0);
    const char *smtp[] = { "username", "alerts@example.com", "password", "s3cret-pw" };
    put(fd, "smtp", "alerts@example.com", 2, smtp, NULL);
    big = malloc(62500);
    memset(big, 'x', 62500);
    const char *blob[] = { "p", big };
    size_t blen[] = { 62500 };
    put(fd, "blob", "big", 1, blob, blen);
    close(fd);
}

static void teardown(void)
{
    harness_stop(&h);
    free(big);
}

/* ---- cases ---- */

/* Asks id as unit from inside its own cgroup: gets exactly want[0..len), an ok audit line. */
static void granted(const char *unit, const char *id, const char *want, size_t len)
{
    proto_buf out = PROTO_BUF_INIT;
    fetch(unit, id, unit, 0, &out);
    ck_assert_uint_eq(out.len, len);
    ck_assert_int_eq(memcmp(out.data, want, len), 0);
    expect_audit(unit, id, "ok", len);
    proto_buf_free(&out);
}

/* Asks id as unit from cgroup cg (uid): gets 0 bytes, then EOF, and an audit line `result`. */
static void refused(const char *unit, const char *id, const char *cg, uid_t uid, const char *result)
{
    proto_buf out = PROTO_BUF_INIT;
    fetch(unit, id, cg, uid, &out);
    ck_assert_msg(out.len == 0, "%s/%s from %s: %zu bytes", unit, id, cg ? cg : "/", out.len);
    expect_audit(unit, id, result, 0);
    proto_buf_free(&out);
}

START_TEST(granted_renderings_exact)
{
    struct stat st;
    ck_assert_int_eq(stat(creds_sock, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0600);
    granted(unit_a, "smtp-password", "s3cret-pw", 9);
    granted(unit_a, "smtp.json", smtp_body_json, strlen(smtp_body_json));
    const char *line = "user=alerts@example.com pass=s3cret-pw {literal}";
    granted(unit_a, "smtp-line", line, strlen(line));
}
END_TEST

START_TEST(other_cgroup_claiming_unit_gets_nothing)
{
    refused(unit_a, "smtp-password", unit_b, 0, "wrong_cgroup"); /* runs in B, claims A */
    refused(unit_a, "smtp-password", NULL, 0, "wrong_cgroup");   /* the root cgroup */
    /* B asking as itself: authenticated, but nothing is granted to B */
    refused(unit_b, "smtp-password", unit_b, 0, "denied");
}
END_TEST

START_TEST(ungranted_and_missing)
{
    refused(unit_a, "not-configured", unit_a, 0, "denied");
    refused(unit_a, "gone", unit_a, 0, "not_found");
    refused(unit_a, "no-field", unit_a, 0, "no_field");
}
END_TEST

START_TEST(bad_addresses_refused)
{
    char full[107];
    memset(full, 'a', sizeof(full)); /* every byte of sun_path used: hex, then nothing */
    char nul[64];
    int nl = snprintf(nul, sizeof(nul), "abc/unit/%s/smtp-password", unit_a);
    nul[nl - 3] = '\0'; /* a NUL inside the ID */
    char buf[12][128];
    const char *bad[12];
    snprintf(buf[0], 128, "ABC/unit/%s/smtp-password", unit_a);       /* upper-case hex */
    snprintf(buf[1], 128, "12345678901234567/unit/%s/smtp-password", unit_a); /* 17 digits */
    snprintf(buf[2], 128, "abc/unit/%s", unit_a);                      /* no ID */
    snprintf(buf[3], 128, "abc/units/%s/smtp-password", unit_a);       /* not /unit/ */
    snprintf(buf[4], 128, "abc/unit/skrtest/smtp-password");           /* no unit suffix */
    snprintf(buf[5], 128, "abc/unit/%s/smtp:password", unit_a);        /* ':' in the ID */
    snprintf(buf[6], 128, "abc/unit/%s/..", unit_a);                   /* ".." */
    snprintf(buf[7], 128, "abc/unit/%s/smtp-password/x", unit_a);      /* '/' in the ID */
    snprintf(buf[8], 128, "/unit/%s/smtp-password", unit_a);           /* no random part */
    snprintf(buf[9], 128, "abc/unit/@x.service/smtp-password");        /* empty template prefix */
    snprintf(buf[10], 128, "abc/unit/%s/", unit_a);                    /* empty ID */
    snprintf(buf[11], 128, "abc/unit/a b.service/smtp-password");      /* space in the unit */
    proto_buf out = PROTO_BUF_INIT;
    for (int i = 0; i < 12; i++) {
        bad[i] = buf[i];
        creds_ask a = { creds_sock, bad[i], strlen(bad[i]), CREDS_BIND_ABSTRACT, unit_a, 0 };
        ck_assert_int_eq(creds_run_ask(&a, &out), 0);
        ck_assert_msg(out.len == 0, "address %s got %zu bytes", bad[i], out.len);
        expect_audit(NULL, NULL, "bad_address", 0);
    }
    creds_ask nulask = { creds_sock, nul, (size_t)nl, CREDS_BIND_ABSTRACT, unit_a, 0 };
    ck_assert_int_eq(creds_run_ask(&nulask, &out), 0);
    ck_assert_uint_eq(out.len, 0);
    expect_audit(NULL, NULL, "bad_address", 0);
    creds_ask fullask = { creds_sock, full, sizeof(full), CREDS_BIND_ABSTRACT, unit_a, 0 };
    ck_assert_int_eq(creds_run_ask(&fullask, &out), 0);
    ck_assert_uint_eq(out.len, 0);
    expect_audit(NULL, NULL, "bad_address", 0);
    creds_ask unnamed = { creds_sock, NULL, 0, CREDS_BIND_NONE, unit_a, 0 };
    ck_assert_int_eq(creds_run_ask(&unnamed, &out), 0);
    ck_assert_uint_eq(out.len, 0);
    expect_audit(NULL, NULL, "no_address", 0);
    creds_ask path = { creds_sock, NULL, 0, CREDS_BIND_PATH, unit_a, 0 };
    ck_assert_int_eq(creds_run_ask(&path, &out), 0);
    ck_assert_uint_eq(out.len, 0);
    expect_audit(NULL, NULL, "no_address", 0);
    proto_buf_free(&out);
}
END_TEST

START_TEST(size_limit_1mib)
{
    proto_buf out = PROTO_BUF_INIT;
    fetch(unit_a, "big-ok", unit_a, 0, &out); /* 16 x 62,500 = 1,000,000 bytes: served */
    ck_assert_uint_eq(out.len, 1000000);
    for (size_t i = 0; i < out.len; i++)
        ck_assert_int_eq(out.data[i], 'x');
    expect_audit(unit_a, "big-ok", "ok", 1000000);
    proto_buf_free(&out);
    refused(unit_a, "big-over", unit_a, 0, "too_large"); /* 17 x 62,500 = 1,062,500 > 1 MiB */
}
END_TEST

/* A `lock` request on the main socket, answered ok. */
static void lock_hub(void)
{
    int fd = harness_connect(&h);
    ck_assert_int_ge(fd, 0);
    proto_buf rb = PROTO_BUF_INIT;
    proto_response resp;
    proto_request r = harness_req(2, PROTO_OP_LOCK, NULL, NULL);
    ck_assert_int_eq(harness_call(fd, &r, &rb, &resp), 0);
    ck_assert(resp.ok);
    close(fd);
    proto_buf_free(&rb);
}

/* In a child: connected like systemd asking id for unit; the child exits 4 on failure. */
static int connect_like_systemd(const char *unit, const char *id)
{
    char name[120];
    int sk = creds_connect_abstract(creds_sock, name, creds_systemd_name(name, sizeof(name), unit, id));
    if (sk < 0)
        _exit(4);
    return sk;
}

START_TEST(locked_hub_gives_nothing)
{
    lock_hub();
    refused(unit_a, "smtp-password", unit_a, 0, "locked");
}
END_TEST

START_TEST(other_uid_refused)
{
    /* Open the folder and socket so uid 65534 can connect at all: the uid check is the
     * daemon's, not the file modes'. */
    char run[300];
    snprintf(run, sizeof(run), "%s/run", h.dir);
    ck_assert_int_eq(chmod(h.dir, 0711), 0);
    ck_assert_int_eq(chmod(run, 0711), 0);
    ck_assert_int_eq(chmod(creds_sock, 0666), 0);
    refused(unit_a, "smtp-password", unit_a, 65534, "bad_uid");
}
END_TEST

/* A client in unit A that asks for `id` and reads nothing until told to. */
typedef struct late_reader {
    pid_t pid;
    int go;   /* closed: start reading */
    int res;  /* then gives the byte count read until EOF */
} late_reader;

static late_reader late_reader_start(const char *id)
{
    int go[2], res[2];
    ck_assert_int_eq(pipe(go), 0);
    ck_assert_int_eq(pipe(res), 0);
    pid_t c = fork();
    ck_assert_int_ge(c, 0);
    if (c == 0) {
        close(go[1]);
        close(res[0]);
        char buf[65536], x;
        size_t total = 0;
        if (creds_cg_enter(unit_a) != 0)
            _exit(4);
        int sk = connect_like_systemd(unit_a, id);
        if (read(go[0], &x, 1) != 0) /* waits until the test closes go */
            _exit(5);
        ssize_t r;
        while ((r = read(sk, buf, sizeof(buf))) > 0)
            total += (size_t)r;
        _exit(write(res[1], &total, sizeof(total)) == (ssize_t)sizeof(total) ? 0 : 6);
    }
    close(go[0]);
    close(res[1]);
    return (late_reader){ c, go[1], res[0] };
}

/* Lets it read; the bytes it got before EOF. */
static size_t late_reader_finish(late_reader *lr)
{
    size_t total = 0;
    close(lr->go);
    ck_assert_int_eq(read(lr->res, &total, sizeof(total)), (ssize_t)sizeof(total));
    close(lr->res);
    int st;
    ck_assert_int_eq(waitpid(lr->pid, &st, 0), lr->pid);
    return total;
}

/* A lock while a 1,000,000-byte credential waits for a client that does not read yet:
 * the connection is closed and the bytes not yet in the socket wiped, not sent later. */
START_TEST(lock_drops_unread_credential)
{
    late_reader lr = late_reader_start("big-ok");
    expect_audit(unit_a, "big-ok", "ok", 1000000);
    lock_hub();
    for (int i = 0; i < 500 && !harness_log_contains(&h, "hub locked while a credential was being written"); i++)
        usleep(10000);
    size_t total = late_reader_finish(&lr);
    ck_assert_msg(total < 1000000, "the client read %zu bytes after the lock", total);
    ck_assert(harness_log_contains(&h, "hub locked while a credential was being written"));
}
END_TEST

/* 64 clients that do not read hold every place (each with 1,000,000 bytes queued; the
 * write timeout is an hour): the 65th is closed unserved (busy). Once they hang up, the
 * places come back. */
START_TEST(busy_at_64)
{
    enum { HOLD = 64 };
    harness_kill(&h, SIGTERM);
    start_daemon("3600000");
    int go[2];
    ck_assert_int_eq(pipe(go), 0);
    pid_t c = fork();
    ck_assert_int_ge(c, 0);
    if (c == 0) {
        close(go[1]);
        if (creds_cg_enter(unit_a) != 0)
            _exit(4);
        int sk[HOLD];
        for (int i = 0; i < HOLD; i++)
            sk[i] = connect_like_systemd(unit_a, "big-ok");
        char x;
        _exit(read(go[0], &x, 1) == 0 && sk[0] >= 0 ? 0 : 5); /* holds them, reads nothing */
    }
    close(go[0]);
    for (int i = 0; i < HOLD; i++)
        expect_audit(unit_a, "big-ok", "ok", 1000000);
    proto_buf out = PROTO_BUF_INIT;
    fetch(unit_a, "smtp-password", unit_a, 0, &out);
    ck_assert_uint_eq(out.len, 0);
    expect_audit(NULL, NULL, "busy", 0);
    close(go[1]); /* the holders hang up: their writes fail, their places come back */
    int st;
    ck_assert_int_eq(waitpid(c, &st, 0), c);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    bool served = false;
    for (int i = 0; i < 250 && !served; i++) { /* bounded poll: 5 s */
        char name[120];
        creds_ask a = { creds_sock, name, creds_systemd_name(name, sizeof(name), unit_a, "smtp-password"),
                        CREDS_BIND_ABSTRACT, unit_a, 0 };
        ck_assert_int_eq(creds_run_ask(&a, &out), 0);
        served = out.len == 9;
        if (!served)
            usleep(20000);
    }
    ck_assert(served);
    proto_buf_free(&out);
}
END_TEST

/* A client that does not read its credential within --write-timeout is dropped: when it
 * reads at last, it gets less than the whole, then EOF. */
START_TEST(write_timeout_drops_reader)
{
    harness_kill(&h, SIGTERM);
    start_daemon("300");
    late_reader lr = late_reader_start("big-ok");
    expect_audit(unit_a, "big-ok", "ok", 1000000);
    for (int i = 0; i < 1000 && !harness_log_contains(&h, "credential not read within the write timeout"); i++)
        usleep(10000); /* bounded poll: 10 s */
    size_t total = late_reader_finish(&lr);
    ck_assert(harness_log_contains(&h, "credential not read within the write timeout"));
    ck_assert_msg(total < 1000000, "the client read all %zu bytes", total);
}
END_TEST

/* The attack a pidfd closes: a process in cgroup B connects claiming unit A and exits
 * (a child keeps the connection to read), and before the daemon looks, its pid is given
 * to a process in A. The daemon must find the connecting process gone, not read A's
 * /proc/PID/cgroup under the old pid. The daemon is stopped meanwhile so the order is
 * certain; ns_last_pid hands the pid over. */
static int write_last_pid(pid_t pid)
{
    FILE *fp = fopen("/proc/sys/kernel/ns_last_pid", "w");
    if (fp == NULL)
        return -1;
    int rc = fprintf(fp, "%d", (int)pid) > 0 ? 0 : -1;
    return fclose(fp) == 0 ? rc : -1;
}

/* The attacker: in B, connects claiming A, leaves a reader child holding the socket. */
static void attacker(int out_fd)
{
    if (creds_cg_enter(unit_b) != 0)
        _exit(errno > 0 && errno < 100 ? 100 + errno : 4); /* the test reports errno */
    int sk = connect_like_systemd(unit_a, "smtp-password");
    if (fork() == 0) { /* the reader: whatever the daemon writes goes to out_fd */
        char buf[4096];
        ssize_t r;
        while ((r = read(sk, buf, sizeof(buf))) > 0)
            if (write(out_fd, buf, (size_t)r) != r)
                _exit(6);
        _exit(0);
    }
    _exit(0);
}

START_TEST(recycled_pid_gets_nothing)
{
    int done = 0;
    for (int attempt = 0; attempt < 20 && !done; attempt++) {
        int res[2], hold[2];
        ck_assert_int_eq(pipe(res), 0);
        ck_assert_int_eq(pipe(hold), 0);
        ck_assert_int_eq(kill(h.pid, SIGSTOP), 0);
        pid_t a = fork();
        ck_assert_int_ge(a, 0);
        if (a == 0) {
            close(res[0]);
            attacker(res[1]);
        }
        close(res[1]);
        int st;
        ck_assert_int_eq(waitpid(a, &st, 0), a);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            kill(h.pid, SIGCONT); /* the daemon must not stay stopped for the tests after */
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                      "attacker failed to connect: %s",
                      !WIFEXITED(st) ? "killed"
                      : WEXITSTATUS(st) > 100 ? strerror(WEXITSTATUS(st) - 100)
                                              : "exit status 4");
        ck_assert_int_eq(write_last_pid(a - 1), 0);
        pid_t v = fork(); /* the victim: the attacker's pid, in A */
        ck_assert_int_ge(v, 0);
        if (v == 0) {
            close(hold[1]);
            char c;
            if (getpid() == a && creds_cg_enter(unit_a) != 0)
                _exit(4);
            _exit(read(hold[0], &c, 1) == 0 ? 0 : 5); /* lives until the test closes hold */
        }
        close(hold[0]);
        if (v == a) {
            /* the victim must be in A before the daemon looks */
            char path[64], text[512];
            snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)v);
            for (int i = 0; i < 500; i++) {
                FILE *fp = fopen(path, "r");
                size_t n = fp != NULL ? fread(text, 1, sizeof(text) - 1, fp) : 0;
                if (fp != NULL)
                    fclose(fp);
                text[n] = '\0';
                if (strstr(text, unit_a) != NULL)
                    break;
                usleep(2000);
            }
            ck_assert_ptr_nonnull(strstr(text, unit_a));
        }
        ck_assert_int_eq(kill(h.pid, SIGCONT), 0);
        proto_buf got = PROTO_BUF_INIT;
        char buf[4096];
        ssize_t r;
        while ((r = read(res[0], buf, sizeof(buf))) > 0)
            ck_assert_int_eq(proto_buf_append(&got, buf, (size_t)r), 0);
        close(res[0]);
        ck_assert_msg(got.len == 0, "the recycled pid's cgroup was believed: %zu bytes", got.len);
        expect_audit(unit_a, "smtp-password", "peer_gone", 0);
        proto_buf_free(&got);
        close(hold[1]);
        ck_assert_int_eq(waitpid(v, &st, 0), v);
        done = v == a; /* another process took the pid first: try again */
    }
    ck_assert_msg(done, "could not hand the attacker's pid to a process in the unit (20 tries)");
}
END_TEST

static Suite *creds_suite(void)
{
    Suite *s = suite_create("creds");
    TCase *tc = tcase_create("creds");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, granted_renderings_exact);
    tcase_add_test(tc, other_cgroup_claiming_unit_gets_nothing);
    tcase_add_test(tc, ungranted_and_missing);
    tcase_add_test(tc, bad_addresses_refused);
    tcase_add_test(tc, size_limit_1mib);
    tcase_add_test(tc, locked_hub_gives_nothing);
    tcase_add_test(tc, other_uid_refused);
    tcase_add_test(tc, recycled_pid_gets_nothing);
    tcase_add_test(tc, lock_drops_unread_credential);
    tcase_add_test(tc, busy_at_64);
    tcase_add_test(tc, write_timeout_drops_reader);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (geteuid() != 0) {
        printf("SKIP: needs root, to create cgroups named like units\n");
        return 77;
    }
    if (creds_cg_find() != 0) {
        printf("SKIP: no cgroup2 hierarchy at /sys/fs/cgroup/unified or /sys/fs/cgroup\n");
        return 77;
    }
    snprintf(unit_a, sizeof(unit_a), "skrtest-%d-a.service", (int)getpid());
    snprintf(unit_b, sizeof(unit_b), "skrtest-%d-b.service", (int)getpid());
    if (creds_cg_create(unit_a) != 0 || creds_cg_create(unit_b) != 0) {
        printf("SKIP: cannot create a cgroup named %s: %s\n", unit_a, strerror(errno));
        creds_cg_remove(unit_a);
        return 77;
    }
    SRunner *sr = srunner_create(creds_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    creds_cg_remove(unit_a);
    creds_cg_remove(unit_b);
    return failed == 0 ? 0 : 1;
}
