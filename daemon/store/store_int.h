/*
 * daemon/store/store_int.h - what the layers under the hub keys share; not for the daemon.
 *
 * The hub is one LMDB environment with five named databases:
 *
 *   meta    "version" -> u32 BE (STORE_FORMAT_VERSION; a version-1 hub is upgraded at its
 *           first unlock, store_upgrade.c); "suite" -> u8 (STORE_SUITE_*);
 *           "keyid" -> u64 BE, the id of the data key that seals the records (its wrap is
 *           in the file `keys`, below);
 *           "seq" -> u64 BE, the hub-wide write counter: every post and put takes the next
 *           number as the version of what it writes (a new record's first number is also
 *           its creation-order number).
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
 *
 * Beside data.mdb and lock.mdb, the file `journal` holds the group-commit batches written
 * since the last checkpoint (store_journal.c), and the file `keys` the wrapped keys
 * (store_ring.c; its layout is in store_keys.h).
 *
 * This header is what the layers under the hub keys share (kv: store_lmdb.c,
 * store_journal.c, store_ckpt.c, store_trim.c; cache: store_mirror*.c; records: store.c, store_list.c,
 * store_format.c) and struct store, which still holds every layer's state. It includes
 * the crypto layer (store_crypto.h) and nothing above it: daemon/store/README.md.
 */
#ifndef DAEMON_STORE_INT_H
#define DAEMON_STORE_INT_H

#include <lmdb.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>

#include "request.h"
#include "store.h"
#include "store_crypto.h"
#include "sekrets/error.h"

#define STORE_MAX_PROTOCOL 64
#define STORE_MAX_NAME     256
#define STORE_MAX_BODY     (64u * 1024u)
/* The store holds what the wire carries: the same limits, or a request could pass the
 * decoder and fail here (or the other way round). */
_Static_assert(STORE_MAX_PROTOCOL == PROTO_MAX_PROTOCOL, "store and wire protocol limits");
_Static_assert(STORE_MAX_NAME == PROTO_MAX_NAME, "store and wire name limits");
_Static_assert(STORE_MAX_BODY == PROTO_MAX_BODY, "store and wire body limits");
#define STORE_FORMAT_VERSION 2u

/* Record plaintext: created(8) modified(8) plen(1) nlen(2) blen(4) protocol name body
 * padding. The largest class is the largest record itself, not the next class above it:
 * a 64 KiB body costs 64 KiB, not 96 (store_pad_class). */
#define STORE_REC_HEAD     23
#define STORE_REC_PT_MAX   (STORE_REC_HEAD + STORE_MAX_PROTOCOL + STORE_MAX_NAME + STORE_MAX_BODY)
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

/* Internal codes outside the SKR_E* range: LMDB asks for a bigger map or a remap. */
#define STORE_EGROW  1001
#define STORE_EREMAP 1002
/* STORE_ECHECKPOINT (1003, store.h) is the third: a checkpoint commit is running. */

#define STORE_DEFAULT_MAPSIZE ((size_t)64 << 20)
#define STORE_MAX_MAPSIZE     ((size_t)1 << 40)

/* Recently used protocols and their Hp: a get then costs one BLAKE2b instead of two.
 * Hp is a PRF output, not key material; still wiped on lock with the keys. */
#define STORE_PCACHE 64 /* 5 KiB */
typedef struct store_pcache {
    uint8_t len;                        /* 0 = empty */
    char name[STORE_MAX_PROTOCOL];
    uint8_t hp[STORE_HASH_BYTES];
} store_pcache;

/* The mirror's build, which unlock starts and store_mirror_step continues in slices
 * (store_mirror_build.c): a pass over ord collects each record's version, then a pass over
 * rec takes the values that carry it. Nothing is held between slices but this. */
#define STORE_MIR_NONE 0 /* no build running (built, failed or locked) */
#define STORE_MIR_ORD  1
#define STORE_MIR_REC  2
typedef struct store_mirror_job {
    int pass;           /* STORE_MIR_* */
    uint64_t *vers;     /* (seq + 1, ver) pairs, open addressing; 0 = empty */
    size_t vmask, vcount; /* slots - 1 (a power of two); pairs held */
    uint8_t last[2 * STORE_HASH_BYTES]; /* the key the pass stopped at (taken) */
    size_t last_len;    /* 0: the pass starts at its first key */
} store_mirror_job;

/* The rec values in memory (store_mirror.c). nslots 0: none (locked). */
typedef struct store_mirror {
    uint64_t *slots;    /* tag << 32 | arena offset of the entry; 0 = empty */
    size_t nslots, count;
    uint8_t *arena;     /* the entries back to back (store_mirror.c); offset 0 unused */
    uint8_t *vbuf;      /* a get's value rebuilt as LMDB holds it (sealed: not secret) */
    size_t used, cap;   /* bytes written / mapped */
    size_t dead;        /* bytes of entries since replaced or dropped */
    uint64_t misses;    /* gets with a protocol that had to read LMDB */
    store_mirror_job job;
} store_mirror;

/* The content of the key file `keys` (store_ring.c, layout in store_keys.h): here because
 * struct store holds it (a crossing: daemon/store/README.md). */
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

struct store {
    MDB_env *env;
    char *dir;              /* the hub folder */
    int kfd;                /* the key file `keys` */
    store_ring ring;        /* what the key file holds */
    uint64_t keyid;         /* meta "keyid": the data key the records use */
    bool legacy;            /* the wrap is still in LMDB meta (a hub made before `keys`) */
    MDB_dbi meta, rec, ord, names, protos;
    MDB_txn *rtxn;          /* reused read txn: reset between calls, renewed on use */
    MDB_cursor *ncur;       /* names cursor of rtxn, renewed with it (no malloc per get) */
    MDB_txn *ckpt;          /* journaled batches not yet checkpointed, or NULL */
    MDB_txn *batch;         /* s->ckpt while the open batch has written to it, or NULL */
    bool batching;          /* between store_batch_begin and store_batch_commit */
    int batch_err;          /* the batch already failed: its writes are lost */
    bool broken;            /* the journal could not be applied: every call fails */
    bool trim_owed;         /* written since the last store_trim (store_trim.c) */
    int jfd;                /* the journal (store_journal.c), flock'ed while open */
    uint64_t jepoch, jseq;  /* the header's epoch; records written since it */
    uint64_t jend;          /* where the next record goes */
    bool jreset_owed;       /* a journal reset failed: no record until one succeeds */
    uint8_t *jbuf;          /* the open batch's ops: the next record */
    size_t jlen, jcap;
    /* Called by the journal once the open batch is durable (its record written), before
     * its ops are dropped: the records layer feeds the mirror (store_rec_batch_durable,
     * set at open by store_hub.c). kv knows nothing of what it does. */
    void (*batch_durable)(store *s);
    uint64_t ckpt_ops;      /* LMDB puts and deletes since the checkpoint: a bound on the
                             * dirty pages of s->ckpt (recounted when it is rebuilt) */
    /* A checkpoint committed on the store's thread (store_ckpt.c). While ckpt_running
     * the caller's thread makes no mdb_* call at all; ckpt_rc is read after the join. */
    void (*ckpt_notify)(void *arg); /* called from the thread when the commit ends */
    void *ckpt_notify_arg;
    bool ckpt_running;
    pthread_t ckpt_thread;
    MDB_txn *ckpt_txn;      /* the txn the thread commits (s->ckpt is NULL meanwhile) */
    int ckpt_rc;            /* its mdb_txn_commit result */
    atomic_bool ckpt_committed; /* set by the thread once its commit returned */
    uint8_t *sealbuf;       /* a sealed record value on its way to LMDB (not secret) */
    size_t mapsize;
    uint8_t *keys;          /* NULL when locked; STORE_K_TOTAL bytes */
    uint8_t *scratch;       /* STORE_SCRATCH_BYTES, holds the last decrypted record */
    size_t scratch_used;    /* bytes of plaintext to wipe on release */
    bool initialized;
    uint8_t suite;          /* STORE_SUITE_*: how records and look-up keys are made */
    uint8_t format;         /* meta "version": 1 until store_upgrade ran */
    store_kdf kdf;          /* valid when initialized */
    store_pcache pcache[STORE_PCACHE];
    store_mirror mir;
    char errmsg[STORE_ERRMSG_MAX];
};

/* store_lmdb.c */
int store_mdb_err(store *s, int rc, const char *what);
int store_remap(store *s, size_t new_size);
int store_read_begin(store *s, MDB_txn **txn);
void store_read_end(store *s);
typedef int (*store_txn_fn)(store *s, MDB_txn *txn, void *ctx);
/* A record write joins an open batch; any other write refuses one (SKR_EBUSY). */
int store_write(store *s, store_txn_fn fn, void *ctx);
int store_write_rec_txn(store *s, store_txn_fn fn, void *ctx);
int store_check_file(store *s);
int store_errf(store *s, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The AD of a value (store_crypto.h) whose key is an LMDB key. */
static inline size_t store_ad(uint8_t ad[STORE_AD_MAX], const char *label, const MDB_val *key,
                              const uint8_t *clear, size_t clear_len)
{
    return store_ad_build(ad, label, key->mv_data, key->mv_size, clear, clear_len);
}
#define STORE_REC_CLEAR 16 /* seq BE || ver BE in clear at the start of a rec value */
#define STORE_ORD_CLEAR 8  /* ver BE in clear at the start of an ord value */
#define STORE_ORD_SEALED_MAX   (STORE_ORD_CLEAR + STORE_SEAL_OVERHEAD + STORE_ORD_PT_MAX)
#define STORE_PROTO_SEALED_MAX (STORE_SEAL_OVERHEAD + STORE_PROTO_PT_MAX)

/* store_journal.c. Record writes go through store_db_put/del: inside a batch each op is
 * also added to the batch's journal record. They return LMDB codes (or SKR_E* < 0). */
int store_db_put(store *s, MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v, unsigned flags);
int store_db_del(store *s, MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v);
int store_journal_lock(store *s, const char *dir, char err[STORE_ERRMSG_MAX]);
int store_journal_open(store *s, char err[STORE_ERRMSG_MAX]);
int store_journal_truncate(store *s);
int store_journal_sync(store *s);
int store_journal_reload(store *s);
int store_journal_apply_batch(store *s);
bool store_checkpoint_due(store *s);
/* After the commit of the checkpoint txn returned rc (the txn is gone either way), on the
 * caller's thread: the journal reset, or the txn rebuilt from the journal (a full map:
 * grown, and the checkpoint run again here, synchronously). */
int store_checkpoint_settle(store *s, int rc);
/* store_ckpt.c: true when async checkpoints are on (a notify function is set) */
bool store_checkpoint_async_on(const store *s);
void store_journal_close(store *s);
/* One op of the open batch as the journal logged it: k and v point into the batch's
 * buffer, valid until the batch's next write. */
typedef struct store_jop {
    bool put;           /* else a delete (v: the value deleted, if one was named) */
    MDB_dbi dbi;
    MDB_val k, v;
} store_jop;
/* The open batch's ops in order, one a call: *pos 0 for the first; false when no more. */
bool store_journal_next(const store *s, size_t *pos, store_jop *op);
/* Checkpoint once the journal holds this much, or once the open txn may hold this many
 * dirty pages (each op dirties at most about one page; a small hub has fewer pages than
 * that in all). The dirty pages are heap memory that LMDB keeps for reuse: this bounds
 * the daemon's memory to 128 MiB on a big hub under a burst of writes (45 MiB measured
 * after 300k puts). A smaller bound costs more than it saves: at 8192 pages, 300k puts
 * took 11.4 s instead of 7.7 s, and a reader beside them got 127 gets/s, not 3.7k. */
#define STORE_JOURNAL_CKPT_BYTES ((uint64_t)4 << 20)
#define STORE_CKPT_MAX_PAGES     32768u

/* store_mirror.c: see there for why gets may trust it. Built after unlock, in slices
 * (store_mirror_build.c: store_mirror_start, then store_mirror_step; store_mirror_build
 * runs the whole build at once; once built, LMDB's map pages are dropped; best effort:
 * without it gets read LMDB), freed at lock; keys are rec keys Hp || Hn. */
void store_mirror_start(store *s);
void store_mirror_build(store *s);
void store_mirror_free(store *s);
/* An empty mirror sized for entries values in about arena_bytes (the old one freed). */
int store_mirror_alloc(store *s, size_t entries, size_t arena_bytes);
void *store_map_anon(size_t bytes);
void store_unmap_anon(void *p, size_t bytes);
/* The values that may be the key's, one a call: *pos 0 for the first; false when no more.
 * v points into the mirror until its next call (a value of another key of the same tag
 * fails to open with this key's AD). */
bool store_mirror_next(store *s, const uint8_t key[2 * STORE_HASH_BYTES], size_t *pos,
                       MDB_val *v);
/* A durable write: drops the entries of val's record (its seq), then takes val. */
void store_mirror_put(store *s, const uint8_t key[2 * STORE_HASH_BYTES], const uint8_t *val,
                      size_t len);
/* Drops every entry of the key's tag (none says whose it is). */
void store_mirror_drop(store *s, const uint8_t key[2 * STORE_HASH_BYTES]);
/* Drops the entries of the key's tag that hold record seq (its creation number: no other
 * record has it), so that the tag's other keys keep theirs. */
void store_mirror_drop_record(store *s, const uint8_t key[2 * STORE_HASH_BYTES], uint64_t seq);
/* An entry of the key's tag is v byte for byte. When v also opens with the key's AD, it is
 * the record's latest version (the mirror holds no other): the ord check may be spared. */
bool store_mirror_holds(store *s, const uint8_t key[2 * STORE_HASH_BYTES], const MDB_val *v);
/* The build: takes v unless an entry of the key's tag holds its record (the same seq). */
void store_mirror_fill(store *s, const uint8_t key[2 * STORE_HASH_BYTES], const MDB_val *v);
/* A get that read LMDB after no entry of the tag opened with its key: takes v beside them. */
void store_mirror_add(store *s, const uint8_t key[2 * STORE_HASH_BYTES], const MDB_val *v);

/* store_lmdb.c: true when the open file has no name left (deleted under the daemon). */
bool store_fd_unlinked(int fd);
/* store_lmdb.c: the environment. open makes or opens the five databases and runs fn (may
 * be NULL) in the same write txn: what the layers above load from meta (store_hub.c);
 * reopen closes and opens it again (the data file was replaced or is trimmed) and runs no
 * fn: what was loaded stays. */
int store_env_open(store *s, store_txn_fn fn, void *ctx);
void store_env_close(store *s);
int store_env_reopen(store *s);
/* store_lmdb.c: drops an open batch (at close: nothing of it was acknowledged). */
void store_batch_abort(store *s);

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
/* The open batch is durable (s->batch_durable): its rec puts go into the mirror, its rec
 * deletes out of it. */
void store_rec_batch_durable(store *s);
void store_proto_hash(store *s, const char *protocol, size_t plen,
                      uint8_t hp[STORE_HASH_BYTES]);


#endif
