"""agentvfs: a Python client for avfs, the workspace runtime for AI agents.

It wraps the ``avfs`` CLI's ``--json`` contract (standard library only)::

    from agentvfs import AVFS

    run = AVFS("agent-workspace").proxy_exec("cargo", "test")
    print(run.exit_code, run.stdout, [c.path for c in run.changed_files])
"""

from .client import AVFS
from .errors import (
    AlreadyExistsError,
    AvfsError,
    AvfsTimeoutError,
    BadOutputError,
    CheckpointNotFoundError,
    CliUnavailableError,
    ConflictError,
    DeniedError,
    FuseUnavailableError,
    HasForksError,
    InternalError,
    InvalidInputError,
    NotEmptyError,
    NotFoundError,
    NoVaultError,
    QuotaExceededError,
    ReadOnlyError,
    VaultNotFoundError,
    VersionNotFoundError,
)
from .models import ChangedFile, Checkpoint, Decision, Entry, ExecResult, RestoreResult, UndoResult, Vault

__version__ = "0.1.0"

__all__ = [
    "AVFS",
    "AlreadyExistsError",
    "AvfsError",
    "AvfsTimeoutError",
    "BadOutputError",
    "ChangedFile",
    "Checkpoint",
    "CheckpointNotFoundError",
    "CliUnavailableError",
    "ConflictError",
    "Decision",
    "DeniedError",
    "Entry",
    "ExecResult",
    "FuseUnavailableError",
    "HasForksError",
    "InternalError",
    "InvalidInputError",
    "NoVaultError",
    "NotEmptyError",
    "NotFoundError",
    "QuotaExceededError",
    "ReadOnlyError",
    "RestoreResult",
    "UndoResult",
    "Vault",
    "VaultNotFoundError",
    "VersionNotFoundError",
]
