import os
from typing import Any, Callable, Dict

import pytest

from agentvfs import AVFS, Entry, InvalidInputError, NotEmptyError, NotFoundError, QuotaExceededError


def test_write_returns_the_entry_and_read_returns_the_text_as_utf8_bytes(ws: AVFS) -> None:
    entry = ws.write("/notes.md", "héllo ✓")
    assert isinstance(entry, Entry)
    assert (entry.path, entry.name, entry.type, entry.size, entry.mode, entry.version) == ("/notes.md", "notes.md", "file", 10, "0644", 1)
    assert ws.read("/notes.md") == "héllo ✓".encode("utf-8")
    assert ws.write("/notes.md", "again").version == 2


@pytest.mark.parametrize(
    "data",
    [
        bytes(range(256)),  # every byte value, NUL and invalid UTF-8 included
        b"\xff\xfe\x00text",
        b"",
        os.urandom(300 * 1024),  # several 64 KiB chunks
    ],
    ids=["all-bytes", "bom-nul", "empty", "multi-chunk"],
)
def test_binary_content_round_trips_exactly(ws: AVFS, data: bytes) -> None:
    entry = ws.write("/blob.bin", data)
    assert entry.size == len(data)
    assert ws.read("/blob.bin") == data


def test_write_sends_content_on_stdin_so_dashes_and_newlines_stay_data(ws: AVFS) -> None:
    ws.write("/-dash.txt", "--json\n-")
    assert ws.read("/-dash.txt") == b"--json\n-"


def test_write_with_parents_and_mode(ws: AVFS) -> None:
    entry = ws.write("/src/bin/run.sh", "#!/bin/sh\n", parents=True, mode=0o755)
    assert entry.mode == "0755"
    assert [(e.name, e.type) for e in ws.ls("/src")] == [("bin", "directory")]


def test_write_without_parents_into_a_missing_directory_raises_not_found(ws: AVFS) -> None:
    with pytest.raises(NotFoundError) as caught:
        ws.write("/missing/file.txt", "x")
    assert (caught.value.code, caught.value.exit_code) == ("NOT_FOUND", 3)
    assert ws.ls() == []


def test_ls_lists_entries_and_hides_dot_names_unless_all(ws: AVFS) -> None:
    ws.write("/b.txt", "b")
    ws.write("/.hidden", "h")
    ws.write("/a/x.txt", "x", parents=True)
    assert [(e.name, e.type) for e in ws.ls()] == [("a", "directory"), ("b.txt", "file")]
    assert [e.name for e in ws.ls("/", all=True)] == [".hidden", "a", "b.txt"]
    assert ws.ls("/b.txt")[0].path == "/b.txt"


def test_read_of_a_missing_file_raises_not_found_with_the_path(ws: AVFS) -> None:
    with pytest.raises(NotFoundError) as caught:
        ws.read("/nope.txt")
    err = caught.value
    assert (err.code, err.exit_code, err.data["path"]) == ("NOT_FOUND", 3, "/nope.txt")
    assert err.message


def test_read_of_a_directory_raises_is_a_directory(ws: AVFS) -> None:
    ws.write("/d/f", "x", parents=True)
    with pytest.raises(InvalidInputError) as caught:
        ws.read("/d")
    assert caught.value.code == "IS_A_DIRECTORY"


def test_an_over_long_name_raises_invalid_path(ws: AVFS) -> None:
    with pytest.raises(InvalidInputError) as caught:
        ws.write("/" + "n" * 300, "x")
    assert (caught.value.code, caught.value.exit_code) == ("INVALID_PATH", 2)


@pytest.mark.parametrize("path", ["/a\0b", "/a\ud800b", "/a\udcffb"])
def test_a_path_with_a_nul_byte_or_a_lone_surrogate_raises_invalid_path_without_running_anything(ws: AVFS, path: str) -> None:
    # INVALID_PATH, as the CLI, the SDK and MCP say for such a path (it was INVALID_ARGUMENT, or a raw UnicodeEncodeError).
    for call in (lambda: ws.write(path, "x"), lambda: ws.read(path), lambda: ws.ls(path), lambda: ws.rm(path), lambda: ws.proxy_exec("true", cwd=path)):
        with pytest.raises(InvalidInputError) as caught:
            call()
        assert (caught.value.code, caught.value.exit_code, caught.value.data["path"]) == ("INVALID_PATH", None, path)
        # The CLI's tokens for the same refusals.
        assert caught.value.data["reason"] == ("nul_byte" if "\0" in path else "not_unicode")
    assert ws.ls() == []


def test_a_nul_byte_or_a_lone_surrogate_in_another_argument_raises_invalid_argument_without_running_anything(ws: AVFS) -> None:
    for name in ("a\0b", "a\ud800b"):
        with pytest.raises(InvalidInputError) as caught:
            ws.checkpoint_save(name)
        assert (caught.value.code, caught.value.exit_code) == ("INVALID_ARGUMENT", None)
    assert ws.checkpoint_list() == []


@pytest.mark.parametrize("data", ["a\ud800b", "\udcff"])
def test_text_with_a_lone_surrogate_raises_invalid_argument_and_writes_nothing(ws: AVFS, data: str) -> None:
    # It raised a raw UnicodeEncodeError; the SDK says INVALID_ARGUMENT.
    with pytest.raises(InvalidInputError) as caught:
        ws.write("/s.txt", data)
    assert (caught.value.code, caught.value.data["reason"]) == ("INVALID_ARGUMENT", "not_unicode")
    assert ws.ls() == []


def test_rm_returns_the_count_and_needs_recursive_for_a_full_directory(ws: AVFS) -> None:
    ws.write("/one.txt", "1")
    assert ws.rm("/one.txt") == 1
    ws.write("/dir/a", "a", parents=True)
    ws.write("/dir/b", "b")
    with pytest.raises(NotEmptyError) as caught:
        ws.rm("/dir")
    assert (caught.value.code, caught.value.exit_code) == ("NOT_EMPTY", 4)
    assert ws.rm("/dir", recursive=True) == 3
    assert ws.ls() == []
    with pytest.raises(NotFoundError):
        ws.rm("/dir")


def test_a_write_over_the_quota_raises_quota_exceeded_and_changes_nothing(ws: AVFS, cli: Callable[..., Dict[str, Any]]) -> None:
    cli("--vault", "ws", "quota", "set", "--max-bytes", "10")
    ws.write("/small.txt", "12345")
    with pytest.raises(QuotaExceededError) as caught:
        ws.write("/big.txt", "x" * 100)
    assert (caught.value.code, caught.value.exit_code) == ("QUOTA_EXCEEDED", 6)
    assert [e.name for e in ws.ls()] == ["small.txt"]


@pytest.mark.parametrize("data", [123, None, 1.5, ["a"]])
def test_write_of_something_that_is_not_text_or_bytes_raises_invalid_argument_and_writes_nothing(ws: AVFS, data: Any) -> None:
    with pytest.raises(InvalidInputError) as caught:
        ws.write("/typed", data)
    assert caught.value.code == "INVALID_ARGUMENT"
    assert [e.name for e in ws.ls("/")] == []


@pytest.mark.parametrize("mode", ["777", -1, 0o10000, True])
def test_write_with_a_mode_that_is_not_permission_bits_raises_invalid_argument(ws: AVFS, mode: Any) -> None:
    with pytest.raises(InvalidInputError) as caught:
        ws.write("/moded", "x", mode=mode)
    assert caught.value.code == "INVALID_ARGUMENT"
    assert [e.name for e in ws.ls("/")] == []


def test_a_keyword_boolean_that_is_not_a_bool_raises_invalid_argument_naming_it_and_nothing_runs(ws: AVFS, cli: Callable[..., Dict[str, Any]]) -> None:
    # A string was read as true: rm(recursive="false") removed the whole tree, approve="false" approved.
    ws.write("/proj/a/b.txt", "b", parents=True)
    calls = [
        ("recursive", lambda: ws.rm("/proj", recursive="false")),
        ("parents", lambda: ws.write("/new/dir/f.txt", "x", parents="no")),
        ("all", lambda: ws.ls("/", all=1)),
        ("use", lambda: ws.create_vault("other", use="false")),
        ("use", lambda: ws.fork_vault("fork", use="no")),
        ("approve", lambda: ws.proxy_exec("sh", "-c", "echo ran > /ran.txt", approve="false")),
        ("checkpoint", lambda: ws.proxy_exec("sh", "-c", "echo ran > /ran.txt", checkpoint="true")),
        ("force", lambda: ws.undo("x", force="true")),
    ]
    for option, call in calls:
        with pytest.raises(InvalidInputError) as caught:
            call()
        assert (caught.value.code, caught.value.exit_code, caught.value.data["option"]) == ("INVALID_ARGUMENT", None, option)
    assert [e.path for e in ws.ls("/", all=True)] == ["/proj"]
    assert [e.path for e in ws.ls("/proj/a")] == ["/proj/a/b.txt"]
    assert [v["name"] for v in cli("vault", "list")["vaults"]] == ["ws"]
    assert [r for r in cli("audit")["records"] if r["op"].startswith("proxy.")] == []


@pytest.mark.parametrize("path", [5, None, b"/a", ["/a"]])
def test_a_path_that_is_not_a_str_raises_invalid_path_without_running_anything(ws: AVFS, path: Any) -> None:
    # It failed in subprocess with a TypeError.
    calls = [lambda: ws.write(path, "x"), lambda: ws.read(path), lambda: ws.ls(path), lambda: ws.rm(path)]
    if path is not None:  # cwd=None is the default, /
        calls.append(lambda: ws.proxy_exec("true", cwd=path))
    for call in calls:
        with pytest.raises(InvalidInputError) as caught:
            call()
        assert (caught.value.code, caught.value.exit_code, caught.value.data["reason"]) == ("INVALID_PATH", None, "not_a_string")
    with pytest.raises(InvalidInputError) as caught:
        ws.proxy_exec("echo", 5)  # type: ignore[arg-type]
    assert (caught.value.code, caught.value.data["option"]) == ("INVALID_ARGUMENT", "argv")
    assert ws.ls() == []
