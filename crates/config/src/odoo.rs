//! `[sources.odoo]`: one Odoo database, reached three ways — the "Send Webhook
//! Notification" automation (`[sources.odoo.webhook]`), a poller over the external API
//! (`[sources.odoo.poller]`) and an outbox in Odoo's own PostgreSQL
//! (`[sources.odoo.postgres]`). Each is off unless its table is present.
//!
//! Webhook payloads carry many2one fields as bare ids, so names Sightline cannot learn
//! from them (currencies, locations, production lines, product SKUs) can be given here;
//! the poller and the outbox learn product SKUs on their own.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::sources::{Secret, SecretSource, one_source, sources_given};
use crate::{ConfigError, HumanDuration};

/// The models every way in reads.
pub const ODOO_MODELS: &[&str] = &[
    "sale.order",
    "stock.picking",
    "stock.quant",
    "mrp.production",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OdooConfig {
    /// Names this Odoo: its events carry `source` = `odoo/<instance>`.
    pub instance: Spanned<String>,
    /// ISO 4217 code for orders whose `currency_id` cannot be named (the company's
    /// currency); absent: such orders are refused, naming the field.
    pub currency: Option<Spanned<String>>,
    /// `res.currency` id → ISO code, for webhook payloads (which carry the id only).
    pub currencies: BTreeMap<String, String>,
    /// `product.product` id → SKU, beside the Internal References the poller and the
    /// outbox learn; configured entries win. Unknown products get `product-<id>`.
    pub products: BTreeMap<String, String>,
    /// `stock.location` id → warehouse name for `inventory.counted`; default: the id.
    pub locations: BTreeMap<String, String>,
    /// `stock.picking.type` id of a manufacturing order → production line name for
    /// `production.*`; default: the id.
    pub production_lines: BTreeMap<String, String>,
    pub webhook: Option<OdooWebhook>,
    pub poller: Option<OdooPoller>,
    pub postgres: Option<OdooPostgres>,
}

impl Default for OdooConfig {
    fn default() -> Self {
        OdooConfig {
            instance: Spanned::new(0..0, "odoo".to_owned()),
            currency: None,
            currencies: BTreeMap::new(),
            products: BTreeMap::new(),
            locations: BTreeMap::new(),
            production_lines: BTreeMap::new(),
            webhook: None,
            poller: None,
            postgres: None,
        }
    }
}

impl OdooConfig {
    /// Whether any way in is configured.
    pub fn is_enabled(&self) -> bool {
        self.webhook.is_some() || self.poller.is_some() || self.postgres.is_some()
    }

    /// `odoo/<instance>`.
    pub fn source(&self) -> String {
        format!("odoo/{}", self.instance.get_ref())
    }
}

/// `POST /v1/sources/odoo/<token>`: the token in the URL is the secret (Odoo signs
/// nothing). A previous token is accepted beside the current one during a rotation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OdooWebhook {
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
    /// Inline token: for tests only.
    pub token: Option<Secret>,
    pub previous_token_env: Option<String>,
    pub previous_token_file: Option<PathBuf>,
    pub previous_token: Option<Secret>,
}

impl OdooWebhook {
    pub fn token_source(&self) -> Option<SecretSource> {
        one_source(&self.token_env, &self.token_file, &self.token)
    }

    pub fn previous_token_source(&self) -> Option<SecretSource> {
        one_source(
            &self.previous_token_env,
            &self.previous_token_file,
            &self.previous_token,
        )
    }
}

/// The external API poller: JSON-RPC `execute_kw` for Odoo 16–18, JSON-2 for 19+.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OdooPoller {
    /// Odoo's base URL, e.g. `https://odoo.example.com`.
    pub url: Spanned<String>,
    /// The database name.
    pub db: String,
    /// The Odoo major version: 16, 17 or 18 use `/jsonrpc`, 19 and later `/json/2`.
    pub version: Spanned<u32>,
    /// The user id for JSON-RPC; or `login`, exchanged for the id at start.
    pub uid: Option<u64>,
    pub login: Option<String>,
    /// The password or API key (JSON-RPC), the API key (JSON-2, sent as a bearer).
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    /// Inline password: for tests only.
    pub password: Option<Secret>,
    /// Time between two polls.
    #[serde(default = "default_interval")]
    pub interval: HumanDuration,
    /// Rows are re-read from the cursor minus this: a long transaction can commit rows
    /// whose `write_date` is older than the cursor already passed.
    #[serde(default = "default_overlap")]
    pub overlap: HumanDuration,
    /// The models polled.
    #[serde(default = "default_models")]
    pub models: Vec<Spanned<String>>,
    /// Records per request.
    #[serde(default = "default_page_size")]
    pub page_size: usize,
    /// Time allowed for one request.
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
}

fn default_interval() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}

fn default_overlap() -> HumanDuration {
    HumanDuration(Duration::from_secs(300))
}

fn default_models() -> Vec<Spanned<String>> {
    ODOO_MODELS
        .iter()
        .map(|model| Spanned::new(0..0, (*model).to_owned()))
        .collect()
}

fn default_page_size() -> usize {
    500
}

fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}

impl OdooPoller {
    pub fn password_source(&self) -> Option<SecretSource> {
        one_source(&self.password_env, &self.password_file, &self.password)
    }

    /// JSON-2 (`/json/2/<model>/<method>`, Odoo 19+) rather than JSON-RPC.
    pub fn uses_json2(&self) -> bool {
        *self.version.get_ref() >= 19
    }

    pub fn base_url(&self) -> String {
        self.url.get_ref().trim_end_matches('/').to_owned()
    }

    pub fn model_names(&self) -> Vec<String> {
        self.models
            .iter()
            .map(|model| model.get_ref().clone())
            .collect()
    }
}

/// The outbox in Odoo's PostgreSQL (`crates/sources/sql/odoo_outbox.sql`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OdooPostgres {
    /// A libpq connection string (`host=db user=sightline dbname=odoo`) or URL
    /// (`postgresql://sightline@db/odoo`); it holds the password, so it is a secret.
    pub connection_env: Option<String>,
    pub connection_file: Option<PathBuf>,
    /// Inline connection string: for tests only.
    pub connection: Option<Secret>,
    /// Outbox rows read and committed together.
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// The outbox is read again this often even without a notification (notifications
    /// are only a wake-up; a missed one costs at most this much delay).
    #[serde(default = "default_rescan")]
    pub rescan: HumanDuration,
}

fn default_batch() -> usize {
    1000
}

fn default_rescan() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}

impl OdooPostgres {
    pub fn connection_source(&self) -> Option<SecretSource> {
        one_source(
            &self.connection_env,
            &self.connection_file,
            &self.connection,
        )
    }
}

type Invalid<'a> = &'a dyn Fn(Range<usize>, &str, String) -> ConfigError;

pub(crate) fn validate(odoo: &OdooConfig, invalid: Invalid<'_>) -> Result<(), ConfigError> {
    let instance = odoo.instance.get_ref();
    let instance_ok = !instance.is_empty()
        && instance.len() <= 100
        && instance
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"._-".contains(&byte));
    if !instance_ok {
        return Err(invalid(
            odoo.instance.span(),
            "sources.odoo.instance",
            format!(
                "expected a short name of letters, digits, '.', '_' or '-' such as \"prod\", got {instance:?}"
            ),
        ));
    }
    if let Some(currency) = &odoo.currency
        && !crate::is_currency_code(currency.get_ref())
    {
        return Err(invalid(
            currency.span(),
            "sources.odoo.currency",
            format!(
                "expected an ISO 4217 code such as \"EUR\", got {:?}",
                currency.get_ref()
            ),
        ));
    }
    for (id, code) in &odoo.currencies {
        if !crate::is_currency_code(code) || id.parse::<u64>().is_err() {
            return Err(invalid(
                odoo.instance.span(),
                &format!("sources.odoo.currencies.{id}"),
                format!(
                    "expected a res.currency id (digits) = ISO 4217 code, such as \"1\" = \"EUR\", got {id:?} = {code:?}"
                ),
            ));
        }
    }
    let maps = [
        ("products", &odoo.products),
        ("locations", &odoo.locations),
        ("production_lines", &odoo.production_lines),
    ];
    for (name, map) in maps {
        for (id, value) in map {
            if id.parse::<u64>().is_err() || value.trim().is_empty() {
                return Err(invalid(
                    odoo.instance.span(),
                    &format!("sources.odoo.{name}.{id}"),
                    format!(
                        "keys are Odoo record ids (digits) and values non-empty names, got {id:?} = {value:?}"
                    ),
                ));
            }
        }
    }
    if let Some(webhook) = &odoo.webhook {
        let given = sources_given(&webhook.token_env, &webhook.token_file, &webhook.token);
        if given != 1 {
            return Err(invalid(
                odoo.instance.span(),
                "sources.odoo.webhook.token_env",
                "give the webhook token exactly one way: token_env (an environment variable) or token_file (a file); token (inline) is for tests".into(),
            ));
        }
        let previous = sources_given(
            &webhook.previous_token_env,
            &webhook.previous_token_file,
            &webhook.previous_token,
        );
        if previous > 1 {
            return Err(invalid(
                odoo.instance.span(),
                "sources.odoo.webhook.previous_token_env",
                "give the previous token at most one way (previous_token_env or previous_token_file)".into(),
            ));
        }
    }
    if let Some(poller) = &odoo.poller {
        validate_poller(poller, invalid)?;
    }
    if let Some(postgres) = &odoo.postgres {
        let given = sources_given(
            &postgres.connection_env,
            &postgres.connection_file,
            &postgres.connection,
        );
        if given != 1 {
            return Err(invalid(
                odoo.instance.span(),
                "sources.odoo.postgres.connection_env",
                "give the connection string exactly one way: connection_env (an environment variable) or connection_file (a file); connection (inline) is for tests".into(),
            ));
        }
        if postgres.batch == 0 || postgres.batch > 100_000 {
            return Err(invalid(
                odoo.instance.span(),
                "sources.odoo.postgres.batch",
                format!("expected 1 to 100000 rows, got {}", postgres.batch),
            ));
        }
        if postgres.rescan.0 < Duration::from_millis(100) {
            return Err(invalid(
                odoo.instance.span(),
                "sources.odoo.postgres.rescan",
                "must be at least 100ms".into(),
            ));
        }
    }
    Ok(())
}

fn validate_poller(poller: &OdooPoller, invalid: Invalid<'_>) -> Result<(), ConfigError> {
    let url = poller.url.get_ref();
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(invalid(
            poller.url.span(),
            "sources.odoo.poller.url",
            format!("expected an http(s) URL such as \"https://odoo.example.com\", got {url:?}"),
        ));
    }
    let version = *poller.version.get_ref();
    if !(16..=99).contains(&version) {
        return Err(invalid(
            poller.version.span(),
            "sources.odoo.poller.version",
            format!(
                "expected Odoo's major version, 16 or later (16–18 use JSON-RPC, 19+ JSON-2), got {version}"
            ),
        ));
    }
    if poller.db.trim().is_empty() {
        return Err(invalid(
            poller.url.span(),
            "sources.odoo.poller.db",
            "name the Odoo database".into(),
        ));
    }
    let given = sources_given(
        &poller.password_env,
        &poller.password_file,
        &poller.password,
    );
    if given != 1 {
        return Err(invalid(
            poller.url.span(),
            "sources.odoo.poller.password_env",
            "give the password or API key exactly one way: password_env or password_file; password (inline) is for tests".into(),
        ));
    }
    if !poller.uses_json2() && poller.uid.is_none() && poller.login.is_none() {
        return Err(invalid(
            poller.version.span(),
            "sources.odoo.poller.uid",
            format!("JSON-RPC (Odoo {version}) needs the user: set uid (a number) or login"),
        ));
    }
    if poller.interval.0 < Duration::from_secs(1) {
        return Err(invalid(
            poller.url.span(),
            "sources.odoo.poller.interval",
            "must be at least 1s".into(),
        ));
    }
    if poller.page_size == 0 || poller.page_size > 10_000 {
        return Err(invalid(
            poller.url.span(),
            "sources.odoo.poller.page_size",
            format!("expected 1 to 10000 records, got {}", poller.page_size),
        ));
    }
    if poller.models.is_empty() {
        return Err(invalid(
            poller.url.span(),
            "sources.odoo.poller.models",
            format!("name at least one of {}", ODOO_MODELS.join(", ")),
        ));
    }
    for model in &poller.models {
        if !ODOO_MODELS.contains(&model.get_ref().as_str()) {
            return Err(invalid(
                model.span(),
                "sources.odoo.poller.models",
                format!(
                    "{:?} is not a model Sightline maps; choose from {}",
                    model.get_ref(),
                    ODOO_MODELS.join(", ")
                ),
            ));
        }
    }
    Ok(())
}
