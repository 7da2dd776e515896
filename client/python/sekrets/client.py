"""The wire client: proto/PROTOCOL.md spoken directly on the daemon's Unix socket.

:class:`Client` is one connection to ``sekretsd``. Every call sends length-prefixed
MessagePack frames and reads the answers, bounded by a per-call deadline (``timeout``
seconds) and by ``max_frame`` (an answer longer than that is refused before it is read).
Requests are packed exactly as the C codec packs them (``proto_request_encode``): keys in
the order id, op, protocol, name, body, passphrase, old, new, rotate; shortest encodings;
passphrases as str. So the same call gives the same bytes from Python and from libsekrets.

A Client is not thread-safe: use one per thread. After a transport error (timeout, broken
connection, malformed answer) the connection is closed, and the next call reconnects.
"""

import math
import os
import re
import select
import socket
import struct
import time

import msgpack

from . import errors as E

__all__ = ["Client", "default_socket", "encode_request", "decode_response", "OPS",
           "DEFAULT_TIMEOUT", "DEFAULT_MAX_FRAME"]

DEFAULT_TIMEOUT = 30.0          # seconds per call, like SKR_DEFAULT_TIMEOUT_MS
DEFAULT_MAX_FRAME = 1 << 20     # the daemon's default max_frame
MAX_PROTOCOL = 64
MAX_NAME = 256
MAX_BODY = 64 * 1024
MAX_PASSPHRASE = 4096
MAX_DEPTH = 32                  # containers, the request map included
MAX_ID = 2 ** 32 - 1

OPS = ("ping", "status", "get", "getDb", "getHub", "post", "put", "delete", "init",
       "unlock", "lock", "passwd", "rotate")

_NOTHING = object()
_PROTOCOL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_RECV_CHUNK = 65536
_SEND_CHUNK = 262144


def default_socket():
    """The socket path the C library and the daemon use (proto/paths.h):
    ``$SEKRETS_SOCKET`` when set and non-empty, else
    ``$XDG_RUNTIME_DIR/sekrets/sekretsd.sock`` when that is an absolute path (a relative
    one is ignored, as the XDG spec says). :class:`ConnectError` when neither applies."""
    s = os.environ.get("SEKRETS_SOCKET")
    if s:
        return s
    x = os.environ.get("XDG_RUNTIME_DIR")
    if x and x.startswith("/"):
        return x + "/sekrets/sekretsd.sock"
    raise E.ConnectError("neither $SEKRETS_SOCKET nor $XDG_RUNTIME_DIR is set")


def trusted_uids():
    """The uids a daemon may run as: ours (effective), root's, and ``$SEKRETS_DAEMON_UID``
    when set (decimal), as libsekrets. :class:`InvalidArgument` when that is no uid."""
    uids = {os.geteuid(), 0}
    extra = os.environ.get("SEKRETS_DAEMON_UID")
    if extra:
        if not extra.isdigit() or not extra.isascii() or int(extra) >= 2 ** 32 - 1:
            raise E.InvalidArgument("SEKRETS_DAEMON_UID is not a uid (a decimal number)")
        uids.add(int(extra))
    return uids


def _check_peer(sock, path, uids):
    """Whoever listens on the path gets passphrases and answers with secrets: before
    anything is sent, the listener's uid (SO_PEERCRED, taken by the kernel at its listen())
    must be one of uids (:func:`trusted_uids`). :class:`Denied` otherwise."""
    cred = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", cred)
    uid &= 0xFFFFFFFF
    if uid not in uids:
        raise E.Denied(f"daemon at {path} runs as uid {uid}, not you")


# --------------------------------------------------------------------- encoding ----

def _str_header(n):
    if n < 32:
        return bytes((0xa0 | n,))
    if n < 0x100:
        return bytes((0xd9, n))
    if n < 0x10000:
        return b"\xda" + n.to_bytes(2, "big")
    return b"\xdb" + n.to_bytes(4, "big")


def _pack_str(s):
    b = s.encode("utf-8")
    return _str_header(len(b)) + b


def _check_protocol(protocol):
    if not isinstance(protocol, str):
        raise E.InvalidArgument(f"protocol must be a str, not {type(protocol).__name__}")
    if not (1 <= len(protocol) <= MAX_PROTOCOL and protocol.isascii()
            and _PROTOCOL_RE.fullmatch(protocol)):
        raise E.InvalidArgument(
            f"invalid protocol {protocol!r}: 1..64 bytes of [A-Za-z0-9][A-Za-z0-9._-]*")
    return protocol.encode("ascii")


def _check_name(name):
    if isinstance(name, (bytes, bytearray)):
        try:
            name = bytes(name).decode("utf-8")
        except UnicodeDecodeError:
            raise E.InvalidArgument("name is not valid UTF-8") from None
    if not isinstance(name, str):
        raise E.InvalidArgument(f"name must be a str, not {type(name).__name__}")
    try:
        b = name.encode("utf-8")
    except UnicodeEncodeError:
        raise E.InvalidArgument("name is not valid UTF-8 (lone surrogate)") from None
    if not 1 <= len(b) <= MAX_NAME:
        raise E.InvalidArgument("name must be 1..256 bytes of UTF-8")
    for ch in name:
        cp = ord(ch)
        if cp < 0x20 or 0x7f <= cp <= 0x9f:
            raise E.InvalidArgument("name must not hold control characters")
    return b


def _secret_bytes(value, field):
    if isinstance(value, str):
        try:
            b = value.encode("utf-8")
        except UnicodeEncodeError:
            raise E.InvalidArgument(f"{field} is not valid UTF-8") from None
    elif isinstance(value, (bytes, bytearray, memoryview)):
        b = bytes(value)
    else:
        raise E.InvalidArgument(f"{field} must be str or bytes, not {type(value).__name__}")
    if not b:
        raise E.InvalidArgument(f"{field} must not be empty")
    if len(b) > MAX_PASSPHRASE:
        raise E.TooLarge(f"{field} exceeds {MAX_PASSPHRASE} bytes")
    return b


def _check_depth(obj, limit):
    stack = [(obj, 1)]
    while stack:
        o, d = stack.pop()
        if isinstance(o, dict):
            if d > limit:
                return False
            for k, v in o.items():
                stack.append((k, d + 1))
                stack.append((v, d + 1))
        elif isinstance(o, (list, tuple)):
            if d > limit:
                return False
            stack.extend((x, d + 1) for x in o)
    return True


def pack_body(body):
    """Packs one body the way every client does (str as str, bytes as bin). A str that came
    back from the daemon holding invalid UTF-8 (read with surrogateescape) packs back to the
    same bytes. InvalidArgument, TooLarge."""
    if not _check_depth(body, MAX_DEPTH - 1):
        raise E.InvalidArgument(f"body nests deeper than {MAX_DEPTH - 1} containers")
    try:
        packed = msgpack.packb(body, use_bin_type=True, unicode_errors="surrogateescape")
    except (TypeError, ValueError, OverflowError) as e:
        raise E.InvalidArgument(f"body cannot be packed as MessagePack: {e}") from None
    if len(packed) > MAX_BODY:
        raise E.TooLarge(f"body exceeds {MAX_BODY} bytes packed")
    return packed


def encode_request(id, op, *, protocol=None, name=None, body=_NOTHING, passphrase=None,
                   old=None, new=None, rotate=None, body_packed=None,
                   max_frame=DEFAULT_MAX_FRAME):
    """One whole request frame (4-byte length + payload) as a bytearray (wipe it after
    use when it holds a passphrase). Same checks and same bytes as proto_request_encode:
    InvalidArgument for a bad op, id, protocol, name, body or an empty passphrase;
    TooLarge for a body over 64 KiB, a passphrase over 4096 bytes or a frame over
    max_frame. ``body_packed`` passes a body already packed (one MessagePack object)."""
    if op not in OPS:
        raise E.InvalidArgument(f"unknown op {op!r}")
    if isinstance(id, bool) or not isinstance(id, int) or not 0 <= id <= MAX_ID:
        raise E.InvalidArgument("id must be an int in 0..2^32-1")
    parts = []
    if protocol is not None:
        p = _check_protocol(protocol)
        parts.append(b"\xa8protocol" + _str_header(len(p)) + p)
    if name is not None:
        n = _check_name(name)
        parts.append(b"\xa4name" + _str_header(len(n)) + n)
    if body_packed is not None:
        if body is not _NOTHING:
            raise E.InvalidArgument("give body or body_packed, not both")
        body_packed = bytes(body_packed)
        try:
            obj = msgpack.unpackb(body_packed, raw=True, strict_map_key=False)
        except Exception:
            raise E.InvalidArgument("body_packed is not one MessagePack object") from None
        if not _check_depth(obj, MAX_DEPTH - 1):
            raise E.InvalidArgument(f"body nests deeper than {MAX_DEPTH - 1} containers")
        if len(body_packed) > MAX_BODY:
            raise E.TooLarge(f"body exceeds {MAX_BODY} bytes packed")
        parts.append(b"\xa4body" + body_packed)
    elif body is not _NOTHING:
        parts.append(b"\xa4body" + pack_body(body))
    for key, value in ((b"\xaapassphrase", passphrase), (b"\xa3old", old), (b"\xa3new", new)):
        if value is not None:
            s = _secret_bytes(value, key[1:].decode())
            parts.append(key + _str_header(len(s)) + s)
    if rotate is not None:
        if not isinstance(rotate, bool):
            raise E.InvalidArgument("rotate must be a bool")
        parts.append(b"\xa6rotate" + (b"\xc3" if rotate else b"\xc2"))
    frame = bytearray(4)
    frame.append(0x80 | (2 + len(parts)))
    frame += b"\xa2id" + msgpack.packb(id) + b"\xa2op" + _pack_str(op)
    for part in parts:
        frame += part
    n = len(frame) - 4
    if n > max_frame:
        frame[:] = bytes(len(frame))
        raise E.TooLarge(f"request frame exceeds max_frame ({max_frame} bytes)")
    frame[0:4] = n.to_bytes(4, "big")
    return frame


def encode_raw(payload, max_frame=DEFAULT_MAX_FRAME):
    """A frame around payload bytes sent as they are (socket-level scripting, tests)."""
    payload = bytes(payload)
    if not 1 <= len(payload) <= max_frame:
        raise E.InvalidArgument("payload must be 1..max_frame bytes")
    return bytearray(len(payload).to_bytes(4, "big") + payload)


# --------------------------------------------------------------------- decoding ----

def decode_response(payload):
    """Decodes one response payload into a dict with ``id``, ``ok`` and ``result`` or
    ``error`` (``{"code", "message"}``). Strings are read as UTF-8 (invalid bytes kept as
    surrogate escapes), bin as bytes. ProtocolError when it is not a valid response."""
    n = len(payload)
    try:
        obj = msgpack.unpackb(payload, raw=False, strict_map_key=False,
                              unicode_errors="surrogateescape", max_str_len=n,
                              max_bin_len=n, max_array_len=n, max_map_len=n, max_ext_len=n)
    except Exception as e:  # ExtraData, FormatError, StackError, unhashable key, ...
        raise E.ProtocolError(f"answer is not one valid MessagePack object ({e.__class__.__name__})") from None
    if not isinstance(obj, dict):
        raise E.ProtocolError("answer is not a map")
    rid, ok = obj.get("id"), obj.get("ok")
    if isinstance(rid, bool) or not isinstance(rid, int) or not 0 <= rid <= MAX_ID:
        raise E.ProtocolError("answer has no valid 'id'")
    if not isinstance(ok, bool):
        raise E.ProtocolError("answer has no valid 'ok'")
    if ok:
        if "result" not in obj:
            raise E.ProtocolError("answer has no 'result'")
        return {"id": rid, "ok": True, "result": obj["result"]}
    err = obj.get("error")
    if not isinstance(err, dict) or not isinstance(err.get("code"), str):
        raise E.ProtocolError("error answer has no valid 'error.code'")
    msg = err.get("message")
    out = {"code": err["code"], "message": msg if isinstance(msg, str) else ""}
    # PROTOCOL.md "Error details": optional, but well typed when present
    if "protocols" in err:
        prots = err["protocols"]
        if not isinstance(prots, list) or not all(isinstance(p, str) for p in prots):
            raise E.ProtocolError("error answer has an invalid 'error.protocols'")
        out["protocols"] = prots
    if "retry_after" in err:
        wait = err["retry_after"]
        if isinstance(wait, bool) or not isinstance(wait, int) or wait < 0:
            raise E.ProtocolError("error answer has an invalid 'error.retry_after'")
        out["retry_after"] = wait
    return {"id": rid, "ok": False, "error": out}


def _error(resp, fields=None):
    """The exception of an error answer; fields: the request's (a NotFound of a get or
    getDb names what it looked for)."""
    e = resp["error"]
    err = E.error_from_wire(e["code"], e["message"], id=resp["id"],
                            protocols=e.get("protocols", ()), retry_after=e.get("retry_after"))
    if isinstance(err, E.NotFound) and fields:
        err = E.NotFound(e["message"], id=resp["id"], protocol=fields.get("protocol"),
                         name=fields.get("name"))
    return err


# ----------------------------------------------------------------------- client ----

class Client:
    """One connection to sekretsd.

    ``path``: the socket (None: :func:`default_socket`). ``timeout``: seconds for the
    connect and then for each call (None or <= 0: 30 s). ``max_frame``: the largest
    answer accepted. ``connect=False`` defers connecting to the first call.
    """

    def __init__(self, path=None, timeout=DEFAULT_TIMEOUT, *, max_frame=DEFAULT_MAX_FRAME,
                 connect=True):
        self.path = os.fspath(path) if path is not None else default_socket()
        self.timeout = timeout
        self.max_frame = max_frame
        self._sock = None
        self._next_id = 1
        if connect:
            self.connect()

    # -- connection ------------------------------------------------------------------
    @property
    def timeout(self):
        return self._timeout

    @timeout.setter
    def timeout(self, value):
        self._timeout = float(value) if value is not None and value > 0 else DEFAULT_TIMEOUT

    @property
    def connected(self):
        return self._sock is not None

    def connect(self):
        """(Re)connects. ConnectError, Timeout; Denied when the daemon runs as another uid
        (nothing is sent to it: see :func:`trusted_uids`)."""
        self.close()
        uids = trusted_uids()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(self._timeout)
            s.connect(self.path)
        except socket.timeout:
            s.close()
            raise E.Timeout(f"connect to {self.path} timed out") from None
        except (OSError, ValueError) as e:
            s.close()
            raise E.ConnectError(f"cannot connect to {self.path}: "
                                 f"{e.strerror if isinstance(e, OSError) and e.strerror else e}") from None
        try:
            _check_peer(s, self.path, uids)
        except BaseException:
            s.close()
            raise
        s.setblocking(False)
        self._sock = s

    def close(self):
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self):
        return f"<sekrets.Client path={self.path!r} connected={self.connected}>"

    def _take_id(self):
        i = self._next_id
        self._next_id = 1 if i >= MAX_ID else i + 1
        return i

    # -- the exchange ----------------------------------------------------------------
    def _exchange(self, frames, ids):
        """Sends the frames (pipelined) and returns the decoded answers, in order. An
        answer is matched to its request by id; an error answer with id 0 (denied at
        accept, bad_frame, busy) is raised at once and closes the connection. Transport
        failures close the connection and raise TransportError, Timeout or ProtocolError.
        The frames are wiped once sent."""
        out = bytearray()
        for f in frames:
            out += f
            f[:] = bytes(len(f))
        try:
            if self._sock is None:
                self.connect()
            answers = self._pump(out, ids)
            if any(not a["ok"] and a["error"]["code"] == "bad_frame" for a in answers):
                self.close()     # the daemon closes the connection after bad_frame
            return answers
        except E.SekretsError:
            self.close()
            raise
        finally:
            out[:] = bytes(len(out))

    def _pump(self, out, ids):
        sock = self._sock
        fd = sock.fileno()
        deadline = time.monotonic() + self._timeout
        poller = select.poll()
        view = memoryview(out)
        sent, total = 0, len(out)
        send_error = None
        inbuf = bytearray()
        answers = []
        try:
            while len(answers) < len(ids):
                want = select.POLLIN | (select.POLLOUT if sent < total else 0)
                poller.register(fd, want)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise E.Timeout(f"no answer within {self._timeout:g} s")
                events = poller.poll(math.ceil(left * 1000))
                if not events:
                    raise E.Timeout(f"no answer within {self._timeout:g} s")
                ev = events[0][1]
                if ev & select.POLLOUT and sent < total:
                    try:
                        sent += sock.send(view[sent:sent + _SEND_CHUNK])
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError as e:   # EPIPE/ECONNRESET: read what the daemon said
                        send_error, sent = e, total
                if ev & (select.POLLIN | select.POLLHUP | select.POLLERR):
                    try:
                        data = sock.recv(_RECV_CHUNK)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError as e:
                        data, send_error = b"", send_error or e
                    if data:
                        inbuf += data
                    self._parse(inbuf, ids, answers)
                    if not data and len(answers) < len(ids):
                        why = f": {send_error.strerror}" if send_error is not None else ""
                        raise E.TransportError(f"the daemon closed the connection{why}")
        finally:
            view.release()
            inbuf[:] = bytes(len(inbuf))
        return answers

    def _parse(self, inbuf, ids, answers):
        while len(inbuf) >= 4 and len(answers) < len(ids):
            n = int.from_bytes(inbuf[:4], "big")
            if n == 0 or n > self.max_frame:
                raise E.ProtocolError(f"answer frame length {n} outside 1..{self.max_frame}")
            if len(inbuf) < 4 + n:
                return
            payload = bytes(inbuf[4:4 + n])
            inbuf[:4 + n] = b""
            resp = decode_response(payload)
            expect = ids[len(answers)]
            if expect is not None and resp["id"] != expect:
                if resp["id"] == 0 and not resp["ok"]:
                    self.close()
                    raise _error(resp)   # the daemon closes after an id-0 error
                raise E.ProtocolError(f"answer id {resp['id']} for request {expect}")
            answers.append(resp)

    # -- generic calls ---------------------------------------------------------------
    def call(self, op, **fields):
        """Sends one request (fields as keyword arguments: protocol, name, body,
        passphrase, old, new, rotate) and returns its result; an error answer is raised as its
        SekretsError subclass."""
        rid = self._take_id()
        frame = encode_request(rid, op, max_frame=self.max_frame, **fields)
        resp = self._exchange([frame], [rid])[0]
        if not resp["ok"]:
            raise _error(resp, fields if op in ("get", "getDb") else None)
        return resp["result"]

    def call_raw(self, request, *, check=False):
        """Sends one request as given and returns the decoded answer dict (``ok`` true or
        false). ``request``: a dict (packed as is; an ``id`` is added when missing) or
        bytes (one frame payload, sent unchecked). ``check=True`` raises error answers.
        An answer for another id than the request's (or id 0) is returned, not raised,
        when the request was bytes."""
        if isinstance(request, (bytes, bytearray, memoryview)):
            frame = encode_raw(request, self.max_frame)
            rid = None
        else:
            request = dict(request)
            request.setdefault("id", self._take_id())
            rid = request["id"]
            frame = encode_raw(msgpack.packb(request, use_bin_type=True), self.max_frame)
        if rid is None or not isinstance(rid, int) or isinstance(rid, bool):
            resp = self._exchange([frame], [None])[0]
        else:
            resp = self._exchange([frame], [rid])[0]
        if check and not resp["ok"]:
            raise _error(resp)
        return resp

    # -- operations ------------------------------------------------------------------
    def ping(self):
        """``"pong"``."""
        return self.call("ping")

    def status(self):
        """dict: initialized, locked, version, protocols, credentials, uptime_s,
        idle_lock_s; for the owner also hub, socket and (once initialised) suite and
        kdf (kind, opslimit, memlimit)."""
        return self.call("status")

    def get(self, name, protocol=None):
        """The credential as a dict: protocol, name, body, created, modified (unix
        seconds). Without protocol every protocol is searched (Ambiguous when several
        hold the name). NotFound."""
        return self.call("get", name=name, protocol=protocol)

    def get_many(self, items, *, return_exceptions=False):
        """Pipelined gets on this connection: items are names or (name, protocol)
        pairs. Returns the results in order. With return_exceptions a failed item is
        its exception in the list; otherwise the first failure is raised (after every
        answer was read, so the connection stays usable)."""
        frames, ids, asked = [], [], []
        try:
            for item in items:
                name, protocol = (item, None) if isinstance(item, str) else tuple(item)
                asked.append({"name": name, "protocol": protocol})
                rid = self._take_id()
                frames.append(encode_request(rid, "get", protocol=protocol, name=name,
                                             max_frame=self.max_frame))
                ids.append(rid)
        except E.SekretsError:
            for f in frames:
                f[:] = bytes(len(f))
            raise
        if not frames:
            return []
        out = []
        for resp, fields in zip(self._exchange(frames, ids), asked):
            out.append(resp["result"] if resp["ok"] else _error(resp, fields))
        if not return_exceptions:
            for r in out:
                if isinstance(r, E.SekretsError):
                    raise r
        return out

    def get_db(self, protocol):
        """The names of protocol, in creation order. NotFound (no such protocol)."""
        return list(self.call("getDb", protocol=protocol)["names"])

    def get_hub(self):
        """The protocols, sorted bytewise, as a dict name -> number of credentials."""
        res = self.call("getHub")
        return {p["name"]: p["count"] for p in res["protocols"]}

    def post(self, protocol, name, body):
        """Creates name in protocol (the protocol too when new). Exists."""
        self.call("post", protocol=protocol, name=name, body=body)
        return True

    def put(self, protocol, name, body):
        """Creates or replaces; True when it created."""
        return bool(self.call("put", protocol=protocol, name=name, body=body)["created"])

    def delete(self, protocol, name):
        """True when it deleted, False when there was no such credential."""
        return bool(self.call("delete", protocol=protocol, name=name)["deleted"])

    def init(self, passphrase):
        """Creates the hub with a passphrase (str or bytes). Exists."""
        self.call("init", passphrase=passphrase)

    def unlock(self, passphrase):
        """BadPassphrase, RateLimited."""
        self.call("unlock", passphrase=passphrase)

    def lock(self):
        self.call("lock")

    def passwd(self, old, new, rotate=False):
        """Changes the passphrase (str or bytes). BadPassphrase. The old passphrase's wrap
        of the data key is overwritten; rotate=True also replaces the data key (every
        record re-encrypted, as rotate() does): use it when the old passphrase may have
        leaked, since a copy of the hub taken before still opens with it."""
        # Sent only when asked for (as libsekrets does), so a plain passwd keeps its bytes;
        # anything but a bool is InvalidArgument.
        self.call("passwd", old=old, new=new, rotate=None if rotate is False else rotate)

    def rotate(self):
        """Re-encrypts every record under a new data key; returns how many."""
        return self.call("rotate")["records"]

    def post_get(self, protocol, name, body, *, replace=False):
        """post (or put with replace=True) and then get of the same credential, pipelined
        in one round trip. Returns (created, record dict)."""
        r1, r2 = self._take_id(), self._take_id()
        op = "put" if replace else "post"
        f1 = encode_request(r1, op, protocol=protocol, name=name, body=body,
                            max_frame=self.max_frame)
        f2 = encode_request(r2, "get", protocol=protocol, name=name, max_frame=self.max_frame)
        a1, a2 = self._exchange([f1, f2], [r1, r2])
        if not a1["ok"]:
            raise _error(a1)
        if not a2["ok"]:
            raise _error(a2, {"protocol": protocol, "name": name})
        return bool(a1["result"].get("created", True)), a2["result"]
