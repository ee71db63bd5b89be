// Panel kinds by name. A layout may name any KPI in any of these; an unknown kind gets a
// panel that says so instead of breaking the page.

import { AlertsPanel } from "./alerts";
import { BarsPanel } from "./bars";
import { FunnelPanel } from "./funnel";
import { GroupsPanel } from "./groups";
import { LatencyPanel } from "./latency";
import { LinesPanel } from "./lines";
import { LowStockPanel } from "./lowstock";
import { MapPanel } from "./map";
import { MonthToDatePanel } from "./month";
import { NumberPanel } from "./number";
import { element, Panel, type PanelContext } from "./panel";
import { PipelinePanel } from "./pipeline";
import { TablePanel } from "./table";

class UnknownPanel extends Panel {
  constructor(context: PanelContext) {
    super(context);
    this.body.append(element("p", "empty", `This page does not know panels of kind "${this.spec.kind}" yet.`));
  }

  render(): void {}
}

const KINDS: Record<string, new (context: PanelContext) => Panel> = {
  number: NumberPanel,
  bars: BarsPanel,
  month_to_date: MonthToDatePanel,
  groups: GroupsPanel,
  table: TablePanel,
  funnel: FunnelPanel,
  pipeline: PipelinePanel,
  latency: LatencyPanel,
  map: MapPanel,
  low_stock: LowStockPanel,
  lines: LinesPanel,
  alerts: AlertsPanel,
};

export function createPanel(context: PanelContext): Panel {
  const Kind = KINDS[context.spec.kind] ?? UnknownPanel;
  return new Kind(context);
}

export type { Panel };
