/*
 * bench_wire: a pipelined load client for sekretsd and Redis, and the floor they are
 * measured against.
 *
 *   bench_wire --socket PATH [--redis] [--op get|getdb|put|ping] [--clients N] [--depth D]
 *              [--seconds S] [--protocols P] [--names N] [--server-pid PID]
 *              [--beside-puts D] [--label TEXT] [--csv FILE]
 *   bench_wire --echo [--clients N] [--depth D] [--seconds S] [--names N]
 *   bench_wire --socket PATH [--redis] --populate N [--protocols P] [--body-bytes B]
 *
 * Each client is one connection keeping D requests in flight, all driven by one epoll
 * thread (as redis-benchmark drives its clients); every request's latency is taken from
 * its send to its reply. Every request is made when it is sent, for a credential drawn
 * uniformly from all N (bench_kv.h), and every reply is checked: a get must return that
 * credential's name and body, byte for byte, or it counts as an error. --server-pid
 * reads the server's CPU time from /proc/PID/task/<all>/schedstat before and after the
 * load, so that the figure per request leaves this client's own cost out.
 * --echo starts, in a child process, a single-threaded epoll server that answers each
 * frame with a reply of the size of a get reply for a 64-byte body: the cost of the Unix
 * socket alone (the floor); its CPU is reported the same way.
 * --beside-puts D adds one more connection that keeps D puts in flight during the load
 * (the same bodies again, each reply checked): the load's latency under a concurrent write
 * load, which is what a checkpoint stalling the server shows in (its longest wait is the
 * max). Its puts get a line (and CSV row) of their own, labelled LABEL_puts.
 * Prints one line: label, requests/s, p50, p99 and max in microseconds, server and client
 * CPU per request in microseconds, errors. The CSV row ends with the max.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bench_kv.h"
#include "buf.h"
#include "frame.h"
#include "sekrets/error.h"

#define MAX_DEPTH 1024

struct opts {
    const char *socket;
    const char *label;
    const char *csv;
    int clients, depth;
    double seconds;
    unsigned long names;
    unsigned long populate;
    long server_pid;
    int echo;
    int beside_puts; /* depth of the extra put connection (0: none) */
    size_t reply_bytes; /* echo: reply size */
    kv_spec kv;
};

/* One connection of the load: its own id space and requests in flight. */
typedef struct lats lats;
typedef struct opts opts;

typedef struct conn {
    const opts *o;   /* what this connection sends: the load's, or the puts beside it */
    lats *l;         /* where its latencies go */
    int fd;
    uint64_t rng;
    proto_reader rd; /* sekrets frames */
    kv_in in;        /* RESP replies */
    proto_buf out;
    uint32_t next_id, in_flight;
    double sent_at[MAX_DEPTH];
    unsigned long which[MAX_DEPTH]; /* the credential each request in flight asked for */
} conn;

/* Latencies of every request, in microseconds. */
struct lats {
    double *v;
    size_t n, cap;
    unsigned long errors;
};

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* CPU time of every thread of pid, in nanoseconds (schedstat's first field), or 0. */
static unsigned long long task_cpu_ns(long pid)
{
    char path[64], line[128];
    unsigned long long sum = 0, v;
    struct dirent *d;
    DIR *dir;

    snprintf(path, sizeof(path), "/proc/%ld/task", pid);
    if (pid <= 0 || (dir = opendir(path)) == NULL)
        return 0;
    while ((d = readdir(dir)) != NULL) {
        if (d->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/%ld/task/%.20s/schedstat", pid, d->d_name);
        FILE *f = fopen(path, "re");
        if (f == NULL)
            continue;
        if (fgets(line, sizeof(line), f) != NULL && sscanf(line, "%llu", &v) == 1)
            sum += v;
        fclose(f);
    }
    closedir(dir);
    return sum;
}

static double self_cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec * 1e6 + (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec * 1e6 + (double)ru.ru_stime.tv_usec;
}

static int dial(const char *path)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        fprintf(stderr, "bench_wire: cannot connect to %s: %s\n", path, strerror(errno));
        exit(1);
    }
    return fd;
}

static void write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) {
            if (w < 0 && errno == EINTR)
                continue;
            perror("bench_wire: write");
            exit(1);
        }
        p += w;
        n -= (size_t)w;
    }
}

/* xorshift64*: uniform enough over a million names, and cheap. */
static unsigned long pick(conn *c, unsigned long n)
{
    c->rng ^= c->rng >> 12;
    c->rng ^= c->rng << 25;
    c->rng ^= c->rng >> 27;
    return (unsigned long)((c->rng * 0x2545F4914F6CDD1DULL) >> 11) % n;
}

static void record(lats *l, double us)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 65536;
        l->v = realloc(l->v, l->cap * sizeof(double));
        if (l->v == NULL)
            exit(1);
    }
    l->v[l->n++] = us;
}

/* Tops the connection up to `depth` requests in flight and sends them in one write. */
static void refill(const opts *o, conn *c)
{
    proto_buf_reset(&c->out);
    uint32_t first = c->next_id;
    while (c->in_flight < (uint32_t)o->depth) {
        unsigned long i = pick(c, o->names);
        c->which[c->next_id % MAX_DEPTH] = i;
        kv_encode(&o->kv, i, c->next_id, &c->out);
        c->next_id++;
        c->in_flight++;
    }
    if (c->out.len == 0)
        return;
    double t = now_us();
    for (uint32_t id = first; id != c->next_id; id++)
        c->sent_at[id % MAX_DEPTH] = t;
    write_all(c->fd, c->out.data, c->out.len);
}

static void read_some(int fd, uint8_t *p, size_t room, size_t *got)
{
    ssize_t n = read(fd, p, room);
    if (n <= 0) {
        fprintf(stderr, "bench_wire: connection closed by the server\n");
        exit(1);
    }
    *got = (size_t)n;
}

/* The oldest request in flight is answered: one latency, and a wrong answer an error. */
static void answered(conn *c, lats *l, double t, uint32_t id, int bad)
{
    if (bad < 0) {
        fprintf(stderr, "bench_wire: invalid reply\n");
        exit(1);
    }
    if (bad)
        l->errors++;
    record(l, t - c->sent_at[id % MAX_DEPTH]);
    c->in_flight--;
}

static void take_frames(const opts *o, conn *c, lats *l, double t, proto_buf *scratch)
{
    const uint8_t *frame;
    size_t len;

    while (proto_reader_next(&c->rd, &frame, &len) == 1) {
        uint32_t want = c->next_id - c->in_flight, id = want;
        int bad = 0;
        if (!o->echo) {
            bad = kv_check_frame(&o->kv, frame, len, c->which[want % MAX_DEPTH], &id, scratch);
            bad = bad == 0 && id != want ? 1 : bad; /* replies come in request order */
        }
        answered(c, l, t, want, bad);
    }
}

static void take_resp(const opts *o, conn *c, lats *l, double t, proto_buf *scratch)
{
    size_t at = 0, used;

    for (;;) {
        uint32_t want = c->next_id - c->in_flight;
        int bad = kv_check_resp(&o->kv, &c->in, at, &used, c->which[want % MAX_DEPTH], scratch);
        if (used == 0 && bad == 0)
            break;
        answered(c, l, t, want, bad);
        at += used;
    }
    memmove(c->in.p, c->in.p + at, c->in.len - at);
    c->in.len -= at;
}

/* Reads what the connection has, takes every whole reply; 1 while it owes replies. */
static int drain(const opts *o, conn *c, lats *l, int stopping, proto_buf *scratch)
{
    uint8_t *p;
    size_t room, n;

    if (o->kv.redis) {
        if (c->in.cap - c->in.len < 65536) {
            c->in.cap = c->in.cap ? c->in.cap * 2 : 1 << 17;
            if ((c->in.p = realloc(c->in.p, c->in.cap)) == NULL)
                exit(1);
        }
        read_some(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len, &n);
        c->in.len += n;
        take_resp(o, c, l, now_us(), scratch);
    } else {
        proto_reader_space(&c->rd, &p, &room);
        read_some(c->fd, p, room, &n);
        proto_reader_commit(&c->rd, n);
        take_frames(o, c, l, now_us(), scratch);
    }
    if (!stopping)
        refill(o, c);
    return c->in_flight > 0;
}

/* The load: one thread drives every connection through epoll, as redis-benchmark does,
 * so that client threads do not compete with the server for the cores. */
static void run_load(const opts *o, lats *l, const opts *po, lats *pl)
{
    int nconn = o->clients + (po != NULL);
    conn *cs = calloc((size_t)nconn, sizeof(*cs));
    proto_buf scratch = PROTO_BUF_INIT;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < nconn; i++) {
        cs[i].o = i < o->clients ? o : po;
        cs[i].l = i < o->clients ? l : pl;
        cs[i].fd = dial(o->socket);
        cs[i].rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1) ^ (uint64_t)getpid();
        proto_reader_init(&cs[i].rd, PROTO_MAX_FRAME_LIMIT);
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &cs[i] };
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
    }
    double end = now_us() + o->seconds * 1e6;
    for (int i = 0; i < nconn; i++)
        refill(cs[i].o, &cs[i]);
    int owing = nconn, stopping = 0;
    while (owing > 0) {
        struct epoll_event evs[256];
        int n = epoll_wait(ep, evs, 256, 1000);
        stopping = stopping || now_us() >= end;
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (!drain(c->o, c, c->l, stopping, &scratch)) {
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                owing--;
            }
        }
    }
    for (int i = 0; i < nconn; i++) {
        close(cs[i].fd);
        proto_reader_free(&cs[i].rd);
        proto_buf_free(&cs[i].out);
        free(cs[i].in.p);
    }
    close(ep);
    proto_buf_free(&scratch);
    free(cs);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ---- the floor: a single-threaded epoll echo of reply-sized frames ---- */

typedef struct echo_conn {
    int fd;
    proto_reader rd;
} echo_conn;

static int echo_listen_fd;
static pid_t echo_pid;
static size_t echo_reply_bytes;

static void echo_serve(int ep, echo_conn *ec, const uint8_t *reply, proto_buf *out)
{
    uint8_t *p;
    size_t room;
    proto_reader_space(&ec->rd, &p, &room);
    ssize_t r = read(ec->fd, p, room);
    if (r <= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, ec->fd, NULL);
        close(ec->fd);
        proto_reader_free(&ec->rd);
        free(ec);
        return;
    }
    proto_reader_commit(&ec->rd, (size_t)r);
    const uint8_t *f;
    size_t len;
    proto_buf_reset(out);
    while (proto_reader_next(&ec->rd, &f, &len) == 1)
        proto_buf_append(out, reply, echo_reply_bytes);
    if (out->len > 0)
        write_all(ec->fd, out->data, out->len); /* replies are small: fits the socket */
}

static void echo_main(void)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    epoll_ctl(ep, EPOLL_CTL_ADD, echo_listen_fd, &ev);
    uint8_t *reply = calloc(1, echo_reply_bytes);
    proto_put_be32(reply, (uint32_t)(echo_reply_bytes - 4));
    proto_buf out = PROTO_BUF_INIT;
    for (;;) {
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, -1);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr != NULL) {
                echo_serve(ep, evs[i].data.ptr, reply, &out);
                continue;
            }
            int fd = accept4(echo_listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0)
                continue;
            echo_conn *ec = calloc(1, sizeof(*ec));
            ec->fd = fd;
            proto_reader_init(&ec->rd, PROTO_MAX_FRAME_LIMIT);
            struct epoll_event e2 = { .events = EPOLLIN, .data.ptr = ec };
            epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e2);
        }
    }
}

static const char *start_echo(size_t reply_bytes)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/skr-echo-%d.sock", (int)getpid());
    unlink(path);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    echo_listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (bind(echo_listen_fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(echo_listen_fd, 1024) != 0) {
        perror("bench_wire: echo");
        exit(1);
    }
    echo_reply_bytes = reply_bytes;
    /* A separate process, like sekretsd: a thread would switch more cheaply than the
     * daemon can and flatter the floor. */
    pid_t pid = fork();
    if (pid == 0) {
        echo_main();
        _exit(0);
    }
    echo_pid = pid;
    close(echo_listen_fd);
    return path;
}

/* ---- populate: puts of credentials 0..N-1 through the socket, 256 in flight ---- */

static void populate(opts *o)
{
    opts p = *o;
    lats l = { 0 };
    conn c = { .fd = dial(o->socket) };
    proto_buf scratch = PROTO_BUF_INIT;
    unsigned long sent = 0, done;
    double t0 = now_us();

    p.kv.op = KV_PUT;
    proto_reader_init(&c.rd, PROTO_MAX_FRAME_LIMIT);
    while (sent < o->populate || c.in_flight > 0) {
        proto_buf_reset(&c.out);
        while (sent < o->populate && c.in_flight < 256) {
            c.which[c.next_id % MAX_DEPTH] = sent;
            kv_encode(&p.kv, sent++, c.next_id++, &c.out);
            c.in_flight++;
        }
        write_all(c.fd, c.out.data, c.out.len);
        done = l.n;
        drain(&p, &c, &l, 1, &scratch);
        if (l.errors > 0) {
            fprintf(stderr, "bench_wire: populate: a put failed\n");
            exit(1);
        }
        if (isatty(2) && l.n / 10000 != done / 10000)
            fprintf(stderr, "\rpopulated %zu/%lu", l.n, o->populate);
    }
    if (isatty(2))
        fprintf(stderr, "\r");
    printf("populated %lu credentials over %u protocols in %.1f s\n", o->populate,
           o->kv.protocols, (now_us() - t0) / 1e6);
    close(c.fd);
    proto_reader_free(&c.rd);
    proto_buf_free(&c.out);
    proto_buf_free(&scratch);
    free(c.in.p);
    free(l.v);
}

static void report(const opts *o, const char *label, lats *l, double secs, double server_us,
                   double client_us)
{
    size_t total = l->n;
    double *all = l->v != NULL ? l->v : calloc(1, sizeof(double));
    qsort(all, total, sizeof(double), cmp_double);
    double p50 = total ? all[total / 2] : 0, p99 = total ? all[(size_t)((double)total * 0.99)] : 0;
    double max = total ? all[total - 1] : 0;
    double per = total ? 1.0 / (double)total : 0;
    printf("%-24s clients=%-3d depth=%-3d %9.0f req/s  p50 %7.1f us  p99 %7.1f us  "
           "max %8.1f us  server %6.2f us/req  client %6.2f us/req  errors %lu\n",
           label, o->clients, o->depth, (double)total / secs, p50, p99, max, server_us * per,
           client_us * per, l->errors);
    if (o->csv != NULL) {
        FILE *f = fopen(o->csv, "a");
        if (f != NULL) {
            fprintf(f, "%s,%d,%d,%.0f,%.2f,%.2f,%lu,%.3f,%.3f,%.2f\n", label, o->clients,
                    o->depth, (double)total / secs, p50, p99, l->errors, server_us * per,
                    client_us * per, max);
            fclose(f);
        }
    }
    if (all != l->v)
        free(all);
}

/* --help: the usage on stdout, exit 0; a wrong command line: on stderr, exit 2. */
static void usage_to(FILE *f, int status)
{
    fputs("usage: bench_wire (--socket PATH [--redis] | --echo) [--op get|getdb|put|ping]\n"
          "       [--clients N] [--depth D] [--seconds S] [--protocols P] [--names N]\n"
          "       [--server-pid PID] [--beside-puts D] [--reply-bytes B] [--label TEXT]\n"
          "       [--csv FILE]\n"
          "       | --socket PATH [--redis] --populate N [--protocols P] [--body-bytes B]\n",
          f);
    exit(status);
}

static void usage(void)
{
    usage_to(stderr, 2);
}

static kv_op parse_op(const char *s)
{
    if (strcmp(s, "get") == 0)
        return KV_GET;
    if (strcmp(s, "put") == 0)
        return KV_PUT;
    if (strcmp(s, "getdb") == 0)
        return KV_GETDB;
    if (strcmp(s, "ping") == 0)
        return KV_PING;
    usage();
    return KV_GET;
}

static void parse(int argc, char **argv, opts *o)
{
    static const struct option lo[] = {
        { "socket", 1, NULL, 's' }, { "op", 1, NULL, 'o' }, { "clients", 1, NULL, 'c' },
        { "depth", 1, NULL, 'd' }, { "seconds", 1, NULL, 't' }, { "protocols", 1, NULL, 'P' },
        { "names", 1, NULL, 'n' }, { "populate", 1, NULL, 'p' }, { "echo", 0, NULL, 'e' },
        { "label", 1, NULL, 'l' }, { "csv", 1, NULL, 'C' }, { "body-bytes", 1, NULL, 'b' },
        { "reply-bytes", 1, NULL, 'r' }, { "redis", 0, NULL, 'R' },
        { "server-pid", 1, NULL, 'S' }, { "beside-puts", 1, NULL, 'B' },
        { "help", 0, NULL, 'h' }, { NULL, 0, NULL, 0 },
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 's': o->socket = optarg; break;
        case 'o': o->kv.op = parse_op(optarg); break;
        case 'c': o->clients = atoi(optarg); break;
        case 'd': o->depth = atoi(optarg); break;
        case 't': o->seconds = atof(optarg); break;
        case 'P': o->kv.protocols = (unsigned)atoi(optarg); break;
        case 'n': o->names = strtoul(optarg, NULL, 10); break;
        case 'p': o->populate = strtoul(optarg, NULL, 10); break;
        case 'e': o->echo = 1; break;
        case 'l': o->label = optarg; break;
        case 'C': o->csv = optarg; break;
        case 'b': o->kv.body_bytes = (unsigned)atoi(optarg); break;
        case 'r': o->reply_bytes = strtoul(optarg, NULL, 10); break;
        case 'R': o->kv.redis = true; break;
        case 'S': o->server_pid = atol(optarg); break;
        case 'B': o->beside_puts = atoi(optarg); break;
        case 'h': usage_to(stdout, 0); break;
        default: usage();
        }
    }
    if (o->clients < 1 || o->depth < 1 || o->depth > MAX_DEPTH || o->kv.protocols < 1 ||
        o->names < 1 || (o->echo && o->kv.redis) || o->beside_puts < 0 ||
        o->beside_puts > MAX_DEPTH || (o->echo && o->beside_puts))
        usage();
}

int main(int argc, char **argv)
{
    opts o = { .clients = 1, .depth = 1, .seconds = 3, .names = 1000,
               .kv = { .op = KV_GET, .protocols = 100, .body_bytes = 64 } };
    parse(argc, argv, &o);
    if (o.echo) {
        /* a get reply for a 64-byte body: 4 + map(id, ok, result{protocol, name, body,
         * created, modified}) is about 150 bytes */
        o.socket = start_echo(o.reply_bytes ? o.reply_bytes : 150);
        o.server_pid = echo_pid;
    }
    if (o.socket == NULL)
        usage();
    if (o.populate > 0) {
        populate(&o);
        return 0;
    }
    lats l = { 0 }, pl = { 0 };
    opts po = o; /* the puts beside the load */
    po.kv.op = KV_PUT;
    po.clients = 1;
    po.depth = o.beside_puts;
    unsigned long long cpu0 = task_cpu_ns(o.server_pid);
    double t0 = now_us(), c0 = self_cpu_us();
    run_load(&o, &l, o.beside_puts > 0 ? &po : NULL, &pl);
    double secs = (now_us() - t0) / 1e6, client_us = self_cpu_us() - c0;
    double server_us = (double)(task_cpu_ns(o.server_pid) - cpu0) / 1e3;
    unsigned long errors = l.errors + pl.errors;
    const char *label = o.label ? o.label : o.echo ? "echo" : "load";
    /* beside puts, the CPU figures are of both loads together: per request of the two */
    double share = o.beside_puts > 0 ? (double)l.n / (double)(l.n + pl.n ? l.n + pl.n : 1) : 1;
    report(&o, label, &l, secs, server_us * share, client_us * share);
    if (o.beside_puts > 0) {
        char plabel[128];
        snprintf(plabel, sizeof(plabel), "%s_puts", label);
        report(&po, plabel, &pl, secs, server_us * (1 - share), client_us * (1 - share));
    }
    free(l.v);
    free(pl.v);
    if (echo_pid > 0) {
        kill(echo_pid, SIGTERM);
        waitpid(echo_pid, NULL, 0);
        unlink(o.socket);
    }
    return errors == 0 ? 0 : 1;
}
