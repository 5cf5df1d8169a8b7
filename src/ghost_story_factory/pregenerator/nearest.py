"""An index of one graph's nodes by depth that finds the nearest state without scanning the level.

The builder converges a branch into the node of a level that minimises
``state.distance(node.state) + ARRIVAL_COST * arrivals[node]`` (ties to the smaller id). Scanning the
level costs its width per search, so a graph of 100,000 nodes (4,000 a level) grows quadratically.
:class:`NearestIndex` returns exactly the same node with bounds that skip most of the level:

* A level's nodes are grouped by what the distance charges as a whole: scene, inventory and flags.
  Within a group that part is one constant for a query, computed once per query state and group.
* A group's nodes sit in cells of a grid over fear, truth, familiarity and time. A cell's lower bound
  is the group's constant, the numeric distance from the query to the cell's box, and the arrival
  cost of its node with the fewest arrivals when it was added (arrivals only grow, so it stays a
  bound). Cells are visited in order of that bound, and the search stops at the first bound above
  the best cost found: nothing beyond it can win, not even on the id.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field

from ..vocabulary import minutes
from .state import GameState

_CELL = 8  # grid step for fear, truth and familiarity; 5x as many minutes (the distance counts 5 min as 1)

Signature = tuple[str, frozenset[str], frozenset[tuple[str, Hashable]]]


def signature(state: GameState) -> Signature:
    """The part of a state the distance charges as a whole: its scene, items and flags."""
    return state.scene, frozenset(state.inventory), frozenset(state.flags.items())


def signature_cost(query: Signature, other: Signature) -> int:
    """``GameState.distance`` restricted to scene, items and flags (``query`` is the arriving path)."""
    scene, held, flags = query
    other_scene, other_held, other_flags = other
    cost = 0 if scene == other_scene else 60
    cost += 30 * len(other_held - held) + 4 * len(held - other_held)
    cost += 20 * len(other_flags - flags) + 3 * len(flags - other_flags)
    return cost


def _point(state: GameState) -> tuple[int, int, int, int]:
    return state.pr, state.gr, state.wf, minutes(state.time)


def _cell_of(point: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    pr, gr, wf, minute = point
    return pr // _CELL, gr // _CELL, wf // _CELL, minute // (5 * _CELL)


def _gap(value: int, low: int, high: int) -> int:
    """How far ``value`` lies outside ``[low, high]``."""
    return low - value if value < low else value - high if value > high else 0


@dataclass
class _Cell:
    low: tuple[int, int, int, int]
    high: tuple[int, int, int, int]
    fewest_arrivals: int
    entries: list[tuple[tuple[int, int, int, int], str]] = field(default_factory=list)

    def bound(self, point: tuple[int, int, int, int]) -> int:
        """A lower bound of the numeric distance from ``point`` to any state in this cell."""
        return (
            _gap(point[0], self.low[0], self.high[0])
            + _gap(point[1], self.low[1], self.high[1])
            + _gap(point[2], self.low[2], self.high[2])
            + _gap(point[3], self.low[3], self.high[3]) // 5
        )


@dataclass
class _Group:
    signature: Signature
    cells: dict[tuple[int, int, int, int], _Cell] = field(default_factory=dict)
    fewest_arrivals: int = 0


class NearestIndex:
    """The nodes of a graph by depth, for :meth:`nearest`; add every node the builder may converge into."""

    def __init__(self, arrival_cost: int) -> None:
        self.arrival_cost = arrival_cost
        self._levels: dict[int, dict[Signature, _Group]] = {}
        self._sizes: dict[int, int] = {}
        # Per level and query signature, the level's groups by their constant: a query state's
        # signature recurs (siblings share it), and a level gains new groups ever more rarely.
        self._orders: dict[tuple[int, Signature], tuple[int, list[tuple[int, _Group]]]] = {}

    def add(self, node_id: str, depth: int, state: GameState, arrivals: int) -> None:
        """Index a node; ``arrivals`` is how many choices lead to it now (it may only grow later)."""
        key = signature(state)
        level = self._levels.setdefault(depth, {})
        group = level.get(key)
        if group is None:
            group = level[key] = _Group(key, fewest_arrivals=arrivals)
        group.fewest_arrivals = min(group.fewest_arrivals, arrivals)
        point = _point(state)
        where = _cell_of(point)
        cell = group.cells.get(where)
        if cell is None:
            cell = group.cells[where] = _Cell(point, point, arrivals)
        else:
            cell.low = (
                min(cell.low[0], point[0]),
                min(cell.low[1], point[1]),
                min(cell.low[2], point[2]),
                min(cell.low[3], point[3]),
            )
            cell.high = (
                max(cell.high[0], point[0]),
                max(cell.high[1], point[1]),
                max(cell.high[2], point[2]),
                max(cell.high[3], point[3]),
            )
            cell.fewest_arrivals = min(cell.fewest_arrivals, arrivals)
        cell.entries.append((point, node_id))
        self._sizes[depth] = self._sizes.get(depth, 0) + 1

    def add_all(self, nodes: Iterable[tuple[str, int, GameState]], arrivals: Mapping[str, int]) -> None:
        for node_id, depth, state in nodes:
            self.add(node_id, depth, state, arrivals.get(node_id, 0))

    def nearest(
        self, state: GameState, depth: int, max_depth: int, arrivals: Mapping[str, int]
    ) -> str | None:
        """The node the builder's scan would pick: at ``depth``, else the first deeper level with any."""
        for level in range(depth, max_depth + 1):
            if self._sizes.get(level):
                return self._nearest_in(level, state, arrivals)
        return None

    def _groups_by_constant(self, depth: int, query: Signature) -> list[tuple[int, _Group]]:
        level = self._levels[depth]
        known = self._orders.get((depth, query))
        if known is not None and known[0] == len(level):  # groups are only ever added
            return known[1]
        order = sorted(
            ((signature_cost(query, group.signature), group) for group in level.values()),
            key=lambda pair: pair[0],
        )
        self._orders[(depth, query)] = (len(level), order)
        return order

    def _nearest_in(self, depth: int, state: GameState, arrivals: Mapping[str, int]) -> str:
        point = _point(state)
        pr, gr, wf, minute = point
        cost = self.arrival_cost
        best_cost, best_id = -1, ""
        for constant, group in self._groups_by_constant(depth, signature(state)):
            if best_cost >= 0:
                if constant > best_cost:
                    break  # the groups after this one cost at least as much before any number
                if constant + cost * group.fewest_arrivals > best_cost:
                    continue
            cells = [
                (constant + cell.bound(point) + cost * cell.fewest_arrivals, cell)
                for cell in group.cells.values()
            ]
            cells.sort(key=lambda pair: pair[0])
            for lower, cell in cells:
                if best_cost >= 0 and lower > best_cost:
                    break
                for (npr, ngr, nwf, nminute), node_id in cell.entries:
                    total = (
                        constant
                        + abs(pr - npr)
                        + abs(gr - ngr)
                        + abs(wf - nwf)
                        + abs(minute - nminute) // 5
                        + cost * arrivals.get(node_id, 0)
                    )
                    if best_cost < 0 or total < best_cost or (total == best_cost and node_id < best_id):
                        best_cost, best_id = total, node_id
        return best_id
