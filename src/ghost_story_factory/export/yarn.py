"""Yarn Spinner 2 script for one character: a node per dialogue node, ``->`` options, ``<<set>>``, ``<<jump>>``."""

from __future__ import annotations

from typing import Any

from ._common import (
    Character,
    Symbols,
    display_title,
    ending_line,
    inventory_text,
    is_cjk,
    lines_of,
    node_idents,
    state_values,
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
    if escaped.startswith("==="):
        # '===' at a line start ends the node and '=' has no escape: write it as an inline expression.
        escaped = '{"==="}' + escaped[3:]
    return escaped


def string_literal(text: str) -> str:
    """A Yarn string expression: only '"' and '\\' are escapable there; newlines cannot appear."""
    flat = " ".join(str(text).split())
    return '"' + flat.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _value(value: bool | int | str) -> str:
    return value_literal(value, string_literal)


def _sets(state: dict[str, Any], syms: Symbols, lang: str | None) -> list[str]:
    values = state_values(state, syms)
    values["inventory"] = inventory_text(state, lang)
    return [f"<<set ${name} to {_value(value)}>>" for name, value in values.items()]


def render_yarn(story: dict[str, Any], char: Character) -> str:
    info = story_info(story)
    lang = info.get("lang")
    syms = symbols(char)
    titles = node_idents(char, _RESERVED)
    defaults = state_values(char.nodes[char.root]["state"], syms)
    defaults["inventory"] = ""
    defaults["ending"] = ""

    out: list[str] = [
        f"// {' '.join(display_title(story).split())} — {' '.join(char.name.split())}",
        "// Exported by Ghost Story Factory. Node titles are node ids; each node sets its game state",
        "// ($fear = PR, $truth = GR, $familiarity = WF, $time in minutes since 00:00, $clock, $scene,",
        "// $inventory, one $f_... per flag and one $i_... per item) and then jumps on.",
        "",
        f"title: {START_NODE}",
        "tags: start",
        "---",
    ]
    for sym in [*syms.flags.values(), *syms.items.values()]:
        kind = "item" if sym.ident.startswith("i_") else f"flag ({sym.kind})"
        out.append(f"// {sym.ident}: {kind} {' '.join(sym.name.split())}")
    out += [f"<<declare ${name} = {_value(value)}>>" for name, value in defaults.items()]
    out += [f"<<jump {titles[char.root]}>>", "===", ""]

    for nid in char.order:
        node = char.nodes[nid]
        ending = node.get("ending")
        out.append(f"title: {titles[nid]}")
        if ending:
            out.append(f"tags: ending {_tag(str(ending.get('type', '')))}")
        out.append("---")
        out += _sets(node["state"], syms, lang)
        if ending:
            out.append(f"<<set $ending to {_value(str(ending.get('type', '')))}>>")
        out += [escape_line(line, lang) for line in lines_of(node.get("narrative") or "")]
        if ending:
            etype = str(ending.get("type", ""))
            out.append(f"{escape_line(ending_line(lang, ending), lang)} #ending:{_tag(etype)}")
            out.append("<<stop>>")
        for choice in node.get("choices") or []:
            text = " ".join(str(choice.get("text", "")).split())
            out.append(f"-> {escape_line(text, lang)}")
            out.append(f"    <<jump {titles[choice['next']]}>>")
        out += ["===", ""]
    return "\n".join(out)


def _tag(text: str) -> str:
    """A hashtag / header tag word: no spaces, '#', '$' or '<' (which end a hashtag in the lexer)."""
    return "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in text) or "ending"
