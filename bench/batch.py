"""Measure 8: batch mode against live mode on the same story (calls, wall time, cost), in the same run.

Both runs are ``ghost-story generate`` child processes against one ``tests/fake_openai_server.py`` in
this process (each with a fresh ledger), whose replies depend only on the request, so both modes write
the same story; the measure checks that they did. Live calls take ``LIVE_LATENCY_MS``; a batch ends
after ``BATCH_POLLS`` polls ``POLL_S`` apart, a stand-in for a provider's turnaround (hours, in truth):
the wall-time ratio says what our side adds, not how long a real provider takes.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from .common import REPO, Row, Section, child_env, cli_command, verdict

LIVE_LATENCY_MS = 50.0
POLL_S = 0.05
BATCH_POLLS = 2
SHARE_GOAL = 0.90  # of the billed replies that came through batches
COST_GOAL = 0.55  # batch cost / live cost: half, plus the live documents call


def _server_module() -> Any:
    if str(REPO / "tests") not in sys.path:
        sys.path.insert(0, str(REPO / "tests"))
    return importlib.import_module("fake_openai_server")


def _shape(quick: bool) -> list[str]:
    if quick:
        return ["--characters", "保安,学生", "--max-nodes", "16", "--max-depth", "5"]
    return ["--characters", "保安,学生,船娘", "--max-nodes", "60", "--max-depth", "8"]


def _one(server: Any, folder: Path, batch: bool, quick: bool) -> dict[str, Any]:
    server.reset_ledger()
    env = child_env(
        GSF_BACKEND="openai",
        OPENAI_BASE_URL=server.url,
        OPENAI_API_KEY=_server_module().DEFAULT_KEY,
        GSF_BATCH_POLL_SECONDS=str(POLL_S),
        **({"GSF_BATCH": "1"} if batch else {}),
    )
    args = [
        "generate",
        "--city",
        "上海",
        *_shape(quick),
        "--checkpoint-dir",
        str(folder / "checkpoints"),
        "--db",
        str(folder / "library.db"),
        "--json",
    ]
    started = time.perf_counter()
    result = subprocess.run([*cli_command(), *args], capture_output=True, text=True, timeout=1800, env=env)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"generate exited {result.returncode}: {result.stderr.strip()[-300:]}")
    report = orjson.loads(result.stdout.strip().splitlines()[-1])
    exported = subprocess.run(
        [
            *cli_command(),
            "export",
            str(report["story_id"]),
            "--format",
            "json",
            "--db",
            str(folder / "library.db"),
        ],
        capture_output=True,
        timeout=600,
        env=env,
    )
    story = orjson.loads(exported.stdout)
    story.pop("meta", None)
    ledger = server.ledger.to_dict()
    return {
        "seconds": seconds,
        "report": report,
        "story": story,
        "ledger": ledger,
        "http": report.get("writer", {}).get("calls", 0),
        "billed": ledger["answered"],
        "through_batches": ledger["batch_lines_billed"],
    }


def measure(quick: bool = False) -> dict[str, Any]:
    """Live then batch on the same story; returns both runs and their ratios."""
    module = _server_module()
    with (
        module.FakeOpenAI(latency_ms=LIVE_LATENCY_MS, batch_polls=BATCH_POLLS) as server,
        tempfile.TemporaryDirectory() as live_dir,
        tempfile.TemporaryDirectory() as batch_dir,
    ):
        live = _one(server, Path(live_dir), False, quick)
        batch = _one(server, Path(batch_dir), True, quick)
    live_cost = live["report"]["cost_usd"] or 0.0
    batch_cost = batch["report"]["cost_usd"] or 0.0
    return {
        "live": live,
        "batch": batch,
        "same_story": live["story"] == batch["story"],
        "cost_ratio": batch_cost / live_cost if live_cost else float("nan"),
        "time_ratio": batch["seconds"] / live["seconds"],
        "http_ratio": batch["http"] / max(1, live["http"]),
        "share": batch["through_batches"] / max(1, batch["billed"]),
    }


def run(quick: bool) -> Section:
    section = Section("8. Batch mode against live mode")
    try:
        m = measure(quick)
    except Exception as exc:  # an unfinished writer or server: say why, measure the rest
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
        section.rows.append(
            Row("8", "batch mode vs live mode", f"not measured: {reason}", "-", "not measured")
        )
        return section
    live, batch = m["live"], m["batch"]
    ok = m["same_story"] and m["share"] >= SHARE_GOAL and m["cost_ratio"] <= COST_GOAL
    section.rows.append(
        Row(
            "8",
            "batch mode vs live mode, same story",
            f"cost {m['cost_ratio']:.0%} of live; {m['share']:.0%} of replies through batches; "
            f"wall time {m['time_ratio']:.2f}x; HTTP requests {m['http_ratio']:.2f}x; "
            f"same story: {'yes' if m['same_story'] else 'NO'}",
            f"same story, >= {SHARE_GOAL:.0%} through batches, cost <= {COST_GOAL:.0%} of live",
            verdict(ok),
        )
    )
    section.details += [
        f"`ghost-story generate --json` twice ({' '.join(_shape(quick))}) against the fake server in this "
        f"process: live calls answered after {LIVE_LATENCY_MS:g} ms, a batch done after {BATCH_POLLS} polls "
        f"{POLL_S:g} s apart (GSF_BATCH_POLL_SECONDS). Cost is the run's own `cost_usd` (gpt-4o-mini table "
        "price; batch tokens at half). HTTP requests are the writer's (chat calls, uploads, batch creates, "
        "polls, downloads).",
        "",
        "| mode | wall s | HTTP requests | billed replies | through batches | batches | tokens | cost USD |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, run_ in (("live", live), ("batch", batch)):
        section.details.append(
            f"| {name} | {run_['seconds']:.2f} | {run_['http']} | {run_['billed']} | {run_['through_batches']} "
            f"| {run_['ledger']['batches_created']} | {run_['report']['tokens']['total']} "
            f"| {run_['report']['cost_usd']:.6f} |"
        )
    return section


if __name__ == "__main__":
    section = run("--quick" in sys.argv)
    print("\n".join(f"{row.measure}: {row.result} [{row.verdict}]" for row in section.rows))
    print("\n".join(section.details))
