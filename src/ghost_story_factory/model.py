"""The typed story model: the one owner of the story format (docs/export-format.md) and its validation.

Everything that reads a finished story (the library, the players, the exports, the playtest) goes through
:func:`load_story`, which validates types and references and upgrades a version-1 story in memory. The
generator builds the same shape with :func:`dump_story`. The JSON Schema of the format is
``Story.model_json_schema()`` and is published in docs/export-format.md.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import StoryFormatError
from .vocabulary import ENDING_TYPES, NIGHT_MINUTES

FORMAT_VERSION = 2

EndingType = Literal["fear_collapse", "truth_revealed", "escape", "dawn", "trapped", "possessed", "sacrifice"]
assert set(EndingType.__args__) == set(ENDING_TYPES)  # type: ignore[attr-defined]  # one vocabulary

FlagValue = bool | int | str
_HHMM = r"^\d{2}:\d{2}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class State(_Model):
    """A node's stored state: the state of the path that created it (what its writer call saw)."""

    scene: str
    PR: int = Field(ge=0, le=100, description="fear")
    GR: int = Field(ge=0, le=100, description="truth")
    WF: int = Field(ge=0, le=100, description="familiarity")
    time: str = Field(pattern=_HHMM, description="HH:MM, 00:00 to 04:00")
    flags: dict[str, FlagValue] = Field(default_factory=dict)
    inventory: list[str] = Field(default_factory=list)

    @property
    def minutes(self) -> int:
        hours, mins = self.time.split(":")
        return int(hours) * 60 + int(mins)


class Consequences(_Model):
    """What taking a choice does to the player's state (see the runtime rules)."""

    PR: int = Field(ge=-100, le=100)
    GR: int = Field(ge=-100, le=100)
    WF: int = Field(ge=-100, le=100)
    minutes: int = Field(ge=1, le=NIGHT_MINUTES)
    scene: str | None = None
    flags: dict[str, FlagValue] = Field(default_factory=dict)
    items: list[str] = Field(default_factory=list)


class Choice(_Model):
    text: str = Field(min_length=1)
    consequences: Consequences
    next: str
    bridge: str = Field(
        default="", description="shown before the next node's narrative; non-empty into shared nodes"
    )


class Ending(_Model):
    type: EndingType
    title: str
    reason: str = "writer"


class Node(_Model):
    depth: int = Field(ge=0)
    narrative: str
    state: State
    choices: list[Choice] = Field(default_factory=list)
    ending: Ending | None = None


class RuntimeEndings(_Model):
    """The shared endings the runtime rules send a player to, whatever node their path is at."""

    fear_collapse: str
    dawn: str


class Tree(_Model):
    root: str
    nodes: dict[str, Node]
    runtime_endings: RuntimeEndings | None = None

    @model_validator(mode="after")
    def _references_hold(self) -> Tree:
        if self.root not in self.nodes:
            raise ValueError(f"the root {self.root!r} is not a node")
        for nid, node in self.nodes.items():
            if bool(node.choices) == bool(node.ending):
                raise ValueError(f"node {nid} must have either choices or an ending")
            for choice in node.choices:
                if choice.next not in self.nodes:
                    raise ValueError(f"node {nid} has a choice to missing node {choice.next!r}")
                if self.nodes[choice.next].depth <= node.depth:
                    raise ValueError(f"node {nid} has a choice that does not go deeper")
        if self.runtime_endings is not None:
            for kind in ("fear_collapse", "dawn"):
                target = self.nodes.get(getattr(self.runtime_endings, kind))
                if target is None or target.ending is None or target.ending.type != kind:
                    raise ValueError(f"runtime ending {kind} is not a {kind} ending node")
        return self

    def incoming(self) -> dict[str, int]:
        """How many choices arrive at each node."""
        counts = dict.fromkeys(self.nodes, 0)
        for node in self.nodes.values():
            for choice in node.choices:
                counts[choice.next] += 1
        return counts


class Beat(_Model):
    depth: int = Field(ge=0)
    title: str
    summary: str
    tension: int = Field(ge=0, le=100)


class PlannedEnding(_Model):
    type: EndingType
    title: str
    leads_there: str
    from_depth: int = Field(ge=0)
    to_depth: int = Field(ge=0)


class Term(_Model):
    """A flag or an item of the plan's vocabulary, with what it means in the story."""

    name: str
    meaning: str


class Plan(_Model):
    beats: list[Beat]
    endings: list[PlannedEnding]
    clues: list[str]
    flags: list[Term] = Field(default_factory=list)
    items: list[Term] = Field(default_factory=list)

    def tension(self, depth: int) -> int:
        """The planned tension at a depth (the last beat's beyond the plan)."""
        if not self.beats:
            return 0
        return self.beats[min(depth, len(self.beats) - 1)].tension


class Playtest(_Model):
    """How the story plays: random plays under the runtime rules (see :mod:`ghost_story_factory.playtest`)."""

    plays: int
    ending_mix: dict[str, float]
    mean_fear_by_depth: list[float]
    tension_by_depth: list[int]
    fear_tension_rank_correlation: float | None
    bridged_arrivals: float
    distinct_sentences: float
    top_sentence_share: float


class Report(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    nodes: int
    max_depth: int
    main_path_length: int
    endings: int
    endings_by_type: dict[str, int]
    play_minutes_main_path: float
    playtest: Playtest | None = None


class Character(_Model):
    name: str = Field(min_length=1)
    role: str = ""
    description: str = ""
    is_protagonist: bool = False
    plan: Plan | None = None
    report: Report | None = None
    tree: Tree


class StoryInfo(_Model):
    title: str
    city: str
    lang: str
    synopsis: str = ""
    game_design: str = ""
    lore: str = ""
    main_story: str = ""
    scenes: list[str] = Field(default_factory=list)


class Story(BaseModel):
    """A finished story. ``meta`` is free-form facts about the run (see docs/export-format.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    meta: dict[str, Any] = Field(default_factory=dict)
    story: StoryInfo
    characters: list[Character] = Field(min_length=1)

    @model_validator(mode="after")
    def _names_distinct(self) -> Story:
        names = [c.name for c in self.characters]
        if len(set(names)) != len(names):
            raise ValueError("two characters share a name")
        return self

    def character(self, name: str) -> Character:
        for character in self.characters:
            if character.name == name:
                return character
        raise KeyError(name)


_TIME_STEP = re.compile(r"^\+?\s*(\d{1,3})")


def _upgrade_v1(data: dict[str, Any]) -> dict[str, Any]:
    """A version-1 story in the version-2 shape: ``time: "+Nmin"`` becomes ``minutes``; no bridges, no plan."""
    characters = []
    for raw in data.get("characters") or []:
        if not isinstance(raw, dict) or not isinstance(raw.get("tree"), dict):
            characters.append(raw)
            continue
        nodes = {}
        for nid, node in (raw["tree"].get("nodes") or {}).items():
            if isinstance(node, dict):
                node = {**node, "choices": [_upgrade_choice(c) for c in node.get("choices") or []]}
            nodes[nid] = node
        characters.append({**raw, "tree": {**raw["tree"], "nodes": nodes}})
    return {**data, "characters": characters}


def _upgrade_choice(choice: Any) -> Any:
    if not isinstance(choice, dict) or not isinstance(choice.get("consequences"), dict):
        return choice
    consequences = dict(choice["consequences"])
    if "minutes" not in consequences:
        match = _TIME_STEP.match(str(consequences.pop("time", "+5")))
        consequences["minutes"] = max(1, int(match.group(1))) if match else 5
    return {**choice, "consequences": consequences}


def load_story(data: Any) -> Story:
    """Validate a story (any supported version) and return the typed model; raises StoryFormatError."""
    if not isinstance(data, dict):
        raise StoryFormatError("the story is not a JSON object")
    version = (data.get("meta") or {}).get("format_version", FORMAT_VERSION)
    if version == 1:
        data = _upgrade_v1(data)
    elif version != FORMAT_VERSION:
        raise StoryFormatError(
            f"story format version {version!r} is not supported (this version reads 1 and 2)"
        )
    try:
        return Story.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise StoryFormatError(f"the story is not valid at {where}: {first['msg']}") from None


def dump_story(story: Story) -> dict[str, Any]:
    """Plain data for orjson and the library."""
    return story.model_dump(mode="json")


def json_schema() -> dict[str, Any]:
    return Story.model_json_schema()
