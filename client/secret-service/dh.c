/*
 * client/secret-service/dh.c - the dh-ietf1024-sha256-aes128-cbc-pkcs7 session algorithm
 * of the Secret Service spec, as libsecret's client expects it: Diffie-Hellman in the
 * 1024-bit MODP group of RFC 2409 (group 2, generator 2), the shared value written
 * big-endian on 128 bytes (zero-padded), HKDF-SHA256 over it with no salt and empty info
 * giving a 16-byte key, then AES-128-CBC with PKCS#7 padding and a random IV per secret.
 * libgcrypt (as libsecret) does the modexp and AES; libsodium's HMAC-SHA256 the HKDF.
 * Without libgcrypt only `plain` is offered.
 */
#include <sodium.h>
#include <string.h>

#include "skr_config.h"
#include "ss.h"

#if SKR_HAVE_GCRYPT
#include <gcrypt.h>

#define DH_BYTES 128

static const unsigned char group2_prime[DH_BYTES] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xC9, 0x0F, 0xDA, 0xA2, 0x21, 0x68, 0xC2, 0x34,
    0xC4, 0xC6, 0x62, 0x8B, 0x80, 0xDC, 0x1C, 0xD1, 0x29, 0x02, 0x4E, 0x08, 0x8A, 0x67, 0xCC, 0x74,
    0x02, 0x0B, 0xBE, 0xA6, 0x3B, 0x13, 0x9B, 0x22, 0x51, 0x4A, 0x08, 0x79, 0x8E, 0x34, 0x04, 0xDD,
    0xEF, 0x95, 0x19, 0xB3, 0xCD, 0x3A, 0x43, 0x1B, 0x30, 0x2B, 0x0A, 0x6D, 0xF2, 0x5F, 0x14, 0x37,
    0x4F, 0xE1, 0x35, 0x6D, 0x6D, 0x51, 0xC2, 0x45, 0xE4, 0x85, 0xB5, 0x76, 0x62, 0x5E, 0x7E, 0xC6,
    0xF4, 0x4C, 0x42, 0xE9, 0xA6, 0x37, 0xED, 0x6B, 0x0B, 0xFF, 0x5C, 0xB6, 0xF4, 0x06, 0xB7, 0xED,
    0xEE, 0x38, 0x6B, 0xFB, 0x5A, 0x89, 0x9F, 0xA5, 0xAE, 0x9F, 0x24, 0x11, 0x7C, 0x4B, 0x1F, 0xE6,
    0x49, 0x28, 0x66, 0x51, 0xEC, 0xE6, 0x53, 0x81, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
};

bool dh_available(void)
{
    return true;
}

int dh_init(void)
{
    if (!gcry_check_version(GCRYPT_VERSION))
        return SKR_EINTERNAL;
    /* gcrypt's secure pool holds the private exponent and the shared value. */
    gcry_control(GCRYCTL_SUSPEND_SECMEM_WARN);
    gcry_control(GCRYCTL_INIT_SECMEM, 65536, 0);
    gcry_control(GCRYCTL_RESUME_SECMEM_WARN);
    gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
    return 0;
}

/* Writes x big-endian into out, left-padded with zeros to DH_BYTES. */
static int mpi_fixed(gcry_mpi_t x, unsigned char *out)
{
    size_t n = 0;
    if (gcry_mpi_print(GCRYMPI_FMT_USG, NULL, 0, &n, x) != 0 || n > DH_BYTES)
        return SKR_EINTERNAL;
    memset(out, 0, DH_BYTES);
    if (gcry_mpi_print(GCRYMPI_FMT_USG, out + DH_BYTES - n, n, &n, x) != 0)
        return SKR_EINTERNAL;
    return 0;
}

/* HKDF-SHA256 (RFC 5869), no salt (HashLen zeros), empty info, 16 bytes of output. */
static void hkdf16(const unsigned char *ikm, size_t len, unsigned char *key)
{
    unsigned char zeros[crypto_auth_hmacsha256_KEYBYTES] = { 0 };
    unsigned char prk[crypto_auth_hmacsha256_BYTES], t[crypto_auth_hmacsha256_BYTES];
    unsigned char one = 1;
    crypto_auth_hmacsha256_state st;

    crypto_auth_hmacsha256_init(&st, zeros, sizeof(zeros));
    crypto_auth_hmacsha256_update(&st, ikm, len);
    crypto_auth_hmacsha256_final(&st, prk);
    crypto_auth_hmacsha256_init(&st, prk, sizeof(prk));
    crypto_auth_hmacsha256_update(&st, &one, 1);
    crypto_auth_hmacsha256_final(&st, t);
    memcpy(key, t, 16);
    sodium_memzero(prk, sizeof(prk));
    sodium_memzero(t, sizeof(t));
    sodium_memzero(&st, sizeof(st));
}

int dh_negotiate(const unsigned char *peer, size_t peer_len, unsigned char *pub, size_t *pub_len,
                 unsigned char *key)
{
    gcry_mpi_t p = NULL, y = NULL, x = NULL, g = NULL, ours = NULL, k = NULL, pm1 = NULL;
    unsigned char *shared = NULL;
    int r = SKR_EINVAL;

    if (peer_len == 0 || peer_len > DH_BYTES)
        return SKR_EINVAL;
    if (gcry_mpi_scan(&p, GCRYMPI_FMT_USG, group2_prime, DH_BYTES, NULL) != 0 ||
        gcry_mpi_scan(&y, GCRYMPI_FMT_USG, peer, peer_len, NULL) != 0) {
        r = SKR_ENOMEM;
        goto out;
    }
    /* 1 < y < p - 1: otherwise the shared value is 0, 1 or p - 1, known to anyone. */
    pm1 = gcry_mpi_new(0);
    gcry_mpi_sub_ui(pm1, p, 1);
    if (gcry_mpi_cmp_ui(y, 1) <= 0 || gcry_mpi_cmp(y, pm1) >= 0)
        goto out;
    x = gcry_mpi_snew(DH_BYTES * 8);
    gcry_mpi_randomize(x, DH_BYTES * 8, GCRY_STRONG_RANDOM);
    g = gcry_mpi_set_ui(NULL, 2);
    ours = gcry_mpi_new(0);
    k = gcry_mpi_snew(0);
    gcry_mpi_powm(ours, g, x, p);
    gcry_mpi_powm(k, y, x, p);
    if (!(shared = sodium_malloc(DH_BYTES))) {
        r = SKR_ENOMEM;
        goto out;
    }
    if ((r = mpi_fixed(ours, pub)) != 0 || (r = mpi_fixed(k, shared)) != 0)
        goto out;
    hkdf16(shared, DH_BYTES, key);
    *pub_len = DH_BYTES;
out:
    sodium_free(shared);
    gcry_mpi_release(p);
    gcry_mpi_release(y);
    gcry_mpi_release(x); /* secure mpis are wiped on release */
    gcry_mpi_release(g);
    gcry_mpi_release(ours);
    gcry_mpi_release(k);
    gcry_mpi_release(pm1);
    return r;
}

static int aes_cbc(const unsigned char *key, const unsigned char *iv, unsigned char *buf,
                   size_t len, bool enc)
{
    gcry_cipher_hd_t h;
    gcry_error_t e;
    if (gcry_cipher_open(&h, GCRY_CIPHER_AES128, GCRY_CIPHER_MODE_CBC, GCRY_CIPHER_SECURE) != 0)
        return SKR_EINTERNAL;
    e = gcry_cipher_setkey(h, key, 16);
    if (!e)
        e = gcry_cipher_setiv(h, iv, 16);
    if (!e)
        e = enc ? gcry_cipher_encrypt(h, buf, len, NULL, 0) : gcry_cipher_decrypt(h, buf, len, NULL, 0);
    gcry_cipher_close(h);
    return e ? SKR_EINTERNAL : 0;
}

int dh_encrypt(const unsigned char *key, const unsigned char *iv, const unsigned char *in,
               size_t in_len, unsigned char *out, size_t *out_len)
{
    size_t pad = 16 - in_len % 16;
    int r;
    memcpy(out, in, in_len);
    memset(out + in_len, (int)pad, pad);
    if ((r = aes_cbc(key, iv, out, in_len + pad, true)) != 0)
        return r;
    *out_len = in_len + pad;
    return 0;
}

int dh_decrypt(const unsigned char *key, const unsigned char *iv, const unsigned char *in,
               size_t in_len, unsigned char *out, size_t *out_len)
{
    unsigned char pad;
    int r;
    if (in_len == 0 || in_len % 16 != 0)
        return SKR_EINVAL;
    memcpy(out, in, in_len);
    if ((r = aes_cbc(key, iv, out, in_len, false)) != 0)
        return r;
    pad = out[in_len - 1];
    if (pad == 0 || pad > 16)
        return SKR_EINVAL;
    for (size_t i = in_len - pad; i < in_len; i++)
        if (out[i] != pad)
            return SKR_EINVAL;
    *out_len = in_len - pad;
    return 0;
}

#else /* !SKR_HAVE_GCRYPT */

bool dh_available(void)
{
    return false;
}

int dh_init(void)
{
    return 0;
}

int dh_negotiate(const unsigned char *peer, size_t peer_len, unsigned char *pub, size_t *pub_len,
                 unsigned char *key)
{
    (void)peer; (void)peer_len; (void)pub; (void)pub_len; (void)key;
    return SKR_EUNSUPPORTED;
}

int dh_encrypt(const unsigned char *key, const unsigned char *iv, const unsigned char *in,
               size_t in_len, unsigned char *out, size_t *out_len)
{
    (void)key; (void)iv; (void)in; (void)in_len; (void)out; (void)out_len;
    return SKR_EUNSUPPORTED;
}

int dh_decrypt(const unsigned char *key, const unsigned char *iv, const unsigned char *in,
               size_t in_len, unsigned char *out, size_t *out_len)
{
    (void)key; (void)iv; (void)in; (void)in_len; (void)out; (void)out_len;
    return SKR_EUNSUPPORTED;
}
#endif
