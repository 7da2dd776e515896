/*
 * tests/unit/test_store.c - the encrypted hub (daemon/store).
 *
 * White-box where it must be: the tamper and rotate tests edit LMDB values through their
 * own environment handle (with the store closed: LMDB forbids two handles on one env in
 * a process) and read the value layout from store_int.h.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store.h"
#include "store_int.h"
#include "store_test.h"
#include "../smaps.h"

static char g_tmp[256];
static char g_hub[300];
static store_kdf g_kdf;
static uint8_t g_kek[STORE_KEY_BYTES];

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

static void setup_disk(void) { setup_in("/tmp"); }
static void setup_shm(void) { setup_in("/dev/shm"); }

static void teardown(void)
{
    nftw(g_tmp, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void fast_kek(const char *pass, store_kdf *kdf, uint8_t kek[STORE_KEY_BYTES])
{
    ck_assert_int_eq(store_kdf_new(kdf, STORE_KDF_ARGON2ID, crypto_pwhash_OPSLIMIT_MIN,
                                   crypto_pwhash_MEMLIMIT_MIN), 0);
    ck_assert_int_eq(store_kdf_derive(kdf, (const uint8_t *)pass, strlen(pass), kek), 0);
}

static store *open_hub(void)
{
    char err[STORE_ERRMSG_MAX];
    store *s = NULL;

    ck_assert_msg(store_open(g_hub, &s, err) == 0, "open: %s", err);
    return s;
}

static store *new_hub(void)
{
    store *s = open_hub();

    fast_kek("correct horse", &g_kdf, g_kek);
    ck_assert_int_eq(store_init(s, &g_kdf, g_kek), 0);
    return s;
}

static store *reopen(store *s)
{
    store_close(s);
    s = open_hub();
    ck_assert_int_eq(store_unlock(s, g_kek), 0);
    return s;
}

/* Runs the mirror build that unlock started to its end; returns how many steps it took
 * (each step is at least one slice of 32 entries, budget 0 makes it exactly one). */
static unsigned mirror_finish(store *s)
{
    unsigned steps = 0;

    while (store_mirror_step(s, 0)) {
        steps++;
        ck_assert_uint_lt(steps, 1000000);
    }
    ck_assert(!store_mirror_building(s));
    return steps + 1;
}

static void post_str(store *s, const char *p, const char *n, const char *body)
{
    int r = store_post(s, p, n, (const uint8_t *)body, strlen(body));
    ck_assert_msg(r == 0, "post %s/%s: %d %s", p, n, r, store_errmsg(s));
}

static void expect_body(store *s, const char *p, const char *n, const char *body)
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

typedef struct coll {
    uint64_t begun;
    size_t n, cap;
    char **str;
    uint64_t *count;
} coll;

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

static void coll_free(coll *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->str[i]);
    free(c->str);
    free(c->count);
    memset(c, 0, sizeof *c);
}

static int list_db(store *s, const char *p, coll *c)
{
    store_lister l = { coll_begin, coll_item, c };
    coll_free(c);
    return store_get_db(s, p, &l);
}

static int list_hub(store *s, coll *c)
{
    store_lister l = { coll_begin, coll_item, c };
    coll_free(c);
    return store_get_hub(s, &l);
}

/* ---- raw LMDB access (store closed) ---- */

typedef struct raw {
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
} raw;

static void raw_open(raw *r, const char *db)
{
    ck_assert_int_eq(mdb_env_create(&r->env), 0);
    ck_assert_int_eq(mdb_env_set_maxdbs(r->env, 8), 0);
    ck_assert_int_eq(mdb_env_open(r->env, g_hub, 0, 0600), 0);
    ck_assert_int_eq(mdb_txn_begin(r->env, NULL, 0, &r->txn), 0);
    ck_assert_int_eq(mdb_dbi_open(r->txn, db, 0, &r->dbi), 0);
}

static void raw_close(raw *r)
{
    ck_assert_int_eq(mdb_txn_commit(r->txn), 0);
    mdb_env_close(r->env);
}

/* Copies of every (key, value) of a database, in key order. */
typedef struct kv {
    size_t n;
    MDB_val k[64], v[64];
} kv;

static void raw_dump(raw *r, kv *out)
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

static void kv_free(kv *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->k[i].mv_data);
        free(d->v[i].mv_data);
    }
    d->n = 0;
}

static void raw_put(raw *r, const MDB_val *k, const MDB_val *v)
{
    MDB_val kk = *k, vv = *v;
    ck_assert_int_eq(mdb_put(r->txn, r->dbi, &kk, &vv, 0), 0);
}

static void get_key(store *s, int which, uint8_t key[32])
{
    uint8_t mask[32] = { 0 };
    ck_assert_int_eq(store_test_key_masked(s, which, mask, key), 0);
}

/* The rec key (Hp || Hn) of a pair, computed with the store's index key. */
static void rec_key(store *s, const char *p, const char *n, uint8_t key[32])
{
    uint8_t ik[32];

    get_key(s, 1, ik);
    store_hash_s(store_test_suite(s), ik, "skr-proto", p, strlen(p), key);
    store_hash_s(store_test_suite(s), ik, "skr-name", n, strlen(n), key + 16);
    sodium_memzero(ik, sizeof ik);
}

/* ================= tests ================= */

START_TEST(test_kdf)
{
    store_kdf k, k2;
    uint8_t a[32], b[32];

    ck_assert_int_eq(store_kdf_new(&k, STORE_KDF_ARGON2ID, 0, 0), 0);
    ck_assert_uint_eq(k.opslimit, STORE_OPSLIMIT_DEFAULT);
    ck_assert_uint_eq(k.memlimit, STORE_MEMLIMIT_DEFAULT);
    ck_assert_int_eq(store_kdf_new(&k2, STORE_KDF_ARGON2ID, 0, 0), 0);
    ck_assert_mem_ne(k.salt, k2.salt, STORE_SALT_BYTES);
    ck_assert_int_eq(store_kdf_new(&k, STORE_KDF_ARGON2ID,
                                   (uint64_t)crypto_pwhash_OPSLIMIT_MAX + 1, 0), SKR_EINVAL);
    ck_assert_int_eq(store_kdf_new(&k, STORE_KDF_ARGON2ID, 1, 1024), SKR_EINVAL);
    ck_assert_int_eq(store_kdf_new(&k, (store_kdf_kind)7, 0, 0), SKR_EINVAL);
    ck_assert_int_eq(store_kdf_new(&k, STORE_KDF_KEYFILE, 0, 0), 0);
    ck_assert_int_eq(store_kdf_derive(&k, (const uint8_t *)"short", 5, a), SKR_EINVAL);
    memset(b, 7, sizeof b);
    ck_assert_int_eq(store_kdf_derive(&k, b, 32, a), 0);
    k2 = k;
    k2.salt[0] ^= 1; /* the salt personalises the keyfile hash */
    ck_assert_int_eq(store_kdf_derive(&k2, b, 32, b), 0);
    ck_assert_mem_ne(a, b, 32);
    fast_kek("x", &k, a);
    ck_assert_int_eq(store_kdf_derive(&k, (const uint8_t *)"x", 1, b), 0);
    ck_assert_mem_eq(a, b, 32);
    ck_assert_int_eq(store_kdf_derive(&k, (const uint8_t *)"y", 1, b), 0);
    ck_assert_mem_ne(a, b, 32);
}
END_TEST

START_TEST(test_open_layout)
{
    char path[400];
    struct stat st;
    store *s;

    umask(0); /* the modes must not depend on the caller's umask */
    s = open_hub();
    ck_assert_int_eq(stat(g_hub, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0700);
    snprintf(path, sizeof path, "%s/a", g_tmp);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0700);
    snprintf(path, sizeof path, "%s/data.mdb", g_hub);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    snprintf(path, sizeof path, "%s/lock.mdb", g_hub);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    ck_assert(!store_is_initialized(s));
    ck_assert(!store_is_unlocked(s));
    store_close(s);
    store_close(NULL);
}
END_TEST

/* A hub file opened to others is refused, naming the file; put back to 0600 it opens. */
static void expect_file_mode_refused(const char *path, mode_t mode, const char *named)
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

START_TEST(test_open_denied)
{
    char err[STORE_ERRMSG_MAX], path[400];
    store *s = NULL;

    store_close(open_hub());
    ck_assert_int_eq(chmod(g_hub, 0755), 0);
    ck_assert_int_eq(store_open(g_hub, &s, err), SKR_EDENIED);
    ck_assert_ptr_null(s);
    ck_assert_ptr_nonnull(strstr(err, "0755"));
    ck_assert_ptr_null(strchr(err, '\n'));
    ck_assert_int_eq(chmod(g_hub, 0700), 0);
    snprintf(path, sizeof path, "%s/data.mdb", g_hub);
    expect_file_mode_refused(path, 0644, "data.mdb");
    /* A file where the folder should be. */
    snprintf(path, sizeof path, "%s/plain", g_tmp);
    close(open(path, O_CREAT | O_WRONLY, 0600));
    s = NULL;
    ck_assert_int_eq(store_open(path, &s, err), SKR_EDENIED); /* refused: sekretsd exit 3 */
    ck_assert_ptr_nonnull(strstr(err, "not a folder"));
    ck_assert_ptr_null(s);
}
END_TEST

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
    ck_assert_int_eq(fchmod(fd, mode), 0);
    close(fd);
}

START_TEST(test_keyfile)
{
    char path[400], err[STORE_ERRMSG_MAX];
    uint8_t data[40], *content = NULL, kek[32];
    store_kdf kdf;
    size_t len = 0;
    store *s;

    randombytes_buf(data, sizeof data);
    snprintf(path, sizeof path, "%s/key", g_tmp);
    write_file(path, data, sizeof data, 0644);
    ck_assert_int_eq(store_keyfile_read(path, &content, &len, err), SKR_EDENIED);
    ck_assert_ptr_null(content);
    ck_assert_ptr_nonnull(strstr(err, path));
    write_file(path, data, 31, 0600);
    ck_assert_int_eq(store_keyfile_read(path, &content, &len, err), SKR_EINVAL);
    ck_assert_ptr_null(content);
    {
        static uint8_t big[STORE_KEYFILE_MAX + 1];
        write_file(path, big, sizeof big, 0600); /* over 64 KiB */
        ck_assert_int_eq(store_keyfile_read(path, &content, &len, err), SKR_EINVAL);
        ck_assert_ptr_null(content);
        write_file(path, big, STORE_KEYFILE_MAX, 0600);
        ck_assert_int_eq(store_keyfile_read(path, &content, &len, err), 0);
        ck_assert_uint_eq(len, STORE_KEYFILE_MAX);
        store_secret_free(content, len);
        content = NULL;
    }
    snprintf(path, sizeof path, "%s/none", g_tmp);
    ck_assert_int_eq(store_keyfile_read(path, &content, &len, err), SKR_ENOT_FOUND);
    ck_assert_int_eq(store_keyfile_read(g_tmp, &content, &len, err), SKR_EINVAL);
    snprintf(path, sizeof path, "%s/key", g_tmp);
    write_file(path, data, sizeof data, 0400);
    ck_assert_int_eq(store_keyfile_read(path, &content, &len, err), 0);
    ck_assert_uint_eq(len, sizeof data);
    ck_assert_mem_eq(content, data, len);
    /* A hub opened with the keyfile. */
    ck_assert_int_eq(store_kdf_new(&kdf, STORE_KDF_KEYFILE, 0, 0), 0);
    ck_assert_int_eq(store_kdf_derive(&kdf, content, len, kek), 0);
    store_secret_free(content, len);
    s = open_hub();
    ck_assert_int_eq(store_init(s, &kdf, kek), 0);
    post_str(s, "ftp", "bob", "b");
    store_close(s);
    s = open_hub();
    ck_assert_int_eq(store_unlock(s, kek), 0);
    expect_body(s, "ftp", "bob", "b");
    store_close(s);
}
END_TEST

START_TEST(test_init_unlock)
{
    store_record rec;
    uint8_t bad[32];
    store_kdf got;
    store *s = open_hub();
    uint64_t np = 9, nc = 9;
    bool b;

    fast_kek("pw", &g_kdf, g_kek);
    ck_assert_int_eq(store_get_kdf(s, &got), SKR_ELOCKED);
    ck_assert_int_eq(store_unlock(s, g_kek), SKR_ELOCKED);
    ck_assert_int_eq(store_get(s, "p", "n", &rec), SKR_ELOCKED);
    ck_assert_int_eq(store_post(s, "p", "n", (const uint8_t *)"x", 1), SKR_ELOCKED);
    ck_assert_int_eq(store_stats(s, &np, &nc), 0);
    ck_assert_uint_eq(np, 0);
    ck_assert_uint_eq(nc, 0);
    ck_assert_int_eq(store_init(s, &g_kdf, g_kek), 0);
    ck_assert(store_is_initialized(s) && store_is_unlocked(s));
    ck_assert_int_eq(store_init(s, &g_kdf, g_kek), SKR_EEXISTS);
    post_str(s, "p", "n", "body");
    store_lock(s);
    store_lock(s);
    ck_assert(!store_is_unlocked(s));
    ck_assert_int_eq(store_get(s, "p", "n", &rec), SKR_ELOCKED);
    ck_assert_int_eq(store_delete(s, "p", "n", &b), SKR_ELOCKED);
    ck_assert_int_eq(store_rotate(s, NULL), SKR_ELOCKED);
    ck_assert_int_eq(store_stats(s, &np, &nc), 0); /* counts stay available */
    ck_assert_uint_eq(np, 1);
    ck_assert_uint_eq(nc, 1);
    memcpy(bad, g_kek, 32);
    bad[31] ^= 1;
    ck_assert_int_eq(store_unlock(s, bad), SKR_EBAD_PASSPHRASE);
    ck_assert(!store_is_unlocked(s));
    ck_assert_int_eq(store_unlock(s, g_kek), 0);
    expect_body(s, "p", "n", "body");
    store_close(s);
    s = open_hub();
    ck_assert(store_is_initialized(s) && !store_is_unlocked(s));
    ck_assert_int_eq(store_get_kdf(s, &got), 0);
    ck_assert_int_eq(got.kind, STORE_KDF_ARGON2ID);
    ck_assert_mem_eq(got.salt, g_kdf.salt, STORE_SALT_BYTES);
    ck_assert_uint_eq(got.opslimit, crypto_pwhash_OPSLIMIT_MIN);
    ck_assert_uint_eq(got.memlimit, crypto_pwhash_MEMLIMIT_MIN);
    ck_assert_int_eq(store_init(s, &g_kdf, g_kek), SKR_EEXISTS);
    ck_assert_int_eq(store_unlock(s, bad), SKR_EBAD_PASSPHRASE);
    ck_assert_int_eq(store_unlock(s, g_kek), 0);
    expect_body(s, "p", "n", "body");
    store_close(s);
}
END_TEST

START_TEST(test_ops)
{
    static uint8_t big[STORE_MAX_BODY + 1];
    store *s = new_hub();
    store_record rec;
    coll c = { 0 };
    bool b = false;

    store_test_set_now(1000);
    post_str(s, "smtp", "alice", "A1");
    ck_assert_int_eq(store_post(s, "smtp", "alice", (const uint8_t *)"A2", 2), SKR_EEXISTS);
    store_test_set_now(2000);
    ck_assert_int_eq(store_put(s, "smtp", "alice", (const uint8_t *)"A3", 2, &b), 0);
    ck_assert(!b);
    ck_assert_int_eq(store_get(s, "smtp", "alice", &rec), 0);
    ck_assert_int_eq(rec.created, 1000);
    ck_assert_int_eq(rec.modified, 2000);
    ck_assert_uint_eq(rec.protocol_len, 4);
    ck_assert_str_eq(rec.protocol, "smtp");
    ck_assert_mem_eq(rec.body, "A3", 2);
    ck_assert_int_eq(store_put(s, "s3", "alice", (const uint8_t *)"S", 1, &b), 0);
    ck_assert(b);
    ck_assert_int_eq(store_get(s, "s3", "alice", &rec), 0);
    ck_assert_int_eq(rec.created, 2000);
    ck_assert_int_eq(rec.modified, 2000);
    /* Without a protocol. */
    ck_assert_int_eq(store_get(s, NULL, "alice", &rec), SKR_EAMBIGUOUS);
    ck_assert_int_eq(store_get(s, NULL, "nobody", &rec), SKR_ENOT_FOUND);
    ck_assert_int_eq(store_get(s, "smtp", "nobody", &rec), SKR_ENOT_FOUND);
    ck_assert_int_eq(store_get(s, "none", "alice", &rec), SKR_ENOT_FOUND);
    post_str(s, "s3", "carol", "C");
    expect_body(s, NULL, "carol", "C");
    ck_assert_int_eq(store_get(s, NULL, "carol", &rec), 0);
    ck_assert_str_eq(rec.protocol, "s3");
    store_release(s);
    ck_assert_int_eq(store_delete(s, "s3", "alice", &b), 0);
    ck_assert(b);
    ck_assert_int_eq(store_delete(s, "s3", "alice", &b), 0);
    ck_assert(!b);
    ck_assert_int_eq(store_delete(s, "nope", "alice", &b), 0);
    ck_assert(!b);
    expect_body(s, NULL, "alice", "A3"); /* no longer ambiguous */
    /* Hub listing and a protocol disappearing with its last name. */
    ck_assert_int_eq(list_hub(s, &c), 0);
    ck_assert_uint_eq(c.begun, 2);
    ck_assert_uint_eq(c.n, 2);
    ck_assert_str_eq(c.str[0], "s3");
    ck_assert_uint_eq(c.count[0], 1);
    ck_assert_str_eq(c.str[1], "smtp");
    ck_assert_uint_eq(c.count[1], 1);
    ck_assert_int_eq(store_delete(s, "s3", "carol", &b), 0);
    ck_assert(b);
    ck_assert_int_eq(list_db(s, "s3", &c), SKR_ENOT_FOUND);
    ck_assert_uint_eq(c.n, 0);
    ck_assert_int_eq(list_hub(s, &c), 0);
    ck_assert_uint_eq(c.n, 1);
    ck_assert_str_eq(c.str[0], "smtp");
    /* Limits and arguments. */
    memset(big, 0xa5, sizeof big);
    ck_assert_int_eq(store_post(s, "p", "big", big, sizeof big), SKR_ETOO_LARGE);
    ck_assert_int_eq(store_post(s, "p", "big", big, sizeof big - 1), 0);
    ck_assert_int_eq(store_get(s, "p", "big", &rec), 0);
    ck_assert_uint_eq(rec.body_len, STORE_MAX_BODY);
    ck_assert_mem_eq(rec.body, big, STORE_MAX_BODY);
    store_release(s);
    ck_assert_int_eq(store_post(s, "p", "e", big, 0), SKR_EINVAL);
    ck_assert_int_eq(store_post(s, "", "e", big, 1), SKR_EINVAL);
    ck_assert_int_eq(store_post(s, "p", "", big, 1), SKR_EINVAL);
    ck_assert_int_eq(store_post(s, NULL, "e", big, 1), SKR_EINVAL);
    {
        char p65[66], n257[258];
        memset(p65, 'p', 65); p65[65] = '\0';
        memset(n257, 'n', 257); n257[257] = '\0';
        ck_assert_int_eq(store_post(s, p65, "e", big, 1), SKR_EINVAL);
        ck_assert_int_eq(store_post(s, "p", n257, big, 1), SKR_EINVAL);
        p65[64] = '\0';
        n257[256] = '\0';
        ck_assert_int_eq(store_post(s, p65, n257, big, 1), 0);
        expect_body(s, p65, n257, "\xa5");
    }
    coll_free(&c);
    store_close(s);
}
END_TEST

/* Import keeps the dates of the file: the times given are stored exactly; a replace
 * without `created` keeps the old one; out-of-range times are refused. */
START_TEST(test_times_given)
{
    store *s = new_hub();
    store_record rec;
    bool b = true;
    const uint8_t *body = (const uint8_t *)"B";

    store_test_set_now(5000);
    ck_assert_int_eq(store_post_at(s, "p", "a", body, 1, 0, STORE_TIME_MAX), 0);
    ck_assert_int_eq(store_get(s, "p", "a", &rec), 0);
    ck_assert_int_eq(rec.created, 0);
    ck_assert_int_eq(rec.modified, STORE_TIME_MAX);
    store_release(s);
    ck_assert_int_eq(store_post_at(s, "p", "a", body, 1, 1, 1), SKR_EEXISTS);
    /* A replace: modified given, created kept. */
    ck_assert_int_eq(store_put_at(s, "p", "a", body, 1, &b, STORE_TIME_NOW, 1700000000), 0);
    ck_assert(!b);
    ck_assert_int_eq(store_get(s, "p", "a", &rec), 0);
    ck_assert_int_eq(rec.created, 0);
    ck_assert_int_eq(rec.modified, 1700000000);
    store_release(s);
    /* Neither given: created kept, modified now. */
    ck_assert_int_eq(store_put_at(s, "p", "a", body, 1, &b, STORE_TIME_NOW, STORE_TIME_NOW), 0);
    ck_assert_int_eq(store_get(s, "p", "a", &rec), 0);
    ck_assert_int_eq(rec.created, 0);
    ck_assert_int_eq(rec.modified, 5000);
    store_release(s);
    /* created given on a replace. */
    ck_assert_int_eq(store_put_at(s, "p", "a", body, 1, &b, 1234567890, STORE_TIME_NOW), 0);
    ck_assert_int_eq(store_get(s, "p", "a", &rec), 0);
    ck_assert_int_eq(rec.created, 1234567890);
    ck_assert_int_eq(rec.modified, 5000);
    store_release(s);
    /* A new record by put, only created given. */
    ck_assert_int_eq(store_put_at(s, "p", "n", body, 1, &b, 42, STORE_TIME_NOW), 0);
    ck_assert(b);
    ck_assert_int_eq(store_get(s, "p", "n", &rec), 0);
    ck_assert_int_eq(rec.created, 42);
    ck_assert_int_eq(rec.modified, 5000);
    store_release(s);
    ck_assert_int_eq(store_post_at(s, "p", "r", body, 1, -1, 0), SKR_EINVAL);
    ck_assert_int_eq(store_post_at(s, "p", "r", body, 1, 0, STORE_TIME_MAX + 1), SKR_EINVAL);
    ck_assert_int_eq(store_put_at(s, "p", "a", body, 1, &b, INT64_MAX, 0), SKR_EINVAL);
    ck_assert_int_eq(store_get(s, "p", "r", &rec), SKR_ENOT_FOUND);
    ck_assert_int_eq(store_get(s, "p", "a", &rec), 0);
    ck_assert_int_eq(rec.created, 1234567890);
    store_release(s);
    store_close(s);
}
END_TEST

START_TEST(test_order)
{
    uint64_t np, nc;
    store *s = new_hub();
    coll c = { 0 };
    bool b;

    post_str(s, "x", "a", "1");
    post_str(s, "x", "b", "2");
    post_str(s, "y", "other", "o");
    post_str(s, "x", "c", "3");
    post_str(s, "x", "d", "4");
    ck_assert_int_eq(store_delete(s, "x", "b", &b), 0);
    post_str(s, "x", "b", "2'"); /* re-posted: goes last */
    ck_assert_int_eq(store_delete(s, "x", "a", &b), 0);
    ck_assert_int_eq(store_put(s, "x", "e", (const uint8_t *)"5", 1, &b), 0);
    ck_assert_int_eq(store_put(s, "x", "a", (const uint8_t *)"1'", 2, &b), 0);
    ck_assert(b);
    ck_assert_int_eq(store_put(s, "x", "d", (const uint8_t *)"4'", 2, &b), 0);
    ck_assert(!b); /* replaced: keeps its place */
    ck_assert_int_eq(store_delete(s, "x", "d", &b), 0);
    post_str(s, "x", "d", "4''");
    /* seq: a0 b1 other2 c3 d4, b re-posted 5, e 6, a re-put 7, d re-posted 8. */
    ck_assert_int_eq(list_db(s, "x", &c), 0);
    ck_assert_uint_eq(c.begun, 5);
    ck_assert_uint_eq(c.n, 5);
    ck_assert_str_eq(c.str[0], "c");
    ck_assert_str_eq(c.str[1], "b");
    ck_assert_str_eq(c.str[2], "e");
    ck_assert_str_eq(c.str[3], "a");
    ck_assert_str_eq(c.str[4], "d");
    /* A put that replaces keeps the place; reopen and check it survives. */
    ck_assert_int_eq(store_put(s, "x", "c", (const uint8_t *)"3'", 2, &b), 0);
    s = reopen(s);
    ck_assert_int_eq(list_db(s, "x", &c), 0);
    ck_assert_uint_eq(c.n, 5);
    ck_assert_str_eq(c.str[0], "c");
    ck_assert_str_eq(c.str[4], "d");
    expect_body(s, "x", "c", "3'");
    expect_body(s, "x", "d", "4''");
    ck_assert_int_eq(list_db(s, "y", &c), 0);
    ck_assert_uint_eq(c.n, 1);
    ck_assert_str_eq(c.str[0], "other");
    ck_assert_int_eq(store_stats(s, &np, &nc), 0);
    ck_assert_uint_eq(np, 2);
    ck_assert_uint_eq(nc, 6);
    coll_free(&c);
    store_close(s);
}
END_TEST

START_TEST(test_100k)
{
    enum { N = 100000, P = 7 };
    char name[32], body[48], proto[16];
    uint64_t np, nc;
    store_record rec;
    coll c = { 0 };
    size_t map0;
    store *s;

    store_test_set_mapsize(1 << 20); /* 1 MiB: the run must grow the map several times */
    s = new_hub();
    map0 = store_test_mapsize(s);
    for (int i = 0; i < N; i++) {
        snprintf(proto, sizeof proto, "proto%d", i % P);
        snprintf(name, sizeof name, "user-%07d@example.org", i);
        snprintf(body, sizeof body, "\x82\xa1u%07d\xa1p\xa9secret%03d", i, i % 1000);
        post_str(s, proto, name, body);
    }
    ck_assert_uint_gt(store_test_mapsize(s), 8 * map0);
    s = reopen(s);
    for (int i = 0; i < N; i++) {
        snprintf(proto, sizeof proto, "proto%d", i % P);
        snprintf(name, sizeof name, "user-%07d@example.org", i);
        snprintf(body, sizeof body, "\x82\xa1u%07d\xa1p\xa9secret%03d", i, i % 1000);
        ck_assert_int_eq(store_get(s, i % 2 ? proto : NULL, name, &rec), 0);
        ck_assert_uint_eq(rec.body_len, strlen(body));
        ck_assert_mem_eq(rec.body, body, rec.body_len);
        ck_assert_str_eq(rec.protocol, proto);
    }
    store_release(s);
    ck_assert_int_eq(store_stats(s, &np, &nc), 0);
    ck_assert_uint_eq(np, P);
    ck_assert_uint_eq(nc, N);
    ck_assert_int_eq(list_db(s, "proto3", &c), 0);
    ck_assert_uint_eq(c.n, N / P + (3 < N % P));
    for (size_t j = 0; j < c.n; j++) {
        snprintf(name, sizeof name, "user-%07zu@example.org", j * P + 3);
        ck_assert_str_eq(c.str[j], name);
    }
    ck_assert_int_eq(list_hub(s, &c), 0);
    ck_assert_uint_eq(c.n, P);
    for (int j = 0; j < P; j++)
        ck_assert_uint_eq(c.count[j], N / P + (j < N % P));
    coll_free(&c);
    store_close(s);
}
END_TEST

START_TEST(test_2000_protocols)
{
    enum { P = 2000 };
    char proto[32], prev[32] = "";
    store *s = new_hub();
    coll c = { 0 };
    bool b;

    for (int i = 0; i < P; i++) {
        snprintf(proto, sizeof proto, "p%d", (i * 7919) % P);
        for (int j = 0; j <= i % 3; j++) {
            char name[8] = { 'n', (char)('0' + j), 0 };
            post_str(s, proto, name, "b");
        }
    }
    ck_assert_int_eq(store_delete(s, "p0", "n0", &b), 0); /* p0 had 1 name: gone */
    ck_assert(b);
    ck_assert_int_eq(list_hub(s, &c), 0);
    ck_assert_uint_eq(c.begun, P - 1);
    ck_assert_uint_eq(c.n, P - 1);
    for (size_t k = 0; k < c.n; k++) {
        int num = atoi(c.str[k] + 1), i;
        ck_assert_int_lt(strcmp(prev, c.str[k]), 0); /* bytewise: p1 p10 p100 ... */
        snprintf(prev, sizeof prev, "%s", c.str[k]);
        for (i = 0; i < P && (i * 7919) % P != num; i++)
            ;
        ck_assert_uint_eq(c.count[k], (uint64_t)(i % 3 + 1));
    }
    ck_assert_str_eq(c.str[0], "p1");
    ck_assert_str_eq(c.str[1], "p10");
    coll_free(&c);
    store_close(s);
}
END_TEST

START_TEST(test_tamper_swap)
{
    uint8_t ka[32], kb[32];
    store_record rec;
    MDB_val k, v;
    kv d = { 0 };
    raw r;
    store *s = new_hub();
    coll c = { 0 };

    post_str(s, "x", "a", "body-a");
    post_str(s, "x", "b", "body-b");
    post_str(s, "x", "c", "body-c");
    rec_key(s, "x", "a", ka);
    rec_key(s, "x", "b", kb);
    store_close(s);
    /* Swap the values of a and b: each is a valid ciphertext, in the wrong slot. */
    raw_open(&r, "rec");
    raw_dump(&r, &d);
    ck_assert_uint_eq(d.n, 3);
    MDB_val va = { 0 }, vb = { 0 };
    for (size_t i = 0; i < d.n; i++) {
        if (memcmp(d.k[i].mv_data, ka, 32) == 0) va = d.v[i];
        if (memcmp(d.k[i].mv_data, kb, 32) == 0) vb = d.v[i];
    }
    ck_assert_ptr_nonnull(va.mv_data);
    ck_assert_ptr_nonnull(vb.mv_data);
    k = (MDB_val){ 32, ka };
    raw_put(&r, &k, &vb);
    k = (MDB_val){ 32, kb };
    raw_put(&r, &k, &va);
    raw_close(&r);
    kv_free(&d);
    s = open_hub();
    ck_assert_int_eq(store_unlock(s, g_kek), 0);
    ck_assert_int_eq(store_get(s, "x", "a", &rec), SKR_EINTEGRITY);
    ck_assert_int_eq(store_get(s, NULL, "b", &rec), SKR_EINTEGRITY);
    expect_body(s, "x", "c", "body-c");
    ck_assert_int_eq(list_db(s, "x", &c), 0); /* the listing never opens a body */
    ck_assert_uint_eq(c.n, 3);
    /* Swap two ord values too: the listing refuses instead of lying. */
    store_close(s);
    raw_open(&r, "ord");
    raw_dump(&r, &d);
    ck_assert_uint_eq(d.n, 3);
    raw_put(&r, &d.k[0], &d.v[1]);
    raw_close(&r);
    kv_free(&d);
    s = open_hub();
    ck_assert_int_eq(store_unlock(s, g_kek), 0);
    ck_assert_int_eq(list_db(s, "x", &c), SKR_EINTEGRITY);
    ck_assert_uint_eq(c.begun, 0);
    expect_body(s, "x", "c", "body-c");
    (void)v;
    coll_free(&c);
    store_close(s);
}
END_TEST

START_TEST(test_tamper_flip)
{
    enum { N = 20 };
    char name[16], body[16];
    uint8_t kt[32];
    store_record rec;
    kv d = { 0 };
    raw r;
    store *s = new_hub();
    coll c = { 0 };
    bool b;
    int hit = 0;

    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "n%d", i);
        snprintf(body, sizeof body, "body%d", i);
        post_str(s, "x", name, body);
    }
    rec_key(s, "x", "n7", kt);
    store_close(s);
    raw_open(&r, "rec");
    raw_dump(&r, &d);
    ck_assert_uint_eq(d.n, N);
    for (size_t i = 0; i < d.n; i++) {
        if (memcmp(d.k[i].mv_data, kt, 32) != 0)
            continue;
        ((uint8_t *)d.v[i].mv_data)[d.v[i].mv_size / 2] ^= 0x01;
        raw_put(&r, &d.k[i], &d.v[i]);
        hit++;
    }
    ck_assert_int_eq(hit, 1);
    raw_close(&r);
    kv_free(&d);
    s = open_hub();
    ck_assert_int_eq(store_unlock(s, g_kek), 0);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "n%d", i);
        snprintf(body, sizeof body, "body%d", i);
        if (i == 7) {
            ck_assert_int_eq(store_get(s, "x", name, &rec), SKR_EINTEGRITY);
            ck_assert_int_eq(store_get(s, NULL, name, &rec), SKR_EINTEGRITY);
        } else {
            expect_body(s, "x", name, body);
        }
    }
    ck_assert_int_eq(list_db(s, "x", &c), 0);
    ck_assert_uint_eq(c.n, N);
    ck_assert_int_eq(store_put(s, "x", "n7", (const uint8_t *)"z", 1, &b), SKR_EINTEGRITY);
    ck_assert_int_eq(store_rotate(s, NULL), SKR_EINTEGRITY);
    expect_body(s, "x", "n8", "body8");
    /* Delete clears the corrupt record; the name can then be posted again. */
    ck_assert_int_eq(store_delete(s, "x", "n7", &b), 0);
    ck_assert(b);
    post_str(s, "x", "n7", "fresh");
    expect_body(s, "x", "n7", "fresh");
    ck_assert_int_eq(list_db(s, "x", &c), 0);
    ck_assert_uint_eq(c.n, N);
    ck_assert_str_eq(c.str[N - 1], "n7");
    coll_free(&c);
    store_close(s);
}
END_TEST

/* A record value far larger than any the store writes (a crafted hub): unlock copies the
 * hub into memory and must neither overrun nor keep it; the get reports integrity. */
START_TEST(test_tamper_huge)
{
    const size_t huge = (size_t)3 << 20; /* needs four LEB128 bytes */
    uint8_t ka[32];
    store_record rec;
    raw r;
    store *s = new_hub();

    post_str(s, "x", "a", "body-a");
    post_str(s, "x", "b", "body-b");
    rec_key(s, "x", "a", ka);
    store_close(s);
    raw_open(&r, "rec");
    MDB_val k = { 32, ka }, v = { huge, calloc(1, huge) };
    ck_assert_ptr_nonnull(v.mv_data);
    raw_put(&r, &k, &v);
    raw_close(&r);
    free(v.mv_data);
    s = open_hub();
    ck_assert_int_eq(store_unlock(s, g_kek), 0);
    mirror_finish(s);
    ck_assert_uint_eq(store_test_mirror_count(s), 1); /* b only */
    ck_assert_int_eq(store_get(s, "x", "a", &rec), SKR_EINTEGRITY);
    expect_body(s, "x", "b", "body-b");
    store_close(s);
}
END_TEST

static bool mem_has(const uint8_t *hay, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    return n >= m && memmem(hay, n, needle, m) != NULL;
}

/* How many (marker or its hex) occurrences in the hub folder's files. */
static int count_markers(const char *dir, const char *const *markers, size_t nm)
{
    static uint8_t buf[64 << 20];
    const char *files[] = { "data.mdb", "lock.mdb" };
    char path[400], hex[256], HEX[256];
    int hits = 0;

    for (size_t f = 0; f < 2; f++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[f]);
        int fd = open(path, O_RDONLY);
        ck_assert_int_ge(fd, 0);
        ssize_t n = read(fd, buf, sizeof buf);
        ck_assert_int_gt(n, 0);
        ck_assert_int_lt(n, (ssize_t)sizeof buf);
        close(fd);
        for (size_t i = 0; i < nm; i++) {
            sodium_bin2hex(hex, sizeof hex, (const uint8_t *)markers[i], strlen(markers[i]));
            for (size_t j = 0; hex[j]; j++)
                HEX[j] = (char)(hex[j] >= 'a' ? hex[j] - 32 : hex[j]);
            HEX[strlen(hex)] = '\0';
            hits += mem_has(buf, (size_t)n, markers[i]) + mem_has(buf, (size_t)n, hex) +
                    mem_has(buf, (size_t)n, HEX);
        }
    }
    return hits;
}

START_TEST(test_no_plaintext)
{
    const char *markers[] = { "MkProtoQz81", "mk-name-Jw27", "MK-BODY-vX93", "MkProtoGone",
                              "mk-name-gone", "MK-BODY-OLD" };
    char dummy[40];
    store *s = new_hub();
    bool b;

    post_str(s, markers[0], markers[1], markers[2]);
    post_str(s, markers[3], markers[4], "x");
    post_str(s, markers[0], "n2", markers[5]);
    ck_assert_int_eq(store_put(s, markers[0], "n2", (const uint8_t *)"new", 3, &b), 0);
    ck_assert_int_eq(store_delete(s, markers[3], markers[4], &b), 0);
    for (int i = 0; i < 200; i++) { /* pages get reused and freed */
        snprintf(dummy, sizeof dummy, "filler-%d", i);
        post_str(s, "fill", dummy, dummy);
    }
    /* The same through the journal: a batch is in no other file until a checkpoint. */
    ck_assert_int_eq(store_batch_begin(s), 0);
    post_str(s, markers[0], "in-journal", markers[2]);
    ck_assert_int_eq(store_batch_commit(s), 0);
    {
        char path[400];
        struct stat st;
        snprintf(path, sizeof path, "%s/journal", g_hub);
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_int_gt(st.st_size, 4096); /* the scan below covers a real record */
    }
    ck_assert_int_eq(count_markers(g_hub, markers, 6), 0);
    store_close(s);
    ck_assert_int_eq(count_markers(g_hub, markers, 6), 0);
    /* Positive control: the same scan finds a marker planted in clear, and its hex. */
    {
        char path[400];
        snprintf(path, sizeof path, "%s/extra", g_tmp);
        mkdir(path, 0700);
        snprintf(path, sizeof path, "%s/extra/data.mdb", g_tmp);
        write_file(path, "..MK-BODY-vX93..4d6b50726f746f517a3831", 39, 0600);
        snprintf(path, sizeof path, "%s/extra/lock.mdb", g_tmp);
        write_file(path, "x", 1, 0600);
        snprintf(path, sizeof path, "%s/extra", g_tmp);
        ck_assert_int_eq(count_markers(path, markers, 6), 2);
    }
}
END_TEST

START_TEST(test_rewrap)
{
    uint8_t kek2[32], kek3[32], bad[32];
    store_kdf kdf2, kdf3, got;
    store *s = new_hub();

    post_str(s, "p", "n", "body");
    fast_kek("new passphrase", &kdf2, kek2);
    memcpy(bad, g_kek, 32);
    bad[0] ^= 0x80;
    ck_assert_int_eq(store_rewrap(s, bad, &kdf2, kek2), SKR_EBAD_PASSPHRASE);
    ck_assert_int_eq(store_rewrap(s, g_kek, &kdf2, kek2), 0);
    ck_assert(store_is_unlocked(s));
    expect_body(s, "p", "n", "body");
    ck_assert_int_eq(store_get_kdf(s, &got), 0);
    ck_assert_mem_eq(got.salt, kdf2.salt, STORE_SALT_BYTES);
    store_close(s);
    s = open_hub();
    ck_assert_int_eq(store_unlock(s, g_kek), SKR_EBAD_PASSPHRASE);
    ck_assert_int_eq(store_unlock(s, kek2), 0);
    expect_body(s, "p", "n", "body");
    /* Locked rewrap to a keyfile KDF. */
    store_lock(s);
    ck_assert_int_eq(store_kdf_new(&kdf3, STORE_KDF_KEYFILE, 0, 0), 0);
    memset(bad, 0x33, 32);
    ck_assert_int_eq(store_kdf_derive(&kdf3, bad, 32, kek3), 0);
    ck_assert_int_eq(store_rewrap(s, kek2, &kdf3, kek3), 0);
    ck_assert(!store_is_unlocked(s));
    ck_assert_int_eq(store_unlock(s, kek2), SKR_EBAD_PASSPHRASE);
    ck_assert_int_eq(store_unlock(s, kek3), 0);
    expect_body(s, "p", "n", "body");
    /* Rotate after a rewrap uses the new KEK: the hub still opens with it. */
    ck_assert_int_eq(store_rotate(s, NULL), 0);
    store_close(s);
    s = open_hub();
    ck_assert_int_eq(store_get_kdf(s, &got), 0);
    ck_assert_int_eq(got.kind, STORE_KDF_KEYFILE);
    ck_assert_int_eq(store_unlock(s, kek3), 0);
    expect_body(s, "p", "n", "body");
    store_close(s);
}
END_TEST

static void check_all_classes(int suite, size_t records, size_t protocols);

START_TEST(test_rotate)
{
    enum { N = 50 };
    uint8_t old_dk[32], new_dk[32], ad[STORE_AD_MAX], pt[256];
    _Alignas(16) uint8_t old_keys[STORE_K_TOTAL], new_keys[STORE_K_TOTAL];
    char name[16], body[32];
    kv before = { 0 }, after = { 0 };
    uint64_t n = 0;
    size_t adlen, ptlen;
    raw r;
    store *s = new_hub();
    int suite = store_test_suite(s);

    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "n%d", i);
        snprintf(body, sizeof body, "rotate-body-%d", i);
        post_str(s, i % 3 ? "a" : "b", name, body);
    }
    get_key(s, 0, old_dk);
    store_close(s);
    raw_open(&r, "rec");
    raw_dump(&r, &before);
    raw_close(&r);
    s = open_hub();
    ck_assert_int_eq(store_unlock(s, g_kek), 0);
    /* A batch leaves a record sealed under the old key in the journal... */
    ck_assert_int_eq(store_batch_begin(s), 0);
    post_str(s, "b", "in-journal", "old-key-body");
    ck_assert_int_eq(store_batch_commit(s), 0);
    ck_assert_int_eq(store_delete(s, "b", "in-journal", NULL), 0);
    ck_assert_int_eq(store_rotate(s, &n), 0);
    ck_assert_uint_eq(n, N);
    { /* ...which rotate drops: only the header is left */
        char path[400];
        struct stat st;
        snprintf(path, sizeof path, "%s/journal", g_hub);
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_int_lt(st.st_size, 4096);
    }
    get_key(s, 0, new_dk);
    ck_assert_mem_ne(old_dk, new_dk, 32);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "n%d", i);
        snprintf(body, sizeof body, "rotate-body-%d", i);
        expect_body(s, i % 3 ? "a" : "b", name, body);
    }
    s = reopen(s); /* the new data key was wrapped under the same KEK */
    expect_body(s, "a", "n1", "rotate-body-1");
    store_close(s);
    check_all_classes(suite, N, 2); /* rotate keeps format 2 and each value's class */
    raw_open(&r, "rec");
    raw_dump(&r, &after);
    raw_close(&r);
    ck_assert_uint_eq(after.n, N);
    /* Key buffers as the store uses them: the data key, then what the suite derives. */
    memcpy(old_keys + STORE_K_DATA, old_dk, 32);
    store_keys_derive(old_keys, suite);
    memcpy(new_keys + STORE_K_DATA, new_dk, 32);
    store_keys_derive(new_keys, suite);
    for (size_t i = 0; i < N; i++) {
        MDB_val *v = &after.v[i];
        ck_assert_mem_eq(before.k[i].mv_data, after.k[i].mv_data, 32);
        ck_assert_uint_eq(before.v[i].mv_size, v->mv_size);
        ck_assert_mem_ne(before.v[i].mv_data, v->mv_data, v->mv_size);
        adlen = store_ad(ad, STORE_AD_REC, &after.k[i], v->mv_data, STORE_REC_CLEAR);
        ck_assert_int_eq(store_unseal_s(suite, old_keys, ad, adlen,
                                        (uint8_t *)v->mv_data + STORE_REC_CLEAR,
                                        v->mv_size - STORE_REC_CLEAR, pt, sizeof pt, &ptlen),
                         SKR_EINTEGRITY);
        ck_assert_int_eq(store_unseal_s(suite, new_keys, ad, adlen,
                                        (uint8_t *)v->mv_data + STORE_REC_CLEAR,
                                        v->mv_size - STORE_REC_CLEAR, pt, sizeof pt, &ptlen), 0);
        /* and the old ciphertext opened with the old key (the control) */
        v = &before.v[i];
        ck_assert_int_eq(store_unseal_s(suite, old_keys, ad, adlen,
                                        (uint8_t *)v->mv_data + STORE_REC_CLEAR,
                                        v->mv_size - STORE_REC_CLEAR, pt, sizeof pt, &ptlen), 0);
    }
    kv_free(&before);
    kv_free(&after);
    sodium_memzero(old_keys, sizeof old_keys);
    sodium_memzero(new_keys, sizeof new_keys);
}
END_TEST

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

/*
 * Scans every readable mapping of this process (/proc/self/mem) for key ^ mask ^ mask,
 * computed byte by byte so that the pattern itself is never in memory.
 */
static bool memory_holds_key(const uint8_t masked[32], const uint8_t mask[32])
{
    const size_t chunk = 1 << 20;
    uint8_t *buf = mmap(NULL, chunk + 32, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    FILE *maps = fopen("/proc/self/maps", "r");
    int fd = open("/proc/self/mem", O_RDONLY);
    unsigned long lo, hi;
    char perms[8], line[512];
    bool found = false;

    ck_assert(buf != MAP_FAILED && maps != NULL && fd >= 0);
    while (!found && fgets(line, sizeof line, maps) != NULL) {
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3 || perms[0] != 'r' ||
            strstr(line, "[vvar]") || strstr(line, "[vsyscall]") || hi - lo > (256ul << 20) ||
            (lo <= (unsigned long)buf && (unsigned long)buf < hi))
            continue;
        for (unsigned long at = lo; !found && at < hi; at += chunk) {
            size_t want = hi - at < chunk + 31 ? hi - at : chunk + 31;
            ssize_t n = pread(fd, buf, want, (off_t)at);
            for (ssize_t i = 0; i + 32 <= n && !found; i++) {
                int j = 0;
                while (j < 32 && buf[i + j] == (uint8_t)(masked[j] ^ mask[j]))
                    j++;
                found = j == 32;
            }
        }
    }
    sodium_memzero(buf, chunk + 32); /* it may hold the key after a positive scan */
    munmap(buf, chunk + 32);
    fclose(maps);
    close(fd);
    return found;
}

START_TEST(test_lock_wipes)
{
    uint8_t mask[32], mdata[32], mindex[32];
    store_record rec;
    store *s = new_hub();

    post_str(s, "p", "n", "body");
    expect_body(s, "p", "n", "body");
    randombytes_buf(mask, sizeof mask);
    ck_assert_int_eq(store_test_key_masked(s, 0, mask, mdata), 0);
    ck_assert_int_eq(store_test_key_masked(s, 1, mask, mindex), 0);
    /* Control: while unlocked the scan finds both keys. */
    ck_assert(memory_holds_key(mdata, mask));
    ck_assert(memory_holds_key(mindex, mask));
    store_lock(s);
    ck_assert_int_eq(store_test_key_masked(s, 0, mask, mdata), SKR_ELOCKED);
    ck_assert(!memory_holds_key(mdata, mask));
    ck_assert(!memory_holds_key(mindex, mask));
    ck_assert_int_eq(store_get(s, "p", "n", &rec), SKR_ELOCKED);
    /* Unlock, rotate, close: no key of either generation stays. */
    ck_assert_int_eq(store_unlock(s, g_kek), 0);
    ck_assert_int_eq(store_rotate(s, NULL), 0);
    store_close(s);
    ck_assert(!memory_holds_key(mdata, mask));
    ck_assert(!memory_holds_key(mindex, mask));
}
END_TEST

START_TEST(test_map_growth)
{
    static uint8_t body[STORE_MAX_BODY];
    char name[16];
    store_record rec;
    size_t m0;
    store *s;

    store_test_set_mapsize(64 << 10); /* 64 KiB: the first big write already overflows */
    s = new_hub();
    m0 = store_test_mapsize(s);
    for (int i = 0; i < 64; i++) {
        snprintf(name, sizeof name, "big%d", i);
        memset(body, i, sizeof body);
        ck_assert_int_eq(store_post(s, "p", name, body, sizeof body), 0);
    }
    ck_assert_uint_ge(store_test_mapsize(s), 64 * sizeof body);
    ck_assert_uint_gt(store_test_mapsize(s), m0);
    for (int i = 0; i < 64; i++) {
        snprintf(name, sizeof name, "big%d", i);
        ck_assert_msg(store_get(s, "p", name, &rec) == 0, "before rotate %d", i);
    }
    ck_assert_int_eq(store_rotate(s, NULL), 0);
    for (int i = 0; i < 64; i++) {
        snprintf(name, sizeof name, "big%d", i);
        ck_assert_msg(store_get(s, "p", name, &rec) == 0, "after rotate %d", i);
    } /* rotate copies every page: grows again */
    s = reopen(s);
    for (int i = 0; i < 64; i++) {
        snprintf(name, sizeof name, "big%d", i);
        memset(body, i, sizeof body);
        ck_assert_int_eq(store_get(s, "p", name, &rec), 0);
        ck_assert_uint_eq(rec.body_len, sizeof body);
        ck_assert_mem_eq(rec.body, body, sizeof body);
    }
    store_release(s);
    store_close(s);
}
END_TEST

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

START_TEST(test_default_dir)
{
    char buf[256];

    setenv("SEKRETS_HUB", "/x/hub", 1);
    ck_assert_int_eq(store_default_dir(buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "/x/hub");
    ck_assert_int_eq(store_default_dir(buf, 4), SKR_EINVAL);
    unsetenv("SEKRETS_HUB");
    setenv("XDG_DATA_HOME", "/d", 1);
    ck_assert_int_eq(store_default_dir(buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "/d/sekrets/hub");
    setenv("XDG_DATA_HOME", "relative", 1);
    setenv("HOME", "/home/u", 1);
    ck_assert_int_eq(store_default_dir(buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "/home/u/.local/share/sekrets/hub");
    unsetenv("XDG_DATA_HOME");
    unsetenv("HOME");
    ck_assert_int_eq(store_default_dir(buf, sizeof buf), SKR_EINVAL);
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

static long data_map_rss_kb(void);

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

/* ---- the record mirror (store_mirror.c) ---- */

#define MIR_NAMES 48

/* What the hub should hold: body[i] of name i, "" when absent. */
typedef struct mir_model {
    char body[MIR_NAMES][24];
} mir_model;

static void mir_name(int i, char p[8], char n[16])
{
    snprintf(p, 8, "p%d", i % 3);
    snprintf(n, 16, "n%d", i);
}

/* Every name, with and without its protocol, against the model; returns the live count. */
static size_t mir_check(store *s, const mir_model *m)
{
    char p[8], n[16];
    store_record rec;
    size_t live = 0;

    for (int i = 0; i < MIR_NAMES; i++) {
        mir_name(i, p, n);
        if (m->body[i][0] != '\0') {
            expect_body(s, p, n, m->body[i]);
            expect_body(s, NULL, n, m->body[i]);
            live++;
        } else {
            ck_assert_int_eq(store_get(s, p, n, &rec), SKR_ENOT_FOUND);
            ck_assert_int_eq(store_get(s, NULL, n, &rec), SKR_ENOT_FOUND);
        }
    }
    return live;
}

/* Every live name again, with its protocol: each answered from memory (no miss). */
static void mir_expect_hits(store *s, const mir_model *m)
{
    uint64_t misses = store_test_mirror_misses(s);
    char p[8], n[16];

    for (int i = 0; i < MIR_NAMES; i++)
        if (m->body[i][0] != '\0') {
            mir_name(i, p, n);
            expect_body(s, p, n, m->body[i]);
        }
    ck_assert_uint_eq(store_test_mirror_misses(s), misses);
}

/* Random puts and deletes, in batches and alone, with a lock, a rotate and a reopen on
 * the way: after every step each get must give the model's answer. The loop runs with
 * 32-bit tags, with 2-bit tags and with one tag for all keys (as if every key collided):
 * gets must stay right when keys share a tag, and once read every live key has its own
 * entry (one each: the count is the live count) and is answered from memory. */
START_TEST(test_mirror_model)
{
    static const uint32_t masks[] = { UINT32_MAX, 3, 0 };
    uint32_t mask = masks[_i];
    char p[8], n[16], body[24];
    unsigned seed = 7;
    mir_model m = { 0 };
    store *s;
    bool b;

    store_test_set_mirror_tag_mask(mask);
    s = new_hub();
    for (int step = 0; step < 45; step++) {
        bool batch = step % 3 != 0;
        if (batch)
            ck_assert_int_eq(store_batch_begin(s), 0);
        for (int j = 0; j < 8; j++) {
            int i = rand_r(&seed) % MIR_NAMES;
            mir_name(i, p, n);
            if (rand_r(&seed) % 4 == 0) {
                ck_assert_int_eq(store_delete(s, p, n, &b), 0);
                ck_assert(b == (m.body[i][0] != '\0'));
                m.body[i][0] = '\0';
            } else {
                snprintf(body, sizeof body, "b%d-%d", step, j);
                ck_assert_int_eq(store_put(s, p, n, (const uint8_t *)body, strlen(body), &b), 0);
                snprintf(m.body[i], sizeof m.body[i], "%s", body);
            }
            if (batch && j == 4) /* reads inside a batch see it */
                mir_check(s, &m);
        }
        if (batch)
            ck_assert_int_eq(store_batch_commit(s), 0);
        size_t live = mir_check(s, &m);
        /* Durable values all in memory, those of keys that share a tag too: batches add
         * theirs (dropping their tags' other entries), gets add the rest. */
        ck_assert_uint_eq(store_test_mirror_count(s), live);
        mir_expect_hits(s, &m);
        if (step == 15) {
            store_lock(s);
            ck_assert_uint_eq(store_test_mirror_count(s), 0);
            ck_assert_int_eq(store_unlock(s, g_kek), 0);
            mir_check(s, &m);
        }
        if (step == 30)
            ck_assert_int_eq(store_rotate(s, NULL), 0);
    }
    s = reopen(s);
    mirror_finish(s);
    size_t live = 0;
    for (int i = 0; i < MIR_NAMES; i++)
        live += m.body[i][0] != '\0';
    /* built whole at unlock, keys that share a tag too: no get reads LMDB */
    ck_assert_uint_eq(store_test_mirror_count(s), live);
    mir_expect_hits(s, &m);
    ck_assert_uint_eq(mir_check(s, &m), live);
    ck_assert_uint_eq(store_test_mirror_count(s), live);
    store_close(s);
}
END_TEST

/* The mirror keeps a rec value's clear seq || ver in LEB128 (store_mirror.c): every
 * value comes back byte for byte, whatever the two numbers (ver below seq, both at the
 * ends of the u64 range) and the sealed length (LEB128 boundaries, the largest record);
 * a value shorter than the clear prefix or longer than a record is not taken. With one
 * tag for all keys, each key added keeps its entry beside the others. */
START_TEST(test_mirror_values_exact)
{
    static const uint64_t nums[][2] = {
        { 0, 0 }, { 1, 1 }, { 127, 128 }, { 128, 127 }, { 16383, 16384 },
        { UINT32_MAX, (uint64_t)UINT32_MAX + 1 }, { UINT64_MAX, 0 }, { 0, UINT64_MAX },
        { (uint64_t)1 << 63, UINT64_MAX }, { 5, 3 },
    };
    static const size_t lens[] = { 0, 1, 111, 112, 16367, 16368, 40 + STORE_REC_PT_MAX };
    enum { N = sizeof nums / sizeof nums[0] };
    static uint8_t val[N][STORE_REC_CLEAR + 40 + STORE_REC_PT_MAX];
    uint8_t key[N][2 * STORE_HASH_BYTES];
    size_t len[N];
    store *s = new_hub();
    MDB_val v;

    store_test_set_mirror_tag_mask(_i == 0 ? UINT32_MAX : 0);
    for (size_t i = 0; i < N; i++) {
        randombytes_buf(key[i], sizeof key[i]);
        len[i] = STORE_REC_CLEAR + lens[i % (sizeof lens / sizeof lens[0])];
        store_put_u64(val[i], nums[i][0]);
        store_put_u64(val[i] + 8, nums[i][1]);
        randombytes_buf(val[i] + STORE_REC_CLEAR, len[i] - STORE_REC_CLEAR);
        MDB_val in = { len[i], val[i] };
        if (_i == 0)
            store_mirror_put(s, key[i], val[i], len[i]);
        else
            store_mirror_add(s, key[i], &in);
    }
    ck_assert_uint_eq(store_test_mirror_count(s), N);
    for (size_t i = 0; i < N; i++) {
        size_t pos = 0, found = 0;
        while (store_mirror_next(s, key[i], &pos, &v))
            found += v.mv_size == len[i] && memcmp(v.mv_data, val[i], len[i]) == 0;
        ck_assert_uint_eq(found, 1);
    }
    /* not values the store writes: not taken, and the key's old entry gone */
    store_mirror_put(s, key[0], val[0], STORE_REC_CLEAR - 1);
    store_mirror_put(s, key[1], val[1], STORE_REC_CLEAR + 41 + STORE_REC_PT_MAX);
    ck_assert_uint_eq(store_test_mirror_count(s), _i == 0 ? N - 2 : 0);
    store_close(s);
}
END_TEST

/* ---- the mirror's build after unlock (store_mirror_build.c) ---- */

#define BUILD_N 300

static void build_name(int i, char p[8], char n[16])
{
    snprintf(p, 8, "p%d", i % 3);
    snprintf(n, 16, "n%d", i);
}

static void build_put(store *s, char body[][24], int i, const char *b)
{
    char p[8], n[16];
    bool created;

    build_name(i, p, n);
    ck_assert_int_eq(store_put(s, p, n, (const uint8_t *)b, strlen(b), &created), 0);
    snprintf(body[i], 24, "%s", b);
}

/* Name i with and without its protocol against body[i] ("" = absent). */
static void build_expect(store *s, char body[][24], int i)
{
    char p[8], n[16];
    store_record rec;

    build_name(i, p, n);
    if (body[i][0] == '\0') {
        ck_assert_int_eq(store_get(s, p, n, &rec), SKR_ENOT_FOUND);
        ck_assert_int_eq(store_get(s, NULL, n, &rec), SKR_ENOT_FOUND);
        return;
    }
    expect_body(s, p, n, body[i]);
    expect_body(s, NULL, n, body[i]);
}

/* A hub of BUILD_N names written in one batch, reopened: unlocked, its mirror unbuilt. */
static store *build_hub(char body[][24])
{
    char b[24];
    store *s = new_hub();

    ck_assert_int_eq(store_batch_begin(s), 0);
    for (int i = 0; i < BUILD_N; i++) {
        snprintf(b, sizeof b, "b0-%d", i);
        build_put(s, body, i, b);
    }
    ck_assert_int_eq(store_batch_commit(s), 0);
    s = reopen(s);
    ck_assert(store_mirror_building(s));
    ck_assert_uint_eq(store_test_mirror_count(s), 0);
    return s;
}

/* Unlock returns before the mirror is built: between the build's steps gets read LMDB and
 * answer right, writes (alone and in batches) are seen by every later get, a step while
 * a batch is open does nothing, and the finished mirror holds exactly the live values
 * (with 8 tags as well: the build adds keys that share a tag, never a stale value). */
START_TEST(test_mirror_build_serves)
{
    static const uint32_t masks[] = { UINT32_MAX, 7 }; /* 8 tags: keys share them */
    static char body[BUILD_N][24];
    char b[24];
    unsigned steps = 0;
    uint64_t misses;
    bool deleted;
    store *s;

    store_test_set_mirror_tag_mask(masks[_i]);
    memset(body, 0, sizeof body);
    s = build_hub(body);
    misses = store_test_mirror_misses(s);
    expect_body(s, "p0", "n0", "b0-0");
    ck_assert_uint_eq(store_test_mirror_misses(s), misses + 1); /* from LMDB */
    while (store_mirror_step(s, 0)) {
        int w = (int)(steps * 7 % BUILD_N), d = (int)((steps * 11 + 3) % BUILD_N);
        snprintf(b, sizeof b, "b1-%u", steps);
        if (steps % 2 == 0) {
            build_put(s, body, w, b);
        } else { /* in a batch: the build waits for its commit */
            ck_assert_int_eq(store_batch_begin(s), 0);
            build_put(s, body, w, b);
            size_t count = store_test_mirror_count(s);
            ck_assert(store_mirror_step(s, 0));
            ck_assert_uint_eq(store_test_mirror_count(s), count);
            ck_assert_int_eq(store_batch_commit(s), 0);
        }
        if (steps % 3 == 0) {
            char p[8], n[16];
            build_name(d, p, n);
            ck_assert_int_eq(store_delete(s, p, n, &deleted), 0);
            ck_assert(deleted == (body[d][0] != '\0'));
            body[d][0] = '\0';
        }
        for (int i = (int)steps; i < BUILD_N; i += 37)
            build_expect(s, body, i);
        steps++;
        ck_assert_uint_lt(steps, 100000);
    }
    ck_assert_uint_ge(steps, 10); /* 2 passes of 300 entries, 32 per step: it interleaved */
    size_t live = 0;
    for (int i = 0; i < BUILD_N; i++) {
        build_expect(s, body, i);
        live += body[i][0] != '\0';
    }
    ck_assert_uint_eq(store_test_mirror_count(s), live);
    misses = store_test_mirror_misses(s);
    for (int i = 0; i < BUILD_N; i++)
        if (body[i][0] != '\0')
            build_expect(s, body, i);
    ck_assert_uint_eq(store_test_mirror_misses(s), misses); /* every live one from memory */
    store_close(s);
}
END_TEST

/* A lock during the build, in either pass, stops it and wipes every byte of the mirror
 * and of the build's state (version table, where it stopped); the next unlock builds it
 * whole again. */
START_TEST(test_mirror_build_lock)
{
    static char body[BUILD_N][24];
    store_record rec;
    store *s;

    memset(body, 0, sizeof body);
    s = build_hub(body);
    for (int i = 0; i < 3; i++) /* into the ord pass */
        ck_assert(store_mirror_step(s, 0));
    ck_assert(!store_test_mirror_wiped(s));
    store_lock(s);
    ck_assert(store_test_mirror_wiped(s));
    ck_assert(!store_mirror_building(s));
    ck_assert(!store_mirror_step(s, 0));
    ck_assert_int_eq(store_get(s, "p0", "n0", &rec), SKR_ELOCKED);
    ck_assert_int_eq(store_unlock(s, g_kek), 0);
    ck_assert(store_mirror_building(s));
    while (store_test_mirror_count(s) == 0) /* into the rec pass */
        ck_assert(store_mirror_step(s, 0));
    store_lock(s);
    ck_assert(store_test_mirror_wiped(s));
    ck_assert(!store_mirror_step(s, 0));
    ck_assert_int_eq(store_unlock(s, g_kek), 0);
    ck_assert_uint_ge(mirror_finish(s), 10);
    ck_assert_uint_eq(store_test_mirror_count(s), BUILD_N);
    for (int i = 0; i < BUILD_N; i++)
        build_expect(s, body, i);
    store_close(s);
}
END_TEST

/* A batch whose journal write fails leaves the mirror with the old values: the failed
 * writes were dropped from it when made and never added back. */
START_TEST(test_mirror_failed_batch)
{
    store_record rec;
    store *s = new_hub();
    int full, saved;
    bool b;

    ck_assert_int_eq(store_batch_begin(s), 0);
    post_str(s, "x", "a", "old-a");
    post_str(s, "x", "b", "old-b");
    ck_assert_int_eq(store_batch_commit(s), 0);
    ck_assert_uint_eq(store_test_mirror_count(s), 2);
    /* The journal becomes /dev/full: the next batch cannot be made durable. */
    ck_assert_int_ge(saved = dup(s->jfd), 0);
    ck_assert_int_ge(full = open("/dev/full", O_WRONLY | O_CLOEXEC), 0);
    ck_assert_int_ge(dup2(full, s->jfd), 0);
    ck_assert_int_eq(store_batch_begin(s), 0);
    ck_assert_int_eq(store_put(s, "x", "a", (const uint8_t *)"new-a", 5, &b), 0);
    ck_assert_int_eq(store_delete(s, "x", "b", &b), 0);
    post_str(s, "x", "c", "new-c");
    expect_body(s, "x", "a", "new-a"); /* inside the batch */
    ck_assert_int_eq(store_get(s, "x", "b", &rec), SKR_ENOT_FOUND);
    ck_assert_int_eq(store_batch_commit(s), SKR_EINTERNAL);
    ck_assert_int_ge(dup2(saved, s->jfd), 0);
    close(saved);
    close(full);
    expect_body(s, "x", "a", "old-a");
    expect_body(s, "x", "b", "old-b");
    ck_assert_int_eq(store_get(s, "x", "c", &rec), SKR_ENOT_FOUND);
    ck_assert_uint_eq(store_test_mirror_count(s), 2);
    s = reopen(s);
    expect_body(s, "x", "a", "old-a");
    ck_assert_int_eq(store_get(s, "x", "c", &rec), SKR_ENOT_FOUND);
    store_close(s);
}
END_TEST

/* Resident kilobytes of this process's map of the hub's data.mdb (0 when not mapped). */
static long data_map_rss_kb(void)
{
    long kb = smaps_rss_kb(0, "/data.mdb");

    ck_assert_int_ge(kb, 0);
    return kb;
}

/* test_mirror_memory's writes: round 0 puts u0..u<n-1>, round r > 0 puts every third
 * name (i % 3 == r % 3), in batches of 100, so that replaced values lie between live ones
 * and compaction has to move those. */
static void mem_body(int round, int i, char body[240])
{
    memset(body, 'a' + round, 240);
    snprintf(body, 240, "r%d-%d", round, i);
    body[strlen(body)] = '.';
}

static int mem_last_round(int i, int rounds)
{
    for (int r = rounds - 1; r > 0; r--)
        if (r % 3 == i % 3)
            return r;
    return 0;
}

static void mem_write_round(store *s, int n, int round)
{
    char name[16], body[240];
    int in_batch = 0;
    bool b;

    ck_assert_int_eq(store_batch_begin(s), 0);
    for (int i = 0; i < n; i++) {
        if (round > 0 && i % 3 != round % 3)
            continue;
        snprintf(name, sizeof name, "u%d", i);
        mem_body(round, i, body);
        ck_assert_int_eq(store_put(s, "p", name, (const uint8_t *)body, 240, &b), 0);
        if (++in_batch == 100) {
            ck_assert_int_eq(store_batch_commit(s), 0);
            ck_assert_int_eq(store_batch_begin(s), 0);
            in_batch = 0;
        }
    }
    ck_assert_int_eq(store_batch_commit(s), 0);
}

static void mem_get_all(store *s, int n, int rounds)
{
    char name[16], body[240];
    store_record rec;

    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "u%d", i);
        mem_body(mem_last_round(i, rounds), i, body);
        ck_assert_int_eq(store_get(s, "p", name, &rec), 0);
        ck_assert_uint_eq(rec.body_len, 240);
        ck_assert_mem_eq(rec.body, body, 240);
    }
    store_release(s);
}

/* Gets are served from memory: after unlock (and after rotate) the store holds none of
 * the data file's pages, and reading every record maps none again. The writes make the
 * table grow and the arena compact itself (moving live values), and not one get misses. */
START_TEST(test_mirror_memory)
{
    enum { N = 3000, ROUNDS = 16 };
    store *s = new_hub();

    for (int round = 0; round < ROUNDS; round++)
        mem_write_round(s, N, round);
    ck_assert_uint_eq(store_test_mirror_count(s), N);
    /* A value of 240-byte body is padded to 384 bytes of plaintext (store_pad_class);
     * 8,000 values written: at most 4/3 of the live ones kept. */
    size_t per = 8 + STORE_REC_CLEAR + STORE_SEAL_OVERHEAD +
                 store_pad_class(STORE_REC_HEAD + 1 + 5 + 240, STORE_REC_PAD_MIN,
                                 STORE_REC_PT_MAX);
    ck_assert_uint_lt(s->mir.used, (size_t)N * per * 4 / 3 + (256 << 10));
    mem_get_all(s, N, ROUNDS);
    ck_assert_uint_eq(store_test_mirror_misses(s), 0); /* every value survived compaction */
    s = reopen(s);
    mirror_finish(s);
    ck_assert_uint_eq(store_test_mirror_count(s), N);
    ck_assert_int_le(data_map_rss_kb(), 64);
    mem_get_all(s, N, ROUNDS);
    ck_assert_uint_eq(store_test_mirror_misses(s), 0);
    ck_assert_int_le(data_map_rss_kb(), 64);
    /* Rotate seals every value again: the mirror is rebuilt, gets still need no page. */
    ck_assert_int_eq(store_rotate(s, NULL), 0);
    ck_assert_uint_eq(store_test_mirror_count(s), N);
    mem_get_all(s, N, ROUNDS);
    ck_assert_uint_eq(store_test_mirror_misses(s), 0);
    ck_assert_int_le(data_map_rss_kb(), 64);
    store_close(s);
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
    ck_assert_int_eq(store_journal_reload(s), 0);
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

/* ---- format 2: versions, size classes, the upgrade from format 1 ---- */

/* A copy of the value of key in db (store closed). */
static void raw_get(const char *db, const uint8_t *key, size_t klen, MDB_val *out)
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

static void raw_set(const char *db, const uint8_t *key, size_t klen, const MDB_val *v)
{
    MDB_val k = { klen, (void *)key };
    raw r;

    raw_open(&r, db);
    raw_put(&r, &k, v);
    raw_close(&r);
}

static store *open_unlocked(void)
{
    store *s = open_hub();
    ck_assert_int_eq(store_unlock(s, g_kek), 0);
    return s;
}

/* A replace keeps seq, so an earlier value of the same record still matches its own AD:
 * the version in the ord entry is what tells it apart. */
START_TEST(test_rollback)
{
    uint8_t ka[32], oka[24];
    MDB_val rec1, rec2, ord1, ord2;
    store_record rec;
    coll c = { 0 };
    bool b;
    store *s = new_hub();

    post_str(s, "x", "a", "old-a");
    post_str(s, "x", "b", "body-b");
    post_str(s, "y", "c", "body-c");
    rec_key(s, "x", "a", ka);
    store_close(s);
    raw_get("rec", ka, 32, &rec1);
    memcpy(oka, ka, 16);
    memcpy(oka + 16, rec1.mv_data, 8);
    raw_get("ord", oka, 24, &ord1);
    s = open_unlocked();
    ck_assert_int_eq(store_put(s, "x", "a", (const uint8_t *)"new-a", 5, &b), 0);
    store_close(s);
    raw_get("rec", ka, 32, &rec2);
    raw_get("ord", oka, 24, &ord2);
    ck_assert_mem_eq(rec1.mv_data, rec2.mv_data, 8); /* same seq */
    ck_assert_mem_ne((uint8_t *)rec1.mv_data + 8, (uint8_t *)rec2.mv_data + 8, 8);

    /* The older rec value put back: a, with or without protocol, fails; the rest is
     * served; a put does not paper over it; delete clears it. */
    raw_set("rec", ka, 32, &rec1);
    s = open_unlocked();
    /* while the mirror builds, gets read LMDB: the ord check there catches it too */
    ck_assert(store_mirror_building(s));
    ck_assert_int_eq(store_get(s, "x", "a", &rec), SKR_EINTEGRITY);
    ck_assert_int_eq(store_get(s, NULL, "a", &rec), SKR_EINTEGRITY);
    mirror_finish(s);
    ck_assert_uint_eq(store_test_mirror_count(s), 2); /* the mirror did not take it */
    ck_assert_int_eq(store_get(s, "x", "a", &rec), SKR_EINTEGRITY);
    ck_assert_str_eq(store_errmsg(s),
                     "record is not its latest version (an earlier value was put back)");
    ck_assert_int_eq(store_get(s, NULL, "a", &rec), SKR_EINTEGRITY);
    expect_body(s, "x", "b", "body-b");
    expect_body(s, NULL, "c", "body-c");
    ck_assert_int_eq(list_db(s, "x", &c), 0);
    ck_assert_uint_eq(c.n, 2);
    ck_assert_int_eq(store_put(s, "x", "a", (const uint8_t *)"z", 1, &b), SKR_EINTEGRITY);
    store_close(s);

    /* The current rec value with the older ord value: the same. */
    raw_set("rec", ka, 32, &rec2);
    raw_set("ord", oka, 24, &ord1);
    s = open_unlocked();
    ck_assert_int_eq(store_get(s, "x", "a", &rec), SKR_EINTEGRITY);
    ck_assert_int_eq(store_get(s, NULL, "a", &rec), SKR_EINTEGRITY);
    expect_body(s, "x", "b", "body-b");
    store_close(s);

    /* The limit (SECURITY.md): both put back together are an older, consistent state. */
    raw_set("rec", ka, 32, &rec1);
    s = open_unlocked();
    expect_body(s, "x", "a", "old-a");
    store_close(s);

    /* A rolled-back record is cleared by a delete, like a corrupt one. */
    raw_set("ord", oka, 24, &ord2);
    s = open_unlocked();
    ck_assert_int_eq(store_get(s, "x", "a", &rec), SKR_EINTEGRITY);
    ck_assert_int_eq(store_delete(s, "x", "a", &b), 0);
    ck_assert(b);
    post_str(s, "x", "a", "fresh-a");
    s = reopen(s);
    expect_body(s, "x", "a", "fresh-a");
    store_close(s);
    coll_free(&c);
    free(rec1.mv_data);
    free(rec2.mv_data);
    free(ord1.mv_data);
    free(ord2.mv_data);
}
END_TEST

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

static void check_all_classes(int suite, size_t records, size_t protocols)
{
    ck_assert_uint_eq(check_classes("rec", STORE_REC_CLEAR, 128, STORE_REC_PT_MAX, suite),
                      records);
    ck_assert_uint_eq(check_classes("ord", STORE_ORD_CLEAR, 64, 512, suite), records);
    ck_assert_uint_eq(check_classes("protos", 0, 64, 128, suite), protocols);
}

static size_t stored_len(const char *db, const uint8_t *key, size_t klen)
{
    MDB_val v;
    size_t n;

    raw_get(db, key, klen, &v);
    n = v.mv_size;
    free(v.mv_data);
    return n;
}

/* Seals pt as the rec value of key with the clear prefix of `like` (seq, ver), in place of
 * the store: a value only the key holder could make. */
static void forge_rec(store *s, const uint8_t key[32], const MDB_val *like, const uint8_t *pt,
                      size_t n, MDB_val *out)
{
    _Alignas(16) uint8_t keys[STORE_K_TOTAL];
    uint8_t ad[STORE_AD_MAX];
    MDB_val k = { 32, (void *)key };
    int suite = store_test_suite(s);
    size_t adlen = store_ad(ad, STORE_AD_REC, &k, like->mv_data, STORE_REC_CLEAR);

    get_key(s, 0, keys + STORE_K_DATA);
    store_keys_derive(keys, suite);
    out->mv_size = STORE_REC_CLEAR + store_seal_overhead(suite) + n;
    out->mv_data = malloc(out->mv_size);
    memcpy(out->mv_data, like->mv_data, STORE_REC_CLEAR);
    store_seal_s(suite, keys, ad, adlen, pt, n, (uint8_t *)out->mv_data + STORE_REC_CLEAR);
    sodium_memzero(keys, sizeof keys);
}

START_TEST(test_size_classes)
{
    static uint8_t big[STORE_MAX_BODY];
    char lp[STORE_MAX_PROTOCOL + 1], ln[STORE_MAX_NAME + 1], body40[41];
    uint8_t k3[32], k40[32], kn[32], kp[32], kl[32], pt[128] = { 0 };
    uint8_t on[24], ol[24];
    MDB_val like, forged;
    store_record rec;
    store *s = new_hub();
    int suite = store_test_suite(s);

    memset(body40, 'q', 40);
    body40[40] = '\0';
    memset(lp, 'P', STORE_MAX_PROTOCOL);
    lp[STORE_MAX_PROTOCOL] = '\0';
    memset(ln, 'n', STORE_MAX_NAME);
    ln[STORE_MAX_NAME] = '\0';
    randombytes_buf(big, sizeof big);
    post_str(s, "p", "a", "abc");
    post_str(s, "p", "b", body40);
    post_str(s, "p", "a-longer-name-of-30-bytes-....", "abc");
    post_str(s, "protocol-of-20-bytes", "c", "abc");
    /* The largest record there is: the top class holds it. */
    ck_assert_int_eq(store_post(s, lp, ln, big, sizeof big), 0);
    rec_key(s, "p", "a", k3);
    rec_key(s, "p", "b", k40);
    rec_key(s, "p", "a-longer-name-of-30-bytes-....", kn);
    memcpy(kp, k3, 16);
    rec_key(s, "protocol-of-20-bytes", "c", kl);
    s = reopen(s);
    ck_assert_int_eq(store_get(s, lp, ln, &rec), 0);
    ck_assert_uint_eq(rec.body_len, sizeof big);
    ck_assert_mem_eq(rec.body, big, sizeof big);
    store_release(s);
    store_close(s);
    check_all_classes(suite, 5, 3);
    /* Bodies of 3 and 40 bytes, names of 1 and 30, protocols of 1 and 20: one length each. */
    ck_assert_uint_eq(stored_len("rec", k3, 32), stored_len("rec", k40, 32));
    ck_assert_uint_eq(stored_len("rec", k3, 32), stored_len("rec", kn, 32));
    ck_assert_uint_eq(stored_len("rec", k3, 32), stored_len("rec", kl, 32));
    ck_assert_uint_eq(stored_len("rec", k3, 32),
                      STORE_REC_CLEAR + store_seal_overhead(suite) + 128);
    memcpy(on, kn, 16);
    memcpy(on + 16, "\0\0\0\0\0\0\0\2", 8); /* seq 2: the third post */
    memcpy(ol, kl, 16);
    memcpy(ol + 16, "\0\0\0\0\0\0\0\3", 8);
    ck_assert_uint_eq(stored_len("ord", on, 24), stored_len("ord", ol, 24));
    ck_assert_uint_eq(stored_len("protos", kp, 16), stored_len("protos", kl, 16));

    /* The padding carries nothing: a value whose padding is not all zeros, or whose
     * length is not its content's class, fails although it authenticates. */
    s = open_unlocked();
    raw_get("rec", k3, 32, &like);
    pt[16] = 1;                 /* plen */
    pt[18] = 1;                 /* nlen */
    pt[22] = 3;                 /* blen */
    memcpy(pt + STORE_REC_HEAD, "pa" "abc", 5);
    pt[127] = 'X';              /* smuggled */
    forge_rec(s, k3, &like, pt, 128, &forged);
    store_close(s);
    raw_set("rec", k3, 32, &forged);
    free(forged.mv_data);
    s = open_unlocked();
    ck_assert_int_eq(store_get(s, "p", "a", &rec), SKR_EINTEGRITY);
    ck_assert_str_eq(store_errmsg(s), "record is malformed");
    pt[127] = 0;
    forge_rec(s, k3, &like, pt, 64, &forged); /* 64: not the class of 28 bytes */
    store_close(s);
    raw_set("rec", k3, 32, &forged);
    free(forged.mv_data);
    s = open_unlocked();
    ck_assert_int_eq(store_get(s, "p", "a", &rec), SKR_EINTEGRITY);
    forge_rec(s, k3, &like, pt, 128, &forged); /* the control: the right form is served */
    store_close(s);
    raw_set("rec", k3, 32, &forged);
    free(forged.mv_data);
    s = open_unlocked();
    expect_body(s, "p", "a", "abc");
    store_close(s);
    free(like.mv_data);
}
END_TEST

/* ---- a format-1 hub, written as format 1 did (store_upgrade.c's top) ---- */

typedef struct v1hub {
    _Alignas(16) uint8_t keys[STORE_K_TOTAL];
    uint8_t ik[32];
    int suite;
    raw r;
    MDB_dbi meta, rec, ord, names, protos;
} v1hub;

static void v1_put(v1hub *h, MDB_dbi dbi, const char *label, const MDB_val *k,
                   const uint8_t *clear, size_t clen, const uint8_t *pt, size_t n)
{
    static uint8_t out[2048];
    uint8_t ad[STORE_AD_MAX];
    size_t adlen = store_ad(ad, label, k, clear, clen);
    MDB_val kk = *k, v = { clen + store_seal_overhead(h->suite) + n, out };

    ck_assert_uint_le(v.mv_size, sizeof out);
    if (clen > 0)
        memcpy(out, clear, clen);
    store_seal_s(h->suite, h->keys, ad, adlen, pt, n, out + clen);
    ck_assert_int_eq(mdb_put(h->r.txn, dbi, &kk, &v, 0), 0);
}

static void v1_hashes(v1hub *h, const char *p, const char *n, uint8_t key[32])
{
    store_hash_s(h->suite, h->ik, "skr-proto", p, strlen(p), key);
    store_hash_s(h->suite, h->ik, "skr-name", n, strlen(n), key + 16);
}

static void v1_record(v1hub *h, uint64_t seq, const char *p, const char *n, const char *body)
{
    uint8_t key[32], ok[24], seq_be[8], pt[1024];
    size_t plen = strlen(p), nlen = strlen(n), blen = strlen(body);
    MDB_val k = { 32, key }, okv = { 24, ok }, nk = { 16, key + 16 }, nv = { 16, key };

    v1_hashes(h, p, n, key);
    store_put_u64(seq_be, seq);
    store_put_u64(pt, 1000 + seq);
    store_put_u64(pt + 8, 2000 + seq);
    pt[16] = (uint8_t)plen;
    pt[17] = (uint8_t)(nlen >> 8);
    pt[18] = (uint8_t)nlen;
    memcpy(pt + 19, p, plen);
    memcpy(pt + 19 + plen, n, nlen);
    memcpy(pt + 19 + plen + nlen, body, blen);
    v1_put(h, h->rec, STORE_AD_REC_V1, &k, seq_be, 8, pt, 19 + plen + nlen + blen);
    memcpy(ok, key, 16);
    memcpy(ok + 16, seq_be, 8);
    v1_put(h, h->ord, STORE_AD_ORD_V1, &okv, NULL, 0, (const uint8_t *)n, nlen);
    ck_assert_int_eq(mdb_put(h->r.txn, h->names, &nk, &nv, MDB_NODUPDATA), 0);
}

static void v1_protocol(v1hub *h, const char *p, uint64_t count)
{
    uint8_t key[32], pt[8 + STORE_MAX_PROTOCOL];
    MDB_val k = { 16, key };

    v1_hashes(h, p, "-", key);
    store_put_u64(pt, count);
    memcpy(pt + 8, p, strlen(p));
    v1_put(h, h->protos, STORE_AD_PROTO_V1, &k, NULL, 0, pt, 8 + strlen(p));
}

#define V1_N 300
static const char *const v1_protos[3] = { "pa", "pb", "pc" };

static void v1_body(int i, char body[800])
{
    int len = 1 + (i * 37) % 700;
    memset(body, 'a' + i % 26, (size_t)len);
    snprintf(body, 16, "b%d-", i);
    body[strlen(body)] = '-';
    body[len] = '\0';
}

/* new_hub()'s keys, then V1_N records in three protocols written as format 1, the seq
 * counter after them and meta "version" 1. What else the hub held stays. */
static void v1_hub(store *s)
{
    uint8_t seq_be[8], ver[4] = { 0, 0, 0, 1 };
    MDB_val k, v;
    char name[16], body[800];
    v1hub h = { .suite = store_test_suite(s) };

    get_key(s, 0, h.keys + STORE_K_DATA);
    store_keys_derive(h.keys, h.suite);
    get_key(s, 1, h.ik);
    store_close(s);
    raw_open(&h.r, "meta");
    h.meta = h.r.dbi;
    ck_assert_int_eq(mdb_dbi_open(h.r.txn, "rec", 0, &h.rec), 0);
    ck_assert_int_eq(mdb_dbi_open(h.r.txn, "ord", 0, &h.ord), 0);
    ck_assert_int_eq(mdb_dbi_open(h.r.txn, "names", 0, &h.names), 0);
    ck_assert_int_eq(mdb_dbi_open(h.r.txn, "protos", 0, &h.protos), 0);
    for (int i = 0; i < V1_N; i++) {
        snprintf(name, sizeof name, "n%d", i);
        v1_body(i, body);
        v1_record(&h, 100 + (uint64_t)i, v1_protos[i % 3], name, body);
    }
    for (int p = 0; p < 3; p++)
        v1_protocol(&h, v1_protos[p], V1_N / 3);
    store_put_u64(seq_be, 100 + V1_N);
    k = (MDB_val){ 3, "seq" };
    v = (MDB_val){ 8, seq_be };
    ck_assert_int_eq(mdb_put(h.r.txn, h.meta, &k, &v, 0), 0);
    k = (MDB_val){ 7, "version" };
    v = (MDB_val){ 4, ver };
    ck_assert_int_eq(mdb_put(h.r.txn, h.meta, &k, &v, 0), 0);
    raw_close(&h.r);
    sodium_memzero(&h, sizeof h);
}

static void v1_expect_all(store *s, int skip)
{
    char name[16], body[800];
    store_record rec;

    for (int i = 0; i < V1_N; i++) {
        if (i == skip)
            continue;
        snprintf(name, sizeof name, "n%d", i);
        v1_body(i, body);
        ck_assert_int_eq(store_get(s, i % 2 ? v1_protos[i % 3] : NULL, name, &rec), 0);
        ck_assert_uint_eq(rec.body_len, strlen(body));
        ck_assert_mem_eq(rec.body, body, rec.body_len);
        ck_assert_str_eq(rec.protocol, v1_protos[i % 3]);
        ck_assert_int_eq(rec.created, 1100 + i);
        ck_assert_int_eq(rec.modified, 2100 + i);
    }
    store_release(s);
}

static uint32_t meta_version(void)
{
    MDB_val v;
    uint32_t ver;

    raw_get("meta", (const uint8_t *)"version", 7, &v);
    ck_assert_uint_eq(v.mv_size, 4);
    ver = (uint32_t)((uint8_t *)v.mv_data)[0] << 24 | (uint32_t)((uint8_t *)v.mv_data)[1] << 16 |
          (uint32_t)((uint8_t *)v.mv_data)[2] << 8 | ((uint8_t *)v.mv_data)[3];
    free(v.mv_data);
    return ver;
}

START_TEST(test_upgrade_v1)
{
    uint64_t np, nc;
    uint8_t kd[32];
    char name[16];
    coll c = { 0 };
    bool b;
    store *s = new_hub();
    int suite = store_test_suite(s);

    rec_key(s, "pb", "n7", kd);
    v1_hub(s);
    { /* one damaged format-1 record: it stays damaged, the hub still opens */
        MDB_val v;
        raw_get("rec", kd, 32, &v);
        ((uint8_t *)v.mv_data)[v.mv_size - 1] ^= 1;
        raw_set("rec", kd, 32, &v);
        free(v.mv_data);
    }
    ck_assert_uint_eq(meta_version(), 1);
    s = open_hub();
    ck_assert_int_eq(store_test_format(s), 1); /* locked: no key to convert with */
    ck_assert_int_eq(store_stats(s, &np, &nc), 0);
    ck_assert_uint_eq(np, 3);
    ck_assert_uint_eq(nc, V1_N);
    ck_assert_int_eq(store_unlock(s, g_kek), 0);
    ck_assert_int_eq(store_test_format(s), 2);
    v1_expect_all(s, 7);
    store_record rec;
    ck_assert_int_eq(store_get(s, "pb", "n7", &rec), SKR_EINTEGRITY);
    ck_assert_int_eq(list_db(s, "pa", &c), 0); /* creation order kept */
    ck_assert_uint_eq(c.n, V1_N / 3);
    for (size_t i = 0; i < c.n; i++) {
        snprintf(name, sizeof name, "n%zu", 3 * i);
        ck_assert_str_eq(c.str[i], name);
    }
    ck_assert_int_eq(list_hub(s, &c), 0);
    ck_assert_uint_eq(c.n, 3);
    ck_assert_uint_eq(c.count[1], V1_N / 3);
    ck_assert_int_eq(store_delete(s, "pb", "n7", &b), 0);
    ck_assert(b);
    ck_assert_int_eq(store_put(s, "pc", "n2", (const uint8_t *)"after", 5, &b), 0);
    post_str(s, "pa", "new", "posted-after");
    store_close(s);
    ck_assert_uint_eq(meta_version(), 2);
    check_all_classes(suite, V1_N, 3);
    s = open_unlocked();
    expect_body(s, "pc", "n2", "after");
    expect_body(s, "pa", "new", "posted-after");
    ck_assert_int_eq(list_db(s, "pa", &c), 0);
    ck_assert_str_eq(c.str[c.n - 1], "new"); /* after every upgraded name */
    coll_free(&c);
    store_close(s);
}
END_TEST

/* A hub that says format 1 but holds a format-2 value had its version edited: the upgrade
 * refuses (it would seal format-1 values put back beside it as current) and changes
 * nothing: the hub is format 1 as before, whole. */
START_TEST(test_upgrade_altered)
{
    uint8_t k0[32];
    MDB_val before, after;
    store_record rec;
    store *s = new_hub();

    post_str(s, "pz", "z", "a format-2 record");
    rec_key(s, "pa", "n0", k0);
    v1_hub(s);
    raw_get("rec", k0, 32, &before);
    s = open_hub();
    ck_assert_int_eq(store_unlock(s, g_kek), SKR_EINTEGRITY);
    ck_assert_ptr_nonnull(strstr(store_errmsg(s), "version number was altered"));
    ck_assert(!store_is_unlocked(s));
    ck_assert_int_eq(store_get(s, "pa", "n0", &rec), SKR_ELOCKED);
    store_close(s);
    ck_assert_uint_eq(meta_version(), 1);
    raw_get("rec", k0, 32, &after);
    ck_assert_uint_eq(before.mv_size, after.mv_size);
    ck_assert_mem_eq(before.mv_data, after.mv_data, after.mv_size);
    free(before.mv_data);
    free(after.mv_data);
}
END_TEST

/* An empty format-1 hub (opened, never given a record) becomes format 2 at open. */
START_TEST(test_upgrade_empty)
{
    uint8_t ver[4] = { 0, 0, 0, 1 };
    MDB_val v = { 4, ver };
    store *s = open_hub();

    store_close(s);
    raw_set("meta", (const uint8_t *)"version", 7, &v);
    s = open_hub();
    ck_assert_int_eq(store_test_format(s), 2);
    store_close(s);
    ck_assert_uint_eq(meta_version(), 2);
    ver[3] = 3; /* a later format: refused, not guessed at */
    raw_set("meta", (const uint8_t *)"version", 7, &v);
    {
        char err[STORE_ERRMSG_MAX];
        s = NULL;
        ck_assert_int_eq(store_open(g_hub, &s, err), SKR_EINTERNAL);
        ck_assert_ptr_nonnull(strstr(err, "hub format version not supported"));
    }
}
END_TEST

static TCase *tcase(const char *name, void (*setup)(void), int timeout)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, timeout);
    return tc;
}

int main(void)
{
    Suite *su = suite_create("store");
    TCase *tc;
    SRunner *sr;
    int failed;

    if (sodium_init() < 0)
        return EXIT_FAILURE;
    tc = tcase("api", setup_disk, 30);
    tcase_add_test(tc, test_kdf);
    tcase_add_test(tc, test_open_layout);
    tcase_add_test(tc, test_open_denied);
    tcase_add_test(tc, test_keyfile);
    tcase_add_test(tc, test_init_unlock);
    tcase_add_test(tc, test_ops);
    tcase_add_test(tc, test_times_given);
    tcase_add_test(tc, test_order);
    tcase_add_test(tc, test_default_dir);
    suite_add_tcase(su, tc);
    tc = tcase("tamper", setup_disk, 30);
    tcase_add_test(tc, test_tamper_swap);
    tcase_add_test(tc, test_tamper_flip);
    tcase_add_test(tc, test_tamper_huge);
    tcase_add_test(tc, test_rollback);
    tcase_add_test(tc, test_size_classes);
    tcase_add_test(tc, test_upgrade_v1);
    tcase_add_test(tc, test_upgrade_altered);
    tcase_add_test(tc, test_upgrade_empty);
    tcase_add_test(tc, test_no_plaintext);
    suite_add_tcase(su, tc);
    tc = tcase("keys", setup_disk, 30);
    tcase_add_test(tc, test_rewrap);
    tcase_add_test(tc, test_rotate);
    tcase_add_test(tc, test_lock_wipes);
    suite_add_tcase(su, tc);
    tc = tcase("durability", setup_disk, 60);
    tcase_add_test(tc, test_crash);
    tcase_add_test(tc, test_batch);
    tcase_add_test(tc, test_batch_growth);
    tcase_add_test(tc, test_batch_failed_write);
    suite_add_tcase(su, tc);
    tc = tcase("mirror", setup_disk, 60);
    tcase_add_loop_test(tc, test_mirror_model, 0, 3);
    tcase_add_test(tc, test_mirror_failed_batch);
    tcase_add_loop_test(tc, test_mirror_values_exact, 0, 2);
    tcase_add_loop_test(tc, test_mirror_build_serves, 0, 2);
    tcase_add_test(tc, test_mirror_build_lock);
    tcase_add_test(tc, test_mirror_memory);
    suite_add_tcase(su, tc);
    tc = tcase("journal", setup_disk, 60);
    tcase_add_test(tc, test_journal_replay);
    tcase_add_test(tc, test_journal_torn);
    tcase_add_test(tc, test_journal_replay_twice);
    tcase_add_test(tc, test_journal_checkpoint);
    tcase_add_test(tc, test_journal_exclusive);
    tcase_add_test(tc, test_journal_bounded);
    tcase_add_test(tc, test_trim);
    tcase_add_test(tc, test_journal_crash);
    tcase_add_test(tc, test_journal_write_error);
    suite_add_tcase(su, tc);
    tc = tcase("scale", setup_shm, 120);
    tcase_add_test(tc, test_100k);
    tcase_add_test(tc, test_2000_protocols);
    tcase_add_test(tc, test_map_growth);
    suite_add_tcase(su, tc);
    sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
