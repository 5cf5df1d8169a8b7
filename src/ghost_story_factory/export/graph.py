"""Maps of one character's graph: Graphviz DOT, Mermaid flowcharts, and PNG/SVG rendered through ``dot``."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import unicodedata
from typing import Any

from ._common import (
    Character,
    ExportError,
    display_title,
    ending_color,
    ending_label,
    excerpt,
    labels,
    short_hash,
    story_info,
)

_EXCERPT_CHARS = 36
_EDGE_CHARS = 18
_DOT_TIMEOUT_SECONDS = 120
_ROOT_FILL = "#dbe9ff"
_NODE_FILL = "#f4f4f4"
_MERGED_BORDER = "#1f4e79"
_FONT = "sans-serif"  # fontconfig picks a face with the glyphs (CJK, emoji) when one is installed


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


def _node_label(nid: str, node: dict[str, Any], lang: str | None, rule: str | None = None) -> list[str]:
    lines = [nid, *_wrap(excerpt(node.get("narrative") or "", _EXCERPT_CHARS), 24)]
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


# --- DOT -------------------------------------------------------------------------------------------
def _dot_string(text: str) -> str:
    """A DOT double-quoted string showing ``text`` literally: backslash escapes (\\n, \\N, \\G …) are
    Graphviz's label syntax, so every backslash and quote is escaped and control characters dropped."""
    clean = "".join(ch for ch in text if ch >= " ")
    return '"' + clean.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot_label(lines: list[str]) -> str:
    # Join escaped lines with DOT's centred line break; the escapes inside each line are already doubled.
    return '"' + "\\n".join(_dot_string(line)[1:-1] for line in lines) + '"'


def render_dot(story: dict[str, Any], char: Character) -> str:
    lang = story_info(story).get("lang")
    title = f"{display_title(story)} — {char.name}"
    out = [
        f"digraph {_dot_string(f'{title}')} {{",
        f"  graph [rankdir=TB, labelloc=t, fontsize=16, fontname={_dot_string(_FONT)},"
        f" label={_dot_string(title)}];",
        f'  node [shape=box, style="rounded,filled", fillcolor="{_NODE_FILL}", fontname={_dot_string(_FONT)},'
        ' fontsize=10, margin="0.12,0.06"];',
        f'  edge [fontname={_dot_string(_FONT)}, fontsize=9, color="#555555", fontcolor="#333333"];',
    ]
    used_types: list[str] = []
    rules = _rules(char, lang)
    for nid in char.order:
        node = char.nodes[nid]
        attrs = [f"label={_dot_label(_node_label(nid, node, lang, rules.get(nid)))}"]
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
    for nid in char.order:
        for choice in char.nodes[nid].get("choices") or []:
            label = excerpt(str(choice.get("text", "")), _EDGE_CHARS)
            out.append(f"  {_dot_string(nid)} -> {_dot_string(choice['next'])} [label={_dot_string(label)}];")
    if rules:
        # The shared endings no choice leads to: apart, in a dashed box that says how a player gets there.
        out.append("  subgraph cluster_runtime_endings {")
        out.append(
            f'    label={_dot_string(labels(lang)["shared_endings"])}; fontsize=10; style=dashed; color="#999999";'
        )
        out += [f"    {_dot_string(nid)};" for nid in rules]
        out.append("  }")
    if used_types:
        out.append("  subgraph cluster_legend {")
        out.append(f'    label={_dot_string("legend")}; fontsize=10; style=dashed; color="#999999";')
        for etype in used_types:
            color = ending_color(etype)
            out.append(
                f"    {_dot_string('legend_' + etype)} [label={_dot_string(ending_label(lang, etype))},"
                f' fillcolor="{color}", fontcolor="{_text_color(color)}", style="filled"];'
            )
        out.append("  }")
    out.append("}")
    return "\n".join(out) + "\n"


def _text_color(fill: str) -> str:
    """Black or white text, whichever reads better on ``fill`` (perceived luminance)."""
    red, green, blue = (int(fill[i : i + 2], 16) for i in (1, 3, 5))
    return "#000000" if 0.299 * red + 0.587 * green + 0.114 * blue > 150 else "#ffffff"


def render_image(dot_source: str, fmt: str) -> bytes:
    """PNG or SVG drawn by Graphviz's ``dot``; ExportError when it is not installed or fails."""
    dot = shutil.which("dot")
    if not dot:
        raise ExportError("Graphviz is not installed: apt-get install graphviz, or use --format dot")
    try:
        result = subprocess.run(
            [dot, f"-T{fmt}"],
            input=dot_source.encode("utf-8"),
            capture_output=True,
            timeout=_DOT_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ExportError(f"Graphviz took longer than {_DOT_TIMEOUT_SECONDS} s to draw the map") from exc
    except OSError as exc:
        raise ExportError(f"Graphviz could not run: {exc}") from exc
    if result.returncode != 0 or not result.stdout:
        first = (result.stderr.decode("utf-8", "replace").strip().splitlines() or ["no output"])[0]
        raise ExportError(f"Graphviz failed to draw the map: {first}")
    return result.stdout


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


def mermaid_text(text: str) -> str:
    """Label text with every Mermaid-significant character written as an entity code."""
    flat = " ".join(str(text).split())
    return "".join(_MERMAID_ENTITIES.get(ch, ch) for ch in flat)


def _mermaid_id(nid: str) -> str:
    return (
        nid if _MERMAID_ID.match(nid) and nid not in ("end", "graph", "subgraph") else f"n_{short_hash(nid)}"
    )


def render_mermaid(story: dict[str, Any], char: Character) -> str:
    lang = story_info(story).get("lang")
    ids = {nid: _mermaid_id(nid) for nid in char.order}
    out = [
        "---",
        # Front matter is YAML, which reads a JSON string as a string whatever it contains.
        f"title: {json.dumps(' '.join(f'{display_title(story)} — {char.name}'.split()), ensure_ascii=False)}",
        "---",
        "flowchart TD",
    ]
    classes: dict[str, list[str]] = {}
    rules = _rules(char, lang)
    shared: list[str] = []
    for nid in char.order:
        node = char.nodes[nid]
        label = "<br/>".join(mermaid_text(line) for line in _node_label(nid, node, lang, rules.get(nid)))
        ending = node.get("ending")
        if nid in rules:  # a shared ending no choice leads to: declared in its own subgraph below
            shared.append(f'    {ids[nid]}(["{label}"])')
            kind = str((ending or {}).get("type", ""))
            classes.setdefault(f"ending_{_class_word(kind)}", []).append(ids[nid])
        elif ending:
            out.append(f'  {ids[nid]}(["{label}"])')  # stadium shape for endings
            classes.setdefault(f"ending_{_class_word(str(ending.get('type', '')))}", []).append(ids[nid])
        else:
            out.append(f'  {ids[nid]}["{label}"]')
        if char.is_merged(nid):
            classes.setdefault("merged", []).append(ids[nid])
        if nid == char.root:
            classes.setdefault("root", []).append(ids[nid])
    if shared:
        out.append(f'  subgraph runtime_endings ["{mermaid_text(labels(lang)["shared_endings"])}"]')
        out += shared
        out.append("  end")
    for nid in char.order:
        for choice in char.nodes[nid].get("choices") or []:
            text = mermaid_text(excerpt(str(choice.get("text", "")), _EDGE_CHARS))
            out.append(f"  {ids[nid]} -->|{text}| {ids[choice['next']]}")
    out.append(f"  classDef root fill:{_ROOT_FILL},stroke:#333")
    out.append(f"  classDef merged stroke:{_MERGED_BORDER},stroke-width:3px,stroke-dasharray:5 3")
    for name in classes:
        if name.startswith("ending_"):
            color = _ending_color_for_class(name, char)
            out.append(f"  classDef {name} fill:{color},color:{_text_color(color)},stroke:#333")
    for name, members in classes.items():
        out.append(f"  class {','.join(members)} {name}")
    return "\n".join(out) + "\n"


def _class_word(text: str) -> str:
    return "".join(ch if ch.isascii() and (ch.isalnum() or ch == "_") else "_" for ch in text) or "other"


def _ending_color_for_class(class_name: str, char: Character) -> str:
    for node in char.nodes.values():
        ending = node.get("ending")
        if ending and f"ending_{_class_word(str(ending.get('type', '')))}" == class_name:
            return ending_color(str(ending.get("type", "")))
    return ending_color("")
