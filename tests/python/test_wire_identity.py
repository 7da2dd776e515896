"""The Python client and the C codec (proto_request_encode, which libsekrets and
sekrets-cli pack with) produce byte-identical request frames for the same call. The C
side is the encode_request helper built beside this test."""

import subprocess
import tempfile
import unittest

import msgpack

import sekrets
from sekrets import client as skc
from sekrets_testlib import ENCODE_HELPER, FakeDaemon, complete_frames, frame


def c_encode(id, op, **fields):
    argv = [ENCODE_HELPER, str(id), op]
    tmp = None
    for k, v in fields.items():
        if k == "body":
            tmp = tempfile.NamedTemporaryFile(prefix="skr-body-")
            tmp.write(v)
            tmp.flush()
            v = "@" + tmp.name
        elif isinstance(v, bytes):
            v = "hex:" + v.hex()
        elif isinstance(v, bool):
            v = "true" if v else "false"
        argv.append(f"{k}={v}")
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    finally:
        if tmp is not None:
            tmp.close()
    line = out.stdout.strip()
    if line.startswith("error "):
        return int(line.split()[1])
    if out.returncode != 0:
        raise RuntimeError(f"encode_request failed: {argv} {out.stderr}")
    return bytes.fromhex(line)


def py_encode(id, op, **fields):
    if "body" in fields:
        fields["body_packed"] = fields.pop("body")
    try:
        return bytes(skc.encode_request(id, op, **fields))
    except sekrets.SekretsError as e:
        return e.errno


def body(obj):
    return msgpack.packb(obj, use_bin_type=True)


CASES = [
    (1, "ping", {}),
    (2, "status", {}),
    (3, "get", {"protocol": "github", "name": "alice"}),
    (3, "get", {"name": "alice"}),
    (4, "getDb", {"protocol": "github"}),
    (5, "getHub", {}),
    (6, "post", {"protocol": "github", "name": "alice", "body": body({"token": "s3cr3t"})}),
    (7, "put", {"protocol": "github", "name": "alice", "body": body({"token": "n3w"})}),
    (8, "delete", {"protocol": "github", "name": "alice"}),
    (9, "init", {"passphrase": "correct horse"}),
    (10, "unlock", {"passphrase": "correct horse"}),
    (11, "lock", {}),
    (12, "passwd", {"old": "correct horse", "new": "battery staple"}),
    (13, "rotate", {}),
    # integer widths of the id
    (0, "ping", {}), (127, "ping", {}), (128, "ping", {}), (255, "ping", {}),
    (256, "ping", {}), (65535, "ping", {}), (65536, "ping", {}), (2 ** 32 - 1, "ping", {}),
    # string widths and UTF-8
    (14, "get", {"protocol": "p" * 31, "name": "n" * 31}),
    (15, "get", {"protocol": "p" * 32, "name": "n" * 32}),
    (16, "get", {"protocol": "A.b_c-9" * 9 + "x", "name": "\u00e9\u4e2d\U0001f511" * 20}),
    (17, "get", {"name": "n" * 256}),
    (18, "get", {"name": "sp ace/and:colon@host"}),
    # bodies of every kind
    (19, "put", {"protocol": "s3", "name": "k", "body": body(
        {"i": -1, "big": 2 ** 64 - 1, "neg": -(2 ** 63), "f": 0.25, "t": True, "n": None,
         "bin": b"\x00\x01", "arr": [1, "two", [3.5]], "nested": {"a": {"b": {}}}})}),
    (20, "put", {"protocol": "s3", "name": "k", "body": body("a plain string")}),
    (21, "put", {"protocol": "s3", "name": "k", "body": body(None)}),
    (22, "put", {"protocol": "s3", "name": "k", "body": body({"s": "y" * 300})}),
    (23, "post", {"protocol": "s3", "name": "k", "body": body(b"z" * 65533)}),
    # passphrases: str, bytes (sent as str either way), long, non-UTF-8 bytes
    (24, "unlock", {"passphrase": b"raw \xff\xfe bytes"}),
    (25, "init", {"passphrase": "x" * 4096}),
    (26, "passwd", {"old": "p" * 40, "new": "\u00e9t\u00e9 " * 100}),
    # refused by both with the same code
    (27, "get", {"protocol": "bad protocol", "name": "n"}),
    (28, "get", {"protocol": "p", "name": "tab\there"}),
    (29, "post", {"protocol": "p", "name": "n", "body": body(b"z" * 65534)}),
    (30, "unlock", {"passphrase": "x" * 4097}),
    (31, "get", {"protocol": "p" * 65, "name": "n"}),
    (32, "get", {"protocol": "p", "name": "n" * 257}),
    (33, "post", {"protocol": "p", "name": "n", "body": b"\x91" * 30 + b"\x90"}),
    (34, "post", {"protocol": "p", "name": "n", "body": b"\x91" * 31 + b"\x90"}),
    # passwd that also replaces the data key; false is packed when given
    (35, "passwd", {"old": "correct horse", "new": "battery staple", "rotate": True}),
    (36, "passwd", {"old": "correct horse", "new": "battery staple", "rotate": False}),
]


@unittest.skipUnless(ENCODE_HELPER, "SKR_ENCODE_HELPER is not set (run through meson test)")
class TestByteIdentity(unittest.TestCase):
    def test_encode_request_matches_c(self):
        for id, op, fields in CASES:
            with self.subTest(id=id, op=op):
                c = c_encode(id, op, **fields)
                py = py_encode(id, op, **dict(fields))
                self.assertEqual(py, c)

    def test_cases_cover_accept_and_refuse(self):
        results = [c_encode(id, op, **f) for id, op, f in CASES]
        self.assertEqual(sum(isinstance(r, int) for r in results), 7)
        self.assertEqual(sorted({r for r in results if isinstance(r, int)}), [-21, -12])

    def test_python_body_packing_matches_packed_body(self):
        obj = {"sekret": "reach for the sky", "n": 3, "b": b"\x01", "l": [1.5, None]}
        self.assertEqual(py_encode(6, "post", protocol="TEST", name="woody", body=body(obj)),
                         bytes(skc.encode_request(6, "post", protocol="TEST", name="woody",
                                                  body=obj)))

    def test_bytes_on_the_socket_match_c(self):
        """What Client actually writes, call by call, is what the C codec makes for the
        same call with the same id."""
        answered = {}

        def script(conn, got):
            frames = complete_frames(got)
            start = answered.get(id(conn), 0)
            answered[id(conn)] = len(frames)
            return b"".join(reply(msgpack.unpackb(f, raw=False)) for f in frames[start:])

        def reply(req):
            op = req["op"]
            result = {"get": {"protocol": "p", "name": "n", "body": {}, "created": 1, "modified": 1},
                      "getDb": {"protocol": "p", "names": []}, "getHub": {"protocols": []},
                      "post": {"created": True}, "put": {"created": True},
                      "delete": {"deleted": True}, "rotate": {"records": 0},
                      "ping": "pong", "status": {}}.get(op, {})
            return frame(msgpack.packb({"id": req["id"], "ok": True, "result": result}))
        fake = FakeDaemon(script)
        try:
            c = sekrets.Client(fake.path, timeout=10)
            c.ping()
            c.status()
            c.get("alice", "github")
            c.get("alice")
            c.get_db("github")
            c.get_hub()
            c.post("github", "alice", {"token": "s3cr3t"})
            c.put("github", "alice", {"token": "n3w"})
            c.delete("github", "alice")
            c.init("correct horse")
            c.unlock(b"correct horse")
            c.lock()
            c.passwd("correct horse", b"battery staple")
            c.rotate()
            c.passwd("battery staple", "correct horse", rotate=True)
            c.get_many(["a", ("b", "p")])
            c.close()
        finally:
            fake.close()
        sent = complete_frames(b"".join(fake.received))
        expected = [
            c_encode(1, "ping"), c_encode(2, "status"),
            c_encode(3, "get", protocol="github", name="alice"), c_encode(4, "get", name="alice"),
            c_encode(5, "getDb", protocol="github"), c_encode(6, "getHub"),
            c_encode(7, "post", protocol="github", name="alice", body=body({"token": "s3cr3t"})),
            c_encode(8, "put", protocol="github", name="alice", body=body({"token": "n3w"})),
            c_encode(9, "delete", protocol="github", name="alice"),
            c_encode(10, "init", passphrase="correct horse"),
            c_encode(11, "unlock", passphrase="correct horse"),
            c_encode(12, "lock"),
            c_encode(13, "passwd", old="correct horse", new="battery staple"),
            c_encode(14, "rotate"),
            c_encode(15, "passwd", old="battery staple", new="correct horse", rotate=True),
            c_encode(16, "get", name="a"), c_encode(17, "get", protocol="p", name="b"),
        ]
        self.assertEqual([frame(p) for p in sent], expected)

    def test_protocol_md_vector(self):
        # One vector straight from proto/PROTOCOL.md, as a fixed point for both sides.
        v = bytes.fromhex("0000001e83a2696404a26f70a56765744462a870726f746f636f6ca6676974687562")
        self.assertEqual(c_encode(4, "getDb", protocol="github"), v)
        self.assertEqual(py_encode(4, "getDb", protocol="github"), v)


if __name__ == "__main__":
    unittest.main()
