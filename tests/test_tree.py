"""Invariants every finished tree must hold, and the report."""

from ghost_story_factory.pregenerator.state import GameState
from ghost_story_factory.pregenerator.tree import Choice, Node, Tree, main_path, report, validate


def _tree() -> Tree:
    """root -> a, b; a -> end1, b -> end1 (a merge, bridged), b -> end2; two shared runtime endings."""
    s = GameState(scene="s")
    nodes = {
        "fear": Node(
            "fear", 2, s, narrative="f", ending={"type": "fear_collapse", "title": "t", "reason": "runtime"}
        ),
        "dawn": Node("dawn", 2, s, narrative="d", ending={"type": "dawn", "title": "t", "reason": "runtime"}),
        "root": Node("root", 0, s, narrative="start"),
        "a": Node("a", 1, s, narrative="a"),
        "b": Node("b", 1, s, narrative="b"),
        "end1": Node("end1", 2, s, narrative="e1", ending={"type": "dawn", "title": "t", "reason": "writer"}),
        "end2": Node(
            "end2", 2, s, narrative="e2", ending={"type": "trapped", "title": "t", "reason": "writer"}
        ),
    }
    nodes["root"].choices = [Choice("go a", {}, "a"), Choice("go b", {}, "b")]
    nodes["a"].choices = [Choice("on", {}, "end1")]
    nodes["b"].choices = [Choice("on", {}, "end1"), Choice("off", {}, "end2")]
    nodes["end1"].arrivals = [["a", 0], ["b", 0]]
    nodes["end1"].bridges = ["From a.", "From b."]
    runtime = {"fear_collapse": "fear", "dawn": "dawn"}
    return Tree(root="root", nodes=nodes, queue=[], registry={}, node_counter=10, runtime_endings=runtime)


def test_valid_tree_and_report() -> None:
    tree = _tree()
    assert validate(tree, max_nodes=7) == []
    assert main_path(tree) == ["root", "a", "end1"]
    rep = report(tree)
    assert rep["nodes"] == 7 and rep["main_path_length"] == 2
    assert rep["endings_by_type"] == {"dawn": 1, "trapped": 1}  # the shared runtime endings are not counted
    assert rep["shared_arrivals"] == 2
    assert rep["play_minutes_main_path"] == 0.5


def test_each_broken_invariant_is_found() -> None:
    cases = {
        "missing node": lambda t: t.nodes["a"].choices.append(Choice("x", {}, "nowhere")),
        "choices and is not an ending": lambda t: setattr(t.nodes["end2"], "ending", None),
        "cycle": lambda t: (
            t.nodes["end1"].choices.append(Choice("back", {}, "b"))
            or setattr(t.nodes["end1"], "ending", None)
        ),
        "same text": lambda t: t.nodes["b"].choices.__setitem__(1, Choice("on", {}, "end2")),
        "to itself": lambda t: t.nodes["a"].choices.append(Choice("loop", {}, "a")),
        "unreachable": lambda t: t.nodes.__setitem__(
            "lost",
            Node("lost", 1, GameState(scene="s"), narrative="x", ending={"type": "dawn", "title": "t"}),
        ),
        "exceed the budget": lambda t: None,
        "no bridge for each": lambda t: setattr(t.nodes["end1"], "bridges", []),
        "no runtime ending for dawn": lambda t: t.runtime_endings.pop("dawn"),
        "an arrival b:1 that does not lead to it": lambda t: setattr(
            t.nodes["end1"], "arrivals", [["a", 0], ["b", 1]]
        ),
    }
    for expected, breaks in cases.items():
        tree = _tree()
        breaks(tree)
        budget = 6 if expected == "exceed the budget" else 10
        problems = validate(tree, max_nodes=budget)
        assert any(expected in p for p in problems), (expected, problems)


def test_no_ending_reachable_is_found() -> None:
    tree = _tree()
    # a dead loop-free branch whose leaf pretends to go on: a -> c, c -> (nothing, not an ending)
    tree.nodes["c"] = Node("c", 2, GameState(scene="s"), narrative="c")
    tree.nodes["a"].choices = [Choice("to c", {}, "c")]
    tree.nodes["end1"].arrivals, tree.nodes["end1"].bridges = [], []  # only b leads there now
    problems = validate(tree, max_nodes=10)
    assert any("no ending is reachable from a" in p for p in problems)


def test_round_trip_and_inconsistency_refused() -> None:
    tree = _tree()
    assert Tree.from_dict(tree.to_dict()).to_dict() == tree.to_dict()
    data = tree.to_dict()
    data["registry"] = {"h": "ghost"}
    try:
        Tree.from_dict(data)
    except ValueError as exc:
        assert "ghost" in str(exc)
    else:
        raise AssertionError("an inconsistent registry was accepted")
