// kind "number": one big figure from the current window of the main KPI (summed over groups
// when the KPI is grouped), coloured by thresholds, with the comparison the server computed
// (revenue_today's same weekday last week) and a sparkline of the recent windows.

import type { HeldWindow } from "../api";
import { element, fitText, Panel, setLevel, setRaw, setText, type PanelContext } from "./panel";

const SPARK_POINTS = 30;
/** A tumbling window's label ("1m", "1h"); sliding ones have a "/" and calendar ones a name. */
const TUMBLING = /^(\d+)(s|m|h)$/;
const UNIT_NAMES: Record<string, string> = { s: "second", m: "minute", h: "hour" };

export class NumberPanel extends Panel {
  private readonly value = element("p", "big-number");
  private readonly compare = element("p", "compare");
  private readonly spark = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  private readonly sparkPath = document.createElementNS("http://www.w3.org/2000/svg", "path");

  constructor(context: PanelContext) {
    super(context);
    this.value.textContent = "—";
    this.compare.textContent = "\u00a0";
    this.spark.classList.add("spark");
    this.spark.setAttribute("viewBox", "0 0 100 24");
    this.spark.setAttribute("preserveAspectRatio", "none");
    this.spark.setAttribute("aria-hidden", "true");
    this.spark.append(this.sparkPath);
    this.body.append(this.value, this.compare, this.spark);
    new ResizeObserver(() => fitText(this.value)).observe(this.body);
  }

  render(now: number): void {
    const kpi = this.spec.kpis[0];
    const label = this.label();
    const running = this.store.current(kpi, label, now);
    // "Orders per minute" from the minute that just started would read 0, 1, 2 … 10 and
    // drop back every minute: a sawtooth on a wall screen. A tumbling window shows the
    // last complete one, exact, with the running one beside it, live.
    const complete = running ? this.lastComplete(kpi, label, running) : undefined;
    const current = complete ?? running;
    const rows = this.values(current);
    if (!current || rows.length === 0) {
      // A window with no rows in it is a real zero for counts; with no window at all there is nothing to say.
      this.setHasData(current !== undefined);
      setText(this.value, current ? this.formats.value(0, this.spec.format) : "—");
      setRaw(this.value, current ? 0 : undefined);
      setLevel(this.value, current ? this.level(0) : undefined);
      return;
    }
    const total = this.total(current);
    const text = this.formats.value(total, this.spec.format);
    if (text.length !== this.value.textContent?.length) {
      setText(this.value, text);
      fitText(this.value);
    } else {
      setText(this.value, text);
    }
    setRaw(this.value, total);
    setLevel(this.value, this.level(total));
    this.setHasData(true);
    if (complete && running) {
      this.renderRunning(complete, running, label ?? "");
    } else {
      this.renderCompare(current);
    }
    this.renderSpark(kpi, label, current);
  }

  /** The complete window just before `running`, for a tumbling window label. */
  private lastComplete(kpi: string, label: string | undefined, running: HeldWindow): HeldWindow | undefined {
    if (!label || !TUMBLING.test(label)) return undefined;
    return this.store.windows(kpi, label).find((window) => window.endMs === running.startMs);
  }

  private renderRunning(complete: HeldWindow, running: HeldWindow, label: string): void {
    const unit = UNIT_NAMES[TUMBLING.exec(label)?.[2] ?? ""] ?? "window";
    const since = this.formats.clock(complete.startMs);
    const soFar = this.formats.value(this.total(running), this.spec.format);
    setText(this.compare, `in the ${unit} from ${since} · ${soFar} so far this ${unit}`);
    this.compare.dataset.trend = "flat";
  }

  private total(window: HeldWindow): number {
    let total = 0;
    for (const row of window.values) {
      const value = this.number(row.value);
      if (Number.isFinite(value)) total += value;
    }
    return total;
  }

  private renderCompare(window: HeldWindow): void {
    const compare = window.values.length === 1 ? window.values[0].compare : undefined;
    if (!compare) {
      setText(this.compare, "\u00a0");
      delete this.compare.dataset.trend;
      return;
    }
    const day = this.formats.weekdayOf(Date.parse(compare.from));
    const before = this.formats.value(compare.value, this.spec.format);
    const change = compare.change === null ? "" : ` (${this.formats.change(compare.change)})`;
    setText(this.compare, `vs last ${day} same time: ${before}${change}`);
    this.compare.dataset.trend = compare.change === null ? "flat" : compare.change >= 0 ? "up" : "down";
  }

  private renderSpark(kpi: string, label: string | undefined, current: HeldWindow): void {
    const points = this.store
      .windows(kpi, label)
      .filter((window) => window.endMs <= current.endMs)
      .slice(-SPARK_POINTS)
      .map((window) => this.total(window));
    if (points.length < 3) {
      this.sparkPath.setAttribute("d", "");
      return;
    }
    const max = Math.max(...points);
    const min = Math.min(...points);
    const spread = max - min || 1;
    const step = 100 / (SPARK_POINTS - 1);
    const offset = (SPARK_POINTS - points.length) * step;
    const path = points
      .map((value, index) => `${index === 0 ? "M" : "L"}${(offset + index * step).toFixed(2)},${(22 - ((value - min) / spread) * 20).toFixed(2)}`)
      .join("");
    this.sparkPath.setAttribute("d", path);
  }
}
