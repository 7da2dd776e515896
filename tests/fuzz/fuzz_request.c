/*
 * Fuzz target for the wire codec: the input is a byte stream from a peer. It goes through
 * a proto_reader in a few chunks; every frame is decoded as a request, and each request
 * that decodes is encoded again and must decode to the same fields; proto_request_decode
 * and proto_request_decode_checked must agree on every frame. Every decode error
 * must give a message that is printable one-line text. The raw input also goes through
 * proto_response_decode and proto_mp_check. Any broken property aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../decode_paths.h"
#include "frame.h"
#include "mp.h"
#include "request.h"
#include "response.h"
#include "sekrets/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MUST(cond) do { if (!(cond)) abort(); } while (0)

static int same_span(proto_span a, proto_span b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static void check_roundtrip(const proto_request *req)
{
    proto_buf out = PROTO_BUF_INIT;
    MUST(proto_request_encode(&out, req, PROTO_MAX_FRAME_LIMIT) == 0);
    MUST(out.len >= PROTO_HEADER_LEN && proto_be32(out.data) == out.len - PROTO_HEADER_LEN);
    proto_request again;
    char msg[PROTO_ERRMSG_MAX];
    MUST(proto_request_decode(out.data + PROTO_HEADER_LEN, out.len - PROTO_HEADER_LEN, &again, msg) == 0);
    MUST(again.id == req->id && again.op == req->op && again.fields == req->fields);
    MUST(strcmp(again.protocol, req->protocol) == 0 && again.protocol_len == req->protocol_len);
    MUST(strcmp(again.name, req->name) == 0 && again.name_len == req->name_len);
    MUST(same_span(again.body, req->body));
    MUST(same_span(again.passphrase, req->passphrase));
    MUST(same_span(again.old_pass, req->old_pass));
    MUST(same_span(again.new_pass, req->new_pass));
    proto_buf_free(&out);
}

static void check_frame(const uint8_t *p, size_t n)
{
    proto_request req;
    char msg[PROTO_ERRMSG_MAX];
    int rc;
    /* the one-pass decode and the careful one agree (decode_paths.h) */
    MUST(decode_paths_differ(p, n, &req, msg, &rc) == NULL);
    if (rc == 0) {
        MUST(msg[0] == '\0');
        MUST(req.op > PROTO_OP_NONE && req.op < PROTO_OP_COUNT);
        check_roundtrip(&req);
        return;
    }
    MUST(rc == SKR_EBAD_FRAME || rc == SKR_EBAD_REQUEST || rc == SKR_EUNSUPPORTED ||
         rc == SKR_EUNKNOWN_OP);
    /* the message goes back to the peer as a str: printable ASCII, one line, not empty */
    size_t mlen = strlen(msg);
    MUST(mlen > 0 && mlen < PROTO_ERRMSG_MAX);
    for (size_t i = 0; i < mlen; i++)
        MUST(msg[i] >= 0x20 && msg[i] < 0x7f);
    /* and the error answer built from it decodes back */
    proto_buf out = PROTO_BUF_INIT;
    MUST(proto_response_error(&out, req.id, rc, msg) == 0);
    proto_response r;
    MUST(proto_response_decode(out.data + PROTO_HEADER_LEN, out.len - PROTO_HEADER_LEN, &r) == 0);
    MUST(!r.ok && r.code == rc && r.id == req.id && r.message.len == mlen);
    proto_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The stream, in chunks of about a third, the first one cut short so that headers
     * get split too. A small max_frame keeps the "too long" path reachable. */
    proto_reader rd;
    proto_reader_init(&rd, 64 * 1024);
    size_t cuts[4] = { size / 3 > 0 ? size / 3 - (size / 3 > 1) : 0, size / 3, size / 2, size };
    size_t pos = 0;
    int failed = 0;
    for (int c = 0; c < 4 && !failed; c++) {
        size_t to = cuts[c] > pos ? cuts[c] : pos;
        if (to > size)
            to = size;
        if (proto_reader_feed(&rd, data + pos, to - pos) != 0)
            abort();
        pos = to;
        const uint8_t *p;
        size_t n;
        int rc;
        while ((rc = proto_reader_next(&rd, &p, &n)) == 1) {
            MUST(n >= 1 && n <= rd.max_frame);
            check_frame(p, n);
        }
        if (rc == SKR_EBAD_FRAME)
            failed = 1; /* the daemon closes here */
        else
            MUST(rc == 0);
    }
    proto_reader_free(&rd);

    /* The raw input as one payload, for the decoders that have no reader in front. */
    size_t obj;
    if (proto_mp_check(data, size, &obj) == 0)
        MUST(obj >= 1 && obj <= size);
    proto_response r;
    if (proto_response_decode(data, size, &r) == 0) {
        MUST(r.ok ? r.code == 0 && r.result.ptr != NULL : r.code < 0);
        if (r.ok)
            MUST(r.result.ptr >= data && r.result.ptr + r.result.len <= data + size);
    }
    if (size > PROTO_HEADER_LEN)
        check_frame(data + PROTO_HEADER_LEN, size - PROTO_HEADER_LEN);
    return 0;
}
