/*
 * daemon/store/store_rotate.c - a new data key for every sealed value, in one write txn.
 *
 * Why the index key stays: it only makes look-up hashes (a keyed PRF of the names); it
 * seals nothing, so there is no ciphertext for an old key to open. Rotating the data key
 * is what makes a leaked old data key useless against the current file. A leaked index
 * key lets its holder test guessed names against the file, never read a body or list
 * names; replacing it would move every key of every database (rec, ord, names, protos)
 * for that small gain, and a hub whose keys leaked wants a new hub (export, init), not a
 * rotation. So rotate re-seals values under a new data key and keeps every LMDB key.
 */
#include <stdlib.h>
#include <string.h>

#include "store_hub.h"
#include "store_keys.h"
#include "store_test.h"

#define STORE_CT_MAX (STORE_REC_CLEAR + STORE_SEAL_OVERHEAD + STORE_REC_PT_MAX)

typedef struct store_rot {
    const uint8_t *old; /* key buffer with the data key the values are sealed under */
    uint8_t *keys;      /* new key buffer: new data key, same index key, the new KEK */
    uint64_t id;        /* the new data key's id (meta "keyid") */
    uint8_t *ct;        /* one re-sealed value */
    uint64_t records;
} store_rot;

/* Re-seals every value of dbi: clear prefix kept (and in the AD), the rest opened with the
 * old data key and sealed with the new one, in place (same size). */
static int store_reseal_db(store *s, MDB_txn *txn, MDB_dbi dbi, const char *label,
                           size_t clear, store_rot *rot, uint64_t *count)
{
    uint8_t ad[STORE_AD_MAX];
    MDB_cursor *c = NULL;
    MDB_val k, v, nv;
    size_t n, adlen;
    int rc, r = 0;

    if ((rc = mdb_cursor_open(txn, dbi, &c)) != 0)
        return store_mdb_err(&s->kv, rc, "rotate cursor");
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (v.mv_size < clear || v.mv_size > STORE_CT_MAX || k.mv_size > 2 * STORE_HASH_BYTES) {
            r = store_errf(s, SKR_EINTEGRITY, "rotate: a stored value is malformed");
            goto out;
        }
        adlen = store_ad(ad, label, &k, v.mv_data, clear);
        if (store_unseal_s(s->recs.suite, rot->old, ad, adlen, (uint8_t *)v.mv_data + clear,
                         v.mv_size - clear, s->recs.scratch, STORE_REC_PT_MAX, &n) != 0) {
            /* Re-sealing it would launder a tampered value: the user deletes it first. */
            r = store_errf(s, SKR_EINTEGRITY, "rotate: a stored value failed authentication"
                           " (delete that record, then rotate)");
            goto out;
        }
        if (n > s->recs.scratch_used)
            s->recs.scratch_used = n;
        memcpy(rot->ct, v.mv_data, clear);
        store_seal_s(s->recs.suite, rot->keys, ad, adlen, s->recs.scratch, n, rot->ct + clear);
        nv.mv_size = v.mv_size;
        nv.mv_data = rot->ct;
        if ((r = store_cursor_replace(s, c, &k, &nv, "rotate write")) != 0)
            goto out;
        (*count)++;
    }
    if (rc != MDB_NOTFOUND)
        r = store_mdb_err(&s->kv, rc, "rotate read");
out:
    mdb_cursor_close(c);
    return r;
}

static int store_rotate_txn(store *s, MDB_txn *txn, void *ctx)
{
    store_rot *rot = ctx;
    uint64_t recs = 0, other = 0;
    int r;

    /* A retry after map growth seals under the same new key: the key file holds its
     * wrap already. Nothing of the aborted try reaches a committed page. */
    if ((r = store_reseal_db(s, txn, s->kv.rec, STORE_AD_REC, STORE_REC_CLEAR, rot, &recs)) ||
        (r = store_reseal_db(s, txn, s->kv.ord, STORE_AD_ORD, STORE_ORD_CLEAR, rot, &other)) ||
        (r = store_reseal_db(s, txn, s->kv.protos, STORE_AD_PROTO, 0, rot, &other)))
        return r;
    if ((r = store_put_keyid(s, txn, rot->id)) != 0)
        return r;
    rot->records = recs;
    return 0;
}

/* Crash safety: the key file holds the old and the new wrap before the txn (whichever
 * key id LMDB names, its wrap is there), only the one LMDB names after it. */
int store_rotate_keys(store *s, const uint8_t *old, const store_kdf *kdf, const uint8_t *kek,
                      uint64_t *records)
{
    const store_wrapent *cur = store_ring_find(s, s->hk.keyid);
    store_ring both = { .n = 2 }, one = { .n = 1 };
    store_rot rot = { .old = old };
    store_kdf nkdf = *kdf;
    int r;

    if (cur == NULL)
        return store_errf(s, SKR_EINTEGRITY, "the key file holds no key for the records");
    if ((rot.keys = store_keys_alloc()) == NULL || (rot.ct = malloc(STORE_CT_MAX)) == NULL) {
        r = store_errf(s, SKR_ENOMEM, "no memory to rotate");
        goto out;
    }
    memcpy(rot.keys, old, STORE_K_TOTAL); /* the index key carries over */
    randombytes_buf(rot.keys + STORE_K_DATA, STORE_KEY_BYTES);
    store_keys_derive(rot.keys, s->recs.suite);
    memcpy(rot.keys + STORE_K_KEK, kek, STORE_KEY_BYTES);
    rot.id = store_keyid_new(s);
    both.ent[0] = *cur;
    store_wrap_make(&nkdf, kek, rot.keys, rot.id, &both.ent[1]);
    one.ent[0] = both.ent[1];
    if ((r = store_ring_write(s, &both)) != 0)
        goto back;
    store_crash_point(STORE_CRASH_ROTATE_RING);
    if ((r = store_write(&s->kv, store_rotate_txn, &rot)) != 0)
        goto back;
    s->hk.keyid = rot.id;
    s->hk.kdf = nkdf;
    store_crash_point(STORE_CRASH_ROTATE_TXN);
    /* Old journal records hold values sealed under the retired key: drop them. */
    (void)store_journal_truncate(&s->kv);
    /* The records are sealed under the new key whatever this returns: install it. */
    r = store_ring_write(s, &one);
    if (s->recs.keys != NULL) {
        store_keys_free(s->recs.keys);
        sodium_mprotect_readonly(rot.keys);
        s->recs.keys = rot.keys;
        rot.keys = NULL;
        store_rec_mirror_build(s); /* every value was sealed again */
    }
    if (r == 0 && records != NULL)
        *records = rot.records;
    goto out;
back:
    /* The records still use the old key: the key file keeps only its wrap. */
    one.ent[0] = both.ent[0];
    if (s->hk.ring.n != 1 || s->hk.ring.ent[0].id != one.ent[0].id)
        (void)store_ring_write(s, &one);
out:
    sodium_memzero(&both, sizeof both);
    sodium_memzero(&one, sizeof one);
    store_release(s);
    store_keys_free(rot.keys);
    free(rot.ct);
    return r;
}

int store_rotate(store *s, uint64_t *records)
{
    store_release(s);
    (void)store_checkpoint_finish(s); /* a failure keeps the journal: retried later */
    if (s->recs.keys == NULL)
        return store_errf(s, SKR_ELOCKED, s->recs.initialized ? "hub locked"
                                                         : "hub not initialised");
    if (s->kv.batching)
        return store_errf(s, SKR_EBUSY, "a write batch is open: commit it first");
    /* The KEK is copied into the new key buffer before s->recs.keys is replaced. */
    return store_rotate_keys(s, s->recs.keys, &s->hk.kdf, s->recs.keys + STORE_K_KEK, records);
}
