"""Yarn Spinner 2 export: every node parsed by yarn-bound and every jump resolved; every node entered and
every option taken; seeded random plays carry the $variables along, keep the runtime rules and match the
Python reference step for step."""

from __future__ import annotations

import re
from typing import Any

import pytest
from export_samples import (
    all_samples,
    assert_plays_match_reference,
    checker_reports,
    comparable,
    engine_vars,
    flat,
    need_node_packages,
    ref_start,
    ref_take,
    sample_cases,
    symbol_table,
)

from ghost_story_factory.export.yarn import escape_line

SAMPLES = all_samples()
PLAYS = 300


@pytest.fixture(scope="module")
def yarn_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], dict[str, Any]]:
    need_node_packages("yarn-bound")
    options = ("--plays", str(PLAYS), "--seed", "7", "--traces", "30")
    return checker_reports(SAMPLES, "yarn", "yarn_check.js", tmp_path_factory.mktemp("yarn"), *options)


def _plain(text: str) -> str:
    # The exporter swaps ':' for a look-alike (Yarn would read "Name:" as a speaker); compare as ':'.
    return flat(text).replace("：", ":").replace("∶", ":")


def _tree(sample: str, name: str) -> dict[str, Any]:
    return next(c for c in SAMPLES[sample]["characters"] if c["name"] == name)["tree"]


def _unescaped(value: Any) -> Any:
    """yarn-bound keeps a string literal's escapes (\\" and \\\\) in the value, where Yarn Spinner removes them."""
    if not isinstance(value, str):
        return value
    return re.sub(r"\\(.)", r"\1", value)


def _reader(tree: dict[str, Any]):  # type: ignore[no-untyped-def]
    table = symbol_table(tree)

    def read(step: dict[str, Any]) -> dict[str, Any]:
        variables = {name: _unescaped(value) for name, value in step["vars"].items()}
        held = [name for name, var in table["items"].items() if variables.get(var) is True]
        return engine_vars(table, step["node"], variables, held)

    return read


@pytest.mark.parametrize(("sample", "name"), sample_cases(SAMPLES))
def test_yarn_parses_and_every_node_reads_like_the_story(yarn_reports: dict, sample: str, name: str) -> None:
    tree = _tree(sample, name)
    nodes = tree["nodes"]
    report = yarn_reports[(sample, name)]
    assert report["errors"] == [], report["errors"]
    assert set(report["titles"]) == {"Start", *nodes}
    for title, targets in report["jumps"].items():
        assert set(targets) <= set(report["titles"]), (title, targets)
    assert report["jumps"]["Start"] == [tree["root"]]
    runtime = set((tree.get("runtime_endings") or {}).values())
    read = _reader(tree)
    table = symbol_table(tree)
    for nid, node in nodes.items():
        # Each option jumps to its node, after a jump to the shared endings the runtime rules may ask for.
        assert [t for t in report["jumps"][nid] if t not in runtime or t == nid] == [
            c["next"] for c in node["choices"] if c["next"] not in runtime
        ], nid
        seen = report["nodes"][nid]
        assert seen["node"] == nid
        narrative = [_plain(line) for line in node["narrative"].splitlines() if line.strip()]
        shown = [_plain(line) for line in seen["text"]]
        assert shown[: len(narrative)] == narrative, nid
        if node["ending"]:
            assert seen["ended"] and seen["options"] is None, nid
            assert f"ending:{node['ending']['type']}" in seen["hashtags"]
            assert node["ending"]["title"] in shown[-1]
        else:
            assert [_plain(o) for o in seen["options"]] == [_plain(c["text"]) for c in node["choices"]], nid
        here = {**ref_start(tree), "node": nid, "ending": node["ending"]["type"] if node["ending"] else ""}
        if nid not in runtime:
            here["scene"] = node["state"]["scene"]
        assert read(seen) == comparable(here, table), nid
        for index, arrival in enumerate(seen["arrivals"]):
            after, expected = ref_take(tree, here, index)
            assert arrival["node"] == expected["node"], (nid, index)
            assert _plain(arrival["bridge"]) == _plain(expected["bridge"]), (nid, index)
            assert read(arrival) == comparable(after, table), (nid, index)


@pytest.mark.parametrize(("sample", "name"), sample_cases(SAMPLES))
def test_yarn_random_plays_keep_the_runtime_rules(yarn_reports: dict, sample: str, name: str) -> None:
    tree = _tree(sample, name)
    plays = yarn_reports[(sample, name)]["plays"]
    assert plays["count"] == PLAYS
    assert plays["violationCount"] == 0, plays["violations"][:5]
    assert abs(sum(plays["endingMix"].values()) - 1) < 1e-3
    assert_plays_match_reference(tree, plays, _reader(tree), shown=_plain)


def test_escape_line_handles_yarn_syntax() -> None:
    assert escape_line("-> not an option", "en") == "-\\> not an option"
    assert escape_line("<<jump x>>", "en") == "\\<\\<jump x\\>\\>"
    assert escape_line("=== end", "en") == '{"==="} end'
    assert escape_line("Note: {x} #t // c [b]", "en") == "Note∶ \\{x\\} \\#t \\/\\/ c \\[b\\]"
    assert escape_line("他说: 快跑", "zh") == "他说： 快跑"


def test_a_line_start_hidden_behind_a_byte_order_mark_or_spaces_is_still_escaped() -> None:
    assert escape_line("\ufeff=== end", "en") == '{"==="} end'
    assert escape_line("   ===", "en") == '{"==="}'
    assert escape_line("--- and ---", "en") == "--- and ---"  # '---' inside a body is a plain line
