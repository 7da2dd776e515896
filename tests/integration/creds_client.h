/*
 * tests/integration/creds_client.h - a LoadCredential= client that does what systemd does
 * (src/basic/fileio.c, read_full_file_full with READ_FULL_FILE_CONNECT_SOCKET): bind an
 * AF_UNIX stream socket to the abstract name "<hex random>/unit/<UNIT>/<ID>", connect,
 * shutdown(SHUT_WR), read until EOF; run from a child placed in a cgroup named like the
 * unit. For the creds tests (test_creds.c).
 */
#ifndef TESTS_CREDS_CLIENT_H
#define TESTS_CREDS_CLIENT_H

#include <stddef.h>
#include <sys/types.h>

#include "buf.h"

/* Finds the cgroup2 mount (/sys/fs/cgroup/unified on a hybrid host, else /sys/fs/cgroup).
 * 0 or -1. */
int creds_cg_find(void);
/* mkdir of cgroup `unit` under it; 0 or -1 (errno). */
int creds_cg_create(const char *unit);
/* Moves the calling process into cgroup `unit` (retrying a moment on EAGAIN/EBUSY). 0, or
 * -1 with errno set. */
int creds_cg_enter(const char *unit);
/* rmdir of cgroup `unit`, waiting (bounded) until its last process has left. */
void creds_cg_remove(const char *unit);

/* systemd's name "%" PRIx64 "/unit/%s/%s" of a random 64-bit number; its length. */
size_t creds_systemd_name(char *buf, size_t cap, const char *unit, const char *id);
/* A socket bound to the abstract name[0..len), connected to sock and shut down for
 * writing: what systemd holds before it reads. The fd, or -1. */
int creds_connect_abstract(const char *sock, const char *name, size_t len);

enum { CREDS_BIND_ABSTRACT, CREDS_BIND_NONE, CREDS_BIND_PATH };

typedef struct creds_ask {
    const char *sock;   /* the credentials socket */
    const char *name;   /* CREDS_BIND_ABSTRACT: the name after the NUL (name_len bytes) */
    size_t name_len;
    int bind;           /* CREDS_BIND_NONE: unnamed; _PATH: bound to <sock>.client */
    const char *cgroup; /* the unit cgroup to run in; NULL: stay */
    uid_t uid;          /* 0: stay root */
} creds_ask;

/* Runs the ask in a child; out gets every byte it read. The child's exit code: 0 when the
 * read ended in EOF, 3 on a read error, 4 to 6 on a setup failure; -1 when the child could
 * not be run. */
int creds_run_ask(const creds_ask *a, proto_buf *out);

#endif
