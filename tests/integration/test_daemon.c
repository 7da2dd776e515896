/* sekretsd against the wire: every op and error code of PROTOCOL.md, framing abuse,
 * concurrency, state machine, access policy, lifecycle. Each test starts its own daemon. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <msgpack.h>
#include <sodium.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "harness.h"
#include "../smaps.h"
#include "sekrets/error.h"

static harness h;
static proto_buf rbuf;   /* reply buffer shared by a test's calls */
static proto_response resp;

static void teardown(void)
{
    proto_buf_free(&rbuf);
    harness_stop(&h);
}

static void start(unsigned flags, const char *const *extra)
{
    ck_assert_msg(harness_start(&h, flags, extra) == 0, "daemon did not start");
}

static int connect_ok(void)
{
    int fd = harness_connect(&h);
    ck_assert_int_ge(fd, 0);
    return fd;
}

/* A body {"password": pw, "n": n} packed into b. */
static proto_span body_of(proto_buf *b, const char *pw, int n)
{
    msgpack_packer pk;
    proto_buf_reset(b);
    msgpack_packer_init(&pk, b, proto_buf_msgpack_write);
    msgpack_pack_map(&pk, 2);
    proto_pack_cstr(&pk, "password");
    proto_pack_cstr(&pk, pw);
    proto_pack_cstr(&pk, "n");
    msgpack_pack_int(&pk, n);
    return (proto_span){ b->data, (uint32_t)b->len };
}

/* One call; returns the reply's code (0 for ok). */
static int call(int fd, proto_request req)
{
    ck_assert_int_eq(harness_call(fd, &req, &rbuf, &resp), 0);
    ck_assert_uint_eq(resp.id, req.id);
    return resp.ok ? 0 : resp.code;
}

/* The last error answer's `protocols`, joined by commas ("" when absent). */
static const char *error_protocols(void)
{
    static char out[PROTO_MAX_AMBIGUOUS * (PROTO_MAX_PROTOCOL + 1) + 1];
    proto_cur c = proto_cur_make(resp.protocols.ptr, resp.protocols.len);
    uint32_t n = 0;
    size_t at = 0;
    out[0] = '\0';
    if (resp.protocols.len > 0)
        ck_assert_int_eq(proto_cur_array(&c, &n), 0);
    for (uint32_t i = 0; i < n; i++) {
        const char *str;
        uint32_t len;
        ck_assert_int_eq(proto_cur_str(&c, &str, &len), 0);
        at += (size_t)snprintf(out + at, sizeof(out) - at, "%s%.*s", i > 0 ? "," : "", (int)len, str);
    }
    return out;
}

/* The last error answer's message. */
static const char *error_message(void)
{
    static char out[PROTO_MAX_MESSAGE + 1];
    snprintf(out, sizeof(out), "%.*s", (int)resp.message.len, (const char *)resp.message.ptr);
    return out;
}

static int call_write(int fd, uint32_t id, proto_op op, const char *p, const char *n, const char *pw)
{
    proto_buf b = PROTO_BUF_INIT;
    proto_request r = harness_req(id, op, p, n);
    r.body = body_of(&b, pw, (int)id);
    r.fields |= PROTO_F_BODY;
    int rc = call(fd, r);
    proto_buf_free(&b);
    return rc;
}

static int call_secret(int fd, uint32_t id, proto_op op, const char *a, const char *b)
{
    return call(fd, harness_secret_req(id, op, a, b));
}

static bool status_bool(int fd, const char *key)
{
    bool v;
    ck_assert_int_eq(call(fd, harness_req(77, PROTO_OP_STATUS, NULL, NULL)), 0);
    ck_assert_int_eq(harness_map_bool(resp.result, key, &v), 0);
    return v;
}

/* The password field of the body of a get reply. */
static void get_password(int fd, const char *p, const char *n, char *out, size_t cap)
{
    ck_assert_int_eq(call(fd, harness_req(5, PROTO_OP_GET, p, n)), 0);
    proto_cur c;
    ck_assert_int_eq(harness_map_find(resp.result, "body", &c), 0);
    proto_span body = { c.p, (uint32_t)(c.end - c.p) };
    ck_assert_int_eq(harness_map_str(body, "password", out, cap), 0);
}

/* The status keys only the owner gets: hub, socket, and once initialised suite and kdf. */
static void assert_owner_status(const char *kdf_kind, uint64_t opslimit, uint64_t memlimit)
{
    char str[256];
    proto_cur c;
    ck_assert_int_eq(harness_map_str(resp.result, "hub", str, sizeof(str)), 0);
    ck_assert_str_eq(str, h.hub);
    ck_assert_int_eq(harness_map_str(resp.result, "socket", str, sizeof(str)), 0);
    ck_assert_str_eq(str, h.socket);
    if (kdf_kind == NULL) { /* a new hub: not sealed or keyed yet */
        ck_assert_int_ne(harness_map_find(resp.result, "suite", &c), 0);
        ck_assert_int_ne(harness_map_find(resp.result, "kdf", &c), 0);
        return;
    }
    ck_assert_int_eq(harness_map_str(resp.result, "suite", str, sizeof(str)), 0);
    ck_assert_int_ge(sodium_init(), 0); /* detects the CPU's AES-NI, as the daemon did */
    ck_assert_str_eq(str, crypto_aead_aes256gcm_is_available() ? "aes-256-gcm" : "xchacha20-poly1305");
    ck_assert_int_eq(harness_map_find(resp.result, "kdf", &c), 0);
    proto_span kdf = { c.p, (uint32_t)(c.end - c.p) };
    ck_assert_int_eq(harness_map_str(kdf, "kind", str, sizeof(str)), 0);
    ck_assert_str_eq(str, kdf_kind);
    uint64_t v;
    if (opslimit == 0) {
        ck_assert_int_ne(harness_map_uint(kdf, "opslimit", &v), 0);
        return;
    }
    ck_assert_int_eq(harness_map_uint(kdf, "opslimit", &v), 0);
    ck_assert_uint_eq(v, opslimit);
    ck_assert_int_eq(harness_map_uint(kdf, "memlimit", &v), 0);
    ck_assert_uint_eq(v, memlimit);
}

START_TEST(test_new_hub_init)
{
    start(HARNESS_FAST_KDF, NULL);
    int fd = connect_ok();
    ck_assert_int_eq(call(fd, harness_req(1, PROTO_OP_PING, NULL, NULL)), 0);
    ck_assert_int_eq(resp.result.len, 5); /* "pong" */
    ck_assert_int_eq(memcmp(resp.result.ptr, "\xa4pong", 5), 0);
    ck_assert(!status_bool(fd, "initialized"));
    ck_assert(status_bool(fd, "locked"));
    assert_owner_status(NULL, 0, 0);
    ck_assert_int_eq(call(fd, harness_req(2, PROTO_OP_GETHUB, NULL, NULL)), SKR_ELOCKED);
    ck_assert_str_eq(error_message(), "hub is not initialised: create it with 'sekrets-cli init'");
    ck_assert_int_eq(call_secret(fd, 3, PROTO_OP_UNLOCK, "pw", NULL), SKR_ELOCKED);
    ck_assert_str_eq(error_message(), "hub is not initialised: create it with 'sekrets-cli init'");
    ck_assert_int_eq(call(fd, harness_req(4, PROTO_OP_LOCK, NULL, NULL)), SKR_ELOCKED);
    ck_assert_str_eq(error_message(), "hub is not initialised: create it with 'sekrets-cli init'");
    ck_assert_int_eq(call_secret(fd, 40, PROTO_OP_PASSWD, "a", "b"), SKR_ELOCKED);
    ck_assert_str_eq(error_message(), "hub is not initialised: create it with 'sekrets-cli init'");
    ck_assert_uint_eq(resp.protocols.len, 0);
    ck_assert_int_eq(call_secret(fd, 5, PROTO_OP_INIT, "correct horse", NULL), 0);
    ck_assert(status_bool(fd, "initialized"));
    ck_assert(!status_bool(fd, "locked"));
    assert_owner_status("argon2id", crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN);
    ck_assert_int_eq(call_secret(fd, 6, PROTO_OP_INIT, "again", NULL), SKR_EEXISTS);
    ck_assert_int_eq(call(fd, harness_req(7, PROTO_OP_GETHUB, NULL, NULL)), 0);
    close(fd);
}
END_TEST

START_TEST(test_status_fields)
{
    start(HARNESS_KEYFILE, (const char *const[]){ "--idle-lock", "300", NULL });
    int fd = connect_ok();
    ck_assert_int_eq(call_write(fd, 1, PROTO_OP_POST, "s3", "alice", "a"), 0);
    ck_assert_int_eq(call_write(fd, 2, PROTO_OP_POST, "smtp", "alice", "b"), 0);
    ck_assert_int_eq(call_write(fd, 3, PROTO_OP_POST, "smtp", "bob", "c"), 0);
    ck_assert_int_eq(call(fd, harness_req(4, PROTO_OP_STATUS, NULL, NULL)), 0);
    uint64_t v;
    char version[32];
    ck_assert_int_eq(harness_map_uint(resp.result, "protocols", &v), 0);
    ck_assert_uint_eq(v, 2);
    ck_assert_int_eq(harness_map_uint(resp.result, "credentials", &v), 0);
    ck_assert_uint_eq(v, 3);
    ck_assert_int_eq(harness_map_uint(resp.result, "idle_lock_s", &v), 0);
    ck_assert_uint_eq(v, 300);
    ck_assert_int_eq(harness_map_uint(resp.result, "uptime_s", &v), 0);
    ck_assert_uint_le(v, 5);
    ck_assert_int_eq(harness_map_str(resp.result, "version", version, sizeof(version)), 0);
    ck_assert_str_eq(version, "0.1.0");
    assert_owner_status("keyfile", 0, 0);
    close(fd);
}
END_TEST

START_TEST(test_crud)
{
    start(HARNESS_KEYFILE, NULL);
    int fd = connect_ok();
    char pw[64];
    bool b;
    ck_assert_int_eq(call_write(fd, 1, PROTO_OP_POST, "gdrive2", "alice", "pw-a"), 0);
    ck_assert_int_eq(harness_map_bool(resp.result, "created", &b), 0);
    ck_assert(b);
    ck_assert_int_eq(call_write(fd, 2, PROTO_OP_POST, "gdrive2", "alice", "pw-x"), SKR_EEXISTS);
    ck_assert_int_eq(call_write(fd, 3, PROTO_OP_POST, "gdrive2", "bob", "pw-b"), 0);
    ck_assert_int_eq(call_write(fd, 4, PROTO_OP_POST, "s3", "carol", "pw-c"), 0);
    ck_assert_int_eq(call_write(fd, 5, PROTO_OP_POST, "s3", "alice", "pw-a3"), 0);

    get_password(fd, "gdrive2", "alice", pw, sizeof(pw));
    ck_assert_str_eq(pw, "pw-a");
    get_password(fd, NULL, "carol", pw, sizeof(pw));
    ck_assert_str_eq(pw, "pw-c");
    char s[80];
    ck_assert_int_eq(harness_map_str(resp.result, "protocol", s, sizeof(s)), 0);
    ck_assert_str_eq(s, "s3");
    ck_assert_int_eq(harness_map_str(resp.result, "name", s, sizeof(s)), 0);
    ck_assert_str_eq(s, "carol");
    uint64_t created, modified;
    ck_assert_int_eq(harness_map_uint(resp.result, "created", &created), 0);
    ck_assert_int_eq(harness_map_uint(resp.result, "modified", &modified), 0);
    ck_assert_uint_le(created, modified);
    ck_assert_uint_ge(created, 1700000000);

    ck_assert_int_eq(call(fd, harness_req(6, PROTO_OP_GET, NULL, "alice")), SKR_EAMBIGUOUS);
    ck_assert_str_eq(error_protocols(), "gdrive2,s3"); /* who holds the name */
    ck_assert_str_eq(error_message(),
                     "name is held by more than one protocol: gdrive2 s3; give the protocol");
    ck_assert(!resp.has_retry_after);
    ck_assert_int_eq(call(fd, harness_req(7, PROTO_OP_GET, NULL, "nobody")), SKR_ENOT_FOUND);
    ck_assert_int_eq(call(fd, harness_req(8, PROTO_OP_GET, "gdrive2", "carol")), SKR_ENOT_FOUND);
    ck_assert_int_eq(call(fd, harness_req(9, PROTO_OP_GET, "nope", "carol")), SKR_ENOT_FOUND);

    /* put: replace keeps created and order */
    ck_assert_int_eq(call_write(fd, 10, PROTO_OP_PUT, "gdrive2", "alice", "pw-a2"), 0);
    ck_assert_int_eq(harness_map_bool(resp.result, "created", &b), 0);
    ck_assert(!b);
    get_password(fd, "gdrive2", "alice", pw, sizeof(pw));
    ck_assert_str_eq(pw, "pw-a2");
    ck_assert_int_eq(call_write(fd, 11, PROTO_OP_PUT, "gdrive2", "dave", "pw-d"), 0);
    ck_assert_int_eq(harness_map_bool(resp.result, "created", &b), 0);
    ck_assert(b);

    ck_assert_int_eq(call(fd, harness_req(12, PROTO_OP_GETDB, "gdrive2", NULL)), 0);
    proto_cur c;
    uint32_t n;
    ck_assert_int_eq(harness_map_find(resp.result, "names", &c), 0);
    ck_assert_int_eq(proto_cur_array(&c, &n), 0);
    ck_assert_uint_eq(n, 3);
    const char *want[] = { "alice", "bob", "dave" };
    for (uint32_t i = 0; i < n; i++) {
        const char *str;
        uint32_t len;
        ck_assert_int_eq(proto_cur_str(&c, &str, &len), 0);
        ck_assert_uint_eq(len, strlen(want[i]));
        ck_assert_int_eq(memcmp(str, want[i], len), 0);
    }
    ck_assert_int_eq(call(fd, harness_req(13, PROTO_OP_GETDB, "missing", NULL)), SKR_ENOT_FOUND);

    /* delete, then the protocol goes with its last name */
    ck_assert_int_eq(call(fd, harness_req(14, PROTO_OP_DELETE, "s3", "carol")), 0);
    ck_assert_int_eq(harness_map_bool(resp.result, "deleted", &b), 0);
    ck_assert(b);
    ck_assert_int_eq(call(fd, harness_req(15, PROTO_OP_DELETE, "s3", "carol")), 0);
    ck_assert_int_eq(harness_map_bool(resp.result, "deleted", &b), 0);
    ck_assert(!b);
    ck_assert_int_eq(call(fd, harness_req(16, PROTO_OP_DELETE, "s3", "alice")), 0);
    ck_assert_int_eq(call(fd, harness_req(17, PROTO_OP_GETDB, "s3", NULL)), SKR_ENOT_FOUND);
    get_password(fd, NULL, "alice", pw, sizeof(pw)); /* no longer ambiguous */
    ck_assert_str_eq(pw, "pw-a2");

    /* getHub sorted bytewise with counts */
    ck_assert_int_eq(call_write(fd, 18, PROTO_OP_POST, "Zeta", "z", "z"), 0);
    ck_assert_int_eq(call_write(fd, 19, PROTO_OP_POST, "alpha", "a", "a"), 0);
    ck_assert_int_eq(call(fd, harness_req(20, PROTO_OP_GETHUB, NULL, NULL)), 0);
    ck_assert_int_eq(harness_map_find(resp.result, "protocols", &c), 0);
    ck_assert_int_eq(proto_cur_array(&c, &n), 0);
    ck_assert_uint_eq(n, 3);
    const char *names[] = { "Zeta", "alpha", "gdrive2" };
    const uint64_t counts[] = { 1, 1, 3 };
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *item = c.p;
        ck_assert_int_eq(proto_cur_skip(&c, NULL, NULL), 0);
        proto_span m = { item, (uint32_t)(c.p - item) };
        uint64_t cnt;
        ck_assert_int_eq(harness_map_str(m, "name", s, sizeof(s)), 0);
        ck_assert_str_eq(s, names[i]);
        ck_assert_int_eq(harness_map_uint(m, "count", &cnt), 0);
        ck_assert_uint_eq(cnt, counts[i]);
    }
    close(fd);
}
END_TEST

/* The created and modified of the last get reply. */
static void get_times(int fd, uint32_t id, const char *p, const char *n, uint64_t *c, uint64_t *m)
{
    ck_assert_int_eq(call(fd, harness_req(id, PROTO_OP_GET, p, n)), 0);
    ck_assert_int_eq(harness_map_uint(resp.result, "created", c), 0);
    ck_assert_int_eq(harness_map_uint(resp.result, "modified", m), 0);
}

/* A raw put of {protocol "t", name "bad", body true} with `key` a str (kind 0), -1 (1)
 * or PROTO_MAX_TIME + 1 (2). */
static int call_bad_time(int fd, const char *key, int kind)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_sbuffer_write(&sb, "\0\0\0\0", 4); /* the frame length, set below */
    msgpack_pack_map(&pk, 6);
    proto_pack_cstr(&pk, "id");
    msgpack_pack_uint32(&pk, 40);
    proto_pack_cstr(&pk, "op");
    proto_pack_cstr(&pk, "put");
    proto_pack_cstr(&pk, "protocol");
    proto_pack_cstr(&pk, "t");
    proto_pack_cstr(&pk, "name");
    proto_pack_cstr(&pk, "bad");
    proto_pack_cstr(&pk, "body");
    msgpack_pack_true(&pk);
    proto_pack_cstr(&pk, key);
    if (kind == 0)
        proto_pack_cstr(&pk, "2024-01-01T00:00:00+00:00");
    else if (kind == 1)
        msgpack_pack_int64(&pk, -1);
    else
        msgpack_pack_uint64(&pk, (uint64_t)PROTO_MAX_TIME + 1);
    uint32_t plen = (uint32_t)sb.size - 4;
    for (int i = 0; i < 4; i++)
        sb.data[i] = (char)(plen >> (24 - 8 * i));
    ck_assert_int_eq(harness_call_raw(fd, sb.data, sb.size, &rbuf, &resp), 0);
    msgpack_sbuffer_destroy(&sb);
    ck_assert_uint_eq(resp.id, 40);
    return resp.ok ? 0 : resp.code;
}

/* post/put with created/modified (what import sends): get answers them exactly; a replace
 * without created keeps the old one; a bad type or range is bad_request naming the field
 * and writes nothing. */
START_TEST(test_post_put_times)
{
    start(HARNESS_KEYFILE, NULL);
    int fd = connect_ok();
    proto_buf b = PROTO_BUF_INIT;
    uint64_t c, m;
    proto_request r = harness_req(1, PROTO_OP_POST, "t", "a");
    r.body = body_of(&b, "pw", 1);
    r.fields |= PROTO_F_BODY | PROTO_F_CREATED | PROTO_F_MODIFIED;
    r.created = 1500000000;
    r.modified = PROTO_MAX_TIME;
    ck_assert_int_eq(call(fd, r), 0);
    get_times(fd, 2, "t", "a", &c, &m);
    ck_assert_uint_eq(c, 1500000000);
    ck_assert_uint_eq(m, (uint64_t)PROTO_MAX_TIME);
    r = harness_req(3, PROTO_OP_PUT, "t", "a"); /* modified only: created kept */
    r.body = body_of(&b, "pw2", 3);
    r.fields |= PROTO_F_BODY | PROTO_F_MODIFIED;
    r.modified = 0;
    ck_assert_int_eq(call(fd, r), 0);
    get_times(fd, 4, "t", "a", &c, &m);
    ck_assert_uint_eq(c, 1500000000);
    ck_assert_uint_eq(m, 0);
    r = harness_req(5, PROTO_OP_PUT, "t", "n"); /* a new one by put, created only */
    r.body = body_of(&b, "pw", 5);
    r.fields |= PROTO_F_BODY | PROTO_F_CREATED;
    r.created = 86400;
    ck_assert_int_eq(call(fd, r), 0);
    get_times(fd, 6, "t", "n", &c, &m);
    ck_assert_uint_eq(c, 86400);
    ck_assert_uint_ge(m, 1700000000); /* now */
    static const char *const keys[] = { "created", "modified" };
    for (int k = 0; k < 2; k++) {
        for (int kind = 0; kind < 3; kind++) {
            ck_assert_int_eq(call_bad_time(fd, keys[k], kind), SKR_EBAD_REQUEST);
            char want[32];
            snprintf(want, sizeof want, "'%s'", keys[k]);
            ck_assert_msg(strstr(error_message(), want) != NULL, "message: %s", error_message());
        }
    }
    ck_assert_int_eq(call(fd, harness_req(7, PROTO_OP_GET, "t", "bad")), SKR_ENOT_FOUND);
    proto_buf_free(&b);
    close(fd);
}
END_TEST

START_TEST(test_request_errors)
{
    start(HARNESS_KEYFILE, NULL);
    int fd = connect_ok();
    /* {"id":9,"op":"ping","v":2} */
    static const uint8_t v2[] = { 0, 0, 0, 0x10, 0x83, 0xa2, 'i', 'd', 9, 0xa2, 'o', 'p',
                                  0xa4, 'p', 'i', 'n', 'g', 0xa1, 'v', 2 };
    ck_assert_int_eq(harness_call_raw(fd, v2, sizeof(v2), &rbuf, &resp), 0);
    ck_assert_int_eq(resp.code, SKR_EUNSUPPORTED);
    ck_assert_uint_eq(resp.id, 9);
    /* {"id":3,"op":"fly"} */
    static const uint8_t fly[] = { 0, 0, 0, 0x0c, 0x82, 0xa2, 'i', 'd', 3, 0xa2, 'o', 'p',
                                   0xa3, 'f', 'l', 'y' };
    ck_assert_int_eq(harness_call_raw(fd, fly, sizeof(fly), &rbuf, &resp), 0);
    ck_assert_int_eq(resp.code, SKR_EUNKNOWN_OP);
    ck_assert_uint_eq(resp.id, 3);
    /* {"id":4,"op":"get"}: name missing */
    static const uint8_t noname[] = { 0, 0, 0, 0x0c, 0x82, 0xa2, 'i', 'd', 4, 0xa2, 'o', 'p',
                                      0xa3, 'g', 'e', 't' };
    ck_assert_int_eq(harness_call_raw(fd, noname, sizeof(noname), &rbuf, &resp), 0);
    ck_assert_int_eq(resp.code, SKR_EBAD_REQUEST);
    ck_assert_ptr_nonnull(memmem(resp.message.ptr, resp.message.len, "name", 4));
    /* the connection is still usable after request errors */
    ck_assert_int_eq(call(fd, harness_req(5, PROTO_OP_PING, NULL, NULL)), 0);
    close(fd);
}
END_TEST

START_TEST(test_pipelining_1000)
{
    start(HARNESS_KEYFILE, NULL);
    int fd = connect_ok();
    ck_assert_int_eq(call_write(fd, 1, PROTO_OP_POST, "p", "n", "secret"), 0);
    proto_buf out = PROTO_BUF_INIT;
    for (uint32_t i = 1; i <= 1000; i++) {
        proto_request r = harness_req(i, i % 2 ? PROTO_OP_GET : PROTO_OP_PING, "p", i % 2 ? "n" : NULL);
        if (!(i % 2))
            r.fields = 0;
        ck_assert_int_eq(proto_request_encode(&out, &r, PROTO_MAX_FRAME_DEFAULT), 0);
    }
    ck_assert_int_eq(harness_send(fd, out.data, out.len), 0);
    for (uint32_t i = 1; i <= 1000; i++) {
        ck_assert_int_eq(harness_recv(fd, &rbuf), 0);
        ck_assert_int_eq(proto_response_decode(rbuf.data, rbuf.len, &resp), 0);
        ck_assert_uint_eq(resp.id, i);
        ck_assert(resp.ok);
    }
    proto_buf_free(&out);
    close(fd);
}
END_TEST

/* Sends bytes that break framing: one bad_frame error (id 0 unless one could be read),
 * then the close. */
static void expect_bad_frame(const void *bytes, size_t len, uint32_t id)
{
    int fd = connect_ok();
    ck_assert_int_eq(harness_send(fd, bytes, len), 0);
    ck_assert_int_eq(harness_recv(fd, &rbuf), 0);
    ck_assert_int_eq(proto_response_decode(rbuf.data, rbuf.len, &resp), 0);
    ck_assert(!resp.ok);
    ck_assert_int_eq(resp.code, SKR_EBAD_FRAME);
    ck_assert_uint_eq(resp.id, id);
    ck_assert(harness_closed(fd));
    close(fd);
    /* others are unaffected */
    fd = connect_ok();
    ck_assert_int_eq(call(fd, harness_req(1, PROTO_OP_PING, NULL, NULL)), 0);
    close(fd);
}

START_TEST(test_bad_frames)
{
    start(HARNESS_KEYFILE, NULL);
    static const uint8_t zero[] = { 0, 0, 0, 0 };
    static const uint8_t huge[] = { 0xff, 0xff, 0xff, 0xff, 0x80 };
    static const uint8_t two_mib[] = { 0x00, 0x20, 0x00, 0x00, 0x80 };
    static const uint8_t garbage[] = { 0, 0, 0, 3, 0xc1, 0xc1, 0xc1 };
    static const uint8_t trailing[] = { 0, 0, 0, 0x0e, 0x82, 0xa2, 'i', 'd', 0x01, 0xa2, 'o',
                                        'p', 0xa4, 'p', 'i', 'n', 'g', 0xc0 };
    static const uint8_t truncated[] = { 0, 0, 0, 5, 0x82, 0xa2, 'i', 'd', 0x01 };
    expect_bad_frame(zero, sizeof(zero), 0);
    expect_bad_frame(huge, sizeof(huge), 0);
    expect_bad_frame(two_mib, sizeof(two_mib), 0);
    expect_bad_frame(garbage, sizeof(garbage), 0);
    expect_bad_frame(trailing, sizeof(trailing), 1);
    expect_bad_frame(truncated, sizeof(truncated), 0);
    /* 10,000-deep array */
    size_t n = 4 + 10001;
    uint8_t *deep = malloc(n);
    proto_put_be32(deep, 10001);
    memset(deep + 4, 0x91, 10000);
    deep[n - 1] = 0xc0;
    expect_bad_frame(deep, n, 0);
    free(deep);
}
END_TEST

START_TEST(test_half_frame_does_not_block)
{
    start(HARNESS_KEYFILE, (const char *const[]){ "--frame-timeout", "300", NULL });
    int slow = connect_ok();
    ck_assert_int_eq(harness_send(slow, "\x00\x00\x00\x0d\x82", 5), 0);
    int fd = connect_ok();
    for (uint32_t i = 1; i <= 50; i++)
        ck_assert_int_eq(call(fd, harness_req(i, PROTO_OP_PING, NULL, NULL)), 0);
    close(fd);
    /* the stalled connection is closed after the frame timeout */
    usleep(400000);
    ck_assert(harness_closed(slow));
    close(slow);
}
END_TEST

START_TEST(test_500_connections)
{
    start(HARNESS_KEYFILE, (const char *const[]){ "--max-clients", "600", NULL });
    enum { N = 500 };
    static int fds[N];
    static const uint8_t ping[] = { 0, 0, 0, 0x0d, 0x82, 0xa2, 'i', 'd', 0x07, 0xa2, 'o', 'p',
                                    0xa4, 'p', 'i', 'n', 'g' };
    for (int i = 0; i < N; i++)
        fds[i] = connect_ok();
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(harness_send(fds[i], ping, sizeof(ping)), 0);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(harness_recv(fds[i], &rbuf), 0);
        ck_assert_int_eq(proto_response_decode(rbuf.data, rbuf.len, &resp), 0);
        ck_assert(resp.ok);
        ck_assert_uint_eq(resp.id, 7);
        close(fds[i]);
    }
}
END_TEST

START_TEST(test_max_clients_busy)
{
    start(HARNESS_KEYFILE, (const char *const[]){ "--max-clients", "2", NULL });
    int a = connect_ok(), b = connect_ok();
    ck_assert_int_eq(call(a, harness_req(1, PROTO_OP_PING, NULL, NULL)), 0);
    ck_assert_int_eq(call(b, harness_req(1, PROTO_OP_PING, NULL, NULL)), 0);
    int c = connect_ok();
    ck_assert_int_eq(harness_recv(c, &rbuf), 0);
    ck_assert_int_eq(proto_response_decode(rbuf.data, rbuf.len, &resp), 0);
    ck_assert_int_eq(resp.code, SKR_EBUSY);
    ck_assert(harness_closed(c));
    close(c);
    close(a);
    /* a's place is free once the daemon has seen it close: until then (on a loaded
     * machine it can take a while) a new client is still told busy */
    for (int tries = 0;; tries++) {
        c = connect_ok();
        proto_request ping = harness_req(2, PROTO_OP_PING, NULL, NULL);
        ck_assert_int_eq(harness_call(c, &ping, &rbuf, &resp), 0);
        if (resp.ok || resp.code != SKR_EBUSY || tries == 250)
            break;
        close(c);
        usleep(20000);
    }
    ck_assert(resp.ok);
    ck_assert_uint_eq(resp.id, 2);
    close(b);
    close(c);
}
END_TEST

START_TEST(test_lock_unlock_passwd_rate_limit)
{
    start(HARNESS_FAST_KDF, NULL);
    int fd = connect_ok();
    ck_assert_int_eq(call_secret(fd, 1, PROTO_OP_INIT, "first pass", NULL), 0);
    ck_assert_int_eq(call_write(fd, 2, PROTO_OP_POST, "p", "n", "body"), 0);
    ck_assert_int_eq(call(fd, harness_req(3, PROTO_OP_LOCK, NULL, NULL)), 0);
    ck_assert(status_bool(fd, "locked"));
    ck_assert_int_eq(call(fd, harness_req(4, PROTO_OP_GET, "p", "n")), SKR_ELOCKED);
    ck_assert_str_eq(error_message(), "hub is locked"); /* initialised: no word of init */
    ck_assert_int_eq(call_write(fd, 5, PROTO_OP_PUT, "p", "n", "x"), SKR_ELOCKED);
    ck_assert_int_eq(call(fd, harness_req(6, PROTO_OP_ROTATE, NULL, NULL)), SKR_ELOCKED);
    ck_assert_int_eq(call_secret(fd, 7, PROTO_OP_UNLOCK, "wrong", NULL), SKR_EBAD_PASSPHRASE);
    /* right away, even the right passphrase is refused */
    ck_assert_int_eq(call_secret(fd, 8, PROTO_OP_UNLOCK, "first pass", NULL), SKR_ERATE_LIMITED);
    ck_assert(resp.has_retry_after); /* the 1 s delay, in whole seconds rounded up */
    ck_assert_uint_eq(resp.retry_after, 1);
    ck_assert_ptr_nonnull(strstr(error_message(), "too many wrong passphrases: retry in "));
    usleep(1100000);
    ck_assert_int_eq(call_secret(fd, 9, PROTO_OP_UNLOCK, "first pass", NULL), 0);
    ck_assert(!status_bool(fd, "locked"));
    char pw[32];
    get_password(fd, "p", "n", pw, sizeof(pw));
    ck_assert_str_eq(pw, "body");

    ck_assert_int_eq(call_secret(fd, 10, PROTO_OP_PASSWD, "nope", "second pass"), SKR_EBAD_PASSPHRASE);
    usleep(1100000);
    ck_assert_int_eq(call_secret(fd, 11, PROTO_OP_PASSWD, "first pass", "second pass"), 0);
    ck_assert_int_eq(call(fd, harness_req(12, PROTO_OP_LOCK, NULL, NULL)), 0);
    ck_assert_int_eq(call_secret(fd, 13, PROTO_OP_UNLOCK, "first pass", NULL), SKR_EBAD_PASSPHRASE);
    usleep(1100000);
    ck_assert_int_eq(call_secret(fd, 14, PROTO_OP_UNLOCK, "second pass", NULL), 0);
    get_password(fd, "p", "n", pw, sizeof(pw));
    ck_assert_str_eq(pw, "body");

    ck_assert_int_eq(call(fd, harness_req(15, PROTO_OP_ROTATE, NULL, NULL)), 0);
    uint64_t records;
    ck_assert_int_eq(harness_map_uint(resp.result, "records", &records), 0);
    ck_assert_uint_eq(records, 1);
    get_password(fd, "p", "n", pw, sizeof(pw));
    ck_assert_str_eq(pw, "body");
    close(fd);
}
END_TEST

/* Appends request req to out (one frame). */
static void frame_add(proto_buf *out, proto_request req)
{
    proto_buf one = PROTO_BUF_INIT;
    ck_assert_int_eq(proto_request_encode(&one, &req, PROTO_MAX_FRAME_LIMIT), 0);
    ck_assert_int_eq(proto_buf_append(out, one.data, one.len), 0);
    proto_buf_free(&one);
}

static proto_request put_req(proto_buf *b, uint32_t id, const char *p, const char *n,
                             const char *pw)
{
    proto_request r = harness_req(id, PROTO_OP_PUT, p, n);
    r.body = body_of(b, pw, (int)id);
    r.fields |= PROTO_F_BODY;
    return r;
}

/* Sends frames as one write, then reads a reply per id (first..first+n-1, in order):
 * the code of each (0 ok) into codes. */
static void pipeline(int fd, proto_buf *frames, uint32_t first, int n, int *codes)
{
    ck_assert_int_eq(harness_send(fd, frames->data, frames->len), 0);
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(harness_recv(fd, &rbuf), 0);
        ck_assert_int_eq(proto_response_decode(rbuf.data, rbuf.len, &resp), 0);
        ck_assert_uint_eq(resp.id, first + (uint32_t)i);
        codes[i] = resp.ok ? 0 : resp.code;
    }
    proto_buf_reset(frames);
}

/* A write and then, in the same write of the client, an op that commits the open batch
 * first (passwd, lock): the commit releases the session's held replies while its
 * requests are being served. The replies still come in request order, each request
 * served after the one before, and passwd reads its passphrase intact. */
START_TEST(test_commit_inside_a_pipeline)
{
    start(HARNESS_FAST_KDF, NULL);
    int fd = connect_ok();
    ck_assert_int_eq(call_secret(fd, 1, PROTO_OP_INIT, "first pass", NULL), 0);
    proto_buf frames = PROTO_BUF_INIT, b = PROTO_BUF_INIT;
    int codes[3];
    /* passwd last: nothing to reorder, its passphrase must still be read whole */
    frame_add(&frames, put_req(&b, 2, "p", "o", "zero"));
    frame_add(&frames, harness_secret_req(3, PROTO_OP_PASSWD, "first pass", "first pass"));
    pipeline(fd, &frames, 2, 2, codes);
    ck_assert_int_eq(codes[0], 0);
    ck_assert_int_eq(codes[1], 0);
    proto_buf_reset(&b);
    frame_add(&frames, put_req(&b, 10, "p", "n", "one"));
    frame_add(&frames, harness_secret_req(11, PROTO_OP_PASSWD, "first pass", "second pass"));
    frame_add(&frames, harness_req(12, PROTO_OP_STATUS, NULL, NULL));
    pipeline(fd, &frames, 10, 3, codes);
    ck_assert_int_eq(codes[0], 0);
    ck_assert_int_eq(codes[1], 0);
    ck_assert_int_eq(codes[2], 0);
    proto_buf_reset(&b);
    frame_add(&frames, put_req(&b, 20, "p", "m", "two"));
    frame_add(&frames, harness_req(21, PROTO_OP_LOCK, NULL, NULL));
    frame_add(&frames, harness_req(22, PROTO_OP_GET, "p", "m"));
    pipeline(fd, &frames, 20, 3, codes);
    ck_assert_int_eq(codes[0], 0);
    ck_assert_int_eq(codes[1], 0);
    ck_assert_int_eq(codes[2], SKR_ELOCKED); /* served after the lock */
    ck_assert_int_eq(call_secret(fd, 23, PROTO_OP_UNLOCK, "second pass", NULL), 0);
    char pw[32];
    get_password(fd, "p", "m", pw, sizeof(pw));
    ck_assert_str_eq(pw, "two");
    proto_buf_free(&frames);
    proto_buf_free(&b);
    close(fd);
}
END_TEST

#define BUILD_NAMES 20000

/* Unlock answers before the mirror is built (a slice of it per loop turn, each slice at
 * least 32 entries: 20,000 credentials take hundreds of turns). Requests sent in the same
 * write as the unlock are served in the turn its reply goes out: gets right from LMDB, a
 * put seen by the next get, then a lock that stops the build (it never reports done).
 * The next unlock builds it to the end; every credential and the put are then right. */
START_TEST(test_unlock_serves_while_mirror_builds)
{
    proto_buf frames = PROTO_BUF_INIT, b = PROTO_BUF_INIT;
    char p[16], n[16], pw[32], want[32];
    int codes[500];

    start(HARNESS_FAST_KDF, NULL);
    int fd = connect_ok();
    ck_assert_int_eq(call_secret(fd, 1, PROTO_OP_INIT, "pass", NULL), 0);
    for (int i = 0; i < BUILD_NAMES; i += 500) {
        for (int j = 0; j < 500; j++) {
            snprintf(p, sizeof p, "p%d", (i + j) % 10);
            snprintf(n, sizeof n, "n%d", i + j);
            snprintf(pw, sizeof pw, "v%d", i + j);
            frame_add(&frames, put_req(&b, (uint32_t)(10 + j), p, n, pw));
        }
        pipeline(fd, &frames, 10, 500, codes);
        for (int j = 0; j < 500; j++)
            ck_assert_int_eq(codes[j], 0);
    }
    ck_assert_int_eq(call(fd, harness_req(2, PROTO_OP_LOCK, NULL, NULL)), 0);

    frame_add(&frames, harness_secret_req(20, PROTO_OP_UNLOCK, "pass", NULL));
    frame_add(&frames, harness_req(21, PROTO_OP_GET, "p7", "n17"));
    frame_add(&frames, harness_req(22, PROTO_OP_GET, NULL, "n12345"));
    frame_add(&frames, put_req(&b, 23, "p3", "n13", "during"));
    frame_add(&frames, harness_req(24, PROTO_OP_GET, "p3", "n13"));
    frame_add(&frames, harness_req(25, PROTO_OP_LOCK, NULL, NULL));
    ck_assert_int_eq(harness_send(fd, frames.data, frames.len), 0);
    proto_buf_reset(&frames);
    static const char *const got[] = { NULL, "v17", "v12345", NULL, "during", NULL };
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(harness_recv(fd, &rbuf), 0);
        ck_assert_int_eq(proto_response_decode(rbuf.data, rbuf.len, &resp), 0);
        ck_assert_uint_eq(resp.id, 20 + (uint32_t)i);
        ck_assert_msg(resp.ok, "reply %d: code %d", 20 + i, resp.code);
        if (got[i] != NULL) {
            proto_cur c;
            ck_assert_int_eq(harness_map_find(resp.result, "body", &c), 0);
            proto_span body = { c.p, (uint32_t)(c.end - c.p) };
            ck_assert_int_eq(harness_map_str(body, "password", pw, sizeof pw), 0);
            ck_assert_str_eq(pw, got[i]);
        }
    }
    ck_assert(status_bool(fd, "locked"));
    ck_assert_int_eq(harness_log_contains(&h, "record mirror built"), 0);

    ck_assert_int_eq(call_secret(fd, 30, PROTO_OP_UNLOCK, "pass", NULL), 0);
    for (int i = 0; i < 3000 && !harness_log_contains(&h, "record mirror built"); i++)
        usleep(10000);
    ck_assert_int_eq(harness_log_contains(&h, "record mirror built"), 1);
    for (int i = 0; i < BUILD_NAMES; i += 97) {
        snprintf(p, sizeof p, "p%d", i % 10);
        snprintf(n, sizeof n, "n%d", i);
        snprintf(want, sizeof want, "v%d", i);
        get_password(fd, p, n, pw, sizeof pw);
        ck_assert_str_eq(pw, want);
    }
    get_password(fd, "p3", "n13", pw, sizeof pw);
    ck_assert_str_eq(pw, "during");
    proto_buf_free(&frames);
    proto_buf_free(&b);
    close(fd);
}
END_TEST

/* A keyfile hub unlocked at start builds its mirror too (on the loop, after start):
 * the log says so within a bounded wait, and every credential reads right. */
START_TEST(test_keyfile_start_builds_mirror)
{
    proto_buf frames = PROTO_BUF_INIT, b = PROTO_BUF_INIT;
    char n[16], pw[32], want[32];
    int codes[200];

    start(HARNESS_KEYFILE, NULL);
    int fd = connect_ok();
    for (int i = 0; i < 200; i++) {
        snprintf(n, sizeof n, "n%d", i);
        snprintf(pw, sizeof pw, "v%d", i);
        frame_add(&frames, put_req(&b, (uint32_t)(10 + i), "p", n, pw));
    }
    pipeline(fd, &frames, 10, 200, codes);
    for (int i = 0; i < 200; i++)
        ck_assert_int_eq(codes[i], 0);
    close(fd);
    harness_kill(&h, SIGTERM);
    ck_assert_int_eq(harness_log_contains(&h, "record mirror built"), 0);
    ck_assert_int_eq(harness_restart(&h, HARNESS_KEYFILE, NULL), 0);
    for (int i = 0; i < 3000 && !harness_log_contains(&h, "record mirror built"); i++)
        usleep(10000);
    ck_assert_int_eq(harness_log_contains(&h, "record mirror built"), 1);
    fd = connect_ok();
    for (int i = 0; i < 200; i++) {
        snprintf(n, sizeof n, "n%d", i);
        snprintf(want, sizeof want, "v%d", i);
        get_password(fd, "p", n, pw, sizeof pw);
        ck_assert_str_eq(pw, want);
    }
    proto_buf_free(&frames);
    proto_buf_free(&b);
    close(fd);
}
END_TEST

/* Bytes of the hub's key file `keys` (slot 0: header, then the first entry's id and
 * wrap; layout in daemon/store/store_records.h). */
#define KEYS_ID_AT   25
#define KEYS_WRAP_AT (25 + 8 + 33)
#define KEYS_WRAP    104

static void read_keys_slot(uint8_t slot[4096])
{
    char path[256];
    snprintf(path, sizeof path, "%s/keys", h.hub);
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, slot, 4096, 0), 4096);
    close(fd);
}

/* How many files of the hub folder hold these bytes. */
static int hub_files_holding(const uint8_t *needle, size_t n)
{
    static const char *const files[] = { "data.mdb", "lock.mdb", "journal", "keys" };
    static uint8_t buf[16 << 20];
    int found = 0;

    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s", h.hub, files[i]);
        int fd = open(path, O_RDONLY);
        ck_assert_int_ge(fd, 0);
        ssize_t len = read(fd, buf, sizeof buf);
        close(fd);
        ck_assert_int_ge(len, 0);
        ck_assert_int_lt(len, (ssize_t)sizeof buf);
        found += memmem(buf, (size_t)len, needle, n) != NULL;
    }
    return found;
}

/* passwd with `rotate: true`: a new data key (a new key id in the key file), the old
 * wrap in no hub file, every record read with the new passphrase after a restart, the
 * old one refused; a `rotate` that is not a bool is bad_request and changes nothing. */
START_TEST(test_passwd_rotate)
{
    enum { N = 12 };
    uint8_t before[4096], after[4096];
    char name[16], pw[32], want[32];
    start(HARNESS_FAST_KDF, NULL);
    int fd = connect_ok();
    ck_assert_int_eq(call_secret(fd, 1, PROTO_OP_INIT, "first pass", NULL), 0);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "n%d", i);
        snprintf(want, sizeof want, "pw-%d", i);
        ck_assert_int_eq(call_write(fd, 2, PROTO_OP_POST, "p", name, want), 0);
    }
    read_keys_slot(before);
    ck_assert_int_eq(hub_files_holding(before + KEYS_WRAP_AT, KEYS_WRAP), 1); /* control */

    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_sbuffer_write(&sb, "\0\0\0\0", 4); /* the frame length, set below */
    msgpack_pack_map(&pk, 5);
    proto_pack_cstr(&pk, "id");
    msgpack_pack_uint32(&pk, 3);
    proto_pack_cstr(&pk, "op");
    proto_pack_cstr(&pk, "passwd");
    proto_pack_cstr(&pk, "old");
    proto_pack_cstr(&pk, "first pass");
    proto_pack_cstr(&pk, "new");
    proto_pack_cstr(&pk, "second pass");
    proto_pack_cstr(&pk, "rotate");
    proto_pack_cstr(&pk, "yes");
    uint32_t plen = (uint32_t)sb.size - 4;
    for (int i = 0; i < 4; i++)
        sb.data[i] = (char)(plen >> (24 - 8 * i));
    ck_assert_int_eq(harness_call_raw(fd, sb.data, sb.size, &rbuf, &resp), 0);
    msgpack_sbuffer_destroy(&sb);
    ck_assert(!resp.ok);
    ck_assert_int_eq(resp.code, SKR_EBAD_REQUEST);
    read_keys_slot(after);
    ck_assert_mem_eq(before, after, sizeof before);

    proto_request r = harness_secret_req(4, PROTO_OP_PASSWD, "first pass", "second pass");
    r.fields |= PROTO_F_ROTATE;
    r.rotate = true;
    ck_assert_int_eq(call(fd, r), 0);
    ck_assert_uint_eq(resp.result.len, 1); /* {} */
    ck_assert_int_eq(call_write(fd, 5, PROTO_OP_POST, "p", "after", "pw-after"), 0);
    read_keys_slot(after);
    ck_assert_mem_ne(before + KEYS_ID_AT, after + KEYS_ID_AT, 8); /* a new data key */
    ck_assert_int_eq(hub_files_holding(after + KEYS_WRAP_AT, KEYS_WRAP), 1);
    ck_assert_int_eq(hub_files_holding(before + KEYS_WRAP_AT, KEYS_WRAP), 0);
    close(fd);

    harness_kill(&h, SIGTERM);
    ck_assert_int_eq(harness_restart(&h, HARNESS_FAST_KDF, NULL), 0);
    fd = connect_ok();
    ck_assert_int_eq(call_secret(fd, 6, PROTO_OP_UNLOCK, "second pass", NULL), 0);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "n%d", i);
        snprintf(want, sizeof want, "pw-%d", i);
        get_password(fd, "p", name, pw, sizeof pw);
        ck_assert_str_eq(pw, want);
    }
    get_password(fd, "p", "after", pw, sizeof pw);
    ck_assert_str_eq(pw, "pw-after");
    ck_assert_int_eq(call(fd, harness_req(7, PROTO_OP_LOCK, NULL, NULL)), 0);
    ck_assert_int_eq(call_secret(fd, 8, PROTO_OP_UNLOCK, "first pass", NULL), SKR_EBAD_PASSPHRASE);
    close(fd);
}
END_TEST

/* A keyfile hub that was locked unlocks with the keyfile's bytes; passwd turns it into a
 * passphrase hub. */
START_TEST(test_keyfile_hub_lock_unlock)
{
    start(HARNESS_KEYFILE | HARNESS_FAST_KDF, NULL);
    uint8_t key[32];
    FILE *f = fopen(h.keyfile, "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fread(key, 1, sizeof(key), f), sizeof(key));
    fclose(f);
    int fd = connect_ok();
    ck_assert_int_eq(call_write(fd, 1, PROTO_OP_POST, "p", "n", "kept"), 0);
    ck_assert_int_eq(call(fd, harness_req(2, PROTO_OP_LOCK, NULL, NULL)), 0);
    ck_assert_int_eq(call_secret(fd, 3, PROTO_OP_UNLOCK, "too short", NULL), SKR_EBAD_PASSPHRASE);
    usleep(1100000);
    proto_request r = harness_req(4, PROTO_OP_UNLOCK, NULL, NULL);
    r.passphrase = (proto_span){ key, sizeof(key) };
    r.fields |= PROTO_F_PASSPHRASE;
    ck_assert_int_eq(call(fd, r), 0);
    char pw[32];
    get_password(fd, "p", "n", pw, sizeof(pw));
    ck_assert_str_eq(pw, "kept");
    r = harness_req(5, PROTO_OP_PASSWD, NULL, NULL);
    r.old_pass = (proto_span){ key, sizeof(key) };
    r.new_pass = (proto_span){ (const uint8_t *)"now a passphrase", 16 };
    r.fields |= PROTO_F_OLD | PROTO_F_NEW;
    ck_assert_int_eq(call(fd, r), 0);
    ck_assert_int_eq(call(fd, harness_req(6, PROTO_OP_LOCK, NULL, NULL)), 0);
    ck_assert_int_eq(call_secret(fd, 7, PROTO_OP_UNLOCK, "now a passphrase", NULL), 0);
    get_password(fd, "p", "n", pw, sizeof(pw));
    ck_assert_str_eq(pw, "kept");
    sodium_memzero(key, sizeof(key));
    close(fd);
}
END_TEST

START_TEST(test_idle_lock)
{
    start(HARNESS_KEYFILE, (const char *const[]){ "--idle-lock", "1", NULL });
    int fd = connect_ok();
    ck_assert(!status_bool(fd, "locked"));
    /* the timer fires at 1 s; a loaded machine (valgrind, CI) may run it late */
    for (int i = 0; i < 500 && !harness_log_contains(&h, "hub locked after 1 s without"); i++)
        usleep(10000);
    ck_assert(status_bool(fd, "locked"));
    close(fd);
}
END_TEST

/* A forked child as uid 65534 connects, sends req (NULL: only reads the daemon's first
 * frame) and passes the reply's payload back into *payload. 0, -1 when the child could
 * not connect, -2 when no reply came. */
static int other_uid_reply(const proto_request *req, proto_buf *payload)
{
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        int result = -1;
        proto_buf b = PROTO_BUF_INIT;
        if (setgid(65534) == 0 && setuid(65534) == 0) {
            int fd = harness_connect(&h);
            proto_response r;
            if (fd >= 0) {
                int rc = req != NULL ? harness_call(fd, req, &b, &r) : harness_recv(fd, &b);
                result = rc == 0 ? 0 : -2;
            }
        }
        uint32_t n = result == 0 ? (uint32_t)b.len : 0;
        if (write(pfd[1], &result, sizeof(result)) != sizeof(result) ||
            write(pfd[1], &n, sizeof(n)) != sizeof(n) || (n > 0 && write(pfd[1], b.data, n) != n))
            _exit(1);
        _exit(0);
    }
    close(pfd[1]);
    int result;
    uint32_t n;
    ck_assert_int_eq(read(pfd[0], &result, sizeof(result)), sizeof(result));
    ck_assert_int_eq(read(pfd[0], &n, sizeof(n)), sizeof(n));
    proto_buf_reset(payload);
    ck_assert_int_eq(proto_buf_reserve(payload, n + 1), 0);
    for (uint32_t got = 0; got < n;) {
        ssize_t r = read(pfd[0], payload->data + got, n - got);
        ck_assert_int_gt(r, 0);
        got += (uint32_t)r;
    }
    payload->len = n;
    close(pfd[0]);
    waitpid(pid, NULL, 0);
    return result;
}

/* other_uid_reply's answer as a code (0 for ok); the decoded reply in resp. */
static int other_uid_call(const proto_request *req, int *code_out)
{
    int rc = other_uid_reply(req, &rbuf);
    if (rc == 0 && proto_response_decode(rbuf.data, rbuf.len, &resp) != 0)
        rc = -2;
    *code_out = rc == 0 ? (resp.ok ? 0 : resp.code) : 0;
    return rc;
}

/* How many lines of the daemon's log contain needle. */
static int log_lines_with(const harness *hh, const char *needle)
{
    FILE *f = fopen(hh->log, "r");
    char line[2048];
    int n = 0;
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof(line), f) != NULL)
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

static void loosen_socket(void)
{
    char dir[256];
    snprintf(dir, sizeof(dir), "%s/run", h.dir);
    ck_assert_int_eq(chmod(h.dir, 0755), 0);
    ck_assert_int_eq(chmod(dir, 0755), 0);
    ck_assert_int_eq(chmod(h.socket, 0666), 0);
}

START_TEST(test_other_uid_denied)
{
    ck_assert_msg(geteuid() == 0, "this test needs root to act as another uid");
    start(HARNESS_KEYFILE, NULL);
    loosen_socket();
    int code;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(other_uid_call(NULL, &code), 0);
        ck_assert_int_eq(code, SKR_EDENIED);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    /* logged, but at most once a second (the socket may be open to every local user) */
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    int lines = log_lines_with(&h, "denied connection");
    ck_assert_int_ge(lines, 1);
    ck_assert_int_le(lines, 1 + ms / 1000);
}
END_TEST

START_TEST(test_policy_grant)
{
    ck_assert_msg(geteuid() == 0, "this test needs root to act as another uid");
    char conf[256];
    /* the config lives outside the harness folder, which is made by harness_start */
    snprintf(conf, sizeof(conf), "/tmp/skr-policy-%d.ini", (int)getpid());
    FILE *f = fopen(conf, "w");
    ck_assert_ptr_nonnull(f);
    fputs("[grant nobody]\nuid = 65534\nops = get, getDb, ping, status\nprotocols = shared, shared2\n", f);
    fclose(f);
    start(HARNESS_KEYFILE, (const char *const[]){ "--config", conf, NULL });
    unlink(conf);
    /* with grants the daemon opens the way itself: a folder others may only traverse, a
     * socket anyone may connect to (SO_PEERCRED and the grants decide); the test makes
     * only the harness's own folder traversable, as a user would their home */
    char run[256];
    struct stat st;
    snprintf(run, sizeof(run), "%s/run", h.dir);
    ck_assert_int_eq(stat(run, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0711);
    ck_assert_int_eq(stat(h.socket, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0666);
    ck_assert_int_eq(chmod(h.dir, 0711), 0);
    int fd = connect_ok();
    ck_assert_int_eq(call_write(fd, 1, PROTO_OP_POST, "shared", "svc", "ok"), 0);
    ck_assert_int_eq(call_write(fd, 2, PROTO_OP_POST, "private", "svc2", "no"), 0);
    ck_assert_int_eq(call_write(fd, 3, PROTO_OP_POST, "private", "svc", "no"), 0);
    ck_assert_int_eq(call_write(fd, 4, PROTO_OP_POST, "private", "dup", "no"), 0);
    ck_assert_int_eq(call_write(fd, 5, PROTO_OP_POST, "shared", "dup", "a"), 0);
    ck_assert_int_eq(call_write(fd, 6, PROTO_OP_POST, "shared2", "dup", "b"), 0);
    ck_assert_int_eq(call(fd, harness_req(7, PROTO_OP_GET, NULL, "dup")), SKR_EAMBIGUOUS);
    ck_assert_str_eq(error_protocols(), "private,shared,shared2"); /* the owner sees all */
    close(fd);

    int code;
    proto_request r = harness_req(1, PROTO_OP_GET, "shared", "svc");
    ck_assert_int_eq(other_uid_call(&r, &code), 0);
    ck_assert_int_eq(code, 0);
    r = harness_req(1, PROTO_OP_GET, NULL, "svc"); /* only its protocols are searched */
    ck_assert_int_eq(other_uid_call(&r, &code), 0);
    ck_assert_int_eq(code, 0);
    r = harness_req(1, PROTO_OP_GET, NULL, "svc2");
    ck_assert_int_eq(other_uid_call(&r, &code), 0);
    ck_assert_int_eq(code, SKR_ENOT_FOUND);
    r = harness_req(1, PROTO_OP_STATUS, NULL, NULL); /* no paths, nothing hub-wide */
    ck_assert_int_eq(other_uid_call(&r, &code), 0);
    ck_assert_int_eq(code, 0);
    proto_cur cur;
    uint32_t keys;
    cur = proto_cur_make(resp.result.ptr, resp.result.len);
    ck_assert_int_eq(proto_cur_map(&cur, &keys), 0);
    ck_assert_uint_eq(keys, 7);
    ck_assert_int_ne(harness_map_find(resp.result, "hub", &cur), 0);
    ck_assert_int_ne(harness_map_find(resp.result, "socket", &cur), 0);
    ck_assert_int_ne(harness_map_find(resp.result, "suite", &cur), 0);
    ck_assert_int_ne(harness_map_find(resp.result, "kdf", &cur), 0);
    r = harness_req(1, PROTO_OP_GET, NULL, "dup"); /* names only the granted holders */
    ck_assert_int_eq(other_uid_call(&r, &code), 0);
    ck_assert_int_eq(code, SKR_EAMBIGUOUS);
    ck_assert_str_eq(error_protocols(), "shared,shared2");
    ck_assert_ptr_null(strstr(error_message(), "private"));
    r = harness_req(1, PROTO_OP_GET, "private", "svc2");
    ck_assert_int_eq(other_uid_call(&r, &code), 0);
    ck_assert_int_eq(code, SKR_EDENIED);
    r = harness_req(1, PROTO_OP_GETDB, "private", NULL);
    ck_assert_int_eq(other_uid_call(&r, &code), 0);
    ck_assert_int_eq(code, SKR_EDENIED);
    r = harness_req(1, PROTO_OP_GETDB, "shared", NULL);
    ck_assert_int_eq(other_uid_call(&r, &code), 0);
    ck_assert_int_eq(code, 0);
    r = harness_req(1, PROTO_OP_GETHUB, NULL, NULL); /* not in its ops */
    ck_assert_int_eq(other_uid_call(&r, &code), 0);
    ck_assert_int_eq(code, SKR_EDENIED);
    r = harness_req(1, PROTO_OP_LOCK, NULL, NULL);
    ck_assert_int_eq(other_uid_call(&r, &code), 0);
    ck_assert_int_eq(code, SKR_EDENIED);
    r = harness_req(1, PROTO_OP_DELETE, "shared", "svc");
    ck_assert_int_eq(other_uid_call(&r, &code), 0);
    ck_assert_int_eq(code, SKR_EDENIED);
}
END_TEST

/* Runs a second sekretsd on socket/hub and returns its exit status. */
static int second_daemon(const char *socket, const char *hub)
{
    const char *bin = getenv("SEKRETSD");
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 2);
        execl(bin, bin, "--foreground", "--socket", socket, "--hub", hub,
              "--keyfile", h.keyfile, (char *)NULL);
        _exit(127);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    return WEXITSTATUS(status);
}

START_TEST(test_second_daemon_refused)
{
    start(HARNESS_KEYFILE, NULL);
    char other_hub[256], other_socket[256];
    snprintf(other_hub, sizeof(other_hub), "%s/hub2", h.dir);
    snprintf(other_socket, sizeof(other_socket), "%s/run/other.sock", h.dir);
    /* the same socket, another hub; then another socket, the same hub */
    ck_assert_int_eq(second_daemon(h.socket, other_hub), 4);
    ck_assert_int_ne(access(other_hub, F_OK), 0); /* refused before any hub was made */
    ck_assert_int_eq(second_daemon(other_socket, h.hub), 4);
    ck_assert_int_ne(access(other_socket, F_OK), 0);
    int fd = connect_ok();
    ck_assert_int_eq(call(fd, harness_req(1, PROTO_OP_PING, NULL, NULL)), 0);
    close(fd);
}
END_TEST

START_TEST(test_sigkill_keeps_acknowledged_writes)
{
    start(HARNESS_KEYFILE, NULL);
    int fd = connect_ok();
    char name[32];
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof(name), "user%d", i);
        ck_assert_int_eq(call_write(fd, (uint32_t)i + 1, PROTO_OP_PUT, "burst", name, name), 0);
    }
    close(fd);
    harness_kill(&h, SIGKILL);
    ck_assert_int_eq(harness_restart(&h, HARNESS_KEYFILE, NULL), 0);
    fd = connect_ok();
    for (int i = 0; i < 200; i++) {
        char pw[32];
        snprintf(name, sizeof(name), "user%d", i);
        get_password(fd, "burst", name, pw, sizeof(pw));
        ck_assert_str_eq(pw, name);
    }
    close(fd);
}
END_TEST

/* The hub's `rec` database with the daemon stopped: want_one copies its single entry into
 * k/v (malloc'ed); otherwise v is written at k. */
static void hub_rec(bool want_one, MDB_val *k, MDB_val *v)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_stat st;
    MDB_cursor *c;
    MDB_val kk, vv;

    ck_assert_int_eq(mdb_env_create(&env), 0);
    ck_assert_int_eq(mdb_env_set_maxdbs(env, 8), 0);
    ck_assert_int_eq(mdb_env_open(env, h.hub, 0, 0600), 0);
    ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, "rec", 0, &dbi), 0);
    if (want_one) {
        ck_assert_int_eq(mdb_stat(txn, dbi, &st), 0);
        ck_assert_uint_eq(st.ms_entries, 1);
        ck_assert_int_eq(mdb_cursor_open(txn, dbi, &c), 0);
        ck_assert_int_eq(mdb_cursor_get(c, &kk, &vv, MDB_FIRST), 0);
        *k = (MDB_val){ kk.mv_size, malloc(kk.mv_size) };
        *v = (MDB_val){ vv.mv_size, malloc(vv.mv_size) };
        memcpy(k->mv_data, kk.mv_data, kk.mv_size);
        memcpy(v->mv_data, vv.mv_data, vv.mv_size);
        mdb_cursor_close(c);
    } else {
        ck_assert_int_eq(mdb_put(txn, dbi, k, v, 0), 0);
    }
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

/* An older value of a credential put back into data.mdb (a replace keeps its place, so
 * only the version tells them apart): the daemon answers `integrity` for it, on both
 * kinds of get, and serves the rest. */
START_TEST(test_rollback_integrity)
{
    char pw[32];
    MDB_val k, old;

    start(HARNESS_KEYFILE, NULL);
    int fd = connect_ok();
    ck_assert_int_eq(call_write(fd, 1, PROTO_OP_PUT, "rb", "one", "first"), 0);
    close(fd);
    harness_kill(&h, SIGTERM); /* checkpointed at exit */
    hub_rec(true, &k, &old);
    ck_assert_int_eq(harness_restart(&h, HARNESS_KEYFILE, NULL), 0);
    fd = connect_ok();
    ck_assert_int_eq(call_write(fd, 2, PROTO_OP_PUT, "rb", "one", "second"), 0);
    ck_assert_int_eq(call_write(fd, 3, PROTO_OP_POST, "rb", "two", "other"), 0);
    close(fd);
    harness_kill(&h, SIGTERM);
    hub_rec(false, &k, &old);
    ck_assert_int_eq(harness_restart(&h, HARNESS_KEYFILE, NULL), 0);
    fd = connect_ok();
    ck_assert_int_eq(call(fd, harness_req(4, PROTO_OP_GET, "rb", "one")), SKR_EINTEGRITY);
    ck_assert_int_eq(call(fd, harness_req(5, PROTO_OP_GET, NULL, "one")), SKR_EINTEGRITY);
    get_password(fd, "rb", "two", pw, sizeof(pw));
    ck_assert_str_eq(pw, "other");
    close(fd);
    free(k.mv_data);
    free(old.mv_data);
}
END_TEST

/* Group commit: pipelined writes and reads on one connection see their own writes in
 * order, and several connections writing at once all land, durably. */
START_TEST(test_group_commit)
{
    start(HARNESS_KEYFILE, NULL);
    enum { CONNS = 4, EACH = 100 };
    int fds[CONNS];
    proto_buf out = PROTO_BUF_INIT, body = PROTO_BUF_INIT;
    for (int c = 0; c < CONNS; c++) {
        fds[c] = connect_ok();
        proto_buf_reset(&out);
        for (int i = 0; i < EACH; i++) {
            char name[32], pw[32];
            snprintf(name, sizeof(name), "c%d-u%d", c, i);
            snprintf(pw, sizeof(pw), "pw-%d-%d", c, i);
            proto_request put = harness_req((uint32_t)(2 * i), PROTO_OP_PUT, "gc", name);
            put.body = body_of(&body, pw, i);
            put.fields |= PROTO_F_BODY;
            ck_assert_int_eq(proto_request_encode(&out, &put, PROTO_MAX_FRAME_DEFAULT), 0);
            proto_request get = harness_req((uint32_t)(2 * i + 1), PROTO_OP_GET, "gc", name);
            ck_assert_int_eq(proto_request_encode(&out, &get, PROTO_MAX_FRAME_DEFAULT), 0);
        }
        ck_assert_int_eq(harness_send(fds[c], out.data, out.len), 0);
    }
    for (int c = 0; c < CONNS; c++) {
        for (int i = 0; i < 2 * EACH; i++) {
            ck_assert_int_eq(harness_recv(fds[c], &rbuf), 0);
            ck_assert_int_eq(proto_response_decode(rbuf.data, rbuf.len, &resp), 0);
            ck_assert_uint_eq(resp.id, (uint32_t)i);
            ck_assert_msg(resp.ok, "request %d of connection %d failed", i, c);
            if (i % 2 == 1) { /* the get right after its put sees it */
                char want[32], got[32];
                proto_cur cur;
                snprintf(want, sizeof(want), "pw-%d-%d", c, i / 2);
                ck_assert_int_eq(harness_map_find(resp.result, "body", &cur), 0);
                proto_span b = { cur.p, (uint32_t)(cur.end - cur.p) };
                ck_assert_int_eq(harness_map_str(b, "password", got, sizeof(got)), 0);
                ck_assert_str_eq(got, want);
            }
        }
        close(fds[c]);
    }
    proto_buf_free(&out);
    proto_buf_free(&body);
    /* acknowledged means durable: a SIGKILL loses none of them */
    harness_kill(&h, SIGKILL);
    ck_assert_int_eq(harness_restart(&h, HARNESS_KEYFILE, NULL), 0);
    int fd = connect_ok();
    ck_assert_int_eq(call(fd, harness_req(1, PROTO_OP_GETDB, "gc", NULL)), 0);
    proto_cur cur;
    uint32_t n;
    ck_assert_int_eq(harness_map_find(resp.result, "names", &cur), 0);
    ck_assert_int_eq(proto_cur_array(&cur, &n), 0);
    ck_assert_uint_eq(n, CONNS * EACH);
    char pw[32];
    get_password(fd, "gc", "c3-u99", pw, sizeof(pw));
    ck_assert_str_eq(pw, "pw-3-99");
    close(fd);
}
END_TEST

/* KiB of the daemon's map of its data.mdb resident in its memory (/proc/PID/smaps). */
static long daemon_map_rss_kb(void)
{
    long kb = smaps_rss_kb((int)h.pid, "/data.mdb");
    ck_assert_int_ge(kb, 0);
    return kb;
}

/* 2,000 puts pipelined on one connection, all answered ok. */
static void put_round(const char *tag)
{
    int fd = connect_ok();
    proto_buf out = PROTO_BUF_INIT, body = PROTO_BUF_INIT;
    for (int i = 0; i < 2000; i++) {
        char name[32];
        snprintf(name, sizeof(name), "u%d", i);
        proto_request put = harness_req((uint32_t)i, PROTO_OP_PUT, "trim", name);
        put.body = body_of(&body, tag, i);
        put.fields |= PROTO_F_BODY;
        ck_assert_int_eq(proto_request_encode(&out, &put, PROTO_MAX_FRAME_DEFAULT), 0);
    }
    ck_assert_int_eq(harness_send(fd, out.data, out.len), 0);
    for (int i = 0; i < 2000; i++) {
        ck_assert_int_eq(harness_recv(fd, &rbuf), 0);
        ck_assert_int_eq(proto_response_decode(rbuf.data, rbuf.len, &resp), 0);
        ck_assert_msg(resp.ok && resp.id == (uint32_t)i, "put %d failed", i);
    }
    close(fd);
    proto_buf_free(&out);
    proto_buf_free(&body);
}

/* Once writes stop, the daemon gives back the data file's pages the puts mapped (their
 * B-tree descents read them through LMDB's map) by reopening the hub: polled, at most
 * 10 s. Without that a hub just written stayed several times bigger than after a restart. */
START_TEST(test_trim_after_writes)
{
    start(HARNESS_KEYFILE, NULL);
    put_round("first");
    harness_kill(&h, SIGTERM); /* checkpointed at exit; the restart maps nothing of it */
    ck_assert_int_eq(harness_restart(&h, HARNESS_KEYFILE, NULL), 0);
    put_round("second"); /* updates: each descent reads the first round's pages by the map */
    long rss = daemon_map_rss_kb();
    for (int i = 0; i < 200 && rss > 256; i++) {
        struct timespec ts = { 0, 50 * 1000 * 1000 };
        nanosleep(&ts, NULL);
        rss = daemon_map_rss_kb();
    }
    ck_assert_int_le(rss, 256);
    int fd = connect_ok();
    char pw[32];
    get_password(fd, "trim", "u1999", pw, sizeof(pw));
    ck_assert_str_eq(pw, "second");
    ck_assert_int_eq(call_write(fd, 9, PROTO_OP_PUT, "trim", "after", "third"), 0);
    get_password(fd, "trim", "after", pw, sizeof(pw));
    ck_assert_str_eq(pw, "third");
    close(fd);
}
END_TEST

START_TEST(test_sigterm_clean_exit)
{
    start(HARNESS_KEYFILE, NULL);
    harness_kill(&h, SIGTERM);
    ck_assert(WIFEXITED(h.exit_status));
    ck_assert_int_eq(WEXITSTATUS(h.exit_status), 0);
    ck_assert_int_eq(access(h.socket, F_OK), -1);
    ck_assert_int_eq(errno, ENOENT);
}
END_TEST

/* A second signal while the daemon stops is caught ("still stopping"), not left to its
 * default action (which would kill it before its checkpoint). A client that does not read
 * its replies keeps the stop waiting long enough to send one. */
START_TEST(test_second_signal_while_stopping)
{
    /* the client that does not read is dropped after the write timeout: far off here */
    start(HARNESS_KEYFILE, (const char *const[]){ "--write-timeout", "120000", NULL });
    int fd = connect_ok();
    static char big[60000];
    memset(big, 'x', sizeof(big) - 1);
    ck_assert_int_eq(call_write(fd, 1, PROTO_OP_POST, "p", "n", big), 0);
    proto_buf req = PROTO_BUF_INIT;
    proto_request get = harness_req(2, PROTO_OP_GET, "p", "n");
    ck_assert_int_eq(proto_request_encode(&req, &get, PROTO_MAX_FRAME_LIMIT), 0);
    for (int i = 0; i < 40; i++) /* 2.4 MB of replies owed, none read */
        ck_assert_int_eq(harness_send(fd, req.data, req.len), 0);
    proto_buf_free(&req);
    usleep(200000);
    ck_assert_int_eq(kill(h.pid, SIGTERM), 0);
    for (int i = 0; i < 500 && !harness_log_contains(&h, "received SIGTERM: stopping"); i++)
        usleep(10000);
    usleep(200000); /* the first stop has run: its loop turn is over */
    ck_assert_int_eq(kill(h.pid, SIGINT), 0);
    for (int i = 0; i < 500 && !harness_log_contains(&h, "received SIGINT again"); i++)
        usleep(10000);
    ck_assert(harness_log_contains(&h, "received SIGINT again: still stopping"));
    ck_assert_int_eq(waitpid(h.pid, &h.exit_status, WNOHANG), 0); /* still waiting for us */
    close(fd);
    harness_kill(&h, 0); /* reaps it: the stop ends once the client is gone */
    ck_assert(WIFEXITED(h.exit_status));
    ck_assert_int_eq(WEXITSTATUS(h.exit_status), 0);
    ck_assert(harness_log_contains(&h, "stopped"));
}
END_TEST

START_TEST(test_reply_too_large)
{
    start(HARNESS_KEYFILE, (const char *const[]){ "--max-frame", "1024", NULL });
    int fd = connect_ok();
    char name[64];
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof(name), "a-rather-long-user-name-number-%d", i);
        ck_assert_int_eq(call_write(fd, (uint32_t)i + 1, PROTO_OP_POST, "big", name, "x"), 0);
    }
    ck_assert_int_eq(call(fd, harness_req(100, PROTO_OP_GETDB, "big", NULL)), SKR_ETOO_LARGE);
    ck_assert_int_eq(call(fd, harness_req(101, PROTO_OP_PING, NULL, NULL)), 0);
    close(fd);
}
END_TEST

START_TEST(test_audit_log_has_no_body)
{
    start(HARNESS_KEYFILE, NULL);
    int fd = connect_ok();
    ck_assert_int_eq(call_write(fd, 1, PROTO_OP_POST, "mail", "erin", "MARKER-SECRET-4242"), 0);
    char pw[64];
    get_password(fd, "mail", "erin", pw, sizeof(pw));
    close(fd);
    harness_kill(&h, SIGTERM);
    ck_assert(harness_log_contains(&h, "op=get protocol=\"mail\" name=\"erin\" result=ok"));
    ck_assert(!harness_log_contains(&h, "MARKER-SECRET-4242"));
}
END_TEST

START_TEST(test_bad_startup)
{
    /* a socket folder open to others is refused with exit code 3 */
    char dir[] = "/tmp/skr-bad-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char sock[128], hub[128];
    snprintf(sock, sizeof(sock), "%s/run/s.sock", dir);
    snprintf(hub, sizeof(hub), "%s/hub", dir);
    char run[128];
    snprintf(run, sizeof(run), "%s/run", dir);
    ck_assert_int_eq(mkdir(run, 0777), 0);
    ck_assert_int_eq(chmod(run, 0777), 0);
    const char *bin = getenv("SEKRETSD");
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 2);
        execl(bin, bin, "--foreground", "--socket", sock, "--hub", hub, (char *)NULL);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 3);
    ck_assert_int_ne(access(hub, F_OK), 0); /* the socket folder is checked before the hub */
    /* an unknown option is a usage error, exit 2 */
    pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 2);
        execl(bin, bin, "--no-such-option", (char *)NULL);
        _exit(127);
    }
    waitpid(pid, &status, 0);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 2);
    /* a hub path that is a regular file is refused like a hub folder of the wrong kind:
     * exit 3, not a runtime error */
    ck_assert_int_eq(chmod(run, 0700), 0);
    int f = open(hub, O_WRONLY | O_CREAT | O_EXCL, 0600);
    ck_assert_int_ge(f, 0);
    close(f);
    pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 2);
        execl(bin, bin, "--foreground", "--socket", sock, "--hub", hub, (char *)NULL);
        _exit(127);
    }
    waitpid(pid, &status, 0);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 3);
    ck_assert_int_ne(access(sock, F_OK), 0); /* the socket it bound is removed again */
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* Runs sekretsd on DIR/run/s.sock with a throwaway hub (and an optional config) and
 * returns its exit code, or -1 when it started (its socket appeared, or it still ran after
 * 10 s): it is then killed. */
static int refused_start(const char *dir, const char *conf)
{
    char sock[160], hub[160], log[160];
    snprintf(sock, sizeof(sock), "%s/run/s.sock", dir);
    snprintf(hub, sizeof(hub), "%s/hub", dir);
    snprintf(log, sizeof(log), "%s/daemon.log", dir); /* each start's own log */
    const char *bin = getenv("SEKRETSD");
    pid_t pid = fork();
    if (pid == 0) {
        int out = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(out, 2);
        if (conf != NULL)
            execl(bin, bin, "--foreground", "--socket", sock, "--hub", hub, "--config", conf,
                  (char *)NULL);
        else
            execl(bin, bin, "--foreground", "--socket", sock, "--hub", hub, (char *)NULL);
        _exit(127);
    }
    int status;
    /* until it exits, or its socket appears (it started), for at most 10 s */
    for (int i = 0; i < 1000 && waitpid(pid, &status, WNOHANG) == 0 && access(sock, F_OK) != 0;
         i++)
        usleep(10000);
    if (kill(pid, 0) == 0 && waitpid(pid, &status, WNOHANG) == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        (void)unlink(sock); /* killed: it could not remove its socket */
        return -1;
    }
    ck_assert(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* The last start's log (refused_start) holds needle. */
static bool start_log_has(const char *dir, const char *needle)
{
    char log[160], text[4096];
    snprintf(log, sizeof(log), "%s/daemon.log", dir);
    FILE *f = fopen(log, "r");
    size_t n = f != NULL ? fread(text, 1, sizeof(text) - 1, f) : 0;
    if (f != NULL)
        fclose(f);
    text[n] = '\0';
    return strstr(text, needle) != NULL;
}

static char mode_dir[] = "/tmp/skr-mode-XXXXXX";

static void mode_dir_remove(void)
{
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", mode_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", mode_dir);
}

/* The socket folder: 0700 without grants; with grants others may traverse it, no more. */
START_TEST(test_socket_folder_modes)
{
    char run[160], conf[160];
    ck_assert_ptr_nonnull(mkdtemp(mode_dir));
    snprintf(run, sizeof(run), "%s/run", mode_dir);
    snprintf(conf, sizeof(conf), "%s/grants.ini", mode_dir);
    FILE *f = fopen(conf, "w");
    ck_assert_ptr_nonnull(f);
    fputs("[grant nobody]\nuid = 65534\nprotocols = shared\n", f);
    fclose(f);
    ck_assert_int_eq(mkdir(run, 0700), 0);
    ck_assert_int_eq(chmod(run, 0711), 0);
    ck_assert_int_eq(refused_start(mode_dir, NULL), 3); /* traversable, and no grant needs it */
    ck_assert(start_log_has(mode_dir, "is open to group/others (mode 711): chmod 700 it"));
    char hub[160];
    snprintf(hub, sizeof(hub), "%s/hub", mode_dir);
    ck_assert_int_ne(access(hub, F_OK), 0); /* a refused start leaves no hub behind */
    ck_assert_int_eq(refused_start(mode_dir, conf), -1); /* with grants it starts (killed) */
    ck_assert_int_eq(chmod(run, 0755), 0);
    ck_assert_int_eq(refused_start(mode_dir, conf), 3); /* listable: refused even so */
    ck_assert(start_log_has(mode_dir, "is open to group/others (mode 755): chmod 711 it"));
    ck_assert_int_eq(chmod(run, 0731), 0);
    ck_assert_int_eq(refused_start(mode_dir, conf), 3); /* writable by the group */
    ck_assert(start_log_has(mode_dir, "(mode 731): chmod 711 it"));
    ck_assert_int_eq(rmdir(run), 0);
    ck_assert_int_eq(symlink("/tmp", run), 0); /* a symlink is neither followed nor changed */
    ck_assert_int_eq(refused_start(mode_dir, conf), 3);
    ck_assert(start_log_has(mode_dir, "is not a directory"));
    mode_dir_remove(); /* a failed check leaves the folder to look at */
}
END_TEST

static Suite *daemon_suite(void)
{
    Suite *s = suite_create("sekretsd");
    struct { const char *name; const TTest *t; } tests[] = {
        { "new_hub_init", test_new_hub_init },
        { "status_fields", test_status_fields },
        { "crud", test_crud },
        { "post_put_times", test_post_put_times },
        { "request_errors", test_request_errors },
        { "pipelining_1000", test_pipelining_1000 },
        { "bad_frames", test_bad_frames },
        { "half_frame", test_half_frame_does_not_block },
        { "500_connections", test_500_connections },
        { "max_clients_busy", test_max_clients_busy },
        { "lock_unlock_passwd_rate_limit", test_lock_unlock_passwd_rate_limit },
        { "keyfile_hub_lock_unlock", test_keyfile_hub_lock_unlock },
        { "unlock_serves_while_mirror_builds", test_unlock_serves_while_mirror_builds },
        { "commit_inside_a_pipeline", test_commit_inside_a_pipeline },
        { "keyfile_start_builds_mirror", test_keyfile_start_builds_mirror },
        { "passwd_rotate", test_passwd_rotate },
        { "idle_lock", test_idle_lock },
        { "other_uid_denied", test_other_uid_denied },
        { "policy_grant", test_policy_grant },
        { "second_daemon_refused", test_second_daemon_refused },
        { "sigkill_keeps_writes", test_sigkill_keeps_acknowledged_writes },
        { "group_commit", test_group_commit },
        { "rollback_integrity", test_rollback_integrity },
        { "trim_after_writes", test_trim_after_writes },
        { "sigterm_clean_exit", test_sigterm_clean_exit },
        { "second_signal_while_stopping", test_second_signal_while_stopping },
        { "reply_too_large", test_reply_too_large },
        { "audit_log_has_no_body", test_audit_log_has_no_body },
        { "bad_startup", test_bad_startup },
        { "socket_folder_modes", test_socket_folder_modes },
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
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 2048) {
        rl.rlim_cur = rl.rlim_max < 2048 ? rl.rlim_max : 2048;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    SRunner *sr = srunner_create(daemon_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
