"""Pacing of a long run under a provider's rate limit, and the rate-limit headers it reads.

:class:`AdaptivePacer` bounds requests in flight and spaces their starts; :func:`retry_hint` reads
how long a 429 asks us to wait. Nothing here knows about HTTP clients: the writer feeds it tickets,
outcomes and headers.
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
from typing import Any

log = logging.getLogger(__name__)

MAX_WAIT_S = 600.0  # a server asking for a longer pause (daily quota) ends the run: rerun later
_RATE_WINDOW_S = 60.0  # providers state limits per minute; successes are remembered this long
# A slot a window frees is taken this share of the window late: a request reaches the server a few
# milliseconds after its start stamp, by an amount that varies, and a start exactly one window after
# the one it replaces would be refused whenever it arrived a little sooner.
_SLOT_MARGIN = 0.03
_PROBE = 10  # without headers: one more start per window after this many windows' worth of successes
# ... once the size is within one of the last size that met a 429; further below it, one more per
# window's worth, so a size cut too far (arrivals out of start order) climbs back in a few windows.
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


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
    when = _http_date(after)
    if when is None:
        return None
    # A date is on the server's clock: measured against the Date it sent with it, a server whose
    # clock is an hour off still means "in 30 s", not "in 3630 s".
    sent = _http_date(headers.get("date"))
    return max(when - (sent if sent is not None else now), 0.0)


def _http_date(text: str | None) -> float | None:
    """An HTTP date as a POSIX timestamp; None when absent or not a date."""
    if text is None:
        return None
    try:
        stamp = parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return stamp if math.isfinite(stamp) else None


def retry_hint(headers: Mapping[str, str] | Any, now: float | None = None) -> float | None:
    """How long a 429 asks us to wait, in seconds; None when it does not say.

    Retry-After (seconds, or an HTTP date read against the response's own ``Date`` header when it
    has one; ``retry-after-ms`` is the same signal, more precise, and wins over it) is the server's
    answer to this request and stands alone: a sliding window frees its next slot long before the
    whole limit is back. Without it, the longest ``x-ratelimit-reset-*`` of the limits that are
    exhausted (remaining 0, or remaining not sent). ``now`` is wall-clock time, for HTTP dates sent
    without a Date header.
    """
    lowered = {str(name).lower(): str(value) for name, value in dict(headers).items()}
    now = time.time() if now is None else now
    after = _retry_after(lowered, now)
    if after is not None:
        return after
    hints: list[float] = []
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
    started: float  # when the reporting request was sent


@dataclass
class _Limit:
    """What the headers taught us about one of the provider's limits (requests or tokens)."""

    size: float | None = None  # x-ratelimit-limit-*: the most one window holds
    window: float = 0.0  # the longest reset reported: a sliding window reports its length on a success
    budget: _Budget | None = None


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
    * A shared hold (``not_before``): a 429's Retry-After (or, without one, its reset time) stops
      every new request until then.
    * With x-ratelimit-* headers, slots: the pacer keeps a log of its own starts (a refused one
      leaves it, as the server did not count it) and learns each limit's size (``limit-*``) and
      window (the longest ``reset-*``). A start waits while the log already holds a window's worth,
      and, when the last report says the budget is spent, until as many of the requests the server
      counted then have left its window as the starts since need, one by one, as a sliding window
      frees them. A token bucket refilling steadily is never slower than that; only when our log
      cannot explain the spent budget (other clients on the same key) does a start wait for the
      reported reset.
    * Without rate-limit headers, the same slots, learned from 429s that carry a Retry-After: the
      pause asked for is taken as the window (at least; the longest seen), and what the server
      took of the burst that met the limit as a first size, which then probes upwards and on a 429
      falls to at most what the server kept of ours (see ``_learn``). Once a size is known a 429 holds only the refused
      request for its pause, not every start: the log says when slots free.
    * Without headers and without a Retry-After, a start interval learned from 429s. Far above the
      limit, the rate the server let through between two 429s is its limit; near it, the pace backs
      off by 10%. Successes shorten the interval again, slowly right after a 429 and faster the
      longer none comes, so the pace keeps probing upwards.
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
        self._limits: dict[str, _Limit] = {}
        self._sent: collections.OrderedDict[int, tuple[float, float]] = collections.OrderedDict()
        self._headers_seen = False
        self._learned = False  # a request limit learned from 429s (no headers)
        self._ok_since_learned = 0
        self._learned_at = 0.0
        self._cut_at = -math.inf  # when a 429 last cut the learned size
        self._ceiling = math.inf  # the learned size that last met a 429: probe slowly just below it
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
                self._sent[self.starts] = (now, self._tokens_per_call)
                return Ticket(self.starts, now)

    def _delay(self, now: float) -> float:
        until = max(self.not_before, self._next_start)
        self._forget_old(now)
        for name, known in self._limits.items():
            unit = 1.0 if name == "requests" else self._tokens_per_call
            if unit > 0:
                until = max(until, self._slot_at(name, known, unit, now))
        return until - now

    def _forget_old(self, now: float) -> None:
        """Drop starts no report can still count: the last report is at most a window old, and it
        counted the window before it (two minutes while no window is known)."""
        windows = [known.window for known in self._limits.values() if known.window > 0]
        horizon = 2 * (max(windows) * (1 + _SLOT_MARGIN) if windows else _RATE_WINDOW_S)
        while self._sent:
            index, (started, _tokens) = next(iter(self._sent.items()))
            if started > now - horizon:
                break
            del self._sent[index]

    def _slot_at(self, name: str, known: _Limit, unit: float, now: float) -> float:
        """The earliest time a start costing ``unit`` fits in this limit, as far as we know it."""
        span = known.window * (1 + _SLOT_MARGIN)

        def share(tokens: float) -> float:  # a start's share of this limit
            return 1.0 if name == "requests" else tokens

        at = now
        if known.size is not None and span > 0:
            # Our own log: no more than a window's worth started within one window.
            recent = [(started, share(tokens)) for started, tokens in self._sent.values()]
            recent = [(started, cost) for started, cost in recent if started > now - span]
            excess = sum(cost for _, cost in recent) + unit - known.size
            freed = 0.0
            for started, cost in recent:
                if excess <= 0:
                    break
                freed += cost
                if freed >= excess:
                    at = max(at, started + span)
                    break
        budget = known.budget
        if budget is None:
            return at
        if budget.reset_at <= now or (span > 0 and budget.started + span <= now):
            known.budget = None  # the window turned over since: unknown until the next reply says
            return at
        sent_since = [
            (index, share(tokens))
            for index, (_started, tokens) in self._sent.items()
            if index > budget.start_index
        ]
        need = sum(cost for _, cost in sent_since) + unit - budget.remaining
        if need <= 0:
            return at
        # Spent as of the report: the requests the server counted then leave its window oldest
        # first, each freeing its share, so wait for as many as our starts since have used.
        freed, slot = 0.0, None
        if span > 0:
            for index, (started, tokens) in self._sent.items():
                if index > budget.start_index:
                    break
                if started <= budget.started - span:
                    continue
                freed += share(tokens)
                if freed >= need:
                    slot = started + span
                    break
        return max(at, slot if slot is not None else budget.reset_at)

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
        if rate_limited:
            self._sent.pop(ticket.index, None)  # refused: the server did not count it
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
        known = self._limits.get("requests")
        if self._learned and known is not None and known.size is not None:
            self._ok_since_learned += 1
            slow = known.size + 1 >= self._ceiling
            if self._ok_since_learned >= (_PROBE if slow else 1) * known.size:
                known.size += 1  # probe: the limit may be higher than we know
                self._ok_since_learned = 0
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
        if hint is not None and not self._learned:
            # Nothing known of the limit yet: honour the pause for every start. Once a size is
            # known, the log spaces the starts and only the refused request waits its pause.
            self.not_before = max(self.not_before, now + min(hint, MAX_WAIT_S))
        if hint and not self._headers_seen:
            self._learn(ticket, now, min(hint, MAX_WAIT_S))
        if self._learned:
            return  # the slots say when to start: fewer in flight or an interval would only cost
        if ticket.started < self._last_cut:
            return  # already in flight when we slowed down: the same burst, not news
        next_slot = now + (hint or 0.0)  # when the server says it will take a request again
        previous_slot, allowed = self._last_slot, self._ok_since_cut
        self._last_cut, self._last_slot, self._ok_since_cut = now, next_slot, 0
        self.limit = max(1, self.limit // 2)
        self._since_increase = 0
        if self._headers_seen:
            return  # the slots say when to start; an interval would only cost throughput
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

    def _learn(self, ticket: Ticket, now: float, pause: float) -> None:
        """A request limit from the 429s of a server that sends no rate-limit headers.

        The first 429 gives a window at least ``pause`` long, and the burst that met the limit its
        size: our starts within that window that the server did not refuse (the rest of the burst's
        429s come back within milliseconds, each lowering the count to what was taken). After that
        the size probes upwards, one more per window's worth of successes, and a 429 of a start sent
        after the last cut sets it one lower, or to our starts the server kept in its window if
        fewer; once within one of the size that last met a 429, it
        probes only every ``_PROBE`` windows' worth, so a size cut too far climbs back in a few
        windows while one at the limit costs a 429 now and then."""
        known = self._limits.get("requests")
        if not self._learned or known is None or known.size is None:
            window = max(pause, known.window if known is not None else 0.0)
            known = self._limits["requests"] = _Limit(size=1.0, window=window)
            self._learned, self._learned_at = True, now
        if ticket.started <= self._learned_at:
            known.size = float(max(1, self._starts_within(self._learned_at - known.window, self._learned_at)))
        elif ticket.started <= self._cut_at:
            return  # refused before our last cut took effect: the same overshoot, not news
        else:
            # It holds a window's worth: at most our starts within it that it did not refuse (a
            # refused start leaves our log, so a size too high would let more in, one at a time).
            kept = self._starts_within(ticket.started - known.window, now)
            size = known.size or 1.0
            self._ceiling, self._cut_at = size, now
            known.size = float(max(1, min(int(size) - 1, kept)))
            known.window = max(known.window, pause)
        self._ok_since_learned = 0
        self.interval = 0.0  # the slots pace the starts now
        log.debug("429: %g requests per %.3fs", known.size, known.window)

    def _starts_within(self, after: float, until: float) -> int:
        """Our starts in the log (a refused one has left it) sent in (``after``, ``until``]."""
        return sum(1 for started, _tokens in self._sent.values() if after < started <= until)

    def _read_budgets(self, headers: Mapping[str, str], ticket: Ticket, now: float) -> None:
        lowered = {str(name).lower(): str(value) for name, value in dict(headers).items()}
        for limit in ("requests", "tokens"):
            remaining = _number(lowered.get(f"x-ratelimit-remaining-{limit}"))
            reset = parse_duration(lowered.get(f"x-ratelimit-reset-{limit}"))
            if remaining is None or reset is None:
                continue
            self._headers_seen = True
            known = self._limits.setdefault(limit, _Limit())
            size = _number(lowered.get(f"x-ratelimit-limit-{limit}"))
            if size is not None and size >= 1:
                known.size = size
            reset = min(reset, MAX_WAIT_S)
            known.window = max(known.window, reset)
            if known.budget is not None and known.budget.start_index > ticket.index:
                continue  # a reply to an older request arriving late: the newer report stands
            reset_at = ticket.started + reset
            if reset_at <= now:
                known.budget = None
                continue
            known.budget = _Budget(remaining, reset_at, ticket.index, ticket.started)

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
