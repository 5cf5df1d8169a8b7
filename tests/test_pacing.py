"""The pacer against rate limits in virtual time: sliding windows, token buckets, tokens per minute, 429s.

Each run is the real :class:`AdaptivePacer` and the fake server's own :class:`RateLimiter`, driven by
callers on an event loop whose clock jumps to the next timer (trio's autojump clock, for asyncio), so
a minute of pacing takes a fraction of a second and every figure is the same on every machine. The
same pacer against the fake server over real HTTP is measure 6 of the bench.
"""

from __future__ import annotations

import asyncio
import math
import random
import selectors
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any, TypeVar

import httpx2 as httpx
import pytest
from fake_openai_server import RateLimiter, format_duration

from ghost_story_factory.writers._pacing import AdaptivePacer, Ticket, retry_hint

T = TypeVar("T")
LIMIT, WINDOW_S, CALLERS, LATENCY_S = 10, 1.0, 16, 0.2  # measure 6's setting: 600/min as 10 per second


class _JumpingSelector(selectors.DefaultSelector):
    """Polls without blocking; when nothing is ready, moves the loop's clock to the next timer."""

    def __init__(self) -> None:
        super().__init__()
        self.loop: VirtualLoop | None = None

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        events = super().select(0)
        if not events and self.loop is not None:
            if timeout is None:
                raise RuntimeError("deadlock: nothing is ready and no timer is set")
            self.loop.now += timeout
        return events


class VirtualLoop(asyncio.SelectorEventLoop):
    """An event loop on virtual time: sleeping costs no wall-clock time."""

    def __init__(self) -> None:
        selector = _JumpingSelector()
        super().__init__(selector)
        selector.loop = self
        self.now = 0.0

    def time(self) -> float:
        return self.now


def in_virtual_time(main: Callable[[VirtualLoop], Coroutine[Any, Any, T]]) -> T:
    loop = VirtualLoop()
    try:
        return loop.run_until_complete(main(loop))
    finally:
        loop.close()


@dataclass
class Run:
    """What callers saw: replies within the run, 429s, every start and every 429's time."""

    seconds: float
    answered: int = 0
    refused: int = 0
    starts: list[float] = field(default_factory=list)
    refusals: list[tuple[float, float]] = field(default_factory=list)  # (when, until a slot frees)

    @property
    def share_429(self) -> float:
        return self.refused / max(1, len(self.starts))


def paced_run(
    mode: str,
    seconds: float = 60.0,
    *,
    headers: bool = True,
    tokens: RateLimiter | None = None,
    tokens_per_call: int = 1000,
    seed: int = 7,
) -> Run:
    """CALLERS callers back to back through one pacer against LIMIT requests per WINDOW_S (``mode``), or
    against ``tokens`` per window; replies take LATENCY_S, a request reaches the server 0-5 ms after
    its start, and a 429 is retried after the pause it asks for, like the writer does."""
    rng = random.Random(seed)

    async def main(loop: VirtualLoop) -> Run:
        pacer = AdaptivePacer(CALLERS, clock=loop.time)
        requests = RateLimiter(LIMIT, WINDOW_S, mode)
        for limiter in (requests, tokens):
            if limiter is not None:
                limiter._stamp = loop.time()  # the bucket refills from the virtual start
        run = Run(seconds)

        def limit_headers(kind: str, limit: int, remaining: int, reset: float) -> dict[str, str]:
            if not headers:
                return {}
            return {
                f"x-ratelimit-limit-{kind}": str(limit),
                f"x-ratelimit-remaining-{kind}": str(remaining),
                f"x-ratelimit-reset-{kind}": format_duration(reset),
            }

        async def call() -> None:
            while True:
                ticket = await pacer.acquire()
                run.starts.append(ticket.started)
                await asyncio.sleep(rng.uniform(0.0, 0.005))
                now = loop.time()
                if tokens is None:
                    allowed, wait, remaining, reset = requests.take(now)
                    sent = limit_headers("requests", LIMIT, remaining, reset)
                else:
                    allowed, wait, remaining, reset = tokens.take(now, tokens_per_call)
                    sent = limit_headers("tokens", tokens.limit, remaining, reset)
                if not allowed:
                    sent["Retry-After"] = str(max(1, math.ceil(wait)))
                    if headers:
                        sent["retry-after-ms"] = str(max(1, math.ceil(wait * 1000)))
                    await asyncio.sleep(0.002)
                    run.refused += 1
                    hint = retry_hint(sent)
                    run.refusals.append((loop.time(), wait))
                    pacer.release(ticket, rate_limited=True, hint=hint, headers=sent)
                    await asyncio.sleep(hint or 0.0)
                    continue
                await asyncio.sleep(LATENCY_S)
                pacer.release(ticket, ok=True, headers=sent)
                pacer.note_tokens(tokens_per_call)
                if loop.time() <= seconds:
                    run.answered += 1
                return

        async def caller() -> None:
            while loop.time() < seconds:
                await call()

        await asyncio.gather(*(caller() for _ in range(CALLERS)))
        return run

    return in_virtual_time(main)


@pytest.mark.parametrize("mode", ["sliding", "bucket"])
def test_paced_callers_fill_the_rate_limit_with_few_429s(mode: str) -> None:
    run = paced_run(mode)
    assert run.answered >= 0.9 * LIMIT / WINDOW_S * run.seconds
    assert run.share_429 <= 0.05


def test_a_429_at_a_sliding_windows_edge_does_not_hold_every_request_for_a_window() -> None:
    run = paced_run("sliding")
    assert run.refusals, "the first burst meets the limit"
    # After each 429 the next start comes when the window frees its next slot (the server's own
    # count), not when the whole window is back.
    held = [
        (when, pause)
        for when, pause in run.refusals
        if not any(when < start <= when + pause + 0.05 * WINDOW_S for start in run.starts)
    ]
    assert held == []


def test_a_429_with_a_short_retry_after_holds_only_that_long() -> None:
    async def main(loop: VirtualLoop) -> tuple[float, float]:
        pacer = AdaptivePacer(8, clock=loop.time)
        tickets = []
        for _ in range(4):  # a window of 4 filled a quarter of a window apart
            tickets.append(await pacer.acquire())
            await asyncio.sleep(0.25)
        refused = await pacer.acquire()  # sent at 1.0, just as the first slot frees: too early
        for ticket in tickets:
            pacer.release(ticket, ok=True)
        edge = {
            "x-ratelimit-limit-requests": "4",
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": "750ms",  # the whole window is back when the last leaves
            "retry-after-ms": "10",  # but the oldest slot frees in 10 ms
        }
        pacer.release(refused, rate_limited=True, hint=retry_hint(edge), headers=edge)
        asked = loop.time()
        await pacer.acquire()
        return asked, loop.time()

    asked, next_start = in_virtual_time(main)
    assert next_start < asked + 0.1  # not asked + 0.75


def test_a_spent_budget_waits_for_the_oldest_slot_not_the_full_reset() -> None:
    async def main(loop: VirtualLoop) -> list[float]:
        pacer = AdaptivePacer(4, clock=loop.time)
        tickets: list[Ticket] = []
        for _ in range(4):  # four requests a quarter of a window apart fill a window of 4
            tickets.append(await pacer.acquire())
            await asyncio.sleep(0.25)
        for index, ticket in enumerate(tickets):  # the last report: nothing left, whole again in 1 s
            left = 3 - index
            pacer.release(ticket, ok=True, headers=report(left, 1.0))
        await pacer.acquire()
        return [ticket.started for ticket in tickets] + [loop.time()]

    def report(remaining: int, reset_s: float) -> dict[str, str]:
        return {
            "x-ratelimit-limit-requests": "4",
            "x-ratelimit-remaining-requests": str(remaining),
            "x-ratelimit-reset-requests": format_duration(reset_s),
        }

    *sent, fifth = in_virtual_time(main)
    # The first start leaves the window first: the fifth goes just after it, not after the last.
    assert sent[0] + WINDOW_S <= fifth < sent[1] + WINDOW_S


@pytest.mark.parametrize("mode", ["sliding", "bucket"])
@pytest.mark.parametrize("headers", [True, False])
def test_tokens_per_minute_are_paced_like_requests(mode: str, headers: bool) -> None:
    window = RateLimiter(12_000, WINDOW_S, mode)  # 12 calls of 1,000 tokens per second
    run = paced_run(mode, tokens=window, headers=headers)
    assert run.answered >= 0.9 * 12 * run.seconds
    assert run.share_429 <= 0.05


@pytest.mark.parametrize("mode", ["sliding", "bucket"])
def test_without_rate_limit_headers_the_pace_is_learned_from_429s(mode: str) -> None:
    run = paced_run(mode, headers=False)
    assert run.answered >= 0.9 * LIMIT / WINDOW_S * run.seconds
    assert run.share_429 <= 0.05
    if mode == "bucket":
        return  # paced as a window the bucket's size long: slots free no sooner than that
    # Only the first 429, before anything is known, holds every start for its whole Retry-After
    # (whole seconds); after it, the next start comes as the window frees its next slot.
    first, first_pause = run.refusals[0]
    held = [
        (when, pause)
        for when, pause in run.refusals
        if when > first + math.ceil(first_pause)
        and not any(when < start <= when + pause + 0.05 * WINDOW_S for start in run.starts)
    ]
    assert held == []


def test_an_http_date_is_read_against_the_servers_own_date() -> None:
    server_now = 1_700_000_000.0
    our_now = server_now + 3600  # our clock is an hour ahead of the server's
    sent = {
        "Date": formatdate(server_now, usegmt=True),
        "Retry-After": formatdate(server_now + 30, usegmt=True),
    }
    assert retry_hint(httpx.Headers(sent), now=our_now) == pytest.approx(30)
    assert retry_hint(httpx.Headers(sent), now=server_now - 3600) == pytest.approx(30)
    # Without a Date header, our own clock is all there is.
    alone = {"Retry-After": formatdate(our_now + 30, usegmt=True)}
    assert retry_hint(alone, now=our_now) == pytest.approx(30)
    # A date already past, or a Date header that is not a date, never means a negative wait.
    assert retry_hint({**sent, "Retry-After": formatdate(server_now - 5, usegmt=True)}, now=our_now) == 0
    assert retry_hint(
        {"Date": "yesterday", "Retry-After": formatdate(our_now + 30, usegmt=True)}, now=our_now
    ) == (pytest.approx(30))


def test_retry_after_is_the_servers_answer_and_an_exhausted_reset_only_a_fallback() -> None:
    exhausted = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "60s"}
    assert retry_hint({**exhausted, "retry-after-ms": "120"}) == pytest.approx(0.12)  # a slot frees then
    assert retry_hint(exhausted) == 60.0
