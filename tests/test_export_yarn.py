"""Yarn Spinner 2 export: every node parsed by yarn-bound, jumps resolved, two paths played to an ending."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest
from export_samples import (
    all_samples,
    checker_reports,
    expected_variables,
    flat,
    ident,
    need_node_packages,
    sample_cases,
)

from ghost_story_factory.export.yarn import escape_line

SAMPLES = all_samples()


@pytest.fixture(scope="module")
def yarn_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], dict[str, Any]]:
    need_node_packages("yarn-bound")
    return checker_reports(SAMPLES, "yarn", "yarn_check.js", tmp_path_factory.mktemp("yarn"))


def _plain(text: str) -> str:
    # The exporter swaps ':' for a look-alike (Yarn would read "Name:" as a speaker); compare as ':'.
    return flat(text).replace("：", ":").replace("∶", ":")


@pytest.mark.parametrize(("sample", "name"), sample_cases(SAMPLES))
def test_yarn_parses_and_plays_like_the_story(yarn_reports: dict, sample: str, name: str) -> None:
    story = SAMPLES[sample]
    lang = story["story"]["lang"]
    tree = next(c for c in story["characters"] if c["name"] == name)["tree"]
    nodes = tree["nodes"]
    report = yarn_reports[(sample, name)]

    assert report["errors"] == [], report["errors"]
    assert set(report["titles"]) == {"Start", *nodes}
    for title, targets in report["jumps"].items():
        assert set(targets) <= set(report["titles"]), (title, targets)
    assert report["jumps"]["Start"] == [tree["root"]]
    for nid, node in nodes.items():
        assert report["jumps"][nid] == [c["next"] for c in node["choices"]], nid

    for walk_name, pick in (("first", 0), ("last", -1)):
        walk = report["walks"][walk_name]
        assert walk["ended"], walk_name
        visits = [v for v in walk["visits"] if v["title"] != "Start"]
        assert visits[0]["title"] == tree["root"]
        for here, there in pairwise(visits):  # each step follows the picked option's edge
            assert nodes[here["title"]]["choices"][pick]["next"] == there["title"]
        for visit in visits:
            node = nodes[visit["title"]]
            narrative = [_plain(line) for line in node["narrative"].splitlines() if line.strip()]
            shown = [_plain(line) for line in visit["text"]]
            assert shown[: len(narrative)] == narrative, visit["title"]
            expected = expected_variables(tree, visit["title"], lang)
            for item in {i for n in nodes.values() for i in n["state"]["inventory"]}:
                expected[ident("i", item)] = item in node["state"]["inventory"]
            for var, value in expected.items():
                assert visit["vars"][var] == value, (visit["title"], var)
            if node["choices"]:
                assert [_plain(o) for o in visit["options"]] == [_plain(c["text"]) for c in node["choices"]]
        last = nodes[visits[-1]["title"]]
        assert last["ending"], "the walk must stop at an ending node"
        assert f"ending:{last['ending']['type']}" in visits[-1]["hashtags"]
        assert visits[-1]["vars"]["ending"] == last["ending"]["type"]


def test_escape_line_handles_yarn_syntax() -> None:
    assert escape_line("-> not an option", "en") == "-\\> not an option"
    assert escape_line("<<jump x>>", "en") == "\\<\\<jump x\\>\\>"
    assert escape_line("=== end", "en") == '{"==="} end'
    assert escape_line("Note: {x} #t // c [b]", "en") == "Note∶ \\{x\\} \\#t \\/\\/ c \\[b\\]"
    assert escape_line("他说: 快跑", "zh") == "他说： 快跑"
