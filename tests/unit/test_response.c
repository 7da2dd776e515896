/*
 * proto/response.c and proto/error.c: response encodings, decoding of good and malformed
 * replies, too_large answers, and the error vocabulary for every code.
 */
#include <check.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "mp.h"
#include "request.h"
#include "response.h"
#include "sekrets/error.h"

/* ---- error vocabulary ------------------------------------------------------------------------ */

static const struct { int code; const char *name; const char *text; } codes[] = {
    { SKR_OK, NULL, "success" },
    { SKR_EBAD_FRAME, "bad_frame", "malformed frame" },
    { SKR_EBAD_REQUEST, "bad_request", "malformed request" },
    { SKR_EUNSUPPORTED, "unsupported", "unsupported protocol version" },
    { SKR_EUNKNOWN_OP, "unknown_op", "unknown operation" },
    { SKR_ENOT_FOUND, "not_found", "not found" },
    { SKR_EAMBIGUOUS, "ambiguous", "name is held by more than one protocol" },
    { SKR_EEXISTS, "exists", "already exists" },
    { SKR_ELOCKED, "locked", "hub is locked" },
    { SKR_EDENIED, "denied", "permission denied" },
    { SKR_EBAD_PASSPHRASE, "bad_passphrase", "wrong passphrase" },
    { SKR_ERATE_LIMITED, "rate_limited", "too many failed attempts, try again later" },
    { SKR_ETOO_LARGE, "too_large", "value too large" },
    { SKR_EINTEGRITY, "integrity", "stored record failed authentication" },
    { SKR_EBUSY, "busy", "daemon is at its connection limit" },
    { SKR_EINTERNAL, "internal", "internal error" },
    { SKR_ECONNECT, NULL, "cannot connect to the daemon" },
    { SKR_EIO, NULL, "connection to the daemon failed" },
    { SKR_ETIMEOUT, NULL, "timed out waiting for the daemon" },
    { SKR_ENOMEM, NULL, "out of memory" },
    { SKR_EPROTOCOL, NULL, "daemon sent an invalid reply" },
    { SKR_EINVAL, NULL, "invalid argument" },
};
#define N_CODES (int)(sizeof(codes) / sizeof(codes[0]))

START_TEST(error_vocabulary)
{
    const int code = codes[_i].code;
    ck_assert_int_eq(code, -_i); /* the table covers every code, in order */
    ck_assert_str_eq(skr_strerror(code), codes[_i].text);
    if (codes[_i].name == NULL) {
        ck_assert_ptr_null(skr_error_name(code));
    } else {
        ck_assert_str_eq(skr_error_name(code), codes[_i].name);
        ck_assert_int_eq(skr_error_from_name(codes[_i].name, strlen(codes[_i].name)), code);
    }
}
END_TEST

START_TEST(error_vocabulary_edges)
{
    ck_assert_int_eq(N_CODES, 1 - SKR_ERR_MIN);
    ck_assert_str_eq(skr_strerror(1), "unknown error");
    ck_assert_str_eq(skr_strerror(SKR_ERR_MIN - 1), "unknown error");
    ck_assert_str_eq(skr_strerror(-1000), "unknown error");
    ck_assert_ptr_null(skr_error_name(1));
    ck_assert_ptr_null(skr_error_name(SKR_ERR_MIN - 1));
    ck_assert_int_eq(skr_error_from_name("nope", 4), SKR_EINTERNAL);
    ck_assert_int_eq(skr_error_from_name("", 0), SKR_EINTERNAL);
    ck_assert_int_eq(skr_error_from_name("not_foundx", 9), SKR_ENOT_FOUND); /* length counts */
    ck_assert_int_eq(skr_error_from_name("not_foun", 8), SKR_EINTERNAL);
    ck_assert_int_eq(skr_error_from_name("NOT_FOUND", 9), SKR_EINTERNAL);
}
END_TEST

/* ---- encode ------------------------------------------------------------------------------------ */

static void decode_frame(const proto_buf *out, size_t at, proto_response *r)
{
    ck_assert_uint_ge(out->len, at + 4);
    uint32_t len = proto_be32(out->data + at);
    ck_assert_uint_eq(at + 4 + len, out->len);
    ck_assert_int_eq(proto_response_decode(out->data + at + 4, len, r), 0);
}

START_TEST(error_every_wire_code)
{
    for (int code = SKR_EBAD_FRAME; code >= SKR_EINTERNAL; code--) {
        proto_buf out = PROTO_BUF_INIT;
        ck_assert_int_eq(proto_response_error(&out, 77, code, NULL), 0);
        proto_response r;
        decode_frame(&out, 0, &r);
        ck_assert_uint_eq(r.id, 77);
        ck_assert(!r.ok);
        ck_assert_int_eq(r.code, code);
        ck_assert_uint_eq(r.message.len, strlen(skr_strerror(code)));
        ck_assert_mem_eq(r.message.ptr, skr_strerror(code), r.message.len);
        ck_assert_ptr_null(r.result.ptr);
        proto_buf_free(&out);
    }
}
END_TEST

START_TEST(error_client_code_sent_as_internal)
{
    static const int client_only[] = { SKR_OK, SKR_ECONNECT, SKR_EIO, SKR_ETIMEOUT, SKR_ENOMEM,
                                       SKR_EPROTOCOL, SKR_EINVAL, 5, -99 };
    for (size_t i = 0; i < sizeof(client_only) / sizeof(client_only[0]); i++) {
        proto_buf out = PROTO_BUF_INIT;
        ck_assert_int_eq(proto_response_error(&out, 1, client_only[i], NULL), 0);
        proto_response r;
        decode_frame(&out, 0, &r);
        ck_assert_int_eq(r.code, SKR_EINTERNAL);
        ck_assert_uint_eq(r.message.len, strlen("internal error"));
        proto_buf_free(&out);
    }
}
END_TEST

START_TEST(error_bytes_exact)
{
    proto_buf out = PROTO_BUF_INIT;
    ck_assert_int_eq(proto_response_error(&out, 0x12345678u, SKR_ELOCKED, ""), 0);
    static const uint8_t want[] =
        "\x00\x00\x00\x29\x83\xa2id\xce\x12\x34\x56\x78\xa2ok\xc2\xa5" "error"
        "\x82\xa4" "code\xa6locked\xa7message\xa0";
    ck_assert_uint_eq(out.len, sizeof(want) - 1);
    ck_assert_mem_eq(out.data, want, sizeof(want) - 1);
    proto_response r;
    decode_frame(&out, 0, &r);
    ck_assert_uint_eq(r.id, 0x12345678u);
    ck_assert_int_eq(r.code, SKR_ELOCKED);
    ck_assert_uint_eq(r.message.len, 0);
    proto_buf_free(&out);
}
END_TEST

/* The optional keys of "Error details": packed after message, read back by the decoder;
 * an error map without them decodes as before (error_bytes_exact). */
START_TEST(error_details_round_trip)
{
    proto_buf out = PROTO_BUF_INIT;
    const char *held[] = { "mail", "web" };
    proto_error_extra amb = { .protocols = held, .nprotocols = 2 };
    ck_assert_int_eq(proto_response_error_ex(&out, 7, SKR_EAMBIGUOUS, "m", &amb), 0);
    static const uint8_t want[] =
        "\x00\x00\x00\x3d\x83\xa2id\x07\xa2ok\xc2\xa5" "error"
        "\x83\xa4" "code\xa9" "ambiguous\xa7message\xa1m"
        "\xa9protocols\x92\xa4mail\xa3web";
    ck_assert_uint_eq(out.len, sizeof(want) - 1);
    ck_assert_mem_eq(out.data, want, sizeof(want) - 1);
    proto_response r;
    decode_frame(&out, 0, &r);
    ck_assert_int_eq(r.code, SKR_EAMBIGUOUS);
    ck_assert_uint_eq(r.protocols.len, 10);
    ck_assert_mem_eq(r.protocols.ptr, "\x92\xa4mail\xa3web", 10);
    ck_assert(!r.has_retry_after);
    proto_buf_reset(&out);
    proto_error_extra wait = { .has_retry_after = true, .retry_after = 60 };
    ck_assert_int_eq(proto_response_error_ex(&out, 8, SKR_ERATE_LIMITED, NULL, &wait), 0);
    decode_frame(&out, 0, &r);
    ck_assert_int_eq(r.code, SKR_ERATE_LIMITED);
    ck_assert(r.has_retry_after);
    ck_assert_uint_eq(r.retry_after, 60);
    ck_assert_uint_eq(r.protocols.len, 0);
    /* out of bounds: refused before anything is appended */
    size_t len = out.len;
    const char *many[PROTO_MAX_AMBIGUOUS + 1];
    for (size_t i = 0; i <= PROTO_MAX_AMBIGUOUS; i++)
        many[i] = "p";
    proto_error_extra over = { .protocols = many, .nprotocols = PROTO_MAX_AMBIGUOUS + 1 };
    ck_assert_int_eq(proto_response_error_ex(&out, 9, SKR_EAMBIGUOUS, NULL, &over), SKR_EINVAL);
    ck_assert_uint_eq(out.len, len);
    proto_buf_free(&out);
    /* mistyped details are a malformed answer */
    static const char bad1[] = "\x83\xa2id\x01\xa2ok\xc2\xa5" "error\x82\xa4" "code\xa4" "busy"
                               "\xa9protocols\x91\x01";
    ck_assert_int_eq(proto_response_decode((const uint8_t *)bad1, sizeof(bad1) - 1, &r), SKR_EPROTOCOL);
    static const char bad2[] = "\x83\xa2id\x01\xa2ok\xc2\xa5" "error\x82\xa4" "code\xa4" "busy"
                               "\xabretry_after\xff";
    ck_assert_int_eq(proto_response_decode((const uint8_t *)bad2, sizeof(bad2) - 1, &r), SKR_EPROTOCOL);
}
END_TEST

START_TEST(error_message_cut_at_char_boundary)
{
    /* 1023 ASCII bytes then a 2-byte character: the cut at 1024 would split it */
    char msg[1100];
    memset(msg, 'm', 1023);
    memcpy(msg + 1023, "\xc3\xa9", 2);
    memcpy(msg + 1025, "tail", 5);
    proto_buf out = PROTO_BUF_INIT;
    ck_assert_int_eq(proto_response_error(&out, 2, SKR_EINTERNAL, msg), 0);
    proto_response r;
    decode_frame(&out, 0, &r);
    ck_assert_uint_eq(r.message.len, 1023);
    ck_assert_mem_eq(r.message.ptr, msg, 1023);
    proto_buf_reset(&out);
    /* 1024 ASCII bytes and more: cut at exactly 1024 */
    memset(msg, 'm', 1099);
    msg[1099] = '\0';
    ck_assert_int_eq(proto_response_error(&out, 2, SKR_EINTERNAL, msg), 0);
    decode_frame(&out, 0, &r);
    ck_assert_uint_eq(r.message.len, PROTO_MAX_MESSAGE);
    proto_buf_reset(&out);
    /* a 4-byte character straddling 1024 */
    memset(msg, 'm', 1022);
    memcpy(msg + 1022, "\xf0\x9f\x94\x91", 4);
    msg[1026] = '\0';
    ck_assert_int_eq(proto_response_error(&out, 2, SKR_EINTERNAL, msg), 0);
    decode_frame(&out, 0, &r);
    ck_assert_uint_eq(r.message.len, 1022);
    proto_buf_free(&out);
}
END_TEST

START_TEST(ok_result_and_too_large)
{
    proto_buf out = PROTO_BUF_INIT;
    msgpack_packer pk;
    size_t mark;
    ck_assert_int_eq(proto_buf_append(&out, "\x00\x00\x00\x01\xc0", 5), 0); /* an earlier frame */
    ck_assert_int_eq(proto_response_begin_ok(&out, &pk, 3, &mark), 0);
    ck_assert_uint_eq(mark, 5);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_uint8(&pk, 1);
    proto_pack_str(&pk, "xyz", 2);
    ck_assert_int_eq(proto_frame_end(&out, mark, PROTO_MAX_FRAME_DEFAULT), 0);
    static const uint8_t want[] = "\x00\x00\x00\x15\x83\xa2id\x03\xa2ok\xc3\xa6result\x92\x01\xa2xy";
    ck_assert_uint_eq(out.len, 5 + sizeof(want) - 1);
    ck_assert_mem_eq(out.data + 5, want, sizeof(want) - 1);
    proto_response r;
    decode_frame(&out, 5, &r);
    ck_assert(r.ok);
    ck_assert_uint_eq(r.id, 3);
    ck_assert_int_eq(r.code, 0);
    ck_assert_uint_eq(r.result.len, 5);
    ck_assert_mem_eq(r.result.ptr, "\x92\x01\xa2xy", 5);
    ck_assert_uint_eq(r.message.len, 0);

    /* a result past max_frame: too_large, the partial answer removed, then an error sent */
    size_t before = out.len;
    ck_assert_int_eq(proto_response_begin_ok(&out, &pk, 4, &mark), 0);
    static char big[2000];
    memset(big, 'b', sizeof(big));
    proto_pack_str(&pk, big, sizeof(big));
    ck_assert_int_eq(proto_frame_end(&out, mark, 1024), SKR_ETOO_LARGE);
    ck_assert_uint_eq(out.len, before);
    ck_assert_int_eq(proto_response_error(&out, 4, SKR_ETOO_LARGE, NULL), 0);
    decode_frame(&out, before, &r);
    ck_assert_int_eq(r.code, SKR_ETOO_LARGE);
    ck_assert_uint_eq(r.id, 4);
    proto_buf_free(&out);
}
END_TEST

/* Buffer growth fails for blocks of at least this many bytes (proto_buf_set_allocator). */
static size_t fail_from;
static void *failing_malloc(size_t n)
{
    return n >= fail_from ? NULL : malloc(n);
}

START_TEST(failed_append_drops_the_frame)
{
    proto_buf out = PROTO_BUF_INIT;
    msgpack_packer pk;
    size_t mark;
    ck_assert_int_eq(proto_response_ok_empty(&out, 1), 0); /* an earlier, sealed frame */
    size_t first = out.len;
    uint8_t sealed[64];
    memcpy(sealed, out.data, first);

    /* A reply whose big body cannot be appended, then small fields that still fit: the
     * hole must not be sealed into a frame (it would decode as a different reply). */
    fail_from = 4096;
    proto_buf_set_allocator(failing_malloc);
    ck_assert_int_eq(proto_response_begin_ok(&out, &pk, 2, &mark), 0);
    msgpack_pack_map(&pk, 2);
    PROTO_PACK_LIT(&pk, "body");
    static uint8_t big[8192];
    ck_assert_int_eq(proto_buf_append(&out, big, sizeof(big)), SKR_ENOMEM);
    ck_assert(out.failed);
    PROTO_PACK_LIT(&pk, "created"); /* these succeed: the buffer has room for them */
    msgpack_pack_int64(&pk, 7);
    ck_assert_uint_gt(out.len, mark);
    ck_assert_int_eq(proto_frame_end(&out, mark, PROTO_MAX_FRAME_DEFAULT), SKR_ENOMEM);
    ck_assert_uint_eq(out.len, first); /* the frame is gone, the earlier one intact */
    ck_assert_mem_eq(out.data, sealed, first);
    ck_assert(!out.failed);

    /* every encoder drops its frame too: an error reply whose message cannot be appended */
    static char msg[PROTO_MAX_MESSAGE];
    memset(msg, 'm', sizeof(msg) - 1);
    fail_from = 1;
    ck_assert_int_eq(proto_response_error(&out, 3, SKR_EINTERNAL, msg), SKR_ENOMEM);
    ck_assert_uint_eq(out.len, first);
    proto_buf_set_allocator(NULL);

    /* with memory back, the next reply is whole */
    ck_assert_int_eq(proto_response_error(&out, 3, SKR_EINTERNAL, "out of memory"), 0);
    proto_response r;
    decode_frame(&out, first, &r);
    ck_assert_uint_eq(r.id, 3);
    ck_assert_int_eq(r.code, SKR_EINTERNAL);
    proto_buf_free(&out);
}
END_TEST

/* ---- the answer to get, written whole (proto_response_ok_record) ------------------------------ */

static const uint32_t edge_ids[] = { 0, 1, 127, 128, 255, 256, 65535, 65536, UINT32_MAX };
#define N_EDGE_IDS (sizeof(edge_ids) / sizeof(edge_ids[0]))

static void ref_lit(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

/* An ok answer's frame as msgpack-c packs it, up to "result"; the caller packs the result
 * and seals it with ref_end. The reference the direct writers are held to. */
static void ref_begin(msgpack_sbuffer *sb, msgpack_packer *pk, uint32_t id)
{
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(pk, sb, msgpack_sbuffer_write);
    msgpack_sbuffer_write(sb, "\0\0\0\0", 4);
    msgpack_pack_map(pk, 3);
    ref_lit(pk, "id");
    msgpack_pack_uint32(pk, id);
    ref_lit(pk, "ok");
    msgpack_pack_true(pk);
    ref_lit(pk, "result");
}

static void ref_end(msgpack_sbuffer *sb)
{
    proto_put_be32((uint8_t *)sb->data, (uint32_t)(sb->size - PROTO_HEADER_LEN));
}

static void ref_record(msgpack_sbuffer *sb, uint32_t id, const proto_record *r)
{
    msgpack_packer pk;
    ref_begin(sb, &pk, id);
    msgpack_pack_map(&pk, 5);
    ref_lit(&pk, "protocol");
    msgpack_pack_str(&pk, r->protocol_len);
    msgpack_pack_str_body(&pk, r->protocol, r->protocol_len);
    ref_lit(&pk, "name");
    msgpack_pack_str(&pk, r->name_len);
    msgpack_pack_str_body(&pk, r->name, r->name_len);
    ref_lit(&pk, "body");
    msgpack_sbuffer_write(sb, (const char *)r->body, r->body_len);
    ref_lit(&pk, "created");
    msgpack_pack_int64(&pk, r->created);
    ref_lit(&pk, "modified");
    msgpack_pack_int64(&pk, r->modified);
    ref_end(sb);
}

/* proto_response_ok_record after an earlier frame: exactly the reference's bytes. */
static void check_record(uint32_t id, const proto_record *r)
{
    proto_buf out = PROTO_BUF_INIT;
    ck_assert_int_eq(proto_buf_append(&out, "\x00\x00\x00\x01\xc0", 5), 0);
    ck_assert_int_eq(proto_response_ok_record(&out, id, r, PROTO_MAX_FRAME_LIMIT), 0);
    msgpack_sbuffer sb;
    ref_record(&sb, id, r);
    ck_assert_msg(out.len - 5 == sb.size && memcmp(out.data + 5, sb.data, sb.size) == 0,
                  "id %u, protocol %zu, name %zu, body %zu bytes, created %lld, modified %lld",
                  (unsigned)id, r->protocol_len, r->name_len, r->body_len,
                  (long long)r->created, (long long)r->modified);
    ck_assert(!out.failed);
    msgpack_sbuffer_destroy(&sb);
    proto_buf_free(&out);
}

START_TEST(ok_head_bytes_as_msgpack)
{
    for (size_t i = 0; i < N_EDGE_IDS; i++) {
        proto_buf out = PROTO_BUF_INIT;
        msgpack_packer pk;
        size_t mark;
        ck_assert_int_eq(proto_response_begin_ok(&out, &pk, edge_ids[i], &mark), 0);
        msgpack_pack_nil(&pk);
        ck_assert_int_eq(proto_frame_end(&out, mark, PROTO_MAX_FRAME_DEFAULT), 0);
        msgpack_sbuffer sb;
        msgpack_packer rpk;
        ref_begin(&sb, &rpk, edge_ids[i]);
        msgpack_pack_nil(&rpk);
        ref_end(&sb);
        ck_assert_uint_eq(out.len, sb.size);
        ck_assert_mem_eq(out.data, sb.data, sb.size);
        msgpack_sbuffer_destroy(&sb);
        proto_buf_free(&out);
    }
}
END_TEST

START_TEST(ok_record_bytes_as_msgpack)
{
    /* every boundary of msgpack_pack_int64, uint32 and str */
    static const int64_t ints[] = {
        INT64_MIN, (int64_t)INT32_MIN - 1, INT32_MIN, -32769, -32768, -129, -128, -33, -32, -1,
        0, 1, 127, 128, 255, 256, 65535, 65536, UINT32_MAX, (int64_t)UINT32_MAX + 1, INT64_MAX,
    };
    static const size_t lens[] = { 0, 1, 31, 32, 255, 256, 65535, 65536 };
    const size_t n_ints = sizeof(ints) / sizeof(ints[0]), n_lens = sizeof(lens) / sizeof(lens[0]);
    char *text = malloc(65537); /* names start at text + 1 */
    ck_assert_ptr_nonnull(text);
    for (size_t i = 0; i < 65537; i++)
        text[i] = (char)('a' + i % 26);
    static uint8_t bin300[3 + 300] = { 0xc5, 0x01, 0x2c };
    proto_record r = { "github", 6, "alice", 5, (const uint8_t *)"\xc0", 1, 0, 0 };

    for (size_t i = 0; i < n_ints; i++)
        for (size_t j = 0; j < n_ints; j++) {
            r.created = ints[i];
            r.modified = ints[j];
            check_record(edge_ids[(i + j) % N_EDGE_IDS], &r);
        }
    for (size_t i = 0; i < N_EDGE_IDS; i++) {
        r.body = i % 2 ? bin300 : (const uint8_t *)"\x81\xa1k\xa1v";
        r.body_len = i % 2 ? sizeof(bin300) : 5;
        check_record(edge_ids[i], &r);
    }
    for (size_t a = 0; a < n_lens; a++)
        for (size_t b = 0; b < n_lens; b++) {
            r = (proto_record){ text, lens[a], text + 1, lens[b], bin300, sizeof(bin300),
                                ints[a], ints[n_ints - 1 - b] };
            check_record(UINT32_MAX - (uint32_t)b, &r);
        }
    free(text);
}
END_TEST

START_TEST(ok_record_too_large_or_no_memory)
{
    static uint8_t body[2000] = { 0xc5, 0x07, 0xcd };
    proto_record r = { "p", 1, "n", 1, body, sizeof(body), 1, 2 };
    msgpack_sbuffer sb;
    ref_record(&sb, 9, &r);
    uint32_t frame = (uint32_t)(sb.size - PROTO_HEADER_LEN);
    msgpack_sbuffer_destroy(&sb);

    /* an earlier, sealed frame stays whole whatever happens to this one */
    proto_buf out = PROTO_BUF_INIT;
    ck_assert_int_eq(proto_response_ok_empty(&out, 1), 0);
    size_t first = out.len;
    uint8_t sealed[64];
    memcpy(sealed, out.data, first);

    /* max_frame one byte short: too_large, and nothing left behind */
    ck_assert_int_eq(proto_response_ok_record(&out, 9, &r, frame - 1), SKR_ETOO_LARGE);
    ck_assert_uint_eq(out.len, first);
    ck_assert_mem_eq(out.data, sealed, first);
    for (size_t i = first; i < first + PROTO_HEADER_LEN + frame; i++)
        ck_assert_uint_eq(out.data[i], 0); /* the dropped answer (a body) is wiped */
    /* lengths no MessagePack str header can carry: too_large, nothing read or written */
    proto_record huge = r;
    huge.body_len = (size_t)UINT32_MAX + 1;
    ck_assert_int_eq(proto_response_ok_record(&out, 9, &huge, UINT32_MAX), SKR_ETOO_LARGE);
    ck_assert_uint_eq(out.len, first);
    /* max_frame exactly: sealed */
    ck_assert_int_eq(proto_response_ok_record(&out, 9, &r, frame), 0);
    ck_assert_uint_eq(out.len, first + PROTO_HEADER_LEN + frame);

    /* no memory for the answer: SKR_ENOMEM, nothing appended, nothing left failed */
    proto_buf_free(&out);
    ck_assert_int_eq(proto_response_ok_empty(&out, 1), 0);
    fail_from = 1;
    proto_buf_set_allocator(failing_malloc);
    ck_assert_int_eq(proto_response_ok_record(&out, 9, &r, PROTO_MAX_FRAME_DEFAULT), SKR_ENOMEM);
    proto_buf_set_allocator(NULL);
    ck_assert_uint_eq(out.len, first);
    ck_assert_mem_eq(out.data, sealed, first);
    ck_assert(!out.failed);

    /* an append that failed before (sticky, buf.h): the frame is not sealed */
    out.failed = true;
    ck_assert_int_eq(proto_response_ok_record(&out, 9, &r, PROTO_MAX_FRAME_DEFAULT), SKR_ENOMEM);
    ck_assert_uint_eq(out.len, first);
    ck_assert(!out.failed);

    /* with memory back, the answer is whole and decodes */
    ck_assert_int_eq(proto_response_ok_record(&out, 9, &r, PROTO_MAX_FRAME_DEFAULT), 0);
    proto_response d;
    decode_frame(&out, first, &d);
    ck_assert(d.ok);
    ck_assert_uint_eq(d.id, 9);
    proto_buf_free(&out);
}
END_TEST

/* A body may nest PROTO_MAX_DEPTH - 1 deep (as a request's body); get's answer puts it in
 * the record map inside the response map, one level deeper than a request: the decoder
 * reads it (found by fuzz_dispatch, which decodes every reply of the real dispatch). */
START_TEST(decode_record_of_deepest_body)
{
    uint8_t body[PROTO_MAX_DEPTH];
    memset(body, 0x91, PROTO_MAX_DEPTH - 1); /* 31 arrays, the last holding nil */
    body[PROTO_MAX_DEPTH - 1] = 0xc0;
    proto_record r = { "p", 1, "n", 1, body, sizeof(body), 1, 2 };
    proto_buf out = PROTO_BUF_INIT;
    ck_assert_int_eq(proto_response_ok_record(&out, 7, &r, PROTO_MAX_FRAME_DEFAULT), 0);
    proto_response resp;
    ck_assert_int_eq(proto_response_decode(out.data + PROTO_HEADER_LEN,
                                           out.len - PROTO_HEADER_LEN, &resp), 0);
    ck_assert(resp.ok);
    ck_assert_uint_eq(resp.id, 7);
    ck_assert_ptr_nonnull(memmem(resp.result.ptr, resp.result.len, body, sizeof(body)));
    /* one array more than any answer holds is still refused */
    uint8_t deeper[PROTO_MAX_DEPTH + 1];
    memset(deeper, 0x91, PROTO_MAX_DEPTH);
    deeper[PROTO_MAX_DEPTH] = 0xc0;
    r.body = deeper;
    r.body_len = sizeof(deeper);
    proto_buf_reset(&out);
    ck_assert_int_eq(proto_response_ok_record(&out, 7, &r, PROTO_MAX_FRAME_DEFAULT), 0);
    ck_assert_int_eq(proto_response_decode(out.data + PROTO_HEADER_LEN,
                                           out.len - PROTO_HEADER_LEN, &resp), SKR_EPROTOCOL);
    proto_buf_free(&out);
}
END_TEST

START_TEST(pack_cstr)
{
    proto_buf out = PROTO_BUF_INIT;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &out, proto_buf_msgpack_write);
    proto_pack_cstr(&pk, "hi");
    proto_pack_cstr(&pk, "");
    ck_assert_uint_eq(out.len, 4);
    ck_assert_mem_eq(out.data, "\xa2hi\xa0", 4);
    proto_buf_free(&out);
}
END_TEST

/* ---- decode ----------------------------------------------------------------------------------- */

typedef struct reply {
    const char *what;
    const char *b;
    size_t n;
} reply;
#define R(what, lit) { what, lit, sizeof(lit) - 1 }

START_TEST(decode_good_variants)
{
    proto_response r;
    /* other key order, unknown keys, an unknown code, no message */
    static const char a[] = "\x84\xa6result\x90\xa1x\xc0\xa2ok\xc3\xa2id\x05";
    ck_assert_int_eq(proto_response_decode((const uint8_t *)a, sizeof(a) - 1, &r), 0);
    ck_assert(r.ok);
    ck_assert_uint_eq(r.id, 5);
    ck_assert_uint_eq(r.result.len, 1);
    ck_assert_uint_eq(r.result.ptr[0], 0x90);
    static const char b[] = "\x83\xa5" "error\x83\xa1z\x01\xa4" "code\xa9" "from_v999\xa7message\xa1m"
                            "\xa2ok\xc2\xa2id\xcd\x01\x00";
    ck_assert_int_eq(proto_response_decode((const uint8_t *)b, sizeof(b) - 1, &r), 0);
    ck_assert(!r.ok);
    ck_assert_uint_eq(r.id, 256);
    ck_assert_int_eq(r.code, SKR_EINTERNAL);
    ck_assert_uint_eq(r.message.len, 1);
    static const char c[] = "\x83\xa2id\x00\xa2ok\xc2\xa5" "error\x81\xa4" "code\xa4" "busy";
    ck_assert_int_eq(proto_response_decode((const uint8_t *)c, sizeof(c) - 1, &r), 0);
    ck_assert_int_eq(r.code, SKR_EBUSY);
    ck_assert_uint_eq(r.message.len, 0);
    static const char d[] = "\x83\xa2id\xce\xff\xff\xff\xff\xa2ok\xc3\xa6result\xc0";
    ck_assert_int_eq(proto_response_decode((const uint8_t *)d, sizeof(d) - 1, &r), 0);
    ck_assert_uint_eq(r.id, UINT32_MAX);
    ck_assert_uint_eq(r.result.len, 1);
}
END_TEST

static const reply bad_replies[] = {
    R("empty", ""),
    R("not a map", "\x93\x01\xc3\xc0"),
    R("truncated", "\x83\xa2id\x01\xa2ok"),
    R("trailing byte", "\x83\xa2id\x01\xa2ok\xc3\xa6result\xc0\xc0"),
    R("0xc1", "\x83\xa2id\xc1\xa2ok\xc3\xa6result\xc0"),
    R("no id", "\x82\xa2ok\xc3\xa6result\xc0"),
    R("no ok", "\x82\xa2id\x01\xa6result\xc0"),
    R("ok without result", "\x82\xa2id\x01\xa2ok\xc3"),
    R("ok with only error", "\x83\xa2id\x01\xa2ok\xc3\xa5" "error\x81\xa4" "code\xa4" "busy"),
    R("error without error", "\x83\xa2id\x01\xa2ok\xc2\xa6result\xc0"),
    R("error without code", "\x83\xa2id\x01\xa2ok\xc2\xa5" "error\x81\xa7message\xa1m"),
    R("error not a map", "\x83\xa2id\x01\xa2ok\xc2\xa5" "error\xa4" "busy"),
    R("code not a str", "\x83\xa2id\x01\xa2ok\xc2\xa5" "error\x81\xa4" "code\x05"),
    R("message not a str", "\x83\xa2id\x01\xa2ok\xc2\xa5" "error\x82\xa4" "code\xa4" "busy\xa7message\x01"),
    R("error key not a str", "\x83\xa2id\x01\xa2ok\xc2\xa5" "error\x82\xa4" "code\xa4" "busy\x01\x01"),
    R("id negative", "\x83\xa2id\xff\xa2ok\xc3\xa6result\xc0"),
    R("id 2^32", "\x83\xa2id\xcf\x00\x00\x00\x01\x00\x00\x00\x00\xa2ok\xc3\xa6result\xc0"),
    R("id a str", "\x83\xa2id\xa1" "1\xa2ok\xc3\xa6result\xc0"),
    R("ok not a bool", "\x83\xa2id\x01\xa2ok\x01\xa6result\xc0"),
    R("key not a str", "\x84\xa2id\x01\xa2ok\xc3\xa6result\xc0\x01\x02"),
    /* a value may nest 32 deep inside the response map (decode_record_of_deepest_body) */
    R("too deep", "\x83\xa2id\x01\xa2ok\xc3\xa6result"
                  "\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91"
                  "\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\xc0"),
};

START_TEST(decode_malformed)
{
    const reply *b = &bad_replies[_i];
    proto_response r;
    ck_assert_msg(proto_response_decode((const uint8_t *)b->b, b->n, &r) == SKR_EPROTOCOL, "%s", b->what);
}
END_TEST

static Suite *response_suite(void)
{
    Suite *s = suite_create("response");
    TCase *tc = tcase_create("errors");
    tcase_add_loop_test(tc, error_vocabulary, 0, N_CODES);
    tcase_add_test(tc, error_vocabulary_edges);
    suite_add_tcase(s, tc);
    tc = tcase_create("encode");
    tcase_add_test(tc, error_every_wire_code);
    tcase_add_test(tc, error_client_code_sent_as_internal);
    tcase_add_test(tc, error_bytes_exact);
    tcase_add_test(tc, error_details_round_trip);
    tcase_add_test(tc, error_message_cut_at_char_boundary);
    tcase_add_test(tc, ok_result_and_too_large);
    tcase_add_test(tc, failed_append_drops_the_frame);
    tcase_add_test(tc, pack_cstr);
    tcase_add_test(tc, ok_head_bytes_as_msgpack);
    tcase_add_test(tc, ok_record_bytes_as_msgpack);
    tcase_add_test(tc, ok_record_too_large_or_no_memory);
    tcase_add_test(tc, decode_record_of_deepest_body);
    suite_add_tcase(s, tc);
    tc = tcase_create("decode");
    tcase_add_test(tc, decode_good_variants);
    tcase_add_loop_test(tc, decode_malformed, 0, (int)(sizeof(bad_replies) / sizeof(bad_replies[0])));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(response_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
