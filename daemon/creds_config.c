/* [credential ID] sections of the config, and systemd's name rules (see creds.h). */
#include "creds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool unit_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == ':' || c == '_' || c == '.' || c == '\\' || c == '-' || c == '@';
}

bool creds_unit_valid(const char *s, size_t n)
{
    /* Only units that run processes have LoadCredential=. */
    static const char *const suffixes[] = { ".service", ".socket", ".mount", ".swap" };
    if (n == 0 || n > CREDS_UNIT_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!unit_char(s[i]))
            return false;
    size_t prefix = 0;
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        size_t l = strlen(suffixes[i]);
        if (n > l && memcmp(s + n - l, suffixes[i], l) == 0)
            prefix = n - l;
    }
    if (prefix == 0)
        return false;
    const char *at = memchr(s, '@', prefix);
    if (at == NULL)
        return true;
    /* foo@bar.service: one '@', a prefix before it, an instance after it */
    return at != s && (size_t)(at - s) + 1 < prefix && memchr(at + 1, '@', prefix - (size_t)(at - s) - 1) == NULL;
}

bool creds_id_valid(const char *s, size_t n)
{
    if (n == 0 || n > CREDS_ID_MAX || (n == 1 && s[0] == '.') ||
        (n == 2 && s[0] == '.' && s[1] == '.'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7e || s[i] == '/' || s[i] == ':')
            return false;
    return true;
}

int creds_parse_address(const char *a, size_t n, char unit[CREDS_UNIT_MAX + 1],
                        char id[CREDS_ID_MAX + 1])
{
    static const char mid[] = "/unit/";
    size_t hex = 0;
    while (hex < n && ((a[hex] >= '0' && a[hex] <= '9') || (a[hex] >= 'a' && a[hex] <= 'f')))
        hex++;
    if (hex == 0 || hex > 16 || n - hex < sizeof(mid) - 1 || memcmp(a + hex, mid, sizeof(mid) - 1) != 0)
        return -1;
    const char *u = a + hex + sizeof(mid) - 1, *end = a + n;
    const char *slash = memchr(u, '/', (size_t)(end - u));
    if (slash == NULL)
        return -1;
    size_t ulen = (size_t)(slash - u), ilen = (size_t)(end - slash - 1);
    if (!creds_unit_valid(u, ulen) || !creds_id_valid(slash + 1, ilen))
        return -1;
    memcpy(unit, u, ulen);
    unit[ulen] = '\0';
    memcpy(id, slash + 1, ilen);
    id[ilen] = '\0';
    return 0;
}

/* The path of the line "<n>:<controllers>:<path>" whose controllers field is `want`. */
static const char *cgroup_line(const char *text, size_t n, const char *want, size_t *len)
{
    const char *p = text, *end = text + n;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl != NULL ? nl : end;
        const char *c1 = memchr(p, ':', (size_t)(eol - p));
        const char *c2 = c1 != NULL ? memchr(c1 + 1, ':', (size_t)(eol - c1 - 1)) : NULL;
        if (c2 != NULL && (size_t)(c2 - c1 - 1) == strlen(want) &&
            memcmp(c1 + 1, want, strlen(want)) == 0 && (want[0] != '\0' || (c1 - p == 1 && p[0] == '0'))) {
            *len = (size_t)(eol - c2 - 1);
            return c2 + 1;
        }
        p = eol + 1;
    }
    return NULL;
}

int creds_cgroup_leaf(const char *text, size_t n, char *leaf, size_t cap)
{
    size_t len = 0;
    const char *path = cgroup_line(text, n, "", &len);
    if (path == NULL || (len == 1 && path[0] == '/'))
        path = cgroup_line(text, n, "name=systemd", &len);
    if (path == NULL || len < 2 || path[0] != '/')
        return -1;
    const char *last = path + len;
    while (last > path && last[-1] != '/')
        last--;
    size_t l = (size_t)(path + len - last);
    if (l == 0 || l >= cap)
        return -1;
    memcpy(leaf, last, l);
    leaf[l] = '\0';
    return 0;
}

/* ---- config ---- */

static creds_grant *grant_for(creds_config *c, const char *id)
{
    for (size_t i = 0; i < c->ngrants; i++)
        if (strcmp(c->grants[i].id, id) == 0)
            return &c->grants[i];
    creds_grant *g = realloc(c->grants, (c->ngrants + 1) * sizeof(*g));
    if (g == NULL)
        return NULL;
    c->grants = g;
    g = &c->grants[c->ngrants++];
    memset(g, 0, sizeof(*g));
    snprintf(g->id, sizeof(g->id), "%s", id);
    return g;
}

static int add_units(creds_grant *g, const char *list, char *err, size_t errcap)
{
    for (const char *p = list; *p != '\0';) {
        p += strspn(p, ", \t");
        size_t n = strcspn(p, ", \t");
        if (n == 0)
            break;
        if (!creds_unit_valid(p, n)) {
            snprintf(err, errcap, "'%.*s' is not a unit name that can load credentials "
                     "(e.g. mail.service)", n > 64 ? 64 : (int)n, p);
            return -1;
        }
        char **v = realloc(g->units, (g->nunits + 1) * sizeof(*v));
        if (v == NULL)
            goto oom;
        g->units = v;
        if ((v[g->nunits] = strndup(p, n)) == NULL)
            goto oom;
        g->nunits++;
        p += n;
    }
    return 0;
oom:
    snprintf(err, errcap, "out of memory");
    return -1;
}

static int add_piece(creds_grant *g, bool is_field, const char *s, size_t n)
{
    creds_piece *v = realloc(g->pieces, (g->npieces + 1) * sizeof(*v));
    if (v == NULL)
        return -1;
    g->pieces = v;
    if ((v[g->npieces].text = strndup(s, n)) == NULL)
        return -1;
    v[g->npieces].is_field = is_field;
    v[g->npieces].len = n;
    g->npieces++;
    return 0;
}

/* "user={username} pass={password}": {name} is a body field, {{ and }} literal braces. */
static int parse_template(creds_grant *g, const char *t, char *err, size_t errcap)
{
    char lit[1024];
    size_t nlit = 0;
    for (const char *p = t; *p != '\0'; p++) {
        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
            p++;
        } else if (*p == '{') {
            const char *close = strchr(p, '}');
            size_t n = close != NULL ? (size_t)(close - p - 1) : 0;
            if (close == NULL || n == 0 || memchr(p + 1, '{', n) != NULL) {
                snprintf(err, errcap, "template: '{' at offset %zu opens no {field}", (size_t)(p - t));
                return -1;
            }
            if ((nlit > 0 && add_piece(g, false, lit, nlit) != 0) || add_piece(g, true, p + 1, n) != 0)
                goto oom;
            nlit = 0;
            p = close;
            continue;
        } else if (*p == '}') {
            snprintf(err, errcap, "template: unmatched '}' at offset %zu (write }} for a brace)",
                     (size_t)(p - t));
            return -1;
        }
        if (nlit == sizeof(lit)) {
            if (add_piece(g, false, lit, nlit) != 0)
                goto oom;
            nlit = 0;
        }
        lit[nlit++] = *p;
    }
    if (nlit > 0 && add_piece(g, false, lit, nlit) != 0)
        goto oom;
    return 0;
oom:
    snprintf(err, errcap, "out of memory");
    return -1;
}

static int set_format(creds_grant *g, const char *key, const char *value, char *err, size_t errcap)
{
    if (g->format != 0) {
        snprintf(err, errcap, "'%s': give only one of field, format = json, template", key);
        return -1;
    }
    if (strcmp(key, "field") == 0) {
        if (value[0] == '\0' || (g->field = strdup(value)) == NULL) {
            snprintf(err, errcap, value[0] == '\0' ? "field is empty" : "out of memory");
            return -1;
        }
        g->format = CREDS_FIELD;
        return 0;
    }
    if (strcmp(key, "format") == 0) {
        if (strcmp(value, "json") != 0) {
            snprintf(err, errcap, "format '%s': only 'json' (or use field / template)", value);
            return -1;
        }
        g->format = CREDS_JSON;
        return 0;
    }
    if (value[0] == '\0') {
        snprintf(err, errcap, "template is empty");
        return -1;
    }
    g->format = CREDS_TEMPLATE;
    return parse_template(g, value, err, errcap);
}

int creds_config_set(creds_config *c, const char *id, const char *key, const char *value,
                     char *err, size_t errcap)
{
    if (!creds_id_valid(id, strlen(id))) {
        snprintf(err, errcap, "[credential %.64s]: not a valid credential ID (1-255 printable "
                 "ASCII characters, no '/' or ':')", id);
        return -1;
    }
    creds_grant *g = grant_for(c, id);
    if (g == NULL) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    if (strcmp(key, "unit") == 0 || strcmp(key, "units") == 0)
        return add_units(g, value, err, errcap);
    if (strcmp(key, "protocol") == 0 || strcmp(key, "name") == 0) {
        bool proto = key[0] == 'p';
        char *dst = proto ? g->protocol : g->name;
        size_t n = strlen(value);
        if (dst[0] != '\0' || !(proto ? proto_valid_protocol(value, n) : proto_valid_name(value, n))) {
            snprintf(err, errcap, dst[0] != '\0' ? "%s given twice" : "invalid %s '%.64s'", key, value);
            return -1;
        }
        memcpy(dst, value, n + 1);
        return 0;
    }
    if (strcmp(key, "field") == 0 || strcmp(key, "format") == 0 || strcmp(key, "template") == 0)
        return set_format(g, key, value, err, errcap);
    snprintf(err, errcap, "[credential %s] unknown key '%s' (unit, protocol, name, field, "
             "format, template)", id, key);
    return -1;
}

int creds_config_validate(const creds_config *c, char *err, size_t errcap)
{
    for (size_t i = 0; i < c->ngrants; i++) {
        const creds_grant *g = &c->grants[i];
        const char *missing = g->nunits == 0 ? "unit = ..." : g->protocol[0] == '\0' ? "protocol = ..."
                              : g->name[0] == '\0' ? "name = ..." : g->format == 0
                              ? "one of field = ..., format = json, template = ..." : NULL;
        if (missing != NULL) {
            snprintf(err, errcap, "[credential %s] needs %s", g->id, missing);
            return -1;
        }
        for (size_t u = 0; u < g->nunits; u++) {
            if (strlen(g->units[u]) + strlen(g->id) > CREDS_UNIT_ID_MAX) {
                snprintf(err, errcap, "[credential %s]: unit %s and this ID together are longer "
                         "than %d characters: systemd cannot put them in its socket address",
                         g->id, g->units[u], CREDS_UNIT_ID_MAX);
                return -1;
            }
        }
    }
    return 0;
}

const creds_grant *creds_config_find(const creds_config *c, const char *unit, const char *id)
{
    for (size_t i = 0; i < c->ngrants; i++) {
        if (strcmp(c->grants[i].id, id) != 0)
            continue;
        for (size_t u = 0; u < c->grants[i].nunits; u++)
            if (strcmp(c->grants[i].units[u], unit) == 0)
                return &c->grants[i];
    }
    return NULL;
}

void creds_config_free(creds_config *c)
{
    for (size_t i = 0; i < c->ngrants; i++) {
        creds_grant *g = &c->grants[i];
        for (size_t u = 0; u < g->nunits; u++)
            free(g->units[u]);
        for (size_t p = 0; p < g->npieces; p++)
            free(g->pieces[p].text);
        free(g->units);
        free(g->pieces);
        free(g->field);
    }
    free(c->grants);
    c->grants = NULL;
    c->ngrants = 0;
}
