#!/usr/bin/env node
// Drives headless Chromium (Debian's /usr/bin/chromium through playwright-core from tools/export-check) for
// the map tests; prints one JSON report on stdout. Nothing is loaded from the network: every request the
// page makes is recorded and reported.
//   node test_map_chromium.js mermaid MERMAID_MIN_JS FILE.mmd...
//     renders each file with Mermaid's default settings (mermaid.render) and reports, per file, the error
//     (if any), the number of drawn nodes, edges and clusters, and any "Maximum text size" / "Syntax error"
//     text that Mermaid draws instead of a diagram.
//   node test_map_chromium.js player FILE.html SCREENSHOT_PREFIX CLICKS
//     plays the HTML player by clicking the first choice CLICKS times, opens the map view and reports the
//     highlighted (visited) nodes, the text shown after clicking a node, and the zoom transform before and
//     after the zoom button and the mouse wheel.
"use strict";

const path = require("path");
const { pathToFileURL } = require("url");
const { chromium } = require(path.join(__dirname, "..", "tools", "export-check", "node_modules", "playwright-core"));

const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--disable-dev-shm-usage",
];

async function withPage(viewport, fn) {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  try {
    const page = await browser.newPage({ viewport });
    const report = { requests: [], pageErrors: [], consoleErrors: [] };
    page.on("request", (r) => report.requests.push(r.url()));
    page.on("pageerror", (e) => report.pageErrors.push(String(e)));
    page.on("console", (m) => { if (m.type() === "error") report.consoleErrors.push(m.text()); });
    await fn(page, report);
    return report;
  } finally {
    await browser.close();
  }
}

async function mermaid(mermaidJs, files) {
  const fs = require("fs");
  return withPage({ width: 1400, height: 900 }, async (page, report) => {
    await page.setContent("<!DOCTYPE html><html><body><div id='out'></div></body></html>");
    await page.addScriptTag({ content: fs.readFileSync(mermaidJs, "utf-8") });
    report.loaded = await page.evaluate(() => typeof window.mermaid === "object");
    report.files = [];
    for (const file of files) {
      const text = fs.readFileSync(file, "utf-8");
      const result = await page.evaluate(async (source) => {
        const m = window.mermaid;
        m.initialize({ startOnLoad: false }); // defaults: maxTextSize 50000, maxEdges 500
        const started = performance.now();
        const out = { error: null, nodes: 0, edges: 0, clusters: 0, drawnText: "", ms: 0 };
        try {
          const { svg } = await m.render("map" + Math.floor(Math.random() * 1e9), source);
          const holder = document.getElementById("out");
          holder.innerHTML = svg; // Mermaid's own (sanitised) SVG, inserted only to count its parts
          const root = holder.querySelector("svg");
          out.isSvg = !!root;
          out.nodes = root ? root.querySelectorAll("g.node").length : 0;
          out.edges = root ? root.querySelectorAll("path.flowchart-link").length : 0;
          out.clusters = root ? root.querySelectorAll("g.cluster").length : 0;
          const clone = root ? root.cloneNode(true) : null;
          if (clone) clone.querySelectorAll("style").forEach((s) => s.remove());
          out.drawnText = clone ? clone.textContent.slice(0, 20000) : "";
          out.width = root ? root.getBoundingClientRect().width : 0;
        } catch (e) {
          out.error = String(e && e.message ? e.message : e);
        }
        out.ms = Math.round(performance.now() - started);
        return out;
      }, text);
      result.file = file;
      result.maxTextExceeded = /Maximum text size in diagram exceeded/i.test(result.drawnText);
      result.syntaxError = /Syntax error/i.test(result.drawnText);
      result.drawnText = result.drawnText.slice(0, 400);
      report.files.push(result);
    }
  });
}

async function player(file, prefix, clicks) {
  return withPage({ width: 1100, height: 800 }, async (page, report) => {
    report.url = pathToFileURL(file).href;
    await page.goto(report.url, { waitUntil: "load" });
    await page.waitForSelector("#app > *");
    if (await page.$("#picker")) await page.click("#picker button");
    report.path = [await page.getAttribute("#story", "data-node")];
    for (let i = 0; i < clicks && (await page.$("#choices button.choice")); i++) {
      await page.click("#choices button.choice");
      report.path.push(await page.getAttribute("#story", "data-node"));
    }
    await page.click("#open-map");
    await page.waitForSelector("#map svg");
    const shown = () => page.evaluate(() => {
      const g = document.querySelector("#map svg g.viewport");
      return {
        transform: g ? g.getAttribute("transform") : null,
        nodes: document.querySelectorAll("#map g.map-node").length,
        edges: document.querySelectorAll("#map .map-edge").length,
        visited: [...document.querySelectorAll("#map g.map-node.visited")].map((n) => n.getAttribute("data-node")),
        current: [...document.querySelectorAll("#map g.map-node.current")].map((n) => n.getAttribute("data-node")),
        visitedEdges: document.querySelectorAll("#map .map-edge.visited").length,
        readerNode: document.querySelector("#map-reader") ? document.querySelector("#map-reader").getAttribute("data-node") : null,
        readerText: document.querySelector("#map-reader") ? document.querySelector("#map-reader").textContent : "",
        storyHidden: !document.querySelector("#story") || document.querySelector("#story").offsetParent === null,
        scripts: document.scripts.length,
        // Anything but the map's own drawing and the reader's heading and paragraphs would be injected markup.
        injected: document.querySelectorAll("#map img, #map iframe, #map script, #map object, #map-reader *:not(h3):not(p)").length,
      };
    });
    report.opened = await shown();
    await page.screenshot({ path: prefix + "_map_opened.png" });
    await page.click("#map-zoom-in");
    report.afterButton = await shown();
    const box = await page.locator("#map svg").boundingBox();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.wheel(0, 400); // wheel down zooms out
    await page.waitForFunction((t) => document.querySelector("#map svg g.viewport").getAttribute("transform") !== t,
      report.afterButton.transform);
    report.afterWheel = await shown();
    // Click a node that the play did not visit (the last one drawn), then the root.
    const target = await page.evaluate(() => {
      const all = [...document.querySelectorAll("#map g.map-node:not(.visited)")];
      return all.length ? all[all.length - 1].getAttribute("data-node") : null;
    });
    report.clicked = target;
    if (target) {
      await page.evaluate((id) => {
        const n = document.querySelector(`#map g.map-node[data-node="${id}"]`);
        n.dispatchEvent(new MouseEvent("click", { bubbles: true }));
      }, target);
      report.afterClick = await shown();
    }
    await page.screenshot({ path: prefix + "_map_reading.png" });
    await page.click("#close-map");
    report.closedBackTo = await page.getAttribute("#story", "data-node");
    await page.click("#open-map");
    await page.waitForSelector("#map svg");
    await page.keyboard.press("Escape");
    report.escapedBackTo = await page.getAttribute("#story", "data-node");
  });
}

(async () => {
  const [mode, ...rest] = process.argv.slice(2);
  let report;
  if (mode === "mermaid") report = await mermaid(rest[0], rest.slice(1));
  else if (mode === "player") report = await player(rest[0], rest[1], Number(rest[2] || 3));
  else throw new Error("usage: test_map_chromium.js mermaid|player …");
  process.stdout.write(JSON.stringify(report));
})().catch((e) => { process.stderr.write(String(e && e.stack ? e.stack : e) + "\n"); process.exit(1); });
