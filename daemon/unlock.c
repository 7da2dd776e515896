/*
 * init, unlock and passwd: the ops that derive a key from a passphrase.
 *
 * Argon2id takes most of a second at the default limits, so it runs on libuv's thread
 * pool and the loop keeps serving everyone else. The session waits (its later requests
 * queue behind this one, so replies stay in order) and holds a reference so it outlives
 * a client that hangs up meanwhile. Failed attempts block further ones for a delay that
 * doubles with each failure (1 s, 2 s, 4 s ... 60 s), answered with `rate_limited`.
 *
 * At most one derivation runs at a time, whatever the op: the limit is set only when a
 * failed one ends, so derivations side by side would each be a free guess (N connections,
 * N guesses a window). One that arrives while another runs is answered `rate_limited` too;
 * init, which feeds no limit, is refused the same way (two inits would race to create).
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "log.h"
#include "response.h"
#include "sekrets/error.h"
#include "server.h"
#include "session.h"
#include "store.h"
#include "unlock.h"

_Static_assert(STORE_KEYFILE_NEW_MAX <= PROTO_MAX_PASSPHRASE,
               "a new hub's keyfile must fit in an unlock request");

#define RATE_LIMIT_BASE_MS 1000u
#define RATE_LIMIT_MAX_MS  60000u

typedef struct kdf_job {
    uv_work_t work;
    session *s;
    proto_op op;
    uint32_t id;
    store_kdf kdf;        /* init: the new hub's; unlock/passwd: the hub's current one */
    store_kdf new_kdf;    /* passwd: the new one */
    uint8_t *secret;      /* guarded copies of the passphrases */
    uint32_t secret_len;
    uint8_t *secret2;
    uint32_t secret2_len;
    uint8_t *keks;        /* guarded: kek (and new kek for passwd), 2 x 32 bytes */
    bool rotate;          /* passwd: a new data key too (re-seals every record) */
    int rc;
} kdf_job;

static void job_free(kdf_job *j)
{
    if (j->secret != NULL)
        sodium_free(j->secret);   /* sodium_free wipes */
    if (j->secret2 != NULL)
        sodium_free(j->secret2);
    if (j->keks != NULL)
        sodium_free(j->keks);
    free(j);
}

static uint8_t *guarded_copy(const proto_span *sp)
{
    uint8_t *p = sodium_malloc(sp->len);
    if (p != NULL)
        memcpy(p, sp->ptr, sp->len);
    return p;
}

bool unlock_rate_limited(server *srv, uint64_t *wait_ms)
{
    uint64_t now = uv_now(srv->loop);
    if (now >= srv->unlock_blocked_until_ms)
        return false;
    *wait_ms = srv->unlock_blocked_until_ms - now;
    return true;
}

const char *unlock_limit_message(server *srv, char *buf, size_t cap, uint32_t *retry_s)
{
    uint64_t wait_ms = 0;
    if (srv->kdf_running) {
        /* the rest of the one running, by the last one's time; more if it fails */
        uint64_t ran = uv_now(srv->loop) - srv->kdf_started_ms;
        if (srv->kdf_last_ms > ran) {
            wait_ms = srv->kdf_last_ms - ran;
            snprintf(buf, cap, "another key derivation is running: retry in about %llu ms",
                     (unsigned long long)wait_ms);
        } else {
            snprintf(buf, cap, "another key derivation is running: retry once it ends");
        }
    } else if (unlock_rate_limited(srv, &wait_ms)) {
        snprintf(buf, cap, "too many wrong passphrases: retry in %llu ms",
                 (unsigned long long)wait_ms);
    } else {
        snprintf(buf, cap, "%s", skr_strerror(SKR_ERATE_LIMITED));
    }
    uint64_t s = (wait_ms + 999) / 1000;
    *retry_s = s == 0 ? 1 : s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
    return buf;
}

static void note_attempt(server *srv, int rc)
{
    if (rc == 0) {
        srv->failed_unlocks = 0;
        return;
    }
    if (rc != SKR_EBAD_PASSPHRASE)
        return;
    uint32_t n = srv->failed_unlocks < 16 ? srv->failed_unlocks : 16;
    uint64_t delay = (uint64_t)RATE_LIMIT_BASE_MS << n;
    if (delay > RATE_LIMIT_MAX_MS)
        delay = RATE_LIMIT_MAX_MS;
    srv->failed_unlocks++;
    srv->unlock_blocked_until_ms = uv_now(srv->loop) + delay;
    log_warn("wrong passphrase (%u failed in a row): next attempt allowed in %llu ms",
             srv->failed_unlocks, (unsigned long long)delay);
}

/* Worker thread: only derivation, touching no shared state. */
static void kdf_work(uv_work_t *w)
{
    kdf_job *j = w->data;
    j->rc = store_kdf_derive(&j->kdf, j->secret, j->secret_len, j->keks);
    /* too short to be the hub's keyfile: just a wrong secret */
    if (j->rc == SKR_EINVAL && j->kdf.kind == STORE_KDF_KEYFILE)
        j->rc = SKR_EBAD_PASSPHRASE;
    if (j->rc == 0 && j->op == PROTO_OP_PASSWD)
        j->rc = store_kdf_derive(&j->new_kdf, j->secret2, j->secret2_len, j->keks + STORE_KEY_BYTES);
}

static int finish_on_loop(kdf_job *j, store *hub)
{
    if (j->rc != 0)
        return j->rc;
    switch (j->op) {
    case PROTO_OP_INIT:
        return store_init(hub, &j->kdf, j->keks);
    case PROTO_OP_UNLOCK:
        return store_is_unlocked(hub) ? 0 : store_unlock(hub, j->keks);
    case PROTO_OP_PASSWD:
        return store_passwd(hub, j->keks, &j->new_kdf, j->keks + STORE_KEY_BYTES, j->rotate,
                            NULL);
    default:
        return SKR_EINTERNAL;
    }
}

static void kdf_done(uv_work_t *w, int status)
{
    kdf_job *j = w->data;
    session *s = j->s;
    server *srv = s->srv;
    srv->kdf_running = false;
    srv->kdf_last_ms = uv_now(srv->loop) - srv->kdf_started_ms;
    /* Key changes run in transactions of their own, which an open batch would refuse
     * (SKR_EBUSY). */
    server_batch_drain(srv);
    int rc = status == 0 ? finish_on_loop(j, srv->hub) : SKR_EINTERNAL;
    if (j->op != PROTO_OP_INIT)
        note_attempt(srv, rc);
    if (rc == 0) /* the idle lock counts from the end of a derivation, however long it took */
        srv->last_request_ms = uv_now(srv->loop);
    if (rc == 0) /* unlock (or a passwd that rotated) left the mirror to build */
        server_mirror_build(srv);
    if (rc == 0 && j->op != PROTO_OP_PASSWD)
        log_info("hub %s by pid=%d uid=%u", j->op == PROTO_OP_INIT ? "initialised" : "unlocked",
                 (int)s->pid, (unsigned)s->uid);
    proto_request shown = { .id = j->id, .op = j->op };
    if (!s->closing) {
        dispatch_audit(s->pid, s->uid, &shown, rc);
        if (rc == 0) {
            if (proto_response_ok_empty(&s->out, j->id) != 0)
                s->close_after_flush = true;
        } else {
            reply_error(s, j->id, rc == SKR_ENOMEM ? SKR_EINTERNAL : rc,
                        rc == SKR_ENOMEM ? "not enough memory for the key derivation" : NULL);
        }
        s->waiting = false;
        session_pump(s);
    }
    job_free(j);
    session_unref(s);
}

/* Prepares the KDF parameters the op derives with. */
static int job_params(kdf_job *j, server *srv)
{
    const config *cfg = srv->cfg;
    if (j->op == PROTO_OP_INIT)
        return store_kdf_new(&j->kdf, STORE_KDF_ARGON2ID, cfg->kdf_opslimit, cfg->kdf_memlimit);
    int rc = store_get_kdf(srv->hub, &j->kdf);
    if (rc != 0)
        return rc;
    /* On a keyfile hub the "passphrase" is the keyfile's content: a locked keyfile hub
     * unlocks with those bytes, and passwd turns it into a passphrase hub. */
    if (j->op == PROTO_OP_PASSWD)
        return store_kdf_new(&j->new_kdf, STORE_KDF_ARGON2ID, cfg->kdf_opslimit, cfg->kdf_memlimit);
    return 0;
}

int unlock_submit(session *s, const proto_request *req)
{
    server *srv = s->srv;
    uint64_t wait_ms;
    if (req->op == PROTO_OP_UNLOCK && store_is_unlocked(srv->hub))
        return proto_response_ok_empty(&s->out, req->id) == 0 ? 0 : SKR_ENOMEM;
    if (srv->kdf_running || (req->op != PROTO_OP_INIT && unlock_rate_limited(srv, &wait_ms)))
        return SKR_ERATE_LIMITED;

    kdf_job *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return SKR_ENOMEM;
    j->s = s;
    j->op = req->op;
    j->id = req->id;
    j->rotate = req->op == PROTO_OP_PASSWD && req->rotate;
    j->work.data = j;
    int rc = job_params(j, srv);
    if (rc != 0)
        goto fail;
    const proto_span *first = req->op == PROTO_OP_PASSWD ? &req->old_pass : &req->passphrase;
    j->secret = guarded_copy(first);
    j->secret_len = first->len;
    j->keks = sodium_malloc(2 * STORE_KEY_BYTES);
    if (req->op == PROTO_OP_PASSWD) {
        j->secret2 = guarded_copy(&req->new_pass);
        j->secret2_len = req->new_pass.len;
    }
    if (j->secret == NULL || j->keks == NULL || (req->op == PROTO_OP_PASSWD && j->secret2 == NULL)) {
        rc = SKR_ENOMEM;
        goto fail;
    }
    if (uv_queue_work(srv->loop, &j->work, kdf_work, kdf_done) != 0) {
        rc = SKR_EINTERNAL;
        goto fail;
    }
    srv->kdf_running = true;
    srv->kdf_started_ms = uv_now(srv->loop);
    s->waiting = true;
    session_ref(s);
    return 1;
fail:
    job_free(j);
    return rc;
}
