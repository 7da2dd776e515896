"""The pyswark.sekrets API on sekretsd.

    from sekrets import api            # was: from pyswark.sekrets import api
    creds = api.get('myusername', 'sgdrive2')
    db = api.getDb('sgdrive2'); db.getNames(); 'myusername' in db
    hub = api.getHub(); hub.getNames(); hub.extractFromDb('sgdrive2', 'myusername')

Each function talks to the daemon at ``$SEKRETS_SOCKET`` (else
``$XDG_RUNTIME_DIR/sekrets/sekretsd.sock``) through one :class:`~sekrets.Client` kept per
thread and per socket path; pass ``client=`` to use your own. Errors are
:class:`~sekrets.SekretsError` subclasses (NotFound, Ambiguous, Locked, ...).

Differences from pyswark: bodies are plain dicts (the credential's fields), not pydantic
models; a protocol exists while it holds credentials, so ``getDb`` of a new protocol gives
an empty Db that ``post``/``put`` fill.
"""

import datetime as _dt
import os
import threading

from . import errors as E
from .client import Client, default_socket, _check_protocol

__all__ = ["get", "getDb", "getHub", "Db", "Hub", "Record", "Info", "client"]

_local = threading.local()


def client():
    """The calling thread's shared Client for the current default socket path (made on
    first use; a new one after a fork or when $SEKRETS_SOCKET changes)."""
    path = default_socket()
    key = (os.getpid(), path)
    cache = getattr(_local, "clients", None)
    if cache is None or cache[0] != os.getpid():
        cache = _local.clients = (os.getpid(), {})
    c = cache[1].get(key)
    if c is None:
        c = cache[1][key] = Client(path, connect=False)
    return c


def _utc(t):
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc)


class Info:
    """A record's info: ``name``, ``date_created``, ``date_modified`` (aware UTC
    datetimes), and the ``protocol`` it is in."""

    __slots__ = ("name", "protocol", "date_created", "date_modified")

    def __init__(self, name, protocol, date_created, date_modified):
        self.name = name
        self.protocol = protocol
        self.date_created = date_created
        self.date_modified = date_modified

    def __eq__(self, other):
        return isinstance(other, Info) and all(
            getattr(self, k) == getattr(other, k) for k in self.__slots__)

    def __repr__(self):
        return (f"Info(name={self.name!r}, protocol={self.protocol!r}, "
                f"date_created={self.date_created.isoformat()}, "
                f"date_modified={self.date_modified.isoformat()})")


class Record:
    """One credential as GlueDb gives it: ``info`` (:class:`Info`) and ``body`` (the
    dict of its fields). The body is never shown by repr()."""

    __slots__ = ("info", "body")

    def __init__(self, info, body):
        self.info = info
        self.body = body

    @classmethod
    def fromWire(cls, result):
        return cls(Info(result["name"], result["protocol"], _utc(result["created"]),
                        _utc(result["modified"])), result["body"])

    @property
    def name(self):
        return self.info.name

    def extract(self):
        return self.body

    def __eq__(self, other):
        return isinstance(other, Record) and self.info == other.info and self.body == other.body

    def __repr__(self):
        return f"Record(info={self.info!r}, body=<hidden>)"


class Db:
    """The credentials of one protocol (pyswark's GlueDb). Every call asks the daemon, so
    a Db always shows the hub as it is now."""

    def __init__(self, protocol, client=None):
        _check_protocol(protocol)
        self.protocol = protocol
        self._client = client

    @property
    def client(self):
        return self._client if self._client is not None else globals()["client"]()

    def getNames(self):
        """The names, in creation order ([] when the protocol holds none)."""
        try:
            return self.client.get_db(self.protocol)
        except E.NotFound:
            return []

    def get(self, name):
        """The :class:`Record` of name, or None."""
        try:
            return Record.fromWire(self.client.get(name, self.protocol))
        except E.NotFound:
            return None

    getByName = get

    def extract(self, name):
        """The body (a dict) of name. NotFound."""
        return self.client.get(name, self.protocol)["body"]

    def post(self, body, name):
        """Creates name with body and returns its :class:`Record`. Exists when the name
        is already there."""
        _, rec = self.client.post_get(self.protocol, name, body)
        return Record.fromWire(rec)

    def put(self, body, name):
        """Creates or replaces name (keeping its creation date and place); returns its
        :class:`Record`."""
        _, rec = self.client.post_get(self.protocol, name, body, replace=True)
        return Record.fromWire(rec)

    def delete(self, name):
        """True when name was deleted, False when there was none."""
        return self.client.delete(self.protocol, name)

    deleteByName = delete

    def getAll(self):
        """Every :class:`Record`, in creation order (one pipelined round trip for the
        bodies)."""
        names = self.getNames()
        res = self.client.get_many([(n, self.protocol) for n in names], return_exceptions=True)
        out = []
        for r in res:
            if isinstance(r, E.NotFound):     # deleted in between
                continue
            if isinstance(r, E.SekretsError):
                raise r
            out.append(Record.fromWire(r))
        return out

    def __contains__(self, name):
        return name in self.getNames()

    def __iter__(self):
        return iter(self.getNames())

    def __len__(self):
        return len(self.getNames())

    def __repr__(self):
        return f"Db(protocol={self.protocol!r})"


class Hub:
    """Every protocol of the hub, each a :class:`Db`."""

    def __init__(self, client=None):
        self._client = client

    @property
    def client(self):
        return self._client if self._client is not None else globals()["client"]()

    def getCounts(self):
        """dict protocol -> number of credentials, sorted by protocol."""
        return self.client.get_hub()

    def getNames(self):
        """The protocols, sorted bytewise."""
        return list(self.getCounts())

    def extract(self, protocol):
        """The :class:`Db` of protocol. NotFound when the hub has no such protocol."""
        if protocol not in self.getCounts():
            raise E.NotFound(f"no protocol {protocol!r}")
        return Db(protocol, self._client)

    def extractFromDb(self, protocol, name):
        """The body of name in protocol. NotFound."""
        return self.client.get(name, protocol)["body"]

    def __contains__(self, protocol):
        return protocol in self.getCounts()

    def __iter__(self):
        return iter(self.getNames())

    def __len__(self):
        return len(self.getCounts())

    def __repr__(self):
        return "Hub()"


def get(name, protocol=None, *, client=None):
    """The body (dict) of the credential name; without protocol every protocol is
    searched and a name held by several is Ambiguous. NotFound."""
    c = client if client is not None else globals()["client"]()
    return c.get(name, protocol)["body"]


def getDb(protocol, *, client=None):
    """The :class:`Db` of protocol (empty when the protocol holds nothing yet)."""
    return Db(protocol, client)


def getHub(*, client=None):
    """The :class:`Hub`."""
    return Hub(client)
