"""The real writer: sends requests to an OpenAI-compatible Chat Completions API, with retries and pacing.

It only transports: :func:`~.base.ask` validates replies and asks again. This module owns what
happens on the wire: one retry layer (tenacity, the SDK's own retries are off), errors turned into
:class:`WriterUnavailable` (rerun later) or :class:`WriterRejected` (fix the settings), token
usage of every billed reply, and an adaptive pacer that keeps a long run under the provider's
rate limit. The API key never appears in an error message, a repr or a log line.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import openai
import orjson
from openai.types.chat import ChatCompletion
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_random_exponential

from ..errors import WriterError, WriterRejected, WriterUnavailable
from .base import Reply, Request, Retry, Usage
from .schemas import wire_schema

log = logging.getLogger(__name__)

JsonMode = Literal["schema", "object"]
MAX_WAIT_S = 600.0  # a server asking for a longer pause (daily quota) ends the run: rerun later
_RATE_WINDOW_S = 60.0  # providers state limits per minute; successes are remembered this long
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_KEYLIKE = re.compile(r"\b(sk|pk|api|key)([-_])[A-Za-z0-9_\-*.]{8,}")
_BEARER = re.compile(r"(?i)\b(bearer)\s+\S+")


# -- header parsing -----------------------------------------------------------------------------------


def parse_duration(text: str | None) -> float | None:
    """Seconds in a rate-limit reset header: "1s", "6m0s", "250ms", "1.5s", or a bare number of seconds."""
    if text is None:
        return None
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        return value if math.isfinite(value) and value >= 0 else None
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        return None
    return sum(float(number) * _UNIT_S[unit] for number, unit in parts)


def _retry_after(headers: Mapping[str, str], now: float) -> float | None:
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            value = float(ms) / 1000
            if math.isfinite(value) and value >= 0:
                return value
        except ValueError:
            pass
    after = headers.get("retry-after")
    if after is None:
        return None
    try:
        value = float(after)
        return value if math.isfinite(value) and value >= 0 else None
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(after).timestamp() - now, 0.0)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def retry_hint(headers: Mapping[str, str] | Any, now: float | None = None) -> float | None:
    """How long a 429 asks us to wait, in seconds; None when it does not say.

    Takes the longest of Retry-After (seconds or an HTTP date; ``retry-after-ms`` is the same
    signal, more precise, and wins over it) and the ``x-ratelimit-reset-*`` of each limit that is
    exhausted (remaining 0, or remaining not sent). ``now`` is wall-clock time, for HTTP dates.
    """
    lowered = {str(name).lower(): str(value) for name, value in dict(headers).items()}
    now = time.time() if now is None else now
    hints: list[float] = []
    after = _retry_after(lowered, now)
    if after is not None:
        hints.append(after)
    for limit in ("requests", "tokens"):
        reset = parse_duration(lowered.get(f"x-ratelimit-reset-{limit}"))
        if reset is None:
            continue
        remaining = _number(lowered.get(f"x-ratelimit-remaining-{limit}"))
        if remaining is None or remaining < 1:  # a limit with room left is not why we were refused
            hints.append(reset)
    return max(hints) if hints else None


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


# -- pacing -------------------------------------------------------------------------------------------


@dataclass
class _Budget:
    """What a provider's x-ratelimit headers said was left, as of one request's admission."""

    remaining: float
    reset_at: float  # monotonic time the limit is whole again
    start_index: int  # the pacer's start count when the reporting request was sent


@dataclass(frozen=True)
class Ticket:
    """One admitted request: its position in the start order and its start time."""

    index: int
    started: float


class AdaptivePacer:
    """Bounds requests in flight and spaces their starts so a long run stays under the rate limit.

    Three mechanisms, each for a kind of provider:

    * Concurrency, AIMD: starts at ``max_concurrency``, halves on a 429 (once per burst: 429s of
      requests already in flight when we halved are the same congestion), grows by 1 after as many
      successes as the current limit, up to ``max_concurrency``.
    * A shared hold (``not_before``): a 429's Retry-After or reset time stops every new request
      until then, and so does a success whose x-ratelimit-remaining-* says the budget is spent.
    * Without rate-limit headers, a start interval learned from 429s. Far above the limit, the rate
      the server let through between two 429s (up to the moment it said to come back) is its
      limit; near it, the pace backs off by 10%. Successes shorten the interval again, slowly
      right after a 429 and faster the longer none comes, so the pace keeps probing upwards.
    """

    def __init__(
        self,
        max_concurrency: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        backoff: float = 0.9,
        creep: float = 5_000.0,
    ) -> None:
        self.max_limit = max(1, int(max_concurrency))
        self.limit = self.max_limit
        self.in_flight = 0
        self.not_before = 0.0  # monotonic time before which nothing new starts
        self.interval = 0.0  # seconds between starts; 0 = unpaced
        self.starts = 0
        self.successes = 0
        self.rate_limited = 0
        self._clock = clock
        self._backoff = backoff
        self._creep = creep
        self._next_start = 0.0
        self._since_increase = 0
        self._last_cut = -math.inf  # when we last slowed down for a 429
        self._last_slot = -math.inf  # when that 429 said the server would take requests again
        self._ok_since_cut = 0  # successes of requests started after the last slow-down
        self._ok_starts: collections.deque[float] = collections.deque()
        self._budgets: dict[str, _Budget] = {}
        self._headers_seen = False
        self._tokens_per_call = 0.0  # running mean of billed tokens per reply, for token budgets
        # Created here, bound to the running loop on first use (Python >= 3.10).
        self._gate = asyncio.Lock()  # FIFO: one waiter at a time waits for its turn, in order
        self._freed = asyncio.Event()

    # -- admission --

    async def acquire(self) -> Ticket:
        """Wait until a request may start; the caller must ``release`` the ticket exactly once."""
        async with self._gate:
            while True:
                now = self._clock()
                delay = self._delay(now)
                if delay > 0:
                    await asyncio.sleep(delay)
                    continue
                if self.in_flight >= self.limit:
                    self._freed.clear()
                    await self._freed.wait()
                    continue
                self.in_flight += 1
                self.starts += 1
                self._next_start = now + self.interval
                return Ticket(self.starts, now)

    def _delay(self, now: float) -> float:
        until = max(self.not_before, self._next_start)
        for limit, budget in list(self._budgets.items()):
            if budget.reset_at <= now:
                del self._budgets[limit]  # the window turned over: unknown until the next reply says
                continue
            unit = 1.0 if limit == "requests" else self._tokens_per_call
            if unit <= 0:
                continue
            spent_since = (self.starts - budget.start_index) * unit
            if budget.remaining - spent_since < unit:
                until = max(until, budget.reset_at)
        return until - now

    # -- outcomes --

    def release(
        self,
        ticket: Ticket,
        *,
        ok: bool = False,
        rate_limited: bool = False,
        hint: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Return a request's slot and learn from how it ended (neutral unless ok or rate_limited)."""
        self.in_flight = max(0, self.in_flight - 1)
        now = self._clock()
        if headers is not None:
            self._read_budgets(headers, ticket, now)
        if ok:
            self._success(ticket, now)
        elif rate_limited:
            self._rate_limited(ticket, now, hint)
        self._freed.set()

    def note_tokens(self, tokens: int) -> None:
        """Billed tokens of one reply: the unit of a token budget."""
        if self._tokens_per_call <= 0:
            self._tokens_per_call = float(tokens)
        else:
            self._tokens_per_call += (tokens - self._tokens_per_call) * 0.1

    def _success(self, ticket: Ticket, now: float) -> None:
        self.successes += 1
        if ticket.started >= self._last_cut:
            self._ok_since_cut += 1
        self._ok_starts.append(ticket.started)
        while self._ok_starts and self._ok_starts[0] < now - _RATE_WINDOW_S:
            self._ok_starts.popleft()
        self._since_increase += 1
        if self._since_increase >= self.limit:
            self._since_increase = 0
            self.limit = min(self.max_limit, self.limit + 1)
        if self.interval > 0:
            # Speed up slowly right after a 429 (that rate was just measured) and faster the longer
            # none comes: ~10% after 32 successes, 2x after ~95.
            self.interval *= 1 - min(0.01, self._ok_since_cut / self._creep)
            if self.interval < 1e-3:
                self.interval = 0.0

    def _rate_limited(self, ticket: Ticket, now: float, hint: float | None) -> None:
        self.rate_limited += 1
        if hint is not None:
            self.not_before = max(self.not_before, now + min(hint, MAX_WAIT_S))
        if ticket.started < self._last_cut:
            return  # already in flight when we slowed down: the same burst, not news
        next_slot = now + (hint or 0.0)  # when the server says it will take a request again
        previous_slot, allowed = self._last_slot, self._ok_since_cut
        self._last_cut, self._last_slot, self._ok_since_cut = now, next_slot, 0
        self.limit = max(1, self.limit // 2)
        self._since_increase = 0
        if self._headers_seen:
            return  # the budgets say when to pause; an interval would only cost throughput
        measured = None
        if allowed and next_slot > previous_slot:
            # What the server let through between its two "come back at" times: its sustained rate
            # when we were sending faster, whether it counts in a sliding window or refills a bucket.
            measured = allowed / (next_slot - previous_slot)
        elif previous_slot == -math.inf:
            # First 429: what got through in the last minute, over that time plus the pause asked
            # for. Too high when the server allowed an initial burst; the next 429 corrects it.
            while self._ok_starts and self._ok_starts[0] < now - _RATE_WINDOW_S:
                self._ok_starts.popleft()
            span = (now - self._ok_starts[0] + (hint or 0.0)) if self._ok_starts else 0.0
            measured = len(self._ok_starts) / span if span > 0 else None
        current = 1 / self.interval if self.interval > 0 else math.inf
        if measured is not None and measured < 0.5 * current:
            rate = measured  # we were far above the limit, so what got through is the limit
        else:
            # Near the limit: the count mixes in our own slower pace, so back off gently instead.
            rate = self._backoff * current if math.isfinite(current) else 0.0
        self.interval = min(1 / rate, MAX_WAIT_S) if rate > 0 else 0.0
        log.debug("429: concurrency %d, start interval %.3fs", self.limit, self.interval)

    def _read_budgets(self, headers: Mapping[str, str], ticket: Ticket, now: float) -> None:
        for limit in ("requests", "tokens"):
            remaining = _number(headers.get(f"x-ratelimit-remaining-{limit}"))
            reset = parse_duration(headers.get(f"x-ratelimit-reset-{limit}"))
            if remaining is None or reset is None:
                continue
            self._headers_seen = True
            known = self._budgets.get(limit)
            if known is not None and known.start_index > ticket.index:
                continue  # a reply to an older request arriving late: the newer report stands
            reset_at = ticket.started + min(reset, MAX_WAIT_S)
            if reset_at <= now:
                self._budgets.pop(limit, None)
                continue
            self._budgets[limit] = _Budget(remaining, reset_at, ticket.index)

    def snapshot(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "max_limit": self.max_limit,
            "in_flight": self.in_flight,
            "interval_s": round(self.interval, 4),
            "hold_s": round(max(0.0, self.not_before - self._clock()), 3),
            "rate_limited": self.rate_limited,
            "successes": self.successes,
        }


# -- the writer ---------------------------------------------------------------------------------------


class _Transient(Exception):
    """A failure worth another attempt; ``hint`` is the server's requested pause, if any."""

    def __init__(self, cause: str, hint: float | None = None) -> None:
        super().__init__(cause)
        self.cause = cause
        self.hint = hint


_INVALID = "Your reply was invalid: {error}. Reply again with one JSON object matching the schema."
_SCHEMA_IN_PROMPT = "\n\nReply with one JSON object only, no other text, matching this JSON schema:\n"


class OpenAIWriter:
    """A :class:`~.base.Writer` over any OpenAI-compatible Chat Completions endpoint."""

    name = "openai"

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        json_mode: JsonMode = "schema",
        timeout_s: float = 120.0,
        max_attempts: int = 6,
        max_concurrency: int = 8,
        backoff_max_s: float = 60.0,
    ) -> None:
        if json_mode not in ("schema", "object"):
            raise ValueError(f'json_mode must be "schema" or "object", not {json_mode!r}')
        self.model = model
        self.json_mode: JsonMode = json_mode
        self.timeout_s = float(timeout_s)
        self.max_attempts = max(1, int(max_attempts))
        self.backoff_max_s = float(backoff_max_s)
        try:
            # SDK retries off: ours are the only retry layer, so attempts and pacing are counted once.
            self._client = openai.AsyncOpenAI(
                api_key=api_key, base_url=base_url, max_retries=0, timeout=self.timeout_s
            )
        except openai.OpenAIError:
            raise WriterRejected("no API key: set OPENAI_API_KEY") from None
        self._secret = str(self._client.api_key or "")
        self._backoff = wait_random_exponential(
            multiplier=min(0.5, self.backoff_max_s), max=self.backoff_max_s
        )
        self.pacer = AdaptivePacer(max_concurrency)
        self.calls = 0  # HTTP requests sent, every attempt
        self.retried = 0  # attempts that failed and were tried again
        self.usage = Usage()  # every billed reply, valid or not

    # -- public --

    @property
    def concurrency(self) -> int:
        """The pacer's current limit on requests in flight."""
        return self.pacer.limit

    @property
    def rate_limited(self) -> int:
        """429 answers received so far."""
        return self.pacer.rate_limited

    def stats(self) -> dict[str, Any]:
        """Counters for progress output: calls, retries, usage and the pacer's state."""
        return {
            "calls": self.calls,
            "retried": self.retried,
            "usage": self.usage.to_dict(),
            **self.pacer.snapshot(),
        }

    def __repr__(self) -> str:
        return (
            f"OpenAIWriter(model={self.model!r}, base_url={self._base_url()!r}, json_mode={self.json_mode!r})"
        )

    async def aclose(self) -> None:
        await self._client.close()

    async def complete(self, request: Request, retries: list[Retry]) -> Reply:
        """One reply to ``request``; transport failures are retried, invalid content is returned as is."""
        arguments = self._arguments(request, retries)
        spent = Usage()
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_Transient),
            before_sleep=self._before_sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._send(arguments, spent)
        except _Transient as exc:
            error = WriterUnavailable(
                f"the API did not answer after {self.max_attempts} attempts: {exc.cause}"
            )
            error.usage = spent
            raise error from None
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    # -- one attempt --

    async def _send(self, arguments: dict[str, Any], spent: Usage) -> Reply:
        ticket = await self.pacer.acquire()
        self.calls += 1
        try:
            raw = await self._client.chat.completions.with_raw_response.create(**arguments)
        except openai.APIError as exc:
            failure, rate_limited = self._failure(exc)
            headers = exc.response.headers if isinstance(exc, openai.APIStatusError) else None
            hint = failure.hint if isinstance(failure, _Transient) else None
            self.pacer.release(ticket, rate_limited=rate_limited, hint=hint, headers=headers)
            if isinstance(failure, WriterError):
                failure.usage = spent
            raise failure from None
        except BaseException:
            self.pacer.release(ticket)
            raise
        try:
            completion = raw.parse()
        except Exception:  # the SDK's parse errors vary (JSON, pydantic): all mean a broken body
            completion = None
        ok = isinstance(completion, ChatCompletion)
        self.pacer.release(ticket, ok=ok, headers=raw.headers)
        if not isinstance(completion, ChatCompletion):
            raise _Transient("the API sent a malformed response")
        usage = usage_of(completion)
        self.usage.add(usage)
        spent.add(usage)
        self.pacer.note_tokens(usage.total)
        message = completion.choices[0].message if completion.choices else None
        # No content (a refusal, an empty choice) is an invalid reply: ask() says so and asks again.
        return Reply(text=(message.content if message and message.content else ""), usage=usage)

    def _failure(self, exc: openai.APIError) -> tuple[Exception, bool]:
        """The exception to raise for an SDK error, and whether it was a rate limit."""
        if isinstance(exc, openai.APITimeoutError):
            return _Transient(f"timed out after {self.timeout_s:g}s"), False
        if isinstance(exc, openai.APIConnectionError):
            cause = type(exc.__cause__).__name__ if exc.__cause__ else "no response"
            return _Transient(f"connection failed ({cause})"), False
        if not isinstance(exc, openai.APIStatusError):
            return _Transient(f"bad response: {self._short(exc)}"), False
        status = exc.status_code
        code = f"{exc.code or ''} {exc.type or ''}"
        if status == 429:
            if "insufficient_quota" in code:
                return WriterRejected(
                    "the API account is out of quota (429): check the plan and billing"
                ), True
            hint = retry_hint(exc.response.headers)
            if hint is not None and hint > MAX_WAIT_S:
                return WriterUnavailable(
                    f"rate limited (429): the API asks to wait {hint:.0f}s; rerun later"
                ), True
            return _Transient("rate limited (429)", hint), True
        if status == 401:
            return WriterRejected("the API key was rejected (401)"), False
        if status == 403:
            return WriterRejected(f"access denied (403): {self._short(exc)}"), False
        if status == 404:
            if "model" in code.lower() or "model" in self._short(exc).lower():
                return WriterRejected(f"model not found: {self.model} (404)"), False
            return WriterRejected(
                f"the API endpoint was not found (404): check the base URL {self._base_url()}"
            ), False
        if status in (408, 409) or status >= 500:
            return _Transient(f"server error ({status})"), False
        return WriterRejected(f"the API refused the request ({status}): {self._short(exc)}"), False

    # -- helpers --

    def _arguments(self, request: Request, retries: list[Retry]) -> dict[str, Any]:
        prompt = request.prompt
        if self.json_mode == "schema":
            response_format: dict[str, Any] = {
                "type": "json_schema",
                "json_schema": {
                    "name": request.schema_name,
                    "strict": True,
                    "schema": wire_schema(request.schema),
                },
            }
        else:
            response_format = {"type": "json_object"}
            prompt += _SCHEMA_IN_PROMPT + orjson.dumps(request.schema).decode()
        # System first and unchanged across calls, so providers can serve it from their prompt cache.
        messages: list[dict[str, str]] = [
            {"role": "system", "content": request.system},
            {"role": "user", "content": prompt},
        ]
        for retry in retries:
            # Some compatible servers refuse an empty assistant message.
            messages.append(
                {"role": "assistant", "content": retry.reply if retry.reply.strip() else "(empty)"}
            )
            messages.append({"role": "user", "content": _INVALID.format(error=retry.error)})
        return {"model": self.model, "messages": messages, "response_format": response_format}

    def _wait(self, state: RetryCallState) -> float:
        """Full-jitter exponential backoff, but never shorter than the pause the server asked for."""
        exc = state.outcome.exception() if state.outcome else None
        wait = float(self._backoff(state))
        hint = getattr(exc, "hint", None)
        return max(wait, hint) if hint is not None else wait

    def _before_sleep(self, state: RetryCallState) -> None:
        self.retried += 1
        exc = state.outcome.exception() if state.outcome else None
        sleep = state.next_action.sleep if state.next_action else 0.0
        log.debug("attempt %d failed (%s); retrying in %.2fs", state.attempt_number, exc, sleep)

    def _short(self, exc: openai.APIError) -> str:
        body = exc.body
        message = body.get("message") if isinstance(body, dict) else None
        return self._scrub(str(message or exc.message or type(exc).__name__))

    def _scrub(self, text: str) -> str:
        """One line, short, without the key or anything shaped like a key or bearer token."""
        if self._secret:
            text = text.replace(self._secret, "***")
        text = _BEARER.sub(r"\1 ***", text)
        text = _KEYLIKE.sub(r"\1\2***", text)
        text = " ".join(text.split())
        return text[:200] + ("…" if len(text) > 200 else "")

    def _base_url(self) -> str:
        url = self._client.base_url
        # Userinfo and query could carry credentials; the host and path are enough to recognise it.
        return f"{url.scheme}://{url.host}{f':{url.port}' if url.port else ''}{url.path}"


def usage_of(completion: ChatCompletion) -> Usage:
    usage = completion.usage
    if usage is None:
        return Usage()
    details = usage.prompt_tokens_details
    cached = details.cached_tokens if details else None
    if not cached:
        # Compatible providers report cache hits their own way: DeepSeek prompt_cache_hit_tokens,
        # Moonshot a top-level cached_tokens.
        extra = usage.model_extra or {}
        cached = extra.get("prompt_cache_hit_tokens") or extra.get("cached_tokens")
    prompt = usage.prompt_tokens or 0
    cached = min(int(cached or 0), prompt) if isinstance(cached, (int, float)) else 0
    return Usage(prompt=prompt, completion=usage.completion_tokens or 0, cached=cached)
