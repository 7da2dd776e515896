"""The Python client's build backend (PEP 517), in the tree: a wheel is a zip of the
package and its metadata, and making one needs nothing but the standard library.

setuptools, the usual backend, needs the `wheel` package to build at all, and pip cannot
fetch it on a machine without a package index; this backend makes `pip install
client/python` work offline with any pip, in a venv or not, and writes nothing into the
source tree (no build/ or *.egg-info left behind). Metadata comes from pyproject.toml.
"""

import base64
import hashlib
import io
import os
import tarfile
import zipfile

try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "sekrets"


def _project():
    with open(os.path.join(HERE, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["project"]


def _metadata(p):
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {p['name']}",
        f"Version: {p['version']}",
        f"Summary: {p['description']}",
        f"License: {p.get('license', {}).get('text', '')}",
        f"Requires-Python: {p['requires-python']}",
    ]
    lines += [f"Classifier: {c}" for c in p.get("classifiers", [])]
    lines += [f"Requires-Dist: {d}" for d in p.get("dependencies", [])]
    for extra, deps in p.get("optional-dependencies", {}).items():
        lines.append(f"Provides-Extra: {extra}")
        lines += [f'Requires-Dist: {d}; extra == "{extra}"' for d in deps]
    with open(os.path.join(HERE, p["readme"]), encoding="utf-8") as f:
        readme = f.read()
    lines.append("Description-Content-Type: text/markdown")
    return "\n".join(lines) + "\n\n" + readme


def _entry_points(p):
    out = []
    for group, entries in p.get("entry-points", {}).items():
        out.append(f"[{group}]")
        out += [f"{k} = {v}" for k, v in entries.items()]
        out.append("")
    return "\n".join(out)


def _dist_info(p):
    name = f"{p['name']}-{p['version']}.dist-info"
    files = {
        f"{name}/METADATA": _metadata(p),
        f"{name}/WHEEL": "Wheel-Version: 1.0\nGenerator: sekrets_build\n"
                         "Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    ep = _entry_points(p)
    if ep:
        files[f"{name}/entry_points.txt"] = ep
    return name, files


def _package_files():
    src = os.path.join(HERE, PACKAGE)
    return sorted(f for f in os.listdir(src) if f.endswith(".py"))


def _record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    name, files = _dist_info(_project())
    for path, text in files.items():
        full = os.path.join(metadata_directory, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as f:
            f.write(text)
    return name


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    p = _project()
    wheel = f"{p['name']}-{p['version']}-py3-none-any.whl"
    name, meta = _dist_info(p)
    entries = []
    for f in _package_files():
        with open(os.path.join(HERE, PACKAGE, f), "rb") as fh:
            entries.append((f"{PACKAGE}/{f}", fh.read()))
    entries += [(path, text.encode("utf-8")) for path, text in meta.items()]
    record = [_record_line(path, data) for path, data in entries] + [f"{name}/RECORD,,"]
    entries.append((f"{name}/RECORD", ("\n".join(record) + "\n").encode()))
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel), "w",
                         zipfile.ZIP_DEFLATED) as z:
        for path, data in entries:
            z.writestr(zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0)), data)
    return wheel


def build_sdist(sdist_directory, config_settings=None):
    p = _project()
    base = f"{p['name']}-{p['version']}"
    members = ["pyproject.toml", p["readme"], "_build/sekrets_build.py"]
    members += [f"{PACKAGE}/{f}" for f in _package_files()]
    path = os.path.join(sdist_directory, base + ".tar.gz")
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as t:
        for m in members:
            t.add(os.path.join(HERE, m), arcname=f"{base}/{m}")
        info = _metadata(p).encode("utf-8")
        ti = tarfile.TarInfo(f"{base}/PKG-INFO")
        ti.size = len(info)
        t.addfile(ti, io.BytesIO(info))
    return base + ".tar.gz"
