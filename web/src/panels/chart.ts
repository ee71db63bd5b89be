// uPlot charts that follow the panel's size and the page's theme.

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { cssVar } from "./panel";

export type ChartOptions = (theme: ChartTheme) => Omit<uPlot.Options, "width" | "height">;

export interface ChartTheme {
  text: string;
  muted: string;
  grid: string;
  accent: string;
  accentSoft: string;
  series2: string;
}

function theme(): ChartTheme {
  return {
    text: cssVar("--text") || "#ddd",
    muted: cssVar("--muted") || "#999",
    grid: cssVar("--grid") || "#333",
    accent: cssVar("--accent") || "#4cc9f0",
    accentSoft: cssVar("--accent-soft") || "#4cc9f055",
    series2: cssVar("--series-2") || "#888",
  };
}

/** Axis styling shared by every chart. */
export function axis(chartTheme: ChartTheme, extra: Partial<uPlot.Axis> = {}): uPlot.Axis {
  return {
    stroke: chartTheme.muted,
    grid: { stroke: chartTheme.grid, width: 1 },
    ticks: { stroke: chartTheme.grid, width: 1, size: 4 },
    font: `${cssVar("--chart-font-size") || "11px"} ${cssVar("--font")}`,
    ...extra,
  };
}

/** A uPlot chart inside `host`, sized to it, rebuilt on theme changes. */
export class Chart {
  private plot: uPlot | undefined;
  private data: uPlot.AlignedData = [[]];
  private readonly observer: ResizeObserver;

  constructor(
    private readonly host: HTMLElement,
    private readonly options: ChartOptions,
    label: string,
  ) {
    // The canvas says nothing to a screen reader; the headline above it carries the number.
    host.setAttribute("role", "img");
    host.setAttribute("aria-label", label);
    this.observer = new ResizeObserver(() => this.resize());
    this.observer.observe(host);
  }

  setData(data: uPlot.AlignedData): void {
    this.data = data;
    if (!this.plot) this.build();
    else this.plot.setData(data);
  }

  rebuild(): void {
    this.plot?.destroy();
    this.plot = undefined;
    this.build();
  }

  private build(): void {
    const { width, height } = this.size();
    if (width === 0 || height === 0) return;
    this.plot = new uPlot({ ...this.options(theme()), width, height }, this.data, this.host);
  }

  private resize(): void {
    if (!this.plot) {
      if (this.data[0].length > 0) this.build();
      return;
    }
    const { width, height } = this.size();
    if (width > 0 && height > 0 && (width !== this.plot.width || height !== this.plot.height)) this.plot.setSize({ width, height });
  }

  private size(): { width: number; height: number } {
    return { width: Math.floor(this.host.clientWidth), height: Math.floor(this.host.clientHeight) };
  }
}

export { uPlot };
