/*
 * daemon/store/store_api.c - the hub's calls (store.h) that the kv layer implements,
 * handed kv's state (hub keys, the top layer: it alone reads struct store whole besides
 * the layers' own files, so kv needs no store_hub.h).
 */
#include "store_hub.h"
#include "store_kv.h"
#include "store_test.h"

const char *store_errmsg(const store *s)
{
    return s != NULL ? s->kv.errmsg : "no store";
}

int store_batch_begin(store *s)
{
    return store_kv_batch_begin(&s->kv);
}

int store_batch_commit(store *s)
{
    return store_kv_batch_commit(&s->kv);
}

void store_batch_async(store *s, void (*notify)(void *arg), void *arg)
{
    if (s != NULL)
        store_kv_batch_async(&s->kv, notify, arg);
}

int store_batch_commit_start(store *s)
{
    return store_kv_batch_commit_start(&s->kv);
}

bool store_batch_written(const store *s)
{
    return s == NULL || store_kv_batch_written(&s->kv);
}

int store_batch_commit_finish(store *s)
{
    return s != NULL ? store_kv_batch_commit_finish(&s->kv) : 0;
}

int store_checkpoint(store *s)
{
    return store_kv_checkpoint(&s->kv);
}

bool store_checkpoint_pending(const store *s)
{
    return store_kv_checkpoint_pending(&s->kv);
}

void store_checkpoint_async(store *s, void (*notify)(void *arg), void *arg)
{
    if (s != NULL)
        store_kv_checkpoint_async(&s->kv, notify, arg);
}

int store_checkpoint_start(store *s)
{
    return store_kv_checkpoint_start(&s->kv);
}

bool store_checkpoint_running(const store *s)
{
    return s != NULL && store_kv_checkpoint_running(&s->kv);
}

bool store_checkpoint_committed(const store *s)
{
    return s != NULL && store_kv_checkpoint_committed(&s->kv);
}

int store_checkpoint_finish(store *s)
{
    return s != NULL ? store_kv_checkpoint_finish(&s->kv) : 0;
}

int store_trim(store *s)
{
    return s != NULL ? store_kv_trim(&s->kv) : 0;
}

bool store_trim_pending(const store *s)
{
    return s != NULL && store_kv_trim_pending(&s->kv);
}

size_t store_test_mapsize(const store *s)
{
    return store_kv_test_mapsize(&s->kv);
}
