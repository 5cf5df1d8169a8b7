"""Twee 3 export: parsed by extwee as Twine 2 would import it (start passage, IFID, passages, <<goto>>
targets), then played by the checker's SugarCube stand-in: every passage shown, seeded random plays through
the <<link>>s checked against the runtime rules and replayed through the Python reference."""

from __future__ import annotations

import re
from typing import Any

import pytest
from export_samples import (
    all_samples,
    assert_plays_match_reference,
    checker_reports,
    comparable,
    expected_flags,
    flat,
    need_node_packages,
    ref_start,
    sample_cases,
    symbol_table,
)

from ghost_story_factory.export import render
from ghost_story_factory.export.twee import STORY_FORMAT

SAMPLES = all_samples()
IFID = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$")
PLAYS = 300
SPECIAL = {"StoryCaption", "StoryInit"}


@pytest.fixture(scope="module")
def twee_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], dict[str, Any]]:
    need_node_packages("extwee")
    options = ("--plays", str(PLAYS), "--seed", "7", "--traces", "30")
    return checker_reports(SAMPLES, "twee", "twee_check.mjs", tmp_path_factory.mktemp("twee"), *options)


def _tree(sample: str, name: str) -> dict[str, Any]:
    return next(c for c in SAMPLES[sample]["characters"] if c["name"] == name)["tree"]


def _reader(tree: dict[str, Any]):  # type: ignore[no-untyped-def]
    table = symbol_table(tree)

    def read(step: dict[str, Any]) -> dict[str, Any]:
        v = step["vars"]
        return {
            "node": step["node"],
            "fear": v["fear"],
            "truth": v["truth"],
            "familiarity": v["familiarity"],
            "time": v["time"],
            "scene": v["scene"],
            "ending": v["ending"],
            "items": v["inventory"],
            "flags": expected_flags(table, v["flags"]),
        }

    return read


@pytest.mark.parametrize(("sample", "name"), sample_cases(SAMPLES))
def test_twee_parses_with_start_ifid_and_goto_targets(twee_reports: dict, sample: str, name: str) -> None:
    tree = _tree(sample, name)
    nodes = tree["nodes"]
    report = twee_reports[(sample, name)]
    assert report["errors"] == [], report["errors"]
    assert report["problems"] == [], report["problems"][:5]
    assert IFID.match(report["ifid"]), report["ifid"]
    assert report["format"] == STORY_FORMAT and report["formatVersion"]
    assert name in report["name"]
    passages = {p["name"]: p for p in report["passages"]}
    assert set(passages) == {*nodes, *SPECIAL}
    assert report["start"] == tree["root"]
    runtime = set((tree.get("runtime_endings") or {}).values())
    for nid, node in nodes.items():
        passage = passages[nid]
        # No [[link]] at all: SugarCube evaluates a link's text as an expression when it parses as one.
        assert passage["links"] == [], nid
        nexts = [c["next"] for c in node["choices"]]
        assert set(passage["gotos"]) - runtime == set(nexts) - runtime, nid
        assert set(passage["gotos"]) <= set(nodes), nid
        if node["ending"]:
            assert f"ending-{node['ending']['type']}" in passage["tags"]
            assert node["ending"]["title"] in passage["text"]
        assert re.match(r"^\d+,\d+$", passage["metadata"]["position"])


@pytest.mark.parametrize(("sample", "name"), sample_cases(SAMPLES))
def test_twee_passages_show_the_story_and_the_players_state(
    twee_reports: dict, sample: str, name: str
) -> None:
    story = SAMPLES[sample]
    tree = _tree(sample, name)
    report = twee_reports[(sample, name)]
    start = ref_start(tree)
    read = _reader(tree)
    table = symbol_table(tree)
    runtime = set((tree.get("runtime_endings") or {}).values())
    for nid, node in tree["nodes"].items():
        shown = report["shown"][nid]
        narrative = [flat(line) for line in node["narrative"].splitlines() if line.strip()]
        # A run of three quotes would end SugarCube's verbatim markup: the exporter writes “"" for it.
        assert [flat(t).replace('“""', '"""') for t in shown["text"][: len(narrative)]] == narrative, nid
        links = [flat(c["text"]) for c in node["choices"]] or [
            ("重新开始" if story["story"]["lang"] == "zh" else "Play again")
        ]
        assert [flat(t) for t in shown["links"]] == links, nid
        here = {**start, "node": nid, "ending": node["ending"]["type"] if node["ending"] else ""}
        if nid not in runtime:
            here["scene"] = node["state"]["scene"]
        assert read({"node": nid, "vars": shown["vars"]}) == comparable(here, table, ordered_items=True), nid
        # The sidebar shows the player's own state, opening state here.
        caption = shown["caption"]
        assert f"{start['time'] // 60:02d}:{start['time'] % 60:02d}" in caption
        assert here["scene"] in caption


@pytest.mark.parametrize(("sample", "name"), sample_cases(SAMPLES))
def test_twee_random_plays_keep_the_runtime_rules(twee_reports: dict, sample: str, name: str) -> None:
    tree = _tree(sample, name)
    plays = twee_reports[(sample, name)]["plays"]
    assert plays["count"] == PLAYS
    assert plays["violationCount"] == 0, plays["violations"][:5]
    assert_plays_match_reference(tree, plays, _reader(tree), ordered_items=True)
    for play in plays["plays"]:  # the sidebar along a traced play reads the play's own clock and fear
        for step in play.get("steps", []):
            v = step["vars"]
            assert f"{v['time'] // 60:02d}:{v['time'] % 60:02d}" in step["caption"]
            assert f" {v['fear']} " in f" {step['caption']} "


def test_ifid_is_stable_and_differs_per_character() -> None:
    story = SAMPLES["zh"]
    first = [content for _, content in render(story, "twee")]
    again = [content for _, content in render(story, "twee")]
    assert first == again
    ifids = {re.search(rb'"ifid": "([^"]+)"', content).group(1) for content in first}  # type: ignore[union-attr]
    assert len(ifids) == len(story["characters"])


def test_choice_text_is_a_string_literal_of_verbatim_text() -> None:
    """The link text is data: a JSON string holding verbatim markup, with '<' and '>' escaped so no '>>'
    can end the macro."""
    [(_, content)] = render(SAMPLES["en"], "twee")
    text = content.decode("utf-8")
    # (A text ending in a quote gets a space before the closing triple quote, which would swallow it.)
    assert '<<link "\\"\\"\\"Read the keeper\'s log: \\"Day 1 -\\u003e Day 40\\" \\"\\"\\"">>' in text
    assert "[[" not in text.split(":: node_0000", 1)[1]


def test_brackets_in_verbatim_text_are_split_so_twine_sees_no_link() -> None:
    from ghost_story_factory.export.twee import _verbatim

    written = _verbatim('a [[Start]] b [[x|StoryInit]] "c"')
    assert "[[" not in written and "]]" not in written
    shown = "".join(part for i, part in enumerate(written.split('"""')) if i % 2 == 1)
    assert shown == 'a [[Start]] b [[x|StoryInit]] "c" '  # a text ending in a quote gets a space
