"""Shared bench pieces: result rows, statistics, the machine description, timing wrappers and a runner."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ghost_story_factory.library import Library
from ghost_story_factory.pregenerator.builder import TreeSettings
from ghost_story_factory.pregenerator.checkpoints import (
    CheckpointStore,
    Journal,
    StoryCheckpoint,
    TreeCheckpoint,
)
from ghost_story_factory.pregenerator.progress import SilentProgress
from ghost_story_factory.pregenerator.story import GenerationResult, GenerationSettings, StoryGenerator
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
    """Total time spent in ``os.fsync`` while installed (the product calls it through the os module)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0
        self._original: Callable[[int], None] | None = None

    def _timed(self, fd: int) -> None:
        started = time.perf_counter()
        try:
            assert self._original is not None
            self._original(fd)
        finally:
            self.seconds += time.perf_counter() - started
            self.calls += 1

    def __enter__(self) -> FsyncClock:
        self._original = os.fsync
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


class TimedJournal(Journal):
    """A journal that times its appends (each one writes a line and fsyncs it)."""

    def __init__(self, path: Path, warn: Callable[[str], None], times: list[float]) -> None:
        super().__init__(path, warn)
        self.times = times

    def append(self, key: str, answer: Answer) -> None:
        started = time.perf_counter()
        try:
            super().append(key, answer)
        finally:
            self.times.append(time.perf_counter() - started)


class TimedStore(CheckpointStore):
    """A checkpoint store that times every save and journal append, and keeps the last tree saved."""

    def __init__(self, folder: Path, city: str, warn: Callable[[str], None]) -> None:
        super().__init__(folder, city, warn)
        self.bench_warn = warn
        self.tree_saves: list[float] = []
        self.story_saves: list[float] = []
        self.journal_appends: list[float] = []
        self.last_tree: dict[str, Tree] = {}

    def save_tree(self, character: str, settings: dict[str, Any], checkpoint: TreeCheckpoint) -> bool:
        started = time.perf_counter()
        try:
            return super().save_tree(character, settings, checkpoint)
        finally:
            self.tree_saves.append(time.perf_counter() - started)
            self.last_tree[character] = checkpoint.tree

    def save_story(self, checkpoint: StoryCheckpoint) -> bool:
        started = time.perf_counter()
        try:
            return super().save_story(checkpoint)
        finally:
            self.story_saves.append(time.perf_counter() - started)

    def journal(self, character: str | None) -> Journal:
        self.folder.mkdir(parents=True, exist_ok=True)
        return TimedJournal(self.journal_path(character), self.bench_warn, self.journal_appends)


class BenchProgress(SilentProgress):
    """Silent progress that notes when the tree build starts and ends (wall and CPU time)."""

    def __init__(
        self, on_start: Callable[[], None] | None = None, on_finish: Callable[[], None] | None = None
    ) -> None:
        super().__init__()
        self.on_start = on_start
        self.on_finish = on_finish
        self.tree_wall = (0.0, 0.0)
        self.tree_cpu = (0.0, 0.0)

    def tree_started(self, name: str, max_nodes: int, nodes: int) -> None:
        if self.on_start:
            self.on_start()
        self.tree_wall = (time.perf_counter(), 0.0)
        self.tree_cpu = (time.process_time(), 0.0)

    def tree_finished(self) -> None:
        self.tree_wall = (self.tree_wall[0], time.perf_counter())
        self.tree_cpu = (self.tree_cpu[0], time.process_time())
        if self.on_finish:
            self.on_finish()

    @property
    def tree_seconds(self) -> float:
        return self.tree_wall[1] - self.tree_wall[0]

    @property
    def tree_cpu_seconds(self) -> float:
        return self.tree_cpu[1] - self.tree_cpu[0]


class InFlightWriter:
    """Wraps a writer and records, over time, how many calls are in flight."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name, self.model = inner.name, inner.model
        self.calls = 0
        self.in_flight = 0
        self.events: list[tuple[float, int]] = []  # (time, calls in flight from then on)

    async def complete(self, request: Request, retries: list[Retry]) -> Reply:
        self.calls += 1
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
    store: TimedStore
    progress: BenchProgress
    wall: float

    @property
    def tree(self) -> Tree:
        return self.store.last_tree[CHARACTER]


def run_generation(
    folder: Path,
    writer: Any,
    tree: TreeSettings,
    on_tree_start: Callable[[], None] | None = None,
    on_tree_finish: Callable[[], None] | None = None,
) -> Generation:
    """One whole generation (one character) on real checkpoint files and a real SQLite library."""
    progress = BenchProgress(on_tree_start, on_tree_finish)
    store = TimedStore(folder / "checkpoints", CITY, progress.warn)
    settings = GenerationSettings(city=CITY, characters=(CHARACTER,), lang="zh", tree=tree)
    with Library(folder / "library.db") as library:
        generator = StoryGenerator(
            writer=writer, store=store, library=library, progress=progress, settings=settings
        )
        started = time.perf_counter()
        result = asyncio.run(generator.run())
        wall = time.perf_counter() - started
    if progress.warnings:
        raise RuntimeError(f"the generation warned: {progress.warnings[0]}")
    return Generation(result, store, progress, wall)


def sample_node_request() -> Request:
    """A real node request (the root of a story written by the offline writer)."""
    from ghost_story_factory.pregenerator.state import GameState

    documents = write(prompts.documents_request(CITY, [CHARACTER], "zh"))
    return prompts.node_request(
        city=CITY,
        lang="zh",
        story=documents,
        character={"name": CHARACTER, "role": "", "description": ""},
        state=GameState(scene=documents["scenes"][0]).to_dict(),
        depth=0,
        max_depth=20,
        path=[],
        must_end=None,
        may_end=False,
        branching=3,
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
