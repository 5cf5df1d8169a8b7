"""What the game's words mean: ending types and their labels, the night's clock, the story languages."""

from __future__ import annotations

import functools
import re

ENDING_TYPES = (
    "fear_collapse",  # fear reached 100
    "truth_revealed",
    "escape",
    "dawn",  # survived until the night's end
    "trapped",
    "possessed",
    "sacrifice",
)

# The names players and exports show for each ending type; one table so every screen agrees.
ENDING_LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "fear_collapse": "恐惧崩溃",
        "truth_revealed": "真相大白",
        "escape": "逃出生天",
        "dawn": "熬到天亮",
        "trapped": "被困",
        "possessed": "被附身",
        "sacrifice": "牺牲",
    },
    "en": {
        "fear_collapse": "Overcome by fear",
        "truth_revealed": "Truth revealed",
        "escape": "Escaped",
        "dawn": "Survived until dawn",
        "trapped": "Trapped",
        "possessed": "Possessed",
        "sacrifice": "Sacrifice",
    },
}

# The words every player (terminal and exports) shows around the state and the ending, so a reader
# meets the same word for the same thing on every screen.
UI_WORDS: dict[str, dict[str, str]] = {
    "zh": {
        "scene": "场景",
        "fear": "恐惧",
        "truth": "真相",
        "familiarity": "熟悉",
        "time": "时间",
        "items": "物品",
        "none": "无",
        "ending": "结局",
        "you_chose": "你选择了",
        "colon": "：",
        "list_sep": "、",
        "dash": "——",
    },
    "en": {
        "scene": "Scene",
        "fear": "Fear",
        "truth": "Truth",
        "familiarity": "Familiarity",
        "time": "Time",
        "items": "Items",
        "none": "none",
        "ending": "Ending",
        "you_chose": "You chose",
        "colon": ": ",
        "list_sep": ", ",
        "dash": " — ",
    },
}

NIGHT_START = "00:00"
NIGHT_END = "04:00"
NIGHT_MINUTES = 240  # 00:00 .. 04:00: the clock of every path stops here
FEAR_MAX = 100
START_FEAR = 5

_HHMM = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


def lang_of(lang: str | None) -> str:
    """``zh``/``zh-CN``/``zh_Hans`` -> ``zh``; anything else -> ``en``."""
    return "zh" if (lang or "").lower().startswith("zh") else "en"


def ending_label(kind: str, lang: str | None = "en") -> str:
    """The human name of an ending type (the raw type when unknown)."""
    return ENDING_LABELS[lang_of(lang)].get(kind, kind)


def ending_line(kind: str, title: str | None, lang: str | None = "en") -> str:
    """The line a player shows at an ending: "结局：被附身——门后的人" / "Ending: Possessed — Behind the door".

    The title is left out when it only repeats the label (or the raw type), so a screen never reads
    "Possessed — Possessed".
    """
    words = UI_WORDS[lang_of(lang)]
    label = ending_label(kind, lang)
    line = f"{words['ending']}{words['colon']}{label}"
    shown = " ".join(str(title or "").split())
    repeats = {kind.casefold(), label.casefold()} | {
        labels.get(kind, kind).casefold() for labels in ENDING_LABELS.values()
    }
    if shown and shown.casefold() not in repeats:
        line += f"{words['dash']}{shown}"
    return line


@functools.lru_cache(maxsize=1024)  # convergence compares times for every converging branch
def minutes(hhmm_text: str) -> int:
    """Minutes since midnight of an ``HH:MM`` string (raises ValueError when malformed)."""
    match = _HHMM.match(hhmm_text)
    if not match or int(match.group(2)) > 59:
        raise ValueError(f"not a HH:MM time: {hhmm_text!r}")
    return int(match.group(1)) * 60 + int(match.group(2))


def hhmm(total_minutes: int) -> str:
    return f"{total_minutes // 60:02d}:{total_minutes % 60:02d}"


_UNITS = {"zh": ("秒", "分钟", "小时"), "en": ("s", "min", "h")}


def duration(seconds: float, lang: str | None = "en") -> str:
    """A short human duration, as every screen shows one: "45 s", "12 min", "3.5 h" (zh: "45 秒")."""
    second, minute, hour = _UNITS[lang_of(lang)]
    if seconds < 90:
        return f"{seconds:.0f} {second}"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} {minute}"
    return f"{seconds / 3600:.1f} {hour}"
