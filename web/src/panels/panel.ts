// What every panel shares: the <section> frame with its test hooks (data-panel, data-kind,
// data-has-data), the title, the freshness line, and helpers to read numbers out of windows.

import type { GroupValue, HeldWindow, Layout, Level, PanelSpec, Threshold } from "../api";
import { age, type Formats } from "../format";
import type { Store } from "../store";

/** A panel counts as live while its data changed this recently. */
const LIVE_MS = 10_000;

export interface PanelContext {
  spec: PanelSpec;
  layout: Layout;
  store: Store;
  formats: Formats;
}

export abstract class Panel {
  /** While the stream is down nothing is live, however recent the last change. */
  static connected = false;
  readonly element: HTMLElement;
  protected readonly body: HTMLElement;
  private readonly freshness: HTMLElement;
  protected readonly spec: PanelSpec;
  protected readonly store: Store;
  protected readonly formats: Formats;
  protected readonly layout: Layout;

  constructor(context: PanelContext) {
    this.spec = context.spec;
    this.store = context.store;
    this.formats = context.formats;
    this.layout = context.layout;
    const section = document.createElement("section");
    section.className = "panel";
    section.dataset.panel = this.spec.id;
    section.dataset.kind = this.spec.kind;
    section.dataset.hasData = "false";
    section.style.setProperty("--span", String(clampWidth(this.spec.width)));
    const titleId = `panel-${this.spec.id}-title`;
    section.setAttribute("aria-labelledby", titleId);
    const header = element("header", "panel-header");
    const title = element("h2", "panel-title", this.spec.title);
    title.id = titleId;
    this.freshness = element("p", "freshness", "waiting for data");
    this.freshness.dataset.state = "waiting";
    header.append(title, this.freshness);
    this.body = element("div", "panel-body");
    section.append(header, this.body);
    this.element = section;
    // Rows that fit, big numbers that fit: a new size redraws (once a frame at most).
    let pending = 0;
    new ResizeObserver(() => {
      if (pending !== 0 || this.element.dataset.hasData !== "true") return;
      pending = requestAnimationFrame(() => {
        pending = 0;
        this.render(Date.now());
      });
    }).observe(this.body);
  }

  /** KPIs whose change makes this panel redraw. */
  get kpis(): string[] {
    return this.spec.kpis;
  }

  /** Fetches what the stream does not send (history). Called at start and after a reconnect. */
  async load(): Promise<void> {}

  /** Draws from what the store holds. */
  abstract render(now: number): void;

  /** Redraws charts whose colours come from the theme. */
  themeChanged(): void {
    this.render(Date.now());
  }

  /** When this panel's data last changed (ms since epoch), if it has any. */
  dataChangedAt(): number | undefined {
    let latest: number | undefined;
    for (const kpi of this.spec.kpis) {
      const at = this.store.changedAtOf(kpi);
      if (at !== undefined && (latest === undefined || at > latest)) latest = at;
    }
    return latest;
  }

  tick(now: number): void {
    if (this.element.dataset.hasData !== "true") return;
    const at = this.dataChangedAt();
    if (at === undefined) return;
    const live = Panel.connected && now - at < LIVE_MS;
    const text = live ? "live" : age(now - at);
    if (this.freshness.textContent !== text) this.freshness.textContent = text;
    this.freshness.dataset.state = live ? "live" : "stale";
    this.freshness.title = `data last changed ${this.formats.when(at)}`;
  }

  protected setHasData(hasData: boolean): void {
    const text = hasData ? "true" : "false";
    if (this.element.dataset.hasData !== text) {
      this.element.dataset.hasData = text;
      if (!hasData) {
        this.freshness.textContent = "waiting for data";
        this.freshness.dataset.state = "waiting";
      } else {
        this.tick(Date.now());
      }
    }
  }

  /** The window label this panel reads of its main KPI (the KPI's first when not named). */
  protected label(kpi = this.spec.kpis[0]): string | undefined {
    return this.spec.window ?? this.store.labels(kpi)[0];
  }

  protected level(value: number, thresholds = this.spec.thresholds): Level | undefined {
    return levelOf(value, thresholds);
  }

  /** A value's number: the value itself, or its `field` member (or `member`). */
  protected number(value: unknown, member = this.spec.field): number {
    return numberOf(value, member);
  }

  /** Rows of a window, empty when there is none. */
  protected values(window: HeldWindow | undefined): GroupValue[] {
    return window?.values ?? [];
  }
}

export function levelOf(value: number, thresholds: Threshold[] | null | undefined): Level | undefined {
  if (!thresholds || thresholds.length === 0 || !Number.isFinite(value)) return undefined;
  for (const threshold of thresholds) {
    if (threshold.above !== undefined && value > threshold.above) return threshold.level;
    if (threshold.below !== undefined && value < threshold.below) return threshold.level;
  }
  return "ok";
}

export function numberOf(value: unknown, member?: string | null): number {
  if (typeof value === "number") return value;
  if (typeof value === "string") return Number(value);
  if (value && typeof value === "object") {
    const record = value as Record<string, unknown>;
    if (member && member in record) return numberOf(record[member]);
    // An object value with one number in it (say {"mean": …, "sessions": …} has two: take the first).
    for (const inner of Object.values(record)) if (typeof inner === "number") return inner;
  }
  return Number.NaN;
}

export function element<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Sets an element's text only when it differs (no needless layout work). */
export function setText(node: Element, text: string): void {
  if (node.textContent !== text) node.textContent = text;
}

/**
 * The raw number for tests and scripts, beside the formatted one a person reads. Each panel
 * has exactly one `data-value` (its main or summary number); rows carry theirs in `data-raw`.
 */
export function setRaw(node: HTMLElement, value: number | undefined, attribute: "value" | "raw" = "value"): void {
  // Sums of decimals carry binary noise (2176150.2399999998): 15 significant digits are exact enough.
  const text = value === undefined || !Number.isFinite(value) ? "" : String(Number(value.toPrecision(15)));
  if (node.dataset[attribute] !== text) node.dataset[attribute] = text;
}

export function setLevel(node: HTMLElement, level: Level | undefined): void {
  if (level === undefined) delete node.dataset.level;
  else if (node.dataset.level !== level) node.dataset.level = level;
}

function clampWidth(width: number | null | undefined): number {
  if (!width || !Number.isFinite(width)) return 3;
  return Math.min(12, Math.max(1, Math.round(width)));
}

/** Tick steps for a count axis: whole numbers only. */
export const WHOLE_INCREMENTS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1e3, 2e3, 2500, 5e3, 1e4, 2e4, 25e3, 5e4, 1e5, 2e5, 25e4, 5e5, 1e6, 2e6, 5e6, 1e7, 2e7, 5e7, 1e8];

/** Reads a CSS custom property of the page (the theme's colours for charts). */
export function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

/**
 * Hides the rows of a list or table body that would be cut by the bottom of `frame`, so a
 * panel on a wall screen shows whole rows only (the first ones, which matter most).
 */
export function fitRows(frame: HTMLElement, rows: HTMLElement): void {
  const items = [...rows.children] as HTMLElement[];
  for (const item of items) item.hidden = false;
  const bottom = frame.getBoundingClientRect().bottom;
  for (const item of items) if (item.getBoundingClientRect().bottom > bottom + 0.5) item.hidden = true;
}

/** Shrinks a one-line text until it fits its box (big numbers in narrow panels). */
export function fitText(node: HTMLElement): void {
  node.style.removeProperty("font-size");
  const available = node.clientWidth;
  const needed = node.scrollWidth;
  if (available > 0 && needed > available) {
    const size = parseFloat(getComputedStyle(node).fontSize);
    node.style.fontSize = `${Math.floor(size * (available / needed) * 0.98)}px`;
  }
}
