#include "rel.h"

#include <dirent.h>
#include <fcntl.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "request.h"
#include "response.h"

proto_span rel_body(proto_buf *b, const char *value)
{
    msgpack_packer pk;
    proto_buf_reset(b);
    msgpack_packer_init(&pk, b, proto_buf_msgpack_write);
    msgpack_pack_map(&pk, 1);
    proto_pack_cstr(&pk, "v");
    proto_pack_cstr(&pk, value);
    return (proto_span){ b->data, (uint32_t)b->len };
}

int rel_encode(proto_buf *out, uint32_t id, proto_op op, const char *protocol, const char *name,
               const char *value)
{
    proto_buf b = PROTO_BUF_INIT;
    proto_request r = harness_req(id, op, protocol, name);
    if (value != NULL) {
        r.body = rel_body(&b, value);
        r.fields |= PROTO_F_BODY;
    }
    int rc = proto_request_encode(out, &r, PROTO_MAX_FRAME_LIMIT);
    proto_buf_free(&b);
    return rc == 0 ? 0 : -1;
}

int rel_result_value(proto_span result, char *out, size_t cap)
{
    proto_cur c;
    if (harness_map_find(result, "body", &c) != 0)
        return -1;
    proto_span body = { c.p, (uint32_t)(c.end - c.p) };
    return harness_map_str(body, "v", out, cap);
}

int rel_call(int fd, uint32_t id, proto_op op, const char *protocol, const char *name,
             const char *value_in, char *value_out, size_t cap)
{
    proto_buf out = PROTO_BUF_INIT, in = PROTO_BUF_INIT;
    proto_response resp;
    int rc = -100;
    if (rel_encode(&out, id, op, protocol, name, value_in) == 0 &&
        harness_call_raw(fd, out.data, out.len, &in, &resp) == 0 && resp.id == id) {
        rc = resp.ok ? 0 : resp.code;
        if (rc == 0 && value_out != NULL && rel_result_value(resp.result, value_out, cap) != 0)
            rc = -101;
    }
    proto_buf_free(&out);
    proto_buf_free(&in);
    return rc;
}

int rel_call_secret(int fd, uint32_t id, proto_op op, const char *a, const char *b)
{
    proto_request r = harness_secret_req(id, op, a, b);
    proto_buf in = PROTO_BUF_INIT;
    proto_response resp;
    int rc = harness_call(fd, &r, &in, &resp) == 0 ? (resp.ok ? 0 : resp.code) : -100;
    proto_buf_free(&in);
    return rc;
}

long rel_rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

int rel_fd_count(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

void rel_random_token(char *buf, size_t n)
{
    static const char set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char r[256];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (n > sizeof(r))
        n = sizeof(r);
    if (fd < 0 || read(fd, r, n) != (ssize_t)n)
        abort();
    close(fd);
    for (size_t i = 0; i < n; i++)
        buf[i] = set[r[i] % (sizeof(set) - 1)];
    buf[n] = '\0';
}
