"""Ink export: compiled by inkjs's real compiler, then walked edge by edge against the story's own graph."""

from __future__ import annotations

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

from ghost_story_factory.export import render
from ghost_story_factory.export.ink import escape_text

SAMPLES = all_samples()


@pytest.fixture(scope="module")
def ink_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], dict[str, Any]]:
    """One node run compiles and walks every exported sample: (sample, character) -> report."""
    need_node_packages("inkjs")
    return checker_reports(SAMPLES, "ink", "ink_check.js", tmp_path_factory.mktemp("ink"))


@pytest.mark.parametrize(("sample", "name"), sample_cases(SAMPLES))
def test_ink_compiles_and_plays_like_the_story(ink_reports: dict, sample: str, name: str) -> None:
    story = SAMPLES[sample]
    lang = story["story"]["lang"]
    tree = next(c for c in story["characters"] if c["name"] == name)["tree"]
    nodes = tree["nodes"]
    report = ink_reports[(sample, name)]

    assert report["errors"] == [], report["errors"]
    assert report["warnings"] == [], report["warnings"]
    assert report["problems"] == [], report["problems"]
    # Every node is a knot the walk reached, and every edge of the walk is one of ours and vice versa.
    assert set(report["nodes"]) == set(nodes)
    ours = {(nid, i, c["next"]) for nid, node in nodes.items() for i, c in enumerate(node["choices"])}
    assert {tuple(edge) for edge in report["edges"]} == ours
    # Exactly our endings, with their types.
    assert report["endings"] == {nid: n["ending"]["type"] for nid, n in nodes.items() if n["ending"]}

    for nid, seen in report["nodes"].items():
        node = nodes[nid]
        assert seen["choices"] == [flat(c["text"]) for c in node["choices"]], nid
        narrative = [flat(line) for line in node["narrative"].splitlines() if line.strip()]
        text = [flat(line) for line in seen["text"]]
        if node["ending"]:
            assert text[:-1] == narrative, nid
            assert node["ending"]["title"] in text[-1]
            assert f"ending: {node['ending']['type']}" in seen["tags"]
        else:
            assert text == narrative, nid
        expected = expected_variables(tree, nid, lang)
        expected["ending"] = node["ending"]["type"] if node["ending"] else ""
        variables = seen["vars"]
        for var, value in expected.items():
            assert variables[var] == value, (nid, var)
        held = sorted(ident("i", item) for item in node["state"]["inventory"])
        assert variables.get("items", []) == held, nid


def test_escape_text_makes_ink_markup_literal() -> None:
    assert escape_text("a -> b") == "a \\-> b"
    assert escape_text("* not a choice") == "\\* not a choice"
    assert escape_text("TODO: x") == "\\TODO: x"
    assert escape_text("// c {x} [y] | #t <> ~") == "\\/\\/ c \\{x\\} \\[y\\] \\| \\#t \\<> \\~"
    assert escape_text("鬼-故事 (1)") == "鬼-故事 (1)"


def test_ink_names_are_identifiers_and_text_stays_unicode() -> None:
    story = SAMPLES["zh"]
    [(name, content)] = render(story, "ink", "👻阿秀")
    text = content.decode("utf-8")
    assert name.endswith("_👻阿秀.ink")
    assert "=== node_0000 ===" in text
    assert "你是阿秀" in text  # narrative stays as text
    assert ident("f", "possessing") in text and "possessing" in text  # hashed id, display name kept
