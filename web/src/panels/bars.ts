// kind "bars": one bar per window of the main KPI over the last `span` (history from
// GET /v1/kpis/{name}), the current window growing live from the stream in the accent colour.

import { fetchHistory, parseDuration } from "../api";
import { axis, Chart, uPlot } from "./chart";
import { element, Panel, WHOLE_INCREMENTS, setLevel, setRaw, setText, type PanelContext } from "./panel";

export class BarsPanel extends Panel {
  private readonly headline = element("p", "headline");
  private readonly current = element("span", "headline-value");
  private readonly caption = element("span", "headline-caption");
  private readonly chart: Chart;
  private readonly plotHost = element("div", "chart");
  /** The span shown, in uPlot's seconds, so a short history still sits at the right end. */
  private xRange: [number, number] = [0, 1];

  constructor(context: PanelContext) {
    super(context);
    this.current.textContent = "—";
    this.headline.append(this.current, this.caption);
    this.body.append(this.headline, this.plotHost);
    const timeZone = this.formats.timeZone;
    const format = (value: number) => this.formats.value(value, this.spec.format, true);
    this.chart = new Chart(this.plotHost, (theme) => ({
      tzDate: (seconds) => uPlot.tzDate(new Date(seconds * 1e3), timeZone),
      legend: { show: false },
      cursor: { show: true, points: { show: false }, drag: { x: false, y: false } },
      padding: [8, 8, 0, 0],
      scales: { x: { time: true, range: () => this.xRange }, y: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.08] } },
      axes: [axis(theme, { space: 60 }), axis(theme, { size: 52, values: (_u, ticks) => ticks.map(format), ...(this.spec.format === "count" ? { incrs: WHOLE_INCREMENTS } : {}) })],
      series: [
        {},
        { label: this.spec.title, fill: theme.accentSoft, stroke: theme.accentSoft, paths: uPlot.paths.bars!({ size: [0.8, 40], align: 1 }), points: { show: false } },
        { label: "now", fill: theme.accent, stroke: theme.accent, paths: uPlot.paths.bars!({ size: [0.8, 40], align: 1 }), points: { show: false } },
      ],
    }), `${this.spec.title}: chart`);
  }

  private spanMs(): number {
    if (this.spec.span_seconds && this.spec.span_seconds > 0) return this.spec.span_seconds * 1000;
    const span = parseDuration(this.spec.span ?? "24h");
    return Number.isFinite(span) ? span : 24 * 3600e3;
  }

  async load(): Promise<void> {
    const kpi = this.spec.kpis[0];
    const now = Date.now();
    const keep = this.label();
    if (keep !== undefined) this.store.keepSpan(kpi, keep, this.spanMs());
    const windows = await fetchHistory(kpi, new Date(now - this.spanMs()), new Date(now));
    const label = this.label();
    for (const window of windows) if (label === undefined || window.window === label) this.store.putFromRequest(kpi, window);
  }

  render(now: number): void {
    const kpi = this.spec.kpis[0];
    const label = this.label();
    const from = now - this.spanMs();
    const windows = this.store.windows(kpi, label).filter((window) => window.endMs > from && window.startMs <= now);
    const current = this.store.current(kpi, label, now);
    const xs: number[] = [];
    const past: (number | null)[] = [];
    const live: (number | null)[] = [];
    let currentValue: number | undefined;
    for (const window of windows) {
      let total = 0;
      for (const row of window.values) {
        const value = this.number(row.value);
        if (Number.isFinite(value)) total += value;
      }
      xs.push(window.startMs / 1000);
      const isCurrent = current !== undefined && window.startMs === current.startMs;
      past.push(isCurrent ? null : total);
      live.push(isCurrent ? total : null);
      if (isCurrent) currentValue = total;
    }
    this.setHasData(windows.length > 0);
    if (windows.length === 0) return;
    if (currentValue === undefined) {
      currentValue = past[past.length - 1] ?? 0;
    }
    setText(this.current, this.formats.value(currentValue, this.spec.format));
    setRaw(this.current, currentValue);
    setLevel(this.current, this.level(currentValue));
    const since = current && current.startMs <= now && now < current.endMs ? `since ${this.formats.clock(current.startMs)}` : "latest";
    setText(this.caption, ` ${since}`);
    const step = windows.length > 0 ? windows[windows.length - 1].endMs - windows[windows.length - 1].startMs : 3600e3;
    this.xRange = [from / 1000, (now + step) / 1000];
    this.chart.setData([xs, past, live]);
  }

  themeChanged(): void {
    this.chart.rebuild();
  }
}
