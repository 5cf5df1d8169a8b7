"""Measure 6: the OpenAI writer's pacing against the fake server's rate limits (600 requests, or tokens for 600 calls, per minute)."""

from __future__ import annotations

import asyncio
import importlib
import itertools
import sys
import time
from typing import Any

from .common import REPO, Row, Section, pct, sample_node_request, verdict

RATE_GOAL, SHARE_GOAL = 0.90, 0.05
PER_MINUTE = 600
WINDOW_S = 1.0  # 600/min enforced per second, as providers quantize their limits
WORKERS = 16
SERVER_LATENCY_MS = 200
PAUSE_S = 0.5  # a gap between two request starts this long is a pause (steady pacing spaces them 0.1 s)


def _modules() -> tuple[Any, Any]:
    """The writer and the fake server, or an exception saying why they cannot be used."""
    writer = REPO / "src" / "ghost_story_factory" / "writers" / "openai_writer.py"
    server = REPO / "tests" / "fake_openai_server.py"
    missing = [str(p.relative_to(REPO)) for p in (writer, server) if not p.exists()]
    if missing:
        raise FileNotFoundError(f"{', '.join(missing)} missing")
    if str(REPO / "tests") not in sys.path:
        sys.path.insert(0, str(REPO / "tests"))
    return importlib.import_module("ghost_story_factory.writers.openai_writer"), importlib.import_module(
        "fake_openai_server"
    )


async def _drive(
    writer_module: Any, server_module: Any, url: str, seconds: float, limit: str
) -> dict[str, Any]:
    """WORKERS tasks call the writer back to back for ``seconds``; replies after the end don't count.

    For a token limit, the warm-up call's billed tokens (every call is the same request) set it to
    as many tokens per window as the request limit allows calls."""
    writer = writer_module.OpenAIWriter(
        "gpt-4o-mini",
        api_key=server_module.DEFAULT_KEY,
        base_url=url,
        max_concurrency=WORKERS,
        timeout_s=30,
    )
    request = sample_node_request()
    # One call before the clock starts: until a reply settles the JSON mode the writer sends one
    # request at a time, as a real run's documents call does before any tree call.
    await writer.complete(request, [])
    before = server_module.control(url)["ledger"]  # the warm-up call is not part of the measure
    per_call = before["prompt_tokens"] + before["completion_tokens"]
    if limit == "tokens":
        server_module.control(url, token_limit=per_call * _per_window())
    starts: list[float] = []  # when the pacer let each request go (bench-side record of its tickets)
    acquire = writer.pacer.acquire

    async def recording_acquire() -> Any:
        ticket = await acquire()
        starts.append(ticket.started)
        return ticket

    writer.pacer.acquire = recording_acquire
    ok = failed = 0
    started = time.perf_counter()
    end = started + seconds

    async def worker() -> None:
        nonlocal ok, failed
        while time.perf_counter() < end:
            try:
                await writer.complete(request, [])
            except Exception:  # a run of 429s beyond max_attempts: counted, the worker goes on
                failed += 1
                continue
            if time.perf_counter() <= end:
                ok += 1

    tasks = [asyncio.create_task(worker()) for _ in range(WORKERS)]
    await asyncio.sleep(seconds)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    stats = writer.stats()
    await writer.aclose()
    pauses = [b - a for a, b in itertools.pairwise(starts) if b - a >= PAUSE_S]
    return {
        "ok": ok,
        "failed": failed,
        "seconds": seconds,
        "writer": stats,
        "pauses": pauses,
        "before": before,
        "per_call": per_call,
    }


def _per_window() -> int:
    return round(PER_MINUTE * WINDOW_S / 60)


def _measure(
    writer_module: Any,
    server_module: Any,
    mode: str,
    seconds: float,
    headers: bool = True,
    limit: str = "requests",
) -> dict[str, Any]:
    args = ["--window", str(WINDOW_S), "--rate-mode", mode]
    if limit == "requests":
        args += ["--rpm", str(_per_window())]
    if not headers:
        args.append("--no-ratelimit-headers")
    with server_module.server_process(*args, "--latency-ms", str(SERVER_LATENCY_MS)) as (_process, url):
        result = asyncio.run(_drive(writer_module, server_module, url, seconds, limit))
        after = server_module.control(url)["ledger"]
    ledger = {key: after[key] - result["before"].get(key, 0) for key in ("requests", "rate_limited")}
    allowed = PER_MINUTE / 60
    kind = mode if limit == "requests" else f"tokens, {mode}"
    result.update(
        mode=mode,
        limit=limit,
        headers=headers,
        label=kind if headers else f"{kind}, no x-ratelimit headers",
        ledger=ledger,
        rate=result["ok"] / seconds,
        allowed=allowed,
        share_of_allowed=result["ok"] / seconds / allowed,
        share_429=ledger["rate_limited"] / max(1, ledger["requests"]),
    )
    return result


def _limit_words(r: dict[str, Any]) -> str:
    if r["limit"] == "tokens":
        return f"{_per_window()} calls' tokens ({_per_window() * r['per_call']:,}) per {WINDOW_S:g} s"
    return f"600/min as {_per_window()} per {WINDOW_S:g} s"


def _met(r: dict[str, Any]) -> bool:
    return bool(r["share_of_allowed"] >= RATE_GOAL and r["share_429"] <= SHARE_GOAL)


def run(quick: bool) -> Section:
    section = Section("6. Rate-limit pacing")
    seconds = 2.0 if quick else 60.0
    plan = [
        (mode, headers, limit)
        for limit in ("requests", "tokens")
        for headers in (True, False)
        for mode in ("sliding", "bucket")
    ]
    try:
        writer_module, server_module = _modules()
        results = [
            _measure(writer_module, server_module, mode, seconds, headers, limit)
            for mode, headers, limit in plan
        ]
    except Exception as exc:  # a missing or unfinished writer or server: say why, measure the rest
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
        section.rows.append(
            Row(
                "6",
                "rate-limit pacing at 600 requests/min",
                f"not measured: {reason}",
                f">= {RATE_GOAL:.0%} of the rate, <= {SHARE_GOAL:.0%} 429s",
                "not measured",
            )
        )
        section.details.append(f"Not measured: {reason}.")
        return section
    for r in results:
        section.rows.append(
            Row(
                "6",
                f"rate-limit pacing, {_limit_words(r)} ({r['label']}), {r['seconds']:.0f} s",
                f"{r['rate']:.2f} req/s = {r['share_of_allowed']:.0%} of {r['allowed']:.0f}/s; "
                f"429s {pct(r['share_429'])} ({r['ledger']['rate_limited']} of {r['ledger']['requests']})",
                f">= {RATE_GOAL:.0%} of the rate, <= {SHARE_GOAL:.0%} 429s",
                verdict(_met(r)),
            )
        )
    section.details += [
        f"`OpenAIWriter` (max_concurrency {WORKERS}) against `tests/fake_openai_server.py` run as a process "
        f"with a limit of 600 requests per minute, enforced as {_per_window()} requests per "
        f"{WINDOW_S:g} s (providers quantize per-minute limits like this; with a 60 s window the first burst "
        "alone would fill a minute's budget, and a 60-90 s run would not test pacing), and "
        f"{SERVER_LATENCY_MS} ms per answer. One call settles the writer's JSON mode before the clock starts "
        "(until then the writer sends one request at a time, as a real run's documents call does first); it "
        f"is not counted. {WORKERS} tasks then call `complete` back to back for the stated time; "
        "the rate counts replies received within it; the 429 share is the server's ledger (429s / requests, "
        "retries included). *sliding* keeps a log of the last window; *bucket* refills steadily; the goal "
        "holds for both. With its x-ratelimit headers the server tells the limit, what is left and when the "
        "whole limit is back, and a 429 carries `retry-after-ms` (the time until the next slot); *no "
        "x-ratelimit headers* sends none of that, only `Retry-After` in whole seconds on a 429, so the pace is "
        "learned from the 429s. *tokens* rows limit tokens instead of requests: the server counts each "
        "request's billed tokens (prompt and completion) on arrival, with a limit of "
        f"{_per_window()} calls' worth per {WINDOW_S:g} s (the warm-up call's tokens times {_per_window()}; "
        "every call is the same request), and its headers are the `x-ratelimit-*-tokens` ones. OpenAI "
        "counts the `max_tokens` a request asks for instead of its completion, a larger unit than the billed "
        "tokens the pacer learns from; that case is not measured here. The writer is the product's "
        "`OpenAIWriter` (its pacer is `writers/_pacing.py`); the same cases run in virtual time in "
        "`tests/test_pacing.py`.",
        "",
        f"| mode | seconds | replies | req/s | share of {PER_MINUTE // 60}/s | server requests | 429s | 429 share "
        "| failed calls | writer concurrency at end | start interval at end "
        f"| pauses >= {PAUSE_S:g} s between starts | time in them |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        w = r["writer"]
        section.details.append(
            f"| {r['label']} | {r['seconds']:.0f} | {r['ok']} | {r['rate']:.2f} | {r['share_of_allowed']:.0%} "
            f"| {r['ledger']['requests']} | {r['ledger']['rate_limited']} | {pct(r['share_429'])} "
            f"| {r['failed']} | {w.get('limit')} | {w.get('interval_s')} s | {len(r['pauses'])} "
            f"| {sum(r['pauses']):.1f} s ({sum(r['pauses']) / r['seconds']:.0%}) |"
        )
    section.details.append("")
    for r in results:
        state = "met" if _met(r) else "missed"
        line = (
            f"- Goal {state} ({r['label']}): {r['share_of_allowed']:.0%} of the allowed rate (goal "
            f">= {RATE_GOAL:.0%}) with {pct(r['share_429'])} 429s (goal <= {SHARE_GOAL:.0%})."
        )
        if r["headers"] and r["mode"] == "sliding" and r["pauses"]:
            line += (
                f" Its {len(r['pauses'])} pause(s) of >= {PAUSE_S:g} s between starts are the window's own "
                "rhythm, not a hold: a sliding window frees each slot one window after it was taken, so "
                "starts that came in a burst come back in a burst."
            )
        if not r["headers"]:
            line += (
                " Without the headers the pacer learns the window from a 429's Retry-After (whole seconds "
                "here) and a first size from what the server took of the burst that met the limit (a bucket "
                "lets its capacity and a window's refill through in that first window, so the first size is "
                "too high and the next window's burst overshoots once); after that it probes one more per "
                "window below the last size that met a 429 and one more every ten windows at it, and each "
                "429 sets it one lower: the 429s are the first two windows' and one probe now and then."
            )
        section.details.append(line)
    return section
