#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_request into corpus/request/ (Python stdlib only).

Each seed is a byte stream as a peer would send it: frames of a 4-byte big-endian length
and one MessagePack object, packed here by hand. Run from anywhere; it rewrites the
seeds it owns and leaves other files (libFuzzer finds, regressions) alone.
"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "request")


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


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(OUT, "seed_" + name), "wb") as f:
            f.write(data)
    print(f"wrote {len(SEEDS)} seeds to {OUT}")


if __name__ == "__main__":
    main()
