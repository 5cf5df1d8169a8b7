"""The bench command: measures what the performance issue asks for, prints a table and writes BENCHMARKS.md."""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a script (python bench/run.py): make the bench package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import batch, characters, checkpoint_io, generation, processes, ratelimit, scale
from bench.common import REPO, Row, Section, filesystem_of, load_average, machine

MARKER = "<!-- Everything below this line is written by the bench command; edit only the text above it. -->"
DEFAULT_INTRO = """# Benchmarks

What the generator costs besides the LLM, measured by one command, `.venv/bin/python -m bench.run`
(`--quick` for a smoke run with tiny sizes, `--output FILE` to write elsewhere). Everything below the
marker line is rewritten by each run, figures and notes alike, so every number comes from the command;
only this introduction is kept. The writer is the built-in offline writer with a simulated latency,
so the figures measure our code and our scheduling, never a network. The machine is small and shared:
compare ratios taken in the same run, not absolute times across runs.
"""

SECTIONS: list[tuple[str, Callable[[bool], Section]]] = [
    ("1", checkpoint_io.run),
    ("2", generation.overhead),
    ("3", generation.scheduler),
    ("4", processes.resume),
    ("5", processes.memory),
    ("6", ratelimit.run),
    ("7", characters.run),
    ("8", batch.run),
    ("9", scale.run),
]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for the smoke test (< 30 s)")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="markdown file to write (default: BENCHMARKS.md in the repository; with --quick, none)",
    )
    parser.add_argument("--only", default="", help="comma-separated measure numbers, e.g. 1,3 (development)")
    return parser.parse_args(argv)


def command_line(argv: list[str]) -> str:
    python = Path(sys.executable)
    with_venv = os.path.relpath(python, REPO) if python.is_relative_to(REPO) else str(python)
    launcher = "-m bench.run" if __package__ else os.path.relpath(Path(__file__).resolve(), REPO)
    return " ".join([with_venv, launcher, *argv])


def run_section(number: str, measure: Callable[[bool], Section], quick: bool) -> Section:
    load = load_average().split(",")[0]
    started = time.perf_counter()
    try:
        section = measure(quick)
    except Exception as exc:  # one broken measure must not hide the others
        section = Section(f"{number}. (failed)", failed=True)
        section.rows.append(
            Row(number, "measure failed", f"error: {type(exc).__name__}: {exc}"[:300], "-", "error")
        )
        section.details += ["```", traceback.format_exc().rstrip(), "```"]
    section.seconds = time.perf_counter() - started
    section.load = load
    return section


def table(rows: list[Row]) -> list[str]:
    lines = ["| # | measure | result | goal | verdict |", "|---|---|---|---|---|"]
    for row in rows:
        cells = [
            row.section,
            row.measure,
            row.result,
            row.goal,
            f"**{row.verdict}**" if row.verdict == "MISSED" else row.verdict,
        ]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return lines


def document(
    intro: str, sections: list[Section], command: str, quick: bool, total: float, load_before: str = ""
) -> str:
    info = machine()
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    lines = [
        intro.rstrip(),
        "",
        MARKER,
        "",
        "## Latest run",
        "",
        f"- Command: `{command}`" + (" (quick mode: tiny sizes, figures not meaningful)" if quick else ""),
        f"- Date: {info.pop('date')}",
        *(f"- {key}: {value}" for key, value in info.items()),
        f"- Load average (1, 5, 15 min): {load_before or 'unknown'} at the start, {load_average()} at the end",
        f"- Checkpoint and journal files: temporary folders on {filesystem_of(tmp)}",
        f"- Whole run: {total:.0f} s ("
        + ", ".join(f"measure {s.title.split('.')[0]} {s.seconds:.0f} s" for s in sections)
        + "; 1-minute load average as each measure started: "
        + ", ".join(f"{s.title.split('.')[0]}: {s.load}" for s in sections)
        + ")",
        "",
        "## Summary",
        "",
        *table([row for s in sections for row in s.rows]),
        "",
    ]
    for section in sections:
        lines += [f"## {section.title}", "", *section.details, ""]
    return "\n".join(lines).rstrip() + "\n"


def intro_of(path: Path) -> str:
    """The hand-written text above the marker of an existing file, else the default introduction."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return DEFAULT_INTRO
    return text.split(MARKER, 1)[0] if MARKER in text else DEFAULT_INTRO


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    args = parse_args(given)
    output = args.output or (None if args.quick else REPO / "BENCHMARKS.md")
    wanted = {part.strip() for part in args.only.split(",") if part.strip()}
    load_before = load_average()
    started = time.perf_counter()
    sections = []
    for number, measure in SECTIONS:
        if wanted and number not in wanted:
            continue
        print(f"measure {number}...", file=sys.stderr, flush=True)
        sections.append(run_section(number, measure, args.quick))
    total = time.perf_counter() - started
    print("\n".join(table([row for s in sections for row in s.rows])))
    print(f"\nwhole run: {total:.1f} s", flush=True)
    if output is not None:
        text = document(intro_of(output), sections, command_line(given), args.quick, total, load_before)
        output.write_text(text, encoding="utf-8")
        print(f"wrote {output}")
    return 1 if any(s.failed for s in sections) else 0


if __name__ == "__main__":
    sys.exit(main())
