"""The dialogue graph of one character: nodes, choices, endings, its invariants and its report."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..vocabulary import ENDING_TYPES, minutes
from .state import GameState

SECONDS_PER_CHOICE = 15


def node_id(number: int) -> str:
    return f"node_{number:04d}"


RUNTIME_ENDINGS = ("fear_collapse", "dawn")


@dataclass
class Choice:
    text: str
    consequences: dict[str, Any]
    next: str

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "consequences": self.consequences, "next": self.next}


@dataclass
class Node:
    """One dialogue node. ``narrative is None`` means it is created but its content is pending."""

    id: str
    depth: int
    state: GameState
    parent: str | None = None
    via: str | None = None  # the text of the choice that created this node
    via_index: int | None = None  # and its place among the parent's choices
    must_end: str | None = None  # why the builder asks for an ending: max_depth, budget, fear, dawn, runtime
    narrative: str | None = None
    choices: list[Choice] = field(default_factory=list)
    ending: dict[str, Any] | None = None
    # Bridges are written with this node, one per incoming choice when it has several, so committed
    # parents never change; ``arrivals`` names those choices as [parent id, choice index].
    arrivals: list[list[Any]] = field(default_factory=list)
    bridges: list[str] = field(default_factory=list)

    @property
    def pending(self) -> bool:
        return self.narrative is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "depth": self.depth,
            "state": self.state.to_dict(),
            "parent": self.parent,
            "via": self.via,
            "via_index": self.via_index,
            "must_end": self.must_end,
            "narrative": self.narrative,
            "choices": [choice.to_dict() for choice in self.choices],
            "ending": self.ending,
            "arrivals": self.arrivals,
            "bridges": self.bridges,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Node:
        return cls(
            id=str(data["id"]),
            depth=int(data["depth"]),
            state=GameState.from_dict(data["state"]),
            parent=data.get("parent"),
            via=data.get("via"),
            via_index=None if data.get("via_index") is None else int(data["via_index"]),
            must_end=data.get("must_end"),
            narrative=data.get("narrative"),
            choices=[Choice(c["text"], c["consequences"], c["next"]) for c in data["choices"]],
            ending=data.get("ending"),
            arrivals=[[str(a[0]), int(a[1])] for a in data.get("arrivals") or []],
            bridges=[str(b) for b in data.get("bridges") or []],
        )


@dataclass
class Tree:
    """A character's graph while it grows: nodes, the BFS queue of pending nodes, the registry."""

    root: str
    nodes: dict[str, Node]
    queue: list[str]
    registry: dict[str, str]  # state hash -> node id
    node_counter: int
    merges: int = 0
    converged: int = 0
    ignored_values: int = 0
    runtime_endings: dict[str, str] = field(default_factory=dict)  # ending type -> node id

    @classmethod
    def start(cls, state: GameState, max_depth: int) -> Tree:
        """A root to write, and the two shared endings the runtime rules may send any player to."""
        root = Node(id=node_id(0), depth=0, state=state)
        nodes = {root.id: root}
        runtime = {}
        for number, kind in enumerate(RUNTIME_ENDINGS, 1):
            shared = Node(id=node_id(number), depth=max_depth, state=state, must_end="runtime")
            nodes[shared.id] = shared
            runtime[kind] = shared.id
        return cls(
            root=root.id,
            nodes=nodes,
            queue=list(nodes),
            registry={state.state_hash(): root.id},
            node_counter=len(nodes),
            runtime_endings=runtime,
        )

    def runtime_kind(self, nid: str) -> str | None:
        """The ending type of a shared runtime ending node, or None for every other node."""
        for kind, shared in self.runtime_endings.items():
            if shared == nid:
                return kind
        return None

    @property
    def current_depth(self) -> int:
        return self.nodes[self.queue[0]].depth if self.queue else self.max_depth_reached

    @property
    def max_depth_reached(self) -> int:
        return max(node.depth for node in self.nodes.values())

    @property
    def finished(self) -> bool:
        return not self.queue

    def to_dict(self, node_form: Callable[[Node], Any] = Node.to_dict) -> dict[str, Any]:
        """Plain data for orjson; ``node_form`` lets a caller reuse nodes it already serialized."""
        return {
            "root": self.root,
            "nodes": {nid: node_form(node) for nid, node in self.nodes.items()},
            "queue": list(self.queue),
            "registry": dict(self.registry),
            "node_counter": self.node_counter,
            "merges": self.merges,
            "converged": self.converged,
            "ignored_values": self.ignored_values,
            "runtime_endings": dict(self.runtime_endings),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tree:
        """Rebuild a tree from a checkpoint and refuse (ValueError) one whose types, references, parents
        or choices do not hold together: a checkpoint is a file on disk like any other."""
        try:
            tree = cls._from_dict(data)
        except (KeyError, TypeError, AttributeError, IndexError) as exc:
            raise ValueError(f"malformed tree ({type(exc).__name__}: {exc})") from None
        problems = tree.consistency_problems()
        if problems:
            raise ValueError("; ".join(problems[:3]))
        return tree

    @classmethod
    def _from_dict(cls, data: dict[str, Any]) -> Tree:
        if not isinstance(data.get("nodes"), dict) or not isinstance(data.get("queue"), list):
            raise TypeError("nodes must be an object and queue a list")
        for nid, raw in data["nodes"].items():
            _check_node(nid, raw)
        nodes = {nid: Node.from_dict(raw) for nid, raw in data["nodes"].items()}
        tree = cls(
            root=str(data["root"]),
            nodes=nodes,
            queue=[str(q) for q in data["queue"]],
            registry={str(k): str(v) for k, v in data["registry"].items()},
            node_counter=int(data["node_counter"]),
            merges=int(data.get("merges", 0)),
            converged=int(data.get("converged", 0)),
            ignored_values=int(data.get("ignored_values", 0)),
            runtime_endings={str(k): str(v) for k, v in (data.get("runtime_endings") or {}).items()},
        )
        return tree

    def consistency_problems(self) -> list[str]:
        """What makes a (possibly unfinished) tree unusable: dangling ids, a queue out of step."""
        problems: list[str] = []
        if self.root not in self.nodes:
            problems.append(f"root {self.root} is missing")
        for nid, node in self.nodes.items():
            if nid != node.id:
                problems.append(f"node key {nid} holds node {node.id}")
            problems += [
                f"{nid} has a choice to missing node {c.next}"
                for c in node.choices
                if c.next not in self.nodes
            ]
        pending = {nid for nid, node in self.nodes.items() if node.pending}
        for nid in self.queue:
            if nid not in self.nodes:
                problems.append(f"queue names unknown node {nid}")
        if pending != set(self.queue):
            problems.append("queue does not match the pending nodes")
        problems += [
            f"registry names missing node {nid}" for nid in self.registry.values() if nid not in self.nodes
        ]
        if self.node_counter < len(self.nodes):
            problems.append("node counter is behind the node count")
        if len(set(self.queue)) != len(self.queue):
            problems.append("the queue names a node twice")
        problems += _parent_problems(self)
        problems += [
            f"{nid} has a choice to itself"
            for nid, n in self.nodes.items()
            if any(c.next == nid for c in n.choices)
        ]
        if not problems and _topological_order(self) is None:
            problems.append("the choices form a cycle")
        problems += [
            f"runtime ending {k} names missing node {v}"
            for k, v in self.runtime_endings.items()
            if v not in self.nodes
        ]
        for nid, node in self.nodes.items():
            for parent, index in node.arrivals:
                source = self.nodes.get(parent)
                if (
                    source is None
                    or not 0 <= index < len(source.choices)
                    or source.choices[index].next != nid
                ):
                    problems.append(f"{nid} names an arrival {parent}:{index} that does not lead to it")
            if node.bridges and len(node.bridges) != len(node.arrivals):
                problems.append(f"{nid} has {len(node.bridges)} bridges for {len(node.arrivals)} arrivals")
        return problems


def validate(tree: Tree, max_nodes: int) -> list[str]:
    """Every invariant a finished tree must hold before it is saved; an empty list means valid."""
    problems = tree.consistency_problems()
    if problems:
        return problems
    nodes = tree.nodes
    if tree.queue:
        problems.append(f"{len(tree.queue)} nodes are still pending")
    if len(nodes) > max_nodes:
        problems.append(f"{len(nodes)} nodes exceed the budget of {max_nodes}")
    for nid, node in nodes.items():
        if not node.choices and not node.ending:
            problems.append(f"{nid} has no choices and is not an ending")
        if node.choices and node.ending:
            problems.append(f"{nid} is an ending with choices")
        texts = [c.text for c in node.choices]
        if len(set(texts)) != len(texts):
            problems.append(f"{nid} has two choices with the same text")
    order = _topological_order(tree)
    if order is None:
        problems.append("the graph has a cycle")
        return problems
    reachable = _reachable(tree) | set(tree.runtime_endings.values())  # the runtime rules reach those
    problems += [f"{nid} is unreachable from the root" for nid in nodes if nid not in reachable]
    missing = [k for k in RUNTIME_ENDINGS if k not in tree.runtime_endings]
    if missing:
        problems.append(f"no runtime ending for {', '.join(missing)}")
    incoming = incoming_choices(tree)
    for nid, arrivals in incoming.items():
        if len(arrivals) > 1 and len(tree.nodes[nid].bridges) != len(arrivals):
            problems.append(f"{nid} is shared by {len(arrivals)} choices but has no bridge for each")
    can_end = _can_reach_ending(tree, order)
    problems += [f"no ending is reachable from {nid}" for nid in nodes if nid not in can_end]
    return problems


def _check_node(nid: str, raw: Any) -> None:
    """Types of one stored node, so a hand-edited checkpoint fails here and not deep in a run."""
    if not isinstance(raw, dict):
        raise TypeError(f"{nid} is not an object")
    if not isinstance(raw.get("depth"), int) or raw["depth"] < 0:
        raise TypeError(f"{nid} has no valid depth")
    if raw.get("narrative") is not None and not isinstance(raw["narrative"], str):
        raise TypeError(f"{nid} has a narrative that is not text")
    state = raw.get("state")
    if not isinstance(state, dict) or not isinstance(state.get("scene"), str) or not state["scene"].strip():
        raise TypeError(f"{nid} has no scene")
    for meter in ("PR", "GR", "WF"):
        if (
            not isinstance(state.get(meter), int)
            or isinstance(state[meter], bool)
            or not 0 <= state[meter] <= 100
        ):
            raise TypeError(f"{nid} has a {meter} that is not 0..100")
    try:
        minutes(str(state.get("time")))
    except ValueError:
        raise TypeError(f"{nid} has a time that is not HH:MM") from None
    flags, inventory = state.get("flags") or {}, state.get("inventory") or []
    if not isinstance(flags, dict) or not all(isinstance(v, (bool, int, str)) for v in flags.values()):
        raise TypeError(f"{nid} has flags that are not name: value")
    if not isinstance(inventory, list) or not all(isinstance(i, str) for i in inventory):
        raise TypeError(f"{nid} has an inventory that is not a list of names")
    choices = raw.get("choices")
    if not isinstance(choices, list):
        raise TypeError(f"{nid} has choices that are not a list")
    for choice in choices:
        if not (
            isinstance(choice, dict)
            and isinstance(choice.get("text"), str)
            and isinstance(choice.get("next"), str)
        ):
            raise TypeError(f"{nid} has a malformed choice")
        if not isinstance(choice.get("consequences"), dict):
            raise TypeError(f"{nid} has a choice without consequences")
    ending = raw.get("ending")
    if ending is not None and not (
        isinstance(ending, dict)
        and ending.get("type") in ENDING_TYPES
        and isinstance(ending.get("title"), str)
    ):
        raise TypeError(f"{nid} has a malformed ending")


def _parent_problems(tree: Tree) -> list[str]:
    """Parents must exist and lead back to the root: a loop of parents would never end a walk."""
    problems = []
    for nid, node in tree.nodes.items():
        current, steps = node, 0
        while current.parent is not None:
            parent = tree.nodes.get(current.parent)
            steps += 1
            if parent is None:
                problems.append(f"{nid} has a missing parent {current.parent}")
                break
            if steps > len(tree.nodes):
                problems.append(f"the parents of {nid} form a loop")
                break
            current = parent
        if problems:
            break
    return problems


def incoming_choices(tree: Tree) -> dict[str, list[list[Any]]]:
    """Every choice that leads to each node, as [parent id, choice index], parents in id order (the order
    they were committed in), so a resumed build sees the same arrivals in the same order."""
    incoming: dict[str, list[list[Any]]] = {}
    for nid in sorted(tree.nodes):
        for index, choice in enumerate(tree.nodes[nid].choices):
            incoming.setdefault(choice.next, []).append([nid, index])
    return incoming


def _reachable(tree: Tree) -> set[str]:
    seen = {tree.root}
    stack = [tree.root]
    while stack:
        for choice in tree.nodes[stack.pop()].choices:
            if choice.next not in seen:
                seen.add(choice.next)
                stack.append(choice.next)
    return seen


def _topological_order(tree: Tree) -> list[str] | None:
    """Kahn's algorithm; None when the graph has a cycle."""
    indegree = dict.fromkeys(tree.nodes, 0)
    for node in tree.nodes.values():
        for choice in node.choices:
            indegree[choice.next] += 1
    ready = [nid for nid, degree in indegree.items() if degree == 0]
    order: list[str] = []
    while ready:
        nid = ready.pop()
        order.append(nid)
        for choice in tree.nodes[nid].choices:
            indegree[choice.next] -= 1
            if indegree[choice.next] == 0:
                ready.append(choice.next)
    return order if len(order) == len(tree.nodes) else None


def _can_reach_ending(tree: Tree, order: list[str]) -> set[str]:
    good: set[str] = set()
    for nid in reversed(order):
        node = tree.nodes[nid]
        if node.ending or any(c.next in good for c in node.choices):
            good.add(nid)
    return good


def main_path(tree: Tree) -> list[str]:
    """The longest root-to-ending path (node ids), ties broken by node id for determinism."""
    order = _topological_order(tree)
    if order is None:
        return []
    longest: dict[str, list[str]] = {}
    for nid in reversed(order):
        node = tree.nodes[nid]
        best: list[str] | None = [nid] if node.ending else None
        for choice in sorted(node.choices, key=lambda c: c.next):
            tail = longest.get(choice.next)
            if tail and (best is None or len(tail) + 1 > len(best)):
                best = [nid, *tail]
        if best:
            longest[nid] = best
    return longest.get(tree.root, [])


def report(tree: Tree) -> dict[str, Any]:
    """What a writer wants to know about a finished tree; stored with the story and printed."""
    path = main_path(tree)
    shared = set(tree.runtime_endings.values())
    endings = Counter(n.ending["type"] for nid, n in tree.nodes.items() if n.ending and nid not in shared)
    incoming = incoming_choices(tree)
    into_shared = sum(len(a) for a in incoming.values() if len(a) > 1)
    path_choices = max(len(path) - 1, 0)
    return {
        "nodes": len(tree.nodes),
        "max_depth": tree.max_depth_reached,
        "main_path_length": path_choices,
        "endings": len(endings) and sum(endings.values()),
        "endings_by_type": dict(sorted(endings.items())),
        "choices": sum(len(n.choices) for n in tree.nodes.values()),
        "merged_edges": tree.merges,
        "converged_edges": tree.converged,
        "ignored_values": tree.ignored_values,
        "shared_arrivals": into_shared,
        "play_minutes_main_path": round(path_choices * SECONDS_PER_CHOICE / 60, 1),
    }
