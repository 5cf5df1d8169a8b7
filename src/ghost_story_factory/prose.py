"""How prose repeats itself: sentence splitting and the repetition figures the report and tests use."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

# A sentence ends after 。！？ (zh, with any closing quote), after . ! ? followed by white space or the end
# (en, with any closing quote), or at a line break.
_CLOSE = '」”』’"）)'  # closing quotes and brackets that stay with their sentence
_SENTENCE = re.compile(f".+?(?:[。！？]+[{_CLOSE}]*|[.!?…]+[{_CLOSE}']*(?=\\s|$)|$)")


def sentences(text: str) -> list[str]:
    """The sentences of a text, trimmed, empty ones dropped."""
    found = []
    for line in text.splitlines():
        found += [part.strip() for part in _SENTENCE.findall(line.strip()) if part.strip()]
    return found


@dataclass(frozen=True)
class Repetition:
    sentences: int
    distinct_share: float  # distinct sentences / all sentences
    top_share: float  # the most repeated sentence / all sentences
    top: list[tuple[str, int]]


def repetition(texts: Iterable[str], top: int = 10) -> Repetition:
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(sentences(text))
    total = sum(counts.values())
    if not total:
        return Repetition(0, 1.0, 0.0, [])
    common = counts.most_common(top)
    return Repetition(total, len(counts) / total, common[0][1] / total, common)
