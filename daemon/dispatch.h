/*
 * daemon/dispatch.h - serving one decoded request: state gate, access policy, the op, its
 * reply (dispatch.c). No libuv here: everything dispatch reads and writes comes in a
 * dispatch_ctx, and what belongs to the loop (group commit, the lock of every session,
 * key derivation on the thread pool, the rate limit's clock) is asked of its host
 * through dispatch_host. The daemon's host is the session (session.c); the fuzzer
 * (tests/fuzz/fuzz_dispatch.c) brings its own.
 *
 * Ownership: the ctx and everything it points to are the caller's; dispatch keeps no
 * pointer into them after it returns. Replies are appended to *out and may hold a body:
 * whoever owns *out wipes it (proto_buf_reset/free).
 */
#ifndef DAEMON_DISPATCH_H
#define DAEMON_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "config.h"
#include "policy.h"
#include "request.h"
#include "response.h"
#include "store.h"

/* What dispatch asks of its host; `arg` is the ctx's host_arg. Every hook is required. */
typedef struct dispatch_host {
    /* Group commit: opens the batch a write goes into (a no-op when one is open). 0 or an
     * SKR_E* code. */
    int (*batch_open)(void *arg);
    /* Commits the open batch, if any, releasing (or failing) every reply it held. Called
     * before lock, rotate, init, unlock and passwd: they run in transactions of their own. */
    void (*batch_commit)(void *arg);
    /* Called after every reply dispatch appended (starting at `mark` in *out): while a
     * batch is open, or this peer's earlier replies are held, the host keeps it back until
     * the commit. 0, or SKR_ENOMEM (the connection is then closed after its replies). */
    int (*hold)(void *arg, uint32_t id, size_t mark);
    /* The lock op: locks the hub and drops every unread reply that holds a body. */
    void (*lock)(void *arg);
    /* init, unlock and passwd (the state gate passed, the batch committed): 1 when the
     * answer will come later from the host itself (the derivation went to the thread
     * pool), else what an op returns: 0 with the reply appended, or an SKR_E* code for
     * dispatch to answer. */
    int (*derive)(void *arg, const proto_request *req);
    /* The message of a `rate_limited` answer given now, written into buf (cap bytes);
     * returns buf. *retry_s: the wait in whole seconds, at least 1. */
    const char *(*limit_message)(void *arg, char *buf, size_t cap, uint32_t *retry_s);
} dispatch_host;

typedef struct dispatch_ctx {
    /* in */
    proto_buf *out;            /* replies are appended here */
    store *hub;
    const config *cfg;         /* max_frame, hub_dir, idle_lock_s */
    const char *socket_name;   /* status: the socket served */
    pid_t pid;                 /* the peer, for audit lines */
    uid_t uid;
    const policy_grant *grant; /* NULL: the owner */
    uint64_t now_ms;           /* the loop's clock now, and when the daemon started */
    uint64_t started_ms;
    const dispatch_host *host;
    void *host_arg;
    /* out: set by dispatch, never cleared (the caller clears them) */
    bool activity;             /* the owner did something: the idle lock counts from now_ms */
    bool close_after_flush;    /* a reply could not be appended: close after the rest */
} dispatch_ctx;

/* Serves one decoded request, appending its reply to *c->out. Returns 0, or 1 when the
 * reply will come later (c->host->derive took it), or DISPATCH_PARKED when it needs LMDB
 * while a checkpoint commits (store.h, STORE_ECHECKPOINT): nothing was answered, audited
 * or changed, and the host serves the same request again once the checkpoint ends. */
#define DISPATCH_PARKED 2
int dispatch(dispatch_ctx *c, const proto_request *req);

/* A request read and not served yet (the host serves it after a frame or two): lets the
 * store start reading what its get will read (store_get_ahead). Answers, audits and
 * changes nothing, whoever the peer is. */
void dispatch_ahead(dispatch_ctx *c, const proto_request *req);

/* One audit line for a served request (never a body or passphrase). */
void dispatch_audit(pid_t pid, uid_t uid, const proto_request *req, int code);

#endif
