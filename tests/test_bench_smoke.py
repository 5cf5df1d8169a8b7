"""Smoke test of the bench command: a quick run prints and writes a row for every measure (no timing checks)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import run as bench_run  # noqa: E402 - the repository root must be importable first
from bench.common import Row, Section  # noqa: E402

ROWS = (
    "checkpoint save, 20 nodes",
    "checkpoint load, 100 nodes",
    "checkpoint writes in a 40-node run",
    "journal appends in the same run",
    "scheduler C=1,",
    "scheduler C=4,",
    "scheduler C=16,",
    "diagnostic: C=16 again with fsync made a no-op",
    "seed-style scheduling",
    "level by level vs previous scheduler, 1 character,",
    "level by level vs previous scheduler, 3 characters,",
    "process start → first new node",
    "calls re-spent after SIGKILL",
    "peak RSS generating",
    "rate-limit pacing, 600/min as 10 per 1 s (sliding)",
    "rate-limit pacing, 600/min as 10 per 1 s (bucket)",
    "rate-limit pacing, 600/min as 10 per 1 s (bucket, no x-ratelimit headers)",
    "calls' tokens (",
    "(tokens, bucket, no x-ratelimit headers)",
    "3-character story end to end, sequential characters",
    "3-character story end to end, parallel characters",
    "parallel against sequential characters, same story",
    "batch mode vs live mode, same story",
    "CPU time per 1,000 nodes of one graph at",
    "nearest-state search at",
)


def test_quick_run_prints_and_writes_every_row(tmp_path: Path) -> None:
    output = tmp_path / "BENCHMARKS.md"
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--output", str(output)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    text = output.read_text(encoding="utf-8")
    for row in ROWS:
        assert row in done.stdout, f"row {row!r} not printed"
        assert row in text, f"row {row!r} not written"
    assert "| error |" not in text
    assert "stories identical" in text  # sequential and parallel characters give the same story
    for part in (
        "## Summary",
        "- CPU: ",
        "- cores: ",
        "- RAM: ",
        "- Python: ",
        "- OS: ",
        "- Date: ",
        "- Load average (1, 5, 15 min): ",
    ):
        assert part in text
    assert "- Command: `" in text and "bench.run --quick" in text
    assert text.startswith(bench_run.DEFAULT_INTRO.splitlines()[0]) and bench_run.MARKER in text


def test_the_hand_written_intro_is_kept(tmp_path: Path) -> None:
    output = tmp_path / "BENCHMARKS.md"
    output.write_text(
        f"# Ours\n\nHand-written words.\n\n{bench_run.MARKER}\n\nold figures\n", encoding="utf-8"
    )
    section = Section("1. Something", rows=[Row("1", "a measure", "a result")], details=["details"])
    text = bench_run.document(bench_run.intro_of(output), [section], "python -m bench.run", False, 1.0)
    assert text.startswith("# Ours\n\nHand-written words.")
    assert "old figures" not in text and "| 1 | a measure | a result | - | info |" in text
    assert bench_run.intro_of(tmp_path / "missing.md") == bench_run.DEFAULT_INTRO
