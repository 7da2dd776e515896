"""sekrets.keyring_backend: a Python ``keyring`` backend on the sekrets hub.

Registered under the ``keyring.backends`` entry point, so an installed ``sekrets`` is
found by ``keyring`` on its own; or name it in ``keyringrc.cfg``::

    [backend]
    default-keyring = sekrets.keyring_backend.SekretsKeyring

(or ``PYTHON_KEYRING_BACKEND=sekrets.keyring_backend.SekretsKeyring``).

Each password is one record of the hub protocol ``keyring`` (property ``protocol``, e.g.
``KEYRING_PROPERTY_PROTOCOL=work``) named ``SERVICE/USERNAME``, each part with ``%``, ``/``
and control characters percent-encoded (so any service or username string works and
``sekrets-cli db keyring`` shows what is stored); the body is
``{service, username, password}``. The daemon's socket is ``$SEKRETS_SOCKET``, else
``$XDG_RUNTIME_DIR/sekrets/sekretsd.sock`` (property ``socket`` overrides it).

``priority`` is 9 (above the desktop keyrings) when a daemon answers a ping on the
socket, and raises ``RuntimeError`` (the backend is then not viable) when none does. A
locked hub raises ``keyring.errors.KeyringLocked`` saying how to unlock it. Each call
opens one connection and closes it; nothing is cached.
"""

from keyring import backend, credentials, errors

try:
    from jaraco.classes.properties import classproperty
except ImportError:  # keyring before jaraco.classes
    from keyring._compat import properties as _properties
    classproperty = _properties.classproperty

from . import errors as E
from .client import Client, default_socket, MAX_NAME

__all__ = ["SekretsKeyring", "encode_name"]

_LOCKED = ("the sekrets hub is locked: unlock it with `sekrets-cli unlock` "
           "(or `sekrets-cli init` on a new hub)")
_START = "start it with `sekretsd` or `systemctl --user start sekretsd.socket`"


def _escape(s):
    out = []
    for ch in s:
        cp = ord(ch)
        if ch in "%/" or cp < 0x20 or 0x7f <= cp <= 0x9f:
            out.append("".join(f"%{b:02X}" for b in ch.encode("utf-8")))
        else:
            out.append(ch)
    return "".join(out)


def encode_name(service, username):
    """The record name of (service, username), or None when it cannot be one (more than
    256 bytes once encoded, or not valid UTF-8)."""
    name = _escape(service) + "/" + _escape(username)
    try:
        if len(name.encode("utf-8")) > MAX_NAME:
            return None
    except UnicodeEncodeError:
        return None
    return name


class SekretsKeyring(backend.KeyringBackend):
    """Passwords in the sekrets hub (sekretsd)."""

    protocol = "keyring"
    socket = None
    timeout = 10.0

    @classproperty
    def priority(cls):
        try:
            with Client(default_socket(), timeout=2.0) as c:
                c.ping()
        except E.SekretsError as e:
            raise RuntimeError(f"sekretsd does not answer ({e}); {_START}") from None
        return 9

    def _client(self):
        try:
            c = Client(self.socket or default_socket(), timeout=float(self.timeout))
            c.connect()
            return c
        except E.SekretsError as e:
            raise errors.KeyringError(f"cannot reach sekretsd ({e}); {_START}") from None

    def _call(self, fn, fail):
        """fn(client) on a fresh connection; a locked hub and transport errors raised as
        keyring errors, the others as fail(message)."""
        with self._client() as c:
            try:
                return fn(c)
            except E.Locked:
                raise errors.KeyringLocked(_LOCKED) from None
            except (E.ConnectError, E.TransportError, E.Timeout) as e:
                raise errors.KeyringError(f"sekretsd: {e}") from None
            except E.SekretsError as e:
                raise fail(f"sekretsd: {e}") from None

    def _get(self, c, name):
        try:
            body = c.get(name, self.protocol)["body"]
        except E.NotFound:
            return None
        return body if isinstance(body, dict) and isinstance(body.get("password"), str) else None

    def get_password(self, service, username):
        name = encode_name(service, username)
        if name is None:
            return None
        body = self._call(lambda c: self._get(c, name), errors.KeyringError)
        return None if body is None else body["password"]

    def set_password(self, service, username, password):
        name = encode_name(service, username)
        if name is None:
            raise errors.PasswordSetError(
                f"service and username take more than {MAX_NAME} bytes once encoded")
        body = {"service": service, "username": username, "password": password}
        self._call(lambda c: c.put(self.protocol, name, body), errors.PasswordSetError)

    def delete_password(self, service, username):
        name = encode_name(service, username)
        deleted = name is not None and self._call(
            lambda c: c.delete(self.protocol, name), errors.PasswordDeleteError)
        if not deleted:
            raise errors.PasswordDeleteError("no such password in the sekrets hub")

    def get_credential(self, service, username):
        """The credential of (service, username); without a username, the first one
        stored for the service (in the order they were created)."""
        if username is not None:
            password = self.get_password(service, username)
            return None if password is None else credentials.SimpleCredential(username, password)
        prefix = _escape(service) + "/"

        def first(c):
            try:
                names = c.get_db(self.protocol)
            except E.NotFound:
                return None
            for n in names:
                body = self._get(c, n) if n.startswith(prefix) else None
                if body is not None and isinstance(body.get("username"), str):
                    return credentials.SimpleCredential(body["username"], body["password"])
            return None

        return self._call(first, errors.KeyringError)
