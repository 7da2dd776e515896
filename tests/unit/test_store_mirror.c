/*
 * tests/unit/test_store_mirror.c - the encrypted hub (daemon/store), the record mirror
 * (store_mirror.c): a model check, failed batches, the build after unlock, and what stays
 * resident.
 *
 * Shared fixture and helpers: store_fixture.h.
 */
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store_fixture.h"

/* ---- the record mirror (store_mirror.c) ---- */

#define MIR_NAMES 48

/* What the hub should hold: body[i] of name i, "" when absent. */
typedef struct mir_model {
    char body[MIR_NAMES][24];
} mir_model;

static void mir_name(int i, char p[8], char n[16])
{
    snprintf(p, 8, "p%d", i % 3);
    snprintf(n, 16, "n%d", i);
}

/* Every name, with and without its protocol, against the model; returns the live count. */
static size_t mir_check(store *s, const mir_model *m)
{
    char p[8], n[16];
    store_record rec;
    size_t live = 0;

    for (int i = 0; i < MIR_NAMES; i++) {
        mir_name(i, p, n);
        if (m->body[i][0] != '\0') {
            expect_body(s, p, n, m->body[i]);
            expect_body(s, NULL, n, m->body[i]);
            live++;
        } else {
            ck_assert_int_eq(store_get(s, p, n, &rec), SKR_ENOT_FOUND);
            ck_assert_int_eq(store_get(s, NULL, n, &rec), SKR_ENOT_FOUND);
        }
    }
    return live;
}

/* Every live name again, with its protocol: each answered from memory (no miss). */
static void mir_expect_hits(store *s, const mir_model *m)
{
    uint64_t misses = store_test_mirror_misses(s);
    char p[8], n[16];

    for (int i = 0; i < MIR_NAMES; i++)
        if (m->body[i][0] != '\0') {
            mir_name(i, p, n);
            expect_body(s, p, n, m->body[i]);
        }
    ck_assert_uint_eq(store_test_mirror_misses(s), misses);
}

/* Random puts and deletes, in batches and alone, with a lock, a rotate and a reopen on
 * the way: after every step each get must give the model's answer. The loop runs with
 * 32-bit tags, with 2-bit tags and with one tag for all keys (as if every key collided):
 * gets must stay right when keys share a tag, and once read every live key has its own
 * entry (one each: the count is the live count) and is answered from memory. */
START_TEST(test_mirror_model)
{
    static const uint32_t masks[] = { UINT32_MAX, 3, 0 };
    uint32_t mask = masks[_i];
    char p[8], n[16], body[24];
    unsigned seed = 7;
    mir_model m = { 0 };
    store *s;
    bool b;

    store_test_set_mirror_tag_mask(mask);
    s = new_hub();
    for (int step = 0; step < 45; step++) {
        bool batch = step % 3 != 0, deleted = false;
        if (batch)
            ck_assert_int_eq(store_batch_begin(s), 0);
        for (int j = 0; j < 8; j++) {
            int i = rand_r(&seed) % MIR_NAMES;
            mir_name(i, p, n);
            if (rand_r(&seed) % 4 == 0) {
                deleted = true;
                ck_assert_int_eq(store_delete(s, p, n, &b), 0);
                ck_assert(b == (m.body[i][0] != '\0'));
                m.body[i][0] = '\0';
            } else {
                snprintf(body, sizeof body, "b%d-%d", step, j);
                ck_assert_int_eq(store_put(s, p, n, (const uint8_t *)body, strlen(body), &b), 0);
                snprintf(m.body[i], sizeof m.body[i], "%s", body);
            }
            if (batch && j == 4) /* reads inside a batch see it */
                mir_check(s, &m);
        }
        if (batch)
            ck_assert_int_eq(store_batch_commit(s), 0);
        /* A put drops only its own record's entries: the keys that share its tag keep
         * theirs, so after a batch of puts every live key is still served from memory (a
         * durable delete drops its whole tag: its journal op names no seq; a write outside
         * a batch adds nothing; unlock and rotate build the mirror again in slices). */
        if (batch && !deleted && step != 16 && step != 31) {
            size_t before = 0;
            for (int i = 0; i < MIR_NAMES; i++)
                before += m.body[i][0] != '\0';
            ck_assert_uint_eq(store_test_mirror_count(s), before);
            mir_expect_hits(s, &m);
        }
        size_t live = mir_check(s, &m);
        /* Durable values all in memory, those of keys that share a tag too: batches add
         * theirs (dropping their tags' other entries), gets add the rest. */
        ck_assert_uint_eq(store_test_mirror_count(s), live);
        mir_expect_hits(s, &m);
        if (step == 15) {
            store_lock(s);
            ck_assert_uint_eq(store_test_mirror_count(s), 0);
            ck_assert_int_eq(store_unlock(s, g_kek), 0);
            mir_check(s, &m);
        }
        if (step == 30)
            ck_assert_int_eq(store_rotate(s, NULL), 0);
    }
    s = reopen(s);
    mirror_finish(s);
    size_t live = 0;
    for (int i = 0; i < MIR_NAMES; i++)
        live += m.body[i][0] != '\0';
    /* built whole at unlock, keys that share a tag too: no get reads LMDB */
    ck_assert_uint_eq(store_test_mirror_count(s), live);
    mir_expect_hits(s, &m);
    ck_assert_uint_eq(mir_check(s, &m), live);
    ck_assert_uint_eq(store_test_mirror_count(s), live);
    store_close(s);
}
END_TEST

/* With one tag for every key, a batch that replaces one record and adds another leaves
 * every other key's entry in place: each answered from memory, none read from LMDB. A
 * delete (durable) still drops the whole tag, and the next gets read LMDB once each. */
START_TEST(test_mirror_write_keeps_neighbours)
{
    enum { N = 20 };
    char p[8], n[16], body[N + 1][24];
    mir_model m = { 0 };
    store *s;
    bool b;

    store_test_set_mirror_tag_mask(0);
    s = new_hub();
    ck_assert_int_eq(store_batch_begin(s), 0);
    for (int i = 0; i < N; i++) {
        mir_name(i, p, n);
        snprintf(m.body[i], sizeof m.body[i], "first-%d", i);
        post_str(s, p, n, m.body[i]);
    }
    ck_assert_int_eq(store_batch_commit(s), 0);
    ck_assert_uint_eq(store_test_mirror_count(s), N);
    ck_assert_int_eq(store_batch_begin(s), 0);
    mir_name(3, p, n);
    snprintf(body[3], sizeof body[3], "second-3");
    ck_assert_int_eq(store_put(s, p, n, (const uint8_t *)body[3], strlen(body[3]), &b), 0);
    ck_assert(!b);
    mir_name(N, p, n);
    snprintf(body[N], sizeof body[N], "new-%d", N);
    ck_assert_int_eq(store_put(s, p, n, (const uint8_t *)body[N], strlen(body[N]), &b), 0);
    ck_assert(b);
    ck_assert_int_eq(store_batch_commit(s), 0);
    snprintf(m.body[3], sizeof m.body[3], "%s", body[3]);
    snprintf(m.body[N], sizeof m.body[N], "%s", body[N]);
    ck_assert_uint_eq(store_test_mirror_count(s), N + 1);
    mir_expect_hits(s, &m);
    ck_assert_uint_eq(store_test_mirror_count(s), N + 1);

    ck_assert_int_eq(store_batch_begin(s), 0);
    mir_name(7, p, n);
    ck_assert_int_eq(store_delete(s, p, n, &b), 0);
    ck_assert(b);
    ck_assert_int_eq(store_batch_commit(s), 0);
    m.body[7][0] = '\0';
    ck_assert_uint_eq(store_test_mirror_count(s), 0);
    uint64_t misses = store_test_mirror_misses(s);
    ck_assert_uint_eq(mir_check(s, &m), N);
    ck_assert_uint_eq(store_test_mirror_misses(s), misses + MIR_NAMES); /* absent ones too */
    ck_assert_uint_eq(store_test_mirror_count(s), N);
    mir_expect_hits(s, &m);
    store_close(s);
}
END_TEST

/* store_get_ahead: nothing on a small hub or a locked one; on a big one (the threshold
 * lowered) each get finds its own name's announcement by its bytes, and a get of another
 * name of the same length (or the same name under another protocol) still gets its own
 * record. */
START_TEST(test_get_ahead)
{
    char p[8], n[16];
    store *s = new_hub();
    store_record rec;

    ck_assert_int_eq(store_batch_begin(s), 0);
    for (int i = 0; i < 12; i++) {
        mir_name(i, p, n);
        char body[24];
        snprintf(body, sizeof body, "body-%d", i);
        post_str(s, p, n, body);
    }
    post_str(s, "p1", "n0", "n0-in-p1");
    ck_assert_int_eq(store_batch_commit(s), 0);
    store_get_ahead(s, "p0", "n0"); /* the mirror is below 2 MiB */
    ck_assert_uint_eq(store_test_ahead_live(s), 0);

    store_test_set_mirror_ahead_min(0);
    store_get_ahead(s, "p1", "n1");
    store_get_ahead(s, "p2", "n2");
    store_get_ahead(s, NULL, "n3"); /* no protocol: no mirror to read */
    store_get_ahead(s, "p0", "");   /* a bad name */
    ck_assert_uint_eq(store_test_ahead_live(s), 2);
    expect_body(s, "p2", "n5", "body-5");
    ck_assert_uint_eq(store_test_ahead_live(s), 2);
    expect_body(s, "p2", "n2", "body-2");
    ck_assert_uint_eq(store_test_ahead_live(s), 1);
    expect_body(s, "p1", "n1", "body-1");
    ck_assert_uint_eq(store_test_ahead_live(s), 0);
    store_get_ahead(s, "p0", "n0");
    expect_body(s, "p1", "n0", "n0-in-p1");
    ck_assert_uint_eq(store_test_ahead_live(s), 0);
    expect_body(s, "p0", "n0", "body-0");
    /* more announcements than the ring holds: the oldest go, every get is still right */
    for (int i = 0; i < 12; i++) {
        mir_name(i, p, n);
        store_get_ahead(s, p, n);
    }
    ck_assert_uint_eq(store_test_ahead_live(s), 4);
    for (int i = 0; i < 12; i++) {
        char body[24];
        mir_name(i, p, n);
        snprintf(body, sizeof body, "body-%d", i);
        expect_body(s, p, n, body);
    }
    ck_assert_uint_eq(store_test_ahead_live(s), 0);
    store_get_ahead(s, "p1", "n1");
    store_lock(s);
    ck_assert_uint_eq(store_test_ahead_live(s), 0);
    store_get_ahead(s, "p1", "n1");
    ck_assert_uint_eq(store_test_ahead_live(s), 0);
    ck_assert_int_eq(store_get(s, "p1", "n1", &rec), SKR_ELOCKED);
    store_test_set_mirror_ahead_min((size_t)2 << 20);
    store_close(s);
}
END_TEST

static size_t uleb_bytes(uint64_t v)
{
    size_t n = 1;

    while (v > 0x7f) {
        v >>= 7;
        n++;
    }
    return n;
}

/* The mirror keeps a record's clear seq || ver in LEB128 and seals its plaintext under a
 * key of its own with a counter nonce (store_mirror.c): every record comes back byte for
 * byte, whatever the two numbers (ver below seq, both at the ends of the u64 range) and
 * the plaintext's length (LEB128 boundaries, the largest record). An entry is exactly its
 * four LEB128 numbers (length, seq, ver - seq, nonce), the ciphertext and the tag, and no
 * plaintext is in the arena in clear. A plaintext longer than a record is not taken, and
 * the record's old entry goes. With one tag for all keys, each key added keeps its entry
 * beside the others. */
START_TEST(test_mirror_values_exact)
{
    static const uint64_t nums[][2] = {
        { 0, 0 }, { 1, 1 }, { 127, 128 }, { 128, 127 }, { 16383, 16384 },
        { UINT32_MAX, (uint64_t)UINT32_MAX + 1 }, { UINT64_MAX, 0 }, { 0, UINT64_MAX },
        { (uint64_t)1 << 63, UINT64_MAX }, { 5, 3 },
    };
    static const size_t lens[] = { 0, 1, 127, 128, 16367, 16368, STORE_REC_PT_MAX };
    enum { N = sizeof nums / sizeof nums[0] };
    static uint8_t pt[N][STORE_REC_PT_MAX + 1], out[STORE_REC_PT_MAX];
    uint8_t key[N][2 * STORE_HASH_BYTES], clear[N][STORE_REC_CLEAR], c[STORE_REC_CLEAR];
    size_t len[N], bytes = 1; /* offset 0 is never an entry */
    store *s = new_hub();

    store_test_set_mirror_tag_mask(_i == 0 ? UINT32_MAX : 0);
    for (size_t i = 0; i < N; i++) {
        randombytes_buf(key[i], sizeof key[i]);
        len[i] = lens[i % (sizeof lens / sizeof lens[0])];
        store_put_u64(clear[i], nums[i][0]);
        store_put_u64(clear[i] + 8, nums[i][1]);
        randombytes_buf(pt[i], len[i]);
        uint64_t nonce = s->mir.nonces + 1;
        if (_i == 0)
            store_mirror_put(&s->mir, key[i], clear[i], pt[i], len[i]);
        else
            store_mirror_add(&s->mir, key[i], clear[i], pt[i], len[i]);
        bytes += uleb_bytes(len[i]) + uleb_bytes(nums[i][0]) +
                 uleb_bytes(nums[i][1] - nums[i][0]) + uleb_bytes(nonce) + len[i] + 16;
    }
    ck_assert_uint_eq(store_test_mirror_count(s), N);
    ck_assert_uint_eq(s->mir.used, bytes);
    for (size_t i = 0; i < N; i++) {
        size_t pos = 0, found = 0, n;
        while (store_mirror_next(&s->mir, key[i], &pos, c, out, sizeof out, &n))
            found += n == len[i] && memcmp(out, pt[i], n) == 0 && memcmp(c, clear[i], sizeof c) == 0;
        ck_assert_uint_eq(found, 1);
        if (len[i] >= 16)
            ck_assert_ptr_null(memmem(s->mir.arena, s->mir.used, pt[i], 16));
    }
    /* not a record the store writes: not taken, and the record's entries gone (seq 0 is
     * two records' here: with one tag, both go) */
    store_mirror_put(&s->mir, key[0], clear[0], pt[0], STORE_REC_PT_MAX + 1);
    ck_assert_uint_eq(store_test_mirror_count(s), _i == 0 ? N - 1 : N - 2);
    store_mirror_put(&s->mir, key[1], clear[1], pt[1], STORE_REC_PT_MAX + 1);
    ck_assert_uint_eq(store_test_mirror_count(s), _i == 0 ? N - 2 : N - 3);
    store_close(s);
}
END_TEST

/* The mirror's sealing (store_seal_ctr, store_crypto.c), in both suites: every length
 * from 0 to past the whole-stride bound, and the largest record, opens back byte for
 * byte at exactly STORE_MAC_BYTES more, also into room for the plaintext alone (not for
 * one byte less); a flipped byte (first, last of the ciphertext, the tag), another
 * counter or another AD fails. An AES-GCM value up to 512 bytes is an ordinary GCM
 * message of the next multiple of 128 bytes whose ciphertext tail is zeros: libsodium's
 * own open of that message gives the plaintext.
 */
START_TEST(test_mirror_seal_ctr)
{
    enum { MAX = STORE_REC_PT_MAX };
    static uint8_t pt[MAX], sealed[MAX + STORE_MAC_BYTES], out[MAX], whole[640];
    uint8_t *keys = store_keys_alloc(), ad[STORE_AD_MAX] = "ad";
    int suite = _i == 0 ? STORE_SUITE_AESGCM : STORE_SUITE_XCHACHA;
    size_t n;

    if (suite == STORE_SUITE_AESGCM && !crypto_aead_aes256gcm_is_available()) {
        store_keys_free(keys);
        return;
    }
    ck_assert_ptr_nonnull(keys);
    randombytes_buf(keys + STORE_K_DATA, STORE_KEY_BYTES);
    store_keys_derive(keys, suite);
    randombytes_buf(pt, sizeof pt);
    for (size_t len = 0; len <= MAX; len = len < 700 ? len + 1 : len < 4096 ? 4096 : MAX + 1) {
        uint64_t ctr = len * 7 + 1;
        store_seal_ctr(suite, keys, ctr, ad, 20, pt, len, sealed);
        ck_assert_int_eq(store_unseal_ctr(suite, keys, ctr, ad, 20, sealed,
                                          len + STORE_MAC_BYTES, out, sizeof out, &n), 0);
        ck_assert_uint_eq(n, len);
        ck_assert_int_eq(memcmp(out, pt, len), 0);
        /* room for the plaintext alone (not the whole stride): opened beside, then copied */
        memset(out, 0, len);
        ck_assert_int_eq(store_unseal_ctr(suite, keys, ctr, ad, 20, sealed,
                                          len + STORE_MAC_BYTES, out, len, &n), 0);
        ck_assert_int_eq(memcmp(out, pt, len), 0);
        if (len > 0)
            ck_assert_int_ne(store_unseal_ctr(suite, keys, ctr, ad, 20, sealed,
                                              len + STORE_MAC_BYTES, out, len - 1, &n), 0);
        if (len >= 16)
            ck_assert_int_ne(memcmp(sealed, pt, 16), 0);
        ck_assert_int_ne(store_unseal_ctr(suite, keys, ctr + 1, ad, 20, sealed,
                                          len + STORE_MAC_BYTES, out, sizeof out, &n), 0);
        ck_assert_int_ne(store_unseal_ctr(suite, keys, ctr, ad, 19, sealed,
                                          len + STORE_MAC_BYTES, out, sizeof out, &n), 0);
        size_t flips[] = { 0, len > 0 ? len - 1 : 0, len + STORE_MAC_BYTES - 1 };
        for (size_t f = 0; f < 3; f++) {
            sealed[flips[f]] ^= 0x20;
            ck_assert_int_ne(store_unseal_ctr(suite, keys, ctr, ad, 20, sealed,
                                              len + STORE_MAC_BYTES, out, sizeof out, &n), 0);
            sealed[flips[f]] ^= 0x20;
        }
        if (suite == STORE_SUITE_AESGCM && len <= 512) {
            size_t w = (len + 127) / 128 * 128;
            uint8_t nonce[crypto_aead_aes256gcm_NPUBBYTES] = { 0 };
            for (int b = 0; b < 8; b++)
                nonce[b] = (uint8_t)(ctr >> (8 * b));
            memset(whole, 0, sizeof whole);
            memcpy(whole, sealed, len);
            ck_assert_int_eq(crypto_aead_aes256gcm_decrypt_detached(
                                 out, NULL, whole, w, sealed + len, ad, 20, nonce,
                                 keys + STORE_K_DATA), 0);
            ck_assert_int_eq(memcmp(out, pt, len), 0);
        }
    }
    store_keys_free(keys);
}
END_TEST

/* ---- the mirror's build after unlock (store_mirror_build.c) ---- */

#define BUILD_N 300

static void build_name(int i, char p[8], char n[16])
{
    snprintf(p, 8, "p%d", i % 3);
    snprintf(n, 16, "n%d", i);
}

static void build_put(store *s, char body[][24], int i, const char *b)
{
    char p[8], n[16];
    bool created;

    build_name(i, p, n);
    ck_assert_int_eq(store_put(s, p, n, (const uint8_t *)b, strlen(b), &created), 0);
    snprintf(body[i], 24, "%s", b);
}

/* Name i with and without its protocol against body[i] ("" = absent). */
static void build_expect(store *s, char body[][24], int i)
{
    char p[8], n[16];
    store_record rec;

    build_name(i, p, n);
    if (body[i][0] == '\0') {
        ck_assert_int_eq(store_get(s, p, n, &rec), SKR_ENOT_FOUND);
        ck_assert_int_eq(store_get(s, NULL, n, &rec), SKR_ENOT_FOUND);
        return;
    }
    expect_body(s, p, n, body[i]);
    expect_body(s, NULL, n, body[i]);
}

/* A hub of BUILD_N names written in one batch, reopened: unlocked, its mirror unbuilt. */
static store *build_hub(char body[][24])
{
    char b[24];
    store *s = new_hub();

    ck_assert_int_eq(store_batch_begin(s), 0);
    for (int i = 0; i < BUILD_N; i++) {
        snprintf(b, sizeof b, "b0-%d", i);
        build_put(s, body, i, b);
    }
    ck_assert_int_eq(store_batch_commit(s), 0);
    s = reopen(s);
    ck_assert(store_mirror_building(s));
    ck_assert_uint_eq(store_test_mirror_count(s), 0);
    return s;
}

/* Unlock returns before the mirror is built: between the build's steps gets read LMDB and
 * answer right, writes (alone and in batches) are seen by every later get, a step while
 * a batch is open does nothing, and the finished mirror holds exactly the live values
 * (with 8 tags as well: the build adds keys that share a tag, never a stale value). */
START_TEST(test_mirror_build_serves)
{
    static const uint32_t masks[] = { UINT32_MAX, 7 }; /* 8 tags: keys share them */
    static char body[BUILD_N][24];
    char b[24];
    unsigned steps = 0;
    uint64_t misses;
    bool deleted;
    store *s;

    store_test_set_mirror_tag_mask(masks[_i]);
    memset(body, 0, sizeof body);
    s = build_hub(body);
    misses = store_test_mirror_misses(s);
    expect_body(s, "p0", "n0", "b0-0");
    ck_assert_uint_eq(store_test_mirror_misses(s), misses + 1); /* from LMDB */
    while (store_mirror_step(s, 0)) {
        int w = (int)(steps * 7 % BUILD_N), d = (int)((steps * 11 + 3) % BUILD_N);
        snprintf(b, sizeof b, "b1-%u", steps);
        if (steps % 2 == 0) {
            build_put(s, body, w, b);
        } else { /* in a batch: the build waits for its commit */
            ck_assert_int_eq(store_batch_begin(s), 0);
            build_put(s, body, w, b);
            size_t count = store_test_mirror_count(s);
            ck_assert(store_mirror_step(s, 0));
            ck_assert_uint_eq(store_test_mirror_count(s), count);
            ck_assert_int_eq(store_batch_commit(s), 0);
        }
        if (steps % 3 == 0) {
            char p[8], n[16];
            build_name(d, p, n);
            ck_assert_int_eq(store_delete(s, p, n, &deleted), 0);
            ck_assert(deleted == (body[d][0] != '\0'));
            body[d][0] = '\0';
        }
        for (int i = (int)steps; i < BUILD_N; i += 37)
            build_expect(s, body, i);
        steps++;
        ck_assert_uint_lt(steps, 100000);
    }
    ck_assert_uint_ge(steps, 10); /* 2 passes of 300 entries, 32 per step: it interleaved */
    size_t live = 0;
    for (int i = 0; i < BUILD_N; i++) {
        build_expect(s, body, i);
        live += body[i][0] != '\0';
    }
    ck_assert_uint_eq(store_test_mirror_count(s), live);
    misses = store_test_mirror_misses(s);
    for (int i = 0; i < BUILD_N; i++)
        if (body[i][0] != '\0')
            build_expect(s, body, i);
    ck_assert_uint_eq(store_test_mirror_misses(s), misses); /* every live one from memory */
    store_close(s);
}
END_TEST

static bool stop_now(void *arg)
{
    (*(unsigned *)arg)++;
    return true;
}

static bool stop_never(void *arg)
{
    (*(unsigned *)arg)++;
    return false;
}

/* store_mirror_step_until: a step whose stop says so at once ends after its first few
 * dozen entries however long its budget (32 of each pass's 300: about 20 steps), and the
 * build it finishes that way holds every value; one whose stop never says so builds it all
 * in one step of a long budget, asking stop as it goes; and stop is not asked before the
 * step has run least_us (the whole build, here). */
START_TEST(test_mirror_build_stops_early)
{
    static char body[BUILD_N][24];
    unsigned steps = 0, asked = 0;
    store *s;

    memset(body, 0, sizeof body);
    s = build_hub(body);
    while (store_mirror_step_until(s, 10000000u, 0, stop_now, &asked)) {
        steps++;
        ck_assert_uint_lt(steps, 1000);
    }
    ck_assert_uint_ge(steps, 2 * (BUILD_N / 32));
    ck_assert_uint_le(steps, 2 * (BUILD_N / 32 + 1));
    ck_assert_uint_ge(asked, steps);
    ck_assert_uint_eq(store_test_mirror_count(s), BUILD_N);
    for (int i = 0; i < BUILD_N; i++)
        build_expect(s, body, i);
    s = reopen(s); /* unlocked again: the build starts over */
    ck_assert(store_mirror_building(s));
    ck_assert_uint_eq(store_test_mirror_count(s), 0);
    asked = 0;
    ck_assert(!store_mirror_step_until(s, 10000000u, 0, stop_never, &asked));
    ck_assert_uint_ge(asked, 2 * (BUILD_N / 32) - 2);
    ck_assert_uint_eq(store_test_mirror_count(s), BUILD_N);
    s = reopen(s);
    asked = 0;
    ck_assert(!store_mirror_step_until(s, 10000000u, 10000000u, stop_now, &asked));
    ck_assert_uint_eq(asked, 0);
    ck_assert_uint_eq(store_test_mirror_count(s), BUILD_N);
    store_close(s);
}
END_TEST

/* A lock during the build, in either pass, stops it and wipes every byte of the mirror
 * and of the build's state (version table, where it stopped); the next unlock builds it
 * whole again. */
START_TEST(test_mirror_build_lock)
{
    static char body[BUILD_N][24];
    store_record rec;
    store *s;

    memset(body, 0, sizeof body);
    s = build_hub(body);
    for (int i = 0; i < 3; i++) /* into the ord pass */
        ck_assert(store_mirror_step(s, 0));
    ck_assert(!store_test_mirror_wiped(s));
    store_lock(s);
    ck_assert(store_test_mirror_wiped(s));
    ck_assert(!store_mirror_building(s));
    ck_assert(!store_mirror_step(s, 0));
    ck_assert_int_eq(store_get(s, "p0", "n0", &rec), SKR_ELOCKED);
    ck_assert_int_eq(store_unlock(s, g_kek), 0);
    ck_assert(store_mirror_building(s));
    while (store_test_mirror_count(s) == 0) /* into the rec pass */
        ck_assert(store_mirror_step(s, 0));
    store_lock(s);
    ck_assert(store_test_mirror_wiped(s));
    ck_assert(!store_mirror_step(s, 0));
    ck_assert_int_eq(store_unlock(s, g_kek), 0);
    ck_assert_uint_ge(mirror_finish(s), 10);
    ck_assert_uint_eq(store_test_mirror_count(s), BUILD_N);
    for (int i = 0; i < BUILD_N; i++)
        build_expect(s, body, i);
    store_close(s);
}
END_TEST

/* A batch whose journal write fails leaves the mirror with the old values: the failed
 * writes were dropped from it when made and never added back. */
START_TEST(test_mirror_failed_batch)
{
    store_record rec;
    store *s = new_hub();
    bool b;

    ck_assert_int_eq(store_batch_begin(s), 0);
    post_str(s, "x", "a", "old-a");
    post_str(s, "x", "b", "old-b");
    ck_assert_int_eq(store_batch_commit(s), 0);
    ck_assert_uint_eq(store_test_mirror_count(s), 2);
    /* The journal's next write fails (EIO, nothing written, as on a full disk): the next
     * batch cannot be made durable. */
    store_test_journal_faults("f");
    ck_assert_int_eq(store_batch_begin(s), 0);
    ck_assert_int_eq(store_put(s, "x", "a", (const uint8_t *)"new-a", 5, &b), 0);
    ck_assert_int_eq(store_delete(s, "x", "b", &b), 0);
    post_str(s, "x", "c", "new-c");
    expect_body(s, "x", "a", "new-a"); /* inside the batch */
    ck_assert_int_eq(store_get(s, "x", "b", &rec), SKR_ENOT_FOUND);
    ck_assert_int_eq(store_batch_commit(s), SKR_EINTERNAL);
    store_test_journal_faults(NULL);
    expect_body(s, "x", "a", "old-a");
    expect_body(s, "x", "b", "old-b");
    ck_assert_int_eq(store_get(s, "x", "c", &rec), SKR_ENOT_FOUND);
    ck_assert_uint_eq(store_test_mirror_count(s), 2);
    s = reopen(s);
    expect_body(s, "x", "a", "old-a");
    ck_assert_int_eq(store_get(s, "x", "c", &rec), SKR_ENOT_FOUND);
    store_close(s);
}
END_TEST

/* A batch's rec puts go into the mirror as sealed at the put (store_stage, store.c), not
 * opened from LMDB again: one taken per rec put, replaced, deleted and posted again in
 * the same batch, and every get answered from memory with its latest body. A batch
 * whose write failed leaves its staged entry of a key behind; the next batch's put of
 * that key must take its own. */
START_TEST(test_mirror_staged)
{
    store_record rec;
    store *s = new_hub();
    uint64_t taken = store_test_stage_taken(s), misses;
    bool b;

    ck_assert_int_eq(store_batch_begin(s), 0);
    post_str(s, "x", "a", "a1");
    ck_assert_int_eq(store_put(s, "x", "a", (const uint8_t *)"a2", 2, &b), 0);
    post_str(s, "x", "b", "b1");
    ck_assert_int_eq(store_delete(s, "x", "b", &b), 0);
    post_str(s, "x", "b", "b2");
    post_str(s, "x", "c", "c1");
    ck_assert_int_eq(store_batch_commit(s), 0);
    ck_assert_uint_eq(store_test_stage_taken(s), taken + 5);
    ck_assert_uint_eq(store_test_mirror_count(s), 3);
    misses = store_test_mirror_misses(s);
    expect_body(s, "x", "a", "a2");
    expect_body(s, "x", "b", "b2");
    expect_body(s, "x", "c", "c1");
    ck_assert_uint_eq(store_test_mirror_misses(s), misses);

    store_test_journal_faults("f"); /* the next record's write fails: nothing walked */
    ck_assert_int_eq(store_batch_begin(s), 0);
    ck_assert_int_eq(store_put(s, "x", "a", (const uint8_t *)"a3", 2, &b), 0);
    ck_assert_int_eq(store_batch_commit(s), SKR_EINTERNAL);
    store_test_journal_faults(NULL);
    taken = store_test_stage_taken(s);
    ck_assert_int_eq(store_batch_begin(s), 0);
    ck_assert_int_eq(store_put(s, "x", "a", (const uint8_t *)"a4", 2, &b), 0);
    ck_assert_int_eq(store_batch_commit(s), 0);
    ck_assert_uint_eq(store_test_stage_taken(s), taken + 1);
    misses = store_test_mirror_misses(s);
    expect_body(s, "x", "a", "a4");
    ck_assert_uint_eq(store_test_mirror_misses(s), misses);
    ck_assert_int_eq(store_get(s, "x", "d", &rec), SKR_ENOT_FOUND);
    s = reopen(s);
    expect_body(s, "x", "a", "a4");
    store_close(s);
}
END_TEST

/* The pipelined commit (store_batch_commit_start): a counter for the writer's notify. */
static atomic_int pipe_notified;

static void pipe_notify(void *arg)
{
    (void)arg;
    atomic_fetch_add(&pipe_notified, 1);
}

/* Posts n records "p<i>" of 100 bytes each: PIPE_POSTS of them make a record well over
 * the size that goes to the writer thread (STORE_BATCH_ASYNC_MIN_BYTES, 8 KiB: each post
 * logs a 256-byte class record and its ord entry). */
enum { PIPE_POSTS = 60 };
static void pipe_posts(store *s, const char *prefix, int n)
{
    char name[16], body[101];
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "%s%d", prefix, i);
        memset(body, 'a' + i % 26, 100);
        body[100] = '\0';
        post_str(s, "x", name, body);
    }
}

START_TEST(test_pipelined_commit)
{
    store_record rec;
    store *s = new_hub();
    bool b;

    atomic_store(&pipe_notified, 0);
    store_batch_async(s, pipe_notify, NULL);
    ck_assert_int_eq(store_batch_begin(s), 0);
    post_str(s, "x", "a", "first");
    pipe_posts(s, "p", PIPE_POSTS);
    ck_assert_int_eq(store_batch_commit_start(s), 1);
    /* The next batch runs on top of the one in flight: it reads and replaces its writes. */
    ck_assert_int_eq(store_batch_begin(s), 0);
    expect_body(s, "x", "a", "first");
    ck_assert_int_eq(store_put(s, "x", "a", (const uint8_t *)"second", 6, &b), 0);
    post_str(s, "x", "z", "zed");
    expect_body(s, "x", "a", "second");
    ck_assert_int_eq(store_batch_commit_finish(s), 0);
    ck_assert(store_batch_written(s));
    ck_assert_int_eq(atomic_load(&pipe_notified), 1);
    ck_assert_int_eq(store_batch_commit_finish(s), 0); /* nothing left to finish */
    ck_assert_int_eq(store_batch_commit(s), 0);
    /* The mirror holds the first batch's values but not a's old one, which the second
     * replaced after the first was fed to it. */
    expect_body(s, "x", "a", "second");
    expect_body(s, "x", "p7", "hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh"
                              "hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh");
    ck_assert_uint_eq(store_test_mirror_count(s), PIPE_POSTS + 2);
    s = reopen(s);
    expect_body(s, "x", "a", "second");
    expect_body(s, "x", "z", "zed");
    ck_assert_int_eq(store_get(s, "x", "p59", &rec), 0);
    store_release(s);
    store_close(s);
}
END_TEST

/* A new hub holding x/a = "old-a", durable. */
static store *hub_with_old_a(void)
{
    store *s = new_hub();
    ck_assert_int_eq(store_batch_begin(s), 0);
    post_str(s, "x", "a", "old-a");
    ck_assert_int_eq(store_batch_commit(s), 0);
    return s;
}

/* A record in flight that fails is lost, and so is the batch written on top of it: both
 * out of LMDB's txn and out of the mirror, which was fed the first at the write's start. */
START_TEST(test_pipelined_commit_lost)
{
    store_record rec;
    store *s = hub_with_old_a();
    bool b;

    store_batch_async(s, pipe_notify, NULL);
    store_test_journal_faults("f"); /* the record in flight: EIO, nothing written */
    ck_assert_int_eq(store_batch_begin(s), 0);
    ck_assert_int_eq(store_put(s, "x", "a", (const uint8_t *)"new-a", 5, &b), 0);
    pipe_posts(s, "p", PIPE_POSTS);
    ck_assert_int_eq(store_batch_commit_start(s), 1);
    ck_assert_int_eq(store_batch_begin(s), 0);
    post_str(s, "x", "c", "new-c");
    ck_assert_int_eq(store_batch_commit_finish(s), SKR_EINTERNAL);
    /* a later write of the lost batch says why it was lost */
    ck_assert_int_eq(store_post(s, "x", "d", (const uint8_t *)"new-d", 5), SKR_EINTERNAL);
    ck_assert_ptr_nonnull(strstr(store_errmsg(s), "this write batch already failed: journal write"));
    ck_assert_int_eq(store_batch_commit(s), SKR_EINTERNAL); /* lost with it */
    store_test_journal_faults(NULL);
    expect_body(s, "x", "a", "old-a");
    ck_assert_int_eq(store_get(s, "x", "c", &rec), SKR_ENOT_FOUND);
    ck_assert_int_eq(store_get(s, "x", "p0", &rec), SKR_ENOT_FOUND);
    ck_assert_uint_eq(store_test_mirror_count(s), 1);
    /* The store goes on: the next batch is durable. */
    ck_assert_int_eq(store_batch_begin(s), 0);
    pipe_posts(s, "q", PIPE_POSTS);
    ck_assert_int_eq(store_batch_commit_start(s), 1);
    ck_assert_int_eq(store_batch_commit_finish(s), 0);
    s = reopen(s);
    expect_body(s, "x", "a", "old-a");
    ck_assert_int_eq(store_get(s, "x", "p0", &rec), SKR_ENOT_FOUND);
    ck_assert_int_eq(store_get(s, "x", "q19", &rec), 0);
    store_release(s);
    store_close(s);
}
END_TEST

/* A record in flight that fails, settled while no batch is open (here the next batch's
 * map growth waits for it): the batch opened after it is lost with it all the same, as
 * store.h says, because the caller fails both batches' replies. Found in review. */
START_TEST(test_pipelined_commit_lost_before_next_batch)
{
    store_record rec;
    store *s;

    store_test_set_mapsize(1 << 20); /* a small map: the next batch must grow it */
    s = new_hub();
    store_batch_async(s, pipe_notify, NULL);
    size_t map0 = store_test_mapsize(s);
    store_test_journal_faults("f"); /* the record in flight fails */
    ck_assert_int_eq(store_batch_begin(s), 0);
    pipe_posts(s, "p", PIPE_POSTS);
    ck_assert_int_eq(store_batch_commit_start(s), 1);
    ck_assert_int_eq(store_batch_begin(s), 0); /* grows the map: waits for the record */
    store_test_journal_faults(NULL);
    ck_assert_uint_gt(store_test_mapsize(s), map0);
    ck_assert_int_eq(store_post(s, "x", "c", (const uint8_t *)"new-c", 5), SKR_EINTERNAL);
    ck_assert_str_eq(store_errmsg(s),
                     "this write batch already failed: a journal record before it was lost");
    ck_assert_int_eq(store_batch_commit_finish(s), SKR_EINTERNAL);
    ck_assert_int_eq(store_batch_commit(s), SKR_EINTERNAL);
    s = reopen(s);
    ck_assert_int_eq(store_get(s, "x", "c", &rec), SKR_ENOT_FOUND);
    ck_assert_int_eq(store_get(s, "x", "p0", &rec), SKR_ENOT_FOUND);
    ck_assert_int_eq(store_batch_begin(s), 0); /* and the next batch is fine */
    post_str(s, "x", "c", "new-c");
    ck_assert_int_eq(store_batch_commit(s), 0);
    expect_body(s, "x", "c", "new-c");
    store_close(s);
}
END_TEST

/* A batch ended while a record is in flight queues behind it, however small: the writer
 * goes from one record to the next, in order, and each finish gives the oldest's result.
 * The first record's disk is slow ('s'), so the second is surely queued meanwhile. */
START_TEST(test_pipelined_commit_queued)
{
    store_record rec;
    store *s = new_hub();
    bool b;

    atomic_store(&pipe_notified, 0);
    store_batch_async(s, pipe_notify, NULL);
    store_test_journal_faults("s");
    ck_assert_int_eq(store_batch_begin(s), 0);
    post_str(s, "x", "a", "first");
    pipe_posts(s, "p", PIPE_POSTS);
    ck_assert_int_eq(store_batch_commit_start(s), 1);
    ck_assert_uint_eq(store_batch_in_flight(s), 1);
    ck_assert_int_eq(store_batch_begin(s), 0);
    ck_assert_int_eq(store_put(s, "x", "a", (const uint8_t *)"second", 6, &b), 0);
    ck_assert(store_batch_queueable(s));
    ck_assert_int_eq(store_batch_commit_start(s), 1); /* one put: queued all the same */
    ck_assert_uint_eq(store_batch_in_flight(s), 2);
    ck_assert_int_eq(store_batch_begin(s), 0);
    post_str(s, "x", "c", "third");
    ck_assert(!store_batch_queueable(s)); /* no slot free */
    ck_assert(!store_batch_written(s));   /* the first is still on its slow disk */
    ck_assert_int_eq(store_batch_commit_finish(s), 0);
    ck_assert_uint_eq(store_batch_in_flight(s), 1);
    ck_assert_int_eq(store_batch_commit_finish(s), 0);
    ck_assert_uint_eq(store_batch_in_flight(s), 0);
    ck_assert_int_eq(atomic_load(&pipe_notified), 2);
    ck_assert_int_eq(store_batch_commit_finish(s), 0); /* nothing left to finish */
    ck_assert_int_eq(store_batch_commit(s), 0);
    store_test_journal_faults(NULL);
    expect_body(s, "x", "a", "second");
    ck_assert_uint_eq(store_test_mirror_count(s), PIPE_POSTS + 2);
    s = reopen(s); /* replayed in order: the second record's a over the first's */
    expect_body(s, "x", "a", "second");
    expect_body(s, "x", "c", "third");
    ck_assert_int_eq(store_get(s, "x", "p59", &rec), 0);
    store_release(s);
    store_close(s);
}
END_TEST

/* Records queued behind one that fails are not written (their batches were built on top
 * of it): every one is lost, and the open batch with them; out of LMDB's txn and the
 * mirror, and never replayed. Loop 0: the first record fails ('F', slow, so the second
 * is queued behind it). Loop 1: the first is written, the second fails: the first stays.
 * A child runs it and ends without closing (a crash: nothing checkpointed), so the
 * parent's open replays the journal as it was left. */
static void queued_lost_run(int loop)
{
    static const char *plans[] = { "F", "sF" };
    store_record rec;
    store *s = open_unlocked();
    bool b;

    store_batch_async(s, pipe_notify, NULL);
    store_test_journal_faults(plans[loop]);
    ck_assert_int_eq(store_batch_begin(s), 0);
    pipe_posts(s, "p", PIPE_POSTS);
    ck_assert_int_eq(store_batch_commit_start(s), 1);
    ck_assert_int_eq(store_batch_begin(s), 0);
    ck_assert_int_eq(store_put(s, "x", "a", (const uint8_t *)"new-a", 5, &b), 0);
    post_str(s, "x", "b", "new-b");
    ck_assert_int_eq(store_batch_commit_start(s), 1);
    ck_assert_uint_eq(store_batch_in_flight(s), 2);
    ck_assert_int_eq(store_batch_begin(s), 0);
    post_str(s, "x", "c", "new-c");
    ck_assert_int_eq(store_batch_commit_finish(s), loop == 0 ? SKR_EINTERNAL : 0);
    ck_assert_int_eq(store_batch_commit_finish(s), SKR_EINTERNAL);
    ck_assert_int_eq(store_batch_commit(s), SKR_EINTERNAL); /* lost with them */
    store_test_journal_faults(NULL);
    expect_body(s, "x", "a", "old-a");
    ck_assert_int_eq(store_get(s, "x", "b", &rec), SKR_ENOT_FOUND);
    ck_assert_int_eq(store_get(s, "x", "c", &rec), SKR_ENOT_FOUND);
    ck_assert_int_eq(store_get(s, "x", "p0", &rec), loop == 0 ? SKR_ENOT_FOUND : 0);
    store_release(s);
    /* The store goes on: the next record is durable. It goes where the lost one went and,
     * in loop 0, is as long as it (the same sizes), so a record written behind the loss
     * would follow it in the journal, numbered next, and be replayed. */
    ck_assert_int_eq(store_batch_begin(s), 0);
    pipe_posts(s, "q", PIPE_POSTS);
    ck_assert_int_eq(store_batch_commit_start(s), 1);
    ck_assert_int_eq(store_batch_commit_finish(s), 0);
    _exit(0);
}

START_TEST(test_pipelined_commit_queued_lost)
{
    store_record rec;
    store *s = hub_with_old_a();
    int st;

    store_close(s);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        queued_lost_run(_i);
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
    s = open_unlocked();
    expect_body(s, "x", "a", "old-a");
    ck_assert_int_eq(store_get(s, "x", "b", &rec), SKR_ENOT_FOUND);
    ck_assert_int_eq(store_get(s, "x", "c", &rec), SKR_ENOT_FOUND);
    ck_assert_int_eq(store_get(s, "x", "p0", &rec), _i == 0 ? SKR_ENOT_FOUND : 0);
    ck_assert_int_eq(store_get(s, "x", "q19", &rec), 0);
    store_release(s);
    store_close(s);
}
END_TEST

/* test_mirror_memory's writes: round 0 puts u0..u<n-1>, round r > 0 puts every third
 * name (i % 3 == r % 3), in batches of 100, so that replaced values lie between live ones
 * and compaction has to move those. */
static void mem_body(int round, int i, char body[240])
{
    memset(body, 'a' + round, 240);
    snprintf(body, 240, "r%d-%d", round, i);
    body[strlen(body)] = '.';
}

static int mem_last_round(int i, int rounds)
{
    for (int r = rounds - 1; r > 0; r--)
        if (r % 3 == i % 3)
            return r;
    return 0;
}

static void mem_write_round(store *s, int n, int round)
{
    char name[16], body[240];
    int in_batch = 0;
    bool b;

    ck_assert_int_eq(store_batch_begin(s), 0);
    for (int i = 0; i < n; i++) {
        if (round > 0 && i % 3 != round % 3)
            continue;
        snprintf(name, sizeof name, "u%d", i);
        mem_body(round, i, body);
        ck_assert_int_eq(store_put(s, "p", name, (const uint8_t *)body, 240, &b), 0);
        if (++in_batch == 100) {
            ck_assert_int_eq(store_batch_commit(s), 0);
            ck_assert_int_eq(store_batch_begin(s), 0);
            in_batch = 0;
        }
    }
    ck_assert_int_eq(store_batch_commit(s), 0);
}

static void mem_get_all(store *s, int n, int rounds)
{
    char name[16], body[240];
    store_record rec;

    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "u%d", i);
        mem_body(mem_last_round(i, rounds), i, body);
        ck_assert_int_eq(store_get(s, "p", name, &rec), 0);
        ck_assert_uint_eq(rec.body_len, 240);
        ck_assert_mem_eq(rec.body, body, 240);
    }
    store_release(s);
}

/* Gets are served from memory: after unlock (and after rotate) the store holds none of
 * the data file's pages, and reading every record maps none again. The writes make the
 * table grow and the arena compact itself (moving live values), and not one get misses. */
START_TEST(test_mirror_memory)
{
    enum { N = 3000, ROUNDS = 16 };
    store *s = new_hub();

    for (int round = 0; round < ROUNDS; round++)
        mem_write_round(s, N, round);
    ck_assert_uint_eq(store_test_mirror_count(s), N);
    /* A value of 240-byte body is 269 bytes of plaintext, 272 as the mirror pads it, its
     * entry at most 10 bytes of numbers and the tag more; 8,000 values written: at most
     * 4/3 of the live ones kept. */
    size_t per = 10 + 272 + STORE_MAC_BYTES;
    ck_assert_uint_lt(s->mir.used, (size_t)N * per * 4 / 3 + (256 << 10));
    mem_get_all(s, N, ROUNDS);
    ck_assert_uint_eq(store_test_mirror_misses(s), 0); /* every value survived compaction */
    s = reopen(s);
    mirror_finish(s);
    ck_assert_uint_eq(store_test_mirror_count(s), N);
    ck_assert_int_le(data_map_rss_kb(), 64);
    mem_get_all(s, N, ROUNDS);
    ck_assert_uint_eq(store_test_mirror_misses(s), 0);
    ck_assert_int_le(data_map_rss_kb(), 64);
    /* Rotate seals every value again: the mirror is rebuilt, gets still need no page. */
    ck_assert_int_eq(store_rotate(s, NULL), 0);
    ck_assert_uint_eq(store_test_mirror_count(s), N);
    mem_get_all(s, N, ROUNDS);
    ck_assert_uint_eq(store_test_mirror_misses(s), 0);
    ck_assert_int_le(data_map_rss_kb(), 64);
    store_close(s);
}
END_TEST

/* What a credential costs in the mirror, to the byte: a post of protocol "p", name "n"
 * and a 40-byte body is 65 bytes of plaintext (the file pads it to 128), 80 as the
 * mirror pads it (16), sealed with a 16-byte tag behind four one-byte numbers (length,
 * seq, ver - seq 0, nonce): 100 bytes, taken by its first get (a write outside a batch
 * is not fed to it). A second one of 41 bytes (66: 80 again) takes the same; one of 58
 * (81) takes 16 more. */
START_TEST(test_mirror_entry_size)
{
    static const uint8_t body[58] = { 1 };
    static const struct { const char *name; size_t blen, entry; } c[] = {
        { "n", 40, 100 }, { "m", 41, 100 }, { "o", 58, 116 },
    };
    size_t used = 1;
    store_record rec;
    store *s = new_hub();

    ck_assert_uint_eq(s->mir.used, used);
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq(store_post(s, "p", c[i].name, body, c[i].blen), 0);
        ck_assert_int_eq(store_get(s, "p", c[i].name, &rec), 0);
        used += c[i].entry;
        ck_assert_uint_eq(s->mir.used, used);
        ck_assert_int_eq(store_get(s, "p", c[i].name, &rec), 0); /* served from it */
        ck_assert_uint_eq(rec.body_len, c[i].blen);
        ck_assert_mem_eq(rec.body, body, c[i].blen);
        ck_assert_uint_eq(s->mir.used, used);
    }
    ck_assert_uint_eq(s->mir.nonces, 3);
    ck_assert_uint_eq(store_test_mirror_misses(s), 3);
    store_close(s);
}
END_TEST

/* ---- huge pages for a big mirror (store_mirror.c, mir_map) ---- */

/* THPeligible of the mapping of /proc/self/smaps that holds addr: 0 or 1, -1 if none. */
static int thp_eligible(const void *addr)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512];
    int in = 0, r = -1;

    ck_assert_ptr_nonnull(f);
    while (r < 0 && fgets(line, sizeof line, f) != NULL) {
        unsigned long lo, hi;
        int v;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2)
            in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
        else if (in && sscanf(line, "THPeligible: %d", &v) == 1)
            r = v;
    }
    fclose(f);
    return r;
}

/* Whether the system grants huge pages to a mapping that asks (its "madvise" or "always"
 * mode), from /sys/kernel/mm/transparent_hugepage/enabled. */
static bool thp_on_request(void)
{
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    char mode[128] = "";

    if (f == NULL)
        return false;
    if (fgets(mode, sizeof mode, f) == NULL)
        mode[0] = 0;
    fclose(f);
    return strstr(mode, "[never]") == NULL && mode[0] != 0;
}

/* A big mirror's table and arena ask for huge pages (a get's two random reads then miss
 * no TLB), also when the arena grows past the bound by mremap; a small one's do not (a
 * huge page would be 2 MiB resident for a few KiB of hub). */
START_TEST(test_mirror_huge_pages)
{
    enum { N = 60000, LEN = 184 };
    static uint8_t clear[STORE_REC_CLEAR], pt[LEN];
    uint8_t key[2 * STORE_HASH_BYTES];
    store_mirror big = { 0 }, small = { 0 };
    bool on = thp_on_request();

    ck_assert_int_eq(store_mirror_alloc(&big, 1100000, (size_t)64 << 20, store_suite_default()), 0);
    ck_assert_int_eq(store_mirror_alloc(&small, 1000, (size_t)1 << 20, store_suite_default()), 0);
    ck_assert_int_eq(thp_eligible(big.slots), on);
    ck_assert_int_eq(thp_eligible(big.arena), on);
    ck_assert_int_eq(thp_eligible(small.slots), 0);
    ck_assert_int_eq(thp_eligible(small.arena), 0);
    for (uint64_t i = 1; i <= N; i++) { /* about 12 MiB of entries: the arena moves */
        randombytes_buf(key, sizeof key);
        store_put_u64(clear, i);
        store_put_u64(clear + 8, i);
        randombytes_buf(pt, LEN);
        store_mirror_put(&small, key, clear, pt, LEN);
    }
    ck_assert_uint_eq(small.count, N);
    ck_assert_uint_ge(small.cap, (size_t)8 << 20);
    ck_assert_int_eq(thp_eligible(small.arena), on);
    store_mirror_free(&big);
    store_mirror_free(&small);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("store_mirror");
    TCase *tc;

    tc = fixture_tcase("mirror", setup_disk, 60);
    tcase_add_loop_test(tc, test_mirror_model, 0, 3);
    tcase_add_test(tc, test_mirror_failed_batch);
    tcase_add_test(tc, test_mirror_staged);
    tcase_add_test(tc, test_mirror_write_keeps_neighbours);
    tcase_add_test(tc, test_get_ahead);
    tcase_add_test(tc, test_pipelined_commit);
    tcase_add_test(tc, test_pipelined_commit_lost);
    tcase_add_test(tc, test_pipelined_commit_lost_before_next_batch);
    tcase_add_test(tc, test_pipelined_commit_queued);
    tcase_add_loop_test(tc, test_pipelined_commit_queued_lost, 0, 2);
    tcase_add_loop_test(tc, test_mirror_values_exact, 0, 2);
    tcase_add_loop_test(tc, test_mirror_seal_ctr, 0, 2);
    tcase_add_test(tc, test_mirror_entry_size);
    tcase_add_loop_test(tc, test_mirror_build_serves, 0, 2);
    tcase_add_test(tc, test_mirror_build_stops_early);
    tcase_add_test(tc, test_mirror_build_lock);
    tcase_add_test(tc, test_mirror_memory);
    tcase_add_test(tc, test_mirror_huge_pages);
    suite_add_tcase(su, tc);
    return fixture_run(su);
}
