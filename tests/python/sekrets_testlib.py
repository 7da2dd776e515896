"""Helpers for the Python client tests: a real sekretsd on a temporary socket and hub,
and a scripted fake daemon for malformed answers."""

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import sekrets

SEKRETSD = os.environ.get("SEKRETSD")
SEKRETS_CLI = os.environ.get("SEKRETS_CLI")
ENCODE_HELPER = os.environ.get("SKR_ENCODE_HELPER")


class Daemon:
    """sekretsd --foreground on DIR/run/s.sock with hub DIR/hub; keyfile=True creates
    DIR/keyfile (32 random bytes, 0600) and unlocks with it; otherwise --kdf-limits min
    and the hub waits for init."""

    def __init__(self, keyfile=True, extra=(), owner_uid=None):
        if not SEKRETSD:
            raise unittest.SkipTest("SEKRETSD is not set (run through meson test)")
        self.dir = tempfile.mkdtemp(prefix="skr-py-")
        os.chmod(self.dir, 0o700)
        self.socket = os.path.join(self.dir, "run", "s.sock")
        self.hub = os.path.join(self.dir, "hub")
        self.log = os.path.join(self.dir, "sekretsd.log")
        argv = [SEKRETSD, "--foreground", "--socket", self.socket, "--hub", self.hub]
        if keyfile:
            self.keyfile = os.path.join(self.dir, "keyfile")
            fd = os.open(self.keyfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, os.urandom(32))
            os.close(fd)
            argv += ["--keyfile", self.keyfile]
        else:
            argv += ["--kdf-limits", "min"]
        argv += list(extra)
        self.argv = argv
        self.proc = None
        self._logf = open(self.log, "wb")

    def start(self, timeout=10.0):
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=self._logf, stderr=self._logf)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sekretsd exited with {self.proc.returncode}: {self.logtext()}")
            try:
                with sekrets.Client(self.socket, timeout=2) as c:
                    if c.ping() == "pong":
                        return self
            except (sekrets.ConnectError, sekrets.TransportError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("sekretsd did not answer a ping in time: " + self.logtext())
            time.sleep(0.005)

    def client(self, **kw):
        return sekrets.Client(self.socket, **kw)

    def logtext(self):
        self._logf.flush()
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._logf.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class DaemonTest(unittest.TestCase):
    """A fresh daemon per test class; SEKRETS_SOCKET points at it for the api module."""

    daemon_kw = {}

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon(**cls.daemon_kw)
        try:
            cls.daemon.start()
        except BaseException:
            cls.daemon.stop()
            raise
        cls._old_env = os.environ.get("SEKRETS_SOCKET")
        os.environ["SEKRETS_SOCKET"] = cls.daemon.socket

    @classmethod
    def tearDownClass(cls):
        if cls._old_env is None:
            os.environ.pop("SEKRETS_SOCKET", None)
        else:
            os.environ["SEKRETS_SOCKET"] = cls._old_env
        cls.daemon.stop()


class FakeDaemon:
    """A Unix socket server that records what each connection sends and answers with a
    script: a function (conn, received_bytes_so_far) called after each read, returning the
    bytes to write (or None), or "close" to close."""

    def __init__(self, script):
        self.dir = tempfile.mkdtemp(prefix="skr-fake-")
        self.path = os.path.join(self.dir, "fake.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(8)
        self.script = script
        self.received = []
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        self.sock.settimeout(0.05)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            got = bytearray()
            self.received.append(got)
            conn.settimeout(0.05)
            with conn:
                act = self.script(conn, bytes(got))   # on accept, before any read
                if act == "close":
                    continue
                if act:
                    conn.sendall(act)
                while not self._stop:
                    try:
                        data = conn.recv(65536)
                    except socket.timeout:
                        continue
                    if not data:
                        break
                    got += data
                    act = self.script(conn, bytes(got))
                    if act == "close":
                        break
                    if act:
                        conn.sendall(act)

    def close(self):
        self._stop = True
        self._thread.join(5)
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def frame(payload):
    return len(payload).to_bytes(4, "big") + payload


def complete_frames(data):
    """The whole frames at the start of data."""
    out = []
    while len(data) >= 4:
        n = int.from_bytes(data[:4], "big")
        if len(data) < 4 + n:
            break
        out.append(data[4:4 + n])
        data = data[4 + n:]
    return out
