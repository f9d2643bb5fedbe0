"""proxy_exec and undo. Commands use paths relative to the vault (the working directory), never
host paths, so they behave the same whether the run is mounted, copied or sandboxed."""

import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import pytest

from .conftest import AVFS_JS as REPO_AVFS_JS

from agentvfs import (
    AVFS,
    AvfsTimeoutError,
    ChangedFile,
    CheckpointNotFoundError,
    ConflictError,
    DeniedError,
    ExecResult,
    InvalidInputError,
    NotFoundError,
    UndoResult,
)


def test_seed_example_returns_stdout_stderr_exit_code_and_changed_files(client: Callable[[Optional[str]], AVFS]) -> None:
    client(None).create_vault("agent-workspace")
    run = client("agent-workspace").proxy_exec("sh", "-c", "echo built > out.txt; echo done; echo warn >&2")
    assert isinstance(run, ExecResult)
    assert (run.stdout, run.stderr, run.exit_code, run.timed_out, run.signal) == ("done\n", "warn\n", 0, False, None)
    assert run.changed_files == [
        ChangedFile(
            path="/out.txt",
            kind="added",
            type="file",
            size_before=None,
            size_after=6,
            hash_before=None,
            hash=run.changed_files[0].hash,
            mode_before=None,
            mode_after="0644",
            versions=1,
        )
    ]
    assert run.exec_id and run.vault == "agent-workspace" and run.duration_ms >= 0
    assert run.decision.action == "allow" and run.raw["exec_id"] == run.exec_id
    assert client("agent-workspace").read("/out.txt") == b"built\n"


def test_a_failing_command_is_a_result_with_its_exit_code_not_an_exception(ws: AVFS) -> None:
    run = ws.proxy_exec("sh", "-c", "echo oops >&2; exit 3")
    assert (run.exit_code, run.stderr, run.changed_files) == (3, "oops\n", [])


def test_changed_files_report_modified_and_deleted_paths(ws: AVFS) -> None:
    ws.write("/edit.txt", "old")
    ws.write("/gone.txt", "bye")
    run = ws.proxy_exec("sh", "-c", "echo new > edit.txt && rm gone.txt")
    assert [(c.path, c.kind, c.size_before, c.size_after) for c in run.changed_files] == [("/edit.txt", "modified", 3, 4), ("/gone.txt", "deleted", 3, None)]


def test_cwd_is_a_vault_directory(ws: AVFS) -> None:
    ws.write("/sub/keep", "", parents=True)
    run = ws.proxy_exec("sh", "-c", "echo x > here.txt", cwd="/sub")
    assert [c.path for c in run.changed_files] == ["/sub/here.txt"]


def test_cwd_that_does_not_exist_raises_not_found(ws: AVFS) -> None:
    with pytest.raises(NotFoundError) as caught:
        ws.proxy_exec("true", cwd="/nope")
    assert caught.value.code == "NOT_FOUND"


def test_env_reaches_the_command(ws: AVFS) -> None:
    run = ws.proxy_exec("sh", "-c", 'printf %s "$GREETING"', env={"GREETING": "hello=world"})
    assert run.stdout == "hello=world"


def test_binary_stdout_comes_back_as_exact_bytes(ws: AVFS) -> None:
    run = ws.proxy_exec("printf", "\\377\\000ok")
    assert run.stdout_raw == b"\xff\x00ok"
    assert run.stdout == "\ufffd\x00ok"


def test_a_command_over_its_timeout_is_killed_and_reported_timed_out(ws: AVFS) -> None:
    run = ws.proxy_exec("sh", "-c", "echo started > started.txt; sleep 30", timeout=1)
    assert (run.timed_out, run.exit_code) == (True, 124)
    assert [c.path for c in run.changed_files] == ["/started.txt"]
    assert run.duration_ms < 25_000  # killed, not waited for (a bound that only catches a hang)


def test_a_command_the_builtin_policy_denies_raises_denied_and_never_runs(ws: AVFS) -> None:
    with pytest.raises(DeniedError) as caught:
        ws.proxy_exec("sudo", "sh", "-c", "echo ran > ran.txt")
    err = caught.value
    assert (err.code, err.exit_code) == ("DENIED", 5)
    assert err.data["decision"]["action"] == "deny"
    assert ws.ls() == []


def test_a_vault_policy_rule_denies_and_approve_runs_what_needs_approval(ws: AVFS, set_policy: Callable[[str, Dict[str, Any]], None]) -> None:
    set_policy(
        "ws",
        {
            "rules": [
                {"name": "no-touch", "program": "touch", "action": "deny", "reason": "use echo"},
                {"name": "ask-first", "program": "ls", "action": "require_approval"},
            ]
        },
    )
    with pytest.raises(DeniedError) as caught:
        ws.proxy_exec("touch", "t.txt")
    assert caught.value.data["decision"]["rule"] == "no-touch"
    with pytest.raises(DeniedError) as caught:
        ws.proxy_exec("ls")
    assert caught.value.data["decision"]["rule"] == "ask-first"
    assert ws.proxy_exec("ls", approve=True).exit_code == 0
    assert ws.ls() == []


def test_checkpoint_true_takes_a_checkpoint_and_false_takes_none(ws: AVFS) -> None:
    with_cp = ws.proxy_exec("true", checkpoint=True)
    assert with_cp.checkpoint is not None
    assert with_cp.checkpoint in [c.name for c in ws.checkpoint_list()]
    assert ws.proxy_exec("true", checkpoint=False).checkpoint is None


def test_proxy_exec_without_a_command_is_a_type_error(ws: AVFS) -> None:
    with pytest.raises(TypeError):
        ws.proxy_exec()


def test_undo_restores_the_state_before_the_exec(ws: AVFS) -> None:
    ws.write("/app.txt", "v1")
    run = ws.proxy_exec("sh", "-c", "echo v2 > app.txt; echo tmp > new.txt", checkpoint=True)
    assert ws.read("/app.txt") == b"v2\n"
    undone = ws.undo(run.exec_id)
    assert isinstance(undone, UndoResult)
    assert (undone.exec_id, undone.checkpoint, undone.already_undone, undone.discarded_changes) == (run.exec_id, run.checkpoint, False, 0)
    assert sorted((c.path, c.kind) for c in undone.changed_files) == [("/app.txt", "modified"), ("/new.txt", "deleted")]
    assert ws.read("/app.txt") == b"v1"
    assert [e.name for e in ws.ls()] == ["app.txt"]
    again = ws.undo(run.exec_id)
    assert (again.already_undone, again.changed_files) == (True, [])


def test_undo_of_an_exec_without_a_checkpoint_raises_checkpoint_not_found(ws: AVFS) -> None:
    run = ws.proxy_exec("sh", "-c", "echo x > x.txt", checkpoint=False)
    with pytest.raises(CheckpointNotFoundError) as caught:
        ws.undo(run.exec_id)
    assert (caught.value.code, caught.value.data["exec_id"]) == ("CHECKPOINT_NOT_FOUND", run.exec_id)


def test_undo_refuses_to_drop_later_changes_by_others_unless_forced(ws: AVFS) -> None:
    run = ws.proxy_exec("sh", "-c", "echo x > x.txt", checkpoint=True)
    ws.write("/x.txt", "rewritten after the exec")
    ws.write("/mine.txt", "written after the exec, elsewhere")
    with pytest.raises(ConflictError) as caught:
        ws.undo(run.exec_id)
    assert (caught.value.code, caught.value.exit_code, caught.value.data["paths"]) == ("CONFLICT", 4, ["/x.txt"])
    assert ws.read("/x.txt") == b"rewritten after the exec"
    forced = ws.undo(run.exec_id, force=True)
    assert forced.discarded_changes == 1
    # Only the exec's path goes back; a change elsewhere is not the exec's and stays.
    assert [e.path for e in ws.ls()] == ["/mine.txt"]


def test_undo_through_a_client_of_another_vault_is_refused_and_changes_nothing(ws: AVFS, client: Callable[[Optional[str]], AVFS]) -> None:
    run = ws.proxy_exec("sh", "-c", "echo agent > f.txt", checkpoint=True)
    ws.fork_vault("ws-fork")
    with pytest.raises(InvalidInputError) as caught:
        client("ws-fork").undo(run.exec_id)
    assert (caught.value.code, caught.value.data["vault"], caught.value.data["named_vault"]) == ("INVALID_ARGUMENT", "ws", "ws-fork")
    assert ws.read("/f.txt") == b"agent\n"
    assert client(None).undo(run.exec_id).vault == "ws"  # no vault named: the exec's own


def test_undo_of_an_unknown_exec_raises_not_found(ws: AVFS) -> None:
    with pytest.raises(NotFoundError) as caught:
        ws.undo("ex-never-ran")
    assert caught.value.code == "NOT_FOUND"


def test_a_bad_option_value_raises_invalid_input(ws: AVFS) -> None:
    with pytest.raises(InvalidInputError) as caught:
        ws.proxy_exec("true", env={"NOT VALID": "x"})
    assert (caught.value.code, caught.value.exit_code) == ("USAGE", 2)


def test_an_env_name_with_an_equals_sign_raises_instead_of_setting_another_variable(ws: AVFS) -> None:
    # --env=A=B=c would set A to "B=c": the name would silently become another one.
    for name in ("A=B", ""):
        with pytest.raises(InvalidInputError) as caught:
            ws.proxy_exec("sh", "-c", 'printf %s "$A"', env={name: "c"})
        assert (caught.value.code, caught.value.exit_code) == ("INVALID_ARGUMENT", None)


def test_a_timeout_that_is_not_a_finite_number_raises_invalid_input(ws: AVFS) -> None:
    for timeout in (float("inf"), float("nan")):
        with pytest.raises(InvalidInputError) as caught:
            ws.proxy_exec("true", timeout=timeout)
        assert caught.value.code == "INVALID_ARGUMENT"


def test_a_proxy_exec_past_the_call_timeout_ends_its_command_too(home: Path) -> None:
    """The CLI stopped by the client's call timeout gets SIGTERM, as from a Ctrl-C, and ends the
    command it runs: nothing of the run is left behind."""
    ws = AVFS("ws", home=home, binary=REPO_AVFS_JS, call_timeout=60)
    ws.create_vault("ws")
    marker = "3731.25"  # a sleep nothing else on the machine runs
    seen = threading.Event()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if _sleeps(marker):
                seen.set()
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with pytest.raises(AvfsTimeoutError) as caught:
            AVFS("ws", home=home, binary=REPO_AVFS_JS, call_timeout=15).proxy_exec("sh", "-c", f"echo partial > made; sleep {marker}", timeout=600, checkpoint=True)
    finally:
        done.set()
        watcher.join()
    assert seen.is_set(), "the command never started within the call timeout"
    assert _sleeps(marker) == []
    # Stopped by SIGTERM, the CLI still reported the run, so the caller can undo it.
    run = ExecResult.from_json(caught.value.data["document"])
    assert [(c.path, c.kind) for c in run.changed_files] == [("/made", "added")] and run.exit_code != 0
    ws.undo(run.exec_id)
    assert ws.ls("/") == []


def _sleeps(marker: str) -> List[str]:
    """The processes running ``sleep <marker>``."""
    found = []
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and Path(f"/proc/{pid}/cmdline").read_bytes() == f"sleep\0{marker}\0".encode():
                found.append(pid)
        except OSError:
            pass
    return found
