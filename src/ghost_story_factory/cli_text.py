"""What the ``ghost-story`` command says, in zh and en, and how it fits lines to a terminal's width."""

from __future__ import annotations

import re
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

# argparse says these in English; in zh each is said again with the same details (regex groups).
ARGPARSE_ZH: tuple[tuple[str, str], ...] = (
    (r"the following arguments are required: (.+)", "缺少必需的参数：{0}"),
    (r"argument (\S+): expected one argument", "参数 {0} 需要一个值"),
    (r"argument (\S+): invalid choice: (.+?) \(choose from (.+)\)", "参数 {0} 的值 {1} 无效，可选：{2}"),
    (r"argument (\S+): ignored explicit argument (.+)", "参数 {0} 不接受值 {1}"),
    (r"unrecognized arguments: (.+)", "无法识别的参数：{0}"),
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


def option_help(option: Option, what: str | None = None) -> str:
    """The ``--help`` text of a setting: what it does (``what``, else the option's own help), what it
    accepts, its default and its variable."""
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
