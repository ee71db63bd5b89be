//! The HTTP client of the HTTP receivers, and how its answers are classified: a
//! connection failure, a timeout, 408, 429 or a 5xx may succeed later and is retried; a
//! certificate that is not trusted and any other answer outside 2xx will not and are
//! given up on at once.
//!
//! The receivers share one client, except one with a `ca_file`, which gets its own: ureq
//! takes its root certificates per agent.

use std::time::Duration;

use ureq::tls::{PemItem, RootCerts, TlsConfig};

use crate::ca_file;
use crate::deliver::DeliveryError;
use crate::error::NotifyError;

#[derive(Clone)]
pub(crate) struct Http {
    agent: ureq::Agent,
    timeout: Duration,
}

/// A request body with its content type.
pub(crate) enum Body {
    Json(serde_json::Value),
    Form(Vec<(&'static str, String)>),
}

impl Http {
    /// A client that trusts the public (Mozilla's, compiled in) root certificates.
    pub fn new(timeout: Duration) -> Http {
        Http::with_roots(timeout, RootCerts::WebPki)
    }

    /// A client like this one that trusts the CA certificates of the PEM file `path`
    /// (`ca_file`) *instead of* the public roots. Not besides them, as email does: ureq
    /// takes either its compiled-in roots or a list of certificates, and the compiled-in
    /// roots (webpki-roots) are trust anchors, not certificates that could join the list.
    /// An HTTP receiver talks to one server (redirects are not followed), so the CA that
    /// issued its certificate is all it needs.
    pub fn trusting_ca_file(&self, receiver: &str, path: &str) -> Result<Http, NotifyError> {
        let pem = ca_file::read(receiver, path)?;
        let mut certificates = Vec::new();
        for item in ureq::tls::parse_pem(&pem) {
            match item {
                Ok(PemItem::Certificate(certificate)) => certificates.push(certificate),
                // A key kept in the same file trusts nothing: passed over, as lettre does.
                Ok(_) => {}
                Err(error) => return Err(ca_file::invalid_pem(receiver, path, error)),
            }
        }
        Ok(Http::with_roots(
            self.timeout,
            RootCerts::new_with_certs(&certificates),
        ))
    }

    fn with_roots(timeout: Duration, roots: RootCerts) -> Http {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // A POST that is redirected would be replayed as a GET (or not at all): the
            // configured URL must be the final one, and a redirect says so.
            .max_redirects(0)
            .timeout_global(Some(timeout))
            .user_agent(concat!("Sightline/", env!("CARGO_PKG_VERSION")))
            .tls_config(TlsConfig::builder().root_certs(roots).build())
            .build()
            .into();
        Http { agent, timeout }
    }

    /// POSTs `body` to `url`. The error never quotes the URL, whose path may be the
    /// credential (Slack); it names the host only.
    pub fn post(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: Body,
    ) -> Result<(), DeliveryError> {
        let host = host_of(url);
        let (content_type, bytes) = match body {
            Body::Json(value) => ("application/json", value.to_string().into_bytes()),
            Body::Form(fields) => (
                "application/x-www-form-urlencoded",
                form_encode(&fields).into_bytes(),
            ),
        };
        let mut request = self.agent.post(url).header("Content-Type", content_type);
        for (name, value) in headers {
            request = request.header(*name, value.as_str());
        }
        let mut response = match request.send(&bytes[..]) {
            Ok(response) => response,
            Err(error) if ca_file::is_certificate_rejected(&error.to_string()) => {
                return Err(ca_file::certificate_not_trusted(
                    host,
                    transport_error(&error),
                    "the URL",
                ));
            }
            Err(error) => {
                return Err(DeliveryError::retryable(format!(
                    "could not reach {host}: {}",
                    transport_error(&error)
                )));
            }
        };
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(());
        }
        let answer = response
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_to_string()
            .unwrap_or_default();
        let answer = excerpt(&answer, 300);
        let message = if answer.is_empty() {
            format!("{host} answered HTTP {status}")
        } else {
            format!("{host} answered HTTP {status}: {answer}")
        };
        if status == 408 || status == 429 || status >= 500 {
            Err(DeliveryError::retryable(message))
        } else if (300..400).contains(&status) {
            Err(DeliveryError::permanent(format!(
                "{message} (a redirect: configure the URL it points to)"
            )))
        } else {
            Err(DeliveryError::permanent(message))
        }
    }
}

/// ureq's own text for a transport failure, without the URL some variants carry.
fn transport_error(error: &ureq::Error) -> String {
    match error {
        ureq::Error::Io(io) => io.to_string(),
        ureq::Error::Timeout(timeout) => format!("timed out ({timeout})"),
        ureq::Error::HostNotFound => "host not found".to_owned(),
        ureq::Error::ConnectionFailed => "connection failed".to_owned(),
        ureq::Error::BadUri(_) => "the URL is not valid".to_owned(),
        other => other.to_string(),
    }
}

fn host_of(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = after_scheme.split(['/', '?', '#']).next().unwrap_or("");
    // Credentials in the authority (user:pass@host) stay out of messages too.
    authority.rsplit('@').next().unwrap_or(authority)
}

fn excerpt(text: &str, max_chars: usize) -> String {
    let text = text.trim();
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// `application/x-www-form-urlencoded`, as browsers and Twilio's API expect it.
pub(crate) fn form_encode(fields: &[(&str, String)]) -> String {
    let mut encoded = String::new();
    for (index, (name, value)) in fields.iter().enumerate() {
        if index > 0 {
            encoded.push('&');
        }
        encode_component(name, &mut encoded);
        encoded.push('=');
        encode_component(value, &mut encoded);
    }
    encoded
}

fn encode_component(text: &str, out: &mut String) {
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_and_hosts() {
        assert_eq!(
            form_encode(&[("To", "+1 555".to_owned()), ("Body", "a&b=c ü".to_owned())]),
            "To=%2B1+555&Body=a%26b%3Dc+%C3%BC"
        );
        assert_eq!(
            host_of("https://hooks.slack.com/services/T0/B0/XYZ"),
            "hooks.slack.com"
        );
        assert_eq!(host_of("http://user:pw@127.0.0.1:8080/x"), "127.0.0.1:8080");
    }
}
