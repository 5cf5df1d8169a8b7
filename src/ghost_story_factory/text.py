"""Text from outside (writers, files, names) made safe to store, print and export: no control sequences,
and no form of a secret this process holds (writers/_secrets.py registers the API key here)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

# C0 controls but tab and newline, DEL, C1 controls (ESC starts every terminal sequence), lone
# surrogates, the bidirectional overrides and isolates that reorder what a reader sees, and the
# byte-order mark (invisible, and it hides line-start markup like Yarn's '===' from a check).
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\ufeff]"
)
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")


# A JSON escape of a surrogate (an even run of backslashes before it, so it really is an escape): a
# high one followed by a low one is a pair and stays; any other is lone, which no JSON parser decodes.
_SURROGATE_ESCAPE = re.compile(
    r"(?<!\\)((?:\\\\)*)(\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|\\u[dD][89a-fA-F][0-9a-fA-F]{2})"
)


def _keep_pairs(match: re.Match[str]) -> str:
    escape = match.group(2)
    return match.group(1) + (escape if len(escape) == 12 else "")


_SECRETS: list[str] = []  # every form of every key in use, longest first; "***" takes their place


def remember_secrets(forms: Iterable[str]) -> None:
    """Add text that :func:`clean_text` must never let through (the forms of an API key)."""
    _SECRETS[:] = sorted({*_SECRETS, *(f for f in forms if f)}, key=len, reverse=True)


def forget_secrets() -> None:
    _SECRETS.clear()


def clean_text(text: str) -> str:
    """NFC text with line breaks kept and every control or escape sequence removed (the whole sequence,
    not only its ESC, so no ``[2J`` is left behind), lone surrogates removed (as characters and as JSON
    escapes like ``\\ud800``), and every remembered secret replaced by ``***``."""
    # Every line break one newline: Python's splitlines() also breaks at U+2028/U+2029, an engine may not.
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n")
    text = _ANSI.sub("", text)
    text = unicodedata.normalize("NFC", _UNSAFE.sub("", text))
    if "\\u" in text:  # a lone surrogate written as a JSON escape would make a whole reply unparseable
        text = _SURROGATE_ESCAPE.sub(_keep_pairs, text)
    for secret in _SECRETS:  # after the controls go: a key split by an ESC is whole again
        if secret in text:
            text = text.replace(secret, "***")
    return text


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
