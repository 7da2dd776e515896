/*
 * tests/unit/test_store_records.c - the encrypted hub (daemon/store), records:
 * post/put/get/delete, getDb and getHub lists and their order, given created/modified
 * times.
 *
 * Shared fixture and helpers: store_fixture.h.
 */
#include <stdio.h>
#include <string.h>

#include "store_fixture.h"

START_TEST(test_ops)
{
    static uint8_t big[STORE_MAX_BODY + 1];
    store *s = new_hub();
    store_record rec;
    coll c = { 0 };
    bool b = false;

    store_test_set_now(1000);
    post_str(s, "smtp", "alice", "A1");
    ck_assert_int_eq(store_post(s, "smtp", "alice", (const uint8_t *)"A2", 2), SKR_EEXISTS);
    store_test_set_now(2000);
    ck_assert_int_eq(store_put(s, "smtp", "alice", (const uint8_t *)"A3", 2, &b), 0);
    ck_assert(!b);
    ck_assert_int_eq(store_get(s, "smtp", "alice", &rec), 0);
    ck_assert_int_eq(rec.created, 1000);
    ck_assert_int_eq(rec.modified, 2000);
    ck_assert_uint_eq(rec.protocol_len, 4);
    ck_assert_str_eq(rec.protocol, "smtp");
    ck_assert_mem_eq(rec.body, "A3", 2);
    ck_assert_int_eq(store_put(s, "s3", "alice", (const uint8_t *)"S", 1, &b), 0);
    ck_assert(b);
    ck_assert_int_eq(store_get(s, "s3", "alice", &rec), 0);
    ck_assert_int_eq(rec.created, 2000);
    ck_assert_int_eq(rec.modified, 2000);
    /* Without a protocol. */
    ck_assert_int_eq(store_get(s, NULL, "alice", &rec), SKR_EAMBIGUOUS);
    ck_assert_int_eq(store_get(s, NULL, "nobody", &rec), SKR_ENOT_FOUND);
    ck_assert_int_eq(store_get(s, "smtp", "nobody", &rec), SKR_ENOT_FOUND);
    ck_assert_int_eq(store_get(s, "none", "alice", &rec), SKR_ENOT_FOUND);
    post_str(s, "s3", "carol", "C");
    expect_body(s, NULL, "carol", "C");
    ck_assert_int_eq(store_get(s, NULL, "carol", &rec), 0);
    ck_assert_str_eq(rec.protocol, "s3");
    store_release(s);
    ck_assert_int_eq(store_delete(s, "s3", "alice", &b), 0);
    ck_assert(b);
    ck_assert_int_eq(store_delete(s, "s3", "alice", &b), 0);
    ck_assert(!b);
    ck_assert_int_eq(store_delete(s, "nope", "alice", &b), 0);
    ck_assert(!b);
    expect_body(s, NULL, "alice", "A3"); /* no longer ambiguous */
    /* Hub listing and a protocol disappearing with its last name. */
    ck_assert_int_eq(list_hub(s, &c), 0);
    ck_assert_uint_eq(c.begun, 2);
    ck_assert_uint_eq(c.n, 2);
    ck_assert_str_eq(c.str[0], "s3");
    ck_assert_uint_eq(c.count[0], 1);
    ck_assert_str_eq(c.str[1], "smtp");
    ck_assert_uint_eq(c.count[1], 1);
    ck_assert_int_eq(store_delete(s, "s3", "carol", &b), 0);
    ck_assert(b);
    ck_assert_int_eq(list_db(s, "s3", &c), SKR_ENOT_FOUND);
    ck_assert_uint_eq(c.n, 0);
    ck_assert_int_eq(list_hub(s, &c), 0);
    ck_assert_uint_eq(c.n, 1);
    ck_assert_str_eq(c.str[0], "smtp");
    /* Limits and arguments. */
    memset(big, 0xa5, sizeof big);
    ck_assert_int_eq(store_post(s, "p", "big", big, sizeof big), SKR_ETOO_LARGE);
    ck_assert_int_eq(store_post(s, "p", "big", big, sizeof big - 1), 0);
    ck_assert_int_eq(store_get(s, "p", "big", &rec), 0);
    ck_assert_uint_eq(rec.body_len, STORE_MAX_BODY);
    ck_assert_mem_eq(rec.body, big, STORE_MAX_BODY);
    store_release(s);
    ck_assert_int_eq(store_post(s, "p", "e", big, 0), SKR_EINVAL);
    ck_assert_int_eq(store_post(s, "", "e", big, 1), SKR_EINVAL);
    ck_assert_int_eq(store_post(s, "p", "", big, 1), SKR_EINVAL);
    ck_assert_int_eq(store_post(s, NULL, "e", big, 1), SKR_EINVAL);
    {
        char p65[66], n257[258];
        memset(p65, 'p', 65); p65[65] = '\0';
        memset(n257, 'n', 257); n257[257] = '\0';
        ck_assert_int_eq(store_post(s, p65, "e", big, 1), SKR_EINVAL);
        ck_assert_int_eq(store_post(s, "p", n257, big, 1), SKR_EINVAL);
        p65[64] = '\0';
        n257[256] = '\0';
        ck_assert_int_eq(store_post(s, p65, n257, big, 1), 0);
        expect_body(s, p65, n257, "\xa5");
    }
    coll_free(&c);
    store_close(s);
}
END_TEST

/* Import keeps the dates of the file: the times given are stored exactly; a replace
 * without `created` keeps the old one; out-of-range times are refused. */
START_TEST(test_times_given)
{
    store *s = new_hub();
    store_record rec;
    bool b = true;
    const uint8_t *body = (const uint8_t *)"B";

    store_test_set_now(5000);
    ck_assert_int_eq(store_post_at(s, "p", "a", body, 1, 0, STORE_TIME_MAX), 0);
    ck_assert_int_eq(store_get(s, "p", "a", &rec), 0);
    ck_assert_int_eq(rec.created, 0);
    ck_assert_int_eq(rec.modified, STORE_TIME_MAX);
    store_release(s);
    ck_assert_int_eq(store_post_at(s, "p", "a", body, 1, 1, 1), SKR_EEXISTS);
    /* A replace: modified given, created kept. */
    ck_assert_int_eq(store_put_at(s, "p", "a", body, 1, &b, STORE_TIME_NOW, 1700000000), 0);
    ck_assert(!b);
    ck_assert_int_eq(store_get(s, "p", "a", &rec), 0);
    ck_assert_int_eq(rec.created, 0);
    ck_assert_int_eq(rec.modified, 1700000000);
    store_release(s);
    /* Neither given: created kept, modified now. */
    ck_assert_int_eq(store_put_at(s, "p", "a", body, 1, &b, STORE_TIME_NOW, STORE_TIME_NOW), 0);
    ck_assert_int_eq(store_get(s, "p", "a", &rec), 0);
    ck_assert_int_eq(rec.created, 0);
    ck_assert_int_eq(rec.modified, 5000);
    store_release(s);
    /* created given on a replace. */
    ck_assert_int_eq(store_put_at(s, "p", "a", body, 1, &b, 1234567890, STORE_TIME_NOW), 0);
    ck_assert_int_eq(store_get(s, "p", "a", &rec), 0);
    ck_assert_int_eq(rec.created, 1234567890);
    ck_assert_int_eq(rec.modified, 5000);
    store_release(s);
    /* A new record by put, only created given. */
    ck_assert_int_eq(store_put_at(s, "p", "n", body, 1, &b, 42, STORE_TIME_NOW), 0);
    ck_assert(b);
    ck_assert_int_eq(store_get(s, "p", "n", &rec), 0);
    ck_assert_int_eq(rec.created, 42);
    ck_assert_int_eq(rec.modified, 5000);
    store_release(s);
    ck_assert_int_eq(store_post_at(s, "p", "r", body, 1, -1, 0), SKR_EINVAL);
    ck_assert_int_eq(store_post_at(s, "p", "r", body, 1, 0, STORE_TIME_MAX + 1), SKR_EINVAL);
    ck_assert_int_eq(store_put_at(s, "p", "a", body, 1, &b, INT64_MAX, 0), SKR_EINVAL);
    ck_assert_int_eq(store_get(s, "p", "r", &rec), SKR_ENOT_FOUND);
    ck_assert_int_eq(store_get(s, "p", "a", &rec), 0);
    ck_assert_int_eq(rec.created, 1234567890);
    store_release(s);
    store_close(s);
}
END_TEST

START_TEST(test_order)
{
    uint64_t np, nc;
    store *s = new_hub();
    coll c = { 0 };
    bool b;

    post_str(s, "x", "a", "1");
    post_str(s, "x", "b", "2");
    post_str(s, "y", "other", "o");
    post_str(s, "x", "c", "3");
    post_str(s, "x", "d", "4");
    ck_assert_int_eq(store_delete(s, "x", "b", &b), 0);
    post_str(s, "x", "b", "2'"); /* re-posted: goes last */
    ck_assert_int_eq(store_delete(s, "x", "a", &b), 0);
    ck_assert_int_eq(store_put(s, "x", "e", (const uint8_t *)"5", 1, &b), 0);
    ck_assert_int_eq(store_put(s, "x", "a", (const uint8_t *)"1'", 2, &b), 0);
    ck_assert(b);
    ck_assert_int_eq(store_put(s, "x", "d", (const uint8_t *)"4'", 2, &b), 0);
    ck_assert(!b); /* replaced: keeps its place */
    ck_assert_int_eq(store_delete(s, "x", "d", &b), 0);
    post_str(s, "x", "d", "4''");
    /* seq: a0 b1 other2 c3 d4, b re-posted 5, e 6, a re-put 7, d re-posted 8. */
    ck_assert_int_eq(list_db(s, "x", &c), 0);
    ck_assert_uint_eq(c.begun, 5);
    ck_assert_uint_eq(c.n, 5);
    ck_assert_str_eq(c.str[0], "c");
    ck_assert_str_eq(c.str[1], "b");
    ck_assert_str_eq(c.str[2], "e");
    ck_assert_str_eq(c.str[3], "a");
    ck_assert_str_eq(c.str[4], "d");
    /* A put that replaces keeps the place; reopen and check it survives. */
    ck_assert_int_eq(store_put(s, "x", "c", (const uint8_t *)"3'", 2, &b), 0);
    s = reopen(s);
    ck_assert_int_eq(list_db(s, "x", &c), 0);
    ck_assert_uint_eq(c.n, 5);
    ck_assert_str_eq(c.str[0], "c");
    ck_assert_str_eq(c.str[4], "d");
    expect_body(s, "x", "c", "3'");
    expect_body(s, "x", "d", "4''");
    ck_assert_int_eq(list_db(s, "y", &c), 0);
    ck_assert_uint_eq(c.n, 1);
    ck_assert_str_eq(c.str[0], "other");
    ck_assert_int_eq(store_stats(s, &np, &nc), 0);
    ck_assert_uint_eq(np, 2);
    ck_assert_uint_eq(nc, 6);
    coll_free(&c);
    store_close(s);
}
END_TEST

/* The protocol cache (store_proto_hash): two ways a set, the way used less recently
 * evicted. Three protocols of one set: two stay cached however often each is used, a
 * third evicts the one not used last, and every get still finds its own record. */
static void get_counting(store *s, const char *p, const char *body, uint64_t *misses,
                         bool miss)
{
    expect_body(s, p, "alice", body);
    *misses += miss;
    ck_assert_uint_eq(store_test_pcache_misses(s), *misses);
}

START_TEST(test_protocol_cache)
{
    char p[3][8];
    unsigned found = 0, set = store_test_pcache_set("q0");
    store *s = new_hub();

    for (unsigned i = 0; found < 3 && i < 100000; i++) {
        char q[8];
        snprintf(q, sizeof q, "q%u", i);
        if (store_test_pcache_set(q) == set)
            memcpy(p[found++], q, sizeof q);
    }
    ck_assert_uint_eq(found, 3);
    ck_assert_str_eq(p[0], "q0");
    for (unsigned i = 0; i < 3; i++)
        post_str(s, p[i], "alice", p[i]);
    s = reopen(s); /* an empty cache */
    mirror_finish(s);
    uint64_t m = store_test_pcache_misses(s);
    get_counting(s, p[0], p[0], &m, true);
    get_counting(s, p[1], p[1], &m, true);
    for (int round = 0; round < 3; round++) {
        get_counting(s, p[0], p[0], &m, false);
        get_counting(s, p[1], p[1], &m, false);
    }
    get_counting(s, p[2], p[2], &m, true);  /* evicts p[0], the one not used last */
    get_counting(s, p[1], p[1], &m, false);
    get_counting(s, p[0], p[0], &m, true);  /* evicts p[2] */
    get_counting(s, p[1], p[1], &m, false);
    get_counting(s, p[2], p[2], &m, true);  /* evicts p[0] */
    get_counting(s, p[2], p[2], &m, false);
    store_lock(s);                          /* wiped with the keys */
    ck_assert_int_eq(store_unlock(s, g_kek), 0);
    mirror_finish(s);
    m = store_test_pcache_misses(s);
    get_counting(s, p[2], p[2], &m, true);
    store_close(s);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("store_records");
    TCase *tc;

    tc = fixture_tcase("api", setup_disk, 30);
    tcase_add_test(tc, test_ops);
    tcase_add_test(tc, test_times_given);
    tcase_add_test(tc, test_order);
    tcase_add_test(tc, test_protocol_cache);
    suite_add_tcase(su, tc);
    return fixture_run(su);
}
