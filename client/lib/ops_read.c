/*
 * client/lib/ops_read.c - the reads of PROTOCOL.md: get, a pipelined batch of gets, getDb and
 * getHub. Built on call.c; results are untrusted input (SKR_EPROTOCOL).
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* A get of name (in protocol, or in any when NULL); SKR_EINVAL for a bad argument. */
static int get_req(proto_request *req, const char *name, const char *protocol)
{
    int r;

    memset(req, 0, sizeof(*req));
    req->op = PROTO_OP_GET;
    if ((r = call_set_str(req->name, &req->name_len, PROTO_MAX_NAME, name)) != 0)
        return r;
    req->fields = PROTO_F_NAME;
    if (protocol != NULL) {
        r = call_set_str(req->protocol, &req->protocol_len, PROTO_MAX_PROTOCOL, protocol);
        if (r != 0)
            return r;
        req->fields |= PROTO_F_PROTOCOL;
    }
    return 0;
}

int skr_get(skr_client *c, const char *name, const char *protocol, skr_cred **out)
{
    proto_request req;
    proto_response resp;
    int r;

    if (out == NULL)
        return SKR_EINVAL;
    if ((r = get_req(&req, name, protocol)) != 0)
        return r;
    if ((r = call_request(c, &req, &resp)) != 0)
        return r;
    r = cred_from_result(resp.result.ptr, resp.result.len, out);
    proto_buf_reset(&c->reply); /* the body is in the credential now; wipe this copy */
    return r;
}

/* Where the answers of a batch go: answer i to creds[i] or codes[i]. */
typedef struct batch_out {
    skr_cred **creds;
    int *codes;
} batch_out;

static void batch_answer(void *ctx, size_t i, const proto_response *resp)
{
    batch_out *b = ctx;
    b->codes[i] = resp->ok ? cred_from_result(resp->result.ptr, resp->result.len, &b->creds[i])
                           : resp->code;
}

int skr_get_batch(skr_client *c, const skr_get_req *reqs, size_t n, skr_cred **creds,
                  int *codes)
{
    proto_request req;
    uint32_t first;
    int r = 0;

    if (c == NULL || (n > 0 && (reqs == NULL || creds == NULL || codes == NULL)))
        return SKR_EINVAL;
    if (n > UINT32_MAX / 2)
        return SKR_EINVAL;
    client_clear_error(c);
    if (c->fd < 0)
        return SKR_EIO;
    for (size_t i = 0; i < n; i++)
        creds[i] = NULL;
    if (n == 0)
        return 0;

    /* Ids are consecutive from `first`, so answer i must carry first + i. */
    if (c->next_id > UINT32_MAX - n)
        c->next_id = 1;
    first = c->next_id;
    proto_buf_reset(&c->out);
    for (size_t i = 0; i < n; i++) {
        if ((r = get_req(&req, reqs[i].name, reqs[i].protocol)) != 0)
            goto out;
        req.id = first + (uint32_t)i;
        if ((r = proto_request_encode(&c->out, &req, PROTO_MAX_FRAME_DEFAULT)) != 0)
            goto out;
    }
    c->next_id = first + (uint32_t)n;
    if (c->next_id == 0)
        c->next_id = 1;

    batch_out b = { creds, codes };
    if ((r = transport_roundtrip(c, &first, n, batch_answer, &b)) != 0) {
        for (size_t i = 0; i < n; i++) {
            skr_cred_free(creds[i]);
            creds[i] = NULL;
        }
    }
out:
    proto_buf_reset(&c->out);
    proto_buf_reset(&c->reply);
    sodium_memzero(&req, sizeof(req));
    return r;
}

/* ------------------------------------------------------------------ lists ---- */

/* Reads the item at cur (advancing it) into l. */
typedef int (*list_item_fn)(proto_cur *cur, skr_list *l);

/* One list call (getDb, getHub): the array under `key` of the result, each item read by
 * item_fn; *out is the new list. */
static int list_call(skr_client *c, proto_request *req, const char *key,
                     list_item_fn item_fn, skr_list **out)
{
    proto_response resp;
    proto_cur cur;
    skr_list *l = NULL;
    uint32_t n;
    int r;

    if ((r = call_request(c, req, &resp)) != 0)
        return r;
    if ((r = call_result_key(&resp, key, &cur)) != 0)
        goto out;
    r = SKR_EPROTOCOL;
    if (proto_cur_array(&cur, &n) != 0)
        goto out;
    if ((r = list_new(n, &l)) != 0)
        goto out;
    for (uint32_t i = 0; i < n; i++)
        if ((r = item_fn(&cur, l)) != 0)
            goto out;
    *out = l;
    l = NULL;
out:
    skr_list_free(l);
    return r;
}

/* A getDb item: a name. */
static int db_item(proto_cur *cur, skr_list *l)
{
    const char *s;
    uint32_t sl;

    if (proto_cur_str(cur, &s, &sl) != 0)
        return SKR_EPROTOCOL;
    return list_add(l, s, sl, 0);
}

/* A getHub item: {name, count} (other keys skipped). */
static int hub_item(proto_cur *cur, skr_list *l)
{
    const char *name = NULL, *k;
    uint32_t m, kl, name_len = 0;
    uint64_t count = 0;
    bool have_count = false;

    if (proto_cur_map(cur, &m) != 0)
        return SKR_EPROTOCOL;
    for (uint32_t j = 0; j < m; j++) {
        if (proto_cur_str(cur, &k, &kl) != 0)
            return SKR_EPROTOCOL;
        if (kl == 4 && memcmp(k, "name", 4) == 0) {
            if (proto_cur_str(cur, &name, &name_len) != 0)
                return SKR_EPROTOCOL;
        } else if (kl == 5 && memcmp(k, "count", 5) == 0) {
            if (proto_cur_uint(cur, &count) != 0)
                return SKR_EPROTOCOL;
            have_count = true;
        } else if (proto_cur_skip(cur, NULL, NULL) != 0) {
            return SKR_EPROTOCOL;
        }
    }
    if (name == NULL || !have_count)
        return SKR_EPROTOCOL;
    return list_add(l, name, name_len, count);
}

int skr_get_db(skr_client *c, const char *protocol, skr_list **out)
{
    proto_request req;
    int r;

    if (out == NULL)
        return SKR_EINVAL;
    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_GETDB;
    if ((r = call_set_str(req.protocol, &req.protocol_len, PROTO_MAX_PROTOCOL, protocol)) != 0)
        return r;
    req.fields = PROTO_F_PROTOCOL;
    return list_call(c, &req, "names", db_item, out);
}

int skr_get_hub(skr_client *c, skr_list **out)
{
    proto_request req;

    if (out == NULL)
        return SKR_EINVAL;
    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_GETHUB;
    return list_call(c, &req, "protocols", hub_item, out);
}
