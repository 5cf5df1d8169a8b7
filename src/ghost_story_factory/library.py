"""The story library: finished stories (the export-format dict) kept in one SQLite file."""

from __future__ import annotations

import builtins
import os
import sqlite3
import threading
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from .errors import LibraryError, StoryFormatError
from .model import load_story

SCHEMA_VERSION = 1
APPLICATION_ID = 0x47534631  # "GSF1" in the SQLite header: this file is a Ghost Story Factory library
DEFAULT_TIMEOUT_S = 5.0


class UnknownStory(LibraryError):
    """No story has this id: the caller named a story that is not there (bad input, exit code 2)."""

    exit_code = 2

    def __init__(self, message: str, story_id: int) -> None:
        super().__init__(message)
        self.story_id = story_id


# Character keys with a column of their own. A key whose value is not of the column's type (None, say)
# is kept, like any unknown key, in the ``extra`` JSON column, so ``get`` returns exactly what was saved;
# a missing optional key is NULL and stays missing.
_TEXT_FIELDS = ("role", "description")
_CHARACTER_KEYS = ("name", "role", "description", "is_protagonist", "report", "tree")
_STORY_KEYS = ("meta", "story", "characters")

_SCHEMA = """
CREATE TABLE stories (
    id INTEGER PRIMARY KEY,
    run_id TEXT UNIQUE NOT NULL,
    city TEXT NOT NULL,
    title TEXT NOT NULL,
    lang TEXT NOT NULL,
    created_at TEXT NOT NULL,
    meta TEXT NOT NULL,
    story TEXT NOT NULL,
    extra TEXT
);
CREATE INDEX stories_by_created_at ON stories (created_at);
CREATE TABLE characters (
    story_id INTEGER NOT NULL REFERENCES stories (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    role TEXT,
    description TEXT,
    is_protagonist INTEGER,
    report TEXT,
    tree TEXT NOT NULL,
    extra TEXT,
    PRIMARY KEY (story_id, position)
);
"""


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode("utf-8")


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _character_columns(character: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The column values of a character (name, role, description, is_protagonist, report, tree)
    and the keys that go to ``extra``."""
    extra = {k: v for k, v in character.items() if k not in _CHARACTER_KEYS}
    texts = []
    for key in _TEXT_FIELDS:
        value = character.get(key)
        if key in character and not isinstance(value, str):
            extra[key] = value
            value = None
        texts.append(value)
    protagonist = character.get("is_protagonist")
    if "is_protagonist" in character and not isinstance(protagonist, bool):
        extra["is_protagonist"] = protagonist
        protagonist = None
    report = _dumps(character["report"]) if "report" in character else None
    columns = (
        character["name"],
        *texts,
        None if protagonist is None else int(protagonist),
        report,
        _dumps(character["tree"]),
    )
    return columns, extra


class Library:
    """Finished stories in one SQLite file (WAL mode, so readers never block the writer).

    ``save`` is one transaction and idempotent per ``meta.run_id``; ``get`` returns the story
    dict exactly as saved. Every SQLite failure is raised as :class:`LibraryError` whose message
    is one line naming the file. ``read_only`` opens an existing library without ever writing
    to it (listing and playing need nothing more). One instance may be shared between threads
    (calls are serialised); several processes may open the same file.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        read_only: bool = False,
    ) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        if not read_only:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise LibraryError(
                    f"cannot create the folder of story library {self.path}: {_one_line(exc.strerror or exc)}"
                ) from exc
        conn: sqlite3.Connection | None = None
        try:
            with self._errors("open"):
                if read_only:
                    target: str | Path = f"{self.path.resolve().as_uri()}?mode=ro"
                else:
                    target = self.path
                conn = sqlite3.connect(
                    target, uri=read_only, timeout=timeout_s, isolation_level=None, check_same_thread=False
                )
                conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
                conn.execute("PRAGMA foreign_keys = ON")
                self._check_ours(conn)  # before anything writes, the WAL switch included
                if not read_only:
                    conn.execute("PRAGMA journal_mode = WAL")
                self._migrate(conn)
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        self._conn = conn

    # -- plumbing ---------------------------------------------------------------------------------

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise LibraryError(f"cannot {action} story library {self.path}: {_one_line(exc)}") from exc

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise LibraryError(f"story library {self.path} is closed")
        return self._conn

    @contextmanager
    def _transaction(self, conn: sqlite3.Connection, mode: str = "IMMEDIATE") -> Iterator[None]:
        """All or nothing: COMMIT when the block ends, ROLLBACK on any exception."""
        conn.execute(f"BEGIN {mode}")
        try:
            yield
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLite may have rolled back already (e.g. after an I/O error)
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise

    def _check_ours(self, conn: sqlite3.Connection) -> None:
        """Refuse another application's SQLite file: ours carries APPLICATION_ID, or is empty, or is a
        library from before the id (schema version 1 with our two tables)."""
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        if app_id == APPLICATION_ID:
            return
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if app_id == 0 and (not tables or (version == 1 and {"stories", "characters"} <= tables)):
            return
        raise LibraryError(
            f"{self.path} is not a Ghost Story Factory library (another application's SQLite file); "
            "choose another --db"
        )

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            if not self.read_only and conn.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")  # a library from before the id
            return
        if version > SCHEMA_VERSION:
            raise LibraryError(
                f"story library {self.path} has schema version {version}, newer than this program's "
                f"{SCHEMA_VERSION}: upgrade ghost-story-factory"
            )
        if self.read_only:
            raise LibraryError(f"story library {self.path} is empty or not initialised (opened read-only)")
        with self._transaction(conn):
            # Read again under the write lock: another process may have created the schema meanwhile.
            if conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
                return
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")

    def _check(self, story: Any) -> None:
        """Refuse a dict that cannot round-trip through the tables (before touching the file)."""

        def bad(why: str) -> LibraryError:
            return LibraryError(f"cannot save to story library {self.path}: {why}")

        if not isinstance(story, dict):
            raise bad(f"a story must be a dict, not {type(story).__name__}")
        for key, kind in (("meta", dict), ("story", dict), ("characters", list)):
            if not isinstance(story.get(key), kind):
                raise bad(f"the story has no {key!r} {kind.__name__}")
        run_id = story["meta"].get("run_id")
        if not isinstance(run_id, str) or not run_id.strip():
            raise bad("the story has no meta.run_id")
        if not story["characters"]:
            raise bad("the story has no characters")
        for position, character in enumerate(story["characters"], 1):
            if not isinstance(character, dict):
                raise bad(f"character {position} is not a dict")
            name = character.get("name")
            if not isinstance(name, str) or not name.strip():
                raise bad(f"character {position} has no name")
            tree = character.get("tree")
            if not isinstance(tree, dict):
                raise bad(f"character {position} ({name}) has no tree")
        try:  # the typed story model owns the format: nothing it refuses is stored
            load_story(story)
        except StoryFormatError as exc:
            raise bad(str(exc)) from None

    # -- public API -------------------------------------------------------------------------------

    def save(self, story: dict[str, Any]) -> int:
        """Store a finished story and return its id; a run already stored returns the existing id."""
        self._check(story)
        run_id: str = story["meta"]["run_id"]
        try:
            meta = _dumps(story["meta"])
            body = _dumps(story["story"])
            extra = {k: v for k, v in story.items() if k not in _STORY_KEYS}
            story_extra = _dumps(extra) if extra else None
            rows = []
            for position, character in enumerate(story["characters"]):
                columns, char_extra = _character_columns(character)
                rows.append((position, *columns, _dumps(char_extra) if char_extra else None))
        except TypeError as exc:  # orjson.JSONEncodeError
            raise LibraryError(
                f"cannot save to story library {self.path}: the story is not JSON data ({_one_line(exc)})"
            ) from exc
        info = story["story"]
        settings = story["meta"].get("settings")
        lang = info.get("lang") or (settings.get("lang") if isinstance(settings, dict) else None) or ""
        created_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self._lock, self._errors("save to"):
            conn = self._db
            with self._transaction(conn):
                found = conn.execute("SELECT id FROM stories WHERE run_id = ?", (run_id,)).fetchone()
                if found:
                    return int(found[0])
                cursor = conn.execute(
                    "INSERT INTO stories (run_id, city, title, lang, created_at, meta, story, extra)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        run_id,
                        str(info.get("city") or ""),
                        str(info.get("title") or ""),
                        str(lang),
                        created_at,
                        meta,
                        body,
                        story_extra,
                    ),
                )
                story_id = int(cursor.lastrowid or 0)
                conn.executemany(
                    "INSERT INTO characters (story_id, position, name, role, description, is_protagonist,"
                    " report, tree, extra) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(story_id, *row) for row in rows],
                )
            return story_id

    def find_run(self, run_id: str) -> int | None:
        """The id of the story a generation run saved, or None."""
        with self._lock, self._errors("read"):
            row = self._db.execute("SELECT id FROM stories WHERE run_id = ?", (run_id,)).fetchone()
        return int(row[0]) if row else None

    def find_city(self, city: str) -> builtins.list[tuple[int, str]]:
        """(id, title) of the stories set in ``city`` (same name ignoring case and Unicode form), oldest first."""
        wanted = unicodedata.normalize("NFC", city).strip().casefold()
        with self._lock, self._errors("read"):
            rows = self._db.execute("SELECT id, city, title FROM stories ORDER BY id").fetchall()
        return [
            (int(story_id), str(title))
            for story_id, name, title in rows
            if unicodedata.normalize("NFC", str(name)).strip().casefold() == wanted
        ]

    def get(self, story_id: int) -> dict[str, Any]:
        """The story dict exactly as it was saved."""
        with self._lock, self._errors("read"):
            conn = self._db
            with self._transaction(conn, "DEFERRED"):  # one snapshot for both tables
                row = conn.execute(
                    "SELECT meta, story, extra FROM stories WHERE id = ?", (int(story_id),)
                ).fetchone()
                chars = conn.execute(
                    "SELECT name, role, description, is_protagonist, report, tree, extra"
                    " FROM characters WHERE story_id = ? ORDER BY position",
                    (int(story_id),),
                ).fetchall()
        if row is None:
            raise UnknownStory(f"no story with id {story_id} in {self.path}", int(story_id))
        try:
            story: dict[str, Any] = {"meta": orjson.loads(row[0]), "story": orjson.loads(row[1])}
            characters = []
            for name, role, description, is_protagonist, report, tree, extra in chars:
                character: dict[str, Any] = {"name": name}
                if role is not None:
                    character["role"] = role
                if description is not None:
                    character["description"] = description
                if is_protagonist is not None:
                    character["is_protagonist"] = bool(is_protagonist)
                if report is not None:
                    character["report"] = orjson.loads(report)
                character["tree"] = orjson.loads(tree)
                if extra:
                    character.update(orjson.loads(extra))
                characters.append(character)
            story["characters"] = characters
            if row[2]:
                story.update(orjson.loads(row[2]))
        except orjson.JSONDecodeError as exc:
            raise LibraryError(f"story {story_id} in {self.path} is damaged: {_one_line(exc)}") from exc
        return story

    def list(self) -> builtins.list[dict[str, Any]]:
        """Summaries of every story, newest first.

        Each has id, run_id, city, title, lang, created_at, backend, model, offline, tokens (the
        run's total, None when not recorded), cost_usd (None when unknown), calls and characters (a list
        of ``{"name", "role", "is_protagonist", "report"}``, story order); trees are not loaded.
        """
        with self._lock, self._errors("read"):
            conn = self._db
            with self._transaction(conn, "DEFERRED"):
                stories = conn.execute(
                    "SELECT id, run_id, city, title, lang, created_at, meta FROM stories"
                    " ORDER BY created_at DESC, id DESC"
                ).fetchall()
                chars = conn.execute(
                    "SELECT story_id, name, role, is_protagonist, report FROM characters"
                    " ORDER BY story_id, position"
                ).fetchall()
        try:
            return self._summaries(stories, chars)
        except orjson.JSONDecodeError as exc:
            raise LibraryError(f"story library {self.path} is damaged: {_one_line(exc)}") from exc

    @staticmethod
    def _summaries(stories: builtins.list[Any], chars: builtins.list[Any]) -> builtins.list[dict[str, Any]]:
        by_story: dict[int, builtins.list[dict[str, Any]]] = {}
        for story_id, name, role, is_protagonist, report in chars:
            by_story.setdefault(story_id, []).append(
                {
                    "name": name,
                    "role": role,
                    "is_protagonist": bool(is_protagonist),
                    "report": None if report is None else orjson.loads(report),
                }
            )
        summaries = []
        for story_id, run_id, city, title, lang, created_at, meta_text in stories:
            meta = orjson.loads(meta_text)
            tokens = meta.get("tokens")
            summaries.append(
                {
                    "id": story_id,
                    "run_id": run_id,
                    "city": city,
                    "title": title,
                    "lang": lang,
                    "created_at": created_at,
                    "backend": meta.get("backend"),
                    "model": meta.get("model"),
                    "offline": bool(meta.get("offline", False)),
                    "tokens": tokens.get("total") if isinstance(tokens, dict) else None,
                    "cost_usd": meta.get("cost_usd"),
                    "calls": meta.get("calls"),
                    "characters": by_story.get(story_id, []),
                }
            )
        return summaries

    def delete(self, story_id: int) -> None:
        """Remove a story and its characters (one transaction); an unknown id is a LibraryError."""
        with self._lock, self._errors("delete from"):
            conn = self._db
            with self._transaction(conn):
                cursor = conn.execute("DELETE FROM stories WHERE id = ?", (int(story_id),))
        if cursor.rowcount == 0:
            raise UnknownStory(f"no story with id {story_id} in {self.path}", int(story_id))

    def close(self) -> None:
        """Close the file; closing twice is harmless."""
        with self._lock:
            if self._conn is not None:
                conn, self._conn = self._conn, None
                try:
                    conn.close()
                except sqlite3.Error as exc:
                    raise LibraryError(f"cannot close story library {self.path}: {_one_line(exc)}") from exc

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Library({str(self.path)!r})"
