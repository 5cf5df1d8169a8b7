"""How a character's story plays: random plays under the runtime rules, measured for the report."""

from __future__ import annotations

import math
import random
from collections import Counter

from .model import Character, Playtest
from .prose import repetition
from .runtime import random_fears

PLAYS = 1000
_MIN_SHARE = 0.02  # depths reached by fewer plays than this share are too noisy to correlate


def playtest(character: Character, lang: str, plays: int = PLAYS, seed: int = 0) -> Playtest:
    """``plays`` seeded random plays (a uniform choice at every node) of the character's graph."""
    tree = character.tree
    rng = random.Random(seed)
    endings: Counter[str] = Counter()
    fear_sum: list[int] = []
    reached: list[int] = []
    for fears, last in random_fears(tree, rng, plays):  # random_play's plays, fear and ending only
        ending = tree.nodes[last].ending
        endings[ending.type if ending else "none"] += 1
        for step, fear in enumerate(fears):
            if step == len(fear_sum):
                fear_sum.append(0)
                reached.append(0)
            fear_sum[step] += fear
            reached[step] += 1
    mean_fear = [round(total / count, 2) for total, count in zip(fear_sum, reached, strict=True)]
    tension = [character.plan.tension(d) if character.plan else 0 for d in range(len(mean_fear))]
    kept = [d for d, count in enumerate(reached) if count >= _MIN_SHARE * plays]
    choices = [c for node in tree.nodes.values() for c in node.choices]
    texts = [node.narrative for node in tree.nodes.values()] + [c.bridge for c in choices if c.bridge]
    prose = repetition(texts)
    return Playtest(
        plays=plays,
        ending_mix={kind: round(count / plays, 4) for kind, count in sorted(endings.items())},
        mean_fear_by_depth=mean_fear,
        tension_by_depth=tension,
        fear_tension_rank_correlation=spearman([mean_fear[d] for d in kept], [tension[d] for d in kept]),
        bridged_arrivals=round(sum(1 for c in choices if c.bridge) / len(choices), 4) if choices else 0.0,
        distinct_sentences=round(prose.distinct_share, 4),
        top_sentence_share=round(prose.top_share, 4),
    )


def _ranks(values: list[float]) -> list[float]:
    """Ranks from 1, ties sharing their average rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for k in range(start, end + 1):
            ranks[order[k]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def spearman(xs: list[float], ys: list[float]) -> float | None:
    """Spearman's rank correlation; None when it is undefined (fewer than 3 points, or a constant series)."""
    if len(xs) < 3 or len(set(xs)) < 2 or len(set(ys)) < 2:
        return None
    rx, ry = _ranks(list(xs)), _ranks(list(ys))
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    var = math.sqrt(sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry))
    return round(cov / var, 4)
