"""Settings from command-line flags, environment variables and defaults, validated in one place.

Flags win over ``GSF_*`` environment variables, which win over defaults. Every value is checked
here, before anything is written, so bad input fails with one line and exit code 2.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InputError

MAX_NAME_LENGTH = 200
MAX_CHARACTERS = 8
MAX_ROLE_LENGTH = 120
CHARACTER_SEPARATORS = (",", "，", "、")
PROVIDERS = (
    "openai",
    "deepseek",
    "moonshot",
    "qwen",
    "glm",
    "openrouter",
    "ollama",
    "lmstudio",
    "vllm",
    "llamacpp",
)
CALL_KINDS = ("documents", "characters", "plan", "node")


@dataclass(frozen=True)
class Option:
    name: str  # the attribute and the flag (--max-depth for max_depth)
    env: str
    kind: type
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    help: str = ""


OPTIONS: tuple[Option, ...] = (
    Option(
        "backend",
        "GSF_BACKEND",
        str,
        "auto",
        choices=("auto", "offline", "openai"),
        help="writer: auto = openai when a key, --provider or --base-url is given, else offline",
    ),
    Option("lang", "GSF_LANG", str, "zh", choices=("zh", "en"), help="language of the story and the screens"),
    Option(
        "max_depth", "GSF_MAX_DEPTH", int, 20, 2, 200, help="deepest level of a tree; nodes there are endings"
    ),
    Option("branching", "GSF_BRANCHING", int, 3, 2, 5, help="most choices per node"),
    Option("max_nodes", "GSF_MAX_NODES", int, 300, 5, 100_000, help="node budget per character"),
    Option("concurrency", "GSF_CONCURRENCY", int, 8, 1, 256, help="writer calls in flight at once"),
    Option(
        "checkpoint_every",
        "GSF_CHECKPOINT_EVERY",
        int,
        50,
        1,
        1_000_000,
        help="save the tree checkpoint after this many new nodes",
    ),
    Option("checkpoint_dir", "GSF_CHECKPOINT_DIR", str, "checkpoints", help="folder of checkpoint files"),
    Option("db", "GSF_DB", str, "ghost_stories.db", help="SQLite story library"),
    Option(
        "provider",
        "GSF_PROVIDER",
        str,
        None,
        choices=PROVIDERS,
        help="preset for an OpenAI-compatible service: base URL, model, JSON mode, prices",
    ),
    Option(
        "base_url", "GSF_BASE_URL", str, None, help="API base URL (overrides the preset and OPENAI_BASE_URL)"
    ),
    Option("model", "GSF_MODEL", str, None, help="model name (default: the preset's, else gpt-4o-mini)"),
    Option(
        "json_mode",
        "GSF_JSON_MODE",
        str,
        "auto",
        choices=("auto", "schema", "object", "text"),
        help="auto = negotiate (json_schema, then json_object, then text); or force one",
    ),
    Option(
        "max_output_tokens",
        "GSF_MAX_OUTPUT_TOKENS",
        str,
        None,
        help='output cap per call: N for all, or "node=4096,plan=8192,documents=8192"; 0 = send none',
    ),
    Option("extra_body", "GSF_EXTRA_BODY", str, None, help="JSON object merged into every request body"),
    Option(
        "context_tokens",
        "GSF_CONTEXT_TOKENS",
        int,
        None,
        256,
        10**8,
        help="the server's context size: a prompt that cannot fit is refused before any call",
    ),
    Option(
        "timeout",
        "GSF_TIMEOUT",
        float,
        None,
        1,
        3600,
        help="seconds per API request (default 120; 600 for a local --provider, whose models are slower)",
    ),
    Option("max_attempts", "GSF_MAX_ATTEMPTS", int, 6, 1, 50, help="tries per API request on network errors"),
    Option(
        "backoff_max",
        "GSF_BACKOFF_MAX",
        float,
        60.0,
        0.01,
        3600,
        help="longest pause between API retries, seconds",
    ),
    Option("attempts", "GSF_ATTEMPTS", int, 3, 1, 10, help="tries per call when a reply fails validation"),
    Option("budget_usd", "GSF_BUDGET_USD", float, None, 0, 1e9, help="stop when the run has cost this much"),
    Option(
        "max_tokens",
        "GSF_MAX_TOKENS",
        int,
        None,
        1,
        10**12,
        help="stop when the run has used this many tokens",
    ),
    Option(
        "price", "GSF_PRICE", str, None, help='USD per 1M tokens "input,cached,output" (overrides the table)'
    ),
    Option(
        "offline_latency_ms",
        "GSF_OFFLINE_LATENCY_MS",
        float,
        0.0,
        0,
        600_000,
        help="simulated latency per offline-writer call",
    ),
    Option("offline_jitter", "GSF_OFFLINE_JITTER", float, 0.0, 0, 1, help="latency jitter, a fraction"),
    Option(
        "progress_every",
        "GSF_PROGRESS_EVERY",
        float,
        10.0,
        0.5,
        3600,
        help="seconds between progress lines when the output is not a terminal",
    ),
    Option(
        "batch",
        "GSF_BATCH",
        bool,
        False,
        help="send node and plan calls through the provider's Batch API, at half price, answered within 24 h",
    ),
    Option(
        "batch_poll_seconds",
        "GSF_BATCH_POLL_SECONDS",
        float,
        30.0,
        0.01,
        86_400,
        help="seconds between polls of a pending batch",
    ),
    Option(
        "detach",
        "GSF_DETACH",
        bool,
        False,
        help="with --batch: submit the next wave, save, and exit 0; rerun to collect it",
    ),
    Option(
        "grace_seconds",
        "GSF_GRACE_SECONDS",
        float,
        5.0,
        0,
        600,
        help="on Ctrl+C, how long calls in flight may finish",
    ),
)


@dataclass(frozen=True)
class Settings:
    backend: str
    lang: str
    max_depth: int
    branching: int
    max_nodes: int
    concurrency: int
    checkpoint_every: int
    checkpoint_dir: Path
    db: Path
    provider: str | None
    base_url: str | None
    model: str | None
    json_mode: str
    max_output_tokens: str | None
    extra_body: str | None
    context_tokens: int | None
    timeout: float | None
    max_attempts: int
    backoff_max: float
    attempts: int
    budget_usd: float | None
    max_tokens: int | None
    price: str | None
    offline_latency_ms: float
    offline_jitter: float
    progress_every: float
    batch: bool
    batch_poll_seconds: float
    detach: bool
    grace_seconds: float


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _convert(option: Option, raw: Any, source: str) -> Any:
    if raw is None:
        return None
    if option.kind is bool:
        if isinstance(raw, bool):
            return raw
        word = str(raw).strip().lower()
        if word not in _TRUE + _FALSE:
            raise InputError(f"{source}: {raw!r} is not one of {', '.join(_TRUE + _FALSE)}")
        return word in _TRUE
    if option.kind is str:
        value = str(raw).strip()
        if option.choices and value not in option.choices:
            raise InputError(f"{source}: unknown value {value!r}; choose one of {', '.join(option.choices)}")
        if not value:
            raise InputError(f"{source}: must not be empty")
        return value
    try:
        value = option.kind(str(raw).strip())
    except ValueError:
        raise InputError(f"{source}: {raw!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):  # NaN and infinities
        raise InputError(f"{source}: {raw!r} is not a finite number")
    if (option.low is not None and value < option.low) or (option.high is not None and value > option.high):
        raise InputError(f"{source}: {raw} is out of range ({_limit(option.low)}..{_limit(option.high)})")
    return value


def _limit(value: float | None) -> str:
    """A limit as a writer reads it: 1000000, not 1e+06."""
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def load_settings(flags: Mapping[str, Any], env: Mapping[str, str]) -> Settings:
    """Settings from flags (None = not given), then env, then defaults; raises InputError."""
    values: dict[str, Any] = {}
    for option in OPTIONS:
        flag = flags.get(option.name)
        if flag is not None:
            values[option.name] = _convert(option, flag, f"--{option.name.replace('_', '-')}")
        elif env.get(option.env, "").strip():
            values[option.name] = _convert(option, env[option.env], option.env)
        else:
            values[option.name] = option.default
    values["checkpoint_dir"] = Path(values["checkpoint_dir"])
    values["db"] = Path(values["db"])
    parse_output_caps(values["max_output_tokens"])  # checked here, so a bad value writes nothing
    parse_extra_body(values["extra_body"])
    return Settings(**values)


def parse_output_caps(raw: str | None) -> dict[str, int] | int | None:
    """``--max-output-tokens``: a number for every call kind, or ``kind=N`` pairs; None = defaults."""
    if raw is None:
        return None
    text = raw.strip()
    example = 'a number of tokens, or pairs such as "node=4096,plan=8192"'
    if text.isdigit():
        return _cap(int(text), text)
    caps: dict[str, int] = {}
    for part in text.split(","):
        kind, sep, number = part.partition("=")
        kind, number = kind.strip(), number.strip()
        if not sep or kind not in CALL_KINDS or not number.isdigit():
            raise InputError(
                f"--max-output-tokens: expected {example} (kinds: {', '.join(CALL_KINDS)}); got {raw!r}"
            )
        caps[kind] = _cap(int(number), raw)
    return caps


def _cap(value: int, raw: str) -> int:
    if value > 10**7:
        raise InputError(f"--max-output-tokens: {raw} is out of range (0..10000000)")
    return value


def parse_extra_body(raw: str | None) -> dict[str, Any] | None:
    """``--extra-body``: a JSON object merged into every request (provider switches)."""
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InputError(f"--extra-body: not valid JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(value, dict):
        raise InputError('--extra-body: must be a JSON object, e.g. \'{"thinking": {"type": "disabled"}}\'')
    reserved = sorted(set(value) & {"model", "messages", "response_format", "stream"})
    if reserved:
        raise InputError(f"--extra-body: {', '.join(reserved)} is set by ghost-story itself")
    return value


def check_name(raw: str, what: str) -> str:
    """A city or character name as stored: NFC, trimmed; raises InputError for unusable names.

    Any Unicode letters and emoji are fine; separators, ``..``, control characters and names
    over 200 characters are not, since names become parts of file names.
    """
    name = unicodedata.normalize("NFC", raw).strip()
    if not any(unicodedata.category(ch)[0] in "LNPS" for ch in name):  # only spaces or invisible marks
        raise InputError(f"{what} name is empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InputError(f"{what} name is longer than {MAX_NAME_LENGTH} characters")
    if "/" in name or "\\" in name:
        raise InputError(f"{what} name {name[:40]!r} contains a path separator")
    if ".." in name:
        raise InputError(f"{what} name {name[:40]!r} contains '..'")
    if any(unicodedata.category(ch) in ("Cc", "Cs") or ch in "\u2028\u2029" for ch in name):
        raise InputError(f"{what} name {name[:40]!r} contains a control character")
    return name


def parse_characters(raw: str | None) -> tuple[tuple[str, str], ...]:
    """Characters as ``name`` or ``name:role`` (``:`` or ``：``), separated by ``,``, ``，`` or ``、``.

    Returns (name, role) pairs, the role ``""`` when not given (the plan call then proposes one);
    empty means let the writer propose the characters.
    """
    if raw is None or not raw.strip():
        return ()
    text = raw
    for separator in CHARACTER_SEPARATORS[1:]:
        text = text.replace(separator, ",")
    characters = []
    for part in text.split(","):
        name, _, role = part.replace("：", ":").partition(":")
        characters.append((check_name(name, "character"), _check_role(role)))
    names = [name for name, _ in characters]
    if len(set(names)) != len(names):
        raise InputError("the same character is named twice")
    if len(names) > MAX_CHARACTERS:
        raise InputError(f"at most {MAX_CHARACTERS} characters per story")
    return tuple(characters)


def _check_role(raw: str) -> str:
    role = " ".join(unicodedata.normalize("NFC", raw).split())
    if len(role) > MAX_ROLE_LENGTH:
        raise InputError(f"a character's role is longer than {MAX_ROLE_LENGTH} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Cf") for ch in role):
        raise InputError(f"the role {role[:40]!r} contains a control character")
    return role
