//! Reading the fields a KPI needs out of a stored event, in one pass over its JSON.

use std::borrow::Cow;
use std::collections::HashMap;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::value::RawValue;
use sightline_model::json::{JsonKind, for_each_field, raw_str};

use crate::definition::FieldPath;

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

/// A field's raw JSON value, borrowed from the event.
pub type RawField<'a> = &'a RawValue;

/// The event's `type` and the wanted fields (by slot; `None` when absent or null).
pub fn extract<'a>(
    payload: &'a str,
    fields_by_type: &HashMap<String, FieldSet>,
    out: &mut Vec<Option<RawField<'a>>>,
) -> Option<Cow<'a, str>> {
    let mut event_type: Option<Cow<'a, str>> = None;
    let mut data: Option<&'a RawValue> = None;
    out.clear();
    let walked = for_each_field(payload, |name, value| {
        match name.as_ref() {
            "type" => event_type = raw_str(value),
            "data" => data = Some(value),
            _ => {}
        }
        Ok::<(), ()>(())
    });
    walked.ok()?;
    let event_type = event_type?;
    let Some(fields) = fields_by_type.get(event_type.as_ref()) else {
        return Some(event_type);
    };
    out.resize(fields.len(), None);
    if !fields.attributes.is_empty() {
        let _ = for_each_field(payload, |name, value| {
            if let Some((_, slot)) = fields.attributes.iter().find(|(wanted, _)| *wanted == name) {
                out[*slot] = present(value);
            }
            Ok::<(), ()>(())
        });
    }
    if let Some(data) = data
        && !fields.data.is_empty()
    {
        let _ = for_each_field(data.get(), |name, value| {
            if let Some((_, slot)) = fields.data.iter().find(|(wanted, _)| *wanted == name) {
                out[*slot] = present(value);
            }
            Ok::<(), ()>(())
        });
    }
    Some(event_type)
}

fn present(value: &RawValue) -> Option<&RawValue> {
    (JsonKind::of(value) != JsonKind::Null).then_some(value)
}

/// A field as a number: a JSON number or a decimal string, read exactly.
pub fn as_decimal(value: &RawValue) -> Option<Decimal> {
    let text = match JsonKind::of(value) {
        JsonKind::Number => Cow::Borrowed(value.get()),
        JsonKind::String => raw_str(value)?,
        _ => return None,
    };
    let text = text.trim();
    if text.contains(['e', 'E']) {
        return Decimal::from_scientific(text).ok();
    }
    Decimal::from_str(text).ok()
}

/// A field as a group label: strings as themselves, anything else as its JSON text.
pub fn as_label(value: &RawValue) -> String {
    match raw_str(value) {
        Some(text) => text.into_owned(),
        None => value.get().to_owned(),
    }
}
