/*
 * client/secret-service/service.c - the org.freedesktop.Secret.Service object, its
 * sessions (plain, and dh when libgcrypt is there) and its prompts.
 *
 * Prompts: there is no UI to ask for a passphrase (a headless server has none, and the
 * passphrase belongs to sekrets-cli). Unlock of a locked hub returns a Prompt whose
 * Prompt() completes with the objects unlocked once the hub has been unlocked with
 * `sekrets-cli unlock`, and otherwise fails with IsLocked and a message saying so.
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ss.h"

#define ALG_PLAIN "plain"
#define ALG_DH    "dh-ietf1024-sha256-aes128-cbc-pkcs7"

static void session_free(ss_session *ses)
{
    if (!ses)
        return;
    sodium_free(ses->key);
    free(ses);
}

ss_session *service_session(ss *s, const char *path, const char *sender)
{
    for (size_t i = 0; i < SS_MAX_SESSIONS; i++)
        if (s->sessions[i] && strcmp(s->sessions[i]->path, path) == 0)
            return sender && strcmp(s->sessions[i]->owner, sender) == 0 ? s->sessions[i] : NULL;
    return NULL;
}

/* Sessions and prompts of a client that left the bus go with it. */
static int on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
    ss *s = userdata;
    const char *name, *old, *new;
    (void)e;
    if (sd_bus_message_read(m, "sss", &name, &old, &new) < 0 || new[0] != '\0')
        return 0;
    for (size_t i = 0; i < SS_MAX_SESSIONS; i++)
        if (s->sessions[i] && strcmp(s->sessions[i]->owner, name) == 0) {
            session_free(s->sessions[i]);
            s->sessions[i] = NULL;
        }
    for (size_t i = 0; i < SS_MAX_PROMPTS; i++)
        if (s->prompts[i] && strcmp(s->prompts[i]->owner, name) == 0) {
            free(s->prompts[i]->objects);
            free(s->prompts[i]);
            s->prompts[i] = NULL;
        }
    return 0;
}

static int open_session(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
    ss *s = userdata;
    ss_peer peer;
    ss_session *ses = NULL;
    sd_bus_message *reply = NULL;
    const char *alg;
    const void *in = NULL;
    size_t inlen = 0, slot, publen = 0;
    unsigned char pub[128];
    int r;

    if ((r = ss_caller(s, m, &peer, e)) < 0)
        return r;
    if ((r = sd_bus_message_read(m, "s", &alg)) < 0)
        return r;
    for (slot = 0; slot < SS_MAX_SESSIONS && s->sessions[slot]; slot++)
        ;
    if (slot == SS_MAX_SESSIONS)
        return sd_bus_error_set(e, SD_BUS_ERROR_LIMITS_EXCEEDED, "too many open sessions");
    if (strcmp(alg, ALG_PLAIN) == 0) {
        if ((r = sd_bus_message_skip(m, "v")) < 0)
            return r;
    } else if (strcmp(alg, ALG_DH) == 0 && dh_available()) {
        if ((r = sd_bus_message_enter_container(m, 'v', "ay")) < 0)
            return sd_bus_error_set(e, SD_BUS_ERROR_INVALID_ARGS, "dh needs the client's public value (ay)");
        if ((r = sd_bus_message_read_array(m, 'y', &in, &inlen)) < 0)
            return r;
    } else {
        return sd_bus_error_setf(e, SD_BUS_ERROR_NOT_SUPPORTED, "algorithm not supported (offered: %s)",
                                 dh_available() ? ALG_PLAIN ", " ALG_DH : ALG_PLAIN);
    }
    if (!(ses = calloc(1, sizeof(*ses))))
        return -ENOMEM;
    snprintf(ses->path, sizeof(ses->path), SS_SESSION_PREFIX "/s%llu",
             (unsigned long long)++s->next_object);
    snprintf(ses->owner, sizeof(ses->owner), "%s", sd_bus_message_get_sender(m));
    if (in) {
        ses->dh = true;
        if (!(ses->key = sodium_malloc(16))) {
            r = -ENOMEM;
            goto out;
        }
        if (dh_negotiate(in, inlen, pub, &publen, ses->key) != 0) {
            r = sd_bus_error_set(e, SD_BUS_ERROR_INVALID_ARGS, "the client's dh public value is out of range");
            goto out;
        }
    }
    if ((r = sd_bus_message_new_method_return(m, &reply)) < 0 ||
        (r = sd_bus_message_open_container(reply, 'v', ses->dh ? "ay" : "s")) < 0 ||
        (r = ses->dh ? sd_bus_message_append_array(reply, 'y', pub, publen)
                     : sd_bus_message_append(reply, "s", "")) < 0 ||
        (r = sd_bus_message_close_container(reply)) < 0 ||
        (r = sd_bus_message_append(reply, "o", ses->path)) < 0 ||
        (r = sd_bus_send(NULL, reply, NULL)) < 0)
        goto out;
    s->sessions[slot] = ses;
    ses = NULL;
out:
    sd_bus_message_unref(reply);
    session_free(ses);
    return r;
}

static int session_close(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
    ss *s = userdata;
    const char *path = sd_bus_message_get_path(m);
    (void)e;
    for (size_t i = 0; i < SS_MAX_SESSIONS; i++)
        if (s->sessions[i] && strcmp(s->sessions[i]->path, path) == 0 &&
            strcmp(s->sessions[i]->owner, sd_bus_message_get_sender(m)) == 0) {
            session_free(s->sessions[i]);
            s->sessions[i] = NULL;
        }
    return sd_bus_reply_method_return(m, "");
}

static int session_find(sd_bus *bus, const char *path, const char *iface, void *userdata,
                        void **found, sd_bus_error *e)
{
    ss *s = userdata;
    (void)bus; (void)iface; (void)e;
    for (size_t i = 0; i < SS_MAX_SESSIONS; i++)
        if (s->sessions[i] && strcmp(s->sessions[i]->path, path) == 0) {
            *found = s;
            return 1;
        }
    return 0;
}

/* ------------------------------------------------------------------- prompts ---- */

static ss_prompt *prompt_get(ss *s, const char *path)
{
    for (size_t i = 0; i < SS_MAX_PROMPTS; i++)
        if (s->prompts[i] && strcmp(s->prompts[i]->path, path) == 0)
            return s->prompts[i];
    return NULL;
}

static void prompt_drop(ss *s, ss_prompt *p)
{
    for (size_t i = 0; i < SS_MAX_PROMPTS; i++)
        if (s->prompts[i] == p) {
            free(p->objects);
            free(p);
            s->prompts[i] = NULL;
        }
}

/* A prompt that reports `objects` unlocked once the hub is. Written into path. */
static int prompt_new(ss *s, sd_bus_message *m, char (*objects)[128], size_t n, char *path)
{
    size_t slot;
    ss_prompt *p;
    for (slot = 0; slot < SS_MAX_PROMPTS && s->prompts[slot]; slot++)
        ;
    if (slot == SS_MAX_PROMPTS)
        return -EBUSY;
    if (!(p = calloc(1, sizeof(*p))) || !(p->objects = calloc(n + 1, sizeof(*p->objects)))) {
        free(p);
        return -ENOMEM;
    }
    memcpy(p->objects, objects, n * sizeof(*objects));
    p->nobjects = n;
    snprintf(p->path, sizeof(p->path), SS_PROMPT_PREFIX "/p%llu", (unsigned long long)++s->next_object);
    snprintf(p->owner, sizeof(p->owner), "%s", sd_bus_message_get_sender(m));
    s->prompts[slot] = p;
    memcpy(path, p->path, sizeof(p->path));
    return 0;
}

static int prompt_completed(ss *s, ss_prompt *p, bool dismissed)
{
    sd_bus_message *sig = NULL;
    int r;
    if ((r = sd_bus_message_new_signal(s->bus, &sig, p->path, SS_IFACE_PROMPT, "Completed")) < 0 ||
        (r = sd_bus_message_append(sig, "b", dismissed)) < 0 ||
        (r = sd_bus_message_open_container(sig, 'v', "ao")) < 0 ||
        (r = sd_bus_message_open_container(sig, 'a', "o")) < 0)
        goto out;
    for (size_t i = 0; !dismissed && i < p->nobjects; i++)
        if ((r = sd_bus_message_append(sig, "o", p->objects[i])) < 0)
            goto out;
    if ((r = sd_bus_message_close_container(sig)) < 0 ||
        (r = sd_bus_message_close_container(sig)) < 0)
        goto out;
    r = sd_bus_send(s->bus, sig, NULL);
out:
    sd_bus_message_unref(sig);
    return r;
}

/* The prompt m is called on, when its caller is the one it was made for. */
static ss_prompt *prompt_of(ss *s, sd_bus_message *m)
{
    ss_prompt *p = prompt_get(s, sd_bus_message_get_path(m));
    return p && strcmp(p->owner, sd_bus_message_get_sender(m)) == 0 ? p : NULL;
}

static int prompt_prompt(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
    ss *s = userdata;
    ss_prompt *p = prompt_of(s, m);
    int r;
    if (!p)
        return sd_bus_error_set(e, SS_ERR_NO_OBJECT, "no such prompt");
    if ((r = hub_locked(&s->hub)) != 0)
        return r < 0 ? ss_error(e, r) : ss_error(e, SKR_ELOCKED);
    if ((r = sd_bus_reply_method_return(m, "")) < 0)
        return r;
    r = prompt_completed(s, p, false);
    prompt_drop(s, p);
    return r;
}

static int prompt_dismiss(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
    ss *s = userdata;
    ss_prompt *p = prompt_of(s, m);
    int r;
    if (!p)
        return sd_bus_error_set(e, SS_ERR_NO_OBJECT, "no such prompt");
    if ((r = sd_bus_reply_method_return(m, "")) < 0)
        return r;
    r = prompt_completed(s, p, true);
    prompt_drop(s, p);
    return r;
}

static int prompt_find(sd_bus *bus, const char *path, const char *iface, void *userdata,
                       void **found, sd_bus_error *e)
{
    (void)bus; (void)iface; (void)e;
    if (!prompt_get(userdata, path))
        return 0;
    *found = userdata;
    return 1;
}

static const sd_bus_vtable session_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD("Close", "", "", session_close, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_VTABLE_END,
};

static const sd_bus_vtable prompt_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD("Prompt", "s", "", prompt_prompt, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("Dismiss", "", "", prompt_dismiss, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_SIGNAL("Completed", "bv", 0),
    SD_BUS_VTABLE_END,
};

/* ------------------------------------------------------------ Unlock / Lock ---- */

/* Reads an "ao" argument: the paths that name our collections or items, readable by p. */
static int read_objects(ss *s, sd_bus_message *m, const ss_peer *p, char (*out)[128], size_t max,
                        size_t *n)
{
    const char *path;
    char coll[SS_NAME_MAX + 1], id[SS_ID_LEN + 1];
    size_t k = 0;
    int r;
    if ((r = sd_bus_message_enter_container(m, 'a', "o")) < 0)
        return r;
    while ((r = sd_bus_message_read(m, "o", &path)) > 0)
        if (k < max && ss_parse_path(s, path, coll, id) == 0 && rules_allows(p, coll, NULL, false))
            snprintf(out[k++], 128, "%s", path);
    if (r < 0 || (r = sd_bus_message_exit_container(m)) < 0)
        return r;
    *n = k;
    return 0;
}

static int reply_objects(sd_bus_message *m, char (*objs)[128], size_t n, const char *prompt)
{
    sd_bus_message *reply = NULL;
    int r;
    if ((r = sd_bus_message_new_method_return(m, &reply)) < 0 ||
        (r = sd_bus_message_open_container(reply, 'a', "o")) < 0)
        goto out;
    for (size_t i = 0; i < n; i++)
        if ((r = sd_bus_message_append(reply, "o", objs[i])) < 0)
            goto out;
    if ((r = sd_bus_message_close_container(reply)) < 0 ||
        (r = sd_bus_message_append(reply, "o", prompt)) < 0)
        goto out;
    r = sd_bus_send(NULL, reply, NULL);
out:
    sd_bus_message_unref(reply);
    return r;
}

#define MAX_OBJECTS 256

static int unlock_or_lock(sd_bus_message *m, ss *s, sd_bus_error *e, bool lock)
{
    char (*objs)[128] = calloc(MAX_OBJECTS, 128), prompt[64] = "/";
    ss_peer peer;
    size_t n = 0;
    int r, locked;

    if (!objs)
        return -ENOMEM;
    if ((r = ss_caller(s, m, &peer, e)) < 0 || (r = read_objects(s, m, &peer, objs, MAX_OBJECTS, &n)) < 0)
        goto out;
    if (lock && !rules_allows(&peer, NULL, NULL, true)) {
        r = rules_deny(&peer, m, "Lock", e);
        goto out;
    }
    if ((locked = hub_locked(&s->hub)) < 0) {
        r = ss_error(e, locked);
        goto out;
    }
    if (lock && !locked && (r = hub_lock(&s->hub)) != 0) {
        r = ss_error(e, r);
        goto out;
    }
    if (!lock && locked) {
        if ((r = prompt_new(s, m, objs, n, prompt)) < 0)
            goto out;
        n = 0;
    }
    r = reply_objects(m, objs, n, prompt);
out:
    free(objs);
    return r;
}

static int service_unlock(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
    return unlock_or_lock(m, userdata, e, false);
}

static int service_lock(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
    return unlock_or_lock(m, userdata, e, true);
}

static const sd_bus_vtable service_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD("OpenSession", "sv", "vo", open_session, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("CreateCollection", "a{sv}s", "oo", service_create_collection, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("SearchItems", "a{ss}", "aoao", service_search_items, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("Unlock", "ao", "aoo", service_unlock, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("Lock", "ao", "aoo", service_lock, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("GetSecrets", "aoo", "a{o(oayays)}", service_get_secrets, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("ReadAlias", "s", "o", service_read_alias, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("SetAlias", "so", "", service_set_alias, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_PROPERTY("Collections", "ao", service_prop_collections, 0, 0),
    SD_BUS_SIGNAL("CollectionCreated", "o", 0),
    SD_BUS_SIGNAL("CollectionDeleted", "o", 0),
    SD_BUS_SIGNAL("CollectionChanged", "o", 0),
    SD_BUS_VTABLE_END,
};

int service_register(ss *s)
{
    int r;
    if ((r = sd_bus_add_object_vtable(s->bus, NULL, SS_PATH, SS_IFACE_SERVICE, service_vtable, s)) < 0 ||
        (r = sd_bus_add_fallback_vtable(s->bus, NULL, SS_SESSION_PREFIX, SS_IFACE_SESSION,
                                        session_vtable, session_find, s)) < 0 ||
        (r = sd_bus_add_fallback_vtable(s->bus, NULL, SS_PROMPT_PREFIX, SS_IFACE_PROMPT,
                                        prompt_vtable, prompt_find, s)) < 0 ||
        (r = sd_bus_match_signal(s->bus, NULL, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                 "org.freedesktop.DBus", "NameOwnerChanged",
                                 on_name_owner_changed, s)) < 0)
        return r;
    return 0;
}

void service_free(ss *s)
{
    for (size_t i = 0; i < SS_MAX_SESSIONS; i++) {
        session_free(s->sessions[i]);
        s->sessions[i] = NULL;
    }
    for (size_t i = 0; i < SS_MAX_PROMPTS; i++)
        if (s->prompts[i])
            prompt_drop(s, s->prompts[i]);
}
