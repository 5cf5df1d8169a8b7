"""The Mermaid map renders in real Mermaid 11 with its default settings: a default story (300 nodes, about
750 choices per character) comes as an overview plus per-depth maps, each within maxTextSize and maxEdges,
and each is drawn by mermaid.min.js in headless Chromium as an SVG with every node and edge it declares;
the same graph as one diagram is refused by that same Mermaid, which is why the map is split."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from export_samples import ARTIFACTS, all_samples, need, need_chromium

from ghost_story_factory.export import graph, render
from ghost_story_factory.export._common import characters

MERMAID_VERSION = "11.17.2"  # the version tools/setup_test_tools.sh installs
DRIVER = Path(__file__).with_name("test_map_chromium.js")
LANGS = ("zh", "en")
_NODE = re.compile(r'^ +(\w+)(\["|\(\[")')
_EDGE = re.compile(r"^  (\w+) -->\|[^|]*\| (\w+)$")


def mermaid_js() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    folder = Path(
        os.environ.get("GSF_MERMAID_DIR") or cache / "ghost-story-factory" / f"mermaid-{MERMAID_VERSION}"
    )
    return folder / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"


def need_mermaid() -> Path:
    need_chromium()
    need(mermaid_js().is_file(), f"mermaid {MERMAID_VERSION} is missing: run tools/setup_test_tools.sh")
    return mermaid_js()


def _declared(text: str) -> tuple[list[str], list[tuple[str, str]]]:
    nodes = [m.group(1) for line in text.splitlines() if (m := _NODE.match(line)) and "subgraph" not in line]
    edges = [(m.group(1), m.group(2)) for line in text.splitlines() if (m := _EDGE.match(line))]
    return nodes, edges


def _story(request: pytest.FixtureRequest, lang: str) -> dict[str, Any]:
    story: dict[str, Any] = request.getfixturevalue(f"offline_story_{lang}")
    return story


@pytest.mark.parametrize("lang", LANGS)
def test_default_story_mermaid_stays_within_mermaid_limits(request: pytest.FixtureRequest, lang: str) -> None:
    story = _story(request, lang)
    for char in characters(story):
        files = graph.render_mermaid_files(story, char)
        assert len(files) > 2, "a default story's map is an overview plus several detailed maps"
        assert files[0][0] == "" and all(suffix.startswith("_part") for suffix, _ in files[1:])
        drawn: list[str] = []
        targets: list[tuple[str, str]] = []
        for _, text in files:
            assert graph.mermaid_size(text) < graph.MERMAID_MAX_TEXT
            nodes, edges = _declared(text)
            assert len(edges) < graph.MERMAID_MAX_EDGES
        for _, text in files[1:]:
            nodes, edges = _declared(text)
            drawn += [n for n in nodes if not n.endswith("_elsewhere")]
            targets += [(tail, head.removesuffix("_elsewhere")) for tail, head in edges]
        # Every node is drawn in exactly one detailed map; every choice is drawn once, into its node or
        # into a box that names the node and the part it is in.
        assert sorted(drawn) == sorted(char.order)
        assert sorted(targets) == sorted(
            (nid, c["next"]) for nid in char.order for c in char.nodes[nid]["choices"]
        )
        # Through the export itself: the first file is the overview, the rest (when listed) the parts.
        exported = [content.decode("utf-8") for _, content in render(story, "mermaid", char.name)]
        assert exported[0] == files[0][1] and set(exported) <= {text for _, text in files}


def _render_in_mermaid(paths: list[Path]) -> dict[str, Any]:
    import json

    result = subprocess.run(
        ["node", str(DRIVER), "mermaid", str(need_mermaid()), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=580,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report: dict[str, Any] = json.loads(result.stdout)
    return report


@pytest.mark.parametrize("lang", LANGS)
def test_default_story_mermaid_renders_in_mermaid_11(
    request: pytest.FixtureRequest, lang: str, tmp_path: Path
) -> None:
    need_mermaid()
    story = _story(request, lang)
    paths: list[Path] = []
    for i, char in enumerate(characters(story)):
        for suffix, text in graph.render_mermaid_files(story, char):
            paths.append(tmp_path / f"c{i}{suffix}.mmd")
            paths[-1].write_text(text, encoding="utf-8")
    # The control: the same first character's graph as a single diagram, as the export used to write it.
    first = characters(story)[0]
    whole = graph._Map(story, first)
    control = tmp_path / "control_whole.mmd"
    control.write_text(graph._mermaid_graph(whole, list(first.order), whole.title, None)[0], encoding="utf-8")
    report = _render_in_mermaid([*paths, control])
    assert report["loaded"] and report["requests"] == [] and report["pageErrors"] == []
    *rendered, refused = report["files"]
    assert refused["error"] or refused["maxTextExceeded"], (
        "Mermaid 11 now draws the whole graph: splitting may go"
    )
    for path, shown in zip(paths, rendered, strict=True):
        nodes, edges = _declared(path.read_text(encoding="utf-8"))
        assert shown["error"] is None, (path.name, shown["error"])
        assert shown["isSvg"] and not shown["maxTextExceeded"] and not shown["syntaxError"], path.name
        assert shown["nodes"] == len(nodes), path.name
        assert shown["edges"] == len(edges), path.name
    out = ARTIFACTS / "export-map" / f"mermaid-{lang}"
    out.mkdir(parents=True, exist_ok=True)
    for path in paths[:4]:
        (out / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")


def test_sample_maps_with_hostile_text_render_in_mermaid_11(tmp_path: Path) -> None:
    """The hand-built samples (markup, quotes, Mermaid syntax and emoji in every text) draw cleanly."""
    need_mermaid()
    paths = []
    for key, story in all_samples().items():
        for i, (_, content) in enumerate(render(story, "mermaid")):
            paths.append(tmp_path / f"{key}_{i}.mmd")
            paths[-1].write_bytes(content)
    report = _render_in_mermaid(paths)
    assert report["requests"] == [] and report["pageErrors"] == []
    for path, shown in zip(paths, report["files"], strict=True):
        nodes, edges = _declared(path.read_text(encoding="utf-8"))
        assert shown["error"] is None and not shown["syntaxError"], (path.name, shown)
        assert (shown["nodes"], shown["edges"]) == (len(nodes), len(edges)), path.name


def _wide_story(width: int) -> dict[str, Any]:
    """A root with ``width`` choices, each into a node with three choices into 40 endings: one depth holds
    more choices than one Mermaid diagram may."""

    def state() -> dict[str, Any]:
        return {"scene": "hall", "PR": 0, "GR": 0, "WF": 0, "time": "00:00", "flags": {}, "inventory": []}

    def choice(text: str, target: str) -> dict[str, Any]:
        effects = {"PR": 1, "GR": 0, "WF": 0, "minutes": 1, "scene": None, "flags": {}, "items": []}
        return {"text": text, "consequences": effects, "next": target, "bridge": ""}

    root = {"narrative": "The start.", "state": state(), "ending": None}
    root["choices"] = [choice(f"go {i}", f"a{i:03d}") for i in range(width)]
    nodes: dict[str, Any] = {"root": root}
    for i in range(width):
        nodes[f"a{i:03d}"] = {
            "narrative": f"Wide node {i} stands here. It is number {i}.",
            "state": state(),
            "choices": [choice(f"end {i} {k}", f"e{(i * 3 + k) % 40:02d}") for k in range(3)],
            "ending": None,
        }
    for j in range(40):
        ending = {"type": "escape", "title": f"Out {j}"}
        nodes[f"e{j:02d}"] = {"narrative": f"Ending {j}.", "state": state(), "choices": [], "ending": ending}
    tree = {"root": "root", "nodes": nodes}
    return {
        "story": {"title": "Wide", "city": "X", "lang": "en"},
        "characters": [{"name": "W", "tree": tree}],
    }


def test_a_depth_too_wide_for_one_diagram_is_cut_and_renders(tmp_path: Path) -> None:
    story = _wide_story(130)
    [char] = characters(story)
    files = graph.render_mermaid_files(story, char)
    paths = []
    drawn: list[str] = []
    for suffix, text in files:
        nodes, edges = _declared(text)
        assert len(edges) < graph.MERMAID_MAX_EDGES and graph.mermaid_size(text) < graph.MERMAID_MAX_TEXT
        if suffix:
            drawn += [n for n in nodes if not n.endswith("_elsewhere")]
        paths.append(tmp_path / f"wide{suffix}.mmd")
        paths[-1].write_text(text, encoding="utf-8")
    assert sorted(drawn) == sorted(char.order)
    assert sum("_d01-01" in suffix for suffix, _ in files) >= 1, [suffix for suffix, _ in files]
    report = _render_in_mermaid(paths)
    for path, shown in zip(paths, report["files"], strict=True):
        nodes, edges = _declared(path.read_text(encoding="utf-8"))
        assert shown["error"] is None and not shown["syntaxError"], (path.name, shown)
        assert (shown["nodes"], shown["edges"]) == (len(nodes), len(edges)), path.name
