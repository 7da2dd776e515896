/*
 * daemon/store/store_crypto.c - the crypto layer (store_crypto.h): KEK derivation, sealing,
 * look-up hashes, associated data and size classes. Nothing here touches a store, LMDB or
 * a file, so the KDF functions may run on a worker thread.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "store_crypto.h"
#include "sekrets/error.h"

static const uint8_t store_keyfile_personal[crypto_generichash_blake2b_PERSONALBYTES] =
    "skr-keyfile-v1";

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

size_t store_ad_build(uint8_t ad[STORE_AD_MAX], const char *label, const uint8_t *key,
                      size_t key_len, const uint8_t *clear, size_t clear_len)
{
    size_t l = strlen(label);

    /* Keys are at most 32 bytes and labels 12, so this always fits; checked anyway. */
    if (l + key_len + clear_len > STORE_AD_MAX)
        abort();
    memcpy(ad, label, l);
    memcpy(ad + l, key, key_len);
    if (clear_len > 0)
        memcpy(ad + l + key_len, clear, clear_len);
    return l + key_len + clear_len;
}

/* ---- size classes ----
 *
 * The powers of two and the midpoints 1.5 times them (128, 192, 256, 384, ...), from a
 * minimum (128 bytes for a record, 64 for an ord or protos entry) up to a cap (the largest
 * plaintext of the kind, or its power of two). The file then tells a length only to
 * within a factor of 1.5, about one bit more than powers of two alone would tell.
 * Powers of two alone cost too much memory where it counts: the record mirror holds every
 * sealed record, and a typical credential (a ~90-byte body with its names, 143 bytes of
 * plaintext) would take 256 bytes instead of 192, 306 instead of 242 bytes per credential
 * in the mirror (180 unpadded). The minimum keeps every short name and small credential
 * (the common case) in one class.
 */
size_t store_pad_class(size_t used, size_t min, size_t cap)
{
    size_t c = min; /* a power of two */

    while (c < used && c < cap)
        c = (c & (c - 1)) == 0 ? c + c / 2 : c / 3 * 4;
    return c < cap ? c : cap;
}

/* The padding is zeros and exactly the class's length: nothing can ride in it. The bytes
 * are all zero when the first is and each equals the next: one memcmp (vectorised), where
 * a byte loop cost a get with a protocol a sixth of its instructions. Not constant time:
 * it runs after authentication, on what the key holder wrote. */
bool store_pad_ok(const uint8_t *p, size_t used, size_t n, size_t min, size_t cap)
{
    return used <= n && n == store_pad_class(used, min, cap) && store_zeros(p + used, n - used);
}

bool store_zeros(const uint8_t *p, size_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
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

_Static_assert(crypto_aead_aes256gcm_ABYTES == STORE_MAC_BYTES &&
               crypto_aead_xchacha20poly1305_ietf_ABYTES == STORE_MAC_BYTES, "one tag size");

/* The counter, little-endian, then zeros: the nonce of either suite. */
static void store_ctr_nonce(uint64_t ctr, uint8_t nonce[STORE_NONCE_BYTES])
{
    uint8_t le[8] = { (uint8_t)ctr, (uint8_t)(ctr >> 8), (uint8_t)(ctr >> 16),
                      (uint8_t)(ctr >> 24), (uint8_t)(ctr >> 32), (uint8_t)(ctr >> 40),
                      (uint8_t)(ctr >> 48), (uint8_t)(ctr >> 56) };

    memcpy(nonce, le, sizeof le);
    memset(nonce + sizeof le, 0, STORE_NONCE_BYTES - sizeof le);
}

/*
 * AES-GCM over a whole stride. libsodium's AES-GCM runs 8 blocks (128 bytes) at a time and
 * the rest one block at a time, at about three times the cost a byte: opening 112 bytes
 * took 253 ns on this VM, 128 bytes 158 ns. A short value is therefore sealed as the
 * message of the next multiple of 128 bytes whose ciphertext ends in zeros: the zeros are
 * not stored, and an open puts them back and opens the whole message on the fast path.
 * The plaintext's tail is whatever encrypts to zeros (the keystream there): the seal
 * encrypts once with a zero tail to learn it, then again with it. Nothing is weakened:
 * the message is an ordinary GCM message whose ciphertext tail everyone knows, and the
 * tag covers it. Only for values up to STORE_GCM_WHOLE_MAX, which the stack holds.
 */
#define STORE_GCM_STRIDE    128u
#define STORE_GCM_WHOLE_MAX 512u

static size_t store_gcm_whole(size_t len)
{
    return len <= STORE_GCM_WHOLE_MAX ? (len + STORE_GCM_STRIDE - 1) / STORE_GCM_STRIDE *
                                            STORE_GCM_STRIDE
                                      : len;
}

static void store_gcm_seal_whole(const uint8_t *keys, const uint8_t *nonce, const uint8_t *ad,
                                 size_t adlen, const uint8_t *pt, size_t len, uint8_t *out)
{
    uint8_t m[STORE_GCM_WHOLE_MAX], c[STORE_GCM_WHOLE_MAX], tag[STORE_MAC_BYTES];
    size_t whole = store_gcm_whole(len);

    memcpy(m, pt, len);
    memset(m + len, 0, whole - len);
    crypto_aead_aes256gcm_encrypt_detached_afternm(c, tag, NULL, m, whole, ad, adlen, NULL,
                                                   nonce, store_gcm(keys));
    memcpy(m + len, c + len, whole - len); /* the keystream of the tail */
    crypto_aead_aes256gcm_encrypt_detached_afternm(c, out + len, NULL, m, whole, ad, adlen,
                                                   NULL, nonce, store_gcm(keys));
    memcpy(out, c, len); /* c + len .. whole is zeros now */
    /* the first pass's tag and keystream never leave here: the one message out is the
     * second (two tags under one nonce would give away the GHASH key) */
    sodium_memzero(m, sizeof m);
    sodium_memzero(c, sizeof c);
    sodium_memzero(tag, sizeof tag);
}

/* pt has room for the whole message (cap): it is opened there, and its tail wiped. */
static int store_gcm_open_whole(const uint8_t *keys, const uint8_t *nonce, const uint8_t *ad,
                                size_t adlen, const uint8_t *in, size_t len, uint8_t *pt,
                                size_t cap)
{
    uint8_t c[STORE_GCM_WHOLE_MAX], m[STORE_GCM_WHOLE_MAX];
    size_t whole = store_gcm_whole(len);
    uint8_t *out = cap >= whole ? pt : m;
    int rc;

    memcpy(c, in, len);
    memset(c + len, 0, whole - len);
    rc = crypto_aead_aes256gcm_decrypt_detached_afternm(out, NULL, c, whole, in + len, ad, adlen,
                                                        nonce, store_gcm(keys));
    if (rc == 0 && out == m)
        memcpy(pt, m, len);
    sodium_memzero(out == m ? m : pt + len, out == m ? whole : whole - len);
    return rc;
}

void store_seal_ctr(int suite, const uint8_t *keys, uint64_t ctr, const uint8_t *ad,
                    size_t adlen, const uint8_t *pt, size_t len, uint8_t *out)
{
    uint8_t nonce[STORE_NONCE_BYTES];

    store_ctr_nonce(ctr, nonce);
    if (suite == STORE_SUITE_AESGCM && len <= STORE_GCM_WHOLE_MAX)
        store_gcm_seal_whole(keys, nonce, ad, adlen, pt, len, out);
    else if (suite == STORE_SUITE_AESGCM)
        crypto_aead_aes256gcm_encrypt_detached_afternm(out, out + len, NULL, pt, len, ad, adlen,
                                                       NULL, nonce, store_gcm(keys));
    else
        crypto_aead_xchacha20poly1305_ietf_encrypt(out, NULL, pt, len, ad, adlen, NULL, nonce,
                                                   keys + STORE_K_DATA);
}

int store_unseal_ctr(int suite, const uint8_t *keys, uint64_t ctr, const uint8_t *ad,
                     size_t adlen, const uint8_t *in, size_t inlen, uint8_t *pt, size_t cap,
                     size_t *ptlen)
{
    uint8_t nonce[STORE_NONCE_BYTES];
    size_t len;
    int rc;

    if (inlen < STORE_MAC_BYTES || (len = inlen - STORE_MAC_BYTES) > cap)
        return SKR_EINTEGRITY;
    store_ctr_nonce(ctr, nonce);
    if (suite == STORE_SUITE_AESGCM && len <= STORE_GCM_WHOLE_MAX)
        rc = store_gcm_open_whole(keys, nonce, ad, adlen, in, len, pt, cap);
    else if (suite == STORE_SUITE_AESGCM)
        rc = crypto_aead_aes256gcm_decrypt_detached_afternm(pt, NULL, in, len, in + len, ad,
                                                            adlen, nonce, store_gcm(keys));
    else
        rc = crypto_aead_xchacha20poly1305_ietf_decrypt(pt, NULL, NULL, in, inlen, ad, adlen,
                                                        nonce, keys + STORE_K_DATA);
    if (rc != 0)
        return SKR_EINTEGRITY;
    *ptlen = len;
    return 0;
}

/* Found by the memscan test: a record opened and sealed again for the mirror in a batch's
 * durable walk stayed readable in the stack below the walk (the callees' frames, libsodium's
 * spilled SIMD registers among them), where the next requests did not reach. noinline: the
 * frame is its own, below the caller's; the empty asm keeps the zeros from being dropped. */
__attribute__((noinline)) void store_stack_wipe(void)
{
    uint8_t frame[STORE_STACK_WIPE];

    sodium_memzero(frame, sizeof frame);
    __asm__ __volatile__("" : : "r"(frame) : "memory");
}
