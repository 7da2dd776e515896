/* The LoadCredential= socket: who asks (address, uid, cgroup), what they get (see creds.h). */
#include "creds.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h" /* client/lib: json_render, the body as JSON like `sekrets-cli get --json` */
#include "log.h"
#include "mp.h"
#include "sekrets/error.h"
#include "server.h"
#include "store.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5: a pidfd of the process that connected */
#endif

/* Connections served at once; more are closed unserved (each is one unit starting). */
#define CREDS_MAX_CONNS 64
/* /proc/PID/cgroup: one line per hierarchy; a larger file is refused, not cut. */
#define CGROUP_TEXT_MAX 8192

typedef struct creds_conn creds_conn;
typedef struct creds_server creds_server;

struct creds_conn {
    uv_pipe_t pipe;         /* first member: handles cast back to the connection */
    uv_timer_t timer;       /* the write must finish within --write-timeout */
    uv_write_t write_req;
    creds_server *cs;
    creds_conn *next, *prev;
    proto_buf out;          /* the credential being written; wiped at close */
    int open_handles;       /* freed when both handles have closed */
    bool closing;
};

struct creds_server {
    uv_pipe_t listener;
    server *srv;
    bool own_socket;
    unsigned nconns;
    creds_conn *conns;
};

/* What a connection told us about itself, for the checks and the audit line. */
typedef struct creds_peer {
    pid_t pid;
    uid_t uid;
    char unit[CREDS_UNIT_MAX + 1];
    char id[CREDS_ID_MAX + 1];
    char addr[sizeof(((struct sockaddr_un *)0)->sun_path)];
    size_t addr_len;        /* bytes of the abstract name after its NUL; 0: unnamed */
} creds_peer;

static void audit_creds(const creds_peer *p, const char *result, size_t bytes)
{
    char unit[LOG_QUOTED_SIZE(CREDS_UNIT_MAX)] = "-", id[LOG_QUOTED_SIZE(CREDS_ID_MAX)] = "-";
    char addr[LOG_QUOTED_SIZE(sizeof(p->addr))] = "-";
    if (p->unit[0] != '\0')
        log_quote(unit, sizeof(unit), p->unit, strlen(p->unit));
    if (p->id[0] != '\0')
        log_quote(id, sizeof(id), p->id, strlen(p->id));
    bool ok = strcmp(result, "ok") == 0;
    if (!ok && p->unit[0] == '\0' && p->addr_len > 0) /* the address was refused: show it */
        log_quote(addr, sizeof(addr), p->addr, p->addr_len);
    log_msg(ok ? LOG_INFO : LOG_WARN, "pid=%d uid=%u op=credential unit=%s id=%s%s%s bytes=%zu "
            "result=%s", (int)p->pid, (unsigned)p->uid, unit, id, addr[0] == '"' ? " address=" : "",
            addr[0] == '"' ? addr : "", bytes, result);
}

/* ---- who is asking ---- */

static int peer_address(int fd, creds_peer *p)
{
    struct sockaddr_un sa;
    socklen_t len = sizeof(sa);
    memset(&sa, 0, sizeof(sa));
    if (getpeername(fd, (struct sockaddr *)&sa, &len) != 0 || len > sizeof(sa))
        return -1;
    size_t path = len > offsetof(struct sockaddr_un, sun_path) ? len - offsetof(struct sockaddr_un, sun_path) : 0;
    if (path < 2 || sa.sun_path[0] != '\0') /* unnamed, or a path: not systemd */
        return -1;
    p->addr_len = path - 1;
    memcpy(p->addr, sa.sun_path + 1, p->addr_len);
    return 0;
}

/* A pidfd for the peer: SO_PEERPIDFD names the very process that connected. Before Linux
 * 6.5, pidfd_open(pid) names whoever has that pid now: a peer that exited before we look,
 * its pid recycled into the unit, would be believed (SECURITY.md says so). -1 with errno
 * ESRCH when the peer is gone, ENOSYS when the kernel has no pidfds at all (before 5.3). */
static int peer_pidfd(int fd, pid_t pid)
{
    int pidfd = -1;
    socklen_t len = sizeof(pidfd);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) == 0 && len == sizeof(pidfd))
        return pidfd;
    if (errno != ENOPROTOOPT && errno != EINVAL) {
        errno = ESRCH;
        return -1;
    }
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

/* Still the same living process? A pidfd turns readable once its process has exited
 * (poll, rather than pidfd_send_signal, which seccomp filters and valgrind may lack). */
static bool pidfd_alive(int pidfd)
{
    struct pollfd p = { .fd = pidfd, .events = POLLIN };
    return poll(&p, 1, 0) == 0;
}

/* Reads a small file whole. 0, or -1 with errno (EFBIG when it does not fit in cap). */
static int read_small(const char *path, char *buf, size_t cap, size_t *n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t got = 0;
    ssize_t r;
    while ((r = read(fd, buf + got, cap - got)) > 0 && (got += (size_t)r) < cap)
        ;
    int err = r < 0 ? errno : got == cap ? EFBIG : 0;
    close(fd);
    if (err != 0) {
        errno = err;
        return -1;
    }
    *n = got;
    return 0;
}

/* Is the peer process in the unit's cgroup? NULL when it is, else the audit result.
 * Order matters: the pidfd is taken first, /proc/PID/cgroup read next, and only if the
 * pidfd's process is still alive afterwards was that file the peer's (a pid is not reused
 * while its process lives). */
static const char *check_cgroup(int fd, const creds_peer *p)
{
    char path[64], text[CGROUP_TEXT_MAX], leaf[CREDS_UNIT_MAX + 1];
    size_t n = 0;
    const char *result = NULL;
    int pidfd = peer_pidfd(fd, p->pid);
    if (pidfd < 0 && errno != ENOSYS)
        return "peer_gone";
    snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)p->pid);
    if (read_small(path, text, sizeof(text), &n) != 0)
        /* gone, or hidden from us (hidepid=, ProtectProc=) */
        result = errno == ENOENT || errno == ESRCH ? "peer_gone" : "cgroup_unreadable";
    else if (pidfd >= 0 && !pidfd_alive(pidfd))
        result = "peer_gone";
    else if (creds_cgroup_leaf(text, n, leaf, sizeof(leaf)) != 0 || strcmp(leaf, p->unit) != 0)
        result = "wrong_cgroup";
    if (pidfd >= 0)
        close(pidfd);
    return result;
}

/* ---- what they get ---- */

/* Positions *val at the value of `key` in the body map. 0 or -1. */
static int body_field(proto_cur c, const char *key, proto_cur *val)
{
    uint32_t n;
    size_t klen = strlen(key);
    if (proto_cur_map(&c, &n) != 0)
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t kl;
        if (proto_cur_peek(&c) == PROTO_MP_STR && proto_cur_str(&c, &k, &kl) == 0) {
            if (kl == klen && memcmp(k, key, klen) == 0) {
                *val = c;
                return 0;
            }
        } else if (proto_cur_skip(&c, NULL, NULL) != 0) {
            return -1;
        }
        if (proto_cur_skip(&c, NULL, NULL) != 0)
            return -1;
    }
    return -1;
}

static int append_bounded(proto_buf *out, const void *p, size_t n)
{
    if (n > CREDS_SIZE_MAX - out->len) /* checked before the buffer grows */
        return SKR_ETOO_LARGE;
    return proto_buf_append(out, p, n);
}

/* A field's bytes: a string or bin as they are, anything else as its JSON text. */
static int render_field(proto_buf *out, proto_cur body, const char *key)
{
    proto_cur v;
    const uint8_t *s;
    uint32_t n;
    bool is_bin;
    if (body_field(body, key, &v) != 0)
        return SKR_ENOT_FOUND;
    proto_mp_type t = proto_cur_peek(&v);
    if (t == PROTO_MP_STR || t == PROTO_MP_BIN) {
        if (proto_cur_str_or_bin(&v, &s, &n, &is_bin) != 0)
            return SKR_EINTERNAL;
        return append_bounded(out, s, n);
    }
    int rc = json_render(out, &v, 0, 0);
    return rc == 0 && out->len > CREDS_SIZE_MAX ? SKR_ETOO_LARGE : rc;
}

static int render(const creds_grant *g, const uint8_t *body, size_t len, proto_buf *out)
{
    proto_cur c = proto_cur_make(body, len);
    int rc = 0;
    switch (g->format) {
    case CREDS_FIELD:
        return render_field(out, c, g->field);
    case CREDS_JSON:
        rc = json_render(out, &c, 0, 0);
        return rc == 0 && out->len > CREDS_SIZE_MAX ? SKR_ETOO_LARGE : rc;
    case CREDS_TEMPLATE:
        for (size_t i = 0; i < g->npieces && rc == 0; i++)
            rc = g->pieces[i].is_field ? render_field(out, c, g->pieces[i].text)
                                       : append_bounded(out, g->pieces[i].text, g->pieces[i].len);
        return rc;
    }
    return SKR_EINTERNAL;
}

/* The credential for the grant into out; NULL, or the audit result. */
static const char *fetch(server *srv, const creds_grant *g, proto_buf *out)
{
    store_record rec;
    if (!store_is_unlocked(srv->hub))
        return "locked";
    /* A write not yet durable (the open batch, or a record in flight) may still be lost,
     * and its writer then told so: a unit must not have been handed it. Session replies
     * wait for the batch (held); this one-shot answer makes it durable first (a no-op
     * when there is none), and the batches the commit's release of replies opened. */
    server_batch_drain(srv);
    int rc = store_get(srv->hub, g->protocol, g->name, &rec);
    if (rc == STORE_ECHECKPOINT) {
        /* Rare (a mirror miss while a checkpoint commits): wait for it here rather than
         * park a one-shot connection; server_checkpoint_end serves the parked ones. */
        (void)store_checkpoint_finish(srv->hub);
        rc = store_get(srv->hub, g->protocol, g->name, &rec);
    }
    if (rc != 0)
        return skr_error_name(rc);
    rc = render(g, rec.body, rec.body_len, out);
    store_release(srv->hub); /* wipes the decrypted body */
    if (rc != 0)
        proto_buf_reset(out); /* a template may have rendered part of it: wiped */
    return rc == 0 ? NULL : rc == SKR_ENOT_FOUND ? "no_field" : skr_error_name(rc);
}

/* Runs every check in order; NULL with the credential in k->out, or the audit result. */
static const char *serve(creds_conn *k, int fd, creds_peer *p)
{
    const config *cfg = k->cs->srv->cfg;
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof(cred))
        return "internal";
    p->pid = cred.pid;
    p->uid = cred.uid;
    if (peer_address(fd, p) != 0)
        return "no_address";
    if (creds_parse_address(p->addr, p->addr_len, p->unit, p->id) != 0)
        return "bad_address";
    /* systemd connects as root (system manager) or as the user of a user manager */
    if (p->uid != 0 && p->uid != cfg->policy.owner)
        return "bad_uid";
    const char *r = check_cgroup(fd, p);
    if (r != NULL)
        return r;
    const creds_grant *g = creds_config_find(&cfg->creds, p->unit, p->id);
    if (g == NULL)
        return "denied";
    return fetch(k->cs->srv, g, &k->out);
}

/* ---- connections ---- */

static void on_conn_closed(uv_handle_t *h)
{
    creds_conn *k = h->data;
    if (--k->open_handles > 0)
        return;
    proto_buf_free(&k->out);
    free(k);
}

static void conn_close(creds_conn *k)
{
    if (k->closing)
        return;
    k->closing = true;
    creds_server *cs = k->cs;
    if (k->prev != NULL)
        k->prev->next = k->next;
    else
        cs->conns = k->next;
    if (k->next != NULL)
        k->next->prev = k->prev;
    cs->nconns--;
    uv_close((uv_handle_t *)&k->timer, on_conn_closed);
    uv_close((uv_handle_t *)&k->pipe, on_conn_closed);
}

static void on_written(uv_write_t *req, int status)
{
    creds_conn *k = req->data;
    if (status < 0 && status != UV_ECANCELED)
        log_warn("credential write failed: %s", uv_strerror(status));
    proto_buf_reset(&k->out);
    conn_close(k);
}

static void on_write_timeout(uv_timer_t *t)
{
    creds_conn *k = t->data;
    log_warn("credential not read within the write timeout: connection closed");
    conn_close(k);
}

static void serve_conn(creds_conn *k)
{
    uv_os_fd_t fd;
    creds_peer peer;
    memset(&peer, 0, sizeof(peer));
    const char *result = uv_fileno((uv_handle_t *)&k->pipe, &fd) == 0 ? serve(k, fd, &peer) : "internal";
    audit_creds(&peer, result != NULL ? result : "ok", result != NULL ? 0 : k->out.len);
    if (result != NULL || k->out.len == 0) {
        conn_close(k);
        return;
    }
    uv_buf_t b = uv_buf_init((char *)k->out.data, (unsigned)k->out.len);
    k->write_req.data = k;
    if (uv_write(&k->write_req, (uv_stream_t *)&k->pipe, &b, 1, on_written) != 0) {
        conn_close(k);
        return;
    }
    uv_timer_start(&k->timer, on_write_timeout, k->cs->srv->cfg->write_timeout_ms, 0);
}

static void on_creds_connection(uv_stream_t *listener, int status)
{
    creds_server *cs = listener->data;
    if (status < 0) {
        log_warn("accept on the credentials socket: %s", uv_strerror(status));
        return;
    }
    creds_conn *k = calloc(1, sizeof(*k));
    if (k == NULL) {
        log_error("out of memory accepting a credentials connection");
        return;
    }
    k->cs = cs;
    uv_pipe_init(cs->srv->loop, &k->pipe, 0);
    uv_timer_init(cs->srv->loop, &k->timer);
    k->pipe.data = k->timer.data = k;
    k->open_handles = 2;
    k->next = cs->conns;
    if (cs->conns != NULL)
        cs->conns->prev = k;
    cs->conns = k;
    cs->nconns++;
    if (uv_accept(listener, (uv_stream_t *)&k->pipe) != 0) {
        conn_close(k);
        return;
    }
    if (cs->nconns > CREDS_MAX_CONNS || cs->srv->stopping) {
        creds_peer none;
        memset(&none, 0, sizeof(none));
        audit_creds(&none, "busy", 0);
        conn_close(k);
        return;
    }
    serve_conn(k);
}

int creds_start(server *srv, int inherited_fd)
{
    const config *cfg = srv->cfg;
    int fd = inherited_fd;
    if (fd < 0 && cfg->creds_socket[0] == '\0') {
        if (cfg->creds.ngrants > 0)
            log_warn("[credential] sections are configured but no --credentials-socket is given");
        return 0;
    }
    creds_server *cs = calloc(1, sizeof(*cs));
    if (cs == NULL)
        return EXIT_RUNTIME;
    cs->srv = srv;
    if (fd < 0) {
        /* the folder is shared with the main socket: the same folder rules; the socket 0600 */
        int rc = server_bind_socket(cfg->creds_socket, cfg->policy.ngrants > 0, false, &fd);
        if (rc != 0) {
            free(cs);
            return rc;
        }
        cs->own_socket = true;
    }
    uv_pipe_init(srv->loop, &cs->listener, 0);
    cs->listener.data = cs;
    srv->creds = cs;
    int rc = uv_pipe_open(&cs->listener, fd);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&cs->listener, SOMAXCONN, on_creds_connection);
    if (rc != 0) {
        log_error("cannot listen on the credentials socket: %s", uv_strerror(rc));
        uv_close((uv_handle_t *)&cs->listener, NULL);
        uv_run(srv->loop, UV_RUN_NOWAIT); /* its close callback: nothing else runs yet */
        creds_finish(srv);
        return EXIT_RUNTIME;
    }
    log_info("credentials socket %s: %zu credential(s) configured",
             cs->own_socket ? cfg->creds_socket : "passed by systemd", cfg->creds.ngrants);
    return 0;
}

void creds_stop(server *srv)
{
    creds_server *cs = srv->creds;
    if (cs != NULL && !uv_is_closing((uv_handle_t *)&cs->listener))
        uv_close((uv_handle_t *)&cs->listener, NULL);
}

void creds_lock(server *srv)
{
    creds_server *cs = srv->creds;
    if (cs == NULL)
        return;
    for (creds_conn *k = cs->conns, *next; k != NULL; k = next) {
        next = k->next;
        log_warn("hub locked while a credential was being written: connection closed");
        conn_close(k); /* the pending write is cancelled; the buffer wiped when freed */
    }
}

void creds_finish(server *srv)
{
    creds_server *cs = srv->creds;
    if (cs == NULL)
        return;
    if (cs->own_socket && unlink(srv->cfg->creds_socket) != 0 && errno != ENOENT)
        log_warn("cannot remove socket %s: %s", srv->cfg->creds_socket, strerror(errno));
    free(cs);
    srv->creds = NULL;
}
