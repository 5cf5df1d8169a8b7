"""The ``ghost-story`` command: argument parsing and screens over the library."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import unicodedata
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import orjson
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from . import __version__
from .api import generate_story_async
from .cli_text import (
    HelpFormatter,
    argparse_text,
    fit,
    help_text,
    number,
    option_help,
    option_metavar,
    pad,
    text,
)
from .config import OPTIONS, Settings, check_name, load_settings, parse_characters
from .errors import (
    BatchPending,
    BudgetReached,
    GhostStoryError,
    InputError,
    Interrupted,
    InvalidReply,
    LibraryError,
    WriterError,
    WriterUnavailable,
)
from .export import FORMATS
from .pregenerator.builder import Budget, TreeSettings
from .pregenerator.checkpoints import CheckpointStore, list_unfinished
from .pregenerator.progress import say
from .pregenerator.story import GenerationResult
from .screens import ConsoleProgress
from .text import clean_text
from .vocabulary import duration, ending_label
from .wiring import make_writer, price_function, price_known

RESUMABLE = (WriterError, Interrupted, BudgetReached, LibraryError)


class CityHasStory(InputError):
    """``generate`` of a city whose finished story is in the library, without ``--new`` (exit code 2)."""

    def __init__(self, message: str, story_ids: list[int]) -> None:
        super().__init__(message)
        self.story_ids = story_ids


class _Parser(argparse.ArgumentParser):
    """argparse in the run's language: its help, argparse's own words in it included, and its errors as
    one line and exit code 2, as for every bad input."""

    def __init__(self, *args: Any, lang: str = "en", **kwargs: Any) -> None:
        self.lang = lang
        kwargs["add_help"] = False  # -h is added below, its help in lang
        super().__init__(*args, **kwargs)
        self._positionals.title = help_text(lang, "positionals")
        self._optionals.title = help_text(lang, "optionals")
        self.add_argument(
            "-h", "--help", action="help", default=argparse.SUPPRESS, help=help_text(lang, "help")
        )

    def _get_formatter(self) -> argparse.HelpFormatter:
        return HelpFormatter(self.prog, self.lang)

    def error(self, message: str) -> NoReturn:
        raise InputError(message)


OPTION = {option.name: option for option in OPTIONS}


def _add_setting(parser: _Parser, name: str, what: str | None = None) -> None:
    """A setting from config.OPTIONS as a flag, its help (in the parser's language) saying what it takes,
    its default and its variable."""
    option = OPTION[name]
    flag = "--" + option.name.replace("_", "-")
    helped = option_help(option, what, parser.lang)
    if option.kind is bool:
        parser.add_argument(
            flag, dest=option.name, action="store_const", const=True, default=None, help=helped
        )
        return
    parser.add_argument(flag, dest=option.name, default=None, metavar=option_metavar(option), help=helped)


def build_parser(lang: str = "en") -> argparse.ArgumentParser:
    """The command's parser, its help and what it says about a bad story id in ``lang``."""

    def story_id(raw: str) -> int:
        if not raw.strip().isdigit() or int(raw) < 1:
            raise argparse.ArgumentTypeError(text(lang, "bad_id", id=raw))
        return int(raw)

    def says(key: str, /, **values: Any) -> str:
        return help_text(lang, key, **values)

    exit_codes = says("exit_codes")
    parser = _Parser(prog="ghost-story", description=says("description"), epilog=exit_codes, lang=lang)
    parser.add_argument(
        "--version", action="version", version=f"ghost-story {__version__}", help=says("version")
    )
    # Also before the command (ghost-story --lang en --help); the command's own --lang wins.
    parser.add_argument(
        "--lang",
        dest="top_lang",
        default=None,
        metavar=option_metavar(OPTION["lang"]),
        help=option_help(OPTION["lang"], says("top_lang"), lang),
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")

    def command(name: str, **kwargs: Any) -> _Parser:
        sub: _Parser = commands.add_parser(
            name, help=says(name, formats=" / ".join(FORMATS)), lang=lang, **kwargs
        )
        return sub

    generate = command("generate", description=says("generate_description"), epilog=exit_codes)
    generate.add_argument("--city", required=True, help=says("city"))
    generate.add_argument("--characters", help=says("characters"))
    generate.add_argument("--new", action="store_true", help=says("new"))
    for option in OPTIONS:
        _add_setting(generate, option.name)
    generate.add_argument("--estimate", action="store_true", help=says("estimate"))
    generate.add_argument("--yes", action="store_true", help=says("yes"))
    generate.add_argument("--json", action="store_true", help=says("generate_json"))

    status = command("status", description=says("status_description"))
    _add_setting(status, "checkpoint_dir")
    _add_setting(status, "lang", says("screens_only"))
    status.add_argument("--json", action="store_true", help=says("status_json"))

    listing = command("list", description=says("list_description"))
    _add_setting(listing, "db")
    _add_setting(listing, "lang", says("screens_only"))
    listing.add_argument("--json", action="store_true", help=says("list_json"))

    show = command("show", description=says("show_description"))
    show.add_argument("story_id", type=story_id, metavar="ID", help=says("story_id"))
    _add_setting(show, "db")
    _add_setting(show, "lang", says("screens_only"))

    play = command("play", description=says("play_description"))
    play.add_argument("story_id", nargs="?", type=story_id, metavar="ID", help=says("play_story_id"))
    play.add_argument("--character", help=says("play_character"))
    _add_setting(play, "db")
    play.add_argument("--lang", choices=("zh", "en"), help=says("play_lang"))

    export = command("export", description=says("export_description"))
    export.add_argument("story_id", type=story_id, metavar="ID", help=says("story_id"))
    export.add_argument(
        "--format",
        choices=FORMATS,
        metavar="{" + ",".join(FORMATS) + "}",
        help=says("export_format", formats=text(lang, "sep").join(FORMATS)),
    )
    export.add_argument("--character", help=says("export_character"))
    export.add_argument("-o", "--output", metavar="FILE_OR_DIR", help=says("export_output"))
    _add_setting(export, "db")
    _add_setting(export, "lang", says("screens_only"))

    delete = command("delete", description=says("delete_description"))
    delete.add_argument("story_id", type=story_id, metavar="ID", help=says("story_id"))
    delete.add_argument("--yes", action="store_true", help=says("delete_yes"))
    _add_setting(delete, "db")
    _add_setting(delete, "lang", says("screens_only"))
    return parser


def _lang_hint(argv: Sequence[str], env: Mapping[str, str]) -> str:
    """The language of ``--help`` and of an error in the arguments themselves, before the settings are
    read: the last ``--lang`` anywhere on the command line, else ``GSF_LANG``, else zh (the default);
    a value that is neither zh nor en counts as zh (the settings then refuse it in both)."""
    chosen: str | None = None
    for index, arg in enumerate(argv):
        if arg == "--":  # what follows is not an option
            break
        flag, equals, value = arg.partition("=")
        if len(flag) < 3 or not "--lang".startswith(flag):  # argparse takes --la for --lang too
            continue
        if equals:
            chosen = value
        elif index + 1 < len(argv):
            chosen = argv[index + 1]
    if chosen is None:
        chosen = env.get("GSF_LANG", "").strip() or str(OPTION["lang"].default)
    return "en" if chosen.strip() == "en" else "zh"


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    argv = list(sys.argv[1:] if argv is None else argv)
    lang = _lang_hint(argv, env)
    err = Console(stderr=True, highlight=False)
    try:
        try:
            args = build_parser(lang).parse_args(argv)
        except InputError as exc:
            raise InputError(argparse_text(str(exc), lang)) from None
        flags = {k: v for k, v in vars(args).items() if v is not None}
        top_lang = flags.pop("top_lang", None)  # --lang before the command
        if top_lang is not None:
            flags.setdefault("lang", top_lang)
        settings = load_settings(flags, env)
        lang = settings.lang
        handler = {
            "generate": _generate,
            "status": _status,
            "list": _list,
            "show": _show,
            "play": _play,
            "export": _export,
            "delete": _delete,
        }
        return handler[args.command](args, settings, env)
    except GhostStoryError as exc:
        err.print(text(lang, "error", text=exc), markup=False, soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err.print(text(lang, "interrupted"), markup=False)
        return 130


# generate --------------------------------------------------------------------------------------
def _generate(args: argparse.Namespace, settings: Settings, env: Mapping[str, str]) -> int:
    out = Console(stderr=args.json, highlight=False)
    progress = ConsoleProgress(out, settings.lang, every=settings.progress_every)
    store: CheckpointStore | None = None
    try:
        city = check_name(args.city, "city", settings.lang)
        characters = parse_characters(args.characters, settings.lang)
        if settings.checkpoint_dir.exists() and not settings.checkpoint_dir.is_dir():
            raise InputError(text(settings.lang, "checkpoint_dir_file", path=settings.checkpoint_dir))
        unfinished = _has_checkpoints(CheckpointStore(settings.checkpoint_dir, city, progress.warn))
        if not (args.new or args.estimate or unfinished):
            _refuse_a_finished_city(settings, city)
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

        result = asyncio.run(_run_with_signals(run, writer, out, progress, settings.lang))
    except BatchPending as exc:
        out.print(text(settings.lang, "batch", lines=exc.lines), markup=False, soft_wrap=True)
        if args.json:
            print(orjson.dumps({"batch_pending": True, "batches": exc.batches, "lines": exc.lines}).decode())
        return 0
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


def _refuse_a_finished_city(settings: Settings, city: str) -> None:
    """A city with a finished story is not written (and paid for) again without --new."""
    if not settings.db.is_file():  # no library yet, or not a file: the save reports that
        return
    from .library import Library

    with Library(settings.db, read_only=True) as library:
        found = library.find_city(city)
    if found:
        quoted = (f"#{sid}{text(settings.lang, 'quote', title=clean_text(title))}" for sid, title in found)
        stories = text(settings.lang, "sep").join(quoted)
        message = text(settings.lang, "exists", city=city, stories=stories, id=found[-1][0])
        raise CityHasStory(message, [sid for sid, _ in found])


def _check_budget(settings: Settings, writer: Any, cost: Any) -> None:
    """A budget in USD needs a price: refuse it before any call when none is known."""
    if settings.budget_usd is None or price_known(settings, writer, cost):
        return
    raise InputError(
        text(settings.lang, "budget_no_price", budget=number(settings.budget_usd), model=writer.model)
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
            text(
                settings.lang,
                "context_small",
                context=settings.context_tokens,
                kind=plan.largest_kind,
                largest=plan.largest,
            )
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
            if settings.batch:  # node and plan calls go through batches at the batch price
                from .writers.pricing import BATCH_SHARE

                cheap, full = cheap * BATCH_SHARE, full * BATCH_SHARE
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
        duration=duration(plan.seconds, settings.lang),
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
    lang = settings.lang
    resumable = isinstance(exc, RESUMABLE) and _has_checkpoints(store)
    err.print(_stop_line(exc, resumable, lang), markup=False, soft_wrap=True)
    if resumable:
        err.print(text(lang, "resume_hint", folder=settings.checkpoint_dir), markup=False, soft_wrap=True)
    elif isinstance(exc, WriterUnavailable) and not isinstance(exc, InvalidReply):
        err.print(text(lang, "nothing_saved"), markup=False, soft_wrap=True)
    if args.json:
        report: dict[str, Any] = {"error": str(exc), "exit_code": exc.exit_code, "resumable": resumable}
        if isinstance(exc, CityHasStory):  # so a script (the menu) can ask, then rerun with --new
            report["existing_story_ids"] = exc.story_ids
        print(orjson.dumps(report).decode())
    return exc.exit_code


def _stop_line(exc: GhostStoryError, resumable: bool = True, lang: str = "en") -> str:
    if isinstance(exc, BudgetReached):
        line = text(lang, "budget_stop", text=str(exc).rstrip("."))
        return f"{line} {text(lang, 'budget_more')}" if resumable else line
    if isinstance(exc, Interrupted):
        return text(lang, "stopped_saved" if resumable else "stopped_nothing")
    return text(lang, "error", text=exc)


async def _run_with_signals(
    run: Callable[[asyncio.Event], Coroutine[Any, Any, GenerationResult]],
    writer: Any,
    out: Console,
    progress: Any = None,
    lang: str = "en",
) -> GenerationResult:
    """First Ctrl+C (or SIGTERM) stops gracefully; a second one exits at once.

    While it runs, a heartbeat tells the screen once a second how many calls are in flight."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal() -> None:
        if stop.is_set():
            os._exit(130)  # files on disk are whole: every write is atomic
        stop.set()
        out.print(text(lang, "stopping"), markup=False, soft_wrap=True)

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
    lang = settings.lang
    if result.already_saved:
        out.print(text(lang, "already_saved", id=result.story_id), markup=False)
    else:
        out.print(text(lang, "saved", db=settings.db, id=result.story_id), markup=False)
        meta = result.story["meta"]
        table = Table(title=Text(clean_text(result.story["story"]["title"])))
        for key in ("character", "nodes", "endings", "depth", "path", "minutes", "fear"):
            table.add_column(text(lang, f"col_{key}"))
        mixes = []
        for character in result.story["characters"]:
            rep = character["report"]
            _row(
                table,
                character["name"],
                str(rep["nodes"]),
                str(rep["endings"]),
                str(rep["max_depth"]),
                str(rep["main_path_length"]),
                number(rep["play_minutes_main_path"]),
                _correlation_text(rep),
            )
            if rep.get("playtest"):  # too long for a cell at 80 columns: one line each, under the table
                mix = ending_mix_text(rep, lang, top=len(rep["playtest"]["ending_mix"]))
                mixes.append(
                    text(lang, "mix_line", name=character["name"], plays=rep["playtest"]["plays"], mix=mix)
                )
        out.print(table)
        for line in mixes:
            out.print(Text(clean_text(line)))
        offline = bool(meta.get("offline"))
        out.print(
            text(
                lang,
                "totals_offline" if offline else "totals",
                tokens=meta["tokens"]["total"],
                cost=_cost_text(meta.get("cost_usd"), lang, offline),
                calls=meta["calls"],
                seconds=meta["elapsed_seconds"],
                backend=meta["backend"],
                model=meta["model"],
            ),
            markup=False,
        )
        batch = meta.get("batch")
        if isinstance(batch, dict):
            out.print(
                text(
                    lang,
                    "batch_price",
                    tokens=batch["tokens"]["total"],
                    cost=_cost_text(batch.get("cost_usd"), lang),
                    share=batch["price_share"],
                ),
                markup=False,
            )
    out.print(text(lang, "removed", count=len(result.deleted)), markup=False)
    for path in result.deleted:
        out.print(f"   - {path}", markup=False)


def _cost_text(cost: Any, lang: str, offline: bool = False) -> str:
    if offline:
        return text(lang, "no_tokens")
    if isinstance(cost, (int, float)) and not isinstance(cost, bool):
        return f"${cost:.4f}"
    return text(lang, "cost_unknown")


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
        "batch": meta.get("batch"),
        "backend": writer.name,
        "resumed": result.resumed,
        "already_saved": result.already_saved,
    }


# status, list, show, play, export, delete ----------------------------------------------------
def _status(args: argparse.Namespace, settings: Settings, env: Mapping[str, str]) -> int:
    found = list_unfinished(settings.checkpoint_dir)
    if args.json:
        print(orjson.dumps(found).decode())
        return 0
    lang = settings.lang
    out = Console(highlight=False)
    if not found:
        out.print(text(lang, "status_none", folder=settings.checkpoint_dir), markup=False)
        return 0
    table = Table(title=Text(text(lang, "status_title", folder=settings.checkpoint_dir)))
    for key in ("city", "done", "so_far", "saved_at"):
        table.add_column(text(lang, f"col_{key}"))
    pending: list[str] = []
    for item in found:
        if item.get("error"):
            error = text(lang, "unreadable") if item["error"] == "unreadable checkpoint" else item["error"]
            _row(table, item.get("city") or item["file"], "?", error, "")
            continue
        nodes = text(lang, "sep").join(f"{name} {count}" for name, count in item["nodes"].items()) or "-"
        _row(table, item["city"], f"{item['completed']}/{item['total']}", nodes, _date(item.get("saved_at")))
        for batch in item.get("batches") or []:
            pending.append(f"{item['city']} · {_batch_text(batch, lang)}")
    out.print(table)
    if pending:  # below the table, one line each: a batch line is too long for a cell at 80 columns
        out.print(Text(text(lang, "col_batches") + text(lang, "colon")))
        for line in pending:
            out.print(Text("  " + clean_text(line)), soft_wrap=False)
    return 0


def _batch_text(batch: dict[str, Any], lang: str) -> str:
    age = batch.get("age_s")
    return text(
        lang,
        "batch_line",
        id=batch.get("id", "?"),
        done=batch.get("done", 0),
        lines=batch.get("lines", 0),
        failed=batch.get("failed", 0),
        age=duration(float(age)) if isinstance(age, (int, float)) else "?",
    )


def _date(value: Any) -> str:
    """An ISO time as a writer reads it: 2026-12-02 04:50."""
    return str(value or "")[:16].replace("T", " ")


def _open_library(settings: Settings, write: bool = False) -> Any:
    from .library import Library

    if not settings.db.exists():
        raise InputError(text(settings.lang, "no_library", db=settings.db))
    return Library(settings.db, read_only=not write)


def _get_story(library: Any, story_id: int, settings: Settings) -> dict[str, Any]:
    from .library import UnknownStory

    try:
        story: dict[str, Any] = library.get(story_id)
    except UnknownStory:
        raise InputError(text(settings.lang, "no_story", id=story_id, db=settings.db)) from None
    return story


def _check_character(story: dict[str, Any], name: str | None, lang: str, numbers: bool = False) -> None:
    """An unknown --character is bad input (exit 2) in every subcommand, said before anything is written."""
    if name is None:
        return
    names = [str(c.get("name")) for c in story.get("characters") or [] if isinstance(c, dict)]
    wanted = unicodedata.normalize("NFC", name).strip().casefold()
    if any(unicodedata.normalize("NFC", known).casefold() == wanted for known in names):
        return
    if numbers and name.strip().isdigit() and 1 <= int(name.strip()) <= len(names):
        return
    raise InputError(text(lang, "no_character", name=name, names=text(lang, "sep").join(names)))


def _list(args: argparse.Namespace, settings: Settings, env: Mapping[str, str]) -> int:
    if not settings.db.exists():
        stories: list[dict[str, Any]] = []
    else:
        with _open_library(settings) as library:
            stories = library.list()
    if args.json:
        print(orjson.dumps(stories).decode())
        return 0
    lang = settings.lang
    out = Console(highlight=False)
    if not stories:
        out.print(text(lang, "list_empty", db=settings.db), markup=False)
        return 0
    for line in list_lines(stories, lang, out.width, settings.db):
        out.print(Text(line), soft_wrap=True)  # each line is already fitted to the width
    return 0


def list_lines(stories: Sequence[dict[str, Any]], lang: str, width: int, db: Path | str = "") -> list[str]:
    """The library as a writer reads it, every line at most ``width`` cells: per story a line with its id
    and title, one with city, language, date, writer and cost, and one per character with its report."""
    width = max(width, 20)
    lines = [fit(text(lang, "list_title", db=db, count=len(stories)), width)]
    for story in stories:
        title = clean_text(str(story.get("title") or ""))
        lines.append("")
        lines.append(fit(f"#{story['id']}{text(lang, 'quote', title=title)}", width))
        offline = bool(story.get("offline"))
        writer = (
            text(lang, "offline_writer")
            if offline
            else " ".join(str(part) for part in (story.get("backend"), story.get("model")) if part)
        )
        story_lang = str(story.get("lang") or "")
        facts = [
            clean_text(str(story.get("city") or "")),
            text(lang, f"lang_{story_lang}") if story_lang in ("zh", "en") else story_lang,
            _date(story.get("created_at")),
            clean_text(writer),
            _cost_text(story.get("cost_usd"), lang, offline),
        ]
        lines.extend(flow([part for part in facts if part], width, "   "))
        characters = [c for c in story.get("characters") or [] if isinstance(c, dict)]
        names = [clean_text(str(c.get("name") or "")) for c in characters]
        # Names are never cut: one longer than a third of the line gets a line of its own.
        column = max([cell_len(name) for name in names if cell_len(name) <= width // 3] or [0])
        for name, character in zip(names, characters, strict=True):
            report = character.get("report") or {}
            stats = (
                text(
                    lang,
                    "char_line",
                    nodes=report.get("nodes", "?"),
                    endings=report.get("endings", "?"),
                    path=report.get("main_path_length", "?"),
                    minutes=number(report.get("play_minutes_main_path") or 0),
                ).split(" · ")
                if report
                else [""]
            )
            if cell_len(name) > column:
                lines.append(fit(f"   {name}", width))
                name = ""
            first = f"{pad(name, column)}  {stats[0]}".rstrip()
            lines.extend(flow([first, *stats[1:]], width, "   ", " " * (column + 5)))
    return lines


def flow(parts: Sequence[str], width: int, indent: str, more: str | None = None) -> list[str]:
    """Parts joined with " · " into lines of at most ``width`` cells, the first starting with ``indent``
    and the others with ``more`` (default: the same); a part longer than a line is cut by cells, never
    inside a character."""
    lines: list[str] = []
    current, lead = "", indent
    for part in parts:
        joined = f"{current} · {part}" if current else part
        if current and cell_len(lead + joined) > width:
            lines.append(fit(lead + current, width))
            lead, joined = indent if more is None else more, part
        current = joined
    if current:
        lines.append(fit(lead + current, width))
    return lines


def _show(args: argparse.Namespace, settings: Settings, env: Mapping[str, str]) -> int:
    from .model import load_story

    lang = settings.lang
    with _open_library(settings) as library:
        raw = _get_story(library, args.story_id, settings)
    story = load_story(raw)
    out = Console(highlight=False)
    info, meta = story.story, story.meta

    def say(line: str = "", style: str = "") -> None:
        out.print(Text(clean_text(line), style=style))

    story_lang = text(lang, f"lang_{info.lang}") if info.lang in ("zh", "en") else info.lang
    date = _date(meta.get("finished_at") or meta.get("generated_at") or meta.get("started_at"))
    say(
        text(
            lang, "show_title", id=args.story_id, title=info.title, city=info.city, lang=story_lang, date=date
        ),
        "bold",
    )
    offline = bool(meta.get("offline"))
    tokens: dict[str, Any] = meta["tokens"] if isinstance(meta.get("tokens"), dict) else {}
    writer = text(lang, "offline_writer") if offline else f"{meta.get('backend')} ({meta.get('model')})"
    say(
        text(
            lang,
            "show_meta",
            writer=writer,
            cost=_cost_text(meta.get("cost_usd"), lang, offline),
            tokens=tokens.get("total", "?"),
            calls=meta.get("calls", "?"),
        ),
        "dim",
    )
    for key in ("synopsis", "game_design", "lore", "main_story"):
        value = getattr(info, key)
        if value:
            say()
            say(text(lang, key), "bold")
            say(value)
    if info.scenes:
        say()
        say(text(lang, "scenes"), "bold")
        say(text(lang, "sep").join(info.scenes))
    for character in story.characters:
        say()
        say(text(lang, "character", name=character.name), "bold underline")
        if character.role:
            say(text(lang, "role", role=character.role))
        if character.description:
            say(character.description)
        if character.plan is not None:
            plan = character.plan
            say(text(lang, "plan"), "bold")
            for beat in plan.beats:
                say(
                    "  "
                    + text(
                        lang,
                        "beat",
                        depth=beat.depth,
                        title=beat.title,
                        tension=beat.tension,
                        summary=beat.summary,
                    )
                )
            for ending in plan.endings:
                say(
                    "  "
                    + text(
                        lang,
                        "planned_ending",
                        label=ending_label(ending.type, lang),
                        title=ending.title,
                        low=ending.from_depth,
                        high=ending.to_depth,
                        leads=ending.leads_there,
                    )
                )
            for position, clue in enumerate(plan.clues, 1):
                say("  " + text(lang, "clue", number=position, text=clue))
            for term in plan.flags:
                say("  " + text(lang, "flag", name=term.name, meaning=term.meaning))
            for term in plan.items:
                say("  " + text(lang, "item", name=term.name, meaning=term.meaning))
        if character.report is not None:
            report = character.report.model_dump()
            say(text(lang, "report"), "bold")
            say(
                "  "
                + text(
                    lang,
                    "char_line",
                    nodes=report["nodes"],
                    endings=report["endings"],
                    path=report["main_path_length"],
                    minutes=number(report["play_minutes_main_path"]),
                )
            )
            kinds = text(lang, "sep").join(
                f"{ending_label(kind, lang)} {count}" for kind, count in report["endings_by_type"].items()
            )
            say("  " + text(lang, "endings_by_type", mix=kinds or "-"))
            if report.get("playtest"):
                say(
                    "  "
                    + text(
                        lang,
                        "playtest",
                        plays=report["playtest"]["plays"],
                        mix=ending_mix_text(report, lang),
                        rho=_correlation_text(report),
                    )
                )
    return 0


def _row(table: Table, *cells: Any) -> None:
    """Add a row whose cells are shown as typed: titles and names are never read as markup, and no
    control or escape sequence in them reaches the terminal."""
    table.add_row(*(Text(clean_text(str(cell))) for cell in cells))


def ending_mix_text(report: dict[str, Any], lang: str, top: int = 4) -> str:
    """The ending mix of the report's random plays, most frequent first, as labels and percentages."""
    mix = (report.get("playtest") or {}).get("ending_mix") or {}
    ranked = sorted(mix.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return text(lang, "sep").join(f"{ending_label(kind, lang)} {share:.0%}" for kind, share in ranked) or "-"


def _correlation_text(report: dict[str, Any]) -> str:
    rho = (report.get("playtest") or {}).get("fear_tension_rank_correlation")
    return "-" if rho is None else f"ρ {rho:.2f}"


def _play(args: argparse.Namespace, settings: Settings, env: Mapping[str, str]) -> int:
    from .player import choose_story, play

    out = Console(highlight=False)
    with _open_library(settings) as library:
        story_id = args.story_id
        if story_id is None:
            story_id = choose_story(library.list(), input, out, lang=args.lang)
            if story_id is None:
                return 0
        story = _get_story(library, story_id, settings)
    _check_character(story, args.character, settings.lang, numbers=True)
    try:
        play(story, args.character, input_fn=input, out=out, lang=args.lang)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    except EOFError:
        return 0
    return 0


def _export(args: argparse.Namespace, settings: Settings, env: Mapping[str, str]) -> int:
    from .export import render, write_export

    lang = settings.lang
    if args.format is None and args.output is None:
        raise InputError(text(lang, "export_choose", formats=", ".join(FORMATS), id=args.story_id))
    with _open_library(settings) as library:
        story = _get_story(library, args.story_id, settings)
    _check_character(story, args.character, lang)
    files = render(story, args.format or "json", args.character)
    if args.output is None and len(files) == 1 and not sys.stdout.isatty():
        sys.stdout.buffer.write(files[0][1])
        sys.stdout.flush()
        return 0
    # Atomic: a full disk or a read-only folder leaves every earlier export whole, and says so in one line.
    written = write_export(files, args.output or ".", lang)
    err = Console(stderr=True, highlight=False)
    for path in written:
        err.print(text(lang, "written", path=path), markup=False, soft_wrap=True)
    return 0


def _delete(args: argparse.Namespace, settings: Settings, env: Mapping[str, str]) -> int:
    lang = settings.lang
    with _open_library(settings, write=True) as library:
        summary = next((s for s in library.list() if s["id"] == args.story_id), None)
        if summary is None:
            raise InputError(text(lang, "no_story", id=args.story_id, db=settings.db))
        title = clean_text(str(summary.get("title") or ""))
        if not args.yes:
            question = text(
                lang,
                "delete_ask",
                id=args.story_id,
                title=title,
                city=clean_text(str(summary.get("city") or "")),
                count=len(summary.get("characters") or []),
            )
            try:
                answer = input(question)
            except EOFError:
                answer = ""
            if answer.strip().lower() not in ("y", "yes", "是"):
                Console(stderr=True, highlight=False).print(text(lang, "not_deleted"), markup=False)
                return 1
        library.delete(args.story_id)
    Console(highlight=False).print(text(lang, "deleted", id=args.story_id, title=title), markup=False)
    return 0


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
