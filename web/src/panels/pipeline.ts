// kind "pipeline": the main KPI's value members (stage → count) in the order of `steps`; the
// second KPI, when given, is a deadlines KPI ({count, oldest: [{deadline, key, state}]}):
// the number past their SLA, with the oldest few listed.

import { element, Panel, setLevel, setRaw, setText, type PanelContext } from "./panel";
import { humanize, renderSteps, type Step } from "./steps";

interface Overdue {
  deadline: string;
  key: string;
  state?: string;
}

const OLDEST_SHOWN = 3;

export class PipelinePanel extends Panel {
  private readonly list = element("ol", "steps");
  private readonly late = element("div", "late");
  private readonly lateCount = element("p", "late-count");
  private readonly lateList = element("ul", "late-list");

  constructor(context: PanelContext) {
    super(context);
    this.late.append(this.lateCount, this.lateList);
    this.body.append(this.list, this.late);
    this.late.hidden = this.spec.kpis.length < 2;
  }

  render(now: number): void {
    const [kpi, delaysKpi] = this.spec.kpis;
    const window = this.store.current(kpi, this.label(), now);
    const stages = new Map<string, number>();
    for (const row of this.values(window)) {
      if (row.value && typeof row.value === "object") {
        for (const [stage, count] of Object.entries(row.value as Record<string, unknown>)) {
          if (typeof count === "number") stages.set(stage, (stages.get(stage) ?? 0) + count);
        }
      } else {
        stages.set(Object.values(row.group).join(" · "), this.number(row.value));
      }
    }
    const order = this.spec.steps ?? [...stages.keys()];
    const steps: Step[] = order.map((stage) => ({ name: humanize(stage), value: stages.get(stage) ?? 0 }));
    renderSteps(this.list, steps, (value) => this.formats.value(value, this.spec.format));
    let summary = steps.reduce((sum, step) => sum + step.value, 0);
    if (delaysKpi) {
      const delays = this.store.current(delaysKpi, this.store.labels(delaysKpi)[0], now);
      const value = delays?.values[0]?.value as { count?: number; oldest?: Overdue[] } | undefined;
      const count = typeof value?.count === "number" ? value.count : 0;
      summary = count;
      setText(this.lateCount, `${this.formats.value(count, "count")} past SLA`);
      setLevel(this.lateCount, count > 0 ? "warning" : "ok");
      this.renderOldest(value?.oldest ?? [], now);
    }
    setRaw(this.lateCount, summary);
    this.setHasData(window !== undefined);
  }

  private renderOldest(oldest: Overdue[], now: number): void {
    const shown = oldest.slice(0, OLDEST_SHOWN);
    while (this.lateList.children.length > shown.length) this.lateList.lastElementChild?.remove();
    shown.forEach((entry, index) => {
      let item = this.lateList.children[index] as HTMLLIElement | undefined;
      if (!item) {
        item = element("li");
        item.append(element("span", "late-key"), element("span", "late-state"), element("span", "late-age"));
        this.lateList.append(item);
      }
      const [key, state, overdue] = item.children as unknown as HTMLElement[];
      setText(key, entry.key);
      setText(state, entry.state ? humanize(entry.state) : "");
      setText(overdue, `+${overdueText(now - Date.parse(entry.deadline))}`);
    });
  }
}

/** How long past its deadline: "12 min", "5 h", "3 d". */
function overdueText(ms: number): string {
  const minutes = Math.max(0, Math.round(ms / 60000));
  if (minutes < 120) return `${minutes} min`;
  const hours = Math.round(minutes / 60);
  return hours < 48 ? `${hours} h` : `${Math.round(hours / 24)} d`;
}
