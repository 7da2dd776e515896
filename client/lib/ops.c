/*
 * client/lib/ops.c - one function per operation of PROTOCOL.md: builds the request,
 * runs it through transport_roundtrip, reads the result. Results are untrusted input:
 * every key and type is checked (SKR_EPROTOCOL otherwise).
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int set_str(char *dst, uint32_t *dst_len, size_t cap, const char *s)
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
    if (c == NULL)
        return SKR_EINVAL;
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

/* One call with an already filled request: 0 for ok:true (*resp points into c->reply),
 * the answer's code for ok:false (its message in c->errmsg), or a transport error. */
static int call(skr_client *c, proto_request *req, proto_response *resp)
{
    int r = begin(c, req);
    if (r != 0) {
        proto_buf_reset(&c->out);
        return r;
    }
    if ((r = transport_roundtrip(c, &req->id, 1, keep_answer, resp)) != 0)
        return r;
    return resp->ok ? 0 : resp->code;
}

static int call_simple(skr_client *c, proto_op op)
{
    proto_request req;
    proto_response resp;
    memset(&req, 0, sizeof(req));
    req.op = op;
    return call(c, &req, &resp);
}

/* Reads a map result and finds `key` in it; *val is a cursor at its value. */
static int result_key(const proto_response *resp, const char *key, proto_cur *val)
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

static int result_bool(const proto_response *resp, const char *key, bool *v)
{
    proto_cur c;
    int r = result_key(resp, key, &c);
    if (r != 0)
        return r;
    return proto_cur_bool(&c, v) != 0 ? SKR_EPROTOCOL : 0;
}

int skr_ping(skr_client *c)
{
    proto_request req;
    proto_response resp;
    const char *s;
    uint32_t n;
    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_PING;
    int r = call(c, &req, &resp);
    if (r != 0)
        return r;
    proto_cur cur = proto_cur_make(resp.result.ptr, resp.result.len);
    if (proto_cur_str(&cur, &s, &n) != 0 || n != 4 || memcmp(s, "pong", 4) != 0)
        return SKR_EPROTOCOL;
    return 0;
}

int skr_get_status(skr_client *c, skr_status *out)
{
    proto_request req;
    proto_response resp;
    skr_status st;
    uint32_t n;
    int r;

    if (out == NULL)
        return SKR_EINVAL;
    memset(&req, 0, sizeof(req));
    memset(&st, 0, sizeof(st));
    req.op = PROTO_OP_STATUS;
    if ((r = call(c, &req, &resp)) != 0)
        return r;
    proto_cur cur = proto_cur_make(resp.result.ptr, resp.result.len);
    if (proto_cur_map(&cur, &n) != 0)
        return SKR_EPROTOCOL;
    unsigned seen = 0;
    for (uint32_t i = 0; i < n; i++) {
        const char *k, *s;
        uint32_t kl, sl;
        int e = 0;
        if (proto_cur_str(&cur, &k, &kl) != 0) {
            e = proto_cur_skip(&cur, NULL, NULL) | proto_cur_skip(&cur, NULL, NULL);
        }
#define KEY(lit) (kl == sizeof(lit) - 1 && memcmp(k, lit, kl) == 0)
        else if (KEY("initialized")) {
            e = proto_cur_bool(&cur, &st.initialized);
            seen |= 1;
        } else if (KEY("locked")) {
            e = proto_cur_bool(&cur, &st.locked);
            seen |= 2;
        } else if (KEY("version")) {
            e = proto_cur_str(&cur, &s, &sl);
            if (e == 0)
                copy_utf8_bounded(st.version, sizeof(st.version), s, sl);
        } else if (KEY("protocols")) {
            e = proto_cur_uint(&cur, &st.protocols);
        } else if (KEY("credentials")) {
            e = proto_cur_uint(&cur, &st.credentials);
        } else if (KEY("uptime_s")) {
            e = proto_cur_uint(&cur, &st.uptime_s);
        } else if (KEY("idle_lock_s")) {
            e = proto_cur_uint(&cur, &st.idle_lock_s);
        } else {
            e = proto_cur_skip(&cur, NULL, NULL);
        }
#undef KEY
        if (e != 0)
            return SKR_EPROTOCOL;
    }
    if (seen != 3)
        return SKR_EPROTOCOL;
    *out = st;
    return 0;
}

int skr_get(skr_client *c, const char *name, const char *protocol, skr_cred **out)
{
    proto_request req;
    proto_response resp;
    int r;

    if (out == NULL)
        return SKR_EINVAL;
    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_GET;
    if ((r = set_str(req.name, &req.name_len, PROTO_MAX_NAME, name)) != 0)
        return r;
    req.fields = PROTO_F_NAME;
    if (protocol != NULL) {
        if ((r = set_str(req.protocol, &req.protocol_len, PROTO_MAX_PROTOCOL, protocol)) != 0)
            return r;
        req.fields |= PROTO_F_PROTOCOL;
    }
    if ((r = call(c, &req, &resp)) != 0)
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
        memset(&req, 0, sizeof(req));
        req.op = PROTO_OP_GET;
        req.id = first + (uint32_t)i;
        if ((r = set_str(req.name, &req.name_len, PROTO_MAX_NAME, reqs[i].name)) != 0)
            goto out;
        req.fields = PROTO_F_NAME;
        if (reqs[i].protocol != NULL) {
            r = set_str(req.protocol, &req.protocol_len, PROTO_MAX_PROTOCOL, reqs[i].protocol);
            if (r != 0)
                goto out;
            req.fields |= PROTO_F_PROTOCOL;
        }
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

/* The array under `key` in a reply (cur left on its first item, *n items) and an empty
 * list with room for them. */
static int result_list(const proto_response *resp, const char *key, proto_cur *cur,
                       uint32_t *n, skr_list **l)
{
    int r;
    if ((r = result_key(resp, key, cur)) != 0)
        return r;
    if (proto_cur_array(cur, n) != 0)
        return SKR_EPROTOCOL;
    return list_new(*n, l);
}


int skr_get_db(skr_client *c, const char *protocol, skr_list **out)
{
    proto_request req;
    proto_response resp;
    proto_cur cur;
    skr_list *l = NULL;
    uint32_t n;
    int r;

    if (out == NULL)
        return SKR_EINVAL;
    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_GETDB;
    if ((r = set_str(req.protocol, &req.protocol_len, PROTO_MAX_PROTOCOL, protocol)) != 0)
        return r;
    req.fields = PROTO_F_PROTOCOL;
    if ((r = call(c, &req, &resp)) != 0)
        return r;
    if ((r = result_list(&resp, "names", &cur, &n, &l)) != 0)
        goto out;
    for (uint32_t i = 0; i < n; i++) {
        const char *s;
        uint32_t sl;
        if (proto_cur_str(&cur, &s, &sl) != 0) {
            r = SKR_EPROTOCOL;
            goto out;
        }
        if ((r = list_add(l, s, sl, 0)) != 0)
            goto out;
    }
    *out = l;
    l = NULL;
out:
    skr_list_free(l);
    return r;
}

int skr_get_hub(skr_client *c, skr_list **out)
{
    proto_request req;
    proto_response resp;
    proto_cur cur;
    skr_list *l = NULL;
    uint32_t n;
    int r;

    if (out == NULL)
        return SKR_EINVAL;
    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_GETHUB;
    if ((r = call(c, &req, &resp)) != 0)
        return r;
    if ((r = result_list(&resp, "protocols", &cur, &n, &l)) != 0)
        goto out;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t m;
        const char *name = NULL;
        uint32_t name_len = 0;
        uint64_t count = 0;
        bool have_count = false;
        r = SKR_EPROTOCOL;
        if (proto_cur_map(&cur, &m) != 0)
            goto out;
        for (uint32_t j = 0; j < m; j++) {
            const char *k;
            uint32_t kl;
            if (proto_cur_str(&cur, &k, &kl) != 0)
                goto out;
            if (kl == 4 && memcmp(k, "name", 4) == 0) {
                if (proto_cur_str(&cur, &name, &name_len) != 0)
                    goto out;
            } else if (kl == 5 && memcmp(k, "count", 5) == 0) {
                if (proto_cur_uint(&cur, &count) != 0)
                    goto out;
                have_count = true;
            } else if (proto_cur_skip(&cur, NULL, NULL) != 0) {
                goto out;
            }
        }
        if (name == NULL || !have_count)
            goto out;
        if ((r = list_add(l, name, name_len, count)) != 0)
            goto out;
    }
    r = 0;
    *out = l;
    l = NULL;
out:
    skr_list_free(l);
    return r;
}

/* ----------------------------------------------------------------- writes ---- */

static int write_req(proto_request *req, proto_op op, const char *protocol, const char *name,
                     const void *body, size_t body_len)
{
    int r;
    memset(req, 0, sizeof(*req));
    req->op = op;
    if ((r = set_str(req->protocol, &req->protocol_len, PROTO_MAX_PROTOCOL, protocol)) != 0)
        return r;
    if ((r = set_str(req->name, &req->name_len, PROTO_MAX_NAME, name)) != 0)
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
    return call(c, &req, resp);
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
    if (r == 0 && (r = result_bool(&resp, "created", &v)) == 0 && was_created != NULL)
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
        r = call(c, &req, &resp);
    if (r == 0 && (r = result_bool(&resp, "deleted", &v)) == 0 && deleted != NULL)
        *deleted = v;
    return r;
}

/* ----------------------------------------------------------- passphrases ---- */

static int pass_span(proto_span *sp, const char *p, size_t n)
{
    if (p == NULL || n == 0 || n > PROTO_MAX_PASSPHRASE)
        return SKR_EINVAL;
    sp->ptr = (const uint8_t *)p;
    sp->len = (uint32_t)n;
    return 0;
}

static int pass_call(skr_client *c, proto_request *req)
{
    proto_response resp;
    int r = call(c, req, &resp);
    sodium_memzero(req, sizeof(*req));
    return r;
}

int skr_init(skr_client *c, const char *pass, size_t len)
{
    proto_request req;
    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_INIT;
    req.fields = PROTO_F_PASSPHRASE;
    int r = pass_span(&req.passphrase, pass, len);
    return r != 0 ? r : pass_call(c, &req);
}

int skr_unlock(skr_client *c, const char *pass, size_t len)
{
    proto_request req;
    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_UNLOCK;
    req.fields = PROTO_F_PASSPHRASE;
    int r = pass_span(&req.passphrase, pass, len);
    return r != 0 ? r : pass_call(c, &req);
}

static int passwd_call(skr_client *c, const char *old_pass, size_t old_len,
                       const char *new_pass, size_t new_len, bool rotate)
{
    proto_request req;
    int r;
    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_PASSWD;
    req.fields = PROTO_F_OLD | PROTO_F_NEW | (rotate ? PROTO_F_ROTATE : 0);
    req.rotate = rotate;
    if ((r = pass_span(&req.old_pass, old_pass, old_len)) != 0 ||
        (r = pass_span(&req.new_pass, new_pass, new_len)) != 0)
        return r;
    return pass_call(c, &req);
}

int skr_passwd(skr_client *c, const char *old_pass, size_t old_len, const char *new_pass,
               size_t new_len)
{
    return passwd_call(c, old_pass, old_len, new_pass, new_len, false);
}

int skr_passwd_rotate(skr_client *c, const char *old_pass, size_t old_len,
                      const char *new_pass, size_t new_len)
{
    return passwd_call(c, old_pass, old_len, new_pass, new_len, true);
}

int skr_lock(skr_client *c)
{
    return call_simple(c, PROTO_OP_LOCK);
}

int skr_rotate(skr_client *c, uint64_t *records)
{
    proto_request req;
    proto_response resp;
    proto_cur cur;
    uint64_t v;
    int r;
    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_ROTATE;
    if ((r = call(c, &req, &resp)) != 0)
        return r;
    if ((r = result_key(&resp, "records", &cur)) != 0)
        return r;
    if (proto_cur_uint(&cur, &v) != 0)
        return SKR_EPROTOCOL;
    if (records != NULL)
        *records = v;
    return 0;
}

/* --------------------------------------------------------------- raw call ---- */

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

/* --------------------------------------------------------------- utilities ---- */

void skr_string_free(char *s)
{
    if (s == NULL)
        return;
    sodium_memzero(s, strlen(s));
    free(s);
}

void skr_buffer_free(void *p, size_t len)
{
    if (p == NULL)
        return;
    sodium_memzero(p, len);
    free(p);
}

const char *skr_version(void)
{
    return SKR_VERSION_STRING;
}
