/*
 * tests/unit/store_fixture.c - the shared fixture of the test_store_*.c binaries (see
 * store_fixture.h).
 */
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_fixture.h"
#include "../smaps.h"

char g_tmp[256];
char g_hub[300];
store_kdf g_kdf;
uint8_t g_kek[STORE_KEY_BYTES];

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st; (void)flag; (void)f;
    return remove(p);
}

/* A fresh folder for each test (Check forks each test: globals are per test). */
static void setup_in(const char *base)
{
    snprintf(g_tmp, sizeof g_tmp, "%s/skr-store-XXXXXX", base);
    ck_assert_ptr_nonnull(mkdtemp(g_tmp));
    snprintf(g_hub, sizeof g_hub, "%s/a/b/hub", g_tmp);
    store_test_set_mapsize(0);
    store_test_set_now(0);
}

void setup_disk(void) { setup_in("/tmp"); }
void setup_shm(void) { setup_in("/dev/shm"); }

void teardown(void)
{
    nftw(g_tmp, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

void fast_kek(const char *pass, store_kdf *kdf, uint8_t kek[STORE_KEY_BYTES])
{
    ck_assert_int_eq(store_kdf_new(kdf, STORE_KDF_ARGON2ID, crypto_pwhash_OPSLIMIT_MIN,
                                   crypto_pwhash_MEMLIMIT_MIN), 0);
    ck_assert_int_eq(store_kdf_derive(kdf, (const uint8_t *)pass, strlen(pass), kek), 0);
}

store *open_hub(void)
{
    char err[STORE_ERRMSG_MAX];
    store *s = NULL;

    ck_assert_msg(store_open(g_hub, &s, err) == 0, "open: %s", err);
    return s;
}

store *new_hub(void)
{
    store *s = open_hub();

    fast_kek("correct horse", &g_kdf, g_kek);
    ck_assert_int_eq(store_init(s, &g_kdf, g_kek), 0);
    return s;
}

store *reopen(store *s)
{
    store_close(s);
    s = open_hub();
    ck_assert_int_eq(store_unlock(s, g_kek), 0);
    return s;
}

/* Runs the mirror build that unlock started to its end; returns how many steps it took
 * (each step is at least one slice of 32 entries, budget 0 makes it exactly one). */
unsigned mirror_finish(store *s)
{
    unsigned steps = 0;

    while (store_mirror_step(s, 0)) {
        steps++;
        ck_assert_uint_lt(steps, 1000000);
    }
    ck_assert(!store_mirror_building(s));
    return steps + 1;
}

void post_str(store *s, const char *p, const char *n, const char *body)
{
    int r = store_post(s, p, n, (const uint8_t *)body, strlen(body));
    ck_assert_msg(r == 0, "post %s/%s: %d %s", p, n, r, store_errmsg(s));
}

void expect_body(store *s, const char *p, const char *n, const char *body)
{
    store_record rec;
    int r = store_get(s, p, n, &rec);

    ck_assert_msg(r == 0, "get %s/%s: %d %s", p ? p : "*", n, r, store_errmsg(s));
    ck_assert_uint_eq(rec.body_len, strlen(body));
    ck_assert_mem_eq(rec.body, body, rec.body_len);
    ck_assert_str_eq(rec.name, n);
    ck_assert_uint_eq(rec.name_len, strlen(n));
    if (p != NULL)
        ck_assert_str_eq(rec.protocol, p);
    store_release(s);
}

/* ---- a lister that keeps everything ---- */

static int coll_begin(void *ctx, uint64_t count)
{
    coll *c = ctx;
    c->begun = count;
    return 0;
}

static int coll_item(void *ctx, const char *str, size_t len, uint64_t count)
{
    coll *c = ctx;

    ck_assert_uint_eq(strlen(str), len);
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 64;
        c->str = realloc(c->str, c->cap * sizeof *c->str);
        c->count = realloc(c->count, c->cap * sizeof *c->count);
    }
    c->str[c->n] = strndup(str, len);
    c->count[c->n++] = count;
    return 0;
}

void coll_free(coll *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->str[i]);
    free(c->str);
    free(c->count);
    memset(c, 0, sizeof *c);
}

int list_db(store *s, const char *p, coll *c)
{
    store_lister l = { coll_begin, coll_item, c };
    coll_free(c);
    return store_get_db(s, p, &l);
}

int list_hub(store *s, coll *c)
{
    store_lister l = { coll_begin, coll_item, c };
    coll_free(c);
    return store_get_hub(s, &l);
}

/* ---- raw LMDB access (store closed) ---- */

void raw_open(raw *r, const char *db)
{
    ck_assert_int_eq(mdb_env_create(&r->env), 0);
    ck_assert_int_eq(mdb_env_set_maxdbs(r->env, 8), 0);
    ck_assert_int_eq(mdb_env_open(r->env, g_hub, 0, 0600), 0);
    ck_assert_int_eq(mdb_txn_begin(r->env, NULL, 0, &r->txn), 0);
    ck_assert_int_eq(mdb_dbi_open(r->txn, db, 0, &r->dbi), 0);
}

void raw_close(raw *r)
{
    ck_assert_int_eq(mdb_txn_commit(r->txn), 0);
    mdb_env_close(r->env);
}

void raw_dump(raw *r, kv *out)
{
    MDB_cursor *c;
    MDB_val k, v;

    out->n = 0;
    ck_assert_int_eq(mdb_cursor_open(r->txn, r->dbi, &c), 0);
    while (mdb_cursor_get(c, &k, &v, out->n ? MDB_NEXT : MDB_FIRST) == 0) {
        ck_assert_uint_lt(out->n, 64);
        out->k[out->n].mv_size = k.mv_size;
        out->k[out->n].mv_data = malloc(k.mv_size);
        memcpy(out->k[out->n].mv_data, k.mv_data, k.mv_size);
        out->v[out->n].mv_size = v.mv_size;
        out->v[out->n].mv_data = malloc(v.mv_size);
        memcpy(out->v[out->n].mv_data, v.mv_data, v.mv_size);
        out->n++;
    }
    mdb_cursor_close(c);
}

void kv_free(kv *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->k[i].mv_data);
        free(d->v[i].mv_data);
    }
    d->n = 0;
}

void raw_put(raw *r, const MDB_val *k, const MDB_val *v)
{
    MDB_val kk = *k, vv = *v;
    ck_assert_int_eq(mdb_put(r->txn, r->dbi, &kk, &vv, 0), 0);
}

void get_key(store *s, int which, uint8_t key[32])
{
    uint8_t mask[32] = { 0 };
    ck_assert_int_eq(store_test_key_masked(s, which, mask, key), 0);
}

/* The rec key (Hp || Hn) of a pair, computed with the store's index key. */
void rec_key(store *s, const char *p, const char *n, uint8_t key[32])
{
    uint8_t ik[32];

    get_key(s, 1, ik);
    store_hash_s(store_test_suite(s), ik, "skr-proto", p, strlen(p), key);
    store_hash_s(store_test_suite(s), ik, "skr-name", n, strlen(n), key + 16);
    sodium_memzero(ik, sizeof ik);
}

/* A hub file opened to others is refused, naming the file; put back to 0600 it opens. */
void expect_file_mode_refused(const char *path, mode_t mode, const char *named)
{
    char err[STORE_ERRMSG_MAX];
    store *s = NULL;

    ck_assert_int_eq(chmod(path, mode), 0);
    ck_assert_int_eq(store_open(g_hub, &s, err), SKR_EDENIED);
    ck_assert_ptr_null(s);
    ck_assert_ptr_nonnull(strstr(err, named));
    ck_assert_int_eq(chmod(path, 0600), 0);
    ck_assert_int_eq(store_open(g_hub, &s, err), 0);
    store_close(s);
}

void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
    ck_assert_int_eq(fchmod(fd, mode), 0);
    close(fd);
}

long data_map_rss_kb(void)
{
    long kb = smaps_rss_kb(0, "/data.mdb");

    ck_assert_int_ge(kb, 0);
    return kb;
}

/* A copy of the value of key in db (store closed). */
void raw_get(const char *db, const uint8_t *key, size_t klen, MDB_val *out)
{
    MDB_val k = { klen, (void *)key }, v;
    raw r;

    raw_open(&r, db);
    ck_assert_int_eq(mdb_get(r.txn, r.dbi, &k, &v), 0);
    out->mv_size = v.mv_size;
    out->mv_data = malloc(v.mv_size);
    memcpy(out->mv_data, v.mv_data, v.mv_size);
    raw_close(&r);
}

void raw_set(const char *db, const uint8_t *key, size_t klen, const MDB_val *v)
{
    MDB_val k = { klen, (void *)key };
    raw r;

    raw_open(&r, db);
    raw_put(&r, &k, v);
    raw_close(&r);
}

store *open_unlocked(void)
{
    store *s = open_hub();
    ck_assert_int_eq(store_unlock(s, g_kek), 0);
    return s;
}

static bool pow2(size_t n)
{
    return n != 0 && (n & (n - 1)) == 0;
}

/* Plaintext lengths of a kind: from min, powers of two and 1.5 times them, and the cap
 * (the top class). */
static bool in_class(size_t stored, size_t clear, size_t min, size_t cap, int suite)
{
    size_t ovh = store_seal_overhead(suite), n;

    if (stored < clear + ovh)
        return false;
    n = stored - clear - ovh;
    return n == cap || (n >= min && n < cap && (pow2(n) || (n % 3 == 0 && pow2(n / 3))));
}

/* Every value of db (store closed) in its kind's classes; returns how many. */
static size_t check_classes(const char *db, size_t clear, size_t min, size_t cap, int suite)
{
    MDB_cursor *c;
    MDB_val k, v;
    size_t n = 0;
    raw r;

    raw_open(&r, db);
    ck_assert_int_eq(mdb_cursor_open(r.txn, r.dbi, &c), 0);
    while (mdb_cursor_get(c, &k, &v, n ? MDB_NEXT : MDB_FIRST) == 0) {
        ck_assert_msg(in_class(v.mv_size, clear, min, cap, suite), "%s: a value of %zu bytes", db,
                      v.mv_size);
        n++;
    }
    mdb_cursor_close(c);
    raw_close(&r);
    return n;
}

void check_all_classes(int suite, size_t records, size_t protocols)
{
    ck_assert_uint_eq(check_classes("rec", STORE_REC_CLEAR, 128, STORE_REC_PT_MAX, suite),
                      records);
    ck_assert_uint_eq(check_classes("ord", STORE_ORD_CLEAR, 64, 512, suite), records);
    ck_assert_uint_eq(check_classes("protos", 0, 64, 128, suite), protocols);
}

TCase *fixture_tcase(const char *name, void (*setup)(void), int timeout)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, timeout);
    return tc;
}

int fixture_run(Suite *su)
{
    SRunner *sr;
    int failed;

    if (sodium_init() < 0)
        return EXIT_FAILURE;
    sr = srunner_create(su);
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
