"""Text from outside (writers, files, names) made safe to store, print and export: no control sequences."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

# C0 controls but tab and newline, DEL, C1 controls (ESC starts every terminal sequence), lone
# surrogates, and the bidirectional overrides and isolates that reorder what a reader sees.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")


def clean_text(text: str) -> str:
    """NFC text with line breaks kept and every control or escape sequence removed (the whole sequence,
    not only its ESC, so no ``[2J`` is left behind)."""
    text = _ANSI.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    return unicodedata.normalize("NFC", _UNSAFE.sub("", text))


def clean_line(text: str, cap: int) -> str:
    """One line: :func:`clean_text`, white space folded, at most ``cap`` characters."""
    return " ".join(clean_text(text).split())[:cap].strip()


def clean_data(value: Any) -> Any:
    """Every string of a parsed reply (keys and values) through :func:`clean_text`."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_data(item) for item in value]
    return value
