//! Money: exact decimals with an ISO 4217 currency.
//!
//! Amounts are `rust_decimal::Decimal` (96-bit integer mantissa, 28 digits): exact to the
//! minor unit through any number of additions, unlike binary floats. A JSON number such as
//! `199.9` is parsed from its *text*, so it never passes through an `f64` either.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::value::RawValue;

use crate::json::{JsonKind, raw_str_text};

/// A three-letter upper-case currency code such as `EUR`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CurrencyCode([u8; 3]);

impl CurrencyCode {
    pub fn parse(text: &str) -> Option<CurrencyCode> {
        let bytes = text.as_bytes();
        if bytes.len() != 3 || !bytes.iter().all(u8::is_ascii_uppercase) {
            return None;
        }
        Some(CurrencyCode([bytes[0], bytes[1], bytes[2]]))
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII upper-case letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

impl fmt::Display for CurrencyCode {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl fmt::Debug for CurrencyCode {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "CurrencyCode({})", self.as_str())
    }
}

/// Parses a money amount given as a decimal string (`"199.90"`) or a JSON number
/// (`199.9`, `1.999e2`). Returns a description of the problem on failure.
pub fn parse_decimal(raw: &RawValue) -> Result<Decimal, String> {
    parse_decimal_text(raw.get())
}

/// [`parse_decimal`] over a value's raw JSON text.
pub fn parse_decimal_text(raw: &str) -> Result<Decimal, String> {
    let text = match JsonKind::of_text(raw) {
        JsonKind::String => match raw_str_text(raw) {
            Some(text) => text,
            None => return Err("a decimal string".into()),
        },
        JsonKind::Number => std::borrow::Cow::Borrowed(raw),
        other => return Err(format!("got {}", other.described())),
    };
    decimal_from_text(text.trim()).ok_or_else(|| format!("got {raw:?}"))
}

/// Parses decimal text (`199.90`, `1.999e2`) exactly; `None` if it is not a decimal.
pub fn decimal_from_text(text: &str) -> Option<Decimal> {
    if text.is_empty() {
        return None;
    }
    if text.contains(['e', 'E']) {
        return Decimal::from_scientific(text).ok();
    }
    // `Decimal::from_str` accepts `_` separators; money text should not.
    if text.contains('_') {
        return None;
    }
    Decimal::from_str(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        serde_json::from_str(text).expect("test JSON is valid")
    }

    #[test]
    fn strings_and_numbers_parse_exactly() {
        assert_eq!(
            parse_decimal(&raw("\"199.90\"")),
            Ok(Decimal::new(19990, 2))
        );
        assert_eq!(parse_decimal(&raw("199.9")), Ok(Decimal::new(1999, 1)));
        assert_eq!(parse_decimal(&raw("1.999e2")), Ok(Decimal::new(1999, 1)));
        assert_eq!(parse_decimal(&raw("0")), Ok(Decimal::ZERO));
        assert!(parse_decimal(&raw("\"12,50\"")).is_err());
        assert!(parse_decimal(&raw("\"\"")).is_err());
        assert!(parse_decimal(&raw("true")).is_err());
        assert!(parse_decimal(&raw("\"1_000\"")).is_err());
    }

    #[test]
    fn a_million_additions_do_not_drift() {
        let price = parse_decimal(&raw("0.1")).expect("valid");
        let mut sum = Decimal::ZERO;
        for _ in 0..1_000_000 {
            sum += price;
        }
        assert_eq!(sum, Decimal::new(100_000, 0));
    }

    #[test]
    fn currency_codes() {
        assert_eq!(
            CurrencyCode::parse("EUR").map(|code| code.to_string()),
            Some("EUR".into())
        );
        assert!(CurrencyCode::parse("eur").is_none());
        assert!(CurrencyCode::parse("EURO").is_none());
    }
}
