"""Finding the ``avfs`` CLI and running it with ``--json``.

Which CLI runs, in this order (the first that applies wins):

1. ``binary=`` given to :class:`~agentvfs.AVFS`: a command name or path (a path ending in ``.js``
   is run with ``node``), or a sequence of strings used as the argv prefix as is
   (``["node", "/src/avfs/bin/avfs.js"]``);
2. ``avfs`` on ``PATH`` (``npm link`` or a global ``npm install`` put it there);
3. when this package is imported from an avfs checkout (``clients/python/src`` of the repository,
   for example installed with ``pip install -e``), that checkout's ``bin/avfs.js`` run with
   ``node`` (it needs ``npm run build`` first).

Otherwise :class:`~agentvfs.errors.CliUnavailableError`.
"""

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from .errors import AvfsTimeoutError, BadOutputError, CliUnavailableError, InvalidInputError, error_from_json

Binary = Union[str, "os.PathLike[str]", Sequence[str]]

#: How much of a bad stdout/stderr an error keeps.
_EXCERPT = 4000

#: Seconds a CLI past its call timeout gets between SIGTERM and SIGKILL: long enough for
#: ``proxy exec`` to end its command's processes (SIGTERM, then SIGKILL after the policy's
#: kill_after_ms, 2 s by default) and unmount what it mounted.
_STOP_GRACE = 10.0


def _unavailable(message: str) -> CliUnavailableError:
    return CliUnavailableError("CLI_UNAVAILABLE", message)


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        raise _unavailable("node is not on PATH: the avfs CLI needs Node.js 20 or later")
    return node


def _checkout_script() -> Optional[Path]:
    """``bin/avfs.js`` of the avfs checkout this module is part of, if it is (not a copy installed elsewhere)."""
    here = Path(__file__).resolve()
    root = here.parents[4]  # <root>/clients/python/src/agentvfs/cli.py
    script = root / "bin" / "avfs.js"
    return script if here == root / "clients" / "python" / "src" / "agentvfs" / "cli.py" and script.is_file() else None


def resolve_binary(binary: Optional[Binary] = None) -> List[str]:
    """The argv prefix that runs the avfs CLI (see the module docstring for the order)."""
    if binary is not None:
        if not isinstance(binary, (str, os.PathLike)):
            argv = [os.fspath(part) for part in binary]
            if not argv:
                raise _unavailable("binary= is an empty sequence")
            return argv
        path = os.fspath(binary)
        if not path.endswith(".js"):
            return [path]
        # node would start and fail on a script that is not there: the CLI is unavailable, as a missing binary is.
        if not os.path.isfile(path):
            raise _unavailable(f"binary={path!r}: no such file")
        return [_node(), path]
    on_path = shutil.which("avfs")
    if on_path is not None:
        return [on_path]
    script = _checkout_script()
    if script is not None:
        if not (script.parent.parent / "dist" / "cli" / "main.js").is_file():
            raise _unavailable(f"the avfs checkout at {script.parent.parent} is not built: run `npm install` (or `npm run build`) there")
        return [_node(), str(script)]
    raise _unavailable("avfs is not on PATH: install it (`npm link` in an avfs checkout) or pass AVFS(binary=...)")


def _excerpt(text: str) -> str:
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "…"


def run_json(argv: Sequence[str], stdin: Optional[bytes] = None, timeout: Optional[float] = None) -> Dict[str, Any]:
    """Runs the CLI (``argv`` includes ``--json``) and returns its one JSON document when it says
    ``ok``; raises the mapped :class:`~agentvfs.errors.AvfsError` when it reports a failure, and
    :class:`~agentvfs.errors.BadOutputError` when stdout is not exactly one avfs JSON document.
    The exit code alone decides nothing: ``proxy exec`` exits with its command's exit code.

    ``timeout`` (seconds; None or 0 for none) bounds the whole call: past it the CLI gets SIGTERM,
    then SIGKILL after a grace, and :class:`~agentvfs.errors.AvfsTimeoutError` is raised. Each
    change the CLI makes is one transaction, so a stopped call leaves it made whole or not at all."""
    try:
        # Its own process group, so that stopping it reaches what it started, and a Ctrl-C reaches
        # it once, through _stop, rather than twice.
        proc = subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    except OSError as err:
        raise _unavailable(f"cannot run {argv[0]}: {err.strerror or err}") from None
    except UnicodeEncodeError as err:  # a lone surrogate: the argument has no bytes to pass
        raise InvalidInputError("INVALID_ARGUMENT", f"an argument is not valid Unicode (it holds a lone surrogate: {err})", {"reason": "not_unicode"}) from None
    except ValueError as err:  # an argument with a NUL byte: no process can receive it
        raise InvalidInputError("INVALID_ARGUMENT", f"an argument cannot contain a NUL byte ({err})") from None
    raw_out, raw_err = _communicate(proc, stdin if stdin is not None else b"", timeout or None, argv)
    stdout = raw_out.decode("utf-8", "replace")
    stderr = raw_err.decode("utf-8", "replace")
    doc, problem = _parse(stdout)
    if doc is None:
        raise BadOutputError(
            "BAD_OUTPUT",
            f"avfs (exit {proc.returncode}) printed {problem} on stdout; stderr: {_excerpt(stderr.strip()) or '(empty)'}",
            {"stdout": _excerpt(stdout), "stderr": _excerpt(stderr), "argv": list(argv)},
            proc.returncode,
        )
    if doc["ok"] is False:
        raise error_from_json(doc["error"], proc.returncode)
    return doc


def _communicate(proc: "subprocess.Popen[bytes]", stdin: bytes, timeout: Optional[float], argv: Sequence[str]) -> Tuple[bytes, bytes]:
    """The CLI's stdout and stderr once it exits; past ``timeout``, stops it and raises."""
    try:
        return proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        out, err, how = _stop(proc)
        assert timeout is not None
        data: Dict[str, Any] = {"argv": list(argv), "seconds": timeout, "stdout": _excerpt(out.decode("utf-8", "replace")), "stderr": _excerpt(err.decode("utf-8", "replace"))}
        # A CLI that ends on SIGTERM still reports: `proxy exec` prints its run (exec_id, the
        # files changed so far), which the caller needs to undo it.
        doc, _ = _parse(out.decode("utf-8", "replace"))
        if doc is not None:
            data["document"] = doc
        raise AvfsTimeoutError(
            "TIMEOUT",
            f"avfs did not finish within the call timeout of {timeout:g} s and was stopped ({how}); what it changed is whole or absent",
            data,
            proc.returncode,
        ) from None
    except BaseException:  # KeyboardInterrupt in the caller: no CLI is left running behind it
        _stop(proc)
        raise


def _stop(proc: "subprocess.Popen[bytes]") -> Tuple[bytes, bytes, str]:
    """Stops the CLI's process group as a terminal's Ctrl-C would (SIGTERM, so that ``proxy exec``
    ends its command and unmounts), then SIGKILL after a grace; returns what it printed."""
    _signal_group(proc, signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=_STOP_GRACE)
        return out, err, "SIGTERM"
    except subprocess.TimeoutExpired:
        pass
    _signal_group(proc, signal.SIGKILL)
    try:
        out, err = proc.communicate(timeout=_STOP_GRACE)
    except subprocess.TimeoutExpired:  # a process that left the group still holds the output open
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        proc.wait()
        out, err = b"", b""
    return out, err, f"SIGTERM, then SIGKILL after {_STOP_GRACE:g} s"


def _signal_group(proc: "subprocess.Popen[bytes]", sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)  # its own group (start_new_session): the CLI and what it started
    except ProcessLookupError:
        pass


class _Document(Dict[str, Any]):
    """A JSON object of the CLI's document: a field the contract promises but the document lacks
    is BAD_OUTPUT (what the binary printed is wrong), never a bare KeyError from the client."""

    def __missing__(self, key: str) -> Any:
        raise BadOutputError("BAD_OUTPUT", f"avfs returned a document without its {key!r} field", {"document": dict(self)})


def _parse(stdout: str) -> Tuple[Optional[Dict[str, Any]], str]:
    """The one avfs document on stdout, or None and what is wrong with stdout instead."""
    try:
        # Refuses trailing data (a second document is an error) and NaN/Infinity, which are no JSON.
        doc = json.loads(stdout, object_hook=_Document, parse_constant=_no_constant)
    except (ValueError, RecursionError) as err:  # RecursionError: nesting deeper than Python's stack
        return None, "nothing" if not stdout.strip() else f"not one JSON document ({type(err).__name__}: {_excerpt(str(err))})"
    if not isinstance(doc, dict) or not isinstance(doc.get("ok"), bool):
        return None, "a JSON document without a boolean ok"
    error = doc.get("error")
    if doc["ok"] is False and not (isinstance(error, dict) and isinstance(error.get("code"), str) and error["code"] and isinstance(error.get("message"), str)):
        return None, "a failure without an error object of a code and a message"
    return doc, ""


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
