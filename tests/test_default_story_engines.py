"""A default offline story (3 characters, 300 nodes, depth 20), zh and en, played in the real engines and
the terminal player: on every path the clock never runs back, no item vanishes, fear 100 ends the story,
every shared arrival shows its bridge; the ending mix spreads; mean fear by depth follows the plan.

inkjs plays the Ink export 1,000 times per character; headless Chromium clicks through the HTML player;
the terminal player is driven through its real input loop. The checks are the story issue's goals.
"""

from __future__ import annotations

import io
import random
import re
from typing import Any

import pytest
from export_samples import need_chromium, need_node_packages, run_node, write_files
from rich.console import Console

from ghost_story_factory.export import render
from ghost_story_factory.model import load_story
from ghost_story_factory.player import play
from ghost_story_factory.playtest import spearman

LANGS = ("zh", "en")


@pytest.fixture(params=LANGS)
def story(request: pytest.FixtureRequest) -> dict[str, Any]:
    return request.getfixturevalue(f"offline_story_{request.param}")


def _goals(name: str, plays: dict[str, Any], tension: list[int]) -> None:
    assert plays["violationCount"] == 0, (name, plays["violationKinds"], plays["violations"][:3])
    mix = plays["endingMix"]
    assert max(mix.values()) <= 0.5, (name, mix)
    assert sum(1 for share in mix.values() if share > 0.05) >= 3, (name, mix)
    kept = [k for k, n in enumerate(plays["playsByStep"]) if n >= 20 and k < len(tension)]
    rho = spearman([plays["meanFearByStep"][k] for k in kept], [tension[k] for k in kept])
    assert rho is not None and rho >= 0.6, (name, rho, plays["meanFearByStep"])


def _tension(story: dict[str, Any], name: str) -> list[int]:
    character = load_story(story).character(name)
    assert character.plan is not None
    return [character.plan.tension(d) for d in range(len(character.plan.beats))]


def test_inkjs_plays_every_character_by_the_runtime_rules(story: dict[str, Any], tmp_path) -> None:  # type: ignore[no-untyped-def]
    need_node_packages("inkjs")
    import json

    paths = {}
    for character in story["characters"]:
        [path] = write_files(render(story, "ink", character["name"]), tmp_path)
        path.with_name(path.name + ".tree.json").write_text(json.dumps(character["tree"], ensure_ascii=False))
        paths[character["name"]] = path
    reports = run_node(
        "ink_check.js", "--plays", "1000", "--seed", "11", *map(str, paths.values()), timeout=600
    )
    for name, path in paths.items():
        report = reports[str(path)]
        assert report["errors"] == [] and report["warnings"] == [], (name, report["errors"][:3])
        _goals(name, report["plays"], _tension(story, name))


def test_chromium_plays_the_html_player_by_the_runtime_rules(story: dict[str, Any], tmp_path) -> None:  # type: ignore[no-untyped-def]
    need_chromium()
    import json

    [path] = write_files(render(story, "html"), tmp_path)
    path.with_name(path.name + ".story.json").write_text(json.dumps(story, ensure_ascii=False))
    report = run_node(
        "html_check.js", "--plays", "300", "--seed", "5", str(path), str(tmp_path / "shot"), "0", timeout=900
    )
    assert report["errors"] == [] and report["pageErrors"] == [] and report["consoleErrors"] == []
    assert len(report["plays"]) == len(story["characters"])
    for character, plays in zip(story["characters"], report["plays"], strict=True):
        _goals(character["name"], plays, _tension(story, character["name"]))


_STATE = {
    "zh": re.compile(r"恐惧 (\d+) · 真相 \d+ · 熟悉 \d+ · 时间 (\d\d):(\d\d) · 物品：(.*)$"),
    "en": re.compile(r"Fear (\d+) · Truth \d+ · Familiarity \d+ · Time (\d\d):(\d\d) · Items: (.*)$"),
}


def test_the_terminal_player_shows_each_players_own_path(story: dict[str, Any]) -> None:
    """Random answers typed into the real player; its state lines, read back, keep every rule."""
    lang = story["story"]["lang"]
    none, sep = ("无", "、") if lang == "zh" else ("none", ", ")
    rng = random.Random(3)
    for character in story["characters"]:
        for _ in range(60):
            out = Console(file=io.StringIO(), width=300, color_system=None)
            ending = play(story, character["name"], input_fn=lambda: str(rng.randint(1, 3)), out=out)
            assert ending is not None
            lines = out.file.getvalue().splitlines()  # type: ignore[attr-defined]
            states = [m for m in (_STATE[lang].search(line) for line in lines) if m]
            previous_clock, held = -1, set()
            for match in states:
                clock = int(match[2]) * 60 + int(match[3])
                items = set() if match[4] == none else set(match[4].split(sep))
                assert clock >= previous_clock and held <= items, (character["name"], lines[-30:])
                previous_clock, held = clock, items
            if int(states[-1][1]) >= 100:
                assert ending == "fear_collapse", character["name"]
