// The one live connection: an EventSource on /v1/stream for every KPI of the layout. The
// browser retries a dropped connection by itself (sending Last-Event-ID); when the server
// ends the stream (`event: close`) or answers with an error, the browser gives up, so this
// reconnects with a growing delay, resuming from the last event id it saw.

import type { WindowFrame } from "./api";

export type ConnectionState = "connecting" | "live" | "reconnecting";

export interface StreamHandlers {
  snapshot(reason: string, first: boolean): void;
  kpi(name: string, window: WindowFrame): void;
  state(state: ConnectionState): void;
}

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 10_000;

export class Stream {
  private source: EventSource | undefined;
  private lastEventId = "";
  private retryMs = FIRST_RETRY_MS;
  private retryTimer: number | undefined;
  private snapshots = 0;

  constructor(
    private readonly kpis: string[],
    private readonly handlers: StreamHandlers,
  ) {}

  start(): void {
    this.handlers.state("connecting");
    this.connect();
  }

  private connect(): void {
    const query = new URLSearchParams({ kpis: this.kpis.join(",") });
    if (this.lastEventId) query.set("last_event_id", this.lastEventId);
    const source = new EventSource(`/v1/stream?${query.toString().replaceAll("%2C", ",")}`);
    this.source = source;
    source.onopen = () => {
      this.retryMs = FIRST_RETRY_MS;
      this.handlers.state("live");
    };
    source.addEventListener("snapshot", (event) => {
      this.remember(event);
      let reason = "connect";
      try {
        reason = String((JSON.parse(event.data) as { reason?: string }).reason ?? reason);
      } catch {
        // A snapshot without a readable reason is still a snapshot.
      }
      if (this.snapshots > 0) console.info(`sightline: snapshot (${reason})`);
      this.handlers.snapshot(reason, this.snapshots === 0);
      this.snapshots += 1;
    });
    source.addEventListener("kpi", (event) => {
      this.remember(event);
      const data = JSON.parse(event.data) as WindowFrame & { name: string };
      this.handlers.kpi(data.name, data);
    });
    source.addEventListener("close", (event) => {
      // The server is stopping or found us too slow: it will not resume this stream.
      console.info("sightline: the server ended the stream:", (event as MessageEvent).data);
      source.close();
      this.reconnectLater();
    });
    source.onerror = () => {
      if (source !== this.source) return;
      console.info("sightline: the stream dropped; reconnecting");
      if (source.readyState === EventSource.CLOSED) this.reconnectLater();
      else this.handlers.state("reconnecting"); // the browser is already retrying
    };
  }

  private remember(event: MessageEvent): void {
    if (event.lastEventId) this.lastEventId = event.lastEventId;
  }

  private reconnectLater(): void {
    this.handlers.state("reconnecting");
    this.source?.close();
    this.source = undefined;
    window.clearTimeout(this.retryTimer);
    const delay = this.retryMs * (0.75 + Math.random() * 0.5);
    this.retryMs = Math.min(MAX_RETRY_MS, this.retryMs * 2);
    this.retryTimer = window.setTimeout(() => this.connect(), delay);
  }
}
