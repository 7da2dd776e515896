"""tests/secret-service/test_secret_service.py - sekrets-secret-service on a private session
bus against a real sekretsd: secret-tool (libsecret, dh session), raw jeepney calls (plain
session, errors), Python secretstorage, keyring's SecretService backend, a locked hub and
its unlock (the per-caller rules: test_rules.py). Exact results throughout."""

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
# Whether the service was built with libgcrypt (the dh session); meson sets it.
DH = os.environ.get("SS_DH") == "1"
DH_ALG = "dh-ietf1024-sha256-aes128-cbc-pkcs7"


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
        # class cleanups run even when a setUpClass fails: nothing is left running
        cls.s = Stack()
        cls.addClassCleanup(cls.s.close)
        cls.s.start()
        os.environ["DBUS_SESSION_BUS_ADDRESS"] = cls.s.env["DBUS_SESSION_BUS_ADDRESS"]
        cls.conn = open_dbus_connection("SESSION")
        cls.addClassCleanup(cls.conn.close)

    @classmethod
    def tearDownClass(cls):
        # every run of the service ended cleanly: exit 0 on SIGTERM, no sanitizer report
        cls.s.stop("service")
        log = cls.s.log("service")
        if "Sanitizer" in log or "runtime error" in log:
            raise AssertionError("sanitizer report in the service's log:\n" + log)
        bad = [rc for rc in cls.s.exits.get("service", []) if rc != 0]
        if bad:
            raise AssertionError(f"the service exited with {bad}:\n" + log)

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
        offered = "plain, " + DH_ALG if DH else "plain"
        self.assertEqual(body, (f"algorithm not supported (offered: {offered})",))
        if not DH:  # what libsecret and secretstorage fall back to plain from
            err, body = call(self.conn, SVC, "OpenSession", "sv", (DH_ALG, ("ay", b"\x02")))
            self.assertEqual((err, body), ("org.freedesktop.DBus.Error.NotSupported",
                                           ("algorithm not supported (offered: plain)",)))
            return
        for bad in (b"\x00", b"\x01", b"\xff" * 129):
            err, body = call(self.conn, SVC, "OpenSession", "sv", (DH_ALG, ("ay", bad)))
            self.assertEqual(err, "org.freedesktop.DBus.Error.InvalidArgs", bad)
        err, (out, session) = call(self.conn, SVC, "OpenSession", "sv", (DH_ALG, ("ay", b"\x02")))
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


class SecretStorageTests(Base):
    """python3-secretstorage: every operation of its Collection and Item, on a dh session."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        import secretstorage
        cls.ss = secretstorage
        cls.bus = secretstorage.dbus_init()

    @classmethod
    def tearDownClass(cls):
        cls.bus.close()
        super().tearDownClass()

    def test_session_is_dh(self):
        from secretstorage.util import open_session
        session = open_session(self.bus)
        self.assertEqual(session.encrypted, DH)
        if DH:
            self.assertEqual(len(session.aes_key), 16)

    def test_items(self):
        ss = self.ss
        self.assertTrue(ss.check_service_availability(self.bus))
        coll = ss.get_default_collection(self.bus)
        self.assertEqual(coll.collection_path, "/org/freedesktop/secrets/aliases/default")
        self.assertEqual(coll.get_label(), "Login")
        self.assertFalse(coll.is_locked())
        item = coll.create_item("ss item", {"app": "ss", "user": "ann"}, b"ss-secret\x00\xff",
                                content_type="application/octet-stream")
        self.assertRegex(item.item_path, r"^/org/freedesktop/secrets/collection/login/[0-9a-f]{16}$")
        self.assertEqual(item.get_secret(), b"ss-secret\x00\xff")
        self.assertEqual(item.get_secret_content_type(), "application/octet-stream")
        self.assertEqual(item.get_label(), "ss item")
        self.assertEqual(item.get_attributes(), {"app": "ss", "user": "ann"})
        self.assertFalse(item.is_locked())
        created = item.get_created()
        self.assertLessEqual(abs(created - time.time()), 60)
        self.assertEqual(item.get_modified(), created)
        # searches: the collection's and the service's
        self.assertEqual([i.item_path for i in coll.search_items({"app": "ss"})], [item.item_path])
        self.assertEqual([i.item_path for i in ss.search_items(self.bus, {"user": "ann", "app": "ss"})],
                         [item.item_path])
        self.assertEqual(list(coll.search_items({"app": "nope"})), [])
        self.assertIn(item.item_path, [i.item_path for i in coll.get_all_items()])
        # changes
        item.set_label("renamed")
        self.assertEqual(item.get_label(), "renamed")
        item.set_attributes({"app": "ss", "user": "bo"})
        self.assertEqual(item.get_attributes(), {"app": "ss", "user": "bo"})
        self.assertEqual(list(coll.search_items({"user": "ann"})), [])
        item.set_secret(b"second", content_type="text/plain")
        self.assertEqual(item.get_secret(), b"second")
        self.assertEqual(item.get_secret_content_type(), "text/plain")
        # replace: same attributes give the same item; replace=False a new one
        same = coll.create_item("again", {"app": "ss", "user": "bo"}, b"third", replace=True)
        self.assertEqual(same.item_path, item.item_path)
        self.assertEqual(item.get_secret(), b"third")
        other = coll.create_item("again", {"app": "ss", "user": "bo"}, b"fourth", replace=False)
        self.assertNotEqual(other.item_path, item.item_path)
        self.assertEqual(len(list(coll.search_items({"app": "ss"}))), 2)
        other.delete()
        item.delete()
        self.assertEqual(list(coll.search_items({"app": "ss"})), [])
        with self.assertRaises(ss.ItemNotFoundException):
            item.get_secret()

    def test_collections(self):
        ss = self.ss
        coll = ss.create_collection(self.bus, "Project X", alias="projx")
        self.assertEqual(coll.collection_path, "/org/freedesktop/secrets/collection/Project_X")
        self.assertEqual(ss.get_collection_by_alias(self.bus, "projx").collection_path, coll.collection_path)
        self.assertEqual([c.collection_path for c in ss.get_all_collections(self.bus)],
                         ["/org/freedesktop/secrets/collection/login", coll.collection_path])
        coll.set_label("Project Y")
        self.assertEqual(coll.get_label(), "Project Y")
        it = coll.create_item("in x", {"where": "x"}, b"x-secret")
        self.assertEqual(self.s.cli("get", it.item_path.rsplit("/", 1)[1], "-p", "ss.Project_X", "-f", "label").stdout,
                         "in x")
        self.assertEqual([i.item_path for i in ss.search_items(self.bus, {"where": "x"})], [it.item_path])
        self.assertEqual(list(ss.get_default_collection(self.bus).search_items({"where": "x"})), [])
        coll.delete()
        with self.assertRaises(ss.ItemNotFoundException):
            ss.get_collection_by_alias(self.bus, "projx")
        self.assertEqual(self.s.cli("db", "ss.Project_X").returncode, 3)


class KeyringTests(Base):
    """python3-keyring's SecretService backend: set, get, get_credential, delete."""

    def test_backend(self):
        from keyring.backends import SecretService
        from keyring.errors import PasswordDeleteError
        kr = SecretService.Keyring()
        self.assertGreater(kr.priority, 0)
        kr.set_password("svc.example", "ann", "kr-pw-1")
        self.assertEqual(kr.get_password("svc.example", "ann"), "kr-pw-1")
        kr.set_password("svc.example", "ann", "kr-pw-2")  # replaces
        self.assertEqual(kr.get_password("svc.example", "ann"), "kr-pw-2")
        kr.set_password("svc.example", "bo", "kr-pw-bo")
        cred = kr.get_credential("svc.example", "bo")
        self.assertEqual((cred.username, cred.password), ("bo", "kr-pw-bo"))
        self.assertIsNone(kr.get_password("svc.example", "nobody"))
        self.assertEqual(len(self.s.cli("db", "ss.login").stdout.split()), 2)
        kr.delete_password("svc.example", "ann")
        self.assertIsNone(kr.get_password("svc.example", "ann"))
        with self.assertRaises(PasswordDeleteError):
            kr.delete_password("svc.example", "ann")
        kr.delete_password("svc.example", "bo")
        self.assertEqual(self.s.cli("db", "ss.login").returncode, 3)
        # through keyring's command line too, with the backend chosen by the variable
        env = dict(self.s.env, PYTHON_KEYRING_BACKEND="keyring.backends.SecretService.Keyring")
        r = subprocess.run(["/usr/bin/python3", "-m", "keyring", "set", "cli.example", "cy"], input="kr-cli\n",
                           env=env, capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = subprocess.run(["/usr/bin/python3", "-m", "keyring", "get", "cli.example", "cy"],
                           env=env, capture_output=True, text=True, timeout=30)
        self.assertEqual((r.returncode, r.stdout), (0, "kr-cli\n"))
        kr.delete_password("cli.example", "cy")
        for secret in ("kr-pw-1", "kr-pw-2", "kr-pw-bo", "kr-cli"):
            self.assertNotIn(secret, self.s.log("service") + self.s.log("sekretsd"))


class LockedTests(Base):
    """A locked hub: searches answer locked items, Unlock gives a prompt that fails with
    how to unlock until `sekrets-cli unlock`, then completes; secret-tool says the same."""

    def test_locked_then_unlocked(self):
        import secretstorage as ss
        from jeepney.wrappers import DBusErrorResponse
        bus = ss.dbus_init()
        coll = ss.get_default_collection(bus)
        item = coll.create_item("lk", {"lk": "1"}, b"locked-secret")
        self.assertEqual(self.s.cli("lock").returncode, 0)
        try:
            # the Service's search: nothing unlocked, the item locked
            err, body = call(self.conn, SVC, "SearchItems", "a{ss}", ({"lk": "1"},))
            self.assertEqual((err, body), (None, ([], [item.item_path])))
            self.assertTrue(coll.is_locked())
            self.assertTrue(item.is_locked())
            self.assertEqual(item.get_attributes(), {"lk": "1"})
            with self.assertRaises(ss.LockedException):
                item.get_secret()
            err, body = call(self.conn, SVC, "OpenSession", "sv", ("plain", ("s", "")))
            session = body[1]
            err, body = call(self.conn, SVC, "GetSecrets", "aoo", ([item.item_path], session))
            self.assertEqual((err, body), ("org.freedesktop.Secret.Error.IsLocked", (LOCKED_HINT,)))
            # Unlock: a prompt, whose Prompt() fails while the hub stays locked
            err, (unlocked, prompt) = call(self.conn, SVC, "Unlock", "ao", ([item.item_path],))
            self.assertEqual((err, unlocked), (None, []))
            self.assertRegex(prompt, r"^/org/freedesktop/secrets/prompt/p\d+$")
            err, body = call(self.conn, item_addr(prompt, "org.freedesktop.Secret.Prompt"), "Prompt", "s", ("",))
            self.assertEqual((err, body), ("org.freedesktop.Secret.Error.IsLocked", (LOCKED_HINT,)))
            with self.assertRaises(DBusErrorResponse) as cm:
                item.unlock()
            self.assertEqual((cm.exception.name, cm.exception.data), ("org.freedesktop.Secret.Error.IsLocked",
                                                                      (LOCKED_HINT,)))
            self.assertEqual(self.st("lookup", "lk", "1"), (1, "", "secret-tool: " + LOCKED_HINT + "\n"))
            # unlocked by its owner: the same prompt completes with the item
            self.assertEqual(self.s.cli("unlock", "--keyfile", self.s.keyfile).returncode, 0)
            from jeepney import MatchRule, message_bus, Properties
            from jeepney.bus_messages import message_bus as mb
            rule = MatchRule(type="signal", interface="org.freedesktop.Secret.Prompt", member="Completed",
                             path=prompt)
            call(self.conn, mb, "AddMatch", "s", (rule.serialise(),))
            with self.conn.filter(rule) as signals:
                err, body = call(self.conn, item_addr(prompt, "org.freedesktop.Secret.Prompt"), "Prompt", "s", ("",))
                self.assertEqual((err, body), (None, ()))
                sig = self.conn.recv_until_filtered(signals, timeout=10)
            self.assertEqual(sig.body, (False, ("ao", [item.item_path])))
            # and a prompt is used once
            err, _ = call(self.conn, item_addr(prompt, "org.freedesktop.Secret.Prompt"), "Prompt", "s", ("",))
            self.assertEqual(err, "org.freedesktop.DBus.Error.UnknownObject")
            self.assertEqual(call(self.conn, SVC, "Unlock", "ao", ([item.item_path],)), (None, ([item.item_path], "/")))
            self.assertFalse(item.is_locked())
            self.assertEqual(item.get_secret(), b"locked-secret")
            self.assertEqual(self.st("lookup", "lk", "1"), (0, "locked-secret", ""))
            # Lock through the service locks the hub
            self.assertEqual(call(self.conn, SVC, "Lock", "ao", ([coll.collection_path],)),
                             (None, ([coll.collection_path], "/")))
            self.assertIn('"locked":true,', self.s.cli("status", "--json").stdout)
            # Dismiss: Completed(true)
            err, (unlocked, prompt) = call(self.conn, SVC, "Unlock", "ao", ([item.item_path],))
            rule = MatchRule(type="signal", interface="org.freedesktop.Secret.Prompt", member="Completed",
                             path=prompt)
            call(self.conn, mb, "AddMatch", "s", (rule.serialise(),))
            with self.conn.filter(rule) as signals:
                self.assertEqual(call(self.conn, item_addr(prompt, "org.freedesktop.Secret.Prompt"), "Dismiss"),
                                 (None, ()))
                sig = self.conn.recv_until_filtered(signals, timeout=10)
            self.assertEqual(sig.body, (True, ("ao", [])))
        finally:
            self.s.cli("unlock", "--keyfile", self.s.keyfile)
            item.delete()
            bus.close()


class MemoryTests(Base):
    """No secret stays in the service's memory after the call that carried it (dh
    sessions: the bus only ever carries ciphertext; the service decrypts into guarded
    memory that it wipes). Positive control: an attribute value, which the index keeps."""

    def scan(self, markers):
        pid = self.s.procs["service"].pid
        found = {m: 0 for m in markers}
        with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
            for line in maps:
                addr, perms = line.split()[:2]
                if not perms.startswith("r"):
                    continue
                start, end = (int(x, 16) for x in addr.split("-"))
                if end - start > 1 << 30:  # a sanitizer's shadow reservation, not data
                    continue
                tail = b""
                for off in range(start, end, 1 << 22):  # in 4 MiB pieces, overlapping by 64 bytes
                    try:
                        mem.seek(off)
                        data = tail + mem.read(min(1 << 22, end - off))
                    except (OSError, ValueError, OverflowError):
                        break
                    for m in markers:
                        found[m] += data.count(m) - tail.count(m)
                    tail = data[-64:]
        return found

    def test_no_secret_after_the_call(self):
        self.assertEqual(os.geteuid(), 0, "reading the service's memory needs root (it is not dumpable)")
        tag = os.urandom(6).hex()
        secret, attr = f"mem-secret-{tag}", f"mem-attr-{tag}"
        self.assertEqual(self.st("store", "--label=mem", "memattr", attr, input=secret), (0, "", ""))
        self.assertEqual(self.st("lookup", "memattr", attr), (0, secret, ""))
        self.assertEqual(self.st("search", "--all", "memattr", attr)[0], 0)
        self.assertEqual(self.st("lookup", "memattr", attr), (0, secret, ""))
        # a barrier: the service answers this only after the turn of its loop that served
        # the lookup ended (and closed its sekretsd connection); the lookup's reply reached
        # secret-tool before that turn ended
        peer = DBusAddress(SVC.object_path, bus_name=SVC.bus_name, interface="org.freedesktop.DBus.Peer")
        self.assertEqual(call(self.conn, peer, "Ping"), (None, ()))
        found = self.scan([secret.encode(), attr.encode()])
        self.assertGreater(found[attr.encode()], 0)  # the scan finds what is there
        self.assertEqual(found[secret.encode()], 0)
        self.assertEqual(self.st("clear", "memattr", attr), (0, "", ""))


if __name__ == "__main__":
    unittest.main()
