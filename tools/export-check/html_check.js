#!/usr/bin/env node
// Plays an exported HTML story in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core):
// once from file:// and once from a throwaway HTTP server on 127.0.0.1, clicking choices until an ending,
// recording every network request, console error, link and overflow, and saving screenshots.
// Usage: node html_check.js FILE.html SCREENSHOT_PREFIX [CHARACTER_INDEX]  ->  one JSON report on stdout;
// screenshots go to SCREENSHOT_PREFIX_phone_picker.png, _phone_ending.png and _desktop_middle.png.
"use strict";

const fs = require("fs");
const http = require("http");
const os = require("os");
const path = require("path");
const { pathToFileURL } = require("url");
const { chromium } = require("playwright-core");

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
    await page.waitForSelector("#story");
    if (await page.$("#error")) {
      run.problems.push(await page.textContent("#error"));
      break;
    }
    const node = await page.getAttribute("#story", "data-node");
    const fear = await page.textContent("#state .meter b");
    const choices = await page.$$eval("#choices button.choice", (bs) =>
      bs.map((b) => ({ text: b.childNodes[1].textContent, next: b.getAttribute("data-next") })));
    run.path.push({ node, fear, choices });
    if (i === 1 && shots.middle) await page.screenshot({ path: shots.middle, fullPage: true });
    if (await page.$("#ending")) {
      run.ending = { node, type: await page.getAttribute("#ending", "data-type"), text: await page.textContent("#ending") };
      break;
    }
    if (!choices.length) {
      run.problems.push(`${node} has neither choices nor an ending`);
      break;
    }
    const index = pick(choices.length);
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
  }
  return run;
}

async function main() {
  const [file, shotPrefix, charArg] = process.argv.slice(2);
  const characterIndex = Number(charArg || 0);
  fs.mkdirSync(path.dirname(shotPrefix), { recursive: true });
  const report = { requests: [], consoleErrors: [], pageErrors: [], runs: [], errors: [] };
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "gsf-chromium-"));
  const server = await serve(file);
  const httpUrl = `http://127.0.0.1:${server.address().port}/story.html`;
  const fileUrl = pathToFileURL(path.resolve(file)).href;
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM, args: ARGS, headless: true, viewport: PHONE, timeout: 60000,
    });
    context.on("request", (req) => report.requests.push(req.url()));
    const page = context.pages()[0] || (await context.newPage());
    page.setDefaultTimeout(15000);
    page.on("console", (msg) => { if (msg.type() === "error") report.consoleErrors.push(msg.text()); });
    page.on("pageerror", (err) => report.pageErrors.push(String(err)));
    // Phone width from file:// always taking the first choice; desktop width over HTTP with the last
    // character (when there is a picker) always taking the last choice.
    report.runs.push(await playThrough(page, fileUrl, () => 0, characterIndex, {
      picker: `${shotPrefix}_phone_picker.png`,
      ending: `${shotPrefix}_phone_ending.png`,
    }));
    await page.setViewportSize(DESKTOP);
    report.runs.push(await playThrough(page, httpUrl, (n) => n - 1, -1, {
      middle: `${shotPrefix}_desktop_middle.png`,
    }));
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
