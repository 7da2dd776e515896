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
static int call(int fd, proto_request req)
{
    ck_assert_int_eq(harness_call(fd, &req, &rbuf, &resp), 0);
    ck_assert_uint_eq(resp.id, req.id);
    return resp.ok ? 0 : resp.code;
}

/* Pacing between requests (not a wait for a result: those are bounded polls). */
static void pause_ms(int ms)
{
    struct pollfd none = { .fd = -1 };
    poll(&none, 1, ms);
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

/* ---- one key derivation at a time ---- */

enum { BURST = 20 };

typedef struct burst {
    int n, ok, bad, limited, other;
    int winner;                 /* the connection answered ok, or -1 */
    char message[160];          /* a rate_limited answer's message */
} burst;

/* Sends req on fd without waiting for the answer. */
static void send_req(int fd, const proto_request *req)
{
    proto_buf out = PROTO_BUF_INIT;
    ck_assert_int_eq(proto_request_encode(&out, req, 1u << 20), 0);
    ck_assert_int_eq(harness_send(fd, out.data, out.len), 0);
    proto_buf_free(&out);
}

/* Reads the answer to request id into resp; its code (0 for ok). Waits for it in a
 * bounded poll of 120 s: an Argon2id under valgrind takes longer than harness_recv's 5 s. */
static int recv_reply(int fd, uint32_t id)
{
    struct pollfd pf = { .fd = fd, .events = POLLIN };
    ck_assert_int_eq(poll(&pf, 1, 120000), 1);
    ck_assert_int_eq(harness_recv(fd, &rbuf), 0);
    ck_assert_int_eq(proto_response_decode(rbuf.data, rbuf.len, &resp), 0);
    ck_assert_uint_eq(resp.id, id);
    return resp.ok ? 0 : resp.code;
}

/* call() for a request that may run a key derivation. */
static int call_kdf(int fd, proto_request req)
{
    send_req(fd, &req);
    return recv_reply(fd, req.id);
}

/* Opens n connections (each served a ping first, so all are accepted), then sends
 * reqs[i] on connection i, all before reading any answer, and tallies the answers. */
static void burst_run(burst *b, int n, const proto_request *reqs)
{
    int fds[BURST];
    ck_assert_int_le(n, BURST);
    *b = (burst){ .n = n, .winner = -1 };
    for (int i = 0; i < n; i++) {
        fds[i] = connect_ok();
        ck_assert_int_eq(call(fds[i], harness_req(100, PROTO_OP_PING, NULL, NULL)), 0);
    }
    for (int i = 0; i < n; i++)
        send_req(fds[i], &reqs[i]);
    for (int i = 0; i < n; i++) {
        recv_reply(fds[i], reqs[i].id);
        if (resp.ok) {
            b->ok++;
            b->winner = i;
        } else if (resp.code == SKR_EBAD_PASSPHRASE) {
            b->bad++;
        } else if (resp.code == SKR_ERATE_LIMITED) {
            b->limited++;
            snprintf(b->message, sizeof(b->message), "%.*s", (int)resp.message.len,
                     (const char *)resp.message.ptr);
        } else {
            b->other++;
        }
        close(fds[i]);
    }
}

/* Unlocks with pass once the rate limit lets it (a bounded poll: 100 ms apart, 10 s). */
static void unlock_when_allowed(int fd, const char *pass)
{
    int rc = SKR_ERATE_LIMITED;
    for (int i = 0; i < 100 && rc == SKR_ERATE_LIMITED; i++) {
        rc = call_kdf(fd, harness_secret_req(40, PROTO_OP_UNLOCK, pass, NULL));
        if (rc == SKR_ERATE_LIMITED)
            pause_ms(100);
    }
    ck_assert_int_eq(rc, 0);
}

static int log_count(const char *needle)
{
    FILE *f = fopen(h.log, "r");
    ck_assert_ptr_nonnull(f);
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof(line), f) != NULL)
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

/* 20 wrong unlocks at once: one is evaluated, the other 19 are refused without a guess
 * (the one window after that failure covers every later one); the right passphrase
 * still unlocks once the window has passed. */
START_TEST(test_parallel_unlocks_one_guess)
{
    ck_assert_int_eq(harness_start(&h, HARNESS_FAST_KDF, NULL), 0);
    int fd = connect_ok();
    ck_assert_int_eq(call(fd, harness_secret_req(1, PROTO_OP_INIT, "right pass", NULL)), 0);
    ck_assert_int_eq(call(fd, harness_req(2, PROTO_OP_LOCK, NULL, NULL)), 0);
    proto_request reqs[BURST];
    for (int i = 0; i < BURST; i++)
        reqs[i] = harness_secret_req((uint32_t)i + 10, PROTO_OP_UNLOCK, "wrong guess", NULL);
    burst b;
    burst_run(&b, BURST, reqs);
    ck_assert_int_eq(b.bad, 1);
    ck_assert_int_eq(b.limited, BURST - 1);
    ck_assert_int_eq(b.ok + b.other, 0);
    ck_assert_msg(strstr(b.message, "retry") != NULL, "no hint when to retry: %s", b.message);
    ck_assert_int_eq(log_count("op=unlock protocol=- name=- result=bad_passphrase"), 1);
    /* right away, the right one is refused too, and told how long to wait */
    ck_assert_int_eq(call(fd, harness_secret_req(3, PROTO_OP_UNLOCK, "right pass", NULL)),
                     SKR_ERATE_LIMITED);
    ck_assert_ptr_nonnull(memmem(resp.message.ptr, resp.message.len,
                                 "too many wrong passphrases: retry in ", 37));
    unlock_when_allowed(fd, "right pass");
    ck_assert_int_eq(log_count("op=unlock protocol=- name=- result=ok"), 1);
    close(fd);
}
END_TEST

/* init and passwd derive under the same rule; a wrong passwd feeds the unlock limit. */
START_TEST(test_parallel_init_and_passwd)
{
    /* interactive limits (about 0.1 s a derivation): the burst lands while the first runs */
    ck_assert_int_eq(harness_start(&h, 0, (const char *const[]){ "--kdf-limits", "interactive", NULL }), 0);
    proto_request reqs[BURST];
    char pass[BURST][16];
    for (int i = 0; i < 10; i++) {
        snprintf(pass[i], sizeof(pass[i]), "pass-%d", i);
        reqs[i] = harness_secret_req((uint32_t)i + 10, PROTO_OP_INIT, pass[i], NULL);
    }
    burst b;
    burst_run(&b, 10, reqs);
    ck_assert_int_eq(b.ok, 1);
    ck_assert_int_eq(b.limited, 9); /* not `exists` after a derivation of their own */
    ck_assert_msg(strstr(b.message, "another key derivation is running") != NULL, "%s", b.message);
    int winner = b.winner;

    for (int i = 0; i < BURST; i++)
        reqs[i] = harness_secret_req((uint32_t)i + 30, PROTO_OP_PASSWD, "wrong old", "new pass");
    burst_run(&b, BURST, reqs);
    ck_assert_int_eq(b.bad, 1);
    ck_assert_int_eq(b.limited, BURST - 1);
    ck_assert_int_eq(b.ok + b.other, 0);
    /* the same limit: an unlock right after the failed passwd waits */
    int fd = connect_ok();
    ck_assert_int_eq(call(fd, harness_req(2, PROTO_OP_LOCK, NULL, NULL)), 0);
    ck_assert_int_eq(call(fd, harness_secret_req(3, PROTO_OP_UNLOCK, pass[winner], NULL)),
                     SKR_ERATE_LIMITED);
    unlock_when_allowed(fd, pass[winner]);
    close(fd);
}
END_TEST

/* ---- a granted peer: uid 65534 in a child process ---- */

#define NOBODY 65534

/* Starts the daemon with the config text (a grant for NOBODY) and lets NOBODY reach the
 * socket (the daemon makes its folder 0711 and the socket 0666 itself). */
static void start_with_grant(const char *config, unsigned flags, const char *const *extra)
{
    ck_assert_msg(geteuid() == 0, "this test needs root to act as another uid");
    char conf[64];
    const char *argv[8] = { "--config", conf };
    snprintf(conf, sizeof(conf), "/tmp/skr-gate-%d.ini", (int)getpid());
    FILE *f = fopen(conf, "w");
    ck_assert_ptr_nonnull(f);
    fputs(config, f);
    fclose(f);
    for (int i = 0; extra != NULL && extra[i] != NULL && i < 5; i++)
        argv[2 + i] = extra[i];
    int rc = harness_start(&h, flags, argv);
    unlink(conf);
    ck_assert_msg(rc == 0, "daemon did not start");
    ck_assert_int_eq(chmod(h.dir, 0711), 0);
}

/* What a peer's fn runs with: its connection, a pipe to report on, a pipe that reads EOF
 * when the test wants it to stop. No ck_assert in there: it is a process of its own. */
typedef void (*peer_fn)(int fd, int report, int stop);
typedef struct peer {
    pid_t pid;
    int report; /* read end */
    int stop;   /* write end: closing it tells the peer to stop */
} peer;

static peer peer_start(peer_fn fn)
{
    int rep[2], stp[2];
    ck_assert(pipe(rep) == 0 && pipe(stp) == 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(rep[0]);
        close(stp[1]);
        int fd = -1;
        if (setgroups(0, NULL) == 0 && setgid(NOBODY) == 0 && setuid(NOBODY) == 0)
            fd = harness_connect(&h);
        if (fd >= 0)
            fn(fd, rep[1], stp[0]);
        _exit(fd >= 0 ? 0 : 1);
    }
    close(rep[1]);
    close(stp[0]);
    return (peer){ pid, rep[0], stp[1] };
}

/* Stops the peer, reads its report (exactly n bytes) and reaps it. */
static void peer_finish(peer *p, void *report, size_t n)
{
    close(p->stop);
    size_t got = 0;
    ssize_t r;
    while (got < n && (r = read(p->report, (char *)report + got, n - got)) > 0)
        got += (size_t)r;
    close(p->report);
    int st;
    ck_assert_int_eq(waitpid(p->pid, &st, 0), p->pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the peer as uid %d could not connect", NOBODY);
    ck_assert_uint_eq(got, n);
}

/* status on fd: {ok, locked, protocols, credentials}; v[0] is 0 when answered ok, else
 * the code or -100. Plain code: peers run it too. */
static void status_of(int fd, uint64_t v[4])
{
    proto_request r = harness_req(1, PROTO_OP_STATUS, NULL, NULL);
    proto_buf b = PROTO_BUF_INIT;
    proto_response rr;
    bool locked = false;
    v[0] = (uint64_t)-100;
    v[1] = v[2] = v[3] = UINT64_MAX;
    if (harness_call(fd, &r, &b, &rr) == 0) {
        v[0] = rr.ok ? 0 : (uint64_t)(int64_t)rr.code;
        if (rr.ok && harness_map_bool(rr.result, "locked", &locked) == 0 &&
            harness_map_uint(rr.result, "protocols", &v[2]) == 0 &&
            harness_map_uint(rr.result, "credentials", &v[3]) == 0)
            v[1] = locked;
    }
    proto_buf_free(&b);
}

static void peer_status(int fd, int report, int stop)
{
    uint64_t v[4];
    (void)stop;
    status_of(fd, v);
    if (write(report, v, sizeof(v)) != sizeof(v))
        _exit(1);
}

static void assert_status(const uint64_t v[4], bool locked, uint64_t protocols, uint64_t credentials)
{
    ck_assert_uint_eq(v[0], 0);
    ck_assert_uint_eq(v[1], locked);
    ck_assert_uint_eq(v[2], protocols);
    ck_assert_uint_eq(v[3], credentials);
}

/* A post of {"v": 1} as the owner. */
static int post(int fd, const char *protocol, const char *name)
{
    static const uint8_t body[] = { 0x81, 0xa1, 'v', 0x01 };
    proto_request r = harness_req(2, PROTO_OP_POST, protocol, name);
    r.body = (proto_span){ body, sizeof(body) };
    r.fields |= PROTO_F_BODY;
    return call(fd, r);
}

START_TEST(test_status_counts_only_granted)
{
    start_with_grant("[grant nobody]\nuid = 65534\nops = status, get\nprotocols = shared, absent\n",
                     HARNESS_KEYFILE, NULL);
    int fd = connect_ok();
    static const char *const recs[][2] = { { "shared", "a" }, { "shared", "b" }, { "private", "c" },
                                           { "private", "d" }, { "private", "e" }, { "other", "f" } };
    for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++)
        ck_assert_int_eq(post(fd, recs[i][0], recs[i][1]), 0);
    uint64_t v[4];
    status_of(fd, v);
    assert_status(v, false, 3, 6);  /* the owner sees the whole hub */
    peer p = peer_start(peer_status);
    peer_finish(&p, v, sizeof(v));
    assert_status(v, false, 1, 2);  /* the grant: "shared" only ("absent" holds nothing) */

    /* locked: names are sealed, nothing can be matched against the grant */
    ck_assert_int_eq(call(fd, harness_req(3, PROTO_OP_LOCK, NULL, NULL)), 0);
    p = peer_start(peer_status);
    peer_finish(&p, v, sizeof(v));
    assert_status(v, true, 0, 0);
    status_of(fd, v);
    assert_status(v, true, 3, 6);
    close(fd);
}
END_TEST

/* ---- idle lock ---- */

enum { NCODES = 32 }; /* answers by -code (0: ok) */

/* Every 300 ms until told to stop: a get its grant allows, one on a protocol it does not
 * have, an op it does not have, and a request the decoder refuses. Reports the counts of
 * answers by code. */
static void peer_busy(int fd, int report, int stop)
{
    uint32_t counts[NCODES] = { 0 };
    proto_buf b = PROTO_BUF_INIT, frame = PROTO_BUF_INIT;
    proto_response rr;
    struct pollfd pf = { .fd = stop, .events = POLLIN };
    uint32_t id = 1;
    while (poll(&pf, 1, 300) == 0) {
        proto_request reqs[] = { harness_req(id, PROTO_OP_GET, "shared", "svc"),
                                 harness_req(id + 1, PROTO_OP_GET, "private", "svc"),
                                 harness_req(id + 2, PROTO_OP_GETHUB, NULL, NULL) };
        for (size_t i = 0; i < 4; i++) {
            int rc;
            if (i < 3) {
                rc = harness_call(fd, &reqs[i], &b, &rr);
            } else {
                raw_get(&frame, id + 3, "bad\nname", 8);
                rc = harness_call_raw(fd, frame.data, frame.len, &b, &rr);
            }
            if (rc != 0)
                _exit(2);
            counts[rr.ok ? 0 : -rr.code < NCODES ? -rr.code : NCODES - 1]++;
        }
        id += 4;
    }
    if (write(report, counts, sizeof(counts)) != sizeof(counts))
        _exit(1);
}

START_TEST(test_idle_lock_owner_only)
{
    start_with_grant("[grant nobody]\nuid = 65534\nops = get, ping, status\nprotocols = shared\n",
                     HARNESS_FAST_KDF, (const char *const[]){ "--idle-lock", "1", NULL });
    int fd = connect_ok();
    ck_assert_int_eq(call(fd, harness_secret_req(1, PROTO_OP_INIT, "pass", NULL)), 0);
    ck_assert_int_eq(post(fd, "shared", "svc"), 0);
    ck_assert_int_eq(post(fd, "private", "svc"), 0);
    /* control: the owner's gets, 200 ms apart for 1.6 s, keep it open */
    for (uint32_t i = 0; i < 8; i++) {
        pause_ms(200);
        ck_assert_int_eq(call(fd, harness_req(10 + i, PROTO_OP_GET, "shared", "svc")), 0);
    }
    /* a granted peer busy every 300 ms, allowed and denied: the hub locks all the same
     * (the test watches the log, bounded at 10 s, so that only the peer talks meanwhile) */
    peer p = peer_start(peer_busy);
    for (int i = 0; i < 200 && !harness_log_contains(&h, "hub locked after 1 s without"); i++)
        pause_ms(50);
    uint64_t v[4];
    status_of(fd, v);
    uint32_t counts[NCODES];
    peer_finish(&p, counts, sizeof(counts));
    ck_assert_msg(harness_log_contains(&h, "hub locked after 1 s without a request"),
                  "still unlocked after 10 s of a granted peer's requests");
    assert_status(v, true, 2, 2);
    /* the owner's status does not count: polled every 50 ms, the hub still locks */
    ck_assert_int_eq(call(fd, harness_secret_req(30, PROTO_OP_UNLOCK, "pass", NULL)), 0);
    for (int i = 0; i < 200; i++) {
        status_of(fd, v);
        if (v[0] != 0 || v[1] == 1)
            break;
        pause_ms(50);
    }
    assert_status(v, true, 2, 2);
    /* the peer was served all along: its allowed get until the lock, the rest refused */
    ck_assert_uint_ge(counts[0], 1);
    ck_assert_uint_ge(counts[-SKR_EDENIED], 2 * counts[0]);
    ck_assert_uint_ge(counts[-SKR_EBAD_REQUEST], 1);
    uint32_t total = 0;
    for (int i = 0; i < NCODES; i++)
        total += counts[i];
    ck_assert_uint_eq(counts[0] + counts[-SKR_EDENIED] + counts[-SKR_EBAD_REQUEST] +
                      counts[-SKR_ELOCKED], total); /* nothing else */
    close(fd);
}
END_TEST

static Suite *gate_suite(void)
{
    Suite *s = suite_create("gate");
    struct { const char *name; const TTest *t; } tests[] = {
        { "audit_names_cannot_forge_fields", test_audit_names_cannot_forge_fields },
        { "parallel_unlocks_one_guess", test_parallel_unlocks_one_guess },
        { "parallel_init_and_passwd", test_parallel_init_and_passwd },
        { "status_counts_only_granted", test_status_counts_only_granted },
        { "idle_lock_owner_only", test_idle_lock_owner_only },
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
