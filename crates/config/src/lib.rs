//! Sightline's configuration: one TOML file, every section optional.
//!
//! Unknown keys are errors (`deny_unknown_fields`) so that a typo never silently falls back
//! to a default; every error names the key and the line. `sightline check` loads a file
//! through [`Config::load`] and prints what it defines; the server refuses to start on the
//! same errors. Sizes take bytes or text (`"128 MiB"`), durations take text (`"7d"`, `"30s"`).

mod dashboard;
mod error;
mod odoo;
mod sources;
mod units;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rust_decimal::Decimal;
use serde::Deserialize;
use toml::Spanned;

pub use dashboard::{
    DashboardConfig, Level, Panel, PanelConfig, PanelKind, Row, Threshold, ValueFormat,
    default_panels,
};
pub use error::ConfigError;
pub use odoo::{ODOO_MODELS, OdooConfig, OdooPoller, OdooPostgres, OdooWebhook};
pub use sources::{Secret, SecretSource, ShopifyConfig, ShopifyShop, SourcesConfig};
pub use units::{ByteSize, HumanDuration, Retention};

const MIB: u64 = 1024 * 1024;
const DAY: Duration = Duration::from_secs(86_400);

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub log: LogConfig,
    pub dedup: DedupConfig,
    pub dead_letters: DeadLetterConfig,
    pub currency: CurrencyConfig,
    pub time: TimeConfig,
    pub kpis: KpiConfig,
    pub engine: EngineConfig,
    pub history: HistoryConfig,
    pub sources: SourcesConfig,
    pub push: PushConfig,
    pub dashboard: DashboardConfig,
    pub alerts: AlertingConfig,
}

/// Alert rules over the KPIs (`GET /v1/alerts`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertingConfig {
    /// The alerting file: `[[alert]]` rules, `[route]`, `[[inhibit_rule]]`,
    /// `[[time_interval]]`, `[[escalation]]` (see crates/alerts/examples/alerts.toml).
    /// Without it alerting runs with no rules.
    pub file: Option<PathBuf>,
    /// Rules are re-evaluated against the KPIs' current windows this often.
    pub evaluate_every: HumanDuration,
    /// Where people open the dashboard (`https://sightline.example.com`), for the links
    /// in notifications; empty: links are relative.
    pub dashboard_url: String,
    /// Rules given by the program rather than a file (the demo's); `file` wins.
    #[serde(skip)]
    pub builtin_rules: Option<&'static str>,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        AlertingConfig {
            file: None,
            evaluate_every: HumanDuration(Duration::from_secs(1)),
            dashboard_url: String::new(),
            builtin_rules: None,
        }
    }
}

/// Live updates to dashboards (`GET /v1/stream`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PushConfig {
    /// Changes are gathered and sent at most this often, each window once with its
    /// latest value.
    pub coalesce: HumanDuration,
    /// A comment line is sent after this long without updates, so proxies keep the
    /// connection and clients notice a dead one.
    pub heartbeat: HumanDuration,
}

impl Default for PushConfig {
    fn default() -> Self {
        PushConfig {
            coalesce: HumanDuration(Duration::from_millis(100)),
            heartbeat: HumanDuration(Duration::from_secs(15)),
        }
    }
}

/// The streaming engine's own operation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// How often the engine state is checkpointed with its log offset; a restart replays
    /// only the log written since.
    pub checkpoint_interval: HumanDuration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            checkpoint_interval: HumanDuration(Duration::from_secs(5)),
        }
    }
}

/// Final windows kept on disk (`data_dir/history`), per resolution: a window's resolution
/// is the step between its starts (the slide of a sliding window).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistoryConfig {
    /// Windows stepping by less than an hour (1-minute, 10-second windows).
    pub minute_windows: Retention,
    /// Windows stepping by an hour or more, less than a day.
    pub hourly_windows: Retention,
    /// Calendar days and longer.
    pub daily_windows: Retention,
    /// Final windows are also kept in memory this long, so recent queries do not read
    /// the disk; the engine checkpoint grows with it.
    pub keep_in_memory: HumanDuration,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            minute_windows: Retention::For(8 * DAY),
            hourly_windows: Retention::For(400 * DAY),
            daily_windows: Retention::Forever,
            keep_in_memory: HumanDuration(Duration::from_secs(2 * 3600)),
        }
    }
}

/// The HTTP listener and its protections against slow or oversized requests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Largest request body accepted, measured after decompression (api.md: 16 MiB).
    pub max_body: ByteSize,
    /// Time allowed to receive a request's headers.
    pub header_timeout: HumanDuration,
    /// Time allowed to receive a whole request body: a stalled client is cut off, and it
    /// never holds the log writer, which only sees fully received requests.
    pub body_timeout: HumanDuration,
    /// Connections beyond this wait in the kernel's accept queue.
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body: ByteSize(16 * MIB),
            header_timeout: HumanDuration(Duration::from_secs(10)),
            body_timeout: HumanDuration(Duration::from_secs(30)),
            max_connections: 4096,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    pub data_dir: PathBuf,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: PathBuf::from("./sightline-data"),
        }
    }
}

/// The embedded event log.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub segment_size: ByteSize,
    /// Sealed segments whose newest record is older than this are deleted.
    pub retention_age: Option<HumanDuration>,
    /// The oldest sealed segments are deleted while the log is larger than this.
    pub retention_size: Option<ByteSize>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_size: ByteSize(128 * MIB),
            retention_age: Some(HumanDuration(30 * DAY)),
            retention_size: None,
        }
    }
}

/// Deduplication by (`source`, `id`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DedupConfig {
    /// How long an identity is remembered. Longer than Shopify's 4-hour retry window.
    pub horizon: HumanDuration,
    /// Upper bound on remembered identities (about 40 bytes each in memory). When full, the
    /// oldest hour of identities is forgotten first and a warning is logged.
    pub max_keys: u64,
}

impl Default for DedupConfig {
    fn default() -> Self {
        DedupConfig {
            horizon: HumanDuration(7 * DAY),
            max_keys: 20_000_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeadLetterConfig {
    pub retention_age: HumanDuration,
    pub retention_size: ByteSize,
}

impl Default for DeadLetterConfig {
    fn default() -> Self {
        DeadLetterConfig {
            retention_age: HumanDuration(30 * DAY),
            retention_size: ByteSize(256 * MIB),
        }
    }
}

/// Event-time semantics (spec/kpis.md, "Time").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeConfig {
    /// The business time zone (IANA name): calendar-day windows run from its midnight.
    pub zone: String,
    /// The watermark trails the newest event time by this much.
    pub disorder_bound: HumanDuration,
    /// Events behind the watermark by up to this much still update their windows.
    pub allowed_lateness: HumanDuration,
    /// With no event for this long, the watermark follows the wall clock.
    pub idle_timeout: HumanDuration,
}

impl Default for TimeConfig {
    fn default() -> Self {
        TimeConfig {
            zone: "UTC".to_owned(),
            disorder_bound: HumanDuration(Duration::from_secs(5)),
            allowed_lateness: HumanDuration(Duration::from_secs(3600)),
            idle_timeout: HumanDuration(Duration::from_secs(5)),
        }
    }
}

/// Which KPIs run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KpiConfig {
    /// Run the built-in `commerce` pack.
    pub builtin_pack: bool,
    /// More KPI definition files (TOML with `[[kpi]]` tables), relative to the working
    /// directory.
    pub files: Vec<PathBuf>,
    /// Reorder points by SKU (for level KPIs with `low_at_by`, such as
    /// `inventory_on_hand`): `"SKU-00042" = 25`. SKUs not listed use the KPI's `low_at`.
    pub reorder_points: BTreeMap<String, Decimal>,
    /// More reorder points from a CSV file of `sku,point` lines (a header line is
    /// allowed); the table above wins where both name a SKU.
    pub reorder_points_file: Option<PathBuf>,
}

impl Default for KpiConfig {
    fn default() -> Self {
        KpiConfig {
            builtin_pack: true,
            files: Vec::new(),
            reorder_points: BTreeMap::new(),
            reorder_points_file: None,
        }
    }
}

impl KpiConfig {
    /// Every configured reorder point: the CSV file's, then the table's. Errors name the
    /// file and line.
    pub fn load_reorder_points(&self) -> Result<BTreeMap<String, Decimal>, String> {
        let mut points = BTreeMap::new();
        if let Some(path) = &self.reorder_points_file {
            let text = std::fs::read_to_string(path).map_err(|error| {
                format!(
                    "kpis.reorder_points_file: cannot read {}: {error}",
                    path.display()
                )
            })?;
            // Spreadsheets often save CSV with a byte-order mark.
            let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
            for (index, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let (sku, point) = line.split_once(',').unwrap_or((line, ""));
                let (sku, point) = (sku.trim().trim_matches('"'), point.trim().trim_matches('"'));
                match point.parse::<Decimal>() {
                    Ok(point) if !sku.is_empty() => {
                        points.insert(sku.to_owned(), point);
                    }
                    // A header such as `sku,reorder_point`.
                    Err(_) if index == 0 => {}
                    _ => {
                        return Err(format!(
                            "{} line {}: expected `sku,point` with a number such as `SKU-00042,25`, got {line:?}",
                            path.display(),
                            index + 1
                        ));
                    }
                }
            }
        }
        points.extend(
            self.reorder_points
                .iter()
                .map(|(sku, point)| (sku.clone(), *point)),
        );
        Ok(points)
    }
}

/// The reporting currency, and rates to it from the other currencies events may use.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CurrencyConfig {
    pub reporting: Spanned<String>,
    /// `USD = "0.92"` means one USD is 0.92 units of the reporting currency.
    pub rates: BTreeMap<Spanned<String>, Spanned<Decimal>>,
}

impl Default for CurrencyConfig {
    fn default() -> Self {
        CurrencyConfig {
            reporting: Spanned::new(0..0, "EUR".to_owned()),
            rates: BTreeMap::new(),
        }
    }
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::from_toml(&text, &path.display().to_string())
    }

    /// Parses and validates configuration text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|error| ConfigError::Parse {
            origin: origin.to_owned(),
            message: describe_toml_error(text, &error),
        })?;
        config.validate(text, origin)?;
        Ok(config)
    }

    fn validate(&self, text: &str, origin: &str) -> Result<(), ConfigError> {
        let invalid =
            |span: std::ops::Range<usize>, key: &str, message: String| ConfigError::Invalid {
                origin: origin.to_owned(),
                line: line_of(text, span.start),
                key: key.to_owned(),
                message,
            };
        let reporting = self.currency.reporting.get_ref();
        if !is_currency_code(reporting) {
            return Err(invalid(
                self.currency.reporting.span(),
                "currency.reporting",
                format!("expected an ISO 4217 code such as \"EUR\", got {reporting:?}"),
            ));
        }
        for (code, rate) in &self.currency.rates {
            let key = format!("currency.rates.{}", code.get_ref());
            if !is_currency_code(code.get_ref()) {
                return Err(invalid(
                    code.span(),
                    &key,
                    "rate keys must be ISO 4217 codes such as USD".into(),
                ));
            }
            if *rate.get_ref() <= Decimal::ZERO {
                return Err(invalid(
                    rate.span(),
                    &key,
                    "a rate must be greater than 0".into(),
                ));
            }
        }
        if self.server.max_body.0 == 0 {
            return Err(invalid(
                0..0,
                "server.max_body",
                "must be greater than 0".into(),
            ));
        }
        if self.log.segment_size.0 < 4096 {
            return Err(invalid(
                0..0,
                "log.segment_size",
                "must be at least 4 KiB".into(),
            ));
        }
        if self.dedup.max_keys == 0 {
            return Err(invalid(
                0..0,
                "dedup.max_keys",
                "must be greater than 0".into(),
            ));
        }
        self.validate_shopify(&invalid)?;
        self.dashboard.validate(&invalid)?;
        odoo::validate(&self.sources.odoo, &invalid)
    }

    fn validate_shopify(
        &self,
        invalid: &dyn Fn(std::ops::Range<usize>, &str, String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        let shopify = &self.sources.shopify;
        let mut domains = std::collections::BTreeSet::new();
        for (index, shop) in shopify.shops.iter().enumerate() {
            let key = |field: &str| format!("sources.shopify.shops[{index}].{field}");
            let domain = shop.domain.get_ref();
            if !sources::is_shop_domain(domain) {
                return Err(invalid(
                    shop.domain.span(),
                    &key("domain"),
                    format!(
                        "expected the shop's domain in lower case, such as \"acme.myshopify.com\", got {domain:?}"
                    ),
                ));
            }
            if !domains.insert(domain.as_str()) {
                return Err(invalid(
                    shop.domain.span(),
                    &key("domain"),
                    format!(
                        "{domain} is configured twice; keep one [[sources.shopify.shops]] table per shop"
                    ),
                ));
            }
            let given = sources::sources_given(&shop.secret_env, &shop.secret_file, &shop.secret);
            if given != 1 {
                return Err(invalid(
                    shop.domain.span(),
                    &key("secret_env"),
                    format!(
                        "{domain}: give the webhook secret exactly one way: secret_env (an environment variable) or secret_file (a file); secret (inline) is for tests"
                    ),
                ));
            }
            let previous = sources::sources_given(
                &shop.previous_secret_env,
                &shop.previous_secret_file,
                &shop.previous_secret,
            );
            if previous > 1 {
                return Err(invalid(
                    shop.domain.span(),
                    &key("previous_secret_env"),
                    format!(
                        "{domain}: give the previous secret at most one way (previous_secret_env or previous_secret_file)"
                    ),
                ));
            }
            if let Some(until) = &shop.previous_secret_until {
                if previous == 0 {
                    return Err(invalid(
                        until.span(),
                        &key("previous_secret_until"),
                        "there is no previous secret to expire; add previous_secret_env or remove this key".into(),
                    ));
                }
                if let Err(problem) = sightline_model::time::parse_rfc3339(until.get_ref()) {
                    return Err(invalid(
                        until.span(),
                        &key("previous_secret_until"),
                        format!(
                            "{problem} (expected an RFC 3339 time such as \"2026-12-01T00:00:00Z\")"
                        ),
                    ));
                }
            }
            if shop.access_token_env.is_some() && shop.access_token_file.is_some() {
                return Err(invalid(
                    shop.domain.span(),
                    &key("access_token_env"),
                    format!(
                        "{domain}: give the access token one way: access_token_env or access_token_file"
                    ),
                ));
            }
            if let Some(url) = &shop.admin_url
                && !(url.starts_with("https://") || url.starts_with("http://"))
            {
                return Err(invalid(
                    shop.domain.span(),
                    &key("admin_url"),
                    format!("expected an http(s) URL such as \"https://{domain}\", got {url:?}"),
                ));
            }
            for item in shop.inventory_skus.keys().chain(shop.locations.keys()) {
                if item.parse::<u64>().is_err() {
                    return Err(invalid(
                        shop.domain.span(),
                        &key("inventory_skus"),
                        format!(
                            "{domain}: keys of inventory_skus and locations are Shopify ids (digits), got {item:?}"
                        ),
                    ));
                }
            }
        }
        if !shopify.api_version.is_empty()
            && !shopify
                .api_version
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
        {
            return Err(invalid(
                0..0,
                "sources.shopify.api_version",
                format!(
                    "expected a version such as \"2024-10\", got {:?}",
                    shopify.api_version
                ),
            ));
        }
        Ok(())
    }

    /// Warnings that do not stop the server but deserve attention.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if let Some(retention) = self.log.retention_age
            && retention.0 < self.dedup.horizon.0
        {
            warnings.push(format!(
                "log.retention_age ({}) is shorter than dedup.horizon ({}): identities are only remembered while their events are in the log",
                retention, self.dedup.horizon
            ));
        }
        warnings
    }

    /// The rate that converts one unit of `currency` into the reporting currency.
    pub fn rate_to_reporting(&self, currency: &str) -> Option<Decimal> {
        if currency == self.currency.reporting.get_ref() {
            return Some(Decimal::ONE);
        }
        self.currency
            .rates
            .iter()
            .find(|(code, _)| code.get_ref() == currency)
            .map(|(_, rate)| *rate.get_ref())
    }
}

pub(crate) fn is_currency_code(text: &str) -> bool {
    text.len() == 3 && text.bytes().all(|byte| byte.is_ascii_uppercase())
}

fn line_of(text: &str, byte_offset: usize) -> usize {
    text[..byte_offset.min(text.len())].matches('\n').count() + 1
}

/// toml's own message already quotes the line and names the key; we keep its first
/// sentence and the position so the error reads as one or two plain sentences.
fn describe_toml_error(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim().to_owned();
    match error.span() {
        Some(span) => {
            let line = line_of(text, span.start);
            let line_text = text.lines().nth(line - 1).unwrap_or("").trim();
            format!("line {line} (`{line_text}`): {message}")
        }
        None => message,
    }
}

#[cfg(test)]
mod tests;
