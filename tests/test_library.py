"""The SQLite story library, on real files: round trips, idempotent saves, atomicity and failures."""

from __future__ import annotations

import copy
import os
import shutil
import sqlite3
import threading
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from story_samples import sample_story, sample_story_emoji

from ghost_story_factory.errors import LibraryError
from ghost_story_factory.library import SCHEMA_VERSION, Library, UnknownStory


def count(path: Path, table: str) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def one_line(error: BaseException) -> str:
    text = str(error)
    assert "\n" not in text
    return text


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "library" / "stories.db"


@pytest.mark.parametrize(
    "story",
    [
        pytest.param(sample_story(), id="zh"),
        pytest.param(sample_story("London", "en", 3), id="en"),
        pytest.param(sample_story_emoji(), id="emoji"),
        pytest.param(sample_story("上海", "zh", 1), id="one-character"),
    ],
)
def test_save_then_get_returns_the_story_exactly(db: Path, story: dict) -> None:
    original = copy.deepcopy(story)
    with Library(db) as lib:
        story_id = lib.save(story)
        assert lib.get(story_id) == original
    with Library(db) as reopened:  # and it is on disk, not in a cache
        assert reopened.get(story_id) == original
    assert story == original  # save does not change its argument


def test_save_creates_the_folder_and_a_versioned_wal_database(db: Path) -> None:
    assert not db.parent.exists()
    with Library(db) as lib:
        lib.save(sample_story())
        with closing(sqlite3.connect(db)) as conn, conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_optional_keys_left_out_stay_left_out(db: Path) -> None:
    story = sample_story()
    first, second = story["characters"]
    del first["role"]  # missing stays missing
    del second["report"]
    story["meta"]["cost_usd"] = None
    with Library(db) as lib:
        assert lib.get(lib.save(copy.deepcopy(story))) == story


@pytest.mark.parametrize(
    ("damage", "where"),
    [
        (lambda s: s["characters"][0].__setitem__("description", None), "characters.0.description"),
        (lambda s: s["characters"][1].__setitem__("is_protagonist", "yes"), "characters.1.is_protagonist"),
        (lambda s: s["characters"][0].__setitem__("voice", "低沉"), "characters.0.voice"),
        (lambda s: s.__setitem__("appendix", {}), "appendix"),
    ],
)
def test_a_story_the_model_refuses_is_not_saved_and_the_file_is_untouched(
    db: Path, damage: Any, where: str
) -> None:
    with Library(db) as lib:
        lib.save(sample_story())
    before = db.read_bytes()
    story = sample_story()
    damage(story)
    with Library(db) as lib, pytest.raises(LibraryError) as caught:
        lib.save(story)
    assert where in str(caught.value) and "\n" not in str(caught.value)
    assert count(db, "stories") == 1 and db.read_bytes() == before


def test_same_run_id_saves_once_and_returns_the_same_id(db: Path) -> None:
    story = sample_story()
    with Library(db) as lib:
        first = lib.save(story)
        assert lib.save(copy.deepcopy(story)) == first
    with Library(db) as other:  # a rerun in a new process after a crash
        assert other.save(story) == first
        assert other.find_run(story["meta"]["run_id"]) == first
    assert count(db, "stories") == 1
    assert count(db, "characters") == 2


def test_concurrent_saves_of_one_run_store_one_story(db: Path) -> None:
    story = sample_story()
    Library(db).close()
    ids: list[int] = []

    def save() -> None:
        with Library(db) as lib:
            ids.append(lib.save(story))

    threads = [threading.Thread(target=save) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(ids)) == 1 and len(ids) == 4
    assert count(db, "stories") == 1


def test_one_library_can_be_used_from_another_thread(db: Path) -> None:
    story = sample_story()
    with Library(db) as lib:
        result: list[int] = []
        worker = threading.Thread(target=lambda: result.append(lib.save(story)))
        worker.start()
        worker.join()
        assert lib.get(result[0]) == story


def test_find_run_of_an_unknown_run_is_none(db: Path) -> None:
    with Library(db) as lib:
        assert lib.find_run("no-such-run") is None


def test_list_gives_summaries_newest_first(db: Path) -> None:
    older = sample_story("上海", "zh", 2)
    newer = sample_story_emoji(3)
    newer["meta"]["backend"], newer["meta"]["offline"] = "openai", False
    with Library(db) as lib:
        assert lib.list() == []
        older_id = lib.save(older)
        newer_id = lib.save(newer)
        summaries = lib.list()
    assert [s["id"] for s in summaries] == [newer_id, older_id]
    top = summaries[0]
    assert top["city"] == "香港🌃"
    assert top["title"] == newer["story"]["title"]
    assert top["lang"] == "zh"
    assert top["backend"] == "openai" and top["offline"] is False
    assert top["run_id"] == newer["meta"]["run_id"]
    assert top["created_at"] >= summaries[1]["created_at"]
    assert [c["name"] for c in top["characters"]] == [c["name"] for c in newer["characters"]]
    assert top["characters"][0]["report"] == newer["characters"][0]["report"]
    assert all("tree" not in c for c in top["characters"])
    assert summaries[1]["backend"] == "offline" and summaries[1]["offline"] is True
    tokens = older["meta"].get("tokens") or {}
    assert summaries[1]["tokens"] == tokens.get("total") and summaries[1]["cost_usd"] == older["meta"].get(
        "cost_usd"
    )
    assert summaries[1]["calls"] == older["meta"].get("calls")


def test_unknown_id_is_a_library_error_naming_the_file(db: Path) -> None:
    with Library(db) as lib, pytest.raises(LibraryError) as caught:
        lib.get(999)
    assert one_line(caught.value) == f"no story with id 999 in {db}"
    assert isinstance(caught.value, UnknownStory) and caught.value.story_id == 999
    assert caught.value.exit_code == 2  # the caller named a story that is not there: bad input


def test_find_city_matches_the_name_as_a_writer_types_it(db: Path) -> None:
    with Library(db) as lib:
        assert lib.find_city("上海") == []
        first = lib.save(sample_story("上海", "zh", 1))
        lib.save(sample_story("Edinburgh", "en", 1))
        second = lib.save(sample_story("上海", "zh", 2))
        titles = {s["id"]: s["title"] for s in lib.list()}
        assert lib.find_city(" 上海 ") == [(first, titles[first]), (second, titles[second])]
        assert [sid for sid, _ in lib.find_city("edinburgh")] == [2]  # case does not make another city
        assert lib.find_city("Zoe\u0308") == lib.find_city("Zoë") == []  # NFD and NFC are one name
        zoe = lib.save(sample_story("Zoë", "en", 1))
        assert [sid for sid, _ in lib.find_city("Zoe\u0308")] == [zoe]
        lib.delete(first)
        assert [sid for sid, _ in lib.find_city("上海")] == [second]


def test_a_failure_midway_leaves_no_partial_story(db: Path) -> None:
    story = sample_story("上海", "zh", 3)
    Library(db).close()
    with closing(sqlite3.connect(db)) as conn, conn:  # the second character's row cannot be written
        conn.execute(
            "CREATE TRIGGER fail_midway BEFORE INSERT ON characters WHEN NEW.position = 1"
            " BEGIN SELECT RAISE(ABORT, 'disk full (simulated)'); END"
        )
    with Library(db) as lib:
        with pytest.raises(LibraryError) as caught:
            lib.save(story)
        assert "disk full (simulated)" in one_line(caught.value)
        assert str(db) in str(caught.value)
        assert lib.find_run(story["meta"]["run_id"]) is None
        assert lib.list() == []
    assert count(db, "stories") == 0
    assert count(db, "characters") == 0
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("DROP TRIGGER fail_midway")
    with Library(db) as lib:  # the rerun saves it whole
        assert lib.get(lib.save(story)) == story


def test_a_locked_database_is_a_library_error_and_nothing_is_written(db: Path) -> None:
    Library(db).close()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    story = sample_story()
    try:
        with Library(db, timeout_s=0.2) as lib:
            assert lib.list() == []  # WAL: readers are not blocked by the writer
            with pytest.raises(LibraryError) as caught:  # after its busy timeout, not a hang
                lib.save(story)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    message = one_line(caught.value)
    assert "locked" in message and str(db) in message
    with Library(db) as lib:
        assert lib.find_run(story["meta"]["run_id"]) is None
        assert lib.get(lib.save(story)) == story


def test_a_new_library_locked_by_another_process_fails_to_open(tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(LibraryError) as caught:
            Library(db, timeout_s=0.1)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "locked" in one_line(caught.value) and str(db) in str(caught.value)


def test_a_library_opened_read_only_reads_but_refuses_to_save(db: Path) -> None:
    story = sample_story()
    with Library(db) as lib:
        story_id = lib.save(story)
    with Library(db, read_only=True) as lib:
        assert lib.get(story_id) == story
        assert [s["id"] for s in lib.list()] == [story_id]
        with pytest.raises(LibraryError) as caught:
            lib.save(sample_story())
    assert "readonly" in one_line(caught.value) and str(db) in str(caught.value)
    assert count(db, "stories") == 1


def test_read_only_open_of_a_missing_file_creates_nothing(tmp_path: Path) -> None:
    db = tmp_path / "missing" / "stories.db"
    with pytest.raises(LibraryError) as caught:
        Library(db, read_only=True)
    assert str(db) in one_line(caught.value)
    assert not db.parent.exists()


def _as_unprivileged(action: Any) -> str:
    """Run ``action()`` where file modes hold: in a forked child that drops root (CI runs as root, and
    root ignores file modes), or directly when we are not root. Returns what it returned, or the error."""
    if os.geteuid() != 0:
        return str(action())
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: everything it needs is imported already
        os.close(read)
        try:
            os.setgid(65534)
            os.setuid(65534)  # nobody
            result = str(action())
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            result = f"{type(exc).__name__}: {one_line(exc)}"
        os.write(write, result.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        result = pipe.read().decode()
    os.waitpid(pid, 0)
    return result


def test_a_write_protected_file_is_a_library_error_on_save(tmp_path_factory: pytest.TempPathFactory) -> None:
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="gsf-readonly-"))  # not under root's private pytest folder
    folder.chmod(0o755)
    db = folder / "stories.db"
    story = sample_story()
    with Library(db) as lib:
        story_id = lib.save(story)
    db.chmod(0o444)

    def read_then_save() -> str:
        with Library(db) as lib:
            assert lib.get(story_id) == story
            try:
                lib.save(sample_story())
            except LibraryError as exc:
                return f"LibraryError: {one_line(exc)}"
        return "saved"

    try:
        result = _as_unprivileged(read_then_save)
        assert result.startswith("LibraryError") and "readonly" in result, result
        with Library(db, read_only=True) as lib:
            assert len(lib.list()) == 1  # nothing was added
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_file_that_is_not_a_database_is_a_library_error(tmp_path: Path) -> None:
    db = tmp_path / "notes.db"
    content = "这不是数据库\n".encode() * 200
    db.write_bytes(content)
    with pytest.raises(LibraryError) as caught:
        Library(db)
    message = one_line(caught.value)
    assert "not a database" in message and str(db) in message
    assert db.read_bytes() == content  # left as it was


def test_a_folder_that_cannot_be_made_is_a_library_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(LibraryError) as caught:
        Library(blocker / "stories.db")
    assert str(blocker / "stories.db") in one_line(caught.value)


def test_a_library_from_a_newer_program_is_refused(db: Path) -> None:
    Library(db).close()
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(LibraryError) as caught:
        Library(db)
    assert "newer" in one_line(caught.value)


@pytest.mark.parametrize(
    ("break_it", "why"),
    [
        (lambda s: s["meta"].pop("run_id"), "run_id"),
        (lambda s: s.pop("characters"), "characters"),
        (lambda s: s["characters"].clear(), "no characters"),
        (lambda s: s["characters"][1].pop("tree"), "no tree"),
        (lambda s: s["characters"][0].update(name=""), "no name"),
        (lambda s: s["meta"].update(odd={1, 2}), "not JSON"),
    ],
)
def test_a_malformed_story_is_refused_before_writing(db: Path, break_it, why: str) -> None:
    story = sample_story()
    break_it(story)
    with Library(db) as lib:
        with pytest.raises(LibraryError) as caught:
            lib.save(story)
        assert why in one_line(caught.value)
        assert lib.list() == []


def test_delete_removes_the_story_and_its_characters(db: Path) -> None:
    with Library(db) as lib:
        keep = lib.save(sample_story())
        gone = lib.save(sample_story_emoji())
        lib.delete(gone)
        with pytest.raises(LibraryError, match="no story with id"):
            lib.delete(gone)
        assert [s["id"] for s in lib.list()] == [keep]
    assert count(db, "characters") == 2


def test_a_closed_library_refuses_work_and_closing_twice_is_fine(db: Path) -> None:
    lib = Library(db)
    lib.close()
    lib.close()
    with pytest.raises(LibraryError, match="closed"):
        lib.list()


def test_another_applications_sqlite_file_is_refused_before_any_write(tmp_path: Path) -> None:
    foreign = tmp_path / "photos.db"
    with closing(sqlite3.connect(foreign)) as conn:
        conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, path TEXT)")
        conn.execute("INSERT INTO photos (path) VALUES ('a.jpg')")
        conn.commit()
    before = foreign.read_bytes()
    with pytest.raises(LibraryError, match="not a Ghost Story Factory library"):
        Library(foreign)
    assert foreign.read_bytes() == before, "not one byte may change"
    assert not (tmp_path / "photos.db-wal").exists(), "the WAL switch is a write too"
    with closing(sqlite3.connect(foreign)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("photos",)]


def test_our_library_carries_our_application_id_and_an_older_one_is_adopted(tmp_path: Path) -> None:
    from ghost_story_factory.library import APPLICATION_ID

    path = tmp_path / "stories.db"
    with Library(path) as lib:
        lib.save(sample_story())
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        conn.execute("PRAGMA application_id = 0")  # a library written before the id existed
        conn.commit()
    with Library(path) as lib:
        assert len(lib.list()) == 1
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
