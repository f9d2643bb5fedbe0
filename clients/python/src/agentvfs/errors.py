"""Exceptions raised by the client.

Every failure the ``avfs`` CLI reports is one JSON document ``{"ok": false, "error": {"code": ...,
"message": ..., ...details}}``. The client raises it as an :class:`AvfsError` subclass chosen by
``code``. The classes follow the CLI's exit codes (one class per exit code), with subclasses for
the most common codes, so both ``except NotFoundError`` and ``except VaultNotFoundError`` work.
Branch on ``code`` or the class, never on ``message``: messages may change, codes do not.
"""

from typing import Any, Dict, Mapping, Optional, Tuple, Type


class AvfsError(Exception):
    """Base of every error the client raises.

    Attributes:
        code: the stable error code (``"NOT_FOUND"``, ``"DENIED"``, ...).
        message: the human message (may change between releases).
        data: the error's other fields (``path``, ``vault``, ...).
        exit_code: the exit code of the ``avfs`` process, or None when it did not run.
    """

    def __init__(self, code: str, message: str, data: Optional[Mapping[str, Any]] = None, exit_code: Optional[int] = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data: Dict[str, Any] = dict(data or {})
        self.exit_code = exit_code

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"

    def __reduce__(self) -> Tuple[Any, ...]:  # pickling (e.g. across multiprocessing) keeps every field
        return (type(self), (self.code, self.message, self.data, self.exit_code))


class InternalError(AvfsError):
    """Exit 1: an internal failure (``INTERNAL``, ``FUSE_UNAVAILABLE``)."""


class InvalidInputError(AvfsError):
    """Exit 2: usage errors and invalid input (``USAGE``, ``INVALID_PATH``, ``NO_VAULT``, ...)."""


class NotFoundError(AvfsError):
    """Exit 3: something does not exist (``NOT_FOUND`` and the specific ``*_NOT_FOUND`` codes)."""


class ConflictError(AvfsError):
    """Exit 4: already exists or conflicts (``ALREADY_EXISTS``, ``NOT_EMPTY``, ``HAS_FORKS``, ``CONFLICT``)."""


class DeniedError(AvfsError):
    """Exit 5: refused by the policy (``DENIED``) or a read-only mount (``READ_ONLY``)."""


class QuotaExceededError(AvfsError):
    """Exit 6: the vault's quota would be exceeded (``QUOTA_EXCEEDED``), or there is no room on
    the disk (``NO_SPACE``); nothing changed."""


class AvfsTimeoutError(AvfsError):
    """Exit 124: an avfs operation timed out (``TIMEOUT``). A command run by ``proxy_exec`` that
    times out is not an error: its result says ``timed_out``."""


class FuseUnavailableError(InternalError):
    """``FUSE_UNAVAILABLE``: mounting needs the FUSE 2 library and ``fusermount``."""


class NoVaultError(InvalidInputError):
    """``NO_VAULT``: no vault given and none in use."""


class VaultNotFoundError(NotFoundError):
    """``VAULT_NOT_FOUND``."""


class VersionNotFoundError(NotFoundError):
    """``VERSION_NOT_FOUND``."""


class CheckpointNotFoundError(NotFoundError):
    """``CHECKPOINT_NOT_FOUND`` (also: undoing an exec that took no checkpoint)."""


class AlreadyExistsError(ConflictError):
    """``ALREADY_EXISTS``."""


class NotEmptyError(ConflictError):
    """``NOT_EMPTY``."""


class HasForksError(ConflictError):
    """``HAS_FORKS``: deleting a vault that has forks."""


class ReadOnlyError(DeniedError):
    """``READ_ONLY``."""


class CliUnavailableError(AvfsError):
    """Client-side code ``CLI_UNAVAILABLE``: the ``avfs`` CLI could not be found or started."""


class BadOutputError(AvfsError):
    """Client-side code ``BAD_OUTPUT``: the CLI's stdout was not exactly one avfs JSON document.
    ``data`` holds ``stdout`` and ``stderr`` (each cut to 4000 characters)."""


#: The class for each exit code of the CLI (``src/errors.ts``, ``ExitCode``).
CLASS_BY_EXIT: Dict[int, Type[AvfsError]] = {
    1: InternalError,
    2: InvalidInputError,
    3: NotFoundError,
    4: ConflictError,
    5: DeniedError,
    6: QuotaExceededError,
    124: AvfsTimeoutError,
}

#: The class for each error code the CLI emits: every code of the table in ``src/errors.ts``.
CLASS_BY_CODE: Dict[str, Type[AvfsError]] = {
    "INTERNAL": InternalError,
    "FUSE_UNAVAILABLE": FuseUnavailableError,
    "USAGE": InvalidInputError,
    "INVALID_PATH": InvalidInputError,
    "INVALID_NAME": InvalidInputError,
    "INVALID_ARGUMENT": InvalidInputError,
    "INVALID_QUERY": InvalidInputError,
    "INVALID_PATTERN": InvalidInputError,
    "NO_VAULT": NoVaultError,
    "NOT_A_DIRECTORY": InvalidInputError,
    "IS_A_DIRECTORY": InvalidInputError,
    "NOT_FOUND": NotFoundError,
    "VAULT_NOT_FOUND": VaultNotFoundError,
    "VERSION_NOT_FOUND": VersionNotFoundError,
    "CHECKPOINT_NOT_FOUND": CheckpointNotFoundError,
    "ALREADY_EXISTS": AlreadyExistsError,
    "NOT_EMPTY": NotEmptyError,
    "HAS_FORKS": HasForksError,
    "CONFLICT": ConflictError,
    "DENIED": DeniedError,
    "READ_ONLY": ReadOnlyError,
    "QUOTA_EXCEEDED": QuotaExceededError,
    "NO_SPACE": QuotaExceededError,
    "TIMEOUT": AvfsTimeoutError,
    "CONTENT_MISSING": InternalError,
    "DATABASE_DAMAGED": InternalError,
    "SANDBOX_UNAVAILABLE": InternalError,
    "SCHEMA_TOO_NEW": ConflictError,
    "MERGE_CONFLICT": ConflictError,
    "UNRELATED_VAULTS": InvalidInputError,
    "MERGE_NOT_FOUND": NotFoundError,
    "NOT_TRACKED": NotFoundError,
}


def error_from_json(error: Mapping[str, Any], exit_code: Optional[int]) -> AvfsError:
    """The exception for the ``error`` object of a failed command. A code this client does not
    know (from a newer CLI) gets the class of its exit code, else :class:`AvfsError`."""
    code = str(error.get("code", "INTERNAL"))
    message = str(error.get("message", ""))
    data = {k: v for k, v in error.items() if k not in ("code", "message")}
    cls = CLASS_BY_CODE.get(code) or CLASS_BY_EXIT.get(exit_code if exit_code is not None else -1, AvfsError)
    return cls(code, message, data, exit_code)
