"""A docker credential-helper client that drives the helper program exactly as docker does
(docker-credential-helpers' client package, which the docker CLI uses): the action as the
only argument, the input on stdin, only stdout read, exit status non-zero for an error whose
message is stdout trimmed. The three messages docker recognises become their own errors."""

import json
import subprocess

NOT_FOUND = "credentials not found in native keychain"
MISSING_URL = "no credentials server URL"
MISSING_USER = "no credentials username"


class CredentialsNotFound(Exception):
    pass


class MissingServerURL(Exception):
    pass


class MissingUsername(Exception):
    pass


class HelperError(Exception):
    """Any other failure: docker's own wording, "error <verb> credentials - err: exit
    status N, out: `MESSAGE`"."""

    def __init__(self, verb, status, out):
        super().__init__(f"error {verb} credentials - err: exit status {status}, out: `{out}`")
        self.status = status
        self.out = out


class Helper:
    def __init__(self, program, env=None):
        self.program = program
        self.env = env

    def _run(self, action, stdin):
        # stderr is not docker's: left to the terminal; only stdout carries replies
        p = subprocess.run([self.program, action], input=stdin, stdout=subprocess.PIPE,
                           env=self.env, check=False)
        return p.returncode, p.stdout

    @staticmethod
    def _fail(verb, status, out, not_found_too=False):
        t = out.decode("utf-8", "replace").strip()
        if t == MISSING_URL:
            raise MissingServerURL(t)
        if t == MISSING_USER:
            raise MissingUsername(t)
        if not_found_too and t == NOT_FOUND:
            raise CredentialsNotFound(t)
        raise HelperError(verb, status, t)

    def store(self, creds):
        """creds: {"ServerURL", "Username", "Secret"}, sent as Go's json.Encoder does."""
        status, out = self._run("store", (json.dumps(creds) + "\n").encode())
        if status != 0:
            self._fail("storing", status, out)

    def store_raw(self, data):
        status, out = self._run("store", data)
        if status != 0:
            self._fail("storing", status, out)

    def get(self, server_url):
        status, out = self._run("get", server_url.encode())
        if status != 0:
            self._fail("getting", status, out, not_found_too=True)
        resp = {"ServerURL": server_url}
        resp.update(json.JSONDecoder().raw_decode(out.decode())[0])
        return resp

    def erase(self, server_url):
        status, out = self._run("erase", server_url.encode())
        if status != 0:
            self._fail("erasing", status, out)

    def list(self):
        status, out = self._run("list", b"unused")
        if status != 0:
            self._fail("listing", status, out)
        return json.JSONDecoder().raw_decode(out.decode())[0]
