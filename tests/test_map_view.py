"""The HTML player's map view, in headless Chromium from file://: after a few choices the map shows every
node and choice of the character, the nodes and choices of this play highlighted, the zoom buttons and the
mouse wheel change the zoom, clicking a node shows its narrative as text, and nothing is fetched."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from export_samples import ARTIFACTS, NASTY_ZH, all_samples, flat, need_chromium, write_files

from ghost_story_factory.export import render

DRIVER = Path(__file__).with_name("test_map_chromium.js")


def _play_and_open_map(story: dict[str, Any], tmp_path: Path, clicks: int, name: str) -> dict[str, Any]:
    need_chromium()
    [page] = write_files(render(story, "html"), tmp_path)
    prefix = ARTIFACTS / "export-map" / name
    prefix.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["node", str(DRIVER), "player", str(page), str(prefix), str(clicks)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report: dict[str, Any] = json.loads(result.stdout)
    assert report["pageErrors"] == [] and report["consoleErrors"] == []
    assert report["requests"] == [report["url"]], "the map view fetched something"
    return report


def _scale(transform: str) -> float:
    return float(transform.rsplit("scale(", 1)[1].rstrip(")"))


def test_map_view_of_a_default_story(offline_story_zh: dict[str, Any], tmp_path: Path) -> None:
    report = _play_and_open_map(offline_story_zh, tmp_path, 6, "map_view_zh")
    nodes = offline_story_zh["characters"][0]["tree"]["nodes"]
    path = report["path"]
    assert len(path) == 7 and path[0] == offline_story_zh["characters"][0]["tree"]["root"]
    opened = report["opened"]
    assert opened["storyHidden"]
    assert opened["nodes"] == len(nodes)
    assert opened["edges"] == sum(len(n["choices"]) for n in nodes.values())
    # The play's own path: its nodes, its last node as the current one, and the choices it took.
    assert sorted(opened["visited"]) == sorted(set(path))
    assert opened["current"] == [path[-1]]
    walked = {
        (a, b) for a, b in zip(path, path[1:], strict=False) if b in {c["next"] for c in nodes[a]["choices"]}
    }
    assert opened["visitedEdges"] == len(walked) > 0
    assert opened["readerNode"] == path[-1]
    # Zoom: the button zooms in, the wheel (scrolling down) zooms out again.
    assert _scale(report["afterButton"]["transform"]) > _scale(opened["transform"])
    assert _scale(report["afterWheel"]["transform"]) < _scale(report["afterButton"]["transform"])
    # Clicking a node the play never reached shows that node's narrative.
    clicked = report["clicked"]
    assert clicked and clicked not in path
    after = report["afterClick"]
    assert after["readerNode"] == clicked
    first_paragraph = flat(nodes[clicked]["narrative"].split("\n\n")[0])
    assert first_paragraph in flat(after["readerText"])
    assert report["closedBackTo"] == path[-1], "closing the map returns to where the play was"
    assert report["escapedBackTo"] == path[-1], "Escape closes the map too"
    for suffix in ("_map_opened.png", "_map_reading.png"):
        assert (ARTIFACTS / "export-map" / f"map_view_zh{suffix}").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_map_view_shows_hostile_text_as_text(tmp_path: Path) -> None:
    """The sample whose narrative is full of markup: the reader shows it verbatim and no element appears."""
    story = all_samples()["zh"]
    report = _play_and_open_map(story, tmp_path, 0, "map_view_hostile")
    opened = report["opened"]
    assert opened["readerNode"] == story["characters"][0]["tree"]["root"]
    assert flat(NASTY_ZH) in flat(opened["readerText"])
    assert opened["injected"] == 0 and opened["scripts"] == 2
    assert report["afterClick"]["injected"] == 0 and report["afterClick"]["scripts"] == 2
