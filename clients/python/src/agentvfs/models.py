"""The results the client returns: plain frozen dataclasses built from the CLI's JSON fields.

Field names are the CLI's snake_case JSON names (see the JSON contract in the README), so the
CLI's documentation describes them. Fields a newer CLI adds are ignored here; the whole document
of a ``proxy_exec`` stays available as ``ExecResult.raw``.
"""

import base64
import binascii
import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Type, TypeVar, Union, get_args, get_origin, get_type_hints

from .errors import BadOutputError

T = TypeVar("T")


def build(cls: Type[T], doc: Any, **overrides: Any) -> T:
    """Builds dataclass ``cls`` from the JSON fields it declares (others are ignored). A document
    that is not an object, lacks a field, or holds one of another JSON type than the contract's
    (a string for a size, null for a name) is BAD_OUTPUT, not a result that breaks later."""
    if not isinstance(doc, Mapping):
        raise BadOutputError("BAD_OUTPUT", f"avfs returned {_json_type(doc)} where the {cls.__name__} object belongs", {"document": doc})
    hints = _hints(cls)
    values = {k: v for k, v in doc.items() if k in hints}
    for name, value in values.items():
        if name not in overrides and not _fits(value, hints[name]):
            raise BadOutputError(
                "BAD_OUTPUT",
                f"avfs returned {cls.__name__} field {name!r} as {_json_type(value)}, not {_expected(hints[name])}",
                {"document": dict(doc), "field": name},
            )
    values.update(overrides)
    try:
        return cls(**values)
    except TypeError as err:  # a field the contract promises is missing
        raise BadOutputError("BAD_OUTPUT", f"avfs returned an incomplete {cls.__name__}: {err}", {"document": dict(doc)}) from None


@functools.lru_cache(maxsize=None)
def _hints(cls: type) -> Dict[str, Any]:
    """The declared type of each field of dataclass ``cls``. Worked out once per class: a listing
    builds one object per entry, and get_type_hints took most of the time of a 100k-entry ``ls``."""
    hints = get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def field_of(doc: Mapping[str, Any], name: str, hint: Any) -> Any:
    """Field ``name`` of a document, which must hold the JSON type ``hint`` (bool is not an int):
    BAD_OUTPUT otherwise, never a value converted into something the CLI did not say."""
    value = doc[name]
    if not _fits(value, hint):
        raise BadOutputError("BAD_OUTPUT", f"avfs returned field {name!r} as {_json_type(value)}, not {_expected(hint)}", {"document": dict(doc), "field": name})
    return value


def decode_base64(doc: Mapping[str, Any], name: str) -> bytes:
    """Field ``name`` of a document as the bytes its base64 text encodes; text that is not base64 is BAD_OUTPUT."""
    try:
        return base64.b64decode(field_of(doc, name, str), validate=True)
    except binascii.Error as err:
        raise BadOutputError("BAD_OUTPUT", f"avfs returned field {name!r} as text that is not base64 ({err})", {"field": name}) from None


def _fits(value: Any, hint: Any) -> bool:
    """Whether a JSON value has the type a field declares (bool is not an int here, as in JSON)."""
    if hint is Any:
        return True
    origin = get_origin(hint)
    if origin is Union:
        return any(_fits(value, h) for h in get_args(hint))
    if hint is type(None):
        return value is None
    if origin in (list, List):
        (item,) = get_args(hint) or (Any,)
        return isinstance(value, list) and all(_fits(v, item) for v in value)
    if origin in (dict, Dict):
        return isinstance(value, dict)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint) if isinstance(hint, type) else True


def _json_type(value: Any) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array", type(None): "null"}
    return next((n for t, n in names.items() if type(value) is t), "an object")


def _expected(hint: Any) -> str:
    if get_origin(hint) is Union:
        return " or ".join(_expected(h) for h in get_args(hint))
    if hint is type(None):
        return "null"
    origin = get_origin(hint)
    if origin in (list, List):
        return "an array"
    if origin in (dict, Dict):
        return "an object"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(hint, getattr(hint, "__name__", str(hint)))


def decode_output(doc: Mapping[str, Any], stream: str) -> bytes:
    """The exact bytes of ``stdout``/``stderr`` of an exec, sent as UTF-8 text or base64."""
    if doc.get(f"{stream}_encoding") == "base64":
        return decode_base64(doc, stream)
    return str(doc.get(stream) or "").encode("utf-8")


@dataclass(frozen=True)
class Entry:
    """A file, directory or symlink of a vault (``ls``, ``write``)."""

    path: str
    name: str
    type: str  # "file", "directory" or "symlink"
    size: int
    mode: str  # octal, e.g. "0644"
    mtime: str  # ISO 8601
    hash: Optional[str] = None  # sha256 of a file's content
    target: Optional[str] = None  # a symlink's target
    version: Optional[int] = None


@dataclass(frozen=True)
class Vault:
    """A vault's summary (``vault create|fork|use``)."""

    name: str
    parent: Optional[str]  # None for a detached fork (its parent was deleted)
    created_at: str
    files: int
    directories: int
    symlinks: int
    bytes: int
    forks: int
    current: bool
    #: The live vaults it descends from, nearest first, deleted ones passed over.
    ancestors: List[str] = field(default_factory=list)
    #: Forked from a vault that was deleted since (``parent`` is then None).
    detached: bool = False
    #: FIFOs, sockets and device nodes.
    specials: int = 0


@dataclass(frozen=True)
class Checkpoint:
    """A named state of a whole vault (``checkpoint save|list``)."""

    name: str
    message: Optional[str]
    created_at: str
    seq: int
    files: int
    bytes: int
    source: str
    exec_id: Optional[str]
    directories: Optional[int] = None
    symlinks: Optional[int] = None


@dataclass(frozen=True)
class RestoreResult:
    """What ``checkpoint restore`` changed. ``saved_before`` names the checkpoint of the state it
    replaced (restore it to go back), or is None when the vault already matched."""

    checkpoint: str
    saved_before: Optional[str]
    added: int
    modified: int
    deleted: int
    changed: int
    duration_ms: float
    annotations_changed: int = 0


@dataclass(frozen=True)
class ChangedFile:
    """One path a command changed: ``kind`` is "added", "modified" or "deleted" (a rename is a
    deletion plus an addition); ``type`` is the type after the change (before it, for a deletion)."""

    path: str
    kind: str
    type: str
    size_before: Optional[int]
    size_after: Optional[int]
    hash_before: Optional[str]
    hash: Optional[str]
    mode_before: Optional[str]
    mode_after: Optional[str]
    versions: int = 1
    type_before: Optional[str] = None
    target_before: Optional[str] = None
    target: Optional[str] = None


@dataclass(frozen=True)
class Decision:
    """The policy's decision on a command: which ``rule`` gave which ``action``, and why."""

    action: str
    categories: List[str]
    rule: str
    reason: str


def changed_files_of(doc: Mapping[str, Any]) -> List[ChangedFile]:
    return [build(ChangedFile, c) for c in doc.get("changed_files") or []]


@dataclass(frozen=True)
class ExecResult:
    """The result of ``proxy_exec``: the command ran (whatever its exit code).

    ``stdout``/``stderr`` are text (invalid UTF-8 replaced); ``stdout_raw``/``stderr_raw`` are the
    exact bytes. Both are cut at the policy's output cap when ``truncated``; ``stdout_bytes`` and
    ``stderr_bytes`` count what the command produced in total. ``raw`` is the whole JSON document.
    """

    exec_id: str
    vault: str
    command: str
    exit_code: int
    signal: Optional[str]
    timed_out: bool
    duration_ms: float
    checkpoint: Optional[str]
    stdout: str
    stderr: str
    stdout_raw: bytes
    stderr_raw: bytes
    stdout_bytes: int
    stderr_bytes: int
    truncated: bool
    changed_files: List[ChangedFile]
    decision: Decision
    cwd: str
    mode: str  # "mount" or "copy"
    mode_reason: Optional[str]
    raw: Dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "ExecResult":
        stdout, stderr = decode_output(doc, "stdout"), decode_output(doc, "stderr")
        return build(
            cls,
            doc,
            stdout=stdout.decode("utf-8", "replace"),
            stderr=stderr.decode("utf-8", "replace"),
            stdout_raw=stdout,
            stderr_raw=stderr,
            changed_files=changed_files_of(doc),
            decision=build(Decision, doc.get("decision") or {}),
            raw=dict(doc),
        )


@dataclass(frozen=True)
class UndoResult:
    """What ``undo`` put back: each path the exec changed holds its state from before the exec
    again (``changed_files``); every other path keeps its later changes. ``died`` is true when the
    exec's avfs process died while it ran. ``running`` is true when it was still running (a forced
    undo): what it writes from then on is undone by undoing it again once it ends."""

    vault: str
    exec_id: str
    checkpoint: str
    discarded_changes: int
    already_undone: bool
    died: bool
    changed_files: List[ChangedFile]
    running: bool = False

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "UndoResult":
        return build(cls, doc, changed_files=changed_files_of(doc))
