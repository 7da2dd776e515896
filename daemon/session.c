/* Per-connection work: peer check, incremental framing, ordered replies, backpressure. */
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dispatch.h"
#include "log.h"
#include "response.h"
#include "sekrets/error.h"
#include "server.h"
#include "session.h"
#include "unlock.h"

/* Stop serving a client's frames while this much of its replies waits to be written. */
#define OUT_HIGH_WATER (256u * 1024u)

/* What a connection's one timer measures: whichever wait it is in. */
enum { TIMER_OFF, TIMER_WRITE, TIMER_FRAME, TIMER_IDLE };

void session_ref(session *s)
{
    s->refs++;
}

void session_unref(session *s)
{
    if (--s->refs > 0)
        return;
    proto_reader_free(&s->reader);
    proto_buf_free(&s->out);
    proto_buf_free(&s->writing);
    for (int i = 0; i < SESSION_HELD_RUNS; i++)
        free(s->held[i].ids);
    free(s);
}

static void session_freed(uv_handle_t *h)
{
    session_unref(h->data);
}

static void session_unlink(session *s)
{
    server *srv = s->srv;
    if (s->prev != NULL)
        s->prev->next = s->next;
    else if (srv->sessions == s)
        srv->sessions = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
    if (s->counted) {
        srv->nsessions--;
        s->counted = false;
    }
}

void session_close(session *s)
{
    if (s->closing)
        return;
    s->closing = true;
    s->srv->closes++;
    session_unlink(s);
    /* Wipe now: the close callbacks come a loop turn later. */
    proto_reader_free(&s->reader);
    proto_buf_free(&s->out);
    /* A pending uv_write is cancelled by uv_close and its callback still runs first: its
     * buffer stays allocated until then, but libuv reads no more of it, so wipe it now. */
    if (s->writing.data != NULL)
        sodium_memzero(s->writing.data, s->writing.cap);
    s->body_queued = false;
    uv_close((uv_handle_t *)&s->timer, session_freed);
    uv_close((uv_handle_t *)&s->pipe, session_freed);
    log_debug("connection closed pid=%d uid=%u", (int)s->pid, (unsigned)s->uid);
}

void reply_error(session *s, uint32_t id, int code, const char *message)
{
    /* Out of memory: the connection cannot be answered in order any more; close it. */
    if (proto_response_error(&s->out, id, code, message) != 0)
        s->close_after_flush = true;
}

static int held_add(session_held *h, uint32_t id)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 64;
        uint32_t *ids = realloc(h->ids, cap * sizeof(*ids));
        if (ids == NULL)
            return SKR_ENOMEM;
        h->ids = ids;
        h->cap = cap;
    }
    h->ids[h->n++] = id;
    return 0;
}

/* The run of the newest record in flight (runs past it are all off: each finish moves
 * them up, held_shift). */
static int newest_writing(const session *s)
{
    unsigned n = store_batch_in_flight(s->srv->hub);
    return n > 0 ? (int)n - 1 : SESSION_HELD_WRITING;
}

/* Records that the reply just appended (starting at `mark`) waits for a batch: the open
 * one, or, with none open, the newest whose record is in flight (a read that may have
 * seen its writes). Runs stay in the order of `out`: once a run began, every later reply
 * joins it or one behind it. */
static int session_hold(session *s, uint32_t id, size_t mark)
{
    int which = s->srv->batch_open || s->held[SESSION_HELD_OPEN].on ? SESSION_HELD_OPEN
                                                                    : newest_writing(s);
    session_held *h = &s->held[which];
    if (!h->on) {
        h->on = true;
        h->mark = mark;
        h->n = 0;
    }
    return held_add(h, id);
}

static bool holding(const session *s)
{
    for (int i = 0; i < SESSION_HELD_RUNS; i++)
        if (s->held[i].on)
            return true;
    return false;
}

void session_hold_advance(session *s)
{
    unsigned n = store_batch_in_flight(s->srv->hub);
    session_held *o = &s->held[SESSION_HELD_OPEN];
    if (!o->on || n == 0)
        return;
    session_held *w = &s->held[n - 1];
    if (!w->on) { /* the usual case: that run was released; its ids array is reused */
        session_held t = *w;
        *w = *o;
        *o = t;
        return;
    }
    for (size_t i = 0; i < o->n; i++) /* both now wait for the same record */
        if (held_add(w, o->ids[i]) != 0)
            s->close_after_flush = true; /* cannot fail them one by one any more */
    o->on = false;
    o->n = 0;
}

/* Replaces the replies of runs from..to (the ones on) with errors for their ids: none of
 * them may be sent, their writes were not saved. The runs lie in that order in `out`. */
static void held_fail(session *s, int from, int to, int code, const char *message)
{
    bool cut = false;
    for (int i = from; i <= to; i++) {
        session_held *h = &s->held[i];
        if (!h->on)
            continue;
        if (!cut) { /* everything from the first failed run on goes */
            sodium_memzero(s->out.data + h->mark, s->out.len - h->mark);
            s->out.len = h->mark;
            cut = true;
        }
        for (size_t k = 0; k < h->n; k++)
            reply_error(s, h->ids[k], code, message);
        h->on = false;
        h->n = 0;
    }
}

/* The oldest record in flight was settled: the next ones move up a run. */
static void held_shift(session *s)
{
    session_held t = s->held[SESSION_HELD_WRITING];
    for (int i = SESSION_HELD_WRITING; i + 1 < SESSION_HELD_OPEN; i++)
        s->held[i] = s->held[i + 1];
    s->held[SESSION_HELD_OPEN - 1] = t;
}

bool session_settle(session *s, int which, int code, const char *message)
{
    /* a lost record in flight took the ones behind it and the open batch too */
    int last = which == SESSION_HELD_WRITING && code != 0 ? SESSION_HELD_OPEN : which;
    bool any = false;
    for (int i = which; i <= last; i++)
        any |= s->held[i].on;
    if (code != 0 && !s->closing) {
        held_fail(s, which, last, code, message);
    } else {
        s->held[which].on = false;
        s->held[which].n = 0;
    }
    if (which == SESSION_HELD_WRITING)
        held_shift(s);
    return any && !s->closing;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    session *s = h->data;
    uint8_t *p;
    size_t n;
    (void)suggested;
    if (proto_reader_space(&s->reader, &p, &n) != 0) {
        buf->base = NULL;
        buf->len = 0;
        return;
    }
    buf->base = (char *)p;
    buf->len = n;
}

/* Empties a reply buffer, wiping it (replies carry bodies); one grown past a few large
 * replies is given back, so an idle connection does not pin it. */
static void buf_done(proto_buf *b)
{
    if (b->cap > PROTO_READER_KEEP)
        proto_buf_free(b);
    else
        proto_buf_reset(b);
}

static bool output_pending(const session *s)
{
    return s->write_busy || s->out.len > 0;
}

static void on_written(uv_write_t *req, int status)
{
    session *s = req->data;
    s->write_busy = false;
    buf_done(&s->writing);
    if (status < 0 || s->closing) {
        if (!s->closing)
            session_close(s);
        return;
    }
    s->wrote = true;
    if (s->out.len == 0)
        s->body_queued = false;
    session_pump(s);
}

/* Where the replies that wait for a batch begin: what comes before may be sent. */
static size_t sendable(const session *s)
{
    for (int i = 0; i < SESSION_HELD_RUNS; i++)
        if (s->held[i].on)
            return s->held[i].mark;
    return s->out.len;
}

/* Takes the first n bytes (sent, or handed to `writing`) out of `out`; the held replies
 * behind them move to the front. */
static void out_consume(session *s, size_t n)
{
    memmove(s->out.data, s->out.data + n, s->out.len - n);
    sodium_memzero(s->out.data + s->out.len - n, n);
    s->out.len -= n;
    for (int i = 0; i < SESSION_HELD_RUNS; i++)
        if (s->held[i].on)
            s->held[i].mark -= n;
}

static void flush(session *s)
{
    /* Held replies are acknowledgements of writes not yet durable: they wait, and what
     * is before them goes. */
    size_t n = sendable(s);
    if (s->write_busy || n == 0 || s->closing)
        return;
    /* Most replies fit the socket buffer: write them now, without queuing a uv_write_t
     * (which costs libuv an extra epoll_ctl and a loop turn per reply). */
    uv_buf_t b = uv_buf_init((char *)s->out.data, (unsigned)n);
    int w = uv_try_write((uv_stream_t *)&s->pipe, &b, 1);
    if (w == (int)n && n == s->out.len) {
        buf_done(&s->out);
        s->body_queued = false; /* nothing is left in our memory */
        return;
    }
    if (w == (int)n) {
        out_consume(s, n);
        return;
    }
    if (w < 0 && w != UV_EAGAIN) {
        log_debug("write failed: %s", uv_strerror(w));
        session_close(s);
        return;
    }
    size_t done = w > 0 ? (size_t)w : 0;
    if (n == s->out.len) {
        /* Swap: `out` keeps gathering replies while `writing` is on the wire. */
        proto_buf t = s->writing;
        s->writing = s->out;
        s->out = t;
    } else { /* held replies stay in `out`: the rest of what may go moves to `writing` */
        if (proto_buf_append(&s->writing, s->out.data, n) != 0) {
            session_close(s);
            return;
        }
        out_consume(s, n);
    }
    b = uv_buf_init((char *)s->writing.data + done, (unsigned)(s->writing.len - done));
    s->write_req.data = s;
    int rc = uv_write(&s->write_req, (uv_stream_t *)&s->pipe, &b, 1, on_written);
    if (rc < 0) {
        log_debug("write failed: %s", uv_strerror(rc));
        session_close(s);
        return;
    }
    s->write_busy = true;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    session *s = stream->data;
    (void)buf;
    if (nread == UV_ENOBUFS) {
        reply_error(s, 0, SKR_EINTERNAL, "out of memory");
        s->close_after_flush = true;
        session_pump(s);
        return;
    }
    if (nread < 0) {
        /* EOF or error: replies still owed are dropped, the peer is gone. */
        session_close(s);
        return;
    }
    proto_reader_commit(&s->reader, (size_t)nread);
    session_pump(s);
}

/* The wait the connection is in now. A request on the thread pool stops the clock: a
 * client waiting on Argon2id is not idle. */
static int timer_mode(const session *s)
{
    if (s->waiting || s->parked)
        return TIMER_OFF;
    if (output_pending(s))
        return TIMER_WRITE;
    if (proto_reader_pending(&s->reader) > 0)
        return TIMER_FRAME;
    return s->srv->cfg->idle_timeout_ms > 0 ? TIMER_IDLE : TIMER_OFF;
}

static void update_timer(session *s, bool progressed);

static uint64_t timer_limit_ms(const session *s)
{
    const config *cfg = s->srv->cfg;
    return s->timer_mode == TIMER_WRITE   ? cfg->write_timeout_ms
           : s->timer_mode == TIMER_FRAME ? cfg->frame_timeout_ms
                                          : cfg->idle_timeout_ms;
}

static void on_timer(uv_timer_t *t)
{
    session *s = t->data;
    if (timer_mode(s) != s->timer_mode) { /* changed outside a pump (at lock) */
        update_timer(s, false);
        return;
    }
    uint64_t limit = timer_limit_ms(s), waited = uv_now(s->srv->loop) - s->timer_since_ms;
    if (waited < limit) { /* progress since it was armed: wait for the rest */
        uv_timer_start(t, on_timer, limit - waited, 0);
        return;
    }
    static const char *const why[] = {
        [TIMER_WRITE] = "replies not read",
        [TIMER_FRAME] = "frame incomplete",
        [TIMER_IDLE] = "idle",
    };
    /* an idle client is ordinary; one stalled mid-frame or not reading is not */
    log_msg(s->timer_mode == TIMER_IDLE ? LOG_INFO : LOG_WARN,
            "closing connection pid=%d uid=%u: %s after %" PRIu64 " ms", (int)s->pid,
            (unsigned)s->uid, why[s->timer_mode], limit);
    session_close(s);
}

/* Reads only while replies are flowing and nothing waits on the thread pool or for a
 * checkpoint. */
static void update_reading(session *s)
{
    bool want = !s->closing && !s->close_after_flush && !s->waiting && !s->parked &&
                s->out.len < OUT_HIGH_WATER && !s->srv->stopping;
    if (want && !s->reading) {
        if (uv_read_start((uv_stream_t *)&s->pipe, on_alloc, on_read) == 0)
            s->reading = true;
    } else if (!want && s->reading) {
        uv_read_stop((uv_stream_t *)&s->pipe);
        s->reading = false;
    }
}

/* Points the timer at the current wait. Progress (a frame taken, a write completed) only
 * moves the wait's start: the timer, when it fires, rearms itself for what is left, so a
 * busy connection costs no timer restart per request. */
static void update_timer(session *s, bool progressed)
{
    if (s->closing)
        return;
    int mode = timer_mode(s);
    if (mode != s->timer_mode || progressed)
        s->timer_since_ms = uv_now(s->srv->loop);
    bool rearm = mode != s->timer_mode || !uv_is_active((uv_handle_t *)&s->timer);
    s->timer_mode = mode;
    if (mode == TIMER_OFF)
        uv_timer_stop(&s->timer);
    else if (rearm)
        uv_timer_start(&s->timer, on_timer, timer_limit_ms(s), 0);
}

/* ---- dispatch's host: the session and its server ---- */

static int host_batch_open(void *arg)
{
    return server_batch_open(((session *)arg)->srv);
}

static void host_batch_commit(void *arg)
{
    server_batch_commit(((session *)arg)->srv);
}

/* While a batch is open, or a batch's record is in flight, every reply waits for it (a
 * read may have seen its writes), and so does every later reply of a session whose
 * earlier ones wait (replies stay in order). */
static int host_hold(void *arg, uint32_t id, size_t mark)
{
    session *s = arg;
    return holding(s) || s->srv->batch_open || store_batch_in_flight(s->srv->hub) > 0
               ? session_hold(s, id, mark)
               : 0;
}

static void host_lock(void *arg)
{
    server_lock(((session *)arg)->srv);
}

static int host_derive(void *arg, const proto_request *req)
{
    return unlock_submit(arg, req);
}

static const char *host_limit_message(void *arg, char *buf, size_t cap, uint32_t *retry_s)
{
    return unlock_limit_message(((session *)arg)->srv, buf, cap, retry_s);
}

static const dispatch_host session_host = {
    .batch_open = host_batch_open,
    .batch_commit = host_batch_commit,
    .hold = host_hold,
    .lock = host_lock,
    .derive = host_derive,
    .limit_message = host_limit_message,
};

/* What dispatch() is given for this session's requests: set once it is admitted. */
static void dispatch_ctx_init(session *s)
{
    server *srv = s->srv;
    s->dctx = (dispatch_ctx){
        .out = &s->out, .cfg = srv->cfg, .socket_name = srv->socket_name,
        .pid = s->pid, .uid = s->uid, .grant = s->grant, .started_ms = srv->started_ms,
        .host = &session_host, .host_arg = s,
    };
}

/* Serves one request through the session's dispatch_ctx: the hub and the clock as of now. */
/* dispatch()'s answer: DISPATCH_PARKED parks the session until the checkpoint ends. */
static int session_dispatch(session *s, const proto_request *req)
{
    server *srv = s->srv;
    dispatch_ctx *c = &s->dctx;
    c->hub = srv->hub;
    c->now_ms = uv_now(srv->loop);
    c->activity = false;
    int rc = dispatch(c, req);
    if (c->activity)
        srv->last_request_ms = c->now_ms;
    if (c->close_after_flush)
        s->close_after_flush = true;
    if (rc == DISPATCH_PARKED)
        s->parked = true;
    return rc;
}

/* An error reply that dispatch did not give: it waits behind the replies held before it
 * like any other, and is counted in their run, so that a lost batch, whose run is wiped
 * and answered again id by id (held_fail), answers it again too. */
static void reply_error_held(session *s, uint32_t id, int code, const char *message)
{
    size_t mark = s->out.len;
    reply_error(s, id, code, message);
    if (host_hold(s, id, mark) != 0)
        s->close_after_flush = true; /* cannot be answered again if the batch is lost */
}

/* The frame next gave, decoded: the one read ahead, or decoded now. It stays first in
 * s->decoded until it has been served. */
static session_decoded *frame_decoded(session *s, const uint8_t *frame, size_t len)
{
    session_decoded *d = &s->decoded[s->decoded_first];

    if (s->decoded_count > 0 && d->frame == frame)
        return d;
    /* none read ahead (the pump's first frame), or (never) not this one */
    d->frame = frame;
    d->rc = proto_request_decode(frame, len, &d->req, d->msg);
    s->decoded_count = 1;
    s->ahead_pos = 0; /* from the reader's start: the frame after this one */
    return d;
}

/* Decodes the frames after the one being served (up to SESSION_AHEAD, those already
 * received whole) and tells dispatch of each, so that the store can start fetching a
 * get's record from memory while the frames before it are served (store_get_ahead: on
 * a big hub those reads wait for memory). Each frame is still decoded once. */
static void read_ahead(session *s)
{
    while (s->decoded_count <= SESSION_AHEAD) {
        const uint8_t *frame;
        size_t len;
        if (!proto_reader_peek(&s->reader, &s->ahead_pos, &frame, &len))
            return;
        session_decoded *d =
            &s->decoded[(s->decoded_first + s->decoded_count) % (SESSION_AHEAD + 1)];
        d->frame = frame;
        d->rc = proto_request_decode(frame, len, &d->req, d->msg);
        s->decoded_count++;
        if (d->rc == 0) {
            s->dctx.hub = s->srv->hub;
            dispatch_ahead(&s->dctx, &d->req);
        }
    }
}

static void frame_served(session *s)
{
    s->decoded_first = (s->decoded_first + 1) % (SESSION_AHEAD + 1);
    s->decoded_count--;
}

static void serve_frame(session *s, const uint8_t *frame, size_t len)
{
    session_decoded *d = frame_decoded(s, frame, len);
    const proto_request *req = &d->req;
    int rc = d->rc;

    read_ahead(s);
    if (rc == SKR_EBAD_FRAME) {
        /* the decoder's message may quote peer bytes: one quoted field, like the audit's */
        char shown[LOG_QUOTED_SIZE(PROTO_ERRMSG_MAX)];
        log_warn("bad frame from pid=%d uid=%u: reason=%s", (int)s->pid, (unsigned)s->uid,
                 log_quote(shown, sizeof(shown), d->msg, strlen(d->msg)));
        reply_error_held(s, req->id, rc, d->msg);
        s->close_after_flush = true;
        frame_served(s);
        return;
    }
    if (rc != 0) {
        dispatch_audit(s->pid, s->uid, req, rc);
        reply_error_held(s, req->id, rc, d->msg);
        frame_served(s);
        return;
    }
    size_t before = s->out.len;
    if (session_dispatch(s, req) == DISPATCH_PARKED) {
        proto_reader_unread(&s->reader, len);
        s->decoded_count = 0; /* the pump stops here; this frame comes again */
        return;
    }
    if (req->op == PROTO_OP_GET && s->out.len != before)
        s->body_queued = true;
    frame_served(s);
}

void session_pump(session *s)
{
    /* An op that commits the open batch first (lock, rotate, init, unlock, passwd)
     * releases this session's held replies, and server_batch_settled pumps it, while the pump
     * already running is serving that op: a nested pump would serve the next frames before
     * it (replies out of order) and compact the reader under the frame still in use (a
     * passwd read its passphrase wiped). The running pump serves the rest, in order. */
    if (s->pumping)
        return;
    s->pumping = true;
    bool progressed = s->wrote;
    s->wrote = false;
    while (!s->closing && !s->close_after_flush && !s->waiting && !s->parked &&
           s->out.len < OUT_HIGH_WATER) {
        const uint8_t *frame;
        size_t len;
        int rc = proto_reader_next(&s->reader, &frame, &len);
        if (rc == 0)
            break;
        progressed = true;
        if (rc < 0) {
            log_warn("bad frame from pid=%d uid=%u: length 0 or above %u",
                     (int)s->pid, (unsigned)s->uid, s->srv->cfg->max_frame);
            reply_error(s, 0, SKR_EBAD_FRAME, "frame length must be 1..max_frame");
            s->close_after_flush = true;
            break;
        }
        serve_frame(s, frame, len);
    }
    s->decoded_count = 0; /* frames read ahead are read again next time */
    if (s->closing)
        goto out;
    /* Frames just served may have held a passphrase or body: wipe them now. */
    proto_reader_compact(&s->reader);
    flush(s);
    if (s->close_after_flush && !s->write_busy && !s->waiting && s->out.len == 0) {
        session_close(s);
        goto out;
    }
    update_reading(s);
    update_timer(s, progressed);
out:
    s->pumping = false;
}

void session_drop_bodies(session *s)
{
    if (s->closing || !s->body_queued)
        return;
    flush(s); /* what the socket takes now is out of our memory */
    if (s->closing)
        return;
    if (!output_pending(s)) {
        update_timer(s, false);
        return;
    }
    log_warn("closing connection pid=%d uid=%u: replies holding a body unread at lock",
             (int)s->pid, (unsigned)s->uid);
    session_close(s);
}

/* SO_PEERCRED: who is on the other end. 0 or -1. */
static int peer_credentials(session *s)
{
    uv_os_fd_t fd;
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (uv_fileno((uv_handle_t *)&s->pipe, &fd) != 0 ||
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof(cred))
        return -1;
    s->pid = cred.pid;
    s->uid = cred.uid;
    s->gid = cred.gid;
    return 0;
}

/* Answers one error frame with id 0 and closes: for refused peers and a full house. */
static void refuse(session *s, int code, const char *msg)
{
    reply_error(s, 0, code, msg);
    s->close_after_flush = true;
    session_pump(s); /* writes it, then closes once it is out */
}

/* A denied peer is logged, but at most once a second: with grants the socket is open to
 * every local user, and one of them connecting in a loop must not flood the journal. */
static void log_denied(server *srv, const session *s)
{
    uint64_t now = uv_now(srv->loop);
    if (srv->denied_logged_ms != 0 && now - srv->denied_logged_ms < 1000) {
        srv->denied_unlogged++;
        return;
    }
    log_warn("denied connection from pid=%d uid=%u gid=%u: no grant (%" PRIu64
             " more denied since the last line)", (int)s->pid, (unsigned)s->uid,
             (unsigned)s->gid, srv->denied_unlogged);
    srv->denied_logged_ms = now;
    srv->denied_unlogged = 0;
}

/* Why a new connection of s->uid gets no place, or NULL. The owner may take every place;
 * another uid neither the last owner_slots of them nor more than max_per_uid, so granted
 * users together cannot lock the owner out. Counting one uid's connections walks the list:
 * it is bounded by max_clients and done once per connection of a granted uid. */
static const char *no_place(const server *srv, const session *s)
{
    const config *cfg = srv->cfg;
    if (srv->nsessions >= cfg->max_clients)
        return "max-clients reached";
    if (s->uid == cfg->policy.owner)
        return NULL;
    if (cfg->owner_slots >= cfg->max_clients ||
        srv->nsessions >= cfg->max_clients - cfg->owner_slots)
        return "only the owner's places are left (owner-slots)";
    uint32_t mine = 0;
    for (const session *o = srv->sessions; o != NULL; o = o->next)
        mine += o->counted && o->uid == s->uid;
    return mine >= cfg->max_per_uid ? "this uid holds max-per-uid connections" : NULL;
}

void session_accept(server *srv)
{
    session *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        log_error("out of memory accepting a connection");
        return;
    }
    s->srv = srv;
    proto_reader_init(&s->reader, srv->cfg->max_frame);
    uv_pipe_init(srv->loop, &s->pipe, 0);
    uv_timer_init(srv->loop, &s->timer);
    s->pipe.data = s->timer.data = s;
    s->refs = 2; /* pipe and timer, dropped by their close callbacks */
    s->next = srv->sessions;
    if (srv->sessions != NULL)
        srv->sessions->prev = s;
    srv->sessions = s;

    if (uv_accept((uv_stream_t *)&srv->listener, (uv_stream_t *)&s->pipe) != 0) {
        session_close(s);
        return;
    }
    if (peer_credentials(s) != 0) {
        log_warn("closing a connection whose peer credentials cannot be read");
        session_close(s);
        return;
    }
    if (s->uid != srv->cfg->policy.owner) {
        s->grant = policy_admit(&srv->cfg->policy, s->uid, s->gid);
        if (s->grant == NULL) {
            log_denied(srv, s);
            refuse(s, SKR_EDENIED, "this uid may not use this daemon");
            return;
        }
    }
    const char *full = no_place(srv, s);
    if (full != NULL) {
        log_warn("refused connection from pid=%d uid=%u: %s", (int)s->pid, (unsigned)s->uid,
                 full);
        refuse(s, SKR_EBUSY, "too many connections, try again later");
        return;
    }
    s->counted = true;
    srv->nsessions++;
    dispatch_ctx_init(s);
    log_debug("connection from pid=%d uid=%u", (int)s->pid, (unsigned)s->uid);
    update_reading(s);
}
