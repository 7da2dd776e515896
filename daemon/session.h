/*
 * daemon/session.h - one client connection: peer check, framing, ordered replies, group
 * commit holds, backpressure (session.c).
 *
 * Ownership: session_accept allocates a session and links it into srv->sessions; it is
 * freed when its last reference goes (session_unref): its two handles hold one each until
 * their close callbacks, a request on the thread pool (unlock.h) one more. Its buffers
 * (`reader`, `out`, `writing`) may hold passphrases and bodies and are wiped when emptied.
 * Each request is served by dispatch() (dispatch.h) through the session's dispatch_ctx,
 * which session.c fills from the session and its server when the peer is admitted (the
 * hub and the clock before each request).
 */
#ifndef DAEMON_SESSION_H
#define DAEMON_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "buf.h"
#include "dispatch.h"
#include "frame.h"
#include "policy.h"

struct server;
typedef struct session session;

/* Replies held for one batch (group commit): they acknowledge writes, or show reads of
 * them, that are not durable yet. A session has a run for each batch whose journal record
 * is in flight (up to STORE_BATCH_IN_FLIGHT_MAX, oldest first) and one for the open
 * batch, each behind the one before in `out`. */
typedef struct session_held {
    bool on;
    size_t mark;              /* where in `out` they start */
    uint32_t *ids;            /* their ids, to fail them if the batch is lost */
    size_t n, cap;
} session_held;

enum {
    SESSION_HELD_WRITING = 0, /* the oldest batch whose record is in flight; the next
                               * ones in flight follow (store_batch_in_flight) */
    SESSION_HELD_OPEN = STORE_BATCH_IN_FLIGHT_MAX, /* the open batch (server.batch_open) */
    SESSION_HELD_RUNS
};

/* A frame decoded once, served now or after the one being served (session_pump). */
#define SESSION_AHEAD 2 /* frames looked at ahead of the one served */
typedef struct session_decoded {
    const uint8_t *frame;     /* its payload in the reader */
    int rc;                   /* proto_request_decode's */
    proto_request req;
    char msg[PROTO_ERRMSG_MAX];
} session_decoded;

struct session {
    uv_pipe_t pipe;           /* first member: handles cast back to the session */
    uv_timer_t timer;         /* closes a connection stalled mid-frame, idle, or not reading */
    uv_write_t write_req;
    struct server *srv;
    session *next, *prev;
    proto_reader reader;
    session_decoded decoded[SESSION_AHEAD + 1]; /* the frame being served and those read
                               * ahead of it, in order: only while a pump runs (it empties
                               * them, as the frames may move once it ends) */
    unsigned decoded_first, decoded_count;
    size_t ahead_pos;         /* the reader's offset after the last of them */
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
    session_held held[SESSION_HELD_RUNS]; /* replies held until their batch is durable;
                               * what comes before the first run is sent */
    int refs;                 /* open handles + jobs in flight; freed at 0 */
    int timer_mode;           /* which wait the timer measures (session.c) */
    uint64_t timer_since_ms;  /* when that wait began or last made progress */
    bool wrote;               /* a uv_write completed: the write wait made progress */
    bool body_queued;         /* out/writing may hold a get reply (a body): wiped at lock */
    bool pumping;             /* inside session_pump: a nested call returns at once */
    bool pump_due;            /* a run was released: to be pumped (server_batch_settled) */
    dispatch_ctx dctx;        /* what dispatch() is given: set at admission (session.c) */
};

void session_accept(struct server *srv);
/* Serves frames that are waiting and flushes replies; resumes after an async request. */
void session_pump(session *s);
void session_close(session *s);
/* At lock: replies with a body that cannot be handed to the socket now are wiped, and
 * their connection closed. */
void session_drop_bodies(session *s);
/* After a batch's commit: releases the replies held for it (`which`: SESSION_HELD_OPEN,
 * or SESSION_HELD_WRITING for the oldest record in flight, whose successors then move
 * up), or turns them into `code` errors; a failed record in flight fails those behind it
 * and the open batch's too (the store lost them all). True when a run was released: the
 * caller then pumps the session (server_batch_settled settles every session first, then
 * pumps). */
bool session_settle(session *s, int which, int code, const char *message);
/* The open batch's record went to the writer thread, behind those in flight: its held
 * replies now wait for that record (SESSION_HELD_OPEN becomes the last run in flight). */
void session_hold_advance(session *s);
/* References that keep a session's memory alive (its handles hold one each; a request on
 * the thread pool holds one). */
void session_ref(session *s);
void session_unref(session *s);
/* Appends an error reply to s->out (closing the connection after it if memory runs out). */
void reply_error(session *s, uint32_t id, int code, const char *message);

#endif
