"""Yarn Spinner 2 script for one character: a node per dialogue node, ``->`` options whose bodies apply the
choice's consequences to the player's own $variables (the runtime rules), ``<<if>>`` redirects, ``<<jump>>``."""

from __future__ import annotations

from typing import Any

from ..vocabulary import FEAR_MAX, NIGHT_MINUTES
from ._common import (
    Character,
    Move,
    Symbols,
    display_title,
    ending_line,
    is_cjk,
    lines_of,
    node_idents,
    story_info,
    symbols,
    value_literal,
)

START_NODE = "Start"
_RESERVED = {START_NODE}

# The characters Yarn Spinner 2's lexer accepts after a backslash in a line ([\\<>{}#/] and the markup
# brackets); everything else must not be escaped or the line fails to compile.
_ESCAPABLE = set("\\<>{}#/[]")


def escape_line(text: str, lang: str | None) -> str:
    """One line of narrative or option text as literal Yarn: markup, commands, comments and hashtags escaped.

    Yarn Spinner 2 reads everything before the first ':' of a line as the speaking character and has no
    escape for ':', so an ASCII colon becomes a full-width one (CJK) or U+2236 RATIO, which look the same.
    """
    text = text.replace(":", "：" if is_cjk(lang) else "∶")
    escaped = "".join("\\" + ch if ch in _ESCAPABLE else ch for ch in text)
    # The script's reader drops a byte-order mark and white space before a line's '===' (a BOM is
    # invisible, so it goes too).
    escaped = escaped.lstrip("\ufeff")
    if escaped.lstrip().startswith("==="):
        escaped = escaped.lstrip()
        # '===' at a line start ends the node and '=' has no escape: write it as an inline expression.
        escaped = '{"==="}' + escaped[3:]
    return escaped


def string_literal(text: str) -> str:
    """A Yarn string expression: only '"' and '\\' are escapable there; newlines cannot appear."""
    flat = " ".join(str(text).split())
    return '"' + flat.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _value(value: bool | int | str) -> str:
    return value_literal(value, string_literal)


def _add(var: str, delta: int, top: int) -> list[str]:
    """``$var += delta`` kept inside 0..top (a rise can only pass the top, a fall the 0)."""
    if delta == 0:
        return []
    if delta > 0:
        return [
            f"<<set ${var} to ${var} + {delta}>>",
            f"<<if ${var} > {top}>>",
            f"    <<set ${var} to {top}>>",
            "<<endif>>",
        ]
    return [
        f"<<set ${var} to ${var} - {-delta}>>",
        f"<<if ${var} < 0>>",
        f"    <<set ${var} to 0>>",
        "<<endif>>",
    ]


def _option_body(
    char: Character, move: Move, syms: Symbols, titles: dict[str, str], lang: str | None
) -> list[str]:
    """Rule 2 inside the option: consequences, the two redirect checks, the bridge line, the jump."""
    lines = [
        *_add("fear", move.fear, FEAR_MAX),
        *_add("truth", move.truth, FEAR_MAX),
        *_add("familiarity", move.familiarity, FEAR_MAX),
        *_add("time", move.minutes, NIGHT_MINUTES),
    ]
    for name, value in move.flags.items():
        sym = syms.flags[name]
        lines.append(f"<<set ${sym.ident} to {_value(sym.coerce(value))}>>")
    for item in move.items:
        lines.append(f"<<set ${syms.items[item].ident} to true>>")
    # fear wins over the clock: the dawn check holds only while fear is below its maximum
    conditions = {
        "fear_collapse": f"$fear >= {FEAR_MAX}",
        "dawn": f"$time >= {NIGHT_MINUTES} and $fear < {FEAR_MAX}",
    }
    for kind, target in char.redirects(move.next):  # a jump ends the node, so the second if is an "else if"
        lines += [f"<<if {conditions[kind]}>>", f"    <<jump {titles[target]}>>", "<<endif>>"]
    if char.is_runtime_ending(move.next):  # not a redirect: a choice that names a shared ending itself
        lines.append(f"<<set $scene to {string_literal(char.scene(move.next))}>>")
    if move.bridge:
        lines.append(f"{escape_line(move.bridge, lang)} #bridge")
    lines.append(f"<<jump {titles[move.next]}>>")
    return ["    " + line for line in lines]


def render_yarn(story: dict[str, Any], char: Character) -> str:
    info = story_info(story)
    lang = info.get("lang")
    syms = symbols(char)
    titles = node_idents(char, _RESERVED)
    opening = char.opening()
    declares: dict[str, Any] = {
        "fear": opening.fear,
        "truth": opening.truth,
        "familiarity": opening.familiarity,
        "time": opening.minutes,
        "scene": opening.scene,
        "ending": "",
    }
    for name, sym in syms.flags.items():
        declares[sym.ident] = sym.coerce(opening.flags[name]) if name in opening.flags else sym.default
    for name, sym in syms.items.items():
        declares[sym.ident] = name in opening.items

    out: list[str] = [
        f"// {' '.join(display_title(story).split())} — {' '.join(char.name.split())}",
        "// Exported by Ghost Story Factory. Node titles are node ids. The $variables are the player's own state",
        "// (docs/export-format.md, runtime rules): Start declares the opening state; every option adds its",
        f"// consequences ($fear, $truth, $familiarity in 0..{FEAR_MAX}; $time in minutes since 00:00, at most",
        f"// {NIGHT_MINUTES} = 04:00; one $f_... per flag; one $i_... per item, true once found), then jumps to the",
        "// shared fear_collapse ending when $fear >= 100, else to the shared dawn ending when $time >= 240, else",
        "// shows its bridge line (#bridge) and jumps on. Entering a node sets $scene (a shared ending keeps the",
        "// player's); endings set $ending. Start sets the opening state again, so jumping to Start replays.",
        "",
        f"title: {START_NODE}",
        "tags: start",
        "---",
    ]
    for sym in [*syms.flags.values(), *syms.items.values()]:
        kind = "item" if sym.ident.startswith("i_") else f"flag ({sym.kind})"
        out.append(f"// {sym.ident}: {kind} {' '.join(sym.name.split())}")
    out += [f"<<declare ${name} = {_value(value)}>>" for name, value in declares.items()]
    # And set them: a variable storage kept from an earlier play (or an engine that reads declarations
    # only when it loads the script) starts this play from the opening state too.
    out += [f"<<set ${name} to {_value(value)}>>" for name, value in declares.items()]
    out += [f"<<jump {titles[char.root]}>>", "===", ""]

    for nid in char.order:
        node = char.nodes[nid]
        ending = node.get("ending")
        out.append(f"title: {titles[nid]}")
        if ending:
            shared = " shared" if char.is_runtime_ending(nid) else ""
            out.append(f"tags: ending {_tag(str(ending.get('type', '')))}{shared}")
        out.append("---")
        if not char.is_runtime_ending(nid):
            out.append(f"<<set $scene to {string_literal(char.scene(nid))}>>")
        if ending:
            out.append(f"<<set $ending to {_value(str(ending.get('type', '')))}>>")
        out += [escape_line(line, lang) for line in lines_of(node.get("narrative") or "")]
        if ending:
            etype = str(ending.get("type", ""))
            out.append(f"{escape_line(ending_line(lang, ending), lang)} #ending:{_tag(etype)}")
            out.append("<<stop>>")
        for move in char.moves(nid):
            out.append(f"-> {escape_line(move.text, lang)}")
            out += _option_body(char, move, syms, titles, lang)
        out += ["===", ""]
    return "\n".join(out)


def _tag(text: str) -> str:
    """A hashtag / header tag word: no spaces, '#', '$' or '<' (which end a hashtag in the lexer)."""
    return "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in text) or "ending"
