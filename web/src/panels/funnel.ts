// kind "funnel": the main KPI's groups in the order of `steps` (group values), each with its
// share of the step before; the second KPI, when given, is the headline rate (conversion).

import { element, Panel, setLevel, setRaw, setText, type PanelContext } from "./panel";
import { humanize, renderSteps, type Step } from "./steps";

export class FunnelPanel extends Panel {
  private readonly headline = element("p", "headline");
  private readonly rate = element("span", "headline-value");
  private readonly caption = element("span", "headline-caption");
  private readonly list = element("ol", "steps");

  constructor(context: PanelContext) {
    super(context);
    this.rate.textContent = "—";
    this.headline.append(this.rate, this.caption);
    this.body.append(this.headline, this.list);
  }

  render(now: number): void {
    const [kpi, rateKpi] = this.spec.kpis;
    const window = this.store.current(kpi, this.label(), now);
    const byName = new Map<string, number>();
    for (const row of this.values(window)) {
      const name = Object.values(row.group).join(" · ");
      byName.set(name, this.number(row.value));
    }
    const order = this.spec.steps ?? [...byName.keys()].sort((a, b) => (byName.get(b) ?? 0) - (byName.get(a) ?? 0));
    const steps: Step[] = order.map((name, index) => {
      const value = byName.get(name) ?? 0;
      const previous = index > 0 ? (byName.get(order[index - 1]) ?? 0) : undefined;
      const note = previous !== undefined && previous > 0 ? this.formats.share(value / previous) : "";
      return { name: humanize(name), value, note };
    });
    renderSteps(this.list, steps, (value) => this.formats.value(value, this.spec.format));
    let headline: number | undefined;
    if (rateKpi) {
      const rateWindow = this.store.current(rateKpi, this.store.labels(rateKpi)[0], now);
      const rate = rateWindow?.values[0] ? this.number(rateWindow.values[0].value, null) : Number.NaN;
      if (Number.isFinite(rate)) {
        headline = rate;
        setText(this.rate, this.formats.value(rate, "percent"));
        setText(this.caption, ` ${humanize(rateKpi)}`);
        setLevel(this.rate, this.level(rate));
      }
    }
    if (headline === undefined && steps.length > 0) {
      const first = steps[0].value;
      const last = steps[steps.length - 1].value;
      headline = first > 0 ? last / first : 0;
      setText(this.rate, this.formats.value(headline, "percent"));
      setText(this.caption, " end to end");
    }
    setRaw(this.rate, headline);
    this.setHasData(window !== undefined);
  }
}
