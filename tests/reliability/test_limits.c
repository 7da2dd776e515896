/* Connection limits against the real daemon. argv[1] picks the case:
 *  owner_slots    two granted uids fill their per-uid quota and the non-owner places (one
 *                 more connection each is `busy`); the owner is still served, up to
 *                 max-clients, in the places kept for it.
 *  idle_timeout   an idle connection is closed after --idle-timeout; one that keeps
 *                 sending, or waits on a slow Argon2id init, is not.
 *  write_timeout  a client that stops reading its replies is closed after --write-timeout;
 *                 one that reads is not.
 *  lock_drops     at the idle lock, a client holding unread replies with a body is wiped and
 *                 closed; one holding only unread pings keeps them all.
 *  reader_rss     150 connections each send one ~1 MiB frame at once and get the answer:
 *                 RSS goes back near its start (reader buffers shrink and are given back).
 */
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rel.h"

static harness h;

static void cleanup(void)
{
    harness_stop(&h);
}

static const uint8_t ping[] = { 0, 0, 0, 0x0d, 0x82, 0xa2, 'i', 'd', 0x07, 0xa2, 'o', 'p',
                                0xa4, 'p', 'i', 'n', 'g' };

/* Connects and pings: 0 (pong), the error code of the frame the daemon answered (`busy`
 * comes unasked, before the daemon closes), or -100 if no frame came. *fd stays open. */
static int connect_ping(int *fd)
{
    *fd = harness_connect(&h);
    if (*fd < 0)
        return -100;
    (void)harness_send(*fd, ping, sizeof(ping)); /* a refused peer may be closed already */
    proto_buf in = PROTO_BUF_INIT;
    proto_response r;
    int code = -100;
    if (harness_recv(*fd, &in) == 0 && proto_response_decode(in.data, in.len, &r) == 0)
        code = r.ok ? 0 : r.code;
    proto_buf_free(&in);
    return code;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Reads and drops everything until EOF: 1 on EOF within 5 s, else 0. */
static int drained_to_eof(int fd)
{
    char buf[65536];
    double deadline = now_ms() + 5000;
    while (now_ms() < deadline) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET)) /* closed with requests unread */
            return 1;
        if (n < 0 && errno != EINTR && errno != EAGAIN)
            return 0;
    }
    return 0;
}

/* ---- per-uid caps and owner slots ---- */

enum { MAXC = 40, SLOTS = 8, PER_UID = 20, TRIES = PER_UID + 1 };

/* In a child as uid/gid: connects `TRIES` times, pinging each, reports the codes on
 * report and holds every connection until hold[0] reaches EOF. */
static pid_t hold_as(uid_t uid, gid_t gid, int report, const int hold[2])
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    int codes[TRIES], fds[TRIES];
    close(hold[1]);
    if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
        _exit(2);
    for (int i = 0; i < TRIES; i++)
        codes[i] = connect_ping(&fds[i]);
    if (write(report, codes, sizeof(codes)) != (ssize_t)sizeof(codes))
        _exit(1);
    char b;
    while (read(hold[0], &b, 1) > 0)
        ;
    _exit(0);
}

/* Connections answered 0 among codes, and whether all the others were `busy`. */
static int count_served(const int *codes, int n, bool *rest_busy)
{
    int ok = 0;
    *rest_busy = true;
    for (int i = 0; i < n; i++) {
        ok += codes[i] == 0;
        if (codes[i] != 0 && codes[i] != SKR_EBUSY)
            *rest_busy = false;
    }
    return ok;
}

static void case_owner_slots(void)
{
    char conf[64], maxc[8], slots[8], per[8];
    snprintf(conf, sizeof(conf), "/tmp/skr-limits-%d.ini", (int)getpid());
    FILE *f = fopen(conf, "w");
    CHECK(f != NULL, "conf");
    fputs("[grant a]\nuid = 65534\nops = ping\nprotocols = p\n\n"
          "[grant b]\nuid = 65532\nops = ping\nprotocols = p\n", f);
    fclose(f);
    snprintf(maxc, sizeof(maxc), "%d", MAXC);
    snprintf(slots, sizeof(slots), "%d", SLOTS);
    snprintf(per, sizeof(per), "%d", PER_UID);
    int rc = harness_start(&h, HARNESS_KEYFILE,
                           (const char *const[]){ "--config", conf, "--max-clients", maxc,
                                                  "--owner-slots", slots, "--max-per-uid",
                                                  per, NULL });
    unlink(conf);
    CHECK(rc == 0, "start");
    CHECK(chmod(h.dir, 0711) == 0, "chmod");

    int report[2], hold[2];
    CHECK(pipe(report) == 0 && pipe(hold) == 0, "pipe");
    int a[TRIES], b[TRIES];
    bool a_busy, b_busy;
    /* uid 65534 first: its quota, then one more */
    pid_t pa = hold_as(65534, 65534, report[1], hold);
    CHECK(read(report[0], a, sizeof(a)) == (ssize_t)sizeof(a), "report a");
    /* uid 65532: below its quota, but only MAXC - SLOTS places are not the owner's */
    pid_t pb = hold_as(65532, 65532, report[1], hold);
    CHECK(read(report[0], b, sizeof(b)) == (ssize_t)sizeof(b), "report b");
    close(hold[0]);
    int na = count_served(a, TRIES, &a_busy), nb = count_served(b, TRIES, &b_busy);

    int fds[SLOTS + 1], served = 0, last;
    for (int i = 0; i < SLOTS; i++)
        served += connect_ping(&fds[i]) == 0;
    last = connect_ping(&fds[SLOTS]);
    printf("owner_slots: uid 65534 served %d of %d (rest busy: %s), uid 65532 served %d of %d "
           "(rest busy: %s); owner then served %d of %d, one more: %s\n", na, TRIES,
           a_busy ? "yes" : "no", nb, TRIES, b_busy ? "yes" : "no", served, SLOTS,
           last < 0 ? skr_error_name(last) : "ok");
    CHECK(na == PER_UID && a_busy && a[TRIES - 1] == SKR_EBUSY, "per-uid cap not applied");
    CHECK(nb == MAXC - SLOTS - PER_UID && b_busy, "a granted uid took an owner slot");
    CHECK(served == SLOTS, "the owner was not served while granted uids held their quota");
    CHECK(last == SKR_EBUSY, "max-clients not applied to the owner");
    CHECK(harness_log_contains(&h, "max-per-uid") && harness_log_contains(&h, "owner-slots"),
          "refusals not logged with their reason");
    close(hold[1]);
    waitpid(pa, NULL, 0);
    waitpid(pb, NULL, 0);
    for (int i = 0; i <= SLOTS; i++)
        close(fds[i]);
}

/* ---- idle and write timeouts ---- */

static void case_idle_timeout(void)
{
    CHECK(harness_start(&h, 0, (const char *const[]){ "--idle-timeout", "300", NULL }) == 0,
          "start");
    int idle, busy, kdf = harness_connect(&h);
    CHECK(connect_ping(&idle) == 0, "ping");
    /* init at the default Argon2id cost takes longer than the idle timeout */
    double t0 = now_ms();
    CHECK(rel_call_secret(kdf, 1, PROTO_OP_INIT, "a passphrase long enough", NULL) == 0,
          "the connection waiting on Argon2id was closed");
    double init_ms = now_ms() - t0;
    CHECK(connect_ping(&busy) == 0, "ping");
    /* `busy` keeps sending, every 50 ms, for three times the timeout */
    int pings = 0;
    for (double end = now_ms() + 900; now_ms() < end; pings++) {
        CHECK(rel_call(busy, 2, PROTO_OP_PING, NULL, NULL, NULL, NULL, 0) == 0,
              "an active connection was closed");
        usleep(50000);
    }
    int idle_closed = drained_to_eof(idle);
    printf("idle_timeout: init (Argon2id) took %.0f ms, answered; %d pings over 900 ms served; "
           "idle connection closed: %s\n", init_ms, pings, idle_closed ? "yes" : "no");
    CHECK(init_ms > 300, "init was faster than the idle timeout: the test proves nothing");
    CHECK(idle_closed, "the idle connection was not closed");
    CHECK(harness_log_contains(&h, "idle after 300 ms"), "idle close not logged");
    close(idle);
    close(busy);
    close(kdf);
}

static void case_write_timeout(void)
{
    CHECK(harness_start(&h, HARNESS_KEYFILE,
                        (const char *const[]){ "--write-timeout", "300", NULL }) == 0, "start");
    int reader = harness_connect(&h), stuck = harness_connect(&h);
    static char big[60000];
    memset(big, 'x', sizeof(big) - 1);
    CHECK(rel_call(reader, 1, PROTO_OP_PUT, "p", "n", big, NULL, 0) == 0, "put");
    proto_buf req = PROTO_BUF_INIT;
    for (int i = 0; i < 40; i++) /* 2.4 MB of replies owed, none read */
        CHECK(rel_encode(&req, (uint32_t)i + 1, PROTO_OP_GET, "p", "n", NULL) == 0, "encode");
    CHECK(harness_send(stuck, req.data, req.len) == 0, "send");
    proto_buf_free(&req);
    int logged = 0;
    for (int i = 0; i < 500 && !logged; i++) { /* polls for the daemon's verdict */
        logged = harness_log_contains(&h, "replies not read after 300 ms");
        CHECK(rel_call(reader, 2, PROTO_OP_PING, NULL, NULL, NULL, NULL, 0) == 0,
              "the reading client was closed");
        if (!logged)
            usleep(10000);
    }
    int closed = drained_to_eof(stuck);
    printf("write_timeout: client not reading closed: %s (logged: %s); reading client served\n",
           closed ? "yes" : "no", logged ? "yes" : "no");
    CHECK(logged && closed, "a client that stopped reading was not closed");
    close(reader);
    close(stuck);
}

static void case_lock_drops(void)
{
    enum { PINGS = 15000 }; /* ~300 KB of answers: more than the socket holds */
    CHECK(harness_start(&h, HARNESS_KEYFILE, (const char *const[]){ "--idle-lock", "1", NULL }) == 0,
          "start");
    int owner = harness_connect(&h), bodies = harness_connect(&h), pings = harness_connect(&h);
    static char big[60000];
    memset(big, 'x', sizeof(big) - 1);
    CHECK(rel_call(owner, 1, PROTO_OP_PUT, "p", "n", big, NULL, 0) == 0, "put");
    proto_buf req = PROTO_BUF_INIT, in = PROTO_BUF_INIT;
    for (int i = 0; i < 40; i++)
        CHECK(rel_encode(&req, 2, PROTO_OP_GET, "p", "n", NULL) == 0, "encode");
    CHECK(harness_send(bodies, req.data, req.len) == 0, "send gets");
    proto_buf_reset(&req);
    for (int i = 0; i < PINGS; i++)
        CHECK(proto_buf_append(&req, ping, sizeof(ping)) == 0, "buf");
    CHECK(harness_send(pings, req.data, req.len) == 0, "send pings");
    int locked = 0;
    for (int i = 0; i < 1000 && !locked; i++) { /* polls for the idle lock (1 s) */
        locked = harness_log_contains(&h, "hub locked after");
        if (!locked)
            usleep(10000);
    }
    CHECK(locked, "no idle lock");
    int dropped = harness_log_contains(&h, "holding a body unread at lock");
    int closed = drained_to_eof(bodies);
    int answered = 0;
    proto_response r;
    while (answered < PINGS && harness_recv(pings, &in) == 0 &&
           proto_response_decode(in.data, in.len, &r) == 0 && r.ok && r.id == 7)
        answered++;
    printf("lock_drops: at the idle lock the client with unread bodies was closed: %s (logged: "
           "%s); the client with %d unread pings got %d of them\n", closed ? "yes" : "no",
           dropped ? "yes" : "no", PINGS, answered);
    CHECK(dropped && closed, "unread bodies kept past the lock");
    CHECK(answered == PINGS, "a client without bodies lost its replies at lock");
    CHECK(rel_call(pings, 3, PROTO_OP_PING, NULL, NULL, NULL, NULL, 0) == 0, "pings closed");
    proto_buf_free(&req);
    proto_buf_free(&in);
    close(owner);
    close(bodies);
    close(pings);
}

/* ---- reader buffers after big frames ---- */

/* A ping padded with an unknown key to about len bytes (unknown keys are ignored). */
static void padded_ping(proto_buf *b, uint32_t len)
{
    static const uint8_t head[] = { 0x83, 0xa2, 'i', 'd', 0x07, 0xa2, 'o', 'p', 0xa4, 'p', 'i',
                                    'n', 'g', 0xa3, 'p', 'a', 'd', 0xc6 };
    uint32_t pad = len - (uint32_t)sizeof(head) - 4;
    uint8_t be[4];
    proto_buf_reset(b);
    proto_put_be32(be, len);
    CHECK(proto_buf_append(b, be, 4) == 0 && proto_buf_append(b, head, sizeof(head)) == 0, "buf");
    proto_put_be32(be, pad);
    CHECK(proto_buf_append(b, be, 4) == 0 && proto_buf_reserve(b, pad) == 0, "buf");
    memset(b->data + b->len, 'p', pad);
    b->len += pad;
}

static void case_reader_rss(void)
{
    enum { N = 150, LEN = 1024 * 1024 - 64 };
    /* under AddressSanitizer freed memory sits in its quarantine (256 MiB) before it goes
     * back: the daemon's own behaviour is measured without it (no effect on other builds) */
    char asan[512];
    const char *was = getenv("ASAN_OPTIONS");
    snprintf(asan, sizeof(asan), "%s%squarantine_size_mb=0", was ? was : "", was ? ":" : "");
    setenv("ASAN_OPTIONS", asan, 1);
    CHECK(harness_start(&h, HARNESS_KEYFILE, NULL) == 0, "start");
    static int fds[N];
    int warm;
    CHECK(connect_ping(&warm) == 0, "ping");
    long before = rel_rss_kib(h.pid);
    proto_buf frame = PROTO_BUF_INIT, in = PROTO_BUF_INIT;
    padded_ping(&frame, LEN);
    /* every frame half sent first, so that all N buffers are grown at once */
    for (int i = 0; i < N; i++) {
        fds[i] = harness_connect(&h);
        CHECK(fds[i] >= 0 && harness_send(fds[i], frame.data, frame.len / 2) == 0, "send");
    }
    for (int i = 0; i < N; i++)
        CHECK(harness_send(fds[i], frame.data + frame.len / 2, frame.len - frame.len / 2) == 0,
              "send");
    for (int i = 0; i < N; i++) {
        proto_response r;
        CHECK(harness_recv(fds[i], &in) == 0 && proto_response_decode(in.data, in.len, &r) == 0 &&
              r.ok && r.id == 7, "no pong for the big frame");
    }
    long after = rel_rss_kib(h.pid);
    int again;
    CHECK(connect_ping(&again) == 0, "ping"); /* still serving, all N connections open */
    close(again);
    printf("reader_rss: %d connections each sent a %d-byte frame: VmRSS %ld KiB before, "
           "%ld KiB after the answers (+%ld KiB; without shrinking it was +%d KiB)\n", N, LEN,
           before, after, after - before, N * (LEN / 1024));
    CHECK(before > 0 && after > 0, "VmRSS");
    CHECK(after - before < 16 * 1024, "reader buffers were not given back");
    for (int i = 0; i < N; i++)
        close(fds[i]);
    close(warm);
    proto_buf_free(&frame);
    proto_buf_free(&in);
}

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "";
    atexit(cleanup);
    signal(SIGPIPE, SIG_IGN);
    if (strcmp(which, "owner_slots") == 0) {
        CHECK(geteuid() == 0, "this check needs root to act as other uids");
        case_owner_slots();
    } else if (strcmp(which, "idle_timeout") == 0) {
        case_idle_timeout();
    } else if (strcmp(which, "write_timeout") == 0) {
        case_write_timeout();
    } else if (strcmp(which, "lock_drops") == 0) {
        case_lock_drops();
    } else if (strcmp(which, "reader_rss") == 0) {
        case_reader_rss();
    } else {
        fprintf(stderr, "usage: test_limits owner_slots|idle_timeout|write_timeout|lock_drops|reader_rss\n");
        return 2;
    }
    return 0;
}
