"""The Python keyring backend (sekrets.keyring_backend) under keyring's own test suite,
keyring.testing.backend.BackendBasicTests from Debian's python3-keyring, against a real
sekretsd; then what keyring's suite does not cover: priority with and without a daemon, a
locked hub, the record names, and the `keyring` command line through keyringrc.cfg,
PYTHON_KEYRING_BACKEND and the entry point of an installed package.

    /usr/bin/python3 -m pytest tests/external/test_keyring.py   (meson test keyring)
"""

import os
import shutil
import subprocess
import sys
import tempfile

import pytest
from keyring import errors
from keyring.testing.backend import BackendBasicTests

from sekrets.keyring_backend import SekretsKeyring, encode_name
from sekrets_testlib import Daemon, SEKRETS_CLI

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "client", "python")
BACKEND = "sekrets.keyring_backend.SekretsKeyring"


@pytest.fixture(scope="module")
def daemon():
    d = Daemon().start()
    old = os.environ.get("SEKRETS_SOCKET")
    os.environ["SEKRETS_SOCKET"] = d.socket
    yield d
    log = d.logtext()
    d.stop()
    if old is None:
        os.environ.pop("SEKRETS_SOCKET", None)
    else:
        os.environ["SEKRETS_SOCKET"] = old
    for secret in ("password1", "password2", "cli-secret", "locked-secret"):
        assert secret not in log, f"{secret} in the daemon's log"


class TestBackendBasic(BackendBasicTests):
    """keyring's own cases, every one of them, on the hub."""

    @pytest.fixture(autouse=True)
    def _daemon(self, daemon):
        self.daemon = daemon

    def init_keyring(self):
        return SekretsKeyring()


def env_with(**kw):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHON_KEYRING_BACKEND")}
    env.update(kw)
    return env


class TestSekrets:
    def test_priority(self, daemon):
        assert SekretsKeyring.priority == 9
        assert SekretsKeyring.viable
        missing = os.path.join(daemon.dir, "none.sock")
        os.environ["SEKRETS_SOCKET"] = missing
        try:
            with pytest.raises(RuntimeError, match="sekretsd does not answer .*start it with"):
                SekretsKeyring.priority
            assert not SekretsKeyring.viable
            with pytest.raises(errors.KeyringError, match="cannot reach sekretsd"):
                SekretsKeyring().get_password("s", "u")
        finally:
            os.environ["SEKRETS_SOCKET"] = daemon.socket

    def test_record_names(self, daemon):
        k = SekretsKeyring()
        k.set_password("https://svc/x", "a%b\tc", "password1")
        with daemon.client() as c:
            assert "https:%2F%2Fsvc%2Fx/a%25b%09c" in c.get_db("keyring")
            rec = c.get("https:%2F%2Fsvc%2Fx/a%25b%09c", "keyring")
        assert rec["body"] == {"service": "https://svc/x", "username": "a%b\tc",
                               "password": "password1"}
        # another protocol through keyring's properties
        alt = k.with_properties(protocol="work")
        alt.set_password("svc", "u", "password2")
        assert k.get_password("svc", "u") is None
        assert alt.get_password("svc", "u") == "password2"
        alt.delete_password("svc", "u")
        k.delete_password("https://svc/x", "a%b\tc")

    def test_credential_without_username_is_the_first_stored(self, daemon):
        k = SekretsKeyring()
        k.set_password("svc-first", "u1", "password1")
        k.set_password("svc-first", "u2", "password2")
        k.set_password("svc-firstly", "u0", "password2")
        cred = k.get_credential("svc-first", None)
        assert (cred.username, cred.password) == ("u1", "password1")
        for u in ("u1", "u2"):
            k.delete_password("svc-first", u)
        k.delete_password("svc-firstly", "u0")
        assert k.get_credential("svc-first", None) is None

    def test_too_long(self, daemon):
        k = SekretsKeyring()
        assert encode_name("s" * 200, "u" * 56) is None
        assert encode_name("s" * 200, "u" * 55) is not None
        with pytest.raises(errors.PasswordSetError, match="more than 256 bytes"):
            k.set_password("s" * 200, "u" * 56, "x")
        assert k.get_password("s" * 200, "u" * 56) is None
        with pytest.raises(errors.PasswordDeleteError):
            k.delete_password("s" * 200, "u" * 56)

    def test_locked(self, daemon):
        k = SekretsKeyring()
        k.set_password("lsvc", "u", "locked-secret")
        with daemon.client() as c:
            c.lock()
        try:
            assert SekretsKeyring.priority == 9   # the daemon answers: still the backend
            for call in (lambda: k.get_password("lsvc", "u"),
                         lambda: k.set_password("lsvc", "u", "x"),
                         lambda: k.delete_password("lsvc", "u"),
                         lambda: k.get_credential("lsvc", None)):
                with pytest.raises(errors.KeyringLocked,
                                   match="hub is locked: unlock it with `sekrets-cli unlock`"):
                    call()
        finally:
            subprocess.run([SEKRETS_CLI, "--socket", daemon.socket, "unlock", "--keyfile",
                            daemon.keyfile], check=True)
        assert k.get_password("lsvc", "u") == "locked-secret"
        k.delete_password("lsvc", "u")

    def test_keyring_cli(self, daemon, tmp_path):
        """`keyring get SERVICE USER`, Debian's /usr/bin/keyring, through keyringrc.cfg
        and through PYTHON_KEYRING_BACKEND; the password goes in on stdin."""
        cfg = tmp_path / "python_keyring"
        cfg.mkdir()
        (cfg / "keyringrc.cfg").write_text(f"[backend]\ndefault-keyring = {BACKEND}\n")
        env = env_with(XDG_CONFIG_HOME=str(tmp_path), PYTHONPATH=SRC,
                       SEKRETS_SOCKET=daemon.socket)
        run = lambda *a, **kw: subprocess.run(["/usr/bin/keyring", *a], env=kw.get("env", env),
                                              input=kw.get("input"), capture_output=True,
                                              text=True, timeout=60)
        r = run("set", "cli-svc", "ann", input="cli-secret\n")
        assert (r.returncode, r.stderr) == (0, "")
        r = run("get", "cli-svc", "ann")
        assert (r.returncode, r.stdout) == (0, "cli-secret\n")
        with daemon.client() as c:
            assert c.get("cli-svc/ann", "keyring")["body"]["password"] == "cli-secret"
        env2 = env_with(PYTHON_KEYRING_BACKEND=BACKEND, PYTHONPATH=SRC,
                        SEKRETS_SOCKET=daemon.socket, XDG_CONFIG_HOME=str(tmp_path / "none"))
        r = run("get", "cli-svc", "ann", env=env2)
        assert (r.returncode, r.stdout) == (0, "cli-secret\n")
        r = run("get", "cli-svc", "nobody")
        assert (r.returncode, r.stdout) == (1, "")
        r = run("del", "cli-svc", "ann")
        assert r.returncode == 0
        r = run("get", "cli-svc", "ann")
        assert (r.returncode, r.stdout) == (1, "")

    def test_entry_point_of_the_installed_package(self, daemon):
        """pip install client/python (offline, as tests/python/install_check.py does):
        keyring then finds the backend through its entry point, with no configuration,
        and picks it over the others while a daemon answers."""
        tmp = tempfile.mkdtemp(prefix="skr-kr-venv-")
        try:
            src = os.path.join(tmp, "src")
            shutil.copytree(SRC, src, ignore=shutil.ignore_patterns(
                "__pycache__", "build", "*.egg-info"))
            venv = os.path.join(tmp, "venv")
            subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages",
                            "--without-pip", venv], check=True, timeout=120)
            py = os.path.join(venv, "bin", "python")
            env = env_with(PIP_DISABLE_PIP_VERSION_CHECK="1", SEKRETS_SOCKET=daemon.socket,
                           XDG_CONFIG_HOME=os.path.join(tmp, "cfg"))
            r = subprocess.run([py, "-m", "pip", "install", "--no-build-isolation", "--no-deps",
                                "--no-index", src], capture_output=True, text=True,
                               timeout=240, env=env, cwd=tmp)
            assert r.returncode == 0, r.stdout + r.stderr
            SekretsKeyring().set_password("ep-svc", "ann", "password1")
            r = subprocess.run([py, "-m", "keyring", "--list-backends"], capture_output=True,
                               text=True, timeout=60, env=env, cwd="/")
            assert "sekrets.keyring_backend.SekretsKeyring (priority: 9)" in r.stdout, r.stdout + r.stderr
            r = subprocess.run([py, "-c", "import keyring; print(type(keyring.get_keyring()).__name__,"
                                " keyring.get_password('ep-svc', 'ann'))"],
                               capture_output=True, text=True, timeout=60, env=env, cwd="/")
            assert r.stdout.split() in (["SekretsKeyring", "password1"],
                                        ["ChainerBackend", "password1"]), r.stdout + r.stderr
            SekretsKeyring().delete_password("ep-svc", "ann")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v"]))
