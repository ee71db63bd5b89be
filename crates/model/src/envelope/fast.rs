//! The hand-written walk of an event, for the common case.
//!
//! serde_json drives the general walk through visitors, a value at a time; for the
//! millions of small, plain events of a backfill that walk is most of validation's cost.
//! This one reads the bytes directly, with strings searched eight bytes at a time, and
//! yields the same [`Attributes`] the serde walk does, so [`super::finish`] and the value
//! checks (`check_scalar`, `check_money`) are shared and the two walks can differ only in
//! how they read JSON text.
//!
//! It never rejects: it answers `None` ("not sure") for anything outside the plain case
//! (an escape in a string, an exponent, a long number or -0 where a value is read, nesting deeper than `MAX_DEPTH`, `type` after `data`, a repeated attribute) and
//! for anything invalid, and the serde walk then decides, with an error that names the
//! problem. A differential property test holds the two walks to the same answers.

use std::borrow::Cow;

use super::{
    Attributes, DataState, MemberPlace, MemberSink, ObjectPath, Scalar, check_money, check_scalar,
};
use crate::catalogue::{EventType, FieldKind, FieldSpec, LINE_FIELDS};
use crate::json::JsonKind;
use crate::money::CurrencyCode;

/// Deeper events go the serde way (its own limit is 128).
const MAX_DEPTH: usize = 64;
/// Longest number read as a value: beyond it serde_json may overflow to a float or to
/// "out of range", which the serde walk judges.
const MAX_NUMBER_LEN: usize = 18;

/// The event's attributes, or `None` when the serde walk must decide.
pub(super) fn walk(raw: &str) -> Option<Attributes<'_>> {
    walk_observed(raw, &mut IgnoreMembers)
}

/// [`walk`], telling `sink` every member of the event and of its `data` object as they
/// are read. What `sink` was told is the whole event only when the answer is `Some`.
pub(super) fn walk_observed<'a>(raw: &'a str, sink: &mut dyn MemberSink) -> Option<Attributes<'a>> {
    let mut cursor = Cursor {
        text: raw,
        bytes: raw.as_bytes(),
        at: 0,
        sink,
    };
    cursor.skip_whitespace();
    let mut attributes = Attributes::none();
    let mut seen_data = false;
    let mut more = cursor.object_start()?;
    while more {
        let name = cursor.key()?;
        cursor.skip_whitespace();
        let value_at = cursor.at;
        let slot = match name {
            "specversion" => &mut attributes.specversion,
            "id" => &mut attributes.id,
            "source" => &mut attributes.source,
            "type" => &mut attributes.event_type,
            "time" => &mut attributes.time,
            "datacontenttype" => &mut attributes.datacontenttype,
            "data" => {
                if seen_data {
                    return None;
                }
                seen_data = true;
                attributes.data = cursor.data(attributes.event_type.as_ref())?;
                more = cursor.next_member()?;
                continue;
            }
            "sightlinetimesource" => {
                attributes.has_time_source = true;
                cursor.skip_value(1)?;
                cursor.report(MemberPlace::Envelope, name, value_at);
                more = cursor.next_member()?;
                continue;
            }
            "data_base64" => return None,
            _ => {
                cursor.skip_value(1)?;
                cursor.report(MemberPlace::Envelope, name, value_at);
                more = cursor.next_member()?;
                continue;
            }
        };
        if slot.is_some() {
            return None;
        }
        *slot = Some(cursor.scalar(1)?);
        cursor.report(MemberPlace::Envelope, name, value_at);
        more = cursor.next_member()?;
    }
    cursor.skip_whitespace();
    (cursor.at == cursor.bytes.len()).then_some(attributes)
}

struct Cursor<'a, 's> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    sink: &'s mut dyn MemberSink,
}

/// The sink of a walk that only validates.
struct IgnoreMembers;

impl MemberSink for IgnoreMembers {
    fn member(&mut self, _: MemberPlace, _: &str, _: &str, _: usize) {}
}

impl<'a> Cursor<'a, '_> {
    /// Tells the sink of the member whose value started at `value_at` and ends here.
    fn report(&mut self, place: MemberPlace, name: &str, value_at: usize) {
        if let Some(value) = self.text.get(value_at..self.at) {
            self.sink.member(place, name, value, value_at);
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    /// Consumes `byte` (after whitespace) or fails.
    fn expect(&mut self, byte: u8) -> Option<()> {
        self.skip_whitespace();
        if self.peek() != Some(byte) {
            return None;
        }
        self.at += 1;
        Some(())
    }

    /// Consumes `{`; whether a member follows (else the `}` is consumed too).
    fn object_start(&mut self) -> Option<bool> {
        self.container_start(b'{', b'}')
    }

    /// After a member's value: `,` (another member follows) or `}`.
    fn next_member(&mut self) -> Option<bool> {
        self.next_item(b'}')
    }

    /// Consumes `[`; whether an element follows (else the `]` is consumed too).
    fn array_start(&mut self) -> Option<bool> {
        self.container_start(b'[', b']')
    }

    fn next_element(&mut self) -> Option<bool> {
        self.next_item(b']')
    }

    fn container_start(&mut self, open: u8, close: u8) -> Option<bool> {
        self.expect(open)?;
        self.skip_whitespace();
        if self.peek() == Some(close) {
            self.at += 1;
            return Some(false);
        }
        Some(true)
    }

    /// After an item: `,` (another follows) or `close`.
    fn next_item(&mut self, close: u8) -> Option<bool> {
        self.skip_whitespace();
        let byte = self.peek()?;
        if byte != b',' && byte != close {
            return None;
        }
        self.at += 1;
        Some(byte == b',')
    }

    /// A member's name and its colon.
    fn key(&mut self) -> Option<&'a str> {
        self.skip_whitespace();
        let name = self.string()?;
        self.expect(b':')?;
        Some(name)
    }

    /// A member's name and its colon, with its index in `fields` (`None` for a field
    /// outside the table). The field `guess` is tried first, straight against the text:
    /// producers write fields in one order, and a table name (plain ASCII) followed by a
    /// quote is that whole name, found without searching for the string's end.
    fn field_key(
        &mut self,
        fields: &'static [FieldSpec],
        guess: usize,
    ) -> Option<(&'a str, Option<usize>)> {
        self.skip_whitespace();
        if let Some(field) = fields.get(guess)
            && self.peek() == Some(b'"')
        {
            let start = self.at + 1;
            let end = start + field.name.len();
            if self.bytes.get(start..end) == Some(field.name.as_bytes())
                && self.bytes.get(end) == Some(&b'"')
            {
                self.at = end + 1;
                self.expect(b':')?;
                return Some((field.name, Some(guess)));
            }
        }
        let name = self.key()?;
        Some((name, fields.iter().position(|field| field.name == name)))
    }

    /// The content of the string at the cursor, which has no escape and no control
    /// character (else `None`).
    fn string(&mut self) -> Option<&'a str> {
        if self.peek() != Some(b'"') {
            return None;
        }
        let start = self.at + 1;
        let end = first_special_byte(self.bytes, start)?;
        if self.bytes[end] != b'"' {
            return None;
        }
        self.at = end + 1;
        // Quotes are ASCII, so both ends are character boundaries.
        self.text.get(start..end)
    }

    /// The end of the number at the cursor, checked against JSON's grammar.
    fn number_end(&self) -> Option<usize> {
        let bytes = self.bytes;
        let digits_from = |mut at: usize| {
            while bytes.get(at).is_some_and(u8::is_ascii_digit) {
                at += 1;
            }
            at
        };
        let mut at = self.at;
        if bytes.get(at) == Some(&b'-') {
            at += 1;
        }
        match bytes.get(at)? {
            b'0' => at += 1,
            b'1'..=b'9' => at = digits_from(at + 1),
            _ => return None,
        }
        if bytes.get(at) == Some(&b'.') {
            let fraction = at + 1;
            at = digits_from(fraction);
            if at == fraction {
                return None;
            }
        }
        if let Some(b'e' | b'E') = bytes.get(at) {
            at += 1;
            if let Some(b'+' | b'-') = bytes.get(at) {
                at += 1;
            }
            let exponent = at;
            at = digits_from(exponent);
            if at == exponent {
                return None;
            }
        }
        Some(at)
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if !self.bytes[self.at..].starts_with(word) {
            return None;
        }
        self.at += word.len();
        Some(())
    }

    /// Steps over any value, checking its syntax.
    fn skip_value(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.skip_whitespace();
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b'{' => {
                let mut more = self.object_start()?;
                while more {
                    self.key()?;
                    self.skip_value(depth + 1)?;
                    more = self.next_member()?;
                }
                Some(())
            }
            b'[' => {
                let mut more = self.array_start()?;
                while more {
                    self.skip_value(depth + 1)?;
                    more = self.next_element()?;
                }
                Some(())
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => {
                self.at = self.number_end()?;
                Some(())
            }
        }
    }

    /// The raw text of the value at the cursor.
    fn raw_value(&mut self, depth: usize) -> Option<&'a str> {
        self.skip_whitespace();
        let start = self.at;
        self.skip_value(depth)?;
        self.text.get(start..self.at)
    }

    /// The value at the cursor as the serde walk's `Scalar` reads it.
    fn scalar(&mut self, depth: usize) -> Option<Scalar<'a>> {
        self.skip_whitespace();
        match self.peek()? {
            b'"' => self.string().map(|text| Scalar::Str(Cow::Borrowed(text))),
            b't' => self.literal(b"true").map(|()| Scalar::Bool(true)),
            b'f' => self.literal(b"false").map(|()| Scalar::Bool(false)),
            b'n' => self.literal(b"null").map(|()| Scalar::Null),
            b'{' => self.skip_value(depth).map(|()| Scalar::Object),
            b'[' => self.skip_value(depth).map(|()| Scalar::Array),
            _ => {
                let start = self.at;
                let end = self.number_end()?;
                let text = self.text.get(start..end)?;
                // serde_json reads exponents, long numbers and -0 in ways (overflow to a
                // float or an error, -0 as a float) left to the serde walk.
                if text.len() > MAX_NUMBER_LEN || text.contains(['e', 'E']) || text == "-0" {
                    return None;
                }
                self.at = end;
                if text.contains('.') {
                    return text.parse().ok().map(Scalar::Float);
                }
                if text.starts_with('-') {
                    return text.parse().ok().map(Scalar::Signed);
                }
                text.parse().ok().map(Scalar::Unsigned)
            }
        }
    }

    /// `data`, checked against the catalogue when `type` (already read) names a
    /// catalogue type, else only required to be an object.
    fn data(&mut self, event_type: Option<&Scalar<'a>>) -> Option<DataState<'a>> {
        let Some(Scalar::Str(name)) = event_type else {
            return None;
        };
        match EventType::parse(name) {
            Some(known) => self
                .checked_object(known.fields(), 1)
                .map(DataState::Checked),
            None => {
                let mut more = self.object_start()?;
                while more {
                    let name = self.key()?;
                    self.skip_whitespace();
                    let value_at = self.at;
                    self.skip_value(2)?;
                    self.report(MemberPlace::Data, name, value_at);
                    more = self.next_member()?;
                }
                Some(DataState::Checked(None))
            }
        }
    }

    /// An object checked against its field table as `ObjectSeed` does: known fields by
    /// kind, each at most once, required ones present (null counts as absent).
    fn checked_object(
        &mut self,
        fields: &'static [FieldSpec],
        depth: usize,
    ) -> Option<Option<CurrencyCode>> {
        let mut seen: u32 = 0;
        let mut currency = None;
        let mut more = self.object_start()?;
        // Only the members of `data` itself are told, not those of its lines.
        let place = (depth == 1).then_some(MemberPlace::Data);
        let mut next_guess = 0;
        while more {
            let (name, index) = self.field_key(fields, next_guess)?;
            self.skip_whitespace();
            let value_at = self.at;
            let Some(index) = index else {
                self.skip_value(depth + 1)?;
                if let Some(place) = place {
                    self.report(place, name, value_at);
                }
                more = self.next_member()?;
                continue;
            };
            next_guess = index + 1;
            let field = &fields[index];
            if seen & (1 << index) != 0 {
                return None;
            }
            match field.kind {
                FieldKind::Lines => {
                    if self.lines(depth + 1)? {
                        seen |= 1 << index;
                    }
                }
                FieldKind::Money => {
                    let raw = self.raw_value(depth + 1)?;
                    if JsonKind::of_text(raw) != JsonKind::Null {
                        seen |= 1 << index;
                        check_money(field, raw, ObjectPath::Data).ok()?;
                    }
                }
                _ => {
                    let value = self.scalar(depth + 1)?;
                    if value != Scalar::Null {
                        seen |= 1 << index;
                        if let Some(code) = check_scalar(field, &value, ObjectPath::Data).ok()? {
                            currency = Some(code);
                        }
                    }
                }
            }
            if let Some(place) = place {
                self.report(place, name, value_at);
            }
            more = self.next_member()?;
        }
        let complete = fields
            .iter()
            .enumerate()
            .all(|(index, field)| !field.required || seen & (1 << index) != 0);
        complete.then_some(currency)
    }

    /// `order.created.lines`: null (absent) or an array of line objects; whether present.
    fn lines(&mut self, depth: usize) -> Option<bool> {
        self.skip_whitespace();
        if self.peek() == Some(b'n') {
            self.literal(b"null")?;
            return Some(false);
        }
        let mut more = self.array_start()?;
        while more {
            self.checked_object(LINE_FIELDS, depth + 1)?;
            more = self.next_element()?;
        }
        Some(true)
    }
}

/// The first `"`, `\` or control character (below 0x20) at or after `from`, eight bytes
/// at a time.
fn first_special_byte(bytes: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // Flags the bytes of `value` that are zero (below `n` for `below`); only the lowest
    // flag is exact (a borrow can flag bytes above it), and only the lowest is used.
    let zero = |value: u64| value.wrapping_sub(ONES) & !value & HIGHS;
    let below = |value: u64, n: u8| value.wrapping_sub(ONES * u64::from(n)) & !value & HIGHS;
    let mut at = from;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let Ok(chunk) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let word = u64::from_le_bytes(chunk);
        let hits = zero(word ^ (ONES * u64::from(b'"')))
            | zero(word ^ (ONES * u64::from(b'\\')))
            | below(word, 0x20);
        if hits != 0 {
            return Some(at + (hits.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    while let Some(&byte) = bytes.get(at) {
        if byte == b'"' || byte == b'\\' || byte < 0x20 {
            return Some(at);
        }
        at += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_bytes_are_found_at_every_offset() {
        for special in [b'"', b'\\', b'\n', 0x00, 0x1f] {
            for length in 0..20 {
                for position in 0..length {
                    let mut bytes = vec![b'a'; length];
                    // Bytes that a borrow could confuse: 0x20 and high bytes around it.
                    if position > 0 {
                        bytes[position - 1] = 0x20;
                    }
                    bytes[position] = special;
                    if position + 1 < length {
                        bytes[position + 1] = 0xc3;
                    }
                    assert_eq!(
                        first_special_byte(&bytes, 0),
                        Some(position),
                        "{special:#x} at {position} of {length}"
                    );
                }
                assert_eq!(first_special_byte(&vec![b' '; length], 0), None);
            }
        }
    }

    use super::super::{
        CurrencyPolicy, finish, validate_event, validate_event_observed, validate_with_serde,
    };
    use crate::catalogue::{EventType, FieldKind, FieldSpec, LINE_FIELDS};
    use crate::money::CurrencyCode;
    use proptest::prelude::*;

    const RECEIVED: i64 = 1_800_000_000_000_000;

    fn policy() -> CurrencyPolicy {
        CurrencyPolicy {
            reporting: CurrencyCode::parse("EUR").expect("EUR"),
            convertible: vec![CurrencyCode::parse("USD").expect("USD")],
        }
    }

    /// A value that passes `field`'s check.
    fn valid_value(field: &FieldSpec) -> String {
        match field.kind {
            FieldKind::Id => "\"id-1\"".into(),
            FieldKind::Text => "\"some text\"".into(),
            FieldKind::Money => "\"12.50\"".into(),
            FieldKind::Currency => "\"EUR\"".into(),
            FieldKind::Integer { min, .. } => min.max(0).to_string(),
            FieldKind::Number { .. } => "1.5".into(),
            FieldKind::Timestamp => "\"2026-11-01T10:00:00Z\"".into(),
            FieldKind::OneOf(allowed) => format!("\"{}\"", allowed[0]),
            FieldKind::Region => "\"US-CA\"".into(),
            FieldKind::Lines => format!("[{},{}]", object_of(LINE_FIELDS), object_of(LINE_FIELDS)),
        }
    }

    fn object_of(fields: &[FieldSpec]) -> String {
        let members: Vec<String> = fields
            .iter()
            .map(|field| format!("\"{}\":{}", field.name, valid_value(field)))
            .collect();
        format!("{{{}}}", members.join(","))
    }

    fn valid_event(event_type: EventType) -> String {
        format!(
            "{{\"specversion\":\"1.0\",\"id\":\"e-1\",\"source\":\"web/shop\",\"type\":\"{}\",\"time\":\"2026-11-01T00:00:00.000Z\",\"data\":{}}}",
            event_type.as_str(),
            object_of(event_type.fields())
        )
    }

    #[test]
    fn every_catalogue_type_takes_the_fast_walk() {
        for &event_type in EventType::ALL {
            let text = valid_event(event_type);
            let attributes = walk(&text).unwrap_or_else(|| panic!("fast walk declined {text}"));
            let valid = finish(attributes, &policy(), RECEIVED);
            assert_eq!(
                valid,
                validate_with_serde(&text, &policy(), RECEIVED),
                "{text}"
            );
            assert!(valid.is_ok(), "{text}: {valid:?}");
        }
        let custom = "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\",\"type\":\"x.custom\",\"data\":{\"a\":[1,2.5e3,{\"b\":null}]}}";
        assert!(
            walk(custom).is_some(),
            "an unknown type with any object as data"
        );
    }

    /// Replacement values, valid and not: escapes, numbers serde_json reads in its own
    /// ways, wrong kinds, broken syntax.
    const VALUES: &[&str] = &[
        "\"\"",
        "\"EUR\"",
        "\"eur\"",
        "\"GBP\"",
        "\"USD\"",
        "\"DE\"",
        "\"US-CA\"",
        "\"x\\\"y\"",
        "\"a\\u00e9b\"",
        "\"\\ud800\"",
        "\"caf\u{e9}\"",
        "\"tab\there\"",
        "\"12.50\"",
        "\"-1\"",
        "\"1e3\"",
        "\" 5 \"",
        "0",
        "-0",
        "1",
        "-1",
        "01",
        "1.",
        ".5",
        "12.5",
        "-0.0",
        "1e3",
        "1E-2",
        "123456789012345678",
        "1234567890123456789012",
        "1e400",
        "true",
        "false",
        "null",
        "nul",
        "{}",
        "[]",
        "[{}]",
        "{\"a\":1}",
        "[1,]",
        "{,}",
        "\"2026-11-01T10:00:00Z\"",
        "\"2026-13-01T10:00:00Z\"",
        "\"picking\"",
        "\"running\"",
        "[[[[[[[[1]]]]]]]]",
    ];

    #[derive(Debug, Clone)]
    enum Mutation {
        /// Replaces the `n`-th value (counting `:` separators) with one of `VALUES`.
        ReplaceValue {
            n: usize,
            value: usize,
        },
        /// Removes the member around the `n`-th `:`.
        DropMember {
            n: usize,
        },
        /// Repeats the member around the `n`-th `:` at the start of its object.
        RepeatMember {
            n: usize,
        },
        InsertByte {
            at: usize,
            byte: u8,
        },
        RemoveChar {
            at: usize,
        },
        Whitespace {
            at: usize,
            which: usize,
        },
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            4 => (0usize..40, 0..VALUES.len()).prop_map(|(n, value)| Mutation::ReplaceValue { n, value }),
            1 => (0usize..40).prop_map(|n| Mutation::DropMember { n }),
            1 => (0usize..40).prop_map(|n| Mutation::RepeatMember { n }),
            1 => (0usize..600, proptest::sample::select(b"{}[],:\"\\ 0-.enulx".to_vec()))
                .prop_map(|(at, byte)| Mutation::InsertByte { at, byte }),
            1 => (0usize..600).prop_map(|at| Mutation::RemoveChar { at }),
            1 => (0usize..600, 0usize..4).prop_map(|(at, which)| Mutation::Whitespace { at, which }),
        ]
    }

    /// The byte range of the value after the `n`-th colon outside strings, and of its
    /// whole member (from the key's opening quote), if there are that many.
    fn nth_member(
        text: &str,
        n: usize,
    ) -> Option<(std::ops::Range<usize>, std::ops::Range<usize>)> {
        let bytes = text.as_bytes();
        let mut string = InString::default();
        let mut colons = 0;
        let mut key_start = 0;
        for (at, &byte) in bytes.iter().enumerate() {
            if string.consumes(byte) {
                continue;
            }
            match byte {
                b'"' => {
                    if matches!(
                        bytes[..at].iter().rev().find(|b| !b.is_ascii_whitespace()),
                        Some(b'{' | b',')
                    ) {
                        key_start = at;
                    }
                    string.open();
                }
                b':' if colons == n => {
                    let end = value_end(bytes, at + 1);
                    return Some((at + 1..end, key_start..end));
                }
                b':' => colons += 1,
                _ => {}
            }
        }
        None
    }

    /// Where a byte walk stands with respect to JSON strings.
    #[derive(Default)]
    struct InString {
        open: bool,
        escaped: bool,
    }

    impl InString {
        fn open(&mut self) {
            self.open = true;
        }

        /// Whether `byte` belongs to an open string (its closing quote included).
        fn consumes(&mut self, byte: u8) -> bool {
            if !self.open {
                return false;
            }
            match (self.escaped, byte) {
                (true, _) => self.escaped = false,
                (false, b'\\') => self.escaped = true,
                (false, b'"') => self.open = false,
                _ => {}
            }
            true
        }
    }

    /// Where the value starting at `from` ends: at the `,`, `}` or `]` that closes it.
    fn value_end(bytes: &[u8], from: usize) -> usize {
        let mut depth = 0i32;
        let mut string = InString::default();
        for (at, &byte) in bytes.iter().enumerate().skip(from) {
            if string.consumes(byte) {
                continue;
            }
            match byte {
                b'"' => string.open(),
                b'{' | b'[' => depth += 1,
                b'}' | b']' if depth == 0 => return at,
                b'}' | b']' => depth -= 1,
                b',' if depth == 0 => return at,
                _ => {}
            }
        }
        bytes.len()
    }

    fn apply(text: &mut String, mutation: &Mutation) {
        let boundary = |text: &str, at: usize| {
            let mut at = at.min(text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            at
        };
        match *mutation {
            Mutation::ReplaceValue { n, value } => {
                if let Some((range, _)) = nth_member(text, n) {
                    text.replace_range(range, VALUES[value]);
                }
            }
            Mutation::DropMember { n } => {
                if let Some((_, member)) = nth_member(text, n) {
                    // With the comma after it, if any, so the rest stays well formed.
                    let end = if text.as_bytes().get(member.end) == Some(&b',') {
                        member.end + 1
                    } else {
                        member.end
                    };
                    text.replace_range(member.start..end, "");
                }
            }
            Mutation::RepeatMember { n } => {
                if let Some((_, member)) = nth_member(text, n) {
                    let copy = format!("{},", &text[member.clone()]);
                    text.insert_str(member.start, &copy);
                }
            }
            Mutation::InsertByte { at, byte } => {
                let at = boundary(text, at);
                text.insert(at, byte as char);
            }
            Mutation::RemoveChar { at } => {
                let at = boundary(text, at);
                if at < text.len() {
                    text.remove(at);
                }
            }
            Mutation::Whitespace { at, which } => {
                let at = boundary(text, at);
                text.insert(at, [' ', '\t', '\n', '\r'][which]);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// Whatever the input, validation answers exactly as the serde walk alone would:
        /// the fast walk only ever saves time.
        #[test]
        fn the_fast_walk_never_changes_an_answer(
            type_index in 0..EventType::ALL.len(),
            mutations in proptest::collection::vec(mutation(), 0..4),
        ) {
            let mut text = valid_event(EventType::ALL[type_index]);
            for mutation in &mutations {
                apply(&mut text, mutation);
            }
            prop_assert_eq!(
                validate_event(&text, &policy(), RECEIVED),
                validate_with_serde(&text, &policy(), RECEIVED),
                "{}", text
            );
        }

        /// When the walk says it told every member, it told exactly the members serde_json
        /// reads (top level without `data`, then `data`'s), with values that parse to the
        /// same JSON and sit where it says in the text.
        #[test]
        fn the_members_told_are_the_events_members(
            type_index in 0..EventType::ALL.len(),
            custom_type in any::<bool>(),
            mutations in proptest::collection::vec(mutation(), 0..4),
        ) {
            let mut text = valid_event(EventType::ALL[type_index]);
            if custom_type {
                text = text.replacen("\"type\":\"", "\"type\":\"custom.", 1);
            }
            for mutation in &mutations {
                apply(&mut text, mutation);
            }
            let mut told = Told::default();
            let Ok((_, true)) = validate_event_observed(&text, &policy(), RECEIVED, &mut told) else {
                return Ok(());
            };
            // Numbers beyond f64 (1e999 in an unchecked member) are valid JSON that
            // serde_json's `Value` cannot hold.
            let Ok(parsed) = serde_json::from_str::<serde_json::Value>(&text) else {
                return Ok(());
            };
            let mut expected = Vec::new();
            for (name, value) in parsed.as_object().expect("an object") {
                if name != "data" {
                    expected.push((MemberPlace::Envelope, name.clone(), value.clone()));
                }
            }
            for (name, value) in parsed["data"].as_object().expect("data is an object") {
                expected.push((MemberPlace::Data, name.clone(), value.clone()));
            }
            let mut found = Vec::new();
            for (place, name, value, value_at) in &told.0 {
                prop_assert_eq!(text.get(*value_at..value_at + value.len()), Some(value.as_str()));
                let value: serde_json::Value = serde_json::from_str(value).expect("a JSON value");
                found.push((*place, name.clone(), value));
            }
            // serde_json keeps the last of a repeated member, and sorts members by name;
            // the walk tells every member in text order.
            let mut last = Vec::new();
            for (index, member) in found.iter().enumerate() {
                let repeated_later = found[index + 1..]
                    .iter()
                    .any(|later| later.0 == member.0 && later.1 == member.1);
                if !repeated_later {
                    last.push(member.clone());
                }
            }
            let mut found = last;
            found.sort_by(|a, b| (a.0 == MemberPlace::Data, &a.1).cmp(&(b.0 == MemberPlace::Data, &b.1)));
            expected.sort_by(|a, b| (a.0 == MemberPlace::Data, &a.1).cmp(&(b.0 == MemberPlace::Data, &b.1)));
            prop_assert_eq!(found, expected, "{}", text);
        }
    }

    #[derive(Default)]
    struct Told(Vec<(MemberPlace, String, String, usize)>);

    impl MemberSink for Told {
        fn member(&mut self, place: MemberPlace, name: &str, value: &str, value_at: usize) {
            self.0
                .push((place, name.to_owned(), value.to_owned(), value_at));
        }
    }
}
