/*
 * daemon/store/store_trim.c - giving back the memory a burst of writes left behind.
 *
 * Measured on a hub of 1,000,000 credentials put through the socket (bench/run.sh): the
 * daemon held 751 MB resident right after the puts, 150 MB after a restart. Two causes,
 * neither of them the mirror (134 MB arena + 12 MB table in both cases):
 *  - 543 MB of the data file's map: without MDB_WRITEMAP, LMDB reads every page a put's
 *    B-tree descent visits through its read-only map, and random keys visit every leaf,
 *    each fault mapping its cached neighbours too. The mirror drops these pages once at
 *    build time (store_mirror.c); writes map them all again.
 *  - 59 MB of heap: LMDB keeps each page a write txn dirtied on a free list of its own
 *    for the next txn (mdb_page_free), up to the largest txn's count (STORE_CKPT_MAX_PAGES
 *    of 4 KiB: 128 MiB), and gives it back only in mdb_env_close.
 * Once the writes are checkpointed and the daemon is quiet, store_trim closes and opens
 * the environment again (a fresh map, nothing resident; LMDB's page list freed) and
 * returns the freed heap to the system. It costs about a millisecond, a few more to unmap
 * a big resident map, once per burst (the daemon calls it from its quiet checkpoint).
 */
#include <malloc.h>

#include "store_kv.h"

bool store_kv_trim_pending(const store_kv *kv)
{
    return kv != NULL && kv->trim_owed;
}

int store_kv_trim(store_kv *kv)
{
    int r;

    if (kv == NULL || !kv->trim_owed || kv->batching || kv->ckpt != NULL || kv->batch != NULL ||
        kv->ckpt_running)
        return 0; /* nothing written since, or writes still in memory only */
    /* A data file deleted under the daemon must not be created anew by the open. */
    if ((r = store_check_file(kv)) != 0)
        return r;
    /* on failure no environment is left: every later call fails (broken) */
    if ((r = store_env_reopen(kv)) != 0)
        return r;
    kv->trim_owed = false;
    malloc_trim(0);
    return 0;
}
