"""The writer interface every backend implements, and the validate-and-ask-again loop over it."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import orjson
from jsonschema import Draft202012Validator

from ..errors import InvalidReply
from ..text import clean_data, clean_text

Kind = Literal["documents", "characters", "plan", "node"]
DEFAULT_ATTEMPTS = 3
_HISTORY = 2  # earlier invalid replies a re-ask shows, at most: enough to avoid them, short enough to fit
REASK_EXCERPT = 1200  # characters of a bad reply shown back to the writer


@dataclass
class Usage:
    """Tokens as the backend reports them; ``cached`` is the part of ``prompt`` served from cache."""

    prompt: int = 0
    completion: int = 0
    cached: int = 0

    def add(self, other: Usage) -> None:
        self.prompt += other.prompt
        self.completion += other.completion
        self.cached += other.cached

    @property
    def total(self) -> int:
        return self.prompt + self.completion

    def to_dict(self) -> dict[str, int]:
        return {
            "prompt": self.prompt,
            "completion": self.completion,
            "cached": self.cached,
            "total": self.total,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Usage:
        data = data or {}
        return cls(int(data.get("prompt", 0)), int(data.get("completion", 0)), int(data.get("cached", 0)))


@dataclass(frozen=True)
class Request:
    """One generation call.

    ``system`` holds the unchanging story context and comes first so providers can cache it;
    ``prompt`` is the per-call part. ``context`` carries the same facts as plain data for
    writers that do not read prompts (the offline writer). ``check`` adds rules a schema
    cannot express; it returns the problems found.
    """

    kind: Kind
    schema_name: str
    schema: dict[str, Any]
    system: str
    prompt: str
    context: dict[str, Any] = field(default_factory=dict)
    check: Callable[[dict[str, Any]], list[str]] | None = field(default=None, compare=False)

    def key(self) -> str:
        """Identifies the call across processes and machines (the journal's key)."""
        blob = orjson.dumps(
            [self.kind, self.schema_name, self.schema, self.system, self.prompt],
            option=orjson.OPT_SORT_KEYS,
        )
        return hashlib.sha256(blob).hexdigest()


@dataclass
class Reply:
    text: str
    usage: Usage
    problem: str | None = None  # what the transport already knows is wrong (e.g. cut at the output cap)


@dataclass(frozen=True)
class Retry:
    """An earlier invalid reply to the same request and what was wrong with it."""

    reply: str
    error: str


class Writer(Protocol):
    """A backend that turns a request into a JSON reply. Implementations: offline, openai."""

    name: str  # "offline" or "openai"
    model: str

    async def complete(self, request: Request, retries: list[Retry]) -> Reply: ...

    async def aclose(self) -> None: ...


@dataclass
class Answer:
    """A validated reply, parsed, with the tokens of every attempt it took."""

    data: dict[str, Any]
    usage: Usage
    attempts: int


_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)


def extract_json(text: str) -> Any:
    """Parse a reply that should be one JSON object, tolerating code fences and text around it."""
    stripped = _FENCE.sub("", text.strip())
    try:
        return orjson.loads(stripped)
    except orjson.JSONDecodeError:
        start, end = stripped.find("{"), stripped.rfind("}")
        if start == -1 or end <= start:
            raise ValueError("the reply contains no JSON object") from None
        try:
            return orjson.loads(stripped[start : end + 1])
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"the reply is not valid JSON: {exc}") from None


def problems_with(request: Request, text: str) -> tuple[dict[str, Any] | None, list[str]]:
    """Parse and validate one reply; returns the object (or None) and what is wrong with it."""
    try:
        data = extract_json(clean_text(text))
    except ValueError as exc:
        return None, [str(exc)]
    if not isinstance(data, dict):
        return None, ["the reply must be a JSON object"]
    data = clean_data(data)  # a reply is untrusted: no control or escape sequence is ever stored
    validator = _validator(orjson.dumps(request.schema, option=orjson.OPT_SORT_KEYS))
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    problems = [_describe(error) for error in errors[:8]]
    if request.check:
        # The checks name what the schema cannot; on a reply of the wrong shape some cannot run.
        with contextlib.suppress(KeyError, TypeError, AttributeError, IndexError):
            problems += request.check(data)
    return (None, problems) if problems else (data, [])


@functools.lru_cache(maxsize=32)
def _validator(schema: bytes) -> Draft202012Validator:
    """One compiled validator per distinct schema; building one per reply costs more than using it."""
    return Draft202012Validator(orjson.loads(schema))


def _describe(error: Any) -> str:
    where = "/".join(str(part) for part in error.absolute_path) or "(top level)"
    return f"{where}: {error.message[:200]}"


async def ask(
    writer: Writer,
    request: Request,
    attempts: int = DEFAULT_ATTEMPTS,
    on_reply: Callable[[Reply, str], None] | None = None,
    history: list[Retry] | None = None,
) -> Answer:
    """Ask until a reply validates, at most ``attempts`` times, telling the writer what was wrong.

    ``on_reply`` sees every billed reply that failed validation, as it arrives (the journal records its
    tokens, so a crash never loses them; a valid reply comes back in the answer, journaled at once). Raises :class:`InvalidReply` when every attempt failed; nothing
    invalid is ever returned.
    """
    usage = Usage()
    # Invalid replies of an earlier process come first: the request goes on where it stopped (with
    # those problems named), never resent as its first attempt was.
    retries: list[Retry] = list(history or [])[-_HISTORY:]
    for attempt in range(1, attempts + 1):
        reply = await writer.complete(request, retries)
        usage.add(reply.usage)
        data, problems = problems_with(request, reply.text)
        if reply.problem:  # said first: "not valid JSON" would hide that the reply was cut short
            data, problems = None, [reply.problem, *problems]
        if data is not None:  # the caller journals it at once, with every attempt's tokens
            return Answer(data=data, usage=usage, attempts=attempt)
        # A re-ask shows the start of the bad reply and every problem, kept short: a looping reply
        # shown whole would fill a small server's context on the next attempt.
        retry = Retry(reply=clean_text(reply.text)[:REASK_EXCERPT], error="; ".join(problems)[:800])
        if on_reply is not None:
            on_reply(reply, retry.error)
        retries.append(retry)
    error = InvalidReply(
        f"the writer gave {attempts} invalid replies to a {request.kind} request; "
        f"last problem: {retries[-1].error[:300]}"
    )
    error.usage = usage
    raise error
