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
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

bool store_trim_pending(const store *s)
{
    return s != NULL && s->trim_owed;
}

int store_trim(store *s)
{
    char dir[4096];
    const char *path;
    size_t mapsize;
    int r;

    if (s == NULL || !s->trim_owed || s->batching || s->ckpt != NULL || s->batch != NULL)
        return 0; /* nothing written since, or writes still in memory only */
    /* A data file deleted under the daemon must not be created anew by the open. */
    if ((r = store_check_file(s)) != 0)
        return r;
    if (mdb_env_get_path(s->env, &path) != 0 || strlen(path) >= sizeof dir)
        return store_errf(s, SKR_EINTERNAL, "trim: hub path unknown");
    memcpy(dir, path, strlen(path) + 1);
    mapsize = s->mapsize;
    if (s->ncur != NULL)
        mdb_cursor_close(s->ncur);
    s->ncur = NULL;
    if (s->rtxn != NULL)
        mdb_txn_abort(s->rtxn);
    s->rtxn = NULL;
    mdb_env_close(s->env);
    s->env = NULL;
    if ((r = store_env_open(s, dir, mapsize)) != 0) {
        /* No environment: every call must fail, as after a failed journal replay. */
        s->broken = true;
        return r;
    }
    s->trim_owed = false;
    malloc_trim(0);
    return 0;
}
