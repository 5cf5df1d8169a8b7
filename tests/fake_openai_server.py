"""A local OpenAI-compatible chat-completions server for tests: schema-valid replies, faults, rate limits.

It listens on 127.0.0.1 only and answers ``POST /v1/chat/completions`` with a minimal object that
is valid for the request's JSON schema (from ``response_format``, or pasted into the prompt in
json_object mode). Node replies obey the story rules: two distinct choices, or an ending when the
prompt says the node is an ending. It bills tokens into a ledger the tests compare with what the
writer reports.

Faults can be set at runtime, through attributes or ``POST /control``:

* ``faults``: a script consumed one per request ("ok", "429", "quota", "500", "503", "drop",
  "truncate", "invalid", "fence", "empty", "hang", "400", "badbody");
* ``fault_rate``: a fraction per fault, drawn when the script is empty;
* ``rate_limit``/``rate_window_s``/``rate_mode``: N requests per window ("sliding" or "bucket"),
  answering 429 with Retry-After beyond it, and OpenAI's x-ratelimit-* headers unless
  ``ratelimit_headers`` is off; ``token_limit``: N tokens per window likewise, a request costing
  the tokens its answer is billed (prompt and completion, known on arrival as the replies are
  deterministic; OpenAI counts the ``max_tokens`` asked for instead of the completion);
* ``latency_ms``: added to every answer.

The Batch API too: ``POST /v1/files`` (multipart, purpose ``batch``), ``POST /v1/batches``,
``GET /v1/batches`` (the list), ``GET /v1/batches/{id}`` and ``GET /v1/files/{id}/content``;
``batch_create_faults`` scripts the answers to ``POST /v1/batches`` ("ok", "500", "drop": created but
the answer lost). A batch stays ``in_progress`` for
``batch_polls`` polls (or while ``batch_hold`` is set, or when it was created after the first
``batch_hold_after`` batches), then answers every line with the bytes a live
request would get, bills it, and writes the output and error files with their lines shuffled.
``batch_faults`` is a script consumed one per line: "ok", "500" (a line answered 500), "error" (a
line that failed), "expired" (the batch expires with that line unanswered), "loose" (a good reply
with a finish_reason of its own and no ``created``/``object``, as some providers send), or a chat fault
("invalid", "truncate", "empty") applied to that line's reply.

Use it in a thread (``with FakeOpenAI() as server: server.url``), as a pytest fixture
(``fake_openai``), or as a process: ``python tests/fake_openai_server.py --port 0`` prints
``URL http://127.0.0.1:PORT/v1`` on its first line and serves until killed.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import json
import math
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_KEY = "sk-test-fake-0123456789abcdef"
DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "deepseek-chat", "fake-model")
FAULTS = (
    "ok",
    "429",
    "quota",
    "500",
    "503",
    "drop",
    "truncate",
    "invalid",
    "fence",
    "empty",
    "hang",
    "400",
    "badbody",
)
_MAX_BODY = 8 * 1024 * 1024  # bounded: a test server never needs more
_MAX_LOG = 2000  # requests remembered for assertions
_MAX_SLEEP_S = 30.0  # no latency or hang can keep a handler thread longer than this
SETTABLE = (
    "api_key",
    "models",
    "latency_ms",
    "faults",
    "fault_rate",
    "retry_after_s",
    "rate_limit",
    "rate_window_s",
    "rate_mode",
    "ratelimit_headers",
    "token_limit",
    "hang_s",
    "profile",
    "decoder",
    "refuse_keywords",
    "batch_faults",
    "batch_polls",
    "batch_hold",
    "batch_hold_after",
    "batch_create_faults",
    "batch_api",
)
BATCH_FAULTS = ("ok", "500", "error", "expired", "loose", "invalid", "truncate", "empty")
DECODERS = ("helpful", "schema_only")


@dataclass
class Ledger:
    """What the server saw and billed. Billed tokens count every 200 answer that carried usage."""

    requests: int = 0  # chat-completion POSTs received, whatever happened to them
    answered: int = 0  # 200 answers with usage (billed)
    rate_limited: int = 0  # 429s, from faults and from the rate limit
    server_errors: int = 0
    dropped: int = 0
    rejected: int = 0  # 400/401/404
    max_in_flight: int = 0  # most chat requests being handled at once
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0  # as reported to the client: 0 for a profile that reports no cache hits
    cost_usd: float = 0.0  # the usage.cost a profile reports (OpenRouter)
    refused_form: int = 0  # requests refused for their JSON mode, schema keyword or field
    billed_twice: int = 0  # answers billed for a request body that had been billed before (live or batch)
    files_uploaded: int = 0  # POST /v1/files with purpose batch
    batches_created: int = 0
    batch_lines_submitted: int = 0  # lines of every batch created
    batch_lines_billed: int = 0  # batch lines answered with 200 (billed, in the tokens above too)
    batch_lines_failed: int = 0  # batch lines in an error file (failed, expired): not billed
    batch_polls: int = 0  # GET /v1/batches/{id}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Profile:
    """How one provider behaves, as documented (README's provider table says where)."""

    name: str
    formats: tuple[str | None, ...] = (None, "text", "json_object", "json_schema")
    refusal: tuple[int, str] = (400, "")  # the answer to a response_format it does not take
    json_word: bool = False  # json_object needs the word "json" in the messages
    json_word_message: str = "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'."
    strict: bool = (
        False  # json_schema strict rules enforced (OpenAI): no root anyOf, all required, closed objects
    )
    cached: str = "details"  # details | deepseek | top | none: where cached tokens are reported
    cost: bool = False  # usage.cost in USD (OpenRouter)
    key: bool = True  # the Authorization header is checked
    timings: bool = False  # llama-server's "timings" object
    schema_models: tuple[str, ...] = ()  # when set, only these model prefixes take json_schema
    cap_refused_for: tuple[
        str, ...
    ] = ()  # model prefixes that refuse max_tokens (max_completion_tokens only)


PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        Profile("openai", json_word=True, strict=True, cap_refused_for=("o1", "o3", "o4", "gpt-5")),
        Profile(
            "deepseek",
            formats=(None, "text", "json_object"),
            refusal=(400, "This response_format type is unavailable now"),
            json_word=True,
            cached="deepseek",
        ),
        Profile("moonshot", cached="top"),
        Profile(
            "qwen",
            refusal=(
                400,
                "<400> InternalError.Algo.InvalidParameter: The response_format json_schema is not supported by this model",
            ),
            json_word=True,
            schema_models=("qwen-plus", "qwen-flash", "qwen3-max"),
        ),
        Profile(
            "glm",
            formats=(None, "text", "json_object"),
            refusal=(400, "response_format.type json_schema is not supported"),
        ),
        Profile("openrouter", cost=True),
        Profile("ollama", cached="none", key=False),
        Profile(
            "lmstudio",
            formats=(None, "text", "json_schema"),
            refusal=(400, "'response_format.type' must be 'json_schema' or 'text'"),
            cached="none",
            key=False,
        ),
        Profile("vllm", cached="none", key=False),
        Profile("llamacpp", key=False, timings=True),
        Profile(
            "llama-cpp-python",
            formats=(None, "text", "json_object"),
            refusal=(
                500,
                "1 validation error: response_format.type: Input should be 'text' or 'json_object'",
            ),
            cached="none",
            key=False,
        ),
    )
}
OPENROUTER_PRICE = (1.0, 0.25, 2.0)  # the fake's own USD per 1M: input, cached, output


def billed(server: FakeOpenAI) -> dict[str, int]:
    """The tokens the server billed, in the shape the writer reports them (``meta.tokens``)."""
    ledger = server.ledger
    return {
        "prompt": ledger.prompt_tokens,
        "completion": ledger.completion_tokens,
        "cached": ledger.cached_tokens,
        "total": ledger.prompt_tokens + ledger.completion_tokens,
    }


def format_duration(seconds: float) -> str:
    """OpenAI's x-ratelimit-reset-* style: "250ms", "1.5s", "6m0s"."""
    if seconds < 1:
        return f"{max(1, math.ceil(seconds * 1000))}ms"
    if seconds < 60:
        return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:.0f}s"


def _prompt_tokens(body: dict[str, Any]) -> int:
    """A prompt's billed tokens: a token per four characters of messages and schema."""
    messages = body.get("messages") or []
    chars = sum(len(str(m.get("content") or "")) for m in messages if isinstance(m, dict))
    chars += len(json.dumps(body.get("response_format") or {}))
    return max(1, chars // 4)


class RateLimiter:
    """N units per window: "sliding" (a log of the last window) or "bucket" (refills steadily).

    A unit is a request, or a token for a tokens-per-window limit (``take`` with the request's cost).
    """

    def __init__(self, limit: int, window_s: float, mode: str) -> None:
        if limit < 1 or window_s <= 0 or mode not in ("sliding", "bucket"):
            raise ValueError("rate limit needs limit >= 1, window_s > 0, mode sliding|bucket")
        self.limit, self.window_s, self.mode = limit, window_s, mode
        self._log: collections.deque[tuple[float, float]] = collections.deque()
        self._used = 0.0  # the sliding log's total cost
        self._tokens = float(limit)
        self._stamp = time.monotonic()
        self._last = 0.0  # the bucket's last allowed cost, for give_back

    def take(self, now: float, cost: float = 1.0) -> tuple[bool, float, int, float]:
        """(allowed, seconds until one more of ``cost`` is allowed, remaining, seconds until fully reset)."""
        if self.mode == "sliding":
            while self._log and self._log[0][0] <= now - self.window_s:
                self._used -= self._log.popleft()[1]
            allowed = self._used + cost <= self.limit
            if allowed:
                self._log.append((now, cost))
                self._used += cost
            wait, freed = 0.0, 0.0
            for stamp, spent in self._log:  # until enough of the oldest leave for one more
                if self._used - freed + cost <= self.limit:
                    break
                freed += spent
                wait = stamp + self.window_s - now
            reset = (self._log[-1][0] + self.window_s - now) if self._log else 0.0
            return allowed, max(wait, 0.0), int(self.limit - self._used), max(reset, 0.0)
        rate = self.limit / self.window_s
        self._tokens = min(float(self.limit), self._tokens + (now - self._stamp) * rate)
        self._stamp = now
        allowed = self._tokens >= cost
        if allowed:
            self._tokens -= cost
            self._last = cost
        wait = 0.0 if self._tokens >= cost else (cost - self._tokens) / rate
        reset = (self.limit - self._tokens) / rate
        return allowed, wait, int(self._tokens), reset

    def give_back(self) -> None:
        """Undo the last allowed ``take``: another limit refused that request."""
        if self.mode == "sliding":
            if self._log:
                self._used -= self._log.pop()[1]
        else:
            self._tokens = min(float(self.limit), self._tokens + self._last)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up (timeouts, dropped faults) are expected; stderr must not fill up


class FakeOpenAI:
    """The server and its settings; every attribute in SETTABLE may be changed while it runs."""

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_KEY,
        models: tuple[str, ...] | list[str] = DEFAULT_MODELS,
        port: int = 0,
        latency_ms: float = 0.0,
        faults: list[str] | None = None,
        fault_rate: dict[str, float] | None = None,
        retry_after_s: float = 1.0,
        rate_limit: int | None = None,
        rate_window_s: float = 60.0,
        rate_mode: str = "sliding",
        ratelimit_headers: bool = True,
        token_limit: int | None = None,
        hang_s: float = 3.0,
        seed: int = 0,
        profile: str = "openai",
        decoder: str = "helpful",
        refuse_keywords: tuple[str, ...] | list[str] = (),
        batch_faults: list[str] | None = None,
        batch_polls: int = 1,
        batch_hold: bool = False,
        batch_hold_after: int | None = None,
        batch_create_faults: list[str] | None = None,
        batch_api: bool = True,
    ) -> None:
        self.lock = threading.RLock()
        self.batch_api = batch_api  # False: a provider without a Batch API (404 on /v1/files and /v1/batches)
        self.batch_faults: list[str] = list(batch_faults or [])
        self.batch_polls = batch_polls
        self.batch_hold = batch_hold
        self.batch_hold_after = batch_hold_after  # batches created after this many stay in progress
        # One per POST /v1/batches: "ok", "500" (refused, nothing created), "drop" (created, then the
        # connection is dropped before the answer: the client cannot know its batch exists).
        self.batch_create_faults: list[str] = list(batch_create_faults or [])
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self._counter = 0
        self._billed_bodies: collections.Counter[str] = collections.Counter()
        self.api_key = api_key
        self.models = list(models)
        self.latency_ms = latency_ms
        self.faults: list[str] = list(faults or [])
        self.fault_rate: dict[str, float] = dict(fault_rate or {})
        self.retry_after_s = retry_after_s
        self.rate_limit = rate_limit
        self.rate_window_s = rate_window_s
        self.rate_mode = rate_mode
        self.ratelimit_headers = ratelimit_headers
        self.token_limit = token_limit
        self.hang_s = hang_s
        self.profile = profile
        self.decoder = decoder
        self.refuse_keywords = list(refuse_keywords)
        self.configure(profile=profile, decoder=decoder)
        self.configure(faults=self.faults, fault_rate=self.fault_rate, rate_mode=rate_mode)  # validates
        self.ledger = Ledger()
        self.in_flight = 0
        self.log: collections.deque[dict[str, Any]] = collections.deque(maxlen=_MAX_LOG)
        self._random = random.Random(seed)
        self._limiters: dict[str, tuple[tuple[Any, ...], RateLimiter]] = {}
        self._seen_systems: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._stopping = threading.Event()
        self._httpd = _QuietServer(("127.0.0.1", port), _make_handler(self))
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The base URL to give the client (ends in /v1)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeOpenAI:
        # A short poll interval so stop() returns quickly between tests.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def serve_forever(self) -> None:
        try:
            self._httpd.serve_forever()
        finally:
            self._httpd.server_close()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- settings and observations ---------------------------------------------------------------

    def configure(self, **settings: Any) -> None:
        """Change settings at runtime (the same names as the constructor)."""
        with self.lock:
            for name, value in settings.items():
                if name not in SETTABLE:
                    raise ValueError(f"unknown setting {name!r}")
                if name in ("faults", "fault_rate"):
                    bad = [fault for fault in value if fault not in FAULTS]
                    if bad:
                        raise ValueError(f"unknown faults {bad}")
                    value = list(value) if name == "faults" else {k: float(v) for k, v in value.items()}
                if name == "batch_faults":
                    bad = [fault for fault in value if fault not in BATCH_FAULTS]
                    if bad:
                        raise ValueError(f"unknown batch faults {bad}")
                    value = list(value)
                if name == "rate_mode" and value not in ("sliding", "bucket"):
                    raise ValueError('rate_mode must be "sliding" or "bucket"')
                if name == "profile" and value not in PROFILES:
                    raise ValueError(f"unknown profile {value!r}; choose one of {', '.join(PROFILES)}")
                if name == "decoder" and value not in DECODERS:
                    raise ValueError(f"unknown decoder {value!r}; choose one of {', '.join(DECODERS)}")
                setattr(self, name, value)

    def reset_ledger(self) -> None:
        with self.lock:
            self.ledger = Ledger()
            self.log.clear()
            self._billed_bodies.clear()

    def received(self) -> list[dict[str, Any]]:
        """The chat-completion requests seen: arrival time (monotonic), body, status, fault."""
        with self.lock:
            return list(self.log)

    def state(self) -> dict[str, Any]:
        with self.lock:
            settings = {name: getattr(self, name) for name in SETTABLE if name != "api_key"}
            return {"ledger": self.ledger.to_dict(), "settings": settings}

    # -- answering -------------------------------------------------------------------------------

    def _next_fault(self) -> str:
        with self.lock:
            if self.faults:
                return self.faults.pop(0)
            draw = self._random.random()
            for fault, share in self.fault_rate.items():
                if draw < share:
                    return fault
                draw -= share
            return "ok"

    def _rate_check(self, body: dict[str, Any]) -> tuple[str | None, dict[str, str]]:
        """Apply the rate limits; returns (the limit refusing the request or None, headers to send)."""
        with self.lock:
            limits = {"requests": self.rate_limit, "tokens": self.token_limit}
            costs = {"requests": 1.0, "tokens": float(self.token_cost(body)) if self.token_limit else 0.0}
            headers: dict[str, str] = {}
            refused, wait = None, 0.0
            taken: list[RateLimiter] = []
            for kind, limit in limits.items():
                if not limit:
                    self._limiters.pop(kind, None)
                    continue
                key = (limit, self.rate_window_s, self.rate_mode)
                if kind not in self._limiters or self._limiters[kind][0] != key:
                    limiter = RateLimiter(int(limit), float(self.rate_window_s), self.rate_mode)
                    self._limiters[kind] = (key, limiter)
                if refused is not None:
                    break  # refused already: the other limits do not count it
                limiter = self._limiters[kind][1]
                allowed, until, remaining, reset = limiter.take(time.monotonic(), costs[kind])
                if allowed:
                    taken.append(limiter)
                if self.ratelimit_headers:
                    headers |= {
                        f"x-ratelimit-limit-{kind}": str(limit),
                        f"x-ratelimit-remaining-{kind}": str(remaining),
                        f"x-ratelimit-reset-{kind}": format_duration(reset),
                    }
                if not allowed:
                    refused, wait = refused or kind, max(wait, until)
            if refused is not None:
                for limiter in taken:  # a refused request is not counted by any limit
                    limiter.give_back()
            if refused is not None:
                # Retry-After in whole seconds, as HTTP defines it; the precise value rides in
                # retry-after-ms (which OpenAI-style clients read) only with the x-ratelimit headers.
                headers["Retry-After"] = str(max(1, math.ceil(wait)))
                if self.ratelimit_headers:
                    headers["retry-after-ms"] = str(max(1, math.ceil(wait * 1000)))
            return refused, headers

    def _cached_share(self, system: str) -> bool:
        """Providers cache a repeated prompt prefix; the system message is ours."""
        digest = hashlib.sha256(system.encode()).hexdigest()
        with self.lock:
            seen = digest in self._seen_systems
            self._seen_systems[digest] = None
            while len(self._seen_systems) > 512:
                self._seen_systems.popitem(last=False)
            return seen

    def bill(self, body: dict[str, Any], content: str, cap: int | None = None) -> dict[str, Any]:
        """Tokens of one answer, billed to the ledger and reported the way the profile reports them."""
        profile = PROFILES[self.profile]
        messages = body.get("messages") or []
        system = next((str(m.get("content") or "") for m in messages if m.get("role") == "system"), "")
        prompt = _prompt_tokens(body)
        cached = min(prompt, len(system) // 4) if system and self._cached_share(system) else 0
        if profile.cached == "none":
            cached = 0  # a server that reports no cache hits bills (and is compared) without them
        completion = max(1, len(content) // 4)
        if cap is not None:
            completion = min(completion, cap)
        usage: dict[str, Any] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        if profile.cached == "details":
            usage["prompt_tokens_details"] = {"cached_tokens": cached}
        elif profile.cached == "deepseek":
            usage["prompt_cache_hit_tokens"] = cached
            usage["prompt_cache_miss_tokens"] = prompt - cached
        elif profile.cached == "top":
            model = str(body.get("model") or "")
            if model.startswith("moonshot-v1"):
                usage["cached_tokens"] = cached
            else:
                usage["prompt_tokens_details"] = {"cached_tokens": cached}
        cost = 0.0
        if profile.cost:
            rate_in, rate_cached, rate_out = OPENROUTER_PRICE
            cost = round(
                ((prompt - cached) * rate_in + cached * rate_cached + completion * rate_out) / 1e6, 12
            )
            usage["cost"] = cost
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        with self.lock:
            if self._billed_bodies[digest]:
                self.ledger.billed_twice += 1
            self._billed_bodies[digest] += 1
            self.ledger.answered += 1
            self.ledger.prompt_tokens += prompt
            self.ledger.completion_tokens += completion
            self.ledger.cached_tokens += cached
            self.ledger.cost_usd += cost
        return usage

    def refusal(self, body: dict[str, Any], text: str) -> tuple[int, dict[str, Any]] | None:
        """The profile's answer to a request it does not take (format, keyword, field); None = fine."""
        profile = PROFILES[self.profile]
        response_format = body.get("response_format") or {}
        kind = response_format.get("type") if isinstance(response_format, dict) else None
        model = str(body.get("model") or "")
        schema_refused = bool(profile.schema_models) and not model.startswith(profile.schema_models)
        if kind not in profile.formats or (kind == "json_schema" and schema_refused):
            status, message = profile.refusal
            message = message or f"response_format type {kind!r} is not supported"
            return status, _error(message, "invalid_request_error", None, "response_format")
        if kind == "json_object" and profile.json_word and "json" not in text.lower():
            return 400, _error(profile.json_word_message, "invalid_request_error", None, "messages")
        if kind == "json_schema":
            wrapper = response_format.get("json_schema") or {}
            schema = wrapper.get("schema") or {}
            name = wrapper.get("name", "schema")
            for keyword in self.refuse_keywords:
                if _uses_keyword(schema, keyword):
                    message = f"Invalid schema for response_format '{name}': In context=(), '{keyword}' is not permitted."
                    return 400, _error(message, "invalid_request_error", None, "response_format")
            if profile.strict and wrapper.get("strict"):
                problem = strict_problem(schema)
                if problem:
                    message = f"Invalid schema for response_format '{name}': {problem}"
                    return 400, _error(message, "invalid_request_error", None, "response_format")
        if "max_tokens" in body and profile.cap_refused_for and model.startswith(profile.cap_refused_for):
            message = "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead."
            return 400, _error(message, "invalid_request_error", "unsupported_parameter", "max_tokens")
        return None

    def sleep(self, seconds: float) -> None:
        """Interruptible and bounded, so stop() never waits on a sleeping handler."""
        self._stopping.wait(min(max(seconds, 0.0), _MAX_SLEEP_S))

    def _content(self, body: dict[str, Any], fault: str) -> tuple[str | None, str, int | None]:
        """The reply a request gets (content, finish_reason, its output cap), before billing."""
        messages = body["messages"]
        response_format = body.get("response_format") or {}
        schema = None
        if response_format.get("type") == "json_schema":
            schema = (response_format.get("json_schema") or {}).get("schema")
        if schema is None:
            schema = _schema_in_prompt(messages)
        reply = make_reply(schema, messages, self.decoder, body.get("seed"))
        content: str | None = json.dumps(reply, ensure_ascii=False)
        if response_format.get("type") not in ("json_schema", "json_object"):
            content = f"Here is the JSON you asked for:\n```json\n{content}\n```\nI hope it helps."
        finish = "stop"
        cap = body.get("max_completion_tokens", body.get("max_tokens"))
        cap = int(cap) if isinstance(cap, int) and cap > 0 else None
        if cap is not None and content and len(content) // 4 > cap:
            content, finish = content[: cap * 4], "length"  # the server stops at the cap
        if fault == "truncate":
            content, finish = content[: max(1, len(content) // 2)], "length"
        elif fault == "invalid":
            content = json.dumps({"unexpected": True})
        elif fault == "fence":
            content = f"```json\n{content}\n```"
        elif fault == "empty":
            content = None
        return content, finish, cap

    def token_cost(self, body: dict[str, Any]) -> int:
        """The tokens a request's answer is billed (prompt and completion), for a token limit."""
        try:
            content, _finish, cap = self._content(body, "ok")
        except Exception:  # a body the answer cannot be made for: its prompt alone
            content, cap = "", None
        completion = max(1, len(content or "") // 4)
        return _prompt_tokens(body) + (min(completion, cap) if cap is not None else completion)

    def completion(self, body: dict[str, Any], fault: str, completion_id: str) -> dict[str, Any]:
        """The billed chat completion for a request body: the same bytes live or in a batch line."""
        content, finish, cap = self._content(body, fault)
        usage = self.bill(body, content or "", cap)
        completion: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": str(body.get("model")),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "finish_reason": finish,
                    "logprobs": None,
                }
            ],
            "usage": usage,
            "system_fingerprint": "fp_fake",
        }
        if PROFILES[self.profile].timings:
            completion["timings"] = {
                "cache_n": usage.get("prompt_tokens_details", {}).get("cached_tokens", 0)
            }
        return completion

    # -- the Batch API ---------------------------------------------------------------------------

    def add_file(self, purpose: str, filename: str, content: bytes) -> dict[str, Any]:
        with self.lock:
            self._counter += 1
            file_id = f"file-fake{self._counter:06d}"
            self.files[file_id] = content
            if purpose == "batch":
                self.ledger.files_uploaded += 1
        return {
            "id": file_id,
            "object": "file",
            "bytes": len(content),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
        }

    def create_batch(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """POST /v1/batches: the input file is checked line by line, as OpenAI validates it."""
        input_id = str(request.get("input_file_id") or "")
        endpoint = request.get("endpoint")
        if request.get("completion_window") != "24h":
            return 400, _error(
                "completion_window must be 24h", "invalid_request_error", None, "completion_window"
            )
        if endpoint != "/v1/chat/completions":
            return 400, _error(
                f"unsupported endpoint {endpoint!r}", "invalid_request_error", None, "endpoint"
            )
        with self.lock:
            content = self.files.get(input_id)
        if content is None:
            return 404, _error(
                f"No such File object: {input_id}", "invalid_request_error", None, "input_file_id"
            )
        lines: list[dict[str, Any]] = []
        seen: set[str] = set()
        for number, raw in enumerate(content.splitlines(), 1):
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
                if line.get("url") != endpoint or line.get("method") != "POST":
                    raise ValueError("url/method")
                if not isinstance(line.get("body"), dict) or not isinstance(line.get("custom_id"), str):
                    raise ValueError("body/custom_id")
            except (ValueError, AttributeError):
                return 400, _error(
                    f"line {number} of the input file is invalid", "invalid_request_error", None
                )
            if line["custom_id"] in seen:
                return 400, _error(f"duplicate custom_id {line['custom_id']}", "invalid_request_error", None)
            seen.add(line["custom_id"])
            lines.append(line)
        with self.lock:
            self._counter += 1
            batch_id = f"batch_fake{self._counter:06d}"
            self.ledger.batches_created += 1
            self.ledger.batch_lines_submitted += len(lines)
            self.batches[batch_id] = {
                "public": {
                    "id": batch_id,
                    "object": "batch",
                    "endpoint": endpoint,
                    "errors": None,
                    "input_file_id": input_id,
                    "completion_window": "24h",
                    "status": "validating",
                    "output_file_id": None,
                    "error_file_id": None,
                    "created_at": int(time.time()),
                    "expires_at": int(time.time()) + 86400,
                    "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
                    "metadata": request.get("metadata"),
                },
                "lines": lines,
                "polls": 0,
                "ordinal": self.ledger.batches_created,
            }
            return 200, dict(self.batches[batch_id]["public"])

    def poll_batch(self, batch_id: str) -> tuple[int, dict[str, Any]]:
        """GET /v1/batches/{id}: in progress for ``batch_polls`` polls (or while held), then done."""
        with self.lock:
            batch = self.batches.get(batch_id)
            if batch is None:
                return 404, _error(f"No such Batch object: {batch_id}", "invalid_request_error", None)
            self.ledger.batch_polls += 1
            public = batch["public"]
            if public["status"] in ("validating", "in_progress"):
                batch["polls"] += 1
                public["status"] = "in_progress"
                public.setdefault("in_progress_at", int(time.time()))
                held = self.batch_hold or (
                    self.batch_hold_after is not None and batch["ordinal"] > self.batch_hold_after
                )
                if not held and batch["polls"] > self.batch_polls:
                    self._finish(batch)
            return 200, dict(public)

    def _finish(self, batch: dict[str, Any]) -> None:
        """Answer every line (in a shuffled order, as a real batch may), bill them, write the files."""
        public = batch["public"]
        output: list[str] = []
        errors: list[str] = []
        expired = False
        for number, line in enumerate(batch["lines"]):
            fault = self.batch_faults.pop(0) if self.batch_faults else "ok"
            request_id = f"req_fake{public['id'][-6:]}{number:05d}"
            record: dict[str, Any] = {"id": f"batch_req_{request_id}", "custom_id": line["custom_id"]}
            if fault == "expired":
                expired = True
                record.update(
                    response=None,
                    error={
                        "code": "batch_expired",
                        "message": "This request could not be executed before the completion window expired.",
                    },
                )
                errors.append(json.dumps(record))
                continue
            if fault == "error":
                record.update(
                    response=None,
                    error={
                        "code": "server_error",
                        "message": "The server had an error processing this request.",
                    },
                )
                errors.append(json.dumps(record))
                continue
            if fault == "500":
                body = _error("The server had an error processing your request.", "server_error", None)
                record.update(
                    response={"status_code": 500, "request_id": request_id, "body": body}, error=None
                )
                errors.append(json.dumps(record))
                continue
            refused = self.refusal(line["body"], _text_of(line["body"].get("messages") or []))
            if refused is not None:
                status, body = refused
                record.update(
                    response={"status_code": status, "request_id": request_id, "body": body}, error=None
                )
                errors.append(json.dumps(record))
                continue
            completion = self.completion(
                line["body"], "ok" if fault == "loose" else fault, f"chatcmpl-fake-{request_id}"
            )
            if (
                fault == "loose"
            ):  # as some compatible providers answer: their own finish_reason, fields left out
                for choice in completion.get("choices") or []:
                    choice["finish_reason"] = "eos"
                completion.pop("created", None)
                completion.pop("object", None)
            self.ledger.batch_lines_billed += 1
            record.update(
                response={"status_code": 200, "request_id": request_id, "body": completion}, error=None
            )
            output.append(json.dumps(record, ensure_ascii=False))
        self._random.shuffle(output)
        self._random.shuffle(errors)
        if output:
            public["output_file_id"] = self.add_file(
                "batch_output", "output.jsonl", "\n".join(output).encode() + b"\n"
            )["id"]
        if errors:
            public["error_file_id"] = self.add_file(
                "batch_output", "errors.jsonl", "\n".join(errors).encode() + b"\n"
            )["id"]
        self.ledger.batch_lines_failed += len(errors)
        public["request_counts"] = {
            "total": len(batch["lines"]),
            "completed": len(output),
            "failed": len(errors),
        }
        public["status"] = "expired" if expired else "completed"
        public["expired_at" if expired else "completed_at"] = int(time.time())


# -- reply generation --------------------------------------------------------------------------------


def _text_of(messages: list[Any]) -> str:
    return "\n".join(str(m.get("content") or "") for m in messages if isinstance(m, dict))


def _schema_in_prompt(messages: list[Any]) -> dict[str, Any] | None:
    """json_object and text modes: the client pastes the schema into the prompt after "JSON schema"."""
    for message in reversed(messages):
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        text = str(message.get("content") or "")
        at = text.find("JSON schema")
        start = text.find("{", at) if at != -1 else -1
        if start == -1:
            continue
        with contextlib.suppress(ValueError):
            schema, _ = json.JSONDecoder().raw_decode(text[start:])
            if isinstance(schema, dict):
                return schema
    return None


def _allows_null(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    return kind == "null" or (isinstance(kind, list) and "null" in kind)


def _enum_order(values: list[Any]) -> list[Any]:
    """Ending types with the two every plan needs first, so a minimal list of them is a usable one."""
    first = [value for value in ("fear_collapse", "dawn") if value in values]
    return first + [value for value in values if value not in first]


def make_value(schema: dict[str, Any], path: str, salt: str, index: int = 0) -> Any:
    """A small value valid for ``schema`` and usable by the story rules, like a model that follows the prompt.

    The fewest items a usable reply has, distinct texts, beats numbered by position, distinct ending
    types (fear_collapse and dawn first), choices rather than an ending where either is allowed.
    """
    if "anyOf" in schema:
        options = schema["anyOf"]
        chosen = next((o for o in options if "choices" in (o.get("properties") or {})), None)
        chosen = chosen or next((o for o in options if _allows_null(o)), options[0])
        return make_value(chosen, path, salt, index)
    if "enum" in schema:
        values = _enum_order(list(schema["enum"]))
        return values[index % len(values)]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if isinstance(kind, list):
        if "null" in kind:
            return None
        kind = kind[0]
    leaf = path.rsplit(".", 1)[-1]
    if kind == "object":
        props = schema.get("properties") or {}
        return {
            name: make_value(sub, f"{path}.{name}" if path else name, salt, index)
            for name, sub in props.items()
        }
    if kind == "array":
        low = int(schema.get("minItems", 0))
        high = int(schema.get("maxItems", 3))
        wanted = (
            2 if leaf == "choices" else (0 if leaf in ("items", "flags") and "consequences" in path else 3)
        )
        if "minItems" not in schema and "maxItems" in schema and leaf not in ("choices", "items", "flags"):
            wanted = high  # no lower bound sent: like a model, follow the prompt's "one per depth", etc.
        count = max(low, min(high, wanted))
        items = schema.get("items") or {"type": "string"}
        return [make_value(items, f"{path}.{i}", salt, i) for i in range(count)]
    if kind == "string":
        if leaf == "name" and ".flags." in f".{path}":
            return f"flag_{index}_{salt}"
        text = f"{path.replace('.', ' ')} {salt}".strip() or salt
        text = text.ljust(int(schema.get("minLength", 0)), "x")
        if "maxLength" in schema:
            text = text[: int(schema["maxLength"])]
        return text
    if kind in ("integer", "number"):
        low = schema.get("minimum", 0)
        high = schema.get("maximum", low + 1000)
        value = (
            min(max(index, low), high)
            if leaf == "depth"
            else min(max(low, 1 if leaf == "minutes" else 0), high)
        )
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return False
    return None


_WORDS = [
    "lantern",
    "rain",
    "alley",
    "bell",
    "ferry",
    "ghost",
    "mirror",
    "lotus",
    "bridge",
    "temple",
    "ash",
    "river",
    "moon",
    "fog",
    "paper",
    "door",
    "whisper",
    "shadow",
    "tide",
    "crow",
    "jade",
    "silk",
    "drum",
    "salt",
    "ember",
    "well",
    "clock",
    "stone",
]


def random_value(schema: dict[str, Any], rng: random.Random) -> Any:
    """Any value the schema allows, drawn at random: a decoder that honours the schema sent and nothing else.

    Branches, enum values, counts and numbers are drawn uniformly within what the schema states (an
    array without maxItems gets up to 3 more than its minimum); strings are 1-6 random words, like a
    model's short prose, since no decoder bounds string lengths the same way.
    """
    if "anyOf" in schema:
        return random_value(rng.choice(schema["anyOf"]), rng)
    if "enum" in schema:
        return rng.choice(list(schema["enum"]))
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = rng.choice(kind)
    if kind == "object":
        return {name: random_value(sub, rng) for name, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        low = int(schema.get("minItems", 0))
        high = int(schema.get("maxItems", low + 3))
        items = schema.get("items") or {"type": "string"}
        return [random_value(items, rng) for _ in range(rng.randint(low, max(low, high)))]
    if kind == "string":
        return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 6)))
    if kind == "integer":
        return rng.randint(int(schema.get("minimum", -100)), int(schema.get("maximum", 100)))
    if kind == "number":
        return rng.uniform(float(schema.get("minimum", -100)), float(schema.get("maximum", 100)))
    if kind == "boolean":
        return rng.random() < 0.5
    return None


def make_reply(
    schema: dict[str, Any] | None, messages: list[Any], decoder: str = "helpful", seed: Any = None
) -> dict[str, Any]:
    """The reply object for a request: schema-valid, and usable by the story rules for the helpful decoder."""
    if not schema:
        return {}
    blob = json.dumps([messages, seed], sort_keys=True, ensure_ascii=False).encode()
    salt = hashlib.sha256(blob).hexdigest()[:8]
    if decoder == "schema_only":
        return random_value(schema, random.Random(salt))
    return make_value(schema, "", salt)


# -- HTTP --------------------------------------------------------------------------------------------


def _error(message: str, kind: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _uses_keyword(schema: Any, keyword: str) -> bool:
    if isinstance(schema, dict):
        return keyword in schema or any(_uses_keyword(value, keyword) for value in schema.values())
    if isinstance(schema, list):
        return any(_uses_keyword(item, keyword) for item in schema)
    return False


def strict_problem(schema: Any, path: str = "") -> str | None:
    """What OpenAI's strict mode would refuse in a schema (the rules it documents), or None."""
    if not path and "anyOf" in schema:
        return "In context=(), 'anyOf' is not permitted at the root: the root must be an object."
    if isinstance(schema, dict):
        for keyword in (
            "allOf",
            "not",
            "if",
            "then",
            "else",
            "dependentRequired",
            "dependentSchemas",
            "oneOf",
        ):
            if keyword in schema:
                return f"In context=({path}), '{keyword}' is not permitted."
        if schema.get("type") == "object" or "properties" in schema:
            props = schema.get("properties") or {}
            if schema.get("additionalProperties") is not False:
                return (
                    f"In context=({path}), 'additionalProperties' is required to be supplied and to be false."
                )
            missing = [name for name in props if name not in (schema.get("required") or [])]
            if missing:
                return f"In context=({path}), 'required' is required to include every property. Missing '{missing[0]}'."
        for key, value in schema.items():
            if isinstance(value, (dict, list)):
                found = strict_problem(value, f"{path}.{key}" if path else key)
                if found:
                    return found
    if isinstance(schema, list):
        for index, item in enumerate(schema):
            found = strict_problem(item, f"{path}.{index}")
            if found:
                return found
    return None


def _make_handler(server: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real APIs do
        server_version = "fake-openai/1"

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in two writes; without this, Nagle and delayed ACKs add ~40 ms.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass  # quiet: tests read the ledger, not stderr

        def _send(
            self,
            status: int,
            payload: Any,
            headers: dict[str, str] | None = None,
            content_type: str = "application/json",
        ) -> None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                self.close_connection = True  # the client went away (timed out): nothing to do

        def _read_body(self) -> bytes | None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > _MAX_BODY:
                self._send(413, _error("request too large", "invalid_request_error", None))
                self.close_connection = True
                return None
            return self.rfile.read(length) if length else b""

        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            if self.path in ("/control", "/ledger"):
                self._send(200, server.state())
            elif self.path.split("?", 1)[0] == "/v1/batches":
                self._batch_list()
            elif self.path.startswith(("/v1/files/", "/v1/batches/")):
                self._batch_get(self.path.split("?", 1)[0])
            elif self.path == "/v1/models":
                self._send(
                    200, {"object": "list", "data": [{"id": m, "object": "model"} for m in server.models]}
                )
            else:
                self._send(404, _error(f"Invalid URL (GET {self.path})", "invalid_request_error", None))

        def do_POST(self) -> None:  # noqa: N802 - stdlib name
            raw = self._read_body()
            if raw is None:
                return
            if self.path == "/control":
                self._control(raw)
            elif self.path.split("?", 1)[0] == "/v1/chat/completions":
                self._chat(raw)
            elif self.path.split("?", 1)[0] in ("/v1/files", "/v1/batches") and not server.batch_api:
                self._send(404, _error(f"Invalid URL (POST {self.path})", "invalid_request_error", None))
            elif self.path.split("?", 1)[0] == "/v1/files":
                self._upload(raw)
            elif self.path.split("?", 1)[0] == "/v1/batches":
                self._batch_create(raw)
            else:
                self._send(404, _error(f"Invalid URL (POST {self.path})", "invalid_request_error", None))

        def _authorized(self) -> bool:
            if (
                PROFILES[server.profile].key
                and self.headers.get("Authorization", "") != f"Bearer {server.api_key}"
            ):
                self._send(
                    401, _error("Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
                )
                return False
            return True

        def _upload(self, raw: bytes) -> None:
            """POST /v1/files: multipart/form-data with ``purpose`` and ``file``."""
            if not self._authorized():
                return
            from email.parser import BytesParser
            from email.policy import HTTP

            kind = self.headers.get("Content-Type", "")
            message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {kind}\r\n\r\n".encode() + raw)
            fields: dict[str, tuple[str, bytes]] = {}
            if message.is_multipart():
                for part in message.iter_parts():
                    name = part.get_param("name", header="content-disposition")
                    filename = part.get_param("filename", header="content-disposition") or ""
                    fields[str(name)] = (str(filename), part.get_payload(decode=True) or b"")
            if "file" not in fields or "purpose" not in fields:
                self._send(400, _error("file and purpose are required", "invalid_request_error", None))
                return
            purpose = fields["purpose"][1].decode()
            self._send(200, server.add_file(purpose, fields["file"][0], fields["file"][1]))

        def _batch_create(self, raw: bytes) -> None:
            if not self._authorized():
                return
            try:
                request = json.loads(raw)
                if not isinstance(request, dict):
                    raise ValueError("not an object")
            except ValueError:
                self._send(400, _error("Invalid body", "invalid_request_error", None))
                return
            with server.lock:
                fault = server.batch_create_faults.pop(0) if server.batch_create_faults else "ok"
            if fault == "500":
                self._send(
                    500, _error("The server had an error processing your request.", "server_error", None)
                )
                return
            answer = server.create_batch(request)
            if fault == "drop":
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            self._send(*answer)

        def _batch_list(self) -> None:
            """GET /v1/batches: every batch, newest first, in one page."""
            if not self._authorized():
                return
            with server.lock:
                data = [dict(batch["public"]) for batch in reversed(server.batches.values())]
            self._send(
                200,
                {
                    "object": "list",
                    "data": data,
                    "first_id": data[0]["id"] if data else None,
                    "last_id": data[-1]["id"] if data else None,
                    "has_more": False,
                },
            )

        def _batch_get(self, path: str) -> None:
            if not self._authorized():
                return
            parts = path.strip("/").split("/")
            if len(parts) == 3 and parts[1] == "batches":
                self._send(*server.poll_batch(parts[2]))
                return
            if len(parts) == 4 and parts[1] == "files" and parts[3] == "content":
                with server.lock:
                    content = server.files.get(parts[2])
                if content is None:
                    self._send(404, _error(f"No such File object: {parts[2]}", "invalid_request_error", None))
                else:
                    self._send(200, content, content_type="application/octet-stream")
                return
            self._send(404, _error(f"Invalid URL (GET {path})", "invalid_request_error", None))

        def _control(self, raw: bytes) -> None:
            try:
                command = json.loads(raw or b"{}")
                if command.pop("reset_ledger", False):
                    server.reset_ledger()
                server.configure(**command)
            except (ValueError, TypeError) as exc:
                self._send(400, _error(str(exc), "invalid_request_error", None))
                return
            self._send(200, server.state())

        def _chat(self, raw: bytes) -> None:
            arrived = time.monotonic()
            entry: dict[str, Any] = {"t": arrived, "status": None, "fault": None, "body": None}
            with server.lock:
                server.ledger.requests += 1
                server.log.append(entry)
                server.in_flight += 1
                server.ledger.max_in_flight = max(server.ledger.max_in_flight, server.in_flight)
            try:
                status, fault = self._answer(raw, entry)
            finally:
                with server.lock:
                    server.in_flight -= 1
            entry["status"], entry["fault"] = status, fault

        def _reject(self, status: int, payload: dict[str, Any]) -> tuple[int, str]:
            with server.lock:
                server.ledger.rejected += 1
            self._send(status, payload)
            return status, "rejected"

        def _answer(self, raw: bytes, entry: dict[str, Any]) -> tuple[int, str]:
            given = self.headers.get("Authorization", "")
            profile = PROFILES[server.profile]
            if profile.key and given != f"Bearer {server.api_key}":
                # Like OpenAI, the message names the key it got (partly masked); clients must not echo it.
                shown = given.removeprefix("Bearer ")
                shown = shown[:3] + "*" * 6 + shown[-4:] if len(shown) > 8 else "***"
                message = f"Incorrect API key provided: {shown}. You can find your API key in your account."
                return self._reject(401, _error(message, "invalid_request_error", "invalid_api_key"))
            try:
                body = json.loads(raw)
                if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
                    raise ValueError("messages must be a list")
            except ValueError as exc:
                return self._reject(400, _error(f"Invalid body: {exc}", "invalid_request_error", None))
            entry["body"] = body
            entry["seed"] = body.get("seed")
            model = str(body.get("model"))
            if profile.key and model not in server.models:
                message = f"The model `{model}` does not exist or you do not have access to it."
                return self._reject(404, _error(message, "invalid_request_error", "model_not_found"))
            refused = server.refusal(body, _text_of(body["messages"]))
            if refused is not None:
                with server.lock:
                    server.ledger.refused_form += 1
                status, payload = refused
                if status >= 500:
                    with server.lock:
                        server.ledger.server_errors += 1
                    self._send(status, payload)
                    return status, "refused"
                return self._reject(status, payload)[0], "refused"
            limited, rate_headers = server._rate_check(body)
            if limited is not None:
                with server.lock:
                    server.ledger.rate_limited += 1
                message = f"Rate limit reached for {limited}. Please try again later."
                self._send(429, _error(message, limited, "rate_limit_exceeded"), rate_headers)
                return 429, "rate_limit"
            fault = server._next_fault()
            if fault in ("429", "quota"):
                with server.lock:
                    server.ledger.rate_limited += 1
                if fault == "quota":
                    message = "You exceeded your current quota, please check your plan and billing details."
                    self._send(429, _error(message, "insufficient_quota", "insufficient_quota"))
                else:
                    after = server.retry_after_s
                    headers = {"Retry-After": str(int(after)) if float(after).is_integer() else str(after)}
                    message = "Rate limit reached. Please try again later."
                    self._send(429, _error(message, "requests", "rate_limit_exceeded"), headers)
                return 429, fault
            if fault in ("500", "503"):
                with server.lock:
                    server.ledger.server_errors += 1
                self._send(
                    int(fault),
                    _error("The server had an error processing your request.", "server_error", None),
                )
                return int(fault), fault
            if fault == "400":
                # Some servers echo request parts, the key included: clients must scrub what they pass on.
                message = (
                    f"Invalid request from {self.headers.get('Authorization', '')}: unsupported parameter"
                )
                return self._reject(400, _error(message, "invalid_request_error", None))[0], fault
            if fault == "drop":
                with server.lock:
                    server.ledger.dropped += 1
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return 0, fault
            server.sleep(server.hang_s if fault == "hang" else server.latency_ms / 1000)
            if fault == "badbody":
                self._send(200, b'{"id": "chatcmpl-broken", "choices": [{"ind', rate_headers)
                return 200, fault
            completion = server.completion(
                body, fault, f"chatcmpl-fake-{hashlib.sha256(raw).hexdigest()[:12]}"
            )
            self._send(200, completion, rate_headers)
            return 200, fault

    return Handler


# -- a server that never answers ---------------------------------------------------------------------


class SilentServer:
    """Accepts connections on 127.0.0.1 and never answers; records when each was opened and closed."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.1)
        self.port = int(self._socket.getsockname()[1])
        self.accepted: list[float] = []  # monotonic times a connection was accepted
        self.closed: list[float] = []  # monotonic times a client hung up
        self._stopping = threading.Event()
        self._connections: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, name="silent-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._socket.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted.append(time.monotonic())
            self._connections.append(connection)
            threading.Thread(target=self._drain, args=(connection,), daemon=True).start()

    def _drain(self, connection: socket.socket) -> None:
        connection.settimeout(0.1)
        while not self._stopping.is_set():
            try:
                if not connection.recv(65536):
                    break
            except TimeoutError:
                continue
            except OSError:
                break
        self.closed.append(time.monotonic())

    def __enter__(self) -> SilentServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        for connection in self._connections:
            with contextlib.suppress(OSError):
                connection.close()
        self._socket.close()


# -- helpers for tests -------------------------------------------------------------------------------


@contextlib.contextmanager
def running_server(**settings: Any) -> Iterator[FakeOpenAI]:
    """A FakeOpenAI in a background thread for the duration of the block."""
    server = FakeOpenAI(**settings)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def server_process(*args: str, timeout_s: float = 10.0) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """The server as a child process (so a test can kill it); yields (process, base URL)."""
    command = [sys.executable, __file__, "--port", "0", *args]
    # stderr goes to a file, not a pipe: nobody has to drain it while the server runs.
    with tempfile.TemporaryFile(mode="w+") as errors:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True)
        try:
            assert process.stdout is not None
            deadline = time.monotonic() + timeout_s
            line = ""
            while time.monotonic() < deadline and not line.startswith("URL "):
                line = process.stdout.readline()
                if not line and process.poll() is not None:
                    errors.seek(0)
                    raise RuntimeError(f"fake server exited: {errors.read()[-2000:]}")
            if not line.startswith("URL "):
                raise RuntimeError("fake server did not print its URL in time")
            yield process, line.split(" ", 1)[1].strip()
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=5)
            if process.stdout:
                process.stdout.close()


def control(url: str, **command: Any) -> dict[str, Any]:
    """POST /control on a running server (thread or process); returns its state (ledger, settings)."""
    import urllib.request

    root = url.rsplit("/v1", 1)[0]
    request = urllib.request.Request(
        f"{root}/control", data=json.dumps(command).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - 127.0.0.1 only
        return json.loads(answer.read())


try:  # the fixture exists only under pytest; the script itself needs the stdlib alone
    import pytest
except ImportError:  # pragma: no cover
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture
    def fake_openai() -> Iterator[FakeOpenAI]:
        """A running FakeOpenAI with default settings; configure it in the test."""
        with running_server() as server:
            yield server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default=DEFAULT_KEY)
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS), help="comma-separated")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--faults", default="", help="comma-separated script, e.g. 429,500,ok")
    parser.add_argument("--fault-rate", default="", help='JSON, e.g. {"500": 0.1}')
    parser.add_argument("--retry-after", type=float, default=1.0)
    parser.add_argument("--rpm", type=int, default=None, help="rate limit: requests per window")
    parser.add_argument("--tpm", type=int, default=None, help="rate limit: tokens per window")
    parser.add_argument("--window", type=float, default=60.0, help="rate limit window in seconds")
    parser.add_argument("--rate-mode", choices=("sliding", "bucket"), default="sliding")
    parser.add_argument("--no-ratelimit-headers", action="store_true")
    parser.add_argument("--profile", choices=tuple(PROFILES), default="openai")
    parser.add_argument("--decoder", choices=DECODERS, default="helpful")
    parser.add_argument("--refuse-keywords", default="", help="comma-separated schema keywords to refuse")
    parser.add_argument("--batch-polls", type=int, default=1, help="polls a batch stays in progress")
    parser.add_argument("--batch-hold", action="store_true", help="batches stay in progress until released")
    parser.add_argument(
        "--batch-faults", default="", help="comma-separated per-line script, e.g. ok,500,expired"
    )
    args = parser.parse_args(argv)
    server = FakeOpenAI(
        batch_polls=args.batch_polls,
        batch_hold=args.batch_hold,
        batch_faults=[f for f in args.batch_faults.split(",") if f],
        api_key=args.api_key,
        models=[m for m in args.models.split(",") if m],
        port=args.port,
        latency_ms=args.latency_ms,
        faults=[f for f in args.faults.split(",") if f],
        fault_rate=json.loads(args.fault_rate) if args.fault_rate else None,
        retry_after_s=args.retry_after,
        rate_limit=args.rpm,
        token_limit=args.tpm,
        rate_window_s=args.window,
        rate_mode=args.rate_mode,
        ratelimit_headers=not args.no_ratelimit_headers,
        profile=args.profile,
        decoder=args.decoder,
        refuse_keywords=[k for k in args.refuse_keywords.split(",") if k],
    )
    print(f"URL {server.url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
