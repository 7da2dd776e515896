"""docker-credential-sekrets driven as docker drives it (docker_client.py) against a real
sekretsd: every action, every error docker tells apart, the locked and unreachable hub,
bounded input, and no secret in the daemon's log. Run by meson with $DOCKER_HELPER."""

import os
import subprocess
import unittest

import docker_client as dc
from sekrets_testlib import Daemon, SEKRETS_CLI

HELPER = os.environ.get("DOCKER_HELPER")
SECRETS = ["s3cr\u00e9t \"q\" \\b", "tok-2", "tok-3", "case-secret"]


def env_for(socket):
    env = dict(os.environ)
    env["SEKRETS_SOCKET"] = socket
    return env


class DockerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not HELPER:
            raise unittest.SkipTest("DOCKER_HELPER is not set (run through meson test)")
        cls.daemon = Daemon().start()
        cls.h = dc.Helper(HELPER, env_for(cls.daemon.socket))

    @classmethod
    def tearDownClass(cls):
        log = cls.daemon.logtext()
        cls.daemon.stop()
        for s in SECRETS:
            assert s not in log, f"secret {s!r} in the daemon's log"

    def run_raw(self, args, stdin=b""):
        p = subprocess.run([HELPER] + args, input=stdin, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=env_for(self.daemon.socket))
        return p.returncode, p.stdout.decode()


class TestActions(DockerTest):
    def test_1_empty_list(self):
        self.assertEqual(self.h.list(), {})

    def test_2_store_get_list_erase(self):
        url = "https://index.docker.io/v1/"
        self.h.store({"ServerURL": url, "Username": "ann", "Secret": SECRETS[0]})
        self.assertEqual(self.h.get(url), {"ServerURL": url, "Username": "ann",
                                           "Secret": SECRETS[0]})
        # docker sends no newline; a trailing one (a shell's echo) is trimmed
        rc, out = self.run_raw(["get"], (url + "\n").encode())
        self.assertEqual((rc, out.endswith("\n")), (0, True))
        # a store of the same URL replaces it
        self.h.store({"ServerURL": url, "Username": "bob", "Secret": "tok-2"})
        self.assertEqual(self.h.get(url)["Username"], "bob")
        self.h.store({"ServerURL": "registry.example.com:5000", "Username": "cy",
                      "Secret": "tok-3"})
        self.assertEqual(self.h.list(), {url: "bob", "registry.example.com:5000": "cy"})
        self.h.erase(url)
        with self.assertRaises(dc.CredentialsNotFound):
            self.h.get(url)
        self.assertEqual(self.h.list(), {"registry.example.com:5000": "cy"})
        self.h.erase("registry.example.com:5000")
        self.assertEqual(self.h.list(), {})

    def test_get_output_is_one_json_line(self):
        self.h.store({"ServerURL": "one.example", "Username": "u", "Secret": "tok-2"})
        rc, out = self.run_raw(["get"], b"one.example")
        self.assertEqual((rc, out),
                         (0, '{"ServerURL":"one.example","Username":"u","Secret":"tok-2"}\n'))
        self.h.erase("one.example")

    def test_keys_match_as_go_decodes_them(self):
        # encoding/json matches field names case-insensitively, unknown fields ignored
        self.h.store_raw(b'{"serverurl":"case.example","USERNAME":"u","secret":"case-secret",'
                         b'"Extra":1}')
        self.assertEqual(self.h.get("case.example")["Secret"], "case-secret")
        self.h.erase("case.example")

    def test_not_found(self):
        with self.assertRaises(dc.CredentialsNotFound):
            self.h.get("https://nowhere.example")
        # erase of nothing: the not-found message, exit 1
        with self.assertRaises(dc.HelperError) as e:
            self.h.erase("https://nowhere.example")
        self.assertEqual((e.exception.status, e.exception.out), (1, dc.NOT_FOUND))
        # a URL that cannot be a name was never stored
        with self.assertRaises(dc.CredentialsNotFound):
            self.h.get("x" * 300)

    def test_missing_fields(self):
        with self.assertRaises(dc.MissingServerURL):
            self.h.store({"Username": "u", "Secret": "s"})
        with self.assertRaises(dc.MissingServerURL):
            self.h.store({"ServerURL": "", "Username": "u", "Secret": "s"})
        with self.assertRaises(dc.MissingUsername):
            self.h.store({"ServerURL": "a.example", "Secret": "s"})
        with self.assertRaises(dc.MissingUsername):
            self.h.store({"ServerURL": "a.example", "Username": None, "Secret": "s"})
        for action in (self.h.get, self.h.erase):
            for blank in ("", "  \n\t"):
                with self.assertRaises(dc.MissingServerURL):
                    action(blank)
        self.assertEqual(self.h.list(), {})

    def test_bad_input(self):
        cases = [
            (b"{bad", "invalid JSON on stdin: "),
            (b"", "invalid JSON on stdin: "),
            (b"[1]", "invalid JSON on stdin: not an object"),
            (b'{"ServerURL":1,"Username":"u","Secret":"s"}',
             "invalid JSON on stdin: ServerURL, Username and Secret must be strings"),
            (b'{"ServerURL":"a","Username":"u","Secret":5}',
             "invalid JSON on stdin: ServerURL, Username and Secret must be strings"),
            (('{"ServerURL":"%s","Username":"u","Secret":"s"}' % ("x" * 300)).encode(),
             "the server URL cannot be a sekrets name"),
            (b'{"ServerURL":"a\\u0007b","Username":"u","Secret":"s"}',
             "the server URL cannot be a sekrets name"),
            (b'{"ServerURL":"a","Username":"u","Secret":"' + b"x" * 70000 + b'"}',
             "cannot read stdin (at most 64 KiB)"),
        ]
        for data, want in cases:
            with self.subTest(data=data[:40]):
                with self.assertRaises(dc.HelperError) as e:
                    self.h.store_raw(data)
                self.assertEqual(e.exception.status, 1)
                self.assertTrue(e.exception.out.startswith(want), e.exception.out)
                self.assertEqual(e.exception.out.count("\n"), 0)
        self.assertEqual(self.h.list(), {})

    def test_command_line(self):
        usage = "Usage: docker-credential-sekrets <store|get|erase|list|version>\n"
        self.assertEqual(self.run_raw([]), (1, usage))
        self.assertEqual(self.run_raw(["get", "x"]), (1, usage))
        self.assertEqual(self.run_raw(["frob"]), (1, "Unknown credential action `frob`\n"))
        self.assertEqual(self.run_raw(["version"]), (0, "docker-credential-sekrets (sekrets) v0.1.0\n"))
        rc, out = self.run_raw(["--help"])
        self.assertEqual(rc, 0)
        self.assertIn('{ "credsStore": "sekrets" }', out)


class TestLockedAndUnreachable(DockerTest):
    def test_locked(self):
        self.h.store({"ServerURL": "l.example", "Username": "u", "Secret": "tok-3"})
        with self.daemon.client() as c:
            c.lock()
        try:
            for verb, call in (("getting", lambda: self.h.get("l.example")),
                               ("storing", lambda: self.h.store(
                                   {"ServerURL": "l.example", "Username": "u", "Secret": "x"})),
                               ("erasing", lambda: self.h.erase("l.example")),
                               ("listing", self.h.list)):
                with self.subTest(verb=verb):
                    with self.assertRaises(dc.HelperError) as e:
                        call()
                    self.assertEqual(str(e.exception),
                                     f"error {verb} credentials - err: exit status 1, out: "
                                     "`the sekrets hub is locked: unlock it with `sekrets-cli "
                                     "unlock` (or `sekrets-cli init` on a new hub)`")
        finally:
            subprocess.run([SEKRETS_CLI, "--socket", self.daemon.socket, "unlock", "--keyfile",
                            self.daemon.keyfile], check=True)
        self.assertEqual(self.h.get("l.example")["Secret"], "tok-3")

    def test_unreachable(self):
        missing = os.path.join(self.daemon.dir, "run", "none.sock")
        h = dc.Helper(HELPER, env_for(missing))
        with self.assertRaises(dc.HelperError) as e:
            h.get("l.example")
        self.assertEqual(e.exception.status, 1)
        self.assertTrue(e.exception.out.startswith(f"cannot reach sekretsd at {missing} ("))
        self.assertTrue(e.exception.out.endswith(
            "start it with `sekretsd` or `systemctl --user start sekretsd.socket`"))
        env = {k: v for k, v in os.environ.items() if k not in ("SEKRETS_SOCKET", "XDG_RUNTIME_DIR")}
        with self.assertRaises(dc.HelperError) as e:
            dc.Helper(HELPER, env).list()
        self.assertEqual(e.exception.out, "cannot reach sekretsd: no socket path (set "
                                          "SEKRETS_SOCKET or XDG_RUNTIME_DIR)")


if __name__ == "__main__":
    unittest.main()
