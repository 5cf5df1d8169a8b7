"""Measures 4 and 5: resuming a killed ``ghost-story generate``, and peak memory of a large generation."""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from ghost_story_factory.pregenerator.checkpoints import CheckpointStore

from .common import CHARACTER, CITY, REPO, Row, Section, child_env, cli_command, verdict
from .instrumented_cli import STATS_ENV

POLL_S = 0.002


def _generate_args(folder: Path, *extra: str) -> list[str]:
    return [
        "generate",
        "--city",
        CITY,
        "--characters",
        CHARACTER,
        "--checkpoint-dir",
        str(folder / "checkpoints"),
        "--db",
        str(folder / "library.db"),
        "--yes",
        *extra,
    ]


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.wait()


def _journal_keys(raw: bytes) -> list[str | None]:
    """The key of every line (None for a torn or unreadable one)."""
    keys: list[str | None] = []
    for line in raw.split(b"\n"):
        if not line:
            continue
        try:
            keys.append(orjson.loads(line)["key"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            keys.append(None)
    return keys


def _startup(runs: int = 3) -> float:
    """Median wall time of ``ghost-story --version``: starting Python and importing the command."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run([*cli_command(), "--version"], env=child_env(), stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise RuntimeError(f"ghost-story --version exited with {done.returncode}")
    return statistics.median(times)


def _measured(folder: Path, name: str, command: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run ``command`` through ``bench.measure_child`` and return its own peak RSS, CPU and wall time."""
    report = folder / f"{name}.rusage.json"
    out, err = folder / f"{name}.out", folder / f"{name}.err"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        subprocess.run(
            [sys.executable, "-m", "bench.measure_child", str(report), *command],
            env=env,
            cwd=REPO,
            stdout=stdout,
            stderr=stderr,
        )
    if not report.exists():
        raise RuntimeError(f"{name}: no report: {err.read_text(encoding='utf-8', errors='replace')[-500:]}")
    usage = orjson.loads(report.read_bytes())
    if usage["code"] != 0:
        tail = err.read_text(encoding="utf-8", errors="replace")[-500:]
        raise RuntimeError(f"{name} exited with {usage['code']}: {tail}")
    usage["stdout"] = out.read_bytes()
    return usage


# -- 4. resume --------------------------------------------------------------------------------------


def _wait_for_checkpoint(process: subprocess.Popen[bytes], path: Path, nodes: int, timeout: float) -> int:
    """Poll the tree checkpoint (parsing it only when it changed) until it holds ``nodes`` nodes."""
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the first run ended (exit {process.returncode}) before {nodes} nodes")
        with contextlib.suppress(FileNotFoundError):
            stamp = path.stat().st_mtime_ns, path.stat().st_size
            if stamp != seen:
                seen = stamp
                with contextlib.suppress(orjson.JSONDecodeError, KeyError, FileNotFoundError):
                    count = int(orjson.loads(path.read_bytes())["nodes_count"])
                    if count >= nodes:
                        return count
        time.sleep(POLL_S)
    raise RuntimeError(f"the tree checkpoint did not reach {nodes} nodes in {timeout:.0f} s")


def resume(quick: bool) -> Section:
    target, max_nodes, every, fast_ms, latency_ms, wanted = (
        (40, 200, 20, 5, 50, 10) if quick else (500, 1000, 50, 20, 200, 40)
    )
    section = Section("4. Resume after a crash")
    version_s = _startup()
    with tempfile.TemporaryDirectory(prefix="gsf-bench-resume-") as tmp:
        folder = Path(tmp)
        store = CheckpointStore(folder / "checkpoints", CITY, lambda _text: None)
        tree_path, journal_path = store.tree_path(CHARACTER), store.journal_path(CHARACTER)
        args = [
            *cli_command(),
            *_generate_args(folder, "--max-nodes", str(max_nodes), "--checkpoint-every", str(every)),
        ]
        first = subprocess.Popen(
            args,
            env=child_env(GSF_OFFLINE_LATENCY_MS=str(fast_ms)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for_checkpoint(first, tree_path, target, timeout=180)
        finally:
            _kill(first)
        document = orjson.loads(tree_path.read_bytes())
        nodes = document["tree"]["nodes"]
        committed = sum(1 for node in nodes.values() if node["narrative"] is not None)
        pending = len(document["tree"]["queue"])
        old = journal_path.read_bytes()
        old_keys = _journal_keys(old)
        known = {key for key in old_keys if key}
        torn_before = old_keys.count(None) + (1 if old and not old.endswith(b"\n") else 0)

        started = time.perf_counter()
        second = subprocess.Popen(
            args,
            env=child_env(GSF_OFFLINE_LATENCY_MS=str(latency_ms), GSF_OFFLINE_JITTER="0"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        first_new: float | None = None
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and second.poll() is None:
                if journal_path.stat().st_size > len(old):
                    fresh = journal_path.read_bytes()[len(old) :]
                    lines = fresh.count(b"\n")
                    if lines and first_new is None:
                        first_new = time.perf_counter() - started
                    if lines >= wanted:
                        break
                time.sleep(POLL_S)
        finally:
            _kill(second)
        if first_new is None:
            raise RuntimeError("the rerun wrote no new journal line")
        # The rerun appends right after the old bytes, so what follows them is whole new records.
        new_keys = _journal_keys(journal_path.read_bytes()[len(old) :])
    respent = sum(1 for key in new_keys if key in known)
    after_checkpoint = len(known) - committed
    section.rows.append(
        Row(
            "4",
            f"resume a {len(nodes)}-node checkpoint: process start → first new node",
            f"{first_new:.2f} s (includes one {latency_ms:.0f} ms call; `ghost-story --version` alone "
            f"{version_s:.2f} s)",
        )
    )
    section.rows.append(
        Row(
            "4",
            "calls re-spent after SIGKILL",
            f"{respent} (journal: {len(known)} replies, {after_checkpoint} of them received after the last "
            f"tree checkpoint and taken from the journal)",
            "0",
            verdict(respent == 0),
        )
    )
    section.details += [
        f"`ghost-story generate --city {CITY} --characters {CHARACTER} --max-nodes {max_nodes} "
        f"--checkpoint-every {every}` (offline backend) runs with GSF_OFFLINE_LATENCY_MS={fast_ms:g} until its "
        f"tree checkpoint holds >= {target} nodes (the bench polls the file), then gets SIGKILL. The checkpoint "
        f"then held {len(nodes)} nodes ({committed} written, {pending} pending); the character journal held "
        f"{len(known)} replies ({torn_before} torn or unreadable lines). The same command is then run again with "
        f"GSF_OFFLINE_LATENCY_MS={latency_ms:g} and no jitter; the clock starts just before the process is "
        "spawned and stops when the journal gains its first new line (a reply is journaled as soon as it "
        "arrives, before it is committed), polled every 2 ms. That time includes starting Python and "
        f"importing the package (`ghost-story --version`: {version_s:.2f} s, median of 3), taking the lock, "
        f"loading the story and tree checkpoints and the journal, and one {latency_ms:.0f} ms writer call. "
        f"The rerun is killed after {wanted} new journal lines ({len(new_keys)} read); calls re-spent = new "
        "journal lines whose request key was already in the journal before the rerun (a re-asked call is "
        "journaled again, a reply taken from the journal is not).",
    ]
    return section


# -- 5. memory --------------------------------------------------------------------------------------


def memory(quick: bool) -> Section:
    max_nodes = 200 if quick else 5000
    section = Section("5. Memory")
    with tempfile.TemporaryDirectory(prefix="gsf-bench-mem-") as tmp:
        folder = Path(tmp)
        stats_path = folder / "stats.json"
        version = _measured(folder, "version", [*cli_command(), "--version"], child_env())
        command = [
            sys.executable,
            "-m",
            "bench.instrumented_cli",
            *_generate_args(
                folder, "--max-nodes", str(max_nodes), "--max-depth", "25", "--concurrency", "16"
            ),
            "--json",
        ]
        run = _measured(folder, "generate", command, child_env(**{STATS_ENV: str(stats_path)}))
        result = orjson.loads(run["stdout"].splitlines()[-1])
        stats = orjson.loads(stats_path.read_bytes())
    nodes = int(result["nodes"][CHARACTER])
    peak_mib, version_mib = run["maxrss_kib"] / 1024, version["maxrss_kib"] / 1024
    cpu, wall = run["cpu_s"], run["wall_s"]
    section.rows.append(
        Row(
            "5",
            f"peak RSS generating a {nodes:,}-node tree",
            f"{peak_mib:.0f} MiB (`ghost-story --version`: {version_mib:.0f} MiB)",
        )
    )
    section.rows.append(
        Row(
            "5",
            "CPU of that run, of which nearest-state search",
            f"{cpu:.1f} s CPU ({cpu / nodes * 1000:.1f} ms per node); `_nearest` {stats['nearest_s']:.1f} s, "
            f"{stats['wasted_s']:.1f} s of it for children that did not converge",
        )
    )
    section.details += [
        f"`ghost-story generate --max-nodes {max_nodes} --max-depth 25 --concurrency 16` (offline writer, no "
        f"latency) in a child process, through `bench/instrumented_cli.py`, which calls the product's "
        "`cli.main` unchanged after wrapping `TreeBuilder._nearest` and `_place_child` with timers. Peak RSS "
        "and CPU time are the command's own, from `os.wait4` in `bench/measure_child.py`, a small launcher "
        "process (a child forked straight from the bench would report the bench's own high-water mark).",
        "",
        "| nodes | wall | CPU | peak RSS | `--version` RSS | children placed | `_nearest` calls | `_nearest` time "
        "| of which for children that did not converge |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {nodes:,} | {wall:.1f} s | {cpu:.1f} s | {peak_mib:.0f} MiB | {version_mib:.0f} MiB "
        f"| {int(stats['children']):,} | {int(stats['nearest_calls']):,} | {stats['nearest_s']:.1f} s "
        f"| {stats['wasted_s']:.1f} s ({int(stats['wasted_calls']):,} calls) |",
        "",
        f"- `_nearest` took {stats['nearest_s']:.1f} s of the run's {cpu:.1f} s of CPU "
        f"({stats['nearest_s'] / max(cpu, 1e-9):.0%}): it scans every node of a level (width "
        f"{max(3, -(-max_nodes // 25))} here) for each branch that must converge. "
        + (
            f"{stats['wasted_s']:.1f} s of it ({stats['wasted_s'] / max(cpu, 1e-9):.0%} of the CPU) went to "
            "children that did not converge: a search whose result was thrown away."
            if stats["wasted_calls"]
            else "None of it went to children that did not converge: `_place_child` searches only when the "
            "level is full."
        ),
    ]
    return section
