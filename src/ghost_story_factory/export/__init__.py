"""Exports of a finished story to game engines (Ink, Yarn, Twee), a browser (HTML) and maps (DOT, Mermaid)."""

from __future__ import annotations

from typing import Any

import orjson

from ..errors import ExportError
from ._common import base_name, file_part, pick_characters
from .graph import render_dot, render_image, render_mermaid
from .html import render_html
from .ink import render_ink
from .twee import render_twee
from .yarn import render_yarn

__all__ = ["FORMATS", "ExportError", "export_json", "render"]

FORMATS = ("json", "ink", "yarn", "twee", "html", "dot", "mermaid", "png", "svg")

# Formats with one file per character, and the extension each file gets.
_PER_CHARACTER = {
    "ink": ("ink", render_ink),
    "yarn": ("yarn", render_yarn),
    "twee": ("twee", render_twee),
    "dot": ("dot", render_dot),
    "mermaid": ("mmd", render_mermaid),
}


def export_json(story: dict[str, Any]) -> bytes:
    """The story as the library stores it: sorted keys, 2-space indent, a trailing newline; deterministic."""
    try:
        return orjson.dumps(story, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n"
    except TypeError as exc:  # orjson names the offending type, which is the useful part
        raise ExportError(f"the story cannot be written as JSON: {exc}") from exc


def render(story: dict[str, Any], fmt: str, character: str | None = None) -> list[tuple[str, bytes]]:
    """Render ``story`` in ``fmt``: a list of (suggested file name, content) pairs.

    One file per character, except json (the whole story) and html (every character, with a picker);
    ``character`` limits any format to that one character. Raises ExportError with a one-line cause.
    """
    fmt = (fmt or "").strip().lower()
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    chars = pick_characters(story, character)
    base = base_name(story)
    # With --character, the single-file formats get the character in the name like the others.
    single = f"{base}_{file_part(chars[0].name, 'character')}" if character is not None else base

    if fmt == "json":
        if character is None:
            return [(f"{base}.json", export_json(story))]
        kept = [raw for raw in story["characters"] if str(raw.get("name")) == chars[0].name]
        return [(f"{single}.json", export_json({**story, "characters": kept}))]
    if fmt == "html":
        return [(f"{single}.html", render_html(story, chars).encode("utf-8"))]

    files: list[tuple[str, bytes]] = []
    taken: set[str] = set()
    for char in chars:
        name = f"{base}_{file_part(char.name, 'character')}"
        if name.casefold() in taken:  # two names that sanitise alike ("a/b", "a:b") must not overwrite
            name = f"{name}_{len(taken) + 1}"
        taken.add(name.casefold())
        if fmt in ("png", "svg"):
            files.append((f"{name}.{fmt}", render_image(render_dot(story, char), fmt)))
        else:
            ext, renderer = _PER_CHARACTER[fmt]
            files.append((f"{name}.{ext}", renderer(story, char).encode("utf-8")))
    return files
