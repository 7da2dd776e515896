#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "request.h"
#include "response.h"

static int write_keyfile(const char *path)
{
    unsigned char key[32];
    int rnd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (rnd < 0 || read(rnd, key, sizeof(key)) != (ssize_t)sizeof(key)) {
        if (rnd >= 0)
            close(rnd);
        return -1;
    }
    close(rnd);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    int rc = write(fd, key, sizeof(key)) == (ssize_t)sizeof(key) ? 0 : -1;
    close(fd);
    return rc;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Polls with ping until the daemon answers; 0, or -1 if it died or 10 s passed. */
static int wait_ready(harness *h)
{
    double deadline = now_s() + (harness_valgrind() ? 120.0 : 10.0);
    while (now_s() < deadline) {
        int status;
        if (waitpid(h->pid, &status, WNOHANG) == h->pid) {
            h->pid = 0;
            h->exit_status = status;
            return -1;
        }
        int fd = harness_connect(h);
        if (fd >= 0) {
            static const uint8_t ping[] = { 0, 0, 0, 0x0d, 0x82, 0xa2, 'i', 'd', 0x01,
                                            0xa2, 'o', 'p', 0xa4, 'p', 'i', 'n', 'g' };
            proto_buf reply = PROTO_BUF_INIT;
            int ok = harness_send(fd, ping, sizeof(ping)) == 0 && harness_recv(fd, &reply) == 0;
            proto_buf_free(&reply);
            close(fd);
            if (ok)
                return 0;
        }
        usleep(10000);
    }
    return -1;
}

static int spawn(harness *h, unsigned flags, const char *const *extra)
{
    const char *bin = getenv("SEKRETSD");
    if (bin == NULL) {
        fprintf(stderr, "harness: SEKRETSD is not set (run through meson test)\n");
        return -1;
    }
    const char *argv[72];
    char vg_log[256];
    int n = 0;
    if (harness_valgrind()) {
        /* Errors and definite leaks make the daemon exit 99; harness_stop checks it. */
        snprintf(vg_log, sizeof(vg_log), "--log-file=%s/valgrind.%%p.log", h->dir);
        argv[n++] = "valgrind";
        argv[n++] = "--leak-check=full";
        argv[n++] = "--errors-for-leak-kinds=definite";
        argv[n++] = "--show-leak-kinds=definite";
        argv[n++] = "--error-exitcode=99";
        argv[n++] = vg_log;
    }
    argv[n++] = bin;
    argv[n++] = "--foreground";
    argv[n++] = "--socket";
    argv[n++] = h->socket;
    argv[n++] = "--hub";
    argv[n++] = h->hub;
    if (flags & HARNESS_KEYFILE) {
        argv[n++] = "--keyfile";
        argv[n++] = h->keyfile;
    }
    if (flags & HARNESS_FAST_KDF) {
        argv[n++] = "--kdf-limits";
        argv[n++] = "min";
    }
    for (int i = 0; extra != NULL && extra[i] != NULL && n < 70; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;

    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int log = open(h->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (log >= 0)
            dup2(log, STDERR_FILENO);
        if (harness_valgrind())
            execvp("valgrind", (char *const *)argv);
        else
            execv(bin, (char *const *)argv);
        _exit(127);
    }
    h->pid = pid;
    if (wait_ready(h) != 0) {
        fprintf(stderr, "harness: sekretsd did not become ready (log: %s)\n", h->log);
        return -1;
    }
    return 0;
}

int harness_start(harness *h, unsigned flags, const char *const *extra_args)
{
    if (harness_prepare(h, flags) != 0)
        return -1;
    return spawn(h, flags, extra_args);
}

int harness_prepare(harness *h, unsigned flags)
{
    memset(h, 0, sizeof(*h));
    snprintf(h->dir, sizeof(h->dir), "/tmp/skr-test-XXXXXX");
    if (mkdtemp(h->dir) == NULL) {
        perror("harness: mkdtemp");
        return -1;
    }
    snprintf(h->socket, sizeof(h->socket), "%s/run/sekretsd.sock", h->dir);
    snprintf(h->hub, sizeof(h->hub), "%s/hub", h->dir);
    snprintf(h->keyfile, sizeof(h->keyfile), "%s/keyfile", h->dir);
    snprintf(h->log, sizeof(h->log), "%s/daemon.log", h->dir);
    if ((flags & HARNESS_KEYFILE) && write_keyfile(h->keyfile) != 0) {
        perror("harness: keyfile");
        return -1;
    }
    return 0;
}

int harness_restart(harness *h, unsigned flags, const char *const *extra_args)
{
    return spawn(h, flags, extra_args);
}

static void reap(harness *h, int sig)
{
    if (h->pid <= 0)
        return;
    kill(h->pid, sig);
    /* valgrind's leak check at exit takes a while */
    int tries = harness_valgrind() ? 6000 : 500;
    for (int i = 0; i < tries; i++) {
        if (waitpid(h->pid, &h->exit_status, WNOHANG) == h->pid) {
            h->pid = 0;
            return;
        }
        usleep(10000);
    }
    kill(h->pid, SIGKILL);
    waitpid(h->pid, &h->exit_status, 0);
    h->pid = 0;
}

void harness_kill(harness *h, int sig)
{
    reap(h, sig);
}

int harness_valgrind(void)
{
    const char *v = getenv("HARNESS_VALGRIND");
    return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
}

int harness_valgrind_report(const harness *h)
{
    if (!harness_valgrind() || h->dir[0] == '\0')
        return 0;
    char cmd[512];
    /* Every valgrind log of this folder (one per daemon start): errors or definite leaks. */
    snprintf(cmd, sizeof(cmd),
             "cat '%s'/valgrind.*.log 2>/dev/null | grep -E "
             "'ERROR SUMMARY: [1-9]|definitely lost: [1-9]' >/dev/null", h->dir);
    if (system(cmd) != 0)
        return 0;
    fprintf(stderr, "harness: valgrind reported errors or definite leaks:\n");
    snprintf(cmd, sizeof(cmd), "cat '%s'/valgrind.*.log >&2", h->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "harness: cannot show the valgrind logs\n");
    return -1;
}

void harness_stop(harness *h)
{
    reap(h, SIGTERM);
    int vg_failed = harness_valgrind() && h->dir[0] != '\0' &&
                    ((WIFEXITED(h->exit_status) && WEXITSTATUS(h->exit_status) == 99) ||
                     harness_valgrind_report(h) != 0);
    if (vg_failed)
        harness_valgrind_report(h);
    if (h->dir[0] != '\0') {
        if (getenv("HARNESS_KEEP") == NULL) {
            char cmd[256];
            snprintf(cmd, sizeof(cmd), "rm -rf '%s'", h->dir);
            if (system(cmd) != 0)
                fprintf(stderr, "harness: could not remove %s\n", h->dir);
        }
        h->dir[0] = '\0';
    }
    if (vg_failed) {
        /* Fails the (forked) test that owns this daemon. */
        fprintf(stderr, "harness: failing the test: valgrind found errors in sekretsd\n");
        exit(1);
    }
}

int harness_connect(const harness *h)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen(h->socket) >= sizeof(addr.sun_path))
        return -1;
    memcpy(addr.sun_path, h->socket, strlen(h->socket) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int harness_send(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int read_exact(int fd, uint8_t *p, size_t len, int timeout_ms)
{
    while (len > 0) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int r = poll(&pfd, 1, timeout_ms);
        if (r <= 0)
            return -1;
        ssize_t n = recv(fd, p, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int harness_recv(int fd, proto_buf *out)
{
    uint8_t hdr[4];
    proto_buf_reset(out);
    if (read_exact(fd, hdr, 4, 5000) != 0)
        return -1;
    uint32_t len = proto_be32(hdr);
    if (len == 0 || len > PROTO_MAX_FRAME_LIMIT || proto_buf_reserve(out, len) != 0)
        return -1;
    if (read_exact(fd, out->data, len, 5000) != 0)
        return -1;
    out->len = len;
    return 0;
}

int harness_closed(int fd)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    if (poll(&pfd, 1, 2000) <= 0)
        return 0;
    uint8_t b;
    return recv(fd, &b, 1, MSG_PEEK) == 0;
}

int harness_log_contains(const harness *h, const char *needle)
{
    FILE *f = fopen(h->log, "r");
    if (f == NULL)
        return 0;
    char line[2048];
    int found = 0;
    while (!found && fgets(line, sizeof(line), f) != NULL)
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

proto_request harness_secret_req(uint32_t id, proto_op op, const char *a, const char *b)
{
    proto_request r = harness_req(id, op, NULL, NULL);
    if (op == PROTO_OP_PASSWD) {
        r.old_pass = (proto_span){ (const uint8_t *)a, (uint32_t)strlen(a) };
        r.new_pass = (proto_span){ (const uint8_t *)b, (uint32_t)strlen(b) };
        r.fields |= PROTO_F_OLD | PROTO_F_NEW;
    } else {
        r.passphrase = (proto_span){ (const uint8_t *)a, (uint32_t)strlen(a) };
        r.fields |= PROTO_F_PASSPHRASE;
    }
    return r;
}

proto_request harness_req(uint32_t id, proto_op op, const char *protocol, const char *name)
{
    proto_request r;
    memset(&r, 0, sizeof(r));
    r.id = id;
    r.op = op;
    if (protocol != NULL) {
        r.protocol_len = (uint32_t)strlen(protocol);
        snprintf(r.protocol, sizeof(r.protocol), "%s", protocol);
        r.fields |= PROTO_F_PROTOCOL;
    }
    if (name != NULL) {
        r.name_len = (uint32_t)strlen(name);
        snprintf(r.name, sizeof(r.name), "%s", name);
        r.fields |= PROTO_F_NAME;
    }
    return r;
}

int harness_call_raw(int fd, const void *bytes, size_t len, proto_buf *buf, proto_response *resp)
{
    if (harness_send(fd, bytes, len) != 0 || harness_recv(fd, buf) != 0)
        return -1;
    return proto_response_decode(buf->data, buf->len, resp) == 0 ? 0 : -1;
}

int harness_call(int fd, const proto_request *req, proto_buf *buf, proto_response *resp)
{
    proto_buf out = PROTO_BUF_INIT;
    int rc = proto_request_encode(&out, req, PROTO_MAX_FRAME_LIMIT);
    if (rc == 0)
        rc = harness_call_raw(fd, out.data, out.len, buf, resp);
    proto_buf_free(&out);
    return rc == 0 ? 0 : -1;
}

int harness_map_find(proto_span map, const char *key, proto_cur *val)
{
    proto_cur c = proto_cur_make(map.ptr, map.len);
    uint32_t n;
    if (proto_cur_map(&c, &n) != 0)
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t kn;
        if (proto_cur_str(&c, &k, &kn) != 0)
            return -1;
        if (kn == strlen(key) && memcmp(k, key, kn) == 0) {
            *val = c;
            return 0;
        }
        if (proto_cur_skip(&c, NULL, NULL) != 0)
            return -1;
    }
    return -1;
}

int harness_map_uint(proto_span map, const char *key, uint64_t *v)
{
    proto_cur c;
    return harness_map_find(map, key, &c) == 0 && proto_cur_uint(&c, v) == 0 ? 0 : -1;
}

int harness_map_bool(proto_span map, const char *key, bool *v)
{
    proto_cur c;
    return harness_map_find(map, key, &c) == 0 && proto_cur_bool(&c, v) == 0 ? 0 : -1;
}

int harness_map_str(proto_span map, const char *key, char *out, size_t cap)
{
    proto_cur c;
    const char *s;
    uint32_t n;
    if (harness_map_find(map, key, &c) != 0 || proto_cur_str(&c, &s, &n) != 0 || n >= cap)
        return -1;
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

int harness_memscan(pid_t pid, const char *const *markers, const size_t *lens, int n, int *found)
{
    char path[64], line[512];
    snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
    FILE *maps = fopen(path, "r");
    snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
    int mem = open(path, O_RDONLY | O_CLOEXEC);
    if (maps == NULL || mem < 0) {
        if (maps != NULL)
            fclose(maps);
        if (mem >= 0)
            close(mem);
        return -1;
    }
    enum { CHUNK = 1 << 20, OVERLAP = 256 };
    uint8_t *buf = malloc(CHUNK + OVERLAP);
    int total = 0;
    memset(found, 0, sizeof(int) * (size_t)n);
    while (fgets(line, sizeof(line), maps) != NULL) {
        unsigned long start, end;
        if (sscanf(line, "%lx-%lx", &start, &end) != 2 || strstr(line, "[vvar") ||
            strstr(line, "[vsyscall]"))
            continue;
        /* AddressSanitizer's shadow and allocator reserve terabytes, never anything a
         * normal build maps (its largest mapping is LMDB's map): skip those only */
        if (end - start > (1ul << 32))
            continue;
        size_t carry = 0;
        for (unsigned long a = start; a < end; a += CHUNK) {
            size_t want = end - a < CHUNK ? end - a : CHUNK;
            ssize_t got = pread(mem, buf + carry, want, (off_t)a);
            if (got <= 0) {
                carry = 0;
                continue;
            }
            size_t len = carry + (size_t)got;
            for (int i = 0; i < n; i++)
                if (!found[i] && memmem(buf, len, markers[i], lens[i]) != NULL)
                    found[i] = 1;
            carry = len < OVERLAP ? len : OVERLAP;
            memmove(buf, buf + len - carry, carry);
        }
    }
    for (int i = 0; i < n; i++)
        total += found[i];
    free(buf);
    close(mem);
    fclose(maps);
    return total;
}
