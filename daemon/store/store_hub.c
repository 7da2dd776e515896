/*
 * daemon/store/store_hub.c - opening and closing the hub: the top of the store, over kv
 * (the journal's lock, the LMDB environment), records (the format version) and the hub
 * keys (meta, the key file). Below it no layer opens or loads another above it
 * (daemon/store/README.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_folder.h"
#include "store_hub.h"
#include "store_keys.h"

/* What the layers above kv keep of meta, read in the txn that opens the databases (so a
 * new hub gets its databases and its version in one commit, as before): the format
 * version (records; a new hub gets the current one) and whether the hub is initialised,
 * its suite and, a legacy hub, its KDF (hub keys). */
static int store_hub_load(store *s, MDB_txn *txn, void *ctx)
{
    int r;

    (void)ctx;
    if ((r = store_format_load(s, txn)) != 0)
        return r;
    return store_meta_load(s, txn);
}

/* The store's own buffers: the record plaintext scratch and the mirror's (guarded: they
 * hold secrets) and the sealed value on its way to LMDB. */
static store *store_hub_alloc(const char *dir)
{
    store *s = calloc(1, sizeof *s);

    if (s == NULL)
        return NULL;
    s->kv.jfd = -1;
    s->hk.kfd = -1;
    s->kv.owner = s;                               /* what kv hands the callbacks */
    s->kv.batch_durable = store_rec_batch_durable; /* records feed the mirror */
    s->kv.batch_lost = store_rec_batch_lost;       /* and take a lost batch out */
    if ((s->kv.dir = strdup(dir)) == NULL ||
        (s->recs.scratch = sodium_malloc(STORE_SCRATCH_BYTES)) == NULL ||
        (s->recs.mirbuf = sodium_malloc(STORE_REC_PT_MAX)) == NULL ||
        (s->recs.sealbuf = malloc(STORE_REC_CLEAR + STORE_SEAL_OVERHEAD + STORE_REC_PT_MAX)) == NULL) {
        store_close(s);
        return NULL;
    }
    return s;
}

/* The order matters: the journal's flock first (a second process is refused before it
 * touches LMDB), meta before the key file (store_ring_open checks the key LMDB names),
 * the key file before the journal's replay, and the format settled after the replay. */
int store_open(const char *dir, store **out, char err[STORE_ERRMSG_MAX])
{
    store *s = NULL;
    int r;

    err[0] = '\0';
    if (dir == NULL || out == NULL)
        return SKR_EINVAL;
    if (sodium_init() < 0) {
        snprintf(err, STORE_ERRMSG_MAX, "libsodium failed to initialise");
        return SKR_EINTERNAL;
    }
    if ((r = store_folder_prepare(dir, err)) != 0)
        return r;
    if ((s = store_hub_alloc(dir)) == NULL)
        return SKR_ENOMEM;
    if ((r = store_journal_lock(&s->kv, dir, err)) != 0)
        goto out;
    if ((r = store_env_open(&s->kv, store_hub_load, NULL)) != 0) {
        snprintf(err, STORE_ERRMSG_MAX, "hub %.100s: %.140s", dir, s->kv.errmsg);
        goto out;
    }
    if ((r = store_ring_open(s, err)) != 0)
        goto out;
    if ((r = store_journal_open(&s->kv, err)) != 0)
        goto out;
    if ((r = store_format_settle(s)) != 0) {
        snprintf(err, STORE_ERRMSG_MAX, "hub %.100s: %.140s", dir, s->kv.errmsg);
        goto out;
    }
    *out = s;
    s = NULL;
out:
    store_close(s);
    return r;
}

void store_close(store *s)
{
    if (s == NULL)
        return;
    (void)store_checkpoint_finish(s); /* failed: the journal keeps it for the next open */
    store_batch_abort(&s->kv);
    store_journal_close(&s->kv); /* checkpoints */
    store_lock(s);
    store_env_close(&s->kv);
    store_ring_close(s);
    free(s->recs.sealbuf);
    free(s->kv.dir);
    if (s->recs.scratch != NULL)
        sodium_free(s->recs.scratch); /* sodium_free wipes the region */
    if (s->recs.mirbuf != NULL)
        sodium_free(s->recs.mirbuf);
    free(s);
}

static int store_dir_join(char *buf, size_t cap, const char *base, const char *tail)
{
    int n = snprintf(buf, cap, "%s%s", base, tail);
    return n < 0 || (size_t)n >= cap ? SKR_EINVAL : 0;
}

int store_default_dir(char *buf, size_t cap)
{
    const char *v;

    if (buf == NULL)
        return SKR_EINVAL;
    if ((v = getenv("SEKRETS_HUB")) != NULL && v[0] != '\0')
        return store_dir_join(buf, cap, v, "");
    /* XDG: a relative XDG_DATA_HOME is invalid and must be ignored. */
    if ((v = getenv("XDG_DATA_HOME")) != NULL && v[0] == '/')
        return store_dir_join(buf, cap, v, "/sekrets/hub");
    if ((v = getenv("HOME")) != NULL && v[0] == '/')
        return store_dir_join(buf, cap, v, "/.local/share/sekrets/hub");
    return SKR_EINVAL;
}
