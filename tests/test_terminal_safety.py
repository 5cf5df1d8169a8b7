"""No text from a writer or a user reaches the terminal as a control sequence: the player in a real pty."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import orjson
from story_samples import sample_story

from ghost_story_factory.library import Library
from ghost_story_factory.text import clean_line, clean_text

PAYLOADS = [
    "\x1b]0;pwned-title\x07",  # OSC: sets the window title
    "\x1b[2J\x1b[H",  # CSI: clears the screen
    "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\",  # OSC 8 hyperlink
    "\x1b[8m",  # hidden text
    "\u202egnp.exe",  # bidi override
    "\x9b31m",  # C1 CSI
    "\x00\x07\x08",
]


def test_clean_text_removes_every_sequence_and_keeps_the_words() -> None:
    for payload in PAYLOADS:
        cleaned = clean_text(f"before {payload} after")
        assert "\x1b" not in cleaned and "\x9b" not in cleaned and "\u202e" not in cleaned
        assert not any(ord(ch) < 32 and ch != "\n" for ch in cleaned)
        assert cleaned.startswith("before") and cleaned.endswith("after")
    assert clean_line("a\nb\tc  d", 5) == "a b c"


def _pty_run(args: list[str], cwd: Path, answers: str) -> bytes:
    main, child = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GSF_", "OPENAI_"))}
    env.update(TERM="xterm-256color", COLUMNS="120", LINES="40")
    process = subprocess.Popen(args, cwd=cwd, stdin=child, stdout=child, stderr=child, env=env)
    os.close(child)
    output = b""
    os.write(main, answers.encode())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(main, 65536)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        elif process.poll() is not None:
            break
    process.wait(timeout=30)
    os.close(main)
    return output


def test_the_player_in_a_pty_shows_hostile_names_and_text_without_escape_sequences(tmp_path: Path) -> None:
    story = sample_story()
    hostile = "".join(PAYLOADS)
    character = story["characters"][0]
    root = character["tree"]["nodes"][character["tree"]["root"]]
    root["narrative"] = f"你站在大堂里。{hostile}三楼有脚步声。"
    root["choices"][0]["text"] = f"上楼{hostile}看看"
    story["story"]["title"] = f"午夜{hostile}大楼"
    with Library(tmp_path / "lib.db") as library:
        story_id = library.save(story)
    output = _pty_run(
        [sys.executable, "-m", "ghost_story_factory", "play", str(story_id), "--character", character["name"],
         "--db", "lib.db"],
        tmp_path,
        "q\n",
    )  # fmt: skip
    text = output.decode("utf-8", "replace")
    assert "三楼有脚步声" in text and "上楼" in text, text  # the words are shown
    for forbidden in ("\x1b]0;", "\x1b[2J", "\x1b]8;", "\x1b[8m", "\u202e", "pwned-title\x07"):
        assert forbidden not in text, (forbidden, text[:500])
    assert orjson.dumps(story)  # the library kept the story as it was given (the data is not the screen)


def test_clean_text_drops_lone_surrogates_as_characters_and_as_json_escapes() -> None:
    import json

    raw = '{"a": "x\\ud800y", "b": "\\ud83d\\ude00", "c": "\\\\ud800 stays text", "d": "\\udc00\\ud800"}'
    data = json.loads(clean_text(raw))  # a reply that no JSON parser would have decoded whole
    assert data == {"a": "xy", "b": "😀", "c": "\\ud800 stays text", "d": ""}
    assert clean_text("a\ud800b\udfffc") == "abc"


def test_clean_text_drops_the_byte_order_mark_and_makes_every_line_break_a_newline() -> None:
    assert clean_text("\ufeff=== end") == "=== end"
    assert clean_text("a\u2028b\u2029c\r\nd\re") == "a\nb\nc\nd\ne"
