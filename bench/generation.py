"""Measures 2 and 3: checkpoint overhead in a real run, and scheduler efficiency against the seed's and
against the previous (not level-by-level) scheduler."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

from ghost_story_factory.pregenerator.builder import TreeSettings
from ghost_story_factory.writers.offline import OfflineWriter

from .common import (
    CHARACTER,
    FsyncClock,
    InFlightWriter,
    Row,
    Section,
    ms,
    no_fsync,
    pct,
    run_generation,
    sample_node_request,
    verdict,
)
from .scheduling import JITTER, SIM_DRAWS, bounds, build_directly, level_widths

OVERHEAD_GOAL = 0.005
EFFICIENCY_GOAL = 0.85


# -- 2. checkpoint overhead -------------------------------------------------------------------------


def overhead(quick: bool) -> Section:
    """Share of a run's wall time spent saving checkpoints (and, apart, appending to the journal)."""
    max_nodes, latency, every, depth = (40, 20.0, 10, 8) if quick else (300, 200.0, 50, 20)
    section = Section("2. Checkpoint overhead in a real run")
    writer = OfflineWriter(latency_ms=latency)
    settings = TreeSettings(max_nodes=max_nodes, max_depth=depth, concurrency=8, checkpoint_every=every)
    with FsyncClock() as clock, tempfile.TemporaryDirectory(prefix="gsf-bench-run-") as tmp:
        gen = run_generation(Path(tmp), writer, settings, clock=clock)
    writes = gen.writes
    saves = writes.tree_saves + writes.story_saves
    spent = sum(saves)
    share = spent / gen.wall
    journal = sum(writes.journal_appends)
    nodes = len(gen.tree.nodes)
    section.rows.append(
        Row(
            "2",
            f"checkpoint writes in a {max_nodes}-node run, L={latency:.0f} ms",
            f"{pct(share)} of {gen.wall:.1f} s ({len(writes.tree_saves)} tree + {len(writes.story_saves)} "
            f"story saves, {ms(spent)} in all)",
            f"< {OVERHEAD_GOAL:.1%}",
            verdict(share < OVERHEAD_GOAL),
        )
    )
    section.rows.append(
        Row(
            "2",
            "journal appends in the same run (write on the loop, fsync on the journal's thread)",
            f"{pct(journal / gen.wall)} on the loop ({len(writes.journal_appends)} appends, {ms(journal)} in all); "
            f"{clock.other_calls} fsyncs off the loop, {ms(clock.other_seconds)}",
        )
    )
    section.details += [
        f"One generation through `generate_story_async` with the offline writer at {latency:.0f} ms per call "
        f"(no jitter): one character, max_nodes={max_nodes} ({nodes} nodes made), max_depth={depth}, "
        f"concurrency 8, checkpoint every {every} nodes, real files and a real SQLite library. "
        "`CheckpointStore.save_tree` and `save_story` are timed by wrappers that call the product's methods "
        "unchanged; wall time is the whole call (documents and plan calls, tree, validation, report and "
        "playtest, library save, cleanup). Journal appends (`Journal.append`: one unbuffered write of the "
        "reply's line on the event loop; the fsync is asked of the journal's own thread, which groups the "
        "lines that arrived meanwhile) are timed the same way and reported apart; `os.fsync` is timed on "
        "each thread.",
        "",
        "| what | count | total | median | max | share of wall time |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, values in (
        ("tree saves (`save_tree`)", writes.tree_saves),
        ("story saves (`save_story`)", writes.story_saves),
        ("journal appends, on the loop", writes.journal_appends),
    ):
        if values:
            ordered = sorted(values)
            section.details.append(
                f"| {name} | {len(values)} | {ms(sum(values))} | {ms(ordered[len(ordered) // 2])} "
                f"| {ms(ordered[-1])} | {pct(sum(values) / gen.wall)} |"
            )
    section.details += [
        f"| **all durable writes on the loop** | {len(saves) + len(writes.journal_appends)} | "
        f"{ms(spent + journal)} | | | {pct((spent + journal) / gen.wall)} |",
        f"| journal fsyncs, on the journal's thread (not on the loop) | {clock.other_calls} "
        f"| {ms(clock.other_seconds)} | | | ({pct(clock.other_seconds / gen.wall)}) |",
        "",
        f"Writer calls: {writer.calls}; wall time {gen.wall:.2f} s; fsync on the loop's thread: "
        f"{clock.calls} calls, {ms(clock.seconds)} (inside the saves above).",
    ]
    if share >= OVERHEAD_GOAL:
        tree_median = sorted(writes.tree_saves)[len(writes.tree_saves) // 2] if writes.tree_saves else 0.0
        story_median = sorted(writes.story_saves)[len(writes.story_saves) // 2] if writes.story_saves else 0.0
        fsync = writes.tree_save_fsync + writes.story_save_fsync
        section.details += [
            "",
            f"- Goal missed: checkpoint writes took {pct(share)} of the run (goal < {OVERHEAD_GOAL:.1%}), "
            f"{ms(spent)} in all: {len(writes.tree_saves)} tree saves (median {ms(tree_median)}) and "
            f"{len(writes.story_saves)} story saves (median {ms(story_median)}; the story checkpoint holds the "
            f"documents, the plans and every finished tree, rewritten whole). Of those {ms(spent)}, "
            f"{ms(fsync)} ({fsync / max(spent, 1e-9):.0%}) were the saves' own fsyncs (file and folder, "
            f"on the loop's thread, while the journal's thread was syncing too: {ms(clock.other_seconds)} "
            f"in {clock.other_calls} fsyncs); the rest, {ms(spent - fsync)}, building the documents, orjson "
            "and the writes.",
        ]
    if writes.journal_appends:
        ordered = sorted(writes.journal_appends)
        slow = [t for t in ordered if t > 1e-3]
        section.details += [
            "",
            f"- The journal writes each reply's line on the loop (median {ms(ordered[len(ordered) // 2])}, max "
            f"{ms(ordered[-1])}, {ms(journal)} in all) and syncs from its own thread: {clock.other_calls} fsyncs "
            f"for {len(writes.journal_appends)} lines, {ms(clock.other_seconds)} the loop did not wait for. "
            f"{len(slow)} append{'s' if len(slow) != 1 else ''} took over 1 ms, {ms(sum(slow))} in all "
            f"({sum(slow) / max(journal, 1e-9):.0%} of the appends' time): a write can wait while the other "
            "thread syncs the same file, or while the process is not scheduled (the bench does not tell the "
            "two apart).",
        ]
    return section


# -- 3. scheduler -----------------------------------------------------------------------------------


def scheduler_run(slots: int, max_nodes: int, max_depth: int, latency_ms: float) -> dict[str, Any]:
    """One whole generation (one character) at concurrency ``slots``; times the tree build alone."""
    writer = InFlightWriter(OfflineWriter(latency_ms=latency_ms, jitter=JITTER))
    marks: dict[str, float] = {}
    with FsyncClock() as clock:

        def start() -> None:
            marks.update(calls=writer.calls, fsync=clock.seconds, other=clock.other_seconds)

        def finish() -> None:
            marks.update(calls_end=writer.calls, fsync_end=clock.seconds, other_end=clock.other_seconds)

        with tempfile.TemporaryDirectory(prefix="gsf-bench-sched-") as tmp:
            settings = TreeSettings(max_nodes=max_nodes, max_depth=max_depth, concurrency=slots)
            gen = run_generation(Path(tmp), writer, settings, start, finish)
    progress = gen.progress
    seconds = progress.tree_seconds
    nodes = len(gen.tree.nodes)
    latency = latency_ms / 1000
    rate = nodes / seconds
    return {
        "slots": slots,
        "max_nodes": max_nodes,
        "nodes": nodes,
        "calls": int(marks["calls_end"] - marks["calls"]),
        "seconds": seconds,
        "rate": rate,
        "ideal": slots / latency,
        "efficiency": rate / (slots / latency),
        "cpu_per_node": progress.tree_cpu_seconds / nodes,
        "cpu_share": progress.tree_cpu_seconds / seconds,
        "fsync": marks["fsync_end"] - marks["fsync"],
        "journal_fsync": marks["other_end"] - marks["other"],
        "profile": writer.profile(progress.tree_wall[0], progress.tree_wall[1], slots),
        "bounds": bounds([gen.tree], slots, latency),
        "widths": level_widths([gen.tree]),
    }


async def _seed_schedule(nodes: int, latency_ms: float) -> tuple[float, int]:
    """The seed's scheduling: one parent at a time in BFS order, its up-to-3 children in parallel,
    two sequential calls per node (response, then choices), on the same offline writer latency."""
    writer = OfflineWriter(latency_ms=latency_ms, jitter=JITTER)
    request = sample_node_request()

    async def one_node() -> None:
        await writer.complete(request, [])  # the response
        await writer.complete(request, [])  # then the choices

    started = time.perf_counter()
    await one_node()  # the root
    created, parents = 1, deque([0])
    while created < nodes:
        parents.popleft()
        children = list(range(created, min(created + 3, nodes)))
        created += len(children)
        await asyncio.gather(*(one_node() for _ in children))
        parents.extend(children)
    return time.perf_counter() - started, writer.calls


LEVEL_NAMES = {"level": "level by level", "previous": "previous scheduler"}
CHARACTERS_3 = ["保安", "调查员", "记者"]


def scheduler(quick: bool) -> Section:
    latency_ms = 20.0 if quick else 200.0
    big, small, depth = (40, 15, 8) if quick else (500, 100, 25)
    section = Section("3. Scheduler efficiency")
    runs = [scheduler_run(slots, small if slots == 1 else big, depth, latency_ms) for slots in (1, 4, 16)]
    top = runs[-1]
    with no_fsync():  # diagnostic: what the same run does when durability costs nothing
        bare = scheduler_run(16, big, depth, latency_ms)
    bare["label"] = "16, fsync off"
    seed_seconds, seed_calls = asyncio.run(_seed_schedule(top["nodes"], latency_ms))
    seed_rate = top["nodes"] / seed_seconds
    direct_settings = TreeSettings(max_nodes=big, max_depth=depth, concurrency=16)
    duels = []
    for characters in ([CHARACTER], CHARACTERS_3):
        pair = {p: build_directly(p, characters, direct_settings, latency_ms) for p in ("level", "previous")}
        duels.append(pair)
    for r in runs:
        goal = r["slots"] == 16
        section.rows.append(
            Row(
                "3",
                f"scheduler C={r['slots']}, {r['nodes']} nodes, L={latency_ms:.0f} ms ±{JITTER:.0%}",
                f"{r['rate']:.1f} nodes/s = {r['efficiency']:.1%} of C/L ({r['ideal']:.0f}/s); "
                f"{r['calls']} calls in {r['seconds']:.1f} s",
                f">= {EFFICIENCY_GOAL:.0%} of C/L" if goal else "-",
                verdict(r["efficiency"] >= EFFICIENCY_GOAL) if goal else "info",
            )
        )
    section.rows.append(
        Row(
            "3",
            "diagnostic: C=16 again with fsync made a no-op",
            f"{bare['efficiency']:.1%} of C/L (with fsync: {top['efficiency']:.1%}; fsync on the loop's thread "
            f"then: {top['fsync']:.2f} s of {top['seconds']:.1f} s, on the journal's thread {top['journal_fsync']:.2f} s)",
        )
    )
    section.rows.append(
        Row(
            "3",
            f"seed-style scheduling, {top['nodes']} nodes",
            f"{seed_rate:.1f} nodes/s ({seed_calls} calls in {seed_seconds:.1f} s); ours at C=16 is "
            f"{top['rate'] / seed_rate:.1f}x faster",
        )
    )
    for pair in duels:
        level, previous = pair["level"], pair["previous"]
        count = level["characters"]
        section.rows.append(
            Row(
                "3",
                f"level by level vs previous scheduler, {count} character{'s' if count > 1 else ''}, C=16, "
                f"{big} nodes max each",
                f"{level['rate']:.1f} vs {previous['rate']:.1f} nodes/s: {level['rate'] / previous['rate']:.2f}x; "
                f"{level['efficiency']:.1%} vs {previous['efficiency']:.1%} of C/L",
            )
        )
    section.details += [
        f"The real generator through `generate_story_async` (offline writer, {latency_ms:.0f} ms ±{JITTER:.0%} "
        f"uniform jitter per call, one character, max_depth={depth}, checkpoint every 50 nodes, real files). "
        "Rate = nodes in the finished tree (one call each) / wall time of the tree build alone (from the "
        "progress hooks `tree_started` to `tree_finished`), against the ideal C/L. "
        + (
            f"C=1 runs on max_nodes={small} instead of {big} to keep the bench short (its rate does not "
            "depend on the size). "
            if small != big
            else ""
        )
        + "The seed-style baseline (in `bench/generation.py`) schedules like the seed over the same "
        "offline writer: for each parent in BFS order, its up-to-3 children in parallel, each child two "
        "sequential calls (response, then choices); it is run to the same node count as our C=16 run.",
        "",
        "To tell the scheduler's losses from the tree's, each finished tree is replayed in a simulation "
        f"(`bench/scheduling.py`, {SIM_DRAWS} latency draws, no CPU cost), under three rules: *shape* lets a "
        "node start as soon as the call of the node that created it is done (about the best any scheduler "
        "can do on that tree: it starts from one root, 1, 3, 9... nodes, and drains at the end); "
        "*previous* adds that children appear only at the in-order commit of their parent (the builder "
        "before level-by-level growth); *level* adds that no node of depth d+1 starts before every node of "
        "depth d is committed (the product).",
        "",
        "| C | max_nodes | nodes | calls | build s | nodes/s | ideal C/L | efficiency | shape bound "
        "| previous bound | level bound | nodes per level (mean/max) | mean calls in flight "
        "| time at C in flight | ramp-up to C | tail below C | CPU per node | CPU busy | fsync on the loop "
        "| journal fsync (own thread) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in [*runs, bare]:
        p, b, w = r["profile"], r["bounds"], r["widths"]
        section.details.append(
            f"| {r.get('label', r['slots'])} | {r['max_nodes']} | {r['nodes']} | {r['calls']} | {r['seconds']:.2f} "
            f"| {r['rate']:.1f} | {r['ideal']:.0f} | {r['efficiency']:.1%} | {b['shape']:.1%} "
            f"| {b['previous']:.1%} | {b['level']:.1%} | {w[0]:.1f}/{w[1]} | {p['mean_in_flight']:.1f} "
            f"| {p['full_share']:.0%} | {_seconds(p['ramp_s'])} | {_seconds(p['tail_s'])} | {ms(r['cpu_per_node'])} "
            f"| {r['cpu_share']:.0%} | {ms(r['fsync'])} | {ms(r['journal_fsync'])} |"
        )
    section.details += [
        "",
        f"Seed-style baseline: {top['nodes']} nodes, {seed_calls} calls, {seed_seconds:.1f} s, "
        f"{seed_rate:.1f} nodes/s. Speed-up of ours at the same node count: C=16 "
        f"{top['rate'] / seed_rate:.1f}x"
        + (f", C=4 {runs[1]['rate'] / seed_rate:.1f}x" if runs[1]["nodes"] == top["nodes"] else "")
        + ".",
        "",
        *_efficiency_notes(top, bare),
        "",
        "### Level by level against the previous scheduler",
        "",
        f"Trees built directly (`TreeBuilder.build`, no final validation, no library), {big} nodes max per "
        f"character, max_depth={depth}, C=16 shared by every tree (one `Window`, as `StoryGenerator` does), "
        f"the offline writer at {latency_ms:.0f} ms ±{JITTER:.0%}, the same documents and plans (written "
        "beforehand by the offline writer with no latency), real journals and tree checkpoints. *Level by "
        "level* is the product's `TreeBuilder`; *previous scheduler* is `PreviousScheduleBuilder` in "
        "`bench/scheduling.py`, a subclass whose `_schedule` starts any queued node as soon as a slot is "
        "free, as the builder did before level-by-level growth. Everything else is the product's code; the "
        "two rules ask for different bridges, so their trees differ slightly. Rate = nodes / wall time of "
        "the build (all trees together). Both run one after the other in the same process.",
        "",
        "| characters | scheduler | nodes | calls | build s | nodes/s | ideal C/L | share of C/L | ratio to "
        "previous | shape bound | bound of its rule | nodes per level (mean/max) | mean calls in flight "
        "| time at C in flight | CPU per node | CPU busy | choices into shared nodes | of them without "
        "a bridge |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for pair in duels:
        for policy in ("level", "previous"):
            r = pair[policy]
            w = level_widths(r["trees"])
            section.details.append(
                f"| {r['characters']} | {LEVEL_NAMES[policy]} | {r['nodes']} | {r['calls']} | {r['seconds']:.2f} "
                f"| {r['rate']:.1f} | {r['ideal']:.0f} | {r['efficiency']:.1%} "
                f"| {r['rate'] / pair['previous']['rate']:.2f}x | {r['bounds']['shape']:.1%} "
                f"| {_rule_bound(r, policy):.1%} | {w[0]:.1f}/{w[1]} | {r['profile']['mean_in_flight']:.1f} "
                f"| {r['profile']['full_share']:.0%} | {ms(r['cpu_per_node'])} | {r['cpu_share']:.0%} "
                f"| {r['shared_arrivals']} | {r['missing_bridges']} |"
            )
    section.details += ["", *_duel_notes(duels)]
    return section


def _seconds(value: float | None) -> str:
    return "never at C" if value is None else f"{value:.2f} s"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _runtime_note(loss: float, r: dict[str, Any], bound_name: str) -> str:
    if loss >= 0:
        return (
            f"the rest, {loss:.1%} below the {bound_name} bound, is the event loop being busy or not "
            f"scheduled: {ms(r['cpu_per_node'])} of CPU per node (busy {r['cpu_share']:.0%} of the build, on one "
            "core of a shared machine); a reply that lands while the loop is busy waits, and its slot's next "
            "call starts late"
        )
    return (
        f"the run did {-loss:.1%} better than the simulated {bound_name} bound, which is a model, not a ceiling "
        f"(its own latency draws): the event loop's own cost ({ms(r['cpu_per_node'])} CPU per node) is lost in "
        "that noise"
    )


def _efficiency_notes(r: dict[str, Any], bare: dict[str, Any]) -> list[str]:
    """Where C=16 loses against C/L, from the figures."""
    b = r["bounds"]
    shape_loss = 1 - b["shape"]
    level_loss = b["shape"] - b["level"]
    runtime_loss = b["level"] - r["efficiency"]
    profile = r["profile"]
    mean_width, max_width, levels = r["widths"]
    if profile["ramp_s"] is None:
        shape_why = f"the tree never offered {r['slots']} nodes to write at once"
    else:
        shape_why = (
            f"ramp-up from a single root took {profile['ramp_s']:.2f} s before {r['slots']} calls were in "
            f"flight, and the last {profile['tail_s']:.2f} s ran below {r['slots']}"
        )
    head = f"- C=16 reaches {r['efficiency']:.1%} of C/L" + (
        f" (goal {EFFICIENCY_GOAL:.0%}: met)."
        if r["efficiency"] >= EFFICIENCY_GOAL
        else f", {EFFICIENCY_GOAL - r['efficiency']:.1%} short of the {EFFICIENCY_GOAL:.0%} goal."
    )
    return [
        head,
        f"- The tree's shape costs {shape_loss:.1%}: no scheduler does much better than {b['shape']:.1%} on "
        f"this tree ({shape_why}).",
        f"- Growing level by level costs {level_loss:.1%} more in the simulation ({b['level']:.1%}; committing "
        f"in queue order alone, the previous rule, gives {b['previous']:.1%}): the tree's {levels} levels hold "
        f"{mean_width:.1f} nodes on average (at most {max_width}), "
        + (
            f"so with {r['slots']} slots most levels take two rounds of calls, the second mostly empty, "
            if mean_width > r["slots"]
            else f"fewer than {r['slots']} slots, so the window is never full within a level, "
        )
        + "and no call of the next level may start until the slowest call of this one has returned and every "
        "node before it is committed. One character alone cannot keep the window full this way; several "
        "characters sharing it can (below, and measure 7).",
        f"- {_sentence(_runtime_note(runtime_loss, r, 'level'))}.",
        f"- Diagnostic, same settings: with `os.fsync` made a no-op (not durable, never a product setting) "
        f"C=16 reaches {bare['efficiency']:.1%} against {r['efficiency']:.1%} with it. The loop's thread "
        f"spent {r['fsync']:.2f} s of the {r['seconds']:.2f} s build in fsync (tree checkpoints, twice per "
        f"save); the journal's own thread {r['journal_fsync']:.2f} s, off the loop.",
    ]


def _beyond(loss: float) -> str:
    if loss >= 0:
        return f"loses {loss:.1%} more"
    return (
        f"does {-loss:.1%} better (the simulation is a model, not a ceiling: its own latency draws and, for "
        "several trees, its own rule for sharing the window)"
    )


def _rule_bound(r: dict[str, Any], policy: str) -> float:
    """The simulated bound of a builder's own rule: level by level on a shared window gives a free slot
    to the tree whose nodes have waited longest (the product's ``Window``)."""
    if policy == "level" and r["characters"] > 1:
        return float(r["bounds"]["level_fifo"])
    return float(r["bounds"][policy])


def _duel_notes(duels: list[dict[str, dict[str, Any]]]) -> list[str]:
    notes = []
    for pair in duels:
        level, previous = pair["level"], pair["previous"]
        count = level["characters"]
        who = "One character" if count == 1 else f"{count} characters on one window"
        ratio = level["rate"] / previous["rate"]
        level_bound = _rule_bound(level, "level")
        barrier = previous["bounds"]["previous"] - level_bound
        mean_width, max_width, _levels = level_widths(level["trees"])
        notes.append(
            f"- {who}: level by level writes {level['rate']:.1f} nodes/s ({level['efficiency']:.1%} of C/L), "
            f"the previous scheduler {previous['rate']:.1f} ({previous['efficiency']:.1%}): {ratio:.2f}x. "
            f"Simulated on these trees, the level barrier {'costs' if barrier >= 0 else 'gains'} {abs(barrier):.1%} "
            f"({level_bound:.1%} against {previous['bounds']['previous']:.1%}; levels of "
            f"{mean_width:.1f} nodes on average, at most {max_width}, "
            + (
                "for 16 slots). "
                if count == 1
                else f"per tree, {count} trees' levels in flight at once; a free slot goes to the node that has "
                "waited longest, as the product's window gives it; given instead to the first ready node by "
                "queue position, the trees taking turns (the window before, which keeps trees of the same "
                f"shape in step, so they reach their barriers together), the same trees allow "
                f"{level['bounds']['level']:.1%}). "
            )
            + f"Beyond the simulation, level by level {_beyond(level_bound - level['efficiency'])} "
            f"(CPU per node {ms(level['cpu_per_node'])}, loop busy {level['cpu_share']:.0%}), the previous "
            f"scheduler {_beyond(previous['bounds']['previous'] - previous['efficiency'])} (CPU per node "
            f"{ms(previous['cpu_per_node'])}, busy {previous['cpu_share']:.0%}): the event loop and the machine."
        )
    shared = sum(pair["previous"]["shared_arrivals"] for pair in duels)
    missing = sum(pair["previous"]["missing_bridges"] for pair in duels)
    notes.append(
        f"- What the previous scheduler costs the story: {missing} of the {shared} choices into shared nodes in "
        f"its trees ({missing / max(shared, 1):.0%}) have no bridge, because their node was written before they "
        "existed; level by level leaves "
        f"{sum(pair['level']['missing_bridges'] for pair in duels)} without one."
    )
    return notes
