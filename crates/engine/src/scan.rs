//! A fast walk over the members of a JSON object, for events read back from the log.
//!
//! Stored events were validated when they were accepted, so the engine only needs to find
//! members and the extent of their values, not to check them: unwanted values are skipped
//! byte by byte, and only the wanted ones are parsed (as a `&RawValue`, from their own
//! slice, so callers read them as before). A nested `data` object is walked in place, so
//! its bytes are read once. The walk never panics, and reports anything it does not
//! understand as malformed, so a damaged record is skipped, not misread.

use std::borrow::Cow;

/// Calls `on_member(name, value)` for every member of the object `text`, in order;
/// `value` is the member's raw JSON text without surrounding whitespace. Stops early
/// when `on_member` returns false. `Err` when `text` is not an object.
pub fn for_each_member<'a>(
    text: &'a str,
    mut on_member: impl FnMut(Cow<'a, str>, &'a str) -> bool,
) -> Result<(), Malformed> {
    let mut walk = ObjectWalk::new(text, 0)?;
    while let Some(name) = walk.next_key()? {
        let value = walk.value()?;
        if !on_member(name, value) {
            return Ok(());
        }
    }
    Ok(())
}

/// Calls `on_element(value)` for every element of the array `text`, in order, each as
/// its raw JSON text. `Err` when `text` is not an array.
pub fn for_each_element<'a>(
    text: &'a str,
    mut on_element: impl FnMut(&'a str),
) -> Result<(), Malformed> {
    let bytes = text.as_bytes();
    let mut at = skip_whitespace(bytes, 0);
    if bytes.get(at) != Some(&b'[') {
        return Err(Malformed);
    }
    at = skip_whitespace(bytes, at + 1);
    if bytes.get(at) == Some(&b']') {
        return Ok(());
    }
    loop {
        let end = value_end(bytes, at)?;
        on_element(text.get(at..end).ok_or(Malformed)?);
        at = skip_whitespace(bytes, end);
        match bytes.get(at) {
            Some(b',') => at = skip_whitespace(bytes, at + 1),
            Some(b']') => return Ok(()),
            _ => return Err(Malformed),
        }
    }
}

/// The text is not the JSON object the walk expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// A cursor over the members of one object: `next_key`, then exactly one of `value`
/// (the raw text) or `object` (a walk of a nested object, in place: its bytes are read
/// once, then the outer walk goes on after it).
pub struct ObjectWalk<'a> {
    text: &'a str,
    at: usize,
    /// After the first member, a `,` or the closing `}` is expected next.
    started: bool,
    finished: bool,
}

impl<'a> ObjectWalk<'a> {
    /// A walk of the object that starts at `at` (after optional whitespace).
    pub fn new(text: &'a str, at: usize) -> Result<ObjectWalk<'a>, Malformed> {
        let bytes = text.as_bytes();
        let at = skip_whitespace(bytes, at);
        if bytes.get(at) != Some(&b'{') {
            return Err(Malformed);
        }
        Ok(ObjectWalk {
            text,
            at: at + 1,
            started: false,
            finished: false,
        })
    }

    /// The next member's name, with the cursor on its value; `None` after the last.
    pub fn next_key(&mut self) -> Result<Option<Cow<'a, str>>, Malformed> {
        if self.finished {
            return Ok(None);
        }
        let bytes = self.text.as_bytes();
        let mut at = skip_whitespace(bytes, self.at);
        match (bytes.get(at), self.started) {
            (Some(b'}'), _) => {
                self.at = at + 1;
                self.finished = true;
                return Ok(None);
            }
            (Some(b','), true) => at = skip_whitespace(bytes, at + 1),
            (Some(b'"'), false) => {}
            _ => return Err(Malformed),
        }
        self.started = true;
        if bytes.get(at) != Some(&b'"') {
            return Err(Malformed);
        }
        let (key_end, escaped) = string_end_escaped(bytes, at)?;
        let inner = self.text.get(at + 1..key_end - 1).ok_or(Malformed)?;
        let name = if escaped {
            key_text(inner)?
        } else {
            Cow::Borrowed(inner)
        };
        at = skip_whitespace(bytes, key_end);
        if bytes.get(at) != Some(&b':') {
            return Err(Malformed);
        }
        self.at = skip_whitespace(bytes, at + 1);
        Ok(Some(name))
    }

    /// The current member's value, raw.
    pub fn value(&mut self) -> Result<&'a str, Malformed> {
        let start = self.at;
        let end = value_end(self.text.as_bytes(), start)?;
        self.at = end;
        self.text.get(start..end).ok_or(Malformed)
    }

    /// Whether the current member's value is an object.
    pub fn value_is_object(&self) -> bool {
        self.text.as_bytes().get(self.at) == Some(&b'{')
    }

    /// Walks the current member's value, an object, with `on_member`, then moves past it.
    pub fn object(
        &mut self,
        mut on_member: impl FnMut(Cow<'a, str>, &'a str) -> bool,
    ) -> Result<(), Malformed> {
        let mut inner = ObjectWalk::new(self.text, self.at)?;
        while let Some(name) = inner.next_key()? {
            let value = inner.value()?;
            if !on_member(name, value) {
                // The rest is skipped, but the outer walk still needs the end.
                while inner.next_key()?.is_some() {
                    inner.value()?;
                }
                break;
            }
        }
        self.at = inner.at;
        Ok(())
    }
}

fn key_text(inner: &str) -> Result<Cow<'_, str>, Malformed> {
    // An escaped key (`"t\u0079pe"`) means what it decodes to, as validation read it.
    serde_json::from_str::<String>(&format!("\"{inner}\""))
        .map(Cow::Owned)
        .map_err(|_| Malformed)
}

fn skip_whitespace(bytes: &[u8], mut at: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = bytes.get(at) {
        at += 1;
    }
    at
}

/// The index just past the string that starts with the quote at `start`.
fn string_end(bytes: &[u8], start: usize) -> Result<usize, Malformed> {
    string_end_escaped(bytes, start).map(|(end, _)| end)
}

/// The index just past the string that starts with the quote at `start`, and whether it
/// holds escapes.
fn string_end_escaped(bytes: &[u8], start: usize) -> Result<(usize, bool), Malformed> {
    let mut at = start + 1;
    let mut escaped = false;
    while let Some(found) = quote_or_backslash(bytes, at) {
        if bytes[found] == b'"' {
            return Ok((found + 1, escaped));
        }
        // A backslash escapes the next byte (after \u come four plain hex digits).
        escaped = true;
        at = found + 2;
    }
    Err(Malformed)
}

/// The first `"` or `\\` at or after `from`, eight bytes at a time: event strings are
/// short, where a vectorised search costs more to set up than it saves, and a byte loop
/// costs several instructions a byte.
pub fn quote_or_backslash(bytes: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut at = from;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let Ok(chunk) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let word = u64::from_le_bytes(chunk);
        let quotes = word ^ (ONES * u64::from(b'"'));
        let backslashes = word ^ (ONES * u64::from(b'\\'));
        // A zero byte in either marks a match; the lowest flag is the first match.
        let zero = |value: u64| value.wrapping_sub(ONES) & !value & HIGHS;
        let hits = zero(quotes) | zero(backslashes);
        if hits != 0 {
            return Some(at + (hits.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    while let Some(&byte) = bytes.get(at) {
        if byte == b'"' || byte == b'\\' {
            return Some(at);
        }
        at += 1;
    }
    None
}

/// The index just past the value that starts at `start`.
fn value_end(bytes: &[u8], start: usize) -> Result<usize, Malformed> {
    match bytes.get(start) {
        None => Err(Malformed),
        Some(b'"') => string_end(bytes, start),
        Some(b'{' | b'[') => {
            let mut depth = 0_usize;
            let mut at = start;
            while let Some(&byte) = bytes.get(at) {
                match byte {
                    b'"' => {
                        at = string_end(bytes, at)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Ok(at + 1);
                        }
                    }
                    _ => {}
                }
                at += 1;
            }
            Err(Malformed)
        }
        Some(_) => {
            let mut at = start;
            while let Some(&byte) = bytes.get(at) {
                if matches!(byte, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                    break;
                }
                at += 1;
            }
            if at == start { Err(Malformed) } else { Ok(at) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn members(text: &str) -> Result<Vec<(String, String)>, Malformed> {
        let mut found = Vec::new();
        for_each_member(text, |name, value| {
            found.push((name.into_owned(), value.to_owned()));
            true
        })?;
        Ok(found)
    }

    #[test]
    fn members_and_their_raw_values() {
        let text =
            r#" { "a" : 1.5e3 , "b":"x\"}y", "c":{"d":[1,{"e":"]"}]},"t\u0079pe":null,"f":[] } "#;
        assert_eq!(
            members(text).expect("object"),
            vec![
                ("a".into(), "1.5e3".into()),
                ("b".into(), r#""x\"}y""#.into()),
                ("c".into(), r#"{"d":[1,{"e":"]"}]}"#.into()),
                ("type".into(), "null".into()),
                ("f".into(), "[]".into()),
            ]
        );
        assert_eq!(members("{}").expect("empty"), vec![]);
    }

    #[test]
    fn quotes_and_backslashes_are_found_at_every_offset() {
        for length in 0..40 {
            for position in 0..length {
                for special in [b'"', b'\\'] {
                    let mut bytes = vec![b'a'; length];
                    bytes[position] = special;
                    // Bytes above 0x80 (UTF-8) next to the match must not confuse it.
                    if position + 1 < length {
                        bytes[position + 1] = 0xC3;
                    }
                    for from in 0..=position {
                        assert_eq!(quote_or_backslash(&bytes, from), Some(position));
                    }
                    assert_eq!(quote_or_backslash(&bytes, position + 1), None);
                }
            }
        }
    }

    #[test]
    fn elements_of_an_array() {
        let mut found = Vec::new();
        for_each_element(r#" [ {"a":[1,"]"]}, 2 ,"x" ] "#, |element| {
            found.push(element.to_owned())
        })
        .expect("an array");
        assert_eq!(found, vec![r#"{"a":[1,"]"]}"#, "2", r#""x""#]);
        assert_eq!(for_each_element("[]", |_| {}), Ok(()));
        for broken in ["", "{}", "[1", "[1,", "[1 2]"] {
            assert_eq!(
                for_each_element(broken, |_| {}),
                Err(Malformed),
                "{broken:?}"
            );
        }
    }

    #[test]
    fn broken_text_is_malformed_never_a_panic() {
        for text in [
            "",
            "[1]",
            "{",
            "{\"a\"",
            "{\"a\":",
            "{\"a\":1",
            "{\"a\":\"x",
            "{\"a\":[1,2}",
            "{\"a\":1 \"b\":2}",
            "{\"a\":}",
            "{a:1}",
            "{\"a\":\"\\",
        ] {
            assert_eq!(members(text), Err(Malformed), "{text:?}");
        }
    }

    proptest! {
        /// On any JSON object the walk agrees with serde_json, member by member.
        #[test]
        fn agrees_with_serde_json(value in json_object()) {
            let text = serde_json::to_string_pretty(&value).expect("serializable");
            let walked = members(&text).expect("an object");
            let parsed: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text).expect("an object");
            prop_assert_eq!(walked.len(), parsed.len());
            for ((name, raw), (expected_name, expected)) in walked.iter().zip(parsed.iter()) {
                prop_assert_eq!(name, expected_name);
                let reparsed: serde_json::Value = serde_json::from_str(raw).expect("a value");
                prop_assert_eq!(&reparsed, expected);
            }
        }

        /// Any bytes at all: an answer, never a panic.
        #[test]
        fn never_panics(text in ".{0,64}") {
            let _ = members(&text);
        }
    }

    fn json_object() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(|n| serde_json::json!(n)),
            "[a-z\"\\\\{}\\[\\],:é ]{0,12}".prop_map(serde_json::Value::String),
        ];
        let value = leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
                prop::collection::btree_map("[a-z\"\\\\]{1,6}", inner, 0..4)
                    .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
            ]
        });
        prop::collection::btree_map("[a-z_\"\\\\]{1,8}", value, 0..6)
            .prop_map(|map| serde_json::Value::Object(map.into_iter().collect()))
    }
}
