"""The sekrets error vocabulary (proto/PROTOCOL.md "Error codes", include/sekrets/error.h).

Every error the client raises is a :class:`SekretsError`. It carries

- ``code``: the wire code string (``"not_found"``), or for errors that happen only on the
  client side ``"connect"``, ``"io"``, ``"timeout"``, ``"protocol"``, ``"invalid"``;
- ``errno``: the matching negative ``SKR_E*`` number of the C library (``-5``);
- ``message``: the daemon's one-line message (untrusted text) or the client's own;
- ``id``: the id of the request the daemon answered (``None`` for client-side errors).

Catch a class (``except sekrets.NotFound``) or test ``err.code``; never parse ``message``.
"""

__all__ = [
    "SekretsError",
    "BadFrame", "BadRequest", "Unsupported", "UnknownOp", "NotFound", "Ambiguous",
    "Exists", "Locked", "Denied", "BadPassphrase", "RateLimited", "TooLarge",
    "Integrity", "Busy", "Internal",
    "ConnectError", "TransportError", "Timeout", "ProtocolError", "InvalidArgument",
    "error_class", "error_from_wire",
]


class SekretsError(Exception):
    """Base class of every sekrets error."""

    code = "internal"
    errno = -15

    def __init__(self, message=None, *, id=None):
        self.message = message if message is not None else self.__class__.__doc__.strip()
        self.id = id
        super().__init__(self.message)

    def __str__(self):
        return f"{self.code}: {self.message}"

    def __repr__(self):
        return f"{self.__class__.__name__}(code={self.code!r}, message={self.message!r}, id={self.id!r})"


# -- carried on the wire ------------------------------------------------------------------

class BadFrame(SekretsError):
    """malformed frame (the daemon closed the connection)"""
    code, errno = "bad_frame", -1


class BadRequest(SekretsError):
    """a request field is missing, mistyped or invalid"""
    code, errno = "bad_request", -2


class Unsupported(SekretsError):
    """protocol version not supported"""
    code, errno = "unsupported", -3


class UnknownOp(SekretsError):
    """unknown operation"""
    code, errno = "unknown_op", -4


class NotFound(SekretsError, LookupError):
    """not found

    ``protocol`` and ``name``: what the request looked for (``None`` when it did not
    say, or when the error did not come from a get or getDb of this client); the message
    names them."""
    code, errno = "not_found", -5

    def __init__(self, message=None, *, id=None, protocol=None, name=None):
        self.protocol, self.name = protocol, name
        if name is not None and protocol is not None:
            message = f"no credential {name!r} in protocol {protocol!r}"
        elif name is not None:
            message = f"no credential {name!r} in any protocol"
        elif protocol is not None:
            message = f"no protocol {protocol!r}"
        super().__init__(message, id=id)


class Ambiguous(SekretsError, LookupError):
    """the name is held by more than one protocol

    ``protocols``: the protocols that hold the name, as the daemon named them (only those
    this peer may read, at most 32; empty from a daemon that does not send them)."""
    code, errno = "ambiguous", -6

    def __init__(self, message=None, *, id=None, protocols=()):
        self.protocols = tuple(protocols)
        super().__init__(message, id=id)


class Exists(SekretsError):
    """already exists"""
    code, errno = "exists", -7


class Locked(SekretsError):
    """the hub is locked or not initialised"""
    code, errno = "locked", -8


class Denied(SekretsError):
    """permission denied"""
    code, errno = "denied", -9


class BadPassphrase(SekretsError):
    """wrong passphrase"""
    code, errno = "bad_passphrase", -10


class RateLimited(SekretsError):
    """too many failed unlocks, or a key derivation running; wait and retry

    ``retry_after``: the seconds the daemon asks to wait (rounded up), or ``None`` when
    it did not say."""
    code, errno = "rate_limited", -11

    def __init__(self, message=None, *, id=None, retry_after=None):
        self.retry_after = retry_after
        super().__init__(message, id=id)


class TooLarge(SekretsError):
    """a value exceeds a limit"""
    code, errno = "too_large", -12


class Integrity(SekretsError):
    """a stored record failed authentication"""
    code, errno = "integrity", -13


class Busy(SekretsError):
    """the daemon is at its connection limit"""
    code, errno = "busy", -14


class Internal(SekretsError):
    """internal daemon error"""
    code, errno = "internal", -15


# -- client side only: never sent by the daemon ------------------------------------------

class ConnectError(SekretsError):
    """cannot reach the daemon's socket"""
    code, errno = "connect", -16


class TransportError(SekretsError):
    """the connection broke mid-request"""
    code, errno = "io", -17


class Timeout(SekretsError):
    """no answer within the client's timeout"""
    code, errno = "timeout", -18


class ProtocolError(SekretsError):
    """the daemon's answer did not follow the protocol"""
    code, errno = "protocol", -20


class InvalidArgument(SekretsError, ValueError):
    """invalid argument (checked before sending)"""
    code, errno = "invalid", -21


_WIRE = {cls.code: cls for cls in (
    BadFrame, BadRequest, Unsupported, UnknownOp, NotFound, Ambiguous, Exists, Locked,
    Denied, BadPassphrase, RateLimited, TooLarge, Integrity, Busy, Internal)}


def error_class(code):
    """The class of a wire code; :class:`Internal` for a code this version does not know."""
    return _WIRE.get(code, Internal)


def error_from_wire(code, message, id=None, *, protocols=(), retry_after=None):
    """The exception for one error answer, with the optional details of PROTOCOL.md
    "Error details" (``protocols`` of ``ambiguous``, ``retry_after`` of
    ``rate_limited``). An unknown code reads as ``internal`` (PROTOCOL.md "Response");
    its text is kept in the message."""
    cls = _WIRE.get(code)
    if cls is None:
        return Internal(f"unknown error code {code!r}: {message}", id=id)
    if cls is Ambiguous:
        return cls(message, id=id, protocols=protocols)
    if cls is RateLimited:
        return cls(message, id=id, retry_after=retry_after)
    return cls(message, id=id)
