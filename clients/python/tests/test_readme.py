"""The Python examples of the READMEs run as written, each on a fresh home with avfs on PATH."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import CLIENT_DIR, REPO

EXAMPLES = [
    (readme, index, block)
    for readme in (REPO / "README.md", CLIENT_DIR / "README.md")
    for index, block in enumerate(re.findall(r"```python\n(.*?)```", readme.read_text("utf-8"), re.S))
]


def test_each_readme_has_a_python_example() -> None:
    assert {readme for readme, _, _ in EXAMPLES} == {REPO / "README.md", CLIENT_DIR / "README.md"}


@pytest.mark.parametrize("readme,index,block", EXAMPLES, ids=[f"{r.relative_to(REPO)}#{i}" for r, i, _ in EXAMPLES])
def test_readme_python_example_runs(readme: Path, index: int, block: str, tmp_path: Path, home: Path, avfs_shim_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "AVFS_VAULT"}
    env.update(AVFS_HOME=str(home), PATH=f"{avfs_shim_dir}{os.pathsep}{env.get('PATH', '')}", PYTHONPATH=str(CLIENT_DIR / "src"))
    run = subprocess.run([sys.executable, "-c", block], env=env, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert run.returncode == 0, f"{readme.name} example {index} failed:\n{block}\nstderr:\n{run.stderr}"
