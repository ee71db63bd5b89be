// kind "groups": for each KPI of the panel, its groups in the current window as horizontal
// bars, largest first, each coloured by the thresholds. Works for any grouped KPI.

import type { GroupValue } from "../api";
import { groupLabel } from "../format";
import { element, Panel, setLevel, setRaw, setText, type PanelContext } from "./panel";

interface Block {
  root: HTMLElement;
  heading: HTMLElement;
  list: HTMLOListElement;
}

export class GroupsPanel extends Panel {
  private readonly summary = element("p", "summary");
  private readonly blocks: Block[];

  constructor(context: PanelContext) {
    super(context);
    this.body.classList.add("groups");
    this.summary.hidden = true;
    this.body.append(this.summary);
    this.blocks = this.spec.kpis.map(() => {
      const root = element("div", "group-block");
      const heading = element("h3", "group-heading");
      const list = element("ol", "group-bars");
      root.append(heading, list);
      this.body.append(root);
      return { root, heading, list };
    });
  }

  render(now: number): void {
    let any = false;
    let firstValue: number | undefined;
    this.spec.kpis.forEach((kpi, index) => {
      const block = this.blocks[index];
      const window = this.store.current(kpi, index === 0 ? this.label(kpi) : this.store.labels(kpi)[0], now);
      const rows = this.values(window)
        .map((row) => ({ row, value: this.number(row.value) }))
        .filter((entry) => Number.isFinite(entry.value))
        .sort((a, b) => b.value - a.value);
      if (window) any = true;
      setText(block.heading, this.heading(kpi, rows.map((entry) => entry.row)));
      if (index === 0 && rows.length > 0) firstValue = rows[0].value;
      this.fill(block.list, rows);
    });
    this.setHasData(any);
    setRaw(this.summary, firstValue);
  }

  private heading(kpi: string, rows: GroupValue[]): string {
    const keys = rows.length > 0 ? Object.keys(rows[0].group) : [];
    return keys.length > 0 ? `by ${keys.join(" · ")}` : kpi.replaceAll("_", " ");
  }

  private fill(list: HTMLOListElement, rows: { row: GroupValue; value: number }[]): void {
    const max = Math.max(0, ...rows.map((entry) => entry.value));
    const total = rows.reduce((sum, entry) => sum + entry.value, 0);
    while (list.children.length > rows.length) list.lastElementChild?.remove();
    rows.forEach((entry, index) => {
      let item = list.children[index] as HTMLLIElement | undefined;
      if (!item) {
        item = element("li", "group-row");
        const name = element("span", "group-name");
        const value = element("span", "group-value");
        const share = element("span", "group-share");
        const track = element("span", "bar-track");
        track.append(element("span", "bar-fill"));
        item.append(name, value, share, track);
        list.append(item);
      }
      const [name, value, share, track] = item.children as unknown as HTMLElement[];
      setText(name, groupLabel(entry.row.group));
      setText(value, this.formats.value(entry.value, this.spec.format));
      setRaw(value, entry.value, "raw");
      // Shares of a whole make sense for sums (money, counts), not for rates.
      const showShare = this.spec.format === "money" || this.spec.format === "count";
      setText(share, showShare && total > 0 ? this.formats.share(entry.value / total) : "");
      const fill = track.firstElementChild as HTMLElement;
      fill.style.transform = `scaleX(${max > 0 ? Math.max(0, entry.value) / max : 0})`;
      const level = this.level(entry.value);
      setLevel(item, level);
    });
  }
}
