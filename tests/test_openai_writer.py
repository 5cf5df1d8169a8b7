"""The OpenAI writer over real HTTP to a local fake server: wire forms, negotiation, retries, usage, pacing."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from email.utils import formatdate
from typing import Any, TypeVar

import pytest
from fake_openai_server import (
    DEFAULT_KEY,
    DEFAULT_MODELS,
    FakeOpenAI,
    control,
    running_server,
    server_process,
    strict_problem,
)
from openai.types.chat import ChatCompletion

from ghost_story_factory.errors import InvalidReply, WriterRejected, WriterUnavailable
from ghost_story_factory.writers import prompts
from ghost_story_factory.writers._estimate import sample_plan, sample_story
from ghost_story_factory.writers._wire import wire_form
from ghost_story_factory.writers.base import Answer, Request, Usage, ask, problems_with
from ghost_story_factory.writers.openai_writer import (
    AdaptivePacer,
    OpenAIWriter,
    parse_duration,
    reported_cost,
    retry_hint,
    usage_of,
)
from ghost_story_factory.writers.pricing import (
    DEFAULT_MODEL,
    PRICES,
    TABLE_DATE,
    CostMeter,
    cost_usd,
    parse_price,
    price_of,
)

T = TypeVar("T")
STORY = sample_story("en")
PLAN = sample_plan("en", 10)
CHARACTER = {"name": "Lin", "role": "night guard", "description": "Keeps the depot.", "is_protagonist": True}


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with running_server(models=[*DEFAULT_MODELS, "o4-mini"]) as running:
        yield running


def documents() -> Request:
    return prompts.documents_request("Shanghai", [{"name": "Lin", "role": ""}], "en")


def plan() -> Request:
    return prompts.plan_request(
        city="Shanghai", lang="en", story=STORY, character=CHARACTER, max_depth=10, branching=3
    )


def node(shape: str = "choices", depth: int = 2, arrivals: int = 0) -> Request:
    """A node request of the given shape: "choices", "either" (may end), "fear" or "planned" (must end)."""
    ending = {"fear": "fear_collapse", "planned": "planned"}.get(shape)
    return prompts.node_request(
        city="Shanghai",
        lang="en",
        story=STORY,
        character=CHARACTER,
        plan=PLAN,
        state={
            "scene": STORY["scenes"][0],
            "PR": 10,
            "GR": 0,
            "WF": 0,
            "time": "00:30",
            "flags": {},
            "inventory": [],
        },
        depth=depth,
        max_depth=10,
        branching=3,
        parent={
            "narrative": "The tram doors close.",
            "choice": "Sit down",
            "siblings": [],
            "scene": STORY["scenes"][0],
        },
        arrivals=[
            {"choice": f"Go {i}", "scene": STORY["scenes"][1], "narrative_tail": "..."}
            for i in range(arrivals)
        ],
        ledger={"scenes": [], "items": [], "flags": {}, "truths": []},
        next_truth=None,
        ending=ending,
        planned_endings=PLAN["endings"][:2] if shape in ("either", "planned") else [],
        may_end=shape == "either",
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


def bodies(server: FakeOpenAI) -> list[dict[str, Any]]:
    return [entry["body"] for entry in server.received()]


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
            "schema": wire_form(request, frozenset({"maxLength"})).schema,
        },
    }
    wire = json.dumps(body["response_format"])
    assert "minLength" not in wire and '"minItems": 3' in wire  # counts are sent, string lengths are not
    assert "maxLength" not in wire  # OpenAI's strict mode does not list it; llama-server's decoder gets it
    assert "additionalProperties" in wire and '"required"' in wire
    assert body["messages"] == [
        {"role": "system", "content": request.system},
        {"role": "user", "content": request.prompt},
    ]
    assert body["max_tokens"] == 8192 and "seed" not in body  # a generic server: max_tokens, no seed
    assert calls == 2
    assert second.usage.cached > 0 and first.usage.cached == 0
    assert usage == ledger_usage(server)
    assert usage.prompt == first.usage.prompt + second.usage.prompt


@pytest.mark.parametrize(
    "request_of",
    [
        documents,
        plan,
        lambda: node("choices"),
        lambda: node("either", arrivals=2),
        lambda: node("fear"),
        lambda: node("planned"),
    ],
    ids=["documents", "plan", "choices", "either", "fear", "planned"],
)
def test_every_wire_schema_passes_openais_strict_rules(request_of: Callable[[], Request]) -> None:
    request = request_of()
    wired = wire_form(request, frozenset({"maxLength"})).schema  # as sent to OpenAI (no max_length)
    assert strict_problem(wired) is None
    assert "anyOf" not in wired  # never at the root
    for keyword in ("minLength", "maxLength", "pattern"):
        assert keyword not in json.dumps(wired)


def test_a_node_that_may_end_is_one_outcome_on_the_wire_and_flat_in_the_reply(server: FakeOpenAI) -> None:
    request = node("either")
    answer = run(server, lambda writer: ask(writer, request))
    wired = server.received()[0]["body"]["response_format"]["json_schema"]["schema"]
    assert set(wired["properties"]) == {"narrative", "bridges", "outcome"}
    branches = wired["properties"]["outcome"]["anyOf"]
    assert [set(b["properties"]) for b in branches] == [{"choices"}, {"ending"}]
    assert branches[0]["properties"]["choices"]["minItems"] == 2
    assert set(answer.data) == {"narrative", "bridges", "choices", "ending"}  # the local shape
    assert len(answer.data["choices"]) == 2 and answer.data["ending"] is None


def test_a_node_that_must_end_gets_only_the_allowed_ending_type(server: FakeOpenAI) -> None:
    answer = run(server, lambda writer: ask(writer, node("fear")))
    wired = server.received()[0]["body"]["response_format"]["json_schema"]["schema"]
    assert wired["properties"]["choices"]["maxItems"] == 0
    assert wired["properties"]["ending"]["properties"]["type"]["enum"] == ["fear_collapse"]
    assert answer.data["choices"] == [] and answer.data["ending"]["type"] == "fear_collapse"


def test_choices_name_only_the_story_scenes_and_the_plan_vocabulary() -> None:
    wired = wire_form(node("choices")).schema
    consequences = wired["properties"]["choices"]["items"]["properties"]["consequences"]["properties"]
    assert consequences["scene"]["anyOf"][0]["enum"] == STORY["scenes"]
    assert consequences["flags"]["items"]["properties"]["name"]["enum"] == [f["name"] for f in PLAN["flags"]]
    assert consequences["items"]["items"]["enum"] == [i["name"] for i in PLAN["items"]]
    assert consequences["minutes"] == {"type": "integer", "minimum": 1, "maximum": 60}


def test_a_plan_comes_back_in_the_local_shape_with_depths_and_ordered_windows() -> None:
    request = plan()
    form = wire_form(request)
    beats = form.schema["properties"]["beats"]
    assert "depth" not in beats["items"]["properties"] and beats["minItems"] == beats["maxItems"] == 11
    wired_endings = form.schema["properties"]["endings"]["properties"]
    assert set(wired_endings) == {"fear_collapse", "dawn", "others"}
    window = {"title": "t", "leads_there": "l", "from_depth": 9, "to_depth": 3}
    reply = {
        "role": "guard",
        "description": "d",
        "beats": [{"title": f"b{i}", "summary": "s", "tension": 5} for i in range(11)],
        "endings": {
            "fear_collapse": window,
            "dawn": window,
            "others": [{"type": "escape", **window}, {"type": "escape", **window}],
        },
        "clues": ["a", "b", "c"],
        "flags": [{"name": "Saw The Shadow", "meaning": "m"}, {"name": "saw the shadow", "meaning": "m"}],
        "items": [{"name": "key", "meaning": "m"}, {"name": "key", "meaning": "m"}],
    }
    local = form.to_local(reply)
    data, problems = problems_with(request, json.dumps(local))
    assert problems == [] and data is not None
    assert [b["depth"] for b in data["beats"]] == list(range(11))
    assert [e["type"] for e in data["endings"]] == ["fear_collapse", "dawn", "escape"]
    assert all(e["from_depth"] <= e["to_depth"] for e in data["endings"])
    assert [f["name"] for f in data["flags"]] == ["saw_the_shadow", "saw_the_shadow_2"]


def test_node_replies_from_the_fake_server_pass_the_story_rules(server: FakeOpenAI) -> None:
    async def job(writer: OpenAIWriter) -> list[Answer]:
        return [
            await ask(writer, node()),
            await ask(writer, node("fear")),
            await ask(writer, node("planned")),
        ]

    choices, fear, planned = run(server, job)
    assert len(choices.data["choices"]) == 2 and choices.data["ending"] is None
    assert 1 <= choices.data["choices"][0]["consequences"]["minutes"] <= 60
    assert fear.data["choices"] == [] and fear.data["ending"]["type"] == "fear_collapse"
    assert planned.data["ending"]["type"] in {e["type"] for e in PLAN["endings"][:2]}


def test_object_mode_sends_json_object_and_puts_the_schema_in_the_prompt(server: FakeOpenAI) -> None:
    request = node()
    answer = run(server, lambda writer: ask(writer, request), json_mode="object")
    assert answer.attempts == 1
    body = server.received()[0]["body"]
    assert body["response_format"] == {"type": "json_object"}
    assert "JSON" in body["messages"][1]["content"]  # json_object needs the word in the messages
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
    assert last[3]["content"].startswith("Your reply was cut off at the output limit")  # the truncated one
    assert last[5]["content"].startswith("Your reply was invalid: ")
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
        run(server, lambda writer: ask(writer, documents()), json_mode="schema")
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


def eager_callers(callers: int, duration: float) -> Callable[[OpenAIWriter], Awaitable[None]]:
    """A job: ``callers`` tasks calling the writer back to back for ``duration`` seconds."""

    async def job(writer: OpenAIWriter) -> None:
        started = time.monotonic()

        async def caller() -> None:
            while time.monotonic() - started < duration:
                await writer.complete(documents(), [])

        await asyncio.gather(*(caller() for _ in range(callers)))

    return job


@pytest.mark.parametrize("mode", ["sliding", "bucket"])
def test_paced_run_against_a_rate_limit_keeps_429s_rare(server: FakeOpenAI, mode: str) -> None:
    # 20 requests per second with OpenAI-style x-ratelimit headers; 16 eager callers for 3 seconds.
    rate, duration = 20, 3.0
    server.configure(rate_limit=rate, rate_window_s=1.0, rate_mode=mode, latency_ms=5)

    run(server, eager_callers(16, duration), max_attempts=20)
    seen = server.received()
    answered = [entry for entry in seen if entry["status"] == 200 and entry["t"] - seen[0]["t"] <= duration]
    # The sustained rate over the run, which the first full window only helps to reach.
    assert len(answered) >= 0.9 * rate * duration
    assert server.ledger.rate_limited <= 0.05 * server.ledger.requests


@pytest.mark.parametrize("mode", ["sliding", "bucket"])
def test_paced_run_against_a_token_limit_keeps_429s_rare(server: FakeOpenAI, mode: str) -> None:
    # Tokens for 20 calls per second, counted by the server as each answer's billed tokens.
    calls, duration = 20, 3.0
    run(server, lambda writer: writer.complete(documents(), []))
    per_call = server.ledger.prompt_tokens + server.ledger.completion_tokens
    server.configure(token_limit=calls * per_call, rate_window_s=1.0, rate_mode=mode, latency_ms=5)
    before = len(server.received())

    run(server, eager_callers(16, duration), max_attempts=20)
    seen = server.received()[before:]
    refused = [entry for entry in seen if entry["status"] == 429]
    answered = [entry for entry in seen if entry["status"] == 200 and entry["t"] - seen[0]["t"] <= duration]
    assert len(answered) >= 0.9 * calls * duration
    assert len(answered) <= calls * (duration + 1)  # the limit binds: unpaced, 16 callers do far more
    assert len(refused) <= 0.05 * len(seen)


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
        with pytest.raises(WriterUnavailable, match=f"connection to {url} failed"):
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


def test_cache_hits_are_read_in_each_provider_dialect() -> None:
    def usage(extra: dict[str, Any]) -> Usage:
        body = {"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": []}
        tokens = {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12, **extra}
        return usage_of(ChatCompletion.model_validate({**body, "usage": tokens}))

    assert usage({"prompt_tokens_details": {"cached_tokens": 5}}) == Usage(10, 2, 5)  # OpenAI
    assert usage({"prompt_cache_hit_tokens": 6, "prompt_cache_miss_tokens": 4}) == Usage(10, 2, 6)  # DeepSeek
    assert usage({"cached_tokens": 3}) == Usage(10, 2, 3)  # Moonshot
    assert usage({"prompt_tokens_details": None}) == Usage(10, 2, 0)


# -- negotiation -----------------------------------------------------------------------------------------


def events_of(writer_events: list[tuple[str, dict[str, Any]]], name: str) -> list[dict[str, Any]]:
    return [values for event, values in writer_events if event == name]


def test_a_server_that_refuses_json_schema_gets_json_object_with_the_schema_in_the_prompt(
    server: FakeOpenAI,
) -> None:
    server.configure(profile="deepseek")
    seen: list[tuple[str, dict[str, Any]]] = []

    async def job(writer: OpenAIWriter) -> list[Answer]:
        return [await ask(writer, documents()), await ask(writer, node())]

    answers = run(server, job, on_event=lambda event, **values: seen.append((event, values)))
    assert all(answer.attempts == 1 for answer in answers)
    formats = [body.get("response_format", {}).get("type") for body in bodies(server)]
    assert formats == ["json_schema", "json_object", "json_object"]  # refused once, then settled
    assert server.ledger.refused_form == 1 and server.ledger.answered == 2
    assert events_of(seen, "format") == [
        {"mode": "object", "tried": ["schema", "object"], "preset": "generic", "from_checkpoint": False}
    ]
    assert "json" in bodies(server)[1]["messages"][1]["content"].lower()


def test_a_server_that_refuses_json_object_gets_json_schema(server: FakeOpenAI) -> None:
    server.configure(profile="lmstudio")

    async def job(writer: OpenAIWriter) -> tuple[Answer, str | None, int]:
        return await ask(writer, documents()), writer.negotiated_mode, writer.refused

    answer, mode, refused = run(server, job, provider="glm")  # the glm preset starts from json_object
    assert answer.attempts == 1 and mode == "schema" and refused == 1
    assert [body["response_format"]["type"] for body in bodies(server)] == ["json_object", "json_schema"]


def test_llama_cpp_python_s_500_naming_response_format_is_negotiated_not_retried(server: FakeOpenAI) -> None:
    server.configure(profile="llama-cpp-python")
    answer = run(server, lambda writer: ask(writer, documents()), max_attempts=6)
    assert answer.attempts == 1
    assert [entry["status"] for entry in server.received()] == [500, 200]  # one 500, not six


def test_without_any_json_mode_the_reply_is_cut_out_of_plain_text(server: FakeOpenAI) -> None:
    server.configure(profile="lmstudio")

    answer = run(server, lambda writer: ask(writer, documents()), json_mode="text")
    body = server.received()[0]["body"]
    assert "response_format" not in body and "JSON schema" in body["messages"][1]["content"]
    assert answer.attempts == 1 and answer.data["title"]


def test_a_forced_json_mode_the_server_refuses_stops_at_once_with_its_reason(server: FakeOpenAI) -> None:
    server.configure(profile="deepseek")
    with pytest.raises(WriterRejected, match="This response_format type is unavailable now") as caught:
        run(server, lambda writer: ask(writer, documents()), json_mode="schema", max_attempts=6)
    assert "--json-mode auto" in str(caught.value)
    assert server.ledger.requests == 1


def test_a_refused_schema_keyword_is_dropped_for_the_rest_of_the_run(server: FakeOpenAI) -> None:
    server.configure(refuse_keywords=["minItems"])

    async def job(writer: OpenAIWriter) -> tuple[list[Answer], dict[str, Any]]:
        answers = [await ask(writer, documents()), await ask(writer, node())]
        return answers, writer.checkpoint_meta()

    answers, meta = run(server, job)
    assert all(answer.attempts == 1 for answer in answers)
    sent = [json.dumps(body["response_format"]) for body in bodies(server)]
    assert '"minItems"' in sent[0] and all('"minItems"' not in text for text in sent[1:])
    assert server.ledger.refused_form == 1 and len(sent) == 3
    assert meta == {"json_mode": "schema", "refused_keywords": ["minItems"]}


def test_a_resume_takes_the_stored_mode_and_keywords_and_does_not_negotiate_again(server: FakeOpenAI) -> None:
    server.configure(profile="deepseek", refuse_keywords=["minItems"])
    seen: list[tuple[str, dict[str, Any]]] = []

    async def job(writer: OpenAIWriter) -> Answer:
        writer.resume_from({"json_mode": "object", "refused_keywords": ["minItems"]})
        return await ask(writer, documents())

    run(server, job, on_event=lambda event, **values: seen.append((event, values)))
    assert [body["response_format"]["type"] for body in bodies(server)] == ["json_object"]
    assert server.ledger.refused_form == 0
    assert events_of(seen, "format")[0]["from_checkpoint"] is True


def test_openai_models_that_refuse_max_tokens_get_max_completion_tokens(server: FakeOpenAI) -> None:
    answer = run(
        server, lambda writer: ask(writer, documents()), model="o4-mini"
    )  # generic preset: max_tokens
    assert answer.attempts == 1
    sent = bodies(server)
    assert "max_tokens" in sent[0] and "max_completion_tokens" in sent[1] and "max_tokens" not in sent[1]


def test_the_openai_preset_sends_max_completion_tokens_and_a_seed_that_differs_per_attempt(
    server: FakeOpenAI,
) -> None:
    server.configure(faults=["invalid", "invalid"])
    answer = run(server, lambda writer: ask(writer, node()), provider="openai")
    assert answer.attempts == 3
    sent = bodies(server)
    assert all(body["max_completion_tokens"] == 4096 and "max_tokens" not in body for body in sent)
    seeds = [body["seed"] for body in sent]
    assert len(set(seeds)) == 3
    again = run(server, lambda writer: ask(writer, node()), provider="openai")
    assert again.attempts == 1 and bodies(server)[-1]["seed"] == seeds[0]  # reproducible per request


def test_output_caps_per_call_kind_and_extra_body_reach_the_server(server: FakeOpenAI) -> None:
    async def job(writer: OpenAIWriter) -> None:
        await ask(writer, documents())
        await ask(writer, node())

    run(server, job, output_caps={"node": 1500}, extra_body={"thinking": {"type": "disabled"}})
    first, second = bodies(server)
    assert first["max_tokens"] == 8192 and second["max_tokens"] == 1500
    assert first["thinking"] == second["thinking"] == {"type": "disabled"}


def test_a_reply_cut_at_the_cap_is_reported_as_cut_and_asked_shorter(server: FakeOpenAI) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []

    async def job(writer: OpenAIWriter) -> tuple[Answer, int]:
        return await ask(writer, documents()), writer.cut

    server.configure(faults=["truncate"])
    answer, cut = run(server, job, on_event=lambda e, **v: seen.append((e, v)))
    assert answer is not None and answer.attempts == 2 and cut == 1
    assert events_of(seen, "cut") == [{"cap": 8192, "call": "documents"}]
    assert bodies(server)[-1]["messages"][-1]["content"].startswith(
        "Your reply was cut off at the output limit (8192"
    )
    assert answer.usage == ledger_usage(server)


def test_the_server_stops_at_a_small_cap_and_the_writer_says_so(server: FakeOpenAI) -> None:
    with pytest.raises(InvalidReply) as caught:
        run(server, lambda writer: ask(writer, documents(), attempts=2), output_caps={"documents": 20})
    assert caught.value.usage == ledger_usage(server)
    assert all(body["max_tokens"] == 20 for body in bodies(server))


def test_a_prompt_that_cannot_fit_the_context_is_refused_before_any_request(server: FakeOpenAI) -> None:
    with pytest.raises(WriterRejected, match="--context-tokens"):
        run(server, lambda writer: ask(writer, plan()), context_tokens=900)
    assert server.ledger.requests == 0
    run(server, lambda writer: ask(writer, documents()), context_tokens=4000)
    assert 0 < bodies(server)[-1]["max_tokens"] < 4000  # the cap shrinks to the room left


# -- a voice while waiting -------------------------------------------------------------------------------


def test_every_retry_is_announced_with_attempt_cause_and_wait(server: FakeOpenAI) -> None:
    server.configure(faults=["500", "hang"], hang_s=1.0)
    seen: list[tuple[str, dict[str, Any]]] = []
    run(server, lambda w: ask(w, documents()), timeout_s=0.3, on_event=lambda e, **v: seen.append((e, v)))
    retries = events_of(seen, "retry")
    assert [(r["attempt"], r["of"]) for r in retries] == [(2, 6), (3, 6)]
    assert retries[0]["cause"] == "server error (500)"
    assert retries[1]["cause"] == f"timed out after 0.3s waiting for {server.url}"
    assert all(r["wait"] >= 0 for r in retries)


def test_a_connection_failure_names_the_url_tried_and_never_the_key() -> None:
    with running_server() as closed:
        url = closed.url
    secret = "sk-proj-NEVER-SHOWN-0123456789"
    seen: list[tuple[str, dict[str, Any]]] = []

    async def main() -> Answer:
        writer = OpenAIWriter(
            DEFAULT_MODEL,
            api_key=secret,
            base_url=url,
            max_attempts=2,
            backoff_max_s=0.05,
            on_event=lambda e, **v: seen.append((e, v)),
        )
        try:
            return await ask(writer, documents())
        finally:
            await writer.aclose()

    with pytest.raises(WriterUnavailable) as caught:
        asyncio.run(main())
    assert f"connection to {url} failed" in str(caught.value)
    assert secret not in str(caught.value) + repr(seen) and "NEVER-SHOWN" not in str(caught.value)
    assert events_of(seen, "retry")[0]["cause"].startswith(f"connection to {url} failed")


# -- money -----------------------------------------------------------------------------------------------


def test_openrouter_reports_the_cost_and_that_figure_is_used(server: FakeOpenAI) -> None:
    server.configure(profile="openrouter", models=["some/unpriced-model"])
    meter = CostMeter("some/unpriced-model")

    async def job(writer: OpenAIWriter) -> tuple[float, Usage]:
        writer.on_usage = meter.note
        await ask(writer, documents())
        await ask(writer, documents())
        return writer.reported_cost, writer.usage

    reported, usage = run(server, job, provider="openrouter", model="some/unpriced-model")
    assert reported == pytest.approx(server.ledger.cost_usd) and reported > 0
    assert meter(usage) == pytest.approx(server.ledger.cost_usd)
    assert all(body["provider"] == {"require_parameters": True} for body in bodies(server))


def test_the_cost_meter_never_counts_an_unknown_price_as_zero() -> None:
    usage = Usage(1000, 500, 0)
    assert CostMeter("my-local-model")(usage) is None
    assert CostMeter("my-local-model", free=True)(usage) == 0.0
    assert CostMeter("my-local-model", (1.0, 0.5, 2.0))(usage) == pytest.approx(0.002)
    assert CostMeter("gpt-4o-mini")(usage) == cost_usd("gpt-4o-mini", usage)
    meter = CostMeter("x")
    meter.note(usage, 0.01)
    assert meter(usage) == 0.01 and meter(Usage(2000, 1000, 0)) == pytest.approx(0.02)


def test_the_price_table_is_dated_and_says_where_each_price_came_from() -> None:
    assert TABLE_DATE
    for model, price in PRICES.items():
        assert price.source, model
        assert 0 <= price.cached <= price.input <= price.output * 10, model
    for model in ("deepseek-chat", "kimi-k2.6", "glm-4.5-air", "qwen-plus", "gpt-5-mini"):
        assert price_of(model) is not None, model


def test_reported_cost_is_read_from_the_usage_block() -> None:
    body = {"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": []}
    tokens = {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}
    assert (
        reported_cost(ChatCompletion.model_validate({**body, "usage": {**tokens, "cost": 0.0012}})) == 0.0012
    )
    assert reported_cost(ChatCompletion.model_validate({**body, "usage": tokens})) is None


def test_llama_servers_decoder_gets_the_maximum_lengths_others_do_not(server: FakeOpenAI) -> None:
    """llama-server honours maxLength (a looping small model is cut there): its preset sends it."""
    request = documents()

    async def job(writer: OpenAIWriter) -> Answer:
        return await ask(writer, request)

    run(server, job, provider="llamacpp")
    wire = json.dumps(server.received()[-1]["body"]["response_format"])
    assert '"maxLength": 1500' in wire and "minLength" not in wire
    run(server, job, provider="openai")
    assert "maxLength" not in json.dumps(server.received()[-1]["body"]["response_format"])
