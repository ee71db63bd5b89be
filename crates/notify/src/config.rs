//! `[[receiver]]` tables: one flat set of fields for every kind, checked per kind by
//! [`crate::Receivers::from_config`] so that a field of the wrong kind is named in the
//! error rather than silently ignored.
//!
//! ```toml
//! [[receiver]]
//! name = "ops-slack"
//! kind = "slack"
//! url_env = "SIGHTLINE_SLACK_WEBHOOK"
//!
//! [[receiver]]
//! name = "ops-mail"
//! kind = "email"
//! smtp = "smtp.example.com:587"
//! tls = "starttls"
//! from = "Sightline <alerts@example.com>"
//! to = ["ops@example.com"]
//! username = "alerts@example.com"
//! password_file = "/run/secrets/smtp"
//! ca_file = "/etc/sightline/relay-ca.pem"  # a relay with an internal or self-signed certificate
//!
//! [[receiver]]
//! name = "on-call-sms"
//! kind = "twilio_sms"            # or "twilio_call"
//! account_sid = "AC0123456789abcdef0123456789abcdef"
//! auth_token_env = "TWILIO_AUTH_TOKEN"
//! from = "+15005550006"
//! to = ["+15551230001", "+15551230002"]
//!
//! [[receiver]]
//! name = "pagerduty"
//! kind = "pagerduty"
//! routing_key_env = "PAGERDUTY_ROUTING_KEY"
//!
//! [[receiver]]
//! name = "alertmanager-consumers"
//! kind = "webhook"
//! url = "https://hooks.internal/alerts"
//! bearer_token_env = "HOOK_TOKEN"
//! max_alerts = 50
//! ca_file = "/etc/sightline/internal-ca.pem"  # trusted instead of the public roots
//! ```
//!
//! `ca_file` works for every kind. Email trusts its CAs besides the public roots; an HTTP
//! receiver (slack, twilio_*, pagerduty, webhook) trusts only them, since it talks to the
//! one server they are for.

use serde::Deserialize;

use crate::error::NotifyError;
use crate::secret::{Secret, SecretField, SecretSource};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiverKind {
    Slack,
    Email,
    TwilioSms,
    TwilioCall,
    Pagerduty,
    Webhook,
}

impl ReceiverKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiverKind::Slack => "slack",
            ReceiverKind::Email => "email",
            ReceiverKind::TwilioSms => "twilio_sms",
            ReceiverKind::TwilioCall => "twilio_call",
            ReceiverKind::Pagerduty => "pagerduty",
            ReceiverKind::Webhook => "webhook",
        }
    }
}

/// How the email receiver secures its SMTP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain text: only for a relay on the same host or network.
    None,
    /// Plain connection upgraded with STARTTLS, which must succeed (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// One `[[receiver]]` table. Secrets have no inline field that is accepted: `url`,
/// `password`, `auth_token`, `routing_key` and `bearer_token` exist only so that writing
/// one is answered with how to give it instead (`<field>_env` or `<field>_file`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    pub name: String,
    #[serde(default)]
    pub kind: Option<ReceiverKind>,

    // slack (a secret: the URL is the credential), webhook
    pub url: Option<Secret>,
    pub url_env: Option<String>,
    pub url_file: Option<String>,

    // email (and `ca_file`, which every kind reads)
    pub smtp: Option<String>,
    pub tls: Option<SmtpTls>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub password_env: Option<String>,
    pub password_file: Option<String>,
    /// A PEM file of CA certificates, for a server whose certificate an internal or
    /// self-signed CA issued. Email trusts them besides the public roots (`starttls` and
    /// `tls` only); the HTTP receivers trust only them (see `Http::trusting_ca_file`).
    pub ca_file: Option<String>,

    // email, twilio
    pub from: Option<String>,
    pub to: Option<Vec<String>>,

    // twilio
    pub account_sid: Option<String>,
    pub auth_token: Option<Secret>,
    pub auth_token_env: Option<String>,
    pub auth_token_file: Option<String>,

    // twilio, pagerduty
    pub api_url: Option<String>,

    // pagerduty
    pub routing_key: Option<Secret>,
    pub routing_key_env: Option<String>,
    pub routing_key_file: Option<String>,
    /// PagerDuty's `payload.source`; default `sightline`.
    pub source: Option<String>,

    // webhook
    pub bearer_token: Option<Secret>,
    pub bearer_token_env: Option<String>,
    pub bearer_token_file: Option<String>,
    /// At most this many alerts per call; the rest are counted in `truncatedAlerts`.
    /// 0 (the default) sends them all, as Alertmanager does.
    pub max_alerts: Option<usize>,

    // webhook, slack, pagerduty: where links to Sightline point (Alertmanager's
    // `externalURL`); dashboard links that are paths are made absolute with it.
    pub external_url: Option<String>,
}

impl ReceiverConfig {
    /// Where the secret `field` of this receiver comes from.
    pub(crate) fn secret_source(&self, field: SecretField) -> SecretSource<'_> {
        let (inline, env, file) = match field {
            SecretField::Url => (&self.url, &self.url_env, &self.url_file),
            SecretField::Password => (&self.password, &self.password_env, &self.password_file),
            SecretField::AuthToken => (
                &self.auth_token,
                &self.auth_token_env,
                &self.auth_token_file,
            ),
            SecretField::RoutingKey => (
                &self.routing_key,
                &self.routing_key_env,
                &self.routing_key_file,
            ),
            SecretField::BearerToken => (
                &self.bearer_token,
                &self.bearer_token_env,
                &self.bearer_token_file,
            ),
        };
        SecretSource {
            receiver: &self.name,
            field,
            inline: inline.as_ref(),
            env: env.as_deref(),
            file: file.as_deref(),
        }
    }

    /// The fields that are set, by their configuration name.
    pub(crate) fn set_fields(&self) -> Vec<&'static str> {
        let candidates: [(&'static str, bool); 26] = [
            ("url", self.url.is_some()),
            ("url_env", self.url_env.is_some()),
            ("url_file", self.url_file.is_some()),
            ("smtp", self.smtp.is_some()),
            ("tls", self.tls.is_some()),
            ("username", self.username.is_some()),
            ("password", self.password.is_some()),
            ("password_env", self.password_env.is_some()),
            ("password_file", self.password_file.is_some()),
            ("ca_file", self.ca_file.is_some()),
            ("from", self.from.is_some()),
            ("to", self.to.is_some()),
            ("account_sid", self.account_sid.is_some()),
            ("auth_token", self.auth_token.is_some()),
            ("auth_token_env", self.auth_token_env.is_some()),
            ("auth_token_file", self.auth_token_file.is_some()),
            ("api_url", self.api_url.is_some()),
            ("routing_key", self.routing_key.is_some()),
            ("routing_key_env", self.routing_key_env.is_some()),
            ("routing_key_file", self.routing_key_file.is_some()),
            ("source", self.source.is_some()),
            ("bearer_token", self.bearer_token.is_some()),
            ("bearer_token_env", self.bearer_token_env.is_some()),
            ("bearer_token_file", self.bearer_token_file.is_some()),
            ("max_alerts", self.max_alerts.is_some()),
            ("external_url", self.external_url.is_some()),
        ];
        candidates
            .into_iter()
            .filter(|(_, set)| *set)
            .map(|(name, _)| name)
            .collect()
    }
}

/// The fields each kind reads (besides `name` and `kind`).
pub(crate) fn fields_of(kind: ReceiverKind) -> &'static [&'static str] {
    match kind {
        ReceiverKind::Slack => &["url", "url_env", "url_file", "ca_file", "external_url"],
        ReceiverKind::Email => &[
            "smtp",
            "tls",
            "username",
            "password",
            "password_env",
            "password_file",
            "ca_file",
            "from",
            "to",
            "external_url",
        ],
        ReceiverKind::TwilioSms | ReceiverKind::TwilioCall => &[
            "account_sid",
            "auth_token",
            "auth_token_env",
            "auth_token_file",
            "from",
            "to",
            "api_url",
            "ca_file",
        ],
        ReceiverKind::Pagerduty => &[
            "routing_key",
            "routing_key_env",
            "routing_key_file",
            "api_url",
            "ca_file",
            "source",
            "external_url",
        ],
        ReceiverKind::Webhook => &[
            "url",
            "url_env",
            "url_file",
            "bearer_token",
            "bearer_token_env",
            "bearer_token_file",
            "max_alerts",
            "ca_file",
            "external_url",
        ],
    }
}

/// Reads the `[[receiver]]` tables of a TOML document (other top-level keys are left to
/// their owners). An error names the table by position and, when it has one, by name.
pub fn parse_receivers(text: &str) -> Result<Vec<ReceiverConfig>, NotifyError> {
    let document: toml::Table = toml::from_str(text).map_err(|error| NotifyError::Parse {
        location: "receivers".to_owned(),
        problem: error.message().to_owned(),
    })?;
    let Some(tables) = document.get("receiver") else {
        return Ok(Vec::new());
    };
    let Some(tables) = tables.as_array() else {
        return Err(NotifyError::Parse {
            location: "receiver".to_owned(),
            problem: "must be an array of tables: write each as [[receiver]]".to_owned(),
        });
    };
    let mut receivers = Vec::with_capacity(tables.len());
    for (index, table) in tables.iter().enumerate() {
        let name = table.get("name").and_then(|name| name.as_str());
        let location = match name {
            Some(name) => format!("[[receiver]] #{} `{name}`", index + 1),
            None => format!("[[receiver]] #{}", index + 1),
        };
        let receiver: ReceiverConfig =
            table
                .clone()
                .try_into()
                .map_err(|error: toml::de::Error| NotifyError::Parse {
                    location,
                    problem: error.message().to_owned(),
                })?;
        receivers.push(receiver);
    }
    Ok(receivers)
}
