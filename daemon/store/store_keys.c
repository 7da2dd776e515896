/*
 * daemon/store/store_keys.c - hub keys: init, unlock, lock, rewrap, rotate.
 *
 * The KEK wraps data key || index key (XChaCha20-Poly1305, AD = "skr-wrap-v1" || packed
 * KDF parameters, so lowering the stored Argon2 limits or swapping the salt breaks the
 * unwrap instead of weakening it). While unlocked the KEK stays in the guarded key buffer
 * beside the two keys: `rotate` carries no passphrase but must rewrap the new data key.
 * It is no more sensitive than the keys it sits next to.
 */
#include <string.h>

#include "store_int.h"
#include "store_test.h"

#define STORE_WRAP_LABEL "skr-wrap-v1"
#define STORE_WRAP_AD    (sizeof STORE_WRAP_LABEL - 1 + STORE_KDF_PACKED)

static const MDB_val store_k_kdf = { 3, (void *)"kdf" };
static const MDB_val store_k_wrap = { 4, (void *)"wrap" };
static const MDB_val store_k_seq = { 3, (void *)"seq" };
static const MDB_val store_k_suite = { 5, (void *)"suite" };

static void store_wrap_ad(const store_kdf *kdf, uint8_t ad[STORE_WRAP_AD])
{
    memcpy(ad, STORE_WRAP_LABEL, sizeof STORE_WRAP_LABEL - 1);
    store_kdf_pack(kdf, ad + sizeof STORE_WRAP_LABEL - 1);
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

int store_meta_load(store *s, MDB_txn *txn)
{
    MDB_val k = store_k_kdf, d;
    store_kdf kdf;
    int rc, r;

    rc = mdb_get(txn, s->meta, &k, &d);
    if (rc == MDB_NOTFOUND) {
        s->initialized = false;
        return 0;
    }
    if (rc != 0)
        return store_mdb_err(s, rc, "read kdf");
    if ((r = store_kdf_unpack(d.mv_data, d.mv_size, &kdf)) != 0)
        return store_errf(s, r, "hub KDF parameters are corrupt");
    k = store_k_suite;
    rc = mdb_get(txn, s->meta, &k, &d);
    if (rc == MDB_NOTFOUND) {
        s->suite = STORE_SUITE_XCHACHA; /* hubs made before suites were recorded */
    } else if (rc != 0) {
        return store_mdb_err(s, rc, "read suite");
    } else if (d.mv_size != 1 || (((uint8_t *)d.mv_data)[0] != STORE_SUITE_XCHACHA &&
                                  ((uint8_t *)d.mv_data)[0] != STORE_SUITE_AESGCM)) {
        return store_errf(s, SKR_EINTEGRITY, "hub cipher suite is unknown or corrupt");
    } else {
        s->suite = ((uint8_t *)d.mv_data)[0];
    }
    s->kdf = kdf;
    s->initialized = true;
    return 0;
}

bool store_is_initialized(const store *s)
{
    return s != NULL && s->initialized;
}

bool store_is_unlocked(const store *s)
{
    return s != NULL && s->keys != NULL;
}

int store_get_kdf(store *s, store_kdf *out)
{
    if (!s->initialized)
        return store_errf(s, SKR_ELOCKED, "hub not initialised");
    *out = s->kdf;
    return 0;
}

/* Writes kdf and the wrapped keys[0..64) under kek. */
static int store_put_wrap(store *s, MDB_txn *txn, const store_kdf *kdf, const uint8_t *keys,
                          const uint8_t *kek)
{
    uint8_t packed[STORE_KDF_PACKED], ad[STORE_WRAP_AD], wrap[STORE_WRAP_BYTES];
    MDB_val k = store_k_kdf, d = { sizeof packed, packed };
    int rc;

    store_kdf_pack(kdf, packed);
    store_wrap_ad(kdf, ad);
    store_seal(kek, ad, sizeof ad, keys, 2 * STORE_KEY_BYTES, wrap);
    if ((rc = mdb_put(txn, s->meta, &k, &d, 0)) != 0)
        return store_mdb_err(s, rc, "write kdf");
    k = store_k_wrap;
    d.mv_size = sizeof wrap;
    d.mv_data = wrap;
    if ((rc = mdb_put(txn, s->meta, &k, &d, 0)) != 0)
        return store_mdb_err(s, rc, "write wrapped keys");
    return 0;
}

/* Unwraps into keys[0..64): SKR_EBAD_PASSPHRASE when the tag does not verify. */
static int store_get_wrap(store *s, MDB_txn *txn, const uint8_t *kek, uint8_t *keys)
{
    uint8_t ad[STORE_WRAP_AD];
    MDB_val k = store_k_wrap, d;
    size_t n;
    int rc;

    if ((rc = mdb_get(txn, s->meta, &k, &d)) != 0)
        return rc == MDB_NOTFOUND ? store_errf(s, SKR_ELOCKED, "hub not initialised")
                                  : store_mdb_err(s, rc, "read wrapped keys");
    store_wrap_ad(&s->kdf, ad);
    if (d.mv_size != STORE_WRAP_BYTES ||
        store_unseal(kek, ad, sizeof ad, d.mv_data, d.mv_size, keys, 2 * STORE_KEY_BYTES,
                     &n) != 0 || n != 2 * STORE_KEY_BYTES)
        return store_errf(s, SKR_EBAD_PASSPHRASE, "wrong passphrase or keyfile");
    return 0;
}

/* rotate: the new data key with the same index key, under the KEK kept in keys. */
int store_rotate_wrap(store *s, MDB_txn *txn, const uint8_t *keys)
{
    return store_put_wrap(s, txn, &s->kdf, keys, keys + STORE_K_KEK);
}

struct store_init_ctx {
    const store_kdf *kdf;
    const uint8_t *keys;
    int suite;
};

static int store_init_txn(store *s, MDB_txn *txn, void *ctx)
{
    const struct store_init_ctx *c = ctx;
    uint8_t zero[8] = { 0 };
    MDB_val k = store_k_wrap, d;
    int rc;

    if ((rc = mdb_get(txn, s->meta, &k, &d)) != MDB_NOTFOUND)
        return rc == 0 ? store_errf(s, SKR_EEXISTS, "hub already initialised")
                       : store_mdb_err(s, rc, "read wrapped keys");
    k = store_k_seq;
    d.mv_size = sizeof zero;
    d.mv_data = zero;
    if ((rc = mdb_put(txn, s->meta, &k, &d, MDB_NOOVERWRITE)) != 0 && rc != MDB_KEYEXIST)
        return store_mdb_err(s, rc, "write seq");
    uint8_t suite = (uint8_t)c->suite;
    k = store_k_suite;
    d.mv_size = 1;
    d.mv_data = &suite;
    if ((rc = mdb_put(txn, s->meta, &k, &d, 0)) != 0)
        return store_mdb_err(s, rc, "write suite");
    return store_put_wrap(s, txn, c->kdf, c->keys, c->keys + STORE_K_KEK);
}

int store_init(store *s, const store_kdf *kdf, const uint8_t kek[STORE_KEY_BYTES])
{
    struct store_init_ctx c = { kdf, NULL, store_suite_default() };
    uint8_t *keys = NULL;
    int r;

    if (s->initialized)
        return store_errf(s, SKR_EEXISTS, "hub already initialised");
    if (!store_kdf_valid(kdf) || kek == NULL)
        return store_errf(s, SKR_EINVAL, "invalid KDF parameters");
    if ((keys = store_keys_alloc()) == NULL)
        return store_errf(s, SKR_ENOMEM, "no guarded memory for keys");
    randombytes_buf(keys + STORE_K_DATA, 2 * STORE_KEY_BYTES);
    store_keys_derive(keys, c.suite);
    memcpy(keys + STORE_K_KEK, kek, STORE_KEY_BYTES);
    c.keys = keys;
    if ((r = store_write(s, store_init_txn, &c)) != 0)
        goto out;
    store_lock(s);
    sodium_mprotect_readonly(keys);
    s->keys = keys;
    keys = NULL;
    s->kdf = *kdf;
    s->suite = (uint8_t)c.suite;
    s->initialized = true;
    store_mirror_build(s); /* empty; without it gets read LMDB */
out:
    store_keys_free(keys);
    return r;
}

int store_unlock(store *s, const uint8_t kek[STORE_KEY_BYTES])
{
    uint8_t *keys = NULL;
    MDB_txn *txn;
    int r;

    if (!s->initialized)
        return store_errf(s, SKR_ELOCKED, "hub not initialised");
    if (s->suite == STORE_SUITE_AESGCM && !crypto_aead_aes256gcm_is_available())
        return store_errf(s, SKR_EINTERNAL, "this hub is sealed with AES-256-GCM, which needs "
                          "a CPU with AES-NI");
    if ((keys = store_keys_alloc()) == NULL)
        return store_errf(s, SKR_ENOMEM, "no guarded memory for keys");
    if ((r = store_read_begin(s, &txn)) != 0)
        goto out;
    r = store_get_wrap(s, txn, kek, keys);
    store_read_end(s);
    if (r != 0)
        goto out;
    store_keys_derive(keys, s->suite);
    memcpy(keys + STORE_K_KEK, kek, STORE_KEY_BYTES);
    store_lock(s);
    sodium_mprotect_readonly(keys);
    s->keys = keys;
    keys = NULL;
    /* A format-1 hub is sealed again as format 2 before anything reads it. */
    if (s->format < STORE_FORMAT_VERSION && (r = store_upgrade(s)) != 0) {
        store_lock(s);
        goto out;
    }
    /* Without a mirror (no memory) every get reads LMDB: slower, still right. */
    store_mirror_build(s);
out:
    store_keys_free(keys);
    return r;
}

void store_lock(store *s)
{
    if (s == NULL)
        return;
    store_release(s);
    store_keys_free(s->keys); /* read-write, wipe, free */
    s->keys = NULL;
    sodium_memzero(s->pcache, sizeof s->pcache);
    store_mirror_free(s); /* derived from the index key: gone with it */
}

struct store_rewrap_ctx {
    const uint8_t *old_kek, *new_kek;
    const store_kdf *new_kdf;
    uint8_t *tmp; /* guarded: the unwrapped keys */
};

static int store_rewrap_txn(store *s, MDB_txn *txn, void *ctx)
{
    const struct store_rewrap_ctx *c = ctx;
    int r;

    if ((r = store_get_wrap(s, txn, c->old_kek, c->tmp)) != 0)
        return r;
    return store_put_wrap(s, txn, c->new_kdf, c->tmp, c->new_kek);
}

int store_rewrap(store *s, const uint8_t old_kek[STORE_KEY_BYTES], const store_kdf *new_kdf,
                 const uint8_t new_kek[STORE_KEY_BYTES])
{
    struct store_rewrap_ctx c = { old_kek, new_kek, new_kdf, NULL };
    int r;

    if (!s->initialized)
        return store_errf(s, SKR_ELOCKED, "hub not initialised");
    if (!store_kdf_valid(new_kdf) || old_kek == NULL || new_kek == NULL)
        return store_errf(s, SKR_EINVAL, "invalid KDF parameters");
    if ((c.tmp = store_keys_alloc()) == NULL)
        return store_errf(s, SKR_ENOMEM, "no guarded memory for keys");
    if ((r = store_write(s, store_rewrap_txn, &c)) != 0)
        goto out;
    s->kdf = *new_kdf;
    if (s->keys != NULL) {
        sodium_mprotect_readwrite(s->keys);
        memcpy(s->keys + STORE_K_KEK, new_kek, STORE_KEY_BYTES);
        sodium_mprotect_readonly(s->keys);
    }
out:
    store_keys_free(c.tmp);
    return r;
}

int store_stats(store *s, uint64_t *protocols, uint64_t *credentials)
{
    MDB_stat sp, sr;
    MDB_txn *txn;
    int rc, r;

    if ((r = store_read_begin(s, &txn)) != 0)
        return r;
    if ((rc = mdb_stat(txn, s->protos, &sp)) != 0 || (rc = mdb_stat(txn, s->rec, &sr)) != 0)
        r = store_mdb_err(s, rc, "stat");
    store_read_end(s);
    if (r != 0)
        return r;
    *protocols = sp.ms_entries;
    *credentials = sr.ms_entries;
    return 0;
}

int store_test_key_masked(const store *s, int which, const uint8_t mask[32], uint8_t out[32])
{
    const uint8_t *k;

    if (s->keys == NULL)
        return SKR_ELOCKED;
    k = s->keys + (which == 0 ? STORE_K_DATA : STORE_K_INDEX);
    for (int i = 0; i < 32; i++)
        out[i] = k[i] ^ mask[i];
    return 0;
}

int store_test_suite(const store *s)
{
    return s->suite;
}
