#!/usr/bin/env node
// Compiles an .ink file with inkjs's real compiler, then walks the compiled story: every reachable knot is
// entered once and every one of its choices is taken (state saved to JSON and reloaded to branch), which
// covers every edge of a DAG without enumerating its exponentially many paths.
// Usage: node ink_check.js FILE.ink...  ->  prints {file: report} as JSON on stdout; exit 0 unless it crashed.
"use strict";

const fs = require("fs");
const { Compiler, CompilerOptions } = require("inkjs/compiler/Compiler");

const MAX_STEPS = 20000; // a runaway story (a cycle) stops here instead of hanging the test

function listValue(value) {
  // An InkList is a Map keyed by serialized {originName, itemName}; report the item names, sorted.
  if (value && typeof value === "object" && typeof value.orderedItems !== "undefined") {
    return value.orderedItems.map((entry) => entry.Key.itemName).sort();
  }
  return value;
}

function variables(story) {
  const out = {};
  for (const name of story.variablesState._globalVariables.keys()) {
    out[name] = listValue(story.variablesState.$(name));
  }
  return out;
}

function check(file) {
  const source = fs.readFileSync(file, "utf-8");
  const report = { errors: [], warnings: [], nodes: {}, edges: [], endings: {}, problems: [] };
  const options = new CompilerOptions(null, [], true, null, null);
  const compiler = new Compiler(source, options);
  let story = null;
  try {
    story = compiler.Compile();
  } catch (err) {
    if (!compiler.errors.length) report.errors.push(String(err && err.message ? err.message : err));
  }
  report.errors.push(...compiler.errors);
  report.warnings.push(...compiler.warnings);
  if (!story || report.errors.length) return report;
  // Round-trip through JSON as a game would load it (the .ink.json that inklecate writes).
  const { Story } = require("inkjs");
  const json = story.ToJson();
  story = new Story(json);

  // Read the knot entered: the text up to the choices, its tags, its variables. Returns the node id.
  function readKnot(from) {
    const text = [];
    const tags = [];
    while (story.canContinue) {
      text.push(story.Continue().trim());
      tags.push(...(story.currentTags || []));
    }
    const nodeTag = tags.find((t) => t.startsWith("node:"));
    const id = nodeTag ? nodeTag.slice(5).trim() : null;
    if (!id) {
      report.problems.push(`no '# node:' tag after ${from}`);
      return null;
    }
    const choices = story.currentChoices.map((c) => c.text);
    const info = { text: text.filter((t) => t.length), tags, vars: variables(story), choices };
    if (report.nodes[id] && JSON.stringify(report.nodes[id]) !== JSON.stringify(info)) {
      report.problems.push(`${id} looked different when reached again from ${from}`);
    }
    report.nodes[id] = info;
    if (!choices.length) {
      const endingTag = tags.find((t) => t.startsWith("ending:"));
      report.endings[id] = endingTag ? endingTag.slice(7).trim() : null;
    }
    return id;
  }

  const start = readKnot("the start");
  const stack = start ? [[start, story.state.ToJson()]] : [];
  const expanded = new Set();
  let steps = 0;
  while (stack.length && steps < MAX_STEPS) {
    const [id, saved] = stack.pop();
    if (expanded.has(id)) continue;
    expanded.add(id);
    const count = report.nodes[id].choices.length;
    for (let index = 0; index < count; index++) {
      steps++;
      story.state.LoadJson(saved);
      story.ChooseChoiceIndex(index);
      const next = readKnot(`${id} choice ${index + 1}`);
      report.edges.push([id, index, next]);
      if (next && !expanded.has(next)) stack.push([next, story.state.ToJson()]);
    }
  }
  if (steps >= MAX_STEPS) report.problems.push(`walk stopped after ${MAX_STEPS} steps`);
  return report;
}

const reports = {};
for (const file of process.argv.slice(2)) reports[file] = check(file);
process.stdout.write(JSON.stringify(reports));
