/*
 * tests/unit/test_store_keys.c - the hub's key file (daemon/store/store_ring.c): passwd
 * leaves no copy of the old wrap in any hub file, passwd --rotate replaces the data key,
 * crashes at every step of a key change leave a usable hub, a torn slot is ignored, and a
 * hub made before the key file (wrap in LMDB meta) is migrated without leaving its wrap
 * in data.mdb.
 */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store_fixture.h"

#define WRAP STORE_TEST_WRAP_BYTES
#define SLOT 4096
#define NREC 40

/* The fixture's folder and hub (store_fixture.h), keyed "old passphrase" (g_kdf, g_kek);
 * passwd's target is "new passphrase". */
static store_kdf g_kdf2;
static uint8_t g_kek2[STORE_KEY_BYTES];

static void setup(void)
{
    setup_disk();
    store_test_crash_at(0);
    fast_kek("old passphrase", &g_kdf, g_kek);
    fast_kek("new passphrase", &g_kdf2, g_kek2);
}

static store *unlocked(const uint8_t *kek)
{
    store *s = open_hub();
    int r = store_unlock(s, kek);

    ck_assert_msg(r == 0, "unlock: %d %s", r, store_errmsg(s));
    return s;
}

static void post_n(store *s, int from, int to)
{
    char name[32], body[48];

    for (int i = from; i < to; i++) {
        snprintf(name, sizeof name, "name-%d", i);
        snprintf(body, sizeof body, "body-%d-of-the-hub", i);
        int r = store_post(s, i % 2 ? "odd" : "even", name, (const uint8_t *)body,
                           strlen(body));
        ck_assert_msg(r == 0, "post %d: %d %s", i, r, store_errmsg(s));
    }
}

/* Every record of 0..n reads back exactly, and the hub holds `total` in all. */
static void expect_recs(store *s, int n, uint64_t total)
{
    char name[32], body[48];
    store_record rec;
    uint64_t np, nc;

    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "name-%d", i);
        snprintf(body, sizeof body, "body-%d-of-the-hub", i);
        int r = store_get(s, i % 2 ? "odd" : "even", name, &rec);
        ck_assert_msg(r == 0, "get %d: %d %s", i, r, store_errmsg(s));
        ck_assert_uint_eq(rec.body_len, strlen(body));
        ck_assert_mem_eq(rec.body, body, rec.body_len);
        store_release(s);
    }
    ck_assert_int_eq(store_stats(s, &np, &nc), 0);
    ck_assert_uint_eq(nc, total);
}

static void expect_n(store *s, int n)
{
    expect_recs(s, n, (uint64_t)n);
}

static void wrap_of(store *s, uint8_t out[WRAP])
{
    ck_assert_int_eq(store_test_wrap(s, out), 0);
}

/* How many times the wrap, or its nonce alone, occurs in the files of the hub folder. */
static int scan_hub(const uint8_t wrap[WRAP])
{
    DIR *d = opendir(g_hub);
    struct dirent *e;
    int hits = 0, files = 0;

    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)) != NULL) {
        char path[600];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", g_hub, e->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        uint8_t *buf = malloc((size_t)st.st_size + 1);
        int fd = open(path, O_RDONLY);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(read(fd, buf, (size_t)st.st_size), st.st_size);
        close(fd);
        for (size_t len = WRAP; ; len = STORE_NONCE_BYTES) {
            for (uint8_t *p = buf; (p = memmem(p, (size_t)(buf + st.st_size - p), wrap,
                                               len)) != NULL; p++)
                hits++;
            if (len == STORE_NONCE_BYTES)
                break;
        }
        free(buf);
        files++;
    }
    closedir(d);
    ck_assert_int_ge(files, 4); /* data.mdb, lock.mdb, journal, keys */
    return hits;
}

static void read_slots(uint8_t slots[2][SLOT])
{
    char path[400];
    snprintf(path, sizeof path, "%s/keys", g_hub);
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, slots, 2 * SLOT, 0), 2 * SLOT);
    close(fd);
}

static void write_slot_bytes(unsigned slot, size_t off, const void *p, size_t n)
{
    char path[400];
    snprintf(path, sizeof path, "%s/keys", g_hub);
    int fd = open(path, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, p, n, (off_t)(slot * SLOT + off)), (ssize_t)n);
    close(fd);
}

static void expect_slots_equal(void)
{
    uint8_t slots[2][SLOT];
    read_slots(slots);
    ck_assert_mem_eq(slots[0], slots[1], SLOT);
}

static void get_data_key(store *s, uint8_t key[32])
{
    uint8_t mask[32] = { 0 };
    ck_assert_int_eq(store_test_key_masked(s, 0, mask, key), 0);
}

/* ---- passwd: no hub file keeps the old wrap ---- */

/* A batch in the journal and many pages freed by replaced records first, so every file
 * of the hub has content; the positive control finds the wrap in `keys` (both slots). */
START_TEST(test_passwd_leaves_no_old_wrap)
{
    uint8_t w0[WRAP], w1[WRAP];
    store *s = open_hub();
    bool created;

    ck_assert_int_eq(store_init(s, &g_kdf, g_kek), 0);
    post_n(s, 0, NREC);
    for (int i = 0; i < 200; i++)
        ck_assert_int_eq(store_put(s, "fill", "again", (const uint8_t *)"xx", 2, &created), 0);
    ck_assert_int_eq(store_batch_begin(s), 0);
    ck_assert_int_eq(store_put(s, "fill", "journal", (const uint8_t *)"j", 1, &created), 0);
    ck_assert_int_eq(store_batch_commit(s), 0);
    wrap_of(s, w0);
    ck_assert_int_eq(scan_hub(w0), 4); /* control: wrap and nonce, in each slot */
    ck_assert_int_eq(store_rewrap(s, g_kek, &g_kdf2, g_kek2), 0);
    wrap_of(s, w1);
    ck_assert_int_eq(scan_hub(w0), 0);
    ck_assert_int_eq(scan_hub(w1), 4);
    expect_slots_equal();
    store_close(s);
    ck_assert_int_eq(scan_hub(w0), 0);
    s = open_hub();
    ck_assert_int_eq(store_unlock(s, g_kek), SKR_EBAD_PASSPHRASE);
    ck_assert_int_eq(store_unlock(s, g_kek2), 0);
    expect_recs(s, NREC, NREC + 2); /* with fill/again and fill/journal */
    store_close(s);
}
END_TEST

/* ---- passwd --rotate: a new data key in the same call ---- */

START_TEST(test_passwd_rotate)
{
    uint8_t w0[WRAP], dk0[32], dk1[32];
    _Alignas(16) uint8_t oldk[STORE_K_TOTAL], newk[STORE_K_TOTAL];
    uint8_t ad[STORE_AD_MAX], pt[256];
    uint64_t n = 0;
    size_t adlen, ptlen;
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_cursor *c;
    MDB_val k, v;
    int suite, seen = 0;
    store *s = open_hub();

    ck_assert_int_eq(store_init(s, &g_kdf, g_kek), 0);
    suite = store_test_suite(s);
    post_n(s, 0, NREC);
    wrap_of(s, w0);
    get_data_key(s, dk0);
    ck_assert_int_eq(store_passwd(s, g_kek2, &g_kdf2, g_kek2, true, &n), SKR_EBAD_PASSPHRASE);
    ck_assert_int_eq(store_passwd(s, g_kek, &g_kdf2, g_kek2, true, &n), 0);
    ck_assert_uint_eq(n, NREC);
    get_data_key(s, dk1);
    ck_assert_mem_ne(dk0, dk1, 32);
    expect_n(s, NREC);
    post_n(s, NREC, NREC + 4); /* written after passwd: sealed under the new key */
    ck_assert_int_eq(scan_hub(w0), 0);
    expect_slots_equal();
    store_close(s);
    /* Every record value opens under the new data key, none under the old one. */
    memset(oldk, 0, sizeof oldk);
    memset(newk, 0, sizeof newk);
    memcpy(oldk + STORE_K_DATA, dk0, 32);
    memcpy(newk + STORE_K_DATA, dk1, 32);
    store_keys_derive(oldk, suite);
    store_keys_derive(newk, suite);
    ck_assert_int_eq(mdb_env_create(&env), 0);
    ck_assert_int_eq(mdb_env_set_maxdbs(env, 8), 0);
    ck_assert_int_eq(mdb_env_open(env, g_hub, MDB_RDONLY, 0600), 0);
    ck_assert_int_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, "rec", 0, &dbi), 0);
    ck_assert_int_eq(mdb_cursor_open(txn, dbi, &c), 0);
    while (mdb_cursor_get(c, &k, &v, seen ? MDB_NEXT : MDB_FIRST) == 0) {
        const uint8_t *val = v.mv_data;
        adlen = store_ad(ad, STORE_AD_REC, &k, val, STORE_REC_CLEAR);
        ck_assert_int_eq(store_unseal_s(suite, oldk, ad, adlen, val + STORE_REC_CLEAR,
                                        v.mv_size - STORE_REC_CLEAR, pt, sizeof pt, &ptlen),
                         SKR_EINTEGRITY);
        ck_assert_int_eq(store_unseal_s(suite, newk, ad, adlen, val + STORE_REC_CLEAR,
                                        v.mv_size - STORE_REC_CLEAR, pt, sizeof pt, &ptlen), 0);
        seen++;
    }
    ck_assert_int_eq(seen, NREC + 4);
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    sodium_memzero(oldk, sizeof oldk);
    sodium_memzero(newk, sizeof newk);
    s = open_hub();
    ck_assert_int_eq(store_unlock(s, g_kek), SKR_EBAD_PASSPHRASE);
    ck_assert_int_eq(store_unlock(s, g_kek2), 0);
    expect_n(s, NREC + 4);
    /* Locked, back to the first passphrase with a rotate: the same guarantees. */
    store_lock(s);
    wrap_of(s, w0);
    ck_assert_int_eq(store_passwd(s, g_kek2, &g_kdf, g_kek, true, &n), 0);
    ck_assert_uint_eq(n, NREC + 4);
    ck_assert(!store_is_unlocked(s));
    ck_assert_int_eq(scan_hub(w0), 0);
    ck_assert_int_eq(store_unlock(s, g_kek), 0);
    get_data_key(s, dk0);
    ck_assert_mem_ne(dk0, dk1, 32);
    expect_n(s, NREC + 4);
    store_close(s);
}
END_TEST

/* rotate alone: a new data key and key id, one wrap in the file, the old wrap gone. */
START_TEST(test_rotate_key_file)
{
    uint8_t w0[WRAP], w1[WRAP], slots[2][SLOT];
    store *s = open_hub();
    uint64_t n;

    ck_assert_int_eq(store_init(s, &g_kdf, g_kek), 0);
    post_n(s, 0, NREC);
    wrap_of(s, w0);
    ck_assert_int_eq(store_rotate(s, &n), 0);
    ck_assert_uint_eq(n, NREC);
    wrap_of(s, w1);
    ck_assert_mem_ne(w0, w1, WRAP);
    ck_assert_int_eq(scan_hub(w0), 0);
    read_slots(slots);
    ck_assert_int_eq(slots[0][24], 1); /* one entry */
    store_close(s);
    s = unlocked(g_kek);
    expect_n(s, NREC);
    store_close(s);
}
END_TEST

/* ---- crashes ---- */

typedef enum { OP_PASSWD, OP_PASSWD_ROTATE, OP_UNLOCK } crash_op;

/* Runs op in a child that _exits at `point`; returns once it did (exit code checked). */
static void crash_in_child(crash_op op, int point)
{
    pid_t pid = fork();
    int st;

    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char err[STORE_ERRMSG_MAX];
        store *s = NULL;
        uint64_t n;
        if (store_open(g_hub, &s, err) != 0)
            _exit(1);
        store_test_crash_at(point);
        if (op == OP_UNLOCK)
            (void)store_unlock(s, g_kek);
        else
            (void)store_passwd(s, g_kek, &g_kdf2, g_kek2, op == OP_PASSWD_ROTATE, &n);
        _exit(2); /* the crash point was never reached */
    }
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == STORE_TEST_CRASH_EXIT,
                  "child status %d, want exit %d", st, STORE_TEST_CRASH_EXIT);
}

static void new_hub_with_records(bool legacy, uint8_t w0[WRAP])
{
    store *s = open_hub();

    if (legacy)
        ck_assert_int_eq(store_test_init_legacy(s, &g_kdf, g_kek), 0);
    else
        ck_assert_int_eq(store_init(s, &g_kdf, g_kek), 0);
    post_n(s, 0, NREC);
    wrap_of(s, w0);
    store_close(s);
}

/* After the crash: exactly one of the passphrases opens, every record reads, both slots
 * agree, and the file holds one wrap. */
static void expect_after_crash(const uint8_t *good, const uint8_t *bad)
{
    uint8_t slots[2][SLOT];
    store *s = open_hub();

    ck_assert_int_eq(store_unlock(s, bad), SKR_EBAD_PASSPHRASE);
    ck_assert_int_eq(store_unlock(s, good), 0);
    expect_n(s, NREC);
    store_close(s);
    expect_slots_equal();
    read_slots(slots);
    ck_assert_int_eq(slots[0][24], 1);
}

START_TEST(test_crash_passwd_half_written)
{
    uint8_t w0[WRAP];

    new_hub_with_records(false, w0);
    crash_in_child(OP_PASSWD, STORE_CRASH_RING_HALF);
    /* Slot 0 has the new wrap, slot 1 still the old: open takes the newer, mends slot 1. */
    expect_after_crash(g_kek2, g_kek);
    ck_assert_int_eq(scan_hub(w0), 0);
}
END_TEST

START_TEST(test_crash_rotate_before_txn)
{
    uint8_t w0[WRAP];

    new_hub_with_records(false, w0);
    crash_in_child(OP_PASSWD_ROTATE, STORE_CRASH_ROTATE_RING);
    /* Records still under the old key: the old passphrase, the old wrap kept. */
    expect_after_crash(g_kek, g_kek2);
    ck_assert_int_eq(scan_hub(w0), 4);
}
END_TEST

START_TEST(test_crash_rotate_after_txn)
{
    uint8_t w0[WRAP];

    new_hub_with_records(false, w0);
    crash_in_child(OP_PASSWD_ROTATE, STORE_CRASH_ROTATE_TXN);
    /* Records resealed: the new passphrase; open drops the old key's wrap. */
    expect_after_crash(g_kek2, g_kek);
    ck_assert_int_eq(scan_hub(w0), 0);
}
END_TEST

START_TEST(test_crash_migration)
{
    static const int points[] = { STORE_CRASH_RING_HALF, STORE_CRASH_MIGRATE_RING,
                                  STORE_CRASH_MIGRATE_TXN, STORE_CRASH_COMPACT_COPIED };
    uint8_t w0[WRAP];

    new_hub_with_records(true, w0);
    crash_in_child(OP_UNLOCK, points[_i]);
    /* Whatever the step, the hub opens with its passphrase; once open and unlocked, the
     * migration is complete and data.mdb holds no copy of the old wrap. */
    expect_after_crash(g_kek, g_kek2);
    ck_assert_int_eq(scan_hub(w0), 0);
}
END_TEST

/* ---- torn and corrupt slots ---- */

START_TEST(test_torn_slot)
{
    uint8_t w0[WRAP], junk[SLOT / 2], slots[2][SLOT], gen[8];
    char err[STORE_ERRMSG_MAX];
    store *s = NULL;

    new_hub_with_records(false, w0);
    /* Slot 1 half overwritten (a torn write): ignored, then mended from slot 0. */
    randombytes_buf(junk, sizeof junk);
    write_slot_bytes(1, 0, junk, sizeof junk);
    expect_after_crash(g_kek, g_kek2);
    /* Slot 0 with a higher generation but a wrong checksum: ignored too. */
    memset(gen, 0xff, sizeof gen);
    write_slot_bytes(0, 16, gen, sizeof gen);
    expect_after_crash(g_kek, g_kek2);
    read_slots(slots);
    ck_assert_int_ne(slots[0][16], 0xff);
    /* Both slots torn: no key for the records; open refuses and says why. */
    write_slot_bytes(0, 30, junk, 64);
    write_slot_bytes(1, 30, junk, 64);
    ck_assert_int_eq(store_open(g_hub, &s, err), SKR_EINTEGRITY);
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(err, "holds no key") != NULL, "%s", err);
}
END_TEST

/* Whichever slot holds the higher valid generation wins: here slot 0 is put back to the
 * content before a passwd (as a disk that lost the first write would have it). */
START_TEST(test_newer_slot_wins)
{
    uint8_t w0[WRAP], before[2][SLOT];
    store *s;

    new_hub_with_records(false, w0);
    read_slots(before);
    s = open_hub();
    ck_assert_int_eq(store_rewrap(s, g_kek, &g_kdf2, g_kek2), 0);
    store_close(s);
    write_slot_bytes(0, 0, before[0], SLOT);
    expect_after_crash(g_kek2, g_kek);
    ck_assert_int_eq(scan_hub(w0), 0);
}
END_TEST

/* The key file is 0600 and checked like the hub's other files; deleted under a running
 * store, key changes and writes are refused instead of being lost at the next start. */
START_TEST(test_key_file_mode_and_deleted)
{
    uint8_t w0[WRAP];
    char path[400], err[STORE_ERRMSG_MAX];
    struct stat st;
    store *s = NULL;

    new_hub_with_records(false, w0);
    snprintf(path, sizeof path, "%s/keys", g_hub);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    ck_assert_int_eq(st.st_size, 2 * SLOT);
    ck_assert_int_eq(chmod(path, 0644), 0);
    ck_assert_int_eq(store_open(g_hub, &s, err), SKR_EDENIED);
    ck_assert_msg(strstr(err, "keys") != NULL, "%s", err);
    ck_assert_int_eq(chmod(path, 0600), 0);
    s = unlocked(g_kek);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(store_rewrap(s, g_kek, &g_kdf2, g_kek2), SKR_EINTERNAL);
    ck_assert_msg(strstr(store_errmsg(s), "key file was deleted") != NULL, "%s",
                  store_errmsg(s));
    ck_assert_int_eq(store_post(s, "p", "n", (const uint8_t *)"\xa1x", 2), SKR_EINTERNAL);
    expect_n(s, NREC);
    store_close(s);
    /* Without its key file the hub does not open: its records name a key nobody has. */
    ck_assert_int_eq(store_open(g_hub, &s, err), SKR_EINTEGRITY);
    ck_assert_msg(strstr(err, "restore it") != NULL, "%s", err);
}
END_TEST

/* ---- hubs made before the key file ---- */

/* data.mdb holds the wrap (control); the first unlock moves it: meta holds no "wrap" or
 * "kdf" afterwards and no hub file holds the old wrap's bytes. */
START_TEST(test_migrate_legacy)
{
    uint8_t w0[WRAP];
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k, v;
    store *s;
    int hits;

    new_hub_with_records(true, w0);
    hits = scan_hub(w0);
    ck_assert_int_ge(hits, 2); /* in data.mdb: the legacy layout, as the control */
    s = open_hub();
    ck_assert_int_eq(store_unlock(s, g_kek2), SKR_EBAD_PASSPHRASE);
    ck_assert_int_eq(scan_hub(w0), hits); /* a wrong passphrase migrates nothing */
    ck_assert_int_eq(store_unlock(s, g_kek), 0);
    expect_n(s, NREC);
    ck_assert_int_eq(scan_hub(w0), 0);
    post_n(s, NREC, NREC + 1);
    store_close(s);
    ck_assert_int_eq(mdb_env_create(&env), 0);
    ck_assert_int_eq(mdb_env_set_maxdbs(env, 8), 0);
    ck_assert_int_eq(mdb_env_open(env, g_hub, MDB_RDONLY, 0600), 0);
    ck_assert_int_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    k.mv_size = 4;
    k.mv_data = "wrap";
    ck_assert_int_eq(mdb_get(txn, dbi, &k, &v), MDB_NOTFOUND);
    k.mv_size = 3;
    k.mv_data = "kdf";
    ck_assert_int_eq(mdb_get(txn, dbi, &k, &v), MDB_NOTFOUND);
    k.mv_size = 5;
    k.mv_data = "keyid";
    ck_assert_int_eq(mdb_get(txn, dbi, &k, &v), 0);
    ck_assert_uint_eq(v.mv_size, 8);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    s = unlocked(g_kek);
    expect_n(s, NREC + 1);
    store_close(s);
}
END_TEST

/* passwd on a locked legacy hub: migrated and rewrapped in one call. */
START_TEST(test_migrate_legacy_passwd)
{
    uint8_t w0[WRAP];
    store *s;

    new_hub_with_records(true, w0);
    s = open_hub();
    ck_assert_int_eq(store_rewrap(s, g_kek, &g_kdf2, g_kek2), 0);
    ck_assert_int_eq(scan_hub(w0), 0);
    store_close(s);
    expect_after_crash(g_kek2, g_kek);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("store_keys");
    TCase *tc;

    tc = fixture_tcase("passwd", setup, 60);
    tcase_add_test(tc, test_passwd_leaves_no_old_wrap);
    tcase_add_test(tc, test_passwd_rotate);
    tcase_add_test(tc, test_rotate_key_file);
    suite_add_tcase(su, tc);
    tc = fixture_tcase("crash", setup, 60);
    tcase_add_test(tc, test_crash_passwd_half_written);
    tcase_add_test(tc, test_crash_rotate_before_txn);
    tcase_add_test(tc, test_crash_rotate_after_txn);
    tcase_add_loop_test(tc, test_crash_migration, 0, 4);
    tcase_add_test(tc, test_torn_slot);
    tcase_add_test(tc, test_newer_slot_wins);
    tcase_add_test(tc, test_key_file_mode_and_deleted);
    suite_add_tcase(su, tc);
    tc = fixture_tcase("migrate", setup, 60);
    tcase_add_test(tc, test_migrate_legacy);
    tcase_add_test(tc, test_migrate_legacy_passwd);
    suite_add_tcase(su, tc);
    return fixture_run(su);
}
