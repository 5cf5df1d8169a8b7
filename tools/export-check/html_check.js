#!/usr/bin/env node
// Plays an exported HTML story in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core):
//  - once from file:// at a phone width, always taking the first choice, and once from a throwaway HTTP
//    server on 127.0.0.1 at a desktop width with the last character, always taking the last choice:
//    real clicks, every network request, console error, link and sideways overflow recorded, screenshots;
//  - when FILE.story.json (the story in the export format) sits next to FILE, --plays seeded random plays
//    per character, clicking the choice buttons inside the page and reading after every click what a
//    player sees: the state bar (fear, truth, familiarity, time, scene, items), the bridge, the node and
//    the ending; each step is checked against the runtime rules (play_rules.js).
// Usage: node html_check.js [--plays N] [--seed S] [--traces K] FILE.html SCREENSHOT_PREFIX [CHARACTER_INDEX]
//   ->  one JSON report on stdout; screenshots go to SCREENSHOT_PREFIX_phone_picker.png, _phone_ending.png,
//   _desktop_middle.png and _phone_bridge.png (the first step that showed a bridge).
"use strict";

const fs = require("fs");
const http = require("http");
const os = require("os");
const path = require("path");
const { pathToFileURL } = require("url");
const { chromium } = require("playwright-core");
const { makeRng, flat, treeFacts, checkStep, Plays, parseArgs } = require("./play_rules");

const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--disable-dev-shm-usage",
];
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1100, height: 800 };
const MAX_CLICKS = 500;

function serve(file) {
  // Serves only the one page, on loopback, on a port the OS picks.
  const body = fs.readFileSync(file);
  const server = http.createServer((req, res) => {
    if (req.url === "/story.html") {
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
      res.end(body);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

// What a player sees right now, read from the page (runs inside the page).
function seen() {
  const text = (sel) => { const e = document.querySelector(sel); return e ? e.textContent : null; };
  const number = (key) => Number(text(`#state [data-meter="${key}"] b`));
  const clockText = text("#clock b") || "";
  const [h, m] = clockText.split(":").map(Number);
  const ending = document.querySelector("#ending");
  return {
    node: document.querySelector("#story") ? document.querySelector("#story").getAttribute("data-node") : null,
    error: text("#error"),
    fear: number("fear"),
    truth: number("truth"),
    familiarity: number("familiarity"),
    clock: clockText,
    time: h * 60 + m,
    scene: text("#scene b"),
    items: [...document.querySelectorAll("#items .chip")].map((c) => c.textContent),
    bridge: text("#bridge") || "",
    redirect: document.querySelector("#redirect") ? document.querySelector("#redirect").getAttribute("data-rule") : null,
    narrative: [...document.querySelectorAll("#story p.narrative")].map((p) => p.textContent),
    chosen: text("#story .chosen"),
    choices: [...document.querySelectorAll("#choices button.choice")].map((b) => ({
      text: b.childNodes[1].textContent, next: b.getAttribute("data-next"),
    })),
    ending: ending ? { type: ending.getAttribute("data-type"), text: ending.textContent } : null,
  };
}

async function playThrough(page, url, pick, characterIndex, shots) {
  const run = { url, picker: [], character: 0, path: [], ending: null, restartNode: null, problems: [], links: [] };
  await page.goto(url, { waitUntil: "load" });
  await page.waitForSelector("#app > *");
  if (await page.$("#picker")) {
    run.picker = await page.$$eval("#picker button.character", (bs) => bs.map((b) => b.firstChild.textContent));
    if (shots.picker) await page.screenshot({ path: shots.picker, fullPage: true });
    run.character = characterIndex < 0 ? run.picker.length - 1 : characterIndex;
    await page.click(`#picker button.character[data-index="${run.character}"]`);
  }
  for (let i = 0; i < MAX_CLICKS; i++) {
    await page.waitForSelector("#story, #error");
    const now = await page.evaluate(seen);
    if (now.error) {
      run.problems.push(now.error);
      break;
    }
    run.path.push(now);
    if (i === 1 && shots.middle) await page.screenshot({ path: shots.middle, fullPage: true });
    if (now.bridge && shots.bridge && !run.bridgeShot) {
      await page.screenshot({ path: shots.bridge, fullPage: true });
      run.bridgeShot = shots.bridge;
    }
    if (now.ending) {
      run.ending = { node: now.node, ...now.ending };
      break;
    }
    if (!now.choices.length) {
      run.problems.push(`${now.node} has neither choices nor an ending`);
      break;
    }
    const index = pick(now.choices.length);
    run.choices = (run.choices || []).concat([index]);
    await page.click(`#choices button.choice >> nth=${index}`);
  }
  // Every link on the final page must point somewhere that exists (the player itself uses none).
  run.links = await page.$$eval("a[href]", (as) => as.map((a) => ({
    href: a.getAttribute("href"),
    ok: a.getAttribute("href").startsWith("#") ? !!document.getElementById(a.getAttribute("href").slice(1)) : false,
  })));
  run.overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
  if (shots.ending) await page.screenshot({ path: shots.ending, fullPage: true });
  if (await page.$("#restart")) {
    await page.click("#restart");
    run.restartNode = await page.getAttribute("#story", "data-node");
    run.restartState = await page.evaluate(seen);
  }
  return run;
}

// Random plays of one character inside the page: clicks with element.click(), which runs the player's
// own handlers and re-renders synchronously, so a thousand steps take well under a second.
async function randomPlays(page, url, story, characterIndex, options) {
  await page.goto(url, { waitUntil: "load" });
  await page.waitForSelector("#app > *");
  const picks = [];
  const rng = makeRng(options.seed + characterIndex);
  for (let i = 0; i < options.plays * 600; i++) picks.push(rng());
  const raw = await page.evaluate(({ seenSource, plays, ci, picks, maxClicks }) => {
    const read = new Function(`return (${seenSource})();`);
    const out = [];
    let r = 0;
    for (let p = 0; p < plays; p++) {
      const picker = document.querySelector(`#picker button.character[data-index="${ci}"]`);
      const other = document.querySelector("#other");
      const restart = document.querySelector("#restart");
      if (picker) picker.click();
      else if (other) { other.click(); document.querySelector(`#picker button.character[data-index="${ci}"]`).click(); }
      else if (restart) restart.click();
      let now = read();
      const steps = [now];
      const choices = [];
      for (let k = 0; now.choices.length && !now.ending && k < maxClicks; k++) {
        const index = Math.floor(picks[r++ % picks.length] * now.choices.length);
        choices.push(index);
        document.querySelectorAll("#choices button.choice")[index].click();
        now = read();
        steps.push(now);
      }
      out.push({ choices, steps });
    }
    return out;
  }, { seenSource: seen.toString(), plays: options.plays, ci: characterIndex, picks, maxClicks: MAX_CLICKS });

  const tree = story.characters[characterIndex].tree;
  const facts = treeFacts(tree);
  const plays = new Plays(options.traces);
  const shape = (s) => ({ node: s.node, fear: s.fear, truth: s.truth, familiarity: s.familiarity, time: s.time,
    scene: s.scene, items: s.items, bridge: s.bridge, ending: s.ending ? s.ending.type : "", state: s });
  raw.forEach((play, p) => {
    const steps = play.steps.map(shape);
    play.choices.forEach((index, k) => {
      const before = steps[k];
      const after = steps[k + 1];
      const found = checkStep(facts, before.node, index, before, after, after.node, after.bridge);
      if (flat(steps[k].state.choices[index].text) !== flat(tree.nodes[before.node].choices[index].text)) {
        found.push({ kind: "choice text differs", detail: `${before.node} choice ${index + 1}` });
      }
      plays.violation(p, k + 1, before.node, index, found);
    });
    const last = steps[steps.length - 1];
    const type = facts.endingType(last.node);
    if (!last.state.ending) plays.violation(p, steps.length, last.node, -1, [{ kind: "play did not end", detail: "" }]);
    else if (last.state.ending.type !== type) {
      plays.violation(p, steps.length, last.node, -1, [{ kind: "ending shown", detail: `${last.state.ending.type} at a ${type} ending` }]);
    }
    for (const step of steps) delete step.state.choices; // keep the report small
    plays.add({ choices: play.choices }, steps.map((s) => ({ ...s, state: { fear: s.fear } })), type);
  });
  return plays.report();
}

async function main() {
  const [options, rest] = parseArgs(process.argv.slice(2), { plays: 0, seed: 1, traces: 20 });
  const [file, shotPrefix, charArg] = rest;
  const characterIndex = Number(charArg || 0);
  fs.mkdirSync(path.dirname(shotPrefix), { recursive: true });
  const report = { requests: [], consoleErrors: [], pageErrors: [], runs: [], plays: [], errors: [], pwned: [], dialogs: [] };
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "gsf-chromium-"));
  const server = await serve(file);
  const httpUrl = `http://127.0.0.1:${server.address().port}/story.html`;
  const fileUrl = pathToFileURL(path.resolve(file)).href;
  const storyFile = `${file}.story.json`;
  const story = fs.existsSync(storyFile) ? JSON.parse(fs.readFileSync(storyFile, "utf-8")) : null;
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM, args: ARGS, headless: true, viewport: PHONE, timeout: 60000,
    });
    context.on("request", (req) => report.requests.push(req.url()));
    // Hostile text may try to run script: a payload sets data-pwned on <html> or opens a dialog. Any such
    // attribute change, on any page load, is reported (the observer is installed before the page's scripts).
    await context.exposeFunction("__gsfPwned", (value) => report.pwned.push(String(value)));
    await context.addInitScript(() => {
      new MutationObserver((records) => {
        for (const r of records) window.__gsfPwned(`${r.target.nodeName}: ${r.target.getAttribute(r.attributeName)}`);
      }).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-pwned"] });
    });
    const page = context.pages()[0] || (await context.newPage());
    page.setDefaultTimeout(15000);
    page.on("console", (msg) => { if (msg.type() === "error") report.consoleErrors.push(msg.text()); });
    page.on("pageerror", (err) => report.pageErrors.push(String(err)));
    page.on("dialog", (dialog) => { report.dialogs.push(dialog.message()); dialog.dismiss().catch(() => {}); });
    // Phone width from file:// always taking the first choice; desktop width over HTTP with the last
    // character (when there is a picker) always taking the last choice.
    report.runs.push(await playThrough(page, fileUrl, () => 0, characterIndex, {
      picker: `${shotPrefix}_phone_picker.png`,
      ending: `${shotPrefix}_phone_ending.png`,
      bridge: `${shotPrefix}_phone_bridge.png`,
    }));
    await page.setViewportSize(DESKTOP);
    report.runs.push(await playThrough(page, httpUrl, (n) => n - 1, -1, {
      middle: `${shotPrefix}_desktop_middle.png`,
    }));
    if (story && options.plays > 0) {
      await page.setViewportSize(PHONE);
      for (let ci = 0; ci < story.characters.length; ci++) {
        report.plays.push(await randomPlays(page, fileUrl, story, ci, options));
      }
    }
    report.fileUrl = fileUrl;
    report.httpUrl = httpUrl;
  } catch (err) {
    report.errors.push(String(err && err.stack ? err.stack : err));
  } finally {
    if (context) await context.close();
    server.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(report));
}

main();
