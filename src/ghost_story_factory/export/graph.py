"""Maps of one character's graph: Graphviz DOT, Mermaid flowcharts, and PNG/SVG rendered through ``dot``.

A default story (300 nodes, 750 choices per character) is too big for one readable picture and for Mermaid's
default limits, so the Mermaid and image maps of a big graph come as an overview (one box per depth) plus
one detailed map per depth range; nodes are labelled with their id and the sentence of their narrative
that the fewest other nodes share, so two nodes never read alike.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._common import (
    Character,
    ExportError,
    display_title,
    ending_color,
    ending_label,
    excerpt,
    is_cjk,
    labels,
    short_hash,
    story_info,
)

_EXCERPT_CHARS = {True: 36, False: 56}  # by is_cjk: a CJK character is two columns wide
_EDGE_CHARS = 18
_DOT_TIMEOUT_SECONDS = 120
_HEARTBEAT_SECONDS = 2.0
_ROOT_FILL = "#dbe9ff"
_NODE_FILL = "#f4f4f4"
_STUB_FILL = "#ffffff"
_MERGED_BORDER = "#1f4e79"
_FONT = "sans-serif"  # fontconfig picks a face with the glyphs (CJK, emoji) when one is installed

# Mermaid 11's defaults (maxTextSize 50,000 characters, maxEdges 500), with room to spare.
MERMAID_MAX_TEXT = 50_000
MERMAID_MAX_EDGES = 500
_MERMAID_TEXT_BUDGET = 45_000
_MERMAID_EDGE_BUDGET = 300  # a part a writer can still follow, and quick to lay out
# A picture a screen can show: Graphviz scales anything bigger down to this (inches at 96 dpi: 3840×2400 px);
# a graph with more nodes than this is drawn as an overview plus one picture per depth range.
IMAGE_MAX_INCHES = (40, 25)
IMAGE_NODES_PER_PART = 64
_IMAGE_LEVELS_PER_PART = 5

Progress = Callable[[str], None]

# Every word the maps and the player's map view show, in both languages.
MAP_WORDS: dict[str, dict[str, str]] = {
    "zh": {
        "depth": "第 {depth} 层",
        "nodes": "{count} 个节点",
        "endings": "{count} 个结局",
        "node": "1 个节点",
        "ending": "1 个结局",
        "legend": "图例",
        "part": "第 {index}/{count} 部分",
        "part_range": "第 {index}/{count} 部分 · 第 {first}–{last} 层",
        "overview": "总览：{count} 张分图，文件名以 _part1 … _part{count} 结尾",
        "elsewhere": "→ {node}（第 {index} 部分）",
        "drawing": "🗺️  Graphviz 正在绘制{what}…",
        "still_drawing": "   ⏳ 仍在绘制{what}：已用 {seconds:.0f} 秒",
        "drawn": "   ✅ {what}绘制完成（{seconds:.1f} 秒）",
        "the_map": "地图",
        "map_of": "「{name}」的地图",
        "overview_of": "「{name}」的总览图",
        "part_of": "「{name}」的分图 {index}/{count}（第 {first}–{last} 层，{nodes} 个节点）",
        "map": "地图",
        "close_map": "返回故事",
        "zoom_in": "放大",
        "zoom_out": "缩小",
        "zoom_reset": "复位",
        "map_hint": "滚轮或按钮缩放，拖动平移；点击节点阅读。金色是你走过的路。",
        "visited_count": "已走过 {count} 个节点",
    },
    "en": {
        "depth": "depth {depth}",
        "nodes": "{count} nodes",
        "endings": "{count} endings",
        "node": "1 node",
        "ending": "1 ending",
        "legend": "legend",
        "part": "part {index}/{count}",
        "part_range": "part {index}/{count} · depths {first}–{last}",
        "overview": "overview: {count} detailed maps in the files ending _part1 … _part{count}",
        "elsewhere": "→ {node} (part {index})",
        "drawing": "🗺️  Graphviz is drawing {what}…",
        "still_drawing": "   ⏳ still drawing {what}: {seconds:.0f} s so far",
        "drawn": "   ✅ {what} drawn ({seconds:.1f} s)",
        "the_map": "the map",
        "map_of": "the map of {name}",
        "overview_of": "the overview map of {name}",
        "part_of": "map {index}/{count} of {name} (depths {first}–{last}, {nodes} nodes)",
        "map": "Map",
        "close_map": "Back to the story",
        "zoom_in": "Zoom in",
        "zoom_out": "Zoom out",
        "zoom_reset": "Reset",
        "map_hint": "Wheel or buttons zoom, drag pans; click a node to read it. Gold is the path you took.",
        "visited_count": "{count} nodes visited",
    },
}


def _count(words: dict[str, str], noun: str, count: int) -> str:
    """ "1 node", "3 nodes" (zh has one form): the singular entry for one, the plural otherwise."""
    return words[noun] if count == 1 else words[noun + "s"].format(count=count)


def map_words(lang: str | None) -> dict[str, str]:
    return MAP_WORDS["zh"] if (lang or "").lower().startswith("zh") else MAP_WORDS["en"]


_NO_LINE_START = set("，。、！？；：）」』”’…,.!?;:)]}—")


def _wrap(text: str, width: int) -> list[str]:
    """Lines of a short label, about ``width`` columns each (a CJK character counts two). Words of Latin
    letters or digits stay whole and punctuation never starts a line, so CJK and English both read well."""
    lines: list[str] = []
    line, used = "", 0
    for token in re.findall(r"[A-Za-z0-9'’_\-]+|\s+|.", text):
        size = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in token)
        if token.isspace():
            if line:
                line, used = line + " ", used + 1
            continue
        if line and used + size > width and token[0] not in _NO_LINE_START:
            lines.append(line.rstrip())
            line, used = "", 0
        line, used = line + token, used + size
    if line.strip():
        lines.append(line.rstrip())
    return lines or [""]


# A sentence: up to and including its end mark and any closing quotes.
_SENTENCE = re.compile(r"[^。！？!?；;.…]+[。！？!?；;.…]*[」』”’\"')）]*")


def _sentences(text: str) -> list[str]:
    flat = " ".join(str(text).split())
    return [s.strip() for s in _SENTENCE.findall(flat) if s.strip()]


def distinct_lines(char: Character, limit: int) -> dict[str, str]:
    """Node -> the sentence of its narrative (cut to ``limit`` characters) that the fewest of the character's
    nodes also show, and of those the one whose opening words the fewest share (then the earliest): the
    offline writer and many models open nodes with the same scene-setting words, which say nothing about
    which node this is."""
    per_node = {
        nid: [excerpt(s, limit) for s in _sentences(char.nodes[nid].get("narrative") or "")]
        for nid in char.order
    }
    counts = Counter(s for sentences in per_node.values() for s in set(sentences))
    openings = Counter(o for sentences in per_node.values() for o in {_opening(s) for s in sentences})
    result: dict[str, str] = {}
    used: set[str] = set()
    for nid, sentences in per_node.items():
        ranked = sorted(
            range(len(sentences)), key=lambda i: (counts[sentences[i]], openings[_opening(sentences[i])], i)
        )
        # The best sentence no earlier node already shows, so two labels read alike only when they must.
        fresh = [sentences[i] for i in ranked if sentences[i] not in used]
        result[nid] = fresh[0] if fresh else sentences[ranked[0]] if sentences else ""
        used.add(result[nid])
    return result


def _opening(sentence: str) -> str:
    """The first words of a sentence: three Latin words, or eight characters of CJK."""
    words = sentence.split()
    return " ".join(words[:3]).lower() if len(words) >= 3 else sentence[:8]


def node_depths(char: Character) -> dict[str, int]:
    """Node -> its depth: the fewest choices from the root (breadth first); the shared endings no choice
    reaches sit one level below the deepest node."""
    depths = {char.root: 0}
    for nid in char.order:  # breadth-first order, so the first depth given is the shortest
        if nid in depths:
            for choice in char.nodes[nid].get("choices") or []:
                depths.setdefault(choice["next"], depths[nid] + 1)
    deepest = max(depths.values())
    return {nid: depths.get(nid, deepest + 1) for nid in char.order}


def beat_titles(story: dict[str, Any], char: Character) -> dict[int, str]:
    """Depth -> the title of the plan's beat there ({} for a story without a plan)."""
    for raw in story.get("characters") or []:
        if isinstance(raw, dict) and str(raw.get("name")) == char.name:
            plan = raw.get("plan")
            beats = plan.get("beats") if isinstance(plan, dict) else None
            titles = {}
            for beat in beats if isinstance(beats, list) else []:
                if isinstance(beat, dict) and isinstance(beat.get("depth"), int):
                    titles[beat["depth"]] = " ".join(str(beat.get("title") or "").split())
            return titles
    return {}


def _node_label(
    nid: str, node: dict[str, Any], lang: str | None, key: str, rule: str | None = None
) -> list[str]:
    lines = [nid, *_wrap(key, 24)]
    ending = node.get("ending")
    if ending:
        title = " ".join(str(ending.get("title") or "").split())
        kind = ending_label(lang, str(ending.get("type", "")))
        lines.append(f"[{kind}] {title}".strip())
    if rule:
        lines.append(f"← {rule}")
    return lines


def _rules(char: Character, lang: str | None) -> dict[str, str]:
    """Runtime ending node -> the rule that sends a player there ("fear reaches 100", "04:00")."""
    words = labels(lang)
    names = {"fear_collapse": words["fear_rule"], "dawn": words["dawn_rule"]}
    return {nid: names[kind] for kind, nid in char.runtime_endings.items()}


@dataclass(frozen=True)
class MapPart:
    """The nodes of one detailed map: the depths ``first``..``last``, in the character's order."""

    index: int  # 1-based
    first: int
    last: int
    nodes: tuple[str, ...]


class _Map:
    """Everything the map writers share about one character: depths, labels, rules, beat titles."""

    def __init__(self, story: dict[str, Any], char: Character) -> None:
        self.story = story
        self.char = char
        self.lang: str | None = story_info(story).get("lang")
        self.words = map_words(self.lang)
        self.title = " ".join(f"{display_title(story)} — {char.name}".split())
        self.depths = node_depths(char)
        self.keys = distinct_lines(char, _EXCERPT_CHARS[is_cjk(self.lang)])
        self.rules = _rules(char, self.lang)
        self.beats = beat_titles(story, char)
        deepest = max(self.depths.values())
        only_shared = all(n in self.rules for n in char.order if self.depths[n] == deepest)
        self.shared_depth = deepest if only_shared and self.rules else None

    def label(self, nid: str) -> list[str]:
        return _node_label(nid, self.char.nodes[nid], self.lang, self.keys[nid], self.rules.get(nid))

    def level_title(self, depth: int) -> str:
        if depth == self.shared_depth:
            return str(labels(self.lang)["shared_endings"])
        title = self.beats.get(depth, "")
        head = self.words["depth"].format(depth=depth)
        return f"{head} · {title}" if title else head

    def levels(self, members: list[str] | tuple[str, ...] | None = None) -> dict[int, list[str]]:
        result: dict[int, list[str]] = {}
        for nid in self.char.order if members is None else members:
            result.setdefault(self.depths[nid], []).append(nid)
        return dict(sorted(result.items()))

    def split(self, fits: Callable[[list[str]], bool]) -> list[MapPart]:
        """Consecutive depths, as many per part as ``fits`` allows; a depth too big for one part is cut into
        runs of nodes that fit (a single node always makes a part)."""
        groups: list[tuple[int, int, list[str]]] = []
        for depth, nodes in self.levels().items():
            if groups and fits(groups[-1][2] + nodes):
                first, _, kept = groups[-1]
                groups[-1] = (first, depth, kept + nodes)
            elif fits(nodes):
                groups.append((depth, depth, list(nodes)))
            else:
                run: list[str] = []
                for nid in nodes:
                    if run and not fits([*run, nid]):
                        groups.append((depth, depth, run))
                        run = []
                    run.append(nid)
                groups.append((depth, depth, run))
        return [MapPart(i + 1, first, last, tuple(nodes)) for i, (first, last, nodes) in enumerate(groups)]


def _fresh(base: str, taken: set[str]) -> str:
    name = base if base not in taken else f"{base}_{short_hash(base + str(len(taken)))}"
    taken.add(name)
    return name


# --- DOT -------------------------------------------------------------------------------------------
def _dot_string(text: str) -> str:
    """A DOT double-quoted string showing ``text`` literally: backslash escapes (\\n, \\N, \\G …) are
    Graphviz's label syntax, so every backslash and quote is escaped and control characters dropped."""
    clean = "".join(ch for ch in text if ch >= " ")
    return '"' + clean.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot_label(lines: list[str]) -> str:
    # Join escaped lines with DOT's centred line break; the escapes inside each line are already doubled.
    return '"' + "\\n".join(_dot_string(line)[1:-1] for line in lines) + '"'


def _dot_header(title: str, rankdir: str) -> list[str]:
    return [
        f"digraph {_dot_string(title)} {{",
        f"  graph [rankdir={rankdir}, labelloc=t, fontsize=16, fontname={_dot_string(_FONT)},"
        f" label={_dot_string(title)}];",
        f'  node [shape=box, style="rounded,filled", fillcolor="{_NODE_FILL}", fontname={_dot_string(_FONT)},'
        ' fontsize=10, margin="0.12,0.06"];',
        f'  edge [fontname={_dot_string(_FONT)}, fontsize=9, color="#555555", fontcolor="#333333"];',
    ]


def _dot_graph(m: _Map, members: list[str], title: str, part_of: dict[str, int] | None) -> str:
    """DOT for ``members`` (all nodes, or one part: then ``part_of`` tells where the other nodes are drawn,
    the graph runs left to right with one column per depth headed by its beat, and a choice into another
    part ends at a small dashed box naming the node and the part)."""
    char, lang = m.char, m.lang
    inside = set(members)
    taken = set(char.nodes)  # the boxes this map adds must not take a node's name
    out = _dot_header(title, "TB" if part_of is None else "LR")
    used_types: list[str] = []
    for nid in members:
        node = char.nodes[nid]
        attrs = [f"label={_dot_label(m.label(nid))}"]
        ending = node.get("ending")
        if ending:
            etype = str(ending.get("type", ""))
            if etype not in used_types:
                used_types.append(etype)
            attrs += [f'fillcolor="{ending_color(etype)}"', "shape=box", 'style="filled,bold"']
            attrs.append(f'fontcolor="{_text_color(ending_color(etype))}"')
        elif nid == char.root:
            attrs.append(f'fillcolor="{_ROOT_FILL}"')
        if char.is_merged(nid):
            # A merged state: several choices arrive here; a double border and a count make it visible.
            attrs += [
                "peripheries=2",
                f'color="{_MERGED_BORDER}"',
                f"xlabel={_dot_string(f'×{len(char.parents[nid])}')}",
            ]
        out.append(f"  {_dot_string(nid)} [{', '.join(attrs)}];")
    stubs: dict[str, str] = {}
    for nid in members:
        for choice in char.nodes[nid].get("choices") or []:
            target = choice["next"]
            if target not in inside and part_of is not None:
                if target not in stubs:
                    stubs[target] = _fresh(f"elsewhere:{target}", taken)
                    text = m.words["elsewhere"].format(node=target, index=part_of[target])
                    out.append(
                        f"  {_dot_string(stubs[target])} [label={_dot_string(text)}, style=dashed,"
                        f' fillcolor="{_STUB_FILL}"];'
                    )
                target = stubs[target]
            label = excerpt(str(choice.get("text", "")), _EDGE_CHARS)
            out.append(f"  {_dot_string(nid)} -> {_dot_string(target)} [label={_dot_string(label)}];")
    if part_of is not None:
        # One column per depth, headed by the depth and its beat, in depth order.
        heads = []
        for depth, nodes in m.levels(members).items():
            if depth == m.shared_depth:
                continue  # the shared endings have their own box below
            head = _fresh(f"depth:{depth}", taken)
            heads.append(head)
            out.append(
                f"  {_dot_string(head)} [shape=plaintext, style=solid, fontsize=12, label={_dot_string(m.level_title(depth))}];"
            )
            out.append(
                f"  {{ rank=same; {' '.join(_dot_string(n) for n in [head, *nodes] if n not in m.rules)} }}"
            )
        out += [
            f"  {_dot_string(a)} -> {_dot_string(b)} [style=invis];"
            for a, b in zip(heads, heads[1:], strict=False)
        ]
    shared = [nid for nid in m.rules if nid in inside]
    if shared:
        # The shared endings no choice leads to: apart, in a dashed box that says how a player gets there.
        out.append("  subgraph cluster_runtime_endings {")
        out.append(
            f'    label={_dot_string(labels(lang)["shared_endings"])}; fontsize=10; style=dashed; color="#999999";'
        )
        out += [f"    {_dot_string(nid)};" for nid in shared]
        out.append("  }")
    if used_types:
        out.append("  subgraph cluster_legend {")
        out.append(
            f'    label={_dot_string(map_words(lang)["legend"])}; fontsize=10; style=dashed; color="#999999";'
        )
        for etype in used_types:
            color = ending_color(etype)
            out.append(
                f"    {_dot_string(_fresh('legend_' + etype, taken))} [label={_dot_string(ending_label(lang, etype))},"
                f' fillcolor="{color}", fontcolor="{_text_color(color)}", style="filled"];'
            )
        out.append("  }")
    out.append("}")
    return "\n".join(out) + "\n"


def render_dot(story: dict[str, Any], char: Character) -> str:
    """The whole graph as Graphviz source (no size limit: DOT is for tools and for reading)."""
    m = _Map(story, char)
    return _dot_graph(m, list(char.order), m.title, None)


@dataclass(frozen=True)
class _Level:
    depth: int
    title: str
    nodes: int
    endings: int
    part: int


def _overview(m: _Map, parts: list[MapPart]) -> tuple[list[_Level], Counter[tuple[int, int]]]:
    """One box per depth and the number of choices between each pair of depths."""
    part_of = {nid: p.index for p in parts for nid in p.nodes}
    levels = [
        _Level(
            depth,
            m.level_title(depth),
            len(nodes),
            sum(1 for n in nodes if m.char.nodes[n].get("ending")),
            part_of[nodes[0]],
        )
        for depth, nodes in m.levels().items()
    ]
    flows: Counter[tuple[int, int]] = Counter()
    for nid in m.char.order:
        for choice in m.char.nodes[nid].get("choices") or []:
            flows[(m.depths[nid], m.depths[choice["next"]])] += 1
    return levels, flows


def _level_lines(m: _Map, level: _Level) -> list[str]:
    lines = [level.title, _count(m.words, "node", level.nodes)]
    if level.endings:
        lines[-1] += " · " + _count(m.words, "ending", level.endings)
    return lines


def _dot_overview(m: _Map, parts: list[MapPart]) -> str:
    levels, flows = _overview(m, parts)
    title = f"{m.title} · {m.words['overview'].format(count=len(parts))}"
    out = _dot_header(title, "TB")
    for part in parts:
        out.append(f"  subgraph {_dot_string(f'cluster_part_{part.index}')} {{")
        text = m.words["part_range"].format(
            index=part.index, count=len(parts), first=part.first, last=part.last
        )
        out.append(f'    label={_dot_string(text)}; fontsize=11; style=dashed; color="#999999";')
        for level in levels:
            if level.part == part.index:
                out.append(
                    f"    {_dot_string(f'depth:{level.depth}')} [label={_dot_label(_level_lines(m, level))}];"
                )
        out.append("  }")
    for (tail, head), count in sorted(flows.items()):
        out.append(
            f"  {_dot_string(f'depth:{tail}')} -> {_dot_string(f'depth:{head}')} [label={_dot_string(str(count))}];"
        )
    out.append("}")
    return "\n".join(out) + "\n"


def _text_color(fill: str) -> str:
    """Black or white text, whichever reads better on ``fill`` (perceived luminance)."""
    red, green, blue = (int(fill[i : i + 2], 16) for i in (1, 3, 5))
    return "#000000" if 0.299 * red + 0.587 * green + 0.114 * blue > 150 else "#ffffff"


def _stderr_line(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def render_image(
    dot_source: str,
    fmt: str,
    *,
    what: str = "",
    lang: str | None = None,
    progress: Progress | None = _stderr_line,
) -> bytes:
    """PNG or SVG drawn by Graphviz's ``dot``, scaled down to fit IMAGE_MAX_INCHES; ExportError when it is not
    installed or fails. While ``dot`` runs, ``progress`` gets a line when it starts, one every two seconds
    and one when it is done (``what`` names the picture in them)."""
    dot = shutil.which("dot")
    if not dot:
        raise ExportError("Graphviz is not installed: apt-get install graphviz, or use --format dot")
    words = map_words(lang)
    what = what or words["the_map"]
    say = progress or (lambda _line: None)
    width, height = IMAGE_MAX_INCHES
    started = time.monotonic()
    say(words["drawing"].format(what=what))
    try:
        proc = subprocess.Popen(
            [dot, f"-T{fmt}", f"-Gsize={width},{height}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except OSError as exc:
        raise ExportError(f"Graphviz could not run: {exc}") from exc
    source: bytes | None = dot_source.encode("utf-8")
    while True:
        try:
            # communicate() may be called again after a timeout without losing input or output.
            stdout, stderr = proc.communicate(input=source, timeout=_HEARTBEAT_SECONDS)
            break
        except subprocess.TimeoutExpired:
            source = None
            elapsed = time.monotonic() - started
            if elapsed > _DOT_TIMEOUT_SECONDS:
                proc.kill()
                proc.communicate()
                raise ExportError(
                    f"Graphviz took longer than {_DOT_TIMEOUT_SECONDS} s to draw the map"
                ) from None
            say(words["still_drawing"].format(what=what, seconds=elapsed))
    if proc.returncode != 0 or not stdout:
        first = (stderr.decode("utf-8", "replace").strip().splitlines() or ["no output"])[0]
        raise ExportError(f"Graphviz failed to draw the map: {first}")
    say(words["drawn"].format(what=what, seconds=time.monotonic() - started))
    return stdout


def image_parts(story: dict[str, Any], char: Character) -> list[MapPart]:
    """The depth ranges of the detailed pictures: [] when the whole graph makes one readable picture."""
    return _image_parts(_Map(story, char))


def _image_parts(m: _Map) -> list[MapPart]:
    if len(m.char.order) <= IMAGE_NODES_PER_PART:
        return []

    def fits(nodes: list[str]) -> bool:
        return (
            len(nodes) <= IMAGE_NODES_PER_PART and len({m.depths[n] for n in nodes}) <= _IMAGE_LEVELS_PER_PART
        )

    return m.split(fits)


def render_image_files(
    story: dict[str, Any], char: Character, fmt: str, progress: Progress | None = _stderr_line
) -> list[tuple[str, bytes]]:
    """(file name suffix, picture) pairs: ("", the whole map) for a small graph, else ("", an overview) and
    one ("_partN_dAA-BB", detailed map) per depth range; each picture fits on a screen."""
    m = _Map(story, char)
    parts = _image_parts(m)
    if not parts:
        what = m.words["map_of"].format(name=char.name)
        return [("", render_image(render_dot(story, char), fmt, what=what, lang=m.lang, progress=progress))]
    what = m.words["overview_of"].format(name=char.name)
    files = [("", render_image(_dot_overview(m, parts), fmt, what=what, lang=m.lang, progress=progress))]
    part_of = {nid: p.index for p in parts for nid in p.nodes}
    for part in parts:
        info = {"index": part.index, "count": len(parts), "first": part.first, "last": part.last}
        title = f"{m.title} · {m.words['part_range'].format(**info)}"
        what = m.words["part_of"].format(name=char.name, nodes=len(part.nodes), **info)
        source = _dot_graph(m, list(part.nodes), title, part_of)
        content = render_image(source, fmt, what=what, lang=m.lang, progress=progress)
        files.append((_part_suffix(part), content))
    return files


def _part_suffix(part: MapPart) -> str:
    return f"_part{part.index}_d{part.first:02d}-{part.last:02d}"


# --- Mermaid --------------------------------------------------------------------------------------
_MERMAID_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# Mermaid's entity codes for characters that are syntax inside labels ("#quot;" style, numeric for the rest).
_MERMAID_ENTITIES = {
    "#": "#35;",
    '"': "#quot;",
    "&": "#amp;",
    "<": "#lt;",
    ">": "#gt;",
    "[": "#91;",
    "]": "#93;",
    "(": "#40;",
    ")": "#41;",
    "{": "#123;",
    "}": "#125;",
    "|": "#124;",
    "`": "#96;",
    ";": "#59;",
}
_MERMAID_RESERVED = {
    "end",
    "graph",
    "subgraph",
    "flowchart",
    "style",
    "class",
    "classdef",
    "click",
    "linkstyle",
}


def mermaid_text(text: str) -> str:
    """Label text with every Mermaid-significant character written as an entity code."""
    flat = " ".join(str(text).split())
    return "".join(_MERMAID_ENTITIES.get(ch, ch) for ch in flat)


def _mermaid_id(nid: str) -> str:
    plain = _MERMAID_ID.match(nid) and nid.lower() not in _MERMAID_RESERVED
    return nid if plain else f"n_{short_hash(nid)}"


def mermaid_size(text: str) -> int:
    """The length Mermaid compares with maxTextSize: JavaScript string length, in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _mermaid_front(title: str, direction: str) -> list[str]:
    # Front matter is YAML, which reads a JSON string as a string whatever it contains.
    title_line = f"title: {json.dumps(' '.join(title.split()), ensure_ascii=False)}"
    return ["---", title_line, "---", f"flowchart {direction}"]


def _mermaid_graph(
    m: _Map, members: list[str], title: str, part_of: dict[str, int] | None
) -> tuple[str, int]:
    """Mermaid for ``members`` and its number of edges; in a part, a choice into another part ends at a
    dashed box naming the node and the part."""
    char = m.char
    ids = {nid: _mermaid_id(nid) for nid in char.order}
    taken = set(ids.values())
    inside = set(members)
    # Left to right: one column per depth, so the choice labels between columns do not widen the rows.
    out = _mermaid_front(title, "LR")
    classes: dict[str, list[str]] = {}
    shared: list[str] = []
    for depth, nodes in m.levels(members).items():
        group: list[str] = []
        for nid in nodes:
            node = char.nodes[nid]
            label = "<br/>".join(mermaid_text(line) for line in m.label(nid))
            ending = node.get("ending")
            line = (
                f'    {ids[nid]}(["{label}"])' if ending else f'    {ids[nid]}["{label}"]'
            )  # stadium: endings
            if ending:
                classes.setdefault(f"ending_{_class_word(str(ending.get('type', '')))}", []).append(ids[nid])
            (shared if nid in m.rules else group).append(line)
            if char.is_merged(nid):
                classes.setdefault("merged", []).append(ids[nid])
            if nid == char.root:
                classes.setdefault("root", []).append(ids[nid])
        if group:
            # One box per depth, titled with the depth and its beat.
            out.append(
                f'  subgraph {_fresh(f"depth_{depth:02d}", taken)} ["{mermaid_text(m.level_title(depth))}"]'
            )
            out += group
            out.append("  end")
    if shared:  # the shared endings no choice leads to
        out.append(
            f'  subgraph {_fresh("runtime_endings", taken)} ["{mermaid_text(labels(m.lang)["shared_endings"])}"]'
        )
        out += shared
        out.append("  end")
    stubs: dict[str, str] = {}
    edges = []
    for nid in members:
        for choice in char.nodes[nid].get("choices") or []:
            target = choice["next"]
            head = ids[target]
            if target not in inside and part_of is not None:
                if target not in stubs:
                    stubs[target] = _fresh(f"{ids[target]}_elsewhere", taken)
                    text = m.words["elsewhere"].format(node=target, index=part_of[target])
                    out.append(f'  {stubs[target]}["{mermaid_text(text)}"]')
                    classes.setdefault("elsewhere", []).append(stubs[target])
                head = stubs[target]
            text = mermaid_text(excerpt(str(choice.get("text", "")), _EDGE_CHARS))
            edges.append(f"  {ids[nid]} -->|{text}| {head}")
    out += edges
    out.append(f"  classDef root fill:{_ROOT_FILL},stroke:#333")
    out.append(f"  classDef merged stroke:{_MERGED_BORDER},stroke-width:3px,stroke-dasharray:5 3")
    out.append(f"  classDef elsewhere fill:{_STUB_FILL},stroke:#999,stroke-dasharray:4 4")
    for name in classes:
        if name.startswith("ending_"):
            color = _ending_color_for_class(name, char)
            out.append(f"  classDef {name} fill:{color},color:{_text_color(color)},stroke:#333")
    for name, members_of in classes.items():
        out.append(f"  class {','.join(members_of)} {name}")
    return "\n".join(out) + "\n", len(edges)


def _mermaid_fits(text: str, edges: int) -> bool:
    return mermaid_size(text) <= _MERMAID_TEXT_BUDGET and edges <= _MERMAID_EDGE_BUDGET


def _mermaid_overview(m: _Map, parts: list[MapPart]) -> str:
    levels, flows = _overview(m, parts)
    out = _mermaid_front(f"{m.title} · {m.words['overview'].format(count=len(parts))}", "TD")
    for part in parts:
        text = m.words["part_range"].format(
            index=part.index, count=len(parts), first=part.first, last=part.last
        )
        out.append(f'  subgraph part_{part.index} ["{mermaid_text(text)}"]')
        for level in levels:
            if level.part == part.index:
                label = "<br/>".join(mermaid_text(line) for line in _level_lines(m, level))
                out.append(f'    depth_{level.depth:02d}["{label}"]')
        out.append("  end")
    for (tail, head), count in sorted(flows.items()):
        out.append(f"  depth_{tail:02d} -->|{count}| depth_{head:02d}")
    return "\n".join(out) + "\n"


def render_mermaid_files(story: dict[str, Any], char: Character) -> list[tuple[str, str]]:
    """(file name suffix, Mermaid) pairs, each within Mermaid's default limits: ("", the whole map) when it
    fits, else ("", an overview: one box per depth) and one ("_partN_dAA-BB", detailed map) per depth range."""
    m = _Map(story, char)
    text, edges = _mermaid_graph(m, list(char.order), m.title, None)
    if _mermaid_fits(text, edges):
        return [("", text)]
    every = {nid: 0 for nid in char.order}  # while splitting, only the size matters, not the part numbers

    def fits(nodes: list[str]) -> bool:
        return _mermaid_fits(*_mermaid_graph(m, nodes, m.title, every))

    parts = m.split(fits)
    part_of = {nid: p.index for p in parts for nid in p.nodes}
    files = [("", _mermaid_overview(m, parts))]
    for part in parts:
        info = {"index": part.index, "count": len(parts), "first": part.first, "last": part.last}
        title = f"{m.title} · {m.words['part_range'].format(**info)}"
        files.append((_part_suffix(part), _mermaid_graph(m, list(part.nodes), title, part_of)[0]))
    return files


def render_mermaid(story: dict[str, Any], char: Character) -> str:
    """The first file of render_mermaid_files: the whole map when it fits Mermaid's limits, else the overview."""
    return render_mermaid_files(story, char)[0][1]


def _class_word(text: str) -> str:
    return "".join(ch if ch.isascii() and (ch.isalnum() or ch == "_") else "_" for ch in text) or "other"


def _ending_color_for_class(class_name: str, char: Character) -> str:
    for node in char.nodes.values():
        ending = node.get("ending")
        if ending and f"ending_{_class_word(str(ending.get('type', '')))}" == class_name:
            return ending_color(str(ending.get("type", "")))
    return ending_color("")
