"""The real writer through the command line, against a local OpenAI-compatible server (no internet)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fake_openai_server import DEFAULT_KEY, FakeOpenAI
from helpers import same_story

SMALL = ("--max-nodes", "16", "--max-depth", "5", "--checkpoint-every", "4", "--concurrency", "4")


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(retry_after_s=0.05) as running:
        yield running


def ghost(
    folder: Path, server: FakeOpenAI, *args: str, key: str = DEFAULT_KEY, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("GSF_", "OPENAI_"))}
    environment.update(
        {
            "OPENAI_API_KEY": key,
            "OPENAI_BASE_URL": server.url,
            "GSF_BACKOFF_MAX": "0.05",
            "GSF_MAX_ATTEMPTS": "8",
        }
    )
    environment.update(env)
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
    assert "run the same command again" in broken.stderr
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
    assert "budget stop" in stopped.stderr and "higher" in stopped.stderr
    billed_before = server.ledger.prompt_tokens + server.ledger.completion_tokens
    assert billed_before >= 3000
    finished = generate(tmp_path, server, "--max-tokens", "100000000")
    assert finished.returncode == 0, finished.stderr
    report = orjson.loads(finished.stdout)
    assert report["resumed"] is True
    assert report["tokens"]["total"] == server.ledger.prompt_tokens + server.ledger.completion_tokens
