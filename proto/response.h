/*
 * proto/response.h - responses (PROTOCOL.md "Response"): encode (daemon), decode (clients).
 *
 * Keys are packed in the order id, ok, result|error, and an error map as code, message:
 * the byte layout of PROTOCOL.md's example.
 */
#ifndef PROTO_RESPONSE_H
#define PROTO_RESPONSE_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "request.h"

/*
 * Starts an ok response frame in out: the length prefix, the map header, id, ok=true and
 * the "result" key. The caller packs exactly one result object with *pk, then calls
 * proto_frame_end(out, *mark, max_frame). 0 or SKR_ENOMEM.
 */
int proto_response_begin_ok(proto_buf *out, msgpack_packer *pk, uint32_t id, size_t *mark);

/* What an ok answer to `get` carries (the daemon's store_record, seen from proto/). */
typedef struct proto_record {
    const char *protocol;
    size_t protocol_len;
    const char *name;
    size_t name_len;
    const uint8_t *body;    /* one packed MessagePack object, copied as is */
    size_t body_len;
    int64_t created;
    int64_t modified;
} proto_record;

/*
 * Appends a whole ok answer to `get`: {"id", "ok": true, "result": {"protocol", "name",
 * "body", "created", "modified"}}, byte for byte what proto_response_begin_ok and
 * msgpack_pack_map/str/int64 give, written with one reserve. 0; SKR_ENOMEM (nothing
 * appended; or an earlier append had failed, see buf.h); SKR_ETOO_LARGE (the answer
 * exceeds max_frame: nothing appended).
 */
int proto_response_ok_record(proto_buf *out, uint32_t id, const proto_record *r,
                             uint32_t max_frame);

#define PROTO_MAX_MESSAGE 1024 /* an error message is cut to this many bytes */

/* Appends a whole error response frame for `code` (a wire code; any other code is sent as
 * "internal") with a one-line message (NULL: skr_strerror(code)), cut to
 * PROTO_MAX_MESSAGE bytes at a UTF-8 character boundary. 0 or SKR_ENOMEM. */
int proto_response_error(proto_buf *out, uint32_t id, int code, const char *message);

/* The optional keys an error map may carry beside code and message (PROTOCOL.md
 * "Error details", an extension of the shared contract; clients that do not know them
 * ignore them). */
#define PROTO_MAX_AMBIGUOUS 32 /* protocols named in one `ambiguous` answer */

typedef struct proto_error_extra {
    const char *const *protocols; /* ambiguous: the protocols holding the name */
    size_t nprotocols;            /* 0: no `protocols` key; at most PROTO_MAX_AMBIGUOUS */
    bool has_retry_after;         /* rate_limited: `retry_after` is sent */
    uint32_t retry_after;         /* seconds to wait, rounded up */
} proto_error_extra;

/* proto_response_error with the optional keys of `extra` (NULL: none), packed after
 * message in the order protocols, retry_after. 0, SKR_ENOMEM, or SKR_EINVAL when
 * nprotocols exceeds PROTO_MAX_AMBIGUOUS or a protocol is too long. */
int proto_response_error_ex(proto_buf *out, uint32_t id, int code, const char *message,
                            const proto_error_extra *extra);

/* Appends an ok response whose result is an empty map ({}). */
int proto_response_ok_empty(proto_buf *out, uint32_t id);

typedef struct proto_response {
    uint32_t id;
    bool ok;
    proto_span result;   /* ok: the raw packed result object */
    int code;            /* !ok: the SKR_E* code of error.code */
    proto_span message;  /* !ok: error.message (may be empty) */
    proto_span protocols; /* !ok: error.protocols, the packed array of str (len 0: absent) */
    bool has_retry_after; /* !ok: error.retry_after was sent */
    uint32_t retry_after; /* its seconds (a larger value is read as UINT32_MAX) */
} proto_response;

/*
 * Decodes one response payload. Spans point into buf. 0, or SKR_EPROTOCOL when the payload
 * is not a well-formed response of PROTOCOL.md (unknown keys are ignored).
 */
int proto_response_decode(const uint8_t *buf, size_t len, proto_response *r);

/* Packs a str (msgpack_pack_str + body). */
void proto_pack_str(msgpack_packer *pk, const char *s, size_t n);
void proto_pack_cstr(msgpack_packer *pk, const char *s);
/* Packs a string literal (its length known at compile time). */
#define PROTO_PACK_LIT(pk, lit) proto_pack_str((pk), "" lit, sizeof(lit) - 1)

#endif
