/*
 * tests/unit/test_store_ckpt.c - checkpoints committed on the store's thread
 * (daemon/store/store_ckpt.c): while the commit runs, a get the mirror holds is served and
 * everything that needs LMDB is refused with STORE_ECHECKPOINT (having done nothing) or
 * waits for the commit; after it, the same calls give the right results; lock and close
 * during a commit wait for it; a crash while it is in flight loses no committed batch.
 * The commit is made slow with store_test_set_ckpt_delay, so that the test acts while it
 * runs (store_checkpoint_running says so: no timing is asserted).
 */
#include <check.h>
#include <fcntl.h>
#include <sodium.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sekrets/error.h"
#include "store.h"
#include "store_test.h"

#define NREC  200
#define DELAY 400 /* ms the commit thread sleeps first: far longer than the test's calls */

static char g_tmp[256];
static char g_hub[300];
static store_kdf g_kdf;
static uint8_t g_kek[STORE_KEY_BYTES];
static int g_pipe[2]; /* the notify function writes a byte here */

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st; (void)flag; (void)f;
    return remove(p);
}

static void setup(void)
{
    snprintf(g_tmp, sizeof g_tmp, "/tmp/skr-ckpt-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_tmp));
    snprintf(g_hub, sizeof g_hub, "%s/hub", g_tmp);
    store_test_set_ckpt_delay(0);
    store_test_crash_at(0);
    ck_assert_int_eq(pipe(g_pipe), 0);
    ck_assert_int_eq(store_kdf_new(&g_kdf, STORE_KDF_ARGON2ID, crypto_pwhash_OPSLIMIT_MIN,
                                   crypto_pwhash_MEMLIMIT_MIN), 0);
    ck_assert_int_eq(store_kdf_derive(&g_kdf, (const uint8_t *)"pw", 2, g_kek), 0);
}

static void teardown(void)
{
    close(g_pipe[0]);
    close(g_pipe[1]);
    nftw(g_tmp, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Called on the checkpoint thread. */
static void notify(void *arg)
{
    ssize_t n = write(*(int *)arg, "x", 1);
    (void)n;
}

static store *open_hub(void)
{
    char err[STORE_ERRMSG_MAX];
    store *s = NULL;

    ck_assert_msg(store_open(g_hub, &s, err) == 0, "open: %s", err);
    return s;
}

static store *unlocked(void)
{
    store *s = open_hub();

    if (!store_is_initialized(s))
        ck_assert_int_eq(store_init(s, &g_kdf, g_kek), 0);
    else
        ck_assert_int_eq(store_unlock(s, g_kek), 0);
    while (store_mirror_step(s, 100000))
        ;
    return s;
}

static void name_of(int i, char name[32], char body[48], int gen)
{
    snprintf(name, 32, "name-%d", i);
    snprintf(body, 48, "body-%d-gen-%d", i, gen);
}

/* Records from..to (generation gen) put in one group-commit batch, committed (durable in
 * the journal, the LMDB side in the checkpoint txn). */
static void put_batch(store *s, int from, int to, int gen)
{
    char name[32], body[48];

    ck_assert_int_eq(store_batch_begin(s), 0);
    for (int i = from; i < to; i++) {
        name_of(i, name, body, gen);
        int r = store_put(s, "web", name, (const uint8_t *)body, strlen(body), NULL);
        ck_assert_msg(r == 0, "put %d: %d %s", i, r, store_errmsg(s));
    }
    ck_assert_int_eq(store_batch_commit(s), 0);
}

static void expect_rec(store *s, int i, int gen)
{
    char name[32], body[48];
    store_record rec;

    name_of(i, name, body, gen);
    int r = store_get(s, "web", name, &rec);
    ck_assert_msg(r == 0, "get %d: %d %s", i, r, store_errmsg(s));
    ck_assert_uint_eq(rec.body_len, strlen(body));
    ck_assert_mem_eq(rec.body, body, rec.body_len);
    store_release(s);
}

static void expect_all(store *s, int n, int gen)
{
    uint64_t np, nc;

    for (int i = 0; i < n; i++)
        expect_rec(s, i, gen);
    ck_assert_int_eq(store_stats(s, &np, &nc), 0);
    ck_assert_uint_eq(np, 1);
    ck_assert_uint_eq(nc, (uint64_t)n);
}

/* Starts a slow async checkpoint of what put_batch left: it is running on return. */
static void start_slow(store *s)
{
    store_checkpoint_async(s, notify, &g_pipe[1]);
    store_test_set_ckpt_delay(DELAY);
    ck_assert(store_checkpoint_pending(s));
    ck_assert_int_eq(store_checkpoint_start(s), 1);
    ck_assert(store_checkpoint_running(s));
    ck_assert(store_checkpoint_pending(s));
}

static void wait_notified(void)
{
    char c;
    ck_assert_int_eq(read(g_pipe[0], &c, 1), 1);
}

static int count_begin(void *ctx, uint64_t count)
{
    *(uint64_t *)ctx = count;
    return 0;
}

static int count_item(void *ctx, const char *str, size_t len, uint64_t count)
{
    (void)ctx; (void)str; (void)len; (void)count;
    return 0;
}

/* During the commit: gets of mirrored records are served (the commit still runs after
 * them), and so is a get of a name that no journaled write named (from the commit
 * before: no such record); a get without a protocol of a name written since, getDb,
 * getHub, stats and a batch are refused with STORE_ECHECKPOINT; after the notify and finish, each gives the right
 * answer and the journal is empty. */
START_TEST(test_mirror_get_during_commit)
{
    store *s = unlocked();
    uint64_t n = 0, np, nc;
    store_lister l = { count_begin, count_item, &n };
    store_record rec;

    put_batch(s, 0, NREC, 1);
    start_slow(s);
    for (int i = 0; i < NREC; i++)
        expect_rec(s, i, 1);
    ck_assert(store_checkpoint_running(s)); /* served while the commit still ran */
    ck_assert_int_eq(store_get(s, "web", "no-such-name", &rec), SKR_ENOT_FOUND);
    ck_assert_int_eq(store_get(s, NULL, "name-1", &rec), STORE_ECHECKPOINT);
    ck_assert_int_eq(store_get_db(s, "web", &l), STORE_ECHECKPOINT);
    ck_assert_int_eq(store_get_hub(s, &l), STORE_ECHECKPOINT);
    ck_assert_int_eq(store_stats(s, &np, &nc), STORE_ECHECKPOINT);
    ck_assert_int_eq(store_batch_begin(s), STORE_ECHECKPOINT);
    ck_assert(store_mirror_step(s, 1000) || !store_mirror_building(s));
    ck_assert_int_eq(store_trim(s), 0);
    ck_assert(store_checkpoint_running(s));
    wait_notified();
    ck_assert_int_eq(store_checkpoint_finish(s), 0);
    ck_assert(!store_checkpoint_running(s));
    ck_assert(!store_checkpoint_pending(s)); /* committed and the journal reset */
    ck_assert_int_eq(store_get(s, "web", "no-such-name", &rec), SKR_ENOT_FOUND);
    ck_assert_int_eq(store_get(s, NULL, "name-1", &rec), 0);
    store_release(s);
    ck_assert_int_eq(store_get_db(s, "web", &l), 0);
    ck_assert_uint_eq(n, NREC);
    expect_all(s, NREC, 1);
    ck_assert_int_eq(store_checkpoint_finish(s), 0); /* none running: nothing to do */
    store_close(s);
}
END_TEST

/* Records from..to deleted in one batch, committed. */
static void delete_batch(store *s, int from, int to)
{
    char name[32], body[48];
    bool deleted = false;

    ck_assert_int_eq(store_batch_begin(s), 0);
    for (int i = from; i < to; i++) {
        name_of(i, name, body, 0);
        ck_assert_int_eq(store_delete(s, "web", name, &deleted), 0);
        ck_assert(deleted);
    }
    ck_assert_int_eq(store_batch_commit(s), 0);
}

/* Record i's get, with its protocol or without: the result, and the body's generation
 * when one came back (its digits after "-gen-"). */
static int get_status_gen(store *s, int i, const char *protocol, int *gen)
{
    char name[32], body[48];
    store_record rec;
    int r;

    name_of(i, name, body, 0);
    r = store_get(s, protocol, name, &rec);
    *gen = 0;
    if (r == 0) {
        const char *g = memmem(rec.body, rec.body_len, "-gen-", 5);
        ck_assert_ptr_nonnull(g);
        *gen = atoi(g + 5);
    }
    store_release(s);
    return r;
}

static int get_status(store *s, int i)
{
    int gen;
    return get_status_gen(s, i, "web", &gen);
}

/* During the commit, with the mirror not built (as right after an unlock), so that gets
 * miss it: a record no journaled write named is served from the commit before (and its
 * value then goes into the mirror); one deleted since is refused with STORE_ECHECKPOINT,
 * never answered with the value it had there; one replaced since is served its new value
 * by the mirror. The same without a protocol (the name's entry read there too). After
 * the commit each gives its latest, also once the journal is reset. */
START_TEST(test_snapshot_get_during_commit)
{
    store *s = unlocked();
    uint64_t misses;

    put_batch(s, 0, NREC, 1);
    ck_assert_int_eq(store_checkpoint(s), 0); /* generation 1 in data.mdb */
    store_close(s);
    s = open_hub();
    ck_assert_int_eq(store_unlock(s, g_kek), 0);
    ck_assert(store_mirror_building(s));
    ck_assert_uint_eq(store_test_mirror_count(s), 0);
    put_batch(s, 0, 10, 2);   /* replaced: in the journal and the mirror */
    delete_batch(s, 10, 20);  /* deleted: in the journal alone */
    /* name-20 now held by a second protocol too: without one its get is ambiguous, which
     * the commit before (one holder) cannot tell */
    ck_assert_int_eq(store_batch_begin(s), 0);
    ck_assert_int_eq(store_put(s, "mail", "name-20", (const uint8_t *)"m", 1, NULL), 0);
    ck_assert_int_eq(store_batch_commit(s), 0);
    start_slow(s);
    misses = store_test_mirror_misses(s);
    for (int i = 20; i < NREC; i++)
        expect_rec(s, i, 1);
    ck_assert_uint_eq(store_test_mirror_misses(s), misses + (NREC - 20)); /* read LMDB */
    ck_assert_uint_eq(store_test_mirror_count(s), 11 + (NREC - 20)); /* and mail's */
    for (int i = 20; i < NREC; i++) /* and the mirror answers them now */
        expect_rec(s, i, 1);
    ck_assert_uint_eq(store_test_mirror_misses(s), misses + (NREC - 20));
    for (int i = 10; i < 20; i++)
        ck_assert_int_eq(get_status(s, i), STORE_ECHECKPOINT);
    for (int i = 0; i < 10; i++)
        expect_rec(s, i, 2);
    int gen;
    for (int i = 0; i < NREC; i++) {
        int want = i < 10 ? 2 : 1, r = get_status_gen(s, i, NULL, &gen);
        if (i >= 10 && i <= 20) {
            ck_assert_int_eq(r, STORE_ECHECKPOINT);
        } else {
            ck_assert_msg(r == 0 && gen == want, "get %d without protocol: %d gen %d", i, r, gen);
        }
    }
    ck_assert(store_checkpoint_running(s)); /* all of it while the commit still ran */
    wait_notified();
    ck_assert_int_eq(store_checkpoint_finish(s), 0);
    ck_assert(!store_checkpoint_pending(s));
    for (int i = 10; i < 20; i++) {
        ck_assert_int_eq(get_status(s, i), SKR_ENOT_FOUND);
        ck_assert_int_eq(get_status_gen(s, i, NULL, &gen), SKR_ENOT_FOUND);
    }
    ck_assert_int_eq(get_status_gen(s, 20, NULL, &gen), SKR_EAMBIGUOUS);
    for (int i = 0; i < 10; i++)
        expect_rec(s, i, 2);
    for (int i = 20; i < NREC; i++)
        expect_rec(s, i, 1);
    /* the next commit's journal holds only what came after the reset */
    put_batch(s, 20, 21, 3);
    start_slow(s);
    ck_assert_int_eq(get_status(s, 10), SKR_ENOT_FOUND); /* from the commit before */
    expect_rec(s, 20, 3);
    wait_notified();
    ck_assert_int_eq(store_checkpoint_finish(s), 0);
    store_close(s);
}
END_TEST

/* A journal reset that failed after a checkpoint (its header write) is made again by the
 * next batch's write, after that batch's ops went into the checkpoint txn: the table of
 * written keys must still name them, so that during the next commit a record the batch
 * deleted is refused, not answered from the commit before. */
START_TEST(test_snapshot_after_owed_reset)
{
    store *s = unlocked();

    put_batch(s, 0, NREC, 1);
    ck_assert_int_eq(store_checkpoint(s), 0);
    store_close(s);
    s = open_hub();
    ck_assert_int_eq(store_unlock(s, g_kek), 0); /* the mirror not built: gets miss it */
    put_batch(s, 0, 1, 2);
    store_test_journal_faults("f"); /* the reset's header write, after the commit */
    ck_assert_int_ne(store_checkpoint(s), 0);
    store_test_journal_faults(NULL);
    delete_batch(s, 10, 11); /* its write makes the owed reset first */
    start_slow(s);
    ck_assert_int_eq(get_status(s, 10), STORE_ECHECKPOINT);
    expect_rec(s, 11, 1); /* from the commit before */
    ck_assert(store_checkpoint_running(s));
    wait_notified();
    ck_assert_int_eq(store_checkpoint_finish(s), 0);
    ck_assert_int_eq(get_status(s, 10), SKR_ENOT_FOUND);
    expect_rec(s, 0, 2);
    store_close(s);
}
END_TEST

/* A write refused during the commit (a batch) and one that waits for it (alone) both
 * land after it, with the right result; the hub then holds every record, also after a
 * restart. Writes after the commit start a new checkpoint txn that the next one commits. */
START_TEST(test_write_during_commit)
{
    store *s = unlocked();
    char name[32], body[48];
    bool created = false;

    put_batch(s, 0, NREC, 1);
    start_slow(s);
    ck_assert_int_eq(store_batch_begin(s), STORE_ECHECKPOINT); /* nothing opened */
    name_of(0, name, body, 2);
    /* a write outside a batch waits for the commit, then replaces the record */
    ck_assert_int_eq(store_put(s, "web", name, (const uint8_t *)body, strlen(body), &created), 0);
    ck_assert(!created);
    ck_assert(!store_checkpoint_running(s));
    expect_rec(s, 0, 2);
    /* the refused batch, asked again after the commit */
    put_batch(s, NREC, NREC + 10, 1);
    ck_assert(store_checkpoint_pending(s));
    wait_notified();
    store_test_set_ckpt_delay(0);
    ck_assert_int_eq(store_checkpoint_start(s), 1);
    wait_notified();
    ck_assert_int_eq(store_checkpoint_finish(s), 0);
    ck_assert(!store_checkpoint_pending(s));
    expect_rec(s, 0, 2);
    for (int i = 1; i < NREC + 10; i++)
        expect_rec(s, i, 1);
    store_close(s);
    s = unlocked();
    expect_rec(s, 0, 2);
    for (int i = 1; i < NREC + 10; i++)
        expect_rec(s, i, 1);
    store_close(s);
}
END_TEST

/* lock during the commit waits for it (and settles it: the journal is reset); the hub
 * unlocks again with every record. close during a commit: every record after a restart. */
START_TEST(test_lock_close_during_commit)
{
    store *s = unlocked();

    put_batch(s, 0, NREC, 1);
    start_slow(s);
    store_lock(s);
    ck_assert(!store_checkpoint_running(s));
    ck_assert(!store_checkpoint_pending(s));
    ck_assert(!store_is_unlocked(s));
    wait_notified();
    ck_assert_int_eq(store_unlock(s, g_kek), 0);
    expect_all(s, NREC, 1);
    put_batch(s, NREC, 2 * NREC, 1);
    start_slow(s);
    store_close(s);
    s = unlocked();
    expect_all(s, 2 * NREC, 1);
    store_close(s);
}
END_TEST

/* A process that dies while the commit is in flight (on the thread, before it, or after
 * it with the journal not yet reset) loses no committed batch: the next open replays the
 * journal (twice applied is the same as once). */
START_TEST(test_crash_during_commit)
{
    const int points[] = { STORE_CRASH_CKPT_RUNNING, STORE_CRASH_CKPT_COMMITTED };
    int point = points[_i];
    store *s = unlocked();
    pid_t pid;
    int st;

    put_batch(s, 0, NREC, 1);
    ck_assert_int_eq(store_checkpoint(s), 0); /* generation 1 in data.mdb */
    store_close(s);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        s = unlocked();
        put_batch(s, 0, NREC / 2, 2);         /* replaces: only in the journal */
        put_batch(s, NREC, NREC + 20, 2);     /* new: only in the journal */
        store_checkpoint_async(s, notify, &g_pipe[1]);
        store_test_crash_at(point);
        (void)store_checkpoint_start(s);
        (void)store_checkpoint_finish(s);
        _exit(2); /* the crash point was never reached */
    }
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == STORE_TEST_CRASH_EXIT,
                  "child status %d, want exit %d", st, STORE_TEST_CRASH_EXIT);
    s = unlocked();
    for (int i = 0; i < NREC / 2; i++)
        expect_rec(s, i, 2);
    for (int i = NREC / 2; i < NREC; i++)
        expect_rec(s, i, 1);
    for (int i = NREC; i < NREC + 20; i++)
        expect_rec(s, i, 2);
    store_close(s);
}
END_TEST

/* Without async checkpoints (the default), a due checkpoint at batch commit runs there,
 * as before: nothing is left running. With them, it runs on the thread. */
START_TEST(test_due_checkpoint_async)
{
    store *s = unlocked();

    store_test_set_ckpt_pages(4);
    put_batch(s, 0, NREC, 1); /* well over 4 ops, over 4 pages: due */
    ck_assert(!store_checkpoint_running(s));
    ck_assert(!store_checkpoint_pending(s));
    store_checkpoint_async(s, notify, &g_pipe[1]);
    store_test_set_ckpt_delay(DELAY);
    put_batch(s, NREC, 2 * NREC, 1);
    ck_assert(store_checkpoint_running(s));
    expect_rec(s, NREC, 1);
    wait_notified();
    ck_assert_int_eq(store_checkpoint_finish(s), 0);
    ck_assert(!store_checkpoint_pending(s));
    expect_all(s, 2 * NREC, 1);
    store_checkpoint_async(s, NULL, NULL);
    store_test_set_ckpt_pages(0);
    store_close(s);
}
END_TEST

/* A batch begun before the checkpoint, none of its writes made yet: store_checkpoint_start
 * must not hand kv->ckpt to the thread, or the batch's first write begins a second write
 * txn of the env (MDB_NOLOCK: no writer mutex) while the thread commits (it corrupted the
 * heap: "free(): corrupted unsorted chunks" at close). The checkpoint is made at once
 * instead; the batch's write, its commit and a restart keep every record. */
START_TEST(test_checkpoint_start_with_batch_open)
{
    store *s = unlocked();
    char name[32], body[48];

    put_batch(s, 0, NREC, 1);
    store_checkpoint_async(s, notify, &g_pipe[1]);
    store_test_set_ckpt_delay(DELAY);
    ck_assert_int_eq(store_batch_begin(s), 0); /* opened, nothing written yet */
    ck_assert_int_eq(store_checkpoint_start(s), 0); /* committed here, not on the thread */
    ck_assert(!store_checkpoint_running(s));
    name_of(NREC, name, body, 1);
    ck_assert_int_eq(store_put(s, "web", name, (const uint8_t *)body, strlen(body), NULL), 0);
    ck_assert_int_eq(store_batch_commit(s), 0);
    ck_assert(!store_checkpoint_running(s));
    store_test_set_ckpt_delay(0);
    store_close(s);
    s = unlocked();
    for (int i = 0; i <= NREC; i++)
        expect_rec(s, i, 1);
    store_close(s);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("store_ckpt");
    TCase *tc = tcase_create("ckpt");
    SRunner *sr;
    int failed;

    if (sodium_init() < 0)
        return EXIT_FAILURE;
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_mirror_get_during_commit);
    tcase_add_test(tc, test_snapshot_get_during_commit);
    tcase_add_test(tc, test_snapshot_after_owed_reset);
    tcase_add_test(tc, test_write_during_commit);
    tcase_add_test(tc, test_lock_close_during_commit);
    tcase_add_loop_test(tc, test_crash_during_commit, 0, 2);
    tcase_add_test(tc, test_due_checkpoint_async);
    tcase_add_test(tc, test_checkpoint_start_with_batch_open);
    suite_add_tcase(su, tc);
    sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
