"""The AVFS class: one method per CLI command, each one ``avfs --json`` process."""

import base64
import math
import os
from typing import Any, Dict, List, Mapping, Optional, Union

from .cli import Binary, resolve_binary, run_json
from .errors import InvalidInputError
from .models import Checkpoint, Entry, ExecResult, RestoreResult, UndoResult, Vault, build

PathLike = Union[str, "os.PathLike[str]"]


def _vault_path(path: str) -> str:
    """A vault path checked for what cannot reach the CLI as it is: a NUL byte (no process argument
    holds one) or a lone surrogate (not UTF-8). Both are ``INVALID_PATH``, as the CLI, the SDK and
    MCP say for such a path; nothing runs. A path that is not a str is ``INVALID_PATH`` too (it
    failed in ``subprocess`` with a TypeError)."""
    if not isinstance(path, str):
        raise InvalidInputError("INVALID_PATH", f"invalid path {path!r}: a vault path must be a str, not {type(path).__name__}", {"path": repr(path), "reason": "not_a_string"})
    reason = "contains a NUL byte" if "\0" in path else None if _is_utf8(path) else "is not valid Unicode (it holds a lone surrogate)"
    if reason is not None:
        raise InvalidInputError("INVALID_PATH", f"invalid path {path!r}: {reason}", {"path": path, "reason": reason})
    return path


def _flag(option: str, value: Any, optional: bool = False) -> bool:
    """A keyword boolean checked before anything runs: only True or False (or None where
    ``optional``); anything else is ``INVALID_ARGUMENT`` naming the option. A string was read as
    true, so ``rm(path, recursive="false")`` removed the whole tree."""
    if not isinstance(value, bool) and not (optional and value is None):
        expected = "True, False or None" if optional else "True or False"
        raise InvalidInputError("INVALID_ARGUMENT", f"invalid {option}: {expected}, not {value!r}", {"option": option})
    return bool(value)


def _text(option: str, value: Any, optional: bool = False) -> Optional[str]:
    """A text argument (a vault, checkpoint or exec name, a message, an environment value) checked
    before anything runs: a str (or None where ``optional``) that a process argument can carry, so
    no NUL byte and no lone surrogate. Anything else is ``INVALID_ARGUMENT`` naming the argument:
    a number or None failed as a raw TypeError, or was quietly made a name (``vault=5``)."""
    if optional and value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInputError("INVALID_ARGUMENT", f"invalid {option}: a str, not {type(value).__name__} {value!r}", {"option": option})
    if "\0" in value or not _is_utf8(value):
        raise InvalidInputError("INVALID_ARGUMENT", f"invalid {option} {value!r}: it holds a NUL byte or a lone surrogate, which no process argument can carry", {"option": option})
    return value


def _seconds(option: str, value: Any) -> float:
    """A duration in seconds: an int or float (never a bool, which is an int to Python: True was
    one second), finite and not negative."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise InvalidInputError("INVALID_ARGUMENT", f"{option} must be a finite number of seconds, 0 or more (0 for none), not {value!r}", {"option": option, option: repr(value)})
    return float(value)


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


class AVFS:
    """A client for one vault of one avfs home, through the ``avfs`` CLI.

    Args:
        vault: the vault every call uses (``--vault``); None means the CLI's choice
            (``$AVFS_VAULT``, else the vault chosen with ``use``).
        home: the avfs home (``--home``); None means ``$AVFS_HOME``, else ``~/.avfs``.
        binary: how to run the CLI; None finds it (see :mod:`agentvfs.cli`).

    Every method runs the CLI once and raises an :class:`~agentvfs.errors.AvfsError` subclass
    carrying the CLI's error ``code`` when it fails. Vault paths are absolute (``/src/app.py``).
    """

    def __init__(self, vault: Optional[str] = None, home: Optional[PathLike] = None, binary: Optional[Binary] = None) -> None:
        self.vault = _text("vault", vault, optional=True)
        if home is not None and not isinstance(home, (str, os.PathLike)):
            raise InvalidInputError("INVALID_ARGUMENT", f"invalid home: a str or path, not {type(home).__name__} {home!r}", {"option": "home"})
        self.home = _text("home", os.path.expanduser(os.fspath(home)), optional=False) if home is not None else None
        self.argv0 = resolve_binary(binary)

    def __repr__(self) -> str:
        return f"AVFS(vault={self.vault!r}, home={self.home!r}, binary={self.argv0!r})"

    def _run(self, *args: str, stdin: Optional[bytes] = None, with_vault: bool = True) -> Dict[str, Any]:
        argv = [*self.argv0, "--json"]
        if self.home is not None:
            argv.append(f"--home={self.home}")
        if with_vault and self.vault is not None:
            argv.append(f"--vault={self.vault}")
        return run_json([*argv, *args], stdin=stdin)

    # ---- vaults ---------------------------------------------------------------------------

    def create_vault(self, name: str, use: bool = False) -> Vault:
        """Creates an empty vault (and makes it the home's vault in use when ``use``)."""
        _text("name", name)
        doc = self._run("vault", "create", *(["--use"] if _flag("use", use) else []), "--", name, with_vault=False)
        return build(Vault, doc["vault"])

    def fork_vault(self, target: str, *, source: Optional[str] = None, use: bool = False) -> Vault:
        """Forks ``source`` (default: this client's vault) into a new vault ``target``; returns the fork."""
        _text("target", target)
        _text("source", source, optional=True)
        _flag("use", use)
        src = source if source is not None else self.vault
        if src is None:
            src = self._run("vault", "info")["vault"]["name"]
        doc = self._run("vault", "fork", *(["--use"] if use else []), "--", src, target, with_vault=False)
        return build(Vault, doc["vault"])

    def use(self, name: str) -> Vault:
        """Makes ``name`` the home's vault in use (``avfs vault use``) and this client's vault."""
        doc = self._run("vault", "use", "--", _text("name", name), with_vault=False)
        self.vault = name
        return build(Vault, doc["vault"])

    # ---- files ----------------------------------------------------------------------------

    def write(self, path: str, data: Union[bytes, str], *, parents: bool = False, mode: Optional[int] = None) -> Entry:
        """Writes a file (bytes as they are, str as UTF-8), sent on stdin; returns its entry.
        ``parents`` creates missing directories; ``mode`` sets permission bits (e.g. ``0o755``)."""
        # bytes(123) would be 123 NUL bytes: only text and byte buffers are content.
        path = _vault_path(path)
        _flag("parents", parents)
        if isinstance(data, str):
            try:
                content = data.encode("utf-8")
            except UnicodeEncodeError as err:
                # As the SDK: stored as UTF-8, a lone surrogate would silently become another character.
                raise InvalidInputError("INVALID_ARGUMENT", f"data is not valid Unicode text (a lone surrogate at index {err.start}): pass bytes for binary content", {"reason": "not_unicode", "index": err.start}) from None
        elif isinstance(data, (bytes, bytearray, memoryview)):
            content = bytes(data)
        else:
            raise InvalidInputError("INVALID_ARGUMENT", f"data must be str or bytes, not {type(data).__name__}", {"type": type(data).__name__})
        if mode is not None and (isinstance(mode, bool) or not isinstance(mode, int) or not 0 <= mode <= 0o7777):
            raise InvalidInputError("INVALID_ARGUMENT", f"mode must be an int of permission bits (e.g. 0o755), not {mode!r}", {"mode": repr(mode)})
        flags = ["--stdin"] + (["--parents"] if parents else []) + ([f"--mode={mode:04o}"] if mode is not None else [])
        return build(Entry, self._run("write", *flags, "--", path, stdin=content))

    def read(self, path: str) -> bytes:
        """The exact bytes of a file."""
        doc = self._run("cat", "--", _vault_path(path))
        content = str(doc["content"])
        return base64.b64decode(content) if doc.get("encoding") == "base64" else content.encode("utf-8")

    def ls(self, path: str = "/", *, all: bool = False) -> List[Entry]:
        """The entries of a directory (a file lists itself); names starting with "." only with ``all``."""
        doc = self._run("ls", *(["--all"] if _flag("all", all) else []), "--", _vault_path(path))
        return [build(Entry, e) for e in doc["entries"]]

    def rm(self, path: str, *, recursive: bool = False) -> int:
        """Removes a file, symlink or empty directory (a directory with its contents when
        ``recursive``); returns how many entries were removed. History keeps every version."""
        return int(self._run("rm", *(["--recursive"] if _flag("recursive", recursive) else []), "--", _vault_path(path))["removed"])

    # ---- checkpoints ----------------------------------------------------------------------

    def checkpoint_save(self, name: Optional[str] = None, message: Optional[str] = None) -> Checkpoint:
        """Saves the whole vault's state (an automatic unique name when ``name`` is None)."""
        _text("name", name, optional=True)
        args = ["checkpoint", "save"] + ([f"--message={message}"] if _text("message", message, optional=True) is not None else [])
        doc = self._run(*args, *(["--", name] if name is not None else []))
        return build(Checkpoint, doc["checkpoint"])

    def checkpoint_restore(self, name: str) -> RestoreResult:
        """Makes the vault exactly the checkpoint's state, in one transaction."""
        return build(RestoreResult, self._run("checkpoint", "restore", "--", _text("name", name)))

    def checkpoint_list(self) -> List[Checkpoint]:
        """The vault's checkpoints, newest first."""
        return [build(Checkpoint, c) for c in self._run("checkpoint", "list")["checkpoints"]]

    # ---- the proxy boundary ---------------------------------------------------------------

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
        if not argv:
            raise TypeError("proxy_exec() needs a command, e.g. proxy_exec('make', 'test')")
        for arg in argv:
            if not isinstance(arg, str):
                raise InvalidInputError("INVALID_ARGUMENT", f"invalid argv: each word a str, not {arg!r}", {"option": "argv"})
        _flag("checkpoint", checkpoint, optional=True)
        _flag("approve", approve)
        options: List[str] = []
        if timeout is not None:
            options.append(f"--timeout={math.ceil(_seconds('timeout', timeout) * 1000)}")
        if checkpoint is not None:
            options.append("--checkpoint" if checkpoint else "--no-checkpoint")
        if cwd is not None:
            options.append(f"--cwd={_vault_path(cwd)}")
        if env is not None and not isinstance(env, Mapping):
            raise InvalidInputError("INVALID_ARGUMENT", f"invalid env: a mapping of str to str, not {type(env).__name__}", {"option": "env"})
        for key, value in (env or {}).items():
            # The CLI splits --env at the first "=": a name holding one would set another variable.
            if not isinstance(key, str) or not key or "=" in key:
                raise InvalidInputError("INVALID_ARGUMENT", f"invalid environment variable name {key!r}", {"option": "env", "name": repr(key)})
            options.append(f"--env={_text('env', key)}={_text(f'env[{key!r}]', value)}")
        if approve:
            options.append("--approve")
        return ExecResult.from_json(self._run("proxy", "exec", *options, "--", *argv))

    def undo(self, exec_id: str, *, force: bool = False) -> UndoResult:
        """Restores the checkpoint taken before exec ``exec_id`` (run with ``checkpoint=True``, or
        one the policy checkpointed). Raises :class:`~agentvfs.errors.ConflictError` (``CONFLICT``)
        when later changes by others would be lost, unless ``force``. With a client vault, an exec
        that ran in another vault is refused (``INVALID_ARGUMENT``), as the CLI's ``--vault``."""
        _text("exec_id", exec_id)
        return UndoResult.from_json(self._run("proxy", "undo", *(["--force"] if _flag("force", force) else []), "--", exec_id))
