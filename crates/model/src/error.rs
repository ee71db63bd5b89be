//! Why an event was rejected, in words a producer can act on.

use std::fmt;

/// A stable, low-cardinality rejection class: used as the `reason` label in `/metrics`
/// and as a filter for `GET /v1/dead-letters?reason=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectionCode {
    /// The bytes are not a JSON object.
    InvalidJson,
    /// A required attribute or data field is absent.
    MissingField,
    /// A field is present with the wrong type or an out-of-range value.
    InvalidField,
    /// `specversion` is not `1.0`.
    UnsupportedSpecVersion,
    /// Money in a currency that has no configured rate to the reporting currency.
    NoCurrencyRate,
    /// The event is larger than the configured per-event limit.
    TooLarge,
    /// Behind the watermark by more than the allowed lateness (judged by the engine).
    Late,
}

impl RejectionCode {
    pub const ALL: [RejectionCode; 7] = [
        RejectionCode::InvalidJson,
        RejectionCode::MissingField,
        RejectionCode::InvalidField,
        RejectionCode::UnsupportedSpecVersion,
        RejectionCode::NoCurrencyRate,
        RejectionCode::TooLarge,
        RejectionCode::Late,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RejectionCode::InvalidJson => "invalid_json",
            RejectionCode::MissingField => "missing_field",
            RejectionCode::InvalidField => "invalid_field",
            RejectionCode::UnsupportedSpecVersion => "unsupported_specversion",
            RejectionCode::NoCurrencyRate => "no_currency_rate",
            RejectionCode::TooLarge => "too_large",
            RejectionCode::Late => "late",
        }
    }

    pub fn from_str_opt(text: &str) -> Option<RejectionCode> {
        RejectionCode::ALL
            .into_iter()
            .find(|code| code.as_str() == text)
    }

    /// Index into per-code counter arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// One rejected event: a class and a sentence that starts with the field path
/// (`data.lines[1].quantity: expected …`) so the producer knows exactly what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: RejectionCode,
    pub message: String,
}

impl Rejection {
    pub fn new(code: RejectionCode, message: impl Into<String>) -> Rejection {
        Rejection {
            code,
            message: message.into(),
        }
    }

    pub fn missing(field: &str) -> Rejection {
        Rejection::new(
            RejectionCode::MissingField,
            format!("{field}: required field is missing"),
        )
    }

    pub fn invalid(field: &str, expected: &str, got: &str) -> Rejection {
        Rejection::new(
            RejectionCode::InvalidField,
            format!("{field}: expected {expected}, got {got}"),
        )
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.message)
    }
}

impl std::error::Error for Rejection {}
