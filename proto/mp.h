/*
 * proto/mp.h - a bounded, non-recursive MessagePack reader over a byte span.
 *
 * Why not msgpack-c's unpacker for input from a peer: it allocates each container from
 * the count in its header (a 5-byte array header can ask for 2^32 elements) and gives no
 * way to find the raw bytes of a sub-object. This reader allocates nothing, refuses a
 * container whose count cannot fit in the bytes that remain, refuses nesting deeper than
 * PROTO_MAX_DEPTH (msgpack-c's own unpacker limit, so anything accepted here can be
 * unpacked there), and hands out sub-objects as raw spans. msgpack-c packs everything.
 */
#ifndef PROTO_MP_H
#define PROTO_MP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_MAX_DEPTH 32 /* containers nested inside each other, at most */

typedef struct proto_cur {
    const uint8_t *p;
    const uint8_t *end;
} proto_cur;

typedef enum proto_mp_type {
    PROTO_MP_NIL, PROTO_MP_BOOL, PROTO_MP_UINT, PROTO_MP_INT, PROTO_MP_FLOAT,
    PROTO_MP_STR, PROTO_MP_BIN, PROTO_MP_ARRAY, PROTO_MP_MAP, PROTO_MP_EXT,
    PROTO_MP_INVALID,
} proto_mp_type;

static inline proto_cur proto_cur_make(const void *p, size_t len)
{
    proto_cur c = { p, (const uint8_t *)p + len };
    return c;
}

/*
 * Checks that one complete, well-formed object starts at p (within len bytes), with
 * nesting and counts bounded as above; *obj_len gets its size in bytes.
 * 0, or SKR_EBAD_FRAME (truncated, the never-used byte 0xc1, or too deep).
 */
int proto_mp_check(const uint8_t *p, size_t len, size_t *obj_len);
/* The same with a lower nesting limit, 0..PROTO_MAX_DEPTH (else SKR_EINVAL): a request's
 * body sits inside the request map, so it may nest at most PROTO_MAX_DEPTH - 1 deep. */
int proto_mp_check_depth(const uint8_t *p, size_t len, int max_depth, size_t *obj_len);

/* Type of the next object (PROTO_MP_INVALID at the end or on 0xc1). */
proto_mp_type proto_cur_peek(const proto_cur *c);

/*
 * Typed reads. Each returns 0 and advances past the object, or SKR_EBAD_REQUEST with
 * the cursor unchanged when the next object is not of that type or is truncated.
 * Strings point into the span (not NUL-terminated).
 */
int proto_cur_map(proto_cur *c, uint32_t *n);
int proto_cur_array(proto_cur *c, uint32_t *n);
int proto_cur_str(proto_cur *c, const char **s, uint32_t *len);
int proto_cur_str_or_bin(proto_cur *c, const uint8_t **s, uint32_t *len, bool *is_bin);
int proto_cur_uint(proto_cur *c, uint64_t *v); /* any integer encoding >= 0 */
int proto_cur_int(proto_cur *c, int64_t *v);   /* any integer encoding within int64 */
int proto_cur_bool(proto_cur *c, bool *v);
/* Skips one whole object (checked as by proto_mp_check) and gives its raw bytes. */
int proto_cur_skip(proto_cur *c, const uint8_t **raw, size_t *len);

#endif
