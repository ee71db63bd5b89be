// What the page holds: windows keyed by (KPI, window label, start), replaced whole when the
// server sends them again. Tracks per KPI when its data last changed (for freshness) and which
// KPIs changed since the last render (so a frame only redraws the panels that read them).

import type { GroupValue, HeldWindow, WindowData, WindowFrame } from "./api";

/** How far back a `snapshot` re-sends windows; older ones (fetched history) survive a snapshot. */
const SNAPSHOT_HORIZON_MS = 23 * 3600e3;
/** Windows kept per KPI and label (older ones are pruned). */
const KEEP_WINDOWS = 400;

interface Held extends HeldWindow {
  generation: number;
  text: string;
  /** Sent by the stream (so newer than any answer to a request that crossed it). */
  fromStream: boolean;
}

export class Store {
  private readonly byKpi = new Map<string, Map<string, Held>>();
  private readonly changedAt = new Map<string, number>();
  private readonly labelsByKpi = new Map<string, string[]>();
  private dirty = new Set<string>();
  private generation = 0;
  private snapshotKpis: string[] = [];
  private sweepTimer: number | undefined;
  private readonly keepDays = new Set<string>();
  private readonly keepSpans = new Map<string, number>();
  onChange: () => void = () => {};

  setLabels(kpi: string, labels: string[]): void {
    this.labelsByKpi.set(kpi, labels);
    this.markDirty(kpi);
  }

  /** The KPI's window labels as /v1/kpis lists them (first = default), else those seen so far. */
  labels(kpi: string): string[] {
    const known = this.labelsByKpi.get(kpi);
    if (known && known.length > 0) return known;
    const seen = new Set<string>();
    for (const held of this.byKpi.get(kpi)?.values() ?? []) seen.add(held.window);
    return [...seen];
  }

  /** Keeps this KPI's "day" windows however old (a month chart reads them). */
  keepDayWindows(kpi: string): void {
    this.keepDays.add(kpi);
  }

  /** Keeps the windows of this KPI and label that ended within `spanMs` (a bars panel's span). */
  keepSpan(kpi: string, label: string, spanMs: number): void {
    const key = `${kpi}|${label}`;
    this.keepSpans.set(key, Math.max(spanMs, this.keepSpans.get(key) ?? 0));
  }

  /**
   * A `snapshot` event: the server now re-sends the windows it holds for these KPIs. Open
   * (non-final) windows of the last day that it does not re-send are gone (a restart, a gap),
   * so once the burst is over they are swept. Final windows are settled history (the server
   * re-sends only what it keeps in memory) and stay.
   */
  beginSnapshot(kpis: string[]): void {
    this.generation += 1;
    this.snapshotKpis = kpis;
    this.scheduleSweep();
  }

  /**
   * A window from the stream. `isNews` is false for the replay right after a snapshot (what
   * the server holds, not a change seen now), which only matters for freshness.
   */
  putFromStream(kpi: string, frame: WindowFrame, isNews: boolean): void {
    this.put(kpi, frame, isNews ? "news" : "stream");
  }

  /**
   * A window read over HTTP (GET /v1/kpis, history). The request may have been answered
   * before the stream sent a newer copy, so it replaces a window the stream sent only to
   * settle it (final).
   */
  putFromRequest(kpi: string, window: WindowData): void {
    this.put(kpi, window, "request");
  }

  private put(kpi: string, frame: WindowFrame, origin: "news" | "stream" | "request"): void {
    let windows = this.byKpi.get(kpi);
    if (!windows) {
      windows = new Map();
      this.byKpi.set(kpi, windows);
    }
    const key = `${frame.window}|${frame.start}`;
    const previous = windows.get(key);
    // A final window is settled, so one read over HTTP may still replace an open one the
    // stream sent before a disconnect.
    if (origin === "request" && previous?.fromStream && !(frame.final && !previous.final)) return;
    const values = frame.partial ? applyChanges(previous?.values ?? [], frame) : frame.values;
    const text = JSON.stringify(values);
    const startMs = Date.parse(frame.start);
    const endMs = Date.parse(frame.end);
    const data = { window: frame.window, start: frame.start, end: frame.end, final: frame.final, values };
    const fromStream = origin !== "request";
    windows.set(key, { ...data, startMs, endMs, generation: this.generation, text, fromStream });
    if (previous && previous.text === text && previous.final === data.final) return;
    // Freshness: a change seen live is "now"; anything else is as fresh as its window's end.
    const at = origin === "news" ? Date.now() : Math.min(Date.now(), endMs);
    this.changedAt.set(kpi, Math.max(this.changedAt.get(kpi) ?? 0, at));
    this.markDirty(kpi);
    if (fromStream && this.sweepTimer !== undefined) this.scheduleSweep();
  }

  /** Windows of `kpi` (of one label if given), oldest first. */
  windows(kpi: string, label?: string): HeldWindow[] {
    const held = this.byKpi.get(kpi);
    if (!held) return [];
    const list: HeldWindow[] = [];
    for (const window of held.values()) if (label === undefined || window.window === label) list.push(window);
    return list.sort((a, b) => a.startMs - b.startMs);
  }

  /**
   * The window showing the KPI "now": of those containing now, the one that ends first (for a
   * sliding "1h/1m" that is the one covering the last hour; tumbling and "current" windows have
   * only one). When none contains now (no events lately), the latest one, so the panel still
   * shows the last known value and its freshness tells how old it is.
   */
  current(kpi: string, label: string | undefined, now = Date.now()): HeldWindow | undefined {
    const chosen = label ?? this.labels(kpi)[0];
    let containing: HeldWindow | undefined;
    let latest: HeldWindow | undefined;
    for (const window of this.byKpi.get(kpi)?.values() ?? []) {
      if (chosen !== undefined && window.window !== chosen) continue;
      if (window.startMs <= now && now < window.endMs) {
        if (!containing || window.startMs < containing.startMs) containing = window;
      }
      if (window.startMs <= now && (!latest || window.startMs > latest.startMs)) latest = window;
    }
    return containing ?? latest;
  }

  changedAtOf(kpi: string): number | undefined {
    return this.changedAt.get(kpi);
  }

  markDirty(kpi: string): void {
    this.dirty.add(kpi);
    this.onChange();
  }

  /** KPIs changed since the last call. */
  takeDirty(): Set<string> {
    const dirty = this.dirty;
    this.dirty = new Set();
    return dirty;
  }

  /**
   * Drops windows no panel can show any more, so a long-running wall screen stays small:
   * per KPI and label the newest KEEP_WINDOWS (a sparkline of sliding windows), those a
   * bars panel's span reaches, and every "day" window of a KPI a month chart reads.
   */
  prune(now = Date.now()): void {
    for (const [kpi, windows] of this.byKpi) {
      const byLabel = new Map<string, [string, Held][]>();
      for (const entry of windows) {
        const list = byLabel.get(entry[1].window) ?? [];
        list.push(entry);
        byLabel.set(entry[1].window, list);
      }
      for (const [label, entries] of byLabel) {
        if (entries.length <= KEEP_WINDOWS) continue;
        if (label === "day" && this.keepDays.has(kpi)) continue;
        const span = this.keepSpans.get(`${kpi}|${label}`) ?? 0;
        entries.sort((a, b) => a[1].startMs - b[1].startMs);
        for (const [key, window] of entries.slice(0, entries.length - KEEP_WINDOWS)) {
          if (window.endMs < now - span) windows.delete(key);
        }
      }
    }
  }

  private scheduleSweep(): void {
    window.clearTimeout(this.sweepTimer);
    // The snapshot burst arrives within a second or two; sweep once it has been quiet a while.
    this.sweepTimer = window.setTimeout(() => this.sweep(), 2500);
  }

  private sweep(): void {
    this.sweepTimer = undefined;
    const horizon = Date.now() - SNAPSHOT_HORIZON_MS;
    for (const kpi of this.snapshotKpis) {
      const windows = this.byKpi.get(kpi);
      if (!windows) continue;
      let removed = false;
      for (const [key, window] of windows) {
        if (window.generation < this.generation && !window.final && window.endMs > horizon) {
          windows.delete(key);
          removed = true;
        }
      }
      if (removed) this.markDirty(kpi);
    }
  }
}

/**
 * A partial frame applied to the groups held: removed groups go, changed ones replace
 * theirs, new ones join. The server sends partial frames only after the whole window, in
 * order, so this rebuilds the window exactly.
 */
function applyChanges(held: GroupValue[], frame: WindowFrame): GroupValue[] {
  const byGroup = new Map<string, GroupValue>();
  for (const value of held) byGroup.set(groupKey(value.group), value);
  for (const group of frame.removed ?? []) byGroup.delete(groupKey(group));
  for (const value of frame.values) byGroup.set(groupKey(value.group), value);
  return [...byGroup.values()];
}

function groupKey(group: Record<string, string>): string {
  return JSON.stringify(Object.entries(group).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
