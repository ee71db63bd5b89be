//! Validation of a request's events into a batch the writer can append without parsing.

use serde::Deserialize;
use sightline_log::{FRAME_OVERHEAD, FrameBuffer, Record};
use sightline_model::envelope::stamp_ingest_time;
use sightline_model::{
    CurrencyPolicy, MemberPlace, MemberSink, Rejection, RejectionCode, validate_event_observed,
};

/// What stamping a receive time adds to an event without `time`.
pub(crate) const STAMP_BYTES: usize = 64;

/// Rejected input is kept in the dead-letter store up to this many bytes.
const MAX_DEAD_LETTER_RAW: usize = 1 << 20;

/// One event as cut out of a request or file by a decoder.
#[derive(Debug, Clone, Copy)]
pub struct RawEvent<'a> {
    /// Position in the request: the array element or the NDJSON line, from 0.
    pub index: usize,
    pub bytes: &'a [u8],
    /// Set when the decoder already knows the event is unusable (e.g. not UTF-8).
    pub decode_error: Option<&'a Rejection>,
}

/// An event that failed validation, with what the answer and the dead letter need.
#[derive(Debug, Clone)]
pub struct RejectedEvent {
    pub index: usize,
    pub id: Option<String>,
    pub code: RejectionCode,
    pub reason: String,
    pub raw: Vec<u8>,
}

/// Validated events, already framed for the log (so the single writer only copies
/// bytes), and the rejections.
#[derive(Debug, Default)]
pub struct PreparedBatch {
    pub(crate) frames: FrameBuffer,
    pub(crate) rejected: Vec<RejectedEvent>,
}

impl PreparedBatch {
    pub fn valid_count(&self) -> usize {
        self.frames.len()
    }

    pub fn rejected(&self) -> &[RejectedEvent] {
        &self.rejected
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty() && self.rejected.is_empty()
    }
}

/// Told about each event that validation accepts, with the members the validation walk
/// read on the way (so what the KPI engine needs can be picked out of that walk rather
/// than read again from the log).
pub trait AcceptObserver: MemberSink {
    /// Before each event's validation: whatever members were told since the last
    /// `accepted` belong to an event that was rejected, and are dropped.
    fn start(&mut self);
    /// The event just framed, as the log stores it (its payload and event time), in frame
    /// order. `members_complete` says the members told since `start` are every member of
    /// `payload` (positions are into it); else they are incomplete and must be dropped.
    fn accepted(&mut self, payload: &str, event_time_us: i64, members_complete: bool);
}

/// The observer of a prepare nobody watches.
struct Unobserved;

impl MemberSink for Unobserved {
    fn member(&mut self, _: MemberPlace, _: &str, _: &str, _: usize) {}
}

impl AcceptObserver for Unobserved {
    fn start(&mut self) {}
    fn accepted(&mut self, _: &str, _: i64, _: bool) {}
}

/// Validates every raw event; never fails as a whole (one bad event is rejected alone).
/// The receive time is each record's append time: when Sightline took the event in.
pub(crate) fn prepare(
    raw_events: &[RawEvent<'_>],
    currencies: &CurrencyPolicy,
    max_event_bytes: usize,
    receive_time_us: i64,
    frames: FrameBuffer,
) -> PreparedBatch {
    prepare_observed(
        raw_events,
        currencies,
        max_event_bytes,
        receive_time_us,
        frames,
        &mut Unobserved,
    )
}

/// [`prepare`], telling `observer` every accepted event.
pub(crate) fn prepare_observed(
    raw_events: &[RawEvent<'_>],
    currencies: &CurrencyPolicy,
    max_event_bytes: usize,
    receive_time_us: i64,
    mut frames: FrameBuffer,
    observer: &mut dyn AcceptObserver,
) -> PreparedBatch {
    // Room for what the input can become, never more: a request of millions of tiny
    // (invalid) lines must not reserve room for millions of full-size events.
    let input_bytes: usize = raw_events.iter().map(|raw| raw.bytes.len()).sum();
    let frame_bytes = input_bytes + raw_events.len() * (FRAME_OVERHEAD + STAMP_BYTES);
    frames.reset(raw_events.len(), frame_bytes);
    let mut batch = PreparedBatch {
        frames,
        rejected: Vec::new(),
    };
    for &raw in raw_events {
        match validate_one(
            raw,
            currencies,
            max_event_bytes,
            receive_time_us,
            &mut batch.frames,
            observer,
        ) {
            Ok(()) => {}
            Err(rejection) => batch.rejected.push(RejectedEvent {
                index: raw.index,
                id: salvage_id(raw.bytes),
                code: rejection.code,
                reason: rejection.message,
                raw: raw.bytes[..raw.bytes.len().min(MAX_DEAD_LETTER_RAW)].to_vec(),
            }),
        }
    }
    batch
}

fn validate_one(
    raw: RawEvent<'_>,
    currencies: &CurrencyPolicy,
    max_event_bytes: usize,
    receive_time_us: i64,
    frames: &mut FrameBuffer,
    observer: &mut dyn AcceptObserver,
) -> Result<(), Rejection> {
    if let Some(rejection) = raw.decode_error {
        return Err(rejection.clone());
    }
    if raw.bytes.len() > max_event_bytes {
        return Err(Rejection::new(
            RejectionCode::TooLarge,
            format!(
                "event: {} bytes is over the limit of {max_event_bytes} bytes per event; move large content out of the event",
                raw.bytes.len()
            ),
        ));
    }
    let text = std::str::from_utf8(raw.bytes).map_err(|error| {
        Rejection::new(
            RejectionCode::InvalidJson,
            format!("event: not valid UTF-8 at byte {}", error.valid_up_to()),
        )
    })?;
    // A byte-order mark is how some Windows tools start a file; it is not part of the JSON.
    let text = text
        .trim_start_matches('\u{feff}')
        .trim_matches(|c: char| c.is_ascii_whitespace());
    observer.start();
    let (valid, members_complete) =
        validate_event_observed(text, currencies, receive_time_us, observer)?;
    let stamped = valid
        .time_from_ingest
        .then(|| stamp_ingest_time(text, valid.time_us));
    let payload = stamped.as_deref().unwrap_or(text);
    frames.push(&Record {
        key: valid.identity_key(),
        event_time_us: valid.time_us,
        append_time_us: receive_time_us,
        payload: payload.as_bytes(),
    });
    // Stamping the time moved the members, so what was told no longer points into it.
    observer.accepted(
        payload,
        valid.time_us,
        members_complete && stamped.is_none(),
    );
    Ok(())
}

/// The `id` of a rejected event, when one can be read, for the per-event answer.
fn salvage_id(bytes: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct IdOnly {
        id: Option<serde_json::Value>,
    }
    let parsed: IdOnly = serde_json::from_slice(bytes).ok()?;
    match parsed.id? {
        serde_json::Value::String(id) => Some(id),
        other => Some(other.to_string()),
    }
}
