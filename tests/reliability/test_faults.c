/* Fault injection against a running sekretsd: a full disk (tmpfs), a read-only hub, the
 * hub folder or the socket folder deleted under it. argv[1] picks the case. Each case
 * checks the exact answers, that the daemon stays alive and serves reads, and what
 * survives a restart. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rel.h"

static harness h;
static char fs[160];     /* the tmpfs mount point, when mounted */
static bool mounted;

static void cleanup(void)
{
    harness_kill(&h, SIGTERM);
    if (mounted && umount2(fs, MNT_DETACH) != 0)
        perror("umount");
    harness_stop(&h);
}

static void alive(void)
{
    int st;
    CHECK(waitpid(h.pid, &st, WNOHANG) == 0, "the daemon died (status %d)", st);
    int fd = harness_connect(&h);
    CHECK(fd >= 0, "cannot connect");
    CHECK(rel_call(fd, 99, PROTO_OP_PING, NULL, NULL, NULL, NULL, 0) == 0, "ping failed");
    close(fd);
}

/* A put whose reply code and message are returned. */
static int put_msg(int fd, uint32_t id, const char *name, const char *value, char *msg, size_t cap)
{
    proto_buf out = PROTO_BUF_INIT, in = PROTO_BUF_INIT;
    proto_response r;
    int rc = -100;
    msg[0] = '\0';
    if (rel_encode(&out, id, PROTO_OP_PUT, "fault", name, value) == 0 &&
        harness_call_raw(fd, out.data, out.len, &in, &r) == 0 && r.id == id) {
        rc = r.ok ? 0 : r.code;
        if (!r.ok)
            snprintf(msg, cap, "%.*s", (int)r.message.len, (const char *)r.message.ptr);
    }
    proto_buf_free(&out);
    proto_buf_free(&in);
    return rc;
}

#define MAXREC 4096
static char *vals[MAXREC]; /* acknowledged value of name k<i>, NULL if none */

static void verify_all(int fd, int n)
{
    char got[70000], name[32];
    for (int i = 0; i < n; i++) {
        if (vals[i] == NULL)
            continue;
        snprintf(name, sizeof(name), "k%d", i);
        int rc = rel_call(fd, 1, PROTO_OP_GET, "fault", name, NULL, got, sizeof(got));
        CHECK(rc == 0, "acknowledged %s unreadable: %d", name, rc);
        CHECK(strcmp(got, vals[i]) == 0, "%s holds another value", name);
    }
}

static char *big_value(size_t n)
{
    char *v = malloc(n + 1);
    CHECK(v != NULL, "oom");
    rel_random_token(v, n > 200 ? 200 : n);
    for (size_t i = 200; i < n; i++) /* random-ish, so no page is all zeroes */
        v[i] = v[i % 200] ^ (char)((i * 31) & 0x1f);
    for (size_t i = 0; i < n; i++)
        if (v[i] < 32 || v[i] > 126)
            v[i] = 'x';
    v[n] = '\0';
    return v;
}

static void mount_tmpfs(const char *size)
{
    char opts[64];
    snprintf(fs, sizeof(fs), "%.150s/fs", h.dir);
    CHECK(mkdir(fs, 0700) == 0, "mkdir %s", fs);
    snprintf(opts, sizeof(opts), "size=%s,mode=0700", size);
    if (mount("tmpfs", fs, "tmpfs", 0, opts) != 0) {
        fprintf(stderr, "SKIP: cannot mount a tmpfs: %s\n", strerror(errno));
        exit(77);
    }
    mounted = true;
    snprintf(h.hub, sizeof(h.hub), "%.150s/hub", fs);
}

/* Fills the disk with puts of `vsize` bytes; returns how many were acknowledged. */
static int fill(int fd, int first, size_t vsize, int *code, char *msg, size_t cap)
{
    char name[32];
    for (int i = first; i < MAXREC; i++) {
        char *v = big_value(vsize);
        snprintf(name, sizeof(name), "k%d", i);
        int rc = put_msg(fd, (uint32_t)i + 1, name, v, msg, cap);
        if (rc != 0) {
            free(v);
            *code = rc;
            return i;
        }
        vals[i] = v;
    }
    *code = 0;
    return MAXREC;
}

/* The full disk on both write paths: alone (one put per batch) and pipelined from several
 * connections (one batch, one commit for all). */
static void case_disk_full(const char *size, size_t vsize)
{
    char msg[1100], filler[300];
    int code;
    CHECK(harness_prepare(&h, HARNESS_KEYFILE) == 0, "prepare");
    mount_tmpfs(size);
    /* space to free later */
    snprintf(filler, sizeof(filler), "%s/filler", fs);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "head -c 1048576 /dev/urandom > '%s'", filler);
    CHECK(system(cmd) == 0, "filler");
    CHECK(harness_restart(&h, HARNESS_KEYFILE, NULL) == 0, "start on tmpfs");
    int fd = harness_connect(&h);
    CHECK(fd >= 0, "connect");
    int n = fill(fd, 0, vsize, &code, msg, sizeof(msg));
    printf("disk full (%s tmpfs, %zu-byte values): %d puts acknowledged, then %s: \"%s\"\n",
           size, vsize, n, skr_error_name(code), msg);
    CHECK(n > 0 && n < MAXREC, "the disk never filled (%d)", n);
    CHECK(code == SKR_EINTERNAL, "full disk answered %s", skr_error_name(code));
    CHECK(strstr(msg, "No space left") != NULL, "message does not say why: %s", msg);
    alive();
    /* a small write may still fit in pages the file already has; if not, the same error */
    int rc_small = put_msg(fd, 5000, "k4094", "small", msg, sizeof(msg));
    CHECK(rc_small == 0 || (rc_small == SKR_EINTERNAL && strstr(msg, "No space left") != NULL),
          "small write on a full disk: %d %s", rc_small, msg);
    if (rc_small == 0)
        vals[MAXREC - 2] = strdup("small");
    printf("  small put on the full disk: %s\n", rc_small == 0 ? "ok (fits in free pages)" : msg);

    /* group commit path: 3 connections pipeline 8 puts each into one batch */
    int fds[3];
    proto_buf out = PROTO_BUF_INIT, in = PROTO_BUF_INIT;
    char *v = big_value(vsize);
    for (int c = 0; c < 3; c++) {
        fds[c] = harness_connect(&h);
        CHECK(fds[c] >= 0, "connect");
        proto_buf_reset(&out);
        for (int i = 0; i < 8; i++) {
            char name[32];
            snprintf(name, sizeof(name), "batch-%d-%d", c, i);
            rel_encode(&out, (uint32_t)i, PROTO_OP_PUT, "fault", name, v);
        }
        CHECK(harness_send(fds[c], out.data, out.len) == 0, "send");
    }
    int batch_err = 0, batch_ok = 0;
    for (int c = 0; c < 3; c++) {
        for (int i = 0; i < 8; i++) {
            proto_response r;
            CHECK(harness_recv(fds[c], &in) == 0 &&
                  proto_response_decode(in.data, in.len, &r) == 0, "no reply: the daemon hangs?");
            CHECK(r.id == (uint32_t)i, "replies out of order");
            if (r.ok) {
                batch_ok++;
            } else {
                CHECK(r.code == SKR_EINTERNAL, "batch put answered %s", skr_error_name(r.code));
                CHECK(memmem(r.message.ptr, r.message.len, "No space left", 13) != NULL,
                      "batch error does not say why");
                batch_err++;
            }
        }
        close(fds[c]);
    }
    printf("  pipelined batch on a full disk: %d ok, %d internal (No space left)\n", batch_ok,
           batch_err);
    CHECK(batch_err > 0, "a batch of 24 large puts fitted on a full disk");
    free(v);
    proto_buf_free(&out);
    proto_buf_free(&in);
    alive();
    /* reads still work and nothing acknowledged is lost */
    verify_all(fd, n);
    /* free space: writes work again */
    CHECK(unlink(filler) == 0, "unlink filler");
    char *v2 = big_value(1000);
    int rc = put_msg(fd, 6000, "k4095", v2, msg, sizeof(msg));
    CHECK(rc == 0, "write after freeing space: %s %s", skr_error_name(rc), msg);
    vals[MAXREC - 1] = v2;
    close(fd);
    /* all of it durable */
    harness_kill(&h, SIGKILL);
    CHECK(harness_restart(&h, HARNESS_KEYFILE, NULL) == 0, "restart");
    fd = harness_connect(&h);
    verify_all(fd, MAXREC);
    close(fd);
    printf("  after freeing space: write ok; after SIGKILL + restart: all %d acknowledged held\n",
           n + 1);
}

/* A read-only hub. While the daemon runs, the kernel refuses to remount the hub's file
 * system read-only (LMDB holds data.mdb open for writing: EBUSY), and chmod does not bind
 * an open fd (nor root). So: a hub whose file system is read-only at start must be refused
 * with a clear line, and serve again once writable. */
static void case_readonly(void)
{
    char msg[1100];
    CHECK(harness_prepare(&h, HARNESS_KEYFILE) == 0, "prepare");
    mount_tmpfs("16m");
    CHECK(harness_restart(&h, HARNESS_KEYFILE, NULL) == 0, "start on tmpfs");
    int fd = harness_connect(&h);
    CHECK(put_msg(fd, 1, "k0", "before", msg, sizeof(msg)) == 0, "put");
    vals[0] = strdup("before");
    close(fd);
    CHECK(mount(NULL, fs, NULL, MS_REMOUNT | MS_RDONLY, NULL) == -1 && errno == EBUSY,
          "remount ro under a running daemon did not fail with EBUSY");
    alive();
    harness_kill(&h, SIGTERM);
    CHECK(mount(NULL, fs, NULL, MS_REMOUNT | MS_RDONLY, NULL) == 0, "remount ro: %s",
          strerror(errno));
    CHECK(harness_restart(&h, HARNESS_KEYFILE, NULL) == -1, "started on a read-only hub");
    CHECK(WIFEXITED(h.exit_status), "the daemon crashed on a read-only hub");
    printf("read-only hub at start: exit %d, log says read-only: %s\n",
           WEXITSTATUS(h.exit_status), harness_log_contains(&h, "Read-only file system") ? "yes" : "no");
    CHECK(WEXITSTATUS(h.exit_status) == 1, "exit code %d", WEXITSTATUS(h.exit_status));
    CHECK(harness_log_contains(&h, "Read-only file system"), "the log does not say why");
    CHECK(mount(NULL, fs, NULL, MS_REMOUNT, NULL) == 0, "remount rw: %s", strerror(errno));
    CHECK(harness_restart(&h, HARNESS_KEYFILE, NULL) == 0, "restart rw");
    fd = harness_connect(&h);
    verify_all(fd, 1);
    CHECK(put_msg(fd, 3, "k2", "after", msg, sizeof(msg)) == 0, "put after rw: %s", msg);
    close(fd);
    printf("  remount ro while running: EBUSY; after remount rw: data intact, writes work\n");
}

/* The hub folder deleted under a running daemon. */
static void case_hub_deleted(void)
{
    char msg[1100], cmd[300], got[64];
    CHECK(harness_start(&h, HARNESS_KEYFILE, NULL) == 0, "start");
    int fd = harness_connect(&h);
    CHECK(put_msg(fd, 1, "k0", "before", msg, sizeof(msg)) == 0, "put");
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", h.hub);
    CHECK(system(cmd) == 0, "rm hub");
    int rc_get = rel_call(fd, 2, PROTO_OP_GET, "fault", "k0", NULL, got, sizeof(got));
    int rc_put = put_msg(fd, 3, "k1", "after-delete", msg, sizeof(msg));
    printf("hub folder deleted: get answered %s, put answered %s%s%s\n",
           rc_get ? skr_error_name(rc_get) : "ok", rc_put ? skr_error_name(rc_put) : "ok",
           rc_put ? ": " : "", msg);
    alive();
    CHECK(rc_get == 0 && strcmp(got, "before") == 0, "the open hub is still readable");
    CHECK(rc_put == SKR_EINTERNAL && strstr(msg, "deleted") != NULL,
          "a write into a deleted hub must be refused, not acknowledged: %d %s", rc_put, msg);
    close(fd);
    harness_kill(&h, SIGTERM);
    CHECK(WIFEXITED(h.exit_status) && WEXITSTATUS(h.exit_status) == 0, "unclean exit");
}

/* The socket folder removed under a running daemon. */
static void case_socket_dir_removed(void)
{
    char cmd[300];
    CHECK(harness_start(&h, HARNESS_KEYFILE, NULL) == 0, "start");
    int fd = harness_connect(&h);
    CHECK(fd >= 0, "connect");
    snprintf(cmd, sizeof(cmd), "rm -rf '%s/run'", h.dir);
    CHECK(system(cmd) == 0, "rm run");
    /* connections already open go on; new ones cannot find the socket */
    CHECK(rel_call(fd, 1, PROTO_OP_PUT, "fault", "k0", "v", NULL, 0) == 0, "put on open conn");
    CHECK(harness_connect(&h) == -1 && errno == ENOENT, "a new connection found a socket");
    int st;
    CHECK(waitpid(h.pid, &st, WNOHANG) == 0, "daemon died");
    close(fd);
    harness_kill(&h, SIGTERM);
    CHECK(WIFEXITED(h.exit_status) && WEXITSTATUS(h.exit_status) == 0,
          "exit after the socket folder went away: status %d", h.exit_status);
    /* a restart recreates the folder and the socket */
    CHECK(harness_restart(&h, HARNESS_KEYFILE, NULL) == 0, "restart");
    fd = harness_connect(&h);
    char got[16];
    CHECK(rel_call(fd, 2, PROTO_OP_GET, "fault", "k0", NULL, got, sizeof(got)) == 0 &&
          strcmp(got, "v") == 0, "the write made meanwhile is kept");
    close(fd);
    printf("socket folder removed: open connections served, new ones ENOENT, SIGTERM exits 0, "
           "restart recreates it\n");
}

/* A journal record whose write fails under a pipelined load, while another is queued
 * behind it (sekretsd-faults takes the plan from SEKRETSD_TEST_JOURNAL_FAULTS; 'F' is a
 * slow failing write, 's' a slow good one, 'f' a failing one: store_test.h). Each put is
 * of a name of its own, so each reply says what the hub must hold: ok, its value, after a
 * SIGKILL and a restart too; "write not saved", nothing. One reply per request, in order,
 * whatever the loss. */
enum { JL_PUTS = 8000, JL_WINDOW = 64 };

static void jl_name(int i, char *name, size_t cap)
{
    snprintf(name, cap, "j%d", i);
}

static void jl_value(int i, char *v, size_t cap)
{
    snprintf(v, cap, "value-%d-of-the-journal-lost-case", i);
}

static void jl_send(int fd, proto_buf *out, int i)
{
    char name[32], v[64];
    jl_name(i, name, sizeof(name));
    jl_value(i, v, sizeof(v));
    proto_buf_reset(out);
    CHECK(rel_encode(out, (uint32_t)i + 1, PROTO_OP_PUT, "fault", name, v) == 0, "encode");
    CHECK(harness_send(fd, out->data, out->len) == 0, "send put %d", i);
}

static void jl_verify(int fd, const signed char *acked, const char *when)
{
    char got[128], name[32], v[64];
    for (int i = 0; i < JL_PUTS; i++) {
        jl_name(i, name, sizeof(name));
        int rc = rel_call(fd, 1, PROTO_OP_GET, "fault", name, NULL, got, sizeof(got));
        if (acked[i]) {
            jl_value(i, v, sizeof(v));
            CHECK(rc == 0 && strcmp(got, v) == 0, "%s: acknowledged %s: %d", when, name, rc);
        } else {
            CHECK(rc == SKR_ENOT_FOUND, "%s: %s was not saved, yet get gives %d", when, name, rc);
        }
    }
}

static void case_journal_lost(void)
{
    static const char plan[] = "oooooooooooooooooooooooooooooo" "F"
                               "oooooooooooooooooooooooooooooo" "sf";
    static signed char acked[JL_PUTS];
    const char *bin = getenv("SEKRETSD_FAULTS");
    proto_buf out = PROTO_BUF_INIT, in = PROTO_BUF_INIT;
    int sent = 0, ok = 0, lost = 0;

    CHECK(bin != NULL, "SEKRETSD_FAULTS (the sekretsd-faults binary) not set");
    setenv("SEKRETSD", bin, 1);
    setenv("SEKRETSD_TEST_JOURNAL_FAULTS", plan, 1);
    const char *const args[] = { "--log-level", "debug", NULL };
    CHECK(harness_start(&h, HARNESS_KEYFILE, args) == 0, "start sekretsd-faults");
    unsetenv("SEKRETSD_TEST_JOURNAL_FAULTS"); /* the restart below has none */
    int fd = harness_connect(&h);
    CHECK(fd >= 0, "connect");
    while (sent < JL_WINDOW)
        jl_send(fd, &out, sent++);
    for (int i = 0; i < JL_PUTS; i++) {
        proto_response r;
        CHECK(harness_recv(fd, &in) == 0 && proto_response_decode(in.data, in.len, &r) == 0,
              "no reply %d", i);
        CHECK(r.id == (uint32_t)i + 1, "reply %u where %d was due", r.id, i + 1);
        if (r.ok) {
            acked[i] = 1;
            ok++;
        } else {
            CHECK(r.code == SKR_EINTERNAL && r.message.len >= 15 &&
                      memcmp(r.message.ptr, "write not saved", 15) == 0,
                  "put %d: %s \"%.*s\"", i, skr_error_name(r.code), (int)r.message.len,
                  (const char *)r.message.ptr);
            lost++;
        }
        if (sent < JL_PUTS)
            jl_send(fd, &out, sent++);
    }
    printf("journal lost: %d puts acknowledged, %d answered \"write not saved\"\n", ok, lost);
    /* two losses, each of one put at least: the slow failed write takes the records
     * queued behind it when there are any (then at least 3 puts in all). Whether one is
     * queued when the loop reaches it is timing (a batch under 8 KiB with none in flight is
     * written on the loop, and nothing queues): 2 came once in about 5 runs of the whole
     * suite, so this asks for 2; test_pipelined_commit_queued_lost (unit) loses a queued
     * record every time. */
    CHECK(lost >= 2, "only %d puts lost: the plan's faults missed the load", lost);
    CHECK(harness_log_contains(&h, "a batch's journal record is queued behind one in flight"),
          "no record was queued behind another");
    CHECK(harness_log_contains(&h, "write not saved: journal write"), "no loss in the log");
    alive();
    jl_verify(fd, acked, "served");
    close(fd);
    harness_kill(&h, SIGKILL); /* nothing checkpointed at a stop: the journal is replayed */
    CHECK(harness_restart(&h, HARNESS_KEYFILE, NULL) == 0, "restart");
    fd = harness_connect(&h);
    CHECK(fd >= 0, "connect after the restart");
    jl_verify(fd, acked, "after a restart");
    close(fd);
    proto_buf_free(&out);
    proto_buf_free(&in);
}

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "";
    atexit(cleanup);
    if (strcmp(which, "disk_full") == 0)
        case_disk_full("4m", 16384);
    else if (strcmp(which, "disk_full_map_growth") == 0)
        case_disk_full("80m", 60000); /* passes the 64 MiB map: grows it, then ENOSPC */
    else if (strcmp(which, "readonly") == 0)
        case_readonly();
    else if (strcmp(which, "hub_deleted") == 0)
        case_hub_deleted();
    else if (strcmp(which, "socket_dir_removed") == 0)
        case_socket_dir_removed();
    else if (strcmp(which, "journal_lost") == 0)
        case_journal_lost();
    else {
        fprintf(stderr, "usage: test_faults disk_full|disk_full_map_growth|readonly|"
                        "hub_deleted|socket_dir_removed|journal_lost\n");
        return 2;
    }
    return 0;
}
