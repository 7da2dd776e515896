/*
 * daemon/server.h - the libuv server: listening socket, sessions, hub state machine.
 *
 * One thread runs the loop; only Argon2id runs on libuv's thread pool (see unlock.c), so
 * an unlock never stalls other clients. Handle memory is freed only in close callbacks.
 */
#ifndef DAEMON_SERVER_H
#define DAEMON_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "buf.h"
#include "sekrets/error.h"
#include "config.h"
#include "frame.h"
#include "policy.h"
#include "request.h"
#include "response.h"
#include "store.h"

typedef struct session session;
typedef struct server server;

struct server {
    uv_loop_t *loop;
    uv_pipe_t listener;
    struct creds_server *creds; /* the LoadCredential= socket (creds.c), or NULL */
    uv_signal_t sig_term;
    uv_signal_t sig_int;
    uv_timer_t idle_timer;
    uv_check_t commit_check;  /* group commit: runs after each loop turn's I/O */
    uv_idle_t commit_idle;    /* active while a batch is open: the loop must not sleep */
    uv_timer_t ckpt_timer;    /* checkpoints the journal a while after the first write */
    uv_async_t ckpt_async;    /* the store's checkpoint thread is done (store_ckpt.c) */
    bool ckpt_running;        /* a checkpoint commit runs off the loop: parked requests */
    uint64_t ckpt_started_ms; /* uv_now when it began */
    uv_idle_t mirror_idle;    /* builds the hub's mirror in slices after an unlock */
    uint64_t mirror_started_ms; /* uv_now when that build began */
    bool mirror_paused;       /* stopped for a checkpoint commit (resumed at its end) */
    bool batch_open;          /* writes are waiting in the store's open transaction */
    uint64_t last_commit_ms;  /* uv_now of the last batch commit: quiet since then? */
    const config *cfg;
    store *hub;
    bool own_socket;          /* we bound it (not inherited): remove it at exit */
    char socket_name[112];    /* what is served: the bound path or the inherited address */
    bool stopping;
    uint32_t nsessions;       /* sessions counted against max_clients */
    uint64_t denied_logged_ms; /* when a denied peer was last logged (0: never) */
    uint64_t denied_unlogged;  /* denied peers since, not logged (rate limit) */
    session *sessions;        /* all open sessions (list, for shutdown) */
    uint64_t started_ms;      /* uv_now at start */
    uint64_t last_request_ms; /* for idle auto-lock: the owner's last activity (dispatch.c) */
    /* failed-unlock rate limit */
    uint32_t failed_unlocks;
    uint64_t unlock_blocked_until_ms;
    /* one key derivation at a time (unlock.c): when it began, how long the last one took */
    bool kdf_running;
    uint64_t kdf_started_ms;
    uint64_t kdf_last_ms;
    int exit_code;
};

struct session {
    uv_pipe_t pipe;           /* first member: handles cast back to the session */
    uv_timer_t timer;         /* closes a connection stalled mid-frame, idle, or not reading */
    uv_write_t write_req;
    server *srv;
    session *next, *prev;
    proto_reader reader;
    proto_buf out;            /* replies being gathered */
    proto_buf writing;        /* replies handed to uv_write */
    pid_t pid;
    uid_t uid;
    gid_t gid;
    const policy_grant *grant; /* NULL: the owner */
    bool counted;             /* holds one of max_clients' places */
    bool reading;
    bool write_busy;
    bool close_after_flush;   /* answered a fatal error: close once written */
    bool closing;
    bool waiting;             /* a request is on the thread pool: answers wait for it */
    bool parked;              /* its next frame needs LMDB while a checkpoint commits:
                               * served again once it ends (server_checkpoint_end) */
    bool in_batch;            /* wrote into the open batch: replies held until commit */
    size_t batch_mark;        /* where in `out` the held replies start */
    uint32_t *batch_ids;      /* ids of the held replies, to fail them if commit fails */
    size_t nbatch_ids;
    size_t batch_ids_cap;
    int refs;                 /* open handles + jobs in flight; freed at 0 */
    int timer_mode;           /* which wait the timer measures (session.c) */
    uint64_t timer_since_ms;  /* when that wait began or last made progress */
    bool wrote;               /* a uv_write completed: the write wait made progress */
    bool body_queued;         /* out/writing may hold a get reply (a body): wiped at lock */
};

/* Sets up the listener (bound or inherited), signals and timers. 0 or an exit code.
 * The hub is opened after it (main.c sets srv->hub before the loop runs), so a start
 * refused for its socket creates no hub. */
int server_start(server *srv, uv_loop_t *loop, const config *cfg);
/* Binds and listens on a Unix socket at path after the folder checks (server.c): the
 * folder may be traversable by others when shared_dir, the socket is 0666 when
 * shared_socket, else 0600. 0 with *out_fd, or an EXIT_* code (logged). */
int server_bind_socket(const char *path, bool shared_dir, bool shared_socket, int *out_fd);
/* Begins a graceful stop: no new connections, replies in flight finished, then exit. */
void server_stop(server *srv);
/* Stops the server if the loop has not, lets the loop close its handles and removes the
 * socket the daemon bound. The signal handlers stay installed (until server_release), so
 * a signal during the hub's final checkpoint waits for the end. */
void server_finish(server *srv);
/* After server_finish and the hub's close: closes the signal handlers. */
void server_release(server *srv);
/* Group commit: opens the batch for a write (once per loop turn). 0 or an SKR_E* code. */
int server_batch_open(server *srv);
/* Commits the open batch (one synced journal record), then releases every held reply, or
 * replaces them with errors if the commit failed. Needed before lock/rotate/passwd/init. */
void server_batch_commit(server *srv);
/* Once the hub is open: checkpoints commit on the store's thread, and requests that need
 * LMDB meanwhile wait (parked) until server_checkpoint_end serves them again. */
void server_checkpoints_async(server *srv);
/* A running checkpoint commit ended: settles it and serves the parked requests. */
void server_checkpoint_end(server *srv);
/* After an unlock: builds the hub's in-memory copy of the records a slice per loop turn,
 * between requests (store_mirror_step); gets read LMDB meanwhile. */
void server_mirror_build(server *srv);

/* Locks the hub (lock op, idle lock) and drops every unread reply that holds a body. */
void server_lock(server *srv);

/* session.c */
void session_accept(server *srv);
/* Serves frames that are waiting and flushes replies; resumes after an async request. */
void session_pump(session *s);
void session_close(session *s);
/* At lock: replies with a body that cannot be handed to the socket now are wiped, and
 * their connection closed. */
void session_drop_bodies(session *s);
/* Records that the reply just appended (starting at `mark`) belongs to the open batch. */
int session_hold(session *s, uint32_t id, size_t mark);
/* After the batch commit: releases the held replies, or turns them into `code` errors. */
void session_release(session *s, int code, const char *message);
/* References that keep a session's memory alive (its handles hold one each; a request on
 * the thread pool holds one). */
void session_ref(session *s);
void session_unref(session *s);

/* dispatch.c: serves one decoded request, appending its reply to s->out. Returns 0, or 1
 * when the reply will come later (the request went to the thread pool; s->waiting set),
 * or DISPATCH_PARKED when it needs LMDB while a checkpoint commits: nothing was answered
 * or changed, s->parked is set, and the caller serves the same frame again later. */
#define DISPATCH_PARKED 2
int dispatch(session *s, const proto_request *req);
/* Appends an error reply (closing the connection after it if memory runs out). */
void reply_error(session *s, uint32_t id, int code, const char *message);
/* The same with the optional keys of PROTOCOL.md "Error details". */
void reply_error_ex(session *s, uint32_t id, int code, const char *message,
                    const proto_error_extra *extra);
/* One audit line for a served request (never a body or passphrase). */
void audit(const session *s, const proto_request *req, int code);

/* unlock.c: ops that derive a key (init, unlock, passwd) run Argon2id off the loop. */
int unlock_submit(session *s, const proto_request *req);
bool unlock_rate_limited(server *srv, uint64_t *wait_ms);
/* The message of a `rate_limited` answer given now: why, and how long to wait when that
 * is known. Written into buf (cap bytes); returns buf. *retry_s: the wait in whole
 * seconds, rounded up, at least 1 (1 too when a running derivation's end is unknown). */
const char *unlock_limit_message(server *srv, char *buf, size_t cap, uint32_t *retry_s);

#endif
