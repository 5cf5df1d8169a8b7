"""The real writer through the command line, against a local OpenAI-compatible server (no internet)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fake_openai_server import DEFAULT_KEY, FakeOpenAI, SilentServer, billed
from helpers import same_story

RESUME_ZH = "重新运行同一命令即可继续"  # "run the same command again to continue"
SMALL = ("--max-nodes", "16", "--max-depth", "5", "--checkpoint-every", "4", "--concurrency", "4")


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(retry_after_s=0.05) as running:
        yield running


def environment_for(url: str, key: str | None = DEFAULT_KEY, **env: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("GSF_", "OPENAI_"))}
    environment.update({"OPENAI_BASE_URL": url, "GSF_BACKOFF_MAX": "0.05", "GSF_MAX_ATTEMPTS": "8"})
    if key is not None:
        environment["OPENAI_API_KEY"] = key
    environment.update(env)
    return environment


def ghost(
    folder: Path, server: FakeOpenAI, *args: str, key: str | None = DEFAULT_KEY, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = environment_for(server.url, key, **env)
    return subprocess.run(
        [sys.executable, "-m", "ghost_story_factory", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=180,
        env=environment,
    )


def generate(folder: Path, server: FakeOpenAI, *extra: str, **env: str) -> subprocess.CompletedProcess[str]:
    folder.mkdir(parents=True, exist_ok=True)
    return ghost(
        folder, server, "generate", "--city", "上海", "--characters", "保安", *SMALL, "--json", *extra, **env
    )


def exported(folder: Path, server: FakeOpenAI, story_id: int) -> dict:
    result = ghost(folder, server, "export", str(story_id), "--format", "json")
    assert result.returncode == 0, result.stderr
    return orjson.loads(result.stdout)


def no_key_anywhere(folder: Path, *outputs: subprocess.CompletedProcess[str]) -> None:
    for output in outputs:
        assert DEFAULT_KEY not in output.stdout + output.stderr
    for path in folder.rglob("*"):
        if path.is_file():
            assert DEFAULT_KEY.encode() not in path.read_bytes(), path


def test_with_faults_the_run_completes_and_tokens_match_the_bill(tmp_path: Path, server: FakeOpenAI) -> None:
    script = ["500", "429", "ok", "drop", "truncate", "ok", "invalid", "503", "fence", "ok", "empty"]
    server.configure(faults=script)
    result = generate(tmp_path, server)
    assert result.returncode == 0, result.stderr
    report = orjson.loads(result.stdout)
    ledger = server.ledger
    assert ledger.server_errors >= 2 and ledger.rate_limited >= 1 and ledger.dropped >= 1  # faults happened
    assert server.faults == []  # every scripted fault was served
    assert report["backend"] == "openai"
    assert report["tokens"] == {
        "prompt": ledger.prompt_tokens,
        "completion": ledger.completion_tokens,
        "cached": ledger.cached_tokens,
        "total": ledger.prompt_tokens + ledger.completion_tokens,
    }
    assert report["cost_usd"] > 0
    story = exported(tmp_path, server, report["story_id"])
    assert story["meta"]["offline"] is False and story["meta"]["model"] == "gpt-4o-mini"
    assert story["meta"]["tokens"] == report["tokens"]
    no_key_anywhere(tmp_path, result)


def test_json_object_mode_for_servers_without_json_schema(tmp_path: Path, server: FakeOpenAI) -> None:
    result = generate(tmp_path, server, GSF_JSON_MODE="object")
    assert result.returncode == 0, result.stderr
    first = server.received()[0]["body"]
    assert first["response_format"] == {"type": "json_object"}


def test_a_rejected_key_fails_fast_in_one_line(tmp_path: Path, server: FakeOpenAI) -> None:
    result = ghost(tmp_path, server, "generate", "--city", "上海", *SMALL, key="sk-wrong-secret-key-000")
    assert result.returncode == 1
    assert "API key was rejected" in result.stderr
    assert "sk-wrong-secret-key-000" not in result.stdout + result.stderr
    assert server.ledger.requests == 1  # no retries on 401
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [
        line for line in result.stderr.splitlines() if "API key was rejected" in line
    ]


def test_a_missing_model_fails_fast_in_one_line(tmp_path: Path, server: FakeOpenAI) -> None:
    result = generate(tmp_path, server, GSF_MODEL="no-such-model")
    assert result.returncode == 1
    assert "model not found: no-such-model" in result.stderr


def test_exhausted_retries_leave_resumable_checkpoints(tmp_path: Path, server: FakeOpenAI) -> None:
    reference = generate(tmp_path / "reference", server)
    assert reference.returncode == 0, reference.stderr
    server.configure(faults=["ok"] * 7 + ["500"] * 400)
    broken = generate(tmp_path / "run", server, GSF_MAX_ATTEMPTS="2")
    assert broken.returncode == 75, broken.stderr
    assert RESUME_ZH in broken.stderr  # the screens are in the story language, zh by default
    assert (tmp_path / "run" / "checkpoints" / "上海_characters.json").exists()
    server.configure(faults=[])
    resumed = generate(tmp_path / "run", server)
    assert resumed.returncode == 0, resumed.stderr
    assert orjson.loads(resumed.stdout)["resumed"] is True
    story = exported(tmp_path / "run", server, 1)
    assert not same_story(story, exported(tmp_path / "reference", server, 1))
    no_key_anywhere(tmp_path, broken, resumed)


def test_budget_stop_then_rerun_with_more_continues(tmp_path: Path, server: FakeOpenAI) -> None:
    stopped = generate(tmp_path, server, "--max-tokens", "3000")
    assert stopped.returncode == 3, stopped.stderr
    assert "预算用尽" in stopped.stderr and "提高 --budget-usd" in stopped.stderr
    billed_before = server.ledger.prompt_tokens + server.ledger.completion_tokens
    assert billed_before >= 3000
    finished = generate(tmp_path, server, "--max-tokens", "100000000")
    assert finished.returncode == 0, finished.stderr
    report = orjson.loads(finished.stdout)
    assert report["resumed"] is True
    assert report["tokens"]["total"] == server.ledger.prompt_tokens + server.ledger.completion_tokens


def last_json(result: subprocess.CompletedProcess[str]) -> dict:
    return orjson.loads(result.stdout.strip().splitlines()[-1])


# -- default settings against every kind of server ----------------------------------------------------


@pytest.mark.parametrize("profile", ["deepseek", "llama-cpp-python"])
def test_default_settings_complete_against_a_server_that_refuses_json_schema(
    tmp_path: Path, server: FakeOpenAI, profile: str
) -> None:
    server.configure(profile=profile)
    result = generate(tmp_path, server)
    assert result.returncode == 0, result.stderr
    report = last_json(result)
    assert report["tokens"] == billed(server)
    assert (
        report["writer"]["json_mode"] == "object"
        and report["writer"]["refused"] == server.ledger.refused_form == 1
    )
    format_lines = [line for line in result.stderr.splitlines() if "JSON 模式" in line]
    assert format_lines == ["🔧 JSON 模式：object（依次尝试了 schema → object）"]  # said once
    assert RESUME_ZH not in result.stderr


def test_default_settings_complete_against_a_server_that_refuses_json_object(
    tmp_path: Path, server: FakeOpenAI
) -> None:
    server.configure(profile="lmstudio")
    # The glm preset starts from json_object: LM Studio refuses it and json_schema is used instead.
    result = generate(tmp_path, server, "--provider", "glm", "--lang", "en", GSF_BASE_URL=server.url)
    assert result.returncode == 0, result.stderr
    report = last_json(result)
    assert report["tokens"] == billed(server)
    assert report["writer"]["json_mode"] == "schema"
    assert "🔧 JSON mode: schema (after trying object → schema)" in result.stderr


def test_against_a_decoder_that_honours_only_the_schema_sent_few_calls_are_asked_again(
    tmp_path: Path, server: FakeOpenAI
) -> None:
    server.configure(decoder="schema_only")
    result = ghost(
        tmp_path,
        server,
        "generate",
        "--city",
        "Edinburgh",
        "--lang",
        "en",
        "--max-nodes",
        "120",
        "--max-depth",
        "8",
        "--concurrency",
        "8",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    seen = [entry for entry in server.received() if entry["status"] == 200]
    distinct = {json.dumps(entry["body"]["messages"][:2], sort_keys=True) for entry in seen}
    asked_again = len(seen) - len(distinct)
    print(f"schema-only decoder: {len(seen)} answered calls, {asked_again} asked again")
    assert len(seen) >= 100
    assert asked_again <= 0.03 * len(seen)
    assert last_json(result)["tokens"] == billed(server)


# -- money ---------------------------------------------------------------------------------------------


def test_an_unpriced_budget_is_refused_before_any_request(tmp_path: Path, server: FakeOpenAI) -> None:
    result = generate(tmp_path, server, "--budget-usd", "0.001", GSF_MODEL="fake-model")
    assert result.returncode == 2
    assert "--price" in result.stderr and "--max-tokens" in result.stderr
    assert server.ledger.requests == 0
    assert last_json(result) == {"error": last_json(result)["error"], "exit_code": 2, "resumable": False}
    priced = generate(
        tmp_path, server, "--budget-usd", "5", "--price", "0.1,0.05,0.2", GSF_MODEL="fake-model"
    )
    assert priced.returncode == 0, priced.stderr
    assert last_json(priced)["cost_usd"] > 0


def test_estimate_prints_calls_tokens_cost_and_time_and_sends_nothing(
    tmp_path: Path, server: FakeOpenAI
) -> None:
    result = generate(tmp_path, server, "--estimate", "--lang", "en")
    assert result.returncode == 0, result.stderr
    estimate = last_json(result)["estimate"]
    assert estimate["calls"] == 1 + 1 + 16  # documents, one plan, up to 16 nodes (one named character)
    assert estimate["tokens"]["total"] > 0 and estimate["cost_usd"]["high"] > 0
    assert "🧮 Estimate: 18 writer calls" in result.stderr
    assert server.ledger.requests == 0 and not (tmp_path / "checkpoints").exists()
    unknown = generate(tmp_path, server, "--estimate", "--lang", "en", GSF_MODEL="fake-model")
    assert "cost unknown (no price for fake-model: pass --price)" in unknown.stderr


def test_a_context_too_small_for_the_prompts_is_refused_before_any_request(
    tmp_path: Path, server: FakeOpenAI
) -> None:
    result = generate(tmp_path, server, "--context-tokens", "1024")
    assert result.returncode == 2 and "--context-tokens 1024" in result.stderr
    assert server.ledger.requests == 0


def test_output_caps_and_extra_body_reach_every_request(tmp_path: Path, server: FakeOpenAI) -> None:
    result = generate(
        tmp_path,
        server,
        "--max-output-tokens",
        "node=3000,plan=7000",
        "--extra-body",
        '{"num_ctx": 8192}',
    )
    assert result.returncode == 0, result.stderr
    caps = {(entry["body"]["max_tokens"]) for entry in server.received()}
    assert caps == {8192, 7000, 3000}
    assert all(entry["body"]["num_ctx"] == 8192 for entry in server.received())
    bad = generate(tmp_path, server, "--extra-body", "[1]")
    assert bad.returncode == 2 and "--extra-body" in bad.stderr


def test_a_reply_cut_at_the_cap_is_said_on_screen(tmp_path: Path, server: FakeOpenAI) -> None:
    server.configure(faults=["ok", "truncate"])
    result = generate(tmp_path, server, "--lang", "en")
    assert result.returncode == 0, result.stderr
    assert "reply was cut at the output cap of" in result.stderr
    assert last_json(result)["tokens"] == billed(server)


# -- failures that say what happened ---------------------------------------------------------------------


def test_a_closed_port_names_the_url_and_does_not_offer_to_continue(tmp_path: Path) -> None:
    with FakeOpenAI() as gone:
        url = gone.url
    tmp_path.mkdir(exist_ok=True)
    result = subprocess.run(
        [sys.executable, "-m", "ghost_story_factory", "generate", "--city", "上海", *SMALL, "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=environment_for(url, GSF_MAX_ATTEMPTS="2"),
    )
    assert result.returncode == 75
    assert f"connection to {url} failed" in result.stderr
    assert RESUME_ZH not in result.stderr and "没有保存任何内容" in result.stderr
    report = last_json(result)
    assert report["resumable"] is False and report["exit_code"] == 75 and url in report["error"]
    no_key_anywhere(tmp_path, result)


def test_a_rejected_key_before_anything_was_saved_does_not_offer_to_continue(
    tmp_path: Path, server: FakeOpenAI
) -> None:
    result = generate(tmp_path, server, key="sk-wrong-secret-key-000")
    assert result.returncode == 1 and "API key was rejected" in result.stderr
    assert RESUME_ZH not in result.stderr
    assert last_json(result) == {"error": last_json(result)["error"], "exit_code": 1, "resumable": False}
    assert "wrong-secret" not in result.stdout + result.stderr


def test_a_failure_after_checkpoints_says_resumable_in_json(tmp_path: Path, server: FakeOpenAI) -> None:
    server.configure(faults=["ok"] * 5 + ["500"] * 400)
    result = generate(tmp_path, server, GSF_MAX_ATTEMPTS="2")
    assert result.returncode == 75
    assert RESUME_ZH in result.stderr
    assert last_json(result)["resumable"] is True


def test_a_server_that_never_answers_gets_a_retry_line_before_the_next_attempt(tmp_path: Path) -> None:
    """The retry line is printed when the retry is scheduled: before the next connection, not after the wait."""
    timeout = 2.0
    out = tmp_path / "stdout.txt"
    with SilentServer() as silent, out.open("w") as stdout_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ghost_story_factory",
                "generate",
                "--city",
                "上海",
                "--lang",
                "en",
                *SMALL,
                "--json",
            ],
            cwd=tmp_path,
            stdout=stdout_file,
            stderr=subprocess.PIPE,
            text=True,
            env=environment_for(
                silent.url,
                GSF_TIMEOUT=str(timeout),
                GSF_MAX_ATTEMPTS="2",
                GSF_BACKOFF_MAX="2",
                GSF_PROGRESS_EVERY="0.5",
            ),
        )
        lines: list[tuple[float, str]] = []
        assert process.stderr is not None
        for line in process.stderr:  # each line stamped as it arrives
            lines.append((time.monotonic(), line))
        process.wait(timeout=120)
    stdout = out.read_text()
    assert process.returncode == 75
    retry = [(t, line) for t, line in lines if "↻ attempt 2 of 2" in line]
    assert len(retry) == 1, lines
    when, text = retry[0]
    assert f"timed out after {timeout:g}s waiting for {silent.url}" in text
    waiting = [t for t, line in lines if "⏳ waiting for the writer: 1 call in flight" in line]
    assert waiting and waiting[0] < when  # the screen moved during the first, silent attempt
    assert len(silent.accepted) == 2 and silent.closed
    assert when < silent.accepted[1]  # said when the retry was scheduled, before the second attempt
    print(f"retry line {when - silent.accepted[0]:.3f}s after the first attempt started (timeout {timeout}s)")
    assert json.loads(stdout.strip().splitlines()[-1])["resumable"] is False
    assert not any("run the same command again" in line for _, line in lines)


def test_a_resume_keeps_the_negotiated_json_mode_and_asks_nothing_refused_again(
    tmp_path: Path, server: FakeOpenAI
) -> None:
    server.configure(profile="deepseek")  # refuses json_schema: the first run settles on json_object
    first = generate(tmp_path, server, GSF_MAX_TOKENS="6000")
    assert first.returncode == 3, first.stderr  # a budget stop, after the negotiation
    assert server.ledger.refused_form == 1
    stored = orjson.loads(next((tmp_path / "checkpoints").glob("*_characters.json")).read_bytes())
    assert stored["meta"]["json_mode"] == "object"
    rerun = generate(tmp_path, server)
    assert rerun.returncode == 0, rerun.stderr
    assert server.ledger.refused_form == 1, "the resume tried json_schema again"
    assert last_json(rerun)["tokens"] == billed(server)
