/*
 * client/cli/pass.c - passphrases: from the terminal without echo, or from an fd or a file.
 * Never from argv or the environment. Every buffer that held one is wiped.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sodium.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "request.h"

static int tty_fd = -1;
static struct termios tty_saved;
static volatile sig_atomic_t tty_echo_off;

/* Restores echo if a signal ends us while echo is off, then dies of the same signal. */
static void restore_and_reraise(int sig)
{
    if (tty_echo_off && tty_fd >= 0)
        tcsetattr(tty_fd, TCSAFLUSH, &tty_saved);
    signal(sig, SIG_DFL);
    raise(sig);
}

int cli_tty_line(const char *prompt, bool echo, proto_buf *out)
{
    struct sigaction sa, old_int, old_term, old_hup;
    int r = -1;

    tty_fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (tty_fd < 0)
        return -1;
    if (write(tty_fd, prompt, strlen(prompt)) < 0)
        goto out;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = restore_and_reraise;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGHUP, &sa, &old_hup);
    if (!echo && tcgetattr(tty_fd, &tty_saved) == 0) {
        struct termios t = tty_saved;
        t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
        t.c_lflag |= ICANON;
        if (tcsetattr(tty_fd, TCSAFLUSH, &t) == 0)
            tty_echo_off = 1;
    }
    for (;;) {
        char ch;
        ssize_t n = read(tty_fd, &ch, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            r = CLI_TTY_EOF;
        if (n <= 0)
            break;
        if (ch == '\n') {
            r = 0;
            break;
        }
        if (out->len >= PROTO_MAX_PASSPHRASE * 2 || proto_buf_append(out, &ch, 1) != 0)
            break;
        ch = 0;
    }
    if (tty_echo_off) {
        tcsetattr(tty_fd, TCSAFLUSH, &tty_saved);
        tty_echo_off = 0;
        if (write(tty_fd, "\n", 1) < 0) { /* the newline the user typed was not echoed */ }
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
out:
    close(tty_fd);
    tty_fd = -1;
    return r;
}

/* Moves buf into sodium_malloc memory (NUL-terminated); wipes buf. */
static int to_secure(proto_buf *buf, char **out, size_t *len)
{
    char *p = sodium_malloc(buf->len + 1);
    if (p == NULL)
        return -1;
    memcpy(p, buf->data, buf->len);
    p[buf->len] = '\0';
    *out = p;
    *len = buf->len;
    proto_buf_free(buf);
    return 0;
}

/* A new passphrase: too short is refused, short is warned about. 0 or an exit code. */
static int check_strength(const cli_ctx *ctx, const pass_src *src, size_t n)
{
    if (n < CLI_PASS_MIN && !src->allow_weak)
        return cli_bad_input(ctx, "a passphrase of %zu bytes is too easy to guess from a "
                                  "copy of the hub: use at least %d (or --allow-weak)",
                             n, CLI_PASS_MIN);
    if (n < CLI_PASS_GOOD)
        fprintf(stderr, "sekrets-cli: %s: warning: a passphrase of %zu bytes is weak; "
                        "%d or more (a few random words) resist guessing far better\n",
                ctx->cmd != NULL ? ctx->cmd : "", n, CLI_PASS_GOOD);
    return 0;
}

/* The secret in a file that others can read is no secret: say so (it is still used). */
static void warn_if_readable(const cli_ctx *ctx, const pass_src *src)
{
    struct stat st;
    if (src->file == NULL || stat(src->file, &st) != 0 || !S_ISREG(st.st_mode) ||
        (st.st_mode & 044) == 0)
        return;
    fprintf(stderr, "sekrets-cli: %s: warning: %s ", ctx->cmd != NULL ? ctx->cmd : "",
            src->raw ? "keyfile" : "passphrase file");
    cli_put_escaped(stderr, src->file, strlen(src->file));
    fprintf(stderr, " is readable by %s (mode %04o): chmod 600 it\n",
            (st.st_mode & 004) ? "everyone" : "its group", (unsigned)(st.st_mode & 0777));
}

int cli_passphrase(const cli_ctx *ctx, const pass_src *src, const char *prompt, bool confirm,
                   char **out, size_t *len)
{
    proto_buf a = PROTO_BUF_INIT, b = PROTO_BUF_INIT;
    int r = EXIT_ERROR;

    if (src->fd >= 0 || src->file != NULL) {
        warn_if_readable(ctx, src);
        int e = src->file != NULL ? cli_read_file(src->file, PROTO_MAX_PASSPHRASE + 1, &a)
                                  : cli_read_fd(src->fd, PROTO_MAX_PASSPHRASE + 1, &a);
        if (e != 0) {
            if (e == SKR_ETOO_LARGE)
                r = cli_bad_input(ctx, "%s longer than %d bytes", src->raw ? "keyfile" : "passphrase",
                                  PROTO_MAX_PASSPHRASE);
            else if (src->file != NULL)
                r = cli_bad_input(ctx, "cannot read the %s %s: %s", src->raw ? "keyfile"
                                  : "passphrase file", src->file, cli_read_error(e));
            else
                r = cli_bad_input(ctx, "cannot read the passphrase from fd %d", src->fd);
            goto out;
        }
        /* A file's content without one trailing newline; a keyfile's exactly. */
        if (!src->raw && a.len > 0 && a.data[a.len - 1] == '\n')
            a.data[--a.len] = 0;
    } else {
        int t = cli_tty_line(prompt, false, &a);
        if (t == CLI_TTY_EOF) {
            r = cli_bad_input(ctx, "cancelled");
            goto out;
        }
        if (t != 0) {
            r = cli_usage(ctx, "no terminal to ask for the passphrase: use --passphrase-fd "
                               "or --passphrase-file");
            goto out;
        }
        if (confirm) {
            if ((t = cli_tty_line("Repeat it: ", false, &b)) != 0) {
                r = cli_bad_input(ctx, "%s", t == CLI_TTY_EOF ? "cancelled"
                                  : "cannot read the passphrase from the terminal");
                goto out;
            }
            if (a.len != b.len || sodium_memcmp(a.data, b.data, a.len) != 0) {
                r = cli_bad_input(ctx, "the passphrases do not match");
                goto out;
            }
        }
    }
    if (a.len == 0) {
        r = cli_bad_input(ctx, "empty passphrase");
        goto out;
    }
    if (a.len > PROTO_MAX_PASSPHRASE) {
        r = cli_bad_input(ctx, "passphrase longer than %d bytes", PROTO_MAX_PASSPHRASE);
        goto out;
    }
    if (confirm && !src->raw && (r = check_strength(ctx, src, a.len)) != 0)
        goto out;
    if (to_secure(&a, out, len) != 0) {
        cli_err(ctx, "out of memory");
        r = EXIT_ERROR;
        goto out;
    }
    r = 0;
out:
    proto_buf_free(&a);
    proto_buf_free(&b);
    return r;
}
