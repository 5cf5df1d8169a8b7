"""The OpenAI writer over real HTTP to a local fake server: replies, retries, errors, usage and pacing."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from email.utils import formatdate
from typing import Any, TypeVar

import pytest
from fake_openai_server import DEFAULT_KEY, FakeOpenAI, control, running_server, server_process
from openai.types.chat import ChatCompletion

from ghost_story_factory.errors import InvalidReply, WriterRejected, WriterUnavailable
from ghost_story_factory.writers import prompts, schemas
from ghost_story_factory.writers.base import Answer, Request, Usage, ask
from ghost_story_factory.writers.openai_writer import (
    AdaptivePacer,
    OpenAIWriter,
    parse_duration,
    retry_hint,
    usage_of,
)
from ghost_story_factory.writers.pricing import DEFAULT_MODEL, cost_usd, parse_price, price_of

T = TypeVar("T")
STORY = {
    "title": "The Last Tram",
    "synopsis": "A night tram that never reaches its terminus.",
    "game_design": "Fear PR, truth GR, familiarity WF; 00:00-04:00.",
    "lore": "A driver who vanished in 1937.",
    "main_story": "The player rides until dawn or the truth.",
    "scenes": ["Depot", "Bund", "Tunnel"],
}
CHARACTER = {"name": "Lin", "role": "night guard", "description": "Keeps the depot."}


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with running_server() as running:
        yield running


def documents() -> Request:
    return prompts.documents_request("Shanghai", ["Lin"], "en")


def node(must_end: str | None = None, depth: int = 2) -> Request:
    return prompts.node_request(
        city="Shanghai",
        lang="en",
        story=STORY,
        character=CHARACTER,
        state={"PR": 10, "GR": 0, "WF": 0},
        depth=depth,
        max_depth=10,
        path=[{"narrative": "The tram doors close.", "choice": "Sit down"}],
        must_end=must_end,
        may_end=False,
        branching=3,
    )


def writer_for(server: FakeOpenAI, **options: Any) -> OpenAIWriter:
    options.setdefault("backoff_max_s", 0.2)
    options.setdefault("api_key", DEFAULT_KEY)
    return OpenAIWriter(options.pop("model", DEFAULT_MODEL), base_url=server.url, **options)


def run(server: FakeOpenAI, job: Callable[[OpenAIWriter], Awaitable[T]], **options: Any) -> T:
    """Build a writer, run ``job`` with it in a fresh event loop, always close it."""

    async def main() -> T:
        writer = writer_for(server, **options)
        try:
            return await job(writer)
        finally:
            await writer.aclose()

    return asyncio.run(main())


def ledger_usage(server: FakeOpenAI) -> Usage:
    ledger = server.ledger
    return Usage(
        prompt=ledger.prompt_tokens, completion=ledger.completion_tokens, cached=ledger.cached_tokens
    )


# -- round trips ----------------------------------------------------------------------------------------


def test_schema_mode_sends_strict_json_schema_and_reports_usage(server: FakeOpenAI) -> None:
    request = documents()

    async def job(writer: OpenAIWriter) -> tuple[Answer, Answer, Usage, int]:
        first = await ask(writer, request)
        second = await ask(writer, request)  # same system prompt: the server serves part from cache
        return first, second, writer.usage, writer.calls

    first, second, usage, calls = run(server, job)
    assert first.attempts == 1 and len(first.data["scenes"]) >= 3
    body = server.received()[0]["body"]
    assert body["model"] == DEFAULT_MODEL
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {
            "name": "story_documents",
            "strict": True,
            "schema": schemas.wire_schema(request.schema),
        },
    }
    wire = json.dumps(body["response_format"])
    assert "minLength" not in wire and "minItems" not in wire  # the strictest common subset
    assert "additionalProperties" in wire and '"required"' in wire
    assert body["messages"] == [
        {"role": "system", "content": request.system},
        {"role": "user", "content": request.prompt},
    ]
    assert calls == 2
    assert second.usage.cached > 0 and first.usage.cached == 0
    assert usage == ledger_usage(server)
    assert usage.prompt == first.usage.prompt + second.usage.prompt


def test_node_replies_from_the_fake_server_pass_the_story_rules(server: FakeOpenAI) -> None:
    async def job(writer: OpenAIWriter) -> list[Answer]:
        return [
            await ask(writer, node()),
            await ask(writer, node(must_end="fear")),
            await ask(writer, node("time")),
        ]

    choices, fear, dawn = run(server, job)
    assert len(choices.data["choices"]) == 2 and choices.data["ending"] is None
    assert choices.data["choices"][0]["consequences"]["time"] == "+10min"
    assert fear.data["choices"] == [] and fear.data["ending"]["type"] == "fear_collapse"
    assert dawn.data["ending"]["type"] == "dawn"


def test_object_mode_sends_json_object_and_puts_the_schema_in_the_prompt(server: FakeOpenAI) -> None:
    request = node()
    answer = run(server, lambda writer: ask(writer, request), json_mode="object")
    assert answer.attempts == 1
    body = server.received()[0]["body"]
    assert body["response_format"] == {"type": "json_object"}
    user = body["messages"][1]["content"]
    assert user.startswith(request.prompt)
    pasted, _ = json.JSONDecoder().raw_decode(user[user.index("{", user.index("JSON schema")) :])
    assert pasted == request.schema


def test_code_fences_around_the_json_are_tolerated(server: FakeOpenAI) -> None:
    server.configure(faults=["fence"])
    answer = run(server, lambda writer: ask(writer, documents()))
    assert answer.attempts == 1 and server.received()[0]["fault"] == "fence"


def test_api_key_and_base_url_come_from_the_environment(
    server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", DEFAULT_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)

    async def main() -> Answer:
        writer = OpenAIWriter(DEFAULT_MODEL)
        try:
            return await ask(writer, documents())
        finally:
            await writer.aclose()

    assert asyncio.run(main()).attempts == 1


def test_a_missing_api_key_is_a_rejection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(WriterRejected, match="no API key"):
        OpenAIWriter(DEFAULT_MODEL)


# -- retries --------------------------------------------------------------------------------------------


def test_429_waits_at_least_retry_after_then_succeeds(server: FakeOpenAI) -> None:
    server.configure(faults=["429"], retry_after_s=1)

    async def job(writer: OpenAIWriter) -> tuple[Answer, int]:
        return await ask(writer, documents()), writer.rate_limited

    answer, rate_limited = run(server, job)
    seen = server.received()
    assert [entry["status"] for entry in seen] == [429, 200]
    assert seen[1]["t"] - seen[0]["t"] >= 1.0  # a lower bound only: slow machines wait longer
    assert answer.attempts == 1 and rate_limited == 1


def test_retry_after_holds_every_new_request_not_just_the_refused_one(server: FakeOpenAI) -> None:
    server.configure(faults=["429"], retry_after_s=1)

    async def job(writer: OpenAIWriter) -> None:
        refused = asyncio.create_task(ask(writer, documents()))
        while not server.received() or server.received()[0]["status"] != 429:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.05)  # the writer has read the 429 by now
        await asyncio.gather(refused, ask(writer, node()), ask(writer, node("fear")))

    run(server, job)
    seen = server.received()
    assert len(seen) == 4
    assert all(entry["t"] - seen[0]["t"] >= 1.0 for entry in seen[1:])


def test_server_errors_and_dropped_connections_are_retried(server: FakeOpenAI) -> None:
    server.configure(faults=["500", "drop", "503", "badbody"])

    async def job(writer: OpenAIWriter) -> tuple[Answer, int, int]:
        return await ask(writer, documents()), writer.calls, writer.retried

    answer, calls, retried = run(server, job)
    assert answer.attempts == 1
    assert (calls, retried) == (5, 4)
    assert server.ledger.server_errors == 2 and server.ledger.dropped == 1


def test_a_request_that_times_out_is_retried(server: FakeOpenAI) -> None:
    server.configure(faults=["hang"], hang_s=1.5)
    answer = run(server, lambda writer: ask(writer, documents()), timeout_s=0.4)
    assert answer.attempts == 1 and len(server.received()) == 2


def test_exhausted_retries_raise_writer_unavailable(server: FakeOpenAI) -> None:
    server.configure(faults=["500", "drop", "500"])
    with pytest.raises(WriterUnavailable) as caught:
        run(server, lambda writer: ask(writer, documents()), max_attempts=3)
    assert "did not answer after 3 attempts: server error (500)" in str(caught.value)
    assert caught.value.exit_code == 75
    assert server.ledger.requests == 3


def test_invalid_replies_are_asked_again_and_every_billed_token_is_counted(server: FakeOpenAI) -> None:
    server.configure(faults=["truncate", "invalid", "empty", "429"], retry_after_s=0)

    async def job(writer: OpenAIWriter) -> tuple[Answer, Usage]:
        return await ask(writer, node(), attempts=4), writer.usage

    answer, total = run(server, job)
    assert answer.attempts == 4
    assert server.ledger.answered == 4 and server.ledger.rate_limited == 1
    assert answer.usage == total == ledger_usage(server)
    last = server.received()[-1]["body"]["messages"]
    assert [m["role"] for m in last] == ["system", "user"] + ["assistant", "user"] * 3
    assert last[3]["content"].startswith("Your reply was invalid: ")
    assert last[6]["content"] == "(empty)"  # an empty reply is sent back as a placeholder


def test_usage_of_a_call_that_never_validates_reaches_the_caller(server: FakeOpenAI) -> None:
    server.configure(faults=["invalid", "invalid"])
    with pytest.raises(InvalidReply) as caught:
        run(server, lambda writer: ask(writer, documents(), attempts=2))
    assert caught.value.usage == ledger_usage(server)


# -- requests the API refuses -------------------------------------------------------------------------


def test_a_rejected_key_fails_fast_and_never_shows_the_key(server: FakeOpenAI) -> None:
    secret = "sk-proj-THIS-KEY-MUST-NOT-LEAK-4242"
    writer_repr = ""

    async def job(writer: OpenAIWriter) -> Answer:
        nonlocal writer_repr
        writer_repr = repr(writer)
        return await ask(writer, documents())

    with pytest.raises(WriterRejected) as caught:
        run(server, job, api_key=secret)
    assert "API key was rejected" in str(caught.value)
    for text in (str(caught.value), repr(caught.value), writer_repr):
        assert secret not in text and "4242" not in text
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert server.ledger.requests == 1  # no retries


def test_a_refused_request_is_scrubbed_of_the_key_the_server_echoed(server: FakeOpenAI) -> None:
    server.configure(faults=["400"])
    with pytest.raises(WriterRejected) as caught:
        run(server, lambda writer: ask(writer, documents()))
    message = str(caught.value)
    assert message.startswith("the API refused the request (400): Invalid request from Bearer ***")
    assert DEFAULT_KEY not in message and DEFAULT_KEY not in repr(caught.value)
    assert server.ledger.requests == 1


def test_an_unknown_model_is_reported_as_such(server: FakeOpenAI) -> None:
    with pytest.raises(WriterRejected, match=r"model not found: gpt-unknown \(404\)"):
        run(server, lambda writer: ask(writer, documents()), model="gpt-unknown")


def test_a_wrong_base_url_is_an_endpoint_not_found(server: FakeOpenAI) -> None:
    async def main() -> Answer:
        writer = OpenAIWriter(DEFAULT_MODEL, api_key=DEFAULT_KEY, base_url=server.url + "/nothing")
        try:
            return await ask(writer, documents())
        finally:
            await writer.aclose()

    with pytest.raises(WriterRejected, match="endpoint was not found"):
        asyncio.run(main())


def test_an_exhausted_quota_is_not_retried(server: FakeOpenAI) -> None:
    server.configure(faults=["quota"])
    with pytest.raises(WriterRejected, match="out of quota"):
        run(server, lambda writer: ask(writer, documents()))
    assert server.ledger.requests == 1


# -- pacing ---------------------------------------------------------------------------------------------


def test_concurrency_halves_on_429s_and_creeps_back_with_successes(server: FakeOpenAI) -> None:
    server.configure(faults=["429", "429", "429"], retry_after_s=0)

    async def job(writer: OpenAIWriter) -> list[int]:
        limits = [writer.concurrency]
        await ask(writer, documents())  # three 429s in a row, each after the last slow-down: 8 -> 1
        limits.append(writer.concurrency)  # then one success: 1 -> 2
        server.configure(latency_ms=30)
        await asyncio.gather(*(ask(writer, documents()) for _ in range(12)))
        limits.append(writer.concurrency)
        server.configure(latency_ms=0)
        for _ in range(40):
            await ask(writer, documents())
        limits.append(writer.concurrency)
        return limits

    limits = run(server, job)
    assert limits[0] == 8 and limits[1] == 2
    assert server.ledger.max_in_flight <= 6  # 12 callers, but the limit was 2 and climbing
    assert limits[1] < limits[2] < limits[3] == 8


def test_a_burst_of_429s_from_one_congestion_halves_once() -> None:
    async def main() -> AdaptivePacer:
        pacer = AdaptivePacer(8)
        tickets = [await pacer.acquire() for _ in range(8)]
        for ticket in tickets:
            pacer.release(ticket, rate_limited=True, hint=0.0)
        return pacer

    pacer = asyncio.run(main())
    assert pacer.limit == 4 and pacer.rate_limited == 8


@pytest.mark.parametrize("mode", ["sliding", "bucket"])
def test_paced_run_against_a_rate_limit_keeps_429s_rare(server: FakeOpenAI, mode: str) -> None:
    # 20 requests per second with OpenAI-style x-ratelimit headers; 16 eager callers for 3 seconds.
    rate, duration = 20, 3.0
    server.configure(rate_limit=rate, rate_window_s=1.0, rate_mode=mode, latency_ms=5)

    async def job(writer: OpenAIWriter) -> None:
        started = time.monotonic()

        async def caller() -> None:
            while time.monotonic() - started < duration:
                await writer.complete(documents(), [])

        await asyncio.gather(*(caller() for _ in range(16)))

    run(server, job, max_attempts=20)
    seen = server.received()
    answered = [entry for entry in seen if entry["status"] == 200 and entry["t"] - seen[0]["t"] <= duration]
    # The sustained rate over the run, which the first full window only helps to reach.
    assert len(answered) >= 0.9 * rate * duration
    assert server.ledger.rate_limited <= 0.05 * server.ledger.requests


# -- the server as a process ----------------------------------------------------------------------------


def test_the_fake_server_runs_as_a_process_and_can_be_killed() -> None:
    async def call(url: str, attempts: int = 6) -> Answer:
        writer = OpenAIWriter(
            DEFAULT_MODEL, api_key=DEFAULT_KEY, base_url=url, backoff_max_s=0.05, max_attempts=attempts
        )
        try:
            return await ask(writer, documents())
        finally:
            await writer.aclose()

    with server_process("--latency-ms", "1") as (process, url):
        state = control(url, faults=["500"])
        assert state["settings"]["faults"] == ["500"]
        assert asyncio.run(call(url)).attempts == 1
        assert control(url)["ledger"]["requests"] == 2
        process.kill()
        process.wait(timeout=5)
        with pytest.raises(WriterUnavailable, match="connection failed"):
            asyncio.run(call(url, attempts=2))


# -- header parsing and prices ------------------------------------------------------------------------


def test_durations_in_rate_limit_headers() -> None:
    assert parse_duration("1s") == 1.0
    assert parse_duration("6m0s") == 360.0
    assert parse_duration("250ms") == pytest.approx(0.25)
    assert parse_duration("1.5s") == 1.5
    assert parse_duration("1h2m3s") == 3723.0
    assert parse_duration("2") == 2.0
    assert (
        parse_duration("soon") is None
        and parse_duration("1s garbage") is None
        and parse_duration(None) is None
    )


def test_retry_hints() -> None:
    now = 1_700_000_000.0
    assert retry_hint({"Retry-After": "3"}) == 3.0
    assert retry_hint({"retry-after": formatdate(now + 30, usegmt=True)}, now=now) == pytest.approx(30, abs=1)
    assert retry_hint({"Retry-After": "2", "retry-after-ms": "1500"}) == 1.5  # same signal, more precise
    assert retry_hint({"x-ratelimit-reset-requests": "6m0s"}) == 360.0  # remaining unknown: honour it
    limits = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "250ms"}
    assert retry_hint({**limits, "Retry-After": "1"}) == 1.0
    roomy = {"x-ratelimit-remaining-tokens": "5000", "x-ratelimit-reset-tokens": "6m0s"}
    assert retry_hint({**limits, **roomy}) == pytest.approx(0.25)  # tokens were not the refused limit
    assert retry_hint({"Retry-After": "whenever"}) is None and retry_hint({}) is None


def test_prices() -> None:
    usage = Usage(prompt=1_000_000, completion=1_000_000, cached=400_000)
    assert cost_usd("gpt-4o-mini", usage) == pytest.approx(0.6 * 0.15 + 0.4 * 0.075 + 0.60)
    assert price_of("gpt-4o-mini-2024-07-18") == price_of("openai/gpt-4o-mini") == price_of(DEFAULT_MODEL)
    assert price_of("gpt-4.1-mini") != price_of("gpt-4.1")
    assert price_of("gpt-4o-audio-preview") is None
    assert cost_usd("my-local-model", usage) is None
    assert cost_usd("my-local-model", usage, (1.0, 0.5, 2.0)) == pytest.approx(0.6 + 0.2 + 2.0)
    assert parse_price(" 0.15, 0.075 ,0.60") == (0.15, 0.075, 0.60)
    for bad in ("0.15,0.60", "a,b,c", "0.1,-1,2", "", "0.1,,2", "nan,1,1"):
        with pytest.raises(ValueError, match="input,cached,output|not negative"):
            parse_price(bad)


def test_node_schema_is_what_the_fake_server_answers_for() -> None:
    # The fake server keys its node behaviour on these property names; fail loudly if they change.
    assert {"narrative", "choices", "ending"} <= set(schemas.node_schema(3)["properties"])


def test_cache_hits_are_read_in_each_provider_dialect() -> None:
    def usage(extra: dict[str, Any]) -> Usage:
        body = {"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": []}
        tokens = {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12, **extra}
        return usage_of(ChatCompletion.model_validate({**body, "usage": tokens}))

    assert usage({"prompt_tokens_details": {"cached_tokens": 5}}) == Usage(10, 2, 5)  # OpenAI
    assert usage({"prompt_cache_hit_tokens": 6, "prompt_cache_miss_tokens": 4}) == Usage(10, 2, 6)  # DeepSeek
    assert usage({"cached_tokens": 3}) == Usage(10, 2, 3)  # Moonshot
    assert usage({"prompt_tokens_details": None}) == Usage(10, 2, 0)
