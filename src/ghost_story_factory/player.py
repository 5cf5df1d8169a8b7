"""The terminal player: walks one character's dialogue graph, one numbered choice at a time."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console
from rich.text import Text

from . import runtime
from .model import Story, load_story
from .text import clean_text
from .vocabulary import ending_label as _label
from .vocabulary import lang_of

QUIT_WORDS = frozenset({"q", "quit", "exit", "退出"})

_LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "scene": "地点",
        "PR": "恐惧 PR",
        "GR": "真相 GR",
        "WF": "熟悉 WF",
        "time": "时间",
        "items": "物品",
        "no_items": "无",
        "sep": "：",
        "list_sep": "、",
        "you_chose": "你选择了：",
        "prompt": "选择 (1-{n}，q 退出)：",
        "invalid": "请输入 1 到 {n} 之间的数字，或 q 退出。",
        "ending": "结局",
        "quit": "已退出。",
        "character_menu": "选择角色：",
        "protagonist": "主角",
        "story_menu": "选择故事：",
        "empty": "故事库是空的。",
        "characters": "个角色",
        "offline": "离线",
    },
    "en": {
        "scene": "Place",
        "PR": "Fear PR",
        "GR": "Truth GR",
        "WF": "Familiarity WF",
        "time": "Time",
        "items": "Items",
        "no_items": "none",
        "sep": ": ",
        "list_sep": ", ",
        "you_chose": "You chose: ",
        "prompt": "Choose (1-{n}, q to quit): ",
        "invalid": "Please type a number from 1 to {n}, or q to quit.",
        "ending": "Ending",
        "quit": "Quit.",
        "character_menu": "Choose a character:",
        "protagonist": "protagonist",
        "story_menu": "Choose a story:",
        "empty": "The library is empty.",
        "characters": "characters",
        "offline": "offline",
    },
}


_lang = lang_of


def story_lang(story: dict[str, Any]) -> str:
    """The language of a story's text: ``story.lang``, else ``meta.settings.lang``, else ``zh``."""
    lang = (story.get("story") or {}).get("lang")
    if not lang:
        lang = ((story.get("meta") or {}).get("settings") or {}).get("lang")
    return _lang(lang or "zh")


def ending_label(kind: str, lang: str = "en") -> str:
    """The human name of an ending type (the raw type when unknown)."""
    return _label(kind, lang)


def state_line(state: runtime.PlayState, lang: str = "en") -> str:
    """One line with the player's own state: place, fear, truth, familiarity, time and items (flags stay hidden)."""
    labels = _LABELS[_lang(lang)]
    sep = labels["sep"]
    items = list(state.items)
    parts = [
        f"{labels['scene']}{sep}{state.scene}",
        f"{labels['PR']} {state.fear}",
        f"{labels['GR']} {state.truth}",
        f"{labels['WF']} {state.familiarity}",
        f"{labels['time']} {state.clock}",
        f"{labels['items']}{sep}{labels['list_sep'].join(items) if items else labels['no_items']}",
    ]
    return " · ".join(parts)


def _console(out: Console | None) -> Console:
    return out if out is not None else Console(highlight=False)


def _say(out: Console, text: str = "", style: str = "", end: str = "\n") -> None:
    """Print literally (never as markup, never a control or escape sequence: story text comes from a
    writer and names from users); in a pipe or file, lines are not wrapped at the console width."""
    out.print(Text(clean_text(text), style=style), end=end, soft_wrap=not out.is_terminal)


def _ask(n: int, input_fn: Callable[..., str], out: Console, lang: str) -> int | None:
    """Prompt until the answer is a number in 1..n; None on q or end of input."""
    labels = _LABELS[lang]
    while True:
        _say(out, labels["prompt"].format(n=n), end="")
        try:
            answer = input_fn()
        except EOFError:
            _say(out)
            return None
        if not out.is_terminal:  # a transcript (pipe, file, test) shows what was typed
            _say(out, answer)
        answer = answer.strip().rstrip(".。")
        if answer.lower() in QUIT_WORDS:
            return None
        try:
            number = int(answer)  # also takes full-width digits such as "２"
        except ValueError:
            number = 0
        if 1 <= number <= n:
            return number
        _say(out, labels["invalid"].format(n=n), "yellow")


def _characters(story: dict[str, Any]) -> list[dict[str, Any]]:
    characters = story.get("characters") or []
    if not characters:
        raise ValueError("the story has no characters")
    return characters


def find_character(story: dict[str, Any], name: str) -> dict[str, Any]:
    """The character with this exact name (or, failing that, this 1-based number); ValueError otherwise."""
    characters = _characters(story)
    for character in characters:
        if character["name"] == name:
            return character
    stripped = name.strip()
    if stripped.isdigit() and 1 <= int(stripped) <= len(characters):
        return characters[int(stripped) - 1]
    names = ", ".join(repr(c["name"]) for c in characters)
    raise ValueError(f"no character named {name!r} in this story; its characters are {names}")


def choose_character(
    story: dict[str, Any],
    input_fn: Callable[..., str] = input,
    out: Console | None = None,
    *,
    lang: str | None = None,
) -> str | None:
    """The name of the character to play: the only one, or the player's numbered pick (None = quit)."""
    characters = _characters(story)
    if len(characters) == 1:
        return str(characters[0]["name"])
    out = _console(out)
    lang = _lang(lang) if lang else story_lang(story)
    labels = _LABELS[lang]
    _say(out, labels["character_menu"], "bold")
    for number, character in enumerate(characters, 1):
        line = f"  {number}. {character['name']}"
        if character.get("is_protagonist"):
            line += f" ({labels['protagonist']})"
        if character.get("role"):
            line += f" — {character['role']}"
        _say(out, line)
    picked = _ask(len(characters), input_fn, out, lang)
    return None if picked is None else str(characters[picked - 1]["name"])


def choose_story(
    summaries: Sequence[dict[str, Any]],
    input_fn: Callable[..., str] = input,
    out: Console | None = None,
    *,
    lang: str | None = None,
) -> int | None:
    """The id of the story the player picks from :meth:`Library.list` summaries (None = quit or empty).

    The menu is in ``lang``; by default in Chinese when every story is Chinese, else in English.
    """
    out = _console(out)
    if lang is None:
        lang = "zh" if summaries and all(_lang(s.get("lang")) == "zh" for s in summaries) else "en"
    lang = _lang(lang)
    labels = _LABELS[lang]
    if not summaries:
        _say(out, labels["empty"])
        return None
    _say(out, labels["story_menu"], "bold")
    for number, summary in enumerate(summaries, 1):
        names = labels["list_sep"].join(str(c["name"]) for c in summary.get("characters", []))
        count = len(summary.get("characters", []))
        parts = [f"  {number}. #{summary['id']} {summary.get('title', '')}", str(summary.get("city", ""))]
        parts.append(str(summary.get("lang", "")))
        parts.append(str(summary.get("created_at", ""))[:16].replace("T", " "))
        if summary.get("offline"):
            parts.append(labels["offline"])
        parts.append(f"{count} {labels['characters']}{labels['sep']}{names}")
        _say(out, " · ".join(p for p in parts if p))
    picked = _ask(len(summaries), input_fn, out, lang)
    return None if picked is None else int(summaries[picked - 1]["id"])


def play(
    story: dict[str, Any],
    character: str | None = None,
    *,
    input_fn: Callable[..., str] = input,
    out: Console | None = None,
    lang: str | None = None,
) -> str | None:
    """Play one character's graph from its root under the runtime rules; returns the ending type reached,
    or None when quit.

    ``character`` is a name (or a 1-based number); None asks when the story has several.
    ``input_fn`` is called with no argument (the prompt is printed on ``out``) and may raise
    EOFError, which quits. Labels follow ``lang``, by default the story's language. A story that does
    not match the story format raises ValueError with a one-line cause.
    """
    out = _console(out)
    lang = _lang(lang) if lang else story_lang(story)
    labels = _LABELS[lang]
    typed = _typed(story)
    if character is None:
        character = choose_character(story, input_fn, out, lang=lang)
        if character is None:
            _say(out, labels["quit"])
            return None
    person = typed.character(str(find_character(story, character)["name"]))
    tree = person.tree
    title = typed.story.title
    _say(out, f"{title} — {person.name}" if title else person.name, "bold")
    state = runtime.start(tree)
    while True:
        node = tree.nodes[state.node]
        _say(out)
        _say(out, node.narrative)
        _say(out, state_line(state, lang), "dim")
        if node.ending:
            line = f"{labels['ending']}{labels['sep']}{ending_label(node.ending.type, lang)}"
            if node.ending.title:
                line += f" — {node.ending.title}"
            _say(out, line, "bold magenta")
            return node.ending.type
        for number, choice in enumerate(node.choices, 1):
            _say(out, f"  {number}. {choice.text}")
        picked = _ask(len(node.choices), input_fn, out, lang)
        if picked is None:
            _say(out, labels["quit"])
            return None
        _say(out)
        _say(out, labels["you_chose"] + node.choices[picked - 1].text, "italic")
        state, arrival = runtime.take(tree, state, picked - 1)
        if arrival.bridge:
            _say(out, arrival.bridge)


def _typed(story: dict[str, Any]) -> Story:
    from .errors import StoryFormatError

    try:
        return load_story(story)
    except StoryFormatError as exc:
        raise ValueError(str(exc)) from None
