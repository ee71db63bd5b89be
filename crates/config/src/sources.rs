//! `[sources]`: systems that send Sightline their own formats, translated at the edge.
//!
//! Secrets are named, not written: `secret_env` (an environment variable) or
//! `secret_file` (a file whose content, trimmed, is the secret). An inline `secret` is
//! accepted for tests and throw-away setups only; it is never printed (see [`Secret`]).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

/// Every configured source.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourcesConfig {
    pub shopify: ShopifyConfig,
    pub odoo: crate::odoo::OdooConfig,
}

/// Shopify webhooks at `POST /v1/sources/shopify`, and `sightline shopify reconcile`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShopifyConfig {
    /// The Admin API version reconciliation reads (`/admin/api/<version>/orders.json`).
    pub api_version: String,
    /// Reconcile every shop with an access token this often while serving (absent: only
    /// `sightline shopify reconcile` does). Shopify retries a webhook for 4 hours only.
    pub reconcile_every: Option<crate::HumanDuration>,
    pub shops: Vec<ShopifyShop>,
}

impl Default for ShopifyConfig {
    fn default() -> Self {
        ShopifyConfig {
            api_version: "2024-10".to_owned(),
            reconcile_every: None,
            shops: Vec::new(),
        }
    }
}

/// One store: its webhook secret (and the previous one during a rotation), the Admin API
/// token for reconciliation, and what Sightline cannot learn from the webhooks alone.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopifyShop {
    /// The `*.myshopify.com` domain Shopify sends in `X-Shopify-Shop-Domain`.
    pub domain: Spanned<String>,
    /// The app's client secret (or the store's webhook signing secret).
    pub secret_env: Option<String>,
    pub secret_file: Option<PathBuf>,
    /// Inline secret: for tests only.
    pub secret: Option<Secret>,
    /// The secret being rotated out, accepted beside the current one.
    pub previous_secret_env: Option<String>,
    pub previous_secret_file: Option<PathBuf>,
    /// Inline previous secret: for tests only.
    pub previous_secret: Option<Secret>,
    /// RFC 3339 time after which the previous secret is refused; absent: accepted until
    /// it is removed from the configuration.
    pub previous_secret_until: Option<Spanned<String>>,
    /// Admin API access token (`X-Shopify-Access-Token`) for reconciliation.
    pub access_token_env: Option<String>,
    pub access_token_file: Option<PathBuf>,
    /// Base URL of the Admin API; default `https://<domain>`.
    pub admin_url: Option<String>,
    /// Count orders marked `test: true` in the KPIs. Off: they are stored as
    /// `shopify.test.<type>` events, which no built-in KPI reads.
    #[serde(default)]
    pub include_test_orders: bool,
    /// Inventory item id → SKU, for items whose SKU Sightline has not learned from a
    /// `products/create|update` webhook. Configured entries win over learned ones.
    #[serde(default)]
    pub inventory_skus: BTreeMap<String, String>,
    /// Location id → warehouse name for `inventory.counted`; default: the location id.
    #[serde(default)]
    pub locations: BTreeMap<String, String>,
}

/// Where a secret comes from, once validated: exactly one of env, file and inline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    Env(String),
    File(PathBuf),
    Inline(Secret),
}

impl fmt::Display for SecretSource {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env(name) => write!(formatter, "environment variable {name}"),
            SecretSource::File(path) => write!(formatter, "file {}", path.display()),
            SecretSource::Inline(_) => formatter.write_str("inline value (tests only)"),
        }
    }
}

impl ShopifyShop {
    /// The webhook secret's source; validation guarantees there is exactly one.
    pub fn secret_source(&self) -> Option<SecretSource> {
        one_source(&self.secret_env, &self.secret_file, &self.secret)
    }

    pub fn previous_secret_source(&self) -> Option<SecretSource> {
        one_source(
            &self.previous_secret_env,
            &self.previous_secret_file,
            &self.previous_secret,
        )
    }

    pub fn access_token_source(&self) -> Option<SecretSource> {
        one_source(&self.access_token_env, &self.access_token_file, &None)
    }

    /// The Admin API base URL, without a trailing slash.
    pub fn admin_base_url(&self) -> String {
        match &self.admin_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("https://{}", self.domain.get_ref()),
        }
    }
}

pub(crate) fn one_source(
    env: &Option<String>,
    file: &Option<PathBuf>,
    inline: &Option<Secret>,
) -> Option<SecretSource> {
    if let Some(name) = env {
        return Some(SecretSource::Env(name.clone()));
    }
    if let Some(path) = file {
        return Some(SecretSource::File(path.clone()));
    }
    inline.clone().map(SecretSource::Inline)
}

/// How many of the three ways to give a secret are used.
pub(crate) fn sources_given(
    env: &Option<String>,
    file: &Option<PathBuf>,
    inline: &Option<Secret>,
) -> usize {
    usize::from(env.is_some()) + usize::from(file.is_some()) + usize::from(inline.is_some())
}

/// A secret written into the configuration: usable, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("Secret(<redacted>)")
    }
}

/// A host name as Shopify sends it: lower-case letters, digits, dots and hyphens.
pub(crate) fn is_shop_domain(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 255
        && text.contains('.')
        && !text.starts_with(['.', '-'])
        && text
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || b".-".contains(&byte))
}
