/*
 * bench/bench_store.c - costs of the hub store (not a test).
 *
 *   bench_store [records]        (default 1000000)
 *
 * Prints ns per get (decrypt included, random names) at 1,000 and at `records` records,
 * ns per put (one synced txn each, on /tmp and on /dev/shm; and in group commits of 100),
 * unlock time at the default Argon2id limits, and data file bytes per record. The large
 * hub is filled on /dev/shm in group commits of 1000 so that it takes seconds; a get never
 * syncs, so the file system does not change its cost once the file is in the page cache.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "store.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st; (void)flag; (void)f;
    return remove(p);
}

__attribute__((noreturn)) static void die(const char *what, int r)
{
    fprintf(stderr, "bench_store: %s failed: %d\n", what, r);
    exit(1);
}

static store *new_hub(const char *base, char *dir, size_t cap)
{
    uint8_t kek[STORE_KEY_BYTES];
    char err[STORE_ERRMSG_MAX];
    store_kdf kdf;
    store *s;
    int r;

    snprintf(dir, cap, "%s/skr-bench-XXXXXX", base);
    if (mkdtemp(dir) == NULL)
        die("mkdtemp", -1);
    if ((r = store_open(dir, &s, err)) != 0)
        die(err, r);
    if ((r = store_kdf_new(&kdf, STORE_KDF_ARGON2ID, crypto_pwhash_OPSLIMIT_MIN,
                           crypto_pwhash_MEMLIMIT_MIN)) != 0 ||
        (r = store_kdf_derive(&kdf, (const uint8_t *)"bench", 5, kek)) != 0 ||
        (r = store_init(s, &kdf, kek)) != 0)
        die("init", r);
    sodium_memzero(kek, sizeof kek);
    return s;
}

/* A typical body: a small msgpack map of about 100 bytes. */
static size_t make_body(uint8_t *b, size_t i)
{
    return (size_t)snprintf((char *)b, 128,
                            "\x84\xa9" "client_id" "\xb0" "id-%012zu" "\xad" "client_secret"
                            "\xb8" "sec-%020zu" "\xa7" "profile" "\xa4" "main" "\xa4" "path"
                            "\xa2" "/x", i, i * 7919);
}

/* batch 0: one synced txn per post; else one group commit per `batch` posts. */
static void fill(store *s, size_t from, size_t to, size_t batch)
{
    uint8_t body[128];
    char name[48];
    int r;

    for (size_t i = from; i < to; i++) {
        if (batch && (i - from) % batch == 0 && (r = store_batch_begin(s)) != 0)
            die("batch begin", r);
        snprintf(name, sizeof name, "user-%09zu@example.org", i);
        if ((r = store_post(s, i % 5 ? "gdrive2" : "s3", name, body, make_body(body, i))) != 0)
            die("post", r);
        if (batch && ((i - from) % batch == batch - 1 || i + 1 == to) &&
            (r = store_batch_commit(s)) != 0)
            die("batch commit", r);
    }
}

/* Random look-ups among n records; returns ns per get. */
static double bench_get(store *s, size_t n, size_t gets)
{
    char (*names)[48] = malloc(gets * sizeof *names);
    store_record rec;
    double t0, t1;
    size_t sum = 0;

    for (size_t k = 0; k < gets; k++)
        snprintf(names[k], sizeof names[k], "user-%09u@example.org",
                 randombytes_uniform((uint32_t)n));
    t0 = now_ns();
    for (size_t k = 0; k < gets; k++) {
        size_t i = (size_t)atol(names[k] + 5);
        int r = store_get(s, i % 5 ? "gdrive2" : "s3", names[k], &rec);
        if (r != 0)
            die("get", r);
        sum += rec.body_len;
        store_release(s);
    }
    t1 = now_ns();
    free(names);
    if (sum == 0)
        die("get sum", 0);
    return (t1 - t0) / (double)gets;
}

static double bench_put(const char *base, size_t n, size_t batch)
{
    char dir[256];
    store *s = new_hub(base, dir, sizeof dir);
    double t0 = now_ns();

    fill(s, 0, n, batch);
    double ns = (now_ns() - t0) / (double)n;
    store_close(s);
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return ns;
}

static double bench_unlock(void)
{
    uint8_t kek[STORE_KEY_BYTES];
    char dir[256], err[STORE_ERRMSG_MAX];
    store_kdf kdf;
    store *s;
    double t0, t1;
    int r;

    snprintf(dir, sizeof dir, "/tmp/skr-bench-XXXXXX");
    if (mkdtemp(dir) == NULL || (r = store_open(dir, &s, err)) != 0)
        die("open", -1);
    if ((r = store_kdf_new(&kdf, STORE_KDF_ARGON2ID, 0, 0)) != 0 ||
        (r = store_kdf_derive(&kdf, (const uint8_t *)"bench", 5, kek)) != 0 ||
        (r = store_init(s, &kdf, kek)) != 0)
        die("init default", r);
    store_lock(s);
    t0 = now_ns();
    if ((r = store_kdf_derive(&kdf, (const uint8_t *)"bench", 5, kek)) != 0 ||
        (r = store_unlock(s, kek)) != 0)
        die("unlock", r);
    t1 = now_ns();
    sodium_memzero(kek, sizeof kek);
    store_close(s);
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return (t1 - t0) / 1e6;
}

int main(int argc, char **argv)
{
    size_t big = argc > 1 ? (size_t)atol(argv[1]) : 1000000;
    char dir[256], path[300];
    struct stat st;
    store *s;

    if (sodium_init() < 0 || big < 1000)
        die("usage: bench_store [records >= 1000]", -1);
    printf("put, one synced txn each, /tmp:     %8.0f ns/put\n", bench_put("/tmp", 300, 0));
    printf("put, one synced txn each, /dev/shm: %8.0f ns/put\n",
           bench_put("/dev/shm", 20000, 0));
    printf("put, group commit of 100, /tmp:     %8.0f ns/put\n", bench_put("/tmp", 3000, 100));

    s = new_hub("/dev/shm", dir, sizeof dir);
    fill(s, 0, 1000, 0);
    bench_get(s, 1000, 100000); /* warm-up */
    printf("get at %8zu records:     %8.0f ns/get\n", (size_t)1000,
           bench_get(s, 1000, 1000000));
    fill(s, 1000, big, 1000); /* group commits: a million fsyncs would take long */
    bench_get(s, big, 200000);
    printf("get at %8zu records:     %8.0f ns/get\n", big, bench_get(s, big, 1000000));
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    if (stat(path, &st) == 0)
        printf("data.mdb: %lld bytes, %.0f bytes/record (body ~100 B)\n",
               (long long)st.st_size, (double)st.st_size / (double)big);
    store_close(s);
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);

    printf("unlock at default limits (Argon2id MODERATE + unwrap): %.0f ms\n", bench_unlock());
    return 0;
}
