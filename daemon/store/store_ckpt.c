/*
 * daemon/store/store_ckpt.c - a checkpoint's LMDB commit on a thread of the store.
 *
 * Why: the commit of kv->ckpt writes every page the journaled batches dirtied and syncs
 * twice; on a big hub under a 64-in-flight put load that took up to ~557 ms, and on the
 * daemon's event loop every get waited for it. Here a thread commits while the caller
 * keeps serving what needs no LMDB (gets the mirror answers); the rest waits (store.h).
 *
 * An LMDB write txn belongs to the thread that holds the env's writer mutex, so the env is
 * opened with MDB_NOLOCK (store_lmdb.c): no lock file and no mutex, and this store
 * serializes every use itself. That is safe because one process owns the hub (the flock
 * on `journal`, taken before the env is opened, refuses a second store_open) and, while
 * a commit runs, the caller's thread makes one kind of mdb_* call only: reads in the
 * snapshot, a read txn begun on the data file's last commit right before the commit
 * started (store_snap_begin; store_lmdb.c says why the commit writes no page it reads),
 * of keys that no journaled op wrote (store_read_begin_key): a get the mirror cannot
 * answer, during the mirror's build, say, is then served instead of waiting for the
 * commit, which took ~230 ms on a 1M hub under 64 puts in flight. Otherwise no read txn
 * is live while a write txn is open: the reused read txn is reset after each call
 * (store_read_end), and reads go to the write txn while one exists. (Tools that open a
 * hub themselves, such as the tests' tamper helpers, do so only while no daemon or store
 * has it open.)
 *
 * Only the commit runs on the thread; what follows it (journal reset, trim_owed, the
 * retry after a full map) runs in store_checkpoint_finish on the caller's thread.
 */
#include <signal.h>
#include <time.h>

#include "store_kv.h"
#include "store_test.h"

static unsigned ckpt_delay_ms;

void store_test_set_ckpt_delay(unsigned ms)
{
    ckpt_delay_ms = ms;
}

static void *ckpt_main(void *arg)
{
    store_kv *kv = arg;

    if (ckpt_delay_ms > 0) { /* tests: a slow disk */
        struct timespec ts = { ckpt_delay_ms / 1000, (long)(ckpt_delay_ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) != 0)
            ;
    }
    store_crash_point(STORE_CRASH_CKPT_RUNNING);
    kv->ckpt_rc = mdb_txn_commit(kv->ckpt_txn); /* synced: the env has no NOSYNC */
    store_crash_point(STORE_CRASH_CKPT_COMMITTED);
    atomic_store(&kv->ckpt_committed, true);
    kv->ckpt_notify(kv->ckpt_notify_arg);
    return NULL;
}

void store_kv_checkpoint_async(store_kv *kv, void (*notify)(void *arg), void *arg)
{
    if (kv == NULL)
        return;
    (void)store_kv_checkpoint_finish(kv);
    kv->ckpt_notify = notify;
    kv->ckpt_notify_arg = arg;
}

bool store_checkpoint_async_on(const store_kv *kv)
{
    return kv->ckpt_notify != NULL;
}

bool store_kv_checkpoint_running(const store_kv *kv)
{
    return kv != NULL && kv->ckpt_running;
}

bool store_kv_checkpoint_committed(const store_kv *kv)
{
    return kv != NULL && kv->ckpt_running && atomic_load(&kv->ckpt_committed);
}

/* The thread takes no signal: the daemon's handlers run on its loop thread. */
static int ckpt_spawn(store_kv *kv)
{
    sigset_t all, old;
    int e;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    e = pthread_create(&kv->ckpt_thread, NULL, ckpt_main, kv);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return e;
}

int store_kv_checkpoint_start(store_kv *kv)
{
    if (kv->ckpt_running)
        return 1;
    /* An open batch refuses it even before its first write (kv->batch still NULL): that
     * write would begin a write txn of the env while the thread commits, with no writer
     * mutex (MDB_NOLOCK) to stop it (found in review: test_checkpoint_start_with_batch_open).
     * Here it commits at once, before the batch's first write. */
    if (kv->ckpt == NULL || kv->ckpt_notify == NULL || kv->broken || kv->batching ||
        kv->batch != NULL || kv->jw_settled < kv->jw.submitted)
        return store_kv_checkpoint(kv); /* nothing to commit (or refused, or a record in flight
                                    * to settle first): here, as before */
    (void)store_snap_begin(kv); /* before the commit: no mdb_* call once it runs */
    kv->ckpt_txn = kv->ckpt;
    kv->ckpt = NULL;
    kv->ckpt_running = true;
    atomic_store(&kv->ckpt_committed, false);
    if (ckpt_spawn(kv) != 0) { /* no thread: commit here, as before */
        kv->ckpt = kv->ckpt_txn;
        kv->ckpt_txn = NULL;
        kv->ckpt_running = false;
        store_snap_end(kv);
        return store_kv_checkpoint(kv);
    }
    return 1;
}

int store_kv_checkpoint_finish(store_kv *kv)
{
    if (kv == NULL || !kv->ckpt_running)
        return 0;
    pthread_join(kv->ckpt_thread, NULL);
    kv->ckpt_running = false;
    store_snap_end(kv); /* before the settle, which may begin a write txn */
    kv->ckpt_txn = NULL; /* committed, or freed by the failed commit */
    return store_checkpoint_settle(kv, kv->ckpt_rc);
}
