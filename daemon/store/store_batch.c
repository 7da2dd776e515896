/*
 * daemon/store/store_batch.c - group commit (kv): batches of record writes that one
 * journal record makes durable, over the checkpoint txn.
 */
#include <stdio.h>
#include <string.h>

#include "store_kv.h"

void store_batch_fail(store_kv *kv, int r)
{
    kv->batch_err = r;
    memcpy(kv->batch_why, kv->errmsg, sizeof kv->batch_why);
}

/* A batch writes straight into the long-lived kv->ckpt (kv->batch names it while the batch
 * has written something); store_batch_commit makes the batch durable with one journal
 * record (store_journal.c). Undoing a batch, or a failed write inside it, rebuilds kv->ckpt
 * from the journal (store_batch_drop), which holds every acknowledged batch and nothing
 * else. Why not a child txn per batch, as before: LMDB copies every page the child
 * touches that the parent already dirtied (a fresh malloc and a 4 KiB memset each), and
 * its commit free()s the parent's copies rather than keeping them for reuse: about 60
 * pages a batch, 0.9 of the 4.4 us of server CPU per put at 64 in flight (measured on
 * tmpfs, bench_wire --op put). A failure costs a replay of the journal instead (at most
 * STORE_JOURNAL_CKPT_BYTES). */

int store_kv_batch_begin(store_kv *kv)
{
    MDB_envinfo info;
    MDB_stat st;
    int rc;

    if (kv->batching)
        return 0;
    if (kv->ckpt_running) /* no write until the commit ends: the caller asks again */
        return store_kv_errf(kv, STORE_ECHECKPOINT, "a checkpoint is being written");
    if ((rc = store_check_file(kv)) != 0)
        return rc;
    /* Grow before the batch: the map can only grow while no write txn is open, so that
     * costs a checkpoint; inside the batch, a full map costs an early commit. */
    if ((rc = mdb_env_info(kv->env, &info)) != 0 || (rc = mdb_env_stat(kv->env, &st)) != 0)
        return store_mdb_err(kv, rc, "env info");
    /* The open checkpoint txn may have taken up to about one new page per op. */
    if ((info.me_last_pgno + 1 + kv->ckpt_ops) * (size_t)st.ms_psize > kv->mapsize / 2) {
        int r;
        if ((r = store_kv_checkpoint(kv)) != 0 || (r = store_grow(kv)) != 0)
            return r;
    }
    kv->batching = true;
    /* A record in flight that was settled here but not yet finished (the growth
     * checkpoint above, say, waited for it) and was lost takes this batch with it, as it
     * does a batch opened before the loss: store_batch_commit_finish reports the loss, and
     * the caller fails the open batch's replies with the record's (store.h). */
    kv->batch_err = 0;
    for (uint64_t n = kv->jw_taken; n < kv->jw_settled && kv->batch_err == 0; n++)
        kv->batch_err = kv->jw.rec[n % STORE_BATCH_IN_FLIGHT_MAX].rc;
    if (kv->batch_err != 0)
        snprintf(kv->batch_why, sizeof kv->batch_why, "a journal record before it was lost");
    kv->jlen = 0;
    return 0; /* the txns themselves are begun by the first write */
}

/* Takes the open batch's writes out of kv->ckpt: it is rebuilt from the journal, which
 * does not hold them (none of them was acknowledged). A failed rebuild leaves the store
 * broken (every call fails: store_journal_reload). */
static int store_batch_drop(store_kv *kv)
{
    if (kv->batch == NULL)
        return 0;
    kv->batch = NULL;
    return store_journal_reload(kv);
}

/* Journals the batch so far: its writes in kv->ckpt are then durable. After a journal
 * failure the batch is dropped (none of it was acknowledged). */
static int store_batch_settle(store_kv *kv)
{
    int r;

    if (kv->batch == NULL)
        return 0;
    if ((r = store_journal_sync(kv)) != 0) {
        (void)store_batch_drop(kv); /* a failed rebuild: broken; r says what went wrong */
        kv->jlen = 0;
        return r;
    }
    kv->batch = NULL;
    return 0;
}

/* After a durable batch: a due checkpoint (a failed one is retried later: the journal has
 * everything). With async checkpoints on, its commit runs on the store's thread
 * (store_ckpt.c). */
static void store_batch_checkpoint(store_kv *kv)
{
    if (store_checkpoint_due(kv))
        (void)(store_checkpoint_async_on(kv) ? store_kv_checkpoint_start(kv) : store_kv_checkpoint(kv));
}

static void store_batch_close(store_kv *kv)
{
    kv->batching = false;
    kv->batch_err = 0;
    kv->jlen = 0;
    kv->hold.set = false;
}

int store_kv_batch_commit(store_kv *kv)
{
    int r;

    if (!kv->batching)
        return 0;
    store_journal_write_join(kv); /* a record in flight first: lost, it takes this batch */
    if ((r = kv->batch_err) != 0) {
        (void)store_batch_drop(kv);
    } else {
        r = store_batch_settle(kv);
    }
    store_batch_close(kv);
    if (r == 0)
        store_batch_checkpoint(kv);
    return r;
}

void store_kv_batch_async(store_kv *kv, void (*notify)(void *arg), void *arg)
{
    if (kv == NULL)
        return;
    while (store_kv_batch_in_flight(kv) > 0) /* the caller has taken them (store.h) */
        (void)store_kv_batch_commit_finish(kv);
    /* Under the thread's mutex: a wait that saw a record finished may return before the
     * thread made that record's notify call, which reads these under it. */
    if (kv->jw.up)
        pthread_mutex_lock(&kv->jw.mu);
    kv->jw.notify = notify;
    kv->jw.notify_arg = arg;
    if (kv->jw.up)
        pthread_mutex_unlock(&kv->jw.mu);
}

/* A batch whose record is shorter, with no record in flight, is written on the caller's
 * thread. The hand-over costs two thread wake-ups (the writer's, then the loop's: 43 and
 * 33 us at the median on this 2-core VM), which pay only when the loop has other work to
 * run during the sync; a small batch means few clients, all waiting for it. About 22 puts
 * of a small record (some 370 bytes of journal each): 8 clients of one put each stay here
 * (4 to 16% faster than handed over, 4 interleaved rounds), one client with 64 in flight
 * is handed over (11 to 30% faster than written here). Behind a record in flight any
 * batch is handed over: it costs no wake-up of the writer, which goes straight to it. */
#define STORE_BATCH_ASYNC_MIN_BYTES (8u << 10)

unsigned store_kv_batch_in_flight(const store_kv *kv)
{
    return kv == NULL ? 0 : (unsigned)(kv->jw.submitted - kv->jw_taken);
}

bool store_kv_batch_queueable(store_kv *kv)
{
    /* (no checkpoint commit runs while a batch is open: store_kv_batch_begin refuses) */
    return kv->batching && kv->jw.notify != NULL && kv->batch_err == 0 && kv->batch != NULL &&
           kv->jlen > 0 && store_kv_batch_in_flight(kv) < STORE_BATCH_IN_FLIGHT_MAX &&
           !kv->ckpt_running && !kv->jreset_owed && !store_checkpoint_due(kv) &&
           !store_jwrite_failing(&kv->jw);
}

int store_kv_batch_commit_start(store_kv *kv)
{
    int r;

    if (!kv->batching)
        return 0;
    if (!store_kv_batch_queueable(kv) ||
        (store_kv_batch_in_flight(kv) == 0 && kv->jlen < STORE_BATCH_ASYNC_MIN_BYTES))
        return store_kv_batch_commit(kv); /* here, as before */
    if ((r = store_journal_write_begin(kv)) < 0) { /* (0: written here after all) */
        (void)store_batch_drop(kv);
        store_batch_close(kv);
        return r;
    }
    kv->batch = NULL; /* its writes stay in kv->ckpt; the next batch writes on top */
    store_batch_close(kv);
    if (r == 0)
        store_batch_checkpoint(kv);
    return r;
}

/* The oldest record not taken has returned from its write (or was settled here). */
bool store_kv_batch_written(const store_kv *kv)
{
    return kv == NULL || kv->jw_taken == kv->jw.submitted || kv->jw_settled > kv->jw_taken ||
           atomic_load(&kv->jw.finished) > kv->jw_taken;
}

int store_kv_batch_commit_finish(store_kv *kv)
{
    int r;

    if (kv == NULL || kv->jw_taken == kv->jw.submitted)
        return 0;
    if (kv->jw_settled == kv->jw_taken)
        store_journal_settle_next(kv);
    r = kv->jw.rec[kv->jw_taken % STORE_BATCH_IN_FLIGHT_MAX].rc;
    kv->jw_taken++;
    if (r == 0 && !kv->batching && kv->jw_taken == kv->jw.submitted)
        store_batch_checkpoint(kv);
    return r;
}

/* Drops an open batch: nothing of it was acknowledged (replies wait for the commit). */
void store_batch_abort(store_kv *kv)
{
    (void)store_batch_drop(kv); /* before the close's checkpoint commits kv->ckpt */
    kv->batching = false;
    kv->jlen = 0;
    kv->hold.set = false;
}

/* The held put is of key k in dbi. */
static bool hold_is(const store_kv *kv, MDB_dbi dbi, const MDB_val *k)
{
    return kv->hold.dbi == dbi && kv->hold.klen == k->mv_size &&
           memcmp(kv->hold.k, k->mv_data, k->mv_size) == 0;
}

int store_kv_put_held(store_kv *kv, MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v)
{
    if (!kv->batching)
        return store_db_put(kv, txn, dbi, k, v, 0);
    if (k->mv_size > STORE_KV_HOLD_MAX || v->mv_size > STORE_KV_HOLD_MAX ||
        (kv->hold.set && !hold_is(kv, dbi, k)))
        return store_kv_errf(kv, SKR_EINTERNAL, "held put: another key or too long");
    kv->hold.set = true;
    kv->hold.dbi = dbi;
    kv->hold.klen = (uint8_t)k->mv_size;
    kv->hold.vlen = (uint8_t)v->mv_size;
    memcpy(kv->hold.k, k->mv_data, k->mv_size);
    memcpy(kv->hold.v, v->mv_data, v->mv_size);
    return 0;
}

bool store_kv_held(const store_kv *kv, MDB_dbi dbi, const MDB_val *k, MDB_val *v)
{
    if (!kv->hold.set || !hold_is(kv, dbi, k))
        return false;
    v->mv_size = kv->hold.vlen;
    v->mv_data = (void *)kv->hold.v;
    return true;
}

int store_batch_seal_held(store_kv *kv)
{
    MDB_val k = { kv->hold.klen, kv->hold.k }, v = { kv->hold.vlen, kv->hold.v };

    if (!kv->hold.set)
        return 0;
    kv->hold.set = false;
    if (kv->jlen == 0 || kv->batch == NULL)
        return 0; /* no write of the batch was kept (a failed first one): nothing took it */
    return store_db_put(kv, kv->batch, kv->hold.dbi, &k, &v, 0);
}

/* Makes what the batch holds so far durable and checkpoints it, so that the map can grow
 * (no write txn may be open for that). */
static int store_batch_flush(store_kv *kv)
{
    int r;

    if ((r = store_batch_settle(kv)) != 0) {
        store_batch_fail(kv, r); /* the batch so far is lost: none of its replies may go out */
        return r;
    }
    /* The batch so far is durable: a failure from here on fails this write only. */
    if ((r = store_kv_checkpoint(kv)) != 0 || (r = store_grow(kv)) != 0)
        return r;
    return 0;
}

static int store_batch_txn(store_kv *kv)
{
    int rc, r;

    for (;;) {
        if (kv->ckpt == NULL && (rc = mdb_txn_begin(kv->env, NULL, 0, &kv->ckpt)) != 0) {
            kv->ckpt = NULL;
            if ((r = store_mdb_err(kv, rc, "begin batch")) != STORE_EREMAP)
                return r;
            if ((r = store_remap(kv, 0)) != 0)
                return r;
            continue;
        }
        kv->batch = kv->ckpt;
        return 0;
    }
}

/* Undoes a failed write inside the batch: LMDB cannot undo part of a txn, so kv->ckpt is
 * rebuilt from the journal and the batch's ops so far (the writes that succeeded) are
 * applied to it again. Costs nothing on success, unlike a nested txn per write. */
static int store_batch_redo(store_kv *kv)
{
    int r;

    if ((r = store_batch_drop(kv)) != 0 || (r = store_batch_txn(kv)) != 0 ||
        (r = store_journal_apply_batch(kv)) != 0) {
        if (r == STORE_EGROW || r == STORE_EREMAP)
            r = store_kv_errf(kv, SKR_EINTERNAL, "write batch: map full");
        store_batch_fail(kv, r);
        return r;
    }
    return 0;
}

/* A record write: alone, one synced txn (store_write); in a batch, straight into the
 * batch txn, undone by store_batch_redo if it fails. */
int store_write_rec_txn(store_kv *kv, store_txn_fn fn, void *ctx)
{
    size_t mark;
    int r, r2;

    if (!kv->batching)
        return store_write(kv, fn, ctx);
    for (;;) {
        if (kv->batch_err != 0)
            return store_kv_errf(kv, kv->batch_err, "this write batch already failed: %s",
                                 kv->batch_why);
        if (kv->batch == NULL && (r = store_batch_txn(kv)) != 0)
            return r;
        mark = kv->jlen;
        if ((r = fn(kv->owner, kv->batch, ctx)) == 0)
            return 0;
        /* A refusal found before anything was written (a post of a name that exists...)
         * leaves the txn as it was: no redo. */
        if (kv->jlen == mark && (r == SKR_EEXISTS || r == SKR_ENOT_FOUND || r == SKR_EINVAL ||
                                r == SKR_ELOCKED))
            return r;
        kv->jlen = mark;
        if ((r2 = store_batch_redo(kv)) != 0)
            return r2;
        if (r != STORE_EGROW)
            return r;
        if ((r = store_batch_flush(kv)) != 0)
            return r;
    }
}

