"""The AVFS class: one method per CLI command, each one ``avfs --json`` process."""

import functools
import inspect
import math
import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, TypeVar, Union, cast

from .cli import Binary, resolve_binary, run_json
from .errors import InvalidInputError
from .models import Checkpoint, Entry, ExecResult, RestoreResult, UndoResult, Vault, build, decode_base64, field_of

PathLike = Union[str, "os.PathLike[str]"]

# ---- argument checks ------------------------------------------------------------------------
#
# Every argument of the public API is checked before anything runs, in one place: the rules below,
# one per parameter name (a name means the same in every method), applied by ``_checked``. A wrong
# type failed late as a raw TypeError from ``subprocess`` or string formatting, or was quietly
# converted (``vault=5`` acted on the vault named "5", ``timeout=True`` was one second). A rule
# raises ``InvalidInputError`` naming the parameter, or returns the value the method then gets.


def _invalid(param: str, expected: str, value: Any, code: str = "INVALID_ARGUMENT", **data: Any) -> InvalidInputError:
    """The error for an argument that is not what ``param`` takes, naming both and what it got."""
    shown = repr(value)
    shown = shown if len(shown) <= 80 else shown[:80] + "…"
    return InvalidInputError(code, f"invalid {param}: expected {expected}, got {type(value).__name__} {shown}", {"option": param, "type": type(value).__name__, **data})


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _text(param: str, value: Any) -> str:
    """A name, id or message: a str a process argument can carry (no NUL byte, no lone surrogate)."""
    if not isinstance(value, str):
        raise _invalid(param, "a str", value)
    if "\0" in value or not _is_utf8(value):
        raise _invalid(param, "a str without a NUL byte or a lone surrogate (no process argument can carry one)", value)
    return value


def _vault_path(param: str, value: Any) -> str:
    """A vault path: INVALID_PATH rather than INVALID_ARGUMENT, as the CLI, the SDK and MCP say
    for such a path (a NUL byte, a lone surrogate, or not a str at all)."""
    if not isinstance(value, str):
        raise _invalid(param, "a vault path (str)", value, "INVALID_PATH", path=repr(value), reason="not_a_string")
    problem = ("nul_byte", "contains a NUL byte") if "\0" in value else None if _is_utf8(value) else ("not_unicode", "is not valid Unicode (it holds a lone surrogate)")
    if problem is not None:
        raise InvalidInputError("INVALID_PATH", f"invalid path {value!r}: {problem[1]}", {"option": param, "path": value, "reason": problem[0]})
    return value


def _flag(param: str, value: Any) -> bool:
    """A keyword boolean: True or False only. A string was read as true, so
    ``rm(path, recursive="false")`` removed the whole tree."""
    if not isinstance(value, bool):
        raise _invalid(param, "True or False", value)
    return value


def _seconds(param: str, value: Any) -> float:
    """A duration in seconds: an int or float, finite, 0 or more. Never a bool: Python counts
    True as 1, so ``timeout=True`` was one second."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _invalid(param, "a number of seconds (int or float)", value)
    if not math.isfinite(value) or value < 0:
        raise _invalid(param, "a finite number of seconds, 0 or more (0 for none)", value)
    return float(value)


def _mode(param: str, value: Any) -> int:
    """Permission bits (e.g. ``0o755``): an int, not a bool."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0o7777:
        raise _invalid(param, "an int of permission bits (e.g. 0o755)", value)
    return value


def _content(param: str, value: Any) -> bytes:
    """File content as the bytes to store: str as UTF-8, byte buffers as they are. Nothing else:
    ``bytes(123)`` would be 123 NUL bytes."""
    if isinstance(value, str):
        try:
            return value.encode("utf-8")
        except UnicodeEncodeError as err:
            # As the SDK: stored as UTF-8, a lone surrogate would silently become another character.
            raise InvalidInputError("INVALID_ARGUMENT", f"invalid {param}: not valid Unicode text (a lone surrogate at index {err.start}): pass bytes for binary content", {"option": param, "reason": "not_unicode", "index": err.start}) from None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise _invalid(param, "str or bytes", value)


def _env(param: str, value: Any) -> Dict[str, str]:
    """Environment variables: a mapping of str names to str values, nothing converted (a value 5
    was passed as "5")."""
    if not isinstance(value, Mapping):
        raise _invalid(param, "a mapping of str to str", value)
    env: Dict[str, str] = {}
    for key, item in value.items():
        # The CLI splits --env at the first "=": a name holding one would set another variable.
        if not isinstance(key, str) or not key or "=" in key:
            raise _invalid(param, "variable names that are non-empty str without '='", key, name=repr(key))
        env[_text(param, key)] = _text(f"{param}[{key!r}]", item)
    return env


def _argv(param: str, value: Tuple[Any, ...]) -> Tuple[str, ...]:
    """The command's words (``*argv``), each a str. None at all is a missing argument, which Python
    reports as a TypeError, as it does for any other."""
    if not value:
        raise TypeError("proxy_exec() needs a command, e.g. proxy_exec('make', 'test')")
    for word in value:
        if not isinstance(word, str):
            raise _invalid(param, "a str for each word", word)
    return value


def _home(param: str, value: Any) -> str:
    """The avfs home: a str or path (``~`` expanded), never a number made a directory name."""
    if not isinstance(value, (str, os.PathLike)):
        raise _invalid(param, "a str or path", value)
    return _text(param, os.path.expanduser(os.fspath(value)))


def _binary(param: str, value: Any) -> Binary:
    """How to run the CLI: a command or path, or a list of them (see :mod:`agentvfs.cli`)."""
    if isinstance(value, (str, os.PathLike)):
        return value
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)) and all(isinstance(part, (str, os.PathLike)) for part in value):
        return value
    raise _invalid(param, "a command or path, or a list of str", value)


#: The rule for each parameter of the public API. ``None`` is accepted exactly where it is the
#: parameter's default (``checkpoint_save(name=None)``, not ``create_vault(None)``).
_RULES: Dict[str, Callable[[str, Any], Any]] = {
    "vault": _text,
    "name": _text,
    "target": _text,
    "source": _text,
    "message": _text,
    "exec_id": _text,
    "path": _vault_path,
    "cwd": _vault_path,
    "use": _flag,
    "parents": _flag,
    "all": _flag,
    "recursive": _flag,
    "checkpoint": _flag,
    "approve": _flag,
    "force": _flag,
    "data": _content,
    "mode": _mode,
    "timeout": _seconds,
    "call_timeout": _seconds,
    "env": _env,
    "argv": _argv,
    "home": _home,
    "binary": _binary,
}

_F = TypeVar("_F", bound=Callable[..., Any])


def _checked(method: _F) -> _F:
    """Runs ``method`` with its arguments checked (and normalized) by ``_RULES`` first. A
    parameter without a rule fails here, at import, so no new one goes unchecked."""
    signature = inspect.signature(method)
    unruled = [name for name in signature.parameters if name != "self" and name not in _RULES]
    if unruled:
        raise TypeError(f"{method.__qualname__}: no argument rule for {', '.join(unruled)}")

    @functools.wraps(method)
    def checked(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)  # a missing or unknown argument: Python's TypeError
        bound.apply_defaults()  # so an empty *argv is checked too
        for name, value in list(bound.arguments.items()):
            if name != "self" and not (value is None and signature.parameters[name].default is None):
                bound.arguments[name] = _RULES[name](name, value)
        return method(*bound.args, **bound.kwargs)

    return cast(_F, checked)


class _Setting:
    """An attribute of :class:`AVFS` checked by its ``_RULES`` rule whenever it is set, as the
    constructor checks it: ``client.call_timeout = "60"`` fails there, not at the next call."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.slot = f"_{name}"

    def __get__(self, obj: Any, objtype: Optional[type] = None) -> Any:
        return self if obj is None else getattr(obj, self.slot)

    def __set__(self, obj: Any, value: Any) -> None:
        setattr(obj, self.slot, None if value is None else _RULES[self.name](self.name, value))


class AVFS:
    """A client for one vault of one avfs home, through the ``avfs`` CLI.

    Args:
        vault: the vault every call uses (``--vault``); None means the CLI's choice
            (``$AVFS_VAULT``, else the vault chosen with ``use``).
        home: the avfs home (``--home``); None means ``$AVFS_HOME``, else ``~/.avfs``.
        binary: how to run the CLI; None finds it (see :mod:`agentvfs.cli`).
        call_timeout: seconds any one call may take (None or 0: no bound); past it the CLI is
            stopped and :class:`~agentvfs.errors.AvfsTimeoutError` raised. It bounds
            :meth:`proxy_exec` as a whole too, so give it more than the command's ``timeout``.

    Every method runs the CLI once and raises an :class:`~agentvfs.errors.AvfsError` subclass
    carrying the CLI's error ``code`` when it fails. Vault paths are absolute (``/src/app.py``).
    """

    vault = _Setting()
    home = _Setting()
    call_timeout = _Setting()

    @_checked
    def __init__(self, vault: Optional[str] = None, home: Optional[PathLike] = None, binary: Optional[Binary] = None, call_timeout: Optional[float] = None) -> None:
        self.vault = vault
        self.home = home
        self.argv0 = resolve_binary(binary)
        self.call_timeout = call_timeout

    def __repr__(self) -> str:
        return f"AVFS(vault={self.vault!r}, home={self.home!r}, binary={self.argv0!r}, call_timeout={self.call_timeout!r})"

    def _run(self, *args: str, stdin: Optional[bytes] = None, with_vault: bool = True) -> Dict[str, Any]:
        argv = [*self.argv0, "--json"]
        if self.home is not None:
            argv.append(f"--home={self.home}")
        if with_vault and self.vault is not None:
            argv.append(f"--vault={self.vault}")
        return run_json([*argv, *args], stdin=stdin, timeout=self.call_timeout)

    # Every public method below is @_checked: its arguments are what their annotations say (and
    # ``data`` is bytes, ``timeout`` a float, ``env`` a dict) by the time its body runs.

    # ---- vaults ---------------------------------------------------------------------------

    @_checked
    def create_vault(self, name: str, use: bool = False) -> Vault:
        """Creates an empty vault. With ``use``, it becomes the home's vault in use and this
        client's vault (later calls work in it), as ``use()`` makes it."""
        doc = self._run("vault", "create", *(["--use"] if use else []), "--", name, with_vault=False)
        if use:
            self.vault = name
        return build(Vault, doc["vault"])

    @_checked
    def fork_vault(self, target: str, *, source: Optional[str] = None, use: bool = False) -> Vault:
        """Forks ``source`` (default: this client's vault) into a new vault ``target``; returns the
        fork. With ``use``, the fork becomes the home's vault in use and this client's vault (later
        calls work in the fork), as ``use()`` makes it."""
        src = source if source is not None else self.vault
        if src is None:
            src = cast(str, field_of(field_of(self._run("vault", "info"), "vault", dict), "name", str))
        doc = self._run("vault", "fork", *(["--use"] if use else []), "--", src, target, with_vault=False)
        if use:
            self.vault = target
        return build(Vault, doc["vault"])

    @_checked
    def use(self, name: str) -> Vault:
        """Makes ``name`` the home's vault in use (``avfs vault use``) and this client's vault."""
        doc = self._run("vault", "use", "--", name, with_vault=False)
        self.vault = name
        return build(Vault, doc["vault"])

    # ---- files ----------------------------------------------------------------------------

    @_checked
    def write(self, path: str, data: Union[bytes, str], *, parents: bool = False, mode: Optional[int] = None) -> Entry:
        """Writes a file (bytes as they are, str as UTF-8), sent on stdin; returns its entry.
        ``parents`` creates missing directories; ``mode`` sets permission bits (e.g. ``0o755``)."""
        flags = ["--stdin"] + (["--parents"] if parents else []) + ([f"--mode={mode:04o}"] if mode is not None else [])
        return build(Entry, self._run("write", *flags, "--", path, stdin=cast(bytes, data)))

    @_checked
    def read(self, path: str) -> bytes:
        """The exact bytes of a file."""
        doc = self._run("cat", "--", path)
        return decode_base64(doc, "content") if doc.get("encoding") == "base64" else cast(str, field_of(doc, "content", str)).encode("utf-8")

    @_checked
    def ls(self, path: str = "/", *, all: bool = False) -> List[Entry]:
        """The entries of a directory (a file lists itself); names starting with "." only with ``all``."""
        doc = self._run("ls", *(["--all"] if all else []), "--", path)
        return [build(Entry, e) for e in field_of(doc, "entries", list)]

    @_checked
    def rm(self, path: str, *, recursive: bool = False) -> int:
        """Removes a file, symlink or empty directory (a directory with its contents when
        ``recursive``); returns how many entries were removed. History keeps every version."""
        return cast(int, field_of(self._run("rm", *(["--recursive"] if recursive else []), "--", path), "removed", int))

    # ---- checkpoints ----------------------------------------------------------------------

    @_checked
    def checkpoint_save(self, name: Optional[str] = None, message: Optional[str] = None) -> Checkpoint:
        """Saves the whole vault's state (an automatic unique name when ``name`` is None)."""
        args = ["checkpoint", "save"] + ([f"--message={message}"] if message is not None else [])
        doc = self._run(*args, *(["--", name] if name is not None else []))
        return build(Checkpoint, doc["checkpoint"])

    @_checked
    def checkpoint_restore(self, name: str) -> RestoreResult:
        """Makes the vault exactly the checkpoint's state, in one transaction."""
        return build(RestoreResult, self._run("checkpoint", "restore", "--", name))

    @_checked
    def checkpoint_list(self) -> List[Checkpoint]:
        """The vault's checkpoints, newest first."""
        return [build(Checkpoint, c) for c in field_of(self._run("checkpoint", "list"), "checkpoints", list)]

    # ---- the proxy boundary ---------------------------------------------------------------

    @_checked
    def proxy_exec(
        self,
        *argv: str,
        timeout: Optional[float] = None,
        checkpoint: Optional[bool] = None,
        cwd: Optional[str] = None,
        env: Optional[Mapping[str, str]] = None,
        approve: bool = False,
    ) -> ExecResult:
        """Runs a command through the proxy boundary: policy check, optional checkpoint, timeout,
        and the exact list of files it changed in the vault.

        Args:
            argv: the program and its arguments (no shell: use ``"sh", "-c", "..."`` for one).
            timeout: seconds before the command is killed (SIGTERM, then SIGKILL); None means
                the policy's (300 s by default). A timeout is a result (``timed_out``, exit 124),
                not an exception.
            checkpoint: True checkpoints the vault first (so :meth:`undo` can revert the run),
                False never does, None lets the policy decide.
            cwd: the working directory, a vault path (default ``/``).
            env: extra environment variables for the command.
            approve: run a command the policy marks ``require_approval``.

        Returns the result whatever the command's exit code. Raises
        :class:`~agentvfs.errors.DeniedError` when the policy refuses (the command never ran).
        """
        options: List[str] = []
        if timeout is not None:
            options.append(f"--timeout={math.ceil(timeout * 1000)}")
        if checkpoint is not None:
            options.append("--checkpoint" if checkpoint else "--no-checkpoint")
        if cwd is not None:
            options.append(f"--cwd={cwd}")
        options += [f"--env={key}={value}" for key, value in (env or {}).items()]
        if approve:
            options.append("--approve")
        return ExecResult.from_json(self._run("proxy", "exec", *options, "--", *argv))

    @_checked
    def undo(self, exec_id: str, *, force: bool = False) -> UndoResult:
        """Restores the checkpoint taken before exec ``exec_id`` (run with ``checkpoint=True``, or
        one the policy checkpointed). Raises :class:`~agentvfs.errors.ConflictError` (``CONFLICT``)
        when later changes by others would be lost, unless ``force``. With a client vault, an exec
        that ran in another vault is refused (``INVALID_ARGUMENT``), as the CLI's ``--vault``."""
        return UndoResult.from_json(self._run("proxy", "undo", *(["--force"] if force else []), "--", exec_id))
