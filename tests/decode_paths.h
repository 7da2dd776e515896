/*
 * tests/decode_paths.h - one payload through both request decoders: proto_request_decode
 * (one pass for a request that is good throughout, the careful path for the rest) and
 * proto_request_decode_checked (always the careful path). They must agree on the code,
 * the message and every field of the request. For the unit tests and the fuzz target.
 */
#ifndef TESTS_DECODE_PATHS_H
#define TESTS_DECODE_PATHS_H

#include <string.h>

#include "request.h"

static inline int decode_paths_same_span(proto_span a, proto_span b)
{
    /* Spans point into the same payload: the same place, not just the same bytes. */
    return a.len == b.len && a.ptr == b.ptr;
}

/* Decodes buf both ways into *req (the public decoder's result) and msg; *rc gets its
 * code. NULL when the two agree, else the name of the first thing that differs. */
static inline const char *decode_paths_differ(const uint8_t *buf, size_t len, proto_request *req,
                                              char msg[PROTO_ERRMSG_MAX], int *rc)
{
    proto_request c;
    char cmsg[PROTO_ERRMSG_MAX];
    *rc = proto_request_decode(buf, len, req, msg);
    int crc = proto_request_decode_checked(buf, len, &c, cmsg);
    if (*rc != crc)
        return "code";
    if (strcmp(msg, cmsg) != 0)
        return "message";
    if (req->id != c.id || req->op != c.op || req->fields != c.fields)
        return "id, op or fields";
    if (req->protocol_len != c.protocol_len || strcmp(req->protocol, c.protocol) != 0)
        return "protocol";
    if (req->name_len != c.name_len || strcmp(req->name, c.name) != 0)
        return "name";
    if (!decode_paths_same_span(req->body, c.body))
        return "body";
    if (!decode_paths_same_span(req->passphrase, c.passphrase) ||
        !decode_paths_same_span(req->old_pass, c.old_pass) ||
        !decode_paths_same_span(req->new_pass, c.new_pass))
        return "a passphrase";
    if (req->rotate != c.rotate)
        return "rotate";
    if (req->created != c.created || req->modified != c.modified)
        return "created or modified";
    /* Both zero the request first: what is left of it is the same too. */
    if (memcmp(req, &c, sizeof(c)) != 0)
        return "the rest of the request";
    return NULL;
}

#endif
