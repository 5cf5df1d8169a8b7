"""Turns token usage into US dollars: a dated table of list prices and a parser for overrides.

Prices are USD per 1M tokens, standard tier, no off-peak discount. Tokens answered through a provider
batch (``generate --batch``) cost :data:`BATCH_SHARE` of those rates (OpenAI, Qwen and GLM document
50% off), unless an entry gives its own ``batch`` rates. Each entry says where
it came from and when. Providers change prices: a run that must be exact should pass its own
(``--price "input,cached,output"``). A model the table does not know has an unknown price, which
is shown as unknown and never counted as 0; a budget in USD then needs ``--price``.

When the provider reports the cost of each call (OpenRouter's ``usage.cost``), that figure is used
instead of the table (see :class:`CostMeter`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from .base import Usage

DEFAULT_MODEL = "gpt-4o-mini"
BATCH_SHARE = 0.5  # what a batch line costs of the standard price (OpenAI Batch API: 50% off)
TABLE_DATE = "2026-12"  # when the table below was last checked as a whole


@dataclass(frozen=True)
class Price:
    """USD per 1M tokens: uncached input, cached input (cache hits), output, and cache writes."""

    input: float
    cached: float
    output: float
    cache_write: float | None = None  # None: not billed separately (or not documented)
    source: str = ""
    batch: tuple[float, float, float] | None = None  # None: BATCH_SHARE of the three rates above

    def as_tuple(self) -> tuple[float, float, float]:
        return self.input, self.cached, self.output


# Where each entry comes from, and when it was read (all read through stored copies of the pages).
_OPENAI = "OpenAI pricing page, as quoted by the openai-models / openai-cost crates (2026-Q2)"
_OPENAI_OLD = "OpenAI pricing page as of the previous table (2025); not re-checked"
_DEEPSEEK = (
    "DeepSeek V3.2 list price, as quoted by Roo-Code's provider table (updated 2025-12-09) and Bifrost"
)
_MOONSHOT = "Moonshot published pay-as-you-go rates, as quoted by the OpenClaw provider docs (2026)"
_MOONSHOT_K3 = "Kimi K3 launch pricing, as reported by Apidog's guide (2026-07)"
_GLM = "Z.ai rates as listed on the Vercel AI Gateway provider page (2026)"
_QWEN = "Alibaba Model Studio international price of the previous table (2025); not re-checked"

PRICES: dict[str, Price] = {
    # OpenAI
    "gpt-4o-mini": Price(0.15, 0.075, 0.60, source=_OPENAI),
    "gpt-4o": Price(2.50, 1.25, 10.00, source=_OPENAI),
    "gpt-4.1": Price(2.00, 0.50, 8.00, source=_OPENAI_OLD),
    "gpt-4.1-mini": Price(0.40, 0.10, 1.60, source=_OPENAI_OLD),
    "gpt-4.1-nano": Price(0.10, 0.025, 0.40, source=_OPENAI_OLD),
    "gpt-5": Price(1.25, 0.125, 10.00, source=_OPENAI),
    "gpt-5-mini": Price(0.25, 0.025, 2.00, source=_OPENAI_OLD),
    "gpt-5-nano": Price(0.05, 0.005, 0.40, source=_OPENAI_OLD),
    "o4-mini": Price(1.10, 0.275, 4.40, source=_OPENAI_OLD),
    # DeepSeek: cache hit / cache miss; no separate cache-write charge (a miss is the write).
    "deepseek-chat": Price(0.28, 0.028, 0.42, source=_DEEPSEEK),
    "deepseek-reasoner": Price(0.28, 0.028, 0.42, source=_DEEPSEEK),
    # Moonshot / Kimi
    "kimi-k2.6": Price(0.95, 0.16, 4.00, source=_MOONSHOT),
    "kimi-k2.5": Price(0.60, 0.10, 3.00, source=_MOONSHOT),
    "kimi-k3": Price(3.00, 0.30, 15.00, source=_MOONSHOT_K3),
    # Zhipu / Z.ai GLM
    "glm-4.5-air": Price(0.20, 0.03, 1.10, source=_GLM),
    "glm-4.6": Price(0.60, 0.11, 2.20, source=_GLM),
    # Alibaba Model Studio (international)
    "qwen-turbo": Price(0.05, 0.01, 0.20, source=_QWEN),
    "qwen-plus": Price(0.40, 0.08, 1.20, source=_QWEN),
    "qwen-max": Price(1.60, 0.32, 6.40, source=_QWEN),
}

# What may follow a known name and still be the same priced model: dated snapshots and release tags
# ("gpt-4o-mini-2024-07-18", "kimi-k2-0905-preview"). Anything else ("gpt-4o-audio-preview") is a
# different product with a different price, so it stays unknown rather than priced wrongly.
_SNAPSHOT = re.compile(r"(?:-(?:\d{4}-\d{2}-\d{2}|\d{8}|\d{4}|latest|preview))*")


def lookup(model: str) -> Price | None:
    """The table's entry for a model name, allowing a provider prefix and a snapshot suffix."""
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


def price_of(model: str) -> tuple[float, float, float] | None:
    """(input, cached, output) for a model, or None when the table does not know it."""
    found = lookup(model)
    return found.as_tuple() if found else None


def batch_price_of(
    model: str, override: tuple[float, float, float] | None = None
) -> tuple[float, float, float] | None:
    """(input, cached, output) for batch lines: the table's own batch rates, else half the standard ones.

    A ``--price`` override is the user's standard price, so batch lines get half of it too."""
    found = lookup(model)
    if override is None and found is not None and found.batch is not None:
        return found.batch
    base = override if override is not None else (found.as_tuple() if found else None)
    if base is None:
        return None
    return base[0] * BATCH_SHARE, base[1] * BATCH_SHARE, base[2] * BATCH_SHARE


def split_batched(usage: Usage, batched: Usage) -> tuple[Usage, Usage]:
    """``usage`` as (live part, batch part): the batch part is ``batched``, capped at ``usage``."""
    part = Usage(min(batched.prompt, usage.prompt), min(batched.completion, usage.completion), 0)
    part.cached = min(batched.cached, usage.cached, part.prompt)
    live = Usage(usage.prompt - part.prompt, usage.completion - part.completion, usage.cached - part.cached)
    live.cached = min(live.cached, live.prompt)
    return live, part


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


class CostMeter:
    """The cost of a run's usage: reported by the provider when it does, else priced.

    ``reported`` is the USD the provider stated for the replies of this process and ``covered``
    their tokens. A usage that is exactly what this process saw costs exactly what was reported;
    another usage (replies committed so far, or a resumed run with earlier tokens) is charged at
    this run's observed USD per token, so the figure stays tied to the provider's own numbers.
    """

    def __init__(self, model: str, override: tuple[float, float, float] | None = None, free: bool = False):
        self.model = model
        self.override = override
        self.free = free
        self.reported = 0.0
        self.covered = Usage()
        self.unreported = Usage()  # replies of this process that carried no cost
        # Tokens of the run answered through provider batches (batch mode), priced at the batch rate.
        self.batched: Callable[[], Usage] | None = None

    def note(self, usage: Usage, reported: float | None) -> None:
        if reported is None:
            self.unreported.add(usage)
        else:
            self.reported += reported
            self.covered.add(usage)

    def batch_cost(self, usage: Usage) -> float | None:
        """USD for tokens answered through batches, at the batch price (None when unknown)."""
        if self.free:
            return 0.0
        rates = batch_price_of(self.model, self.override)
        return None if rates is None else cost_usd(self.model, usage, rates)

    @property
    def known(self) -> bool:
        return self.free or self.override is not None or price_of(self.model) is not None

    def __call__(self, usage: Usage) -> float | None:
        if self.free:
            return 0.0
        batched = self.batched() if self.batched is not None else Usage()
        if batched.total and not self.covered.total:
            live, part = split_batched(usage, batched)
            full = cost_usd(self.model, live, self.override)
            rates = batch_price_of(self.model, self.override)
            cheap = cost_usd(self.model, part, rates) if rates is not None else None
            return None if full is None or cheap is None else full + cheap
        if self.override is not None:
            return cost_usd(self.model, usage, self.override)
        if self.covered.total > 0:  # the provider states its costs: use them, not the table
            if usage.total == self.covered.total and not self.unreported.total:
                return self.reported
            return self.reported * usage.total / self.covered.total
        return cost_usd(self.model, usage)
