"""Builds the request of every generation call from plain story data, in Chinese or English.

What each call asks and answers is in docs/writer-requests.md. Prompts use only the story documents,
the character, its plan, and the node's place in the graph: no timestamps and nothing that depends on
the order replies came back, so a rerun asks the same questions and the journal can answer them.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..vocabulary import ENDING_TYPES
from . import schemas
from .base import Request

_LANG_NAME = {"zh": "简体中文", "en": "English"}
_LENGTH = {"zh": "150-350 Chinese characters", "en": "80-200 English words"}
TAIL = 160  # how much of another arrival's previous narrative a bridge request shows


def _dump(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _style(lang: str) -> str:
    return (
        "STYLE CONTRACT: second person, present tense (the player is 'you'); one scene per node (the scene "
        f"of the state); each narrative {_LENGTH[lang]}. Never write the clock time (every player's clock is "
        "their own, the screen shows it). Use the character's name and role naturally."
    )


def _system(
    lang: str,
    story: dict[str, Any] | None = None,
    character: dict[str, Any] | None = None,
    plan: dict[str, Any] | None = None,
) -> str:
    parts = [
        "You write an interactive ghost story game set in a real city at night. "
        f"Write every text in {_LANG_NAME[lang]}. Reply with one JSON object only (JSON, no prose around it), "
        "matching the schema you are given."
    ]
    if story:
        parts.append(
            "STORY\n"
            f"Title: {story['title']}\nSynopsis: {story['synopsis']}\n"
            f"Game design: {story['game_design']}\nLore: {story['lore']}\n"
            f"Main story: {story['main_story']}\nScenes: {', '.join(story['scenes'])}"
        )
    if character:
        parts.append(
            f"CHARACTER (the player): {character['name']}; role: {character.get('role') or '(to propose)'}; "
            f"{character.get('description') or ''}".rstrip("; ")
        )
    if plan:
        beats = "\n".join(
            f"- depth {b['depth']}: {b['title']} (tension {b['tension']}): {b['summary']}"
            for b in plan["beats"]
        )
        endings = "\n".join(
            f"- {e['type']} \u00ab{e['title']}\u00bb, depths {e['from_depth']}-{e['to_depth']}: {e['leads_there']}"
            for e in plan["endings"]
        )
        vocab = "; ".join(f"{t['name']} = {t['meaning']}" for t in plan["flags"])
        items = "; ".join(f"{t['name']} = {t['meaning']}" for t in plan["items"])
        parts.append(
            f"PLAN\nBeats:\n{beats}\nEndings aimed at:\n{endings}\nClues of the truth, in order: "
            f"{' | '.join(plan['clues'])}\nFlags: {vocab}\nItems: {items}"
        )
        parts.append(_style(lang))
    return "\n\n".join(parts)


def _who(characters: list[dict[str, str]]) -> str:
    return ", ".join(f"{c['name']} ({c['role']})" if c.get("role") else c["name"] for c in characters)


def documents_request(city: str, characters: list[dict[str, str]], lang: str) -> Request:
    who = _who(characters) if characters else "characters you will propose later"
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
        context={"city": city, "lang": lang, "characters": [dict(c) for c in characters]},
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


def plan_request(
    *, city: str, lang: str, story: dict[str, Any], character: dict[str, Any], max_depth: int, branching: int
) -> Request:
    """The plan of one character's graph: beats per depth with tension, endings, clues, vocabulary."""
    known = (
        "keep the given role and description"
        if character.get("role")
        else "propose a one-line role and a one-sentence description"
    )
    prompt = (
        f"Plan the story of {character['name']} before any prose ({known}). The graph has depths 0 to "
        f"{max_depth}; every node offers up to {branching} choices.\n"
        f"- beats: exactly one per depth 0..{max_depth}, in order: a title, what happens, and a tension 0-100 "
        "(the planned level of fear: it rises through the story, may dip once for a lull, peaks at the climax);\n"
        f"- endings: 3 to 7 of the types {', '.join(ENDING_TYPES)} (each once, fear_collapse and dawn "
        "included), with a title, what leads there, and the depths where it may come;\n"
        "- clues: 3 to 8 facts of the truth, revealed in this order as truth rises;\n"
        "- flags (snake_case names) and items (names in the story's language) the choices may set or find, "
        "each with its meaning."
    )
    return Request(
        kind="plan",
        schema_name="character_plan",
        schema=schemas.plan_schema(max_depth),
        system=_system(lang, story, character),
        prompt=prompt,
        context={
            "city": city,
            "lang": lang,
            "title": story["title"],
            "synopsis": story["synopsis"],
            "scenes": story["scenes"],
            "character": dict(character),
            "max_depth": max_depth,
            "branching": branching,
            "ending_types": list(ENDING_TYPES),
        },
        check=lambda reply: schemas.check_plan(reply, max_depth),
    )


def _task(
    ending: str | None,
    runtime_ending: str | None,
    planned: list[dict[str, Any]],
    may_end: bool,
    branching: int,
    max_depth: int,
    tension_next: int,
) -> str:
    if runtime_ending:
        return (
            f"Write a shared {runtime_ending} ending that can follow ANY moment of this character's night "
            "(no particular scene object or item): choices [], bridges [], and an ending object with type "
            f'"{runtime_ending}" and a short title.'
        )
    if ending in ("fear_collapse", "dawn"):
        why = (
            "Fear overwhelms the character here"
            if ending == "fear_collapse"
            else "The night ends here: dawn breaks"
        )
        return f'{why}. Write the closing narrative, choices [], and an ending object with type "{ending}" and a short title.'
    if ending == "planned":
        options = "; ".join(f"{e['type']} \u00ab{e['title']}\u00bb ({e['leads_there']})" for e in planned)
        return (
            "This moment ends the story. Write the planned ending that fits this path best"
            + (f" (one of: {options})" if options else "")
            + ": the closing narrative, choices [], and an ending object with its type and a short title."
        )
    step = max(1, round(210 / max_depth))
    task = (
        f"Write the narrative of this moment and 2 to {branching} distinct choices, different from the choices "
        "passed up. Each choice has consequences: integer deltas PR/GR/WF (-30..30); minutes, an integer 1-60 "
        f"(about {step} on average: a whole path of {max_depth} choices takes most of the night); an optional "
        "new scene from the list (or null); flags and items from the plan's vocabulary. Fear should move toward "
        f"the next beat's tension ({tension_next}): offer choices that raise it and choices that calm it. ending null."
    )
    if may_end and planned:
        options = "; ".join(f"{e['type']} \u00ab{e['title']}\u00bb" for e in planned)
        task += f" You may instead end the story here, if it truly ends, with one of the planned endings: {options}."
    return task


def node_request(
    *,
    city: str,
    lang: str,
    story: dict[str, Any],
    character: dict[str, Any],
    plan: dict[str, Any],
    state: dict[str, Any],
    depth: int,
    max_depth: int,
    branching: int,
    parent: dict[str, Any] | None,
    arrivals: list[dict[str, str]],
    ledger: dict[str, Any],
    next_truth: str | None,
    new_truth: str | None = None,
    ending: str | None,
    planned_endings: list[dict[str, Any]],
    may_end: bool,
    runtime_ending: str | None = None,
) -> Request:
    """The request for one node's content: everything its writer needs, nothing that depends on timing."""
    beats = plan["beats"]
    beat = beats[min(depth, len(beats) - 1)]
    after = beats[min(depth + 1, len(beats) - 1)]
    lines = [
        f"DEPTH: {depth} of {max_depth}",
        f"BEAT: {beat['title']} (tension {beat['tension']}): {beat['summary']}",
        f"NEXT BEAT: {after['title']} (tension {after['tension']})",
        f"STATE: {_dump(state)}",
        f"LEDGER: {_dump(ledger)}",
        f"TRUTH REVEALED HERE: {new_truth or '(none: reveal nothing new, at most hint at the next)'}",
        f"NEXT TRUTH TO REVEAL: {next_truth or '(all revealed)'}",
    ]
    if parent is not None:
        lines.append(f"PREVIOUS NODE ({parent['scene']}):\n{parent['narrative']}")
        lines.append(f"THE PLAYER CHOSE: {parent['choice']}")
        if parent["siblings"]:
            lines.append("CHOICES THEY PASSED UP: " + " | ".join(parent["siblings"]))
    if arrivals:
        listed = "\n".join(
            f"{i}. from {a['scene']}, after \u201c{a['narrative_tail']}\u201d, the player chose: {a['choice']}"
            for i, a in enumerate(arrivals, 1)
        )
        lines.append(
            "ARRIVALS: several choices lead here. Start the narrative in the scene without recalling any one "
            f"of them, and write one bridge per arrival, in this order (one or two sentences carrying that "
            f"choice into this scene):\n{listed}"
        )
    lines.append(
        "TASK: "
        + _task(ending, runtime_ending, planned_endings, may_end, branching, max_depth, after["tension"])
    )
    planned_types = tuple(dict.fromkeys(e["type"] for e in planned_endings)) or ENDING_TYPES
    closing = runtime_ending or (ending if ending != "planned" else None)
    if closing:
        shape, types = "ending", (closing,)
    elif ending == "planned":
        shape, types = "ending", planned_types
    else:
        shape, types = ("either" if may_end else "choices"), planned_types
    return Request(
        kind="node",
        schema_name="dialogue_node",
        schema=schemas.node_schema(branching, len(arrivals), shape, types),
        system=_system(lang, story, character, plan),
        prompt="\n".join(lines),
        context={
            "city": city,
            "lang": lang,
            "title": story["title"],
            "scenes": story["scenes"],
            "character": dict(character),
            "plan": plan,
            "beat": beat,
            "depth": depth,
            "max_depth": max_depth,
            "branching": branching,
            "state": state,
            "parent": parent,
            "arrivals": arrivals,
            "ledger": ledger,
            "next_truth": next_truth,
            "new_truth": new_truth,
            "ending": ending,
            "planned_endings": planned_endings,
            "may_end": may_end,
            "runtime_ending": runtime_ending,
        },
        check=lambda reply: schemas.check_node(
            reply, runtime_ending or ending, may_end and not ending, types
        ),
    )
