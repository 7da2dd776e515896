/* Security checks against the real daemon. argv[1] picks the case:
 *  memscan      markers (passphrase, bodies, a wrong passphrase, replies a client never read)
 *               are absent from the daemon's memory after lock, and from its debug log;
 *               positive controls (a half-sent frame, the unread replies before lock) prove
 *               the scan finds what is there; keyfile bytes never stay.
 *  ptrace       a process of the daemon's uid without CAP_SYS_PTRACE cannot attach to it nor
 *               read its memory; the same attacker can attach to an ordinary child (control);
 *               /proc/PID/limits shows core size 0.
 *  policy       uid x op x protocol matrix against a config, exactly; an unlisted uid is
 *               refused at connect even with the socket open to everyone.
 *  cli_proc     a sekrets-cli exec run leaves its secret only in the exec'd command's environ.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include "rel.h"

static harness h;

static void cleanup(void)
{
    harness_stop(&h);
}

/* ---- memory scan ---- */

/* How many of the n markers occur anywhere in pid's memory (found[i] set for each). */
static int scan_memory(pid_t pid, const char *const *markers, const size_t *lens, int n, int *found)
{
    int total = harness_memscan(pid, markers, lens, n, found);
    CHECK(total >= 0, "cannot open maps/mem of %d", (int)pid);
    return total;
}

static int scan_one(pid_t pid, const char *m, size_t len)
{
    int f;
    const char *ms[1] = { m };
    size_t ls[1] = { len };
    return scan_memory(pid, ms, ls, 1, &f);
}

static void case_memscan(void)
{
    enum { NB = 5 };
    char pass[40], wrong[40], ctrl[40], unread[40], bodies[NB][40], tok[17];
    rel_random_token(tok, 16);
    snprintf(pass, sizeof(pass), "PASSMARK-%s", tok);
    snprintf(wrong, sizeof(wrong), "WRONGMARK-%s", tok);
    snprintf(ctrl, sizeof(ctrl), "CTRLMARK-%s", tok);
    snprintf(unread, sizeof(unread), "UNREADMARK-%s", tok);
    for (int i = 0; i < NB; i++)
        snprintf(bodies[i], sizeof(bodies[i]), "BODYMARK-%s-%d", tok, i);
    CHECK(harness_start(&h, HARNESS_FAST_KDF,
                        (const char *const[]){ "--log-level", "debug", NULL }) == 0, "start");
    int fd = harness_connect(&h);
    CHECK(rel_call_secret(fd, 1, PROTO_OP_INIT, pass, NULL) == 0, "init");
    for (int i = 0; i < NB; i++) {
        char name[16], got[40];
        snprintf(name, sizeof(name), "svc%d", i);
        CHECK(rel_call(fd, 2, PROTO_OP_PUT, "mail", name, bodies[i], NULL, 0) == 0, "put");
        CHECK(rel_call(fd, 3, PROTO_OP_GET, "mail", name, NULL, got, sizeof(got)) == 0 &&
              strcmp(got, bodies[i]) == 0, "get");
    }

    /* positive control: a put frame sent but for its last byte sits in the daemon's reader */
    proto_buf out = PROTO_BUF_INIT;
    char ctrl_value[48];
    snprintf(ctrl_value, sizeof(ctrl_value), "%s!", ctrl); /* the cut byte is the '!' */
    CHECK(rel_encode(&out, 9, PROTO_OP_PUT, "mail", "ctrl", ctrl_value) == 0, "encode");
    int cfd = harness_connect(&h);
    CHECK(harness_send(cfd, out.data, out.len - 1) == 0, "send");
    int seen = 0;
    for (int i = 0; i < 200 && !seen; i++) { /* polls until the daemon has read it */
        seen = scan_one(h.pid, ctrl, strlen(ctrl));
        if (!seen)
            usleep(10000);
    }
    CHECK(seen, "the scan cannot find a marker the daemon holds: the scan is broken");
    close(cfd);
    proto_buf_free(&out);

    const char *ms[NB + 4];
    size_t ls[NB + 4];
    int found[NB + 4];
    for (int i = 0; i < NB; i++)
        ms[i] = bodies[i];
    ms[NB] = pass;
    ms[NB + 1] = wrong;
    ms[NB + 2] = ctrl;
    ms[NB + 3] = unread;
    for (int i = 0; i < NB + 4; i++)
        ls[i] = strlen(ms[i]);
    /* unlocked, after the gets: bodies live only as long as their reply */
    int n_unlocked = scan_memory(h.pid, ms, ls, NB, found);
    printf("memscan: positive control found; unlocked after gets: %d of %d body markers in memory\n",
           n_unlocked, NB);
    CHECK(n_unlocked == 0, "a decrypted body outlived its reply");

    /* a client asks for a 60 KB body 40 times and reads nothing: its replies fill the
     * socket and queue up in the daemon (second positive control); lock must drop them */
    static char big[60000];
    snprintf(big, sizeof(big), "%s", unread);
    memset(big + strlen(unread), 'u', sizeof(big) - strlen(unread) - 1);
    CHECK(rel_call(fd, 6, PROTO_OP_PUT, "mail", "big", big, NULL, 0) == 0, "put big");
    int nfd = harness_connect(&h);
    for (int i = 0; i < 40; i++)
        CHECK(rel_encode(&out, 7, PROTO_OP_GET, "mail", "big", NULL) == 0, "encode");
    CHECK(harness_send(nfd, out.data, out.len) == 0, "send gets");
    proto_buf_free(&out);
    seen = 0;
    for (int i = 0; i < 200 && !seen; i++) { /* polls until the replies are queued */
        seen = scan_one(h.pid, unread, strlen(unread));
        if (!seen)
            usleep(10000);
    }
    CHECK(seen, "the unread replies are not in memory before lock: the case proves nothing");

    CHECK(rel_call(fd, 4, PROTO_OP_LOCK, NULL, NULL, NULL, NULL, 0) == 0, "lock");
    CHECK(rel_call_secret(fd, 5, PROTO_OP_UNLOCK, wrong, NULL) == SKR_EBAD_PASSPHRASE, "wrong");
    int n_locked = scan_memory(h.pid, ms, ls, NB + 4, found);
    for (int i = 0; i < NB + 4; i++)
        if (found[i])
            fprintf(stderr, "  still in memory after lock: %s\n", ms[i]);
    printf("  after lock: %d of %d markers (bodies, passphrase, wrong passphrase, control, "
           "replies never read: found before lock)\n", n_locked, NB + 4);
    CHECK(n_locked == 0, "secrets left in memory after lock");
    CHECK(harness_log_contains(&h, "holding a body unread at lock"),
          "the client holding unread bodies was not closed at lock");
    close(nfd);
    close(fd);
    harness_kill(&h, SIGTERM);
    CHECK(harness_log_contains(&h, "connection from"), "debug logging was not on");
    for (int i = 0; i < NB + 4; i++)
        CHECK(!harness_log_contains(&h, ms[i]), "marker %s in the log", ms[i]);
    harness_stop(&h);

    /* a keyfile's bytes do not stay in memory once the hub is unlocked */
    CHECK(harness_start(&h, HARNESS_KEYFILE, NULL) == 0, "start keyfile");
    uint8_t key[32];
    int kf = open(h.keyfile, O_RDONLY);
    CHECK(kf >= 0 && read(kf, key, 32) == 32, "keyfile");
    close(kf);
    int k_unlocked = scan_one(h.pid, (const char *)key, 32);
    fd = harness_connect(&h);
    CHECK(rel_call(fd, 1, PROTO_OP_LOCK, NULL, NULL, NULL, NULL, 0) == 0, "lock");
    close(fd);
    int k_locked = scan_one(h.pid, (const char *)key, 32);
    printf("  keyfile content in memory: unlocked %d, locked %d; log clean of all markers\n",
           k_unlocked, k_locked);
    CHECK(k_unlocked == 0 && k_locked == 0, "keyfile content in the daemon's memory");
}

/* ---- ptrace and core dumps ---- */

/* Copies file src to dst with mode 0755: uid 65534 may not reach the build tree (a
 * checkout in a 0700 folder), but it can run a copy in its own folder. */
static void copy_executable(const char *src, const char *dst)
{
    char buf[65536];
    ssize_t n;
    int in = open(src, O_RDONLY | O_CLOEXEC);
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);

    CHECK(in >= 0 && out >= 0, "copy sekretsd");
    while ((n = read(in, buf, sizeof(buf))) > 0)
        CHECK(write(out, buf, (size_t)n) == n, "copy sekretsd");
    CHECK(n == 0 && close(out) == 0, "copy sekretsd");
    close(in);
}

static void case_ptrace(void)
{
    char dir[] = "/tmp/skr-ptrace-XXXXXX", bin[64];
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    CHECK(chown(dir, 65534, 65534) == 0, "chown");
    snprintf(bin, sizeof(bin), "%s/sekretsd", dir);
    copy_executable(getenv("SEKRETSD"), bin);
    int pfd[2];
    CHECK(pipe(pfd) == 0, "pipe");
    pid_t attacker = fork();
    if (attacker == 0) {
        /* uid 65534 with no capabilities at all: what another process of the daemon's
         * user can do */
        int res[6] = { -1, -1, -1, -1, -1, -1 };
        close(pfd[0]);
        if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
            _exit(2);
        char sock[96], hub[96], log[96];
        snprintf(sock, sizeof(sock), "%s/run/s.sock", dir);
        snprintf(hub, sizeof(hub), "%s/hub", dir);
        snprintf(log, sizeof(log), "%s/log", dir);
        pid_t d = fork();
        if (d == 0) {
            int lf = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
            dup2(lf, 2);
            execl(bin, bin, "--foreground", "--socket", sock, "--hub", hub, (char *)NULL);
            _exit(127);
        }
        harness tmp;
        memset(&tmp, 0, sizeof(tmp));
        snprintf(tmp.socket, sizeof(tmp.socket), "%s", sock);
        for (int i = 0; i < 1000; i++) { /* polls until it answers (hardened by then) */
            int fd = harness_connect(&tmp);
            if (fd >= 0) {
                res[0] = rel_call(fd, 1, PROTO_OP_PING, NULL, NULL, NULL, NULL, 0);
                close(fd);
                if (res[0] == 0)
                    break;
            }
            usleep(10000);
        }
        errno = 0;
        res[1] = ptrace(PTRACE_ATTACH, d, NULL, NULL) == 0 ? 0 : errno;
        char p[64];
        snprintf(p, sizeof(p), "/proc/%d/mem", (int)d);
        int m = open(p, O_RDONLY);
        res[2] = m >= 0 ? 0 : errno;
        if (m >= 0)
            close(m);
        /* control: the same attacker attaches to an ordinary process of its uid */
        pid_t c = fork();
        if (c == 0) {
            execl("/bin/sleep", "sleep", "30", (char *)NULL);
            _exit(127);
        }
        usleep(50000);
        res[3] = ptrace(PTRACE_ATTACH, c, NULL, NULL) == 0 ? 0 : errno;
        if (res[3] == 0) {
            waitpid(c, NULL, 0);
            ptrace(PTRACE_DETACH, c, NULL, NULL);
        }
        kill(c, SIGKILL);
        waitpid(c, NULL, 0);
        /* core size 0 in its limits */
        snprintf(p, sizeof(p), "/proc/%d/limits", (int)d);
        FILE *f = fopen(p, "r");
        char line[256];
        while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
            unsigned long soft, hard;
            if (sscanf(line, "Max core file size %lu %lu", &soft, &hard) == 2)
                res[4] = soft == 0 && hard == 0 ? 0 : 1;
        }
        if (f != NULL)
            fclose(f);
        kill(d, SIGTERM);
        int st;
        waitpid(d, &st, 0);
        res[5] = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (write(pfd[1], res, sizeof(res)) != sizeof(res))
            _exit(1);
        _exit(0);
    }
    close(pfd[1]);
    int res[6];
    ssize_t got = read(pfd[0], res, sizeof(res));
    close(pfd[0]);
    waitpid(attacker, NULL, 0);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "rm");
    CHECK(got == sizeof(res), "attacker failed");
    printf("ptrace: daemon as uid 65534 answered ping: %d; attach by uid 65534 without caps: %s; "
           "open /proc/PID/mem: %s; control attach to its own child: %s; core limit 0: %s; exit %d\n",
           res[0], res[1] ? strerror(res[1]) : "SUCCEEDED", res[2] ? strerror(res[2]) : "SUCCEEDED",
           res[3] ? strerror(res[3]) : "ok", res[4] == 0 ? "yes" : "no", res[5]);
    CHECK(res[0] == 0, "the daemon did not run as uid 65534");
    CHECK(res[1] == EPERM, "ptrace attach was not refused");
    CHECK(res[2] == EACCES, "/proc/PID/mem was readable");
    CHECK(res[3] == 0, "control: attach to an ordinary process failed, so the check proves nothing");
    CHECK(res[4] == 0, "core size not 0");
    CHECK(res[5] == 0, "unclean exit");
}

/* ---- policy matrix ---- */

static const proto_op all_ops[] = {
    PROTO_OP_PING, PROTO_OP_STATUS, PROTO_OP_GET, PROTO_OP_GETDB, PROTO_OP_GETHUB,
    PROTO_OP_POST, PROTO_OP_PUT, PROTO_OP_DELETE, PROTO_OP_INIT, PROTO_OP_UNLOCK,
    PROTO_OP_LOCK, PROTO_OP_PASSWD, PROTO_OP_ROTATE,
};
enum { NOPS = sizeof(all_ops) / sizeof(all_ops[0]), NPROTOS = 4 };
static const char *protos[NPROTOS] = { "s3", "smtp", "other", NULL };

typedef struct grant_model {
    uid_t uid;
    gid_t gid;
    bool admitted;
    const char *ops[6];
    const char *protocols[3];
} grant_model;

static bool in_list(const char *const *l, const char *s)
{
    for (int i = 0; l[i] != NULL; i++)
        if (strcmp(l[i], s) == 0)
            return true;
    return false;
}

static proto_request matrix_req(proto_op op, const char *p, proto_buf *b)
{
    proto_request r = harness_req(7, op, p, "svc");
    r.body = rel_body(b, "x");
    r.fields |= PROTO_F_BODY;
    static const uint8_t pw[] = "not-the-passphrase";
    r.passphrase = r.old_pass = r.new_pass = (proto_span){ pw, sizeof(pw) - 1 };
    r.fields |= PROTO_F_PASSPHRASE | PROTO_F_OLD | PROTO_F_NEW;
    return r;
}

/* What the model says the daemon must answer. */
static int expected(const grant_model *g, proto_op op, const char *p)
{
    if ((op == PROTO_OP_GETDB || op == PROTO_OP_POST || op == PROTO_OP_PUT ||
         op == PROTO_OP_DELETE) && p == NULL)
        return SKR_EBAD_REQUEST; /* missing protocol: the decoder answers first */
    if (!in_list(g->ops, proto_op_name(op)) || (p != NULL && !in_list(g->protocols, p)))
        return SKR_EDENIED;
    if (op == PROTO_OP_GET && p == NULL) {
        int n = 0;
        for (int i = 0; g->protocols[i] != NULL; i++)
            n++; /* every test protocol holds "svc" */
        return n > 1 ? SKR_EAMBIGUOUS : 0;
    }
    return 0;
}

static void case_policy(void)
{
    static const grant_model gs[] = {
        { 65534, 65534, true, { "get", "getDb", NULL }, { "s3", NULL } },
        /* admitted by its gid */
        { 65532, 65533, true, { "get", "getHub", "status", "ping", NULL }, { "smtp", "s3", NULL } },
        /* no grant at all */
        { 65531, 65531, false, { NULL }, { NULL } },
    };
    char conf[64];
    snprintf(conf, sizeof(conf), "/tmp/skr-matrix-%d.ini", (int)getpid());
    FILE *f = fopen(conf, "w");
    CHECK(f != NULL, "conf");
    fputs("[grant nobody]\nuid = 65534\nops = get, getDb\nprotocols = s3\n\n"
          "[grant group]\ngid = 65533\nops = get, getHub, status, ping\nprotocols = smtp, s3\n", f);
    fclose(f);
    int rc = harness_start(&h, HARNESS_KEYFILE, (const char *const[]){ "--config", conf, NULL });
    unlink(conf);
    CHECK(rc == 0, "start");
    int fd = harness_connect(&h);
    for (int i = 0; i < 3; i++)
        CHECK(rel_call(fd, 1, PROTO_OP_PUT, protos[i], "svc", "x", NULL, 0) == 0, "put");
    close(fd);
    char run[200];
    snprintf(run, sizeof(run), "%s/run", h.dir);
    CHECK(chmod(h.dir, 0755) == 0 && chmod(run, 0755) == 0 && chmod(h.socket, 0666) == 0, "chmod");

    int checked = 0;
    for (size_t g = 0; g < sizeof(gs) / sizeof(gs[0]); g++) {
        int pfd[2];
        CHECK(pipe(pfd) == 0, "pipe");
        pid_t pid = fork();
        if (pid == 0) {
            int codes[NOPS * NPROTOS + 2];
            char hubnames[128] = "";
            for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
                codes[i] = -999;
            close(pfd[0]);
            if (setgroups(0, NULL) != 0 || setgid(gs[g].gid) != 0 || setuid(gs[g].uid) != 0)
                _exit(2);
            int c = harness_connect(&h);
            proto_buf b = PROTO_BUF_INIT, in = PROTO_BUF_INIT;
            if (!gs[g].admitted) {
                proto_response r;
                /* one denied frame, unasked, then EOF */
                if (harness_recv(c, &in) == 0 && proto_response_decode(in.data, in.len, &r) == 0)
                    codes[0] = r.ok ? 0 : r.code;
                codes[1] = harness_closed(c);
            } else {
                for (int o = 0; o < NOPS; o++) {
                    for (int p = 0; p < NPROTOS; p++) {
                        proto_request r = matrix_req(all_ops[o], protos[p], &b);
                        proto_response resp;
                        if (harness_call(c, &r, &in, &resp) == 0)
                            codes[o * NPROTOS + p] = resp.ok ? 0 : resp.code;
                        if (resp.ok && all_ops[o] == PROTO_OP_GETHUB && protos[p] == NULL) {
                            /* which protocols it may see */
                            proto_cur cur;
                            uint32_t n;
                            if (harness_map_find(resp.result, "protocols", &cur) == 0 &&
                                proto_cur_array(&cur, &n) == 0) {
                                for (uint32_t k = 0; k < n; k++) {
                                    proto_span item = { cur.p, 0 };
                                    const uint8_t *st = cur.p;
                                    proto_cur_skip(&cur, NULL, NULL);
                                    item.len = (uint32_t)(cur.p - st);
                                    char nm[70];
                                    if (harness_map_str(item, "name", nm, sizeof(nm)) == 0) {
                                        strcat(hubnames, nm);
                                        strcat(hubnames, ",");
                                    }
                                }
                            }
                        }
                    }
                }
            }
            if (write(pfd[1], codes, sizeof(codes)) != sizeof(codes) ||
                write(pfd[1], hubnames, sizeof(hubnames)) != sizeof(hubnames))
                _exit(1);
            _exit(0);
        }
        close(pfd[1]);
        int codes[NOPS * NPROTOS + 2];
        char hubnames[128];
        CHECK(read(pfd[0], codes, sizeof(codes)) == sizeof(codes) &&
              read(pfd[0], hubnames, sizeof(hubnames)) == sizeof(hubnames), "child report");
        close(pfd[0]);
        waitpid(pid, NULL, 0);
        if (!gs[g].admitted) {
            CHECK(codes[0] == SKR_EDENIED && codes[1] == 1,
                  "uid %u without a grant was not refused at connect (%d, closed %d)",
                  (unsigned)gs[g].uid, codes[0], codes[1]);
            checked++;
            continue;
        }
        for (int o = 0; o < NOPS; o++) {
            for (int p = 0; p < NPROTOS; p++) {
                int want = expected(&gs[g], all_ops[o], protos[p]);
                int got = codes[o * NPROTOS + p];
                CHECK(got == want, "uid %u op %s protocol %s: got %d (%s), want %d (%s)",
                      (unsigned)gs[g].uid, proto_op_name(all_ops[o]),
                      protos[p] ? protos[p] : "-", got, got < 0 ? skr_error_name(got) : "ok",
                      want, want < 0 ? skr_error_name(want) : "ok");
                checked++;
            }
        }
        if (in_list(gs[g].ops, "getHub"))
            CHECK(strcmp(hubnames, "s3,smtp,") == 0, "getHub showed %s", hubnames);
    }
    printf("policy matrix: %d (uid, op, protocol) cases matched the config exactly\n", checked);
    /* the owner's data is untouched by all of that */
    fd = harness_connect(&h);
    char got[8];
    for (int i = 0; i < 3; i++)
        CHECK(rel_call(fd, 2, PROTO_OP_GET, protos[i], "svc", NULL, got, sizeof(got)) == 0 &&
              strcmp(got, "x") == 0, "owner's record changed");
    CHECK(rel_call(fd, 3, PROTO_OP_STATUS, NULL, NULL, NULL, NULL, 0) == 0, "status");
    close(fd);
}

/* ---- CLI leaves no secret in /proc ---- */

/* pids whose cmdline or environ contains marker; returns how many, first in *who. */
static int proc_holders(const char *marker, pid_t *who, bool *in_environ)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL) {
        pid_t pid = (pid_t)atoi(e->d_name);
        if (pid <= 0 || pid == getpid())
            continue;
        const char *files[2] = { "cmdline", "environ" };
        for (int i = 0; i < 2; i++) {
            char p[64], buf[65536];
            snprintf(p, sizeof(p), "/proc/%d/%s", (int)pid, files[i]);
            int fd = open(p, O_RDONLY);
            if (fd < 0)
                continue;
            ssize_t len = read(fd, buf, sizeof(buf));
            close(fd);
            if (len > 0 && memmem(buf, (size_t)len, marker, strlen(marker)) != NULL) {
                if (n++ == 0) {
                    *who = pid;
                    *in_environ = i == 1;
                }
            }
        }
    }
    closedir(d);
    return n;
}

static void case_cli_proc(void)
{
    const char *cli = getenv("SEKRETS_CLI");
    if (cli == NULL) {
        fprintf(stderr, "SKIP: SEKRETS_CLI not set\n");
        exit(77);
    }
    char tok[17], secret[40];
    rel_random_token(tok, 16);
    snprintf(secret, sizeof(secret), "CLIMARK-%s", tok);
    CHECK(harness_start(&h, HARNESS_KEYFILE, NULL) == 0, "start");
    setenv("SEKRETS_SOCKET", h.socket, 1);
    /* the secret goes in on stdin, never in argv */
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "echo '{\"password\": \"%s\"}' | '%s' post smtp bob >/dev/null", secret, cli);
    CHECK(system(cmd) == 0, "post");
    pid_t who;
    bool env;
    /* exec: the value is only in the environment of the command it runs */
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        execl(cli, cli, "exec", "-e", "SMTP_PASSWORD=smtp/bob/password", "--", "/bin/sleep",
              "2", (char *)NULL);
        _exit(127);
    }
    int holders = 0;
    for (int i = 0; i < 150; i++) { /* polls until the command runs */
        holders = proc_holders(secret, &who, &env);
        if (holders > 0)
            break;
        usleep(10000);
    }
    char exe[64], target[256] = "";
    snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)who);
    ssize_t tl = holders > 0 ? readlink(exe, target, sizeof(target) - 1) : -1;
    if (tl > 0)
        target[tl] = '\0';
    int st;
    waitpid(pid, &st, 0);
    printf("cli_proc: during exec %d process(es) hold the secret: pid %d (%s) in %s\n", holders,
           (int)who, target, env ? "environ" : "cmdline");
    CHECK(holders == 1 && who == pid && env && strstr(target, "sleep") != NULL,
          "the secret is somewhere other than the exec'd command's environment");
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exec failed");
    /* get -f prints it; during and after, no process holds it */
    snprintf(cmd, sizeof(cmd), "'%s' get bob -p smtp -f password | grep -q '%s'", cli, secret);
    CHECK(system(cmd) == 0, "get");
    CHECK(proc_holders(secret, &who, &env) == 0, "a leftover process holds the secret");
}

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "";
    CHECK(geteuid() == 0, "these checks need root");
    atexit(cleanup);
    if (strcmp(which, "memscan") == 0)
        case_memscan();
    else if (strcmp(which, "ptrace") == 0)
        case_ptrace();
    else if (strcmp(which, "policy") == 0)
        case_policy();
    else if (strcmp(which, "cli_proc") == 0)
        case_cli_proc();
    else {
        fprintf(stderr, "usage: test_security memscan|ptrace|policy|cli_proc\n");
        return 2;
    }
    return 0;
}
