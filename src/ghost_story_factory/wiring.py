"""Builds the writer and its price from the command line's settings: the one place writers meet config."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .config import Settings, parse_extra_body, parse_output_caps
from .errors import InputError
from .writers.base import Usage, Writer

TIMEOUT_S = 120.0  # seconds per request to a hosted API
LOCAL_TIMEOUT_S = 600.0  # a model on one's own machine writes a plan far more slowly
LOCAL_KEY = "not-needed"  # what a local server gets as a key: the SDK wants one, the server ignores it

# What a setting that cannot work with the others is told with, in the run's language.
MESSAGES: dict[str, dict[str, str]] = {
    "zh": {
        "detach": "--detach 需要 --batch：只有批处理才能留给服务商慢慢处理",
        "batch_offline": "--batch 需要 openai 后端（API 密钥、--provider 或 --base-url）：离线写作器没有批处理价格",
        "needs_model": "--provider {name} 需要 --model：服务器提供的模型名（GET {url}/models）",
        "needs_key": "openai 后端需要 API 密钥，放在 {names} 中（或者用 --backend offline，或 ollama 这样的本地 --provider）",
        "or": " 或 ",
        "price": '--price：{raw} 无效：应为三个不小于 0 的数，即每 100 万词元的美元价 "输入,缓存,输出"'
        '（例如 "0.15,0.075,0.60"）',
    },
    "en": {
        "detach": "--detach needs --batch: only a batch can be left with the provider",
        "batch_offline": "--batch needs the openai backend (an API key, --provider or --base-url): "
        "the offline writer has no batch price",
        "needs_model": "--provider {name} needs --model: the name the server serves (GET {url}/models)",
        "needs_key": "the openai backend needs an API key in {names} "
        "(or use --backend offline, or a local --provider such as ollama)",
        "or": " or ",
        "price": "--price: {reason}",
    },
}


def _say(settings: Settings, key: str, /, **values: Any) -> str:
    return MESSAGES["zh" if settings.lang == "zh" else "en"][key].format(**values)


def choose_backend(settings: Settings, env: Mapping[str, str]) -> str:
    """``auto`` means openai when an API key, a provider or a base URL is given, else the offline writer."""
    if settings.backend != "auto":
        return settings.backend
    if settings.provider or settings.base_url or api_key(settings, env):
        return "openai"
    return "offline"


def api_key(settings: Settings, env: Mapping[str, str]) -> str | None:
    """The key from OPENAI_API_KEY, else the preset's own variable (DEEPSEEK_API_KEY, …)."""
    from .writers.providers import preset

    chosen = preset(settings.provider)
    names = ["OPENAI_API_KEY", *(chosen.key_env if chosen else ())]
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return value
    return None


def make_writer(
    settings: Settings,
    env: Mapping[str, str],
    *,
    on_event: Callable[..., None] | None = None,
    negotiated_mode: str | None = None,
    refused_keywords: tuple[str, ...] = (),
) -> Writer:
    """The writer the settings ask for. ``negotiated_mode`` and ``refused_keywords`` come from a checkpoint."""
    backend = choose_backend(settings, env)
    if settings.detach and not settings.batch:
        raise InputError(_say(settings, "detach"))
    if settings.batch and backend == "offline":
        raise InputError(_say(settings, "batch_offline"))
    if backend == "offline":
        from .writers.offline import OfflineWriter

        return OfflineWriter(latency_ms=settings.offline_latency_ms, jitter=settings.offline_jitter)
    from .writers.openai_writer import OpenAIWriter
    from .writers.providers import preset

    chosen = preset(settings.provider)
    if chosen is not None and chosen.model is None and not settings.model:
        raise InputError(_say(settings, "needs_model", name=chosen.name, url=chosen.base_url))
    key = api_key(settings, env)
    if key is None:
        if chosen is None or not chosen.local:
            names = ["OPENAI_API_KEY", *(chosen.key_env if chosen else ())]
            raise InputError(_say(settings, "needs_key", names=_say(settings, "or").join(names)))
        key = LOCAL_KEY
    else:
        from .writers._secrets import check_key, register

        key = check_key(key, settings.lang)  # one line before any request, never a traceback
        register(key)  # from now on no form of it passes text.clean_text: replies, re-asks, the screen
    base_url = (
        settings.base_url or (chosen.base_url if chosen else None) or env.get("OPENAI_BASE_URL") or None
    )
    writer_class: type[OpenAIWriter] = OpenAIWriter
    extra: dict[str, Any] = {}
    if settings.batch:
        from .writers.batch import BatchWriter

        writer_class = BatchWriter
        extra = {"poll_seconds": settings.batch_poll_seconds, "detach": settings.detach}
    return writer_class(
        settings.model,
        api_key=key,
        base_url=base_url,
        provider=chosen,
        json_mode=settings.json_mode,  # type: ignore[arg-type]
        timeout_s=settings.timeout or (LOCAL_TIMEOUT_S if chosen is not None and chosen.local else TIMEOUT_S),
        max_attempts=settings.max_attempts,
        max_concurrency=settings.concurrency,
        backoff_max_s=settings.backoff_max,
        output_caps=parse_output_caps(settings.max_output_tokens, settings.lang),
        extra_body=parse_extra_body(settings.extra_body, settings.lang),
        context_tokens=settings.context_tokens,
        negotiated_mode=negotiated_mode,
        refused_keywords=refused_keywords,
        on_event=on_event,
        **extra,
    )


def price_function(settings: Settings, writer: Writer) -> Callable[[Usage], float | None]:
    """USD for a usage with this writer: 0 offline or local, else reported, --price or the table."""
    if writer.name == "offline":
        return lambda _usage: 0.0
    from .writers.pricing import CostMeter, parse_price

    try:
        override = parse_price(settings.price) if settings.price else None
    except ValueError as exc:
        raise InputError(_say(settings, "price", reason=exc, raw=repr(settings.price))) from None
    preset: Any = getattr(writer, "preset", None)
    meter = CostMeter(writer.model, override, free=bool(preset and preset.local and override is None))
    if hasattr(writer, "on_usage"):
        writer.on_usage = meter.note
    if hasattr(writer, "batch_usage"):  # batch mode: those tokens cost the batch price
        meter.batched = lambda: writer.batch_usage
    return meter


def price_known(settings: Settings, writer: Writer, cost: Callable[[Usage], float | None]) -> bool:
    """Whether a budget in USD can be enforced: a price is known, or the provider reports costs."""
    if writer.name == "offline":
        return True
    preset: Any = getattr(writer, "preset", None)
    if preset is not None and preset.reports_cost:
        return True
    return bool(getattr(cost, "known", cost(Usage(1, 1, 0)) is not None))
