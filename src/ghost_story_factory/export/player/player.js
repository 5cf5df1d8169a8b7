// Ghost Story Factory HTML player (embedded into every exported page; vanilla JS, no network).
// It keeps each play's own state by the runtime rules of docs/export-format.md: a play starts from the
// opening state; a choice adds its consequences (meters clamped to 0..100, the clock only forward and
// never past 04:00, flags set, items kept once found); fear >= 100 sends the player to the shared
// fear_collapse ending, else 04:00 to the shared dawn ending (unless the choice already leads to an ending
// of that kind); otherwise the choice's bridge is shown before the next node's narrative.
// The map view draws the character's graph as SVG (depth as columns), highlights the nodes and choices of
// this play, zooms and pans, and shows a clicked node's narrative. Story text only ever goes in through
// textContent, so markup in a narrative stays text.
(function () {
  "use strict";
  var FEAR_MAX = 100, NIGHT_MINUTES = 240;
  var data = JSON.parse(document.getElementById("story-data").textContent);
  var L = data.labels, M = data.mapLabels;
  // The SVG namespace is a name, never fetched; spelled in two parts so the page holds no URL at all.
  var SVG_NS = ["http", "//www.w3.org/2000/svg"].join(":");
  var app = document.getElementById("app");
  // One play: character index, the player's state, the text of the last choice, the bridge to show and
  // which rule (if any) replaced the choice's target.
  var play = null;

  // An ending's type by its label; its title only when it says more than the label ("Possessed" once).
  function endingKind(ending) { return L.endings[ending.type] || ending.type; }
  function endingTitle(ending) {
    var title = (ending.title || "").trim();
    var same = [ending.type, endingKind(ending)].map(function (w) { return String(w).toLowerCase(); });
    return same.indexOf(title.toLowerCase()) >= 0 ? "" : title;
  }
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
      chosen: null, bridge: "", redirected: null, visited: [c.root]
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
    play.visited.push(target);
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
      el("div", { "class": "who" }, [
        document.createTextNode(c.name),
        el("button", { id: "open-map", "class": "small", type: "button", onclick: openMap, text: M.map })
      ]),
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
    if (play.chosen) story.appendChild(el("p", { "class": "chosen", text: L.you_chose + L.colon + play.chosen }));
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
        document.createTextNode(L.ending + (endingTitle(n.ending) ? " · " + endingTitle(n.ending) : "")),
        el("small", { text: endingKind(n.ending) })
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

  // --- the map view ----------------------------------------------------------------------------
  var COL = 190, ROW = 58, BOX_W = 160, BOX_H = 42, PAD = 24;
  var LABEL_CHARS = /^zh/i.test(data.lang) ? 11 : 22; // what fits in a box at 12px

  function svg(tag, attrs) {
    var node = document.createElementNS(SVG_NS, tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k]; else node.setAttribute(k, String(attrs[k]));
    });
    return node;
  }
  function short(text, limit) {
    var flat = String(text || "").replace(/\s+/g, " ").trim();
    return flat.length <= limit ? flat : flat.slice(0, limit - 1) + "…";
  }

  // Columns by depth, rows in the order the nodes come (breadth first from the root).
  function layout(c) {
    var columns = {}, pos = {}, width = 0, height = 0;
    Object.keys(c.nodes).forEach(function (id) {
      var d = c.nodes[id].depth, row = (columns[d] = (columns[d] || 0) + 1) - 1;
      pos[id] = { x: PAD + d * COL, y: PAD + row * ROW };
      width = Math.max(width, pos[id].x + BOX_W + PAD);
      height = Math.max(height, pos[id].y + BOX_H + PAD);
    });
    return { pos: pos, width: width, height: height };
  }

  function openMap() {
    var c = data.characters[play.ci], geo = layout(c);
    var visited = {}, walked = {};
    play.visited.forEach(function (id, i) {
      visited[id] = true;
      if (i) walked[play.visited[i - 1] + "\u0000" + id] = true;
    });
    var current = play.visited[play.visited.length - 1];
    clear();
    var view = { k: 1, x: 0, y: 0 };
    var box = el("div", { id: "map-box" });
    var canvas = svg("svg", { role: "img", "aria-label": M.map, width: "100%", height: "100%" });
    var viewport = svg("g", { "class": "viewport" });
    canvas.appendChild(viewport);
    var edges = svg("g", { "class": "map-edges" }), nodes = svg("g", { "class": "map-nodes" });
    viewport.appendChild(edges); viewport.appendChild(nodes);
    Object.keys(c.nodes).forEach(function (id) {
      var n = c.nodes[id], p = geo.pos[id];
      n.choices.forEach(function (ch) {
        var q = geo.pos[ch.next], on = walked[id + "\u0000" + ch.next];
        if (!q) return;
        var x1 = p.x + BOX_W, y1 = p.y + BOX_H / 2, x2 = q.x, y2 = q.y + BOX_H / 2, mid = (x1 + x2) / 2;
        if (x2 <= x1) { x2 = q.x + BOX_W / 2; y2 = q.y + (q.y > p.y ? 0 : BOX_H); mid = x1 + COL / 3; }
        edges.appendChild(svg("path", {
          "class": "map-edge" + (on ? " visited" : ""), "data-from": id, "data-to": ch.next,
          d: "M" + x1 + "," + y1 + " C" + mid + "," + y1 + " " + mid + "," + y2 + " " + x2 + "," + y2
        }));
      });
      var g = svg("g", { "class": "map-node" + (visited[id] ? " visited" : "") + (id === current ? " current" : ""),
                         "data-node": id, transform: "translate(" + p.x + "," + p.y + ")", tabindex: "0" });
      var rect = svg("rect", { width: BOX_W, height: BOX_H, rx: 6 });
      if (n.ending) rect.style.fill = color(n.ending.type);
      g.appendChild(rect);
      var ink1 = n.ending ? ink(color(n.ending.type)) : null;
      var t1 = svg("text", { x: 8, y: 16, "class": "map-id", text: id });
      var t2 = svg("text", { x: 8, y: 33, text: short(n.ending ? n.ending.title || n.label : n.label, LABEL_CHARS) });
      if (ink1) { t1.style.fill = ink1; t2.style.fill = ink1; }
      g.appendChild(t1); g.appendChild(t2);
      g.appendChild(svg("title", { text: id + " · " + n.label }));
      nodes.appendChild(g);
    });
    // Drawn last so the walked path sits on top of the other choices.
    [].slice.call(edges.querySelectorAll(".visited")).forEach(function (e) { edges.appendChild(e); });
    box.appendChild(canvas);

    var reader = el("section", { id: "map-reader", "aria-live": "polite" }, [el("p", { "class": "hint", text: M.map_hint })]);
    function apply() {
      viewport.setAttribute("transform", "translate(" + view.x.toFixed(1) + "," + view.y.toFixed(1) + ") scale(" + view.k.toFixed(4) + ")");
    }
    function fit() {
      var w = box.clientWidth || 800, h = box.clientHeight || 500;
      view.k = Math.min(w / geo.width, h / geo.height, 1);
      view.x = (w - geo.width * view.k) / 2; view.y = (h - geo.height * view.k) / 2;
      apply();
    }
    function zoom(factor, cx, cy) {
      var k = Math.max(0.05, Math.min(4, view.k * factor));
      if (cx === undefined) { cx = (box.clientWidth || 800) / 2; cy = (box.clientHeight || 500) / 2; }
      view.x = cx - (cx - view.x) * (k / view.k); view.y = cy - (cy - view.y) * (k / view.k); view.k = k;
      apply();
    }
    function read(id) {
      var n = c.nodes[id];
      while (reader.firstChild) reader.removeChild(reader.firstChild);
      reader.setAttribute("data-node", id);
      reader.appendChild(el("h3", { text: id + (visited[id] ? " ✓" : "") }));
      if (n.ending) reader.appendChild(el("p", { "class": "map-ending", text: L.ending + " · " + [endingTitle(n.ending), endingKind(n.ending)].filter(Boolean).join(" · ") }));
      n.narrative.split(/\n\s*\n/).forEach(function (para) {
        if (para.trim()) reader.appendChild(el("p", { "class": "narrative", text: para.trim() }));
      });
      [].slice.call(nodes.querySelectorAll(".selected")).forEach(function (g) { g.classList.remove("selected"); });
      var g = nodes.querySelector('g.map-node[data-node="' + CSS.escape(id) + '"]');
      if (g) g.classList.add("selected");
    }
    canvas.addEventListener("click", function (e) {
      var g = e.target.closest ? e.target.closest("g.map-node") : null;
      if (g && !dragged) read(g.getAttribute("data-node"));
    });
    canvas.addEventListener("keydown", function (e) {
      var g = e.target.closest ? e.target.closest("g.map-node") : null;
      if (g && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); read(g.getAttribute("data-node")); }
    });
    canvas.addEventListener("wheel", function (e) {
      e.preventDefault();
      var r = canvas.getBoundingClientRect();
      zoom(e.deltaY < 0 ? 1.2 : 1 / 1.2, e.clientX - r.left, e.clientY - r.top);
    }, { passive: false });
    var drag = null, dragged = false;
    canvas.addEventListener("pointerdown", function (e) { drag = { x: e.clientX, y: e.clientY, vx: view.x, vy: view.y }; dragged = false; });
    canvas.addEventListener("pointermove", function (e) {
      if (!drag) return;
      var dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 4) dragged = true;
      if (dragged) { view.x = drag.vx + dx; view.y = drag.vy + dy; apply(); }
    });
    canvas.addEventListener("pointerup", function () { drag = null; });
    canvas.addEventListener("pointerleave", function () { drag = null; });

    app.appendChild(el("section", { id: "map", "data-character": c.name }, [
      el("div", { "class": "map-bar" }, [
        el("b", { text: c.name + " · " + M.visited_count.replace("{count}", String(Object.keys(visited).length)) }),
        el("button", { id: "map-zoom-in", "class": "small", type: "button", "aria-label": M.zoom_in, text: "+", onclick: function () { zoom(1.25); } }),
        el("button", { id: "map-zoom-out", "class": "small", type: "button", "aria-label": M.zoom_out, text: "−", onclick: function () { zoom(1 / 1.25); } }),
        el("button", { id: "map-zoom-reset", "class": "small", type: "button", text: M.zoom_reset, onclick: fit }),
        el("button", { id: "close-map", "class": "small", type: "button", text: M.close_map, onclick: render })
      ]),
      box, reader
    ]));
    // Open on the player's node at a readable size when the whole graph would be too small to read.
    fit();
    if (view.k < 0.6) {
      var at = geo.pos[current], w = box.clientWidth || 800, h = box.clientHeight || 500;
      view.k = 0.8; view.x = w / 2 - (at.x + BOX_W / 2) * view.k; view.y = h / 2 - (at.y + BOX_H / 2) * view.k;
      apply();
    }
    read(current);
  }

  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && document.getElementById("map")) { e.preventDefault(); render(); return; }
    if (e.altKey || e.ctrlKey || e.metaKey || !/^[1-9]$/.test(e.key)) return;
    var buttons = app.querySelectorAll("#choices button, #picker button");
    var b = buttons[Number(e.key) - 1];
    if (b) { e.preventDefault(); b.click(); }
  });

  if (data.characters.length === 1) start(0); else picker();
})();
