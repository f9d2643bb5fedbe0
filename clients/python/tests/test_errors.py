import inspect
import json
import pickle
import re
import signal
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest

from agentvfs import AVFS, AvfsError, AvfsTimeoutError, BadOutputError, CliUnavailableError, ConflictError, InvalidInputError, NotFoundError, VaultNotFoundError
from agentvfs import cli
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


@pytest.mark.parametrize("call", ["ls", "read", "checkpoint_save"])
def test_a_document_without_a_field_the_call_returns_raises_bad_output(call: str) -> None:
    avfs = AVFS("ws", binary=["sh", "-c", "echo '{\"ok\": true}'", "sh"])
    with pytest.raises(BadOutputError) as caught:
        getattr(avfs, call)(*(["/f"] if call == "read" else []))
    assert caught.value.code == "BAD_OUTPUT"
    assert caught.value.data["document"] == {"ok": True}


ENTRY = {"path": "/f", "name": "f", "type": "file", "size": 3, "mode": "0644", "mtime": "2026-01-01T00:00:00.000Z", "version": 1}


@pytest.mark.parametrize(
    "field, value, got",
    [("size", "3", "a string"), ("size", True, "a boolean"), ("path", None, "null"), ("version", [1], "an array"), ("name", {"a": 1}, "an object")],
)
def test_a_field_of_another_json_type_raises_bad_output(field: str, value: object, got: str) -> None:
    doc = json.dumps({"ok": True, "entries": [{**ENTRY, field: value}]})
    avfs = AVFS("ws", binary=["sh", "-c", f"printf '%s' '{doc}'", "sh"])
    with pytest.raises(BadOutputError) as caught:
        avfs.ls()
    assert (caught.value.code, caught.value.data["field"]) == ("BAD_OUTPUT", field)
    assert f"'{field}' as {got}, not " in caught.value.message


@pytest.mark.parametrize(
    "call, doc",
    [
        ("read", '{"ok": true, "content": 5, "encoding": "base64"}'),
        ("read", '{"ok": true, "content": "!!!", "encoding": "base64"}'),
        ("read", '{"ok": true, "content": null}'),
        ("rm", '{"ok": true, "removed": "abc"}'),
        ("rm", '{"ok": true, "removed": NaN}'),
        ("rm", '{"ok": true, "removed": 1.9}'),
        ("rm", '{"ok": true, "removed": true}'),
        ("ls", '{"ok": true, "entries": null}'),
        ("ls", "[" * 100000),
        ("ls", '{"ok": false, "error": {"code": 5, "message": null}}'),
        ("ls", '{"ok": false, "error": {}}'),
        ("checkpoint_list", '{"ok": true, "checkpoints": 5}'),
    ],
    ids=["content-number", "content-not-base64", "content-null", "removed-text", "removed-nan", "removed-fraction", "removed-boolean", "entries-null", "deep-nesting", "error-code-number", "error-empty", "checkpoints-number"],
)
def test_values_the_contract_does_not_allow_raise_bad_output_not_another_exception_or_a_converted_value(call: str, doc: str, tmp_path: Path) -> None:
    out = tmp_path / "doc.json"
    out.write_text(doc)
    avfs = AVFS("ws", binary=["sh", "-c", f"cat {out}; exit 3", "sh"])
    with pytest.raises(BadOutputError) as caught:
        getattr(avfs, call)(*(["/f"] if call in ("read", "rm") else []))
    assert caught.value.code == "BAD_OUTPUT"


@pytest.mark.parametrize("doc", ['{"ok": true, "vault": 5}', '{"ok": true, "vault": {"name": 5}}', '{"ok": true}'], ids=["vault-number", "name-number", "no-vault"])
def test_fork_vault_without_a_vault_reads_the_vault_in_use_and_its_wrong_type_raises_bad_output(doc: str, tmp_path: Path) -> None:
    # No vault given: fork_vault asks `vault info` which vault is in use, and gets a malformed answer.
    out = tmp_path / "doc.json"
    out.write_text(doc)
    with pytest.raises(BadOutputError) as caught:
        AVFS(binary=["sh", "-c", f"cat {out}", "sh"]).fork_vault("copy")
    assert caught.value.code == "BAD_OUTPUT"


def test_a_list_item_that_is_not_an_object_raises_bad_output() -> None:
    avfs = AVFS("ws", binary=["sh", "-c", "echo '{\"ok\": true, \"entries\": [\"/f\"]}'", "sh"])
    with pytest.raises(BadOutputError) as caught:
        avfs.ls()
    assert caught.value.code == "BAD_OUTPUT" and "a string where the Entry object belongs" in caught.value.message


def test_fields_of_the_contract_types_are_accepted() -> None:
    doc = json.dumps({"ok": True, "entries": [ENTRY, {**ENTRY, "path": "/g", "name": "g", "hash": "ab", "version": None}]})
    entries = AVFS("ws", binary=["sh", "-c", f"printf '%s' '{doc}'", "sh"]).ls()
    assert [(e.path, e.size, e.hash) for e in entries] == [("/f", 3, None), ("/g", 3, "ab")]


def test_bad_output_keeps_stderr_and_the_exit_code() -> None:
    with pytest.raises(BadOutputError) as caught:
        AVFS("ws", binary=["sh", "-c", "echo boom >&2; exit 7", "sh"]).ls()
    assert (caught.value.exit_code, caught.value.data["stderr"]) == (7, "boom\n")


def _running(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie waiting for its parent does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def _ends(pid: int) -> bool:
    """Whether process ``pid`` ends within 30 s. A SIGKILL takes effect when the process next runs,
    which on a loaded machine can be after the client has given up its pipes (the grace here is short)."""
    deadline = time.monotonic() + 30
    while _running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_call_past_its_call_timeout_is_stopped_and_raises_timeout(tmp_path: Path) -> None:
    started = tmp_path / "started"
    with pytest.raises(AvfsTimeoutError) as caught:
        AVFS("ws", binary=["sh", "-c", f'echo partial; touch "{started}"; sleep 60', "sh"], call_timeout=3).ls()
    assert started.exists()
    assert (caught.value.code, caught.value.exit_code, caught.value.data["seconds"]) == ("TIMEOUT", -signal.SIGTERM, 3.0)
    assert caught.value.data["stdout"] == "partial\n" and caught.value.data["argv"][:2] == ["sh", "-c"]


def test_a_cli_ignoring_sigterm_is_killed_with_what_it_started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "_STOP_GRACE", 0.3)
    child = tmp_path / "child"
    # SIGTERM ignored from the start (a disposition a child inherits), not from a trap the shell
    # may not have reached yet on a busy machine.
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        with pytest.raises(AvfsTimeoutError) as caught:
            AVFS("ws", binary=["sh", "-c", f'sleep 60 & echo $! > "{child}"; wait', "sh"], call_timeout=5).ls()
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert caught.value.exit_code == -signal.SIGKILL
    assert _ends(int(child.read_text()))  # the whole process group went, not only the CLI


def test_a_call_timeout_of_zero_means_none() -> None:
    assert AVFS("ws", binary=["sh", "-c", "sleep 0.2; echo '{\"ok\": true, \"entries\": []}'", "sh"], call_timeout=0).ls() == []


@pytest.mark.parametrize("attribute,value", [("call_timeout", "60"), ("call_timeout", -1), ("call_timeout", True), ("vault", 5), ("vault", "a\0b"), ("home", 3)])
def test_a_setting_changed_after_construction_is_checked_as_the_constructor_checks_it(attribute: str, value: Any) -> None:
    client = AVFS("ws", binary=["sh", "-c", "echo '{\"ok\": true, \"entries\": []}'", "sh"], call_timeout=5)
    before = getattr(client, attribute)
    with pytest.raises(InvalidInputError) as caught:
        setattr(client, attribute, value)
    assert caught.value.code == "INVALID_ARGUMENT" and caught.value.data["option"] == attribute
    assert getattr(client, attribute) == before  # unchanged: the next call still runs as before
    assert client.ls() == []


def test_a_setting_changed_after_construction_is_used_normalized() -> None:
    client = AVFS("ws", binary=["sh", "-c", "echo '{\"ok\": true, \"entries\": []}'", "sh"])
    client.call_timeout = 2
    client.home = "~/h"
    assert (client.call_timeout, type(client.call_timeout), client.home) == (2.0, float, str(Path.home() / "h"))
    client.call_timeout = None
    assert client.call_timeout is None


@pytest.mark.parametrize("name", ["no-such-avfs", "no-such-avfs.js"])
def test_a_binary_that_cannot_run_raises_cli_unavailable(tmp_path: Path, name: str) -> None:
    with pytest.raises(CliUnavailableError) as caught:
        AVFS("ws", binary=tmp_path / name).ls()
    assert (caught.value.code, caught.value.exit_code) == ("CLI_UNAVAILABLE", None)


# ---- arguments of the wrong type: InvalidInputError naming the argument, before anything runs ----

Make = Callable[..., AVFS]  # a new client, AVFS(**options), of the test's vault, home and CLI


@pytest.fixture
def marked(tmp_path: Path) -> Tuple[Make, Path]:
    """Clients whose CLI leaves a mark when it runs at all, and where that mark would be."""
    mark = tmp_path / "ran"
    binary = ["sh", "-c", f'touch "{mark}"; exit 9', "sh"]
    return (lambda **options: AVFS(**{"vault": "ws", "binary": binary, **options})), mark


def assert_invalid(call: Callable[[], object], option: str, got: str, code: str = "INVALID_ARGUMENT") -> None:
    with pytest.raises(AvfsError) as caught:
        call()
    err = caught.value
    assert (type(err).__name__, err.code, err.exit_code) == ("InvalidInputError", code, None), err
    assert (err.data["option"], err.data["type"]) == (option, got), err.data
    assert f"invalid {option}: " in err.message and f"got {got} " in err.message, err.message


# Each case: the call (given a client of vault "ws" and a way to make another client), the argument
# the error names, and the type it got.
WRONG_TYPED_CALLS: Dict[str, Tuple[Callable[[AVFS, Make], object], str, str]] = {
    "checkpoint_save(5)": (lambda a, new: a.checkpoint_save(5), "name", "int"),
    "checkpoint_save('cp', 5)": (lambda a, new: a.checkpoint_save("cp", 5), "message", "int"),
    "checkpoint_restore(None)": (lambda a, new: a.checkpoint_restore(None), "name", "NoneType"),
    "create_vault(None)": (lambda a, new: a.create_vault(None), "name", "NoneType"),
    "create_vault('a\\0b')": (lambda a, new: a.create_vault("a\0b"), "name", "str"),
    "use(None)": (lambda a, new: a.use(None), "name", "NoneType"),
    "fork_vault(None)": (lambda a, new: a.fork_vault(None), "target", "NoneType"),
    "fork_vault('f', source=5)": (lambda a, new: a.fork_vault("f", source=5), "source", "int"),
    "undo(5)": (lambda a, new: a.undo(5), "exec_id", "int"),
    "proxy_exec(timeout='5')": (lambda a, new: a.proxy_exec("true", timeout="5"), "timeout", "str"),
    "proxy_exec(timeout=True)": (lambda a, new: a.proxy_exec("true", timeout=True), "timeout", "bool"),
    "proxy_exec(timeout=-1)": (lambda a, new: a.proxy_exec("true", timeout=-1), "timeout", "int"),
    "proxy_exec(env={5: 'x'})": (lambda a, new: a.proxy_exec("true", env={5: "x"}), "env", "int"),
    "proxy_exec(env={'K': 5})": (lambda a, new: a.proxy_exec("true", env={"K": 5}), "env['K']", "int"),
    "proxy_exec(env={'K': 'a\\0b'})": (lambda a, new: a.proxy_exec("true", env={"K": "a\0b"}), "env['K']", "str"),
    "proxy_exec(env=['K'])": (lambda a, new: a.proxy_exec("true", env=["K"]), "env", "list"),
    "proxy_exec('echo', 5)": (lambda a, new: a.proxy_exec("echo", 5), "argv", "int"),
    "write('/f', 'x', mode='755')": (lambda a, new: a.write("/f", "x", mode="755"), "mode", "str"),
    "AVFS(home=5)": (lambda a, new: new(home=5).ls(), "home", "int"),
    "AVFS(home=b'/tmp')": (lambda a, new: new(home=b"/tmp").ls(), "home", "bytes"),
    "AVFS(vault=5)": (lambda a, new: new(vault=5).write("/into-5", "x"), "vault", "int"),
    "AVFS(binary=5)": (lambda a, new: new(binary=5).ls(), "binary", "int"),
    "AVFS(binary=['sh', 5])": (lambda a, new: new(binary=["sh", 5]).ls(), "binary", "list"),
}


@pytest.mark.parametrize("call,option,got", WRONG_TYPED_CALLS.values(), ids=list(WRONG_TYPED_CALLS))
def test_a_wrong_typed_argument_raises_invalid_argument_naming_it_and_nothing_runs(call: Callable[[AVFS, Make], object], option: str, got: str, marked: Tuple[Make, Path]) -> None:
    # It was a raw TypeError, or a quiet conversion: vault=5 was the vault "5", timeout=True one
    # second, env {"K": 5} the value "5".
    new, mark = marked
    assert_invalid(lambda: call(new(), new), option, got)
    assert not mark.exists(), "the CLI ran"


def public_methods() -> List[str]:
    """Every public method of AVFS and its constructor, found rather than listed, so that a new
    method is swept too."""
    return ["__init__"] + [name for name, _ in inspect.getmembers(AVFS, inspect.isfunction) if not name.startswith("_")]


def parameters(method: str) -> List[inspect.Parameter]:
    return [p for p in inspect.signature(getattr(AVFS, method)).parameters.values() if p.name != "self"]


#: A valid value for each required parameter, so that only the one under test is wrong.
VALID: Dict[str, object] = {"name": "n", "target": "t", "path": "/p", "data": "d", "exec_id": "ex-1", "argv": "true"}
#: These are INVALID_PATH, as the CLI, the SDK and MCP say for a path that is not a str.
PATH_PARAMETERS = {"path", "cwd"}


def call_with(new: Make, method: str, param: str, value: object, positionally: bool = False) -> object:
    """Calls ``method`` with ``value`` for ``param`` (by keyword unless ``positionally``) and valid
    values for the other required parameters."""
    args: List[object] = []
    kwargs: Dict[str, object] = {}
    for p in parameters(method):
        if p.name != param and (p.name not in VALID or p.default is not p.empty):
            continue
        given = value if p.name == param else VALID[p.name]
        if p.kind is p.VAR_POSITIONAL or (positionally and p.name == param):
            args.append(given)
        else:
            kwargs[p.name] = given
    if method == "__init__":
        return AVFS(*args, **{"binary": new().argv0, **kwargs}).ls()
    return getattr(new(), method)(*args, **kwargs)


SWEEP = [(method, p.name) for method in public_methods() for p in parameters(method)]


def test_the_sweep_finds_every_public_method() -> None:
    assert {method for method, _ in SWEEP} | {"checkpoint_list"} == set(public_methods())
    assert {"__init__", "create_vault", "write", "proxy_exec", "undo"} <= set(public_methods())


@pytest.mark.parametrize("method,param", SWEEP, ids=[f"{m}-{p}" for m, p in SWEEP])
def test_every_argument_of_every_public_method_refuses_a_wrong_type_before_anything_runs(method: str, param: str, marked: Tuple[Make, Path]) -> None:
    # An object() is no argument's type: not a str, bool, number, mapping, bytes or path.
    new, mark = marked
    assert_invalid(lambda: call_with(new, method, param, object()), param, "object", "INVALID_PATH" if param in PATH_PARAMETERS else "INVALID_ARGUMENT")
    assert not mark.exists(), "the CLI ran"


FIRST = [(method, parameters(method)[0]) for method in public_methods() if parameters(method)]
WRONG_VALUES = [5, 1.5, True, None, b"x", ["x"], {"x": "y"}]


# None is no wrong value where it is the parameter's default (checkpoint_save(None) picks a name).
FIRST_WRONG = [(method, first, value) for method, first in FIRST for value in WRONG_VALUES if not (value is None and first.default is None)]


@pytest.mark.parametrize("method,first,value", FIRST_WRONG, ids=[f"{m}-{type(v).__name__}" for m, _, v in FIRST_WRONG])
def test_a_wrong_typed_first_argument_of_every_public_method_is_invalid_input(method: str, first: inspect.Parameter, value: object, marked: Tuple[Make, Path]) -> None:
    new, mark = marked
    code = "INVALID_PATH" if first.name in PATH_PARAMETERS else "INVALID_ARGUMENT"
    assert_invalid(lambda: call_with(new, method, first.name, value, positionally=True), first.name, type(value).__name__, code)
    assert not mark.exists(), "the CLI ran"


def test_wrong_typed_arguments_change_nothing_in_a_real_home(ws: AVFS, cli: Callable[..., Dict[str, Any]]) -> None:
    # The same calls with the real CLI: no vault, checkpoint, file or exec appears.
    ws.write("/f", "x")
    ws.checkpoint_save("kept")

    def new(**options: object) -> AVFS:
        return AVFS(**{"vault": "ws", "home": ws.home, "binary": ws.argv0, **options})  # type: ignore[arg-type]

    for call, option, got in WRONG_TYPED_CALLS.values():
        assert_invalid(lambda: call(ws, new), option, got)  # noqa: B023 (called at once)
    for value in (5, 1.5, b"5"):
        with pytest.raises(InvalidInputError):
            ws.create_vault(value)  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError):
            ws.checkpoint_save(value)  # type: ignore[arg-type]
    assert [v["name"] for v in cli("vault", "list")["vaults"]] == ["ws"]
    assert [c.name for c in ws.checkpoint_list()] == ["kept"]
    assert [e.path for e in ws.ls()] == ["/f"] and ws.read("/f") == b"x"
    assert [r for r in cli("audit")["records"] if r["op"].startswith("proxy.")] == []


def test_a_vault_named_by_a_number_is_refused_not_made_a_name(client: Callable[[Optional[str]], AVFS]) -> None:
    # vault=5 acted on a vault named "5": a typo's number must not become a vault.
    client(None).create_vault("5")
    with pytest.raises(AvfsError) as caught:
        AVFS(vault=5, home=client(None).home, binary=client(None).argv0).write("/x", "y")  # type: ignore[arg-type]
    assert caught.value.code == "INVALID_ARGUMENT"
    assert [e.path for e in client("5").ls()] == []
