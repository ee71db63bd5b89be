// kind "alerts": the server's alerts (GET /v1/alerts), polled. While the server has no
// alerting (404) the panel says so calmly; that is a known state, so it counts as data.

import { fetchAlerts, type Alert } from "../api";
import { element, Panel, setLevel, setRaw, setText, type PanelContext } from "./panel";

const POLL_MS = 15_000;
const LEVEL_BY_SEVERITY: Record<string, "ok" | "warning" | "critical"> = { critical: "critical", high: "critical", medium: "warning", low: "ok" };
const SEVERITY_ORDER = ["critical", "high", "medium", "low"];
/** States a person should see; resolved (and normal) ones are history. */
const OPEN_STATES = new Set(["pending", "firing", "acknowledged", "nodata"]);

function rank(severity: string): number {
  const index = SEVERITY_ORDER.indexOf(severity);
  return index === -1 ? SEVERITY_ORDER.length : index;
}

/** When the alert opened (ms), NaN when the server does not say. */
function openedAt(alert: Alert): number {
  return Date.parse(alert.started_at ?? alert.firing_since ?? "");
}

export class AlertsPanel extends Panel {
  private readonly headline = element("p", "headline");
  private readonly count = element("span", "headline-value");
  private readonly caption = element("span", "headline-caption");
  private readonly list = element("ul", "alerts");
  private readonly calm = element("p", "empty calm");
  private alerts: Alert[] | null | undefined;
  private changedAt: number | undefined;
  private lastText = "";
  private timer: number | undefined;

  constructor(context: PanelContext) {
    super(context);
    this.count.textContent = "—";
    this.headline.append(this.count, this.caption);
    this.calm.hidden = true;
    this.body.append(this.headline, this.list, this.calm);
  }

  async load(): Promise<void> {
    window.clearTimeout(this.timer);
    if (this.layout.alerting === false) {
      // The server says it has no alerting: nothing to poll (and no 404 every 15 s).
      this.alerts = null;
      this.changedAt ??= Date.now();
      this.render(Date.now());
      return;
    }
    try {
      const alerts = await fetchAlerts();
      const text = JSON.stringify(alerts);
      if (text !== this.lastText || this.changedAt === undefined) {
        this.lastText = text;
        this.alerts = alerts;
        this.changedAt = Date.now();
      }
      this.render(Date.now());
    } finally {
      this.timer = window.setTimeout(() => void this.load().catch(() => {}), POLL_MS);
    }
  }

  dataChangedAt(): number | undefined {
    return this.changedAt;
  }

  render(_now: number): void {
    if (this.alerts === undefined) return;
    if (this.alerts === null) {
      setText(this.count, "0");
      setText(this.caption, " alerts");
      setRaw(this.count, 0);
      this.list.replaceChildren();
      this.calm.hidden = false;
      setText(this.calm, "No alerting configured yet. Alert rules will show up here with their severity, when they opened and who is on them.");
      this.setHasData(true);
      return;
    }
    const open = this.alerts
      .filter((alert) => OPEN_STATES.has(alert.state))
      .sort((a, b) => rank(a.severity) - rank(b.severity) || openedAt(b) - openedAt(a));
    setText(this.count, this.formats.value(open.length, "count"));
    setText(this.caption, open.length === 1 ? " open alert" : " open alerts");
    setRaw(this.count, open.length);
    setLevel(this.count, open.some((alert) => LEVEL_BY_SEVERITY[alert.severity] === "critical") ? "critical" : open.length > 0 ? "warning" : "ok");
    this.calm.hidden = open.length > 0;
    setText(this.calm, "All clear: no open alerts.");
    this.list.replaceChildren(
      ...open.map((alert) => {
        const item = element("li", "alert");
        setLevel(item, LEVEL_BY_SEVERITY[alert.severity] ?? "warning");
        item.dataset.state = alert.state;
        const severity = element("span", "severity", alert.severity);
        const labels = Object.values(alert.labels ?? {}).join(" · ");
        const rule = element("span", "rule", labels ? `${alert.rule} · ${labels}` : alert.rule);
        rule.title = alert.annotations?.summary ?? alert.annotations?.description ?? rule.textContent ?? "";
        const at = openedAt(alert);
        const opened = element("time", "opened", Number.isFinite(at) ? `opened ${this.formats.when(at)}` : "");
        if (Number.isFinite(at)) opened.dateTime = new Date(at).toISOString();
        const owner = alert.assignee || alert.acknowledged_by;
        const who = element("span", "assignee", owner ? owner : "unassigned");
        const state = element("span", "alert-state", alert.state);
        item.append(severity, rule, state, opened, who);
        return item;
      }),
    );
    this.setHasData(true);
  }
}
