//! `[dashboard]`: which panels the live dashboard shows, and the KPIs behind each.
//!
//! The dashboard at `/` draws whatever layout `GET /v1/dashboard` answers, which is built
//! here: the product's default layout (the built-in pack's panels), then the panels of the
//! configuration. A configured panel with the id of a default one replaces it in place
//! (to change a threshold, say); any other is added to its row. `include_default = false`
//! starts from an empty page. Panel kinds `number`, `bars`, `groups` and `table` take any
//! KPI, so a user's own KPI goes on the page without touching the web code.
//!
//! This module checks the shape of each panel; that every KPI a panel names exists is
//! checked where the KPI definitions are known (`sightline check` and server start).

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::ConfigError;

/// Rows of the default layout, top to bottom; configured panels may name other rows,
/// which follow in the order they first appear.
pub const DEFAULT_ROWS: [&str; 3] = ["top", "middle", "bottom"];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DashboardConfig {
    /// Shown in the page's header and title.
    pub title: String,
    /// Start from the product's default layout (true) or from an empty page.
    pub include_default: bool,
    pub panels: Vec<Spanned<PanelConfig>>,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        DashboardConfig {
            title: "Sightline".to_owned(),
            include_default: true,
            panels: Vec::new(),
        }
    }
}

/// How a panel draws its KPIs. The web code has one module per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PanelKind {
    /// One value, large, with the comparison when the KPI has one.
    Number,
    /// The windows of one resolution over a span, as bars; the current one grows live.
    Bars,
    /// Cumulative daily values this month against the same days of the previous month.
    MonthToDate,
    /// One bar per group, for each KPI of the panel.
    Groups,
    /// The groups as rows, sorted by `field` (or the value), cut at `limit`.
    Table,
    /// Distinct sessions at each step, in `steps` order.
    Funnel,
    /// Counts per stage in `steps` order, with the deadlines missed beside them.
    Pipeline,
    /// Quantiles per group, with the error rate of the second KPI (the thresholds colour
    /// the error rate).
    Latency,
    /// Groups keyed by ISO 3166 region, as a choropleth.
    Map,
    /// Stock levels at or under their reorder point.
    LowStock,
    /// Production lines: status, time down, output.
    Lines,
    /// Open alerts (the alert API).
    Alerts,
}

impl PanelKind {
    /// The name written in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            PanelKind::Number => "number",
            PanelKind::Bars => "bars",
            PanelKind::MonthToDate => "month_to_date",
            PanelKind::Groups => "groups",
            PanelKind::Table => "table",
            PanelKind::Funnel => "funnel",
            PanelKind::Pipeline => "pipeline",
            PanelKind::Latency => "latency",
            PanelKind::Map => "map",
            PanelKind::LowStock => "low_stock",
            PanelKind::Lines => "lines",
            PanelKind::Alerts => "alerts",
        }
    }

    /// How many KPIs a panel of this kind reads: (at least, at most).
    fn kpi_count(self) -> (usize, usize) {
        match self {
            PanelKind::Alerts => (0, 0),
            PanelKind::Groups => (1, 4),
            PanelKind::Pipeline | PanelKind::Funnel | PanelKind::Latency | PanelKind::Lines => {
                (1, 2)
            }
            _ => (1, 1),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueFormat {
    #[default]
    Number,
    Count,
    /// In the reporting currency.
    Money,
    /// A ratio shown as a percentage (0.05 → 5 %).
    Percent,
    /// Milliseconds.
    Ms,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Ok,
    Warning,
    Critical,
}

/// Colours a value: the first threshold that matches wins.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub above: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub below: Option<f64>,
    pub level: Level,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PanelConfig {
    /// Stable and unique: letters, digits, `_` and `-`.
    pub id: String,
    #[serde(default = "default_row")]
    pub row: String,
    pub title: String,
    pub kind: PanelKind,
    /// The KPIs the panel reads; the first is the main one.
    #[serde(default)]
    pub kpis: Vec<String>,
    /// Which window of the main KPI (its label, e.g. `"1m"` of `orders`); default its first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    /// For values that are objects (`{"count", "revenue"}`), the member shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default)]
    pub format: ValueFormat,
    /// Order of the groups (funnel steps) or value members (pipeline stages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<String>>,
    /// Rows shown by tables and lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// How far back a `bars` panel reaches, e.g. `"24h"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span: Option<String>,
    /// Columns of the 12-column grid the panel spans.
    #[serde(default = "default_width")]
    pub width: u8,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<Threshold>,
}

fn default_row() -> String {
    "bottom".to_owned()
}

fn default_width() -> u8 {
    3
}

/// One row of the resolved layout.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub name: String,
    pub panels: Vec<Panel>,
}

/// A panel as the page receives it: the configured fields plus the span in seconds, so
/// the browser need not parse durations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Panel {
    #[serde(flatten)]
    pub config: PanelConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span_seconds: Option<u64>,
}

impl DashboardConfig {
    /// The layout the page draws: default panels (unless excluded) with configured ones
    /// replacing or joining them, grouped into rows. A default panel whose KPIs are not
    /// all defined (the built-in pack turned off, say) is left out; a configured one never
    /// is, since [`DashboardConfig::undefined_kpis`] refuses it at start.
    pub fn layout(&self, is_defined: &dyn Fn(&str) -> bool) -> Vec<Row> {
        let mut panels: Vec<PanelConfig> = if self.include_default {
            default_panels()
                .into_iter()
                .filter(|panel| panel.kpis.iter().all(|kpi| is_defined(kpi)))
                .collect()
        } else {
            Vec::new()
        };
        for configured in &self.panels {
            let configured = configured.get_ref();
            match panels.iter_mut().find(|panel| panel.id == configured.id) {
                Some(existing) => *existing = configured.clone(),
                None => panels.push(configured.clone()),
            }
        }
        let mut row_names: Vec<String> = DEFAULT_ROWS.iter().map(|row| row.to_string()).collect();
        for panel in &panels {
            if !row_names.contains(&panel.row) {
                row_names.push(panel.row.clone());
            }
        }
        let mut rows: Vec<Row> = Vec::new();
        for name in row_names {
            let row_panels: Vec<Panel> = panels
                .iter()
                .filter(|panel| panel.row == name)
                .map(|panel| Panel {
                    span_seconds: panel
                        .span
                        .as_deref()
                        .and_then(|span| humantime::parse_duration(span).ok())
                        .map(|span| span.as_secs()),
                    config: panel.clone(),
                })
                .collect();
            if !row_panels.is_empty() {
                rows.push(Row {
                    name,
                    panels: row_panels,
                });
            }
        }
        rows
    }

    /// The configured panels' KPIs that no definition provides, as (panel id, KPI name):
    /// a typo here would otherwise show as a panel that never gets data.
    pub fn undefined_kpis(&self, is_defined: &dyn Fn(&str) -> bool) -> Vec<(String, String)> {
        self.panels
            .iter()
            .flat_map(|panel| {
                let panel = panel.get_ref();
                panel
                    .kpis
                    .iter()
                    .filter(|kpi| !is_defined(kpi))
                    .map(|kpi| (panel.id.clone(), kpi.clone()))
            })
            .collect()
    }

    pub(crate) fn validate(
        &self,
        invalid: &dyn Fn(std::ops::Range<usize>, &str, String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        let mut seen = std::collections::BTreeSet::new();
        for (index, spanned) in self.panels.iter().enumerate() {
            let panel = spanned.get_ref();
            let span = spanned.span();
            let key = |field: &str| format!("dashboard.panels[{index}].{field}");
            let valid_id = !panel.id.is_empty()
                && panel
                    .id
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-');
            if !valid_id {
                return Err(invalid(
                    span,
                    &key("id"),
                    format!(
                        "expected letters, digits, '_' or '-' such as \"returns_today\", got {:?}",
                        panel.id
                    ),
                ));
            }
            if !seen.insert(panel.id.as_str()) {
                return Err(invalid(
                    span,
                    &key("id"),
                    format!(
                        "panel {:?} is configured twice; give each [[dashboard.panels]] its own id",
                        panel.id
                    ),
                ));
            }
            if panel.row.trim().is_empty() {
                return Err(invalid(
                    span,
                    &key("row"),
                    "name the row, e.g. \"top\", \"middle\" or \"bottom\"".into(),
                ));
            }
            let (fewest, most) = panel.kind.kpi_count();
            if panel.kpis.len() < fewest || panel.kpis.len() > most {
                let wanted = if fewest == most {
                    format!("exactly {fewest}")
                } else {
                    format!("{fewest} to {most}")
                };
                return Err(invalid(
                    span,
                    &key("kpis"),
                    format!(
                        "a {} panel reads {wanted} KPI(s), got {}",
                        panel.kind.as_str(),
                        panel.kpis.len()
                    ),
                ));
            }
            if !(1..=12).contains(&panel.width) {
                return Err(invalid(
                    span,
                    &key("width"),
                    format!(
                        "the grid is 12 columns wide: expected 1 to 12, got {}",
                        panel.width
                    ),
                ));
            }
            if panel.limit == Some(0) {
                return Err(invalid(span, &key("limit"), "must be at least 1".into()));
            }
            if let Some(text) = &panel.span
                && humantime::parse_duration(text).is_err()
            {
                return Err(invalid(
                    span,
                    &key("span"),
                    format!("expected a duration such as \"24h\", got {text:?}"),
                ));
            }
            if panel.kind == PanelKind::Bars && panel.span.is_none() {
                return Err(invalid(
                    span,
                    &key("span"),
                    "a bars panel needs how far back it reaches, e.g. span = \"24h\"".into(),
                ));
            }
            for (threshold_index, threshold) in panel.thresholds.iter().enumerate() {
                let bounds =
                    usize::from(threshold.above.is_some()) + usize::from(threshold.below.is_some());
                if bounds != 1 {
                    return Err(invalid(
                        span.clone(),
                        &key(&format!("thresholds[{threshold_index}]")),
                        "give exactly one of above or below, e.g. { above = 0.05, level = \"critical\" }".into(),
                    ));
                }
            }
        }
        Ok(())
    }
}

struct DefaultPanel {
    id: &'static str,
    row: &'static str,
    title: &'static str,
    kind: PanelKind,
    kpis: &'static [&'static str],
    format: ValueFormat,
    width: u8,
}

fn panel(spec: DefaultPanel) -> PanelConfig {
    PanelConfig {
        id: spec.id.to_owned(),
        row: spec.row.to_owned(),
        title: spec.title.to_owned(),
        kind: spec.kind,
        kpis: spec.kpis.iter().map(|kpi| kpi.to_string()).collect(),
        window: None,
        field: None,
        format: spec.format,
        steps: None,
        limit: None,
        span: None,
        width: spec.width,
        thresholds: Vec::new(),
    }
}

fn strings(items: &[&str]) -> Option<Vec<String>> {
    Some(items.iter().map(|item| item.to_string()).collect())
}

fn above(value: f64, level: Level) -> Threshold {
    Threshold {
        above: Some(value),
        below: None,
        level,
    }
}

/// The product's layout over the built-in `commerce` pack: live numbers on top, the
/// day's operations in the middle, the longer view and the lists at the bottom.
pub fn default_panels() -> Vec<PanelConfig> {
    use PanelKind::{
        Alerts, Bars, Funnel, Groups, Latency, Lines, LowStock, Map, MonthToDate, Pipeline, Table,
    };
    use ValueFormat::{Count, Money, Ms, Percent};
    let mut revenue_today = panel(DefaultPanel {
        id: "revenue_today",
        row: "top",
        title: "Revenue today",
        kind: PanelKind::Number,
        kpis: &["revenue_today"],
        format: Money,
        width: 3,
    });
    revenue_today.window = Some("day".into());
    let mut orders_per_minute = panel(DefaultPanel {
        id: "orders_per_minute",
        row: "top",
        title: "Orders per minute",
        kind: PanelKind::Number,
        kpis: &["orders"],
        format: Count,
        width: 3,
    });
    orders_per_minute.window = Some("1m".into());
    let active_users = panel(DefaultPanel {
        id: "active_users",
        row: "top",
        title: "Active users (5 min)",
        kind: PanelKind::Number,
        kpis: &["active_users"],
        format: Count,
        width: 3,
    });
    let average_order_value = panel(DefaultPanel {
        id: "average_order_value",
        row: "top",
        title: "Average order value (1 h)",
        kind: PanelKind::Number,
        kpis: &["average_order_value"],
        format: Money,
        width: 3,
    });

    let mut orders_per_hour = panel(DefaultPanel {
        id: "orders_per_hour",
        row: "middle",
        title: "Orders per hour, last 24 h",
        kind: Bars,
        kpis: &["orders"],
        format: Count,
        width: 4,
    });
    orders_per_hour.window = Some("1h".into());
    orders_per_hour.span = Some("24h".into());
    let mut fulfillment = panel(DefaultPanel {
        id: "fulfillment",
        row: "middle",
        title: "Fulfilment pipeline",
        kind: Pipeline,
        kpis: &["fulfillment_pipeline", "shipping_delays"],
        format: Count,
        width: 2,
    });
    fulfillment.steps = strings(&["received", "picking", "packing", "shipped"]);
    fulfillment.thresholds = vec![above(50.0, Level::Critical), above(10.0, Level::Warning)];
    let mut funnel = panel(DefaultPanel {
        id: "funnel",
        row: "middle",
        title: "Conversion funnel (30 min)",
        kind: Funnel,
        kpis: &["funnel", "conversion_rate"],
        format: Count,
        width: 2,
    });
    funnel.steps = strings(&[
        "page.viewed",
        "cart.item_added",
        "checkout.started",
        "order.paid",
    ]);
    let mut api = panel(DefaultPanel {
        id: "api",
        row: "middle",
        title: "API latency and errors (5 min)",
        kind: Latency,
        kpis: &["api_latency", "error_rate"],
        format: Ms,
        width: 2,
    });
    api.thresholds = vec![above(0.05, Level::Critical), above(0.01, Level::Warning)];
    let mut payments = panel(DefaultPanel {
        id: "payments",
        row: "middle",
        title: "Payment failures by gateway (5 min)",
        kind: Groups,
        kpis: &["payment_failure_rate"],
        format: Percent,
        width: 2,
    });
    payments.thresholds = vec![above(0.25, Level::Critical), above(0.15, Level::Warning)];

    let revenue_month = panel(DefaultPanel {
        id: "revenue_month",
        row: "bottom",
        title: "Revenue this month vs last month",
        kind: MonthToDate,
        kpis: &["revenue_today"],
        format: Money,
        width: 4,
    });
    let revenue_breakdown = panel(DefaultPanel {
        id: "revenue_breakdown",
        row: "bottom",
        title: "Revenue today by segment and channel",
        kind: Groups,
        kpis: &["revenue_by_segment_today", "revenue_by_channel_today"],
        format: Money,
        width: 2,
    });
    let mut top_products = panel(DefaultPanel {
        id: "top_products",
        row: "bottom",
        title: "Top products today",
        kind: Table,
        kpis: &["top_products_today"],
        format: Money,
        width: 3,
    });
    top_products.field = Some("revenue".into());
    top_products.limit = Some(10);
    let mut regions = panel(DefaultPanel {
        id: "regions",
        row: "bottom",
        title: "Revenue by region today",
        kind: Map,
        kpis: &["orders_by_region_today"],
        format: Money,
        width: 3,
    });
    regions.field = Some("revenue".into());
    let mut low_stock = panel(DefaultPanel {
        id: "low_stock",
        row: "bottom",
        title: "Low stock",
        kind: LowStock,
        kpis: &["inventory_on_hand"],
        format: Count,
        width: 4,
    });
    low_stock.limit = Some(12);
    let production = panel(DefaultPanel {
        id: "production",
        row: "bottom",
        title: "Production lines",
        kind: Lines,
        kpis: &["production_line_status", "production_output_rate"],
        format: Count,
        width: 4,
    });
    let alerts = panel(DefaultPanel {
        id: "alerts",
        row: "bottom",
        title: "Alerts",
        kind: Alerts,
        kpis: &[],
        format: ValueFormat::Number,
        width: 4,
    });
    vec![
        revenue_today,
        orders_per_minute,
        active_users,
        average_order_value,
        orders_per_hour,
        fulfillment,
        funnel,
        api,
        payments,
        revenue_month,
        revenue_breakdown,
        top_products,
        regions,
        low_stock,
        production,
        alerts,
    ]
}
