"""The terminal player: walks one character's dialogue graph, one numbered choice at a time."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console
from rich.text import Text

from . import runtime
from .model import Story, load_story
from .text import clean_line, clean_text
from .vocabulary import UI_WORDS, ending_line, lang_of
from .vocabulary import ending_label as _label

QUIT_WORDS = frozenset({"q", "quit", "exit", "退出"})

# Typography per language: full-width punctuation in Chinese, spaced ASCII punctuation in English.
_LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "prompt": "选择（1-{n}，q 退出）：",
        "invalid": "请输入 1 到 {n} 之间的数字，或输入 q 退出。",
        "quit": "已退出。",
        "character_menu": "选择角色：",
        "protagonist": "（主角）",
        "role_sep": "——",
        "story_menu": "选择故事（按编号）：",
        "story_prompt": "故事编号（q 退出）：",
        "story_invalid": "没有编号为 {answer} 的故事：请输入列表中的编号，或输入 q 退出。",
        "empty": "故事库是空的：先生成一个故事。",
        "characters": "{count} 个角色：{names}",
        "offline": "离线写作器",
        "title": "《{title}》",
        "lang_zh": "中文",
        "lang_en": "英文",
        "no_characters": "这个故事没有角色",
        "quoted": "「{name}」",
        "names_sep": "、",
        "no_character": "这个故事里没有角色 {name}；它的角色是：{names}",
    },
    "en": {
        "prompt": "Choose (1-{n}, q to quit): ",
        "invalid": "Please type a number from 1 to {n}, or q to quit.",
        "quit": "Quit.",
        "character_menu": "Choose a character:",
        "protagonist": " (protagonist)",
        "role_sep": " — ",
        "story_menu": "Choose a story (by number):",
        "story_prompt": "Story number (q to quit): ",
        "story_invalid": "There is no story number {answer}: type a number from the list, or q to quit.",
        "empty": "The library is empty: generate a story first.",
        "characters": "{count} {noun}: {names}",
        "offline": "offline writer",
        "title": "“{title}”",
        "lang_zh": "Chinese",
        "lang_en": "English",
        "no_characters": "the story has no characters",
        "quoted": "“{name}”",
        "names_sep": ", ",
        "no_character": "no character named {name} in this story; its characters are {names}",
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
    """One line with the player's own state: place, fear, truth, familiarity, time and items (flags stay hidden).

    The words are the ones the exported players show (vocabulary.UI_WORDS)."""
    words = UI_WORDS[_lang(lang)]
    colon = words["colon"]
    items = words["list_sep"].join(state.items) if state.items else words["none"]
    parts = [
        f"{words['scene']}{colon}{state.scene}",
        f"{words['fear']} {state.fear}",
        f"{words['truth']} {state.truth}",
        f"{words['familiarity']} {state.familiarity}",
        f"{words['time']} {state.clock}",
        f"{words['items']}{colon}{items}",
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
    return _ask_among(
        range(1, n + 1), input_fn, out, labels["prompt"].format(n=n), lambda _: labels["invalid"].format(n=n)
    )


def _ask_among(
    valid: Sequence[int] | range,
    input_fn: Callable[..., str],
    out: Console,
    prompt: str,
    invalid: Callable[[str], str],
) -> int | None:
    """Prompt until the answer is one of ``valid``; None on q or end of input."""
    while True:
        _say(out, prompt, end="")
        try:
            answer = input_fn()
        except EOFError:
            _say(out)
            return None
        if not out.is_terminal:  # a transcript (pipe, file, test) shows what was typed
            _say(out, answer)
        answer = answer.strip().rstrip(".。").lstrip("#＃")
        if answer.lower() in QUIT_WORDS:
            return None
        try:
            number = int(answer)  # also takes full-width digits such as "２"
        except ValueError:
            number = 0
        if number in valid:
            return number
        _say(out, invalid(answer), "yellow")


def _characters(story: dict[str, Any]) -> list[dict[str, Any]]:
    characters = story.get("characters") or []
    if not characters:
        raise ValueError(_LABELS[story_lang(story)]["no_characters"])
    return characters


def find_character(story: dict[str, Any], name: str, lang: str | None = None) -> dict[str, Any]:
    """The character with this exact name (or, failing that, this 1-based number); ValueError otherwise,
    its message in ``lang`` (by default the story's language)."""
    characters = _characters(story)
    for character in characters:
        if character["name"] == name:
            return character
    stripped = name.strip()
    if stripped.isdigit() and 1 <= int(stripped) <= len(characters):
        return characters[int(stripped) - 1]
    labels = _LABELS[_lang(lang) if lang else story_lang(story)]
    names = labels["names_sep"].join(labels["quoted"].format(name=c["name"]) for c in characters)
    raise ValueError(labels["no_character"].format(name=labels["quoted"].format(name=name), names=names))


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
            line += labels["protagonist"]
        if character.get("role"):
            line += f"{labels['role_sep']}{character['role']}"
        _say(out, line)
    picked = _ask(len(characters), input_fn, out, lang)
    return None if picked is None else str(characters[picked - 1]["name"])


def menu_lang(lang: str | None = None) -> str:
    """The language of the menus around the stories: ``lang``, else ``GSF_LANG``, else Chinese (the
    default of every screen); never guessed from the stories, so one English story does not turn it."""
    return _lang(lang or os.environ.get("GSF_LANG") or "zh")


def story_lines(summaries: Sequence[dict[str, Any]], lang: str) -> list[str]:
    """One line per library story, numbered by its story id (the id ``play`` and ``export`` take)."""
    labels = _LABELS[_lang(lang)]
    sep = UI_WORDS[_lang(lang)]["list_sep"]
    lines = []
    for summary in summaries:
        characters = summary.get("characters") or []
        names = sep.join(str(c.get("name", "")) for c in characters)
        count = len(characters)
        noun = "character" if count == 1 else "characters"
        title = str(summary.get("title") or "")
        parts = [f"  #{summary['id']} " + (labels["title"].format(title=title) if title else "")]
        parts.append(str(summary.get("city") or ""))
        story_language = summary.get("lang")
        if story_language:
            parts.append(labels["lang_" + _lang(str(story_language))])
        parts.append(str(summary.get("created_at") or "")[:16].replace("T", " "))
        if summary.get("offline"):
            parts.append(labels["offline"])
        parts.append(labels["characters"].format(count=count, noun=noun, names=names))
        lines.append(" · ".join(p.strip() for p in parts if p.strip()))
    return lines


def choose_story(
    summaries: Sequence[dict[str, Any]],
    input_fn: Callable[..., str] = input,
    out: Console | None = None,
    *,
    lang: str | None = None,
) -> int | None:
    """The id of the story the player picks, by its id, from :meth:`Library.list` summaries
    (None = quit or empty). The menu is in ``lang`` (see :func:`menu_lang`)."""
    out = _console(out)
    lang = menu_lang(lang)
    labels = _LABELS[lang]
    if not summaries:
        _say(out, labels["empty"])
        return None
    _say(out, labels["story_menu"], "bold")
    for line in story_lines(summaries, lang):
        _say(out, line)
    ids = [int(s["id"]) for s in summaries]
    return _ask_among(
        ids,
        input_fn,
        out,
        labels["story_prompt"],
        lambda answer: labels["story_invalid"].format(answer=answer),
    )


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
    person = typed.character(str(find_character(story, character, lang)["name"]))
    tree = person.tree
    title = typed.story.title
    _say(out, f"{title}{UI_WORDS[lang]['dash']}{person.name}" if title else person.name, "bold")
    state = runtime.start(tree)
    while True:
        node = tree.nodes[state.node]
        _say(out)
        _say(out, node.narrative)
        _say(out, state_line(state, lang), "dim")
        if node.ending:
            _say(out, ending_line(node.ending.type, node.ending.title, lang), "bold magenta")
            return node.ending.type
        for number, choice in enumerate(node.choices, 1):
            _say(out, f"  {number}. {choice.text}")
        picked = _ask(len(node.choices), input_fn, out, lang)
        if picked is None:
            _say(out, labels["quit"])
            return None
        _say(out)
        words = UI_WORDS[lang]
        _say(out, f"{words['you_chose']}{words['colon']}{node.choices[picked - 1].text}", "italic")
        state, arrival = runtime.take(tree, state, picked - 1)
        if arrival.bridge:
            _say(out, arrival.bridge)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ghost_story_factory.player stories LANG`` with ``ghost-story list --json`` on stdin:
    the lines of the menu's story picker (start_pregenerated_game.sh), the story ids on the first line,
    then one line per story, with no control or escape sequence from a title or a name."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] != "stories":
        print("usage: python -m ghost_story_factory.player stories zh|en < list.json", file=sys.stderr)
        return 2
    summaries = json.loads(sys.stdin.buffer.read() or b"[]")
    lines = [" ".join(str(int(s["id"])) for s in summaries)]
    lines += [clean_line(line, 2000) for line in story_lines(summaries, args[1])]
    sys.stdout.buffer.write(("\n".join(lines) + "\n").encode("utf-8"))
    return 0


def _typed(story: dict[str, Any]) -> Story:
    from .errors import StoryFormatError

    try:
        return load_story(story)
    except StoryFormatError as exc:
        raise ValueError(str(exc)) from None


if __name__ == "__main__":
    sys.exit(main())
