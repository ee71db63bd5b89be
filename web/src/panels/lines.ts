// kind "lines": one card per group of a status KPI ({status, minutes_down}) with a status
// dot, minutes down, and the matching group's rate from the second KPI (units per hour).

import { groupLabel } from "../format";
import { element, Panel, setLevel, setRaw, setText, type PanelContext } from "./panel";

const LEVEL_BY_STATUS: Record<string, "ok" | "warning" | "critical"> = {
  running: "ok",
  idle: "warning",
  stopped: "warning",
  fault: "critical",
};

export class LinesPanel extends Panel {
  private readonly headline = element("p", "headline");
  private readonly count = element("span", "headline-value");
  private readonly caption = element("span", "headline-caption");
  private readonly list = element("ul", "lines");

  constructor(context: PanelContext) {
    super(context);
    this.count.textContent = "—";
    this.headline.append(this.count, this.caption);
    this.body.append(this.headline, this.list);
  }

  render(now: number): void {
    const [kpi, rateKpi] = this.spec.kpis;
    const window = this.store.current(kpi, this.label(), now);
    const rates = new Map<string, number>();
    if (rateKpi) {
      const rateWindow = this.store.current(rateKpi, this.store.labels(rateKpi)[0], now);
      for (const row of this.values(rateWindow)) rates.set(groupLabel(row.group), this.number(row.value, null));
    }
    const lines = this.values(window)
      .map((row) => {
        const value = (row.value ?? {}) as { status?: string; minutes_down?: number };
        return { name: groupLabel(row.group), status: String(value.status ?? "unknown"), minutesDown: Number(value.minutes_down ?? Number.NaN) };
      })
      .sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
    const running = lines.filter((line) => line.status === "running").length;
    setText(this.count, `${running}/${lines.length}`);
    setText(this.caption, " running");
    setRaw(this.count, lines.length);
    setLevel(this.count, lines.some((line) => line.status === "fault") ? "critical" : running < lines.length ? "warning" : "ok");
    while (this.list.children.length > lines.length) this.list.lastElementChild?.remove();
    lines.forEach((line, index) => {
      let item = this.list.children[index] as HTMLLIElement | undefined;
      if (!item) {
        item = element("li", "line");
        const head = element("div", "line-head");
        head.append(element("span", "dot"), element("span", "line-name"), element("span", "line-status"));
        item.append(head, element("span", "line-rate"), element("span", "line-down"));
        this.list.append(item);
      }
      const head = item.children[0] as HTMLElement;
      setText(head.children[1], line.name);
      setText(head.children[2], line.status);
      const rate = rates.get(line.name);
      setText(item.children[1], rate === undefined ? "—" : `${this.formats.value(rate, "count")}/h`);
      setText(item.children[2], Number.isFinite(line.minutesDown) ? `${this.formats.value(line.minutesDown, "number")} min down` : "");
      item.dataset.status = line.status;
      setLevel(item, LEVEL_BY_STATUS[line.status] ?? "warning");
    });
    this.setHasData(window !== undefined);
  }
}
