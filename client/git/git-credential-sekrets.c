/*
 * git-credential-sekrets - a git credential helper on the sekrets hub.
 *
 * git runs it as `git-credential-sekrets [OPTIONS] get|store|erase` with key=value lines
 * on stdin (gitcredentials(7)). Each credential is one record of the hub protocol `git`
 * (--protocol): its name is the URL protocol://username@host/path, each part
 * percent-encoded, so a listing of the protocol shows what is stored; its body is a map of
 * every field git gave (password, password_expiry_utc, oauth_refresh_token included).
 * Matching follows git's own credential-store (credential_match in git's credential.c): a
 * field the query leaves out matches anything, a field it gives must be equal.
 */
#include <ctype.h>
#include <getopt.h>
#include <msgpack.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helper.h"
#include "sekrets/sekrets.h"

#define PROG "git-credential-sekrets"
#define NAME_MAX_ 256

enum { EXIT_HUB = 1, EXIT_USAGE = 2 };

enum { F_PROTOCOL, F_HOST, F_PATH, F_USERNAME, F_PASSWORD, F_EXPIRY, F_OAUTH, F_COUNT };
static const char *const field_names[F_COUNT] = {
    "protocol", "host", "path", "username", "password", "password_expiry_utc",
    "oauth_refresh_token",
};
/* the fields that name a credential; the others are what it holds */
#define F_KEYS (F_USERNAME + 1)

typedef struct gcred {
    const char *f[F_COUNT]; /* NULL: not given */
} gcred;

static const char usage_text[] =
    "usage: " PROG " [--protocol NAME] [--socket PATH] get|store|erase\n"
    "A git credential helper on the sekrets hub. In ~/.gitconfig:\n"
    "  [credential]\n"
    "          helper = sekrets\n"
    "git writes key=value lines on stdin; `get` prints the stored username and password.\n"
    "  --protocol NAME  the hub protocol (database) of git's credentials (default: git)\n"
    "  --socket PATH    sekretsd's socket (default: $SEKRETS_SOCKET, else\n"
    "                   $XDG_RUNTIME_DIR/sekrets/sekretsd.sock)\n"
    "Unknown operations and keys are ignored, as git expects.\n"
    "Exit codes: 0 done (a get that finds nothing prints nothing), 1 the hub cannot\n"
    "answer (no daemon, locked, denied; the reason on stderr), 2 usage or input refused.\n";

/* Splits the key=value lines of buf (changed in place) into c; a blank line ends them. */
static void parse_input(char *buf, size_t len, gcred *c)
{
    char *p = buf, *end = buf + len;
    memset(c, 0, sizeof(*c));
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *eol = nl != NULL ? nl : end;
        char *eq;
        if (eol > p && eol[-1] == '\r')
            eol--;
        if (eol == p)
            break;
        *eol = '\0';
        if ((eq = strchr(p, '=')) != NULL) {
            *eq = '\0';
            for (int i = 0; i < F_COUNT; i++)
                if (strcmp(p, field_names[i]) == 0)
                    c->f[i] = eq + 1; /* the last one given wins, as in git */
        }
        if (nl == NULL)
            break;
        p = nl + 1;
    }
}

/* Appends s percent-encoded: bytes outside printable ASCII, '%' and those of `special`. */
static int enc(char *dst, size_t *n, const char *s, const char *special)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *u = (const unsigned char *)s; *u != '\0'; u++) {
        bool esc = *u < 0x21 || *u > 0x7e || *u == '%' || strchr(special, *u) != NULL;
        if (*n + (esc ? 3 : 1) > NAME_MAX_)
            return SKR_ETOO_LARGE;
        if (esc) {
            dst[(*n)++] = '%';
            dst[(*n)++] = hex[*u >> 4];
            dst[(*n)++] = hex[*u & 15];
        } else {
            dst[(*n)++] = (char)*u;
        }
    }
    return 0;
}

/* The record's name: protocol://[username@]host[/path], NUL-terminated in name. */
static int make_name(const gcred *c, char name[NAME_MAX_ + 1])
{
    size_t n = 0;
    int r;
    if ((r = enc(name, &n, c->f[F_PROTOCOL], ":/@")) != 0 || n + 3 > NAME_MAX_)
        return SKR_ETOO_LARGE;
    memcpy(name + n, "://", 3);
    n += 3;
    if (c->f[F_USERNAME] != NULL) {
        if ((r = enc(name, &n, c->f[F_USERNAME], "@/:")) != 0 || n + 1 > NAME_MAX_)
            return SKR_ETOO_LARGE;
        name[n++] = '@';
    }
    if (c->f[F_HOST] != NULL && (r = enc(name, &n, c->f[F_HOST], "@/")) != 0)
        return r;
    if (c->f[F_PATH] != NULL) {
        if (n + 1 > NAME_MAX_)
            return SKR_ETOO_LARGE;
        name[n++] = '/';
        if ((r = enc(name, &n, c->f[F_PATH], "")) != 0)
            return r;
    }
    name[n] = '\0';
    return 0;
}

static int unhex(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Decodes [s, e) into *dst (advanced past a NUL); false for a bad escape. */
static bool dec(const char *s, const char *e, char **dst)
{
    char *d = *dst;
    while (s < e) {
        if (*s == '%') {
            int hi, lo;
            if (e - s < 3 || (hi = unhex(s[1])) < 0 || (lo = unhex(s[2])) < 0)
                return false;
            *d++ = (char)(hi << 4 | lo);
            s += 3;
        } else {
            *d++ = *s++;
        }
    }
    *d++ = '\0';
    *dst = d;
    return true;
}

/* The inverse of make_name, into buf (2 * NAME_MAX_ bytes); false for a name not of ours. */
static bool parse_name(const char *name, char *buf, gcred *c)
{
    const char *sep = strstr(name, "://"), *auth, *slash, *at, *end;
    memset(c, 0, sizeof(*c));
    if (sep == NULL)
        return false;
    auth = sep + 3;
    end = auth + strlen(auth);
    slash = strchr(auth, '/');
    if (slash == NULL)
        slash = end;
    at = memchr(auth, '@', (size_t)(slash - auth));
    c->f[F_PROTOCOL] = buf;
    if (!dec(name, sep, &buf))
        return false;
    if (at != NULL) {
        c->f[F_USERNAME] = buf;
        if (!dec(auth, at, &buf))
            return false;
        auth = at + 1;
    }
    c->f[F_HOST] = buf;
    if (!dec(auth, slash, &buf))
        return false;
    if (slash != end) {
        c->f[F_PATH] = buf;
        if (!dec(slash + 1, end, &buf))
            return false;
    }
    return true;
}

/* git's credential_match: every key field `want` gives is equal in `have`. */
static bool matches(const gcred *want, const gcred *have)
{
    for (int i = 0; i < F_KEYS; i++)
        if (want->f[i] != NULL && (have->f[i] == NULL || strcmp(want->f[i], have->f[i]) != 0))
            return false;
    return true;
}

static void report(int err, const skr_client *c, const char *what)
{
    char msg[512];
    hlp_describe(err, c, msg, sizeof(msg));
    fprintf(stderr, PROG ": %s%s%s\n", what != NULL ? what : "", what != NULL ? ": " : "", msg);
}

/* A field of the stored body into o as key=value (nothing when absent or not a string). */
static void put_field(hlp_out *o, skr_cred *cred, int i)
{
    const char *v;
    size_t len;
    if (skr_cred_string(cred, field_names[i], &v, &len) != 0 || memchr(v, '\n', len) != NULL)
        return;
    hlp_out_puts(o, field_names[i]);
    hlp_out_put(o, "=", 1);
    hlp_out_put(o, v, len);
    hlp_out_put(o, "\n", 1);
}

/* Prints the username and secrets of cred; false when it holds no password. */
static int print_cred(skr_cred *cred)
{
    hlp_out o;
    int r;
    if (skr_cred_type(cred, field_names[F_PASSWORD]) != SKR_TYPE_STRING)
        return SKR_ENOT_FOUND;
    if ((r = hlp_out_init(&o, HLP_INPUT_MAX + 1024)) != 0)
        return r;
    for (int i = F_USERNAME; i < F_COUNT; i++)
        put_field(&o, cred, i);
    r = hlp_out_write(&o, STDOUT_FILENO);
    hlp_out_free(&o);
    return r;
}

/* Calls fn on every record of the protocol whose name matches want (stops on fn's error). */
typedef int (*match_fn)(skr_client *c, const char *proto, const char *name, void *arg);
static int each_match(skr_client *c, const char *proto, const gcred *want, match_fn fn,
                      void *arg)
{
    skr_list *names = NULL;
    char buf[2 * NAME_MAX_ + 8];
    int r = skr_get_db(c, proto, &names);
    if (r == SKR_ENOT_FOUND)
        return 0; /* no credential stored yet */
    for (size_t i = 0; r == 0 && i < skr_list_size(names); i++) {
        const char *name = skr_list_name(names, i);
        gcred have;
        if (strlen(name) <= NAME_MAX_ && parse_name(name, buf, &have) && matches(want, &have))
            r = fn(c, proto, name, arg);
    }
    skr_list_free(names);
    return r;
}

enum { STOP = 1 }; /* an each_match callback's "found, no need to go on" */

static int get_one(skr_client *c, const char *proto, const char *name, void *arg)
{
    skr_cred *cred = NULL;
    int r = skr_get(c, name, proto, &cred);
    (void)arg;
    if (r == SKR_ENOT_FOUND)
        return 0; /* deleted meanwhile */
    if (r == 0 && (r = print_cred(cred)) == 0)
        r = STOP;
    else if (r == SKR_ENOT_FOUND)
        r = 0; /* no password in it: not a credential git can use */
    skr_cred_free(cred);
    return r;
}

/* The password of the record equals `want` (compared in constant time). */
static bool same_password(skr_client *c, const char *proto, const char *name, const char *want)
{
    skr_cred *cred = NULL;
    const char *v;
    size_t len;
    bool same = skr_get(c, name, proto, &cred) == 0 &&
                skr_cred_string(cred, field_names[F_PASSWORD], &v, &len) == 0 &&
                len == strlen(want) && sodium_memcmp(v, want, len) == 0;
    skr_cred_free(cred);
    return same;
}

typedef struct erase_ctx {
    const char *password; /* erase only a record holding this password (NULL: any) */
    const char *keep;     /* a name not to erase (store's own) */
} erase_ctx;

static int erase_one(skr_client *c, const char *proto, const char *name, void *arg)
{
    const erase_ctx *e = arg;
    if (e->keep != NULL && strcmp(name, e->keep) == 0)
        return 0;
    if (e->password != NULL && !same_password(c, proto, name, e->password))
        return 0;
    return skr_delete(c, proto, name, NULL);
}

/* The body of a store: a map of every field git gave. The buffer is wiped by the caller. */
static void pack_body(const gcred *g, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    uint32_t n = 0;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    for (int i = 0; i < F_COUNT; i++)
        n += g->f[i] != NULL;
    msgpack_pack_map(&pk, n);
    for (int i = 0; i < F_COUNT; i++) {
        if (g->f[i] == NULL)
            continue;
        msgpack_pack_str_with_body(&pk, field_names[i], strlen(field_names[i]));
        msgpack_pack_str_with_body(&pk, g->f[i], strlen(g->f[i]));
    }
}

static int do_store(skr_client *c, const char *proto, const gcred *g)
{
    char name[NAME_MAX_ + 1];
    msgpack_sbuffer sb;
    erase_ctx e = { NULL, name };
    int r;
    /* as git's credential-store: no primary key or no secret, nothing to keep */
    if (g->f[F_PROTOCOL] == NULL || (g->f[F_HOST] == NULL && g->f[F_PATH] == NULL) ||
        g->f[F_USERNAME] == NULL || g->f[F_PASSWORD] == NULL)
        return 0;
    if (make_name(g, name) != 0) {
        fprintf(stderr, PROG ": store: protocol, username, host and path take more than %d "
                        "bytes once encoded: not stored\n", NAME_MAX_);
        return EXIT_USAGE;
    }
    /* the records this one replaces (same protocol, host, path, username), then itself */
    if ((r = each_match(c, proto, g, erase_one, &e)) == 0) {
        msgpack_sbuffer_init(&sb);
        pack_body(g, &sb);
        r = sb.data != NULL ? skr_put(c, proto, name, sb.data, sb.size, NULL) : SKR_ENOMEM;
        if (sb.data != NULL)
            sodium_memzero(sb.data, sb.alloc);
        msgpack_sbuffer_destroy(&sb);
    }
    if (r != 0) {
        report(r, c, "store");
        return EXIT_HUB;
    }
    return 0;
}

static int run(const char *socket, const char *proto, const char *op, gcred *g)
{
    skr_client *c = NULL;
    char msg[512];
    erase_ctx e = { NULL, NULL };
    int r, code = 0;
    if (strcmp(op, "erase") == 0 && g->f[F_PROTOCOL] == NULL && g->f[F_HOST] == NULL &&
        g->f[F_PATH] == NULL && g->f[F_USERNAME] == NULL)
        return 0; /* an empty pattern would erase everything: refused, as git's store does */
    if ((r = hlp_connect(socket, &c, msg, sizeof(msg))) != 0) {
        fprintf(stderr, PROG ": %s\n", msg);
        return EXIT_HUB;
    }
    if (strcmp(op, "get") == 0) {
        r = each_match(c, proto, g, get_one, NULL);
        r = r == STOP ? 0 : r;
    } else if (strcmp(op, "store") == 0) {
        code = do_store(c, proto, g);
    } else {
        e.password = g->f[F_PASSWORD];
        r = each_match(c, proto, g, erase_one, &e);
    }
    if (r != 0) {
        report(r, c, op);
        code = EXIT_HUB;
    }
    skr_client_close(c);
    return code;
}

/* The wire's rule for a protocol name, checked before anything is read or sent. */
static bool valid_protocol(const char *p)
{
    size_t n = strlen(p);
    if (n == 0 || n > 64 || !isalnum((unsigned char)p[0]))
        return false;
    return strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "protocol", required_argument, NULL, 'p' },
        { "socket", required_argument, NULL, 's' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    const char *proto = "git", *socket = NULL, *op;
    char *in = NULL;
    size_t len = 0;
    gcred g;
    int ch, r, code;
    while ((ch = getopt_long(argc, argv, "+p:s:hV", opts, NULL)) != -1) {
        switch (ch) {
        case 'p': proto = optarg; break;
        case 's': socket = optarg; break;
        case 'h': fputs(usage_text, stdout); return 0;
        case 'V': printf(PROG " %s\n", skr_version()); return 0;
        default: fputs(usage_text, stderr); return EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    if (!valid_protocol(proto)) {
        fprintf(stderr, PROG ": --protocol %s: not a sekrets protocol name "
                        "([A-Za-z0-9][A-Za-z0-9._-]*, at most 64 bytes)\n", proto);
        return EXIT_USAGE;
    }
    op = argv[optind];
    if (strcmp(op, "get") != 0 && strcmp(op, "store") != 0 && strcmp(op, "erase") != 0)
        return 0; /* git: a helper ignores operations it does not know */
    if (sodium_init() < 0) {
        fputs(PROG ": cannot initialise libsodium\n", stderr);
        return EXIT_HUB;
    }
    if ((r = hlp_input_read(STDIN_FILENO, HLP_INPUT_MAX, &in, &len)) != 0) {
        fprintf(stderr, PROG ": %s: %s\n", op, r == SKR_ETOO_LARGE
                ? "input larger than 64 KiB: refused" : "cannot read stdin");
        return EXIT_USAGE;
    }
    parse_input(in, len, &g);
    code = run(socket, proto, op, &g);
    hlp_input_free(in);
    return code;
}
