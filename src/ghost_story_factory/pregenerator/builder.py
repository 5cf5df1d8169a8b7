"""Grows one character's dialogue graph level by level, with bounded concurrency and checkpoints.

Determinism: writer calls run concurrently, but their results are committed strictly in BFS
queue order, and node ids are handed out only at commit. So the same replies give the same
graph (ids, edges, registry) at any concurrency and across any number of interruptions.

Level by level: every node of depth d is placed (all its incoming choices known) before any node
of depth d is written, so one call writes a node's narrative and a bridge for each choice that
leads to it when several do (a merge or a convergence): every arrival reads true.

Shape: pure BFS under a node cap gives a shallow bush. Two rules keep the graph deep instead:
each depth gets a width budget (``max_nodes / max_depth``), and a branch that would exceed it
converges into the nearest existing state at that depth (branch and bottleneck). A reserve of
one free slot per open node guarantees that every open node can still be given a child, so
the budget never leaves a dead end.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..errors import BudgetReached, Interrupted, WriterError
from ..text import clean_line
from ..vocabulary import FEAR_MAX, minutes
from ..writers import prompts
from ..writers.base import Answer, Request, Usage, Writer, ask, problems_with
from .checkpoints import CheckpointStore, Journal, TreeCheckpoint
from .nearest import NearestIndex
from .progress import Progress
from .state import GameState, apply, parse_consequences
from .tree import Choice, Node, Tree, incoming_choices, node_id

ARRIVAL_COST = 15  # distance a converging branch accepts to spread over the level (see _nearest)
_TRUTH_FOR_ALL_CLUES = 80  # truth (GR) at which every clue of the plan has been revealed
_ENDING_KIND = {"fear": "fear_collapse", "dawn": "dawn", "max_depth": "planned", "budget": "planned"}


@dataclass(frozen=True)
class TreeSettings:
    """What shapes a graph (stored with the checkpoints) and how fast it is grown (not stored)."""

    max_depth: int = 20
    branching: int = 3
    max_nodes: int = 300
    concurrency: int = 8
    checkpoint_every: int = 50
    attempts: int = 3
    grace_seconds: float = 5.0

    @property
    def width(self) -> int:
        return max(self.branching, math.ceil(self.max_nodes / self.max_depth))


@dataclass(frozen=True)
class Budget:
    """Spending limits for a whole run; ``cost`` prices a usage in USD (None when unknown)."""

    max_tokens: int | None = None
    max_usd: float | None = None
    cost: Callable[[Usage], float | None] = field(default=lambda _usage: 0.0)

    def reached(self, usage: Usage) -> str | None:
        if self.max_tokens is not None and usage.total >= self.max_tokens:
            return f"{usage.total} tokens of the {self.max_tokens} allowed"
        if self.max_usd is not None:
            spent = self.cost(usage) or 0.0
            if spent >= self.max_usd:
                return f"${spent:.4f} of the ${self.max_usd:.2f} allowed"
        return None


class Window:
    """The calls in flight allowed across every tree growing at once (``--concurrency``).

    A tree that finds no free slot queues for one with the time its waiting nodes became ready (its
    level opened); a slot given back goes to the tree that has waited longest, reserved for it until
    it takes it, so trees share the window by age instead of by who runs first after a reply.
    """

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self.used = 0
        self._queue: list[tuple[float, int, object, asyncio.Future[None]]] = []  # (since, order, owner, wake)
        self._granted: dict[object, int] = {}  # slots given to a queued owner, not taken yet
        self._order = 0

    def take(self, owner: object = None) -> bool:
        self._queue = [entry for entry in self._queue if not entry[3].done()]  # owners gone
        if self._granted.get(owner):
            self._granted[owner] -= 1
            return True
        if self.used >= self.size or self._queue:
            return False
        self.used += 1
        return True

    def give(self) -> None:
        while self._queue:
            entry = min(self._queue)
            self._queue.remove(entry)
            _since, _order, owner, wake = entry
            if wake.done():  # the owner stopped waiting (its tree ended): next in line
                continue
            self._granted[owner] = self._granted.get(owner, 0) + 1
            wake.set_result(None)
            return
        self.used -= 1

    def wait(self, owner: object, since: float) -> asyncio.Future[None]:
        """A future done when a slot is reserved for ``owner``, waiting since ``since`` (made now,
        so no give is missed); one place in line per owner."""
        for _since, _order, queued, waiting in self._queue:
            if queued is owner and not waiting.done():
                return waiting
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._order += 1
        self._queue.append((since, self._order, owner, wake))
        return wake

    def leave(self, owner: object) -> None:
        """``owner`` needs no slot now: its place in line goes, and slots reserved for it pass on."""
        for entry in [e for e in self._queue if e[2] is owner]:
            self._queue.remove(entry)
            entry[3].cancel()
        for _ in range(self._granted.pop(owner, 0)):
            self.give()


async def answer(writer: Writer, journal: Journal, request: Request, attempts: int) -> Answer:
    """A validated reply: from the journal when this request was answered before, else asked."""
    key = request.key()
    known = journal.get(key)
    # Paid in an earlier process: its calls count once, as its tokens do. A journal line is a file
    # on disk like any other: it is used only when it still passes this request's checks.
    if known is not None and not problems_with(request, orjson.dumps(known.data).decode())[1]:
        return Answer(data=known.data, usage=known.usage, attempts=journal.attempts_of(key))
    before, calls_before = journal.spent_before(key)  # billed in a process that crashed or gave up
    result = await ask(
        writer,
        request,
        attempts,
        on_reply=lambda reply, error: journal.spend(key, reply.usage, reply.text, error),
        history=journal.invalid_before(key),
    )
    result.usage.add(before)
    result.attempts += calls_before
    journal.append(key, result)
    return result


@dataclass
class StoryContext:
    """The fixed part of every node request of one character."""

    city: str
    lang: str
    story: dict[str, Any]
    character: dict[str, Any]
    plan: dict[str, Any]


class TreeBuilder:
    """Grows one character's graph to completion, saving tree checkpoints along the way."""

    def __init__(
        self,
        *,
        writer: Writer,
        context: StoryContext,
        settings: TreeSettings,
        store: CheckpointStore,
        journal: Journal,
        progress: Progress,
        run_id: str,
        stored_settings: dict[str, Any],
        budget: Budget | None = None,
        spent_before: Usage | None = None,
        spent_elsewhere: Callable[[], Usage] | None = None,
        stop: asyncio.Event | None = None,
        window: Window | None = None,
    ) -> None:
        self.writer = writer
        self.context = context
        self.settings = settings
        self.store = store
        self.journal = journal
        self.progress = progress
        self.run_id = run_id
        self.stored_settings = stored_settings
        self.budget = budget or Budget()
        self.spent_before = spent_before or Usage()
        self.stop = stop or asyncio.Event()
        self.window = window or Window(settings.concurrency)
        self.usage = Usage()
        self._spent_elsewhere = spent_elsewhere or (lambda: self.usage)
        self._failure: WriterError | None = None  # a call that failed for good: the tree stops
        self.calls = 0
        self.elapsed_before = 0.0
        self._started = time.monotonic()
        self._saved_at_nodes = 0
        self._levels: dict[int, list[Node]] = defaultdict(list)  # depth -> nodes, to find neighbours fast
        self._arrivals_at: dict[str, int] = defaultdict(int)  # node -> choices leading there so far
        self._index = NearestIndex(ARRIVAL_COST)  # the same nodes as _levels, for _nearest
        # Kept as the graph grows, so no step rescans it: incoming_choices(tree) as of now, the queued
        # nodes not bound to end, and how many queued nodes from the front have their call started.
        self._incoming: dict[str, list[list[Any]]] = {}
        # What every player reaching a node holds, whatever way they came (see _held); final once the
        # node's level is placed, since no later choice can lead back to a shallower node.
        self._held_at: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {}
        self._open = 0
        self._started_upto = 0
        self._level, self._level_since = -1, 0.0  # the level being written, and since when

    # ---------------------------------------------------------------------------------------
    async def build(self, opening: GameState, resume: TreeCheckpoint | None) -> Tree:
        """Grow the tree from scratch or from a checkpoint; raises on interruption or failure
        after saving a checkpoint, so a rerun resumes."""
        if resume is not None:
            tree = resume.tree
            self.usage, self.calls, self.elapsed_before = resume.usage, resume.calls, resume.elapsed_seconds
            self._saved_at_nodes = len(tree.nodes)
        else:
            tree = Tree.start(opening, self.settings.max_depth)
        shared = set(tree.runtime_endings.values())
        for node in tree.nodes.values():
            if node.id not in shared:  # no choice may converge into a shared ending
                self._levels[node.depth].append(node)
            for choice in node.choices:
                self._arrivals_at[choice.next] += 1
        self._index.add_all(
            ((node.id, depth, node.state) for depth, nodes in self._levels.items() for node in nodes),
            self._arrivals_at,
        )
        self._incoming = incoming_choices(tree)
        self._open = sum(1 for nid in tree.queue if tree.nodes[nid].must_end is None)
        try:
            await self._grow(tree)
        except (WriterError, Interrupted, BudgetReached):
            # A failed call's billed replies are in the journal: they join its answer on the rerun.
            self.save(tree)
            raise
        self.save(tree)
        return tree

    def save(self, tree: Tree) -> None:
        checkpoint = TreeCheckpoint(self.run_id, tree, self.usage, self.calls, self.elapsed)
        if self.store.save_tree(self.context.character["name"], self.stored_settings, checkpoint):
            self._saved_at_nodes = len(tree.nodes)
            self.progress.checkpoint_saved(
                self.store.tree_path(self.context.character["name"]), len(tree.nodes)
            )

    @property
    def elapsed(self) -> float:
        return self.elapsed_before + time.monotonic() - self._started

    # ---------------------------------------------------------------------------------------
    async def _grow(self, tree: Tree) -> None:
        running: dict[str, asyncio.Task[Answer]] = {}
        done: dict[str, asyncio.Task[Answer]] = {}
        stopper = asyncio.ensure_future(self.stop.wait())  # wakes the loop the moment a stop comes
        freed: asyncio.Future[None] | None = None  # wakes it when a slot is reserved for this tree
        deadline: float | None = None  # once halting, calls in flight get this long to finish
        try:
            while tree.queue:
                halt = self._halt_reason()
                blocked = False
                if halt is None:
                    blocked = self._schedule(tree, running, done)
                if not blocked:  # nothing waits for a slot: keep no place in line, hold no slot
                    self.window.leave(self)
                    freed = None
                if halt is not None and not running:
                    raise halt
                if halt is not None and deadline is None:
                    deadline = time.monotonic() + self.settings.grace_seconds
                if blocked and freed is None:
                    freed = self.window.wait(self, self._level_since)
                waiting: list[asyncio.Future[Any]] = [*running.values()]
                if deadline is None:
                    waiting += [stopper, *([freed] if freed else [])]
                if waiting:
                    timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
                    await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                    if halt is not None and deadline is not None and time.monotonic() >= deadline:
                        raise halt  # grace period over: calls still in flight are cancelled below
                    for nid in [nid for nid, task in running.items() if task.done()]:
                        done[nid] = running.pop(nid)
                    if freed is not None and freed.done():
                        freed = None
                if self._failure is None:
                    try:
                        self._commit_ready(tree, done)
                    except WriterError as exc:
                        # The failed call stops the tree, but calls already in flight are paid for:
                        # they get the grace period to land in the journal, then the failure is raised.
                        self._failure = exc
        finally:
            stopper.cancel()
            self.window.leave(self)
            for task in running.values():
                task.cancel()
            # Gathering also retrieves the errors of calls that finished but were never committed.
            await asyncio.gather(stopper, *running.values(), *done.values(), return_exceptions=True)

    def _halt_reason(self) -> BaseException | None:
        if self._failure is not None:
            return self._failure
        if self.stop.is_set():
            return Interrupted("interrupted")
        reached = self.budget.reached(self._spent())
        return BudgetReached(f"budget reached: {reached}") if reached else None

    def _spent(self) -> Usage:
        """What the whole run has spent so far: documents, plans and finished trees (``spent_before``)
        plus every tree still growing, this one included (``spent_elsewhere``)."""
        total = Usage()
        total.add(self.spent_before)
        total.add(self._spent_elsewhere())
        return total

    def _schedule(
        self, tree: Tree, running: dict[str, asyncio.Task[Answer]], done: dict[str, asyncio.Task[Answer]]
    ) -> bool:
        """Start calls for the current level only: a deeper node may still gain incoming choices.

        Returns True when a node of the level waits for a slot of the shared window."""
        level = tree.nodes[tree.queue[0]].depth
        if level != self._level:  # a level opens when the last node before it is committed
            self._level, self._level_since = level, time.monotonic()
        # Every queued node before this position is of this level and started: new nodes are queued
        # behind the level (they are deeper) and commits pop from the front.
        position = min(self._started_upto, len(tree.queue))
        try:
            while position < len(tree.queue):
                nid = tree.queue[position]
                if tree.nodes[nid].depth != level:
                    return False
                if nid not in running and nid not in done:
                    if not self.window.take(self):
                        return True
                    node = tree.nodes[nid]
                    node.arrivals = self._arrivals(node, self._incoming.get(nid, []))
                    request = self._request(tree, node)
                    task = asyncio.create_task(
                        answer(self.writer, self.journal, request, self.settings.attempts), name=nid
                    )
                    task.add_done_callback(lambda _task: self.window.give())
                    running[nid] = task
                position += 1
            return False
        finally:
            self._started_upto = position

    def _commit_ready(self, tree: Tree, done: dict[str, asyncio.Task[Answer]]) -> None:
        """Commit finished results in queue order; a failed head call is raised."""
        while tree.queue and tree.queue[0] in done:
            result = done[tree.queue[0]].result()  # raises the writer's error, leaving the queue whole
            nid = tree.queue.pop(0)
            self._started_upto = max(0, self._started_upto - 1)
            if tree.nodes[nid].must_end is None:
                self._open -= 1
            del done[nid]
            self.usage.add(result.usage)
            self.calls += result.attempts
            self._commit(tree, tree.nodes[nid], result.data)
            spent = self._spent()
            self.progress.tree_advanced(
                name=self.context.character["name"],
                nodes=len(tree.nodes),
                depth=tree.current_depth,
                queue=len(tree.queue),
                tokens=spent.total,
                cost=self.budget.cost(spent),
            )
            if len(tree.nodes) - self._saved_at_nodes >= self.settings.checkpoint_every:
                self.save(tree)

    # ---------------------------------------------------------------------------------------
    @staticmethod
    def _arrivals(node: Node, incoming: list[list[Any]]) -> list[list[Any]]:
        """The choices into a shared node, the creating one first; none when only one choice leads here."""
        if len(incoming) < 2:
            return []
        first = [a for a in incoming if a[0] == node.parent and a[1] == node.via_index]
        return first + [a for a in incoming if a not in first]

    def _request(self, tree: Tree, node: Node) -> Request:
        plan = self.context.plan
        runtime_kind = tree.runtime_kind(node.id)
        state = node.state.to_dict()
        if not runtime_kind:  # the text may speak only of what every player arriving here holds
            items, flags = self._held(tree, node.id)
            state["inventory"], state["flags"] = list(items), dict(sorted(flags.items()))
        ending = None if runtime_kind else _ENDING_KIND.get(node.must_end or "")
        planned = self._planned_endings(node)
        return prompts.node_request(
            city=self.context.city,
            lang=self.context.lang,
            story=self.context.story,
            character=self.context.character,
            plan=plan,
            state=state,
            depth=node.depth,
            max_depth=self.settings.max_depth,
            branching=self.settings.branching,
            parent=None if runtime_kind else self._parent_brief(tree, node),
            arrivals=[self._arrival_brief(tree, parent, index) for parent, index in node.arrivals],
            ledger={} if runtime_kind else self._ledger(tree, node),
            next_truth=None if runtime_kind else self._next_truth(node.state.gr),
            new_truth=None if runtime_kind else self._new_truth(tree, node),
            ending=ending,
            planned_endings=planned if ending == "planned" or node.must_end is None else [],
            may_end=node.must_end is None and bool(planned),
            runtime_ending=runtime_kind,
        )

    def _planned_endings(self, node: Node) -> list[dict[str, Any]]:
        """The plan's endings whose window holds this depth, as the writer may choose them here.

        Fear and dawn endings come from the runtime rules and the state, so they are offered only
        when the state is near them; a node at the last depth is offered every planned ending."""
        late = node.depth >= self.settings.max_depth
        fits = []
        for ending in self.context.plan.get("endings", []):
            if not (late or ending["from_depth"] <= node.depth <= ending["to_depth"]):
                continue
            if ending["type"] == "fear_collapse" and node.state.pr < 80:
                continue
            if ending["type"] == "dawn" and minutes(node.state.time) < 180:
                continue
            fits.append(ending)
        return fits

    def _path(self, tree: Tree, node: Node) -> list[Node]:
        """The creating path from the root to ``node``, bounded by the node count (never loops)."""
        steps = [node]
        current = node
        for _ in range(len(tree.nodes)):
            if current.parent is None or current.parent not in tree.nodes:
                break
            current = tree.nodes[current.parent]
            steps.append(current)
        return steps[::-1]

    def _parent_brief(self, tree: Tree, node: Node) -> dict[str, Any] | None:
        if node.parent is None or node.parent not in tree.nodes:
            return None
        parent = tree.nodes[node.parent]
        taken = node.via_index
        return {
            "narrative": parent.narrative or "",
            "choice": node.via or "",
            "siblings": [c.text for i, c in enumerate(parent.choices) if i != taken],
            "scene": parent.state.scene,
        }

    @staticmethod
    def _arrival_brief(tree: Tree, parent_id: str, index: int) -> dict[str, str]:
        parent = tree.nodes[parent_id]
        choice = parent.choices[index]
        text = parent.narrative or ""
        return {
            "choice": choice.text,
            "scene": choice.consequences.get("scene") or parent.state.scene,
            "narrative_tail": text[-prompts.TAIL :].strip(),
        }

    def _ledger(self, tree: Tree, node: Node) -> dict[str, Any]:
        scenes = list(dict.fromkeys(step.state.scene for step in self._path(tree, node)))
        items, flags = self._held(tree, node.id)
        return {
            "scenes": scenes,
            "items": list(items),
            "flags": dict(sorted(flags.items())),
            "truths": self._clues()[: self._revealed(node.state.gr)],
        }

    def _held(self, tree: Tree, nid: str) -> tuple[tuple[str, ...], dict[str, Any]]:
        """The items and flags every player arriving at ``nid`` holds, on any path through the graph.

        A node's stored state is the one of the path that created it; a converged branch brings players
        who took other ways, so its text must not say "the key you found" unless every way found it.
        Computed over the incoming choices, whose parents' own sets are final (levels are placed in
        order), so a resume computes the same sets and the story stays byte-identical."""
        known = self._held_at.get(nid)
        if known is not None:
            return known
        node = tree.nodes[nid]
        incoming = self._incoming.get(nid) or []
        items, flags = tuple(node.state.inventory), dict(node.state.flags)
        for parent_id, index in incoming:
            parent = tree.nodes.get(parent_id)
            if parent is None or parent.depth >= node.depth or index >= len(parent.choices):
                continue  # not a way in (checked by validation; never loops on a damaged graph)
            had_items, had_flags = self._held(tree, parent_id)
            consequences, _ = parse_consequences(parent.choices[index].consequences)
            their_items = set(had_items) | set(consequences.items)
            their_flags = {**had_flags, **consequences.flags}
            items = tuple(i for i in items if i in their_items)
            flags = {k: v for k, v in flags.items() if k in their_flags and their_flags[k] == v}
        self._held_at[nid] = (items, flags)
        return items, flags

    def _clues(self) -> list[str]:
        return [str(clue) for clue in self.context.plan.get("clues", [])]

    def _revealed(self, truth: int) -> int:
        clues = len(self._clues())
        return min(clues, truth * clues // _TRUTH_FOR_ALL_CLUES) if clues else 0

    def _new_truth(self, tree: Tree, node: Node) -> str | None:
        """The clue this node reveals: the one whose threshold the creating choice crossed (told once
        along a path, where truth first reaches it), or None."""
        parent = tree.nodes.get(node.parent) if node.parent else None
        before = self._revealed(parent.state.gr) if parent else 0
        now = self._revealed(node.state.gr)
        return self._clues()[now - 1] if now > before else None

    def _next_truth(self, truth: int) -> str | None:
        clues = self._clues()
        revealed = self._revealed(truth)
        return clues[revealed] if revealed < len(clues) else None

    def _commit(self, tree: Tree, node: Node, data: dict[str, Any]) -> None:
        node.narrative = data["narrative"].strip()
        node.bridges = [bridge.strip() for bridge in data["bridges"]]
        if node.must_end or data["ending"] is not None:
            node.ending = {**data["ending"], "reason": node.must_end or "writer"}
            return
        slack = self.settings.max_nodes - len(tree.nodes) - self._open  # open nodes still queued
        for raw in data["choices"]:
            consequences, ignored = parse_consequences(raw["consequences"])
            tree.ignored_values += ignored
            child_state = apply(node.state, consequences)
            index = len(node.choices)
            target, slack = self._place_child(
                tree, node, clean_line(raw["text"], 200), index, child_state, slack
            )
            node.choices.append(Choice(clean_line(raw["text"], 200), consequences.to_dict(), target))
            bisect.insort(self._incoming.setdefault(target, []), [node.id, index])  # parents in id order

    def _place_child(
        self, tree: Tree, parent: Node, via: str, via_index: int, state: GameState, slack: int
    ) -> tuple[str, int]:
        """Where a choice leads: a registered equal state, a new node, or the nearest deeper state."""
        depth = parent.depth + 1
        known = tree.registry.get(state.state_hash())
        if known is not None and tree.nodes[known].depth > parent.depth:
            tree.merges += 1
            self._arrivals_at[known] += 1
            return known, slack
        must_end = self._must_end(state, depth)
        need = 1 if must_end else 2
        room = len(self._levels[depth]) < self.settings.width and slack >= need
        nearest = None if room else self._nearest(state, depth)  # the search is the costly part
        if not room and nearest is not None:
            tree.converged += 1
            self._arrivals_at[nearest] += 1
            return nearest, slack
        if slack < need:
            must_end = must_end or "budget"
        new = Node(
            id=node_id(tree.node_counter),
            depth=depth,
            state=state,
            parent=parent.id,
            via=via.strip(),
            via_index=via_index,
            must_end=must_end,
        )
        tree.node_counter += 1
        tree.nodes[new.id] = new
        _enqueue(tree, new)
        if new.must_end is None:
            self._open += 1
        tree.registry.setdefault(state.state_hash(), new.id)
        self._levels[depth].append(new)
        self._arrivals_at[new.id] += 1
        self._index.add(new.id, depth, state, self._arrivals_at[new.id])
        return new.id, slack - (1 if new.must_end else 2)

    def _must_end(self, state: GameState, depth: int) -> str | None:
        if state.pr >= FEAR_MAX:
            return "fear"
        if state.night_over:
            return "dawn"
        if depth >= self.settings.max_depth:
            return "max_depth"
        return None

    def _nearest(self, state: GameState, depth: int) -> str | None:
        """The closest existing state at ``depth`` or, failing that, the nearest deeper level.

        Each choice already arriving at a node counts against it, so converging branches spread over
        the level instead of piling into one node that would then take most plays (and one ending).
        The cost of the nearest is ``state.distance(n.state) + ARRIVAL_COST * arrivals``, ties to the
        smaller id; :class:`~.nearest.NearestIndex` finds it without scanning the level."""
        return self._index.nearest(state, depth, self.settings.max_depth, self._arrivals_at)


def _enqueue(tree: Tree, node: Node) -> None:
    """Keep the queue ordered by depth (stable): the shared endings wait at the deepest level."""
    position = len(tree.queue)
    while position and tree.nodes[tree.queue[position - 1]].depth > node.depth:
        position -= 1
    tree.queue.insert(position, node.id)


def tree_settings_dict(settings: TreeSettings) -> dict[str, int]:
    return {"max_depth": settings.max_depth, "branching": settings.branching, "max_nodes": settings.max_nodes}
