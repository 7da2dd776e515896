/* The listening socket (bound safely or inherited from systemd), signals, idle lock. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "creds.h"
#include "log.h"
#include "server.h"
#include "session.h"
#include "skr_config.h"

#if SKR_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

/* Makes the socket's folder and refuses one that another user owns or that group/others
 * can enter. With access grants (`shared`), granted users must reach the socket: the
 * folder may then let them traverse it (0711), never list or write it. mkdir applies the
 * mode (the umask can only narrow it); the checks, and the chmod that gives a narrowed
 * shared folder its x bits, go through one O_NOFOLLOW descriptor, so a folder swapped for
 * a symlink is neither followed nor changed. */
static int prepare_socket_dir(const char *socket_path, bool shared)
{
    char copy[sizeof(((struct sockaddr_un *)0)->sun_path)];
    snprintf(copy, sizeof(copy), "%s", socket_path);
    const char *dir = dirname(copy);
    const mode_t mode = shared ? 0711 : 0700, forbidden = shared ? 066 : 077;
    bool made = mkdir(dir, mode) == 0;
    if (!made && errno != EEXIST) {
        log_error("cannot create socket folder %s: %s", dir, strerror(errno));
        return EXIT_RUNTIME;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && (errno == ENOTDIR || errno == ELOOP)) {
        log_error("socket folder %s is not a directory", dir);
        return EXIT_REFUSED;
    }
    if (fd < 0) {
        log_error("cannot open socket folder %s: %s", dir, strerror(errno));
        return EXIT_RUNTIME;
    }
    int rc = 0;
    struct stat st;
    if (made && shared && fchmod(fd, mode) != 0) {
        log_error("cannot chmod socket folder %s: %s", dir, strerror(errno));
        rc = EXIT_RUNTIME;
    } else if (fstat(fd, &st) != 0) {
        log_error("cannot stat socket folder %s: %s", dir, strerror(errno));
        rc = EXIT_RUNTIME;
    } else if (st.st_uid != geteuid()) {
        log_error("socket folder %s belongs to uid %u, not to this user (uid %u)", dir,
                  (unsigned)st.st_uid, (unsigned)geteuid());
        rc = EXIT_REFUSED;
    } else if (st.st_mode & forbidden) {
        log_error("socket folder %s is open to group/others (mode %03o): chmod %o it", dir,
                  (unsigned)(st.st_mode & 0777), (unsigned)mode);
        rc = EXIT_REFUSED;
    } else if (shared && (st.st_mode & 011) != 011) {
        log_warn("access grants are configured but other users cannot enter socket folder "
                 "%s (mode %03o): chmod 711 it", dir, (unsigned)(st.st_mode & 0777));
    }
    close(fd);
    return rc;
}

/* An existing socket file: refuse if a daemon answers on it, remove it if stale. */
static int clear_stale_socket(const struct sockaddr_un *addr)
{
    struct stat st;
    if (lstat(addr->sun_path, &st) != 0)
        return errno == ENOENT ? 0 : EXIT_RUNTIME;
    if (!S_ISSOCK(st.st_mode)) {
        log_error("%s exists and is not a socket; not touching it", addr->sun_path);
        return EXIT_REFUSED;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return EXIT_RUNTIME;
    int rc = connect(fd, (const struct sockaddr *)addr, sizeof(*addr));
    int err = errno;
    close(fd);
    if (rc == 0) {
        log_error("already running: another sekretsd answers on %s", addr->sun_path);
        return EXIT_RUNNING;
    }
    if (err != ECONNREFUSED) {
        log_error("cannot check existing socket %s: %s", addr->sun_path, strerror(err));
        return EXIT_RUNTIME;
    }
    log_info("removing stale socket %s", addr->sun_path);
    if (unlink(addr->sun_path) != 0 && errno != ENOENT) {
        log_error("cannot remove stale socket %s: %s", addr->sun_path, strerror(errno));
        return EXIT_RUNTIME;
    }
    return 0;
}

int server_bind_socket(const char *path, bool shared_dir, bool shared_socket, int *out_fd)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(addr.sun_path)) {
        log_error("socket path too long: %s", path);
        return EXIT_USAGE;
    }
    strcpy(addr.sun_path, path);
    int rc = prepare_socket_dir(path, shared_dir);
    if (rc == 0)
        rc = clear_stale_socket(&addr);
    if (rc != 0)
        return rc;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        log_error("socket: %s", strerror(errno));
        return EXIT_RUNTIME;
    }
    /* The socket file is born 0600: no window where another user could connect. With
     * grants it is born 0666, and SO_PEERCRED against the grants decides each peer. */
    mode_t old = umask(shared_socket ? 0111 : 0177);
    rc = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
    int err = errno;
    umask(old);
    if (rc != 0 || listen(fd, SOMAXCONN) != 0) {
        log_error("cannot listen on %s: %s", path, strerror(rc != 0 ? err : errno));
        close(fd);
        return EXIT_RUNTIME;
    }
    *out_fd = fd;
    return 0;
}

/* Listening sockets passed by systemd (LISTEN_FDS): the one named "creds"
 * (FileDescriptorName=creds, sekretsd-creds.socket) is the LoadCredential= socket, the
 * other one the main socket. Each -1 when not passed. */
static void inherited_sockets(int *main_fd, int *creds_fd)
{
    *main_fd = *creds_fd = -1;
#if SKR_HAVE_SYSTEMD
    char **names = NULL;
    int n = sd_listen_fds_with_names(1, &names);
    for (int i = 0; i < n; i++) {
        int fd = SD_LISTEN_FDS_START + i;
        bool creds = names != NULL && names[i] != NULL && strcmp(names[i], "creds") == 0;
        int *slot = creds ? creds_fd : main_fd;
        if (*slot < 0 && sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) > 0)
            *slot = fd;
        else
            log_warn("systemd passed socket %d (%s) that sekretsd does not use", fd,
                     names != NULL && names[i] != NULL ? names[i] : "unnamed");
    }
    for (int i = 0; names != NULL && names[i] != NULL; i++)
        free(names[i]);
    free(names);
#endif
}

/* The inherited socket's own address for the log and status ("@name" for an abstract
 * one), so that they name what is served, not the path the daemon would have bound. */
static void socket_address(int fd, char *out, size_t cap)
{
    struct sockaddr_un addr;
    socklen_t len = sizeof(addr);
    memset(&addr, 0, sizeof(addr));
    if (getsockname(fd, (struct sockaddr *)&addr, &len) != 0 || len <= offsetof(struct sockaddr_un, sun_path)) {
        snprintf(out, cap, "(unnamed socket)");
        return;
    }
    size_t n = len - offsetof(struct sockaddr_un, sun_path);
    if (addr.sun_path[0] == '\0')
        snprintf(out, cap, "@%.*s", (int)(n - 1), addr.sun_path + 1);
    else
        snprintf(out, cap, "%.*s", (int)strnlen(addr.sun_path, n), addr.sun_path);
}

static void on_connection(uv_stream_t *listener, int status)
{
    server *srv = listener->data;
    if (status < 0) {
        log_warn("accept: %s", uv_strerror(status));
        return;
    }
    if (!srv->stopping)
        session_accept(srv);
}

static void on_idle_timer(uv_timer_t *t)
{
    server *srv = t->data;
    uint64_t idle_ms = (uint64_t)srv->cfg->idle_lock_s * 1000;
    uint64_t quiet = uv_now(srv->loop) - srv->last_request_ms;
    if (quiet >= idle_ms) {
        if (store_is_unlocked(srv->hub)) {
            server_lock(srv);
            log_info("hub locked after %u s without a request", srv->cfg->idle_lock_s);
        }
        uv_timer_start(t, on_idle_timer, idle_ms, 0);
    } else {
        uv_timer_start(t, on_idle_timer, idle_ms - quiet, 0);
    }
}

/* ---- group commit ----
 * Writes that arrive in the same loop turn, from every client, go into one LMDB
 * transaction (each write atomic on its own inside it) that is committed and synced once,
 * after the turn's I/O; only then are their replies released. Under load, many writes
 * share one fsync; alone, a write still costs exactly one. A big batch's journal record
 * is written on the store's writer thread (store_batch_commit_start) while the loop fills
 * the next batch, which queues behind it when its turn ends (up to
 * STORE_BATCH_IN_FLIGHT_MAX records in flight), so the disk goes from one record to the
 * next: each session's held replies form a run per record in flight and one for the
 * open batch (session.h). */

static void server_batch_commit_start(server *srv);

static void on_commit_check(uv_check_t *check)
{
    server *srv = check->data;
    if (store_batch_in_flight(srv->hub) > 0 && !store_batch_queueable(srv->hub)) {
        /* No slot free behind the records in flight (or this batch cannot queue: a
         * checkpoint is due, say): it grows until a notify, and the loop may sleep till
         * then. Committing it here would wait for those writes on the loop. */
        uv_idle_stop(&srv->commit_idle);
        return;
    }
    server_batch_commit_start(srv);
}

static void on_commit_idle(uv_idle_t *idle)
{
    (void)idle; /* its being active is the point: poll does not block */
}

/* Journaled batches reach the data file at a checkpoint (store.h); the store makes one
 * itself every 4 MiB of journal, the daemon one a second after a write. */
#define CHECKPOINT_DELAY_MS 1000

static void on_ckpt_timer(uv_timer_t *t);

/* After a checkpoint (rc its result): quiet for a whole delay, give back the memory the
 * burst of writes left (store.h). While writes go on it would only be taken again: look
 * later. */
static void after_checkpoint(server *srv, int rc)
{
    if (rc != 0) {
        log_error("checkpoint failed (the journal keeps every write): %s",
                  store_errmsg(srv->hub));
        return;
    }
    if (srv->stopping)
        return;
    uint64_t quiet = uv_now(srv->loop) - srv->last_commit_ms;
    if (quiet < CHECKPOINT_DELAY_MS) {
        if (store_trim_pending(srv->hub) && !uv_is_active((uv_handle_t *)&srv->ckpt_timer))
            uv_timer_start(&srv->ckpt_timer, on_ckpt_timer, CHECKPOINT_DELAY_MS - quiet, 0);
        return;
    }
    if (store_trim(srv->hub) != 0)
        log_error("could not reopen the hub after writes: %s", store_errmsg(srv->hub));
}

/* The daemon's side of a checkpoint that store_batch_commit or the timer started on the
 * store's thread: from now on requests that need LMDB are parked (dispatch.c). */
static void note_checkpoint_start(server *srv)
{
    if (srv->ckpt_running || !store_checkpoint_running(srv->hub))
        return;
    srv->ckpt_running = true;
    srv->ckpt_started_ms = uv_now(srv->loop);
}

static void on_ckpt_timer(uv_timer_t *t)
{
    server *srv = t->data;
    if (srv->batch_open || store_batch_in_flight(srv->hub) > 0) { /* commits soon: retry */
        uv_timer_start(t, on_ckpt_timer, 1, 0);
        return;
    }
    if (srv->ckpt_running) /* server_checkpoint_end goes on from here */
        return;
    int rc = store_checkpoint_start(srv->hub);
    if (rc == 1) {
        note_checkpoint_start(srv);
        return;
    }
    after_checkpoint(srv, rc);
}

/* From the store's checkpoint thread: only uv_async_send is safe there. */
static void checkpoint_notify(void *arg)
{
    server *srv = arg;
    uv_async_send(&srv->ckpt_async);
}

static void on_ckpt_async(uv_async_t *a)
{
    server_checkpoint_end(a->data);
}

void server_checkpoints_async(server *srv)
{
    store_checkpoint_async(srv->hub, checkpoint_notify, srv);
}

void server_checkpoint_end(server *srv)
{
    /* Sends coalesce, and lock or close may have joined the commit already (then this one
     * only serves the parked requests); a newer commit still running will notify too. */
    if (!srv->ckpt_running ||
        (store_checkpoint_running(srv->hub) && !store_checkpoint_committed(srv->hub)))
        return;
    srv->ckpt_running = false;
    uint64_t took_ms = uv_now(srv->loop) - srv->ckpt_started_ms;
    after_checkpoint(srv, store_checkpoint_finish(srv->hub));
    unsigned waited = 0;
    for (session *s = srv->sessions, *next; s != NULL; s = next) {
        next = s->next;
        if (s->parked) {
            waited++;
            s->parked = false;
            session_pump(s);
        }
    }
    log_debug("checkpoint committed off the loop in %llu ms (%u connections waited for it)",
              (unsigned long long)took_ms, waited);
    server_mirror_build(srv); /* a build paused for the commit */
}

/* A slice per turn, short against a get's or a write's latency (the 5 ms p99 aim under
 * load): the loop serves whatever arrived between two slices. */
#define MIRROR_SLICE_US 1000u

/* Ends a slice early once the loop has an event waiting (its epoll fd is readable): a
 * request, or the journal writer's word that a batch is durable, whose replies wait for
 * it. Without it a get beside 64 puts during the build waited one to three whole slices
 * (1.0 and 3.6 ms in turn, 2.2 ms on average, measured in the build's first second).
 * Not before MIRROR_SLICE_LEAST_US: under a load that always has an event waiting, slices
 * of 32 entries (each opening a cursor and seeking) left a 1M build unfinished after 5 s
 * beside 64 puts in flight. */
#define MIRROR_SLICE_LEAST_US 500u
static bool loop_has_events(void *arg)
{
    struct pollfd p = { .fd = uv_backend_fd(arg), .events = POLLIN };
    return poll(&p, 1, 0) > 0;
}

static void on_mirror_idle(uv_idle_t *idle)
{
    server *srv = idle->data;
    if (store_checkpoint_running(srv->hub)) { /* resumed by server_checkpoint_end */
        uv_idle_stop(idle);
        srv->mirror_paused = true;
        return;
    }
    if (store_mirror_step_until(srv->hub, MIRROR_SLICE_US, MIRROR_SLICE_LEAST_US,
                                loop_has_events, srv->loop))
        return;
    uv_idle_stop(idle);
    if (store_is_unlocked(srv->hub)) /* lock stops a build: nothing to report then */
        log_info("record mirror built in %llu ms",
                 (unsigned long long)(uv_now(srv->loop) - srv->mirror_started_ms));
}

void server_mirror_build(server *srv)
{
    if (!store_mirror_building(srv->hub) || uv_is_active((uv_handle_t *)&srv->mirror_idle) ||
        srv->stopping)
        return;
    if (!srv->mirror_paused)
        srv->mirror_started_ms = uv_now(srv->loop);
    srv->mirror_paused = false;
    uv_idle_start(&srv->mirror_idle, on_mirror_idle);
}

int server_batch_open(server *srv)
{
    if (srv->batch_open)
        return 0;
    int rc = store_batch_begin(srv->hub);
    if (rc != 0)
        return rc;
    srv->batch_open = true;
    uv_check_start(&srv->commit_check, on_commit_check);
    /* A batch opened from the check callback itself (a released session serving its
     * next buffered request) is committed by the next turn's check: keep the loop from
     * blocking in poll until then. With every slot in flight taken, a notify wakes it. */
    if (store_batch_in_flight(srv->hub) < STORE_BATCH_IN_FLIGHT_MAX)
        uv_idle_start(&srv->commit_idle, on_commit_idle);
    return 0;
}

/* The open batch ends: what writes come next open another. */
static void server_batch_close(server *srv)
{
    srv->batch_open = false;
    srv->last_commit_ms = uv_now(srv->loop);
    uv_check_stop(&srv->commit_check);
    uv_idle_stop(&srv->commit_idle);
}

/* After a batch's commit returned rc: a checkpoint it started, the timer for the next
 * one, and the replies held for it (`which` of each session's), released or failed; the
 * sessions are pumped after (server_batch_pump). */
static void server_batch_settle(server *srv, int which, int rc)
{
    note_checkpoint_start(srv); /* a due one now commits on the store's thread */
    char msg[STORE_ERRMSG_MAX + 32] = "";
    if (rc != 0) {
        snprintf(msg, sizeof(msg), "write not saved: %s", store_errmsg(srv->hub));
        log_error("%s", msg);
    }
    if ((store_checkpoint_pending(srv->hub) || store_trim_pending(srv->hub)) &&
        !uv_is_active((uv_handle_t *)&srv->ckpt_timer) &&
        !srv->stopping)
        uv_timer_start(&srv->ckpt_timer, on_ckpt_timer, CHECKPOINT_DELAY_MS, 0);
    /* Every session's run first, then the pumps: a pump may serve a lock that closes
     * other sessions, and a walk that pumped as it went could stop short of a run that
     * must still fail (its acks would then go out with a later record). */
    for (session *s = srv->sessions; s != NULL; s = s->next) /* |=: a walk of an outer */
        s->pump_due |= session_settle(s, which, rc, msg);     /* call may still owe one */
}

/* Serves the sessions whose held replies were settled. */
static void server_batch_pump(server *srv)
{
    session *s = srv->sessions;
    while (s != NULL) {
        if (!s->pump_due) {
            s = s->next;
            continue;
        }
        uint64_t closes = srv->closes;
        s->pump_due = false;
        session_pump(s);
        /* A session closed meanwhile is out of the list (and s may be that one): start
         * over; the ones pumped already are not due any more. */
        s = srv->closes == closes ? s->next : srv->sessions;
    }
}

static void server_batch_settled(server *srv, int which, int rc)
{
    server_batch_settle(srv, which, rc);
    server_batch_pump(srv);
}

/* Settles every record still in flight, oldest first, without pumping: the store has
 * settled them already (lost with an earlier one, or waited for by a commit here). */
static void server_settle_in_flight(server *srv)
{
    while (store_batch_in_flight(srv->hub) > 0)
        server_batch_settle(srv, SESSION_HELD_WRITING, store_batch_commit_finish(srv->hub));
}

/* The oldest record in flight was written (or is waited for here): its replies go out,
 * or fail together with those of the records behind it and of the open batch, which
 * were lost with it (store.h). */
static void server_sync_end(server *srv)
{
    int rc = store_batch_commit_finish(srv->hub);
    server_batch_settle(srv, SESSION_HELD_WRITING, rc);
    /* The records behind a lost one were lost with it (their finishes give its code at
     * once): settle them before any pump, or a reply served meanwhile, which would wait
     * for the newest of them, would fail with them though it saw nothing they wrote. */
    if (rc != 0)
        server_settle_in_flight(srv);
    server_batch_pump(srv);
}

static void on_commit_async(uv_async_t *a)
{
    server *srv = a->data;
    /* Sends coalesce: one notify may stand for several records written. One may also
     * come late, for a record server_batch_commit already waited for, while the next one
     * is being written: that one's own notify follows. */
    while (store_batch_in_flight(srv->hub) > 0 && store_batch_written(srv->hub))
        server_sync_end(srv);
}

/* From the store's journal writer thread: only uv_async_send is safe there. */
static void commit_notify(void *arg)
{
    server *srv = arg;
    uv_async_send(&srv->commit_async);
}

void server_commits_async(server *srv)
{
    store_batch_async(srv->hub, commit_notify, srv);
}

/* The turn's batch ends: its record goes to the store's writer thread, and its replies
 * wait for it (held, now for the record in flight), or it was written here. */
static void server_batch_commit_start(server *srv)
{
    if (!srv->batch_open)
        return;
    server_batch_close(srv);
    int rc = store_batch_commit_start(srv->hub);
    if (rc == 1) {
        if (!srv->sync_pending_seen) /* once each: the tests look for them */
            log_debug("a batch's journal record is written off the loop");
        srv->sync_pending_seen = true;
        if (!srv->sync_queued_seen && store_batch_in_flight(srv->hub) > 1) {
            log_debug("a batch's journal record is queued behind one in flight");
            srv->sync_queued_seen = true;
        }
        for (session *s = srv->sessions; s != NULL; s = s->next)
            session_hold_advance(s);
        return;
    }
    /* Written here (or lost): the store settled the records in flight first (a thread's
     * failure just now makes it so), so their replies are settled before this batch's,
     * in the order of `out`, and only then is anyone pumped: a pump that opened the next
     * batch would have its replies join a run that is about to be settled. */
    server_settle_in_flight(srv);
    server_batch_settle(srv, SESSION_HELD_OPEN, rc);
    server_batch_pump(srv);
}

/* Commits until no batch is open and nothing is in flight: the release of one batch's
 * replies serves the frames that waited behind them, which may open the next. Those
 * frames are what was already read, so this ends; the bound only guards it. */
void server_batch_drain(server *srv)
{
    for (int i = 0; i < 16 && (srv->batch_open || store_batch_in_flight(srv->hub) > 0); i++)
        server_batch_commit(srv);
}

void server_batch_commit(server *srv)
{
    while (store_batch_in_flight(srv->hub) > 0)
        server_sync_end(srv);
    if (!srv->batch_open)
        return;
    server_batch_close(srv);
    server_batch_settled(srv, SESSION_HELD_OPEN, store_batch_commit(srv->hub));
}

void server_lock(server *srv)
{
    server_batch_commit(srv);
    store_lock(srv->hub); /* stops and wipes a mirror build too */
    uv_idle_stop(&srv->mirror_idle);
    /* A body already packed for a client that does not read would outlive the key. */
    for (session *s = srv->sessions, *next; s != NULL; s = next) {
        next = s->next;
        session_drop_bodies(s);
    }
    creds_lock(srv);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    server *srv = sig->data;
    const char *name = signum == SIGTERM ? "SIGTERM" : "SIGINT";
    if (srv->stopping) { /* a second Ctrl-C must not cut the clean stop short */
        log_info("received %s again: still stopping", name);
        return;
    }
    log_info("received %s: stopping", name);
    server_stop(srv);
}

/* The socket file this daemon bound (not one systemd passed), removed at the end. */
static void remove_own_socket(server *srv)
{
    if (srv->own_socket && unlink(srv->cfg->socket_path) != 0 && errno != ENOENT)
        log_warn("cannot remove socket %s: %s", srv->cfg->socket_path, strerror(errno));
}

int server_start(server *srv, uv_loop_t *loop, const config *cfg)
{
    memset(srv, 0, sizeof(*srv));
    srv->loop = loop;
    srv->cfg = cfg;
    srv->started_ms = srv->last_request_ms = uv_now(loop);

    int fd, creds_fd;
    inherited_sockets(&fd, &creds_fd);
    if (fd < 0 && cfg->socket_path[0] == '\0') {
        log_error("no usable socket from systemd and no socket path: pass --socket");
        return EXIT_USAGE;
    }
    if (fd < 0) {
        bool shared = cfg->policy.ngrants > 0;
        int rc = server_bind_socket(cfg->socket_path, shared, shared, &fd);
        if (rc != 0)
            return rc;
        srv->own_socket = true;
        snprintf(srv->socket_name, sizeof(srv->socket_name), "%s", cfg->socket_path);
        if (cfg->policy.ngrants > 0)
            log_info("access grants: socket %s is open to other users (0666, folder 0711); "
                     "each peer is checked against the grants", cfg->socket_path);
    } else {
        socket_address(fd, srv->socket_name, sizeof(srv->socket_name));
        log_info("using the socket passed by systemd: %s", srv->socket_name);
    }
    if (cfg->policy.ngrants > 0 && cfg->owner_slots >= cfg->max_clients)
        log_warn("owner-slots (%u) is not below max-clients (%u): granted users get no "
                 "connection", cfg->owner_slots, cfg->max_clients);
    uv_pipe_init(loop, &srv->listener, 0);
    srv->listener.data = srv;
    int rc = uv_pipe_open(&srv->listener, fd);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&srv->listener, SOMAXCONN, on_connection);
    if (rc != 0) {
        log_error("cannot listen: %s", uv_strerror(rc));
        remove_own_socket(srv); /* the loop never ran: the socket is ours to take back */
        return EXIT_RUNTIME;
    }
    if ((rc = creds_start(srv, creds_fd)) != 0) {
        remove_own_socket(srv);
        return rc;
    }

    uv_signal_init(loop, &srv->sig_term);
    uv_signal_init(loop, &srv->sig_int);
    srv->sig_term.data = srv->sig_int.data = srv;
    uv_signal_start(&srv->sig_term, on_signal, SIGTERM);
    uv_signal_start(&srv->sig_int, on_signal, SIGINT);

    uv_check_init(loop, &srv->commit_check);
    srv->commit_check.data = srv;
    uv_idle_init(loop, &srv->commit_idle);
    uv_timer_init(loop, &srv->ckpt_timer);
    uv_async_init(loop, &srv->ckpt_async, on_ckpt_async);
    srv->ckpt_async.data = srv;
    uv_async_init(loop, &srv->commit_async, on_commit_async);
    srv->commit_async.data = srv;
    uv_idle_init(loop, &srv->mirror_idle);
    srv->mirror_idle.data = srv;
    srv->ckpt_timer.data = srv;
    uv_timer_init(loop, &srv->idle_timer);
    srv->idle_timer.data = srv;
    if (cfg->idle_lock_s > 0)
        uv_timer_start(&srv->idle_timer, on_idle_timer, (uint64_t)cfg->idle_lock_s * 1000, 0);
    return 0;
}

void server_finish(server *srv)
{
    server_stop(srv);
    uv_run(srv->loop, UV_RUN_DEFAULT);
    remove_own_socket(srv);
    creds_finish(srv);
}

void server_release(server *srv)
{
    if (!uv_is_closing((uv_handle_t *)&srv->sig_term))
        uv_close((uv_handle_t *)&srv->sig_term, NULL);
    if (!uv_is_closing((uv_handle_t *)&srv->sig_int))
        uv_close((uv_handle_t *)&srv->sig_int, NULL);
    uv_run(srv->loop, UV_RUN_DEFAULT); /* runs the close callbacks */
}

void server_stop(server *srv)
{
    if (srv->stopping)
        return;
    srv->stopping = true;
    server_batch_commit(srv);
    /* The commit threads end before their handles close: they must not wake closed ones. */
    store_checkpoint_async(srv->hub, NULL, NULL);
    store_batch_async(srv->hub, NULL, NULL);
    srv->ckpt_running = false;
    for (session *s = srv->sessions; s != NULL; s = s->next)
        s->parked = false; /* closing after their replies: a parked frame is not served */
#if SKR_HAVE_SYSTEMD
    sd_notify(0, "STOPPING=1");
#endif
    uv_close((uv_handle_t *)&srv->listener, NULL);
    creds_stop(srv);
    /* The signal handles stay, unreferenced (they no longer keep the loop running): a
     * signal during the stop is caught, not left to its default action, which would kill
     * the daemon before it checkpoints and removes its socket. server_release closes them. */
    uv_unref((uv_handle_t *)&srv->sig_term);
    uv_unref((uv_handle_t *)&srv->sig_int);
    uv_close((uv_handle_t *)&srv->idle_timer, NULL);
    uv_close((uv_handle_t *)&srv->commit_check, NULL);
    uv_close((uv_handle_t *)&srv->commit_idle, NULL);
    uv_close((uv_handle_t *)&srv->ckpt_timer, NULL); /* store_close checkpoints */
    uv_close((uv_handle_t *)&srv->ckpt_async, NULL);
    uv_close((uv_handle_t *)&srv->commit_async, NULL);
    uv_close((uv_handle_t *)&srv->mirror_idle, NULL);
    /* Every session finishes the replies it owes, then closes. */
    for (session *s = srv->sessions, *next; s != NULL; s = next) {
        next = s->next;
        s->close_after_flush = true;
        session_pump(s);
    }
}
