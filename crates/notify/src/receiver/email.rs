//! Email over SMTP (lettre, rustls on ring): subject = the title, a plain-text body that
//! lists each alert, and the dedup key both in `Message-ID` (so a resent notification is
//! recognisably the same mail) and in `X-Sightline-Dedup-Key`. With `starttls` and `tls`
//! the server's certificate is checked against the public roots and, for a relay with an
//! internal or self-signed certificate, the CA certificates of `ca_file`.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};
use sightline_alerts::Notification;

use crate::ca_file;
use crate::config::{ReceiverConfig, ReceiverKind, SmtpTls};
use crate::deliver::DeliveryError;
use crate::error::NotifyError;
use crate::format;
use crate::receiver::{Channel, required};
use crate::secret::{Secret, SecretField};

const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

pub(crate) struct Email {
    transport: SmtpTransport,
    from: Mailbox,
    to: Vec<Mailbox>,
    password: Option<Secret>,
    external_url: Option<String>,
}

impl Email {
    pub fn new(config: &ReceiverConfig) -> Result<Email, NotifyError> {
        let name = &config.name;
        let server = required(
            name,
            "smtp",
            &config.smtp,
            "the SMTP server as \"host:port\"",
        )?;
        let Some((host, port)) = server
            .rsplit_once(':')
            .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)))
            .filter(|(host, _)| !host.is_empty())
        else {
            return Err(NotifyError::config(
                name,
                "smtp",
                "must be \"host:port\", e.g. \"smtp.example.com:587\"",
            ));
        };
        let tls_mode = config.tls.unwrap_or(SmtpTls::Starttls);
        let from = required(
            name,
            "from",
            &config.from,
            "the sender, e.g. \"Sightline <alerts@example.com>\"",
        )?;
        let from: Mailbox = from.parse().map_err(|error| {
            NotifyError::config(name, "from", format!("is not an email address ({error})"))
        })?;
        let to_list = required(
            name,
            "to",
            &config.to,
            "the recipients, e.g. [\"ops@example.com\"]",
        )?;
        if to_list.is_empty() {
            return Err(NotifyError::config(
                name,
                "to",
                "is empty: list at least one address",
            ));
        }
        let mut to = Vec::with_capacity(to_list.len());
        for address in to_list {
            to.push(address.parse::<Mailbox>().map_err(|error| {
                NotifyError::config(
                    name,
                    "to",
                    format!("holds `{address}`, which is not an email address ({error})"),
                )
            })?);
        }
        let password = config.secret_source(SecretField::Password).load()?;
        if password.is_some() != config.username.is_some() {
            return Err(NotifyError::config(
                name,
                if config.username.is_some() {
                    "password_env"
                } else {
                    "username"
                },
                "is missing: SMTP authentication takes both a username and a password",
            ));
        }
        let tls = match tls_mode {
            SmtpTls::None if config.ca_file.is_some() => {
                return Err(NotifyError::config(
                    name,
                    "ca_file",
                    "does nothing with `tls = \"none\"` (no certificate is checked on a plain \
                     connection): remove it, or set `tls` to \"starttls\" or \"tls\"",
                ));
            }
            SmtpTls::None => Tls::None,
            SmtpTls::Starttls | SmtpTls::Tls => {
                let mut parameters = TlsParameters::builder(host.to_owned());
                if let Some(path) = &config.ca_file {
                    parameters = parameters.add_root_certificate(ca_certificates(name, path)?);
                }
                let parameters = parameters.build().map_err(|error| match &config.ca_file {
                    // Only the added roots can fail here: a block that is PEM but not an
                    // X.509 certificate.
                    Some(path) => NotifyError::config(
                        name,
                        "ca_file",
                        format!(
                            "names the file {path}, which holds something other than a CA \
                             certificate ({error}): give the CA's certificate in PEM"
                        ),
                    ),
                    None => NotifyError::config(
                        name,
                        "tls",
                        format!("cannot be set up for {host} ({error})"),
                    ),
                })?;
                if tls_mode == SmtpTls::Tls {
                    Tls::Wrapper(parameters)
                } else {
                    Tls::Required(parameters)
                }
            }
        };
        // builder_dangerous only means "no TLS preset": the TLS mode is set right after.
        let mut builder = SmtpTransport::builder_dangerous(host)
            .port(port)
            .tls(tls)
            .timeout(Some(SMTP_TIMEOUT));
        if let (Some(username), Some(password)) = (&config.username, &password) {
            builder = builder.credentials(Credentials::new(
                username.clone(),
                password.expose().to_owned(),
            ));
        }
        Ok(Email {
            transport: builder.build(),
            from,
            to,
            password,
            external_url: config.external_url.clone(),
        })
    }
}

impl Channel for Email {
    fn kind(&self) -> ReceiverKind {
        ReceiverKind::Email
    }

    /// One message to all recipients: the SMTP server takes or refuses it as a whole.
    fn targets(&self, _notification: &Notification) -> Vec<String> {
        vec!["smtp".to_owned()]
    }

    fn send(&self, notification: &Notification, _target: &str) -> Result<(), DeliveryError> {
        let message = message(
            notification,
            &self.from,
            &self.to,
            self.external_url.as_deref(),
        )?;
        match self.transport.send(&message) {
            Ok(_) => Ok(()),
            // 5xx replies (unknown mailbox, message refused) will not change on a retry;
            // connection failures and 4xx replies (greylisting, busy) may.
            Err(error) if error.is_permanent() => Err(DeliveryError::permanent(format!(
                "the SMTP server refused the mail: {error}"
            ))),
            Err(error) if ca_file::is_certificate_rejected(&error.to_string()) => Err(
                ca_file::certificate_not_trusted("the SMTP server", error, "`smtp`"),
            ),
            Err(error) => Err(DeliveryError::retryable(format!(
                "SMTP delivery failed: {error}"
            ))),
        }
    }

    fn secrets(&self) -> Vec<&Secret> {
        self.password.iter().collect()
    }
}

/// The CA certificates in the PEM file `path` (`ca_file`).
fn ca_certificates(receiver: &str, path: &str) -> Result<Certificate, NotifyError> {
    let pem = ca_file::read(receiver, path)?;
    Certificate::from_pem(&pem).map_err(|error| ca_file::invalid_pem(receiver, path, error))
}

/// `X-Sightline-Dedup-Key`: lettre writes only headers that are types.
#[derive(Clone)]
struct DedupKeyHeader(String);

impl Header for DedupKeyHeader {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("X-Sightline-Dedup-Key")
    }

    fn parse(text: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(DedupKeyHeader(text.to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

pub(crate) fn body(notification: &Notification, external_url: Option<&str>) -> String {
    let mut body = format!("{}\n\n", notification.title);
    for alert in &notification.alerts {
        body.push_str(&format!(
            "[{}] {} — {}\n",
            alert.severity.as_str(),
            format::state_word(alert),
            format::summary(alert)
        ));
        body.push_str(&format!("  rule: {}, alert: {}\n", alert.rule, alert.id));
        let measurements = format::measurements(alert);
        if !measurements.is_empty() {
            body.push_str(&format!("  {measurements}\n"));
        }
        if !alert.labels.is_empty() {
            let labels: Vec<String> = alert
                .labels
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            body.push_str(&format!("  labels: {}\n", labels.join(", ")));
        }
        if let Some(link) = format::link(alert, external_url) {
            body.push_str(&format!("  {link}\n"));
        }
        body.push('\n');
    }
    body.push_str(&format!(
        "-- \nSightline, receiver {}, notification {} ({})\n",
        notification.receiver,
        notification.id,
        notification.kind.as_str()
    ));
    body
}

pub(crate) fn message(
    notification: &Notification,
    from: &Mailbox,
    to: &[Mailbox],
    external_url: Option<&str>,
) -> Result<Message, DeliveryError> {
    let mut builder = Message::builder()
        .from(from.clone())
        .subject(notification.title.clone())
        .message_id(Some(format!("<{}@sightline>", notification.dedup_key)))
        .header(DedupKeyHeader(notification.dedup_key.clone()))
        .header(ContentType::TEXT_PLAIN);
    for recipient in to {
        builder = builder.to(recipient.clone());
    }
    builder
        .body(body(notification, external_url))
        .map_err(|error| DeliveryError::permanent(format!("the mail could not be built: {error}")))
}
