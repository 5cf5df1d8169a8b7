"""Ink export: compiled by inkjs's compiler and played by its runtime. Every knot is entered and every choice
taken; a thousand seeded random plays per character read the ink variables after each choice and must keep
the runtime rules and match the Python reference step for step."""

from __future__ import annotations

import json
from typing import Any

import pytest
from export_samples import (
    all_samples,
    assert_plays_match_reference,
    checker_reports,
    comparable,
    engine_vars,
    flat,
    ident,
    mix_of,
    need_node_packages,
    ref_start,
    ref_take,
    run_node,
    sample_cases,
    symbol_table,
    write_files,
)

from ghost_story_factory.export import render
from ghost_story_factory.export.ink import escape_text

SAMPLES = all_samples()
PLAYS = 1000


@pytest.fixture(scope="module")
def ink_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], dict[str, Any]]:
    """One node run compiles and plays every exported sample: (sample, character) -> report."""
    need_node_packages("inkjs")
    options = ("--plays", str(PLAYS), "--seed", "7", "--traces", "40")
    return checker_reports(SAMPLES, "ink", "ink_check.js", tmp_path_factory.mktemp("ink"), *options)


def _tree(sample: str, name: str) -> dict[str, Any]:
    return next(c for c in SAMPLES[sample]["characters"] if c["name"] == name)["tree"]


def _reader(tree: dict[str, Any]):  # type: ignore[no-untyped-def]
    table = symbol_table(tree)
    names = {var: name for name, var in table["items"].items()}

    def read(step: dict[str, Any]) -> dict[str, Any]:
        held = [names[i] for i in step["vars"].get("items", [])]
        return engine_vars(table, step["node"], step["vars"], held)

    return read


@pytest.mark.parametrize(("sample", "name"), sample_cases(SAMPLES))
def test_ink_compiles_clean_and_every_knot_reads_like_the_story(
    ink_reports: dict, sample: str, name: str
) -> None:
    tree = _tree(sample, name)
    nodes = tree["nodes"]
    report = ink_reports[(sample, name)]
    assert report["errors"] == [], report["errors"]
    assert report["warnings"] == [], report["warnings"]
    assert report["problems"] == [], report["problems"]
    assert set(report["knots"]) == set(nodes)
    read = _reader(tree)
    table = symbol_table(tree)
    runtime = set((tree.get("runtime_endings") or {}).values())

    for nid, seen in report["knots"].items():
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
        # Entered directly, a knot holds the opening state; it sets only its scene (a shared ending keeps
        # the player's) and, at an ending, the ending type.
        here = {**ref_start(tree), "node": nid, "ending": node["ending"]["type"] if node["ending"] else ""}
        if nid not in runtime:
            here["scene"] = node["state"]["scene"]
        assert read({"node": nid, "vars": seen["vars"]}) == comparable(here, table), nid
        # Each choice from there: consequences, redirects and bridge as the reference has them.
        for index, arrival in enumerate(seen["arrivals"]):
            after, shown = ref_take(tree, here, index)
            assert arrival["node"] == shown["node"], (nid, index)
            assert flat(arrival["bridge"]) == shown["bridge"], (nid, index)
            assert read(arrival) == comparable(after, table), (nid, index)


@pytest.mark.parametrize(("sample", "name"), sample_cases(SAMPLES))
def test_ink_random_plays_keep_the_runtime_rules(ink_reports: dict, sample: str, name: str) -> None:
    tree = _tree(sample, name)
    plays = ink_reports[(sample, name)]["plays"]
    assert plays["count"] == PLAYS
    assert plays["violationCount"] == 0, plays["violations"][:5]
    assert abs(sum(plays["endingMix"].values()) - 1) < 1e-3
    kinds = {n["ending"]["type"] for n in tree["nodes"].values() if n["ending"]}
    assert set(plays["endingMix"]) <= kinds, mix_of(plays)
    assert plays["meanFearByStep"][0] == tree["nodes"][tree["root"]]["state"]["PR"]
    assert_plays_match_reference(tree, plays, _reader(tree))


def test_the_samples_meet_every_runtime_rule_in_ink(ink_reports: dict) -> None:
    """The hand-built samples do reach the rules: fear and dawn redirects, both runtime endings."""
    for sample in ("zh", "en"):
        for char in SAMPLES[sample]["characters"]:
            tree = char["tree"]
            runtime = tree["runtime_endings"]
            finals = {p["final"]["node"] for p in ink_reports[(sample, char["name"])]["plays"]["plays"]}
            assert runtime["fear_collapse"] in finals and runtime["dawn"] in finals, (sample, char["name"])


def test_the_checker_catches_a_broken_export(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Take the fear checks, a bridge and the adding of items out of an export: the plays must say so."""
    need_node_packages("inkjs")
    story = SAMPLES["zh"]
    [path] = write_files(render(story, "ink", "保安"), tmp_path)
    text = path.read_text("utf-8")
    broken = text.replace("{ fear >= 100: -> node_0001 }", "").replace(" # bridge\n", "\n", 1)
    broken = broken.replace("~ items += i_", "~ items = i_")  # keeps only the last item found
    path.write_text(broken, "utf-8")
    path.with_name(path.name + ".tree.json").write_text(json.dumps(story["characters"][0]["tree"]))
    report = run_node("ink_check.js", "--plays", "300", str(path))[str(path)]
    kinds = report["plays"]["violationKinds"]
    assert "fear 100 without a fear_collapse ending" in kinds
    assert "bridge not shown" in kinds
    assert "item vanished" in kinds


NAMES = ["楼梯 /* 二楼", "a\nb */ c", "// 注释", "-> END", "{x}", "~ fear = 100", "\ufeff=== k ==="]


def test_hostile_scene_item_flag_and_character_names_compile_and_read_back(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Names straight from a story file (no writer cleaned them): a block comment, a newline, a divert
    in a scene, an item, a flag and the character's name; ink compiles, and every name reads back."""
    need_node_packages("inkjs")
    story = json.loads(json.dumps(SAMPLES["zh"]))
    char = story["characters"][0]
    char["name"] = "保安 /* \n 夜班"
    nodes = char["tree"]["nodes"]
    for index, node in enumerate(nodes.values()):
        node["state"]["scene"] = f"{NAMES[index % len(NAMES)]} {index}"
        for choice in node["choices"]:
            choice["consequences"]["items"] = [NAMES[(index + 1) % len(NAMES)]]
            choice["consequences"]["flags"] = {NAMES[(index + 2) % len(NAMES)]: True}
    [path] = write_files(render(story, "ink", char["name"]), tmp_path)
    path.with_name(path.name + ".tree.json").write_text(json.dumps(char["tree"], ensure_ascii=False))
    report = run_node("ink_check.js", "--plays", "100", str(path))[str(path)]
    assert report["errors"] == [] and report["warnings"] == [] and report["problems"] == [], report["errors"]
    assert set(report["knots"]) == set(nodes)
    runtime = set((char["tree"].get("runtime_endings") or {}).values())
    for nid, seen in report["knots"].items():
        if nid not in runtime:  # a scene is one line in ink: its white space folded
            assert seen["vars"]["scene"] == flat(nodes[nid]["state"]["scene"]), nid
    assert report["plays"]["violationCount"] == 0, report["plays"]["violations"][:3]


def test_escape_text_makes_ink_markup_literal() -> None:
    assert escape_text("/* c */") == "\\/\\* c \\*\\/"  # the comment pass sees no '/*' or '*/'
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
    assert "VAR time = 180" in text  # the opening clock, 03:00, in minutes
    assert f"LIST items = ({ident('i', '怀表')})" in text  # held from the start


_WITH_PLAYTEST = {
    key: story
    for key, story in SAMPLES.items()
    if all((c.get("report") or {}).get("playtest") for c in story["characters"])
}


@pytest.mark.parametrize(("sample", "name"), sample_cases(_WITH_PLAYTEST))
def test_ink_ending_mix_matches_the_stories_own_playtest(ink_reports: dict, sample: str, name: str) -> None:
    """A generated story's report carries the generator's own playtest (random plays under the runtime
    rules, in Python): a thousand random plays in inkjs end in about the same mix."""
    char = next(c for c in SAMPLES[sample]["characters"] if c["name"] == name)
    playtest = char["report"]["playtest"]
    ours = ink_reports[(sample, name)]["plays"]["endingMix"]
    for kind in {*ours, *playtest["ending_mix"]}:
        assert abs(ours.get(kind, 0) - playtest["ending_mix"].get(kind, 0)) < 0.08, (
            kind,
            mix_of({"endingMix": ours}),
        )
