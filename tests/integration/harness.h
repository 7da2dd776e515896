/*
 * tests/integration/harness.h - start a real sekretsd on a throwaway socket and hub.
 *
 * The daemon binary comes from $SEKRETSD (meson sets it for every integration test).
 * harness_start creates a fresh temp folder (mode 0700) holding hub/, run/sekretsd.sock
 * and, with HARNESS_KEYFILE, a 32-byte keyfile; starts the daemon in the foreground with
 * its stderr in <dir>/daemon.log; and polls the socket with `ping` until it answers
 * (at most 10 s) instead of sleeping. harness_stop sends SIGTERM, reaps the daemon
 * (SIGKILL after 5 s) and removes the folder. Always call harness_stop, even on failure.
 */
#ifndef TESTS_HARNESS_H
#define TESTS_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "mp.h"
#include <stdbool.h>

enum {
    HARNESS_KEYFILE = 1 << 0,   /* create a keyfile and pass --keyfile (hub unlocked) */
    HARNESS_FAST_KDF = 1 << 1,  /* pass --kdf-limits min (Argon2id at libsodium's minimum) */
};

typedef struct harness {
    char dir[128];       /* the temp folder */
    char socket[192];    /* <dir>/run/sekretsd.sock */
    char hub[192];       /* <dir>/hub */
    char keyfile[192];   /* <dir>/keyfile (when HARNESS_KEYFILE) */
    char log[192];       /* <dir>/daemon.log: the daemon's stderr */
    pid_t pid;           /* 0 when not running */
    int exit_status;     /* after harness_stop / harness_wait: wait status */
} harness;

/* Makes the folder and starts the daemon with `flags` and extra argv (NULL-terminated,
 * may be NULL). 0 on success, -1 (with a line on stderr) otherwise. */
int harness_start(harness *h, unsigned flags, const char *const *extra_args);
/* Makes the folder (and keyfile) only; start with harness_restart. Lets a test mount or
 * prepare things (h->hub may be pointed elsewhere) first. 0 or -1. */
int harness_prepare(harness *h, unsigned flags);
/* Starts the daemon again on the same folder (after a kill); same return. */
int harness_restart(harness *h, unsigned flags, const char *const *extra_args);
/* SIGTERM, reap, remove the folder. Safe to call twice. */
void harness_stop(harness *h);
/* Sends sig to the daemon and reaps it (for SIGKILL tests); the folder stays. */
void harness_kill(harness *h, int sig);

/* A blocking connection to the daemon's socket (fd), or -1. */
int harness_connect(const harness *h);
/* Writes all of buf; 0 or -1. */
int harness_send(int fd, const void *buf, size_t len);
/* Reads one whole frame's payload into out (reset first); 0, or -1 on EOF/error/timeout
 * (5 s). */
int harness_recv(int fd, proto_buf *out);
/* 1 if the peer has closed the connection (EOF within 2 s), else 0. */
int harness_closed(int fd);

/* How many of the n markers (lens[i] bytes each) occur anywhere in pid's memory, read
 * through /proc/PID/maps and /proc/PID/mem (found[i] set for each); -1 when those cannot
 * be opened. Mappings over 4 GiB (AddressSanitizer's shadow) are skipped. */
int harness_memscan(pid_t pid, const char *const *markers, const size_t *lens, int n, int *found);

/* HARNESS_VALGRIND=1 in the environment: the daemon runs under valgrind
 * (--leak-check=full, definite leaks count as errors, log in <dir>/valgrind.<pid>.log),
 * readiness waits up to 120 s, and harness_stop fails the test (exit 1, logs on stderr)
 * when valgrind reported an error or a definite leak. */
int harness_valgrind(void);
/* 0 if no valgrind log of this daemon's folder shows errors or definite leaks (or not
 * under valgrind); -1 (logs copied to stderr) otherwise. */
int harness_valgrind_report(const harness *h);

/* Contains the daemon's stderr so far this substring? 1/0. */
int harness_log_contains(const harness *h, const char *needle);



/* ---- request helpers for tests ---- */
#include "request.h"
#include "response.h"

/* A request with id/op and optional protocol/name (NULL: absent). */
proto_request harness_req(uint32_t id, proto_op op, const char *protocol, const char *name);
/* init/unlock with passphrase a, or passwd from a to b. The spans point into a and b. */
proto_request harness_secret_req(uint32_t id, proto_op op, const char *a, const char *b);
/* Sends req on fd and reads one reply into *resp (spans into buf). 0 or -1. */
int harness_call(int fd, const proto_request *req, proto_buf *buf, proto_response *resp);
/* Sends raw bytes and reads one reply. 0 or -1. */
int harness_call_raw(int fd, const void *bytes, size_t len, proto_buf *buf, proto_response *resp);
/* In a packed map, positions *val at the value of key. 0, or -1 if absent / not a map. */
int harness_map_find(proto_span map, const char *key, proto_cur *val);
/* Convenience: the value of key in map as uint / bool / string (NUL-terminated copy into
 * out). 0 or -1. */
int harness_map_uint(proto_span map, const char *key, uint64_t *v);
int harness_map_bool(proto_span map, const char *key, bool *v);
int harness_map_str(proto_span map, const char *key, char *out, size_t cap);
#endif
