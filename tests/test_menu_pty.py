"""The menu of start_pregenerated_game.sh in a real terminal (a pty it controls, so Ctrl+C is a signal from
the line discipline and the screen is exactly what a player sees): answers checked as typed, in the
chosen language; Ctrl+C in a generation pauses it; a finished game waits for a key; the cursor comes back."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import termios
import time
from pathlib import Path

import orjson
import pytest
from story_samples import sample_story

from ghost_story_factory.library import Library

REPO = Path(__file__).resolve().parents[1]
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>]")
CURSOR = re.compile(r"\x1b\[\?25([hl])")
SAFETY = 90.0  # seconds: a hung menu fails the test instead of hanging the suite (not a speed check)


def menu_folder(folder: Path) -> Path:
    """The script and its words in a folder of their own, with a .venv whose parts are this checkout's
    installed .venv (the stamp is the folder's own, so the script never reinstalls)."""
    for name in ("start_pregenerated_game.sh", "start_pregenerated_game.tsv", "pyproject.toml"):
        shutil.copy(REPO / name, folder / name)
    venv = folder / ".venv"
    venv.mkdir()
    for part in ("bin", "lib", "lib64", "include", "pyvenv.cfg"):
        if (REPO / ".venv" / part).exists():
            (venv / part).symlink_to(REPO / ".venv" / part)
    os.utime(folder / "pyproject.toml", (0, 0))
    (venv / ".ghost-story-installed").touch()  # newer than pyproject.toml: no install
    return folder


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GSF_", "OPENAI_"))}
    env.update(TERM="xterm-256color", COLUMNS="120", LINES="40", LANG="C.UTF-8", LC_ALL="C.UTF-8")
    env.update(extra)
    return env


def screen(raw: str) -> str:
    """What the terminal shows, without its control sequences and carriage returns."""
    return ANSI.sub("", raw).replace("\r", "")


def last_cursor_sequence(raw: str) -> str | None:
    """The last cursor show/hide sequence written: "h" (shown) or "l" (hidden)."""
    found = CURSOR.findall(raw)
    return found[-1] if found else None


class Terminal:
    """One process in a pty of 120x40 columns; :meth:`expect` waits for text on the screen."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: a session leader whose controlling terminal is the pty
            try:
                os.chdir(cwd)
                os.execvpe(args[0], args, env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        self.raw = b""
        self._mark = 0  # expect() looks for text after the previous match
        self.returncode: int | None = None

    @property
    def text(self) -> str:
        return self.raw.decode("utf-8", "replace")

    def _read(self, wait: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], wait)
        if not ready:
            return True
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:  # EIO: every process holding the pty has ended
            return False
        self.raw += chunk
        return bool(chunk)

    def expect(self, text: str) -> str:
        """Wait until ``text`` is on the screen after the previous match; returns the screen up to it."""
        deadline = time.monotonic() + SAFETY
        while True:
            shown = screen(self.text)
            found = shown.find(text, self._mark)
            if found >= 0:
                before = shown[self._mark : found]
                self._mark = found + len(text)
                return before
            if time.monotonic() > deadline or not self._read(0.2):
                raise AssertionError(f"never shown: {text!r}; the screen ends with:\n{shown[-3000:]}")

    def seen(self) -> str:
        """Everything shown after the last match, as far as it has arrived now."""
        while True:
            ready, _, _ = select.select([self.fd], [], [], 0)
            if not ready or not self._read(0):
                break
        return screen(self.text)[self._mark :]

    def send(self, text: str) -> None:
        os.write(self.fd, text.encode("utf-8"))

    def wait(self) -> int:
        """Read to the end and reap the process; its exit code."""
        while self._read(0.5):
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
                while self._read(0.2):
                    pass
                break
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        os.close(self.fd)
        return self.returncode

    def children(self) -> list[int]:
        """The pids of the processes the menu started and that still run."""
        path = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        return [int(p) for p in path.read_text().split()]


def start_menu(folder: Path, **env: str) -> Terminal:
    return Terminal(["bash", "start_pregenerated_game.sh"], folder, clean_env(**env))


# -- the tests --------------------------------------------------------------------------------------

WORDS = {
    "zh": {
        "title": "👻 鬼故事工厂",
        "city": "城市：",
        "characters": "角色（逗号分隔",
        "city_empty": "城市不能为空：请输入一个城市名",
        "character_empty": "有一个角色名是空的：检查逗号",
        "character_twice": "角色「甲」写了两次",
        "bye": "再见",
        "paused": "⏸  已暂停：选 2 并输入同一个城市「{city}」即可继续",
        "resuming": "✅ 发现「{city}」的检查点，将从断点继续",
        "start": "开始生成？[Y/n]",
        "any_key": "按任意键返回菜单…",
        "story_prompt": "故事编号（直接回车返回菜单）：",
        "ended": "⚠️  生成意外结束（退出码 137）",
    },
    "en": {
        "title": "👻 Ghost Story Factory",
        "city": "city: ",
        "characters": "characters (comma-separated",
        "city_empty": "the city cannot be empty: type a city name",
        "character_empty": "one character name is empty: check the commas",
        "character_twice": "the character “甲” is named twice",
        "bye": "bye",
        "paused": "⏸  paused: choose 2 and the same city (“{city}”) to continue",
        "resuming": "✅ checkpoints found for “{city}”: resuming",
        "start": "start generating? [Y/n]",
        "any_key": "press any key to return to the menu...",
        "story_prompt": "story number (Enter for the menu): ",
        "ended": "⚠️  the generation ended unexpectedly (exit code 137)",
    },
}
SLOW = {
    "GSF_OFFLINE_LATENCY_MS": "150",
    "GSF_MAX_NODES": "60",
    "GSF_CHECKPOINT_EVERY": "5",
    "GSF_CONCURRENCY": "2",
}


def english_words(text: str) -> list[str]:
    """Latin words of two letters or more: none belongs on a zh screen."""
    return re.findall(r"[A-Za-z]{2,}", text)


def library_stories(folder: Path) -> list[dict[str, object]]:
    done = subprocess.run(
        [str(REPO / ".venv" / "bin" / "ghost-story"), "list", "--json"], cwd=folder, capture_output=True,
        env=clean_env(), timeout=120, check=True,
    )  # fmt: skip
    return list(orjson.loads(done.stdout))


@pytest.mark.parametrize(("choice", "lang"), [("1", "zh"), ("2", "en")])
def test_the_menu_asks_the_language_once_and_checks_each_answer_as_it_is_typed(
    tmp_path: Path, choice: str, lang: str
) -> None:
    words = WORDS[lang]
    menu = start_menu(menu_folder(tmp_path))
    menu.expect("语言 / Language")
    menu.send(choice + "\r")
    menu.expect(words["title"])
    menu.send("2\r")
    menu.expect(words["city"])
    menu.send("\r")  # empty: refused at once, before the characters are asked
    before = menu.expect(words["city_empty"])
    assert words["characters"] not in before
    menu.expect(words["city"])
    menu.send("  \r")  # only spaces are empty too
    menu.expect(words["city_empty"])
    menu.expect(words["city"])
    menu.send("苏州\r")
    menu.expect(words["characters"])
    menu.send("甲,,乙\r")
    menu.expect(words["character_empty"])
    menu.expect(words["characters"])
    menu.send("甲,甲\r")
    menu.expect(words["character_twice"])
    menu.expect(words["characters"])
    menu.send("\x03")  # Ctrl+C at a question: back to the menu, not out of it
    menu.expect(words["title"])
    menu.send("q\r")
    menu.expect(words["bye"])
    assert menu.wait() == 0
    assert last_cursor_sequence(menu.text) == "h"
    shown = screen(menu.text)
    assert "语言 / Language" in shown and shown.count("语言 / Language") == 1  # asked once
    if lang == "zh":
        after_choice = shown[shown.index(words["title"]) :]
        assert english_words(after_choice) == [], after_choice
    else:
        assert "城市" not in shown and "再见" not in shown


def test_ctrl_c_in_a_menu_generation_pauses_it_and_2_with_the_same_city_continues(tmp_path: Path) -> None:
    folder = menu_folder(tmp_path)
    words = WORDS["zh"]
    menu = start_menu(folder, GSF_LANG="zh", **SLOW)  # GSF_LANG chose the language: no question
    menu.expect(words["title"])
    menu.send("2\r")
    menu.expect(words["city"])
    menu.send("绍兴\r")
    menu.expect(words["characters"])
    menu.send("船娘:摆渡的女人\r")
    menu.expect(words["start"])
    menu.send("\r")
    menu.expect("💾")  # a checkpoint is on disk
    menu.send("\x03")
    menu.expect(words["paused"].format(city="绍兴"))
    menu.expect(words["title"])  # still in the menu
    assert last_cursor_sequence(menu.text) == "h"
    assert "bye" not in menu.seen() and "再见" not in menu.seen()
    assert library_stories(folder) == []
    menu.send("2\r")
    menu.expect(words["city"])
    menu.send("绍兴\r")
    menu.expect(words["resuming"].format(city="绍兴"))
    menu.expect(words["characters"])
    menu.send("船娘:摆渡的女人\r")
    menu.expect(words["start"])
    menu.send("\r")
    menu.expect("↩️")  # the generation continues from its checkpoints
    menu.expect(words["title"])
    menu.send("q\r")
    assert menu.wait() == 0
    assert last_cursor_sequence(menu.text) == "h"
    stories = library_stories(folder)
    assert [s["city"] for s in stories] == ["绍兴"]
    zh_screen = screen(menu.text)
    assert "run the same command" not in zh_screen and "interrupted" not in zh_screen


def test_a_city_with_a_finished_story_asks_before_generating_another(tmp_path: Path) -> None:
    folder = menu_folder(tmp_path)
    with Library(folder / "ghost_stories.db") as library:
        story_id = library.save(sample_story("上海", "zh", 1))
    menu = start_menu(folder, GSF_LANG="zh", GSF_MAX_NODES="20")
    menu.expect(WORDS["zh"]["title"])
    menu.send("2\r")
    menu.expect(WORDS["zh"]["city"])
    menu.send("上海\r")
    menu.expect(f"「上海」已经有一个完成的故事（编号 {story_id}）。再生成一个新的？[y/N]")
    menu.send("\r")
    menu.expect("未生成：选 1 可以玩已有的故事")
    menu.expect(WORDS["zh"]["title"])
    assert len(library_stories(folder)) == 1
    menu.send("2\r")
    menu.expect(WORDS["zh"]["city"])
    menu.send("上海\r")
    menu.expect("再生成一个新的？[y/N]")
    menu.send("y\r")  # yes: the menu asks the command for a new story (generate --new)
    menu.expect(WORDS["zh"]["characters"])
    menu.send("保安\r")
    menu.expect(WORDS["zh"]["start"])
    menu.send("\r")
    menu.expect("💾 [角色检查点]")
    menu.expect(WORDS["zh"]["title"])
    menu.send("q\r")
    assert menu.wait() == 0
    assert [s["city"] for s in library_stories(folder)] == ["上海", "上海"]


def test_the_menu_finds_the_finished_story_of_a_city_typed_in_another_case(tmp_path: Path) -> None:
    """The menu matches a city as generate does (case and Unicode form folded), so it asks first."""
    folder = menu_folder(tmp_path)
    with Library(folder / "ghost_stories.db") as library:
        story_id = library.save(sample_story("Paris", "en", 1))
    menu = start_menu(folder, GSF_LANG="en", GSF_MAX_NODES="20")
    menu.expect(WORDS["en"]["title"])
    menu.send("2\r")
    menu.expect(WORDS["en"]["city"])
    menu.send("paris\r")
    menu.expect(f"“paris” already has a finished story (number {story_id}). Generate a new one? [y/N]")
    menu.send("\r")
    menu.expect("not generated: choose 1 to play the story you have")
    menu.expect(WORDS["en"]["title"])
    menu.send("q\r")
    assert menu.wait() == 0
    assert len(library_stories(folder)) == 1


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_game_played_from_the_menu_speaks_one_language_and_waits_for_a_key_at_its_end(
    tmp_path: Path, lang: str
) -> None:
    folder = menu_folder(tmp_path)
    story = sample_story("上海", "zh", 1) if lang == "zh" else sample_story("London", "en", 1)
    with Library(folder / "ghost_stories.db") as library:
        other_id = library.save(
            sample_story("London", "en", 1) if lang == "zh" else sample_story("上海", "zh", 1)
        )
        story_id = library.save(story)
    words = WORDS[lang]
    menu = start_menu(folder, GSF_LANG=lang)
    menu.expect(words["title"])
    menu.send("1\r")
    menu.expect(words["story_prompt"])
    menu.send("99\r")  # not an id in the list
    menu.expect("99")
    menu.expect(words["story_prompt"])
    menu.send(f"{story_id}\r")
    for _ in range(3):  # the first choice, three times, reaches the sample's first ending
        menu.expect("q")
        menu.send("1\r")
    menu.expect("结局：真相大白" if lang == "zh" else "Ending: Truth revealed")
    menu.expect(words["any_key"])
    assert words["title"] not in menu.seen()  # the ending stays on the screen
    menu.send("x")
    menu.expect(words["title"])
    menu.send("q\r")
    assert menu.wait() == 0
    shown = screen(menu.text)
    game = shown[shown.index(words["story_prompt"]) : shown.rindex(words["any_key"])]
    assert f"#{other_id} " in shown  # the other language's story is listed in this one's words
    if lang == "zh":  # every word but the English story's own title and names
        assert english_words("\n".join(x for x in shown.splitlines() if f"#{other_id} " not in x)) == [], (
            shown
        )
        assert "你选择了：" in game and "选择（1-3，q 退出）：" in game and "：" in game
        assert ": " not in game and "(" not in game
    else:
        assert not re.search(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]", game), game
        assert "You chose: " in game and "Choose (1-3, q to quit): " in game


@pytest.mark.parametrize("how", ["q", "end of input", "ctrl+c", "child killed"])
def test_the_cursor_is_shown_again_on_every_way_out(tmp_path: Path, how: str) -> None:
    folder = menu_folder(tmp_path)
    words = WORDS["en"]
    menu = start_menu(folder, GSF_LANG="en", **SLOW)
    menu.expect(words["title"])
    if how == "child killed":
        menu.send("2\r")
        menu.expect(words["city"])
        menu.send("Rye\r")
        menu.expect(words["characters"])
        menu.send("Mara\r")
        menu.expect(words["start"])
        menu.send("\r")
        menu.expect("💾")
        assert last_cursor_sequence(menu.text) == "l"  # the progress bar hid it
        (child,) = menu.children()
        os.kill(child, 9)
        menu.expect(words["ended"])
        menu.expect(words["title"])
        assert last_cursor_sequence(menu.text) == "h"
        menu.send("q\r")
    elif how == "q":
        menu.send("q\r")
    elif how == "end of input":
        menu.send("\x04")
    else:
        menu.expect("> ")  # at the prompt (a Ctrl+C before it only tells the menu nothing is asked)
        menu.send("\x03")
    menu.expect(words["bye"])
    assert menu.wait() == 0
    assert last_cursor_sequence(menu.text) == "h"


def test_a_zh_generation_shows_its_progress_and_warnings_in_zh(tmp_path: Path) -> None:
    """The screens of generate itself (progress line, bar, checkpoints, a lock taken over from a
    killed run) through the real command in a terminal, up to the story's own summary."""
    from ghost_story_factory.pregenerator.checkpoints import CheckpointStore

    store = CheckpointStore(tmp_path / "checkpoints", "杭州", lambda _: None)
    store.lock_path.parent.mkdir(parents=True)
    store.lock_path.write_bytes(b'{"pid": 999999, "host": "box", "started_at": "2026-01-01T00:00:00Z"}')
    command = [
        str(REPO / ".venv" / "bin" / "ghost-story"),
        "generate",
        "--city",
        "杭州",
        "--characters",
        "白娘子:蛇妖",
    ]
    run = Terminal(command, tmp_path, clean_env(GSF_LANG="zh", **SLOW))
    run.expect("⚠️  接管了一个已结束进程留下的锁（进程 999999，主机 box，2026-01-01T00:00:00Z 启动）")
    run.expect("第 ")  # the bar: depth and queue in zh
    run.expect(" 层 · 待写 ")
    run.expect(" 词元 · ")
    mine = run.expect("💾 [角色检查点] 已保存 1/1 个角色")
    assert run.wait() == 0
    assert "✅ 「白娘子」的对话树生成完成" in mine and "结局 " in mine
    shown = screen(run.text)
    ours = shown[: shown.index("💾 [角色检查点]")]
    ours = re.sub(r"\S*/\S*|OPENAI_API_KEY|主机 box", "", ours)  # file paths, a variable, the host
    assert english_words(ours) == [], ours


def test_generate_stopped_by_ctrl_c_shows_the_cursor_it_hid(tmp_path: Path) -> None:
    """Without the menu around it: the bar hid the cursor, the run ends on Ctrl+C, the cursor is back."""
    command = [
        str(REPO / ".venv" / "bin" / "ghost-story"),
        "generate",
        "--city",
        "Rye",
        "--characters",
        "Mara",
    ]
    run = Terminal(command, tmp_path, clean_env(GSF_LANG="en", **SLOW))
    run.expect("💾")
    assert last_cursor_sequence(run.text) == "l"
    run.send("\x03")
    assert run.wait() == 130
    assert last_cursor_sequence(run.text) == "h"
