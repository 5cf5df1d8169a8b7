#!/usr/bin/env node
// Compiles an .ink file with inkjs's real compiler and plays the compiled story with inkjs's runtime:
//  - every knot is entered directly (ChoosePathString) from the opening state, and each of its choices is
//    taken once from there: its text, tags, choices, variables, and where each choice arrives;
//  - when FILE.tree.json (the character's tree in the export format) sits next to FILE, --plays seeded
//    random plays from the start, reading the ink variables after every choice and checking the runtime
//    rules (play_rules.js): the clock never runs backwards, items never vanish, fear 100 and 04:00 lead
//    to their endings, and a choice into a shared node shows its bridge.
// Usage: node ink_check.js [--plays N] [--seed S] [--traces K] FILE.ink...  ->  {file: report} as JSON.
"use strict";

const fs = require("fs");
const { Compiler, CompilerOptions } = require("inkjs/compiler/Compiler");
const { Story } = require("inkjs");
const { makeRng, treeFacts, checkStep, Plays, parseArgs } = require("./play_rules");

const MAX_STEPS = 500; // one play longer than this is a cycle: stop instead of hanging

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

// Everything the story says until it waits for a choice or ends: narrative lines, bridge lines (tag
// "bridge"), tags, the node id (tag "node: …"), the choices on offer and the variables.
function readOutput(story) {
  const lines = [];
  while (story.canContinue) {
    const text = story.Continue().trim();
    lines.push({ text, tags: (story.currentTags || []).slice() });
  }
  const tags = lines.flatMap((l) => l.tags);
  const nodeTag = tags.find((t) => t.startsWith("node:"));
  return {
    node: nodeTag ? nodeTag.slice(5).trim() : null,
    bridge: lines.filter((l) => l.tags.includes("bridge")).map((l) => l.text).join(" "),
    text: lines.filter((l) => !l.tags.includes("bridge") && l.text).map((l) => l.text),
    tags,
    choices: story.currentChoices.map((c) => c.text),
    vars: variables(story),
  };
}

function state(vars) {
  return { fear: vars.fear, truth: vars.truth, familiarity: vars.familiarity, time: vars.time, items: vars.items || [] };
}

function compile(file, report) {
  const source = fs.readFileSync(file, "utf-8");
  const compiler = new Compiler(source, new CompilerOptions(null, [], true, null, null));
  let story = null;
  try {
    story = compiler.Compile();
  } catch (err) {
    if (!compiler.errors.length) report.errors.push(String(err && err.message ? err.message : err));
  }
  report.errors.push(...compiler.errors);
  report.warnings.push(...compiler.warnings);
  if (!story || report.errors.length) return null;
  // Round-trip through JSON as a game would load it (the .ink.json that inklecate writes).
  return new Story(story.ToJson());
}

function visitKnots(story, report) {
  const names = [...story.mainContentContainer.namedContent.keys()].filter((n) => !n.startsWith("global "));
  for (const name of names) {
    story.ResetState();
    story.ChoosePathString(name);
    const at = readOutput(story);
    if (!at.node) {
      report.problems.push(`knot ${name} has no '# node:' tag`);
      continue;
    }
    const saved = story.state.ToJson();
    at.knot = name;
    at.arrivals = at.choices.map((_, index) => {
      story.state.LoadJson(saved);
      story.ChooseChoiceIndex(index);
      const next = readOutput(story);
      return { node: next.node, bridge: next.bridge, vars: next.vars };
    });
    report.knots[at.node] = at;
  }
}

function randomPlays(story, tree, options, report) {
  const facts = treeFacts(tree);
  const rng = makeRng(options.seed);
  const plays = new Plays(options.traces);
  for (let p = 0; p < options.plays; p++) {
    story.ResetState();
    let at = readOutput(story);
    const steps = [{ node: at.node, vars: at.vars, bridge: "", state: state(at.vars) }];
    const choices = [];
    for (let k = 0; at.choices.length && k < MAX_STEPS; k++) {
      const index = Math.floor(rng() * at.choices.length);
      const from = at.node;
      const before = state(at.vars);
      choices.push(index);
      story.ChooseChoiceIndex(index);
      at = readOutput(story);
      const after = state(at.vars);
      steps.push({ node: at.node, vars: at.vars, bridge: at.bridge, state: after });
      plays.violation(p, k + 1, from, index, checkStep(facts, from, index, before, after, at.node, at.bridge));
    }
    const type = facts.endingType(at.node);
    if (at.choices.length) plays.violation(p, steps.length, at.node, -1, [{ kind: "play did not end", detail: "" }]);
    else if (!type) plays.violation(p, steps.length, at.node, -1, [{ kind: "stopped at a node that is no ending", detail: "" }]);
    else if (at.vars.ending !== type) {
      plays.violation(p, steps.length, at.node, -1, [{ kind: "ending variable", detail: `${at.vars.ending} at a ${type} ending` }]);
    }
    plays.add({ choices }, steps, type);
  }
  report.plays = plays.report();
}

const [options, files] = parseArgs(process.argv.slice(2), { plays: 1000, seed: 1, traces: 30 });
const reports = {};
for (const file of files) {
  const report = { errors: [], warnings: [], problems: [], knots: {}, plays: null };
  reports[file] = report;
  try {
    const story = compile(file, report);
    if (!story) continue;
    visitKnots(story, report);
    if (fs.existsSync(`${file}.tree.json`)) {
      randomPlays(story, JSON.parse(fs.readFileSync(`${file}.tree.json`, "utf-8")), options, report);
    }
  } catch (err) {
    report.problems.push(String(err && err.stack ? err.stack : err));
  }
}
process.stdout.write(JSON.stringify(reports));
