#include "frame.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "sekrets/error.h"

void proto_reader_init(proto_reader *r, uint32_t max_frame)
{
    memset(r, 0, sizeof(*r));
    r->max_frame = max_frame;
}

void proto_reader_free(proto_reader *r)
{
    if (r == NULL)
        return;
    if (r->buf != NULL) {
        sodium_memzero(r->buf, r->cap);
        free(r->buf);
    }
    r->buf = NULL;
    r->cap = r->start = r->end = 0;
}

/* Bytes the frame at the front needs in total, or 0 if its header is not complete or bad. */
static size_t front_frame_size(const proto_reader *r)
{
    if (r->end - r->start < PROTO_HEADER_LEN)
        return 0;
    uint32_t len = proto_be32(r->buf + r->start);
    if (len == 0 || len > r->max_frame)
        return 0;
    return PROTO_HEADER_LEN + (size_t)len;
}

/* Back to one chunk after a large frame: an idle connection must not pin max_frame bytes.
 * Only once the rest fits a chunk and the frame at the front needs no more, so a large
 * frame still arriving is not moved to and fro; without memory it keeps the big one. */
static void reader_shrink(proto_reader *r)
{
    if (r->cap <= PROTO_READER_KEEP || r->end > PROTO_READ_CHUNK ||
        front_frame_size(r) > PROTO_READ_CHUNK)
        return;
    uint8_t *p = malloc(PROTO_READ_CHUNK);
    if (p == NULL)
        return;
    memcpy(p, r->buf, r->end);
    sodium_memzero(r->buf, r->cap);
    free(r->buf);
    r->buf = p;
    r->cap = PROTO_READ_CHUNK;
}

void proto_reader_compact(proto_reader *r)
{
    if (r->start != 0) {
        size_t keep = r->end - r->start;
        memmove(r->buf, r->buf + r->start, keep);
        sodium_memzero(r->buf + keep, r->end - keep);
        r->start = 0;
        r->end = keep;
    }
    reader_shrink(r);
}

static int reader_grow(proto_reader *r, size_t cap)
{
    uint8_t *p = malloc(cap);
    if (p == NULL)
        return SKR_ENOMEM;
    if (r->buf != NULL) {
        memcpy(p, r->buf, r->end);
        sodium_memzero(r->buf, r->cap);
        free(r->buf);
    }
    r->buf = p;
    r->cap = cap;
    return 0;
}

int proto_reader_space(proto_reader *r, uint8_t **p, size_t *n)
{
    proto_reader_compact(r);
    /* A bad length at the front ends the stream: keep its header (so that proto_reader_next
     * reports it) and drop whatever came after, so the buffer never grows past one chunk
     * for a peer that keeps sending after a bad length. */
    if (!r->failed && r->end - r->start >= PROTO_HEADER_LEN) {
        uint32_t len = proto_be32(r->buf + r->start);
        if (len == 0 || len > r->max_frame)
            r->failed = 1;
    }
    if (r->failed && r->end - r->start > PROTO_HEADER_LEN) {
        size_t keep_end = r->start + PROTO_HEADER_LEN;
        sodium_memzero(r->buf + keep_end, r->end - keep_end);
        r->end = keep_end;
    }
    size_t want = front_frame_size(r);
    if (want < PROTO_READ_CHUNK)
        want = PROTO_READ_CHUNK;
    /* Room for the whole frame, exactly (at most max_frame + 4, checked): rounding up to a
     * power of two would let a peer pin 2 * max_frame per connection. The buffer is only
     * ever full with a whole frame in it, when the caller feeds without taking frames;
     * then it doubles, so that feeding a long stream at once stays linear. */
    if (r->cap < want || r->cap - r->end == 0) {
        size_t cap = r->cap < want ? want : r->cap * 2;
        int rc = reader_grow(r, cap);
        if (rc != 0)
            return rc;
    }
    *p = r->buf + r->end;
    *n = r->cap - r->end;
    return 0;
}

void proto_reader_commit(proto_reader *r, size_t n)
{
    r->end += n;
}

int proto_reader_feed(proto_reader *r, const void *data, size_t n)
{
    const uint8_t *src = data;
    while (n > 0) {
        uint8_t *dst;
        size_t room;
        int rc = proto_reader_space(r, &dst, &room);
        if (rc != 0)
            return rc;
        size_t k = n < room ? n : room;
        memcpy(dst, src, k);
        proto_reader_commit(r, k);
        src += k;
        n -= k;
    }
    return 0;
}

/* The frame whose header starts at offset at: 1 with it, 0 when it is not all there yet,
 * SKR_EBAD_FRAME when its length is 0 or above max_frame. */
static int frame_at(const proto_reader *r, size_t at, const uint8_t **payload, size_t *len)
{
    size_t have = r->end - at;
    if (have < PROTO_HEADER_LEN)
        return 0;
    uint32_t l = proto_be32(r->buf + at);
    if (l == 0 || l > r->max_frame)
        return SKR_EBAD_FRAME;
    if (have - PROTO_HEADER_LEN < l)
        return 0;
    *payload = r->buf + at + PROTO_HEADER_LEN;
    *len = l;
    return 1;
}

int proto_reader_next(proto_reader *r, const uint8_t **payload, size_t *len)
{
    if (r->failed)
        return SKR_EBAD_FRAME;
    int rc = frame_at(r, r->start, payload, len);
    if (rc == SKR_EBAD_FRAME)
        r->failed = 1;
    else if (rc == 1)
        r->start += PROTO_HEADER_LEN + *len;
    return rc;
}

int proto_reader_peek(const proto_reader *r, size_t *pos, const uint8_t **payload,
                      size_t *len)
{
    size_t at = *pos > r->start ? *pos : r->start;
    if (r->failed || at > r->end || frame_at(r, at, payload, len) != 1)
        return 0;
    *pos = at + PROTO_HEADER_LEN + *len;
    return 1;
}

void proto_reader_unread(proto_reader *r, size_t len)
{
    if (PROTO_HEADER_LEN + len <= r->start)
        r->start -= PROTO_HEADER_LEN + len;
}

size_t proto_reader_pending(const proto_reader *r)
{
    return r->end - r->start;
}

int proto_frame_begin(proto_buf *out, size_t *mark)
{
    static const uint8_t zero[PROTO_HEADER_LEN];
    size_t at = out->len;
    int rc = proto_buf_append(out, zero, sizeof(zero));
    if (rc != 0)
        return rc;
    *mark = at;
    return 0;
}

/* Removes the frame that starts at mark, wiping it (it may hold a body). */
static void frame_drop(proto_buf *out, size_t mark)
{
    sodium_memzero(out->data + mark, out->len - mark);
    out->len = mark;
}

int proto_frame_end(proto_buf *out, size_t mark, uint32_t max_frame)
{
    if (out->failed) {
        /* Bytes of this frame were lost: sending the rest would be a wrong frame. */
        frame_drop(out, mark);
        out->failed = false;
        return SKR_ENOMEM;
    }
    size_t len = out->len - mark - PROTO_HEADER_LEN;
    if (len == 0)
        return SKR_EINTERNAL;
    if (len > max_frame) {
        frame_drop(out, mark);
        return SKR_ETOO_LARGE;
    }
    proto_put_be32(out->data + mark, (uint32_t)len);
    return 0;
}
