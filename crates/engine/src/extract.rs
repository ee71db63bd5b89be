//! Reading the fields a KPI needs out of a stored event, in one pass over its JSON.

use std::borrow::Cow;

use rustc_hash::FxHashMap;

use rust_decimal::Decimal;
use sightline_model::json::raw_str_text;

use crate::definition::FieldPath;
use crate::scan::{ObjectWalk, for_each_member};

/// The slot number of a path that has none (an array element's member).
pub const NO_SLOT: usize = usize::MAX;

/// The fields wanted from events of one type, each with a slot number.
#[derive(Debug, Clone, Default)]
pub struct FieldSet {
    attributes: Vec<(String, usize)>,
    data: Vec<(String, usize)>,
    slots: usize,
}

impl FieldSet {
    /// The slot of `path`, added if new.
    pub fn slot(&mut self, path: &FieldPath) -> usize {
        let (list, name) = match path {
            FieldPath::Attribute(name) => (&mut self.attributes, name),
            FieldPath::Data(name) => (&mut self.data, name),
            // Members of array elements are read per element, not into slots.
            FieldPath::Element(_) => return NO_SLOT,
        };
        if let Some((_, slot)) = list.iter().find(|(known, _)| known == name) {
            return *slot;
        }
        list.push((name.clone(), self.slots));
        self.slots += 1;
        self.slots - 1
    }

    pub fn len(&self) -> usize {
        self.slots
    }

    pub fn is_empty(&self) -> bool {
        self.slots == 0
    }
}

/// A field's raw JSON text (one JSON value, never `null`), borrowed from the event.
pub type RawField<'a> = &'a str;

/// Top-level members kept until `type` is known; more than this are not looked at (a
/// KPI grouping by an attribute that comes after sixteen others before `type` is rare).
pub(crate) const EARLY_MEMBERS: usize = 16;

/// The event's `type` and the wanted fields (by slot; `None` when absent or null), in
/// one pass over the JSON with the fast member walk ([`crate::scan`]): only the wanted
/// values are parsed, each from its own slice.
pub fn extract<'a>(
    payload: &'a str,
    fields_by_type: &FxHashMap<String, FieldSet>,
    out: &mut Vec<Option<RawField<'a>>>,
) -> Option<Cow<'a, str>> {
    out.clear();
    let mut event_type: Option<Cow<'a, str>> = None;
    let mut fields: Option<&FieldSet> = None;
    let mut early: [Option<(Cow<'a, str>, &'a str)>; EARLY_MEMBERS] = Default::default();
    let mut early_count = 0;
    // `data` before `type` is kept apart from the other early members, however many
    // attributes came first: it holds most of what KPIs read.
    let mut early_data: Option<&'a str> = None;
    let mut walk = ObjectWalk::new(payload, 0).ok()?;
    while let Some(name) = walk.next_key().ok()? {
        if name == "type" {
            let value = walk.value().ok()?;
            event_type = text_of(value);
            fields = event_type
                .as_deref()
                .and_then(|name| fields_by_type.get(name));
            if let Some(fields) = fields {
                out.resize(fields.len(), None);
                if let Some(slot) = fields.attribute_slot("type") {
                    out[slot] = raw(value);
                }
            }
            continue;
        }
        match fields {
            // The usual order (`type` before `data`): `data` is walked in place, once.
            Some(fields) if name == "data" && walk.value_is_object() => {
                walk.object(|name, value| {
                    if let Some(slot) = fields.data_slot(&name) {
                        out[slot] = raw(value);
                    }
                    true
                })
                .ok()?;
            }
            Some(fields) => {
                let value = walk.value().ok()?;
                if let Some(slot) = fields.attribute_slot(&name) {
                    out[slot] = raw(value);
                }
            }
            None => {
                let value = walk.value().ok()?;
                if event_type.is_some() {
                    continue;
                }
                if name == "data" {
                    early_data = Some(value);
                } else if early_count < EARLY_MEMBERS {
                    early[early_count] = Some((name, value));
                    early_count += 1;
                }
            }
        }
    }
    let event_type = event_type?;
    let Some(fields) = fields else {
        return Some(event_type);
    };
    // Members seen before `type` (usually id, source, specversion), then a `data` that
    // came before `type`.
    for (name, value) in early.iter().flatten() {
        if let Some(slot) = fields.attribute_slot(name) {
            out[slot] = raw(value);
        }
    }
    if let Some(data) = early_data.filter(|data| data.starts_with('{')) {
        for_each_member(data, |name, value| {
            if let Some(slot) = fields.data_slot(&name) {
                out[slot] = raw(value);
            }
            true
        })
        .ok()?;
    }
    Some(event_type)
}

/// A wanted value's raw text, `None` for null. The walk found where the value ends;
/// the event was validated as JSON when it was accepted.
pub(crate) fn raw(value: &str) -> Option<&str> {
    (value != "null").then_some(value)
}

/// A string value's text (unescaped only when it holds escapes).
fn text_of(value: &str) -> Option<Cow<'_, str>> {
    raw_str_text(raw(value)?)
}

impl FieldSet {
    pub(crate) fn attribute_slot(&self, name: &str) -> Option<usize> {
        self.attributes
            .iter()
            .find(|(wanted, _)| wanted == name)
            .map(|(_, slot)| *slot)
    }

    pub(crate) fn data_slot(&self, name: &str) -> Option<usize> {
        self.data
            .iter()
            .find(|(wanted, _)| wanted == name)
            .map(|(_, slot)| *slot)
    }
}

/// A field as a number: a JSON number or a decimal string, read exactly.
pub fn as_decimal(value: &str) -> Option<Decimal> {
    sightline_model::parse_decimal_text(value).ok()
}

/// A field's text, borrowed where it holds no escapes: strings as themselves, anything
/// else as its JSON text. For comparing and hashing without allocating.
pub fn label_text(value: &str) -> Cow<'_, str> {
    // The common case, a string without escapes, borrowed after one fast scan.
    if value.len() >= 2
        && value.starts_with('"')
        && crate::scan::quote_or_backslash(value.as_bytes(), 1) == Some(value.len() - 1)
        && let Some(inner) = value.get(1..value.len() - 1)
    {
        return Cow::Borrowed(inner);
    }
    match raw_str_text(value) {
        Some(text) => text,
        None => Cow::Borrowed(value),
    }
}

/// A field as a group label: strings as themselves, anything else as its JSON text.
pub fn as_label(value: &str) -> String {
    label_text(value).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `data` before `type`, after more early members than are kept: still read.
    #[test]
    fn data_before_type_is_read_after_any_number_of_attributes() {
        let mut fields = FieldSet::default();
        let total = fields.slot(&FieldPath::Data("total".into()));
        let fields_by_type = FxHashMap::from_iter([("order.created".to_owned(), fields)]);
        for attributes in [0, EARLY_MEMBERS - 1, EARLY_MEMBERS, 3 * EARLY_MEMBERS] {
            let extensions: String = (0..attributes)
                .map(|index| format!(r#""ext{index}":"x","#))
                .collect();
            let payload = format!(
                r#"{{"specversion":"1.0",{extensions}"data":{{"total":"7.50"}},"type":"order.created"}}"#
            );
            let mut out = Vec::new();
            let event_type = extract(&payload, &fields_by_type, &mut out);
            assert_eq!(event_type.as_deref(), Some("order.created"));
            assert_eq!(
                out[total],
                Some(r#""7.50""#),
                "{attributes} attributes first"
            );
        }
    }
}
