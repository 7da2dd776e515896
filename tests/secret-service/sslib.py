"""tests/secret-service/sslib.py - a private session bus, a real sekretsd (keyfile hub) and
sekrets-secret-service on that bus, started and polled until ready, always stopped."""

import os
import shutil
import subprocess
import tempfile
import time
import unittest

SEKRETSD = os.environ.get("SEKRETSD")
SEKRETS_CLI = os.environ.get("SEKRETS_CLI")
SERVICE = os.environ.get("SECRET_SERVICE")

BUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={path}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def poll(cond, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Stack:
    """dbus-daemon (own config: no service activation), sekretsd, the service."""

    def __init__(self):
        if not (SEKRETSD and SEKRETS_CLI and SERVICE):
            raise RuntimeError("SEKRETSD, SEKRETS_CLI, SECRET_SERVICE not set (run through meson test)")
        for tool, package in (("secret-tool", "libsecret-tools"), ("dbus-daemon", "dbus"),
                              ("dbus-send", "dbus")):
            if not shutil.which(tool):
                raise RuntimeError(f"{tool} not found: apt-get install {package} (see .ci/deps)")
        self.dir = tempfile.mkdtemp(prefix="skr-ss-")
        os.chmod(self.dir, 0o700)
        os.mkdir(os.path.join(self.dir, "run"), 0o700)
        self.socket = os.path.join(self.dir, "run", "s.sock")
        self.hub = os.path.join(self.dir, "hub")
        self.keyfile = os.path.join(self.dir, "key")
        with open(os.open(self.keyfile, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
            f.write(os.urandom(32))
        self.bus_path = os.path.join(self.dir, "bus")
        with open(os.path.join(self.dir, "bus.conf"), "w") as f:
            f.write(BUS_CONF.format(path=self.bus_path))
        self.env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS="unix:path=" + self.bus_path,
                        SEKRETS_SOCKET=self.socket, XDG_CONFIG_HOME=os.path.join(self.dir, "config"))
        self.procs = {}
        self.logs = {}
        self.exits = {}

    def _spawn(self, name, argv):
        log = open(os.path.join(self.dir, name + ".log"), "ab")
        if name in self.logs:
            self.logs[name].close()
        self.logs[name] = log
        self.procs[name] = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                            env=self.env)

    def log(self, name):
        with open(os.path.join(self.dir, name + ".log"), "rb") as f:
            return f.read().decode("utf-8", "replace")

    def start(self):
        self._spawn("bus", ["dbus-daemon", "--config-file=" + os.path.join(self.dir, "bus.conf"),
                            "--nofork", "--print-address"])
        poll(lambda: os.path.exists(self.bus_path), "the bus")
        self.start_daemon()
        self.start_service()
        return self

    def start_daemon(self, *args):
        self._spawn("sekretsd", [SEKRETSD, "--foreground", "--socket", self.socket, "--hub", self.hub,
                                 "--keyfile", self.keyfile, *args])
        poll(lambda: self.procs["sekretsd"].poll() is not None or self.cli("ping").returncode == 0, "sekretsd")
        if self.procs["sekretsd"].poll() is not None:
            raise RuntimeError("sekretsd exited: " + self.log("sekretsd"))

    def start_service(self, *args):
        self._spawn("service", [SERVICE, *args])
        poll(lambda: self.has_name() or self.procs["service"].poll() is not None, "the service")
        if self.procs["service"].poll() is not None:
            raise RuntimeError("the service exited: " + self.log("service"))

    def has_name(self):
        r = subprocess.run(["dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.DBus",
                            "/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner",
                            "string:org.freedesktop.secrets"], env=self.env, capture_output=True, text=True)
        return "boolean true" in r.stdout

    def stop(self, name):
        p = self.procs.pop(name, None)
        if not p:
            return None
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.exits.setdefault(name, []).append(p.returncode)
        return p.returncode

    def cli(self, *args, input=None):
        return subprocess.run([SEKRETS_CLI, *args], env=self.env, capture_output=True, text=True, input=input)

    def run(self, *argv, input=None, cgroup=None):
        """cgroup: a Cgroups path the child moves itself into before it execs."""
        return subprocess.run(list(argv), env=self.env, capture_output=True, text=True, input=input,
                              timeout=30, preexec_fn=cgroup.enter if cgroup else None)

    def close(self):
        for name in ("service", "sekretsd", "bus"):
            self.stop(name)
        for log in self.logs.values():
            log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class CgroupUnavailable(Exception):
    pass


class Cgroups:
    """Cgroups named like systemd units, made in the hierarchy libsystemd reads a pid's unit
    from (cgroup2: /sys/fs/cgroup itself, or /sys/fs/cgroup/unified on a hybrid host) and in
    the v1 name=systemd one where there is one, so both readings agree; only the folders
    made here are removed, deepest first, once empty."""

    def __init__(self):
        roots = ["/sys/fs/cgroup"] if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else \
            [r for r in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd")
             if os.path.exists(os.path.join(r, "cgroup.procs"))]
        if not roots:
            raise CgroupUnavailable("no cgroup2 or name=systemd hierarchy under /sys/fs/cgroup")
        self.roots = roots
        self.made = []

    def path(self, rel):
        """Makes ROOT/rel in every hierarchy; returns an object whose enter() moves the
        calling process there (written as 0: the writer itself)."""
        for root in self.roots:
            d = root
            for part in rel.split("/"):
                d = os.path.join(d, part)
                if os.path.isdir(d):
                    continue
                try:
                    os.mkdir(d)
                except OSError as e:
                    raise CgroupUnavailable(f"cannot create cgroup {d}: {e.strerror}") from e
                self.made.append(d)
        procs = [os.path.join(root, rel, "cgroup.procs") for root in self.roots]

        class Place:
            @staticmethod
            def enter():
                for p in procs:
                    with open(p, "w") as f:
                        f.write("0")
        return Place

    def close(self):
        # the children that entered them have exited (subprocess.run waited): empty
        for d in reversed(self.made):
            poll(lambda: self._rmdir(d), "cgroup " + d + " to empty", timeout=5)
        self.made = []

    @staticmethod
    def _rmdir(d):
        try:
            os.rmdir(d)
            return True
        except FileNotFoundError:
            return True
        except OSError as e:
            if e.errno == 16:  # EBUSY: a zombie's exit is still being accounted
                return False
            raise
