/*
 * tests/python/encode_request.c - prints, in hex, the request frame that
 * proto_request_encode (the C codec every C client packs with) makes for its arguments:
 *
 *   encode_request ID OP [protocol=P] [name=N] [body=HEX|@FILE] [passphrase=S] [old=S] [new=S]
 *
 * body=@FILE takes the packed body from FILE's raw bytes.
 * S may be written hex:HEX for passphrase bytes that are not text. Prints the frame as
 * lowercase hex on one line and exits 0, or prints "error CODE" (the SKR_E* number) and
 * exits 1. test_wire_identity.py compares this with the Python client byte for byte.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "frame.h"
#include "request.h"

/* What unhex and slurp allocated, freed before exit (a clean run under LeakSanitizer). */
static void *owned[8];
static size_t nowned;

static void *own(void *p)
{
    if (nowned == sizeof(owned) / sizeof(owned[0]))
        exit(2);
    owned[nowned++] = p;
    return p;
}

static unsigned char *unhex(const char *s, size_t *len)
{
    size_t n = strlen(s);
    unsigned char *out = own(malloc(n / 2 + 1));
    if (out == NULL || n % 2 != 0)
        exit(2);
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            exit(2);
        out[i] = (unsigned char)v;
    }
    *len = n / 2;
    return out;
}

/* The raw bytes of a file (bodies too long for one argument in hex). */
static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *out = own(malloc(1 << 20));
    if (f == NULL || out == NULL)
        exit(2);
    *len = fread(out, 1, 1 << 20, f);
    fclose(f);
    return out;
}

static void secret(proto_request *req, unsigned bit, proto_span *sp, const char *v)
{
    size_t n;
    if (strncmp(v, "hex:", 4) == 0) {
        sp->ptr = unhex(v + 4, &n);
    } else {
        sp->ptr = (const uint8_t *)v;
        n = strlen(v);
    }
    sp->len = (uint32_t)n;
    req->fields |= bit;
}

int main(int argc, char **argv)
{
    proto_request req;
    memset(&req, 0, sizeof(req));
    if (argc < 3) {
        fputs("usage: encode_request ID OP [key=value]...\n", stderr);
        return 2;
    }
    req.id = (uint32_t)strtoul(argv[1], NULL, 10);
    req.op = proto_op_from_name(argv[2], strlen(argv[2]));
    for (int i = 3; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (eq == NULL)
            return 2;
        *eq = '\0';
        const char *k = argv[i], *v = eq + 1;
        if (strcmp(k, "protocol") == 0) {
            snprintf(req.protocol, sizeof(req.protocol), "%s", v);
            req.protocol_len = (uint32_t)strlen(v);
            req.fields |= PROTO_F_PROTOCOL;
        } else if (strcmp(k, "name") == 0) {
            snprintf(req.name, sizeof(req.name), "%s", v);
            req.name_len = (uint32_t)strlen(v);
            req.fields |= PROTO_F_NAME;
        } else if (strcmp(k, "body") == 0) {
            size_t n;
            req.body.ptr = v[0] == '@' ? slurp(v + 1, &n) : unhex(v, &n);
            req.body.len = (uint32_t)n;
            req.fields |= PROTO_F_BODY;
        } else if (strcmp(k, "passphrase") == 0) {
            secret(&req, PROTO_F_PASSPHRASE, &req.passphrase, v);
        } else if (strcmp(k, "old") == 0) {
            secret(&req, PROTO_F_OLD, &req.old_pass, v);
        } else if (strcmp(k, "new") == 0) {
            secret(&req, PROTO_F_NEW, &req.new_pass, v);
        } else {
            return 2;
        }
    }
    proto_buf out = PROTO_BUF_INIT;
    int rc = proto_request_encode(&out, &req, PROTO_MAX_FRAME_DEFAULT);
    if (rc != 0)
        printf("error %d\n", rc);
    for (size_t i = 0; rc == 0 && i < out.len; i++)
        printf("%02x", out.data[i]);
    if (rc == 0)
        putchar('\n');
    proto_buf_free(&out);
    while (nowned > 0)
        free(owned[--nowned]);
    return rc == 0 ? 0 : 1;
}
