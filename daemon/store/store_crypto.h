/*
 * daemon/store/store_crypto.h - the store's crypto layer: sealing per cipher suite, the KEK
 * derivation, look-up hashes, key buffers, associated data, padding classes, u64 codecs.
 *
 * Pure functions: no store, no LMDB, no file. Inputs are plain pointers and lengths, and
 * every output buffer is the caller's (sizes below). So any file of the store may include
 * this, and nothing here includes a header of the store but store.h (for store_kdf and
 * STORE_KEY_BYTES; store_kdf_new, store_kdf_derive and store_secret_free, declared there,
 * are defined in store_crypto.c). Everything may run on any thread.
 */
#ifndef DAEMON_STORE_CRYPTO_H
#define DAEMON_STORE_CRYPTO_H

#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "store.h"

#define STORE_HASH_BYTES   16
/* Cipher suites, chosen per hub at init and stored in meta "suite":
 *  1: records sealed with XChaCha20-Poly1305 (24-byte random nonce), look-up keys BLAKE2b-128;
 *  2: records sealed with AES-256-GCM (12-byte random nonce), look-up keys SipHash-2-4-128.
 * Suite 2 is chosen when the CPU has AES-NI: a get then costs about a quarter of the
 * crypto time (see README "The hub at rest" for the argument). The key wrap is always
 * XChaCha20-Poly1305 with BLAKE2b-derived KEKs. */
#define STORE_SUITE_XCHACHA 1
#define STORE_SUITE_AESGCM  2
#define STORE_NONCE_BYTES  crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define STORE_SEAL_OVERHEAD (STORE_NONCE_BYTES + crypto_aead_xchacha20poly1305_ietf_ABYTES)
#define STORE_KDF_PACKED   (1 + STORE_SALT_BYTES + 8 + 8)
#define STORE_WRAP_BYTES   (STORE_SEAL_OVERHEAD + 2 * STORE_KEY_BYTES)

/* Key buffer layout (sodium_malloc, read-only between writes): the three keys, then for
 * suite 2 the data key's AES-GCM precomputation (key schedule and GHASH powers, as secret
 * as the key), made once per key by store_keys_derive instead of once per record. The
 * buffer size is a multiple of 16, so sodium_malloc aligns the state. */
#define STORE_K_DATA  0
#define STORE_K_INDEX STORE_KEY_BYTES
#define STORE_K_KEK   (2 * STORE_KEY_BYTES)
#define STORE_K_GCM   (3 * STORE_KEY_BYTES)
#define STORE_K_TOTAL (STORE_K_GCM + sizeof(crypto_aead_aes256gcm_state))
_Static_assert(STORE_K_GCM % 16 == 0 && STORE_K_TOTAL % 16 == 0, "GCM state alignment");

/* A key buffer of STORE_K_TOTAL bytes in guarded memory (NULL: no memory); free wipes it
 * (NULL is fine). The caller owns it. */
uint8_t *store_keys_alloc(void);
void store_keys_free(uint8_t *keys);
/* Makes the suite's precomputation from the data key: after every change of that key. */
void store_keys_derive(uint8_t *keys, int suite);

/* Associated data: label || key || the value's clear prefix (rec: seq BE || ver BE;
 * ord: ver BE). The v1 labels are those of format 1, read only by store_upgrade.c. */
#define STORE_AD_REC   "skr-rec-v2"
#define STORE_AD_ORD   "skr-ord-v2"
#define STORE_AD_PROTO "skr-proto-v2"
#define STORE_AD_MIRROR "skr-mir-v2" /* the mirror's own sealing (store_mirror.c) */
#define STORE_AD_REC_V1   "skr-rec-v1"
#define STORE_AD_ORD_V1   "skr-ord-v1"
#define STORE_AD_PROTO_V1 "skr-proto-v1"
#define STORE_AD_MAX   64
/* Writes the AD into ad and returns its length; aborts when it would not fit (labels and
 * keys are ours: at most 12 + 32 + 16 bytes). */
size_t store_ad_build(uint8_t ad[STORE_AD_MAX], const char *label, const uint8_t *key,
                      size_t key_len, const uint8_t *clear, size_t clear_len);

/* The KDF parameters as stored (kind, salt, opslimit BE, memlimit BE); unpack returns
 * SKR_EINTEGRITY for a wrong length or kind (*kdf untouched). */
void store_kdf_pack(const store_kdf *kdf, uint8_t out[STORE_KDF_PACKED]);
int store_kdf_unpack(const uint8_t *in, size_t len, store_kdf *kdf);

/* Suite-aware sealing and hashing for records and look-up keys (see STORE_SUITE_*).
 * store_seal_s and store_unseal_s take a whole key buffer (STORE_K_*) and use its data
 * key; store_keys_derive must have run on it since its data key last changed. Sealed:
 * nonce || ciphertext || tag, store_seal_overhead(suite) bytes more than the plaintext.
 * unseal: SKR_EINTEGRITY when the value does not authenticate or its plaintext would
 * exceed cap. */
size_t store_seal_overhead(int suite);
void store_hash_s(int suite, const uint8_t *index_key, const char *personal, const char *str,
                  size_t len, uint8_t out[STORE_HASH_BYTES]);
void store_seal_s(int suite, const uint8_t *keys, const uint8_t *ad, size_t adlen,
                  const uint8_t *pt, size_t len, uint8_t *out);
int store_unseal_s(int suite, const uint8_t *keys, const uint8_t *ad, size_t adlen,
                   const uint8_t *in, size_t inlen, uint8_t *pt, size_t cap, size_t *ptlen);
/* Sealing under a key that lives only in this process's memory (the record mirror's,
 * store_mirror.c): the nonce is a counter that the caller never uses twice with one key,
 * so it is not stored with the value. out = ciphertext || tag, STORE_MAC_BYTES more than
 * the plaintext, for both suites. unseal: SKR_EINTEGRITY as store_unseal_s. */
#define STORE_MAC_BYTES 16
void store_seal_ctr(int suite, const uint8_t *keys, uint64_t ctr, const uint8_t *ad,
                    size_t adlen, const uint8_t *pt, size_t len, uint8_t *out);
int store_unseal_ctr(int suite, const uint8_t *keys, uint64_t ctr, const uint8_t *ad,
                     size_t adlen, const uint8_t *in, size_t inlen, uint8_t *pt, size_t cap,
                     size_t *ptlen);
/* Zeros the STORE_STACK_WIPE bytes of stack below the caller's frame: after work that
 * decrypts and seals in callees (the mirror's walks), whose frames keep plaintext. */
#define STORE_STACK_WIPE 8192
void store_stack_wipe(void);
/* The suite a new hub gets on this machine ($SEKRETS_HUB_SUITE=1 forces suite 1). */
int store_suite_default(void);
/* BLAKE2b-128 keyed with the 32-byte index key, personal at most 16 bytes (suite 1). */
void store_hash(const uint8_t *index_key, const char *personal, const char *str, size_t len,
                uint8_t out[STORE_HASH_BYTES]);
/* XChaCha20-Poly1305 under one 32-byte key (the key wrap, and suite 1's records). */
void store_seal(const uint8_t *key, const uint8_t *ad, size_t adlen, const uint8_t *pt,
                size_t len, uint8_t *out);
int store_unseal(const uint8_t *key, const uint8_t *ad, size_t adlen, const uint8_t *in,
                 size_t inlen, uint8_t *pt, size_t cap, size_t *ptlen);

/* Size classes (store_crypto.c says why these): the class of a plaintext of `used` bytes,
 * from min (a power of two) up to cap; store_pad_ok: p's n bytes are `used` bytes of
 * content then zeros up to exactly that class. */
size_t store_pad_class(size_t used, size_t min, size_t cap);
bool store_pad_ok(const uint8_t *p, size_t used, size_t n, size_t min, size_t cap);
/* The n bytes at p are all zero (n 0: true). */
bool store_zeros(const uint8_t *p, size_t n);

/* Big-endian u64 into and out of 8 bytes; inline: a get reads several (a call each cost
 * about 30 instructions, more than the load). */
static inline void store_put_u64(uint8_t *p, uint64_t v)
{
    v = htobe64(v);
    memcpy(p, &v, 8);
}

static inline uint64_t store_get_u64(const uint8_t *p)
{
    uint64_t v;

    memcpy(&v, p, 8);
    return be64toh(v);
}

#endif
