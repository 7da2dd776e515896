/*
 * client/cli/cmd_write.c - post, put, rm. The body comes as JSON on stdin, as -F fields, or
 * field by field from the terminal (values without echo). Every copy of it is wiped.
 */
#include <getopt.h>
#include <poll.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "request.h"
#include "utf8.h"

#define MAX_FIELDS 256
#define STDIN_MAX (1024u * 1024u)

/* True for input holding nothing but spaces, tabs and line ends (or nothing). */
static bool all_blank(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
            return false;
    return true;
}

static void pack_bytes(msgpack_packer *pk, const uint8_t *p, size_t n)
{
    if (proto_utf8_valid(p, n)) {
        msgpack_pack_str(pk, n);
        msgpack_pack_str_body(pk, p, n);
    } else {
        msgpack_pack_bin(pk, n);
        msgpack_pack_bin_body(pk, p, n);
    }
}

/* With -F the body comes from the fields: a body also sent on stdin would be lost, so it
 * is refused. A file or a pipe with data (or its end) at hand is told at once; a pipe that
 * stays silent for a moment is left unread, with a warning, since waiting for its end could
 * hang a caller that never closes it. A terminal or /dev/null is fine. 0 or EXIT_USAGE. */
static int stdin_unused(const cli_ctx *ctx)
{
    struct stat st;
    struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
    char b;
    if (isatty(STDIN_FILENO) || fstat(STDIN_FILENO, &st) != 0)
        return 0;
    if (S_ISREG(st.st_mode)) {
        off_t at = lseek(STDIN_FILENO, 0, SEEK_CUR);
        if (at >= 0 && at < st.st_size)
            return cli_usage(ctx, "a body on stdin and -F fields: give one or the other");
        return 0;
    }
    if (!S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode))
        return 0;
    int pr = poll(&p, 1, 100);
    ssize_t n = pr == 1 ? read(STDIN_FILENO, &b, 1) : 0;
    sodium_memzero(&b, sizeof(b));
    if (n > 0)
        return cli_usage(ctx, "a body on stdin and -F fields: give one or the other");
    if (pr == 0)
        cli_err(ctx, "warning: stdin is not read (-F gives the body)");
    return 0;
}

/* Builds the body map from -F specs: KEY=VALUE or KEY=@FILE. */
static int body_from_specs(const cli_ctx *ctx, char **specs, size_t n, proto_buf *body)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, body, proto_buf_msgpack_write);
    msgpack_pack_map(&pk, n);
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(specs[i], '=');
        if (eq == NULL || eq == specs[i])
            return cli_usage(ctx, "-F wants KEY=VALUE or KEY=@FILE");
        size_t kl = (size_t)(eq - specs[i]);
        for (size_t k = 0; k < i; k++)
            if (strncmp(specs[k], specs[i], kl) == 0 && specs[k][kl] == '=')
                return cli_usage(ctx, "field '%.*s' given twice", (int)kl, specs[i]);
        msgpack_pack_str(&pk, kl);
        msgpack_pack_str_body(&pk, specs[i], kl);
        if (eq[1] == '@') {
            proto_buf f = PROTO_BUF_INIT;
            int r = cli_read_file(eq + 2, PROTO_MAX_BODY, &f);
            if (r != 0) {
                proto_buf_free(&f);
                return r == SKR_ETOO_LARGE
                    ? cli_bad_input(ctx, "%s is larger than a body may be (%u bytes, 64 KiB)",
                                    eq + 2, PROTO_MAX_BODY)
                    : cli_bad_input(ctx, "cannot read %s: %s", eq + 2, cli_read_error(r));
            }
            pack_bytes(&pk, f.data, f.len);
            proto_buf_free(&f);
        } else {
            pack_bytes(&pk, (const uint8_t *)eq + 1, strlen(eq + 1));
        }
    }
    return 0;
}

/* Asks for fields on the terminal: the name with echo, the value without. */
static int body_from_prompts(const cli_ctx *ctx, proto_buf *body)
{
    proto_buf names[MAX_FIELDS], values[MAX_FIELDS];
    size_t n = 0;
    int r = EXIT_USAGE;

    for (;;) {
        if (n == MAX_FIELDS)
            break;
        names[n] = (proto_buf)PROTO_BUF_INIT;
        values[n] = (proto_buf)PROTO_BUF_INIT;
        int t = cli_tty_line("Field name (empty line to finish): ", true, &names[n]);
        if (t != 0) {
            proto_buf_free(&names[n]);
            r = t == CLI_TTY_EOF ? cli_bad_input(ctx, "cancelled: nothing written")
                : cli_usage(ctx, "no body: give JSON on stdin, -F fields, or run on a terminal");
            goto out;
        }
        if (names[n].len == 0) {
            proto_buf_free(&names[n]);
            break;
        }
        char prompt[128];
        snprintf(prompt, sizeof(prompt), "Value of %.*s (not shown): ",
                 (int)(names[n].len > 60 ? 60 : names[n].len), (const char *)names[n].data);
        if ((t = cli_tty_line(prompt, false, &values[n])) != 0) {
            n++;
            r = cli_bad_input(ctx, "%s", t == CLI_TTY_EOF ? "cancelled: nothing written"
                              : "cannot read from the terminal");
            goto out;
        }
        n++;
    }
    if (n == 0) {
        r = cli_usage(ctx, "no fields given");
        goto out;
    }
    msgpack_packer pk;
    msgpack_packer_init(&pk, body, proto_buf_msgpack_write);
    msgpack_pack_map(&pk, n);
    for (size_t i = 0; i < n; i++) {
        pack_bytes(&pk, names[i].data, names[i].len);
        pack_bytes(&pk, values[i].data, values[i].len);
    }
    r = 0;
out:
    for (size_t i = 0; i < n; i++) {
        proto_buf_free(&names[i]);
        proto_buf_free(&values[i]);
    }
    return r;
}

static int write_cmd(cli_ctx *ctx, int argc, char **argv, bool put)
{
    static const struct option opts[] = {
        { "field", required_argument, NULL, 'F' }, { NULL, 0, NULL, 0 },
    };
    char *specs[MAX_FIELDS];
    size_t nspecs = 0;
    proto_buf body = PROTO_BUF_INIT, in = PROTO_BUF_INIT;
    skr_client *c = NULL;
    char why[200];
    int o, r;

    while ((o = getopt_long(argc, argv, "F:", opts, NULL)) != -1) {
        if (o != 'F')
            return cli_bad_option(ctx, argv);
        if (nspecs == MAX_FIELDS)
            return cli_usage(ctx, "at most %d fields", MAX_FIELDS);
        specs[nspecs++] = optarg;
    }
    if (argc - optind != 2)
        return cli_usage(ctx, "wants PROTOCOL NAME");
    const char *protocol = argv[optind], *name = argv[optind + 1];
    if (!proto_valid_protocol(protocol, strlen(protocol)))
        return cli_bad_input(ctx, "invalid protocol name: " CLI_PROTOCOL_RULE);
    if (!proto_valid_name(name, strlen(name)))
        return cli_bad_input(ctx, "invalid credential name: " CLI_NAME_RULE);

    if (nspecs > 0) {
        r = stdin_unused(ctx);
        if (r == 0)
            r = body_from_specs(ctx, specs, nspecs, &body);
    } else if (!isatty(STDIN_FILENO)) {
        r = cli_read_fd(STDIN_FILENO, STDIN_MAX, &in);
        if (r != 0)
            r = r == SKR_ETOO_LARGE
                    ? cli_bad_input(ctx, "body on stdin larger than %u bytes", STDIN_MAX)
                    : cli_bad_input(ctx, "cannot read the body from stdin");
        else if (all_blank(in.data, in.len))
            r = cli_usage(ctx, "no body on stdin: give it as JSON, or use -F KEY=VALUE");
        else if (jsonmp_from_text((const char *)in.data, in.len, &body, why, sizeof(why)) != 0) {
            cli_err(ctx, "body on stdin: %s", why); /* the data is wrong, not the usage */
            r = EXIT_USAGE;
        }
    } else {
        r = body_from_prompts(ctx, &body);
    }
    if (r != 0)
        goto out;
    if (body.len > PROTO_MAX_BODY) {
        r = cli_bad_input(ctx, "body is %zu bytes packed; the limit is %u (64 KiB)", body.len,
                          PROTO_MAX_BODY);
        goto out;
    }
    if ((r = cli_connect(ctx, &c)) != 0)
        goto out;
    r = put ? skr_put(c, protocol, name, body.data, body.len, NULL)
            : skr_post(c, protocol, name, body.data, body.len);
    if (r != 0)
        r = cli_fail(ctx, c, r, name);
out:
    skr_client_close(c);
    proto_buf_free(&body);
    proto_buf_free(&in);
    return r;
}

int cmd_post(cli_ctx *ctx, int argc, char **argv)
{
    return write_cmd(ctx, argc, argv, false);
}

int cmd_put(cli_ctx *ctx, int argc, char **argv)
{
    return write_cmd(ctx, argc, argv, true);
}

int cmd_rm(cli_ctx *ctx, int argc, char **argv)
{
    skr_client *c;
    bool deleted = false;
    int r;
    if (getopt_long(argc, argv, "", (const struct option[]){ { NULL, 0, NULL, 0 } }, NULL) != -1)
        return cli_bad_option(ctx, argv);
    if (argc - optind != 2)
        return cli_usage(ctx, "wants PROTOCOL NAME");
    const char *protocol = argv[optind], *name = argv[optind + 1];
    if ((r = cli_connect(ctx, &c)) != 0)
        return r;
    r = skr_delete(c, protocol, name, &deleted);
    if (r != 0) {
        r = cli_fail(ctx, c, r, name);
    } else if (!deleted) {
        r = cli_fail(ctx, NULL, SKR_ENOT_FOUND, name);
    }
    skr_client_close(c);
    return r;
}
