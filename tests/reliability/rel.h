/* tests/reliability/rel.h - small helpers shared by the reliability and security tests. */
#ifndef TESTS_REL_H
#define TESTS_REL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "harness.h"
#include "frame.h"
#include "sekrets/error.h"

#include <stdio.h>
#include <stdlib.h>

/* Fails the test program: prints where and why and exits 1 (atexit handlers clean up). */
#define CHECK(cond, ...)                                                          \
    do {                                                                          \
        if (!(cond)) {                                                            \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);       \
            fprintf(stderr, __VA_ARGS__);                                         \
            fputc('\n', stderr);                                                  \
            exit(1);                                                              \
        }                                                                         \
    } while (0)

/* Packs {"v": value} into b and returns it as a span (valid until b changes). */
proto_span rel_body(proto_buf *b, const char *value);
/* Appends one framed put/delete/get request to out. 0 or -1. */
int rel_encode(proto_buf *out, uint32_t id, proto_op op, const char *protocol, const char *name,
               const char *value);
/* One call on fd: 0 for ok, the error code otherwise, -100 on I/O failure. With value !=
 * NULL (and a get), copies body["v"] into value (cap bytes). */
int rel_call(int fd, uint32_t id, proto_op op, const char *protocol, const char *name,
             const char *value_in, char *value_out, size_t cap);
/* Like rel_call but with a passphrase field (init/unlock) or old/new (passwd). */
int rel_call_secret(int fd, uint32_t id, proto_op op, const char *a, const char *b);
/* body["v"] of a get result. 0 or -1. */
int rel_result_value(proto_span result, char *out, size_t cap);
/* VmRSS of pid in KiB, or -1. */
long rel_rss_kib(pid_t pid);
/* Number of open fds of pid, or -1. */
int rel_fd_count(pid_t pid);
/* Fills buf with n random printable characters [A-Za-z0-9] and a NUL. */
void rel_random_token(char *buf, size_t n);
#endif
