"""The API key kept out of every message, log line and stored reply: key checks and scrubbing in every form."""

from __future__ import annotations

import base64
import re
import urllib.parse
from typing import Any

from ..errors import InputError
from ..text import remember_secrets

MASK = "***"
_MIN_PART = 8  # a shorter piece of a key (its part after the prefix) could match ordinary words in prose
_MIN_SHORT = 4  # a whole key shorter than this is no secret, and replacing it would garble every message

# A provider prefix: "sk-", "sk-proj-", "sk-ant-api03-", "gsk_", "xai-", "pk_live_"...
_PREFIX = re.compile(r"^(?:[A-Za-z]{2,8}[-_]){1,3}(?:api\d{2}[-_])?")
# Anything shaped like a bearer token or a provider key, for text that may hold a key we were not given.
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9_\-.~+/=*%]{4,}")
# A key has many digits (or is already masked with *), and no host name follows: "api-inference.host.co"
# and "key_value_store_v2" in an error message stay readable.
_KEYLIKE = re.compile(
    r"\b(sk|pk|api|key|gsk|xai)([-_])(?=(?:[A-Za-z0-9_\-]*\d){3}|[A-Za-z0-9_\-]*\*)[A-Za-z0-9_\-*]{12,}"
    r"(?![A-Za-z0-9_\-*]*\.[A-Za-z])"
)

_MESSAGES = {
    "en": {
        "space": "the API key holds white space or a line break inside it: copy the key again, without spaces",
        "ascii": "the API key holds a character that is not ASCII (position {at}): copy the key again",
        "control": "the API key holds a control character (position {at}): copy the key again",
    },
    "zh": {
        "space": "API 密钥中间含有空白或换行：请重新复制密钥，不要带空格",
        "ascii": "API 密钥含有非 ASCII 字符（第 {at} 个字符）：请重新复制密钥",
        "control": "API 密钥含有控制字符（第 {at} 个字符）：请重新复制密钥",
    },
}


def check_key(key: str, lang: str = "en") -> str:
    """The key as an HTTP header can carry it (outer white space removed), or a one-line InputError that
    never quotes the key: a key pasted with a line break or a typographic dash must fail before any request,
    not as a traceback from the HTTP library."""
    words = _MESSAGES["zh" if lang.startswith("zh") else "en"]
    key = key.strip()
    for at, ch in enumerate(key, start=1):
        if ch.isspace():
            raise InputError(words["space"])
        if not ch.isascii():
            raise InputError(words["ascii"].format(at=at))
        if ord(ch) < 32 or ord(ch) == 127:
            raise InputError(words["control"].format(at=at))
    return key


def key_forms(key: str | None) -> tuple[str, ...]:
    """Every form in which a key can come back in text, longest first: the key, its part after the
    provider prefix, URL-encoded (quote and quote_plus), JSON-escaped and as HTTP Basic credentials.
    ``Bearer <key>`` contains the key and so goes with it."""
    key = (key or "").strip()
    if not key:
        return ()
    forms = {key}
    if len(key) < _MIN_SHORT:
        return ()
    bare = _PREFIX.sub("", key)
    if bare != key and len(bare) >= _MIN_PART:
        forms.add(bare)
    for form in list(forms):
        forms.add(urllib.parse.quote(form, safe=""))
        forms.add(urllib.parse.quote_plus(form))
        forms.add(form.replace("\\", "\\\\").replace("/", "\\/"))
    for user in ("", "api", "apikey"):
        forms.add(base64.b64encode(f"{user}:{key}".encode("utf-8", "surrogatepass")).decode("ascii"))
    return tuple(sorted((f for f in forms if f), key=len, reverse=True))


def register(key: str | None) -> None:
    """Make every form of ``key`` one that text.clean_text replaces: each reply, re-ask excerpt, stored
    text and printed line of this process passes through it, so a server that echoes the key into its
    content cannot get it into the library, a checkpoint, the journal or the screen."""
    # A key as short as a word ("x", "local") would turn that word into *** in every story: such a key
    # guards nothing, and messages still lose it through scrub_message.
    remember_secrets(form for form in key_forms(key) if len(form) >= _MIN_PART)


def scrub(text: str, key: str | None) -> str:
    """``text`` with every form of ``key`` replaced by ***; other text (line breaks too) unchanged.

    For a writer's reply before it is parsed or stored: a server that echoes the key into its content must
    not get it into the library, a checkpoint or the journal."""
    for form in key_forms(key):
        if form in text:
            text = text.replace(form, MASK)
    return text


def scrub_data(value: Any, key: str | None) -> Any:
    """Every string of parsed data (keys and values) through :func:`scrub`."""
    if not key:
        return value
    if isinstance(value, str):
        return scrub(value, key)
    if isinstance(value, dict):
        return {scrub(str(k), key): scrub_data(v, key) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_data(item, key) for item in value]
    return value


def scrub_message(text: str, key: str | None, limit: int = 300) -> str:
    """One short line for an error message or a log line: :func:`scrub`, then anything shaped like a bearer
    token or a provider key (a server may echo a key we do not hold, e.g. from its own configuration)."""
    text = scrub(str(text), key)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)
    text = _KEYLIKE.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    text = " ".join(text.split())
    return text[:limit] + ("…" if len(text) > limit else "")


def holds_key(text: str | bytes, key: str | None) -> bool:
    """True when ``text`` holds any form of ``key``: what the tests look for in every file and output."""
    raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return any(form in raw for form in key_forms(key))
