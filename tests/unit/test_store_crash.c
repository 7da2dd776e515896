/*
 * tests/unit/test_store_crash.c - the encrypted hub (daemon/store), crash consistency: a
 * child SIGKILLed in a stream of posts or of batches loses nothing that was acknowledged.
 *
 * Shared fixture and helpers: store_fixture.h.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store_fixture.h"

/* Reads the numbers the child acknowledged until `want` of them, SIGKILLs it, reads what
 * was already on the way, and reaps it. Returns how many were acknowledged. */
static size_t read_acks_then_kill(int fd, pid_t pid, uint64_t *acked, size_t cap, size_t want)
{
    size_t n = 0;
    int st;

    while (n < cap && read(fd, &acked[n], 8) == 8) {
        if (++n == want)
            ck_assert_int_eq(kill(pid, SIGKILL), 0);
    }
    close(fd);
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child status %d", st);
    ck_assert_uint_ge(n, want);
    return n;
}

/* Every acknowledged post of the crash tests is in the hub, with its body. */
static void expect_acked(store *s, const uint64_t *acked, size_t n)
{
    char name[32], body[32];

    for (size_t j = 0; j < n; j++) {
        snprintf(name, sizeof name, "crash-%" PRIu64, acked[j]);
        snprintf(body, sizeof body, "body-%" PRIu64, acked[j]);
        expect_body(s, "crash", name, body);
    }
}

static void crash_round(int round, uint64_t *acked_total)
{
    uint64_t acked[4096], i, np, nc, base = (uint64_t)round * 100000;
    size_t n, want = 20 + randombytes_uniform(150);
    char name[32], body[32];
    int fds[2];
    store *s;
    pid_t pid;

    ck_assert_int_eq(pipe(fds), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char err[STORE_ERRMSG_MAX];
        close(fds[0]);
        if (store_open(g_hub, &s, err) != 0 || store_unlock(s, g_kek) != 0)
            _exit(3);
        for (i = base; i < base + 100000; i++) {
            snprintf(name, sizeof name, "crash-%" PRIu64, i);
            snprintf(body, sizeof body, "body-%" PRIu64, i);
            if (store_post(s, "crash", name, (const uint8_t *)body, strlen(body)) != 0)
                _exit(4);
            if (write(fds[1], &i, sizeof i) != sizeof i) /* acknowledged */
                _exit(5);
        }
        _exit(6);
    }
    close(fds[1]);
    n = read_acks_then_kill(fds[0], pid, acked, sizeof acked / sizeof acked[0], want);
    s = open_hub();
    ck_assert_int_eq(store_unlock(s, g_kek), 0);
    for (size_t j = 0; j < n; j++)
        ck_assert_uint_eq(acked[j], base + j);
    expect_acked(s, acked, n);
    /* At most one write committed but not yet acknowledged when the child died. */
    ck_assert_int_eq(store_stats(s, &np, &nc), 0);
    ck_assert_uint_ge(nc, *acked_total + n);
    ck_assert_uint_le(nc, *acked_total + n + 1);
    *acked_total = nc;
    store_close(s);
}

START_TEST(test_crash)
{
    uint64_t total = 0;
    store *s = new_hub();

    store_close(s);
    for (int round = 0; round < 6; round++)
        crash_round(round, &total);
    ck_assert_uint_ge(total, 6 * 20);
}
END_TEST

/* SIGKILL in the middle of a stream of batches: every batch whose commit returned is in
 * the hub, and at most the one in flight besides. */
START_TEST(test_journal_crash)
{
    store *s = new_hub();
    uint64_t total = 0, np, nc;

    store_close(s);
    for (int round = 0; round < 6; round++) {
        uint64_t acked[8192];
        size_t n, want = 5 + randombytes_uniform(60);
        char name[32], body[32];
        int fds[2];
        pid_t pid;

        ck_assert_int_eq(pipe(fds), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            uint64_t i = (uint64_t)round * 1000000;
            close(fds[0]);
            s = open_hub();
            if (store_unlock(s, g_kek) != 0)
                _exit(3);
            for (;;) {
                uint64_t first = i, size = 1 + randombytes_uniform(40);
                if (store_batch_begin(s) != 0)
                    _exit(4);
                for (; i < first + size; i++) {
                    snprintf(name, sizeof name, "crash-%" PRIu64, i);
                    snprintf(body, sizeof body, "body-%" PRIu64, i);
                    if (store_post(s, "crash", name, (const uint8_t *)body, strlen(body)) != 0)
                        _exit(5);
                }
                if (store_batch_commit(s) != 0)
                    _exit(6);
                for (uint64_t j = first; j < i; j++) /* acknowledged */
                    if (write(fds[1], &j, sizeof j) != sizeof j)
                        _exit(7);
            }
        }
        close(fds[1]);
        n = read_acks_then_kill(fds[0], pid, acked, sizeof acked / sizeof acked[0], want);
        s = reopen(open_hub());
        expect_acked(s, acked, n);
        /* At most one batch (40 posts) synced but not yet acknowledged. */
        ck_assert_int_eq(store_stats(s, &np, &nc), 0);
        ck_assert_uint_ge(nc, total + n);
        ck_assert_uint_le(nc, total + n + 40);
        total = nc;
        store_close(s);
    }
}
END_TEST

int main(void)
{
    Suite *su = suite_create("store_crash");
    TCase *tc;

    tc = fixture_tcase("durability", setup_disk, 60);
    tcase_add_test(tc, test_crash);
    suite_add_tcase(su, tc);
    tc = fixture_tcase("journal", setup_disk, 60);
    tcase_add_test(tc, test_journal_crash);
    suite_add_tcase(su, tc);
    return fixture_run(su);
}
