/*
 * daemon/store/store.c - records: get, post, put, delete. Layout in store_records.h.
 */
#include <string.h>
#include <time.h>

#include "store_hub.h"
#include "store_records.h"
#include "store_test.h"

static int64_t store_fixed_now;

void store_test_set_now(int64_t t)
{
    store_fixed_now = t;
}

int64_t store_now(void)
{
    return store_fixed_now != 0 ? store_fixed_now : (int64_t)time(NULL);
}

/* The protocol's set in the cache, from every byte (FNV-1a): from the length and the
 * first and last bytes alone, the 100 protocols p0..p99 of bench/run.sh shared 20 of 64
 * slots. */
static unsigned store_pcache_set(const char *protocol, size_t plen)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < plen; i++)
        h = (h ^ (uint8_t)protocol[i]) * 16777619u;
    return h % STORE_PCACHE_SETS;
}

void store_proto_hash(store *s, const char *protocol, size_t plen,
                      uint8_t hp[STORE_HASH_BYTES])
{
    unsigned set = store_pcache_set(protocol, plen);
    store_pcache *ways = s->recs.pcache[set];
    unsigned w = 0;

    while (w < 2 && (ways[w].len != plen || memcmp(ways[w].name, protocol, plen) != 0))
        w++;
    if (w == 2) { /* not cached: the way used less recently takes it */
        w = 1u - s->recs.pcache_last[set];
        store_hash_s(s->recs.suite, s->recs.keys + STORE_K_INDEX, "skr-proto", protocol, plen,
                     ways[w].hp);
        memcpy(ways[w].name, protocol, plen);
        ways[w].len = (uint8_t)plen;
        s->recs.pcache_misses++;
    }
    s->recs.pcache_last[set] = (uint8_t)w;
    memcpy(hp, ways[w].hp, STORE_HASH_BYTES);
}

unsigned store_test_pcache_set(const char *protocol)
{
    return store_pcache_set(protocol, strlen(protocol));
}

uint64_t store_test_pcache_misses(const store *s)
{
    return s->recs.pcache_misses;
}

/* One (protocol, name) pair, its look-up hashes and the rec key Hp || Hn. */
typedef struct store_slot {
    const char *protocol, *name;
    size_t plen, nlen;
    uint8_t key[2 * STORE_HASH_BYTES]; /* Hp || Hn */
} store_slot;

/* A decrypted record in the scratch. */
typedef struct store_pt {
    int64_t created, modified;
    const uint8_t *protocol, *name, *body;
    size_t plen, nlen, blen;
} store_pt;

static bool store_ahead_take(store *s, const char *name, size_t nlen,
                             uint8_t hn[STORE_HASH_BYTES]);

static int store_slot_make(store *s, store_slot *sl, const char *protocol, const char *name)
{
    sl->protocol = protocol;
    sl->name = name;
    sl->plen = protocol != NULL ? strnlen(protocol, STORE_MAX_PROTOCOL + 1) : 0;
    sl->nlen = name != NULL ? strnlen(name, STORE_MAX_NAME + 1) : 0;
    if ((protocol != NULL && (sl->plen == 0 || sl->plen > STORE_MAX_PROTOCOL)) ||
        sl->nlen == 0 || sl->nlen > STORE_MAX_NAME)
        return store_errf(s, SKR_EINVAL, "protocol must be 1..%d bytes, name 1..%d bytes",
                          STORE_MAX_PROTOCOL, STORE_MAX_NAME);
    if (s->recs.keys == NULL)
        return store_errf(s, SKR_ELOCKED, s->recs.initialized ? "hub locked"
                                                         : "hub not initialised");
    if (protocol != NULL)
        store_proto_hash(s, protocol, sl->plen, sl->key);
    if (!store_ahead_take(s, name, sl->nlen, sl->key + STORE_HASH_BYTES))
        store_hash_s(s->recs.suite, s->recs.keys + STORE_K_INDEX, "skr-name", name, sl->nlen,
                     sl->key + STORE_HASH_BYTES);
    return 0;
}

/* ---- gets announced ahead ---- */

/* The name's Hn from an announcement still waiting for its get (which it ends). */
static bool store_ahead_take(store *s, const char *name, size_t nlen,
                             uint8_t hn[STORE_HASH_BYTES])
{
    if (s->recs.ahead_live == 0)
        return false;
    for (unsigned i = 0; i < STORE_AHEAD; i++) {
        store_ahead *a = &s->recs.ahead[i];
        if (a->nlen == nlen && memcmp(a->name, name, nlen) == 0) {
            memcpy(hn, a->key + STORE_HASH_BYTES, STORE_HASH_BYTES);
            a->nlen = 0;
            s->recs.ahead_live--;
            return true;
        }
    }
    return false;
}

unsigned store_test_ahead_live(const store *s)
{
    return s->recs.ahead_live;
}

void store_get_ahead(store *s, const char *protocol, const char *name)
{
    store_records *r = &s->recs;
    store_slot sl;

    if (protocol == NULL || r->keys == NULL || !store_mirror_ahead(&s->mir) ||
        store_slot_make(s, &sl, protocol, name) != 0)
        return;
    /* the one announced before this has had a get's time for its slot to arrive */
    store_ahead *prev = &r->ahead[(r->ahead_next + STORE_AHEAD - 1) % STORE_AHEAD];
    if (prev->nlen != 0)
        store_mirror_prefetch_entry(&s->mir, prev->key);
    store_mirror_prefetch_slot(&s->mir, sl.key);

    store_ahead *a = &r->ahead[r->ahead_next];
    r->ahead_next = (r->ahead_next + 1) % STORE_AHEAD;
    if (a->nlen == 0)
        r->ahead_live++;
    a->nlen = (uint16_t)sl.nlen;
    memcpy(a->name, name, sl.nlen);
    memcpy(a->key, sl.key, sizeof a->key);
}

/* The mirror keeps a record's plaintext padded with zeros to a multiple of this, not to
 * its class (store_mirror.c says why): at most the largest record. */
#define STORE_REC_MIRROR_PAD 16

static size_t store_rec_used(const store_pt *pt)
{
    return STORE_REC_HEAD + pt->plen + pt->nlen + pt->blen;
}

static size_t store_rec_mirror_len(size_t used)
{
    size_t n = (used + STORE_REC_MIRROR_PAD - 1) / STORE_REC_MIRROR_PAD * STORE_REC_MIRROR_PAD;
    return n < STORE_REC_PT_MAX ? n : STORE_REC_PT_MAX;
}

/* A record plaintext p of n bytes, padded as LMDB holds it (to its class) or as the mirror
 * does, into pt (pointing into p). false: malformed. */
static bool store_rec_parse(const uint8_t *p, size_t n, bool mirrored, store_pt *pt)
{
    size_t used;

    if (n < STORE_REC_HEAD)
        return false;
    pt->created = (int64_t)store_get_u64(p);
    pt->modified = (int64_t)store_get_u64(p + 8);
    pt->plen = p[16];
    pt->nlen = (size_t)p[17] << 8 | p[18];
    pt->blen = (size_t)p[19] << 24 | (size_t)p[20] << 16 | (size_t)p[21] << 8 | p[22];
    used = store_rec_used(pt);
    if (mirrored ? used > n || n != store_rec_mirror_len(used) || !store_zeros(p + used, n - used)
                 : !store_pad_ok(p, used, n, STORE_REC_PAD_MIN, STORE_REC_PT_MAX))
        return false;
    pt->protocol = p + STORE_REC_HEAD;
    pt->name = pt->protocol + pt->plen;
    pt->body = pt->name + pt->nlen;
    return true;
}

/* Decrypts rec value v of key k into buf (STORE_REC_PT_MAX bytes), *n of them. */
static int store_rec_unseal(store *s, const MDB_val *k, const MDB_val *v, uint8_t *buf,
                            size_t *n)
{
    uint8_t ad[STORE_AD_MAX];
    size_t adlen;

    if (v->mv_size < STORE_REC_CLEAR)
        return SKR_EINTEGRITY;
    adlen = store_ad(ad, STORE_AD_REC, k, v->mv_data, STORE_REC_CLEAR);
    return store_unseal_s(s->recs.suite, s->recs.keys, ad, adlen, (const uint8_t *)v->mv_data +
                          STORE_REC_CLEAR, v->mv_size - STORE_REC_CLEAR, buf, STORE_REC_PT_MAX, n);
}

/* Decrypts rec value v of slot key k into the scratch. SKR_EINTEGRITY on any mismatch. */
static int store_rec_open(store *s, const MDB_val *k, const MDB_val *v, store_pt *pt)
{
    size_t n = 0;
    int r = store_rec_unseal(s, k, v, s->recs.scratch, &n);

    if (n > s->recs.scratch_used)
        s->recs.scratch_used = n;
    if (r != 0 || n < STORE_REC_HEAD)
        return store_errf(s, SKR_EINTEGRITY, "record failed authentication");
    if (!store_rec_parse(s->recs.scratch, n, false, pt))
        return store_errf(s, SKR_EINTEGRITY, "record is malformed");
    return 0;
}

void store_release(store *s)
{
    if (s == NULL || s->recs.scratch_used == 0)
        return;
    sodium_memzero(s->recs.scratch, s->recs.scratch_used);
    sodium_memzero(s->recs.scratch + STORE_REC_PT_MAX, STORE_STR_AREA);
    s->recs.scratch_used = 0;
}

/* Without a protocol: the name's single holder (names DB), else not_found / ambiguous. */
static int store_find_protocol(store *s, MDB_txn *txn, store_slot *sl)
{
    MDB_val k = { STORE_HASH_BYTES, sl->key + STORE_HASH_BYTES }, v;
    size_t count = 0;
    MDB_cursor *c;
    int rc, r = 0;

    if (txn != s->kv.rtxn) /* the batch's write txn: a cursor of its own */
        rc = mdb_cursor_open(txn, s->kv.names, &c);
    else if ((rc = s->kv.ncur != NULL ? mdb_cursor_renew(txn, s->kv.ncur)
                                   : mdb_cursor_open(txn, s->kv.names, &s->kv.ncur)) == 0)
        c = s->kv.ncur;
    if (rc != 0)
        return store_mdb_err(&s->kv, rc, "names cursor");
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY);
    if (rc == 0)
        rc = mdb_cursor_count(c, &count);
    if (rc != 0)
        r = store_mdb_err(&s->kv, rc, "names");
    else if (count > 1)
        r = store_errf(s, SKR_EAMBIGUOUS, "name held by %llu protocols",
                       (unsigned long long)count);
    else if (v.mv_size != STORE_HASH_BYTES)
        r = store_errf(s, SKR_EINTEGRITY, "names index is corrupt");
    else
        memcpy(sl->key, v.mv_data, STORE_HASH_BYTES);
    if (c != s->kv.ncur)
        mdb_cursor_close(c);
    return r;
}

/* Points *out at record pt (opened into the scratch) of slot sl. */
static int store_rec_fill(store *s, const store_slot *sl, const store_pt *pt, store_record *out)
{
    char *str = (char *)s->recs.scratch + STORE_REC_PT_MAX;

    /* The AD binds the value to Hp || Hn; the names guard against a hash collision. */
    if (pt->nlen != sl->nlen || memcmp(pt->name, sl->name, sl->nlen) != 0 ||
        (sl->protocol != NULL &&
         (pt->plen != sl->plen || memcmp(pt->protocol, sl->protocol, sl->plen) != 0)))
        return store_errf(s, SKR_EINTEGRITY, "record does not hold the name looked up");
    memcpy(str, pt->protocol, pt->plen);
    str[pt->plen] = '\0';
    memcpy(str + pt->plen + 1, pt->name, pt->nlen);
    str[pt->plen + 1 + pt->nlen] = '\0';
    *out = (store_record){ .protocol = str, .protocol_len = pt->plen,
                           .name = str + pt->plen + 1, .name_len = pt->nlen,
                           .body = pt->body, .body_len = pt->blen,
                           .created = pt->created, .modified = pt->modified };
    return 0;
}

/* The record of slot sl in the mirror, opened into pt (the scratch), its clear prefix
 * into clear. A record there is LMDB's current one (store_mirror.c: the mirror holds only
 * its records' latest durable values, and a write drops its record's entries before it
 * writes), so neither a get nor a replace of a mirrored record reads the B-tree or asks
 * its ord entry. */
static bool store_mirror_open(store *s, const store_slot *sl, uint8_t clear[STORE_REC_CLEAR],
                              store_pt *pt)
{
    size_t pos = 0, n;

    while (store_mirror_next(&s->mir, sl->key, &pos, clear, s->recs.scratch, STORE_REC_PT_MAX,
                             &n)) {
        if (n > s->recs.scratch_used)
            s->recs.scratch_used = n;
        if (store_rec_parse(s->recs.scratch, n, true, pt))
            return true;
        store_release(s); /* (never: the mirror seals only what parses) */
    }
    return false;
}

/* How a record goes into the mirror: store_mirror_put, _add or _fill (store_cache.h). */
typedef void store_mirror_into_fn(store_mirror *m, const uint8_t key[2 * STORE_HASH_BYTES],
                                  const uint8_t clear[STORE_REC_CLEAR], const uint8_t *pt,
                                  size_t n);

/* Hands the mirror record pt (in buf, padded as LMDB holds it) of rec key k with clear
 * prefix clear, padded as the mirror keeps it. */
static void store_mirror_take(store *s, const uint8_t *k, const uint8_t *clear,
                              const uint8_t *buf, const store_pt *pt, store_mirror_into_fn *into)
{
    into(&s->mir, k, clear, buf, store_rec_mirror_len(store_rec_used(pt)));
}

/* The mirror's value of the slot's key, if one of its tag's entries opens with it (a name
 * that then differs, a hash collision, asks LMDB, which refuses it). */
static bool store_mirror_answer(store *s, store_slot *sl, store_record *out)
{
    uint8_t clear[STORE_REC_CLEAR];
    store_pt pt;

    if (!store_mirror_open(s, sl, clear, &pt))
        return false;
    if (store_rec_fill(s, sl, &pt, out) == 0)
        return true;
    store_release(s);
    return false;
}

static int store_get_txn(store *s, MDB_txn *txn, store_slot *sl, store_record *out)
{
    MDB_val k = { sizeof sl->key, sl->key }, v;
    store_pt pt;
    int rc, r;

    if (sl->protocol == NULL) {
        if ((r = store_find_protocol(s, txn, sl)) != 0)
            return r;
        /* The pair is known now: the mirror may answer, which spares the ord look-up
         * (its values are current; another key's value fails and LMDB answers). */
        if (store_mirror_answer(s, sl, out))
            return 0;
        if (!store_read_sees(&s->kv, txn, s->kv.rec, &k)) /* the snapshot's is old */
            return store_errf(s, STORE_ECHECKPOINT, "a checkpoint is being written");
    }
    if ((rc = mdb_get(txn, s->kv.rec, &k, &v)) != 0) {
        /* A name the index knows must have its record. */
        if (rc == MDB_NOTFOUND && sl->protocol == NULL)
            return store_errf(s, SKR_EINTEGRITY, "names index points to no record");
        return store_mdb_err(&s->kv, rc, "get");
    }
    if ((r = store_rec_open(s, &k, &v, &pt)) != 0 || (r = store_rec_fill(s, sl, &pt, out)) != 0 ||
        (r = store_rec_current(s, txn, &k, &v)) != 0)
        return r;
    if (txn != s->kv.batch) { /* durable: the mirror may serve it from now on */
        store_mirror_take(s, sl->key, v.mv_data, s->recs.scratch, &pt, store_mirror_add);
        store_stack_wipe(); /* (a miss: rare) */
    }
    return 0;
}

/* A get the mirror answers: its value opened with this slot's key. Anything else (no
 * entry, another key's value under the same tag, a corrupt value) asks LMDB. The mirror
 * holds only values known to be their record's latest version (checked against `ord`
 * when it took them from LMDB, or written by this process), so no ord look-up here. */
static bool store_get_mirrored(store *s, store_slot *sl, store_record *out)
{
    if (sl->protocol == NULL || s->kv.broken)
        return false;
    if (store_mirror_answer(s, sl, out))
        return true;
    s->mir.misses++;
    return false;
}

int store_get(store *s, const char *protocol, const char *name, store_record *out)
{
    store_slot sl;
    MDB_txn *txn;
    int r;

    store_release(s);
    if ((r = store_slot_make(s, &sl, protocol, name)) != 0)
        return r;
    if (store_get_mirrored(s, &sl, out))
        return 0;
    /* A get starts at its rec key (with a protocol) or its name's names entry, and while
     * a checkpoint commits it may read the commit before (store_kv.h). */
    MDB_val k = sl.protocol != NULL ? (MDB_val){ sizeof sl.key, sl.key }
                                    : (MDB_val){ STORE_HASH_BYTES, sl.key + STORE_HASH_BYTES };
    if ((r = store_read_begin_key(&s->kv, sl.protocol != NULL ? s->kv.rec : s->kv.names, &k,
                                  &txn)) != 0)
        return r;
    r = store_get_txn(s, txn, &sl, out);
    store_read_end(&s->kv);
    if (r != 0)
        store_release(s);
    return r;
}

/* ---- writes ---- */

/* Opens rec value v of key k into s->recs.mirbuf and hands it to the mirror; false: it
 * does not open. The plaintext is wiped. */
static bool store_mirror_reseal(store *s, const MDB_val *k, const MDB_val *v,
                                store_mirror_into_fn *into)
{
    size_t n = 0;
    store_pt pt;
    bool ok = store_rec_unseal(s, k, v, s->recs.mirbuf, &n) == 0 &&
              store_rec_parse(s->recs.mirbuf, n, false, &pt);

    if (ok)
        store_mirror_take(s, k->mv_data, v->mv_data, s->recs.mirbuf, &pt, into);
    sodium_memzero(s->recs.mirbuf, n);
    return ok;
}

/* ---- the mirror entries of a batch's puts, sealed at the put (store_stage) ---- */

typedef struct store_staged {
    uint8_t key[2 * STORE_HASH_BYTES];
    uint8_t clear[STORE_REC_CLEAR];     /* the LMDB value's seq and ver */
    uint8_t mac[STORE_MAC_BYTES];       /* and its last bytes: its seal's tag */
    uint32_t vlen;                      /* its length */
    uint32_t n;                         /* the mirror plaintext's */
    uint32_t bytes;                     /* the entry's, which follows */
} store_staged;

/* How many entries the durable walk looks past one that is not its op's: those left by
 * writes that failed (or ran again) in between. */
#define STORE_STAGE_SCAN 8

void store_rec_stage_reset(store *s)
{
    s->recs.stage.used = s->recs.stage.next = 0;
}

void store_rec_stage_free(store *s)
{
    store_stage *st = &s->recs.stage;

    if (st->buf != NULL)
        sodium_memzero(st->buf, st->cap);
    free(st->buf);
    *st = (store_stage){ 0 };
}

static bool store_stage_room(store_stage *st, size_t more)
{
    size_t cap = st->cap != 0 ? st->cap : (size_t)64 << 10;
    uint8_t *p;

    if (more > STORE_STAGE_MAX - st->used)
        return false;
    while (cap - st->used < more)
        cap *= 2;
    if (cap == st->cap)
        return true;
    if (cap > STORE_STAGE_MAX)
        cap = STORE_STAGE_MAX;
    if ((p = realloc(st->buf, cap)) == NULL)
        return false;
    st->buf = p;
    st->cap = cap;
    return true;
}

/* A batched rec put (key k, LMDB value v) of plaintext pt (n bytes as the mirror pads
 * it): its mirror entry, sealed now. Best effort: without it, the walk opens v. */
static void store_stage_put(store *s, const MDB_val *k, const MDB_val *v, const uint8_t *pt,
                            size_t n)
{
    store_stage *st = &s->recs.stage;
    store_staged h;

    if (!s->kv.batching || s->mir.nslots == 0 || v->mv_size < STORE_REC_CLEAR + STORE_MAC_BYTES)
        return;
    if (st->gen != s->mir.gen) { /* another mirror's: none of it can go in this one */
        store_rec_stage_reset(s);
        st->gen = s->mir.gen;
    }
    if (!store_stage_room(st, sizeof h + STORE_MIRROR_ENTRY_MAX(n)))
        return;
    memcpy(h.key, k->mv_data, sizeof h.key);
    memcpy(h.clear, v->mv_data, sizeof h.clear);
    memcpy(h.mac, (const uint8_t *)v->mv_data + v->mv_size - STORE_MAC_BYTES, sizeof h.mac);
    h.vlen = (uint32_t)v->mv_size;
    h.n = (uint32_t)n;
    h.bytes = (uint32_t)store_mirror_seal(&s->mir, h.key, h.clear, pt, n,
                                          st->buf + st->used + sizeof h);
    if (h.bytes == 0)
        return;
    memcpy(st->buf + st->used, &h, sizeof h);
    st->used += sizeof h + h.bytes;
}

static bool store_staged_is(const store_staged *h, const MDB_val *k, const MDB_val *v)
{
    return h->vlen == v->mv_size && memcmp(h->key, k->mv_data, sizeof h->key) == 0 &&
           memcmp(h->clear, v->mv_data, sizeof h->clear) == 0 &&
           memcmp(h->mac, (const uint8_t *)v->mv_data + v->mv_size - STORE_MAC_BYTES,
                  sizeof h->mac) == 0;
}

/* The durable walk's rec put (k, v): true when its staged entry went into the mirror. */
static bool store_stage_take(store *s, const MDB_val *k, const MDB_val *v)
{
    store_stage *st = &s->recs.stage;
    size_t at = st->next;
    store_staged h;

    if (st->gen != s->mir.gen || v->mv_size < STORE_REC_CLEAR + STORE_MAC_BYTES)
        return false;
    for (unsigned tries = 0; tries < STORE_STAGE_SCAN && at < st->used; tries++) {
        memcpy(&h, st->buf + at, sizeof h);
        if (store_staged_is(&h, k, v)) {
            store_mirror_put_sealed(&s->mir, h.key, store_get_u64(h.clear),
                                    st->buf + at + sizeof h, h.bytes, h.n);
            st->next = at + sizeof h + h.bytes;
            st->taken++;
            return true;
        }
        at += sizeof h + h.bytes;
    }
    return false;
}

/* The records layer feeds the mirror: each rec write drops its key's entries first (below),
 * and a batch's values go in once the journal made them durable, opened and sealed again
 * under the mirror's key (store_mirror.c says why). */
void store_rec_batch_durable(store *s)
{
    size_t pos = 0;
    store_jop op;

    if (s->mir.nslots == 0)
        return; /* no mirror (locked, or no memory): nothing to walk */
    while (store_journal_next(&s->kv, &pos, &op)) {
        if (op.dbi != s->kv.rec || op.k.mv_size != 2 * STORE_HASH_BYTES)
            continue;
        if (op.put && store_stage_take(s, &op.k, &op.v))
            continue; /* sealed at the put: nothing to open */
        /* a put that does not open (never: the store wrote it) drops the tag's entries */
        if (!op.put || !store_mirror_reseal(s, &op.k, &op.v, store_mirror_put))
            store_mirror_drop(&s->mir, op.k.mv_data);
    }
    store_rec_stage_reset(s);
    store_stack_wipe();
}

/* The build's store_mirror_take_fn: a rec value that carries its ord version. */
static void store_rec_mirror_fill(store *s, const MDB_val *k, const MDB_val *v)
{
    (void)store_mirror_reseal(s, k, v, store_mirror_fill);
}

static store_mirror_feed store_rec_feed(const store *s)
{
    return (store_mirror_feed){ .ord_version = store_ord_version,
                                .take = store_rec_mirror_fill, .suite = s->recs.suite };
}

void store_rec_mirror_start(store *s)
{
    store_mirror_feed feed = store_rec_feed(s);

    store_mirror_start(&s->mir, &s->kv, &feed);
}

void store_rec_mirror_build(store *s)
{
    store_mirror_feed feed = store_rec_feed(s);

    store_mirror_build(&s->mir, &s->kv, &feed);
}

/* A batch the mirror was fed was lost after all (s->kv.batch_lost: its record's write
 * failed): each rec key it wrote loses its entries, whatever their seq, so that the mirror
 * holds nothing of it (a miss reads LMDB, rebuilt without the batch). */
void store_rec_batch_lost(store *s)
{
    size_t pos = 0;
    store_jop op;

    if (s->mir.nslots == 0)
        return;
    while (store_journal_next(&s->kv, &pos, &op))
        if (op.dbi == s->kv.rec && op.k.mv_size == 2 * STORE_HASH_BYTES)
            store_mirror_drop(&s->mir, op.k.mv_data);
}

typedef struct store_wr {
    store_slot sl;
    const uint8_t *body;
    size_t blen;
    bool post;
    bool done;     /* out: created (post/put) or deleted (delete) */
    int64_t created, modified; /* STORE_TIME_NOW: not given */
} store_wr;

/* Seals (count, protocol) for protos, or deletes the entry when count reaches 0. */
static int store_proto_add(store *s, MDB_txn *txn, const store_slot *sl, int delta)
{
    uint8_t sealed[STORE_PROTO_SEALED_MAX], proto[STORE_MAX_PROTOCOL];
    MDB_val k = { STORE_HASH_BYTES, (void *)sl->key }, v;
    uint64_t count = 0;
    size_t plen;
    int rc, r;

    rc = mdb_get(txn, s->kv.protos, &k, &v);
    if (rc == 0) {
        if ((r = store_proto_open(s, &k, &v, &count, proto, &plen)) != 0)
            return r;
    } else if (rc != MDB_NOTFOUND) {
        return store_mdb_err(&s->kv, rc, "protocol");
    }
    count += (uint64_t)(int64_t)delta;
    if (count == 0 || (delta < 0 && rc == MDB_NOTFOUND))
        return rc == 0 && (rc = store_db_del(&s->kv, txn, s->kv.protos, &k, NULL)) != 0
                   ? store_mdb_err(&s->kv, rc, "delete protocol") : 0;
    v.mv_size = store_proto_seal(s, &k, count, sl->protocol, sl->plen, sealed);
    v.mv_data = sealed;
    if ((rc = store_db_put(&s->kv, txn, s->kv.protos, &k, &v, 0)) != 0)
        return store_mdb_err(&s->kv, rc, "write protocol");
    return 0;
}

/* The next number of the hub-wide write counter: the version of this write, and for a new
 * record its creation-order number too (a re-posted name goes last). Inside a batch the
 * counter is a held put (store_kv_put_held): written once, when the batch is sealed. */
static int store_next_seq(store *s, MDB_txn *txn, uint8_t seq_be[8])
{
    MDB_val k = { 3, (void *)"seq" }, v;
    uint8_t next[8];
    int rc;

    if (!store_kv_held(&s->kv, s->kv.meta, &k, &v) &&
        (rc = mdb_get(txn, s->kv.meta, &k, &v)) != 0)
        return store_mdb_err(&s->kv, rc, "read seq");
    if (v.mv_size != 8)
        return store_errf(s, SKR_EINTEGRITY, "seq counter is corrupt");
    memcpy(seq_be, v.mv_data, 8);
    store_put_u64(next, store_get_u64(seq_be) + 1);
    v.mv_size = 8;
    v.mv_data = next;
    if ((rc = store_kv_put_held(&s->kv, txn, s->kv.meta, &k, &v)) != 0)
        return store_mdb_err(&s->kv, rc, "write seq");
    return 0;
}

/* The rec value of version ver; then the ord entry Hp || seq that names ver. */
static int store_rec_write(store *s, MDB_txn *txn, const store_wr *w, const uint8_t seq_be[8],
                           const uint8_t ver[8], int64_t created, int64_t modified)
{
    const store_slot *sl = &w->sl;
    size_t used = STORE_REC_HEAD + sl->plen + sl->nlen + w->blen, adlen;
    size_t n = store_pad_class(used, STORE_REC_PAD_MIN, STORE_REC_PT_MAX);
    MDB_val k = { sizeof sl->key, (void *)sl->key }, v;
    uint8_t ad[STORE_AD_MAX], *p = s->recs.scratch, ok[STORE_HASH_BYTES + 8];
    uint8_t osealed[STORE_ORD_SEALED_MAX];
    MDB_val okv = { sizeof ok, ok }, ov = { 0, osealed };
    int rc;

    store_put_u64(p, (uint64_t)created);
    store_put_u64(p + 8, (uint64_t)modified);
    p[16] = (uint8_t)sl->plen;
    p[17] = (uint8_t)(sl->nlen >> 8);
    p[18] = (uint8_t)sl->nlen;
    p[19] = (uint8_t)(w->blen >> 24);
    p[20] = (uint8_t)(w->blen >> 16);
    p[21] = (uint8_t)(w->blen >> 8);
    p[22] = (uint8_t)w->blen;
    memcpy(p + STORE_REC_HEAD, sl->protocol, sl->plen);
    memcpy(p + STORE_REC_HEAD + sl->plen, sl->name, sl->nlen);
    memcpy(p + STORE_REC_HEAD + sl->plen + sl->nlen, w->body, w->blen);
    memset(p + used, 0, n - used);
    if (n > s->recs.scratch_used)
        s->recs.scratch_used = n;
    v.mv_size = STORE_REC_CLEAR + store_seal_overhead(s->recs.suite) + n;
    v.mv_data = s->recs.sealbuf;
    memcpy(s->recs.sealbuf, seq_be, 8);
    memcpy(s->recs.sealbuf + 8, ver, 8);
    adlen = store_ad(ad, STORE_AD_REC, &k, s->recs.sealbuf, STORE_REC_CLEAR);
    store_seal_s(s->recs.suite, s->recs.keys, ad, adlen, p, n, s->recs.sealbuf + STORE_REC_CLEAR);
    /* the record's entries go until the write is durable (store_mirror.c) */
    store_mirror_drop_record(&s->mir, sl->key, store_get_u64(seq_be));
    if ((rc = store_db_put(&s->kv, txn, s->kv.rec, &k, &v, 0)) != 0)
        return store_mdb_err(&s->kv, rc, "write record");
    store_stage_put(s, &k, &v, p, store_rec_mirror_len(used));
    memcpy(ok, sl->key, STORE_HASH_BYTES);
    memcpy(ok + STORE_HASH_BYTES, seq_be, 8);
    ov.mv_size = store_ord_seal(s, &okv, ver, sl->name, sl->nlen, osealed);
    if ((rc = store_db_put(&s->kv, txn, s->kv.ord, &okv, &ov, 0)) != 0)
        return store_mdb_err(&s->kv, rc, "write order");
    return 0;
}

/* The new name's entries in names (get without protocol) and protos. */
static int store_index_add(store *s, MDB_txn *txn, const store_slot *sl)
{
    MDB_val nk = { STORE_HASH_BYTES, (void *)(sl->key + STORE_HASH_BYTES) };
    MDB_val nv = { STORE_HASH_BYTES, (void *)sl->key };
    int rc;

    if ((rc = store_db_put(&s->kv, txn, s->kv.names, &nk, &nv, MDB_NODUPDATA)) != 0 &&
        rc != MDB_KEYEXIST)
        return store_mdb_err(&s->kv, rc, "write name index");
    return store_proto_add(s, txn, sl, 1);
}

/* STORE_TIME_NOW or a time the wire can carry (PROTOCOL.md: post and put). */
static bool store_time_ok(int64_t t)
{
    return t == STORE_TIME_NOW || (t >= 0 && t <= STORE_TIME_MAX);
}

/* A time the caller gave, or else the default (now, or the replaced record's created). */
static int64_t pick_time(int64_t given, int64_t dflt)
{
    return given == STORE_TIME_NOW ? dflt : given;
}

static int store_put_txn(store *s, MDB_txn *txn, void *ctx)
{
    store_wr *w = ctx;
    MDB_val k = { sizeof w->sl.key, w->sl.key }, v;
    int64_t now = store_now();
    uint8_t seq[8], ver[8], clear[STORE_REC_CLEAR];
    store_pt old;
    bool mirrored = store_mirror_open(s, &w->sl, clear, &old);
    int rc = mirrored ? 0 : mdb_get(txn, s->kv.rec, &k, &v), r;

    if (rc == 0) {
        if (w->post)
            return store_errf(s, SKR_EEXISTS, "name already in that protocol");
        /* A replace keeps created and seq (so its place in the order); rec and ord get the
         * new version. A corrupt or rolled-back record is not silently replaced: delete
         * it first. The mirror's value is current; one read from LMDB is checked against
         * its ord entry (no entry of the mirror opened with this key: none holds it). */
        if (!mirrored && ((r = store_rec_open(s, &k, &v, &old)) != 0 ||
                          (r = store_rec_current(s, txn, &k, &v)) != 0))
            return r;
        memcpy(seq, mirrored ? clear : (const uint8_t *)v.mv_data, 8);
        w->done = false;
        if ((r = store_next_seq(s, txn, ver)) != 0)
            return r;
        return store_rec_write(s, txn, w, seq, ver, pick_time(w->created, old.created),
                               pick_time(w->modified, now));
    }
    if (rc != MDB_NOTFOUND)
        return store_mdb_err(&s->kv, rc, "get");
    if ((r = store_next_seq(s, txn, seq)) != 0 ||
        (r = store_rec_write(s, txn, w, seq, seq, pick_time(w->created, now),
                             pick_time(w->modified, now))) != 0 ||
        (r = store_index_add(s, txn, &w->sl)) != 0)
        return r;
    w->done = true;
    return 0;
}

static int store_write_rec(store *s, const char *protocol, const char *name,
                           const uint8_t *body, size_t body_len, bool post, bool *created,
                           int64_t t_created, int64_t t_modified)
{
    store_wr w = { .body = body, .blen = body_len, .post = post, .created = t_created,
                   .modified = t_modified };
    int r;

    store_release(s);
    if (!store_time_ok(t_created) || !store_time_ok(t_modified))
        return store_errf(s, SKR_EINVAL, "time outside 0..%lld", (long long)STORE_TIME_MAX);
    if (protocol == NULL)
        return store_errf(s, SKR_EINVAL, "protocol missing");
    if (body == NULL || body_len == 0)
        return store_errf(s, SKR_EINVAL, "body missing");
    if (body_len > STORE_MAX_BODY)
        return store_errf(s, SKR_ETOO_LARGE, "body over %u bytes", STORE_MAX_BODY);
    if ((r = store_slot_make(s, &w.sl, protocol, name)) != 0)
        return r;
    r = store_write_rec_txn(&s->kv, store_put_txn, &w);
    store_release(s); /* the scratch held the plaintext body */
    if (r == 0 && created != NULL)
        *created = w.done;
    return r;
}

int store_post(store *s, const char *protocol, const char *name, const uint8_t *body,
               size_t body_len)
{
    return store_post_at(s, protocol, name, body, body_len, STORE_TIME_NOW, STORE_TIME_NOW);
}

int store_put(store *s, const char *protocol, const char *name, const uint8_t *body,
              size_t body_len, bool *created)
{
    return store_put_at(s, protocol, name, body, body_len, created, STORE_TIME_NOW,
                        STORE_TIME_NOW);
}

int store_post_at(store *s, const char *protocol, const char *name, const uint8_t *body,
                  size_t body_len, int64_t t_created, int64_t t_modified)
{
    return store_write_rec(s, protocol, name, body, body_len, true, NULL, t_created, t_modified);
}

int store_put_at(store *s, const char *protocol, const char *name, const uint8_t *body,
                 size_t body_len, bool *created, int64_t t_created, int64_t t_modified)
{
    return store_write_rec(s, protocol, name, body, body_len, false, created, t_created,
                           t_modified);
}

/* Works on a corrupt record too (seq is in clear): delete is how a user clears one. */
static int store_delete_txn(store *s, MDB_txn *txn, void *ctx)
{
    store_wr *w = ctx;
    MDB_val k = { sizeof w->sl.key, w->sl.key }, v;
    uint8_t ok[STORE_HASH_BYTES + 8];
    MDB_val okv = { sizeof ok, ok };
    MDB_val nk = { STORE_HASH_BYTES, w->sl.key + STORE_HASH_BYTES };
    MDB_val nv = { STORE_HASH_BYTES, w->sl.key };
    int rc;

    w->done = false;
    if ((rc = mdb_get(txn, s->kv.rec, &k, &v)) != 0)
        return rc == MDB_NOTFOUND ? 0 : store_mdb_err(&s->kv, rc, "get");
    memcpy(ok, w->sl.key, STORE_HASH_BYTES);
    memset(ok + STORE_HASH_BYTES, 0, 8);
    if (v.mv_size >= 8) {
        memcpy(ok + STORE_HASH_BYTES, v.mv_data, 8);
        store_mirror_drop_record(&s->mir, w->sl.key, store_get_u64(v.mv_data));
    } else { /* a value too short for its seq: no entry can say it is not the record's */
        store_mirror_drop(&s->mir, w->sl.key);
    }
    if ((rc = store_db_del(&s->kv, txn, s->kv.rec, &k, NULL)) != 0 ||
        ((rc = store_db_del(&s->kv, txn, s->kv.ord, &okv, NULL)) != 0 && rc != MDB_NOTFOUND) ||
        ((rc = store_db_del(&s->kv, txn, s->kv.names, &nk, &nv)) != 0 && rc != MDB_NOTFOUND))
        return store_mdb_err(&s->kv, rc, "delete");
    w->done = true;
    return store_proto_add(s, txn, &w->sl, -1);
}

int store_delete(store *s, const char *protocol, const char *name, bool *deleted)
{
    store_wr w = { 0 };
    int r;

    store_release(s);
    if (protocol == NULL)
        return store_errf(s, SKR_EINVAL, "protocol missing");
    if ((r = store_slot_make(s, &w.sl, protocol, name)) != 0)
        return r;
    if ((r = store_write_rec_txn(&s->kv, store_delete_txn, &w)) != 0)
        return r;
    if (deleted != NULL)
        *deleted = w.done;
    return 0;
}
