"""JSON schemas of what each writer call returns, and the checks a schema cannot express.

The schemas follow the subset OpenAI Structured Outputs accepts in strict mode: every property
required, ``additionalProperties: false``, optional values as ``null``.
"""

from __future__ import annotations

from typing import Any

ENDING_TYPES = (
    "fear_collapse",  # PR reached 100
    "truth_revealed",
    "escape",
    "dawn",  # survived until the night's end
    "trapped",
    "possessed",
    "sacrifice",
)


def _obj(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


_STR = {"type": "string", "minLength": 1}

DOCUMENTS = _obj(
    {
        "title": _STR,
        "synopsis": _STR,
        "game_design": _STR,
        "lore": _STR,
        "main_story": _STR,
        "scenes": {"type": "array", "items": _STR, "minItems": 3, "maxItems": 8},
    }
)

CHARACTERS = _obj(
    {
        "characters": {
            "type": "array",
            "minItems": 2,
            "maxItems": 4,
            "items": _obj({"name": _STR, "role": _STR, "description": _STR}),
        }
    }
)

CONSEQUENCES = _obj(
    {
        "PR": {"type": "integer"},
        "GR": {"type": "integer"},
        "WF": {"type": "integer"},
        "time": {"type": "string", "pattern": r"^\+\d{1,3}min$"},
        "scene": {"type": ["string", "null"]},
        "flags": {
            "type": "array",
            "items": _obj({"name": _STR, "value": {"type": "boolean"}}),
        },
        "items": {"type": "array", "items": _STR},
    }
)


def node_schema(branching: int) -> dict[str, Any]:
    """A node: narrative plus 2..branching choices, or an ending with no choices."""
    return _obj(
        {
            "narrative": _STR,
            "choices": {
                "type": "array",
                "maxItems": branching,
                "items": _obj({"text": _STR, "consequences": CONSEQUENCES}),
            },
            "ending": {
                "anyOf": [
                    _obj({"type": {"type": "string", "enum": list(ENDING_TYPES)}, "title": _STR}),
                    {"type": "null"},
                ]
            },
        }
    )


def check_node(reply: dict[str, Any], must_end: str | None, may_end: bool) -> list[str]:
    """What makes a schema-valid node reply unusable for the node it was asked for."""
    choices = reply["choices"]
    ending = reply["ending"]
    problems: list[str] = []
    if must_end:
        if ending is None or choices:
            problems.append("this node must be an ending: choices [] and an ending object")
        elif must_end == "fear" and ending["type"] != "fear_collapse":
            problems.append('fear reached 100: the ending type must be "fear_collapse"')
        return problems
    if ending is not None:
        if choices:
            problems.append("an ending has no choices")
        elif not may_end:
            problems.append("it is too early for an ending: give 2 or more choices, ending null")
        return problems
    if len(choices) < 2:
        problems.append("give at least 2 choices (or an ending)")
    texts = [choice["text"].strip() for choice in choices]
    if len(set(texts)) != len(texts):
        problems.append("choice texts must be distinct")
    return problems


def check_characters(reply: dict[str, Any]) -> list[str]:
    names = [c["name"].strip() for c in reply["characters"]]
    if len(set(names)) != len(names):
        return ["character names must be distinct"]
    if any(len(name) > 60 or "/" in name or "\\" in name for name in names):
        return ["character names must be short and contain no slashes"]
    return []


_LOCAL_ONLY = frozenset({"minLength", "maxLength", "minItems", "maxItems", "pattern"})


def wire_schema(schema: Any) -> Any:
    """The schema as sent to an API: without length, count and pattern constraints.

    Providers' strict modes accept different subsets of JSON Schema, and some reject these
    keywords outright; every reply is still validated here against the full schema, so
    dropping them on the wire loses no check.
    """
    if isinstance(schema, dict):
        return {key: wire_schema(value) for key, value in schema.items() if key not in _LOCAL_ONLY}
    if isinstance(schema, list):
        return [wire_schema(item) for item in schema]
    return schema
