"""Turns token usage into US dollars: a small table of model list prices and a parser for overrides.

The prices are list prices per 1M tokens as published by each provider at the time of writing
(USD, standard tier, no batch discount). Providers change them; a run that must be exact should
pass its own price (``parse_price`` reads the "input,cached,output" setting).
"""

from __future__ import annotations

import math
import re

from .base import Usage

DEFAULT_MODEL = "gpt-4o-mini"

# model -> (input, cached input, output) in USD per 1M tokens. List prices at time of writing; they may change.
PRICES: dict[str, tuple[float, float, float]] = {
    # OpenAI
    "gpt-4o-mini": (0.15, 0.075, 0.60),
    "gpt-4o": (2.50, 1.25, 10.00),
    "gpt-4.1": (2.00, 0.50, 8.00),
    "gpt-4.1-mini": (0.40, 0.10, 1.60),
    "gpt-4.1-nano": (0.10, 0.025, 0.40),
    "gpt-5": (1.25, 0.125, 10.00),
    "gpt-5-mini": (0.25, 0.025, 2.00),
    "gpt-5-nano": (0.05, 0.005, 0.40),
    "o4-mini": (1.10, 0.275, 4.40),
    # DeepSeek (cache hit / cache miss pricing of the V3.x chat models)
    "deepseek-chat": (0.28, 0.028, 0.42),
    "deepseek-reasoner": (0.28, 0.028, 0.42),
    # Moonshot
    "kimi-k2": (0.60, 0.15, 2.50),
    "moonshot-v1-8k": (0.20, 0.20, 2.00),
    # Alibaba Model Studio (international)
    "qwen-turbo": (0.05, 0.01, 0.20),
    "qwen-plus": (0.40, 0.08, 1.20),
    "qwen-max": (1.60, 0.32, 6.40),
}

# What may follow a known name and still be the same priced model: dated snapshots and release tags
# ("gpt-4o-mini-2024-07-18", "kimi-k2-0905-preview"). Anything else ("gpt-4o-audio-preview") is a
# different product with a different price, so it stays unknown rather than priced wrongly.
_SNAPSHOT = re.compile(r"(?:-(?:\d{4}-\d{2}-\d{2}|\d{8}|\d{4}|latest|preview))*")


def price_of(model: str) -> tuple[float, float, float] | None:
    """The table's prices for a model name, allowing a provider prefix and a snapshot suffix."""
    name = model.strip().lower()
    if "/" in name:  # "openai/gpt-4o-mini", "moonshotai/kimi-k2" (routers prefix the provider)
        name = name.rsplit("/", 1)[1]
    if name in PRICES:
        return PRICES[name]
    # Longest known prefix first so "gpt-4o-mini-…" is not priced as "gpt-4o".
    for known in sorted(PRICES, key=len, reverse=True):
        if name.startswith(known) and _SNAPSHOT.fullmatch(name[len(known) :]):
            return PRICES[known]
    return None


def cost_usd(model: str, usage: Usage, override: tuple[float, float, float] | None = None) -> float | None:
    """USD for ``usage``; cached prompt tokens at the cached rate. None when the price is unknown."""
    prices = override if override is not None else price_of(model)
    if prices is None:
        return None
    input_rate, cached_rate, output_rate = prices
    cached = min(max(usage.cached, 0), max(usage.prompt, 0))
    uncached = max(usage.prompt, 0) - cached
    return (uncached * input_rate + cached * cached_rate + max(usage.completion, 0) * output_rate) / 1_000_000


def parse_price(text: str) -> tuple[float, float, float]:
    """Read "input,cached,output" USD per 1M tokens, e.g. "0.15,0.075,0.60"."""
    example = 'expected three numbers in USD per 1M tokens, "input,cached,output" (e.g. "0.15,0.075,0.60")'
    parts = [part.strip().lstrip("$") for part in text.split(",")]
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"{example}; got {text!r}")
    try:
        values = tuple(float(part) for part in parts)
    except ValueError:
        raise ValueError(f"{example}; got {text!r}") from None
    if not all(math.isfinite(value) and value >= 0 for value in values):
        raise ValueError(f"prices must be finite and not negative; got {text!r}")
    return values[0], values[1], values[2]
