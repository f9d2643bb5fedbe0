"""A PEP 517 build backend in the standard library only, for this one pure-Python package.

Why not setuptools: pip builds a package in an isolated environment and first downloads the
backend, so with setuptools ``pip install ./clients/python`` fails where no package index is
reachable; and with ``--no-build-isolation`` setuptools before 70.1 also needs the ``wheel``
package, which a fresh virtual environment lacks (Python 3.12+ lacks setuptools too). This
backend needs nothing, so the plain command works offline with any pip >= 21.3 on Python >= 3.9.

It writes a ``py3-none-any`` wheel (the ``agentvfs`` package and the ``.dist-info`` files the
wheel format requires), an editable wheel (a ``.pth`` file pointing at ``src/``), and an
sdist. The version is read from ``src/agentvfs/__init__.py``, the one place it is kept.
"""

import base64
import hashlib
import io
import re
import tarfile
import zipfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent
SRC = ROOT / "src"
NAME = "agentvfs"
SUMMARY = "Python client for avfs: versioned vaults, checkpoints and the proxy boundary, through the avfs CLI's JSON contract."
REQUIRES_PYTHON = ">=3.9"
SDIST_FILES = ["pyproject.toml", "build_backend.py", "README.md"]


def _version() -> str:
    match = re.search(r'^__version__ = "([^"]+)"$', (SRC / NAME / "__init__.py").read_text("utf-8"), re.M)
    if match is None:
        raise RuntimeError(f"no __version__ in {NAME}/__init__.py")
    return match.group(1)


def _metadata() -> bytes:
    headers = [
        "Metadata-Version: 2.1",
        f"Name: {NAME}",
        f"Version: {_version()}",
        f"Summary: {SUMMARY}",
        "License: MIT",
        f"Requires-Python: {REQUIRES_PYTHON}",
        "Classifier: Programming Language :: Python :: 3",
        "Classifier: Typing :: Typed",
        "Description-Content-Type: text/markdown",
    ]
    return ("\n".join(headers) + "\n\n" + (ROOT / "README.md").read_text("utf-8")).encode("utf-8")


def _package_files() -> List[Tuple[str, bytes]]:
    files = sorted(p for p in (SRC / NAME).rglob("*") if p.is_file() and p.suffix in (".py", ".typed"))
    return [(p.relative_to(SRC).as_posix(), p.read_bytes()) for p in files]


def _dist_info() -> str:
    return f"{NAME}-{_version()}.dist-info"


def _wheel_name() -> str:
    return f"{NAME}-{_version()}-py3-none-any.whl"


def _write_wheel(directory: str, payload: List[Tuple[str, bytes]]) -> str:
    """Writes payload plus METADATA, WHEEL and RECORD (each file's sha256 and size) as a wheel."""
    info = _dist_info()
    files = payload + [
        (f"{info}/METADATA", _metadata()),
        (f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: agentvfs build_backend\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
    ]
    record = io.StringIO()
    for name, data in files:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
        record.write(f"{name},sha256={digest},{len(data)}\n")
    record.write(f"{info}/RECORD,,\n")
    files.append((f"{info}/RECORD", record.getvalue().encode("utf-8")))
    with zipfile.ZipFile(Path(directory) / _wheel_name(), "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, data in files:
            wheel.writestr(name, data)
    return _wheel_name()


def build_wheel(wheel_directory: str, config_settings: Optional[Dict[str, str]] = None, metadata_directory: Optional[str] = None) -> str:
    return _write_wheel(wheel_directory, _package_files())


def build_editable(wheel_directory: str, config_settings: Optional[Dict[str, str]] = None, metadata_directory: Optional[str] = None) -> str:
    return _write_wheel(wheel_directory, [(f"_{NAME}_editable.pth", f"{SRC}\n".encode("utf-8"))])


def build_sdist(sdist_directory: str, config_settings: Optional[Dict[str, str]] = None) -> str:
    base = f"{NAME}-{_version()}"
    members = [(f"{base}/PKG-INFO", _metadata())]
    members += [(f"{base}/{name}", (ROOT / name).read_bytes()) for name in SDIST_FILES]
    members += [(f"{base}/src/{name}", data) for name, data in _package_files()]
    with tarfile.open(Path(sdist_directory) / f"{base}.tar.gz", "w:gz", format=tarfile.PAX_FORMAT) as sdist:
        for name, data in members:
            member = tarfile.TarInfo(name)
            member.size = len(data)
            member.mode = 0o644
            sdist.addfile(member, io.BytesIO(data))
    return f"{base}.tar.gz"
