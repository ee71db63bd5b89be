//! Reading the fields a KPI needs out of a stored event, in one pass over its JSON.

use std::borrow::Cow;

use rustc_hash::FxHashMap;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use rust_decimal::Decimal;
use serde_json::value::RawValue;
use sightline_model::json::{JsonKind, KeySeed, for_each_field, raw_str};

use crate::definition::FieldPath;

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

/// A field's raw JSON value, borrowed from the event.
pub type RawField<'a> = &'a RawValue;

/// The event's `type` and the wanted fields (by slot; `None` when absent or null), in
/// one pass over the JSON: `data` is walked in place when `type` came before it (as
/// producers write it), so its bytes are scanned once.
pub fn extract<'a>(
    payload: &'a str,
    fields_by_type: &FxHashMap<String, FieldSet>,
    out: &mut Vec<Option<RawField<'a>>>,
) -> Option<Cow<'a, str>> {
    out.clear();
    let mut deserializer = serde_json::Deserializer::from_str(payload);
    let found = deserializer
        .deserialize_map(EnvelopeVisitor {
            fields_by_type,
            out,
        })
        .ok()?;
    let event_type = found.event_type?;
    let Some(fields) = fields_by_type.get(event_type.as_ref()) else {
        return Some(event_type);
    };
    if out.len() != fields.len() {
        out.resize(fields.len(), None);
    }
    // Members seen before `type` (usually id, source, specversion), then a `data` that
    // came before `type`.
    for (name, value) in found.early_attributes.iter().flatten() {
        if let Some(slot) = fields.attribute_slot(name) {
            out[slot] = present(value);
        }
    }
    if let Some(data) = found.early_data {
        let _ = for_each_field(data.get(), |name, value| {
            if let Some(slot) = fields.data_slot(&name) {
                out[slot] = present(value);
            }
            Ok::<(), ()>(())
        });
    }
    Some(event_type)
}

impl FieldSet {
    fn attribute_slot(&self, name: &str) -> Option<usize> {
        self.attributes
            .iter()
            .find(|(wanted, _)| wanted == name)
            .map(|(_, slot)| *slot)
    }

    fn data_slot(&self, name: &str) -> Option<usize> {
        self.data
            .iter()
            .find(|(wanted, _)| wanted == name)
            .map(|(_, slot)| *slot)
    }
}

/// Top-level members kept until `type` is known; more than this are not looked at (a
/// KPI grouping by an attribute that comes after eight others before `type` is rare).
const EARLY_ATTRIBUTES: usize = 8;

struct Found<'a> {
    event_type: Option<Cow<'a, str>>,
    early_attributes: [Option<(Cow<'a, str>, &'a RawValue)>; EARLY_ATTRIBUTES],
    early_data: Option<&'a RawValue>,
}

struct EnvelopeVisitor<'f, 'a> {
    fields_by_type: &'f FxHashMap<String, FieldSet>,
    out: &'f mut Vec<Option<RawField<'a>>>,
}

impl<'de> Visitor<'de> for EnvelopeVisitor<'_, 'de> {
    type Value = Found<'de>;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a CloudEvent object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Found<'de>, A::Error> {
        let mut found = Found {
            event_type: None,
            early_attributes: Default::default(),
            early_data: None,
        };
        let mut fields: Option<&FieldSet> = None;
        let mut early = 0;
        while let Some(name) = map.next_key_seed(KeySeed)? {
            if name == "type" {
                let value: &'de RawValue = map.next_value()?;
                found.event_type = raw_str(value);
                fields = found
                    .event_type
                    .as_deref()
                    .and_then(|name| self.fields_by_type.get(name));
                if let Some(fields) = fields {
                    self.out.resize(fields.len(), None);
                    if let Some(slot) = fields.attribute_slot("type") {
                        self.out[slot] = present(value);
                    }
                }
                continue;
            }
            match (name.as_ref(), fields) {
                ("data", Some(fields)) => {
                    map.next_value_seed(DataSeed {
                        fields,
                        out: &mut *self.out,
                    })?;
                }
                ("data", None) if found.event_type.is_none() => {
                    found.early_data = Some(map.next_value()?)
                }
                (_, Some(fields)) => match fields.attribute_slot(&name) {
                    Some(slot) => self.out[slot] = present(map.next_value()?),
                    None => {
                        map.next_value::<IgnoredAny>()?;
                    }
                },
                (_, None) if found.event_type.is_none() && early < EARLY_ATTRIBUTES => {
                    found.early_attributes[early] = Some((name, map.next_value()?));
                    early += 1;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }
}

/// Walks `data`, keeping only the wanted members.
struct DataSeed<'f, 'a> {
    fields: &'f FieldSet,
    out: &'f mut Vec<Option<RawField<'a>>>,
}

impl<'de> DeserializeSeed<'de> for DataSeed<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DataSeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("the data object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(name) = map.next_key_seed(KeySeed)? {
            match self.fields.data_slot(&name) {
                Some(slot) => self.out[slot] = present(map.next_value()?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

fn present(value: &RawValue) -> Option<&RawValue> {
    (JsonKind::of(value) != JsonKind::Null).then_some(value)
}

/// A field as a number: a JSON number or a decimal string, read exactly.
pub fn as_decimal(value: &RawValue) -> Option<Decimal> {
    sightline_model::parse_decimal(value).ok()
}

/// A field as a group label: strings as themselves, anything else as its JSON text.
pub fn as_label(value: &RawValue) -> String {
    match raw_str(value) {
        Some(text) => text.into_owned(),
        None => value.get().to_owned(),
    }
}
