"""Runs the ``ghost-story`` command line with timers around the builder's nearest-state search."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import orjson

from ghost_story_factory import cli
from ghost_story_factory.pregenerator import builder

STATS_ENV = "BENCH_STATS_FILE"


def install(stats: dict[str, float]) -> None:
    """Wrap ``TreeBuilder._nearest`` and ``_place_child`` (in this process only) to time them.

    A ``_nearest`` result is needed only when the child converges into an existing node; time spent
    in it for a child that did not converge is counted as ``wasted``.
    """
    nearest, place = builder.TreeBuilder._nearest, builder.TreeBuilder._place_child
    spent = [0.0]

    def timed_nearest(self: Any, state: Any, depth: int) -> str | None:
        started = time.perf_counter()
        try:
            return nearest(self, state, depth)
        finally:
            elapsed = time.perf_counter() - started
            spent[0] += elapsed
            stats["nearest_s"] += elapsed
            stats["nearest_calls"] += 1

    def timed_place(
        self: Any, tree: Any, parent: Any, via: str, via_index: int, state: Any, slack: int
    ) -> tuple[str, int]:
        spent[0] = 0.0
        converged = tree.converged
        started = time.perf_counter()
        result = place(self, tree, parent, via, via_index, state, slack)
        stats["place_s"] += time.perf_counter() - started
        stats["children"] += 1
        if tree.converged == converged and spent[0] > 0:
            stats["wasted_s"] += spent[0]
            stats["wasted_calls"] += 1
        return result

    builder.TreeBuilder._nearest = timed_nearest  # type: ignore[method-assign]
    builder.TreeBuilder._place_child = timed_place  # type: ignore[method-assign]


def main(argv: list[str]) -> int:
    stats = dict.fromkeys(
        ("nearest_s", "nearest_calls", "place_s", "children", "wasted_s", "wasted_calls"), 0.0
    )
    install(stats)
    started = time.process_time()
    try:
        return cli.main(argv)
    finally:
        stats["cpu_s"] = time.process_time() - started
        target = os.environ.get(STATS_ENV)
        if target:
            with open(target, "wb") as handle:
                handle.write(orjson.dumps(stats))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
