"""tests/secret-service/test_secret_service.py - sekrets-secret-service on a private session
bus against a real sekretsd: secret-tool (libsecret, dh session), raw jeepney calls (plain
session, errors), Python secretstorage, keyring's SecretService backend, a locked hub and
its unlock, and the per-caller rules. Exact results throughout."""

import os
import re
import shutil
import subprocess
import time
import unittest

from jeepney import DBusAddress, MessageType, new_method_call
from jeepney.io.blocking import open_dbus_connection

from sslib import Stack, poll

SVC = DBusAddress("/org/freedesktop/secrets", bus_name="org.freedesktop.secrets",
                  interface="org.freedesktop.Secret.Service")
LOCKED_HINT = "the sekrets hub is locked: unlock it with `sekrets-cli unlock`"
ST = shutil.which("secret-tool")


def call(conn, addr, method, sig="", body=()):
    """A method call; returns (error name or None, body)."""
    reply = conn.send_and_get_reply(new_method_call(addr, method, sig, body), timeout=20)
    if reply.header.message_type == MessageType.error:
        return reply.header.fields[4], reply.body  # HeaderFields.error_name
    return None, reply.body


def item_addr(path, iface="org.freedesktop.Secret.Item"):
    return DBusAddress(path, bus_name="org.freedesktop.secrets", interface=iface)


def prop(conn, path, iface, name):
    props = DBusAddress(path, bus_name="org.freedesktop.secrets", interface="org.freedesktop.DBus.Properties")
    err, body = call(conn, props, "Get", "ss", (iface, name))
    return err, (body[0][1] if err is None else body)


class Base(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Stack().start()
        os.environ["DBUS_SESSION_BUS_ADDRESS"] = cls.s.env["DBUS_SESSION_BUS_ADDRESS"]
        cls.conn = open_dbus_connection("SESSION")

    @classmethod
    def tearDownClass(cls):
        cls.conn.close()
        cls.s.close()

    def st(self, *args, input=None):
        r = self.s.run(ST, *args, input=input)
        return r.returncode, r.stdout, r.stderr


class SecretToolTests(Base):
    """secret-tool store/lookup/search/clear (libsecret: the dh session)."""

    def label_of(self, name):
        return re.search(r'"label": *"([^"]*)"', self.s.cli("get", name, "-p", "ss.login", "--json").stdout).group(1)

    def created_of(self, name):
        out = self.s.cli("call", '{"id": 1, "op": "get", "protocol": "ss.login", "name": "%s"}' % name).stdout
        return int(re.search(r'"created": *(\d+)', out).group(1))

    def test_store_lookup_search_clear(self):
        self.assertEqual(self.st("store", "--label=Git ann", "service", "git", "user", "ann", input="pw-ann"),
                         (0, "", ""))
        self.assertEqual(self.st("store", "--label=Git bo", "service", "git", "user", "bo", input="pw-bo\n"),
                         (0, "", ""))
        self.assertEqual(self.st("lookup", "service", "git", "user", "ann"), (0, "pw-ann", ""))
        self.assertEqual(self.st("lookup", "service", "git", "user", "bo"), (0, "pw-bo\n", ""))
        self.assertEqual(self.st("lookup", "service", "git", "user", "nobody"), (1, "", ""))
        # the record: one item in the login collection's protocol, no secret in the file
        names = self.s.cli("db", "ss.login").stdout.split()
        self.assertEqual(len(names), 2)
        with open(os.path.join(self.s.hub, "data.mdb"), "rb") as f:
            data = f.read()
        for marker in (b"pw-ann", b"Git ann", b"service", b"ss.login"):
            self.assertNotIn(marker, data)
        # search: every field, the times as secret-tool prints them (local time)
        rc, out, err = self.st("search", "--all", "service", "git")
        self.assertEqual(rc, 0)
        # secret-tool prints the attributes on stderr, the rest on stdout
        self.assertEqual(sorted(err.splitlines()), ["attribute.service = git", "attribute.service = git",
                                                    "attribute.user = ann", "attribute.user = bo"])
        want = ""
        for name in sorted(names, key=lambda n: self.label_of(n)):
            label = self.label_of(name)
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.created_of(name)))
            secret = "pw-ann" if label == "Git ann" else "pw-bo\n"
            want += f"[/{name}]\nlabel = {label}\nsecret = {secret}\ncreated = {stamp}\nmodified = {stamp}\n"
        blocks = sorted(re.split(r"(?m)^(?=\[/)", out)[1:], key=lambda b: b.split("label = ")[1])
        self.assertEqual("".join(blocks), want)
        # clear one, then the other
        self.assertEqual(self.st("clear", "service", "git", "user", "ann"), (0, "", ""))
        self.assertEqual(self.st("lookup", "service", "git", "user", "ann"), (1, "", ""))
        self.assertEqual(self.st("lookup", "service", "git", "user", "bo"), (0, "pw-bo\n", ""))
        self.assertEqual(self.st("clear", "service", "git"), (0, "", ""))
        self.assertEqual(self.st("search", "--all", "service", "git"), (0, "", ""))
        self.assertEqual(self.s.cli("db", "ss.login").returncode, 3)  # not found: no items left

    def test_store_replaces_same_attributes(self):
        self.assertEqual(self.st("store", "--label=one", "k", "replace", input="first"), (0, "", ""))
        self.assertEqual(self.st("store", "--label=two", "k", "replace", input="second"), (0, "", ""))
        self.assertEqual(self.st("lookup", "k", "replace"), (0, "second", ""))
        rc, out, _ = self.st("search", "--all", "k", "replace")
        self.assertEqual(out.count("label = "), 1)
        self.assertIn("label = two\n", out)
        self.assertEqual(self.st("clear", "k", "replace"), (0, "", ""))

    def test_survives_restarts(self):
        self.assertEqual(self.st("store", "--label=kept", "k", "restart", input="kept-pw"), (0, "", ""))
        self.s.stop("service")
        self.s.start_service()
        self.assertEqual(self.st("lookup", "k", "restart"), (0, "kept-pw", ""))
        self.s.stop("service")
        self.s.stop("sekretsd")
        self.s.start_daemon()
        self.s.start_service()
        self.assertEqual(self.st("lookup", "k", "restart"), (0, "kept-pw", ""))
        self.assertEqual(self.st("clear", "k", "restart"), (0, "", ""))

    def test_daemon_restart_under_a_running_service(self):
        """The service reconnects when its connection to sekretsd broke."""
        self.assertEqual(self.st("store", "--label=x", "k", "reconnect", input="re-pw"), (0, "", ""))
        self.s.stop("sekretsd")
        self.assertEqual(self.st("lookup", "k", "reconnect")[0], 1)
        self.s.start_daemon()
        self.assertEqual(self.st("lookup", "k", "reconnect"), (0, "re-pw", ""))
        self.assertEqual(self.st("clear", "k", "reconnect"), (0, "", ""))


class RawTests(Base):
    """The plain session and the answers libsecret's fallbacks rely on, over raw D-Bus."""

    def test_plain_session_roundtrip(self):
        err, (out, session) = call(self.conn, SVC, "OpenSession", "sv", ("plain", ("s", "")))
        self.assertIsNone(err)
        self.assertEqual(out, ("s", ""))
        coll = item_addr("/org/freedesktop/secrets/aliases/default", "org.freedesktop.Secret.Collection")
        props = {"org.freedesktop.Secret.Item.Label": ("s", "raw"),
                 "org.freedesktop.Secret.Item.Attributes": ("a{ss}", {"raw": "1"})}
        err, (path, prompt) = call(self.conn, coll, "CreateItem", "a{sv}(oayays)b",
                                   (props, (session, b"", b"raw-\x00-secret", "application/octet-stream"), False))
        self.assertIsNone(err)
        self.assertEqual(prompt, "/")
        self.assertRegex(path, r"^/org/freedesktop/secrets/collection/login/[0-9a-f]{16}$")
        err, body = call(self.conn, item_addr(path), "GetSecret", "o", (session,))
        self.assertEqual((err, body), (None, ((session, b"", b"raw-\x00-secret", "application/octet-stream"),)))
        err, body = call(self.conn, SVC, "GetSecrets", "aoo", ([path], session))
        self.assertEqual((err, body), (None, ({path: (session, b"", b"raw-\x00-secret", "application/octet-stream")},)))
        err, body = call(self.conn, item_addr(path), "SetSecret", "(oayays)", ((session, b"", b"new", "text/plain"),))
        self.assertIsNone(err)
        self.assertEqual(call(self.conn, item_addr(path), "GetSecret", "o", (session,))[1],
                         ((session, b"", b"new", "text/plain"),))
        self.assertEqual(prop(self.conn, path, "org.freedesktop.Secret.Item", "Label"), (None, "raw"))
        self.assertEqual(prop(self.conn, path, "org.freedesktop.Secret.Item", "Attributes"), (None, {"raw": "1"}))
        self.assertEqual(prop(self.conn, path, "org.freedesktop.Secret.Item", "Locked"), (None, False))
        # the session is the caller's: another connection cannot use it
        other = open_dbus_connection("SESSION")
        try:
            err, body = call(other, item_addr(path), "GetSecret", "o", (session,))
            self.assertEqual(err, "org.freedesktop.Secret.Error.NoSession")
        finally:
            other.close()
        self.assertEqual(call(self.conn, item_addr(path), "Delete")[0], None)
        err, _ = call(self.conn, item_addr(path), "GetSecret", "o", (session,))
        self.assertEqual(err, "org.freedesktop.Secret.Error.NoSuchObject")
        self.assertEqual(call(self.conn, item_addr(session, "org.freedesktop.Secret.Session"), "Close"), (None, ()))
        self.assertEqual(call(self.conn, SVC, "GetSecrets", "aoo", ([path], session))[0],
                         "org.freedesktop.Secret.Error.NoSession")

    def test_algorithms(self):
        err, body = call(self.conn, SVC, "OpenSession", "sv", ("rot13", ("s", "")))
        self.assertEqual(err, "org.freedesktop.DBus.Error.NotSupported")
        self.assertEqual(body, ("algorithm not supported (offered: plain, dh-ietf1024-sha256-aes128-cbc-pkcs7)",))
        for bad in (b"\x00", b"\x01", b"\xff" * 129):
            err, body = call(self.conn, SVC, "OpenSession", "sv",
                             ("dh-ietf1024-sha256-aes128-cbc-pkcs7", ("ay", bad)))
            self.assertEqual(err, "org.freedesktop.DBus.Error.InvalidArgs", bad)
        err, (out, session) = call(self.conn, SVC, "OpenSession", "sv",
                                   ("dh-ietf1024-sha256-aes128-cbc-pkcs7", ("ay", b"\x02")))
        self.assertEqual((err, out[0], len(out[1])), (None, "ay", 128))

    def test_aliases_and_collections(self):
        self.assertEqual(call(self.conn, SVC, "ReadAlias", "s", ("default",)),
                         (None, ("/org/freedesktop/secrets/collection/login",)))
        self.assertEqual(call(self.conn, SVC, "ReadAlias", "s", ("login",)),
                         (None, ("/org/freedesktop/secrets/collection/login",)))
        self.assertEqual(call(self.conn, SVC, "ReadAlias", "s", ("nosuch",)), (None, ("/",)))
        err, (path, prompt) = call(self.conn, SVC, "CreateCollection", "a{sv}s",
                                   ({"org.freedesktop.Secret.Collection.Label": ("s", "Work stuff")}, "work"))
        self.assertEqual((err, path, prompt), (None, "/org/freedesktop/secrets/collection/Work_stuff", "/"))
        # the same alias again gives the same collection
        self.assertEqual(call(self.conn, SVC, "CreateCollection", "a{sv}s", ({}, "work")),
                         (None, (path, "/")))
        self.assertEqual(call(self.conn, SVC, "ReadAlias", "s", ("work",)), (None, (path,)))
        self.assertEqual(prop(self.conn, SVC.object_path, SVC.interface, "Collections"),
                         (None, ["/org/freedesktop/secrets/collection/login", path]))
        self.assertEqual(prop(self.conn, path, "org.freedesktop.Secret.Collection", "Label"), (None, "Work stuff"))
        self.assertEqual(call(self.conn, SVC, "SetAlias", "so", ("default", path)), (None, ()))
        self.assertEqual(call(self.conn, SVC, "ReadAlias", "s", ("default",)), (None, (path,)))
        self.assertEqual(prop(self.conn, "/org/freedesktop/secrets/aliases/default",
                              "org.freedesktop.Secret.Collection", "Label"), (None, "Work stuff"))
        # the record survives a restart of the service
        self.s.stop("service")
        self.s.start_service()
        self.assertEqual(call(self.conn, SVC, "ReadAlias", "s", ("default",)), (None, (path,)))
        self.assertEqual(call(self.conn, SVC, "SetAlias", "so", ("default", "/org/freedesktop/secrets/collection/login")),
                         (None, ()))
        self.assertEqual(call(self.conn, item_addr(path, "org.freedesktop.Secret.Collection"), "Delete"), (None, ("/",)))
        self.assertEqual(call(self.conn, SVC, "ReadAlias", "s", ("work",)), (None, ("/",)))
        self.assertEqual(prop(self.conn, SVC.object_path, SVC.interface, "Collections"),
                         (None, ["/org/freedesktop/secrets/collection/login"]))


if __name__ == "__main__":
    unittest.main()
