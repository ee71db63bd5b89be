// End-to-end test of the dashboard in headless Chromium against the real server binary.
//
//   SIGHTLINE_BIN=target/release/sightline node web/e2e/dashboard.mjs
//
// Environment:
//   SIGHTLINE_BIN   the `sightline` binary (required)
//   CHROMIUM        the browser (default /usr/bin/chromium)
//   DATA_DIR        a directory the test may fill (default: a fresh temp dir)
//   SCREENSHOT_DIR  where the screenshots go (default: <repo>/docs)
//   SCENARIOS       which to run, comma-separated: demo,config (default both)
//
// Scenario "demo" (the user's first minute): `sightline demo`, every panel fills, numbers
// move from pushed updates, the server restarts on the same port and the page comes back to
// live by itself; screenshots of the default page (dark) and of the kiosk view (light).
// Scenario "config" (dashboards as code): a user KPI on panels of its own, exact counts of
// posted events, updated live; an alert rule over it fires, is acknowledged (the name asked
// once), its History lists firing then the acknowledgement (and stays open while the panel
// redraws), it is silenced for 1 h and the silence expired from the alert panel; the tuning
// report (`?view=report`) counts it; the kiosk view of the same page has no buttons.
// Any page error, console error, failed request or HTTP error fails the run, except the ones
// a scenario expects (GET /v1/alerts answering 404 while alerting is not there; the stream
// failing while the server is down on purpose).

import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const binary = process.env.SIGHTLINE_BIN;
const browserPath = process.env.CHROMIUM || "/usr/bin/chromium";
const dataDir = process.env.DATA_DIR || mkdtempSync(join(tmpdir(), "sightline-e2e-"));
const screenshotDir = process.env.SCREENSHOT_DIR || join(repo, "docs");
const scenarios = (process.env.SCENARIOS || "demo,config").split(",").map((name) => name.trim());

const ALL_PANELS_TIMEOUT_MS = 60_000;
const UPDATE_TIMEOUT_MS = 60_000;
const SERVER_START_TIMEOUT_MS = 300_000;

if (!binary) {
  console.error("SIGHTLINE_BIN is not set: point it at the sightline binary (cargo build --release --bin sightline)");
  process.exit(2);
}

const started = Date.now();
function log(message) {
  console.log(`[e2e ${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${message}`);
}

class Failure extends Error {}
function check(condition, message) {
  if (!condition) throw new Failure(message);
}

// ---------------------------------------------------------------- the server

/** Starts the binary with `args` and resolves once it prints its address. */
function startServer(args, label) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, RUST_LOG: process.env.RUST_LOG || "warn" } });
    const exited = new Promise((done) => child.once("exit", (code, signal) => done({ code, signal })));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Failure(`${label}: no "sightline listening on" line within ${SERVER_START_TIMEOUT_MS / 1000} s`));
    }, SERVER_START_TIMEOUT_MS);
    const lines = createInterface({ input: child.stdout });
    let found = false;
    lines.on("line", (line) => {
      const match = /sightline listening on (http:\/\/\S+)/.exec(line);
      if (!found && match) {
        found = true;
        clearTimeout(timer);
        const url = match[1].replace(/\/$/, "");
        resolvePromise({ child, url, port: Number(new URL(url).port), exited, label, listeningAt: Date.now() });
      } else if (process.env.E2E_VERBOSE) {
        console.log(`[${label} stdout] ${line}`);
      }
    });
    createInterface({ input: child.stderr }).on("line", (line) => console.log(`[${label}] ${line}`));
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    exited.then(({ code, signal }) => {
      if (!found) {
        clearTimeout(timer);
        reject(new Failure(`${label} exited (${code ?? signal}) before it listened`));
      }
    });
  });
}

async function stopServer(server, signal = "SIGTERM") {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  server.child.kill(signal);
  const timeout = setTimeout(() => server.child.kill("SIGKILL"), 20_000);
  await server.exited;
  clearTimeout(timeout);
}

/** The same command again on the same port (the port may linger for a moment). */
async function restartOnSamePort(args, port, label) {
  const withPort = args.map((arg) => (/^127\.0\.0\.1:\d+$/.test(arg) ? `127.0.0.1:${port}` : arg));
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await startServer(withPort, label);
    } catch (error) {
      if (attempt >= 10) throw error;
      log(`${label}: start attempt ${attempt} failed (${error.message}); trying again`);
      await sleep(500);
    }
  }
}

async function getJson(url, timeoutMs = 30_000) {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  check(response.ok, `GET ${url} answered ${response.status}`);
  return response.json();
}

async function postEvents(base, events) {
  const response = await fetch(`${base}/v1/events`, {
    method: "POST",
    headers: { "content-type": "application/cloudevents-batch+json" },
    body: JSON.stringify(events),
  });
  const answer = await response.json();
  check(response.ok && answer.accepted === events.length, `POST /v1/events: ${response.status} ${JSON.stringify(answer).slice(0, 300)}`);
}

function sleep(ms) {
  return new Promise((done) => setTimeout(done, ms));
}

// ---------------------------------------------------------------- the browser

async function launchBrowser() {
  const profile = mkdtempSync(join(tmpdir(), "sightline-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: browserPath,
    headless: true,
    viewport: { width: 1920, height: 1080 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Collects what must not happen on a page; `expected` says what a scenario allows. */
function watch(page, label) {
  const problems = [];
  const state = { serverDown: false };
  const allowedStatus = (url, status) => status === 404 && new URL(url).pathname === "/v1/alerts";
  const streamDuringRestart = (url) => state.serverDown && new URL(url).pathname.startsWith("/v1/");
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    // The page tells what its connection does (dropped, ended by the server, snapshots).
    if (message.type() === "info" && message.text().startsWith("sightline:")) log(`[${label}] ${message.text()}`);
    if (message.type() !== "error") return;
    const text = message.text();
    const where = message.location()?.url ?? "";
    // Chromium logs every HTTP error status as a console error; statuses are judged below.
    if (/Failed to load resource: the server responded with a status of/.test(text)) return;
    if (state.serverDown && /ERR_CONNECTION_REFUSED|EventSource|net::/.test(`${text} ${where}`)) return;
    problems.push(`console error: ${text} ${where}`);
  });
  page.on("requestfailed", (request) => {
    if (streamDuringRestart(request.url())) return;
    // An EventSource closed by the page itself (reconnecting) is aborted, not failed.
    if (request.failure()?.errorText === "net::ERR_ABORTED" && new URL(request.url()).pathname === "/v1/stream") return;
    problems.push(`request failed: ${request.method()} ${request.url()} ${request.failure()?.errorText}`);
  });
  page.on("response", (response) => {
    const status = response.status();
    if (status < 400 || allowedStatus(response.url(), status) || streamDuringRestart(response.url())) return;
    problems.push(`HTTP ${status}: ${response.request().method()} ${response.url()}`);
  });
  return {
    state,
    assertClean() {
      check(problems.length === 0, `${label}: ${problems.length} problem(s) on the page:\n  ${problems.join("\n  ")}`);
    },
  };
}

/** Records when each panel first had data (ms since navigation), for the timing report. */
function recordPanelTimes() {
  window.__e2ePanelTimes = {};
  new MutationObserver((mutations) => {
    for (const mutation of mutations) {
      const panel = mutation.target;
      if (panel.dataset?.hasData === "true" && !(panel.dataset.panel in window.__e2ePanelTimes)) window.__e2ePanelTimes[panel.dataset.panel] = Math.round(performance.now());
    }
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-has-data"] });
}

async function slowestPanels(page) {
  const times = await page.evaluate(() => window.__e2ePanelTimes ?? {});
  return Object.entries(times)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([id, ms]) => `${id} ${(ms / 1000).toFixed(1)} s`)
    .join(", ");
}

/** Waits until every panel the layout lists is on the page with data; returns the ms it took. */
async function waitForAllPanels(page, layout, since) {
  const ids = layout.rows.flatMap((row) => row.panels.map((panel) => panel.id));
  try {
    await page.waitForFunction(
      (expected) => {
        const panels = [...document.querySelectorAll("section.panel")];
        return panels.length === expected.length && expected.every((id) => document.querySelector(`section.panel[data-panel="${id}"]`)?.dataset.hasData === "true");
      },
      ids,
      { timeout: ALL_PANELS_TIMEOUT_MS, polling: 100 },
    );
  } catch {
    const missing = await page.evaluate(() => [...document.querySelectorAll("section.panel")].filter((panel) => panel.dataset.hasData !== "true").map((panel) => panel.dataset.panel));
    throw new Failure(`not every panel had data within ${ALL_PANELS_TIMEOUT_MS / 1000} s; still empty: ${missing.join(", ") || "(panels missing from the page)"}`);
  }
  return Date.now() - since;
}

function values(page, ids) {
  return page.evaluate((panelIds) => Object.fromEntries(panelIds.map((id) => [id, document.querySelector(`section.panel[data-panel="${id}"] [data-value]`)?.dataset.value ?? null])), ids);
}

async function waitForChange(page, ids, before, what) {
  try {
    await page.waitForFunction(
      ({ panelIds, previous }) => panelIds.some((id) => {
        const now = document.querySelector(`section.panel[data-panel="${id}"] [data-value]`)?.dataset.value;
        return now !== undefined && now !== "" && now !== previous[id];
      }),
      { panelIds: ids, previous: before },
      { timeout: UPDATE_TIMEOUT_MS, polling: 100 },
    );
  } catch {
    throw new Failure(`${what}: no number of ${ids.join(", ")} changed within ${UPDATE_TIMEOUT_MS / 1000} s (still ${JSON.stringify(before)})`);
  }
  return values(page, ids);
}

async function waitForConnection(page, state, timeout) {
  try {
    await page.waitForSelector(`#connection[data-state="${state}"]`, { timeout, state: "attached" });
  } catch {
    const now = await page.getAttribute("#connection", "data-state");
    throw new Failure(`the connection banner did not become "${state}" within ${timeout / 1000} s (it is "${now}")`);
  }
}

// ---------------------------------------------------------------- scenario: demo

async function scenarioDemo(browser) {
  log("scenario demo: starting `sightline demo`");
  const args = ["demo", "--listen", "127.0.0.1:0", "--data-dir", join(dataDir, "demo")];
  let server = await startServer(args, "demo");
  log(`demo listening on ${server.url}`);
  const page = await browser.context.newPage();
  const watcher = watch(page, "demo page");
  try {
    const layout = await getJson(`${server.url}/v1/dashboard`, SERVER_START_TIMEOUT_MS);
    const topIds = (layout.rows.find((row) => row.name === "top") ?? layout.rows[0]).panels.map((panel) => panel.id);
    // The demo prints its address before it backfills history; the page waits for it.
    await page.addInitScript(recordPanelTimes);
    const opened = Date.now();
    await page.goto(`${server.url}/?theme=dark`, { timeout: SERVER_START_TIMEOUT_MS });
    const loadedMs = Date.now() - opened;
    await page.evaluate(() => {
      window.__e2eNoReload = "still the same page";
    });
    const tookMs = await waitForAllPanels(page, layout, opened);
    log(
      `every panel (${layout.rows.reduce((sum, row) => sum + row.panels.length, 0)}) had data ${(tookMs / 1000).toFixed(1)} s after the page was opened ` +
        `(the page loaded in ${(loadedMs / 1000).toFixed(1)} s; ${((Date.now() - server.listeningAt) / 1000).toFixed(1)} s since the demo printed its address); ` +
        `last to fill, after navigation: ${await slowestPanels(page)}`,
    );
    await waitForConnection(page, "live", 10_000);
    const first = await values(page, topIds);
    log(`top row: ${JSON.stringify(first)}`);
    const changed = await waitForChange(page, topIds, first, "pushed updates");
    log(`a pushed update moved the top row: ${JSON.stringify(changed)}`);

    mkdirSync(screenshotDir, { recursive: true });
    await sleep(1500); // let bars and maps settle their transitions
    await waitForConnection(page, "live", 15_000); // the server may have resnapshotted a lagging stream
    await page.screenshot({ path: join(screenshotDir, "dashboard.png") });
    log(`screenshot: ${join(screenshotDir, "dashboard.png")}`);

    log("stopping the server (SIGTERM)");
    watcher.state.serverDown = true;
    await stopServer(server);
    await waitForConnection(page, "reconnecting", 15_000);
    log("the banner says reconnecting");

    server = await restartOnSamePort(args, server.port, "demo (restarted)");
    log(`demo restarted on ${server.url}`);
    await waitForConnection(page, "live", 60_000);
    watcher.state.serverDown = false;
    log("the banner is live again");
    const afterRestart = await values(page, topIds);
    const changedAgain = await waitForChange(page, topIds, afterRestart, "pushed updates after the restart");
    log(`a pushed update after the restart: ${JSON.stringify(changedAgain)}`);
    check((await page.evaluate(() => window.__e2eNoReload)) === "still the same page", "the page was reloaded");
    watcher.assertClean();

    const kiosk = await browser.context.newPage();
    const kioskWatcher = watch(kiosk, "kiosk page");
    await kiosk.goto(`${server.url}/?kiosk=1&theme=light`);
    await waitForAllPanels(kiosk, layout, Date.now());
    await sleep(1500);
    await waitForConnection(kiosk, "live", 15_000);
    const [scrollHeight, scrollWidth] = await kiosk.evaluate(() => [document.documentElement.scrollHeight, document.documentElement.scrollWidth]);
    check(scrollHeight <= 1080 && scrollWidth <= 1920, `the kiosk view does not fit 1920×1080 (it is ${scrollWidth}×${scrollHeight})`);
    await kiosk.screenshot({ path: join(screenshotDir, "dashboard-kiosk-light.png") });
    log(`screenshot: ${join(screenshotDir, "dashboard-kiosk-light.png")}`);
    kioskWatcher.assertClean();
    await kiosk.close();
  } finally {
    await page.close().catch(() => {});
    await stopServer(server);
  }
  log("scenario demo passed");
}

// ---------------------------------------------------------------- scenario: config

const KPIS = `
[[kpi]]
name = "e2e_parcels_today"
description = "Parcels scanned since midnight (browser test)"
events = ["warehouse.parcel_scanned"]
aggregate = "count"
windows = [{ calendar = "day" }]

[[kpi]]
name = "e2e_parcels_by_dock_today"
description = "Parcels scanned since midnight per dock (browser test)"
events = ["warehouse.parcel_scanned"]
aggregate = "count"
group_by = ["data.dock"]
windows = [{ calendar = "day" }]
`;

// Fires for a dock with more than 30 parcels today: none after the first batch (24 and 13),
// dock-b after the second (41).
const ALERT_RULE = "e2e_dock_busy";
const ALERTS = `
[[alert]]
name = "${ALERT_RULE}"
kpi = "e2e_parcels_by_dock_today"
condition = { above = 30 }
for = "0s"
severity = "high"
annotations = { summary = "{{dock}} scanned {{value}} parcels today (over {{threshold}})" }
`;
const ACTOR = "e2e-operator";

// kpis.files are read relative to the working directory, so the test names its files in full.
const CONFIG = (kpiFile, alertFile) => `
[kpis]
files = [${JSON.stringify(kpiFile)}]

[alerts]
file = ${JSON.stringify(alertFile)}
evaluate_every = "200ms"

[dashboard]
title = "Dock desk"
include_default = false

[[dashboard.panels]]
id = "parcels"
row = "top"
title = "Parcels scanned today"
kind = "number"
kpis = ["e2e_parcels_today"]
format = "count"
width = 4
thresholds = [{ above = 1000, level = "warning" }]

[[dashboard.panels]]
id = "parcels_by_dock"
row = "top"
title = "Parcels by dock"
kind = "groups"
kpis = ["e2e_parcels_by_dock_today"]
format = "count"
width = 4

[[dashboard.panels]]
id = "docks"
row = "top"
title = "Busiest docks"
kind = "table"
kpis = ["e2e_parcels_by_dock_today"]
format = "count"
limit = 5
width = 4

[[dashboard.panels]]
id = "alerts"
row = "alerts"
title = "Alerts"
kind = "alerts"
kpis = []
width = 12
`;

function parcels(count, offset) {
  const now = new Date().toISOString();
  return Array.from({ length: count }, (_, index) => ({
    specversion: "1.0",
    id: `parcel-${offset + index}`,
    source: "e2e/dock-scanner",
    type: "warehouse.parcel_scanned",
    time: now,
    data: { dock: (offset + index) % 3 === 0 ? "dock-a" : "dock-b", parcel: `P${offset + index}` },
  }));
}

async function scenarioConfig(browser) {
  const dir = join(dataDir, "config");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "kpis.toml"), KPIS);
  writeFileSync(join(dir, "alerts.toml"), ALERTS);
  writeFileSync(join(dir, "sightline.toml"), CONFIG(join(dir, "kpis.toml"), join(dir, "alerts.toml")));
  log("scenario config: starting `sightline serve` with a user KPI and panels");
  const server = await startServer(["serve", "--config", join(dir, "sightline.toml"), "--data-dir", join(dir, "data"), "--listen", "127.0.0.1:0"], "serve");
  const page = await browser.context.newPage();
  const watcher = watch(page, "config page");
  try {
    const layout = await getJson(`${server.url}/v1/dashboard`);
    check(layout.title === "Dock desk", `the layout's title is ${JSON.stringify(layout.title)}`);
    check(layout.alerting === true, "the layout says alerting is on");
    const first = 37;
    await postEvents(server.url, parcels(first, 0));
    const opened = Date.now();
    await page.goto(`${server.url}/`);
    const tookMs = await waitForAllPanels(page, layout, opened);
    log(`every panel had data ${(tookMs / 1000).toFixed(1)} s after the page was opened`);
    await waitForConnection(page, "live", 10_000);
    await expectNumbers(page, first);

    const more = 25;
    await postEvents(server.url, parcels(more, first));
    await expectNumbers(page, first + more);
    check((await page.title()) === "Dock desk", "the page's title comes from the layout");
    await alertFlow(page, server);
    watcher.assertClean();

    const kiosk = await browser.context.newPage();
    const kioskWatcher = watch(kiosk, "config kiosk page");
    await kiosk.goto(`${server.url}/?kiosk=1`);
    await waitForAllPanels(kiosk, layout, Date.now());
    await kiosk.waitForSelector('section.panel[data-panel="alerts"] li.alert', { timeout: UPDATE_TIMEOUT_MS });
    const kioskControls = await kiosk.locator('section.panel[data-panel="alerts"] :is(button, summary, a, select, input)').count();
    check(kioskControls === 0, `the kiosk's alert panel has ${kioskControls} control(s); a wall screen gets none`);
    log("the kiosk view shows the alert without a button");
    kioskWatcher.assertClean();
    await kiosk.close();
  } finally {
    await page.close().catch(() => {});
    await stopServer(server);
  }
  log("scenario config passed");
}

/** The alert panel over the rule: acknowledge, history, silence for 1 h, expire; then the tuning report. */
async function alertFlow(page, server) {
  const panel = page.locator('section.panel[data-panel="alerts"]');
  const firing = panel.locator(`li.alert[data-state="firing"]`);
  try {
    await firing.first().waitFor({ timeout: UPDATE_TIMEOUT_MS });
  } catch {
    throw new Failure(`the alert of ${ALERT_RULE} did not show up firing in the panel (the server has ${JSON.stringify(await getJson(`${server.url}/v1/alerts`))})`);
  }
  const count = await firing.count();
  const text = await firing.first().innerText();
  check(count === 1 && text.includes(ALERT_RULE) && text.includes("dock-b"), `one firing alert for dock-b expected, the panel shows ${count}: ${JSON.stringify(text)}`);
  const id = await firing.first().getAttribute("data-alert-id");
  const item = panel.locator(`li.alert[data-alert-id="${id}"]`);
  log(`the alert fired and shows in the panel: ${JSON.stringify(text.replace(/\s+/g, " "))}`);

  // Acknowledge: the name is asked once ("Who is acting?").
  await item.locator('button[data-action="ack"]').click();
  const dialog = page.locator("dialog.ask");
  await dialog.waitFor({ state: "visible", timeout: 5_000 });
  check((await dialog.locator(".ask-label").innerText()).includes("Who is acting?"), "the name prompt asks who is acting");
  await dialog.locator("input").fill(ACTOR);
  await dialog.locator("input").press("Enter");
  try {
    await page.waitForFunction(
      (alertId) => {
        const node = document.querySelector(`section.panel[data-panel="alerts"] li.alert[data-alert-id="${alertId}"]`);
        return node?.dataset.state === "acknowledged" && node.querySelector(".acked")?.textContent?.includes("e2e-operator");
      },
      id,
      { timeout: 10_000, polling: 100 },
    );
  } catch {
    throw new Failure(`the alert is not shown acknowledged by ${ACTOR}: ${JSON.stringify(await item.innerText().catch(() => "(gone)"))}`);
  }
  const onServer = (await getJson(`${server.url}/v1/alerts`)).alerts.find((alert) => alert.id === id);
  check(onServer?.state === "acknowledged" && onServer.acknowledged_by === ACTOR, `the server has the alert ${JSON.stringify(onServer)}`);
  check((await page.evaluate(() => localStorage.getItem("sightline.actor"))) === ACTOR, "the name is kept in localStorage");
  log(`acknowledged from the page by ${ACTOR} (the server agrees)`);

  // Its history (GET /v1/alerts/{id}, oldest first): the transition to firing, then the
  // acknowledgement by the name just given.
  const historyToggle = item.locator("details.history-disclosure > summary");
  const history = item.locator("details.history-disclosure[open] ol.alert-history");
  await historyToggle.click();
  try {
    await history.locator('li[data-event="transition"]').first().waitFor({ timeout: 10_000 });
    await page.waitForFunction(
      ({ alertId, actor }) => {
        const entries = [...document.querySelectorAll(`section.panel[data-panel="alerts"] li.alert[data-alert-id="${alertId}"] ol.alert-history > li[data-event="transition"]`)];
        const fired = entries.findIndex((entry) => entry.dataset.to === "firing");
        const acked = entries.findIndex((entry) => entry.dataset.cause === "acknowledged" && entry.dataset.to === "acknowledged" && entry.textContent.includes(`acknowledged by ${actor}`));
        return fired !== -1 && acked > fired;
      },
      { alertId: id, actor: ACTOR },
      { timeout: 10_000, polling: 100 },
    );
  } catch {
    const shown = await item.locator(".history-body").innerText().catch(() => "(no history shown)");
    const held = await getJson(`${server.url}/v1/alerts/${encodeURIComponent(id)}`).then((alert) => alert.history, (error) => error.message);
    throw new Failure(`the alert's history does not show firing, then acknowledged by ${ACTOR}: ${JSON.stringify(shown)} (the server has ${JSON.stringify(held)})`);
  }
  const transitions = await history.locator('li[data-event="transition"]').allInnerTexts();
  log(`the alert's history lists: ${JSON.stringify(transitions)}`);

  // Silence it for 1 h: no second name prompt; the silence is listed with the alert's matchers.
  await item.locator(".silence-menu summary").click();
  await item.locator('button[data-action="silence-1h"]').click();
  const silence = panel.locator(".silences li.silence");
  try {
    await silence.first().waitFor({ timeout: 10_000 });
  } catch {
    throw new Failure(`no silence listed after Silence 1 h (the server has ${JSON.stringify(await getJson(`${server.url}/v1/silences`))})`);
  }
  check(!(await dialog.isVisible()), "the name was asked a second time");
  const matchers = await silence.first().locator(".silence-matchers").innerText();
  check(matchers.includes(`alertname="${ALERT_RULE}"`) && matchers.includes('"dock-b"'), `the silence's matchers: ${matchers}`);
  check((await panel.locator(".silences-title").textContent()) === "Silences (1)", `the silences heading says ${await panel.locator(".silences-title").textContent()}`);
  const silenced = await getJson(`${server.url}/v1/silences`);
  const ends = Date.parse(silenced.silences[0]?.ends_at) - Date.now();
  check(silenced.silences.length === 1 && ends > 55 * 60_000 && ends <= 60 * 60_000, `the server's silences: ${JSON.stringify(silenced)}`);
  log(`silenced for 1 h from the page: ${matchers}`);
  // The silence redrew the alert's item: its history is still open and listed.
  check((await history.locator("li").count()) > 0, "the alert's History closed (or lost its list) when the panel redrew after the silence");
  await historyToggle.click();
  await item.locator("details.history-disclosure:not([open])").waitFor({ timeout: 5_000 });

  await silence.first().locator('button[data-action="expire"]').click();
  try {
    await page.waitForFunction(() => document.querySelectorAll('section.panel[data-panel="alerts"] .silences li.silence').length === 0, null, { timeout: 10_000, polling: 100 });
  } catch {
    throw new Failure("the silence is still listed after Expire");
  }
  const after = await getJson(`${server.url}/v1/silences`);
  check(after.silences.every((entry) => entry.status === "expired"), `the server's silences after Expire: ${JSON.stringify(after)}`);
  log(`the silence expired from the page; the panel says ${JSON.stringify(await panel.locator(".silences-title").textContent())}`);

  // The tuning report, linked from the panel.
  await panel.locator("a.report-link").click();
  await page.waitForURL(/[?&]view=report/, { timeout: 10_000 });
  const row = page.locator(`.report-table tr[data-rule="${ALERT_RULE}"]`);
  try {
    await row.waitFor({ timeout: 10_000 });
  } catch {
    throw new Failure(`the report shows no row for ${ALERT_RULE}: ${JSON.stringify(await page.locator(".report").innerText().catch(() => "(no report)"))}`);
  }
  const fired = await row.locator(".report-fired").getAttribute("data-raw");
  const acknowledged = await row.locator(".report-acknowledged").getAttribute("data-raw");
  check(fired === "1" && acknowledged === "1", `the report row: fired ${fired}, acknowledged ${acknowledged}: ${JSON.stringify(await row.innerText())}`);
  check((await page.locator("#title").innerText()) === "Dock desk", "the report has the dashboard's header");
  await page.selectOption("select.report-since", "7d");
  await page.waitForSelector('.report[data-since="7d"] .report-table tr[data-rule]', { timeout: 10_000 });
  log(`the tuning report (?view=report): ${JSON.stringify((await row.innerText()).replace(/\s+/g, " "))}`);
}

/** The number panel shows `total` exactly; the dock panels split it as posted. */
async function expectNumbers(page, total) {
  const dockA = Math.ceil(total / 3);
  const expected = { parcels: String(total), parcels_by_dock: String(total - dockA), docks: String(total - dockA) };
  try {
    await page.waitForFunction(
      (wanted) => Object.entries(wanted).every(([id, value]) => document.querySelector(`section.panel[data-panel="${id}"] [data-value]`)?.dataset.value === value),
      expected,
      { timeout: UPDATE_TIMEOUT_MS, polling: 100 },
    );
  } catch {
    const now = await values(page, Object.keys(expected));
    throw new Failure(`expected ${JSON.stringify(expected)}, the page shows ${JSON.stringify(now)}`);
  }
  const rows = await page.evaluate(() => [...document.querySelectorAll('section.panel[data-panel="parcels_by_dock"] .group-row')].map((row) => [row.querySelector(".group-name")?.textContent, row.querySelector(".group-value")?.dataset.raw]));
  check(JSON.stringify(rows) === JSON.stringify([["dock-b", String(total - dockA)], ["dock-a", String(dockA)]]), `dock rows: ${JSON.stringify(rows)}`);
  log(`the page shows exactly ${total} parcels (dock-b ${total - dockA}, dock-a ${dockA}), live`);
}

// ---------------------------------------------------------------- main

const browser = await launchBrowser();
let failed = false;
try {
  if (scenarios.includes("config")) await scenarioConfig(browser);
  if (scenarios.includes("demo")) await scenarioDemo(browser);
} catch (error) {
  failed = true;
  console.error(`\nE2E FAILED: ${error instanceof Failure ? error.message : error.stack}`);
} finally {
  await browser.close();
}
log(failed ? "failed" : "all scenarios passed");
process.exit(failed ? 1 : 0);
