#!/usr/bin/env node
// Parses a .twee file with extwee (a Twee 3 compiler) and reports what a Twine 2 import would see: title,
// IFID, story format, start passage, every passage with its tags, its [[link]] targets and the targets of
// its <<goto>>s. Then, with FILE.tree.json (the character's tree) beside FILE, it plays --plays seeded
// random plays with a small SugarCube stand-in (no SugarCube package is available offline): it knows
// only the markup this project's exporter writes (verbatim """text""", @@.class;…@@, ''bold'', <<set>>,
// <<run>>, <<if>>/<<elseif>>/<<else>>, <<link "text">>…<</link>>, <<goto "passage">>, <<print>>, <<->>,
// <<nobr>>) and evaluates TwineScript the way SugarCube desugars it ($x, to, is, gte, not). Every <<link>>
// and <<goto>> argument must be a plain string literal (data, never code), and a click must reach exactly
// one <<goto>>. Each step is checked against the runtime rules (play_rules.js).
// Usage: node twee_check.mjs [--plays N] [--seed S] [--traces K] FILE.twee...  ->  {file: report} as JSON.
import fs from "node:fs";
import { createRequire } from "node:module";
import { parseTwee } from "extwee";

const require = createRequire(import.meta.url);
const { makeRng, treeFacts, checkStep, Plays, parseArgs } = require("./play_rules.js");
const MAX_STEPS = 500;

// Twine 2's own link rules: [[text|target]], [[text->target]], [[target<-text]], [[target]].
function linkTargets(text) {
  const targets = [];
  for (const match of text.matchAll(/\[\[(.*?)\]\]/g)) {
    let inner = match[1].replace(/\]\[.*$/, "");
    let target = inner;
    if (inner.includes("->")) target = inner.slice(inner.lastIndexOf("->") + 2);
    else if (inner.includes("<-")) target = inner.slice(0, inner.indexOf("<-"));
    else if (inner.includes("|")) target = inner.slice(inner.indexOf("|") + 1);
    targets.push(target);
  }
  return targets;
}

// --- the stand-in: tokens ------------------------------------------------------------------------
// A macro's end is the first ">>" outside a quoted string.
function macroEnd(text, from) {
  let quote = null;
  for (let i = from; i < text.length; i++) {
    const ch = text[i];
    if (quote) {
      if (ch === "\\") i++;
      else if (ch === quote) quote = null;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === ">" && text[i + 1] === ">") return i;
  }
  return -1;
}

function tokenize(text) {
  const tokens = [];
  let i = 0;
  let plain = "";
  const flush = () => { if (plain) tokens.push({ type: "text", text: plain }); plain = ""; };
  while (i < text.length) {
    if (text.startsWith('"""', i)) {
      const end = text.indexOf('"""', i + 3);
      if (end < 0) throw new Error(`unclosed verbatim text at ${i}`);
      flush();
      tokens.push({ type: "text", text: text.slice(i + 3, end) });
      i = end + 3;
    } else if (text.startsWith("<<", i)) {
      const end = macroEnd(text, i + 2);
      if (end < 0) throw new Error(`unclosed macro at ${i}: ${text.slice(i, i + 40)}`);
      flush();
      const body = text.slice(i + 2, end);
      const m = /^(\/?[A-Za-z=-]+)\s*([\s\S]*)$/.exec(body);
      tokens.push({ type: "macro", name: m[1], args: m[2] });
      i = end + 2;
    } else if (text.startsWith("@@.", i)) {
      // @@.class;"""text"""@@: the only custom style the exporter writes; the text may be several verbatim
      // runs in a row ("""a ["""""""[ b""" shows "a [[ b"), which SugarCube wikifies one after another.
      const m = /^@@\.([\w-]+);/.exec(text.slice(i));
      if (!m || !text.startsWith('"""', i + m[0].length)) throw new Error(`unexpected custom style at ${i}: ${text.slice(i, i + 40)}`);
      let at = i + m[0].length;
      let shown = "";
      while (text.startsWith('"""', at)) {
        const close = text.indexOf('"""', at + 3);
        if (close < 0) throw new Error(`unclosed verbatim text in a custom style at ${at}`);
        shown += text.slice(at + 3, close);
        at = close + 3;
      }
      if (!text.startsWith("@@", at)) throw new Error(`unclosed custom style at ${i}: ${text.slice(i, i + 40)}`);
      flush();
      tokens.push({ type: "styled", cls: m[1], text: shown });
      i = at + 2;
    } else if (text.startsWith("''", i)) {
      i += 2; // bold: shown as its text
    } else if (text[i] === "\\" && text[i + 1] === "\n") {
      i += 2; // line continuation
    } else {
      plain += text[i++];
    }
  }
  flush();
  return tokens;
}

// Containers: if/elseif/else, link, nobr. Returns a list of nodes.
function build(tokens) {
  let pos = 0;
  function until(closers) {
    const out = [];
    while (pos < tokens.length) {
      const t = tokens[pos];
      if (t.type === "macro" && closers.includes(t.name)) return out;
      pos++;
      if (t.type === "macro" && t.name === "if") {
        const branches = [{ cond: t.args, body: until(["elseif", "else", "/if"]) }];
        while (tokens[pos] && tokens[pos].name !== "/if") {
          const b = tokens[pos++];
          branches.push({ cond: b.name === "else" ? null : b.args, body: until(["elseif", "else", "/if"]) });
        }
        pos++;
        out.push({ type: "if", branches });
      } else if (t.type === "macro" && (t.name === "link" || t.name === "nobr")) {
        const body = until([`/${t.name}`]);
        pos++;
        out.push({ type: t.name, args: t.args, body });
      } else out.push(t);
    }
    return out;
  }
  return until([]);
}

// --- the stand-in: TwineScript -------------------------------------------------------------------
const OPERATORS = { to: "=", is: "===", isnot: "!==", eq: "==", neq: "!=", gte: ">=", gt: ">", lte: "<=", lt: "<", not: "!", and: "&&", or: "||" };

function desugar(expr) {
  return expr.replace(/"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|\$(\w+)|\b(to|is|eq|neq|gte|gt|lte|lt|not|and|or)\b/g,
    (m, variable, word) => (variable ? `V.${variable}` : word ? ` ${OPERATORS[word]} ` : m));
}

const MathPlus = Object.assign(Object.create(Math), { clamp: (v, lo, hi) => Math.max(lo, Math.min(hi, v)) });

function evaluate(expr, V) {
  return new Function("V", "Math", `"use strict"; return (${desugar(expr)});`)(V, MathPlus);
}

// A macro argument that must be data: one JSON string literal, nothing else.
function literal(args, where, problems) {
  try {
    const value = JSON.parse(args.trim());
    if (typeof value === "string") return value;
  } catch (err) { /* reported below */ }
  problems.push(`${where}: argument is not a plain string literal: ${args.slice(0, 60)}`);
  return evaluate(args, {});
}

// Renders nodes: text goes to out.text (bridge text to out.bridge), links to out.links; macros run.
function render(nodes, V, out, problems, where) {
  for (const node of nodes) {
    if (node.type === "text") out.text.push(node.text);
    else if (node.type === "styled") {
      if (node.cls === "bridge") out.bridge.push(node.text);
      else out.text.push(node.text);
    } else if (node.type === "if") {
      const branch = node.branches.find((b) => b.cond === null || evaluate(b.cond, V));
      if (branch) render(branch.body, V, out, problems, where);
    } else if (node.type === "link") {
      const text = literal(node.args, `${where} <<link>>`, problems);
      const shown = { text: [], bridge: [], links: [] };
      render(build(tokenize(text)), V, shown, problems, `${where} link text`);
      out.links.push({ text: shown.text.join(""), body: node.body });
    } else if (node.type === "nobr") render(node.body, V, out, problems, where);
    else if (node.type === "macro") {
      if (node.name === "set" || node.name === "run") evaluate(node.args, V);
      else if (node.name === "goto") out.gotos.push(literal(node.args, `${where} <<goto>>`, problems));
      else if (node.name === "print" || node.name === "-" || node.name === "=") {
        const value = String(evaluate(node.args, V));
        if (node.name === "-") out.text.push(value);
        else render(build(tokenize(value)), V, out, problems, `${where} print`);
      } else problems.push(`${where}: macro <<${node.name}>> is not one the exporter writes`);
    }
  }
}

function fresh() { return { text: [], bridge: [], links: [], gotos: [] }; }

class Game {
  constructor(story, problems) {
    this.passages = Object.fromEntries(story.passages.map((p) => [p.name, build(tokenize(p.text))]));
    this.start = story.start;
    this.problems = problems;
  }
  show(name) {
    const out = fresh();
    if (!this.passages[name]) { this.problems.push(`goto to missing passage ${name}`); return null; }
    render(this.passages[name], this.V, out, this.problems, name);
    const caption = fresh();
    render(this.passages.StoryCaption || [], this.V, caption, this.problems, "StoryCaption");
    this.here = { name, text: out.text.join("").split("\n").map((l) => l.trim()).filter(Boolean),
      bridge: out.bridge.join(" "), links: out.links, caption: caption.text.join("").replace(/\s+/g, " ").trim() };
    return this.here;
  }
  restart() {
    this.V = {};
    render(this.passages.StoryInit || [], this.V, fresh(), this.problems, "StoryInit");
    return this.show(this.start);
  }
  click(index) {
    const out = fresh();
    render(this.here.links[index].body, this.V, out, this.problems, `${this.here.name} link ${index + 1}`);
    if (out.gotos.length !== 1) this.problems.push(`${this.here.name} link ${index + 1} reached ${out.gotos.length} <<goto>>s`);
    return this.show(out.gotos[0]);
  }
}

function snapshot(game) {
  const V = game.V;
  return { node: game.here.name, vars: JSON.parse(JSON.stringify(V)), bridge: game.here.bridge, caption: game.here.caption,
    state: { fear: V.fear, truth: V.truth, familiarity: V.familiarity, time: V.time, items: V.inventory.slice() } };
}

function play(story, tree, options, report) {
  const game = new Game(story, report.problems);
  // Every passage shown directly, from the opening state: its text, bridge text and links.
  for (const name of Object.keys(game.passages)) {
    if (["StoryTitle", "StoryData", "StoryInit", "StoryCaption"].includes(name)) continue;
    game.restart();
    const here = game.show(name);
    report.shown[name] = { text: here.text, links: here.links.map((l) => l.text), caption: here.caption, vars: game.V };
  }
  const facts = treeFacts(tree);
  const rng = makeRng(options.seed);
  const plays = new Plays(options.traces);
  for (let p = 0; p < options.plays; p++) {
    let here = game.restart();
    const steps = [snapshot(game)];
    const choices = [];
    for (let k = 0; here && here.links.length && !tree.nodes[here.name].ending && k < MAX_STEPS; k++) {
      const index = Math.floor(rng() * here.links.length);
      const from = here.name;
      const before = steps[steps.length - 1].state;
      choices.push(index);
      here = game.click(index);
      if (!here) break;
      const step = snapshot(game);
      steps.push(step);
      // The exporter writes a run of three quotes as “"" (it would end verbatim text): compare as written.
      const bridge = here.bridge.split('“""').join('"""');
      plays.violation(p, k + 1, from, index, checkStep(facts, from, index, before, step.state, here.name, bridge));
    }
    const type = here ? facts.endingType(here.name) : null;
    if (!type) plays.violation(p, steps.length, here && here.name, -1, [{ kind: "play did not end", detail: "" }]);
    else if (game.V.ending !== type) {
      plays.violation(p, steps.length, here.name, -1, [{ kind: "ending variable", detail: `${game.V.ending} at a ${type} ending` }]);
    }
    plays.add({ choices }, steps, type);
  }
  report.plays = plays.report();
}

function check(file, options) {
  const report = { errors: [], problems: [], shown: {}, plays: null };
  try {
    const story = parseTwee(fs.readFileSync(file, "utf-8"));
    report.name = story.name;
    report.ifid = story.IFID;
    report.format = story.format;
    report.formatVersion = story.formatVersion;
    report.start = story.start;
    report.passages = story.passages.map((p) => ({
      name: p.name,
      tags: p.tags,
      metadata: p.metadata,
      text: p.text,
      links: linkTargets(p.text),
      gotos: [...p.text.matchAll(/<<goto\s+("(?:\\.|[^"\\])*")>>/g)].map((m) => JSON.parse(m[1])),
    }));
    if (fs.existsSync(`${file}.tree.json`)) {
      play(story, JSON.parse(fs.readFileSync(`${file}.tree.json`, "utf-8")), options, report);
    }
  } catch (err) {
    report.errors.push(String(err && err.stack ? err.stack : err));
  }
  return report;
}

const [options, files] = parseArgs(process.argv.slice(2), { plays: 300, seed: 1, traces: 30 });
const reports = {};
for (const file of files) reports[file] = check(file, options);
process.stdout.write(JSON.stringify(reports));
