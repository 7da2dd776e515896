/*
 * client/secret-service/util.c - what the service's objects share: object paths, the one
 * mapping of SKR_E* codes to D-Bus errors, the caller's identity, and the Secret struct
 * (oayays) in and out through a session.
 */
#include <errno.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ss.h"

int ss_error(sd_bus_error *e, int r)
{
    switch (r) {
    case SKR_ELOCKED:
        return sd_bus_error_set(e, SS_ERR_LOCKED, SS_LOCKED_HINT);
    case SKR_ENOT_FOUND:
        return sd_bus_error_set(e, SS_ERR_NO_OBJECT, "no such item or collection");
    case SKR_EDENIED:
        return sd_bus_error_set(e, SD_BUS_ERROR_ACCESS_DENIED, "sekretsd denied the request");
    case SKR_EINVAL:
    case SKR_EBAD_REQUEST:
        return sd_bus_error_set(e, SD_BUS_ERROR_INVALID_ARGS, "invalid argument");
    case SKR_ETOO_LARGE:
        return sd_bus_error_set(e, SD_BUS_ERROR_LIMITS_EXCEEDED, "secret or attributes too large");
    case SKR_ECONNECT:
        return sd_bus_error_set(e, SD_BUS_ERROR_FAILED,
                                "cannot reach sekretsd: start it with `systemctl --user start sekretsd`");
    default:
        return sd_bus_error_setf(e, SD_BUS_ERROR_FAILED, "sekrets: %s", skr_strerror(r));
    }
}

bool ss_valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > SS_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

static bool valid_id(const char *id)
{
    if (strlen(id) != SS_ID_LEN)
        return false;
    for (size_t i = 0; i < SS_ID_LEN; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return false;
    return true;
}

void ss_path(char *buf, size_t size, const char *coll, const char *id)
{
    if (id && id[0])
        snprintf(buf, size, SS_COLL_PREFIX "/%s/%s", coll, id);
    else
        snprintf(buf, size, SS_COLL_PREFIX "/%s", coll);
}

/* Copies the next path element of *p (up to '/' or the end) into out. */
static bool next_elem(const char **p, char *out, size_t size)
{
    const char *s = *p, *e = strchr(s, '/');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    if (n == 0 || n >= size)
        return false;
    memcpy(out, s, n);
    out[n] = '\0';
    *p = e ? e + 1 : s + n;
    return true;
}

int ss_parse_path(ss *s, const char *path, char *coll, char *id)
{
    char name[SS_NAME_MAX + 2], item[SS_ID_LEN + 2] = "";
    const char *p, *target;
    bool alias;

    if (strncmp(path, SS_COLL_PREFIX "/", sizeof(SS_COLL_PREFIX)) == 0) {
        p = path + sizeof(SS_COLL_PREFIX);
        alias = false;
    } else if (strncmp(path, SS_ALIAS_PREFIX "/", sizeof(SS_ALIAS_PREFIX)) == 0) {
        p = path + sizeof(SS_ALIAS_PREFIX);
        alias = true;
    } else {
        return SKR_ENOT_FOUND;
    }
    if (!next_elem(&p, name, sizeof(name)) || !ss_valid_name(name))
        return SKR_ENOT_FOUND;
    if (*p && (!next_elem(&p, item, sizeof(item)) || *p || !valid_id(item)))
        return SKR_ENOT_FOUND;
    hub_meta(&s->hub); /* a locked hub leaves the defaults, or what was read before */
    target = alias ? hub_alias(&s->hub, name) : (hub_collection(&s->hub, name) ? name : NULL);
    if (!target)
        return SKR_ENOT_FOUND;
    memcpy(coll, target, strlen(target) + 1); /* at most SS_NAME_MAX */
    memcpy(id, item, strlen(item) + 1);       /* "" or SS_ID_LEN digits (valid_id) */
    return 0;
}

int ss_caller(ss *s, sd_bus_message *m, ss_peer *p, sd_bus_error *e)
{
    int r = rules_peer(&s->rules, m, p);
    if (r < 0)
        return sd_bus_error_set(e, SD_BUS_ERROR_ACCESS_DENIED, "cannot identify the caller");
    if (!p->allowed)
        return rules_deny(p, m, sd_bus_message_get_member(m), e);
    return 0;
}

int ss_read_secret(ss *s, sd_bus_message *m, unsigned char **secret, size_t *len,
                   char *content_type, size_t ct_size, sd_bus_error *e)
{
    const char *spath, *ct;
    const void *params, *value;
    size_t plen, vlen, outlen = 0;
    unsigned char *buf = NULL;
    ss_session *ses;
    int r;

    if ((r = sd_bus_message_enter_container(m, 'r', "oayays")) < 0 ||
        (r = sd_bus_message_read(m, "o", &spath)) < 0 ||
        (r = sd_bus_message_read_array(m, 'y', &params, &plen)) < 0 ||
        (r = sd_bus_message_read_array(m, 'y', &value, &vlen)) < 0 ||
        (r = sd_bus_message_read(m, "s", &ct)) < 0 ||
        (r = sd_bus_message_exit_container(m)) < 0)
        return r;
    if (!(ses = service_session(s, spath, sd_bus_message_get_sender(m))))
        return sd_bus_error_set(e, SS_ERR_NO_SESSION, "no such session (open one with OpenSession)");
    if (vlen > SKR_MAX_BODY)
        return ss_error(e, SKR_ETOO_LARGE);
    if (!(buf = sodium_malloc(vlen + 1)))
        return ss_error(e, SKR_ENOMEM);
    if (ses->dh) {
        r = plen == 16 ? dh_decrypt(ses->key, params, value, vlen, buf, &outlen) : SKR_EINVAL;
    } else {
        r = plen == 0 ? 0 : SKR_EINVAL;
        memcpy(buf, value, vlen);
        outlen = vlen;
    }
    if (r != 0) {
        sodium_free(buf);
        return sd_bus_error_set(e, SD_BUS_ERROR_INVALID_ARGS, "the secret does not decode in its session");
    }
    snprintf(content_type, ct_size, "%s", ct);
    *secret = buf;
    *len = outlen;
    return 0;
}

int ss_append_secret(sd_bus_message *reply, const ss_session *ses, const ss_item *it)
{
    unsigned char iv[16], *buf = NULL;
    size_t outlen = 0;
    int r;

    if ((r = sd_bus_message_open_container(reply, 'r', "oayays")) < 0 ||
        (r = sd_bus_message_append(reply, "o", ses->path)) < 0)
        return r;
    if (ses->dh) {
        if (!(buf = sodium_malloc(it->secret_len + 16)))
            return -ENOMEM;
        randombytes_buf(iv, sizeof(iv));
        if (dh_encrypt(ses->key, iv, it->secret, it->secret_len, buf, &outlen) != 0) {
            sodium_free(buf);
            return -EIO;
        }
        r = sd_bus_message_append_array(reply, 'y', iv, sizeof(iv));
        if (r >= 0)
            r = sd_bus_message_append_array(reply, 'y', buf, outlen);
        sodium_free(buf);
    } else {
        r = sd_bus_message_append_array(reply, 'y', NULL, 0);
        if (r >= 0)
            r = sd_bus_message_append_array(reply, 'y', it->secret, it->secret_len);
    }
    if (r < 0 || (r = sd_bus_message_append(reply, "s", it->content_type)) < 0)
        return r;
    return sd_bus_message_close_container(reply);
}
