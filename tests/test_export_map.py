"""Map exports: DOT read back by Graphviz, PNG/SVG drawn by it, Mermaid checked structurally."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import pytest
from export_samples import ARTIFACTS, all_samples, need_graphviz

from ghost_story_factory.export import ExportError, render
from ghost_story_factory.export import graph as graph_module
from ghost_story_factory.export._common import ENDING_COLORS, characters

SAMPLES = all_samples()


def _cases() -> list[Any]:
    return [
        pytest.param(key, char["name"], id=f"{key}-{char['name']}")
        for key, story in SAMPLES.items()
        for char in story["characters"]
    ]


def _tree(sample: str, name: str) -> dict[str, Any]:
    return next(c for c in SAMPLES[sample]["characters"] if c["name"] == name)["tree"]


@pytest.mark.parametrize(("sample", "name"), _cases())
def test_dot_is_read_back_by_graphviz(sample: str, name: str) -> None:
    need_graphviz()
    nodes = _tree(sample, name)["nodes"]
    [(file_name, content)] = render(SAMPLES[sample], "dot", name)
    assert file_name.endswith(".dot")
    result = subprocess.run(["dot", "-Tjson"], input=content, capture_output=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr.decode()
    assert not result.stderr.strip(), result.stderr.decode()  # no syntax warnings either
    graph = json.loads(result.stdout)
    objects = graph["objects"]
    names = {o["name"] for o in objects if "nodes" not in o}  # clusters also carry a node list
    assert set(nodes) <= names
    by_id = {o["_gvid"]: o["name"] for o in objects}
    edges = sorted((by_id[e["tail"]], by_id[e["head"]]) for e in graph.get("edges", []))
    assert edges == sorted((nid, c["next"]) for nid, n in nodes.items() for c in n["choices"])
    drawn = {o["name"]: o for o in objects}
    # The shared (runtime) endings sit apart, in their own dashed cluster, with the rule that leads there.
    runtime = set((_tree(sample, name).get("runtime_endings") or {}).values())
    clusters = {o["name"]: o for o in objects if "nodes" in o}
    if runtime:
        members = {by_id[i] for i in clusters["cluster_runtime_endings"]["nodes"]}
        assert members == runtime
        assert not any(head in runtime for _, head in edges)
        for nid in runtime:
            assert "← " in drawn[nid]["label"]
    for nid, node in nodes.items():
        if node["ending"]:
            assert drawn[nid]["fillcolor"] == ENDING_COLORS[node["ending"]["type"]]
        merged = sum(c["next"] == nid for n in nodes.values() for c in n["choices"]) > 1
        assert (drawn[nid].get("peripheries") == "2") == merged, nid


@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_png_and_svg_are_drawn(fmt: str) -> None:
    need_graphviz()
    files = render(SAMPLES["zh"], fmt)
    assert [name.rsplit(".", 1)[1] for name, _ in files] == [fmt] * len(SAMPLES["zh"]["characters"])
    for name, content in files:
        if fmt == "png":
            assert content.startswith(b"\x89PNG\r\n\x1a\n")
        else:
            assert b"<svg" in content[:2000] and "钟楼".encode() in content
        out = ARTIFACTS / "export-map" / name
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(content)


def test_png_without_graphviz_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graph_module.shutil, "which", lambda _name: None)
    for fmt in ("png", "svg"):
        with pytest.raises(ExportError) as raised:
            render(SAMPLES["en"], fmt)
        assert str(raised.value) == "Graphviz is not installed: apt-get install graphviz, or use --format dot"
        assert raised.value.exit_code == 1


_NODE = re.compile(r'^(  |    )(\w+)(\["|\(\[")(.*?)("\]|"\]\))$')
_SUBGRAPH = re.compile(r'^  subgraph (\w+) \["([^"]*)"\]$')
_EDGE = re.compile(r"^  (\w+) -->\|([^|]*)\| (\w+)$")
_LABEL_FORBIDDEN = re.compile(r'["\[\](){}|<>`]')


@pytest.mark.parametrize(("sample", "name"), _cases())
def test_mermaid_is_structurally_sound(sample: str, name: str) -> None:
    nodes = _tree(sample, name)["nodes"]
    [(file_name, content)] = render(SAMPLES[sample], "mermaid", name)
    assert file_name.endswith(".mmd")
    lines = content.decode("utf-8").splitlines()
    assert lines[0] == "---" and lines[1].startswith("title: ") and lines[2] == "---"
    json.loads(lines[1][len("title: ") :])  # the front-matter title is a quoted string
    assert lines[3] == "flowchart LR"  # one column per depth
    declared: dict[str, str] = {}
    edges: list[tuple[str, str]] = []
    class_lines = []
    subgraph: str | None = None
    in_subgraph: dict[str, set[str]] = {}
    for line in lines[4:]:
        if sub := _SUBGRAPH.match(line):
            assert subgraph is None and not _LABEL_FORBIDDEN.search(sub.group(2))
            subgraph = sub.group(1)
            in_subgraph[subgraph] = set()
        elif line == "  end":
            assert subgraph is not None
            subgraph = None
        elif node := _NODE.match(line):
            indent, ident, _, label, _ = node.groups()
            assert (indent == "    ") == (subgraph is not None), line
            if subgraph:
                in_subgraph[subgraph].add(ident)
            assert ident not in declared
            # <br/> is the one tag allowed: Mermaid's line break inside a label.
            assert not _LABEL_FORBIDDEN.search(label.replace("<br/>", "")), label
            declared[ident] = label
        elif edge := _EDGE.match(line):
            assert not _LABEL_FORBIDDEN.search(edge.group(2)), edge.group(2)
            edges.append((edge.group(1), edge.group(3)))
        elif line.startswith(("  classDef ", "  class ")):
            class_lines.append(line)
        else:
            pytest.fail(f"unexpected Mermaid line: {line!r}")
    assert subgraph is None, "a subgraph is left open"
    assert set(declared) == set(nodes)
    runtime = set((_tree(sample, name).get("runtime_endings") or {}).values())
    assert in_subgraph.get("runtime_endings", set()) == runtime
    for tail, head in edges:  # every edge's endpoints are declared nodes
        assert tail in declared and head in declared
    assert sorted(edges) == sorted((nid, c["next"]) for nid, n in nodes.items() for c in n["choices"])
    for nid, node in nodes.items():
        if node["ending"]:
            assert any(
                line.startswith("  class ")
                and line.endswith(f" ending_{node['ending']['type']}")
                and nid in line
                for line in class_lines
            ), nid
    defined = {line.split()[1] for line in class_lines if line.startswith("  classDef ")}
    for line in class_lines:
        if line.startswith("  class "):
            _, members, cls = line.split()
            assert cls in defined and set(members.split(",")) <= set(declared)


def _png_size(content: bytes) -> tuple[int, int]:
    assert content.startswith(b"\x89PNG\r\n\x1a\n")
    return int.from_bytes(content[16:20], "big"), int.from_bytes(content[20:24], "big")


def test_default_story_pictures_fit_a_screen_with_progress(offline_story_zh: dict[str, Any]) -> None:
    """A 300-node character: an overview and one picture per depth range, each at most 3840×2400 px, every
    node drawn in exactly one part, a Chinese progress line when each drawing starts and ends."""
    need_graphviz()
    char = characters(offline_story_zh)[0]
    lines: list[str] = []
    pngs = graph_module.render_image_files(offline_story_zh, char, "png", progress=lines.append)
    assert len(pngs) > 2 and pngs[0][0] == ""
    max_w, max_h = (inches * 96 for inches in graph_module.IMAGE_MAX_INCHES)
    for suffix, content in pngs:
        width, height = _png_size(content)
        assert width <= max_w and height <= max_h, (suffix, width, height)
        out = ARTIFACTS / "export-map" / f"default_zh{suffix}.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(content)
    starts = [line for line in lines if "Graphviz 正在绘制" in line]
    ends = [line for line in lines if "绘制完成" in line]
    assert len(starts) == len(ends) == len(pngs), lines
    svgs = graph_module.render_image_files(offline_story_zh, char, "svg", progress=None)
    drawn: list[str] = []
    for _, content in svgs[1:]:
        titles = re.findall(r"<title>([^<]*)</title>", content.decode("utf-8"))
        drawn += [t for t in titles if t in char.nodes]
    assert sorted(drawn) == sorted(char.order)


def test_default_story_labels_tell_nodes_apart(offline_story_en: dict[str, Any]) -> None:
    """Below the id, no two nodes of a character read alike (the offline writer opens many nodes alike)."""
    need_graphviz()
    for char in characters(offline_story_en):
        [(_, content)] = render(offline_story_en, "dot", char.name)
        result = subprocess.run(
            ["dot", "-Tjson"], input=content, capture_output=True, timeout=120, check=False
        )
        assert result.returncode == 0, result.stderr.decode()
        objects = json.loads(result.stdout)["objects"]
        texts = [o["label"].split("\\n", 1)[1] for o in objects if o.get("name") in char.nodes]
        assert len(texts) == len(char.order) and len(set(texts)) == len(texts)


def test_progress_lines_go_to_stderr_in_english_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    need_graphviz()
    [(_, content)] = render(SAMPLES["en"], "png", SAMPLES["en"]["characters"][0]["name"])
    assert content.startswith(b"\x89PNG")
    err = capsys.readouterr().err
    assert "Graphviz is drawing the map" in err and "drawn (" in err
