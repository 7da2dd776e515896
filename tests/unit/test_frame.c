/*
 * proto/frame.c: the incremental reader (frames split at every byte boundary, bad lengths,
 * stickiness, memory bounds) and the frame writer. The hostile-length cases run under an
 * address-space cap (RLIMIT_AS just above what the test process already uses), so that a
 * reader that allocated L bytes up front would fail them.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "frame.h"
#include "mp.h"
#include "request.h"
#include "sekrets/error.h"

#if defined(__SANITIZE_ADDRESS__)
#  define TEST_ASAN 1
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer)
#    define TEST_ASAN 1
#  endif
#endif
#ifdef TEST_ASAN
/* Under ASan a failed malloc must return NULL (as glibc does), not abort the test. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}
/* ASan needs address space of its own, so RLIMIT_AS cannot cap it; its allocator hooks
 * record the largest block asked for instead (declared here: gcc ships no header). */
int __sanitizer_install_malloc_and_free_hooks(void (*)(const volatile void *, size_t),
                                              void (*)(const volatile void *));
static volatile size_t largest_malloc;
static void on_malloc(const volatile void *p, size_t n)
{
    (void)p;
    if (n > largest_malloc)
        largest_malloc = n;
}
static void on_free(const volatile void *p)
{
    (void)p;
}
#endif

/* ---- a stream of frames ------------------------------------------------------------------- */

typedef struct frames {
    uint8_t *data;
    size_t len;
    size_t count;
    size_t off[8], size[8];   /* payload offset and length of each frame */
} frames;

static void add_frame(frames *f, const void *payload, size_t n)
{
    f->data = realloc(f->data, f->len + 4 + n);
    ck_assert_ptr_nonnull(f->data);
    proto_put_be32(f->data + f->len, (uint32_t)n);
    memcpy(f->data + f->len + 4, payload, n);
    f->off[f->count] = f->len + 4;
    f->size[f->count] = n;
    f->count++;
    f->len += 4 + n;
}

static void make_stream(frames *f)
{
    memset(f, 0, sizeof(*f));
    add_frame(f, "\x82\xa2id\x01\xa2op\xa4ping", 13);
    add_frame(f, "\xc0", 1);                      /* one byte */
    uint8_t big[5000];                             /* more than one read chunk */
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 7 + 3);
    add_frame(f, big, sizeof(big));
    add_frame(f, "\x83\xa2id\x02\xa2op\xa4init\xaapassphrase\xa2pw", 27);
    add_frame(f, "\x90", 1);
}

/* Takes every complete frame out of rd and checks it against f; returns how many so far. */
static size_t drain(proto_reader *rd, const frames *f, size_t got)
{
    const uint8_t *p;
    size_t n;
    int rc;
    while ((rc = proto_reader_next(rd, &p, &n)) == 1) {
        ck_assert_uint_lt(got, f->count);
        ck_assert_uint_eq(n, f->size[got]);
        ck_assert_mem_eq(p, f->data + f->off[got], n);
        got++;
    }
    ck_assert_int_eq(rc, 0);
    return got;
}

START_TEST(split_at_every_byte)
{
    frames f;
    make_stream(&f);
    for (size_t k = 0; k <= f.len; k++) {
        proto_reader rd;
        proto_reader_init(&rd, 8192);
        ck_assert_int_eq(proto_reader_feed(&rd, f.data, k), 0);
        size_t got = drain(&rd, &f, 0);
        ck_assert_int_eq(proto_reader_feed(&rd, f.data + k, f.len - k), 0);
        got = drain(&rd, &f, got);
        ck_assert_uint_eq(got, f.count);
        ck_assert_uint_eq(proto_reader_pending(&rd), 0);
        proto_reader_free(&rd);
    }
    free(f.data);
}
END_TEST

START_TEST(byte_by_byte)
{
    frames f;
    make_stream(&f);
    proto_reader rd;
    proto_reader_init(&rd, 8192);
    size_t got = 0;
    for (size_t i = 0; i < f.len; i++) {
        ck_assert_int_eq(proto_reader_feed(&rd, f.data + i, 1), 0);
        size_t before = got;
        got = drain(&rd, &f, got);
        /* a frame comes out exactly when its last byte arrives */
        int ends_frame = got > before;
        ck_assert_int_eq(ends_frame, i + 1 == f.off[before] + f.size[before]);
        ck_assert_uint_eq(proto_reader_pending(&rd), got == f.count ? 0 : i + 1 - (f.off[got] - 4));
    }
    ck_assert_uint_eq(got, f.count);
    proto_reader_free(&rd);
    free(f.data);
}
END_TEST

START_TEST(space_commit_uneven_reads)
{
    /* reads straight into the reader's room, in sizes 1, 2, 3, ... capped by the room */
    frames f;
    make_stream(&f);
    proto_reader rd;
    proto_reader_init(&rd, 8192);
    size_t pos = 0, got = 0, step = 1;
    while (pos < f.len) {
        uint8_t *room;
        size_t n;
        ck_assert_int_eq(proto_reader_space(&rd, &room, &n), 0);
        ck_assert_uint_ge(n, 1);
        size_t k = step < n ? step : n;
        if (k > f.len - pos)
            k = f.len - pos;
        memcpy(room, f.data + pos, k);
        proto_reader_commit(&rd, k);
        pos += k;
        step = step % 97 + 1;
        got = drain(&rd, &f, got);
    }
    ck_assert_uint_eq(got, f.count);
    proto_reader_free(&rd);
    free(f.data);
}
END_TEST

START_TEST(feed_all_at_once)
{
    frames f;
    make_stream(&f);
    proto_reader rd;
    proto_reader_init(&rd, 8192);
    ck_assert_int_eq(proto_reader_feed(&rd, f.data, f.len), 0);
    ck_assert_uint_eq(proto_reader_pending(&rd), f.len);
    ck_assert_uint_eq(drain(&rd, &f, 0), f.count);
    proto_reader_compact(&rd);
    ck_assert_uint_eq(rd.start, 0);
    ck_assert_uint_eq(rd.end, 0);
    proto_reader_free(&rd);
    proto_reader_free(&rd); /* twice is fine */
    proto_reader_free(NULL);
    free(f.data);
}
END_TEST

/* ---- lengths -------------------------------------------------------------------------------- */

static int next_after(proto_reader *rd, const void *bytes, size_t n)
{
    const uint8_t *p;
    size_t len;
    ck_assert_int_eq(proto_reader_feed(rd, bytes, n), 0);
    return proto_reader_next(rd, &p, &len);
}

START_TEST(length_bounds)
{
    proto_reader rd;
    uint8_t frame[4 + 16];
    memset(frame + 4, 0xc0, 16);

    proto_reader_init(&rd, 16); /* L = max_frame is fine */
    proto_put_be32(frame, 16);
    ck_assert_int_eq(next_after(&rd, frame, 20), 1);
    proto_reader_free(&rd);

    proto_reader_init(&rd, 16); /* L = 1 is fine */
    proto_put_be32(frame, 1);
    ck_assert_int_eq(next_after(&rd, frame, 5), 1);
    proto_reader_free(&rd);

    proto_reader_init(&rd, 16); /* L = max_frame + 1: refused on its header alone */
    proto_put_be32(frame, 17);
    ck_assert_int_eq(next_after(&rd, frame, 4), SKR_EBAD_FRAME);
    proto_reader_free(&rd);

    proto_reader_init(&rd, 16); /* L = 0 */
    ck_assert_int_eq(next_after(&rd, "\0\0\0\0", 4), SKR_EBAD_FRAME);
    proto_reader_free(&rd);

    proto_reader_init(&rd, PROTO_MAX_FRAME_DEFAULT); /* 0xffffffff */
    ck_assert_int_eq(next_after(&rd, "\xff\xff\xff\xff", 4), SKR_EBAD_FRAME);
    proto_reader_free(&rd);

    proto_reader_init(&rd, PROTO_MAX_FRAME_DEFAULT); /* 1 MiB + 1 */
    ck_assert_int_eq(next_after(&rd, "\x00\x10\x00\x01", 4), SKR_EBAD_FRAME);
    proto_reader_free(&rd);

    proto_reader_init(&rd, 16); /* an incomplete header is not an error yet */
    ck_assert_int_eq(next_after(&rd, "\0\0\0", 3), 0);
    ck_assert_uint_eq(proto_reader_pending(&rd), 3);
    ck_assert_int_eq(next_after(&rd, "\0", 1), SKR_EBAD_FRAME);
    proto_reader_free(&rd);
}
END_TEST

START_TEST(bad_length_is_sticky)
{
    proto_reader rd;
    proto_reader_init(&rd, 64);
    /* a good frame, then L = 0, then another good frame */
    static const uint8_t stream[] = { 0, 0, 0, 1, 0xc0, 0, 0, 0, 0, 0, 0, 0, 1, 0xc0 };
    ck_assert_int_eq(proto_reader_feed(&rd, stream, sizeof(stream)), 0);
    const uint8_t *p;
    size_t n;
    ck_assert_int_eq(proto_reader_next(&rd, &p, &n), 1);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(proto_reader_next(&rd, &p, &n), SKR_EBAD_FRAME);
    ck_assert_int_eq(proto_reader_next(&rd, &p, &n), SKR_EBAD_FRAME);
    ck_assert_int_eq(proto_reader_feed(&rd, stream, 5), 0);
    ck_assert_int_eq(proto_reader_next(&rd, &p, &n), SKR_EBAD_FRAME);
    proto_reader_free(&rd);
}
END_TEST

/* peek gives the frames next gives, in order, without taking them; it stops at a partial
 * frame and at a bad length (which next then reports) */
START_TEST(peek_ahead)
{
    proto_reader rd;
    proto_reader_init(&rd, 64);
    static const uint8_t stream[] = { 0, 0, 0, 1, 0xc0, 0, 0, 0, 2, 0x91, 0xc3,
                                      0, 0, 0, 0, 0, 0, 0, 1, 0xc0 };
    const uint8_t *p, *q;
    size_t n, m, pos = 0;
    ck_assert_int_eq(proto_reader_feed(&rd, stream, 9), 0); /* frame 1, half of frame 2 */
    ck_assert_int_eq(proto_reader_peek(&rd, &pos, &p, &n), 1);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(pos, 5);
    ck_assert_int_eq(proto_reader_peek(&rd, &pos, &q, &m), 0);
    ck_assert_uint_eq(pos, 5);
    ck_assert_uint_eq(proto_reader_pending(&rd), 9); /* nothing taken */
    ck_assert_int_eq(proto_reader_feed(&rd, stream + 9, sizeof(stream) - 9), 0);
    ck_assert_int_eq(proto_reader_peek(&rd, &pos, &q, &m), 1);
    ck_assert_uint_eq(m, 2);
    ck_assert_int_eq(memcmp(q, "\x91\xc3", 2), 0);
    ck_assert_int_eq(proto_reader_peek(&rd, &pos, &q, &m), 0); /* L = 0 after it */
    ck_assert_uint_eq(pos, 11);
    /* next gives the same frames at the same places; a position behind start means start */
    const uint8_t *a;
    size_t an;
    ck_assert_int_eq(proto_reader_next(&rd, &a, &an), 1);
    ck_assert_ptr_eq(a, p);
    size_t from = 0;
    ck_assert_int_eq(proto_reader_peek(&rd, &from, &p, &n), 1);
    ck_assert_int_eq(proto_reader_next(&rd, &a, &an), 1);
    ck_assert_ptr_eq(a, p);
    ck_assert_uint_eq(an, n);
    ck_assert_int_eq(proto_reader_next(&rd, &a, &an), SKR_EBAD_FRAME);
    ck_assert_int_eq(proto_reader_peek(&rd, &from, &p, &n), 0);
    proto_reader_free(&rd);
}
END_TEST

START_TEST(shrinks_after_large_frame)
{
    /* a 1 MiB frame grows the buffer; once taken and compacted it is one chunk again, while
     * a large frame still arriving keeps its room */
    proto_reader rd;
    proto_reader_init(&rd, PROTO_MAX_FRAME_DEFAULT);
    enum { L = 1024 * 1024 - 16 };
    uint8_t *frame = calloc(1, PROTO_HEADER_LEN + L);
    proto_put_be32(frame, L);
    ck_assert_int_eq(proto_reader_feed(&rd, frame, PROTO_HEADER_LEN + L / 2), 0);
    proto_reader_compact(&rd);
    ck_assert_uint_eq(rd.cap, PROTO_HEADER_LEN + L); /* half received: not shrunk */
    ck_assert_int_eq(proto_reader_feed(&rd, frame + PROTO_HEADER_LEN + L / 2, L - L / 2), 0);
    ck_assert_int_eq(proto_reader_feed(&rd, "\x00\x00\x00\x02" "a", 5), 0); /* the next one's start */
    const uint8_t *p;
    size_t n;
    ck_assert_int_eq(proto_reader_next(&rd, &p, &n), 1);
    ck_assert_uint_eq(n, L);
    proto_reader_compact(&rd);
    ck_assert_uint_eq(rd.cap, PROTO_READ_CHUNK);
    ck_assert_uint_eq(proto_reader_pending(&rd), 5);
    ck_assert_int_eq(proto_reader_feed(&rd, "b", 1), 0);
    ck_assert_int_eq(proto_reader_next(&rd, &p, &n), 1);
    ck_assert_uint_eq(n, 2);
    ck_assert_mem_eq(p, "ab", 2);
    proto_reader_free(&rd);
    free(frame);
}
END_TEST

START_TEST(no_growth_after_bad_length)
{
    /* a peer that keeps sending after a bad length does not make the buffer grow */
    proto_reader rd;
    proto_reader_init(&rd, PROTO_MAX_FRAME_DEFAULT);
    static uint8_t junk[64 * 1024];
    memset(junk, 0x41, sizeof(junk));
    proto_put_be32(junk, 0xffffffffu);
    for (int i = 0; i < 64; i++) /* 4 MiB in all */
        ck_assert_int_eq(proto_reader_feed(&rd, junk, sizeof(junk)), 0);
    ck_assert_uint_le(rd.cap, PROTO_READ_CHUNK);
    const uint8_t *p;
    size_t n;
    ck_assert_int_eq(proto_reader_next(&rd, &p, &n), SKR_EBAD_FRAME);
    proto_reader_free(&rd);
}
END_TEST

START_TEST(buffer_sized_to_the_frame)
{
    /* a max_frame frame read in chunks: the buffer holds max_frame + 4, not a power of 2 */
    const uint32_t max = PROTO_MAX_FRAME_DEFAULT;
    uint8_t *frame = malloc(4 + (size_t)max);
    ck_assert_ptr_nonnull(frame);
    proto_put_be32(frame, max);
    frame[4] = 0xc6; /* bin32 filling the frame */
    proto_put_be32(frame + 5, max - 5);
    memset(frame + 9, 0x5a, max - 5);
    proto_reader rd;
    proto_reader_init(&rd, max);
    size_t pos = 0;
    const uint8_t *p;
    size_t n;
    int rc = 0;
    while (pos < 4 + (size_t)max) {
        uint8_t *room;
        size_t roomn;
        ck_assert_int_eq(proto_reader_space(&rd, &room, &roomn), 0);
        size_t k = roomn < PROTO_READ_CHUNK ? roomn : PROTO_READ_CHUNK;
        if (k > 4 + (size_t)max - pos)
            k = 4 + (size_t)max - pos;
        memcpy(room, frame + pos, k);
        proto_reader_commit(&rd, k);
        pos += k;
        rc = proto_reader_next(&rd, &p, &n);
        if (rc != 0)
            break;
    }
    ck_assert_int_eq(rc, 1);
    ck_assert_uint_eq(n, max);
    ck_assert_mem_eq(p, frame + 4, max);
    ck_assert_uint_eq(rd.cap, 4 + (size_t)max);
    size_t obj;
    ck_assert_int_eq(proto_mp_check(p, n, &obj), 0);
    ck_assert_uint_eq(obj, max);
    proto_reader_free(&rd);
    free(frame);
}
END_TEST

/* ---- under an address-space cap ------------------------------------------------------------ */

#define HEADROOM ((rlim_t)1024 * 1024)   /* 1 MiB more than the process maps already */

#ifndef TEST_ASAN
static struct rlimit saved_as;
#endif

/* From here until uncap_memory, no block of HEADROOM or more can be had (plain build: an
 * address-space limit; ASan: the largest block asked for is checked at uncap_memory). */
static void cap_memory(void)
{
#ifdef TEST_ASAN
    ck_assert_int_ne(__sanitizer_install_malloc_and_free_hooks(on_malloc, on_free), 0);
    void *probe = malloc(2 * HEADROOM); /* the hook is live */
    ck_assert_uint_eq(largest_malloc, 2 * HEADROOM);
    free(probe);
    largest_malloc = 0;
#else
    long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fscanf(f, "%ld", &pages), 1);
    fclose(f);
    ck_assert_int_eq(getrlimit(RLIMIT_AS, &saved_as), 0);
    struct rlimit rl = saved_as;
    rl.rlim_cur = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + HEADROOM;
    ck_assert_int_eq(setrlimit(RLIMIT_AS, &rl), 0);
    /* the cap is real: 2 MiB cannot be had any more */
    void *probe = malloc(2 * HEADROOM);
    ck_assert_msg(probe == NULL, "the address-space cap does not hold");
#endif
}

static void uncap_memory(void)
{
#ifdef TEST_ASAN
    ck_assert_uint_lt(largest_malloc, HEADROOM);
#else
    ck_assert_int_eq(setrlimit(RLIMIT_AS, &saved_as), 0);
#endif
}

START_TEST(capped_huge_length)
{
    static uint8_t bytes[8192];
    memset(bytes, 0x90, sizeof(bytes));
    proto_put_be32(bytes, 0xffffffffu);
    proto_reader rd;
    proto_reader_init(&rd, PROTO_MAX_FRAME_LIMIT);
    cap_memory();
    ck_assert_int_eq(proto_reader_feed(&rd, bytes, sizeof(bytes)), 0);
    const uint8_t *p;
    size_t n;
    ck_assert_int_eq(proto_reader_next(&rd, &p, &n), SKR_EBAD_FRAME);
    uncap_memory();
    proto_reader_free(&rd);
}
END_TEST

START_TEST(capped_2mib_frame)
{
    size_t len = 2u * 1024 * 1024;
    uint8_t *frame = malloc(4 + len); /* taken before the cap */
    ck_assert_ptr_nonnull(frame);
    proto_put_be32(frame, (uint32_t)len);
    frame[4] = 0xc6;
    proto_put_be32(frame + 5, (uint32_t)len - 5);
    memset(frame + 9, 0x11, len - 5);
    proto_reader rd;
    proto_reader_init(&rd, PROTO_MAX_FRAME_DEFAULT);
    cap_memory();
    /* the whole 2 MiB goes in, in 64 KiB writes as a socket would deliver it */
    int rc = 0;
    for (size_t pos = 0; pos < 4 + len && rc == 0; pos += 65536) {
        size_t k = 4 + len - pos < 65536 ? 4 + len - pos : 65536;
        ck_assert_int_eq(proto_reader_feed(&rd, frame + pos, k), 0);
        const uint8_t *p;
        size_t n;
        rc = proto_reader_next(&rd, &p, &n);
    }
    ck_assert_int_eq(rc, SKR_EBAD_FRAME);
    ck_assert_uint_le(rd.cap, PROTO_READ_CHUNK);
    uncap_memory();
    proto_reader_free(&rd);
    free(frame);
}
END_TEST

START_TEST(capped_deep_nesting_and_counts)
{
    /* 10,000 nested arrays in a frame: read, then refused by the decoder, nothing allocated */
    enum { DEPTH = 10000 };
    static uint8_t frame[4 + DEPTH + 1];
    proto_put_be32(frame, DEPTH + 1);
    memset(frame + 4, 0x91, DEPTH);
    frame[4 + DEPTH] = 0xc0;
    static const uint8_t counts[][6] = {
        { 0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0 }, /* array32 of 2^32-1 */
        { 0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0 }, /* map32 of 2^32-1 */
        { 0xdb, 0xff, 0xff, 0xff, 0xff, 0x61 }, /* str32 of 2^32-1 */
        { 0xc6, 0xff, 0xff, 0xff, 0xff, 0x61 }, /* bin32 */
        { 0xc9, 0xff, 0xff, 0xff, 0xff, 0x01 }, /* ext32 */
    };
    proto_reader rd;
    proto_reader_init(&rd, PROTO_MAX_FRAME_DEFAULT);
    cap_memory();
    ck_assert_int_eq(proto_reader_feed(&rd, frame, sizeof(frame)), 0);
    const uint8_t *p;
    size_t n, obj;
    ck_assert_int_eq(proto_reader_next(&rd, &p, &n), 1);
    ck_assert_uint_eq(n, DEPTH + 1);
    proto_request req;
    char msg[PROTO_ERRMSG_MAX];
    ck_assert_int_eq(proto_request_decode(p, n, &req, msg), SKR_EBAD_FRAME);
    ck_assert_int_eq(proto_mp_check(p, n, &obj), SKR_EBAD_FRAME);
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        ck_assert_int_eq(proto_mp_check(counts[i], sizeof(counts[i]), &obj), SKR_EBAD_FRAME);
        ck_assert_int_eq(proto_request_decode(counts[i], sizeof(counts[i]), &req, msg), SKR_EBAD_FRAME);
    }
    uncap_memory();
    proto_reader_free(&rd);
}
END_TEST

/* ---- writer ---------------------------------------------------------------------------------- */

START_TEST(writer)
{
    proto_buf out = PROTO_BUF_INIT;
    size_t mark;
    ck_assert_int_eq(proto_buf_append(&out, "xy", 2), 0); /* something before */
    ck_assert_int_eq(proto_frame_begin(&out, &mark), 0);
    ck_assert_uint_eq(mark, 2);
    ck_assert_int_eq(proto_frame_end(&out, mark, 16), SKR_EINTERNAL); /* empty frame */
    ck_assert_int_eq(proto_buf_append(&out, "\x93\x01\x02\x03", 4), 0);
    ck_assert_int_eq(proto_frame_end(&out, mark, 4), 0); /* exactly max_frame */
    ck_assert_uint_eq(out.len, 10);
    ck_assert_mem_eq(out.data, "xy\0\0\0\x04\x93\x01\x02\x03", 10);

    ck_assert_int_eq(proto_frame_begin(&out, &mark), 0);
    ck_assert_int_eq(proto_buf_append(&out, "\x94\x01\x02\x03\x04", 5), 0);
    ck_assert_int_eq(proto_frame_end(&out, mark, 4), SKR_ETOO_LARGE);
    ck_assert_uint_eq(out.len, 10); /* the oversize frame is gone, the earlier bytes stay */
    ck_assert_mem_eq(out.data, "xy\0\0\0\x04\x93\x01\x02\x03", 10);
    for (size_t i = 10; i < 19; i++) /* and wiped */
        ck_assert_uint_eq(out.data[i], 0);
    proto_buf_free(&out);
    ck_assert_ptr_null(out.data);
    proto_buf_free(NULL);
}
END_TEST

START_TEST(be32_helpers)
{
    uint8_t b[4];
    proto_put_be32(b, 0x01020304u);
    ck_assert_mem_eq(b, "\x01\x02\x03\x04", 4);
    ck_assert_uint_eq(proto_be32(b), 0x01020304u);
    proto_put_be32(b, 0xffffffffu);
    ck_assert_uint_eq(proto_be32(b), 0xffffffffu);
    ck_assert_uint_eq(proto_be32((const uint8_t *)"\x80\0\0\0"), 0x80000000u);
}
END_TEST

START_TEST(buf_growth)
{
    proto_buf b = PROTO_BUF_INIT;
    uint8_t chunk[1000];
    for (size_t i = 0; i < sizeof(chunk); i++)
        chunk[i] = (uint8_t)(i + 1);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(proto_buf_append(&b, chunk, sizeof(chunk)), 0);
    ck_assert_uint_eq(b.len, 100000);
    ck_assert_uint_ge(b.cap, b.len);
    for (int i = 0; i < 100; i++)
        ck_assert_mem_eq(b.data + i * 1000, chunk, 1000);
    ck_assert_int_eq(proto_buf_reserve(&b, SIZE_MAX), SKR_ENOMEM);
    ck_assert_uint_eq(b.len, 100000);
    proto_buf_reset(&b);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.data[0], 0); /* wiped */
    proto_buf_free(&b);
}
END_TEST

static Suite *frame_suite(void)
{
    Suite *s = suite_create("frame");
    TCase *tc = tcase_create("reader");
    tcase_add_test(tc, split_at_every_byte);
    tcase_add_test(tc, byte_by_byte);
    tcase_add_test(tc, space_commit_uneven_reads);
    tcase_add_test(tc, feed_all_at_once);
    tcase_add_test(tc, length_bounds);
    tcase_add_test(tc, bad_length_is_sticky);
    tcase_add_test(tc, peek_ahead);
    tcase_add_test(tc, no_growth_after_bad_length);
    tcase_add_test(tc, buffer_sized_to_the_frame);
    suite_add_tcase(s, tc);
    tc = tcase_create("capped");
    tcase_add_test(tc, capped_huge_length);
    tcase_add_test(tc, capped_2mib_frame);
    tcase_add_test(tc, capped_deep_nesting_and_counts);
    suite_add_tcase(s, tc);
    tc = tcase_create("writer");
    tcase_add_test(tc, writer);
    tcase_add_test(tc, be32_helpers);
    tcase_add_test(tc, buf_growth);
    tcase_add_test(tc, shrinks_after_large_frame);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(frame_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
