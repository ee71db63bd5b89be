//! One event's validation: the CloudEvents envelope, then `data` against the catalogue.

//!
//! One pass over the bytes: attributes are read as borrowed scalars, and `data` is checked
//! against its catalogue table while it is parsed (when `type` comes before `data`, as
//! producers write it; otherwise `data` is kept raw and checked after the walk). A failed
//! check stops the parse and leaves its [`Rejection`] in a slot shared by the seeds.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::catalogue::{EventType, FieldKind, FieldSpec, LINE_FIELDS};
use crate::error::{Rejection, RejectionCode};
use crate::identity::identity_key;
use crate::json::{JsonKind, KeySeed};
use crate::money::{CurrencyCode, decimal_from_text};
use crate::time::{format_rfc3339, parse_rfc3339};

mod fast;

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
    // The common case (no escapes, nothing wrong) takes the hand-written walk; anything it
    // is unsure of, and every rejection, is decided by the serde walk below, whose error
    // messages point at the problem.
    if let Some(attributes) = fast::walk(raw)
        && let Ok(valid) = finish(attributes, currencies, receive_time_us)
    {
        return Ok(valid);
    }
    validate_with_serde(raw, currencies, receive_time_us)
}

/// Where a member told to a [`MemberSink`] sits in the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberPlace {
    /// A top-level member: an attribute or extension (never `data` itself).
    Envelope,
    /// A member of the `data` object (not of objects nested in it).
    Data,
}

/// Told the members of an event while it is validated, so a reader of fields (the KPI
/// engine's) need not walk the same bytes again.
pub trait MemberSink {
    /// One member, in the order of the text: `value` is its raw JSON text, which starts
    /// at byte `value_at` of the event. Names are as written (the walk that tells members
    /// takes no escapes).
    fn member(&mut self, place: MemberPlace, name: &str, value: &str, value_at: usize);
}

/// [`validate_event`], telling `sink` the event's members as they are read. The flag is
/// true when `sink` was told every member of the event (top-level and of `data`), each
/// once, in order, and of nothing else; when false (an event the hand-written walk left
/// to the serde walk), what `sink` was told is incomplete and must be thrown away.
pub fn validate_event_observed<'a>(
    raw: &'a str,
    currencies: &CurrencyPolicy,
    receive_time_us: i64,
    sink: &mut dyn MemberSink,
) -> Result<(ValidEvent<'a>, bool), Rejection> {
    if let Some(attributes) = fast::walk_observed(raw, sink)
        && let Ok(valid) = finish(attributes, currencies, receive_time_us)
    {
        return Ok((valid, true));
    }
    validate_with_serde(raw, currencies, receive_time_us).map(|valid| (valid, false))
}

fn validate_with_serde<'a>(
    raw: &'a str,
    currencies: &CurrencyPolicy,
    receive_time_us: i64,
) -> Result<ValidEvent<'a>, Rejection> {
    let failure = RefCell::new(None);
    let mut deserializer = serde_json::Deserializer::from_str(raw);
    let walked = deserializer
        .deserialize_any(EnvelopeVisitor { failure: &failure })
        .and_then(|attributes| deserializer.end().map(|()| attributes));
    if let Some(rejection) = failure.into_inner() {
        return Err(rejection);
    }
    let attributes = walked.map_err(|error| json_rejection(raw, &error))?;
    finish(attributes, currencies, receive_time_us)
}

/// The checks on the attributes once the event is walked (by either walk).
fn finish<'a>(
    attributes: Attributes<'a>,
    currencies: &CurrencyPolicy,
    receive_time_us: i64,
) -> Result<ValidEvent<'a>, Rejection> {
    let specversion = required_string(attributes.specversion, "specversion")?;
    if specversion != "1.0" {
        return Err(Rejection::new(
            RejectionCode::UnsupportedSpecVersion,
            format!(
                "specversion: expected \"1.0\", got {}",
                quoted(&specversion)
            ),
        ));
    }
    let id = required_string(attributes.id, "id")?;
    let source = required_string(attributes.source, "source")?;
    let event_type = required_string(attributes.event_type, "type")?;
    if let Some(content_type) = attributes.datacontenttype {
        let Scalar::Str(content_type) = content_type else {
            return Err(Rejection::invalid(
                "datacontenttype",
                "a string",
                content_type.kind().described(),
            ));
        };
        let essence = content_type.split(';').next().unwrap_or("").trim();
        if !essence.eq_ignore_ascii_case("application/json") && !essence.ends_with("+json") {
            return Err(Rejection::invalid(
                "datacontenttype",
                "\"application/json\" or absent",
                &quoted(&content_type),
            ));
        }
    }
    if attributes.has_data_base64 {
        return Err(Rejection::invalid(
            "data_base64",
            "`data` as a JSON object (binary data is not supported)",
            "data_base64",
        ));
    }

    if attributes.has_time_source && attributes.time.is_none() {
        return Err(Rejection::invalid(
            "sightlinetimesource",
            "no such attribute on an event without `time` (Sightline sets it when it stamps the receive time)",
            "one",
        ));
    }
    let (time_us, time_from_ingest) = match attributes.time {
        None => (receive_time_us, true),
        Some(Scalar::Str(text)) => {
            let micros = parse_rfc3339(&text).map_err(|problem| {
                Rejection::new(
                    RejectionCode::InvalidField,
                    format!("time: {problem} (got {})", quoted(&text)),
                )
            })?;
            (micros, false)
        }
        Some(other) => {
            return Err(Rejection::invalid(
                "time",
                "a string",
                other.kind().described(),
            ));
        }
    };

    let known_type = EventType::parse(&event_type);
    let currency = match attributes.data {
        DataState::Absent => return Err(Rejection::missing("data")),
        DataState::Checked(currency) => currency,
        DataState::Deferred(data) => match known_type {
            None if JsonKind::of(data) != JsonKind::Object => {
                return Err(Rejection::invalid(
                    "data",
                    "a JSON object",
                    JsonKind::of(data).described(),
                ));
            }
            None => None,
            Some(known_type) => check_data_later(data, known_type)?,
        },
    };
    if let Some(currency) = currency {
        currencies.check(currency)?;
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

/// A JSON value as far as validation cares: strings borrowed, containers skipped.
#[derive(Debug, Clone, PartialEq)]
enum Scalar<'de> {
    Str(Cow<'de, str>),
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Bool(bool),
    Null,
    Object,
    Array,
}

impl Scalar<'_> {
    fn kind(&self) -> JsonKind {
        match self {
            Scalar::Str(_) => JsonKind::String,
            Scalar::Unsigned(_) | Scalar::Signed(_) | Scalar::Float(_) => JsonKind::Number,
            Scalar::Bool(_) => JsonKind::Bool,
            Scalar::Null => JsonKind::Null,
            Scalar::Object => JsonKind::Object,
            Scalar::Array => JsonKind::Array,
        }
    }

    /// How the value reads in a rejection: itself as JSON when short, else its kind.
    fn describe(&self) -> String {
        match self {
            Scalar::Str(text) if text.len() <= 40 => {
                serde_json::to_string(text.as_ref()).unwrap_or_default()
            }
            Scalar::Unsigned(number) => number.to_string(),
            Scalar::Signed(number) => number.to_string(),
            Scalar::Float(number) => format!("{number:?}"),
            Scalar::Bool(value) => value.to_string(),
            other => other.kind().described().to_owned(),
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match self {
            Scalar::Unsigned(number) => Some(*number as f64),
            Scalar::Signed(number) => Some(*number as f64),
            Scalar::Float(number) => Some(*number),
            _ => None,
        }
    }
}

impl<'de> de::Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Scalar<'de>, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(Cow::Borrowed(value)))
    }
    fn visit_str<E: de::Error>(self, value: &str) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(Cow::Owned(value.to_owned())))
    }
    fn visit_string<E: de::Error>(self, value: String) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(Cow::Owned(value)))
    }
    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Unsigned(value))
    }
    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Signed(value))
    }
    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Float(value))
    }
    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Bool(value))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Null)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar<'de>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Object)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Array)
    }
}

/// Where a rejection must point; formatted only when something is rejected.
#[derive(Debug, Clone, Copy)]
enum ObjectPath {
    Data,
    Line(usize),
}

impl fmt::Display for ObjectPath {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ObjectPath::Data => formatter.write_str("data"),
            ObjectPath::Line(index) => write!(formatter, "data.lines[{index}]"),
        }
    }
}

type FailureSlot = RefCell<Option<Rejection>>;

/// Records `rejection` and stops the parse.
fn fail<E: de::Error>(slot: &FailureSlot, rejection: Rejection) -> E {
    slot.borrow_mut().get_or_insert(rejection);
    E::custom("event rejected")
}

enum DataState<'de> {
    Absent,
    /// Checked while parsing; the currency it names, if any.
    Checked(Option<CurrencyCode>),
    /// `type` came after `data` (or is unknown): checked after the walk.
    Deferred(&'de RawValue),
}

struct Attributes<'de> {
    specversion: Option<Scalar<'de>>,
    id: Option<Scalar<'de>>,
    source: Option<Scalar<'de>>,
    event_type: Option<Scalar<'de>>,
    time: Option<Scalar<'de>>,
    datacontenttype: Option<Scalar<'de>>,
    data: DataState<'de>,
    has_data_base64: bool,
    has_time_source: bool,
}

impl Attributes<'_> {
    /// Before the walk: nothing seen yet.
    fn none() -> Self {
        Attributes {
            specversion: None,
            id: None,
            source: None,
            event_type: None,
            time: None,
            datacontenttype: None,
            data: DataState::Absent,
            has_data_base64: false,
            has_time_source: false,
        }
    }
}

struct EnvelopeVisitor<'s> {
    failure: &'s FailureSlot,
}

impl<'de> Visitor<'de> for EnvelopeVisitor<'_> {
    type Value = Attributes<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Attributes<'de>, A::Error> {
        let mut attributes = Attributes::none();
        let mut seen_data = false;
        while let Some(name) = map.next_key_seed(KeySeed)? {
            let slot = match name.as_ref() {
                "specversion" => &mut attributes.specversion,
                "id" => &mut attributes.id,
                "source" => &mut attributes.source,
                "type" => &mut attributes.event_type,
                "time" => &mut attributes.time,
                "datacontenttype" => &mut attributes.datacontenttype,
                "data" => {
                    if seen_data {
                        return Err(fail(
                            self.failure,
                            Rejection::invalid("data", "to appear once", "it twice"),
                        ));
                    }
                    seen_data = true;
                    attributes.data =
                        read_data(&mut map, attributes.event_type.as_ref(), self.failure)?;
                    continue;
                }
                "sightlinetimesource" => {
                    attributes.has_time_source = true;
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                "data_base64" => {
                    attributes.has_data_base64 = true;
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                // Extension attributes (and subject, dataschema) travel with the event.
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            if slot.is_some() {
                return Err(fail(
                    self.failure,
                    Rejection::invalid(&name, "to appear once", "it twice"),
                ));
            }
            *slot = Some(map.next_value()?);
        }
        Ok(attributes)
    }
}

/// `data`, checked in place when the type before it is a catalogue type.
fn read_data<'de, A: MapAccess<'de>>(
    map: &mut A,
    event_type: Option<&Scalar<'de>>,
    failure: &FailureSlot,
) -> Result<DataState<'de>, A::Error> {
    let known = match event_type {
        Some(Scalar::Str(name)) => EventType::parse(name),
        _ => None,
    };
    match known {
        Some(known) => {
            let seed = ObjectSeed {
                fields: known.fields(),
                path: ObjectPath::Data,
                failure,
            };
            map.next_value_seed(seed).map(DataState::Checked)
        }
        None => {
            let raw: &'de RawValue = map.next_value()?;
            Ok(DataState::Deferred(raw))
        }
    }
}

fn check_data_later(
    data: &RawValue,
    event_type: EventType,
) -> Result<Option<CurrencyCode>, Rejection> {
    let failure = RefCell::new(None);
    let seed = ObjectSeed {
        fields: event_type.fields(),
        path: ObjectPath::Data,
        failure: &failure,
    };
    let mut deserializer = serde_json::Deserializer::from_str(data.get());
    let outcome = seed.deserialize(&mut deserializer);
    if let Some(rejection) = failure.into_inner() {
        return Err(rejection);
    }
    outcome.map_err(|error| Rejection::new(RejectionCode::InvalidJson, format!("data: {error}")))
}

/// Checks one object against its field table while it is parsed: known fields by kind,
/// required ones present (null counts as absent), others skipped.
struct ObjectSeed<'s> {
    fields: &'static [FieldSpec],
    path: ObjectPath,
    failure: &'s FailureSlot,
}

impl<'de> DeserializeSeed<'de> for ObjectSeed<'_> {
    type Value = Option<CurrencyCode>;

    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Option<CurrencyCode>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ObjectSeed<'_> {
    type Value = Option<CurrencyCode>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<CurrencyCode>, A::Error> {
        let mut seen: u32 = 0;
        let mut currency = None;
        while let Some(name) = map.next_key_seed(KeySeed)? {
            let Some(index) = self.fields.iter().position(|field| field.name == name) else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let field = &self.fields[index];
            if seen & (1 << index) != 0 {
                let rejection = Rejection::invalid(
                    &format!("{}.{name}", self.path),
                    "to appear once",
                    "it twice",
                );
                return Err(fail(self.failure, rejection));
            }
            if field.kind == FieldKind::Lines {
                let present = map.next_value_seed(LinesSeed {
                    failure: self.failure,
                })?;
                if present {
                    seen |= 1 << index;
                }
                continue;
            }
            if field.kind == FieldKind::Money {
                // Read as raw text so a JSON number is checked digit for digit, as the
                // engine will read it, never through a float.
                let raw: &'de RawValue = map.next_value()?;
                if JsonKind::of(raw) == JsonKind::Null {
                    continue;
                }
                seen |= 1 << index;
                if let Err(rejection) = check_money(field, raw.get(), self.path) {
                    return Err(fail(self.failure, rejection));
                }
                continue;
            }
            let value: Scalar<'de> = map.next_value()?;
            if value == Scalar::Null {
                continue;
            }
            seen |= 1 << index;
            match check_scalar(field, &value, self.path) {
                Ok(Some(code)) => currency = Some(code),
                Ok(None) => {}
                Err(rejection) => return Err(fail(self.failure, rejection)),
            }
        }
        for (index, field) in self.fields.iter().enumerate() {
            if field.required && seen & (1 << index) == 0 {
                return Err(fail(
                    self.failure,
                    Rejection::missing(&format!("{}.{}", self.path, field.name)),
                ));
            }
        }
        Ok(currency)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<Option<CurrencyCode>, A::Error> {
        Err(fail(
            self.failure,
            Rejection::invalid(&self.path.to_string(), "a JSON object", "an array"),
        ))
    }
    fn visit_str<E: de::Error>(self, _value: &str) -> Result<Option<CurrencyCode>, E> {
        Err(fail(
            self.failure,
            Rejection::invalid(&self.path.to_string(), "a JSON object", "a string"),
        ))
    }
    fn visit_u64<E: de::Error>(self, _value: u64) -> Result<Option<CurrencyCode>, E> {
        Err(fail(
            self.failure,
            Rejection::invalid(&self.path.to_string(), "a JSON object", "a number"),
        ))
    }
    fn visit_i64<E: de::Error>(self, _value: i64) -> Result<Option<CurrencyCode>, E> {
        Err(fail(
            self.failure,
            Rejection::invalid(&self.path.to_string(), "a JSON object", "a number"),
        ))
    }
    fn visit_f64<E: de::Error>(self, _value: f64) -> Result<Option<CurrencyCode>, E> {
        Err(fail(
            self.failure,
            Rejection::invalid(&self.path.to_string(), "a JSON object", "a number"),
        ))
    }
    fn visit_bool<E: de::Error>(self, _value: bool) -> Result<Option<CurrencyCode>, E> {
        Err(fail(
            self.failure,
            Rejection::invalid(&self.path.to_string(), "a JSON object", "a boolean"),
        ))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<CurrencyCode>, E> {
        Err(fail(
            self.failure,
            Rejection::invalid(&self.path.to_string(), "a JSON object", "null"),
        ))
    }
}

/// `order.created.lines`: an array of line objects. Yields whether it was present (not null).
struct LinesSeed<'s> {
    failure: &'s FailureSlot,
}

impl<'de> DeserializeSeed<'de> for LinesSeed<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for LinesSeed<'_> {
    type Value = bool;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an array of order lines")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let mut index = 0;
        loop {
            let seed = ObjectSeed {
                fields: LINE_FIELDS,
                path: ObjectPath::Line(index),
                failure: self.failure,
            };
            if seq.next_element_seed(seed)?.is_none() {
                return Ok(true);
            }
            index += 1;
        }
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_map<A: MapAccess<'de>>(self, _map: A) -> Result<bool, A::Error> {
        Err(self.not_lines("an object"))
    }
    fn visit_str<E: de::Error>(self, _value: &str) -> Result<bool, E> {
        Err(self.not_lines("a string"))
    }
    fn visit_u64<E: de::Error>(self, _value: u64) -> Result<bool, E> {
        Err(self.not_lines("a number"))
    }
    fn visit_i64<E: de::Error>(self, _value: i64) -> Result<bool, E> {
        Err(self.not_lines("a number"))
    }
    fn visit_f64<E: de::Error>(self, _value: f64) -> Result<bool, E> {
        Err(self.not_lines("a number"))
    }
    fn visit_bool<E: de::Error>(self, _value: bool) -> Result<bool, E> {
        Err(self.not_lines("a boolean"))
    }
}

impl LinesSeed<'_> {
    fn not_lines<E: de::Error>(&self, got: &str) -> E {
        fail(
            self.failure,
            Rejection::invalid("data.lines", "an array of order lines", got),
        )
    }
}

/// A client's text quoted in a rejection, cut short: a reason must stay a sentence even
/// when the value is megabytes long.
fn quoted(text: &str) -> String {
    const LIMIT: usize = 60;
    if text.len() <= LIMIT {
        return format!("{text:?}");
    }
    let mut cut = LIMIT;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{:?}… ({} bytes)", &text[..cut], text.len())
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

fn required_string<'a>(value: Option<Scalar<'a>>, field: &str) -> Result<Cow<'a, str>, Rejection> {
    match value {
        None | Some(Scalar::Null) => Err(Rejection::missing(field)),
        Some(Scalar::Str(text)) if text.is_empty() => {
            Err(Rejection::invalid(field, "a non-empty string", "\"\""))
        }
        Some(Scalar::Str(text)) => Ok(text),
        Some(other) => Err(Rejection::invalid(
            field,
            "a string",
            other.kind().described(),
        )),
    }
}

/// A money amount: a decimal string or a JSON number, exact and not negative.
/// `raw` is the value's JSON text.
fn check_money(field: &FieldSpec, raw: &str, path: ObjectPath) -> Result<(), Rejection> {
    let name = || format!("{path}.{}", field.name);
    let text = match JsonKind::of_text(raw) {
        JsonKind::String => crate::json::raw_str_text(raw),
        JsonKind::Number => Some(Cow::Borrowed(raw)),
        _ => None,
    };
    let shown = || {
        if raw.len() <= 40 {
            raw.to_owned()
        } else {
            JsonKind::of_text(raw).described().to_owned()
        }
    };
    let Some(amount) = text
        .as_deref()
        .and_then(|text| decimal_from_text(text.trim()))
    else {
        return Err(Rejection::invalid(
            &name(),
            "a decimal amount such as \"199.90\" or 199.9 (at most 28 significant digits)",
            &shown(),
        ));
    };
    if amount.is_sign_negative() && !amount.is_zero() {
        return Err(Rejection::invalid(
            &name(),
            "an amount of at least 0",
            &amount.to_string(),
        ));
    }
    Ok(())
}

/// Checks one non-null value against its field's kind; a currency field yields its code.
fn check_scalar(
    field: &FieldSpec,
    value: &Scalar<'_>,
    path: ObjectPath,
) -> Result<Option<CurrencyCode>, Rejection> {
    let name = || format!("{path}.{}", field.name);
    match field.kind {
        FieldKind::Id | FieldKind::Text => {
            let Scalar::Str(text) = value else {
                return Err(Rejection::invalid(
                    &name(),
                    "a string",
                    value.kind().described(),
                ));
            };
            if field.kind == FieldKind::Id && text.is_empty() {
                return Err(Rejection::invalid(&name(), "a non-empty string", "\"\""));
            }
        }
        // Read raw by `check_money`, never as a scalar.
        FieldKind::Money => {}
        FieldKind::Currency => {
            let code = match value {
                Scalar::Str(text) => CurrencyCode::parse(text),
                _ => None,
            };
            let Some(code) = code else {
                return Err(Rejection::invalid(
                    &name(),
                    "an ISO 4217 code such as \"EUR\"",
                    &value.describe(),
                ));
            };
            return Ok(Some(code));
        }
        FieldKind::Integer { min, max } => {
            let number = match value {
                Scalar::Signed(number) => Some(*number as i128),
                Scalar::Unsigned(number) => Some(*number as i128),
                _ => None,
            };
            let Some(number) = number else {
                return Err(Rejection::invalid(&name(), "an integer", &value.describe()));
            };
            if number < min as i128 || number > max as i128 {
                return Err(Rejection::invalid(
                    &name(),
                    &range_text(min, max),
                    &value.describe(),
                ));
            }
        }
        FieldKind::Number { min } => {
            let Some(number) = value.as_f64() else {
                return Err(Rejection::invalid(&name(), "a number", &value.describe()));
            };
            if number < min {
                return Err(Rejection::invalid(
                    &name(),
                    &format!("a number of at least {min}"),
                    &value.describe(),
                ));
            }
        }
        FieldKind::Timestamp => {
            let Scalar::Str(text) = value else {
                return Err(Rejection::invalid(
                    &name(),
                    "an RFC 3339 timestamp string",
                    value.kind().described(),
                ));
            };
            if let Err(problem) = parse_rfc3339(text) {
                return Err(Rejection::new(
                    RejectionCode::InvalidField,
                    format!("{}: {problem} (got {})", name(), quoted(text)),
                ));
            }
        }
        FieldKind::OneOf(allowed) => {
            let valid = matches!(value, Scalar::Str(text) if allowed.contains(&text.as_ref()));
            if !valid {
                return Err(Rejection::invalid(
                    &name(),
                    &format!("one of {}", allowed.join(", ")),
                    &value.describe(),
                ));
            }
        }
        FieldKind::Region => {
            let valid = matches!(value, Scalar::Str(text) if is_region_code(text));
            if !valid {
                return Err(Rejection::invalid(
                    &name(),
                    "an ISO 3166 code such as \"DE\" or \"US-CA\"",
                    &value.describe(),
                ));
            }
        }
        // Walked by `LinesSeed`, never as a scalar.
        FieldKind::Lines => {}
    }
    Ok(None)
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
