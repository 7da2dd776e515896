#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"
#include "paths.h"
#include "store.h"
#include "skr_config.h"
#include "sekrets/error.h"

#if SKR_HAVE_INIH
#include <ini.h>
#endif
#if SKR_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

static const char usage[] =
    "Usage: sekretsd [OPTION]...\n"
    "Keep an encrypted credential hub unlocked in memory and serve it on a Unix socket.\n"
    "\n"
    "  -f, --foreground         stay in the foreground (the only mode; for systemd and scripts)\n"
    "  -s, --socket PATH        socket path (default $SEKRETS_SOCKET, else\n"
    "                           $XDG_RUNTIME_DIR/sekrets/sekretsd.sock); not needed, and\n"
    "                           not used, when systemd passes a socket (LISTEN_FDS)\n"
    "  -H, --hub DIR            hub folder (default $SEKRETS_HUB, else\n"
    "                           $XDG_DATA_HOME/sekrets/hub)\n"
    "  -k, --keyfile FILE       create (if new) and unlock the hub with this keyfile\n"
    "                           (>= 32 bytes, readable by its owner only)\n"
    "      --keyfile-credential NAME  the keyfile is $CREDENTIALS_DIRECTORY/NAME (systemd\n"
    "                           LoadCredential=, for a headless unlock)\n"
    "  -c, --config FILE        ini file: [daemon] settings, [grant NAME] access rules and\n"
    "                           [credential ID] sections for systemd's LoadCredential=\n"
    "      --credentials-socket PATH  also serve systemd's LoadCredential= protocol here\n"
    "                           (e.g. $XDG_RUNTIME_DIR/sekrets/creds.sock)\n"
    "      --idle-lock SECONDS  lock after this long without a request (0 = never, default)\n"
    "      --max-clients N      connections served at once (default 256); more get 'busy'\n"
    "      --max-per-uid N      connections one granted uid may hold (default 64)\n"
    "      --owner-slots N      of max-clients, places only the daemon's own uid may take\n"
    "                           (default 16)\n"
    "      --idle-timeout MS    close a connection idle this long (default 300000, 0 = never)\n"
    "      --write-timeout MS   close a connection whose replies do not drain within this\n"
    "                           (default 10000)\n"
    "      --max-frame BYTES    largest frame accepted or sent (default 1048576)\n"
    "      --frame-timeout MS   a started frame must arrive whole within this (default 10000)\n"
    "      --log-level LEVEL    error, warn, info (default: one audit line per request), debug\n"
    "      --kdf-limits LEVEL   Argon2id cost for init/passwd: min, interactive,\n"
    "                           moderate (default), sensitive\n"
    "  -h, --help               show this help and exit\n"
    "  -V, --version            show the version and exit\n"
    "\n"
    "Exit codes: 0 stopped cleanly (SIGTERM/SIGINT), 1 runtime error, 2 usage or config\n"
    "error, 3 hub or socket folder refused (owner/permissions), 4 already running (on this\n"
    "socket or hub), 5 keyfile missing, refused or wrong for this hub, 6 cannot disable\n"
    "core dumps/ptrace.\n";

enum { OPT_KEYFILE_CRED = 255, OPT_IDLE = 256, OPT_MAX_CLIENTS, OPT_MAX_FRAME, OPT_FRAME_TIMEOUT, OPT_LOG_LEVEL, OPT_KDF,
       OPT_MAX_PER_UID, OPT_OWNER_SLOTS, OPT_IDLE_TIMEOUT, OPT_WRITE_TIMEOUT, OPT_CREDS_SOCKET };

static const struct option long_opts[] = {
    { "foreground", no_argument, NULL, 'f' },
    { "socket", required_argument, NULL, 's' },
    { "hub", required_argument, NULL, 'H' },
    { "keyfile", required_argument, NULL, 'k' },
    { "keyfile-credential", required_argument, NULL, OPT_KEYFILE_CRED },
    { "config", required_argument, NULL, 'c' },
    { "credentials-socket", required_argument, NULL, OPT_CREDS_SOCKET },
    { "idle-lock", required_argument, NULL, OPT_IDLE },
    { "max-clients", required_argument, NULL, OPT_MAX_CLIENTS },
    { "max-frame", required_argument, NULL, OPT_MAX_FRAME },
    { "frame-timeout", required_argument, NULL, OPT_FRAME_TIMEOUT },
    { "max-per-uid", required_argument, NULL, OPT_MAX_PER_UID },
    { "owner-slots", required_argument, NULL, OPT_OWNER_SLOTS },
    { "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
    { "write-timeout", required_argument, NULL, OPT_WRITE_TIMEOUT },
    { "log-level", required_argument, NULL, OPT_LOG_LEVEL },
    { "kdf-limits", required_argument, NULL, OPT_KDF },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },
    { NULL, 0, NULL, 0 },
};

static int parse_u32(const char *v, uint32_t min, uint32_t max, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || v[0] == '-' || n < min || n > max)
        return -1;
    *out = (uint32_t)n;
    return 0;
}

static int set_path(char *dst, size_t cap, const char *v)
{
    if (v[0] == '\0' || strlen(v) >= cap)
        return -1;
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

static int set_kdf(config *cfg, const char *v)
{
    static const struct { const char *name; uint64_t ops, mem; } levels[] = {
        { "min", crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN },
        { "interactive", crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE },
        { "moderate", crypto_pwhash_OPSLIMIT_MODERATE, crypto_pwhash_MEMLIMIT_MODERATE },
        { "sensitive", crypto_pwhash_OPSLIMIT_SENSITIVE, crypto_pwhash_MEMLIMIT_SENSITIVE },
    };
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        if (strcmp(v, levels[i].name) == 0) {
            cfg->kdf_opslimit = levels[i].ops;
            cfg->kdf_memlimit = levels[i].mem;
            return 0;
        }
    }
    return -1;
}

/* systemd's LoadCredential= puts the keyfile in $CREDENTIALS_DIRECTORY/NAME. */
static int keyfile_credential(config *cfg, const char *name)
{
    const char *dir = getenv("CREDENTIALS_DIRECTORY");
    if (dir == NULL || dir[0] != '/' || name[0] == '\0' || strchr(name, '/') != NULL ||
        strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return -1;
    int n = snprintf(cfg->keyfile, sizeof(cfg->keyfile), "%s/%s", dir, name);
    return n > 0 && (size_t)n < sizeof(cfg->keyfile) ? 0 : -1;
}

/* Applies one setting by its long name; shared by the command line and [daemon]. */
static int apply(config *cfg, const char *key, const char *v)
{
    if (strcmp(key, "socket") == 0)
        return set_path(cfg->socket_path, sizeof(cfg->socket_path), v);
    if (strcmp(key, "credentials-socket") == 0)
        return set_path(cfg->creds_socket, sizeof(cfg->creds_socket), v);
    if (strcmp(key, "hub") == 0)
        return set_path(cfg->hub_dir, sizeof(cfg->hub_dir), v);
    if (strcmp(key, "keyfile") == 0)
        return set_path(cfg->keyfile, sizeof(cfg->keyfile), v);
    if (strcmp(key, "keyfile-credential") == 0)
        return keyfile_credential(cfg, v);
    if (strcmp(key, "idle-lock") == 0)
        return parse_u32(v, 0, 86400 * 365, &cfg->idle_lock_s);
    if (strcmp(key, "max-clients") == 0)
        return parse_u32(v, 1, 1000000, &cfg->max_clients);
    if (strcmp(key, "max-frame") == 0)
        return parse_u32(v, 1024, PROTO_MAX_FRAME_LIMIT, &cfg->max_frame);
    if (strcmp(key, "frame-timeout") == 0)
        return parse_u32(v, 10, 3600 * 1000, &cfg->frame_timeout_ms);
    if (strcmp(key, "max-per-uid") == 0)
        return parse_u32(v, 1, 1000000, &cfg->max_per_uid);
    if (strcmp(key, "owner-slots") == 0)
        return parse_u32(v, 0, 1000000, &cfg->owner_slots);
    if (strcmp(key, "idle-timeout") == 0)
        return parse_u32(v, 0, 86400 * 1000, &cfg->idle_timeout_ms);
    if (strcmp(key, "write-timeout") == 0)
        return parse_u32(v, 10, 3600 * 1000, &cfg->write_timeout_ms);
    if (strcmp(key, "log-level") == 0)
        return log_level_parse(v, &cfg->log_level);
    if (strcmp(key, "kdf-limits") == 0)
        return set_kdf(cfg, v);
    return -2;
}

#if SKR_HAVE_INIH
typedef struct ini_ctx {
    config *cfg;
    char err[256];
    int line;
} ini_ctx;

static int on_ini_setting(void *user, const char *section, const char *key, const char *value)
{
    ini_ctx *c = user;
    if (strcmp(section, "daemon") == 0) {
        char name[64];
        /* accept idle_lock as well as idle-lock */
        snprintf(name, sizeof(name), "%s", key);
        for (char *p = name; *p; p++)
            if (*p == '_')
                *p = '-';
        int rc = apply(c->cfg, name, value);
        if (rc == -2)
            snprintf(c->err, sizeof(c->err), "[daemon] unknown key '%s'", key);
        else if (rc != 0)
            snprintf(c->err, sizeof(c->err), "[daemon] invalid %s '%s'", key, value);
        return rc == 0;
    }
    if (strncmp(section, "grant ", 6) == 0 && section[6] != '\0') {
        /* the same cut: two long grant names with one prefix would merge into one grant */
        if (strlen(section) >= 49) {
            snprintf(c->err, sizeof(c->err), "[%.20s...]: a grant name here has at most 42 "
                     "characters", section);
            return 0;
        }
        return policy_grant_set(&c->cfg->policy, section + 6, key, value, c->err, sizeof(c->err)) == 0;
    }
    if (strncmp(section, "credential ", 11) == 0 && section[11] != '\0') {
        /* inih keeps 49 bytes of a section name: a longer ID would be cut silently */
        if (strlen(section) >= 49) {
            snprintf(c->err, sizeof(c->err), "[%.20s...]: a credential ID here has at most 37 "
                     "characters", section);
            return 0;
        }
        return creds_config_set(&c->cfg->creds, section + 11, key, value, c->err, sizeof(c->err)) == 0;
    }
    /* sekrets-secret-service's rules may share this file; it reads and checks them. */
    if (strncmp(section, "secret-service ", 15) == 0 && section[15] != '\0')
        return 1;
    snprintf(c->err, sizeof(c->err), "unknown section [%s] (use [daemon], [grant NAME], "
             "[credential ID] or [secret-service NAME])", section);
    return 0;
}
#endif

static int load_file(config *cfg, const char *path)
{
#if SKR_HAVE_INIH
    ini_ctx c = { .cfg = cfg };
    int rc = ini_parse(path, on_ini_setting, &c);
    if (rc == -1) {
        fprintf(stderr, "sekretsd: cannot open config file %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (rc != 0) {
        fprintf(stderr, "sekretsd: %s:%d: %s\n", path, rc, c.err[0] ? c.err : "syntax error");
        return -1;
    }
    if (policy_validate(&cfg->policy, c.err, sizeof(c.err)) != 0 ||
        creds_config_validate(&cfg->creds, c.err, sizeof(c.err)) != 0) {
        fprintf(stderr, "sekretsd: %s: %s\n", path, c.err);
        return -1;
    }
    return 0;
#else
    (void)cfg;
    fprintf(stderr, "sekretsd: --config %s: built without inih, config files are unsupported\n", path);
    return -1;
#endif
}

static void set_defaults(config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->max_clients = 256;
    cfg->max_frame = PROTO_MAX_FRAME_DEFAULT;
    cfg->frame_timeout_ms = 10000;
    cfg->max_per_uid = 64;
    cfg->owner_slots = 16;
    cfg->idle_timeout_ms = 300000;
    cfg->write_timeout_ms = 10000;
    cfg->log_level = LOG_INFO;
    cfg->kdf_opslimit = STORE_OPSLIMIT_DEFAULT;
    cfg->kdf_memlimit = STORE_MEMLIMIT_DEFAULT;
    cfg->policy.owner = geteuid();
}

/* Started by systemd with a listening socket (LISTEN_FDS for this pid): that socket is
 * served whatever the path, so none is needed. The environment is left for server.c. */
static bool socket_activated(void)
{
#if SKR_HAVE_SYSTEMD
    return sd_listen_fds(0) > 0;
#else
    return false;
#endif
}

static int default_paths(config *cfg)
{
    if (cfg->socket_path[0] == '\0' && !socket_activated()) {
        int rc = proto_default_socket(cfg->socket_path, sizeof(cfg->socket_path));
        if (rc == SKR_ECONNECT) {
            fprintf(stderr, "sekretsd: no socket path: set XDG_RUNTIME_DIR or SEKRETS_SOCKET, or pass --socket\n");
            return -1;
        }
        if (rc != 0) {
            fprintf(stderr, "sekretsd: socket path too long (at most %zu bytes)\n", sizeof(cfg->socket_path) - 1);
            return -1;
        }
    }
    if (cfg->hub_dir[0] == '\0' && store_default_dir(cfg->hub_dir, sizeof(cfg->hub_dir)) != 0) {
        fprintf(stderr, "sekretsd: no hub folder: set SEKRETS_HUB or XDG_DATA_HOME or HOME, or pass --hub\n");
        return -1;
    }
    return 0;
}

int config_load(config *cfg, int argc, char **argv, int *exit_now)
{
    set_defaults(cfg);
    *exit_now = -1;

    /* First pass: only --config, --help and --version, so the file can be read before
     * the command line overrides it. */
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "fs:H:k:c:hV", long_opts, NULL)) != -1) {
        if (c == 'h') {
            fputs(usage, stdout);
            *exit_now = 0;
            return -1;
        }
        if (c == 'V') {
            printf("sekretsd %s\n", SKR_VERSION);
            *exit_now = 0;
            return -1;
        }
        if (c == 'c' && set_path(cfg->config_file, sizeof(cfg->config_file), optarg) != 0) {
            fprintf(stderr, "sekretsd: --config: path too long\n");
            *exit_now = EXIT_USAGE;
            return -1;
        }
    }
    if (cfg->config_file[0] != '\0' && load_file(cfg, cfg->config_file) != 0) {
        *exit_now = EXIT_USAGE;
        return -1;
    }

    optind = 0;
    opterr = 1;
    while ((c = getopt_long(argc, argv, "fs:H:k:c:hV", long_opts, NULL)) != -1) {
        const char *name = NULL;
        for (const struct option *o = long_opts; o->name != NULL; o++)
            if (o->val == c)
                name = o->name;
        if (c == '?' || name == NULL) {
            fprintf(stderr, "Try 'sekretsd --help' for more information.\n");
            *exit_now = EXIT_USAGE;
            return -1;
        }
        if (c == 'f') {
            cfg->foreground = true;
            continue;
        }
        if (c == 'c')
            continue;
        if (apply(cfg, name, optarg) != 0) {
            fprintf(stderr, "sekretsd: invalid --%s '%s' (see --help)\n", name, optarg);
            *exit_now = EXIT_USAGE;
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sekretsd: unexpected argument '%s' (see --help)\n", argv[optind]);
        *exit_now = EXIT_USAGE;
        return -1;
    }
    if (default_paths(cfg) != 0) {
        *exit_now = EXIT_USAGE;
        return -1;
    }
    return 0;
}

void config_free(config *cfg)
{
    policy_free(&cfg->policy);
    creds_config_free(&cfg->creds);
}
