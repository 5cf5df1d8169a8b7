"""The runtime rules of a story: a player's state is what their own path did (docs/export-format.md).

This is the reference the terminal player and the playtest use; the HTML player and the Ink, Yarn and Twee
exports implement the same rules in their own engines.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from .model import Choice, Tree
from .vocabulary import FEAR_MAX, NIGHT_MINUTES, hhmm


@dataclass(frozen=True)
class PlayState:
    """Where a player is and what their path has done so far."""

    node: str
    fear: int
    truth: int
    familiarity: int
    minutes: int  # since 00:00; never more than NIGHT_MINUTES
    scene: str
    flags: dict[str, bool | int | str] = field(default_factory=dict)
    items: tuple[str, ...] = ()
    step: int = 0  # choices taken

    @property
    def clock(self) -> str:
        return hhmm(self.minutes)


@dataclass(frozen=True)
class Arrival:
    """What the player sees on taking a choice: the bridge (when shown) and whether a rule redirected them."""

    node: str
    bridge: str
    redirected: str | None  # "fear_collapse" or "dawn" when a runtime rule replaced the target


def start(tree: Tree) -> PlayState:
    state = tree.nodes[tree.root].state
    return PlayState(
        node=tree.root,
        fear=state.PR,
        truth=state.GR,
        familiarity=state.WF,
        minutes=state.minutes,
        scene=state.scene,
        flags=dict(state.flags),
        items=tuple(state.inventory),
    )


def _clamp(value: int) -> int:
    return max(0, min(FEAR_MAX, value))


def take(tree: Tree, state: PlayState, index: int) -> tuple[PlayState, Arrival]:
    """Take choice ``index`` (0-based) of the player's node; raises IndexError when there is none."""
    node = tree.nodes[state.node]
    if not 0 <= index < len(node.choices):
        raise IndexError(f"node {state.node} has no choice {index + 1}")
    choice: Choice = node.choices[index]
    c = choice.consequences
    fear = _clamp(state.fear + c.PR)
    clock = min(state.minutes + c.minutes, NIGHT_MINUTES)
    target = choice.next
    redirected = _redirect(tree, target, fear, clock)
    if redirected is not None and tree.runtime_endings is not None:
        target = getattr(tree.runtime_endings, redirected)
        scene = state.scene
    else:
        redirected = None
        scene = tree.nodes[target].state.scene
    items = state.items + tuple(i for i in dict.fromkeys(c.items) if i not in state.items)
    after = PlayState(
        node=target,
        fear=fear,
        truth=_clamp(state.truth + c.GR),
        familiarity=_clamp(state.familiarity + c.WF),
        minutes=clock,
        scene=scene,
        flags={**state.flags, **c.flags},
        items=items,
        step=state.step + 1,
    )
    return after, Arrival(target, "" if redirected else choice.bridge, redirected)


def _redirect(tree: Tree, target: str, fear: int, clock: int) -> str | None:
    ending = tree.nodes[target].ending
    kind = ending.type if ending else None
    if fear >= FEAR_MAX:  # fear wins over the clock: the story ends in fear
        return None if kind == "fear_collapse" else "fear_collapse"
    if clock >= NIGHT_MINUTES and kind != "dawn":
        return "dawn"
    return None


def random_fears(tree: Tree, rng: random.Random, plays: int) -> list[tuple[list[int], str]]:
    """``plays`` runs of :func:`random_play`, each as its fear at every step and its last node.

    The same rules and the same draws from ``rng``, play for play, without building a state per
    step: a playtest's thousand plays need only the fear and where each ended."""
    endings = tree.runtime_endings
    steps: dict[str, list[tuple[int, int, str]]] = {
        nid: [(c.consequences.PR, c.consequences.minutes, c.next) for c in node.choices]
        for nid, node in tree.nodes.items()
    }
    root = tree.nodes[tree.root].state
    runs = []
    for _ in range(plays):
        node, fear, clock = tree.root, root.PR, root.minutes
        fears = [fear]
        choices = steps[node]
        while choices:
            gain, spent, target = choices[rng.randrange(len(choices))]
            fear = _clamp(fear + gain)
            clock = min(clock + spent, NIGHT_MINUTES)
            redirected = _redirect(tree, target, fear, clock)
            if redirected is not None and endings is not None:
                target = getattr(endings, redirected)
            node = target
            fears.append(fear)
            choices = steps[node]
        runs.append((fears, node))
    return runs


def ending_of(tree: Tree, state: PlayState) -> str | None:
    """The ending type reached at the player's node, or None while the story goes on."""
    ending = tree.nodes[state.node].ending
    return ending.type if ending else None


def random_play(tree: Tree, rng: random.Random) -> list[PlayState]:
    """One play with a uniformly random choice at every node; the states from the start to the ending."""
    state = start(tree)
    states = [state]
    while tree.nodes[state.node].choices:
        state, _ = take(tree, state, rng.randrange(len(tree.nodes[state.node].choices)))
        states.append(state)
    return states
