/*
 * daemon/store/store_folder.h - every ownership and mode check of the store's files in
 * one place (store_folder.c): the hub folder and the hub files in it, and a keyfile.
 *
 * Below every layer (like store_crypto.h): no store, no LMDB. Each check writes a one-line
 * reason naming the path into err and returns SKR_EDENIED (owner, mode, not a folder),
 * SKR_EINVAL (type, size, path too long) or SKR_EINTERNAL (a folder that cannot be made).
 */
#ifndef DAEMON_STORE_FOLDER_H
#define DAEMON_STORE_FOLDER_H

#include <sys/stat.h>

#include "store.h"

/* The most of a path a message quotes: the reason after it still fits STORE_ERRMSG_MAX. */
#define STORE_ERRMSG_PATH 180

/* Makes the hub folder when absent (0700, parents too), then checks it and each hub file
 * already there (data.mdb, lock.mdb, journal, keys): owned by this uid, nothing for group
 * or others. Files that are absent are fine (the store makes them 0600). */
int store_folder_prepare(const char *dir, char err[STORE_ERRMSG_MAX]);

/* A keyfile as fstat saw it once opened (what is checked is what is read): a regular
 * file owned by this uid, nothing for group or others, of STORE_KEYFILE_MIN to
 * STORE_KEYFILE_MAX bytes. */
int store_keyfile_check(const char *path, const struct stat *st, char err[STORE_ERRMSG_MAX]);

/* A hub file the store just opened (fd; path names it in err): a regular file, as fstat
 * sees it (what is checked is what is used). SKR_EINVAL otherwise. */
int store_folder_file_check(int fd, const char *path, char err[STORE_ERRMSG_MAX]);

/* fsyncs the folder, so that a name just made in it is durable. 0, or -1 with errno. */
int store_folder_sync(const char *dir);

#endif
