"""A self-contained HTML page that plays the story offline: embedded JSON and a small vanilla JS player."""

from __future__ import annotations

import html
from typing import Any

import orjson

from ._common import ENDING_COLORS, OTHER_ENDING_COLOR, Character, display_title, labels, story_info


def embed_json(value: Any) -> str:
    """JSON safe inside a <script> element: '<', '>' and '&' (only ever inside strings) become \\u escapes,
    so no '</script>' or '<!--' in a narrative can end the element early; JSON.parse reads them back."""
    text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode("utf-8")
    for raw, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, escaped)
    return text


def _player_data(story: dict[str, Any], chars: list[Character]) -> dict[str, Any]:
    info = story_info(story)
    lang = info.get("lang")
    return {
        "title": display_title(story),
        "city": str(info.get("city") or ""),
        "lang": str(lang or ""),
        "synopsis": str(info.get("synopsis") or ""),
        "labels": labels(lang),
        "endingColors": {**ENDING_COLORS, "": OTHER_ENDING_COLOR},
        "characters": [
            {
                "name": char.name,
                "role": char.role,
                "description": char.description,
                "root": char.root,
                "nodes": {
                    nid: {
                        "narrative": str(node.get("narrative") or ""),
                        "state": node.get("state") or {},
                        "choices": [
                            {"text": str(c.get("text", "")), "next": c["next"]}
                            for c in node.get("choices") or []
                        ],
                        "ending": node.get("ending") or None,
                    }
                    for nid, node in char.nodes.items()
                },
            }
            for char in chars
        ],
    }


_CSS = """
:root { color-scheme: dark; --bg: #101114; --panel: #1b1d22; --text: #e8e6e3; --muted: #9a9ca3;
  --accent: #c9a227; --line: #2c2f36; --fear: #c0392b; --truth: #2e86c1; --fam: #27ae60; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--text); line-height: 1.7;
  font: 18px/1.7 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "PingFang SC", "Hiragino Sans GB",
  "Microsoft YaHei", "Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif; }
main { max-width: 42rem; margin: 0 auto; padding: 1rem 1rem 3rem; }
header h1 { font-size: 1.5rem; line-height: 1.3; margin: .5rem 0 .25rem; letter-spacing: .02em; }
header p { margin: 0 0 1rem; color: var(--muted); font-size: .95rem; }
#state { position: sticky; top: 0; z-index: 1; background: var(--panel); border: 1px solid var(--line);
  border-radius: 10px; padding: .6rem .8rem; margin-bottom: 1rem; font-size: .85rem; }
.who { font-weight: 600; margin-bottom: .3rem; }
.meters { display: grid; grid-template-columns: repeat(3, 1fr); gap: .5rem; }
.meter span { display: flex; justify-content: space-between; color: var(--muted); }
.meter b { color: var(--text); font-variant-numeric: tabular-nums; }
.bar { height: 6px; background: var(--line); border-radius: 3px; overflow: hidden; }
.bar i { display: block; height: 100%; }
.facts { display: flex; flex-wrap: wrap; gap: .25rem .9rem; margin-top: .45rem; color: var(--muted); }
.facts b { color: var(--text); font-weight: 500; }
.chip { display: inline-block; border: 1px solid var(--line); border-radius: 999px; padding: 0 .5rem;
  margin: 0 .2rem .2rem 0; color: var(--text); }
#story p { margin: 0 0 1em; white-space: pre-wrap; overflow-wrap: anywhere; }
.chosen { color: var(--muted); font-style: italic; border-left: 3px solid var(--accent); padding-left: .6rem; }
#choices { display: grid; gap: .6rem; margin-top: 1.2rem; }
button { font: inherit; color: var(--text); background: var(--panel); border: 1px solid var(--line);
  border-radius: 10px; padding: .75rem 1rem; text-align: left; cursor: pointer; min-height: 44px; width: 100%; }
button:hover, button:focus-visible { border-color: var(--accent); outline: none; background: #23262d; }
button .num { color: var(--accent); margin-right: .5rem; font-variant-numeric: tabular-nums; }
.character small { display: block; color: var(--muted); font-size: .85rem; }
#ending { border-radius: 10px; padding: .9rem 1rem; margin-top: 1rem; font-weight: 600; }
#ending small { display: block; font-weight: 400; opacity: .85; }
.actions { display: grid; gap: .6rem; margin-top: 1rem; }
footer { margin-top: 2.5rem; color: var(--muted); font-size: .75rem; text-align: center; }
@media (max-width: 30rem) { body { font-size: 17px; } .meters { gap: .35rem; } main { padding: .6rem .7rem 2rem; } }
"""

_JS = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("story-data").textContent);
  var L = data.labels;
  var app = document.getElementById("app");
  var play = null; // {ci: character index, node: node id, chosen: text of the last choice}

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "onclick") node.addEventListener("click", attrs[k]);
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }
  function clear() { while (app.firstChild) app.removeChild(app.firstChild); window.scrollTo(0, 0); }
  function color(type) { return data.endingColors[type] || data.endingColors[""]; }
  function ink(hex) {
    var n = parseInt(hex.slice(1), 16), r = n >> 16, g = (n >> 8) & 255, b = n & 255;
    return 0.299 * r + 0.587 * g + 0.114 * b > 150 ? "#000" : "#fff";
  }

  function picker() {
    play = null;
    clear();
    app.appendChild(el("h2", { text: L.characters, id: "picker-title" }));
    var list = el("div", { id: "picker", "class": "actions" });
    data.characters.forEach(function (c, i) {
      list.appendChild(el("button", { "class": "character", "data-index": String(i), onclick: function () { start(i); } }, [
        document.createTextNode(c.name),
        c.role ? el("small", { text: c.role }) : null
      ]));
    });
    app.appendChild(list);
  }

  function start(ci) { play = { ci: ci, node: data.characters[ci].root, chosen: null }; render(); }

  function meter(label, value, cssColor) {
    var v = Math.max(0, Math.min(100, Number(value) || 0));
    var fill = el("i", {}); fill.style.width = v + "%"; fill.style.background = cssColor;
    return el("div", { "class": "meter" }, [
      el("span", {}, [document.createTextNode(label), el("b", { text: String(value) })]),
      el("div", { "class": "bar", role: "meter", "aria-label": label, "aria-valuenow": String(v),
                  "aria-valuemin": "0", "aria-valuemax": "100" }, [fill])
    ]);
  }

  function stateBar(c, s) {
    var items = (s.inventory || []);
    var itemNodes = items.length ? items.map(function (t) { return el("span", { "class": "chip", text: t }); })
                                 : [document.createTextNode(L.none)];
    return el("section", { id: "state", "aria-label": "state" }, [
      el("div", { "class": "who", text: c.name }),
      el("div", { "class": "meters" }, [
        meter(L.fear, s.PR, "var(--fear)"), meter(L.truth, s.GR, "var(--truth)"),
        meter(L.familiarity, s.WF, "var(--fam)")
      ]),
      el("div", { "class": "facts" }, [
        el("span", {}, [document.createTextNode(L.time + " "), el("b", { text: s.time || "" })]),
        el("span", {}, [document.createTextNode(L.scene + " "), el("b", { text: s.scene || "" })]),
        el("span", { id: "items" }, [document.createTextNode(L.items + " ")].concat(itemNodes))
      ])
    ]);
  }

  function render() {
    var c = data.characters[play.ci];
    var n = c.nodes[play.node];
    clear();
    if (!n) { app.appendChild(el("p", { id: "error", text: "Missing node: " + play.node })); return; }
    app.appendChild(stateBar(c, n.state || {}));
    var story = el("article", { id: "story", "aria-live": "polite", "data-node": play.node });
    if (play.chosen) story.appendChild(el("p", { "class": "chosen", text: L.you_chose + ": " + play.chosen }));
    n.narrative.split(/\n\s*\n/).forEach(function (para) {
      if (para.trim()) story.appendChild(el("p", { text: para.trim() }));
    });
    app.appendChild(story);
    if (n.ending) {
      var bg = color(n.ending.type);
      var box = el("div", { id: "ending", role: "status", "data-type": n.ending.type }, [
        document.createTextNode(L.ending + " · " + (n.ending.title || "")),
        el("small", { text: L.endings[n.ending.type] || n.ending.type })
      ]);
      box.style.background = bg; box.style.color = ink(bg);
      app.appendChild(box);
      var actions = el("div", { "class": "actions" }, [
        el("button", { id: "restart", onclick: function () { start(play.ci); } , text: L.restart })
      ]);
      if (data.characters.length > 1) {
        actions.appendChild(el("button", { id: "other", onclick: picker, text: L.other_character }));
      }
      app.appendChild(actions);
      return;
    }
    var list = el("div", { id: "choices" });
    n.choices.forEach(function (ch, i) {
      list.appendChild(el("button", { "class": "choice", "data-next": ch.next, onclick: function () {
        play.chosen = ch.text; play.node = ch.next; render();
      } }, [el("span", { "class": "num", text: String(i + 1) + "." }), document.createTextNode(ch.text)]));
    });
    app.appendChild(list);
  }

  document.addEventListener("keydown", function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey || !/^[1-9]$/.test(e.key)) return;
    var buttons = app.querySelectorAll("#choices button, #picker button");
    var b = buttons[Number(e.key) - 1];
    if (b) { e.preventDefault(); b.click(); }
  });

  if (data.characters.length === 1) start(0); else picker();
})();
"""


def render_html(story: dict[str, Any], chars: list[Character]) -> str:
    data = _player_data(story, chars)
    lang = data["lang"] or "en"
    title = data["title"]
    city = data["city"] if data["city"] != title else ""  # an untitled story is already headed by its city
    subtitle = " · ".join(part for part in (city, data["synopsis"]) if part)
    names = "、".join(c.name for c in chars) if lang.startswith("zh") else ", ".join(c.name for c in chars)
    page_title = title if len(chars) > 1 else f"{title} — {names}"
    # CSP: the page may run its own inline script and style and load nothing at all from anywhere.
    csp = (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
        "base-uri 'none'; form-action 'none'"
    )
    return f"""<!DOCTYPE html>
<html lang="{html.escape(lang)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="generator" content="Ghost Story Factory">
<title>{html.escape(page_title)}</title>
<style>{_CSS}</style>
</head>
<body>
<main>
<header>
<h1>{html.escape(title)}</h1>
<p>{html.escape(subtitle)}</p>
</header>
<div id="app"><noscript>This story needs JavaScript to play.</noscript></div>
<footer>Ghost Story Factory</footer>
</main>
<script type="application/json" id="story-data">{embed_json(data)}</script>
<script>{_JS}</script>
</body>
</html>
"""
