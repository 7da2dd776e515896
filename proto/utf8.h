/*
 * proto/utf8.h - the one UTF-8 decoder of the project (daemon, library, CLI).
 *
 * Strict: overlong forms, surrogates (U+D800..U+DFFF) and code points past U+10FFFF are
 * invalid, as RFC 3629 says. Pure functions, no allocation.
 */
#ifndef PROTO_UTF8_H
#define PROTO_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decodes the sequence at s (n bytes left) into *cp. Returns its length (1..4), or 0
 * when the bytes there are not a valid sequence or n is 0 (*cp untouched then). */
size_t proto_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp);

/* True when all n bytes are valid UTF-8 (an empty string is). */
bool proto_utf8_valid(const uint8_t *s, size_t n);

#endif
