/*
 * client/secret-service/items.c - items on the hub: an item is the credential named by its
 * id in the collection's protocol "ss.<collection>", body {label, attributes, secret,
 * content_type}. Bodies are packed into guarded memory (they hold the secret) and decoded
 * in place in libsekrets' credential (wiped when freed). The in-memory index (ids and
 * attributes only) follows every read and write, for SearchItems on a locked hub.
 */
#include <msgpack.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ss.h"

static void protocol_of(char *buf, size_t size, const char *coll)
{
    snprintf(buf, size, "ss.%s", coll);
}

bool ss_attrs_match(const ss_attrs *have, const ss_attrs *want)
{
    for (size_t i = 0; i < want->n; i++) {
        size_t j;
        for (j = 0; j < have->n; j++)
            if (strcmp(have->a[j].key, want->a[i].key) == 0 &&
                strcmp(have->a[j].value, want->a[i].value) == 0)
                break;
        if (j == have->n)
            return false;
    }
    return true;
}

void ss_zone_free(void *zone)
{
    if (zone)
        msgpack_zone_free(zone);
}

/* A NUL-terminated copy of a msgpack string in the zone. */
static const char *zone_str(msgpack_zone *z, const msgpack_object *o)
{
    char *s = msgpack_zone_malloc(z, o->via.str.size + 1);
    if (s) {
        memcpy(s, o->via.str.ptr, o->via.str.size);
        s[o->via.str.size] = '\0';
    }
    return s;
}

int ss_attrs_decode(const void *mp, size_t len, ss_attrs *out, void **zone)
{
    msgpack_zone *z = msgpack_zone_new(1024), *tmp = NULL;
    msgpack_object o;
    size_t off = 0;
    ss_attrs a = { .n = 0 };
    int r = SKR_EPROTOCOL;

    if (!z || !(tmp = msgpack_zone_new(1024))) {
        r = SKR_ENOMEM;
        goto out;
    }
    if (msgpack_unpack(mp, len, &off, tmp, &o) != MSGPACK_UNPACK_SUCCESS ||
        o.type != MSGPACK_OBJECT_MAP || o.via.map.size > SS_MAX_ATTRS)
        goto out;
    for (uint32_t i = 0; i < o.via.map.size; i++) {
        const msgpack_object *k = &o.via.map.ptr[i].key, *v = &o.via.map.ptr[i].val;
        if (k->type != MSGPACK_OBJECT_STR || v->type != MSGPACK_OBJECT_STR)
            goto out;
        a.a[a.n].key = zone_str(z, k);
        a.a[a.n].value = zone_str(z, v);
        if (!a.a[a.n].key || !a.a[a.n].value) {
            r = SKR_ENOMEM;
            goto out;
        }
        a.n++;
    }
    *out = a;
    *zone = z;
    z = NULL;
    r = 0;
out:
    ss_zone_free(tmp);
    ss_zone_free(z);
    return r;
}

/* --------------------------------------------------------------------- index ---- */

static ss_index_entry *index_find(ss_hub *h, const char *coll, const char *id)
{
    for (size_t i = 0; i < h->nindex; i++)
        if (strcmp(h->index[i].coll, coll) == 0 && strcmp(h->index[i].id, id) == 0)
            return &h->index[i];
    return NULL;
}

void index_drop(ss_hub *h, const char *coll, const char *id)
{
    for (size_t i = 0; i < h->nindex;) {
        ss_index_entry *e = &h->index[i];
        if (strcmp(e->coll, coll) == 0 && (!id || strcmp(e->id, id) == 0)) {
            free(e->attrs_mp);
            *e = h->index[--h->nindex];
        } else {
            i++;
        }
    }
}

/* Best effort: a failed allocation only leaves the locked-hub search without it. */
static void index_put(ss_hub *h, const char *coll, const char *id, const void *mp, size_t len)
{
    ss_index_entry *e = index_find(h, coll, id);
    char *copy = malloc(len ? len : 1);

    if (!copy)
        return;
    memcpy(copy, mp, len);
    if (!e) {
        if (h->nindex == h->capindex) {
            size_t cap = h->capindex ? h->capindex * 2 : 64;
            ss_index_entry *n = realloc(h->index, cap * sizeof(*n));
            if (!n) {
                free(copy);
                return;
            }
            h->index = n;
            h->capindex = cap;
        }
        e = &h->index[h->nindex++];
        snprintf(e->coll, sizeof(e->coll), "%s", coll);
        snprintf(e->id, sizeof(e->id), "%s", id);
    } else {
        free(e->attrs_mp);
    }
    e->attrs_mp = copy;
    e->attrs_len = len;
}

void hub_index_search(ss_hub *h, const char *coll, const ss_attrs *want,
                      void (*cb)(void *u, const char *coll, const char *id), void *u)
{
    for (size_t i = 0; i < h->nindex; i++) {
        ss_index_entry *e = &h->index[i];
        ss_attrs have;
        void *zone = NULL;
        if (coll && strcmp(e->coll, coll) != 0)
            continue;
        if (ss_attrs_decode(e->attrs_mp, e->attrs_len, &have, &zone) == 0 &&
            ss_attrs_match(&have, want))
            cb(u, e->coll, e->id);
        ss_zone_free(zone);
    }
}

/* --------------------------------------------------------------------- items ---- */

void hub_item_free(ss_item *it)
{
    if (!it)
        return;
    skr_cred_free(it->cred);
    ss_zone_free(it->zone);
    memset(it, 0, sizeof(*it));
}

void hub_items_free(ss_item *items, size_t n)
{
    for (size_t i = 0; items && i < n; i++)
        hub_item_free(&items[i]);
    free(items);
}

/* Decodes cred (which it takes over, also on failure) into *out. */
static int item_decode(skr_cred *cred, const char *id, ss_item *out)
{
    ss_item it = { .cred = cred };
    const char *secret;
    int r;

    if ((r = skr_cred_string(cred, "label", &it.label, &it.label_len)) != 0 ||
        (r = skr_cred_string(cred, "secret", &secret, &it.secret_len)) != 0 ||
        (r = skr_cred_string(cred, "content_type", &it.content_type, &it.ct_len)) != 0 ||
        (r = skr_cred_raw(cred, "attributes", &it.attrs_mp, &it.attrs_mp_len)) != 0 ||
        (r = ss_attrs_decode(it.attrs_mp, it.attrs_mp_len, &it.attrs, &it.zone)) != 0) {
        hub_item_free(&it);
        return r == SKR_ENOT_FOUND || r == SKR_EINVAL ? SKR_EPROTOCOL : r;
    }
    it.secret = (const unsigned char *)secret;
    snprintf(it.id, sizeof(it.id), "%s", id);
    it.created = skr_cred_created(cred);
    it.modified = skr_cred_modified(cred);
    *out = it;
    return 0;
}

int hub_item_ids(ss_hub *h, const char *coll, char (**ids)[SS_ID_LEN + 1], size_t *n)
{
    char proto[SKR_MAX_PROTOCOL + 1];
    char (*out)[SS_ID_LEN + 1];
    skr_list *l = NULL;
    size_t k = 0;
    int r;

    protocol_of(proto, sizeof(proto), coll);
    HUB_DO(h, r, skr_get_db(h->c, proto, &l));
    if (r != 0 && r != SKR_ENOT_FOUND)
        return r;
    /* as many as the daemon's reply held: bounded by its frame size */
    if (!(out = malloc((skr_list_size(l) + 1) * sizeof(*out)))) {
        skr_list_free(l);
        return SKR_ENOMEM;
    }
    for (size_t i = 0; i < skr_list_size(l); i++) {
        const char *name = skr_list_name(l, i);
        if (strlen(name) == SS_ID_LEN) /* anything else in the protocol is not an item */
            memcpy(out[k++], name, SS_ID_LEN + 1);
    }
    skr_list_free(l);
    *ids = out;
    *n = k;
    return 0;
}

int hub_item_get(ss_hub *h, const char *coll, const char *id, ss_item *out)
{
    char proto[SKR_MAX_PROTOCOL + 1];
    skr_cred *cred = NULL;
    int r;

    protocol_of(proto, sizeof(proto), coll);
    HUB_DO(h, r, skr_get(h->c, id, proto, &cred));
    if (r == SKR_ENOT_FOUND)
        index_drop(h, coll, id);
    if (r != 0)
        return r;
    if ((r = item_decode(cred, id, out)) == 0)
        index_put(h, coll, id, out->attrs_mp, out->attrs_mp_len);
    return r;
}

int hub_items_all(ss_hub *h, const char *coll, ss_item **items, size_t *n)
{
    char (*ids)[SS_ID_LEN + 1] = NULL;
    char proto[SKR_MAX_PROTOCOL + 1];
    skr_get_req *reqs = NULL;
    skr_cred **creds = NULL;
    int *codes = NULL;
    ss_item *out = NULL;
    size_t nids = 0, k = 0;
    int r;

    protocol_of(proto, sizeof(proto), coll);
    if ((r = hub_item_ids(h, coll, &ids, &nids)) != 0)
        goto out;
    reqs = calloc(nids + 1, sizeof(*reqs));
    creds = calloc(nids + 1, sizeof(*creds));
    codes = calloc(nids + 1, sizeof(*codes));
    out = calloc(nids + 1, sizeof(*out));
    if (!reqs || !creds || !codes || !out) {
        r = SKR_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < nids; i++)
        reqs[i] = (skr_get_req){ .name = ids[i], .protocol = proto };
    HUB_DO(h, r, skr_get_batch(h->c, reqs, nids, creds, codes));
    if (r != 0)
        goto out;
    index_drop(h, coll, NULL);
    for (size_t i = 0; i < nids; i++) {
        if (codes[i] != 0) /* deleted meanwhile, or a record that fails authentication */
            continue;
        if (item_decode(creds[i], ids[i], &out[k]) == 0) {
            index_put(h, coll, ids[i], out[k].attrs_mp, out[k].attrs_mp_len);
            k++;
        }
        creds[i] = NULL;
    }
    *items = out;
    *n = k;
    out = NULL;
out:
    for (size_t i = 0; creds && i < nids; i++)
        skr_cred_free(creds[i]);
    hub_items_free(out, k);
    free(reqs);
    free(creds);
    free(codes);
    free(ids);
    return r;
}

/* msgpack writer into a fixed guarded buffer: the body holds the secret. */
typedef struct gbuf { unsigned char *p; size_t len, cap; bool full; } gbuf;

static int gbuf_write(void *data, const char *buf, size_t len)
{
    gbuf *g = data;
    if (g->full || len > g->cap - g->len) {
        g->full = true;
        return -1;
    }
    memcpy(g->p + g->len, buf, len);
    g->len += len;
    return 0;
}

void ss_pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static void pack_attrs(msgpack_packer *pk, const ss_attrs *a)
{
    msgpack_pack_map(pk, a->n);
    for (size_t i = 0; i < a->n; i++) {
        ss_pack_str(pk, a->a[i].key);
        ss_pack_str(pk, a->a[i].value);
    }
}

int hub_item_put(ss_hub *h, const char *coll, char *id, const ss_item_in *in)
{
    char proto[SKR_MAX_PROTOCOL + 1], nid[SS_ID_LEN + 1];
    gbuf g = { .cap = SKR_MAX_BODY };
    msgpack_packer pk;
    msgpack_sbuffer asb;
    msgpack_packer apk;
    int r;

    if (in->secret_len > SKR_MAX_BODY)
        return SKR_ETOO_LARGE;
    if (!(g.p = sodium_malloc(g.cap)))
        return SKR_ENOMEM;
    if (id[0] == '\0') {
        unsigned char raw[SS_ID_LEN / 2];
        randombytes_buf(raw, sizeof(raw));
        sodium_bin2hex(nid, sizeof(nid), raw, sizeof(raw));
    } else {
        snprintf(nid, sizeof(nid), "%s", id);
    }
    protocol_of(proto, sizeof(proto), coll);
    msgpack_packer_init(&pk, &g, gbuf_write);
    msgpack_pack_map(&pk, 4);
    ss_pack_str(&pk, "label");
    ss_pack_str(&pk, in->label);
    ss_pack_str(&pk, "attributes");
    pack_attrs(&pk, in->attrs);
    ss_pack_str(&pk, "secret");
    msgpack_pack_bin(&pk, in->secret_len);
    msgpack_pack_bin_body(&pk, in->secret, in->secret_len);
    ss_pack_str(&pk, "content_type");
    ss_pack_str(&pk, in->content_type);
    if (g.full) {
        r = SKR_ETOO_LARGE;
        goto out;
    }
    HUB_DO(h, r, skr_put(h->c, proto, nid, g.p, g.len, NULL));
    if (r != 0)
        goto out;
    msgpack_sbuffer_init(&asb);
    msgpack_packer_init(&apk, &asb, msgpack_sbuffer_write);
    pack_attrs(&apk, in->attrs);
    index_put(h, coll, nid, asb.data, asb.size);
    msgpack_sbuffer_destroy(&asb);
    memcpy(id, nid, sizeof(nid));
out:
    sodium_free(g.p);
    return r;
}

int hub_item_delete(ss_hub *h, const char *coll, const char *id)
{
    char proto[SKR_MAX_PROTOCOL + 1];
    int r;
    protocol_of(proto, sizeof(proto), coll);
    HUB_DO(h, r, skr_delete(h->c, proto, id, NULL));
    if (r == 0)
        index_drop(h, coll, id);
    return r;
}

int hub_index_attrs(ss_hub *h, const char *coll, const char *id, ss_attrs *out, void **zone)
{
    ss_index_entry *e = index_find(h, coll, id);
    if (!e)
        return SKR_ENOT_FOUND;
    return ss_attrs_decode(e->attrs_mp, e->attrs_len, out, zone);
}
