/*
 * Fuzz target for serving requests: the input is a byte stream from a peer. It is split
 * into frames by a proto_reader, each frame decoded by proto_request_decode, and every
 * request that decodes goes to the daemon's own dispatch() (daemon/dispatch.h): its state
 * gate, grant checks, handlers and reply encoders, against a real hub (daemon/store over
 * LMDB, in a temp folder). The harness is dispatch's host: the group-commit batch (one
 * LMDB transaction, committed before lock/rotate/init/unlock/passwd and, as the loop's
 * turn would, after every fourth write), the lock, and the key derivation, done at once
 * with the keyfile KDF (BLAKE2b, no Argon2 cost: a fixed 32-byte prefix and the passphrase
 * are the "keyfile").
 *
 * Two peers share the hub: a request whose id has bit 31 set comes from a peer under a
 * grant (uid 1001: get, getDb, getHub, status and ping on protocols "github", "p" and
 * "a"), any other from the owner.
 *
 * Every reply is checked: exactly one frame, a well-formed response with the request's
 * id, and the answer a model of the hub (records in creation order, the passphrase)
 * predicts: the gate's `denied`/`locked`/`exists`; get's body, not_found or ambiguous
 * (among the protocols the peer may see); post/put/delete's created/exists/deleted;
 * getDb's names in creation order; getHub's sorted protocols and counts; rotate's count;
 * unlock and passwd right exactly when the passphrase is.
 *
 * Inputs stay independent: each starts on an unlocked, empty hub whose passphrase is
 * "correct horse", no batch open, no reply held, empty reply buffers; at the end of an
 * input the batch is committed, the passphrase set back, the hub unlocked and every
 * record the model holds deleted (the store must then count none). So a crash replays
 * from its input alone. An input whose first frame is an `init` runs on a new,
 * uninitialised hub instead; the shared hub is recreated every RECREATE_EVERY inputs.
 */
#include <ftw.h>
#include <msgpack.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dispatch.h"
#include "frame.h"
#include "log.h"
#include "request.h"
#include "response.h"
#include "sekrets/error.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MUST(cond) do { if (!(cond)) { \
    fprintf(stderr, "fuzz_dispatch: %s:%d: %s\n", __FILE__, __LINE__, #cond); abort(); } } while (0)

#define RECREATE_EVERY 2000
#define GRANTED_ID 0x80000000u
#define DERIVED (-1000) /* expected(): decided by the derivation (host_derive) */
static const char pass0[] = "correct horse";

/* ---- the model ---- */

typedef struct mrec {
    char protocol[PROTO_MAX_PROTOCOL + 1];
    char name[PROTO_MAX_NAME + 1];
    uint8_t *body;
    size_t blen;
} mrec;

typedef struct hub_state {
    store *s;
    char dir[256];
    bool batch_open;       /* the host's group-commit batch */
    uint8_t pass[PROTO_MAX_PASSPHRASE];
    size_t pass_len;       /* the current passphrase (0 while uninitialised) */
    int derived_rc;        /* what the last derivation answered */
    mrec *recs;            /* in creation order */
    size_t n, cap;
} hub_state;

/* One peer: its connection's reply buffer and whether its replies are held. */
typedef struct peer {
    hub_state *h;
    const policy_grant *grant;
    uid_t uid;
    proto_buf out;
    bool in_batch;
} peer;

static hub_state main_hub;
static unsigned inputs_on_main;
static config cfg;
static char *grant_protocols[] = { "a", "github", "p" };
static const policy_grant grant = {
    .label = "fuzz", .has_uid = true, .uid = 1001,
    .ops = 1u << PROTO_OP_GET | 1u << PROTO_OP_GETDB | 1u << PROTO_OP_GETHUB |
           1u << PROTO_OP_STATUS | 1u << PROTO_OP_PING,
    .protocols = grant_protocols, .nprotocols = 3,
};
static peer owner, granted;

static bool may_see(const peer *k, const char *protocol)
{
    if (k->grant == NULL)
        return true;
    for (size_t i = 0; i < sizeof(grant_protocols) / sizeof(grant_protocols[0]); i++)
        if (strcmp(grant_protocols[i], protocol) == 0)
            return true;
    return false;
}

static mrec *model_find(hub_state *h, const char *protocol, const char *name)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->recs[i].protocol, protocol) == 0 && strcmp(h->recs[i].name, name) == 0)
            return &h->recs[i];
    return NULL;
}

static void model_set(hub_state *h, const proto_request *req, mrec *r)
{
    if (r == NULL) {
        if (h->n == h->cap) {
            h->cap = h->cap ? 2 * h->cap : 16;
            h->recs = realloc(h->recs, h->cap * sizeof(*h->recs));
            MUST(h->recs != NULL);
        }
        r = &h->recs[h->n++];
        memset(r, 0, sizeof(*r));
        memcpy(r->protocol, req->protocol, req->protocol_len + 1);
        memcpy(r->name, req->name, req->name_len + 1);
    }
    free(r->body);
    r->body = malloc(req->body.len ? req->body.len : 1);
    MUST(r->body != NULL);
    memcpy(r->body, req->body.ptr, req->body.len);
    r->blen = req->body.len;
}

static void model_del(hub_state *h, mrec *r)
{
    free(r->body);
    size_t i = (size_t)(r - h->recs);
    memmove(r, r + 1, (h->n - i - 1) * sizeof(*r));
    h->n--;
}

/* ---- passphrases as keyfile content ---- */

static void derive(const store_kdf *kdf, const uint8_t *p, size_t n, uint8_t kek[STORE_KEY_BYTES])
{
    static uint8_t secret[32 + PROTO_MAX_PASSPHRASE];
    memset(secret, 'k', 32);
    memcpy(secret + 32, p, n);
    MUST(store_kdf_derive(kdf, secret, 32 + n, kek) == 0);
}

static bool is_pass(const hub_state *h, proto_span sp)
{
    return h->pass_len == sp.len && memcmp(h->pass, sp.ptr, sp.len) == 0;
}

static void set_pass(hub_state *h, const uint8_t *p, size_t n)
{
    memcpy(h->pass, p, n);
    h->pass_len = n;
}

/* ---- dispatch's host ---- */

static int host_batch_open(void *arg)
{
    hub_state *h = ((peer *)arg)->h;
    if (h->batch_open)
        return 0;
    int rc = store_batch_begin(h->s);
    if (rc == 0)
        h->batch_open = true;
    return rc;
}

static void host_batch_commit(void *arg)
{
    hub_state *h = ((peer *)arg)->h;
    if (!h->batch_open)
        return;
    MUST(store_batch_commit(h->s) == 0);
    h->batch_open = false;
    owner.in_batch = granted.in_batch = false; /* every held reply released */
}

static int host_hold(void *arg, uint32_t id, size_t mark)
{
    peer *k = arg;
    (void)id, (void)mark;
    if (k->in_batch || k->h->batch_open)
        k->in_batch = true;
    return 0;
}

static void host_lock(void *arg)
{
    hub_state *h = ((peer *)arg)->h;
    MUST(!h->batch_open); /* dispatch commits before a lock */
    store_lock(h->s);
}

static const char *host_limit_message(void *arg, char *buf, size_t cap, uint32_t *retry_s)
{
    (void)arg;
    snprintf(buf, cap, "rate limited");
    *retry_s = 1;
    return buf;
}

/* The daemon's finish_on_loop (unlock.c), with the keyfile KDF and no thread pool. */
static int derive_op(hub_state *h, const proto_request *req)
{
    store_kdf kdf, nkdf;
    uint8_t kek[STORE_KEY_BYTES], nkek[STORE_KEY_BYTES];
    int rc;
    switch (req->op) {
    case PROTO_OP_INIT:
        MUST(!store_is_initialized(h->s)); /* dispatch answers `exists` itself */
        MUST(store_kdf_new(&kdf, STORE_KDF_KEYFILE, 0, 0) == 0);
        derive(&kdf, req->passphrase.ptr, req->passphrase.len, kek);
        MUST((rc = store_init(h->s, &kdf, kek)) == 0);
        MUST(store_is_initialized(h->s) && store_is_unlocked(h->s));
        set_pass(h, req->passphrase.ptr, req->passphrase.len);
        break;
    case PROTO_OP_UNLOCK:
        MUST(store_get_kdf(h->s, &kdf) == 0 && kdf.kind == STORE_KDF_KEYFILE);
        derive(&kdf, req->passphrase.ptr, req->passphrase.len, kek);
        rc = store_unlock(h->s, kek);
        MUST(rc == (is_pass(h, req->passphrase) ? 0 : SKR_EBAD_PASSPHRASE));
        MUST(store_is_unlocked(h->s) == (rc == 0));
        break;
    case PROTO_OP_PASSWD:
        MUST(store_get_kdf(h->s, &kdf) == 0);
        derive(&kdf, req->old_pass.ptr, req->old_pass.len, kek);
        MUST(store_kdf_new(&nkdf, STORE_KDF_KEYFILE, 0, 0) == 0);
        derive(&nkdf, req->new_pass.ptr, req->new_pass.len, nkek);
        rc = store_passwd(h->s, kek, &nkdf, nkek, req->rotate, NULL);
        MUST(rc == (is_pass(h, req->old_pass) ? 0 : SKR_EBAD_PASSPHRASE));
        MUST(store_is_unlocked(h->s));
        if (rc == 0)
            set_pass(h, req->new_pass.ptr, req->new_pass.len);
        break;
    default:
        abort();
    }
    sodium_memzero(kek, sizeof(kek));
    sodium_memzero(nkek, sizeof(nkek));
    return rc;
}

static int host_derive(void *arg, const proto_request *req)
{
    peer *k = arg;
    hub_state *h = k->h;
    MUST(k->grant == NULL && !h->batch_open); /* owner only; the batch committed first */
    if (req->op == PROTO_OP_UNLOCK && store_is_unlocked(h->s))
        h->derived_rc = 0; /* answered without a derivation, as unlock_submit does */
    else
        h->derived_rc = derive_op(h, req);
    if (h->derived_rc != 0)
        return h->derived_rc;
    return proto_response_ok_empty(&k->out, req->id) == 0 ? 0 : SKR_ENOMEM;
}

static const dispatch_host host = {
    .batch_open = host_batch_open,
    .batch_commit = host_batch_commit,
    .hold = host_hold,
    .lock = host_lock,
    .derive = host_derive,
    .limit_message = host_limit_message,
};

/* ---- hubs ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void hub_open(hub_state *h, bool init)
{
    char err[STORE_ERRMSG_MAX];
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(h->dir, sizeof(h->dir), "%s/fuzz_dispatch.XXXXXX", base);
    MUST(mkdtemp(h->dir) != NULL);
    if (store_open(h->dir, &h->s, err) != 0) {
        fprintf(stderr, "fuzz_dispatch: %s: %s\n", h->dir, err);
        abort();
    }
    MUST(!store_is_initialized(h->s) && !store_is_unlocked(h->s));
    h->pass_len = 0;
    if (init) {
        store_kdf kdf;
        uint8_t kek[STORE_KEY_BYTES];
        MUST(store_kdf_new(&kdf, STORE_KDF_KEYFILE, 0, 0) == 0);
        derive(&kdf, (const uint8_t *)pass0, strlen(pass0), kek);
        MUST(store_init(h->s, &kdf, kek) == 0);
        set_pass(h, (const uint8_t *)pass0, strlen(pass0));
    }
}

static void hub_close(hub_state *h)
{
    if (h->batch_open)
        MUST(store_batch_commit(h->s) == 0);
    h->batch_open = false;
    store_close(h->s);
    h->s = NULL;
    for (size_t i = 0; i < h->n; i++)
        free(h->recs[i].body);
    h->n = 0;
    nftw(h->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void cleanup(void)
{
    if (main_hub.s != NULL)
        hub_close(&main_hub);
    free(main_hub.recs);
    proto_buf_free(&owner.out);
    proto_buf_free(&granted.out);
}

/* Back to an unlocked, empty hub with passphrase pass0 and no batch open. */
static void hub_reset(hub_state *h)
{
    store_kdf kdf, nkdf;
    uint8_t old[STORE_KEY_BYTES], kek[STORE_KEY_BYTES];
    if (h->batch_open)
        MUST(store_batch_commit(h->s) == 0);
    h->batch_open = false;
    if (!is_pass(h, (proto_span){ (const uint8_t *)pass0, (uint32_t)strlen(pass0) })) {
        MUST(store_get_kdf(h->s, &kdf) == 0);
        derive(&kdf, h->pass, h->pass_len, old);
        MUST(store_kdf_new(&nkdf, STORE_KDF_KEYFILE, 0, 0) == 0);
        derive(&nkdf, (const uint8_t *)pass0, strlen(pass0), kek);
        MUST(store_rewrap(h->s, old, &nkdf, kek) == 0);
        set_pass(h, (const uint8_t *)pass0, strlen(pass0));
    }
    if (!store_is_unlocked(h->s)) {
        MUST(store_get_kdf(h->s, &kdf) == 0);
        derive(&kdf, h->pass, h->pass_len, kek);
        MUST(store_unlock(h->s, kek) == 0);
    }
    while (h->n > 0) {
        bool deleted = false;
        mrec *r = &h->recs[h->n - 1];
        MUST(store_delete(h->s, r->protocol, r->name, &deleted) == 0 && deleted);
        free(r->body);
        h->n--;
    }
    uint64_t np = 1, nc = 1;
    MUST(store_stats(h->s, &np, &nc) == 0 && np == 0 && nc == 0);
}

/* ---- what the model predicts ---- */

static bool gate_refuses(const hub_state *h, proto_op op, int *code)
{
    if (op == PROTO_OP_PING || op == PROTO_OP_STATUS)
        return false;
    if (op == PROTO_OP_INIT && store_is_initialized(h->s)) {
        *code = SKR_EEXISTS;
        return true;
    }
    bool open = op == PROTO_OP_INIT ||
                (store_is_initialized(h->s) && (op == PROTO_OP_UNLOCK || store_is_unlocked(h->s)));
    *code = SKR_ELOCKED;
    return !open;
}

/* get: the records of that name the peer may see (with the protocol given: that one). */
static size_t get_matches(hub_state *h, const peer *k, const proto_request *req, mrec **hit)
{
    size_t found = 0;
    for (size_t i = 0; i < h->n; i++) {
        mrec *r = &h->recs[i];
        if (strcmp(r->name, req->name) != 0 || !may_see(k, r->protocol))
            continue;
        if ((req->fields & PROTO_F_PROTOCOL) && strcmp(r->protocol, req->protocol) != 0)
            continue;
        *hit = r;
        found++;
    }
    return found;
}

/* The answer's code (0: ok), or DERIVED. */
static int expected(hub_state *h, const peer *k, const proto_request *req)
{
    int code;
    if (k->grant != NULL && (!(grant.ops & 1u << req->op) ||
                             ((req->fields & PROTO_F_PROTOCOL) && !may_see(k, req->protocol))))
        return SKR_EDENIED;
    if (gate_refuses(h, req->op, &code))
        return code;
    mrec *hit = NULL;
    switch (req->op) {
    case PROTO_OP_GET: {
        size_t n = get_matches(h, k, req, &hit);
        return n == 0 ? SKR_ENOT_FOUND : n > 1 ? SKR_EAMBIGUOUS : 0;
    }
    case PROTO_OP_GETDB:
        for (size_t i = 0; i < h->n; i++)
            if (strcmp(h->recs[i].protocol, req->protocol) == 0)
                return 0;
        return SKR_ENOT_FOUND;
    case PROTO_OP_POST:
        return model_find(h, req->protocol, req->name) != NULL ? SKR_EEXISTS : 0;
    case PROTO_OP_INIT:
    case PROTO_OP_UNLOCK:
    case PROTO_OP_PASSWD:
        return DERIVED;
    default:
        return 0;
    }
}

/* ---- reading the reply ---- */

/* The reply dispatch appended at mark: one whole frame, a response to this id. */
static void reply_of(peer *k, size_t mark, uint32_t id, proto_response *r)
{
    const proto_buf *o = &k->out;
    MUST(o->len >= mark + PROTO_HEADER_LEN);
    size_t n = proto_be32(o->data + mark);
    MUST(n >= 1 && n <= cfg.max_frame && o->len == mark + PROTO_HEADER_LEN + n);
    MUST(proto_response_decode(o->data + mark + PROTO_HEADER_LEN, n, r) == 0);
    MUST(r->id == id);
}

static const msgpack_object *map_get(const msgpack_object *m, const char *key)
{
    MUST(m->type == MSGPACK_OBJECT_MAP);
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) &&
            memcmp(k->via.str.ptr, key, k->via.str.size) == 0)
            return &m->via.map.ptr[i].val;
    }
    MUST(!"key missing from the result");
    return NULL;
}

static bool str_is(const msgpack_object *o, const char *s)
{
    return o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) &&
           memcmp(o->via.str.ptr, s, o->via.str.size) == 0;
}

/* A {key: bool} result's value. */
static bool result_bool(const msgpack_object *res, const char *key)
{
    const msgpack_object *v = map_get(res, key);
    MUST(v->type == MSGPACK_OBJECT_BOOLEAN);
    return v->via.boolean;
}

static void check_get_db(hub_state *h, const proto_request *req, const msgpack_object *res)
{
    MUST(str_is(map_get(res, "protocol"), req->protocol));
    const msgpack_object *names = map_get(res, "names");
    MUST(names->type == MSGPACK_OBJECT_ARRAY);
    size_t j = 0;
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->recs[i].protocol, req->protocol) == 0) {
            MUST(j < names->via.array.size && str_is(&names->via.array.ptr[j], h->recs[i].name));
            j++;
        }
    MUST(j == names->via.array.size);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void check_get_hub(hub_state *h, const peer *k, const msgpack_object *res)
{
    const msgpack_object *ps = map_get(res, "protocols");
    MUST(ps->type == MSGPACK_OBJECT_ARRAY);
    const char **seen = malloc((h->n ? h->n : 1) * sizeof(*seen));
    MUST(seen != NULL);
    size_t n = 0;
    for (size_t i = 0; i < h->n; i++)
        if (may_see(k, h->recs[i].protocol))
            seen[n++] = h->recs[i].protocol;
    qsort(seen, n, sizeof(*seen), cmp_str);
    size_t j = 0;
    for (size_t i = 0; i < n; j++) { /* one entry per distinct protocol, sorted */
        size_t c = 1;
        while (i + c < n && strcmp(seen[i + c], seen[i]) == 0)
            c++;
        MUST(j < ps->via.array.size);
        const msgpack_object *e = &ps->via.array.ptr[j], *count = map_get(e, "count");
        MUST(str_is(map_get(e, "name"), seen[i]));
        MUST(count->type == MSGPACK_OBJECT_POSITIVE_INTEGER && count->via.u64 == c);
        i += c;
    }
    MUST(j == ps->via.array.size);
    free(seen);
}

/* An ok answer's result against the model, which then takes the write. */
static void check_ok(hub_state *h, const peer *k, const proto_request *req, const proto_response *r)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    MUST(msgpack_unpack_next(&u, (const char *)r->result.ptr, r->result.len, &off) ==
         MSGPACK_UNPACK_SUCCESS && off == r->result.len);
    const msgpack_object *res = &u.data;
    mrec *m = (req->fields & PROTO_F_PROTOCOL) && (req->fields & PROTO_F_NAME)
        ? model_find(h, req->protocol, req->name) : NULL;
    switch (req->op) {
    case PROTO_OP_GET: {
        mrec *hit = NULL;
        MUST(get_matches(h, k, req, &hit) == 1);
        MUST(str_is(map_get(res, "protocol"), hit->protocol) && str_is(map_get(res, "name"), hit->name));
        /* the body is the stored msgpack object itself, bytes for bytes */
        MUST(hit->blen <= r->result.len && memmem(r->result.ptr, r->result.len, hit->body, hit->blen) != NULL);
        break;
    }
    case PROTO_OP_GETDB:
        check_get_db(h, req, res);
        break;
    case PROTO_OP_GETHUB:
        check_get_hub(h, k, res);
        break;
    case PROTO_OP_POST:
        MUST(m == NULL && result_bool(res, "created"));
        model_set(h, req, NULL);
        break;
    case PROTO_OP_PUT:
        MUST(result_bool(res, "created") == (m == NULL));
        model_set(h, req, m);
        break;
    case PROTO_OP_DELETE:
        MUST(result_bool(res, "deleted") == (m != NULL));
        if (m != NULL)
            model_del(h, m);
        break;
    case PROTO_OP_ROTATE: {
        const msgpack_object *n = map_get(res, "records");
        MUST(n->type == MSGPACK_OBJECT_POSITIVE_INTEGER && n->via.u64 == h->n);
        break;
    }
    case PROTO_OP_LOCK:
        MUST(!store_is_unlocked(h->s) && store_is_initialized(h->s));
        break;
    case PROTO_OP_STATUS:
        MUST(map_get(res, "locked")->via.boolean == !store_is_unlocked(h->s));
        MUST(map_get(res, "initialized")->via.boolean == store_is_initialized(h->s));
        break;
    case PROTO_OP_PING:
        MUST(str_is(res, "pong"));
        break;
    default: /* init, unlock, passwd: checked in derive_op */
        MUST(res->type == MSGPACK_OBJECT_NIL || res->type == MSGPACK_OBJECT_MAP);
        break;
    }
    msgpack_unpacked_destroy(&u);
}

static void serve(hub_state *h, peer *k, const proto_request *req)
{
    int want = expected(h, k, req);
    size_t mark = k->out.len;
    dispatch_ctx c = {
        .out = &k->out, .hub = h->s, .cfg = &cfg, .socket_name = "/run/fuzz.sock",
        .pid = 1, .uid = k->uid, .grant = k->grant, .now_ms = 5000, .started_ms = 1000,
        .host = &host, .host_arg = k,
    };
    MUST(dispatch(&c, req) == 0); /* the derivation answers at once here */
    MUST(!c.close_after_flush);
    if (want == DERIVED)
        want = h->derived_rc;
    proto_response r;
    reply_of(k, mark, req->id, &r);
    if (want != 0) {
        MUST(!r.ok && r.code == want);
    } else {
        MUST(r.ok);
        check_ok(h, k, req, &r);
    }
    /* The daemon commits at the end of a loop turn: here, after every fourth request. */
    if (h->batch_open && req->id % 4 == 0)
        host_batch_commit(k);
    /* The replies were read: what the socket would have taken. */
    if (!k->in_batch)
        proto_buf_reset(&k->out);
}

/* ---- the input ---- */

static bool first_is_init(const uint8_t *data, size_t size)
{
    proto_request req;
    char msg[PROTO_ERRMSG_MAX];
    if (size < PROTO_HEADER_LEN)
        return false;
    size_t n = proto_be32(data);
    if (n == 0 || n > size - PROTO_HEADER_LEN)
        return false;
    return proto_request_decode(data + PROTO_HEADER_LEN, n, &req, msg) == 0 &&
           req.op == PROTO_OP_INIT;
}

static void setup(void)
{
    cfg.max_frame = PROTO_MAX_FRAME_DEFAULT;
    cfg.idle_lock_s = 900;
    snprintf(cfg.hub_dir, sizeof(cfg.hub_dir), "/fuzz/hub");
    /* audit lines would be most of the run's time; FUZZ_DISPATCH_LOG=1 keeps them */
    log_set_level(getenv("FUZZ_DISPATCH_LOG") != NULL ? LOG_DEBUG : LOG_ERROR);
    owner = (peer){ .uid = 1000 };
    granted = (peer){ .uid = 1001, .grant = &grant };
    atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        setup();
        ready = true;
    }
    if (main_hub.s == NULL || ++inputs_on_main > RECREATE_EVERY) {
        if (main_hub.s != NULL)
            hub_close(&main_hub);
        hub_open(&main_hub, true);
        inputs_on_main = 0;
    }
    hub_state fresh = { 0 };
    hub_state *h = &main_hub;
    if (first_is_init(data, size)) {
        hub_open(&fresh, false);
        h = &fresh;
    }
    owner.h = granted.h = h;

    proto_reader rd;
    proto_reader_init(&rd, cfg.max_frame);
    MUST(proto_reader_feed(&rd, data, size) == 0);
    const uint8_t *p;
    size_t n;
    while (proto_reader_next(&rd, &p, &n) == 1) {
        proto_request req;
        char msg[PROTO_ERRMSG_MAX];
        int rc = proto_request_decode(p, n, &req, msg);
        if (rc == SKR_EBAD_FRAME)
            break; /* the daemon answers and closes */
        if (rc == 0)
            serve(h, req.id & GRANTED_ID ? &granted : &owner, &req);
    }
    proto_reader_free(&rd);

    if (h == &fresh) {
        hub_close(&fresh);
        free(fresh.recs);
    } else {
        hub_reset(h);
    }
    owner.in_batch = granted.in_batch = false;
    proto_buf_reset(&owner.out);
    proto_buf_reset(&granted.out);
    return 0;
}
