/*
 * proto/request.h - requests: the operations, field limits, decode (daemon) and encode
 * (clients). PROTOCOL.md "Request", "Names" and "Operations".
 */
#ifndef PROTO_REQUEST_H
#define PROTO_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define PROTO_VERSION          1
#define PROTO_MAX_PROTOCOL     64
#define PROTO_MAX_NAME         256
#define PROTO_MAX_BODY         (64u * 1024u)
#define PROTO_MAX_PASSPHRASE   4096
#define PROTO_ERRMSG_MAX       160 /* room for a decode error message */

typedef enum proto_op {
    PROTO_OP_NONE = 0,
    PROTO_OP_PING, PROTO_OP_STATUS, PROTO_OP_GET, PROTO_OP_GETDB, PROTO_OP_GETHUB,
    PROTO_OP_POST, PROTO_OP_PUT, PROTO_OP_DELETE, PROTO_OP_INIT, PROTO_OP_UNLOCK,
    PROTO_OP_LOCK, PROTO_OP_PASSWD, PROTO_OP_ROTATE,
    PROTO_OP_COUNT
} proto_op;

/* Which optional fields a request carried (bits of proto_request.fields). */
enum {
    PROTO_F_PROTOCOL   = 1u << 0,
    PROTO_F_NAME       = 1u << 1,
    PROTO_F_BODY       = 1u << 2,
    PROTO_F_PASSPHRASE = 1u << 3,
    PROTO_F_OLD        = 1u << 4,
    PROTO_F_NEW        = 1u << 5,
    PROTO_F_ROTATE     = 1u << 6, /* passwd: `rotate` present (its value in .rotate) */
    PROTO_F_CREATED    = 1u << 7, /* post/put: `created` given (in .created) */
    PROTO_F_MODIFIED   = 1u << 8, /* post/put: `modified` given (in .modified) */
};

/* The largest `created` / `modified`: 9999-12-31T23:59:59Z in unix seconds. */
#define PROTO_MAX_TIME INT64_C(253402300799)

typedef struct proto_span {
    const uint8_t *ptr;
    uint32_t len;
} proto_span;

typedef struct proto_request {
    uint32_t id;
    proto_op op;
    unsigned fields;                          /* PROTO_F_* present */
    char protocol[PROTO_MAX_PROTOCOL + 1];    /* NUL-terminated, validated */
    uint32_t protocol_len;
    char name[PROTO_MAX_NAME + 1];            /* NUL-terminated, validated */
    uint32_t name_len;
    proto_span body;        /* one packed MessagePack object, inside the frame */
    proto_span passphrase;  /* inside the frame (wipe the frame after use) */
    proto_span old_pass;
    proto_span new_pass;
    bool rotate;            /* passwd: also replace the data key */
    int64_t created;        /* post/put: unix seconds, 0..PROTO_MAX_TIME (PROTO_F_CREATED) */
    int64_t modified;       /* (PROTO_F_MODIFIED) */
} proto_request;

/* The wire name of an op ("getDb"), or NULL. */
const char *proto_op_name(proto_op op);
/* The op of a wire name, or PROTO_OP_NONE. */
proto_op proto_op_from_name(const char *s, size_t len);

/* 1 if s[0..len) is a valid protocol / name by PROTOCOL.md "Names", else 0. */
int proto_valid_protocol(const char *s, size_t len);
int proto_valid_name(const char *s, size_t len);

/*
 * Decodes one frame payload into *req, checking every rule of PROTOCOL.md, including the
 * arguments the op requires. On failure returns the code to answer with (SKR_EBAD_FRAME
 * when the payload is not exactly one well-formed MessagePack object; then SKR_EBAD_REQUEST,
 * SKR_EUNSUPPORTED or SKR_EUNKNOWN_OP; a `v` other than 1 is answered SKR_EUNSUPPORTED
 * before any other field is judged), writes a one-line reason naming the field into
 * msg, and leaves in req->id the request's id when it could be read (else 0).
 * Spans in *req point into buf: keep buf alive while using them.
 */
int proto_request_decode(const uint8_t *buf, size_t len, proto_request *req,
                         char msg[PROTO_ERRMSG_MAX]);
/*
 * The same decode, always the careful way: the frame checked whole first, then the id and
 * version found, then every field read. proto_request_decode reads a request that is good
 * throughout in one pass and hands anything else to this function, so the two give the
 * same code, message and *req for every payload (tests/unit/test_request.c checks both on
 * every request it builds, and on mutated ones).
 */
int proto_request_decode_checked(const uint8_t *buf, size_t len, proto_request *req,
                                 char msg[PROTO_ERRMSG_MAX]);

/*
 * Appends one request frame to out, keys in this fixed order: id, op, protocol, name,
 * body, passphrase, old, new, rotate, created, modified (only those present in
 * req->fields; passphrases as str, rotate as a bool, the times as the shortest uint).
 * Every client packs this way, so the same call gives the same bytes from any client.
 * 0, SKR_ENOMEM, SKR_EINVAL (an invalid field: bad protocol or name, a body that is not
 * one MessagePack object nested at most PROTO_MAX_DEPTH - 1 deep, an empty passphrase),
 * a time outside 0..PROTO_MAX_TIME), or SKR_ETOO_LARGE (body over PROTO_MAX_BODY, passphrase over PROTO_MAX_PASSPHRASE, frame
 * over max_frame).
 */
int proto_request_encode(proto_buf *out, const proto_request *req, uint32_t max_frame);

#endif
