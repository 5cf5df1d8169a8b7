"""A self-contained HTML page that plays the story offline: the story as embedded JSON and a small vanilla
JS player (package data: player/player.js and player/player.css) that keeps each play's own state."""

from __future__ import annotations

import html
from importlib import resources
from typing import Any

import orjson

from ._common import (
    ENDING_COLORS,
    OTHER_ENDING_COLOR,
    Character,
    ExportError,
    Move,
    display_title,
    is_cjk,
    labels,
    story_info,
)
from .graph import distinct_lines, map_words, node_depths

# The map view's node label: the sentence that tells the node apart, cut short (a CJK character is wider).
_MAP_LABEL_CHARS = {True: 36, False: 60}


def embed_json(value: Any) -> str:
    """JSON safe inside a <script> element: '<', '>' and '&' (only ever inside strings) become \\u escapes,
    so no '</script>' or '<!--' in a narrative can end the element early; JSON.parse reads them back."""
    text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode("utf-8")
    for raw, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, escaped)
    return text


def _choice_data(move: Move) -> dict[str, Any]:
    return {
        "text": move.text,
        "next": move.next,
        "bridge": move.bridge,
        "fear": move.fear,
        "truth": move.truth,
        "familiarity": move.familiarity,
        "minutes": move.minutes,
        "flags": move.flags,
        "items": list(move.items),
    }


def _character_data(char: Character, lang: str | None) -> dict[str, Any]:
    opening = char.opening()
    depths = node_depths(char)
    keys = distinct_lines(char, _MAP_LABEL_CHARS[is_cjk(lang)])
    return {
        "name": char.name,
        "role": char.role,
        "description": char.description,
        "root": char.root,
        "runtime": dict(char.runtime_endings),
        "opening": {
            "fear": opening.fear,
            "truth": opening.truth,
            "familiarity": opening.familiarity,
            "time": opening.minutes,
            "scene": opening.scene,
            "flags": opening.flags,
            "items": list(opening.items),
        },
        "nodes": {
            nid: {
                "narrative": str(char.nodes[nid].get("narrative") or ""),
                "scene": char.scene(nid),
                "choices": [_choice_data(move) for move in char.moves(nid)],
                "ending": char.nodes[nid].get("ending") or None,
                "depth": depths[nid],
                "label": keys[nid],
            }
            for nid in char.order
        },
    }


def _player_data(story: dict[str, Any], chars: list[Character]) -> dict[str, Any]:
    info = story_info(story)
    lang = info.get("lang")
    return {
        "title": display_title(story),
        "city": str(info.get("city") or ""),
        "lang": str(lang or ""),
        "synopsis": str(info.get("synopsis") or ""),
        "labels": labels(lang),
        "mapLabels": map_words(lang),
        "endingColors": {**ENDING_COLORS, "": OTHER_ENDING_COLOR},
        "characters": [_character_data(char, lang) for char in chars],
    }


def _asset(name: str) -> str:
    """A file of the player (``player/player.css`` or ``player/player.js``), read from the package; it must
    not be able to end its element early."""
    text = (resources.files(__package__) / "player" / name).read_text(encoding="utf-8")
    lowered = text.lower()
    if "</script" in lowered or "</style" in lowered or "<!--" in lowered:
        raise ExportError(f"the HTML player's {name} may not contain </script, </style or <!--")
    return text


def render_html(story: dict[str, Any], chars: list[Character]) -> str:
    data = _player_data(story, chars)
    lang = data["lang"] or "en"
    title = data["title"]
    city = data["city"] if data["city"] != title else ""  # an untitled story is already headed by its city
    subtitle = " · ".join(part for part in (city, data["synopsis"]) if part)
    names = "、".join(c.name for c in chars) if lang.startswith("zh") else ", ".join(c.name for c in chars)
    page_title = title if len(chars) > 1 else f"{title} — {names}"
    # CSP: the page may run its own inline script and style and load nothing at all from anywhere.
    csp = (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
        "base-uri 'none'; form-action 'none'"
    )
    return f"""<!DOCTYPE html>
<html lang="{html.escape(lang)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="generator" content="Ghost Story Factory">
<title>{html.escape(page_title)}</title>
<style>{_asset("player.css")}</style>
</head>
<body>
<main>
<header>
<h1>{html.escape(title)}</h1>
<p>{html.escape(subtitle)}</p>
</header>
<div id="app"><noscript>This story needs JavaScript to play.</noscript></div>
<footer>Ghost Story Factory</footer>
</main>
<script type="application/json" id="story-data">{embed_json(data)}</script>
<script>{_asset("player.js")}</script>
</body>
</html>
"""
