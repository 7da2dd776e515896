/* The systemd-like LoadCredential= client of the creds tests (creds_client.h). */
#include "creds_client.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

static char cg_root[64];

int creds_cg_find(void)
{
    static const char *const roots[] = { "/sys/fs/cgroup/unified", "/sys/fs/cgroup" };
    for (size_t i = 0; i < 2; i++) {
        struct statfs st;
        if (statfs(roots[i], &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC) {
            snprintf(cg_root, sizeof(cg_root), "%s", roots[i]);
            return 0;
        }
    }
    return -1;
}

int creds_cg_create(const char *unit)
{
    char path[160];
    snprintf(path, sizeof(path), "%s/%s", cg_root, unit);
    return mkdir(path, 0755);
}

/* One try at moving the calling process into `unit`: 0, or -1 with errno set. */
static int cg_enter_once(const char *unit)
{
    char path[160], pid[24];
    snprintf(path, sizeof(path), "%s/%s/cgroup.procs", cg_root, unit);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int n = snprintf(pid, sizeof(pid), "%d", (int)getpid());
    int rc = write(fd, pid, (size_t)n) == n ? 0 : -1, saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int creds_cg_enter(const char *unit)
{
    /* A migration can be refused for a moment (the kernel's EAGAIN/EBUSY while a fork or
     * an exit in the group is under way, seen on a loaded machine under ASan): bounded
     * retries, 1 s in all. */
    for (int tries = 0;; tries++) {
        if (cg_enter_once(unit) == 0)
            return 0;
        if ((errno != EAGAIN && errno != EBUSY && errno != EINTR) || tries == 100)
            return -1;
        usleep(10000);
    }
}

void creds_cg_remove(const char *unit)
{
    char path[160];
    snprintf(path, sizeof(path), "%s/%s", cg_root, unit);
    for (int i = 0; i < 200 && rmdir(path) != 0 && errno == EBUSY; i++)
        usleep(5000); /* a reaped child leaves the cgroup a moment later */
}

size_t creds_systemd_name(char *buf, size_t cap, const char *unit, const char *id)
{
    uint64_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
        r = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull;
    int n = snprintf(buf, cap, "%" PRIx64 "/unit/%s/%s", r, unit, id);
    return n > 0 ? (size_t)n : 0;
}

static int connect_to(int sk, const char *sock)
{
    struct sockaddr_un to = { .sun_family = AF_UNIX };
    snprintf(to.sun_path, sizeof(to.sun_path), "%s", sock);
    struct timeval tv = { 10, 0 };
    setsockopt(sk, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(sk, (struct sockaddr *)&to, sizeof(to)) != 0 || shutdown(sk, SHUT_WR) != 0)
        return -1;
    return sk;
}

int creds_connect_abstract(const char *sock, const char *name, size_t len)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (len > sizeof(sa.sun_path) - 1)
        return -1;
    memcpy(sa.sun_path + 1, name, len); /* sun_path[0] = '\0': abstract */
    int sk = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sk < 0 || bind(sk, (struct sockaddr *)&sa,
                       (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len)) != 0 ||
        connect_to(sk, sock) < 0) {
        if (sk >= 0)
            close(sk);
        return -1;
    }
    return sk;
}

/* In the child: connect like systemd and copy what is read to out_fd; never returns. */
static void child_ask(const creds_ask *a, int out_fd)
{
    if (a->cgroup != NULL && creds_cg_enter(a->cgroup) != 0)
        _exit(4);
    if (a->uid != 0 && setuid(a->uid) != 0)
        _exit(4);
    int sk;
    if (a->bind == CREDS_BIND_ABSTRACT) {
        sk = creds_connect_abstract(a->sock, a->name, a->name_len);
    } else {
        sk = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%.100s.client", a->sock);
        if (a->bind == CREDS_BIND_PATH && bind(sk, (struct sockaddr *)&sa, sizeof(sa)) != 0)
            _exit(5);
        sk = connect_to(sk, a->sock);
    }
    if (sk < 0)
        _exit(6);
    char buf[65536];
    ssize_t n;
    while ((n = read(sk, buf, sizeof(buf))) > 0)
        if (write(out_fd, buf, (size_t)n) != n)
            _exit(6);
    _exit(n == 0 ? 0 : 3);
}

int creds_run_ask(const creds_ask *a, proto_buf *out)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(p[0]);
        child_ask(a, p[1]);
    }
    close(p[1]);
    proto_buf_reset(out);
    char buf[65536];
    ssize_t n;
    int rc = 0;
    while ((n = read(p[0], buf, sizeof(buf))) > 0)
        if (proto_buf_append(out, buf, (size_t)n) != 0)
            rc = -1;
    close(p[0]);
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    if (a->bind == CREDS_BIND_PATH) {
        char path[160];
        snprintf(path, sizeof(path), "%.100s.client", a->sock);
        unlink(path);
    }
    return rc != 0 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 100;
}
