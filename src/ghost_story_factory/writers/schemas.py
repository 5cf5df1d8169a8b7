"""JSON schemas of what each writer call returns, and the checks a schema cannot express.

The schemas follow the subset OpenAI Structured Outputs accepts in strict mode: every property
required, ``additionalProperties: false``, optional values as ``null``.
"""

from __future__ import annotations

from typing import Any

from ..vocabulary import ENDING_TYPES

NARRATIVE_MAX = 4000  # characters: far above the style contract, a cap against runaway replies


def strict_object(properties: dict[str, Any]) -> dict[str, Any]:
    """A JSON object schema with exactly these properties, all required (strict structured output)."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


_STR = {"type": "string", "minLength": 1}


def _text(cap: int) -> dict[str, Any]:
    """Text of at most ``cap`` characters: sent on the wire too, so a grammar-constrained decoder stops
    a runaway string there (a small model can loop until its context is full)."""
    return {"type": "string", "minLength": 1, "maxLength": cap}


DOCUMENTS = strict_object(
    {
        "title": _text(80),
        "synopsis": _text(1500),
        "game_design": _text(3000),
        "lore": _text(3000),
        "main_story": _text(4000),
        "scenes": {"type": "array", "items": _text(60), "minItems": 3, "maxItems": 8},
    }
)

CHARACTERS = strict_object(
    {
        "characters": {
            "type": "array",
            "minItems": 2,
            "maxItems": 4,
            "items": strict_object({"name": _text(60), "role": _text(120), "description": _text(400)}),
        }
    }
)

CONSEQUENCES = strict_object(
    {
        "PR": {"type": "integer", "minimum": -50, "maximum": 50},
        "GR": {"type": "integer", "minimum": -50, "maximum": 50},
        "WF": {"type": "integer", "minimum": -50, "maximum": 50},
        "minutes": {"type": "integer", "minimum": 1, "maximum": 60},
        "scene": {"type": ["string", "null"]},
        "flags": {
            "type": "array",
            "maxItems": 3,
            "items": strict_object({"name": _text(40), "value": {"type": "boolean"}}),
        },
        "items": {"type": "array", "maxItems": 3, "items": _text(40)},
    }
)


def _ending(types: tuple[str, ...] = ENDING_TYPES) -> dict[str, Any]:
    return strict_object(
        {"type": {"type": "string", "enum": list(types)}, "title": {**_STR, "maxLength": 80}}
    )


def node_schema(
    branching: int, arrivals: int, shape: str = "either", ending_types: tuple[str, ...] = ENDING_TYPES
) -> dict[str, Any]:
    """A node reply of exactly the shape this node needs, so a decoder that honours the schema gives a usable one.

    ``shape`` is "choices" (2..branching choices, ending null), "ending" (no choices, an ending of one of
    ``ending_types``) or "either" (the writer may end here: choices, or an ending; :func:`check_node`
    refuses both or neither). ``arrivals`` is the exact number of bridges.
    """
    choices: dict[str, Any] = {
        "type": "array",
        "maxItems": branching if shape != "ending" else 0,
        "items": strict_object({"text": {**_STR, "maxLength": 200}, "consequences": CONSEQUENCES}),
    }
    if shape == "choices":
        choices["minItems"] = 2
        ending: dict[str, Any] = {"type": "null"}
    elif shape == "ending":
        ending = _ending(ending_types)
    else:
        ending = {"anyOf": [_ending(ending_types), {"type": "null"}]}
    return strict_object(
        {
            "narrative": {"type": "string", "minLength": 1, "maxLength": NARRATIVE_MAX},
            "bridges": {
                "type": "array",
                "items": {"type": "string", "minLength": 1, "maxLength": 600},
                "minItems": arrivals,
                "maxItems": arrivals,
            },
            "choices": choices,
            "ending": ending,
        }
    )


def is_open_node(schema: dict[str, Any]) -> bool:
    """True for the "either" shape of :func:`node_schema`: the writer chooses between choices and an ending."""
    ending = schema.get("properties", {}).get("ending", {})
    return "anyOf" in ending and "narrative" in schema.get("properties", {})


def plan_schema(max_depth: int) -> dict[str, Any]:
    """A character's plan: one beat per depth, the endings aimed at, clues, and flag and item vocabulary."""
    term = strict_object({"name": _text(40), "meaning": _text(200)})
    return strict_object(
        {
            "role": _text(120),
            "description": _text(400),
            "beats": {
                "type": "array",
                "minItems": max_depth + 1,
                "maxItems": max_depth + 1,
                "items": strict_object(
                    {
                        "depth": {"type": "integer", "minimum": 0, "maximum": max_depth},
                        "title": _text(60),
                        "summary": _text(300),
                        "tension": {"type": "integer", "minimum": 0, "maximum": 100},
                    }
                ),
            },
            "endings": {
                "type": "array",
                "minItems": 3,
                "maxItems": len(ENDING_TYPES),
                "items": strict_object(
                    {
                        "type": {"type": "string", "enum": list(ENDING_TYPES)},
                        "title": _text(60),
                        "leads_there": _text(300),
                        "from_depth": {"type": "integer", "minimum": 0, "maximum": max_depth},
                        "to_depth": {"type": "integer", "minimum": 0, "maximum": max_depth},
                    }
                ),
            },
            "clues": {"type": "array", "minItems": 3, "maxItems": 8, "items": _text(300)},
            "flags": {
                "type": "array",
                "minItems": 2,
                "maxItems": 10,
                "items": strict_object(
                    {"name": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,39}$"}, "meaning": _text(200)}
                ),
            },
            "items": {"type": "array", "minItems": 2, "maxItems": 8, "items": term},
        }
    )


def check_plan(reply: dict[str, Any], max_depth: int) -> list[str]:
    """What makes a schema-valid plan unusable."""
    problems: list[str] = []
    depths = [beat["depth"] for beat in reply["beats"]]
    if depths != list(range(max_depth + 1)):
        problems.append(f"beats must have depths 0, 1, ..., {max_depth} in order, one each")
    types = [ending["type"] for ending in reply["endings"]]
    if len(set(types)) != len(types):
        problems.append("each ending type may be planned once")
    for needed in ("fear_collapse", "dawn"):
        if needed not in types:
            problems.append(f'the endings must include "{needed}"')
    if any(e["from_depth"] > e["to_depth"] for e in reply["endings"]):
        problems.append("an ending's from_depth must not be after its to_depth")
    for what in ("flags", "items"):
        names = [term["name"].strip() for term in reply[what]]
        if len(set(names)) != len(names):
            problems.append(f"{what} names must be distinct")
    return problems


def check_node(
    reply: dict[str, Any], ending: str | None, may_end: bool, planned: tuple[str, ...] = ()
) -> list[str]:
    """What makes a schema-valid node reply unusable for the node it was asked for.

    ``ending`` is None (choices wanted, or an ending when ``may_end``), a type the ending must have
    (fear_collapse, dawn) or "planned" (an ending of one of the ``planned`` types).
    """
    choices = reply["choices"]
    given = reply["ending"]
    problems: list[str] = []
    if any(not bridge.strip() for bridge in reply["bridges"]):
        problems.append("every bridge must be one or two sentences, not blank")
    if not reply["narrative"].strip():
        problems.append("the narrative must not be blank")
    if ending:
        if given is None or choices:
            problems.append("this node must be an ending: choices [] and an ending object")
        elif ending != "planned" and given["type"] != ending:
            problems.append(f'the ending type must be "{ending}"')
        elif ending == "planned" and planned and given["type"] not in planned:
            problems.append(f"the ending type must be one of the planned endings: {', '.join(planned)}")
        return problems
    if given is not None:
        if choices:
            problems.append("an ending has no choices: give choices [] or ending null, not both")
        elif not may_end:
            problems.append("it is too early for an ending: give 2 or more choices, ending null")
        return problems
    if len(choices) < 2:
        problems.append("give at least 2 choices (or an ending)")
    texts = [" ".join(choice["text"].split())[:200] for choice in choices]  # as they will be stored
    if any(not text for text in texts):
        problems.append("a choice text must not be blank")
    if len(set(texts)) != len(texts):
        twice = sorted({text for text in texts if texts.count(text) > 1})
        problems.append(f"choice texts must be distinct: two choices say {' | '.join(twice)[:80]!r}")
    return problems


def check_characters(reply: dict[str, Any]) -> list[str]:
    names = [c["name"].strip() for c in reply["characters"]]
    if any(not name for name in names):
        return ["character names must not be blank"]
    if len(set(names)) != len(names):
        return ["character names must be distinct"]
    if any(len(name) > 60 or "/" in name or "\\" in name for name in names):
        return ["character names must be short and contain no slashes"]
    return []


# Keywords kept only for the local check: decoders do not enforce a minimum length or a pattern the
# same way. Counts, enums, numeric bounds and maximum lengths are sent: they are what makes a
# schema-valid reply usable, and a maximum length stops a looping small model (llama-server honours
# it). A provider that refuses a keyword gets it dropped for the rest of the run (the wire layer).
LOCAL_ONLY = frozenset({"minLength", "pattern"})


def wire_schema(schema: Any, refused: frozenset[str] = frozenset()) -> Any:
    """The schema as sent to an API: without the local-only keywords and any the provider ``refused``.

    Every reply is still validated here against the full schema, so dropping a keyword on the wire
    loses no check, only the decoder's help.
    """
    drop = LOCAL_ONLY | refused
    if isinstance(schema, dict):
        return {key: wire_schema(value, refused) for key, value in schema.items() if key not in drop}
    if isinstance(schema, list):
        return [wire_schema(item, refused) for item in schema]
    return schema
