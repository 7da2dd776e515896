/*
 * daemon/store/store_mirror_build.c - building the mirror in slices, after unlock.
 *
 * Why: the build reads every ord entry (decrypting each, for its version) and every rec
 * value, which the records layer opens and the mirror seals again under its own key
 * (store_mirror.c): the daemon logged "record mirror built" after 1.5 to 1.7 s at
 * 1,000,000 credentials, against 0.7 to 1.0 s when it copied the sealed values, and
 * 4.9 s on a loaded machine before the ord table below. Run at once it kept a just-unlocked
 * daemon from answering anything for that long. Unlock now only sizes the tables
 * (store_mirror_start) and the caller runs store_mirror_step between requests, each step
 * a slice of about a millisecond in a read txn of its own, so the store's one-thread rule
 * holds and no snapshot outlives a slice (a checkpoint, a trim or a batch may come between
 * two). Meanwhile gets find what the mirror already holds and read LMDB for the rest,
 * with the ord check of that path (store.c), so a rolled-back record fails as before.
 *
 * Why values taken across slices stay current: a slice reads the durable view of that
 * moment (never an open batch: a step while one is open does nothing). The ord pass may
 * record a version that a later write replaces; the rec pass then reads the new value,
 * whose version differs, and leaves it out (a miss: one LMDB read later). A value is taken
 * only when it carries the version ord named, and every write gives a new version to both,
 * so a taken value is the one its record holds. Writes between slices keep the mirror
 * right on their own (store.c's rec writes drop, durable batches add); the rec pass adds a
 * value only where no entry of its tag holds the same record (store_mirror_fill), so it
 * never replaces one a write or a get put there since.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "store_cache.h"
#include "store_kv.h"
#include "store_test.h"

#define MIR_REC_KEY  (2 * STORE_HASH_BYTES)
#define MIR_CLOCK_EVERY 32u /* entries between two looks at the clock */

/* LMDB's map of the data file: after a full scan, gets need none of it. LMDB does not
 * give the map's address (mdb_env_info's me_mapaddr is only set with MDB_FIXEDMAP), so
 * it is found in /proc/self/maps: the shared mapping of the data file's device and inode. */
static void mir_drop_map_pages(store_kv *kv)
{
    unsigned long long start, end, off, ino;
    unsigned dev_major, dev_minor;
    char perms[8], line[512];
    unsigned flags;
    struct stat st;
    FILE *f;
    int fd;

    /* Without MDB_WRITEMAP the map is read-only and shared: dropping its pages loses
     * nothing (they are the page cache's); the next access maps them again. */
    if (mdb_env_get_flags(kv->env, &flags) != 0 || (flags & MDB_WRITEMAP) ||
        mdb_env_get_fd(kv->env, &fd) != 0 || fstat(fd, &st) != 0 ||
        (f = fopen("/proc/self/maps", "re")) == NULL)
        return;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu", &start, &end, perms, &off,
                   &dev_major, &dev_minor, &ino) == 7 &&
            ino == (unsigned long long)st.st_ino && dev_major == major(st.st_dev) &&
            dev_minor == minor(st.st_dev) && perms[3] == 's' && off == 0 && end > start)
            (void)madvise((void *)(uintptr_t)start, (size_t)(end - start), MADV_DONTNEED);
    fclose(f);
}

/*
 * The versions that `ord` names: store_rec_current per record would cost a B-tree
 * descent of ord each (half the build's time); the ord pass fills this table instead,
 * then each rec value is checked against it. Keyed by seq alone: a write counter value is
 * never used twice, and an ord entry authenticates only at its own key Hp || seq, so no
 * two entries that open share a seq. About 16 bytes per 0.7 credentials while the build
 * runs. Sized at the start; entries that writes add meanwhile past 3/4 of it are left
 * out (their records read LMDB), so a probe always ends.
 */
static size_t mir_vers_home(const store_mirror_job *j, uint64_t seq)
{
    return (size_t)((seq * 0x9e3779b97f4a7c15u) >> 17) & j->vmask;
}

static void mir_vers_add(store_mirror_job *j, uint64_t seq, uint64_t ver)
{
    size_t i = mir_vers_home(j, seq);

    while (j->vers[2 * i] != 0 && j->vers[2 * i] != seq + 1)
        i = (i + 1) & j->vmask;
    if (j->vers[2 * i] == 0) {
        if ((j->vcount + 1) * 4 > (j->vmask + 1) * 3)
            return;
        j->vcount++;
    }
    j->vers[2 * i] = seq + 1;
    j->vers[2 * i + 1] = ver;
}

/* store_rec_current's answer for rec value v, from the table. */
static bool mir_vers_current(const store_mirror_job *j, const MDB_val *v)
{
    uint64_t seq, ver;
    size_t i;

    if (v->mv_size < STORE_REC_CLEAR)
        return false;
    seq = store_get_u64(v->mv_data);
    ver = store_get_u64((const uint8_t *)v->mv_data + 8);
    for (i = mir_vers_home(j, seq); j->vers[2 * i] != 0; i = (i + 1) & j->vmask)
        if (j->vers[2 * i] == seq + 1)
            return j->vers[2 * i + 1] == ver;
    return false;
}

static void mir_take(store_mirror *m, store_kv *kv, const MDB_val *k, const MDB_val *v)
{
    store_mirror_job *j = &m->job;
    uint64_t seq, ver;

    if (j->pass == STORE_MIR_ORD) {
        if (j->feed.ord_version(kv->owner, k, v, &seq, &ver))
            mir_vers_add(j, seq, ver);
    } else if (k->mv_size == MIR_REC_KEY && mir_vers_current(j, v)) {
        j->feed.take(kv->owner, k, v); /* records open it, then store_mirror_fill */
    }
}

static uint64_t mir_now_ns(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Positions c at the first key after the one the pass stopped at (or the first). */
static int mir_resume(store_mirror_job *j, MDB_cursor *c, MDB_val *k, MDB_val *v)
{
    int rc;

    if (j->last_len == 0)
        return mdb_cursor_get(c, k, v, MDB_FIRST);
    k->mv_size = j->last_len;
    k->mv_data = j->last;
    rc = mdb_cursor_get(c, k, v, MDB_SET_RANGE);
    if (rc == 0 && k->mv_size == j->last_len && memcmp(k->mv_data, j->last, j->last_len) == 0)
        rc = mdb_cursor_get(c, k, v, MDB_NEXT);
    return rc;
}

/* When a step ends: its deadline, or, once it has run until `least`, as soon as its
 * caller's stop says so. */
typedef struct mir_until {
    uint64_t least, deadline;
    bool (*stop)(void *arg);
    void *arg;
} mir_until;

static bool mir_due(const mir_until *u)
{
    uint64_t now = mir_now_ns();

    return now >= u->deadline || (u->stop != NULL && now >= u->least && u->stop(u->arg));
}

/* One slice of the current pass, until the step is due (mir_due) or the pass's end. */
static int mir_slice(store_mirror *m, store_kv *kv, const mir_until *until)
{
    store_mirror_job *j = &m->job;
    MDB_cursor *c = NULL;
    MDB_txn *txn;
    MDB_val k, v;
    size_t n = 0;
    int rc, r;

    if ((r = store_read_begin(kv, &txn)) != 0)
        return r;
    if ((rc = mdb_cursor_open(txn, j->pass == STORE_MIR_ORD ? kv->ord : kv->rec, &c)) != 0)
        goto out;
    for (rc = mir_resume(j, c, &k, &v); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        mir_take(m, kv, &k, &v);
        if (++n % MIR_CLOCK_EVERY == 0 && k.mv_size <= sizeof j->last && mir_due(until)) {
            memcpy(j->last, k.mv_data, k.mv_size);
            j->last_len = k.mv_size;
            break;
        }
    }
    if (rc == MDB_NOTFOUND) { /* the pass is done: the next one starts at its first key */
        j->pass = j->pass == STORE_MIR_ORD ? STORE_MIR_REC : STORE_MIR_NONE;
        j->last_len = 0;
        rc = 0;
    }
out:
    if (c != NULL)
        mdb_cursor_close(c);
    store_read_end(kv);
    return rc != 0 ? store_mdb_err(kv, rc, "mirror read") : 0;
}

static int mir_start(store_mirror *m, store_kv *kv, const store_mirror_feed *feed)
{
    store_mirror_job *j = &m->job;
    MDB_stat ord, rec;
    MDB_txn *txn;
    size_t slots = 64;
    int rc, r;

    store_mirror_free(m);
    if ((r = store_read_begin(kv, &txn)) != 0)
        return r;
    rc = mdb_stat(txn, kv->ord, &ord);
    if (rc == 0)
        rc = mdb_stat(txn, kv->rec, &rec);
    store_read_end(kv);
    if (rc != 0)
        return store_mdb_err(kv, rc, "mirror");
    /* The tree's leaf bytes bound what the values take; the arena grows past a guess. */
    if ((r = store_mirror_alloc(m, rec.ms_entries, (size_t)rec.ms_psize *
                                (rec.ms_leaf_pages + rec.ms_overflow_pages),
                                feed->suite)) != 0)
        return store_kv_errf(kv, r, "no memory for the record mirror");
    /* room for the entries of today plus writes during the build, under 3/4 full */
    while (slots < ord.ms_entries * 2 + 64)
        slots *= 2;
    if ((j->vers = store_map_anon(slots * 2 * sizeof *j->vers)) == NULL) {
        store_mirror_free(m);
        return store_kv_errf(kv, SKR_ENOMEM, "no memory for the record mirror");
    }
    j->vmask = slots - 1;
    j->feed = *feed;
    j->pass = STORE_MIR_ORD;
    return 0;
}

/* Once built: the version table goes, and so do LMDB's map pages the passes touched. */
static void mir_finish(store_mirror *m, store_kv *kv)
{
    store_mirror_job *j = &m->job;

    store_unmap_anon(j->vers, (j->vmask + 1) * 2 * sizeof *j->vers);
    sodium_memzero(j, sizeof *j);
    mir_drop_map_pages(kv);
}

/* Best effort: without a mirror gets read LMDB; the caller's own call succeeded, so the
 * build's failure does not replace its error message. */
void store_mirror_start(store_mirror *m, store_kv *kv, const store_mirror_feed *feed)
{
    char msg[STORE_ERRMSG_MAX];

    memcpy(msg, kv->errmsg, sizeof msg);
    (void)mir_start(m, kv, feed);
    memcpy(kv->errmsg, msg, sizeof msg);
}

bool store_cache_step(store_mirror *m, store_kv *kv, unsigned budget_us, unsigned least_us,
                      bool (*stop)(void *arg), void *arg)
{
    uint64_t t0 = mir_now_ns();
    mir_until until = { t0 + (uint64_t)least_us * 1000u, t0 + (uint64_t)budget_us * 1000u,
                        stop, arg };
    char msg[STORE_ERRMSG_MAX];
    int r = 0;

    if (m->job.pass == STORE_MIR_NONE)
        return false;
    if (kv->batching) /* its writes are not durable: the build reads none of them */
        return true;
    if (kv->ckpt_running) /* no LMDB until the commit ends (store_ckpt.c) */
        return true;
    memcpy(msg, kv->errmsg, sizeof msg);
    do /* at least one slice (at least MIR_CLOCK_EVERY entries): a step always advances */
        r = mir_slice(m, kv, &until);
    while (r == 0 && m->job.pass != STORE_MIR_NONE && !mir_due(&until));
    memcpy(kv->errmsg, msg, sizeof msg);
    store_stack_wipe(); /* the slice's values were opened and sealed below this frame */
    if (r != 0) {
        store_mirror_free(m);
        return false;
    }
    if (m->job.pass != STORE_MIR_NONE)
        return true;
    mir_finish(m, kv);
    return false;
}

void store_mirror_build(store_mirror *m, store_kv *kv, const store_mirror_feed *feed)
{
    (void)store_kv_checkpoint_finish(kv); /* the steps below read LMDB */
    store_mirror_start(m, kv, feed);
    /* an open batch (never, from rotate and init, which refuse one) leaves it to steps */
    while (!kv->batching && store_cache_step(m, kv, 1000000u, 0, NULL, NULL))
        ;
}

bool store_cache_building(const store_mirror *m)
{
    return m->job.pass != STORE_MIR_NONE;
}

bool store_cache_wiped(const store_mirror *m)
{
    return sodium_is_zero((const unsigned char *)m, sizeof *m);
}
