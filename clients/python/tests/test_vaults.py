from typing import Callable, Optional

import pytest

from agentvfs import AVFS, AlreadyExistsError, ConflictError, InvalidInputError, Vault, VaultNotFoundError


def test_create_vault_returns_its_summary_and_selects_it_only_with_use(client: Callable[[Optional[str]], AVFS]) -> None:
    avfs = client(None)
    # The first vault created in a new home replaces its unused "default" and is the one in use.
    first = avfs.create_vault("first")
    assert isinstance(first, Vault)
    assert (first.name, first.parent, first.files, first.current) == ("first", None, 0, True)
    plain = avfs.create_vault("plain")
    assert (plain.name, plain.current) == ("plain", False)
    chosen = avfs.create_vault("chosen", use=True)
    assert chosen.current is True
    avfs.write("/where.txt", "here")  # a client without a vault uses the vault in use
    assert client("chosen").read("/where.txt") == b"here"


def test_create_vault_twice_raises_already_exists(ws: AVFS) -> None:
    with pytest.raises(AlreadyExistsError) as caught:
        ws.create_vault("ws")
    assert isinstance(caught.value, ConflictError)
    assert (caught.value.code, caught.value.exit_code) == ("ALREADY_EXISTS", 4)


def test_create_vault_with_a_bad_name_raises_invalid_name(ws: AVFS) -> None:
    with pytest.raises(InvalidInputError) as caught:
        ws.create_vault("no spaces allowed")
    assert (caught.value.code, caught.value.exit_code) == ("INVALID_NAME", 2)


def test_fork_vault_forks_the_clients_vault_and_both_change_independently(ws: AVFS, client: Callable[[Optional[str]], AVFS]) -> None:
    ws.write("/plan.md", "v1")
    fork = ws.fork_vault("ws-try")
    assert (fork.name, fork.parent, fork.detached, fork.ancestors, fork.files, fork.specials, fork.current) == ("ws-try", "ws", False, ["ws"], 1, 0, False)
    assert client("ws-try").fork_vault("ws-try-2").ancestors == ["ws-try", "ws"]
    client("ws-try").write("/plan.md", "v2")
    assert ws.read("/plan.md") == b"v1"
    assert client("ws-try").read("/plan.md") == b"v2"


def test_fork_vault_takes_an_explicit_source_and_use(ws: AVFS, client: Callable[[Optional[str]], AVFS]) -> None:
    ws.write("/a.txt", "a")
    fork = client(None).fork_vault("copy", source="ws", use=True)
    assert (fork.parent, fork.current) == ("ws", True)
    assert client(None).read("/a.txt") == b"a"


def test_fork_and_create_with_use_move_a_client_with_a_vault_along(ws: AVFS, client: Callable[[Optional[str]], AVFS]) -> None:
    # A client made for vault "ws" that forks with use=True works in the fork from then on, as
    # `vault fork --use` and use() do (it kept writing into "ws", the experiment landing in the parent).
    ws.write("/f.txt", "main")
    ws.fork_vault("exp", use=True)
    assert ws.vault == "exp"
    ws.write("/f.txt", "after")
    assert client("ws").read("/f.txt") == b"main"
    assert client("exp").read("/f.txt") == b"after"
    ws.create_vault("fresh", use=True)
    assert ws.vault == "fresh"
    assert ws.ls("/") == []
    # Without use, the client stays where it was.
    ws.fork_vault("side")
    assert ws.vault == "fresh"


def test_fork_vault_of_a_missing_vault_raises_vault_not_found(client: Callable[[Optional[str]], AVFS]) -> None:
    with pytest.raises(VaultNotFoundError) as caught:
        client("ghost").fork_vault("ghost-2")
    assert caught.value.code == "VAULT_NOT_FOUND"
    assert caught.value.data["vault"] == "ghost"


def test_use_selects_the_vault_for_the_home_and_the_client(ws: AVFS, client: Callable[[Optional[str]], AVFS]) -> None:
    avfs = client(None)
    avfs.create_vault("other")
    chosen = avfs.use("other")
    assert (chosen.name, chosen.current, avfs.vault) == ("other", True, "other")
    client(None).write("/in-other.txt", "x")  # a fresh client without a vault follows the home's choice
    assert [e.name for e in client("other").ls()] == ["in-other.txt"]
    assert ws.ls() == []


def test_use_of_a_missing_vault_raises_vault_not_found_and_keeps_the_clients_vault(ws: AVFS) -> None:
    with pytest.raises(VaultNotFoundError):
        ws.use("ghost")
    assert ws.vault == "ws"
