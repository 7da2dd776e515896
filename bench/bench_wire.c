/*
 * bench_wire: a pipelined load client for sekretsd, and the floor it is measured against.
 *
 *   bench_wire --socket PATH [--op get|getdb|put|ping] [--clients N] [--depth D]
 *              [--seconds S] [--protocols P] [--names N] [--label TEXT] [--csv FILE]
 *   bench_wire --echo [--clients N] [--depth D] [--seconds S]
 *   bench_wire --socket PATH --populate N [--protocols P] [--body-bytes B]
 *
 * Each client is one connection keeping D requests in flight, all driven by one epoll
 * thread (as redis-benchmark drives its clients); every request's latency is taken from
 * its send to its reply. --echo starts, in this process,
 * a single-threaded epoll server that answers each frame with a reply of the size of a
 * get reply for a 64-byte body: the cost of the Unix socket alone (the floor).
 * Gets pick random names among "user<i>" in protocol "p<i % P>" (as --populate writes).
 * Prints one line: label, requests/s, p50 and p99 in microseconds.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "frame.h"
#include "request.h"
#include "mp.h"
#include "response.h"
#include "sekrets/error.h"

#define MAX_DEPTH 1024

typedef struct opts {
    const char *socket;
    const char *op;
    const char *label;
    const char *csv;
    int clients, depth;
    double seconds;
    unsigned protocols;
    unsigned long names;
    unsigned long populate;
    unsigned body_bytes;
    int echo;
    size_t reply_bytes; /* echo: reply size */
} opts;

/* One connection of the load: its own id space and requests in flight. */
typedef struct conn {
    int fd;
    unsigned seed;
    proto_reader rd;
    proto_buf out;
    uint32_t next_id, in_flight;
    double sent_at[MAX_DEPTH];
} conn;

/* Latencies of every request, in microseconds. */
typedef struct lats {
    double *v;
    size_t n, cap;
    unsigned long errors;
} lats;

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
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

static void pack_body(proto_buf *b, unsigned bytes, unsigned long i)
{
    msgpack_packer pk;
    char val[1024];
    if (bytes >= sizeof(val))
        bytes = sizeof(val) - 1;
    /* {"password": <str>}: 11 bytes of map/key overhead, the rest value */
    unsigned vlen = bytes > 14 ? bytes - 14 : 1;
    for (unsigned k = 0; k < vlen; k++)
        val[k] = (char)('a' + (i + k) % 26);
    proto_buf_reset(b);
    msgpack_packer_init(&pk, b, proto_buf_msgpack_write);
    msgpack_pack_map(&pk, 1);
    proto_pack_cstr(&pk, "password");
    proto_pack_str(&pk, val, vlen);
}

/* Appends one request of the benchmark's op to out. */
static void encode_request(const opts *o, unsigned long i, proto_buf *out, uint32_t id,
                           proto_buf *body)
{
    proto_request r;
    memset(&r, 0, sizeof(r));
    r.id = id;
    if (strcmp(o->op, "ping") == 0) {
        r.op = PROTO_OP_PING;
    } else if (strcmp(o->op, "getdb") == 0) {
        r.op = PROTO_OP_GETDB;
        r.protocol_len = (uint32_t)snprintf(r.protocol, sizeof(r.protocol), "db1000");
        r.fields = PROTO_F_PROTOCOL;
    } else {
        r.op = strcmp(o->op, "put") == 0 ? PROTO_OP_PUT : PROTO_OP_GET;
        r.protocol_len = (uint32_t)snprintf(r.protocol, sizeof(r.protocol), "p%lu", i % o->protocols);
        r.name_len = (uint32_t)snprintf(r.name, sizeof(r.name), "user%lu", i);
        r.fields = PROTO_F_PROTOCOL | PROTO_F_NAME;
        if (r.op == PROTO_OP_PUT) {
            pack_body(body, o->body_bytes, i + id);
            r.body = (proto_span){ body->data, (uint32_t)body->len };
            r.fields |= PROTO_F_BODY;
        }
    }
    if (proto_request_encode(out, &r, PROTO_MAX_FRAME_LIMIT) != 0) {
        fprintf(stderr, "bench_wire: encode failed\n");
        exit(1);
    }
}

/* Requests are encoded once, into a pool of frames for random names, with the id packed
 * as a 4-byte uint (0xce) at a fixed offset: sending one is a copy and a patch, which
 * keeps this client as cheap per request as redis-benchmark's pre-formatted commands. */
#define POOL_SIZE 8192
#define ID_OFFSET 9 /* 4-byte length, map header, "id" (3 bytes), 0xce */
static proto_buf pool;
static size_t pool_off[POOL_SIZE + 1];

static void build_pool(const opts *o)
{
    proto_buf body = PROTO_BUF_INIT;
    unsigned seed = 12345;
    for (size_t k = 0; k < POOL_SIZE; k++) {
        pool_off[k] = pool.len;
        encode_request(o, (unsigned long)rand_r(&seed) % o->names, &pool, UINT32_MAX, &body);
        if (pool.data[pool_off[k] + ID_OFFSET - 1] != 0xce) {
            fprintf(stderr, "bench_wire: unexpected request layout\n");
            exit(1);
        }
    }
    pool_off[POOL_SIZE] = pool.len;
    proto_buf_free(&body);
}

static void add_request(const opts *o, conn *c, proto_buf *out, uint32_t id, proto_buf *body)
{
    (void)o;
    (void)body;
    size_t k = (size_t)rand_r(&c->seed) % POOL_SIZE, at = out->len;
    proto_buf_append(out, pool.data + pool_off[k], pool_off[k + 1] - pool_off[k]);
    proto_put_be32(out->data + at + ID_OFFSET, id);
}

/* The id and ok of a reply: read in place when the daemon's key order (id, ok) holds,
 * by the full decoder otherwise. 0 or -1. */
static int reply_id_ok(const uint8_t *f, size_t len, uint32_t *id, bool *ok)
{
    if (len > 4 && f[0] == 0x83 && f[1] == 0xa2 && f[2] == 'i' && f[3] == 'd') {
        proto_cur c = proto_cur_make(f + 4, len - 4);
        uint64_t v;
        const char *k;
        uint32_t kn;
        if (proto_cur_uint(&c, &v) == 0 && proto_cur_str(&c, &k, &kn) == 0 && kn == 2 &&
            memcmp(k, "ok", 2) == 0 && proto_cur_bool(&c, ok) == 0) {
            *id = (uint32_t)v;
            return 0;
        }
    }
    proto_response r;
    if (proto_response_decode(f, len, &r) != 0)
        return -1;
    *id = r.id;
    *ok = r.ok;
    return 0;
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
static void refill(const opts *o, conn *c, proto_buf *body)
{
    proto_buf_reset(&c->out);
    uint32_t first = c->next_id;
    while (c->in_flight < (uint32_t)o->depth) {
        add_request(o, c, &c->out, c->next_id, body);
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

/* Reads what the connection has, takes every whole reply; 1 while it owes replies. */
static int drain(const opts *o, conn *c, lats *l, int stopping, proto_buf *body)
{
    uint8_t *p;
    size_t room;
    proto_reader_space(&c->rd, &p, &room);
    ssize_t n = read(c->fd, p, room);
    if (n <= 0) {
        fprintf(stderr, "bench_wire: connection closed by the server\n");
        exit(1);
    }
    proto_reader_commit(&c->rd, (size_t)n);
    const uint8_t *frame;
    size_t len;
    double t = now_us();
    while (proto_reader_next(&c->rd, &frame, &len) == 1) {
        uint32_t id = c->next_id - c->in_flight;
        bool ok = true;
        if (!o->echo && reply_id_ok(frame, len, &id, &ok) != 0) {
            fprintf(stderr, "bench_wire: invalid reply\n");
            exit(1);
        }
        if (!ok)
            l->errors++;
        record(l, t - c->sent_at[id % MAX_DEPTH]);
        c->in_flight--;
    }
    if (!stopping)
        refill(o, c, body);
    return c->in_flight > 0;
}

/* The load: one thread drives every connection through epoll, as redis-benchmark does,
 * so that client threads do not compete with the server for the cores. */
static void run_load(const opts *o, lats *l)
{
    conn *cs = calloc((size_t)o->clients, sizeof(*cs));
    proto_buf body = PROTO_BUF_INIT;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < o->clients; i++) {
        cs[i].fd = dial(o->socket);
        cs[i].seed = (unsigned)(i * 7919 + 17);
        proto_reader_init(&cs[i].rd, PROTO_MAX_FRAME_LIMIT);
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &cs[i] };
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
    }
    double end = now_us() + o->seconds * 1e6;
    for (int i = 0; i < o->clients; i++)
        refill(o, &cs[i], &body);
    int owing = o->clients, stopping = 0;
    while (owing > 0) {
        struct epoll_event evs[256];
        int n = epoll_wait(ep, evs, 256, 1000);
        stopping = stopping || now_us() >= end;
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (!drain(o, c, l, stopping, &body)) {
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                owing--;
            }
        }
    }
    for (int i = 0; i < o->clients; i++) {
        close(cs[i].fd);
        proto_reader_free(&cs[i].rd);
        proto_buf_free(&cs[i].out);
    }
    close(ep);
    proto_buf_free(&body);
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

static void *echo_main(void *arg)
{
    (void)arg;
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
            if (evs[i].data.ptr == NULL) {
                int fd = accept4(echo_listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0)
                    continue;
                echo_conn *ec = calloc(1, sizeof(*ec));
                ec->fd = fd;
                proto_reader_init(&ec->rd, PROTO_MAX_FRAME_LIMIT);
                struct epoll_event e2 = { .events = EPOLLIN, .data.ptr = ec };
                epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e2);
                continue;
            }
            echo_conn *ec = evs[i].data.ptr;
            uint8_t *p;
            size_t room;
            proto_reader_space(&ec->rd, &p, &room);
            ssize_t r = read(ec->fd, p, room);
            if (r <= 0) {
                epoll_ctl(ep, EPOLL_CTL_DEL, ec->fd, NULL);
                close(ec->fd);
                proto_reader_free(&ec->rd);
                free(ec);
                continue;
            }
            proto_reader_commit(&ec->rd, (size_t)r);
            const uint8_t *f;
            size_t len;
            proto_buf_reset(&out);
            while (proto_reader_next(&ec->rd, &f, &len) == 1)
                proto_buf_append(&out, reply, echo_reply_bytes);
            if (out.len > 0)
                write_all(ec->fd, out.data, out.len); /* replies are small: fits the socket */
        }
    }
    return NULL;
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
        echo_main(NULL);
        _exit(0);
    }
    echo_pid = pid;
    close(echo_listen_fd);
    return path;
}

/* ---- populate ---- */

static void populate(const opts *o)
{
    int fd = dial(o->socket);
    proto_buf out = PROTO_BUF_INIT, body = PROTO_BUF_INIT, in = PROTO_BUF_INIT;
    proto_reader rd;
    proto_reader_init(&rd, PROTO_MAX_FRAME_LIMIT);
    unsigned long sent = 0, got = 0;
    const unsigned long window = 256;
    double t0 = now_us();
    while (got < o->populate) {
        proto_buf_reset(&out);
        while (sent < o->populate && sent - got < window) {
            proto_request r;
            memset(&r, 0, sizeof(r));
            r.id = (uint32_t)sent;
            r.op = PROTO_OP_PUT;
            r.protocol_len = (uint32_t)snprintf(r.protocol, sizeof(r.protocol), "p%lu", sent % o->protocols);
            r.name_len = (uint32_t)snprintf(r.name, sizeof(r.name), "user%lu", sent);
            pack_body(&body, o->body_bytes, sent);
            r.body = (proto_span){ body.data, (uint32_t)body.len };
            r.fields = PROTO_F_PROTOCOL | PROTO_F_NAME | PROTO_F_BODY;
            proto_request_encode(&out, &r, PROTO_MAX_FRAME_LIMIT);
            sent++;
        }
        if (out.len > 0)
            write_all(fd, out.data, out.len);
        uint8_t *p;
        size_t room;
        proto_reader_space(&rd, &p, &room);
        ssize_t n = read(fd, p, room);
        if (n <= 0) {
            fprintf(stderr, "bench_wire: connection closed while populating\n");
            exit(1);
        }
        proto_reader_commit(&rd, (size_t)n);
        const uint8_t *f;
        size_t len;
        while (proto_reader_next(&rd, &f, &len) == 1) {
            proto_response resp;
            if (proto_response_decode(f, len, &resp) != 0 || !resp.ok) {
                fprintf(stderr, "bench_wire: populate: put failed (%s)\n", skr_strerror(resp.code));
                exit(1);
            }
            got++;
        }
        if (isatty(2) && got % 10000 == 0)
            fprintf(stderr, "\rpopulated %lu/%lu", got, o->populate);
    }
    if (isatty(2))
        fprintf(stderr, "\r");
    printf("populated %lu credentials over %u protocols in %.1f s\n", o->populate, o->protocols,
           (now_us() - t0) / 1e6);
    close(fd);
    proto_reader_free(&rd);
    proto_buf_free(&out);
    proto_buf_free(&body);
    proto_buf_free(&in);
}

static void usage(void)
{
    fputs("usage: bench_wire (--socket PATH | --echo) [--op get|getdb|put|ping] [--clients N]\n"
          "       [--depth D] [--seconds S] [--protocols P] [--names N] [--label TEXT]\n"
          "       [--csv FILE]  |  --socket PATH --populate N [--protocols P]\n", stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    opts o = { .op = "get", .clients = 1, .depth = 1, .seconds = 3, .protocols = 100,
               .names = 1000, .body_bytes = 64, .reply_bytes = 0 };
    static const struct option lo[] = {
        { "socket", 1, NULL, 's' }, { "op", 1, NULL, 'o' }, { "clients", 1, NULL, 'c' },
        { "depth", 1, NULL, 'd' }, { "seconds", 1, NULL, 't' }, { "protocols", 1, NULL, 'P' },
        { "names", 1, NULL, 'n' }, { "populate", 1, NULL, 'p' }, { "echo", 0, NULL, 'e' },
        { "label", 1, NULL, 'l' }, { "csv", 1, NULL, 'C' }, { "body-bytes", 1, NULL, 'b' },
        { "reply-bytes", 1, NULL, 'r' }, { NULL, 0, NULL, 0 },
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 's': o.socket = optarg; break;
        case 'o': o.op = optarg; break;
        case 'c': o.clients = atoi(optarg); break;
        case 'd': o.depth = atoi(optarg); break;
        case 't': o.seconds = atof(optarg); break;
        case 'P': o.protocols = (unsigned)atoi(optarg); break;
        case 'n': o.names = strtoul(optarg, NULL, 10); break;
        case 'p': o.populate = strtoul(optarg, NULL, 10); break;
        case 'e': o.echo = 1; break;
        case 'l': o.label = optarg; break;
        case 'C': o.csv = optarg; break;
        case 'b': o.body_bytes = (unsigned)atoi(optarg); break;
        case 'r': o.reply_bytes = strtoul(optarg, NULL, 10); break;
        default: usage();
        }
    }
    if (o.clients < 1 || o.depth < 1 || o.depth > MAX_DEPTH || o.protocols < 1 || o.names < 1)
        usage();
    if (o.echo) {
        /* a get reply for a 64-byte body: 4 + map(id, ok, result{protocol, name, body,
         * created, modified}) is about 150 bytes */
        o.socket = start_echo(o.reply_bytes ? o.reply_bytes : 150);
    }
    if (o.socket == NULL)
        usage();
    if (o.populate > 0) {
        populate(&o);
        return 0;
    }
    lats l = { 0 };
    build_pool(&o);
    double t0 = now_us();
    run_load(&o, &l);
    double secs = (now_us() - t0) / 1e6;
    size_t total = l.n;
    unsigned long errors = l.errors;
    double *all = l.v;
    if (all == NULL)
        all = calloc(1, sizeof(double));
    qsort(all, total, sizeof(double), cmp_double);
    double p50 = total ? all[total / 2] : 0, p99 = total ? all[(size_t)((double)total * 0.99)] : 0;
    char label[128];
    snprintf(label, sizeof(label), "%s", o.label ? o.label : (o.echo ? "echo" : o.op));
    printf("%-28s clients=%-3d depth=%-3d %10.0f req/s  p50 %7.1f us  p99 %7.1f us  errors %lu\n",
           label, o.clients, o.depth, (double)total / secs, p50, p99, errors);
    if (o.csv != NULL) {
        FILE *f = fopen(o.csv, "a");
        if (f != NULL) {
            fprintf(f, "%s,%d,%d,%.0f,%.2f,%.2f,%lu\n", label, o.clients, o.depth,
                    (double)total / secs, p50, p99, errors);
            fclose(f);
        }
    }
    free(all);
    if (echo_pid > 0) {
        kill(echo_pid, SIGTERM);
        waitpid(echo_pid, NULL, 0);
        unlink(o.socket);
    }
    return errors == 0 ? 0 : 1;
}
