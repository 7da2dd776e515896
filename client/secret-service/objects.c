/*
 * client/secret-service/objects.c - the Collection and Item objects, served as fallbacks
 * under /org/freedesktop/secrets/collection (and /aliases, which resolve to the same
 * collection). Every property is read from the hub when asked; with the hub locked an
 * item answers Locked, its attributes as last read, and an empty label.
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ss.h"

/* The collection and item of the message's object path, and its caller. */
typedef struct target {
    char coll[SS_NAME_MAX + 1];
    char id[SS_ID_LEN + 1];
    ss_peer peer;
} target;

static int target_of(ss *s, sd_bus_message *m, target *t, sd_bus_error *e)
{
    int r;
    if ((r = ss_caller(s, m, &t->peer, e)) < 0)
        return r;
    if (ss_parse_path(s, sd_bus_message_get_path(m), t->coll, t->id) != 0)
        return ss_error(e, SKR_ENOT_FOUND);
    if (!rules_allows(&t->peer, t->coll, NULL, false))
        return rules_deny(&t->peer, m, sd_bus_message_get_member(m), e);
    return 0;
}

/* Reads the item of t, checking that the caller may see it (write: also change it). */
static int target_item(ss *s, sd_bus_message *m, target *t, ss_item *it, bool write, sd_bus_error *e)
{
    int r = hub_item_get(&s->hub, t->coll, t->id, it);
    if (r != 0)
        return ss_error(e, r);
    if (!rules_allows(&t->peer, t->coll, &it->attrs, write)) {
        hub_item_free(it);
        return rules_deny(&t->peer, m, sd_bus_message_get_member(m), e);
    }
    return 0;
}

static int append_attrs(sd_bus_message *reply, const ss_attrs *a)
{
    int r;
    if ((r = sd_bus_message_open_container(reply, 'a', "{ss}")) < 0)
        return r;
    for (size_t i = 0; i < a->n; i++)
        if ((r = sd_bus_message_append(reply, "{ss}", a->a[i].key, a->a[i].value)) < 0)
            return r;
    return sd_bus_message_close_container(reply);
}

static void emit(ss *s, const char *iface, const char *member, const char *coll, const char *id)
{
    char path[128], item[128];
    ss_path(path, sizeof(path), coll, NULL);
    ss_path(item, sizeof(item), coll, id);
    sd_bus_emit_signal(s->bus, path, iface, member, "o", item);
}

/* ---------------------------------------------------------------- collection ---- */

static int coll_find(sd_bus *bus, const char *path, const char *iface, void *userdata,
                     void **found, sd_bus_error *e)
{
    char coll[SS_NAME_MAX + 1], id[SS_ID_LEN + 1];
    (void)bus; (void)iface; (void)e;
    if (ss_parse_path(userdata, path, coll, id) != 0 || id[0] != '\0')
        return 0;
    *found = userdata;
    return 1;
}

static int coll_delete(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
    ss *s = userdata;
    target t;
    char path[128];
    int r;
    if ((r = target_of(s, m, &t, e)) < 0)
        return r;
    if (!rules_allows(&t.peer, t.coll, NULL, true) || !rules_allows(&t.peer, NULL, NULL, true))
        return rules_deny(&t.peer, m, "Delete", e);
    if ((r = hub_delete_collection(&s->hub, t.coll)) != 0)
        return ss_error(e, r);
    ss_path(path, sizeof(path), t.coll, NULL);
    sd_bus_emit_signal(s->bus, SS_PATH, SS_IFACE_SERVICE, "CollectionDeleted", "o", path);
    return sd_bus_reply_method_return(m, "o", "/");
}

static int coll_search(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
    ss *s = userdata;
    target t;
    int r;
    if ((r = target_of(s, m, &t, e)) < 0)
        return r;
    return ss_reply_search(s, m, &t.peer, t.coll, false, e);
}

/* The id of the item of coll whose attributes are exactly attrs ("" when none). */
static int find_same(ss *s, const char *coll, const ss_attrs *attrs, char *id)
{
    ss_item *items = NULL;
    size_t n = 0;
    int r;
    id[0] = '\0';
    if ((r = hub_items_all(&s->hub, coll, &items, &n)) != 0)
        return r;
    for (size_t i = 0; i < n; i++)
        if (items[i].attrs.n == attrs->n && ss_attrs_match(&items[i].attrs, attrs)) {
            memcpy(id, items[i].id, SS_ID_LEN + 1);
            break;
        }
    hub_items_free(items, n);
    return 0;
}

static int coll_create_item(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
    ss *s = userdata;
    target t;
    const char *label;
    ss_attrs attrs;
    unsigned char *secret = NULL;
    size_t slen = 0;
    char ct[128], id[SS_ID_LEN + 1] = "", path[128];
    int replace, r;

    if ((r = target_of(s, m, &t, e)) < 0 || (r = ss_read_props(m, SS_IFACE_ITEM ".Label", &label, SS_IFACE_ITEM ".Attributes", &attrs)) < 0 ||
        (r = ss_read_secret(s, m, &secret, &slen, ct, sizeof(ct), e)) < 0)
        goto out;
    if ((r = sd_bus_message_read(m, "b", &replace)) < 0)
        goto out;
    if (!rules_allows(&t.peer, t.coll, &attrs, true)) {
        r = rules_deny(&t.peer, m, "CreateItem", e);
        goto out;
    }
    if ((replace && (r = find_same(s, t.coll, &attrs, id)) != 0) ||
        (r = hub_item_put(&s->hub, t.coll, id, &(ss_item_in){ .label = label, .attrs = &attrs,
                          .secret = secret, .secret_len = slen, .content_type = ct })) != 0) {
        r = ss_error(e, r);
        goto out;
    }
    emit(s, SS_IFACE_COLLECTION, "ItemCreated", t.coll, id);
    ss_path(path, sizeof(path), t.coll, id);
    r = sd_bus_reply_method_return(m, "oo", path, "/");
out:
    sodium_free(secret);
    return r;
}

static int coll_prop(sd_bus *bus, const char *path, const char *iface, const char *prop,
                     sd_bus_message *reply, void *userdata, sd_bus_error *e)
{
    ss *s = userdata;
    target t;
    ss_collection *c;
    int locked, r;
    (void)path; (void)iface;
    if ((r = target_of(s, sd_bus_get_current_message(bus), &t, e)) < 0)
        return r;
    if ((locked = hub_locked(&s->hub)) < 0)
        return ss_error(e, locked);
    if (strcmp(prop, "Items") == 0) {
        ss_attrs none = { .n = 0 };
        return ss_search(s, &t.peer, t.coll, &none, reply, false, e);
    }
    if (strcmp(prop, "Locked") == 0)
        return sd_bus_message_append(reply, "b", locked);
    if (!(c = hub_collection(&s->hub, t.coll)))
        return ss_error(e, SKR_ENOT_FOUND);
    if (strcmp(prop, "Label") == 0)
        return sd_bus_message_append(reply, "s", c->label);
    return sd_bus_message_append(reply, "t", (uint64_t)(strcmp(prop, "Created") == 0 ? c->created : c->modified));
}

static int coll_set_label(sd_bus *bus, const char *path, const char *iface, const char *prop,
                          sd_bus_message *value, void *userdata, sd_bus_error *e)
{
    ss *s = userdata;
    target t;
    const char *label;
    int r;
    (void)path; (void)iface; (void)prop;
    if ((r = target_of(s, sd_bus_get_current_message(bus), &t, e)) < 0 ||
        (r = sd_bus_message_read(value, "s", &label)) < 0)
        return r;
    if (!rules_allows(&t.peer, t.coll, NULL, true))
        return rules_deny(&t.peer, sd_bus_get_current_message(bus), "Set Label", e);
    if ((r = hub_meta(&s->hub)) != 0 || (r = hub_set_collection_label(&s->hub, t.coll, label)) != 0)
        return ss_error(e, r);
    return 0;
}

static const sd_bus_vtable coll_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD("Delete", "", "o", coll_delete, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("SearchItems", "a{ss}", "ao", coll_search, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("CreateItem", "a{sv}(oayays)b", "oo", coll_create_item, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_PROPERTY("Items", "ao", coll_prop, 0, 0),
    SD_BUS_WRITABLE_PROPERTY("Label", "s", coll_prop, coll_set_label, 0, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_PROPERTY("Locked", "b", coll_prop, 0, 0),
    SD_BUS_PROPERTY("Created", "t", coll_prop, 0, 0),
    SD_BUS_PROPERTY("Modified", "t", coll_prop, 0, 0),
    SD_BUS_SIGNAL("ItemCreated", "o", 0),
    SD_BUS_SIGNAL("ItemDeleted", "o", 0),
    SD_BUS_SIGNAL("ItemChanged", "o", 0),
    SD_BUS_VTABLE_END,
};

/* --------------------------------------------------------------------- item ---- */

static int item_find(sd_bus *bus, const char *path, const char *iface, void *userdata,
                     void **found, sd_bus_error *e)
{
    char coll[SS_NAME_MAX + 1], id[SS_ID_LEN + 1];
    (void)bus; (void)iface; (void)e;
    if (ss_parse_path(userdata, path, coll, id) != 0 || id[0] == '\0')
        return 0;
    *found = userdata;
    return 1;
}

static int item_delete(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
    ss *s = userdata;
    target t;
    ss_item it;
    int r;
    if ((r = target_of(s, m, &t, e)) < 0 || (r = target_item(s, m, &t, &it, true, e)) < 0)
        return r;
    hub_item_free(&it);
    if ((r = hub_item_delete(&s->hub, t.coll, t.id)) != 0)
        return ss_error(e, r);
    emit(s, SS_IFACE_COLLECTION, "ItemDeleted", t.coll, t.id);
    return sd_bus_reply_method_return(m, "o", "/");
}

static int item_get_secret(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
    ss *s = userdata;
    target t;
    ss_item it;
    ss_session *ses;
    sd_bus_message *reply = NULL;
    const char *spath;
    int r;
    if ((r = target_of(s, m, &t, e)) < 0 || (r = sd_bus_message_read(m, "o", &spath)) < 0)
        return r;
    if (!(ses = service_session(s, spath, sd_bus_message_get_sender(m))))
        return sd_bus_error_set(e, SS_ERR_NO_SESSION, "no such session (open one with OpenSession)");
    if ((r = target_item(s, m, &t, &it, false, e)) < 0)
        return r;
    if ((r = sd_bus_message_new_method_return(m, &reply)) >= 0 &&
        (r = ss_append_secret(reply, ses, &it)) >= 0)
        r = sd_bus_send(NULL, reply, NULL);
    sd_bus_message_unref(reply);
    hub_item_free(&it);
    return r;
}

/* Rewrites the item of t with one of label, attrs or secret changed (NULL: kept). */
static int item_update(ss *s, sd_bus_message *m, target *t, const char *label, const ss_attrs *attrs,
                       const unsigned char *secret, size_t slen, const char *ct, sd_bus_error *e)
{
    ss_item it;
    int r;
    if ((r = target_item(s, m, t, &it, true, e)) < 0)
        return r;
    if (attrs && !rules_allows(&t->peer, t->coll, attrs, true)) {
        hub_item_free(&it);
        return rules_deny(&t->peer, m, sd_bus_message_get_member(m), e);
    }
    r = hub_item_put(&s->hub, t->coll, t->id, &(ss_item_in){
        .label = label ? label : it.label, .attrs = attrs ? attrs : &it.attrs,
        .secret = secret ? secret : it.secret, .secret_len = secret ? slen : it.secret_len,
        .content_type = ct ? ct : it.content_type });
    hub_item_free(&it);
    if (r != 0)
        return ss_error(e, r);
    emit(s, SS_IFACE_COLLECTION, "ItemChanged", t->coll, t->id);
    return 0;
}

static int item_set_secret(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
    ss *s = userdata;
    target t;
    unsigned char *secret = NULL;
    size_t slen = 0;
    char ct[128];
    int r;
    if ((r = target_of(s, m, &t, e)) < 0 || (r = ss_read_secret(s, m, &secret, &slen, ct, sizeof(ct), e)) < 0)
        return r;
    if (secret && (r = item_update(s, m, &t, NULL, NULL, secret, slen, ct, e)) >= 0)
        r = sd_bus_reply_method_return(m, "");
    sodium_free(secret);
    return r;
}

static int item_prop(sd_bus *bus, const char *path, const char *iface, const char *prop,
                     sd_bus_message *reply, void *userdata, sd_bus_error *e)
{
    ss *s = userdata;
    sd_bus_message *m = sd_bus_get_current_message(bus);
    target t;
    ss_item it;
    int locked, r;
    (void)path; (void)iface;
    if ((r = target_of(s, m, &t, e)) < 0)
        return r;
    if ((locked = hub_locked(&s->hub)) < 0)
        return ss_error(e, locked);
    if (strcmp(prop, "Locked") == 0)
        return sd_bus_message_append(reply, "b", locked);
    if (locked) {
        ss_attrs a = { .n = 0 };
        void *zone = NULL;
        if (strcmp(prop, "Attributes") == 0) {
            hub_index_attrs(&s->hub, t.coll, t.id, &a, &zone);
            r = append_attrs(reply, &a);
            ss_zone_free(zone);
            return r;
        }
        return strcmp(prop, "Label") == 0 ? sd_bus_message_append(reply, "s", "")
                                          : sd_bus_message_append(reply, "t", (uint64_t)0);
    }
    if ((r = target_item(s, m, &t, &it, false, e)) < 0)
        return r;
    if (strcmp(prop, "Label") == 0)
        r = sd_bus_message_append(reply, "s", it.label);
    else if (strcmp(prop, "Attributes") == 0)
        r = append_attrs(reply, &it.attrs);
    else
        r = sd_bus_message_append(reply, "t", (uint64_t)(strcmp(prop, "Created") == 0 ? it.created : it.modified));
    hub_item_free(&it);
    return r;
}

static int item_set_prop(sd_bus *bus, const char *path, const char *iface, const char *prop,
                         sd_bus_message *value, void *userdata, sd_bus_error *e)
{
    ss *s = userdata;
    sd_bus_message *m = sd_bus_get_current_message(bus);
    target t;
    const char *label;
    ss_attrs attrs;
    int r;
    (void)path; (void)iface;
    if ((r = target_of(s, m, &t, e)) < 0)
        return r;
    if (strcmp(prop, "Label") == 0)
        return (r = sd_bus_message_read(value, "s", &label)) < 0 ? r
               : item_update(s, m, &t, label, NULL, NULL, 0, NULL, e);
    return (r = ss_read_attrs(value, &attrs)) < 0 ? r : item_update(s, m, &t, NULL, &attrs, NULL, 0, NULL, e);
}

static const sd_bus_vtable item_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD("Delete", "", "o", item_delete, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("GetSecret", "o", "(oayays)", item_get_secret, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("SetSecret", "(oayays)", "", item_set_secret, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_PROPERTY("Locked", "b", item_prop, 0, 0),
    SD_BUS_WRITABLE_PROPERTY("Attributes", "a{ss}", item_prop, item_set_prop, 0, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_WRITABLE_PROPERTY("Label", "s", item_prop, item_set_prop, 0, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_PROPERTY("Created", "t", item_prop, 0, 0),
    SD_BUS_PROPERTY("Modified", "t", item_prop, 0, 0),
    SD_BUS_VTABLE_END,
};

int objects_register(ss *s)
{
    static const char *const prefixes[] = { SS_COLL_PREFIX, SS_ALIAS_PREFIX };
    int r;
    for (size_t i = 0; i < 2; i++)
        if ((r = sd_bus_add_fallback_vtable(s->bus, NULL, prefixes[i], SS_IFACE_COLLECTION,
                                            coll_vtable, coll_find, s)) < 0 ||
            (r = sd_bus_add_fallback_vtable(s->bus, NULL, prefixes[i], SS_IFACE_ITEM,
                                            item_vtable, item_find, s)) < 0)
            return r;
    return 0;
}
