"""Exports of a finished story to game engines (Ink, Yarn, Twee), a browser (HTML) and maps (DOT, Mermaid)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import orjson

from ..errors import ExportError
from ._common import base_name, file_part, pick_characters
from .graph import render_dot, render_image_files, render_mermaid_files
from .html import render_html
from .ink import render_ink
from .twee import render_twee
from .yarn import render_yarn

__all__ = ["FORMATS", "ExportError", "export_json", "render", "write_export"]

FORMATS = ("json", "ink", "yarn", "twee", "html", "dot", "mermaid", "png", "svg")

# Formats with one file per character, and the extension each file gets.
_PER_CHARACTER = {
    "ink": ("ink", render_ink),
    "yarn": ("yarn", render_yarn),
    "twee": ("twee", render_twee),
    "dot": ("dot", render_dot),
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
        # A big graph's map is an overview plus one file per depth range (suffix "_partN_dAA-BB").
        if fmt in ("png", "svg"):
            files += [
                (f"{name}{suffix}.{fmt}", image) for suffix, image in render_image_files(story, char, fmt)
            ]
        elif fmt == "mermaid":
            files += [
                (f"{name}{suffix}.mmd", text.encode("utf-8"))
                for suffix, text in render_mermaid_files(story, char)
            ]
        else:
            ext, renderer = _PER_CHARACTER[fmt]
            files.append((f"{name}.{ext}", renderer(story, char).encode("utf-8")))
    return files


_WRITE_ERRORS = {
    "en": {
        "is_file": "-o {output} is a file name, but this format writes {count} files: give a folder",
        "folder": "cannot make the folder {folder}: {cause}",
        "write": "cannot write {path}: {cause}; no file was replaced",
        "write_late": "cannot write {path}: {cause}; the files before it in the list were already replaced",
    },
    "zh": {
        "is_file": "-o {output} 是一个文件名，但这种格式要写 {count} 个文件：请给一个文件夹",
        "folder": "无法创建文件夹 {folder}：{cause}",
        "write": "无法写入 {path}：{cause}；没有替换任何文件",
        "write_late": "无法写入 {path}：{cause}；它之前的文件已经替换",
    },
}


# Extensions of the files exports write: a new -o name ending so is a file, not a folder to make.
_FILE_SUFFIXES = {"json", "ink", "yarn", "twee", "tw", "html", "htm", "dot", "gv", "mmd", "png", "svg", "txt"}


def write_export(files: list[tuple[str, bytes]], output: str, lang: str = "en") -> list[Path]:
    """Write rendered ``files`` to ``output`` and return the paths written.

    One file goes to ``output`` itself unless it is a folder or ends in a separator; several go into the
    folder ``output`` (made when missing; an existing file there is a one-line ExportError, not a
    traceback). Every file is written beside its target under a temporary name, flushed to disk, then
    renamed over it, all of them before the first rename: a full disk or a read-only folder leaves every
    earlier export whole and no temporary file behind, and says so in one line.
    """
    words = _WRITE_ERRORS["zh" if lang.startswith("zh") else "en"]
    target = Path(output)
    if len(files) == 1 and not target.is_dir() and not output.endswith((os.sep, "/")):
        paths = [target]
    else:
        # An existing file, or a new name that reads as one ("map.png"), is not the folder several need.
        looks_like_file = not target.exists() and target.suffix.lower().lstrip(".") in _FILE_SUFFIXES
        if (target.exists() and not target.is_dir()) or looks_like_file:
            raise ExportError(words["is_file"].format(output=output, count=len(files)))
        paths = [target / name for name, _ in files]
    folder = paths[0].parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(words["folder"].format(folder=folder, cause=exc.strerror or exc)) from None
    temps: list[Path] = []
    current = paths[0]
    renamed = 0
    try:
        for path, (_, content) in zip(paths, files, strict=True):
            current = path
            temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            temps.append(temp)
            with open(temp, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
        for temp, path in zip(temps, paths, strict=True):
            current = path
            os.replace(temp, path)
            renamed += 1
    except OSError as exc:
        for temp in temps:
            with contextlib.suppress(OSError):
                temp.unlink()
        cause = exc.strerror or type(exc).__name__
        key = "write_late" if renamed else "write"  # renames cannot fail on a full disk, but may on a folder
        raise ExportError(words[key].format(path=current, cause=cause)) from None
    return paths
