/*
 * daemon/store/store_cache.h - the cache layer: the rec values in memory (store_mirror.c)
 * and the job that builds it after unlock (store_mirror_build.c). The records layer feeds
 * it; nothing below calls it.
 *
 * It includes kv (store_kv.h, whose read txns the build uses) and crypto (store_crypto.h,
 * the look-up hash sizes), nothing above. Its state is store_mirror, which struct store
 * (store_hub.h) embeds as s->mir. Its functions take that state (store_mirror *), and the
 * build's also kv's (store_kv *: its read txns, the hub's error message), never struct
 * store, which its files cannot see (they do not include store_hub.h). The build's ord
 * question (store_mirror_ord_fn) belongs to the records layer and is handed kv's owner.
 * store.h's calls that the cache implements are store_cache_* here, and store_api.c (the
 * top) hands them s->mir and s->kv.
 */
#ifndef DAEMON_STORE_CACHE_H
#define DAEMON_STORE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "request.h"
#include "store.h"
#include "store_crypto.h"
#include "store_kv.h"

/* A record as the cache holds it (its layout is the records layer's, store_records.h):
 * the two numbers of a rec value's clear prefix (seq BE || ver BE, STORE_REC_CLEAR bytes)
 * and a plaintext of at most STORE_REC_PT_MAX bytes, which the mirror seals under a key
 * of its own (store_mirror.c). The limits that size it: */
#define STORE_MAX_PROTOCOL 64
#define STORE_MAX_NAME     256
#define STORE_MAX_BODY     (64u * 1024u)
/* The store holds what the wire carries: the same limits, or a request could pass the
 * decoder and fail here (or the other way round). */
_Static_assert(STORE_MAX_PROTOCOL == PROTO_MAX_PROTOCOL, "store and wire protocol limits");
_Static_assert(STORE_MAX_NAME == PROTO_MAX_NAME, "store and wire name limits");
_Static_assert(STORE_MAX_BODY == PROTO_MAX_BODY, "store and wire body limits");

/* Record plaintext: created(8) modified(8) plen(1) nlen(2) blen(4) protocol name body
 * padding. The largest class is the largest record itself, not the next class above it:
 * a 64 KiB body costs 64 KiB, not 96 (store_pad_class). */
#define STORE_REC_HEAD     23
#define STORE_REC_PT_MAX   (STORE_REC_HEAD + STORE_MAX_PROTOCOL + STORE_MAX_NAME + STORE_MAX_BODY)
#define STORE_REC_CLEAR 16 /* seq BE || ver BE in clear at the start of a rec value */

/* The mirror's build, which unlock starts and store_mirror_step continues in slices
 * (store_mirror_build.c): a pass over ord collects each record's version, then a pass over
 * rec takes the values that carry it. Nothing is held between slices but this. */
#define STORE_MIR_NONE 0 /* no build running (built, failed or locked) */
#define STORE_MIR_ORD  1
#define STORE_MIR_REC  2
/* What the build asks of the layer above for each value of ord (its key k, value v): the
 * seq of the record it belongs to and the version it names, when it authenticates (the
 * records layer's store_ord_version, handed by the caller of start/build). The cache
 * knows no ord format. */
typedef bool (*store_mirror_ord_fn)(store *owner, const MDB_val *k, const MDB_val *v,
                                    uint64_t *seq, uint64_t *ver);
/* What the build hands the layer above for each rec value v (key k) that carries the
 * version ord named: it opens the value and gives its plaintext to store_mirror_fill
 * (the records layer's store_rec_mirror_take). The cache cannot open a value. */
typedef void (*store_mirror_take_fn)(store *owner, const MDB_val *k, const MDB_val *v);
/* The layer above's part in a build, and the suite the mirror seals with (the hub's). */
typedef struct store_mirror_feed {
    store_mirror_ord_fn ord_version;
    store_mirror_take_fn take;
    int suite;
} store_mirror_feed;
typedef struct store_mirror_job {
    int pass;           /* STORE_MIR_* */
    store_mirror_feed feed; /* the passes' questions (above) */
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
    uint8_t *keys;      /* STORE_K_TOTAL, guarded: a random data key made at alloc */
    int suite;          /* STORE_SUITE_*: how entries are sealed under it */
    uint64_t nonces;    /* nonces used under keys: the next entry's is one more */
    size_t used, cap;   /* bytes written / mapped */
    size_t dead;        /* bytes of entries since replaced or dropped */
    uint64_t misses;    /* gets with a protocol that had to read LMDB */
    uint64_t gen;       /* which alloc this is (its key): 0 none; entries sealed ahead
                         * (store_mirror_seal) go only into the mirror that sealed them */
    store_mirror_job job;
} store_mirror;

/* store_mirror.c: see there for why gets may trust it. Built after unlock, in slices
 * (store_mirror_build.c: store_mirror_start, then store_mirror_step; store_mirror_build
 * runs the whole build at once; once built, LMDB's map pages are dropped; best effort:
 * without it gets read LMDB), freed at lock; keys are rec keys Hp || Hn. */
void store_mirror_start(store_mirror *m, store_kv *kv, const store_mirror_feed *feed);
void store_mirror_build(store_mirror *m, store_kv *kv, const store_mirror_feed *feed);
/* Frees everything, the key wiped, and zeroes *m. */
void store_mirror_free(store_mirror *m);
/* An empty mirror sized for entries values in about arena_bytes, with a new key sealing
 * with suite (the old one freed): 0, or SKR_ENOMEM (the build says so in the hub's
 * message). */
int store_mirror_alloc(store_mirror *m, size_t entries, size_t arena_bytes, int suite);
/* store.h's store_mirror_step and store_mirror_building, store_test.h's
 * store_test_mirror_wiped (store_api.c hands them the state). */
bool store_cache_step(store_mirror *m, store_kv *kv, unsigned budget_us, unsigned least_us,
                      bool (*stop)(void *arg), void *arg);
bool store_cache_building(const store_mirror *m);
bool store_cache_wiped(const store_mirror *m);
/* An entry sealed ahead, before its write is durable, and put once it is: what
 * store_mirror_put does in two steps, so that the put's plaintext, at hand when it is
 * written, need not be opened again from LMDB later (store.c). store_mirror_seal writes
 * the entry of key's record (clear, pt of n bytes) into out, which holds
 * STORE_MIRROR_ENTRY_MAX(n) bytes, under the next nonce: its length, or 0 (no mirror, or
 * n too long). store_mirror_put_sealed puts it for key's record seq (its n given again),
 * dropping that record's old entries, as store_mirror_put: only with the generation
 * (m->gen) that sealed it, which the caller checks. */
#define STORE_MIRROR_HEAD_MAX (3u + 3u * 10u) /* LEB128: a length < 2^21, three u64 */
#define STORE_MIRROR_ENTRY_MAX(n) (STORE_MIRROR_HEAD_MAX + (n) + STORE_MAC_BYTES)
size_t store_mirror_seal(store_mirror *m, const uint8_t key[2 * STORE_HASH_BYTES],
                         const uint8_t clear[STORE_REC_CLEAR], const uint8_t *pt, size_t n,
                         uint8_t *out);
void store_mirror_put_sealed(store_mirror *m, const uint8_t key[2 * STORE_HASH_BYTES],
                             uint64_t seq, const uint8_t *entry, size_t bytes, size_t n);
void *store_map_anon(size_t bytes);
void store_unmap_anon(void *p, size_t bytes);
/* The records the mirror may hold for the key, one a call: *pos 0 for the first; false
 * when no more. Only an entry sealed with this key's AD opens (another key of the same
 * tag fails), into pt (cap bytes: STORE_REC_PT_MAX holds any), *n bytes, and its clear
 * prefix into clear (seq BE || ver BE). The caller wipes pt. */
bool store_mirror_next(store_mirror *m, const uint8_t key[2 * STORE_HASH_BYTES], size_t *pos,
                       uint8_t clear[STORE_REC_CLEAR], uint8_t *pt, size_t cap, size_t *n);
/* A get of the key comes soon (store_get_ahead): store_mirror_ahead tells whether the
 * mirror is big enough for its reads to miss the caches; _prefetch_slot starts reading
 * the key's slot into them, _prefetch_entry (once that slot had time to arrive) the
 * entry it points at. Neither waits for memory or changes anything. */
bool store_mirror_ahead(const store_mirror *m);
void store_mirror_prefetch_slot(const store_mirror *m, const uint8_t key[2 * STORE_HASH_BYTES]);
void store_mirror_prefetch_entry(const store_mirror *m, const uint8_t key[2 * STORE_HASH_BYTES]);
/* In each of these, clear is the record's clear prefix and pt its n bytes of plaintext
 * (at most STORE_REC_PT_MAX; the mirror seals a copy, the caller keeps and wipes pt).
 * A durable write: drops the entries of the record (its seq), then takes it. */
void store_mirror_put(store_mirror *m, const uint8_t key[2 * STORE_HASH_BYTES],
                      const uint8_t clear[STORE_REC_CLEAR], const uint8_t *pt, size_t n);
/* Drops every entry of the key's tag (none says whose it is). */
void store_mirror_drop(store_mirror *m, const uint8_t key[2 * STORE_HASH_BYTES]);
/* Drops the entries of the key's tag that hold record seq (its creation number: no other
 * record has it), so that the tag's other keys keep theirs. */
void store_mirror_drop_record(store_mirror *m, const uint8_t key[2 * STORE_HASH_BYTES], uint64_t seq);
/* The build: takes the record unless an entry of the key's tag holds it (the same seq). */
void store_mirror_fill(store_mirror *m, const uint8_t key[2 * STORE_HASH_BYTES],
                       const uint8_t clear[STORE_REC_CLEAR], const uint8_t *pt, size_t n);
/* A get that read LMDB after no entry of the tag opened with its key: takes it beside them. */
void store_mirror_add(store_mirror *m, const uint8_t key[2 * STORE_HASH_BYTES],
                      const uint8_t clear[STORE_REC_CLEAR], const uint8_t *pt, size_t n);

#endif
