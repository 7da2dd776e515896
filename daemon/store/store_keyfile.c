/*
 * daemon/store/store_keyfile.c - reads a keyfile (store_keyfile_read, store.h) into
 * guarded memory, after store_keyfile_check (store_folder.c) on the open file. Part of
 * the hub keys layer; touches no store, so it may run on a worker thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "store_folder.h"
#include "sekrets/error.h"

static int store_read_all(int fd, uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

int store_keyfile_read(const char *path, uint8_t **content, size_t *len,
                       char err[STORE_ERRMSG_MAX])
{
    struct stat st;
    uint8_t *buf = NULL;
    size_t n = 0;
    int fd, r;

    err[0] = '\0';
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        r = errno == ENOENT ? SKR_ENOT_FOUND : errno == EACCES ? SKR_EDENIED : SKR_EINVAL;
        snprintf(err, STORE_ERRMSG_MAX, "keyfile %s: %s", path, strerror(errno));
        return r;
    }
    /* fstat on the open file: what we check is what we read. */
    if (fstat(fd, &st) != 0) {
        snprintf(err, STORE_ERRMSG_MAX, "keyfile %s: %s", path, strerror(errno));
        r = SKR_EINVAL;
        goto out;
    }
    if ((r = store_keyfile_check(path, &st, err)) != 0)
        goto out;
    n = (size_t)st.st_size;
    if ((buf = sodium_malloc(n)) == NULL) {
        r = SKR_ENOMEM;
        goto out;
    }
    if (store_read_all(fd, buf, n) != 0) {
        snprintf(err, STORE_ERRMSG_MAX, "keyfile %s: short read", path);
        r = SKR_EINVAL;
        goto out;
    }
    *content = buf;
    *len = n;
    buf = NULL;
    r = 0;
out:
    store_secret_free(buf, n);
    close(fd);
    return r;
}
