#include "policy.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READ_OPS ((1u << PROTO_OP_GET) | (1u << PROTO_OP_GETDB) | (1u << PROTO_OP_GETHUB) | \
                  (1u << PROTO_OP_STATUS) | (1u << PROTO_OP_PING))

const policy_grant *policy_admit(const policy *p, uid_t uid, gid_t gid)
{
    for (size_t i = 0; i < p->ngrants; i++)
        if (p->grants[i].has_uid && p->grants[i].uid == uid)
            return &p->grants[i];
    for (size_t i = 0; i < p->ngrants; i++)
        if (p->grants[i].has_gid && p->grants[i].gid == gid)
            return &p->grants[i];
    return NULL;
}

bool policy_allows_op(const policy_grant *g, proto_op op)
{
    return op > PROTO_OP_NONE && op < PROTO_OP_COUNT && (g->ops & (1u << op)) != 0;
}

bool policy_allows_protocol(const policy_grant *g, const char *protocol)
{
    for (size_t i = 0; i < g->nprotocols; i++)
        if (strcmp(g->protocols[i], protocol) == 0)
            return true;
    return false;
}

static policy_grant *grant_for(policy *p, const char *label)
{
    for (size_t i = 0; i < p->ngrants; i++)
        if (strcmp(p->grants[i].label, label) == 0)
            return &p->grants[i];
    policy_grant *g = realloc(p->grants, (p->ngrants + 1) * sizeof(*g));
    if (g == NULL)
        return NULL;
    p->grants = g;
    g = &p->grants[p->ngrants++];
    memset(g, 0, sizeof(*g));
    snprintf(g->label, sizeof(g->label), "%s", label);
    g->ops = READ_OPS;
    return g;
}

static int parse_id(const char *v, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long n = strtoul(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || n >= (unsigned long)(uid_t)-1)
        return -1;
    *out = n;
    return 0;
}

/* Calls fn for each comma- or space-separated word of list. */
static int each_word(const char *list, int (*fn)(policy_grant *, const char *, char *, size_t),
                     policy_grant *g, char *err, size_t errcap)
{
    char word[PROTO_MAX_PROTOCOL + 2];
    const char *p = list;
    while (*p != '\0') {
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        size_t n = strcspn(p, ", \t");
        if (n == 0)
            break;
        if (n >= sizeof(word)) {
            snprintf(err, errcap, "'%.*s...' is too long", 20, p);
            return -1;
        }
        memcpy(word, p, n);
        word[n] = '\0';
        if (fn(g, word, err, errcap) != 0)
            return -1;
        p += n;
    }
    return 0;
}

static int add_protocol(policy_grant *g, const char *w, char *err, size_t errcap)
{
    if (!proto_valid_protocol(w, strlen(w))) {
        snprintf(err, errcap, "'%s' is not a valid protocol name", w);
        return -1;
    }
    char **v = realloc(g->protocols, (g->nprotocols + 1) * sizeof(*v));
    if (v == NULL || (v[g->nprotocols] = strdup(w)) == NULL) {
        if (v != NULL)
            g->protocols = v;
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    g->protocols = v;
    g->nprotocols++;
    return 0;
}

static int add_op(policy_grant *g, const char *w, char *err, size_t errcap)
{
    proto_op op = proto_op_from_name(w, strlen(w));
    if (op == PROTO_OP_NONE || !(READ_OPS & (1u << op))) {
        snprintf(err, errcap, "op '%s' cannot be granted (only get, getDb, getHub, status, ping)", w);
        return -1;
    }
    g->ops |= 1u << op;
    return 0;
}

int policy_grant_set(policy *p, const char *section, const char *key, const char *value,
                     char *err, size_t errcap)
{
    policy_grant *g = grant_for(p, section);
    if (g == NULL) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    unsigned long id;
    if (strcmp(key, "uid") == 0 || strcmp(key, "user") == 0) {
        struct passwd *pw = NULL;
        if (parse_id(value, &id) != 0 && (pw = getpwnam(value)) == NULL) {
            snprintf(err, errcap, "unknown user '%s'", value);
            return -1;
        }
        g->has_uid = true;
        g->uid = pw != NULL ? pw->pw_uid : (uid_t)id;
    } else if (strcmp(key, "gid") == 0 || strcmp(key, "group") == 0) {
        struct group *gr = NULL;
        if (parse_id(value, &id) != 0 && (gr = getgrnam(value)) == NULL) {
            snprintf(err, errcap, "unknown group '%s'", value);
            return -1;
        }
        g->has_gid = true;
        g->gid = gr != NULL ? gr->gr_gid : (gid_t)id;
    } else if (strcmp(key, "protocols") == 0) {
        return each_word(value, add_protocol, g, err, errcap);
    } else if (strcmp(key, "ops") == 0) {
        g->ops = 0;
        return each_word(value, add_op, g, err, errcap);
    } else {
        snprintf(err, errcap, "unknown key '%s'", key);
        return -1;
    }
    return 0;
}

int policy_validate(const policy *p, char *err, size_t errcap)
{
    for (size_t i = 0; i < p->ngrants; i++) {
        const policy_grant *g = &p->grants[i];
        if (!g->has_uid && !g->has_gid) {
            snprintf(err, errcap, "[grant %s] needs a uid/user or gid/group", g->label);
            return -1;
        }
        if (g->nprotocols == 0) {
            snprintf(err, errcap, "[grant %s] needs protocols = ...", g->label);
            return -1;
        }
        if (g->has_uid && g->uid == p->owner) {
            snprintf(err, errcap, "[grant %s] names the daemon's own uid, which has every right", g->label);
            return -1;
        }
    }
    return 0;
}

void policy_free(policy *p)
{
    for (size_t i = 0; i < p->ngrants; i++) {
        for (size_t j = 0; j < p->grants[i].nprotocols; j++)
            free(p->grants[i].protocols[j]);
        free(p->grants[i].protocols);
    }
    free(p->grants);
    p->grants = NULL;
    p->ngrants = 0;
}
