"""A default offline story, played as a player plays it, reads true and plays true (zh and en).

The same checks run through the real engines in the export tests (inkjs, Chromium); here the
reference runtime plays 1,000 random paths per character and the prose is counted.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from typing import Any

import pytest
from conftest import DEFAULT_CHARACTERS

from ghost_story_factory import runtime
from ghost_story_factory.model import Story, load_story
from ghost_story_factory.playtest import spearman
from ghost_story_factory.prose import repetition

PLAYS = 1000
LANGS = ("zh", "en")


@pytest.fixture(params=LANGS)
def story(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any], Story]:
    raw = request.getfixturevalue(f"offline_story_{request.param}")
    return request.param, raw, load_story(raw)


def _plays(tree: Any, seed: int = 1) -> list[list[runtime.PlayState]]:
    rng = random.Random(seed)
    return [runtime.random_play(tree, rng) for _ in range(PLAYS)]


def test_on_every_path_the_clock_never_runs_back_no_item_vanishes_and_fear_100_ends(story: Any) -> None:
    _, _, typed = story
    for character in typed.characters:
        for states in _plays(character.tree):
            for before, after in zip(states, states[1:], strict=False):
                assert after.minutes >= before.minutes, (character.name, before, after)
                assert set(before.items) <= set(after.items), (character.name, before, after)
                if after.fear >= 100:
                    assert runtime.ending_of(character.tree, after) == "fear_collapse"
                if after.minutes >= 240:
                    assert runtime.ending_of(character.tree, after) in ("dawn", "fear_collapse")


def test_no_text_a_player_reads_names_an_item_that_player_does_not_hold(story: Any) -> None:
    """A node converged from several paths is written for what every way in holds, not for the path
    that created it: the key is "the key you found" only if every player here found it."""
    _, _, typed = story
    for character in typed.characters:
        tree = character.tree
        names = {item for node in tree.nodes.values() for item in node.state.inventory}
        assert names, "the story's players never pick anything up: nothing is tested"
        named = 0
        for states in _plays(character.tree):
            for state in states[1:]:
                text = tree.nodes[state.node].narrative or ""
                named += any(item in text for item in state.items)
                lacking = [item for item in names if item in text and item not in state.items]
                assert not lacking, (character.name, state.node, lacking, text)
        assert named, "no text a player read named an item at all: nothing is tested"


def test_random_plays_spread_over_the_planned_endings(story: Any) -> None:
    _, _, typed = story
    for character in typed.characters:
        mix = Counter(runtime.ending_of(character.tree, states[-1]) for states in _plays(character.tree))
        shares = {kind: count / PLAYS for kind, count in mix.items()}
        assert max(shares.values()) <= 0.5, (character.name, shares)
        assert sum(1 for share in shares.values() if share > 0.05) >= 3, (character.name, shares)
        planned = {e.type for e in character.plan.endings}
        assert set(shares) <= planned, (character.name, set(shares) - planned)


def test_every_choice_into_a_shared_node_carries_its_own_bridge(story: Any) -> None:
    _, _, typed = story
    for character in typed.characters:
        tree = character.tree
        incoming = tree.incoming()
        shared = [c for n in tree.nodes.values() for c in n.choices if incoming[c.next] > 1]
        assert len(shared) > 50, "a default story converges often: the check would be empty otherwise"
        assert all(c.bridge.strip() for c in shared), character.name
        for nid in tree.nodes:
            bridges = [c.bridge for n in tree.nodes.values() for c in n.choices if c.next == nid]
            if len(bridges) > 1:
                assert len(set(bridges)) == len(bridges), f"{nid}: two arrivals share one bridge"


def test_mean_fear_by_depth_follows_the_plans_tension(story: Any) -> None:
    _, _, typed = story
    for character in typed.characters:
        by_depth: dict[int, list[int]] = {}
        for states in _plays(character.tree):
            for state in states:
                by_depth.setdefault(state.step, []).append(state.fear)
        depths = [d for d in sorted(by_depth) if len(by_depth[d]) >= 20]
        fear = [sum(by_depth[d]) / len(by_depth[d]) for d in depths]
        tension = [character.plan.tension(d) for d in depths]
        rho = spearman(fear, tension)
        assert rho is not None and rho >= 0.6, (character.name, rho, fear, tension)


def test_prose_is_varied_across_the_whole_story(story: Any) -> None:
    lang, _, typed = story
    texts = []
    for character in typed.characters:
        for node in character.tree.nodes.values():
            texts.append(node.narrative)
            texts += [c.bridge for c in node.choices if c.bridge]
    rep = repetition(texts)
    assert rep.sentences > 5000
    assert rep.distinct_share >= 0.6, (lang, rep.distinct_share, rep.top[:5])
    assert rep.top_share <= 0.005, (lang, rep.top[:5])


def test_the_plan_is_stored_with_a_beat_per_depth_and_the_report_says_how_it_plays(story: Any) -> None:
    _, raw, typed = story
    max_depth = raw["meta"]["settings"]["max_depth"]
    for character, raw_char in zip(typed.characters, raw["characters"], strict=True):
        assert [b.depth for b in character.plan.beats] == list(range(max_depth + 1))
        assert {"fear_collapse", "dawn"} <= {e.type for e in character.plan.endings}
        playtest = raw_char["report"]["playtest"]
        assert playtest["plays"] == 1000 and playtest["bridged_arrivals"] > 0
        assert abs(sum(playtest["ending_mix"].values()) - 1) < 0.01


def test_named_characters_get_a_role_used_by_the_text(story: Any) -> None:
    lang, _, typed = story
    given = dict(c if isinstance(c, tuple) else (c, "") for c in DEFAULT_CHARACTERS[lang])
    for character in typed.characters:
        assert character.role.strip(), character.name
        if given[character.name]:
            assert character.role == given[character.name]
        text = " ".join(n.narrative for n in character.tree.nodes.values())
        assert character.name in text and character.role in text, character.name
        assert "夜行者" not in text and "night wanderer" not in text


def test_narratives_keep_the_style_contract(story: Any) -> None:
    lang, _, typed = story
    for character in typed.characters:
        for nid, node in character.tree.nodes.items():
            size = len(node.narrative) if lang == "zh" else len(node.narrative.split())
            low, high = (150, 350) if lang == "zh" else (80, 200)
            assert low <= size <= high, (character.name, nid, size)
            assert not re.search(r"\b\d{1,2}:\d{2}\b", node.narrative), (nid, "a clock time in the prose")
            if lang == "zh":
                assert "你" in node.narrative, (nid, "second person")
            else:
                assert re.search(r"\byou\b", node.narrative, re.I), (nid, "second person")
