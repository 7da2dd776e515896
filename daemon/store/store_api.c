/*
 * daemon/store/store_api.c - the hub's calls (store.h, store_test.h) that the kv and cache
 * layers implement, handed their state (hub keys, the top layer: it reads struct store
 * whole, so that kv's and the cache's files need no store_hub.h).
 */
#include "store_cache.h"
#include "store_hub.h"
#include "store_kv.h"
#include "store_test.h"

const char *store_errmsg(const store *s)
{
    return s != NULL ? s->kv.errmsg : "no store";
}

int store_batch_begin(store *s)
{
    store_rec_stage_reset(s);
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

unsigned store_batch_in_flight(const store *s)
{
    return s != NULL ? store_kv_batch_in_flight(&s->kv) : 0;
}

bool store_batch_queueable(store *s)
{
    return s != NULL && store_kv_batch_queueable(&s->kv);
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

bool store_mirror_step(store *s, unsigned budget_us)
{
    return store_mirror_step_until(s, budget_us, 0, NULL, NULL);
}

bool store_mirror_step_until(store *s, unsigned budget_us, unsigned least_us,
                             bool (*stop)(void *arg), void *arg)
{
    return s != NULL && store_cache_step(&s->mir, &s->kv, budget_us, least_us, stop, arg);
}

bool store_mirror_building(const store *s)
{
    return s != NULL && store_cache_building(&s->mir);
}

bool store_test_mirror_wiped(const store *s)
{
    return store_cache_wiped(&s->mir);
}

size_t store_test_mirror_count(const store *s)
{
    return s->mir.count;
}

uint64_t store_test_mirror_misses(const store *s)
{
    return s->mir.misses;
}

uint64_t store_test_stage_taken(const store *s)
{
    return s->recs.stage.taken;
}
