/*
 * client/cli/cmd_keys.c - init, unlock, lock, passwd, rotate.
 */
#include <getopt.h>
#include <inttypes.h>
#include <sodium.h>
#include <string.h>

#include "cli.h"

enum { OPT_PFD = 1000, OPT_PFILE, OPT_KEYFILE, OPT_NPFD, OPT_NPFILE, OPT_ROTATE, OPT_WEAK };

/* Parses --passphrase-fd/-file, --keyfile when `keyfile` (the current secret of a keyfile
 * hub), the --new- ones and --rotate when `newp` is given (passwd), and --allow-weak when
 * a passphrase is made (`fresh`: init's, or passwd's new one). */
static int pass_opts(cli_ctx *ctx, int argc, char **argv, bool keyfile, bool fresh,
                     pass_src *old, pass_src *newp, bool *rotate)
{
    static const struct option opts[] = {
        { "passphrase-fd", required_argument, NULL, OPT_PFD },
        { "passphrase-file", required_argument, NULL, OPT_PFILE },
        { "keyfile", required_argument, NULL, OPT_KEYFILE },
        { "new-passphrase-fd", required_argument, NULL, OPT_NPFD },
        { "new-passphrase-file", required_argument, NULL, OPT_NPFILE },
        { "rotate", no_argument, NULL, OPT_ROTATE },
        { "allow-weak", no_argument, NULL, OPT_WEAK },
        { NULL, 0, NULL, 0 },
    };
    long v;
    int o;
    *old = (pass_src){ .fd = -1 };
    if (newp != NULL)
        *newp = (pass_src){ .fd = -1 };
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        pass_src *s = (o == OPT_NPFD || o == OPT_NPFILE || o == OPT_ROTATE ||
                       (o == OPT_WEAK && newp != NULL)) ? newp : old;
        if (o == OPT_WEAK && !fresh)
            return cli_usage(ctx, "--allow-weak belongs to init and passwd (a new passphrase)");
        if (s == NULL)
            return cli_usage(ctx, o == OPT_ROTATE
                                  ? "--rotate belongs to passwd; `sekrets-cli rotate` "
                                    "replaces the data key alone"
                                  : "no new passphrase here: `sekrets-cli passwd` changes it");
        switch (o) {
        case OPT_ROTATE:
            *rotate = true;
            break;
        case OPT_WEAK:
            s->allow_weak = true;
            break;
        case OPT_PFD:
        case OPT_NPFD:
            if (cli_parse_int(optarg, 0, 1 << 20, &v) != 0)
                return cli_usage(ctx, "a passphrase fd is a number");
            s->fd = (int)v;
            break;
        case OPT_KEYFILE:
            if (!keyfile)
                return cli_usage(ctx, "init takes a passphrase; `sekretsd --keyfile` makes a "
                                      "keyfile hub");
            s->raw = true;
            /* fall through */
        case OPT_PFILE:
        case OPT_NPFILE:
            if (s->file != NULL)
                return cli_usage(ctx, "give one passphrase file or keyfile");
            s->file = optarg;
            break;
        default:
            return cli_bad_option(ctx, argv);
        }
    }
    if (optind != argc)
        return cli_usage(ctx, "takes no arguments");
    if ((old->fd >= 0 && old->file != NULL) || (newp && newp->fd >= 0 && newp->file != NULL))
        return cli_usage(ctx, "give a passphrase fd or a file, not both");
    return 0;
}

static int pass_cmd(cli_ctx *ctx, int argc, char **argv, bool init)
{
    pass_src src;
    skr_client *c = NULL;
    char *pass = NULL;
    size_t len = 0;
    int r;
    if ((r = pass_opts(ctx, argc, argv, !init, init, &src, NULL, NULL)) != 0)
        return r;
    /* Connect first: no point asking for a passphrase when nobody will take it. */
    if ((r = cli_connect(ctx, &c)) != 0)
        return r;
    if ((r = cli_passphrase(ctx, &src, init ? "New passphrase: " : "Passphrase: ", init,
                            &pass, &len)) != 0)
        goto out;
    r = init ? skr_init(c, pass, len) : skr_unlock(c, pass, len);
    if (r == SKR_EEXISTS && init) {
        cli_err(ctx, "the hub is already initialised: `sekrets-cli unlock` opens it, "
                     "`sekrets-cli passwd` changes its passphrase");
        r = EXIT_EXISTS;
    } else if (r != 0) {
        r = cli_fail(ctx, c, r, NULL);
    }
out:
    sodium_free(pass);
    skr_client_close(c);
    return r;
}

int cmd_init(cli_ctx *ctx, int argc, char **argv)
{
    return pass_cmd(ctx, argc, argv, true);
}

int cmd_unlock(cli_ctx *ctx, int argc, char **argv)
{
    return pass_cmd(ctx, argc, argv, false);
}

int cmd_passwd(cli_ctx *ctx, int argc, char **argv)
{
    pass_src o, n;
    skr_client *c = NULL;
    char *op = NULL, *np = NULL;
    size_t ol = 0, nl = 0;
    bool rotate = false;
    int r;
    if ((r = pass_opts(ctx, argc, argv, true, true, &o, &n, &rotate)) != 0)
        return r;
    if ((r = cli_connect(ctx, &c)) != 0)
        return r;
    if ((r = cli_passphrase(ctx, &o, "Current passphrase: ", false, &op, &ol)) != 0 ||
        (r = cli_passphrase(ctx, &n, "New passphrase: ", true, &np, &nl)) != 0)
        goto out;
    r = rotate ? skr_passwd_rotate(c, op, ol, np, nl) : skr_passwd(c, op, ol, np, nl);
    if (r != 0)
        r = cli_fail(ctx, c, r, NULL);
out:
    sodium_free(op);
    sodium_free(np);
    skr_client_close(c);
    return r;
}

static int simple(cli_ctx *ctx, int argc, char **argv, skr_client **c)
{
    if (getopt_long(argc, argv, "", (const struct option[]){ { NULL, 0, NULL, 0 } }, NULL) != -1)
        return cli_bad_option(ctx, argv);
    if (optind != argc)
        return cli_usage(ctx, "takes no arguments");
    return cli_connect(ctx, c);
}

int cmd_lock(cli_ctx *ctx, int argc, char **argv)
{
    skr_client *c;
    skr_status st;
    int r = simple(ctx, argc, argv, &c);
    if (r != 0)
        return r;
    /* Locking a locked hub is no error (the state asked for holds), but say so. */
    if ((r = skr_get_status(c, &st)) == 0 && st.locked)
        printf("%s\n", st.initialized ? "already locked" : "not initialised: nothing to lock");
    else if (r != 0 || (r = skr_lock(c)) != 0)
        r = cli_fail(ctx, c, r, NULL);
    skr_client_close(c);
    return r;
}

int cmd_rotate(cli_ctx *ctx, int argc, char **argv)
{
    skr_client *c;
    uint64_t n = 0;
    int r = simple(ctx, argc, argv, &c);
    if (r != 0)
        return r;
    if ((r = skr_rotate(c, &n)) != 0)
        r = cli_fail(ctx, c, r, NULL);
    else
        printf("re-encrypted %" PRIu64 " records\n", n);
    skr_client_close(c);
    return r;
}
