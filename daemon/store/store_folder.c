/*
 * daemon/store/store_folder.c - where the store's files may be: the hub folder made 0700,
 * and the ownership and mode checks of the folder, its files and a keyfile
 * (store_folder.h). A file of another user, or one that group or others may read, is
 * refused before anything is read from it or written into it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "store_folder.h"
#include "sekrets/error.h"

/* mkdir -p with 0700 for every folder it creates. */
static int store_mkdirs(const char *dir, char err[STORE_ERRMSG_MAX])
{
    char path[PATH_MAX];
    size_t len = strlen(dir);

    if (len == 0 || len >= sizeof path) {
        snprintf(err, STORE_ERRMSG_MAX, "hub folder: path empty or too long");
        return SKR_EINVAL;
    }
    memcpy(path, dir, len + 1);
    for (char *p = path + 1; ; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            int e = errno; /* snprintf may change errno */
            snprintf(err, STORE_ERRMSG_MAX, "hub folder %.200s: %s", path, strerror(e));
            return e == EACCES ? SKR_EDENIED : SKR_EINTERNAL;
        }
        *p = c;
        if (c == '\0')
            return 0;
    }
}

/* Owned by us, nothing for group or others: the folder and any hub file already there. */
static int store_check_path(const char *path, bool dir, char err[STORE_ERRMSG_MAX])
{
    struct stat st;

    if (stat(path, &st) != 0) {
        if (!dir && errno == ENOENT)
            return 0;
        snprintf(err, STORE_ERRMSG_MAX, "%.*s: %s", STORE_ERRMSG_PATH, path, strerror(errno));
        return SKR_EDENIED;
    }
    if (dir && !S_ISDIR(st.st_mode)) {
        snprintf(err, STORE_ERRMSG_MAX, "hub folder %.*s: not a folder", STORE_ERRMSG_PATH, path);
        return SKR_EDENIED; /* refused, like a folder of the wrong owner (exit 3) */
    }
    if (st.st_uid != geteuid()) {
        snprintf(err, STORE_ERRMSG_MAX, "%.*s: owned by uid %u, not by uid %u",
                 STORE_ERRMSG_PATH, path, (unsigned)st.st_uid, (unsigned)geteuid());
        return SKR_EDENIED;
    }
    if ((st.st_mode & 077) != 0) {
        snprintf(err, STORE_ERRMSG_MAX, "%.*s: mode %04o is open to group or others (want %s)",
                 STORE_ERRMSG_PATH, path, (unsigned)(st.st_mode & 0777), dir ? "0700" : "0600");
        return SKR_EDENIED;
    }
    return 0;
}

static int store_check_layout(const char *dir, char err[STORE_ERRMSG_MAX])
{
    static const char *const files[] = { "data.mdb", "lock.mdb", "journal", "keys" };
    char path[PATH_MAX];
    int r;

    if ((r = store_check_path(dir, true, err)) != 0)
        return r;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, files[i]) >= sizeof path) {
            snprintf(err, STORE_ERRMSG_MAX, "hub folder: path too long");
            return SKR_EINVAL;
        }
        if ((r = store_check_path(path, false, err)) != 0)
            return r;
    }
    return 0;
}

int store_folder_prepare(const char *dir, char err[STORE_ERRMSG_MAX])
{
    int r;

    if ((r = store_mkdirs(dir, err)) != 0)
        return r;
    return store_check_layout(dir, err);
}

int store_keyfile_check(const char *path, const struct stat *st, char err[STORE_ERRMSG_MAX])
{
    if (!S_ISREG(st->st_mode)) {
        snprintf(err, STORE_ERRMSG_MAX, "keyfile %s: not a regular file", path);
        return SKR_EINVAL;
    }
    if (st->st_uid != geteuid() || (st->st_mode & 077) != 0) {
        snprintf(err, STORE_ERRMSG_MAX,
                 "keyfile %s: must be owned by uid %u and not readable by group or others "
                 "(mode %04o): chown it, chmod 600 it", path, (unsigned)geteuid(),
                 (unsigned)(st->st_mode & 0777));
        return SKR_EDENIED;
    }
    if (st->st_size < STORE_KEYFILE_MIN || st->st_size > (off_t)STORE_KEYFILE_MAX) {
        /* the range a new hub takes: the legacy ceiling is for hubs keyed before it */
        snprintf(err, STORE_ERRMSG_MAX, "keyfile %s: %lld bytes; a keyfile holds %d to %u "
                 "bytes (e.g. head -c 32 /dev/urandom)", path, (long long)st->st_size,
                 STORE_KEYFILE_MIN, STORE_KEYFILE_NEW_MAX);
        return SKR_EINVAL;
    }
    return 0;
}

int store_folder_file_check(int fd, const char *path, char err[STORE_ERRMSG_MAX])
{
    struct stat st;

    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, STORE_ERRMSG_MAX, "%.200s: not a regular file", path);
        return SKR_EINVAL;
    }
    return 0;
}

int store_folder_sync(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r, e;

    if (fd < 0)
        return -1;
    r = fsync(fd);
    e = errno; /* what fsync said, not close */
    close(fd);
    errno = e;
    return r;
}
