/*
 * client/lib/call.c - one request and its answer: the plumbing every operation of ops_*.c
 * shares (argument copies, a fresh id, the round trip, reading the result map), and the
 * raw skr_call. Results are untrusted input: every key and type is checked
 * (SKR_EPROTOCOL otherwise).
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int call_set_str(char *dst, uint32_t *dst_len, size_t cap, const char *s)
{
    size_t n;
    if (s == NULL)
        return SKR_EINVAL;
    n = strlen(s);
    if (n == 0 || n > cap)
        return SKR_EINVAL;
    memcpy(dst, s, n + 1);
    *dst_len = (uint32_t)n;
    return 0;
}

/* Prepares c for a call and encodes req into c->out with a fresh id. */
static int begin(skr_client *c, proto_request *req)
{
    client_clear_error(c);
    req->id = c->next_id++;
    if (c->next_id == 0)
        c->next_id = 1;
    proto_buf_reset(&c->out);
    return proto_request_encode(&c->out, req, PROTO_MAX_FRAME_DEFAULT);
}

static void keep_answer(void *ctx, size_t i, const proto_response *resp)
{
    (void)i;
    *(proto_response *)ctx = *resp;
}

int call_request(skr_client *c, proto_request *req, proto_response *resp)
{
    int r;

    if (c == NULL) /* before begin's failure path, which touches c->out */
        return SKR_EINVAL;
    if ((r = begin(c, req)) != 0) {
        proto_buf_reset(&c->out);
        return r;
    }
    if ((r = transport_roundtrip(c, &req->id, 1, keep_answer, resp)) != 0)
        return r;
    return resp->ok ? 0 : resp->code;
}

int call_op(skr_client *c, proto_op op)
{
    proto_request req;
    proto_response resp;
    memset(&req, 0, sizeof(req));
    req.op = op;
    return call_request(c, &req, &resp);
}

/* Reads a map result and finds `key` in it; *val is a cursor at its value. */
int call_result_key(const proto_response *resp, const char *key, proto_cur *val)
{
    proto_cur c = proto_cur_make(resp->result.ptr, resp->result.len);
    uint32_t n;
    size_t kl = strlen(key);
    if (proto_cur_map(&c, &n) != 0)
        return SKR_EPROTOCOL;
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t klen;
        if (proto_cur_str(&c, &k, &klen) != 0) {
            if (proto_cur_skip(&c, NULL, NULL) != 0)
                return SKR_EPROTOCOL;
        } else if (klen == kl && memcmp(k, key, kl) == 0) {
            *val = c;
            return 0;
        }
        if (proto_cur_skip(&c, NULL, NULL) != 0)
            return SKR_EPROTOCOL;
    }
    return SKR_EPROTOCOL;
}

int call_result_bool(const proto_response *resp, const char *key, bool *v)
{
    proto_cur c;
    int r = call_result_key(resp, key, &c);
    if (r != 0)
        return r;
    return proto_cur_bool(&c, v) != 0 ? SKR_EPROTOCOL : 0;
}

int skr_call(skr_client *c, const void *req, size_t req_len, void **reply, size_t *reply_len,
             int *error)
{
    proto_response resp;
    size_t obj, mark;
    void *copy;
    int r;

    if (c == NULL || req == NULL || reply == NULL || reply_len == NULL)
        return SKR_EINVAL;
    client_clear_error(c);
    if (proto_mp_check(req, req_len, &obj) != 0 || obj != req_len)
        return SKR_EINVAL;
    proto_cur cur = proto_cur_make(req, req_len);
    if (proto_cur_peek(&cur) != PROTO_MP_MAP)
        return SKR_EINVAL;
    if (c->fd < 0)
        return SKR_EIO;

    proto_buf_reset(&c->out);
    if ((r = proto_frame_begin(&c->out, &mark)) != 0 ||
        (r = proto_buf_append(&c->out, req, req_len)) != 0 ||
        (r = proto_frame_end(&c->out, mark, CLIENT_MAX_FRAME)) != 0) {
        proto_buf_reset(&c->out);
        return r;
    }
    /* The request carries the caller's own id: the answer is taken whatever its id. */
    if ((r = transport_roundtrip(c, NULL, 1, keep_answer, &resp)) != 0)
        goto out;
    copy = malloc(c->reply.len);
    if (copy == NULL) {
        r = SKR_ENOMEM;
        goto out;
    }
    memcpy(copy, c->reply.data, c->reply.len);
    *reply = copy;
    *reply_len = c->reply.len;
    if (error != NULL)
        *error = resp.ok ? 0 : resp.code;
    r = 0;
out:
    proto_buf_reset(&c->out);
    proto_buf_reset(&c->reply);
    return r;
}

void skr_buffer_free(void *p, size_t len)
{
    if (p == NULL)
        return;
    sodium_memzero(p, len);
    free(p);
}
