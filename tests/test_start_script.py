"""The front door, as a newcomer uses it: the menu of start_pregenerated_game.sh driven through stdin,
and its first run, which installs the project and says so step by step."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from test_menu_pty import REPO, clean_env, menu_folder


def _menu(folder: Path, answers: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "start_pregenerated_game.sh"], cwd=folder, input=answers, capture_output=True, text=True,
        timeout=300, env=clean_env(**env),
    )  # fmt: skip


def test_the_menu_shows_the_estimate_and_generates_only_when_confirmed(tmp_path: Path) -> None:
    folder = menu_folder(tmp_path)
    declined = _menu(folder, "1\n2\n苏州\n书生:落第的读书人\nn\nq\n")  # 1 = 中文, asked first
    assert declined.returncode == 0, declined.stderr
    said = declined.stdout + declined.stderr
    assert "预估" in said and "离线写作器" in said and "未开始" in said
    assert not (folder / "ghost_stories.db").exists() and not any((folder / "checkpoints").glob("*"))
    accepted = _menu(folder, "2\n苏州\n书生:落第的读书人\n\nq\n", GSF_LANG="zh")  # chosen: not asked
    assert accepted.returncode == 0, accepted.stderr[-2000:]
    listed = subprocess.run(
        [str(REPO / ".venv" / "bin" / "ghost-story"), "list", "--json"], cwd=folder, capture_output=True,
        env=clean_env(), timeout=120, check=True,
    )  # fmt: skip
    stories = orjson.loads(listed.stdout)
    assert [(s["city"], [c["name"] for c in s["characters"]]) for s in stories] == [("苏州", ["书生"])]


# A stand-in for the fresh venv's python: pip prints what a real install prints, and stops after its
# first package until the test lets it go on, so the test sees the lines while pip still runs.
FAKE_PYTHON = """#!/usr/bin/env bash
if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then
  echo "Obtaining file://$PWD"
  echo "  Installing build dependencies: started"
  echo "  Installing build dependencies: finished with status 'done'"
  echo "Collecting rich>=13 (from ghost-story-factory==0.2.0)"
  echo "  Using cached rich-13.9.4-py3-none-any.whl (242 kB)"
  while [ ! -e "$GO" ]; do sleep 0.05; done
  echo "Collecting orjson>=3 (from ghost-story-factory==0.2.0)"
  echo "WARNING: Location '/somewhere' is ignored: it is neither a file nor a directory."
  echo "Building wheels for collected packages: ghost-story-factory"
  if [ -n "$FAIL" ]; then echo "ERROR: No matching distribution found for orjson>=3"; exit 1; fi
  echo "Installing collected packages: rich, orjson, ghost-story-factory"
  echo "Successfully installed ghost-story-factory-0.2.0 orjson-3.10 rich-13.9.4"
  exit 0
fi
exec "$REAL" "$@"
"""


@pytest.mark.parametrize(("lang", "fetching", "done"), [("zh", "获取第 1 个依赖：rich", "安装完成"),
                                                       ("en", "fetching package 1: rich", "installed")])  # fmt: skip
def test_the_first_run_says_each_install_step_while_it_installs(
    tmp_path: Path, lang: str, fetching: str, done: str
) -> None:
    folder = menu_folder(tmp_path)
    venv = folder / ".venv"
    (venv / ".ghost-story-installed").unlink()  # never installed here: the first run
    (venv / "bin").unlink()
    (venv / "bin").mkdir()
    (venv / "bin" / "python").write_text(FAKE_PYTHON)
    (venv / "bin" / "python").chmod(0o755)
    (venv / "bin" / "ghost-story").symlink_to(REPO / ".venv" / "bin" / "ghost-story")
    go = tmp_path / "go"
    env = clean_env(GSF_LANG=lang, GO=str(go), REAL=sys.executable)
    process = subprocess.Popen(
        ["bash", "start_pregenerated_game.sh", "--version"], cwd=folder, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    lines = []
    for line in process.stdout:  # pip is still running: it waits for "go"
        lines.append(line)
        if fetching in line:
            break
    assert process.poll() is None and not go.exists()
    assert len(lines) == 4, lines  # what is being installed, the project, the build tools, the package
    go.touch()
    rest = process.stdout.read()
    assert process.wait(timeout=120) == 0
    shown = "".join(lines) + rest
    assert done in rest and "ghost-story " in rest  # then the command itself ran
    assert "WARNING" not in shown and "Collecting" not in shown  # pip's own words stay in its log
    assert "orjson" in (venv / "install.log").read_text()
    assert (venv / ".ghost-story-installed").exists()  # the next run does not install again


def test_a_failed_install_says_so_with_the_end_of_its_log(tmp_path: Path) -> None:
    folder = menu_folder(tmp_path)
    venv = folder / ".venv"
    (venv / ".ghost-story-installed").unlink()
    (venv / "bin").unlink()
    (venv / "bin").mkdir()
    (venv / "bin" / "python").write_text(FAKE_PYTHON)
    (venv / "bin" / "python").chmod(0o755)
    (tmp_path / "go").touch()
    env = clean_env(GSF_LANG="en", GO=str(tmp_path / "go"), REAL=sys.executable, FAIL="1")
    failed = subprocess.run(
        ["bash", "start_pregenerated_game.sh", "list"], cwd=folder, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert failed.returncode == 1
    assert "error: installing the project failed (the full log is .venv/install.log)" in failed.stderr
    assert "No matching distribution found for orjson" in failed.stderr
    assert "is ignored" not in failed.stderr
    assert not (venv / ".ghost-story-installed").exists()
