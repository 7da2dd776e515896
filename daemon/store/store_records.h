/*
 * daemon/store/store_records.h - the records layer: get, post, put, delete (store.c),
 * list and stats (store_list.c), the formats of the values and the version check
 * (store_format.c). It seals through crypto, writes through kv, and feeds the cache.
 *
 * It includes the layers below (store_cache.h, store_kv.h, store_crypto.h), nothing
 * above. Its state is store_records, which struct store (store_hub.h) embeds as s->recs.
 * Its functions take the whole store *: a record is sealed with the key in its state
 * (s->recs.keys, s->recs.suite: set by the keys layer above at init and unlock, cleared
 * at lock) and written through kv.
 *
 * The hub is one LMDB environment with five named databases:
 *
 *   meta    "version" -> u32 BE (STORE_FORMAT_VERSION; a version-1 hub is upgraded at its
 *           first unlock, store_upgrade.c); "suite" -> u8 (STORE_SUITE_*);
 *           "keyid" -> u64 BE, the id of the data key that seals the records (its wrap is
 *           in the file `keys`, below);
 *           "seq" -> u64 BE, the hub-wide write counter: every post and put takes the next
 *           number as the version of what it writes (a new record's first number is also
 *           its creation-order number). Inside a batch it is a held put, written once as
 *           the batch's journal record is sealed (store_kv_put_held).
 *           Hubs made before the file `keys` held "kdf" -> packed store_kdf and "wrap" ->
 *           nonce || AEAD_kek(data key || index key), AD = "skr-wrap-v1" || kdf, and no
 *           "keyid": the first unlock or passwd moves them to `keys` (store_ring.c).
 *   rec     Hp || Hn -> seq BE || ver BE || nonce || AEAD_data(created, modified, plen, nlen,
 *           blen, protocol, name, body, zero padding), AD = "skr-rec-v2" || Hp || Hn || seq
 *           BE || ver BE. seq stays in clear (authenticated by the AD) so that a corrupt
 *           record can still be deleted: the delete needs seq to find its `ord` entry.
 *   ord     Hp || seq BE -> ver BE || nonce || AEAD_data(nlen, name, zero padding),
 *           AD = "skr-ord-v2" || key || ver BE. A protocol's names in creation order without
 *           decrypting any body; rewritten with the record on every write, so it names the
 *           record's current version: a get checks that the rec value carries it (a value
 *           put back from an earlier write of the same record does not: integrity).
 *   names   Hn -> Hp, MDB_DUPSORT|MDB_DUPFIXED: get without a protocol.
 *   protos  Hp -> nonce || AEAD_data(count BE, plen, protocol, zero padding),
 *           AD = "skr-proto-v2" || Hp.
 *
 * Every sealed plaintext is padded with zeros to its size class (store_pad_class): the
 * file shows lengths by class only. The lengths inside are authenticated, and the padding
 * must be zeros of exactly the class's length, so it carries nothing.
 *
 * Hp = BLAKE2b-128(protocol; key = index key, personal "skr-proto"), Hn likewise with
 * "skr-name". Records of a protocol are contiguous in `rec` and `ord`.
 */
#ifndef DAEMON_STORE_RECORDS_H
#define DAEMON_STORE_RECORDS_H

#include <lmdb.h>
#include <sodium.h>

#include "store.h"
#include "store_cache.h"
#include "store_crypto.h"
#include "store_kv.h"
#include "sekrets/error.h"

#define STORE_FORMAT_VERSION 2u

/* ord plaintext: nlen(2) name padding; protos plaintext: count(8) plen(1) protocol padding.
 * Their classes stop at these powers of two. */
#define STORE_ORD_PT_MAX   512
#define STORE_PROTO_PT_MAX 128
/* The smallest class: 128 bytes for a record, so that the common small credential (a
 * body under about 80 bytes with its names) sits in one class; 64 for ord and protos. */
#define STORE_REC_PAD_MIN  128
#define STORE_PAD_MIN      64
_Static_assert(2 + STORE_MAX_NAME <= STORE_ORD_PT_MAX &&
               9 + STORE_MAX_PROTOCOL <= STORE_PROTO_PT_MAX,
               "ord and protos plaintexts fit their top class");
/* The scratch: a record plaintext, then protocol NUL name NUL for store_record. */
#define STORE_STR_AREA     (STORE_MAX_PROTOCOL + 1 + STORE_MAX_NAME + 1)
#define STORE_SCRATCH_BYTES (STORE_REC_PT_MAX + STORE_STR_AREA)

/* Recently used protocols and their Hp: a get then hashes its name only. Sets of two
 * ways, the one used less recently evicted: with 64 direct-mapped slots, the 100
 * protocols of bench/run.sh missed on 36% of gets (callgrind, 1k hub), each miss a
 * SipHash (about 250 instructions of a get's 3,600). Hp is a PRF output, not key
 * material; still wiped on lock with the keys. */
#define STORE_PCACHE_SETS 256 /* 512 protocols, 41 KiB */
typedef struct store_pcache {
    uint8_t len;                        /* 0 = empty */
    char name[STORE_MAX_PROTOCOL];
    uint8_t hp[STORE_HASH_BYTES];
} store_pcache;

/* Gets announced by store_get_ahead, newest last: each name's Hn, so that its get does
 * not hash the name again, and its Hp || Hn for the mirror's prefetch. Found by the
 * name's bytes, never by where they are. Not key material; wiped on lock with pcache. */
#define STORE_AHEAD 4
typedef struct store_ahead {
    uint16_t nlen;                      /* 0 = empty */
    char name[STORE_MAX_NAME];
    uint8_t key[2 * STORE_HASH_BYTES];  /* Hp || Hn */
} store_ahead;

/* The open batch's rec puts, each sealed for the mirror while its plaintext was at hand
 * (store_rec_write), taken by store_rec_batch_durable instead of opening the value from
 * LMDB again. Each is found by its key and its LMDB value's clear numbers and tag, which
 * no other seal gives, so one left by a write that failed or was done again is never
 * taken for another. Not secret: ciphertext under the mirror's key, and keyed hashes. */
#define STORE_STAGE_MAX ((size_t)4 << 20) /* a bigger batch's other puts are opened again */
typedef struct store_stage {
    uint8_t *buf;       /* store_staged heads, each followed by its entry */
    size_t used, cap;
    size_t next;        /* where the durable walk looks first */
    uint64_t gen;       /* the mirror's (store_mirror.gen) that sealed them */
    uint64_t taken;     /* entries that went into the mirror (store_test_stage_taken) */
} store_stage;

/* The records layer's state (struct store's s->recs). */
typedef struct store_records {
    uint8_t *sealbuf;       /* a sealed record value on its way to LMDB (not secret) */
    uint8_t *scratch;       /* STORE_SCRATCH_BYTES, holds the last decrypted record */
    uint8_t *mirbuf;        /* STORE_REC_PT_MAX, guarded: a record on its way to the mirror */
    size_t scratch_used;    /* bytes of plaintext to wipe on release */
    uint8_t format;         /* meta "version": 1 until store_upgrade ran */
    /* What the records seal with, which the keys layer sets (store_keys.c): */
    uint8_t *keys;          /* NULL when locked; STORE_K_TOTAL bytes, guarded memory */
    uint8_t suite;          /* STORE_SUITE_*: how records and look-up keys are made */
    bool initialized;       /* the hub has keys: a locked get says "hub locked" */
    store_pcache pcache[STORE_PCACHE_SETS][2];
    uint8_t pcache_last[STORE_PCACHE_SETS]; /* the way of each set used last */
    uint64_t pcache_misses; /* protocols hashed (store_test_pcache_misses) */
    store_ahead ahead[STORE_AHEAD];
    unsigned ahead_next;    /* the ring's slot the next announcement takes */
    unsigned ahead_live;    /* entries not yet taken by their get */
    store_stage stage;
} store_records;

/* The AD of a value (store_crypto.h) whose key is an LMDB key. */
static inline size_t store_ad(uint8_t ad[STORE_AD_MAX], const char *label, const MDB_val *key,
                              const uint8_t *clear, size_t clear_len)
{
    return store_ad_build(ad, label, key->mv_data, key->mv_size, clear, clear_len);
}
#define STORE_ORD_CLEAR 8  /* ver BE in clear at the start of an ord value */
#define STORE_ORD_SEALED_MAX   (STORE_ORD_CLEAR + STORE_SEAL_OVERHEAD + STORE_ORD_PT_MAX)
#define STORE_PROTO_SEALED_MAX (STORE_SEAL_OVERHEAD + STORE_PROTO_PT_MAX)

/* store_format.c: the ord and protos values, the version check. The open functions
 * return SKR_EINTEGRITY (errmsg set) for a value that fails authentication or whose
 * padding or lengths are wrong. */
size_t store_ord_seal(store *s, const MDB_val *k, const uint8_t ver[8], const char *name,
                      size_t nlen, uint8_t out[STORE_ORD_SEALED_MAX]);
int store_ord_open(store *s, const MDB_val *k, const MDB_val *v, uint8_t name[STORE_MAX_NAME],
                   size_t *nlen);
size_t store_proto_seal(store *s, const MDB_val *k, uint64_t count, const char *protocol,
                        size_t plen, uint8_t out[STORE_PROTO_SEALED_MAX]);
int store_proto_open(store *s, const MDB_val *k, const MDB_val *v, uint64_t *count,
                     uint8_t protocol[STORE_MAX_PROTOCOL], size_t *plen);
/* The cache's question about ord entry (k, v) while it builds (store_mirror_ord_fn):
 * true, with its record's seq and the version it names, when it authenticates. */
bool store_ord_version(store *s, const MDB_val *k, const MDB_val *v, uint64_t *seq,
                       uint64_t *ver);
/* rec value v (of rec key k) is the record's current version: its ord entry authenticates
 * and names the version v carries. */
int store_rec_current(store *s, MDB_txn *txn, const MDB_val *k, const MDB_val *v);

int store_cursor_replace(store *s, MDB_cursor *c, const MDB_val *k, MDB_val *v,
                         const char *what);

/* store_format.c. At open: reads meta "version" (a new hub gets the current one); after
 * the journal's replay, store_format_settle marks a format-1 hub without records format
 * 2. A format-1 hub with records is sealed again at unlock (store_upgrade, store_keys.h). */
int store_format_load(store *s, MDB_txn *txn);
int store_format_settle(store *s);

/* store.c */
int64_t store_now(void);
/* A batch's ops are final (s->kv.batch_durable: its record is durable, or being written
 * on the journal's thread): its rec puts go into the mirror, its rec deletes out of it. */
void store_rec_batch_durable(store *s);
/* That batch was lost after all (s->kv.batch_lost): its rec keys' entries go again. */
void store_rec_batch_lost(store *s);
/* A batch begins: nothing staged for the mirror is left from an earlier one (dropped
 * without its walk, or written without a batch). store_rec_stage_free at lock and close. */
void store_rec_stage_reset(store *s);
void store_rec_stage_free(store *s);
/* The mirror's build over the hub's records (store_mirror_start, store_mirror_build,
 * with the records layer's part: ord versions, each value opened for the mirror). */
void store_rec_mirror_start(store *s);
void store_rec_mirror_build(store *s);
void store_proto_hash(store *s, const char *protocol, size_t plen,
                      uint8_t hp[STORE_HASH_BYTES]);

#endif
