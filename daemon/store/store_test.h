/*
 * daemon/store/store_test.h - hooks for tests/unit/test_store_*.c and bench/bench_store.c.
 * The daemon never calls these.
 */
#ifndef DAEMON_STORE_TEST_H
#define DAEMON_STORE_TEST_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* Initial LMDB map size for the next store_open (0 = the default, 64 MiB). A small one
 * makes the tests exercise map growth. */
void store_test_set_mapsize(size_t bytes);
/* The store's current map size. */
size_t store_test_mapsize(const store *s);

/* Clock for created/modified (0 = the real clock). */
void store_test_set_now(int64_t t);

/* Writes key XOR mask into out, so that the caller never holds the key itself (a test
 * that scans memory for the key must not find its own copy). which: 0 = data key,
 * 1 = index key. SKR_ELOCKED when locked. */
int store_test_key_masked(const store *s, int which, const uint8_t mask[32], uint8_t out[32]);

/* The dirty-page bound that makes a batch commit checkpoint (0 = the default, STORE_CKPT_MAX_PAGES). */
void store_test_set_ckpt_pages(uint64_t pages);

/* The checkpoint thread sleeps this long before its commit (0 = not at all): a slow
 * disk, so that a test can act while the commit runs (store_ckpt.c). */
void store_test_set_ckpt_delay(unsigned ms);

/* Journal write faults, one character of plan per journal write from now on (until its
 * end): 'o' works, 'l' lands on disk but reports EIO (as a failed O_DSYNC flush may),
 * 'f' fails with EIO, nothing written; 's' and 'F' are 'o' and 'f' on a slow disk (200
 * ms first), so that a test can queue records behind one in flight. NULL or "" = no
 * faults. The string must outlive its use. */
void store_test_journal_faults(const char *plan);

/* The hub's format (meta "version": 1 until the first unlock upgrades it). */
int store_test_format(const store *s);

/* The hub's cipher suite (STORE_SUITE_* in store_crypto.h). */
int store_test_suite(const store *s);

/* The record mirror (store_mirror.c): how many values it holds; a mask on its 32-bit tags
 * (UINT32_MAX = the default; a narrow one makes keys share entries, as a tag collision
 * would). */
size_t store_test_mirror_count(const store *s);
/* Gets with a protocol that the mirror could not answer (they read LMDB), since unlock. */
uint64_t store_test_mirror_misses(const store *s);
/* Mirror entries a batch's walk took as sealed at the put, instead of opening the value. */
uint64_t store_test_stage_taken(const store *s);
void store_test_set_mirror_tag_mask(uint32_t mask);
/* The mirror's size from which store_get_ahead prefetches (default 2 MiB; 0: always),
 * and how many announcements wait for their get. */
void store_test_set_mirror_ahead_min(size_t bytes);
unsigned store_test_ahead_live(const store *s);
/* The protocol cache (store.c, store_proto_hash): the set a protocol lands in, and how
 * many protocols were hashed because they were not cached, since the store was opened. */
unsigned store_test_pcache_set(const char *protocol);
uint64_t store_test_pcache_misses(const store *s);
/* Every byte of the mirror and its build state is zero (after lock). */
bool store_test_mirror_wiped(const store *s);

/* Crash simulation: the process _exits with STORE_TEST_CRASH_EXIT at that point of a key
 * change (0 = never), leaving the files as a power cut there would. */
#define STORE_TEST_CRASH_EXIT 77
enum {
    STORE_CRASH_RING_HALF = 1,    /* a key file write: slot 0 synced, slot 1 not written */
    STORE_CRASH_ROTATE_RING,      /* rotate: both keys in the key file, records not resealed */
    STORE_CRASH_ROTATE_TXN,       /* rotate: records resealed, the old key still in the file */
    STORE_CRASH_MIGRATE_RING,     /* migration: key file written, LMDB still holds the wrap */
    STORE_CRASH_MIGRATE_TXN,      /* migration: the wrap deleted, data.mdb not compacted */
    STORE_CRASH_COMPACT_COPIED,   /* compaction: the copy synced, not yet renamed */
    STORE_CRASH_CKPT_RUNNING,     /* async checkpoint: on its thread, before the commit */
    STORE_CRASH_CKPT_COMMITTED,   /* async checkpoint: committed, the journal not reset */
};
void store_test_crash_at(int point);
/* Called by the store (any layer) at each point: _exit there when the test asked for it
 * (defined in store_ring.c). */
void store_crash_point(int point);

/* The wrap of the data key the records use, as stored now (the key file, or LMDB meta on
 * a hub made before it). SKR_ELOCKED when not initialised. */
#define STORE_TEST_WRAP_BYTES 104
int store_test_wrap(store *s, uint8_t out[STORE_TEST_WRAP_BYTES]);

/* Initialises s the way hubs were before the key file: kdf and wrap in LMDB meta. Leaves
 * it unlocked. */
int store_test_init_legacy(store *s, const store_kdf *kdf, const uint8_t kek[32]);

#endif
