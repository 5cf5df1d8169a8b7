"""Checkpoint files of one city: the only module that reads, writes, moves or deletes them.

Files in the checkpoint folder, for city C and character X (names made safe by :func:`safe_name`):

- ``C_characters.json``: character level; documents, characters, completed trees, totals.
- ``C_X_tree.json``: tree level; the graph so far, the BFS queue, the registry, totals.
- ``C_journal.jsonl`` and ``C_X_journal.jsonl``: every validated reply, appended and fsynced one
  line at a time, so a reply received before a crash is never paid for again.
- ``C_batches.json``: batch mode only; every provider batch submitted for C (batch id, the line ids
  and their state, the submit time, the tokens of each collected line), saved before polling starts,
  so a rerun (here or on another machine) polls a pending batch instead of paying for it again.
  Optional: a v2 folder without it reads as before.
- ``C.lock``: held (flock) by the one process generating C.

Every JSON write is atomic (temp file in the same folder, fsync, ``os.replace``, fsync the folder).
Nothing here stores an absolute path or a secret, so the folder can be copied to another machine.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError as PydanticError

from ..errors import CheckpointError, CheckpointLocked, CheckpointVersionError
from ..model import Plan
from ..names import safe_name
from ..writers.base import Answer, Retry, Usage
from .tree import Node, Tree

FORMAT_VERSION = 2  # 2: plans, bridges, shared runtime endings, level-by-level growth

Warn = Callable[[str], None]


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a reader sees the old file or the new one, never half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def dumps(document: dict[str, Any]) -> bytes:
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


@dataclass
class TreeCheckpoint:
    """The tree level: everything needed to go on growing one character's graph."""

    run_id: str
    tree: Tree
    usage: Usage
    calls: int
    elapsed_seconds: float


@dataclass
class StoryCheckpoint:
    """The character level: the documents, the characters and every completed tree."""

    run_id: str
    settings: dict[str, Any]
    meta: dict[str, Any]  # backend, model, resumes: facts about the run, not the story
    documents: dict[str, Any]
    characters: list[dict[str, Any]]
    completed: dict[str, dict[str, Any]]  # character name -> {"tree": ..., "report": ...}
    usage: Usage
    calls: int
    elapsed_seconds: float
    plans: dict[str, dict[str, Any]] = field(default_factory=dict)  # character name -> plan


class _Syncer:
    """fsyncs a journal from a thread of its own, so the event loop never waits on the disk.

    Each line is written (one ``write``) before its reply is used, so a killed process loses
    nothing; the fsync that guards against a power cut follows within moments, grouping the lines
    that arrived meanwhile into one sync instead of one per reply.
    """

    def __init__(self, fd: int, warn: Warn) -> None:
        self._fd = fd
        self._warn = warn
        self._wanted = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="journal-fsync", daemon=True)
        self._thread.start()

    def request(self) -> None:
        self._wanted.set()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            if self._stopping:
                return
            try:
                os.fsync(self._fd)
            except OSError as exc:
                self._warn(f"cannot sync the journal: {exc.strerror}")

    def stop(self) -> None:
        self._stopping = True
        self._wanted.set()
        self._thread.join()


class Journal:
    """Append-only record of validated replies, keyed by request; a torn last line is ignored."""

    def __init__(self, path: Path, warn: Warn) -> None:
        self.path = path
        self._warn = warn
        self._answers: dict[str, Answer] = {}
        self._attempts: dict[str, int] = {}  # the calls each recorded reply took when it was asked
        # Billed replies to requests not answered yet (invalid ones, or cut short by a crash): their
        # tokens and calls join the answer when it comes, so nothing billed is ever lost from the totals.
        self._spent: dict[str, tuple[Usage, int]] = {}
        self._invalid: dict[str, list[Retry]] = {}
        self._file: Any = None
        self._syncer: _Syncer | None = None
        self._failing = False
        self._load()

    def _load(self) -> None:
        try:
            raw = self.path.read_bytes()
            if raw and not raw.endswith(b"\n"):  # a line torn by a crash: cut it so appends start clean
                with open(self.path, "r+b") as file:
                    file.truncate(raw.rfind(b"\n") + 1)
                    os.fsync(file.fileno())
                raw = raw[: raw.rfind(b"\n") + 1]
            lines = raw.splitlines()
        except FileNotFoundError:
            return
        except OSError as exc:
            self._warn(f"cannot read journal {self.path.name}: {exc.strerror}; replies will be asked again")
            return
        for line in lines:
            try:
                record = orjson.loads(line)
                if record.get("spent"):
                    usage, calls = self._spent.get(record["key"], (Usage(), 0))
                    usage.add(Usage.from_dict(record["usage"]))
                    self._spent[record["key"]] = (usage, calls + 1)
                    retry = Retry(reply=str(record.get("reply", "")), error=str(record.get("error", "")))
                    self._invalid.setdefault(record["key"], []).append(retry)
                    continue
                self._answers[record["key"]] = Answer(
                    data=record["data"], usage=Usage.from_dict(record["usage"]), attempts=0
                )
                self._attempts[record["key"]] = int(record.get("attempts", 1))
                self._spent.pop(record["key"], None)  # the answer already carries those tokens
                self._invalid.pop(record["key"], None)
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                continue  # a line torn by a crash: that reply will simply be asked again

    def __len__(self) -> int:
        return len(self._answers)

    def get(self, key: str) -> Answer | None:
        return self._answers.get(key)

    def attempts_of(self, key: str) -> int:
        """How many calls a recorded reply took when it was asked (counted once, like its tokens)."""
        return self._attempts.get(key, 0)

    def spent_before(self, key: str) -> tuple[Usage, int]:
        """Tokens and calls billed for ``key`` by earlier processes that never got a valid reply."""
        usage, calls = self._spent.get(key, (Usage(), 0))
        return Usage(usage.prompt, usage.completion, usage.cached), calls

    def invalid_before(self, key: str) -> list[Retry]:
        """Those replies and what was wrong with each, oldest first: the re-ask goes on from them."""
        return list(self._invalid.get(key, []))

    def spend(self, key: str, usage: Usage, reply: str = "", error: str = "") -> None:
        """Record one billed reply that failed validation, the moment it arrives."""
        self._invalid.setdefault(key, []).append(Retry(reply=reply[:1200], error=error[:800]))
        self._write(
            {
                "key": key,
                "spent": True,
                "usage": usage.to_dict(),
                "reply": reply[:1200],
                "error": error[:800],
            }
        )

    def append(self, key: str, answer: Answer) -> None:
        """Record a reply durably before it is used. A failing disk warns and is not retried."""
        self._answers[key] = answer
        self._attempts[key] = answer.attempts
        self._spent.pop(key, None)
        self._invalid.pop(key, None)
        self._write(
            {"key": key, "data": answer.data, "usage": answer.usage.to_dict(), "attempts": answer.attempts}
        )

    def _write(self, record: dict[str, Any]) -> None:
        try:
            if self._file is None:
                self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115 - kept open for the run
                self._syncer = _Syncer(self._file.fileno(), self._warn)
            view = memoryview(orjson.dumps(record) + b"\n")
            while view:  # unbuffered: the whole line is in the kernel before the reply is used
                view = view[self._file.write(view) :]
            if self._syncer is not None:
                self._syncer.request()
        except OSError as exc:
            if not self._failing:  # once: a full disk would otherwise warn on every reply
                self._warn(f"cannot append to journal {self.path.name}: {exc.strerror}; generation goes on")
            self._failing = True
        else:
            self._failing = False

    def close(self) -> None:
        if self._syncer is not None:
            self._syncer.stop()
            self._syncer = None
        if self._file is not None:
            try:
                os.fsync(self._file.fileno())
                self._file.close()
            except OSError as exc:  # a full disk can fail the last flush: the lines before it are synced
                self._warn(f"cannot close journal {self.path.name}: {exc.strerror}")
            self._file = None


class CheckpointStore:
    """The checkpoint files of one city in one folder."""

    def __init__(self, folder: Path, city: str, warn: Warn) -> None:
        self.folder = Path(folder)
        self.city = city
        self.prefix = safe_name(city)
        self._warn = warn
        self._lock_fd: int | None = None
        # Committed nodes never change, so each tree save reuses their serialized bytes and only
        # serializes what is new: a save costs the new nodes plus the file write.
        self._frozen_owner: tuple[str, str] | None = None
        self._frozen: dict[str, orjson.Fragment] = {}

    # paths ---------------------------------------------------------------------------------
    @property
    def characters_path(self) -> Path:
        return self.folder / f"{self.prefix}_characters.json"

    def tree_path(self, character: str) -> Path:
        return self.folder / f"{self.prefix}_{safe_name(character)}_tree.json"

    def journal_path(self, character: str | None) -> Path:
        middle = f"_{safe_name(character)}" if character else ""
        return self.folder / f"{self.prefix}{middle}_journal.jsonl"

    @property
    def batches_path(self) -> Path:
        return self.folder / f"{self.prefix}_batches.json"

    @property
    def lock_path(self) -> Path:
        return self.folder / f"{self.prefix}.lock"

    def exists(self) -> bool:
        return self.characters_path.exists()

    # saving --------------------------------------------------------------------------------
    def _save(self, path: Path, document: dict[str, Any]) -> bool:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_atomic(path, dumps(document))
        except OSError as exc:
            self._warn(f"checkpoint not saved to {path}: {exc.strerror or exc}; generation goes on")
            return False
        return True

    def save_tree(self, character: str, settings: dict[str, Any], checkpoint: TreeCheckpoint) -> bool:
        tree = checkpoint.tree
        return self._save(
            self.tree_path(character),
            {
                "format_version": FORMAT_VERSION,
                "kind": "tree",
                "city": self.city,
                "character": character,
                "run_id": checkpoint.run_id,
                "settings": settings,
                "tree": tree.to_dict(self._node_form(checkpoint.run_id, character)),
                "nodes_count": len(tree.nodes),
                "node_counter": tree.node_counter,
                "current_depth": tree.current_depth,
                "tokens": checkpoint.usage.to_dict(),
                "calls": checkpoint.calls,
                "elapsed_seconds": round(checkpoint.elapsed_seconds, 3),
                "generated_at": _now_iso(),
            },
        )

    def _node_form(self, run_id: str, character: str) -> Callable[[Node], Any]:
        if self._frozen_owner != (run_id, character):
            self._frozen_owner, self._frozen = (run_id, character), {}
        frozen = self._frozen

        def form(node: Node) -> Any:
            if node.pending:
                return node.to_dict()
            cached = frozen.get(node.id)
            if cached is None:
                cached = frozen[node.id] = orjson.Fragment(dumps(node.to_dict()))
            return cached

        return form

    def save_story(self, checkpoint: StoryCheckpoint) -> bool:
        done = len(checkpoint.completed)
        return self._save(
            self.characters_path,
            {
                "format_version": FORMAT_VERSION,
                "kind": "characters",
                "city": self.city,
                "run_id": checkpoint.run_id,
                "settings": checkpoint.settings,
                "meta": checkpoint.meta,
                "documents": checkpoint.documents,
                "characters": checkpoint.characters,
                "completed": checkpoint.completed,
                "plans": checkpoint.plans,
                "completed_count": f"{done}/{len(checkpoint.characters)}",
                "tokens": checkpoint.usage.to_dict(),
                "calls": checkpoint.calls,
                "elapsed_seconds": round(checkpoint.elapsed_seconds, 3),
                "generated_at": _now_iso(),
            },
        )

    def save_batches(self, records: list[dict[str, Any]]) -> bool:
        """The city's batch records (see :func:`ghost_story_factory.writers.batch.batch_record`), atomically; False when not saved."""
        return self._save(
            self.batches_path,
            {
                "format_version": FORMAT_VERSION,
                "kind": "batches",
                "city": self.city,
                "batches": records,
                "generated_at": _now_iso(),
            },
        )

    def load_batches(self) -> list[dict[str, Any]]:
        """The batch records saved for this city, oldest first; [] when there are none."""
        document = self._read(self.batches_path, "batches")
        if document is None:
            return []
        try:
            return [_check_batch_record(record) for record in document["batches"]]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            self.quarantine(self.batches_path, f"inconsistent: {exc}")
            return []

    # loading -------------------------------------------------------------------------------
    def _read(self, path: Path, kind: str, character: str | None = None) -> dict[str, Any] | None:
        """The parsed document, or None when absent; an unusable file is moved aside."""
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            self._warn(f"cannot read checkpoint {path}: {exc.strerror}; that level starts fresh")
            return None
        try:
            document = orjson.loads(raw)
            if not isinstance(document, dict):
                raise ValueError("not a JSON object")
            if (
                isinstance(document.get("format_version"), int)
                and 0 < document["format_version"] < FORMAT_VERSION
            ):
                raise CheckpointVersionError(
                    f"the checkpoints of {self.city!r} in {self.folder} were written by an older version "
                    f"(checkpoint format {document['format_version']}): finish them with that version, or move "
                    f"the {self.prefix}_* files out of {self.folder} to start over"
                )
            if document.get("format_version") != FORMAT_VERSION:
                raise ValueError(f"unknown format version {document.get('format_version')!r}")
            if document.get("kind") != kind or document.get("city") != self.city:
                raise ValueError("written for another city")
            if character is not None and document.get("character") != character:
                raise ValueError("written for another character")
        except (orjson.JSONDecodeError, ValueError) as exc:
            self.quarantine(path, str(exc))
            return None
        return document

    def quarantine(self, path: Path, why: str) -> None:
        """Move an unusable checkpoint aside as ``*.corrupt-<time>``; it is never deleted."""
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        target = path.with_name(f"{path.name}.corrupt-{stamp}")
        number = 1
        while target.exists():  # two quarantines within a second keep both files
            number += 1
            target = path.with_name(f"{path.name}.corrupt-{stamp}-{number}")
        try:
            os.replace(path, target)
        except OSError as exc:
            self._warn(f"checkpoint {path} is unusable ({why}) and could not be moved: {exc.strerror}")
            return
        self._warn(f"checkpoint {path} is unusable ({why}); moved to {target.name}, that level starts fresh")

    def load_story(self) -> StoryCheckpoint | None:
        document = self._read(self.characters_path, "characters")
        if document is None:
            return None
        try:
            _check_story_document(document)
            characters = [dict(c) for c in document["characters"]]
            names = [str(c["name"]) for c in characters]
            completed = dict(document["completed"])
            for name, done in completed.items():
                if name not in names:
                    raise ValueError(f"completed tree for unknown character {name!r}")
                Tree.from_dict(done["tree"])
            return StoryCheckpoint(
                run_id=str(document["run_id"]),
                settings=dict(document["settings"]),
                meta=dict(document.get("meta") or {}),
                documents=dict(document["documents"]),
                characters=characters,
                completed=completed,
                usage=Usage.from_dict(document.get("tokens")),
                calls=int(document.get("calls", 0)),
                elapsed_seconds=float(document.get("elapsed_seconds", 0.0)),
                plans={str(k): dict(v) for k, v in (document.get("plans") or {}).items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            self.quarantine(self.characters_path, f"inconsistent: {exc}")
            return None

    def load_tree(self, character: str, run_id: str) -> TreeCheckpoint | None:
        path = self.tree_path(character)
        document = self._read(path, "tree", character)
        if document is None:
            return None
        try:
            if document["run_id"] != run_id:
                raise ValueError("belongs to an earlier run")
            tree = Tree.from_dict(document["tree"])
            return TreeCheckpoint(
                run_id=run_id,
                tree=tree,
                usage=Usage.from_dict(document.get("tokens")),
                calls=int(document.get("calls", 0)),
                elapsed_seconds=float(document.get("elapsed_seconds", 0.0)),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            self.quarantine(path, f"inconsistent: {exc}")
            return None

    def journal(self, character: str | None) -> Journal:
        with contextlib.suppress(OSError):  # a folder that cannot be made warns when written to
            self.folder.mkdir(parents=True, exist_ok=True)
        return Journal(self.journal_path(character), self._warn)

    # lock and cleanup ----------------------------------------------------------------------
    def acquire_lock(self) -> str | None:
        """Hold the city's lock for this process; returns a notice when a dead owner's lock was taken.

        flock is released by the kernel when its process dies, so a lock file left by a crash never
        blocks a rerun; the pid and host inside are only there to name the owner. The file is deleted
        only by its holder, while holding it, so a process that opened it just before checks after
        locking that the path still names the file it locked, and starts over when it does not.
        """
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CheckpointError(
                f"cannot create the checkpoint folder {self.folder}: {exc.strerror}"
            ) from None
        for _ in range(100):
            try:
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise CheckpointError(
                    f"cannot write in the checkpoint folder {self.folder} ({exc.strerror}): nothing could be "
                    "saved; choose another --checkpoint-dir"
                ) from None
            previous = os.read(fd, 4096)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise CheckpointLocked(
                    f"another generation of {self.city!r} is running ({_describe_owner(previous)}); "
                    "wait for it or stop it"
                ) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.lock_path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the holder deleted it between our open and our lock: take the new file
        else:  # pragma: no cover - a hundred deletions in a row
            raise CheckpointLocked(f"the lock of {self.city!r} keeps changing; try again")
        try:
            os.ftruncate(fd, 0)
            owner = {"pid": os.getpid(), "host": socket.gethostname(), "started_at": _now_iso()}
            os.pwrite(fd, orjson.dumps(owner), 0)
        except OSError as exc:  # the lock holds without its note: only the owner's name is lost
            self._warn(f"cannot write the lock note in {self.folder}: {exc.strerror}; generation goes on")
        self._lock_fd = fd
        return (
            f"took over a lock left by a process that ended ({_describe_owner(previous)})"
            if previous
            else None
        )

    def release_lock(self) -> None:
        """Give the lock up and delete its file (still holding it, so no one else can be using it)."""
        if self._lock_fd is None:
            return
        with contextlib.suppress(OSError):
            self.lock_path.unlink()
        os.close(self._lock_fd)
        self._lock_fd = None

    def files(self, characters: list[str]) -> Iterator[Path]:
        """Every checkpoint file this city can have, existing or not (no globbing: other cities'
        names may start with this one's)."""
        yield self.characters_path
        yield self.journal_path(None)
        yield self.batches_path
        for name in characters:
            yield self.tree_path(name)
            yield self.journal_path(name)

    def cleanup(self, characters: list[str]) -> list[Path]:
        """Delete the city's checkpoint files after a successful save; returns what was deleted."""
        deleted = []
        paths = list(self.files(characters))
        for path in [*paths[1:], paths[0]]:  # the characters file holds the run id: delete it last
            for tmp in self.folder.glob(f".{glob.escape(path.name)}.*.tmp"):  # left by a kill mid-write
                with contextlib.suppress(OSError):
                    tmp.unlink()
            try:
                path.unlink()
                deleted.append(path)
            except FileNotFoundError:
                continue
        self.release_lock()
        return deleted


LINE_STATES = ("pending", "ok", "failed")


def _check_batch_record(record: Any) -> dict[str, Any]:
    """A batch record as saved, checked field by field (a hand-edited file must not be trusted)."""
    if not isinstance(record, dict) or not isinstance(record.get("id"), str):
        raise ValueError("a batch record has no id")
    if not record["id"] and record.get("status") != "creating":  # no id only while being created
        raise ValueError("a batch record has no id")
    lines = record.get("lines")
    if not isinstance(lines, dict):
        raise ValueError(f"batch {record['id']} has no lines")
    for line_id, line in lines.items():
        if not isinstance(line, dict) or line.get("state") not in LINE_STATES:
            raise ValueError(f"line {line_id} of batch {record['id']} has no known state")
        if "usage" in line:
            Usage.from_dict(line["usage"])
    float(record.get("submitted_at", 0.0))
    for key in ("output_file_id", "error_file_id", "input_file_id"):
        if record.get(key) is not None and not isinstance(record[key], str):
            raise ValueError(f"{key} of batch {record['id']} is not text")
    return dict(record)


def _peek_batches(path: Path) -> list[dict[str, Any]]:
    """The batch records of a file, read only (``status`` moves nothing aside); [] when unusable."""
    try:
        document = orjson.loads(path.read_bytes())
        return [_check_batch_record(record) for record in document["batches"]]
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return []


def batch_summaries(records: list[dict[str, Any]], now: float) -> list[dict[str, Any]]:
    """What ``status`` shows of the batches still waiting for replies: id, age, lines, done, failed."""
    found = []
    for record in records:
        states = [line.get("state") for line in record["lines"].values()]
        if "pending" not in states:
            continue
        found.append(
            {
                "id": record["id"],
                "age_s": round(max(0.0, now - float(record.get("submitted_at", now))), 1),
                "lines": len(states),
                "done": states.count("ok"),
                "failed": states.count("failed"),
            }
        )
    return found


_SHAPE_LIMITS = {"max_depth": (2, 200), "branching": (2, 5), "max_nodes": (5, 100_000)}


def _check_story_document(document: dict[str, Any]) -> None:
    """Types of a character-level checkpoint (ValueError), so a hand-edited one is moved aside, not run."""
    docs = document.get("documents")
    if not isinstance(docs, dict):
        raise ValueError("documents missing")
    for key in ("title", "synopsis", "game_design", "lore", "main_story"):
        if not isinstance(docs.get(key), str) or (key == "title" and not docs[key].strip()):
            raise ValueError(f"documents.{key} is not text")
    scenes = docs.get("scenes")
    if (
        not isinstance(scenes, list)
        or not scenes
        or not all(isinstance(x, str) and x.strip() for x in scenes)
    ):
        raise ValueError("documents.scenes is not a list of scene names")
    characters = document.get("characters")
    if not isinstance(characters, list) or not characters:
        raise ValueError("no characters")
    for character in characters:
        if (
            not isinstance(character, dict)
            or not isinstance(character.get("name"), str)
            or not character["name"].strip()
        ):
            raise ValueError("a character has no name")
        if any(not isinstance(character.get(k, ""), str) for k in ("role", "description")):
            raise ValueError(f"character {character['name']!r} has a role or description that is not text")
    settings = document.get("settings")
    if not isinstance(settings, dict):
        raise ValueError("settings missing")
    for key, (low, high) in _SHAPE_LIMITS.items():
        value = settings.get(key)
        if key in settings and (
            not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high
        ):
            raise ValueError(f"settings.{key} is not a whole number in {low}..{high}")
    if not isinstance(document.get("completed"), dict) or not isinstance(document.get("plans") or {}, dict):
        raise ValueError("completed or plans is not an object")
    for name, plan in (document.get("plans") or {}).items():
        try:
            Plan.model_validate(plan)
        except PydanticError as exc:
            raise ValueError(f"the plan of {name!r} is malformed ({exc.error_count()} problems)") from None


def _describe_owner(raw: bytes) -> str:
    try:
        owner = orjson.loads(raw)
        return f"pid {owner['pid']} on {owner['host']}, started {owner['started_at']}"
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return "owner unknown"


def list_unfinished(folder: Path) -> list[dict[str, Any]]:
    """Summaries of every unfinished generation in a checkpoint folder, for ``status``."""
    found = []
    for path in sorted(Path(folder).glob("*_characters.json")):
        try:
            document = orjson.loads(path.read_bytes())
            if document.get("format_version") != FORMAT_VERSION:
                version = document.get("format_version")
                found.append(
                    {
                        "city": document.get("city"),
                        "file": path.name,
                        "error": f"checkpoint format {version}, not {FORMAT_VERSION}: written by another version",
                    }
                )
                continue
            city = document["city"]
            names = [c["name"] for c in document["characters"]]
            store = CheckpointStore(Path(folder), city, lambda _msg: None)
            partial = {}
            for name in names:
                if name in document["completed"]:
                    partial[name] = len(document["completed"][name]["tree"]["nodes"])
                elif store.tree_path(name).exists():  # written nodes, as the resume line counts them
                    tree_doc = orjson.loads(store.tree_path(name).read_bytes())
                    partial[name] = int(tree_doc["nodes_count"]) - len(tree_doc["tree"]["queue"])
            batches = (
                # read only: status must never move aside the ids of batches already paid for
                batch_summaries(_peek_batches(store.batches_path), time.time())
                if store.batches_path.exists()
                else []
            )
            found.append(
                {
                    "city": city,
                    "characters": names,
                    "completed": len(document["completed"]),
                    "total": len(names),
                    "nodes": partial,
                    "file": path.name,
                    "saved_at": document.get("generated_at"),
                    "batches": batches,
                }
            )
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            found.append({"city": None, "file": path.name, "error": "unreadable checkpoint"})
    return found
