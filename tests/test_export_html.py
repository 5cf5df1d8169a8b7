"""HTML export: a self-contained page played in headless Chromium from file:// and over HTTP, by real
clicks (first and last choices) and by seeded random plays per character, reading the state bar, bridge
and ending after every click against the runtime rules and the Python reference."""

from __future__ import annotations

import json
import re
from itertools import pairwise
from typing import Any

import pytest
from export_samples import (
    ARTIFACTS,
    NASTY_EN,
    NASTY_ZH,
    all_samples,
    assert_plays_match_reference,
    flat,
    need_chromium,
    ref_play,
    run_node,
    write_files,
)

from ghost_story_factory.export import render
from ghost_story_factory.export.html import _asset, embed_json

SAMPLES = all_samples()
PLAYS = 150
SHOWN = ("node", "fear", "truth", "familiarity", "time", "scene", "ending", "items")


def _page(sample: str) -> str:
    [(_, content)] = render(SAMPLES[sample], "html")
    return content.decode("utf-8")


@pytest.mark.parametrize("sample", list(SAMPLES))
def test_html_is_self_contained(sample: str) -> None:
    page = _page(sample)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "@media" in page  # responsive rules for a phone width
    assert not re.search(r"<(link|img|iframe|object|embed)\b", page, re.I)
    assert not re.search(r"<script[^>]*\bsrc=", page, re.I)
    assert not re.search(r"@import|url\(|https?://", page, re.I), "the page must reference nothing outside"
    assert "default-src 'none'" in page  # CSP: the browser itself refuses any request
    # Narrative '</script>' is escaped inside the JSON: exactly the two real script elements close.
    assert page.lower().count("</script") == 2
    match = re.search(r'<script type="application/json" id="story-data">(.*?)</script>', page, re.S)
    assert match
    data = json.loads(match.group(1))
    assert [c["name"] for c in data["characters"]] == [c["name"] for c in SAMPLES[sample]["characters"]]


def test_the_player_is_package_data_embedded_whole() -> None:
    page = _page("en")
    for name in ("player.js", "player.css"):
        asset = _asset(name)
        assert asset.strip() and asset in page


def test_embed_json_escapes_script_end_and_round_trips() -> None:
    value = {"t": "</script><!-- & \u2028"}
    text = embed_json(value)
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == value


def test_html_for_one_character_has_no_picker() -> None:
    [(name, content)] = render(SAMPLES["zh"], "html", "保安")
    assert name.endswith("_保安.html")
    data = re.search(rb'id="story-data">(.*?)</script>', content, re.S)
    assert data and [c["name"] for c in json.loads(data.group(1))["characters"]] == ["保安"]


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    need_chromium()
    directory = tmp_path_factory.mktemp("html")
    reports = {}
    for sample in SAMPLES:
        [path] = write_files(render(SAMPLES[sample], "html"), directory)
        path.with_name(path.name + ".story.json").write_text(json.dumps(SAMPLES[sample], ensure_ascii=False))
        prefix = ARTIFACTS / "export-html" / sample
        options = ("--plays", str(PLAYS), "--seed", "7", "--traces", "20")
        reports[sample] = run_node("html_check.js", *options, str(path), str(prefix), "0", timeout=300)
        reports[sample]["prefix"] = str(prefix)
    return reports


def _shown_state(step: dict[str, Any]) -> dict[str, Any]:
    return {
        "node": step["node"],
        "fear": step["fear"],
        "truth": step["truth"],
        "familiarity": step["familiarity"],
        "time": step["time"],
        "scene": step["scene"],
        "ending": step["ending"]["type"] if isinstance(step["ending"], dict) else step["ending"] or "",
        "items": step["items"],
    }


@pytest.mark.parametrize("sample", list(SAMPLES))
def test_html_plays_to_an_ending_in_chromium(played: dict, sample: str) -> None:
    story = SAMPLES[sample]
    report = played[sample]
    assert report["errors"] == [], report["errors"]
    assert report["pageErrors"] == [] and report["consoleErrors"] == []
    # No network: the only requests are the page itself, from file:// and over loopback HTTP.
    assert set(report["requests"]) == {report["fileUrl"], report["httpUrl"]}
    for run in report["runs"]:
        assert run["problems"] == []
        assert all(link["ok"] for link in run["links"]), run["links"]
        char = story["characters"][run["character"]]
        tree = char["tree"]
        nodes = tree["nodes"]
        if len(story["characters"]) > 1:
            assert run["picker"] == [c["name"] for c in story["characters"]]
        steps = run["path"]
        assert steps[0]["node"] == tree["root"]
        # The state bar along the path is the player's own: what the reference says for these choices.
        expected = ref_play(tree, run.get("choices", []))
        assert len(steps) == len(expected)
        for step, (state, arrival) in zip(steps, expected, strict=True):
            want = {k: state[k] for k in SHOWN}
            assert _shown_state(step) == want, step["node"]
            assert step["clock"] == f"{state['time'] // 60:02d}:{state['time'] % 60:02d}"
            assert flat(step["bridge"]) == (arrival["bridge"] if arrival else "")
            assert step["redirect"] == (arrival["redirected"] if arrival else None)
            node = nodes[step["node"]]
            assert [c["text"] for c in step["choices"]] == [flat(c["text"]) for c in node["choices"]]
        for here, there in pairwise(steps):  # the clock never runs back and items stay
            assert there["time"] >= here["time"]
            assert there["items"][: len(here["items"])] == here["items"]
        ending = nodes[run["ending"]["node"]]["ending"]
        assert run["ending"]["type"] == ending["type"] and ending["title"] in run["ending"]["text"]
        assert run["restartNode"] == tree["root"]
        assert _shown_state(run["restartState"]) == {k: expected[0][0][k] for k in SHOWN}
    assert report["runs"][0]["overflow"] is False, "the page scrolls sideways at a phone width"


@pytest.mark.parametrize("sample", list(SAMPLES))
def test_html_random_plays_keep_the_runtime_rules(played: dict, sample: str) -> None:
    story = SAMPLES[sample]
    plays_by_character = played[sample]["plays"]
    assert len(plays_by_character) == len(story["characters"])
    for char, plays in zip(story["characters"], plays_by_character, strict=True):
        assert plays["count"] == PLAYS
        assert plays["violationCount"] == 0, (char["name"], plays["violations"][:5])
        assert_plays_match_reference(char["tree"], plays, _shown_state, ordered_items=True, fields=SHOWN)


def test_hostile_text_stays_text_in_the_page(played: dict) -> None:
    """Narratives full of markup and a scene named like code are shown as text, never run."""
    report = played["zh"]
    assert report["pageErrors"] == [] and report["consoleErrors"] == []
    first = report["runs"][0]["path"][0]
    shown = "\n\n".join(first["narrative"])
    assert flat(NASTY_ZH) in flat(shown)
    scenes = {step["scene"] for play in report["plays"][0]["plays"] for step in play.get("steps", [])}
    assert "锅炉房 [[alert(1)]] <<run alert(2)>>" in scenes
    en = played["en"]["runs"][0]["path"][0]
    assert flat(NASTY_EN) in flat("\n\n".join(en["narrative"]))


def test_html_screenshots_are_saved(played: dict) -> None:
    for report in played.values():
        for suffix in ("_phone_ending.png", "_desktop_middle.png"):
            with open(report["prefix"] + suffix, "rb") as shot:
                assert shot.read(8) == b"\x89PNG\r\n\x1a\n"
