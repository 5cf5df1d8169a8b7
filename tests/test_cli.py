"""The ghost-story command end to end, as a user runs it: real processes in a temp folder."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[1]


def ghost(
    folder: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("GSF_", "OPENAI_"))}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "ghost_story_factory", *args],
        cwd=folder,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
    )


SMALL = ("--max-nodes", "30", "--max-depth", "6", "--checkpoint-every", "5")


def test_generate_list_play_export(tmp_path: Path) -> None:
    made = ghost(tmp_path, "generate", "--city", "上海", "--characters", "保安，调查员", *SMALL, "--json")
    assert made.returncode == 0, made.stderr
    result = orjson.loads(made.stdout)
    assert result["city"] == "上海" and result["characters"] == ["保安", "调查员"]
    assert result["resumed"] is False and result["story_id"] == 1
    assert set(result["nodes"]) == {"保安", "调查员"} and all(n > 1 for n in result["nodes"].values())
    assert result["tokens"] == {"prompt": 0, "completion": 0, "cached": 0, "total": 0}
    assert "离线写作器" in made.stderr  # the offline writer says it is the offline writer
    assert list((tmp_path / "checkpoints").iterdir()) == []  # cleaned up after the save

    listed = orjson.loads(ghost(tmp_path, "list", "--json").stdout)
    assert [s["id"] for s in listed] == [1] and listed[0]["offline"] is True

    played = ghost(tmp_path, "play", "1", "--character", "保安", stdin="1\n" * 40)
    assert played.returncode == 0, played.stderr
    assert "结局" in played.stdout

    exported = ghost(tmp_path, "export", "1", "--format", "json")
    assert exported.returncode == 0, exported.stderr
    story = orjson.loads(exported.stdout)
    assert story["story"]["city"] == "上海" and story["meta"]["offline"] is True
    assert [c["name"] for c in story["characters"]] == ["保安", "调查员"]
    root = story["characters"][0]["tree"]["root"]
    assert story["characters"][0]["tree"]["nodes"][root]["choices"]


def test_killed_run_shows_in_status_and_rerun_resumes(tmp_path: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("GSF_", "OPENAI_"))}
    environment["GSF_OFFLINE_LATENCY_MS"] = "20"
    command = [
        sys.executable,
        "-m",
        "ghost_story_factory",
        "generate",
        "--city",
        "杭州",
        "--characters",
        "主播",
    ]
    process = subprocess.Popen(
        [*command, *SMALL],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    tree = tmp_path / "checkpoints" / "杭州_主播_tree.json"
    deadline = time.monotonic() + 60
    while not tree.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.01)
    process.kill()
    process.wait(timeout=30)
    assert tree.exists(), "the run ended before its first tree checkpoint"
    status = orjson.loads(ghost(tmp_path, "status", "--json").stdout)
    assert [s["city"] for s in status] == ["杭州"] and status[0]["completed"] == 0
    saved = orjson.loads(tree.read_bytes())["tree"]["nodes"].values()
    written = sum(1 for node in saved if node["narrative"] is not None)
    assert status[0]["nodes"]["主播"] == written >= 1  # written nodes, as the resume line counts them
    resumed = ghost(tmp_path, "generate", "--city", "杭州", *SMALL, "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert orjson.loads(resumed.stdout)["resumed"] is True
    assert "「主播」的对话树：已写好" in resumed.stderr and "继续「杭州」上次的生成" in resumed.stderr
    assert orjson.loads(ghost(tmp_path, "status", "--json").stdout) == []


@pytest.mark.parametrize(
    "args",
    [
        ("--city", ""),
        ("--city", "   "),
        ("--city", "../x"),
        ("--city", "a\x1bb"),
        ("--city", "\u200b\u200b"),  # nothing visible
        ("--city", "上海", "--characters", "A,A"),
        ("--city", "上海", "--max-nodes", "many"),
        ("--city", "上海", "--backend", "gpt"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = ghost(tmp_path, "generate", *args)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_python_m_and_console_script_are_the_same_command(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("ghost-story")
    out = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.startswith("ghost-story ")
    assert ghost(tmp_path, "--version").stdout == out.stdout


def test_play_and_export_of_a_missing_story_fail_in_one_line(tmp_path: Path) -> None:
    for args in (("play", "1"), ("export", "7", "--format", "json"), ("export", "x")):
        result = ghost(tmp_path, *args)
        assert result.returncode in (1, 2)
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr


def test_a_version_1_checkpoint_is_refused_in_one_line_and_left_in_place(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    old = {"format_version": 1, "kind": "characters", "city": "上海", "run_id": "r", "settings": {},
           "documents": {}, "characters": [{"name": "保安"}], "completed": {}}  # fmt: skip
    path = folder / "上海_characters.json"
    path.write_bytes(orjson.dumps(old))
    made = ghost(tmp_path, "generate", "--city", "上海", *SMALL)
    assert made.returncode == 1
    lines = [line for line in made.stderr.splitlines() if line.startswith("error")]
    assert len(lines) == 1 and "older version" in lines[0] and "Traceback" not in made.stderr
    assert "run the same command again" not in made.stderr
    assert path.read_bytes() == orjson.dumps(old), "the old checkpoint must stay for the old version"


def test_characters_take_a_role_and_the_plan_gives_the_others_one(tmp_path: Path) -> None:
    made = ghost(
        tmp_path, "generate", "--city", "杭州", "--characters", "书生：落第的读书人、船娘", *SMALL, "--json"
    )
    assert made.returncode == 0, made.stderr
    story = orjson.loads(ghost(tmp_path, "export", "1", "--format", "json").stdout)
    roles = {c["name"]: c["role"] for c in story["characters"]}
    assert roles["书生"] == "落第的读书人" and roles["船娘"].strip()
    beats = story["characters"][0]["plan"]["beats"]
    assert [b["depth"] for b in beats] == list(range(7)) and all(0 <= b["tension"] <= 100 for b in beats)
