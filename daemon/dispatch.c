/* Serving one decoded request: state gate, access policy, the op, its reply. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "response.h"
#include "server.h"
#include "skr_config.h"

void reply_error_ex(session *s, uint32_t id, int code, const char *message,
                    const proto_error_extra *extra)
{
    /* Out of memory: the connection cannot be answered in order any more; close it. */
    if (proto_response_error_ex(&s->out, id, code, message, extra) != 0)
        s->close_after_flush = true;
}

void reply_error(session *s, uint32_t id, int code, const char *message)
{
    reply_error_ex(s, id, code, message, NULL);
}

/* The audit line's worst case (every name byte escaped; the fixed words take under 100
 * characters) must fit a log line whole. */
_Static_assert(128 + LOG_QUOTED_SIZE(PROTO_MAX_PROTOCOL) + LOG_QUOTED_SIZE(PROTO_MAX_NAME)
               <= LOG_LINE_MAX, "an audit line could be cut");

/* pid, uid, op and result are the daemon's own words and stay bare; protocol and name
 * come from the peer and are quoted (log_quote), or a bare `-` when absent. */
void audit(const session *s, const proto_request *req, int code)
{
    if (!log_enabled(LOG_INFO))
        return;
    char protocol[LOG_QUOTED_SIZE(PROTO_MAX_PROTOCOL)] = "-";
    char name[LOG_QUOTED_SIZE(PROTO_MAX_NAME)] = "-";
    if (req->protocol_len > 0)
        log_quote(protocol, sizeof(protocol), req->protocol, req->protocol_len);
    if (req->name_len > 0)
        log_quote(name, sizeof(name), req->name, req->name_len);
    const char *op = proto_op_name(req->op);
    log_msg(LOG_INFO, "pid=%d uid=%u op=%s protocol=%s name=%s result=%s",
            (int)s->pid, (unsigned)s->uid, op ? op : "-", protocol, name,
            code == 0 ? "ok" : skr_error_name(code));
}

/* ---- ok replies ---- */

typedef struct reply {
    session *s;
    msgpack_packer pk;
    size_t mark;
} reply;

static int reply_begin(reply *r, session *s, uint32_t id)
{
    r->s = s;
    return proto_response_begin_ok(&s->out, &r->pk, id, &r->mark);
}

/* A reply found beyond max_frame as it was sealed is replaced by a too_large error. */
static int reply_sealed(session *s, uint32_t id, int rc)
{
    if (rc == SKR_ETOO_LARGE)
        reply_error(s, id, rc, "reply exceeds max_frame");
    return rc;
}

/* Seals the frame. */
static int reply_end(reply *r, uint32_t id)
{
    return reply_sealed(r->s, id, proto_frame_end(&r->s->out, r->mark, r->s->srv->cfg->max_frame));
}

/* Drops a half-packed reply (the store failed after packing began). */
static void reply_abort(reply *r)
{
    proto_buf *out = &r->s->out;
    sodium_memzero(out->data + r->mark, out->len - r->mark);
    out->len = r->mark;
}

/* A literal key and its string value. */
#define pack_kv_str(pk, k, v, n) \
    do {                         \
        PROTO_PACK_LIT(pk, k);   \
        proto_pack_str(pk, v, n); \
    } while (0)

static int ok_empty(session *s, uint32_t id)
{
    if (proto_response_ok_empty(&s->out, id) != 0)
        return SKR_ENOMEM;
    return 0;
}

/* ---- the ops ---- */

static int op_ping(session *s, const proto_request *req)
{
    reply r;
    if (reply_begin(&r, s, req->id) != 0)
        return SKR_ENOMEM;
    PROTO_PACK_LIT(&r.pk, "pong");
    return reply_end(&r, req->id);
}

typedef struct hub_item {
    char name[PROTO_MAX_PROTOCOL + 1];
    uint64_t count;
} hub_item;

/* getHub: protocols are gathered first, so that a grant can filter them and the array
 * length is known before packing. */
typedef struct hub_list {
    const policy_grant *grant; /* filter, or NULL for the owner */
    hub_item *items;
    size_t n, cap;
} hub_list;

static int hub_begin(void *ctx, uint64_t count)
{
    hub_list *h = ctx;
    size_t cap = h->grant != NULL && h->grant->nprotocols < count ? h->grant->nprotocols : (size_t)count;
    if (cap == 0)
        return 0;
    h->items = calloc(cap, sizeof(*h->items));
    if (h->items == NULL)
        return SKR_ENOMEM;
    h->cap = cap;
    return 0;
}

static int hub_item_add(void *ctx, const char *str, size_t len, uint64_t count)
{
    hub_list *h = ctx;
    if (len > PROTO_MAX_PROTOCOL || h->n == h->cap)
        return h->n == h->cap && h->grant == NULL ? SKR_EINTERNAL : 0;
    hub_item *it = &h->items[h->n];
    memcpy(it->name, str, len);
    it->name[len] = '\0';
    if (h->grant != NULL && !policy_allows_protocol(h->grant, it->name))
        return 0;
    it->count = count;
    h->n++;
    return 0;
}

/* Gathers the protocols the session may see (all for the owner). Free with hub_list_free. */
static int hub_collect(session *s, hub_list *h)
{
    *h = (hub_list){ .grant = s->grant };
    store_lister l = { hub_begin, hub_item_add, h };
    return store_get_hub(s->srv->hub, &l);
}

static void hub_list_free(hub_list *h)
{
    if (h->items != NULL)
        sodium_memzero(h->items, h->cap * sizeof(*h->items));
    free(h->items);
}

/* status counts for a peer under a grant: its protocols only, so that the size of the
 * rest of the hub stays hidden. Protocol names are sealed in the hub, so while it is
 * locked nothing can be matched against the grant and both counts are 0. */
static int granted_counts(session *s, uint64_t *protocols, uint64_t *credentials)
{
    *protocols = *credentials = 0;
    if (!store_is_unlocked(s->srv->hub))
        return 0;
    hub_list h;
    int rc = hub_collect(s, &h);
    if (rc == 0) {
        *protocols = h.n;
        for (size_t i = 0; i < h.n; i++)
            *credentials += h.items[i].count;
    }
    hub_list_free(&h);
    return rc;
}

/* status for the owner only: where the hub and socket are and how the hub is sealed and
 * keyed. A peer under a grant learns no paths and nothing hub-wide. */
static size_t status_owner_keys(session *s, store_kdf *kdf, bool *have_kdf)
{
    *have_kdf = s->grant == NULL && store_is_initialized(s->srv->hub) &&
                store_get_kdf(s->srv->hub, kdf) == 0;
    return s->grant != NULL ? 0 : *have_kdf ? 4 : 2;
}

static void pack_status_owner(session *s, msgpack_packer *pk, const store_kdf *kdf, bool have_kdf)
{
    if (s->grant != NULL)
        return;
    PROTO_PACK_LIT(pk, "hub");
    proto_pack_cstr(pk, s->srv->cfg->hub_dir);
    PROTO_PACK_LIT(pk, "socket");
    proto_pack_cstr(pk, s->srv->socket_name);
    if (!have_kdf)
        return;
    PROTO_PACK_LIT(pk, "suite");
    proto_pack_cstr(pk, store_suite_name(s->srv->hub));
    PROTO_PACK_LIT(pk, "kdf");
    if (kdf->kind == STORE_KDF_KEYFILE) {
        msgpack_pack_map(pk, 1);
        pack_kv_str(pk, "kind", "keyfile", 7);
        return;
    }
    msgpack_pack_map(pk, 3);
    pack_kv_str(pk, "kind", "argon2id", 8);
    PROTO_PACK_LIT(pk, "opslimit");
    msgpack_pack_uint64(pk, kdf->opslimit);
    PROTO_PACK_LIT(pk, "memlimit");
    msgpack_pack_uint64(pk, kdf->memlimit);
}

static int op_status(session *s, const proto_request *req)
{
    server *srv = s->srv;
    uint64_t protocols = 0, credentials = 0;
    if (s->grant != NULL) {
        int rc = granted_counts(s, &protocols, &credentials);
        if (rc != 0)
            return rc;
    } else if (store_is_initialized(srv->hub)) {
        store_stats(srv->hub, &protocols, &credentials);
    }
    store_kdf kdf;
    bool have_kdf;
    size_t owner_keys = status_owner_keys(s, &kdf, &have_kdf);
    reply r;
    if (reply_begin(&r, s, req->id) != 0)
        return SKR_ENOMEM;
    msgpack_pack_map(&r.pk, 7 + owner_keys);
    PROTO_PACK_LIT(&r.pk, "initialized");
    if (store_is_initialized(srv->hub))
        msgpack_pack_true(&r.pk);
    else
        msgpack_pack_false(&r.pk);
    PROTO_PACK_LIT(&r.pk, "locked");
    if (store_is_unlocked(srv->hub))
        msgpack_pack_false(&r.pk);
    else
        msgpack_pack_true(&r.pk);
    PROTO_PACK_LIT(&r.pk, "version");
    proto_pack_cstr(&r.pk, SKR_VERSION);
    PROTO_PACK_LIT(&r.pk, "protocols");
    msgpack_pack_uint64(&r.pk, protocols);
    PROTO_PACK_LIT(&r.pk, "credentials");
    msgpack_pack_uint64(&r.pk, credentials);
    PROTO_PACK_LIT(&r.pk, "uptime_s");
    msgpack_pack_uint64(&r.pk, (uv_now(srv->loop) - srv->started_ms) / 1000);
    PROTO_PACK_LIT(&r.pk, "idle_lock_s");
    msgpack_pack_uint32(&r.pk, srv->cfg->idle_lock_s);
    pack_status_owner(s, &r.pk, &kdf, have_kdf);
    return reply_end(&r, req->id);
}

/* The answer to every get: written whole with one reserve (proto_response_ok_record),
 * not packed a field at a time. */
static int pack_record(session *s, uint32_t id, const store_record *rec)
{
    const proto_record r = {
        rec->protocol, rec->protocol_len, rec->name, rec->name_len,
        rec->body, rec->body_len, rec->created, rec->modified,
    };
    return reply_sealed(s, id, proto_response_ok_record(&s->out, id, &r, s->srv->cfg->max_frame));
}

/* get without a protocol for a peer under a grant: search its protocols only, so that
 * nothing outside the grant can be found or even shown to exist. */
static int get_granted(session *s, const proto_request *req, store_record *out)
{
    const policy_grant *g = s->grant;
    size_t hit = 0;
    int found = 0;
    for (size_t i = 0; i < g->nprotocols; i++) {
        store_record rec;
        int rc = store_get(s->srv->hub, g->protocols[i], req->name, &rec);
        store_release(s->srv->hub);
        if (rc == SKR_ENOT_FOUND)
            continue;
        if (rc != 0)
            return rc;
        if (++found > 1)
            return SKR_EAMBIGUOUS;
        hit = i;
    }
    if (found == 0)
        return SKR_ENOT_FOUND;
    return store_get(s->srv->hub, g->protocols[hit], req->name, out);
}

static int op_get(session *s, const proto_request *req)
{
    store_record rec;
    int rc;
    if (s->grant != NULL && !(req->fields & PROTO_F_PROTOCOL))
        rc = get_granted(s, req, &rec);
    else
        rc = store_get(s->srv->hub, req->fields & PROTO_F_PROTOCOL ? req->protocol : NULL,
                       req->name, &rec);
    if (rc == 0)
        rc = pack_record(s, req->id, &rec);
    store_release(s->srv->hub);
    return rc;
}

static int list_begin(void *ctx, uint64_t count)
{
    reply *r = ctx;
    msgpack_pack_array(&r->pk, (size_t)count);
    return 0;
}

static int list_name(void *ctx, const char *str, size_t len, uint64_t count)
{
    reply *r = ctx;
    (void)count;
    proto_pack_str(&r->pk, str, len);
    return 0;
}

static int op_getdb(session *s, const proto_request *req)
{
    reply r;
    if (reply_begin(&r, s, req->id) != 0)
        return SKR_ENOMEM;
    msgpack_pack_map(&r.pk, 2);
    pack_kv_str(&r.pk, "protocol", req->protocol, req->protocol_len);
    PROTO_PACK_LIT(&r.pk, "names");
    store_lister l = { list_begin, list_name, &r };
    int rc = store_get_db(s->srv->hub, req->protocol, &l);
    if (rc != 0) {
        reply_abort(&r);
        return rc;
    }
    return reply_end(&r, req->id);
}

static int op_gethub(session *s, const proto_request *req)
{
    hub_list h;
    int rc = hub_collect(s, &h);
    if (rc == 0) {
        reply r;
        rc = reply_begin(&r, s, req->id);
        if (rc == 0) {
            msgpack_pack_map(&r.pk, 1);
            PROTO_PACK_LIT(&r.pk, "protocols");
            msgpack_pack_array(&r.pk, h.n);
            for (size_t i = 0; i < h.n; i++) {
                msgpack_pack_map(&r.pk, 2);
                pack_kv_str(&r.pk, "name", h.items[i].name, strlen(h.items[i].name));
                PROTO_PACK_LIT(&r.pk, "count");
                msgpack_pack_uint64(&r.pk, h.items[i].count);
            }
            rc = reply_end(&r, req->id);
        }
    }
    hub_list_free(&h);
    return rc;
}

/* A one-key map result: {key: true|false}. */
static int reply_bool(session *s, uint32_t id, const char *key, size_t key_len, bool value)
{
    reply r;
    if (reply_begin(&r, s, id) != 0)
        return SKR_ENOMEM;
    msgpack_pack_map(&r.pk, 1);
    proto_pack_str(&r.pk, key, key_len);
    if (value)
        msgpack_pack_true(&r.pk);
    else
        msgpack_pack_false(&r.pk);
    return reply_end(&r, id);
}

static int op_post_put(session *s, const proto_request *req)
{
    bool created = true;
    /* The record's times when given (import keeps the dates of its file), else now. */
    int64_t tc = req->fields & PROTO_F_CREATED ? req->created : STORE_TIME_NOW;
    int64_t tm = req->fields & PROTO_F_MODIFIED ? req->modified : STORE_TIME_NOW;
    int rc = req->op == PROTO_OP_POST
        ? store_post_at(s->srv->hub, req->protocol, req->name, req->body.ptr, req->body.len, tc, tm)
        : store_put_at(s->srv->hub, req->protocol, req->name, req->body.ptr, req->body.len,
                       &created, tc, tm);
    return rc != 0 ? rc : reply_bool(s, req->id, "created", 7, created);
}

static int op_delete(session *s, const proto_request *req)
{
    bool deleted;
    int rc = store_delete(s->srv->hub, req->protocol, req->name, &deleted);
    return rc != 0 ? rc : reply_bool(s, req->id, "deleted", 7, deleted);
}

static int op_lock(session *s, const proto_request *req)
{
    server_lock(s->srv);
    log_info("hub locked by pid=%d uid=%u", (int)s->pid, (unsigned)s->uid);
    return ok_empty(s, req->id);
}

static int op_rotate(session *s, const proto_request *req)
{
    uint64_t records;
    int rc = store_rotate(s->srv->hub, &records);
    if (rc != 0)
        return rc;
    reply r;
    if (reply_begin(&r, s, req->id) != 0)
        return SKR_ENOMEM;
    msgpack_pack_map(&r.pk, 1);
    PROTO_PACK_LIT(&r.pk, "records");
    msgpack_pack_uint64(&r.pk, records);
    return reply_end(&r, req->id);
}

/* ---- error answers ---- */

/* `ambiguous`: names the protocols that hold the name, among those the peer may see
 * (hub_collect filters by its grant), so a granted peer learns of nothing outside it. */
static void reply_ambiguous(session *s, const proto_request *req)
{
    const char *held[PROTO_MAX_AMBIGUOUS];
    proto_error_extra extra = { .protocols = held };
    char why[PROTO_MAX_MESSAGE + 1];
    hub_list h;
    size_t at = (size_t)snprintf(why, sizeof(why), "%s:", skr_strerror(SKR_EAMBIGUOUS));
    if (hub_collect(s, &h) == 0) {
        for (size_t i = 0; i < h.n && extra.nprotocols < PROTO_MAX_AMBIGUOUS; i++) {
            store_record rec;
            int rc = store_get(s->srv->hub, h.items[i].name, req->name, &rec);
            store_release(s->srv->hub);
            if (rc != 0)
                continue;
            held[extra.nprotocols++] = h.items[i].name;
            if (at < sizeof(why))
                at += (size_t)snprintf(why + at, sizeof(why) - at, " %s", h.items[i].name);
        }
    }
    if (at < sizeof(why))
        snprintf(why + at, sizeof(why) - at, "; give the protocol");
    reply_error_ex(s, req->id, SKR_EAMBIGUOUS, extra.nprotocols > 0 ? why : NULL, &extra);
    hub_list_free(&h);
}

/* The error answer to a request that failed with rc (not too_large: answered already). */
static void reply_failure(session *s, const proto_request *req, int rc)
{
    server *srv = s->srv;
    if (rc == SKR_ENOMEM) {
        reply_error(s, req->id, SKR_EINTERNAL, "out of memory");
    } else if (rc == SKR_ERATE_LIMITED) {
        char why[96];
        proto_error_extra extra = { .has_retry_after = true };
        const char *msg = unlock_limit_message(srv, why, sizeof(why), &extra.retry_after);
        reply_error_ex(s, req->id, rc, msg, &extra);
    } else if (rc == SKR_EAMBIGUOUS) {
        reply_ambiguous(s, req);
    } else if (rc == SKR_ELOCKED && !store_is_initialized(srv->hub)) {
        reply_error(s, req->id, rc, "hub is not initialised: create it with 'sekrets-cli init'");
    } else {
        reply_error(s, req->id, rc, rc == SKR_EINTERNAL || rc == SKR_EINTEGRITY
                                      ? store_errmsg(srv->hub) : NULL);
    }
}

/* Which ops a hub state serves (PROTOCOL.md): anything else gets `locked`. */
static bool state_allows(const server *srv, proto_op op)
{
    if (op == PROTO_OP_PING || op == PROTO_OP_STATUS)
        return true;
    if (!store_is_initialized(srv->hub))
        return op == PROTO_OP_INIT;
    if (!store_is_unlocked(srv->hub))
        return op == PROTO_OP_UNLOCK || op == PROTO_OP_INIT;
    return true;
}

/* What a peer under a grant may do: its read ops, on its protocols. */
static bool grant_allows(const policy_grant *g, const proto_request *req)
{
    if (!policy_allows_op(g, req->op))
        return false;
    if ((req->fields & PROTO_F_PROTOCOL) && !policy_allows_protocol(g, req->protocol))
        return false;
    return true;
}

typedef int (*op_fn)(session *s, const proto_request *req);

static const op_fn ops[PROTO_OP_COUNT] = {
    [PROTO_OP_PING] = op_ping,       [PROTO_OP_STATUS] = op_status,
    [PROTO_OP_GET] = op_get,         [PROTO_OP_GETDB] = op_getdb,
    [PROTO_OP_GETHUB] = op_gethub,   [PROTO_OP_POST] = op_post_put,
    [PROTO_OP_PUT] = op_post_put,    [PROTO_OP_DELETE] = op_delete,
    [PROTO_OP_LOCK] = op_lock,       [PROTO_OP_ROTATE] = op_rotate,
    [PROTO_OP_INIT] = unlock_submit, [PROTO_OP_UNLOCK] = unlock_submit,
    [PROTO_OP_PASSWD] = unlock_submit,
};

static bool is_write(proto_op op)
{
    return op == PROTO_OP_POST || op == PROTO_OP_PUT || op == PROTO_OP_DELETE;
}

/* Runs the op, inside the group-commit batch for writes. Ops that change keys or rewrite
 * the hub commit the open batch first: they run in transactions of their own. */
static int run_op(session *s, const proto_request *req)
{
    server *srv = s->srv;
    int rc;
    if (is_write(req->op)) {
        if ((rc = server_batch_open(srv)) != 0)
            return rc;
    } else if (req->op == PROTO_OP_LOCK || req->op == PROTO_OP_ROTATE ||
               req->op == PROTO_OP_INIT || req->op == PROTO_OP_UNLOCK ||
               req->op == PROTO_OP_PASSWD) {
        server_batch_commit(srv);
    }
    return ops[req->op](s, req);
}

/* What keeps the hub from its idle lock: a request of the owner that passed the gate,
 * other than ping and status (a prompt or monitor polling status must not keep it open).
 * Nothing a peer under a grant does counts, allowed or not; neither does a denied, locked
 * out or malformed request (the last never reaches dispatch). */
static bool is_activity(const session *s, const proto_request *req)
{
    return s->grant == NULL && req->op != PROTO_OP_PING && req->op != PROTO_OP_STATUS;
}

int dispatch(session *s, const proto_request *req)
{
    server *srv = s->srv;
    size_t mark = s->out.len;
    int rc;
    if (s->grant != NULL && !grant_allows(s->grant, req)) {
        rc = SKR_EDENIED;
    } else if (req->op == PROTO_OP_INIT && store_is_initialized(srv->hub)) {
        rc = SKR_EEXISTS;
    } else if (!state_allows(srv, req->op)) {
        rc = SKR_ELOCKED;
    } else {
        if (is_activity(s, req))
            srv->last_request_ms = uv_now(srv->loop);
        rc = run_op(s, req);
        if (rc == 1)
            return 1; /* on the thread pool: unlock.c answers and audits */
        if (rc == STORE_ECHECKPOINT) {
            /* Needs LMDB while the checkpoint commits: nothing was done; the session
             * serves this frame again when it ends (replies stay in order). */
            if (s->out.len > mark) {
                sodium_memzero(s->out.data + mark, s->out.len - mark);
                s->out.len = mark;
            }
            s->parked = true;
            return DISPATCH_PARKED;
        }
    }
    audit(s, req, rc);
    if (rc != 0 && rc != SKR_ETOO_LARGE) /* too_large was answered by reply_end already */
        reply_failure(s, req, rc);
    /* While a batch is open, every reply waits for its commit: a write's, and a read's,
     * which sees the batch's writes (no client learns of a write that may yet be lost). */
    if ((s->in_batch || srv->batch_open) && session_hold(s, req->id, mark) != 0)
        s->close_after_flush = true;
    return 0;
}
