"""Twee 3 source for one character (story format SugarCube 2): a passage per node; the player's own state in
story variables that each choice's ``<<link>>`` changes by the runtime rules before it ``<<goto>>``s on."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from ..vocabulary import FEAR_MAX, NIGHT_MINUTES
from ._common import (
    Character,
    Move,
    display_title,
    ending_line,
    is_cjk,
    labels,
    lines_of,
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


def _verbatim(line: str) -> str:
    """Text that SugarCube shows as is: between triple quotes (no markup, no HTML). A run of three quotes
    inside could end it early, so such runs get a typographic quote; and a '[[' or ']]' is split across
    two verbatim runs, since Twine reads every '[[…]]' in a passage's source as a link to draw and to
    create a passage for, verbatim or not."""
    while '"""' in line:
        line = line.replace('"""', '“""', 1)
    runs = [""]
    for ch in line:
        if ch in "[]" and runs[-1].endswith(ch):
            runs.append("")
        runs[-1] += ch
    return "".join(_one_run(run) for run in runs)


def _one_run(run: str) -> str:
    return f'"""{run}"""' if not run.endswith('"') else f'"""{run} """'


_IN_STRINGS = {"<": "\\u003c", ">": "\\u003e", "[": "\\u005b", "]": "\\u005d"}


def _js(value: Any) -> str:
    """A JavaScript literal for a SugarCube macro argument. Inside strings '<', '>', '[' and ']' are written
    as \\u escapes: no '>>' can end the macro and no '[[' looks like a link to Twine's story map."""
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        for raw, escaped in _IN_STRINGS.items():
            text = text.replace(raw, escaped)
        return text
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_js(str(k))}: {_js(v)}" for k, v in sorted(value.items())) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_js(v) for v in value) + "]"
    return json.dumps(value)


def _show(expression: str) -> str:
    """Print a value as plain text: SugarCube wikifies what <<print>> prints (a '[[' in a scene name would
    become a link whose text is evaluated as code), so the value goes out inside verbatim markup, with
    any triple quote in it broken up."""
    return f"""<<print '\"\"\"' + String({expression}).split('\"\"\"').join('“\"\"') + '\"\"\" '>>"""


def _init(char: Character) -> list[str]:
    opening = char.opening()
    assignments = [
        f"$fear to {opening.fear}",
        f"$truth to {opening.truth}",
        f"$familiarity to {opening.familiarity}",
        f"$time to {opening.minutes}",
        f"$scene to {_js(opening.scene)}",
        f"$flags to {_js(opening.flags)}",
        f"$inventory to {_js(list(opening.items))}",
        '$ending to ""',
        '$bridge to ""',
    ]
    # StoryInit runs when the story starts and again on Engine.restart(): the opening state.
    return [":: StoryInit", f"<<set {', '.join(assignments)}>>", ""]


def _caption(lang: str | None) -> list[str]:
    words = labels(lang)
    sep = "、" if is_cjk(lang) else ", "
    clock = 'String(Math.trunc($time / 60)).padStart(2, "0") + ":" + String($time % 60).padStart(2, "0")'
    items = f"($inventory.length ? $inventory.join({_js(sep)}) : {_js(words['none'])})"
    # StoryCaption is SugarCube's sidebar: the state bar, the player's own state. Numbers are printed with
    # <<- >>; text (scene, items) as verbatim text so that no markup in it can run.
    return [
        ":: StoryCaption",
        "<<nobr>>",
        f"{words['fear']} <<- $fear>> · {words['truth']} <<- $truth>> · {words['familiarity']} <<- $familiarity>>"
        "<br>",
        f"{words['time']} <<- {clock}>> · {words['scene']} {_show('$scene')}<br>",
        f"{words['items']}{words['colon']}{_show(items)}",
        "<</nobr>>",
        "",
    ]


def _clamped(var: str, delta: int, top: int) -> str | None:
    if delta == 0:
        return None
    sign = "+" if delta > 0 else "-"
    return f"<<set ${var} to Math.clamp(${var} {sign} {abs(delta)}, 0, {top})>>"


def _link(char: Character, move: Move, names: dict[str, str]) -> str:
    """One choice: the link text is a string literal holding verbatim markup (never evaluated, never
    wikified as markup); its body applies rule 2 and ends in exactly one <<goto>>."""
    body = [
        _clamped("fear", move.fear, FEAR_MAX),
        _clamped("truth", move.truth, FEAR_MAX),
        _clamped("familiarity", move.familiarity, FEAR_MAX),
        _clamped("time", move.minutes, NIGHT_MINUTES),
    ]
    parts = [part for part in body if part]
    for name, value in move.flags.items():
        parts.append(f"<<set $flags[{_js(name)}] to {_js(value)}>>")
    for item in move.items:
        parts.append(
            f"<<if not $inventory.includes({_js(item)})>><<run $inventory.push({_js(item)})>><</if>>"
        )
    arrive = []
    if char.is_runtime_ending(move.next):  # not a redirect: a choice that names a shared ending itself
        arrive.append(f"<<set $scene to {_js(char.scene(move.next))}>>")
    arrive.append(f"<<set $bridge to {_js(move.bridge)}>><<goto {_js(names[move.next])}>>")
    # fear wins over the clock: the dawn check holds only while fear is below its maximum
    conditions = {
        "fear_collapse": f"$fear gte {FEAR_MAX}",
        "dawn": f"$time gte {NIGHT_MINUTES} and $fear lt {FEAR_MAX}",
    }
    redirects = char.redirects(move.next)
    if redirects:
        chain = []
        for position, (kind, target) in enumerate(redirects):
            chain.append(
                f"<<{'if' if position == 0 else 'elseif'} {conditions[kind]}>><<goto {_js(names[target])}>>"
            )
        parts.append("".join(chain) + "<<else>>" + "".join(arrive) + "<</if>>")
    else:
        parts += arrive
    return f"<<link {_js(_verbatim(move.text))}>>{''.join(parts)}<</link>>"


def _bridge_block(char: Character, nid: str) -> str | None:
    """The bridge a choice into this passage stored in $bridge, shown first: each possible text is written
    here as verbatim text and picked by comparing $bridge with it, so the variable is never wikified."""
    bridges = []
    for parent in dict.fromkeys(char.parents.get(nid, [])):
        for move in char.moves(parent):
            if move.next == nid and move.bridge and move.bridge not in bridges:
                bridges.append(move.bridge)
    if not bridges:
        return None
    chain = "".join(
        f"<<{'if' if i == 0 else 'elseif'} $bridge is {_js(text)}>>@@.bridge;{_verbatim(text)}@@"
        for i, text in enumerate(bridges)
    )
    return chain + '<</if>><<set $bridge to "">>'


def render_twee(story: dict[str, Any], char: Character) -> str:
    info = story_info(story)
    lang = info.get("lang")
    words = labels(lang)
    # Passage names are the node ids (already plain identifiers); anything odd gets a hashed name.
    names = node_idents(
        char, {"StoryTitle", "StoryData", "StoryCaption", "StoryInit", "StoryMenu", "Story JavaScript"}
    )
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
        *_init(char),
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
        # A backslash at a line's end is SugarCube's line continuation: the <<set>>s add no blank line.
        if not char.is_runtime_ending(nid):
            out.append(f"<<set $scene to {_js(char.scene(nid))}>>\\")
        if ending:
            out.append(f"<<set $ending to {_js(str(ending.get('type', '')))}>>\\")
        bridge = _bridge_block(char, nid)
        if bridge:
            out.append(bridge)
        out += [_verbatim(line) for line in lines_of(node.get("narrative") or "")]
        out.append("")
        if ending:
            out.append(f"''{_verbatim(ending_line(lang, ending))}''")
            out.append("")
            out.append(f"<<link {_js(words['restart'])}>><<run Engine.restart()>><</link>>")
        for move in char.moves(nid):
            out.append(_link(char, move, names))
        out.append("")
    return "\n".join(out)
