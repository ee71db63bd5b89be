//! Reading an event's fields from the members its validation walk tells, instead of from
//! a second walk of its text.
//!
//! Validation already visits every member of an event and of its `data`
//! ([`sightline_model::validate_event_observed`]); where events are validated and counted
//! in one pass (`sightline import`), a [`FieldCapture`] picks the wanted values out of
//! that walk. The answer is exactly [`FieldReader::read`]'s for the same text, so a KPI
//! counts the same whether its events came through the capture or were read back from
//! the log (a property test below holds the two to it).

use sightline_model::{MemberPlace, MemberSink};

use crate::engine::{FieldReader, ReadFields, TypeText};
use crate::extract::{EARLY_MEMBERS, FieldSet, raw};

/// Collects one event's fields at a time: [`FieldCapture::start`], the validation walk
/// tells members ([`MemberSink`]), then [`FieldCapture::finish`].
pub struct FieldCapture<'r> {
    reader: &'r FieldReader,
    /// The wanted fields of the event's type, once `type` was told and is read by a KPI.
    fields: Option<&'r FieldSet>,
    type_seen: bool,
    /// Top-level members told before `type` (their names in `early_names`): which of
    /// them are wanted is known only with the type. At most [`EARLY_MEMBERS`], as the
    /// reader keeps.
    early: Vec<EarlyMember>,
    early_names: String,
    current: ReadFields,
}

struct EarlyMember {
    name_end: usize,
    value_at: usize,
    value_len: usize,
    is_null: bool,
}

impl FieldReader {
    /// A capture of the fields this reader reads.
    pub fn capture(&self) -> FieldCapture<'_> {
        FieldCapture {
            reader: self,
            fields: None,
            type_seen: false,
            early: Vec::with_capacity(EARLY_MEMBERS),
            early_names: String::new(),
            current: ReadFields::default(),
        }
    }
}

impl FieldCapture<'_> {
    /// Forgets the previous event (also one whose walk stopped half way).
    pub fn start(&mut self) {
        self.fields = None;
        self.type_seen = false;
        self.early.clear();
        self.early_names.clear();
        self.current.event_type = None;
        self.current.spans.clear();
    }

    /// The fields of the event told since `start`, into `out` (whose buffers are reused).
    /// Only meaningful when the walk told every member (its flag was true).
    pub fn finish(&mut self, out: &mut ReadFields) {
        if let Some(fields) = self.fields {
            let mut name_start = 0;
            for member in &self.early {
                let name = &self.early_names[name_start..member.name_end];
                name_start = member.name_end;
                if let Some(slot) = fields.attribute_slot(name) {
                    self.current.spans[slot] =
                        span(member.value_at, member.value_len, member.is_null);
                }
            }
        }
        std::mem::swap(&mut self.current, out);
        self.start();
    }

    fn set_type(&mut self, value: &str, value_at: usize) {
        self.type_seen = true;
        // The walk that tells members takes no escapes, so a string's text is its inside.
        let is_string = value.len() >= 2 && value.starts_with('"') && value.ends_with('"');
        if !is_string {
            return;
        }
        let inside = &value[1..value.len() - 1];
        self.current.event_type =
            span(value_at + 1, inside.len(), false).map(|(start, end)| TypeText::Span(start, end));
        if self.current.event_type.is_none() {
            return;
        }
        self.fields = self.reader.fields_by_type.get(inside);
        if let Some(fields) = self.fields {
            self.current.spans.resize(fields.len(), None);
            if let Some(slot) = fields.attribute_slot("type") {
                self.current.spans[slot] = span(value_at, value.len(), false);
            }
        }
    }
}

impl MemberSink for FieldCapture<'_> {
    fn member(&mut self, place: MemberPlace, name: &str, value: &str, value_at: usize) {
        match (place, self.fields) {
            (MemberPlace::Envelope, _) if name == "type" && !self.type_seen => {
                self.set_type(value, value_at);
            }
            (MemberPlace::Envelope, Some(fields)) => {
                if let Some(slot) = fields.attribute_slot(name) {
                    self.current.spans[slot] = span(value_at, value.len(), raw(value).is_none());
                }
            }
            (MemberPlace::Data, Some(fields)) => {
                if let Some(slot) = fields.data_slot(name) {
                    self.current.spans[slot] = span(value_at, value.len(), raw(value).is_none());
                }
            }
            (MemberPlace::Envelope, None) => {
                if self.type_seen || self.early.len() == EARLY_MEMBERS {
                    return;
                }
                self.early_names.push_str(name);
                self.early.push(EarlyMember {
                    name_end: self.early_names.len(),
                    value_at,
                    value_len: value.len(),
                    is_null: raw(value).is_none(),
                });
            }
            // `data` of a type no KPI reads.
            (MemberPlace::Data, None) => {}
        }
    }
}

/// A value's byte range in the event, `None` for null (absent, as the reader has it) or
/// past what a span holds.
fn span(value_at: usize, value_len: usize, is_null: bool) -> Option<(u32, u32)> {
    if is_null {
        return None;
    }
    let start = u32::try_from(value_at).ok()?;
    let end = u32::try_from(value_at.checked_add(value_len)?).ok()?;
    Some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{COMMERCE_PACK, Calendar, Engine, EngineOptions, KpiPack};
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use sightline_model::{CurrencyCode, CurrencyPolicy, validate_event_observed};

    /// The commerce pack, and a pack that reads attributes (before and after `type`) and
    /// the type itself, of a custom event type.
    fn reader() -> FieldReader {
        let custom = r#"
            [[kpi]]
            name = "by_source"
            events = ["custom.tick", "order.created"]
            aggregate = "count"
            group_by = ["source", "subject", "type", "region"]
            windows = [{ tumbling = "1m" }]

            [[kpi]]
            name = "tick_total"
            events = ["custom.tick"]
            aggregate = "sum"
            value = "data.amount"
            group_by = ["data.line"]
            windows = [{ tumbling = "1m" }]
        "#;
        let mut pack = KpiPack::from_toml(COMMERCE_PACK, "commerce").expect("the pack");
        pack.kpis
            .extend(KpiPack::from_toml(custom, "custom").expect("custom").kpis);
        let calendar = Calendar::new("UTC").expect("UTC");
        let kpis = pack.compile(&calendar).expect("compiles");
        Engine::new(kpis, EngineOptions::default()).field_reader()
    }

    fn policy() -> CurrencyPolicy {
        CurrencyPolicy::reporting_only(CurrencyCode::parse("EUR").expect("EUR"))
    }

    fn member_text() -> impl Strategy<Value = String> {
        let name = prop_oneof![
            Just("subject".to_owned()),
            Just("region".to_owned()),
            Just("amount".to_owned()),
            Just("line".to_owned()),
            Just("total".to_owned()),
            Just("currency".to_owned()),
            Just("channel".to_owned()),
            "[a-z]{1,6}",
        ];
        let value = prop_oneof![
            Just("null".to_owned()),
            Just("\"12.50\"".to_owned()),
            Just("7".to_owned()),
            Just("\"EUR\"".to_owned()),
            Just("\"web\"".to_owned()),
            Just("{\"a\":[1,{\"b\":null}]}".to_owned()),
            Just("[]".to_owned()),
            "\"[a-z ]{0,8}\"",
        ];
        (name, value).prop_map(|(name, value)| format!("\"{name}\":{value}"))
    }

    fn event_text() -> impl Strategy<Value = String> {
        let event_type = prop_oneof![
            Just("custom.tick"),
            Just("order.created"),
            Just("page.viewed"),
            Just("nobody.reads.this"),
        ];
        (
            event_type,
            proptest::collection::vec(member_text(), 0..20),
            proptest::collection::vec(member_text(), 0..4),
            proptest::collection::vec(member_text(), 0..8),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(event_type, before, after, data, spaced, source_first)| {
                let separator = if spaced { " , " } else { "," };
                let mut members: Vec<String> = before;
                members.push(r#""specversion":"1.0""#.into());
                let source = r#""source":"web/shop""#.to_owned();
                if source_first {
                    members.push(source.clone());
                }
                members.push(format!(r#""type":"{event_type}""#));
                if !source_first {
                    members.push(source);
                }
                members.push(r#""id":"e-1""#.into());
                members.push(r#""time":"2026-11-01T10:00:00Z""#.into());
                members.push(format!("\"data\":{{{}}}", data.join(separator)));
                members.extend(after);
                format!("{{{}}}", members.join(separator))
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Whatever the event, the capture reads what the reader reads from its text.
        #[test]
        fn the_capture_reads_what_the_reader_reads(text in event_text()) {
            let mut reader = reader();
            let mut read = ReadFields::default();
            reader.read(&text, &mut read);
            let reader = reader;
            let mut capture = reader.capture();
            capture.start();
            let Ok((_, true)) = validate_event_observed(&text, &policy(), 0, &mut capture) else {
                // Invalid, or left to the serde walk: read back from the text instead.
                return Ok(());
            };
            let mut captured = ReadFields::default();
            capture.finish(&mut captured);
            prop_assert_eq!(&captured, &read, "{}", text);
        }
    }

    /// The test above is only as good as the events the capture takes: most of them.
    #[test]
    fn the_generated_events_mostly_take_the_capture() {
        let reader = reader();
        let mut capture = reader.capture();
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let mut captured = 0;
        for _ in 0..200 {
            let text = event_text()
                .new_tree(&mut runner)
                .expect("a value")
                .current();
            capture.start();
            if let Ok((_, true)) = validate_event_observed(&text, &policy(), 0, &mut capture) {
                captured += 1;
            }
        }
        assert!(captured > 50, "only {captured} of 200 captured");
    }
}
