/*
 * daemon/store/store_mirror.c - the sealed records in memory, where a get finds them.
 *
 * Why: LMDB serves reads from its map of the data file, so every page a get touches stays
 * in the daemon's resident memory, and the kernel maps up to 16 cached neighbours with
 * each fault (fault-around; MADV_RANDOM does not stop it). Gets spread over a hub of
 * 1,000,000 credentials kept about 400 MiB resident that way: the record B-tree at about
 * 70% page fill plus the order and name indexes beside it. The mirror holds each `rec`
 * value exactly as LMDB stores it (seq || ver || nonce || ciphertext: nothing in clear)
 * back to back in one arena, found through an open-addressing table: about 180 bytes per
 * credential with a 64-byte body (padding included), and two memory accesses per get
 * instead of a B-tree descent. Once it is built, the store drops its mapping of the data
 * file's pages (they stay in the page cache, which the kernel may reclaim); only gets
 * without a protocol, listings and writes map some again.
 *
 * Identity: a slot holds a 32-bit tag (from Hp XOR Hn) and the arena offset of the entry
 * (tag || LEB128 length || value); one entry per tag. Keys that share a tag share the
 * entry: a write puts its own value there, a get that read LMDB leaves an existing entry
 * alone. A get opens the value with its own Hp || Hn as associated data, so another key's
 * value fails authentication and the get falls back to LMDB. The mirror is therefore
 * never trusted for absence or authenticity, only for freshness (that a value is the
 * latest of its record: a value put back from an earlier write fails store_rec_current,
 * which gets from LMDB check and the mirror skips), which holds because:
 *  - the build (store_mirror_build.c) takes only values that pass store_rec_current;
 *  - every record write (store_db_put/store_db_del) first drops the entry of its key's
 *    tag, so a write that is later undone leaves at most a missing entry;
 *  - a batch's rec puts are added once the batch is durable (its journal record written);
 *  - a get that had to read LMDB adds what it read, when that is durable (not from an
 *    open batch) and the tag has no entry;
 *  - the writes that bypass store_db_put leave nothing stale: rotate rebuilds the mirror;
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
#include <string.h>
#include <sys/mman.h>

#include "store_int.h"
#include "store_test.h"

#define MIR_MIN_SLOTS   64u
#define MIR_MIN_ARENA   ((size_t)1 << 20)
#define MIR_COMPACT_MIN ((size_t)256 << 10)
#define MIR_TAG_BYTES   4u
#define MIR_MAX_ARENA   ((size_t)UINT32_MAX) /* offsets are 32-bit */
#define MIR_LEN_MAX     3u                   /* LEB128 bytes of a length < 2^21 */
#define MIR_VALUE_MAX   (STORE_REC_CLEAR + STORE_SEAL_OVERHEAD + STORE_REC_PT_MAX)
_Static_assert(MIR_VALUE_MAX < (1u << 21), "a rec value's length fits three LEB128 bytes");

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

/* The slot holding tag, or the empty slot where it would go. The table is never full. */
static size_t mir_find(const store_mirror *m, uint32_t tag)
{
    size_t i = mir_home(m, tag);

    for (;;) {
        uint64_t e = m->slots[i];
        if (e == 0 || mir_slot_tag(e) == tag)
            return i;
        if (++i == m->nslots)
            i = 0;
    }
}

static size_t mir_len_put(uint8_t *p, size_t len)
{
    size_t n = 0;

    do {
        p[n++] = (uint8_t)((len & 0x7f) | (len > 0x7f ? 0x80 : 0));
        len >>= 7;
    } while (len != 0);
    return n;
}

/* The entry at off: tag, LEB128 length, value. Returns its size in bytes. */
static size_t mir_blob(const store_mirror *m, size_t off, const uint8_t **val, size_t *len)
{
    const uint8_t *p = m->arena + off + MIR_TAG_BYTES;
    size_t n = 0, v = 0;

    do {
        v |= (size_t)(p[n] & 0x7f) << (7 * n);
    } while (p[n++] & 0x80);
    *val = p + n;
    *len = v;
    return MIR_TAG_BYTES + n + v;
}

static size_t mir_entry_bytes(const store_mirror *m, size_t off)
{
    const uint8_t *val;
    size_t len;

    return mir_blob(m, off, &val, &len);
}

static void *mir_map(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
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
            t.slots[mir_find(&t, mir_slot_tag(m->slots[i]))] = m->slots[i];
    mir_unmap(m->slots, m->nslots * sizeof *m->slots);
    m->slots = t.slots;
    m->nslots = n;
    return 0;
}

/* Room for one more entry: the table grows (to 2/3 full) before it is 4/5 full. */
static int mir_make_room(store_mirror *m)
{
    if ((m->count + 1) * 5 <= m->nslots * 4)
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
    m->arena = p;
    m->cap = cap;
    return 0;
}

/* Slides the live entries down over the space of replaced ones, in arena order: an entry
 * is live when the slot of its tag points at it. The arena keeps its pages. */
static void mir_compact(store_mirror *m)
{
    size_t r = 1, w = 1, n, i;
    uint32_t tag;

    while (r < m->used) {
        memcpy(&tag, m->arena + r, MIR_TAG_BYTES);
        n = mir_entry_bytes(m, r);
        i = mir_find(m, tag);
        if (m->slots[i] != 0 && mir_slot_off(m->slots[i]) == r) {
            memmove(m->arena + w, m->arena + r, n);
            m->slots[i] = (uint64_t)tag << 32 | w;
            w += n;
        }
        r += n;
    }
    m->used = w;
    m->dead = 0;
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

void store_mirror_drop(store *s, const uint8_t key[2 * STORE_HASH_BYTES])
{
    store_mirror *m = &s->mir;
    size_t i;

    if (m->nslots == 0)
        return;
    i = mir_find(m, mir_tag(key));
    if (m->slots[i] != 0)
        mir_unlink(m, i);
}

void store_mirror_put(store *s, const uint8_t key[2 * STORE_HASH_BYTES], const uint8_t *val,
                      size_t len)
{
    store_mirror *m = &s->mir;
    uint32_t tag = mir_tag(key);
    size_t i, need = MIR_TAG_BYTES + MIR_LEN_MAX + len;

    if (m->nslots == 0)
        return;
    if (len > MIR_VALUE_MAX) /* not a value the store writes (a corrupt hub): LMDB's job */
        goto drop;
    if (m->dead > MIR_COMPACT_MIN && m->dead > m->used / 4)
        mir_compact(m);
    if (mir_make_room(m) != 0 || mir_arena_reserve(m, need) != 0)
        goto drop;
    i = mir_find(m, tag);
    if (m->slots[i] != 0)
        m->dead += mir_entry_bytes(m, mir_slot_off(m->slots[i]));
    else
        m->count++;
    m->slots[i] = (uint64_t)tag << 32 | m->used;
    memcpy(m->arena + m->used, &tag, MIR_TAG_BYTES);
    m->used += MIR_TAG_BYTES;
    m->used += mir_len_put(m->arena + m->used, len);
    memcpy(m->arena + m->used, val, len);
    m->used += len;
    return;
drop: /* no room: the key's old value must not stay */
    store_mirror_drop(s, key);
}

bool store_mirror_get(store *s, const uint8_t key[2 * STORE_HASH_BYTES], MDB_val *v)
{
    store_mirror *m = &s->mir;
    const uint8_t *val;
    size_t i, len;

    if (m->nslots == 0)
        return false;
    i = mir_find(m, mir_tag(key));
    if (m->slots[i] == 0)
        return false;
    mir_blob(m, mir_slot_off(m->slots[i]), &val, &len);
    v->mv_data = (void *)val;
    v->mv_size = len;
    return true;
}

void store_mirror_fill(store *s, const uint8_t key[2 * STORE_HASH_BYTES], const MDB_val *v)
{
    MDB_val have;

    if (s->mir.nslots != 0 && !store_mirror_get(s, key, &have))
        store_mirror_put(s, key, v->mv_data, v->mv_size);
}

void store_mirror_free(store *s)
{
    store_mirror *m = &s->mir;

    mir_unmap(m->slots, m->nslots * sizeof *m->slots);
    mir_unmap(m->arena, m->cap);
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

int store_mirror_alloc(store *s, size_t entries, size_t arena_bytes)
{
    store_mirror *m = &s->mir;

    store_mirror_free(s);
    m->nslots = entries * 3 / 2 + MIR_MIN_SLOTS;
    m->used = 1; /* offset 0 is never a value: a slot of 0 is empty */
    if ((m->slots = mir_map(m->nslots * sizeof *m->slots)) == NULL ||
        mir_arena_reserve(m, arena_bytes < MIR_MAX_ARENA / 2 ? arena_bytes
                                                              : MIR_MAX_ARENA / 2) != 0) {
        store_mirror_free(s);
        return store_errf(s, SKR_ENOMEM, "no memory for the record mirror");
    }
    return 0;
}

size_t store_test_mirror_count(const store *s)
{
    return s->mir.count;
}

uint64_t store_test_mirror_misses(const store *s)
{
    return s->mir.misses;
}
