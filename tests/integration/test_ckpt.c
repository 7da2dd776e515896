/* sekretsd with checkpoints committed off its loop: requests pipelined behind the batch
 * that makes a checkpoint due (64 KiB bodies: the journal passes 4 MiB every ~64 puts)
 * arrive while the commit runs; those that need LMDB (puts, getDb, status, a get of a
 * missing name) wait for it and are answered after it, in request order, with the right
 * results; gets the mirror holds are answered meanwhile. A restart (SIGKILL too) keeps
 * every acknowledged put. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "frame.h"
#include "harness.h"
#include "sekrets/error.h"

#define NPUT  300
#define BODY  60000 /* a bin body: with its framing just under 64 KiB */

static harness h;
static proto_buf rbuf;
static proto_response resp;

static void teardown(void)
{
    proto_buf_free(&rbuf);
    harness_stop(&h);
}

/* The packed body of put i (generation gen): a msgpack bin whose bytes name both. */
static proto_span body_of(proto_buf *b, int i, int gen)
{
    proto_buf_reset(b);
    ck_assert_int_eq(proto_buf_reserve(b, BODY + 5), 0);
    b->data[0] = 0xc6;
    proto_put_be32(b->data + 1, BODY);
    memset(b->data + 5, 'a' + (i + gen) % 26, BODY);
    snprintf((char *)b->data + 5, 32, "put-%d-gen-%d", i, gen);
    b->len = BODY + 5;
    return (proto_span){ b->data, b->len };
}

static void name_of(int i, char name[32])
{
    snprintf(name, 32, "n%d", i);
}

/* Request k of the pipeline: for put i, [put i, get i, getDb (i + 1 names), status]. */
enum { PER = 4 };

static void encode_all(proto_buf *out, int gen)
{
    proto_buf body = PROTO_BUF_INIT;
    char name[32];

    for (int i = 0; i < NPUT; i++) {
        uint32_t id = (uint32_t)(i * PER);
        name_of(i, name);
        proto_request put = harness_req(id, PROTO_OP_PUT, "big", name);
        put.body = body_of(&body, i, gen);
        put.fields |= PROTO_F_BODY;
        proto_request get = harness_req(id + 1, PROTO_OP_GET, "big", name);
        proto_request getdb = harness_req(id + 2, PROTO_OP_GETDB, "big", NULL);
        proto_request status = harness_req(id + 3, PROTO_OP_STATUS, NULL, NULL);
        ck_assert_int_eq(proto_request_encode(out, &put, PROTO_MAX_FRAME_DEFAULT), 0);
        ck_assert_int_eq(proto_request_encode(out, &get, PROTO_MAX_FRAME_DEFAULT), 0);
        ck_assert_int_eq(proto_request_encode(out, &getdb, PROTO_MAX_FRAME_DEFAULT), 0);
        ck_assert_int_eq(proto_request_encode(out, &status, PROTO_MAX_FRAME_DEFAULT), 0);
    }
    proto_buf_free(&body);
}

/* Counts the names of a getDb result and checks the last is n<last>. */
static void expect_names(proto_span result, uint64_t want)
{
    proto_cur a;
    uint32_t n, len = 0;
    const char *s = NULL;
    char last[32];

    ck_assert_int_eq(harness_map_find(result, "names", &a), 0);
    ck_assert_int_eq(proto_cur_array(&a, &n), 0);
    ck_assert_uint_eq(n, want);
    for (uint32_t k = 0; k < n; k++)
        ck_assert_int_eq(proto_cur_str(&a, &s, &len), 0);
    name_of((int)want - 1, last);
    ck_assert_uint_eq(len, strlen(last));
    ck_assert_mem_eq(s, last, len);
}

/* Reads the NPUT * PER replies: each in order, each with the result its place implies. */
static void expect_all(int fd, int gen)
{
    proto_buf body = PROTO_BUF_INIT;
    proto_cur c;
    uint64_t count;
    bool created;

    for (int i = 0; i < NPUT; i++) {
        for (int k = 0; k < PER; k++) {
            uint32_t id = (uint32_t)(i * PER + k);
            ck_assert_int_eq(harness_recv(fd, &rbuf), 0);
            ck_assert_int_eq(proto_response_decode(rbuf.data, rbuf.len, &resp), 0);
            ck_assert_msg(resp.id == id, "reply %u where %u was due", resp.id, id);
            ck_assert_msg(resp.ok, "request %u failed: %d", id, resp.code);
            if (k == 0) {
                ck_assert_int_eq(harness_map_bool(resp.result, "created", &created), 0);
                ck_assert(created == (gen == 1));
            } else if (k == 1) {
                proto_span want = body_of(&body, i, gen);
                ck_assert_int_eq(harness_map_find(resp.result, "body", &c), 0);
                ck_assert_uint_ge((size_t)(c.end - c.p), want.len);
                ck_assert_mem_eq(c.p, want.ptr, want.len);
            } else if (k == 2) {
                expect_names(resp.result, gen == 1 ? (uint64_t)i + 1 : NPUT);
            } else {
                ck_assert_int_eq(harness_map_uint(resp.result, "credentials", &count), 0);
                ck_assert_uint_eq(count, gen == 1 ? (uint64_t)i + 1 : NPUT);
            }
        }
    }
    proto_buf_free(&body);
}

static void round_trip(int gen)
{
    proto_buf out = PROTO_BUF_INIT;
    int fd = harness_connect(&h);

    ck_assert_int_ge(fd, 0);
    encode_all(&out, gen);
    /* sent by a child while this process reads: the daemon stops reading a client that
     * leaves its replies unread */
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(harness_send(fd, out.data, out.len) == 0 ? 0 : 1);
    expect_all(fd, gen);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    close(fd);
    proto_buf_free(&out);
}

START_TEST(test_pipeline_across_checkpoints)
{
    const char *const args[] = { "--log-level", "debug", NULL };
    ck_assert_int_eq(harness_start(&h, HARNESS_KEYFILE, args), 0);
    round_trip(1); /* creates NPUT records: ~18 MiB of journal, several checkpoints */
    round_trip(2); /* replaces each */
    /* the commits ran off the loop, and requests did arrive while one ran */
    ck_assert(harness_log_contains(&h, "checkpoint committed off the loop"));
    ck_assert(harness_log_contains(&h, "(1 connections waited for it)"));
    /* and batches' records were written on the store's writer thread, replies held */
    ck_assert(harness_log_contains(&h, "a batch's journal record is written off the loop"));
    ck_assert(harness_log_contains(&h, "a batch's journal record is queued behind one in flight"));
    harness_kill(&h, SIGKILL); /* what the journal holds is replayed */
    ck_assert_int_eq(harness_restart(&h, HARNESS_KEYFILE, NULL), 0);
    int fd = harness_connect(&h);
    proto_buf body = PROTO_BUF_INIT;
    char name[32];
    for (int i = 0; i < NPUT; i++) {
        name_of(i, name);
        proto_request get = harness_req((uint32_t)i, PROTO_OP_GET, "big", name);
        ck_assert_int_eq(harness_call(fd, &get, &rbuf, &resp), 0);
        ck_assert_msg(resp.ok, "get %d after the restart: %d", i, resp.code);
        proto_cur c;
        proto_span want = body_of(&body, i, 2);
        ck_assert_int_eq(harness_map_find(resp.result, "body", &c), 0);
        ck_assert_uint_ge((size_t)(c.end - c.p), want.len);
        ck_assert_mem_eq(c.p, want.ptr, want.len);
    }
    close(fd);
    proto_buf_free(&body);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("ckpt");
    TCase *tc = tcase_create("ckpt");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_pipeline_across_checkpoints);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
