"""The runtime rules (docs/export-format.md): a player's state is what their own path did."""

from __future__ import annotations

import random
from typing import Any

import pytest

from ghost_story_factory import runtime
from ghost_story_factory.errors import StoryFormatError
from ghost_story_factory.model import Tree, load_story
from ghost_story_factory.playtest import spearman
from ghost_story_factory.prose import repetition, sentences


def _state(scene: str, pr: int = 5, time: str = "00:00", **more: Any) -> dict[str, Any]:
    return {"scene": scene, "PR": pr, "GR": 0, "WF": 0, "time": time, "flags": {}, "inventory": [], **more}


def _choice(
    text: str, nxt: str, pr: int = 0, minutes: int = 10, bridge: str = "", **more: Any
) -> dict[str, Any]:
    consequences = {"PR": pr, "GR": 0, "WF": 0, "minutes": minutes, "scene": None, "flags": {}, "items": []}
    consequences.update(more)
    return {"text": text, "consequences": consequences, "next": nxt, "bridge": bridge}


def _ending(kind: str, depth: int, scene: str = "hall") -> dict[str, Any]:
    return {
        "depth": depth,
        "narrative": f"{kind} ending.",
        "state": _state(scene),
        "choices": [],
        "ending": {"type": kind, "title": kind, "reason": "writer"},
    }


def _tree() -> Tree:
    """root -> a (gains a key, +60 fear) or b (+10 fear); a and b both lead to shared (bridged), which
    was written for a path with an EARLIER clock and no key; shared -> escape or a fear_collapse ending."""
    nodes = {
        "root": {"depth": 0, "narrative": "Start.", "state": _state("hall"), "ending": None,
                 "choices": [_choice("Take the key", "a", pr=60, minutes=30, items=["key"]),
                             _choice("Wait", "b", pr=10, minutes=200)]},
        "a": {"depth": 1, "narrative": "A.", "state": _state("cellar", pr=65, time="00:30"), "ending": None,
              "choices": [_choice("On from a", "shared", pr=40, bridge="You climb up from the cellar."),
                          _choice("Hide", "esc")]},
        "b": {"depth": 1, "narrative": "B.", "state": _state("hall", pr=15, time="03:20"), "ending": None,
              "choices": [_choice("On from b", "shared", minutes=5, bridge="You leave the hall."),
                          _choice("Sit", "esc", minutes=50)]},
        "shared": {"depth": 2, "narrative": "The attic.", "state": _state("attic", pr=30, time="00:20"),
                   "ending": None, "choices": [_choice("Run", "esc2"), _choice("Scream", "fearend", pr=99)]},
        "esc": _ending("escape", 2),
        "esc2": _ending("escape", 3, "attic"),
        "fearend": _ending("fear_collapse", 3, "attic"),
        "rt_fear": _ending("fear_collapse", 3),
        "rt_dawn": _ending("dawn", 3),
    }  # fmt: skip
    story = {
        "meta": {"format_version": 2},
        "story": {"title": "t", "city": "c", "lang": "en"},
        "characters": [
            {"name": "n", "tree": {"root": "root", "nodes": nodes,
                                   "runtime_endings": {"fear_collapse": "rt_fear", "dawn": "rt_dawn"}}}
        ],
    }  # fmt: skip
    return load_story(story).characters[0].tree


def test_consequences_accumulate_along_the_players_own_path() -> None:
    tree = _tree()
    state = runtime.start(tree)
    assert (state.fear, state.minutes, state.items, state.scene) == (5, 0, (), "hall")
    state, arrival = runtime.take(tree, state, 0)  # take the key
    assert (state.node, state.fear, state.clock, state.items, state.scene) == (
        "a",
        65,
        "00:30",
        ("key",),
        "cellar",
    )
    assert arrival.bridge == "" and arrival.redirected is None
    state, arrival = runtime.take(tree, state, 1)  # hide: into an escape ending
    assert runtime.ending_of(tree, state) == "escape" and state.items == ("key",)


def test_a_shared_node_shows_the_players_clock_items_and_the_bridge_of_their_choice() -> None:
    tree = _tree()
    state, _ = runtime.take(tree, runtime.start(tree), 1)  # wait: 03:20, fear 15
    state, arrival = runtime.take(tree, state, 0)  # into the node written for 00:20
    assert state.node == "shared" and arrival.bridge == "You leave the hall."
    assert state.clock == "03:25" and state.scene == "attic"  # not the node's stored 00:20


def test_fear_reaching_100_sends_the_player_to_the_fear_ending_whatever_the_target() -> None:
    tree = _tree()
    state, _ = runtime.take(tree, runtime.start(tree), 0)  # fear 65
    state, arrival = runtime.take(tree, state, 0)  # +40: fear 100 on the way to "shared"
    assert state.fear == 100 and state.node == "rt_fear" and arrival.redirected == "fear_collapse"
    assert arrival.bridge == "" and state.scene == "cellar"  # the player's scene stays, no bridge


def test_the_nights_end_sends_the_player_to_dawn_and_the_clock_stops_there() -> None:
    tree = _tree()
    state, _ = runtime.take(tree, runtime.start(tree), 1)  # 03:20
    state, arrival = runtime.take(tree, state, 1)  # +50 min toward an escape: 04:10 is capped at 04:00
    assert state.clock == "04:00" and state.node == "rt_dawn" and arrival.redirected == "dawn"


def test_a_target_that_is_already_the_fear_ending_is_kept() -> None:
    tree = _tree()
    state, _ = runtime.take(tree, runtime.start(tree), 0)
    state = runtime.PlayState(**{**state.__dict__, "node": "shared", "fear": 50})
    state, arrival = runtime.take(tree, state, 1)  # +99 into a fear_collapse ending
    assert state.node == "fearend" and arrival.redirected is None


def test_random_plays_never_run_the_clock_back_nor_lose_an_item_and_fear_100_always_ends() -> None:
    tree = _tree()
    rng = random.Random(7)
    for _ in range(200):
        states = runtime.random_play(tree, rng)
        for before, after in zip(states, states[1:], strict=False):
            assert after.minutes >= before.minutes
            assert set(before.items) <= set(after.items)
            if after.fear >= 100:
                assert runtime.ending_of(tree, after) == "fear_collapse"
        assert runtime.ending_of(tree, states[-1]) is not None


def test_a_version_1_story_is_upgraded_and_a_broken_one_refused_in_one_line() -> None:
    v1 = {
        "meta": {"format_version": 1},
        "story": {"title": "t", "city": "c", "lang": "zh"},
        "characters": [{"name": "n", "tree": {"root": "r", "nodes": {
            "r": {"depth": 0, "narrative": "x", "state": _state("s"), "ending": None, "choices": [
                {"text": "go", "next": "e", "consequences": {"PR": 1, "GR": 0, "WF": 0, "time": "+12min",
                                                             "scene": None, "flags": {}, "items": []}}]},
            "e": _ending("dawn", 1)}}}],
    }  # fmt: skip
    tree = load_story(v1).characters[0].tree
    assert tree.nodes["r"].choices[0].consequences.minutes == 12 and tree.nodes["r"].choices[0].bridge == ""
    broken = {**v1, "meta": {"format_version": 2}}
    broken["characters"] = [
        {"name": "n", "tree": {"root": "r", "nodes": {"r": _ending("dawn", 0) | {"ending": None}}}}
    ]
    with pytest.raises(StoryFormatError) as caught:
        load_story(broken)
    assert "\n" not in str(caught.value) and "choices or an ending" in str(caught.value)


def test_spearman_and_sentence_repetition() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert spearman([1, 2, 3, 4], [40, 30, 20, 10]) == -1.0
    assert spearman([1, 1, 1], [1, 2, 3]) is None
    assert sentences("你站在门口。风很冷！\n下一行") == ["你站在门口。", "风很冷！", "下一行"]
    assert sentences('You wait. "Who?" Nothing answers.') == ["You wait.", '"Who?"', "Nothing answers."]
    rep = repetition(["A. B. A.", "A. C."])
    assert rep.sentences == 5 and rep.distinct_share == 3 / 5 and rep.top_share == 3 / 5


def test_fear_wins_over_the_clock_when_both_end_the_night() -> None:
    tree = _tree()
    state, _ = runtime.take(tree, runtime.start(tree), 0)
    late = runtime.PlayState(**{**state.__dict__, "node": "shared", "fear": 50, "minutes": 235})
    state, arrival = runtime.take(tree, late, 1)  # +99 fear and +10 min into a fear_collapse ending
    assert state.fear == 100 and state.clock == "04:00"
    assert state.node == "fearend" and arrival.redirected is None  # not sent to dawn
    late = runtime.PlayState(**{**late.__dict__, "fear": 95})
    state, arrival = runtime.take(tree, late, 0)  # fear 95 + 0 at 04:00 toward an escape: dawn
    assert state.node == "rt_dawn" and arrival.redirected == "dawn"
