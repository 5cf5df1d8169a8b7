#!/usr/bin/env node
// Parses a .twee file with extwee (a Twee 3 compiler) and reports what a Twine 2 import would see:
// title, IFID, story format, start passage, and every passage with its tags and [[link]] targets.
// Usage: node twee_check.mjs FILE.twee...  ->  prints {file: report} as JSON on stdout.
import fs from "node:fs";
import { parseTwee } from "extwee";

// Twine 2's own link rules: [[text|target]], [[text->target]], [[target<-text]], [[target]];
// a setter component ("][...") is dropped first.
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

function check(file) {
  const report = { errors: [] };
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
    }));
  } catch (err) {
    report.errors.push(String(err && err.message ? err.message : err));
  }
  return report;
}

const reports = {};
for (const file of process.argv.slice(2)) reports[file] = check(file);
process.stdout.write(JSON.stringify(reports));
