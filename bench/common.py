"""Shared bench pieces: result rows, statistics, the machine description, timing wrappers and a runner."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from unittest import mock

from ghost_story_factory import api
from ghost_story_factory.pregenerator.builder import StoryContext, TreeSettings
from ghost_story_factory.pregenerator.checkpoints import (
    CheckpointStore,
    Journal,
    StoryCheckpoint,
    TreeCheckpoint,
)
from ghost_story_factory.pregenerator.progress import SilentProgress
from ghost_story_factory.pregenerator.state import GameState
from ghost_story_factory.pregenerator.story import GenerationResult, StoryGenerator
from ghost_story_factory.pregenerator.tree import Tree
from ghost_story_factory.writers import prompts
from ghost_story_factory.writers.base import Answer, Reply, Request, Retry
from ghost_story_factory.writers.offline import write

REPO = Path(__file__).resolve().parent.parent
CITY = "上海"
CHARACTER = "保安"


# -- results ---------------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the summary table."""

    section: str
    measure: str
    result: str
    goal: str = "-"
    verdict: str = "info"  # met, MISSED, info, not measured, error


@dataclass
class Section:
    """What one measurement produced: summary rows, a markdown block of details, and its duration."""

    title: str
    rows: list[Row] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    seconds: float = 0.0
    failed: bool = False
    load: str = ""  # the 1-minute load average when the measure started


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


# -- statistics ------------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values)


def p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile (with few samples, the largest)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def ms(seconds: float) -> str:
    value = seconds * 1000
    if value >= 100:
        return f"{value:.0f} ms"
    if value >= 10:
        return f"{value:.1f} ms"
    return f"{value:.2f} ms"


def size(nbytes: int) -> str:
    if nbytes >= 1024 * 1024:
        return f"{nbytes / 1024 / 1024:.1f} MiB"
    return f"{nbytes / 1024:.0f} KiB"


def pct(fraction: float) -> str:
    if fraction < 0.01:
        return f"{fraction * 100:.3f}%"
    return f"{fraction * 100:.1f}%"


# -- the machine -----------------------------------------------------------------------------------


def _first_line_with(path: str, prefix: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip() if ":" in line else line.split("=", 1)[1]
    except OSError:
        return None
    return None


def filesystem_of(path: Path) -> str:
    """``ext4 on /dev/vda (mounted at /)`` for the mount that holds ``path``."""
    target = str(path.resolve())
    best: tuple[int, str] = (-1, "unknown")
    try:
        with open("/proc/mounts", encoding="utf-8") as handle:
            for line in handle:
                device, mount, kind = line.split()[:3]
                inside = target == mount or target.startswith(mount.rstrip("/") + "/")
                if inside and len(mount) > best[0]:
                    best = (len(mount), f"{kind} on {device} (mounted at {mount})")
    except OSError:
        pass
    return best[1]


def load_average() -> str:
    """The system's load averages over 1, 5 and 15 minutes, e.g. ``0.52, 0.80, 1.10``."""
    try:
        return ", ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def machine() -> dict[str, str]:
    """The machine the figures come from."""
    cpu = _first_line_with("/proc/cpuinfo", "model name") or platform.processor() or "unknown"
    mem_kb = _first_line_with("/proc/meminfo", "MemTotal")
    ram = f"{int(mem_kb.split()[0]) / 1024 / 1024:.1f} GiB" if mem_kb else "unknown"
    pretty = _first_line_with("/etc/os-release", "PRETTY_NAME=")
    os_name = pretty.strip().strip('"') if pretty else platform.system()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "CPU": cpu,
        "cores": f"{os.cpu_count()} logical ({usable} usable by this process)",
        "RAM": ram,
        "Python": f"{platform.python_version()} ({platform.python_implementation()})",
        "OS": f"{os_name}, kernel {platform.release()}",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


# -- instrumentation (bench only: wraps, never changes, product code) ------------------------------


class FsyncClock:
    """Time spent in ``os.fsync`` while installed, on the event loop's thread and on other threads.

    The product calls fsync through the os module: tree and story checkpoints on the loop's thread,
    the journal from its own syncing thread (``journal-fsync``)."""

    def __init__(self) -> None:
        self.seconds = 0.0  # on the thread that installed the clock (the event loop's)
        self.calls = 0
        self.other_seconds = 0.0  # on any other thread (the journal's syncer)
        self.other_calls = 0
        self._original: Callable[[int], None] | None = None
        self._owner = threading.get_ident()
        self._lock = threading.Lock()

    def _timed(self, fd: int) -> None:
        started = time.perf_counter()
        try:
            assert self._original is not None
            self._original(fd)
        finally:
            elapsed = time.perf_counter() - started
            with self._lock:
                if threading.get_ident() == self._owner:
                    self.seconds += elapsed
                    self.calls += 1
                else:
                    self.other_seconds += elapsed
                    self.other_calls += 1

    def __enter__(self) -> FsyncClock:
        self._original = os.fsync
        self._owner = threading.get_ident()
        os.fsync = self._timed  # type: ignore[assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._original is not None
        os.fsync = self._original  # type: ignore[assignment]


@contextlib.contextmanager
def no_fsync() -> Iterator[None]:
    """Diagnostics only: makes fsync a no-op, to show what durability costs."""
    original = os.fsync
    os.fsync = lambda _fd: None  # type: ignore[assignment]
    try:
        yield
    finally:
        os.fsync = original  # type: ignore[assignment]


@dataclass
class DurableWrites:
    """What :func:`timed_writes` saw: each save's and each journal append's duration, and the last
    tree saved per character (the finished tree: the builder saves it when it is done)."""

    tree_saves: list[float] = field(default_factory=list)
    story_saves: list[float] = field(default_factory=list)
    story_save_spans: list[tuple[float, float]] = field(default_factory=list)  # (start, end) of each
    journal_appends: list[float] = field(default_factory=list)
    last_tree: dict[str, Tree] = field(default_factory=dict)
    tree_save_fsync: float = 0.0  # seconds in os.fsync inside the saves (with a clock given)
    story_save_fsync: float = 0.0


@contextlib.contextmanager
def timed_writes(clock: FsyncClock | None = None) -> Iterator[DurableWrites]:
    """Times ``CheckpointStore.save_tree``/``save_story`` and ``Journal.append`` of every store and
    journal the product makes while installed, by wrapping the product's methods (which run unchanged).
    With an installed ``clock``, the saves' own fsync time is noted too."""
    seen = DurableWrites()

    def fsynced() -> float:
        return clock.seconds if clock is not None else 0.0

    save_tree, save_story, append = CheckpointStore.save_tree, CheckpointStore.save_story, Journal.append

    def timed_save_tree(
        self: CheckpointStore, character: str, settings: dict[str, Any], checkpoint: TreeCheckpoint
    ) -> bool:
        started, synced = time.perf_counter(), fsynced()
        try:
            return save_tree(self, character, settings, checkpoint)
        finally:
            seen.tree_saves.append(time.perf_counter() - started)
            seen.tree_save_fsync += fsynced() - synced
            seen.last_tree[character] = checkpoint.tree

    def timed_save_story(self: CheckpointStore, checkpoint: StoryCheckpoint) -> bool:
        started, synced = time.perf_counter(), fsynced()
        try:
            return save_story(self, checkpoint)
        finally:
            seen.story_save_fsync += fsynced() - synced
            seen.story_saves.append(time.perf_counter() - started)
            seen.story_save_spans.append((started, time.perf_counter()))

    def timed_append(self: Journal, key: str, answer: Answer) -> None:
        started = time.perf_counter()
        try:
            append(self, key, answer)
        finally:
            seen.journal_appends.append(time.perf_counter() - started)

    with (
        mock.patch.object(CheckpointStore, "save_tree", timed_save_tree),
        mock.patch.object(CheckpointStore, "save_story", timed_save_story),
        mock.patch.object(Journal, "append", timed_append),
    ):
        yield seen


class BenchProgress(SilentProgress):
    """Silent progress that notes when each character's tree starts and ends (wall and CPU time), and
    when each line event (documents, plan, ...) came. The build spans the first tree's start to the
    last tree's end; ``on_start``/``on_finish`` run then."""

    def __init__(
        self, on_start: Callable[[], None] | None = None, on_finish: Callable[[], None] | None = None
    ) -> None:
        super().__init__()
        self.on_start = on_start
        self.on_finish = on_finish
        self.trees: dict[str, list[float]] = {}  # name -> [wall start, wall end, cpu start, cpu end]
        self.events: list[tuple[float, str]] = []  # (wall time, line key), in order
        self._growing = 0

    def line(self, key: str, **values: Any) -> None:
        self.events.append((time.perf_counter(), key))
        super().line(key, **values)

    def tree_started(self, name: str, max_nodes: int, nodes: int) -> None:
        if self._growing == 0 and not self.trees and self.on_start:
            self.on_start()
        self._growing += 1
        self.trees[name] = [time.perf_counter(), 0.0, time.process_time(), 0.0]

    def tree_finished(self, name: str) -> None:
        self.trees[name][1], self.trees[name][3] = time.perf_counter(), time.process_time()
        self._growing -= 1
        if self._growing == 0 and self.on_finish:
            self.on_finish()

    @property
    def tree_wall(self) -> tuple[float, float]:
        """From the first tree's start to the last tree's end."""
        spans = list(self.trees.values())
        return min(s[0] for s in spans), max(s[1] for s in spans)

    @property
    def tree_seconds(self) -> float:
        start, end = self.tree_wall
        return end - start

    @property
    def tree_cpu_seconds(self) -> float:
        spans = list(self.trees.values())
        return max(s[3] for s in spans) - min(s[2] for s in spans)

    def first(self, key: str) -> float | None:
        return next((moment for moment, k in self.events if k == key), None)

    def last(self, key: str) -> float | None:
        return next((moment for moment, k in reversed(self.events) if k == key), None)


class InFlightWriter:
    """Wraps a writer and records, over time, how many calls are in flight (and of which kind)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name, self.model = inner.name, inner.model
        self.calls = 0
        self.kinds: dict[str, int] = {}
        self.in_flight = 0
        self.events: list[tuple[float, int]] = []  # (time, calls in flight from then on)

    async def complete(self, request: Request, retries: list[Retry]) -> Reply:
        self.calls += 1
        self.kinds[request.kind] = self.kinds.get(request.kind, 0) + 1
        self.in_flight += 1
        self.events.append((time.perf_counter(), self.in_flight))
        try:
            return await self.inner.complete(request, retries)
        finally:
            self.in_flight -= 1
            self.events.append((time.perf_counter(), self.in_flight))

    async def aclose(self) -> None:
        await self.inner.aclose()

    def profile(self, start: float, end: float, full: int) -> dict[str, float | None]:
        """Mean calls in flight over [start, end], the share of it at ``full``, and ramp/tail times
        (None when ``full`` calls were never in flight)."""
        area = at_full = 0.0
        level, since = 0, start
        first_full: float | None = None
        last_full = start
        for moment, count in self.events:
            if moment < start:
                level = count
                continue
            moment = min(moment, end)
            area += (moment - since) * level
            if level >= full:
                at_full += moment - since
                last_full = moment
            if count >= full and first_full is None:
                first_full = moment
            level, since = count, moment
        span = max(end - start, 1e-9)
        return {
            "mean_in_flight": area / span,
            "full_share": at_full / span,
            "ramp_s": None if first_full is None else first_full - start,
            "tail_s": None if first_full is None else end - last_full,
        }


# -- running a generation --------------------------------------------------------------------------


@dataclass
class Generation:
    result: GenerationResult
    writes: DurableWrites
    progress: BenchProgress
    wall: float
    started: float  # perf_counter when generate_story_async was called

    @property
    def tree(self) -> Tree:
        """The first character's finished tree (the tree checkpoint saved when it was done)."""
        return self.writes.last_tree[CHARACTER]

    @property
    def trees(self) -> dict[str, Tree]:
        return dict(self.writes.last_tree)


def run_generation(
    folder: Path,
    writer: Any,
    tree: TreeSettings,
    on_tree_start: Callable[[], None] | None = None,
    on_tree_finish: Callable[[], None] | None = None,
    *,
    characters: tuple[str | tuple[str, str], ...] = (CHARACTER,),
    generator: type[StoryGenerator] | None = None,
    clock: FsyncClock | None = None,
) -> Generation:
    """One whole generation through :func:`ghost_story_factory.api.generate_story_async`, on real
    checkpoint files and a real SQLite library, with its durable writes timed.

    ``generator`` runs a bench-only :class:`StoryGenerator` subclass in place of the product's (the
    library call makes its generator from ``api.StoryGenerator``; only that name is swapped)."""
    progress = BenchProgress(on_tree_start, on_tree_finish)
    swap = mock.patch.object(api, "StoryGenerator", generator) if generator else contextlib.nullcontext()
    with timed_writes(clock) as writes, swap:
        started = time.perf_counter()
        result = asyncio.run(
            api.generate_story_async(
                CITY,
                characters,
                writer=writer,
                lang="zh",
                tree=tree,
                checkpoint_dir=folder / "checkpoints",
                db=folder / "library.db",
                progress=progress,
            )
        )
        wall = time.perf_counter() - started
    if progress.warnings:
        raise RuntimeError(f"the generation warned: {progress.warnings[0]}")
    return Generation(result, writes, progress, wall, started)


def story_context(
    characters: list[str], lang: str = "zh", max_depth: int = 20, branching: int = 3
) -> tuple[dict[str, Any], list[StoryContext]]:
    """Documents and, per character, the fixed part of its node requests, written by the offline
    writer's own function (no latency): what a tree build starts from."""
    named = [{"name": name, "role": ""} for name in characters]
    documents = write(prompts.documents_request(CITY, named, lang))
    contexts = []
    for name in characters:
        character = {"name": name, "role": "", "description": ""}
        reply = write(
            prompts.plan_request(
                city=CITY,
                lang=lang,
                story=documents,
                character=character,
                max_depth=max_depth,
                branching=branching,
            )
        )
        character.update(role=reply["role"], description=reply["description"])
        plan = {k: reply[k] for k in ("beats", "endings", "clues", "flags", "items")}
        contexts.append(StoryContext(CITY, lang, documents, character, plan))
    return documents, contexts


def sample_node_request() -> Request:
    """A real node request: the root of a story whose documents and plan the offline writer wrote."""
    documents, (context,) = story_context([CHARACTER])
    return prompts.node_request(
        city=CITY,
        lang="zh",
        story=documents,
        character=context.character,
        plan=context.plan,
        state=GameState(scene=documents["scenes"][0]).to_dict(),
        depth=0,
        max_depth=20,
        branching=3,
        parent=None,
        arrivals=[],
        ledger={},
        next_truth=context.plan["clues"][0],
        ending=None,
        planned_endings=[],
        may_end=False,
    )


def cli_command() -> list[str]:
    """The installed ``ghost-story`` console script, or ``python -m ghost_story_factory``."""
    script = Path(sys.executable).parent / "ghost-story"
    return [str(script)] if script.exists() else [sys.executable, "-m", "ghost_story_factory"]


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a CLI child: no API key, no stray GSF_* settings, the offline writer."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GSF_") and k != "OPENAI_API_KEY"}
    env["GSF_BACKEND"] = "offline"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    env.update(extra)
    return env
