"""What goes on the wire for one request, and how its reply comes back into the local shape.

The local schemas (:mod:`.schemas`) say what a usable reply is; every reply is validated against
them. The wire form is what a constrained decoder is given: a schema every strict mode accepts
and that admits only usable replies, as far as a JSON Schema can say it. Where the local shape
cannot be expressed that way, the wire form is a different shape and :meth:`WireForm.to_local`
turns the reply back:

* a node that may end ("either"): OpenAI's strict mode refuses a root ``anyOf``, and a flat
  ``choices`` + nullable ``ending`` admits both or neither. On the wire the choice is one
  property, ``outcome``: ``anyOf`` of ``{"choices": [2..B]}`` and ``{"ending": {...}}``.
* a plan: beats carry no ``depth`` (it is their position), the endings are an object with the
  two mandatory types and a list of others, flag names are made snake_case, names made distinct
  and every ending window put in order.

Choices are tightened with the request's own vocabulary: a scene from the story's scenes (or
null), flags and items from the plan. Keywords the provider refused are dropped everywhere.
"""

from __future__ import annotations

import copy
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..vocabulary import ENDING_TYPES
from .base import Request
from .schemas import is_open_node, strict_object, wire_schema

# Keywords a refusal may name that we can drop and still send a usable schema.
DROPPABLE = (
    "minItems",
    "maxItems",
    "minimum",
    "maximum",
    "enum",
    "anyOf",
    "const",
    "pattern",
    "minLength",
    "maxLength",
    "format",
    "additionalProperties",
)
_MANDATORY = ("fear_collapse", "dawn")
_SLUG = re.compile(r"[^a-z0-9_]+")


@dataclass
class WireForm:
    """The schema sent for a request and the translation of a reply back to the local shape."""

    schema: dict[str, Any]
    to_local: Callable[[Any], Any] = field(default=lambda data: data)
    shape: str = "flat"  # "flat" (same shape as local), "outcome" (either node), "plan"


def wire_form(request: Request, refused: frozenset[str] = frozenset()) -> WireForm:
    """The wire form of ``request`` for a provider that refused the keywords in ``refused``."""
    schema = request.schema
    props = schema.get("properties", {})
    if request.kind == "node" and is_open_node(schema) and "anyOf" not in refused:
        form = _outcome_form(schema, request.context)
    elif request.kind == "node":
        form = WireForm(_tighten_node(copy.deepcopy(schema), request.context))
    elif request.kind == "plan" and {"beats", "endings", "flags"} <= set(props):
        form = _plan_form(schema)
    else:
        form = WireForm(copy.deepcopy(schema))
    wired = wire_schema(form.schema, refused)
    if "anyOf" in refused:
        wired = _without_anyof(wired)
    form.schema = wired
    return form


# -- nodes -------------------------------------------------------------------------------------------


def _tighten_node(schema: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """Scenes, flags and items of a node's choices limited to the story's own vocabulary."""
    choices = schema.get("properties", {}).get("choices", {})
    consequences = (choices.get("items") or {}).get("properties", {}).get("consequences", {})
    props = consequences.get("properties")
    if not props:
        return schema
    scenes = [s for s in context.get("scenes") or [] if isinstance(s, str) and s.strip()]
    if scenes and "scene" in props:
        props["scene"] = {
            "anyOf": [{"type": "string", "enum": list(dict.fromkeys(scenes))}, {"type": "null"}]
        }
    plan = context.get("plan") or {}
    flags = [f.get("name") for f in plan.get("flags") or [] if isinstance(f, dict) and f.get("name")]
    if flags and "flags" in props:
        name = props["flags"].get("items", {}).get("properties", {})
        if "name" in name:
            name["name"] = {"type": "string", "enum": list(dict.fromkeys(flags))}
    items = [i.get("name") for i in plan.get("items") or [] if isinstance(i, dict) and i.get("name")]
    if items and "items" in props:
        props["items"]["items"] = {"type": "string", "enum": list(dict.fromkeys(items))}
    return schema


def _outcome_form(schema: dict[str, Any], context: dict[str, Any]) -> WireForm:
    local = _tighten_node(copy.deepcopy(schema), context)
    props = local["properties"]
    choices = {**props["choices"], "minItems": 2}
    ending = next(option for option in props["ending"]["anyOf"] if option.get("type") != "null")
    outcome = {
        "anyOf": [
            strict_object({"choices": choices}),
            strict_object({"ending": ending}),
        ]
    }
    wire = strict_object({"narrative": props["narrative"], "bridges": props["bridges"], "outcome": outcome})

    def to_local(data: Any) -> Any:
        if not isinstance(data, dict) or "outcome" not in data:
            return data  # not the wire shape (a model that ignored the schema): checked as it is
        outcome = data.get("outcome")
        outcome = outcome if isinstance(outcome, dict) else {}
        return {
            "narrative": data.get("narrative"),
            "bridges": data.get("bridges"),
            "choices": outcome.get("choices") or [],
            "ending": outcome.get("ending"),
        }

    return WireForm(wire, to_local, "outcome")


# -- plans -------------------------------------------------------------------------------------------


def _plan_form(schema: dict[str, Any]) -> WireForm:
    local = copy.deepcopy(schema)
    props = local["properties"]
    beat = props["beats"]["items"]
    beat["properties"].pop("depth", None)
    beat["required"] = [name for name in beat["required"] if name != "depth"]
    ending = props["endings"]["items"]
    untyped = copy.deepcopy(ending)
    untyped["properties"].pop("type", None)
    untyped["required"] = [name for name in untyped["required"] if name != "type"]
    others = [kind for kind in ENDING_TYPES if kind not in _MANDATORY]
    other = copy.deepcopy(ending)
    other["properties"]["type"] = {"type": "string", "enum": others}
    props["endings"] = strict_object(
        {
            **{kind: untyped for kind in _MANDATORY},
            "others": {"type": "array", "minItems": 1, "maxItems": len(others), "items": other},
        }
    )

    def to_local(data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("endings"), dict):
            return data  # the flat shape: checked as it is
        out = dict(data)
        beats = data.get("beats")
        if isinstance(beats, list):
            out["beats"] = [
                {"depth": index, **beat} if isinstance(beat, dict) else beat
                for index, beat in enumerate(beats)
            ]
        out["endings"] = _endings(data["endings"])
        if isinstance(data.get("flags"), list):
            out["flags"] = _distinct(data["flags"], _flag_name)
        if isinstance(data.get("items"), list):
            out["items"] = _distinct(data["items"], lambda name: " ".join(name.split()))
        return out

    return WireForm(local, to_local, "plan")


def _endings(wired: dict[str, Any]) -> list[Any]:
    endings: list[Any] = []
    for kind in _MANDATORY:
        entry = wired.get(kind)
        if isinstance(entry, dict):
            endings.append({"type": kind, **entry})
    seen = set(_MANDATORY)
    for entry in wired.get("others") or []:
        if isinstance(entry, dict) and isinstance(entry.get("type"), str) and entry["type"] not in seen:
            seen.add(entry["type"])
            endings.append(entry)
    for entry in endings:
        low, high = entry.get("from_depth"), entry.get("to_depth")
        if isinstance(low, int) and isinstance(high, int) and low > high:
            entry["from_depth"], entry["to_depth"] = high, low  # a window, whichever way it was written
    return endings


def _flag_name(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    slug = _SLUG.sub("_", ascii_name).strip("_")[:40] or "flag"
    return slug if slug[0].isalpha() else f"f_{slug}"[:40]


def _distinct(terms: list[Any], normal: Callable[[str], str]) -> list[Any]:
    """Terms with normalised names, a repeated name numbered so every name is distinct."""
    out: list[Any] = []
    taken: set[str] = set()
    for term in terms:
        if not isinstance(term, dict) or not isinstance(term.get("name"), str):
            out.append(term)
            continue
        base = normal(term["name"]) or term["name"]
        name, number = base, 2
        while name in taken:
            suffix = f"_{number}" if normal is _flag_name else f" {number}"
            name, number = f"{base[: 40 - len(suffix)]}{suffix}", number + 1
        taken.add(name)
        out.append({**term, "name": name})
    return out


# -- generic helpers ---------------------------------------------------------------------------------


def _without_anyof(schema: Any) -> Any:
    """For a provider that refuses anyOf: each anyOf becomes its first non-null option, nullable."""
    if isinstance(schema, list):
        return [_without_anyof(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "anyOf" in schema:
        options = schema["anyOf"]
        nullable = any(option.get("type") == "null" for option in options)
        chosen = next((option for option in options if option.get("type") != "null"), {"type": "null"})
        chosen = _without_anyof(chosen)
        if nullable and isinstance(chosen.get("type"), str) and chosen["type"] != "null":
            chosen = {**chosen, "type": [chosen["type"], "null"]}
            chosen.pop("enum", None)  # an enum without null would refuse the null the type allows
        return chosen
    return {key: _without_anyof(value) for key, value in schema.items()}


def refused_keyword(message: str) -> str | None:
    """The schema keyword a provider's refusal names, when it names exactly one we can drop."""
    named = [
        word
        for word in DROPPABLE
        if re.search(rf"['\"`]{word}['\"`]", message)
        or re.search(
            rf"(?<![\w.]){word}(?![\w.]) (?:is |are )?(?:not (?:supported|permitted|allowed)|unsupported)",
            message,
        )
    ]
    if "additionalProperties" in named and len(named) > 1:
        named.remove("additionalProperties")  # strict modes mention it when explaining other rules
    return named[0] if len(named) == 1 else None


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate: one token per CJK character, one per four other characters.

    Used only to refuse a prompt that cannot fit a context size the user gave and for the cost
    estimate; what is counted and billed always comes from the provider's usage.
    """
    cjk = sum(
        1
        for ch in text
        if "\u2e80" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" or "\uff00" <= ch <= "\uffef"
    )
    return cjk + (len(text) - cjk + 3) // 4
