#include "request.h"

#include <msgpack.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "frame.h"
#include "mp.h"
#include "sekrets/error.h"
#include "utf8.h"

static const char *const op_names[PROTO_OP_COUNT] = {
    [PROTO_OP_PING] = "ping",     [PROTO_OP_STATUS] = "status", [PROTO_OP_GET] = "get",
    [PROTO_OP_GETDB] = "getDb",   [PROTO_OP_GETHUB] = "getHub", [PROTO_OP_POST] = "post",
    [PROTO_OP_PUT] = "put",       [PROTO_OP_DELETE] = "delete", [PROTO_OP_INIT] = "init",
    [PROTO_OP_UNLOCK] = "unlock", [PROTO_OP_LOCK] = "lock",     [PROTO_OP_PASSWD] = "passwd",
    [PROTO_OP_ROTATE] = "rotate",
};

/* Fields each op requires; PROTO_F_PROTOCOL on get is optional and not listed. */
static const unsigned op_required[PROTO_OP_COUNT] = {
    [PROTO_OP_GET] = PROTO_F_NAME,
    [PROTO_OP_GETDB] = PROTO_F_PROTOCOL,
    [PROTO_OP_POST] = PROTO_F_PROTOCOL | PROTO_F_NAME | PROTO_F_BODY,
    [PROTO_OP_PUT] = PROTO_F_PROTOCOL | PROTO_F_NAME | PROTO_F_BODY,
    [PROTO_OP_DELETE] = PROTO_F_PROTOCOL | PROTO_F_NAME,
    [PROTO_OP_INIT] = PROTO_F_PASSPHRASE,
    [PROTO_OP_UNLOCK] = PROTO_F_PASSPHRASE,
    [PROTO_OP_PASSWD] = PROTO_F_OLD | PROTO_F_NEW,
};

const char *proto_op_name(proto_op op)
{
    return op > PROTO_OP_NONE && op < PROTO_OP_COUNT ? op_names[op] : NULL;
}

/* s[0..len) is the literal `lit` (len checked by the caller's switch). */
#define IS_LIT(s, lit) (memcmp((s), "" lit, sizeof(lit) - 1) == 0)

proto_op proto_op_from_name(const char *s, size_t len)
{
    /* Every request goes through here: the length picks at most six names to compare. */
    switch (len) {
    case 3:
        return IS_LIT(s, "get") ? PROTO_OP_GET : IS_LIT(s, "put") ? PROTO_OP_PUT : PROTO_OP_NONE;
    case 4:
        return IS_LIT(s, "ping") ? PROTO_OP_PING : IS_LIT(s, "post") ? PROTO_OP_POST
             : IS_LIT(s, "init") ? PROTO_OP_INIT : IS_LIT(s, "lock") ? PROTO_OP_LOCK
             : PROTO_OP_NONE;
    case 5:
        return IS_LIT(s, "getDb") ? PROTO_OP_GETDB : PROTO_OP_NONE;
    case 6:
        return IS_LIT(s, "status") ? PROTO_OP_STATUS : IS_LIT(s, "getHub") ? PROTO_OP_GETHUB
             : IS_LIT(s, "delete") ? PROTO_OP_DELETE : IS_LIT(s, "unlock") ? PROTO_OP_UNLOCK
             : IS_LIT(s, "passwd") ? PROTO_OP_PASSWD : IS_LIT(s, "rotate") ? PROTO_OP_ROTATE
             : PROTO_OP_NONE;
    default:
        return PROTO_OP_NONE;
    }
}

int proto_valid_protocol(const char *s, size_t len)
{
    if (len < 1 || len > PROTO_MAX_PROTOCOL)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
            return 0;
    }
    return 1;
}

/* Strict UTF-8 (proto/utf8.h) without C0, DEL or C1 control characters. */
int proto_valid_name(const char *s, size_t len)
{
    if (len < 1 || len > PROTO_MAX_NAME)
        return 0;
    const uint8_t *p = (const uint8_t *)s;
    for (size_t i = 0; i < len;) {
        if (p[i] >= 0x20 && p[i] < 0x7f) { /* printable ASCII, most names: no decode */
            i++;
            continue;
        }
        uint32_t cp;
        size_t n = proto_utf8_decode(p + i, len - i, &cp);
        if (n == 0 || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
            return 0;
        i += n;
    }
    return 1;
}

static int fail(char *msg, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *msg, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, PROTO_ERRMSG_MAX, fmt, ap);
    va_end(ap);
    return code;
}

/* Copies peer bytes for an error message: printable ASCII as is, anything else as \xNN,
 * so that the message (packed as a MessagePack str) is always valid UTF-8 without control
 * characters. At most 32 input bytes; "..." marks a cut. */
static void quote_bytes(char *dst, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && i < 32; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o + 5 > cap)
            break;
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'')
            dst[o++] = (char)c;
        else
            o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", c);
    }
    if (n > 32 && o + 4 <= cap) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
}

typedef enum key_id {
    K_UNKNOWN, K_ID, K_OP, K_V, K_PROTOCOL, K_NAME, K_BODY, K_PASSPHRASE, K_OLD, K_NEW,
    K_ROTATE, K_CREATED, K_MODIFIED,
} key_id;

/* Every key of every request goes through here: the length picks at most two names. */
static key_id key_lookup(const char *k, uint32_t n)
{
    switch (n) {
    case 1:
        return k[0] == 'v' ? K_V : K_UNKNOWN;
    case 2:
        return IS_LIT(k, "id") ? K_ID : IS_LIT(k, "op") ? K_OP : K_UNKNOWN;
    case 3:
        return IS_LIT(k, "old") ? K_OLD : IS_LIT(k, "new") ? K_NEW : K_UNKNOWN;
    case 4:
        return IS_LIT(k, "name") ? K_NAME : IS_LIT(k, "body") ? K_BODY : K_UNKNOWN;
    case 6:
        return IS_LIT(k, "rotate") ? K_ROTATE : K_UNKNOWN;
    case 7:
        return IS_LIT(k, "created") ? K_CREATED : K_UNKNOWN;
    case 8:
        return IS_LIT(k, "protocol") ? K_PROTOCOL : IS_LIT(k, "modified") ? K_MODIFIED
             : K_UNKNOWN;
    case 10:
        return IS_LIT(k, "passphrase") ? K_PASSPHRASE : K_UNKNOWN;
    default:
        return K_UNKNOWN;
    }
}

/*
 * Skips one value of the request map and gives its raw bytes, checked as proto_mp_check
 * checks it there: one level down, so nested at most PROTO_MAX_DEPTH - 1 deep. The same
 * on a frame checked whole already (decode_checked) and on one that is not (decode_fast).
 */
static int skip_value(proto_cur *c, const uint8_t **raw, size_t *len)
{
    size_t n;
    if (proto_mp_check_depth(c->p, (size_t)(c->end - c->p), PROTO_MAX_DEPTH - 1, &n) != 0)
        return SKR_EBAD_REQUEST;
    *raw = c->p;
    *len = n;
    c->p += n;
    return 0;
}

static int read_secret(proto_cur *c, proto_span *out, const char *field, char *msg)
{
    const uint8_t *s;
    uint32_t n;
    if (proto_cur_str_or_bin(c, &s, &n, NULL) != 0)
        return fail(msg, SKR_EBAD_REQUEST, "field '%s' must be a string or bin", field);
    if (n == 0)
        return fail(msg, SKR_EBAD_REQUEST, "field '%s' must not be empty", field);
    if (n > PROTO_MAX_PASSPHRASE)
        return fail(msg, SKR_EBAD_REQUEST, "field '%s' exceeds %d bytes", field, PROTO_MAX_PASSPHRASE);
    out->ptr = s;
    out->len = n;
    return 0;
}

/* A record time: any integer encoding of 0..PROTO_MAX_TIME. */
static int read_time(proto_cur *c, int64_t *out, const char *field, char *msg)
{
    uint64_t u;
    if (proto_cur_uint(c, &u) != 0 || u > (uint64_t)PROTO_MAX_TIME)
        return fail(msg, SKR_EBAD_REQUEST, "field '%s' must be an integer 0..%lld (unix seconds)",
                    field, (long long)PROTO_MAX_TIME);
    *out = (int64_t)u;
    return 0;
}

/* Reads the value of one known key into req. */
static int read_field(proto_cur *c, key_id k, proto_request *req,
                      uint64_t *version, const char **op, uint32_t *op_len, char *msg)
{
    const char *s;
    uint32_t n;
    uint64_t u;
    switch (k) {
    case K_ID:
        if (proto_cur_uint(c, &u) != 0 || u > UINT32_MAX)
            return fail(msg, SKR_EBAD_REQUEST, "field 'id' must be an unsigned integer below 2^32");
        req->id = (uint32_t)u;
        return 0;
    case K_OP:
        if (proto_cur_str(c, op, op_len) != 0)
            return fail(msg, SKR_EBAD_REQUEST, "field 'op' must be a string");
        return 0;
    case K_V:
        if (proto_cur_uint(c, version) != 0)
            return fail(msg, SKR_EBAD_REQUEST, "field 'v' must be an unsigned integer");
        return 0;
    case K_PROTOCOL:
        if (proto_cur_str(c, &s, &n) != 0)
            return fail(msg, SKR_EBAD_REQUEST, "field 'protocol' must be a string");
        if (!proto_valid_protocol(s, n))
            return fail(msg, SKR_EBAD_REQUEST,
                        "field 'protocol' must be 1..64 bytes of [A-Za-z0-9][A-Za-z0-9._-]*");
        memcpy(req->protocol, s, n);
        req->protocol[n] = '\0';
        req->protocol_len = n;
        req->fields |= PROTO_F_PROTOCOL;
        return 0;
    case K_NAME:
        if (proto_cur_str(c, &s, &n) != 0)
            return fail(msg, SKR_EBAD_REQUEST, "field 'name' must be a string");
        if (!proto_valid_name(s, n))
            return fail(msg, SKR_EBAD_REQUEST,
                        "field 'name' must be 1..256 bytes of UTF-8 without control characters");
        memcpy(req->name, s, n);
        req->name[n] = '\0';
        req->name_len = n;
        req->fields |= PROTO_F_NAME;
        return 0;
    case K_BODY: {
        const uint8_t *raw;
        size_t len;
        if (skip_value(c, &raw, &len) != 0)
            return fail(msg, SKR_EBAD_REQUEST, "field 'body' is not valid MessagePack");
        if (len > PROTO_MAX_BODY)
            return fail(msg, SKR_EBAD_REQUEST, "field 'body' exceeds %u bytes packed", PROTO_MAX_BODY);
        req->body.ptr = raw;
        req->body.len = (uint32_t)len;
        req->fields |= PROTO_F_BODY;
        return 0;
    }
    case K_PASSPHRASE:
        req->fields |= PROTO_F_PASSPHRASE;
        return read_secret(c, &req->passphrase, "passphrase", msg);
    case K_OLD:
        req->fields |= PROTO_F_OLD;
        return read_secret(c, &req->old_pass, "old", msg);
    case K_NEW:
        req->fields |= PROTO_F_NEW;
        return read_secret(c, &req->new_pass, "new", msg);
    case K_ROTATE:
        if (proto_cur_bool(c, &req->rotate) != 0)
            return fail(msg, SKR_EBAD_REQUEST, "field 'rotate' must be a boolean");
        req->fields |= PROTO_F_ROTATE;
        return 0;
    case K_CREATED:
        req->fields |= PROTO_F_CREATED;
        return read_time(c, &req->created, "created", msg);
    case K_MODIFIED:
        req->fields |= PROTO_F_MODIFIED;
        return read_time(c, &req->modified, "modified", msg);
    case K_UNKNOWN:
        break;
    }
    const uint8_t *raw;
    size_t len;
    if (skip_value(c, &raw, &len) != 0) /* only in decode_fast: the frame is not checked yet */
        return fail(msg, SKR_EBAD_REQUEST, "value of an unknown key is not valid MessagePack");
    return 0;
}

static const char *const field_names[] = { "protocol", "name", "body", "passphrase", "old", "new",
                                            "rotate", "created", "modified" };

/*
 * First pass over the keys of the map at c (pairs read already): finds the id, so that any
 * later error can carry it, and the version, so that a request of another version gets
 * `unsupported` before its fields are judged by this version's rules. The first
 * occurrence of each counts; a mistyped one is left for the second pass to report.
 */
static void prescan(proto_cur c, uint32_t pairs, uint32_t *id, uint64_t *version)
{
    bool have_id = false, have_v = false;
    for (uint32_t i = 0; i < pairs; i++) {
        const char *k;
        uint32_t kn;
        uint64_t u;
        if (proto_cur_str(&c, &k, &kn) != 0)
            return;
        key_id kid = key_lookup(k, kn);
        if (kid == K_ID && !have_id) {
            have_id = true;
            if (proto_cur_uint(&c, &u) == 0) {
                if (u <= UINT32_MAX)
                    *id = (uint32_t)u;
                continue;
            }
        } else if (kid == K_V && !have_v) {
            have_v = true;
            if (proto_cur_uint(&c, &u) == 0) {
                *version = u;
                continue;
            }
        }
        if (proto_cur_skip(&c, NULL, NULL) != 0)
            return;
    }
}

/*
 * Reads the pairs of the request map at c into req, in map order, and checks what the op
 * needs. Stops at the first field that breaks a rule (the id and version are found by the
 * caller beforehand when errors must carry them).
 */
static int read_map(proto_cur *c, uint32_t pairs, proto_request *req, uint64_t version,
                    char *msg)
{
    const char *op = NULL;
    uint32_t op_len = 0;
    unsigned seen = 0;
    for (uint32_t i = 0; i < pairs; i++) {
        const char *k;
        uint32_t kn;
        if (proto_cur_str(c, &k, &kn) != 0)
            return fail(msg, SKR_EBAD_REQUEST, "request keys must be strings");
        key_id id = key_lookup(k, kn);
        if (id != K_UNKNOWN) {
            if (seen & (1u << id))
                return fail(msg, SKR_EBAD_REQUEST, "duplicate key '%.*s'", (int)kn, k);
            seen |= 1u << id;
        }
        int rc = read_field(c, id, req, &version, &op, &op_len, msg);
        if (rc != 0)
            return rc;
    }

    if (!(seen & (1u << K_ID)))
        return fail(msg, SKR_EBAD_REQUEST, "missing field 'id'");
    if (version != PROTO_VERSION)
        return fail(msg, SKR_EUNSUPPORTED, "protocol version %llu is not supported (this daemon speaks %d)",
                    (unsigned long long)version, PROTO_VERSION);
    if (op == NULL)
        return fail(msg, SKR_EBAD_REQUEST, "missing field 'op'");
    req->op = proto_op_from_name(op, op_len);
    if (req->op == PROTO_OP_NONE) {
        char shown[32 * 4 + 4];
        quote_bytes(shown, sizeof(shown), op, op_len);
        return fail(msg, SKR_EUNKNOWN_OP, "unknown op '%s'", shown);
    }

    unsigned missing = op_required[req->op] & ~req->fields;
    for (unsigned b = 0; missing != 0; b++, missing >>= 1)
        if (missing & 1)
            return fail(msg, SKR_EBAD_REQUEST, "missing field '%s'", field_names[b]);
    return 0;
}

int proto_request_decode_checked(const uint8_t *buf, size_t len, proto_request *req,
                                 char msg[PROTO_ERRMSG_MAX])
{
    size_t obj_len;
    uint32_t pairs;
    uint64_t version = PROTO_VERSION;
    memset(req, 0, sizeof(*req));
    msg[0] = '\0';

    if (proto_mp_check(buf, len, &obj_len) != 0)
        return fail(msg, SKR_EBAD_FRAME, "frame is not one well-formed MessagePack object "
                    "(nested at most %d deep)", PROTO_MAX_DEPTH);
    proto_cur c = proto_cur_make(buf, obj_len);
    if (obj_len != len) {
        /* The object itself is readable: let the error carry its id if it has one. */
        if (proto_cur_map(&c, &pairs) == 0)
            prescan(c, pairs, &req->id, &version);
        return fail(msg, SKR_EBAD_FRAME, "%zu bytes left over after the MessagePack object",
                    len - obj_len);
    }
    if (proto_cur_map(&c, &pairs) != 0)
        return fail(msg, SKR_EBAD_REQUEST, "request must be a map");

    prescan(c, pairs, &req->id, &version);
    if (version != PROTO_VERSION)
        return fail(msg, SKR_EUNSUPPORTED, "protocol version %llu is not supported (this daemon speaks %d)",
                    (unsigned long long)version, PROTO_VERSION);
    return read_map(&c, pairs, req, version, msg);
}

/*
 * One pass over a request that is good throughout: read_map straight on the unchecked
 * payload. Every byte it takes is bounds-checked by the cursor reads, values it skips are
 * checked by skip_value as proto_mp_check would check them, so when it succeeds and ends
 * exactly at the end of the payload, proto_mp_check would have passed the frame whole,
 * prescan would have found the same id and version, and decode_checked gives the same
 * request. Anything else (an error of any kind, bytes left over) is not judged here.
 */
static bool decode_fast(const uint8_t *buf, size_t len, proto_request *req, char *msg)
{
    proto_cur c = proto_cur_make(buf, len);
    uint32_t pairs;
    memset(req, 0, sizeof(*req));
    return proto_cur_map(&c, &pairs) == 0 && read_map(&c, pairs, req, PROTO_VERSION, msg) == 0 &&
           c.p == c.end;
}

int proto_request_decode(const uint8_t *buf, size_t len, proto_request *req,
                         char msg[PROTO_ERRMSG_MAX])
{
    if (decode_fast(buf, len, req, msg)) {
        msg[0] = '\0';
        return 0;
    }
    /* Some rule is broken: which error, with which id, is decided the careful way. */
    return proto_request_decode_checked(buf, len, req, msg);
}

static void pack_str(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static void pack_key(msgpack_packer *pk, const char *k)
{
    pack_str(pk, k, strlen(k));
}

int proto_request_encode(proto_buf *out, const proto_request *req, uint32_t max_frame)
{
    const char *op = proto_op_name(req->op);
    if (op == NULL)
        return SKR_EINVAL;
    if ((req->fields & PROTO_F_PROTOCOL) && !proto_valid_protocol(req->protocol, req->protocol_len))
        return SKR_EINVAL;
    if ((req->fields & PROTO_F_NAME) && !proto_valid_name(req->name, req->name_len))
        return SKR_EINVAL;
    if (req->fields & PROTO_F_BODY) {
        size_t n;
        /* The body sits one level down, inside the request map. */
        if (proto_mp_check_depth(req->body.ptr, req->body.len, PROTO_MAX_DEPTH - 1, &n) != 0 ||
            n != req->body.len)
            return SKR_EINVAL;
        if (n > PROTO_MAX_BODY)
            return SKR_ETOO_LARGE;
    }

    const struct { unsigned bit; const char *key; const proto_span *span; } secrets[] = {
        { PROTO_F_PASSPHRASE, "passphrase", &req->passphrase },
        { PROTO_F_OLD, "old", &req->old_pass },
        { PROTO_F_NEW, "new", &req->new_pass },
    };
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        const proto_span *sp = secrets[i].span;
        if (!(req->fields & secrets[i].bit))
            continue;
        if (sp->len == 0 || sp->ptr == NULL)
            return SKR_EINVAL;        /* the daemon answers bad_request to an empty one */
        if (sp->len > PROTO_MAX_PASSPHRASE)
            return SKR_ETOO_LARGE;
    }
    const struct { unsigned bit; const char *key; int64_t t; } times[] = {
        { PROTO_F_CREATED, "created", req->created },
        { PROTO_F_MODIFIED, "modified", req->modified },
    };
    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++)
        if ((req->fields & times[i].bit) && (times[i].t < 0 || times[i].t > PROTO_MAX_TIME))
            return SKR_EINVAL;
    unsigned pairs = 2;
    for (unsigned f = req->fields & 0x1ff; f; f &= f - 1)
        pairs++;

    /* Reserve everything up front, so that packing below cannot fail half-way. */
    size_t need = PROTO_HEADER_LEN + 64 + req->protocol_len + req->name_len;
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        const proto_span *sp = secrets[i].span;
        if (req->fields & secrets[i].bit)
            need += 16 + sp->len;
    }
    if (req->fields & PROTO_F_BODY)
        need += req->body.len;
    if (req->fields & PROTO_F_ROTATE)
        need += 8; /* "rotate" and a bool */
    need += 2 * 18; /* "created", "modified" and a uint64 each */
    int rc = proto_buf_reserve(out, need);
    if (rc != 0)
        return rc;

    size_t mark;
    proto_frame_begin(out, &mark);
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, proto_buf_msgpack_write);
    msgpack_pack_map(&pk, pairs);
    pack_key(&pk, "id");
    msgpack_pack_uint32(&pk, req->id);
    pack_key(&pk, "op");
    pack_key(&pk, op);
    if (req->fields & PROTO_F_PROTOCOL) {
        pack_key(&pk, "protocol");
        pack_str(&pk, req->protocol, req->protocol_len);
    }
    if (req->fields & PROTO_F_NAME) {
        pack_key(&pk, "name");
        pack_str(&pk, req->name, req->name_len);
    }
    if (req->fields & PROTO_F_BODY) {
        pack_key(&pk, "body");
        proto_buf_append(out, req->body.ptr, req->body.len);
    }
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        if (!(req->fields & secrets[i].bit))
            continue;
        const proto_span *sp = secrets[i].span;
        pack_key(&pk, secrets[i].key);
        pack_str(&pk, (const char *)sp->ptr, sp->len);
    }
    if (req->fields & PROTO_F_ROTATE) {
        pack_key(&pk, "rotate");
        if (req->rotate)
            msgpack_pack_true(&pk);
        else
            msgpack_pack_false(&pk);
    }
    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        if (!(req->fields & times[i].bit))
            continue;
        pack_key(&pk, times[i].key);
        msgpack_pack_uint64(&pk, (uint64_t)times[i].t);
    }
    return proto_frame_end(out, mark, max_frame);
}
