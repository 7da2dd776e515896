/*
 * daemon/server.h - the libuv server: listening socket, signals, group commit, idle lock.
 *
 * One thread runs the loop; only Argon2id runs on libuv's thread pool (see unlock.h), so
 * an unlock never stalls other clients. Handle memory is freed only in close callbacks.
 *
 * Ownership: main.c owns the one `server` (static) and the hub it points to (opened after
 * server_start, closed after server_finish); the server owns its handles and the list of
 * sessions (session.h), which free themselves when their handles close. cfg is main.c's
 * and outlives the server.
 */
#ifndef DAEMON_SERVER_H
#define DAEMON_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "store.h"

typedef struct server server;
struct session;

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
    bool sync_pending_seen;   /* a batch's record was written off the loop (its replies
                               * held till then: store_batch_in_flight): logged once */
    bool sync_queued_seen;    /* one was queued behind another in flight: logged once */
    uint64_t closes;          /* sessions closed so far: a walk of the list that pumps
                               * sessions starts over when one closed (server.c) */
    uv_async_t commit_async;  /* the store's journal writer is done (store_jwrite.c) */
    uint64_t last_commit_ms;  /* uv_now of the last batch commit: quiet since then? */
    const config *cfg;
    store *hub;
    bool own_socket;          /* we bound it (not inherited): remove it at exit */
    char socket_name[112];    /* what is served: the bound path or the inherited address */
    bool stopping;
    uint32_t nsessions;       /* sessions counted against max_clients */
    uint64_t denied_logged_ms; /* when a denied peer was last logged (0: never) */
    uint64_t denied_unlogged;  /* denied peers since, not logged (rate limit) */
    struct session *sessions; /* all open sessions (list, for shutdown; session.c links them) */
    uint64_t started_ms;      /* uv_now at start */
    uint64_t last_request_ms; /* for idle auto-lock: the owner's last activity (dispatch_ctx) */
    /* failed-unlock rate limit */
    uint32_t failed_unlocks;
    uint64_t unlock_blocked_until_ms;
    /* one key derivation at a time (unlock.c): when it began, how long the last one took */
    bool kdf_running;
    uint64_t kdf_started_ms;
    uint64_t kdf_last_ms;
    int exit_code;
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
 * replaces them with errors if the commit failed. Needed before lock/rotate/passwd/init:
 * it waits for the records in flight too, so nothing is left to be made durable. The
 * release may serve frames that open the next batch: server_batch_drain commits until
 * none is open (a key change, or an answer that must not show a write not yet durable). */
void server_batch_commit(server *srv);
void server_batch_drain(server *srv);
/* Once the hub is open: checkpoints commit on the store's thread, and requests that need
 * the txn being committed meanwhile (store.h: STORE_ECHECKPOINT) wait (parked) until
 * server_checkpoint_end serves them again. */
void server_checkpoints_async(server *srv);
/* Once the hub is open: a batch's journal record is written on the store's writer thread
 * while the loop serves the next batch (store_batch_commit_start). */
void server_commits_async(server *srv);
/* A running checkpoint commit ended: settles it and serves the parked requests. */
void server_checkpoint_end(server *srv);
/* After an unlock: builds the hub's in-memory copy of the records a slice per loop turn,
 * between requests (store_mirror_step); gets read LMDB meanwhile. */
void server_mirror_build(server *srv);

/* Locks the hub (lock op, idle lock) and drops every unread reply that holds a body. */
void server_lock(server *srv);

#endif
