/*
 * client/lib/transport.c - the connection: connect (and check who listens), send, read
 * answers, and the one exchange loop every call goes through.
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "internal.h"
#include "paths.h"

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

void transport_break(skr_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

/* Why connect() failed, in words a person can act on. */
static void connect_why(const char *path, int err, char *why, size_t size)
{
    struct stat st;
    if (err == ENOENT)
        snprintf(why, size, "no such socket: the daemon is not running");
    else if (err == ECONNREFUSED && stat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
        snprintf(why, size, "not a socket");
    else if (err == ECONNREFUSED)
        snprintf(why, size, "connection refused: a stale socket, no daemon listens on it");
    else if (err == EACCES || err == EPERM)
        snprintf(why, size, "permission denied: the socket or its folder is not yours");
    else
        snprintf(why, size, "%s", strerror(err));
}

/* The uid a daemon may run as besides ours and root's: $SEKRETS_DAEMON_UID, decimal.
 * 1: one is set (in *uid); 0: none; SKR_EINVAL: set but not a uid. */
static int configured_uid(uid_t *uid)
{
    const char *s = getenv("SEKRETS_DAEMON_UID");
    char *end;
    if (s == NULL || *s == '\0')
        return 0;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (*s < '0' || *s > '9' || *end != '\0' || errno != 0 || v >= (uid_t)-1)
        return SKR_EINVAL;
    *uid = (uid_t)v;
    return 1;
}

/* Whoever listens on the path gets passphrases and answers with secrets: before anything
 * is sent, the listener must run as us, as root, or as the uid the user named. SO_PEERCRED
 * of a connected Unix socket is the listener's, taken by the kernel at listen(). */
static int check_peer(int fd, const char *path, int has_extra, uid_t extra, char *why,
                      size_t size)
{
    struct ucred cr;
    socklen_t len = sizeof(cr);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0 || len != sizeof(cr)) {
        snprintf(why, size, "cannot tell who runs the daemon at %s: %s", path, strerror(errno));
        return SKR_ECONNECT;
    }
    if (cr.uid == geteuid() || cr.uid == 0 || (has_extra && cr.uid == extra))
        return 0;
    snprintf(why, size, "daemon at %s runs as uid %lu, not you", path, (unsigned long)cr.uid);
    return SKR_EDENIED;
}

/* Connects c->fd to c->path and checks who listens there (check_peer). 0, or an SKR_E*
 * code with the reason in why. c->fd stays -1 on failure. */
static int open_socket(skr_client *c, char *why, size_t size)
{
    struct sockaddr_un sa;
    int r, fd;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, c->path, strlen(c->path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(why, size, "%s", strerror(errno));
        return errno == ENOMEM || errno == ENOBUFS ? SKR_ENOMEM : SKR_ECONNECT;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        if (errno != EAGAIN && errno != EINPROGRESS) {
            connect_why(c->path, errno, why, size);
            r = SKR_ECONNECT;
            goto out;
        }
        /* Listen backlog full: wait for room within the timeout. */
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        int err = 0, pr;
        socklen_t el = sizeof(err);
        do
            pr = poll(&p, 1, c->timeout_ms);
        while (pr < 0 && errno == EINTR);
        if (pr == 0) {
            snprintf(why, size, "the daemon's listen queue stayed full");
            r = SKR_ETIMEOUT;
            goto out;
        }
        if (pr < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
            connect_why(c->path, err != 0 ? err : errno, why, size);
            r = SKR_ECONNECT;
            goto out;
        }
    }
    if ((r = check_peer(fd, c->path, c->has_extra_uid, c->extra_uid, why, size)) != 0)
        goto out;
    c->fd = fd;
    fd = -1;
out:
    if (fd >= 0)
        close(fd);
    return r;
}

int skr_connect(const char *path, int timeout_ms, skr_client **out)
{
    return skr_connect_why(path, timeout_ms, out, NULL, 0);
}

int skr_connect_why(const char *path, int timeout_ms, skr_client **out, char *why_buf,
                    size_t why_size)
{
    skr_client *c = NULL;
    char why[sizeof(c->path) + 128] = "";
    int r;

    if (out == NULL)
        return SKR_EINVAL;
    *out = NULL;
    if (sodium_init() < 0)
        return SKR_EINTERNAL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return SKR_ENOMEM;
    c->fd = -1;
    client_clear_error(c);
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : SKR_DEFAULT_TIMEOUT_MS;
    c->next_id = 1;
    proto_reader_init(&c->rd, CLIENT_MAX_FRAME);
    if ((r = configured_uid(&c->extra_uid)) < 0) {
        snprintf(why, sizeof(why), "SEKRETS_DAEMON_UID is not a uid (a decimal number)");
        goto out;
    }
    c->has_extra_uid = r;
    if (path == NULL) {
        if (skr_default_socket(c->path, sizeof(c->path)) != 0) {
            snprintf(why, sizeof(why), "no socket path (set SEKRETS_SOCKET or XDG_RUNTIME_DIR)");
            r = SKR_ECONNECT;
            goto out;
        }
    } else if (strlen(path) >= sizeof(c->path) || *path == '\0') {
        snprintf(c->path, sizeof(c->path), "%s", path);
        snprintf(why, sizeof(why), "%s", *path == '\0' ? "empty socket path"
                 : "socket path too long");
        r = SKR_ECONNECT;
        goto out;
    } else {
        memcpy(c->path, path, strlen(path) + 1);
    }
    if ((r = open_socket(c, why, sizeof(why))) != 0)
        goto out;
    *out = c;
    c = NULL;
out:
    if (r != 0 && why_buf != NULL && why_size > 0)
        snprintf(why_buf, why_size, "%s", why[0] != '\0' ? why : skr_strerror(r));
    if (c != NULL)
        skr_client_close(c);
    return r;
}

void skr_client_close(skr_client *c)
{
    if (c == NULL)
        return;
    transport_break(c);
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

/* Sends c->out from offset *sent on, as much as the socket takes now. */
static int send_some(skr_client *c, size_t *sent)
{
    while (*sent < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + *sent, c->out.len - *sent, MSG_NOSIGNAL);
        if (n > 0) {
            *sent += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
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

/* Moves the next complete frame (if any) into c->reply (wiping the one before) and wipes
 * it from the reader. 1 got one, 0 not yet. */
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
    /* The frame's bytes in the reader would outlive the call (the next read overwrites
     * only what it gets): wipe them now, as c->reply is wiped once the answer is used. */
    proto_reader_compact(&c->rd);
    return 1;
}

void client_clear_error(skr_client *c)
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

/* Keeps the daemon's message of an error answer (bounded) and its optional details. */
static void note_error(skr_client *c, const proto_response *resp)
{
    client_clear_error(c);
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
 * sekretsd closes a connection that stays idle past its --idle-timeout. A client kept
 * between calls (the usual way to use this library) must not see that as a failure of
 * its next call: when the daemon has hung up while no request was in flight (nothing
 * sent, nothing owed), connect again, with the same checks, before sending. A connection
 * broken during a call stays broken (SKR_EIO): what the daemon did with that call is
 * unknown, and the caller decides whether to repeat it.
 */
static int reopen_if_hung_up(skr_client *c)
{
    if (c->fd < 0)
        return SKR_EIO;
    struct pollfd p = { .fd = c->fd, .events = POLLIN | POLLRDHUP };
    if (poll(&p, 1, 0) <= 0 || !(p.revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)))
        return 0;
    uint8_t b;
    ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n != 0 && !(n < 0 && errno == ECONNRESET))
        return 0; /* bytes nobody asked for: the exchange will refuse them */
    char why[sizeof(c->path) + 128];
    transport_break(c);
    proto_reader_free(&c->rd);
    proto_reader_init(&c->rd, CLIENT_MAX_FRAME);
    int r = open_socket(c, why, sizeof(why));
    if (r != 0)
        copy_utf8_bounded(c->errmsg, sizeof(c->errmsg), why, strlen(why));
    /* the connection this client had is gone (SKR_EIO), unless what now listens there
     * is someone else's daemon: that is worth its own code */
    return r == 0 || r == SKR_EDENIED ? r : SKR_EIO;
}

int transport_roundtrip(skr_client *c, const uint32_t *first, size_t n,
                        transport_answer_fn on_answer, void *ctx)
{
    int64_t deadline = now_ms() + c->timeout_ms;
    size_t sent = 0, got = 0;
    bool sending = true;
    int r;

    if ((r = reopen_if_hung_up(c)) != 0)
        goto fail;
    while (got < n) {
        if (sending) {
            r = send_some(c, &sent);
            /* A daemon that refuses a peer (denied, busy) answers once with id 0 and
             * closes, maybe before our request went out: its answer is still ours. */
            if (r == SKR_EIO)
                sending = false;
            else if (r != 0)
                goto fail;
            else if (sent == c->out.len) {
                proto_buf_reset(&c->out); /* wipes passphrases and bodies now */
                sending = false;
            }
        }
        int t;
        while (got < n && (t = take_frame(c)) != 0) {
            proto_response resp;
            if (t < 0) {
                r = t;
                goto fail;
            }
            if ((r = proto_response_decode(c->reply.data, c->reply.len, &resp)) != 0)
                goto fail;
            bool hangup = resp.id == 0 && !resp.ok; /* the daemon could not read ours */
            if (!resp.ok)
                note_error(c, &resp);
            if (first == NULL) {
                on_answer(ctx, got, &resp); /* raw: the caller's own ids */
            } else if (hangup) {
                r = resp.code;
                goto fail;
            } else if (resp.id != *first + (uint32_t)got) {
                r = SKR_EPROTOCOL;
                goto fail;
            } else {
                on_answer(ctx, got, &resp);
            }
            got++;
            if (hangup)
                transport_break(c);
        }
        if (got == n)
            break;
        struct pollfd p = { .fd = c->fd, .events = POLLIN | (sending ? POLLOUT : 0) };
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
        if ((p.revents & (POLLIN | POLLHUP | POLLERR)) && (r = recv_some(c)) < 0)
            goto fail;
    }
    r = 0;
    goto out;
fail:
    transport_break(c); /* a half-read stream cannot be trusted */
out:
    proto_buf_reset(&c->out);
    return r;
}
