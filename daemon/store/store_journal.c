/*
 * daemon/store/store_journal.c - the write-ahead journal behind group commit.
 *
 * Why: an LMDB commit is two ordered fdatasyncs over every B-tree page the batch dirtied
 * (data pages, then the meta page). A batch of small puts instead becomes one record
 * written to `journal` with one O_DSYNC pwrite; its replies go out after that. The LMDB
 * side of those batches stays in one open write transaction (`kv->ckpt`), which a
 * checkpoint commits (synced) every STORE_JOURNAL_CKPT_BYTES of journal, once it may hold
 * STORE_CKPT_MAX_PAGES dirty pages, when the daemon goes quiet, and before any other kind
 * of write. The data file therefore only ever changes by fully synced LMDB commits; the
 * journal holds what came after the last one.
 *
 * What is logged is physical: "put key -> value into db d" and "delete key (value) from
 * db d", with the keys and values exactly as LMDB stores them (keyed hashes and sealed
 * values), so the journal holds nothing in clear, and replay needs no key: a locked hub
 * recovers at open. Applying a record twice gives the same state as once
 * (each op sets or removes one entry), which is what makes a crash between a checkpoint's
 * LMDB commit and its journal reset harmless.
 *
 * File layout: a 4 KiB header block, then records.
 *   header: "SKRJRNL1" | epoch u64 BE | 32 zero bytes | BLAKE2b-128 of the 48 bytes before
 *   record: len u32 BE (whole record) | 0 u32 | epoch u64 BE | seq u64 BE | ops ... |
 *           BLAKE2b-128 of everything before it
 *   op:     kind u8 (1 put, 2 del) | db u8 | klen u16 BE | vlen u32 BE | key | value
 * A checkpoint bumps the header's epoch; records of another epoch, a bad checksum or a
 * gap in seq end the replay (a torn last record was never acknowledged). The file keeps
 * its size, so the next records overwrite old ones in place: no size change to sync.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_crypto.h"
#include "store_folder.h"
#include "store_kv.h"
#include "store_test.h"

#define J_MAGIC      "SKRJRNL1"
#define J_HEAD_BYTES 4096u
#define J_HEAD_USED  48u
#define J_SUM        16u
#define J_REC_HEAD   24u
#define J_OP_HEAD    8u
#define J_OP_PUT     1
#define J_OP_DEL     2
#define J_DBS        5
/* A record larger than this is corrupt: no batch gets near it (a batch is one loop turn). */
#define J_REC_MAX    ((uint64_t)1 << 30)

static uint32_t j_get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void j_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void j_sum(const uint8_t *p, size_t len, uint8_t out[J_SUM])
{
    crypto_generichash(out, J_SUM, p, len, NULL, 0);
}

static MDB_dbi j_dbi(const store_kv *kv, unsigned db)
{
    const MDB_dbi dbis[J_DBS] = { kv->meta, kv->rec, kv->ord, kv->names, kv->protos };
    return dbis[db];
}

static int j_db_index(const store_kv *kv, MDB_dbi dbi)
{
    for (unsigned i = 0; i < J_DBS; i++)
        if (j_dbi(kv, i) == dbi)
            return (int)i;
    return -1;
}

/* ---- the rec and names keys the journal's ops wrote ---- */

/* The set of every rec and names key that an op written to the journal (or replayed from
 * it) put or deleted since the journal's last reset, a superset of those keys s->kv.ckpt
 * changed: a key not in it reads the same in the data file's last commit as in
 * s->kv.ckpt, which lets a get be served from that commit while a checkpoint commits
 * (store_read_begin_key). It holds a 64-bit hash of each key and its database, in an
 * open-addressing table kept at most half full (a 1M hub under 64 puts in flight: about
 * 16k keys a checkpoint, a table of 256 KiB, kept for the next one). A key another one's
 * hash matches counts as written (odds of about 16k in 2^64): it waits for the commit, as
 * every read once did.
 * Why not a Bloom filter: at 128 KiB one get in a thousand was taken for written, and
 * each of those waited the whole commit (~200 ms). Not secret: rec keys are keyed hashes,
 * which the data file holds in clear. */
#define J_KEYS_MIN 1024u /* slots of a new table */

/* FNV-1a over the database and the key, then murmur3's finaliser; never 0, which marks
 * a free slot. */
static uint64_t j_key_hash(MDB_dbi dbi, const MDB_val *k)
{
    const uint8_t *p = k->mv_data;
    uint64_t h = (0xcbf29ce484222325u ^ dbi) * 0x100000001b3u;

    for (size_t i = 0; i < k->mv_size; i++)
        h = (h ^ p[i]) * 0x100000001b3u;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdu;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53u;
    h ^= h >> 33;
    return h != 0 ? h : 1;
}

/* The slot that holds h, or the free one where it would go. */
static size_t j_keys_slot(const uint64_t *t, size_t cap, uint64_t h)
{
    size_t i = (size_t)h & (cap - 1);

    while (t[i] != 0 && t[i] != h)
        i = (i + 1) & (cap - 1);
    return i;
}

/* Anonymous mappings, not the heap: a table of 256 KiB freed to glibc would raise its
 * mmap threshold, and large buffers would then stay on the heap. */
static bool j_keys_grow(store_kv *kv)
{
    size_t cap = kv->jkeys_cap ? 2 * kv->jkeys_cap : J_KEYS_MIN;
    uint64_t *t = mmap(NULL, cap * sizeof *t, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (t == MAP_FAILED)
        return false;
    for (size_t i = 0; i < kv->jkeys_cap; i++)
        if (kv->jkeys[i] != 0)
            t[j_keys_slot(t, cap, kv->jkeys[i])] = kv->jkeys[i];
    if (kv->jkeys != NULL)
        munmap(kv->jkeys, kv->jkeys_cap * sizeof *kv->jkeys);
    kv->jkeys = t;
    kv->jkeys_cap = cap;
    return true;
}

/* A table that cannot grow takes every key for written (jkeys_all) until the journal's
 * next reset: reads then wait for the commit, as before. */
static void j_mark_key(store_kv *kv, MDB_dbi dbi, const MDB_val *k)
{
    uint64_t h;
    size_t i;

    if ((dbi != kv->rec && dbi != kv->names) || kv->jkeys_all)
        return;
    if (2 * (kv->jkeys_n + 1) > kv->jkeys_cap && !j_keys_grow(kv)) {
        kv->jkeys_all = true;
        return;
    }
    h = j_key_hash(dbi, k);
    i = j_keys_slot(kv->jkeys, kv->jkeys_cap, h);
    if (kv->jkeys[i] == 0) {
        kv->jkeys[i] = h;
        kv->jkeys_n++;
    }
}

bool store_journal_wrote(const store_kv *kv, MDB_dbi dbi, const MDB_val *k)
{
    if (kv->jkeys_all)
        return true;
    if (kv->jkeys_n == 0)
        return false;
    uint64_t h = j_key_hash(dbi, k);
    return kv->jkeys[j_keys_slot(kv->jkeys, kv->jkeys_cap, h)] == h;
}

/* Once the data file holds every op the journal held (ckpt_reset). */
static void j_keys_clear(store_kv *kv)
{
    if (kv->jkeys_n > 0)
        memset(kv->jkeys, 0, kv->jkeys_cap * sizeof *kv->jkeys);
    kv->jkeys_n = 0;
    kv->jkeys_all = false;
}

static void j_keys_free(store_kv *kv)
{
    if (kv->jkeys != NULL)
        munmap(kv->jkeys, kv->jkeys_cap * sizeof *kv->jkeys);
    kv->jkeys = NULL;
    kv->jkeys_cap = kv->jkeys_n = 0;
    kv->jkeys_all = false;
}

/* ---- logging the batch's ops ---- */

static int j_reserve(store_kv *kv, size_t more)
{
    if (more > J_REC_MAX - kv->jlen)
        return store_kv_errf(kv, SKR_ETOO_LARGE, "write batch over %llu bytes",
                          (unsigned long long)J_REC_MAX);
    if (kv->jlen + more > kv->jcap) {
        size_t cap = kv->jcap ? kv->jcap : 64 * 1024;
        while (cap < kv->jlen + more)
            cap *= 2;
        uint8_t *p = realloc(kv->jbuf, cap);
        if (p == NULL)
            return store_kv_errf(kv, SKR_ENOMEM, "no memory for the write batch");
        kv->jbuf = p;
        kv->jcap = cap;
    }
    return 0;
}

static int j_log(store_kv *kv, int kind, MDB_dbi dbi, const MDB_val *k, const MDB_val *v)
{
    size_t vlen = v != NULL ? v->mv_size : 0;
    int db = j_db_index(kv, dbi), r;

    if (db < 0 || k->mv_size > UINT16_MAX || vlen > UINT32_MAX)
        return store_kv_errf(kv, SKR_EINTERNAL, "journal: op out of range");
    if (kv->jlen == 0 && (r = j_reserve(kv, J_REC_HEAD)) != 0)
        return r;
    if (kv->jlen == 0)
        kv->jlen = J_REC_HEAD; /* filled in by j_append */
    if ((r = j_reserve(kv, J_OP_HEAD + k->mv_size + vlen + J_SUM)) != 0)
        return r;
    uint8_t *p = kv->jbuf + kv->jlen;
    p[0] = (uint8_t)kind;
    p[1] = (uint8_t)db;
    p[2] = (uint8_t)(k->mv_size >> 8);
    p[3] = (uint8_t)k->mv_size;
    j_put32(p + 4, (uint32_t)vlen);
    memcpy(p + J_OP_HEAD, k->mv_data, k->mv_size);
    if (vlen)
        memcpy(p + J_OP_HEAD + k->mv_size, v->mv_data, vlen);
    kv->jlen += J_OP_HEAD + k->mv_size + vlen;
    kv->ckpt_ops++;
    j_mark_key(kv, dbi, k);
    return 0;
}

/* Returns the LMDB code; a logging failure is SKR_E* (negative, never an LMDB code). */
int store_db_put(store_kv *kv, MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v, unsigned flags)
{
    int rc = mdb_put(txn, dbi, k, v, flags);

    if (rc == 0 && kv->batching)
        rc = j_log(kv, J_OP_PUT, dbi, k, v);
    return rc;
}

int store_db_del(store_kv *kv, MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v)
{
    int rc = mdb_del(txn, dbi, k, v);

    if (rc == 0 && kv->batching)
        rc = j_log(kv, J_OP_DEL, dbi, k, v);
    return rc;
}

/* ---- the file ---- */

static int j_errno(store_kv *kv, const char *what)
{
    int e = errno ? errno : EIO;
    return store_mdb_err(kv, e, what); /* ENOSPC gets the disk-full message */
}

static const char *j_fault_plan = "";

void store_test_journal_faults(const char *plan)
{
    j_fault_plan = plan != NULL ? plan : "";
}

/* The plan's next step, for the write about to be made (tests only). */
static char j_fault_next(void)
{
    char fault = *j_fault_plan;

    if (fault != '\0')
        j_fault_plan++;
    return fault;
}

static int j_pwrite(store_kv *kv, const uint8_t *p, size_t len, uint64_t off, const char *what)
{
    int e = store_jwrite_all(kv->jfd, p, len, off, j_fault_next());

    if (e != 0) {
        errno = e;
        return j_errno(kv, what);
    }
    return 0;
}

/* 0 = read it all, 1 = the file ends first, -1 = a read error (errno). A read error is
 * never taken for the end of the journal: that would drop acknowledged batches. */
static int j_pread(int fd, uint8_t *p, size_t len, uint64_t off)
{
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            return 1;
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

static int j_fsync(store_kv *kv, const char *what)
{
    while (fdatasync(kv->jfd) != 0) {
        if (errno != EINTR)
            return j_errno(kv, what);
    }
    return 0;
}

static int j_write_head(store_kv *kv, uint64_t epoch)
{
    uint8_t h[J_HEAD_USED + J_SUM] = { 0 };

    memcpy(h, J_MAGIC, 8);
    store_put_u64(h + 8, epoch);
    j_sum(h, J_HEAD_USED, h + J_HEAD_USED);
    return j_pwrite(kv, h, sizeof h, 0, "journal header");
}

/* Sets *epoch to the header's, or 0 when there is no valid header (a new or torn one:
 * either way every record in the file is already in the data file). -1 on a read error. */
static int j_read_head(int fd, uint64_t *epoch)
{
    uint8_t h[J_HEAD_USED + J_SUM], sum[J_SUM];
    int r = j_pread(fd, h, sizeof h, 0);

    *epoch = 0;
    if (r < 0)
        return -1;
    if (r > 0 || memcmp(h, J_MAGIC, 8) != 0)
        return 0;
    j_sum(h, J_HEAD_USED, sum);
    if (sodium_memcmp(sum, h + J_HEAD_USED, J_SUM) == 0)
        *epoch = store_get_u64(h + 8);
    return 0;
}

static int j_reset(store_kv *kv);

/* After a failed record write: the bytes may have reached the disk all the same (an error
 * from the O_DSYNC flush), and the batch was reported lost, so the record must never be
 * replayed. Its header is zeroed (best effort: the next record goes to the same place
 * and overwrites it anyway), and in-process reloads stop at kv->jseq. */
static void j_disown(store_kv *kv)
{
    static const uint8_t zero[J_REC_HEAD];

    (void)j_pwrite(kv, zero, sizeof zero, kv->jend, "journal write");
}

/* Fills in the open batch's record head as record number seq (room reserved by j_log):
 * its length. The checksum is j_sum_record's. */
static size_t j_seal_head(store_kv *kv, uint64_t seq)
{
    uint8_t *p = kv->jbuf;
    size_t len = kv->jlen + J_SUM;

    j_put32(p, (uint32_t)len);
    j_put32(p + 4, 0);
    store_put_u64(p + 8, kv->jepoch);
    store_put_u64(p + 16, seq);
    return len;
}

/* The checksum of a record of len bytes whose head is filled in. */
static void j_sum_record(uint8_t *p, size_t len)
{
    j_sum(p, len - J_SUM, p + len - J_SUM);
}

static size_t j_seal(store_kv *kv, uint64_t seq)
{
    size_t len = j_seal_head(kv, seq);

    j_sum_record(kv->jbuf, len);
    return len;
}

/* Runs a hook of the layer above (batch_durable, batch_lost) over the ops of the record
 * at p (ops_end: where its ops end), which store_journal_next walks meanwhile. */
static void j_batch_hook(store_kv *kv, void (*hook)(store *owner), const uint8_t *p,
                         size_t ops_end)
{
    if (hook == NULL)
        return;
    kv->jops = p;
    kv->jops_len = ops_end;
    hook(kv->owner);
    kv->jops = NULL;
    kv->jops_len = 0;
}

/* The open batch's held put (store_kv_put_held) joins its ops, before its record is
 * sealed. The batch began with room for one new page an op (store_kv_batch_begin), so a
 * full map here is not retried. */
static int j_seal_held(store_kv *kv)
{
    int r = store_batch_seal_held(kv);

    if (r == 0)
        return 0;
    r = store_mdb_err(kv, r, "write batch");
    return r == STORE_EGROW || r == STORE_EREMAP
               ? store_kv_errf(kv, SKR_EINTERNAL, "write batch: map full") : r;
}

/* Writes the open batch's ops as the next record and syncs it: after this the batch is
 * durable. An empty batch writes nothing. A record in flight is settled first: when it
 * was lost, so is the open batch (its batch_err). */
int store_journal_sync(store_kv *kv)
{
    size_t len;
    int r;

    store_journal_write_join(kv);
    if (kv->batching && kv->batch_err != 0)
        return kv->batch_err;
    if (kv->jlen == 0)
        return 0;
    if ((r = j_seal_held(kv)) != 0 || (kv->jreset_owed && (r = j_reset(kv)) != 0))
        return r;
    len = j_seal(kv, kv->jseq + 1);
    if ((r = j_pwrite(kv, kv->jbuf, len, kv->jend, "journal write")) != 0) {
        j_disown(kv);
        return r;
    }
    /* the layer above's turn, while the ops are here */
    j_batch_hook(kv, kv->batch_durable, kv->jbuf, kv->jlen);
    kv->jseq++;
    kv->jend += len;
    kv->jlen = 0;
    return 0;
}

/* The pipelined write (store_kv.h). The mirror is fed when the write starts, while the
 * batch's ops are final: a later batch's write of the same key drops what this one put
 * (records drop a key's entries before writing it), whereas feeding it after the sync
 * would put back a value a later batch had already replaced. Gets that read those values
 * meanwhile are held by the caller until this record is durable (store.h); a lost record
 * takes them out again (batch_lost). A record handed over while others are in flight
 * goes right after them: its offset and number follow theirs. */
int store_journal_write_begin(store_kv *kv)
{
    uint64_t off = kv->jend, seq = kv->jseq, n;
    store_jrec *rec;
    uint8_t *spare;
    size_t spare_cap;
    int r;

    if (kv->jlen == 0)
        return 0;
    if ((r = j_seal_held(kv)) != 0)
        return r;
    if (kv->jw.submitted - kv->jw_taken >= STORE_BATCH_IN_FLIGHT_MAX || kv->jreset_owed ||
        store_jwrite_failing(&kv->jw) || store_jwrite_start(&kv->jw) != 0)
        return store_journal_sync(kv); /* no slot, a loss to settle, a reset first, no thread */
    for (n = kv->jw_settled; n < kv->jw.submitted; n++) {
        off += kv->jw.rec[n % STORE_BATCH_IN_FLIGHT_MAX].len;
        seq++;
    }
    rec = &kv->jw.rec[kv->jw.submitted % STORE_BATCH_IN_FLIGHT_MAX];
    spare = rec->buf;
    spare_cap = rec->cap;
    rec->len = j_seal_head(kv, seq + 1);
    rec->seal = j_sum_record; /* on the thread: 11% of a put's instructions on the loop */
    rec->buf = kv->jbuf;
    rec->cap = kv->jcap;
    rec->off = off;
    rec->fault = j_fault_next();
    rec->rc = 0;
    if (kv->jw_settled == kv->jw.submitted) /* the thread reads it while it writes */
        kv->jw.fd = kv->jfd;
    kv->jbuf = spare; /* the next batch logs into a free slot's buffer */
    kv->jcap = spare_cap;
    kv->jlen = 0;
    store_jwrite_submit(&kv->jw);
    /* The mirror is fed while the thread writes: its replies wait for the write, not for
     * the feed too (it starts sooner by the feed's time, about 1 us a put). Both only
     * read the ops; the thread writes the checksum after them, and the buffer is not
     * reused before this record is settled here, on this thread. */
    j_batch_hook(kv, kv->batch_durable, rec->buf, rec->len - J_SUM);
    return 1;
}

/* The record jw_settled failed: never to be replayed (j_disown: it went at kv->jend, the
 * records before it being settled), and neither are those behind it, which the thread
 * did not write. Every one's ops out of the mirror again (newest first), the open batch
 * failed with them (written on top of them in kv->ckpt, its replies still held), and
 * kv->ckpt rebuilt without any. Each record keeps the code for its finish. */
static void j_write_lost(store_kv *kv, int err)
{
    uint64_t first = kv->jw_settled, end = kv->jw.submitted;
    char msg[STORE_ERRMSG_MAX];
    int r;

    store_jwrite_wait(&kv->jw, end);
    kv->jw_settled = end; /* before the hooks: a join from in there finds nothing to do */
    errno = err;
    r = j_errno(kv, "journal write");
    memcpy(msg, kv->errmsg, sizeof msg);
    j_disown(kv);
    for (uint64_t n = end; n-- > first;) {
        store_jrec *rec = &kv->jw.rec[n % STORE_BATCH_IN_FLIGHT_MAX];
        rec->rc = r;
        j_batch_hook(kv, kv->batch_lost, rec->buf, rec->len - J_SUM);
    }
    store_jwrite_recover(&kv->jw);
    if (kv->batching) {
        memcpy(kv->errmsg, msg, sizeof msg);
        store_batch_fail(kv, r);
        kv->jlen = 0;
    }
    kv->batch = NULL;
    (void)store_journal_reload(kv); /* a failed rebuild leaves the store broken */
    memcpy(kv->errmsg, msg, sizeof msg);
}

void store_journal_settle_next(store_kv *kv)
{
    store_jrec *rec;

    if (kv->jw_settled == kv->jw.submitted)
        return;
    store_jwrite_wait(&kv->jw, kv->jw_settled + 1);
    rec = &kv->jw.rec[kv->jw_settled % STORE_BATCH_IN_FLIGHT_MAX];
    if (rec->err != 0) {
        j_write_lost(kv, rec->err);
        return;
    }
    rec->rc = 0;
    kv->jw_settled++;
    kv->jseq++;
    kv->jend += rec->len;
}

void store_journal_write_join(store_kv *kv)
{
    while (kv->jw_settled < kv->jw.submitted)
        store_journal_settle_next(kv);
}

bool store_journal_next(const store_kv *kv, size_t *pos, store_jop *op)
{
    const uint8_t *p;
    size_t klen, vlen;

    if (*pos == 0)
        *pos = J_REC_HEAD;
    if (kv->jops_len < *pos + J_OP_HEAD) /* none logged: the buffer may be NULL */
        return false;
    p = kv->jops + *pos; /* an op j_log wrote: well formed */
    klen = (size_t)p[2] << 8 | p[3];
    vlen = j_get32(p + 4);
    op->put = p[0] == J_OP_PUT;
    op->dbi = j_dbi(kv, p[1]);
    op->k = (MDB_val){ klen, (void *)(p + J_OP_HEAD) };
    op->v = (MDB_val){ vlen, (void *)(p + J_OP_HEAD + klen) };
    *pos += J_OP_HEAD + klen + vlen;
    return true;
}

/* ---- replay ---- */

static int j_apply_ops(store_kv *kv, MDB_txn *txn, const uint8_t *p, size_t len)
{
    while (len > 0) {
        if (len < J_OP_HEAD)
            return store_kv_errf(kv, SKR_EINTEGRITY, "journal record is malformed");
        unsigned kind = p[0], db = p[1];
        size_t klen = (size_t)p[2] << 8 | p[3], vlen = j_get32(p + 4);
        if ((kind != J_OP_PUT && kind != J_OP_DEL) || db >= J_DBS || klen == 0 ||
            klen > len - J_OP_HEAD || vlen > len - J_OP_HEAD - klen)
            return store_kv_errf(kv, SKR_EINTEGRITY, "journal record is malformed");
        MDB_val k = { klen, (void *)(p + J_OP_HEAD) }, v = { vlen, (void *)(p + J_OP_HEAD + klen) };
        MDB_dbi dbi = j_dbi(kv, db);
        int rc;
        if (kind == J_OP_PUT) {
            rc = mdb_put(txn, dbi, &k, &v, dbi == kv->names ? MDB_NODUPDATA : 0);
            if (rc == MDB_KEYEXIST)
                rc = 0;
        } else {
            rc = mdb_del(txn, dbi, &k, dbi == kv->names && vlen ? &v : NULL);
            if (rc == MDB_NOTFOUND)
                rc = 0;
        }
        if (rc != 0)
            return store_mdb_err(kv, rc, "journal replay");
        kv->ckpt_ops++;
        j_mark_key(kv, dbi, &k);
        p += J_OP_HEAD + klen + vlen;
        len -= J_OP_HEAD + klen + vlen;
    }
    return 0;
}

/* Applies the open batch's ops (kv->jbuf) to kv->batch: see store_batch_redo. */
int store_journal_apply_batch(store_kv *kv)
{
    if (kv->jlen <= J_REC_HEAD) {
        kv->jlen = 0;
        return 0;
    }
    return j_apply_ops(kv, kv->batch, kv->jbuf + J_REC_HEAD, kv->jlen - J_REC_HEAD);
}

/* Reads the record at off into *buf (grown as needed). 1 = a valid record of this epoch
 * and seq, 0 = the end of the journal. */
static int j_read_record(store_kv *kv, uint64_t off, uint64_t size, uint64_t seq, uint8_t **buf,
                         size_t *cap, size_t *len)
{
    uint8_t h[J_REC_HEAD], sum[J_SUM];
    uint32_t n;
    int r;

    if (size - off < J_REC_HEAD + J_SUM)
        return 0;
    if ((r = j_pread(kv->jfd, h, sizeof h, off)) != 0)
        return r < 0 ? j_errno(kv, "journal read") : 0;
    n = j_get32(h);
    if (n < J_REC_HEAD + J_SUM || n > size - off || n > J_REC_MAX ||
        store_get_u64(h + 8) != kv->jepoch || store_get_u64(h + 16) != seq)
        return 0;
    if (n > *cap) {
        uint8_t *p = realloc(*buf, n);
        if (p == NULL)
            return store_kv_errf(kv, SKR_ENOMEM, "no memory to replay the journal");
        *buf = p;
        *cap = n;
    }
    if ((r = j_pread(kv->jfd, *buf, n, off)) != 0)
        return r < 0 ? j_errno(kv, "journal read") : 0;
    j_sum(*buf, n - J_SUM, sum);
    if (sodium_memcmp(sum, *buf + n - J_SUM, J_SUM) != 0)
        return 0;
    *len = n;
    return 1;
}

/* Applies the valid records of the current epoch, at most max_seq of them, to txn; sets
 * jend and jseq to the end. */
static int j_replay(store_kv *kv, MDB_txn *txn, uint64_t max_seq)
{
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0;
    uint64_t off = J_HEAD_BYTES, seq = 0;
    struct stat st;
    int r = 0;

    if (fstat(kv->jfd, &st) != 0)
        return j_errno(kv, "journal");
    while (seq < max_seq &&
           (r = j_read_record(kv, off, (uint64_t)st.st_size, seq + 1, &buf, &cap, &len)) == 1) {
        if ((r = j_apply_ops(kv, txn, buf + J_REC_HEAD, len - J_REC_HEAD - J_SUM)) != 0)
            break;
        off += len;
        seq++;
    }
    free(buf);
    if (r == 0) {
        kv->jend = off;
        kv->jseq = seq;
    }
    return r;
}

/* Rebuilds kv->ckpt from the journal's first max_seq records. */
static int j_reload(store_kv *kv, uint64_t max_seq)
{
    int rc, r;

    if (kv->ckpt != NULL)
        mdb_txn_abort(kv->ckpt);
    kv->ckpt = NULL;
    for (;;) {
        kv->ckpt_ops = 0;
        if ((rc = mdb_txn_begin(kv->env, NULL, 0, &kv->ckpt)) != 0) {
            kv->ckpt = NULL;
            r = store_mdb_err(kv, rc, "begin journal replay");
        } else if ((r = j_replay(kv, kv->ckpt, max_seq)) != 0) {
            mdb_txn_abort(kv->ckpt);
            kv->ckpt = NULL;
        }
        if (r != STORE_EGROW && r != STORE_EREMAP)
            break;
        if ((r = store_remap(kv, r == STORE_EGROW ? 2 * kv->mapsize : 0)) != 0)
            break;
    }
    if (r != 0) {
        kv->broken = true;
        return r;
    }
    if (kv->jseq == 0) { /* nothing to replay */
        mdb_txn_abort(kv->ckpt);
        kv->ckpt = NULL;
    }
    return 0;
}

/* Rebuilds kv->ckpt from the journal when the in-memory transaction was lost (a failed
 * checkpoint or batch commit): the state every acknowledged batch left, and nothing of a
 * record whose write reported an error (j_disown). */
int store_journal_reload(store_kv *kv)
{
    /* A record in flight settles first: it may yet count (a lost one comes back here,
     * and then nothing is in flight). */
    store_journal_write_join(kv);
    return j_reload(kv, kv->jseq);
}

/* ---- checkpoint ---- */

/* Starts a new, empty journal: only once the data file holds everything in the old one.
 * Until it succeeds no record may be written: a header that reached the disk although
 * its write reported an error would disown the records that follow (jreset_owed). */
static int j_reset(store_kv *kv)
{
    int r;

    kv->jreset_owed = true;
    if ((r = j_write_head(kv, kv->jepoch + 1)) != 0 || (r = j_fsync(kv, "journal sync")) != 0)
        return r;
    kv->jepoch++;
    kv->jseq = 0;
    kv->jend = J_HEAD_BYTES;
    kv->jreset_owed = false;
    return 0;
}

/* After a commit of the checkpoint txn returned rc: 0, or 1 when the map grew and the
 * txn was rebuilt from the journal (commit it again), or the error (the txn rebuilt from
 * the journal, so that the batches are served from memory until a checkpoint succeeds). */
static int ckpt_after(store_kv *kv, int rc, int tries)
{
    int r;

    kv->ckpt_ops = 0;
    if (rc == 0) {
        kv->trim_owed = true;
        return 0;
    }
    r = store_mdb_err(kv, rc, "checkpoint");
    /* The commit freed the txn; the journal still has every batch. A full map (the
     * freelist needs pages too) grows, and the batches are applied again. */
    if ((r == STORE_EGROW || r == STORE_EREMAP) && tries < 8) {
        if ((r = store_remap(kv, r == STORE_EGROW ? 2 * kv->mapsize : 0)) == 0 &&
            (r = store_journal_reload(kv)) == 0)
            return 1;
    }
    if (r == STORE_EGROW || r == STORE_EREMAP)
        r = store_kv_errf(kv, SKR_EINTERNAL, "checkpoint: map full");
    char msg[STORE_ERRMSG_MAX];
    memcpy(msg, kv->errmsg, sizeof msg);
    if (store_journal_reload(kv) == 0)
        memcpy(kv->errmsg, msg, sizeof msg);
    return r;
}

/* The journal is reset only here, once the data file holds all of it, and so is the
 * table of the keys its ops wrote. Not in j_reset: a reset owed since a failed one is
 * made by the next batch's write (store_journal_sync), after that batch's ops went into
 * s->kv.ckpt and the table; clearing it there lost them (found in review:
 * test_snapshot_after_owed_reset). */
static int ckpt_reset(store_kv *kv)
{
    int r = kv->jend > J_HEAD_BYTES || kv->jreset_owed ? j_reset(kv) : 0;

    if (r == 0)
        j_keys_clear(kv);
    return r;
}

int store_checkpoint_settle(store_kv *kv, int rc)
{
    int r = ckpt_after(kv, rc, 0);

    if (r == 1) /* rare: the map grew; the rebuilt txn is committed here */
        return store_kv_checkpoint(kv);
    return r != 0 ? r : ckpt_reset(kv);
}

int store_kv_checkpoint(store_kv *kv)
{
    int rc, r;

    (void)store_kv_checkpoint_finish(kv); /* a commit running on the thread ends first */
    store_journal_write_join(kv);      /* and so does a record in flight */
    if (kv->broken)
        return store_kv_errf(kv, SKR_EINTERNAL, "the hub journal could not be applied: "
                          "restart sekretsd");
    if (kv->batch != NULL)
        return store_kv_errf(kv, SKR_EBUSY, "a write batch is open: commit it first");
    for (int tries = 0; kv->ckpt != NULL; tries++) {
        rc = mdb_txn_commit(kv->ckpt); /* synced: the env has no NOSYNC */
        kv->ckpt = NULL;
        if ((r = ckpt_after(kv, rc, tries)) != 0 && r != 1) /* 1: grown, commit again */
            return r;
    }
    return ckpt_reset(kv);
}

/* Empties the journal file (after a checkpoint): old records hold values sealed under a
 * data key that `rotate` just retired, and names since deleted. */
int store_journal_truncate(store_kv *kv)
{
    store_journal_write_join(kv);
    if (kv->jfd < 0 || kv->jend > J_HEAD_BYTES)
        return 0;
    if (ftruncate(kv->jfd, J_HEAD_USED + J_SUM) != 0)
        return j_errno(kv, "journal truncate");
    return j_fsync(kv, "journal sync");
}

static uint64_t ckpt_max_pages = STORE_CKPT_MAX_PAGES;

void store_test_set_ckpt_pages(uint64_t pages)
{
    ckpt_max_pages = pages ? pages : STORE_CKPT_MAX_PAGES;
}

/* Due once the journal is long or the open txn may hold many dirty pages. Not asked of
 * LMDB while a commit runs (a record settled before it and taken meanwhile asks, through
 * store_batch_checkpoint): mdb_env_info reads the meta pages the commit writes, and the
 * answer then is "running" anyway (found in review). */
bool store_checkpoint_due(store_kv *kv)
{
    MDB_envinfo info;
    uint64_t pages;

    if (kv->jend >= STORE_JOURNAL_CKPT_BYTES)
        return true;
    if (kv->ckpt_ops < ckpt_max_pages || kv->ckpt_running || mdb_env_info(kv->env, &info) != 0)
        return false;
    pages = (uint64_t)info.me_last_pgno + 1; /* no more distinct pages than the hub has */
    return pages >= ckpt_max_pages;
}

bool store_kv_checkpoint_pending(const store_kv *kv)
{
    return kv->ckpt != NULL || kv->ckpt_running || kv->jend > J_HEAD_BYTES || kv->jreset_owed;
}

/* ---- open and close ---- */

/* A new journal's name must be durable before a batch in it is acknowledged. */
/* Opens (or creates) the journal and locks it: one process per hub, since the journal's
 * open write txn holds LMDB's writer lock. Runs before LMDB is opened, so a second
 * process is refused before it can touch the environment. */
int store_journal_lock(store_kv *kv, const char *dir, char err[STORE_ERRMSG_MAX])
{
    const int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_DSYNC;
    char path[PATH_MAX];
    bool created = false;
    int r;

    if ((size_t)snprintf(path, sizeof path, "%s/journal", dir) >= sizeof path) {
        snprintf(err, STORE_ERRMSG_MAX, "hub folder: path too long");
        return SKR_EINVAL;
    }
    kv->jfd = open(path, flags);
    if (kv->jfd < 0 && errno == ENOENT) {
        kv->jfd = open(path, flags | O_CREAT | O_EXCL, 0600);
        created = kv->jfd >= 0;
    }
    if (kv->jfd < 0) {
        int e = errno;
        snprintf(err, STORE_ERRMSG_MAX, "%.200s: %s", path, strerror(e));
        return e == EACCES ? SKR_EDENIED : SKR_EINTERNAL;
    }
    if (flock(kv->jfd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(err, STORE_ERRMSG_MAX, "hub %.200s is in use by another process", dir);
        return SKR_EBUSY;
    }
    if ((r = store_folder_file_check(kv->jfd, path, err)) != 0)
        return r;
    if (created && store_folder_sync(dir) != 0) {
        snprintf(err, STORE_ERRMSG_MAX, "hub folder %.200s: sync: %s", dir, strerror(errno));
        return SKR_EINTERNAL;
    }
    return 0;
}

/* Replays the journal of a process that died (then checkpoints), or starts one. */
int store_journal_open(store_kv *kv, char err[STORE_ERRMSG_MAX])
{
    int r = 0;

    if (j_read_head(kv->jfd, &kv->jepoch) != 0) {
        r = j_errno(kv, "journal read");
        snprintf(err, STORE_ERRMSG_MAX, "journal: %.200s", kv->errmsg);
        return r;
    }
    kv->jend = J_HEAD_BYTES;
    if (kv->jepoch == 0) {
        /* New, or a header torn by a crash during a reset: its records are all in the
         * data file already (a reset only follows a synced checkpoint). Old records are
         * dropped and the epoch starts at a random number, so that no stale record can
         * ever pass for a new one. */
        randombytes_buf(&kv->jepoch, sizeof kv->jepoch);
        kv->jepoch >>= 1;
        if (ftruncate(kv->jfd, 0) != 0 || (r = j_reset(kv)) != 0) {
            if (r == 0)
                r = j_errno(kv, "journal");
            snprintf(err, STORE_ERRMSG_MAX, "journal: %.200s", kv->errmsg);
            return r;
        }
        return 0;
    }
    if ((r = j_reload(kv, UINT64_MAX)) != 0 || (r = store_kv_checkpoint(kv)) != 0) {
        /* A checkpoint that fails (disk full) keeps the replayed batches in memory. */
        if (kv->broken) {
            snprintf(err, STORE_ERRMSG_MAX, "journal: %.200s", kv->errmsg);
            return r;
        }
    }
    return 0;
}

void store_journal_close(store_kv *kv)
{
    store_journal_write_join(kv);
    store_jwrite_stop(&kv->jw);
    kv->jw_settled = kv->jw_taken = 0; /* results not taken: the store is closing */
    if (kv->ckpt != NULL)
        (void)store_kv_checkpoint(kv); /* on failure the journal keeps it for the next open */
    if (kv->ckpt != NULL)
        mdb_txn_abort(kv->ckpt);
    kv->ckpt = NULL;
    if (kv->jfd >= 0)
        close(kv->jfd);
    kv->jfd = -1;
    free(kv->jbuf);
    kv->jbuf = NULL;
    kv->jlen = kv->jcap = 0;
    j_keys_free(kv);
    for (unsigned i = 0; i < STORE_BATCH_IN_FLIGHT_MAX; i++) {
        free(kv->jw.rec[i].buf);
        kv->jw.rec[i].buf = NULL;
        kv->jw.rec[i].len = kv->jw.rec[i].cap = 0;
    }
}
