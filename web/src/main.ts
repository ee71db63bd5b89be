// The dashboard: reads the layout (GET /v1/dashboard), builds one panel per entry, fills them
// from GET /v1/kpis and history, then keeps them live from one EventSource. Every KPI name the
// page uses comes from the layout.

import { fetchKpis, fetchLayout, type Layout } from "./api";
import { Formats } from "./format";
import { createPanel } from "./panels/index";
import { ReportView } from "./report";
import { Panel } from "./panels/panel";
import { Store } from "./store";
import { Stream, type ConnectionState } from "./stream";
import { applyTheme, initialTheme, storeTheme, systemTheme, type Theme } from "./theme";
import "./style.css";

const TICK_MS = 1000;
/** Sliding and tumbling windows move on with the clock even when no event arrives. */
const REDRAW_ALL_MS = 10_000;
const PRUNE_MS = 60_000;
const REPLAY_MS = 1500;

const params = new URLSearchParams(location.search);
/** `?view=report`: the alert tuning report instead of the panels. */
const view = params.get("view") === "report" ? "report" : "dashboard";
const kiosk = view === "dashboard" && (params.get("kiosk") === "1" || params.get("kiosk") === "true");
document.documentElement.classList.toggle("kiosk", kiosk);
document.documentElement.dataset.view = view;

let { theme, pinned } = initialTheme();
applyTheme(theme);

const connection = document.getElementById("connection") as HTMLElement;
const connectionText = connection.querySelector(".connection-text") as HTMLElement;
const grid = document.getElementById("dashboard") as HTMLElement;
const titleElement = document.getElementById("title") as HTMLElement;
const clock = document.getElementById("clock") as HTMLTimeElement;
const zoneLabel = document.getElementById("zone") as HTMLElement;
const themeButton = document.getElementById("theme-toggle") as HTMLButtonElement;

let panels: Panel[] = [];
let lastLive = 0;

function setConnection(state: ConnectionState, formats?: Formats): void {
  connection.dataset.state = state;
  Panel.connected = state === "live";
  const now = Date.now();
  for (const panel of panels) panel.tick(now);
  if (state === "live") {
    lastLive = Date.now();
    connectionText.textContent = "Live";
  } else if (state === "connecting") {
    connectionText.textContent = "Connecting…";
  } else {
    const since = lastLive && formats ? ` — showing data as of ${formats.clock(lastLive)}` : "";
    connectionText.textContent = `Reconnecting…${since}`;
  }
}

function tickClock(formats: Formats): void {
  const now = Date.now();
  clock.textContent = formats.clock(now);
  clock.dateTime = new Date(now).toISOString();
}

function updateThemeButton(): void {
  const next = theme === "dark" ? "light" : "dark";
  themeButton.setAttribute("aria-label", `Switch to ${next} theme`);
  themeButton.title = `Switch to ${next} theme`;
  themeButton.dataset.theme = theme;
}

function switchTheme(next: Theme): void {
  theme = next;
  applyTheme(theme);
  updateThemeButton();
  for (const panel of panels) panel.themeChanged();
}

themeButton.addEventListener("click", () => {
  pinned = true;
  storeTheme(theme === "dark" ? "light" : "dark");
  switchTheme(theme === "dark" ? "light" : "dark");
});
matchMedia("(prefers-color-scheme: light)").addEventListener("change", () => {
  if (!pinned) switchTheme(systemTheme());
});
updateThemeButton();

async function loadLayout(): Promise<Layout> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await fetchLayout();
    } catch (error) {
      setConnection(attempt === 0 ? "connecting" : "reconnecting");
      console.warn("the layout could not be read, retrying:", error);
      await new Promise((resolve) => setTimeout(resolve, Math.min(10_000, 500 * 2 ** attempt)));
    }
  }
}

/** Rows become 12-column grids; in kiosk mode each row gets height by how many lines it wraps to. */
function buildGrid(layout: Layout, formats: Formats, store: Store): Panel[] {
  const built: Panel[] = [];
  const rows = layout.rows.filter((row) => row.panels.length > 0);
  for (const row of rows) {
    const rowElement = document.createElement("div");
    rowElement.className = "row";
    rowElement.dataset.row = row.name;
    let lines = 1;
    let used = 0;
    let onlyNumbers = true;
    for (const spec of row.panels) {
      const width = Math.min(12, Math.max(1, spec.width ?? 3));
      if (used + width > 12) {
        lines += 1;
        used = 0;
      }
      used += width;
      if (spec.kind !== "number") onlyNumbers = false;
      const panel = createPanel({ spec, layout, store, formats });
      built.push(panel);
      rowElement.append(panel.element);
    }
    rowElement.style.setProperty("--lines", String(lines));
    rowElement.style.setProperty("--weight", String(onlyNumbers ? lines * 0.5 : lines));
    rowElement.classList.toggle("numbers", onlyNumbers);
    grid.append(rowElement);
  }
  return built;
}

/** The tuning report under the same header, clock, time zone and theme as the dashboard. */
async function reportMain(): Promise<void> {
  const layout = await loadLayout();
  // Nothing streams on this page: no connection pill.
  connection.hidden = true;
  const formats = new Formats(layout.currency, layout.time_zone);
  document.title = `Alert tuning report — ${layout.title}`;
  titleElement.textContent = layout.title;
  zoneLabel.textContent = layout.time_zone;
  grid.setAttribute("aria-label", "Alert tuning report");
  const report = new ReportView(layout, formats);
  grid.append(report.element);
  tickClock(formats);
  window.setInterval(() => tickClock(formats), TICK_MS);
  await report.load();
}

async function main(): Promise<void> {
  setConnection("connecting");
  const layout = await loadLayout();
  const formats = new Formats(layout.currency, layout.time_zone);
  document.title = layout.title;
  titleElement.textContent = layout.title;
  zoneLabel.textContent = layout.time_zone;
  const store = new Store();
  panels = buildGrid(layout, formats, store);
  const kpis = [...new Set(layout.rows.flatMap((row) => row.panels.flatMap((panel) => panel.kpis)))];

  let frame = 0;
  const renderDirty = () => {
    frame = 0;
    const dirty = store.takeDirty();
    if (dirty.size === 0) return;
    const now = Date.now();
    for (const panel of panels) if (panel.kpis.some((kpi) => dirty.has(kpi))) panel.render(now);
  };
  // Many windows can change at once (a snapshot is thousands): draw at most once a frame.
  store.onChange = () => {
    if (frame === 0) frame = requestAnimationFrame(renderDirty);
  };

  tickClock(formats);

  const loadHistory = () =>
    Promise.all(
      panels.map((panel) =>
        panel.load().then(
          () => panel.render(Date.now()),
          (error: unknown) => console.warn(`panel ${panel.element.dataset.panel}: history not loaded:`, error),
        ),
      ),
    );

  // The stream first: its snapshot fills most panels; GET /v1/kpis (every KPI's current
  // windows and its window labels) and the panels' history fill in beside it.
  let snapshotAt = 0;
  if (kpis.length > 0) {
    const stream = new Stream(kpis, {
      snapshot(_reason, first) {
        snapshotAt = Date.now();
        store.beginSnapshot(kpis);
        // After a gap (a restart, a long disconnect) the history may have moved on too.
        if (!first) void loadHistory();
      },
      kpi(name, window) {
        // The burst right after a snapshot is the server's replay of what it holds, not news.
        store.putFromStream(name, window, Date.now() - snapshotAt > REPLAY_MS);
      },
      state(state) {
        setConnection(state, formats);
      },
    });
    stream.start();
  } else {
    setConnection("live", formats);
  }
  void loadHistory();
  try {
    const wanted = new Set(kpis);
    for (const definition of await fetchKpis()) {
      if (!wanted.has(definition.name)) continue;
      store.setLabels(definition.name, definition.windows);
      for (const window of definition.current) store.putFromRequest(definition.name, window);
    }
  } catch (error) {
    console.warn("the KPI list could not be read; the stream fills the panels:", error);
  }

  let lastRedraw = Date.now();
  let lastPrune = Date.now();
  window.setInterval(() => {
    const now = Date.now();
    tickClock(formats);
    if (now - lastRedraw >= REDRAW_ALL_MS) {
      lastRedraw = now;
      for (const panel of panels) panel.render(now);
    }
    if (now - lastPrune >= PRUNE_MS) {
      lastPrune = now;
      store.prune(now);
    }
    for (const panel of panels) panel.tick(now);
  }, TICK_MS);
}

void (view === "report" ? reportMain() : main());
