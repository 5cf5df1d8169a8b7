"""Whole generations on real files and a real SQLite library: resume, determinism, cleanup."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest
from helpers import TestWriter, generate, same_story

from ghost_story_factory.errors import InvalidReply, WriterUnavailable
from ghost_story_factory.library import Library
from ghost_story_factory.pregenerator.progress import SilentProgress
from ghost_story_factory.pregenerator.state import GameState
from ghost_story_factory.pregenerator.story import export_tree
from ghost_story_factory.pregenerator.tree import Tree, validate


def _tree_of(character: dict) -> Tree:
    """A finished export tree back in the internal form, to run ``validate`` on it: each shared
    node's arrivals and bridges come back from the choices that lead there."""
    exported = character["tree"]
    nodes = {}
    for nid, node in exported["nodes"].items():
        nodes[nid] = {**node, "id": nid, "parent": None, "via": None, "must_end": None}
    incoming: dict[str, list] = {}
    for nid in sorted(exported["nodes"]):
        for index, choice in enumerate(exported["nodes"][nid]["choices"]):
            incoming.setdefault(choice["next"], []).append((nid, index, choice["bridge"]))
    for nid, arrivals in incoming.items():
        if len(arrivals) > 1:
            nodes[nid]["arrivals"] = [[parent, index] for parent, index, _ in arrivals]
            nodes[nid]["bridges"] = [bridge for _, _, bridge in arrivals]
    return Tree.from_dict(
        {
            "root": exported["root"],
            "nodes": nodes,
            "queue": [],
            "registry": {},
            "node_counter": len(nodes),
            "runtime_endings": exported["runtime_endings"],
        }
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, int]:
    """An uninterrupted run and the number of writer calls it took."""
    writer = TestWriter()
    result = generate(tmp_path_factory.mktemp("reference"), writer)
    return result.story, writer.calls


def test_uninterrupted_run_saves_a_valid_story_and_cleans_up(tmp_path: Path) -> None:
    progress = SilentProgress()
    result = generate(tmp_path, TestWriter(), progress=progress)
    assert result.story_id == 1 and not result.resumed
    assert {p.name for p in result.deleted} >= {
        "上海_characters.json",
        "上海_保安_tree.json",
        "上海_调查员_tree.json",
    }
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == []
    with Library(tmp_path / "library.db") as library:
        assert library.get(result.story_id) == result.story, "the library gives back another story"
    for character in result.story["characters"]:
        assert validate(_tree_of(character), max_nodes=40) == []
    assert result.story["meta"]["offline"] is True and result.story["meta"]["backend"] == "offline"
    assert any("checkpoint" in line for line in progress.lines)


def test_default_settings_give_a_deep_playable_tree(tmp_path: Path) -> None:
    result = generate(
        tmp_path,
        TestWriter(),
        characters=("保安",),
        max_depth=20,
        max_nodes=300,
        concurrency=8,
        checkpoint_every=50,
    )
    report = result.story["characters"][0]["report"]
    assert report["nodes"] <= 300
    assert report["main_path_length"] >= 15, report
    assert len(report["endings_by_type"]) >= 3, report
    assert validate(_tree_of(result.story["characters"][0]), max_nodes=300) == []


def test_same_story_at_concurrency_1_and_8(tmp_path: Path, reference: tuple[dict, int]) -> None:
    one = generate(tmp_path / "one", TestWriter(latency_ms=1), concurrency=1)
    eight = generate(tmp_path / "eight", TestWriter(latency_ms=1), concurrency=8)
    assert not same_story(one.story, eight.story)
    assert not same_story(one.story, reference[0])


@pytest.mark.parametrize("fail_after", [0, 1, 5, 23, 41, 60])
def test_interrupted_run_resumes_to_the_same_story(
    tmp_path: Path, reference: tuple[dict, int], fail_after: int
) -> None:
    """Backend down after K calls (during documents, mid-character, between characters), then back."""
    story, calls_uninterrupted = reference
    broken = TestWriter(fail_after=fail_after)
    with pytest.raises(WriterUnavailable):
        generate(tmp_path, broken)
    assert list((tmp_path / "checkpoints").glob("*.json")) or fail_after == 0
    healthy = TestWriter()
    resumed = generate(tmp_path, healthy)
    assert not same_story(resumed.story, story)
    # Only calls that were in flight when the backend went down are asked again (journal).
    concurrency = 4
    answered_by_broken = min(fail_after, broken.calls)
    assert answered_by_broken + healthy.calls <= calls_uninterrupted + concurrency
    assert resumed.resumed == (fail_after > 0)
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == []


def test_checkpoint_holds_what_the_design_promises(tmp_path: Path) -> None:
    with pytest.raises(WriterUnavailable):
        generate(tmp_path, TestWriter(fail_after=30, tokens=10))
    folder = tmp_path / "checkpoints"
    tree = orjson.loads((folder / "上海_保安_tree.json").read_bytes())
    assert tree["city"] == "上海" and tree["character"] == "保安" and tree["format_version"] == 2
    for key in (
        "tree",
        "settings",
        "run_id",
        "node_counter",
        "current_depth",
        "tokens",
        "elapsed_seconds",
        "generated_at",
    ):
        assert key in tree
    assert tree["tree"]["queue"] and tree["tree"]["registry"]
    assert tree["tokens"]["total"] > 0
    story = orjson.loads((folder / "上海_characters.json").read_bytes())
    assert story["completed_count"] == "0/2" and story["documents"]["title"]
    assert [c["name"] for c in story["characters"]] == ["保安", "调查员"]
    plan = story["plans"]["保安"]  # written once, kept for the resume
    assert [b["depth"] for b in plan["beats"]] == list(range(9)) and plan["endings"] and plan["clues"]
    assert str(tmp_path) not in (folder / "上海_characters.json").read_text()  # no absolute paths


def test_tokens_survive_resume(tmp_path: Path) -> None:
    """Every billed reply is counted once, however often the run was interrupted."""
    full = generate(tmp_path / "full", TestWriter(tokens=7))
    with pytest.raises(WriterUnavailable):
        generate(tmp_path / "cut", TestWriter(fail_after=33, tokens=7))
    resumed = generate(tmp_path / "cut", TestWriter(tokens=7))
    assert full.story["meta"]["tokens"]["total"] > 0
    assert resumed.story["meta"]["tokens"] == full.story["meta"]["tokens"]
    assert resumed.story["meta"]["calls"] == full.story["meta"]["calls"]


def test_resume_after_copying_checkpoints_elsewhere(tmp_path: Path, reference: tuple[dict, int]) -> None:
    with pytest.raises(WriterUnavailable):
        generate(tmp_path / "machine_a", TestWriter(fail_after=30))
    shutil.copytree(tmp_path / "machine_a" / "checkpoints", tmp_path / "machine_b" / "checkpoints")
    shutil.rmtree(tmp_path / "machine_a")
    writer = TestWriter()
    resumed = generate(tmp_path / "machine_b", writer)
    assert resumed.resumed
    assert not same_story(resumed.story, reference[0])
    assert writer.calls < reference[1] - 25


@pytest.mark.parametrize("damage", ["truncate", "garbage", "version", "other_city"])
def test_unusable_character_checkpoint_is_moved_aside(tmp_path: Path, damage: str) -> None:
    with pytest.raises(WriterUnavailable):
        generate(tmp_path, TestWriter(fail_after=30))
    path = tmp_path / "checkpoints" / "上海_characters.json"
    data = orjson.loads(path.read_bytes())
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "garbage":
        path.write_bytes(b"\x00\xffnot json")
    elif damage == "version":
        path.write_bytes(orjson.dumps({**data, "format_version": 99}))
    else:
        path.write_bytes(orjson.dumps({**data, "city": "北京"}))
    progress = SilentProgress()
    result = generate(tmp_path, TestWriter(), progress=progress)
    assert result.story_id == 1
    moved = list((tmp_path / "checkpoints").glob("上海_characters.json.corrupt-*"))
    assert len(moved) == 1
    assert any("上海_characters.json" in w and "moved to" in w for w in progress.warnings)


def test_inconsistent_tree_checkpoint_is_moved_aside(tmp_path: Path, reference: tuple[dict, int]) -> None:
    with pytest.raises(WriterUnavailable):
        generate(tmp_path, TestWriter(fail_after=30))
    path = tmp_path / "checkpoints" / "上海_保安_tree.json"
    data = orjson.loads(path.read_bytes())
    first = next(n for n in data["tree"]["nodes"].values() if n["choices"])
    first["choices"][0]["next"] = "node_9999"
    path.write_bytes(orjson.dumps(data))
    progress = SilentProgress()
    result = generate(tmp_path, TestWriter(), progress=progress)
    assert not same_story(result.story, reference[0])
    assert list((tmp_path / "checkpoints").glob("*_tree.json.corrupt-*"))
    assert any("node_9999" in w for w in progress.warnings)


def test_invalid_replies_are_asked_again_and_never_stored(
    tmp_path: Path, reference: tuple[dict, int]
) -> None:
    writer = TestWriter(garbage={3, 10, 11, 25})
    result = generate(tmp_path, writer)
    assert not same_story(result.story, reference[0])
    assert writer.calls == reference[1] + 4


def test_always_invalid_replies_stop_the_run_resumably(tmp_path: Path) -> None:
    writer = TestWriter(garbage=set(range(20, 10_000)))
    with pytest.raises(InvalidReply):
        generate(tmp_path, writer)
    assert (tmp_path / "checkpoints" / "上海_characters.json").exists()
    assert generate(tmp_path, TestWriter()).story_id == 1


def test_crash_between_save_and_cleanup_gives_no_duplicate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ghost_story_factory.pregenerator.checkpoints import CheckpointStore

    def crash(self: CheckpointStore, characters: list[str]) -> list[Path]:
        raise KeyboardInterrupt("power cut")

    with monkeypatch.context() as patch:
        patch.setattr(CheckpointStore, "cleanup", crash)
        with pytest.raises(KeyboardInterrupt):
            generate(tmp_path, TestWriter())
    again = generate(tmp_path, TestWriter())
    assert again.already_saved and again.story_id == 1
    with Library(tmp_path / "library.db") as library:
        assert len(library.list()) == 1
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == []


def test_export_tree_keeps_only_public_fields() -> None:
    tree = Tree.start(GameState(scene="s"), max_depth=8)
    tree.nodes["node_0000"].narrative = "x"
    exported = export_tree(tree.to_dict())
    assert set(exported["nodes"]["node_0000"]) == {"depth", "narrative", "state", "choices", "ending"}


def test_every_resume_is_counted_even_when_killed_again_before_any_save(tmp_path: Path) -> None:
    with pytest.raises(WriterUnavailable):
        generate(tmp_path, TestWriter(fail_after=12))
    for _ in range(2):  # two more runs that die at once, before a tree checkpoint is due
        with pytest.raises(WriterUnavailable):
            generate(tmp_path, TestWriter(fail_after=0))
    done = generate(tmp_path, TestWriter())
    assert done.story["meta"]["resumes"] == 3


def test_a_call_that_fails_for_good_lets_the_calls_in_flight_land_in_the_journal(tmp_path: Path) -> None:
    """Every billed reply is accounted for when a run stops on a failure: the calls in flight beside the
    failed one finish within the grace period and are journaled, so the rerun never pays for them again.
    (A server bills a request it has started, so this writer bills at the start of every call.)"""
    import asyncio

    class SlowBeside(TestWriter):
        started = 0

        async def complete(self, request, retries):  # type: ignore[no-untyped-def]
            self.started += 1
            if self.started != 14:
                await asyncio.sleep(0.2)  # the others are slow: they are in flight when 14 fails
            return await super().complete(request, retries)

    writer = SlowBeside(garbage={14}, tokens=5)
    with pytest.raises(InvalidReply):
        generate(tmp_path, writer, attempts=1, concurrency=4, characters=("保安",))
    journaled = 0
    for path in (tmp_path / "checkpoints").glob("*journal.jsonl"):
        for line in path.read_bytes().splitlines():
            journaled += orjson.loads(line)["usage"]["total"]
    assert writer.started > 14 and journaled == writer.started * 10, (writer.started, journaled)
