// The shapes the server answers (see the API contract) and the few requests the page makes.

export type Level = "ok" | "warning" | "critical";
export type Format = "money" | "count" | "percent" | "ms" | "number";

export interface Threshold {
  above?: number;
  below?: number;
  level: Level;
}

export interface PanelSpec {
  id: string;
  title: string;
  kind: string;
  kpis: string[];
  window?: string | null;
  field?: string | null;
  format?: Format | null;
  steps?: string[] | null;
  limit?: number | null;
  span?: string | null;
  /** `span` in seconds, as the server worked it out. */
  span_seconds?: number | null;
  row?: string;
  width?: number | null;
  thresholds?: Threshold[] | null;
}

export interface Layout {
  title: string;
  time_zone: string;
  currency: string;
  /** Whether the server evaluates alert rules (GET /v1/alerts answers); absent: try. */
  alerting?: boolean;
  rows: { name: string; panels: PanelSpec[] }[];
}

export interface Compare {
  from: string;
  to: string;
  value: number;
  change: number | null;
}

export interface GroupValue {
  group: Record<string, string>;
  value: unknown;
  compare?: Compare;
}

/** One window of one KPI as the server sends it. */
export interface WindowData {
  window: string;
  start: string;
  end: string;
  final: boolean;
  values: GroupValue[];
}

/**
 * A window as the stream sends it. A window of many groups is sent whole once, then as the
 * groups that changed (`partial`), with `removed` naming groups gone from it.
 */
export interface WindowFrame extends WindowData {
  partial?: boolean;
  removed?: Record<string, string>[];
}

/** A window held by the page: the server's, with its times parsed once. */
export interface HeldWindow extends WindowData {
  startMs: number;
  endMs: number;
}

export interface KpiDefinition {
  name: string;
  description?: string;
  windows: string[];
  current: WindowData[];
}

export interface Alert {
  id: string;
  rule: string;
  /** pending | firing | acknowledged | resolved (the server may add normal, nodata). */
  state: string;
  severity: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  value?: number | null;
  started_at?: string | null;
  firing_since?: string | null;
  assignee?: string | null;
  acknowledged_by?: string | null;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly url: string,
  ) {
    super(`GET ${url} answered ${status}`);
  }
}

export async function getJson<T>(url: string, signal?: AbortSignal): Promise<T> {
  const response = await fetch(url, { headers: { accept: "application/json" }, signal });
  if (!response.ok) throw new HttpError(response.status, url);
  return (await response.json()) as T;
}

export function fetchLayout(): Promise<Layout> {
  return getJson<Layout>("/v1/dashboard");
}

export async function fetchKpis(): Promise<KpiDefinition[]> {
  const answer = await getJson<{ kpis: KpiDefinition[] }>("/v1/kpis");
  return answer.kpis;
}

/** Windows of every label of `name` overlapping [from, to), oldest first. */
export async function fetchHistory(name: string, from: Date, to: Date): Promise<WindowData[]> {
  const query = `from=${encodeURIComponent(from.toISOString())}&to=${encodeURIComponent(to.toISOString())}`;
  const answer = await getJson<{ windows: WindowData[] }>(`/v1/kpis/${encodeURIComponent(name)}?${query}`);
  return answer.windows;
}

/** Alerts, or null while the server has no alerting (GET /v1/alerts answers 404). */
export async function fetchAlerts(): Promise<Alert[] | null> {
  try {
    const answer = await getJson<{ alerts: Alert[] }>("/v1/alerts");
    return answer.alerts ?? [];
  } catch (error) {
    if (error instanceof HttpError && error.status === 404) return null;
    throw error;
  }
}

/** "24h", "90m", "7d", "30s" → milliseconds (NaN when unreadable). */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/.exec(text.trim());
  if (!match) return Number.NaN;
  const unit = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 604800e3 }[match[2] as "ms"];
  return Number(match[1]) * unit;
}
