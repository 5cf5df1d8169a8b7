"""The embedded offline writer: deterministic, network-free story text, in Chinese or English.

Every word of prose lives in the data files of ``offline_data/<lang>/``; this module only
chooses and combines. Sentences are built from templates whose slots (``{obj}``, ``{@pool}``)
are filled from pools: the place's objects and details, senses, events, the beat's tension,
the plan's clues, items and flags, the choice just made and the character's role. Because a
sentence is a product of several choices, a 300-node story rarely says the same thing twice.

The reply of a request depends on nothing but the request: every draw comes from one
``random.Random`` seeded with ``request.key()``.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import importlib.resources
import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from .base import Reply, Request, Retry, Usage

LIMITS = {"zh": (150, 350), "en": (80, 200)}  # the style contract: characters (zh) or words (en)
_AIM = {"zh": (190, 320), "en": (105, 180)}  # what the writer aims at, inside the limits
ENDING_TYPES = ("fear_collapse", "truth_revealed", "escape", "dawn", "trapped", "possessed", "sacrifice")
_KINDS = ("investigate", "listen", "advance", "confront", "calm", "move")
_SLOT = re.compile(r"\{(@?)([A-Za-z_][A-Za-z0-9_]*)\}")
_NIGHT_PATH_MINUTES = 210  # a full-depth path takes about this long: most of the night
# Depth spacing: the entries of a pool are dealt into classes by position, and a node at depth d
# draws from class d % classes; depth grows by one along every path, so an entry comes back at
# the earliest this many nodes later (fewer for a small pool, which keeps two entries a class).
_SPACING = 4
_WIDEN = 0.3  # how often a pick may also take the class two depths away (variety among siblings)
_DAWN_FROM = 210  # a writer ends a night at dawn only from 03:30 on (04:00 is the runtime's dawn)
_DAWN_AT = 240

# Fear steering: a choice moves fear by (next tension - fear) * _PULL, plus its kind's offset
# (calm below, bold above); the offsets are centred so the mean move is the pull itself.
_PULL = 0.55
_PR_OFFSET = {"calm": -6, "listen": -2, "investigate": 0, "move": 1, "advance": 4, "confront": 6}
_GR_RANGE = {
    "investigate": (4, 9),
    "confront": (3, 8),
    "listen": (1, 4),
    "advance": (1, 4),
    "calm": (0, 2),
    "move": (1, 3),
}
_WF_RANGE = {
    "investigate": (1, 3),
    "confront": (0, 2),
    "listen": (2, 6),
    "advance": (0, 3),
    "calm": (2, 5),
    "move": (0, 2),
}
_MINUTES_FACTOR = {
    "investigate": 1.1,
    "listen": 0.8,
    "advance": 0.9,
    "confront": 0.8,
    "calm": 1.0,
    "move": 1.4,
}


# --------------------------------------------------------------------------------------------------
# The data of one language.
# --------------------------------------------------------------------------------------------------


@dataclass
class _Book:
    """Everything one language's data files say, with the lookups the writer needs."""

    lang: str
    pools: dict[str, list[str]]
    places: list[dict[str, Any]]
    roles: list[dict[str, Any]]
    flags: dict[str, dict[str, Any]]
    items: dict[str, dict[str, Any]]
    ghosts: list[dict[str, Any]]
    plan: dict[str, Any]
    endings: dict[str, Any]
    documents: dict[str, Any]
    characters: list[dict[str, str]]
    matchers: list[tuple[re.Pattern[str], str, str]] = field(default_factory=list)

    def pool(self, name: str) -> list[str]:
        try:
            return self.pools[name]
        except KeyError:
            raise KeyError(f"the {self.lang} offline data has no pool {name!r}") from None

    def place_for(self, scene: str) -> dict[str, Any]:
        """The place a scene name is: by keyword, else a stable pick from its name."""
        lowered = scene.lower()
        for place in self.places:
            if any(keyword.lower() in lowered for keyword in place["keywords"]):
                return place
        digest = int(hashlib.sha256(scene.encode()).hexdigest()[:8], 16)
        return self.places[digest % len(self.places)]

    def role_lines(self, role: str, name: str) -> list[str]:
        """The role lines of the role's archetype (matched on role and name), else the generic ones."""
        text = f"{role} {name}".lower()
        for archetype in self.roles:
            if any(keyword.lower() in text for keyword in archetype["keywords"]):
                return [str(line) for line in archetype["lines"]] + self.pool("role_any")
        return self.pool("role_any")

    def ghost_in(self, text: str) -> dict[str, Any] | None:
        for ghost in self.ghosts:
            if any(mark in text for mark in ghost["marks"]):
                return ghost
        return None

    def classify(self, choice: str) -> tuple[str, str]:
        """What a choice text was (a kind, or flag:/item: with its name), by the templates it matches."""
        text = choice.strip()
        for pattern, kind, key in self.matchers:
            if pattern.fullmatch(text):
                return kind, key
        return "generic", ""


def _load(lang: str) -> dict[str, Any]:
    """Merge every JSON file of ``offline_data/<lang>/`` (top-level keys; ``pools`` merged by name)."""
    folder = importlib.resources.files("ghost_story_factory.writers") / "offline_data" / lang
    merged: dict[str, Any] = {"pools": {}}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        data = orjson.loads(entry.read_bytes())
        for key, value in data.items():
            if key == "pools":
                merged["pools"].update(value)
            elif key in merged:
                raise ValueError(f"offline data {lang}/{entry.name}: {key!r} is defined twice")
            else:
                merged[key] = value
    return merged


def _pattern(template: str) -> re.Pattern[str]:
    """A regex matching every text a choice template can produce."""
    parts, last = [], 0
    for match in _SLOT.finditer(template):
        parts.append(re.escape(template[last : match.start()]))
        parts.append("(.+?)")
        last = match.end()
    parts.append(re.escape(template[last:]))
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


@functools.cache
def book(lang: str) -> _Book:
    """The parsed data of one language (``zh`` or ``en``), read once per process."""
    data = _load(lang)
    result = _Book(
        lang=lang,
        pools=data["pools"],
        places=data["places"],
        roles=data["roles"],
        flags={flag["name"]: flag for flag in data["flags"]},
        items={item["name"]: item for item in data["items"]},
        ghosts=data["ghosts"],
        plan=data["plan"],
        endings=data["endings"],
        documents=data["documents"],
        characters=data["characters"],
    )
    # The most specific templates first: flags and items, then kinds. Choice templates of all places
    # are matched, so a choice made in one scene is still recognised in the next.
    for name, flag in result.flags.items():
        result.matchers += [(_pattern(t), "flag", name) for t in flag["choices"]]
    for name, item in result.items.items():
        result.matchers += [(_pattern(t), "item", name) for t in item["choices"]]
    result.matchers += [(_pattern(t), "item", "") for t in result.pools.get("choice_item", [])]
    for kind in _KINDS:
        result.matchers += [(_pattern(t), kind, "") for t in result.pools.get(f"choice_{kind}", [])]
    return result


# --------------------------------------------------------------------------------------------------
# Sentences: templates with slots.
# --------------------------------------------------------------------------------------------------


class _Text:
    """Fills templates for one reply: ``{name}`` from the values, ``{@pool}`` from a pool.

    A template or pool entry is used at most once per reply while fresh ones remain. ``{obj}``
    is the node's focus object for its first few sentences (the thing the choice was about),
    then another object of the place, so a narrative looks around instead of naming one thing
    over and over; ``{obj2}``/``{obj3}`` are other objects of the same sentence.
    """

    FOCUS_USES = 2

    def __init__(
        self, rng: random.Random, bk: _Book, place: dict[str, Any], values: dict[str, str], depth: int = 0
    ):
        self.rng = rng
        self.depth = depth
        self.book = bk
        self.place = place
        self.values = values
        self.used: set[str] = set()
        self._objects = list(place["objects"])
        self.focus = values.get("obj") or rng.choice(self._objects)
        self._focus_uses = 0
        self._seen_objects: set[str] = {self.focus}
        self._rank: dict[str, tuple[int, int]] = {}  # option -> (its class, the pool's class count)

    def pick(self, options: list[str]) -> str:
        """A fresh option of this depth's class, preferring one that does not repeat the focus object."""
        ranks = [self._rank.get(option) for option in options]
        if all(ranks) and len({rank[1] for rank in ranks if rank}) == 1:
            classes = ranks[0][1] if ranks[0] else 1
            of = [rank[0] if rank else 0 for rank in ranks]
        else:
            classes = min(_SPACING, len(options) // 2) or 1
            of = [i % classes for i in range(len(options))]
        mine = [o for o, c in zip(options, of, strict=True) if c == self.depth % classes]
        far = [o for o, c in zip(options, of, strict=True) if c == (self.depth + classes // 2) % classes]
        if classes >= 4 and self.rng.random() < _WIDEN:
            mine += far  # two depths apart is still not a neighbour, and siblings differ more
        fresh = [o for o in mine if o not in self.used] or [o for o in far if o not in self.used]
        fresh = fresh or [option for option in options if option not in self.used] or options
        head = _head(self.book.lang, self.focus)
        fitting = [option for option in fresh if head not in _SLOT.sub("", option)] or fresh
        chosen = self.rng.choice(fitting)
        self.used.add(chosen)
        return chosen

    def options(self, name: str) -> list[str]:
        local = self.place.get("pools", {}).get(name, [])
        shared = self.book.pools.get(name, [])
        if not local and not shared:
            raise KeyError(f"the {self.book.lang} offline data has no pool {name!r}")
        # An entry's class is its place in its own list, so it keeps its class in every scene (a
        # place's local entries only join the shared ones there).
        classes = min(_SPACING, len(shared or local) // 2) or 1
        for source in (local, shared):
            for i, option in enumerate(source):
                self._rank[str(option)] = (i % classes, classes)
        return [str(option) for option in [*local, *shared]]

    def draw(self, name: str, **extra: str) -> str:
        """One sentence (or clause) from a pool, filled."""
        return self.fill(self.pick(self.options(name)), **extra)

    def fill(self, template: str, **extra: str) -> str:
        local: dict[str, str] = {}
        return self._expand(template, extra, local, 0)

    def _object(self, key: str, template: str, local: dict[str, str]) -> str:
        if key == "obj" and self._focus_uses < self.FOCUS_USES:
            self._focus_uses += 1
            return self.focus
        taken = {self.focus, *local.values()}
        words = _SLOT.sub("", template)
        spare = [o for o in self._objects if o not in taken] or self._objects
        spare = [o for o in spare if _head(self.book.lang, o) not in words] or spare
        unseen = [o for o in spare if o not in self._seen_objects] or spare
        chosen = str(self.rng.choice(unseen))
        self._seen_objects.add(chosen)
        return chosen

    def _expand(self, template: str, extra: dict[str, str], local: dict[str, str], depth: int) -> str:
        if depth > 8:
            raise ValueError(f"offline data: pools nest too deep at {template!r}")

        def sub(match: re.Match[str]) -> str:
            at, key = match.groups()
            if at:
                return self._expand(self.pick(self.options(key)), extra, local, depth + 1)
            if key in extra:
                return extra[key]
            if key in ("obj", "obj2", "obj3"):
                if key not in local:
                    local[key] = self._object(key, template, local)
                return local[key]
            if key in self.values:
                return self.values[key]
            raise KeyError(f"offline data: unknown slot {{{key}}} in {template!r}")

        return _SLOT.sub(sub, template)


# --------------------------------------------------------------------------------------------------
# Shared helpers.
# --------------------------------------------------------------------------------------------------


def _head(lang: str, thing: str) -> str:
    """The word a noun phrase is about: its last two characters (zh) or its last word (en)."""
    if lang == "zh":
        return thing[-2:]
    return thing.split()[-1].lower() if thing.split() else thing


def _tidy(lang: str, text: str) -> str:
    """Punctuation where templates meet: no stop after a closing quote or a question mark."""
    if lang == "zh":
        text = re.sub(r"([？！。…][”」』])[。，]", r"\1", text)
        return re.sub(r"([？！])。", r"\1", text)
    text = re.sub(r"([?!][\"”])\.", r"\1", text)
    text = re.sub(r"([?!])\.", r"\1", text)
    return re.sub(r" {2,}", " ", text)


def _size(lang: str, text: str) -> int:
    """Narrative length as the style contract counts it: characters (zh, line breaks too) or words (en)."""
    return len(text) if lang == "zh" else len(text.split())


def _capitalize(text: str) -> str:
    """English: upper-case the first letter of every sentence (templates may start with a slot)."""

    def up(match: re.Match[str]) -> str:
        return match.group(1) + match.group(2).upper()

    return re.sub(r"(^|[.!?]\s+|\n\s*|^[“\"]|[.!?]\s+[“\"])([a-z])", up, text)


_SMALL_WORDS = {"a", "an", "the", "of", "in", "on", "at", "to", "and", "by", "for", "from", "into"}


def _title_case(text: str) -> str:
    """English headline style: "{Ghost} Appears" with the ghost "the ghost of the night ferry" reads
    "The Ghost of the Night Ferry Appears"."""
    words = text.split(" ")
    return " ".join(
        w[:1].upper() + w[1:] if i == 0 or w.lower() not in _SMALL_WORDS else w.lower()
        for i, w in enumerate(words)
    )


def _with_article(role: str) -> str:
    lowered = role.lower()
    if lowered.startswith(("a ", "an ", "the ", "my ", "your ")) or role[:1].isupper():
        return role
    return ("an " if lowered[:1] in "aeiou" else "a ") + role


_ROLE_CUT = re.compile(r",|;| who | that | which | with | from | in | at | on | of the ")


def _short_role(lang: str, role: str) -> str:
    """A long role as its head noun phrase ("a tour guide who leads…" -> "a tour guide"), for repeats."""
    if lang == "zh":
        return re.split(r"[，,；;]", role, maxsplit=1)[0].strip() or role
    head = _ROLE_CUT.split(f" {role} ", maxsplit=1)[0].strip()
    return head if len(head.split()) >= 1 and head else role


def _role_word(bk: _Book, name: str) -> str:
    """The role noun a name ends in ("Medical Student" -> "student", 船娘 -> 船娘), else ""."""
    words = bk.pools.get("role_words", [])
    if bk.lang == "zh":
        return next((w for w in sorted(words, key=len, reverse=True) if name.endswith(w)), "")
    last = name.split()[-1].lower() if name.split() else ""
    return last if last in {w.lower() for w in words} else ""


def _minutes(hhmm: Any) -> int:
    try:
        hours, mins = str(hhmm).split(":")
        return int(hours) * 60 + int(mins)
    except ValueError:
        return 0


def _choice_phrase(lang: str, choice: str) -> str:
    """A choice text as the verb phrase of a second-person sentence: "你{phrase}" / "You {phrase}"."""
    text = str(choice).strip().rstrip("。.!！")
    if lang == "zh":
        return text[1:] if text.startswith("你") else text
    if text.lower().startswith("you "):
        text = text[4:]
    if text[:1].isupper() and not text.startswith("I "):
        text = text[:1].lower() + text[1:]
    return text


def _character(context: dict[str, Any]) -> dict[str, str]:
    raw = context.get("character") or {}
    plan = context.get("plan") or {}
    return {
        "name": str(raw.get("name") or "").strip(),
        "role": str(raw.get("role") or plan.get("role") or "").strip(),
        "description": str(raw.get("description") or plan.get("description") or "").strip(),
    }


def _ghost_of(bk: _Book, context: dict[str, Any]) -> dict[str, Any] | None:
    """The haunting of the story, as the plan (its clues, beats and endings) names it."""
    plan = context.get("plan") or {}
    parts = [str(c) for c in plan.get("clues") or []]
    parts += [f"{b.get('title', '')} {b.get('summary', '')}" for b in plan.get("beats") or []]
    parts += [f"{e.get('title', '')} {e.get('leads_there', '')}" for e in plan.get("endings") or []]
    parts += [str(context.get("synopsis") or ""), str(context.get("title") or "")]
    return bk.ghost_in(" ".join(parts))


def _values(bk: _Book, context: dict[str, Any], scene: str, rng: random.Random) -> dict[str, str]:
    character = _character(context)
    lang = bk.lang
    name = character["name"] or bk.pools["you_name"][0]
    ghost = _ghost_of(bk, context)
    # The full role is said once, at the root; deeper nodes use its head so it is not pasted in whole.
    role = character["role"] if context.get("parent") is None else _short_role(lang, character["role"])
    return {
        "name": name,
        "role": role,
        "role_a": _with_article(role) if lang == "en" else role,
        "city": str(context.get("city") or ""),
        "scene": scene,
        "ghost": ghost["short"] if ghost else rng.choice(bk.pools["ghost_generic"]),
    }


# --------------------------------------------------------------------------------------------------
# Node replies.
# --------------------------------------------------------------------------------------------------


@dataclass
class _Moment:
    """What a node's prose depends on, read once from the request context."""

    lang: str
    depth: int
    max_depth: int
    tension: int
    next_tension: int
    band: int  # 0..4: unease .. terror
    lull: bool
    pr: int
    gr: int
    wf: int
    minutes: int
    scene: str
    scenes: list[str]
    visited: list[str]
    items: list[str]  # what the prose may name (none at a node several paths share)
    flags: list[str]
    held: list[str]  # items and flags of the creating path, so a choice does not offer them again
    truths: list[str]
    next_truth: str | None
    clues: list[str]
    new_truth: str | None  # the clue this node reveals (the builder decides where: once along a path)


def _moment(lang: str, context: dict[str, Any]) -> _Moment:
    state = context.get("state") or {}
    plan = context.get("plan") or {}
    ledger = context.get("ledger") or {}
    beats = plan.get("beats") or []
    depth = int(context.get("depth", 0) or 0)
    max_depth = max(1, int(context.get("max_depth", 20) or 20))

    def tension_at(d: int) -> int:
        if beats:
            return int(beats[max(0, min(d, len(beats) - 1))].get("tension", 0))
        return round(8 + 84 * min(1.0, d / max_depth))

    beat = context.get("beat") or {}
    tension = int(beat.get("tension", tension_at(depth)))
    previous = tension_at(depth - 1) if depth > 0 else tension
    next_tension = tension_at(depth + 1) if depth < max_depth else tension
    pr = int(state.get("PR", 5) or 0)
    felt = 0.7 * tension + 0.3 * pr  # the beat colours the text; the path's own fear tints it
    band = 0 if felt < 25 else 1 if felt < 45 else 2 if felt < 65 else 3 if felt < 82 else 4
    scenes = [str(s) for s in context.get("scenes") or []]
    scene = str(state.get("scene") or (scenes[0] if scenes else ""))
    # The prose may name only what this node's state holds (the ledger can carry more), and a node
    # that several choices lead into names none: a player arriving by another choice may not hold it.
    shared = bool(context.get("arrivals"))
    held = [str(i) for i in state.get("inventory") or [] if str(i).strip()]
    if ledger.get("items") is not None:
        held = [i for i in held if i in {str(x) for x in ledger.get("items") or []}]
    inventory = [] if shared else held
    state_flags = _flag_map(state.get("flags"))
    flags_raw = {} if shared else state_flags
    if ledger.get("flags") is not None:
        flags_raw = {k: v for k, v in flags_raw.items() if _flag_map(ledger.get("flags")).get(k)}
    return _Moment(
        lang=lang,
        depth=depth,
        max_depth=max_depth,
        tension=tension,
        next_tension=next_tension,
        band=band,
        lull=0 < depth < max_depth and tension <= previous - 4 and next_tension > tension,
        pr=pr,
        gr=int(state.get("GR", 0) or 0),
        wf=int(state.get("WF", 0) or 0),
        minutes=_minutes(state.get("time", "00:00")),
        scene=scene,
        scenes=scenes,
        visited=[str(s) for s in ledger.get("scenes") or [scene]],
        items=inventory,
        flags=sorted(name for name, value in flags_raw.items() if value),
        held=held + [k for k, v in state_flags.items() if v],
        truths=[str(t) for t in ledger.get("truths") or []],
        next_truth=str(context["next_truth"]) if context.get("next_truth") else None,
        clues=[str(c) for c in plan.get("clues") or []],
        new_truth=str(context["new_truth"]) if context.get("new_truth") else None,
    )


def _flag_map(raw: Any) -> dict[str, bool]:
    """Flags as {name: held}: the contract's mapping, or a plain list of held names."""
    if isinstance(raw, dict):
        return {str(k): bool(v) for k, v in raw.items()}
    if isinstance(raw, list | tuple | set):
        return {str(name): True for name in raw}
    return {}


def _node(rng: random.Random, bk: _Book, context: dict[str, Any]) -> dict[str, Any]:
    lang = bk.lang
    m = _moment(lang, context)
    place = bk.place_for(m.scene)
    parent = context.get("parent") or None
    arrivals = [a for a in context.get("arrivals") or [] if isinstance(a, dict)]
    values = _values(bk, context, m.scene, rng)
    if parent and not arrivals and str(parent.get("scene") or m.scene) == m.scene:
        # The thing the choice was about stays in view: the narrative follows from it.
        named = [o for o in place["objects"] if o in str(parent.get("choice") or "")]
        if named:
            values["obj"] = max(named, key=len)
    text = _Text(rng, bk, place, values, depth=m.depth)
    bridges = [_bridge(text, m, arrival) for arrival in arrivals]
    runtime = context.get("runtime_ending")
    if runtime:
        kind = runtime if runtime in ENDING_TYPES else "dawn"
        return {
            "narrative": _runtime_ending(text, m, kind),
            "bridges": bridges,
            "choices": [],
            "ending": {"type": kind, "title": _ending_title(text, context, kind)},
        }
    lead = _lead(text, m, parent, arrivals)
    ending = _ending_kind(rng, m, context)
    if ending:
        return {
            "narrative": _ending_narrative(text, m, lead, ending),
            "bridges": bridges,
            "choices": [],
            "ending": {"type": ending, "title": _ending_title(text, context, ending)},
        }
    return {
        "narrative": _narrative(text, m, lead, root=parent is None and not arrivals),
        "bridges": bridges,
        "choices": _choices(text, m, context, parent),
        "ending": None,
    }


def _lead(
    text: _Text, m: _Moment, parent: dict[str, Any] | None, arrivals: list[dict[str, Any]]
) -> list[str]:
    """The first sentences: the consequence of the choice just made, a neutral start, or the opening."""
    if arrivals:
        return [text.draw("open_neutral")]
    if not parent or not str(parent.get("choice") or "").strip():
        return [text.draw("open_root"), text.draw("open_root_2")]
    choice = str(parent["choice"])
    phrase = _choice_phrase(m.lang, choice)
    kind, key = text.book.classify(choice)
    plain = phrase[-1:] in "”」』\"'?？!！…"
    first = text.draw("lead_plain" if plain else "lead", choice=phrase)
    came_from = str(parent.get("scene") or "")
    if came_from and came_from != m.scene:
        return [first, text.draw("arrive_move", prev=came_from)]
    if kind == "flag" and key in text.book.flags:
        return [first, text.fill(text.pick(text.book.flags[key]["results"]))]
    if kind == "item":
        item = key or next((i for i in reversed(m.items) if i in choice), "")
        if item:
            own = text.book.items.get(item, {}).get("results") or []
            return [first, text.fill(text.pick(own + text.options("outcome_item")), item=item)]
    if kind == "move":  # a move that kept the scene (the destination was this scene after all)
        kind = "advance"
    pool = f"outcome_{kind}" if kind in _KINDS else "outcome_generic"
    return [first, text.draw(pool)]


def _narrative(text: _Text, m: _Moment, lead: list[str], root: bool) -> str:
    """Paragraphs of (priority, sentence); the least important go first when the text runs long."""
    rng = text.rng
    first: list[tuple[int, str]] = [(9, sentence) for sentence in lead]
    first.append((7, text.draw("detail")))
    middle: list[tuple[int, str]] = [(9, text.draw("event_lull" if m.lull else f"event_{m.band}"))]
    middle.insert(rng.randint(0, 1), (6, text.draw("sense")))
    role = text.values["role"]
    # Past the root the role comes back only every few depths, so one path hears it a few times.
    if role and (root or (m.depth % 4 == 2 and rng.random() < 0.8)):
        pool = text.book.role_lines(role, text.values["name"])
        text.depth = m.depth // 4  # role lines come every fourth depth: space them by their own count
        line = text.fill(text.pick(pool))
        text.depth = m.depth
        middle.insert(rng.randint(0, len(middle)), (8 if root else 5, line))
    # An English name that is a role ("Night Guide") is a label, not what a voice calls you; in
    # Chinese a trade is a way of address (一声“船娘”), so it is called.
    label = m.lang == "en" and bool(_role_word(text.book, text.values["name"]))
    if not label and rng.random() < (0.2 if m.band < 3 else 0.3):
        middle.append((4, text.draw("name_call")))
    memory = _memory(text, m)
    closing = [(8, text.draw("fear_lull" if m.lull else f"fear_{m.band}")), (9, text.draw(f"hook_{m.band}"))]
    pad = [
        (1, lambda: text.draw("sense")),
        (0, lambda: text.draw("detail")),
        (1, lambda: text.draw(f"event_{m.band}")),
    ]
    return _fit_you(text, m.lang, [first, middle, memory, closing], pad)


def _fit_you(
    text: _Text, lang: str, paragraphs: list[list[tuple[int, str]]], pad: list[tuple[int, Callable[[], str]]]
) -> str:
    """``_fit``, and a short second-person beat before the close when no kept sentence says "you"."""
    out = _fit(lang, paragraphs, pad)
    if (lang == "zh" and "你" in out) or (lang == "en" and re.search(r"\byou\b", out, re.IGNORECASE)):
        return out
    paragraphs[-1].insert(0, (9, text.draw("you_beat")))
    return _fit(lang, paragraphs, pad)


def _memory(text: _Text, m: _Moment) -> list[tuple[int, str]]:
    """What this moment recalls or reveals: the next clue, a truth learned, an item or flag held."""
    rng = text.rng
    found: list[tuple[int, str]] = []
    if m.new_truth:  # the builder says where a clue is revealed: once along a path
        found.append((7, text.draw("clue_reveal", clue=_clause(m.lang, m.new_truth))))
    elif m.next_truth and rng.random() < 0.45:
        found.append((3, text.draw("clue_hint")))
    recalled = [t for t in m.truths if t != m.new_truth]
    # A truth is recalled only at even depths, so two neighbouring nodes never recall the same one.
    if recalled and m.depth % 2 == 0 and rng.random() < (0.3 if found else 0.6):
        truth = rng.choice(recalled[-2:])
        found.append((5, text.draw("truth_recall", truth=_clause(m.lang, truth))))
    if m.items and rng.random() < 0.5:
        item = rng.choice(m.items)
        own = text.book.items.get(item, {}).get("callbacks") or []
        found.append((4, text.fill(text.pick(own + text.options("item_callback")), item=item)))
    known_flags = [f for f in m.flags if f in text.book.flags]
    if known_flags and rng.random() < 0.35:
        flag = text.book.flags[rng.choice(known_flags)]
        meaning = _clause(m.lang, flag["meaning"])
        line = text.pick(flag["callbacks"] + text.options("flag_callback"))
        found.append((4, text.fill(line, meaning=meaning)))
    rng.shuffle(found)
    return found


def _clause(lang: str, fact: str) -> str:
    """A clue as a clause to embed after a colon: no final stop; English starts lower-case."""
    text = fact.strip().rstrip("。.!！")
    if lang == "en" and text[:1].isupper() and not text[1:2].isupper():
        first = text.split(" ", 1)[0]
        if first in ("The", "A", "An", "She", "He", "It", "They", "Her", "His", "Their", "Someone", "Every"):
            text = text[:1].lower() + text[1:]
    return text


def _fit(
    lang: str,
    paragraphs: list[list[tuple[int, str]]],
    pad: list[tuple[int, Callable[[], str]]],
) -> str:
    """Join paragraphs, dropping the least important sentences or padding, to fit the aim.

    ``pad`` lists (paragraph, sentence maker): padding goes before that paragraph's last sentence,
    so closing lines stay last; the makers are tried in turn, round after round.
    """
    low, high = _AIM[lang]

    def render() -> str:
        joiner = "" if lang == "zh" else " "
        texts = [joiner.join(sentence for _, sentence in para) for para in paragraphs]
        out = _tidy(lang, "\n\n".join(t for t in texts if t))
        return _capitalize(out) if lang == "en" else out

    text = render()
    for turn in range(3 * len(pad)):
        if _size(lang, text) >= low:
            break
        where, make = pad[turn % len(pad)]
        sentence = make()
        if any(sentence == said for para in paragraphs for _, said in para):
            continue  # a small pool ran out of fresh sentences: never say one twice
        para = paragraphs[where]
        para.insert(max(0, len(para) - 1), (0, sentence))
        text = render()
    while _size(lang, text) > high:
        candidates = [
            (priority, -i, p) for p, para in enumerate(paragraphs) for i, (priority, _) in enumerate(para)
        ]
        priority, neg_i, p = min(candidates)
        if priority >= 9 and _size(lang, text) <= LIMITS[lang][1]:
            break
        del paragraphs[p][-neg_i]
        text = render()
    return text


def _bridge(text: _Text, m: _Moment, arrival: dict[str, Any]) -> str:
    """One or two sentences carrying one arrival's choice (and its scene) into this scene."""
    phrase = _choice_phrase(m.lang, str(arrival.get("choice") or ""))
    came_from = str(arrival.get("scene") or "")
    if not phrase:
        out = text.draw("bridge_plain")
    elif came_from and came_from != m.scene:
        # The arrival's scene is where its choice led: the one it named (a move), else where it was made.
        pool = "bridge_detour" if came_from in str(arrival.get("choice") or "") else "bridge_move"
        out = text.draw(pool, choice=phrase, prev=came_from)
    else:
        out = text.draw("bridge_same", choice=phrase)
    out = _tidy(m.lang, out)
    return _capitalize(out) if m.lang == "en" else out


# ---- choices -------------------------------------------------------------------------------------


def _choices(
    text: _Text, m: _Moment, context: dict[str, Any], parent: dict[str, Any] | None
) -> list[dict[str, Any]]:
    rng = text.rng
    branching = max(2, int(context.get("branching", 3) or 3))
    count = branching
    if branching > 2 and rng.random() < 0.15:
        count = rng.randint(2, branching - 1)
    plan = context.get("plan") or {}
    avoid = {str(s).strip() for s in (parent or {}).get("siblings") or []}
    if parent and parent.get("choice"):
        avoid.add(str(parent["choice"]).strip())
    kinds = _choice_kinds(rng, m, count)
    plan_flags = [str(f.get("name")) for f in plan.get("flags") or [] if f.get("name")]
    plan_items = [str(i.get("name")) for i in plan.get("items") or [] if i.get("name")]
    open_flags = [f for f in plan_flags if f not in m.flags and f not in m.held]
    spare_items = [i for i in plan_items if i not in m.items and i not in m.held]
    destinations = _destinations(rng, m)
    scale = 20 / m.max_depth
    step = _NIGHT_PATH_MINUTES / m.max_depth
    center = (m.next_tension - m.pr) * _PULL
    offsets = [_PR_OFFSET[k] for k in kinds]
    mean_offset = sum(offsets) / len(offsets)
    choices: list[dict[str, Any]] = []
    texts: set[str] = set(avoid)
    for kind, offset in zip(kinds, offsets, strict=True):
        flags: list[dict[str, Any]] = []
        items: list[str] = []
        scene = None
        for _attempt in range(12):
            flag = item = None
            if kind == "move" and destinations:
                scene = destinations.pop(0)
                line = text.fill(text.pick(text.options("choice_move")), dest=scene)
            else:
                if kind == "move":
                    kind = "investigate"
                usable = [f for f in open_flags if text.book.flags.get(f, {}).get("kind") == kind]
                if usable and rng.random() < 0.3:
                    flag = rng.choice(usable)
                    line = text.fill(text.pick(text.book.flags[flag]["choices"]))
                elif kind == "investigate" and spare_items and rng.random() < 0.3:
                    item = rng.choice(spare_items)
                    own = text.book.items.get(item, {}).get("choices") or text.options("choice_item")
                    line = text.fill(text.pick(own), item=item)
                else:
                    line = text.draw(f"choice_{kind}")
            line = line.strip()
            if m.lang == "en":
                line = line[:1].upper() + line[1:]
            if line not in texts and len(line) <= 190:
                break
        else:
            continue
        texts.add(line)
        if flag:
            open_flags.remove(flag)
            flags = [{"name": flag, "value": True}]
        if item:
            spare_items.remove(item)
            items = [item]
        gr_low, gr_high = _GR_RANGE[kind]
        wf_low, wf_high = _WF_RANGE[kind]
        bonus = 2 if (flag or item) else 0
        pr = round(center + offset - mean_offset + rng.uniform(-1.0, 1.0))
        minutes = step * _MINUTES_FACTOR[kind] * rng.uniform(0.75, 1.25)
        choices.append(
            {
                "text": line,
                "consequences": {
                    "PR": max(-30, min(30, pr)),
                    "GR": round(rng.randint(gr_low, gr_high) * scale) + bonus,
                    "WF": round(rng.randint(wf_low, wf_high) * scale),
                    "minutes": max(1, min(60, round(minutes))),
                    "scene": scene,
                    "flags": flags,
                    "items": items,
                },
            }
        )
    return choices


def _choice_kinds(rng: random.Random, m: _Moment, count: int) -> list[str]:
    """A spread of kinds: one that calms, one that dares, the rest from what the moment allows.

    Sometimes a middle choice (or, with two choices, the daring one) leaves for another scene;
    the calming one stays, so fear always has a way down and a way up."""
    calm = "calm" if rng.random() < 0.7 else "listen"
    bold = rng.choice(
        ("advance", "confront", "confront") if m.band >= 2 else ("advance", "advance", "confront")
    )
    kinds = [calm, bold]
    middle = ["investigate", "listen", "advance", "confront", "investigate"]
    while len(kinds) < count:
        options = [k for k in middle if k not in kinds] or ["investigate"]
        kinds.append(rng.choice(options))
    if any(s != m.scene for s in m.scenes) and rng.random() < 0.45:
        if count > 2:
            kinds[rng.randrange(2, count)] = "move"
        elif calm == "calm":
            kinds[1] = "move"
    rng.shuffle(kinds)
    return kinds


def _destinations(rng: random.Random, m: _Moment) -> list[str]:
    """Where a move may go: the last scene late in the night, unvisited scenes before visited ones."""
    others = [s for s in m.scenes if s != m.scene]
    rng.shuffle(others)
    others.sort(key=lambda s: s in m.visited)
    if others and m.scenes and m.depth >= 0.7 * m.max_depth and m.scenes[-1] in others:
        others.remove(m.scenes[-1])
        others.insert(0, m.scenes[-1])
    return others


# ---- endings -------------------------------------------------------------------------------------


def _ending_kind(rng: random.Random, m: _Moment, context: dict[str, Any]) -> str | None:
    asked = context.get("ending")
    if asked in ("fear_collapse", "dawn"):
        return str(asked)
    planned = [str(e.get("type")) for e in context.get("planned_endings") or [] if e.get("type")]
    planned = [k for k in planned if k in ENDING_TYPES]
    if asked:  # "planned" (or anything else: an ending that fits the state)
        plan_types = [str(e.get("type")) for e in (context.get("plan") or {}).get("endings") or []]
        kinds = planned or [k for k in plan_types if k in ENDING_TYPES] or ["dawn"]
        return _fitting_ending(rng, m, kinds, _sibling_slot(context))
    # The writer ends a path of its own accord more often late in the night, so endings spread
    # over many nodes rather than all plays meeting at the few nodes of the last level. A node
    # that several choices lead into carries their plays too: it ends seldom (two arrivals) or
    # never (three or more), or one ending would take them all.
    if context.get("may_end") and planned:
        late = max(0.0, m.depth / m.max_depth - 0.5) / 0.5  # 0 at mid-night, 1 at the last level
        shared = len(context.get("arrivals") or [])
        chance = 0.02 + 0.7 * late**2
        chance = 0.0 if shared >= 3 else chance / (1 + shared)
        if rng.random() < chance:
            return _fitting_ending(rng, m, planned, _sibling_slot(context))
    return None


def _sibling_slot(context: dict[str, Any]) -> tuple[int, random.Random | None]:
    """Which of its parent's choices led here (0, 1, 2…, in text order), and a random source its
    siblings share (seeded by the parent), so they draw one ranking and take different places."""
    parent = context.get("parent") or {}
    choice = str(parent.get("choice") or "")
    if not choice:
        return 0, None
    offered = sorted({choice, *(str(s) for s in parent.get("siblings") or [])})
    seed = "\n".join([str(parent.get("narrative") or ""), *offered])
    return offered.index(choice), random.Random(hashlib.sha256(seed.encode()).hexdigest())


def _fitting_ending(
    rng: random.Random, m: _Moment, kinds: list[str], sibling: tuple[int, random.Random | None] = (0, None)
) -> str:
    """The ending the state earns: truth -> truth_revealed, familiarity -> escape, fear -> possessed,
    a late clock -> dawn... Sibling endings (near-identical states, which the most plays reach
    together) lean to different types instead of sharing one fate."""
    weight = {
        "truth_revealed": 20 + 0.42 * m.gr,
        "escape": 20 + 0.55 * m.wf,
        "possessed": 20 + 0.7 * max(0, m.pr - 40) + 2 * len(m.flags),
        "trapped": 22 + 0.25 * max(0, 60 - m.wf) + 0.12 * m.pr,
        "sacrifice": 18 + 0.3 * m.gr + 4 * len(m.items),
        "dawn": 14 + 0.45 * max(0, m.minutes - 120),
    }
    if m.minutes < _DAWN_FROM and any(k not in ("dawn", "fear_collapse") for k in kinds):
        kinds = [k for k in kinds if k != "dawn"]  # no sunrise at three in the morning
    # Fear that reaches 100 already ends a night (the runtime rules); a planned ending reads the
    # fear as possession instead, and falls back on collapse only when nothing else is planned.
    options = sorted(set(kinds) - {"fear_collapse"}) or ["fear_collapse"]
    # A weighted draw without replacement; the node takes the draw of its slot, so the first
    # choice's node gets the usual weighted pick and its siblings lean to the other fitting types.
    slot, shared = sibling
    draw = shared or rng
    left = {k: max(1.0, weight.get(k, 10.0)) for k in options}
    ranked: list[str] = []
    while left:
        pick = draw.choices(list(left), list(left.values()))[0]
        ranked.append(pick)
        del left[pick]
    return ranked[slot % len(ranked)]


def _ending_title(text: _Text, context: dict[str, Any], kind: str) -> str:
    """The plan's title for the type or another of the type's titles, so one type's endings differ."""
    plan = context.get("plan") or {}
    planned = [
        str(e["title"]).strip()
        for e in list(context.get("planned_endings") or []) + list(plan.get("endings") or [])
        if e.get("type") == kind and str(e.get("title") or "").strip()
    ]
    titles = text.book.endings["titles"]
    if kind == "dawn" and _minutes((context.get("state") or {}).get("time", "04:00")) < _DAWN_AT:
        planned, titles_of = [], titles.get("dawn_near") or titles[kind]  # no "First Light" at 03:40
    else:
        titles_of = titles[kind]
    pool = [text.fill(t) for t in titles_of]
    return text.pick(list(dict.fromkeys(planned[:1] + pool)))


def _ending_narrative(text: _Text, m: _Moment, lead: list[str], kind: str) -> str:
    first = [(9, sentence) for sentence in lead]
    if len(lead) < 2 or text.rng.random() < 0.5:
        first.append((6, text.draw("detail")))
    # A dawn written before four is the last dark before first light, not a sunrise.
    pool = "end_dawn_near" if kind == "dawn" and m.minutes < _DAWN_AT else f"end_{kind}"
    body = [(8, text.draw(pool)), (7, text.draw(pool)), (9, text.draw(f"{pool}_last"))]
    if m.truths and kind in ("truth_revealed", "sacrifice"):
        body.insert(1, (6, text.draw("truth_recall", truth=_clause(m.lang, m.truths[-1]))))
    pad = [
        (1, lambda: text.draw(pool)),
        (0, lambda: text.draw("sense")),
        (0, lambda: text.draw("detail")),
    ]
    return _fit_you(text, m.lang, [first, body], pad)


def _runtime_ending(text: _Text, m: _Moment, kind: str) -> str:
    """A shared ending: it follows any moment of the night, so it names no scene object or item."""
    body = [(9, text.draw(f"rt_{kind}_open")), (8, text.draw(f"rt_{kind}")), (8, text.draw(f"rt_{kind}"))]
    closing = [(7, text.draw(f"rt_{kind}")), (9, text.draw(f"rt_{kind}_last"))]
    return _fit(m.lang, [body, closing], [(0, lambda: text.draw(f"rt_{kind}"))])


# --------------------------------------------------------------------------------------------------
# Plans.
# --------------------------------------------------------------------------------------------------


def _tensions(rng: random.Random, max_depth: int) -> tuple[list[int], int, int | None]:
    """The tension curve: rises, dips once for a lull, peaks in the last fifth, may ease at the end."""
    start = rng.randint(6, 12)
    peak_value = rng.randint(84, 92)
    last = max_depth
    peak = max(1, min(last - 1, round(last * rng.uniform(0.8, 0.9)))) if max_depth >= 3 else last
    curve: list[int] = []
    shape = rng.uniform(1.1, 1.45)
    for d in range(last + 1):
        if d <= peak:
            value = start + (peak_value - start) * (d / peak) ** shape
        else:
            eased = rng.randint(6, 14) if d == last else rng.randint(2, 5)
            value = max(curve[-1] - eased, peak_value - 18)
        curve.append(value)
    lull = None
    if max_depth >= 8:
        lull = round(last * rng.uniform(0.45, 0.6))
        curve[lull] = curve[lull - 1] - rng.randint(8, 14)
    values = [max(0, min(100, round(v))) for v in curve]
    return values, peak, lull


def _title(lang: str, text: str) -> str:
    return _title_case(text) if lang == "en" else text


def _phase(depth: int, peak: int, lull: int | None, max_depth: int) -> str:
    if depth == 0:
        return "arrival"
    if lull is not None and depth == lull:
        return "lull"
    if depth > peak:
        return "aftermath"
    if depth >= peak - max(1, max_depth // 10):
        return "climax"
    if depth >= 0.6 * max_depth:
        return "revelation"
    if depth >= 0.3 * max_depth:
        return "deepening"
    return "unease"


def _plan(rng: random.Random, bk: _Book, context: dict[str, Any]) -> dict[str, Any]:
    lang = bk.lang
    max_depth = max(1, int(context.get("max_depth", 20) or 20))
    raw = context.get("character") or {}
    name = str(raw.get("name") or "").strip()
    scenes = [str(s) for s in context.get("scenes") or []] or [bk.pools["you_name"][0]]
    ghost = bk.ghost_in(str(context.get("synopsis") or "") + str(context.get("title") or ""))
    ghost = ghost or bk.ghosts[int(hashlib.sha256(scenes[0].encode()).hexdigest()[:6], 16) % len(bk.ghosts)]
    role = str(raw.get("role") or "").strip()
    description = str(raw.get("description") or "").strip()
    if not role:
        role, proposed = _propose_role(rng, bk, name)
        description = description or proposed
    values = {
        "name": name or bk.pools["you_name"][0],
        "role": role,
        "role_a": _with_article(role) if lang == "en" else role,
        "Role_a": (_with_article(role)[:1].upper() + _with_article(role)[1:]) if lang == "en" else role,
        "city": str(context.get("city") or ""),
        "ghost": ghost["short"],
        "Ghost": ghost["short"][:1].upper() + ghost["short"][1:],
        "scene": scenes[0],
        "last": scenes[-1],
    }
    place = bk.place_for(scenes[0])
    text = _Text(rng, bk, place, values)
    description = text.fill(description) if description and not raw.get("description") else description
    if not description:
        description = text.draw("describe_role")
    tensions, peak, lull = _tensions(rng, max_depth)
    beats = []
    for depth, tension in enumerate(tensions):
        phase = _phase(depth, peak, lull, max_depth)
        at = scenes[min(len(scenes) - 1, depth * len(scenes) // (max_depth + 1))]
        text.values["scene"] = at
        text.depth = depth
        beats.append(
            {
                "depth": depth,
                "title": _title(lang, text.fill(text.pick(bk.plan["beat_titles"][phase]))),
                "summary": _capitalize(text.fill(text.pick(bk.plan["beat_summaries"][phase]))),
                "tension": tension,
            }
        )
    text.values["scene"] = scenes[0]
    return {
        "role": role,
        "description": description,
        "beats": beats,
        "endings": _plan_endings(rng, text, max_depth, context),
        "clues": [
            text.fill(clue, scene=_home_of(ghost, scenes) or scenes[0]) for clue in _plan_clues(rng, ghost)
        ],
        "flags": [
            {"name": f["name"], "meaning": f["meaning"]} for f in _sample(rng, list(bk.flags.values()), 5, 8)
        ],
        "items": [
            {"name": i["name"], "meaning": text.fill(i["meaning"])}
            for i in _sample(rng, list(bk.items.values()), 4, 6)
        ],
    }


def _home_of(ghost: dict[str, Any], scenes: list[str]) -> str | None:
    """The scene where the haunting began: the first whose name fits the ghost's story."""
    for scene in scenes:
        if any(word.lower() in scene.lower() for word in ghost.get("home", [])):
            return scene
    return None


def _sample(rng: random.Random, entries: list[dict[str, Any]], low: int, high: int) -> list[dict[str, Any]]:
    count = min(len(entries), rng.randint(low, high))
    chosen = set(rng.sample(range(len(entries)), count))
    return [entry for i, entry in enumerate(entries) if i in chosen]


def _propose_role(rng: random.Random, bk: _Book, name: str) -> tuple[str, str]:
    """A role (and a description template) for a character the user named without one.

    A name that reads as a role (it ends in a role noun: "Medical Student", 保安) is that role: an
    archetype's proposal naming the same noun, else the name itself."""
    lowered = name.lower()
    word = _role_word(bk, name)
    if word:
        for archetype in bk.roles:
            fitting = [p for p in archetype.get("proposals") or [] if word.lower() in str(p[0]).lower()]
            if fitting:
                role, description = rng.choice(fitting)
                return role, description
        return (name.lower() if bk.lang == "en" else name), ""
    for archetype in bk.roles:
        if any(keyword.lower() in lowered for keyword in archetype["keywords"]) and archetype.get(
            "proposals"
        ):
            role, description = rng.choice(archetype["proposals"])
            return role, description
    role, description = rng.choice(bk.plan["proposed_roles"])
    return role, description


_WINDOWS = {  # (from, to) as shares of max_depth
    "fear_collapse": (0.2, 1.0),
    "dawn": (0.6, 1.0),
    "truth_revealed": (0.5, 1.0),
    "escape": (0.35, 1.0),
    "trapped": (0.45, 1.0),
    "possessed": (0.5, 1.0),
    "sacrifice": (0.65, 1.0),
}


def _plan_endings(
    rng: random.Random, text: _Text, max_depth: int, context: dict[str, Any]
) -> list[dict[str, Any]]:
    allowed = [str(t) for t in context.get("ending_types") or ENDING_TYPES if str(t) in ENDING_TYPES]
    others = [t for t in ENDING_TYPES if t in allowed and t not in ("fear_collapse", "dawn")]
    extra = rng.sample(others, min(len(others), rng.randint(4, 5)))
    kinds = [t for t in ENDING_TYPES if t in ("fear_collapse", "dawn") or t in extra]
    endings = []
    for kind in kinds:
        low, high = _WINDOWS[kind]
        start = max(1, min(max_depth, math.floor(max_depth * low) + rng.randint(-1, 1)))
        endings.append(
            {
                "type": kind,
                "title": text.fill(text.pick(text.book.endings["titles"][kind])),
                "leads_there": text.fill(text.pick(text.book.endings["leads"][kind])),
                "from_depth": start,
                "to_depth": max(start, math.ceil(max_depth * high)),
            }
        )
    return endings


def _plan_clues(rng: random.Random, ghost: dict[str, Any]) -> list[str]:
    """Five to seven of the ghost's facts, in the story's order: the first and the last always."""
    facts = list(ghost["clues"])
    count = min(len(facts), rng.randint(5, 7))
    middle = sorted(rng.sample(range(1, len(facts) - 1), max(0, count - 2)))
    return [facts[0], *(facts[i] for i in middle), facts[-1]]


# --------------------------------------------------------------------------------------------------
# Documents and characters.
# --------------------------------------------------------------------------------------------------


def _named_characters(context: dict[str, Any]) -> list[dict[str, str]]:
    out = []
    for entry in context.get("characters") or []:
        if isinstance(entry, dict):
            name, role = str(entry.get("name") or "").strip(), str(entry.get("role") or "").strip()
        else:
            name, role = str(entry).strip(), ""
        if name:
            out.append({"name": name, "role": role})
    return out


def _documents(rng: random.Random, bk: _Book, context: dict[str, Any]) -> dict[str, Any]:
    lang = bk.lang
    city = str(context.get("city") or "")
    named = _named_characters(context)
    scenes = _scene_names(rng, bk, city, named)
    at_home = [g for g in bk.ghosts if _home_of(g, scenes)]
    ghost = rng.choice(at_home or bk.ghosts)
    docs = bk.documents
    rules = rng.sample(docs["rules"], 3)
    sep = "、" if lang == "zh" else ", "
    who_parts = [
        rng.choice(docs["who_with_role"] if c["role"] else docs["who_name"]).format(
            name=c["name"], role=c["role"]
        )
        for c in named
    ]
    if lang == "zh":
        who = "、".join(who_parts[:-1]) + "和" + who_parts[-1] if len(who_parts) > 1 else "".join(who_parts)
    else:
        who = (
            ", ".join(who_parts[:-1]) + " and " + who_parts[-1] if len(who_parts) > 1 else "".join(who_parts)
        )
    values = {
        "city": city,
        "ghost": ghost["short"],
        "Ghost": ghost["short"][:1].upper() + ghost["short"][1:],
        "what": ghost["what"],
        "What": ghost["what"][:1].upper() + ghost["what"][1:],
        "year": str(rng.randint(1931, 1994)),
        "who": who or rng.choice(docs["who_none"]),
        "s0": scenes[0],
        "s1": scenes[1],
        "s2": scenes[2],
        "last": scenes[-1],
        "n": str(len(scenes)) if lang == "en" else "一二三四五六七八"[len(scenes) - 1],
        "scene_list": sep.join(scenes),
        "middle": sep.join(scenes[1:-1]),
        "rule1": rules[0],
        "rule2": rules[1],
        "rule3": rules[2],
    }
    place = bk.place_for(scenes[0])
    text = _Text(rng, bk, place, dict(values, name=who, scene=scenes[0]))
    title = text.fill(text.pick(docs["titles"]))
    text.values["title"] = title
    result: dict[str, Any] = {"title": title}
    for part in ("synopsis", "game_design", "lore", "main_story"):
        paragraphs = [text.fill(text.pick(options)) for options in docs[part]]
        result[part] = _capitalize("\n\n".join(paragraphs)) if lang == "en" else "\n\n".join(paragraphs)
    result["scenes"] = scenes
    return result


def _scene_names(rng: random.Random, bk: _Book, city: str, named: list[dict[str, str]]) -> list[str]:
    """Five or six places, opening first; a place a character's name or role points at comes along."""
    count = rng.choice((5, 6))
    indices = rng.sample(range(len(bk.places)), len(bk.places))
    who = " ".join(f"{c['name']} {c['role']}" for c in named).lower()
    wanted = [i for i, p in enumerate(bk.places) if any(k.lower() in who for k in p.get("affinity", []))]
    chosen = [i for i in indices if i in wanted][:2]
    chosen += [i for i in indices if i not in chosen][: count - len(chosen)]
    if chosen[0] in wanted and len(chosen) > 2:  # the affine place waits for the story to come to it
        chosen[0], chosen[2] = chosen[2], chosen[0]
    return [rng.choice(bk.places[i]["names"]).format(city=city) for i in chosen]


def _characters(rng: random.Random, bk: _Book, context: dict[str, Any]) -> dict[str, Any]:
    city = str(context.get("city") or "")
    picked = rng.sample(bk.characters, 3)
    return {
        "characters": [
            {"name": c["name"], "role": c["role"], "description": c["description"].format(city=city)}
            for c in picked
        ]
    }


# --------------------------------------------------------------------------------------------------
# The writer.
# --------------------------------------------------------------------------------------------------


class OfflineWriter:
    """Writes every reply locally from the offline data; same request, same reply. Spends no tokens."""

    name = "offline"
    model = "offline-writer-2"

    def __init__(self, latency_ms: float = 0.0, jitter: float = 0.0) -> None:
        self.latency_ms = max(0.0, latency_ms)
        self.jitter = max(0.0, jitter)
        self.calls = 0
        self._timing = random.Random()  # only for latency jitter: content never depends on it

    async def complete(self, request: Request, retries: list[Retry]) -> Reply:
        self.calls += 1
        delay = self.latency_ms / 1000.0
        if self.jitter:
            delay *= self._timing.uniform(1.0 - self.jitter, 1.0 + self.jitter)
        if delay > 0:
            await asyncio.sleep(delay)
        return Reply(text=orjson.dumps(write(request)).decode(), usage=Usage())

    async def aclose(self) -> None:
        return None


def write(request: Request) -> dict[str, Any]:
    """The reply object for a request, deterministic in the request."""
    rng = random.Random(request.key())
    context = request.context
    lang = "zh" if str(context.get("lang") or "zh").lower().startswith("zh") else "en"
    bk = book(lang)
    if request.kind == "documents":
        return _documents(rng, bk, context)
    if request.kind == "characters":
        return _characters(rng, bk, context)
    if request.kind == "plan":
        return _plan(rng, bk, context)
    if request.kind == "node":
        return _node(rng, bk, context)
    raise ValueError(f"the offline writer cannot answer a {request.kind!r} request")
