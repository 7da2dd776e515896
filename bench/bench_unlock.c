/*
 * bench/bench_unlock.c - how soon a just-unlocked hub serves, and gets beside puts (not a test).
 *
 *   bench_unlock BUILD_DIR [credentials] [seconds] [hub dir]   (defaults 1000000, 8, a new
 *                                                             folder under /tmp)
 *
 * Makes (or reuses) a passphrase hub of `credentials` credentials with Argon2id at its
 * minimum limits, written straight through the store in batches of 1000 under the names
 * bench_wire uses (p<i % 100>/user<i>). Starts BUILD_DIR/daemon/sekretsd on it, unlocks it
 * through the socket and prints: the unlock round trip, the Argon2id derivation alone
 * (timed here with the hub's own parameters: the part of the unlock spent off the loop),
 * and the time from the unlock reply to the first get's reply, twice: first with the
 * daemon at log level info, until its log says the mirror is built (how long that took,
 * with no other load); then at level warn, while bench_wire keeps 64 puts in flight for
 * `seconds` and this process times gets one at a time, printed per second (p50, p99,
 * max), the first seconds overlapping the mirror's build.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "bench_kv.h"
#include "sekrets/sekrets.h"
#include "store.h"

#define PROTOCOLS 100
#define PASS      "bench-unlock"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

__attribute__((noreturn)) static void die(const char *what, int r)
{
    fprintf(stderr, "bench_unlock: %s failed: %d\n", what, r);
    exit(1);
}

static void fill(const char *dir, unsigned long n)
{
    kv_spec k = { .op = KV_PUT, .protocols = PROTOCOLS, .body_bytes = 100 };
    proto_buf body = PROTO_BUF_INIT;
    uint8_t kek[STORE_KEY_BYTES];
    /* store.c may read a name up to its bound: strnlen(s, STORE_MAX_NAME + 1) */
    char err[STORE_ERRMSG_MAX], p[SKR_MAX_PROTOCOL + 1], name[SKR_MAX_NAME + 1];
    store_kdf kdf;
    store *s;
    int r;

    if ((r = store_open(dir, &s, err)) != 0)
        die(err, r);
    if ((r = store_kdf_new(&kdf, STORE_KDF_ARGON2ID, crypto_pwhash_OPSLIMIT_MIN,
                           crypto_pwhash_MEMLIMIT_MIN)) != 0 ||
        (r = store_kdf_derive(&kdf, (const uint8_t *)PASS, strlen(PASS), kek)) != 0 ||
        (r = store_init(s, &kdf, kek)) != 0)
        die("init", r);
    sodium_memzero(kek, sizeof kek);
    for (unsigned long i = 0; i < n; i++) {
        if (i % 1000 == 0 && (r = store_batch_begin(s)) != 0)
            die("batch", r);
        snprintf(p, sizeof p, "p%lu", i % PROTOCOLS);
        snprintf(name, sizeof name, "user%lu", i);
        kv_body(&k, i, &body);
        if ((r = store_put(s, p, name, body.data, body.len, NULL)) != 0)
            die("put", r);
        if ((i % 1000 == 999 || i + 1 == n) && (r = store_batch_commit(s)) != 0)
            die("commit", r);
    }
    store_close(s);
    proto_buf_free(&body);
}

/* Argon2id with the hub's own parameters: what the unlock spends off the loop. */
static double kdf_ms(const char *dir)
{
    uint8_t kek[STORE_KEY_BYTES];
    char err[STORE_ERRMSG_MAX];
    store_kdf kdf;
    store *s;
    double t0;
    int r;

    if ((r = store_open(dir, &s, err)) != 0 || (r = store_get_kdf(s, &kdf)) != 0)
        die("open for the KDF", r);
    store_close(s);
    t0 = now_ms();
    if ((r = store_kdf_derive(&kdf, (const uint8_t *)PASS, strlen(PASS), kek)) != 0)
        die("derive", r);
    sodium_memzero(kek, sizeof kek);
    return now_ms() - t0;
}

static pid_t spawn(char *const argv[], const char *log)
{
    pid_t pid;

    fflush(stdout);
    pid = fork();

    if (pid == 0) {
        FILE *f = log != NULL ? freopen(log, "a", stderr) : NULL;
        (void)f;
        if (freopen("/dev/null", "w", stdout) == NULL)
            _exit(127);
        execv(argv[0], argv);
        _exit(127);
    }
    if (pid < 0)
        die("fork", -errno);
    return pid;
}

static int get_one(skr_client *c, unsigned long i)
{
    char p[16], name[32];
    skr_cred *cred = NULL;
    int r;

    snprintf(p, sizeof p, "p%lu", i % PROTOCOLS);
    snprintf(name, sizeof name, "user%lu", i);
    r = skr_get(c, name, p, &cred);
    if (r == 0 && strcmp(skr_cred_name(cred), name) != 0)
        r = SKR_EINTEGRITY;
    skr_cred_free(cred);
    return r;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void print_second(int sec, double *v, size_t n, unsigned long errors)
{
    qsort(v, n, sizeof *v, cmp_double);
    printf("  second %2d: %6zu gets  p50 %7.3f ms  p99 %7.3f ms  max %7.3f ms  errors %lu\n",
           sec, n, n ? v[n / 2] : 0, n ? v[(size_t)((double)n * 0.99)] : 0,
           n ? v[n - 1] : 0, errors);
}

/* Gets of random credentials, one at a time, while bench_wire keeps 64 puts in flight. */
static void gets_beside_puts(skr_client *c, const char *build, const char *sock,
                             unsigned long n, int seconds)
{
    char wire[4096], names[32], secs[16];
    size_t cap = 1 << 20, k = 0;
    double *v = malloc(cap * sizeof *v), t0, start;
    unsigned long errors = 0;
    int sec = 0, status;
    pid_t pid;

    snprintf(wire, sizeof wire, "%s/bench/bench_wire", build);
    snprintf(names, sizeof names, "%lu", n);
    snprintf(secs, sizeof secs, "%d", seconds);
    char *argv[] = { wire, "--socket", (char *)sock, "--op", "put", "--depth", "64",
                     "--names", names, "--protocols", "100", "--seconds", secs, NULL };
    if (v == NULL)
        die("malloc", -ENOMEM);
    pid = spawn(argv, NULL);
    start = now_ms();
    printf("gets one at a time while bench_wire keeps 64 puts in flight:\n");
    while (sec < seconds) {
        t0 = now_ms();
        if (get_one(c, randombytes_uniform((uint32_t)n)) != 0)
            errors++;
        double t1 = now_ms();
        if (k < cap)
            v[k++] = t1 - t0;
        if (t1 - start >= (sec + 1) * 1000.0) {
            print_second(sec++, v, k, errors);
            k = 0;
            errors = 0;
        }
    }
    waitpid(pid, &status, 0);
    free(v);
}

/* A daemon on the hub (log level `level`, its log appended to log), connected, unlocked:
 * prints the unlock round trip and how soon after its reply the first get came back. */
static pid_t start_unlocked(const char *build, const char *dir, const char *sock,
                            const char *log, const char *level, unsigned long n,
                            skr_client **out)
{
    char daemon[4096];
    skr_client *c = NULL;
    double t0, t1, t2;
    pid_t pid;
    int r;

    snprintf(daemon, sizeof daemon, "%s/daemon/sekretsd", build);
    char *dargv[] = { daemon, "--foreground", "--socket", (char *)sock, "--hub", (char *)dir,
                      "--log-level", (char *)level, NULL };
    unlink(sock);
    pid = spawn(dargv, log);
    for (int i = 0; skr_connect(sock, 5000, &c) != 0; i++) {
        if (i == 500)
            die("connect", -1);
        usleep(10000);
    }
    skr_client_set_timeout(c, 60000);
    t0 = now_ms();
    if ((r = skr_unlock(c, PASS, strlen(PASS))) != 0)
        die("unlock", r);
    t1 = now_ms();
    if ((r = get_one(c, n / 2)) != 0)
        die("first get", r);
    t2 = now_ms();
    printf("unlock round trip %.1f ms; first get answered %.2f ms after the unlock reply\n",
           t1 - t0, t2 - t1);
    *out = c;
    return pid;
}

static void stop(pid_t pid, skr_client *c)
{
    skr_client_close(c);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

/* How long the daemon's log took to say the mirror was built (no other load). */
static void build_time(const char *log)
{
    char line[512];
    FILE *f;

    for (int i = 0; i < 12000; i++) {
        if ((f = fopen(log, "r")) != NULL) {
            while (fgets(line, sizeof line, f) != NULL)
                if (strstr(line, "record mirror built") != NULL) {
                    printf("  %s", strstr(line, "record mirror built"));
                    fclose(f);
                    return;
                }
            fclose(f);
        }
        usleep(10000);
    }
    printf("  the mirror was not built within 120 s\n");
}

int main(int argc, char **argv)
{
    char dir[4096], sock[4200 + 8], log[4200];
    unsigned long n = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000000;
    int seconds = argc > 3 ? atoi(argv[3]) : 8;
    skr_client *c = NULL;
    struct stat st;
    double t0;
    pid_t pid;

    if (argc < 2 || n == 0 || seconds <= 0) {
        fputs("usage: bench_unlock BUILD_DIR [credentials] [seconds] [hub dir]\n", stderr);
        return 2;
    }
    if (sodium_init() < 0)
        die("sodium_init", -1);
    snprintf(dir, sizeof dir, "%s", argc > 4 ? argv[4] : "/tmp/skr-bench-unlock");
    if (stat(dir, &st) != 0) {
        t0 = now_ms();
        fill(dir, n);
        printf("made a hub of %lu credentials in %.1f s\n", n, (now_ms() - t0) / 1e3);
    }
    printf("Argon2id at the hub's (minimum) limits, timed here: %.2f ms\n", kdf_ms(dir));
    snprintf(sock, sizeof sock, "%s.run", dir);
    if (mkdir(sock, 0700) != 0 && errno != EEXIST)
        die("mkdir", -errno);
    snprintf(sock, sizeof sock, "%s.run/sock", dir);
    snprintf(log, sizeof log, "%s.log", dir);
    unlink(log);
    /* 1: at log level info (an audit line per request) for the build's own report */
    pid = start_unlocked(argv[1], dir, sock, log, "info", n, &c);
    build_time(log);
    stop(pid, c);
    /* 2: at level warn, as bench/run.sh runs it */
    pid = start_unlocked(argv[1], dir, sock, NULL, "warn", n, &c);
    gets_beside_puts(c, argv[1], sock, n, seconds);
    stop(pid, c);
    return 0;
}
