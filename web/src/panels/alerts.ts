// kind "alerts": the server's alerts (GET /v1/alerts), polled, with what a person does about
// them: acknowledge, assign, resolve, silence (1 h, 4 h, 24 h), and the active silences with
// an Expire button. The acting person's name is asked once and kept (see ask.ts). After an
// action the panel asks again at once. Each alert has a History disclosure: opened, it reads
// GET /v1/alerts/{id} and shows the alert's transitions and notification attempts, read again
// while it stays open (as the panel redraws, at most every 2 s). A kiosk (a wall screen
// nobody clicks) gets no buttons and no disclosures.
// While the server has no alerting (404) the panel says so calmly; that is a known state, so
// it counts as data.

import { ackAlert, assignAlert, createSilence, expireSilence, fetchAlerts, fetchAlertWithHistory, fetchSilences, HttpError, LEVEL_BY_SEVERITY, resolveAlert, type Alert, type AlertHistoryEntry, type Silence } from "../api";
import { actor, ask, changeActor, storedActor } from "../ask";
import { viewHref } from "../report";
import { element, Panel, setLevel, setRaw, setText, type PanelContext } from "./panel";
import { timeline } from "./timeline";

/** While the server evaluates rules: alerts move quickly, a person waits for their click. */
const POLL_MS = 5_000;
/** While the server answers 404 (no alerting there, maybe later). */
const POLL_OFF_MS = 15_000;
const SEVERITY_ORDER = ["critical", "high", "medium", "low"];
/** States a person should see; resolved (and normal) ones are history. */
const OPEN_STATES = new Set(["pending", "firing", "acknowledged", "nodata"]);
/** Labels the server puts on every alert of a rule; the rest name the group. */
const RULE_LABELS = new Set(["alertname", "severity", "kpi", "window"]);
const SILENCE_HOURS = [1, 4, 24];
const LABEL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** An open history is read again when the panel redraws, but not more often than this. */
const HISTORY_REFRESH_MS = 2_000;

/** What the page knows of one alert's history (kept across redraws of the list). */
interface HistoryState {
  entries?: AlertHistoryEntry[];
  error?: string;
  /** The last answer as text: an unchanged answer draws nothing. */
  answer?: string;
  /** Bumped whenever entries or error change; a drawn body remembers which it shows. */
  version: number;
  requestedAt?: number;
  loading: boolean;
}

function rank(severity: string): number {
  const index = SEVERITY_ORDER.indexOf(severity);
  return index === -1 ? SEVERITY_ORDER.length : index;
}

/** When the alert opened (ms), NaN when the server does not say. */
function openedAt(alert: Alert): number {
  return Date.parse(alert.started_at ?? alert.firing_since ?? "");
}

/** The labels that tell this alert from the rule's others (its KPI group), sorted by name. */
function groupLabels(alert: Alert): [string, string][] {
  return Object.entries(alert.labels ?? {})
    .filter(([name]) => !RULE_LABELS.has(name))
    .sort(([a], [b]) => a.localeCompare(b));
}

/** Matchers for a silence of exactly this alert: its rule and its group. */
function silenceMatchers(alert: Alert): string[] {
  const matchers = [`alertname=${JSON.stringify(alert.rule)}`];
  for (const [name, value] of groupLabels(alert)) if (LABEL_NAME.test(name)) matchers.push(`${name}=${JSON.stringify(value)}`);
  return matchers;
}

function describeError(error: unknown): string {
  if (error instanceof HttpError) {
    if (error.status === 409) return error.detail || "the alert is no longer firing";
    if (error.status === 404) return error.detail || "it is gone";
    return error.detail ? `${error.status}: ${error.detail}` : `the server answered ${error.status}`;
  }
  return "the server could not be reached";
}

function historyError(error: unknown): string {
  if (error instanceof HttpError && error.status === 404) return "History unavailable: the server no longer knows this alert.";
  if (error instanceof HttpError) return `History unavailable: the server answered ${error.status}.`;
  return "History unavailable: the server could not be reached.";
}

function button(label: string, action: string, title?: string): HTMLButtonElement {
  const node = element("button", "button small", label);
  node.type = "button";
  node.dataset.action = action;
  if (title) node.title = title;
  return node;
}

export class AlertsPanel extends Panel {
  private readonly headline = element("p", "headline");
  private readonly count = element("span", "headline-value");
  private readonly caption = element("span", "headline-caption");
  private readonly list = element("ul", "alerts");
  private readonly calm = element("p", "empty calm");
  private readonly status = element("p", "alert-status");
  private readonly silencesSection = element("section", "silences");
  private readonly silencesTitle = element("h3", "silences-title");
  private readonly silencesList = element("ul", "silence-list");
  private readonly footer = element("p", "alerts-footer");
  private readonly actorButton = element("button", "link-button");
  private readonly kiosk = document.documentElement.classList.contains("kiosk");
  private alerts: Alert[] | null | undefined;
  private silences: Silence[] = [];
  private changedAt: number | undefined;
  private lastText = "";
  private drawnText: string | undefined;
  private timer: number | undefined;
  private busy = false;
  /** Alerts whose silence menu is open (kept across redraws). */
  private readonly openMenus = new Set<string>();
  /** Alerts whose history is open (kept across redraws), and what was read of each. */
  private readonly openHistories = new Set<string>();
  private readonly histories = new Map<string, HistoryState>();

  constructor(context: PanelContext) {
    super(context);
    this.count.textContent = "—";
    this.headline.append(this.count, this.caption);
    this.calm.hidden = true;
    this.status.setAttribute("role", "status");
    this.status.setAttribute("aria-live", "polite");
    const silencesHeading = `panel-${this.spec.id}-silences`;
    this.silencesTitle.id = silencesHeading;
    this.silencesSection.setAttribute("aria-labelledby", silencesHeading);
    this.silencesSection.append(this.silencesTitle, this.silencesList);
    this.silencesSection.hidden = true;
    const report = element("a", "report-link", "Tuning report");
    report.href = viewHref("report");
    this.actorButton.type = "button";
    this.actorButton.dataset.action = "actor";
    this.actorButton.addEventListener("click", () => void changeActor().then(() => this.showActor()));
    this.footer.append(report, this.actorButton);
    this.footer.hidden = true;
    this.showActor();
    this.body.append(this.headline, this.status, this.list, this.calm);
    // A wall screen: no silences to expire, no report link, no name to set.
    if (!this.kiosk) this.body.append(this.silencesSection, this.footer);
    this.body.classList.add("alerts-body");
    // One listener for every button the list and the silences ever hold.
    this.body.addEventListener("click", (event) => {
      const target = (event.target as Element).closest<HTMLButtonElement>("button[data-action]");
      if (!target || target.dataset.action === "actor" || !this.body.contains(target)) return;
      void this.act(target);
    });
    // Toggle events do not bubble: caught on the way down, for every disclosure of the list.
    this.list.addEventListener("toggle", (event) => this.disclosureToggled(event), true);
  }

  private showActor(): void {
    const name = storedActor();
    setText(this.actorButton, name ? `Acting as ${name} (change)` : "Set your name");
    this.actorButton.setAttribute("aria-label", name ? `Acting as ${name}; change who is acting` : "Set who is acting");
  }

  private disclosureToggled(event: Event): void {
    const disclosure = event.target;
    if (!(disclosure instanceof HTMLDetailsElement)) return;
    const id = disclosure.closest<HTMLElement>("li.alert")?.dataset.alertId;
    if (!id) return;
    const history = disclosure.classList.contains("history-disclosure");
    const open = history ? this.openHistories : this.openMenus;
    if (!disclosure.open) {
      open.delete(id);
      return;
    }
    open.add(id);
    if (history) this.refreshHistory(id);
  }

  /** Reads one alert's history again, unless it is being read or was asked for just now. */
  private refreshHistory(id: string): void {
    const state = this.histories.get(id) ?? { version: 0, loading: false };
    this.histories.set(id, state);
    const now = Date.now();
    if (state.loading || (state.requestedAt !== undefined && now - state.requestedAt < HISTORY_REFRESH_MS)) return;
    state.loading = true;
    state.requestedAt = now;
    fetchAlertWithHistory(id)
      .then(
        (alert) => {
          const answer = JSON.stringify(alert.history);
          if (answer === state.answer && state.error === undefined) return;
          state.answer = answer;
          state.entries = alert.history;
          state.error = undefined;
          state.version += 1;
        },
        (error: unknown) => {
          const message = historyError(error);
          if (message === state.error) return;
          // In place of the list: a history that cannot be read now may be out of date.
          state.answer = undefined;
          state.entries = undefined;
          state.error = message;
          state.version += 1;
        },
      )
      .finally(() => {
        state.loading = false;
        const body = this.list.querySelector<HTMLElement>(`li.alert[data-alert-id="${CSS.escape(id)}"] .history-body`);
        if (body) this.drawHistory(body, state);
      });
  }

  /** Fills a history disclosure's body from what was read (nothing, when it shows that already). */
  private drawHistory(body: HTMLElement, state: HistoryState | undefined): void {
    const version = String(state?.version ?? 0);
    if (body.dataset.version === version) return;
    body.dataset.version = version;
    if (state?.error !== undefined) {
      body.replaceChildren(element("p", "history-error", state.error));
      return;
    }
    if (state?.entries === undefined) {
      body.replaceChildren(element("p", "history-note", "Reading the history…"));
      return;
    }
    if (state.entries.length === 0) {
      body.replaceChildren(element("p", "history-note", "Nothing recorded yet."));
      return;
    }
    body.replaceChildren(timeline(state.entries, this.formats, Date.now()));
  }

  /** Open histories are read again as the panel redraws; those of alerts gone are forgotten. */
  private refreshHistories(shown: Alert[]): void {
    const known = new Set((this.alerts ?? []).map((alert) => alert.id));
    for (const id of [...this.histories.keys()]) if (!known.has(id)) this.histories.delete(id);
    for (const id of [...this.openHistories]) if (!known.has(id)) this.openHistories.delete(id);
    for (const alert of shown) if (this.openHistories.has(alert.id)) this.refreshHistory(alert.id);
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
    let next = POLL_MS;
    try {
      const [alerts, silences] = await Promise.all([
        fetchAlerts(),
        // A wall screen lists no silences; a failed list keeps the last one.
        this.kiosk || this.layout.alerting !== true ? Promise.resolve(this.silences) : fetchSilences().catch(() => this.silences),
      ]);
      if (alerts === null) next = POLL_OFF_MS;
      const text = JSON.stringify([alerts, silences]);
      if (text !== this.lastText || this.changedAt === undefined) {
        this.lastText = text;
        this.alerts = alerts;
        this.silences = silences;
        this.changedAt = Date.now();
      }
      this.render(Date.now());
    } finally {
      this.timer = window.setTimeout(() => void this.load().catch(() => {}), next);
    }
  }

  dataChangedAt(): number | undefined {
    return this.changedAt;
  }

  /** Sends one action; then reads the alerts again at once. */
  private async act(target: HTMLButtonElement): Promise<void> {
    if (this.busy) return;
    const action = target.dataset.action ?? "";
    try {
      const done = await this.perform(action, target);
      if (done === null) return;
      this.say(done, false);
    } catch (error) {
      this.say(`Could not ${action.startsWith("silence") ? "silence" : action === "ack" ? "acknowledge" : action} — ${describeError(error)}`, true);
    } finally {
      this.busy = false;
    }
    // What the action changed, now (and the poll goes on from here).
    await this.load().catch((error: unknown) => console.warn("alerts: not refreshed after an action:", error));
  }

  /**
   * Carries out one button's action; answers what to say, or null when the person cancelled.
   * Busy only while a request is out: a question asked is modal, nothing else can be clicked.
   */
  private async perform(action: string, target: HTMLButtonElement): Promise<string | null> {
    const silenceId = target.closest<HTMLElement>("li.silence")?.dataset.silence;
    if (action === "expire" && silenceId) {
      this.busy = true;
      await expireSilence(silenceId);
      return "Silence expired.";
    }
    const alertId = target.closest<HTMLElement>("li.alert")?.dataset.alertId;
    const alert = this.alerts?.find((candidate) => candidate.id === alertId);
    if (!alert) return "";
    const by = await actor();
    this.showActor();
    if (!by) return null;
    if (action === "assign") {
      const assignee = await ask(`Assign ${alert.rule} to whom?`, { initial: alert.assignee || by });
      if (!assignee) return null;
      this.busy = true;
      await assignAlert(alert.id, assignee, by);
      return `${alert.rule}: assigned to ${assignee}.`;
    }
    this.busy = true;
    if (action === "ack") {
      await ackAlert(alert.id, by);
      return `${alert.rule}: acknowledged by ${by}.`;
    }
    if (action === "resolve") {
      await resolveAlert(alert.id, by);
      return `${alert.rule}: resolved by ${by}.`;
    }
    if (!action.startsWith("silence-")) return "";
    const hours = Number(action.slice("silence-".length, -1));
    const matchers = silenceMatchers(alert);
    await createSilence({
      matchers,
      ends_at: new Date(Date.now() + hours * 3_600_000).toISOString(),
      comment: `Silenced for ${hours} h from the dashboard`,
      created_by: by,
    });
    this.openMenus.delete(alert.id);
    return `${alert.rule}: silenced for ${hours} h (${matchers.join(", ")}).`;
  }

  private say(text: string, problem: boolean): void {
    setText(this.status, text);
    this.status.dataset.problem = String(problem);
  }

  render(_now: number): void {
    if (this.alerts === undefined) return;
    if (this.alerts === null) {
      setText(this.count, "0");
      setText(this.caption, " alerts");
      setRaw(this.count, 0);
      this.list.replaceChildren();
      this.calm.hidden = false;
      this.silencesSection.hidden = true;
      this.footer.hidden = true;
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
    this.footer.hidden = this.kiosk;
    // Rebuilt only when the answer changed: a focused button stays focused between polls.
    if (this.drawnText !== this.lastText) {
      this.drawnText = this.lastText;
      const focused = this.focusKey();
      this.list.replaceChildren(...open.map((alert) => this.item(alert)));
      this.drawSilences();
      this.restoreFocus(focused);
    }
    this.refreshHistories(open);
    this.setHasData(true);
  }

  private item(alert: Alert): HTMLLIElement {
    const item = element("li", "alert");
    setLevel(item, LEVEL_BY_SEVERITY[alert.severity] ?? "warning");
    item.dataset.state = alert.state;
    item.dataset.alertId = alert.id;
    const silenced = (alert.silenced_by?.length ?? 0) > 0;
    item.dataset.silenced = String(silenced);
    const severity = element("span", "severity", alert.severity);
    const labels = groupLabels(alert)
      .map(([, value]) => value)
      .join(" · ");
    const rule = element("span", "rule", labels ? `${alert.rule} · ${labels}` : alert.rule);
    rule.title = alert.annotations?.summary ?? alert.annotations?.description ?? rule.textContent ?? "";
    const state = element("span", "alert-state", silenced ? `${alert.state} · silenced` : alert.inhibited ? `${alert.state} · inhibited` : alert.state);
    const at = openedAt(alert);
    const opened = element("time", "opened", Number.isFinite(at) ? `opened ${this.formats.when(at)}` : "");
    if (Number.isFinite(at)) opened.dateTime = new Date(at).toISOString();
    const who = element("span", "assignee", alert.assignee ? `assigned to ${alert.assignee}` : "unassigned");
    item.append(severity, rule, state, opened, who);
    if (alert.acknowledged_by) {
      const ackedAt = Date.parse(alert.acknowledged_at ?? "");
      const acked = element("span", "acked", `acknowledged by ${alert.acknowledged_by}${Number.isFinite(ackedAt) ? ` · ${this.formats.when(ackedAt)}` : ""}`);
      item.append(acked);
    }
    if (alert.annotations?.summary) item.append(element("span", "summary", alert.annotations.summary));
    if (!this.kiosk) item.append(this.actions(alert), this.historyDisclosure(alert));
    return item;
  }

  private actions(alert: Alert): HTMLElement {
    const bar = element("div", "alert-actions");
    bar.setAttribute("role", "group");
    bar.setAttribute("aria-label", `Actions for ${alert.rule}`);
    if (alert.state === "firing") bar.append(button("Acknowledge", "ack", "Stop the escalation: someone is on it"));
    bar.append(button("Assign…", "assign", "Assign the alert to a person"), button("Resolve", "resolve", "Fixed: close it (it fires again if the condition still holds)"));
    const menu = element("details", "silence-menu");
    menu.open = this.openMenus.has(alert.id);
    const summary = element("summary", "button small", "Silence");
    summary.title = `No notifications for ${silenceMatchers(alert).join(", ")}`;
    const choices = element("div", "silence-choices");
    for (const hours of SILENCE_HOURS) choices.append(button(`${hours} h`, `silence-${hours}h`, `Silence for ${hours} hour${hours === 1 ? "" : "s"}`));
    menu.append(summary, choices);
    bar.append(menu);
    return bar;
  }

  private historyDisclosure(alert: Alert): HTMLDetailsElement {
    const disclosure = element("details", "history-disclosure");
    const summary = element("summary", "history-summary", "History");
    summary.setAttribute("aria-label", `History of ${alert.rule}`);
    const body = element("div", "history-body");
    disclosure.append(summary, body);
    if (this.openHistories.has(alert.id)) {
      disclosure.open = true;
      this.drawHistory(body, this.histories.get(alert.id));
    }
    return disclosure;
  }

  private drawSilences(): void {
    const live = this.silences.filter((silence) => silence.status !== "expired");
    this.silencesSection.hidden = this.kiosk || this.layout.alerting !== true;
    setText(this.silencesTitle, `Silences (${live.length})`);
    this.silencesSection.dataset.count = String(live.length);
    this.silencesList.replaceChildren(
      ...live.map((silence) => {
        const item = element("li", "silence");
        item.dataset.silence = silence.id;
        item.dataset.status = silence.status;
        const matchers = element("span", "silence-matchers", silence.matchers.join(", "));
        const ends = Date.parse(silence.ends_at);
        const starts = Date.parse(silence.starts_at);
        const when = silence.status === "pending" && Number.isFinite(starts) ? `from ${this.formats.when(starts)} ` : "";
        const until = element("span", "silence-until", `${when}until ${Number.isFinite(ends) ? this.formats.when(ends) : silence.ends_at}${silence.created_by ? ` · ${silence.created_by}` : ""}`);
        if (silence.comment) until.title = silence.comment;
        const expire = button("Expire", "expire", `End this silence now`);
        expire.setAttribute("aria-label", `Expire the silence ${silence.matchers.join(", ")}`);
        item.append(matchers, until, expire);
        return item;
      }),
    );
  }

  /** Which button has the focus, by alert (or silence) and action. */
  private focusKey(): string | undefined {
    const active = document.activeElement as HTMLElement | null;
    if (!active || !this.body.contains(active)) return undefined;
    const owner = active.closest<HTMLElement>("[data-alert-id], [data-silence]");
    const summary = active.tagName === "SUMMARY" ? (active.closest(".history-disclosure") ? "history" : "menu") : "";
    const action = active.dataset.action ?? summary;
    return owner ? `${owner.dataset.alertId ?? ""}|${owner.dataset.silence ?? ""}|${action}` : undefined;
  }

  private restoreFocus(key: string | undefined): void {
    if (!key || (document.activeElement && document.activeElement !== document.body && this.body.contains(document.activeElement))) return;
    const [alertId, silenceId, action] = key.split("|");
    const owner = alertId ? this.list.querySelector<HTMLElement>(`li.alert[data-alert-id="${CSS.escape(alertId)}"]`) : this.silencesList.querySelector<HTMLElement>(`li.silence[data-silence="${CSS.escape(silenceId)}"]`);
    const summaries: Record<string, string> = { menu: ".silence-menu > summary", history: ".history-disclosure > summary" };
    const target = owner ? owner.querySelector<HTMLElement>(summaries[action] ?? `[data-action="${CSS.escape(action)}"]`) : null;
    // The alert is gone (resolved): the panel's status line says what happened.
    (target ?? this.body.querySelector<HTMLElement>(".alerts-footer .report-link"))?.focus();
  }
}
