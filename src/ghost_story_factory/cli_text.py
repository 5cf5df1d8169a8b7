"""What the ``ghost-story`` command says, in zh and en, and how it fits lines to a terminal's width."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable
from typing import Any

from rich.cells import cell_len, set_cell_size

from .config import Option

MESSAGES: dict[str, dict[str, str]] = {
    "zh": {
        "error": "error: {text}",
        "interrupted": "已中断",
        # generate
        "saved": "✅ 已存入故事库 {db}（ID：{id}）",
        "already_saved": "✅ 故事已在库中（ID：{id}），正在清理检查点",
        "removed": "🗑️  已删除 {count} 个检查点文件",
        "totals": "写作器 {backend}（{model}） · {tokens} 词元 · {cost} · {calls} 次调用 · {seconds:.1f} 秒",
        "totals_offline": "离线写作器（{model}），不消耗词元 · {calls} 次调用 · {seconds:.1f} 秒",
        "price_unknown": "价格未知",
        "col_character": "角色",
        "col_nodes": "节点",
        "col_depth": "深度",
        "col_path": "主线",
        "col_minutes": "分钟",
        "col_endings": "结局",
        "mix_line": "{name} · {plays} 次随机试玩的结局：{mix}",
        "col_fear": "恐惧~规划",
        "exists": "「{city}」已经有完成的故事（{stories}）：用 ghost-story show {id} 查看；"
        "要再生成一个（会再次调用写作器），加上 --new",
        "batch_price": "📦 其中 {tokens} 词元经批处理，按标准价的 {share:.0%} 计费：{cost}",
        "batch": "📦 已提交批处理（{lines} 个请求）：稍后再运行同一命令取回结果，或用 ghost-story status 查看",
        "budget_stop": "⏸  预算用尽：{text}。",
        "budget_more": "提高 --budget-usd / --max-tokens 后重新运行即可继续。",
        "stopped_saved": "⏸  已中断：检查点已保存。",
        "stopped_nothing": "⏸  在保存任何内容之前就中断了。",
        "resume_hint": "检查点在 {folder}；重新运行同一命令即可继续",
        "nothing_saved": "没有保存任何内容：请确认服务器在运行、base URL、模型和密钥正确，然后重新运行命令",
        "stopping": "\n⏸  正在停止：等待进行中的调用完成并保存检查点（再按一次 Ctrl+C 立即退出）",
        "checkpoint_dir_file": "--checkpoint-dir {path} 已存在，但不是文件夹",
        "budget_no_price": "--budget-usd {budget}：不知道模型 {model!r} 的价格，无法执行预算；"
        '请用 --price "输入,缓存,输出"（每 100 万词元的美元价）给出价格，或用 --max-tokens 限制词元',
        "context_small": "--context-tokens {context}：最大的提示（{kind}）约 {largest} 词元，"
        "还需要留出回复的空间；请给服务器更大的上下文，或降低 --max-depth",
        # status
        "status_none": "{folder} 中没有未完成的生成",
        "status_title": "{folder} 中未完成的生成",
        "col_city": "城市",
        "col_done": "已完成角色",
        "col_so_far": "已写节点",
        "col_saved_at": "保存于",
        "col_batches": "等待中的批处理",
        "colon": "：",
        "batch_line": "{id}：{done}/{lines} 完成，{failed} 失败，已等 {age}",
        "unreadable": "无法读取的检查点",
        # library
        "no_library": "{db} 还没有故事库：先生成一个故事",
        "bad_id": "故事 ID 必须是正整数，而不是 {id!r}",
        "no_story": "{db} 中没有 ID 为 {id} 的故事（ghost-story list 列出所有故事）",
        "no_character": "这个故事里没有角色 {name!r}；它的角色是：{names}",
        "list_empty": "故事库 {db} 里还没有故事",
        "list_title": "故事库 {db}：{count} 个故事",
        "offline_writer": "离线写作器",
        "no_tokens": "不消耗词元",
        "cost_unknown": "费用未知",
        "char_line": "{nodes} 个节点 · {endings} 个结局 · 主线 {path} 步 · 约 {minutes} 分钟",
        "lang_zh": "中文",
        "lang_en": "英文",
        # delete
        "delete_ask": "删除 #{id}《{title}》（{city}，{count} 个角色）？此操作无法撤销。[y/N] ",
        "deleted": "🗑️  已删除 #{id}《{title}》",
        "not_deleted": "未删除",
        # export
        "export_choose": "请用 --format 选择导出格式：{formats}（例如 ghost-story export {id} --format html）",
        "written": "已写入 {path}",
        # show
        "show_title": "#{id}《{title}》 · {city} · {lang} · {date}",
        "show_meta": "写作器 {writer} · {cost} · {tokens} 词元 · {calls} 次调用",
        "synopsis": "梗概",
        "game_design": "游戏设计",
        "lore": "世界观",
        "main_story": "主线故事",
        "scenes": "场景",
        "character": "角色：{name}",
        "role": "身份：{role}",
        "plan": "规划",
        "beat": "第 {depth} 层 · {title}（紧张度 {tension}）：{summary}",
        "planned_ending": "结局 · {label} · {title}（第 {low}–{high} 层）：{leads}",
        "clue": "线索 {number}：{text}",
        "flag": "标记 {name}：{meaning}",
        "item": "物品 {name}：{meaning}",
        "report": "报告：",
        "endings_by_type": "结局类型：{mix}",
        "playtest": "{plays} 次随机试玩的结局：{mix}；恐惧与规划的秩相关 {rho}",
        "sep": "、",
        "quote": "《{title}》",
    },
    "en": {
        "error": "error: {text}",
        "interrupted": "interrupted",
        "saved": "✅ saved to the library {db} (ID: {id})",
        "already_saved": "✅ story already in the library (ID: {id}); finishing the cleanup",
        "removed": "🗑️  removed {count} checkpoint file{s}",
        "totals": "writer {backend} ({model}) · {tokens} tokens · {cost} · {calls} call{s} · {seconds:.1f} s",
        "totals_offline": "the offline writer ({model}), no tokens · {calls} call{s} · {seconds:.1f} s",
        "price_unknown": "unknown price",
        "col_character": "character",
        "col_nodes": "nodes",
        "col_depth": "depth",
        "col_path": "main path",
        "col_minutes": "minutes",
        "col_endings": "endings",
        "mix_line": "{name} · endings of {plays} random plays: {mix}",
        "col_fear": "fear~plan",
        "exists": "{city} already has a finished story ({stories}): see it with ghost-story show {id}; "
        "to write another one (the writer is called again), add --new",
        "batch_price": "📦 {tokens} of the tokens went through batches, billed at {share:.0%} of the price: {cost}",
        "batch": "📦 batch submitted ({lines} request{s}); run the same command again to collect it, "
        "or ghost-story status to see it",
        "budget_stop": "⏸  budget stop: {text}.",
        "budget_more": "Rerun with a higher --budget-usd / --max-tokens to continue.",
        "stopped_saved": "⏸  interrupted: checkpoints saved.",
        "stopped_nothing": "⏸  interrupted before anything was saved.",
        "resume_hint": "checkpoints are in {folder}; run the same command again to continue",
        "nothing_saved": "nothing was saved: check that the server is up and the base URL, model and key are "
        "right, then run the command again",
        "stopping": "\n⏸  stopping: finishing calls in flight and saving checkpoints (Ctrl+C again to quit now)",
        "checkpoint_dir_file": "--checkpoint-dir {path} exists and is not a folder",
        "budget_no_price": "--budget-usd {budget}: no price is known for the model {model!r}, so the budget "
        'could not be enforced; pass its price with --price "input,cached,output" (USD per 1M tokens), '
        "or limit tokens with --max-tokens",
        "context_small": "--context-tokens {context}: the largest prompt ({kind}) is about {largest} tokens "
        "and needs room for its reply; give the server a larger context or lower --max-depth",
        "status_none": "no unfinished generations in {folder}",
        "status_title": "unfinished generations in {folder}",
        "col_city": "city",
        "col_done": "characters done",
        "col_so_far": "nodes so far",
        "col_saved_at": "saved at",
        "col_batches": "pending batches",
        "colon": ":",
        "batch_line": "{id}: {done}/{lines} done, {failed} failed, waiting {age}",
        "unreadable": "unreadable checkpoint",
        "no_library": "no story library at {db} yet: generate a story first",
        "bad_id": "a story id is a positive whole number, not {id!r}",
        "no_story": "no story with id {id} in {db} (ghost-story list shows them all)",
        "no_character": "no character named {name!r} in this story; its characters are: {names}",
        "list_empty": "the library {db} has no stories yet",
        "list_title": "the library {db}: {count} stor{ies}",
        "offline_writer": "offline writer",
        "no_tokens": "no tokens",
        "cost_unknown": "cost unknown",
        "char_line": "{nodes} nodes · {endings} ending{s} · main path {path} · about {minutes} min",
        "lang_zh": "Chinese",
        "lang_en": "English",
        "delete_ask": "Delete #{id} “{title}” ({city}, {count} character{s})? This cannot be undone. [y/N] ",
        "deleted": "🗑️  deleted #{id} “{title}”",
        "not_deleted": "not deleted",
        "export_choose": "choose a format with --format: {formats} (e.g. ghost-story export {id} --format html)",
        "written": "wrote {path}",
        "show_title": "#{id} “{title}” · {city} · {lang} · {date}",
        "show_meta": "writer {writer} · {cost} · {tokens} tokens · {calls} call{s}",
        "synopsis": "Synopsis",
        "game_design": "Game design",
        "lore": "Lore",
        "main_story": "Main story",
        "scenes": "Scenes",
        "character": "Character: {name}",
        "role": "Role: {role}",
        "plan": "Plan",
        "beat": "depth {depth} · {title} (tension {tension}): {summary}",
        "planned_ending": "Ending · {label} · {title} (depths {low}–{high}): {leads}",
        "clue": "clue {number}: {text}",
        "flag": "flag {name}: {meaning}",
        "item": "item {name}: {meaning}",
        "report": "Report:",
        "endings_by_type": "endings by type: {mix}",
        "playtest": "endings of {plays} random plays: {mix}; fear~plan rank correlation {rho}",
        "sep": ", ",
        "quote": " “{title}”",  # zh needs no space before 《
    },
}

# What ``--help`` says, in zh and en: the command, its subcommands and the options that are not settings
# (the settings' own words are config.OPTIONS' help and help_zh). argparse's own words are here too.
HELP: dict[str, dict[str, str]] = {
    "zh": {
        "usage": "用法：",
        "positionals": "位置参数",
        "optionals": "选项",
        "help": "显示此帮助信息并退出",
        "version": "显示程序的版本号并退出",
        "description": "预先生成并游玩分支鬼故事。用 ghost-story COMMAND --help 查看一个命令的选项。",
        "exit_codes": "退出码：0 完成；1 其他失败（一行说明原因）；2 用法或输入有误，未写入任何内容；"
        "3 预算用尽（提高预算后重新运行即可继续）；75 写作器不可用（重新运行即可继续）；"
        "130 已中断（重新运行即可继续）",
        "top_lang": "帮助和界面的语言",
        "screens_only": "界面的语言",
        "generate": "生成一个故事（同一城市未完成的生成会继续）",
        "generate_description": "写出故事文档和每个角色的一张对话图，然后把故事存入故事库。"
        "这个城市未完成的生成会继续；已经有完成故事的城市会被拒绝，除非加上 --new。",
        "city": "故事发生的城市：任何文字，最多 200 个字符，不能含 / \\ 或 ..（必填）",
        "characters": '用逗号（, ， 或 、）分隔的名字，每个可以带 ":身份"，例如 "书生:落第的读书人,船娘"；'
        "最多 8 个；留空 = 由写作器提出 2–4 个；没有身份的名字从规划中得到一个（默认：留空）",
        "new": "为库里已有故事的城市再写一个（不加它命令会拒绝，免得误付两次钱）",
        "estimate": "打印估算（调用次数、词元、费用、时间）后退出",
        "yes": "为脚本保留：generate 从不提问",
        "generate_json": "最后打印一个 JSON 对象（界面输出改到 stderr）",
        "status": "检查点文件夹中未完成的生成",
        "status_description": "列出检查点文件夹中未完成的生成（以及等待中的批处理）；"
        "用同一城市重新运行 generate 即可继续。",
        "status_json": "以 JSON 打印列表",
        "list": "故事库中的故事及其报告",
        "list_description": "故事库中的每个故事，最新的在前：ID、标题、城市、语言、日期、写作器、费用，"
        "以及每个角色的节点、结局、主线和游玩分钟数。",
        "list_json": "以 JSON 打印摘要（每个故事一个对象）",
        "show": "一个故事的文档、规划和报告",
        "show_description": "打印一个故事的文档（梗概、游戏设计、世界观、主线故事）、每个角色的规划"
        "（节拍、计划的结局、线索、标记、物品）和报告。",
        "story_id": "故事的 ID（见 list）",
        "play": "在终端里游玩一个故事",
        "play_description": "按运行时规则游玩一个角色的对话图；不给 ID 时从菜单中选择故事。",
        "play_story_id": "故事的 ID（见 list）；省略则从菜单选择",
        "play_character": "要游玩的角色，按名字或编号（默认：有多个角色时询问）",
        "play_lang": "游玩界面的标签和菜单的语言（默认：故事的语言）",
        "export": "导出一个故事：{formats}",
        "export_description": "把故事写成游戏引擎、浏览器能用的文件，或一张地图。格式：json（整个故事）、"
        "ink、yarn、twee（每个角色一个文件）、html（一个能在浏览器里游玩的文件）、dot、mermaid、png、svg"
        "（每个角色的对话图的地图）。不给 -o 时，stdout 是管道或文件就写到 stdout，是终端就写进当前文件夹。",
        "export_format": "导出格式（必填；不给时列出所有格式）：{formats}",
        "export_character": "只导出这个角色（默认：全部）",
        "export_output": "写到哪里：一个文件，或一个文件夹（以 / 结尾）用于多个文件"
        "（默认：stdout 不是终端时写到 stdout，否则写进当前文件夹）",
        "delete": "从故事库删除一个故事",
        "delete_description": "先询问（y/N），然后从故事库删除一个故事及其角色。",
        "delete_yes": "不询问直接删除",
    },
    "en": {
        "usage": "usage: ",
        "positionals": "positional arguments",
        "optionals": "options",
        "help": "show this help message and exit",
        "version": "show program's version number and exit",
        "description": "Pregenerate and play branching ghost stories. Run ghost-story COMMAND --help for a "
        "command's options.",
        "exit_codes": "exit codes: 0 done; 1 other failure (one-line cause); 2 bad usage or input, nothing "
        "written; 3 budget stop (rerun with more to continue); 75 writer unavailable (rerun to continue); "
        "130 interrupted (rerun to continue)",
        "top_lang": "language of the help and the screens",
        "screens_only": "language of the screens",
        "generate": "generate a story (resumes an unfinished one of the same city)",
        "generate_description": "Write the story documents and one dialogue graph per character, then save "
        "the story to the library. An unfinished generation of the city resumes; a city that already has a "
        "finished story is refused unless --new is given.",
        "city": "the city the story is set in: any script, at most 200 characters, no / \\ or .. (required)",
        "characters": 'comma-separated names (, ， or 、), each with an optional ":role", e.g. '
        '"书生:落第的读书人,船娘"; at most 8; empty = the writer proposes 2-4; a name without a role gets '
        "one from the plan [default: empty]",
        "new": "write another story for a city that already has one in the library (without it the command "
        "refuses, so nothing is paid twice by mistake)",
        "estimate": "print the estimate (calls, tokens, cost, time) and exit",
        "yes": "accepted for scripts: generate never asks",
        "generate_json": "print one JSON object at the end (the screens go to stderr)",
        "status": "unfinished generations in the checkpoint folder",
        "status_description": "List the unfinished generations in the checkpoint folder (and any pending "
        "batches); rerun generate with the same city to continue one.",
        "status_json": "print the list as JSON",
        "list": "stories in the library, with their reports",
        "list_description": "Every story in the library, newest first: id, title, city, language, date, "
        "writer, cost, and per character its nodes, endings, main path and play minutes.",
        "list_json": "print the summaries as JSON (one object per story)",
        "show": "a story's documents, plans and reports",
        "show_description": "Print a story's documents (synopsis, game design, lore, main story), each "
        "character's plan (beats, planned endings, clues, flags, items) and its report.",
        "story_id": "the story's id (from list)",
        "play": "play a story in the terminal",
        "play_description": "Play a character's graph under the runtime rules; without ID, pick a story from "
        "a menu.",
        "play_story_id": "the story's id (from list); omit to pick",
        "play_character": "the character to play, by name or number [default: ask when there are several]",
        "play_lang": "language of the player's labels and menus [default: the story's language]",
        "export": "export a story: {formats}",
        "export_description": "Write a story for a game engine, a browser or as a map. Formats: json (the "
        "whole story), ink, yarn, twee (one file per character), html (one file that plays in a browser), "
        "dot, mermaid, png, svg (a map of each character's graph). Without -o the file goes to stdout when "
        "stdout is a pipe or a file, and into the current folder when it is a terminal.",
        "export_format": "the export format (required; without it the formats are listed): {formats}",
        "export_character": "export only this character [default: all]",
        "export_output": "where to write: a file, or a folder (ending in /) for several files [default: "
        "stdout when it is not a terminal, else the current folder]",
        "delete": "delete a story from the library",
        "delete_description": "Delete a story and its characters from the library, after asking (y/N).",
        "delete_yes": "delete without asking",
    },
}


def help_text(lang: str, key: str, /, **values: Any) -> str:
    """The ``--help`` words ``key`` in ``lang``, filled in. They hold no %: argparse formats help with it."""
    return HELP["zh" if lang == "zh" else "en"][key].format(**values)


# argparse says these in English; in zh each is said again with the same details (regex groups).
ARGPARSE_ZH: tuple[tuple[str, str], ...] = (
    (r"the following arguments are required: (.+)", "缺少必需的参数：{0}"),
    (r"argument (\S+): expected one argument", "参数 {0} 需要一个值"),
    (r"argument (\S+): invalid choice: (.+?) \(choose from (.+)\)", "参数 {0} 的值 {1} 无效，可选：{2}"),
    (r"argument (\S+): ignored explicit argument (.+)", "参数 {0} 不接受值 {1}"),
    (r"unrecognized arguments: (.+)", "无法识别的参数：{0}"),
    (r"ambiguous option: (\S+) could match (.+)", "选项 {0} 有歧义，可能是：{1}"),
    (r"argument (\S+): (.+)", "参数 {0}：{1}"),
)


def argparse_text(message: str, lang: str) -> str:
    """An argparse error in ``lang``: as argparse said it in en, translated in zh when it is a known one."""
    if lang != "zh":
        return message
    for pattern, template in ARGPARSE_ZH:
        match = re.fullmatch(pattern, message)
        if match:
            return template.format(*match.groups())
    return message


# Count-dependent endings in English: {s} is "" for one and "s" otherwise, {ies} "y" or "ies".
_COUNT_KEYS = ("count", "lines", "calls", "endings")


def text(lang: str, key: str, /, **values: Any) -> str:
    """The message ``key`` in ``lang`` (zh for zh, en otherwise), filled in."""
    table = MESSAGES["zh" if lang == "zh" else "en"]
    count = next((values[k] for k in _COUNT_KEYS if k in values and isinstance(values[k], int)), None)
    values.setdefault("s", "" if count == 1 else "s")
    values.setdefault("ies", "y" if count == 1 else "ies")
    return table[key].format(**values)


def number(value: float) -> str:
    """A limit as a writer reads it: 1000000, not 1e+06; 0.01 stays 0.01."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def option_values(option: Option) -> str:
    """What an option accepts: its choices, its range, or nothing to say."""
    if option.choices:
        return " / ".join(option.choices)
    if option.low is not None and option.high is not None:
        return f"{number(option.low)}–{number(option.high)}"
    return ""


def option_default(option: Option) -> str:
    """The default as the README's table and ``--help`` show it."""
    if option.default is None:
        return "none"
    if option.kind is bool:
        return "on" if option.default else "off"
    return str(option.default)


def option_metavar(option: Option) -> str:
    """What ``--help`` shows after the flag: the choices when few, else the kind of value."""
    if option.choices:
        return "{" + ",".join(option.choices) + "}" if len(option.choices) <= 4 else "NAME"
    named = {"db": "PATH", "checkpoint_dir": "DIR", "base_url": "URL", "model": "NAME", "extra_body": "JSON",
             "price": "IN,CACHED,OUT", "max_output_tokens": "N|KIND=N,..."}  # fmt: skip
    return named.get(option.name) or {int: "N", float: "X"}.get(option.kind, option.name.upper())


def option_help(option: Option, what: str | None = None, lang: str = "en") -> str:
    """The ``--help`` text of a setting in ``lang``: what it does (``what``, else the option's own help),
    what it accepts, its default and its variable."""
    if lang == "zh":
        return _option_help_zh(option, what)
    accepts = option_values(option)
    parts = [what or option.help]
    if accepts:
        parts.append(f"({accepts})")
    if "default" in option.help:  # the help itself says what an unset value means
        parts.append(f"[env {option.env}]")
    else:
        default = "not set" if option.default is None else option_default(option)
        parts.append(f"[default: {default}; env {option.env}]")
    # argparse formats help with %: a literal percent sign must be doubled.
    return " ".join(parts).replace("%", "%%")


def _option_help_zh(option: Option, what: str | None) -> str:
    """「每个角色的节点预算（默认 300，范围 5–100000，环境变量 GSF_MAX_NODES）」."""
    details = []
    if "默认" not in option.help_zh:  # the help itself says what an unset value means
        if option.default is None:
            details.append("默认不设")
        elif option.kind is bool:
            details.append("默认关闭" if not option.default else "默认开启")
        else:
            details.append(f"默认 {option.default}")
    if option.choices:
        details.append("可选 " + " / ".join(option.choices))
    elif option.low is not None and option.high is not None:
        details.append(f"范围 {option_values(option)}")
    details.append(f"环境变量 {option.env}")
    return f"{what or option.help_zh}（{'，'.join(details)}）".replace("%", "%%")


# A line of help may break between words and between CJK characters, but not before closing punctuation
# nor after opening punctuation.
_OPENING = "（「『《【〔“‘"
_CLOSING = "、，。；：？！）」』》】〕”’…"
_WORD = re.compile(rf"\s+|[{_OPENING}]*(?:[!-~–]+|[^\s!-~–])[{_CLOSING}]*")  # 5–100000 is one word


def wrap(paragraph: str, width: int) -> list[str]:
    """``paragraph`` (its white space made single spaces) in lines of at most ``width`` terminal cells."""
    width = max(width, 2)
    lines: list[str] = []
    line, space = "", False
    for word in _WORD.findall(" ".join(paragraph.split())):
        if word.isspace():
            space = bool(line)
            continue
        joined = line + (" " if space else "") + word
        if line and cell_len(joined) > width:
            lines.append(line)
            joined = word
        line, space = joined, False
        while cell_len(line) > width:  # a word longer than a line: cut it by cells
            head = line
            while cell_len(head) > width:
                head = head[:-1]
            lines.append(head)
            line = line[len(head) :]
    if line:
        lines.append(line)
    return lines


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help in ``lang``: its own words (usage:) too, lines fitted by terminal cells, so a
    Chinese line is as wide as an English one."""

    def __init__(self, prog: str, lang: str = "en") -> None:
        super().__init__(prog)
        self.lang = lang

    class _Section(argparse.HelpFormatter._Section):
        def format_help(self) -> str:  # a zh heading ends in a full-width colon
            formatted = super().format_help()
            if self.heading is None or getattr(self.formatter, "lang", "en") != "zh":
                return formatted
            return formatted.replace(f"{self.heading}:\n", f"{self.heading}：\n", 1)

    def _format_usage(
        self,
        usage: str | None,
        actions: Iterable[argparse.Action],
        groups: Iterable[argparse._MutuallyExclusiveGroup],
        prefix: str | None,
    ) -> str:
        # argparse indents the usage's next lines by len(prefix): lay it out with a blank prefix as wide
        # as the words in cells, then put the words in.
        words = help_text(self.lang, "usage") if prefix is None else prefix
        blank = " " * cell_len(words)
        formatted = super()._format_usage(usage, actions, groups, blank)
        first, *rest = formatted.split("\n")
        # argparse aligns the next lines under the first argument even when a long one (--format's
        # choices) then runs past the terminal: then under the command's name, else nearly flush left.
        for indent in ("", blank, "  "):
            lines = [indent + line.lstrip(" ") if indent and line.strip() else line for line in rest]
            if all(cell_len(line) <= self._width for line in lines):
                break
        formatted = "\n".join([first, *lines])
        return words + formatted[len(blank) :] if formatted.startswith(blank) else formatted

    def _split_lines(self, text: str, width: int) -> list[str]:
        return wrap(text, width)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n".join(indent + line for line in wrap(text, width - len(indent)))


def fit(line: str, width: int) -> str:
    """``line`` cut to ``width`` terminal cells, ending in … when cut, never inside a wide character."""
    if cell_len(line) <= width:
        return line
    return set_cell_size(line, max(width - 1, 0)).rstrip() + "…"


def pad(cell: str, width: int) -> str:
    """``cell`` fitted to exactly ``width`` cells (cut with …, or padded with spaces)."""
    cell = fit(cell, width)
    return cell + " " * (width - cell_len(cell))


def settings_table(options: tuple[Option, ...]) -> list[str]:
    """The README's configuration table, one Markdown row per setting, from the same table ``--help`` uses."""
    rows = ["| flag | environment | default | meaning |", "| --- | --- | --- | --- |"]
    for option in options:
        accepts = option_values(option)
        meaning = f"{option.help} ({accepts})" if accepts else option.help
        flag = "--" + option.name.replace("_", "-")
        rows.append(
            f"| `{flag}` | `{option.env}` | `{option_default(option)}` | {meaning.replace('|', '/')} |"
        )
    return rows
