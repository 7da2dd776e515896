/*
 * Fuzz target for serving requests: the input is a byte stream from a peer. It is split
 * into frames by a proto_reader, each frame decoded by proto_request_decode, and every
 * request that decodes is run against a real hub (daemon/store over LMDB, in a temp
 * folder) the way daemon/dispatch.c runs it: the same state gate (a new hub serves only
 * ping/status/init; a locked one ping/status/unlock/init), writes inside a group-commit
 * batch whose reads see its own writes, and the batch committed before lock, rotate,
 * init, unlock and passwd.
 *
 * The harness keeps a model of what the hub must hold (records, creation order, the
 * current passphrase) and checks every answer against it: a get returns exactly the body
 * last put; post/put/delete report created/exists/deleted right; getDb lists the model's
 * names in creation order, each once; getHub is sorted, unique, and its counts are the
 * model's and sum to store_stats; rotate counts every record. On a hub that is not
 * unlocked every record op must be refused with SKR_ELOCKED by the store itself too.
 *
 * Passphrases become KEKs through the keyfile KDF (BLAKE2b, no Argon2 cost): the
 * passphrase behind a fixed 32-byte prefix is the "keyfile".
 *
 * Each input starts on an unlocked, empty hub whose passphrase is "correct horse", so a
 * crash replays from its input alone; at the end of an input the records are deleted, the
 * passphrase set back and the hub unlocked. An input whose first frame is an `init` runs
 * on a new, uninitialised hub instead. The hub is recreated every RECREATE_EVERY inputs.
 */
#include <ftw.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"
#include "mp.h"
#include "request.h"
#include "sekrets/error.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MUST(cond) do { if (!(cond)) { \
    fprintf(stderr, "fuzz_dispatch: %s:%d: %s\n", __FILE__, __LINE__, #cond); abort(); } } while (0)

#define RECREATE_EVERY 2000
#define MAX_FRAME (1024 * 1024)
static const char pass0[] = "correct horse";

/* ---- the model ---- */

typedef struct mrec {
    char protocol[PROTO_MAX_PROTOCOL + 1];
    char name[PROTO_MAX_NAME + 1];
    uint8_t *body;
    size_t blen;
    int64_t created;
} mrec;

typedef struct hub_state {
    store *s;
    char dir[256];
    bool fresh;            /* uninitialised at the start of this input */
    uint8_t pass[PROTO_MAX_PASSPHRASE];
    size_t pass_len;       /* the current passphrase (0 while uninitialised) */
    mrec *recs;            /* in creation order */
    size_t n, cap;
} hub_state;

static hub_state main_hub;
static unsigned inputs_on_main;

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
    r->body = malloc(req->body.len);
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
    h->fresh = !init;
    h->pass_len = 0;
    if (init) {
        store_kdf kdf;
        uint8_t kek[STORE_KEY_BYTES];
        MUST(store_kdf_new(&kdf, STORE_KDF_KEYFILE, 0, 0) == 0);
        derive(&kdf, (const uint8_t *)pass0, strlen(pass0), kek);
        MUST(store_init(h->s, &kdf, kek) == 0);
        memcpy(h->pass, pass0, strlen(pass0));
        h->pass_len = strlen(pass0);
    }
}

static void hub_close(hub_state *h)
{
    store_close(h->s);
    h->s = NULL;
    for (size_t i = 0; i < h->n; i++)
        free(h->recs[i].body);
    h->n = 0;
    nftw(h->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void main_hub_cleanup(void)
{
    if (main_hub.s != NULL)
        hub_close(&main_hub);
    free(main_hub.recs);
}

/* Back to an unlocked, empty hub with passphrase pass0. */
static void hub_reset(hub_state *h)
{
    store_kdf kdf, nkdf;
    uint8_t old[STORE_KEY_BYTES], kek[STORE_KEY_BYTES];
    MUST(store_batch_commit(h->s) == 0);
    if (!is_pass(h, (proto_span){ (const uint8_t *)pass0, (uint32_t)strlen(pass0) })) {
        MUST(store_get_kdf(h->s, &kdf) == 0);
        derive(&kdf, h->pass, h->pass_len, old);
        MUST(store_kdf_new(&nkdf, STORE_KDF_KEYFILE, 0, 0) == 0);
        derive(&nkdf, (const uint8_t *)pass0, strlen(pass0), kek);
        MUST(store_rewrap(h->s, old, &nkdf, kek) == 0);
        memcpy(h->pass, pass0, strlen(pass0));
        h->pass_len = strlen(pass0);
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

/* ---- listings ---- */

typedef struct listing {
    uint64_t count;        /* from begin */
    size_t n;
    char names[512][PROTO_MAX_NAME + 1];
    uint64_t counts[512];
    bool overflow;
} listing;

static listing lst;

static int l_begin(void *ctx, uint64_t count)
{
    listing *l = ctx;
    l->count = count;
    l->n = 0;
    l->overflow = false;
    return 0;
}

static int l_item(void *ctx, const char *str, size_t len, uint64_t count)
{
    listing *l = ctx;
    MUST(len >= 1 && len <= PROTO_MAX_NAME && memchr(str, '\0', len) == NULL);
    if (l->n == sizeof(l->names) / sizeof(l->names[0])) {
        l->overflow = true;
        return 0;
    }
    memcpy(l->names[l->n], str, len);
    l->names[l->n][len] = '\0';
    l->counts[l->n] = count;
    l->n++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void check_get_db(hub_state *h, const char *protocol, int rc)
{
    size_t k = 0;
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->recs[i].protocol, protocol) == 0)
            k++;
    if (k == 0) {
        MUST(rc == SKR_ENOT_FOUND);
        return;
    }
    MUST(rc == 0 && lst.count == k && (lst.n == k || lst.overflow));
    size_t j = 0;
    for (size_t i = 0; i < h->n && j < lst.n; i++)
        if (strcmp(h->recs[i].protocol, protocol) == 0)
            MUST(strcmp(lst.names[j++], h->recs[i].name) == 0);
    for (size_t a = 0; a < lst.n; a++) /* unique (implied by the model, said anyway) */
        for (size_t b = a + 1; b < lst.n; b++)
            MUST(strcmp(lst.names[a], lst.names[b]) != 0);
}

static void check_get_hub(hub_state *h, int rc)
{
    MUST(rc == 0);
    const char **ps = malloc((h->n ? h->n : 1) * sizeof(*ps));
    MUST(ps != NULL);
    for (size_t i = 0; i < h->n; i++)
        ps[i] = h->recs[i].protocol;
    qsort(ps, h->n, sizeof(*ps), cmp_str);
    size_t distinct = 0, j = 0;
    uint64_t sum = 0;
    for (size_t i = 0; i < h->n; i++) {
        if (i > 0 && strcmp(ps[i], ps[i - 1]) == 0)
            continue;
        size_t c = 1;
        while (i + c < h->n && strcmp(ps[i + c], ps[i]) == 0)
            c++;
        distinct++;
        if (j < lst.n) {
            MUST(strcmp(lst.names[j], ps[i]) == 0 && lst.counts[j] == c);
            j++;
        }
    }
    free(ps);
    MUST(lst.count == distinct && (lst.n == distinct || lst.overflow));
    for (size_t i = 0; i < lst.n; i++) {
        MUST(i == 0 || strcmp(lst.names[i - 1], lst.names[i]) < 0); /* sorted, unique */
        MUST(lst.counts[i] >= 1);
        sum += lst.counts[i];
    }
    uint64_t np, nc;
    MUST(store_stats(h->s, &np, &nc) == 0);
    MUST(np == distinct && nc == h->n);
    if (!lst.overflow)
        MUST(sum == nc);
}

/* ---- the ops ---- */

static void check_get(hub_state *h, const proto_request *req, int rc, const store_record *rec)
{
    bool with_p = req->fields & PROTO_F_PROTOCOL;
    const mrec *want = NULL;
    size_t k = 0;
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->recs[i].name, req->name) == 0 &&
            (!with_p || strcmp(h->recs[i].protocol, req->protocol) == 0)) {
            want = &h->recs[i];
            k++;
        }
    if (k == 0) {
        MUST(rc == SKR_ENOT_FOUND);
        return;
    }
    if (k > 1) {
        MUST(rc == SKR_EAMBIGUOUS);
        return;
    }
    MUST(rc == 0);
    MUST(rec->protocol_len == strlen(want->protocol) && strcmp(rec->protocol, want->protocol) == 0);
    MUST(rec->name_len == strlen(want->name) && strcmp(rec->name, want->name) == 0);
    MUST(rec->body_len == want->blen && memcmp(rec->body, want->body, want->blen) == 0);
    MUST(rec->created <= rec->modified);
    if (want->created != 0)
        MUST(rec->created == want->created);
}

/* A later op re-reads what an earlier one wrote: every record, after lock/unlock/rotate. */
static void check_all(hub_state *h)
{
    for (size_t i = 0; i < h->n; i++) {
        store_record rec;
        proto_request q = { .fields = PROTO_F_PROTOCOL };
        strcpy(q.protocol, h->recs[i].protocol);
        strcpy(q.name, h->recs[i].name);
        int rc = store_get(h->s, q.protocol, q.name, &rec);
        check_get(h, &q, rc, &rec);
        h->recs[i].created = rec.created;
        store_release(h->s);
    }
}

static bool state_allows(hub_state *h, proto_op op)
{
    if (op == PROTO_OP_PING || op == PROTO_OP_STATUS)
        return true;
    if (!store_is_initialized(h->s))
        return op == PROTO_OP_INIT;
    if (!store_is_unlocked(h->s))
        return op == PROTO_OP_UNLOCK || op == PROTO_OP_INIT;
    return true;
}

/* What the store answers a record op on a hub that is not unlocked: SKR_ELOCKED. */
static void check_refused(hub_state *h, const proto_request *req)
{
    store_lister l = { l_begin, l_item, &lst };
    store_record rec;
    bool b;
    uint64_t n;
    const uint8_t one = 0xc0;
    switch (req->op) {
    case PROTO_OP_GET:
        MUST(store_get(h->s, req->fields & PROTO_F_PROTOCOL ? req->protocol : NULL, req->name,
                       &rec) == SKR_ELOCKED);
        break;
    case PROTO_OP_GETDB:
        MUST(store_get_db(h->s, req->protocol, &l) == SKR_ELOCKED);
        break;
    case PROTO_OP_GETHUB:
        MUST(store_get_hub(h->s, &l) == SKR_ELOCKED);
        break;
    case PROTO_OP_POST:
        MUST(store_post(h->s, req->protocol, req->name, &one, 1) == SKR_ELOCKED);
        break;
    case PROTO_OP_PUT:
        MUST(store_put(h->s, req->protocol, req->name, &one, 1, &b) == SKR_ELOCKED);
        break;
    case PROTO_OP_DELETE:
        MUST(store_delete(h->s, req->protocol, req->name, &b) == SKR_ELOCKED);
        break;
    case PROTO_OP_ROTATE:
        MUST(store_rotate(h->s, &n) == SKR_ELOCKED);
        break;
    default:
        break;
    }
}

static void op_keys(hub_state *h, const proto_request *req)
{
    store_kdf kdf, nkdf;
    uint8_t kek[STORE_KEY_BYTES], nkek[STORE_KEY_BYTES];
    int rc;
    MUST(store_batch_commit(h->s) == 0); /* key changes run in transactions of their own */
    switch (req->op) {
    case PROTO_OP_INIT:
        if (store_is_initialized(h->s)) {
            /* dispatch answers exists before calling; the store says so too */
            MUST(store_kdf_new(&kdf, STORE_KDF_KEYFILE, 0, 0) == 0);
            derive(&kdf, req->passphrase.ptr, req->passphrase.len, kek);
            MUST(store_init(h->s, &kdf, kek) == SKR_EEXISTS);
            break;
        }
        MUST(store_kdf_new(&kdf, STORE_KDF_KEYFILE, 0, 0) == 0);
        derive(&kdf, req->passphrase.ptr, req->passphrase.len, kek);
        MUST(store_init(h->s, &kdf, kek) == 0);
        MUST(store_is_initialized(h->s) && store_is_unlocked(h->s));
        memcpy(h->pass, req->passphrase.ptr, req->passphrase.len);
        h->pass_len = req->passphrase.len;
        break;
    case PROTO_OP_UNLOCK:
        if (store_is_unlocked(h->s))
            break; /* answered ok without a derivation */
        MUST(store_get_kdf(h->s, &kdf) == 0 && kdf.kind == STORE_KDF_KEYFILE);
        derive(&kdf, req->passphrase.ptr, req->passphrase.len, kek);
        rc = store_unlock(h->s, kek);
        MUST(rc == (is_pass(h, req->passphrase) ? 0 : SKR_EBAD_PASSPHRASE));
        MUST(store_is_unlocked(h->s) == (rc == 0));
        if (rc == 0)
            check_all(h);
        break;
    case PROTO_OP_PASSWD: {
        bool was_unlocked = store_is_unlocked(h->s);
        MUST(store_get_kdf(h->s, &kdf) == 0);
        derive(&kdf, req->old_pass.ptr, req->old_pass.len, kek);
        MUST(store_kdf_new(&nkdf, STORE_KDF_KEYFILE, 0, 0) == 0);
        derive(&nkdf, req->new_pass.ptr, req->new_pass.len, nkek);
        rc = store_rewrap(h->s, kek, &nkdf, nkek);
        MUST(rc == (is_pass(h, req->old_pass) ? 0 : SKR_EBAD_PASSPHRASE));
        MUST(store_is_unlocked(h->s) == was_unlocked);
        if (rc == 0) {
            memcpy(h->pass, req->new_pass.ptr, req->new_pass.len);
            h->pass_len = req->new_pass.len;
        }
        break;
    }
    default:
        abort();
    }
    sodium_memzero(kek, sizeof(kek));
    sodium_memzero(nkek, sizeof(nkek));
}

static void run(hub_state *h, const proto_request *req)
{
    store *s = h->s;
    store_lister l = { l_begin, l_item, &lst };
    store_record rec;
    uint64_t np, nc;
    bool b;
    int rc = 0;

    if (req->op == PROTO_OP_INIT || req->op == PROTO_OP_UNLOCK || req->op == PROTO_OP_PASSWD) {
        /* dispatch: init on an initialised hub is `exists` before the state gate */
        if (state_allows(h, req->op) || req->op == PROTO_OP_INIT)
            op_keys(h, req);
        return;
    }
    if (!state_allows(h, req->op)) {
        check_refused(h, req);
        return;
    }
    bool write = req->op == PROTO_OP_POST || req->op == PROTO_OP_PUT || req->op == PROTO_OP_DELETE;
    if (write)
        MUST(store_batch_begin(s) == 0);
    else if (req->op == PROTO_OP_LOCK || req->op == PROTO_OP_ROTATE)
        MUST(store_batch_commit(s) == 0);

    mrec *m = (req->fields & PROTO_F_PROTOCOL) && (req->fields & PROTO_F_NAME)
        ? model_find(h, req->protocol, req->name) : NULL;
    switch (req->op) {
    case PROTO_OP_PING:
        break;
    case PROTO_OP_STATUS:
        if (store_is_initialized(s)) {
            MUST(store_stats(s, &np, &nc) == 0);
            if (store_is_unlocked(s))
                MUST(nc == h->n);
        }
        break;
    case PROTO_OP_GET:
        rc = store_get(s, req->fields & PROTO_F_PROTOCOL ? req->protocol : NULL, req->name, &rec);
        check_get(h, req, rc, &rec);
        store_release(s);
        break;
    case PROTO_OP_GETDB:
        rc = store_get_db(s, req->protocol, &l);
        check_get_db(h, req->protocol, rc);
        break;
    case PROTO_OP_GETHUB:
        rc = store_get_hub(s, &l);
        check_get_hub(h, rc);
        break;
    case PROTO_OP_POST:
        rc = store_post(s, req->protocol, req->name, req->body.ptr, req->body.len);
        MUST(rc == (m != NULL ? SKR_EEXISTS : 0));
        if (rc == 0)
            model_set(h, req, NULL);
        break;
    case PROTO_OP_PUT:
        b = false;
        rc = store_put(s, req->protocol, req->name, req->body.ptr, req->body.len, &b);
        MUST(rc == 0 && b == (m == NULL));
        model_set(h, req, m);
        break;
    case PROTO_OP_DELETE:
        b = false;
        rc = store_delete(s, req->protocol, req->name, &b);
        MUST(rc == 0 && b == (m != NULL));
        if (m != NULL)
            model_del(h, m);
        break;
    case PROTO_OP_LOCK:
        store_lock(s);
        MUST(!store_is_unlocked(s) && store_is_initialized(s));
        break;
    case PROTO_OP_ROTATE:
        np = UINT64_MAX;
        MUST(store_rotate(s, &np) == 0 && np == h->n);
        check_all(h);
        break;
    default:
        abort();
    }

    /* A get after a successful put returns exactly the body put. */
    if (write && rc == 0 && req->op != PROTO_OP_DELETE) {
        proto_request q = *req;
        q.fields |= PROTO_F_PROTOCOL;
        MUST(store_get(s, req->protocol, req->name, &rec) == 0);
        check_get(h, &q, 0, &rec);
        store_release(s);
    }
    /* The daemon commits at the end of a loop turn: here, after every fourth request. */
    if (write && req->id % 4 == 0)
        MUST(store_batch_commit(s) == 0);
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool registered;
    if (!registered) {
        atexit(main_hub_cleanup);
        registered = true;
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

    proto_reader rd;
    proto_reader_init(&rd, MAX_FRAME);
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
            run(h, &req);
    }
    proto_reader_free(&rd);

    if (h == &fresh) {
        MUST(store_batch_commit(fresh.s) == 0);
        hub_close(&fresh);
        free(fresh.recs);
    } else {
        hub_reset(h);
    }
    return 0;
}
