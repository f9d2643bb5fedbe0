import pickle
import re
from pathlib import Path
from typing import Callable, Dict, Optional

import pytest

from agentvfs import AVFS, AvfsError, BadOutputError, CliUnavailableError, ConflictError, NotFoundError, VaultNotFoundError
from agentvfs.errors import CLASS_BY_CODE, CLASS_BY_EXIT, error_from_json

from .conftest import REPO


def cli_error_table() -> Dict[str, int]:
    """Every error code of src/errors.ts with its exit code."""
    source = (REPO / "src" / "errors.ts").read_text("utf-8")
    exits = {name: int(code) for name, code in re.findall(r"^\s+(\w+): (\d+),$", source.split("} as const;")[0], re.M)}
    table = {code: exits[exit_name] for code, exit_name in re.findall(r"^\s+([A-Z_]+): \{ exit: ExitCode\.(\w+)", source, re.M)}
    assert len(table) >= 20, "could not read the code table of src/errors.ts"
    return table


def test_every_cli_error_code_maps_to_the_class_of_its_exit_code() -> None:
    table = cli_error_table()
    assert sorted(CLASS_BY_CODE) == sorted(table)
    for code, exit_code in table.items():
        assert issubclass(CLASS_BY_CODE[code], CLASS_BY_EXIT[exit_code]), code


def test_an_unknown_code_from_a_newer_cli_gets_the_class_of_its_exit_code() -> None:
    err = error_from_json({"code": "SOMETHING_NEW", "message": "m", "path": "/p"}, 4)
    assert type(err) is ConflictError
    assert (err.code, err.message, err.data, err.exit_code) == ("SOMETHING_NEW", "m", {"path": "/p"}, 4)
    assert type(error_from_json({"code": "SOMETHING_NEW", "message": "m"}, 42)) is AvfsError


def test_an_error_survives_pickling_with_every_field() -> None:
    err = error_from_json({"code": "NOT_FOUND", "message": "gone", "path": "/p"}, 3)
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is NotFoundError
    assert (copy.code, copy.message, copy.data, copy.exit_code) == ("NOT_FOUND", "gone", {"path": "/p"}, 3)


def test_a_cli_error_carries_code_message_data_and_exit_code(client: Callable[[Optional[str]], AVFS]) -> None:
    with pytest.raises(VaultNotFoundError) as caught:
        client("ghost").ls()
    err = caught.value
    assert isinstance(err, NotFoundError) and isinstance(err, AvfsError)
    assert (err.code, err.exit_code, err.data) == ("VAULT_NOT_FOUND", 3, {"vault": "ghost"})
    assert err.message and str(err) == f"[VAULT_NOT_FOUND] {err.message}"


@pytest.mark.parametrize(
    "script",
    [
        "echo 'not json'",
        "echo '{\"ok\": true}'; echo '{\"ok\": true}'",  # two documents
        "echo '[1, 2]'",  # JSON, but not an avfs document
        "echo '{\"ok\": false}'",  # a failure without an error object
        "echo boom >&2; exit 1",  # nothing on stdout
    ],
    ids=["text", "two-documents", "not-an-object", "no-error-object", "empty"],
)
def test_stdout_that_is_not_one_avfs_json_document_raises_bad_output(script: str) -> None:
    avfs = AVFS("ws", binary=["sh", "-c", script, "sh"])
    with pytest.raises(BadOutputError) as caught:
        avfs.ls()
    assert caught.value.code == "BAD_OUTPUT"
    assert caught.value.data["argv"][:3] == ["sh", "-c", script]


def test_bad_output_keeps_stderr_and_the_exit_code() -> None:
    with pytest.raises(BadOutputError) as caught:
        AVFS("ws", binary=["sh", "-c", "echo boom >&2; exit 7", "sh"]).ls()
    assert (caught.value.exit_code, caught.value.data["stderr"]) == (7, "boom\n")


def test_a_binary_that_cannot_run_raises_cli_unavailable(tmp_path: Path) -> None:
    with pytest.raises(CliUnavailableError) as caught:
        AVFS("ws", binary=tmp_path / "no-such-avfs").ls()
    assert (caught.value.code, caught.value.exit_code) == ("CLI_UNAVAILABLE", None)


def test_a_wrong_typed_argument_raises_invalid_argument_and_nothing_runs(tmp_path: Path) -> None:
    # A CLI that leaves a mark when it is run at all: every call below must fail before it.
    mark = tmp_path / "ran"
    avfs = AVFS("ws", binary=["sh", "-c", f'touch "{mark}"; exit 9', "sh"])
    calls: Dict[str, Callable[[], object]] = {
        "checkpoint_save(5)": lambda: avfs.checkpoint_save(5),  # type: ignore[arg-type]
        "checkpoint_save(message=5)": lambda: avfs.checkpoint_save("cp", 5),  # type: ignore[arg-type]
        "checkpoint_restore(None)": lambda: avfs.checkpoint_restore(None),  # type: ignore[arg-type]
        "create_vault(None)": lambda: avfs.create_vault(None),  # type: ignore[arg-type]
        "create_vault('a\\0b')": lambda: avfs.create_vault("a\0b"),
        "use(None)": lambda: avfs.use(None),  # type: ignore[arg-type]
        "fork_vault(None)": lambda: avfs.fork_vault(None),  # type: ignore[arg-type]
        "fork_vault(source=5)": lambda: avfs.fork_vault("f", source=5),  # type: ignore[arg-type]
        "undo(5)": lambda: avfs.undo(5),  # type: ignore[arg-type]
        "proxy_exec(timeout='5')": lambda: avfs.proxy_exec("true", timeout="5"),  # type: ignore[arg-type]
        "proxy_exec(timeout=True)": lambda: avfs.proxy_exec("true", timeout=True),
        "proxy_exec(timeout=-1)": lambda: avfs.proxy_exec("true", timeout=-1),
        "proxy_exec(env={5: 'x'})": lambda: avfs.proxy_exec("true", env={5: "x"}),  # type: ignore[dict-item]
        "proxy_exec(env={'K': 5})": lambda: avfs.proxy_exec("true", env={"K": 5}),  # type: ignore[dict-item]
        "proxy_exec(env={'K': 'a\\0b'})": lambda: avfs.proxy_exec("true", env={"K": "a\0b"}),
        "proxy_exec(env=['K'])": lambda: avfs.proxy_exec("true", env=["K"]),  # type: ignore[arg-type]
        "AVFS(home=5)": lambda: AVFS(home=5, binary=["sh", "-c", f'touch "{mark}"', "sh"]).ls(),  # type: ignore[arg-type]
        "AVFS(vault=5)": lambda: AVFS(vault=5, binary=["sh", "-c", f'touch "{mark}"', "sh"]).ls(),  # type: ignore[arg-type]
    }
    for call, run in calls.items():
        with pytest.raises(AvfsError) as caught:
            run()
        assert (type(caught.value).__name__, caught.value.code, caught.value.exit_code) == ("InvalidInputError", "INVALID_ARGUMENT", None), call
        assert not mark.exists(), f"{call} ran the CLI"


def test_a_vault_named_by_a_number_is_refused_not_made_a_name(client: Callable[[Optional[str]], AVFS]) -> None:
    # vault=5 acted on a vault named "5": a typo's number must not become a vault.
    client(None).create_vault("5")
    with pytest.raises(AvfsError) as caught:
        AVFS(vault=5, home=client(None).home, binary=client(None).argv0).write("/x", "y")  # type: ignore[arg-type]
    assert caught.value.code == "INVALID_ARGUMENT"
    assert [e.path for e in client("5").ls()] == []
