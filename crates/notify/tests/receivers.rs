//! Each receiver against a real server: the HTTP recorder standing in for Slack, Twilio,
//! PagerDuty and webhook consumers, and a real SMTP server. What is asserted is what
//! each service documents it reads.

mod common;

use base64::Engine;
use common::{
    UNRELATED_CA_PEM, alert, body_json, ca_bundle, form, notification, recorded, recorded_mails,
    recorded_over_tls, recorder, recorder_tls, secret_file, smtp, smtp_tls, unique_prefix,
};
use sightline_alerts::{AlertState, NotificationKind, Severity};
use sightline_notify::{ReceiverConfig, ReceiverKind, Receivers, SmtpTls};

fn config(name: &str, kind: ReceiverKind) -> ReceiverConfig {
    ReceiverConfig {
        name: name.to_owned(),
        kind: Some(kind),
        ..ReceiverConfig::default()
    }
}

const TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";

/// `receiver` as a Twilio account calling `api_url`, its token `twilio-token-5678` in a
/// file of `secrets`, sending from +15005550006 to `to`.
fn twilio(
    receiver: ReceiverConfig,
    api_url: &str,
    secrets: &tempfile::TempDir,
    to: &[&str],
) -> ReceiverConfig {
    ReceiverConfig {
        account_sid: Some(TWILIO_SID.to_owned()),
        auth_token_file: Some(secret_file(secrets, "token", "twilio-token-5678")),
        from: Some("+15005550006".to_owned()),
        to: Some(to.iter().map(|number| (*number).to_owned()).collect()),
        api_url: Some(api_url.to_owned()),
        ..receiver
    }
}

#[test]
fn slack_gets_an_incoming_webhook_message() {
    let Some(base) = recorder("slack_gets_an_incoming_webhook_message") else {
        return;
    };
    let prefix = format!("/{}", unique_prefix("slack"));
    let secrets = tempfile::tempdir().expect("a temporary directory");
    let url = format!("{base}{prefix}/services/T0001/B0001/hook-token-1234");
    let receivers = Receivers::from_config(&[ReceiverConfig {
        url_file: Some(secret_file(&secrets, "slack-url", &url)),
        external_url: Some("https://sightline.example.com".to_owned()),
        ..config("ops-slack", ReceiverKind::Slack)
    }])
    .expect("a valid receiver");

    let outcome = receivers.deliver(&notification("ops-slack"));
    assert!(outcome.is_success(), "{}", outcome.describe_failures());

    let requests = recorded(&base, &prefix);
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request["method"], "POST");
    assert_eq!(
        request["path"],
        format!("{prefix}/services/T0001/B0001/hook-token-1234")
    );
    assert_eq!(request["headers"]["content-type"], "application/json");
    let message = body_json(request);
    assert_eq!(
        message["text"],
        "2 endpoints firing: /cart, /checkout (error_rate_high)"
    );
    let attachments = message["attachments"].as_array().expect("attachments");
    assert_eq!(attachments.len(), 2, "one per alert");
    assert_eq!(attachments[0]["color"], "#a30200", "critical is dark red");
    let text = attachments[1]["blocks"][0]["text"]["text"]
        .as_str()
        .expect("a mrkdwn section");
    assert!(text.contains("errors on /checkout at 7.2%"), "{text}");
    assert!(
        text.contains("value 0.072 · threshold 0.05 · baseline 0.011"),
        "{text}"
    );
    assert!(
        text.contains("<https://sightline.example.com/d/ops?panel=errors&amp;endpoint=/checkout|Open in Sightline>"),
        "{text}"
    );
}

#[test]
fn twilio_sends_one_sms_per_number_with_basic_auth() {
    let Some(base) = recorder("twilio_sends_one_sms_per_number_with_basic_auth") else {
        return;
    };
    let prefix = format!("/{}", unique_prefix("twilio-sms"));
    let secrets = tempfile::tempdir().expect("a temporary directory");
    let sid = TWILIO_SID;
    let receivers = Receivers::from_config(&[twilio(
        config("on-call-sms", ReceiverKind::TwilioSms),
        &format!("{base}{prefix}"),
        &secrets,
        &["+15551230001", "+15551230002"],
    )])
    .expect("a valid receiver");

    let outcome = receivers.deliver(&notification("on-call-sms"));
    assert!(outcome.is_success(), "{}", outcome.describe_failures());
    assert_eq!(outcome.targets.len(), 2);

    let requests = recorded(&base, &prefix);
    assert_eq!(requests.len(), 2, "one request per number");
    let expected_auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{sid}:twilio-token-5678"))
    );
    for (request, number) in requests.iter().zip(["+15551230001", "+15551230002"]) {
        assert_eq!(request["method"], "POST");
        assert_eq!(
            request["path"],
            format!("{prefix}/2010-04-01/Accounts/{sid}/Messages.json")
        );
        assert_eq!(
            request["headers"]["content-type"],
            "application/x-www-form-urlencoded"
        );
        assert_eq!(request["headers"]["authorization"], expected_auth.as_str());
        let fields = form(request);
        assert_eq!(fields["To"], number);
        assert_eq!(fields["From"], "+15005550006");
        assert_eq!(
            fields["Body"],
            "2 endpoints firing: /cart, /checkout (error_rate_high)"
        );
    }
}

#[test]
fn twilio_calls_read_the_title_aloud() {
    let Some(base) = recorder("twilio_calls_read_the_title_aloud") else {
        return;
    };
    let prefix = format!("/{}", unique_prefix("twilio-call"));
    let secrets = tempfile::tempdir().expect("a temporary directory");
    let sid = TWILIO_SID;
    let receivers = Receivers::from_config(&[twilio(
        config("on-call-voice", ReceiverKind::TwilioCall),
        &format!("{base}{prefix}"),
        &secrets,
        &["+15551230001"],
    )])
    .expect("a valid receiver");
    let mut call = notification("on-call-voice");
    call.title = "Payments & refunds <down>".to_owned();

    let outcome = receivers.deliver(&call);
    assert!(outcome.is_success(), "{}", outcome.describe_failures());

    let requests = recorded(&base, &prefix);
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0]["path"],
        format!("{prefix}/2010-04-01/Accounts/{sid}/Calls.json")
    );
    let fields = form(&requests[0]);
    assert_eq!(fields["To"], "+15551230001");
    let twiml = &fields["Twiml"];
    assert!(
        twiml.starts_with("<Response><Say>Payments &amp; refunds &lt;down&gt;</Say>"),
        "{twiml}"
    );
    assert!(twiml.ends_with("</Response>"), "{twiml}");
}

#[test]
fn pagerduty_gets_one_event_per_alert_keyed_by_fingerprint() {
    let Some(base) = recorder("pagerduty_gets_one_event_per_alert_keyed_by_fingerprint") else {
        return;
    };
    let prefix = format!("/{}", unique_prefix("pagerduty"));
    let secrets = tempfile::tempdir().expect("a temporary directory");
    let receivers = Receivers::from_config(&[ReceiverConfig {
        routing_key_file: Some(secret_file(&secrets, "key", "R0UT1NGKEY0123456789")),
        api_url: Some(format!("{base}{prefix}/v2/enqueue")),
        external_url: Some("https://sightline.example.com".to_owned()),
        ..config("pagerduty", ReceiverKind::Pagerduty)
    }])
    .expect("a valid receiver");
    let mut mixed = notification("pagerduty");
    mixed.kind = NotificationKind::Resolved;
    mixed.alerts = vec![
        alert(
            "00000000000000a1",
            AlertState::Firing,
            Severity::High,
            "/cart",
        ),
        alert(
            "00000000000000b2",
            AlertState::Acknowledged,
            Severity::Medium,
            "/search",
        ),
        alert(
            "00000000000000c3",
            AlertState::Resolved,
            Severity::Low,
            "/checkout",
        ),
    ];

    let outcome = receivers.deliver(&mixed);
    assert!(outcome.is_success(), "{}", outcome.describe_failures());

    let requests = recorded(&base, &prefix);
    assert_eq!(requests.len(), 3, "one event per alert");
    let events: Vec<_> = requests.iter().map(body_json).collect();
    for event in &events {
        assert_eq!(event["routing_key"], "R0UT1NGKEY0123456789");
    }
    assert_eq!(events[0]["event_action"], "trigger");
    assert_eq!(events[0]["dedup_key"], "00000000000000a1");
    assert_eq!(events[0]["payload"]["summary"], "errors on /cart at 7.2%");
    assert_eq!(events[0]["payload"]["severity"], "error", "high is error");
    assert_eq!(events[0]["payload"]["source"], "sightline");
    assert_eq!(events[0]["payload"]["custom_details"]["threshold"], 0.05);
    assert_eq!(
        events[0]["payload"]["custom_details"]["labels"]["endpoint"],
        "/cart"
    );
    assert_eq!(
        events[0]["links"][0]["href"],
        "https://sightline.example.com/d/ops?panel=errors&endpoint=/cart"
    );
    assert_eq!(events[1]["event_action"], "acknowledge");
    assert_eq!(events[1]["dedup_key"], "00000000000000b2");
    assert_eq!(events[2]["event_action"], "resolve");
    assert_eq!(events[2]["dedup_key"], "00000000000000c3");
}

#[test]
fn webhook_speaks_alertmanager_v4() {
    let Some(base) = recorder("webhook_speaks_alertmanager_v4") else {
        return;
    };
    let prefix = format!("/{}", unique_prefix("webhook"));
    let secrets = tempfile::tempdir().expect("a temporary directory");
    let receivers = Receivers::from_config(&[ReceiverConfig {
        url: Some(sightline_notify::Secret::new(format!(
            "{base}{prefix}/alerts"
        ))),
        bearer_token_file: Some(secret_file(&secrets, "token", "hook-bearer-9999")),
        external_url: Some("https://sightline.example.com".to_owned()),
        ..config("consumers", ReceiverKind::Webhook)
    }])
    .expect("a valid receiver");
    let mut resolved = notification("consumers");
    resolved.kind = NotificationKind::Resolved;
    resolved.alerts[0].state = AlertState::Resolved;
    resolved.alerts[0].resolved_at = Some(1_767_226_200_000_000);
    resolved.alerts[1].state = AlertState::Resolved;
    resolved.alerts[1].resolved_at = Some(1_767_226_260_000_000);

    for sent in [notification("consumers"), resolved] {
        let outcome = receivers.deliver(&sent);
        assert!(outcome.is_success(), "{}", outcome.describe_failures());
    }

    let requests = recorded(&base, &prefix);
    assert_eq!(requests.len(), 2);
    let headers = &requests[0]["headers"];
    assert_eq!(headers["authorization"], "Bearer hook-bearer-9999");
    assert_eq!(
        headers["idempotency-key"],
        "9f2c1d4e5b6a79801f2e3d4c5b6a7980"
    );
    assert_eq!(
        headers["x-sightline-dedup-key"],
        "9f2c1d4e5b6a79801f2e3d4c5b6a7980"
    );
    let firing = body_json(&requests[0]);
    let keys: Vec<&str> = firing
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys.iter()
            .copied()
            .collect::<std::collections::BTreeSet<_>>(),
        [
            "version",
            "groupKey",
            "truncatedAlerts",
            "status",
            "receiver",
            "groupLabels",
            "commonLabels",
            "commonAnnotations",
            "externalURL",
            "alerts",
        ]
        .into_iter()
        .collect(),
        "exactly Alertmanager's fields"
    );
    assert_eq!(firing["version"], "4");
    assert_eq!(firing["groupKey"], "{}:{alertname=\"error_rate_high\"}");
    assert_eq!(firing["truncatedAlerts"], 0);
    assert_eq!(firing["status"], "firing");
    assert_eq!(firing["receiver"], "consumers");
    assert_eq!(firing["groupLabels"]["alertname"], "error_rate_high");
    assert_eq!(
        firing["commonLabels"],
        serde_json::json!({"alertname": "error_rate_high", "team": "checkout"}),
        "endpoint differs, so it is not common"
    );
    assert_eq!(firing["commonAnnotations"], serde_json::json!({}));
    assert_eq!(firing["externalURL"], "https://sightline.example.com");
    let first = &firing["alerts"][0];
    assert_eq!(first["status"], "firing");
    assert_eq!(first["labels"]["endpoint"], "/cart");
    assert_eq!(first["annotations"]["summary"], "errors on /cart at 7.2%");
    assert_eq!(first["startsAt"], "2026-01-01T00:00:00Z");
    assert_eq!(first["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(
        first["generatorURL"],
        "https://sightline.example.com/d/ops?panel=errors&endpoint=/cart"
    );
    assert_eq!(first["fingerprint"], "00000000000000a1");
    assert_eq!(
        first.as_object().expect("an object").len(),
        7,
        "status, labels, annotations, startsAt, endsAt, generatorURL, fingerprint"
    );

    let resolved = body_json(&requests[1]);
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(resolved["alerts"][1]["status"], "resolved");
    assert_eq!(resolved["alerts"][1]["endsAt"], "2026-01-01T00:11:00Z");
}

#[test]
fn webhook_truncates_past_max_alerts() {
    let Some(base) = recorder("webhook_truncates_past_max_alerts") else {
        return;
    };
    let prefix = format!("/{}", unique_prefix("webhook-truncated"));
    let receivers = Receivers::from_config(&[ReceiverConfig {
        url: Some(sightline_notify::Secret::new(format!("{base}{prefix}"))),
        max_alerts: Some(1),
        ..config("consumers", ReceiverKind::Webhook)
    }])
    .expect("a valid receiver");
    assert!(receivers.deliver(&notification("consumers")).is_success());
    let payload = body_json(&recorded(&base, &prefix)[0]);
    assert_eq!(payload["alerts"].as_array().map(Vec::len), Some(1));
    assert_eq!(payload["truncatedAlerts"], 1);
    assert_eq!(payload["externalURL"], "");
}

#[test]
fn the_same_notification_twice_carries_the_same_dedup_keys() {
    let Some(base) = recorder("the_same_notification_twice_carries_the_same_dedup_keys") else {
        return;
    };
    let prefix = format!("/{}", unique_prefix("dedup"));
    let secrets = tempfile::tempdir().expect("a temporary directory");
    let receivers = Receivers::from_config(&[
        ReceiverConfig {
            url: Some(sightline_notify::Secret::new(format!(
                "{base}{prefix}/hook"
            ))),
            ..config("hook", ReceiverKind::Webhook)
        },
        ReceiverConfig {
            routing_key_file: Some(secret_file(&secrets, "key", "R0UT1NGKEY0123456789")),
            api_url: Some(format!("{base}{prefix}/pagerduty")),
            ..config("pagerduty", ReceiverKind::Pagerduty)
        },
    ])
    .expect("valid receivers");
    for _ in 0..2 {
        assert!(receivers.deliver(&notification("hook")).is_success());
        assert!(receivers.deliver(&notification("pagerduty")).is_success());
    }
    let hooks = recorded(&base, &format!("{prefix}/hook"));
    assert_eq!(hooks.len(), 2);
    assert_eq!(
        hooks[0]["headers"]["idempotency-key"],
        hooks[1]["headers"]["idempotency-key"]
    );
    let events: Vec<_> = recorded(&base, &format!("{prefix}/pagerduty"))
        .iter()
        .map(|request| body_json(request)["dedup_key"].clone())
        .collect();
    assert_eq!(events.len(), 4);
    assert_eq!(events[0..2], events[2..4], "alert by alert, the same keys");
}

#[test]
fn email_arrives_with_subject_body_recipients_and_dedup_key() {
    let Some((server, mail_dir)) = smtp("email_arrives_with_subject_body_recipients_and_dedup_key")
    else {
        return;
    };
    let marker = unique_prefix("email");
    let receivers = Receivers::from_config(&[ReceiverConfig {
        smtp: Some(server),
        tls: Some(SmtpTls::None),
        from: Some("Sightline <alerts@sightline.test>".to_owned()),
        to: Some(vec![
            "ops@sightline.test".to_owned(),
            "Lead <lead@sightline.test>".to_owned(),
        ]),
        // The SMTP recorder accepts this user with the password .ci/run exports.
        username: Some("sightline".to_owned()),
        password_env: Some("SIGHTLINE_TEST_SMTP_PASSWORD".to_owned()),
        external_url: Some("https://sightline.example.com".to_owned()),
        ..config("ops-mail", ReceiverKind::Email)
    }])
    .expect("a valid receiver");
    let mut mail = notification("ops-mail");
    mail.title = format!("{} [{marker}]", mail.title);
    mail.dedup_key = format!("{marker}-dedup");

    let outcome = receivers.deliver(&mail);
    assert!(outcome.is_success(), "{}", outcome.describe_failures());

    let found = recorded_mails(&mail_dir, &mail.title);
    assert_eq!(found.len(), 1, "exactly one mail");
    let record = &found[0];
    assert_eq!(record["tls"], false);
    assert_eq!(record["mail_from"], "alerts@sightline.test");
    assert_eq!(
        record["rcpt_tos"],
        serde_json::json!(["ops@sightline.test", "lead@sightline.test"])
    );
    assert_eq!(record["authenticated"], true);
    let headers = &record["headers"];
    assert_eq!(headers["message-id"], format!("<{marker}-dedup@sightline>"));
    assert_eq!(headers["x-sightline-dedup-key"], format!("{marker}-dedup"));
    assert_eq!(
        headers["to"],
        "ops@sightline.test, Lead <lead@sightline.test>"
    );
    let body = record["body"].as_str().expect("a text/plain body");
    assert!(body.starts_with(&mail.title), "{body}");
    assert!(
        body.contains("[critical] firing — errors on /checkout at 7.2%"),
        "{body}"
    );
    assert!(
        body.contains("value 0.072 · threshold 0.05 · baseline 0.011"),
        "{body}"
    );
    assert!(
        body.contains("https://sightline.example.com/d/ops?panel=errors&endpoint=/cart"),
        "{body}"
    );
}

#[test]
fn a_refused_recipient_is_a_permanent_failure() {
    let Some((server, _)) = smtp("a_refused_recipient_is_a_permanent_failure") else {
        return;
    };
    let receivers = Receivers::from_config(&[ReceiverConfig {
        smtp: Some(server),
        tls: Some(SmtpTls::None),
        from: Some("alerts@sightline.test".to_owned()),
        to: Some(vec!["nobody@refuse.invalid".to_owned()]),
        ..config("ops-mail", ReceiverKind::Email)
    }])
    .expect("a valid receiver");
    let outcome = receivers.deliver(&notification("ops-mail"));
    let (_, error) = outcome.failures().next().expect("refused");
    assert!(!error.retryable, "{error}");
    assert!(error.message.contains("550"), "{error}");
}

/// An email receiver for a TLS server of `.ci/run`, signing in as the recorders expect.
fn tls_mail_receiver(server: &str, tls: SmtpTls, ca_file: Option<String>) -> ReceiverConfig {
    ReceiverConfig {
        smtp: Some(server.to_owned()),
        tls: Some(tls),
        ca_file,
        from: Some("Sightline <alerts@sightline.test>".to_owned()),
        to: Some(vec!["ops@sightline.test".to_owned()]),
        username: Some("sightline".to_owned()),
        password_env: Some("SIGHTLINE_TEST_SMTP_PASSWORD".to_owned()),
        ..config("ops-mail", ReceiverKind::Email)
    }
}

/// Delivers a mail with a subject of its own through `receiver` and returns what the
/// recorders wrote for it.
fn deliver_over_tls(
    receiver: ReceiverConfig,
    mail_dir: &std::path::Path,
    test: &str,
) -> serde_json::Value {
    let receivers = Receivers::from_config(&[receiver]).expect("a valid receiver");
    let mut mail = notification("ops-mail");
    mail.title = format!("{} [{}]", mail.title, unique_prefix(test));
    let outcome = receivers.deliver(&mail);
    assert!(outcome.is_success(), "{}", outcome.describe_failures());
    let found = recorded_mails(mail_dir, &mail.title);
    assert_eq!(found.len(), 1, "exactly one mail");
    found[0].clone()
}

#[test]
fn email_over_starttls_trusts_every_ca_of_ca_file() {
    let Some(servers) = smtp_tls("email_over_starttls_trusts_every_ca_of_ca_file") else {
        return;
    };
    let bundle = tempfile::tempdir().expect("a temporary directory");
    let ca_file = ca_bundle(&bundle, &servers.ca_file);

    let record = deliver_over_tls(
        tls_mail_receiver(&servers.starttls, SmtpTls::Starttls, Some(ca_file)),
        &servers.mail_dir,
        "starttls",
    );
    // The server refuses AUTH and MAIL before STARTTLS: the mail came upgraded, signed in.
    assert_eq!(record["tls"], true);
    assert_eq!(record["authenticated"], true);
    assert_eq!(
        record["rcpt_tos"],
        serde_json::json!(["ops@sightline.test"])
    );
}

#[test]
fn email_over_implicit_tls_trusts_the_ca_file() {
    let Some(servers) = smtp_tls("email_over_implicit_tls_trusts_the_ca_file") else {
        return;
    };
    let record = deliver_over_tls(
        tls_mail_receiver(&servers.tls, SmtpTls::Tls, Some(servers.ca_file.clone())),
        &servers.mail_dir,
        "smtps",
    );
    assert_eq!(record["tls"], true);
    assert_eq!(record["authenticated"], true);
    assert_eq!(
        record["rcpt_tos"],
        serde_json::json!(["ops@sightline.test"])
    );
}

#[test]
fn a_certificate_of_an_unknown_ca_is_a_permanent_failure_that_points_to_ca_file() {
    let Some(servers) =
        smtp_tls("a_certificate_of_an_unknown_ca_is_a_permanent_failure_that_points_to_ca_file")
    else {
        return;
    };
    let unrelated = tempfile::tempdir().expect("a temporary directory");
    let unrelated_ca = secret_file(&unrelated, "unrelated.pem", UNRELATED_CA_PEM);
    let cases = [
        (&servers.starttls, SmtpTls::Starttls, None),
        (&servers.tls, SmtpTls::Tls, None),
        // Trusting another CA does not trust this one.
        (&servers.tls, SmtpTls::Tls, Some(unrelated_ca)),
    ];
    for (server, tls, ca_file) in cases {
        let receivers = Receivers::from_config(&[tls_mail_receiver(server, tls, ca_file.clone())])
            .expect("a valid receiver");
        let mut mail = notification("ops-mail");
        mail.title = format!("{} [{}]", mail.title, unique_prefix("untrusted"));
        let outcome = receivers.deliver(&mail);
        let (_, error) = outcome.failures().next().expect("an untrusted certificate");
        let case = format!("{tls:?} with ca_file {ca_file:?}: {error}");
        assert!(!error.retryable, "{case}");
        assert!(
            error.message.contains("certificate is not trusted")
                && error.message.contains("`ca_file`"),
            "{case}"
        );
        assert!(
            recorded_mails(&servers.mail_dir, &mail.title).is_empty(),
            "{case}: nothing is sent to an untrusted server"
        );
    }
}

#[test]
fn webhook_and_slack_over_https_trust_the_ca_file() {
    let Some(recorder) = recorder_tls("webhook_and_slack_over_https_trust_the_ca_file") else {
        return;
    };
    let files = tempfile::tempdir().expect("a temporary directory");
    // The webhook's file is a bundle with another CA first, the Slack one the CA alone.
    let bundle = ca_bundle(&files, &recorder.ca_file);
    let prefix = format!("/{}", unique_prefix("https"));
    let slack_url = format!(
        "{}{prefix}/services/T0001/B0001/hook-token-5678",
        recorder.base
    );
    let receivers = Receivers::from_config(&[
        ReceiverConfig {
            url: Some(sightline_notify::Secret::new(format!(
                "{}{prefix}/alerts",
                recorder.base
            ))),
            ca_file: Some(bundle),
            ..config("consumers", ReceiverKind::Webhook)
        },
        ReceiverConfig {
            url_file: Some(secret_file(&files, "slack-url", &slack_url)),
            ca_file: Some(recorder.ca_file.clone()),
            ..config("ops-slack", ReceiverKind::Slack)
        },
    ])
    .expect("valid receivers");

    for receiver in ["consumers", "ops-slack"] {
        let outcome = receivers.deliver(&notification(receiver));
        assert!(
            outcome.is_success(),
            "{receiver}: {}",
            outcome.describe_failures()
        );
    }

    let requests = recorded_over_tls(&recorder, &prefix);
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0]["path"], format!("{prefix}/alerts"));
    assert_eq!(body_json(&requests[0])["receiver"], "consumers");
    assert_eq!(
        requests[1]["path"],
        format!("{prefix}/services/T0001/B0001/hook-token-5678")
    );
    assert_eq!(
        body_json(&requests[1])["text"],
        "2 endpoints firing: /cart, /checkout (error_rate_high)"
    );
}

#[test]
fn an_http_receiver_refuses_an_unknown_ca_permanently_and_points_to_ca_file() {
    let Some(recorder) =
        recorder_tls("an_http_receiver_refuses_an_unknown_ca_permanently_and_points_to_ca_file")
    else {
        return;
    };
    let files = tempfile::tempdir().expect("a temporary directory");
    let unrelated_ca = secret_file(&files, "unrelated.pem", UNRELATED_CA_PEM);
    let prefix = format!("/{}", unique_prefix("untrusted-https"));
    let slack_url = format!(
        "{}{prefix}/services/T0001/B0001/hook-token-9012",
        recorder.base
    );
    let cases = [
        // The public roots do not hold the recorder's CA.
        ReceiverConfig {
            url: Some(sightline_notify::Secret::new(format!(
                "{}{prefix}/alerts",
                recorder.base
            ))),
            ..config("untrusted", ReceiverKind::Webhook)
        },
        // Trusting another CA does not trust this one.
        ReceiverConfig {
            url_file: Some(secret_file(&files, "slack-url", &slack_url)),
            ca_file: Some(unrelated_ca),
            ..config("untrusted", ReceiverKind::Slack)
        },
    ];
    for receiver in cases {
        let case = format!("{:?} with ca_file {:?}", receiver.kind, receiver.ca_file);
        let receivers = Receivers::from_config(&[receiver]).expect("a valid receiver");
        let outcome = receivers.deliver(&notification("untrusted"));
        let (_, error) = outcome.failures().next().expect("an untrusted certificate");
        let case = format!("{case}: {error}");
        assert!(!error.retryable, "{case}");
        assert!(
            error.message.contains("certificate is not trusted")
                && error.message.contains("`ca_file`"),
            "{case}"
        );
        assert!(!error.message.contains("hook-token"), "{case}");
    }
    assert!(
        recorded_over_tls(&recorder, &prefix).is_empty(),
        "nothing is sent to an untrusted server"
    );
}
