// kind "low_stock": groups of a stock-level KPI ({level, status}) whose status is not "ok",
// lowest level first, cut at `limit`; out of stock red, low amber.

import { element, fitRows, Panel, setLevel, setRaw, setText, type PanelContext } from "./panel";

interface Entry {
  keys: string[];
  level: number;
  status: string;
}

export class LowStockPanel extends Panel {
  private readonly headline = element("p", "headline");
  private readonly count = element("span", "headline-value");
  private readonly caption = element("span", "headline-caption");
  private readonly table = element("table", "data-table compact");
  private readonly head = element("thead");
  private readonly rows = element("tbody");
  private readonly empty = element("p", "empty all-good", "Every SKU is above its reorder point.");
  private columnsKey = "";

  constructor(context: PanelContext) {
    super(context);
    this.count.textContent = "—";
    this.headline.append(this.count, this.caption);
    this.table.append(this.head, this.rows);
    this.empty.hidden = true;
    this.body.append(this.headline, this.table, this.empty);
  }

  render(now: number): void {
    const kpi = this.spec.kpis[0];
    const window = this.store.current(kpi, this.label(), now);
    const entries: Entry[] = [];
    let stockouts = 0;
    let groupKeys: string[] = [];
    for (const row of this.values(window)) {
      const value = row.value as { level?: number; status?: string } | number;
      const level = typeof value === "number" ? value : Number(value?.level);
      const status = typeof value === "number" ? "low" : (value?.status ?? "ok");
      if (status === "ok") continue;
      if (isOut(status)) stockouts += 1;
      groupKeys = Object.keys(row.group);
      entries.push({ keys: Object.values(row.group), level, status });
    }
    entries.sort((a, b) => a.level - b.level || a.keys.join().localeCompare(b.keys.join()));
    const shown = entries.slice(0, this.spec.limit ?? 12);
    setText(this.count, this.formats.value(entries.length, "count"));
    setText(this.caption, ` below reorder point · ${this.formats.value(stockouts, "count")} out of stock`);
    setLevel(this.count, stockouts > 0 ? "critical" : entries.length > 0 ? "warning" : "ok");
    setRaw(this.count, shown.length);
    this.count.dataset.total = String(entries.length);
    this.empty.hidden = entries.length > 0 || window === undefined;
    this.table.hidden = shown.length === 0;
    this.header(groupKeys);
    while (this.rows.children.length > shown.length) this.rows.lastElementChild?.remove();
    shown.forEach((entry, index) => {
      let tr = this.rows.children[index] as HTMLTableRowElement | undefined;
      const cellCount = entry.keys.length + 2;
      if (!tr || tr.children.length !== cellCount) {
        const fresh = element("tr");
        for (let i = 0; i < entry.keys.length; i += 1) fresh.append(element(i === 0 ? "th" : "td", "key"));
        fresh.append(element("td", "num"), element("td", "status"));
        fresh.firstElementChild?.setAttribute("scope", "row");
        if (tr) tr.replaceWith(fresh);
        else this.rows.append(fresh);
        tr = fresh;
      }
      const cells = [...tr.children] as HTMLElement[];
      entry.keys.forEach((key, i) => setText(cells[i], key));
      setText(cells[entry.keys.length], this.formats.value(entry.level, "count"));
      const badge = cells[entry.keys.length + 1];
      setText(badge, isOut(entry.status) ? "out of stock" : entry.status);
      setLevel(tr, isOut(entry.status) ? "critical" : "warning");
    });
    fitRows(this.body, this.rows);
    this.setHasData(window !== undefined);
  }

  private header(groupKeys: string[]): void {
    const key = groupKeys.join(",");
    if (key === this.columnsKey || groupKeys.length === 0) return;
    this.columnsKey = key;
    const tr = element("tr");
    for (const name of groupKeys) tr.append(element("th", "key", name.toUpperCase().length <= 3 ? name.toUpperCase() : name.charAt(0).toUpperCase() + name.slice(1)));
    tr.append(element("th", "num", "On hand"), element("th", "status", "Status"));
    for (const cell of tr.children) cell.setAttribute("scope", "col");
    this.head.replaceChildren(tr);
  }
}

/** The engine says "out" (the spec's "stockout"): either is out of stock. */
function isOut(status: string): boolean {
  return status === "out" || status === "stockout";
}
