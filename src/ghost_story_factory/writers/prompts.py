"""Builds the request of every generation call from plain story data, in Chinese or English.

Prompts use only the story documents, the character, the node's own path and its state: no
timestamps and nothing that depends on the order replies came back, so a rerun asks the same
questions and the journal can answer them.
"""

from __future__ import annotations

from typing import Any

import orjson

from . import schemas
from .base import Request

_LANG_NAME = {"zh": "简体中文", "en": "English"}
_PATH_STEPS = 6  # how much of the node's own path the writer sees
_EXCERPT = 160


def _system(lang: str, story: dict[str, Any] | None = None) -> str:
    parts = [
        "You write an interactive ghost story game set in a real city at night. "
        f"Write every text in {_LANG_NAME[lang]}. Reply with one JSON object only, "
        "matching the schema you are given."
    ]
    if story:
        parts.append(
            "STORY\n"
            f"Title: {story['title']}\nSynopsis: {story['synopsis']}\n"
            f"Game design: {story['game_design']}\nLore: {story['lore']}\n"
            f"Main story: {story['main_story']}\nScenes: {', '.join(story['scenes'])}"
        )
    return "\n\n".join(parts)


def documents_request(city: str, characters: list[str], lang: str) -> Request:
    who = ", ".join(characters) if characters else "characters you will propose later"
    prompt = (
        f"City: {city}\nPlayable characters: {who}\n"
        "Write the story documents: a title, a synopsis, a short game design document "
        "(meters: fear PR, truth GR, familiarity WF; the night runs 00:00-04:00), the lore of the "
        "haunting, the main story, and 3 to 8 named scenes (places in the city), opening first."
    )
    return Request(
        kind="documents",
        schema_name="story_documents",
        schema=schemas.DOCUMENTS,
        system=_system(lang),
        prompt=prompt,
        context={"city": city, "lang": lang, "characters": list(characters)},
    )


def characters_request(city: str, story: dict[str, Any], lang: str) -> Request:
    prompt = (
        f"City: {city}\nPropose 2 to 4 playable characters for this story, the protagonist "
        "first: a short name, a role and a one-sentence description each."
    )
    return Request(
        kind="characters",
        schema_name="characters",
        schema=schemas.CHARACTERS,
        system=_system(lang, story),
        prompt=prompt,
        context={"city": city, "lang": lang, "title": story["title"], "scenes": story["scenes"]},
        check=schemas.check_characters,
    )


def node_request(
    *,
    city: str,
    lang: str,
    story: dict[str, Any],
    character: dict[str, Any],
    state: dict[str, Any],
    depth: int,
    max_depth: int,
    path: list[dict[str, str]],
    must_end: str | None,
    may_end: bool,
    branching: int,
) -> Request:
    """The request for one node's content. ``path`` is the node's own route from the root."""
    recent = path[-_PATH_STEPS:]
    steps = "\n".join(f"- {step['narrative'][:_EXCERPT]} -> chose: {step['choice']}" for step in recent)
    if must_end:
        task = (
            f"This node is an ending (reason: {must_end}). Write the closing narrative, choices [], "
            "and an ending object with its type and a short title."
            + (' The type must be "fear_collapse".' if must_end == "fear" else "")
        )
    else:
        task = (
            f"Write the narrative of this moment and 2 to {branching} distinct choices. Each "
            "choice has consequences: integer deltas PR/GR/WF (-30..30), time as '+Nmin' "
            "(5-30), an optional new scene from the list, flags to set, items found. ending null."
            + (" You may instead end the story here if it truly ends." if may_end else "")
        )
    prompt = (
        f"CHARACTER: {character['name']} ({character.get('role', '')}) "
        f"{character.get('description', '')}\n"
        f"DEPTH: {depth} of {max_depth}\n"
        f"STATE: {orjson.dumps(state, option=orjson.OPT_SORT_KEYS).decode()}\n"
        f"PATH SO FAR:\n{steps or '- (the story begins)'}\n\nTASK: {task}"
    )
    return Request(
        kind="node",
        schema_name="dialogue_node",
        schema=schemas.node_schema(branching),
        system=_system(lang, story),
        prompt=prompt,
        context={
            "city": city,
            "lang": lang,
            "title": story["title"],
            "scenes": story["scenes"],
            "character": character,
            "state": state,
            "depth": depth,
            "max_depth": max_depth,
            "path": recent,
            "must_end": must_end,
            "may_end": may_end,
            "branching": branching,
        },
        check=lambda reply: schemas.check_node(reply, must_end, may_end),
    )
