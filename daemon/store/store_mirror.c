/*
 * daemon/store/store_mirror.c - the sealed records in memory, where a get finds them.
 *
 * Why: LMDB serves reads from its map of the data file, so every page a get touches stays
 * in the daemon's resident memory, and the kernel maps up to 16 cached neighbours with
 * each fault (fault-around; MADV_RANDOM does not stop it). Gets spread over a hub of
 * 1,000,000 credentials kept about 400 MiB resident that way: the record B-tree at about
 * 70% page fill plus the order and name indexes beside it. The mirror holds each record
 * (its seq and version, and its plaintext sealed under a key of its own) back to back in
 * one arena, found through an open-addressing table: two memory accesses per get instead
 * of a B-tree descent. The numbers are kept in LEB128, seq then ver - seq (a record never
 * replaced has ver == seq): 4 bytes instead of 16 at a million credentials.
 *
 * Why a key of its own: the mirror used to hold each value as LMDB does, padded to its
 * size class (SECURITY.md "Lengths in the hub file") with a random 12-byte nonce: with a
 * 64-byte body, 156 of the 172 bytes a credential took, and at a million credentials
 * more memory than Redis's whole process holding the same values (168,000 against
 * 164,496 KiB). The file's classes are for someone who reads the file; the mirror is
 * only ever in this process's memory, so it pads to 16 bytes instead (a swapped-out page
 * tells a length within 16 bytes), and its key, made at random when the mirror is
 * allocated (unlock, rotate) and freed with it, lives only in guarded memory: its nonce
 * can be a counter (never used twice with one key, as no key outlives its mirror), kept
 * in LEB128 (3 bytes at a million) instead of 12. So a durable write, the build and a get
 * that read LMDB open the value and seal its plaintext again here (store.c); a get opens
 * the entry alone. A 64-byte body's entry is 136 bytes and its slot 10: 146 bytes a
 * credential (VmRSS at 1,000,000: 150,752 KiB, against 176,960 before and Redis's
 * 168,000 in the same run). AES-GCM seals short values over a whole 128-byte stride
 * (store_crypto.c: store_seal_ctr), so a get's open costs what the file's 128-byte class
 * did (callgrind, 10k hub: 2,540 store instructions a get, against 2,483).
 *
 * Once it is built, the store drops its mapping of the data file's pages (they stay in
 * the page cache, which the kernel may reclaim); only gets without a protocol, listings
 * and writes map some again.
 *
 * Identity: a slot holds a 32-bit tag (from Hp XOR Hn) and the arena offset of the entry
 * (LEB128 plaintext length || LEB128 seq || LEB128 ver - seq || LEB128 nonce ||
 * ciphertext || tag). Keys that share a tag may each have an entry, in slots of that tag
 * along one probe run; a get tries each and opens it with its own Hp || Hn and the
 * entry's numbers as associated data, so another key's entry fails authentication (a try
 * costs one failed open). An entry says
 * whose it is only through its seq, the record's creation number, which no other record
 * has: a write drops the entries of its record's seq before it puts its own (the tag's
 * other keys keep theirs: dropping the whole tag sent each of them to LMDB once after a
 * write of its neighbour, and at a million puts that kept about 27 MiB of the data file
 * resident), and a get that read LMDB adds its value beside the others (it tried them all
 * first). A delete, once durable, still drops the whole tag: its journal op names no
 * value, so no seq (its record's entries went before it wrote). The build adds a value
 * unless an entry of the tag holds one of the same record, the same seq; such an entry
 * was put since the build began (by a write or a get) and is the record's latest.
 * Why not one entry per tag, as before: at a million keys about 120 pairs share a tag,
 * and the one of each pair left out read LMDB on every get, mapping its B-tree pages (and
 * their fault-around neighbours) again: 14 to 28 MiB of data.mdb resident after a few
 * seconds of gets, 42 MiB in bench/run.sh's 1M figure. The mirror is therefore
 * never trusted for absence or authenticity, only for freshness (that a value is the
 * latest of its record: a value put back from an earlier write fails store_rec_current,
 * which gets from LMDB check and the mirror skips), which holds because:
 *  - the build (store_mirror_build.c) takes only values that pass store_rec_current;
 *  - every record write (store.c, before its store_db_put/store_db_del of the rec key)
 *    first drops its record's entries (those of its seq; a value too short to hold one:
 *    the whole tag), so a write that is later undone leaves at most missing entries; a
 *    record keeps its seq for its whole life (a replace keeps it; a delete drops its
 *    entries and a new record of the key takes a new number), so no entry of an earlier
 *    record of the key is left to open with the key's AD;
 *  - a batch's rec puts are added once the batch is durable (its journal record written:
 *    the journal then calls store_rec_batch_durable, store.c, which walks its ops);
 *  - a get that had to read LMDB adds what it read, when that is durable (not from an
 *    open batch): no entry of the tag opened with its key, so it had none;
 *  - the writes that bypass store.c leave nothing stale: rotate rebuilds the mirror;
 *    journal replay (store_batch_redo, store_journal_reload) only writes again what the
 *    mirror already has or has dropped;
 *  - lock frees it.
 * A missing entry costs one LMDB read. The mirror is best effort: when memory runs out or
 * the arena would pass 4 GiB (32-bit offsets, about 28 million credentials) it stops
 * taking values, and gets of the rest read LMDB.
 *
 * The arena and the table are private anonymous mappings: pages never written are never
 * resident, and the arena grows with mremap, which copies no data (the table grows by
 * rehashing into a new mapping). Replaced values are reclaimed in place (mir_compact),
 * so that an arena under steady writes stops taking new pages: a page fault costs
 * several microseconds on these VMs, and a fresh arena per compaction cost puts 25%.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "store_cache.h"
#include "store_test.h"

#define MIR_MIN_SLOTS   64u
#define MIR_MIN_ARENA   ((size_t)1 << 20)
#define MIR_COMPACT_MIN ((size_t)256 << 10)
#define MIR_MAX_ARENA   ((size_t)UINT32_MAX) /* offsets are 32-bit */
#define MIR_LEN_MAX     3u                   /* LEB128 bytes of a length < 2^21 */
#define MIR_U64_MAX     10u                  /* LEB128 bytes of a u64 */
#define MIR_HEAD_MAX    (MIR_LEN_MAX + 3 * MIR_U64_MAX) /* length, seq, ver - seq, nonce */
_Static_assert(MIR_HEAD_MAX == STORE_MIRROR_HEAD_MAX, "store_cache.h's bound is this one");
_Static_assert(STORE_REC_PT_MAX < (1u << 21), "a plaintext's length fits three LEB128 bytes");

static uint32_t mir_tag_mask = UINT32_MAX;

void store_test_set_mirror_tag_mask(uint32_t mask)
{
    mir_tag_mask = mask;
}

static uint32_t mir_tag(const uint8_t key[2 * STORE_HASH_BYTES])
{
    uint32_t a, b;

    memcpy(&a, key, 4);
    memcpy(&b, key + STORE_HASH_BYTES, 4);
    return (a ^ b) & mir_tag_mask;
}

/* The tag's first slot: the tag scaled to the table (no power-of-two size needed). */
static size_t mir_home(const store_mirror *m, uint32_t tag)
{
    return (size_t)(((uint64_t)tag * m->nslots) >> 32);
}

static uint32_t mir_slot_tag(uint64_t e) { return (uint32_t)(e >> 32); }
static uint32_t mir_slot_off(uint64_t e) { return (uint32_t)e; }

/* From slot i on, the first slot holding tag, or the empty slot that ends the probe run
 * (the table is never full). */
static size_t mir_scan(const store_mirror *m, uint32_t tag, size_t i)
{
    for (;;) {
        uint64_t e = m->slots[i];
        if (e == 0 || mir_slot_tag(e) == tag)
            return i;
        if (++i == m->nslots)
            i = 0;
    }
}

static size_t mir_after(const store_mirror *m, size_t i)
{
    return i + 1 == m->nslots ? 0 : i + 1;
}

/* The tag's first slot, or the empty slot where it would go. */
static size_t mir_find(const store_mirror *m, uint32_t tag)
{
    return mir_scan(m, tag, mir_home(m, tag));
}

/* The empty slot at the end of tag's probe run: where a new entry of tag goes. */
static size_t mir_free_slot(const store_mirror *m, uint32_t tag)
{
    size_t i = mir_home(m, tag);

    while (m->slots[i] != 0)
        i = mir_after(m, i);
    return i;
}

static size_t mir_uleb_put(uint8_t *p, uint64_t v)
{
    size_t n = 0;

    do {
        p[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v != 0);
    return n;
}

static size_t mir_uleb_get(const uint8_t *p, uint64_t *v)
{
    size_t n = 0;

    if (p[0] < 0x80) { /* the common case: one byte */
        *v = p[0];
        return 1;
    }
    *v = 0;
    do {
        *v |= (uint64_t)(p[n] & 0x7f) << (7 * n);
    } while (p[n++] & 0x80);
    return n;
}

/* An entry as the arena holds it. */
typedef struct mir_ent {
    uint64_t seq, ver;     /* the clear prefix, decoded */
    uint64_t nonce;        /* the counter it was sealed with */
    const uint8_t *sealed; /* ciphertext || tag */
    size_t len;            /* of the plaintext (sealed is STORE_MAC_BYTES more) */
    size_t bytes;          /* of the whole entry */
} mir_ent;

static void mir_entry(const store_mirror *m, size_t off, mir_ent *e)
{
    const uint8_t *start = m->arena + off, *p = start;
    uint64_t len, d;

    p += mir_uleb_get(p, &len);
    p += mir_uleb_get(p, &e->seq);
    p += mir_uleb_get(p, &d);
    p += mir_uleb_get(p, &e->nonce);
    e->ver = e->seq + d;
    e->sealed = p;
    e->len = (size_t)len;
    e->bytes = (size_t)(p - start) + e->len + STORE_MAC_BYTES;
}

/* The AD of key's record with this clear prefix: an entry opens only for its own key and
 * numbers. The label is padded with zeros to 16 bytes, which makes the AD 64: libsodium's
 * AES-GCM hashes an AD 64 bytes at a time and its rest a block at a time, the last block
 * through a slower path when partial. Opening 128 bytes took 132 ns with the 58 bytes of
 * an unpadded label, 102 ns with 64 (this VM), a get's biggest cost at 1,000 credentials. */
#define MIR_AD_LABEL 16
_Static_assert(sizeof STORE_AD_MIRROR - 1 <= MIR_AD_LABEL &&
                   MIR_AD_LABEL + 2 * STORE_HASH_BYTES + STORE_REC_CLEAR == STORE_AD_MAX,
               "the mirror's AD is 64 bytes");

static size_t mir_ad(uint8_t ad[STORE_AD_MAX], const uint8_t key[2 * STORE_HASH_BYTES],
                     const uint8_t clear[STORE_REC_CLEAR])
{
    memset(ad, 0, MIR_AD_LABEL);
    memcpy(ad, STORE_AD_MIRROR, sizeof STORE_AD_MIRROR - 1);
    memcpy(ad + MIR_AD_LABEL, key, 2 * STORE_HASH_BYTES);
    memcpy(ad + MIR_AD_LABEL + 2 * STORE_HASH_BYTES, clear, STORE_REC_CLEAR);
    return STORE_AD_MAX;
}

static size_t mir_entry_bytes(const store_mirror *m, size_t off)
{
    mir_ent e;

    mir_entry(m, off, &e);
    return e.bytes;
}

/* A big hub's mirror is read at random: with 4 KiB pages nearly every get's two reads (its
 * slot, its entry) also miss the TLB and walk the page tables, which miss the caches too.
 * Huge pages (where the system grants them on request: transparent_hugepage "madvise")
 * take the walk out. Only for big maps: a huge page is 2 MiB resident however little of
 * it is used, and a small hub's mirror fits the TLB anyway. The flag stays with the
 * mapping when mremap grows or moves it. Best effort: without it the mirror works alike. */
#define MIR_HUGE_MIN ((size_t)8 << 20)

static void *mir_map(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (bytes >= MIR_HUGE_MIN)
        (void)madvise(p, bytes, MADV_HUGEPAGE);
    return p;
}

static void mir_unmap(void *p, size_t bytes)
{
    if (p != NULL)
        munmap(p, bytes);
}

/* A table of n slots holding every entry of m. */
static int mir_rehash(store_mirror *m, size_t n)
{
    store_mirror t = { .nslots = n };

    if ((t.slots = mir_map(n * sizeof *t.slots)) == NULL)
        return -1;
    for (size_t i = 0; i < m->nslots; i++)
        if (m->slots[i] != 0)
            t.slots[mir_free_slot(&t, mir_slot_tag(m->slots[i]))] = m->slots[i];
    mir_unmap(m->slots, m->nslots * sizeof *m->slots);
    m->slots = t.slots;
    m->nslots = n;
    return 0;
}

/* Room for one more entry: the table grows (to 2/3 full) before it is 7/8 full. Linear
 * probing at 7/8 still finds a key within about 5 slots, most often in one cache line. */
static int mir_make_room(store_mirror *m)
{
    if ((m->count + 1) * 8 <= m->nslots * 7)
        return 0;
    return mir_rehash(m, (m->count + 1) * 3 / 2 + MIR_MIN_SLOTS);
}

static int mir_arena_reserve(store_mirror *m, size_t more)
{
    size_t cap;
    void *p;

    if (m->used + more <= m->cap)
        return 0;
    if (more > MIR_MAX_ARENA - m->used)
        return -1;
    cap = m->cap > MIR_MIN_ARENA ? m->cap : MIR_MIN_ARENA;
    while (cap < m->used + more)
        cap = cap > MIR_MAX_ARENA / 2 ? MIR_MAX_ARENA : cap * 2;
    p = m->arena == NULL ? mir_map(cap) : mremap(m->arena, m->cap, cap, MREMAP_MAYMOVE);
    if (p == NULL || p == MAP_FAILED)
        return -1;
    if (m->arena != NULL && m->cap < MIR_HUGE_MIN && cap >= MIR_HUGE_MIN)
        (void)madvise(p, cap, MADV_HUGEPAGE); /* grown big: see mir_map */
    m->arena = p;
    m->cap = cap;
    return 0;
}

/* Sorts n (offset << 32 | slot) pairs by offset: LSD radix on the offset's 4 bytes, with
 * tmp as the second buffer. */
static void mir_sort(uint64_t *a, uint64_t *tmp, size_t n)
{
    for (int shift = 32; shift < 64; shift += 8) {
        size_t count[257] = { 0 };
        for (size_t i = 0; i < n; i++)
            count[((a[i] >> shift) & 0xff) + 1]++;
        for (int d = 0; d < 256; d++)
            count[d + 1] += count[d];
        for (size_t i = 0; i < n; i++)
            tmp[count[(a[i] >> shift) & 0xff]++] = a[i];
        memcpy(a, tmp, n * sizeof *a);
    }
}

/* Slides the live entries down over the space of replaced ones, in arena order. An entry
 * does not say which slot points at it (a tag in each would cost 4 bytes a credential,
 * 3.9 MiB at a million), so the live ones are listed from the table and sorted by offset:
 * 16 bytes per entry of heap for the while (16 MiB at a million, once per quarter of the
 * arena replaced). Without that memory the arena grows instead. The arena keeps its
 * pages. */
static void mir_compact(store_mirror *m)
{
    size_t k = 0, w = 1, bytes = (m->count + 1) * sizeof(uint64_t);
    uint64_t *a = malloc(bytes), *tmp = malloc(bytes);

    if (a == NULL || tmp == NULL)
        goto out;
    for (size_t i = 0; i < m->nslots; i++)
        if (m->slots[i] != 0)
            a[k++] = (uint64_t)mir_slot_off(m->slots[i]) << 32 | i;
    mir_sort(a, tmp, k);
    for (size_t j = 0; j < k; j++) {
        size_t off = (size_t)(a[j] >> 32), i = (uint32_t)a[j], n = mir_entry_bytes(m, off);
        memmove(m->arena + w, m->arena + off, n);
        m->slots[i] = (uint64_t)mir_slot_tag(m->slots[i]) << 32 | w;
        w += n;
    }
    m->used = w;
    m->dead = 0;
out:
    free(a);
    free(tmp);
}

/* Empties slot i (backward-shift deletion: no tombstones, probes stay short). */
static void mir_unlink(store_mirror *m, size_t i)
{
    size_t j = i;

    m->dead += mir_entry_bytes(m, mir_slot_off(m->slots[i]));
    m->count--;
    for (;;) {
        if (++j == m->nslots)
            j = 0;
        uint64_t e = m->slots[j];
        if (e == 0)
            break;
        size_t h = mir_home(m, mir_slot_tag(e));
        /* e may fill the hole unless its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
        if (!stays) {
            m->slots[i] = e;
            i = j;
        }
    }
    m->slots[i] = 0;
}

/* Drops every entry of tag: one of them may be the key's, and none says whose it is. */
static void mir_drop_tag(store_mirror *m, uint32_t tag)
{
    size_t i;

    while (m->slots[i = mir_find(m, tag)] != 0)
        mir_unlink(m, i);
}

void store_mirror_drop(store_mirror *m, const uint8_t key[2 * STORE_HASH_BYTES])
{
    if (m->nslots != 0)
        mir_drop_tag(m, mir_tag(key));
}

/* The slot of tag's first entry that holds record seq, or the empty slot that ends the
 * tag's probe run. */
static size_t mir_record_slot(const store_mirror *m, uint32_t tag, uint64_t seq)
{
    size_t i = mir_find(m, tag);
    mir_ent e;

    for (; m->slots[i] != 0; i = mir_scan(m, tag, mir_after(m, i))) {
        mir_entry(m, mir_slot_off(m->slots[i]), &e);
        if (e.seq == seq)
            break;
    }
    return i;
}

/* Drops the entries of tag that hold record seq: the record's own (seq is its creation
 * number, which no other record has), so the other keys of the tag keep theirs. */
static void mir_drop_record(store_mirror *m, uint32_t tag, uint64_t seq)
{
    size_t i;

    while (m->slots[i = mir_record_slot(m, tag, seq)] != 0)
        mir_unlink(m, i);
}

void store_mirror_drop_record(store_mirror *m, const uint8_t key[2 * STORE_HASH_BYTES], uint64_t seq)
{
    if (m->nslots != 0)
        mir_drop_record(m, mir_tag(key), seq);
}

/* Seals the record (clear, pt of n bytes) of key as an entry at out, under the next nonce:
 * the entry's bytes. */
static size_t mir_seal(store_mirror *m, uint8_t *out, const uint8_t key[2 * STORE_HASH_BYTES],
                       const uint8_t clear[STORE_REC_CLEAR], const uint8_t *pt, size_t n)
{
    uint64_t seq = store_get_u64(clear), ver = store_get_u64(clear + 8);
    uint8_t *p = out, ad[STORE_AD_MAX];
    size_t adlen = mir_ad(ad, key, clear);

    p += mir_uleb_put(p, n);
    p += mir_uleb_put(p, seq);
    p += mir_uleb_put(p, ver - seq); /* mod 2^64: any pair decodes back */
    p += mir_uleb_put(p, ++m->nonces);
    store_seal_ctr(m->suite, m->keys, m->nonces, ad, adlen, pt, n, p);
    return (size_t)(p - out) + n + STORE_MAC_BYTES;
}

/* The entry of bytes at the arena's end becomes key's, in slot i (empty). */
static void mir_link(store_mirror *m, size_t i, const uint8_t key[2 * STORE_HASH_BYTES],
                     size_t bytes)
{
    m->slots[i] = (uint64_t)mir_tag(key) << 32 | m->used;
    m->count++;
    m->used += bytes;
}

/* Seals the record (clear, pt of n bytes) of key as an entry of tag in slot i (empty);
 * room was made. */
static void mir_append(store_mirror *m, size_t i, const uint8_t key[2 * STORE_HASH_BYTES],
                       const uint8_t clear[STORE_REC_CLEAR], const uint8_t *pt, size_t n)
{
    mir_link(m, i, key, mir_seal(m, m->arena + m->used, key, clear, pt, n));
}

/* Room for one more entry of a plaintext of n bytes; false: the mirror cannot take it. */
static bool mir_room(store_mirror *m, size_t n)
{
    if (n > STORE_REC_PT_MAX) /* not a record the store writes */
        return false;
    if (m->dead > MIR_COMPACT_MIN && m->dead > m->used / 4)
        mir_compact(m);
    return mir_make_room(m) == 0 && mir_arena_reserve(m, MIR_HEAD_MAX + n + STORE_MAC_BYTES) == 0;
}

void store_mirror_put(store_mirror *m, const uint8_t key[2 * STORE_HASH_BYTES],
                      const uint8_t clear[STORE_REC_CLEAR], const uint8_t *pt, size_t n)
{
    uint32_t tag = mir_tag(key);

    if (m->nslots == 0)
        return;
    /* the record's old value must not stay, even when this fails */
    mir_drop_record(m, tag, store_get_u64(clear));
    if (mir_room(m, n)) /* after the tag's other keys' entries, which stay */
        mir_append(m, mir_free_slot(m, tag), key, clear, pt, n);
}

size_t store_mirror_seal(store_mirror *m, const uint8_t key[2 * STORE_HASH_BYTES],
                         const uint8_t clear[STORE_REC_CLEAR], const uint8_t *pt, size_t n,
                         uint8_t *out)
{
    if (m->nslots == 0 || n > STORE_REC_PT_MAX)
        return 0;
    return mir_seal(m, out, key, clear, pt, n);
}

void store_mirror_put_sealed(store_mirror *m, const uint8_t key[2 * STORE_HASH_BYTES],
                             uint64_t seq, const uint8_t *entry, size_t bytes, size_t n)
{
    uint32_t tag = mir_tag(key);

    if (m->nslots == 0)
        return;
    mir_drop_record(m, tag, seq); /* as store_mirror_put: the old value goes first */
    if (bytes <= STORE_MIRROR_ENTRY_MAX(n) && mir_room(m, n)) {
        memcpy(m->arena + m->used, entry, bytes);
        mir_link(m, mir_free_slot(m, tag), key, bytes);
    }
}

/* Opens the entry at slot i for key into pt, or fails as another key's entry does. */
static bool mir_open(store_mirror *m, size_t i, const uint8_t key[2 * STORE_HASH_BYTES],
                     uint8_t clear[STORE_REC_CLEAR], uint8_t *pt, size_t cap, size_t *n)
{
    uint8_t ad[STORE_AD_MAX];
    mir_ent e;

    mir_entry(m, mir_slot_off(m->slots[i]), &e);
    store_put_u64(clear, e.seq);
    store_put_u64(clear + 8, e.ver);
    return store_unseal_ctr(m->suite, m->keys, e.nonce, ad, mir_ad(ad, key, clear), e.sealed,
                            e.len + STORE_MAC_BYTES, pt, cap, n) == 0;
}

bool store_mirror_next(store_mirror *m, const uint8_t key[2 * STORE_HASH_BYTES], size_t *pos,
                       uint8_t clear[STORE_REC_CLEAR], uint8_t *pt, size_t cap, size_t *n)
{
    uint32_t tag = mir_tag(key);
    size_t i;

    if (m->nslots == 0)
        return false;
    /* *pos: 0 before the first, else one more than the slot last given */
    i = *pos == 0 ? mir_find(m, tag) : mir_scan(m, tag, mir_after(m, *pos - 1));
    /* the run's end (an empty slot) stops it: the walk never wraps back, a run has a hole */
    for (; m->slots[i] != 0; i = mir_scan(m, tag, mir_after(m, i)))
        if (mir_open(m, i, key, clear, pt, cap, n)) {
            *pos = i + 1;
            return true;
        }
    return false;
}

/* Beyond L2 (1 MiB a core on these machines), a get's two reads, its slot and then its
 * entry, each wait for memory: about a third of a get's time at 1,000,000 credentials
 * (bench_store: 717 against 443 ns). Told of the gets coming next, the store starts both
 * reads a get or two ahead, so that they overlap the gets before them. Below this the
 * mirror stays in the caches and the hints would only cost. */
static size_t mir_ahead_min = (size_t)2 << 20;

void store_test_set_mirror_ahead_min(size_t bytes)
{
    mir_ahead_min = bytes;
}

bool store_mirror_ahead(const store_mirror *m)
{
    return m->nslots * sizeof m->slots[0] + m->used >= mir_ahead_min;
}

void store_mirror_prefetch_slot(const store_mirror *m, const uint8_t key[2 * STORE_HASH_BYTES])
{
    if (m->nslots != 0)
        __builtin_prefetch(&m->slots[mir_home(m, mir_tag(key))]);
}

void store_mirror_prefetch_entry(const store_mirror *m, const uint8_t key[2 * STORE_HASH_BYTES])
{
    if (m->nslots == 0)
        return;
    uint64_t e = m->slots[mir_find(m, mir_tag(key))];
    if (e == 0)
        return;
    /* the head and a short record's ciphertext and tag: up to 3 lines past the first */
    const uint8_t *p = m->arena + mir_slot_off(e);
    for (size_t at = 0; at < 192 && mir_slot_off(e) + at < m->used; at += 64)
        __builtin_prefetch(p + at);
}

/* An entry of tag holds a value of record seq. */
static bool mir_has_record(const store_mirror *m, uint32_t tag, uint64_t seq)
{
    return m->slots[mir_record_slot(m, tag, seq)] != 0;
}

void store_mirror_fill(store_mirror *m, const uint8_t key[2 * STORE_HASH_BYTES],
                       const uint8_t clear[STORE_REC_CLEAR], const uint8_t *pt, size_t n)
{
    uint32_t tag = mir_tag(key);

    if (m->nslots != 0 && !mir_has_record(m, tag, store_get_u64(clear)) && mir_room(m, n))
        mir_append(m, mir_free_slot(m, tag), key, clear, pt, n);
}

void store_mirror_add(store_mirror *m, const uint8_t key[2 * STORE_HASH_BYTES],
                      const uint8_t clear[STORE_REC_CLEAR], const uint8_t *pt, size_t n)
{
    if (m->nslots != 0 && mir_room(m, n))
        mir_append(m, mir_free_slot(m, mir_tag(key)), key, clear, pt, n);
}

void store_mirror_free(store_mirror *m)
{
    mir_unmap(m->slots, m->nslots * sizeof *m->slots);
    mir_unmap(m->arena, m->cap);
    store_keys_free(m->keys); /* wiped */
    if (m->job.vers != NULL)
        mir_unmap(m->job.vers, (m->job.vmask + 1) * 2 * sizeof *m->job.vers);
    /* the build's last key is an Hp || Hn, wiped with the keys it came from */
    sodium_memzero(m, sizeof *m);
}

void *store_map_anon(size_t bytes)
{
    return mir_map(bytes);
}

void store_unmap_anon(void *p, size_t bytes)
{
    mir_unmap(p, bytes);
}

/* A new random key: no entry of an earlier mirror opens with it, and the nonces start
 * again at 1 with it. */
static int mir_new_key(store_mirror *m, int suite)
{
    if ((m->keys = store_keys_alloc()) == NULL)
        return -1;
    randombytes_buf(m->keys + STORE_K_DATA, STORE_KEY_BYTES);
    store_keys_derive(m->keys, suite);
    sodium_mprotect_readonly(m->keys);
    m->suite = suite;
    m->nonces = 0;
    return 0;
}

int store_mirror_alloc(store_mirror *m, size_t entries, size_t arena_bytes, int suite)
{
    static uint64_t gens;

    store_mirror_free(m);
    m->gen = ++gens;
    /* 4/5 full once built: the count is known, and the table grows past 7/8 */
    m->nslots = entries * 5 / 4 + MIR_MIN_SLOTS;
    m->used = 1; /* offset 0 is never a value: a slot of 0 is empty */
    if ((m->slots = mir_map(m->nslots * sizeof *m->slots)) == NULL ||
        mir_new_key(m, suite) != 0 ||
        mir_arena_reserve(m, arena_bytes < MIR_MAX_ARENA / 2 ? arena_bytes
                                                              : MIR_MAX_ARENA / 2) != 0) {
        store_mirror_free(m);
        return SKR_ENOMEM; /* the build says so (store_mirror_build.c) */
    }
    return 0;
}
