/* Serving one decoded request: state gate, access policy, the op, its reply. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "frame.h"
#include "log.h"
#include "sekrets/error.h"
#include "skr_config.h"

/* Appends an error reply, with the optional keys of PROTOCOL.md "Error details". */
static void reply_error_ex(dispatch_ctx *c, uint32_t id, int code, const char *message,
                           const proto_error_extra *extra)
{
    /* Out of memory: the connection cannot be answered in order any more; close it. */
    if (proto_response_error_ex(c->out, id, code, message, extra) != 0)
        c->close_after_flush = true;
}

static void reply_error(dispatch_ctx *c, uint32_t id, int code, const char *message)
{
    reply_error_ex(c, id, code, message, NULL);
}

/* The audit line's worst case (every name byte escaped; the fixed words take under 100
 * characters) must fit a log line whole. */
_Static_assert(128 + LOG_QUOTED_SIZE(PROTO_MAX_PROTOCOL) + LOG_QUOTED_SIZE(PROTO_MAX_NAME)
               <= LOG_LINE_MAX, "an audit line could be cut");

/* pid, uid, op and result are the daemon's own words and stay bare; protocol and name
 * come from the peer and are quoted (log_quote), or a bare `-` when absent. */
void dispatch_audit(pid_t pid, uid_t uid, const proto_request *req, int code)
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
            (int)pid, (unsigned)uid, op ? op : "-", protocol, name,
            code == 0 ? "ok" : skr_error_name(code));
}

/* ---- ok replies ---- */

typedef struct reply {
    dispatch_ctx *c;
    msgpack_packer pk;
    size_t mark;
} reply;

static int reply_begin(reply *r, dispatch_ctx *c, uint32_t id)
{
    r->c = c;
    return proto_response_begin_ok(c->out, &r->pk, id, &r->mark);
}

/* A reply found beyond max_frame as it was sealed is replaced by a too_large error. */
static int reply_sealed(dispatch_ctx *c, uint32_t id, int rc)
{
    if (rc == SKR_ETOO_LARGE)
        reply_error(c, id, rc, "reply exceeds max_frame");
    return rc;
}

/* Seals the frame. */
static int reply_end(reply *r, uint32_t id)
{
    return reply_sealed(r->c, id, proto_frame_end(r->c->out, r->mark, r->c->cfg->max_frame));
}

/* Drops a half-packed reply (the store failed after packing began). */
static void reply_abort(reply *r)
{
    proto_buf *out = r->c->out;
    sodium_memzero(out->data + r->mark, out->len - r->mark);
    out->len = r->mark;
}

/* A literal key and its string value. */
#define pack_kv_str(pk, k, v, n) \
    do {                         \
        PROTO_PACK_LIT(pk, k);   \
        proto_pack_str(pk, v, n); \
    } while (0)

static int ok_empty(dispatch_ctx *c, uint32_t id)
{
    if (proto_response_ok_empty(c->out, id) != 0)
        return SKR_ENOMEM;
    return 0;
}

/* ---- the ops ---- */

static int op_ping(dispatch_ctx *c, const proto_request *req)
{
    reply r;
    if (reply_begin(&r, c, req->id) != 0)
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

/* Gathers the protocols the peer may see (all for the owner). Free with hub_list_free. */
static int hub_collect(dispatch_ctx *c, hub_list *h)
{
    *h = (hub_list){ .grant = c->grant };
    store_lister l = { hub_begin, hub_item_add, h };
    return store_get_hub(c->hub, &l);
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
static int granted_counts(dispatch_ctx *c, uint64_t *protocols, uint64_t *credentials)
{
    *protocols = *credentials = 0;
    if (!store_is_unlocked(c->hub))
        return 0;
    hub_list h;
    int rc = hub_collect(c, &h);
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
static size_t status_owner_keys(dispatch_ctx *c, store_kdf *kdf, bool *have_kdf)
{
    *have_kdf = c->grant == NULL && store_is_initialized(c->hub) &&
                store_get_kdf(c->hub, kdf) == 0;
    return c->grant != NULL ? 0 : *have_kdf ? 4 : 2;
}

static void pack_status_owner(dispatch_ctx *c, msgpack_packer *pk, const store_kdf *kdf, bool have_kdf)
{
    if (c->grant != NULL)
        return;
    PROTO_PACK_LIT(pk, "hub");
    proto_pack_cstr(pk, c->cfg->hub_dir);
    PROTO_PACK_LIT(pk, "socket");
    proto_pack_cstr(pk, c->socket_name);
    if (!have_kdf)
        return;
    PROTO_PACK_LIT(pk, "suite");
    proto_pack_cstr(pk, store_suite_name(c->hub));
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

static int op_status(dispatch_ctx *c, const proto_request *req)
{
    uint64_t protocols = 0, credentials = 0;
    if (c->grant != NULL) {
        int rc = granted_counts(c, &protocols, &credentials);
        if (rc != 0)
            return rc;
    } else if (store_is_initialized(c->hub)) {
        store_stats(c->hub, &protocols, &credentials);
    }
    store_kdf kdf;
    bool have_kdf;
    size_t owner_keys = status_owner_keys(c, &kdf, &have_kdf);
    reply r;
    if (reply_begin(&r, c, req->id) != 0)
        return SKR_ENOMEM;
    msgpack_pack_map(&r.pk, 7 + owner_keys);
    PROTO_PACK_LIT(&r.pk, "initialized");
    if (store_is_initialized(c->hub))
        msgpack_pack_true(&r.pk);
    else
        msgpack_pack_false(&r.pk);
    PROTO_PACK_LIT(&r.pk, "locked");
    if (store_is_unlocked(c->hub))
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
    msgpack_pack_uint64(&r.pk, (c->now_ms - c->started_ms) / 1000);
    PROTO_PACK_LIT(&r.pk, "idle_lock_s");
    msgpack_pack_uint32(&r.pk, c->cfg->idle_lock_s);
    pack_status_owner(c, &r.pk, &kdf, have_kdf);
    return reply_end(&r, req->id);
}

/* The answer to every get: written whole with one reserve (proto_response_ok_record),
 * not packed a field at a time. */
static int pack_record(dispatch_ctx *c, uint32_t id, const store_record *rec)
{
    const proto_record r = {
        rec->protocol, rec->protocol_len, rec->name, rec->name_len,
        rec->body, rec->body_len, rec->created, rec->modified,
    };
    return reply_sealed(c, id, proto_response_ok_record(c->out, id, &r, c->cfg->max_frame));
}

/* get without a protocol for a peer under a grant: search its protocols only, so that
 * nothing outside the grant can be found or even shown to exist. */
static int get_granted(dispatch_ctx *c, const proto_request *req, store_record *out)
{
    const policy_grant *g = c->grant;
    size_t hit = 0;
    int found = 0;
    for (size_t i = 0; i < g->nprotocols; i++) {
        store_record rec;
        int rc = store_get(c->hub, g->protocols[i], req->name, &rec);
        store_release(c->hub);
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
    return store_get(c->hub, g->protocols[hit], req->name, out);
}

void dispatch_ahead(dispatch_ctx *c, const proto_request *req)
{
    if (req->op == PROTO_OP_GET && (req->fields & PROTO_F_PROTOCOL))
        store_get_ahead(c->hub, req->protocol, req->name);
}

static int op_get(dispatch_ctx *c, const proto_request *req)
{
    store_record rec;
    int rc;
    if (c->grant != NULL && !(req->fields & PROTO_F_PROTOCOL))
        rc = get_granted(c, req, &rec);
    else
        rc = store_get(c->hub, req->fields & PROTO_F_PROTOCOL ? req->protocol : NULL,
                       req->name, &rec);
    if (rc == 0)
        rc = pack_record(c, req->id, &rec);
    store_release(c->hub);
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

static int op_getdb(dispatch_ctx *c, const proto_request *req)
{
    reply r;
    if (reply_begin(&r, c, req->id) != 0)
        return SKR_ENOMEM;
    msgpack_pack_map(&r.pk, 2);
    pack_kv_str(&r.pk, "protocol", req->protocol, req->protocol_len);
    PROTO_PACK_LIT(&r.pk, "names");
    store_lister l = { list_begin, list_name, &r };
    int rc = store_get_db(c->hub, req->protocol, &l);
    if (rc != 0) {
        reply_abort(&r);
        return rc;
    }
    return reply_end(&r, req->id);
}

static int op_gethub(dispatch_ctx *c, const proto_request *req)
{
    hub_list h;
    int rc = hub_collect(c, &h);
    if (rc == 0) {
        reply r;
        rc = reply_begin(&r, c, req->id);
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
static int reply_bool(dispatch_ctx *c, uint32_t id, const char *key, size_t key_len, bool value)
{
    reply r;
    if (reply_begin(&r, c, id) != 0)
        return SKR_ENOMEM;
    msgpack_pack_map(&r.pk, 1);
    proto_pack_str(&r.pk, key, key_len);
    if (value)
        msgpack_pack_true(&r.pk);
    else
        msgpack_pack_false(&r.pk);
    return reply_end(&r, id);
}

static int op_post_put(dispatch_ctx *c, const proto_request *req)
{
    bool created = true;
    /* The record's times when given (import keeps the dates of its file), else now. */
    int64_t tc = req->fields & PROTO_F_CREATED ? req->created : STORE_TIME_NOW;
    int64_t tm = req->fields & PROTO_F_MODIFIED ? req->modified : STORE_TIME_NOW;
    int rc = req->op == PROTO_OP_POST
        ? store_post_at(c->hub, req->protocol, req->name, req->body.ptr, req->body.len, tc, tm)
        : store_put_at(c->hub, req->protocol, req->name, req->body.ptr, req->body.len,
                       &created, tc, tm);
    return rc != 0 ? rc : reply_bool(c, req->id, "created", 7, created);
}

static int op_delete(dispatch_ctx *c, const proto_request *req)
{
    bool deleted;
    int rc = store_delete(c->hub, req->protocol, req->name, &deleted);
    return rc != 0 ? rc : reply_bool(c, req->id, "deleted", 7, deleted);
}

static int op_lock(dispatch_ctx *c, const proto_request *req)
{
    c->host->lock(c->host_arg);
    log_info("hub locked by pid=%d uid=%u", (int)c->pid, (unsigned)c->uid);
    return ok_empty(c, req->id);
}

static int op_rotate(dispatch_ctx *c, const proto_request *req)
{
    uint64_t records;
    int rc = store_rotate(c->hub, &records);
    if (rc != 0)
        return rc;
    reply r;
    if (reply_begin(&r, c, req->id) != 0)
        return SKR_ENOMEM;
    msgpack_pack_map(&r.pk, 1);
    PROTO_PACK_LIT(&r.pk, "records");
    msgpack_pack_uint64(&r.pk, records);
    return reply_end(&r, req->id);
}

/* init, unlock, passwd: the host derives the key (on its thread pool, in the daemon). */
static int op_derive(dispatch_ctx *c, const proto_request *req)
{
    return c->host->derive(c->host_arg, req);
}

/* ---- error answers ---- */

/* `ambiguous`: names the protocols that hold the name, among those the peer may see
 * (hub_collect filters by its grant), so a granted peer learns of nothing outside it. */
static void reply_ambiguous(dispatch_ctx *c, const proto_request *req)
{
    const char *held[PROTO_MAX_AMBIGUOUS];
    proto_error_extra extra = { .protocols = held };
    char why[PROTO_MAX_MESSAGE + 1];
    hub_list h;
    size_t at = (size_t)snprintf(why, sizeof(why), "%s:", skr_strerror(SKR_EAMBIGUOUS));
    if (hub_collect(c, &h) == 0) {
        for (size_t i = 0; i < h.n && extra.nprotocols < PROTO_MAX_AMBIGUOUS; i++) {
            store_record rec;
            int rc = store_get(c->hub, h.items[i].name, req->name, &rec);
            store_release(c->hub);
            if (rc != 0)
                continue;
            held[extra.nprotocols++] = h.items[i].name;
            if (at < sizeof(why))
                at += (size_t)snprintf(why + at, sizeof(why) - at, " %s", h.items[i].name);
        }
    }
    if (at < sizeof(why))
        snprintf(why + at, sizeof(why) - at, "; give the protocol");
    reply_error_ex(c, req->id, SKR_EAMBIGUOUS, extra.nprotocols > 0 ? why : NULL, &extra);
    hub_list_free(&h);
}

/* The error answer to a request that failed with rc (not too_large: answered already). */
static void reply_failure(dispatch_ctx *c, const proto_request *req, int rc)
{
    if (rc == SKR_ENOMEM) {
        reply_error(c, req->id, SKR_EINTERNAL, "out of memory");
    } else if (rc == SKR_ERATE_LIMITED) {
        char why[96];
        proto_error_extra extra = { .has_retry_after = true };
        const char *msg = c->host->limit_message(c->host_arg, why, sizeof(why), &extra.retry_after);
        reply_error_ex(c, req->id, rc, msg, &extra);
    } else if (rc == SKR_EAMBIGUOUS) {
        reply_ambiguous(c, req);
    } else if (rc == SKR_ELOCKED && !store_is_initialized(c->hub)) {
        reply_error(c, req->id, rc, "hub is not initialised: create it with 'sekrets-cli init'");
    } else {
        reply_error(c, req->id, rc, rc == SKR_EINTERNAL || rc == SKR_EINTEGRITY
                                      ? store_errmsg(c->hub) : NULL);
    }
}

/* Which ops a hub state serves (PROTOCOL.md): anything else gets `locked`. */
static bool state_allows(const store *hub, proto_op op)
{
    if (op == PROTO_OP_PING || op == PROTO_OP_STATUS)
        return true;
    if (!store_is_initialized(hub))
        return op == PROTO_OP_INIT;
    if (!store_is_unlocked(hub))
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

typedef int (*op_fn)(dispatch_ctx *c, const proto_request *req);

static const op_fn ops[PROTO_OP_COUNT] = {
    [PROTO_OP_PING] = op_ping,       [PROTO_OP_STATUS] = op_status,
    [PROTO_OP_GET] = op_get,         [PROTO_OP_GETDB] = op_getdb,
    [PROTO_OP_GETHUB] = op_gethub,   [PROTO_OP_POST] = op_post_put,
    [PROTO_OP_PUT] = op_post_put,    [PROTO_OP_DELETE] = op_delete,
    [PROTO_OP_LOCK] = op_lock,       [PROTO_OP_ROTATE] = op_rotate,
    [PROTO_OP_INIT] = op_derive,     [PROTO_OP_UNLOCK] = op_derive,
    [PROTO_OP_PASSWD] = op_derive,
};

static bool is_write(proto_op op)
{
    return op == PROTO_OP_POST || op == PROTO_OP_PUT || op == PROTO_OP_DELETE;
}

/* Runs the op, inside the group-commit batch for writes. Ops that change keys or rewrite
 * the hub commit the open batch first: they run in transactions of their own. */
static int run_op(dispatch_ctx *c, const proto_request *req)
{
    int rc;
    if (is_write(req->op)) {
        if ((rc = c->host->batch_open(c->host_arg)) != 0)
            return rc;
    } else if (req->op == PROTO_OP_LOCK || req->op == PROTO_OP_ROTATE ||
               req->op == PROTO_OP_INIT || req->op == PROTO_OP_UNLOCK ||
               req->op == PROTO_OP_PASSWD) {
        c->host->batch_commit(c->host_arg);
    }
    return ops[req->op](c, req);
}

/* What keeps the hub from its idle lock: a request of the owner that passed the gate,
 * other than ping and status (a prompt or monitor polling status must not keep it open).
 * Nothing a peer under a grant does counts, allowed or not; neither does a denied, locked
 * out or malformed request (the last never reaches dispatch). */
static bool is_activity(const dispatch_ctx *c, const proto_request *req)
{
    return c->grant == NULL && req->op != PROTO_OP_PING && req->op != PROTO_OP_STATUS;
}

int dispatch(dispatch_ctx *c, const proto_request *req)
{
    size_t mark = c->out->len;
    int rc;
    if (c->grant != NULL && !grant_allows(c->grant, req)) {
        rc = SKR_EDENIED;
    } else if (req->op == PROTO_OP_INIT && store_is_initialized(c->hub)) {
        rc = SKR_EEXISTS;
    } else if (!state_allows(c->hub, req->op)) {
        rc = SKR_ELOCKED;
    } else {
        if (is_activity(c, req))
            c->activity = true;
        rc = run_op(c, req);
        if (rc == 1)
            return 1; /* on the thread pool: the host answers and audits */
        if (rc == STORE_ECHECKPOINT) {
            /* Needs LMDB while the checkpoint commits: nothing was done; the host serves
             * this frame again when it ends (replies stay in order). */
            if (c->out->len > mark) {
                sodium_memzero(c->out->data + mark, c->out->len - mark);
                c->out->len = mark;
            }
            return DISPATCH_PARKED;
        }
    }
    dispatch_audit(c->pid, c->uid, req, rc);
    if (rc != 0 && rc != SKR_ETOO_LARGE) /* too_large was answered by reply_end already */
        reply_failure(c, req, rc);
    /* While a batch is open, every reply waits for its commit: a write's, and a read's,
     * which sees the batch's writes (no client learns of a write that may yet be lost).
     * The host knows whether one is open (dispatch_host.hold). */
    if (c->host->hold(c->host_arg, req->id, mark) != 0)
        c->close_after_flush = true;
    return 0;
}
