"""The ``ghost-story`` command: argument parsing and screens over the library."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import orjson
from rich.console import Console
from rich.table import Table
from rich.text import Text

from . import __version__
from .api import generate_story_async
from .config import OPTIONS, Settings, check_name, load_settings, parse_characters
from .errors import (
    BudgetReached,
    GhostStoryError,
    InputError,
    Interrupted,
    InvalidReply,
    LibraryError,
    WriterError,
    WriterUnavailable,
)
from .pregenerator.builder import Budget, TreeSettings
from .pregenerator.checkpoints import CheckpointStore, list_unfinished
from .pregenerator.progress import say
from .pregenerator.story import GenerationResult
from .screens import ConsoleProgress
from .text import clean_text
from .vocabulary import duration
from .wiring import make_writer, price_function, price_known

RESUMABLE = (WriterError, Interrupted, BudgetReached, LibraryError)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line and exit 2, as for every bad input
        raise InputError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ghost-story", description="Pregenerate and play branching ghost stories.")
    parser.add_argument("--version", action="version", version=f"ghost-story {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    generate = commands.add_parser("generate", help="generate a story (resumes unfinished ones)")
    generate.add_argument("--city", required=True)
    generate.add_argument(
        "--characters",
        help='comma-separated names, each with an optional ":role", e.g. "书生:落第的读书人,船娘"; '
        "empty = the writer proposes them; a name without a role gets one from the plan",
    )
    for option in OPTIONS:
        flag = "--" + option.name.replace("_", "-")
        generate.add_argument(flag, dest=option.name, default=None, help=f"{option.help} [{option.env}]")
    generate.add_argument(
        "--estimate", action="store_true", help="print the estimate (calls, tokens, cost, time) and exit"
    )
    generate.add_argument("--yes", action="store_true", help="accepted for scripts: generate never asks")
    generate.add_argument("--json", action="store_true", help="print one JSON object at the end")

    status = commands.add_parser("status", help="unfinished generations in the checkpoint folder")
    status.add_argument("--checkpoint-dir", dest="checkpoint_dir")
    status.add_argument("--json", action="store_true")

    listing = commands.add_parser("list", help="stories in the library")
    listing.add_argument("--db")
    listing.add_argument("--json", action="store_true")

    play = commands.add_parser("play", help="play a story in the terminal")
    play.add_argument("story_id", nargs="?", type=_story_id)
    play.add_argument("--character")
    play.add_argument("--db")

    export = commands.add_parser("export", help="export a story")
    export.add_argument("story_id", type=_story_id)
    export.add_argument("--format", default="json")
    export.add_argument("--character")
    export.add_argument("-o", "--output")
    export.add_argument("--db")
    return parser


def _story_id(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"story id must be a positive whole number, not {text!r}")
    return int(text)


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    err = Console(stderr=True, highlight=False)
    try:
        args = build_parser().parse_args(argv)
        flags = {k: v for k, v in vars(args).items() if v is not None}
        settings = load_settings(flags, env)
        handler = {"generate": _generate, "status": _status, "list": _list, "play": _play, "export": _export}
        return handler[args.command](args, settings, env)
    except GhostStoryError as exc:
        err.print(f"error: {exc}", markup=False, soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("interrupted", markup=False)
        return 130


# generate --------------------------------------------------------------------------------------
def _generate(args: argparse.Namespace, settings: Settings, env: Mapping[str, str]) -> int:
    out = Console(stderr=args.json, highlight=False)
    progress = ConsoleProgress(out, settings.lang, every=settings.progress_every)
    store: CheckpointStore | None = None
    try:
        city = check_name(args.city, "city")
        characters = parse_characters(args.characters)
        if settings.checkpoint_dir.exists() and not settings.checkpoint_dir.is_dir():
            raise InputError(f"--checkpoint-dir {settings.checkpoint_dir} exists and is not a folder")
        writer = make_writer(settings, env, on_event=progress.writer_event)
        cost = price_function(settings, writer)
        _check_budget(settings, writer, cost)
        budget = Budget(max_tokens=settings.max_tokens, max_usd=settings.budget_usd, cost=cost)
        if writer.name == "offline":
            progress.line("offline")
        else:
            preset = getattr(writer, "preset", None)
            progress.line(
                "backend_at",
                backend=writer.name,
                model=writer.model,
                preset=f"--provider {preset.name}"
                if preset and preset.name != "generic"
                else "OpenAI-compatible",
                url=getattr(writer, "base_url", ""),
            )
        quiet = writer.name == "offline" and not args.estimate
        plan = _estimate(settings, writer, cost, characters, progress, quiet=quiet)
        if args.estimate:
            if args.json:
                print(orjson.dumps({"estimate": plan}).decode())
            return 0
        store = CheckpointStore(settings.checkpoint_dir, city, progress.warn)  # to tell what a failure left
        tree = TreeSettings(
            max_depth=settings.max_depth,
            branching=settings.branching,
            max_nodes=settings.max_nodes,
            concurrency=settings.concurrency,
            checkpoint_every=settings.checkpoint_every,
            attempts=settings.attempts,
            grace_seconds=settings.grace_seconds,
        )

        def run(stop: asyncio.Event) -> Coroutine[Any, Any, GenerationResult]:
            return generate_story_async(
                city,
                characters,
                writer=writer,
                lang=settings.lang,
                tree=tree,
                budget=budget,
                checkpoint_dir=settings.checkpoint_dir,
                db=settings.db,
                progress=progress,
                stop=stop,
            )

        result = asyncio.run(_run_with_signals(run, writer, out, progress))
    except GhostStoryError as exc:
        return _failed(exc, args, settings, store)
    _show_result(result, out, settings, writer)
    _show_writer_totals(writer, progress)
    if args.json:
        report = _result_json(result, city, writer, budget)
        if writer.name != "offline":
            stats = writer.stats()  # type: ignore[attr-defined]
            report["writer"] = {
                key: stats[key]
                for key in ("json_mode", "refused", "cut", "retried", "largest_prompt", "calls")
            }
        print(orjson.dumps(report).decode())
    return 0


def _check_budget(settings: Settings, writer: Any, cost: Any) -> None:
    """A budget in USD needs a price: refuse it before any call when none is known."""
    if settings.budget_usd is None or price_known(settings, writer, cost):
        return
    raise InputError(
        f"--budget-usd {settings.budget_usd:g}: no price is known for the model {writer.model!r}, so the "
        'budget could not be enforced; pass its price with --price "input,cached,output" (USD per 1M '
        "tokens), or limit tokens with --max-tokens"
    )


def _estimate(
    settings: Settings,
    writer: Any,
    cost: Any,
    characters: tuple[tuple[str, str], ...],
    progress: Any,
    quiet: bool = False,
) -> dict[str, Any]:
    """Print what the run will take before its first call; refuse a prompt that cannot fit the context."""
    from .writers._estimate import SECONDS_PER_CALL, estimate

    count = len(characters) or 3
    # The offline writer answers at once (plus any simulated latency), not at a cloud model's pace.
    per_call = max(0.01, settings.offline_latency_ms / 1000) if writer.name == "offline" else SECONDS_PER_CALL
    plan = estimate(
        lang=settings.lang,
        characters=count,
        named=bool(characters),
        max_depth=settings.max_depth,
        branching=settings.branching,
        max_nodes=settings.max_nodes,
        concurrency=settings.concurrency,
        mode=getattr(writer, "mode", "schema"),
        seconds_per_call=per_call,
    )
    if settings.context_tokens and plan.largest + 512 > settings.context_tokens:
        raise InputError(
            f"--context-tokens {settings.context_tokens}: the largest prompt ({plan.largest_kind}) is about "
            f"{plan.largest} tokens and needs room for its reply; give the server a larger context or "
            "lower --max-depth"
        )
    from .writers.base import Usage

    preset = getattr(writer, "preset", None)
    low: float | None
    high: float | None
    if writer.name == "offline":
        money, low, high = say(settings.lang, "cost_offline"), 0.0, 0.0
    elif preset is not None and preset.local:
        money, low, high = say(settings.lang, "cost_free"), 0.0, 0.0
    else:
        full = cost(Usage(plan.prompt, plan.completion, 0))
        cheap = cost(Usage(plan.prompt, plan.completion, plan.cached))
        if full is None or cheap is None:
            reported = preset is not None and preset.reports_cost
            money = say(settings.lang, "cost_reported" if reported else "cost_unknown", model=writer.model)
            low = high = None
        else:
            money, low, high = say(settings.lang, "cost_about", low=cheap, high=full), cheap, full
    show = (lambda *_a, **_k: None) if quiet else progress.line
    show(
        "estimate",
        calls=plan.calls,
        tokens=plan.total,
        prompt=plan.prompt,
        completion=plan.completion,
        cost=money,
        concurrency=settings.concurrency,
        duration=duration(plan.seconds),
    )
    show(
        "estimate_detail",
        largest=plan.largest,
        largest_kind=plan.largest_kind,
        node_prompt=plan.node_prompt,
        node_reply=plan.node_reply,
    )
    show("estimate_assume", nodes=plan.nodes, characters=plan.characters, seconds=per_call)
    return {**plan.to_dict(), "cost_usd": {"low": low, "high": high}}


def _show_writer_totals(writer: Any, progress: Any) -> None:
    if writer.name == "offline":
        return
    if writer.largest_prompt:
        progress.line("largest_prompt", tokens=writer.largest_prompt, kind=writer.largest_prompt_kind)
    if writer.refused:
        progress.line("refused_total", count=writer.refused)


def _has_checkpoints(store: CheckpointStore | None) -> bool:
    """Whether a rerun has something to continue: saved characters, or a paid reply in the journal."""
    if store is None:
        return False
    if store.characters_path.exists():
        return True
    try:
        lines = store.journal_path(None).read_bytes().splitlines()
    except OSError:
        return False
    return any(b'"spent"' not in line and line.strip() for line in lines)


def _failed(
    exc: GhostStoryError, args: argparse.Namespace, settings: Settings, store: CheckpointStore | None
) -> int:
    """The one-line cause, "run again to continue" only when there is something to continue."""
    err = Console(stderr=True, highlight=False)
    resumable = isinstance(exc, RESUMABLE) and _has_checkpoints(store)
    err.print(_stop_line(exc, resumable), markup=False, soft_wrap=True)
    if resumable:
        err.print(
            f"checkpoints are in {settings.checkpoint_dir}; run the same command again to continue",
            markup=False,
            soft_wrap=True,
        )
    elif isinstance(exc, WriterUnavailable) and not isinstance(exc, InvalidReply):
        err.print(
            "nothing was saved: check that the server is up and the base URL, model and key are right, "
            "then run the command again",
            markup=False,
            soft_wrap=True,
        )
    if args.json:
        print(orjson.dumps({"error": str(exc), "exit_code": exc.exit_code, "resumable": resumable}).decode())
    return exc.exit_code


def _stop_line(exc: GhostStoryError, resumable: bool = True) -> str:
    if isinstance(exc, BudgetReached):
        more = " Rerun with a higher --budget-usd / --max-tokens to continue." if resumable else ""
        return f"⏸  budget stop: {exc}.{more}"
    if isinstance(exc, Interrupted):
        return (
            "⏸  interrupted: checkpoints saved." if resumable else "⏸  interrupted before anything was saved."
        )
    return f"error: {exc}"


async def _run_with_signals(
    run: Callable[[asyncio.Event], Coroutine[Any, Any, GenerationResult]],
    writer: Any,
    out: Console,
    progress: Any = None,
) -> GenerationResult:
    """First Ctrl+C (or SIGTERM) stops gracefully; a second one exits at once.

    While it runs, a heartbeat tells the screen once a second how many calls are in flight."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal() -> None:
        if stop.is_set():
            os._exit(130)  # files on disk are whole: every write is atomic
        stop.set()
        out.print(
            "\n⏸  stopping: finishing calls in flight and saving checkpoints (Ctrl+C again to quit now)",
            markup=False,
            soft_wrap=True,
        )

    async def heartbeat() -> None:
        started = loop.time()
        while True:
            await asyncio.sleep(1.0)
            progress.heartbeat(int(getattr(writer, "in_flight", 0)), loop.time() - started)

    beating = asyncio.ensure_future(heartbeat()) if progress is not None else None
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal)
    try:
        return await run(stop)
    finally:
        if beating is not None:
            beating.cancel()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await writer.aclose()


def _show_result(result: GenerationResult, out: Console, settings: Settings, writer: Any) -> None:
    if result.already_saved:
        out.print(
            f"✅ story already in the library (ID: {result.story_id}); finishing the cleanup", markup=False
        )
    else:
        out.print(f"✅ saved to the library {settings.db} (ID: {result.story_id})", markup=False)
        meta = result.story["meta"]
        table = Table(title=Text(result.story["story"]["title"]))
        for column in (
            "character",
            "nodes",
            "depth",
            "main path",
            "minutes",
            "endings in 1000 plays",
            "fear~plan",
        ):
            table.add_column(column)
        for character in result.story["characters"]:
            rep = character["report"]
            _row(
                table,
                character["name"],
                str(rep["nodes"]),
                str(rep["max_depth"]),
                str(rep["main_path_length"]),
                str(rep["play_minutes_main_path"]),
                ending_mix_text(rep, settings.lang),
                _correlation_text(rep),
            )
        out.print(table)
        cost = meta["cost_usd"]
        cost_text = "unknown price" if cost is None else f"${cost:.4f}"
        out.print(
            f"tokens {meta['tokens']['total']} · {cost_text} · {meta['calls']} calls · "
            f"{meta['elapsed_seconds']:.1f} s · writer {meta['backend']} ({meta['model']})",
            markup=False,
        )
    out.print(f"🗑️  removed {len(result.deleted)} checkpoint files", markup=False)
    for path in result.deleted:
        out.print(f"   - {path}", markup=False)


def _result_json(result: GenerationResult, city: str, writer: Any, budget: Budget) -> dict[str, Any]:
    story = result.story
    meta = story.get("meta", {})
    return {
        "story_id": result.story_id,
        "city": city,
        "characters": [c["name"] for c in story.get("characters", [])],
        "nodes": {c["name"]: c["report"]["nodes"] for c in story.get("characters", [])},
        "tokens": meta.get("tokens"),
        "cost_usd": meta.get("cost_usd"),
        "backend": writer.name,
        "resumed": result.resumed,
        "already_saved": result.already_saved,
    }


# status, list, play, export -------------------------------------------------------------------
def _status(args: argparse.Namespace, settings: Settings, env: Mapping[str, str]) -> int:
    found = list_unfinished(settings.checkpoint_dir)
    if args.json:
        print(orjson.dumps(found).decode())
        return 0
    out = Console(highlight=False)
    if not found:
        out.print(f"no unfinished generations in {settings.checkpoint_dir}", markup=False)
        return 0
    table = Table(title=f"unfinished generations in {settings.checkpoint_dir}")
    for column in ("city", "done", "nodes so far", "saved at"):
        table.add_column(column)
    for item in found:
        if item.get("error"):
            _row(table, item["file"], "?", item["error"], "")
            continue
        nodes = ", ".join(f"{name} {count}" for name, count in item["nodes"].items()) or "-"
        _row(table, item["city"], f"{item['completed']}/{item['total']}", nodes, str(item["saved_at"]))
    out.print(table)
    return 0


def _open_library(settings: Settings) -> Any:
    from .library import Library

    if not settings.db.exists():
        raise LibraryError(f"no story library at {settings.db} yet: generate a story first")
    return Library(settings.db, read_only=True)


def _list(args: argparse.Namespace, settings: Settings, env: Mapping[str, str]) -> int:
    if not settings.db.exists():
        stories: list[dict[str, Any]] = []
    else:
        with _open_library(settings) as library:
            stories = library.list()
    if args.json:
        print(orjson.dumps(stories).decode())
        return 0
    out = Console(highlight=False)
    if not stories:
        out.print(f"the library {settings.db} has no stories yet", markup=False)
        return 0
    table = Table(title=f"stories in {settings.db}")
    for column in ("id", "city", "title", "characters", "writer", "created"):
        table.add_column(column)
    for story in stories:
        names = ", ".join(_character_summary(c) for c in story["characters"])
        writer = "offline writer" if story.get("offline") else str(story.get("backend"))
        _row(table, str(story["id"]), story["city"], story["title"], names, writer, str(story["created_at"]))
    out.print(table)
    return 0


def _row(table: Table, *cells: Any) -> None:
    """Add a row whose cells are shown as typed: titles and names are never read as markup, and no
    control or escape sequence in them reaches the terminal."""
    table.add_row(*(Text(clean_text(str(cell))) for cell in cells))


def _character_summary(character: dict[str, Any]) -> str:
    report = character.get("report") or {}
    if not report:
        return str(character["name"])
    summary = f"{character['name']} ({report.get('nodes')} nodes, path {report.get('main_path_length')}"
    if report.get("playtest"):
        summary += (
            f"; plays end {ending_mix_text(report, 'en', top=3)}; fear~plan {_correlation_text(report)}"
        )
    return summary + ")"


def ending_mix_text(report: dict[str, Any], lang: str, top: int = 4) -> str:
    """The ending mix of the report's random plays, most frequent first, as labels and percentages."""
    from .vocabulary import ending_label

    mix = (report.get("playtest") or {}).get("ending_mix") or {}
    ranked = sorted(mix.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return ", ".join(f"{ending_label(kind, lang)} {share:.0%}" for kind, share in ranked) or "-"


def _correlation_text(report: dict[str, Any]) -> str:
    rho = (report.get("playtest") or {}).get("fear_tension_rank_correlation")
    return "-" if rho is None else f"ρ {rho:.2f}"


def _play(args: argparse.Namespace, settings: Settings, env: Mapping[str, str]) -> int:
    from .player import choose_story, play

    out = Console(highlight=False)
    with _open_library(settings) as library:
        story_id = args.story_id
        if story_id is None:
            story_id = choose_story(library.list(), input, out)
            if story_id is None:
                return 0
        story = library.get(story_id)
    try:
        play(story, args.character, input_fn=input, out=out)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    return 0


def _export(args: argparse.Namespace, settings: Settings, env: Mapping[str, str]) -> int:
    from .export import render

    with _open_library(settings) as library:
        story = library.get(args.story_id)
    files = render(story, args.format, args.character)
    if args.output is None and len(files) == 1:
        sys.stdout.buffer.write(files[0][1])
        return 0
    target = Path(args.output or ".")
    if len(files) == 1 and not target.is_dir() and not str(args.output).endswith(os.sep):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(files[0][1])
        written = [target]
    else:
        target.mkdir(parents=True, exist_ok=True)
        written = []
        for name, content in files:
            (target / name).write_bytes(content)
            written.append(target / name)
    for path in written:
        print(path, file=sys.stderr)
    return 0


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
