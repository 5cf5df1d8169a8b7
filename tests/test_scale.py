"""Speed-ups that must change nothing: the nearest-state index, the playtest's plays, the window's turns.

The index picks exactly the node the level scan picked, on a real grown graph and on random states
(measure 8 of the bench shows what it buys at 100,000 nodes); the playtest's fast plays are the
runtime's random plays, draw for draw. Otherwise stories and their reports would change.
"""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import TestWriter, generate

from ghost_story_factory.model import Story
from ghost_story_factory.pregenerator import builder as builder_module
from ghost_story_factory.pregenerator.builder import ARRIVAL_COST, TreeBuilder, Window
from ghost_story_factory.pregenerator.nearest import NearestIndex
from ghost_story_factory.pregenerator.state import GameState
from ghost_story_factory.runtime import random_fears, random_play
from ghost_story_factory.vocabulary import hhmm

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.scale import ScanBuilder  # noqa: E402 - the repository root must be importable first


def test_a_grown_graph_converges_exactly_where_the_scan_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    searches: list[str | None] = []
    indexed = builder_module.TreeBuilder._nearest

    def checked(self: TreeBuilder, state: GameState, depth: int) -> str | None:
        found = indexed(self, state, depth)
        assert found == ScanBuilder._nearest(self, state, depth)  # the bench's scan, the search before
        searches.append(found)
        return found

    monkeypatch.setattr(builder_module.TreeBuilder, "_nearest", checked)
    # Wide levels (1,500 nodes over depth 10: 150 a level) so most branches must converge.
    generate(
        tmp_path,
        TestWriter(),
        characters=("保安",),
        max_depth=10,
        max_nodes=1500,
        concurrency=8,
        checkpoint_every=500,
    )
    assert len(searches) > 500 and all(found is not None for found in searches)


def random_state(rng: random.Random) -> GameState:
    items = ("lamp", "key", "letter", "coin", "photo")
    flags: dict[str, Any] = {
        name: rng.choice([True, False, "open", 1]) for name in ("door", "call", "seen") if rng.random() < 0.4
    }
    return GameState(
        scene=rng.choice(["hall", "yard", "roof"]),
        pr=rng.randrange(0, 101),
        gr=rng.randrange(0, 101),
        wf=rng.randrange(0, 40),
        time=hhmm(rng.randrange(22 * 60, 24 * 60)),
        flags=flags,
        inventory=tuple(rng.sample(items, rng.randrange(0, 3))),
    )


def test_the_index_agrees_with_the_scan_on_random_states_and_growing_arrivals() -> None:
    rng = random.Random(11)
    index = NearestIndex(ARRIVAL_COST)
    levels: dict[int, list[tuple[str, GameState]]] = {1: [], 2: [], 4: []}
    arrivals: dict[str, int] = {}
    for number in range(1200):
        depth = rng.choice(list(levels))
        node_id = f"node_{number:04d}"
        state = random_state(rng)
        arrivals[node_id] = rng.randrange(1, 3)
        levels[depth].append((node_id, state))
        index.add(node_id, depth, state, arrivals[node_id])
        if number % 3 == 0:  # arrivals only grow, while the index holds older counts
            some = rng.choice(list(arrivals))
            arrivals[some] += 1
    for _ in range(600):
        query = random_state(rng)
        depth = rng.randrange(0, 6)
        expected = None
        for level in range(depth, 6):
            if levels.get(level):
                expected = min(
                    levels[level],
                    key=lambda entry: (
                        query.distance(entry[1]) + ARRIVAL_COST * arrivals[entry[0]],
                        entry[0],
                    ),
                )[0]
                break
        assert index.nearest(query, depth, 5, arrivals) == expected


def test_the_playtests_fast_plays_are_random_plays_draw_for_draw(offline_story_zh: dict[str, Any]) -> None:
    story = Story.model_validate(offline_story_zh)
    for character in story.characters:
        tree = character.tree
        slow_rng, fast_rng = random.Random(3), random.Random(3)
        slow = [random_play(tree, slow_rng) for _ in range(300)]
        fast = random_fears(tree, fast_rng, 300)
        assert fast == [([state.fear for state in states], states[-1].node) for states in slow]
        assert slow_rng.random() == fast_rng.random()  # the same draws, so the next one agrees too


def test_a_slot_given_back_goes_to_the_tree_that_has_waited_longest() -> None:
    async def main() -> list[str]:
        window = Window(1)
        assert window.take("first")  # one slot, taken
        late = window.wait("late", since=2.0)
        early = window.wait("early", since=1.0)
        assert not window.take("early") and not window.take("late")
        window.give()  # reserved for the tree whose level opened first, not for the first in line
        order = ["early" if early.done() else "late" if late.done() else "none"]
        assert not window.take("late") and window.take("early")
        window.leave("late")  # a tree that needs no slot any more gives up its place
        window.give()
        order.append("free" if window.take("anyone") else "held")
        return order

    assert asyncio.run(main()) == ["early", "free"]
