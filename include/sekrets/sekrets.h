/*
 * sekrets/sekrets.h - libsekrets, the C client of sekretsd.
 *
 * A small blocking API over the daemon's Unix socket (PROTOCOL.md, version 1). The read
 * calls mirror pyswark.sekrets: skr_get(name, protocol), skr_get_db(protocol),
 * skr_get_hub().
 *
 * Conventions
 *  - Every function returning int returns 0 (SKR_OK) or a negative SKR_E* code of
 *    <sekrets/error.h>; skr_strerror() describes it. When the daemon answered with an
 *    error, skr_client_errmsg() gives its message for the most recent call.
 *  - Out-parameters are written only on success; on failure they are left untouched.
 *  - Objects returned through `**out` belong to the caller and are released with the
 *    matching *_free function; every free accepts NULL and wipes (sodium_memzero) any
 *    memory that held a credential body, passphrase or reply.
 *  - Strings returned by accessors (const char *) are NUL-terminated and owned by the
 *    object they came from; they stay valid until that object is freed.
 *  - Errors: each call's comment lists the codes particular to it. Besides those, every
 *    call that talks to the daemon may return the codes of these four groups (skr_get_batch
 *    returns those of groups 1 to 3 and skr_call those of 1 and 2; the daemon's other
 *    answers are in their codes[] and *error):
 *     1. before anything is sent: SKR_EINVAL when c, or a pointer the call needs, is NULL;
 *     2. the transport: SKR_EIO (connection broken, now or by an earlier call),
 *        SKR_ETIMEOUT, SKR_ENOMEM, SKR_EPROTOCOL (a reply that is not PROTOCOL.md's), and
 *        SKR_EDENIED when the reconnect after an idle close (see skr_connect) finds a
 *        daemon of another uid;
 *     3. the daemon refusing the connection (it answers once, then hangs up): SKR_EDENIED
 *        (no grant covers the peer), SKR_EBUSY (at a connection limit), SKR_EBAD_FRAME
 *        (it could not read the request's frame);
 *     4. the daemon's general answers: SKR_ELOCKED (while the hub is locked, every op but
 *        ping, status, init and unlock; while it is not initialised, every op but ping,
 *        status and init), SKR_EDENIED (the peer's grant does not cover the
 *        op or the protocol), SKR_EINTEGRITY (a value in the hub file failed
 *        authentication or is corrupt), SKR_EBAD_REQUEST (an argument the daemon refuses,
 *        such as a name that fails skr_valid_name), SKR_EUNSUPPORTED and SKR_EUNKNOWN_OP
 *        (a daemon that does not speak this protocol version or this op), SKR_EBUSY (the
 *        hub's readers are all taken) and SKR_EINTERNAL (out of memory, a disk error or a
 *        full disk on the daemon's side).
 *  - Argument order: the client first, then what names the record, then its data, then
 *    out-parameters. Reads name a credential as (name, protocol), the order of pyswark's
 *    get(name, protocol=None), since the protocol there is optional; writes take
 *    (protocol, name), the order of the hub itself, since both are required.
 *  - Lengths are size_t; strings without a length are NUL-terminated.
 *
 * Thread-safety: the library has no global state after skr_connect's first call. A
 * skr_client is not thread-safe: use one client per thread (or serialise calls on it with
 * your own lock). Credentials, lists and strings returned may be passed between threads;
 * a skr_cred must not be used by two threads at once (its string accessors fill a cache).
 */
#ifndef SEKRETS_SEKRETS_H
#define SEKRETS_SEKRETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sekrets/error.h>
#include <sekrets/version.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#  define SKR_WUR __attribute__((warn_unused_result))
#else
#  define SKR_WUR
#endif

#define SKR_DEFAULT_TIMEOUT_MS 30000 /* per call, used when a timeout <= 0 is given */

typedef struct skr_client skr_client;
typedef struct skr_cred skr_cred;
typedef struct skr_list skr_list;

/* ---------------------------------------------------------------- connection ---- */

/*
 * Writes the default socket path into buf (size bytes, NUL-terminated): $SEKRETS_SOCKET
 * when set and non-empty, else $XDG_RUNTIME_DIR/sekrets/sekretsd.sock (XDG_RUNTIME_DIR
 * must be an absolute path: a relative one is ignored, as the XDG spec says, and as
 * sekretsd does). 0; SKR_ECONNECT when neither applies; SKR_EINVAL when it does not fit.
 */
SKR_EXPORT int skr_default_socket(char *buf, size_t size);

/*
 * Connects to the daemon at `path` (NULL: skr_default_socket). `timeout_ms` bounds the
 * connect and then every later call on this client (<= 0: SKR_DEFAULT_TIMEOUT_MS).
 * On success *out is a new client, released with skr_client_close; on failure *out is
 * NULL (which skr_client_close accepts).
 *
 * The daemon is authenticated before anything is sent: the uid that listens on the socket
 * (SO_PEERCRED) must be the caller's effective uid, root (0), or the uid given in the
 * environment variable SEKRETS_DAEMON_UID (decimal; for a daemon run by a service user
 * you trust). Anyone else gets nothing: SKR_EDENIED, and nothing was written to it.
 *
 * A client may be kept for many calls. sekretsd closes connections left idle past its
 * --idle-timeout (5 minutes by default): the next call then connects again by itself,
 * with the same checks, before it sends anything. A connection that breaks during a call
 * is not reopened: that call and later ones get SKR_EIO (connect again to go on).
 *
 * SKR_ECONNECT (no socket path, no socket, refused, path empty or too long), SKR_ETIMEOUT,
 * SKR_ENOMEM, SKR_EDENIED (the daemon runs as another uid), SKR_EINVAL (out is NULL, or
 * SEKRETS_DAEMON_UID is not a number), SKR_EINTERNAL (libsodium failed to initialise).
 */
SKR_EXPORT SKR_WUR int skr_connect(const char *path, int timeout_ms, skr_client **out);

/*
 * skr_connect that also says why it failed: on failure, why (size bytes, may be NULL) gets
 * a one-line reason naming the socket's problem ("No such file or directory", "daemon at
 * PATH runs as uid N, not you", ...); on success why is untouched.
 */
SKR_EXPORT SKR_WUR int skr_connect_why(const char *path, int timeout_ms, skr_client **out,
                                        char *why, size_t size);

/* Closes the connection and frees the client (wiping its buffers). NULL is fine. */
SKR_EXPORT void skr_client_close(skr_client *c);

/* Changes the per-call timeout (<= 0: SKR_DEFAULT_TIMEOUT_MS). */
SKR_EXPORT void skr_client_set_timeout(skr_client *c, int timeout_ms);

/* The socket path this client connected to (owned by the client). */
SKR_EXPORT const char *skr_client_path(const skr_client *c);

/*
 * The message of the daemon's error answer to the most recent call on c, or "" when that
 * call did not end in a daemon error. Owned by c, valid until the next call on c. It is
 * the daemon's text as sent (at most 255 bytes, cut at a UTF-8 boundary): untrusted,
 * escape it before showing it on a terminal.
 */
SKR_EXPORT const char *skr_client_errmsg(const skr_client *c);

/*
 * Details of that same error answer (PROTOCOL.md "Error details"), valid until the next
 * call on c. skr_client_retry_after: for SKR_ERATE_LIMITED, the seconds the daemon asks
 * the caller to wait before trying again (rounded up), or -1 when the answer said none.
 * skr_client_ambiguous_count / skr_client_ambiguous: for SKR_EAMBIGUOUS, the protocols
 * holding the name (at most 32, only those this peer may see; 0 from an older daemon),
 * and the i-th of them (owned by c; NULL when i is out of range). The names are valid
 * protocol names (others the daemon might send are dropped).
 */
SKR_EXPORT int64_t skr_client_retry_after(const skr_client *c);
SKR_EXPORT size_t skr_client_ambiguous_count(const skr_client *c);
SKR_EXPORT const char *skr_client_ambiguous(const skr_client *c, size_t i);

/* ------------------------------------------------------------------- limits ---- */

/*
 * The wire's limits (PROTOCOL.md "Names"), as macros for buffers and as functions for
 * code that must follow the library it runs against rather than the headers it was built
 * with. A protocol is 1..SKR_MAX_PROTOCOL bytes of [A-Za-z0-9][A-Za-z0-9._-]*; a name
 * 1..SKR_MAX_NAME bytes of strict UTF-8 without control characters; a body one MessagePack
 * object of at most SKR_MAX_BODY bytes packed; a passphrase 1..SKR_MAX_PASSPHRASE bytes.
 */
#define SKR_MAX_PROTOCOL   64
#define SKR_MAX_NAME       256
#define SKR_MAX_BODY       (64u * 1024u)
#define SKR_MAX_PASSPHRASE 4096
SKR_EXPORT size_t skr_max_protocol(void);
SKR_EXPORT size_t skr_max_name(void);
SKR_EXPORT size_t skr_max_body(void);
SKR_EXPORT size_t skr_max_passphrase(void);

/* Whether the daemon would take s (len bytes, no NUL needed) as a protocol / a name:
 * the same check as the daemon's, so a caller can refuse bad input before connecting. */
SKR_EXPORT bool skr_valid_protocol(const char *s, size_t len);
SKR_EXPORT bool skr_valid_name(const char *s, size_t len);

/* -------------------------------------------------------------- credentials ---- */

/*
 * get: the credential `name` in `protocol`; protocol NULL searches every protocol
 * (SKR_EAMBIGUOUS when several hold the name). On success *out is a new credential,
 * released with skr_cred_free. SKR_ENOT_FOUND, SKR_EAMBIGUOUS, SKR_EINTEGRITY (the stored
 * record failed authentication), SKR_EINVAL (out NULL, name NULL, or name or protocol
 * empty or over its limit: nothing sent; one that breaks the rules of
 * skr_valid_name/skr_valid_protocol otherwise is answered SKR_EBAD_REQUEST by the daemon),
 * SKR_ETOO_LARGE (the answer would exceed the daemon's --max-frame).
 */
SKR_EXPORT SKR_WUR int skr_get(skr_client *c, const char *name, const char *protocol,
                                skr_cred **out);

/* One look-up of a batch (see skr_get_batch). */
typedef struct skr_get_req {
    const char *name;
    const char *protocol; /* may be NULL */
} skr_get_req;

/*
 * Pipelines n gets on one connection: every request is sent without waiting, the answers
 * are read as they come. For each i, codes[i] gets 0 and creds[i] a new credential, or
 * codes[i] an error code and creds[i] NULL. Returns 0 when every answer arrived (whatever
 * the per-item codes), else the error and then creds[] holds nothing (all NULL): SKR_EINVAL
 * (reqs, creds or codes NULL with n > 0, n over UINT32_MAX / 2, or one name or protocol
 * as skr_get refuses it: nothing sent), or one of groups 1 to 3 of the conventions.
 * codes[i] is any code skr_get returns for that answer, but those of groups 1 to 3.
 * n may be 0. The caller frees each creds[i].
 */
SKR_EXPORT SKR_WUR int skr_get_batch(skr_client *c, const skr_get_req *reqs, size_t n,
                                      skr_cred **creds, int *codes);

/* Wipes and frees a credential (and every string handed out from it). NULL is fine. */
SKR_EXPORT void skr_cred_free(skr_cred *cred);

/* The protocol and name of the credential (owned by cred). */
SKR_EXPORT const char *skr_cred_protocol(const skr_cred *cred);
SKR_EXPORT const char *skr_cred_name(const skr_cred *cred);
/* Creation and modification times, unix seconds (0 in a sub-credential). */
SKR_EXPORT int64_t skr_cred_created(const skr_cred *cred);
SKR_EXPORT int64_t skr_cred_modified(const skr_cred *cred);

/* The raw MessagePack body: *body points into cred (valid until skr_cred_free). */
SKR_EXPORT void skr_cred_body(const skr_cred *cred, const void **body, size_t *len);

/* Kinds of a body field. */
typedef enum skr_type {
    SKR_TYPE_NONE = 0, /* no such field, or the body is not a map */
    SKR_TYPE_NIL, SKR_TYPE_BOOL, SKR_TYPE_INT, SKR_TYPE_FLOAT, SKR_TYPE_STRING,
    SKR_TYPE_BINARY, SKR_TYPE_ARRAY, SKR_TYPE_MAP, SKR_TYPE_EXT,
} skr_type;

/* The kind of the top-level field `field` of the body (a map with string keys). */
SKR_EXPORT skr_type skr_cred_type(const skr_cred *cred, const char *field);

/*
 * A string (or binary) field as a NUL-terminated copy owned by cred, wiped by
 * skr_cred_free; *len (may be NULL) gets its length (the value may hold NUL bytes).
 * SKR_ENOT_FOUND (no such field), SKR_EINVAL (not a string or binary), SKR_ENOMEM.
 */
SKR_EXPORT SKR_WUR int skr_cred_string(skr_cred *cred, const char *field,
                                        const char **value, size_t *len);

/* An integer field. SKR_ENOT_FOUND, SKR_EINVAL (not an integer or beyond int64). */
SKR_EXPORT SKR_WUR int skr_cred_int(const skr_cred *cred, const char *field, int64_t *value);

/* Any field's raw MessagePack bytes, pointing into cred. SKR_ENOT_FOUND, SKR_EINVAL (value
 * or len NULL). */
SKR_EXPORT SKR_WUR int skr_cred_raw(const skr_cred *cred, const char *field,
                                     const void **value, size_t *len);

/*
 * A nested map field as a credential of its own (same accessors; protocol and name are
 * those of cred, times 0). *out is new, freed with skr_cred_free.
 * SKR_ENOT_FOUND, SKR_EINVAL (not a map), SKR_ENOMEM.
 */
SKR_EXPORT SKR_WUR int skr_cred_map(const skr_cred *cred, const char *field, skr_cred **out);

/*
 * The body rendered as JSON (see skr_msgpack_to_json). *json is new, NUL-terminated,
 * released with skr_string_free (wiped). SKR_EINVAL (cred or json NULL, or the body as
 * skr_msgpack_to_json refuses it), SKR_ENOMEM.
 */
SKR_EXPORT SKR_WUR int skr_cred_json(const skr_cred *cred, int flags, char **json);

/* ------------------------------------------------------------------- lists ---- */

/*
 * getDb: the names of `protocol` in creation order. *out is new (skr_list_free).
 * SKR_ENOT_FOUND when there is no such protocol, SKR_EINVAL (protocol as for skr_get; out
 * NULL), SKR_ETOO_LARGE (the list would exceed the daemon's --max-frame).
 */
SKR_EXPORT SKR_WUR int skr_get_db(skr_client *c, const char *protocol, skr_list **out);

/* getHub: the protocols sorted by name, each with its number of credentials (a peer under
 * a grant sees its protocols only). SKR_EINVAL (out NULL), SKR_ETOO_LARGE (as for getDb). */
SKR_EXPORT SKR_WUR int skr_get_hub(skr_client *c, skr_list **out);

/* Entries of a list: names (getDb) or protocols (getHub), owned by the list. */
SKR_EXPORT size_t skr_list_size(const skr_list *l);
SKR_EXPORT const char *skr_list_name(const skr_list *l, size_t i);   /* NULL if out of range */
SKR_EXPORT uint64_t skr_list_count(const skr_list *l, size_t i);     /* getHub counts; 0 otherwise */
SKR_EXPORT void skr_list_free(skr_list *l);

/* ------------------------------------------------------------------ writes ---- */

/*
 * post: creates `name` in `protocol` with `body` (one MessagePack object, at most 64 KiB).
 * SKR_EEXISTS when the name is already there. The body bytes are not kept.
 * post, put and delete: SKR_EINVAL (protocol or name NULL, empty or over its limit, or no
 * body: nothing sent), SKR_ETOO_LARGE (body over SKR_MAX_BODY: nothing sent).
 */
SKR_EXPORT SKR_WUR int skr_post(skr_client *c, const char *protocol, const char *name,
                                 const void *body, size_t body_len);
/* put: creates or replaces; *created (may be NULL) tells which. SKR_EINTEGRITY when the
 * record it would replace fails authentication (delete it first). */
SKR_EXPORT SKR_WUR int skr_put(skr_client *c, const char *protocol, const char *name,
                                const void *body, size_t body_len, bool *created);
/*
 * post and put with the record's times (unix seconds, 0..SKR_TIME_MAX, i.e. up to
 * 9999-12-31T23:59:59Z; another value: SKR_EINVAL, nothing sent), or SKR_TIME_NOW for
 * either: a new record then gets now, a replace keeps its created and gets modified now.
 * What `sekrets-cli import` uses to keep the dates of a file. A daemon older than these
 * fields ignores them (the record gets now).
 */
#define SKR_TIME_NOW INT64_MIN
#define SKR_TIME_MAX INT64_C(253402300799)
SKR_EXPORT SKR_WUR int skr_post_at(skr_client *c, const char *protocol, const char *name,
                                    const void *body, size_t body_len, int64_t created,
                                    int64_t modified);
SKR_EXPORT SKR_WUR int skr_put_at(skr_client *c, const char *protocol, const char *name,
                                   const void *body, size_t body_len, int64_t created,
                                   int64_t modified, bool *was_created);
/* delete: *deleted (may be NULL) is false when there was no such credential. */
SKR_EXPORT SKR_WUR int skr_delete(skr_client *c, const char *protocol, const char *name,
                                   bool *deleted);

/* ------------------------------------------------------------ hub and keys ---- */

typedef struct skr_status {
    bool initialized;
    bool locked;
    char version[32];
    uint64_t protocols;
    uint64_t credentials;
    uint64_t uptime_s;
    uint64_t idle_lock_s; /* 0: never */
} skr_status;

/* ping: 0 when the daemon answers "pong" (SKR_EPROTOCOL otherwise). status: the hub's
 * state (a peer under a grant gets the counts of its protocols only, 0 while locked);
 * SKR_EINVAL (out NULL). Neither gets SKR_ELOCKED. */
SKR_EXPORT SKR_WUR int skr_ping(skr_client *c);
SKR_EXPORT SKR_WUR int skr_get_status(skr_client *c, skr_status *out);

/*
 * Passphrase operations. The passphrase bytes (1..4096) are copied into a request buffer
 * that is wiped as soon as it is sent; the caller wipes its own copy.
 * init: SKR_EEXISTS when already initialised, SKR_ERATE_LIMITED (another key derivation
 * is running). unlock and passwd: SKR_EBAD_PASSPHRASE, SKR_ERATE_LIMITED (see
 * skr_client_retry_after); unlock of an unlocked hub succeeds without checking the
 * passphrase. lock has no error of its own (SKR_ELOCKED when the hub is locked already).
 * A passphrase NULL or of a length outside 1..SKR_MAX_PASSPHRASE: SKR_EINVAL, nothing
 * sent.
 */
SKR_EXPORT SKR_WUR int skr_init(skr_client *c, const char *pass, size_t len);
SKR_EXPORT SKR_WUR int skr_unlock(skr_client *c, const char *pass, size_t len);
SKR_EXPORT SKR_WUR int skr_lock(skr_client *c);
/* passwd: the old passphrase's wrap of the data key is overwritten in the hub's key file
 * (instant whatever the hub's size). SKR_EBAD_PASSPHRASE. skr_passwd_rotate also replaces
 * the data key (every record re-encrypted, as skr_rotate): use it when the old passphrase
 * may have leaked, since a copy of the hub taken earlier still opens with it. */
SKR_EXPORT SKR_WUR int skr_passwd(skr_client *c, const char *old_pass, size_t old_len,
                                   const char *new_pass, size_t new_len);
SKR_EXPORT SKR_WUR int skr_passwd_rotate(skr_client *c, const char *old_pass, size_t old_len,
                                          const char *new_pass, size_t new_len);
/* Re-encrypts every record under a new data key; *records (may be NULL) gets how many.
 * SKR_EINTEGRITY when a stored value fails authentication (then nothing is changed). */
SKR_EXPORT SKR_WUR int skr_rotate(skr_client *c, uint64_t *records);

/* ---------------------------------------------------------------- raw call ---- */

/*
 * Sends one request (`req`: exactly one packed MessagePack map, sent as is, id included)
 * and reads one response frame. Returns 0 when a well-formed response came back, ok or
 * not; then *reply (new, released with skr_buffer_free(*reply, *reply_len)) holds the whole
 * packed response map, and *error (may be NULL) gets 0 for ok:true or the response's
 * SKR_E* code (its message in skr_client_errmsg). Otherwise SKR_EINVAL (c, req, reply or
 * reply_len NULL, or a req that is not exactly one map: nothing sent), SKR_ETOO_LARGE (req
 * over the frame limit: nothing sent), or one of groups 1 and 2 of the conventions.
 */
SKR_EXPORT SKR_WUR int skr_call(skr_client *c, const void *req, size_t req_len,
                                 void **reply, size_t *reply_len, int *error);

/* -------------------------------------------------------------- utilities ---- */

enum {
    SKR_JSON_PRETTY = 1 << 0, /* indent by two spaces, one member a line */
    SKR_JSON_ASCII  = 1 << 1, /* escape every non-ASCII character as \uXXXX */
};

/*
 * Renders one MessagePack object as JSON text: maps as objects (a non-string key as its
 * JSON text, quoted), bin as {"$bin": "<base64>"}, ext as {"$ext": [type, "<base64>"]},
 * non-finite floats as null, invalid UTF-8 in strings as U+FFFD. *json is new (NUL-
 * terminated, skr_string_free). SKR_EINVAL for bytes that are not one well-formed
 * object (nesting deeper than 32 included) or that nest map keys that are not strings
 * more than 4 levels inside each other (each level doubles the escaping), SKR_ENOMEM.
 */
SKR_EXPORT SKR_WUR int skr_msgpack_to_json(const void *mp, size_t len, int flags, char **json);

/* Wipes and frees a string returned by the library. NULL is fine. */
SKR_EXPORT void skr_string_free(char *s);
/* Wipes and frees len bytes returned by the library. NULL is fine. */
SKR_EXPORT void skr_buffer_free(void *p, size_t len);

/* The library's version ("0.1.0"). */
SKR_EXPORT const char *skr_version(void);

#ifdef __cplusplus
}
#endif
#endif
