"""Ink (inkle) source for one character: a knot per node; the player's own state lives in ink variables
that every choice changes by its consequences (the runtime rules of docs/export-format.md)."""

from __future__ import annotations

import re
from typing import Any

from ..vocabulary import FEAR_MAX, NIGHT_MINUTES
from ._common import (
    Character,
    Move,
    Symbols,
    display_title,
    ending_line,
    lines_of,
    node_idents,
    story_info,
    symbols,
    value_literal,
)

# Names the compiler or our own variables already use; a knot may not share them.
_RESERVED = {
    "fear", "truth", "familiarity", "time", "clock", "scene", "inventory", "items", "ending", "END", "DONE",
    "VAR", "CONST", "LIST", "INCLUDE", "EXTERNAL", "function", "return", "temp", "true", "false", "not",
    "and", "or", "mod", "has", "hasnt", "else", "stopping", "cycle", "shuffle", "once", "MIN", "MAX",
}  # fmt: skip

# Characters that are markup somewhere in an ink line; a backslash before any character makes it literal.
# '*' too: the compiler drops comments in a pass before it reads escapes, so "\/*" still opens a block
# comment; only "\/\*" keeps '/' and '*' apart (and "//", "*/" likewise).
_SPECIAL_ANYWHERE = set("\\{}[]|#/<~*")
# Characters that only mean something at the start of a line (choices, gathers, stitches, labels, logic).
_SPECIAL_AT_START = set("*+-=~(")
_KEYWORD_AT_START = re.compile(r"^(INCLUDE|VAR|CONST|LIST|EXTERNAL|TODO|function)\b")

# The ink variable of each meter, and the consequence field that moves it.
_METERS = (("fear", "fear"), ("truth", "truth"), ("familiarity", "familiarity"))


def escape_text(text: str) -> str:
    """One line of narrative or choice text as literal ink content."""
    out: list[str] = []
    for index, ch in enumerate(text):
        divert = ch == "-" and text[index + 1 : index + 2] == ">"
        at_start = index == 0 and (ch in _SPECIAL_AT_START or bool(_KEYWORD_AT_START.match(text)))
        out.append("\\" + ch if ch in _SPECIAL_ANYWHERE or divert or at_start else ch)
    return "".join(out)


def string_literal(text: str) -> str:
    """An ink string expression whose value is ``text`` on one line (a string cannot span lines in ink;
    strings are content, so escape as content)."""
    flat = " ".join(str(text).split())
    body = "".join("\\" + ch if ch in _SPECIAL_ANYWHERE or ch in '"-' else ch for ch in flat)
    return f'"{body}"'


def _value(value: bool | int | str) -> str:
    return value_literal(value, string_literal)


def _add(var: str, delta: int, top: int) -> str | None:
    """``var += delta`` kept inside 0..top with ink's MIN/MAX (a rise can only pass the top, a fall the 0)."""
    if delta > 0:
        return f"~ {var} = MIN({var} + {delta}, {top})"
    if delta < 0:
        return f"~ {var} = MAX({var} - {-delta}, 0)"
    return None


def _choice_body(char: Character, move: Move, syms: Symbols, knots: dict[str, str]) -> list[str]:
    """Rule 2 inside the choice: consequences, the two redirect checks, the bridge, the divert."""
    body = [_add(var, getattr(move, field), FEAR_MAX) for var, field in _METERS]
    body.append(_add("time", move.minutes, NIGHT_MINUTES))
    lines = [line for line in body if line]
    for name, value in move.flags.items():
        sym = syms.flags[name]
        lines.append(f"~ {sym.ident} = {_value(sym.coerce(value))}")
    for item in move.items:
        lines.append(f"~ items += {syms.items[item].ident}")
    # fear wins over the clock: the dawn check holds only while fear is below its maximum
    conditions = {
        "fear_collapse": f"fear >= {FEAR_MAX}",
        "dawn": f"time >= {NIGHT_MINUTES} and fear < {FEAR_MAX}",
    }
    for kind, target in char.redirects(move.next):
        lines.append(f"{{ {conditions[kind]}: -> {knots[target]} }}")
    if char.is_runtime_ending(move.next):  # not a redirect: a choice that names a shared ending itself
        lines.append(f"~ scene = {string_literal(char.scene(move.next))}")
    if move.bridge:
        lines.append(f"{escape_text(move.bridge)} # bridge")
    lines.append(f"-> {knots[move.next]}")
    return ["    " + line for line in lines]


def render_ink(story: dict[str, Any], char: Character) -> str:
    info = story_info(story)
    lang = info.get("lang")
    syms = symbols(char)
    knots = node_idents(char, _RESERVED | {s.ident for s in [*syms.flags.values(), *syms.items.values()]})
    opening = char.opening()
    runtime = ", ".join(f"{kind} = {knots[nid]}" for kind, nid in char.runtime_endings.items())

    out: list[str] = [
        f"// {_comment(display_title(story))} — {_comment(char.name)}",
        "// Exported by Ghost Story Factory. Every knot is one dialogue node (knot name = node id, tag # node).",
        "// The variables are the player's own state (docs/export-format.md, runtime rules): they start at the",
        "// opening state below and every choice adds its consequences: fear, truth, familiarity stay in",
        f"// 0..{FEAR_MAX}, time is minutes since 00:00 and stops at {NIGHT_MINUTES} (04:00), flags are set, items",
        "// join the `items` LIST and never leave. Then fear >= 100 diverts to the shared fear_collapse ending,",
        "// else time >= 240 to the shared dawn ending (unless the choice already leads to an ending of that",
        "// kind); otherwise the choice's bridge line (tag # bridge) leads into its knot. Entering a knot sets",
        "// `scene` (a shared ending keeps the player's); endings set `ending` and stop with -> END.",
        f"// shared endings: {runtime or 'none (a version-1 story)'}",
        "",
        f"VAR fear = {opening.fear}",
        f"VAR truth = {opening.truth}",
        f"VAR familiarity = {opening.familiarity}",
        f"VAR time = {opening.minutes}",
        f"VAR scene = {string_literal(opening.scene)}",
        'VAR ending = ""',
    ]
    if syms.items:
        held = set(opening.items)
        out.append("// items: " + "; ".join(f"{s.ident} = {_comment(s.name)}" for s in syms.items.values()))
        members = [f"({s.ident})" if name in held else s.ident for name, s in syms.items.items()]
        out.append(f"LIST items = {', '.join(members)}")
    for name, sym in syms.flags.items():
        start = sym.coerce(opening.flags[name]) if name in opening.flags else sym.default
        out.append(f"VAR {sym.ident} = {_value(start)} // flag {_comment(sym.name)} ({sym.kind})")
    out += ["", f"-> {knots[char.root]}", ""]

    for nid in char.order:
        node = char.nodes[nid]
        out.append(f"=== {knots[nid]} ===")
        out.append(f"# node: {nid}")
        if not char.is_runtime_ending(nid):
            out.append(f"~ scene = {string_literal(char.scene(nid))}")
        ending = node.get("ending")
        if ending:
            out.append(f"~ ending = {_value(str(ending.get('type', '')))}")
        out += [escape_text(line) for line in lines_of(node.get("narrative") or "")]
        if ending:
            etype = str(ending.get("type", ""))
            out.append(f"{escape_text(ending_line(lang, ending))} # ending: {escape_text(etype)}")
            out.append("-> END")
        for move in char.moves(nid):
            out.append(f"+ [{escape_text(move.text)}]")
            out += _choice_body(char, move, syms, knots)
        out.append("")
    return "\n".join(out)


def _comment(text: str) -> str:
    """Text safe inside a ``//`` comment: one line, and no ``*/`` that could close an outer block comment."""
    return " ".join(str(text).split()).replace("*/", "* /")
