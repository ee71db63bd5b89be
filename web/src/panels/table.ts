// kind "table": the main KPI's groups in the current window, sorted by `field` (or the value)
// descending, cut at `limit`. Columns: the group's keys, then the value's other numeric
// members, then the sorted one in the panel's format. Works for any grouped KPI.

import type { GroupValue } from "../api";
import { element, fitRows, Panel, setLevel, setRaw, setText, type PanelContext } from "./panel";

export class TablePanel extends Panel {
  private readonly table = element("table", "data-table");
  private readonly head = element("thead");
  private readonly rows = element("tbody");
  private readonly empty = element("p", "empty", "No rows in the current window yet.");
  private columnsKey = "";

  constructor(context: PanelContext) {
    super(context);
    this.table.append(this.head, this.rows);
    this.empty.hidden = true;
    this.body.append(this.table, this.empty);
  }

  render(now: number): void {
    const kpi = this.spec.kpis[0];
    const window = this.store.current(kpi, this.label(), now);
    this.setHasData(window !== undefined);
    const field = this.spec.field ?? undefined;
    const sorted = this.values(window)
      .map((row) => ({ row, value: this.number(row.value, field) }))
      .filter((entry) => Number.isFinite(entry.value))
      .sort((a, b) => b.value - a.value)
      .slice(0, this.spec.limit ?? 10);
    this.empty.hidden = sorted.length > 0;
    this.table.hidden = sorted.length === 0;
    if (sorted.length === 0) {
      setRaw(this.table, undefined);
      return;
    }
    const groupKeys = Object.keys(sorted[0].row.group);
    const members = this.otherMembers(sorted[0].row, field);
    this.header(groupKeys, members, field);
    while (this.rows.children.length > sorted.length) this.rows.lastElementChild?.remove();
    sorted.forEach((entry, index) => {
      let tr = this.rows.children[index] as HTMLTableRowElement | undefined;
      const cellCount = 1 + groupKeys.length + members.length + 1;
      if (!tr || tr.children.length !== cellCount) {
        const fresh = element("tr");
        fresh.append(element("td", "rank"));
        for (let i = 0; i < groupKeys.length; i += 1) fresh.append(element("th", "key"));
        for (let i = 0; i < members.length; i += 1) fresh.append(element("td", "num muted"));
        fresh.append(element("td", "num main"));
        (fresh.children[1] as HTMLElement).setAttribute("scope", "row");
        if (tr) tr.replaceWith(fresh);
        else this.rows.append(fresh);
        tr = fresh;
      }
      const cells = [...tr.children] as HTMLElement[];
      setText(cells[0], String(index + 1));
      groupKeys.forEach((key, i) => setText(cells[1 + i], entry.row.group[key] ?? ""));
      members.forEach((member, i) => {
        const value = this.number(entry.row.value, member);
        setText(cells[1 + groupKeys.length + i], this.formats.value(value, "count"));
      });
      const main = cells[cells.length - 1];
      setText(main, this.formats.value(entry.value, this.spec.format));
      setRaw(main, entry.value, "raw");
      setLevel(tr, this.level(entry.value));
    });
    fitRows(this.body, this.rows);
    setRaw(this.table, sorted[0].value);
  }

  private otherMembers(row: GroupValue, field: string | undefined): string[] {
    if (!row.value || typeof row.value !== "object") return [];
    const others = Object.entries(row.value as Record<string, unknown>)
      .filter(([name, value]) => name !== field && typeof value === "number")
      .map(([name]) => name);
    // A narrow panel: with several members, the plain event count is the least telling one.
    return others.length > 1 ? others.filter((name) => name !== "count") : others;
  }

  private header(groupKeys: string[], members: string[], field: string | undefined): void {
    const key = [...groupKeys, "|", ...members, "|", field ?? ""].join(",");
    if (key === this.columnsKey) return;
    this.columnsKey = key;
    const tr = element("tr");
    tr.append(element("th", "rank", "#"));
    for (const name of groupKeys) tr.append(element("th", "key", title(name)));
    for (const name of members) tr.append(element("th", "num", title(name)));
    tr.append(element("th", "num", title(field ?? "value")));
    for (const cell of tr.children) cell.setAttribute("scope", "col");
    this.head.replaceChildren(tr);
  }
}

function title(name: string): string {
  const words = name.replaceAll("_", " ");
  return words.length <= 3 ? words.toUpperCase() : words.charAt(0).toUpperCase() + words.slice(1);
}
