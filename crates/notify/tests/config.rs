//! Configuration errors name the receiver and the field and say what to do; secrets stay
//! out of every error and Debug print.

mod common;

use common::{UNRELATED_CA_PEM, notification, recorder, secret_file, unique_prefix};
use sightline_notify::{NotifyError, ReceiverConfig, ReceiverKind, Receivers, parse_receivers};

fn error_of(text: &str) -> String {
    let configs = match parse_receivers(text) {
        Ok(configs) => configs,
        Err(error) => return error.to_string(),
    };
    match Receivers::from_config(&configs) {
        Ok(_) => panic!("accepted: {text}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn errors_name_the_receiver_and_the_field() {
    let inline = error_of(
        r#"
        [[receiver]]
        name = "ops-slack"
        kind = "slack"
        url = "https://hooks.slack.com/services/T0/B0/inline-secret-value"
        "#,
    );
    assert!(
        inline.starts_with("receiver `ops-slack`: `url`"),
        "{inline}"
    );
    assert!(
        inline.contains("url_env") && inline.contains("url_file"),
        "{inline}"
    );
    assert!(!inline.contains("inline-secret-value"), "{inline}");

    let unknown = error_of(
        r#"
        [[receiver]]
        name = "pager"
        kind = "pagerduty"
        routing_kee_env = "X"
        "#,
    );
    assert!(
        unknown.contains("`pager`") && unknown.contains("routing_kee_env"),
        "{unknown}"
    );

    let stray = error_of(
        r#"
        [[receiver]]
        name = "ops-slack"
        kind = "slack"
        url_env = "SLACK_URL"
        smtp = "mail:25"
        "#,
    );
    assert!(
        stray.starts_with("receiver `ops-slack`: `smtp` does not apply to a slack receiver"),
        "{stray}"
    );

    let missing_env = error_of(
        r#"
        [[receiver]]
        name = "sms"
        kind = "twilio_sms"
        account_sid = "AC0123"
        auth_token_env = "SIGHTLINE_NOTIFY_TEST_SURELY_UNSET"
        from = "+15005550006"
        to = ["+15551230001"]
        "#,
    );
    assert!(
        missing_env.starts_with("receiver `sms`: `auth_token_env`")
            && missing_env.contains("SIGHTLINE_NOTIFY_TEST_SURELY_UNSET"),
        "{missing_env}"
    );

    let no_kind = error_of("[[receiver]]\nname = \"x\"\n");
    assert!(
        no_kind.starts_with("receiver `x`: `kind` is missing"),
        "{no_kind}"
    );

    let bad_kind = error_of("[[receiver]]\nname = \"x\"\nkind = \"fax\"\n");
    assert!(
        bad_kind.contains("`x`") && bad_kind.contains("fax"),
        "{bad_kind}"
    );

    let no_to = error_of(
        r#"
        [[receiver]]
        name = "mail"
        kind = "email"
        smtp = "mail.example.com:587"
        from = "alerts@example.com"
        "#,
    );
    assert!(
        no_to.starts_with("receiver `mail`: `to` is missing"),
        "{no_to}"
    );

    let bad_smtp = error_of(
        r#"
        [[receiver]]
        name = "mail"
        kind = "email"
        smtp = "mail.example.com"
        from = "alerts@example.com"
        to = ["ops@example.com"]
        "#,
    );
    assert!(
        bad_smtp.starts_with("receiver `mail`: `smtp` must be \"host:port\""),
        "{bad_smtp}"
    );

    let twice = Receivers::from_config(&[
        ReceiverConfig {
            name: "hook".to_owned(),
            kind: Some(ReceiverKind::Webhook),
            url: Some(sightline_notify::Secret::new("http://127.0.0.1:9/a")),
            ..ReceiverConfig::default()
        },
        ReceiverConfig {
            name: "hook".to_owned(),
            kind: Some(ReceiverKind::Webhook),
            url: Some(sightline_notify::Secret::new("http://127.0.0.1:9/b")),
            ..ReceiverConfig::default()
        },
    ]);
    assert!(matches!(twice, Err(NotifyError::DuplicateReceiver(name)) if name == "hook"));
}

#[test]
fn a_full_configuration_parses() {
    let secrets = tempfile::tempdir().expect("a temporary directory");
    let slack_url = secret_file(
        &secrets,
        "slack",
        "https://hooks.slack.com/services/T0/B0/X",
    );
    let token = secret_file(&secrets, "token", "twilio-token");
    let text = format!(
        r#"
        [server]
        listen = "elsewhere's business"

        [[receiver]]
        name = "ops-slack"
        kind = "slack"
        url_file = "{slack_url}"

        [[receiver]]
        name = "ops-mail"
        kind = "email"
        smtp = "smtp.example.com:465"
        tls = "tls"
        from = "Sightline <alerts@example.com>"
        to = ["ops@example.com"]

        [[receiver]]
        name = "call"
        kind = "twilio_call"
        account_sid = "AC0123456789abcdef0123456789abcdef"
        auth_token_file = "{token}"
        from = "+15005550006"
        to = ["+15551230001"]

        [[receiver]]
        name = "hook"
        kind = "webhook"
        url = "https://hooks.internal/alerts"
        max_alerts = 50
        "#
    );
    let configs = parse_receivers(&text).expect("valid TOML");
    let receivers = Receivers::from_config(&configs).expect("valid receivers");
    assert_eq!(
        receivers.names().collect::<Vec<_>>(),
        ["call", "hook", "ops-mail", "ops-slack"]
    );
    assert_eq!(receivers.kind("call"), Some(ReceiverKind::TwilioCall));
}

/// A private key: a PEM file without a certificate block.
const KEY_ONLY_PEM: &str =
    "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----";

/// A certificate block a PEM reader refuses.
const BAD_BASE64_PEM: &str =
    "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----";

/// An email receiver for `ops-mail` with `lines` added to its table.
fn mail_receiver(lines: &str) -> String {
    format!(
        r#"
        [[receiver]]
        name = "ops-mail"
        kind = "email"
        smtp = "smtp.internal.example:587"
        from = "alerts@example.com"
        to = ["ops@example.com"]
        {lines}
        "#
    )
}

#[test]
fn ca_file_errors_name_the_receiver_and_the_field() {
    let files = tempfile::tempdir().expect("a temporary directory");
    let missing = files.path().join("missing.pem");
    let missing = missing.to_str().expect("a UTF-8 temporary path");
    let unreadable = error_of(&mail_receiver(&format!("ca_file = \"{missing}\"")));
    assert!(
        unreadable.starts_with(&format!(
            "receiver `ops-mail`: `ca_file` names the file {missing}, which cannot be read"
        )),
        "{unreadable}"
    );

    // A key, a DER file read as text, a certificate written with indentation: none holds
    // a certificate block a PEM reader takes.
    let key_only = secret_file(&files, "key.pem", KEY_ONLY_PEM);
    let indented = secret_file(
        &files,
        "indented.pem",
        &UNRELATED_CA_PEM
            .lines()
            .map(|line| format!("    {line}\n"))
            .collect::<String>(),
    );
    for path in [key_only, indented] {
        let empty = error_of(&mail_receiver(&format!("ca_file = \"{path}\"")));
        assert!(
            empty.starts_with(&format!(
                "receiver `ops-mail`: `ca_file` names the file {path}, which holds no PEM \
                 certificate"
            )) && empty.contains("openssl x509 -inform der"),
            "{empty}"
        );
    }

    let bad_base64 = secret_file(&files, "bad-base64.pem", BAD_BASE64_PEM);
    let not_pem = error_of(&mail_receiver(&format!("ca_file = \"{bad_base64}\"")));
    assert!(
        not_pem.starts_with(&format!(
            "receiver `ops-mail`: `ca_file` names the file {bad_base64}, whose certificates are \
             not valid PEM"
        )),
        "{not_pem}"
    );

    // Well-formed PEM around bytes that are no X.509 certificate ("hello world").
    let not_x509 = secret_file(
        &files,
        "not-x509.pem",
        "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----",
    );
    let not_a_certificate = error_of(&mail_receiver(&format!(
        "tls = \"tls\"\nca_file = \"{not_x509}\""
    )));
    assert!(
        not_a_certificate.starts_with(&format!(
            "receiver `ops-mail`: `ca_file` names the file {not_x509}, which holds something \
             other than a CA certificate"
        )),
        "{not_a_certificate}"
    );

    let good = secret_file(&files, "ca.pem", UNRELATED_CA_PEM);
    let plain = error_of(&mail_receiver(&format!(
        "tls = \"none\"\nca_file = \"{good}\""
    )));
    assert!(
        plain.starts_with("receiver `ops-mail`: `ca_file` does nothing with `tls = \"none\"`")
            && plain.contains("\"starttls\" or \"tls\""),
        "{plain}"
    );
}

/// A receiver of each HTTP kind, named after its kind, with `ca_file` set to `ca_file`.
fn http_receivers_with_ca_file(secrets: &tempfile::TempDir, ca_file: &str) -> Vec<String> {
    let slack_url = secret_file(
        secrets,
        "slack-url",
        "https://hooks.slack.com/services/T0/B0/X",
    );
    let token = secret_file(secrets, "token", "a-token");
    let twilio = format!(
        "account_sid = \"AC0123\"\nauth_token_file = \"{token}\"\nfrom = \"+15005550006\"\n\
         to = [\"+15551230001\"]"
    );
    [
        ("slack", format!("url_file = \"{slack_url}\"")),
        ("pagerduty", format!("routing_key_file = \"{token}\"")),
        ("twilio_sms", twilio.clone()),
        ("twilio_call", twilio),
        ("webhook", "url = \"https://hooks.internal/alerts\"".to_owned()),
    ]
    .into_iter()
    .map(|(kind, fields)| {
        format!(
            "[[receiver]]\nname = \"{kind}\"\nkind = \"{kind}\"\n{fields}\nca_file = \"{ca_file}\"\n"
        )
    })
    .collect()
}

#[test]
fn a_ca_file_of_pem_certificates_is_accepted_for_every_kind() {
    let files = tempfile::tempdir().expect("a temporary directory");
    // Text around the blocks and several certificates, as CA bundles come.
    let bundle = secret_file(
        &files,
        "bundle.pem",
        &format!("Internal CAs\n{UNRELATED_CA_PEM}\r\n{UNRELATED_CA_PEM}"),
    );
    let mail_receivers = ["", "tls = \"starttls\"", "tls = \"tls\""]
        .map(|tls| mail_receiver(&format!("{tls}\nca_file = \"{bundle}\"")));
    let http_receivers = http_receivers_with_ca_file(&files, &bundle);
    assert_eq!(http_receivers.len(), 5);
    for text in mail_receivers.into_iter().chain(http_receivers) {
        let configs = parse_receivers(&text).expect("valid TOML");
        let receivers = Receivers::from_config(&configs);
        assert!(receivers.is_ok(), "{text}: {:?}", receivers.err());
    }
}

#[test]
fn ca_file_errors_of_http_receivers_name_the_receiver_and_the_field() {
    let files = tempfile::tempdir().expect("a temporary directory");
    let missing = files.path().join("missing.pem");
    let missing = missing.to_str().expect("a UTF-8 temporary path").to_owned();
    let key_only = secret_file(&files, "key.pem", KEY_ONLY_PEM);
    let bad_base64 = secret_file(&files, "bad-base64.pem", BAD_BASE64_PEM);
    let cases = [
        (missing, "which cannot be read"),
        (key_only, "which holds no PEM certificate"),
        (bad_base64, "whose certificates are not valid PEM"),
    ];
    for (path, problem) in cases {
        for text in http_receivers_with_ca_file(&files, &path) {
            let kind = text
                .lines()
                .nth(1)
                .and_then(|line| line.strip_prefix("name = "))
                .expect("the name line")
                .trim_matches('"')
                .to_owned();
            let error = error_of(&text);
            assert!(
                error.starts_with(&format!(
                    "receiver `{kind}`: `ca_file` names the file {path}, {problem}"
                )),
                "{error}"
            );
        }
    }
}

#[test]
fn secrets_stay_out_of_errors_and_debug() {
    let Some(base) = recorder("secrets_stay_out_of_errors_and_debug") else {
        return;
    };
    let prefix = format!("/status-401/{}", unique_prefix("secrets"));
    let secrets = tempfile::tempdir().expect("a temporary directory");
    let slack_token = "xoxb-slack-path-token-314159";
    let twilio_token = "twilio-auth-token-271828";
    let configs = vec![
        ReceiverConfig {
            name: "slack".to_owned(),
            kind: Some(ReceiverKind::Slack),
            url_file: Some(secret_file(
                &secrets,
                "slack",
                &format!("{base}{prefix}/services/{slack_token}"),
            )),
            ..ReceiverConfig::default()
        },
        ReceiverConfig {
            name: "sms".to_owned(),
            kind: Some(ReceiverKind::TwilioSms),
            account_sid: Some("AC0123".to_owned()),
            auth_token_file: Some(secret_file(&secrets, "twilio", twilio_token)),
            from: Some("+15005550006".to_owned()),
            to: Some(vec!["+15551230001".to_owned()]),
            // The recorder answers 401 and the path carries the token: the error text
            // would show it if anything quoted the URL.
            api_url: Some(format!("{base}{prefix}/{twilio_token}")),
            ..ReceiverConfig::default()
        },
    ];
    let receivers = Receivers::from_config(&configs).expect("valid receivers");
    for receiver in ["slack", "sms"] {
        let outcome = receivers.deliver(&notification(receiver));
        let described = outcome.describe_failures();
        assert!(described.contains("HTTP 401"), "{described}");
        let debug = format!("{outcome:?}");
        for secret in [slack_token, twilio_token] {
            assert!(!described.contains(secret), "{described}");
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(
            !outcome.failures().any(|(_, error)| error.retryable),
            "401 is permanent"
        );
    }
    let debug = format!("{receivers:?}");
    assert!(
        !debug.contains(twilio_token) && !debug.contains(slack_token),
        "{debug}"
    );
    let inline = ReceiverConfig {
        bearer_token: Some(sightline_notify::Secret::new("inline-bearer-161803")),
        ..ReceiverConfig::default()
    };
    let debug = format!("{inline:?}");
    assert!(
        !debug.contains("inline-bearer-161803") && debug.contains("<secret>"),
        "{debug}"
    );
}
