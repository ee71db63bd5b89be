// kind "latency": one row per group of the main KPI with its value's members (p50, p95, p99)
// in the panel's format; the second KPI, when given, is a rate per the same group (errors),
// coloured by the thresholds. The summary number is the worst of the last member (p99).

import { groupLabel } from "../format";
import { humanize } from "./steps";
import { element, fitRows, Panel, setLevel, setRaw, setText, type PanelContext } from "./panel";

export class LatencyPanel extends Panel {
  private readonly headline = element("p", "headline");
  private readonly worst = element("span", "headline-value");
  private readonly caption = element("span", "headline-caption");
  private readonly table = element("table", "data-table compact");
  private readonly head = element("thead");
  private readonly rows = element("tbody");
  private columnsKey = "";

  constructor(context: PanelContext) {
    super(context);
    this.worst.textContent = "—";
    this.table.append(this.head, this.rows);
    this.headline.append(this.worst, this.caption);
    this.body.append(this.headline, this.table);
  }

  render(now: number): void {
    const [kpi, rateKpi] = this.spec.kpis;
    const window = this.store.current(kpi, this.label(), now);
    const rates = new Map<string, number>();
    if (rateKpi) {
      const rateWindow = this.store.current(rateKpi, this.store.labels(rateKpi)[0], now);
      for (const row of this.values(rateWindow)) rates.set(groupLabel(row.group), this.number(row.value, null));
    }
    const rows = this.values(window);
    const members = rows.length > 0 && rows[0].value && typeof rows[0].value === "object" ? Object.keys(rows[0].value as object) : ["value"];
    this.header(rows.length > 0 ? Object.keys(rows[0].group).join(" · ") : "", members, rateKpi);
    const sorted = [...rows].sort((a, b) => groupLabel(a.group).localeCompare(groupLabel(b.group)));
    while (this.rows.children.length > sorted.length) this.rows.lastElementChild?.remove();
    let worst = Number.NaN;
    sorted.forEach((row, index) => {
      let tr = this.rows.children[index] as HTMLTableRowElement | undefined;
      const cellCount = 1 + members.length + (rateKpi ? 1 : 0);
      if (!tr || tr.children.length !== cellCount) {
        const fresh = element("tr");
        const name = element("th", "key");
        name.setAttribute("scope", "row");
        fresh.append(name);
        for (let i = 1; i < cellCount; i += 1) fresh.append(element("td", i <= members.length ? `num member m${i - 1}` : "num"));
        if (tr) tr.replaceWith(fresh);
        else this.rows.append(fresh);
        tr = fresh;
      }
      const cells = [...tr.children] as HTMLElement[];
      const label = groupLabel(row.group);
      setText(cells[0], label);
      members.forEach((member, i) => {
        const value = member === "value" ? this.number(row.value, null) : this.number(row.value, member);
        // The unit is in the caption: a narrow panel has no room for it in every cell.
        setText(cells[1 + i], this.formats.value(value, this.spec.format === "ms" ? "count" : this.spec.format));
        if (i === members.length - 1 && Number.isFinite(value)) worst = Number.isFinite(worst) ? Math.max(worst, value) : value;
      });
      if (rateKpi) {
        const rate = rates.get(label);
        const cell = cells[cells.length - 1];
        setText(cell, rate === undefined ? "—" : this.formats.value(rate, "percent"));
        setRaw(cell, rate, "raw");
        setLevel(cell, rate === undefined ? undefined : this.level(rate));
      }
    });
    setText(this.worst, Number.isFinite(worst) ? this.formats.value(worst, this.spec.format) : "—");
    setText(this.caption, ` worst ${members[members.length - 1]}${this.spec.format === "ms" ? " · table in ms" : ""}`);
    setRaw(this.worst, worst);
    fitRows(this.body, this.rows);
    this.setHasData(window !== undefined);
  }

  private header(groupKey: string, members: string[], rateKpi: string | undefined): void {
    const key = `${groupKey}|${members.join(",")}|${rateKpi ?? ""}`;
    if (key === this.columnsKey) return;
    this.columnsKey = key;
    const tr = element("tr");
    // The group's key names the first column (an "endpoint", a "queue", …).
    tr.append(element("th", "key", humanize(groupKey)));
    members.forEach((member, i) => tr.append(element("th", `num member m${i}`, member)));
    if (rateKpi) tr.append(element("th", "num", humanize(rateKpi.split("_")[0])));
    for (const cell of tr.children) cell.setAttribute("scope", "col");
    this.head.replaceChildren(tr);
  }
}
