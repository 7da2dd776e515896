/*
 * daemon/store/store_keys.c - hub keys: init, unlock, lock and passwd (store_passwd,
 * store_rewrap); the meta entries they read and write (KDF, key id, suite), and the counts
 * of store_stats. A new data key (store_rotate, and passwd with rotate, which unwraps the
 * old keys here) is made by store_rotate.c.
 *
 * The KEK wraps data key || index key (XChaCha20-Poly1305, AD = "skr-wrap-v2" || packed
 * KDF parameters || key id, so lowering the stored Argon2 limits, swapping the salt or
 * pairing a wrap with another key id breaks the unwrap instead of weakening it). The
 * wraps live in the key file (store_ring.c); LMDB meta "keyid" names the data key that
 * seals the records. While unlocked the KEK stays in the guarded key buffer beside the
 * two keys: `rotate` carries no passphrase but must wrap the new data key. It is no more
 * sensitive than the keys it sits next to.
 */
#include <string.h>

#include "store_hub.h"
#include "store_keys.h"
#include "store_test.h"

#define STORE_WRAP_LABEL    "skr-wrap-v2"
#define STORE_WRAP_V1_LABEL "skr-wrap-v1" /* hubs made before the key file */
#define STORE_WRAP_AD       (sizeof STORE_WRAP_LABEL - 1 + STORE_KDF_PACKED + 8)

static const MDB_val store_k_kdf = { 3, (void *)"kdf" };
static const MDB_val store_k_wrap = { 4, (void *)"wrap" };
static const MDB_val store_k_keyid = { 5, (void *)"keyid" };
static const MDB_val store_k_seq = { 3, (void *)"seq" };
static const MDB_val store_k_suite = { 5, (void *)"suite" };

/* label || kdf || id; the v1 AD (legacy) stops before the id. Returns its length. */
static size_t store_wrap_ad(const char *label, const store_kdf *kdf, const uint64_t *id,
                            uint8_t ad[STORE_WRAP_AD])
{
    size_t n = strlen(label);

    memcpy(ad, label, n);
    store_kdf_pack(kdf, ad + n);
    n += STORE_KDF_PACKED;
    if (id != NULL) {
        store_put_u64(ad + n, *id);
        n += 8;
    }
    return n;
}

static bool store_kdf_valid(const store_kdf *kdf)
{
    store_kdf probe;

    if (kdf == NULL)
        return false;
    if (kdf->kind == STORE_KDF_KEYFILE)
        return true;
    return kdf->kind == STORE_KDF_ARGON2ID &&
           store_kdf_new(&probe, kdf->kind, kdf->opslimit, kdf->memlimit) == 0 &&
           kdf->opslimit != 0 && kdf->memlimit != 0;
}

static int store_meta_suite(store *s, MDB_txn *txn)
{
    MDB_val k = store_k_suite, d;
    int rc = mdb_get(txn, s->kv.meta, &k, &d);

    if (rc == MDB_NOTFOUND) {
        s->recs.suite = STORE_SUITE_XCHACHA; /* hubs made before suites were recorded */
        return 0;
    }
    if (rc != 0)
        return store_mdb_err(&s->kv, rc, "read suite");
    if (d.mv_size != 1 || (((uint8_t *)d.mv_data)[0] != STORE_SUITE_XCHACHA &&
                           ((uint8_t *)d.mv_data)[0] != STORE_SUITE_AESGCM))
        return store_errf(s, SKR_EINTEGRITY, "hub cipher suite is unknown or corrupt");
    s->recs.suite = ((uint8_t *)d.mv_data)[0];
    return 0;
}

/* Initialised: LMDB names a data key (the key file has its wrap: store_ring_open checks),
 * or holds a wrap itself (a hub made before the key file). Otherwise a key file's content
 * is a left-over of an init that did not commit, overwritten by the next. */
int store_meta_load(store *s, MDB_txn *txn)
{
    MDB_val k = store_k_wrap, d;
    store_kdf kdf = { 0 };
    int rc, r;

    s->recs.initialized = false;
    s->hk.legacy = false;
    rc = mdb_get(txn, s->kv.meta, &k, &d);
    if (rc == 0) {
        k = store_k_kdf;
        if ((rc = mdb_get(txn, s->kv.meta, &k, &d)) != 0)
            return store_mdb_err(&s->kv, rc, "read kdf");
        if ((r = store_kdf_unpack(d.mv_data, d.mv_size, &kdf)) != 0)
            return store_errf(s, r, "hub KDF parameters are corrupt");
        s->hk.legacy = true;
    } else if (rc != MDB_NOTFOUND) {
        return store_mdb_err(&s->kv, rc, "read wrapped keys");
    } else {
        k = store_k_keyid;
        if ((rc = mdb_get(txn, s->kv.meta, &k, &d)) == MDB_NOTFOUND)
            return 0;
        if (rc != 0)
            return store_mdb_err(&s->kv, rc, "read keyid");
        if (d.mv_size != 8)
            return store_errf(s, SKR_EINTEGRITY, "hub key id is corrupt");
        s->hk.keyid = store_get_u64(d.mv_data);
    }
    if ((r = store_meta_suite(s, txn)) != 0)
        return r;
    /* A key-file hub's KDF comes from its entry (store_ring_open, and every change of
     * the key file): an environment reopened (store_env_reopen: compaction, trim) must
     * keep it, so only a legacy hub's meta sets it here. */
    if (s->hk.legacy)
        s->hk.kdf = kdf;
    s->recs.initialized = true;
    return 0;
}

bool store_is_initialized(const store *s)
{
    return s != NULL && s->recs.initialized;
}

const char *store_suite_name(const store *s)
{
    if (s == NULL || !s->recs.initialized)
        return "none";
    return s->recs.suite == STORE_SUITE_AESGCM ? "aes-256-gcm" : "xchacha20-poly1305";
}

bool store_is_unlocked(const store *s)
{
    return s != NULL && s->recs.keys != NULL;
}

int store_get_kdf(store *s, store_kdf *out)
{
    if (!s->recs.initialized)
        return store_errf(s, SKR_ELOCKED, "hub not initialised");
    *out = s->hk.kdf;
    return 0;
}

void store_wrap_make(const store_kdf *kdf, const uint8_t *kek, const uint8_t *keys,
                     uint64_t id, store_wrapent *out)
{
    uint8_t ad[STORE_WRAP_AD];
    size_t adlen = store_wrap_ad(STORE_WRAP_LABEL, kdf, &id, ad);

    out->id = id;
    out->kdf = *kdf;
    store_seal(kek, ad, adlen, keys, 2 * STORE_KEY_BYTES, out->wrap);
}

int store_put_keyid(store *s, MDB_txn *txn, uint64_t id)
{
    uint8_t v[8];
    MDB_val k = store_k_keyid, d = { sizeof v, v };
    int rc;

    store_put_u64(v, id);
    if ((rc = mdb_put(txn, s->kv.meta, &k, &d, 0)) != 0)
        return store_mdb_err(&s->kv, rc, "write keyid");
    return 0;
}

uint64_t store_keyid_new(const store *s)
{
    uint64_t id;

    do
        randombytes_buf(&id, sizeof id);
    while (id == 0 || id == s->hk.keyid);
    return id;
}

/* Unwraps the data key the records use into keys[0..64): SKR_EBAD_PASSPHRASE when the
 * tag does not verify. */
static int store_unwrap(store *s, const uint8_t *kek, uint8_t *keys)
{
    uint8_t ad[STORE_WRAP_AD];
    const store_wrapent *e;
    MDB_val k = store_k_wrap, d;
    size_t n, adlen;
    MDB_txn *txn;
    int rc, r, bad;

    if (!s->hk.legacy) {
        if ((e = store_ring_find(s, s->hk.keyid)) == NULL)
            return store_errf(s, SKR_EINTEGRITY, "the key file holds no key for the records");
        adlen = store_wrap_ad(STORE_WRAP_LABEL, &e->kdf, &e->id, ad);
        bad = store_unseal(kek, ad, adlen, e->wrap, STORE_WRAP_BYTES, keys,
                           2 * STORE_KEY_BYTES, &n) != 0;
    } else {
        if ((r = store_read_begin(&s->kv, &txn)) != 0)
            return r;
        if ((rc = mdb_get(txn, s->kv.meta, &k, &d)) != 0) {
            store_read_end(&s->kv);
            return store_mdb_err(&s->kv, rc, "read wrapped keys");
        }
        adlen = store_wrap_ad(STORE_WRAP_V1_LABEL, &s->hk.kdf, NULL, ad);
        bad = d.mv_size != STORE_WRAP_BYTES ||
              store_unseal(kek, ad, adlen, d.mv_data, d.mv_size, keys, 2 * STORE_KEY_BYTES,
                           &n) != 0;
        store_read_end(&s->kv);
    }
    if (bad || n != 2 * STORE_KEY_BYTES)
        return store_errf(s, SKR_EBAD_PASSPHRASE, "wrong passphrase or keyfile");
    return 0;
}

/* Unwraps with kek and moves a hub made before the key file there (same kek). */
static int store_unwrap_current(store *s, const uint8_t *kek, uint8_t *keys)
{
    int r;

    if ((r = store_unwrap(s, kek, keys)) != 0)
        return r;
    return s->hk.legacy ? store_ring_migrate(s, keys, kek) : store_ring_compact_pending(s);
}

struct store_init_ctx {
    const uint8_t *keys;
    const store_kdf *kdf;
    uint64_t id;
    int suite;
    bool legacy; /* store_test_init_legacy: kdf and a v1 wrap into meta, no key id */
};

static int store_init_txn(store *s, MDB_txn *txn, void *ctx)
{
    const struct store_init_ctx *c = ctx;
    uint8_t zero[8] = { 0 }, suite = (uint8_t)c->suite;
    MDB_val k = store_k_wrap, d;
    int rc;

    if ((rc = mdb_get(txn, s->kv.meta, &k, &d)) == 0 ||
        (rc == MDB_NOTFOUND && (k = store_k_keyid, rc = mdb_get(txn, s->kv.meta, &k, &d)) == 0))
        return store_errf(s, SKR_EEXISTS, "hub already initialised");
    if (rc != MDB_NOTFOUND)
        return store_mdb_err(&s->kv, rc, "read key id");
    k = store_k_seq;
    d.mv_size = sizeof zero;
    d.mv_data = zero;
    if ((rc = mdb_put(txn, s->kv.meta, &k, &d, MDB_NOOVERWRITE)) != 0 && rc != MDB_KEYEXIST)
        return store_mdb_err(&s->kv, rc, "write seq");
    k = store_k_suite;
    d.mv_size = 1;
    d.mv_data = &suite;
    if ((rc = mdb_put(txn, s->kv.meta, &k, &d, 0)) != 0)
        return store_mdb_err(&s->kv, rc, "write suite");
    if (!c->legacy)
        return store_put_keyid(s, txn, c->id);
    uint8_t packed[STORE_KDF_PACKED], ad[STORE_WRAP_AD], wrap[STORE_WRAP_BYTES];
    size_t adlen = store_wrap_ad(STORE_WRAP_V1_LABEL, c->kdf, NULL, ad);
    store_kdf_pack(c->kdf, packed);
    store_seal(c->keys + STORE_K_KEK, ad, adlen, c->keys, 2 * STORE_KEY_BYTES, wrap);
    k = store_k_kdf;
    d.mv_size = sizeof packed;
    d.mv_data = packed;
    if ((rc = mdb_put(txn, s->kv.meta, &k, &d, 0)) != 0)
        return store_mdb_err(&s->kv, rc, "write kdf");
    k = store_k_wrap;
    d.mv_size = sizeof wrap;
    d.mv_data = wrap;
    if ((rc = mdb_put(txn, s->kv.meta, &k, &d, 0)) != 0)
        return store_mdb_err(&s->kv, rc, "write wrapped keys");
    return 0;
}

/* Makes the hub's keys under kek, unlocked. The key file first: an init that stops before
 * its LMDB txn leaves a key file that no record names, overwritten by the next init. */
static int store_init_as(store *s, const store_kdf *kdf, const uint8_t *kek, bool legacy)
{
    struct store_init_ctx c = { NULL, kdf, store_keyid_new(s), store_suite_default(), legacy };
    store_ring next = { .n = 1 };
    uint8_t *keys = NULL;
    int r;

    (void)store_checkpoint_finish(s); /* a failure keeps the journal: retried later */
    if (s->recs.initialized)
        return store_errf(s, SKR_EEXISTS, "hub already initialised");
    if (!store_kdf_valid(kdf) || kek == NULL)
        return store_errf(s, SKR_EINVAL, "invalid KDF parameters");
    if (s->kv.batching)
        return store_errf(s, SKR_EBUSY, "a write batch is open: commit it first");
    if ((keys = store_keys_alloc()) == NULL)
        return store_errf(s, SKR_ENOMEM, "no guarded memory for keys");
    randombytes_buf(keys + STORE_K_DATA, 2 * STORE_KEY_BYTES);
    store_keys_derive(keys, c.suite);
    memcpy(keys + STORE_K_KEK, kek, STORE_KEY_BYTES);
    c.keys = keys;
    store_wrap_make(kdf, kek, keys, c.id, &next.ent[0]);
    if ((!legacy && (r = store_ring_write(s, &next)) != 0) ||
        (r = store_write(&s->kv, store_init_txn, &c)) != 0)
        goto out;
    store_lock(s);
    sodium_mprotect_readonly(keys);
    s->recs.keys = keys;
    keys = NULL;
    s->hk.kdf = *kdf;
    s->recs.suite = (uint8_t)c.suite;
    s->hk.keyid = legacy ? 0 : c.id;
    s->hk.legacy = legacy;
    s->recs.initialized = true;
    store_rec_mirror_build(s); /* empty; without it gets read LMDB */
out:
    store_keys_free(keys);
    return r;
}

int store_init(store *s, const store_kdf *kdf, const uint8_t kek[STORE_KEY_BYTES])
{
    return store_init_as(s, kdf, kek, false);
}

int store_test_init_legacy(store *s, const store_kdf *kdf, const uint8_t kek[32])
{
    return store_init_as(s, kdf, kek, true);
}

int store_unlock(store *s, const uint8_t kek[STORE_KEY_BYTES])
{
    uint8_t *keys = NULL;
    int r;

    (void)store_checkpoint_finish(s); /* a failure keeps the journal: retried later */
    if (!s->recs.initialized)
        return store_errf(s, SKR_ELOCKED, "hub not initialised");
    if (s->recs.suite == STORE_SUITE_AESGCM && !crypto_aead_aes256gcm_is_available())
        return store_errf(s, SKR_EINTERNAL, "this hub is sealed with AES-256-GCM, which needs "
                          "a CPU with AES-NI");
    if ((keys = store_keys_alloc()) == NULL)
        return store_errf(s, SKR_ENOMEM, "no guarded memory for keys");
    if ((r = store_unwrap_current(s, kek, keys)) != 0)
        goto out;
    store_keys_derive(keys, s->recs.suite);
    memcpy(keys + STORE_K_KEK, kek, STORE_KEY_BYTES);
    store_lock(s);
    sodium_mprotect_readonly(keys);
    s->recs.keys = keys;
    keys = NULL;
    /* A format-1 hub is sealed again as format 2 before anything reads it. */
    if (s->recs.format < STORE_FORMAT_VERSION && (r = store_upgrade(s)) != 0) {
        store_lock(s);
        goto out;
    }
    /* Gets read LMDB until the mirror is built (store_mirror_step) or when there is none
     * (no memory): slower, still right. */
    store_rec_mirror_start(s);
out:
    store_keys_free(keys);
    return r;
}

void store_lock(store *s)
{
    if (s == NULL)
        return;
    /* A record in flight is settled first (its result kept for store_batch_commit_finish):
     * a lost one takes its values out of the mirror and LMDB's txn while both are here. */
    store_journal_write_join(&s->kv);
    (void)store_checkpoint_finish(s); /* a failure keeps the journal: retried later */
    store_release(s);
    store_keys_free(s->recs.keys); /* read-write, wipe, free */
    s->recs.keys = NULL;
    sodium_memzero(s->recs.pcache, sizeof s->recs.pcache);
    memset(s->recs.pcache_last, 0, sizeof s->recs.pcache_last);
    sodium_memzero(s->recs.ahead, sizeof s->recs.ahead);
    s->recs.ahead_live = 0;
    store_rec_stage_free(s); /* sealed under the mirror's key, which goes now */
    store_mirror_free(&s->mir); /* derived from the index key: gone with it */
}

/* passwd without rotate: the same data key, one wrap under new_kek, both slots rewritten
 * (the old wrap is in neither afterwards). Costs two syncs whatever the hub's size. */
static int store_rewrap_ring(store *s, const uint8_t *keys, const store_kdf *new_kdf,
                             const uint8_t *new_kek)
{
    store_ring next = { .n = 1 };
    uint64_t gen = s->hk.ring.gen;
    int r;

    store_wrap_make(new_kdf, new_kek, keys, s->hk.keyid, &next.ent[0]);
    r = store_ring_write(s, &next);
    sodium_memzero(&next, sizeof next);
    if (s->hk.ring.gen == gen)
        return r; /* nothing landed */
    /* Slot 0 holds the new wrap (an open would take it): follow it, even when slot 1
     * failed (r says so). */
    s->hk.kdf = *new_kdf;
    if (s->recs.keys != NULL) {
        sodium_mprotect_readwrite(s->recs.keys);
        memcpy(s->recs.keys + STORE_K_KEK, new_kek, STORE_KEY_BYTES);
        sodium_mprotect_readonly(s->recs.keys);
    }
    return r;
}

int store_passwd(store *s, const uint8_t old_kek[STORE_KEY_BYTES], const store_kdf *new_kdf,
                 const uint8_t new_kek[STORE_KEY_BYTES], bool rotate, uint64_t *records)
{
    uint8_t *tmp = NULL; /* guarded: the unwrapped keys */
    int r;

    store_release(s);
    (void)store_checkpoint_finish(s); /* a failure keeps the journal: retried later */
    if (!s->recs.initialized)
        return store_errf(s, SKR_ELOCKED, "hub not initialised");
    if (!store_kdf_valid(new_kdf) || old_kek == NULL || new_kek == NULL)
        return store_errf(s, SKR_EINVAL, "invalid KDF parameters");
    if (s->kv.batching)
        return store_errf(s, SKR_EBUSY, "a write batch is open: commit it first");
    if ((tmp = store_keys_alloc()) == NULL)
        return store_errf(s, SKR_ENOMEM, "no guarded memory for keys");
    if ((r = store_unwrap_current(s, old_kek, tmp)) != 0)
        goto out;
    if (!rotate) {
        r = store_rewrap_ring(s, tmp, new_kdf, new_kek);
        goto out;
    }
    store_keys_derive(tmp, s->recs.suite);
    r = store_rotate_keys(s, tmp, new_kdf, new_kek, records);
out:
    store_keys_free(tmp);
    return r;
}

int store_rewrap(store *s, const uint8_t old_kek[STORE_KEY_BYTES], const store_kdf *new_kdf,
                 const uint8_t new_kek[STORE_KEY_BYTES])
{
    return store_passwd(s, old_kek, new_kdf, new_kek, false, NULL);
}

_Static_assert(STORE_TEST_WRAP_BYTES == STORE_WRAP_BYTES, "the test hook's size");

int store_test_wrap(store *s, uint8_t out[STORE_TEST_WRAP_BYTES])
{
    const store_wrapent *e;
    MDB_val k = store_k_wrap, d;
    MDB_txn *txn;
    int rc, r;

    (void)store_checkpoint_finish(s);
    if (!s->recs.initialized)
        return SKR_ELOCKED;
    if (!s->hk.legacy) {
        if ((e = store_ring_find(s, s->hk.keyid)) == NULL)
            return SKR_EINTEGRITY;
        memcpy(out, e->wrap, STORE_WRAP_BYTES);
        return 0;
    }
    if ((r = store_read_begin(&s->kv, &txn)) != 0)
        return r;
    if ((rc = mdb_get(txn, s->kv.meta, &k, &d)) != 0 || d.mv_size != STORE_WRAP_BYTES)
        r = SKR_EINTEGRITY;
    else
        memcpy(out, d.mv_data, STORE_WRAP_BYTES);
    store_read_end(&s->kv);
    return r;
}

int store_test_key_masked(const store *s, int which, const uint8_t mask[32], uint8_t out[32])
{
    const uint8_t *k;

    if (s->recs.keys == NULL)
        return SKR_ELOCKED;
    k = s->recs.keys + (which == 0 ? STORE_K_DATA : STORE_K_INDEX);
    for (int i = 0; i < 32; i++)
        out[i] = k[i] ^ mask[i];
    return 0;
}

int store_test_suite(const store *s)
{
    return s->recs.suite;
}
