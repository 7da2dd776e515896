/*
 * client/cli/cmd_call.c - call: one request written as JSON, the whole reply as JSON.
 * Socket-level scripting: the map is sent as written (id included), nothing added.
 */
#include <getopt.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int cmd_call(cli_ctx *ctx, int argc, char **argv)
{
    proto_buf in = PROTO_BUF_INIT, req = PROTO_BUF_INIT;
    skr_client *c = NULL;
    void *reply = NULL;
    size_t reply_len = 0;
    char why[200], *json = NULL;
    int err = 0, r;

    if (argc > 1 && strcmp(argv[1], "--") == 0) {
        argv++;
        argc--;
    }
    if (argc > 2)
        return cli_usage(ctx, "wants one JSON argument (or JSON on stdin)");
    if (argc == 2) {
        r = proto_buf_append(&in, argv[1], strlen(argv[1]));
    } else {
        r = cli_read_fd(STDIN_FILENO, 2u * 1024 * 1024, &in);
    }
    if (r != 0) {
        r = cli_usage(ctx, "cannot read the request");
        goto out;
    }
    if (jsonmp_from_text((const char *)in.data, in.len, &req, why, sizeof(why)) != 0) {
        r = cli_usage(ctx, "request: %s", why);
        goto out;
    }
    if (req.len == 0 || (req.data[0] & 0xf0) != 0x80) {
        if (req.len == 0 || (req.data[0] != 0xde && req.data[0] != 0xdf)) {
            r = cli_usage(ctx, "the request must be a JSON object");
            goto out;
        }
    }
    if ((r = cli_connect(ctx, &c)) != 0)
        goto out;
    if ((r = skr_call(c, req.data, req.len, &reply, &reply_len, &err)) != 0) {
        r = cli_fail(ctx, c, r, NULL);
        goto out;
    }
    if ((r = skr_msgpack_to_json(reply, reply_len, 0, &json)) != 0) {
        r = cli_fail(ctx, c, r, NULL);
        goto out;
    }
    puts(json);
    r = cli_exit_code(err);
out:
    skr_string_free(json);
    skr_buffer_free(reply, reply_len);
    skr_client_close(c);
    proto_buf_free(&in);
    proto_buf_free(&req);
    return r;
}
