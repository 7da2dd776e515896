/*
 * client/cli/main.c - sekrets-cli: global options and the table of subcommands
 * (one function each, WireGuard `wg` style).
 */
#include <getopt.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const cli_cmd cli_commands[] = {
    { "status", cmd_status, "[--json]", "show the hub's state; for its owner also paths, cipher suite, KDF" },
    { "ping", cmd_ping, "", "check that the daemon answers" },
    { "get", cmd_get, "NAME [-p PROTOCOL] [-f FIELD] [--json]", "show a credential or one field" },
    { "db", cmd_db, "PROTOCOL [--json]", "list the names of a protocol, one a line" },
    { "hub", cmd_hub, "[--json]", "list the protocols with their number of credentials" },
    { "ls", cmd_ls, "[PROTOCOL] [--json]", "list: the protocols (as hub), or a protocol's names (as db)" },
    { "post", cmd_post, "PROTOCOL NAME [-F KEY=VALUE | -F KEY=@FILE]...", "create a credential (body: JSON on stdin, -F fields, or prompts)" },
    { "put", cmd_put, "PROTOCOL NAME [-F KEY=VALUE | -F KEY=@FILE]...", "create or replace a credential" },
    { "rm", cmd_rm, "PROTOCOL NAME", "delete a credential" },
    { "init", cmd_init, "[--passphrase-fd N | --passphrase-file F] [--allow-weak]", "create the hub with a passphrase (at least 8 bytes; 12+ advised)" },
    { "unlock", cmd_unlock, "[--passphrase-fd N | --passphrase-file F | --keyfile F]", "unlock the hub" },
    { "lock", cmd_lock, "", "lock the hub (forget the key)" },
    { "passwd", cmd_passwd, "[--passphrase-fd N | --passphrase-file F | --keyfile F] [--new-passphrase-fd N | --new-passphrase-file F] [--rotate] [--allow-weak]", "change the passphrase (--rotate: and the data key)" },
    { "rotate", cmd_rotate, "", "re-encrypt every record under a new data key" },
    { "call", cmd_call, "[JSON]", "send one request written as JSON (argument or stdin), print the reply as JSON" },
    { "exec", cmd_exec, "-e VAR=PROTOCOL/NAME/FIELD... [--] COMMAND [ARGS]", "run a command with credential fields in its environment" },
    { "import", cmd_import, "FILE -p PROTOCOL", "import a pyswark .gluedb file (all or nothing)" },
    { "export", cmd_export, "[-p] PROTOCOL [-o FILE]", "write a protocol as a pyswark .gluedb file" },
    { "help", cmd_help, "[COMMAND]", "show this help, or one command's" },
    { NULL, NULL, NULL, NULL },
};

const cli_cmd *cli_find(const char *name)
{
    for (const cli_cmd *c = cli_commands; c->name != NULL; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

static void help(FILE *f)
{
    fputs("usage: sekrets-cli [--socket PATH] [--timeout MS] COMMAND [ARGS]\n"
          "       sekrets-cli --help | --version\n\n"
          "Talks to sekretsd over its Unix socket ($SEKRETS_SOCKET, else\n"
          "$XDG_RUNTIME_DIR/sekrets/sekretsd.sock).\n\n"
          "  --socket PATH  the daemon's socket instead\n"
          "  --timeout MS   how long to wait for the connection and then for each answer\n"
          "                 (1..3600000, default 30000); past it, exit 6. An unlock, init or\n"
          "                 passwd waits for its key derivation too: raise it for\n"
          "                 sekretsd --kdf-limits sensitive on a slow machine.\n"
          "\nCommands:\n", f);
    for (const cli_cmd *c = cli_commands; c->name != NULL; c++)
        fprintf(f, "  %-7s %s\n          %s\n", c->name, c->usage, c->help);
    fputs("\nPassphrases come only from the terminal (no echo) or from --passphrase-fd /\n"
          "--passphrase-file (one trailing newline dropped); never from arguments or the\n"
          "environment.\n\n", f);
    fputs(cli_exit_table, f);
}

static void help_one(const cli_cmd *c)
{
    printf("usage: sekrets-cli %s %s\n  %s\n", c->name, c->usage, c->help);
}

int cmd_help(cli_ctx *ctx, int argc, char **argv)
{
    const cli_cmd *c;
    if (argc == 1) {
        help(stdout);
        return 0;
    }
    if (argc != 2)
        return cli_usage(ctx, "wants at most one COMMAND");
    if ((c = cli_find(argv[1])) == NULL)
        return cli_usage(ctx, "unknown command '%s'", argv[1]);
    help_one(c);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "socket", required_argument, NULL, 's' },
        { "timeout", required_argument, NULL, 't' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    cli_ctx ctx = { NULL, 0, NULL, NULL };
    long v;
    int o;

    if (sodium_init() < 0) {
        fputs("sekrets-cli: cannot initialise libsodium\n", stderr);
        return EXIT_ERROR;
    }
    jsonmp_init();
    argv[0] = (char *)"sekrets-cli"; /* getopt's messages name it, not the path it ran from */
    while ((o = getopt_long(argc, argv, "+s:t:hV", opts, NULL)) != -1) {
        switch (o) {
        case 's':
            ctx.socket = optarg;
            break;
        case 't':
            if (cli_parse_int(optarg, 1, 3600000, &v) != 0)
                return cli_usage(&ctx, "--timeout wants milliseconds (1..3600000)");
            ctx.timeout_ms = (int)v;
            break;
        case 'h':
            help(stdout);
            return 0;
        case 'V':
            printf("sekrets-cli %s (libsekrets %s)\n", SKR_VERSION_STRING, skr_version());
            return 0;
        default: /* getopt said which option */
            return cli_bad_option(&ctx, argv);
        }
    }
    if (optind >= argc) {
        help(stderr);
        return EXIT_USAGE;
    }
    const cli_cmd *cmd = cli_find(argv[optind]);
    if (cmd == NULL)
        return cli_usage(&ctx, "unknown command '%s' (see --help)", argv[optind]);
    ctx.cmd = cmd->name;
    ctx.usage = cmd->usage;
    argc -= optind;
    argv += optind;
    optind = 0; /* the subcommand parses its own options from argv[1] */
    /* getopt names its errors after argv[0]: "sekrets-cli: get: unrecognized option ..." */
    static char prog[64];
    snprintf(prog, sizeof(prog), "sekrets-cli: %s", cmd->name);
    argv[0] = prog;
    /* exec's command has its own options: only look before it. */
    int scan = cmd->fn == cmd_exec ? (argc > 1 ? 2 : 1) : argc;
    for (int i = 1; i < scan && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            help_one(cmd);
            return 0;
        }
    int rc = cmd->fn(&ctx, argc, argv);
    if (fflush(stdout) != 0 && rc == 0) {
        cli_err(&ctx, "cannot write the output");
        rc = EXIT_ERROR;
    }
    return rc;
}
