"""Shared pieces of the exporters: the error, story checks, safe names, labels and state symbols."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import GhostStoryError

ENDING_TYPES = ("fear_collapse", "truth_revealed", "escape", "dawn", "trapped", "possessed", "sacrifice")

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

_LABELS = {
    "zh": {
        "fear": "恐惧",
        "truth": "真相",
        "familiarity": "熟悉",
        "time": "时间",
        "scene": "场景",
        "items": "物品",
        "ending": "结局",
        "restart": "重新开始",
        "characters": "选择角色",
        "other_character": "换一个角色",
        "you_chose": "你选择了",
        "none": "无",
        "endings": {
            "fear_collapse": "恐惧崩溃",
            "truth_revealed": "真相大白",
            "escape": "逃脱",
            "dawn": "天亮",
            "trapped": "被困",
            "possessed": "附身",
            "sacrifice": "牺牲",
        },
    },
    "en": {
        "fear": "Fear",
        "truth": "Truth",
        "familiarity": "Familiarity",
        "time": "Time",
        "scene": "Scene",
        "items": "Items",
        "ending": "Ending",
        "restart": "Play again",
        "characters": "Choose a character",
        "other_character": "Another character",
        "you_chose": "You chose",
        "none": "none",
        "endings": {
            "fear_collapse": "Fear collapse",
            "truth_revealed": "Truth revealed",
            "escape": "Escape",
            "dawn": "Dawn",
            "trapped": "Trapped",
            "possessed": "Possessed",
            "sacrifice": "Sacrifice",
        },
    },
}


class ExportError(GhostStoryError):
    """A story cannot be exported in the asked format; ``str()`` is a one-line cause."""

    exit_code = 1


def labels(lang: str | None) -> dict[str, Any]:
    """UI words for a story language; Chinese variants share the zh words, everything else gets English."""
    return _LABELS["zh"] if (lang or "").lower().startswith("zh") else _LABELS["en"]


def is_cjk(lang: str | None) -> bool:
    return (lang or "").lower()[:2] in ("zh", "ja", "ko")


def ending_label(lang: str | None, ending_type: str) -> str:
    return labels(lang)["endings"].get(ending_type, ending_type)


def ending_line(lang: str | None, ending: dict[str, Any]) -> str:
    """The line every text format shows at an ending: its title and its type in the story's language."""
    words = labels(lang)
    etype = str(ending.get("type", ""))
    title = " ".join(str(ending.get("title") or "").split())
    label = f"{words['ending']} · {title}" if title else words["ending"]
    if is_cjk(lang):
        return f"—— {label}（{ending_label(lang, etype)}）——"
    return f"— {label} ({ending_label(lang, etype)}) —"


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
_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]')
_WINDOWS_RESERVED = {
    "CON",
    "PRN",
    "AUX",
    "NUL",
    *(f"COM{i}" for i in range(1, 10)),
    *(f"LPT{i}" for i in range(1, 10)),
}
_PART_BYTES = 90  # two parts plus an extension stay far below the 255-byte limit of common filesystems


def safe_name_part(text: str, fallback: str = "story") -> str:
    """One piece of a file name: Unicode letters and emoji kept; separators, control chars, dots at the ends
    and Windows device names removed; cut on a character boundary to fit in _PART_BYTES of UTF-8."""
    text = re.sub(r"\s+", " ", unicodedata.normalize("NFC", str(text)))
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf") or ch == "\u200d")
    text = _UNSAFE.sub("_", text)
    text = re.sub(r"\s+", "_", text.strip())
    text = re.sub(r"\.{2,}", ".", text).strip("._ ")
    text = re.sub(r"_{2,}", "_", text)
    while len(text.encode("utf-8")) > _PART_BYTES:
        text = text[:-1]
    text = text.rstrip("._ ")
    if not text:
        return fallback
    if text.split(".")[0].upper() in _WINDOWS_RESERVED:
        text = "_" + text
    return text


# --- the story -----------------------------------------------------------------------------------
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

    def is_merged(self, node_id: str) -> bool:
        """True when several choices arrive at the node: a merged state the maps make visible."""
        return len(self.parents.get(node_id, [])) > 1


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
    return safe_name_part(title or city or "story")


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
    return Character(
        name=name,
        role=str(raw.get("role") or ""),
        description=str(raw.get("description") or ""),
        root=str(root),
        nodes=nodes,
        order=_breadth_first(str(root), nodes),
        parents=parents,
    )


def _breadth_first(root: str, nodes: dict[str, dict[str, Any]]) -> list[str]:
    """Root first, then in the order a reader meets nodes; unreachable nodes (never in a valid story) last."""
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
        return {"bool": False, "number": 0, "string": ""}[self.kind]

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
    """Identifiers for every flag and item of a character: ``f_`` / ``i_`` and a hash of the name, so
    any language or emoji yields a valid identifier in Ink and Yarn, stable across exports."""
    flag_values: dict[str, list[Any]] = {}
    items: set[str] = set()
    for node in char.nodes.values():
        state = node["state"]
        for name, value in (state.get("flags") or {}).items():
            flag_values.setdefault(str(name), []).append(value)
        items.update(str(item) for item in state.get("inventory") or [])
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


def state_values(state: dict[str, Any], syms: Symbols) -> dict[str, Any]:
    """The engine variables for a node's state: meters, time, scene, every flag and item (absent = default)."""
    flags = state.get("flags") or {}
    inventory = [str(item) for item in state.get("inventory") or []]
    values: dict[str, Any] = {
        "fear": int(state.get("PR", 0)),
        "truth": int(state.get("GR", 0)),
        "familiarity": int(state.get("WF", 0)),
        "time": minutes_of(state.get("time", "00:00")),
        "clock": str(state.get("time", "00:00")).strip(),
        "scene": str(state.get("scene") or ""),
    }
    for name, sym in syms.flags.items():
        values[sym.ident] = sym.coerce(flags[name]) if name in flags else sym.default
    for name, sym in syms.items.items():
        values[sym.ident] = name in inventory
    return values


def inventory_text(state: dict[str, Any], lang: str | None) -> str:
    """The inventory as one display string, in the order the items were found."""
    separator = "、" if is_cjk(lang) else ", "
    return separator.join(str(item) for item in state.get("inventory") or [])


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
