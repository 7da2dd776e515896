/*
 * tests/unit/test_store_format.c - the encrypted hub (daemon/store), the hub format:
 * padding size classes, format versions, the upgrade from format 1.
 *
 * Shared fixture and helpers: store_fixture.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_fixture.h"

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

int main(void)
{
    Suite *su = suite_create("store_format");
    TCase *tc;

    tc = fixture_tcase("tamper", setup_disk, 30);
    tcase_add_test(tc, test_size_classes);
    tcase_add_test(tc, test_upgrade_v1);
    tcase_add_test(tc, test_upgrade_altered);
    tcase_add_test(tc, test_upgrade_empty);
    suite_add_tcase(su, tc);
    return fixture_run(su);
}
