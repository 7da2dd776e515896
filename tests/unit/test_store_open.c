/*
 * tests/unit/test_store_open.c - the encrypted hub (daemon/store), open, key and lock a
 * hub: the KDF, the folder and file modes, keyfiles, init and unlock, the default hub
 * folder.
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

START_TEST(test_kdf)
{
    store_kdf k, k2;
    uint8_t a[32], b[32];

    ck_assert_int_eq(store_kdf_new(&k, STORE_KDF_ARGON2ID, 0, 0), 0);
    ck_assert_uint_eq(k.opslimit, STORE_OPSLIMIT_DEFAULT);
    ck_assert_uint_eq(k.memlimit, STORE_MEMLIMIT_DEFAULT);
    ck_assert_int_eq(store_kdf_new(&k2, STORE_KDF_ARGON2ID, 0, 0), 0);
    ck_assert_mem_ne(k.salt, k2.salt, STORE_SALT_BYTES);
    ck_assert_int_eq(store_kdf_new(&k, STORE_KDF_ARGON2ID,
                                   (uint64_t)crypto_pwhash_OPSLIMIT_MAX + 1, 0), SKR_EINVAL);
    ck_assert_int_eq(store_kdf_new(&k, STORE_KDF_ARGON2ID, 1, 1024), SKR_EINVAL);
    ck_assert_int_eq(store_kdf_new(&k, (store_kdf_kind)7, 0, 0), SKR_EINVAL);
    ck_assert_int_eq(store_kdf_new(&k, STORE_KDF_KEYFILE, 0, 0), 0);
    ck_assert_int_eq(store_kdf_derive(&k, (const uint8_t *)"short", 5, a), SKR_EINVAL);
    memset(b, 7, sizeof b);
    ck_assert_int_eq(store_kdf_derive(&k, b, 32, a), 0);
    k2 = k;
    k2.salt[0] ^= 1; /* the salt personalises the keyfile hash */
    ck_assert_int_eq(store_kdf_derive(&k2, b, 32, b), 0);
    ck_assert_mem_ne(a, b, 32);
    fast_kek("x", &k, a);
    ck_assert_int_eq(store_kdf_derive(&k, (const uint8_t *)"x", 1, b), 0);
    ck_assert_mem_eq(a, b, 32);
    ck_assert_int_eq(store_kdf_derive(&k, (const uint8_t *)"y", 1, b), 0);
    ck_assert_mem_ne(a, b, 32);
}
END_TEST

START_TEST(test_open_layout)
{
    char path[400];
    struct stat st;
    store *s;

    umask(0); /* the modes must not depend on the caller's umask */
    s = open_hub();
    ck_assert_int_eq(stat(g_hub, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0700);
    snprintf(path, sizeof path, "%s/a", g_tmp);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0700);
    snprintf(path, sizeof path, "%s/data.mdb", g_hub);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    snprintf(path, sizeof path, "%s/lock.mdb", g_hub);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    ck_assert(!store_is_initialized(s));
    ck_assert(!store_is_unlocked(s));
    store_close(s);
    store_close(NULL);
}
END_TEST

START_TEST(test_open_denied)
{
    char err[STORE_ERRMSG_MAX], path[400];
    store *s = NULL;

    store_close(open_hub());
    ck_assert_int_eq(chmod(g_hub, 0755), 0);
    ck_assert_int_eq(store_open(g_hub, &s, err), SKR_EDENIED);
    ck_assert_ptr_null(s);
    ck_assert_ptr_nonnull(strstr(err, "0755"));
    ck_assert_ptr_null(strchr(err, '\n'));
    ck_assert_int_eq(chmod(g_hub, 0700), 0);
    snprintf(path, sizeof path, "%s/data.mdb", g_hub);
    expect_file_mode_refused(path, 0644, "data.mdb");
    /* A file where the folder should be. */
    snprintf(path, sizeof path, "%s/plain", g_tmp);
    close(open(path, O_CREAT | O_WRONLY, 0600));
    s = NULL;
    ck_assert_int_eq(store_open(path, &s, err), SKR_EDENIED); /* refused: sekretsd exit 3 */
    ck_assert_ptr_nonnull(strstr(err, "not a folder"));
    ck_assert_ptr_null(s);
}
END_TEST

/* A journal that is not a regular file (a FIFO of ours, 0600: the folder's owner and
 * mode checks pass it) is refused once open, before anything is read from it. */
START_TEST(test_open_journal_not_regular)
{
    char err[STORE_ERRMSG_MAX], path[400];
    store *s = NULL;

    store_close(open_hub());
    snprintf(path, sizeof path, "%s/journal", g_hub);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    ck_assert_int_eq(store_open(g_hub, &s, err), SKR_EINVAL);
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(err, "/journal: not a regular file") != NULL, "%s", err);
}
END_TEST

START_TEST(test_keyfile)
{
    char path[400], err[STORE_ERRMSG_MAX];
    uint8_t data[40], *content = NULL, kek[32];
    store_kdf kdf;
    size_t len = 0;
    store *s;

    randombytes_buf(data, sizeof data);
    snprintf(path, sizeof path, "%s/key", g_tmp);
    write_file(path, data, sizeof data, 0644);
    ck_assert_int_eq(store_keyfile_read(path, &content, &len, err), SKR_EDENIED);
    ck_assert_ptr_null(content);
    ck_assert_ptr_nonnull(strstr(err, path));
    write_file(path, data, 31, 0600);
    ck_assert_int_eq(store_keyfile_read(path, &content, &len, err), SKR_EINVAL);
    ck_assert_ptr_null(content);
    {
        static uint8_t big[STORE_KEYFILE_MAX + 1];
        write_file(path, big, sizeof big, 0600); /* over 64 KiB */
        ck_assert_int_eq(store_keyfile_read(path, &content, &len, err), SKR_EINVAL);
        ck_assert_ptr_null(content);
        write_file(path, big, STORE_KEYFILE_MAX, 0600);
        ck_assert_int_eq(store_keyfile_read(path, &content, &len, err), 0);
        ck_assert_uint_eq(len, STORE_KEYFILE_MAX);
        store_secret_free(content, len);
        content = NULL;
    }
    snprintf(path, sizeof path, "%s/none", g_tmp);
    ck_assert_int_eq(store_keyfile_read(path, &content, &len, err), SKR_ENOT_FOUND);
    ck_assert_int_eq(store_keyfile_read(g_tmp, &content, &len, err), SKR_EINVAL);
    snprintf(path, sizeof path, "%s/key", g_tmp);
    write_file(path, data, sizeof data, 0400);
    ck_assert_int_eq(store_keyfile_read(path, &content, &len, err), 0);
    ck_assert_uint_eq(len, sizeof data);
    ck_assert_mem_eq(content, data, len);
    /* A hub opened with the keyfile. */
    ck_assert_int_eq(store_kdf_new(&kdf, STORE_KDF_KEYFILE, 0, 0), 0);
    ck_assert_int_eq(store_kdf_derive(&kdf, content, len, kek), 0);
    store_secret_free(content, len);
    s = open_hub();
    ck_assert_int_eq(store_init(s, &kdf, kek), 0);
    post_str(s, "ftp", "bob", "b");
    store_close(s);
    s = open_hub();
    ck_assert_int_eq(store_unlock(s, kek), 0);
    expect_body(s, "ftp", "bob", "b");
    store_close(s);
}
END_TEST

START_TEST(test_init_unlock)
{
    store_record rec;
    uint8_t bad[32];
    store_kdf got;
    store *s = open_hub();
    uint64_t np = 9, nc = 9;
    bool b;

    fast_kek("pw", &g_kdf, g_kek);
    ck_assert_int_eq(store_get_kdf(s, &got), SKR_ELOCKED);
    ck_assert_int_eq(store_unlock(s, g_kek), SKR_ELOCKED);
    ck_assert_int_eq(store_get(s, "p", "n", &rec), SKR_ELOCKED);
    ck_assert_int_eq(store_post(s, "p", "n", (const uint8_t *)"x", 1), SKR_ELOCKED);
    ck_assert_int_eq(store_stats(s, &np, &nc), 0);
    ck_assert_uint_eq(np, 0);
    ck_assert_uint_eq(nc, 0);
    ck_assert_int_eq(store_init(s, &g_kdf, g_kek), 0);
    ck_assert(store_is_initialized(s) && store_is_unlocked(s));
    ck_assert_int_eq(store_init(s, &g_kdf, g_kek), SKR_EEXISTS);
    post_str(s, "p", "n", "body");
    store_lock(s);
    store_lock(s);
    ck_assert(!store_is_unlocked(s));
    ck_assert_int_eq(store_get(s, "p", "n", &rec), SKR_ELOCKED);
    ck_assert_int_eq(store_delete(s, "p", "n", &b), SKR_ELOCKED);
    ck_assert_int_eq(store_rotate(s, NULL), SKR_ELOCKED);
    ck_assert_int_eq(store_stats(s, &np, &nc), 0); /* counts stay available */
    ck_assert_uint_eq(np, 1);
    ck_assert_uint_eq(nc, 1);
    memcpy(bad, g_kek, 32);
    bad[31] ^= 1;
    ck_assert_int_eq(store_unlock(s, bad), SKR_EBAD_PASSPHRASE);
    ck_assert(!store_is_unlocked(s));
    ck_assert_int_eq(store_unlock(s, g_kek), 0);
    expect_body(s, "p", "n", "body");
    store_close(s);
    s = open_hub();
    ck_assert(store_is_initialized(s) && !store_is_unlocked(s));
    ck_assert_int_eq(store_get_kdf(s, &got), 0);
    ck_assert_int_eq(got.kind, STORE_KDF_ARGON2ID);
    ck_assert_mem_eq(got.salt, g_kdf.salt, STORE_SALT_BYTES);
    ck_assert_uint_eq(got.opslimit, crypto_pwhash_OPSLIMIT_MIN);
    ck_assert_uint_eq(got.memlimit, crypto_pwhash_MEMLIMIT_MIN);
    ck_assert_int_eq(store_init(s, &g_kdf, g_kek), SKR_EEXISTS);
    ck_assert_int_eq(store_unlock(s, bad), SKR_EBAD_PASSPHRASE);
    ck_assert_int_eq(store_unlock(s, g_kek), 0);
    expect_body(s, "p", "n", "body");
    store_close(s);
}
END_TEST

START_TEST(test_default_dir)
{
    char buf[256];

    setenv("SEKRETS_HUB", "/x/hub", 1);
    ck_assert_int_eq(store_default_dir(buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "/x/hub");
    ck_assert_int_eq(store_default_dir(buf, 4), SKR_EINVAL);
    unsetenv("SEKRETS_HUB");
    setenv("XDG_DATA_HOME", "/d", 1);
    ck_assert_int_eq(store_default_dir(buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "/d/sekrets/hub");
    setenv("XDG_DATA_HOME", "relative", 1);
    setenv("HOME", "/home/u", 1);
    ck_assert_int_eq(store_default_dir(buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "/home/u/.local/share/sekrets/hub");
    unsetenv("XDG_DATA_HOME");
    unsetenv("HOME");
    ck_assert_int_eq(store_default_dir(buf, sizeof buf), SKR_EINVAL);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("store_open");
    TCase *tc;

    tc = fixture_tcase("api", setup_disk, 30);
    tcase_add_test(tc, test_kdf);
    tcase_add_test(tc, test_open_layout);
    tcase_add_test(tc, test_open_denied);
    tcase_add_test(tc, test_open_journal_not_regular);
    tcase_add_test(tc, test_keyfile);
    tcase_add_test(tc, test_init_unlock);
    tcase_add_test(tc, test_default_dir);
    suite_add_tcase(su, tc);
    return fixture_run(su);
}
