/*
 * daemon/store/store_ring.c - the key file `keys`: the wrapped data keys, outside LMDB.
 *
 * Why a file of its own: LMDB is copy-on-write, so a passwd that rewrote meta "wrap" left
 * the old wrap in a freed page of data.mdb, and whoever held the file and the old
 * passphrase could read it. Here a change overwrites both slots in place, one after the
 * other, each synced: after it returns, neither holds what it replaced. A crash at any
 * point leaves one valid slot (the torn one fails its checksum, or still holds the
 * previous generation), and open takes the valid slot with the highest generation and
 * rewrites its twin. Layout in store_keys.h.
 *
 * Hubs made before this file kept the wrap in LMDB meta. The first unlock or passwd moves
 * it here (store_ring_migrate): the key file first, then one LMDB txn that drops meta
 * "wrap" and "kdf" and names the key, then a compacting copy of data.mdb (only live
 * pages: the freed page with the old wrap is not copied) renamed over the file. The key
 * file carries STORE_RING_COMPACT until that copy is in place, so a crash before it is
 * finished at the next open.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store_folder.h"
#include "store_hub.h"
#include "store_keys.h"
#include "store_test.h"

#define R_MAGIC     "SKRKEYS1"
#define R_FORMAT    1u
#define R_SLOT      4096u
#define R_HEAD      25u
#define R_ENT       (8u + STORE_KDF_PACKED + STORE_WRAP_BYTES)
#define R_SUM       16u
#define R_FILE      "keys"
#define R_COMPACT   "data.mdb.compact"

_Static_assert(R_HEAD + STORE_RING_MAX * R_ENT + R_SUM <= R_SLOT, "a slot holds its content");

static int store_test_crash;

void store_test_crash_at(int point)
{
    store_test_crash = point;
}

void store_crash_point(int point)
{
    if (store_test_crash == point)
        _exit(STORE_TEST_CRASH_EXIT);
}

static void r_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static uint32_t r_get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void r_encode(const store_ring *r, uint8_t slot[R_SLOT])
{
    uint8_t *p = slot + R_HEAD;

    memset(slot, 0, R_SLOT);
    memcpy(slot, R_MAGIC, 8);
    r_put32(slot + 8, R_FORMAT);
    r_put32(slot + 12, r->flags);
    store_put_u64(slot + 16, r->gen);
    slot[24] = (uint8_t)r->n;
    for (unsigned i = 0; i < r->n; i++, p += R_ENT) {
        store_put_u64(p, r->ent[i].id);
        store_kdf_pack(&r->ent[i].kdf, p + 8);
        memcpy(p + 8 + STORE_KDF_PACKED, r->ent[i].wrap, STORE_WRAP_BYTES);
    }
    crypto_generichash(p, R_SUM, slot, (size_t)(p - slot), NULL, 0);
}

/* 0 and *r for a valid slot; -1 for anything else (torn, zeros, another format). */
static int r_decode(const uint8_t slot[R_SLOT], store_ring *r)
{
    uint8_t sum[R_SUM];
    const uint8_t *p = slot + R_HEAD;
    store_ring out = { 0 };

    if (memcmp(slot, R_MAGIC, 8) != 0 || r_get32(slot + 8) != R_FORMAT ||
        slot[24] < 1 || slot[24] > STORE_RING_MAX)
        return -1;
    out.n = slot[24];
    crypto_generichash(sum, R_SUM, slot, R_HEAD + out.n * R_ENT, NULL, 0);
    if (sodium_memcmp(sum, slot + R_HEAD + out.n * R_ENT, R_SUM) != 0)
        return -1;
    out.flags = r_get32(slot + 12);
    out.gen = store_get_u64(slot + 16);
    for (unsigned i = 0; i < out.n; i++, p += R_ENT) {
        out.ent[i].id = store_get_u64(p);
        if (store_kdf_unpack(p + 8, STORE_KDF_PACKED, &out.ent[i].kdf) != 0)
            return -1;
        memcpy(out.ent[i].wrap, p + 8 + STORE_KDF_PACKED, STORE_WRAP_BYTES);
    }
    if (out.gen == 0)
        return -1;
    *r = out;
    return 0;
}

static int r_errno(store *s, const char *what)
{
    int e = errno;
    return store_errf(s, e == EACCES || e == EPERM ? SKR_EDENIED : SKR_EINTERNAL,
                      "key file: %s: %s", what, strerror(e));
}

static int r_write_slot(store *s, unsigned i, const uint8_t slot[R_SLOT])
{
    ssize_t n = pwrite(s->hk.kfd, slot, R_SLOT, (off_t)i * R_SLOT);

    if (n != (ssize_t)R_SLOT) {
        if (n >= 0)
            errno = EIO;
        return r_errno(s, "write");
    }
    if (fdatasync(s->hk.kfd) != 0)
        return r_errno(s, "sync");
    return 0;
}

int store_ring_write(store *s, const store_ring *next)
{
    uint8_t slot[R_SLOT];
    store_ring r = *next;
    int rc;

    /* A key change written into a deleted file would be lost at the next start. */
    if (store_fd_unlinked(s->hk.kfd))
        return store_errf(s, SKR_EINTERNAL, "the hub's key file was deleted while sekretsd "
                          "ran: key changes are refused (restart sekretsd)");
    r.gen = s->hk.ring.gen + 1;
    r_encode(&r, slot);
    if ((rc = r_write_slot(s, 0, slot)) != 0)
        return rc;
    /* Slot 0 is what an open would take from now on: so does this process. */
    s->hk.ring = r;
    store_crash_point(STORE_CRASH_RING_HALF);
    return r_write_slot(s, 1, slot);
}

const store_wrapent *store_ring_find(const store *s, uint64_t id)
{
    for (unsigned i = 0; i < s->hk.ring.n; i++)
        if (s->hk.ring.ent[i].id == id)
            return &s->hk.ring.ent[i];
    return NULL;
}

static int r_sync_dir(store *s)
{
    return store_folder_sync(s->kv.dir) != 0 ? r_errno(s, "sync the hub folder") : 0;
}

static int r_path(store *s, const char *name, char path[PATH_MAX])
{
    if ((size_t)snprintf(path, PATH_MAX, "%s/%s", s->kv.dir, name) >= PATH_MAX)
        return store_errf(s, SKR_EINVAL, "hub folder: path too long");
    return 0;
}

/* A compacting copy of data.mdb (live pages only) renamed over it, then the env opened
 * again. No write txn may be open. */
static int r_compact(store *s)
{
    char tmp[PATH_MAX], dst[PATH_MAX];
    int fd = -1, rc, r;

    if ((r = r_path(s, R_COMPACT, tmp)) != 0 || (r = r_path(s, "data.mdb", dst)) != 0)
        return r;
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
        return r_errno(s, "create " R_COMPACT);
    if ((rc = mdb_env_copyfd2(s->kv.env, fd, MDB_CP_COMPACT)) != 0) {
        r = store_mdb_err(&s->kv, rc, "compact data.mdb");
        goto out;
    }
    if (fsync(fd) != 0) {
        r = r_errno(s, "sync " R_COMPACT);
        goto out;
    }
    store_crash_point(STORE_CRASH_COMPACT_COPIED);
    store_env_close(&s->kv);
    if (rename(tmp, dst) != 0) {
        r = r_errno(s, "rename " R_COMPACT);
        (void)store_env_reopen(&s->kv);
        goto out;
    }
    if ((r = r_sync_dir(s)) == 0)
        r = store_env_reopen(&s->kv);
    else
        (void)store_env_reopen(&s->kv);
out:
    if (fd >= 0)
        close(fd);
    if (r != 0)
        (void)unlink(tmp);
    return r;
}

int store_ring_compact_pending(store *s)
{
    store_ring next;
    int r;

    if (!(s->hk.ring.flags & STORE_RING_COMPACT) || s->hk.legacy)
        return 0;
    if ((r = store_checkpoint(s)) != 0 || (r = r_compact(s)) != 0)
        return r;
    next = s->hk.ring;
    next.flags &= ~STORE_RING_COMPACT;
    return store_ring_write(s, &next);
}

static int r_migrate_txn(store *s, MDB_txn *txn, void *ctx)
{
    static const char *const gone[] = { "wrap", "kdf" };
    MDB_val k;
    int rc;

    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++) {
        k.mv_size = strlen(gone[i]);
        k.mv_data = (void *)gone[i];
        if ((rc = mdb_del(txn, s->kv.meta, &k, NULL)) != 0 && rc != MDB_NOTFOUND)
            return store_mdb_err(&s->kv, rc, "migrate: delete the old wrap");
    }
    return store_put_keyid(s, txn, *(const uint64_t *)ctx);
}

int store_ring_migrate(store *s, const uint8_t *keys, const uint8_t *kek)
{
    store_ring next = { .flags = STORE_RING_COMPACT, .n = 1 };
    uint64_t id = store_keyid_new(s);
    int r;

    store_wrap_make(&s->hk.kdf, kek, keys, id, &next.ent[0]);
    if ((r = store_ring_write(s, &next)) != 0)
        return r;
    store_crash_point(STORE_CRASH_MIGRATE_RING);
    if ((r = store_write(&s->kv, r_migrate_txn, &id)) != 0)
        return r;
    s->hk.keyid = id;
    s->hk.legacy = false;
    store_crash_point(STORE_CRASH_MIGRATE_TXN);
    return store_ring_compact_pending(s);
}

int store_ring_open(store *s, char err[STORE_ERRMSG_MAX])
{
    uint8_t slot[2][R_SLOT];
    store_ring got[2];
    char path[PATH_MAX];
    int ok[2], r, best;
    ssize_t n;

    if ((r = r_path(s, R_COMPACT, path)) != 0)
        goto fail;
    (void)unlink(path); /* a compaction cut short: data.mdb is still the whole hub */
    if ((r = r_path(s, R_FILE, path)) != 0)
        goto fail;
    s->hk.kfd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (s->hk.kfd < 0 && errno == ENOENT) {
        /* A new file: its name must be durable before anything relies on its content. */
        if ((s->hk.kfd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                           0600)) >= 0 && (r = r_sync_dir(s)) != 0)
            goto fail;
    }
    if (s->hk.kfd < 0) {
        r = r_errno(s, "open");
        goto fail;
    }
    /* kv refuses writes once the key file is deleted, as it does for its own files */
    if ((r = store_kv_watch(&s->kv, s->hk.kfd)) != 0) {
        r = store_errf(s, r, "key file: kv watches too many files");
        goto fail;
    }
    memset(slot, 0, sizeof slot);
    if ((n = pread(s->hk.kfd, slot, sizeof slot, 0)) < 0) {
        r = r_errno(s, "read");
        goto fail;
    }
    for (int i = 0; i < 2; i++)
        ok[i] = r_decode(slot[i], &got[i]) == 0;
    best = ok[1] && (!ok[0] || got[1].gen > got[0].gen) ? 1 : 0;
    if (ok[best]) {
        s->hk.ring = got[best];
        /* The twin is torn or a generation behind: make it a copy of the one in use. */
        if (!ok[!best] || memcmp(slot[0], slot[1], R_SLOT) != 0) {
            if ((r = r_write_slot(s, !best, slot[best])) != 0)
                goto fail;
        }
    }
    sodium_memzero(slot, sizeof slot);
    if (s->recs.initialized && !s->hk.legacy) {
        const store_wrapent *e = store_ring_find(s, s->hk.keyid);
        if (e == NULL) {
            r = store_errf(s, SKR_EINTEGRITY, "the key file %s holds no key for this hub's "
                           "records (data key %016llx): restore it from the backup of this "
                           "hub", path, (unsigned long long)s->hk.keyid);
            goto fail;
        }
        s->hk.kdf = e->kdf;
        /* A rotate cut short left a wrap no record uses (the old key's, under the old
         * passphrase after a passwd --rotate): keep only the one LMDB names. */
        if (s->hk.ring.n > 1) {
            store_ring next = { .flags = s->hk.ring.flags, .n = 1, .ent = { *e } };
            r = store_ring_write(s, &next);
            sodium_memzero(&next, sizeof next);
            if (r != 0)
                goto fail;
        }
    }
    if ((r = store_ring_compact_pending(s)) != 0)
        goto fail;
    return 0;
fail:
    snprintf(err, STORE_ERRMSG_MAX, "hub %.100s: %.140s", s->kv.dir, s->kv.errmsg);
    return r;
}

void store_ring_close(store *s)
{
    if (s->hk.kfd >= 0)
        close(s->hk.kfd);
    s->hk.kfd = -1;
    sodium_memzero(&s->hk.ring, sizeof s->hk.ring);
}
