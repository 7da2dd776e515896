/* Malformed input catalogue, beyond the fuzzers: every wrong type on every field of every
 * op, bad names (newline, NUL, invalid UTF-8, too long, 1 MiB), ext types, duplicate keys.
 * Each gets its documented answer (PROTOCOL.md), the daemon never dies, and the records of
 * the protocol every request aims at are untouched at the end. */
#include <msgpack.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rel.h"

static harness h;
static int fd = -1;
static long n_cases;
static const char *cur_case = "";

static void cleanup(void)
{
    harness_stop(&h);
}

enum { T_NIL, T_TRUE, T_NEG, T_UINT, T_FLOAT, T_STR, T_BIN, T_ARRAY, T_MAP, T_EXT, T_COUNT };
static const char *tnames[T_COUNT] = { "nil", "bool", "negative int", "uint", "float", "str",
                                       "bin", "array", "map", "ext" };

static void pack_type(msgpack_packer *pk, int t)
{
    switch (t) {
    case T_NIL: msgpack_pack_nil(pk); break;
    case T_TRUE: msgpack_pack_true(pk); break;
    case T_NEG: msgpack_pack_int(pk, -1); break;
    case T_UINT: msgpack_pack_uint32(pk, 7); break;
    case T_FLOAT: msgpack_pack_double(pk, 1.5); break;
    case T_STR: proto_pack_cstr(pk, "svc"); break;
    case T_BIN: msgpack_pack_bin(pk, 3); msgpack_pack_bin_body(pk, "svc", 3); break;
    case T_ARRAY: msgpack_pack_array(pk, 1); msgpack_pack_uint8(pk, 1); break;
    case T_MAP: msgpack_pack_map(pk, 1); proto_pack_cstr(pk, "a"); msgpack_pack_uint8(pk, 1); break;
    default: msgpack_pack_ext(pk, 3, 5); msgpack_pack_ext_body(pk, "svc", 3); break;
    }
}

/* Sends one framed payload; returns the answer's code (0 ok) and id. Reconnects after a
 * bad_frame (the daemon closes). */
static int send_payload(const proto_buf *payload, uint32_t *id_out)
{
    proto_buf fr = PROTO_BUF_INIT, in = PROTO_BUF_INIT;
    uint8_t hdr[4] = { (uint8_t)(payload->len >> 24), (uint8_t)(payload->len >> 16),
                       (uint8_t)(payload->len >> 8), (uint8_t)payload->len };
    proto_buf_append(&fr, hdr, 4);
    proto_buf_append(&fr, payload->data, payload->len);
    proto_response r;
    /* over max_frame: the daemon answers from the length alone and closes, so the rest
     * may never be read; send what it takes: one read of its (one-chunk) buffer. More
     * would be left unread at its close, and the socket would then report a reset, not EOF */
    if (payload->len > PROTO_MAX_FRAME_DEFAULT)
        fr.len = PROTO_READ_CHUNK;
    CHECK(harness_call_raw(fd, fr.data, fr.len, &in, &r) == 0, "no answer to %s: did the daemon die?", cur_case);
    int code = r.ok ? 0 : r.code;
    *id_out = r.id;
    if (code == SKR_EBAD_FRAME) {
        CHECK(harness_closed(fd), "bad_frame but the connection stays open");
        close(fd);
        fd = harness_connect(&h);
    }
    proto_buf_free(&fr);
    proto_buf_free(&in);
    n_cases++;
    return code;
}

static const char *const ops[] = { "ping", "status", "get", "getDb", "getHub", "post", "put",
                                   "delete", "init", "unlock", "lock", "passwd", "rotate" };
static const char *const fields[] = { "id", "op", "v", "protocol", "name", "body",
                                      "passphrase", "old", "new", "rotate", "created",
                                      "modified" };
enum { NFIELDS = 12, F_ROTATE = 9, F_CREATED = 10, F_MODIFIED = 11 };

/* Which types a field accepts (PROTOCOL.md). */
static bool accepts(int f, int t)
{
    switch (f) {
    case 0: return t == T_UINT;
    case 1: return t == T_STR;
    case 2: return t == T_UINT;
    case 3: case 4: return t == T_STR;
    case 5: return true;
    case F_ROTATE: return t == T_TRUE;
    case F_CREATED: case F_MODIFIED: return t == T_UINT; /* T_NEG: out of range */
    default: return t == T_STR || t == T_BIN;
    }
}

/* A request for op with every field valid, except field `bad` packed as type `t` (bad < 0:
 * none). protocol "victim", name "v0": aims at the records the test checks at the end. */
static void build(proto_buf *b, const char *op, int bad, int t)
{
    msgpack_packer pk;
    proto_buf_reset(b);
    msgpack_packer_init(&pk, b, proto_buf_msgpack_write);
    msgpack_pack_map(&pk, NFIELDS);
    for (int f = 0; f < NFIELDS; f++) {
        proto_pack_cstr(&pk, fields[f]);
        if (f == bad) {
            pack_type(&pk, t);
            continue;
        }
        switch (f) {
        case 0: msgpack_pack_uint32(&pk, 4242); break;
        case 1: proto_pack_cstr(&pk, op); break;
        case 2: msgpack_pack_uint8(&pk, 1); break;
        case 3: proto_pack_cstr(&pk, "victim"); break;
        case 4: proto_pack_cstr(&pk, "v0"); break;
        case 5: msgpack_pack_map(&pk, 1); proto_pack_cstr(&pk, "v"); proto_pack_cstr(&pk, "EVIL"); break;
        case F_ROTATE: msgpack_pack_false(&pk); break;
        case F_CREATED: case F_MODIFIED: msgpack_pack_uint32(&pk, 1700000000); break;
        default: proto_pack_cstr(&pk, "wrong-passphrase"); break;
        }
    }
}

/* A request {id, op:"put", protocol:"victim", name:<raw name bytes>, body} */
static void build_name(proto_buf *b, const char *name, size_t len, bool as_ext)
{
    msgpack_packer pk;
    proto_buf_reset(b);
    msgpack_packer_init(&pk, b, proto_buf_msgpack_write);
    msgpack_pack_map(&pk, 5);
    proto_pack_cstr(&pk, "id");
    msgpack_pack_uint32(&pk, 4242);
    proto_pack_cstr(&pk, "op");
    proto_pack_cstr(&pk, "put");
    proto_pack_cstr(&pk, "protocol");
    proto_pack_cstr(&pk, "victim");
    proto_pack_cstr(&pk, "name");
    if (as_ext) {
        msgpack_pack_ext(&pk, len, 1);
        msgpack_pack_ext_body(&pk, name, len);
    } else {
        msgpack_pack_str(&pk, len);
        msgpack_pack_str_body(&pk, name, len);
    }
    proto_pack_cstr(&pk, "body");
    proto_pack_cstr(&pk, "EVIL");
}

static void expect_code(proto_buf *b, int want, uint32_t want_id, const char *what)
{
    uint32_t id;
    cur_case = what;
    int got = send_payload(b, &id);
    CHECK(got == want, "%s: got %s, want %s", what, got ? skr_error_name(got) : "ok",
          want ? skr_error_name(want) : "ok");
    CHECK(id == want_id, "%s: id %u, want %u", what, id, want_id);
}

int main(void)
{
    atexit(cleanup);
    CHECK(harness_start(&h, HARNESS_KEYFILE, NULL) == 0, "start");
    fd = harness_connect(&h);
    char name[16], got[16];
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof(name), "v%d", i);
        CHECK(rel_call(fd, 1, PROTO_OP_PUT, "victim", name, name, NULL, 0) == 0, "seed");
    }
    CHECK(rel_call(fd, 1, PROTO_OP_PUT, "bystander", "v0", "other", NULL, 0) == 0, "seed");
    proto_buf b = PROTO_BUF_INIT;
    char what[128];

    /* every wrong type on every field of every op */
    for (size_t o = 0; o < sizeof(ops) / sizeof(ops[0]); o++) {
        for (int f = 0; f < NFIELDS; f++) {
            for (int t = 0; t < T_COUNT; t++) {
                if (accepts(f, t))
                    continue;
                build(&b, ops[o], f, t);
                snprintf(what, sizeof(what), "op %s, %s as %s", ops[o], fields[f], tnames[t]);
                expect_code(&b, SKR_EBAD_REQUEST, f == 0 ? 0 : 4242, what);
            }
        }
        /* v as another uint: unsupported, judged first */
        build(&b, ops[o], 2, T_UINT);
        expect_code(&b, SKR_EUNSUPPORTED, 4242, "v = 7");
    }

    /* names */
    static const struct { const char *s; size_t n; const char *what; } names[] = {
        { "a\nb", 3, "newline" }, { "a\0b", 3, "NUL" }, { "\xff", 1, "byte 0xff" },
        { "\xc0\xaf", 2, "overlong" }, { "\xed\xa0\x80", 3, "surrogate" },
        { "\xe2\x82", 2, "cut sequence" }, { "\xf4\x90\x80\x80", 4, "above U+10FFFF" },
        { "a\x7f", 2, "DEL" }, { "\xc2\x85", 2, "C1 control" }, { "", 0, "empty" },
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        build_name(&b, names[i].s, names[i].n, false);
        snprintf(what, sizeof(what), "name with %s", names[i].what);
        expect_code(&b, SKR_EBAD_REQUEST, 4242, what);
    }
    static char big[1 << 20];
    memset(big, 'a', sizeof(big));
    build_name(&b, big, 257, false);
    expect_code(&b, SKR_EBAD_REQUEST, 4242, "name of 257 bytes");
    build_name(&b, big, sizeof(big) - 100, false); /* the frame fits: a field limit */
    expect_code(&b, SKR_EBAD_REQUEST, 4242, "name just under 1 MiB");
    build_name(&b, big, sizeof(big), false); /* frame over max_frame */
    expect_code(&b, SKR_EBAD_FRAME, 0, "name of 1 MiB");
    build_name(&b, "v0", 2, true);
    expect_code(&b, SKR_EBAD_REQUEST, 4242, "name as ext");

    /* protocol names */
    static const char *const bad_protos[] = { "../victim", "vic/tim", ".victim", "victim\n",
                                              "v i", "" };
    for (size_t i = 0; i < sizeof(bad_protos) / sizeof(bad_protos[0]); i++) {
        proto_buf_reset(&b);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &b, proto_buf_msgpack_write);
        msgpack_pack_map(&pk, 4);
        proto_pack_cstr(&pk, "id"); msgpack_pack_uint32(&pk, 4242);
        proto_pack_cstr(&pk, "op"); proto_pack_cstr(&pk, "delete");
        proto_pack_cstr(&pk, "protocol"); proto_pack_cstr(&pk, bad_protos[i]);
        proto_pack_cstr(&pk, "name"); proto_pack_cstr(&pk, "v0");
        snprintf(what, sizeof(what), "protocol '%s'", bad_protos[i]);
        expect_code(&b, SKR_EBAD_REQUEST, 4242, what);
    }

    /* every known key twice */
    for (int f = 0; f < NFIELDS; f++) {
        build(&b, "get", -1, 0);
        /* rewrite the map header to NFIELDS + 1 and append the key again */
        b.data[0] = (uint8_t)(0x80 | (NFIELDS + 1));
        msgpack_packer pk;
        msgpack_packer_init(&pk, &b, proto_buf_msgpack_write);
        proto_pack_cstr(&pk, fields[f]);
        if (f == 0)
            msgpack_pack_uint32(&pk, 4242);
        else if (f == 2 || f == F_CREATED || f == F_MODIFIED)
            msgpack_pack_uint8(&pk, 1);
        else if (f == F_ROTATE)
            msgpack_pack_false(&pk);
        else
            proto_pack_cstr(&pk, f == 1 ? "get" : f == 3 ? "victim" : "v0");
        snprintf(what, sizeof(what), "duplicate key %s", fields[f]);
        expect_code(&b, SKR_EBAD_REQUEST, 4242, what);
    }

    /* ext types and a too large body */
    {
        msgpack_packer pk;
        proto_buf_reset(&b);
        msgpack_packer_init(&pk, &b, proto_buf_msgpack_write);
        msgpack_pack_map(&pk, 5);
        proto_pack_cstr(&pk, "id"); msgpack_pack_uint32(&pk, 4242);
        proto_pack_cstr(&pk, "op"); proto_pack_cstr(&pk, "put");
        proto_pack_cstr(&pk, "protocol"); proto_pack_cstr(&pk, "ext");
        proto_pack_cstr(&pk, "name"); proto_pack_cstr(&pk, "e");
        proto_pack_cstr(&pk, "body");
        msgpack_pack_ext(&pk, 4, -1); /* a timestamp ext: any value is a body */
        msgpack_pack_ext_body(&pk, "\x00\x00\x00\x01", 4);
        expect_code(&b, 0, 4242, "ext body");
        proto_buf_reset(&b);
        msgpack_pack_map(&pk, 5);
        proto_pack_cstr(&pk, "id"); msgpack_pack_uint32(&pk, 4242);
        proto_pack_cstr(&pk, "op"); proto_pack_cstr(&pk, "put");
        proto_pack_cstr(&pk, "protocol"); proto_pack_cstr(&pk, "victim");
        proto_pack_cstr(&pk, "name"); proto_pack_cstr(&pk, "v0");
        proto_pack_cstr(&pk, "body");
        msgpack_pack_str(&pk, 65536);
        msgpack_pack_str_body(&pk, big, 65536);
        expect_code(&b, SKR_EBAD_REQUEST, 4242, "body over 65,536 bytes");
        proto_buf_reset(&b);
        msgpack_pack_ext(&pk, 2, 9); /* not a map at all */
        msgpack_pack_ext_body(&pk, "id", 2);
        expect_code(&b, SKR_EBAD_REQUEST, 0, "request that is an ext");
        proto_buf_reset(&b);
        msgpack_pack_map(&pk, 2);
        msgpack_pack_ext(&pk, 2, 9); msgpack_pack_ext_body(&pk, "id", 2);
        msgpack_pack_uint8(&pk, 1);
        proto_pack_cstr(&pk, "op"); proto_pack_cstr(&pk, "ping");
        expect_code(&b, SKR_EBAD_REQUEST, 0, "ext as a key");
    }
    proto_buf_free(&b);

    /* still alive, and nothing reached the records aimed at */
    int st;
    CHECK(waitpid(h.pid, &st, WNOHANG) == 0, "the daemon died");
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof(name), "v%d", i);
        CHECK(rel_call(fd, 2, PROTO_OP_GET, "victim", name, NULL, got, sizeof(got)) == 0 &&
              strcmp(got, name) == 0, "victim/%s changed", name);
    }
    CHECK(rel_call(fd, 2, PROTO_OP_GET, "bystander", "v0", NULL, got, sizeof(got)) == 0 &&
          strcmp(got, "other") == 0, "bystander/v0 changed");
    uint64_t creds;
    proto_buf in = PROTO_BUF_INIT;
    proto_response r;
    proto_request sreq = harness_req(3, PROTO_OP_STATUS, NULL, NULL);
    CHECK(harness_call(fd, &sreq, &in, &r) == 0 && harness_map_uint(r.result, "credentials", &creds) == 0,
          "status");
    CHECK(creds == 5, "%llu credentials, want 5 (3 victim, 1 bystander, 1 ext)",
          (unsigned long long)creds);
    proto_buf_free(&in);
    close(fd);
    printf("malformed: %ld cases answered as documented; records untouched; daemon alive\n", n_cases);
    return 0;
}
