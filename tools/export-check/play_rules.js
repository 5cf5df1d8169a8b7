// The runtime rules of docs/export-format.md as checks on what an engine did, shared by the checkers that
// play exports at random (ink_check.js, yarn_check.js, html_check.js). An engine step is what the checker
// read after one choice: the node it arrived at, the bridge text it showed, and the player's state as
// {fear, truth, familiarity, time (minutes), items: [names or identifiers]}.
"use strict";

const FEAR_MAX = 100;
const NIGHT_MINUTES = 240;

// mulberry32: a small seeded generator, so a run is repeatable from its seed.
function makeRng(seed) {
  let a = seed >>> 0;
  return function rng() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function flat(text) {
  return String(text || "").split(/\s+/).filter(Boolean).join(" ");
}

// Facts of a story tree (export format) the checks need: incoming counts, ending types, runtime endings.
function treeFacts(tree) {
  const incoming = {};
  for (const node of Object.values(tree.nodes)) {
    for (const choice of node.choices || []) incoming[choice.next] = (incoming[choice.next] || 0) + 1;
  }
  const endingType = (id) => (tree.nodes[id] && tree.nodes[id].ending ? tree.nodes[id].ending.type : null);
  return { tree, incoming, endingType, runtime: tree.runtime_endings || {} };
}

// Checks one step; returns a list of violations ({kind, detail}). `normalize` maps shown text before
// comparing bridges (Yarn writes ':' as a look-alike, for instance).
function checkStep(facts, from, index, before, after, arrived, bridgeShown, normalize) {
  const out = [];
  const norm = normalize || ((t) => t);
  const node = facts.tree.nodes[from];
  const choice = node && node.choices ? node.choices[index] : null;
  if (!choice) return [{ kind: "unknown choice", detail: `${from} has no choice ${index + 1}` }];
  const type = facts.endingType(arrived);
  if (after.time < before.time) out.push({ kind: "clock ran backwards", detail: `${before.time} -> ${after.time}` });
  const held = new Set(after.items || []);
  for (const item of before.items || []) {
    if (!held.has(item)) out.push({ kind: "item vanished", detail: String(item) });
  }
  if (after.fear >= FEAR_MAX && type !== "fear_collapse") {
    out.push({ kind: "fear 100 without a fear_collapse ending", detail: `fear ${after.fear} at ${arrived}` });
  }
  if (after.time >= NIGHT_MINUTES && type !== "dawn" && type !== "fear_collapse") {
    out.push({ kind: "04:00 without a dawn ending", detail: `time ${after.time} at ${arrived}` });
  }
  for (const [name, value] of [["fear", after.fear], ["truth", after.truth], ["familiarity", after.familiarity]]) {
    if (!(value >= 0 && value <= FEAR_MAX)) out.push({ kind: "meter out of range", detail: `${name} ${value}` });
  }
  if (after.time > NIGHT_MINUTES) out.push({ kind: "clock past 04:00", detail: String(after.time) });
  const redirected = arrived !== choice.next;
  if (redirected && arrived !== facts.runtime.fear_collapse && arrived !== facts.runtime.dawn) {
    out.push({ kind: "arrived somewhere else", detail: `${from} choice ${index + 1} -> ${arrived}, not ${choice.next}` });
  }
  const shown = norm(flat(bridgeShown));
  if (!redirected && (facts.incoming[choice.next] || 0) >= 2) {
    if (!flat(choice.bridge)) {
      out.push({ kind: "shared node without a bridge in the story", detail: `${from} choice ${index + 1}` });
    } else if (shown !== norm(flat(choice.bridge))) {
      out.push({ kind: "bridge not shown", detail: `${from} choice ${index + 1} -> ${arrived}: ${JSON.stringify(shown)}` });
    }
  } else if (!redirected && flat(choice.bridge) && shown !== norm(flat(choice.bridge))) {
    out.push({ kind: "bridge not shown", detail: `${from} choice ${index + 1} -> ${arrived}` });
  }
  if (redirected && shown) out.push({ kind: "bridge shown on a redirect", detail: `${from} choice ${index + 1}` });
  return out;
}

// Collects plays: the ending mix, mean fear by step, violations (the first 50 in full) and, for the first
// `traces` plays, every step; for every play the choices taken and the final step, so the Python side
// can replay them through its reference.
class Plays {
  constructor(traces) {
    this.traces = traces;
    this.count = 0;
    this.steps = 0;
    this.endings = {};
    this.fearSum = [];
    this.fearN = [];
    this.violations = [];
    this.violationCount = 0;
    this.violationKinds = {};
    this.plays = [];
  }

  add(play, steps, endingType) {
    // steps[k] = {node, state, bridge}; steps[0] is the start.
    steps.forEach((step, k) => {
      this.fearSum[k] = (this.fearSum[k] || 0) + step.state.fear;
      this.fearN[k] = (this.fearN[k] || 0) + 1;
    });
    this.steps += steps.length - 1;
    const key = endingType || "(none)";
    this.endings[key] = (this.endings[key] || 0) + 1;
    const record = { choices: play.choices, final: steps[steps.length - 1] };
    if (this.count < this.traces) record.steps = steps;
    this.plays.push(record);
    this.count++;
  }

  violation(play, step, from, index, found) {
    for (const v of found) {
      this.violationCount++;
      this.violationKinds[v.kind] = (this.violationKinds[v.kind] || 0) + 1;
      if (this.violations.length < 50) this.violations.push({ play, step, from, choice: index, ...v });
    }
  }

  report() {
    const mix = {};
    for (const [kind, n] of Object.entries(this.endings)) mix[kind] = Math.round((n / this.count) * 10000) / 10000;
    return {
      count: this.count,
      steps: this.steps,
      endingCounts: this.endings,
      endingMix: mix,
      meanFearByStep: this.fearSum.map((s, k) => Math.round((s / this.fearN[k]) * 100) / 100),
      playsByStep: this.fearN.slice(),
      violationCount: this.violationCount,
      violationKinds: this.violationKinds,
      violations: this.violations,
      plays: this.plays,
    };
  }
}

// "--plays 1000 --seed 7 --traces 50 a b" -> ({plays: 1000, seed: 7, traces: 50}, ["a", "b"])
function parseArgs(argv, defaults) {
  const options = { ...defaults };
  const files = [];
  for (let i = 0; i < argv.length; i++) {
    const m = /^--(\w+)$/.exec(argv[i]);
    if (m && i + 1 < argv.length) options[m[1]] = Number(argv[++i]);
    else files.push(argv[i]);
  }
  return [options, files];
}

module.exports = { FEAR_MAX, NIGHT_MINUTES, makeRng, flat, treeFacts, checkStep, Plays, parseArgs };
