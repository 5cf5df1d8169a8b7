"""Measure 1: tree checkpoint save and load, ours (orjson, atomic, fsynced) against the seed's json.dump."""

from __future__ import annotations

import gc
import json
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import orjson

from ghost_story_factory.pregenerator import checkpoints
from ghost_story_factory.pregenerator.checkpoints import CheckpointStore, TreeCheckpoint
from ghost_story_factory.pregenerator.state import GameState
from ghost_story_factory.pregenerator.tree import Choice, Node, Tree, node_id
from ghost_story_factory.vocabulary import ENDING_TYPES, hhmm
from ghost_story_factory.writers.base import Usage

from .common import CHARACTER, CITY, FsyncClock, Row, Section, median, ms, p95, size, verdict

RUN_ID = "bench-run"
EVERY = 50  # nodes between two tree checkpoints in a run (the default --checkpoint-every)
SAVE_GOAL, LOAD_GOAL, GOAL_NODES = 10.0, 5.0, 500
_SCENES = ("废弃的地铁三号线站台", "旧城区第三人民医院", "老剧院的后台", "停用的住院部七楼", "江边的旧码头")
_PUNCTUATION = "，，，。。！？……"


def _cjk_pool(rng: random.Random) -> str:
    return "".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(3000))


def _text(rng: random.Random, pool: str, low: int, high: int) -> str:
    """Random Chinese text of ``low..high`` characters with punctuation every dozen or so."""
    length = rng.randint(low, high)
    parts: list[str] = []
    while sum(map(len, parts)) < length:
        parts.append("".join(rng.choices(pool, k=rng.randint(6, 18))) + rng.choice(_PUNCTUATION))
    return "".join(parts)[:length]


def _state(rng: random.Random) -> GameState:
    flags = {f"flag_{rng.randint(0, 30)}": True for _ in range(rng.randint(0, 3))}
    items = tuple(sorted({f"物品{rng.randint(0, 20)}" for _ in range(rng.randint(0, 2))}))
    return GameState(
        scene=rng.choice(_SCENES),
        pr=rng.randint(0, 99),
        gr=rng.randint(0, 99),
        wf=rng.randint(0, 99),
        time=hhmm(rng.randrange(0, 240, 5)),
        flags=flags,
        inventory=items,
    )


def build_tree(count: int, seed: int = 7) -> Tree:
    """A checkpoint-shaped tree of ``count`` nodes built with the real classes.

    Narratives are 300-800 random Chinese characters; every inner node has 3 choices (the node
    numbered i leads to 3i+1..3i+3, as in BFS); the last tenth of the nodes are still pending
    (in the queue, no narrative yet) and the other leaves are endings.
    """
    rng = random.Random(seed)
    pool = _cjk_pool(rng)
    via = [""] + [_text(rng, pool, 8, 24) for _ in range(1, count)]
    pending_from = count - max(1, count // 10)
    nodes: dict[str, Node] = {}
    queue: list[str] = []
    registry: dict[str, str] = {}
    depth = [0] * count
    for number in range(count):
        parent = None if number == 0 else (number - 1) // 3
        if parent is not None:
            depth[number] = depth[parent] + 1
        children = [child for child in range(3 * number + 1, 3 * number + 4) if child < count]
        state = _state(rng)
        node = Node(
            id=node_id(number),
            depth=depth[number],
            state=state,
            parent=None if parent is None else node_id(parent),
            via=via[number] or None,
            via_index=None if parent is None else (number - 1) % 3,
        )
        if children:
            node.narrative = _text(rng, pool, 300, 800)
            for child in children:
                consequences: dict[str, Any] = {
                    "PR": rng.randint(-30, 30),
                    "GR": rng.randint(-30, 30),
                    "WF": rng.randint(-30, 30),
                    "minutes": rng.randrange(5, 31, 5),
                    "scene": rng.choice((None, None, *_SCENES)),
                    "flags": {},
                    "items": [],
                }
                node.choices.append(Choice(via[child], consequences, node_id(child)))
        elif number >= pending_from:
            queue.append(node.id)
        else:
            node.narrative = _text(rng, pool, 300, 800)
            node.ending = {
                "type": rng.choice(ENDING_TYPES),
                "title": _text(rng, pool, 4, 10),
                "reason": "writer",
            }
        nodes[node.id] = node
        registry.setdefault(state.state_hash(), node.id)
    return Tree(root=node_id(0), nodes=nodes, queue=queue, registry=registry, node_counter=count)


class _Clock:
    """Total time spent in one module-level function while installed (bench-side wrapper)."""

    def __init__(self, module: Any, name: str) -> None:
        self.module, self.name, self.seconds = module, name, 0.0

    def __enter__(self) -> _Clock:
        original = getattr(self.module, self.name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        self._patch = mock.patch.object(self.module, self.name, timed)
        self._patch.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._patch.stop()


def _as_before(tree: Tree, new: int) -> Tree:
    """The same tree as it was at the previous checkpoint: its ``new`` latest written nodes still pending."""
    written = [nid for nid, node in tree.nodes.items() if not node.pending]
    batch = set(written[-new:])
    nodes = {
        nid: Node(id=n.id, depth=n.depth, state=n.state, parent=n.parent, via=n.via, via_index=n.via_index)
        if nid in batch
        else n
        for nid, n in tree.nodes.items()
    }
    queue = [nid for nid, node in nodes.items() if node.pending]
    return Tree(tree.root, nodes, queue, dict(tree.registry), tree.node_counter)


def seed_save(path: Path, document: dict[str, Any]) -> None:
    """The seed's method: straight into the file, indented, no temp file, no fsync."""
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2, ensure_ascii=False)


def seed_load(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


_PARTS = ("read", "parse", "from_dict", "seed_dumps", "seed_read", "seed_parse")


def _time_parts(times: dict[str, list[float]], document: dict[str, Any], ours: Path, seed: Path) -> None:
    """The steps inside each side's load and the seed's save, timed one by one."""
    raw = ours.read_bytes()
    parsed = orjson.loads(raw)
    text = seed.read_text(encoding="utf-8")
    steps: list[tuple[str, Callable[[], object]]] = [
        ("read", ours.read_bytes),
        ("parse", lambda: orjson.loads(raw)),
        ("from_dict", lambda: Tree.from_dict(parsed["tree"])),
        ("seed_dumps", lambda: json.dumps(document, indent=2, ensure_ascii=False)),
        ("seed_read", lambda: seed.read_text(encoding="utf-8")),
        ("seed_parse", lambda: json.loads(text)),
    ]
    for name, step in steps:
        gc.collect()
        started = time.perf_counter()
        step()
        times[name].append(time.perf_counter() - started)


def _timed_save(
    store: CheckpointStore,
    settings: dict[str, Any],
    checkpoint: TreeCheckpoint,
    times: dict[str, list[float]],
    key: str,
) -> None:
    """One ``save_tree``, split into building/serialising, writing (temp file, rename) and the fsyncs."""
    gc.collect()  # every timed step starts without garbage left by the one before
    with FsyncClock() as fsync, _Clock(checkpoints, "write_atomic") as write:
        started = time.perf_counter()
        ok = store.save_tree(CHARACTER, settings, checkpoint)
        total = time.perf_counter() - started
    if not ok or fsync.calls != 2:
        raise RuntimeError(f"save_tree: ok={ok}, {fsync.calls} fsyncs (expected 2: file and folder)")
    times[key].append(total)
    times[f"{key}_fsync"].append(fsync.seconds)
    times[f"{key}_write"].append(write.seconds - fsync.seconds)
    times[f"{key}_build"].append(total - write.seconds)


def measure_size(count: int, reps: int, folder: Path) -> dict[str, Any]:
    """Save and load one tree ``reps`` times each way, interleaved, on the same disk.

    ``save`` is a save during a run: the same store saved the tree EVERY written nodes earlier (so
    whatever it keeps between saves is warm); ``cold`` is the first save of a fresh store.
    """
    tree = build_tree(count)
    settings = {"lang": "zh", "max_depth": 25, "branching": 3, "max_nodes": count}
    checkpoint = TreeCheckpoint(RUN_ID, tree, Usage(1200 * count, 900 * count, 0), count, 3.0 * count)
    before = TreeCheckpoint(RUN_ID, _as_before(tree, min(EVERY, count // 2)), checkpoint.usage, count, 1.0)
    seed_path = folder / "seed" / f"{count}_tree.json"
    seed_path.parent.mkdir(parents=True, exist_ok=True)
    keys = [f"{k}{part}" for k in ("save", "cold") for part in ("", "_fsync", "_write", "_build")]
    times: dict[str, list[float]] = {
        k: [] for k in (*keys, "seed_save", "load", "seed_load", "load_nogc", *_PARTS)
    }
    document: dict[str, Any] = {}
    for rep in range(reps):
        cold = CheckpointStore(folder / "cold", CITY, lambda text: None)
        _timed_save(cold, settings, checkpoint, times, "cold")
        store = CheckpointStore(folder / "ours", CITY, lambda text: None)
        if not store.save_tree(CHARACTER, settings, before):  # the previous checkpoint, untimed
            raise RuntimeError("save_tree failed")
        _timed_save(store, settings, checkpoint, times, "save")
        ours_path = store.tree_path(CHARACTER)
        if not document:  # exactly what save_tree wrote, as plain data, for the seed to write
            document = orjson.loads(ours_path.read_bytes())
        gc.collect()
        started = time.perf_counter()
        seed_save(seed_path, document)
        times["seed_save"].append(time.perf_counter() - started)
        # Loads alternate their order so neither side always reads right after its own write.
        loads: list[tuple[str, Callable[[], object]]] = [
            ("load", lambda store=store: store.load_tree(CHARACTER, RUN_ID)),  # type: ignore[misc]
            ("seed_load", lambda: seed_load(seed_path)),
        ]
        for name, load in loads if rep % 2 == 0 else loads[::-1]:
            gc.collect()
            started = time.perf_counter()
            loaded = load()
            times[name].append(time.perf_counter() - started)
            if not loaded:
                raise RuntimeError(f"{name} returned nothing")
            del loaded
        gc.collect()  # diagnostic: the same load with the cyclic garbage collector paused
        gc.disable()
        try:
            started = time.perf_counter()
            paused = store.load_tree(CHARACTER, RUN_ID)
            times["load_nogc"].append(time.perf_counter() - started)
        finally:
            gc.enable()
        del paused
        _time_parts(times, document, ours_path, seed_path)
    final = store.load_tree(CHARACTER, RUN_ID)
    assert final is not None and len(final.tree.nodes) == count
    written, ours_now = seed_load(seed_path), orjson.loads(ours_path.read_bytes())
    written.pop("generated_at"), ours_now.pop("generated_at")  # the only field that moves with the clock
    if written != ours_now:
        raise RuntimeError("the seed's file does not hold the same document as ours")
    narrative = [len(n.narrative) for n in tree.nodes.values() if n.narrative]
    no_fsync = [s - f for s, f in zip(times["save"], times["save_fsync"], strict=True)]
    return {
        "count": count,
        "reps": reps,
        "times": times,
        "no_fsync": no_fsync,
        "ours_bytes": ours_path.stat().st_size,
        "seed_bytes": seed_path.stat().st_size,
        "narrative": (min(narrative), sum(narrative) // len(narrative), max(narrative)),
        "pending": len(tree.queue),
    }


def run(quick: bool) -> Section:
    plan = [(20, 5), (100, 5)] if quick else [(50, 60), (500, 30), (5000, 7)]
    section = Section("1. Checkpoint save and load")
    results = []
    with tempfile.TemporaryDirectory(prefix="gsf-bench-io-") as tmp:
        for count, reps in plan:
            results.append(measure_size(count, reps, Path(tmp)))
    details = section.details
    details += [
        "Trees built with the real `Tree`/`Node`/`Choice` classes: narratives of 300-800 random Chinese "
        "characters, 3 choices per inner node, the last tenth of the nodes pending. Ours = "
        "`CheckpointStore.save_tree` (document, orjson, temp file, fsync, rename, fsync of the folder) and "
        "`load_tree` (orjson, checks, `Tree.from_dict` with its consistency check). *In-run save*: the "
        f"same store saved the tree {EVERY} written nodes earlier, as in a run with the default "
        "--checkpoint-every (a store may reuse what it serialized then); *first save*: a fresh store, as "
        "in a new process. Seed = `json.dump(document, f, indent=2, ensure_ascii=False)` of the very same "
        "document (read back from our file) straight into the file (no temp file, no fsync), and "
        "`json.load`. Each repetition runs every variant, interleaved, in the same process on the same "
        "disk, with a full garbage collection before every timed step.",
        "",
        "| nodes | reps | narrative chars (min/mean/max) | file ours | file seed | in-run save median (p95) "
        "| of which fsync | without fsync | first save median | seed save median (p95) | in-run save ratio "
        "| ratio without fsync | first-save ratio | load ours median (p95) | seed load median (p95) "
        "| load ratio |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        t = r["times"]
        seed = median(t["seed_save"])
        save_ratio, bare_ratio = seed / median(t["save"]), seed / median(r["no_fsync"])
        cold_ratio = seed / median(t["cold"])
        load_ratio = median(t["seed_load"]) / median(t["load"])
        r.update(save_ratio=save_ratio, bare_ratio=bare_ratio, cold_ratio=cold_ratio, load_ratio=load_ratio)
        nmin, nmean, nmax = r["narrative"]
        details.append(
            f"| {r['count']:,} | {r['reps']} | {nmin}/{nmean}/{nmax} | {size(r['ours_bytes'])} "
            f"| {size(r['seed_bytes'])} | {ms(median(t['save']))} ({ms(p95(t['save']))}) "
            f"| {ms(median(t['save_fsync']))} | {ms(median(r['no_fsync']))} | {ms(median(t['cold']))} "
            f"| {ms(seed)} ({ms(p95(t['seed_save']))}) | {save_ratio:.1f}x | {bare_ratio:.1f}x "
            f"| {cold_ratio:.1f}x | {ms(median(t['load']))} ({ms(p95(t['load']))}) "
            f"| {ms(median(t['seed_load']))} ({ms(p95(t['seed_load']))}) | {load_ratio:.1f}x |"
        )
        goal = r["count"] == GOAL_NODES
        section.rows.append(
            Row(
                "1",
                f"checkpoint save, {r['count']:,} nodes",
                f"in a run {ms(median(t['save']))} (p95 {ms(p95(t['save']))}) vs seed {ms(seed)}: "
                f"{save_ratio:.1f}x; without fsync {bare_ratio:.1f}x; first save of a process "
                f"{ms(median(t['cold']))}: {cold_ratio:.1f}x",
                f">= {SAVE_GOAL:.0f}x (in a run)" if goal else "-",
                verdict(save_ratio >= SAVE_GOAL) if goal else "info",
            )
        )
        section.rows.append(
            Row(
                "1",
                f"checkpoint load, {r['count']:,} nodes",
                f"{ms(median(t['load']))} (p95 {ms(p95(t['load']))}) vs seed {ms(median(t['seed_load']))}: "
                f"{load_ratio:.1f}x",
                f">= {LOAD_GOAL:.0f}x" if goal else "-",
                verdict(load_ratio >= LOAD_GOAL) if goal else "info",
            )
        )
    details += [
        "",
        "Where the time goes (medians; our save is split by timing `write_atomic` and `os.fsync` inside it, "
        "the load and the seed's steps are timed one by one, each on its own after a full collection; *rest* = "
        "total median minus the steps; *gc paused*: `load_tree` again with Python's cyclic garbage collector "
        "disabled, a diagnostic, never a product setting):",
        "",
        "| nodes | in-run save: document + orjson | temp file, write, rename | fsync ×2 | first save: "
        "document + orjson | seed save: json.dumps(indent) | file writes, rest | ours load: read "
        "| orjson parse | Tree.from_dict + check | rest | ours load, gc paused | seed load: read + decode "
        "| json parse |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        m = _parts(r)
        details.append(
            f"| {r['count']:,} | {ms(m['save_build'])} | {ms(m['save_write'])} | {ms(m['save_fsync'])} "
            f"| {ms(m['cold_build'])} | {ms(m['seed_dumps'])} | {ms(m['seed_save_rest'])} | {ms(m['read'])} "
            f"| {ms(m['parse'])} | {ms(m['from_dict'])} | {ms(m['load_rest'])} | {ms(m['load_nogc'])} "
            f"| {ms(m['seed_read'])} | {ms(m['seed_parse'])} |"
        )
    details.append("")
    goal_result = next((r for r in results if r["count"] == GOAL_NODES), None)
    if goal_result is not None:
        details += _goal_notes(goal_result)
    details.append(
        "- Our load with the garbage collector running, then paused (medians): "
        + "; ".join(
            f"{r['count']:,} nodes {ms(median(r['times']['load']))} → {ms(median(r['times']['load_nogc']))} "
            f"(seed {ms(median(r['times']['seed_load']))})"
            for r in results
        )
        + (
            ". Where the paused load is faster, the difference is Python's cyclic collector, set off by the "
            "many objects the load allocates while the parsed document is still alive."
            if any(median(r["times"]["load_nogc"]) < 0.9 * median(r["times"]["load"]) for r in results)
            else "."
        )
    )
    return section


def _parts(r: dict[str, Any]) -> dict[str, float]:
    m = {name: median(values) for name, values in r["times"].items()}
    return {
        **m,
        "seed_save_rest": max(0.0, m["seed_save"] - m["seed_dumps"]),
        "load_rest": max(0.0, m["load"] - m["read"] - m["parse"] - m["from_dict"]),
    }


def _goal_notes(r: dict[str, Any]) -> list[str]:
    """Sentences about the 500-node goals, written from the figures."""
    m = _parts(r)
    notes = []
    fsync_share = m["save_fsync"] / m["save"]
    first = f" The first save of a process, with nothing to reuse, takes {ms(m['cold'])} ({r['cold_ratio']:.1f}x)."
    if r["save_ratio"] >= SAVE_GOAL:
        notes.append(
            f"- Save goal met in a run: {r['save_ratio']:.1f}x the seed's speed at {GOAL_NODES} nodes while "
            f"atomic and fsynced (the fsyncs are {fsync_share:.0%} of our save time on this disk)." + first
        )
    else:
        budget = m["seed_save"] / SAVE_GOAL
        disk = m["save_write"] + m["save_fsync"]
        notes.append(
            f"- Save goal missed in a run: {r['save_ratio']:.1f}x instead of {SAVE_GOAL:.0f}x "
            f"({r['save_ratio'] / SAVE_GOAL:.0%} of the goal). {SAVE_GOAL:.0f}x means a whole save within "
            f"{ms(budget)}. Ours takes {ms(m['save'])}: document and orjson {ms(m['save_build'])}, temp file, "
            f"write and rename {ms(m['save_write'])}, the two fsyncs {ms(m['save_fsync'])} ({fsync_share:.0%}); "
            f"without the fsyncs the ratio is {r['bare_ratio']:.1f}x. "
            + (
                f"Writing and syncing the file alone ({ms(disk)}) exceed {ms(budget)} on this disk, so no "
                "serialiser can meet the goal while the whole file is rewritten and fsynced on every save. "
                if disk >= budget
                else f"The file write and fsyncs alone take {ms(disk)}: {m['seed_save'] / disk:.1f}x is the "
                "best a whole-file save can do here. "
            )
            + f"The seed's {ms(m['seed_save'])} are mostly json's pure-Python indenting encoder "
            f"({ms(m['seed_dumps'])} in memory)." + first
        )
    if r["load_ratio"] >= LOAD_GOAL:
        notes.append(
            f"- Load goal met: {r['load_ratio']:.1f}x the seed's `json.load`, consistency check included."
        )
    else:
        budget = m["seed_load"] / LOAD_GOAL
        notes.append(
            f"- Load goal missed: {r['load_ratio']:.1f}x instead of {LOAD_GOAL:.0f}x "
            f"({r['load_ratio'] / LOAD_GOAL:.0%} of the goal). {LOAD_GOAL:.0f}x means a whole load within "
            f"{ms(budget)}; orjson's parse alone takes {ms(m['parse'])} "
            f"(json's: {ms(m['seed_parse'])}, after {ms(m['seed_read'])} of reading and decoding): the file is "
            "mostly Chinese text, and turning it into Python strings is most of any parser's work. "
            f"`Tree.from_dict` (node objects, GameState, consistency check) adds {ms(m['from_dict'])}, which "
            "the seed's bare `json.load` does not do."
            + (
                f" The whole load takes {ms(m['load_rest'])} more than its steps timed one by one; with the "
                f"cyclic garbage collector paused it takes {ms(m['load_nogc'])} instead of {ms(m['load'])}."
                if m["load_rest"] > 0.1 * m["load"] and m["load_nogc"] < 0.9 * m["load"]
                else ""
            )
        )

    return notes
