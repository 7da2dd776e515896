/*
 * client/lib/client.c - the connection: connect, one request/one answer, pipelined gets.
 *
 * The socket is non-blocking and every wait is a poll() bounded by the call's deadline, so
 * a daemon that stops answering costs the caller at most its timeout. Answers are untrusted:
 * a frame length is checked before the buffer grows (proto_reader), the payload is checked
 * as one bounded MessagePack object before it is read (proto_response_decode).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "internal.h"
#include "mp.h"
#include "paths.h"

/* Answers can be larger than requests (a getDb of a big protocol): the codec's ceiling. */
#define CLIENT_MAX_FRAME PROTO_MAX_FRAME_LIMIT

struct skr_client {
    int fd;                 /* -1 once the connection broke */
    int timeout_ms;
    uint32_t next_id;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char errmsg[256];
    int64_t retry_after;    /* the last error's retry_after, or -1 */
    size_t nambiguous;      /* the last error's protocols (ambiguous) */
    char ambiguous[PROTO_MAX_AMBIGUOUS][PROTO_MAX_PROTOCOL + 1];
    proto_buf out;          /* request bytes; wiped after sending */
    proto_buf reply;        /* the last answer's payload; wiped before reuse */
    proto_reader rd;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int remaining(int64_t deadline)
{
    int64_t left = deadline - now_ms();
    return left < 0 ? 0 : (int)left;
}

int skr_default_socket(char *buf, size_t size)
{
    return proto_default_socket(buf, size);
}

/* Forgets the details of the previous call's error. */
static void clear_error(skr_client *c)
{
    c->errmsg[0] = '\0';
    c->retry_after = -1;
    c->nambiguous = 0;
}

/* The protocols of an `ambiguous` answer: only valid protocol names are kept (the text is
 * the daemon's), at most PROTO_MAX_AMBIGUOUS. */
static void note_protocols(skr_client *c, proto_span list)
{
    proto_cur cur = proto_cur_make(list.ptr, list.len);
    uint32_t n;
    if (list.len == 0 || proto_cur_array(&cur, &n) != 0)
        return;
    for (uint32_t i = 0; i < n && c->nambiguous < PROTO_MAX_AMBIGUOUS; i++) {
        const char *str;
        uint32_t len;
        if (proto_cur_str(&cur, &str, &len) != 0)
            return;
        if (!skr_valid_protocol(str, len))
            continue;
        memcpy(c->ambiguous[c->nambiguous], str, len);
        c->ambiguous[c->nambiguous++][len] = '\0';
    }
}

static void client_break(skr_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

int skr_connect(const char *path, int timeout_ms, skr_client **out)
{
    struct sockaddr_un sa;
    skr_client *c = NULL;
    int r, fd = -1;

    if (out == NULL)
        return SKR_EINVAL;
    *out = NULL;
    if (sodium_init() < 0)
        return SKR_EINTERNAL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return SKR_ENOMEM;
    c->fd = -1;
    clear_error(c);
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : SKR_DEFAULT_TIMEOUT_MS;
    c->next_id = 1;
    proto_reader_init(&c->rd, CLIENT_MAX_FRAME);
    if (path == NULL) {
        if ((r = skr_default_socket(c->path, sizeof(c->path))) != 0) {
            r = SKR_ECONNECT;
            goto out;
        }
    } else if (strlen(path) >= sizeof(c->path) || *path == '\0') {
        snprintf(c->path, sizeof(c->path), "%s", path);
        r = SKR_ECONNECT;
        goto out;
    } else {
        memcpy(c->path, path, strlen(path) + 1);
    }

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, c->path, strlen(c->path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        r = errno == ENOMEM || errno == ENOBUFS ? SKR_ENOMEM : SKR_ECONNECT;
        goto out;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        if (errno != EAGAIN && errno != EINPROGRESS) {
            r = SKR_ECONNECT;
            goto out;
        }
        /* Listen backlog full: wait for room within the timeout. */
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        int err = 0;
        socklen_t el = sizeof(err);
        int pr;
        do
            pr = poll(&p, 1, c->timeout_ms);
        while (pr < 0 && errno == EINTR);
        if (pr == 0) {
            r = SKR_ETIMEOUT;
            goto out;
        }
        if (pr < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
            r = SKR_ECONNECT;
            goto out;
        }
    }
    c->fd = fd;
    fd = -1;
    *out = c;
    c = NULL;
    r = 0;
out:
    if (fd >= 0)
        close(fd);
    if (c != NULL)
        skr_client_close(c);
    return r;
}

void skr_client_close(skr_client *c)
{
    if (c == NULL)
        return;
    client_break(c);
    proto_buf_free(&c->out);
    proto_buf_free(&c->reply);
    proto_reader_free(&c->rd);
    sodium_memzero(c, sizeof(*c));
    free(c);
}

void skr_client_set_timeout(skr_client *c, int timeout_ms)
{
    if (c != NULL)
        c->timeout_ms = timeout_ms > 0 ? timeout_ms : SKR_DEFAULT_TIMEOUT_MS;
}

const char *skr_client_path(const skr_client *c)
{
    return c != NULL ? c->path : "";
}

const char *skr_client_errmsg(const skr_client *c)
{
    return c != NULL ? c->errmsg : "";
}

void copy_utf8_bounded(char *dst, size_t cap, const char *s, size_t n)
{
    if (cap == 0)
        return;
    if (n > cap - 1) {
        n = cap - 1;
        /* Do not end inside a multi-byte sequence. */
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
}

/* Sends c->out from offset *sent on; with `nowait`, returns after one write attempt. */
static int send_some(skr_client *c, size_t *sent, int64_t deadline, bool nowait)
{
    while (*sent < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + *sent, c->out.len - *sent, MSG_NOSIGNAL);
        if (n > 0) {
            *sent += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (nowait)
                return 0;
            struct pollfd p = { .fd = c->fd, .events = POLLOUT };
            int pr = poll(&p, 1, remaining(deadline));
            if (pr == 0)
                return SKR_ETIMEOUT;
            if (pr < 0 && errno != EINTR)
                return SKR_EIO;
            continue;
        }
        return SKR_EIO;
    }
    return 0;
}

/* Reads whatever is available now into the reader. 1 read something, 0 nothing yet. */
static int recv_some(skr_client *c)
{
    for (;;) {
        uint8_t *p;
        size_t room;
        if (proto_reader_space(&c->rd, &p, &room) != 0)
            return SKR_ENOMEM;
        ssize_t n = recv(c->fd, p, room, 0);
        if (n > 0) {
            proto_reader_commit(&c->rd, (size_t)n);
            return 1;
        }
        if (n == 0)
            return SKR_EIO; /* the daemon closed the connection */
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        return SKR_EIO;
    }
}

/* Moves the next complete frame (if any) into c->reply. 1 got one, 0 not yet. */
static int take_frame(skr_client *c)
{
    const uint8_t *payload;
    size_t len;
    int r = proto_reader_next(&c->rd, &payload, &len);
    if (r < 0)
        return SKR_EPROTOCOL;
    if (r == 0)
        return 0;
    proto_buf_reset(&c->reply);
    if (proto_buf_append(&c->reply, payload, len) != 0)
        return SKR_ENOMEM;
    return 1;
}

/* Waits for the next whole answer frame into c->reply. */
static int recv_frame(skr_client *c, int64_t deadline)
{
    for (;;) {
        int r = take_frame(c);
        if (r != 0)
            return r < 0 ? r : 0;
        struct pollfd p = { .fd = c->fd, .events = POLLIN };
        int pr = poll(&p, 1, remaining(deadline));
        if (pr == 0)
            return SKR_ETIMEOUT;
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            return SKR_EIO;
        }
        if ((r = recv_some(c)) < 0)
            return r;
    }
}

/* Keeps the daemon's message of an error answer (bounded) and its optional details. */
static void note_error(skr_client *c, const proto_response *resp)
{
    clear_error(c);
    copy_utf8_bounded(c->errmsg, sizeof(c->errmsg), (const char *)resp->message.ptr,
                      resp->message.len);
    if (resp->has_retry_after)
        c->retry_after = resp->retry_after;
    note_protocols(c, resp->protocols);
}

int64_t skr_client_retry_after(const skr_client *c)
{
    return c != NULL ? c->retry_after : -1;
}

size_t skr_client_ambiguous_count(const skr_client *c)
{
    return c != NULL ? c->nambiguous : 0;
}

const char *skr_client_ambiguous(const skr_client *c, size_t i)
{
    return c != NULL && i < c->nambiguous ? c->ambiguous[i] : NULL;
}

/*
 * Sends c->out (one request with id `id`) and reads its answer into *resp (spans into
 * c->reply). Returns 0 for ok:true, the answer's code for ok:false, or a transport error
 * (and the connection is then closed: a half-read stream cannot be trusted).
 */
static int exchange(skr_client *c, uint32_t id, proto_response *resp)
{
    int64_t deadline = now_ms() + c->timeout_ms;
    size_t sent = 0;
    int r;

    if (c->fd < 0) {
        r = SKR_EIO;
        goto out;
    }
    if ((r = send_some(c, &sent, deadline, false)) != 0) {
        /* A daemon that refuses a peer (denied, busy) answers once with id 0 and closes,
         * maybe before our request went out: its answer is still ours to read. */
        if (r == SKR_EIO && recv_frame(c, deadline) == 0 &&
            proto_response_decode(c->reply.data, c->reply.len, resp) == 0 &&
            resp->id == 0 && !resp->ok) {
            note_error(c, resp);
            r = resp->code;
        }
        goto fail;
    }
    proto_buf_reset(&c->out); /* wipes passphrases and bodies now */
    if ((r = recv_frame(c, deadline)) != 0)
        goto fail;
    if ((r = proto_response_decode(c->reply.data, c->reply.len, resp)) != 0)
        goto fail;
    /* id 0: the daemon could not read ours (denied at accept, bad frame). */
    if (resp->id != id && !(resp->id == 0 && !resp->ok)) {
        r = SKR_EPROTOCOL;
        goto fail;
    }
    if (!resp->ok) {
        note_error(c, resp);
        r = resp->code;
        if (resp->id == 0)
            client_break(c); /* the daemon closes after an id-0 error */
    }
    goto out;
fail:
    client_break(c);
out:
    proto_buf_reset(&c->out);
    return r;
}

static int set_str(char *dst, uint32_t *dst_len, size_t cap, const char *s)
{
    size_t n;
    if (s == NULL)
        return SKR_EINVAL;
    n = strlen(s);
    if (n == 0 || n > cap)
        return SKR_EINVAL;
    memcpy(dst, s, n + 1);
    *dst_len = (uint32_t)n;
    return 0;
}

/* Prepares c for a call and encodes req into c->out with a fresh id. */
static int begin(skr_client *c, proto_request *req)
{
    if (c == NULL)
        return SKR_EINVAL;
    clear_error(c);
    req->id = c->next_id++;
    if (c->next_id == 0)
        c->next_id = 1;
    proto_buf_reset(&c->out);
    return proto_request_encode(&c->out, req, PROTO_MAX_FRAME_DEFAULT);
}

/* One call with an already filled request; *resp points into c->reply. */
static int call(skr_client *c, proto_request *req, proto_response *resp)
{
    int r = begin(c, req);
    if (r != 0) {
        proto_buf_reset(&c->out);
        return r;
    }
    return exchange(c, req->id, resp);
}

static int call_simple(skr_client *c, proto_op op)
{
    proto_request req;
    proto_response resp;
    memset(&req, 0, sizeof(req));
    req.op = op;
    return call(c, &req, &resp);
}

/* Reads a map result and finds `key` in it; *val is a cursor at its value. */
static int result_key(const proto_response *resp, const char *key, proto_cur *val)
{
    proto_cur c = proto_cur_make(resp->result.ptr, resp->result.len);
    uint32_t n;
    size_t kl = strlen(key);
    if (proto_cur_map(&c, &n) != 0)
        return SKR_EPROTOCOL;
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t klen;
        if (proto_cur_str(&c, &k, &klen) != 0) {
            if (proto_cur_skip(&c, NULL, NULL) != 0)
                return SKR_EPROTOCOL;
        } else if (klen == kl && memcmp(k, key, kl) == 0) {
            *val = c;
            return 0;
        }
        if (proto_cur_skip(&c, NULL, NULL) != 0)
            return SKR_EPROTOCOL;
    }
    return SKR_EPROTOCOL;
}

static int result_bool(const proto_response *resp, const char *key, bool *v)
{
    proto_cur c;
    int r = result_key(resp, key, &c);
    if (r != 0)
        return r;
    return proto_cur_bool(&c, v) != 0 ? SKR_EPROTOCOL : 0;
}

int skr_ping(skr_client *c)
{
    proto_request req;
    proto_response resp;
    const char *s;
    uint32_t n;
    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_PING;
    int r = call(c, &req, &resp);
    if (r != 0)
        return r;
    proto_cur cur = proto_cur_make(resp.result.ptr, resp.result.len);
    if (proto_cur_str(&cur, &s, &n) != 0 || n != 4 || memcmp(s, "pong", 4) != 0)
        return SKR_EPROTOCOL;
    return 0;
}

int skr_get_status(skr_client *c, skr_status *out)
{
    proto_request req;
    proto_response resp;
    skr_status st;
    uint32_t n;
    int r;

    if (out == NULL)
        return SKR_EINVAL;
    memset(&req, 0, sizeof(req));
    memset(&st, 0, sizeof(st));
    req.op = PROTO_OP_STATUS;
    if ((r = call(c, &req, &resp)) != 0)
        return r;
    proto_cur cur = proto_cur_make(resp.result.ptr, resp.result.len);
    if (proto_cur_map(&cur, &n) != 0)
        return SKR_EPROTOCOL;
    unsigned seen = 0;
    for (uint32_t i = 0; i < n; i++) {
        const char *k, *s;
        uint32_t kl, sl;
        int e = 0;
        if (proto_cur_str(&cur, &k, &kl) != 0) {
            e = proto_cur_skip(&cur, NULL, NULL) | proto_cur_skip(&cur, NULL, NULL);
        }
#define KEY(lit) (kl == sizeof(lit) - 1 && memcmp(k, lit, kl) == 0)
        else if (KEY("initialized")) {
            e = proto_cur_bool(&cur, &st.initialized);
            seen |= 1;
        } else if (KEY("locked")) {
            e = proto_cur_bool(&cur, &st.locked);
            seen |= 2;
        } else if (KEY("version")) {
            e = proto_cur_str(&cur, &s, &sl);
            if (e == 0)
                copy_utf8_bounded(st.version, sizeof(st.version), s, sl);
        } else if (KEY("protocols")) {
            e = proto_cur_uint(&cur, &st.protocols);
        } else if (KEY("credentials")) {
            e = proto_cur_uint(&cur, &st.credentials);
        } else if (KEY("uptime_s")) {
            e = proto_cur_uint(&cur, &st.uptime_s);
        } else if (KEY("idle_lock_s")) {
            e = proto_cur_uint(&cur, &st.idle_lock_s);
        } else {
            e = proto_cur_skip(&cur, NULL, NULL);
        }
#undef KEY
        if (e != 0)
            return SKR_EPROTOCOL;
    }
    if (seen != 3)
        return SKR_EPROTOCOL;
    *out = st;
    return 0;
}

int skr_get(skr_client *c, const char *name, const char *protocol, skr_cred **out)
{
    proto_request req;
    proto_response resp;
    int r;

    if (out == NULL)
        return SKR_EINVAL;
    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_GET;
    if ((r = set_str(req.name, &req.name_len, PROTO_MAX_NAME, name)) != 0)
        return r;
    req.fields = PROTO_F_NAME;
    if (protocol != NULL) {
        if ((r = set_str(req.protocol, &req.protocol_len, PROTO_MAX_PROTOCOL, protocol)) != 0)
            return r;
        req.fields |= PROTO_F_PROTOCOL;
    }
    if ((r = call(c, &req, &resp)) != 0)
        return r;
    r = cred_from_result(resp.result.ptr, resp.result.len, out);
    proto_buf_reset(&c->reply); /* the body is in the credential now; wipe this copy */
    return r;
}

int skr_get_batch(skr_client *c, const skr_get_req *reqs, size_t n, skr_cred **creds,
                  int *codes)
{
    proto_request req;
    uint32_t first;
    size_t sent = 0, got = 0;
    int r = 0;

    if (c == NULL || (n > 0 && (reqs == NULL || creds == NULL || codes == NULL)))
        return SKR_EINVAL;
    if (n > UINT32_MAX / 2)
        return SKR_EINVAL;
    clear_error(c);
    if (c->fd < 0)
        return SKR_EIO;
    for (size_t i = 0; i < n; i++)
        creds[i] = NULL;
    if (n == 0)
        return 0;

    /* Ids are consecutive from `first`, so answer i must carry first + i. */
    if (c->next_id > UINT32_MAX - n)
        c->next_id = 1;
    first = c->next_id;
    proto_buf_reset(&c->out);
    for (size_t i = 0; i < n; i++) {
        memset(&req, 0, sizeof(req));
        req.op = PROTO_OP_GET;
        req.id = first + (uint32_t)i;
        if ((r = set_str(req.name, &req.name_len, PROTO_MAX_NAME, reqs[i].name)) != 0)
            goto out;
        req.fields = PROTO_F_NAME;
        if (reqs[i].protocol != NULL) {
            r = set_str(req.protocol, &req.protocol_len, PROTO_MAX_PROTOCOL, reqs[i].protocol);
            if (r != 0)
                goto out;
            req.fields |= PROTO_F_PROTOCOL;
        }
        if ((r = proto_request_encode(&c->out, &req, PROTO_MAX_FRAME_DEFAULT)) != 0)
            goto out;
    }
    c->next_id = first + (uint32_t)n;
    if (c->next_id == 0)
        c->next_id = 1;

    /* Write and read at once: the daemon may stop reading until we take its answers. */
    int64_t deadline = now_ms() + c->timeout_ms;
    while (got < n) {
        if (sent < c->out.len && (r = send_some(c, &sent, deadline, true)) != 0)
            goto fail;
        for (;;) {
            proto_response resp;
            int t = take_frame(c);
            if (t < 0) {
                r = t;
                goto fail;
            }
            if (t == 0)
                break;
            if ((r = proto_response_decode(c->reply.data, c->reply.len, &resp)) != 0)
                goto fail;
            if (resp.id != first + got) {
                if (resp.id == 0 && !resp.ok) {
                    note_error(c, &resp);
                    r = resp.code; /* denied / busy / bad frame: the daemon hangs up */
                }
                else
                    r = SKR_EPROTOCOL;
                goto fail;
            }
            if (resp.ok) {
                codes[got] = cred_from_result(resp.result.ptr, resp.result.len, &creds[got]);
            } else {
                note_error(c, &resp);
                codes[got] = resp.code;
            }
            proto_buf_reset(&c->reply);
            if (++got == n)
                break;
        }
        if (got == n)
            break;
        struct pollfd p = { .fd = c->fd, .events = POLLIN };
        if (sent < c->out.len)
            p.events |= POLLOUT;
        int pr = poll(&p, 1, remaining(deadline));
        if (pr == 0) {
            r = SKR_ETIMEOUT;
            goto fail;
        }
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            r = SKR_EIO;
            goto fail;
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            int t = recv_some(c);
            if (t < 0) {
                r = t;
                goto fail;
            }
        }
    }
    r = 0;
    goto out;
fail:
    client_break(c);
    for (size_t i = 0; i < n; i++) {
        skr_cred_free(creds[i]);
        creds[i] = NULL;
    }
out:
    proto_buf_reset(&c->out);
    proto_buf_reset(&c->reply);
    sodium_memzero(&req, sizeof(req));
    return r;
}

/* ------------------------------------------------------------------ lists ---- */

struct skr_list {
    size_t n;
    char **names;
    uint64_t *counts;
};

void skr_list_free(skr_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        if (l->names[i] != NULL) {
            sodium_memzero(l->names[i], strlen(l->names[i]));
            free(l->names[i]);
        }
    free(l->names);
    free(l->counts);
    free(l);
}

size_t skr_list_size(const skr_list *l)
{
    return l != NULL ? l->n : 0;
}

const char *skr_list_name(const skr_list *l, size_t i)
{
    return (l != NULL && i < l->n) ? l->names[i] : NULL;
}

uint64_t skr_list_count(const skr_list *l, size_t i)
{
    return (l != NULL && i < l->n) ? l->counts[i] : 0;
}

static int list_new(uint32_t n, skr_list **out)
{
    /* n is bounded by the frame (each element takes at least one byte). */
    skr_list *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return SKR_ENOMEM;
    l->names = calloc(n ? n : 1, sizeof(char *));
    l->counts = calloc(n ? n : 1, sizeof(uint64_t));
    if (l->names == NULL || l->counts == NULL) {
        skr_list_free(l);
        return SKR_ENOMEM;
    }
    *out = l;
    return 0;
}

/* The array under `key` in a reply (cur left on its first item, *n items) and an empty
 * list with room for them. */
static int result_list(const proto_response *resp, const char *key, proto_cur *cur,
                       uint32_t *n, skr_list **l)
{
    int r;
    if ((r = result_key(resp, key, cur)) != 0)
        return r;
    if (proto_cur_array(cur, n) != 0)
        return SKR_EPROTOCOL;
    return list_new(*n, l);
}

static int list_add(skr_list *l, const char *s, uint32_t len, uint64_t count)
{
    char *d = malloc((size_t)len + 1);
    if (d == NULL)
        return SKR_ENOMEM;
    memcpy(d, s, len);
    d[len] = '\0';
    l->names[l->n] = d;
    l->counts[l->n] = count;
    l->n++;
    return 0;
}

int skr_get_db(skr_client *c, const char *protocol, skr_list **out)
{
    proto_request req;
    proto_response resp;
    proto_cur cur;
    skr_list *l = NULL;
    uint32_t n;
    int r;

    if (out == NULL)
        return SKR_EINVAL;
    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_GETDB;
    if ((r = set_str(req.protocol, &req.protocol_len, PROTO_MAX_PROTOCOL, protocol)) != 0)
        return r;
    req.fields = PROTO_F_PROTOCOL;
    if ((r = call(c, &req, &resp)) != 0)
        return r;
    if ((r = result_list(&resp, "names", &cur, &n, &l)) != 0)
        goto out;
    for (uint32_t i = 0; i < n; i++) {
        const char *s;
        uint32_t sl;
        if (proto_cur_str(&cur, &s, &sl) != 0) {
            r = SKR_EPROTOCOL;
            goto out;
        }
        if ((r = list_add(l, s, sl, 0)) != 0)
            goto out;
    }
    *out = l;
    l = NULL;
out:
    skr_list_free(l);
    return r;
}

int skr_get_hub(skr_client *c, skr_list **out)
{
    proto_request req;
    proto_response resp;
    proto_cur cur;
    skr_list *l = NULL;
    uint32_t n;
    int r;

    if (out == NULL)
        return SKR_EINVAL;
    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_GETHUB;
    if ((r = call(c, &req, &resp)) != 0)
        return r;
    if ((r = result_list(&resp, "protocols", &cur, &n, &l)) != 0)
        goto out;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t m;
        const char *name = NULL;
        uint32_t name_len = 0;
        uint64_t count = 0;
        bool have_count = false;
        r = SKR_EPROTOCOL;
        if (proto_cur_map(&cur, &m) != 0)
            goto out;
        for (uint32_t j = 0; j < m; j++) {
            const char *k;
            uint32_t kl;
            if (proto_cur_str(&cur, &k, &kl) != 0)
                goto out;
            if (kl == 4 && memcmp(k, "name", 4) == 0) {
                if (proto_cur_str(&cur, &name, &name_len) != 0)
                    goto out;
            } else if (kl == 5 && memcmp(k, "count", 5) == 0) {
                if (proto_cur_uint(&cur, &count) != 0)
                    goto out;
                have_count = true;
            } else if (proto_cur_skip(&cur, NULL, NULL) != 0) {
                goto out;
            }
        }
        if (name == NULL || !have_count)
            goto out;
        if ((r = list_add(l, name, name_len, count)) != 0)
            goto out;
    }
    r = 0;
    *out = l;
    l = NULL;
out:
    skr_list_free(l);
    return r;
}

/* ----------------------------------------------------------------- writes ---- */

static int write_req(proto_request *req, proto_op op, const char *protocol, const char *name,
                     const void *body, size_t body_len)
{
    int r;
    memset(req, 0, sizeof(*req));
    req->op = op;
    if ((r = set_str(req->protocol, &req->protocol_len, PROTO_MAX_PROTOCOL, protocol)) != 0)
        return r;
    if ((r = set_str(req->name, &req->name_len, PROTO_MAX_NAME, name)) != 0)
        return r;
    req->fields = PROTO_F_PROTOCOL | PROTO_F_NAME;
    if (op != PROTO_OP_DELETE) {
        if (body == NULL || body_len == 0)
            return SKR_EINVAL;
        if (body_len > PROTO_MAX_BODY)
            return SKR_ETOO_LARGE;
        req->body.ptr = body;
        req->body.len = (uint32_t)body_len;
        req->fields |= PROTO_F_BODY;
    }
    return 0;
}

int skr_post(skr_client *c, const char *protocol, const char *name, const void *body,
             size_t body_len)
{
    proto_request req;
    proto_response resp;
    int r = write_req(&req, PROTO_OP_POST, protocol, name, body, body_len);
    if (r == 0)
        r = call(c, &req, &resp);
    return r;
}

int skr_put(skr_client *c, const char *protocol, const char *name, const void *body,
            size_t body_len, bool *created)
{
    proto_request req;
    proto_response resp;
    bool v;
    int r = write_req(&req, PROTO_OP_PUT, protocol, name, body, body_len);
    if (r == 0)
        r = call(c, &req, &resp);
    if (r == 0 && (r = result_bool(&resp, "created", &v)) == 0 && created != NULL)
        *created = v;
    return r;
}

int skr_delete(skr_client *c, const char *protocol, const char *name, bool *deleted)
{
    proto_request req;
    proto_response resp;
    bool v;
    int r = write_req(&req, PROTO_OP_DELETE, protocol, name, NULL, 0);
    if (r == 0)
        r = call(c, &req, &resp);
    if (r == 0 && (r = result_bool(&resp, "deleted", &v)) == 0 && deleted != NULL)
        *deleted = v;
    return r;
}

/* ----------------------------------------------------------- passphrases ---- */

static int pass_span(proto_span *sp, const char *p, size_t n)
{
    if (p == NULL || n == 0 || n > PROTO_MAX_PASSPHRASE)
        return SKR_EINVAL;
    sp->ptr = (const uint8_t *)p;
    sp->len = (uint32_t)n;
    return 0;
}

static int pass_call(skr_client *c, proto_request *req)
{
    proto_response resp;
    int r = call(c, req, &resp);
    sodium_memzero(req, sizeof(*req));
    return r;
}

int skr_init(skr_client *c, const char *pass, size_t len)
{
    proto_request req;
    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_INIT;
    req.fields = PROTO_F_PASSPHRASE;
    int r = pass_span(&req.passphrase, pass, len);
    return r != 0 ? r : pass_call(c, &req);
}

int skr_unlock(skr_client *c, const char *pass, size_t len)
{
    proto_request req;
    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_UNLOCK;
    req.fields = PROTO_F_PASSPHRASE;
    int r = pass_span(&req.passphrase, pass, len);
    return r != 0 ? r : pass_call(c, &req);
}

int skr_passwd(skr_client *c, const char *old_pass, size_t old_len, const char *new_pass,
               size_t new_len)
{
    proto_request req;
    int r;
    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_PASSWD;
    req.fields = PROTO_F_OLD | PROTO_F_NEW;
    if ((r = pass_span(&req.old_pass, old_pass, old_len)) != 0 ||
        (r = pass_span(&req.new_pass, new_pass, new_len)) != 0)
        return r;
    return pass_call(c, &req);
}

int skr_lock(skr_client *c)
{
    return call_simple(c, PROTO_OP_LOCK);
}

int skr_rotate(skr_client *c, uint64_t *records)
{
    proto_request req;
    proto_response resp;
    proto_cur cur;
    uint64_t v;
    int r;
    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_ROTATE;
    if ((r = call(c, &req, &resp)) != 0)
        return r;
    if ((r = result_key(&resp, "records", &cur)) != 0)
        return r;
    if (proto_cur_uint(&cur, &v) != 0)
        return SKR_EPROTOCOL;
    if (records != NULL)
        *records = v;
    return 0;
}

/* --------------------------------------------------------------- raw call ---- */

int skr_call(skr_client *c, const void *req, size_t req_len, void **reply, size_t *reply_len,
             int *error)
{
    proto_response resp;
    size_t obj, mark;
    void *copy;
    int r;

    if (c == NULL || req == NULL || reply == NULL || reply_len == NULL)
        return SKR_EINVAL;
    clear_error(c);
    if (proto_mp_check(req, req_len, &obj) != 0 || obj != req_len)
        return SKR_EINVAL;
    proto_cur cur = proto_cur_make(req, req_len);
    if (proto_cur_peek(&cur) != PROTO_MP_MAP)
        return SKR_EINVAL;
    if (c->fd < 0)
        return SKR_EIO;

    proto_buf_reset(&c->out);
    if ((r = proto_frame_begin(&c->out, &mark)) != 0 ||
        (r = proto_buf_append(&c->out, req, req_len)) != 0 ||
        (r = proto_frame_end(&c->out, mark, CLIENT_MAX_FRAME)) != 0) {
        proto_buf_reset(&c->out);
        return r;
    }
    int64_t deadline = now_ms() + c->timeout_ms;
    size_t sent = 0;
    if ((r = send_some(c, &sent, deadline, false)) != 0 ||
        (r = recv_frame(c, deadline)) != 0 ||
        (r = proto_response_decode(c->reply.data, c->reply.len, &resp)) != 0) {
        client_break(c);
        goto out;
    }
    if (!resp.ok)
        note_error(c, &resp);
    copy = malloc(c->reply.len);
    if (copy == NULL) {
        r = SKR_ENOMEM;
        goto out;
    }
    memcpy(copy, c->reply.data, c->reply.len);
    *reply = copy;
    *reply_len = c->reply.len;
    if (error != NULL)
        *error = resp.ok ? 0 : resp.code;
    r = 0;
out:
    proto_buf_reset(&c->out);
    proto_buf_reset(&c->reply);
    return r;
}

/* --------------------------------------------------------------- utilities ---- */

void skr_string_free(char *s)
{
    if (s == NULL)
        return;
    sodium_memzero(s, strlen(s));
    free(s);
}

void skr_buffer_free(void *p, size_t len)
{
    if (p == NULL)
        return;
    sodium_memzero(p, len);
    free(p);
}

const char *skr_version(void)
{
    return SKR_VERSION_STRING;
}
