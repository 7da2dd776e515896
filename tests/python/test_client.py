"""sekrets.Client against a real sekretsd: every operation, pipelining, timeouts, socket
path resolution, and every error class (wire codes from the daemon where it can produce
them, else from a scripted fake daemon)."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import msgpack

import sekrets
from sekrets import client as skc
from sekrets_testlib import Daemon, DaemonTest, FakeDaemon, frame, complete_frames


def answer(id, ok=True, result=None, code=None, message="m"):
    m = {"id": id, "ok": ok}
    if ok:
        m["result"] = result
    else:
        m["error"] = {"code": code, "message": message}
    return frame(msgpack.packb(m, use_bin_type=True))


def last_id(data):
    frames = complete_frames(data)
    return msgpack.unpackb(frames[-1])["id"] if frames else None


class TestStatusFresh(DaemonTest):
    def test_status_of_a_new_keyfile_hub(self):
        with self.daemon.client() as c:
            st = c.status()
        st.pop("uptime_s")
        self.assertIn(st.pop("suite"), ("aes-256-gcm", "xchacha20-poly1305"))
        self.assertEqual(st, {"initialized": True, "locked": False, "version": "0.1.0",
                              "protocols": 0, "credentials": 0, "idle_lock_s": 0,
                              "hub": self.daemon.hub, "socket": self.daemon.socket,
                              "kdf": {"kind": "keyfile"}})


class TestOps(DaemonTest):
    def setUp(self):
        self.c = self.daemon.client(timeout=10)

    def tearDown(self):
        self.c.close()

    def test_ping(self):
        self.assertEqual(self.c.ping(), "pong")
        self.assertTrue(self.c.connected)
        self.assertEqual(self.c.path, self.daemon.socket)

    def test_post_get_put_delete(self):
        c = self.c
        self.assertTrue(c.post("ops", "alice", {"token": "s3cr3t", "n": 7}))
        r = c.get("alice", "ops")
        self.assertEqual(set(r), {"protocol", "name", "body", "created", "modified"})
        self.assertEqual((r["protocol"], r["name"], r["body"]),
                         ("ops", "alice", {"token": "s3cr3t", "n": 7}))
        self.assertLessEqual(abs(r["created"] - time.time()), 5)
        self.assertEqual(r["created"], r["modified"])
        self.assertIs(c.put("ops", "alice", {"token": "n3w"}), False)
        self.assertIs(c.put("ops", "bob", {"token": "b"}), True)
        self.assertEqual(c.get("alice", "ops")["body"], {"token": "n3w"})
        self.assertEqual(c.get("alice", "ops")["created"], r["created"])
        self.assertEqual(c.get_db("ops"), ["alice", "bob"])
        self.assertIs(c.delete("ops", "alice"), True)
        self.assertIs(c.delete("ops", "alice"), False)
        self.assertEqual(c.get_db("ops"), ["bob"])
        self.assertIs(c.delete("ops", "bob"), True)
        with self.assertRaises(sekrets.NotFound):
            c.get_db("ops")

    def test_body_types_round_trip(self):
        body = {"s": "h\u00e9", "b": b"\x00\xff", "i": -(2 ** 63), "u": 2 ** 64 - 1,
                "f": 1.5, "t": True, "n": None, "a": [1, [2, {"x": []}]], 3: "int key"}
        self.c.put("types", "x", body)
        self.assertEqual(self.c.get("x", "types")["body"], body)
        self.assertIsInstance(self.c.get("x", "types")["body"]["b"], bytes)
        for scalar in ("just a string", 42, None, [1, 2]):
            self.c.put("types", "scalar", scalar)
            self.assertEqual(self.c.get("scalar", "types")["body"], scalar)

    def test_get_hub_sorted_with_counts(self):
        self.c.put("hub-b", "one", {})
        self.c.put("hub-a", "one", {})
        self.c.put("hub-a", "two", {})
        hub = self.c.get_hub()
        self.assertEqual(list(hub), sorted(hub, key=lambda s: s.encode()))
        self.assertEqual((hub["hub-a"], hub["hub-b"]), (2, 1))

    def test_get_many_pipelined(self):
        names = [f"user{i:04d}" for i in range(600)]
        for n in names[:300]:
            self.c.put("many", n, {"i": n})
        items = [(n, "many") for n in names]
        res = self.c.get_many(items, return_exceptions=True)
        self.assertEqual(len(res), 600)
        self.assertEqual([r["body"]["i"] for r in res[:300]], names[:300])
        self.assertTrue(all(isinstance(r, sekrets.NotFound) for r in res[300:]))
        self.assertEqual((res[300].protocol, res[300].name), ("many", "user0300"))
        self.assertEqual(res[300].message, "no credential 'user0300' in protocol 'many'")
        with self.assertRaises(sekrets.NotFound):
            self.c.get_many(items)
        self.assertEqual(self.c.ping(), "pong")     # still in step after the batch
        self.assertEqual(self.c.get_many([]), [])
        self.assertEqual([r["name"] for r in self.c.get_many(["user0001", ("user0002", "many")])],
                         ["user0001", "user0002"])

    def test_ids_increase_and_are_echoed(self):
        resp = self.c.call_raw({"id": 4242, "op": "ping"})
        self.assertEqual(resp, {"id": 4242, "ok": True, "result": "pong"})
        resp = self.c.call_raw({"op": "ping"})
        self.assertTrue(resp["ok"])
        self.assertGreater(resp["id"], 0)

    def test_reconnects_after_close(self):
        self.c.close()
        self.assertFalse(self.c.connected)
        self.assertEqual(self.c.ping(), "pong")

    def test_connect_false_defers(self):
        c = sekrets.Client(self.daemon.socket, connect=False)
        self.assertFalse(c.connected)
        self.assertEqual(c.ping(), "pong")
        c.close()

    def test_post_get_pipelined(self):
        created, rec = self.c.post_get("pg", "n", {"a": 1})
        self.assertEqual((created, rec["body"]), (True, {"a": 1}))
        created, rec = self.c.post_get("pg", "n", {"a": 2}, replace=True)
        self.assertEqual((created, rec["body"]), (False, {"a": 2}))


class TestWireErrors(DaemonTest):
    """Error answers the daemon produces, each as its class with the wire code."""

    def setUp(self):
        self.c = self.daemon.client(timeout=10)

    def tearDown(self):
        self.c.close()

    def check(self, cls, code, errno, fn, id=None):
        with self.assertRaises(cls) as cm:
            fn()
        e = cm.exception
        self.assertIsInstance(e, sekrets.SekretsError)
        self.assertEqual((e.code, e.errno), (code, errno))
        self.assertIsInstance(e.message, str)
        if id is not None:
            self.assertEqual(e.id, id)
        return e

    def test_bad_frame_closes_connection(self):
        e = self.check(sekrets.BadFrame, "bad_frame", -1,
                       lambda: self.c.call_raw(b"\x82\xa2id\x01\xa2op\xa4ping\xc0", check=True),
                       id=1)
        self.assertEqual(e.message, "1 bytes left over after the MessagePack object")
        self.assertEqual(self.c.ping(), "pong")      # a new connection

    def test_bad_request(self):
        self.check(sekrets.BadRequest, "bad_request", -2,
                   lambda: self.c.call_raw({"id": 7, "op": "get"}, check=True), id=7)
        self.check(sekrets.BadRequest, "bad_request", -2,
                   lambda: self.c.call_raw({"id": 8, "op": "get", "name": 5}, check=True), id=8)

    def test_unsupported(self):
        self.check(sekrets.Unsupported, "unsupported", -3,
                   lambda: self.c.call_raw({"id": 7, "op": "ping", "v": 2}, check=True), id=7)

    def test_unknown_op(self):
        e = self.check(sekrets.UnknownOp, "unknown_op", -4,
                       lambda: self.c.call_raw({"id": 7, "op": "pong"}, check=True), id=7)
        self.assertEqual(e.message, "unknown op 'pong'")

    def test_not_found_is_a_lookup_error(self):
        e = self.check(sekrets.NotFound, "not_found", -5, lambda: self.c.get("nobody", "nowhere"))
        self.assertIsInstance(e, LookupError)
        self.assertEqual((e.protocol, e.name), ("nowhere", "nobody"))   # names what is missing
        self.assertEqual(str(e), "not_found: no credential 'nobody' in protocol 'nowhere'")
        e = self.check(sekrets.NotFound, "not_found", -5, lambda: self.c.get("nobody"))
        self.assertEqual(e.message, "no credential 'nobody' in any protocol")
        e = self.check(sekrets.NotFound, "not_found", -5, lambda: self.c.get_db("nowhere"))
        self.assertEqual((e.protocol, e.name, e.message), ("nowhere", None, "no protocol 'nowhere'"))

    def test_ambiguous(self):
        self.c.put("amb1", "same", {})
        self.c.put("amb2", "same", {})
        e = self.check(sekrets.Ambiguous, "ambiguous", -6, lambda: self.c.get("same"))
        self.assertEqual(e.protocols, ("amb1", "amb2"))   # who holds the name
        self.assertIn("amb1 amb2", e.message)
        self.assertEqual(self.c.get("same", "amb2")["protocol"], "amb2")

    def test_exists(self):
        self.c.post("ex", "once", {})
        self.check(sekrets.Exists, "exists", -7, lambda: self.c.post("ex", "once", {}))
        self.check(sekrets.Exists, "exists", -7, lambda: self.c.init("whatever"))

    def test_error_keeps_connection(self):
        with self.assertRaises(sekrets.NotFound):
            self.c.get("nobody", "nowhere")
        self.assertTrue(self.c.connected)
        self.assertEqual(self.c.ping(), "pong")


class TestPassphraseHub(unittest.TestCase):
    """init, unlock, lock, passwd, rotate on a passphrase hub; Locked, BadPassphrase,
    RateLimited."""

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon(keyfile=False)
        try:
            cls.daemon.start()
        except BaseException:
            cls.daemon.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()

    def test_lifecycle(self):
        c = self.daemon.client(timeout=20)
        st = c.status()
        self.assertEqual((st["initialized"], st["locked"]), (False, True))
        with self.assertRaises(sekrets.Locked) as cm:
            c.get("x", "p")
        self.assertEqual((cm.exception.code, cm.exception.errno), ("locked", -8))
        c.init("first pass")
        self.assertEqual(c.status()["locked"], False)
        c.post("p", "n", {"pw": "body"})
        c.lock()
        self.assertEqual(c.status()["locked"], True)
        with self.assertRaises(sekrets.Locked):
            c.get_hub()
        with self.assertRaises(sekrets.BadPassphrase) as cm:
            c.unlock(b"wrong")
        self.assertEqual((cm.exception.code, cm.exception.errno), ("bad_passphrase", -10))
        with self.assertRaises(sekrets.RateLimited) as cm:
            c.unlock("first pass")              # right away: refused
        self.assertEqual((cm.exception.code, cm.exception.errno), ("rate_limited", -11))
        self.assertEqual(cm.exception.retry_after, 1)   # the 1 s delay, in whole seconds
        deadline = time.monotonic() + 5
        while True:
            try:
                c.unlock(b"first pass")         # bytes work as well as str
                break
            except sekrets.RateLimited:
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.1)
        self.assertEqual(c.get("n", "p")["body"], {"pw": "body"})
        c.passwd("first pass", "second pass \u00e9")
        self.assertEqual(c.rotate(), 1)
        self.assertEqual(c.get("n", "p")["body"], {"pw": "body"})
        c.lock()
        c.unlock("second pass \u00e9".encode())
        self.assertEqual(c.get("n", "p")["body"], {"pw": "body"})
        # rotate=True: a new data key in the same call (the `keys` file names a new id)
        keys = os.path.join(self.daemon.hub, "keys")
        with open(keys, "rb") as f:
            id0 = f.read(33)[25:33]
        with self.assertRaises(sekrets.InvalidArgument):
            c.passwd("second pass \u00e9", "third pass", rotate="yes")
        c.passwd("second pass \u00e9", "third pass", rotate=True)
        with open(keys, "rb") as f:
            self.assertNotEqual(f.read(33)[25:33], id0)
        c.lock()
        c.unlock("third pass")
        self.assertEqual(c.get("n", "p")["body"], {"pw": "body"})
        c.close()
        self.assertNotIn("second pass", self.daemon.logtext())
        self.assertNotIn("first pass", self.daemon.logtext())


class TestTooLargeAndBusy(unittest.TestCase):
    def test_answer_over_max_frame_is_too_large(self):
        d = Daemon(extra=["--max-frame", "1024"])
        try:
            d.start()
            with d.client() as c:
                for i in range(12):
                    c.put("big", f"{i:02d}" + "n" * 200, {})
                with self.assertRaises(sekrets.TooLarge) as cm:
                    c.get_db("big")
                self.assertEqual((cm.exception.code, cm.exception.errno), ("too_large", -12))
                self.assertEqual(c.ping(), "pong")
        finally:
            d.stop()

    def test_client_refuses_frames_over_its_max(self):
        d = Daemon()
        try:
            d.start()
            with d.client(max_frame=512) as c:
                with self.assertRaises(sekrets.TooLarge):
                    c.put("big", "x", {"v": "y" * 600})
                c.put("big", "x", {"v": "y" * 400})
                c.max_frame = 100
                with self.assertRaises(sekrets.ProtocolError):
                    c.get("x", "big")            # the answer is longer than 100 bytes
                self.assertFalse(c.connected)
        finally:
            d.stop()

    def test_busy(self):
        d = Daemon(extra=["--max-clients", "1"])
        try:
            d.start()
            with d.client() as a:
                self.assertEqual(a.ping(), "pong")
                b = d.client()
                with self.assertRaises(sekrets.Busy) as cm:
                    b.ping()
                self.assertEqual((cm.exception.code, cm.exception.errno, cm.exception.id),
                                 ("busy", -14, 0))
                self.assertFalse(b.connected)
        finally:
            d.stop()


DENIED_CHILD = r"""
import sys, sekrets
c = sekrets.Client(sys.argv[1], timeout=10)
try:
    c.ping()
    print("ok")
except sekrets.SekretsError as e:
    print(type(e).__name__, e.code, e.errno, e.id)
"""


@unittest.skipUnless(os.geteuid() == 0, "needs root to act as another uid")
class TestDenied(unittest.TestCase):
    def test_other_uid_is_denied_at_accept(self):
        d = Daemon()
        try:
            d.start()
            os.chmod(d.dir, 0o755)
            os.chmod(os.path.dirname(d.socket), 0o755)
            os.chmod(d.socket, 0o666)
            # A copy of the package where uid 65534 can read it: the checkout may sit in
            # a folder closed to other users.
            pkg = os.path.join(d.dir, "py")
            shutil.copytree(os.path.dirname(os.path.abspath(sekrets.__file__)),
                            os.path.join(pkg, "sekrets"))
            for root, dirs, files in os.walk(pkg):
                os.chmod(root, 0o755)
                for f in files:
                    os.chmod(os.path.join(root, f), 0o644)
            env = dict(os.environ, PYTHONPATH=pkg)
            out = subprocess.run([sys.executable, "-c", DENIED_CHILD, d.socket], user=65534,
                                 group=65534, env=env, capture_output=True, text=True,
                                 timeout=30, cwd="/")
            self.assertEqual(out.stdout.strip(), "Denied denied -9 0", out.stderr)
        finally:
            d.stop()


FAKE_FOREIGN = os.environ.get("SKR_FAKE_FOREIGN")


@unittest.skipUnless(os.geteuid() == 0, "needs root to act as another uid")
class TestForeignDaemon(unittest.TestCase):
    """A daemon run by another uid (tests/client/fake_foreign as 65534) gets nothing."""

    def start_fake(self):
        self.assertTrue(FAKE_FOREIGN, "SKR_FAKE_FOREIGN is not set (run through meson test)")
        d = tempfile.mkdtemp(prefix="skr-pyforeign-")
        self.addCleanup(shutil.rmtree, d, True)
        fake = subprocess.Popen([FAKE_FOREIGN, "65534", d], stdout=subprocess.PIPE, text=True)
        self.addCleanup(fake.kill)
        self.assertEqual(fake.stdout.readline(), "ready\n")
        return fake, os.path.join(d, "s.sock")

    def received(self, fake):
        out, _ = fake.communicate(timeout=30)
        self.assertEqual(fake.returncode, 0)
        return int(out)

    def test_refused_before_sending(self):
        fake, path = self.start_fake()
        with self.assertRaises(sekrets.Denied) as cm:
            sekrets.Client(path, timeout=2)
        self.assertEqual(cm.exception.message, f"daemon at {path} runs as uid 65534, not you")
        self.assertEqual((cm.exception.code, cm.exception.errno), ("denied", -9))
        self.assertEqual(self.received(fake), 0)

    def test_unlock_sends_no_passphrase(self):
        fake, path = self.start_fake()
        c = sekrets.Client(path, timeout=2, connect=False)
        with self.assertRaises(sekrets.Denied):
            c.unlock("correct horse")
        self.assertFalse(c.connected)
        self.assertEqual(self.received(fake), 0)

    def test_configured_uid_is_trusted(self):
        fake, path = self.start_fake()
        old = os.environ.get("SEKRETS_DAEMON_UID")
        self.addCleanup(lambda: os.environ.pop("SEKRETS_DAEMON_UID", None) if old is None
                        else os.environ.__setitem__("SEKRETS_DAEMON_UID", old))
        os.environ["SEKRETS_DAEMON_UID"] = "x1"
        with self.assertRaises(sekrets.InvalidArgument):
            sekrets.Client(path, timeout=2)
        os.environ["SEKRETS_DAEMON_UID"] = "65534"
        with sekrets.Client(path, timeout=0.3) as c:      # trusted: the ping is sent
            with self.assertRaises(sekrets.Timeout):
                c.ping()
        self.assertGreater(self.received(fake), 0)


class TestFakeDaemon(unittest.TestCase):
    """Answers sekretsd never gives, from a scripted socket."""

    def run_fake(self, script, call, timeout=5):
        fake = FakeDaemon(script)
        try:
            c = sekrets.Client(fake.path, timeout=timeout)
            try:
                return call(c), fake
            finally:
                c.close()
        finally:
            fake.close()

    def wire_error(self, code):
        def script(conn, got):
            i = last_id(got)
            return answer(i, ok=False, code=code, message="from fake") if i else None
        with self.assertRaises(sekrets.SekretsError) as cm:
            self.run_fake(script, lambda c: c.ping())
        return cm.exception

    def test_every_wire_code_maps_to_its_class(self):
        table = {"bad_frame": sekrets.BadFrame, "bad_request": sekrets.BadRequest,
                 "unsupported": sekrets.Unsupported, "unknown_op": sekrets.UnknownOp,
                 "not_found": sekrets.NotFound, "ambiguous": sekrets.Ambiguous,
                 "exists": sekrets.Exists, "locked": sekrets.Locked,
                 "denied": sekrets.Denied, "bad_passphrase": sekrets.BadPassphrase,
                 "rate_limited": sekrets.RateLimited, "too_large": sekrets.TooLarge,
                 "integrity": sekrets.Integrity, "busy": sekrets.Busy,
                 "internal": sekrets.Internal}
        for errno, (code, cls) in enumerate(table.items(), start=1):
            e = self.wire_error(code)
            self.assertIs(type(e), cls)
            self.assertEqual((e.code, e.errno, e.message, e.id), (code, -errno, "from fake", 1))
            self.assertEqual(str(e), f"{code}: from fake")

    def detailed_error(self, details):
        def script(conn, got):
            i = last_id(got)
            err = {"code": details.pop("code"), "message": "m", **details} if i else None
            return frame(msgpack.packb({"id": i, "ok": False, "error": err})) if i else None
        with self.assertRaises(sekrets.SekretsError) as cm:
            self.run_fake(script, lambda c: c.ping())
        return cm.exception

    def test_error_details(self):
        e = self.detailed_error({"code": "ambiguous", "protocols": ["a", "b"], "future": 1})
        self.assertEqual((type(e), e.protocols), (sekrets.Ambiguous, ("a", "b")))
        e = self.detailed_error({"code": "rate_limited", "retry_after": 7})
        self.assertEqual((type(e), e.retry_after), (sekrets.RateLimited, 7))
        e = self.detailed_error({"code": "rate_limited"})      # an older daemon: no wait given
        self.assertIsNone(e.retry_after)
        e = self.detailed_error({"code": "ambiguous"})
        self.assertEqual(e.protocols, ())
        for bad in ({"code": "ambiguous", "protocols": "a"}, {"code": "ambiguous", "protocols": [1]},
                    {"code": "rate_limited", "retry_after": -1},
                    {"code": "rate_limited", "retry_after": "7"}):
            self.assertIs(type(self.detailed_error(bad)), sekrets.ProtocolError)

    def test_unknown_code_reads_as_internal(self):
        e = self.wire_error("brand_new_code")
        self.assertIs(type(e), sekrets.Internal)
        self.assertEqual(e.code, "internal")
        self.assertIn("brand_new_code", e.message)

    def test_denied_at_accept(self):
        def script(conn, got):
            return answer(0, ok=False, code="denied", message="permission denied") if not got else "close"
        with self.assertRaises(sekrets.Denied) as cm:
            self.run_fake(script, lambda c: c.get("a", "b"))
        self.assertEqual((cm.exception.id, cm.exception.errno), (0, -9))

    def test_timeout(self):
        t0 = time.monotonic()
        with self.assertRaises(sekrets.Timeout) as cm:
            self.run_fake(lambda conn, got: None, lambda c: c.ping(), timeout=0.3)
        took = time.monotonic() - t0
        self.assertEqual((cm.exception.code, cm.exception.errno), ("timeout", -18))
        self.assertGreaterEqual(took, 0.29)
        self.assertLess(took, 3)

    def test_timeout_is_per_call_even_when_bytes_trickle(self):
        def script(conn, got):
            if got:
                conn.sendall(b"\x00")            # a byte of a frame, then nothing more
            return None
        t0 = time.monotonic()
        with self.assertRaises(sekrets.Timeout):
            self.run_fake(script, lambda c: c.ping(), timeout=0.3)
        self.assertLess(time.monotonic() - t0, 3)

    def test_closed_without_answer_is_transport_error(self):
        def script(conn, got):
            return "close" if got else None
        with self.assertRaises(sekrets.TransportError) as cm:
            self.run_fake(script, lambda c: c.ping())
        self.assertEqual((cm.exception.code, cm.exception.errno), ("io", -17))

    def protocol_error(self, reply):
        def script(conn, got):
            return reply(last_id(got)) if last_id(got) else None
        with self.assertRaises(sekrets.ProtocolError) as cm:
            self.run_fake(script, lambda c: c.ping())
        self.assertEqual((cm.exception.code, cm.exception.errno), ("protocol", -20))

    def test_protocol_errors(self):
        self.protocol_error(lambda i: answer(i + 1, result="pong"))           # wrong id
        self.protocol_error(lambda i: b"\x00\x00\x00\x00")                      # L = 0
        self.protocol_error(lambda i: b"\x00\x10\x00\x01")                      # L > 1 MiB
        self.protocol_error(lambda i: b"\xff\xff\xff\xff")
        self.protocol_error(lambda i: frame(b"\xc1"))                           # never-used byte
        self.protocol_error(lambda i: frame(msgpack.packb({"id": i, "ok": True, "result": 1}) + b"\xc0"))
        self.protocol_error(lambda i: frame(msgpack.packb([i, True])))          # not a map
        self.protocol_error(lambda i: frame(msgpack.packb({"id": i, "ok": True})))
        self.protocol_error(lambda i: frame(msgpack.packb({"id": i, "ok": 1, "result": 1})))
        self.protocol_error(lambda i: frame(msgpack.packb({"id": -1, "ok": True, "result": 1})))
        self.protocol_error(lambda i: frame(msgpack.packb({"id": i, "ok": False, "error": {"message": "x"}})))
        self.protocol_error(lambda i: frame(msgpack.packb({"id": i, "ok": False, "error": "x"})))
        self.protocol_error(lambda i: frame(b"\x83\xa2id" + bytes([i]) + b"\xa2ok\xc3\xa6result\xdb\xff\xff\xff\xff"))

    def test_any_key_order_and_unknown_keys(self):
        def script(conn, got):
            i = last_id(got)
            if not i:
                return None
            return frame(msgpack.packb({"extra": [1], "result": {"names": ["z", "a"], "protocol": "p"},
                                        "ok": True, "id": i}))
        res, _ = self.run_fake(script, lambda c: c.get_db("p"))
        self.assertEqual(res, ["z", "a"])

    def test_answer_split_into_single_bytes(self):
        def script(conn, got):
            i = last_id(got)
            if not i:
                return None
            for b in answer(i, result="pong"):
                conn.sendall(bytes([b]))
                time.sleep(0.001)
            return None
        res, _ = self.run_fake(script, lambda c: c.ping())
        self.assertEqual(res, "pong")

    def test_invalid_utf8_in_a_body_round_trips(self):
        raw = b"\x81\xa1k\xa2\xff\xfe"          # {"k": <str holding ff fe>}
        def script(conn, got):
            frames = complete_frames(got)
            if not frames:
                return None
            req = msgpack.unpackb(frames[-1], raw=True)
            if req[b"op"] == b"get":
                body = raw
            else:
                self.posted = frames[-1]
                return answer(req[b"id"], result={"created": True})
            payload = (b"\x83\xa2id" + msgpack.packb(req[b"id"]) + b"\xa2ok\xc3\xa6result\x85"
                       + b"\xa8protocol\xa1p\xa4name\xa1n\xa4body" + body
                       + b"\xa7created\x01\xa8modified\x01")
            return frame(payload)
        def call(c):
            b = c.get("n", "p")["body"]
            c.post("p", "n", b)
            return b
        body, _ = self.run_fake(script, call)
        self.assertEqual(body, {"k": "\udcff\udcfe"})
        self.assertTrue(self.posted.endswith(b"\xa4body" + raw))


class TestClientSide(unittest.TestCase):
    def test_connect_error(self):
        with self.assertRaises(sekrets.ConnectError) as cm:
            sekrets.Client("/nonexistent/dir/s.sock")
        self.assertEqual((cm.exception.code, cm.exception.errno), ("connect", -16))

    def test_default_socket(self):
        old = {k: os.environ.pop(k, None) for k in ("SEKRETS_SOCKET", "XDG_RUNTIME_DIR")}
        try:
            with self.assertRaises(sekrets.ConnectError):
                sekrets.default_socket()
            os.environ["XDG_RUNTIME_DIR"] = "run/user/1234"  # relative: ignored, as in C
            with self.assertRaises(sekrets.ConnectError):
                sekrets.default_socket()
            os.environ["XDG_RUNTIME_DIR"] = "/run/user/1234"
            self.assertEqual(sekrets.default_socket(), "/run/user/1234/sekrets/sekretsd.sock")
            os.environ["SEKRETS_SOCKET"] = ""
            self.assertEqual(sekrets.default_socket(), "/run/user/1234/sekrets/sekretsd.sock")
            os.environ["SEKRETS_SOCKET"] = "/tmp/x/y.sock"
            self.assertEqual(sekrets.default_socket(), "/tmp/x/y.sock")
            self.assertEqual(sekrets.Client(connect=False).path, "/tmp/x/y.sock")
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def test_timeout_default(self):
        c = sekrets.Client("/x", connect=False)
        self.assertEqual(c.timeout, 30.0)
        c.timeout = 0
        self.assertEqual(c.timeout, 30.0)
        c.timeout = 1.5
        self.assertEqual(c.timeout, 1.5)

    def test_invalid_arguments(self):
        c = sekrets.Client("/nonexistent", connect=False)
        bad = [
            lambda: c.get("", "p"),
            lambda: c.get("n" * 257, "p"),
            lambda: c.get("a\x01b", "p"),
            lambda: c.get("a\x7fb", "p"),
            lambda: c.get("a\u0085b", "p"),
            lambda: c.get("\udc80", "p"),
            lambda: c.get(5, "p"),
            lambda: c.get("n", ""),
            lambda: c.get("n", "-p"),
            lambda: c.get("n", "p" * 65),
            lambda: c.get("n", "p/q"),
            lambda: c.get("n", "\u00e9"),
            lambda: c.post("p", "n", {"x": object()}),
            lambda: c.post("p", "n", [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]),
            lambda: c.unlock(""),
            lambda: c.unlock(b""),
            lambda: c.unlock(5),
            lambda: c.call("frobnicate"),
        ]
        for i, f in enumerate(bad):
            with self.subTest(i=i):
                with self.assertRaises(sekrets.InvalidArgument) as cm:
                    f()
                self.assertIsInstance(cm.exception, ValueError)
                self.assertEqual((cm.exception.code, cm.exception.errno), ("invalid", -21))
        self.assertFalse(c.connected)           # nothing was sent
        with self.assertRaises(sekrets.TooLarge):
            c.post("p", "n", {"x": "y" * 65536})
        with self.assertRaises(sekrets.TooLarge):
            c.unlock("x" * 4097)
        # the limits themselves pass the checks
        skc.encode_request(1, "get", protocol="p" * 64, name="\u00e9" * 128)
        skc.encode_request(1, "unlock", passphrase="x" * 4096)
        skc.encode_request(1, "post", protocol="p", name="n", body=b"y" * 65533)  # bin16: 65,536 bytes packed
        with self.assertRaises(sekrets.TooLarge):
            skc.encode_request(1, "post", protocol="p", name="n", body=b"y" * 65534)
        skc.encode_request(1, "post", protocol="p", name="n", body=[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]])

    def test_error_hierarchy(self):
        classes = [sekrets.BadFrame, sekrets.BadRequest, sekrets.Unsupported,
                   sekrets.UnknownOp, sekrets.NotFound, sekrets.Ambiguous, sekrets.Exists,
                   sekrets.Locked, sekrets.Denied, sekrets.BadPassphrase,
                   sekrets.RateLimited, sekrets.TooLarge, sekrets.Integrity, sekrets.Busy,
                   sekrets.Internal, sekrets.ConnectError, sekrets.TransportError,
                   sekrets.Timeout, sekrets.ProtocolError, sekrets.InvalidArgument]
        self.assertEqual([c.errno for c in classes], list(range(-1, -19, -1)) + [-20, -21])
        for c in classes:
            self.assertTrue(issubclass(c, sekrets.SekretsError))
        self.assertIs(sekrets.error_class("not_found"), sekrets.NotFound)
        self.assertIs(sekrets.error_class("nope"), sekrets.Internal)


if __name__ == "__main__":
    unittest.main()
