//! Borrowed JSON walking: object fields as raw slices, strings unescaped only when needed.
//!
//! Validation wants two things a generic `serde_json::Value` does badly: no allocation per
//! field, and the freedom to say *which* field is wrong in our own words. So objects are
//! walked as (key, raw value) pairs and each value is checked by its first byte.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// The JSON type of a raw value, judged by its first byte (RawValue is already valid JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonKind {
    String,
    Number,
    Object,
    Array,
    Bool,
    Null,
}

impl JsonKind {
    pub fn of(raw: &RawValue) -> JsonKind {
        JsonKind::of_text(raw.get())
    }

    /// The kind of a value given as its raw JSON text (already known to be one value).
    pub fn of_text(text: &str) -> JsonKind {
        match text.as_bytes().first() {
            Some(b'"') => JsonKind::String,
            Some(b'{') => JsonKind::Object,
            Some(b'[') => JsonKind::Array,
            Some(b't' | b'f') => JsonKind::Bool,
            Some(b'n') => JsonKind::Null,
            _ => JsonKind::Number,
        }
    }

    /// How the kind reads in an error message: "a number", "null", …
    pub fn described(self) -> &'static str {
        match self {
            JsonKind::String => "a string",
            JsonKind::Number => "a number",
            JsonKind::Object => "an object",
            JsonKind::Array => "an array",
            JsonKind::Bool => "a boolean",
            JsonKind::Null => "null",
        }
    }
}

/// The content of a JSON string value, borrowed unless it holds escapes.
/// Returns `None` when the value is not a string.
pub fn raw_str(raw: &RawValue) -> Option<Cow<'_, str>> {
    raw_str_text(raw.get())
}

/// [`raw_str`] over a value's raw JSON text.
pub fn raw_str_text(text: &str) -> Option<Cow<'_, str>> {
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    if !inner.contains('\\') {
        return Some(Cow::Borrowed(inner));
    }
    serde_json::from_str::<String>(text).ok().map(Cow::Owned)
}

/// Calls `on_item(index, value)` for every element of the JSON array in `raw`.
pub fn for_each_item<'a, E>(
    raw: &'a str,
    mut on_item: impl FnMut(usize, &'a RawValue) -> Result<(), E>,
) -> Result<(), WalkError<E>> {
    let mut failure = None;
    let mut deserializer = serde_json::Deserializer::from_str(raw);
    let outcome = deserializer.deserialize_seq(ItemsVisitor {
        on_item: &mut on_item,
        failure: &mut failure,
    });
    if let Some(error) = failure {
        return Err(WalkError::Item(error));
    }
    outcome.map_err(WalkError::Json)?;
    deserializer.end().map_err(WalkError::Json)
}

#[derive(Debug)]
pub enum WalkError<E> {
    /// The input is not the expected JSON shape (with serde_json's line and column).
    Json(serde_json::Error),
    /// The callback refused an element.
    Item(E),
}

struct ItemsVisitor<'f, F, E> {
    on_item: &'f mut F,
    failure: &'f mut Option<E>,
}

impl<'de, F, E> Visitor<'de> for ItemsVisitor<'_, F, E>
where
    F: FnMut(usize, &'de RawValue) -> Result<(), E>,
{
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        while let Some(item) = seq.next_element::<&'de RawValue>()? {
            if let Err(error) = (self.on_item)(index, item) {
                *self.failure = Some(error);
                return Err(de::Error::custom("item refused"));
            }
            index += 1;
        }
        Ok(())
    }
}

/// Deserializes an object key, borrowing it from the input when it has no escapes.
/// An object key, borrowed from the input unless it has escapes.
pub struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Cow<'de, str>, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Cow<'de, str>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a string key")
    }

    fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(value))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(value.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_items_in_order_and_borrows() {
        let mut seen = Vec::new();
        let outcome: Result<(), WalkError<()>> =
            for_each_item(r#"[1,"x",{"d":[1,2]}]"#, |index, value| {
                seen.push((index, value.get().to_owned()));
                Ok(())
            });
        assert!(outcome.is_ok());
        assert_eq!(seen[0], (0, "1".into()));
        assert_eq!(seen[1], (1, "\"x\"".into()));
        assert_eq!(seen[2], (2, "{\"d\":[1,2]}".into()));
    }

    #[test]
    fn callback_error_stops_the_walk() {
        let outcome = for_each_item(
            "[1,2]",
            |index, _| {
                if index == 1 { Err("no second") } else { Ok(()) }
            },
        );
        assert!(matches!(outcome, Err(WalkError::Item("no second"))));
    }

    #[test]
    fn rejects_non_arrays_and_trailing_bytes() {
        let ok = |_: usize, _: &RawValue| Ok::<(), ()>(());
        assert!(matches!(for_each_item("{}", ok), Err(WalkError::Json(_))));
        assert!(matches!(for_each_item("[] x", ok), Err(WalkError::Json(_))));
    }

    #[test]
    fn strings_unescape_only_when_needed() {
        let plain: Box<RawValue> = serde_json::from_str("\"abc\"").expect("valid");
        assert!(matches!(raw_str(&plain), Some(Cow::Borrowed("abc"))));
        let escaped: Box<RawValue> = serde_json::from_str("\"a\\nb\"").expect("valid");
        assert_eq!(raw_str(&escaped).as_deref(), Some("a\nb"));
        let number: Box<RawValue> = serde_json::from_str("12").expect("valid");
        assert_eq!(raw_str(&number), None);
    }
}
