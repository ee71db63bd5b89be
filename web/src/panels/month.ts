// kind "month_to_date": the main KPI's "day" windows from the start of last month (in the
// business time zone), summed by local date, drawn as cumulative this month vs last month by
// day of month. Today's window keeps updating from the stream.

import { fetchHistory, type HeldWindow } from "../api";
import { axis, Chart } from "./chart";
import { element, Panel, setRaw, setText, type PanelContext } from "./panel";

export class MonthToDatePanel extends Panel {
  private readonly headline = element("p", "headline");
  private readonly total = element("span", "headline-value");
  private readonly versus = element("span", "headline-caption");
  private readonly plotHost = element("div", "chart");
  private readonly chart: Chart;
  private loadedFrom = 0;

  constructor(context: PanelContext) {
    super(context);
    this.store.keepDayWindows(this.spec.kpis[0]);
    this.total.textContent = "—";
    this.headline.append(this.total, this.versus);
    const legend = element("p", "legend");
    const thisMonth = element("span");
    thisMonth.append(element("span", "swatch"), "this month");
    const lastMonth = element("span");
    lastMonth.append(element("span", "swatch dashed"), "last month");
    legend.append(thisMonth, lastMonth);
    this.body.append(this.headline, legend, this.plotHost);
    const format = (value: number) => this.formats.value(value, this.spec.format, true);
    this.chart = new Chart(this.plotHost, (theme) => ({
      legend: { show: false },
      cursor: { points: { show: false }, drag: { x: false, y: false } },
      padding: [8, 8, 0, 0],
      scales: { x: { time: false, range: [1, 31] }, y: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.05] } },
      axes: [axis(theme, { space: 28, values: (_u, ticks) => ticks.map((tick) => String(tick)) }), axis(theme, { size: 60, values: (_u, ticks) => ticks.map(format) })],
      series: [
        {},
        { label: "this month", stroke: theme.accent, width: 2.5, fill: theme.accentSoft, points: { show: false } },
        { label: "last month", stroke: theme.series2, width: 1.5, dash: [6, 4], points: { show: false } },
      ],
    }), `${this.spec.title}: chart`);
  }

  private monthStarts(now: number): { thisMonth: number; lastMonth: number; day: number; daysInLastMonth: number } {
    const local = this.formats.local(now);
    const lastYear = local.month === 1 ? local.year - 1 : local.year;
    const lastMonthNumber = local.month === 1 ? 12 : local.month - 1;
    return {
      thisMonth: this.formats.instant(local.year, local.month, 1),
      lastMonth: this.formats.instant(lastYear, lastMonthNumber, 1),
      day: local.day,
      daysInLastMonth: new Date(Date.UTC(local.year, local.month - 1, 0)).getUTCDate(),
    };
  }

  async load(): Promise<void> {
    const kpi = this.spec.kpis[0];
    const now = Date.now();
    const { lastMonth } = this.monthStarts(now);
    const windows = await fetchHistory(kpi, new Date(lastMonth), new Date(now));
    for (const window of windows) if (window.window === "day") this.store.putFromRequest(kpi, window);
    this.loadedFrom = lastMonth;
  }

  render(now: number): void {
    const kpi = this.spec.kpis[0];
    const { thisMonth, lastMonth, day, daysInLastMonth } = this.monthStarts(now);
    if (this.loadedFrom !== 0 && lastMonth > this.loadedFrom) this.loadedFrom = lastMonth;
    const thisByDay = new Array<number>(32).fill(0);
    const lastByDay = new Array<number>(32).fill(0);
    let seen = 0;
    for (const window of this.store.windows(kpi, "day")) {
      if (window.startMs < lastMonth || window.startMs > now) continue;
      const local = this.formats.local(window.startMs + 1);
      const target = window.startMs >= thisMonth ? thisByDay : lastByDay;
      target[local.day] += this.sum(window);
      seen += 1;
    }
    this.setHasData(seen > 0);
    if (seen === 0) return;
    const xs: number[] = [];
    const thisCumulative: (number | null)[] = [];
    const lastCumulative: (number | null)[] = [];
    let runningThis = 0;
    let runningLast = 0;
    for (let dayOfMonth = 1; dayOfMonth <= 31; dayOfMonth += 1) {
      xs.push(dayOfMonth);
      runningThis += thisByDay[dayOfMonth];
      runningLast += lastByDay[dayOfMonth];
      thisCumulative.push(dayOfMonth <= day ? runningThis : null);
      lastCumulative.push(dayOfMonth <= daysInLastMonth ? runningLast : null);
    }
    // Same days last month: whole days before today, plus today's elapsed share of the same day.
    const local = this.formats.local(now);
    const elapsed = (local.hour * 3600 + local.minute * 60 + local.second) / 86400;
    let sameDaysLast = 0;
    for (let dayOfMonth = 1; dayOfMonth < day && dayOfMonth <= daysInLastMonth; dayOfMonth += 1) sameDaysLast += lastByDay[dayOfMonth];
    if (day <= daysInLastMonth) sameDaysLast += lastByDay[day] * elapsed;
    setText(this.total, this.formats.value(runningThis, this.spec.format));
    setRaw(this.total, runningThis);
    const change = sameDaysLast > 0 ? ` (${this.formats.change(runningThis / sameDaysLast - 1)})` : "";
    setText(this.versus, ` vs ${this.formats.value(sameDaysLast, this.spec.format, true)} same days last month${change}`);
    this.versus.dataset.trend = sameDaysLast > 0 ? (runningThis >= sameDaysLast ? "up" : "down") : "flat";
    this.chart.setData([xs, thisCumulative, lastCumulative]);
  }

  private sum(window: HeldWindow): number {
    let total = 0;
    for (const row of window.values) {
      const value = this.number(row.value);
      if (Number.isFinite(value)) total += value;
    }
    return total;
  }

  themeChanged(): void {
    this.chart.rebuild();
  }
}
