//! One event's validation: the CloudEvents envelope, then `data` against the catalogue.

use std::borrow::Cow;

use serde_json::value::RawValue;

use crate::catalogue::{EventType, FieldKind, FieldSpec, LINE_FIELDS};
use crate::error::{Rejection, RejectionCode};
use crate::identity::identity_key;
use crate::json::{JsonKind, WalkError, for_each_field, for_each_item, raw_str};
use crate::money::{CurrencyCode, parse_decimal};
use crate::time::{format_rfc3339, parse_rfc3339};

/// Which currencies an event's money may be in: the reporting currency, and those with a
/// configured conversion rate to it (events.md: "with no rate configured, rejected").
#[derive(Debug, Clone)]
pub struct CurrencyPolicy {
    pub reporting: CurrencyCode,
    pub convertible: Vec<CurrencyCode>,
}

impl CurrencyPolicy {
    pub fn reporting_only(reporting: CurrencyCode) -> CurrencyPolicy {
        CurrencyPolicy {
            reporting,
            convertible: Vec::new(),
        }
    }

    fn check(&self, currency: CurrencyCode) -> Result<(), Rejection> {
        if currency == self.reporting || self.convertible.contains(&currency) {
            return Ok(());
        }
        Err(Rejection::new(
            RejectionCode::NoCurrencyRate,
            format!(
                "data.currency: {currency} has no conversion rate to the reporting currency {}; \
                 add {currency} under [currency.rates] in the configuration",
                self.reporting
            ),
        ))
    }
}

/// An event that passed validation, borrowing from its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidEvent<'a> {
    pub source: Cow<'a, str>,
    pub id: Cow<'a, str>,
    pub event_type: Cow<'a, str>,
    /// `None` for a type outside the v1 catalogue.
    pub known_type: Option<EventType>,
    /// Event time in microseconds since the epoch.
    pub time_us: i64,
    /// True when the event had no `time` and the receive time stands in for it.
    pub time_from_ingest: bool,
}

impl ValidEvent<'_> {
    pub fn identity_key(&self) -> u128 {
        identity_key(&self.source, &self.id)
    }
}

/// Validates one structured-mode CloudEvent (a JSON object).
///
/// `receive_time_us` becomes the event time when `time` is absent. On success, the bytes
/// to store are `raw` itself, or [`stamp_ingest_time`]'s output when `time_from_ingest`.
pub fn validate_event<'a>(
    raw: &'a str,
    currencies: &CurrencyPolicy,
    receive_time_us: i64,
) -> Result<ValidEvent<'a>, Rejection> {
    let mut attributes = Attributes::default();
    let walk = for_each_field(raw, |name, value| attributes.take(name, value));
    match walk {
        Ok(()) => {}
        Err(WalkError::Field(rejection)) => return Err(rejection),
        Err(WalkError::Json(error)) => return Err(json_rejection(raw, &error)),
    }

    let specversion = required_string(attributes.specversion, "specversion")?;
    if specversion != "1.0" {
        return Err(Rejection::new(
            RejectionCode::UnsupportedSpecVersion,
            format!("specversion: expected \"1.0\", got {specversion:?}"),
        ));
    }
    let id = required_string(attributes.id, "id")?;
    let source = required_string(attributes.source, "source")?;
    let event_type = required_string(attributes.event_type, "type")?;
    if let Some(content_type) = attributes.datacontenttype {
        let content_type = string_value(content_type, "datacontenttype")?;
        let essence = content_type.split(';').next().unwrap_or("").trim();
        if !essence.eq_ignore_ascii_case("application/json") && !essence.ends_with("+json") {
            return Err(Rejection::invalid(
                "datacontenttype",
                "\"application/json\" or absent",
                &format!("{content_type:?}"),
            ));
        }
    }
    if attributes.data_base64.is_some() {
        return Err(Rejection::invalid(
            "data_base64",
            "`data` as a JSON object (binary data is not supported)",
            "data_base64",
        ));
    }
    let Some(data) = attributes.data else {
        return Err(Rejection::missing("data"));
    };
    if JsonKind::of(data) != JsonKind::Object {
        return Err(Rejection::invalid(
            "data",
            "a JSON object",
            JsonKind::of(data).described(),
        ));
    }

    let (time_us, time_from_ingest) = match attributes.time {
        None => (receive_time_us, true),
        Some(value) => {
            let text = string_value(value, "time")?;
            let micros = parse_rfc3339(&text).map_err(|problem| {
                Rejection::new(
                    RejectionCode::InvalidField,
                    format!("time: {problem} (got {text:?})"),
                )
            })?;
            (micros, false)
        }
    };

    let known_type = EventType::parse(&event_type);
    if let Some(known_type) = known_type {
        validate_data(data, known_type, currencies)?;
    }

    Ok(ValidEvent {
        source,
        id,
        event_type,
        known_type,
        time_us,
        time_from_ingest,
    })
}

/// The stored form of an event that arrived without `time`: the receive time is written in
/// as `time`, and `sightlinetimesource: "ingest"` marks it (events.md), so every reader of
/// the log sees the same event time without knowing how it arrived.
pub fn stamp_ingest_time(raw: &str, time_us: i64) -> String {
    let trimmed = raw.trim_start();
    let body = trimmed.strip_prefix('{').unwrap_or(trimmed);
    let mut stamped = String::with_capacity(raw.len() + 64);
    stamped.push_str("{\"time\":\"");
    stamped.push_str(&format_rfc3339(time_us));
    stamped.push_str("\",\"sightlinetimesource\":\"ingest\",");
    stamped.push_str(body);
    stamped
}

#[derive(Default)]
struct Attributes<'a> {
    specversion: Option<&'a RawValue>,
    id: Option<&'a RawValue>,
    source: Option<&'a RawValue>,
    event_type: Option<&'a RawValue>,
    time: Option<&'a RawValue>,
    datacontenttype: Option<&'a RawValue>,
    data: Option<&'a RawValue>,
    data_base64: Option<&'a RawValue>,
}

impl<'a> Attributes<'a> {
    fn take(&mut self, name: Cow<'a, str>, value: &'a RawValue) -> Result<(), Rejection> {
        let slot = match name.as_ref() {
            "specversion" => &mut self.specversion,
            "id" => &mut self.id,
            "source" => &mut self.source,
            "type" => &mut self.event_type,
            "time" => &mut self.time,
            "datacontenttype" => &mut self.datacontenttype,
            "data" => &mut self.data,
            "data_base64" => &mut self.data_base64,
            // Extension attributes (and subject, dataschema) travel with the event untouched.
            _ => return Ok(()),
        };
        if slot.is_some() {
            return Err(Rejection::invalid(&name, "to appear once", "it twice"));
        }
        *slot = Some(value);
        Ok(())
    }
}

fn json_rejection(raw: &str, error: &serde_json::Error) -> Rejection {
    let trimmed = raw.trim_start();
    if !trimmed.starts_with('{') && error.is_data() {
        let got = serde_json::from_str::<&RawValue>(trimmed)
            .map(|value| JsonKind::of(value).described())
            .unwrap_or("something else");
        return Rejection::new(
            RejectionCode::InvalidJson,
            format!("event: expected a JSON object, got {got}"),
        );
    }
    Rejection::new(
        RejectionCode::InvalidJson,
        format!(
            "invalid JSON at line {} column {}: {}",
            error.line(),
            error.column(),
            strip_position(&error.to_string())
        ),
    )
}

/// serde_json appends " at line L column C"; the rejection states the position itself.
fn strip_position(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(cut) => &message[..cut],
        None => message,
    }
}

fn string_value<'a>(value: &'a RawValue, field: &str) -> Result<Cow<'a, str>, Rejection> {
    raw_str(value)
        .ok_or_else(|| Rejection::invalid(field, "a string", JsonKind::of(value).described()))
}

fn required_string<'a>(
    value: Option<&'a RawValue>,
    field: &str,
) -> Result<Cow<'a, str>, Rejection> {
    let Some(value) = value else {
        return Err(Rejection::missing(field));
    };
    if JsonKind::of(value) == JsonKind::Null {
        return Err(Rejection::missing(field));
    }
    let text = string_value(value, field)?;
    if text.is_empty() {
        return Err(Rejection::invalid(field, "a non-empty string", "\"\""));
    }
    Ok(text)
}

fn validate_data(
    data: &RawValue,
    event_type: EventType,
    currencies: &CurrencyPolicy,
) -> Result<(), Rejection> {
    let mut currency = None;
    validate_object(
        data.get(),
        event_type.fields(),
        "data",
        &mut |field, value| {
            if field.kind == FieldKind::Currency {
                currency = raw_str(value).and_then(|text| CurrencyCode::parse(&text));
            }
        },
    )?;
    if let Some(currency) = currency {
        currencies.check(currency)?;
    }
    Ok(())
}

/// Walks one object against its field table: each known field's kind is checked, required
/// fields must be present (null counts as absent), other fields pass through.
fn validate_object(
    raw: &str,
    fields: &[FieldSpec],
    path: &str,
    on_valid: &mut dyn FnMut(&FieldSpec, &RawValue),
) -> Result<(), Rejection> {
    let mut seen: u32 = 0;
    let walk = for_each_field(raw, |name, value| {
        let Some(index) = fields.iter().position(|field| field.name == name) else {
            return Ok(());
        };
        let field = &fields[index];
        if seen & (1 << index) != 0 {
            return Err(Rejection::invalid(
                &format!("{path}.{name}"),
                "to appear once",
                "it twice",
            ));
        }
        seen |= 1 << index;
        if JsonKind::of(value) == JsonKind::Null {
            // An explicit null is how many producers say "absent"; required fields are
            // caught below.
            seen &= !(1 << index);
            return Ok(());
        }
        check_field(field, value, path)?;
        on_valid(field, value);
        Ok(())
    });
    match walk {
        Ok(()) => {}
        Err(WalkError::Field(rejection)) => return Err(rejection),
        Err(WalkError::Json(_)) => {
            return Err(Rejection::invalid(path, "a JSON object", "something else"));
        }
    }
    for (index, field) in fields.iter().enumerate() {
        if field.required && seen & (1 << index) == 0 {
            return Err(Rejection::missing(&format!("{path}.{}", field.name)));
        }
    }
    Ok(())
}

fn check_field(field: &FieldSpec, value: &RawValue, path: &str) -> Result<(), Rejection> {
    let kind = JsonKind::of(value);
    let name = || format!("{path}.{}", field.name);
    match field.kind {
        FieldKind::Id | FieldKind::Text => {
            let Some(text) = raw_str(value) else {
                return Err(Rejection::invalid(&name(), "a string", kind.described()));
            };
            if field.kind == FieldKind::Id && text.is_empty() {
                return Err(Rejection::invalid(&name(), "a non-empty string", "\"\""));
            }
        }
        FieldKind::Money => {
            let amount = parse_decimal(value).map_err(|problem| {
                Rejection::invalid(
                    &name(),
                    "a decimal amount such as \"199.90\" or 199.9",
                    problem.trim_start_matches("got "),
                )
            })?;
            if amount.is_sign_negative() && !amount.is_zero() {
                return Err(Rejection::invalid(
                    &name(),
                    "an amount of at least 0",
                    &amount.to_string(),
                ));
            }
        }
        FieldKind::Currency => {
            let valid = raw_str(value).and_then(|text| CurrencyCode::parse(&text));
            if valid.is_none() {
                return Err(Rejection::invalid(
                    &name(),
                    "an ISO 4217 code such as \"EUR\"",
                    value.get(),
                ));
            }
        }
        FieldKind::Integer { min, max } => {
            let text = value.get();
            let parsed = if kind == JsonKind::Number {
                text.parse::<i64>().ok()
            } else {
                None
            };
            let Some(number) = parsed else {
                return Err(Rejection::invalid(&name(), "an integer", &describe(value)));
            };
            if number < min || number > max {
                return Err(Rejection::invalid(&name(), &range_text(min, max), text));
            }
        }
        FieldKind::Number { min } => {
            let parsed = if kind == JsonKind::Number {
                value.get().parse::<f64>().ok()
            } else {
                None
            };
            let Some(number) = parsed.filter(|number| number.is_finite()) else {
                return Err(Rejection::invalid(&name(), "a number", &describe(value)));
            };
            if number < min {
                return Err(Rejection::invalid(
                    &name(),
                    &format!("a number of at least {min}"),
                    value.get(),
                ));
            }
        }
        FieldKind::Timestamp => {
            let Some(text) = raw_str(value) else {
                return Err(Rejection::invalid(
                    &name(),
                    "an RFC 3339 timestamp string",
                    kind.described(),
                ));
            };
            if let Err(problem) = parse_rfc3339(&text) {
                return Err(Rejection::new(
                    RejectionCode::InvalidField,
                    format!("{}: {problem} (got {text:?})", name()),
                ));
            }
        }
        FieldKind::OneOf(allowed) => {
            let text = raw_str(value);
            if !text.as_deref().is_some_and(|text| allowed.contains(&text)) {
                return Err(Rejection::invalid(
                    &name(),
                    &format!("one of {}", allowed.join(", ")),
                    &describe(value),
                ));
            }
        }
        FieldKind::Region => {
            let text = raw_str(value);
            if !text.as_deref().is_some_and(is_region_code) {
                return Err(Rejection::invalid(
                    &name(),
                    "an ISO 3166 code such as \"DE\" or \"US-CA\"",
                    &describe(value),
                ));
            }
        }
        FieldKind::Lines => {
            if kind != JsonKind::Array {
                return Err(Rejection::invalid(
                    &name(),
                    "an array of order lines",
                    kind.described(),
                ));
            }
            let lines_path = name();
            let walk = for_each_item(value.get(), |index, line| {
                let line_path = format!("{lines_path}[{index}]");
                if JsonKind::of(line) != JsonKind::Object {
                    return Err(Rejection::invalid(
                        &line_path,
                        "an object",
                        JsonKind::of(line).described(),
                    ));
                }
                validate_object(line.get(), LINE_FIELDS, &line_path, &mut |_, _| {})
            });
            match walk {
                Ok(()) => {}
                Err(WalkError::Field(rejection)) => return Err(rejection),
                Err(WalkError::Json(_)) => {
                    return Err(Rejection::invalid(
                        &lines_path,
                        "an array of order lines",
                        "something else",
                    ));
                }
            }
        }
    }
    Ok(())
}

fn describe(value: &RawValue) -> String {
    let text = value.get();
    if text.len() <= 40 {
        return text.to_owned();
    }
    JsonKind::of(value).described().to_owned()
}

fn range_text(min: i64, max: i64) -> String {
    match (min, max) {
        (1, i64::MAX) => "a positive integer".into(),
        (0, i64::MAX) => "an integer of at least 0".into(),
        (min, max) => format!("an integer from {min} to {max}"),
    }
}

fn is_region_code(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.len() < 2 || !bytes[..2].iter().all(u8::is_ascii_uppercase) {
        return false;
    }
    match bytes.len() {
        2 => true,
        4..=6 => {
            bytes[2] == b'-'
                && bytes[3..]
                    .iter()
                    .all(|byte| byte.is_ascii_uppercase() || byte.is_ascii_digit())
        }
        _ => false,
    }
}
