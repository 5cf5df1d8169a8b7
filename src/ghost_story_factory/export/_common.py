"""Shared pieces of the exporters: story checks, file names, labels and state symbols."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import ExportError as ExportError  # re-exported: html.py and graph.py import it from here
from ..names import file_name_part
from ..vocabulary import ENDING_LABELS, FEAR_MAX, NIGHT_MINUTES, UI_WORDS

# Colours per ending type, shared by the map and the HTML player so a reader learns them once.
ENDING_COLORS = {
    "fear_collapse": "#c0392b",
    "truth_revealed": "#2e86c1",
    "escape": "#27ae60",
    "dawn": "#f1c40f",
    "trapped": "#8e44ad",
    "possessed": "#d35400",
    "sacrifice": "#7f8c8d",
}
OTHER_ENDING_COLOR = "#95a5a6"

# The state words, "you chose", the colon and the list separator are vocabulary's (the players' too).
_LABELS = {
    "zh": {
        **UI_WORDS["zh"],
        "restart": "重新开始",
        "characters": "选择角色",
        "other_character": "换一个角色",
        "shared_endings": "共用结局（没有选项通向这里，规则会把玩家送来）",
        "fear_rule": "恐惧达到 100",
        "dawn_rule": "时间到 04:00",
        "redirect": {"fear_collapse": "恐惧淹没了你。", "dawn": "不知不觉，已经是凌晨四点。"},
        "endings": ENDING_LABELS["zh"],
    },
    "en": {
        **UI_WORDS["en"],
        "restart": "Play again",
        "characters": "Choose a character",
        "other_character": "Another character",
        "shared_endings": "Shared endings (no choice leads here; the rules send a player)",
        "fear_rule": "fear reaches 100",
        "dawn_rule": "the clock reaches 04:00",
        "redirect": {
            "fear_collapse": "Fear overwhelms you.",
            "dawn": "Somehow it is already four in the morning.",
        },
        "endings": ENDING_LABELS["en"],
    },
}


def labels(lang: str | None) -> dict[str, Any]:
    """UI words for a story language; Chinese variants share the zh words, everything else gets English."""
    return _LABELS["zh"] if (lang or "").lower().startswith("zh") else _LABELS["en"]


def is_cjk(lang: str | None) -> bool:
    return (lang or "").lower()[:2] in ("zh", "ja", "ko")


def ending_label(lang: str | None, ending_type: str) -> str:
    return str(labels(lang)["endings"].get(ending_type, ending_type))


def ending_line(lang: str | None, ending: dict[str, Any]) -> str:
    """The line every text format shows at an ending: its title and its type in the story's language."""
    words = labels(lang)
    etype = str(ending.get("type", ""))
    kind = ending_label(lang, etype)
    title = " ".join(str(ending.get("title") or "").split())
    if title.casefold() in {etype.casefold(), kind.casefold()}:  # "Possessed (Possessed)" says it once
        title = ""
    label = f"{words['ending']} · {title}" if title else words["ending"]
    if is_cjk(lang):
        return f"—— {label}（{kind}）——"
    return f"— {label} ({kind}) —"


def ending_color(ending_type: str) -> str:
    return ENDING_COLORS.get(ending_type, OTHER_ENDING_COLOR)


def minutes_of(clock: str) -> int:
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", str(clock))
    if not match:
        raise ExportError(f"state time {clock!r} is not HH:MM")
    return int(match.group(1)) * 60 + int(match.group(2))


def short_hash(text: str, length: int = 8) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def excerpt(text: str, limit: int) -> str:
    """The start of a narrative on one line, cut at ``limit`` characters with an ellipsis."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def lines_of(text: str) -> list[str]:
    """Non-empty, stripped lines of a narrative: what every line-based format shows as its lines."""
    return [line.strip() for line in str(text).splitlines() if line.strip()]


# --- file names ---------------------------------------------------------------------------------
def file_part(text: str, fallback: str) -> str:
    """One piece of an export's file name: :func:`names.file_name_part` of the text (the one rule
    checkpoints use too), or of ``fallback`` when the text is blank."""
    text = " ".join(str(text).split())
    return file_name_part(text or fallback)


# --- the story -----------------------------------------------------------------------------------
RUNTIME_KINDS = ("fear_collapse", "dawn")  # the shared endings the runtime rules send a player to


@dataclass(frozen=True)
class Move:
    """One choice as the runtime rules apply it (docs/export-format.md, rule 2): meter deltas, minutes,
    flags set, items gained (no repeats, in order), the target and the bridge shown on arrival."""

    index: int
    text: str
    next: str
    fear: int
    truth: int
    familiarity: int
    minutes: int
    flags: dict[str, Any]
    items: tuple[str, ...]
    bridge: str


@dataclass(frozen=True)
class Opening:
    """The root's stored state: where every play starts (rule 1)."""

    fear: int
    truth: int
    familiarity: int
    minutes: int
    scene: str
    flags: dict[str, Any]
    items: tuple[str, ...]


@dataclass
class Character:
    """One character's graph, checked and in a stable order (breadth first from the root)."""

    name: str
    role: str
    description: str
    root: str
    nodes: dict[str, dict[str, Any]]
    order: list[str]
    parents: dict[str, list[str]] = field(default_factory=dict)
    runtime_endings: dict[str, str] = field(default_factory=dict)  # kind -> node id; {} in a v1 story

    def is_merged(self, node_id: str) -> bool:
        """True when several choices arrive at the node: a merged state the maps make visible."""
        return len(self.parents.get(node_id, [])) > 1

    def is_runtime_ending(self, node_id: str) -> bool:
        return node_id in self.runtime_endings.values()

    def ending_type(self, node_id: str) -> str | None:
        ending = self.nodes[node_id].get("ending")
        return str(ending.get("type", "")) if ending else None

    def opening(self) -> Opening:
        state = self.nodes[self.root]["state"]
        return Opening(
            fear=_meter(state.get("PR", 0)),
            truth=_meter(state.get("GR", 0)),
            familiarity=_meter(state.get("WF", 0)),
            minutes=min(minutes_of(state.get("time", "00:00")), NIGHT_MINUTES),
            scene=str(state.get("scene") or ""),
            flags={str(k): v for k, v in (state.get("flags") or {}).items()},
            items=tuple(dict.fromkeys(str(i) for i in state.get("inventory") or [])),
        )

    def moves(self, node_id: str) -> list[Move]:
        return [
            _move(self.name, node_id, i, c) for i, c in enumerate(self.nodes[node_id].get("choices") or [])
        ]

    def scene(self, node_id: str) -> str:
        return str(self.nodes[node_id]["state"].get("scene") or "")

    def redirects(self, target: str) -> list[tuple[str, str]]:
        """The runtime checks a choice into ``target`` makes, in order, as (kind, runtime ending node):
        ("fear_collapse", …) is tested as fear >= 100 and ("dawn", …) as time >= 240; the first that holds
        replaces the target. A target that already is an ending of that kind needs no check."""
        kind = self.ending_type(target)
        return [
            (k, self.runtime_endings[k]) for k in RUNTIME_KINDS if k in self.runtime_endings and kind != k
        ]


def _meter(value: Any) -> int:
    return max(0, min(FEAR_MAX, _int(value, "a meter")))


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool):
        return int(value)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ExportError(f"{what} {value!r} is not a whole number") from None


_LEGACY_STEP = re.compile(r"^\s*\+?\s*(\d{1,3})")


def _move(name: str, node_id: str, index: int, choice: dict[str, Any]) -> Move:
    raw = choice.get("consequences") or {}
    if not isinstance(raw, dict):
        raise ExportError(f"{name}: node {node_id} choice {index + 1} has no consequences object")
    if "minutes" in raw:
        step = _int(raw.get("minutes"), "minutes")
    else:  # a version-1 story: "+10min"
        match = _LEGACY_STEP.match(str(raw.get("time", "")))
        step = int(match.group(1)) if match else 0
    flags = raw.get("flags") or {}
    items = raw.get("items") or []
    if not isinstance(flags, dict) or not isinstance(items, list):
        raise ExportError(f"{name}: node {node_id} choice {index + 1} has malformed flags or items")
    return Move(
        index=index,
        text=" ".join(str(choice.get("text", "")).split()),
        next=str(choice["next"]),
        fear=_int(raw.get("PR", 0), "PR"),
        truth=_int(raw.get("GR", 0), "GR"),
        familiarity=_int(raw.get("WF", 0), "WF"),
        minutes=max(0, step),  # the clock only moves forward
        flags={str(k): v for k, v in flags.items()},
        items=tuple(dict.fromkeys(str(i) for i in items)),
        bridge=" ".join(str(choice.get("bridge") or "").split()),
    )


def clock_text(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def story_info(story: Any) -> dict[str, Any]:
    if not isinstance(story, dict):
        raise ExportError("the story is not a JSON object")
    info = story.get("story")
    if not isinstance(info, dict):
        raise ExportError("the story has no 'story' section")
    return info


def base_name(story: dict[str, Any]) -> str:
    info = story_info(story)
    title = str(info.get("title") or "").strip()
    city = str(info.get("city") or "").strip()
    return file_part(title or city, "story")


def display_title(story: dict[str, Any]) -> str:
    info = story_info(story)
    return str(info.get("title") or "").strip() or str(info.get("city") or "").strip() or "Ghost story"


def characters(story: dict[str, Any]) -> list[Character]:
    """Every character of a story, each checked: root present, every choice target present, node shape."""
    story_info(story)
    raw_chars = story.get("characters")
    if not isinstance(raw_chars, list) or not raw_chars:
        raise ExportError("the story has no characters")
    result: list[Character] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_chars):
        if not isinstance(raw, dict) or not isinstance(raw.get("tree"), dict):
            raise ExportError(f"character #{index + 1} has no dialogue tree")
        name = str(raw.get("name") or f"character {index + 1}")
        if name in seen:
            raise ExportError(f"two characters are named {name!r}")
        seen.add(name)
        result.append(_character(name, raw))
    return result


def _character(name: str, raw: dict[str, Any]) -> Character:
    tree = raw["tree"]
    nodes = tree.get("nodes")
    root = tree.get("root")
    if not isinstance(nodes, dict) or not nodes:
        raise ExportError(f"{name}: the tree has no nodes")
    if root not in nodes:
        raise ExportError(f"{name}: the root {root!r} is not a node")
    parents: dict[str, list[str]] = {}
    for nid, node in nodes.items():
        if not isinstance(node, dict) or not isinstance(node.get("state"), dict):
            raise ExportError(f"{name}: node {nid} has no state")
        choices = node.get("choices") or []
        if not choices and not node.get("ending"):
            raise ExportError(f"{name}: node {nid} has neither choices nor an ending")
        for choice in choices:
            target = choice.get("next")
            if target not in nodes:
                raise ExportError(f"{name}: node {nid} has a choice to missing node {target!r}")
            parents.setdefault(target, []).append(nid)
        minutes_of(node["state"].get("time", ""))
    runtime = tree.get("runtime_endings") or {}
    if not isinstance(runtime, dict):
        raise ExportError(f"{name}: runtime_endings is not an object")
    runtime_endings: dict[str, str] = {}
    for kind in RUNTIME_KINDS:
        if kind not in runtime:
            continue
        target = runtime[kind]
        ending = nodes.get(target, {}).get("ending") if isinstance(target, str) else None
        if not ending or ending.get("type") != kind:
            raise ExportError(f"{name}: runtime ending {kind} {target!r} is not a {kind} ending node")
        runtime_endings[kind] = target
    char = Character(
        name=name,
        role=str(raw.get("role") or ""),
        description=str(raw.get("description") or ""),
        root=str(root),
        nodes=nodes,
        order=_breadth_first(str(root), nodes),
        parents=parents,
        runtime_endings=runtime_endings,
    )
    for nid in char.order:
        char.moves(nid)  # every choice's consequences must be readable
    return char


def _breadth_first(root: str, nodes: dict[str, dict[str, Any]]) -> list[str]:
    """Root first, then in the order a reader meets nodes; nodes no choice reaches (the runtime endings)
    last, sorted."""
    order = [root]
    seen = {root}
    queue = deque([root])
    while queue:
        for choice in nodes[queue.popleft()].get("choices") or []:
            if choice["next"] not in seen:
                seen.add(choice["next"])
                order.append(choice["next"])
                queue.append(choice["next"])
    order += sorted(nid for nid in nodes if nid not in seen)
    return order


def pick_characters(story: dict[str, Any], character: str | None) -> list[Character]:
    """All characters, or the one named (exact, or ignoring case and Unicode form) with the names listed
    in the error when there is none."""
    chars = characters(story)
    if character is None:
        return chars
    wanted = unicodedata.normalize("NFC", character).strip()
    for char in chars:
        if unicodedata.normalize("NFC", char.name) == wanted:
            return [char]
    folded = [c for c in chars if unicodedata.normalize("NFC", c.name).casefold() == wanted.casefold()]
    if len(folded) == 1:
        return folded
    names = ", ".join(c.name for c in chars)
    raise ExportError(f"unknown character {character!r}; the story has: {names}")


# --- state symbols for the engine formats --------------------------------------------------------
@dataclass
class Symbol:
    """A flag or an item as an engine variable: a safe identifier derived from the name, its display name
    kept as text, and (flags) the one value type every node's value is coerced to."""

    ident: str
    name: str
    kind: str  # "bool" | "number" | "string"

    @property
    def default(self) -> bool | int | str:
        defaults: dict[str, bool | int | str] = {"bool": False, "number": 0, "string": ""}
        return defaults[self.kind]

    def coerce(self, value: Any) -> bool | int | str:
        if self.kind == "bool":
            return bool(value)
        if self.kind == "number":
            return int(value)
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)


@dataclass
class Symbols:
    flags: dict[str, Symbol]
    items: dict[str, Symbol]


def symbols(char: Character) -> Symbols:
    """Identifiers for every flag and item a play can hold (the opening state's and every choice's):
    ``f_`` / ``i_`` and a hash of the name, so any language or emoji yields a valid identifier in Ink and
    Yarn, stable across exports."""
    opening = char.opening()
    flag_values: dict[str, list[Any]] = {name: [value] for name, value in opening.flags.items()}
    items: set[str] = set(opening.items)
    for nid in char.order:
        for move in char.moves(nid):
            for name, value in move.flags.items():
                flag_values.setdefault(name, []).append(value)
            items.update(move.items)
    used: set[str] = set()
    flags = {
        name: Symbol(_ident("f", name, used), name, _kind(values))
        for name, values in sorted(flag_values.items())
    }
    item_syms = {name: Symbol(_ident("i", name, used), name, "bool") for name in sorted(items)}
    return Symbols(flags=flags, items=item_syms)


def _kind(values: list[Any]) -> str:
    if all(isinstance(v, bool) for v in values):
        return "bool"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "number"
    return "string"


def _ident(prefix: str, name: str, used: set[str]) -> str:
    ident = f"{prefix}_{short_hash(name)}"
    suffix = 2
    while ident in used:  # a hash-prefix collision: keep both, deterministic because names are sorted
        ident = f"{prefix}_{short_hash(name)}_{suffix}"
        suffix += 1
    used.add(ident)
    return ident


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def node_idents(char: Character, reserved: set[str], prefix: str = "n") -> dict[str, str]:
    """Engine identifiers for node ids: the id itself when it is already a plain identifier (``node_0042``),
    else a prefix and a hash; never one of ``reserved``."""
    result: dict[str, str] = {}
    used = {r.lower() for r in reserved}
    for nid in char.order:
        ident = nid if _IDENT.match(nid) and not nid.isdigit() else f"{prefix}_{short_hash(nid)}"
        while ident.lower() in used:
            ident = f"{prefix}_{short_hash(ident)}"
        used.add(ident.lower())
        result[nid] = ident
    return result


def value_literal(value: bool | int | str, string_literal: Callable[[str], str]) -> str:
    """A state value as a script literal; each format brings its own string quoting."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return string_literal(value)
