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
  acknowledged_at?: string | null;
  resolved_at?: string | null;
  threshold?: number | null;
  baseline?: number | null;
  incident?: string | number | null;
  /** Ids of the silences that mute it now (empty: not silenced). */
  silenced_by?: string[] | null;
  inhibited?: boolean | null;
}

/** How loud a rule's severity shows (the alert panel, the tuning report). */
export const LEVEL_BY_SEVERITY: Record<string, Level> = { critical: "critical", high: "critical", medium: "warning", low: "ok" };

/** A change of an alert's state, as its history (GET /v1/alerts/{id}) lists it. */
export interface AlertTransition {
  at: string;
  event: "transition";
  from: string;
  to: string;
  /** evaluation | acknowledged | ack_expired | assigned | resolved_by_hand | rule_removed */
  cause: string;
  by?: string | null;
  assignee?: string | null;
  incident?: number | null;
  value?: number | null;
  threshold?: number | null;
  baseline?: number | null;
}

/** One step of a notification about an alert: queued, or an attempt's outcome. */
export interface AlertNotification {
  at: string;
  event: "notification";
  notification: number;
  receiver: string;
  /** firing | resolved | repeat | escalation | ack_expired */
  kind: string;
  /** queued | delivered | failed | gave_up (a queued one has no attempt yet). */
  outcome: string;
  attempt?: number | null;
  error?: string | null;
  retry_at?: string | null;
}

export type AlertHistoryEntry = AlertTransition | AlertNotification;

export interface AlertWithHistory extends Alert {
  /** Oldest first. */
  history: AlertHistoryEntry[];
}

export interface Silence {
  id: string;
  /** Alertmanager matchers: `name=value`, `name=~regex`, `name!=value`, `name!~regex`. */
  matchers: string[];
  starts_at: string;
  ends_at: string;
  comment?: string;
  created_by?: string;
  /** pending | active | expired */
  status: string;
}

export interface RuleReport {
  rule: string;
  severity?: string | null;
  fired: number;
  acknowledged: number;
  resolved_by_hand: number;
  auto_resolved: number;
  median_time_to_ack_seconds?: number | null;
  share_acted_on?: number | null;
  share_auto_resolved?: number | null;
  never_acted_on: boolean;
  advice?: string | null;
}

export interface AlertReport {
  since: string;
  until: string;
  rules: RuleReport[];
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly url: string,
    readonly method = "GET",
    /** The server's own words (its `error` member), when it gave any. */
    readonly detail = "",
  ) {
    super(`${method} ${url} answered ${status}${detail ? `: ${detail}` : ""}`);
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

/** One alert with its history; 404 (an HttpError) when the server does not know it. */
export async function fetchAlertWithHistory(id: string): Promise<AlertWithHistory> {
  const answer = await getJson<AlertWithHistory>(`/v1/alerts/${encodeURIComponent(id)}`);
  return { ...answer, history: answer.history ?? [] };
}

/** The server's error text of a failed answer (`{"error": …}`), or "". */
async function errorDetail(response: Response): Promise<string> {
  try {
    const body = (await response.json()) as { error?: unknown; message?: unknown };
    const text = body.error ?? body.message;
    return typeof text === "string" ? text : text ? JSON.stringify(text) : "";
  } catch {
    return "";
  }
}

/** A request with a JSON body (or none); answers the JSON the server sends back. */
async function sendJson<T>(method: "POST" | "DELETE", url: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method, headers: { accept: "application/json" } };
  if (body !== undefined) {
    init.headers = { accept: "application/json", "content-type": "application/json" };
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  if (!response.ok) throw new HttpError(response.status, url, method, await errorDetail(response));
  return (await response.json()) as T;
}

const alertUrl = (id: string, action: string) => `/v1/alerts/${encodeURIComponent(id)}/${action}`;

/** Acknowledges a firing alert (409 when it is not firing); answers the alert as it now stands. */
export function ackAlert(id: string, by: string): Promise<Alert> {
  return sendJson<Alert>("POST", alertUrl(id, "ack"), { by });
}

export function assignAlert(id: string, assignee: string, by: string): Promise<Alert> {
  return sendJson<Alert>("POST", alertUrl(id, "assign"), { assignee, by });
}

/** Resolves an alert by hand; it fires again (a new incident) if its condition still holds. */
export function resolveAlert(id: string, by: string): Promise<Alert> {
  return sendJson<Alert>("POST", alertUrl(id, "resolve"), { by });
}

export async function fetchSilences(): Promise<Silence[]> {
  const answer = await getJson<{ silences: Silence[] }>("/v1/silences");
  return answer.silences ?? [];
}

export function createSilence(request: { matchers: string[]; ends_at: string; comment: string; created_by: string }): Promise<Silence> {
  return sendJson<Silence>("POST", "/v1/silences", request);
}

/** Ends a silence now; answers it, expired. */
export function expireSilence(id: string): Promise<Silence> {
  return sendJson<Silence>("DELETE", `/v1/silences/${encodeURIComponent(id)}`);
}

/** The alert tuning report over the last `since` (e.g. "30d"). */
export function fetchAlertReport(since: string, signal?: AbortSignal): Promise<AlertReport> {
  return getJson<AlertReport>(`/v1/alerts/report?since=${encodeURIComponent(since)}`, signal);
}

/** "24h", "90m", "7d", "30s" → milliseconds (NaN when unreadable). */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/.exec(text.trim());
  if (!match) return Number.NaN;
  const unit = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 604800e3 }[match[2] as "ms"];
  return Number(match[1]) * unit;
}
