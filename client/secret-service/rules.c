/*
 * client/secret-service/rules.c - who may use the Secret Service: each D-Bus caller is
 * identified by the bus (GetConnectionCredentials: uid and pid), then by /proc/PID/exe and
 * its systemd unit, and matched against the rules file:
 *
 *   [secret-service NAME]
 *   exe = /usr/bin/secret-tool       ; the caller's executable (absolute path), and/or
 *   unit = backup.service            ; the systemd (user) unit it runs in
 *   collections = login, work        ; what it may read (names or aliases; * for all)
 *   attributes = service=git         ; and only the items carrying all of these
 *   write = yes                      ; it may also create, change and delete those
 *
 * The file may be sekretsd's --config: sections not named secret-service are the daemon's
 * (it refuses those it does not know and ignores ours). The unit is libsystemd's reading of
 * the pid's cgroup: a user unit (.../user@UID.service/app.slice/NAME.service), else a system
 * unit (/system.slice/NAME.service).
 * The first rule whose exe and unit both match applies. Without a rules file every caller
 * of the service's own uid may do everything (as with gnome-keyring); with one, a caller no
 * rule matches is refused. Another uid is always refused. Limits (SECURITY.md): the pid is
 * read when the call arrives, so a process that exits and whose pid is reused between the
 * call and the /proc read is judged by its successor; and a same-uid process can ptrace
 * an allowed one unless ptrace is restricted (kernel.yama.ptrace_scope >= 1).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <systemd/sd-login.h>

#include "skr_config.h"
#include "log.h"
#include "ss.h"

#if SKR_HAVE_INIH
#include <ini.h>
#endif

static char *trim(char *s)
{
    char *e;
    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        *--e = '\0';
    return s;
}

/* Splits a comma-separated list into new strings. */
static int split(const char *value, char **out, size_t max, size_t *n)
{
    char *copy = strdup(value), *save = NULL, *tok;
    size_t k = *n;
    int r = 0;
    if (!copy)
        return SKR_ENOMEM;
    for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *t = trim(tok);
        if (!*t)
            continue;
        if (k == max || !(out[k] = strdup(t))) {
            r = k == max ? SKR_ETOO_LARGE : SKR_ENOMEM;
            break;
        }
        k++;
    }
    free(copy);
    *n = k;
    return r;
}

static ss_rule *rule_named(ss_rules *rs, const char *name)
{
    for (size_t i = 0; i < rs->n; i++)
        if (strcmp(rs->r[i].name, name) == 0)
            return &rs->r[i];
    if (rs->n == SS_MAX_RULES || strlen(name) >= sizeof(rs->r[0].name))
        return NULL;
    memset(&rs->r[rs->n], 0, sizeof(rs->r[0]));
    snprintf(rs->r[rs->n].name, sizeof(rs->r[0].name), "%s", name);
    return &rs->r[rs->n++];
}

static int rule_set(ss_rule *ru, const char *key, const char *value, char *err, size_t size)
{
    if (strcmp(key, "exe") == 0 || strcmp(key, "unit") == 0) {
        char **dst = key[0] == 'e' ? &ru->exe : &ru->unit;
        if (key[0] == 'e' && value[0] != '/') {
            snprintf(err, size, "[secret-service %s] exe must be an absolute path", ru->name);
            return -1;
        }
        free(*dst);
        return (*dst = strdup(value)) ? 0 : -1;
    }
    if (strcmp(key, "collections") == 0)
        return split(value, ru->collections, SS_MAX_COLLECTIONS, &ru->ncollections) == 0 ? 0 : -1;
    if (strcmp(key, "attributes") == 0) {
        char *pairs[SS_MAX_ATTRS];
        size_t n = 0;
        if (split(value, pairs, SS_MAX_ATTRS - ru->nattrs, &n) != 0)
            return -1;
        for (size_t i = 0; i < n; i++) {
            char *eq = strchr(pairs[i], '=');
            if (!eq || eq == pairs[i]) {
                snprintf(err, size, "[secret-service %s] attributes are key=value pairs", ru->name);
                for (; i < n; i++)
                    free(pairs[i]);
                return -1;
            }
            *eq = '\0';
            ru->attr_keys[ru->nattrs] = pairs[i];
            ru->attr_values[ru->nattrs++] = strdup(trim(eq + 1));
        }
        return 0;
    }
    if (strcmp(key, "write") == 0) {
        if (strcmp(value, "yes") != 0 && strcmp(value, "no") != 0) {
            snprintf(err, size, "[secret-service %s] write is yes or no", ru->name);
            return -1;
        }
        ru->write = value[0] == 'y';
        return 0;
    }
    snprintf(err, size, "[secret-service %s] unknown key '%s'", ru->name, key);
    return -1;
}

#if SKR_HAVE_INIH
typedef struct ini_ctx { ss_rules *rs; char err[256]; } ini_ctx;

static int on_ini(void *user, const char *section, const char *key, const char *value)
{
    ini_ctx *c = user;
    ss_rule *ru;
    if (strncmp(section, "secret-service", 14) != 0) {
        /* The file may be sekretsd's --config: every other section ([daemon], [grant NAME],
         * any it gains) is the daemon's, which refuses what it does not know, and ignores
         * ours in turn. */
        return 1;
    }
    if (section[14] != ' ' || section[15] == '\0') {
        snprintf(c->err, sizeof(c->err), "unknown section [%s] (use [secret-service NAME])", section);
        return 0;
    }
    if (!(ru = rule_named(c->rs, section + 15))) {
        snprintf(c->err, sizeof(c->err), "too many rules (at most %d)", SS_MAX_RULES);
        return 0;
    }
    if (rule_set(ru, key, value, c->err, sizeof(c->err)) != 0) {
        if (!c->err[0])
            snprintf(c->err, sizeof(c->err), "[secret-service %s] invalid %s", ru->name, key);
        return 0;
    }
    return 1;
}
#endif

int rules_load(ss_rules *rs, const char *path, char *err, size_t size)
{
#if SKR_HAVE_INIH
    ini_ctx c = { .rs = rs };
    int line = ini_parse(path, on_ini, &c);
    if (line == -1) {
        snprintf(err, size, "cannot open rules file %s: %s", path, strerror(errno));
        return SKR_EINVAL;
    }
    if (line != 0) {
        snprintf(err, size, "%s:%d: %s", path, line, c.err[0] ? c.err : "syntax error");
        return SKR_EINVAL;
    }
    for (size_t i = 0; i < rs->n; i++)
        if ((!rs->r[i].exe && !rs->r[i].unit) || rs->r[i].ncollections == 0) {
            snprintf(err, size, "%s: [secret-service %s] needs exe or unit, and collections", path,
                     rs->r[i].name);
            return SKR_EINVAL;
        }
    rs->configured = true;
    return 0;
#else
    snprintf(err, size, "cannot read %s: built without libinih (no rules support)", path);
    return SKR_EUNSUPPORTED;
#endif
}

void rules_free(ss_rules *rs)
{
    for (size_t i = 0; i < rs->n; i++) {
        ss_rule *ru = &rs->r[i];
        free(ru->exe);
        free(ru->unit);
        for (size_t j = 0; j < ru->ncollections; j++)
            free(ru->collections[j]);
        for (size_t j = 0; j < ru->nattrs; j++) {
            free(ru->attr_keys[j]);
            free(ru->attr_values[j]);
        }
    }
    memset(rs, 0, sizeof(*rs));
}

int rules_peer(const ss_rules *rs, sd_bus_message *m, ss_peer *p)
{
    sd_bus_creds *creds = NULL;
    char link[64], *unit = NULL;
    ssize_t n;
    int r;

    memset(p, 0, sizeof(*p));
    p->rs = rs;
    snprintf(p->sender, sizeof(p->sender), "%s", sd_bus_message_get_sender(m) ? sd_bus_message_get_sender(m) : "");
    /* From the bus daemon (GetConnectionCredentials), not from the message's claims. */
    if ((r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_PID | SD_BUS_CREDS_EUID, &creds)) < 0)
        return r;
    if ((r = sd_bus_creds_get_pid(creds, &p->pid)) < 0 || (r = sd_bus_creds_get_euid(creds, &p->uid)) < 0) {
        sd_bus_creds_unref(creds);
        return r;
    }
    sd_bus_creds_unref(creds);
    snprintf(link, sizeof(link), "/proc/%d/exe", (int)p->pid);
    if ((n = readlink(link, p->exe, sizeof(p->exe) - 1)) < 0)
        n = 0; /* unreadable (another uid, or gone): matches no exe rule */
    p->exe[n] = '\0';
    if (sd_pid_get_user_unit(p->pid, &unit) >= 0 || sd_pid_get_unit(p->pid, &unit) >= 0) {
        snprintf(p->unit, sizeof(p->unit), "%s", unit);
        free(unit);
    }
    if (p->uid != getuid())
        return 0;
    if (!rs->configured) {
        p->allowed = true;
        return 0;
    }
    for (size_t i = 0; i < rs->n; i++) {
        const ss_rule *ru = &rs->r[i];
        if ((ru->exe && strcmp(ru->exe, p->exe) != 0) || (ru->unit && strcmp(ru->unit, p->unit) != 0))
            continue;
        p->rule = ru;
        p->allowed = true;
        break;
    }
    return 0;
}

bool rules_allows(const ss_peer *p, const char *coll, const ss_attrs *attrs, bool write)
{
    const ss_rule *ru = p->rule;
    const char *alias;
    bool in = false;
    if (!p->allowed)
        return false;
    if (!ru) /* no rules file: the same uid may do everything */
        return true;
    if (write && !ru->write)
        return false;
    if (!coll) /* service-wide (Lock, CreateCollection): every collection must be granted */
        coll = "*";
    for (size_t i = 0; i < ru->ncollections && !in; i++)
        in = strcmp(ru->collections[i], "*") == 0 || strcmp(ru->collections[i], coll) == 0 ||
             (p->rs->hub && ss_valid_name(ru->collections[i]) &&
              (alias = hub_alias(p->rs->hub, ru->collections[i])) && strcmp(alias, coll) == 0);
    if (!in)
        return false;
    for (size_t i = 0; attrs && i < ru->nattrs; i++) {
        size_t j;
        for (j = 0; j < attrs->n; j++)
            if (strcmp(attrs->a[j].key, ru->attr_keys[i]) == 0 &&
                strcmp(attrs->a[j].value, ru->attr_values[i]) == 0)
                break;
        if (j == attrs->n)
            return false;
    }
    return true;
}

int rules_deny(const ss_peer *p, sd_bus_message *m, const char *what, sd_bus_error *e)
{
    const char *path = sd_bus_message_get_path(m) ? sd_bus_message_get_path(m) : "";
    char qexe[LOG_QUOTED_SIZE(256)], qunit[LOG_QUOTED_SIZE(128)], qpath[LOG_QUOTED_SIZE(128)];
    char qwhat[LOG_QUOTED_SIZE(64)], qsender[LOG_QUOTED_SIZE(64)];

    fprintf(stderr, "sekrets-secret-service: denied pid=%d uid=%u exe=%s unit=%s sender=%s call=%s path=%s rule=%s\n",
            (int)p->pid, (unsigned)p->uid,
            log_quote(qexe, sizeof(qexe), p->exe, strlen(p->exe)),
            log_quote(qunit, sizeof(qunit), p->unit, strlen(p->unit)),
            log_quote(qsender, sizeof(qsender), p->sender, strlen(p->sender)),
            log_quote(qwhat, sizeof(qwhat), what ? what : "", what ? strlen(what) : 0),
            log_quote(qpath, sizeof(qpath), path, strlen(path)),
            p->rule ? p->rule->name : "-");
    return sd_bus_error_setf(e, SD_BUS_ERROR_ACCESS_DENIED,
                             "%s refused by the sekrets secret-service rules", what ? what : "call");
}
