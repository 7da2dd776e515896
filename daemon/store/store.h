/*
 * daemon/store/store.h - the encrypted hub: one LMDB environment, envelope-encrypted
 * records.
 *
 * Layout and crypto (see README "The hub at rest"):
 *  - A random 256-bit data key seals every record with the hub's cipher suite, chosen at
 *    init (store_crypto.h): AES-256-GCM where the CPU has AES-NI, else XChaCha20-Poly1305;
 *    random nonce per write, associated data binding the value to its slot and version.
 *    A random 256-bit index key makes the look-up keys: keyed hashes of protocol and
 *    name (SipHash-2-4-128 with AES-GCM, BLAKE2b-128 with XChaCha), so the file shows no
 *    name. Sealed values are padded to size classes. Both keys are stored only wrapped
 *    by a key-encryption key (KEK) derived from a passphrase (Argon2id) or a keyfile
 *    (BLAKE2b of its content), in the hub's file `keys` beside data.mdb (store_ring.c),
 *    which a key change overwrites in place.
 *  - Every write is one LMDB transaction, synced before the call returns, unless the
 *    caller opened a group-commit batch: then the batch is one synced journal record
 *    (see store_batch_begin at the end).
 *  - While unlocked, the store keeps every sealed record value in memory as well
 *    (store_mirror.c): a get with a protocol reads LMDB only when that copy is missing or
 *    does not open; one without a protocol reads the names index there, then the copy.
 *    It is built after unlock (store_mirror_step), taking only values whose version
 *    their `ord` entry names.
 *
 * Threads: a store is used from one thread at a time. The store_kdf_* and store_keyfile_*
 * functions touch no store and may run on a worker thread (the daemon runs Argon2id off
 * its event loop that way). The store's own thread runs only a checkpoint's LMDB commit
 * (store_checkpoint_async, below).
 *
 * Returns: 0 or a negative SKR_E* code (sekrets/error.h). Out-parameters are written only
 * on success. store_errmsg() gives a one-line detail for the last failure (never secret).
 */
#ifndef DAEMON_STORE_H
#define DAEMON_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_KEY_BYTES   32
#define STORE_SALT_BYTES  16
#define STORE_ERRMSG_MAX  256

typedef struct store store;

typedef enum store_kdf_kind {
    STORE_KDF_ARGON2ID = 1, /* secret = passphrase */
    STORE_KDF_KEYFILE = 2,  /* secret = keyfile content */
} store_kdf_kind;

/* How the KEK is derived; stored in the hub in clear (it is not secret). */
typedef struct store_kdf {
    store_kdf_kind kind;
    uint8_t salt[STORE_SALT_BYTES];
    uint64_t opslimit;  /* Argon2id only */
    uint64_t memlimit;  /* Argon2id only, bytes */
} store_kdf;

/* Keyfile sizes. A new hub takes at most what a passphrase may be on the wire
 * (PROTO_MAX_PASSPHRASE, checked in daemon/unlock.c): a locked keyfile hub unlocks with the
 * file's bytes sent as the passphrase. Hubs made before that cap (up to 64 KiB) still open. */
#define STORE_KEYFILE_MIN     32
#define STORE_KEYFILE_NEW_MAX 4096u
#define STORE_KEYFILE_MAX     (64u * 1024u)

/* Default Argon2id limits: libsodium's MODERATE. */
#define STORE_OPSLIMIT_DEFAULT 3ULL
#define STORE_MEMLIMIT_DEFAULT (256ULL * 1024 * 1024)

/* ---- KEK derivation: no store involved, thread-safe ---- */

/* Fills *kdf with `kind`, a fresh random salt and the given limits (ignored for keyfiles;
 * 0 = default). SKR_EINVAL for limits outside libsodium's range. */
int store_kdf_new(store_kdf *kdf, store_kdf_kind kind, uint64_t opslimit, uint64_t memlimit);

/* Derives the KEK from a passphrase or keyfile content into kek (caller's guarded memory).
 * SKR_ENOMEM when Argon2id cannot get its memory, SKR_EINVAL for a keyfile under 32 bytes. */
int store_kdf_derive(const store_kdf *kdf, const uint8_t *secret, size_t len,
                     uint8_t kek[STORE_KEY_BYTES]);

/*
 * Reads a keyfile: a regular file of 32 bytes to 64 KiB (a new hub: 4096) owned by this uid
 * and readable by nobody else. *content is sodium_malloc'ed: free it with
 * store_secret_free(*content, *len). SKR_EDENIED (mode/owner), SKR_EINVAL (size/type),
 * SKR_ENOT_FOUND; err gets a one-line reason naming the file.
 */
int store_keyfile_read(const char *path, uint8_t **content, size_t *len,
                       char err[STORE_ERRMSG_MAX]);
void store_secret_free(uint8_t *p, size_t len);

/* ---- Opening ---- */

/*
 * Opens the hub in folder `dir`, creating it (0700, parents too) and its files (0600) when
 * absent. Refuses a folder owned by another user or open to group/others, or a path that
 * is not a folder (SKR_EDENIED),
 * with the reason in err, and a hub that another process has open (SKR_EBUSY). Replays
 * the journal of a process that died. The hub starts locked (or uninitialised).
 */
int store_open(const char *dir, store **out, char err[STORE_ERRMSG_MAX]);
/* Checkpoints, locks (wiping every key) and closes. NULL is fine. */
void store_close(store *s);

/* The default hub folder: $SEKRETS_HUB, else $XDG_DATA_HOME/sekrets/hub, else
 * $HOME/.local/share/sekrets/hub. Writes into buf; SKR_EINVAL when nothing fits. */
int store_default_dir(char *buf, size_t cap);

const char *store_errmsg(const store *s);

/* ---- Keys and state ---- */

bool store_is_initialized(const store *s);
bool store_is_unlocked(const store *s);

/* The cipher suite that seals the records ("aes-256-gcm", "xchacha20-poly1305"); "none"
 * before init. A static string. */
const char *store_suite_name(const store *s);

/* The hub's KDF parameters. SKR_ELOCKED when the hub is not initialised. */
int store_get_kdf(store *s, store_kdf *out);

/* Initialises a new hub: new random data and index keys wrapped under kek; leaves it
 * unlocked. SKR_EEXISTS when already initialised. */
int store_init(store *s, const store_kdf *kdf, const uint8_t kek[STORE_KEY_BYTES]);

/* Unwraps the keys with kek (the AEAD tag is the constant-time check), then starts the
 * build of the in-memory copy of the records (store_mirror_step). SKR_EBAD_PASSPHRASE when kek is wrong; SKR_ELOCKED when
 * not initialised. */
int store_unlock(store *s, const uint8_t kek[STORE_KEY_BYTES]);

/* The in-memory copy of the records (store_mirror.c) is built after unlock returns, in
 * steps the caller runs between other calls: store_mirror_step works for about budget_us
 * microseconds and returns true while more is left. Until it is built a get reads LMDB
 * for what the copy lacks, with the same checks (a rolled-back record fails the same);
 * writes meanwhile are seen by every later get. A step while a batch is open does
 * nothing (true); lock stops the build and wipes it. store_mirror_building: one is owed. */
bool store_mirror_step(store *s, unsigned budget_us);
/* The same, and once the step has run least_us it also ends as soon as stop(arg) returns
 * true, which it asks every few dozen entries (after the first few dozen: a step always
 * advances). The daemon's loop ends a step once a request or a finished write waits. */
bool store_mirror_step_until(store *s, unsigned budget_us, unsigned least_us,
                             bool (*stop)(void *arg), void *arg);
bool store_mirror_building(const store *s);

/* Wipes and frees every key. Idempotent. */
void store_lock(store *s);

/* Re-wraps the keys under new_kek/new_kdf after checking old_kek (SKR_EBAD_PASSPHRASE).
 * Touches no record: same cost whatever the hub's size. Works locked or unlocked. */
int store_rewrap(store *s, const uint8_t old_kek[STORE_KEY_BYTES], const store_kdf *new_kdf,
                 const uint8_t new_kek[STORE_KEY_BYTES]);

/* passwd: after checking old_kek (SKR_EBAD_PASSPHRASE), the keys are wrapped under
 * new_kek/new_kdf and the key file's old wrap is overwritten (no hub file holds it
 * afterwards); without rotate it touches no record (same cost whatever the hub's size).
 * rotate: the data key is replaced too, as store_rotate does (*records, may be NULL, gets
 * how many records); a crash leaves the old passphrase with the old data key, or the new
 * with the new. Works locked or unlocked. store_rewrap is store_passwd without rotate. */
int store_passwd(store *s, const uint8_t old_kek[STORE_KEY_BYTES], const store_kdf *new_kdf,
                 const uint8_t new_kek[STORE_KEY_BYTES], bool rotate, uint64_t *records);

/* Re-encrypts every record under a new data key in one write transaction. *records gets
 * how many. SKR_ELOCKED when locked. */
int store_rotate(store *s, uint64_t *records);

/* ---- Records (all need the hub unlocked: SKR_ELOCKED otherwise) ---- */

typedef struct store_record {
    const char *protocol;   /* NUL-terminated */
    size_t protocol_len;
    const char *name;       /* NUL-terminated */
    size_t name_len;
    const uint8_t *body;    /* one packed MessagePack object */
    size_t body_len;
    int64_t created;        /* unix seconds */
    int64_t modified;
} store_record;

/*
 * Finds a credential. protocol NULL: searches every protocol (SKR_EAMBIGUOUS when the name
 * is in more than one). SKR_ENOT_FOUND, SKR_EINTEGRITY (that record failed authentication).
 * The record's pointers are into the store's scratch memory: valid until the next call on
 * the store; call store_release() as soon as they are no longer needed to wipe them.
 */
int store_get(store *s, const char *protocol, const char *name, store_record *out);
void store_release(store *s);
/*
 * A hint, answering nothing: store_get(s, protocol, name) comes soon, after a get or two
 * (the daemon announces the frames it has read and not served yet). On a hub too big for
 * the caches it starts reading that record's place in memory, and keeps the name's hash
 * for its get (the last STORE_AHEAD announced, found by the name's bytes). It does
 * nothing for a small hub, a locked one, a NULL protocol or a bad name.
 */
void store_get_ahead(store *s, const char *protocol, const char *name);

/*
 * Listing: `begin` is called once with the number of items, then `item` once per item.
 * A callback returning non-zero stops the listing and that value is returned.
 * store_get_db: the names of a protocol in creation order (SKR_ENOT_FOUND: no such protocol).
 * store_get_hub: every protocol with its count, sorted by name bytewise.
 */
typedef struct store_lister {
    int (*begin)(void *ctx, uint64_t count);
    int (*item)(void *ctx, const char *str, size_t len, uint64_t count);
    void *ctx;
} store_lister;
int store_get_db(store *s, const char *protocol, const store_lister *l);
int store_get_hub(store *s, const store_lister *l);

/* Counts, available locked or unlocked (they are not secret). */
int store_stats(store *s, uint64_t *protocols, uint64_t *credentials);

/* post: SKR_EEXISTS when the name is already in that protocol. put: *created tells whether
 * it was new (a replace keeps `created` and the creation-order place). delete: *deleted
 * false when there was none; the protocol disappears with its last name. body is one packed
 * MessagePack object of at most 64 KiB. Each call is one synced transaction. */
int store_post(store *s, const char *protocol, const char *name, const uint8_t *body,
               size_t body_len);
int store_put(store *s, const char *protocol, const char *name, const uint8_t *body,
              size_t body_len, bool *created);
/* The same, with the record's times given (unix seconds, 0..STORE_TIME_MAX, else
 * SKR_EINVAL) or STORE_TIME_NOW for either: a new record then gets now, a replace keeps
 * its created and gets modified now. For import, which keeps the dates of the file. */
#define STORE_TIME_NOW INT64_MIN
#define STORE_TIME_MAX INT64_C(253402300799) /* 9999-12-31T23:59:59Z */
int store_post_at(store *s, const char *protocol, const char *name, const uint8_t *body,
                  size_t body_len, int64_t t_created, int64_t t_modified);
int store_put_at(store *s, const char *protocol, const char *name, const uint8_t *body,
                 size_t body_len, bool *created, int64_t t_created, int64_t t_modified);
int store_delete(store *s, const char *protocol, const char *name, bool *deleted);

/*
 * Group commit (optional; without it every write is its own synced LMDB transaction).
 * store_batch_begin: until store_batch_commit, post/put/delete write into one open
 * transaction (each atomic: a failed write leaves no trace; the others stay) and return
 * before anything is durable. Reads made meanwhile see the batch's writes, so the caller
 * holds every reply given while the batch is open until store_batch_commit returns 0.
 * That commit writes the batch to the hub's journal as one record with one O_DSYNC
 * write, however many writes it holds; when it fails, none of the batch's writes was
 * kept (SKR_E* code, store_errmsg says why). Idempotent; commit without a batch is 0.
 * While a batch is open, init, rewrap and rotate get SKR_EBUSY (commit first);
 * store_close aborts an open batch (none of it was acknowledged).
 *
 * Journaled batches reach the data file at a checkpoint: one synced LMDB commit of all of
 * them, after which the journal starts again empty. It happens by itself once the journal
 * holds STORE_JOURNAL_CKPT_BYTES (4 MiB), before any write that is not in a batch, at
 * store_close, and whenever the caller calls store_checkpoint (the daemon does when it
 * goes quiet). A crash at any point loses no committed batch: store_open replays the
 * journal. A failed checkpoint keeps everything (the journal still has it): SKR_E* code.
 * store_checkpoint_pending: there is something to checkpoint.
 */
int store_batch_begin(store *s);
int store_batch_commit(store *s);

/*
 * The pipelined commit (store_batch.c, store_jwrite.c): the batch's journal record is
 * written on a thread of the store while the caller opens and fills the next batch.
 * store_batch_async(s, notify, arg) turns it on (notify NULL: off); notify(arg) is called
 * from that thread once the write returned (the daemon: uv_async_send).
 *
 * store_batch_commit_start ends the open batch: 1 when its record is being written (a big
 * enough batch, or any batch behind a record in flight: small ones alone are written
 * here, as store_batch_commit does, which is what it returns then: 0 or an SKR_E* code).
 * Until its store_batch_commit_finish the batch is not durable, and the caller holds its
 * replies, and every reply given meanwhile (reads see its writes), as for an open batch.
 * Up to STORE_BATCH_IN_FLIGHT_MAX records are in flight, written in order: a batch ended
 * while one is in flight queues behind it, so the thread goes straight from one write to
 * the next. store_batch_in_flight counts them; store_batch_queueable says whether the
 * open batch may go behind them now (a slot free, and a batch that can go; with nothing
 * in flight, store_batch_commit_start may still write a small one here): when it may
 * not, the caller waits for a finish rather than commit here, which would wait for the
 * writes.
 * store_batch_commit_finish takes the oldest record's result, waiting for its write if
 * it has not returned (store_batch_written: it has): 0, the batch is durable; an SKR_E*
 * code, it was lost, and so were the records behind it and the batch opened since (their
 * finishes and its commit give the same code: the caller fails all their replies). 0
 * again when there was nothing left to finish. Any call that needs the journal settled
 * (a checkpoint, store_batch_commit, lock, close, ...) waits for the writes in flight
 * itself and keeps their results for store_batch_commit_finish. The caller finishes
 * every record before it turns the pipelined commit off (store_batch_async with NULL:
 * results still owed then are dropped).
 */
#define STORE_BATCH_IN_FLIGHT_MAX 2
void store_batch_async(store *s, void (*notify)(void *arg), void *arg);
int store_batch_commit_start(store *s);
bool store_batch_written(const store *s);
int store_batch_commit_finish(store *s);
unsigned store_batch_in_flight(const store *s);
bool store_batch_queueable(store *s);
int store_checkpoint(store *s);
bool store_checkpoint_pending(const store *s);

/*
 * Checkpoints off the caller's thread (store_ckpt.c). A checkpoint's LMDB commit writes
 * every dirty page and syncs twice: up to about half a second on a big hub after 32768
 * ops. store_checkpoint_async(s, notify, arg) turns this on: from then on a due
 * checkpoint at store_batch_commit, and store_checkpoint_start, hand the commit to a
 * thread of the store, which calls notify(arg) from that thread once it has committed
 * (the daemon: uv_async_send). notify NULL turns it off (waiting for a running one).
 *
 * While the commit runs (store_checkpoint_running), the caller's thread must not touch
 * LMDB, so a call that needs it and can simply be repeated does nothing and returns
 * STORE_ECHECKPOINT: store_get when neither the mirror nor the commit before can answer
 * it (a get is served from the mirror, or else, when no journaled write named its
 * credential (nor, without a protocol, its name), from the data file's last commit,
 * which holds its latest value; one written since is refused),
 * store_get_db, store_get_hub, store_stats,
 * store_batch_begin (so every write in a batch). Call it again after
 * store_checkpoint_finish. store_mirror_step does nothing (returns true); store_trim does
 * nothing. Every other call that needs LMDB (lock, close, init, unlock, passwd, rotate,
 * store_checkpoint, a write outside a batch) first waits for the commit to end.
 *
 * store_checkpoint_start: 1 when a commit started (or one runs already), 0 when there was
 * nothing to commit (a journal reset owed is done at once), or an SKR_E* code.
 * store_checkpoint_finish: waits for a running commit, then, on the caller's thread, resets
 * the journal (or, if the commit failed, rebuilds the batches in memory from the journal:
 * nothing is lost; a full map grows and the checkpoint runs again synchronously). 0 when
 * none was running. The journal is reset only after the commit returned 0, so a crash at
 * any point loses no acknowledged write.
 */
#define STORE_ECHECKPOINT 1003 /* never on the wire: the daemon retries the request */
void store_checkpoint_async(store *s, void (*notify)(void *arg), void *arg);
int store_checkpoint_start(store *s);
bool store_checkpoint_running(const store *s);
/* The running commit has returned (its notify is due or done): finish will not wait. */
bool store_checkpoint_committed(const store *s);
int store_checkpoint_finish(store *s);
/* Gives back what writes left in memory once they are checkpointed (store_trim.c): LMDB's
 * cached dirty pages and the data file's resident map pages. A no-op while a batch or
 * checkpoint is open, or when nothing was written since the last trim. On failure the
 * store is left broken (every call fails: restart). store_trim_pending: a trim is owed. */
int store_trim(store *s);
bool store_trim_pending(const store *s);

#endif
