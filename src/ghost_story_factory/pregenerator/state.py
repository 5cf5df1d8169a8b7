"""Game state of one dialogue node, the consequences of a choice, and the state-hash registry."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..text import clean_line
from ..vocabulary import FEAR_MAX, NIGHT_END, NIGHT_START, START_FEAR, hhmm, minutes

_METER_MAX = FEAR_MAX
MAX_STEP = 60  # the longest one choice may take, in minutes
NAME_CAP = 60  # characters in a scene, item or flag name: one line, short enough for every state bar
_TIME_STEP = re.compile(r"^\+?\s*(\d{1,3})\s*(?:min|m|分钟)?$")


def _clamp(value: int, low: int = 0, high: int = _METER_MAX) -> int:
    return max(low, min(high, value))


@dataclass(frozen=True)
class GameState:
    """What the game knows about the player at one node. Immutable: consequences make a new one."""

    scene: str
    pr: int = START_FEAR  # fear
    gr: int = 0  # truth
    wf: int = 0  # familiarity
    time: str = NIGHT_START
    flags: dict[str, Any] = field(default_factory=dict)
    inventory: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "scene": self.scene,
            "PR": self.pr,
            "GR": self.gr,
            "WF": self.wf,
            "time": self.time,
            "flags": dict(sorted(self.flags.items())),
            "inventory": list(self.inventory),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GameState:
        return cls(
            scene=str(data["scene"]),
            pr=int(data["PR"]),
            gr=int(data["GR"]),
            wf=int(data["WF"]),
            time=str(data["time"]),
            flags=dict(data.get("flags") or {}),
            inventory=tuple(data.get("inventory") or ()),
        )

    def state_hash(self) -> str:
        """Stable hash of the canonical state: sorted keys, inventory as a set, orjson bytes."""
        canonical = self.to_dict()
        canonical["inventory"] = sorted(self.inventory)
        blob = orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(blob).hexdigest()[:24]

    @property
    def night_over(self) -> bool:
        return minutes(self.time) >= minutes(NIGHT_END)

    def distance(self, other: GameState) -> int:
        """How far a path arriving in this state would feel from ``other``, a node written for another path.

        Used to pick where extra branches converge. A different scene, or items and flags the other
        node's text may speak of but this path never gained, cost most: the bridge would have to
        explain them. Items this path holds beyond the other's cost little (they stay with the player).
        """
        dist = abs(self.pr - other.pr) + abs(self.gr - other.gr) + abs(self.wf - other.wf)
        dist += abs(minutes(self.time) - minutes(other.time)) // 5
        dist += 0 if self.scene == other.scene else 60
        held, flags = set(self.inventory), set(self.flags.items())
        dist += 30 * len(set(other.inventory) - held) + 4 * len(held - set(other.inventory))
        dist += 20 * len(set(other.flags.items()) - flags) + 3 * len(flags - set(other.flags.items()))
        return dist


@dataclass(frozen=True)
class Consequences:
    """What a choice does to the state. Built from a writer's reply by :func:`parse_consequences`."""

    pr: int = 0
    gr: int = 0
    wf: int = 0
    minutes: int = 5
    scene: str | None = None
    flags: dict[str, Any] = field(default_factory=dict)
    items: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "PR": self.pr,
            "GR": self.gr,
            "WF": self.wf,
            "minutes": self.minutes,
            "scene": self.scene,
            "flags": dict(sorted(self.flags.items())),
            "items": list(self.items),
        }


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d{1,4}", value.strip()):
        return int(value.strip())
    return None


def _minutes_of(value: Any) -> int | None:
    """A time step in whole minutes (1..MAX_STEP): an integer, or the older ``"+Nmin"`` text."""
    number = _int_or_none(value)
    if number is None and isinstance(value, str):
        match = _TIME_STEP.match(value.strip())
        number = int(match.group(1)) if match else None
    if number is None or number <= 0:
        return None
    return min(number, MAX_STEP)


def parse_consequences(raw: Any) -> tuple[Consequences, int]:
    """Read a reply's consequences leniently: malformed values are dropped and counted, never raised.

    Returns the consequences and how many values were ignored. Time always moves forward
    (at least one minute) because that is what keeps the graph free of cycles.
    """
    if not isinstance(raw, dict):
        return Consequences(), 1
    ignored = 0
    deltas: dict[str, int] = {}
    for key in ("PR", "GR", "WF"):
        value = raw.get(key, 0)
        number = _int_or_none(value)
        if number is None:
            ignored += 1
            number = 0
        deltas[key] = max(-_METER_MAX, min(_METER_MAX, number))
    step = _minutes_of(raw.get("minutes", raw.get("time")))
    if step is None:
        ignored += 1
        step = 5
    scene = raw.get("scene")
    scene = clean_line(scene, NAME_CAP) if isinstance(scene, str) else scene
    if scene is not None and (not isinstance(scene, str) or not scene):
        ignored += 1
        scene = None
    flags: dict[str, Any] = {}
    raw_flags = raw.get("flags") or {}
    if isinstance(raw_flags, list):  # the schema's form: [{"name": ..., "value": ...}]
        pairs = [f for f in raw_flags if isinstance(f, dict) and "name" in f and "value" in f]
        ignored += len(raw_flags) - len(pairs)
        raw_flags = {f["name"]: f["value"] for f in pairs}
    if isinstance(raw_flags, dict):
        for name, value in raw_flags.items():
            name = clean_line(name, NAME_CAP) if isinstance(name, str) else ""
            if name and isinstance(value, (bool, int, str)):
                flags[name] = clean_line(value, NAME_CAP) if isinstance(value, str) else value
            else:
                ignored += 1
    else:
        ignored += 1
    items: list[str] = []
    raw_items = raw.get("items") or []
    for item in raw_items if isinstance(raw_items, list) else [raw_items]:
        if isinstance(item, str) and clean_line(item, NAME_CAP):
            items.append(clean_line(item, NAME_CAP))
        else:
            ignored += 1
    consequences = Consequences(
        pr=deltas["PR"],
        gr=deltas["GR"],
        wf=deltas["WF"],
        minutes=step,
        scene=scene or None,
        flags=flags,
        items=tuple(dict.fromkeys(items)),
    )
    return consequences, ignored


def apply(state: GameState, consequences: Consequences) -> GameState:
    """The state after a choice: meters clamped to 0..100, time clamped to the night's end."""
    new_time = min(minutes(state.time) + consequences.minutes, minutes(NIGHT_END))
    inventory = tuple(dict.fromkeys(state.inventory + consequences.items))
    return GameState(
        scene=consequences.scene or state.scene,
        pr=_clamp(state.pr + consequences.pr),
        gr=_clamp(state.gr + consequences.gr),
        wf=_clamp(state.wf + consequences.wf),
        time=hhmm(new_time),
        flags={**state.flags, **consequences.flags},
        inventory=inventory,
    )
