"""Crash safety of ``ghost-story generate`` on real processes, real files and a real SQLite library.

Every test runs ``python -m ghost_story_factory generate`` as a child process (offline writer,
simulated latency), stops it the way users do (kill -9, Ctrl+C, SIGTERM, a second generate, a
locked library, hostile input, a hand-edited checkpoint) and checks what is left on disk and that
the rerun finishes with the story an uninterrupted run writes.

The long kill -9 soak is marked ``soak`` (``pytest -m soak``); a short variant runs by default.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from crash_helpers import (
    SMALL,
    Child,
    JournalWatch,
    check_checkpoint_folder,
    child_env,
    counting_env,
    export_story,
    flat,
    generate_args,
    last_json,
    leftovers,
    library_list,
    lock_owner,
    logged_calls,
    read_journal,
    reap,
    run,
    saved_stories,
    start,
    stop_when,
    store,
    wait_for_nodes,
    wait_started,
    wait_until,
)
from helpers import same_story

from ghost_story_factory.library import Library

CITY = "上海"
CHARACTERS = ("保安", "调查员")
SHAPE = (*SMALL, "--lang", "en")  # the story every test but the soak compares against
RESUME_HINT = "run the same command again to continue"


def args_for(*extra: str) -> list[str]:
    return generate_args(CITY, ",".join(CHARACTERS), *SHAPE, *extra)


def visible(folder: Path) -> list[str]:
    """Checkpoint files left in a folder, but for what is kept on purpose (*.corrupt-*)."""
    return [name for name in leftovers(folder) if ".corrupt-" not in name]


def committed_nodes(tree_document: dict[str, Any]) -> int:
    return sum(1 for node in tree_document["tree"]["nodes"].values() if node["narrative"] is not None)


def assert_same_story(story: dict[str, Any], reference: dict[str, Any]) -> None:
    diff = same_story(story, reference)
    assert not diff, f"the resumed story differs from the uninterrupted one at {diff}"


def finished_story(child_stdout: str, cwd: Path) -> dict[str, Any]:
    """The story a successful ``generate --json`` saved, read back with ``export --format json``."""
    result = last_json(child_stdout)
    stories = library_list(cwd)
    assert [s["id"] for s in stories] == [result["story_id"]], "the library should hold exactly this story"
    return export_story(cwd, result["story_id"])


@pytest.fixture(autouse=True)
def _no_child_outlives_its_test() -> Any:
    yield
    reap()


# uninterrupted reference runs ---------------------------------------------------------------------
@dataclass
class Reference:
    story: dict[str, Any]
    keys: list[str]  # the journal lines (request keys) of the uninterrupted run
    calls: int  # backend calls it started
    work_seconds: float  # from taking the city lock to exiting


def reference_run(
    folder: Path, args: list[str], city: str, characters: tuple[str, ...], **env: Any
) -> Reference:
    cp = folder / "cp"
    watch = JournalWatch(cp, city, characters, folder / "links")
    log = folder / "calls.log"
    child = start(args, folder, counting_env(folder / "site", log, **env), tag="reference")
    began = wait_started(child, cp, city)
    assert child.wait() == 0, child.output
    work = time.monotonic() - began
    keys, torn = watch.appended([b""] * len(watch.links))
    starts, ends = logged_calls(log)
    assert not torn and len(set(keys)) == len(keys), "an uninterrupted run journals each reply once"
    assert len(starts) == len(ends) == len(keys), "offline, every call is one validated reply"
    assert visible(cp) == [], "a successful run removes its checkpoint files"
    return Reference(finished_story(child.stdout, folder), keys, len(starts), work)


@pytest.fixture(scope="module")
def references(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Reference]:
    """Uninterrupted runs, one per (arguments, environment), made once per module."""
    cache: dict[str, Reference] = {}

    def get(args: list[str] | None = None, **env: Any) -> Reference:
        args = args or args_for()
        key = repr((args, sorted(env.items())))
        if key not in cache:
            folder = tmp_path_factory.mktemp("reference")
            cache[key] = reference_run(folder, args, CITY, CHARACTERS, **env)
        return cache[key]

    return get


# 1. kill -9 soak -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Soak:
    shape: tuple[str, ...]
    concurrency: int
    checkpoint_every: int
    latency_ms: float
    jitter: float
    kills: int
    seed: int
    max_attempts_per_round: int = 80


def kill9_soak(base: Path, soak: Soak, reference: Reference) -> dict[str, Any]:
    """Kill -9 generations at random moments until ``soak.kills`` kills landed, rerunning each
    generation until it exits 0 (a "round"; a new round starts from nothing when one finishes
    before enough kills; a kill that lands after the story was saved and the checkpoints deleted
    also ends the round). Checks at every kill and at the end of every round.

    What is measured, and how honestly:

    - Files: at every kill every checkpoint JSON parses and every journal line but a torn last
      one parses; nothing is ever moved aside as corrupt (atomic writes make that impossible).
    - Journal-based calls: the journal is append-only with one fsynced line
      per validated reply, so the lines a process appended are the replies it received. Hard
      links made before the first run (``JournalWatch``) keep the lines readable after the final
      run deletes the checkpoint files, so every attempt is counted, the last one included. The
      sum over the attempts of a round must stay within the uninterrupted run's calls plus
      ``concurrency`` per kill, and in fact the appended keys are exactly the reference's keys,
      none twice: no reply once received is asked (paid) again, and requests are deterministic
      across resumes. What the journal cannot see is a call in flight at the kill: paid, never
      recorded.
    - Started calls: to see those too, each child logs every call start/end of its offline writer
      to one O_APPEND file (``sitecustomize`` hook, the writer itself unchanged). Started calls of a
      round must stay within the reference's plus ``concurrency`` per kill: at most the calls in
      flight at each kill are lost and asked again.
    """
    rng = random.Random(soak.seed)
    args = generate_args(
        CITY,
        ",".join(CHARACTERS),
        *soak.shape,
        "--concurrency",
        str(soak.concurrency),
        "--checkpoint-every",
        str(soak.checkpoint_every),
    )
    counters = ("kills", "kills_with_tree_checkpoint", "kills_after_save", "attempts", "rounds")
    totals = dict.fromkeys((*counters, "journal_lines", "calls"), 0)
    window = reference.work_seconds * 0.6  # several kills per generation
    while totals["kills"] < soak.kills:
        totals["rounds"] += 1
        folder = base / f"round-{totals['rounds']}"
        cp = folder / "cp"
        names = store(cp, CITY)
        watch = JournalWatch(cp, CITY, CHARACTERS, folder / "links")
        log = folder / "calls.log"
        env = counting_env(
            base / "site", log, GSF_OFFLINE_LATENCY_MS=soak.latency_ms, GSF_OFFLINE_JITTER=soak.jitter
        )
        kills, torn_seen, appended = 0, 0, []
        for _attempt in range(soak.max_attempts_per_round):
            totals["attempts"] += 1
            before = watch.snapshot()
            child = start(args, folder, env, tag="soak")
            wait_started(child, cp, CITY)
            try:
                returncode: int | None = child.process.wait(timeout=rng.uniform(0.0, window))
            except subprocess.TimeoutExpired:
                returncode = None
            if returncode is None:
                had_tree = any(name.endswith("_tree.json") for name in leftovers(cp))
                if child.kill9():
                    kills += 1
                    totals["kills_with_tree_checkpoint"] += had_tree
                returncode = child.process.returncode
            watch.check_in_place()
            keys, torn = watch.appended(before)
            appended += keys
            if returncode == -signal.SIGKILL:
                check_checkpoint_folder(cp)
                torn_seen += torn
                if names.characters_path.exists() or not saved_stories(folder / "lib.db"):
                    continue
                # Killed after the story was saved and its run id deleted: this generation is
                # over (a rerun would start a new story); a partial cleanup is caught below.
                story_id = saved_stories(folder / "lib.db")[0]["id"]
                totals["kills_after_save"] += 1
                if leftovers(cp) == [names.lock_path.name]:  # killed before it removed its lock file
                    names.lock_path.unlink()
                break
            assert returncode == 0, (
                f"attempt {totals['attempts']} exited {returncode}:\n{child.output[-3000:]}"
            )
            assert "Traceback" not in child.stderr and torn == 0
            story_id = last_json(child.stdout)["story_id"]
            break
        else:
            pytest.fail(f"round {totals['rounds']} did not finish in {soak.max_attempts_per_round} attempts")

        assert [s["id"] for s in library_list(folder)] == [story_id], "the library should hold one story"
        assert_same_story(export_story(folder, story_id), reference.story)
        assert [n for n in visible(cp) if not n.startswith(".")] == [], "checkpoint files left after success"
        allowance = kills * soak.concurrency
        assert len(appended) <= len(reference.keys) + allowance, (len(appended), len(reference.keys), kills)
        assert set(appended) == set(reference.keys), "the resumed run asked for other replies"
        twice = len(appended) - len(set(appended))
        assert twice <= torn_seen, f"{twice} replies already in the journal were asked and paid again"
        starts, ends = logged_calls(log)
        assert len(starts) <= reference.calls + allowance, (len(starts), reference.calls, kills)
        assert len(starts) - len(ends) <= allowance
        totals["kills"] += kills
        totals["journal_lines"] += len(appended)
        totals["calls"] += len(starts)
    assert totals["kills_with_tree_checkpoint"] >= 1, f"no kill landed while a tree was growing: {totals}"
    return totals


SOAK = Soak(
    shape=("--max-nodes", "60", "--max-depth", "8", "--branching", "3", "--lang", "en"),
    concurrency=4,
    checkpoint_every=10,
    latency_ms=25,
    jitter=0.5,
    kills=int(os.environ.get("GSF_SOAK_KILLS", "24")),
    seed=int(os.environ.get("GSF_SOAK_SEED", "20240611")),
)
SHORT_SOAK = Soak(shape=SHAPE, concurrency=4, checkpoint_every=5, latency_ms=15, jitter=0.5, kills=4, seed=7)


def _soak_reference(references: Callable[..., Reference], soak: Soak) -> Reference:
    args = generate_args(
        CITY,
        ",".join(CHARACTERS),
        *soak.shape,
        "--concurrency",
        str(soak.concurrency),
        "--checkpoint-every",
        str(soak.checkpoint_every),
    )
    return references(args, GSF_OFFLINE_LATENCY_MS=soak.latency_ms, GSF_OFFLINE_JITTER=soak.jitter)


def test_kill9_at_random_moments_loses_nothing_short(
    tmp_path: Path, references: Callable[..., Reference]
) -> None:
    totals = kill9_soak(tmp_path, SHORT_SOAK, _soak_reference(references, SHORT_SOAK))
    print(f"short soak: {totals}")


@pytest.mark.soak
def test_kill9_at_random_moments_loses_nothing_soak(
    tmp_path: Path, references: Callable[..., Reference]
) -> None:
    totals = kill9_soak(tmp_path, SOAK, _soak_reference(references, SOAK))
    print(f"soak: {totals}")
    assert totals["kills"] >= 20


# 2. Ctrl+C and SIGTERM -------------------------------------------------------------------------------
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_first_signal_finishes_calls_in_flight_saves_and_rerun_completes(
    tmp_path: Path, references: Callable[..., Reference], signum: int
) -> None:
    grace = 2.0
    args = args_for("--concurrency", "2", "--checkpoint-every", "5")
    names = store(tmp_path / "cp", CITY)
    child = start(args, tmp_path, child_env(GSF_OFFLINE_LATENCY_MS=60, GSF_GRACE_SECONDS=grace))
    assert wait_until(wait_for_nodes(names.tree_path(CHARACTERS[0]), 5), child), child.output
    assert child.alive(), "the run ended before it could be interrupted"
    child.signal(signum)
    assert child.wait(timeout=grace + 30) == 130, child.output  # a hang guard, not a speed check
    said = flat(child.output)
    assert "stopping: finishing calls in flight" in said
    assert "interrupted: checkpoints saved" in said and f"checkpoints are in cp; {RESUME_HINT}" in said
    assert "Traceback" not in child.stderr

    journals = check_checkpoint_folder(tmp_path / "cp")
    assert names.characters_path.exists()
    for name in CHARACTERS:  # every reply received was committed and saved: calls in flight finished
        if names.tree_path(name).exists():
            tree = orjson.loads(names.tree_path(name).read_bytes())
            journal = journals.get(names.journal_path(name).name)
            assert journal is not None and committed_nodes(tree) == len(journal.keys) - 1  # and the plan

    rerun = run(args, tmp_path)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert_same_story(finished_story(rerun.stdout, tmp_path), references().story)
    assert visible(tmp_path / "cp") == []


def slow_tree_calls(folder: Path, latency_s: float, grace: float) -> tuple[Child, Path]:
    """A run whose tree calls are in flight and take ``latency_s`` each, without waiting as long
    for its documents: a quick run is killed once the documents are saved, then the slow run
    resumes. Returns the slow run once its first tree calls have started, and its call log."""
    args = args_for("--concurrency", "2")
    names = store(folder / "cp", CITY)
    quick = start(args, folder, child_env(GSF_OFFLINE_LATENCY_MS=20), tag="quick")
    assert stop_when(quick, names.characters_path.exists), quick.output
    log = folder / "calls.log"
    env = counting_env(folder / "site", log, GSF_OFFLINE_LATENCY_MS=latency_s * 1000, GSF_GRACE_SECONDS=grace)
    child = start(args, folder, env)
    assert wait_until(lambda: len(logged_calls(log)[0]) > 0, child), child.output
    assert child.alive()
    return child, log


# Calls here take far longer (LONG_CALL_S) than any hang guard waits, so a run that exits at all
# has cut its calls: the call log proving that no call returned is the evidence, not a stopwatch.
LONG_CALL_S = 600.0


def test_calls_slower_than_the_grace_are_cut_at_the_grace(
    tmp_path: Path, references: Callable[..., Reference]
) -> None:
    grace = 0.5
    child, log = slow_tree_calls(tmp_path, LONG_CALL_S, grace)
    sent = time.monotonic()
    child.signal(signal.SIGINT)
    assert child.wait(timeout=60) == 130, child.output
    # A lower bound cannot flake on a loaded machine: the calls in flight were given their grace.
    assert time.monotonic() - sent >= grace, "exited before the grace period: calls were not given it"
    assert RESUME_HINT in flat(child.output) and "Traceback" not in child.stderr
    starts, ends = logged_calls(log)
    assert starts and not ends, "a call returned: the run waited for it instead of cutting it"
    journals = check_checkpoint_folder(tmp_path / "cp")
    names = store(tmp_path / "cp", CITY)
    for name in CHARACTERS:  # the slow calls may still be the plans: then no tree file exists yet
        journal = journals.get(names.journal_path(name).name)
        if names.tree_path(name).exists():
            tree = orjson.loads(names.tree_path(name).read_bytes())
            assert journal is not None and committed_nodes(tree) == len(journal.keys) - 1, "lost replies"

    rerun = run(args_for(), tmp_path)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert_same_story(finished_story(rerun.stdout, tmp_path), references().story)


def test_second_sigint_exits_at_once_with_whole_files(
    tmp_path: Path, references: Callable[..., Reference]
) -> None:
    child, log = slow_tree_calls(tmp_path, LONG_CALL_S, grace=LONG_CALL_S)
    child.signal(signal.SIGINT)
    assert wait_until(lambda: "Ctrl+C again to quit now" in flat(child.output), child), child.output
    assert child.alive(), "the first Ctrl+C should wait for the calls in flight"
    child.signal(signal.SIGINT)
    assert child.wait(timeout=60) == 130, child.output  # the grace and the calls are both 600 s
    starts, ends = logged_calls(log)
    assert starts and not ends, "a call returned: the second Ctrl+C waited for the calls in flight"
    check_checkpoint_folder(tmp_path / "cp")

    rerun = run(args_for(), tmp_path)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert_same_story(finished_story(rerun.stdout, tmp_path), references().story)


def test_grace_also_bounds_the_documents_call(tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    env = counting_env(
        tmp_path / "site", log, GSF_OFFLINE_LATENCY_MS=LONG_CALL_S * 1000, GSF_GRACE_SECONDS=0.3
    )
    child = start(args_for(), tmp_path, env)
    wait_started(child, tmp_path / "cp", CITY)
    assert wait_until(lambda: len(logged_calls(log)[0]) > 0, child), child.output  # documents in flight
    child.signal(signal.SIGINT)
    assert child.wait(timeout=60) == 130, child.output
    starts, ends = logged_calls(log)
    assert len(starts) == 1 and not ends, "the documents call should have been cut at the grace"
    assert not store(tmp_path / "cp", CITY).characters_path.exists()


# 3. one writer per city ------------------------------------------------------------------------------
def test_second_generate_of_the_same_city_is_refused_naming_the_owner(
    tmp_path: Path, references: Callable[..., Reference]
) -> None:
    args = args_for("--concurrency", "2")
    names = store(tmp_path / "cp", CITY)
    first = start(args, tmp_path, child_env(GSF_OFFLINE_LATENCY_MS=80))
    wait_started(first, tmp_path / "cp", CITY)
    assert wait_until(names.characters_path.exists, first)
    second = run(args, tmp_path, timeout=120)
    # Still alive when the second has given up: the second did not wait for the lock to be free.
    assert first.alive(), "the first run ended before the second tried"
    assert second.returncode == 1, second.stdout + second.stderr
    said = flat(second.stdout + second.stderr)
    assert "another generation" in said and f"pid {first.pid}" in said, said
    assert "Traceback" not in second.stderr
    assert lock_owner(names.lock_path) == first.pid, "the refused run overwrote the lock owner"
    check_checkpoint_folder(tmp_path / "cp")

    assert first.wait() == 0, first.output
    assert_same_story(finished_story(first.stdout, tmp_path), references().story)
    assert visible(tmp_path / "cp") == []


def test_lock_left_by_a_killed_run_is_taken_over(
    tmp_path: Path, references: Callable[..., Reference]
) -> None:
    args = args_for("--concurrency", "2", "--checkpoint-every", "5")
    names = store(tmp_path / "cp", CITY)
    child = start(args, tmp_path, child_env(GSF_OFFLINE_LATENCY_MS=40))
    assert stop_when(child, wait_for_nodes(names.tree_path(CHARACTERS[0]), 5)), child.output
    assert lock_owner(names.lock_path) == child.pid, "the killed run should leave its lock file"
    rerun = run(args, tmp_path)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    said = flat(rerun.stdout + rerun.stderr)
    assert "took over a lock" in said and f"pid {child.pid}" in said, said
    assert_same_story(finished_story(rerun.stdout, tmp_path), references().story)
    assert visible(tmp_path / "cp") == []


# 4. the library cannot be written ----------------------------------------------------------------------
@dataclass
class PreSave:
    folder: Path  # cp/ as the failed run left it, and the (empty) library it could not write
    failed: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def pre_save(tmp_path_factory: pytest.TempPathFactory) -> PreSave:
    """A run whose library is locked by another program (an EXCLUSIVE transaction held longer than
    the library's 5 s busy timeout): it generates everything, then cannot save."""
    folder = tmp_path_factory.mktemp("locked-library")
    db = folder / "lib.db"
    with Library(db):
        pass  # an existing library (WAL) that another program then opens
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        failed = run(args_for(), folder)
    finally:
        if holder.in_transaction:
            holder.rollback()
        holder.close()
    return PreSave(folder, failed)


def _from_pre_save(pre_save: PreSave, tmp_path: Path) -> Path:
    shutil.copytree(pre_save.folder / "cp", tmp_path / "cp")
    shutil.copy(pre_save.folder / "lib.db", tmp_path / "lib.db")
    return tmp_path / "cp"


def test_locked_library_fails_in_one_line_keeps_checkpoints_and_rerun_saves_once(
    tmp_path: Path, pre_save: PreSave, references: Callable[..., Reference]
) -> None:
    """Exit 1 with the cause on one line, everything kept; once the lock is gone the rerun asks
    the writer nothing, saves and cleans up. Restoring the checkpoints as a crash between the save
    and the cleanup would leave them gives no second story."""
    failed = pre_save.failed
    assert failed.returncode == 1, failed.stdout + failed.stderr
    lines = (failed.stdout + failed.stderr).splitlines()
    cause = [line for line in lines if "database is locked" in line and line.startswith("error:")]
    assert cause and "error: cannot save to story library lib.db" in cause[0], lines
    (failure,) = [orjson.loads(line) for line in failed.stdout.splitlines() if line.startswith("{")]
    assert (
        failure["exit_code"] == 1
        and failure["resumable"] is True
        and "database is locked" in failure["error"]
    )
    assert RESUME_HINT in flat(failed.stdout + failed.stderr)
    assert "Traceback" not in failed.stderr
    cp = _from_pre_save(pre_save, tmp_path)
    check_checkpoint_folder(cp)
    names = store(cp, CITY)
    assert orjson.loads(names.characters_path.read_bytes())["completed_count"] == "2/2"
    assert library_list(tmp_path) == []

    log = tmp_path / "calls.log"
    rerun = run(args_for(), tmp_path, counting_env(tmp_path / "site", log))
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert logged_calls(log) == ([], []), "the rerun asked the writer again"
    story_id = last_json(rerun.stdout)["story_id"]
    assert_same_story(finished_story(rerun.stdout, tmp_path), references().story)
    assert visible(cp) == []

    shutil.rmtree(cp)
    shutil.copytree(pre_save.folder / "cp", cp)  # as if killed after the commit, before the cleanup
    again = run(args_for(), tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    result = last_json(again.stdout)
    assert result["already_saved"] is True and result["story_id"] == story_id
    assert [s["id"] for s in library_list(tmp_path)] == [story_id], "a duplicate story was saved"
    assert visible(cp) == []


def test_a_crash_at_any_point_of_the_cleanup_never_saves_the_story_twice(
    tmp_path: Path, pre_save: PreSave
) -> None:
    """The cleanup is a series of unlinks too fast to kill -9 between reliably, so the states a
    crash can leave are rebuilt from the product's own deletion order (the list it prints):
    after the save, the first k files are gone and the rest are still there."""
    cp = _from_pre_save(pre_save, tmp_path)
    done = run(args_for(), tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    order = [line.strip()[2:] for line in done.stderr.splitlines() if line.startswith("   - ")]
    assert len(order) >= 4, done.stderr
    story_id = last_json(done.stdout)["story_id"]
    for k in range(1, len(order)):
        shutil.rmtree(cp)
        shutil.copytree(pre_save.folder / "cp", cp)
        for gone in order[:k]:
            (tmp_path / gone).unlink()
        again = run(args_for(), tmp_path)
        assert again.returncode == 0, again.stdout + again.stderr
        stories = [s["id"] for s in library_list(tmp_path)]
        assert stories == [story_id], f"crash after deleting {order[:k]}: the library now holds {stories}"


def test_library_path_that_is_a_folder_fails_and_rerun_after_fixing_saves(
    tmp_path: Path, references: Callable[..., Reference]
) -> None:
    (tmp_path / "lib.db").mkdir()
    failed = run(args_for(), tmp_path)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    said = flat(failed.stdout + failed.stderr)
    assert "cannot open story library lib.db" in said and "unable to open database file" in said, said
    assert "Traceback" not in failed.stderr
    check_checkpoint_folder(tmp_path / "cp")
    (tmp_path / "lib.db").rmdir()
    rerun = run(args_for(), tmp_path)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert_same_story(finished_story(rerun.stdout, tmp_path), references().story)


def test_library_error_cause_is_one_line_whatever_the_path_length(tmp_path: Path) -> None:
    db = tmp_path / "a-folder-with-a-rather-long-name" / "and-another-one-below-it" / "ghost_stories.db"
    db.mkdir(parents=True)
    failed = run(generate_args(CITY, ",".join(CHARACTERS), *SHAPE, db=str(db)), tmp_path)
    assert failed.returncode == 1
    lines = (failed.stdout + failed.stderr).splitlines()
    cause = f"error: cannot open story library {db}: unable to open database file"
    assert any(line.strip() == cause for line in lines), lines


def test_resume_hint_is_one_line_whatever_the_path_length_and_only_when_there_is_work_to_continue(
    tmp_path: Path,
) -> None:
    cp = tmp_path / "a-folder-with-a-rather-long-name" / "and-its-checkpoints"
    (tmp_path / "lib.db").mkdir()  # fails at once: nothing was saved, so there is nothing to continue
    failed = run(generate_args(CITY, ",".join(CHARACTERS), *SHAPE, checkpoint_dir=str(cp)), tmp_path)
    assert failed.returncode == 1
    said = failed.stdout + failed.stderr
    assert RESUME_HINT not in said and "Traceback" not in said
    assert [line for line in failed.stderr.splitlines() if line.startswith("error:")], said
    (tmp_path / "lib.db").rmdir()
    args = generate_args(CITY, ",".join(CHARACTERS), *SHAPE, "--concurrency", "2", checkpoint_dir=str(cp))
    child = start(args, tmp_path, child_env(GSF_OFFLINE_LATENCY_MS=40))
    assert wait_until(wait_for_nodes(store(cp, CITY).tree_path(CHARACTERS[0]), 3), child), child.output
    child.signal(signal.SIGINT)
    assert child.wait(timeout=30) == 130, child.output
    lines = child.output.splitlines()
    assert f"checkpoints are in {cp}; {RESUME_HINT}" in lines, lines


# 5. hostile input and Unicode names ---------------------------------------------------------------------
# Bad input (names, numbers, environment values, a checkpoint folder that is a file) is one
# table in tests/test_cli.py, run in-process through cli.main; here only what needs a real process.


def test_emoji_and_unicode_names_round_trip(tmp_path: Path) -> None:
    city, zoe = "👻城", "Zoë🕯️"
    characters = (zoe, "保安")
    decomposed = "Zoe\u0308🕯️,保安"  # the same name typed in NFD: stored as NFC
    args = generate_args(city, decomposed, *SHAPE, "--concurrency", "2", "--checkpoint-every", "5")
    cp = tmp_path / "cp"
    child = start(args, tmp_path, child_env(GSF_OFFLINE_LATENCY_MS=40))
    names = store(cp, city)
    tree_file = names.tree_path(zoe)  # "Zoë🕯️" has capitals: its file name carries a hash
    assert tree_file.name.startswith(f"{city}_{zoe}-")
    assert wait_until(wait_for_nodes(tree_file, 5), child), (leftovers(cp), child.output)
    child.signal(signal.SIGINT)
    assert child.wait() == 130, child.output
    files = set(leftovers(cp))
    wanted = {names.characters_path.name, tree_file.name, names.journal_path(zoe).name}
    assert wanted <= files, files
    check_checkpoint_folder(cp)
    document = orjson.loads(tree_file.read_bytes())
    assert (document["city"], document["character"]) == (city, zoe)
    status = run(["status", "--checkpoint-dir", "cp", "--json"], tmp_path)
    assert [(s["city"], s["characters"]) for s in orjson.loads(status.stdout)] == [(city, list(characters))]

    rerun = run(args, tmp_path)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "resuming with the stored characters" not in rerun.stdout + rerun.stderr
    result = last_json(rerun.stdout)
    assert (result["city"], result["characters"]) == (city, list(characters))
    (listed,) = library_list(tmp_path)
    assert listed["city"] == city and [c["name"] for c in listed["characters"]] == list(characters)
    story = export_story(tmp_path, result["story_id"])
    assert story["story"]["city"] == city and [c["name"] for c in story["characters"]] == list(characters)
    assert visible(cp) == []


# 6. checkpoints edited by hand ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def interrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint folder as a kill -9 leaves it while the first tree grows (10+ nodes saved)."""
    folder = tmp_path_factory.mktemp("interrupted")
    names = store(folder / "cp", CITY)
    child = start(
        args_for("--concurrency", "2", "--checkpoint-every", "5"),
        folder,
        child_env(GSF_OFFLINE_LATENCY_MS=40),
    )
    assert stop_when(child, wait_for_nodes(names.tree_path(CHARACTERS[0]), 10)), child.output
    return folder / "cp"


def _edit_queue(names: Any) -> tuple[Path, str]:
    path = names.tree_path(CHARACTERS[0])
    document = orjson.loads(path.read_bytes())
    document["tree"]["queue"].append("node_9999")
    path.write_bytes(orjson.dumps(document))
    return path, "queue names unknown node node_9999"


def _edit_registry(names: Any) -> tuple[Path, str]:
    path = names.tree_path(CHARACTERS[0])
    document = orjson.loads(path.read_bytes())
    document["tree"]["registry"]["0" * 16] = "node_9999"
    path.write_bytes(orjson.dumps(document))
    return path, "registry names missing node node_9999"


def _edit_choice(names: Any) -> tuple[Path, str]:
    path = names.tree_path(CHARACTERS[0])
    document = orjson.loads(path.read_bytes())
    node = next(n for n in document["tree"]["nodes"].values() if n["choices"])
    node["choices"][0]["next"] = "node_9999"
    path.write_bytes(orjson.dumps(document))
    return path, "has a choice to missing node node_9999"


def _edit_completed(names: Any) -> tuple[Path, str]:
    tree = orjson.loads(names.tree_path(CHARACTERS[0]).read_bytes())["tree"]
    path = names.characters_path
    document = orjson.loads(path.read_bytes())
    document["completed"]["幽灵"] = {"tree": tree, "report": {}}
    path.write_bytes(orjson.dumps(document))
    return path, "completed tree for unknown character '幽灵'"


EDITS = {
    "queue-unknown-node": _edit_queue,
    "registry-missing-node": _edit_registry,
    "choice-to-missing-node": _edit_choice,
    "completed-unknown-character": _edit_completed,
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_inconsistent_checkpoint_is_moved_aside_and_that_level_starts_fresh(
    tmp_path: Path, interrupted: Path, references: Callable[..., Reference], edit: str
) -> None:
    cp = tmp_path / "cp"
    shutil.copytree(interrupted, cp)
    names = store(cp, CITY)
    journaled = {key for name, j in check_checkpoint_folder(cp).items() for key in j.keys}
    edited, why = EDITS[edit](names)
    edited_bytes = edited.read_bytes()
    log = tmp_path / "calls.log"

    rerun = run(args_for(), tmp_path, counting_env(tmp_path / "site", log))
    said = flat(rerun.stdout + rerun.stderr)
    assert rerun.returncode == 0, said[-3000:]
    assert "Traceback" not in rerun.stderr
    assert f"checkpoint cp/{edited.name} is unusable" in said and why in said, said[-3000:]
    moved = [
        p for p in cp.iterdir() if re.fullmatch(re.escape(edited.name) + r"\.corrupt-\d{8}T\d{6}", p.name)
    ]
    assert len(moved) == 1 and moved[0].read_bytes() == edited_bytes, leftovers(cp)
    assert f"moved to {moved[0].name}" in said
    # Only the resume line says "The tree of “X”: N nodes written"; "The tree of “X” is done" is the finish.
    assert f"The tree of “{CHARACTERS[0]}”: " not in said, "the unusable tree level did not start fresh"
    if edited == names.characters_path:
        assert "Resuming the last generation" not in said
    assert "replies already received are in the journal and will be reused" in said
    assert "paid" not in said, "the offline writer is free: nothing was paid for"
    starts, _ends = logged_calls(log)
    assert set(starts).isdisjoint(journaled), "a reply already in the journal was asked again"
    assert len(starts) == len(references().keys) - len(journaled)
    assert_same_story(finished_story(rerun.stdout, tmp_path), references().story)
    assert visible(cp) == [], "only the *.corrupt-* files stay"


# product bugs found on the way -------------------------------------------------------------------------
def test_torn_journal_line_does_not_swallow_the_next_reply(tmp_path: Path) -> None:
    args = args_for("--concurrency", "2", "--checkpoint-every", "5")
    journal = store(tmp_path / "cp", CITY).journal_path(CHARACTERS[0])
    env = child_env(GSF_OFFLINE_LATENCY_MS=40)
    child = start(args, tmp_path, env)
    assert stop_when(child, lambda: journal.exists() and journal.read_bytes().count(b"\n") >= 8), child.output
    whole = journal.read_bytes()
    lines = whole.count(b"\n")
    journal.write_bytes(whole[: whole.rstrip(b"\n").rfind(b"\n") + 1 + 100])  # the last line cut short
    assert read_journal(journal.read_bytes()).torn

    rerun = start(args, tmp_path, env)
    assert stop_when(rerun, lambda: journal.read_bytes().count(b"\n") >= lines + 2), rerun.output
    read_journal(journal.read_bytes())  # every line but a torn last one must parse


def test_meta_calls_count_each_reply_once_after_a_kill(
    tmp_path: Path, references: Callable[..., Reference]
) -> None:
    args = args_for("--concurrency", "2", "--checkpoint-every", "10")
    names = store(tmp_path / "cp", CITY)
    tree_path, journal = names.tree_path(CHARACTERS[0]), names.journal_path(CHARACTERS[0])

    def replies_beyond_the_checkpoint() -> bool:  # the kill must lose some committed-but-unsaved nodes
        try:
            saved = committed_nodes(orjson.loads(tree_path.read_bytes()))
        except (OSError, orjson.JSONDecodeError):
            return False
        return journal.read_bytes().count(b"\n") > saved + 2

    child = start(args, tmp_path, child_env(GSF_OFFLINE_LATENCY_MS=40))
    assert stop_when(child, replies_beyond_the_checkpoint), child.output
    rerun = run(args, tmp_path)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    story = finished_story(rerun.stdout, tmp_path)
    assert_same_story(story, references().story)
    assert story["meta"]["calls"] == references().story["meta"]["calls"]


def test_temp_files_left_by_a_crash_are_removed_after_success(tmp_path: Path) -> None:
    cp = tmp_path / "cp"
    cp.mkdir()
    names = store(cp, CITY)
    for path in (names.characters_path, names.tree_path(CHARACTERS[0])):
        (cp / f".{path.name}.99999.tmp").write_bytes(
            b'{"format_version": 1, "kind": "tr'
        )  # as a kill leaves it
    done = run(args_for(), tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert leftovers(cp) == []
