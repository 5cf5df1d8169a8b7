"""Test writers wrapped around a real one, and a one-call story generation on real files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ghost_story_factory import Budget, TreeSettings, generate_story
from ghost_story_factory.errors import WriterUnavailable
from ghost_story_factory.pregenerator.progress import SilentProgress
from ghost_story_factory.pregenerator.story import GenerationResult
from ghost_story_factory.writers.base import Reply, Request, Retry, Usage
from ghost_story_factory.writers.offline import OfflineWriter


class TestWriter:
    """A real offline writer that can go down after ``fail_after`` calls or answer garbage.

    ``garbage`` is a set of call numbers (1-based) that get an invalid reply; ``tokens`` makes
    every reply report that many prompt and completion tokens, like a billed API would.
    """

    __test__ = False

    def __init__(
        self,
        fail_after: int | None = None,
        garbage: set[int] | None = None,
        tokens: int = 0,
        latency_ms: float = 0.0,
    ) -> None:
        self.inner = OfflineWriter(latency_ms=latency_ms)
        self.name, self.model = self.inner.name, self.inner.model
        self.fail_after = fail_after
        self.garbage = garbage or set()
        self.tokens = tokens
        self.calls = 0

    async def complete(self, request: Request, retries: list[Retry]) -> Reply:
        self.calls += 1
        number = self.calls
        if self.fail_after is not None and number > self.fail_after:
            raise WriterUnavailable("test backend is down")
        reply = await self.inner.complete(request, retries)
        usage = Usage(self.tokens, self.tokens, 0)
        if number in self.garbage:
            return Reply(text='{"narrative": "half a rep', usage=usage)
        return Reply(text=reply.text, usage=usage)

    async def aclose(self) -> None:
        await self.inner.aclose()


def generate(
    folder: Path,
    writer: Any,
    *,
    city: str = "上海",
    characters: tuple[Any, ...] = ("保安", "调查员"),  # names, or (name, role) pairs
    lang: str = "zh",
    checkpoint_dir: Path | None = None,
    budget: Budget | None = None,
    progress: SilentProgress | None = None,
    **tree: Any,
) -> GenerationResult:
    """Run one generation on real checkpoint files and a real SQLite library under ``folder``."""
    shape = {
        "max_depth": 8,
        "branching": 3,
        "max_nodes": 40,
        "concurrency": 4,
        "checkpoint_every": 10,
        **tree,
    }
    return generate_story(
        city,
        characters,
        writer=writer,
        lang=lang,
        tree=TreeSettings(**shape),
        budget=budget,
        checkpoint_dir=checkpoint_dir or folder / "checkpoints",
        db=folder / "library.db",
        progress=progress or SilentProgress(),
    )


def without_meta(story: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in story.items() if key != "meta"}


def story_diff(a: Any, b: Any, path: str = "") -> str:
    """Where two stories first differ (empty when equal), without pytest's giant dict diffs."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                return f"{path}/{key}: only in {'second' if key not in a else 'first'}"
            found = story_diff(a[key], b[key], f"{path}/{key}")
            if found:
                return found
        return ""
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items vs {len(b)}"
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            found = story_diff(x, y, f"{path}[{index}]")
            if found:
                return found
        return ""
    return "" if a == b else f"{path}: {str(a)[:80]!r} != {str(b)[:80]!r}"


def same_story(a: dict[str, Any], b: dict[str, Any]) -> str:
    """Empty when two stories are identical apart from ``meta``; else where they differ."""
    return story_diff(without_meta(a), without_meta(b))
