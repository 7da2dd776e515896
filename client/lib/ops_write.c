/*
 * client/lib/ops_write.c - the writes of PROTOCOL.md: post, put (with or without given times)
 * and delete. Arguments are checked before anything is sent.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int write_req(proto_request *req, proto_op op, const char *protocol, const char *name,
                     const void *body, size_t body_len)
{
    int r;
    memset(req, 0, sizeof(*req));
    req->op = op;
    if ((r = call_set_str(req->protocol, &req->protocol_len, PROTO_MAX_PROTOCOL, protocol)) != 0)
        return r;
    if ((r = call_set_str(req->name, &req->name_len, PROTO_MAX_NAME, name)) != 0)
        return r;
    req->fields = PROTO_F_PROTOCOL | PROTO_F_NAME;
    if (op != PROTO_OP_DELETE) {
        if (body == NULL || body_len == 0)
            return SKR_EINVAL;
        if (body_len > PROTO_MAX_BODY)
            return SKR_ETOO_LARGE;
        req->body.ptr = body;
        req->body.len = (uint32_t)body_len;
        req->fields |= PROTO_F_BODY;
    }
    return 0;
}

/* A post or put; created/modified as for skr_post_at. */
static int write_call(skr_client *c, proto_op op, const char *protocol, const char *name,
                      const void *body, size_t body_len, int64_t created, int64_t modified,
                      proto_response *resp)
{
    const struct { int64_t t; unsigned bit; } times[] = {
        { created, PROTO_F_CREATED }, { modified, PROTO_F_MODIFIED },
    };
    proto_request req;
    int r = write_req(&req, op, protocol, name, body, body_len);
    if (r != 0)
        return r;
    req.created = created;
    req.modified = modified;
    for (size_t i = 0; i < 2; i++) {
        if (times[i].t == SKR_TIME_NOW)
            continue;
        if (times[i].t < 0 || times[i].t > PROTO_MAX_TIME)
            return SKR_EINVAL;
        req.fields |= times[i].bit;
    }
    return call_request(c, &req, resp);
}

int skr_post(skr_client *c, const char *protocol, const char *name, const void *body,
             size_t body_len)
{
    return skr_post_at(c, protocol, name, body, body_len, SKR_TIME_NOW, SKR_TIME_NOW);
}

int skr_put(skr_client *c, const char *protocol, const char *name, const void *body,
            size_t body_len, bool *created)
{
    return skr_put_at(c, protocol, name, body, body_len, SKR_TIME_NOW, SKR_TIME_NOW, created);
}

int skr_post_at(skr_client *c, const char *protocol, const char *name, const void *body,
                size_t body_len, int64_t created, int64_t modified)
{
    proto_response resp;
    return write_call(c, PROTO_OP_POST, protocol, name, body, body_len, created, modified, &resp);
}

int skr_put_at(skr_client *c, const char *protocol, const char *name, const void *body,
               size_t body_len, int64_t created, int64_t modified, bool *was_created)
{
    proto_response resp;
    bool v;
    int r = write_call(c, PROTO_OP_PUT, protocol, name, body, body_len, created, modified, &resp);
    if (r == 0 && (r = call_result_bool(&resp, "created", &v)) == 0 && was_created != NULL)
        *was_created = v;
    return r;
}

int skr_delete(skr_client *c, const char *protocol, const char *name, bool *deleted)
{
    proto_request req;
    proto_response resp;
    bool v;
    int r = write_req(&req, PROTO_OP_DELETE, protocol, name, NULL, 0);
    if (r == 0)
        r = call_request(c, &req, &resp);
    if (r == 0 && (r = call_result_bool(&resp, "deleted", &v)) == 0 && deleted != NULL)
        *deleted = v;
    return r;
}