"""Batch mode through the command line, against the fake server's Batch API (/v1/files, /v1/batches)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fake_openai_server import DEFAULT_KEY, FakeOpenAI, billed
from helpers import same_story

from ghost_story_factory.writers.base import Usage
from ghost_story_factory.writers.pricing import BATCH_SHARE, cost_usd

SHAPE = ("--max-nodes", "16", "--max-depth", "5", "--checkpoint-every", "4")
CITY = ("--city", "上海", "--characters", "保安,学生")
MODEL = "gpt-4o-mini"


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(retry_after_s=0.05, batch_polls=2) as running:
        yield running


def environment(url: str, batch: bool, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GSF_", "OPENAI_"))}
    env.update(
        OPENAI_BASE_URL=url,
        OPENAI_API_KEY=DEFAULT_KEY,
        GSF_BACKOFF_MAX="0.05",
        GSF_MAX_ATTEMPTS="8",
        GSF_BATCH_POLL_SECONDS="0.05",
    )
    if batch:
        env["GSF_BATCH"] = "1"
    env.update(extra)
    return env


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "ghost_story_factory", *args]


def generate(
    folder: Path, server: FakeOpenAI, batch: bool = True, **extra: str
) -> subprocess.CompletedProcess[str]:
    folder.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        command("generate", *CITY, *SHAPE, "--json"),
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        env=environment(server.url, batch, **extra),
    )


def last_json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    return orjson.loads(result.stdout.strip().splitlines()[-1])


def exported(folder: Path, server: FakeOpenAI, story_id: int) -> dict[str, Any]:
    result = subprocess.run(
        command("export", str(story_id), "--format", "json"),
        cwd=folder,
        capture_output=True,
        timeout=120,
        env=environment(server.url, False),
    )
    assert result.returncode == 0, result.stderr
    return orjson.loads(result.stdout)


def status(folder: Path, server: FakeOpenAI) -> list[dict[str, Any]]:
    result = subprocess.run(
        command("status", "--json"),
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        env=environment(server.url, False),
    )
    assert result.returncode == 0, result.stderr
    found: list[dict[str, Any]] = orjson.loads(result.stdout)
    return found


@pytest.fixture(scope="module")
def live_story(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The story live mode writes for the fake server's replies (deterministic per request)."""
    folder = tmp_path_factory.mktemp("live")
    with FakeOpenAI() as live:
        result = generate(folder, live, batch=False)
        assert result.returncode == 0, result.stderr
        return exported(folder, live, last_json(result)["story_id"])


def test_a_batch_story_equals_the_live_story_at_half_price(
    tmp_path: Path, server: FakeOpenAI, live_story: dict[str, Any]
) -> None:
    result = generate(tmp_path, server)
    assert result.returncode == 0, result.stderr
    report = last_json(result)
    story = exported(tmp_path, server, report["story_id"])
    assert same_story(story, live_story) == ""
    ledger = server.ledger
    # Lines came back shuffled, through uploaded files and polled batches; only the documents were live.
    assert ledger.batches_created >= 5 and ledger.batch_polls > ledger.batches_created
    assert ledger.batch_lines_billed / ledger.answered >= 0.9
    assert ledger.answered == ledger.requests + ledger.batch_lines_billed
    assert ledger.billed_twice == 0
    assert report["tokens"] == billed(server) == story["meta"]["tokens"]
    # Batch tokens cost half the table price; the live documents call costs the full price.
    batch = story["meta"]["batch"]
    assert batch["price_share"] == BATCH_SHARE == 0.5
    assert report["batch"] == batch  # --json says it too
    batched = Usage.from_dict(batch["tokens"])
    total = Usage.from_dict(report["tokens"])
    live = Usage(
        total.prompt - batched.prompt, total.completion - batched.completion, total.cached - batched.cached
    )
    assert batched.total > 0.9 * total.total
    half = (cost_usd(MODEL, batched) or 0.0) / 2
    assert batch["cost_usd"] == pytest.approx(half, abs=2e-6)
    assert report["cost_usd"] == pytest.approx(half + (cost_usd(MODEL, live) or 0.0), abs=2e-6)
    assert report["cost_usd"] < cost_usd(MODEL, total)  # type: ignore[operator]
    assert not list((tmp_path / "checkpoints").glob("*batches*"))  # cleaned up with the checkpoints


def test_failed_and_expired_lines_are_submitted_again(
    tmp_path: Path, server: FakeOpenAI, live_story: dict[str, Any]
) -> None:
    server.configure(batch_faults=["ok", "500", "error", "ok", "expired", "ok", "500"])
    result = generate(tmp_path, server)
    assert result.returncode == 0, result.stderr
    report = last_json(result)
    assert server.batch_faults == []  # every scripted fault was served
    assert server.ledger.batch_lines_failed == 4
    assert server.ledger.batch_lines_submitted == server.ledger.batch_lines_billed + 4
    assert server.ledger.billed_twice == 0
    assert report["tokens"] == billed(server)
    assert same_story(exported(tmp_path, server, report["story_id"]), live_story) == ""


def test_a_loosely_formed_reply_is_used_as_live_mode_would_and_never_paid_again(
    tmp_path: Path, server: FakeOpenAI, live_story: dict[str, Any]
) -> None:
    """A provider's own finish_reason ("eos") or a missing ``created`` is read like a live reply is."""
    server.configure(batch_faults=["loose"] * 10)
    result = generate(tmp_path, server)
    assert result.returncode == 0, result.stderr
    report = last_json(result)
    assert server.batch_faults == []
    assert server.ledger.batch_lines_failed == 0 and server.ledger.billed_twice == 0
    assert server.ledger.batch_lines_submitted == server.ledger.batch_lines_billed  # none sent again
    assert report["tokens"] == billed(server)
    assert same_story(exported(tmp_path, server, report["story_id"]), live_story) == ""


def test_an_invalid_batch_reply_is_asked_again_with_the_error(tmp_path: Path, server: FakeOpenAI) -> None:
    server.configure(batch_faults=["ok", "ok", "invalid"])
    result = generate(tmp_path, server)
    assert result.returncode == 0, result.stderr
    asked_again = [
        line
        for batch in server.batches.values()
        for line in batch["lines"]
        if any("Your reply was invalid" in str(m.get("content")) for m in line["body"]["messages"])
    ]
    assert len(asked_again) == 1
    assert last_json(result)["tokens"] == billed(server)


def wait_for(condition: Any, what: str, process: subprocess.Popen[str] | None = None) -> None:
    deadline = time.monotonic() + 120
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(
                f"the run ended before {what}: {process.stderr.read() if process.stderr else ''}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_kill_9_while_a_batch_is_pending_then_a_rerun_polls_it_and_pays_nothing_twice(
    tmp_path: Path, server: FakeOpenAI, live_story: dict[str, Any]
) -> None:
    server.configure(batch_hold_after=3)  # the fourth batch (a node wave) stays in progress
    with open(tmp_path / "stderr.txt", "w+") as errors:
        process = subprocess.Popen(
            command("generate", *CITY, *SHAPE, "--json"),
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            text=True,
            env=environment(server.url, True),
        )
        try:
            held = lambda: any(b["ordinal"] == 4 and b["polls"] >= 2 for b in server.batches.values())  # noqa: E731
            wait_for(held, "the fourth batch to be polled", process)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
    pending = [b for b in server.batches.values() if b["ordinal"] == 4][0]
    lines = len(pending["lines"])
    found = status(tmp_path, server)
    assert len(found) == 1
    assert [(b["id"], b["lines"], b["done"], b["failed"]) for b in found[0]["batches"]] == [
        (pending["public"]["id"], lines, 0, 0)
    ]
    assert found[0]["batches"][0]["age_s"] >= 0

    server.configure(batch_hold_after=None)
    created = server.ledger.batches_created
    result = generate(tmp_path, server)
    assert result.returncode == 0, result.stderr
    report = last_json(result)
    assert report["resumed"]
    # The rerun waited for the pending batch: its lines were not submitted again, no body billed twice.
    submitted = [line["custom_id"] for batch in server.batches.values() for line in batch["lines"]]
    assert len(submitted) == len(set(submitted))
    assert server.ledger.batches_created > created
    assert pending["public"]["status"] == "completed"
    assert server.ledger.billed_twice == 0
    assert report["tokens"] == billed(server)
    assert same_story(exported(tmp_path, server, report["story_id"]), live_story) == ""


def test_detach_exits_0_and_a_rerun_collects(
    tmp_path: Path, server: FakeOpenAI, live_story: dict[str, Any]
) -> None:
    server.configure(batch_polls=1)  # a batch is still in progress at its first poll, done at its second
    first = generate(tmp_path, server, GSF_DETACH="1")
    assert first.returncode == 0, first.stderr
    assert "story_id" not in first.stdout
    found = status(tmp_path, server)
    assert len(found[0]["batches"]) == 1 and found[0]["batches"][0]["lines"] == 2  # the two plans
    assert server.ledger.batch_lines_billed == 0

    second = generate(tmp_path, server, GSF_DETACH="1")  # collects the plans, submits the first nodes
    assert second.returncode == 0, second.stderr
    assert server.ledger.batch_lines_billed == 2
    assert [b["lines"] for b in status(tmp_path, server)[0]["batches"]] == [2]  # the two roots

    final = generate(tmp_path, server)
    assert final.returncode == 0, final.stderr
    report = last_json(final)
    submitted = [line["custom_id"] for batch in server.batches.values() for line in batch["lines"]]
    assert len(submitted) == len(set(submitted))
    assert server.ledger.billed_twice == 0
    assert report["tokens"] == billed(server)
    assert same_story(exported(tmp_path, server, report["story_id"]), live_story) == ""
    assert status(tmp_path, server) == []


def test_status_reads_batch_records_without_moving_them(tmp_path: Path, server: FakeOpenAI) -> None:
    """Looking must not lose the ids of batches already paid for, even when their file is damaged."""
    server.configure(batch_polls=1)
    assert generate(tmp_path, server, GSF_DETACH="1").returncode == 0
    [records] = list((tmp_path / "checkpoints").glob("*batches*"))
    damaged = records.read_bytes().replace(b'"pending"', b'"lost"', 1)
    assert damaged != records.read_bytes()
    records.write_bytes(damaged)
    found = status(tmp_path, server)
    assert found and found[0]["batches"] == []  # an unreadable record is not listed ...
    assert records.read_bytes() == damaged  # ... and stays where it is, for generate to judge
    assert list((tmp_path / "checkpoints").glob("*corrupt*")) == []


@pytest.mark.parametrize(
    ("lang", "said"),
    [("zh", "没有批处理 API（upload 返回 404）：请去掉 --batch"), ("en", "has no Batch API")],
)
def test_a_provider_without_a_batch_api_stops_in_one_line_in_the_runs_language(
    tmp_path: Path, server: FakeOpenAI, lang: str, said: str
) -> None:
    server.configure(batch_api=False)
    result = generate(tmp_path, server, GSF_LANG=lang)
    assert result.returncode == 1, result.stderr
    assert said in result.stderr and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr


def test_batch_needs_a_remote_writer_and_detach_needs_batch(tmp_path: Path, server: FakeOpenAI) -> None:
    offline = subprocess.run(
        command("generate", *CITY, "--backend", "offline"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**environment(server.url, True)},
    )
    assert offline.returncode == 2 and "--batch" in offline.stderr
    detach = generate(tmp_path, server, batch=False, GSF_DETACH="1", GSF_LANG="en")
    assert detach.returncode == 2 and "--detach needs --batch" in detach.stderr
    assert server.ledger.answered == 0


def no_line_submitted_twice(server: FakeOpenAI) -> None:
    submitted = [line["custom_id"] for batch in server.batches.values() for line in batch["lines"]]
    assert len(submitted) == len(set(submitted))
    assert server.ledger.billed_twice == 0


def test_a_lost_answer_to_a_batch_create_finds_the_batch_instead_of_paying_again(
    tmp_path: Path, server: FakeOpenAI, live_story: dict[str, Any]
) -> None:
    server.configure(batch_create_faults=["ok", "drop", "500"])  # the second batch exists, its answer is lost
    result = generate(tmp_path, server)
    assert result.returncode == 0, result.stderr
    assert server.batch_create_faults == []
    no_line_submitted_twice(server)
    assert last_json(result)["tokens"] == billed(server)
    assert same_story(exported(tmp_path, server, last_json(result)["story_id"]), live_story) == ""


def test_a_run_that_died_creating_a_batch_is_followed_by_one_that_adopts_it(
    tmp_path: Path, server: FakeOpenAI, live_story: dict[str, Any]
) -> None:
    server.configure(batch_create_faults=["ok", "drop"])
    failed = generate(tmp_path, server, GSF_MAX_ATTEMPTS="1")  # gives up on the lost answer
    assert failed.returncode == 75, failed.stderr
    assert server.ledger.batches_created == 2
    saved = orjson.loads((tmp_path / "checkpoints" / "上海_batches.json").read_bytes())["batches"]
    assert [record["status"] for record in saved][-1] == "creating"
    result = generate(tmp_path, server)
    assert result.returncode == 0, result.stderr
    no_line_submitted_twice(server)
    assert last_json(result)["tokens"] == billed(server)
    assert same_story(exported(tmp_path, server, last_json(result)["story_id"]), live_story) == ""
