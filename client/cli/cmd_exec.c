/*
 * client/cli/exec.c - exec: run a command with credential fields in its environment.
 * The values travel only through the environment given to execvp: nothing secret is on
 * any command line. All look-ups go in one pipelined batch; then this process becomes the
 * command, so the exit status is the command's own.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "request.h"

#define MAX_VARS 128

typedef struct env_spec {
    char var[128];
    char protocol[PROTO_MAX_PROTOCOL + 1];
    char name[PROTO_MAX_NAME + 1];
    const char *field;
} env_spec;

/* VAR=PROTOCOL/NAME/FIELD: the protocol has no '/', the field is after the last '/'. */
static int parse_spec(const char *s, env_spec *e)
{
    const char *eq = strchr(s, '=');
    if (eq == NULL || eq == s || (size_t)(eq - s) >= sizeof(e->var))
        return -1;
    for (const char *p = s; p < eq; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '_' ||
              (p > s && *p >= '0' && *p <= '9')))
            return -1;
    memcpy(e->var, s, (size_t)(eq - s));
    e->var[eq - s] = '\0';
    const char *path = eq + 1;
    const char *slash1 = strchr(path, '/');
    const char *slash2 = strrchr(path, '/');
    if (slash1 == NULL || slash2 == slash1 || slash2[1] == '\0')
        return -1;
    size_t pl = (size_t)(slash1 - path), nl = (size_t)(slash2 - slash1 - 1);
    if (!proto_valid_protocol(path, pl) || !proto_valid_name(slash1 + 1, nl))
        return -1;
    memcpy(e->protocol, path, pl);
    e->protocol[pl] = '\0';
    memcpy(e->name, slash1 + 1, nl);
    e->name[nl] = '\0';
    e->field = slash2 + 1;
    return 0;
}

int cmd_exec(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        { "env", required_argument, NULL, 'e' }, { NULL, 0, NULL, 0 },
    };
    static env_spec specs[MAX_VARS];
    skr_get_req reqs[MAX_VARS];
    skr_cred *creds[MAX_VARS];
    int codes[MAX_VARS];
    size_t n = 0;
    skr_client *c = NULL;
    int o, r;

    while ((o = getopt_long(argc, argv, "+e:", opts, NULL)) != -1) {
        if (o != 'e')
            return cli_bad_option(ctx, argv);
        if (n == MAX_VARS)
            return cli_usage(ctx, "at most %d variables", MAX_VARS);
        if (parse_spec(optarg, &specs[n]) != 0)
            return cli_usage(ctx, "-e wants VAR=PROTOCOL/NAME/FIELD");
        n++;
    }
    if (optind >= argc)
        return cli_usage(ctx, "no command to run");
    if (n == 0)
        return cli_usage(ctx, "no -e VAR=PROTOCOL/NAME/FIELD given");
    for (size_t i = 0; i < n; i++) {
        reqs[i].name = specs[i].name;
        reqs[i].protocol = specs[i].protocol;
    }
    if ((r = cli_connect(ctx, &c)) != 0)
        return r;
    if ((r = skr_get_batch(c, reqs, n, creds, codes)) != 0) {
        r = cli_fail(ctx, c, r, NULL);
        skr_client_close(c);
        return r;
    }
    skr_client_close(c);

    r = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        char what[PROTO_MAX_PROTOCOL + PROTO_MAX_NAME + 8];
        snprintf(what, sizeof(what), "%s/%s", specs[i].protocol, specs[i].name);
        if (codes[i] != 0) {
            r = cli_fail(ctx, NULL, codes[i], what);
            break;
        }
        skr_type t = skr_cred_type(creds[i], specs[i].field);
        const char *val = NULL;
        char *json = NULL;
        size_t len = 0;
        if (t == SKR_TYPE_NONE) {
            cli_err(ctx, "%s has no field '%s'", what, specs[i].field);
            r = EXIT_NOT_FOUND;
        } else if (t == SKR_TYPE_STRING || t == SKR_TYPE_BINARY) {
            if (skr_cred_string(creds[i], specs[i].field, &val, &len) != 0 ||
                memchr(val, '\0', len) != NULL) {
                cli_err(ctx, "%s: field '%s' cannot go in the environment (NUL byte)", what,
                        specs[i].field);
                r = EXIT_USAGE;
            }
        } else {
            const void *raw;
            /* Numbers, maps, ...: their JSON text. */
            if (skr_cred_raw(creds[i], specs[i].field, &raw, &len) != 0 ||
                skr_msgpack_to_json(raw, len, 0, &json) != 0) {
                r = EXIT_ERROR;
            }
            val = json;
        }
        if (r == 0 && setenv(specs[i].var, val, 1) != 0) {
            cli_err(ctx, "cannot set %s", specs[i].var);
            r = EXIT_ERROR;
        }
        skr_string_free(json);
    }
    for (size_t i = 0; i < n; i++)
        skr_cred_free(creds[i]);
    if (r != 0)
        return r;
    fflush(NULL);
    execvp(argv[optind], argv + optind);
    int e = errno;
    cli_err(ctx, "cannot run %s: %s", argv[optind], strerror(e));
    return e == ENOENT ? 127 : 126;
}
