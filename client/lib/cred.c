/*
 * client/lib/cred.c - a credential: the get result, its body and accessors to its fields.
 *
 * The body is kept as the packed bytes the daemon sent (checked as one bounded object);
 * fields are found by walking it with the bounded cursor, nothing is unpacked ahead.
 * Strings handed out as NUL-terminated copies are kept on a list so that skr_cred_free
 * wipes them with the body.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "mp.h"

typedef struct str_copy {
    struct str_copy *next;
    size_t len;
    char s[];
} str_copy;

struct skr_cred {
    char protocol[PROTO_MAX_PROTOCOL + 1];
    char name[PROTO_MAX_NAME + 1];
    int64_t created;
    int64_t modified;
    uint8_t *body;
    size_t body_len;
    str_copy *copies;
};

void skr_cred_free(skr_cred *cred)
{
    if (cred == NULL)
        return;
    for (str_copy *s = cred->copies, *next; s != NULL; s = next) {
        next = s->next;
        sodium_memzero(s->s, s->len + 1);
        free(s);
    }
    if (cred->body != NULL) {
        sodium_memzero(cred->body, cred->body_len);
        free(cred->body);
    }
    sodium_memzero(cred, sizeof(*cred));
    free(cred);
}

static int cred_new(const char *protocol, const char *name, const uint8_t *body, size_t len,
                    skr_cred **out)
{
    skr_cred *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return SKR_ENOMEM;
    c->body = malloc(len ? len : 1);
    if (c->body == NULL) {
        free(c);
        return SKR_ENOMEM;
    }
    memcpy(c->body, body, len);
    c->body_len = len;
    snprintf(c->protocol, sizeof(c->protocol), "%s", protocol);
    snprintf(c->name, sizeof(c->name), "%s", name);
    *out = c;
    return 0;
}

static int read_time(proto_cur *c, int64_t *v)
{
    if (proto_cur_int(c, v) == 0)
        return 0;
    return proto_cur_skip(c, NULL, NULL); /* not an integer: tolerated, left 0 */
}

int cred_from_result(const uint8_t *p, size_t len, skr_cred **out)
{
    proto_cur c = proto_cur_make(p, len);
    char protocol[PROTO_MAX_PROTOCOL + 1] = "", name[PROTO_MAX_NAME + 1] = "";
    const uint8_t *body = NULL;
    size_t body_len = 0;
    int64_t created = 0, modified = 0;
    uint32_t n;
    skr_cred *cred;
    int r;

    if (proto_cur_map(&c, &n) != 0)
        return SKR_EPROTOCOL;
    for (uint32_t i = 0; i < n; i++) {
        const char *k, *s;
        uint32_t kl, sl;
        int e;
        if (proto_cur_str(&c, &k, &kl) != 0)
            return SKR_EPROTOCOL;
#define KEY(lit) (kl == sizeof(lit) - 1 && memcmp(k, lit, kl) == 0)
        if (KEY("protocol")) {
            if ((e = proto_cur_str(&c, &s, &sl)) == 0) {
                if (!proto_valid_protocol(s, sl))
                    return SKR_EPROTOCOL;
                memcpy(protocol, s, sl);
                protocol[sl] = '\0';
            }
        } else if (KEY("name")) {
            if ((e = proto_cur_str(&c, &s, &sl)) == 0) {
                if (!proto_valid_name(s, sl))
                    return SKR_EPROTOCOL;
                memcpy(name, s, sl);
                name[sl] = '\0';
            }
        } else if (KEY("body")) {
            e = proto_cur_skip(&c, &body, &body_len);
        } else if (KEY("created")) {
            e = read_time(&c, &created);
        } else if (KEY("modified")) {
            e = read_time(&c, &modified);
        } else {
            e = proto_cur_skip(&c, NULL, NULL);
        }
#undef KEY
        if (e != 0)
            return SKR_EPROTOCOL;
    }
    if (body == NULL)
        return SKR_EPROTOCOL;
    if ((r = cred_new(protocol, name, body, body_len, &cred)) != 0)
        return r;
    cred->created = created;
    cred->modified = modified;
    *out = cred;
    return 0;
}

const char *skr_cred_protocol(const skr_cred *cred)
{
    return cred != NULL ? cred->protocol : "";
}

const char *skr_cred_name(const skr_cred *cred)
{
    return cred != NULL ? cred->name : "";
}

int64_t skr_cred_created(const skr_cred *cred)
{
    return cred != NULL ? cred->created : 0;
}

int64_t skr_cred_modified(const skr_cred *cred)
{
    return cred != NULL ? cred->modified : 0;
}

void skr_cred_body(const skr_cred *cred, const void **body, size_t *len)
{
    if (body != NULL)
        *body = cred != NULL ? cred->body : NULL;
    if (len != NULL)
        *len = cred != NULL ? cred->body_len : 0;
}

/* Finds top-level `field` of the body map; *val is a cursor at its value. */
static int find(const skr_cred *cred, const char *field, proto_cur *val)
{
    if (cred == NULL || field == NULL)
        return SKR_EINVAL;
    proto_cur c = proto_cur_make(cred->body, cred->body_len);
    size_t fl = strlen(field);
    uint32_t n;
    if (proto_cur_map(&c, &n) != 0)
        return SKR_ENOT_FOUND;
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t kl;
        if (proto_cur_str(&c, &k, &kl) == 0) {
            if (kl == fl && memcmp(k, field, fl) == 0) {
                *val = c;
                return 0;
            }
        } else if (proto_cur_skip(&c, NULL, NULL) != 0) {
            return SKR_EPROTOCOL;
        }
        if (proto_cur_skip(&c, NULL, NULL) != 0)
            return SKR_EPROTOCOL;
    }
    return SKR_ENOT_FOUND;
}

skr_type skr_cred_type(const skr_cred *cred, const char *field)
{
    proto_cur c;
    if (find(cred, field, &c) != 0)
        return SKR_TYPE_NONE;
    switch (proto_cur_peek(&c)) {
    case PROTO_MP_NIL: return SKR_TYPE_NIL;
    case PROTO_MP_BOOL: return SKR_TYPE_BOOL;
    case PROTO_MP_UINT:
    case PROTO_MP_INT: return SKR_TYPE_INT;
    case PROTO_MP_FLOAT: return SKR_TYPE_FLOAT;
    case PROTO_MP_STR: return SKR_TYPE_STRING;
    case PROTO_MP_BIN: return SKR_TYPE_BINARY;
    case PROTO_MP_ARRAY: return SKR_TYPE_ARRAY;
    case PROTO_MP_MAP: return SKR_TYPE_MAP;
    case PROTO_MP_EXT: return SKR_TYPE_EXT;
    default: return SKR_TYPE_NONE;
    }
}

int skr_cred_string(skr_cred *cred, const char *field, const char **value, size_t *len)
{
    proto_cur c;
    const uint8_t *s;
    uint32_t sl;
    bool is_bin;
    int r = find(cred, field, &c);
    if (r != 0)
        return r;
    if (value == NULL || proto_cur_str_or_bin(&c, &s, &sl, &is_bin) != 0)
        return SKR_EINVAL;
    str_copy *copy = malloc(sizeof(*copy) + (size_t)sl + 1);
    if (copy == NULL)
        return SKR_ENOMEM;
    memcpy(copy->s, s, sl);
    copy->s[sl] = '\0';
    copy->len = sl;
    copy->next = cred->copies;
    cred->copies = copy;
    *value = copy->s;
    if (len != NULL)
        *len = sl;
    return 0;
}

int skr_cred_int(const skr_cred *cred, const char *field, int64_t *value)
{
    proto_cur c;
    int64_t v;
    int r = find(cred, field, &c);
    if (r != 0)
        return r;
    if (value == NULL || proto_cur_int(&c, &v) != 0)
        return SKR_EINVAL;
    *value = v;
    return 0;
}

int skr_cred_raw(const skr_cred *cred, const char *field, const void **value, size_t *len)
{
    proto_cur c;
    const uint8_t *raw;
    size_t n;
    int r = find(cred, field, &c);
    if (r != 0)
        return r;
    if (value == NULL || len == NULL)
        return SKR_EINVAL;
    if (proto_cur_skip(&c, &raw, &n) != 0)
        return SKR_EPROTOCOL;
    *value = raw;
    *len = n;
    return 0;
}

int skr_cred_map(const skr_cred *cred, const char *field, skr_cred **out)
{
    proto_cur c;
    const uint8_t *raw;
    size_t n;
    int r = find(cred, field, &c);
    if (r != 0)
        return r;
    if (out == NULL || proto_cur_peek(&c) != PROTO_MP_MAP)
        return SKR_EINVAL;
    if (proto_cur_skip(&c, &raw, &n) != 0)
        return SKR_EPROTOCOL;
    return cred_new(cred->protocol, cred->name, raw, n, out);
}

int skr_cred_json(const skr_cred *cred, int flags, char **json)
{
    if (cred == NULL)
        return SKR_EINVAL;
    return skr_msgpack_to_json(cred->body, cred->body_len, flags, json);
}
