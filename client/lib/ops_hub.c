/*
 * client/lib/ops_hub.c - the hub and its keys: ping, status, init, unlock, lock, passwd and
 * rotate. Passphrases sit only in the request, wiped once it is sent.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int skr_ping(skr_client *c)
{
    proto_request req;
    proto_response resp;
    const char *s;
    uint32_t n;
    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_PING;
    int r = call_request(c, &req, &resp);
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
    if ((r = call_request(c, &req, &resp)) != 0)
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
    int r = call_request(c, req, &resp);
    sodium_memzero(req, sizeof(*req));
    return r;
}

/* init or unlock: one passphrase. */
static int pass_op(skr_client *c, proto_op op, const char *pass, size_t len)
{
    proto_request req;
    int r;

    memset(&req, 0, sizeof(req));
    req.op = op;
    req.fields = PROTO_F_PASSPHRASE;
    if ((r = pass_span(&req.passphrase, pass, len)) != 0)
        return r;
    return pass_call(c, &req);
}

int skr_init(skr_client *c, const char *pass, size_t len)
{
    return pass_op(c, PROTO_OP_INIT, pass, len);
}

int skr_unlock(skr_client *c, const char *pass, size_t len)
{
    return pass_op(c, PROTO_OP_UNLOCK, pass, len);
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
    return call_op(c, PROTO_OP_LOCK);
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
    if ((r = call_request(c, &req, &resp)) != 0)
        return r;
    if ((r = call_result_key(&resp, "records", &cur)) != 0)
        return r;
    if (proto_cur_uint(&cur, &v) != 0)
        return SKR_EPROTOCOL;
    if (records != NULL)
        *records = v;
    return 0;
}