"""Twee 3 source for one character (story format SugarCube 2): a passage per node, links to the targets."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from ._common import (
    Character,
    display_title,
    ending_line,
    is_cjk,
    labels,
    lines_of,
    minutes_of,
    node_idents,
    story_info,
)

STORY_FORMAT = "SugarCube"
STORY_FORMAT_VERSION = "2.37.3"  # the SugarCube that Twine 2.10 ships; any 2.x plays the file
_PASSAGE_STEP_X = 150
_PASSAGE_STEP_Y = 150


def ifid(story: dict[str, Any], char: Character) -> str:
    """A stable IFID: a UUID shaped as version 4 (uppercase, as Twine writes them) made from a hash of the
    story's identity and the character, so re-exports replace the same story in a Twine library."""
    info = story_info(story)
    identity = json.dumps(
        [info.get("title"), info.get("city"), info.get("lang"), info.get("synopsis"), char.name, char.root],
        ensure_ascii=False,
    )
    digest = bytearray(hashlib.sha256(identity.encode("utf-8")).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x40  # version 4
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    return str(uuid.UUID(bytes=bytes(digest))).upper()


def escape_name(name: str) -> str:
    """A passage name or tag in a Twee header: the spec's metacharacters backslash-escaped."""
    out = str(name).replace("\\", "\\\\")
    for ch in "[]{}":
        out = out.replace(ch, "\\" + ch)
    return " ".join(out.split())


def link_text(text: str) -> str:
    """Choice text inside ``[[text|target]]``: characters that Twine's link parser splits on are swapped for
    look-alikes, because link syntax has no escape."""
    flat = " ".join(str(text).split())
    for old, new in (("[", "［"), ("]", "］"), ("|", "｜"), ("->", "→"), ("<-", "←")):
        flat = flat.replace(old, new)
    return flat


def _verbatim(line: str) -> str:
    # SugarCube shows text between triple quotes as is (no markup, no HTML); only a run of three
    # quotes inside could end it early, so such runs get typographic quotes.
    while '"""' in line:
        line = line.replace('"""', '“""', 1)
    return f'"""{line}"""' if not line.endswith('"') else f'"""{line} """'


def _js(value: Any) -> str:
    """A JavaScript literal for a SugarCube macro argument; '<' and '>' escaped so '>>' cannot end the macro."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e")


def _set_line(state: dict[str, Any], lang: str | None, ending: dict[str, Any] | None) -> str:
    assignments = [
        f"$fear to {int(state.get('PR', 0))}",
        f"$truth to {int(state.get('GR', 0))}",
        f"$familiarity to {int(state.get('WF', 0))}",
        f"$time to {minutes_of(state.get('time', '00:00'))}",
        f"$clock to {_js(str(state.get('time', '00:00')).strip())}",
        f"$scene to {_js(str(state.get('scene') or ''))}",
        f"$flags to {_js(state.get('flags') or {})}",
        f"$inventory to {_js([str(i) for i in state.get('inventory') or []])}",
        f"$ending to {_js(str(ending.get('type', '')) if ending else '')}",
    ]
    return f"<<set {', '.join(assignments)}>>"


def _caption(lang: str | None) -> list[str]:
    words = labels(lang)
    sep = "、" if is_cjk(lang) else ", "
    # StoryCaption is SugarCube's sidebar: the state bar. <<- >> prints a value HTML-escaped, unwikified.
    return [
        ":: StoryCaption",
        "<<nobr>>",
        f"{words['fear']} <<- $fear>> · {words['truth']} <<- $truth>> · {words['familiarity']} <<- $familiarity>>"
        "<br>",
        f"{words['time']} <<- $clock>> · {words['scene']} <<- $scene>><br>",
        f"{words['items']}: <<- $inventory.length ? $inventory.join({_js(sep)}) : {_js(words['none'])}>>",
        "<</nobr>>",
        "",
    ]


def render_twee(story: dict[str, Any], char: Character) -> str:
    info = story_info(story)
    lang = info.get("lang")
    words = labels(lang)
    # Passage names are the node ids (already plain identifiers); anything odd gets a hashed name.
    names = node_idents(char, {"StoryTitle", "StoryData", "StoryCaption", "StoryInit", "StoryMenu"})
    story_data = {
        "ifid": ifid(story, char),
        "format": STORY_FORMAT,
        "format-version": STORY_FORMAT_VERSION,
        "start": names[char.root],
        "zoom": 1,
    }
    out: list[str] = [
        ":: StoryTitle",
        # A content line starting with '::' would open a passage; a title never needs the colons.
        f"{' '.join(display_title(story).split())} — {' '.join(char.name.split())}".lstrip(":"),
        "",
        ":: StoryData",
        json.dumps(story_data, ensure_ascii=False, indent=2),
        "",
        *_caption(lang),
    ]
    # Lay passages out in rows by depth so Twine's story map reads top to bottom like the graph.
    column: dict[int, int] = {}
    for nid in char.order:
        node = char.nodes[nid]
        depth = int(node.get("depth", 0))
        col = column.get(depth, 0)
        column[depth] = col + 1
        ending = node.get("ending")
        tags = ["ending", f"ending-{escape_name(str(ending.get('type', '')))}"] if ending else []
        if nid == char.root:
            tags.insert(0, "start")
        position = {"position": f"{100 + col * _PASSAGE_STEP_X},{100 + depth * _PASSAGE_STEP_Y}"}
        header = f":: {escape_name(names[nid])}" + (f" [{' '.join(tags)}]" if tags else "")
        out.append(f"{header} {json.dumps(position)}")
        # A backslash at a line's end is SugarCube's line continuation: the <<set>> adds no blank line.
        out.append(_set_line(node["state"], lang, ending) + "\\")
        out += [_verbatim(line) for line in lines_of(node.get("narrative") or "")]
        out.append("")
        if ending:
            out.append(f"''{_verbatim(ending_line(lang, ending))}''")
            out.append("")
            out.append(f"<<link {_js(words['restart'])}>><<run Engine.restart()>><</link>>")
        for choice in node.get("choices") or []:
            out.append(f"[[{link_text(choice.get('text', ''))}|{names[choice['next']]}]]")
        out.append("")
    return "\n".join(out)
