#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into corpus/<target>/ (Python stdlib only).

request, dispatch: byte streams as a peer would send them: frames of a 4-byte big-endian
length and one MessagePack object, packed here by hand. json: JSON texts as sekrets-cli
reads them (and MessagePack objects for the renderer). gluedb: pyswark .gluedb files.
Run from anywhere; it rewrites the seeds it owns and leaves other files (libFuzzer finds,
regressions named crash-* or regress_*) alone.
"""
import json
import os
import struct

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def pstr(s):
    b = s.encode() if isinstance(s, str) else s
    n = len(b)
    if n < 32:
        return bytes([0xA0 | n]) + b
    if n < 256:
        return b"\xd9" + bytes([n]) + b
    if n < 65536:
        return b"\xda" + struct.pack(">H", n) + b
    return b"\xdb" + struct.pack(">I", n) + b


def pbin(b):
    n = len(b)
    if n < 256:
        return b"\xc4" + bytes([n]) + b
    if n < 65536:
        return b"\xc5" + struct.pack(">H", n) + b
    return b"\xc6" + struct.pack(">I", n) + b


def puint(v):
    if v < 128:
        return bytes([v])
    if v < 256:
        return b"\xcc" + bytes([v])
    if v < 65536:
        return b"\xcd" + struct.pack(">H", v)
    if v < 2**32:
        return b"\xce" + struct.pack(">I", v)
    return b"\xcf" + struct.pack(">Q", v)


def pint(v):
    if v >= 0:
        return puint(v)
    if v >= -32:
        return struct.pack(">b", v)
    return b"\xd3" + struct.pack(">q", v)


def pmap(pairs):
    """pairs: list of (packed key, packed value)."""
    n = len(pairs)
    head = bytes([0x80 | n]) if n < 16 else b"\xde" + struct.pack(">H", n)
    return head + b"".join(k + v for k, v in pairs)


def parr(items):
    n = len(items)
    head = bytes([0x90 | n]) if n < 16 else b"\xdc" + struct.pack(">H", n)
    return head + b"".join(items)


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


def req(id_, op, **fields):
    pairs = [(pstr("id"), puint(id_)), (pstr("op"), pstr(op))]
    for k, v in fields.items():
        pairs.append((pstr(k), v))
    return pmap(pairs)


BODY = pmap([(pstr("token"), pstr("s3cr3t")), (pstr("user"), pstr("alice"))])

SEEDS = {
    # one request of each op
    "op_ping": frame(req(1, "ping")),
    "op_status": frame(req(2, "status")),
    "op_get": frame(req(3, "get", protocol=pstr("github"), name=pstr("alice"))),
    "op_get_noproto": frame(req(3, "get", name=pstr("alice"))),
    "op_getDb": frame(req(4, "getDb", protocol=pstr("github"))),
    "op_getHub": frame(req(5, "getHub")),
    "op_post": frame(req(6, "post", protocol=pstr("github"), name=pstr("alice"), body=BODY)),
    "op_put": frame(req(7, "put", protocol=pstr("git.hub-x_1"), name=pstr("al\u00efce \U0001f511"), body=parr([puint(1), pint(-5), b"\xcb" + struct.pack(">d", 1.5), b"\xc0", b"\xc3", pbin(b"\x00\xff")]))),
    "op_delete": frame(req(8, "delete", protocol=pstr("github"), name=pstr("alice"))),
    "op_init": frame(req(9, "init", passphrase=pstr("correct horse"))),
    "op_unlock_bin": frame(req(10, "unlock", passphrase=pbin(b"\x00\x01\xfe\xff"))),
    "op_lock": frame(req(11, "lock")),
    "op_passwd": frame(req(12, "passwd", old=pstr("correct horse"), new=pstr("battery staple"))),
    "op_rotate": frame(req(13, "rotate")),
    # pipelined: several frames in one stream
    "pipeline": b"".join(frame(req(i, op)) for i, op in enumerate(["ping", "status", "getHub", "lock", "rotate"])),
    "pipeline_then_bad": frame(req(1, "ping")) + b"\x00\x00\x00\x00" + frame(req(2, "ping")),
    # framing errors
    "frame_len0": b"\x00\x00\x00\x00",
    "frame_len_max_plus1": b"\x00\x10\x00\x01",
    "frame_len_ffffffff": b"\xff\xff\xff\xff" + b"\x90" * 16,
    "frame_short_header": b"\x00\x00\x00",
    "frame_trailing": frame(req(1, "ping") + b"\xc0"),
    "frame_truncated": frame(b"\x82\xa2id\x01"),
    "frame_c1": frame(b"\xc1"),
    "frame_not_map": frame(b"\xc0"),
    "frame_partial_body": frame(req(1, "ping"))[:9],
    # request errors
    "req_unknown_op": frame(req(7, b"pong\n\xff")),
    "req_v2": frame(pmap([(pstr("id"), puint(7)), (pstr("op"), pstr("ping")), (pstr("v"), puint(2))])),
    "req_dup_id": frame(pmap([(pstr("id"), puint(1)), (pstr("id"), puint(2)), (pstr("op"), pstr("ping"))])),
    "req_id_2p32": frame(pmap([(pstr("id"), puint(2**32)), (pstr("op"), pstr("ping"))])),
    "req_id_negative": frame(pmap([(pstr("id"), pint(-1)), (pstr("op"), pstr("ping"))])),
    "req_unknown_keys": frame(req(1, "ping", zz=parr([pmap([]), pbin(b"")]), ext=b"\xd4\x01\x02")),
    "req_name_bad_utf8": frame(req(3, "get", name=pstr(b"\xed\xa0\x80"))),
    "req_name_c1": frame(req(3, "get", name=pstr(b"a\xc2\x85"))),
    "req_protocol_64": frame(req(4, "getDb", protocol=pstr("p" * 64))),
    "req_protocol_65": frame(req(4, "getDb", protocol=pstr("p" * 65))),
    "req_name_257": frame(req(3, "get", name=pstr("n" * 257))),
    "req_body_max": frame(req(6, "post", protocol=pstr("p"), name=pstr("n"), body=pbin(b"\x00" * 65533))),
    "req_body_over": frame(req(6, "post", protocol=pstr("p"), name=pstr("n"), body=pbin(b"\x00" * 65534))),
    "req_missing_fields": frame(req(12, "passwd", old=pstr("x"))),
    "req_empty_passphrase": frame(req(9, "init", passphrase=pstr(""))),
    "req_int_key": frame(b"\x83\xa2id\x01\xa2op\xa4ping\x01\x02"),
    # nesting and counts
    "deep_32_body": frame(req(6, "put", protocol=pstr("p"), name=pstr("n"), body=b"\x91" * 31 + b"\xc0")),
    "deep_33": frame(req(6, "put", protocol=pstr("p"), name=pstr("n"), body=b"\x91" * 32 + b"\xc0")),
    "deep_10000": frame(b"\x91" * 10000 + b"\xc0"),
    "count_array32_huge": frame(b"\xdd\xff\xff\xff\xff\xc0"),
    "count_map32_huge": frame(b"\xdf\xff\xff\xff\xff\xc0"),
    "count_str32_huge": frame(b"\x81\xa2id\xdb\xff\xff\xff\xff"),
    "count_bin32_in_body": frame(req(6, "post", protocol=pstr("p"), name=pstr("n"), body=b"\xc6\xff\xff\xff\xff")),
    "count_ext32_huge": frame(b"\xc9\xff\xff\xff\xff\x01"),
    # responses (the target runs proto_response_decode on the raw input)
    "resp_pong": b"\x83\xa2id\x01\xa2ok\xc3\xa6result\xa4pong",
    "resp_error": b"\x83\xa2id\x03\xa2ok\xc2\xa5error\x82\xa4code\xa9not_found\xa7message\xa1m",
    "resp_error_unknown_code": b"\x83\xa2id\x03\xa2ok\xc2\xa5error\x81\xa4code\xa4nope",
}


def frames(*payloads):
    return b"".join(frame(p) for p in payloads)


def get(id_, protocol, name):
    if protocol is None:
        return req(id_, "get", name=pstr(name))
    return req(id_, "get", protocol=pstr(protocol), name=pstr(name))


def write(op, id_, protocol, name, body):
    return req(id_, op, protocol=pstr(protocol), name=pstr(name), body=body)


def unlock(id_, p):
    return req(id_, "unlock", passphrase=pstr(p))


BODY2 = pmap([(pstr("token"), pstr("n3w"))])
G = 0x80000000
DEEP_BODY = b"\x91" * 30 + pmap([(pstr("k"), pbin(b"\x00\xff"))])

# Against a hub that starts unlocked and empty with passphrase "correct horse"; a stream
# whose first frame is init runs on a new hub.
DISPATCH = {
    "post_get": frames(write("post", 1, "github", "alice", BODY), get(2, "github", "alice")),
    "post_twice": frames(write("post", 1, "github", "alice", BODY), write("post", 2, "github", "alice", BODY2), get(3, "github", "alice")),
    "put_replace": frames(write("put", 1, "github", "alice", BODY), write("put", 2, "github", "alice", BODY2), get(3, None, "alice")),
    "put_delete_get": frames(write("put", 4, "s3", "bob", BODY), req(5, "delete", protocol=pstr("s3"), name=pstr("bob")), get(6, "s3", "bob"), req(7, "getDb", protocol=pstr("s3"))),
    "delete_missing": frames(req(1, "delete", protocol=pstr("s3"), name=pstr("nobody"))),
    "order": frames(*(write("post", i, "p", n, puint(i)) for i, n in enumerate(["c", "a", "b"], 1)), req(4, "delete", protocol=pstr("p"), name=pstr("c")), write("post", 5, "p", "c", BODY), write("put", 6, "p", "a", BODY2), req(8, "getDb", protocol=pstr("p"))),
    "ambiguous": frames(write("post", 1, "a", "same", BODY), write("post", 2, "b", "same", BODY), get(3, None, "same"), req(4, "delete", protocol=pstr("a"), name=pstr("same")), get(5, None, "same")),
    "hub": frames(write("put", 1, "zz", "n1", BODY), write("put", 2, "a", "n1", BODY), write("put", 3, "a", "n2", BODY), write("put", 4, "a.b", "n", BODY), write("put", 5, "A", "n", BODY), req(6, "getHub"), req(7, "status")),
    "lock_refused": frames(write("post", 1, "github", "alice", BODY), req(2, "lock"), get(3, "github", "alice"), write("put", 4, "x", "y", BODY), req(5, "getHub"), req(6, "getDb", protocol=pstr("github")), req(7, "rotate"), req(8, "delete", protocol=pstr("github"), name=pstr("alice")), req(9, "status")),
    "lock_unlock": frames(write("post", 1, "github", "alice", BODY), req(2, "lock"), unlock(3, "wrong"), unlock(4, "correct horse"), get(5, "github", "alice")),
    "unlock_unlocked": frames(unlock(1, "anything")),
    "rotate": frames(write("post", 1, "a", "x", BODY), write("post", 2, "b", "y", DEEP_BODY), req(3, "rotate"), get(4, "b", "y"), req(5, "rotate")),
    "passwd": frames(req(1, "passwd", old=pstr("correct horse"), new=pstr("battery staple")), req(2, "lock"), unlock(3, "correct horse"), unlock(4, "battery staple"), req(5, "passwd", old=pstr("wrong"), new=pstr("x"))),
    "passwd_locked": frames(req(1, "lock"), req(2, "passwd", old=pstr("correct horse"), new=pstr("n")), unlock(3, "n")),
    "init_exists": frames(req(1, "ping"), req(2, "init", passphrase=pstr("x"))),
    "init_new": frames(req(1, "init", passphrase=pbin(b"\x00\x01")), write("post", 2, "p", "n", BODY), req(3, "lock"), unlock(4, "wrong"), req(5, "passwd", old=pbin(b"\x00\x01"), new=pstr("z")), unlock(6, "z"), req(7, "getHub")),
    "init_new_gated": frames(req(1, "init", passphrase=pstr("p")), req(2, "init", passphrase=pstr("q")), req(3, "status")),
    "body_max": frames(write("put", 1, "p", "n", pbin(b"\x00" * 65533)), get(2, "p", "n")),
    "names_edge": frames(write("post", 1, "p" * 64, "n" * 256, BODY), write("post", 2, "p" * 64, "\u00ef\U0001f511", BODY), req(3, "getDb", protocol=pstr("p" * 64)), get(4, "p" * 64, "n" * 256)),
    "bad_then_more": frames(req(1, "get"), write("post", 2, "p", "n", BODY)) + b"\x00\x00\x00\x01\xc1" + frame(get(3, "p", "n")),
    "many": frames(*(write("put", i, "p%d" % (i % 3), "n%d" % i, puint(i)) for i in range(1, 40)), req(40, "getHub"), req(41, "getDb", protocol=pstr("p1")), req(42, "rotate")),
    # ids with bit 31 set come from the peer under a grant (get, getDb, getHub, status, ping
    # on "a", "github" and "p")
    "granted": frames(write("post", 1, "github", "alice", BODY), write("post", 2, "s3", "bob", BODY),
                      get(G | 3, None, "alice"), get(G | 4, "s3", "bob"), get(G | 5, None, "bob"),
                      write("put", G | 6, "github", "alice", BODY2), req(G | 7, "getHub"),
                      req(G | 8, "getDb", protocol=pstr("github")), req(G | 9, "status"),
                      req(G | 10, "lock"), req(11, "lock"), get(G | 12, "github", "alice"), req(G | 13, "ping")),
    "granted_ambiguous": frames(write("post", 1, "github", "x", BODY), write("post", 2, "p", "x", BODY2),
                                write("post", 3, "s3", "x", BODY), get(G | 4, None, "x"), get(5, None, "x"),
                                req(6, "delete", protocol=pstr("p"), name=pstr("x")), get(G | 7, None, "x")),
}

JSON = {
    "object": b'{"user": "alice", "password": "hunter2", "port": 465, "tls": true}',
    "scalars": b'[null, true, false, 0, -1, 127, 128, -33, 65536, -2147483649, 9223372036854775807, -9223372036854775808]',
    "floats": b'[0.0, -0.0, 1.5, 1e300, 5e-324, 2.2250738585072014e-308, 0.1, 1E2, -1.7976931348623157e308, 1e-400]',
    "strings": '["", "a\\"b\\\\c", "\\n\\t\\u0001\\u007f", "\\u00e9\\ud83d\\udd11", "\u00e9\U0001f511", "\\ud800"]'.encode(),
    "bin": b'{"$bin": "AAEC/w=="}',
    "bin_bad": b'{"$bin": "not base64!"}',
    "bin_empty": b'{"$bin": ""}',
    "ext": b'{"$ext": [5, "AQID"]}',
    "ext_types": b'[{"$ext": [-128, "AA=="]}, {"$ext": [127, ""]}, {"$ext": [1, "AAECAwQFBgcICQoLDA0ODw=="]}, {"$ext": [128, "AA=="]}, {"$ext": [1]}]',
    "not_special": b'{"$bin": "AA==", "x": 1}',
    "nested": b'{"a": {"b": [1, {"c": [[], {}]}]}, "z": {"$bin": "AA=="}}',
    "deep_32": b"[" * 32 + b"]" * 32,
    "deep_33": b"[" * 33 + b"]" * 33,
    "deep_scalar": b"[" * 31 + b"1" + b"]" * 31,
    "dup_keys": b'{"a": 1, "a": 2}',
    "nul_string": b'"a\u0000b"',
    "nul_key": b'{"a\u0000": 1}',
    "bad_utf8": b'"\xff\xfe"',
    "trailing": b'{} {}',
    "big_int": b'18446744073709551616',
    "long_array": b"[" + b",".join(b"1" for _ in range(70000)) + b"]",
    "empty": b"",
    # MessagePack for the renderer
    "mp_map": pmap([(pstr("k"), pstr("v")), (puint(1), parr([])), (parr([pstr("x")]), pbin(b"\x01"))]),
    "mp_float32": parr([b"\xca\x3f\xc0\x00\x00", b"\xca\x7f\xc0\x00\x00", b"\xcb\x7f\xf0\x00\x00\x00\x00\x00\x00"]),
    "mp_uint64": parr([b"\xcf\xff\xff\xff\xff\xff\xff\xff\xff", b"\xd3\x80\x00\x00\x00\x00\x00\x00\x00"]),
    "mp_ext": parr([b"\xd4\x01\x02", b"\xd8\xff" + bytes(16), b"\xc7\x00\x05", b"\xc8\x00\x01\x07\x00"]),
    "mp_bad_utf8_ctrl": pstr(b"\xff\x00\x1f\x7f\xc2\x80\xed\xa0\x80\xf4\x90\x80\x80"),
    "mp_nul_key": pmap([(pstr(b"a\x00"), b"\xc0")]),
    "mp_dup_keys": pmap([(pstr("a"), puint(1)), (pstr("a"), puint(2))]),
    "mp_key_in_key": pmap([(pmap([(pmap([(parr([pstr("x")]), b"\xc0")]), b"\xc0")]), b"\xc0")]),
    "mp_deep_32": b"\x91" * 31 + b"\x90",
    "mp_bin_shaped": pmap([(pstr("$bin"), pstr("AA=="))]),
}


def gluedb(records, model="pyswark.gluedb.db.Db"):
    root = {"contents": {"records": records}}
    if model is not None:
        root = {"model": model, **root}
    return json.dumps(root, indent=1).encode()


def grec(name, contents, body_model="pyswark.sekrets.models.Cred"):
    info = {"name": name, "date_created": "2024-05-01T12:00:00+00:00",
            "date_modified": "2024-05-02T08:30:00+00:00"}
    return {"info": info, "body": {"model": body_model, "contents": contents}}


GLUEDB = {
    "two": gluedb([grec("alice@example.com", {"client_id": "123", "client_secret": "s"}),
                   grec("bob", {"user": "bob", "password": "hunter2", "port": 465})]),
    "empty": gluedb([]),
    "contents_string": gluedb([grec("carol", json.dumps({"token": "t", "n": [1, 2.5, None]}))]),
    "contents_string_bad": gluedb([grec("carol", "{not json")]),
    "contents_string_array": gluedb([grec("carol", "[1, 2]")]),
    "contents_array": gluedb([grec("dave", [1, 2])]),
    "no_model": gluedb([grec("x", {"a": 1})], model=None),
    "model_not_str": gluedb([grec("x", {"a": 1})], model=5),
    "dup_name": gluedb([grec("x", {"a": 1}), grec("x", {"a": 2})]),
    "bad_name_ctrl": gluedb([grec("a\u0085b", {"a": 1})]),
    "bad_name_nul": gluedb([grec("a\u0000b", {"a": 1})]),
    "bad_name_long": gluedb([grec("n" * 257, {"a": 1})]),
    "name_max_unicode": gluedb([grec("n" * 252 + "\U0001f511", {"k": "\u00e9"})]),
    "no_info": gluedb([{"body": {"contents": {}}}]),
    "no_body": gluedb([{"info": {"name": "x"}}]),
    "record_not_object": gluedb([1, "two"]),
    "records_not_array": b'{"model": "pyswark.gluedb.db.Db", "contents": {"records": {}}}',
    "not_object": b"[]",
    "invalid_json": b'{"contents": {"records": [',
    "dup_key": b'{"contents": {"records": []}, "contents": {}}',
    "body_special": gluedb([grec("b", {"key": {"$bin": "AAEC"}, "e": {"$ext": [3, "AQ=="]}}),
                            grec("c", {"$bin": "AAEC"})]),
    "body_deep": gluedb([grec("d", json.loads("[" * 30 + "]" * 30) and {"d": json.loads("[" * 29 + "]" * 29)})]),
    "body_too_deep": gluedb([grec("d", {"d": json.loads("[" * 40 + "]" * 40)})]),
    "body_big": gluedb([grec("big", {"blob": "x" * 65600})]),
    "many": gluedb([grec("user%03d" % i, {"i": i, "s": "v%d" % i}) for i in range(60)]),
}

CORPORA = {"request": SEEDS, "dispatch": DISPATCH, "json": JSON, "gluedb": GLUEDB}


def main():
    for corpus, seeds in CORPORA.items():
        out = os.path.join(HERE, corpus)
        os.makedirs(out, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(out, "seed_" + name), "wb") as f:
                f.write(data)
        print(f"wrote {len(seeds)} seeds to {out}")


if __name__ == "__main__":
    main()
