/*
 * client/helpers/helper.h - what the credential-helper adapters (git, docker) share: one
 * bounded read of stdin into guarded memory, an output buffer that is wiped, and the one
 * wording of "cannot reach the daemon" / "the hub is locked" for their users.
 * Built only on libsekrets' public API.
 */
#ifndef SKR_HELPER_H
#define SKR_HELPER_H

#include <stdbool.h>
#include <stddef.h>

#include "sekrets/sekrets.h"

/* What a helper takes on stdin at most: a credential body's own limit (64 KiB). */
#define HLP_INPUT_MAX (64u * 1024u)

/*
 * Reads all of fd (at most max bytes) into new sodium_malloc memory, NUL-terminated.
 * *buf is released with hlp_input_free (sodium_free wipes it). SKR_ETOO_LARGE when fd
 * holds more than max bytes (nothing more is read), SKR_EIO, SKR_ENOMEM.
 */
int hlp_input_read(int fd, size_t max, char **buf, size_t *len);
void hlp_input_free(char *buf);

/* An output buffer in guarded memory: filled, written in one go, wiped. */
typedef struct hlp_out {
    char *p;
    size_t len, cap;
    bool full; /* something did not fit: hlp_out_write refuses to write a cut reply */
} hlp_out;

int hlp_out_init(hlp_out *o, size_t cap);
void hlp_out_put(hlp_out *o, const char *s, size_t n);
void hlp_out_puts(hlp_out *o, const char *s);
/* Writes everything to fd. SKR_ETOO_LARGE when the buffer overflowed, SKR_EIO. */
int hlp_out_write(hlp_out *o, int fd);
void hlp_out_free(hlp_out *o);

/*
 * Connects to `socket` (NULL: $SEKRETS_SOCKET, else $XDG_RUNTIME_DIR/sekrets/sekretsd.sock).
 * On failure writes into msg a one-line reason that says how to start the daemon.
 */
int hlp_connect(const char *socket, skr_client **out, char *msg, size_t size);

/*
 * A one-line message for err, the result of a call on c (may be NULL): a locked hub says
 * how to unlock it. Written into msg (always NUL-terminated).
 */
void hlp_describe(int err, const skr_client *c, char *msg, size_t size);

#endif
