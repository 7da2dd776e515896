/*
 * tests/unit/test_store_scale.c - the encrypted hub (daemon/store), the store at size (on
 * /dev/shm): 100k records, 2000 protocols, map growth.
 *
 * Shared fixture and helpers: store_fixture.h.
 */
#include <stdio.h>
#include <string.h>

#include "store_fixture.h"

START_TEST(test_100k)
{
    enum { N = 100000, P = 7 };
    char name[32], body[48], proto[16];
    uint64_t np, nc;
    store_record rec;
    coll c = { 0 };
    size_t map0;
    store *s;

    store_test_set_mapsize(1 << 20); /* 1 MiB: the run must grow the map several times */
    s = new_hub();
    map0 = store_test_mapsize(s);
    for (int i = 0; i < N; i++) {
        snprintf(proto, sizeof proto, "proto%d", i % P);
        snprintf(name, sizeof name, "user-%07d@example.org", i);
        snprintf(body, sizeof body, "\x82\xa1u%07d\xa1p\xa9secret%03d", i, i % 1000);
        post_str(s, proto, name, body);
    }
    ck_assert_uint_gt(store_test_mapsize(s), 8 * map0);
    s = reopen(s);
    for (int i = 0; i < N; i++) {
        snprintf(proto, sizeof proto, "proto%d", i % P);
        snprintf(name, sizeof name, "user-%07d@example.org", i);
        snprintf(body, sizeof body, "\x82\xa1u%07d\xa1p\xa9secret%03d", i, i % 1000);
        ck_assert_int_eq(store_get(s, i % 2 ? proto : NULL, name, &rec), 0);
        ck_assert_uint_eq(rec.body_len, strlen(body));
        ck_assert_mem_eq(rec.body, body, rec.body_len);
        ck_assert_str_eq(rec.protocol, proto);
    }
    store_release(s);
    ck_assert_int_eq(store_stats(s, &np, &nc), 0);
    ck_assert_uint_eq(np, P);
    ck_assert_uint_eq(nc, N);
    ck_assert_int_eq(list_db(s, "proto3", &c), 0);
    ck_assert_uint_eq(c.n, N / P + (3 < N % P));
    for (size_t j = 0; j < c.n; j++) {
        snprintf(name, sizeof name, "user-%07zu@example.org", j * P + 3);
        ck_assert_str_eq(c.str[j], name);
    }
    ck_assert_int_eq(list_hub(s, &c), 0);
    ck_assert_uint_eq(c.n, P);
    for (int j = 0; j < P; j++)
        ck_assert_uint_eq(c.count[j], N / P + (j < N % P));
    coll_free(&c);
    store_close(s);
}
END_TEST

START_TEST(test_2000_protocols)
{
    enum { P = 2000 };
    char proto[32], prev[32] = "";
    store *s = new_hub();
    coll c = { 0 };
    bool b;

    for (int i = 0; i < P; i++) {
        snprintf(proto, sizeof proto, "p%d", (i * 7919) % P);
        for (int j = 0; j <= i % 3; j++) {
            char name[8] = { 'n', (char)('0' + j), 0 };
            post_str(s, proto, name, "b");
        }
    }
    ck_assert_int_eq(store_delete(s, "p0", "n0", &b), 0); /* p0 had 1 name: gone */
    ck_assert(b);
    ck_assert_int_eq(list_hub(s, &c), 0);
    ck_assert_uint_eq(c.begun, P - 1);
    ck_assert_uint_eq(c.n, P - 1);
    for (size_t k = 0; k < c.n; k++) {
        int num = atoi(c.str[k] + 1), i;
        ck_assert_int_lt(strcmp(prev, c.str[k]), 0); /* bytewise: p1 p10 p100 ... */
        snprintf(prev, sizeof prev, "%s", c.str[k]);
        for (i = 0; i < P && (i * 7919) % P != num; i++)
            ;
        ck_assert_uint_eq(c.count[k], (uint64_t)(i % 3 + 1));
    }
    ck_assert_str_eq(c.str[0], "p1");
    ck_assert_str_eq(c.str[1], "p10");
    coll_free(&c);
    store_close(s);
}
END_TEST

START_TEST(test_map_growth)
{
    static uint8_t body[STORE_MAX_BODY];
    char name[16];
    store_record rec;
    size_t m0;
    store *s;

    store_test_set_mapsize(64 << 10); /* 64 KiB: the first big write already overflows */
    s = new_hub();
    m0 = store_test_mapsize(s);
    for (int i = 0; i < 64; i++) {
        snprintf(name, sizeof name, "big%d", i);
        memset(body, i, sizeof body);
        ck_assert_int_eq(store_post(s, "p", name, body, sizeof body), 0);
    }
    ck_assert_uint_ge(store_test_mapsize(s), 64 * sizeof body);
    ck_assert_uint_gt(store_test_mapsize(s), m0);
    for (int i = 0; i < 64; i++) {
        snprintf(name, sizeof name, "big%d", i);
        ck_assert_msg(store_get(s, "p", name, &rec) == 0, "before rotate %d", i);
    }
    ck_assert_int_eq(store_rotate(s, NULL), 0);
    for (int i = 0; i < 64; i++) {
        snprintf(name, sizeof name, "big%d", i);
        ck_assert_msg(store_get(s, "p", name, &rec) == 0, "after rotate %d", i);
    } /* rotate copies every page: grows again */
    s = reopen(s);
    for (int i = 0; i < 64; i++) {
        snprintf(name, sizeof name, "big%d", i);
        memset(body, i, sizeof body);
        ck_assert_int_eq(store_get(s, "p", name, &rec), 0);
        ck_assert_uint_eq(rec.body_len, sizeof body);
        ck_assert_mem_eq(rec.body, body, sizeof body);
    }
    store_release(s);
    store_close(s);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("store_scale");
    TCase *tc;

    tc = fixture_tcase("scale", setup_shm, 120);
    tcase_add_test(tc, test_100k);
    tcase_add_test(tc, test_2000_protocols);
    tcase_add_test(tc, test_map_growth);
    suite_add_tcase(su, tc);
    return fixture_run(su);
}
