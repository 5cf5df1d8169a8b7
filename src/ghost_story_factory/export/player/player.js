// Ghost Story Factory HTML player (embedded into every exported page; vanilla JS, no network).
// It keeps each play's own state by the runtime rules of docs/export-format.md: a play starts from the
// opening state; a choice adds its consequences (meters clamped to 0..100, the clock only forward and
// never past 04:00, flags set, items kept once found); fear >= 100 sends the player to the shared
// fear_collapse ending, else 04:00 to the shared dawn ending (unless the choice already leads to an ending
// of that kind); otherwise the choice's bridge is shown before the next node's narrative.
(function () {
  "use strict";
  var FEAR_MAX = 100, NIGHT_MINUTES = 240;
  var data = JSON.parse(document.getElementById("story-data").textContent);
  var L = data.labels;
  var app = document.getElementById("app");
  // One play: character index, the player's state, the text of the last choice, the bridge to show and
  // which rule (if any) replaced the choice's target.
  var play = null;

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
  function clamp(v) { return Math.max(0, Math.min(FEAR_MAX, v)); }
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function clock(minutes) { return pad(Math.floor(minutes / 60)) + ":" + pad(minutes % 60); }
  function endingType(c, id) { var n = c.nodes[id]; return n && n.ending ? n.ending.type : null; }

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

  function start(ci) {
    var c = data.characters[ci], o = c.opening;
    play = {
      ci: ci,
      state: { node: c.root, fear: o.fear, truth: o.truth, familiarity: o.familiarity, time: o.time,
               scene: o.scene, flags: Object.assign({}, o.flags), items: o.items.slice() },
      chosen: null, bridge: "", redirected: null
    };
    render();
  }

  // Rule 2: the state after a choice, and where it leads.
  function take(ch) {
    var c = data.characters[play.ci], s = play.state;
    var fear = clamp(s.fear + ch.fear), time = Math.min(s.time + ch.minutes, NIGHT_MINUTES);
    var target = ch.next, kind = endingType(c, target), redirected = null;
    if (c.runtime.fear_collapse && fear >= FEAR_MAX && kind !== "fear_collapse") redirected = "fear_collapse";
    else if (c.runtime.dawn && time >= NIGHT_MINUTES && fear < FEAR_MAX && kind !== "dawn") redirected = "dawn";
    if (redirected) target = c.runtime[redirected];
    var items = s.items.slice();
    ch.items.forEach(function (item) { if (items.indexOf(item) < 0) items.push(item); });
    play.state = {
      node: target, fear: fear, truth: clamp(s.truth + ch.truth), familiarity: clamp(s.familiarity + ch.familiarity),
      time: time, scene: redirected ? s.scene : c.nodes[target].scene,
      flags: Object.assign({}, s.flags, ch.flags), items: items
    };
    play.chosen = ch.text;
    play.bridge = redirected ? "" : ch.bridge;
    play.redirected = redirected;
    render();
  }

  function meter(key, label, value, cssColor) {
    var fill = el("i", {}); fill.style.width = value + "%"; fill.style.background = cssColor;
    return el("div", { "class": "meter", "data-meter": key }, [
      el("span", {}, [document.createTextNode(label), el("b", { text: String(value) })]),
      el("div", { "class": "bar", role: "meter", "aria-label": label, "aria-valuenow": String(value),
                  "aria-valuemin": "0", "aria-valuemax": "100" }, [fill])
    ]);
  }

  function stateBar(c, s) {
    var itemNodes = s.items.length ? s.items.map(function (t) { return el("span", { "class": "chip", text: t }); })
                                   : [document.createTextNode(L.none)];
    return el("section", { id: "state", "aria-label": "state" }, [
      el("div", { "class": "who", text: c.name }),
      el("div", { "class": "meters" }, [
        meter("fear", L.fear, s.fear, "var(--fear)"), meter("truth", L.truth, s.truth, "var(--truth)"),
        meter("familiarity", L.familiarity, s.familiarity, "var(--fam)")
      ]),
      el("div", { "class": "facts" }, [
        el("span", { id: "clock" }, [document.createTextNode(L.time + " "), el("b", { text: clock(s.time) })]),
        el("span", { id: "scene" }, [document.createTextNode(L.scene + " "), el("b", { text: s.scene })]),
        el("span", { id: "items" }, [document.createTextNode(L.items + " ")].concat(itemNodes))
      ])
    ]);
  }

  function render() {
    var c = data.characters[play.ci];
    var n = c.nodes[play.state.node];
    clear();
    if (!n) { app.appendChild(el("p", { id: "error", text: "Missing node: " + play.state.node })); return; }
    app.appendChild(stateBar(c, play.state));
    var story = el("article", { id: "story", "aria-live": "polite", "data-node": play.state.node });
    if (play.chosen) story.appendChild(el("p", { "class": "chosen", text: L.you_chose + ": " + play.chosen }));
    if (play.redirected) {
      story.appendChild(el("p", { id: "redirect", "data-rule": play.redirected, text: L.redirect[play.redirected] }));
    }
    if (play.bridge) story.appendChild(el("p", { id: "bridge", text: play.bridge }));
    n.narrative.split(/\n\s*\n/).forEach(function (para) {
      if (para.trim()) story.appendChild(el("p", { "class": "narrative", text: para.trim() }));
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
        el("button", { id: "restart", onclick: function () { start(play.ci); }, text: L.restart })
      ]);
      if (data.characters.length > 1) {
        actions.appendChild(el("button", { id: "other", onclick: picker, text: L.other_character }));
      }
      app.appendChild(actions);
      return;
    }
    var list = el("div", { id: "choices" });
    n.choices.forEach(function (ch, i) {
      list.appendChild(el("button", { "class": "choice", "data-next": ch.next, onclick: function () { take(ch); } },
        [el("span", { "class": "num", text: String(i + 1) + "." }), document.createTextNode(ch.text)]));
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
