"""tests/secret-service/test_rules.py - sekrets-secret-service's per-caller rules: by
executable, by systemd unit (callers moved into cgroups named like units), and the one
config file shared with sekretsd. Exact results throughout."""

import os
import re
import shutil

from sslib import Cgroups, CgroupUnavailable
from test_secret_service import SVC, ST, Base, call, prop


class RulesTests(Base):
    """Per-caller rules: secret-tool may read the login collection's service=git items only,
    a copy of it named st-writer may also write them, everyone else is refused with
    AccessDenied and an audit line that quotes what the caller controls."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        import secretstorage as ss
        bus = ss.dbus_init()
        coll = ss.get_default_collection(bus)
        coll.create_item("git ann", {"service": "git", "user": "ann"}, b"rule-git")
        coll.create_item("other", {"service": "other", "user": "ann"}, b"rule-other")
        bus.close()
        cls.writer = os.path.join(cls.s.dir, "st-writer")
        shutil.copy(ST, cls.writer)
        cls.odd = os.path.join(cls.s.dir, 'odd"\x1bname')
        shutil.copy(ST, cls.odd)
        cls.unit_exe = os.path.join(cls.s.dir, "st-unit")
        shutil.copy(ST, cls.unit_exe)
        # unit names unique to this run: cgroups are the machine's, not the test's
        cls.unit = "skrtest-%s.service" % os.urandom(4).hex()
        cls.app = cls.unit.replace(".service", "-app.service")
        cls.rules = os.path.join(cls.s.dir, "rules.ini")
        with open(cls.rules, "w") as f:
            f.write(f"""[daemon]
[secret-service unit-tool]
exe = {cls.unit_exe}
unit = {cls.unit}
collections = login
attributes = service=git

[secret-service app]
unit = {cls.app}
collections = login

[secret-service tool]
exe = {ST}
collections = default
attributes = service=git

[secret-service writer]
exe = {cls.writer}
collections = login
attributes = service=git
write = yes
""")
        cls.s.stop("service")
        cls.s.start_service("--rules", cls.rules)

    def run_as(self, exe, *args, input=None, cgroup=None):
        r = self.s.run(exe, *args, input=input, cgroup=cgroup)
        return r.returncode, r.stdout, r.stderr

    def cgroup(self, rel):
        """A cgroup made for this test (removed after it), or the test skipped saying why."""
        try:
            cg = Cgroups()
            self.addCleanup(cg.close)
            return cg.path(rel)
        except CgroupUnavailable as e:
            self.skipTest(f"unit rules untestable here: {e}")

    def denied_line(self, exe, unit, call, path):
        return (r'^sekrets-secret-service: denied pid=\d+ uid=%d exe="%s" unit="%s" sender=":1\.\d+" '
                r'call="%s" path="%s" rule=-$' % (os.getuid(), re.escape(exe), re.escape(unit), call, re.escape(path)))

    def test_unit_rule(self):
        """unit = a system unit (sd_pid_get_unit: /system.slice/NAME.service): st-unit reads
        there; the same executable in another unit, or in none, is refused."""
        inside = self.cgroup("system.slice/" + self.unit)
        other_unit = self.unit.replace(".service", "-other.service")
        other = self.cgroup("system.slice/" + other_unit)
        self.assertEqual(self.run_as(self.unit_exe, "lookup", "service", "git", "user", "ann", cgroup=inside),
                         (0, "rule-git", ""))
        self.assertEqual(self.run_as(self.unit_exe, "lookup", "service", "other", "user", "ann", cgroup=inside),
                         (1, "", ""))
        n = len(self.audit_lines())
        refused = (1, "", "st-unit: OpenSession refused by the sekrets secret-service rules\n")
        self.assertEqual(self.run_as(self.unit_exe, "lookup", "service", "git", "user", "ann", cgroup=other), refused)
        self.assertEqual(self.run_as(self.unit_exe, "lookup", "service", "git", "user", "ann"), refused)
        lines = self.audit_lines()[n:]
        # libsecret asks for the properties (GetAll), then opens a session: both refused
        self.assertEqual(len(lines), 4, lines)
        self.assertRegex(lines[0], self.denied_line(self.unit_exe, other_unit, "GetAll", "/org/freedesktop/secrets"))
        self.assertRegex(lines[1], self.denied_line(self.unit_exe, other_unit, "OpenSession", "/org/freedesktop/secrets"))
        own = re.search(r'unit="([^"]*)"', lines[3]).group(1)
        self.assertNotEqual(own, self.unit)
        self.assertRegex(lines[3], self.denied_line(self.unit_exe, own, "OpenSession", "/org/freedesktop/secrets"))

    def test_user_unit_rule(self):
        """unit = a user unit (sd_pid_get_user_unit: .../user@UID.service/app.slice/NAME.service),
        without exe: dbus-send opens a session from there; from a sibling user unit it gets
        AccessDenied and an audit line naming that unit."""
        uid = os.getuid()
        manager = f"user.slice/user-{uid}.slice/user@{uid}.service/app.slice/"
        inside = self.cgroup(manager + self.app)
        other_unit = self.app.replace("-app.service", "-app2.service")
        other = self.cgroup(manager + other_unit)
        send = (shutil.which("dbus-send"), "--session", "--print-reply", "--dest=org.freedesktop.secrets",
                "/org/freedesktop/secrets", "org.freedesktop.Secret.Service.OpenSession", "string:plain",
                "variant:string:")
        rc, out, err = self.run_as(*send, cgroup=inside)
        self.assertEqual((rc, err), (0, ""))
        self.assertRegex(out, r'object path "/org/freedesktop/secrets/session/\w+"')
        n = len(self.audit_lines())
        self.assertEqual(self.run_as(*send, cgroup=other),
                         (1, "", "Error org.freedesktop.DBus.Error.AccessDenied: "
                                 "OpenSession refused by the sekrets secret-service rules\n"))
        lines = self.audit_lines()[n:]
        self.assertEqual(len(lines), 1)
        self.assertRegex(lines[0], self.denied_line(os.path.realpath(send[0]), other_unit, "OpenSession",
                                                    "/org/freedesktop/secrets"))

    def audit_lines(self):
        return [l for l in self.s.log("service").splitlines() if " denied " in l]

    def test_reader(self):
        self.assertEqual(self.st("lookup", "service", "git", "user", "ann"), (0, "rule-git", ""))
        # outside its attributes: not found, as if absent
        self.assertEqual(self.st("lookup", "service", "other", "user", "ann"), (1, "", ""))
        rc, out, err = self.st("search", "--all", "user", "ann")
        self.assertEqual((rc, out.count("label = "), "rule-other" in out), (0, 1, False))
        self.assertIn("secret = rule-git\n", out)
        # no write
        n = len(self.audit_lines())
        self.assertEqual(self.st("store", "--label=x", "service", "git", "user", "x", input="nope"),
                         (1, "", "secret-tool: CreateItem refused by the sekrets secret-service rules\n"))
        self.assertEqual(self.st("clear", "service", "git", "user", "ann")[0], 1)
        self.assertEqual(self.st("lookup", "service", "git", "user", "ann"), (0, "rule-git", ""))
        lines = self.audit_lines()[n:]
        self.assertRegex(lines[0], r'^sekrets-secret-service: denied pid=\d+ uid=%d exe="%s" unit="[^"]*" '
                         r'sender=":1\.\d+" call="CreateItem" path="/org/freedesktop/secrets/aliases/default" rule=tool$'
                         % (os.getuid(), re.escape(ST)))

    def test_writer(self):
        self.assertEqual(self.run_as(self.writer, "store", "--label=cy", "service", "git", "user", "cy", input="w-pw"),
                         (0, "", ""))
        self.assertEqual(self.run_as(self.writer, "lookup", "service", "git", "user", "cy"), (0, "w-pw", ""))
        self.assertEqual(self.st("lookup", "service", "git", "user", "cy"), (0, "w-pw", ""))
        # only items with its attributes
        self.assertEqual(self.run_as(self.writer, "store", "--label=o", "service", "other", "user", "cy", input="w"),
                         (1, "", "st-writer: CreateItem refused by the sekrets secret-service rules\n"))
        self.assertEqual(self.run_as(self.writer, "clear", "service", "git", "user", "cy"), (0, "", ""))
        self.assertEqual(self.st("lookup", "service", "git", "user", "cy"), (1, "", ""))

    def test_outsider_refused(self):
        n = len(self.audit_lines())
        err, body = call(self.conn, SVC, "OpenSession", "sv", ("plain", ("s", "")))
        self.assertEqual((err, body), ("org.freedesktop.DBus.Error.AccessDenied",
                                       ("OpenSession refused by the sekrets secret-service rules",)))
        err, body = call(self.conn, SVC, "SearchItems", "a{ss}", ({},))
        self.assertEqual(err, "org.freedesktop.DBus.Error.AccessDenied")
        err, body = prop(self.conn, "/org/freedesktop/secrets/collection/login", "org.freedesktop.Secret.Collection", "Items")
        self.assertEqual(err, "org.freedesktop.DBus.Error.AccessDenied")
        exe = os.path.realpath("/proc/self/exe")
        lines = self.audit_lines()[n:]
        self.assertEqual(len(lines), 3)
        self.assertRegex(lines[0], r'^sekrets-secret-service: denied pid=%d uid=%d exe="%s" unit="[^"]*" '
                         r'sender=":1\.\d+" call="OpenSession" path="/org/freedesktop/secrets" rule=-$'
                         % (os.getpid(), os.getuid(), re.escape(exe)))
        # keyring and secretstorage, from this process: refused as well
        from keyring.backends import SecretService
        from keyring.errors import InitError
        from jeepney.wrappers import DBusErrorResponse
        with self.assertRaises((InitError, DBusErrorResponse)):
            SecretService.Keyring().get_password("service", "git")
        # a caller whose executable name holds a quote and an escape: quoted in the audit line
        rc, out, err = self.run_as(self.odd, "lookup", "service", "git")
        self.assertEqual((rc, out), (1, ""))
        self.assertEqual(err, 'odd"\x1bname: OpenSession refused by the sekrets secret-service rules\n')
        odd = [l for l in self.audit_lines() if "odd" in l]
        self.assertTrue(odd)
        self.assertIn('exe="%s/odd\\"\\x1bname"' % self.s.dir, odd[0])

    def test_bad_rules_file(self):
        bad = os.path.join(self.s.dir, "bad.ini")
        with open(bad, "w") as f:
            f.write("[secret-service x]\nexe = /bin/true\ncollections = login\nbogus = 1\n")
        r = self.s.run(os.environ["SECRET_SERVICE"], "--rules", bad)
        self.assertEqual((r.returncode, r.stderr),
                         (1, f"sekrets-secret-service: {bad}:4: [secret-service x] unknown key 'bogus'\n"))
        with open(bad, "w") as f:
            f.write("[secret-service x]\ncollections = login\n")
        r = self.s.run(os.environ["SECRET_SERVICE"], "--rules", bad)
        self.assertEqual((r.returncode, r.stderr),
                         (1, f"sekrets-secret-service: {bad}: [secret-service x] needs exe or unit, and collections\n"))


class SharedConfigTests(Base):
    """One file for both: sekretsd runs with it as --config ([daemon], [grant NAME]; it
    ignores [secret-service NAME]) and the service with it as --rules (it ignores every
    other section: they are the daemon's, which refuses those it does not know)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.conf = os.path.join(cls.s.dir, "sekretsd.ini")
        with open(cls.conf, "w") as f:
            f.write(f"""[daemon]
log-level = debug

[grant nobody]
uid = 65534
ops = get, ping
protocols = ss.login

[secret-service tool]
exe = {ST}
collections = login
write = yes
""")
        cls.s.stop("service")
        cls.s.stop("sekretsd")
        cls.s.start_daemon("--config", cls.conf)
        cls.s.start_service("--rules", cls.conf)

    def test_one_file(self):
        # the service's rule: secret-tool may, this process may not
        self.assertEqual(self.st("store", "--label=shared", "service", "shared", input="one-file"), (0, "", ""))
        # the daemon read it too: log-level = debug logs each connection (the service's)
        self.assertRegex(self.s.log("sekretsd"), r"connection from pid=%d uid=%d" % (self.s.procs["service"].pid, os.getuid()))
        self.assertEqual(self.st("lookup", "service", "shared"), (0, "one-file", ""))
        err, body = call(self.conn, SVC, "OpenSession", "sv", ("plain", ("s", "")))
        self.assertEqual((err, body), ("org.freedesktop.DBus.Error.AccessDenied",
                                       ("OpenSession refused by the sekrets secret-service rules",)))
        self.assertEqual(self.st("clear", "service", "shared"), (0, "", ""))

    def test_sections_are_whose(self):
        # a section the daemon may gain ([credential NAME]) or any other is the daemon's
        future = os.path.join(self.s.dir, "future.ini")
        with open(future, "w") as f:
            f.write(f"[credential db]\nfile = /x\n\n[secret-service tool]\nexe = {ST}\ncollections = login\n")
        self.s.stop("service")
        self.s.start_service("--rules", future)
        self.assertEqual(self.st("lookup", "service", "none"), (1, "", ""))
        self.s.stop("service")
        self.s.start_service("--rules", self.conf)
        # a misspelt [secret-service] is refused by both, each with its file:line
        bad = os.path.join(self.s.dir, "bad.ini")
        for section in ("secret-service", "secret-servicex y"):
            with open(bad, "w") as f:
                f.write(f"[daemon]\n[{section}]\nexe = /bin/true\ncollections = login\n")
            r = self.s.run(os.environ["SECRET_SERVICE"], "--rules", bad)
            self.assertEqual((r.returncode, r.stderr),
                             (1, f"sekrets-secret-service: {bad}:3: unknown section [{section}] "
                                 "(use [secret-service NAME])\n"))
            r = self.s.run(os.environ["SEKRETSD"], "--foreground", "--socket", self.s.socket + ".x",
                           "--hub", self.s.hub, "--keyfile", self.s.keyfile, "--config", bad)
            self.assertEqual((r.returncode, r.stderr),
                             (2, f"sekretsd: {bad}:3: unknown section [{section}] (use [daemon], [grant NAME], [credential ID] or [secret-service NAME])\n"))
