"""Batch mode: a writer that sends each wave of plan and node calls as one provider batch, at half price.

Design (issue 11), and why:

* **A wave is what arrives together.** The TreeBuilder schedules a whole level of every character's
  tree at once (in batch mode the shared window is :data:`WINDOW`, so nothing waits for a slot) and
  every call reaches :meth:`BatchWriter.complete`. Calls are collected until the event loop has gone
  idle (no new call for :data:`_SETTLE_TICKS` turns of the loop and :data:`_SETTLE_S` seconds): that
  is one wave, one JSONL file (purpose ``batch``), one batch on ``/v1/chat/completions``. The builder
  is unchanged; it still commits in its fixed order, so the story does not depend on how the calls
  were grouped.
* **A line is its body.** Each line's body is exactly what live mode sends (built by
  :meth:`OpenAIWriter._arguments`, ``extra_body`` merged in as the SDK does) and its ``custom_id``
  is a hash of that body. A rerun that builds the same request finds its line in a batch submitted
  earlier and waits for that batch instead of submitting the line again: no reply is paid twice.
* **Records before polling.** The batch id, its line ids and the submit time are saved atomically in
  the city's checkpoint folder (:meth:`CheckpointStore.save_batches`) before the first poll, then
  each line's state (pending, ok with its tokens, failed) as the batch ends. The records are a file
  of their own, not part of the tree checkpoints: one wave spans every character, and the trees are
  saved by the builder on its own schedule. The folder can be copied to another machine.
* **Failures.** Lines that failed or expired (or that the output file lacks) are submitted again in
  the next wave, at most ``max_attempts`` times each; a line the server refused for its form (a 4xx)
  stops the run with the server's reason, as live mode does. Invalid replies go back to
  :func:`~.base.ask`, which asks again with the error: that call arrives in the next wave.
* **Live calls.** The documents and the character proposal stay live (they come one at a time and
  settle the JSON mode by negotiation); so does everything until the JSON mode is known.
* **Detach.** With ``detach`` a wave that is not finished at its first poll ends the run: its calls
  fail with :class:`Interrupted`, the trees save their checkpoints, and the generator raises
  :class:`BatchPending` (exit 0). A rerun polls the saved batches and goes on.
* **Price.** :attr:`BatchWriter.batch_usage` is the tokens of every collected line of the run (from
  the records, so earlier processes count too); the cost meter prices them at the batch rate.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, TypeVar

import openai
import orjson
from openai.types import Batch, CompletionUsage
from openai.types.chat import ChatCompletion

from ..errors import Interrupted, WriterError, WriterRejected, WriterUnavailable
from ._wire import WireForm, wire_form
from .base import Reply, Request, Retry, Usage
from .openai_writer import OpenAIWriter, _Transient, reported_cost, usage_of

__all__ = ["BATCHED_KINDS", "MESSAGES", "WINDOW", "BatchWriter", "line_id", "wire_body"]

log = logging.getLogger(__name__)

BATCHED_KINDS = frozenset({"plan", "node"})
WINDOW = 100_000  # calls one wave may hold: every node of a level of every tree
ENDPOINT: Final = "/v1/chat/completions"
# One input file holds at most 50,000 requests and 200 MB (OpenAI API reference, *Create batch*).
MAX_LINES = 50_000
MAX_BYTES = 190 * 1024 * 1024
_SETTLE_TICKS = 20  # loop turns without a new call: the trees have all scheduled what they can
_SETTLE_S = 0.02  # and this long, so a tree busy committing a level (CPU, a checkpoint) is waited for
_RUNNING = frozenset({"validating", "in_progress", "finalizing", "cancelling", "submitted", "creating"})
_LINE_ERROR = 300  # characters of a line's error kept in the records
_LIST_LIMIT = 1000  # batches looked through to find one whose create answer was lost

MESSAGES: dict[str, dict[str, str]] = {
    "zh": {
        "submitted": "📦 已提交批次 {id}：{lines} 个请求（半价），每 {poll:g} 秒查询一次",
        "found": "📦 沿用上次运行提交的批次 {id}（{lines} 个请求）：只查询结果，不再付费",
        "collected": "📦 批次 {id} {status}：{done} 个回复已收到，{failed} 个将重新提交",
        "detached": "📦 {lines} 个请求在 {batches} 个批次中等待服务商处理；稍后用同一条命令收取"
        "（ghost-story status 可查看）",
        "refused": "服务商拒绝了一个批处理请求：{error}",
        "failed_times": "一个批处理请求已失败 {failures} 次（最后一次：{why}）；重新运行即可再次提交",
        "no_batch_api": "{url} 没有批处理 API（{what} 返回 404）：请去掉 --batch 再运行",
        "no_answer": "批处理 API 尝试 {attempts} 次仍无应答（{what}）：{last}",
    },
    "en": {
        "submitted": "📦 Submitted batch {id}: {lines} requests at half price; polling every {poll:g} s",
        "found": "📦 Batch {id} ({lines} requests) was submitted by an earlier run: polling it, not paying again",
        "collected": "📦 Batch {id} {status}: {done} replies received, {failed} to submit again",
        "detached": "📦 {lines} requests wait in {batches} provider batches; run the same command again later "
        "to collect them (ghost-story status lists them)",
        "refused": "the API refused a batch request: {error}",
        "failed_times": "a batch request failed {failures} times (last: {why}); rerun to submit it again",
        "no_batch_api": "{url} has no Batch API (404 on {what}): run without --batch",
        "no_answer": "the Batch API did not answer after {attempts} attempt{s} ({what}): {last}",
    },
}


class BatchRecords(Protocol):
    """Where the batch records live: the city's checkpoint store gives this (writers sit below it)."""

    def load_batches(self) -> list[dict[str, Any]]: ...

    def save_batches(self, records: list[dict[str, Any]]) -> bool: ...


def batch_record(batch_id: str, input_file_id: str, lines: list[str], submitted_at: float) -> dict[str, Any]:
    """A new batch record: every line pending. ``lines`` are the custom ids (hashes of the bodies)."""
    return {
        "id": batch_id,
        "input_file_id": input_file_id,
        "submitted_at": submitted_at,  # UNIX time: an age survives a copy to another machine
        "status": "submitted",
        "output_file_id": None,
        "error_file_id": None,
        "lines": {line: {"state": "pending"} for line in lines},
    }


T = TypeVar("T")


def wire_body(arguments: dict[str, Any]) -> dict[str, Any]:
    """The JSON body the SDK would send for these ``chat.completions.create`` arguments."""
    body = {key: value for key, value in arguments.items() if key != "extra_body"}
    body.update(arguments.get("extra_body") or {})
    return body


def line_id(body: dict[str, Any]) -> str:
    """A batch line's ``custom_id``: the same body gives the same id in any process, on any machine."""
    return "gsf-" + hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()[:40]


@dataclass
class _Line:
    """One line of a wave and the calls waiting for its reply (the same body asked twice is one line)."""

    custom_id: str
    body: dict[str, Any]
    request: Request
    form: WireForm
    mode: str
    futures: list[asyncio.Future[Reply]] = field(default_factory=list)

    def fail(self, error: BaseException) -> None:
        for future in self.futures:
            if not future.done():
                future.set_exception(error)


@dataclass
class _Result:
    """What a finished batch says about one line: ``ok`` with the completion, else why it failed."""

    ok: bool
    body: dict[str, Any] | None = None
    error: str = ""
    rejected: bool = False  # refused for its form (4xx): sending it again cannot help


class BatchWriter(OpenAIWriter):
    """An :class:`OpenAIWriter` whose plan and node calls go through the provider's Batch API.

    :meth:`attach` gives it the city's checkpoint store (the generator does it); without one it
    behaves as the live writer.
    """

    batch_window = WINDOW

    def __init__(self, *args: Any, poll_seconds: float = 30.0, detach: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.poll_seconds = max(0.0, float(poll_seconds))
        self.detach = detach
        self.lang = "en"
        self.notify: Callable[[str], None] | None = None
        self.detached: tuple[int, int] | None = None  # (batches, lines) left pending by --detach
        self.batches_submitted = 0
        self.lines_submitted = 0
        self.lines_answered = 0
        self.lines_failed = 0
        self.polls = 0
        self._store: BatchRecords | None = None
        self._records: list[dict[str, Any]] = []
        self._wave: dict[str, _Line] = {}
        self._arrived = 0
        self._collector: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._polling: dict[str, asyncio.Task[dict[str, _Result] | None]] = {}
        self._outputs: dict[str, dict[str, _Result]] = {}
        self._failures: dict[str, int] = {}
        self._waiting = 0
        self._announced_found: set[str] = set()
        self._pending_batches: set[str] = set()
        self._pending_lines = 0
        self._creating: set[int] = set()  # id() of records whose batch this process is creating

    # -- wiring ------------------------------------------------------------------------------

    def attach(
        self, store: BatchRecords, *, notify: Callable[[str], None] | None = None, lang: str = "en"
    ) -> None:
        """Use this city's checkpoint store for the batch records (loads those of an earlier run)."""
        self._store = store
        self._records = store.load_batches()
        self.notify = notify
        self.lang = lang if lang in MESSAGES else "en"

    @property
    def batch_usage(self) -> Usage:
        """Tokens of every line collected from a batch for this city, by this process or an earlier one."""
        total = Usage()
        for record in self._records:
            for line in record["lines"].values():
                if line.get("state") == "ok":
                    total.add(Usage.from_dict(line.get("usage")))
        return total

    @property
    def in_flight(self) -> int:
        return self.pacer.in_flight + self._waiting

    def stats(self) -> dict[str, Any]:
        return {
            **super().stats(),
            "batches": self.batches_submitted,
            "batch_lines": self.lines_submitted,
            "batch_answered": self.lines_answered,
            "batch_failed": self.lines_failed,
            "batch_polls": self.polls,
            "batch_usage": self.batch_usage.to_dict(),
        }

    async def aclose(self) -> None:
        for task in [*self._tasks, *self._polling.values()]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._polling.values(), return_exceptions=True)
        await super().aclose()

    def _text(self, key: str, **values: Any) -> str:
        """A message in the run's language (set by :meth:`attach`)."""
        return MESSAGES[self.lang][key].format(**values)

    def _say(self, key: str, **values: Any) -> None:
        if self.notify is None:
            return
        try:
            self.notify(MESSAGES[self.lang][key].format(**values))
        except Exception:  # a broken screen must never stop a paid batch
            log.exception("batch notice failed")

    # -- calls -------------------------------------------------------------------------------

    async def complete(self, request: Request, retries: list[Retry]) -> Reply:
        if request.kind not in BATCHED_KINDS or self._store is None or not self._settled:
            return await super().complete(request, retries)
        mode = self.mode
        local_only = frozenset() if self.preset.max_length else frozenset({"maxLength"})
        form = wire_form(request, frozenset(self._refused) | local_only)
        body = wire_body(self._arguments(request, retries, form, mode))
        custom_id = line_id(body)
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        line = self._wave.get(custom_id)
        if line is None:
            line = self._wave[custom_id] = _Line(custom_id, body, request, form, mode)
        line.futures.append(future)
        self._arrived += 1
        self._kick()
        self._waiting += 1
        try:
            return await future
        finally:
            self._waiting -= 1

    def _kick(self) -> None:
        if self._collector is None or self._collector.done():
            self._collector = self._spawn(self._collect())

    def _spawn(self, work: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _collect(self) -> None:
        """Wait until calls stop arriving, then send what arrived as one wave."""
        seen = -1
        while seen != self._arrived:
            seen = self._arrived
            for _ in range(_SETTLE_TICKS):
                await asyncio.sleep(0)
            await asyncio.sleep(_SETTLE_S)
        wave, self._wave = list(self._wave.values()), {}
        self._collector = None
        try:
            await self._send_wave(wave)
        except asyncio.CancelledError:
            for line in wave:
                for future in line.futures:
                    future.cancel()
            raise
        except BaseException as exc:  # every call of the wave hears the failure
            for line in wave:
                line.fail(exc)

    async def _send_wave(self, wave: list[_Line]) -> None:
        await self._adopt()
        index = self._index()
        groups: dict[str, list[_Line]] = {}
        fresh: list[_Line] = []
        for line in wave:
            record = index.get(line.custom_id)
            if record is None:
                fresh.append(line)
            else:
                groups.setdefault(record["id"], []).append(line)
                if record["id"] not in self._announced_found and record["id"] not in self._outputs:
                    self._announced_found.add(record["id"])
                    self._say("found", id=record["id"], lines=len(record["lines"]))
        for chunk in _chunks(fresh):
            record = await self._submit(chunk)
            self._announced_found.add(record["id"])
            groups[record["id"]] = chunk
        records = {record["id"]: record for record in self._records}
        await asyncio.gather(*(self._settle_batch(records[bid], lines) for bid, lines in groups.items()))

    async def _find(self, input_file_id: str) -> Batch | None:
        """The batch created from this input file, if any (newest first; a long list is cut short)."""
        seen = 0
        async for batch in self._client.batches.list(limit=100):
            if batch.input_file_id == input_file_id:
                return batch
            seen += 1
            if seen >= _LIST_LIMIT:
                break
        return None

    async def _adopt(self) -> None:
        """Records saved while their batch was being created: find the batch, or forget the record."""
        assert self._store is not None
        # Only records of an earlier process: this one's are still being created by _submit.
        unknown = [r for r in self._records if not r["id"] and id(r) not in self._creating]
        if not unknown:
            return
        for record in unknown:
            input_id = str(record.get("input_file_id") or "")
            found = await self._call("list", functools.partial(self._find, input_id)) if input_id else None
            if found is None:  # never created: its lines are submitted again, nothing was paid
                self._records.remove(record)
            else:
                record["id"], record["status"] = found.id, found.status
        self._store.save_batches(self._records)

    def _index(self) -> dict[str, dict[str, Any]]:
        """Line id -> the latest batch record holding it that has not failed it."""
        index: dict[str, dict[str, Any]] = {}
        for record in self._records:
            for custom_id, line in record["lines"].items():
                if line.get("state") != "failed":
                    index[custom_id] = record
        return index

    async def _submit(self, lines: list[_Line]) -> dict[str, Any]:
        """Upload the wave, create its batch, and save the record before anything else happens."""
        assert self._store is not None
        payload = b"".join(_jsonl(line) for line in lines)
        uploaded = await self._call(
            "upload", lambda: self._client.files.create(file=("gsf-wave.jsonl", payload), purpose="batch")
        )
        # Saved before the batch exists: if the answer to the create is lost (a dropped connection, a
        # kill), the rerun or the retry finds the batch by its input file instead of paying again.
        record = batch_record("", uploaded.id, [line.custom_id for line in lines], time.time())
        record["status"] = "creating"
        self._records.append(record)
        self._store.save_batches(self._records)
        self._creating.add(id(record))
        tried = False

        async def create() -> Batch:
            nonlocal tried
            if tried:
                found = await self._find(uploaded.id)
                if found is not None:
                    return found
            tried = True
            return await self._client.batches.create(
                input_file_id=uploaded.id, endpoint=ENDPOINT, completion_window="24h"
            )

        try:
            batch = await self._call("create", create)
        finally:
            self._creating.discard(id(record))
        record["id"], record["status"] = batch.id, batch.status
        self._store.save_batches(self._records)
        self.batches_submitted += 1
        self.lines_submitted += len(lines)
        self._say("submitted", id=batch.id, lines=len(lines), poll=self.poll_seconds)
        return record

    async def _settle_batch(self, record: dict[str, Any], lines: list[_Line]) -> None:
        """Wait for a batch and hand each line's reply to its calls; failed lines join the next wave."""
        poll = self._polling.get(record["id"])
        if poll is None or poll.done():
            poll = self._polling[record["id"]] = asyncio.ensure_future(self._finished(record))
        results = await asyncio.shield(poll)
        if results is None:  # detached: still running at its first poll
            self._pending_batches.add(record["id"])
            self._pending_lines += len(lines)
            self.detached = (len(self._pending_batches), self._pending_lines)
            for line in lines:
                line.fail(Interrupted("detached: a batch is pending"))
            return
        lost = False
        for line in lines:
            result = results.get(line.custom_id) or _Result(False, error="missing from the batch's files")
            if result.ok and result.body is not None:
                self._deliver(line, result.body)
                continue
            saved = record["lines"].get(line.custom_id)
            if saved is not None and saved.get("state") != "failed":  # collected once, gone now
                saved.update(state="failed", error=result.error[:_LINE_ERROR])
                saved.pop("usage", None)
                lost = True
            if result.rejected:
                line.fail(WriterRejected(self._text("refused", error=result.error)))
            else:
                self._again(line, result.error)
        if lost and self._store is not None:
            self._store.save_batches(self._records)

    def _again(self, line: _Line, why: str) -> None:
        failures = self._failures[line.custom_id] = self._failures.get(line.custom_id, 0) + 1
        if failures >= self.max_attempts:
            error = WriterUnavailable(self._text("failed_times", failures=failures, why=why))
            line.fail(error)
            return
        waiting = self._wave.get(line.custom_id)
        if waiting is None:
            self._wave[line.custom_id] = line
        else:
            waiting.futures.extend(line.futures)
        self._arrived += 1
        self._kick()

    def _deliver(self, line: _Line, body: dict[str, Any]) -> None:
        completion = _completion(body)
        if completion is None:
            self._again(line, "the batch sent a malformed response")
            return
        usage = _usage_in(body)
        cost = reported_cost(completion) if isinstance(completion.usage, CompletionUsage) else None
        self.lines_answered += 1
        self.usage.add(usage)
        if cost is not None:
            self.reported_cost += cost
        if self.on_usage is not None:
            self.on_usage(usage, cost)
        if usage.prompt > self.largest_prompt:
            self.largest_prompt, self.largest_prompt_kind = usage.prompt, line.request.kind
        choice = completion.choices[0] if completion.choices else None
        message = getattr(choice, "message", None)
        content = getattr(message, "content", None)
        text = content if isinstance(content, str) else ""
        if getattr(choice, "finish_reason", None) == "length":
            self.cut += 1
            cap = int(line.body.get(self.cap_field or "", 0) or 0)
            self._remember(self._cut_caps, text[:4000], cap)
            self._event("cut", cap=cap, call=line.request.kind)
            reply = Reply(
                text=text, usage=usage, problem=f"the reply was cut off at the output cap ({cap} tokens)"
            )
        else:
            reply = Reply(text=self._to_local(text, line.form, line.mode), usage=usage)
        for position, future in enumerate(line.futures):
            if not future.done():  # the same body asked twice is billed once: the others cost nothing
                future.set_result(reply if position == 0 else Reply(reply.text, Usage(), reply.problem))

    # -- a batch's life ------------------------------------------------------------------------

    async def _finished(self, record: dict[str, Any]) -> dict[str, _Result] | None:
        """Poll until the batch ends (None: still running and detaching), then read its files."""
        assert self._store is not None
        if record["id"] in self._outputs:
            return self._outputs[record["id"]]
        while record.get("status") in _RUNNING or record.get("status") is None:
            batch = await self._call("poll", lambda: self._client.batches.retrieve(record["id"]))
            self.polls += 1
            record["status"] = batch.status
            record["output_file_id"] = batch.output_file_id
            record["error_file_id"] = batch.error_file_id
            if batch.status not in _RUNNING:
                break
            if self.detach:
                self._store.save_batches(self._records)
                return None
            await asyncio.sleep(self.poll_seconds)
        results: dict[str, _Result] = {}
        for key in ("error_file_id", "output_file_id"):  # output last: a reply wins over an error
            file_id = record.get(key)
            if file_id:
                results.update(_parse_lines(await self._download(file_id), self._scrub))
        for custom_id, line in record["lines"].items():
            result = results.get(custom_id)
            if result is not None and result.ok and result.body is not None:
                usage = _usage_in(result.body)
                line.update(state="ok", usage=usage.to_dict())
            elif line.get("state") == "pending":
                line.update(state="failed", error=(result.error if result else "missing")[:_LINE_ERROR])
                self.lines_failed += 1
        self._store.save_batches(self._records)
        states = [line["state"] for line in record["lines"].values()]
        self._say(
            "collected",
            id=record["id"],
            status=record["status"],
            done=states.count("ok"),
            failed=states.count("failed"),
        )
        self._outputs[record["id"]] = results
        return results

    async def _download(self, file_id: str) -> bytes:
        """A batch's output or error file; one the provider no longer keeps reads as empty (its lines
        are then submitted again: they cannot be collected any more)."""
        try:
            content = await self._call("download", lambda: self._client.files.content(file_id))
        except _Gone:
            return b""
        return content.content

    async def _call(self, what: str, send: Callable[[], Awaitable[T]]) -> T:
        """One Batch API request with the writer's retries; errors become WriterError with a cause."""
        last = ""
        for attempt in range(1, self.max_attempts + 1):
            self.calls += 1
            try:
                return await send()
            except openai.APIError as exc:
                if (
                    isinstance(exc, openai.APIStatusError)
                    and exc.status_code == 404
                    and what
                    in (
                        "upload",
                        "create",
                    )
                ):
                    raise WriterRejected(self._text("no_batch_api", url=self.base_url, what=what)) from None
                if isinstance(exc, openai.NotFoundError) and what == "download":
                    raise _Gone(what) from None
                failure, _ = self._failure(exc, {}, self.mode)
                if isinstance(failure, WriterError):
                    raise failure from None
                last = failure.cause if isinstance(failure, _Transient) else str(failure)
                hint = failure.hint if isinstance(failure, _Transient) else None
            if attempt < self.max_attempts:
                wait = min(self.backoff_max_s, 0.5 * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)  # noqa: S311
                self.retried += 1
                self._event("retry", attempt=attempt + 1, of=self.max_attempts, cause=last, wait=wait)
                await asyncio.sleep(max(wait, hint or 0.0))
        raise WriterUnavailable(
            self._text(
                "no_answer",
                attempts=self.max_attempts,
                s="" if self.max_attempts == 1 else "s",
                what=what,
                last=last,
            )
        )


def _jsonl(line: _Line) -> bytes:
    return (
        orjson.dumps({"custom_id": line.custom_id, "method": "POST", "url": ENDPOINT, "body": line.body})
        + b"\n"
    )


def _chunks(lines: list[_Line]) -> list[list[_Line]]:
    """A wave cut into batches within OpenAI's limits for one input file (requests and bytes)."""
    chunks: list[list[_Line]] = []
    size = 0
    for line in lines:
        length = len(_jsonl(line))
        if not chunks or len(chunks[-1]) >= MAX_LINES or size + length > MAX_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(line)
        size += length
    return chunks


class _Gone(Exception):
    """A file the provider no longer has (output files expire)."""


def _completion(body: Any) -> ChatCompletion | None:
    """A line's response read as leniently as the SDK reads a live one (it does not validate either): a
    provider's own finish_reason ("eos"), a null one or a missing ``created`` must not make a paid reply
    unusable on every rerun. None only when there is no list of choices to read."""
    if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
        return None
    try:
        return ChatCompletion.construct(**body)
    except Exception:  # the SDK's lenient construction still refuses some shapes: a broken line
        return None


def _usage_in(body: dict[str, Any]) -> Usage:
    completion = _completion(body)
    try:
        return usage_of(completion) if completion is not None else Usage()
    except (
        AttributeError,
        TypeError,
        ValueError,
    ):  # a usage object of the wrong shape bills nothing readable
        return Usage()


def _parse_lines(raw: bytes, scrub: Callable[[str], str]) -> dict[str, _Result]:
    """The lines of an output or error file, by custom_id. Every field is untrusted."""
    results: dict[str, _Result] = {}
    for text in raw.splitlines():
        try:
            line = orjson.loads(text)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(line, dict) or not isinstance(line.get("custom_id"), str):
            continue
        response = line.get("response")
        error = line.get("error")
        if (
            isinstance(response, dict)
            and response.get("status_code") == 200
            and isinstance(response.get("body"), dict)
        ):
            results[line["custom_id"]] = _Result(True, body=response["body"])
            continue
        status = response.get("status_code") if isinstance(response, dict) else None
        body = response.get("body") if isinstance(response, dict) else None
        message = ""
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            message = str(body["error"].get("message") or "")
        if isinstance(error, dict):
            message = message or f"{error.get('code') or ''} {error.get('message') or ''}".strip()
        reason = scrub(f"{status} {message}" if status else message or "failed")
        rejected = isinstance(status, int) and 400 <= status < 500 and status not in (408, 409, 429)
        results[line["custom_id"]] = _Result(False, error=reason, rejected=rejected)
    return results
