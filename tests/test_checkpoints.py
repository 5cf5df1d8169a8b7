"""Checkpoint files directly: safe names, atomic writes, failing saves, the journal."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

import orjson
import pytest

from ghost_story_factory.pregenerator.checkpoints import (
    CheckpointStore,
    Journal,
    TreeCheckpoint,
    safe_name,
    write_atomic,
)
from ghost_story_factory.pregenerator.state import GameState
from ghost_story_factory.pregenerator.tree import Tree
from ghost_story_factory.writers.base import Answer, Usage


@pytest.mark.parametrize(
    "name",
    [
        "上海",
        "Zoë🕯️",
        "a/b",
        "..",
        "../x",
        "a\\b",
        "con",
        "NUL",
        "x" * 300,
        "tab\there",
        "a_b",
        " .hidden",
        "é",
    ],
)
def test_safe_names_are_safe_and_distinct(name: str) -> None:
    safe = safe_name(name)
    assert safe and len(safe.encode("utf-8")) <= 110
    assert "/" not in safe and "\\" not in safe and ".." not in safe and not safe.startswith(".")
    assert all(unicodedata.category(ch)[0] != "C" for ch in safe)
    assert safe.upper() not in ("CON", "NUL")
    assert safe_name(unicodedata.normalize("NFD", name)) == safe  # NFC: one file per name


def test_readable_names_stay_readable_and_underscores_cannot_collide() -> None:
    assert safe_name("上海") == "上海" and safe_name("zoë🕯️") == "zoë🕯️"
    assert safe_name("Zoë🕯️").startswith("Zoë🕯️-")  # still readable; hashed since case could collide
    city_a, character_a = safe_name("a_b"), safe_name("c")
    city_b, character_b = safe_name("a"), safe_name("b_c")
    assert f"{city_a}_{character_a}" != f"{city_b}_{character_b}"
    assert safe_name("x" * 300) != safe_name("x" * 299)


def test_atomic_write_leaves_no_temp_file_and_replaces_whole(tmp_path: Path) -> None:
    target = tmp_path / "c.json"
    write_atomic(target, b"old")
    write_atomic(target, b"new" * 1000)
    assert target.read_bytes() == b"new" * 1000
    assert [p.name for p in tmp_path.iterdir()] == ["c.json"]


def test_a_failing_save_warns_and_generation_goes_on(tmp_path: Path) -> None:
    blocker = tmp_path / "checkpoints"
    blocker.write_text("a file where the folder should be")
    warnings: list[str] = []
    store = CheckpointStore(blocker, "上海", warnings.append)
    checkpoint = TreeCheckpoint("run", Tree.start(GameState(scene="s"), max_depth=8), Usage(), 0, 0.0)
    assert store.save_tree("保安", {}, checkpoint) is False
    assert (
        len(warnings) == 1 and "checkpoint not saved" in warnings[0] and "generation goes on" in warnings[0]
    )


def test_tree_checkpoint_round_trip(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, "上海", lambda _: None)
    tree = Tree.start(GameState(scene="s"), max_depth=8)
    store.save_tree("保安", {"max_nodes": 9}, TreeCheckpoint("run1", tree, Usage(3, 4, 1), 2, 1.5))
    loaded = store.load_tree("保安", "run1")
    assert loaded is not None and loaded.tree.to_dict() == tree.to_dict()
    assert (loaded.usage, loaded.calls, loaded.elapsed_seconds) == (Usage(3, 4, 1), 2, 1.5)


def test_a_tree_checkpoint_of_another_run_or_character_is_moved_aside(tmp_path: Path) -> None:
    warnings: list[str] = []
    store = CheckpointStore(tmp_path, "上海", warnings.append)
    tree = Tree.start(GameState(scene="s"), max_depth=8)
    store.save_tree("保安", {}, TreeCheckpoint("old-run", tree, Usage(), 0, 0.0))
    assert store.load_tree("保安", "new-run") is None
    assert list(tmp_path.glob("上海_保安_tree.json.corrupt-*"))
    assert "earlier run" in warnings[0]
    os.replace(next(tmp_path.glob("*.corrupt-*")), store.tree_path("调查员"))
    assert store.load_tree("调查员", "old-run") is None
    assert "another character" in warnings[1]


def test_journal_survives_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = Journal(path, lambda _: None)
    journal.append("k1", Answer({"a": 1}, Usage(5, 6, 0), 1))
    journal.append("k2", Answer({"b": 2}, Usage(1, 1, 1), 2))
    journal.close()
    with open(path, "ab") as handle:
        handle.write(b'{"key": "k3", "data": {"c"')  # the process died mid-write
    again = Journal(path, lambda _: None)
    assert len(again) == 2
    answer = again.get("k2")
    assert answer is not None and answer.data == {"b": 2} and answer.usage == Usage(1, 1, 1)
    assert answer.attempts == 0  # answered from the journal: no new call
    lines = path.read_bytes().splitlines()
    assert [orjson.loads(line)["key"] for line in lines[:2]] == ["k1", "k2"]


def test_cleanup_deletes_only_this_citys_files(tmp_path: Path) -> None:
    mine = CheckpointStore(tmp_path, "上海", lambda _: None)
    other = CheckpointStore(tmp_path, "上海_浦东", lambda _: None)
    tree = TreeCheckpoint("r", Tree.start(GameState(scene="s"), max_depth=8), Usage(), 0, 0.0)
    mine.save_tree("保安", {}, tree)
    other.save_tree("保安", {}, tree)
    deleted = mine.cleanup(["保安"])
    assert [p.name for p in deleted] == ["上海_保安_tree.json"]
    assert other.tree_path("保安").exists()


def test_billed_invalid_replies_survive_a_failed_run_and_join_the_answer_once(tmp_path: Path) -> None:
    """A reply that failed validation was still paid for: after the run gives up (or dies), the rerun's
    answer carries its tokens and calls, exactly once."""
    import asyncio

    from ghost_story_factory.errors import InvalidReply
    from ghost_story_factory.pregenerator.builder import answer
    from ghost_story_factory.writers.base import Reply, Request

    request = Request(kind="documents", schema_name="d", schema={"type": "object", "required": ["x"]},
                      system="s", prompt="p")  # fmt: skip

    class Billed:
        name, model = "openai", "m"

        def __init__(self, replies: list[str]) -> None:
            self.replies = replies
            self.seen: list[list] = []

        async def complete(self, request: Request, retries: list) -> Reply:
            self.seen.append(list(retries))
            return Reply(self.replies.pop(0), Usage(10, 5, 0))

        async def aclose(self) -> None: ...

    path = tmp_path / "journal.jsonl"
    first = Journal(path, warn=print)
    with pytest.raises(InvalidReply):
        asyncio.run(answer(Billed(["nope", "{}"]), first, request, attempts=2))
    first.close()
    second = Journal(path, warn=print)  # the rerun, in a new process
    assert second.spent_before(request.key()) == (Usage(20, 10, 0), 2)
    rerun = Billed(['{"x": 1}'])
    result = asyncio.run(answer(rerun, second, request, attempts=2))
    assert (result.usage, result.attempts) == (Usage(30, 15, 0), 3)
    # The rerun goes on with the re-ask, naming what was wrong: never the first attempt sent again.
    [history] = rerun.seen
    assert [r.reply for r in history] == ["nope", "{}"] and "x" in history[1].error
    second.close()
    third = Journal(path, warn=print)
    known = third.get(request.key())
    assert known is not None and known.usage == Usage(30, 15, 0) and third.attempts_of(request.key()) == 3
    assert third.spent_before(request.key()) == (Usage(), 0), "the failed replies must not be counted twice"


def test_a_process_that_opened_the_lock_before_it_was_deleted_cannot_run_beside_the_new_owner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A finished run deletes its lock file; a process that opened the old file just before locks the
    deleted file, sees the path now names another file, and meets the new owner's lock instead."""
    import fcntl

    from ghost_story_factory.errors import CheckpointLocked
    from ghost_story_factory.pregenerator import checkpoints

    first = CheckpointStore(tmp_path, "上海", print)
    newcomer = CheckpointStore(tmp_path, "上海", print)
    late = CheckpointStore(tmp_path, "上海", print)
    first.acquire_lock()
    real_flock = fcntl.flock
    raced = []

    def flock_after_the_race(fd: int, operation: int) -> None:
        if not raced:  # between late's open and its lock: the owner finishes and a new run starts
            raced.append(True)
            first.release_lock()
            assert not first.lock_path.exists()
            newcomer.acquire_lock()
        real_flock(fd, operation)

    monkeypatch.setattr(checkpoints.fcntl, "flock", flock_after_the_race)
    with pytest.raises(CheckpointLocked):
        late.acquire_lock()
    monkeypatch.setattr(checkpoints.fcntl, "flock", real_flock)
    newcomer.release_lock()
    assert not newcomer.lock_path.exists(), "a run that ends leaves no lock file"
    late.acquire_lock()  # free again
    late.release_lock()


def test_quarantining_twice_within_a_second_keeps_both_files(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, "上海", print)
    for content in (b"first broken", b"second broken"):
        store.characters_path.write_bytes(content)
        store.quarantine(store.characters_path, "test")
    kept = sorted(p.read_bytes() for p in tmp_path.glob("*.corrupt-*"))
    assert kept == [b"first broken", b"second broken"]


def test_names_that_could_share_a_file_never_do() -> None:
    assert safe_name("x:") != safe_name(safe_name("x:"))  # a literal name shaped like a changed one
    assert safe_name("Paris").casefold() != safe_name("paris").casefold()  # case-insensitive filesystems
    assert safe_name("CON.txt") != "CON.txt" and safe_name("con") != "con"
    long = safe_name("👻" * 60)
    assert len(long.encode("utf-8")) <= 110 and len(f"{long}_{long}_journal.jsonl".encode()) < 255
