// The alert tuning report (`?view=report`): per rule, how often it fired, how fast people
// acknowledged it, how much of it anyone acted on and how much went away by itself, with the
// server's advice. Rules nobody ever acted on come first (the server's order) and are flagged.

import { fetchAlertReport, HttpError, LEVEL_BY_SEVERITY, type AlertReport, type Layout, type RuleReport } from "./api";
import type { Formats } from "./format";
import { element, setLevel, setRaw } from "./panels/panel";

const SINCE_CHOICES = ["7d", "30d", "90d"];
const SINCE_NAMES: Record<string, string> = { "7d": "7 days", "30d": "30 days", "90d": "90 days" };

/** 45 → "45 s", 200 → "3 min 20 s", 5400 → "1 h 30 min", 200000 → "2 d 7 h". */
function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return s % 60 === 0 || s >= 600 ? `${Math.round(s / 60)} min` : `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86_400) {
    const minutes = Math.round((s % 3600) / 60);
    return minutes === 0 ? `${Math.floor(s / 3600)} h` : `${Math.floor(s / 3600)} h ${minutes} min`;
  }
  const hours = Math.round((s % 86_400) / 3600);
  return hours === 0 ? `${Math.floor(s / 86_400)} d` : `${Math.floor(s / 86_400)} d ${hours} h`;
}

/** This page in another view, keeping only the pinned theme (no kiosk, no report range). */
export function viewHref(view: "dashboard" | "report"): string {
  const params = new URLSearchParams();
  const theme = new URLSearchParams(location.search).get("theme");
  if (theme) params.set("theme", theme);
  if (view === "report") params.set("view", "report");
  return params.size ? `${location.pathname}?${params}` : location.pathname;
}

function cell(text: string, className?: string, raw?: number | null): HTMLTableCellElement {
  const node = element("td", className, text);
  if (raw !== undefined && raw !== null && Number.isFinite(raw)) setRaw(node, raw, "raw");
  return node;
}

export class ReportView {
  readonly element = element("section", "report");
  private readonly range = element("p", "report-range");
  private readonly select = element("select", "report-since");
  private readonly status = element("p", "report-status");
  private readonly table = element("table", "report-table");
  private readonly rows = element("tbody");
  private since: string;
  private request: AbortController | undefined;

  constructor(
    private readonly layout: Layout,
    private readonly formats: Formats,
  ) {
    const wanted = new URLSearchParams(location.search).get("since") ?? "30d";
    this.since = SINCE_CHOICES.includes(wanted) ? wanted : "30d";
    this.element.setAttribute("aria-labelledby", "report-title");
    const head = element("header", "report-header");
    const title = element("h2", "report-title", "Alert tuning report");
    title.id = "report-title";
    const back = element("a", "report-back", "← Dashboard");
    back.href = viewHref("dashboard");
    const label = element("label", "report-since-label", "Over the last ");
    for (const choice of SINCE_CHOICES) {
      const option = element("option", undefined, SINCE_NAMES[choice]);
      option.value = choice;
      option.selected = choice === this.since;
      this.select.append(option);
    }
    this.select.name = "since";
    label.append(this.select);
    this.select.addEventListener("change", () => {
      this.since = this.select.value;
      const url = new URL(location.href);
      url.searchParams.set("since", this.since);
      history.replaceState(null, "", url);
      void this.load();
    });
    head.append(title, label, back);
    const explain = element(
      "p",
      "report-explain",
      "Per rule: how often it fired, how fast someone acknowledged it, how much of it anyone acted on (acknowledged or resolved by hand) and how much went away by itself. Rules nobody ever acted on come first: they notify people for nothing.",
    );
    const headings = ["Rule", "Severity", "Fired", "Acknowledged", "Median time to acknowledge", "Acted on", "Auto-resolved", "Advice"];
    const headRow = element("tr");
    for (const heading of headings) {
      const th = element("th", undefined, heading);
      th.scope = "col";
      headRow.append(th);
    }
    const thead = element("thead");
    thead.append(headRow);
    const caption = element("caption", "visually-hidden", `Alert rules of ${this.layout.title}, noisiest first`);
    this.table.append(caption, thead, this.rows);
    this.status.setAttribute("role", "status");
    this.status.setAttribute("aria-live", "polite");
    const frame = element("div", "report-table-frame");
    frame.append(this.table);
    this.element.append(head, this.range, explain, this.status, frame);
  }

  async load(): Promise<void> {
    this.request?.abort();
    const request = new AbortController();
    this.request = request;
    this.element.dataset.loading = "true";
    this.status.textContent = "Reading the alert journal…";
    try {
      const report = await fetchAlertReport(this.since, request.signal);
      if (request.signal.aborted) return;
      this.show(report);
    } catch (error) {
      if (request.signal.aborted) return;
      this.rows.replaceChildren();
      this.table.hidden = true;
      this.status.textContent =
        error instanceof HttpError && error.status === 404
          ? "This server evaluates no alert rules: there is nothing to report."
          : error instanceof HttpError && error.status === 503
            ? "Alerting is off on this server (its journal could not be opened; the server log says why)."
            : "The report could not be read; try again in a moment.";
      console.warn("the alert report could not be read:", error);
    } finally {
      if (this.request === request) delete this.element.dataset.loading;
    }
  }

  private show(report: AlertReport): void {
    const since = Date.parse(report.since);
    const until = Date.parse(report.until);
    this.range.textContent = `${this.formats.when(since)} – ${this.formats.when(until)} (${this.layout.time_zone})`;
    this.element.dataset.since = this.since;
    const never = report.rules.filter((rule) => rule.never_acted_on).length;
    this.table.hidden = report.rules.length === 0;
    this.status.textContent =
      report.rules.length === 0
        ? `No rule fired in the last ${SINCE_NAMES[this.since] ?? this.since}.`
        : `${report.rules.length} rule${report.rules.length === 1 ? "" : "s"} fired in the last ${SINCE_NAMES[this.since] ?? this.since}` +
          (never > 0 ? `; ${never} never acted on.` : ".");
    this.rows.replaceChildren(...report.rules.map((rule) => this.row(rule)));
  }

  private row(rule: RuleReport): HTMLTableRowElement {
    const row = element("tr");
    row.dataset.rule = rule.rule;
    row.dataset.neverActedOn = String(rule.never_acted_on);
    if (rule.never_acted_on) setLevel(row, "warning");
    const name = element("th", "report-rule", rule.rule);
    name.scope = "row";
    if (rule.never_acted_on) name.append(" ", element("span", "badge", "never acted on"));
    const share = (value: number | null | undefined) => (value === null || value === undefined ? "—" : this.formats.share(value));
    const median = rule.median_time_to_ack_seconds;
    row.append(
      name,
      cell(rule.severity ?? "—", "report-severity"),
      cell(this.formats.value(rule.fired, "count"), "num report-fired", rule.fired),
      cell(this.formats.value(rule.acknowledged, "count"), "num report-acknowledged", rule.acknowledged),
      cell(median === null || median === undefined ? "—" : duration(median), "num report-ack-time", median),
      cell(share(rule.share_acted_on), "num report-acted", rule.share_acted_on),
      cell(share(rule.share_auto_resolved), "num report-auto", rule.share_auto_resolved),
      cell(rule.advice ?? "", "report-advice"),
    );
    if (rule.severity) setLevel(row.children[1] as HTMLElement, LEVEL_BY_SEVERITY[rule.severity] ?? "ok");
    return row;
  }
}
