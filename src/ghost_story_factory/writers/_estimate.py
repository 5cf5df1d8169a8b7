"""What a run will cost before it starts: calls, tokens, money and time, from the real prompts.

Sample requests are built with :mod:`.prompts` (the same code a run uses) around a sample story of
realistic size: documents, a plan with one beat per depth, a parent narrative of the style
contract's length. Replies are sized the same way. Token counts use the estimate of
:func:`._wire.estimate_tokens`; what a run reports afterwards always comes from the provider.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from ..vocabulary import ENDING_TYPES
from . import prompts
from ._wire import estimate_tokens
from .base import Request
from .openai_writer import DEFAULT_CAPS, prompt_tokens

# Characters of prose a model writes for each text (zh: characters; en: about 6 per word).
_PROSE = {
    "zh": {"short": 12, "line": 40, "para": 200, "narrative": 260},
    "en": {"short": 24, "line": 90, "para": 500, "narrative": 900},
}
_FILL = {"zh": "夜雨中的老城旧巷灯影摇晃", "en": "the night tram rattles past the old harbour wall "}
SECONDS_PER_CALL = 12.0  # a cloud model writing one node (~600 tokens at ~50 tokens/s), plus latency


def _text(lang: str, size: str) -> str:
    length = _PROSE[lang][size]
    fill = _FILL[lang]
    return (fill * (length // len(fill) + 1))[:length]


@dataclass
class Estimate:
    calls: int
    prompt: int
    completion: int
    cached: int  # prompt tokens a prefix cache would serve (the story context of each character)
    largest: int
    largest_kind: str
    node_prompt: int
    node_reply: int
    seconds: float
    characters: int
    nodes: int

    @property
    def total(self) -> int:
        return self.prompt + self.completion

    def to_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "tokens": {"prompt": self.prompt, "completion": self.completion, "total": self.total},
            "cached_possible": self.cached,
            "largest_prompt": {"tokens": self.largest, "kind": self.largest_kind},
            "node": {"prompt": self.node_prompt, "reply": self.node_reply},
            "seconds": round(self.seconds),
            "characters": self.characters,
            "nodes_per_character": self.nodes,
        }


def sample_story(lang: str, scenes: int = 5) -> dict[str, Any]:
    return {
        "title": _text(lang, "short"),
        "synopsis": _text(lang, "para"),
        "game_design": _text(lang, "para"),
        "lore": _text(lang, "para"),
        "main_story": _text(lang, "para"),
        "scenes": [f"{_text(lang, 'short')[:8]}{i}" for i in range(scenes)],
    }


def sample_plan(lang: str, max_depth: int) -> dict[str, Any]:
    line = _text(lang, "line")
    return {
        "beats": [
            {"depth": d, "title": _text(lang, "short"), "summary": line, "tension": min(100, 10 + 4 * d)}
            for d in range(max_depth + 1)
        ],
        "endings": [
            {
                "type": kind,
                "title": _text(lang, "short"),
                "leads_there": line,
                "from_depth": 2,
                "to_depth": max_depth,
            }
            for kind in ENDING_TYPES[:5]
        ],
        "clues": [line] * 6,
        "flags": [{"name": f"flag_{i}", "meaning": line} for i in range(6)],
        "items": [{"name": _text(lang, "short")[:6] + str(i), "meaning": line} for i in range(5)],
    }


def _reply_tokens(value: Any) -> int:
    return estimate_tokens(orjson.dumps(value).decode())


def sample_requests(lang: str, max_depth: int, branching: int) -> dict[str, tuple[Request, int]]:
    """One request of each kind with the size its reply would have, in tokens."""
    story = sample_story(lang)
    character = {
        "name": _text(lang, "short")[:4],
        "role": _text(lang, "short"),
        "description": _text(lang, "line"),
    }
    plan = sample_plan(lang, max_depth)
    depth = max(1, max_depth // 2)
    state = {
        "scene": story["scenes"][0],
        "PR": 40,
        "GR": 30,
        "WF": 20,
        "time": "01:30",
        "flags": {"flag_0": True},
        "inventory": [],
    }
    node = prompts.node_request(
        city="city",
        lang=lang,
        story=story,
        character={**character, "is_protagonist": True},
        plan=plan,
        state=state,
        depth=depth,
        max_depth=max_depth,
        branching=branching,
        parent={
            "narrative": _text(lang, "narrative"),
            "choice": _text(lang, "line"),
            "siblings": [_text(lang, "line")] * (branching - 1),
            "scene": story["scenes"][0],
        },
        arrivals=[],
        ledger={
            "scenes": story["scenes"][:3],
            "items": [],
            "flags": {"flag_0": True},
            "truths": plan["clues"][:2],
        },
        next_truth=plan["clues"][2],
        ending=None,
        planned_endings=plan["endings"][:2],
        may_end=True,
    )
    consequences: dict[str, Any] = {
        "PR": 5,
        "GR": 3,
        "WF": 1,
        "minutes": 12,
        "scene": None,
        "flags": [],
        "items": [],
    }
    node_reply = {
        "narrative": _text(lang, "narrative"),
        "bridges": [],
        "choices": [{"text": _text(lang, "line")[:30], "consequences": consequences}] * branching,
        "ending": None,
    }
    documents = prompts.documents_request("city", [character], lang)
    plan_request = prompts.plan_request(
        city="city", lang=lang, story=story, character=character, max_depth=max_depth, branching=branching
    )
    plan_reply = {"role": character["role"], "description": character["description"], **plan}
    return {
        "documents": (documents, _reply_tokens(story)),
        "plan": (plan_request, _reply_tokens(plan_reply)),
        "node": (node, _reply_tokens(node_reply)),
    }


def _prompt(request: Request, mode: str) -> int:
    messages = [{"role": "system", "content": request.system}, {"role": "user", "content": request.prompt}]
    schema = orjson.dumps(request.schema).decode()
    if mode == "schema":
        return prompt_tokens(messages, {"schema": request.schema})
    return prompt_tokens(messages) + estimate_tokens(schema)


def estimate(
    *,
    lang: str,
    characters: int,
    named: bool,
    max_depth: int,
    branching: int,
    max_nodes: int,
    concurrency: int,
    mode: str = "schema",
    seconds_per_call: float = SECONDS_PER_CALL,
) -> Estimate:
    """The run the settings describe, at most ``max_nodes`` nodes per character."""
    samples = sample_requests(lang, max_depth, branching)
    sizes = {kind: (_prompt(request, mode), reply) for kind, (request, reply) in samples.items()}
    count = {
        "documents": 1,
        "characters": 0 if named else 1,
        "plan": characters,
        "node": characters * max_nodes,
    }
    sizes["characters"] = (sizes["documents"][0], 120)
    prompt = sum(sizes[kind][0] * n for kind, n in count.items())
    completion = sum(min(sizes[kind][1], DEFAULT_CAPS[kind]) * n for kind, n in count.items())
    system = estimate_tokens(samples["node"][0].system)
    cached = max(0, characters * (max_nodes - 1)) * system
    largest_kind = max(("documents", "plan", "node"), key=lambda kind: sizes[kind][0])
    calls = sum(count.values())
    # Level by level, each level's calls run side by side up to the concurrency.
    seconds = (count["documents"] + count["characters"] + count["plan"]) * seconds_per_call
    seconds += count["node"] / max(1, concurrency) * seconds_per_call
    return Estimate(
        calls=calls,
        prompt=prompt,
        completion=completion,
        cached=cached,
        largest=sizes[largest_kind][0],
        largest_kind=largest_kind,
        node_prompt=sizes["node"][0],
        node_reply=sizes["node"][1],
        seconds=seconds,
        characters=characters,
        nodes=max_nodes,
    )
