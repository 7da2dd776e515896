/*
 * tests/unit/test_store_journal.c - the encrypted hub (daemon/store), group commit and the
 * journal: batches, their growth and failed writes; replay, torn records, checkpoints,
 * exclusive use, bounded size, trim, write errors.
 *
 * Shared fixture and helpers: store_fixture.h.
 */
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store_fixture.h"

START_TEST(test_batch)
{
    uint8_t kek2[32];
    store_kdf kdf2;
    store_record rec;
    coll c = { 0 };
    store *s = new_hub();
    bool b = false;

    post_str(s, "x", "a", "A");
    ck_assert_int_eq(store_batch_begin(s), 0);
    ck_assert_int_eq(store_batch_begin(s), 0);
    post_str(s, "x", "b", "B");
    ck_assert_int_eq(store_post(s, "x", "a", (const uint8_t *)"A2", 2), SKR_EEXISTS);
    ck_assert_int_eq(store_put(s, "x", "c", (const uint8_t *)"C", 1, &b), 0);
    ck_assert(b);
    ck_assert_int_eq(store_delete(s, "x", "a", &b), 0);
    ck_assert(b);
    /* Reads see the open batch (the daemon holds their replies until it is committed). */
    expect_body(s, "x", "b", "B");
    expect_body(s, NULL, "c", "C");
    ck_assert_int_eq(store_get(s, "x", "a", &rec), SKR_ENOT_FOUND);
    ck_assert_int_eq(list_db(s, "x", &c), 0);
    ck_assert_uint_eq(c.n, 2);
    ck_assert_str_eq(c.str[0], "b");
    ck_assert_str_eq(c.str[1], "c");
    ck_assert_int_eq(list_hub(s, &c), 0);
    ck_assert_uint_eq(c.n, 1);
    ck_assert_uint_eq(c.count[0], 2);
    fast_kek("other", &kdf2, kek2);
    ck_assert_int_eq(store_rotate(s, NULL), SKR_EBUSY);
    ck_assert_int_eq(store_rewrap(s, g_kek, &kdf2, kek2), SKR_EBUSY);
    ck_assert_int_eq(store_batch_commit(s), 0);
    ck_assert_int_eq(store_batch_commit(s), 0);
    expect_body(s, "x", "b", "B");
    ck_assert_int_eq(store_get(s, "x", "a", &rec), SKR_ENOT_FOUND);
    s = reopen(s);
    expect_body(s, "x", "b", "B");
    expect_body(s, "x", "c", "C");
    ck_assert_int_eq(store_get(s, "x", "a", &rec), SKR_ENOT_FOUND);
    /* A batch never committed is not in the hub. */
    ck_assert_int_eq(store_batch_begin(s), 0);
    post_str(s, "x", "z", "Z");
    s = reopen(s);
    ck_assert_int_eq(store_get(s, "x", "z", &rec), SKR_ENOT_FOUND);
    ck_assert_int_eq(store_rotate(s, NULL), 0);
    coll_free(&c);
    store_close(s);
}
END_TEST

/* A write that fails half-way inside a batch leaves no trace, and the batch's other
 * writes stay: here a post whose protocol entry is corrupt fails after its record, order
 * and name entries were written (the batch is redone from its journal ops). */
START_TEST(test_batch_failed_write)
{
    store_record rec;
    kv d = { 0 };
    raw r;
    coll c = { 0 };
    store *s = new_hub();

    post_str(s, "bad", "old", "x");
    store_close(s);
    raw_open(&r, "protos");
    raw_dump(&r, &d);
    ck_assert_uint_eq(d.n, 1);
    ((uint8_t *)d.v[0].mv_data)[d.v[0].mv_size - 1] ^= 0x01;
    raw_put(&r, &d.k[0], &d.v[0]);
    raw_close(&r);
    kv_free(&d);
    s = reopen(open_hub());
    ck_assert_int_eq(store_batch_begin(s), 0);
    post_str(s, "good", "a", "A");
    ck_assert_int_eq(store_post(s, "bad", "new", (const uint8_t *)"N", 1), SKR_EINTEGRITY);
    post_str(s, "good", "b", "B");
    ck_assert_int_eq(store_get(s, "bad", "new", &rec), SKR_ENOT_FOUND);
    ck_assert_int_eq(store_batch_commit(s), 0);
    s = reopen(s);
    ck_assert_int_eq(store_get(s, "bad", "new", &rec), SKR_ENOT_FOUND);
    ck_assert_int_eq(store_get(s, NULL, "new", &rec), SKR_ENOT_FOUND);
    expect_body(s, "bad", "old", "x");
    expect_body(s, "good", "a", "A");
    expect_body(s, "good", "b", "B");
    ck_assert_int_eq(list_db(s, "good", &c), 0);
    ck_assert_uint_eq(c.n, 2);
    ck_assert_int_eq(list_db(s, "bad", &c), 0);
    ck_assert_uint_eq(c.n, 1);
    ck_assert_str_eq(c.str[0], "old");
    coll_free(&c);
    store_close(s);
}
END_TEST

/* The write counter (meta "seq") as the hub file holds it. */
static uint64_t raw_seq(void)
{
    MDB_val v;
    uint64_t seq;

    raw_get("meta", (const uint8_t *)"seq", 3, &v);
    ck_assert_uint_eq(v.mv_size, 8);
    seq = store_get_u64(v.mv_data);
    free(v.mv_data);
    return seq;
}

/* Inside a batch the write counter is held and put once, as the batch's record is sealed
 * (store_kv_put_held): the file ends with the count of every post and put that was kept,
 * whether the batch was checkpointed at close or replayed after a crash, and a refused
 * write takes no number. */
START_TEST(test_batch_counter)
{
    coll c = { 0 };
    store *s = new_hub();
    bool b;
    pid_t pid;
    int st;

    ck_assert_int_eq(store_batch_begin(s), 0);
    post_str(s, "x", "a", "A");
    post_str(s, "x", "b", "B");
    ck_assert_int_eq(store_post(s, "x", "a", (const uint8_t *)"A2", 2), SKR_EEXISTS);
    ck_assert_int_eq(store_put(s, "x", "a", (const uint8_t *)"A3", 2, &b), 0);
    ck_assert(!b);
    ck_assert_int_eq(store_delete(s, "x", "b", &b), 0);
    ck_assert_int_eq(store_batch_commit(s), 0);
    store_close(s);
    ck_assert_uint_eq(raw_seq(), 3);
    /* Two batches in a child that dies before any checkpoint: the replay puts the counter
     * back as the last batch left it, so a post after it takes the next number. */
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        s = open_hub();
        if (store_unlock(s, g_kek) != 0)
            _exit(3);
        for (int k = 0; k < 2; k++) {
            char name[8];
            if (store_batch_begin(s) != 0)
                _exit(4);
            for (int i = 0; i < 3; i++) {
                snprintf(name, sizeof name, "n%d", 3 * k + i);
                if (store_post(s, "x", name, (const uint8_t *)"N", 1) != 0)
                    _exit(5);
            }
            if (store_batch_commit(s) != 0)
                _exit(6);
        }
        _exit(0);
    }
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
    store_close(open_hub()); /* the replay, checkpointed at open */
    ck_assert_uint_eq(raw_seq(), 9);
    s = reopen(open_hub());
    post_str(s, "x", "last", "L");
    ck_assert_int_eq(list_db(s, "x", &c), 0);
    ck_assert_uint_eq(c.n, 8);
    ck_assert_str_eq(c.str[0], "a");
    ck_assert_str_eq(c.str[6], "n5");
    ck_assert_str_eq(c.str[7], "last");
    coll_free(&c);
    store_close(s);
    ck_assert_uint_eq(raw_seq(), 10);
}
END_TEST

START_TEST(test_batch_growth)
{
    static uint8_t body[STORE_MAX_BODY];
    char name[16];
    store_record rec;
    store *s;

    store_test_set_mapsize(64 << 10);
    s = new_hub();
    ck_assert_int_eq(store_batch_begin(s), 0);
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof name, "big%d", i);
        memset(body, i, sizeof body);
        ck_assert_int_eq(store_post(s, "p", name, body, sizeof body), 0);
    }
    ck_assert_int_eq(store_batch_commit(s), 0);
    ck_assert_uint_ge(store_test_mapsize(s), 40 * sizeof body);
    s = reopen(s);
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof name, "big%d", i);
        memset(body, i, sizeof body);
        ck_assert_int_eq(store_get(s, "p", name, &rec), 0);
        ck_assert_mem_eq(rec.body, body, sizeof body);
    }
    store_release(s);
    store_close(s);
}
END_TEST

/* ---- the journal: group-commit batches are durable before any checkpoint ---- */

static void journal_path(char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/journal", g_hub);
}

/* The batches the journal tests write: five of ten posts each; batch 2 also deletes
 * j0-1 and replaces j0-2, batch 3 posts j0-1 again (it goes last in creation order). */
static void journal_batch(store *s, int b)
{
    char name[16], body[32];
    bool flag;

    ck_assert_int_eq(store_batch_begin(s), 0);
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof name, "j%d-%d", b, i);
        snprintf(body, sizeof body, "body %d-%d", b, i);
        post_str(s, "jp", name, body);
    }
    if (b == 2) {
        ck_assert_int_eq(store_delete(s, "jp", "j0-1", &flag), 0);
        ck_assert(flag);
        ck_assert_int_eq(store_put(s, "jp", "j0-2", (const uint8_t *)"replaced", 8, &flag), 0);
        ck_assert(!flag);
    }
    if (b == 3)
        post_str(s, "jp", "j0-1", "again");
    ck_assert_int_eq(store_batch_commit(s), 0);
}

/* In a child: writes batches 0..n-1 and dies without closing (no checkpoint), as a crash
 * would. ends[b] gets the journal's size after batch b (records append on a new hub). */
static void journal_child(int n, bool checkpoint_after_first, off_t ends[5])
{
    char path[400];
    int fds[2], st;
    pid_t pid;

    journal_path(path, sizeof path);
    ck_assert_int_eq(pipe(fds), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        store *s = open_hub();
        struct stat js;
        close(fds[0]);
        if (store_unlock(s, g_kek) != 0)
            _exit(3);
        for (int b = 0; b < n; b++) {
            journal_batch(s, b);
            if (b == 0 && checkpoint_after_first && store_checkpoint(s) != 0)
                _exit(4);
            if (stat(path, &js) != 0 || write(fds[1], &js.st_size, sizeof js.st_size) < 0)
                _exit(5);
        }
        _exit(0); /* no store_close: nothing checkpointed */
    }
    close(fds[1]);
    for (int b = 0; b < n; b++)
        ck_assert_int_eq(read(fds[0], &ends[b], sizeof ends[b]), (ssize_t)sizeof ends[b]);
    close(fds[0]);
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
}

/* Checks that exactly batches 0..n-1 are in the hub, with batch 2's and 3's changes. */
static void expect_batches(store *s, int n)
{
    char name[16], body[32];
    store_record rec;
    coll c = { 0 };

    for (int b = 0; b < 5; b++) {
        for (int i = 0; i < 10; i++) {
            snprintf(name, sizeof name, "j%d-%d", b, i);
            snprintf(body, sizeof body, "body %d-%d", b, i);
            if (b >= n)
                ck_assert_int_eq(store_get(s, "jp", name, &rec), SKR_ENOT_FOUND);
            else if (b == 0 && i == 1 && n == 3)
                ck_assert_int_eq(store_get(s, "jp", name, &rec), SKR_ENOT_FOUND);
            else if (b == 0 && i == 1 && n > 3)
                expect_body(s, "jp", name, "again");
            else if (b == 0 && i == 2 && n > 2)
                expect_body(s, "jp", name, "replaced");
            else
                expect_body(s, "jp", name, body);
        }
    }
    if (n == 0) {
        ck_assert_int_eq(list_db(s, "jp", &c), SKR_ENOT_FOUND);
        return;
    }
    ck_assert_int_eq(list_db(s, "jp", &c), 0);
    ck_assert_uint_eq(c.n, (size_t)(10 * n - (n == 3 ? 1 : 0)));
    if (n >= 4) /* the re-posted name went last at batch 3: after j3-0..j3-9 */
        ck_assert_str_eq(c.str[39], "j0-1");
    ck_assert_int_eq(list_hub(s, &c), 0);
    ck_assert_uint_eq(c.n, 1);
    ck_assert_uint_eq(c.count[0], (uint64_t)(10 * n - (n == 3 ? 1 : 0)));
    coll_free(&c);
}

/* A new hub that a child then wrote n batches into before dying; path gets the journal. */
static void journal_fresh(int n, bool checkpoint_after_first, off_t ends[5], char path[400])
{
    store_close(new_hub());
    journal_child(n, checkpoint_after_first, ends);
    journal_path(path, 400);
}

START_TEST(test_journal_replay)
{
    char path[400];
    off_t ends[5];
    store *s;
    int suite;

    journal_fresh(5, false, ends, path);
    /* Before the replay, the batches are only in the journal. */
    ck_assert_int_gt(ends[4], ends[0]);
    s = open_hub();
    ck_assert(!store_checkpoint_pending(s)); /* replayed and checkpointed at open */
    ck_assert_int_eq(store_unlock(s, g_kek), 0);
    expect_batches(s, 5);
    suite = store_test_suite(s);
    store_close(s);
    check_all_classes(suite, 50, 1); /* the replay wrote format-2 values, padded */
    /* Still there once the journal is gone: the open checkpointed them. */
    ck_assert_int_eq(truncate(path, 0), 0);
    s = reopen(open_hub());
    expect_batches(s, 5);
    store_close(s);
}
END_TEST

/* A torn or corrupt record ends the replay there: it (and what follows) was never
 * acknowledged, or the journal is damaged; what comes before is kept. */
START_TEST(test_journal_torn)
{
    static const struct { int rec; int at; int expect; bool flip; } cases[] = {
        { 4, 10, 4, false },   /* batch 4 cut short: 0..3 */
        { 4, -1, 4, true },    /* a byte of batch 4 flipped: 0..3 */
        { 1, -1, 1, true },    /* a byte of batch 1 flipped: only batch 0 */
        { 0, 3, 0, false },    /* cut inside the first record's length: nothing */
    };
    char path[400], base[300];
    off_t ends[5];

    snprintf(base, sizeof base, "%s", g_hub);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        snprintf(g_hub, sizeof g_hub, "%.280s-%zu", base, k);
        journal_fresh(5, false, ends, path);
        off_t start = cases[k].rec == 0 ? 4096 : ends[cases[k].rec - 1];
        if (cases[k].flip) {
            int fd = open(path, O_RDWR);
            uint8_t byte;
            off_t at = start + (ends[cases[k].rec] - start) / 2;
            ck_assert_int_eq(pread(fd, &byte, 1, at), 1);
            byte ^= 0x20;
            ck_assert_int_eq(pwrite(fd, &byte, 1, at), 1);
            close(fd);
        } else {
            ck_assert_int_eq(truncate(path, start + cases[k].at), 0);
        }
        store *s = reopen(open_hub());
        expect_batches(s, cases[k].expect);
        /* Writes go on after the damaged record: a new journal epoch. */
        post_str(s, "after", "x", "y");
        store_close(s);
        s = reopen(open_hub());
        expect_body(s, "after", "x", "y");
        store_close(s);
    }
}
END_TEST

static uint8_t *slurp(const char *path, size_t *len)
{
    struct stat st;
    int fd = open(path, O_RDONLY);
    uint8_t *buf;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fstat(fd, &st), 0);
    buf = malloc((size_t)st.st_size + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(read(fd, buf, (size_t)st.st_size), st.st_size);
    close(fd);
    *len = (size_t)st.st_size;
    return buf;
}

/* A crash between a checkpoint's LMDB commit and its journal reset replays the journal
 * over a hub that already holds it: the result must be the same state. */
START_TEST(test_journal_replay_twice)
{
    char path[400];
    off_t ends[5];
    size_t len;
    uint8_t *old;
    store *s;

    journal_fresh(5, false, ends, path);
    old = slurp(path, &len);
    s = reopen(open_hub()); /* replay 1, checkpoint, reset */
    expect_batches(s, 5);
    store_close(s);
    write_file(path, old, len, 0600); /* the reset undone: the old records are back */
    free(old);
    s = reopen(open_hub()); /* replay 2, over a hub that has it all */
    expect_batches(s, 5);
    store_close(s);
}
END_TEST

/* After a checkpoint the data file holds the batches: losing the journal then costs only
 * what came after it. */
START_TEST(test_journal_checkpoint)
{
    char path[400];
    off_t ends[5];
    store *s;

    journal_fresh(2, true, ends, path);
    ck_assert_int_eq(truncate(path, 0), 0); /* batch 1 was only in the journal */
    s = reopen(open_hub());
    expect_batches(s, 1);
    store_close(s);
}
END_TEST

/* The store checkpoints by itself once the open txn may hold many dirty pages (a bound
 * on the daemon's memory), and not before on a hub smaller than that bound. */
static int journal_auto_checkpoints(store *s, int batches, int per)
{
    static int round;
    char name[32], body[200];
    int ckpts = 0;

    round++;

    memset(body, 'b', sizeof body - 1);
    body[sizeof body - 1] = '\0';
    for (int b = 0; b < batches; b++) {
        ck_assert_int_eq(store_batch_begin(s), 0);
        for (int i = 0; i < per; i++) {
            snprintf(name, sizeof name, "auto-%d-%d-%d", round, b, i);
            post_str(s, "auto", name, body);
        }
        ck_assert_int_eq(store_batch_commit(s), 0);
        if (!store_checkpoint_pending(s))
            ckpts++;
    }
    return ckpts;
}

START_TEST(test_journal_bounded)
{
    store *s;

    store_test_set_ckpt_pages(64);
    s = new_hub();
    /* 20 batches of 50 posts of 200 bytes make a hub of over 64 pages... */
    journal_auto_checkpoints(s, 20, 50);
    ck_assert_int_eq(store_checkpoint(s), 0);
    /* ...on which every 64 ops may dirty 64 pages: the batches now checkpoint. */
    ck_assert_int_ge(journal_auto_checkpoints(s, 20, 50), 10);
    store_close(s);
    store_test_set_ckpt_pages(0);
    s = reopen(open_hub());
    ck_assert_int_eq(journal_auto_checkpoints(s, 20, 10), 0);
    ck_assert_int_eq(store_checkpoint(s), 0);
    ck_assert(!store_checkpoint_pending(s));
    store_close(s);
}
END_TEST

/* Heap bytes in use: glibc's count, or ASan's when its allocator replaces glibc's. */
#ifdef __SANITIZE_ADDRESS__
size_t __sanitizer_get_current_allocated_bytes(void); /* libasan's */
static size_t heap_in_use(void) { return __sanitizer_get_current_allocated_bytes(); }
#else
static size_t heap_in_use(void) { return mallinfo2().uordblks; }
#endif

static void trim_writes(store *s, int round)
{
    char name[32], body[200];
    bool created;

    memset(body, 'a' + round, sizeof body - 1);
    body[sizeof body - 1] = '\0';
    for (int b = 0; b < 8; b++) {
        ck_assert_int_eq(store_batch_begin(s), 0);
        for (int i = 0; i < 500; i++) {
            snprintf(name, sizeof name, "trim-%d-%d", b, i);
            ck_assert_int_eq(store_put(s, "trim", name, (const uint8_t *)body, strlen(body),
                                       &created), 0);
        }
        ck_assert_int_eq(store_batch_commit(s), 0);
    }
    ck_assert_int_eq(store_checkpoint(s), 0);
}

/* After a burst of writes, store_trim gives back LMDB's cached dirty pages (heap) and the
 * map pages the puts' descents left resident, and the hub works on. It refuses (and
 * creates nothing) when the data file was deleted under it. */
START_TEST(test_trim)
{
    char path[400];
    struct stat st;
    store *s = new_hub();
    size_t heap;
    long rss;

    trim_writes(s, 0);
    trim_writes(s, 1); /* updates: their descents read the first round's pages by the map */
    ck_assert(store_trim_pending(s));
    ck_assert_int_eq(store_batch_begin(s), 0);
    post_str(s, "trim", "open-batch", "x");
    ck_assert_int_eq(store_trim(s), 0); /* a batch open: nothing done */
    ck_assert(store_trim_pending(s));
    ck_assert_int_eq(store_batch_commit(s), 0);
    ck_assert_int_eq(store_checkpoint(s), 0);
    rss = data_map_rss_kb();
    heap = heap_in_use();
    ck_assert_int_ge(rss, 1024); /* the control: the writes left the map resident */
    ck_assert_int_eq(store_trim(s), 0);
    ck_assert(!store_trim_pending(s));
    ck_assert_int_le(data_map_rss_kb(), 128); /* the meta pages the reopen read */
    /* LMDB's list of the pages round 1 dirtied (about 470 of 4 KiB) is freed */
    ck_assert_uint_ge(heap - heap_in_use(), (size_t)1 << 20);
    char want[200];
    memset(want, 'b', sizeof want - 1);
    want[sizeof want - 1] = '\0';
    expect_body(s, "trim", "trim-7-499", want);
    expect_body(s, NULL, "open-batch", "x");
    /* the reopened environment keeps the key file's KDF (unlock derives with it) */
    store_kdf kdf;
    ck_assert_int_eq(store_get_kdf(s, &kdf), 0);
    ck_assert_mem_eq(&kdf, &g_kdf, sizeof kdf);
    store_lock(s);
    ck_assert_int_eq(store_unlock(s, g_kek), 0);
    expect_body(s, "trim", "trim-7-499", want);
    trim_writes(s, 2);
    snprintf(path, sizeof path, "%s/data.mdb", g_hub);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(store_trim(s), SKR_EINTERNAL);
    ck_assert_int_ne(stat(path, &st), 0); /* not created anew */
    store_close(s);
}
END_TEST

START_TEST(test_journal_exclusive)
{
    char err[STORE_ERRMSG_MAX], path[400];
    struct stat st;
    store *s = open_hub(), *t = NULL;

    ck_assert_int_eq(store_open(g_hub, &t, err), SKR_EBUSY);
    ck_assert_ptr_null(t);
    ck_assert_ptr_nonnull(strstr(err, "in use by another process"));
    store_close(s);
    journal_path(path, sizeof path);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    expect_file_mode_refused(path, 0640, "journal");
}
END_TEST

/* A journal write that reports an error although its bytes reached the disk (a failed
 * O_DSYNC flush can): its batch was reported lost, so it must not come back, neither when
 * the store rebuilds its write txn from the journal (a failed checkpoint does that) nor
 * at the next open after a crash. */
START_TEST(test_journal_write_error)
{
    store_record rec;
    store *s = new_hub();
    int st;
    bool b;

    ck_assert_int_eq(store_batch_begin(s), 0);
    post_str(s, "x", "kept", "v1");
    ck_assert_int_eq(store_batch_commit(s), 0);
    /* In process: the record lands and its disowning fails; a reload stops before it. */
    store_test_journal_faults("lf");
    ck_assert_int_eq(store_batch_begin(s), 0);
    ck_assert_int_eq(store_put(s, "x", "kept", (const uint8_t *)"v2", 2, &b), 0);
    post_str(s, "x", "lost", "v3");
    ck_assert_int_eq(store_batch_commit(s), SKR_EINTERNAL);
    store_test_journal_faults(NULL);
    ck_assert_int_eq(store_journal_reload(&s->kv), 0);
    expect_body(s, "x", "kept", "v1");
    ck_assert_int_eq(store_get(s, "x", "lost", &rec), SKR_ENOT_FOUND);
    ck_assert_int_eq(store_batch_begin(s), 0);
    post_str(s, "x", "after", "v4"); /* goes where the disowned record was */
    ck_assert_int_eq(store_batch_commit(s), 0);
    store_close(s);
    /* A crash right after the failed write: the next open replays up to it, not past. */
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        s = open_hub();
        if (store_unlock(s, g_kek) != 0 || store_batch_begin(s) != 0 ||
            store_post(s, "y", "a", (const uint8_t *)"A", 1) != 0 || store_batch_commit(s) != 0)
            _exit(3);
        store_test_journal_faults("l");
        if (store_batch_begin(s) != 0 || store_post(s, "y", "b", (const uint8_t *)"B", 1) != 0 ||
            store_batch_commit(s) != SKR_EINTERNAL)
            _exit(4);
        _exit(0); /* no store_close: nothing checkpointed */
    }
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
    s = reopen(open_hub());
    expect_body(s, "x", "kept", "v1");
    expect_body(s, "x", "after", "v4");
    ck_assert_int_eq(store_get(s, "x", "lost", &rec), SKR_ENOT_FOUND);
    expect_body(s, "y", "a", "A");
    ck_assert_int_eq(store_get(s, "y", "b", &rec), SKR_ENOT_FOUND);
    store_close(s);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("store_journal");
    TCase *tc;

    tc = fixture_tcase("durability", setup_disk, 60);
    tcase_add_test(tc, test_batch);
    tcase_add_test(tc, test_batch_counter);
    tcase_add_test(tc, test_batch_growth);
    tcase_add_test(tc, test_batch_failed_write);
    suite_add_tcase(su, tc);
    tc = fixture_tcase("journal", setup_disk, 60);
    tcase_add_test(tc, test_journal_replay);
    tcase_add_test(tc, test_journal_torn);
    tcase_add_test(tc, test_journal_replay_twice);
    tcase_add_test(tc, test_journal_checkpoint);
    tcase_add_test(tc, test_journal_exclusive);
    tcase_add_test(tc, test_journal_bounded);
    tcase_add_test(tc, test_trim);
    tcase_add_test(tc, test_journal_write_error);
    suite_add_tcase(su, tc);
    return fixture_run(su);
}
