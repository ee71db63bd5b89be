//! The four CloudEvents HTTP modes of events.md, cut into raw events.
//!
//! Structured, batch and NDJSON bodies are sliced in place (no copy); binary mode builds
//! the structured form from the `ce-*` headers, so every mode then runs the same
//! validation.

use std::ops::Range;

use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use serde_json::value::RawValue;
use sightline_ingest::RawEvent;
use sightline_model::json::{WalkError, for_each_item};
use sightline_model::{Rejection, RejectionCode};

use crate::error::ApiError;

pub const ACCEPTED_CONTENT_TYPES: &[&str] = &[
    "application/cloudevents+json",
    "application/cloudevents-batch+json",
    "application/x-ndjson",
    "application/json (binary mode, with ce-* headers; or a structured event or array)",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Structured,
    Batch,
    Ndjson,
    Binary,
    /// `application/json` without `ce-*` headers: a structured event or a batch array,
    /// judged by the first byte. Not in the CloudEvents binding, but what `curl -d` and
    /// most webhook senders produce, so refusing it would only annoy.
    PlainJson,
}

/// Picks the mode from the headers, before the body is read.
pub fn mode_of(headers: &HeaderMap) -> Result<Mode, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let binary = headers.contains_key("ce-specversion");
    match essence.as_str() {
        "application/cloudevents+json" => Ok(Mode::Structured),
        "application/cloudevents-batch+json" => Ok(Mode::Batch),
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" => Ok(Mode::Ndjson),
        _ if binary => {
            if essence.is_empty() || essence == "application/json" || essence.ends_with("+json") {
                Ok(Mode::Binary)
            } else {
                Err(unsupported(&format!(
                    "binary mode carries `data` as JSON: Content-Type {content_type:?} is not supported; send application/json"
                )))
            }
        }
        "application/json" => Ok(Mode::PlainJson),
        "" => Err(unsupported("the request has no Content-Type")),
        _ => Err(unsupported(&format!(
            "Content-Type {content_type:?} is not accepted"
        ))),
    }
}

fn unsupported(why: &str) -> ApiError {
    let mut error = ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!("{why}; send one of: {}", ACCEPTED_CONTENT_TYPES.join(", ")),
    );
    error.extra = Some((
        "accepted_content_types",
        serde_json::json!(ACCEPTED_CONTENT_TYPES),
    ));
    error
}

/// A decoded request: where each event's bytes are, in the body or in built text.
pub struct Decoded {
    body: Bytes,
    built: Vec<u8>,
    items: Vec<Item>,
}

struct Item {
    index: usize,
    range: Range<usize>,
    in_built: bool,
    error: Option<Rejection>,
}

impl Decoded {
    pub fn raw_events(&self) -> impl Iterator<Item = RawEvent<'_>> {
        self.items.iter().map(|item| RawEvent {
            index: item.index,
            bytes: if item.in_built {
                &self.built[item.range.clone()]
            } else {
                &self.body[item.range.clone()]
            },
            decode_error: item.error.as_ref(),
        })
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    fn in_body(body: Bytes, items: Vec<Item>) -> Decoded {
        Decoded {
            body,
            built: Vec::new(),
            items,
        }
    }
}

pub fn decode(mode: Mode, headers: &HeaderMap, body: Bytes) -> Result<Decoded, ApiError> {
    match mode {
        Mode::Structured => Ok(single(body)),
        Mode::Batch => batch(body),
        Mode::Ndjson => Ok(ndjson(body)),
        Mode::Binary => binary(headers, body),
        Mode::PlainJson => {
            let first = body.iter().find(|byte| !byte.is_ascii_whitespace());
            if first == Some(&b'[') {
                batch(body)
            } else {
                Ok(single(body))
            }
        }
    }
}

fn single(body: Bytes) -> Decoded {
    let range = 0..body.len();
    Decoded::in_body(
        body,
        vec![Item {
            index: 0,
            range,
            in_built: false,
            error: None,
        }],
    )
}

fn batch(body: Bytes) -> Result<Decoded, ApiError> {
    let text = std::str::from_utf8(&body).map_err(|error| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "the batch body is not valid UTF-8 (byte {}); send a JSON array of events",
                error.valid_up_to()
            ),
        )
    })?;
    let base = text.as_ptr() as usize;
    let mut items = Vec::new();
    let walk = for_each_item(text, |index, element: &RawValue| {
        let start = element.get().as_ptr() as usize - base;
        items.push(Item {
            index,
            range: start..start + element.get().len(),
            in_built: false,
            error: None,
        });
        Ok::<(), ()>(())
    });
    if let Err(WalkError::Json(error)) = walk {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "the batch body is not a JSON array of events: {error}; send application/cloudevents-batch+json as [{{…}}, {{…}}]"
            ),
        ));
    }
    Ok(Decoded::in_body(body, items))
}

fn ndjson(body: Bytes) -> Decoded {
    let mut items = Vec::new();
    let mut start = 0;
    for (line_index, line) in body.split(|byte| *byte == b'\n').enumerate() {
        let range = start..start + line.len();
        start += line.len() + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        items.push(Item {
            index: line_index,
            range,
            in_built: false,
            error: None,
        });
    }
    Decoded::in_body(body, items)
}

/// Binary mode: attributes from `ce-*` headers (percent-decoded, per the HTTP binding),
/// `data` from the body.
fn binary(headers: &HeaderMap, body: Bytes) -> Result<Decoded, ApiError> {
    let mut built = String::with_capacity(body.len() + 256);
    built.push('{');
    let mut error = None;
    for (name, value) in headers {
        let Some(attribute) = name.as_str().strip_prefix("ce-") else {
            continue;
        };
        if attribute == "data" || attribute == "data_base64" {
            continue;
        }
        let decoded = percent_decode(value.as_bytes()).ok_or_else(|| {
            Rejection::new(
                RejectionCode::InvalidField,
                format!(
                    "{attribute}: the ce-{attribute} header is not valid percent-encoded UTF-8"
                ),
            )
        });
        match decoded {
            Ok(text) => {
                built.push_str(&serde_json::to_string(attribute).unwrap_or_default());
                built.push(':');
                built.push_str(&serde_json::to_string(&text).unwrap_or_default());
                built.push(',');
            }
            Err(rejection) => error = Some(rejection),
        }
    }
    if let Some(content_type) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
    {
        built.push_str("\"datacontenttype\":");
        built.push_str(&serde_json::to_string(content_type).unwrap_or_default());
        built.push(',');
    }
    built.push_str("\"data\":");
    match std::str::from_utf8(&body)
        .ok()
        .and_then(|text| serde_json::from_str::<&RawValue>(text).ok())
    {
        Some(data) => built.push_str(data.get()),
        None => {
            error.get_or_insert_with(|| {
                Rejection::new(RejectionCode::InvalidJson, "data: the request body is not valid JSON; binary mode carries data as application/json")
            });
            built.push_str("null");
        }
    }
    built.push('}');
    let built = built.into_bytes();
    let range = 0..built.len();
    Ok(Decoded {
        body,
        built,
        items: vec![Item {
            index: 0,
            range,
            in_built: true,
            error,
        }],
    })
}

fn percent_decode(input: &[u8]) -> Option<String> {
    let mut output = Vec::with_capacity(input.len());
    let mut position = 0;
    while position < input.len() {
        let byte = input[position];
        if byte == b'%' {
            let hex = input.get(position + 1..position + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            let text = std::str::from_utf8(hex).ok()?;
            output.push(u8::from_str_radix(text, 16).ok()?);
            position += 3;
        } else {
            output.push(byte);
            position += 1;
        }
    }
    String::from_utf8(output).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(
            percent_decode(b"caf%C3%A9%20au%20lait").as_deref(),
            Some("café au lait")
        );
        assert_eq!(percent_decode(b"plain").as_deref(), Some("plain"));
        assert_eq!(percent_decode(b"bad%zz"), None);
        assert_eq!(percent_decode(b"cut%4"), None);
        assert_eq!(percent_decode(b"sign%+1"), None);
    }

    #[test]
    fn ndjson_indexes_are_line_numbers() {
        let decoded = ndjson(Bytes::from_static(b"{\"a\":1}\n\n{\"b\":2}\r\n"));
        let events: Vec<_> = decoded
            .raw_events()
            .map(|event| (event.index, event.bytes.to_vec()))
            .collect();
        assert_eq!(
            events,
            vec![(0, b"{\"a\":1}".to_vec()), (2, b"{\"b\":2}\r".to_vec())]
        );
    }

    #[test]
    fn batch_slices_elements_in_place() {
        let decoded =
            batch(Bytes::from_static(b" [ {\"a\":1} , {\"b\":[2]} ] ")).expect("valid batch");
        let events: Vec<_> = decoded
            .raw_events()
            .map(|event| event.bytes.to_vec())
            .collect();
        assert_eq!(events, vec![b"{\"a\":1}".to_vec(), b"{\"b\":[2]}".to_vec()]);
        assert!(batch(Bytes::from_static(b"{\"a\":1}")).is_err());
    }
}
