/*
 * daemon/store/store_crypto.c - KEK derivation, keyfiles, sealing and look-up hashes.
 * Nothing here touches a store, so the KDF functions may run on a worker thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_folder.h"
#include "store_int.h"

static const uint8_t store_keyfile_personal[crypto_generichash_blake2b_PERSONALBYTES] =
    "skr-keyfile-v1";

void store_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

uint64_t store_get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static bool store_limits_ok(uint64_t ops, uint64_t mem)
{
    return ops >= crypto_pwhash_OPSLIMIT_MIN && ops <= crypto_pwhash_OPSLIMIT_MAX &&
           mem >= crypto_pwhash_MEMLIMIT_MIN && mem <= crypto_pwhash_MEMLIMIT_MAX &&
           mem <= SIZE_MAX;
}

int store_kdf_new(store_kdf *kdf, store_kdf_kind kind, uint64_t opslimit, uint64_t memlimit)
{
    store_kdf k = { .kind = kind };

    if (kdf == NULL || (kind != STORE_KDF_ARGON2ID && kind != STORE_KDF_KEYFILE))
        return SKR_EINVAL;
    if (kind == STORE_KDF_ARGON2ID) {
        k.opslimit = opslimit ? opslimit : STORE_OPSLIMIT_DEFAULT;
        k.memlimit = memlimit ? memlimit : STORE_MEMLIMIT_DEFAULT;
        if (!store_limits_ok(k.opslimit, k.memlimit))
            return SKR_EINVAL;
    }
    randombytes_buf(k.salt, sizeof k.salt);
    *kdf = k;
    return 0;
}

int store_kdf_derive(const store_kdf *kdf, const uint8_t *secret, size_t len,
                     uint8_t kek[STORE_KEY_BYTES])
{
    if (kdf == NULL || kek == NULL || (secret == NULL && len > 0))
        return SKR_EINVAL;
    if (kdf->kind == STORE_KDF_KEYFILE) {
        if (len < STORE_KEYFILE_MIN)
            return SKR_EINVAL;
        /* The salt keeps two hubs opened with one keyfile from sharing a KEK. */
        crypto_generichash_blake2b_salt_personal(kek, STORE_KEY_BYTES, secret, len, NULL, 0,
                                                 kdf->salt, store_keyfile_personal);
        return 0;
    }
    if (kdf->kind != STORE_KDF_ARGON2ID || !store_limits_ok(kdf->opslimit, kdf->memlimit))
        return SKR_EINVAL;
    if (len > crypto_pwhash_PASSWD_MAX)
        return SKR_EINVAL;
    if (crypto_pwhash(kek, STORE_KEY_BYTES, (const char *)secret, len, kdf->salt,
                      kdf->opslimit, (size_t)kdf->memlimit, crypto_pwhash_ALG_ARGON2ID13) != 0)
        return SKR_ENOMEM; /* libsodium's only failure here: Argon2 could not get memory */
    return 0;
}

void store_secret_free(uint8_t *p, size_t len)
{
    (void)len; /* sodium_free knows the size and wipes the whole region */
    if (p != NULL)
        sodium_free(p);
}

static int store_read_all(int fd, uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

int store_keyfile_read(const char *path, uint8_t **content, size_t *len,
                       char err[STORE_ERRMSG_MAX])
{
    struct stat st;
    uint8_t *buf = NULL;
    size_t n = 0;
    int fd, r;

    err[0] = '\0';
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        r = errno == ENOENT ? SKR_ENOT_FOUND : errno == EACCES ? SKR_EDENIED : SKR_EINVAL;
        snprintf(err, STORE_ERRMSG_MAX, "keyfile %s: %s", path, strerror(errno));
        return r;
    }
    /* fstat on the open file: what we check is what we read. */
    if (fstat(fd, &st) != 0) {
        snprintf(err, STORE_ERRMSG_MAX, "keyfile %s: %s", path, strerror(errno));
        r = SKR_EINVAL;
        goto out;
    }
    if ((r = store_keyfile_check(path, &st, err)) != 0)
        goto out;
    n = (size_t)st.st_size;
    if ((buf = sodium_malloc(n)) == NULL) {
        r = SKR_ENOMEM;
        goto out;
    }
    if (store_read_all(fd, buf, n) != 0) {
        snprintf(err, STORE_ERRMSG_MAX, "keyfile %s: short read", path);
        r = SKR_EINVAL;
        goto out;
    }
    *content = buf;
    *len = n;
    buf = NULL;
    r = 0;
out:
    store_secret_free(buf, n);
    close(fd);
    return r;
}

void store_kdf_pack(const store_kdf *kdf, uint8_t out[STORE_KDF_PACKED])
{
    out[0] = (uint8_t)kdf->kind;
    memcpy(out + 1, kdf->salt, STORE_SALT_BYTES);
    store_put_u64(out + 1 + STORE_SALT_BYTES, kdf->opslimit);
    store_put_u64(out + 9 + STORE_SALT_BYTES, kdf->memlimit);
}

int store_kdf_unpack(const uint8_t *in, size_t len, store_kdf *kdf)
{
    store_kdf k;

    if (len != STORE_KDF_PACKED || (in[0] != STORE_KDF_ARGON2ID && in[0] != STORE_KDF_KEYFILE))
        return SKR_EINTEGRITY;
    k.kind = (store_kdf_kind)in[0];
    memcpy(k.salt, in + 1, STORE_SALT_BYTES);
    k.opslimit = store_get_u64(in + 1 + STORE_SALT_BYTES);
    k.memlimit = store_get_u64(in + 9 + STORE_SALT_BYTES);
    *kdf = k;
    return 0;
}

void store_hash(const uint8_t *index_key, const char *personal, const char *str, size_t len,
                uint8_t out[STORE_HASH_BYTES])
{
    uint8_t p[crypto_generichash_blake2b_PERSONALBYTES] = { 0 };

    memcpy(p, personal, strnlen(personal, sizeof p));
    crypto_generichash_blake2b_salt_personal(out, STORE_HASH_BYTES, (const uint8_t *)str, len,
                                             index_key, STORE_KEY_BYTES, NULL, p);
}

/*
 * Nonces come from a small per-thread pool of random bytes: libsodium's generator costs a
 * getrandom system call per draw, a third of a small write's CPU time. A nonce is public
 * (it is stored beside its ciphertext), so holding the next ones costs no secrecy; what
 * matters is that none repeats, so a forked child drops the pool it inherited.
 */
static __thread uint8_t nonce_pool[1024];
static __thread size_t nonce_left;
static pthread_once_t nonce_once = PTHREAD_ONCE_INIT;

static void nonce_pool_drop(void)
{
    nonce_left = 0;
}

static void nonce_atfork(void)
{
    pthread_atfork(NULL, NULL, nonce_pool_drop);
}

static void store_nonce(uint8_t *out, size_t len)
{
    pthread_once(&nonce_once, nonce_atfork);
    if (len > sizeof nonce_pool) {
        randombytes_buf(out, len);
        return;
    }
    if (nonce_left < len) {
        randombytes_buf(nonce_pool, sizeof nonce_pool);
        nonce_left = sizeof nonce_pool;
    }
    memcpy(out, nonce_pool + sizeof nonce_pool - nonce_left, len);
    nonce_left -= len;
}

/* out = nonce || ciphertext || tag: a fresh random nonce per write (192 bits, no budget). */
void store_seal(const uint8_t *key, const uint8_t *ad, size_t adlen, const uint8_t *pt,
                size_t len, uint8_t *out)
{
    store_nonce(out, STORE_NONCE_BYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + STORE_NONCE_BYTES, NULL, pt, len, ad,
                                               adlen, NULL, out, key);
}

int store_unseal(const uint8_t *key, const uint8_t *ad, size_t adlen, const uint8_t *in,
                 size_t inlen, uint8_t *pt, size_t cap, size_t *ptlen)
{
    unsigned long long n;

    if (inlen < STORE_SEAL_OVERHEAD || inlen - STORE_SEAL_OVERHEAD > cap)
        return SKR_EINTEGRITY;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &n, NULL, in + STORE_NONCE_BYTES,
                                                   inlen - STORE_NONCE_BYTES, ad, adlen, in,
                                                   key) != 0)
        return SKR_EINTEGRITY;
    *ptlen = (size_t)n;
    return 0;
}

uint8_t *store_keys_alloc(void)
{
    return sodium_malloc(STORE_K_TOTAL);
}

void store_keys_free(uint8_t *keys)
{
    if (keys == NULL)
        return;
    sodium_mprotect_readwrite(keys);
    sodium_memzero(keys, STORE_K_TOTAL);
    sodium_free(keys);
}

size_t store_ad(uint8_t ad[STORE_AD_MAX], const char *label, const MDB_val *key,
                const uint8_t *clear, size_t clear_len)
{
    size_t l = strlen(label);

    /* Keys are at most 32 bytes and labels 12, so this always fits; checked anyway. */
    if (l + key->mv_size + clear_len > STORE_AD_MAX)
        abort();
    memcpy(ad, label, l);
    memcpy(ad + l, key->mv_data, key->mv_size);
    if (clear_len > 0)
        memcpy(ad + l + key->mv_size, clear, clear_len);
    return l + key->mv_size + clear_len;
}

/* ---- suites ---- */

#define STORE_GCM_NONCE crypto_aead_aes256gcm_NPUBBYTES

int store_suite_default(void)
{
    const char *force = getenv("SEKRETS_HUB_SUITE"); /* tests and portable hubs: "1" */
    if (force != NULL && strcmp(force, "1") == 0)
        return STORE_SUITE_XCHACHA;
    return crypto_aead_aes256gcm_is_available() ? STORE_SUITE_AESGCM : STORE_SUITE_XCHACHA;
}

size_t store_seal_overhead(int suite)
{
    return suite == STORE_SUITE_AESGCM ? STORE_GCM_NONCE + crypto_aead_aes256gcm_ABYTES
                                       : STORE_SEAL_OVERHEAD;
}

void store_hash_s(int suite, const uint8_t *index_key, const char *personal, const char *str,
                  size_t len, uint8_t out[STORE_HASH_BYTES])
{
    if (suite != STORE_SUITE_AESGCM) {
        store_hash(index_key, personal, str, len, out);
        return;
    }
    /* SipHash-2-4-128 is a PRF under its 128-bit key: one half of the index key per
     * kind of name keeps protocol and name hashes apart. */
    const uint8_t *k = index_key + (strcmp(personal, "skr-name") == 0 ? 16 : 0);
    crypto_shorthash_siphashx24(out, (const uint8_t *)str, len, k);
}

void store_keys_derive(uint8_t *keys, int suite)
{
    if (suite == STORE_SUITE_AESGCM)
        crypto_aead_aes256gcm_beforenm((crypto_aead_aes256gcm_state *)(void *)(keys + STORE_K_GCM),
                                       keys + STORE_K_DATA);
}

static const crypto_aead_aes256gcm_state *store_gcm(const uint8_t *keys)
{
    return (const crypto_aead_aes256gcm_state *)(const void *)(keys + STORE_K_GCM);
}

void store_seal_s(int suite, const uint8_t *keys, const uint8_t *ad, size_t adlen,
                  const uint8_t *pt, size_t len, uint8_t *out)
{
    if (suite != STORE_SUITE_AESGCM) {
        store_seal(keys + STORE_K_DATA, ad, adlen, pt, len, out);
        return;
    }
    store_nonce(out, STORE_GCM_NONCE);
    crypto_aead_aes256gcm_encrypt_afternm(out + STORE_GCM_NONCE, NULL, pt, len, ad, adlen, NULL,
                                          out, store_gcm(keys));
}

int store_unseal_s(int suite, const uint8_t *keys, const uint8_t *ad, size_t adlen,
                   const uint8_t *in, size_t inlen, uint8_t *pt, size_t cap, size_t *ptlen)
{
    unsigned long long n;

    if (suite != STORE_SUITE_AESGCM)
        return store_unseal(keys + STORE_K_DATA, ad, adlen, in, inlen, pt, cap, ptlen);
    if (inlen < store_seal_overhead(suite) || inlen - store_seal_overhead(suite) > cap)
        return SKR_EINTEGRITY;
    if (crypto_aead_aes256gcm_decrypt_afternm(pt, &n, NULL, in + STORE_GCM_NONCE,
                                              inlen - STORE_GCM_NONCE, ad, adlen, in,
                                              store_gcm(keys)) != 0)
        return SKR_EINTEGRITY;
    *ptlen = (size_t)n;
    return 0;
}
