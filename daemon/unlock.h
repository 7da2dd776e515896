/*
 * daemon/unlock.h - init, unlock and passwd: the ops that derive a key from a passphrase
 * (unlock.c). Argon2id runs on libuv's thread pool, one derivation at a time, and failed
 * attempts are rate limited; the server (server.h) holds that state.
 *
 * Ownership: a submitted job holds a reference on its session (session_ref) and guarded
 * copies of the passphrases, wiped and freed when the job ends on the loop.
 */
#ifndef DAEMON_UNLOCK_H
#define DAEMON_UNLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "request.h"

struct server;
struct session;

/* Starts the op's derivation: 1 when it went to the thread pool (the session waits; the
 * reply and its audit line come from unlock.c), 0 when answered at once (unlock of an
 * unlocked hub), or an SKR_E* code to answer (rate_limited, out of memory...). */
int unlock_submit(struct session *s, const proto_request *req);
/* Whether wrong passphrases block an attempt now; *wait_ms how long for. */
bool unlock_rate_limited(struct server *srv, uint64_t *wait_ms);
/* The message of a `rate_limited` answer given now: why, and how long to wait when that
 * is known. Written into buf (cap bytes); returns buf. *retry_s: the wait in whole
 * seconds, rounded up, at least 1 (1 too when a running derivation's end is unknown). */
const char *unlock_limit_message(struct server *srv, char *buf, size_t cap, uint32_t *retry_s);

#endif
