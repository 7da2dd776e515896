/*
 * daemon/store/store_batch.c - group commit (kv): batches of record writes that one
 * journal record makes durable, over the checkpoint txn.
 */
#include "store_hub.h"
#include "store_kv.h"

/* A batch writes straight into the long-lived s->kv.ckpt (s->kv.batch names it while the batch
 * has written something); store_batch_commit makes the batch durable with one journal
 * record (store_journal.c). Undoing a batch, or a failed write inside it, rebuilds s->kv.ckpt
 * from the journal (store_batch_drop), which holds every acknowledged batch and nothing
 * else. Why not a child txn per batch, as before: LMDB copies every page the child
 * touches that the parent already dirtied (a fresh malloc and a 4 KiB memset each), and
 * its commit free()s the parent's copies rather than keeping them for reuse: about 60
 * pages a batch, 0.9 of the 4.4 us of server CPU per put at 64 in flight (measured on
 * tmpfs, bench_wire --op put). A failure costs a replay of the journal instead (at most
 * STORE_JOURNAL_CKPT_BYTES). */

int store_batch_begin(store *s)
{
    MDB_envinfo info;
    MDB_stat st;
    int rc;

    if (s->kv.batching)
        return 0;
    if (s->kv.ckpt_running) /* no write until the commit ends: the caller asks again */
        return store_errf(s, STORE_ECHECKPOINT, "a checkpoint is being written");
    if ((rc = store_check_file(s)) != 0)
        return rc;
    /* Grow before the batch: the map can only grow while no write txn is open, so that
     * costs a checkpoint; inside the batch, a full map costs an early commit. */
    if ((rc = mdb_env_info(s->kv.env, &info)) != 0 || (rc = mdb_env_stat(s->kv.env, &st)) != 0)
        return store_mdb_err(s, rc, "env info");
    /* The open checkpoint txn may have taken up to about one new page per op. */
    if ((info.me_last_pgno + 1 + s->kv.ckpt_ops) * (size_t)st.ms_psize > s->kv.mapsize / 2) {
        int r;
        if ((r = store_checkpoint(s)) != 0 || (r = store_grow(s)) != 0)
            return r;
    }
    s->kv.batching = true;
    s->kv.batch_err = 0;
    s->kv.jlen = 0;
    return 0; /* the txns themselves are begun by the first write */
}

/* Takes the open batch's writes out of s->kv.ckpt: it is rebuilt from the journal, which
 * does not hold them (none of them was acknowledged). A failed rebuild leaves the store
 * broken (every call fails: store_journal_reload). */
static int store_batch_drop(store *s)
{
    if (s->kv.batch == NULL)
        return 0;
    s->kv.batch = NULL;
    return store_journal_reload(s);
}

/* Journals the batch so far: its writes in s->kv.ckpt are then durable. After a journal
 * failure the batch is dropped (none of it was acknowledged). */
static int store_batch_settle(store *s)
{
    int r;

    if (s->kv.batch == NULL)
        return 0;
    if ((r = store_journal_sync(s)) != 0) {
        (void)store_batch_drop(s); /* a failed rebuild: broken; r says what went wrong */
        s->kv.jlen = 0;
        return r;
    }
    s->kv.batch = NULL;
    return 0;
}

/* After a durable batch: a due checkpoint (a failed one is retried later: the journal has
 * everything). With async checkpoints on, its commit runs on the store's thread
 * (store_ckpt.c). */
static void store_batch_checkpoint(store *s)
{
    if (store_checkpoint_due(s))
        (void)(store_checkpoint_async_on(s) ? store_checkpoint_start(s) : store_checkpoint(s));
}

static void store_batch_close(store *s)
{
    s->kv.batching = false;
    s->kv.batch_err = 0;
    s->kv.jlen = 0;
}

int store_batch_commit(store *s)
{
    int r;

    if (!s->kv.batching)
        return 0;
    store_journal_write_join(s); /* a record in flight first: lost, it takes this batch */
    if ((r = s->kv.batch_err) != 0) {
        (void)store_batch_drop(s);
    } else {
        r = store_batch_settle(s);
    }
    store_batch_close(s);
    if (r == 0)
        store_batch_checkpoint(s);
    return r;
}

void store_batch_async(store *s, void (*notify)(void *arg), void *arg)
{
    if (s == NULL)
        return;
    (void)store_batch_commit_finish(s);
    s->kv.jw.notify = notify;
    s->kv.jw.notify_arg = arg;
}

/* A batch whose record is shorter is written on the caller's thread: the hand-over costs
 * two thread wake-ups (tens of us), which a lone client's put would wait for, while
 * nothing else is there to run during its sync. About four puts of a small record. */
#define STORE_BATCH_ASYNC_MIN_BYTES 2048u

int store_batch_commit_start(store *s)
{
    int r;

    if (!s->kv.batching)
        return 0;
    if (s->kv.jw.notify == NULL || s->kv.jw_state != STORE_JW_IDLE || s->kv.batch_err != 0 ||
        s->kv.batch == NULL || s->kv.jlen < STORE_BATCH_ASYNC_MIN_BYTES ||
        store_checkpoint_due(s))
        return store_batch_commit(s); /* here, as before */
    if ((r = store_journal_write_begin(s)) < 0) { /* (0: written here after all) */
        (void)store_batch_drop(s);
        store_batch_close(s);
        return r;
    }
    s->kv.batch = NULL; /* its writes stay in s->kv.ckpt; the next batch writes on top */
    store_batch_close(s);
    if (r == 0)
        store_batch_checkpoint(s);
    return r;
}

bool store_batch_written(const store *s)
{
    return s == NULL || s->kv.jw_state != STORE_JW_WRITING || atomic_load(&s->kv.jw.written);
}

int store_batch_commit_finish(store *s)
{
    int r;

    if (s == NULL)
        return 0;
    store_journal_write_join(s);
    if (s->kv.jw_state != STORE_JW_SETTLED)
        return 0;
    s->kv.jw_state = STORE_JW_IDLE;
    if ((r = s->kv.jw_rc) == 0 && !s->kv.batching)
        store_batch_checkpoint(s);
    return r;
}

/* Drops an open batch: nothing of it was acknowledged (replies wait for the commit). */
void store_batch_abort(store *s)
{
    (void)store_batch_drop(s); /* before the close's checkpoint commits s->kv.ckpt */
    s->kv.batching = false;
    s->kv.jlen = 0;
}

/* Makes what the batch holds so far durable and checkpoints it, so that the map can grow
 * (no write txn may be open for that). */
static int store_batch_flush(store *s)
{
    int r;

    if ((r = store_batch_settle(s)) != 0) {
        s->kv.batch_err = r; /* the batch so far is lost: none of its replies may go out */
        return r;
    }
    /* The batch so far is durable: a failure from here on fails this write only. */
    if ((r = store_checkpoint(s)) != 0 || (r = store_grow(s)) != 0)
        return r;
    return 0;
}

static int store_batch_txn(store *s)
{
    int rc, r;

    for (;;) {
        if (s->kv.ckpt == NULL && (rc = mdb_txn_begin(s->kv.env, NULL, 0, &s->kv.ckpt)) != 0) {
            s->kv.ckpt = NULL;
            if ((r = store_mdb_err(s, rc, "begin batch")) != STORE_EREMAP)
                return r;
            if ((r = store_remap(s, 0)) != 0)
                return r;
            continue;
        }
        s->kv.batch = s->kv.ckpt;
        return 0;
    }
}

/* Undoes a failed write inside the batch: LMDB cannot undo part of a txn, so s->kv.ckpt is
 * rebuilt from the journal and the batch's ops so far (the writes that succeeded) are
 * applied to it again. Costs nothing on success, unlike a nested txn per write. */
static int store_batch_redo(store *s)
{
    int r;

    if ((r = store_batch_drop(s)) != 0 || (r = store_batch_txn(s)) != 0 ||
        (r = store_journal_apply_batch(s)) != 0) {
        if (r == STORE_EGROW || r == STORE_EREMAP)
            r = store_errf(s, SKR_EINTERNAL, "write batch: map full");
        s->kv.batch_err = r;
        return r;
    }
    return 0;
}

/* A record write: alone, one synced txn (store_write); in a batch, straight into the
 * batch txn, undone by store_batch_redo if it fails. */
int store_write_rec_txn(store *s, store_txn_fn fn, void *ctx)
{
    size_t mark;
    int r, r2;

    if (!s->kv.batching)
        return store_write(s, fn, ctx);
    for (;;) {
        if (s->kv.batch_err != 0)
            return store_errf(s, s->kv.batch_err, "this write batch already failed");
        if (s->kv.batch == NULL && (r = store_batch_txn(s)) != 0)
            return r;
        mark = s->kv.jlen;
        if ((r = fn(s, s->kv.batch, ctx)) == 0)
            return 0;
        /* A refusal found before anything was written (a post of a name that exists...)
         * leaves the txn as it was: no redo. */
        if (s->kv.jlen == mark && (r == SKR_EEXISTS || r == SKR_ENOT_FOUND || r == SKR_EINVAL ||
                                r == SKR_ELOCKED))
            return r;
        s->kv.jlen = mark;
        if ((r2 = store_batch_redo(s)) != 0)
            return r2;
        if (r != STORE_EGROW)
            return r;
        if ((r = store_batch_flush(s)) != 0)
            return r;
    }
}

