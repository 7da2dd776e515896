/*
 * daemon/store/store_kv.h - the kv layer: a durable key-value store over LMDB with
 * group-commit batches, a journal and checkpoints (store_lmdb.c, store_batch.c,
 * store_journal.c, store_jwrite.c, store_ckpt.c, store_trim.c). It knows nothing of
 * records, keys or the mirror.
 *
 * It includes the bottom only (store.h; LMDB; store_crypto.h and store_folder.h); every
 * layer above includes it. Its state is store_kv, which struct store (store_hub.h) embeds
 * as s->kv, and its functions take that state (store_kv *), never struct store, which
 * its files cannot see (they do not include store_hub.h: tests/unit/store_layers.sh). The
 * hub's one error message is kv's (errmsg). The callbacks of the layers above
 * (store_txn_fn, batch_durable, batch_lost) are handed the opaque store kv belongs to
 * (owner). The calls of store.h that kv implements are store_kv_* here, and store_api.c
 * (the top) hands them s->kv.
 *
 * Beside data.mdb and lock.mdb, the file `journal` holds the group-commit batches written
 * since the last checkpoint (store_journal.c).
 */
#ifndef DAEMON_STORE_KV_H
#define DAEMON_STORE_KV_H

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "store.h"
#include "sekrets/error.h"

/* Internal codes outside the SKR_E* range: LMDB asks for a bigger map or a remap. */
#define STORE_EGROW  1001
#define STORE_EREMAP 1002
/* STORE_ECHECKPOINT (1003, store.h) is the third: a checkpoint commit is running. */

#define STORE_DEFAULT_MAPSIZE ((size_t)64 << 20)
#define STORE_MAX_MAPSIZE     ((size_t)1 << 40)

#define STORE_KV_WATCH_MAX 2
#define STORE_KV_HOLD_MAX  16 /* the longest key, and value, of a held put */

/* One journal record handed to the writer thread: the caller fills buf, len, off and
 * fault before the submit and owns them again once the thread finished it; err is the
 * thread's; rc is the caller's (the settled result store_batch_commit_finish gives). */
typedef struct store_jrec {
    uint8_t *buf;           /* swapped with the open batch's jbuf at the hand-over */
    size_t len, cap;
    uint64_t off;
    char fault;             /* tests: the journal fault plan's step for this write */
    /* Called on the thread right before the write: fills in the record's checksum (the
     * journal's format, store_journal.c), off the caller's thread. */
    void (*seal)(uint8_t *buf, size_t len);
    int err;                /* the write's errno: 0, or ECANCELED after an earlier failure */
    int rc;                 /* settled: 0 durable, or the SKR_E* code it was lost with */
} store_jrec;

/* The journal's writer thread (store_jwrite.c): writes the records handed over, in order,
 * one O_DSYNC pwrite each, while the caller's thread serves the next batch. Up to
 * STORE_BATCH_IN_FLIGHT_MAX records are handed over at once, so the thread goes from one
 * straight to the next. Record n (a count of submits) lives in rec[n % MAX]. Under mu:
 * submitted, stop, failed (finished too, which is also atomic for readers without mu);
 * the records as store_jrec says; notify and notify_arg (which the thread calls after
 * it stored finished) under mu too; fd is set while nothing is in flight. */
typedef struct store_jwriter {
    pthread_t thread;
    bool up;                /* the thread was started (joined at store_jwrite_stop) */
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* a record or stop for the thread; a finished one for the caller */
    bool stop;
    bool failed;            /* a write failed: later ones are not written (ECANCELED) until
                             * the caller has settled them all (store_jwrite_recover) */
    uint64_t submitted;     /* records handed over */
    _Atomic uint64_t finished; /* records the thread is done with, in order */
    int fd;
    store_jrec rec[STORE_BATCH_IN_FLIGHT_MAX];
    void (*notify)(void *arg); /* from the thread once a write returned */
    void *notify_arg;
} store_jwriter;

/* The kv layer's state (struct store's s->kv). */
typedef struct store_kv {
    MDB_env *env;
    char *dir;              /* the hub folder */
    MDB_dbi meta, rec, ord, names, protos;
    MDB_txn *rtxn;          /* reused read txn: reset between calls, renewed on use */
    MDB_cursor *ncur;       /* names cursor of rtxn, renewed with it (no malloc per get) */
    MDB_txn *ckpt;          /* journaled batches not yet checkpointed, or NULL */
    MDB_txn *batch;         /* s->kv.ckpt while the open batch has written to it, or NULL */
    bool batching;          /* between store_batch_begin and store_batch_commit */
    int batch_err;          /* the batch already failed: its writes are lost */
    char batch_why[STORE_ERRMSG_MAX]; /* what that failure said (the later writes say it too) */
    bool broken;            /* the journal could not be applied: every call fails */
    bool trim_owed;         /* written since the last store_trim (store_trim.c) */
    int jfd;                /* the journal (store_journal.c), flock'ed while open */
    uint64_t jepoch, jseq;  /* the header's epoch; records written since it */
    uint64_t jend;          /* where the next record goes */
    bool jreset_owed;       /* a journal reset failed: no record until one succeeds */
    uint8_t *jbuf;          /* the open batch's ops: the next record */
    size_t jlen, jcap;
    /* The rec and names keys the journal's ops wrote since its reset: a table of jkeys_cap
     * slots holding jkeys_n hashes (store_journal.c: store_journal_wrote), NULL before
     * the first; jkeys_all: it could not grow, so every key counts as written. */
    uint64_t *jkeys;
    size_t jkeys_cap, jkeys_n;
    bool jkeys_all;
    /* The open batch's held put (store_kv_put_held): made when its record is sealed. */
    struct {
        bool set;
        MDB_dbi dbi;
        uint8_t klen, vlen;
        uint8_t k[STORE_KV_HOLD_MAX], v[STORE_KV_HOLD_MAX];
    } hold;
    /* Called by the journal once the open batch is durable (its record written), before
     * its ops are dropped: the records layer feeds the mirror (store_rec_batch_durable,
     * set at open by store_hub.c). kv knows nothing of what it does. */
    void (*batch_durable)(store *owner);
    uint64_t ckpt_ops;      /* LMDB puts and deletes since the checkpoint: a bound on the
                             * dirty pages of s->kv.ckpt (recounted when it is rebuilt) */
    /* A checkpoint committed on the store's thread (store_ckpt.c). While ckpt_running
     * the caller's thread makes no mdb_* call at all; ckpt_rc is read after the join. */
    void (*ckpt_notify)(void *arg); /* called from the thread when the commit ends */
    void *ckpt_notify_arg;
    bool ckpt_running;
    pthread_t ckpt_thread;
    MDB_txn *ckpt_txn;      /* the txn the thread commits (s->kv.ckpt is NULL meanwhile) */
    int ckpt_rc;            /* its mdb_txn_commit result */
    atomic_bool ckpt_committed; /* set by the thread once its commit returned */
    /* rtxn was begun on the data file's last commit right before the running one started:
     * store_read_begin_key reads the keys no journaled op wrote from it meanwhile. */
    bool snap;
    /* The journal's writer thread (store_jwrite.c): the pipelined group commit's records
     * in flight. Records jw_taken .. jw.submitted - 1 are handed over and their results not
     * yet taken (store_batch_commit_finish); of those, the ones below jw_settled are
     * settled: the caller's thread has advanced jend and jseq past them, or found them
     * lost (their rc). The thread owns a record's buffer from its submit until finished;
     * the caller's thread keeps the open batch (jbuf) and every other field. */
    store_jwriter jw;
    uint64_t jw_settled, jw_taken;
    /* Called once a batch whose ops the mirror was fed (batch_durable, at the write's
     * start) is lost after all (its record's write failed): the records layer drops
     * those ops' entries again (store_rec_batch_lost). kv iterates the lost batch's ops
     * with store_journal_next while it runs. */
    void (*batch_lost)(store *owner);
    const uint8_t *jops;    /* the ops store_journal_next walks: jbuf, or a jw.rec buf */
    size_t jops_len;
    size_t mapsize;
    /* The hub's one error message (store_errmsg): kv's, since every layer's failure
     * passes through kv's calls; the layers above write it with store_errf. */
    char errmsg[STORE_ERRMSG_MAX];
    /* The store kv belongs to, opaque here: handed to the callbacks (store_txn_fn,
     * batch_durable, batch_lost), which belong to the layers above. */
    store *owner;
    /* Files of the layers above whose loss refuses writes as the data file's and the
     * journal's do (store_check_file): the top hands them (store_kv_watch). */
    int watch[STORE_KV_WATCH_MAX];
    unsigned nwatch;
} store_kv;

/* store_lmdb.c */
int store_mdb_err(store_kv *kv, int rc, const char *what);
int store_remap(store_kv *kv, size_t new_size);
/* Doubles the map (up to STORE_MAX_MAPSIZE); no write txn may be open. */
int store_grow(store_kv *kv);
int store_read_begin(store_kv *kv, MDB_txn **txn);
/* As store_read_begin, for a read that starts at key k of dbi (rec or names): while a
 * checkpoint commits, a key that no op of the journal wrote is read from the commit
 * before (the snapshot, kv->snap) instead of refused with STORE_ECHECKPOINT; such a key
 * reads the same there as in the txn being committed. A read that goes on from there to
 * another key asks store_read_sees first (a rec key's ord entry needs no asking: only
 * writes of that rec key write it). */
int store_read_begin_key(store_kv *kv, MDB_dbi dbi, const MDB_val *k, MDB_txn **txn);
/* false when txn is the snapshot and a journaled op may have written key k of dbi since
 * it was taken: the read must then wait for the commit (STORE_ECHECKPOINT). */
bool store_read_sees(const store_kv *kv, const MDB_txn *txn, MDB_dbi dbi, const MDB_val *k);
void store_read_end(store_kv *kv);
/* store_lmdb.c: begins rtxn as the snapshot (store_ckpt.c, right before a commit starts
 * on the thread): false when it cannot (reads then wait for the commit); snap_end resets
 * it once the commit has returned. */
bool store_snap_begin(store_kv *kv);
void store_snap_end(store_kv *kv);
typedef int (*store_txn_fn)(store *owner, MDB_txn *txn, void *ctx);
/* A record write joins an open batch; any other write refuses one (SKR_EBUSY). */
int store_write(store_kv *kv, store_txn_fn fn, void *ctx);
/* store_batch.c: a record write, into the open batch if there is one, else alone. */
int store_write_rec_txn(store_kv *kv, store_txn_fn fn, void *ctx);
/* A write is refused (SKR_EINTERNAL) once the data file, the journal or a watched file has
 * no name left, or the journal could not be applied. */
int store_check_file(store_kv *kv);
/* Adds fd (a file of a layer above, open until the store closes) to what
 * store_check_file checks: SKR_EINVAL when STORE_KV_WATCH_MAX are watched already. */
int store_kv_watch(store_kv *kv, int fd);
/* Sets the hub's one error message (kv's errmsg, which store_errmsg reads) and returns
 * code. The layers above call it as store_errf(s, ...) (store_hub.h). */
int store_kv_errf(store_kv *kv, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* store_journal.c. Record writes go through store_db_put/del: inside a batch each op is
 * also added to the batch's journal record. They return LMDB codes (or SKR_E* < 0). */
int store_db_put(store_kv *kv, MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v, unsigned flags);
int store_db_del(store_kv *kv, MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v);
int store_journal_lock(store_kv *kv, const char *dir, char err[STORE_ERRMSG_MAX]);
int store_journal_open(store_kv *kv, char err[STORE_ERRMSG_MAX]);
int store_journal_truncate(store_kv *kv);
int store_journal_sync(store_kv *kv);
int store_journal_reload(store_kv *kv);
int store_journal_apply_batch(store_kv *kv);
bool store_checkpoint_due(store_kv *kv);
/* May an op of the journal since its last reset have put or deleted key k of dbi (rec or
 * names; any other: false)? false: surely not; true: maybe. */
bool store_journal_wrote(const store_kv *kv, MDB_dbi dbi, const MDB_val *k);
/* After the commit of the checkpoint txn returned rc (the txn is gone either way), on the
 * caller's thread: the journal reset, or the txn rebuilt from the journal (a full map:
 * grown, and the checkpoint run again here, synchronously). */
int store_checkpoint_settle(store_kv *kv, int rc);
/* store_ckpt.c: true when async checkpoints are on (a notify function is set) */
bool store_checkpoint_async_on(const store_kv *kv);
void store_journal_close(store_kv *kv);
/* One op of the open batch as the journal logged it: k and v point into the batch's
 * buffer, valid until the batch's next write. */
typedef struct store_jop {
    bool put;           /* else a delete (v: the value deleted, if one was named) */
    MDB_dbi dbi;
    MDB_val k, v;
} store_jop;
/* The open batch's ops in order, one a call: *pos 0 for the first; false when no more. */
bool store_journal_next(const store_kv *kv, size_t *pos, store_jop *op);
/* Checkpoint once the journal holds this much, or once the open txn may hold this many
 * dirty pages (each op dirties at most about one page; a small hub has fewer pages than
 * that in all). The dirty pages are heap memory that LMDB keeps for reuse: this bounds
 * the daemon's memory to 128 MiB on a big hub under a burst of writes (45 MiB measured
 * after 300k puts). A smaller bound costs more than it saves: at 8192 pages, 300k puts
 * took 11.4 s instead of 7.7 s, and a reader beside them got 127 gets/s, not 3.7k. */
#define STORE_JOURNAL_CKPT_BYTES ((uint64_t)4 << 20)
#define STORE_CKPT_MAX_PAGES     32768u

/* store_jwrite.c: the writer thread. write_all writes len bytes at off (fault: a test's
 * plan step, '\0' for none, store_test_journal_faults), 0 or an errno; it touches no
 * state, so either thread may call it. start runs the thread (0 or an errno); submit
 * hands it the record jw.rec[jw.submitted % MAX] (a free slot, filled in); failing says
 * whether a write failed since the last recover (then submit nothing: it would not be
 * written); wait blocks until n records are finished; recover, once every record handed
 * over is finished, lets the thread write again; stop joins the thread. */
int store_jwrite_all(int fd, const uint8_t *p, size_t len, uint64_t off, char fault);
int store_jwrite_start(store_jwriter *jw);
void store_jwrite_submit(store_jwriter *jw);
bool store_jwrite_failing(store_jwriter *jw);
void store_jwrite_wait(store_jwriter *jw, uint64_t n);
void store_jwrite_recover(store_jwriter *jw);
void store_jwrite_stop(store_jwriter *jw);
/* store_journal.c: the pipelined write of the open batch's record. write_begin seals the
 * record, feeds the mirror (batch_durable), hands the record to the thread behind those
 * in flight and leaves an empty batch buffer: 1, or 0 when it wrote the record here
 * instead (no slot free, no thread), or an SKR_E* code. settle_next settles the oldest
 * record not yet settled, waiting for its write: durable, or lost, and then so are the
 * records behind it and the open batch (its batch_err), and s->kv.ckpt is rebuilt from
 * the journal. write_join settles every record in flight. The results stay in their
 * rec[].rc for store_batch_commit_finish. Every kv function that reads the journal's end
 * or rebuilds s->kv.ckpt joins first. */
int store_journal_write_begin(store_kv *kv);
void store_journal_settle_next(store_kv *kv);
void store_journal_write_join(store_kv *kv);

/* store_lmdb.c: true when the open file has no name left (deleted under the daemon). */
bool store_fd_unlinked(int fd);
/* store_lmdb.c: the environment. open makes or opens the five databases and runs fn (may
 * be NULL) in the same write txn: what the layers above load from meta (store_hub.c);
 * reopen closes and opens it again (the data file was replaced or is trimmed) and runs no
 * fn: what was loaded stays. */
int store_env_open(store_kv *kv, store_txn_fn fn, void *ctx);
void store_env_close(store_kv *kv);
int store_env_reopen(store_kv *kv);
/* store_batch.c: drops an open batch (at close: nothing of it was acknowledged). */
void store_batch_abort(store_kv *kv);
/* store_batch.c: a put held back until the open batch's journal record is sealed. A value
 * that every write of a batch rewrites (the records' write counter) then costs one LMDB
 * put and one journal op a batch, not an LMDB get, a put and an op a write (9% of a put's
 * instructions on the loop). Outside a batch the put is made at once (store_db_put). One
 * key is held at a time (another: SKR_EINTERNAL); key and value of at most
 * STORE_KV_HOLD_MAX bytes. A held put outlives a failed write's redo (the txn rebuilt
 * without the batch's held value, which stays here), not the batch: a batch that is lost
 * or aborted drops it with its writes. put_held returns an LMDB code or SKR_E* < 0, as
 * store_db_put. held: the value held for (dbi, k), pointing into kv until the next put;
 * false when none is (the txn holds the latest). seal_held makes the held put in the
 * batch txn (the journal, right before it seals the batch's record): an LMDB code. */
int store_kv_put_held(store_kv *kv, MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v);
/* store_batch.c: the open batch failed with r (its writes are lost); the hub's message
 * now is why, and every later write of the batch says it again. */
void store_batch_fail(store_kv *kv, int r);
bool store_kv_held(const store_kv *kv, MDB_dbi dbi, const MDB_val *k, MDB_val *v);
int store_batch_seal_held(store_kv *kv);

/* The hub's calls that kv implements (store.h names them store_X; store_api.c, at the
 * top, hands them kv's state): see store.h for what each does. */
int store_kv_batch_begin(store_kv *kv);
int store_kv_batch_commit(store_kv *kv);
void store_kv_batch_async(store_kv *kv, void (*notify)(void *arg), void *arg);
int store_kv_batch_commit_start(store_kv *kv);
bool store_kv_batch_written(const store_kv *kv);
int store_kv_batch_commit_finish(store_kv *kv);
unsigned store_kv_batch_in_flight(const store_kv *kv);
bool store_kv_batch_queueable(store_kv *kv);
int store_kv_checkpoint(store_kv *kv);
bool store_kv_checkpoint_pending(const store_kv *kv);
void store_kv_checkpoint_async(store_kv *kv, void (*notify)(void *arg), void *arg);
int store_kv_checkpoint_start(store_kv *kv);
bool store_kv_checkpoint_running(const store_kv *kv);
bool store_kv_checkpoint_committed(const store_kv *kv);
int store_kv_checkpoint_finish(store_kv *kv);
int store_kv_trim(store_kv *kv);
bool store_kv_trim_pending(const store_kv *kv);
size_t store_kv_test_mapsize(const store_kv *kv);

#endif
