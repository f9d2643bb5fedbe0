"""Which CLI the client runs (src/agentvfs/cli.py documents the order), and installing the package
with pip from the checkout, offline."""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agentvfs import AVFS, CliUnavailableError

from .conftest import AVFS_JS, CLIENT_DIR


def node() -> str:
    path = shutil.which("node")
    assert path is not None, "node is not on PATH"
    return path


def path_with_only_node(tmp_path: Path) -> str:
    """A PATH on which node is found and avfs is not."""
    bin_dir = tmp_path / "only-node"
    bin_dir.mkdir()
    (bin_dir / "node").symlink_to(node())
    return str(bin_dir)


def test_a_js_binary_runs_with_node_and_a_sequence_is_used_as_is(home: Path) -> None:
    assert AVFS("ws", binary=AVFS_JS).argv0 == [node(), str(AVFS_JS)]
    assert AVFS("ws", binary=["node", str(AVFS_JS)]).argv0 == ["node", str(AVFS_JS)]


def test_avfs_on_path_is_used_when_no_binary_is_given(home: Path, tmp_path: Path, avfs_shim_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{avfs_shim_dir}{os.pathsep}{path_with_only_node(tmp_path)}")
    avfs = AVFS("ws", home=home)
    assert avfs.argv0 == [str(avfs_shim_dir / "avfs")]
    assert avfs.create_vault("ws").name == "ws"


def test_from_a_checkout_without_avfs_on_path_the_checkouts_cli_runs_with_node(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", path_with_only_node(tmp_path))
    avfs = AVFS("ws", home=home)
    assert avfs.argv0 == [str(tmp_path / "only-node" / "node"), str(AVFS_JS)]
    assert avfs.create_vault("ws").name == "ws"


def test_pip_installs_the_package_offline_and_outside_a_checkout_it_needs_avfs_on_path(home: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--target", str(target), str(CLIENT_DIR)], env=env, capture_output=True, text=True, check=False)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    assert (target / "agentvfs" / "py.typed").is_file()
    program = textwrap.dedent(
        f"""
        import agentvfs
        assert agentvfs.__file__.startswith({str(target)!r}), agentvfs.__file__
        try:
            agentvfs.AVFS("ws")
        except agentvfs.CliUnavailableError as err:
            print(err.code)
        avfs = agentvfs.AVFS("ws", home={str(home)!r}, binary={str(AVFS_JS)!r})
        avfs.create_vault("ws")
        avfs.write("/x.bin", b"\\x00\\xff")
        print(avfs.read("/x.bin").hex())
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", program],
        env={**os.environ, "PYTHONPATH": str(target), "PATH": path_with_only_node(tmp_path)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (run.returncode, run.stdout) == (0, "CLI_UNAVAILABLE\n00ff\n"), run.stderr


def test_without_node_a_js_binary_raises_cli_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(CliUnavailableError) as caught:
        AVFS("ws", binary="avfs.js")
    assert caught.value.code == "CLI_UNAVAILABLE"
