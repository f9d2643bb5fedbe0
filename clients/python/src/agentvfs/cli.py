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
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from .errors import BadOutputError, CliUnavailableError, InvalidInputError, error_from_json

Binary = Union[str, "os.PathLike[str]", Sequence[str]]

#: How much of a bad stdout/stderr an error keeps.
_EXCERPT = 4000


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
        return [_node(), path] if path.endswith(".js") else [path]
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


def run_json(argv: Sequence[str], stdin: Optional[bytes] = None) -> Dict[str, Any]:
    """Runs the CLI (``argv`` includes ``--json``) and returns its one JSON document when it says
    ``ok``; raises the mapped :class:`~agentvfs.errors.AvfsError` when it reports a failure, and
    :class:`~agentvfs.errors.BadOutputError` when stdout is not exactly one avfs JSON document.
    The exit code alone decides nothing: ``proxy exec`` exits with its command's exit code."""
    try:
        proc = subprocess.run(
            list(argv),
            input=stdin if stdin is not None else b"",
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            check=False,
        )
    except OSError as err:
        raise _unavailable(f"cannot run {argv[0]}: {err.strerror or err}") from None
    except UnicodeEncodeError as err:  # a lone surrogate: the argument has no bytes to pass
        raise InvalidInputError("INVALID_ARGUMENT", f"an argument is not valid Unicode (it holds a lone surrogate: {err})", {"reason": "not_unicode"}) from None
    except ValueError as err:  # an argument with a NUL byte: no process can receive it
        raise InvalidInputError("INVALID_ARGUMENT", f"an argument cannot contain a NUL byte ({err})") from None
    stdout = proc.stdout.decode("utf-8", "replace")
    stderr = proc.stderr.decode("utf-8", "replace")
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
