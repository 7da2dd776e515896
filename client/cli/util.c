/*
 * client/cli/util.c - exit codes, messages, escaping, bounded reads.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "utf8.h"

const char cli_exit_table[] =
    "Exit status:\n"
    "   0  success\n"
    "   1  error (internal error, broken connection, invalid reply)\n"
    "   2  usage (command line, invalid input, request refused as malformed or too large)\n"
    "   3  not found (credential, protocol or field)\n"
    "   4  locked (hub locked or not initialised)\n"
    "   5  denied (access policy; or the daemon runs as another uid)\n"
    "   6  cannot reach the daemon (no socket, timeout, daemon busy)\n"
    "   7  already exists\n"
    "   8  wrong passphrase\n"
    "   9  rate limited (too many failed unlocks)\n"
    "  10  ambiguous name (held by several protocols; give -p)\n"
    "  11  integrity (a stored record failed authentication)\n"
    "  exec: the command's own status (126: cannot run it, 127: not found)\n";

int cli_exit_code(int err)
{
    switch (err) {
    case SKR_OK: return EXIT_OK_;
    case SKR_EBAD_FRAME:
    case SKR_EBAD_REQUEST:
    case SKR_EUNSUPPORTED:
    case SKR_EUNKNOWN_OP:
    case SKR_ETOO_LARGE:
    case SKR_EINVAL: return EXIT_USAGE;
    case SKR_ENOT_FOUND: return EXIT_NOT_FOUND;
    case SKR_ELOCKED: return EXIT_LOCKED;
    case SKR_EDENIED: return EXIT_DENIED;
    case SKR_ECONNECT:
    case SKR_ETIMEOUT:
    case SKR_EBUSY: return EXIT_UNREACHABLE;
    case SKR_EEXISTS: return EXIT_EXISTS;
    case SKR_EBAD_PASSPHRASE: return EXIT_BAD_PASSPHRASE;
    case SKR_ERATE_LIMITED: return EXIT_RATE_LIMITED;
    case SKR_EAMBIGUOUS: return EXIT_AMBIGUOUS;
    case SKR_EINTEGRITY: return EXIT_INTEGRITY;
    default: return EXIT_ERROR;
    }
}

static void vmsg(const cli_ctx *ctx, const char *fmt, va_list ap)
{
    fputs("sekrets-cli: ", stderr);
    if (ctx != NULL && ctx->cmd != NULL)
        fprintf(stderr, "%s: ", ctx->cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void cli_err(const cli_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(ctx, fmt, ap);
    va_end(ap);
}

static void usage_line(const cli_ctx *ctx)
{
    if (ctx != NULL && ctx->cmd != NULL && ctx->usage != NULL)
        fprintf(stderr, "usage: sekrets-cli %s %s\n", ctx->cmd, ctx->usage);
    else
        fputs("usage: sekrets-cli [--socket PATH] [--timeout MS] COMMAND [ARGS]\n", stderr);
}

int cli_usage(const cli_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(ctx, fmt, ap);
    va_end(ap);
    usage_line(ctx);
    return EXIT_USAGE;
}

int cli_bad_input(const cli_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(ctx, fmt, ap);
    va_end(ap);
    return EXIT_USAGE;
}

int cli_bad_option(const cli_ctx *ctx, char *const argv[])
{
    const char *arg = optind > 0 ? argv[optind - 1] : "";
    if (ctx->cmd != NULL && (strncmp(arg, "--socket", 8) == 0 || strncmp(arg, "--timeout", 9) == 0))
        fprintf(stderr, "sekrets-cli: %.*s is a global option: put it before the command\n",
                (int)strcspn(arg, "="), arg);
    usage_line(ctx);
    return EXIT_USAGE;
}

int cli_fail(const cli_ctx *ctx, skr_client *c, int err, const char *what)
{
    const char *msg = c != NULL ? skr_client_errmsg(c) : "";
    fputs("sekrets-cli: ", stderr);
    if (ctx->cmd != NULL)
        fprintf(stderr, "%s: ", ctx->cmd);
    if (what != NULL && *what != '\0') {
        cli_put_escaped(stderr, what, strlen(what));
        fputs(": ", stderr);
    }
    /* The daemon's message, when it says more than the code's own words, is the line:
     * it names the protocols of an `ambiguous`, the wait of a `rate_limited`. It is
     * shown alone when it starts with those words already (no "x (x: ...)"). */
    const char *text = skr_strerror(err);
    if (*msg != '\0' && strncmp(msg, text, strlen(text)) == 0) {
        cli_put_escaped(stderr, msg, strlen(msg));
    } else {
        fputs(text, stderr);
        if (*msg != '\0') {
            fputs(" (", stderr);
            cli_put_escaped(stderr, msg, strlen(msg));
            fputc(')', stderr);
        }
    }
    /* a new hub's message already says to run init */
    if (err == SKR_ELOCKED && strstr(msg, "sekrets-cli") == NULL)
        fputs("; unlock it with `sekrets-cli unlock`", stderr);
    if ((err == SKR_EIO || err == SKR_ETIMEOUT) && c != NULL) {
        fputs(" at ", stderr);
        cli_put_escaped(stderr, skr_client_path(c), strlen(skr_client_path(c)));
    }
    fputc('\n', stderr);
    return cli_exit_code(err);
}

/* How to start a daemon that would answer on path, when nothing listens there (no socket,
 * or a stale one, which sekretsd removes): sekretsd stays in the foreground, so `&`; the
 * systemd units listen only on the default path. Nothing to start when another file is in
 * the way, the path is not ours to reach, or the daemon is busy. */
static void start_hint(const char *path, int err)
{
    const char *env = getenv("SEKRETS_SOCKET");
    char def[256];
    struct stat st;
    bool absent = stat(path, &st) != 0 && errno == ENOENT;
    if (err != SKR_ECONNECT || (!absent && (access(path, W_OK) != 0 || !S_ISSOCK(st.st_mode)))) {
        fputc('\n', stderr);
        return;
    }
    if (env == NULL && skr_default_socket(def, sizeof(def)) == 0 && strcmp(def, path) == 0)
        fputs("; start it with `sekretsd &` or `systemctl --user start sekretsd.socket`\n",
              stderr);
    else if (env != NULL && strcmp(env, path) == 0)
        fputs("; start it with `sekretsd &` (it listens on $SEKRETS_SOCKET too)\n", stderr);
    else {
        fputs("; start it with `sekretsd --socket ", stderr);
        cli_put_escaped(stderr, path, strlen(path));
        fputs(" &`\n", stderr);
    }
}

int cli_connect(const cli_ctx *ctx, skr_client **out)
{
    char path[256];
    int r;
    if (ctx->socket != NULL) {
        snprintf(path, sizeof(path), "%s", ctx->socket);
    } else if ((r = skr_default_socket(path, sizeof(path))) != 0) {
        cli_err(ctx, "cannot reach the daemon: no socket path (set SEKRETS_SOCKET or "
                     "XDG_RUNTIME_DIR, or give --socket)");
        return EXIT_UNREACHABLE;
    }
    char why[512];
    r = skr_connect_why(path, ctx->timeout_ms, out, why, sizeof(why));
    if (r == 0)
        return 0;
    fputs("sekrets-cli: ", stderr);
    if (ctx->cmd != NULL)
        fprintf(stderr, "%s: ", ctx->cmd);
    if (r == SKR_EDENIED) { /* not our daemon: nothing was sent to it */
        cli_put_escaped(stderr, why, strlen(why));
        fputs(" (nothing was sent to it; SEKRETS_DAEMON_UID names a uid to trust)\n", stderr);
        return EXIT_DENIED;
    }
    if (r == SKR_EINVAL) {
        fprintf(stderr, "%s\n", why);
        return EXIT_USAGE;
    }
    fputs("cannot reach the daemon at ", stderr);
    cli_put_escaped(stderr, path, strlen(path));
    fputs(" (", stderr);
    cli_put_escaped(stderr, why, strlen(why));
    fputc(')', stderr);
    start_hint(path, r);
    return cli_exit_code(r) == EXIT_ERROR ? EXIT_UNREACHABLE : cli_exit_code(r);
}

void cli_put_escaped(FILE *f, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned char b = p[i];
        if (b == '\\') {
            fputs("\\\\", f);
            i++;
        } else if (b < 0x20 || b == 0x7f) {
            switch (b) {
            case '\n': fputs("\\n", f); break;
            case '\t': fputs("\\t", f); break;
            case '\r': fputs("\\r", f); break;
            default: fprintf(f, "\\x%02x", b);
            }
            i++;
        } else if (b < 0x80) {
            fputc(b, f);
            i++;
        } else {
            /* A valid UTF-8 sequence passes unless it is a C1 control (U+0080..U+009F). */
            uint32_t cp = 0;
            size_t len = proto_utf8_decode(p + i, n - i, &cp);
            bool ok = len > 0 && cp >= 0xa0;
            if (ok) {
                fwrite(p + i, 1, len, f);
                i += len;
            } else {
                fprintf(f, "\\x%02x", b);
                i++;
            }
        }
    }
}

int cli_parse_int(const char *s, long min, long max, long *v)
{
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || x < min || x > max)
        return -1;
    *v = x;
    return 0;
}

int cli_read_fd(int fd, size_t max, proto_buf *out)
{
    for (;;) {
        if (proto_buf_reserve(out, 4096) != 0)
            return SKR_ENOMEM;
        ssize_t n = read(fd, out->data + out->len, out->cap - out->len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return SKR_EIO;
        }
        if (n == 0)
            return 0;
        out->len += (size_t)n;
        if (out->len > max)
            return SKR_ETOO_LARGE;
    }
}

const char *cli_read_error(int err)
{
    return err == SKR_ETOO_LARGE ? "too large" : err == SKR_ENOT_FOUND ? "no such file"
                                                                        : "read error";
}

int cli_read_file(const char *path, size_t max, proto_buf *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? SKR_ENOT_FOUND : SKR_EIO;
    int r = cli_read_fd(fd, max, out);
    close(fd);
    return r;
}
