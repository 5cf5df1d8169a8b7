"""A full disk and a read-only folder, for exports and for checkpoints, through real processes: the earlier
good files stay whole, every problem is one line, and a rerun once space is back ends with the same story.

A small disk is a real tmpfs mounted for the test (root can mount one; elsewhere the tests skip and say
why); a read-only folder is a folder of mode 0555 seen by a child that dropped root for ``nobody``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from crash_helpers import (
    SMALL,
    child_env,
    export_story,
    generate_args,
    last_json,
    reap,
    run,
    start,
    wait_until,
)
from export_samples import all_samples
from helpers import same_story

from ghost_story_factory.export import ExportError, render, write_export

CITY = "上海"
CHARACTERS = "保安,调查员"
ARGS = generate_args(CITY, CHARACTERS, *SMALL, "--lang", "en")


@pytest.fixture(autouse=True)
def _no_child_outlives_its_test() -> Iterator[None]:
    yield
    reap()


@contextlib.contextmanager
def small_disk(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` at ``path`` for the test's duration."""
    path.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None:
        pytest.skip("no mount command: a small disk needs a tmpfs")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0777", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def resize(path: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True, capture_output=True)


def fill(folder: Path) -> Path:
    """Take every free byte of the disk under ``folder``."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def one_line_error(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr[-2000:]
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr[-2000:]
    return errors[0]


# exports ----------------------------------------------------------------------------------------
STORY = all_samples()["zh"]


def test_a_re_export_onto_a_full_disk_leaves_the_previous_file_whole(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "64k") as disk:
        [(_, small)] = render(STORY, "json", "保安")
        [(_, whole)] = render(STORY, "json")
        assert len(whole) > len(small)
        target = disk / "story.json"
        assert write_export([("story.json", small)], str(target)) == [target]
        fill(disk)
        with pytest.raises(ExportError) as raised:
            write_export([("story.json", whole)], str(target))
        message = str(raised.value)
        assert "No space left on device" in message and str(target) in message and "\n" not in message
        assert target.read_bytes() == small
        assert sorted(p.name for p in disk.iterdir()) == ["filler", "story.json"]  # no temporary file left


def test_a_multi_file_re_export_is_all_or_nothing(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "64k") as disk:
        before = render(STORY, "ink")
        written = write_export(before, str(disk / "ink"))
        assert [p.read_bytes() for p in written] == [content for _, content in before]
        fill(disk)
        with pytest.raises(ExportError, match="No space left on device"):
            write_export([(name, content * 4) for name, content in before], str(disk / "ink"))
        assert [p.read_bytes() for p in written] == [content for _, content in before]
        assert sorted(p.name for p in (disk / "ink").iterdir()) == sorted(name for name, _ in before)


def test_o_at_a_new_file_name_for_a_multi_file_format_is_one_line_and_makes_no_folder(tmp_path: Path) -> None:
    files = render(STORY, "ink")
    assert len(files) > 1
    with pytest.raises(ExportError) as raised:
        write_export(files, str(tmp_path / "story.ink"), "zh")
    assert "是一个文件名" in str(raised.value) and "\n" not in str(raised.value)
    assert list(tmp_path.iterdir()) == []  # no folder named story.ink
    assert [p.name for p in write_export(files, str(tmp_path / "ink"))] == [name for name, _ in files]


def test_o_at_an_existing_file_for_a_multi_file_format_is_one_line(tmp_path: Path) -> None:
    taken = tmp_path / "taken.ink"
    taken.write_bytes(b"mine")
    with pytest.raises(ExportError) as raised:
        write_export(render(STORY, "ink"), str(taken))
    assert "is a file" in str(raised.value) and "2 files" in str(raised.value)
    with pytest.raises(ExportError, match="是一个文件"):
        write_export(render(STORY, "ink"), str(taken), "zh")
    assert taken.read_bytes() == b"mine"


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder whose lib.db holds one finished offline story (id 1)."""
    folder = tmp_path_factory.mktemp("library")
    done = run(ARGS, folder)
    assert done.returncode == 0, done.stderr
    return folder


def _export(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run(["export", "1", "--db", str(folder / "lib.db"), "--lang", "en", *args], folder)


def test_the_command_line_re_export_onto_a_full_disk_keeps_the_old_file(
    library: Path, tmp_path: Path
) -> None:
    with small_disk(tmp_path / "disk", "256k") as disk:
        target = disk / "story.json"
        first = _export(library, "--format", "json", "--character", "保安", "-o", str(target))
        assert first.returncode == 0, first.stderr
        before = target.read_bytes()
        fill(disk)
        again = _export(library, "--format", "json", "-o", str(target))
        assert again.returncode == 1
        assert "No space left on device" in one_line_error(again.stderr)
        assert target.read_bytes() == before


def test_the_command_line_o_at_a_file_for_a_multi_file_format_is_one_line(library: Path) -> None:
    taken = library / "taken.ink"
    taken.write_bytes(b"mine")
    done = _export(library, "--format", "ink", "-o", str(taken))
    assert done.returncode == 1 and "is a file" in one_line_error(done.stderr)
    assert taken.read_bytes() == b"mine"


# checkpoints ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def reference(library: Path) -> dict[str, Any]:
    """The uninterrupted run on a disk with room: its story and its Ink export."""
    ink = _export(library, "--format", "ink", "--character", "保安")
    assert ink.returncode == 0, ink.stderr
    return {"story": export_story(library, 1), "ink": ink.stdout}


def test_checkpoints_on_a_disk_that_fills_warn_and_the_rerun_ends_with_the_same_story(
    tmp_path: Path, reference: dict[str, Any]
) -> None:
    """About 430 kB of checkpoints on a 192 kB disk: the run warns once per failed save and goes on;
    stopped after the disk filled, it resumes once the disk is larger and writes the same story."""
    with small_disk(tmp_path / "cp", "192k") as disk:
        child = start(ARGS, tmp_path, child_env(GSF_OFFLINE_LATENCY_MS=60))
        assert wait_until(lambda: "No space left on device" in child.stderr, child, timeout=60), child.output
        trees = lambda: any(p.name.endswith("_tree.json") for p in disk.iterdir())  # noqa: E731
        assert wait_until(trees, child, timeout=60), child.output
        assert child.alive(), "the run ended before the test could stop it: " + child.output[-1500:]
        child.signal(signal.SIGINT)
        assert child.wait(timeout=90) == 130, child.output
        said = child.stderr
        assert "Traceback" not in said
        warnings = [line for line in said.splitlines() if "No space left on device" in line]
        assert warnings and all("generation goes on" in line for line in warnings), warnings[:3]

        resize(disk, "16m")
        rerun = run(ARGS, tmp_path, timeout=120)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        assert "No space left" not in rerun.stderr
        story_id = last_json(rerun.stdout)["story_id"]
        diff = same_story(export_story(tmp_path, story_id), reference["story"])
        assert not diff, f"the resumed story differs from the uninterrupted one at {diff}"
        ink = run(
            ["export", str(story_id), "--db", "lib.db", "--format", "ink", "--character", "保安"], tmp_path
        )
        assert ink.stdout == reference["ink"]  # byte for byte


def test_a_save_that_failed_is_not_reported_as_saved(tmp_path: Path) -> None:
    with small_disk(tmp_path / "cp", "16k") as disk:
        fill(disk)
        done = run(ARGS, tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "checkpoint not saved" in done.stderr
    assert "[character checkpoint] saved" not in done.stderr, done.stderr[-1500:]


def test_checkpoints_on_a_disk_full_from_the_start_still_give_the_story(
    tmp_path: Path, reference: dict[str, Any]
) -> None:
    with small_disk(tmp_path / "cp", "16k") as disk:
        fill(disk)
        done = run(ARGS, tmp_path, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "Traceback" not in done.stderr and "generation goes on" in done.stderr
        story_id = last_json(done.stdout)["story_id"]
        assert not same_story(export_story(tmp_path, story_id), reference["story"])


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[Path]:
    """``path`` as a read-only bind mount of itself: even root cannot write there."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "--bind", str(path), str(path)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"cannot bind-mount here (needs root): {done.stderr.strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(path)], check=True, capture_output=True)
        yield path
    finally:
        subprocess.run(["umount", str(path)], capture_output=True, check=False)


def test_a_read_only_checkpoint_folder_is_one_clear_line(tmp_path: Path) -> None:
    with read_only(tmp_path / "cp"):
        done = run(ARGS, tmp_path, timeout=120)
    assert done.returncode != 0, done.stdout[-1000:] + done.stderr[-1000:]
    line = one_line_error(done.stderr)
    assert "cp" in line and "Read-only file system" in line, line


def test_a_checkpoint_folder_without_write_permission_is_one_clear_line(tmp_path: Path) -> None:
    """A folder of mode 0555, for a real process that file modes hold for: root without the capabilities
    that let it ignore them (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), via util-linux's setpriv. (A child
    dropping to nobody cannot run the venv's Python, which lives under /root.)"""
    setpriv = shutil.which("setpriv")
    if os.geteuid() == 0 and setpriv is None:
        pytest.skip("setpriv (util-linux) is missing: root would ignore the folder's mode")
    prefix = [setpriv, "--bounding-set", "-dac_override,-dac_read_search", "--"] if os.geteuid() == 0 else []
    (tmp_path / "cp").mkdir()
    (tmp_path / "cp").chmod(0o555)
    try:
        done = subprocess.run(
            [*[p for p in prefix if p], sys.executable, "-m", "ghost_story_factory", *ARGS],
            cwd=tmp_path,
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        (tmp_path / "cp").chmod(0o755)
    assert done.returncode != 0, done.stdout[-1000:] + done.stderr[-1000:]
    line = one_line_error(done.stderr)
    assert "cp" in line and "Permission denied" in line, line
