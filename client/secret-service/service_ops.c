/*
 * client/secret-service/service_ops.c - the Service methods that read or change the hub:
 * SearchItems (every item of each readable collection read and matched: one getDb and one
 * pipelined batch of gets per collection, so the cost grows with the keyring's size; a
 * locked hub is searched in the in-memory index and answers locked items), GetSecrets,
 * ReadAlias/SetAlias, CreateCollection and the Collections property.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ss.h"

int ss_read_attrs(sd_bus_message *m, ss_attrs *out)
{
    ss_attrs a = { .n = 0 };
    const char *k, *v;
    int r;
    if ((r = sd_bus_message_enter_container(m, 'a', "{ss}")) < 0)
        return r;
    while ((r = sd_bus_message_read(m, "{ss}", &k, &v)) > 0) {
        if (a.n == SS_MAX_ATTRS)
            return -E2BIG;
        a.a[a.n].key = k;
        a.a[a.n].value = v;
        a.n++;
    }
    if (r < 0 || (r = sd_bus_message_exit_container(m)) < 0)
        return r;
    *out = a;
    return 0;
}

/* The collections (in order) that a search of p covers. */
typedef struct search_ctx {
    sd_bus_message *reply;
    const ss_peer *peer;
    int r;
} search_ctx;

static void on_locked_match(void *u, const char *coll, const char *id)
{
    search_ctx *c = u;
    char path[128];
    if (c->r < 0 || !rules_allows(c->peer, coll, NULL, false))
        return;
    ss_path(path, sizeof(path), coll, id);
    c->r = sd_bus_message_append(c->reply, "o", path);
}

/* Appends the unlocked matches of coll to reply. */
static int search_collection(ss *s, const ss_peer *p, const char *coll, const ss_attrs *want,
                             sd_bus_message *reply, sd_bus_error *e)
{
    ss_item *items = NULL;
    size_t n = 0;
    char path[128];
    int r;
    if ((r = hub_items_all(&s->hub, coll, &items, &n)) != 0)
        return ss_error(e, r);
    for (size_t i = 0; i < n && r >= 0; i++)
        if (ss_attrs_match(&items[i].attrs, want) && rules_allows(p, coll, &items[i].attrs, false)) {
            ss_path(path, sizeof(path), coll, items[i].id);
            r = sd_bus_message_append(reply, "o", path);
        }
    hub_items_free(items, n);
    return r;
}

int ss_search(ss *s, const ss_peer *p, const char *only, const ss_attrs *want, sd_bus_message *reply,
              bool both, sd_bus_error *e)
{
    search_ctx ctx = { .reply = reply, .peer = p };
    int locked = hub_locked(&s->hub), r;

    if (locked < 0)
        return ss_error(e, locked);
    hub_meta(&s->hub);
    if ((r = sd_bus_message_open_container(reply, 'a', "o")) < 0)
        return r;
    for (size_t i = 0; !locked && i < s->hub.ncolls; i++) {
        const char *coll = s->hub.colls[i].name;
        if (only && strcmp(coll, only) != 0)
            continue;
        if (!rules_allows(p, coll, NULL, false))
            continue;
        if ((r = search_collection(s, p, coll, want, reply, e)) < 0)
            return r;
    }
    if (both && ((r = sd_bus_message_close_container(reply)) < 0 ||
                 (r = sd_bus_message_open_container(reply, 'a', "o")) < 0))
        return r;
    if (locked && (both || only))
        hub_index_search(&s->hub, only, want, on_locked_match, &ctx);
    if (ctx.r < 0)
        return ctx.r;
    return sd_bus_message_close_container(reply);
}

int ss_reply_search(ss *s, sd_bus_message *m, const ss_peer *p, const char *only, bool both,
                    sd_bus_error *e)
{
    ss_attrs want;
    sd_bus_message *reply = NULL;
    int r;

    if ((r = ss_read_attrs(m, &want)) < 0 || (r = sd_bus_message_new_method_return(m, &reply)) < 0)
        return r;
    if ((r = ss_search(s, p, only, &want, reply, both, e)) >= 0)
        r = sd_bus_send(NULL, reply, NULL);
    sd_bus_message_unref(reply);
    return r;
}

int service_search_items(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
    ss *s = userdata;
    ss_peer peer;
    int r;
    if ((r = ss_caller(s, m, &peer, e)) < 0)
        return r;
    return ss_reply_search(s, m, &peer, NULL, true, e);
}

int service_get_secrets(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
    ss *s = userdata;
    ss_peer peer;
    sd_bus_message *reply = NULL;
    const char **paths = NULL, *spath;
    char coll[SS_NAME_MAX + 1], id[SS_ID_LEN + 1];
    ss_session *ses;
    size_t n = 0;
    int r;

    if ((r = ss_caller(s, m, &peer, e)) < 0)
        return r;
    if ((r = sd_bus_message_read_strv(m, (char ***)&paths)) < 0 ||
        (r = sd_bus_message_read(m, "o", &spath)) < 0)
        goto out;
    if (!(ses = service_session(s, spath, sd_bus_message_get_sender(m)))) {
        r = sd_bus_error_set(e, SS_ERR_NO_SESSION, "no such session (open one with OpenSession)");
        goto out;
    }
    if ((r = sd_bus_message_new_method_return(m, &reply)) < 0 ||
        (r = sd_bus_message_open_container(reply, 'a', "{o(oayays)}")) < 0)
        goto out;
    for (n = 0; paths && paths[n]; n++) {
        ss_item it;
        if (ss_parse_path(s, paths[n], coll, id) != 0 || id[0] == '\0')
            continue;
        if ((r = hub_item_get(&s->hub, coll, id, &it)) != 0) {
            if (r == SKR_ENOT_FOUND)
                continue;
            r = ss_error(e, r);
            goto out;
        }
        if (!rules_allows(&peer, coll, &it.attrs, false)) {
            hub_item_free(&it);
            r = rules_deny(&peer, m, "GetSecrets", e);
            goto out;
        }
        if ((r = sd_bus_message_open_container(reply, 'e', "o(oayays)")) >= 0 &&
            (r = sd_bus_message_append(reply, "o", paths[n])) >= 0 &&
            (r = ss_append_secret(reply, ses, &it)) >= 0)
            r = sd_bus_message_close_container(reply);
        hub_item_free(&it);
        if (r < 0)
            goto out;
    }
    if ((r = sd_bus_message_close_container(reply)) >= 0)
        r = sd_bus_send(NULL, reply, NULL);
out:
    sd_bus_message_unref(reply);
    for (size_t i = 0; paths && paths[i]; i++)
        free((char *)paths[i]);
    free(paths);
    return r;
}

int service_read_alias(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
    ss *s = userdata;
    ss_peer peer;
    const char *name, *coll;
    char path[128] = "/";
    int r;

    if ((r = ss_caller(s, m, &peer, e)) < 0 || (r = sd_bus_message_read(m, "s", &name)) < 0)
        return r;
    hub_meta(&s->hub);
    if (ss_valid_name(name) && (coll = hub_alias(&s->hub, name)) && rules_allows(&peer, coll, NULL, false))
        ss_path(path, sizeof(path), coll, NULL);
    return sd_bus_reply_method_return(m, "o", path);
}

int service_set_alias(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
    ss *s = userdata;
    ss_peer peer;
    const char *name, *path;
    char coll[SS_NAME_MAX + 1], id[SS_ID_LEN + 1];
    bool remove;
    int r;

    if ((r = ss_caller(s, m, &peer, e)) < 0 || (r = sd_bus_message_read(m, "so", &name, &path)) < 0)
        return r;
    if (!ss_valid_name(name))
        return sd_bus_error_set(e, SD_BUS_ERROR_INVALID_ARGS, "an alias is 1..60 of [A-Za-z0-9_]");
    remove = strcmp(path, "/") == 0;
    if (!remove && (ss_parse_path(s, path, coll, id) != 0 || id[0] != '\0'))
        return ss_error(e, SKR_ENOT_FOUND);
    if (!rules_allows(&peer, remove ? NULL : coll, NULL, true))
        return rules_deny(&peer, m, "SetAlias", e);
    if ((r = hub_set_alias(&s->hub, name, remove ? NULL : coll)) != 0)
        return ss_error(e, r);
    return sd_bus_reply_method_return(m, "");
}

int ss_read_props(sd_bus_message *m, const char *label_key, const char **label,
                  const char *attrs_key, ss_attrs *attrs)
{
    const char *key;
    int r;
    *label = "";
    if (attrs)
        attrs->n = 0;
    if ((r = sd_bus_message_enter_container(m, 'a', "{sv}")) < 0)
        return r;
    while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
        if ((r = sd_bus_message_read(m, "s", &key)) < 0)
            return r;
        if (strcmp(key, label_key) == 0) {
            r = sd_bus_message_read(m, "v", "s", label);
        } else if (attrs_key && strcmp(key, attrs_key) == 0) {
            if ((r = sd_bus_message_enter_container(m, 'v', "a{ss}")) >= 0 &&
                (r = ss_read_attrs(m, attrs)) >= 0)
                r = sd_bus_message_exit_container(m);
        } else {
            r = sd_bus_message_skip(m, "v");
        }
        if (r < 0 || (r = sd_bus_message_exit_container(m)) < 0)
            return r;
    }
    if (r < 0)
        return r;
    return sd_bus_message_exit_container(m);
}

int service_create_collection(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
    ss *s = userdata;
    ss_peer peer;
    const char *label, *alias, *existing;
    char name[SS_NAME_MAX + 1], path[128];
    int r;

    if ((r = ss_caller(s, m, &peer, e)) < 0 ||
        (r = ss_read_props(m, SS_IFACE_COLLECTION ".Label", &label, NULL, NULL)) < 0 ||
        (r = sd_bus_message_read(m, "s", &alias)) < 0)
        return r;
    if (alias[0] && !ss_valid_name(alias))
        return sd_bus_error_set(e, SD_BUS_ERROR_INVALID_ARGS, "an alias is 1..60 of [A-Za-z0-9_]");
    if ((r = hub_meta(&s->hub)) != 0)
        return ss_error(e, r);
    /* An alias that already names a collection gives that one (the spec's rule). */
    if (alias[0] && (existing = hub_alias(&s->hub, alias))) {
        if (!rules_allows(&peer, existing, NULL, false))
            return rules_deny(&peer, m, "CreateCollection", e);
        ss_path(path, sizeof(path), existing, NULL);
        return sd_bus_reply_method_return(m, "oo", path, "/");
    }
    if (!rules_allows(&peer, NULL, NULL, true))
        return rules_deny(&peer, m, "CreateCollection", e);
    if ((r = hub_create_collection(&s->hub, label, name, sizeof(name))) != 0 ||
        (alias[0] && (r = hub_set_alias(&s->hub, alias, name)) != 0))
        return ss_error(e, r);
    ss_path(path, sizeof(path), name, NULL);
    sd_bus_emit_signal(s->bus, SS_PATH, SS_IFACE_SERVICE, "CollectionCreated", "o", path);
    return sd_bus_reply_method_return(m, "oo", path, "/");
}

int service_prop_collections(sd_bus *bus, const char *path, const char *iface, const char *prop,
                             sd_bus_message *reply, void *userdata, sd_bus_error *e)
{
    ss *s = userdata;
    ss_peer peer;
    char p[128];
    int r;
    (void)path; (void)iface; (void)prop;
    if ((r = ss_caller(s, sd_bus_get_current_message(bus), &peer, e)) < 0)
        return r;
    hub_meta(&s->hub);
    if ((r = sd_bus_message_open_container(reply, 'a', "o")) < 0)
        return r;
    for (size_t i = 0; i < s->hub.ncolls; i++) {
        if (!rules_allows(&peer, s->hub.colls[i].name, NULL, false))
            continue;
        ss_path(p, sizeof(p), s->hub.colls[i].name, NULL);
        if ((r = sd_bus_message_append(reply, "o", p)) < 0)
            return r;
    }
    return sd_bus_message_close_container(reply);
}
