/*
 * daemon/store/store_lmdb.c - the LMDB side: environment, transactions,
 * map growth, and the one function that turns LMDB codes into SKR_E* codes. The group
 * commit's batches are in store_batch.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "store_folder.h"
#include "store_kv.h"
#include "store_test.h"

static size_t store_initial_mapsize = STORE_DEFAULT_MAPSIZE;

void store_test_set_mapsize(size_t bytes)
{
    store_initial_mapsize = bytes ? bytes : STORE_DEFAULT_MAPSIZE;
}

size_t store_kv_test_mapsize(const store_kv *kv)
{
    return kv->mapsize;
}

int store_kv_errf(store_kv *kv, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(kv->errmsg, sizeof kv->errmsg, fmt, ap);
    va_end(ap);
    return code;
}

/* True when the hub's file system has (almost) no room left. LMDB reports a short write
 * (disk full) as EIO, which would leave the user guessing. */
static bool store_fs_full(store_kv *kv)
{
    struct statvfs vfs;
    int fd;

    if (kv->env == NULL || mdb_env_get_fd(kv->env, &fd) != 0 || fstatvfs(fd, &vfs) != 0)
        return false;
    return (uint64_t)vfs.f_bavail * vfs.f_frsize < 64 * 1024;
}

/* Every LMDB (and errno, which LMDB passes through) code goes through here, once. */
int store_mdb_err(store_kv *kv, int rc, const char *what)
{
    int code;

    if (rc < 0 && rc >= SKR_ERR_MIN)
        return rc; /* already ours (store_db_put's journal), errmsg already set */
    switch (rc) {
    case EIO:
    case ENOSPC:
    case EDQUOT:
        if (store_fs_full(kv)) {
            snprintf(kv->errmsg, sizeof kv->errmsg,
                     "%s: No space left on device (the hub's file system is full)", what);
            return SKR_EINTERNAL;
        }
        code = SKR_EINTERNAL;
        break;
    case MDB_SUCCESS:          return 0;
    case MDB_MAP_FULL:         return STORE_EGROW;  /* not an error: grow and retry */
    case MDB_MAP_RESIZED:      return STORE_EREMAP; /* another process grew the map */
    case MDB_NOTFOUND:         code = SKR_ENOT_FOUND; break;
    case MDB_KEYEXIST:         code = SKR_EEXISTS; break;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:          code = SKR_EINTEGRITY; break;
    case MDB_READERS_FULL:     code = SKR_EBUSY; break;
    case ENOMEM:               code = SKR_ENOMEM; break;
    case EACCES:
    case EPERM:                code = SKR_EDENIED; break;
    case MDB_BAD_VALSIZE:      code = SKR_ETOO_LARGE; break;
    default:                   code = SKR_EINTERNAL; break;
    }
    snprintf(kv->errmsg, sizeof kv->errmsg, "%s: %s", what, mdb_strerror(rc));
    return code;
}

static void store_rtxn_drop(store_kv *kv)
{
    kv->snap = false;
    if (kv->rtxn != NULL) {
        mdb_txn_abort(kv->rtxn);
        kv->rtxn = NULL;
    }
}

/* Adopts the current map size; new_size 0 = the size another process set. No write txn
 * may be open. */
int store_remap(store_kv *kv, size_t new_size)
{
    MDB_envinfo info;
    int rc;

    store_rtxn_drop(kv);
    if ((rc = mdb_env_set_mapsize(kv->env, new_size)) != 0)
        return store_mdb_err(kv, rc, "set map size");
    if ((rc = mdb_env_info(kv->env, &info)) != 0)
        return store_mdb_err(kv, rc, "env info");
    kv->mapsize = info.me_mapsize;
    return 0;
}

int store_grow(store_kv *kv)
{
    if (kv->mapsize >= STORE_MAX_MAPSIZE)
        return store_kv_errf(kv, SKR_EINTERNAL, "hub map reached its limit of %zu bytes",
                          (size_t)STORE_MAX_MAPSIZE);
    return store_remap(kv, kv->mapsize * 2);
}

/* The read txn is kept across calls (reset, then renewed): no malloc or reader-slot search
 * per get. It is reset after each call so that it pins no old snapshot. */
int store_read_begin(store_kv *kv, MDB_txn **txn)
{
    int rc, r;

    if (kv->broken)
        return store_kv_errf(kv, SKR_EINTERNAL, "the hub journal could not be applied: "
                          "restart sekretsd");
    /* While the checkpoint thread commits, no mdb_* call here (store_ckpt.c). */
    if (kv->ckpt_running)
        return store_kv_errf(kv, STORE_ECHECKPOINT, "a checkpoint is being written");
    /* Journaled writes live in the open write txns until a checkpoint: reads go there. An
     * open batch is not durable yet: the caller holds replies until store_batch_commit. */
    if (kv->batch != NULL || kv->ckpt != NULL) {
        *txn = kv->batch != NULL ? kv->batch : kv->ckpt;
        return 0;
    }
    for (int tries = 0; tries < 4; tries++) {
        rc = kv->rtxn == NULL ? mdb_txn_begin(kv->env, NULL, MDB_RDONLY, &kv->rtxn)
                             : mdb_txn_renew(kv->rtxn);
        if (rc == 0) {
            *txn = kv->rtxn;
            return 0;
        }
        store_rtxn_drop(kv);
        r = store_mdb_err(kv, rc, "begin read");
        if (r != STORE_EREMAP)
            return r;
        if ((r = store_remap(kv, 0)) != 0)
            return r;
    }
    return store_kv_errf(kv, SKR_EINTERNAL, "begin read: the map keeps changing size");
}

/* Why the snapshot is safe to read while another thread commits the checkpoint txn
 * (store_ckpt.c): it is the data file's last commit, T - 1, which the checkpoint txn T
 * began on. Without a lock file LMDB takes T - 1 for the oldest snapshot any reader holds,
 * so T reuses only pages that commits up to T - 2 freed, none of which T - 1 reaches; its
 * meta page is the other one of the two (the txn copied T - 1's at its begin and reads no
 * meta page after that); and the map keeps its size while a commit runs. The snapshot is
 * reset once the commit returned (store_snap_end), before any write txn begins. */
bool store_read_sees(const store_kv *kv, const MDB_txn *txn, MDB_dbi dbi, const MDB_val *k)
{
    return !(kv->snap && txn == kv->rtxn && store_journal_wrote(kv, dbi, k));
}

/* (kv->snap is set only while a commit runs: store_snap_begin, store_snap_end) */
int store_read_begin_key(store_kv *kv, MDB_dbi dbi, const MDB_val *k, MDB_txn **txn)
{
    if (kv->snap && !kv->broken && store_read_sees(kv, kv->rtxn, dbi, k)) {
        *txn = kv->rtxn;
        return 0;
    }
    return store_read_begin(kv, txn);
}

bool store_snap_begin(store_kv *kv)
{
    int rc;

    kv->snap = false;
    if (kv->broken || kv->batch != NULL)
        return false;
    /* (rtxn is reset here: every read resets it when no write txn is open, and none
     * renews it while one is) */
    rc = kv->rtxn == NULL ? mdb_txn_begin(kv->env, NULL, MDB_RDONLY, &kv->rtxn)
                         : mdb_txn_renew(kv->rtxn);
    if (rc != 0) {
        store_rtxn_drop(kv);
        return false;
    }
    return kv->snap = true;
}

void store_snap_end(store_kv *kv)
{
    if (kv->snap && kv->rtxn != NULL)
        mdb_txn_reset(kv->rtxn);
    kv->snap = false;
}

void store_read_end(store_kv *kv)
{
    if (kv->snap)
        return; /* the snapshot lives until the commit has returned */
    if (kv->batch != NULL || kv->ckpt != NULL)
        return; /* write txns live on until the commit or checkpoint */
    if (kv->rtxn != NULL)
        mdb_txn_reset(kv->rtxn);
}

/* True when the open file has no name left. Asks statx for the link count alone: an
 * fstat also reads the times, and since Linux 6.13 a read ctime makes the next write
 * take a fine-grained timestamp, which dirties the inode on every write, so each O_DSYNC
 * journal write would also write the inode block (measured: 250 vs 185 us per write). */
bool store_fd_unlinked(int fd)
{
    struct statx sx;
    struct stat st;

    if (statx(fd, "", AT_EMPTY_PATH, STATX_NLINK, &sx) == 0 && (sx.stx_mask & STATX_NLINK))
        return sx.stx_nlink == 0;
    /* no statx (a kernel before 4.11, a seccomp filter): the check must not switch off */
    return fstat(fd, &st) == 0 && st.st_nlink == 0;
}

/* A write into a data file (or journal) that was deleted under the daemon would be
 * acknowledged and lost: refuse it. Two statx calls per transaction. */
static bool store_watched_unlinked(const store_kv *kv)
{
    for (unsigned i = 0; i < kv->nwatch; i++)
        if (store_fd_unlinked(kv->watch[i]))
            return true;
    return false;
}

int store_kv_watch(store_kv *kv, int fd)
{
    if (kv->nwatch == STORE_KV_WATCH_MAX)
        return SKR_EINVAL;
    kv->watch[kv->nwatch++] = fd;
    return 0;
}

int store_check_file(store_kv *kv)
{
    int fd;

    if ((mdb_env_get_fd(kv->env, &fd) == 0 && store_fd_unlinked(fd)) ||
        (kv->jfd >= 0 && store_fd_unlinked(kv->jfd)) || store_watched_unlinked(kv))
        return store_kv_errf(kv, SKR_EINTERNAL, "the hub file was deleted while sekretsd ran: "
                          "writes are refused (restart sekretsd)");
    if (kv->broken)
        return store_kv_errf(kv, SKR_EINTERNAL, "the hub journal could not be applied: "
                          "restart sekretsd");
    return 0;
}

/* One write = one txn, committed (and synced: the env has no NOSYNC flag) before return.
 * Journaled batches are checkpointed first: the data file then holds everything, in order.
 * A full map is never the caller's problem: abort, double the map, run fn again. */

int store_write(store_kv *kv, store_txn_fn fn, void *ctx)
{
    MDB_txn *txn;
    int rc, r;

    if (kv->batching)
        return store_kv_errf(kv, SKR_EBUSY, "a write batch is open: commit it first");
    (void)store_kv_checkpoint_finish(kv); /* before any mdb_* call; its failure: below */
    if ((r = store_check_file(kv)) != 0 || (r = store_kv_checkpoint(kv)) != 0)
        return r;
    for (;;) {
        if ((rc = mdb_txn_begin(kv->env, NULL, 0, &txn)) != 0) {
            r = store_mdb_err(kv, rc, "begin write");
        } else if ((r = fn(kv->owner, txn, ctx)) != 0) {
            mdb_txn_abort(txn);
        } else if ((rc = mdb_txn_commit(txn)) != 0) {
            r = store_mdb_err(kv, rc, "commit");
        } else {
            kv->trim_owed = true;
        }
        if (r == STORE_EGROW)
            r = store_grow(kv);
        else if (r == STORE_EREMAP)
            r = store_remap(kv, 0);
        else
            return r;
        if (r != 0)
            return r;
    }
}

/* What store_env_open runs in the txn that opens the databases. */
typedef struct store_open_then {
    store_kv *kv;
    store_txn_fn fn;
    void *ctx;
} store_open_then;

static int store_open_dbs(store *owner, MDB_txn *txn, void *ctx)
{
    const store_open_then *then = ctx;
    store_kv *kv = then->kv;
    int rc;

    if ((rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &kv->meta)) != 0 ||
        (rc = mdb_dbi_open(txn, "rec", MDB_CREATE, &kv->rec)) != 0 ||
        (rc = mdb_dbi_open(txn, "ord", MDB_CREATE, &kv->ord)) != 0 ||
        (rc = mdb_dbi_open(txn, "names", MDB_CREATE | MDB_DUPSORT | MDB_DUPFIXED,
                           &kv->names)) != 0 ||
        (rc = mdb_dbi_open(txn, "protos", MDB_CREATE, &kv->protos)) != 0)
        return store_mdb_err(kv, rc, "open databases");
    return then->fn != NULL ? then->fn(owner, txn, then->ctx) : 0;
}

/* With MDB_NOLOCK LMDB neither makes nor reads lock.mdb. The hub keeps one all the same,
 * 0600 and zero-filled to the size LMDB gives it (126 reader slots): the layout stays the
 * one the hub's checks, tests and tools know, and a tool that opens the hub with LMDB's
 * locking while no daemon runs takes the file exclusively and initialises it. (Not made
 * by an LMDB open and close here: that frees LMDB's 1-2 MiB page lists, which raises
 * glibc's mmap threshold, and large reader buffers would then stay on the heap.) */
#define STORE_LOCKFILE_BYTES 8192
static int store_lockfile_keep(store_kv *kv)
{
    char path[PATH_MAX];
    struct stat st;
    int fd, r = 0;

    if ((size_t)snprintf(path, sizeof path, "%s/lock.mdb", kv->dir) >= sizeof path)
        return store_kv_errf(kv, SKR_EINVAL, "hub folder: path too long");
    if ((fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
        return store_mdb_err(kv, errno, "lock.mdb");
    if (fstat(fd, &st) != 0 || (st.st_size == 0 && ftruncate(fd, STORE_LOCKFILE_BYTES) != 0))
        r = store_mdb_err(kv, errno, "lock.mdb");
    close(fd);
    return r;
}

/* The first open (kv->mapsize 0) takes the initial map size; a reopen keeps the current
 * one: the file may already be bigger than the initial one. */
int store_env_open(store_kv *kv, store_txn_fn fn, void *ctx)
{
    size_t mapsize = kv->mapsize != 0 ? kv->mapsize : store_initial_mapsize;
    store_open_then then = { kv, fn, ctx };
    MDB_envinfo info;
    int rc;

    if ((rc = store_lockfile_keep(kv)) != 0)
        return rc;
    if ((rc = mdb_env_create(&kv->env)) != 0)
        return store_mdb_err(kv, rc, "create env");
    /* MDB_NOTLS: the reader slot belongs to our reused read txn, not to the thread, so
     * the store may be handed between threads (one at a time) and a reset read txn
     * never collides with the thread's other txns. MDB_NOLOCK: a checkpoint's write txn
     * is committed on another thread than the one that began it, which LMDB's writer
     * mutex forbids; the flock on `journal` (taken before this open) keeps every other
     * process out, and the store serializes its own calls (store_ckpt.c says how).
     * No NOSYNC/NOMETASYNC: commit syncs. */
    if ((rc = mdb_env_set_maxdbs(kv->env, 5)) != 0 ||
        (rc = mdb_env_set_mapsize(kv->env, mapsize)) != 0 ||
        (rc = mdb_env_open(kv->env, kv->dir, MDB_NOTLS | MDB_NOLOCK, 0600)) != 0)
        return store_mdb_err(kv, rc, "open env");
    if ((rc = mdb_env_info(kv->env, &info)) != 0)
        return store_mdb_err(kv, rc, "env info");
    kv->mapsize = info.me_mapsize;
    return store_write(kv, store_open_dbs, &then);
}

void store_env_close(store_kv *kv)
{
    if (kv->ncur != NULL)
        mdb_cursor_close(kv->ncur);
    kv->ncur = NULL;
    store_rtxn_drop(kv);
    if (kv->env != NULL)
        mdb_env_close(kv->env);
    kv->env = NULL;
}

/* The same map size, the same databases; what the layers above loaded from meta at open
 * stays as it is (the file holds the same content). A failure leaves no environment:
 * every later call fails (broken) until a restart. */
int store_env_reopen(store_kv *kv)
{
    int r;

    store_env_close(kv);
    if ((r = store_env_open(kv, NULL, NULL)) != 0)
        kv->broken = true;
    return r;
}
