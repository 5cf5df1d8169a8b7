"""Settings from command-line flags, environment variables and defaults, validated in one place.

Flags win over ``GSF_*`` environment variables, which win over defaults. Every value is checked
here, before anything is written, so bad input fails with one line and exit code 2, said in the
run's language (zh or en; a bad language itself in both).
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

# What a refused value is told with, in zh and en (the run's language; --lang itself is told in both).
MESSAGES: dict[str, dict[str, str]] = {
    "zh": {
        "not_bool": "{source}：{raw} 不是 {choices} 之一",
        "unknown_choice": "{source}：未知的值 {value}，可选：{choices}",
        "empty": "{source}：不能为空",
        "not_number": "{source}：{raw} 不是数字",
        "not_finite": "{source}：{raw} 不是有限的数",
        "out_of_range": "{source}：{raw} 超出范围（{low}–{high}）",
        "caps_bad": '--max-output-tokens：应为一个词元数，或 "node=4096,plan=8192" 这样的配对'
        "（种类：{kinds}）；收到的是 {raw}",
        "caps_range": "--max-output-tokens：{raw} 超出范围（0–10000000）",
        "json_bad": "--extra-body：不是有效的 JSON（第 {at} 个字符处出错）",
        "json_not_object": '--extra-body：必须是 JSON 对象，例如 \'{{"thinking": {{"type": "disabled"}}}}\'',
        "json_reserved": "--extra-body：{keys} 由 ghost-story 自己设置",
        "city": "城市",
        "character": "角色",
        "name_empty": "{what}名为空",
        "name_long": "{what}名超过 {most} 个字符",
        "name_separator": "{what}名 {name} 含有路径分隔符（/ 或 \\）",
        "name_dots": "{what}名 {name} 含有 '..'",
        "name_control": "{what}名 {name} 含有控制字符",
        "named_twice": "同一个角色出现了两次",
        "too_many": "每个故事最多 {most} 个角色",
        "role_long": "角色的身份超过 {most} 个字符",
        "role_control": "身份 {role} 含有控制字符",
        "sep": "、",
    },
    "en": {
        "not_bool": "{source}: {raw} is not one of {choices}",
        "unknown_choice": "{source}: unknown value {value}; choose one of {choices}",
        "empty": "{source}: must not be empty",
        "not_number": "{source}: {raw} is not a number",
        "not_finite": "{source}: {raw} is not a finite number",
        "out_of_range": "{source}: {raw} is out of range ({low}..{high})",
        "caps_bad": '--max-output-tokens: expected a number of tokens, or pairs such as "node=4096,plan=8192" '
        "(kinds: {kinds}); got {raw}",
        "caps_range": "--max-output-tokens: {raw} is out of range (0..10000000)",
        "json_bad": "--extra-body: not valid JSON ({reason} at character {pos})",
        "json_not_object": '--extra-body: must be a JSON object, e.g. \'{{"thinking": {{"type": "disabled"}}}}\'',
        "json_reserved": "--extra-body: {keys} is set by ghost-story itself",
        "city": "city",
        "character": "character",
        "name_empty": "{what} name is empty",
        "name_long": "{what} name is longer than {most} characters",
        "name_separator": "{what} name {name} contains a path separator",
        "name_dots": "{what} name {name} contains '..'",
        "name_control": "{what} name {name} contains a control character",
        "named_twice": "the same character is named twice",
        "too_many": "at most {most} characters per story",
        "role_long": "a character's role is longer than {most} characters",
        "role_control": "the role {role} contains a control character",
        "sep": ", ",
    },
}


def message(lang: str, key: str, /, **values: Any) -> str:
    """The refusal ``key`` in ``lang`` (zh for zh, en otherwise), filled in."""
    return MESSAGES["zh" if lang == "zh" else "en"][key].format(**values)


@dataclass(frozen=True)
class Option:
    name: str  # the attribute and the flag (--max-depth for max_depth)
    env: str
    kind: type
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    help: str = ""  # what it does, in English (the README's table says the same)
    help_zh: str = ""  # the same in Chinese, for a zh --help


OPTIONS: tuple[Option, ...] = (
    Option(
        "backend",
        "GSF_BACKEND",
        str,
        "auto",
        choices=("auto", "offline", "openai"),
        help="writer: auto = openai when a key, --provider or --base-url is given, else offline",
        help_zh="写作器：auto = 给了密钥、--provider 或 --base-url 时用 openai，否则用离线写作器",
    ),
    Option(
        "lang",
        "GSF_LANG",
        str,
        "zh",
        choices=("zh", "en"),
        help="language of the story and the screens",
        help_zh="故事和界面的语言",
    ),
    Option(
        "max_depth",
        "GSF_MAX_DEPTH",
        int,
        20,
        2,
        200,
        help="deepest level of a tree; nodes there are endings",
        help_zh="树的最大深度；这一层的节点都是结局",
    ),
    Option(
        "branching",
        "GSF_BRANCHING",
        int,
        3,
        2,
        5,
        help="most choices per node",
        help_zh="每个节点最多几个选项",
    ),
    Option(
        "max_nodes",
        "GSF_MAX_NODES",
        int,
        300,
        5,
        100_000,
        help="node budget per character",
        help_zh="每个角色的节点预算",
    ),
    Option(
        "concurrency",
        "GSF_CONCURRENCY",
        int,
        8,
        1,
        256,
        help="writer calls in flight at once",
        help_zh="同时进行的写作器调用数",
    ),
    Option(
        "checkpoint_every",
        "GSF_CHECKPOINT_EVERY",
        int,
        50,
        1,
        1_000_000,
        help="save the tree checkpoint after this many new nodes",
        help_zh="每写出这么多个新节点，保存一次树的检查点",
    ),
    Option(
        "checkpoint_dir",
        "GSF_CHECKPOINT_DIR",
        str,
        "checkpoints",
        help="folder of checkpoint files",
        help_zh="检查点文件所在的文件夹",
    ),
    Option("db", "GSF_DB", str, "ghost_stories.db", help="SQLite story library", help_zh="SQLite 故事库"),
    Option(
        "provider",
        "GSF_PROVIDER",
        str,
        None,
        choices=PROVIDERS,
        help="preset for an OpenAI-compatible service: base URL, model, JSON mode, prices",
        help_zh="OpenAI 兼容服务的预设：base URL、模型、JSON 模式、价格",
    ),
    Option(
        "base_url",
        "GSF_BASE_URL",
        str,
        None,
        help="API base URL (overrides the preset and OPENAI_BASE_URL)",
        help_zh="API 的 base URL（优先于预设和 OPENAI_BASE_URL）",
    ),
    Option(
        "model",
        "GSF_MODEL",
        str,
        None,
        help="model name (default: the preset's, else gpt-4o-mini)",
        help_zh="模型名（默认：预设的模型，否则 gpt-4o-mini）",
    ),
    Option(
        "json_mode",
        "GSF_JSON_MODE",
        str,
        "auto",
        choices=("auto", "schema", "object", "text"),
        help="auto = negotiate (json_schema, then json_object, then text); or force one",
        help_zh="auto = 协商（先 json_schema，再 json_object，再纯文本）；或强制其中一种",
    ),
    Option(
        "max_output_tokens",
        "GSF_MAX_OUTPUT_TOKENS",
        str,
        None,
        help='output cap per call: N for all, or "node=4096,plan=8192,documents=8192"; 0 = send none',
        help_zh='每次调用的输出上限：一个数 N 用于所有调用，或 "node=4096,plan=8192,documents=8192"；0 = 不发送上限',
    ),
    Option(
        "extra_body",
        "GSF_EXTRA_BODY",
        str,
        None,
        help="JSON object merged into every request body",
        help_zh="合并进每个请求体的 JSON 对象",
    ),
    Option(
        "context_tokens",
        "GSF_CONTEXT_TOKENS",
        int,
        None,
        256,
        10**8,
        help="the server's context size: a prompt that cannot fit is refused before any call",
        help_zh="服务器的上下文大小：放不下的提示在任何调用之前就被拒绝",
    ),
    Option(
        "timeout",
        "GSF_TIMEOUT",
        float,
        None,
        1,
        3600,
        help="seconds per API request (default 120; 600 for a local --provider, whose models are slower)",
        help_zh="每个 API 请求的秒数（默认 120；本地 --provider 为 600，因为本地模型较慢）",
    ),
    Option(
        "max_attempts",
        "GSF_MAX_ATTEMPTS",
        int,
        6,
        1,
        50,
        help="tries per API request on network errors",
        help_zh="网络出错时每个 API 请求的尝试次数",
    ),
    Option(
        "backoff_max",
        "GSF_BACKOFF_MAX",
        float,
        60.0,
        0.01,
        3600,
        help="longest pause between API retries, seconds",
        help_zh="两次 API 重试之间最长的等待，秒",
    ),
    Option(
        "attempts",
        "GSF_ATTEMPTS",
        int,
        3,
        1,
        10,
        help="tries per call when a reply fails validation",
        help_zh="回复未通过校验时每次调用的尝试次数",
    ),
    Option(
        "budget_usd",
        "GSF_BUDGET_USD",
        float,
        None,
        0,
        1e9,
        help="stop when the run has cost this much",
        help_zh="本次运行花费达到这么多美元时停止",
    ),
    Option(
        "max_tokens",
        "GSF_MAX_TOKENS",
        int,
        None,
        1,
        10**12,
        help="stop when the run has used this many tokens",
        help_zh="本次运行用掉这么多词元时停止",
    ),
    Option(
        "price",
        "GSF_PRICE",
        str,
        None,
        help='USD per 1M tokens "input,cached,output" (overrides the table)',
        help_zh='每 100 万词元的美元价 "输入,缓存,输出"（优先于内置价格表）',
    ),
    Option(
        "offline_latency_ms",
        "GSF_OFFLINE_LATENCY_MS",
        float,
        0.0,
        0,
        600_000,
        help="simulated latency per offline-writer call",
        help_zh="离线写作器每次调用的模拟延迟，毫秒",
    ),
    Option(
        "offline_jitter",
        "GSF_OFFLINE_JITTER",
        float,
        0.0,
        0,
        1,
        help="latency jitter, a fraction",
        help_zh="延迟的抖动，一个比例",
    ),
    Option(
        "progress_every",
        "GSF_PROGRESS_EVERY",
        float,
        10.0,
        0.5,
        3600,
        help="seconds between progress lines when the output is not a terminal",
        help_zh="输出不是终端时，两行进度之间的秒数",
    ),
    Option(
        "batch",
        "GSF_BATCH",
        bool,
        False,
        help="send node and plan calls through the provider's Batch API, at half price, answered within 24 h",
        help_zh="节点和规划调用经服务商的 Batch API 发送：半价，24 小时内答复",
    ),
    Option(
        "batch_poll_seconds",
        "GSF_BATCH_POLL_SECONDS",
        float,
        30.0,
        0.01,
        86_400,
        help="seconds between polls of a pending batch",
        help_zh="两次查询待处理批次之间的秒数",
    ),
    Option(
        "detach",
        "GSF_DETACH",
        bool,
        False,
        help="with --batch: submit the next wave, save, and exit 0; rerun to collect it",
        help_zh="配合 --batch：提交下一波请求，保存后以 0 退出；重新运行即可取回",
    ),
    Option(
        "grace_seconds",
        "GSF_GRACE_SECONDS",
        float,
        5.0,
        0,
        600,
        help="on Ctrl+C, how long calls in flight may finish",
        help_zh="按 Ctrl+C 后，进行中的调用还能完成多久，秒",
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


def _convert(option: Option, raw: Any, source: str, lang: str = "en") -> Any:
    if raw is None:
        return None
    if option.kind is bool:
        if isinstance(raw, bool):
            return raw
        word = str(raw).strip().lower()
        if word not in _TRUE + _FALSE:
            raise InputError(
                message(
                    lang,
                    "not_bool",
                    source=source,
                    raw=repr(raw),
                    choices=message(lang, "sep").join(_TRUE + _FALSE),
                )
            )
        return word in _TRUE
    if option.kind is str:
        value = str(raw).strip()
        if option.choices and value not in option.choices:
            raise InputError(_unknown_choice(option, value, source, lang))
        if not value:
            raise InputError(message(lang, "empty", source=source))
        return value
    try:
        value = option.kind(str(raw).strip())
    except ValueError:
        raise InputError(message(lang, "not_number", source=source, raw=repr(raw))) from None
    if value != value or value in (float("inf"), float("-inf")):  # NaN and infinities
        raise InputError(message(lang, "not_finite", source=source, raw=repr(raw)))
    if (option.low is not None and value < option.low) or (option.high is not None and value > option.high):
        raise InputError(
            message(
                lang, "out_of_range", source=source, raw=raw, low=_limit(option.low), high=_limit(option.high)
            )
        )
    return value


def _unknown_choice(option: Option, value: str, source: str, lang: str) -> str:
    choices = message(lang, "sep").join(option.choices)
    return message(lang, "unknown_choice", source=source, value=repr(value), choices=choices)


def _limit(value: float | None) -> str:
    """A limit as a writer reads it: 1000000, not 1e+06."""
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def load_settings(flags: Mapping[str, Any], env: Mapping[str, str]) -> Settings:
    """Settings from flags (None = not given), then env, then defaults; raises InputError in the run's
    language (the language is read first, and a bad one is told in zh and en)."""
    values: dict[str, Any] = {"lang": _language(flags, env)}
    lang = values["lang"]
    for option in OPTIONS:
        if option.name in values:
            continue
        source, raw = _given(option, flags, env)
        values[option.name] = option.default if source is None else _convert(option, raw, source, lang)
    values["checkpoint_dir"] = Path(values["checkpoint_dir"])
    values["db"] = Path(values["db"])
    parse_output_caps(values["max_output_tokens"], lang)  # checked here, so a bad value writes nothing
    parse_extra_body(values["extra_body"], lang)
    return Settings(**values)


def _given(option: Option, flags: Mapping[str, Any], env: Mapping[str, str]) -> tuple[str | None, Any]:
    """Where a setting's value comes from (its flag, its variable, or None for the default) and the value."""
    flag = flags.get(option.name)
    if flag is not None:
        return "--" + option.name.replace("_", "-"), flag
    if env.get(option.env, "").strip():
        return option.env, env[option.env]
    return None, option.default


def _language(flags: Mapping[str, Any], env: Mapping[str, str]) -> str:
    """The run's language; a bad one cannot choose the language of its own refusal, so both are said."""
    option = next(option for option in OPTIONS if option.name == "lang")
    source, raw = _given(option, flags, env)
    if source is None:
        return str(option.default)
    value = str(raw).strip()
    if value not in option.choices:
        both = (_unknown_choice(option, value, source, lang) for lang in ("zh", "en"))
        raise InputError(" / ".join(both))
    return value


def parse_output_caps(raw: str | None, lang: str = "en") -> dict[str, int] | int | None:
    """``--max-output-tokens``: a number for every call kind, or ``kind=N`` pairs; None = defaults."""
    if raw is None:
        return None
    text = raw.strip()
    if text.isdigit():
        return _cap(int(text), text, lang)
    caps: dict[str, int] = {}
    for part in text.split(","):
        kind, sep, number = part.partition("=")
        kind, number = kind.strip(), number.strip()
        if not sep or kind not in CALL_KINDS or not number.isdigit():
            raise InputError(
                message(lang, "caps_bad", kinds=message(lang, "sep").join(CALL_KINDS), raw=repr(raw))
            )
        caps[kind] = _cap(int(number), raw, lang)
    return caps


def _cap(value: int, raw: str, lang: str) -> int:
    if value > 10**7:
        raise InputError(message(lang, "caps_range", raw=raw))
    return value


def parse_extra_body(raw: str | None, lang: str = "en") -> dict[str, Any] | None:
    """``--extra-body``: a JSON object merged into every request (provider switches)."""
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InputError(message(lang, "json_bad", reason=exc.msg, pos=exc.pos, at=exc.pos + 1)) from None
    if not isinstance(value, dict):
        raise InputError(message(lang, "json_not_object"))
    reserved = sorted(set(value) & {"model", "messages", "response_format", "stream"})
    if reserved:
        raise InputError(message(lang, "json_reserved", keys=", ".join(reserved)))
    return value


def check_name(raw: str, what: str, lang: str = "en") -> str:
    """A city or character name as stored: NFC, trimmed; raises InputError for unusable names.

    Any Unicode letters and emoji are fine; separators, ``..``, control characters and names
    over 200 characters are not, since names become parts of file names. ``what`` is ``"city"`` or
    ``"character"``.
    """
    what = MESSAGES["zh" if lang == "zh" else "en"].get(what, what)
    name = unicodedata.normalize("NFC", raw).strip()
    if not any(unicodedata.category(ch)[0] in "LNPS" for ch in name):  # only spaces or invisible marks
        raise InputError(message(lang, "name_empty", what=what))
    if len(name) > MAX_NAME_LENGTH:
        raise InputError(message(lang, "name_long", what=what, most=MAX_NAME_LENGTH))
    if "/" in name or "\\" in name:
        raise InputError(message(lang, "name_separator", what=what, name=repr(name[:40])))
    if ".." in name:
        raise InputError(message(lang, "name_dots", what=what, name=repr(name[:40])))
    if any(unicodedata.category(ch) in ("Cc", "Cs") or ch in "\u2028\u2029" for ch in name):
        raise InputError(message(lang, "name_control", what=what, name=repr(name[:40])))
    return name


def parse_characters(raw: str | None, lang: str = "en") -> tuple[tuple[str, str], ...]:
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
        characters.append((check_name(name, "character", lang), _check_role(role, lang)))
    names = [name for name, _ in characters]
    if len(set(names)) != len(names):
        raise InputError(message(lang, "named_twice"))
    if len(names) > MAX_CHARACTERS:
        raise InputError(message(lang, "too_many", most=MAX_CHARACTERS))
    return tuple(characters)


def _check_role(raw: str, lang: str) -> str:
    role = " ".join(unicodedata.normalize("NFC", raw).split())
    if len(role) > MAX_ROLE_LENGTH:
        raise InputError(message(lang, "role_long", most=MAX_ROLE_LENGTH))
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Cf") for ch in role):
        raise InputError(message(lang, "role_control", role=repr(role[:40])))
    return role
