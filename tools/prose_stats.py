"""How varied a story's prose is: sentence repetition and narrative lengths, per language.

    python tools/prose_stats.py STORY.json [--top 10]

STORY.json is an exported story (docs/export-format.md). The prose counted is every node's
narrative and every choice's bridge. Sentences end after 。！？ (with any closing quote) in
Chinese, after . ! ? followed by white space in English, and at line breaks.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections import Counter
from pathlib import Path
from typing import Any

_ZH_END = re.compile(r"(?<=[。！？])(?![」”』。！？])|(?<=[。！？][」”』])")
_EN_END = re.compile(r"(?<=[.!?])\s+|(?<=[.!?][\"”’'])\s+")
LIMITS = {"zh": (150, 350), "en": (80, 200)}  # the style contract: characters (zh) or words (en)


def split_sentences(text: str, lang: str) -> list[str]:
    """Sentences of a text: split on line breaks, then after sentence ends; trimmed, empty ones dropped."""
    end = _ZH_END if lang == "zh" else _EN_END
    return [part.strip() for line in text.splitlines() for part in end.split(line) if part.strip()]


def size(text: str, lang: str) -> int:
    return len(text) if lang == "zh" else len(text.split())


def stats(story: dict[str, Any], top: int = 10) -> dict[str, Any]:
    lang = "zh" if str(story["story"].get("lang", "zh")).startswith("zh") else "en"
    counts: Counter[str] = Counter()
    lengths: list[int] = []
    for character in story["characters"]:
        for node in character["tree"]["nodes"].values():
            counts.update(split_sentences(node["narrative"], lang))
            lengths.append(size(node["narrative"], lang))
            for choice in node["choices"]:
                if choice.get("bridge"):
                    counts.update(split_sentences(choice["bridge"], lang))
    total = sum(counts.values())
    low, high = LIMITS[lang]
    return {
        "lang": lang,
        "sentences": total,
        "distinct": len(counts),
        "distinct_share": len(counts) / total if total else 1.0,
        "top": [(sentence, count, count / total) for sentence, count in counts.most_common(top)],
        "narratives": len(lengths),
        "length_min": min(lengths, default=0),
        "length_median": statistics.median(lengths) if lengths else 0,
        "length_max": max(lengths, default=0),
        "outside_contract": sum(1 for n in lengths if not low <= n <= high) / len(lengths)
        if lengths
        else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("story", type=Path, help="an exported story JSON file")
    parser.add_argument("--top", type=int, default=10, help="how many of the most repeated sentences to show")
    args = parser.parse_args(argv)
    result = stats(json.loads(args.story.read_text(encoding="utf-8")), args.top)
    unit = "characters" if result["lang"] == "zh" else "words"
    print(f"language {result['lang']}")
    print(f"sentences {result['sentences']}, distinct {result['distinct']} ({result['distinct_share']:.1%})")
    print(f"top {len(result['top'])} sentences:")
    for sentence, count, share in result["top"]:
        print(f"  {count:5d}  {share:6.2%}  {sentence}")
    print(
        f"narratives {result['narratives']}: length in {unit} min {result['length_min']}, "
        f"median {result['length_median']:g}, max {result['length_max']}; "
        f"outside {LIMITS[result['lang']][0]}-{LIMITS[result['lang']][1]}: {result['outside_contract']:.1%}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
