"""The real writer: sends requests to an OpenAI-compatible Chat Completions API.

It only transports: :func:`~.base.ask` validates replies and asks again. This module owns what
happens on the wire:

* the request: the wire form of the schema (:mod:`._wire`), the JSON mode, an output cap in the
  field the provider expects, a per-attempt ``seed`` where accepted, the user's ``extra_body``;
* negotiation (``json_mode="auto"``): json_schema first (or the preset's mode), json_object with
  the schema in the prompt when the server refuses it, plain text as a last resort; a schema
  keyword the server refuses is dropped for the rest of the run; refused calls cost no tokens;
* one retry layer (tenacity, the SDK's own retries are off) with a line per retry through
  ``on_event``; errors turned into :class:`WriterUnavailable` (rerun later) or
  :class:`WriterRejected` (fix the settings, with the server's own reason);
* token usage of every billed reply, and an adaptive pacer (:mod:`._pacing`).

The API key never appears in an error message, a repr or a log line.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

import openai
import orjson
from openai.types.chat import ChatCompletion
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_random_exponential

from ..errors import WriterError, WriterRejected, WriterUnavailable
from ..text import clean_text
from ._pacing import MAX_WAIT_S, AdaptivePacer, Ticket, parse_duration, retry_hint
from ._secrets import scrub_message
from ._wire import WireForm, estimate_tokens, refused_keyword, wire_form
from .base import Reply, Request, Retry, Usage
from .pricing import DEFAULT_MODEL
from .providers import GENERIC, PRESETS, Preset, guess, preset

__all__ = [
    "DEFAULT_CAPS",
    "MAX_WAIT_S",
    "AdaptivePacer",
    "OpenAIWriter",
    "Ticket",
    "parse_duration",
    "reported_cost",
    "retry_hint",
    "usage_of",
]

log = logging.getLogger(__name__)

JsonMode = Literal["auto", "schema", "object", "text"]
MODES = ("schema", "object", "text")
# Output caps per call kind: generous for real models (a Chinese node is ~600 tokens, a plan of
# depth 20 ~3,000), small enough that a looping model is cut in time rather than filling a context.
DEFAULT_CAPS = {"documents": 8192, "characters": 2048, "plan": 8192, "node": 4096}
_MIN_ROOM = {"documents": 1024, "characters": 256, "plan": 1024, "node": 512}
_CAP_FIELDS = ("max_completion_tokens", "max_tokens")
_MAX_NEGOTIATION = 16  # refusals one call may adapt to before we give up

_INVALID = "Your reply was invalid: {error}. Reply again with one JSON object matching the schema."
_CUT = (
    "Your reply was cut off at the output limit ({cap} tokens) before the JSON object was complete. "
    "Reply again with the whole JSON object, shorter: keep every text brief."
)
_SCHEMA_IN_PROMPT = "\n\nReply with one JSON object only, no other text, matching this JSON schema:\n"
_TEXT_IN_PROMPT = (
    "\n\nReply with one JSON object only (JSON, no prose, no code fence), matching this JSON schema:\n"
)

Events = Callable[..., None]


class _Transient(Exception):
    """A failure worth another attempt; ``hint`` is the server's requested pause, if any."""

    def __init__(self, cause: str, hint: float | None = None) -> None:
        super().__init__(cause)
        self.cause = cause
        self.hint = hint


class _Refused(Exception):
    """The server refused a part of the request we can change: ``what`` is format, keyword, cap or seed."""

    def __init__(self, what: str, reason: str, keyword: str | None = None, mode: str | None = None) -> None:
        super().__init__(reason)
        self.what = what
        self.reason = reason
        self.keyword = keyword
        self.mode = mode


def _caps(value: Mapping[str, int] | int | None) -> dict[str, int]:
    caps = dict(DEFAULT_CAPS)
    if isinstance(value, int):
        caps = dict.fromkeys(caps, value)
    elif value:
        caps.update({kind: int(cap) for kind, cap in value.items()})
    return caps


class OpenAIWriter:
    """A :class:`~.base.Writer` over any OpenAI-compatible Chat Completions endpoint.

    Hooks for the caller: ``on_event(kind, **values)`` hears "retry" (attempt, of, cause, wait),
    "format" (mode, tried, preset), "refused" (what, reason) and "cut" (cap, call: the call kind);
    :attr:`negotiated_mode` and :attr:`refused_keywords` are what a resume should pass back in
    (``negotiated_mode=``, ``refused_keywords=``) so it does not negotiate again.
    """

    name = "openai"

    def __init__(
        self,
        model: str | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        json_mode: JsonMode = "auto",
        timeout_s: float = 120.0,
        max_attempts: int = 6,
        max_concurrency: int = 8,
        backoff_max_s: float = 60.0,
        provider: Preset | str | None = None,
        output_caps: Mapping[str, int] | int | None = None,
        extra_body: Mapping[str, Any] | None = None,
        context_tokens: int | None = None,
        negotiated_mode: str | None = None,
        refused_keywords: tuple[str, ...] | frozenset[str] = (),
        on_event: Events | None = None,
        on_usage: Callable[[Usage, float | None], None] | None = None,
    ) -> None:
        if json_mode not in ("auto", *MODES):
            raise ValueError(f'json_mode must be "auto", "schema", "object" or "text", not {json_mode!r}')
        chosen = preset(provider) if isinstance(provider, str) else provider
        if isinstance(provider, str) and chosen is None:
            raise ValueError(f"unknown provider {provider!r}; choose one of {', '.join(PRESETS)}")
        try:
            # SDK retries off: ours are the only retry layer, so attempts and pacing are counted once.
            self._client = openai.AsyncOpenAI(
                api_key=api_key,
                base_url=base_url or (chosen.base_url if chosen else None),
                max_retries=0,
                timeout=float(timeout_s),
            )
        except openai.OpenAIError:
            raise WriterRejected("no API key: set OPENAI_API_KEY") from None
        self.preset: Preset = chosen or guess(str(self._client.base_url)) or GENERIC
        self.model = model or self.preset.model or DEFAULT_MODEL
        self.json_mode: JsonMode = json_mode
        self.timeout_s = float(timeout_s)
        self.max_attempts = max(1, int(max_attempts))
        self.backoff_max_s = float(backoff_max_s)
        self.output_caps = _caps(output_caps)
        self.cap_field: str | None = self.preset.cap_field
        self.extra_body = {**self.preset.extra_body, **dict(extra_body or {})}
        self.context_tokens = context_tokens
        self.seed_accepted = self.preset.seed
        self.on_event = on_event
        self.on_usage = on_usage
        if json_mode == "auto":
            start = negotiated_mode if negotiated_mode in MODES else self.preset.json_mode
            self.mode = start
            self._settled = negotiated_mode in MODES
        else:
            self.mode = json_mode
            self._settled = True
        self._from_checkpoint = json_mode == "auto" and self._settled
        self._tried: list[str] = [self.mode]
        self._announced = False
        self._refused: set[str] = set(refused_keywords)
        self._probe = asyncio.Lock()  # while the JSON mode is unknown, one request at a time finds it
        self._secret = str(self._client.api_key or "")
        self._backoff = wait_random_exponential(
            multiplier=min(0.5, self.backoff_max_s), max=self.backoff_max_s
        )
        self.pacer = AdaptivePacer(max_concurrency)
        self.calls = 0  # HTTP requests sent, every attempt
        self.retried = 0  # attempts that failed and were tried again
        self.refused = 0  # requests the server refused for their form (format, keyword, field): no tokens
        self.cut = 0  # replies cut at the output cap
        self.usage = Usage()  # every billed reply, valid or not
        self.reported_cost = 0.0  # USD the provider stated for its replies (OpenRouter's usage.cost)
        self.largest_prompt = 0  # the most prompt tokens one billed request had
        self.largest_prompt_kind = ""
        self._cut_caps: collections.OrderedDict[str, int] = collections.OrderedDict()
        self._raw: collections.OrderedDict[str, str] = collections.OrderedDict()

    # -- public --

    @property
    def negotiated_mode(self) -> str | None:
        """The JSON mode in use once a request has succeeded with it (None while still unknown)."""
        return self.mode if self._settled else None

    @property
    def refused_keywords(self) -> frozenset[str]:
        """Schema keywords the server refused; they are left out of every wire schema from then on."""
        return frozenset(self._refused)

    def checkpoint_meta(self) -> dict[str, Any]:
        """What a checkpoint should keep so a resume does not negotiate again (see :meth:`resume_from`)."""
        return {"json_mode": self.negotiated_mode, "refused_keywords": sorted(self._refused)}

    def resume_from(self, meta: Mapping[str, Any]) -> None:
        """Take the JSON mode and refused keywords an earlier run stored (``checkpoint_meta``'s keys)."""
        self._refused |= {str(k) for k in meta.get("refused_keywords") or () if isinstance(k, str)}
        mode = meta.get("json_mode")
        if self.json_mode == "auto" and mode in MODES and not self._announced:
            self.mode, self._settled, self._from_checkpoint, self._tried = mode, True, True, [mode]

    @property
    def concurrency(self) -> int:
        """The pacer's current limit on requests in flight."""
        return self.pacer.limit

    @property
    def in_flight(self) -> int:
        return self.pacer.in_flight

    @property
    def rate_limited(self) -> int:
        """429 answers received so far."""
        return self.pacer.rate_limited

    @property
    def base_url(self) -> str:
        """The base URL, without credentials (userinfo and query are dropped)."""
        url = self._client.base_url
        return f"{url.scheme}://{url.host}{f':{url.port}' if url.port else ''}{url.path}".rstrip("/")

    def stats(self) -> dict[str, Any]:
        """Counters for progress output: calls, retries, refusals, usage and the pacer's state."""
        return {
            "calls": self.calls,
            "retried": self.retried,
            "refused": self.refused,
            "cut": self.cut,
            "json_mode": self.negotiated_mode,
            "refused_keywords": sorted(self._refused),
            "largest_prompt": self.largest_prompt,
            "usage": self.usage.to_dict(),
            **self.pacer.snapshot(),
        }

    def __repr__(self) -> str:
        return f"OpenAIWriter(model={self.model!r}, base_url={self.base_url!r}, json_mode={self.json_mode!r})"

    async def aclose(self) -> None:
        await self._client.close()

    def cap_for(self, kind: str) -> int:
        return int(self.output_caps.get(kind, DEFAULT_CAPS["node"]))

    async def complete(self, request: Request, retries: list[Retry]) -> Reply:
        """One reply to ``request``; transport failures are retried, invalid content is returned as is."""
        last = ""
        for _ in range(_MAX_NEGOTIATION):
            try:
                if not self._settled:
                    async with self._probe:
                        if not self._settled:  # the first reply settles it: the others then go at once
                            return await self._complete_once(request, retries)
                return await self._complete_once(request, retries)
            except _Refused as refusal:
                last = refusal.reason
                self._adapt(refusal)
        raise WriterRejected(f"the API refused every form of the request we can send: {last}")

    # -- one request, with its retries --

    async def _complete_once(self, request: Request, retries: list[Retry]) -> Reply:
        mode = self.mode
        local_only = frozenset() if self.preset.max_length else frozenset({"maxLength"})
        form = wire_form(request, frozenset(self._refused) | local_only)
        arguments = self._arguments(request, retries, form, mode)
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
                    return await self._send(request, arguments, form, mode, spent)
        except _Transient as exc:
            error = WriterUnavailable(
                f"the API did not answer after {self.max_attempts} attempt{'' if self.max_attempts == 1 else 's'}: {exc.cause}"
            )
            error.usage = spent
            raise error from None
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    async def _send(
        self, request: Request, arguments: dict[str, Any], form: WireForm, mode: str, spent: Usage
    ) -> Reply:
        ticket = await self.pacer.acquire()
        self.calls += 1
        try:
            raw = await self._client.chat.completions.with_raw_response.create(**arguments)
        except openai.APIError as exc:
            failure, rate_limited = self._failure(exc, arguments, mode)
            headers = exc.response.headers if isinstance(exc, openai.APIStatusError) else None
            hint = failure.hint if isinstance(failure, _Transient) else None
            self.pacer.release(ticket, rate_limited=rate_limited, hint=hint, headers=headers)
            if isinstance(failure, _Refused):
                self.refused += 1
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
        cost = reported_cost(completion)
        self.usage.add(usage)
        spent.add(usage)
        if cost is not None:
            self.reported_cost += cost
        if self.on_usage is not None:
            self.on_usage(usage, cost)
        self.pacer.note_tokens(usage.total)
        if usage.prompt > self.largest_prompt:
            self.largest_prompt, self.largest_prompt_kind = usage.prompt, request.kind
        self._settle(mode)
        choice = completion.choices[0] if completion.choices else None
        message = choice.message if choice else None
        # No content (a refusal, an empty choice) is an invalid reply: ask() says so and asks again.
        text = message.content if message and message.content else ""
        if choice is not None and choice.finish_reason == "length":
            self.cut += 1
            cap = int(arguments.get(self.cap_field or "", 0) or 0)
            self._remember(self._cut_caps, text[:4000], cap)
            self._event("cut", cap=cap, call=request.kind)
            return Reply(
                text=text, usage=usage, problem=f"the reply was cut off at the output cap ({cap} tokens)"
            )
        return Reply(text=self._to_local(text, form, mode), usage=usage)

    def _to_local(self, text: str, form: WireForm, mode: str) -> str:
        """The reply in the local shape; anything that does not parse is passed on as it came."""
        if form.shape == "flat" or mode != "schema" or not text.strip():
            return text
        try:
            # cleaned first, like every reply: a lone surrogate (\ud800) would make the whole of it unparseable
            data = orjson.loads(clean_text(text))
        except orjson.JSONDecodeError:
            return text
        local = orjson.dumps(form.to_local(data)).decode()
        self._remember(self._raw, local[:4000], text)
        return local

    @staticmethod
    def _remember(store: collections.OrderedDict[str, Any], key: str, value: Any) -> None:
        store[key] = value
        while len(store) > 512:
            store.popitem(last=False)

    # -- negotiation --

    def _settle(self, mode: str) -> None:
        if self._settled and self._announced:
            return
        self._settled = True
        if self.json_mode == "auto" and not self._announced:
            self._announced = True
            self._event(
                "format",
                mode=mode,
                tried=list(self._tried),
                preset=self.preset.name,
                from_checkpoint=self._from_checkpoint,
            )

    def _adapt(self, refusal: _Refused) -> None:
        """Change the request so the server can take it, or raise when nothing is left to change."""
        what = {
            "keyword": f"schema keyword {refusal.keyword!r}",
            "format": f"JSON mode {refusal.mode}",
            "cap": f"output cap field {self.cap_field}",
            "seed": "seed",
        }.get(refusal.what, refusal.what)
        self._event("refused", what=what, reason=refusal.reason)
        if refusal.what == "keyword" and refusal.keyword:
            self._refused.add(refusal.keyword)
            return
        if refusal.what == "seed":
            self.seed_accepted = False
            return
        if refusal.what == "cap":
            other = next(f for f in _CAP_FIELDS if f != self.cap_field)
            self.cap_field = other
            return
        if refusal.mode is not None and refusal.mode != self.mode:
            return  # another request already moved on from that mode
        untried = [mode for mode in (self.preset.json_mode, *MODES) if mode not in self._tried]
        if not untried:
            raise WriterRejected(
                f"the API refused every JSON mode (tried {', '.join(self._tried)}): {refusal.reason}"
            )
        self.mode = untried[0]
        self._tried.append(self.mode)

    # -- the request --

    def _arguments(self, request: Request, retries: list[Retry], form: WireForm, mode: str) -> dict[str, Any]:
        prompt = request.prompt
        arguments: dict[str, Any] = {"model": self.model}
        if mode == "schema":
            arguments["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": request.schema_name, "strict": True, "schema": form.schema},
            }
        elif mode == "object":
            # The word JSON is in the prompt, as OpenAI and DeepSeek require for json_object.
            arguments["response_format"] = {"type": "json_object"}
            prompt += _SCHEMA_IN_PROMPT + orjson.dumps(request.schema).decode()
        else:
            prompt += _TEXT_IN_PROMPT + orjson.dumps(request.schema).decode()
        # System first and unchanged across calls, so providers can serve it from their prompt cache.
        messages: list[dict[str, str]] = [
            {"role": "system", "content": request.system},
            {"role": "user", "content": prompt},
        ]
        for retry in retries:
            sent = self._raw.get(retry.reply, retry.reply)
            # Some compatible servers refuse an empty assistant message.
            messages.append({"role": "assistant", "content": sent if sent.strip() else "(empty)"})
            cap = self._cut_caps.get(retry.reply)
            error = _CUT.format(cap=cap) if cap is not None else _INVALID.format(error=retry.error)
            messages.append({"role": "user", "content": error})
        arguments["messages"] = messages
        cap = self._fit(request, messages, arguments.get("response_format"))
        if self.cap_field and cap:
            arguments[self.cap_field] = cap
        if self.seed_accepted:
            # Differs per attempt, so a deterministic server does not send the same bytes again.
            digest = hashlib.sha256(f"{request.key()}:{len(retries)}".encode()).digest()
            arguments["seed"] = int.from_bytes(digest[:4], "big") & 0x7FFFFFFF
        if self.extra_body:
            arguments["extra_body"] = dict(self.extra_body)
        return arguments

    def _fit(self, request: Request, messages: list[dict[str, str]], response_format: Any) -> int:
        """The output cap for this request, within ``context_tokens`` when the user gave one."""
        cap = self.cap_for(request.kind)
        if not self.context_tokens:
            return cap
        prompt = prompt_tokens(messages, response_format)
        room = self.context_tokens - prompt
        need = _MIN_ROOM.get(request.kind, 512)
        if room < need:
            raise WriterRejected(
                f"a {request.kind} prompt of about {prompt} tokens leaves {max(room, 0)} of the "
                f"{self.context_tokens}-token context (--context-tokens) for the reply, less than the "
                f"{need} it needs: give the server a larger context, or lower --max-depth"
            )
        return min(cap, room) if cap else room

    # -- failures --

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
        cause = getattr(exc, "cause", str(exc))
        log.debug("attempt %d failed (%s); retrying in %.2fs", state.attempt_number, cause, sleep)
        self._event("retry", attempt=state.attempt_number + 1, of=self.max_attempts, cause=cause, wait=sleep)

    def _event(self, event: str, /, **values: Any) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event, **values)
        except Exception:  # a broken screen must never stop a paid call
            log.exception("on_event(%s) failed", event)

    def _failure(self, exc: openai.APIError, arguments: dict[str, Any], mode: str) -> tuple[Exception, bool]:
        """The exception to raise for an SDK error, and whether it was a rate limit."""
        if isinstance(exc, openai.APITimeoutError):
            return _Transient(f"timed out after {self.timeout_s:g}s waiting for {self.base_url}"), False
        if isinstance(exc, openai.APIConnectionError):
            cause = type(exc.__cause__).__name__ if exc.__cause__ else "no response"
            return _Transient(f"connection to {self.base_url} failed ({cause})"), False
        if not isinstance(exc, openai.APIStatusError):
            return _Transient(f"bad response: {self._short(exc)}"), False
        status = exc.status_code
        code = f"{exc.code or ''} {exc.type or ''}"
        reason = self._short(exc)
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
            return WriterRejected(f"the API key was rejected (401) by {self.base_url}: check the key"), False
        if status == 402:
            return WriterRejected(f"the API account has no credit left (402): {reason}"), False
        if status == 403:
            return WriterRejected(f"access denied (403): {reason}"), False
        if status == 404:
            if "model" in code.lower() or "model" in reason.lower():
                return WriterRejected(f"model not found: {self.model} (404)"), False
            return WriterRejected(
                f"the API endpoint was not found (404): check the base URL {self.base_url}"
            ), False
        configuration = self._configuration(status, reason, exc, arguments, mode)
        if configuration is not None:
            return configuration, False
        if status in (408, 409) or status >= 500:
            return _Transient(f"server error ({status})"), False
        return WriterRejected(f"the API refused the request ({status}): {reason}"), False

    def _configuration(
        self, status: int, reason: str, exc: openai.APIStatusError, arguments: dict[str, Any], mode: str
    ) -> Exception | None:
        """A refusal naming a request field: adapt to it where we can, else stop with the server's reason."""
        if status < 400 or status in (408, 409, 429) or (status >= 500 and not _names_field(reason)):
            return None
        lowered = reason.lower()
        body = exc.body if isinstance(exc.body, dict) else {}
        param = str(body.get("param") or "")
        names_format = "response_format" in lowered or "json_schema" in lowered or "json_object" in lowered
        names_format = names_format or param.startswith("response_format")
        if mode == "schema" and ("schema" in lowered or names_format):
            keyword = refused_keyword(reason)
            if keyword and keyword not in self._refused:
                return _Refused("keyword", reason, keyword=keyword)
        if names_format:
            if self.json_mode == "auto":
                return _Refused("format", reason, mode=mode)
            return WriterRejected(
                f"the API refused --json-mode {mode} ({status}): {reason}; try --json-mode auto"
            )
        field = next((f for f in _CAP_FIELDS if f in lowered), None)
        sent = self.cap_field if self.cap_field and self.cap_field in arguments else None
        if (
            sent
            and re.search(rf"(?<![\w]){sent}(?![\w])", lowered)
            and re.search(r"unsupported|not supported|unrecognized|unknown|use '", lowered)
        ):
            return _Refused("cap", reason)
        if field:
            return WriterRejected(
                f"the API refused the output cap ({status}): {reason}; set --max-output-tokens"
            )
        if "seed" in arguments and re.search(r"\bseed\b", lowered):
            return _Refused("seed", reason)
        extra = next((key for key in arguments.get("extra_body") or {} if key.lower() in lowered), None)
        if extra:
            return WriterRejected(f"the API refused --extra-body {extra!r} ({status}): {reason}")
        if status == 400 and self.json_mode == "auto" and not self._settled:
            # A 400 that names nothing, before any request got through: it may go away without the format.
            return _Refused("format", reason, mode=mode)
        return None

    def _short(self, exc: openai.APIError) -> str:
        body = exc.body
        message = body.get("message") if isinstance(body, dict) else None
        if message is None and isinstance(body, dict):
            message = body.get("detail") or body.get("error")
        return self._scrub(str(message or exc.message or type(exc).__name__))

    def _scrub(self, text: str) -> str:
        """One line, short, without the key in any form or anything shaped like a key or bearer token."""
        return scrub_message(text, self._secret)


def _names_field(reason: str) -> bool:
    lowered = reason.lower()
    return any(
        name in lowered for name in ("response_format", "json_schema", "max_tokens", "max_completion_tokens")
    )


def prompt_tokens(messages: list[dict[str, str]], response_format: Any = None) -> int:
    """An estimate of a request's prompt tokens (messages and the schema sent with them)."""
    text = "".join(message["content"] for message in messages)
    schema = orjson.dumps(response_format).decode() if response_format else ""
    return estimate_tokens(text) + estimate_tokens(schema) + 4 * len(messages)


def usage_of(completion: ChatCompletion) -> Usage:
    usage = completion.usage
    if usage is None:
        return Usage()
    details = usage.prompt_tokens_details
    cached = details.cached_tokens if details else None
    if not cached:
        # Compatible providers report cache hits their own way: DeepSeek prompt_cache_hit_tokens,
        # Moonshot's v1 models a top-level cached_tokens.
        extra = usage.model_extra or {}
        cached = extra.get("prompt_cache_hit_tokens") or extra.get("cached_tokens")
    prompt = usage.prompt_tokens or 0
    cached = min(int(cached or 0), prompt) if isinstance(cached, (int, float)) else 0
    return Usage(prompt=prompt, completion=usage.completion_tokens or 0, cached=cached)


def reported_cost(completion: ChatCompletion) -> float | None:
    """The USD cost the provider stated for this reply (OpenRouter's ``usage.cost``), if any."""
    usage = completion.usage
    value = (usage.model_extra or {}).get("cost") if usage is not None else None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None
