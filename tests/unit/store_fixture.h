/*
 * tests/unit/store_fixture.h - what the test_store_*.c binaries share: a fresh hub folder
 * per test, hubs keyed with a fast KDF, record and list helpers, raw LMDB access to a
 * closed hub, and the padding-class check.
 *
 * Every helper asserts (ck_assert) instead of returning an error, so it may only be called
 * inside a Check test. Check forks each test, so the globals below are per test: setup_*
 * fills them, teardown removes the folder. The hub's suite comes from SEKRETS_HUB_SUITE
 * (tests/unit/meson.build runs each binary once per suite).
 */
#ifndef TESTS_UNIT_STORE_FIXTURE_H
#define TESTS_UNIT_STORE_FIXTURE_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store.h"
#include "store_hub.h"
#include "store_test.h"

extern char g_tmp[256];                  /* this test's folder, removed by teardown */
extern char g_hub[300];                  /* g_tmp/a/b/hub: open_hub makes the folders */
extern store_kdf g_kdf;                  /* new_hub's KDF parameters... */
extern uint8_t g_kek[STORE_KEY_BYTES];   /* ...and its key, for reopen/open_unlocked */

/* Fixtures: a fresh folder under /tmp (disk) or /dev/shm (the scale tests). */
void setup_disk(void);
void setup_shm(void);
void teardown(void);

/* A test case with setup and teardown as a checked fixture and a timeout in seconds. */
TCase *fixture_tcase(const char *name, void (*setup)(void), int timeout);
/* Initialises libsodium, runs su (CK_VERBOSITY is honoured), frees it; main's exit code. */
int fixture_run(Suite *su);

/* The hub at g_hub: opened (locked or new), new and keyed with "correct horse", closed and
 * reopened unlocked, or opened and unlocked with g_kek. The store is the caller's. */
void fast_kek(const char *pass, store_kdf *kdf, uint8_t kek[STORE_KEY_BYTES]);
store *open_hub(void);
store *new_hub(void);
store *reopen(store *s);
store *open_unlocked(void);
/* Runs the mirror build that unlock started to its end; returns the steps it took. */
unsigned mirror_finish(store *s);

void post_str(store *s, const char *p, const char *n, const char *body);
/* get p/n (p NULL: by name alone) gives exactly body. */
void expect_body(store *s, const char *p, const char *n, const char *body);

/* A lister that keeps every item (strdup'ed; coll_free frees them and zeroes c). */
typedef struct coll {
    uint64_t begun;
    size_t n, cap;
    char **str;
    uint64_t *count;
} coll;

void coll_free(coll *c);
int list_db(store *s, const char *p, coll *c);   /* empties c first */
int list_hub(store *s, coll *c);                 /* likewise */

/* Raw LMDB access to database db of g_hub, in one write txn (the store must be closed:
 * LMDB forbids two handles on one env in a process). raw_close commits. */
typedef struct raw {
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
} raw;

void raw_open(raw *r, const char *db);
void raw_close(raw *r);
void raw_put(raw *r, const MDB_val *k, const MDB_val *v);

/* Copies of every (key, value) of a database, in key order (at most 64; kv_free frees). */
typedef struct kv {
    size_t n;
    MDB_val k[64], v[64];
} kv;

void raw_dump(raw *r, kv *out);
void kv_free(kv *d);
/* One value, each in its own txn: raw_get's copy in out->mv_data is the caller's to free. */
void raw_get(const char *db, const uint8_t *key, size_t klen, MDB_val *out);
void raw_set(const char *db, const uint8_t *key, size_t klen, const MDB_val *v);

/* The unlocked store's key `which` (store_test_key_masked), and the rec key Hp || Hn. */
void get_key(store *s, int which, uint8_t key[32]);
void rec_key(store *s, const char *p, const char *n, uint8_t key[32]);

/* Every value of rec, ord and protos (store closed) is in its padding classes, and there
 * are `records` records and `protocols` protocols. */
void check_all_classes(int suite, size_t records, size_t protocols);

/* A hub file chmodded to mode is refused naming `named`; put back to 0600 it opens. */
void expect_file_mode_refused(const char *path, mode_t mode, const char *named);
void write_file(const char *path, const void *data, size_t len, mode_t mode);
/* Resident KiB of this process's map of the hub's data.mdb (0 when not mapped). */
long data_map_rss_kb(void);

#endif
