// kind "number": one big figure from the current window of the main KPI (summed over groups
// when the KPI is grouped), coloured by thresholds, with the comparison the server computed
// (revenue_today's same weekday last week) and a sparkline of the recent windows.

import type { HeldWindow } from "../api";
import { element, fitText, Panel, setLevel, setRaw, setText, type PanelContext } from "./panel";

const SPARK_POINTS = 30;

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
    const current = this.store.current(kpi, label, now);
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
    this.renderCompare(current);
    this.renderSpark(kpi, label, current);
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
