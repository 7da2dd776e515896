#include "buf.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "sekrets/error.h"

static void *(*buf_malloc)(size_t) = malloc;

void proto_buf_set_allocator(void *(*fn)(size_t))
{
    buf_malloc = fn != NULL ? fn : malloc;
}

int proto_buf_reserve(proto_buf *b, size_t extra)
{
    if (extra <= b->cap - b->len)
        return 0;
    if (extra > SIZE_MAX / 2 - b->len)
        return SKR_ENOMEM;
    size_t want = b->len + extra;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < want)
        cap *= 2;
    /* Not realloc: the old block may hold a secret and must be wiped before it goes. */
    uint8_t *p = buf_malloc(cap);
    if (p == NULL)
        return SKR_ENOMEM;
    if (b->data != NULL) {
        memcpy(p, b->data, b->len);
        sodium_memzero(b->data, b->cap);
        free(b->data);
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int proto_buf_append_slow(proto_buf *b, const void *p, size_t n)
{
    int r = proto_buf_reserve(b, n);
    if (r != 0) {
        b->failed = true;
        return r;
    }
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

void proto_buf_reset(proto_buf *b)
{
    if (b->data != NULL)
        sodium_memzero(b->data, b->len);
    b->len = 0;
    b->failed = false;
}

void proto_buf_free(proto_buf *b)
{
    if (b == NULL)
        return;
    if (b->data != NULL) {
        sodium_memzero(b->data, b->cap);
        free(b->data);
    }
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = false;
}

int proto_buf_msgpack_write(void *data, const char *p, size_t n)
{
    return proto_buf_append(data, p, n) == 0 ? 0 : -1;
}
