#!/usr/bin/env node
// Parses a .yarn file with yarn-bound (bondage.js's Yarn 2 parser) and plays it:
//  - every node body is parsed and its <<jump>> targets collected;
//  - every node is entered directly after Start set the opening state, and each of its options is taken
//    once from there: its lines, options, variables, and where each option arrives;
//  - when FILE.tree.json (the character's tree in the export format) sits next to FILE, --plays seeded
//    random plays from Start with the variables carried along, checked against the runtime rules
//    (play_rules.js) after every option.
// Usage: node yarn_check.js [--plays N] [--seed S] [--traces K] FILE.yarn...  ->  {file: report} as JSON.
"use strict";

const fs = require("fs");
const YarnBound = require("yarn-bound");
const { makeRng, treeFacts, checkStep, Plays, parseArgs } = require("./play_rules");

const MAX_RESULTS = 20000;
const MAX_STEPS = 500;

function collectJumps(nodes, out) {
  for (const node of nodes || []) {
    if (!node || typeof node !== "object") continue;
    if (node.type === "JumpCommandNode") out.push(String(node.destination));
    for (const key of ["content", "statement", "elseStatement"]) {
      const child = node[key];
      if (Array.isArray(child)) collectJumps(child, out);
      else if (child && typeof child === "object") collectJumps([child], out);
    }
  }
  return out;
}

// Yarn writes ':' as a look-alike in lines (it would read "Name:" as a speaker); compare as ':'.
const plain = (text) => String(text).replace(/[：∶]/g, ":");

// The results from the current one until the next options or the end of the dialogue: the lines (bridge
// lines carry the hashtag "bridge"), hashtags, the node they belong to, the options and the variables.
function collect(runner, variables) {
  const out = { node: null, bridge: [], text: [], hashtags: [], options: null, ended: false };
  for (let guard = 0; guard < MAX_RESULTS; guard++) {
    const result = runner.currentResult;
    const title = result && result.metadata ? result.metadata.title : null;
    if (result instanceof YarnBound.TextResult) {
      const tags = result.hashtags || [];
      if (tags.includes("bridge")) out.bridge.push(result.text.trim());
      else {
        out.text.push(result.text.trim());
        out.node = title;
      }
      out.hashtags.push(...tags);
    } else if (result instanceof YarnBound.OptionsResult) {
      out.node = title;
      out.options = result.options.map((o) => o.text.trim());
      break;
    }
    if (result && result.isDialogueEnd) {
      out.ended = true;
      break;
    }
    runner.advance();
  }
  out.bridge = out.bridge.join(" ");
  out.vars = Object.fromEntries(variables);
  return out;
}

function itemsHeld(vars) {
  return Object.keys(vars).filter((k) => k.startsWith("i_") && vars[k] === true).sort();
}

function state(vars) {
  return { fear: vars.fear, truth: vars.truth, familiarity: vars.familiarity, time: vars.time, items: itemsHeld(vars) };
}

// A runner that ran Start (the opening state) and was then sent to `title`.
function runnerAt(dialogue, title) {
  const variables = new Map();
  const runner = new YarnBound({ dialogue, startAt: "Start", variableStorage: variables });
  runner.jump(title);
  return [runner, variables];
}

function visitNodes(dialogue, titles, report) {
  for (const title of titles) {
    if (title === "Start") continue;
    let [runner, variables] = runnerAt(dialogue, title);
    const at = collect(runner, variables);
    at.arrivals = (at.options || []).map((_, index) => {
      [runner, variables] = runnerAt(dialogue, title);
      collect(runner, variables);
      runner.advance(index);
      const next = collect(runner, variables);
      return { node: next.node, bridge: next.bridge, vars: next.vars, ended: next.ended };
    });
    report.nodes[title] = at;
  }
}

function randomPlays(dialogue, tree, options, report) {
  const facts = treeFacts(tree);
  const rng = makeRng(options.seed);
  const plays = new Plays(options.traces);
  const variables = new Map();
  const runner = new YarnBound({ dialogue, startAt: "Start", variableStorage: variables });
  for (let p = 0; p < options.plays; p++) {
    if (p > 0) {
      variables.clear(); // a fresh play: Start sets the opening state again
      runner.jump("Start");
    }
    let at = collect(runner, variables);
    const steps = [{ node: at.node, vars: at.vars, bridge: "", state: state(at.vars) }];
    const choices = [];
    for (let k = 0; at.options && k < MAX_STEPS; k++) {
      const index = Math.floor(rng() * at.options.length);
      const from = at.node;
      const before = state(at.vars);
      choices.push(index);
      runner.advance(index);
      at = collect(runner, variables);
      const after = state(at.vars);
      steps.push({ node: at.node, vars: at.vars, bridge: at.bridge, state: after });
      plays.violation(p, k + 1, from, index, checkStep(facts, from, index, before, after, at.node, at.bridge, plain));
    }
    const type = facts.endingType(at.node);
    if (!at.ended) plays.violation(p, steps.length, at.node, -1, [{ kind: "play did not end", detail: "" }]);
    else if (!type) plays.violation(p, steps.length, at.node, -1, [{ kind: "stopped at a node that is no ending", detail: "" }]);
    else if (at.vars.ending !== type) {
      plays.violation(p, steps.length, at.node, -1, [{ kind: "ending variable", detail: `${at.vars.ending} at a ${type} ending` }]);
    }
    plays.add({ choices }, steps, type);
  }
  report.plays = plays.report();
}

function check(file, options) {
  const dialogue = fs.readFileSync(file, "utf-8");
  const report = { errors: [], titles: [], jumps: {}, nodes: {}, plays: null };
  let runner;
  try {
    runner = new YarnBound({ dialogue, startAt: "Start" });
  } catch (err) {
    report.errors.push(`load: ${err.message}`);
    return report;
  }
  report.titles = Object.keys(runner.runner.yarnNodes);
  for (const title of report.titles) {
    try {
      const { parserNodes } = runner.runner.getParserNodes(title);
      report.jumps[title] = collectJumps(parserNodes, []);
    } catch (err) {
      report.errors.push(`${title}: ${err.message}`);
    }
  }
  if (report.errors.length) return report;
  try {
    visitNodes(dialogue, report.titles, report);
    if (fs.existsSync(`${file}.tree.json`)) {
      randomPlays(dialogue, JSON.parse(fs.readFileSync(`${file}.tree.json`, "utf-8")), options, report);
    }
  } catch (err) {
    report.errors.push(`play: ${err && err.stack ? err.stack : err}`);
  }
  return report;
}

const [options, files] = parseArgs(process.argv.slice(2), { plays: 300, seed: 1, traces: 30 });
const reports = {};
for (const file of files) reports[file] = check(file, options);
process.stdout.write(JSON.stringify(reports));
