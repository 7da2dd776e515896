/*
 * daemon/store/store_format.c - the ord and protos values, and the version check that
 * catches a record value put back from an earlier write. Layout in store_records.h; the size
 * classes they are padded to are in store_crypto.c.
 */
#include <string.h>

#include "store_hub.h"
#include "store_records.h"
#include "store_test.h"

static const MDB_val store_k_version = { 7, (void *)"version" };

/* value = ver || seal(nlen || name || zeros), AD = label || Hp || seq || ver. */
size_t store_ord_seal(store *s, const MDB_val *k, const uint8_t ver[8], const char *name,
                      size_t nlen, uint8_t out[STORE_ORD_SEALED_MAX])
{
    uint8_t pt[STORE_ORD_PT_MAX] = { 0 }, ad[STORE_AD_MAX];
    size_t n = store_pad_class(2 + nlen, STORE_PAD_MIN, STORE_ORD_PT_MAX);
    size_t adlen = store_ad(ad, STORE_AD_ORD, k, ver, STORE_ORD_CLEAR);

    pt[0] = (uint8_t)(nlen >> 8);
    pt[1] = (uint8_t)nlen;
    memcpy(pt + 2, name, nlen);
    memcpy(out, ver, STORE_ORD_CLEAR);
    store_seal_s(s->recs.suite, s->recs.keys, ad, adlen, pt, n, out + STORE_ORD_CLEAR);
    sodium_memzero(pt, sizeof pt);
    return STORE_ORD_CLEAR + store_seal_overhead(s->recs.suite) + n;
}

/* The ord and protos plaintexts: head || string || zeros, the string's length being the
 * head's last lbytes (big-endian). Opens v (after its clear prefix) into pt, checks length
 * and padding, returns the string's length in *len. */
typedef struct store_small {
    const char *label, *what;
    size_t clear, head, lbytes, max, cap;
} store_small;

static int store_small_open(store *s, const store_small *f, const MDB_val *k, const MDB_val *v,
                            uint8_t *pt, size_t *len)
{
    uint8_t ad[STORE_AD_MAX];
    size_t n, adlen, l = 0;

    if (v->mv_size < f->clear)
        return store_errf(s, SKR_EINTEGRITY, "%s failed authentication", f->what);
    adlen = store_ad(ad, f->label, k, v->mv_data, f->clear);
    if (store_unseal_s(s->recs.suite, s->recs.keys, ad, adlen, (const uint8_t *)v->mv_data + f->clear,
                       v->mv_size - f->clear, pt, f->cap, &n) != 0)
        return store_errf(s, SKR_EINTEGRITY, "%s failed authentication", f->what);
    for (size_t i = f->head - f->lbytes; n >= f->head && i < f->head; i++)
        l = l << 8 | pt[i];
    if (l == 0 || l > f->max || !store_pad_ok(pt, f->head + l, n, STORE_PAD_MIN, f->cap))
        return store_errf(s, SKR_EINTEGRITY, "%s is malformed", f->what);
    *len = l;
    return 0;
}

static const store_small store_ord_form = {
    STORE_AD_ORD, "order entry", STORE_ORD_CLEAR, 2, 2, STORE_MAX_NAME, STORE_ORD_PT_MAX
};
static const store_small store_proto_form = {
    STORE_AD_PROTO, "protocol entry", 0, 9, 1, STORE_MAX_PROTOCOL, STORE_PROTO_PT_MAX
};

int store_ord_open(store *s, const MDB_val *k, const MDB_val *v, uint8_t name[STORE_MAX_NAME],
                   size_t *nlen)
{
    uint8_t pt[STORE_ORD_PT_MAX];
    size_t len = 0; /* set when the open succeeds (gcc -O2 cannot see it) */
    int r;

    if ((r = store_small_open(s, &store_ord_form, k, v, pt, &len)) == 0) {
        memcpy(name, pt + 2, len);
        *nlen = len;
    }
    sodium_memzero(pt, sizeof pt);
    return r;
}

/* The mirror's build asks this of each ord entry (store_mirror_ord_fn): an ord key is
 * Hp || seq BE, its value ver BE || sealed name; only an entry that opens names a version. */
bool store_ord_version(store *s, const MDB_val *k, const MDB_val *v, uint64_t *seq,
                       uint64_t *ver)
{
    uint8_t name[STORE_MAX_NAME];
    size_t nlen;
    bool ok = k->mv_size == STORE_HASH_BYTES + 8 && store_ord_open(s, k, v, name, &nlen) == 0;

    sodium_memzero(name, sizeof name);
    if (ok) {
        *seq = store_get_u64((const uint8_t *)k->mv_data + STORE_HASH_BYTES);
        *ver = store_get_u64(v->mv_data);
    }
    return ok;
}

/* value = seal(count || plen || protocol || zeros), AD = label || Hp. */
size_t store_proto_seal(store *s, const MDB_val *k, uint64_t count, const char *protocol,
                        size_t plen, uint8_t out[STORE_PROTO_SEALED_MAX])
{
    uint8_t pt[STORE_PROTO_PT_MAX] = { 0 }, ad[STORE_AD_MAX];
    size_t n = store_pad_class(9 + plen, STORE_PAD_MIN, STORE_PROTO_PT_MAX);
    size_t adlen = store_ad(ad, STORE_AD_PROTO, k, NULL, 0);

    store_put_u64(pt, count);
    pt[8] = (uint8_t)plen;
    memcpy(pt + 9, protocol, plen);
    store_seal_s(s->recs.suite, s->recs.keys, ad, adlen, pt, n, out);
    sodium_memzero(pt, sizeof pt);
    return store_seal_overhead(s->recs.suite) + n;
}

int store_proto_open(store *s, const MDB_val *k, const MDB_val *v, uint64_t *count,
                     uint8_t protocol[STORE_MAX_PROTOCOL], size_t *plen)
{
    uint8_t pt[STORE_PROTO_PT_MAX];
    size_t len = 0; /* set when the open succeeds (gcc -O2 cannot see it) */
    int r;

    if ((r = store_small_open(s, &store_proto_form, k, v, pt, &len)) == 0) {
        *count = store_get_u64(pt);
        memcpy(protocol, pt + 9, len);
        *plen = len;
    }
    sodium_memzero(pt, sizeof pt);
    return r;
}

/* A replace keeps seq, so an earlier value of the record still matches its own AD; what
 * it cannot match is the version in the ord entry, which every write of the record seals
 * again. The ord entry is opened, not just read: its clear version is only trusted once
 * it authenticates. */
int store_rec_current(store *s, MDB_txn *txn, const MDB_val *k, const MDB_val *v)
{
    uint8_t ok[STORE_HASH_BYTES + 8], name[STORE_MAX_NAME];
    MDB_val okv = { sizeof ok, ok }, ov;
    size_t nlen;
    int rc, r;

    if (k->mv_size != 2 * STORE_HASH_BYTES || v->mv_size < STORE_REC_CLEAR)
        return store_errf(s, SKR_EINTEGRITY, "record failed authentication");
    memcpy(ok, k->mv_data, STORE_HASH_BYTES);
    memcpy(ok + STORE_HASH_BYTES, v->mv_data, 8);
    if ((rc = mdb_get(txn, s->kv.ord, &okv, &ov)) != 0)
        return rc == MDB_NOTFOUND ? store_errf(s, SKR_EINTEGRITY, "record has no order entry")
                                  : store_mdb_err(&s->kv, rc, "order");
    if (ov.mv_size < STORE_ORD_CLEAR ||
        memcmp(ov.mv_data, (const uint8_t *)v->mv_data + 8, 8) != 0)
        return store_errf(s, SKR_EINTEGRITY, "record is not its latest version "
                          "(an earlier value was put back)");
    r = store_ord_open(s, &okv, &ov, name, &nlen);
    sodium_memzero(name, sizeof name);
    return r;
}

static bool store_db_empty(MDB_txn *txn, MDB_dbi dbi)
{
    MDB_stat st;

    return mdb_stat(txn, dbi, &st) == 0 && st.ms_entries == 0;
}

static int store_version_put(store *s, MDB_txn *txn)
{
    uint8_t v[4] = { 0, 0, 0, STORE_FORMAT_VERSION };
    MDB_val k = store_k_version, d = { sizeof v, v };
    int rc;

    if ((rc = mdb_put(txn, s->kv.meta, &k, &d, 0)) != 0)
        return store_mdb_err(&s->kv, rc, "write version");
    return 0;
}

int store_format_load(store *s, MDB_txn *txn)
{
    MDB_val k = store_k_version, d;
    const uint8_t *p;
    int rc, r;

    rc = mdb_get(txn, s->kv.meta, &k, &d);
    if (rc == MDB_NOTFOUND) { /* a new hub */
        if ((r = store_version_put(s, txn)) != 0)
            return r;
        s->recs.format = STORE_FORMAT_VERSION;
        return 0;
    }
    if (rc != 0)
        return store_mdb_err(&s->kv, rc, "read version");
    p = d.mv_data;
    if (d.mv_size != 4 || p[0] != 0 || p[1] != 0 || p[2] != 0 || p[3] < 1 ||
        p[3] > STORE_FORMAT_VERSION)
        return store_errf(s, SKR_EINTERNAL, "hub format version not supported");
    s->recs.format = p[3];
    return 0;
}

static bool store_no_values(store *s, MDB_txn *txn)
{
    return store_db_empty(txn, s->kv.rec) && store_db_empty(txn, s->kv.ord) &&
           store_db_empty(txn, s->kv.protos);
}

static int store_settle_txn(store *s, MDB_txn *txn, void *ctx)
{
    (void)ctx;
    return store_no_values(s, txn) ? store_version_put(s, txn) : 0;
}

/* After the journal's replay (which writes what the process that wrote it wrote, so a
 * format-1 hub's journal is format 1): a format-1 hub without values becomes format 2
 * here, so that `init` never writes format-2 values into a hub that says format 1. One
 * with values waits for the data key (store_upgrade, at unlock) and is not written to
 * here: it opens even when a write would fail (a full disk). */
int store_format_settle(store *s)
{
    MDB_txn *txn;
    bool empty;
    int r;

    if (s->recs.format == STORE_FORMAT_VERSION)
        return 0;
    if ((r = store_read_begin(&s->kv, &txn)) != 0)
        return r;
    empty = store_no_values(s, txn);
    store_read_end(&s->kv);
    if (!empty)
        return 0;
    if ((r = store_write(&s->kv, store_settle_txn, NULL)) != 0)
        return r;
    s->recs.format = STORE_FORMAT_VERSION;
    return 0;
}

int store_test_format(const store *s)
{
    return s->recs.format;
}

/* Replaces the value at the cursor (rotate, upgrade). The key must not point into the page
 * being rewritten (a node whose value changes size, or a big value's, is deleted and
 * added again there): LMDB gets a copy. */
int store_cursor_replace(store *s, MDB_cursor *c, const MDB_val *k, MDB_val *v,
                         const char *what)
{
    uint8_t kcopy[2 * STORE_HASH_BYTES];
    MDB_val kc = { k->mv_size, kcopy };
    int rc;

    if (k->mv_size > sizeof kcopy)
        return store_errf(s, SKR_EINTEGRITY, "%s: a stored key is malformed", what);
    memcpy(kcopy, k->mv_data, k->mv_size);
    if ((rc = mdb_cursor_put(c, &kc, v, MDB_CURRENT)) != 0)
        return store_mdb_err(&s->kv, rc, what);
    return 0;
}
