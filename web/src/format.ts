// Numbers and times as the page shows them: money in the layout's currency, times in the
// layout's business time zone (never the browser's).

import type { Format } from "./api";

export class Formats {
  private readonly money: Intl.NumberFormat;
  /** Cents are noise on five-figure amounts and up. */
  private readonly moneyWhole: Intl.NumberFormat;
  private readonly moneyCompact: Intl.NumberFormat;
  private readonly count = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
  private readonly countCompact = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });
  private readonly decimal = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
  private readonly percent = new Intl.NumberFormat(undefined, { style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1 });
  private readonly signedPercent = new Intl.NumberFormat(undefined, { style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1, signDisplay: "exceptZero" });
  private readonly ms = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
  private readonly time: Intl.DateTimeFormat;
  private readonly timeWithSeconds: Intl.DateTimeFormat;
  private readonly dayOfMonth: Intl.DateTimeFormat;
  private readonly dateTime: Intl.DateTimeFormat;
  private readonly weekday: Intl.DateTimeFormat;
  private readonly parts: Intl.DateTimeFormat;

  constructor(
    readonly currency: string,
    readonly timeZone: string,
  ) {
    this.money = safeCurrency(currency, {});
    this.moneyWhole = safeCurrency(currency, { minimumFractionDigits: 0, maximumFractionDigits: 0 });
    this.moneyCompact = safeCurrency(currency, { notation: "compact", maximumFractionDigits: 1 });
    this.time = new Intl.DateTimeFormat(undefined, { timeZone, hour: "2-digit", minute: "2-digit" });
    this.timeWithSeconds = new Intl.DateTimeFormat(undefined, { timeZone, hour: "2-digit", minute: "2-digit", second: "2-digit" });
    this.dayOfMonth = new Intl.DateTimeFormat(undefined, { timeZone, day: "numeric", month: "short" });
    this.dateTime = new Intl.DateTimeFormat(undefined, { timeZone, weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
    this.weekday = new Intl.DateTimeFormat(undefined, { timeZone, weekday: "long" });
    this.parts = new Intl.DateTimeFormat("en-US", {
      timeZone, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric", second: "numeric",
    });
  }

  value(value: number, format: Format | null | undefined, compact = false): string {
    if (!Number.isFinite(value)) return "—";
    switch (format) {
      case "money":
        if (compact) return this.moneyCompact.format(value);
        return (Math.abs(value) >= 10_000 ? this.moneyWhole : this.money).format(value);
      case "count":
        return (compact && Math.abs(value) >= 100_000 ? this.countCompact : this.count).format(value);
      case "percent":
        return this.percent.format(value);
      case "ms":
        return `${this.ms.format(value)} ms`;
      default:
        return compact && Math.abs(value) >= 100_000 ? this.countCompact.format(value) : this.decimal.format(value);
    }
  }

  share(fraction: number): string {
    return this.percent.format(fraction);
  }

  change(fraction: number): string {
    return this.signedPercent.format(fraction);
  }

  clock(at: number | Date): string {
    return this.time.format(at);
  }

  /** The time to the second, with the date in front when `at` is not on the day of `now`. */
  moment(at: number, now: number): string {
    const day = this.local(at);
    const today = this.local(now);
    const time = this.timeWithSeconds.format(at);
    if (day.year === today.year && day.month === today.month && day.day === today.day) return time;
    return `${this.dayOfMonth.format(at)} ${time}`;
  }

  when(at: number | Date): string {
    return this.dateTime.format(at);
  }

  weekdayOf(at: number | Date): string {
    return this.weekday.format(at);
  }

  /** Wall-clock parts of an instant in the business time zone. */
  local(at: number): { year: number; month: number; day: number; hour: number; minute: number; second: number } {
    const parts: Record<string, number> = {};
    for (const part of this.parts.formatToParts(at)) if (part.type !== "literal") parts[part.type] = Number(part.value);
    return { year: parts.year, month: parts.month, day: parts.day, hour: parts.hour % 24, minute: parts.minute, second: parts.second };
  }

  /** The instant at which the business time zone's clock shows this wall time. */
  instant(year: number, month: number, day: number, hour = 0, minute = 0): number {
    const wall = Date.UTC(year, month - 1, day, hour, minute);
    let guess = wall - this.offset(wall);
    guess = wall - this.offset(guess);
    return guess;
  }

  /** The zone's offset from UTC at `at`, in ms (wall − UTC). */
  private offset(at: number): number {
    const p = this.local(at);
    return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - Math.floor(at / 1000) * 1000;
  }
}

function safeCurrency(currency: string, options: Intl.NumberFormatOptions): Intl.NumberFormat {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency, ...options });
  } catch {
    return new Intl.NumberFormat(undefined, { maximumFractionDigits: 2, ...options });
  }
}

/** "live", "updated 12 s ago", "updated 3 min ago"… */
export function age(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `updated ${seconds} s ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `updated ${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `updated ${hours} h ago`;
  return `updated ${Math.floor(hours / 24)} days ago`;
}

/** A group's label: its values joined ("line-1", "SKU-00002 · AMS-1"). */
export function groupLabel(group: Record<string, string>): string {
  const values = Object.values(group);
  return values.length === 0 ? "all" : values.join(" · ");
}
