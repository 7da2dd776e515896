/*
 * daemon/store/store_keys.h - the hub keys layer, the top of the store: init, unlock,
 * lock, passwd (store_keys.c), the key file (store_ring.c), rotate (store_rotate.c), the
 * format upgrade at the first unlock (store_upgrade.c) and keyfile reading
 * (store_keyfile.c). What they export to each other and to the top; store.h has the
 * public calls they implement.
 *
 * It includes the layers below (store_records.h, which includes the cache, kv and crypto
 * headers); nothing below includes it. Its state is store_hubkeys, which struct store
 * (store_hub.h) embeds as s->hk. The keys the records seal with are the records layer's
 * state (s->recs.keys, .suite, .initialized), which this layer sets at init and unlock and
 * clears at lock. Its functions take the whole store *: they write through kv and records.
 * store_hub.c, at the top, opens and closes the hub over kv and these (store_open,
 * store_close: daemon/store/README.md).
 *
 * The key file `keys` (store_ring.c): two 4 KiB slots with the same content, each
 *   "SKRKEYS1" | format u32 BE (1) | flags u32 BE | generation u64 BE | n u8 (1..2) |
 *   n x { id u64 BE | packed store_kdf | nonce || AEAD_kek(data key || index key),
 *         AD = "skr-wrap-v2" || packed store_kdf || id BE } |
 *   BLAKE2b-128 of everything before it; zeros to the end of the slot.
 * Why not in LMDB: LMDB is copy-on-write, so a rewritten "wrap" stayed in a freed page of
 * data.mdb, and an old passphrase kept opening the current file. The slots are rewritten
 * in place: after a change neither holds the old wraps. Two entries exist only while a
 * rotate runs (old and new data key); "keyid" in LMDB says which one the records use.
 */
#ifndef DAEMON_STORE_KEYS_H
#define DAEMON_STORE_KEYS_H

#include "store_records.h"

/* The content of the key file `keys` (store_ring.c, its layout above). */
#define STORE_RING_MAX     2
#define STORE_RING_COMPACT 1u /* flags: data.mdb may still hold a pre-`keys` wrap in a
                               * freed page: copy it compacted (store_ring_compact) */
typedef struct store_wrapent {
    uint64_t id;
    store_kdf kdf;
    uint8_t wrap[STORE_WRAP_BYTES];
} store_wrapent;
typedef struct store_ring {
    uint64_t gen;       /* 0: no valid slot (a new hub, or no file yet) */
    uint32_t flags;
    unsigned n;
    store_wrapent ent[STORE_RING_MAX];
} store_ring;

/* The hub keys' state (struct store's s->hk). */
typedef struct store_hubkeys {
    int kfd;                /* the key file `keys` */
    store_ring ring;        /* what the key file holds */
    uint64_t keyid;         /* meta "keyid": the data key the records use */
    bool legacy;            /* the wrap is still in LMDB meta (a hub made before `keys`) */
    store_kdf kdf;          /* valid when initialized */
} store_hubkeys;

/* store_keys.c */
/* At open: whether the hub is initialised, its suite, and (a legacy hub) its KDF. */
int store_meta_load(store *s, MDB_txn *txn);
/* Seals data key || index key of keys under kek for entry id (AD binds kdf and id). */
void store_wrap_make(const store_kdf *kdf, const uint8_t *kek, const uint8_t *keys,
                     uint64_t id, store_wrapent *out);
/* Writes meta "keyid" = id in txn. */
int store_put_keyid(store *s, MDB_txn *txn, uint64_t id);
/* A fresh data key id: random, never 0, never the current one. */
uint64_t store_keyid_new(const store *s);

/* store_ring.c: the key file. open reads it (the valid slot with the highest generation;
 * a stale or torn twin is rewritten) and finishes a pending compaction; write replaces its
 * content (next's gen is ignored: one more than the current), slot 0 then slot 1, each
 * synced. The entry LMDB names: NULL when absent. */
int store_ring_open(store *s, char err[STORE_ERRMSG_MAX]);
int store_ring_write(store *s, const store_ring *next);
const store_wrapent *store_ring_find(const store *s, uint64_t id);
void store_ring_close(store *s);
/* Moves a hub made before `keys` there: keys unwrapped from meta "wrap" with kek. */
int store_ring_migrate(store *s, const uint8_t *keys, const uint8_t *kek);
/* Runs the compaction a migration left pending (nothing to do: 0). */
int store_ring_compact_pending(store *s);

/* store_rotate.c: a new data key for every sealed value, in one LMDB txn. old: a key
 * buffer with the data key LMDB names now (store_keys_derive done); the new key is
 * wrapped under kek with kdf. While the txn runs the key file holds both keys; after it,
 * only the new one (or, when it failed, only the old). *records: how many. */
int store_rotate_keys(store *s, const uint8_t *old, const store_kdf *kdf, const uint8_t *kek,
                      uint64_t *records);

/* store_upgrade.c: re-seals a format-1 hub as format 2 in one write txn (unlocked). */
int store_upgrade(store *s);

#endif
