// An alert's history (GET /v1/alerts/{id}) as a compact timeline: one line per state change
// and per notification step, oldest first, times in the business time zone. Everything the
// server says goes in as text, never as markup.

import type { AlertHistoryEntry, AlertNotification, AlertTransition } from "../api";
import type { Formats } from "../format";
import { element } from "./panel";

/** Outcomes a person should notice: the receiver did not get the message (yet, or at all). */
const PROBLEM_OUTCOMES = new Set(["failed", "gave_up"]);

// Alert values are whatever the KPI measures: 0.0004 and 2176150.24 both need to read right.
const measure = new Intl.NumberFormat(undefined, { maximumSignificantDigits: 6 });

function plain(word: string): string {
  return word.replace(/_/g, " ");
}

function transitionText(entry: AlertTransition): string {
  const states = `${entry.from} → ${entry.to}`;
  switch (entry.cause) {
    case "acknowledged":
      return `acknowledged by ${entry.by ?? "someone"}`;
    case "assigned":
      return `assigned to ${entry.assignee ?? "nobody"}${entry.by ? ` by ${entry.by}` : ""}`;
    case "resolved_by_hand":
      return `${states}, resolved by ${entry.by ?? "hand"}`;
    case "ack_expired":
      return `${states} (the acknowledgement expired)`;
    case "rule_removed":
      return `${states} (its rule was removed)`;
    case "evaluation": {
      const measures = (["value", "threshold", "baseline"] as const)
        .filter((name) => typeof entry[name] === "number" && Number.isFinite(entry[name]))
        .map((name) => `${name} ${measure.format(entry[name] as number)}`);
      return measures.length > 0 ? `${states} (${measures.join(", ")})` : states;
    }
    default:
      return `${states} (${plain(entry.cause)})`;
  }
}

function notificationText(entry: AlertNotification, formats: Formats, now: number): string {
  const head = `${entry.receiver}: ${plain(entry.kind)}`;
  const attempts = entry.attempt ?? 0;
  const error = entry.error ? `: ${entry.error}` : "";
  switch (entry.outcome) {
    case "delivered":
      return attempts > 1 ? `${head} delivered (after ${attempts} attempts)` : `${head} delivered`;
    case "failed": {
      const retryAt = Date.parse(entry.retry_at ?? "");
      const retry = Number.isFinite(retryAt) ? ` — retry ${formats.moment(retryAt, now)}` : "";
      return `${head} failed${attempts > 0 ? ` (attempt ${attempts})` : ""}${error}${retry}`;
    }
    case "gave_up":
      return `${head} gave up${attempts > 0 ? ` after ${attempts} attempt${attempts === 1 ? "" : "s"}` : ""}${error}`;
    default:
      return `${head} ${plain(entry.outcome)}`;
  }
}

function entryItem(entry: AlertHistoryEntry, formats: Formats, now: number): HTMLLIElement {
  const item = element("li", "history-entry");
  item.dataset.event = entry.event;
  const at = Date.parse(entry.at);
  const time = element("time", "history-at", Number.isFinite(at) ? formats.moment(at, now) : entry.at);
  if (Number.isFinite(at)) time.dateTime = new Date(at).toISOString();
  let text: string;
  if (entry.event === "transition") {
    item.dataset.from = entry.from;
    item.dataset.to = entry.to;
    item.dataset.cause = entry.cause;
    if (entry.incident !== undefined && entry.incident !== null) item.dataset.incident = String(entry.incident);
    text = transitionText(entry);
  } else {
    item.dataset.outcome = entry.outcome;
    item.dataset.receiver = entry.receiver;
    item.dataset.kind = entry.kind;
    if (PROBLEM_OUTCOMES.has(entry.outcome)) item.classList.add("history-problem");
    text = notificationText(entry, formats, now);
  }
  const what = element("span", "history-text", text);
  // A receiver's error can be long; the line wraps, and the whole of it is in the tooltip too.
  what.title = text;
  // The space keeps "14:02:05 pending → firing" one readable line when copied or read aloud.
  item.append(time, " ", what);
  return item;
}

/** The timeline of one alert, oldest first. */
export function timeline(entries: AlertHistoryEntry[], formats: Formats, now: number): HTMLOListElement {
  const list = element("ol", "alert-history");
  list.append(...entries.map((entry) => entryItem(entry, formats, now)));
  return list;
}
