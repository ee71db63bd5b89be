//! What the receiver tests share: the real receivers `.ci/run` starts, and notifications.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sightline_alerts::{AlertState, Notification, NotificationKind, NotifiedAlert, Severity};

/// The HTTP recorder's base URL, or `None` after saying loudly that the test is skipped.
pub fn recorder(test: &str) -> Option<String> {
    match std::env::var("SIGHTLINE_TEST_RECEIVER") {
        Ok(url) => Some(url),
        Err(_) => {
            eprintln!(
                "SKIPPED {test}: SIGHTLINE_TEST_RECEIVER is not set (.ci/run starts the HTTP \
                 recorder, .ci/receivers/http_recorder.py, and sets it)"
            );
            None
        }
    }
}

/// The HTTPS recorder `.ci/run` starts with a certificate (for `localhost` and
/// `127.0.0.1`) from a CA made for the run.
pub struct TlsRecorder {
    /// `https://localhost:PORT`.
    pub base: String,
    /// The PEM file of the CA that signed the recorder's certificate.
    pub ca_file: String,
}

/// The HTTPS recorder, or `None` after saying loudly that the test is skipped.
pub fn recorder_tls(test: &str) -> Option<TlsRecorder> {
    match (
        std::env::var("SIGHTLINE_TEST_RECEIVER_TLS"),
        std::env::var("SIGHTLINE_TEST_CA"),
    ) {
        (Ok(base), Ok(ca_file)) => Some(TlsRecorder { base, ca_file }),
        _ => {
            eprintln!(
                "SKIPPED {test}: SIGHTLINE_TEST_RECEIVER_TLS / SIGHTLINE_TEST_CA are not set \
                 (.ci/run makes a CA, starts .ci/receivers/http_recorder.py with --tls and sets \
                 them)"
            );
            None
        }
    }
}

/// The SMTP server's `host:port` and its mail directory, or `None` after saying so.
pub fn smtp(test: &str) -> Option<(String, PathBuf)> {
    match (
        std::env::var("SIGHTLINE_TEST_SMTP"),
        std::env::var("SIGHTLINE_TEST_SMTP_MAILDIR"),
    ) {
        (Ok(address), Ok(directory)) => Some((address, PathBuf::from(directory))),
        _ => {
            eprintln!(
                "SKIPPED {test}: SIGHTLINE_TEST_SMTP / SIGHTLINE_TEST_SMTP_MAILDIR are not set \
                 (.ci/run starts .ci/receivers/smtp_recorder.py and sets them)"
            );
            None
        }
    }
}

/// The SMTP servers `.ci/run` starts with a certificate from a CA made for the run.
pub struct SmtpTlsServers {
    /// `host:port` of the server that requires STARTTLS before AUTH and MAIL.
    pub starttls: String,
    /// `host:port` of the server that speaks TLS from the first byte.
    pub tls: String,
    /// The PEM file of the CA that signed both servers' certificate.
    pub ca_file: String,
    /// Where both write the mail they accept (the plain server's directory).
    pub mail_dir: PathBuf,
}

/// The SMTP servers that speak TLS, or `None` after saying loudly that the test is skipped.
pub fn smtp_tls(test: &str) -> Option<SmtpTlsServers> {
    match (
        std::env::var("SIGHTLINE_TEST_SMTP_STARTTLS"),
        std::env::var("SIGHTLINE_TEST_SMTP_TLS"),
        std::env::var("SIGHTLINE_TEST_SMTP_CA"),
        std::env::var("SIGHTLINE_TEST_SMTP_MAILDIR"),
    ) {
        (Ok(starttls), Ok(tls), Ok(ca_file), Ok(mail_dir)) => Some(SmtpTlsServers {
            starttls,
            tls,
            ca_file,
            mail_dir: PathBuf::from(mail_dir),
        }),
        _ => {
            eprintln!(
                "SKIPPED {test}: SIGHTLINE_TEST_SMTP_STARTTLS / SIGHTLINE_TEST_SMTP_TLS / \
                 SIGHTLINE_TEST_SMTP_CA / SIGHTLINE_TEST_SMTP_MAILDIR are not set (.ci/run makes \
                 a CA, starts .ci/receivers/smtp_recorder.py with --starttls and --tls and sets \
                 them)"
            );
            None
        }
    }
}

/// The mails the SMTP recorders wrote to `mail_dir` with this subject. A recorder writes
/// the file before it answers 250, so a mail that was delivered is there.
pub fn recorded_mails(mail_dir: &Path, subject: &str) -> Vec<Value> {
    std::fs::read_dir(mail_dir)
        .expect("the mail directory")
        .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path()).ok())
        .filter_map(|text| serde_json::from_str::<Value>(&text).ok())
        .filter(|record| record["headers"]["subject"] == subject)
        .collect()
}

/// A CA certificate nobody's key signs anything with (its key was thrown away): a
/// `ca_file` can hold it without trusting anything more.
pub const UNRELATED_CA_PEM: &str = "\
-----BEGIN CERTIFICATE-----
MIIBuzCCAWGgAwIBAgIUdygQFFOH0qPGRKgmBeBERnp7E4MwCgYIKoZIzj0EAwIw
KjEoMCYGA1UEAwwfU2lnaHRsaW5lIHRlc3Q6IGFuIHVucmVsYXRlZCBDQTAgFw0y
NjExMjgxMTQ2MjZaGA8yMTI2MTEwNDExNDYyNlowKjEoMCYGA1UEAwwfU2lnaHRs
aW5lIHRlc3Q6IGFuIHVucmVsYXRlZCBDQTBZMBMGByqGSM49AgEGCCqGSM49AwEH
A0IABPGEevNcg26QI7pNsAYoQVAwhU31xdSh3CMARh+0dd+L1OhlZqdazKjYbM0i
x7D/NWV06VvG3crO98YF2HBJwNGjYzBhMB0GA1UdDgQWBBQh/NZpxW6PhnGuZBGO
+xu4C1anKDAfBgNVHSMEGDAWgBQh/NZpxW6PhnGuZBGO+xu4C1anKDAPBgNVHRMB
Af8EBTADAQH/MA4GA1UdDwEB/wQEAwIBBjAKBggqhkjOPQQDAgNIADBFAiBLEoSb
8NrXgyYPWtVmntrA3aU4cKE9mrCgTKuZC40VvQIhAINQQN1hybLb813pTSmHihbj
qXJPt3oNvTVHFvorXTu3
-----END CERTIFICATE-----
";

/// A CA bundle as operators keep them: a comment, another CA first, then the one in
/// `ca_file`; written to `directory`, its path returned. Every certificate of a `ca_file`
/// must be trusted, not just the first.
pub fn ca_bundle(directory: &tempfile::TempDir, ca_file: &str) -> String {
    let ca_pem = std::fs::read_to_string(ca_file).expect("the CA of .ci/run");
    secret_file(
        directory,
        "bundle.pem",
        &format!("# internal CAs\n{UNRELATED_CA_PEM}{ca_pem}"),
    )
}

/// A path prefix no other test (or run) uses: the tests share one recorder.
pub fn unique_prefix(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or(0);
    format!("{test}-{}-{nanos}", std::process::id())
}

/// The requests the recorder received on paths starting with `prefix`, in order.
pub fn recorded(base: &str, prefix: &str) -> Vec<Value> {
    recorded_through(&ureq::agent(), base, prefix)
}

/// [`recorded`] for the HTTPS recorder, trusting the CA that signed its certificate.
pub fn recorded_over_tls(recorder: &TlsRecorder, prefix: &str) -> Vec<Value> {
    let pem = std::fs::read(&recorder.ca_file).expect("the CA of .ci/run");
    let ca = ureq::tls::Certificate::from_pem(&pem).expect("a PEM certificate");
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::new_with_certs(&[ca]))
        .build();
    let agent: ureq::Agent = ureq::Agent::config_builder().tls_config(tls).build().into();
    recorded_through(&agent, &recorder.base, prefix)
}

fn recorded_through(agent: &ureq::Agent, base: &str, prefix: &str) -> Vec<Value> {
    let mut response = agent
        .get(&format!("{base}/__requests"))
        .query("prefix", prefix)
        .call()
        .expect("the recorder answers");
    let text = response
        .body_mut()
        .read_to_string()
        .expect("the recorder's answer is text");
    let value: Value = serde_json::from_str(&text).expect("the recorder answers JSON");
    value.as_array().cloned().unwrap_or_default()
}

pub fn body_json(request: &Value) -> Value {
    serde_json::from_str(request["body"].as_str().expect("a text body")).expect("a JSON body")
}

/// The form fields of a recorded `application/x-www-form-urlencoded` body.
pub fn form(request: &Value) -> BTreeMap<String, String> {
    let body = request["body"].as_str().expect("a text body");
    body.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => out.push(b' '),
            b'%' if index + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).expect("ascii");
                out.push(u8::from_str_radix(hex, 16).expect("a percent escape"));
                index += 2;
            }
            other => out.push(other),
        }
        index += 1;
    }
    String::from_utf8(out).expect("UTF-8 form values")
}

pub fn alert(id: &str, state: AlertState, severity: Severity, endpoint: &str) -> NotifiedAlert {
    NotifiedAlert {
        id: id.to_owned(),
        rule: "error_rate_high".to_owned(),
        incident: 1,
        state,
        is_new: true,
        severity,
        labels: [
            ("alertname".to_owned(), "error_rate_high".to_owned()),
            ("endpoint".to_owned(), endpoint.to_owned()),
            ("team".to_owned(), "checkout".to_owned()),
        ]
        .into(),
        annotations: [
            (
                "summary".to_owned(),
                format!("errors on {endpoint} at 7.2%"),
            ),
            (
                "link".to_owned(),
                format!("/d/ops?panel=errors&endpoint={endpoint}"),
            ),
        ]
        .into(),
        value: Some(0.072),
        threshold: Some(0.05),
        baseline: Some(0.011),
        started_at: Some(1_767_225_600_000_000),
        resolved_at: (state == AlertState::Resolved).then_some(1_767_226_200_000_000),
        transition_seq: 3,
    }
}

/// Two firing alerts of one rule, for `receiver`.
pub fn notification(receiver: &str) -> Notification {
    Notification {
        id: 42,
        dedup_key: "9f2c1d4e5b6a79801f2e3d4c5b6a7980".to_owned(),
        receiver: receiver.to_owned(),
        kind: NotificationKind::Firing,
        group_key: "{}:{alertname=\"error_rate_high\"}".to_owned(),
        group_labels: [("alertname".to_owned(), "error_rate_high".to_owned())].into(),
        title: "2 endpoints firing: /cart, /checkout (error_rate_high)".to_owned(),
        alerts: vec![
            alert(
                "00000000000000a1",
                AlertState::Firing,
                Severity::Critical,
                "/cart",
            ),
            alert(
                "00000000000000b2",
                AlertState::Firing,
                Severity::Critical,
                "/checkout",
            ),
        ],
        created_at: 1_767_225_660_000_000,
        escalation: None,
    }
}

/// A file holding `secret`, as a `*_file` field names it.
pub fn secret_file(directory: &tempfile::TempDir, name: &str, secret: &str) -> String {
    let path = directory.path().join(name);
    std::fs::write(&path, format!("{secret}\n")).expect("writing a temporary file");
    path.to_str().expect("a UTF-8 temporary path").to_owned()
}
