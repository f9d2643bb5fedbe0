import pytest

from agentvfs import AVFS, AlreadyExistsError, Checkpoint, CheckpointNotFoundError, NotFoundError, RestoreResult


def test_checkpoint_save_returns_the_checkpoint_with_its_message(ws: AVFS) -> None:
    ws.write("/a.txt", "one")
    cp = ws.checkpoint_save("before-refactor", message="-m looks like a flag")
    assert isinstance(cp, Checkpoint)
    assert (cp.name, cp.message, cp.files, cp.bytes, cp.source, cp.exec_id) == ("before-refactor", "-m looks like a flag", 1, 3, "cli", None)


def test_checkpoint_save_without_a_name_picks_a_unique_one(ws: AVFS) -> None:
    first, second = ws.checkpoint_save(), ws.checkpoint_save()
    assert first.name and second.name and first.name != second.name


def test_checkpoint_save_twice_under_one_name_raises_already_exists(ws: AVFS) -> None:
    ws.checkpoint_save("cp")
    with pytest.raises(AlreadyExistsError) as caught:
        ws.checkpoint_save("cp")
    assert caught.value.code == "ALREADY_EXISTS"


def test_checkpoint_list_is_newest_first(ws: AVFS) -> None:
    assert ws.checkpoint_list() == []
    ws.checkpoint_save("first")
    ws.checkpoint_save("second")
    assert [c.name for c in ws.checkpoint_list()] == ["second", "first"]


def test_checkpoint_restore_brings_back_the_saved_state_and_saves_the_replaced_one(ws: AVFS) -> None:
    ws.write("/keep.txt", "original")
    ws.checkpoint_save("good")
    ws.write("/keep.txt", "broken")
    ws.write("/new.txt", "new")
    result = ws.checkpoint_restore("good")
    assert isinstance(result, RestoreResult)
    assert (result.checkpoint, result.added, result.deleted) == ("good", 0, 1)
    assert result.modified >= 1 and result.changed == result.added + result.modified + result.deleted
    assert ws.read("/keep.txt") == b"original"
    with pytest.raises(NotFoundError):
        ws.read("/new.txt")
    assert result.saved_before is not None
    ws.checkpoint_restore(result.saved_before)  # the replaced state is itself a checkpoint
    assert ws.read("/keep.txt") == b"broken"


def test_checkpoint_restore_of_a_missing_checkpoint_raises_checkpoint_not_found(ws: AVFS) -> None:
    with pytest.raises(CheckpointNotFoundError) as caught:
        ws.checkpoint_restore("never-saved")
    assert isinstance(caught.value, NotFoundError)
    assert (caught.value.code, caught.value.exit_code) == ("CHECKPOINT_NOT_FOUND", 3)
