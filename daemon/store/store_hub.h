/*
 * daemon/store/store_hub.h - struct store: each layer's state side by side. Not for the
 * daemon (store.h keeps struct store opaque).
 *
 * Each layer's header declares its own state (store_kv.h: store_kv; store_cache.h:
 * store_mirror; store_records.h: store_records; store_keys.h: store_hubkeys); this one
 * only puts them together, so it includes every layer's header. kv's .c files do not
 * include it: their functions take store_kv *. The files of the layers above kv include
 * it beside their own layer's header, because their functions still reach their state
 * through store * (s->mir, s->recs, s->hk): C needs the whole struct wherever a member
 * is read. No header includes it (tests/unit/store_layers.sh), so a
 * layer's declarations stay out of the layers below; what a lower layer's .c may still
 * read of a layer above is listed in daemon/store/README.md ("What still crosses").
 */
#ifndef DAEMON_STORE_HUB_H
#define DAEMON_STORE_HUB_H

#include "store.h"
#include "store_cache.h"
#include "store_keys.h"
#include "store_kv.h"
#include "store_records.h"

struct store {
    store_kv kv;            /* kv: LMDB, journal, batches, checkpoints */
    store_mirror mir;       /* cache: the rec values in memory */
    store_records recs;     /* records: the scratch, the sealed value, the format, Hp cache */
    store_hubkeys hk;       /* hub keys: the key file, its ring, the KDF */
};

/* The hub's one error message is kv's (s->kv.errmsg): the layers above set it so. */
#define store_errf(s, ...) store_kv_errf(&(s)->kv, __VA_ARGS__)

#endif
