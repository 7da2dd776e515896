/*
 * tests/client/test_libsekrets.c - libsekrets against a real sekretsd (every call and
 * error), and against fake servers for replies that break the protocol.
 */
#include <check.h>
#include <grp.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "sekrets/sekrets.h"

/* {"user": "bob", "password": "hunter2", "port": 5432, "nested": {"k": "v"}, "bin": <01 02>} */
static const uint8_t body1[] = {
    0x85, 0xa4, 'u', 's', 'e', 'r', 0xa3, 'b', 'o', 'b',
    0xa8, 'p', 'a', 's', 's', 'w', 'o', 'r', 'd', 0xa7, 'h', 'u', 'n', 't', 'e', 'r', '2',
    0xa4, 'p', 'o', 'r', 't', 0xcd, 0x15, 0x38,
    0xa6, 'n', 'e', 's', 't', 'e', 'd', 0x81, 0xa1, 'k', 0xa1, 'v',
    0xa3, 'b', 'i', 'n', 0xc4, 0x02, 0x01, 0x02,
};
static const uint8_t body2[] = { 0x81, 0xa1, 'x', 0x01 }; /* {"x": 1} */

static harness h;
static skr_client *c;

static void up(unsigned flags)
{
    ck_assert_int_eq(harness_start(&h, flags, NULL), 0);
    ck_assert_int_eq(skr_connect(h.socket, 5000, &c), 0);
}

static void down(void)
{
    skr_client_close(c);
    c = NULL;
    harness_stop(&h);
}

START_TEST(test_keys)
{
    skr_status st;
    skr_cred *cred = NULL;
    skr_list *l = NULL;
    up(HARNESS_FAST_KDF);
    ck_assert_int_eq(skr_ping(c), 0);
    ck_assert_int_eq(skr_get_status(c, &st), 0);
    ck_assert(!st.initialized);
    ck_assert_int_eq(skr_get(c, "a", "p", &cred), SKR_ELOCKED);
    ck_assert_int_eq(skr_get_hub(c, &l), SKR_ELOCKED);
    ck_assert_ptr_null(cred);
    ck_assert_int_eq(skr_init(c, "pw1", 3), 0);
    ck_assert_int_eq(skr_init(c, "pw1", 3), SKR_EEXISTS);
    ck_assert_int_eq(skr_get_status(c, &st), 0);
    ck_assert(st.initialized && !st.locked);
    ck_assert_int_eq(skr_post(c, "p", "a", body2, sizeof(body2)), 0);
    ck_assert_int_eq(skr_lock(c), 0);
    ck_assert_int_eq(skr_get_status(c, &st), 0);
    ck_assert(st.locked);
    ck_assert_int_eq(skr_get(c, "a", "p", &cred), SKR_ELOCKED);
    ck_assert_str_ne(skr_client_errmsg(c), "");
    ck_assert_int_eq(skr_unlock(c, "nope", 4), SKR_EBAD_PASSPHRASE);
    /* A failed unlock blocks the next attempts for a while (1 s, then doubling). */
    ck_assert_int_eq(skr_unlock(c, "pw1", 3), SKR_ERATE_LIMITED);
    ck_assert_int_eq(skr_client_retry_after(c), 1); /* seconds, rounded up */
    usleep(1200 * 1000);
    ck_assert_int_eq(skr_unlock(c, "pw1", 3), 0);
    ck_assert_str_eq(skr_client_errmsg(c), "");
    ck_assert_int_eq(skr_client_retry_after(c), -1);
    usleep(2200 * 1000);
    ck_assert_int_eq(skr_passwd(c, "bad", 3, "pw2", 3), SKR_EBAD_PASSPHRASE);
    for (int i = 0; i < 50 && skr_passwd(c, "pw1", 3, "pw2", 3) == SKR_ERATE_LIMITED; i++)
        usleep(200 * 1000);
    ck_assert_int_eq(skr_lock(c), 0);
    ck_assert_int_eq(skr_unlock(c, "pw2", 3), 0);
    ck_assert_int_eq(skr_get(c, "a", "p", &cred), 0);
    skr_cred_free(cred);
    /* Client-side checks: nothing sent. */
    ck_assert_int_eq(skr_unlock(c, "", 0), SKR_EINVAL);
    char big[4097];
    memset(big, 'x', sizeof(big));
    ck_assert_int_eq(skr_unlock(c, big, sizeof(big)), SKR_EINVAL);
    uint64_t n = 99;
    ck_assert_int_eq(skr_rotate(c, &n), 0);
    ck_assert_uint_eq(n, 1);
    down();
}
END_TEST

START_TEST(test_crud)
{
    skr_cred *cred = NULL, *sub = NULL;
    skr_list *l = NULL;
    bool flag = false;
    const char *s;
    size_t len;
    int64_t v;
    up(HARNESS_KEYFILE);

    ck_assert_int_eq(skr_post(c, "s3", "alice", body1, sizeof(body1)), 0);
    ck_assert_int_eq(skr_post(c, "s3", "alice", body1, sizeof(body1)), SKR_EEXISTS);
    ck_assert_int_eq(skr_put(c, "s3", "bob", body2, sizeof(body2), &flag), 0);
    ck_assert(flag);
    ck_assert_int_eq(skr_put(c, "s3", "bob", body2, sizeof(body2), &flag), 0);
    ck_assert(!flag);
    ck_assert_int_eq(skr_post(c, "smtp", "bob", body2, sizeof(body2)), 0);

    ck_assert_int_eq(skr_get(c, "alice", NULL, &cred), 0);
    ck_assert_str_eq(skr_cred_protocol(cred), "s3");
    ck_assert_str_eq(skr_cred_name(cred), "alice");
    ck_assert_int_gt(skr_cred_created(cred), 1600000000);
    ck_assert_int_eq(skr_cred_modified(cred), skr_cred_created(cred));
    const void *body;
    skr_cred_body(cred, &body, &len);
    ck_assert_uint_eq(len, sizeof(body1));
    ck_assert(memcmp(body, body1, len) == 0);
    ck_assert_int_eq(skr_cred_string(cred, "password", &s, &len), 0);
    ck_assert_str_eq(s, "hunter2");
    ck_assert_uint_eq(len, 7);
    ck_assert_int_eq(skr_cred_string(cred, "bin", &s, &len), 0);
    ck_assert_uint_eq(len, 2);
    ck_assert_int_eq(skr_cred_string(cred, "port", &s, &len), SKR_EINVAL);
    ck_assert_int_eq(skr_cred_string(cred, "nope", &s, &len), SKR_ENOT_FOUND);
    ck_assert_int_eq(skr_cred_int(cred, "port", &v), 0);
    ck_assert_int_eq(v, 5432);
    ck_assert_int_eq(skr_cred_int(cred, "user", &v), SKR_EINVAL);
    ck_assert_int_eq(skr_cred_type(cred, "nested"), SKR_TYPE_MAP);
    ck_assert_int_eq(skr_cred_type(cred, "bin"), SKR_TYPE_BINARY);
    ck_assert_int_eq(skr_cred_type(cred, "user"), SKR_TYPE_STRING);
    ck_assert_int_eq(skr_cred_type(cred, "port"), SKR_TYPE_INT);
    ck_assert_int_eq(skr_cred_type(cred, "zzz"), SKR_TYPE_NONE);
    ck_assert_int_eq(skr_cred_map(cred, "user", &sub), SKR_EINVAL);
    ck_assert_int_eq(skr_cred_map(cred, "nested", &sub), 0);
    ck_assert_int_eq(skr_cred_string(sub, "k", &s, NULL), 0);
    ck_assert_str_eq(s, "v");
    skr_cred_free(sub);
    const void *raw;
    ck_assert_int_eq(skr_cred_raw(cred, "nested", &raw, &len), 0);
    ck_assert_uint_eq(len, 5);
    char *json;
    ck_assert_int_eq(skr_cred_json(cred, 0, &json), 0);
    ck_assert_str_eq(json, "{\"user\":\"bob\",\"password\":\"hunter2\",\"port\":5432,"
                           "\"nested\":{\"k\":\"v\"},\"bin\":{\"$bin\":\"AQI=\"}}");
    skr_string_free(json);
    skr_cred_free(cred);
    cred = NULL;

    ck_assert_int_eq(skr_get(c, "bob", NULL, &cred), SKR_EAMBIGUOUS);
    ck_assert_uint_eq(skr_client_ambiguous_count(c), 2); /* the protocols that hold it */
    ck_assert_str_eq(skr_client_ambiguous(c, 0), "s3");
    ck_assert_str_eq(skr_client_ambiguous(c, 1), "smtp");
    ck_assert_ptr_null(skr_client_ambiguous(c, 2));
    ck_assert_int_eq(skr_client_retry_after(c), -1);
    ck_assert_int_eq(skr_get(c, "carol", "s3", &cred), SKR_ENOT_FOUND);
    ck_assert_uint_eq(skr_client_ambiguous_count(c), 0); /* details last one call */
    ck_assert_int_eq(skr_get(c, "carol", NULL, &cred), SKR_ENOT_FOUND);
    ck_assert_int_eq(skr_get(c, "", NULL, &cred), SKR_EINVAL);
    ck_assert_int_eq(skr_get(c, "a\nb", NULL, &cred), SKR_EINVAL);
    ck_assert_int_eq(skr_get(c, "a", "bad/proto", &cred), SKR_EINVAL);
    ck_assert_ptr_null(cred);

    ck_assert_int_eq(skr_get_db(c, "s3", &l), 0);
    ck_assert_uint_eq(skr_list_size(l), 2);
    ck_assert_str_eq(skr_list_name(l, 0), "alice");
    ck_assert_str_eq(skr_list_name(l, 1), "bob");
    ck_assert_ptr_null(skr_list_name(l, 2));
    skr_list_free(l);
    ck_assert_int_eq(skr_get_db(c, "nope", &l), SKR_ENOT_FOUND);

    ck_assert_int_eq(skr_get_hub(c, &l), 0);
    ck_assert_uint_eq(skr_list_size(l), 2);
    ck_assert_str_eq(skr_list_name(l, 0), "s3");
    ck_assert_uint_eq(skr_list_count(l, 0), 2);
    ck_assert_str_eq(skr_list_name(l, 1), "smtp");
    ck_assert_uint_eq(skr_list_count(l, 1), 1);
    skr_list_free(l);

    ck_assert_int_eq(skr_delete(c, "smtp", "bob", &flag), 0);
    ck_assert(flag);
    ck_assert_int_eq(skr_delete(c, "smtp", "bob", &flag), 0);
    ck_assert(!flag);
    ck_assert_int_eq(skr_get_db(c, "smtp", &l), SKR_ENOT_FOUND);

    /* Bodies: not one object, too large. */
    static const uint8_t two[] = { 0xc0, 0xc0 };
    ck_assert_int_eq(skr_post(c, "s3", "x", two, sizeof(two)), SKR_EINVAL);
    ck_assert_int_eq(skr_post(c, "s3", "x", NULL, 0), SKR_EINVAL);
    size_t bl = 70000;
    uint8_t *bb = calloc(1, bl);
    bb[0] = 0xc6;
    bb[1] = 0; bb[2] = 1; bb[3] = 0x11; bb[4] = 0x6b; /* bin32 of 69995 */
    ck_assert_int_eq(skr_post(c, "s3", "x", bb, bl), SKR_ETOO_LARGE);
    free(bb);
    ck_assert_int_eq(skr_ping(c), 0); /* the connection is still fine */
    down();
}
END_TEST

/* skr_post_at / skr_put_at: the times given come back exactly from get; a replace without
 * created keeps the old one; out of range is SKR_EINVAL with nothing sent. */
START_TEST(test_times_at)
{
    skr_cred *cred = NULL;
    bool flag = true;
    up(HARNESS_KEYFILE);
    ck_assert_int_eq(skr_post_at(c, "t", "a", body1, sizeof(body1), 1000, SKR_TIME_MAX), 0);
    ck_assert_int_eq(skr_get(c, "a", "t", &cred), 0);
    ck_assert_int_eq(skr_cred_created(cred), 1000);
    ck_assert_int_eq(skr_cred_modified(cred), SKR_TIME_MAX);
    skr_cred_free(cred);
    ck_assert_int_eq(skr_put_at(c, "t", "a", body2, sizeof(body2), SKR_TIME_NOW, 0, &flag), 0);
    ck_assert(!flag);
    ck_assert_int_eq(skr_get(c, "a", "t", &cred), 0);
    ck_assert_int_eq(skr_cred_created(cred), 1000);
    ck_assert_int_eq(skr_cred_modified(cred), 0);
    skr_cred_free(cred);
    ck_assert_int_eq(skr_post_at(c, "t", "b", body1, sizeof(body1), -1, 0), SKR_EINVAL);
    ck_assert_int_eq(skr_put_at(c, "t", "b", body1, sizeof(body1), 0, SKR_TIME_MAX + 1, NULL),
                     SKR_EINVAL);
    ck_assert_int_eq(skr_get(c, "b", "t", &cred), SKR_ENOT_FOUND);
}
END_TEST

START_TEST(test_batch_and_call)
{
    enum { N = 600 };
    skr_get_req reqs[N];
    skr_cred *creds[N];
    int codes[N];
    char names[N][16];
    up(HARNESS_KEYFILE);
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "n%d", i);
        reqs[i].name = names[i];
        reqs[i].protocol = "p";
        if (i % 3 != 0)
            ck_assert_int_eq(skr_post(c, "p", names[i], body2, sizeof(body2)), 0);
    }
    ck_assert_int_eq(skr_get_batch(c, reqs, N, creds, codes), 0);
    for (int i = 0; i < N; i++) {
        if (i % 3 == 0) {
            ck_assert_int_eq(codes[i], SKR_ENOT_FOUND);
            ck_assert_ptr_null(creds[i]);
        } else {
            ck_assert_int_eq(codes[i], 0);
            ck_assert_str_eq(skr_cred_name(creds[i]), names[i]);
        }
        skr_cred_free(creds[i]);
    }
    ck_assert_int_eq(skr_get_batch(c, reqs, 0, creds, codes), 0);
    reqs[0].name = "";
    ck_assert_int_eq(skr_get_batch(c, reqs, 1, creds, codes), SKR_EINVAL);

    /* Raw call: {"id": 42, "op": "ping"} and {"id": 43, "op": "frob"}. */
    static const uint8_t ping[] = { 0x82, 0xa2, 'i', 'd', 0x2a, 0xa2, 'o', 'p', 0xa4, 'p', 'i', 'n', 'g' };
    static const uint8_t want[] = { 0x83, 0xa2, 'i', 'd', 0x2a, 0xa2, 'o', 'k', 0xc3,
                                    0xa6, 'r', 'e', 's', 'u', 'l', 't', 0xa4, 'p', 'o', 'n', 'g' };
    void *reply = NULL;
    size_t rl = 0;
    int err = -99;
    ck_assert_int_eq(skr_call(c, ping, sizeof(ping), &reply, &rl, &err), 0);
    ck_assert_int_eq(err, 0);
    ck_assert_uint_eq(rl, sizeof(want));
    ck_assert(memcmp(reply, want, rl) == 0);
    skr_buffer_free(reply, rl);
    static const uint8_t frob[] = { 0x82, 0xa2, 'i', 'd', 0x2b, 0xa2, 'o', 'p', 0xa4, 'f', 'r', 'o', 'b' };
    ck_assert_int_eq(skr_call(c, frob, sizeof(frob), &reply, &rl, &err), 0);
    ck_assert_int_eq(err, SKR_EUNKNOWN_OP);
    skr_buffer_free(reply, rl);
    static const uint8_t notmap[] = { 0x91, 0x01 };
    ck_assert_int_eq(skr_call(c, notmap, sizeof(notmap), &reply, &rl, &err), SKR_EINVAL);
    ck_assert_int_eq(skr_ping(c), 0);

    /* The daemon goes away: a broken connection is SKR_EIO, later calls too. */
    harness_kill(&h, SIGKILL);
    ck_assert_int_eq(skr_ping(c), SKR_EIO);
    ck_assert_int_eq(skr_ping(c), SKR_EIO);
    skr_client_close(c);
    c = NULL;
    ck_assert_int_eq(skr_connect(h.socket, 1000, &c), SKR_ECONNECT);
    harness_stop(&h);
}
END_TEST

/* A fake server on a socket: accepts one client and answers every read with `reply`
 * (NULL: never answers). */
static pid_t fake(const char *path, const uint8_t *reply, size_t len)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    unlink(path);
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_ge(l, 0);
    ck_assert_int_eq(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(l, 4), 0);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = accept(l, NULL, NULL);
        char buf[4096];
        while (read(fd, buf, sizeof(buf)) > 0)
            if (reply != NULL && write(fd, reply, len) < 0)
                break;
        _exit(0);
    }
    close(l);
    return pid;
}

static void fake_expect(const uint8_t *reply, size_t len, int want)
{
    char path[64];
    snprintf(path, sizeof(path), "/tmp/skr-fake-%d.sock", (int)getpid());
    pid_t pid = fake(path, reply, len);
    skr_client *fc;
    ck_assert_int_eq(skr_connect(path, 300, &fc), 0);
    ck_assert_int_eq(skr_ping(fc), want);
    skr_client_close(fc);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    unlink(path);
}

START_TEST(test_bad_daemons)
{
    fake_expect(NULL, 0, SKR_ETIMEOUT);
    /* A frame of length 0. */
    static const uint8_t zero[] = { 0, 0, 0, 0 };
    fake_expect(zero, sizeof(zero), SKR_EPROTOCOL);
    /* A frame claiming 2 GiB. */
    static const uint8_t huge[] = { 0x80, 0, 0, 0 };
    fake_expect(huge, sizeof(huge), SKR_EPROTOCOL);
    /* Not a response map. */
    static const uint8_t junk[] = { 0, 0, 0, 1, 0xc1 };
    fake_expect(junk, sizeof(junk), SKR_EPROTOCOL);
    /* A response with the wrong id. */
    static const uint8_t wrong[] = { 0, 0, 0, 0x15, 0x83, 0xa2, 'i', 'd', 0x09, 0xa2, 'o', 'k', 0xc3,
        0xa6, 'r', 'e', 's', 'u', 'l', 't', 0xa4, 'p', 'o', 'n', 'g' };
    fake_expect(wrong, sizeof(wrong), SKR_EPROTOCOL);
    /* The right id, but not "pong". */
    static const uint8_t notpong[] = { 0, 0, 0, 0x15, 0x83, 0xa2, 'i', 'd', 0x01, 0xa2, 'o', 'k', 0xc3,
        0xa6, 'r', 'e', 's', 'u', 'l', 't', 0xa4, 'p', 'o', 'n', 'x' };
    fake_expect(notpong, sizeof(notpong), SKR_EPROTOCOL);
    /* An id-0 error (what a daemon says to a peer it refuses). */
    static const uint8_t denied[] = { 0, 0, 0, 0x27, 0x83, 0xa2, 'i', 'd', 0x00, 0xa2, 'o', 'k', 0xc2,
        0xa5, 'e', 'r', 'r', 'o', 'r', 0x82, 0xa4, 'c', 'o', 'd', 'e', 0xa6, 'd', 'e', 'n', 'i', 'e', 'd',
        0xa7, 'm', 'e', 's', 's', 'a', 'g', 'e', 0xa2, 'n', 'o' };
    fake_expect(denied, sizeof(denied), SKR_EDENIED);
}
END_TEST

/* ---- a daemon of another user: tests/client/fake_foreign (argv[1]) run as uid 65534 */
static const char *fake_foreign_bin;

typedef struct foreign {
    pid_t pid;
    FILE *out;      /* its stdout: "ready", then the byte count */
    char dir[32];
    char path[64];
} foreign;

static void foreign_start(foreign *f)
{
    int p[2];
    char line[32];
    ck_assert_msg(geteuid() == 0, "a daemon of another uid needs root to start");
    snprintf(f->dir, sizeof(f->dir), "/tmp/skr-foreign-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/s.sock", f->dir);
    ck_assert_int_eq(pipe(p), 0);
    f->pid = fork();
    if (f->pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        execl(fake_foreign_bin, fake_foreign_bin, "65534", f->dir, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    f->out = fdopen(p[0], "r");
    ck_assert(fgets(line, sizeof(line), f->out) != NULL && strcmp(line, "ready\n") == 0);
}

/* Waits for it (it ends once the client closed) and returns the bytes it received. */
static long foreign_received(foreign *f)
{
    long n = -1;
    int st;
    if (fscanf(f->out, "%ld", &n) != 1)
        n = -1;
    fclose(f->out);
    waitpid(f->pid, &st, 0);
    unlink(f->path);
    rmdir(f->dir);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    return n;
}

START_TEST(test_foreign_daemon)
{
    foreign f;
    skr_client *fc = NULL;
    char why[256], want[256];

    /* Refused before a byte is sent, the reason names the socket and the uid. */
    foreign_start(&f);
    ck_assert_int_eq(skr_connect_why(f.path, 2000, &fc, why, sizeof(why)), SKR_EDENIED);
    ck_assert_ptr_null(fc);
    snprintf(want, sizeof(want), "daemon at %s runs as uid 65534, not you", f.path);
    ck_assert_str_eq(why, want);
    ck_assert_int_eq(foreign_received(&f), 0);

    /* A uid named in SEKRETS_DAEMON_UID is trusted (control: the fake does receive). */
    foreign_start(&f);
    setenv("SEKRETS_DAEMON_UID", "65534", 1);
    ck_assert_int_eq(skr_connect(f.path, 300, &fc), 0);
    ck_assert_int_eq(skr_ping(fc), SKR_ETIMEOUT);
    skr_client_close(fc);
    fc = NULL;
    ck_assert_int_gt(foreign_received(&f), 0);

    /* Another uid named there does not trust this one; a value that is no uid is refused. */
    foreign_start(&f);
    setenv("SEKRETS_DAEMON_UID", "65533", 1);
    ck_assert_int_eq(skr_connect(f.path, 2000, &fc), SKR_EDENIED);
    setenv("SEKRETS_DAEMON_UID", "65534x", 1);
    ck_assert_int_eq(skr_connect_why(f.path, 2000, &fc, why, sizeof(why)), SKR_EINVAL);
    ck_assert_str_eq(why, "SEKRETS_DAEMON_UID is not a uid (a decimal number)");
    unsetenv("SEKRETS_DAEMON_UID");
    ck_assert_ptr_null(fc);
    ck_assert_int_eq(foreign_received(&f), 0);

    /* The caller's own uid is trusted: a client run as 65534 talks to it. */
    foreign_start(&f);
    pid_t kid = fork();
    if (kid == 0) {
        if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
            _exit(2);
        int r = skr_connect(f.path, 300, &fc);
        _exit(r != 0 ? 3 : skr_ping(fc) == SKR_ETIMEOUT ? 0 : 4);
    }
    int st;
    waitpid(kid, &st, 0);
    ck_assert(WIFEXITED(st));
    ck_assert_int_eq(WEXITSTATUS(st), 0);
    ck_assert_int_gt(foreign_received(&f), 0);
}
END_TEST

/* Why a connect failed, in words: no socket, not a socket, a stale socket. */
/* sekretsd closes a connection idle past --idle-timeout: a client kept between calls
 * connects again by itself, and only when no call was in flight. */
START_TEST(test_reconnect_after_idle_close)
{
    static const char *const args[] = { "--idle-timeout", "200", "--log-level", "debug", NULL };
    ck_assert_int_eq(harness_start(&h, HARNESS_KEYFILE, args), 0);
    ck_assert_int_eq(skr_connect(h.socket, 5000, &c), 0);
    ck_assert_int_eq(skr_put(c, "p", "n", body2, sizeof(body2), NULL), 0);
    int waited = 0;
    while (!harness_log_contains(&h, "idle after") && waited < 5000) {
        struct timespec ts = { 0, 20 * 1000 * 1000 };
        nanosleep(&ts, NULL);
        waited += 20;
    }
    ck_assert_msg(waited < 5000, "the daemon did not close the idle connection");
    skr_cred *cred = NULL;
    ck_assert_int_eq(skr_get(c, "n", "p", &cred), 0);
    const void *b;
    size_t bl;
    skr_cred_body(cred, &b, &bl);
    ck_assert_uint_eq(bl, sizeof(body2));
    ck_assert(memcmp(b, body2, bl) == 0);
    skr_cred_free(cred);
    ck_assert_int_eq(skr_ping(c), 0);
    down();
}
END_TEST

/* A body read through a client kept open for later calls must not stay in the client's
 * buffers. A child reads it (its memory holds the marker only through libsekrets), the
 * test scans the child's memory with the credential alive (the control), then after
 * skr_cred_free, while the child's client is still open. */
static void child_reads(const char *sock, int step_out, int step_in)
{
    skr_client *cc = NULL;
    skr_cred *cred = NULL;
    char go;
    int ok = skr_connect(sock, 5000, &cc) == 0 && skr_get(cc, "n", "p", &cred) == 0;
    ok = ok && write(step_out, "a", 1) == 1 && read(step_in, &go, 1) == 1;
    skr_cred_free(cred);
    ok = ok && write(step_out, "b", 1) == 1 && read(step_in, &go, 1) == 1;
    ok = ok && skr_ping(cc) == 0; /* the client stays usable */
    skr_client_close(cc);
    _exit(ok ? 0 : 1);
}

START_TEST(test_no_body_left_in_client)
{
    up(HARNESS_KEYFILE);
    char marker[40];
    uint8_t rnd[16];
    randombytes_buf(rnd, sizeof rnd);
    sodium_bin2hex(marker, sizeof marker, rnd, sizeof rnd);
    uint8_t body[64] = { 0x81, 0xa1, 'k', 0xd9, 32 }; /* {"k": <32-char str>} */
    memcpy(body + 5, marker, 32);
    ck_assert_int_eq(skr_put(c, "p", "n", body, 37, NULL), 0);
    sodium_memzero(body, sizeof body);
    /* the child starts as a copy of this process: it must inherit the marker masked only */
    for (size_t k = 0; k < 32; k++)
        marker[k] ^= 0x55;
    int up_pipe[2], down_pipe[2];
    ck_assert_int_eq(pipe(up_pipe), 0);
    ck_assert_int_eq(pipe(down_pipe), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        child_reads(h.socket, up_pipe[1], down_pipe[0]);
    for (size_t k = 0; k < 32; k++)
        marker[k] ^= 0x55;
    const char *const ms[1] = { marker };
    const size_t ls[1] = { 32 };
    int found, with_cred, after_free, status;
    char step;
    ck_assert_int_eq(read(up_pipe[0], &step, 1), 1);
    with_cred = harness_memscan(pid, ms, ls, 1, &found);
    ck_assert_int_eq(write(down_pipe[1], "g", 1), 1);
    ck_assert_int_eq(read(up_pipe[0], &step, 1), 1);
    after_free = harness_memscan(pid, ms, ls, 1, &found);
    ck_assert_int_eq(write(down_pipe[1], "g", 1), 1);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_msg(with_cred == 1, "the control: the scan must find the live credential's body");
    ck_assert_msg(after_free == 0, "the body is still in the client's memory after skr_cred_free");
    down();
}
END_TEST

START_TEST(test_connect_why)
{
    char dir[] = "/tmp/skr-why-XXXXXX", path[64], why[256];
    skr_client *fc = NULL;
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/s.sock", dir);
    ck_assert_int_eq(skr_connect_why(path, 500, &fc, why, sizeof(why)), SKR_ECONNECT);
    ck_assert_str_eq(why, "no such socket: the daemon is not running");
    FILE *reg = fopen(path, "w");
    ck_assert_ptr_nonnull(reg);
    fclose(reg);
    ck_assert_int_eq(skr_connect_why(path, 500, &fc, why, sizeof(why)), SKR_ECONNECT);
    ck_assert_str_eq(why, "not a socket");
    unlink(path);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_eq(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(l); /* bound, never listened: what a daemon killed with SIGKILL leaves */
    ck_assert_int_eq(skr_connect_why(path, 500, &fc, why, sizeof(why)), SKR_ECONNECT);
    ck_assert_str_eq(why, "connection refused: a stale socket, no daemon listens on it");
    ck_assert_ptr_null(fc);
    unlink(path);
    rmdir(dir);
}
END_TEST

int main(int argc, char **argv)
{
    if (argc != 2) {
        fputs("usage: test_libsekrets FAKE_FOREIGN\n", stderr);
        return 2;
    }
    fake_foreign_bin = argv[1];
    Suite *s = suite_create("libsekrets");
    TCase *tc = tcase_create("daemon");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_keys);
    tcase_add_test(tc, test_crud);
    tcase_add_test(tc, test_times_at);
    tcase_add_test(tc, test_batch_and_call);
    tcase_add_test(tc, test_bad_daemons);
    tcase_add_test(tc, test_foreign_daemon);
    tcase_add_test(tc, test_connect_why);
    tcase_add_test(tc, test_reconnect_after_idle_close);
    tcase_add_test(tc, test_no_body_left_in_client);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
