/*
 * proto/buf.h - a growable byte buffer that never leaves a secret behind.
 *
 * Frames carry passphrases and credential bodies, so every byte this buffer gives back to
 * the allocator (on growth, reset or free) is wiped first.
 *
 * Errors are sticky: an append that fails (the bytes are lost) sets `failed`, and stays
 * set while later, smaller appends succeed, so that msgpack_pack_* calls need no checks
 * one by one. proto_frame_end sees it, drops the frame and returns SKR_ENOMEM: a frame
 * with a hole in it is never sealed. proto_buf_reset and proto_buf_free clear it.
 */
#ifndef PROTO_BUF_H
#define PROTO_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct proto_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    bool failed; /* an append lost bytes since the last reset or frame end (sticky) */
} proto_buf;

#define PROTO_BUF_INIT { NULL, 0, 0, false }

/* Ensures room for `extra` more bytes. 0 or SKR_ENOMEM (buffer unchanged; not sticky:
 * nothing was lost). */
int proto_buf_reserve(proto_buf *b, size_t extra);
/* Appends n bytes. 0 or SKR_ENOMEM (and `failed` set). */
int proto_buf_append_slow(proto_buf *b, const void *p, size_t n);
static inline int proto_buf_append(proto_buf *b, const void *p, size_t n)
{
    /* The common case inline: replies are packed a few bytes at a time. */
    if (n <= b->cap - b->len && n > 0) {
        __builtin_memcpy(b->data + b->len, p, n);
        b->len += n;
        return 0;
    }
    return proto_buf_append_slow(b, p, n);
}
/* Wipes the content and empties the buffer; keeps the memory for reuse. */
void proto_buf_reset(proto_buf *b);
/* Wipes and frees the memory; the buffer is empty and reusable afterwards. NULL is fine. */
void proto_buf_free(proto_buf *b);
/* msgpack_packer write callback: `data` is a proto_buf. */
int proto_buf_msgpack_write(void *data, const char *p, size_t n);

/* For tests: buffer growth allocates with `fn` instead of malloc (NULL: malloc again),
 * so that a test can make an allocation fail in the middle of a reply. */
void proto_buf_set_allocator(void *(*fn)(size_t));

#endif
