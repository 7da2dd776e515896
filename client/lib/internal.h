/*
 * client/lib/internal.h - shared between the library's sources; not installed.
 */
#ifndef CLIENT_INTERNAL_H
#define CLIENT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "sekrets/sekrets.h"
#include "mp.h"
#include "request.h"
#include "response.h"

/* Makes a credential from a get result map (raw bytes already checked by the decoder). */
int cred_from_result(const uint8_t *p, size_t len, skr_cred **out);

/* Appends JSON text for the one object at c (advancing it). */
int json_render(proto_buf *out, proto_cur *c, int flags, int depth);

/* Copies at most cap-1 bytes of s into dst, NUL-terminated, cut at a UTF-8 boundary. */
void copy_utf8_bounded(char *dst, size_t cap, const char *s, size_t n);

#endif
