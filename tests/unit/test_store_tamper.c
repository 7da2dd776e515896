/*
 * tests/unit/test_store_tamper.c - the encrypted hub (daemon/store), integrity against an
 * attacker with the hub files: swapped and flipped values, a crafted huge value, a rolled-
 * back record, and no plaintext in any hub file.
 *
 * Shared fixture and helpers: store_fixture.h.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_fixture.h"

START_TEST(test_tamper_swap)
{
    uint8_t ka[32], kb[32];
    store_record rec;
    MDB_val k, v;
    kv d = { 0 };
    raw r;
    store *s = new_hub();
    coll c = { 0 };

    post_str(s, "x", "a", "body-a");
    post_str(s, "x", "b", "body-b");
    post_str(s, "x", "c", "body-c");
    rec_key(s, "x", "a", ka);
    rec_key(s, "x", "b", kb);
    store_close(s);
    /* Swap the values of a and b: each is a valid ciphertext, in the wrong slot. */
    raw_open(&r, "rec");
    raw_dump(&r, &d);
    ck_assert_uint_eq(d.n, 3);
    MDB_val va = { 0 }, vb = { 0 };
    for (size_t i = 0; i < d.n; i++) {
        if (memcmp(d.k[i].mv_data, ka, 32) == 0) va = d.v[i];
        if (memcmp(d.k[i].mv_data, kb, 32) == 0) vb = d.v[i];
    }
    ck_assert_ptr_nonnull(va.mv_data);
    ck_assert_ptr_nonnull(vb.mv_data);
    k = (MDB_val){ 32, ka };
    raw_put(&r, &k, &vb);
    k = (MDB_val){ 32, kb };
    raw_put(&r, &k, &va);
    raw_close(&r);
    kv_free(&d);
    s = open_hub();
    ck_assert_int_eq(store_unlock(s, g_kek), 0);
    ck_assert_int_eq(store_get(s, "x", "a", &rec), SKR_EINTEGRITY);
    ck_assert_int_eq(store_get(s, NULL, "b", &rec), SKR_EINTEGRITY);
    expect_body(s, "x", "c", "body-c");
    ck_assert_int_eq(list_db(s, "x", &c), 0); /* the listing never opens a body */
    ck_assert_uint_eq(c.n, 3);
    /* Swap two ord values too: the listing refuses instead of lying. */
    store_close(s);
    raw_open(&r, "ord");
    raw_dump(&r, &d);
    ck_assert_uint_eq(d.n, 3);
    raw_put(&r, &d.k[0], &d.v[1]);
    raw_close(&r);
    kv_free(&d);
    s = open_hub();
    ck_assert_int_eq(store_unlock(s, g_kek), 0);
    ck_assert_int_eq(list_db(s, "x", &c), SKR_EINTEGRITY);
    ck_assert_uint_eq(c.begun, 0);
    expect_body(s, "x", "c", "body-c");
    (void)v;
    coll_free(&c);
    store_close(s);
}
END_TEST

START_TEST(test_tamper_flip)
{
    enum { N = 20 };
    char name[16], body[16];
    uint8_t kt[32];
    store_record rec;
    kv d = { 0 };
    raw r;
    store *s = new_hub();
    coll c = { 0 };
    bool b;
    int hit = 0;

    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "n%d", i);
        snprintf(body, sizeof body, "body%d", i);
        post_str(s, "x", name, body);
    }
    rec_key(s, "x", "n7", kt);
    store_close(s);
    raw_open(&r, "rec");
    raw_dump(&r, &d);
    ck_assert_uint_eq(d.n, N);
    for (size_t i = 0; i < d.n; i++) {
        if (memcmp(d.k[i].mv_data, kt, 32) != 0)
            continue;
        ((uint8_t *)d.v[i].mv_data)[d.v[i].mv_size / 2] ^= 0x01;
        raw_put(&r, &d.k[i], &d.v[i]);
        hit++;
    }
    ck_assert_int_eq(hit, 1);
    raw_close(&r);
    kv_free(&d);
    s = open_hub();
    ck_assert_int_eq(store_unlock(s, g_kek), 0);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "n%d", i);
        snprintf(body, sizeof body, "body%d", i);
        if (i == 7) {
            ck_assert_int_eq(store_get(s, "x", name, &rec), SKR_EINTEGRITY);
            ck_assert_int_eq(store_get(s, NULL, name, &rec), SKR_EINTEGRITY);
        } else {
            expect_body(s, "x", name, body);
        }
    }
    ck_assert_int_eq(list_db(s, "x", &c), 0);
    ck_assert_uint_eq(c.n, N);
    ck_assert_int_eq(store_put(s, "x", "n7", (const uint8_t *)"z", 1, &b), SKR_EINTEGRITY);
    ck_assert_int_eq(store_rotate(s, NULL), SKR_EINTEGRITY);
    expect_body(s, "x", "n8", "body8");
    /* Delete clears the corrupt record; the name can then be posted again. */
    ck_assert_int_eq(store_delete(s, "x", "n7", &b), 0);
    ck_assert(b);
    post_str(s, "x", "n7", "fresh");
    expect_body(s, "x", "n7", "fresh");
    ck_assert_int_eq(list_db(s, "x", &c), 0);
    ck_assert_uint_eq(c.n, N);
    ck_assert_str_eq(c.str[N - 1], "n7");
    coll_free(&c);
    store_close(s);
}
END_TEST

/* A record value far larger than any the store writes (a crafted hub): unlock copies the
 * hub into memory and must neither overrun nor keep it; the get reports integrity. */
START_TEST(test_tamper_huge)
{
    const size_t huge = (size_t)3 << 20; /* needs four LEB128 bytes */
    uint8_t ka[32];
    store_record rec;
    raw r;
    store *s = new_hub();

    post_str(s, "x", "a", "body-a");
    post_str(s, "x", "b", "body-b");
    rec_key(s, "x", "a", ka);
    store_close(s);
    raw_open(&r, "rec");
    MDB_val k = { 32, ka }, v = { huge, calloc(1, huge) };
    ck_assert_ptr_nonnull(v.mv_data);
    raw_put(&r, &k, &v);
    raw_close(&r);
    free(v.mv_data);
    s = open_hub();
    ck_assert_int_eq(store_unlock(s, g_kek), 0);
    mirror_finish(s);
    ck_assert_uint_eq(store_test_mirror_count(s), 1); /* b only */
    ck_assert_int_eq(store_get(s, "x", "a", &rec), SKR_EINTEGRITY);
    expect_body(s, "x", "b", "body-b");
    store_close(s);
}
END_TEST

static bool mem_has(const uint8_t *hay, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    return n >= m && memmem(hay, n, needle, m) != NULL;
}

/* How many (marker or its hex) occurrences in the hub folder's files. */
static int count_markers(const char *dir, const char *const *markers, size_t nm)
{
    static uint8_t buf[64 << 20];
    const char *files[] = { "data.mdb", "lock.mdb" };
    char path[400], hex[256], HEX[256];
    int hits = 0;

    for (size_t f = 0; f < 2; f++) {
        ck_assert_int_lt(snprintf(path, sizeof path, "%s/%s", dir, files[f]), (int)sizeof path);
        int fd = open(path, O_RDONLY);
        ck_assert_int_ge(fd, 0);
        ssize_t n = read(fd, buf, sizeof buf);
        ck_assert_int_gt(n, 0);
        ck_assert_int_lt(n, (ssize_t)sizeof buf);
        close(fd);
        for (size_t i = 0; i < nm; i++) {
            sodium_bin2hex(hex, sizeof hex, (const uint8_t *)markers[i], strlen(markers[i]));
            for (size_t j = 0; hex[j]; j++)
                HEX[j] = (char)(hex[j] >= 'a' ? hex[j] - 32 : hex[j]);
            HEX[strlen(hex)] = '\0';
            hits += mem_has(buf, (size_t)n, markers[i]) + mem_has(buf, (size_t)n, hex) +
                    mem_has(buf, (size_t)n, HEX);
        }
    }
    return hits;
}

START_TEST(test_no_plaintext)
{
    const char *markers[] = { "MkProtoQz81", "mk-name-Jw27", "MK-BODY-vX93", "MkProtoGone",
                              "mk-name-gone", "MK-BODY-OLD" };
    char dummy[40];
    store *s = new_hub();
    bool b;

    post_str(s, markers[0], markers[1], markers[2]);
    post_str(s, markers[3], markers[4], "x");
    post_str(s, markers[0], "n2", markers[5]);
    ck_assert_int_eq(store_put(s, markers[0], "n2", (const uint8_t *)"new", 3, &b), 0);
    ck_assert_int_eq(store_delete(s, markers[3], markers[4], &b), 0);
    for (int i = 0; i < 200; i++) { /* pages get reused and freed */
        snprintf(dummy, sizeof dummy, "filler-%d", i);
        post_str(s, "fill", dummy, dummy);
    }
    /* The same through the journal: a batch is in no other file until a checkpoint. */
    ck_assert_int_eq(store_batch_begin(s), 0);
    post_str(s, markers[0], "in-journal", markers[2]);
    ck_assert_int_eq(store_batch_commit(s), 0);
    {
        char path[400];
        struct stat st;
        snprintf(path, sizeof path, "%s/journal", g_hub);
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_int_gt(st.st_size, 4096); /* the scan below covers a real record */
    }
    ck_assert_int_eq(count_markers(g_hub, markers, 6), 0);
    store_close(s);
    ck_assert_int_eq(count_markers(g_hub, markers, 6), 0);
    /* Positive control: the same scan finds a marker planted in clear, and its hex. */
    {
        char path[400];
        snprintf(path, sizeof path, "%s/extra", g_tmp);
        mkdir(path, 0700);
        snprintf(path, sizeof path, "%s/extra/data.mdb", g_tmp);
        write_file(path, "..MK-BODY-vX93..4d6b50726f746f517a3831", 39, 0600);
        snprintf(path, sizeof path, "%s/extra/lock.mdb", g_tmp);
        write_file(path, "x", 1, 0600);
        snprintf(path, sizeof path, "%s/extra", g_tmp);
        ck_assert_int_eq(count_markers(path, markers, 6), 2);
    }
}
END_TEST

/* A replace keeps seq, so an earlier value of the same record still matches its own AD:
 * the version in the ord entry is what tells it apart. */
START_TEST(test_rollback)
{
    uint8_t ka[32], oka[24];
    MDB_val rec1, rec2, ord1, ord2;
    store_record rec;
    coll c = { 0 };
    bool b;
    store *s = new_hub();

    post_str(s, "x", "a", "old-a");
    post_str(s, "x", "b", "body-b");
    post_str(s, "y", "c", "body-c");
    rec_key(s, "x", "a", ka);
    store_close(s);
    raw_get("rec", ka, 32, &rec1);
    memcpy(oka, ka, 16);
    memcpy(oka + 16, rec1.mv_data, 8);
    raw_get("ord", oka, 24, &ord1);
    s = open_unlocked();
    ck_assert_int_eq(store_put(s, "x", "a", (const uint8_t *)"new-a", 5, &b), 0);
    store_close(s);
    raw_get("rec", ka, 32, &rec2);
    raw_get("ord", oka, 24, &ord2);
    ck_assert_mem_eq(rec1.mv_data, rec2.mv_data, 8); /* same seq */
    ck_assert_mem_ne((uint8_t *)rec1.mv_data + 8, (uint8_t *)rec2.mv_data + 8, 8);

    /* The older rec value put back: a, with or without protocol, fails; the rest is
     * served; a put does not paper over it; delete clears it. */
    raw_set("rec", ka, 32, &rec1);
    s = open_unlocked();
    /* while the mirror builds, gets read LMDB: the ord check there catches it too */
    ck_assert(store_mirror_building(s));
    ck_assert_int_eq(store_get(s, "x", "a", &rec), SKR_EINTEGRITY);
    ck_assert_int_eq(store_get(s, NULL, "a", &rec), SKR_EINTEGRITY);
    mirror_finish(s);
    ck_assert_uint_eq(store_test_mirror_count(s), 2); /* the mirror did not take it */
    ck_assert_int_eq(store_get(s, "x", "a", &rec), SKR_EINTEGRITY);
    ck_assert_str_eq(store_errmsg(s),
                     "record is not its latest version (an earlier value was put back)");
    ck_assert_int_eq(store_get(s, NULL, "a", &rec), SKR_EINTEGRITY);
    expect_body(s, "x", "b", "body-b");
    expect_body(s, NULL, "c", "body-c");
    ck_assert_int_eq(list_db(s, "x", &c), 0);
    ck_assert_uint_eq(c.n, 2);
    ck_assert_int_eq(store_put(s, "x", "a", (const uint8_t *)"z", 1, &b), SKR_EINTEGRITY);
    store_close(s);

    /* The current rec value with the older ord value: the same. */
    raw_set("rec", ka, 32, &rec2);
    raw_set("ord", oka, 24, &ord1);
    s = open_unlocked();
    ck_assert_int_eq(store_get(s, "x", "a", &rec), SKR_EINTEGRITY);
    ck_assert_int_eq(store_get(s, NULL, "a", &rec), SKR_EINTEGRITY);
    expect_body(s, "x", "b", "body-b");
    /* the built mirror did not take it, so a put reads LMDB, asks ord and is refused (a
     * put of a record the mirror holds takes the mirror's value, which is current) */
    mirror_finish(s);
    ck_assert_int_eq(store_put(s, "x", "a", (const uint8_t *)"z", 1, &b), SKR_EINTEGRITY);
    ck_assert_int_eq(store_put(s, "x", "b", (const uint8_t *)"b2", 2, &b), 0);
    expect_body(s, "x", "b", "b2");
    store_close(s);

    /* The limit (SECURITY.md): both put back together are an older, consistent state. */
    raw_set("rec", ka, 32, &rec1);
    s = open_unlocked();
    expect_body(s, "x", "a", "old-a");
    store_close(s);

    /* A rolled-back record is cleared by a delete, like a corrupt one. */
    raw_set("ord", oka, 24, &ord2);
    s = open_unlocked();
    ck_assert_int_eq(store_get(s, "x", "a", &rec), SKR_EINTEGRITY);
    ck_assert_int_eq(store_delete(s, "x", "a", &b), 0);
    ck_assert(b);
    post_str(s, "x", "a", "fresh-a");
    s = reopen(s);
    expect_body(s, "x", "a", "fresh-a");
    store_close(s);
    coll_free(&c);
    free(rec1.mv_data);
    free(rec2.mv_data);
    free(ord1.mv_data);
    free(ord2.mv_data);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("store_tamper");
    TCase *tc;

    tc = fixture_tcase("tamper", setup_disk, 30);
    tcase_add_test(tc, test_tamper_swap);
    tcase_add_test(tc, test_tamper_flip);
    tcase_add_test(tc, test_tamper_huge);
    tcase_add_test(tc, test_rollback);
    tcase_add_test(tc, test_no_plaintext);
    suite_add_tcase(su, tc);
    return fixture_run(su);
}
