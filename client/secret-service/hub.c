/*
 * client/secret-service/hub.c - the Secret Service's storage on the hub (see ss.h for the
 * layout): the connection to sekretsd (made on the first hub call of a D-Bus call, closed
 * after it by main.c's loop, tried once more when it broke), the collection/alias record,
 * item bodies packed into guarded memory.
 */
#include <msgpack.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ss.h"

int hub_conn(ss_hub *h)
{
    if (h->c)
        return 0;
    return skr_connect(h->socket, 10000, &h->c);
}

bool hub_retry(ss_hub *h, int r, int attempt)
{
    if (r != SKR_EIO && r != SKR_ETIMEOUT)
        return false;
    skr_client_close(h->c);
    h->c = NULL;
    return attempt == 0;
}

int hub_init(ss_hub *h, const char *socket)
{
    memset(h, 0, sizeof(*h));
    if (socket && !(h->socket = strdup(socket)))
        return SKR_ENOMEM;
    return 0;
}

static void meta_clear(ss_hub *h)
{
    for (size_t i = 0; i < h->ncolls; i++)
        free(h->colls[i].label);
    h->ncolls = 0;
    h->naliases = 0;
    h->meta_loaded = false;
}

void hub_free(ss_hub *h)
{
    meta_clear(h);
    for (size_t i = 0; i < h->nindex; i++)
        free(h->index[i].attrs_mp);
    free(h->index);
    skr_client_close(h->c);
    free(h->socket);
    memset(h, 0, sizeof(*h));
}

void hub_release(ss_hub *h)
{
    skr_client_close(h->c); /* wipes its buffers */
    h->c = NULL;
}

int hub_locked(ss_hub *h)
{
    skr_status st;
    int r;
    HUB_DO(h, r, skr_get_status(h->c, &st));
    if (r != 0)
        return r;
    return st.locked || !st.initialized;
}

int hub_lock(ss_hub *h)
{
    int r;
    HUB_DO(h, r, skr_lock(h->c));
    return r;
}

/* ------------------------------------------------------------- the meta record ---- */

static int add_collection(ss_hub *h, const char *name, size_t nlen, const char *label,
                          size_t llen, int64_t created, int64_t modified)
{
    ss_collection *c;
    if (h->ncolls == SS_MAX_COLLECTIONS || nlen == 0 || nlen > SS_NAME_MAX)
        return SKR_ETOO_LARGE;
    c = &h->colls[h->ncolls];
    if (!(c->label = strndup(label, llen)))
        return SKR_ENOMEM;
    memcpy(c->name, name, nlen);
    c->name[nlen] = '\0';
    c->created = created;
    c->modified = modified;
    h->ncolls++;
    return 0;
}

static int add_alias(ss_hub *h, const char *a, size_t alen, const char *t, size_t tlen)
{
    ss_alias *al;
    if (h->naliases == SS_MAX_ALIASES || alen == 0 || alen > SS_NAME_MAX || tlen > SS_NAME_MAX)
        return SKR_ETOO_LARGE;
    al = &h->aliases[h->naliases++];
    memcpy(al->alias, a, alen);
    al->alias[alen] = '\0';
    memcpy(al->target, t, tlen);
    al->target[tlen] = '\0';
    return 0;
}

static const msgpack_object *map_get(const msgpack_object *m, const char *key)
{
    size_t kl = strlen(key);
    if (m->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == kl &&
            memcmp(k->via.str.ptr, key, kl) == 0)
            return &m->via.map.ptr[i].val;
    }
    return NULL;
}

static int64_t obj_int(const msgpack_object *o)
{
    if (o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        return (int64_t)o->via.u64;
    return 0;
}

static int meta_parse(ss_hub *h, const msgpack_object *root)
{
    const msgpack_object *cs = map_get(root, "collections"), *as = map_get(root, "aliases");
    int r = 0;
    if (!cs || cs->type != MSGPACK_OBJECT_MAP || !as || as->type != MSGPACK_OBJECT_MAP)
        return SKR_EPROTOCOL;
    for (uint32_t i = 0; r == 0 && i < cs->via.map.size; i++) {
        const msgpack_object *k = &cs->via.map.ptr[i].key, *v = &cs->via.map.ptr[i].val;
        const msgpack_object *l = map_get(v, "label");
        if (k->type != MSGPACK_OBJECT_STR || !l || l->type != MSGPACK_OBJECT_STR)
            return SKR_EPROTOCOL;
        r = add_collection(h, k->via.str.ptr, k->via.str.size, l->via.str.ptr, l->via.str.size,
                           obj_int(map_get(v, "created")), obj_int(map_get(v, "modified")));
    }
    for (uint32_t i = 0; r == 0 && i < as->via.map.size; i++) {
        const msgpack_object *k = &as->via.map.ptr[i].key, *v = &as->via.map.ptr[i].val;
        if (k->type != MSGPACK_OBJECT_STR || v->type != MSGPACK_OBJECT_STR)
            return SKR_EPROTOCOL;
        r = add_alias(h, k->via.str.ptr, k->via.str.size, v->via.str.ptr, v->via.str.size);
    }
    return r;
}

/* The state of a hub that never saw the service: the "login" collection, and both the
 * "default" and "login" aliases naming it (as gnome-keyring sets them up). */
static int meta_defaults(ss_hub *h)
{
    int64_t now = (int64_t)time(NULL);
    int r;
    if ((r = add_collection(h, "login", 5, "Login", 5, now, now)) != 0 ||
        (r = add_alias(h, "default", 7, "login", 5)) != 0 ||
        (r = add_alias(h, "login", 5, "login", 5)) != 0)
        return r;
    return 0;
}

int hub_meta(ss_hub *h)
{
    skr_cred *cred = NULL;
    msgpack_unpacked u;
    const void *body;
    size_t len, off = 0;
    int r;

    if (h->meta_loaded)
        return 0;
    meta_clear(h);
    HUB_DO(h, r, skr_get(h->c, SS_META_NAME, SS_META_PROTOCOL, &cred));
    if (r == SKR_ENOT_FOUND) {
        r = meta_defaults(h);
        goto out;
    }
    if (r != 0) {
        /* Locked (or unreachable): the defaults stand in until the record can be read, so
         * that the default collection and its alias still resolve (as locked). */
        meta_defaults(h);
        return r;
    }
    skr_cred_body(cred, &body, &len);
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, body, len, &off) != MSGPACK_UNPACK_SUCCESS)
        r = SKR_EPROTOCOL;
    else
        r = meta_parse(h, &u.data);
    msgpack_unpacked_destroy(&u);
out:
    skr_cred_free(cred);
    if (r != 0)
        meta_clear(h);
    else
        h->meta_loaded = true;
    return r;
}

static int meta_save(ss_hub *h)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int r;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    ss_pack_str(&pk, "collections");
    msgpack_pack_map(&pk, h->ncolls);
    for (size_t i = 0; i < h->ncolls; i++) {
        ss_pack_str(&pk, h->colls[i].name);
        msgpack_pack_map(&pk, 3);
        ss_pack_str(&pk, "label");
        ss_pack_str(&pk, h->colls[i].label);
        ss_pack_str(&pk, "created");
        msgpack_pack_int64(&pk, h->colls[i].created);
        ss_pack_str(&pk, "modified");
        msgpack_pack_int64(&pk, h->colls[i].modified);
    }
    ss_pack_str(&pk, "aliases");
    msgpack_pack_map(&pk, h->naliases);
    for (size_t i = 0; i < h->naliases; i++) {
        ss_pack_str(&pk, h->aliases[i].alias);
        ss_pack_str(&pk, h->aliases[i].target);
    }
    HUB_DO(h, r, skr_put(h->c, SS_META_PROTOCOL, SS_META_NAME, sb.data, sb.size, NULL));
    msgpack_sbuffer_destroy(&sb);
    return r;
}

ss_collection *hub_collection(ss_hub *h, const char *name)
{
    for (size_t i = 0; i < h->ncolls; i++)
        if (strcmp(h->colls[i].name, name) == 0)
            return &h->colls[i];
    return NULL;
}

const char *hub_alias(ss_hub *h, const char *alias)
{
    for (size_t i = 0; i < h->naliases; i++)
        if (strcmp(h->aliases[i].alias, alias) == 0)
            return hub_collection(h, h->aliases[i].target) ? h->aliases[i].target : NULL;
    return NULL;
}

int hub_set_alias(ss_hub *h, const char *alias, const char *coll)
{
    size_t i;
    int r;
    if ((r = hub_meta(h)) != 0)
        return r;
    for (i = 0; i < h->naliases; i++)
        if (strcmp(h->aliases[i].alias, alias) == 0)
            break;
    if (!coll) { /* removes it */
        if (i == h->naliases)
            return 0;
        h->aliases[i] = h->aliases[--h->naliases];
        return meta_save(h);
    }
    if (i == h->naliases)
        r = add_alias(h, alias, strlen(alias), coll, strlen(coll));
    else
        snprintf(h->aliases[i].target, sizeof(h->aliases[i].target), "%s", coll);
    return r != 0 ? r : meta_save(h);
}

/* A collection's name from its label: its letters, digits and '_' ('_' for the rest),
 * made unique with a number, as gnome-keyring does. */
int hub_create_collection(ss_hub *h, const char *label, char *name, size_t size)
{
    char base[SS_NAME_MAX + 1], cand[SS_NAME_MAX + 1];
    size_t n = 0;
    int64_t now = (int64_t)time(NULL);
    int r;

    if ((r = hub_meta(h)) != 0)
        return r;
    for (const char *p = label; *p && n < SS_NAME_MAX - 4; p++)
        base[n++] = ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9')) ? *p : '_';
    if (n == 0)
        base[n++] = 'c';
    base[n] = '\0';
    snprintf(cand, sizeof(cand), "%s", base);
    for (int i = 1; hub_collection(h, cand) && i < 1000; i++)
        snprintf(cand, sizeof(cand), "%s%d", base, i);
    if (hub_collection(h, cand) || strlen(cand) >= size)
        return SKR_EEXISTS;
    if ((r = add_collection(h, cand, strlen(cand), label, strlen(label), now, now)) != 0)
        return r;
    if ((r = meta_save(h)) != 0) {
        free(h->colls[--h->ncolls].label);
        return r;
    }
    memcpy(name, cand, strlen(cand) + 1);
    return 0;
}

int hub_set_collection_label(ss_hub *h, const char *name, const char *label)
{
    ss_collection *c = hub_collection(h, name);
    char *l;
    if (!c)
        return SKR_ENOT_FOUND;
    if (!(l = strdup(label)))
        return SKR_ENOMEM;
    free(c->label);
    c->label = l;
    c->modified = (int64_t)time(NULL);
    return meta_save(h);
}

int hub_delete_collection(ss_hub *h, const char *name)
{
    char (*ids)[SS_ID_LEN + 1] = NULL;
    size_t n = 0, i;
    int r;

    if ((r = hub_item_ids(h, name, &ids, &n)) != 0)
        goto out;
    for (i = 0; i < n; i++)
        if ((r = hub_item_delete(h, name, ids[i])) != 0)
            goto out;
    for (i = 0; i < h->ncolls; i++)
        if (strcmp(h->colls[i].name, name) == 0)
            break;
    if (i < h->ncolls) {
        free(h->colls[i].label);
        h->colls[i] = h->colls[--h->ncolls];
    }
    for (i = 0; i < h->naliases;)
        if (strcmp(h->aliases[i].target, name) == 0)
            h->aliases[i] = h->aliases[--h->naliases];
        else
            i++;
    index_drop(h, name, NULL);
    r = meta_save(h);
out:
    free(ids);
    return r;
}
