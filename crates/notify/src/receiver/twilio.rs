//! Twilio Programmable Messaging and Voice: one `Messages.json` (SMS) or `Calls.json`
//! (a call reading the title aloud) request per number, form-encoded, with the account
//! SID and auth token as basic auth.

use base64::Engine;
use sightline_alerts::Notification;

use crate::config::{ReceiverConfig, ReceiverKind};
use crate::deliver::DeliveryError;
use crate::error::NotifyError;
use crate::http::{Body, Http};
use crate::receiver::{Channel, api_url, required};
use crate::secret::{Secret, SecretField};

const DEFAULT_API_URL: &str = "https://api.twilio.com";
/// Twilio splits longer bodies into segments and refuses past 1600 characters.
const MAX_SMS_CHARS: usize = 1600;

pub(crate) struct Twilio {
    kind: ReceiverKind,
    /// `<api_url>/2010-04-01/Accounts/<account_sid>`, to which the resource is appended.
    account_url: String,
    /// `Basic base64(sid:token)`: holds the token, so scrubbed like it.
    authorization: Secret,
    auth_token: Secret,
    from: String,
    to: Vec<String>,
    http: Http,
}

impl Twilio {
    pub fn new(
        config: &ReceiverConfig,
        kind: ReceiverKind,
        http: Http,
    ) -> Result<Twilio, NotifyError> {
        let name = &config.name;
        let account_sid = required(
            name,
            "account_sid",
            &config.account_sid,
            "the Account SID (AC…) from the Twilio console",
        )?
        .clone();
        if account_sid.is_empty() || !account_sid.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(NotifyError::config(
                name,
                "account_sid",
                "must be the Account SID (letters and digits, AC…)",
            ));
        }
        let auth_token = config.secret_source(SecretField::AuthToken).require()?;
        let from = required(name, "from", &config.from, "the Twilio number to send from")?.clone();
        let to = required(
            name,
            "to",
            &config.to,
            "the numbers to notify, e.g. [\"+15551230001\"]",
        )?
        .clone();
        if to.is_empty() {
            return Err(NotifyError::config(
                name,
                "to",
                "is empty: list at least one number",
            ));
        }
        let api_url = api_url(config, DEFAULT_API_URL)?;
        let credentials = base64::engine::general_purpose::STANDARD
            .encode(format!("{account_sid}:{}", auth_token.expose()));
        let account_url = format!(
            "{}/2010-04-01/Accounts/{account_sid}",
            api_url.trim_end_matches('/')
        );
        Ok(Twilio {
            kind,
            account_url,
            authorization: Secret::new(format!("Basic {credentials}")),
            auth_token,
            from,
            to,
            http,
        })
    }
}

impl Channel for Twilio {
    fn kind(&self) -> ReceiverKind {
        self.kind
    }

    fn targets(&self, _notification: &Notification) -> Vec<String> {
        self.to.clone()
    }

    fn send(&self, notification: &Notification, target: &str) -> Result<(), DeliveryError> {
        let (resource, fields) = request(self.kind, notification, &self.from, target);
        self.http.post(
            &format!("{}/{resource}", self.account_url),
            &[("Authorization", self.authorization.expose().to_owned())],
            Body::Form(fields),
        )
    }

    fn secrets(&self) -> Vec<&Secret> {
        vec![&self.auth_token, &self.authorization]
    }
}

/// The resource and form fields of one message or call to `to`.
pub(crate) fn request(
    kind: ReceiverKind,
    notification: &Notification,
    from: &str,
    to: &str,
) -> (&'static str, Vec<(&'static str, String)>) {
    if kind == ReceiverKind::TwilioCall {
        let twiml = format!(
            "<Response><Say>{}</Say><Pause length=\"1\"/><Say>{}</Say></Response>",
            xml_escape(&notification.title),
            xml_escape(&notification.title)
        );
        return (
            "Calls.json",
            vec![
                ("To", to.to_owned()),
                ("From", from.to_owned()),
                ("Twiml", twiml),
            ],
        );
    }
    let body: String = notification.title.chars().take(MAX_SMS_CHARS).collect();
    (
        "Messages.json",
        vec![
            ("To", to.to_owned()),
            ("From", from.to_owned()),
            ("Body", body),
        ],
    )
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}
