//! One Odoo record as any of the three ways in delivers it: the webhook's payload, a
//! `search_read` row, an outbox row's `payload`. The values differ in shape, not meaning,
//! and the accessors here absorb the differences:
//!
//! - Odoo writes `false` for an empty field of any type (a char, a date, a many2one);
//!   JSON `null` (PostgreSQL) means the same.
//! - A many2one is an id (webhook, outbox), an `[id, "display name"]` pair
//!   (`search_read`), or `{"id": …}` (JSON-2 with a specification).
//! - Datetimes are naive UTC text, `"2026-11-27 14:03:11"` (ORM) or
//!   `"2026-11-27T14:03:11.123456"` (PostgreSQL's JSON); an offset, if present, is kept.
//! - Floats and monetary fields are JSON numbers (`84.5`), or decimal text.
//!
//! Errors name the field; the caller adds the record.

use rust_decimal::Decimal;
use serde_json::{Map, Value};
use sightline_model::money::decimal_from_text;
use sightline_model::time::{format_rfc3339, parse_rfc3339};

use crate::error::TranslateError;

/// A record of `model` with its fields (the ones the sender chose to send).
#[derive(Debug, Clone)]
pub struct OdooRecord {
    pub model: String,
    pub id: i64,
    pub fields: Map<String, Value>,
}

/// A datetime, normalized: RFC 3339 text (UTC, `Z`) and microseconds since the epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp {
    pub text: String,
    pub micros: i64,
}

impl Timestamp {
    pub fn from_micros(micros: i64) -> Timestamp {
        Timestamp {
            text: format_rfc3339(micros),
            micros,
        }
    }
}

/// Parses an Odoo datetime; naive text is UTC, as Odoo stores it.
pub fn parse_datetime(text: &str) -> Result<Timestamp, String> {
    let trimmed = text.trim();
    let has_offset = trimmed.len() > 19 && {
        let tail = &trimmed[19..];
        tail.ends_with(['Z', 'z']) || tail.contains(['+', '-'])
    };
    let micros = if has_offset {
        parse_rfc3339(trimmed)
    } else if trimmed.len() == 10 {
        // A date field (`2026-11-27`): its midnight, UTC.
        parse_rfc3339(&format!("{trimmed}T00:00:00Z"))
    } else {
        parse_rfc3339(&format!("{trimmed}Z"))
    }
    .map_err(|problem| {
        format!(
            "{problem} (expected an Odoo datetime such as \"2026-11-27 14:03:11\", got {text:?})"
        )
    })?;
    Ok(Timestamp::from_micros(micros))
}

impl OdooRecord {
    /// The value of `field`, `None` when absent, `false` or `null`.
    pub fn value(&self, field: &str) -> Option<&Value> {
        match self.fields.get(field)? {
            Value::Null | Value::Bool(false) => None,
            value => Some(value),
        }
    }

    /// A text (char or selection) field; empty text counts as absent.
    pub fn text(&self, field: &str) -> Result<Option<&str>, TranslateError> {
        match self.value(field) {
            None => Ok(None),
            Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.as_str())),
            Some(other) => Err(TranslateError::invalid(
                field,
                format!("expected text, got {}", shown(other)),
            )),
        }
    }

    /// The id a many2one field points to.
    pub fn many2one(&self, field: &str) -> Result<Option<i64>, TranslateError> {
        let Some(value) = self.value(field) else {
            return Ok(None);
        };
        let id = match value {
            Value::Number(number) => number.as_i64(),
            Value::Array(pair) => pair.first().and_then(Value::as_i64),
            Value::Object(object) => object.get("id").and_then(Value::as_i64),
            Value::String(text) => text.trim().parse().ok(),
            _ => None,
        };
        match id {
            Some(id) if id > 0 => Ok(Some(id)),
            _ => Err(TranslateError::invalid(
                field,
                format!(
                    "expected a many2one: an id or an [id, \"name\"] pair, got {}",
                    shown(value)
                ),
            )),
        }
    }

    /// The display name of a many2one, when the sender gave it (`search_read` pairs).
    pub fn many2one_name(&self, field: &str) -> Option<&str> {
        match self.value(field)? {
            Value::Array(pair) => pair.get(1)?.as_str(),
            Value::Object(object) => object.get("display_name")?.as_str(),
            _ => None,
        }
    }

    pub fn datetime(&self, field: &str) -> Result<Option<Timestamp>, TranslateError> {
        match self.value(field) {
            None => Ok(None),
            Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
            Some(Value::String(text)) => parse_datetime(text)
                .map(Some)
                .map_err(|message| TranslateError::invalid(field, message)),
            Some(other) => Err(TranslateError::invalid(
                field,
                format!(
                    "expected a datetime such as \"2026-11-27 14:03:11\", got {}",
                    shown(other)
                ),
            )),
        }
    }

    /// A float or monetary field, exactly as written (Odoo rounds monetary values to the
    /// currency before it stores them, and JSON keeps the shortest text of a float).
    pub fn decimal(&self, field: &str) -> Result<Option<Decimal>, TranslateError> {
        let text = match self.fields.get(field) {
            None | Some(Value::Null) => return Ok(None),
            // A float field holding 0 is `0.0`, never `false`; `false` is "not set".
            Some(Value::Bool(false)) => return Ok(None),
            Some(Value::Number(number)) => number.to_string(),
            Some(Value::String(text)) => text.trim().to_owned(),
            Some(other) => {
                return Err(TranslateError::invalid(
                    field,
                    format!("expected a number, got {}", shown(other)),
                ));
            }
        };
        decimal_from_text(&text)
            .map(|value| Some(value.normalize()))
            .ok_or_else(|| {
                TranslateError::invalid(field, format!("expected a number, got {text:?}"))
            })
    }

    pub fn required<T>(
        &self,
        field: &str,
        value: Result<Option<T>, TranslateError>,
    ) -> Result<T, TranslateError> {
        value?.ok_or_else(|| TranslateError::missing(field))
    }
}

/// A short rendering of an unexpected value for an error message.
fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.len() <= 40 {
        return text;
    }
    let mut cut = 40;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &text[..cut])
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn record(fields: Value) -> OdooRecord {
        OdooRecord {
            model: "sale.order".into(),
            id: 7,
            fields: fields.as_object().cloned().expect("object"),
        }
    }

    #[test]
    fn many2ones_come_as_ids_pairs_or_objects() {
        let record = record(json!({
            "a": 5, "b": [6, "Azure Interior"], "c": {"id": 7}, "d": false, "e": null, "f": "x"
        }));
        assert_eq!(record.many2one("a"), Ok(Some(5)));
        assert_eq!(record.many2one("b"), Ok(Some(6)));
        assert_eq!(record.many2one_name("b"), Some("Azure Interior"));
        assert_eq!(record.many2one("c"), Ok(Some(7)));
        assert_eq!(record.many2one("d"), Ok(None));
        assert_eq!(record.many2one("e"), Ok(None));
        assert_eq!(record.many2one("missing"), Ok(None));
        let error = record.many2one("f").expect_err("not an id").to_string();
        assert!(error.starts_with("f: expected a many2one"), "{error}");
    }

    #[test]
    fn datetimes_are_naive_utc_or_carry_their_offset() {
        let parsed = parse_datetime("2026-11-27 14:03:11").expect("ORM form");
        assert_eq!(parsed.text, "2026-11-27T14:03:11.000Z");
        let postgres = parse_datetime("2026-11-27T14:03:11.123456").expect("PostgreSQL form");
        assert_eq!(postgres.micros, parsed.micros + 123_456);
        let offset = parse_datetime("2026-11-27T15:03:11+01:00").expect("offset");
        assert_eq!(offset.micros, parsed.micros);
        let date = parse_datetime("2026-11-27").expect("a date");
        assert_eq!(date.text, "2026-11-27T00:00:00.000Z");
        assert!(parse_datetime("27/11/2026 14:03").is_err());
        let record = record(json!({"date_order": "yesterday", "write_date": false}));
        let error = record.datetime("date_order").expect_err("bad").to_string();
        assert!(error.starts_with("date_order: "), "{error}");
        assert_eq!(record.datetime("write_date"), Ok(None));
    }

    #[test]
    fn decimals_are_exact_and_false_is_absent() {
        let record = record(json!({"a": 84.5, "b": "1234567.895", "c": 0.1, "d": false, "e": [1]}));
        assert_eq!(record.decimal("a"), Ok(Some(Decimal::new(845, 1))));
        assert_eq!(record.decimal("b"), Ok(Some(Decimal::new(1234567895, 3))));
        assert_eq!(record.decimal("c"), Ok(Some(Decimal::new(1, 1))));
        assert_eq!(record.decimal("d"), Ok(None));
        assert!(record.decimal("e").is_err());
    }
}
