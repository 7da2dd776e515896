"""`pip install client/python` works offline on Debian: a venv made by Debian's python3
with --system-site-packages (msgpack comes from python3-msgpack), pip with
--no-build-isolation --no-deps --no-index (setuptools from python3-setuptools). The
installed package then runs the pyswark scenario against a real sekretsd, imported from the
venv (not from the source tree).

    /usr/bin/python3 tests/python/install_check.py client/python
"""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

SRC = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                      os.path.join(os.path.dirname(__file__), "..", "..", "client", "python"))

SCENARIO = r"""
import sekrets, importlib.metadata
from sekrets import api
print(sekrets.__file__)
print(importlib.metadata.version("sekrets"))
db = api.getDb("TEST")
db.post({"sekret": "w", "description": "woody"}, "woody")
db.post({"sekret": "b", "description": "buzz"}, "buzz")
print(api.get("woody", "TEST")["description"], api.get("buzz")["sekret"],
      ",".join(api.getDb("TEST").getNames()), "woody" in api.getDb("TEST"))
"""


class TestPipInstall(unittest.TestCase):
    def test_install_into_venv_and_use(self):
        tmp = tempfile.mkdtemp(prefix="skr-venv-")
        try:
            venv = os.path.join(tmp, "venv")
            src = os.path.join(tmp, "src")   # pip builds in-tree: keep the checkout clean
            shutil.copytree(SRC, src, ignore=shutil.ignore_patterns(
                "__pycache__", "build", "*.egg-info"))
            subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages",
                            "--without-pip", venv], check=True, timeout=120)
            py = os.path.join(venv, "bin", "python")
            env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
            out = subprocess.run([py, "-m", "pip", "install", "--no-build-isolation",
                                  "--no-deps", "--no-index", src],
                                 capture_output=True, text=True, timeout=240, env=env, cwd=tmp)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

            from sekrets_testlib import Daemon
            d = Daemon()
            try:
                d.start()
                env["SEKRETS_SOCKET"] = d.socket
                run = subprocess.run([py, "-c", SCENARIO], capture_output=True, text=True,
                                     timeout=60, env=env, cwd="/")
                self.assertEqual(run.returncode, 0, run.stderr)
                lines = run.stdout.splitlines()
                self.assertTrue(lines[0].startswith(os.path.join(venv, "lib")), lines[0])
                self.assertEqual(lines[1:], ["0.1.0", "woody b woody,buzz True"])
            finally:
                d.stop()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_install_offline_without_wheel_leaves_tree_clean(self):
        """A plain venv (its own pip, no `wheel`, no system packages) installs the package
        with pip's default isolated build and no index: the in-tree backend needs only the
        standard library. The source folder is left exactly as it was."""
        tmp = tempfile.mkdtemp(prefix="skr-venv-")
        try:
            venv = os.path.join(tmp, "venv")
            src = os.path.join(tmp, "src")
            shutil.copytree(SRC, src, ignore=shutil.ignore_patterns("__pycache__"))
            before = sorted(os.path.relpath(os.path.join(d, f), src)
                            for d, _, fs in os.walk(src) for f in fs)
            subprocess.run(["/usr/bin/python3", "-m", "venv", venv], check=True, timeout=120)
            py = os.path.join(venv, "bin", "python")
            self.assertNotEqual(subprocess.run([py, "-c", "import wheel"],
                                               capture_output=True).returncode, 0,
                                "the control: this venv has no wheel package")
            env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
            out = subprocess.run([py, "-m", "pip", "install", "--no-index", "--no-deps", src],
                                 capture_output=True, text=True, timeout=240, env=env, cwd=tmp)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            meta = subprocess.run([py, "-c", "import importlib.metadata as m; "
                                   "print(m.version('sekrets')); "
                                   "print([e.value for e in m.entry_points(group='keyring.backends')])"],
                                  capture_output=True, text=True, timeout=60, env=env, cwd="/")
            self.assertEqual(meta.stdout.splitlines(), ["0.1.0", "['sekrets.keyring_backend']"],
                             meta.stderr)
            after = sorted(os.path.relpath(os.path.join(d, f), src)
                           for d, _, fs in os.walk(src) for f in fs
                           if "__pycache__" not in d)
            self.assertEqual(after, before)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
