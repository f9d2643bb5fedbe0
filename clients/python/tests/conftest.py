"""Fixtures: every test runs the real CLI of this checkout (``node bin/avfs.js``, built with
``npm run build``) on its own temporary home."""

import json
import subprocess
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional

import pytest

from agentvfs import AVFS

REPO = Path(__file__).resolve().parents[3]
CLIENT_DIR = REPO / "clients" / "python"
AVFS_JS = REPO / "bin" / "avfs.js"


def pytest_sessionstart(session: pytest.Session) -> None:
    if not (REPO / "dist" / "cli" / "main.js").is_file():
        raise pytest.UsageError(f"the avfs CLI is not built: run `npm run build` in {REPO} first")


@pytest.fixture
def avfs_shim_dir(tmp_path: Path) -> Path:
    """A directory holding an ``avfs`` command that runs this checkout's CLI (for PATH)."""
    bin_dir = tmp_path / "avfs-bin"
    bin_dir.mkdir()
    shim = bin_dir / "avfs"
    shim.write_text(f'#!/bin/sh\nexec node "{AVFS_JS}" "$@"\n')
    shim.chmod(0o755)
    return bin_dir


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "home"
    path.mkdir()
    yield path
    # A proxy exec leaves the home's views server up for the next exec (two minutes idle); pytest
    # keeps the home, so nothing would tell the server to go. Unmount it, as a user ending work would.
    listed = subprocess.run(["node", str(AVFS_JS), "--json", "--home", str(path), "mounts"], capture_output=True, text=True, check=False)
    for mount in json.loads(listed.stdout).get("mounts", []):
        subprocess.run(["node", str(AVFS_JS), "--json", "--home", str(path), "unmount", mount["dir"]], capture_output=True, check=False)


@pytest.fixture
def client(home: Path) -> Callable[[Optional[str]], AVFS]:
    """A client of the given vault (None: the vault in use) on the test's home."""

    def make(vault: Optional[str]) -> AVFS:
        return AVFS(vault, home=home, binary=AVFS_JS)

    return make


@pytest.fixture
def ws(client: Callable[[Optional[str]], AVFS]) -> AVFS:
    """A client of a new, empty vault ``ws``."""
    avfs = client("ws")
    avfs.create_vault("ws")
    return avfs


@pytest.fixture
def cli(home: Path) -> Callable[..., Dict[str, Any]]:
    """Runs the CLI directly (for what the client does not wrap: policies, quotas); returns its JSON."""

    def run(*args: str, stdin: Optional[str] = None) -> Dict[str, Any]:
        proc = subprocess.run(["node", str(AVFS_JS), "--json", "--home", str(home), *args], input=stdin or "", capture_output=True, text=True, check=False)
        doc: Dict[str, Any] = json.loads(proc.stdout)
        assert doc["ok"], doc
        return doc

    return run


@pytest.fixture
def set_policy(cli: Callable[..., Dict[str, Any]]) -> Callable[[str, Dict[str, Any]], None]:
    """Stores a proxy policy for a vault."""

    def store(vault: str, policy: Dict[str, Any]) -> None:
        cli("--vault", vault, "proxy", "policy", "set", "-", stdin=json.dumps(policy))

    return store
