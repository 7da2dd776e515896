/*
 * daemon/store/store_upgrade.c - a format-1 hub becomes format 2 at its first unlock.
 *
 * Format 1 had no padding and no versions:
 *   rec    Hp || Hn -> seq BE || nonce || AEAD(created, modified, plen(1), nlen(2), protocol,
 *          name, body), AD = "skr-rec-v1" || key || seq BE
 *   ord    Hp || seq BE -> nonce || AEAD(name), AD = "skr-ord-v1" || key
 *   protos Hp -> nonce || AEAD(count BE || protocol), AD = "skr-proto-v1" || Hp
 * Every value is opened and sealed again as format 2 (store_records.h), a record's version
 * being its seq (unique, and below the write counter), in one write txn that also writes
 * the new version number: a crash leaves the hub format 1 or format 2, never a mix, and
 * the next unlock tries again.
 *
 * A value that does not open stays as it is: it failed before and fails after (a get
 * gives `integrity`, a delete clears it, since seq stays the first 8 bytes), so a hub with
 * one damaged record still opens. A value that opens as format 2 in a hub that says
 * format 1 means that the version number was edited (a format-1 hub never holds one):
 * the upgrade refuses, rather than seal format-1 values put back beside it as current.
 */
#include <stdlib.h>
#include <string.h>

#include "store_hub.h"
#include "store_keys.h"

#define UPG_CT_MAX    (STORE_REC_CLEAR + STORE_SEAL_OVERHEAD + STORE_REC_PT_MAX)
#define V1_REC_CLEAR  8
#define V1_REC_HEAD   19
#define V1_HEAD_GAP   (STORE_REC_HEAD - V1_REC_HEAD) /* blen(4), new in format 2 */

/* Seals the format-2 form of (k, v) into ct and returns its size; 0 when v does not open
 * as format 1. */
typedef size_t (*upg_fn)(store *s, const MDB_val *k, const MDB_val *v, uint8_t *ct);

static void upg_scratch_used(store *s, size_t n)
{
    if (n > s->recs.scratch_used)
        s->recs.scratch_used = n;
}

/* Opened V1_HEAD_GAP bytes into the scratch, the v1 head moves down over the gap and
 * blen fills it: protocol, name and body are then already where format 2 has them. */
static size_t upg_rec(store *s, const MDB_val *k, const MDB_val *v, uint8_t *ct)
{
    uint8_t ad[STORE_AD_MAX], *p = s->recs.scratch;
    size_t n, adlen, plen, nlen, blen, cls;

    if (v->mv_size < V1_REC_CLEAR)
        return 0;
    adlen = store_ad(ad, STORE_AD_REC_V1, k, v->mv_data, V1_REC_CLEAR);
    if (store_unseal_s(s->recs.suite, s->recs.keys, ad, adlen, (const uint8_t *)v->mv_data + V1_REC_CLEAR,
                       v->mv_size - V1_REC_CLEAR, p + V1_HEAD_GAP,
                       STORE_REC_PT_MAX - V1_HEAD_GAP, &n) != 0)
        return 0;
    upg_scratch_used(s, n + V1_HEAD_GAP);
    plen = p[V1_HEAD_GAP + 16];
    nlen = (size_t)p[V1_HEAD_GAP + 17] << 8 | p[V1_HEAD_GAP + 18];
    if (n < V1_REC_HEAD || V1_REC_HEAD + plen + nlen > n)
        return 0;
    blen = n - V1_REC_HEAD - plen - nlen;
    memmove(p, p + V1_HEAD_GAP, V1_REC_HEAD);
    p[19] = (uint8_t)(blen >> 24);
    p[20] = (uint8_t)(blen >> 16);
    p[21] = (uint8_t)(blen >> 8);
    p[22] = (uint8_t)blen;
    cls = store_pad_class(n + V1_HEAD_GAP, STORE_REC_PAD_MIN, STORE_REC_PT_MAX);
    memset(p + n + V1_HEAD_GAP, 0, cls - n - V1_HEAD_GAP);
    upg_scratch_used(s, cls);
    memcpy(ct, v->mv_data, V1_REC_CLEAR);
    memcpy(ct + V1_REC_CLEAR, v->mv_data, V1_REC_CLEAR); /* version = seq */
    adlen = store_ad(ad, STORE_AD_REC, k, ct, STORE_REC_CLEAR);
    store_seal_s(s->recs.suite, s->recs.keys, ad, adlen, p, cls, ct + STORE_REC_CLEAR);
    return STORE_REC_CLEAR + store_seal_overhead(s->recs.suite) + cls;
}

static size_t upg_ord(store *s, const MDB_val *k, const MDB_val *v, uint8_t *ct)
{
    uint8_t ad[STORE_AD_MAX], name[STORE_MAX_NAME];
    size_t n, adlen = store_ad(ad, STORE_AD_ORD_V1, k, NULL, 0), len = 0;

    if (k->mv_size == STORE_HASH_BYTES + 8 &&
        store_unseal_s(s->recs.suite, s->recs.keys, ad, adlen, v->mv_data, v->mv_size, name,
                       sizeof name, &n) == 0 && n > 0)
        len = store_ord_seal(s, k, (const uint8_t *)k->mv_data + STORE_HASH_BYTES,
                             (const char *)name, n, ct);
    sodium_memzero(name, sizeof name);
    return len;
}

static size_t upg_proto(store *s, const MDB_val *k, const MDB_val *v, uint8_t *ct)
{
    uint8_t ad[STORE_AD_MAX], pt[8 + STORE_MAX_PROTOCOL];
    size_t n, adlen = store_ad(ad, STORE_AD_PROTO_V1, k, NULL, 0), len = 0;

    if (store_unseal_s(s->recs.suite, s->recs.keys, ad, adlen, v->mv_data, v->mv_size, pt, sizeof pt,
                       &n) == 0 && n > 8)
        len = store_proto_seal(s, k, store_get_u64(pt), (const char *)pt + 8, n - 8, ct);
    sodium_memzero(pt, sizeof pt);
    return len;
}

/* Whether v opens as a format-2 value of its kind (into the scratch, wiped later). */
static bool upg_is_v2(store *s, const char *label, size_t clear, const MDB_val *k,
                      const MDB_val *v)
{
    uint8_t ad[STORE_AD_MAX];
    size_t n, adlen;

    if (v->mv_size < clear)
        return false;
    adlen = store_ad(ad, label, k, v->mv_data, clear);
    if (store_unseal_s(s->recs.suite, s->recs.keys, ad, adlen, (const uint8_t *)v->mv_data + clear,
                       v->mv_size - clear, s->recs.scratch, STORE_REC_PT_MAX, &n) != 0)
        return false;
    upg_scratch_used(s, n);
    return true;
}

static int upg_db(store *s, MDB_txn *txn, MDB_dbi dbi, upg_fn fn, const char *label,
                  size_t clear, uint8_t *ct)
{
    MDB_cursor *c = NULL;
    MDB_val k, v, nv;
    int rc, r = 0;

    if ((rc = mdb_cursor_open(txn, dbi, &c)) != 0)
        return store_mdb_err(&s->kv, rc, "upgrade cursor");
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size > 2 * STORE_HASH_BYTES)
            continue; /* no key of ours: left alone, as format 1 did */
        if ((nv.mv_size = fn(s, &k, &v, ct)) == 0) {
            if (upg_is_v2(s, label, clear, &k, &v)) {
                r = store_errf(s, SKR_EINTEGRITY, "the hub says format 1 but holds format-2 "
                               "values: its version number was altered");
                goto out;
            }
            continue; /* damaged before: stays so (see the top) */
        }
        nv.mv_data = ct;
        if ((r = store_cursor_replace(s, c, &k, &nv, "upgrade write")) != 0)
            goto out;
    }
    if (rc != MDB_NOTFOUND)
        r = store_mdb_err(&s->kv, rc, "upgrade read");
out:
    mdb_cursor_close(c);
    return r;
}

static int upg_txn(store *s, MDB_txn *txn, void *ctx)
{
    uint8_t ver[4] = { 0, 0, 0, STORE_FORMAT_VERSION };
    MDB_val k = { 7, (void *)"version" }, d = { sizeof ver, ver };
    int rc, r;

    if ((r = upg_db(s, txn, s->kv.rec, upg_rec, STORE_AD_REC, STORE_REC_CLEAR, ctx)) != 0 ||
        (r = upg_db(s, txn, s->kv.ord, upg_ord, STORE_AD_ORD, STORE_ORD_CLEAR, ctx)) != 0 ||
        (r = upg_db(s, txn, s->kv.protos, upg_proto, STORE_AD_PROTO, 0, ctx)) != 0)
        return r;
    if ((rc = mdb_put(txn, s->kv.meta, &k, &d, 0)) != 0)
        return store_mdb_err(&s->kv, rc, "write version");
    return 0;
}

int store_upgrade(store *s)
{
    char msg[STORE_ERRMSG_MAX];
    uint8_t *ct;
    int r;

    if ((ct = malloc(UPG_CT_MAX)) == NULL)
        return store_errf(s, SKR_ENOMEM, "no memory to upgrade the hub");
    r = store_write(&s->kv, upg_txn, ct);
    store_release(s); /* the scratch held plaintexts */
    free(ct);
    if (r != 0) {
        memcpy(msg, s->kv.errmsg, sizeof msg);
        return store_errf(s, r, "upgrading the hub to format %u: %.200s",
                          STORE_FORMAT_VERSION, msg);
    }
    s->recs.format = STORE_FORMAT_VERSION;
    return 0;
}
