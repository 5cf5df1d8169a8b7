"""Writers turn generation requests into validated JSON; this picks and builds the one to use."""

from __future__ import annotations

from collections.abc import Mapping

from ..config import Settings
from ..errors import InputError
from .base import Usage, Writer


def choose_backend(settings: Settings, env: Mapping[str, str]) -> str:
    """``auto`` means openai when an API key is set, else the offline writer."""
    if settings.backend != "auto":
        return settings.backend
    return "openai" if env.get("OPENAI_API_KEY", "").strip() else "offline"


def make_writer(settings: Settings, env: Mapping[str, str]) -> Writer:
    backend = choose_backend(settings, env)
    if backend == "offline":
        from .offline import OfflineWriter

        return OfflineWriter(latency_ms=settings.offline_latency_ms, jitter=settings.offline_jitter)
    if not env.get("OPENAI_API_KEY", "").strip():
        raise InputError("the openai backend needs OPENAI_API_KEY (or use --backend offline)")
    from .openai_writer import OpenAIWriter

    return OpenAIWriter(
        settings.model,
        json_mode=settings.json_mode,  # type: ignore[arg-type]
        timeout_s=settings.timeout,
        max_attempts=settings.max_attempts,
        max_concurrency=settings.concurrency,
        backoff_max_s=settings.backoff_max,
    )


def price_function(settings: Settings, writer: Writer):  # noqa: ANN201 - a Budget cost function
    """USD for a usage with this writer: 0 offline, the price table or GSF_PRICE otherwise."""
    if writer.name == "offline":
        return lambda _usage: 0.0
    from .pricing import cost_usd, parse_price

    try:
        override = parse_price(settings.price) if settings.price else None
    except ValueError as exc:
        raise InputError(f"--price: {exc}") from None

    def cost(usage: Usage) -> float | None:
        return cost_usd(writer.model, usage, override)

    return cost
