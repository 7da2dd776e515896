/*
 * proto/frame.h - length-prefixed framing (PROTOCOL.md "Framing").
 *
 * A frame is a 4-byte big-endian length L, then L bytes of one MessagePack object.
 * The reader is incremental and does no I/O: bytes go in as they arrive (copied with
 * proto_reader_feed, or read straight into proto_reader_space + proto_reader_commit) and
 * whole frames come out of proto_reader_next. L is checked against max_frame before the
 * buffer ever grows for it, so a peer cannot make it allocate more than max_frame + 4
 * bytes (the buffer is sized to the frame exactly, at least PROTO_READ_CHUNK, and shrinks
 * back once that frame has been taken and compacted away); after a bad
 * length, bytes that follow are dropped and the buffer does not grow at all. Only a caller
 * that feeds without taking the frames out can make it grow beyond that.
 */
#ifndef PROTO_FRAME_H
#define PROTO_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define PROTO_HEADER_LEN       4u
#define PROTO_MAX_FRAME_DEFAULT (1024u * 1024u)
#define PROTO_MAX_FRAME_LIMIT   (64u * 1024u * 1024u) /* highest max_frame we accept */
#define PROTO_READ_CHUNK        4096u                 /* minimum room offered to a read */
#define PROTO_READER_KEEP       (64u * 1024u) /* larger buffers shrink back once emptied */

typedef struct proto_reader {
    uint8_t *buf;       /* owned; wiped whenever bytes leave it */
    size_t cap;
    size_t start;       /* first unconsumed byte */
    size_t end;         /* one past the last received byte */
    uint32_t max_frame;
    int failed;         /* sticky: once a bad length was seen, nothing more comes out */
} proto_reader;

/* Prepares an empty reader; no memory is taken until bytes arrive. */
void proto_reader_init(proto_reader *r, uint32_t max_frame);
/* Wipes and frees the buffer. NULL is fine. */
void proto_reader_free(proto_reader *r);

/*
 * Offers writable room at the end of the buffer for the next read: *p and *n (n >= 1).
 * Moves unconsumed bytes to the front first (wiping what was consumed), and grows the
 * buffer to hold a whole frame once its (already checked) length is known.
 * Invalidates frames returned by proto_reader_next. 0 or SKR_ENOMEM.
 */
int proto_reader_space(proto_reader *r, uint8_t **p, size_t *n);
/* Records that n bytes were written into the room given by proto_reader_space. */
void proto_reader_commit(proto_reader *r, size_t n);
/* Copies n bytes in (space + commit in a loop). 0 or SKR_ENOMEM. */
int proto_reader_feed(proto_reader *r, const void *data, size_t n);

/*
 * Takes the next complete frame: *payload points at its L bytes inside the reader and
 * stays valid until the next space/feed/compact call. Returns 1 with a frame, 0 when more
 * bytes are needed, SKR_EBAD_FRAME when the length is 0 or above max_frame (sticky).
 */
int proto_reader_next(proto_reader *r, const uint8_t **payload, size_t *len);

/*
 * Looks at the complete frame at *pos (an offset into the reader's buffer; anything
 * before its first unconsumed byte means that byte) without taking it: 1 with *payload
 * and *len as proto_reader_next gives them and *pos past the frame, 0 when no complete
 * frame with a good length is there (proto_reader_next then tells which). The frames it
 * gives are the ones proto_reader_next gives next, in order, valid as long as theirs.
 */
int proto_reader_peek(const proto_reader *r, size_t *pos, const uint8_t **payload,
                      size_t *len);

/* Gives back the frame proto_reader_next just returned (len: its payload length), so that
 * the next call returns it again: for a request that must wait before it is served. Only
 * right after that call, with no space/feed/compact in between. */
void proto_reader_unread(proto_reader *r, size_t len);

/* Bytes received but not yet taken as frames (a partial frame in progress, if any). */
size_t proto_reader_pending(const proto_reader *r);

/* Moves unconsumed bytes to the front and wipes the consumed ones now. A buffer grown
 * above PROTO_READER_KEEP for a large frame goes back to one chunk (the old one wiped and
 * freed) once what is left fits a chunk, so a connection idle after a big frame holds
 * PROTO_READ_CHUNK bytes, not max_frame. */
void proto_reader_compact(proto_reader *r);

/*
 * Frame writer: proto_frame_begin reserves the length prefix and returns its offset in
 * *mark; the caller appends one MessagePack object; proto_frame_end writes L.
 * proto_frame_end returns SKR_ETOO_LARGE (and removes the partial frame) when L would
 * exceed max_frame, SKR_ENOMEM (and removes it) when an append to it failed (out->failed,
 * see buf.h), SKR_EINTERNAL for an empty frame. Frames sealed before stay as they were.
 */
int proto_frame_begin(proto_buf *out, size_t *mark);
int proto_frame_end(proto_buf *out, size_t mark, uint32_t max_frame);

/* Big-endian helpers. */
static inline uint32_t proto_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void proto_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

#endif
