"""HTML export: a self-contained page played in headless Chromium from file:// and over HTTP."""

from __future__ import annotations

import json
import re
from itertools import pairwise
from typing import Any

import pytest
from export_samples import ARTIFACTS, all_samples, need_chromium, run_node, write_files

from ghost_story_factory.export import render
from ghost_story_factory.export.html import embed_json

SAMPLES = all_samples()


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
        prefix = ARTIFACTS / "export-html" / sample
        reports[sample] = run_node("html_check.js", str(path), str(prefix), "0", timeout=180)
        reports[sample]["prefix"] = str(prefix)
    return reports


@pytest.mark.parametrize("sample", list(SAMPLES))
def test_html_plays_to_an_ending_in_chromium(played: dict, sample: str) -> None:
    story = SAMPLES[sample]
    report = played[sample]
    assert report["errors"] == [], report["errors"]
    assert report["pageErrors"] == [] and report["consoleErrors"] == []
    # No network: the only requests are the page itself, once from file:// and once over loopback HTTP.
    assert report["requests"] == [report["fileUrl"], report["httpUrl"]]
    for run in report["runs"]:
        assert run["problems"] == []
        assert all(link["ok"] for link in run["links"]), run["links"]
        char = story["characters"][run["character"]]
        nodes = char["tree"]["nodes"]
        if len(story["characters"]) > 1:
            assert run["picker"] == [c["name"] for c in story["characters"]]
        steps = run["path"]
        assert steps[0]["node"] == char["tree"]["root"]
        for here, there in pairwise(steps):
            assert there["node"] in {c["next"] for c in nodes[here["node"]]["choices"]}
        for step in steps:
            node = nodes[step["node"]]
            assert step["fear"] == str(node["state"]["PR"])  # the node's own state, not a recomputation
            assert [c["text"] for c in step["choices"]] == [c["text"] for c in node["choices"]]
        ending = nodes[run["ending"]["node"]]["ending"]
        assert run["ending"]["type"] == ending["type"] and ending["title"] in run["ending"]["text"]
        assert run["restartNode"] == char["tree"]["root"]
    assert report["runs"][0]["overflow"] is False, "the page scrolls sideways at a phone width"


def test_html_screenshots_are_saved(played: dict) -> None:
    for report in played.values():
        for suffix in ("_phone_ending.png", "_desktop_middle.png"):
            with open(report["prefix"] + suffix, "rb") as shot:
                assert shot.read(8) == b"\x89PNG\r\n\x1a\n"
