"""What a generation tells its user as it goes: events, a silent sink, and the console screens."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Protocol

MESSAGES: dict[str, dict[str, str]] = {
    "zh": {
        "offline": "✍️  使用离线写作器（内置，无需网络，不消耗词元）。设置 OPENAI_API_KEY 可使用真实模型。",
        "backend": "✍️  写作器：{backend}（模型 {model}）",
        "documents": "📜 故事文档已就绪：《{title}》",
        "characters": "👥 角色：{names}",
        "resume_story": "↩️  继续「{city}」上次的生成：{done}/{total} 个角色已完成",
        "skip": "⏩ 跳过已完成的角色「{name}」",
        "plan": "🗺️  「{name}」的故事规划已就绪：{beats} 个节拍，{endings} 种结局",
        "start_tree": "🔄 正在为角色「{name}」生成对话树...",
        "resume_tree": "↩️  「{name}」的对话树：已写好 {written} 个节点，还有 {queue} 个待写，从第 {depth} 层继续",
        "journal": "   📒 日志里有 {count} 条已收到的回复，将直接复用",
        "journal_paid": "   📒 日志里有 {count} 条已付费的回复，将直接复用，不再付费",
        "saved_tree": "💾 [检查点] 已保存 {nodes} 个节点 → {path}",
        "saved_story": "💾 [角色检查点] 已保存 {done}/{total} 个角色",
        "tree_done": "✅ 「{name}」的对话树生成完成：{nodes} 个节点，主线 {path} 步，结局 {endings}，约 {minutes} 分钟",
        "warning": "⚠️  {text}",
        "notice": "ℹ️  {text}",
        "bar": "{name}",
        "backend_at": "✍️  写作器：{backend}（模型 {model}，{preset}，{url}）",
        "retry": "   ↻ 第 {attempt}/{of} 次尝试将在 {wait:.1f} 秒后开始（上次：{cause}）",
        "format": "🔧 JSON 模式：{mode}（{how}）",
        "format_how_first": "首选即被接受",
        "format_how_tried": "依次尝试了 {tried}",
        "format_how_checkpoint": "沿用检查点中协商好的模式",
        "refused": "   ⚙️  服务器拒绝了请求中的 {what}（不计词元）：{reason} —— 已调整后重发",
        "cut": "   ✂️  一个 {kind} 回复在输出上限 {cap} 词元 处被截断：要求更短的回复",
        "waiting": "   ⏳ 等待写作器：{in_flight} 个调用进行中，距上次回复 {waited:.0f} 秒（共 {elapsed:.0f} 秒）",
        "in_flight": "{count} 个进行中",
        "estimate": "🧮 预估：{calls} 次写作器调用，约 {tokens} 词元（输入 {prompt}，输出 {completion}），"
        "{cost}，并发 {concurrency} 时约 {duration}",
        "estimate_detail": "   最大的提示约 {largest} 词元（{largest_kind}）；每个节点：提示约 {node_prompt}，"
        "回复约 {node_reply} 词元",
        "estimate_assume": "   （估算依据：每个角色最多 {nodes} 个节点、{characters} 个角色、每次调用约 {seconds:g} 秒、"
        "不计重问）",
        "cost_unknown": "费用未知（没有 {model} 的价格：用 --price 指定）",
        "cost_free": "本地服务器，无 API 费用",
        "cost_offline": "离线写作器，不消耗词元",
        "cost_reported": "费用由服务商逐次报告",
        "cost_about": "约 ${low:.4f}–${high:.4f}",
        "largest_prompt": "📏 本次运行最大的提示：{tokens} 词元（{kind}）",
        "refused_total": "   （服务器拒绝了 {count} 个请求的格式，不计词元）",
        "eta": "剩余约 {eta}",
        "projected": "本树结束时约 ${cost:.4f}",
        "spend_unknown": "费用未知",
        "spend": "{tokens} 词元 · {cost}",
        "bar_stats": "第 {depth} 层 · 待写 {queue} · {spend}",
        "plain_tree": "   {name} {nodes}/{total} · 第 {depth} 层 · 待写 {queue} · {spend}",
        # Warnings raised in English by the checkpoint store and the story loop, shown in zh (see
        # translate_warning): the en twins below are the exact texts those modules produce.
        "w_lock_taken": "接管了一个已结束进程留下的锁（{owner}）",
        "w_owner": "进程 {pid}，主机 {host}，{started_at} 启动",
        "w_owner_unknown": "所有者未知",
        "w_lock_note": "无法在 {folder} 写入锁的说明：{cause}；生成继续",
        "w_journal_sync": "无法同步日志：{cause}",
        "w_journal_read": "无法读取日志 {name}：{cause}；这些回复将重新请求",
        "w_journal_append": "无法追加到日志 {name}：{cause}；生成继续",
        "w_journal_close": "无法关闭日志 {name}：{cause}",
        "w_checkpoint_save": "检查点没有保存到 {path}：{cause}；生成继续",
        "w_checkpoint_read": "无法读取检查点 {path}：{cause}；这一层重新开始",
        "w_checkpoint_stuck": "检查点 {path} 无法使用（{why}），也无法移走：{cause}",
        "w_checkpoint_moved": "检查点 {path} 无法使用（{why}）；已移到 {target}，这一层重新开始",
        "w_stored_characters": "沿用检查点中的角色 {stored}（而不是 {given}）继续",
        "w_stored_value": "{setting}：沿用检查点中的值 {value}（而不是 {wanted}）继续",
    },
    "en": {
        "offline": "✍️  Using the offline writer (built in, no network, no tokens). "
        "Set OPENAI_API_KEY to use a real model.",
        "backend": "✍️  Writer: {backend} (model {model})",
        "documents": "📜 Story documents ready: “{title}”",
        "characters": "👥 Characters: {names}",
        "resume_story": "↩️  Resuming the last generation of “{city}”: {done}/{total} characters done",
        "skip": "⏩ Skipping completed character “{name}”",
        "plan": "🗺️  The plan of “{name}” is ready: {beats} beats, {endings} endings",
        "start_tree": "🔄 Generating the dialogue tree of “{name}”...",
        "resume_tree": "↩️  The tree of “{name}”: {written} nodes written, {queue} waiting; continuing at depth {depth}",
        "journal": "   📒 {count} replies already received are in the journal and will be reused",
        "journal_paid": "   📒 {count} replies already paid for are in the journal and will be reused, not paid again",
        "saved_tree": "💾 [checkpoint] saved {nodes} nodes → {path}",
        "saved_story": "💾 [character checkpoint] saved {done}/{total} characters",
        "tree_done": "✅ The tree of “{name}” is done: {nodes} nodes, main path {path} choices, endings {endings}, "
        "about {minutes} min",
        "warning": "⚠️  {text}",
        "notice": "ℹ️  {text}",
        "bar": "{name}",
        "backend_at": "✍️  Writer: {backend} (model {model}, {preset}, {url})",
        "retry": "   ↻ attempt {attempt} of {of} in {wait:.1f} s (the last one: {cause})",
        "format": "🔧 JSON mode: {mode} ({how})",
        "format_how_first": "accepted on the first try",
        "format_how_tried": "after trying {tried}",
        "format_how_checkpoint": "as negotiated before, from the checkpoint",
        "refused": "   ⚙️  the server refused the request's {what} (no tokens billed): {reason} — adjusted and resent",
        "cut": "   ✂️  a {kind} reply was cut at the output cap of {cap} tokens: asking for a shorter one",
        "waiting": "   ⏳ waiting for the writer: {in_flight} call(s) in flight, {waited:.0f} s since the last "
        "reply ({elapsed:.0f} s in all)",
        "in_flight": "{count} in flight",
        "estimate": "🧮 Estimate: {calls} writer calls, about {tokens} tokens ({prompt} in, {completion} out), "
        "{cost}, about {duration} at concurrency {concurrency}",
        "estimate_detail": "   largest prompt about {largest} tokens ({largest_kind}); per node: prompt about "
        "{node_prompt}, reply about {node_reply} tokens",
        "estimate_assume": "   (assuming up to {nodes} nodes per character, {characters} character(s), about "
        "{seconds:g} s per call, no re-asks)",
        "cost_unknown": "cost unknown (no price for {model}: pass --price)",
        "cost_free": "a local server: no API charges",
        "cost_offline": "the offline writer: no tokens",
        "cost_reported": "cost reported by the provider per call",
        "cost_about": "about ${low:.4f}–${high:.4f}",
        "largest_prompt": "📏 Largest prompt of the run: {tokens} tokens ({kind})",
        "refused_total": "   (the server refused the form of {count} request(s); no tokens billed)",
        "eta": "about {eta} left",
        "projected": "≈ ${cost:.4f} when this tree is done",
        "spend_unknown": "cost unknown",
        "spend": "{tokens} tokens · {cost}",
        "bar_stats": "depth {depth} · queue {queue} · {spend}",
        "plain_tree": "   {name} {nodes}/{total} · depth {depth} · queue {queue} · {spend}",
        "w_lock_taken": "took over a lock left by a process that ended ({owner})",
        "w_owner": "pid {pid} on {host}, started {started_at}",
        "w_owner_unknown": "owner unknown",
        "w_lock_note": "cannot write the lock note in {folder}: {cause}; generation goes on",
        "w_journal_sync": "cannot sync the journal: {cause}",
        "w_journal_read": "cannot read journal {name}: {cause}; replies will be asked again",
        "w_journal_append": "cannot append to journal {name}: {cause}; generation goes on",
        "w_journal_close": "cannot close journal {name}: {cause}",
        "w_checkpoint_save": "checkpoint not saved to {path}: {cause}; generation goes on",
        "w_checkpoint_read": "cannot read checkpoint {path}: {cause}; that level starts fresh",
        "w_checkpoint_stuck": "checkpoint {path} is unusable ({why}) and could not be moved: {cause}",
        "w_checkpoint_moved": "checkpoint {path} is unusable ({why}); moved to {target}, that level starts fresh",
        "w_stored_characters": "resuming with the stored characters {stored} (not {given})",
        "w_stored_value": "{setting}: continuing with the stored value {value} (not {wanted})",
    },
}


# The kinds of writer call, by their name in zh (a message names a call's kind by its English id).
CALL_KINDS = {"documents": "文档", "characters": "角色", "plan": "规划", "node": "节点"}
_KIND_FIELDS = {"estimate_detail": "largest_kind", "largest_prompt": "kind", "cut": "kind"}


def _ending_counts(text: str, lang: str) -> str:
    """ "trapped 1, escape 2" (ending types, as the story loop counts them) -> "被困 1、逃出生天 2"."""
    from ..vocabulary import ENDING_TYPES, ending_label

    pairs = [part.strip().rpartition(" ") for part in text.split(",") if part.strip()]
    if not pairs or any(kind not in ENDING_TYPES or not count.isdigit() for kind, _, count in pairs):
        return text
    return ("、" if lang == "zh" else ", ").join(
        f"{ending_label(kind, lang)} {count}" for kind, _, count in pairs
    )


def say(lang: str, key: str, **values: Any) -> str:
    field = _KIND_FIELDS.get(key)
    if lang == "zh" and field and values.get(field) in CALL_KINDS:
        values[field] = CALL_KINDS[values[field]]
    if key == "tree_done" and isinstance(values.get("endings"), str):
        values["endings"] = _ending_counts(values["endings"], lang)
    shown = MESSAGES.get(lang, MESSAGES["zh"])[key].format(**values)
    # English counts: "1 call(s)" reads "1 call", "3 call(s)" reads "3 calls".
    return _COUNTED.sub(lambda m: f"{m[1]} {m[2]}" + ("" if m[1] == "1" else "s"), shown)


_COUNTED = re.compile(r"\b(\d+) (\w+)\(s\)")


def _pattern(template: str) -> re.Pattern[str]:
    """An English template as a regex: every ``{field}`` captures the text between the literal parts."""
    parts = re.split(r"\{(\w+)\}", template)
    regex = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)" for i, part in enumerate(parts))
    return re.compile(regex, re.DOTALL)


_WARNINGS = [(key, _pattern(text)) for key, text in MESSAGES["en"].items() if key.startswith("w_")]
_OWNER = _pattern(MESSAGES["en"]["w_owner"])


def translate_warning(lang: str, text: str) -> str:
    """A warning the pregenerator raised in English, in ``lang`` when it is one of the known texts
    (an unknown text, e.g. from a newer module, is shown as it is)."""
    if lang not in MESSAGES or lang == "en":
        return text
    for key, pattern in _WARNINGS:
        match = pattern.fullmatch(text)
        if match is None:
            continue
        values = match.groupdict()
        owner = values.get("owner")
        if owner is not None:
            known = _OWNER.fullmatch(owner)
            if known:
                values["owner"] = say(lang, "w_owner", **known.groupdict())
            elif owner == MESSAGES["en"]["w_owner_unknown"]:
                values["owner"] = say(lang, "w_owner_unknown")
        return say(lang, key, **values)
    return text


class Progress(Protocol):
    """Events of a generation, in the order they happen."""

    def line(self, key: str, **values: Any) -> None: ...

    def warn(self, text: str) -> None: ...

    # Several characters' trees grow side by side: every tree event names its character.
    def tree_started(self, name: str, max_nodes: int, nodes: int) -> None: ...

    def tree_advanced(
        self, name: str, nodes: int, depth: int, queue: int, tokens: int, cost: float | None
    ) -> None: ...

    def checkpoint_saved(self, path: Path, nodes: int) -> None: ...

    def tree_finished(self, name: str) -> None: ...


class SilentProgress:
    """Collects warnings and lines without showing anything (library use, tests)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.warnings: list[str] = []

    def line(self, key: str, **values: Any) -> None:
        self.lines.append(say("en", key, **values))

    def warn(self, text: str) -> None:
        self.warnings.append(text)

    def tree_started(self, name: str, max_nodes: int, nodes: int) -> None:
        pass

    def tree_advanced(
        self, name: str, nodes: int, depth: int, queue: int, tokens: int, cost: float | None
    ) -> None:
        pass

    def checkpoint_saved(self, path: Path, nodes: int) -> None:
        self.lines.append(say("en", "saved_tree", nodes=nodes, path=path))

    def tree_finished(self, name: str) -> None:
        pass

    def writer_event(self, event: str, /, **values: Any) -> None:
        self.lines.append(f"{event}: {values}")

    def heartbeat(self, in_flight: int, elapsed: float) -> None:
        pass
