/*
 * tests/unit/test_store_rotate.c - the encrypted hub (daemon/store), the data key: rewrap
 * under a new KEK, rotate to a new data key, lock wipes it.
 *
 * Shared fixture and helpers: store_fixture.h.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_fixture.h"

START_TEST(test_rewrap)
{
    uint8_t kek2[32], kek3[32], bad[32];
    store_kdf kdf2, kdf3, got;
    store *s = new_hub();

    post_str(s, "p", "n", "body");
    fast_kek("new passphrase", &kdf2, kek2);
    memcpy(bad, g_kek, 32);
    bad[0] ^= 0x80;
    ck_assert_int_eq(store_rewrap(s, bad, &kdf2, kek2), SKR_EBAD_PASSPHRASE);
    ck_assert_int_eq(store_rewrap(s, g_kek, &kdf2, kek2), 0);
    ck_assert(store_is_unlocked(s));
    expect_body(s, "p", "n", "body");
    ck_assert_int_eq(store_get_kdf(s, &got), 0);
    ck_assert_mem_eq(got.salt, kdf2.salt, STORE_SALT_BYTES);
    store_close(s);
    s = open_hub();
    ck_assert_int_eq(store_unlock(s, g_kek), SKR_EBAD_PASSPHRASE);
    ck_assert_int_eq(store_unlock(s, kek2), 0);
    expect_body(s, "p", "n", "body");
    /* Locked rewrap to a keyfile KDF. */
    store_lock(s);
    ck_assert_int_eq(store_kdf_new(&kdf3, STORE_KDF_KEYFILE, 0, 0), 0);
    memset(bad, 0x33, 32);
    ck_assert_int_eq(store_kdf_derive(&kdf3, bad, 32, kek3), 0);
    ck_assert_int_eq(store_rewrap(s, kek2, &kdf3, kek3), 0);
    ck_assert(!store_is_unlocked(s));
    ck_assert_int_eq(store_unlock(s, kek2), SKR_EBAD_PASSPHRASE);
    ck_assert_int_eq(store_unlock(s, kek3), 0);
    expect_body(s, "p", "n", "body");
    /* Rotate after a rewrap uses the new KEK: the hub still opens with it. */
    ck_assert_int_eq(store_rotate(s, NULL), 0);
    store_close(s);
    s = open_hub();
    ck_assert_int_eq(store_get_kdf(s, &got), 0);
    ck_assert_int_eq(got.kind, STORE_KDF_KEYFILE);
    ck_assert_int_eq(store_unlock(s, kek3), 0);
    expect_body(s, "p", "n", "body");
    store_close(s);
}
END_TEST

START_TEST(test_rotate)
{
    enum { N = 50 };
    uint8_t old_dk[32], new_dk[32], ad[STORE_AD_MAX], pt[256];
    _Alignas(16) uint8_t old_keys[STORE_K_TOTAL], new_keys[STORE_K_TOTAL];
    char name[16], body[32];
    kv before = { 0 }, after = { 0 };
    uint64_t n = 0;
    size_t adlen, ptlen;
    raw r;
    store *s = new_hub();
    int suite = store_test_suite(s);

    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "n%d", i);
        snprintf(body, sizeof body, "rotate-body-%d", i);
        post_str(s, i % 3 ? "a" : "b", name, body);
    }
    get_key(s, 0, old_dk);
    store_close(s);
    raw_open(&r, "rec");
    raw_dump(&r, &before);
    raw_close(&r);
    s = open_hub();
    ck_assert_int_eq(store_unlock(s, g_kek), 0);
    /* A batch leaves a record sealed under the old key in the journal... */
    ck_assert_int_eq(store_batch_begin(s), 0);
    post_str(s, "b", "in-journal", "old-key-body");
    ck_assert_int_eq(store_batch_commit(s), 0);
    ck_assert_int_eq(store_delete(s, "b", "in-journal", NULL), 0);
    ck_assert_int_eq(store_rotate(s, &n), 0);
    ck_assert_uint_eq(n, N);
    { /* ...which rotate drops: only the header is left */
        char path[400];
        struct stat st;
        snprintf(path, sizeof path, "%s/journal", g_hub);
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_int_lt(st.st_size, 4096);
    }
    get_key(s, 0, new_dk);
    ck_assert_mem_ne(old_dk, new_dk, 32);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "n%d", i);
        snprintf(body, sizeof body, "rotate-body-%d", i);
        expect_body(s, i % 3 ? "a" : "b", name, body);
    }
    s = reopen(s); /* the new data key was wrapped under the same KEK */
    expect_body(s, "a", "n1", "rotate-body-1");
    store_close(s);
    check_all_classes(suite, N, 2); /* rotate keeps format 2 and each value's class */
    raw_open(&r, "rec");
    raw_dump(&r, &after);
    raw_close(&r);
    ck_assert_uint_eq(after.n, N);
    /* Key buffers as the store uses them: the data key, then what the suite derives. */
    memcpy(old_keys + STORE_K_DATA, old_dk, 32);
    store_keys_derive(old_keys, suite);
    memcpy(new_keys + STORE_K_DATA, new_dk, 32);
    store_keys_derive(new_keys, suite);
    for (size_t i = 0; i < N; i++) {
        MDB_val *v = &after.v[i];
        ck_assert_mem_eq(before.k[i].mv_data, after.k[i].mv_data, 32);
        ck_assert_uint_eq(before.v[i].mv_size, v->mv_size);
        ck_assert_mem_ne(before.v[i].mv_data, v->mv_data, v->mv_size);
        adlen = store_ad(ad, STORE_AD_REC, &after.k[i], v->mv_data, STORE_REC_CLEAR);
        ck_assert_int_eq(store_unseal_s(suite, old_keys, ad, adlen,
                                        (uint8_t *)v->mv_data + STORE_REC_CLEAR,
                                        v->mv_size - STORE_REC_CLEAR, pt, sizeof pt, &ptlen),
                         SKR_EINTEGRITY);
        ck_assert_int_eq(store_unseal_s(suite, new_keys, ad, adlen,
                                        (uint8_t *)v->mv_data + STORE_REC_CLEAR,
                                        v->mv_size - STORE_REC_CLEAR, pt, sizeof pt, &ptlen), 0);
        /* and the old ciphertext opened with the old key (the control) */
        v = &before.v[i];
        ck_assert_int_eq(store_unseal_s(suite, old_keys, ad, adlen,
                                        (uint8_t *)v->mv_data + STORE_REC_CLEAR,
                                        v->mv_size - STORE_REC_CLEAR, pt, sizeof pt, &ptlen), 0);
    }
    kv_free(&before);
    kv_free(&after);
    sodium_memzero(old_keys, sizeof old_keys);
    sodium_memzero(new_keys, sizeof new_keys);
}
END_TEST

/*
 * Scans every readable mapping of this process (/proc/self/mem) for key ^ mask ^ mask,
 * computed byte by byte so that the pattern itself is never in memory.
 */
static bool memory_holds_key(const uint8_t masked[32], const uint8_t mask[32])
{
    const size_t chunk = 1 << 20;
    uint8_t *buf = mmap(NULL, chunk + 32, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    FILE *maps = fopen("/proc/self/maps", "r");
    int fd = open("/proc/self/mem", O_RDONLY);
    unsigned long lo, hi;
    char perms[8], line[512];
    bool found = false;

    ck_assert(buf != MAP_FAILED && maps != NULL && fd >= 0);
    while (!found && fgets(line, sizeof line, maps) != NULL) {
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3 || perms[0] != 'r' ||
            strstr(line, "[vvar]") || strstr(line, "[vsyscall]") || hi - lo > (256ul << 20) ||
            (lo <= (unsigned long)buf && (unsigned long)buf < hi))
            continue;
        for (unsigned long at = lo; !found && at < hi; at += chunk) {
            size_t want = hi - at < chunk + 31 ? hi - at : chunk + 31;
            ssize_t n = pread(fd, buf, want, (off_t)at);
            for (ssize_t i = 0; i + 32 <= n && !found; i++) {
                int j = 0;
                while (j < 32 && buf[i + j] == (uint8_t)(masked[j] ^ mask[j]))
                    j++;
                found = j == 32;
            }
        }
    }
    sodium_memzero(buf, chunk + 32); /* it may hold the key after a positive scan */
    munmap(buf, chunk + 32);
    fclose(maps);
    close(fd);
    return found;
}

START_TEST(test_lock_wipes)
{
    uint8_t mask[32], mdata[32], mindex[32];
    store_record rec;
    store *s = new_hub();

    post_str(s, "p", "n", "body");
    expect_body(s, "p", "n", "body");
    randombytes_buf(mask, sizeof mask);
    ck_assert_int_eq(store_test_key_masked(s, 0, mask, mdata), 0);
    ck_assert_int_eq(store_test_key_masked(s, 1, mask, mindex), 0);
    /* Control: while unlocked the scan finds both keys. */
    ck_assert(memory_holds_key(mdata, mask));
    ck_assert(memory_holds_key(mindex, mask));
    store_lock(s);
    ck_assert_int_eq(store_test_key_masked(s, 0, mask, mdata), SKR_ELOCKED);
    ck_assert(!memory_holds_key(mdata, mask));
    ck_assert(!memory_holds_key(mindex, mask));
    ck_assert_int_eq(store_get(s, "p", "n", &rec), SKR_ELOCKED);
    /* Unlock, rotate, close: no key of either generation stays. */
    ck_assert_int_eq(store_unlock(s, g_kek), 0);
    ck_assert_int_eq(store_rotate(s, NULL), 0);
    store_close(s);
    ck_assert(!memory_holds_key(mdata, mask));
    ck_assert(!memory_holds_key(mindex, mask));
}
END_TEST

int main(void)
{
    Suite *su = suite_create("store_rotate");
    TCase *tc;

    tc = fixture_tcase("keys", setup_disk, 30);
    tcase_add_test(tc, test_rewrap);
    tcase_add_test(tc, test_rotate);
    tcase_add_test(tc, test_lock_wipes);
    suite_add_tcase(su, tc);
    return fixture_run(su);
}
