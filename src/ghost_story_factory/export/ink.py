"""Ink (inkle) source for one character: a knot per node, the node's state assigned on entry, ``-> END``."""

from __future__ import annotations

import re
from typing import Any

from ._common import (
    Character,
    Symbols,
    display_title,
    ending_line,
    inventory_text,
    lines_of,
    node_idents,
    state_values,
    story_info,
    symbols,
    value_literal,
)

# Names the compiler or our own variables already use; a knot may not share them.
_RESERVED = {
    "fear", "truth", "familiarity", "time", "clock", "scene", "inventory", "items", "ending", "END", "DONE",
    "VAR", "CONST", "LIST", "INCLUDE", "EXTERNAL", "function", "return", "temp", "true", "false", "not",
    "and", "or", "mod", "has", "hasnt", "else", "stopping", "cycle", "shuffle", "once",
}  # fmt: skip

# Characters that are markup somewhere in an ink line; a backslash before any character makes it literal.
_SPECIAL_ANYWHERE = set("\\{}[]|#/<~")
# Characters that only mean something at the start of a line (choices, gathers, stitches, labels, logic).
_SPECIAL_AT_START = set("*+-=~(")
_KEYWORD_AT_START = re.compile(r"^(INCLUDE|VAR|CONST|LIST|EXTERNAL|TODO|function)\b")


def escape_text(text: str) -> str:
    """One line of narrative or choice text as literal ink content."""
    out: list[str] = []
    for index, ch in enumerate(text):
        divert = ch == "-" and text[index + 1 : index + 2] == ">"
        at_start = index == 0 and (ch in _SPECIAL_AT_START or bool(_KEYWORD_AT_START.match(text)))
        out.append("\\" + ch if ch in _SPECIAL_ANYWHERE or divert or at_start else ch)
    return "".join(out)


def string_literal(text: str) -> str:
    """An ink string expression whose value is exactly ``text`` (strings are content, so escape as content)."""
    body = "".join("\\" + ch if ch in _SPECIAL_ANYWHERE or ch in '"-' else ch for ch in text)
    return f'"{body}"'


def _value(value: bool | int | str) -> str:
    return value_literal(value, string_literal)


def _assignments(state: dict[str, Any], syms: Symbols, lang: str | None) -> list[str]:
    values = state_values(state, syms)
    item_idents = {sym.ident for sym in syms.items.values()}
    lines = [f"~ {name} = {_value(value)}" for name, value in values.items() if name not in item_idents]
    if syms.items:
        held = [syms.items[str(i)].ident for i in state.get("inventory") or [] if str(i) in syms.items]
        lines.append(f"~ items = ({', '.join(sorted(held))})")
    lines.append(f"~ inventory = {_value(inventory_text(state, lang))}")
    return lines


def render_ink(story: dict[str, Any], char: Character) -> str:
    info = story_info(story)
    lang = info.get("lang")
    syms = symbols(char)
    knots = node_idents(char, _RESERVED | {s.ident for s in [*syms.flags.values(), *syms.items.values()]})
    root_state = state_values(char.nodes[char.root]["state"], syms)

    out: list[str] = [
        f"// {_comment(display_title(story))} — {_comment(char.name)}",
        "// Exported by Ghost Story Factory. Every knot is one dialogue node (knot name = node id).",
        "// On entering a knot its game state is assigned (not added): fear = PR, truth = GR,",
        "// familiarity = WF (0..100), time = minutes since 00:00, clock = HH:MM, scene, items (LIST),",
        "// inventory (display text), and one variable per flag. Endings set `ending` and stop with -> END.",
        "",
        f"VAR fear = {root_state['fear']}",
        f"VAR truth = {root_state['truth']}",
        f"VAR familiarity = {root_state['familiarity']}",
        f"VAR time = {root_state['time']}",
        f"VAR clock = {string_literal(root_state['clock'])}",
        'VAR scene = ""',
        'VAR inventory = ""',
        'VAR ending = ""',
    ]
    if syms.items:
        out.append("// items: " + "; ".join(f"{s.ident} = {_comment(s.name)}" for s in syms.items.values()))
        out.append(f"LIST items = {', '.join(s.ident for s in syms.items.values())}")
    for sym in syms.flags.values():
        out.append(f"VAR {sym.ident} = {_value(sym.default)} // flag {_comment(sym.name)} ({sym.kind})")
    out += ["", f"-> {knots[char.root]}", ""]

    for nid in char.order:
        node = char.nodes[nid]
        out.append(f"=== {knots[nid]} ===")
        out.append(f"# node: {nid}")
        out += _assignments(node["state"], syms, lang)
        ending = node.get("ending")
        if ending:
            out.append(f"~ ending = {_value(str(ending.get('type', '')))}")
        out += [escape_text(line) for line in lines_of(node.get("narrative") or "")]
        if ending:
            etype = str(ending.get("type", ""))
            out.append(f"{escape_text(ending_line(lang, ending))} # ending: {escape_text(etype)}")
            out.append("-> END")
        for choice in node.get("choices") or []:
            text = " ".join(str(choice.get("text", "")).split())
            out.append(f"+ [{escape_text(text)}] -> {knots[choice['next']]}")
        out.append("")
    return "\n".join(out)


def _comment(text: str) -> str:
    """Text safe inside a ``//`` comment: one line, and no ``*/`` that could close an outer block comment."""
    return " ".join(str(text).split()).replace("*/", "* /")
