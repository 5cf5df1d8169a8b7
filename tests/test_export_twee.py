"""Twee 3 export: parsed by extwee as Twine 2 would import it; links, start passage and IFID hold."""

from __future__ import annotations

import re
from typing import Any

import pytest
from export_samples import all_samples, checker_reports, need_node_packages, sample_cases

from ghost_story_factory.export import render
from ghost_story_factory.export.twee import STORY_FORMAT, link_text

SAMPLES = all_samples()
IFID = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$")


@pytest.fixture(scope="module")
def twee_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], dict[str, Any]]:
    need_node_packages("extwee")
    return checker_reports(SAMPLES, "twee", "twee_check.mjs", tmp_path_factory.mktemp("twee"))


@pytest.mark.parametrize(("sample", "name"), sample_cases(SAMPLES))
def test_twee_parses_with_links_start_and_ifid(twee_reports: dict, sample: str, name: str) -> None:
    story = SAMPLES[sample]
    tree = next(c for c in story["characters"] if c["name"] == name)["tree"]
    nodes = tree["nodes"]
    report = twee_reports[(sample, name)]

    assert report["errors"] == [], report["errors"]
    assert IFID.match(report["ifid"]), report["ifid"]
    assert report["format"] == STORY_FORMAT and report["formatVersion"]
    assert name in report["name"]
    passages = {p["name"]: p for p in report["passages"]}
    assert set(passages) == {*nodes, "StoryCaption"}
    assert report["start"] == tree["root"] and report["start"] in passages
    for passage in report["passages"]:
        for target in passage["links"]:
            assert target in passages, (passage["name"], target)
    for nid, node in nodes.items():
        passage = passages[nid]
        assert passage["links"] == [c["next"] for c in node["choices"]], nid
        if node["ending"]:
            assert f"ending-{node['ending']['type']}" in passage["tags"]
            assert node["ending"]["title"] in passage["text"]
        assert re.match(r"^\d+,\d+$", passage["metadata"]["position"])
        assert f"$fear to {node['state']['PR']}," in passage["text"]


def test_ifid_is_stable_and_differs_per_character() -> None:
    story = SAMPLES["zh"]
    first = [content for _, content in render(story, "twee")]
    again = [content for _, content in render(story, "twee")]
    assert first == again
    ifids = {re.search(rb'"ifid": "([^"]+)"', content).group(1) for content in first}  # type: ignore[union-attr]
    assert len(ifids) == len(story["characters"])


def test_link_text_cannot_break_link_syntax() -> None:
    assert link_text("a|b [c] -> d <- e") == "a｜b ［c］ → d ← e"
