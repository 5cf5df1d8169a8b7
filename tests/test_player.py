"""The terminal player driven by scripted input, as a pipe would drive it."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson
import pytest
from rich.console import Console
from story_samples import (
    ALWAYS_FIRST_ENDING,
    ALWAYS_LAST_ENDING,
    CONVERGED_NODE,
    sample_story,
    sample_story_emoji,
)

from ghost_story_factory.library import Library
from ghost_story_factory.player import choose_character, choose_story, play

Policy = Callable[[int], int]
FIRST: Policy = lambda n: 1  # noqa: E731
LAST: Policy = lambda n: n  # noqa: E731


def console() -> Console:
    return Console(file=io.StringIO(), width=200, color_system=None, highlight=False)


def text_of(out: Console) -> str:
    return out.file.getvalue()  # type: ignore[attr-defined]


def scripted(answers: Iterable[str]) -> Callable[[], str]:
    """An input function that answers from a list and then behaves like a closed pipe."""
    remaining = iter(answers)

    def input_fn(*_prompt: str) -> str:
        try:
            return next(remaining)
        except StopIteration:
            raise EOFError from None

    return input_fn


def walk(tree: dict[str, Any], policy: Policy) -> tuple[list[str], str, list[str]]:
    """Follow a policy through the exported graph: the answers, the ending type, the nodes visited."""
    answers, visited = [], [tree["root"]]
    node = tree["nodes"][tree["root"]]
    while not node["ending"]:
        pick = policy(len(node["choices"]))
        answers.append(str(pick))
        visited.append(node["choices"][pick - 1]["next"])
        node = tree["nodes"][visited[-1]]
    return answers, node["ending"]["type"], visited


def character_tree(story: dict[str, Any], index: int = 0) -> dict[str, Any]:
    return story["characters"][index]["tree"]


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize(("policy", "expected"), [(FIRST, ALWAYS_FIRST_ENDING), (LAST, ALWAYS_LAST_ENDING)])
def test_scripted_choices_reach_the_ending_the_graph_reaches(
    lang: str, policy: Policy, expected: str
) -> None:
    story = sample_story(lang=lang)
    for index, character in enumerate(story["characters"]):
        answers, ending, visited = walk(character_tree(story, index), policy)
        assert ending == expected
        out = console()
        assert play(story, character["name"], input_fn=scripted(answers), out=out) == ending
        shown = text_of(out)
        for node_id in visited:  # every narrative on the way, in order
            narrative = character["tree"]["nodes"][node_id]["narrative"]
            assert narrative in shown
        final = character["tree"]["nodes"][visited[-1]]["ending"]
        assert final["title"] in shown


def test_always_one_from_a_pipe_like_input_ends_and_shows_the_ending_label() -> None:
    out = console()
    result = play(sample_story(), "保安", input_fn=scripted(["1"] * 50), out=out)
    assert result == ALWAYS_FIRST_ENDING == "truth_revealed"
    shown = text_of(out)
    assert "结局：真相大白——她的名字" in shown
    assert "选择（1-3，q 退出）：1" in shown  # a transcript shows the answers typed


def test_english_labels_follow_the_story_language_or_the_override() -> None:
    out = console()
    assert play(sample_story("London", "en"), None, input_fn=scripted(["1", "3", "2"]), out=out) == "escape"
    shown = text_of(out)
    assert "Ending: Escaped — Wind in the street" in shown
    assert "Fear 5 · Truth 0 · Familiarity 0 · Time 00:00 · Items: flashlight" in shown
    out = console()
    play(sample_story(), "保安", input_fn=scripted(["2"]), out=out, lang="en")
    assert "Ending: Trapped — 锁住的门" in text_of(out)


def test_the_state_line_shows_the_players_own_path_and_the_bridge_of_their_choice() -> None:
    """Into a node written for another path: the state shown is what THIS path did, never the node's
    stored state, and the bridge written for this choice comes before the node's narrative."""
    story = sample_story()
    tree = character_tree(story)
    root, via = tree["nodes"][tree["root"]], tree["nodes"]["node_0001"]
    first, second = root["choices"][0], via["choices"][1]
    assert first["next"] == "node_0001" and second["next"] == CONVERGED_NODE
    out = console()
    assert play(story, "保安", input_fn=scripted(["1", "2", "q"]), out=out) is None
    start = root["state"]
    fear = min(100, max(0, start["PR"] + first["consequences"]["PR"] + second["consequences"]["PR"]))
    truth = min(100, max(0, start["GR"] + first["consequences"]["GR"] + second["consequences"]["GR"]))
    familiarity = min(100, max(0, start["WF"] + first["consequences"]["WF"] + second["consequences"]["WF"]))
    clock = min(240, first["consequences"]["minutes"] + second["consequences"]["minutes"])
    items = list(
        dict.fromkeys(
            [*start["inventory"], *first["consequences"]["items"], *second["consequences"]["items"]]
        )
    )
    stored = tree["nodes"][CONVERGED_NODE]["state"]
    expected = (
        f"场景：{stored['scene']} · 恐惧 {fear} · 真相 {truth} · 熟悉 {familiarity}"
        f" · 时间 {clock // 60:02d}:{clock % 60:02d} · 物品：{'、'.join(items) or '无'}"
    )
    shown = text_of(out)
    assert expected in shown, shown
    stored_line = f"恐惧 {stored['PR']} · 真相 {stored['GR']} · 熟悉 {stored['WF']} · 时间 {stored['time']}"
    assert stored_line not in expected, "the sample must make the two differ, or the test proves nothing"
    assert stored_line not in shown
    assert second["bridge"] and shown.index(second["bridge"]) < shown.index(
        tree["nodes"][CONVERGED_NODE]["narrative"]
    )
    assert "你选择了：" + second["text"] in shown


def test_items_list_and_empty_items() -> None:
    story = sample_story()
    out = console()
    play(story, "保安", input_fn=scripted(["1", "1", "1"]), out=out)
    assert "物品：手电筒、录像带" in text_of(out)
    for node in character_tree(story)["nodes"].values():
        node["state"]["inventory"] = []
    out = console()
    play(story, "保安", input_fn=scripted(["2"]), out=out)
    assert "物品：无" in text_of(out)


def test_invalid_input_re_prompts_until_a_valid_number() -> None:
    out = console()
    answers = ["", "abc", "0", "4", "-1", "1.5", " 3 ", "9", "２"]  # then 3 at the root, ２ (full width)
    assert play(sample_story(), "保安", input_fn=scripted(answers), out=out) == "escape"
    shown = text_of(out)
    assert shown.count("请输入 1 到 3 之间的数字，或输入 q 退出。") == 6
    assert shown.count("请输入 1 到 2 之间的数字，或输入 q 退出。") == 1
    assert shown.count("选择（1-3，q 退出）：") == 7


@pytest.mark.parametrize("word", ["q", "Q", " quit ", "exit", "退出"])
def test_q_quits_and_returns_none(word: str) -> None:
    out = console()
    assert play(sample_story(), "保安", input_fn=scripted(["1", word, "1", "1"]), out=out) is None
    shown = text_of(out)
    assert "已退出。" in shown
    assert "结局" not in shown


def test_end_of_input_quits_cleanly() -> None:
    out = console()
    assert play(sample_story(), "保安", input_fn=scripted(["1"]), out=out) is None
    assert "已退出。" in text_of(out)


def test_real_input_reading_piped_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("x\n3\n2\n"))
    out = console()
    assert play(sample_story(), "保安", out=out) == "escape"  # input_fn defaults to input()
    monkeypatch.setattr(sys, "stdin", io.StringIO("1\n"))
    assert play(sample_story(), "保安", out=console()) is None  # EOF on the pipe


def test_a_subprocess_with_piped_stdin_plays_to_the_end(tmp_path: Path) -> None:
    story_file = tmp_path / "story.json"
    story_file.write_bytes(orjson.dumps(sample_story_emoji()))
    script = (
        "import sys, orjson\n"
        "from ghost_story_factory.player import play\n"
        "story = orjson.loads(open(sys.argv[1], 'rb').read())\n"
        "print('RESULT', play(story, None))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(story_file)],
        input="2\n" + "1\n" * 20,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        env={"PYTHONIOENCODING": "utf-8", "PATH": "", "TERM": "xterm-256color", "COLUMNS": "120"},
    )
    assert done.returncode == 0, done.stderr
    assert "RESULT truth_revealed" in done.stdout
    assert "\x1b[" not in done.stdout  # no colour codes in a pipe
    assert "[bold]👻 红衣[/bold]·午夜大楼——👻 红衣女" in done.stdout  # markup-like text shown literally
    assert "结局：真相大白" in done.stdout


def test_several_characters_and_none_given_asks_which() -> None:
    story = sample_story("上海", "zh", 3)
    out = console()
    result = play(story, None, input_fn=scripted(["7", "2", "2"]), out=out)
    assert result == "trapped"
    shown = text_of(out)
    assert "1. 保安（主角）——夜班保安" in shown
    assert "3. 夜班护士——夜班夜班护士" in shown
    assert "请输入 1 到 3 之间的数字，或输入 q 退出。" in shown
    assert "午夜大楼——清洁工" in shown  # the second character is the one played


def test_choose_character_quit_and_single_character() -> None:
    story = sample_story("上海", "zh", 2)
    out = console()
    assert choose_character(story, scripted(["q"]), out) is None
    assert play(story, None, input_fn=scripted([]), out=console()) is None  # EOF at the menu
    single = sample_story("上海", "zh", 1)
    assert choose_character(single, scripted([]), console()) == "保安"  # no question asked
    assert play(single, None, input_fn=scripted(["2"]), out=console()) == "trapped"


def test_a_character_by_number_and_an_unknown_name() -> None:
    story = sample_story_emoji(3)
    out = console()
    assert play(story, "2", input_fn=scripted(["2"]), out=out) == "trapped"
    assert "——👻 红衣女" in text_of(out)
    with pytest.raises(ValueError) as caught:
        play(story, "老王", input_fn=scripted(["1"]), out=console())
    message = str(caught.value)
    assert "「老王」" in message and "没有角色" in message  # in the story's language, zh quotes
    for character in story["characters"]:
        assert f"「{character['name']}」" in message


def test_a_broken_graph_is_a_value_error() -> None:
    story = sample_story()
    del story["characters"][0]["tree"]["nodes"]["node_0002"]
    with pytest.raises(ValueError, match="missing node 'node_0002'"):
        play(story, "保安", input_fn=scripted(["2"]), out=console())


def test_choose_story_by_story_id_in_the_menu_language_whatever_the_stories_languages(tmp_path: Path) -> None:
    with Library(tmp_path / "stories.db") as lib:
        assert choose_story(lib.list(), scripted(["1"]), out=(out := console()), lang="zh") is None
        assert "故事库是空的" in text_of(out)
        first = lib.save(sample_story("上海", "zh", 2))
        second = lib.save(sample_story_emoji(3))
        english = lib.save(sample_story("London", "en"))
        summaries = lib.list()
    out = console()
    # "x" and the position "3" are refused: the answer is a story id, the id play and export take
    assert choose_story(summaries, scripted(["x", "9", f"#{first}"]), out, lang="zh") == first
    shown = text_of(out)
    assert "选择故事（按编号）：" in shown  # one English story does not turn the menu English
    assert f"#{second} 《[bold]👻 红衣[/bold]·午夜大楼》 · 香港🌃 · 中文" in shown
    assert f"#{english} 《" in shown and " · 英文 · " in shown
    assert "3 个角色：🔦 保安、👻 红衣女、🧹清洁工" in shown
    assert "没有编号为 9 的故事" in shown
    assert choose_story(summaries, scripted(["q"]), console(), lang="zh") is None
    assert choose_story(summaries, scripted([]), console(), lang="zh") is None
    out = console()
    assert choose_story(summaries, scripted([str(second)]), out, lang="en") == second
    assert "3 characters: 🔦 保安, 👻 红衣女, 🧹清洁工" in text_of(out)
    assert " · Chinese · " in text_of(out) and "Choose a story (by number):" in text_of(out)


def test_an_ending_whose_title_repeats_its_label_is_shown_once() -> None:
    story = sample_story("London", "en")
    for node in character_tree(story)["nodes"].values():
        if node["ending"]:
            node["ending"]["title"] = "Escaped" if node["ending"]["type"] == "escape" else "trapped"
    out = console()
    play(story, None, input_fn=scripted(["1", "3", "2"]), out=out)
    assert "Ending: Escaped\n" in text_of(out)
    out = console()
    play(story, "1", input_fn=scripted(["2"]), out=out)
    assert "Ending: Trapped\n" in text_of(out)


def test_long_lines_are_not_wrapped_when_the_output_is_not_a_terminal() -> None:
    story = sample_story("London", "en")
    long = "The corridor stretches on and on," * 10
    story["characters"][0]["tree"]["nodes"]["node_0000"]["narrative"] = long
    out = Console(file=io.StringIO(), width=40, color_system=None)
    play(story, "Security Guard", input_fn=scripted(["2"]), out=out)
    assert long in text_of(out)
