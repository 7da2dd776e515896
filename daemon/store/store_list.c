/*
 * daemon/store/store_list.c - getDb (names in creation order), getHub (protocols) and the
 * counts (store_stats).
 *
 * Both decrypt everything first into a private buffer and only then call the lister: a
 * corrupt entry gives SKR_EINTEGRITY before `begin`, never half a listing, and the read
 * txn is not held while the caller's callbacks run. Neither decrypts a record body.
 */
#include <stdlib.h>
#include <string.h>

#include "store_hub.h"
#include "store_records.h"

/* A growable list of NUL-terminated strings with a count each; wiped when freed. */
typedef struct store_strs {
    uint8_t *buf;
    size_t len, cap, n;
} store_strs;

static void store_strs_free(store_strs *l)
{
    if (l->buf != NULL) {
        sodium_memzero(l->buf, l->len);
        free(l->buf);
    }
}

/* Entry: count (8) || len (2) || bytes || NUL. Returns a pointer to write len bytes. */
static uint8_t *store_strs_add(store_strs *l, size_t len, uint64_t count)
{
    size_t need = 8 + 2 + len + 1;
    uint8_t *p;

    if (l->cap - l->len < need) {
        size_t cap = l->cap ? l->cap * 2 : 4096;
        while (cap - l->len < need)
            cap *= 2;
        /* Not realloc: the old block held names and must be wiped before it is freed. */
        if ((p = malloc(cap)) == NULL)
            return NULL;
        if (l->buf != NULL)
            memcpy(p, l->buf, l->len);
        store_strs_free(l);
        l->buf = p;
        l->cap = cap;
    }
    p = l->buf + l->len;
    store_put_u64(p, count);
    p[8] = (uint8_t)(len >> 8);
    p[9] = (uint8_t)len;
    p[10 + len] = '\0';
    l->len += need;
    l->n++;
    return p + 10;
}

static int store_strs_emit(const store_strs *l, const store_lister *ls, uint8_t **index)
{
    int r;

    if ((r = ls->begin(ls->ctx, l->n)) != 0)
        return r;
    for (size_t i = 0; i < l->n; i++) {
        const uint8_t *p = index != NULL ? index[i] : NULL;
        if (p == NULL)
            return SKR_EINTERNAL;
        size_t len = (size_t)p[8] << 8 | p[9];
        if ((r = ls->item(ls->ctx, (const char *)p + 10, len, store_get_u64(p))) != 0)
            return r;
    }
    return 0;
}

static int store_list_ready(store *s, const store_lister *l)
{
    if (l == NULL || l->begin == NULL || l->item == NULL)
        return store_errf(s, SKR_EINVAL, "lister missing");
    if (s->recs.keys == NULL)
        return store_errf(s, SKR_ELOCKED, s->recs.initialized ? "hub locked"
                                                         : "hub not initialised");
    return 0;
}

/* Decrypts the names of protocol hp (ord keys hp || seq, so in creation order). */
static int store_db_collect(store *s, MDB_txn *txn, const uint8_t hp[STORE_HASH_BYTES],
                            store_strs *out)
{
    uint8_t start[STORE_HASH_BYTES + 8] = { 0 }, name[STORE_MAX_NAME], *dst;
    MDB_val k = { STORE_HASH_BYTES, (void *)hp }, v;
    MDB_cursor *c = NULL;
    size_t n;
    int rc, r = 0;

    if ((rc = mdb_get(txn, s->kv.protos, &k, &v)) != 0)
        return rc == MDB_NOTFOUND ? store_errf(s, SKR_ENOT_FOUND, "no such protocol")
                                  : store_mdb_err(&s->kv, rc, "protocol");
    memcpy(start, hp, STORE_HASH_BYTES);
    k.mv_size = sizeof start;
    k.mv_data = start;
    if ((rc = mdb_cursor_open(txn, s->kv.ord, &c)) != 0)
        return store_mdb_err(&s->kv, rc, "order cursor");
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != sizeof start || memcmp(k.mv_data, hp, STORE_HASH_BYTES) != 0)
            break;
        if ((r = store_ord_open(s, &k, &v, name, &n)) != 0)
            goto out;
        if ((dst = store_strs_add(out, n, 0)) == NULL) {
            r = store_errf(s, SKR_ENOMEM, "no memory for the listing");
            goto out;
        }
        memcpy(dst, name, n);
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        r = store_mdb_err(&s->kv, rc, "order");
out:
    sodium_memzero(name, sizeof name);
    mdb_cursor_close(c);
    return r;
}

/* Pointers to each entry of l, in order (or sorted by the caller). */
static uint8_t **store_strs_index(const store_strs *l)
{
    uint8_t **ix = calloc(l->n ? l->n : 1, sizeof *ix), *p;

    if (ix == NULL)
        return NULL;
    p = l->buf;
    for (size_t i = 0; i < l->n; i++) {
        ix[i] = p;
        p += 8 + 2 + ((size_t)p[8] << 8 | p[9]) + 1;
    }
    return ix;
}

int store_get_db(store *s, const char *protocol, const store_lister *l)
{
    uint8_t hp[STORE_HASH_BYTES], **ix = NULL;
    store_strs names = { 0 };
    MDB_txn *txn;
    size_t plen;
    int r;

    if ((r = store_list_ready(s, l)) != 0)
        return r;
    plen = protocol != NULL ? strnlen(protocol, STORE_MAX_PROTOCOL + 1) : 0;
    if (plen == 0 || plen > STORE_MAX_PROTOCOL)
        return store_errf(s, SKR_EINVAL, "protocol must be 1..%d bytes", STORE_MAX_PROTOCOL);
    store_proto_hash(s, protocol, plen, hp);
    if ((r = store_read_begin(&s->kv, &txn)) != 0)
        return r;
    r = store_db_collect(s, txn, hp, &names);
    store_read_end(&s->kv);
    if (r != 0)
        goto out;
    if ((ix = store_strs_index(&names)) == NULL) {
        r = store_errf(s, SKR_ENOMEM, "no memory for the listing");
        goto out;
    }
    r = store_strs_emit(&names, l, ix);
out:
    free(ix);
    store_strs_free(&names);
    return r;
}

static int store_hub_collect(store *s, MDB_txn *txn, store_strs *out)
{
    uint8_t proto[STORE_MAX_PROTOCOL], *dst;
    MDB_cursor *c = NULL;
    MDB_val k, v;
    uint64_t count;
    size_t n;
    int rc, r = 0;

    if ((rc = mdb_cursor_open(txn, s->kv.protos, &c)) != 0)
        return store_mdb_err(&s->kv, rc, "protocol cursor");
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if ((r = store_proto_open(s, &k, &v, &count, proto, &n)) != 0)
            goto out;
        if ((dst = store_strs_add(out, n, count)) == NULL) {
            r = store_errf(s, SKR_ENOMEM, "no memory for the listing");
            goto out;
        }
        memcpy(dst, proto, n);
    }
    if (rc != MDB_NOTFOUND)
        r = store_mdb_err(&s->kv, rc, "protocols");
out:
    sodium_memzero(proto, sizeof proto);
    mdb_cursor_close(c);
    return r;
}

/* Bytewise order; a prefix sorts first. */
static int store_cmp_entry(const void *a, const void *b)
{
    const uint8_t *x = *(uint8_t *const *)a, *y = *(uint8_t *const *)b;
    size_t xl = (size_t)x[8] << 8 | x[9], yl = (size_t)y[8] << 8 | y[9];
    int c = memcmp(x + 10, y + 10, xl < yl ? xl : yl);

    return c != 0 ? c : (xl > yl) - (xl < yl);
}

int store_get_hub(store *s, const store_lister *l)
{
    store_strs protos = { 0 };
    uint8_t **ix = NULL;
    MDB_txn *txn;
    int r;

    if ((r = store_list_ready(s, l)) != 0)
        return r;
    if ((r = store_read_begin(&s->kv, &txn)) != 0)
        return r;
    r = store_hub_collect(s, txn, &protos);
    store_read_end(&s->kv);
    if (r != 0)
        goto out;
    if ((ix = store_strs_index(&protos)) == NULL) {
        r = store_errf(s, SKR_ENOMEM, "no memory for the listing");
        goto out;
    }
    qsort(ix, protos.n, sizeof *ix, store_cmp_entry);
    r = store_strs_emit(&protos, l, ix);
out:
    free(ix);
    store_strs_free(&protos);
    return r;
}

/* The entry counts of protos and rec: nothing is decrypted, so it works locked. */
int store_stats(store *s, uint64_t *protocols, uint64_t *credentials)
{
    MDB_stat sp, sr;
    MDB_txn *txn;
    int rc, r;

    if ((r = store_read_begin(&s->kv, &txn)) != 0)
        return r;
    if ((rc = mdb_stat(txn, s->kv.protos, &sp)) != 0 || (rc = mdb_stat(txn, s->kv.rec, &sr)) != 0)
        r = store_mdb_err(&s->kv, rc, "stat");
    store_read_end(&s->kv);
    if (r != 0)
        return r;
    *protocols = sp.ms_entries;
    *credentials = sr.ms_entries;
    return 0;
}
