"""``--help`` and the refusals of bad settings speak the run's language: zh by default or with ``--lang zh``
/ ``GSF_LANG=zh``, English with ``--lang en``. Through the real command (``cli.main`` in-process, one real
``ghost-story`` process), in a temp folder."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.cells import cell_len

from ghost_story_factory import cli
from ghost_story_factory.config import OPTIONS

COMMANDS = ("generate", "status", "list", "show", "play", "export", "delete")
CJK = re.compile(r"[\u3400-\u9fff\u3000-\u303f\uff00-\uffef]")
# Three English words in a row: a sentence, not a flag, a metavar or a value such as "auto / offline".
ENGLISH = re.compile(r"\b[a-z]{2,}(?:[,;]? [a-z]{2,}){2}\b")
ARGPARSE_EN = ("usage:", "positional arguments", "options:", "show this help message", "version number")


def clean_env(**extra: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("GSF_", "OPENAI_"))}
    environment.update(extra)
    return environment


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "80")


def helped(capsys: pytest.CaptureFixture[str], *argv: str, **env: str) -> str:
    """What ``ghost-story ARGV`` prints for help (it exits 0 and writes nothing to stderr)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        cli.main(list(argv), clean_env(**env))
    out, err = capsys.readouterr()
    assert done.value.code == 0 and err == "", err
    return out


def run(capsys: pytest.CaptureFixture[str], *argv: str, **env: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(list(argv), clean_env(**env))
    out, err = capsys.readouterr()
    return code, out, err


def flat(text: str) -> str:
    """Without any white space: wrapped Chinese lines compare as one."""
    return "".join(text.split())


def zh_settings_help(option_name: str) -> str:
    option = next(option for option in OPTIONS if option.name == option_name)
    return flat(option.help_zh)


# --help ------------------------------------------------------------------------------------------------
def test_a_zh_generate_help_says_every_setting_in_chinese_with_its_default_range_and_variable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = helped(capsys, "generate", "--help", GSF_LANG="zh")
    text = flat(out)
    assert out.startswith("用法：ghost-story generate") and "选项：" in out and "显示此帮助信息并退出" in out
    assert "默认300，范围5–100000，环境变量GSF_MAX_NODES" in text
    assert "默认20，范围2–200，环境变量GSF_MAX_DEPTH" in text and "1e+06" not in text
    assert "默认auto，可选auto/offline/openai，环境变量GSF_BACKEND" in text
    assert "默认关闭，环境变量GSF_BATCH" in text and "默认不设" in text
    for option in OPTIONS:
        assert option.help_zh and CJK.search(option.help_zh), option.name
        assert flat(option.help_zh) in text and option.env in text, option.name
        assert flat(option.help) not in text, option.name  # no English option sentence
        flag = "--" + option.name.replace("_", "-")
        assert flag in out, flag
    assert not ENGLISH.findall(out), ENGLISH.findall(out)
    assert not [words for words in ARGPARSE_EN if words in out]
    assert "退出码：0完成" in text


@pytest.mark.parametrize("command", ("", *COMMANDS))
def test_every_help_is_chinese_by_default_and_english_with_lang_en(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    argv = [command] if command else []
    zh = helped(capsys, *argv, "--help")  # nothing asked: zh, the default language
    assert zh.startswith("用法：") and "选项：" in zh and "显示此帮助信息并退出" in zh, zh[:200]
    assert not ENGLISH.findall(zh), ENGLISH.findall(zh)
    assert not [words for words in ARGPARSE_EN if words in zh]
    en = helped(capsys, *argv, "--help", "--lang", "en")
    assert en.startswith("usage: ") and "options:" in en and "show this help message and exit" in en
    assert "用法" not in en and "默认" not in en and "环境变量" not in en
    if command in ("", "generate"):
        assert "exit codes: 0 done" in en and "退出码" in zh
    if command not in ("", "play"):  # play's --lang is the player's: the story's language by default
        assert "--lang {zh,en}" in en and "[default: zh; env GSF_LANG]" in " ".join(en.split())
        assert "默认zh，可选zh/en，环境变量GSF_LANG" in flat(zh)


def test_the_help_language_is_the_last_lang_given_else_gsf_lang_else_zh(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def language(*argv: str, **env: str) -> str:
        out = helped(capsys, *argv, **env)
        return "en" if out.startswith("usage: ") else "zh" if out.startswith("用法：") else out[:40]

    assert language("generate", "--help") == "zh"
    assert language("generate", "--help", GSF_LANG="en") == "en"
    assert language("generate", "--lang", "zh", "--help", GSF_LANG="en") == "zh"  # the flag wins
    assert language("generate", "--help", "--lang=en", GSF_LANG="zh") == "en"  # after --help too
    assert language("--lang", "en", "--help") == "en"  # before the command
    assert language("--lang", "en", "list", "--help") == "en"
    assert language("list", "--lang", "en", "--lang", "zh", "--help") == "zh"  # the last one, as argparse
    assert language("list", "--help", GSF_LANG="fr") == "zh"  # not a language: the default
    assert language("list", "--la", "en", "--help") == "en"  # argparse's abbreviation of --lang


def test_a_lang_before_the_command_sets_the_screens_too(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--lang", "en", "status")
    assert code == 0 and "no unfinished generations" in out, out + err
    code, out, err = run(capsys, "--lang", "en", "status", "--lang", "zh")  # the command's own wins
    assert code == 0 and "中没有未完成的生成" in out, out + err


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("columns", [60, 80, 120])
def test_help_lines_fit_the_terminal_in_both_languages(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, lang: str, columns: int
) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    for command in COMMANDS:
        out = helped(capsys, command, "--help", "--lang", lang)
        wide = [line for line in out.splitlines() if cell_len(line) > columns]
        assert not wide, (command, wide)


# refusals of bad settings --------------------------------------------------------------------------------
KEY = {"OPENAI_API_KEY": "sk-test-not-a-real-key-0123456789"}
# (arguments, environment, what the zh line says, what the en line says)
BAD: list[tuple[tuple[str, ...], dict[str, str], str, str]] = [
    (("--max-nodes", "many"), {}, "--max-nodes：'many' 不是数字", "--max-nodes: 'many' is not a number"),
    (
        ("--max-nodes", "2"),
        {},
        "--max-nodes：2 超出范围（5–100000）",
        "--max-nodes: 2 is out of range (5..100000)",
    ),
    (("--checkpoint-every", "1e9"), {}, "不是数字", "is not a number"),
    (
        (),
        {"GSF_GRACE_SECONDS": "inf"},
        "GSF_GRACE_SECONDS：'inf' 不是有限的数",
        "'inf' is not a finite number",
    ),
    ((), {"GSF_CONCURRENCY": "lots"}, "GSF_CONCURRENCY：'lots' 不是数字", "GSF_CONCURRENCY: 'lots' is not"),
    (
        ("--backend", "gpt"),
        {},
        "--backend：未知的值 'gpt'，可选：auto、offline、openai",
        "choose one of auto,",
    ),
    ((), {"GSF_BATCH": "maybe"}, "GSF_BATCH：'maybe' 不是", "GSF_BATCH: 'maybe' is not one of"),
    (("--db", " "), {}, "--db：不能为空", "--db: must not be empty"),
    (("--extra-body", "{"), {}, "不是有效的 JSON", "not valid JSON"),
    (("--extra-body", "[1]"), {}, "必须是 JSON 对象", "must be a JSON object"),
    (("--extra-body", '{"model": "x"}'), {}, "model 由 ghost-story 自己设置", "is set by ghost-story itself"),
    (("--max-output-tokens", "node=many"), {}, "应为一个词元数", "expected a number of tokens"),
    (("--max-output-tokens", "99999999"), {}, "超出范围（0–10000000）", "is out of range (0..10000000)"),
    (("--city", "a/b"), {}, "城市名 'a/b' 含有路径分隔符", "city name 'a/b' contains a path separator"),
    (("--city", "a..b"), {}, "城市名 'a..b' 含有 '..'", "contains '..'"),
    (("--city", "a\x1bb"), {}, "含有控制字符", "contains a control character"),
    (("--city", "\u200b"), {}, "城市名为空", "city name is empty"),
    (("--city", "x" * 201), {}, "城市名超过 200 个字符", "city name is longer than 200 characters"),
    (("--characters", "A,A"), {}, "同一个角色出现了两次", "the same character is named twice"),
    (("--characters", "A,x/y"), {}, "角色名 'x/y' 含有路径分隔符", "character name 'x/y' contains"),
    (("--characters", ",".join("ABCDEFGHI")), {}, "每个故事最多 8 个角色", "at most 8 characters per story"),
    (("--characters", "A:" + "r" * 121), {}, "角色的身份超过 120 个字符", "a character's role is longer"),
    (("--detach",), {}, "--detach 需要 --batch", "--detach needs --batch"),
    (("--batch", "--backend", "offline"), {}, "--batch 需要 openai 后端", "--batch needs the openai backend"),
    (("--backend", "openai"), {}, "openai 后端需要 API 密钥", "the openai backend needs an API key"),
    (("--provider", "vllm"), {}, "--provider vllm 需要 --model", "--provider vllm needs --model"),
    (
        ("--backend", "openai", "--base-url", "http://127.0.0.1:9/v1", "--price", "cheap"),
        KEY,
        "--price：'cheap' 无效",
        "--price: expected three numbers",
    ),
]


@pytest.mark.parametrize(("args", "env", "zh", "en"), BAD, ids=lambda value: str(value)[:40])
def test_a_bad_setting_is_refused_in_one_line_in_the_runs_language(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    args: tuple[str, ...],
    env: dict[str, str],
    zh: str,
    en: str,
) -> None:
    city = () if "--city" in args else ("--city", "Hangzhou")
    for lang, expected in (("zh", zh), ("en", en)):
        code, out, err = run(capsys, "generate", *city, *args, **env, GSF_LANG=lang)
        assert code == 2 and out == "", out
        assert err.startswith("error: ") and err.count("\n") == 1, err
        assert expected in err, err
        if lang == "zh":
            assert CJK.search(err) and not ENGLISH.findall(err), err
        else:
            assert not CJK.search(err), err
    assert list(tmp_path.iterdir()) == []  # nothing written, no call made


def test_argparse_refusals_are_said_in_the_runs_language_too(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "generate", "--city", "上海", "--c", "3")
    assert (
        code == 2
        and err.startswith("error: 选项 --c 有歧义，可能是：--city, --characters")
        and err.count("\n") == 1
    )
    code, _, err = run(capsys, "generate", "--city", "上海", "--c", "3", "--lang", "en")
    assert (
        code == 2
        and err.startswith("error: ambiguous option: --c could match --city")
        and err.count("\n") == 1
    )
    code, _, err = run(capsys, "play", "--lang", "fr")
    assert code == 2 and err.startswith("error: 参数 --lang 的值 'fr' 无效") and err.count("\n") == 1


def test_the_flag_chooses_the_language_of_a_refusal_over_the_variable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(
        capsys, "generate", "--city", "上海", "--max-nodes", "many", "--lang", "en", GSF_LANG="zh"
    )
    assert code == 2 and err == "error: --max-nodes: 'many' is not a number\n"
    code, _, err = run(
        capsys, "generate", "--city", "上海", "--max-nodes", "many", "--lang", "zh", GSF_LANG="en"
    )
    assert code == 2 and err == "error: --max-nodes：'many' 不是数字\n"
    code, _, err = run(capsys, "generate", "--city", "上海", "--max-nodes", "many")
    assert code == 2 and err == "error: --max-nodes：'many' 不是数字\n"  # zh, the default


@pytest.mark.parametrize(
    ("argv", "env", "source"),
    [
        (("generate", "--city", "上海", "--lang", "fr"), {}, "--lang"),
        (("list", "--lang", "fr"), {}, "--lang"),
        (("--lang", "klingon", "status"), {}, "--lang"),
        (("status",), {"GSF_LANG": "fr"}, "GSF_LANG"),
    ],
)
def test_a_bad_language_is_refused_in_both_languages(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], env: dict[str, str], source: str
) -> None:
    code, out, err = run(capsys, *argv, **env)
    assert code == 2 and out == "" and err.startswith("error: ") and err.count("\n") == 1, err
    assert f"{source}：未知的值" in err and "可选：zh、en" in err
    assert f"{source}: unknown value" in err and "choose one of zh, en" in err


# one real process --------------------------------------------------------------------------------------
def test_the_installed_command_shows_chinese_help_with_its_defaults_and_ranges(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("ghost-story")
    done = subprocess.run(
        [script, "generate", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(GSF_LANG="zh", COLUMNS="80"),
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    text = flat(done.stdout)
    assert done.stdout.startswith("用法：ghost-story generate") and "选项：" in done.stdout
    assert "默认300，范围5–100000，环境变量GSF_MAX_NODES" in text
    assert "默认8，范围1–256，环境变量GSF_CONCURRENCY" in text
    assert zh_settings_help("max_nodes") in text and zh_settings_help("concurrency") in text
    assert not ENGLISH.findall(done.stdout), ENGLISH.findall(done.stdout)
    assert not [option.name for option in OPTIONS if flat(option.help) in text]
    assert all(cell_len(line) <= 80 for line in done.stdout.splitlines())
