/*
 * client/lib/internal.h - shared between the library's sources; not installed.
 *
 * The library in three parts: transport.c (the connection and the one exchange loop);
 * call.c (one request and its answer, and the raw skr_call) under ops_read.c (get,
 * batches, getDb, getHub), ops_write.c (post, put, delete) and ops_hub.c (ping, status,
 * passphrases, lock, rotate), one function per operation; list.c and cred.c (the objects
 * handed to the caller). json.c renders bodies; names.c has the limits, the name rules
 * and the version.
 */
#ifndef CLIENT_INTERNAL_H
#define CLIENT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>

#include "sekrets/sekrets.h"
#include "buf.h"
#include "frame.h"
#include "mp.h"
#include "request.h"
#include "response.h"

/* Answers can be larger than requests (a getDb of a big protocol): the codec's ceiling. */
#define CLIENT_MAX_FRAME PROTO_MAX_FRAME_LIMIT

struct skr_client {
    int fd;                 /* -1 once the connection broke */
    int timeout_ms;
    uint32_t next_id;
    int has_extra_uid;      /* $SEKRETS_DAEMON_UID was set (at connect): extra_uid */
    uid_t extra_uid;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char errmsg[256];
    int64_t retry_after;    /* the last error's retry_after, or -1 */
    size_t nambiguous;      /* the last error's protocols (ambiguous) */
    char ambiguous[PROTO_MAX_AMBIGUOUS][PROTO_MAX_PROTOCOL + 1];
    proto_buf out;          /* request bytes; wiped once sent */
    proto_buf reply;        /* the last answer's payload; wiped before reuse */
    proto_reader rd;
};

/* ---- transport.c ---- */

/* Called for the i-th answer of a round trip; *resp (spans into c->reply) is valid until
 * the next answer is taken, and the last one until the next call on the client. */
typedef void (*transport_answer_fn)(void *ctx, size_t i, const proto_response *resp);

/*
 * The one exchange loop: sends c->out (n request frames) while reading the n answers, so
 * that neither side stalls on a full socket, within the client's timeout. With `first`,
 * answer i must carry id *first + i; without (raw calls), every answer is delivered as it
 * is. An answer with id 0 and ok false is the daemon refusing what it could not read (it
 * hangs up after it): with `first` that code is returned. 0 when all n answers arrived
 * (whatever each one says: an error answer's message is in c->errmsg); otherwise a
 * transport error, and the connection is closed. c->out is wiped in every case.
 * A connection the daemon closed while idle is reopened first (transport.c says why).
 */
int transport_roundtrip(skr_client *c, const uint32_t *first, size_t n,
                        transport_answer_fn on_answer, void *ctx);
/* Forgets the details of the previous call's error (message, retry_after, protocols). */
void client_clear_error(skr_client *c);
/* Closes the connection; later calls get SKR_EIO. */
void transport_break(skr_client *c);

/* Copies at most cap-1 bytes of s into dst, NUL-terminated, cut at a UTF-8 boundary. */
void copy_utf8_bounded(char *dst, size_t cap, const char *s, size_t n);

/* ---- call.c ---- */

/* Copies the NUL-terminated s (1..cap bytes) into dst, *dst_len its length; SKR_EINVAL for
 * NULL, empty or longer. */
int call_set_str(char *dst, uint32_t *dst_len, size_t cap, const char *s);
/* One call with a filled request (its id is set here): 0 for ok:true (*resp points into
 * c->reply until the next call), the answer's code for ok:false (its message in
 * c->errmsg), or a transport error. SKR_EINVAL when c is NULL. */
int call_request(skr_client *c, proto_request *req, proto_response *resp);
/* call_request of an op without arguments, whose result is not read. */
int call_op(skr_client *c, proto_op op);
/* In the result map of resp, the value of `key` (*val a cursor at it), or SKR_EPROTOCOL
 * when the result is not a map or lacks the key; call_result_bool reads it as a bool. */
int call_result_key(const proto_response *resp, const char *key, proto_cur *val);
int call_result_bool(const proto_response *resp, const char *key, bool *v);

/* ---- list.c ---- */

/* A new empty list with room for n entries (n is bounded by the frame that announced it). */
int list_new(uint32_t n, skr_list **out);
/* Appends a copy of s[0..len) with its count; room was made by list_new. */
int list_add(skr_list *l, const char *s, uint32_t len, uint64_t count);

/* ---- cred.c, json.c ---- */

/* Makes a credential from a get result map (raw bytes already checked by the decoder). */
int cred_from_result(const uint8_t *p, size_t len, skr_cred **out);

/* Appends JSON text for the one object at c (advancing it). */
int json_render(proto_buf *out, proto_cur *c, int flags, int depth);

#endif
