#!/usr/bin/env node
// Parses a .yarn file with yarn-bound (bondage.js's Yarn 2 parser): every node body is parsed and its
// <<jump>> targets collected, then the dialogue is played from Start twice, always taking the first and
// always the last option, recording per node the lines, options and variables until the dialogue ends.
// Usage: node yarn_check.js FILE.yarn...  ->  prints {file: report} as JSON on stdout.
"use strict";

const fs = require("fs");
const YarnBound = require("yarn-bound");

const MAX_STEPS = 5000;

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

function play(dialogue, pick) {
  const variables = new Map();
  const runner = new YarnBound({ dialogue, startAt: "Start", variableStorage: variables });
  const visits = [];
  let current = null;
  for (let step = 0; step < MAX_STEPS; step++) {
    const result = runner.currentResult;
    const title = result && result.metadata ? result.metadata.title : null;
    if (title && (!current || current.title !== title)) {
      current = { title, text: [], hashtags: [], options: null, vars: null };
      visits.push(current);
    }
    if (result instanceof YarnBound.TextResult) {
      current.text.push(result.text);
      current.hashtags.push(...(result.hashtags || []));
    } else if (result instanceof YarnBound.OptionsResult) {
      current.options = result.options.map((o) => o.text);
      current.vars = Object.fromEntries(variables);
      runner.advance(pick(result.options.length));
      continue;
    }
    if (result && result.isDialogueEnd) {
      current.vars = Object.fromEntries(variables);
      return { visits, ended: true };
    }
    runner.advance();
  }
  return { visits, ended: false };
}

function check(file) {
  const dialogue = fs.readFileSync(file, "utf-8");
  const report = { errors: [], titles: [], jumps: {}, walks: {} };
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
  for (const [name, pick] of [["first", () => 0], ["last", (n) => n - 1]]) {
    try {
      report.walks[name] = play(dialogue, pick);
    } catch (err) {
      report.errors.push(`walk ${name}: ${err.message}`);
    }
  }
  return report;
}

const reports = {};
for (const file of process.argv.slice(2)) reports[file] = check(file);
process.stdout.write(JSON.stringify(reports));
