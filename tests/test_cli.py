"""The ghost-story command as a writer uses it: real SQLite libraries and checkpoint folders in a temp
folder, ``cli.main(argv, env)`` in-process for the many bad-input cases, real processes for the smoke
test, a killed run and the delete confirmation."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from rich.cells import cell_len
from story_samples import sample_story

from ghost_story_factory import cli
from ghost_story_factory.errors import BatchPending
from ghost_story_factory.export import FORMATS
from ghost_story_factory.library import Library

ROOT = Path(__file__).resolve().parents[1]
SMALL = ("--max-nodes", "30", "--max-depth", "6", "--checkpoint-every", "5")


def clean_env(**extra: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("GSF_", "OPENAI_"))}
    environment.update(extra)
    return environment


def ghost(
    folder: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ghost_story_factory", *args],
        cwd=folder,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(**(env or {})),
    )


Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    """``ghost-story ARGS`` in this process, in tmp_path: (exit code, stdout, stderr)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "80")

    def go(*args: str, stdin: str | None = None, **env: str) -> tuple[int, str, str]:
        capsys.readouterr()
        if stdin is not None:
            answers = iter(stdin.splitlines())

            def answer(prompt: str = "") -> str:
                print(prompt, end="")
                try:
                    return next(answers)
                except StopIteration:
                    raise EOFError from None

            monkeypatch.setattr("builtins.input", answer)
        code = cli.main(list(args), {**clean_env(), **env})
        out, err = capsys.readouterr()
        return code, out, err

    return go


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file with its size and time. SQLite's -wal/-shm side files are left out: a reader of a WAL
    database creates them without changing the library."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if not p.name.endswith(("-wal", "-shm"))
    }


# the smoke test: one real process per command -----------------------------------------------------
def test_generate_list_play_export(tmp_path: Path) -> None:
    made = ghost(tmp_path, "generate", "--city", "上海", "--characters", "保安，调查员", *SMALL, "--json")
    assert made.returncode == 0, made.stderr
    result = orjson.loads(made.stdout)
    assert result["city"] == "上海" and result["characters"] == ["保安", "调查员"]
    assert result["resumed"] is False and result["story_id"] == 1
    assert set(result["nodes"]) == {"保安", "调查员"} and all(n > 1 for n in result["nodes"].values())
    assert result["tokens"] == {"prompt": 0, "completion": 0, "cached": 0, "total": 0}
    assert "离线写作器" in made.stderr  # the offline writer says it is the offline writer
    assert "已存入故事库" in made.stderr and "恐惧~规划" in made.stderr  # the zh report table
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


def test_one_bad_input_in_a_real_process_exits_2_in_one_line(tmp_path: Path) -> None:
    result = ghost(tmp_path, "generate", "--city", "a\x1bb")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_python_m_and_console_script_are_the_same_command(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("ghost-story")
    out = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.startswith("ghost-story ")
    assert ghost(tmp_path, "--version").stdout == out.stdout


# a finished city is not paid for twice; an unfinished one still resumes ---------------------------
def test_a_city_with_a_finished_story_is_refused_unless_new(run: Run, tmp_path: Path) -> None:
    assert run("generate", "--city", "杭州", "--characters", "船娘", *SMALL)[0] == 0
    before = snapshot(tmp_path)
    for lang, words in (("zh", "已经有完成的故事"), ("en", "already has a finished story")):
        code, out, err = run("generate", "--city", " 杭州 ", "--characters", "船娘", *SMALL, "--lang", lang)
        assert code == 2 and out == "" and err.count("\n") == 1, err
        assert err.startswith("error: ") and words in err and "--new" in err and "show 1" in err
    code, out, _ = run("generate", "--city", "杭州", *SMALL, "--json")
    assert code == 2 and orjson.loads(out)["existing_story_ids"] == [1]
    assert snapshot(tmp_path) == before, "a refused generate wrote something"
    code, out, _ = run("generate", "--city", "杭州", "--characters", "船娘", *SMALL, "--estimate", "--json")
    assert code == 0 and "estimate" in orjson.loads(out)  # the estimate costs nothing: never refused
    code, out, err = run("generate", "--city", "杭州", "--characters", "船娘", *SMALL, "--new", "--json")
    assert code == 0, err
    assert orjson.loads(out)["story_id"] == 2
    with Library(tmp_path / "ghost_stories.db", read_only=True) as library:
        assert [s["id"] for s in library.list()] == [2, 1]
    code, out, err = run("generate", "--city", "Hangzhou", "--characters", "Mara", *SMALL, "--lang", "en")
    assert code == 0, err  # another city is not affected
    assert "saved to the library ghost_stories.db (ID: 3)" in out and "fear~plan" in out
    report = out[out.index("saved to the library") :].splitlines()  # the progress lines are screens.py's
    assert all(cell_len(line) <= 80 for line in report), report  # the report table fits too
    flat = " ".join(out.split())
    assert "Mara · endings of 1000 random plays: " in flat and "the offline writer (" in flat


def test_a_killed_run_shows_in_status_and_the_rerun_resumes_without_new(tmp_path: Path) -> None:
    first = ghost(tmp_path, "generate", "--city", "杭州", "--characters", "主播", *SMALL)
    assert first.returncode == 0, first.stderr
    environment = clean_env(GSF_OFFLINE_LATENCY_MS="20")
    command = [sys.executable, "-m", "ghost_story_factory", "generate", "--city", "杭州", "--characters",
               "主播", "--new", *SMALL]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=tmp_path, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
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
    zh = ghost(tmp_path, "status", env={"COLUMNS": "80"})
    en = ghost(tmp_path, "status", "--lang", "en", env={"COLUMNS": "80"})
    assert "未完成的生成" in zh.stdout and "已完成角色" in zh.stdout and "杭州" in zh.stdout
    assert "unfinished generations" in en.stdout and "characters done" in en.stdout
    # The city has a finished story, but its unfinished generation resumes without --new.
    resumed = ghost(tmp_path, "generate", "--city", "杭州", *SMALL, "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert orjson.loads(resumed.stdout)["resumed"] is True
    assert "「主播」的对话树：已写好" in resumed.stderr and "继续「杭州」上次的生成" in resumed.stderr
    assert orjson.loads(ghost(tmp_path, "status", "--json").stdout) == []
    assert [s["id"] for s in orjson.loads(ghost(tmp_path, "list", "--json").stdout)] == [2, 1]


# bad input, in-process: exit 2, one line, nothing written ------------------------------------------
@pytest.fixture
def library(tmp_path: Path) -> Path:
    """A library with one zh story (#1, characters 保安 and 调查员) in tmp_path."""
    with Library(tmp_path / "ghost_stories.db") as lib:
        lib.save(sample_story("上海", "zh", 2, names=["保安", "调查员"]))
    return tmp_path / "ghost_stories.db"


BAD_GENERATE: list[tuple[str, ...]] = [
    ("--city", ""),
    ("--city", "   "),
    ("--city", "  \t "),
    ("--city", "\u3000"),  # an ideographic space
    ("--city", "../x"),
    ("--city", "a/b"),
    ("--city", "a\\b"),
    ("--city", "杭州/西湖"),
    ("--city", "a\x07b"),
    ("--city", "a\x1bb"),
    ("--city", "\x1b[31mred"),
    ("--city", "\u200b\u200b"),  # nothing visible
    ("--city", "鬼" * 201),
    ("--city", "上海", "--characters", "A,A"),
    ("--city", "上海", "--characters", "A, A"),
    ("--city", "上海", "--characters", "Zoë,Zoe\u0308"),  # the same name after NFC
    ("--city", "上海", "--characters", "A,,B"),
    ("--city", "上海", "--characters", "A,x/y"),
    ("--city", "上海", "--characters", "x" * 201),
    ("--city", "上海", "--max-nodes", "many"),
    ("--city", "上海", "--max-nodes", "2"),
    ("--city", "上海", "--concurrency", "0"),
    ("--city", "上海", "--branching", "9"),
    ("--city", "上海", "--max-depth", "-1"),
    ("--city", "上海", "--backend", "gpt"),
    ("--city", "上海", "--lang", "fr"),
    ("--characters", "A"),  # no --city
    ("--city", "上海", "--bogus"),
]
BAD_ENV = [{"GSF_CONCURRENCY": "lots"}, {"GSF_GRACE_SECONDS": "inf"}, {"GSF_MAX_NODES": "1e9"}]
BAD_LIBRARY = [
    ("export", "1"),  # no --format: the formats are listed
    ("export", "1", "--format", "pdf"),
    ("export", "7", "--format", "json"),
    ("export", "x", "--format", "json"),
    ("export", "0", "--format", "json"),
    ("export", "1", "--format", "json", "--character", "幽灵"),
    ("export", "1", "--format", "ink", "--character", "幽灵"),
    ("play", "7"),
    ("play", "1", "--character", "幽灵"),
    ("play", "1", "--character", "9"),
    ("show", "7"),
    ("show", "-1"),
    ("delete", "7", "--yes"),
    ("delete", "7"),
    ("list", "--lang", "fr"),
    ("status", "--lang", "fr"),
    ("frobnicate",),
    (),
]


@pytest.mark.parametrize("args", BAD_GENERATE, ids=lambda a: " ".join(a) or "nothing")
def test_bad_generate_input_exits_2_in_one_line_and_writes_nothing(
    run: Run, tmp_path: Path, args: tuple[str, ...]
) -> None:
    code, out, err = run("generate", *args)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("env", BAD_ENV, ids=lambda e: " ".join(f"{k}={v}" for k, v in e.items()))
def test_a_bad_environment_value_exits_2_in_one_line_and_writes_nothing(
    run: Run, tmp_path: Path, env: dict[str, str]
) -> None:
    code, out, err = run("generate", "--city", "上海", **env)
    assert code == 2 and out == "" and err.startswith("error: ") and err.count("\n") == 1, err
    assert next(iter(env)) in err and list(tmp_path.iterdir()) == []


def test_a_checkpoint_dir_that_is_a_file_is_bad_input(run: Run, tmp_path: Path) -> None:
    (tmp_path / "cp").write_text("not a folder")
    code, out, err = run("generate", "--city", "上海", "--checkpoint-dir", "cp", "--lang", "en")
    assert code == 2 and out == "" and err == "error: --checkpoint-dir cp exists and is not a folder\n"
    assert sorted(os.listdir(tmp_path)) == ["cp"]


@pytest.mark.parametrize("args", BAD_LIBRARY, ids=lambda a: " ".join(a) or "nothing")
def test_bad_library_input_exits_2_in_one_line_and_changes_nothing(
    run: Run, library: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    before = snapshot(tmp_path)
    code, out, err = run(*args, stdin="y")
    assert code == 2 and out == "", out
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("args", [("play", "1"), ("export", "1", "--format", "json"), ("show", "1")])
def test_a_missing_library_is_bad_input_and_is_not_created(
    run: Run, tmp_path: Path, args: tuple[str, ...]
) -> None:
    code, _, err = run(*args)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert "还没有故事库" in err and list(tmp_path.iterdir()) == []


def test_errors_are_in_the_language_asked(run: Run, library: Path) -> None:
    assert "没有 ID 为 7 的故事" in run("show", "7")[2]
    assert "no story with id 7" in run("show", "7", "--lang", "en")[2]
    assert "no story with id 7" in run("show", "7", GSF_LANG="en")[2]
    err = run("export", "1", "--format", "json", "--character", "幽灵", "--lang", "en")[2]
    assert "no character named '幽灵'" in err and "保安, 调查员" in err
    assert "它的角色是：保安、调查员" in run("play", "1", "--character", "幽灵")[2]
    err = run("export", "1", "--lang", "en")[2]
    assert all(fmt in err for fmt in FORMATS) and "--format" in err
    # argparse's own messages too: said again in zh, with the same details.
    assert run("generate")[2] == "error: 缺少必需的参数：--city\n"
    assert run("generate", "--lang", "en")[2] == "error: the following arguments are required: --city\n"
    assert "参数 --format 的值 'pdf' 无效，可选：'json'" in run("export", "1", "--format", "pdf")[2]
    assert run("list", "--bogus")[2] == "error: 无法识别的参数：--bogus\n"
    assert run("show", "x")[2] == "error: 参数 ID：故事 ID 必须是正整数，而不是 'x'\n"


# the library: list, show, delete ------------------------------------------------------------------
LONG_ZH = ["穿红嫁衣的新娘子阿秀", "守了四十年夜班的老更夫", "保安"]


@pytest.fixture
def full_library(tmp_path: Path) -> Path:
    with Library(tmp_path / "ghost_stories.db") as lib:
        lib.save(sample_story("乌鲁木齐市天山区老城", "zh", 3, names=LONG_ZH))
        english = sample_story("Edinburgh", "en", 2, names=["Mara the ferrywoman of Leith", "Tom"])
        english["meta"].update(offline=False, backend="openai", model="gpt-4o-mini", cost_usd=0.0123)
        lib.save(english)
    return tmp_path / "ghost_stories.db"


@pytest.mark.parametrize("columns", [80, 60, 120])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_list_fits_the_terminal_and_keeps_names_whole(
    run: Run, full_library: Path, monkeypatch: pytest.MonkeyPatch, lang: str, columns: int
) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    code, out, err = run("list", "--lang", lang)
    assert code == 0, err
    lines = out.splitlines()
    assert all(cell_len(line) <= columns for line in lines), [
        line for line in lines if cell_len(line) > columns
    ]
    for name in [*LONG_ZH, "Tom"]:
        assert any(name in line for line in lines), name  # whole, not cut inside a character
    assert any("乌鲁木齐市天山区老城" in line for line in lines)
    with Library(full_library, read_only=True) as lib:
        for story in lib.list():
            assert any(line.startswith(f"#{story['id']}") and story["title"][:4] in line for line in lines)


def test_list_shows_what_a_writer_chooses_by(run: Run, full_library: Path) -> None:
    code, out, _ = run("list", "--lang", "en")
    assert code == 0
    text = " ".join(out.split())
    for fact in ("Edinburgh", "English", "Chinese", "openai gpt-4o-mini", "$0.0123", "offline writer",
                 "no tokens", "nodes", "endings", "main path", "about", "min"):  # fmt: skip
        assert fact in text, fact
    with Library(full_library, read_only=True) as lib:
        story = lib.list()[0]
    assert story["created_at"][:10] in text
    report = story["characters"][1]["report"]
    assert f"Tom {report['nodes']} nodes · {report['endings']} endings" in text
    zh = " ".join(run("list")[1].split())
    assert "个节点" in zh and "主线" in zh and "离线写作器" in zh and "中文" in zh


def test_list_json_keeps_its_shape_with_the_run_totals_added(run: Run, full_library: Path) -> None:
    code, out, _ = run("list", "--json")
    assert code == 0
    stories = orjson.loads(out)
    assert [s["id"] for s in stories] == [2, 1]
    keys = {
        "id",
        "run_id",
        "city",
        "title",
        "lang",
        "created_at",
        "backend",
        "model",
        "offline",
        "characters",
    }
    assert all(keys | {"tokens", "cost_usd", "calls"} == set(s) for s in stories)
    assert stories[0]["cost_usd"] == 0.0123
    assert run("list", "--json", "--db", "none-here.db")[1].strip() == "[]"


def test_show_prints_the_documents_the_plan_and_the_report(run: Run, full_library: Path) -> None:
    with Library(full_library, read_only=True) as lib:
        story = lib.get(2)
    code, out, err = run("show", "2", "--lang", "en")
    assert code == 0, err
    flat = " ".join(out.split())
    info = story["story"]
    for key in ("synopsis", "lore", "main_story"):
        if info.get(key):
            assert " ".join(info[key].split())[:30] in flat, key
    character = story["characters"][0]
    assert "Character: Mara the ferrywoman of Leith" in flat and "Plan" in flat and "Report:" in flat
    beat = character["plan"]["beats"][0]
    assert f"depth 0 · {beat['title']} (tension {beat['tension']})" in flat
    assert "Ending · " in flat and " / " not in flat.split("Plan", 1)[1].split("Report:", 1)[0]
    zh = " ".join(run("show", "1")[1].split())
    assert "角色：穿红嫁衣的新娘子阿秀" in zh and "规划" in zh and "报告：" in zh and "结局 · " in zh


def test_delete_asks_and_only_yes_deletes(tmp_path: Path, library: Path) -> None:
    for answer in ("n\n", "", "maybe\n"):
        kept = ghost(tmp_path, "delete", "1", stdin=answer)
        assert kept.returncode == 1, kept.stderr
        assert "删除 #1《" in kept.stdout and "[y/N]" in kept.stdout and "未删除" in kept.stderr
        assert [s["id"] for s in orjson.loads(ghost(tmp_path, "list", "--json").stdout)] == [1]
    gone = ghost(tmp_path, "delete", "1", "--lang", "en", stdin="y\n")
    assert gone.returncode == 0, gone.stderr
    assert "Delete #1" in gone.stdout and "deleted #1" in gone.stdout
    assert orjson.loads(ghost(tmp_path, "list", "--json").stdout) == []
    assert ghost(tmp_path, "delete", "1", "--yes").returncode == 2


def test_delete_yes_does_not_ask(run: Run, full_library: Path) -> None:
    code, out, err = run("delete", "2", "--yes", "--lang", "en", stdin="")
    assert code == 0 and "Delete" not in out and "deleted #2" in out, err
    with Library(full_library, read_only=True) as lib:
        assert [s["id"] for s in lib.list()] == [1]


# export: never a flood of JSON into a terminal ------------------------------------------------------
def test_export_without_format_writes_json_only_to_a_file(run: Run, library: Path, tmp_path: Path) -> None:
    code, out, err = run("export", "1", "-o", "story.json")
    assert code == 0 and out == "", err
    assert orjson.loads((tmp_path / "story.json").read_bytes())["story"]["city"] == "上海"
    assert "story.json" in err
    code, out, _ = run("export", "1", "--format", "ink", "-o", "ink/")
    assert code == 0 and sorted(p.suffix for p in (tmp_path / "ink").iterdir()) == [".ink", ".ink"]


def test_export_to_a_terminal_writes_files_into_the_current_folder(
    run: Run, library: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    code, out, err = run("export", "1", "--format", "json")
    assert code == 0 and out == "", out[:200]
    written = [p for p in tmp_path.iterdir() if p.suffix == ".json"]
    assert len(written) == 1 and written[0].name in err


# help a writer can use -------------------------------------------------------------------------------
def test_every_option_of_every_command_says_what_it_takes() -> None:
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices  # noqa: SLF001
    assert set(commands) == {"generate", "status", "list", "show", "play", "export", "delete"}
    for name, sub in commands.items():
        assert sub.description, name
        for action in sub._actions:  # noqa: SLF001
            assert action.help and action.help.strip(), (name, action.dest)
    for option in cli.OPTIONS:
        help_text = cli.option_help(option)
        assert option.env in help_text and "e+" not in help_text
        if option.default is not None and "default" not in option.help:
            assert "[default: " in help_text


def test_help_shows_defaults_ranges_choices_and_the_formats(
    run: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    def helped(*args: str) -> str:
        with pytest.raises(SystemExit) as done:
            cli.main([*args, "--help"], clean_env(GSF_LANG="en"))  # zh help: tests/test_cli_help.py
        assert done.value.code == 0
        return " ".join(capsys.readouterr().out.split())

    generate = helped("generate")
    assert (
        "deepest level of a tree; nodes there are endings (2–200) [default: 20; env GSF_MAX_DEPTH]"
        in generate
    )
    assert "(1–1000000) [default: 50" in generate and "1e+06" not in generate
    assert (
        "--city CITY the city" in generate and "--new" in generate and "(auto / offline / openai)" in generate
    )
    export = helped("export")
    assert (
        all(fmt in export for fmt in FORMATS)
        and "--format {json,ink,yarn,twee,html,dot,mermaid,png,svg}" in export
    )
    assert "--db X" not in export and "[default: ghost_stories.db; env GSF_DB]" in export
    for command in ("status", "list", "play", "show", "delete"):
        assert "[default: " in helped(command), command
    assert "exit codes: 0 done" in helped()


# batches (helper A's --detach) ---------------------------------------------------------------------------
def test_a_detached_batch_says_how_to_collect_it_and_exits_0(
    run: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    async def submitted(*args: object, **kwargs: object) -> None:
        raise BatchPending("submitted", batches=1, lines=12)

    monkeypatch.setattr(cli, "generate_story_async", submitted)
    code, out, err = run("generate", "--city", "杭州", *SMALL)
    assert code == 0 and "已提交批处理（12 个请求）" in out and "ghost-story status" in out, err
    code, out, _ = run("generate", "--city", "杭州", *SMALL, "--lang", "en", "--json")
    assert code == 0 and orjson.loads(out.splitlines()[-1]) == {
        "batch_pending": True,
        "batches": 1,
        "lines": 12,
    }


def test_status_shows_pending_batches(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    item = {"city": "杭州", "characters": ["书生"], "completed": 0, "total": 1, "nodes": {"书生": 4},
            "file": "杭州_characters.json", "saved_at": "2026-12-02T04:50:00+00:00",
            "batches": [{"id": "batch_abc", "age_s": 600, "lines": 12, "done": 5, "failed": 1}]}  # fmt: skip
    monkeypatch.setattr(cli, "list_unfinished", lambda folder: [item])
    flat = " ".join(run("status", "--lang", "en")[1].split())
    assert "pending batches: 杭州 · batch_abc: 5/12 done, 1 failed, waiting 10 min" in flat
    flat = "".join(run("status")[1].split())
    assert "等待中的批处理：杭州·batch_abc：5/12完成，1失败，已等10min" in flat


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
