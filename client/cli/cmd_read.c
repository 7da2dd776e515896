/*
 * client/cli/cmd_read.c - status, ping, get, db, hub.
 */
#include <getopt.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "mp.h"
#include "response.h"

enum { OPT_JSON = 1000 };

/* Prints a packed object as one line of JSON. */
static int print_json(const cli_ctx *ctx, const void *mp, size_t len)
{
    char *json;
    int r = skr_msgpack_to_json(mp, len, 0, &json);
    if (r != 0)
        return cli_fail(ctx, NULL, r, "rendering JSON");
    fputs(json, stdout);
    fputc('\n', stdout);
    skr_string_free(json);
    return 0;
}

static void pack_key(msgpack_packer *pk, const char *k)
{
    msgpack_pack_str(pk, strlen(k));
    msgpack_pack_str_body(pk, k, strlen(k));
}

/* Parses the options of a read command that only knows --json; sets *json. */
static int json_only(cli_ctx *ctx, int argc, char **argv, bool *json, int min_args, int max_args)
{
    static const struct option opts[] = {
        { "json", no_argument, NULL, OPT_JSON }, { NULL, 0, NULL, 0 },
    };
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (o != OPT_JSON)
            return cli_bad_option(ctx, argv);
        *json = true;
    }
    int n = argc - optind;
    if (n < min_args || n > max_args)
        return cli_usage(ctx, "wrong number of arguments");
    return 0;
}

int cmd_ping(cli_ctx *ctx, int argc, char **argv)
{
    skr_client *c;
    bool json = false;
    int r;
    if ((r = json_only(ctx, argc, argv, &json, 0, 0)) != 0)
        return r;
    if ((r = cli_connect(ctx, &c)) != 0)
        return r;
    r = skr_ping(c);
    if (r == 0)
        puts(json ? "\"pong\"" : "pong");
    else
        r = cli_fail(ctx, c, r, NULL);
    skr_client_close(c);
    return r;
}

/* The daemon's status map as sent, every key included (the owner's hub, socket, suite and
 * kdf, which skr_status does not carry). *reply: free with skr_buffer_free; *res points
 * into it. */
static int status_raw(skr_client *c, void **reply, size_t *len, proto_span *res)
{
    static const char req[] = "\x82\xa2id\x01\xa2op\xa6status";
    proto_response resp;
    int err, r = skr_call(c, req, sizeof(req) - 1, reply, len, &err);
    if (r != 0)
        return r;
    if (proto_response_decode(*reply, *len, &resp) != 0)
        r = SKR_EPROTOCOL;
    else if (err != 0)
        r = err;
    if (r != 0) {
        skr_buffer_free(*reply, *len);
        *reply = NULL;
        return r;
    }
    *res = resp.result;
    return 0;
}

static void print_str_line(const char *label, const char *s, uint32_t n)
{
    printf("%s: ", label);
    cli_put_escaped(stdout, s, n);
    fputc('\n', stdout);
}

/* kdf: {kind, opslimit, memlimit} as one line. */
static int print_kdf(proto_cur *cur)
{
    uint32_t n, kl, sl;
    const char *k, *s;
    uint64_t ops = 0, mem = 0;
    if (proto_cur_map(cur, &n) != 0)
        return SKR_EPROTOCOL;
    fputs("kdf:", stdout);
    for (uint32_t i = 0; i < n; i++) {
        if (proto_cur_str(cur, &k, &kl) != 0)
            return SKR_EPROTOCOL;
        if (kl == 4 && memcmp(k, "kind", 4) == 0 && proto_cur_str(cur, &s, &sl) == 0) {
            fputc(' ', stdout);
            cli_put_escaped(stdout, s, sl);
        } else if (kl == 8 && memcmp(k, "opslimit", 8) == 0 && proto_cur_uint(cur, &ops) == 0) {
            printf(", opslimit %" PRIu64, ops);
        } else if (kl == 8 && memcmp(k, "memlimit", 8) == 0 && proto_cur_uint(cur, &mem) == 0) {
            if (mem % (1u << 20) == 0)
                printf(", memlimit %" PRIu64 " MiB", mem >> 20);
            else
                printf(", memlimit %" PRIu64 " KiB", mem >> 10);
        } else if (proto_cur_skip(cur, NULL, NULL) != 0) {
            return SKR_EPROTOCOL;
        }
    }
    fputc('\n', stdout);
    return 0;
}

/* The owner's status lines: hub, socket, suite, kdf (absent for a granted peer). */
static int print_status_details(proto_span res)
{
    proto_cur cur = proto_cur_make(res.ptr, res.len);
    uint32_t n, kl, sl;
    const char *k, *s;
    if (proto_cur_map(&cur, &n) != 0)
        return SKR_EPROTOCOL;
    for (uint32_t i = 0; i < n; i++) {
        if (proto_cur_str(&cur, &k, &kl) != 0)
            return SKR_EPROTOCOL;
        bool known = (kl == 3 && memcmp(k, "hub", 3) == 0) || (kl == 6 && memcmp(k, "socket", 6) == 0) ||
                     (kl == 5 && memcmp(k, "suite", 5) == 0);
        if (known && proto_cur_str(&cur, &s, &sl) == 0) {
            char label[8];
            snprintf(label, sizeof(label), "%.*s", (int)kl, k);
            print_str_line(label, s, sl);
        } else if (known) {
            return SKR_EPROTOCOL;
        } else if (kl == 3 && memcmp(k, "kdf", 3) == 0) {
            if (print_kdf(&cur) != 0)
                return SKR_EPROTOCOL;
        } else if (proto_cur_skip(&cur, NULL, NULL) != 0) {
            return SKR_EPROTOCOL;
        }
    }
    return 0;
}

int cmd_status(cli_ctx *ctx, int argc, char **argv)
{
    skr_client *c;
    skr_status st;
    bool json = false;
    void *reply = NULL;
    size_t reply_len = 0;
    proto_span res;
    int r;
    if ((r = json_only(ctx, argc, argv, &json, 0, 0)) != 0)
        return r;
    if ((r = cli_connect(ctx, &c)) != 0)
        return r;
    if ((r = (json ? 0 : skr_get_status(c, &st))) != 0 ||
        (r = status_raw(c, &reply, &reply_len, &res)) != 0) {
        r = cli_fail(ctx, c, r, NULL);
        goto out;
    }
    if (json) {
        r = print_json(ctx, res.ptr, res.len);
        goto out;
    }
    printf("initialized: %s\nlocked: %s\nversion: ", st.initialized ? "yes" : "no",
           st.locked ? "yes" : "no");
    cli_put_escaped(stdout, st.version, strlen(st.version));
    printf("\nprotocols: %" PRIu64 "\ncredentials: %" PRIu64 "\nuptime: %" PRIu64 "s\n",
           st.protocols, st.credentials, st.uptime_s);
    if (st.idle_lock_s == 0)
        puts("idle lock: never");
    else
        printf("idle lock: %" PRIu64 "s\n", st.idle_lock_s);
    if ((r = print_status_details(res)) != 0)
        r = cli_fail(ctx, c, r, NULL);
out:
    skr_buffer_free(reply, reply_len);
    skr_client_close(c);
    return r;
}

/* -f FIELD: the raw value alone (strings unescaped), a newline only on a terminal. */
static int print_field(const cli_ctx *ctx, skr_cred *cred, const char *field, bool json)
{
    const void *raw;
    size_t len;
    int r = skr_cred_raw(cred, field, &raw, &len);
    if (r == SKR_ENOT_FOUND) {
        fputs("sekrets-cli: get: no field '", stderr);
        cli_put_escaped(stderr, field, strlen(field));
        fputs("' in this credential\n", stderr);
        return EXIT_NOT_FOUND;
    }
    if (r != 0)
        return cli_fail(ctx, NULL, r, NULL);
    if (json)
        return print_json(ctx, raw, len);
    skr_type t = skr_cred_type(cred, field);
    if (t == SKR_TYPE_STRING || t == SKR_TYPE_BINARY) {
        const char *s;
        if ((r = skr_cred_string(cred, field, &s, &len)) != 0)
            return cli_fail(ctx, NULL, r, NULL);
        fwrite(s, 1, len, stdout);
        if (isatty(STDOUT_FILENO))
            fputc('\n', stdout);
        return 0;
    }
    char *text;
    if ((r = skr_msgpack_to_json(raw, len, 0, &text)) != 0)
        return cli_fail(ctx, NULL, r, NULL);
    fputs(text, stdout);
    skr_string_free(text);
    if (isatty(STDOUT_FILENO))
        fputc('\n', stdout);
    return 0;
}

static void print_human(skr_cred *cred)
{
    char date[32];
    const void *body;
    size_t len;
    fputs("protocol: ", stdout);
    cli_put_escaped(stdout, skr_cred_protocol(cred), strlen(skr_cred_protocol(cred)));
    fputs("\nname: ", stdout);
    cli_put_escaped(stdout, skr_cred_name(cred), strlen(skr_cred_name(cred)));
    gluedb_date(skr_cred_created(cred), date);
    printf("\ncreated: %s\n", date);
    gluedb_date(skr_cred_modified(cred), date);
    printf("modified: %s\n", date);

    /* Top-level fields one a line: strings escaped, anything else as JSON. */
    skr_cred_body(cred, &body, &len);
    json_t *j = jsonmp_to_json(body, len);
    if (!json_is_object(j)) {
        char *text;
        if (skr_msgpack_to_json(body, len, 0, &text) == 0) {
            fputs("body: ", stdout);
            cli_put_escaped(stdout, text, strlen(text));
            fputc('\n', stdout);
            skr_string_free(text);
        }
        json_decref(j);
        return;
    }
    const char *key;
    json_t *val;
    json_object_foreach(j, key, val) {
        fputs("  ", stdout);
        cli_put_escaped(stdout, key, strlen(key));
        fputs(": ", stdout);
        if (json_is_string(val)) {
            cli_put_escaped(stdout, json_string_value(val), json_string_length(val));
        } else {
            char *text = json_dumps(val, JSON_COMPACT | JSON_ENCODE_ANY);
            if (text != NULL) {
                cli_put_escaped(stdout, text, strlen(text));
                json_free_t f;
                json_get_alloc_funcs(NULL, &f);
                f(text); /* the wiping allocator */
            }
        }
        fputc('\n', stdout);
    }
    json_decref(j);
}

int cmd_get(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        { "protocol", required_argument, NULL, 'p' },
        { "field", required_argument, NULL, 'f' },
        { "json", no_argument, NULL, OPT_JSON },
        { NULL, 0, NULL, 0 },
    };
    const char *protocol = NULL, *field = NULL;
    bool json = false;
    skr_client *c;
    skr_cred *cred = NULL;
    int o, r;

    while ((o = getopt_long(argc, argv, "p:f:", opts, NULL)) != -1) {
        switch (o) {
        case 'p': protocol = optarg; break;
        case 'f': field = optarg; break;
        case OPT_JSON: json = true; break;
        default: return cli_bad_option(ctx, argv);
        }
    }
    if (argc - optind != 1)
        return cli_usage(ctx, "wants one NAME");
    const char *name = argv[optind];
    if ((r = cli_connect(ctx, &c)) != 0)
        return r;
    if ((r = skr_get(c, name, protocol, &cred)) != 0) {
        r = cli_fail(ctx, c, r, name);
        goto out;
    }
    if (field != NULL) {
        r = print_field(ctx, cred, field, json);
    } else if (json) {
        proto_buf b = PROTO_BUF_INIT;
        msgpack_packer pk;
        const void *body;
        size_t len;
        skr_cred_body(cred, &body, &len);
        msgpack_packer_init(&pk, &b, proto_buf_msgpack_write);
        msgpack_pack_map(&pk, 5);
        pack_key(&pk, "protocol");
        pack_key(&pk, skr_cred_protocol(cred));
        pack_key(&pk, "name");
        pack_key(&pk, skr_cred_name(cred));
        pack_key(&pk, "created");
        msgpack_pack_int64(&pk, skr_cred_created(cred));
        pack_key(&pk, "modified");
        msgpack_pack_int64(&pk, skr_cred_modified(cred));
        pack_key(&pk, "body");
        if (proto_buf_append(&b, body, len) != 0)
            r = cli_fail(ctx, NULL, SKR_ENOMEM, NULL);
        else
            r = print_json(ctx, b.data, b.len);
        proto_buf_free(&b);
    } else {
        print_human(cred);
        r = 0;
    }
out:
    skr_cred_free(cred);
    skr_client_close(c);
    return r;
}

int cmd_db(cli_ctx *ctx, int argc, char **argv)
{
    skr_client *c;
    skr_list *l = NULL;
    bool json = false;
    int r;
    if ((r = json_only(ctx, argc, argv, &json, 1, 1)) != 0)
        return r;
    const char *protocol = argv[optind];
    if ((r = cli_connect(ctx, &c)) != 0)
        return r;
    if ((r = skr_get_db(c, protocol, &l)) != 0) {
        r = cli_fail(ctx, c, r, protocol);
        goto out;
    }
    if (json) {
        proto_buf b = PROTO_BUF_INIT;
        msgpack_packer pk;
        msgpack_packer_init(&pk, &b, proto_buf_msgpack_write);
        msgpack_pack_map(&pk, 2);
        pack_key(&pk, "protocol");
        pack_key(&pk, protocol);
        pack_key(&pk, "names");
        msgpack_pack_array(&pk, skr_list_size(l));
        for (size_t i = 0; i < skr_list_size(l); i++)
            pack_key(&pk, skr_list_name(l, i));
        r = print_json(ctx, b.data, b.len);
        proto_buf_free(&b);
    } else {
        for (size_t i = 0; i < skr_list_size(l); i++) {
            cli_put_escaped(stdout, skr_list_name(l, i), strlen(skr_list_name(l, i)));
            fputc('\n', stdout);
        }
    }
out:
    skr_list_free(l);
    skr_client_close(c);
    return r;
}

/* ls: hub without a PROTOCOL, db with one. */
int cmd_ls(cli_ctx *ctx, int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (argv[i][0] != '-')
            return cmd_db(ctx, argc, argv);
    return cmd_hub(ctx, argc, argv);
}

int cmd_hub(cli_ctx *ctx, int argc, char **argv)
{
    skr_client *c;
    skr_list *l = NULL;
    bool json = false;
    int r;
    if ((r = json_only(ctx, argc, argv, &json, 0, 0)) != 0)
        return r;
    if ((r = cli_connect(ctx, &c)) != 0)
        return r;
    if ((r = skr_get_hub(c, &l)) != 0) {
        r = cli_fail(ctx, c, r, NULL);
        goto out;
    }
    if (json) {
        proto_buf b = PROTO_BUF_INIT;
        msgpack_packer pk;
        msgpack_packer_init(&pk, &b, proto_buf_msgpack_write);
        msgpack_pack_map(&pk, 1);
        pack_key(&pk, "protocols");
        msgpack_pack_array(&pk, skr_list_size(l));
        for (size_t i = 0; i < skr_list_size(l); i++) {
            msgpack_pack_map(&pk, 2);
            pack_key(&pk, "name");
            pack_key(&pk, skr_list_name(l, i));
            pack_key(&pk, "count");
            msgpack_pack_uint64(&pk, skr_list_count(l, i));
        }
        r = print_json(ctx, b.data, b.len);
        proto_buf_free(&b);
    } else {
        for (size_t i = 0; i < skr_list_size(l); i++) {
            cli_put_escaped(stdout, skr_list_name(l, i), strlen(skr_list_name(l, i)));
            printf("\t%" PRIu64 "\n", skr_list_count(l, i));
        }
    }
out:
    skr_list_free(l);
    skr_client_close(c);
    return r;
}
