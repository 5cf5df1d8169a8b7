"""Scheduling pieces shared by measures 3 and 7: the previous builder's scheduler (bench only), trees
built directly on one shared window, and a replay of finished trees under each scheduling rule."""

from __future__ import annotations

import asyncio
import heapq
import random
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ghost_story_factory.pregenerator.builder import (
    TreeBuilder,
    TreeSettings,
    Window,
    answer,
    tree_settings_dict,
)
from ghost_story_factory.pregenerator.checkpoints import CheckpointStore
from ghost_story_factory.pregenerator.state import GameState
from ghost_story_factory.pregenerator.tree import Tree, incoming_choices
from ghost_story_factory.writers.offline import OfflineWriter

from .common import CITY, BenchProgress, InFlightWriter, story_context

JITTER = 0.25  # offline-writer latency jitter of every scheduling measure: uniform ±25%
SIM_DRAWS = 20
POLICIES = ("shape", "previous", "level", "level_fifo")


class PreviousScheduleBuilder(TreeBuilder):
    """Bench only: schedules like the builder before level-by-level growth, on the same window.

    Any queued node starts as soon as a slot is free, not only nodes of the current level. A node
    can then be written before every choice that leads to it is known, so its bridges are incomplete
    (which is why the product no longer does this); trees built with it are never validated or saved
    to a library. Everything else (requests, commits in queue order, checkpoints) is the product's."""

    def _schedule(self, tree: Tree, running: dict[str, Any], done: dict[str, Any]) -> bool:
        incoming: dict[str, list[list[Any]]] | None = None
        for nid in tree.queue:
            if nid in running or nid in done:
                continue
            if not self.window.take(self):
                return True
            if incoming is None:
                incoming = incoming_choices(tree)
            node = tree.nodes[nid]
            node.arrivals = self._arrivals(node, incoming.get(nid, []))  # those known now
            request = self._request(tree, node)
            task = asyncio.create_task(
                answer(self.writer, self.journal, request, self.settings.attempts), name=nid
            )
            task.add_done_callback(lambda _task: self.window.give())
            running[nid] = task
        return False


BUILDERS: dict[str, type[TreeBuilder]] = {"level": TreeBuilder, "previous": PreviousScheduleBuilder}


def missing_bridges(tree: Tree) -> tuple[int, int]:
    """(choices into a node several choices lead to, of them those its bridges do not cover)."""
    shared = missing = 0
    for nid, arrivals in incoming_choices(tree).items():
        if len(arrivals) < 2:
            continue
        shared += len(arrivals)
        covered = tree.nodes[nid].arrivals if tree.nodes[nid].bridges else []
        missing += sum(1 for a in arrivals if a not in covered)
    return shared, missing


def build_directly(
    policy: str, characters: list[str], settings: TreeSettings, latency_ms: float
) -> dict[str, Any]:
    """Grow each character's tree with ``BUILDERS[policy]``, side by side on one window of
    ``settings.concurrency`` calls, as the product's StoryGenerator does (same documents, plans,
    journals and checkpoint files), but without the final validation or a library."""
    documents, contexts = story_context(
        characters, max_depth=settings.max_depth, branching=settings.branching
    )
    writer = InFlightWriter(OfflineWriter(latency_ms=latency_ms, jitter=JITTER))
    progress = BenchProgress()
    with tempfile.TemporaryDirectory(prefix="gsf-bench-direct-") as tmp:
        store = CheckpointStore(Path(tmp), CITY, progress.warn)
        window = Window(settings.concurrency)
        stored = {"lang": "zh", **tree_settings_dict(settings)}
        journals = [store.journal(context.character["name"]) for context in contexts]
        builders = [
            BUILDERS[policy](
                writer=writer,
                context=context,
                settings=settings,
                store=store,
                journal=journal,
                progress=progress,
                run_id=f"bench-{policy}",
                stored_settings=stored,
                window=window,
            )
            for context, journal in zip(contexts, journals, strict=True)
        ]
        opening = GameState(scene=documents["scenes"][0])

        async def grow() -> list[Tree]:
            return await asyncio.gather(*(builder.build(opening, None) for builder in builders))

        cpu = time.process_time()
        started = time.perf_counter()
        trees = asyncio.run(grow())
        ended = time.perf_counter()
        cpu = time.process_time() - cpu
        for journal in journals:
            journal.close()
    if progress.warnings:
        raise RuntimeError(f"the build warned: {progress.warnings[0]}")
    nodes = sum(len(tree.nodes) for tree in trees)
    seconds = ended - started
    latency = latency_ms / 1000
    shared, missing = (sum(pair) for pair in zip(*(missing_bridges(t) for t in trees), strict=True))
    return {
        "policy": policy,
        "characters": len(characters),
        "trees": trees,
        "nodes": nodes,
        "calls": writer.calls,
        "seconds": seconds,
        "rate": nodes / seconds,
        "ideal": settings.concurrency / latency,
        "efficiency": nodes / seconds / (settings.concurrency / latency),
        "cpu_per_node": cpu / nodes,
        "cpu_share": cpu / seconds,
        "profile": writer.profile(started, ended, settings.concurrency),
        "shared_arrivals": shared,
        "missing_bridges": missing,
        "bounds": bounds(trees, settings.concurrency, latency),
    }


# -- replaying finished trees ------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """A finished tree as the scheduler met it: nodes in commit order (depth, then id), each with the
    index of the node whose commit created it (None for the root and the shared endings) and its depth."""

    parent: list[int | None]
    depth: list[int]


def shape_of(tree: Tree) -> Shape:
    ids = sorted(tree.nodes, key=lambda nid: (tree.nodes[nid].depth, nid))
    index = {nid: i for i, nid in enumerate(ids)}
    parents = [tree.nodes[nid].parent for nid in ids]
    return Shape([None if p is None else index[p] for p in parents], [tree.nodes[nid].depth for nid in ids])


def simulate(shapes: list[Shape], slots: int, latency: float, policy: str, seed: int) -> float:
    """Time to write every node of ``shapes`` with ``slots`` calls in flight shared by all trees, no CPU cost.

    * ``shape``: a node may start once the call of the node that created it is done: the best any
      scheduler can do on these trees (they start from one root and drain at the end);
    * ``previous``: once that node is committed, and commits go in queue order (the previous builder);
    * ``level``: once every node of a smaller depth of its tree is committed (level by level, the product);
    * ``level_fifo``: the same, but a free slot goes to the node that has waited longest for one.

    Otherwise a free slot goes to the first ready node in queue order, trees taking turns by that
    position, as builders sharing a window each start their own queue's first nodes."""
    rng = random.Random(seed)
    duration = [[latency * rng.uniform(1 - JITTER, 1 + JITTER) for _ in s.parent] for s in shapes]
    children: list[list[list[int]]] = []
    by_depth: list[dict[int, list[int]]] = []
    for s in shapes:
        kids: list[list[int]] = [[] for _ in s.parent]
        levels: dict[int, list[int]] = defaultdict(list)
        for node, (parent, depth) in enumerate(zip(s.parent, s.depth, strict=True)):
            levels[depth].append(node)
            if parent is not None:
                kids[parent].append(node)
        children.append(kids)
        by_depth.append(levels)
    fifo = policy == "level_fifo"
    ready: list[tuple[float, int, int]] = []  # (ready since, or 0 in turns; index in its tree's order; tree)

    def push(node: int, t: int, since: float) -> None:
        heapq.heappush(ready, (since if fifo else 0.0, node, t))

    for t, s in enumerate(shapes):
        first = (
            by_depth[t][s.depth[0]]
            if policy.startswith("level")
            else [node for node, parent in enumerate(s.parent) if parent is None]
        )
        for node in first:
            push(node, t, 0.0)
    running: list[tuple[float, int, int]] = []
    finished: list[set[int]] = [set() for _ in shapes]
    next_commit = [0] * len(shapes)
    now = 0.0
    while True:
        while ready and len(running) < slots:
            _since, node, t = heapq.heappop(ready)
            heapq.heappush(running, (now + duration[t][node], t, node))
        if not running:
            return now
        now, t, node = heapq.heappop(running)
        if policy == "shape":
            for child in children[t][node]:
                push(child, t, now)
            continue
        finished[t].add(node)
        depths = shapes[t].depth
        while next_commit[t] in finished[t]:
            committed = next_commit[t]
            finished[t].discard(committed)
            next_commit[t] += 1
            if policy == "previous":
                for child in children[t][committed]:
                    push(child, t, now)
            elif next_commit[t] < len(depths) and depths[next_commit[t]] != depths[committed]:
                for waiting in by_depth[t][depths[next_commit[t]]]:  # the next level opens
                    push(waiting, t, now)


def bounds(trees: list[Tree], slots: int, latency: float) -> dict[str, float]:
    """Efficiency (share of C/L) each rule reaches on these trees, averaged over SIM_DRAWS latency draws."""
    shapes = [shape_of(tree) for tree in trees]
    ideal = sum(len(s.parent) for s in shapes) * latency / slots
    result = {}
    for policy in POLICIES:
        mean = sum(simulate(shapes, slots, latency, policy, seed) for seed in range(SIM_DRAWS)) / SIM_DRAWS
        result[policy] = ideal / mean
    return result


def level_widths(trees: list[Tree]) -> tuple[float, int, int]:
    """Mean and largest number of nodes per depth level (one tree's levels), and the number of levels."""
    widths = [count for tree in trees for count in _count_by_depth(tree).values()]
    levels = max(len(_count_by_depth(tree)) for tree in trees)
    return sum(widths) / len(widths), max(widths), levels


def _count_by_depth(tree: Tree) -> dict[int, int]:
    counts: dict[int, int] = defaultdict(int)
    for node in tree.nodes.values():
        counts[node.depth] += 1
    return counts
