"""Real ``ghost-story generate`` processes for the crash-safety tests: start, signal, kill -9, inspect.

Everything here works on real processes, real checkpoint files and a real SQLite library; nothing
of the product is imported except to name files (``CheckpointStore``) and read a library.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ghost_story_factory.pregenerator.checkpoints import CheckpointStore

RUN_TIMEOUT = 60  # seconds any single command may take before the test fails instead of hanging

# A tree small enough for the default suite: 2 characters, about 57 writer calls in all.
SMALL = ("--max-nodes", "30", "--max-depth", "6", "--branching", "3")


def child_env(**extra: Any) -> dict[str, str]:
    """The environment of a child: no API key (offline writer), no GSF_* leaking in from the
    developer's shell, no terminal width (the screens are what a pipe gets)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GSF_", "OPENAI_")) and k not in ("COLUMNS", "LINES", "FORCE_COLOR")
    }
    env["GSF_BACKEND"] = "offline"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update({k: str(v) for k, v in extra.items()})
    return env


def generate_args(
    city: str, characters: str | None, *shape: str, checkpoint_dir: str = "cp", db: str = "lib.db"
) -> list[str]:
    args = ["generate", "--city", city, "--checkpoint-dir", checkpoint_dir, "--db", db, "--yes", "--json"]
    if characters is not None:
        args += ["--characters", characters]
    return [*args, *shape]


def command(args: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "ghost_story_factory", *args]


def run(
    args: Sequence[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = RUN_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(args),
        cwd=cwd,
        env=env or child_env(),
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=timeout,
    )


@dataclass
class Child:
    """A running ``ghost-story`` process whose output goes to files (a pipe could fill and block it)."""

    process: subprocess.Popen[bytes]
    out_path: Path
    err_path: Path
    started: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def kill9(self) -> bool:
        """SIGKILL if still running; True when the kill landed on a live process."""
        if self.process.poll() is not None:
            return False
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=RUN_TIMEOUT)
        return True

    def wait(self, timeout: float = RUN_TIMEOUT) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            raise

    @property
    def stdout(self) -> str:
        return self.out_path.read_text(encoding="utf-8", errors="replace")

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(encoding="utf-8", errors="replace")

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


STARTED: list[Child] = []  # every child started, so a failing test can end the ones still running


def reap() -> None:
    """SIGKILL the children started here that are still running (stopped ones included)."""
    while STARTED:
        child = STARTED.pop()
        if child.alive():
            child.kill9()


def start(args: Sequence[str], cwd: Path, env: dict[str, str] | None = None, tag: str = "run") -> Child:
    logs = cwd / "logs"
    logs.mkdir(exist_ok=True)
    number = len(list(logs.iterdir())) // 2
    out_path, err_path = logs / f"{tag}-{number}.out", logs / f"{tag}-{number}.err"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        process = subprocess.Popen(command(args), cwd=cwd, env=env or child_env(), stdout=out, stderr=err)
    child = Child(process, out_path, err_path)
    STARTED.append(child)
    return child


def wait_until(condition: Callable[[], bool], child: Child | None = None, timeout: float = 30.0) -> bool:
    """Poll ``condition`` every 10 ms; False when it never held (or the child ended first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if child is not None and not child.alive():
            return condition()
        time.sleep(0.01)
    return False


def flat(text: str) -> str:
    """Output with every run of whitespace made one space: what was said, however it was wrapped."""
    return " ".join(text.split())


def last_json(stdout: str) -> dict[str, Any]:
    """The object ``generate --json`` prints at the end."""
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    assert lines, f"generate --json printed no JSON object:\n{stdout[-2000:]}"
    return orjson.loads(lines[-1])


def export_story(cwd: Path, story_id: int, db: str = "lib.db") -> dict[str, Any]:
    """The story as ``ghost-story export ID --format json`` gives it (a real process)."""
    done = run(["export", str(story_id), "--format", "json", "--db", db], cwd)
    assert done.returncode == 0, done.stderr
    return orjson.loads(done.stdout)


def library_list(cwd: Path, db: str = "lib.db") -> list[dict[str, Any]]:
    done = run(["list", "--json", "--db", db], cwd)
    assert done.returncode == 0, done.stderr
    return orjson.loads(done.stdout)


# checkpoint files ---------------------------------------------------------------------------------
def store(folder: Path, city: str) -> CheckpointStore:
    return CheckpointStore(folder, city, lambda _text: None)


@dataclass
class JournalLines:
    keys: list[str]  # the key of every whole line, in order
    torn: bool  # the file ends in a line cut short (no newline, not JSON)
    whole_bytes: int  # bytes up to the end of the last whole line


def read_journal(data: bytes) -> JournalLines:
    """Parse a journal: every line must parse except possibly a torn last one (AssertionError)."""
    keys: list[str] = []
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    for number, line in enumerate(lines, 1):
        try:
            keys.append(orjson.loads(line)["key"])
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise AssertionError(
                f"journal line {number} of {len(lines)} does not parse: {line[:120]!r}"
            ) from exc
    torn = bool(tail)
    if torn:
        try:
            orjson.loads(tail)
            raise AssertionError("the journal's last line is whole JSON but has no newline")
        except orjson.JSONDecodeError:
            pass
    return JournalLines(keys, torn, len(data) - len(tail))


def check_checkpoint_folder(folder: Path) -> dict[str, JournalLines]:
    """Every checkpoint JSON file parses and is an object of this format; every journal parses
    (but for a torn last line); nothing was moved aside as corrupt. Returns the journals by name."""
    journals: dict[str, JournalLines] = {}
    if not folder.exists():
        return journals
    for path in sorted(folder.iterdir()):
        name = path.name
        assert ".corrupt-" not in name, f"a kill -9 made a checkpoint unusable: {name}"
        if name.endswith(".json") and not name.startswith("."):
            document = orjson.loads(path.read_bytes())  # raises on a half-written file
            assert isinstance(document, dict) and document.get("format_version") == 2, name
            assert document.get("kind") in ("tree", "characters"), name
        elif name.endswith(".jsonl"):
            journals[name] = read_journal(path.read_bytes())
    return journals


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def wait_for_nodes(path: Path, at_least: int) -> Callable[[], bool]:
    """A condition: the tree checkpoint at ``path`` exists and holds at least that many nodes."""

    def holds() -> bool:
        try:
            return orjson.loads(path.read_bytes())["nodes_count"] >= at_least
        except (OSError, orjson.JSONDecodeError, KeyError):
            return False

    return holds


def stop_when(child: Child, condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    """kill -9 the child at a moment when ``condition`` holds on disk: SIGSTOP freezes it, the
    condition is checked again on the frozen files, then SIGKILL (else SIGCONT and go on).
    False when the child ended before the condition held."""

    def holds() -> bool:
        try:
            return condition()
        except (OSError, ValueError, KeyError):  # a file read while it is being replaced
            return False

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not wait_until(holds, child, timeout=max(0.0, deadline - time.monotonic())):
            return False
        if not child.alive():
            return False
        child.signal(signal.SIGSTOP)
        if holds():
            return child.kill9()
        child.signal(signal.SIGCONT)
    return False


# counting backend calls across processes -------------------------------------------------------
CALL_COUNTER = '''"""Test hook of tests/test_crash_safety.py: log each offline-writer call to GSF_TEST_CALL_LOG.

Only a line per call start and end is written (O_APPEND, so a kill -9 loses nothing already
written); the call itself is the product's, unchanged.
"""
import os

_LOG = os.environ.get("GSF_TEST_CALL_LOG")
if _LOG:
    from ghost_story_factory.writers import offline as _offline

    _complete = _offline.OfflineWriter.complete

    def _note(event, request):
        fd = os.open(_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{os.getpid()} {event} {request.key()}\\n".encode())
        finally:
            os.close(fd)

    async def complete(self, request, retries):
        _note("start", request)
        reply = await _complete(self, request, retries)
        _note("end", request)
        return reply

    _offline.OfflineWriter.complete = complete
'''


def counting_env(site: Path, log: Path, **extra: Any) -> dict[str, str]:
    """A child environment whose offline writer logs every call it starts and ends to ``log``."""
    site.mkdir(parents=True, exist_ok=True)
    hook = site / "sitecustomize.py"
    if not hook.exists():
        hook.write_text(CALL_COUNTER, encoding="utf-8")
    env = child_env(GSF_TEST_CALL_LOG=log, **extra)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH", "")) if p)
    return env


def logged_calls(log: Path) -> tuple[list[str], list[str]]:
    """The request keys of the calls started and of the calls that returned, as logged."""
    starts: list[str] = []
    ends: list[str] = []
    if not log.exists():
        return starts, ends
    for line in log.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in ("start", "end"):
            (starts if parts[1] == "start" else ends).append(parts[2])
    return starts, ends


class JournalWatch:
    """Hard links to every journal of a city, made before the first run.

    The product appends to its journals in place, so a link sees every line; and the links keep
    the lines after a successful run deleted the checkpoint files, so the last run is counted
    like the others. An empty journal is what the product reads as "no journal yet".
    """

    def __init__(self, folder: Path, city: str, characters: Sequence[str], links: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        links.mkdir(parents=True, exist_ok=True)
        names = store(folder, city)
        self.paths = [names.journal_path(None), *(names.journal_path(c) for c in characters)]
        self.links = []
        for number, path in enumerate(self.paths):
            path.touch()
            link = links / f"{number}.jsonl"
            os.link(path, link)
            self.links.append(link)

    def snapshot(self) -> list[bytes]:
        return [link.read_bytes() for link in self.links]

    def check_in_place(self) -> None:
        """The journals on disk are still the linked files: appended to, never replaced."""
        for path, link in zip(self.paths, self.links, strict=True):
            if path.exists():
                assert os.path.samefile(path, link), f"{path.name} was replaced instead of appended to"

    def appended(self, before: list[bytes]) -> tuple[list[str], int]:
        """Keys of the whole lines appended since ``before``, and how many journals end torn now.

        Checks the journals are append-only: what was whole before is an unchanged prefix now.
        """
        keys: list[str] = []
        torn = 0
        for link, old in zip(self.links, before, strict=True):
            new = link.read_bytes()
            was = read_journal(old)
            assert new[: was.whole_bytes] == old[: was.whole_bytes], f"{link} lost or changed lines"
            now = read_journal(new)
            keys += now.keys[len(was.keys) :]
            torn += now.torn
        return keys, torn


def lock_owner(path: Path) -> int | None:
    try:
        return int(orjson.loads(path.read_bytes())["pid"])
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def wait_started(child: Child, folder: Path, city: str, timeout: float = 30.0) -> float:
    """Wait until the child holds the city lock (its generation has begun); returns that moment."""
    lock = store(folder, city).lock_path
    wait_until(lambda: lock_owner(lock) == child.pid, child, timeout=timeout)
    return time.monotonic()


def saved_stories(db: Path) -> list[dict[str, Any]]:
    """The library's story summaries (read-only, in this process); [] when there is no library yet."""
    from ghost_story_factory.library import Library

    if not db.exists():
        return []
    with Library(db, read_only=True) as library:
        return library.list()
