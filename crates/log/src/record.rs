//! Records and the frame codec.
//!
//! A frame on disk is:
//!
//! ```text
//! u32 LE  body length (everything after the crc)
//! u32 LE  crc32c of the body
//! body:   u8 format version (1) | u8 flags (0) | u16 reserved (0)
//!         u128 LE key | i64 LE event_time_us | i64 LE append_time_us | payload
//! ```
//!
//! The offset is not stored: record `i` of a segment has offset `base + i`, which keeps the
//! frame small and makes a gap in the sequence impossible to write.

/// Dense sequence number over the whole log, starting at 0.
pub type Offset = u64;

pub(crate) const FORMAT_VERSION: u8 = 1;
/// Length field + crc field.
pub(crate) const FRAME_PREFIX_LEN: usize = 8;
/// version + flags + reserved + key + event time + append time.
pub(crate) const BODY_HEADER_LEN: usize = 1 + 1 + 2 + 16 + 8 + 8;
/// Bytes a record takes on disk beyond its payload.
pub const FRAME_OVERHEAD: usize = FRAME_PREFIX_LEN + BODY_HEADER_LEN;

/// A record to append (borrowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Identity key: the ingest layer puts a 128-bit hash of (source, id) here; 0 = none.
    pub key: u128,
    /// Event time, microseconds since the Unix epoch.
    pub event_time_us: i64,
    /// Wall-clock time the writer accepted the record; drives retention by age and the
    /// dedup horizon.
    pub append_time_us: i64,
    /// The event bytes (JSON).
    pub payload: &'a [u8],
}

impl Record<'_> {
    /// Bytes this record takes on disk.
    pub fn frame_len(&self) -> usize {
        FRAME_OVERHEAD + self.payload.len()
    }
}

/// Records framed ahead of time, ready for [`crate::SegmentLog::append_frames`].
///
/// Framing (header and crc32c) is most of the CPU work of an append. Producers (request
/// handlers, import workers) frame their records in parallel into a `FrameBuffer`; the
/// single writer then only copies bytes. Only this type can build the frames, so they are
/// well-formed by construction.
#[derive(Debug, Default, Clone)]
pub struct FrameBuffer {
    bytes: Vec<u8>,
    frames: Vec<FrameSpan>,
}

#[derive(Debug, Clone, Copy)]
struct FrameSpan {
    start: usize,
    len: usize,
    key: u128,
    append_time_us: i64,
}

impl FrameBuffer {
    pub fn with_capacity(records: usize, bytes: usize) -> FrameBuffer {
        FrameBuffer {
            bytes: Vec::with_capacity(bytes),
            frames: Vec::with_capacity(records),
        }
    }

    /// Empties the buffer and makes room for `records` frames of `bytes` in all, keeping
    /// the memory it already has (a reused buffer costs no fresh pages).
    pub fn reset(&mut self, records: usize, bytes: usize) {
        self.bytes.clear();
        self.frames.clear();
        self.bytes.reserve(bytes);
        self.frames.reserve(records);
    }

    /// Bytes of memory the buffer holds.
    pub fn capacity_bytes(&self) -> usize {
        self.bytes.capacity() + self.frames.capacity() * std::mem::size_of::<FrameSpan>()
    }

    /// Frames `record` at the end of the buffer and returns its index.
    pub fn push(&mut self, record: &Record<'_>) -> usize {
        let start = self.bytes.len();
        encode_frame(record, &mut self.bytes);
        self.frames.push(FrameSpan {
            start,
            len: self.bytes.len() - start,
            key: record.key,
            append_time_us: record.append_time_us,
        });
        self.frames.len() - 1
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    pub fn key(&self, index: usize) -> u128 {
        self.frames[index].key
    }

    /// Where frame `index` starts in [`FrameBuffer::bytes`]: frames pushed one after
    /// another lie side by side.
    pub(crate) fn frame_start(&self, index: usize) -> usize {
        self.frames[index].start
    }

    /// The bytes of the frames in `range` (byte positions).
    pub(crate) fn bytes(&self, range: std::ops::Range<usize>) -> &[u8] {
        &self.bytes[range]
    }

    /// The frame's bytes, its key and append time.
    pub(crate) fn frame(&self, index: usize) -> (&[u8], u128, i64) {
        let span = self.frames[index];
        (
            &self.bytes[span.start..span.start + span.len],
            span.key,
            span.append_time_us,
        )
    }
}

/// A record as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub offset: Offset,
    pub key: u128,
    pub event_time_us: i64,
    pub append_time_us: i64,
    pub payload: Vec<u8>,
}

/// Appends the frame of `record` to `out`.
///
/// The caller has checked the payload against `max_record_bytes`, which option validation
/// keeps far below `u32::MAX`.
pub(crate) fn encode_frame(record: &Record<'_>, out: &mut Vec<u8>) {
    let body_len = BODY_HEADER_LEN + record.payload.len();
    let body_len_field =
        u32::try_from(body_len).expect("payload length was checked against max_record_bytes");
    let start = out.len();
    out.reserve(FRAME_PREFIX_LEN + body_len);
    out.extend_from_slice(&body_len_field.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.push(FORMAT_VERSION);
    out.push(0);
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&record.key.to_le_bytes());
    out.extend_from_slice(&record.event_time_us.to_le_bytes());
    out.extend_from_slice(&record.append_time_us.to_le_bytes());
    out.extend_from_slice(record.payload);
    let crc = crc32c::crc32c(&out[start + FRAME_PREFIX_LEN..]);
    out[start + 4..start + FRAME_PREFIX_LEN].copy_from_slice(&crc.to_le_bytes());
}

/// The fields of a frame body whose CRC and format were verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DecodedBody<'a> {
    pub(crate) key: u128,
    pub(crate) event_time_us: i64,
    pub(crate) append_time_us: i64,
    pub(crate) payload: &'a [u8],
}

impl DecodedBody<'_> {
    pub(crate) fn to_stored(self, offset: Offset) -> StoredRecord {
        StoredRecord {
            offset,
            key: self.key,
            event_time_us: self.event_time_us,
            append_time_us: self.append_time_us,
            payload: self.payload.to_vec(),
        }
    }
}

/// Result of decoding one frame from the start of a byte slice.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FrameDecode<'a> {
    Complete {
        body: DecodedBody<'a>,
        frame_len: usize,
    },
    /// The slice ends before the frame does.
    Incomplete,
    /// The bytes cannot be a frame written by this format (torn write or corruption).
    Invalid(&'static str),
    /// The length field exceeds the configured maximum; the frame may still be valid.
    Oversized { body_len: usize },
    /// CRC matches but the version/flags are unknown: written by a newer version.
    Unsupported(String),
}

/// Reads the length and crc fields. `prefix` must hold at least `FRAME_PREFIX_LEN` bytes.
pub(crate) fn parse_prefix(prefix: &[u8]) -> (usize, u32) {
    let body_len = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    let crc = u32::from_le_bytes([prefix[4], prefix[5], prefix[6], prefix[7]]);
    (body_len as usize, crc)
}

/// Decodes the frame at the start of `bytes`.
///
/// `max_body_len` bounds the length field so that a corrupt length cannot make a caller
/// wait for (or allocate) gigabytes.
pub(crate) fn decode_frame(bytes: &[u8], max_body_len: usize) -> FrameDecode<'_> {
    if bytes.len() < FRAME_PREFIX_LEN {
        return FrameDecode::Incomplete;
    }
    let (body_len, expected_crc) = parse_prefix(bytes);
    if body_len < BODY_HEADER_LEN {
        return FrameDecode::Invalid("length field is smaller than the record header");
    }
    if body_len > max_body_len {
        return FrameDecode::Oversized { body_len };
    }
    let frame_len = FRAME_PREFIX_LEN + body_len;
    if bytes.len() < frame_len {
        return FrameDecode::Incomplete;
    }
    let body = &bytes[FRAME_PREFIX_LEN..frame_len];
    if crc32c::crc32c(body) != expected_crc {
        return FrameDecode::Invalid("crc mismatch");
    }
    let version = body[0];
    let flags = body[1];
    let reserved = u16::from_le_bytes([body[2], body[3]]);
    if version != FORMAT_VERSION || flags != 0 || reserved != 0 {
        return FrameDecode::Unsupported(format!(
            "record format version {version}, flags {flags:#04x}, reserved {reserved:#06x}; \
             this build reads version {FORMAT_VERSION} without flags"
        ));
    }
    FrameDecode::Complete {
        body: parse_verified_frame(&bytes[..frame_len]),
        frame_len,
    }
}

/// Reads the fields of a frame that `decode_frame` already verified (no CRC pass).
pub(crate) fn parse_verified_frame(frame: &[u8]) -> DecodedBody<'_> {
    let body = &frame[FRAME_PREFIX_LEN..];
    DecodedBody {
        key: u128::from_le_bytes(body[4..20].try_into().expect("16-byte slice")),
        event_time_us: i64::from_le_bytes(body[20..28].try_into().expect("8-byte slice")),
        append_time_us: i64::from_le_bytes(body[28..36].try_into().expect("8-byte slice")),
        payload: &body[BODY_HEADER_LEN..],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MAX_BODY: usize = BODY_HEADER_LEN + 4096;

    fn sample(payload: &[u8]) -> Record<'_> {
        Record {
            key: 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210,
            event_time_us: -5,
            append_time_us: 1_700_000_000_000_000,
            payload,
        }
    }

    #[test]
    fn frame_layout_matches_the_documented_format() {
        let mut out = Vec::new();
        encode_frame(&sample(b"{}"), &mut out);
        assert_eq!(out.len(), FRAME_OVERHEAD + 2);
        assert_eq!(&out[0..4], &(BODY_HEADER_LEN as u32 + 2).to_le_bytes());
        assert_eq!(&out[4..8], &crc32c::crc32c(&out[8..]).to_le_bytes());
        assert_eq!(out[8], 1, "format version");
        assert_eq!(out[9], 0, "flags");
        assert_eq!(&out[10..12], &[0, 0], "reserved");
        assert_eq!(
            &out[12..28],
            &0x0123_4567_89ab_cdef_fedc_ba98_7654_3210u128.to_le_bytes()
        );
        assert_eq!(&out[28..36], &(-5i64).to_le_bytes());
        assert_eq!(&out[36..44], &1_700_000_000_000_000i64.to_le_bytes());
        assert_eq!(&out[44..], b"{}");
    }

    #[test]
    fn rejects_unknown_version_with_valid_crc() {
        let mut out = Vec::new();
        encode_frame(&sample(b"x"), &mut out);
        out[8] = 2;
        let crc = crc32c::crc32c(&out[8..]);
        out[4..8].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(
            decode_frame(&out, MAX_BODY),
            FrameDecode::Unsupported(_)
        ));
    }

    #[test]
    fn rejects_lengths_above_the_maximum_and_below_the_header() {
        let mut out = Vec::new();
        encode_frame(&sample(&[7; 100]), &mut out);
        assert!(matches!(
            decode_frame(&out, BODY_HEADER_LEN + 99),
            FrameDecode::Oversized { body_len } if body_len == BODY_HEADER_LEN + 100
        ));
        out[0..4].copy_from_slice(&3u32.to_le_bytes());
        assert!(matches!(
            decode_frame(&out, MAX_BODY),
            FrameDecode::Invalid(_)
        ));
    }

    fn arb_record() -> impl Strategy<Value = (u128, i64, i64, Vec<u8>)> {
        (
            any::<u128>(),
            any::<i64>(),
            any::<i64>(),
            proptest::collection::vec(any::<u8>(), 0..512),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn roundtrip_of_concatenated_frames(records in proptest::collection::vec(arb_record(), 1..20)) {
            let mut bytes = Vec::new();
            for (key, event, append, payload) in &records {
                encode_frame(&Record { key: *key, event_time_us: *event, append_time_us: *append, payload }, &mut bytes);
            }
            let mut rest = &bytes[..];
            for (key, event, append, payload) in &records {
                match decode_frame(rest, MAX_BODY) {
                    FrameDecode::Complete { body, frame_len } => {
                        prop_assert_eq!(body.key, *key);
                        prop_assert_eq!(body.event_time_us, *event);
                        prop_assert_eq!(body.append_time_us, *append);
                        prop_assert_eq!(body.payload, &payload[..]);
                        prop_assert_eq!(frame_len, FRAME_OVERHEAD + payload.len());
                        rest = &rest[frame_len..];
                    }
                    other => prop_assert!(false, "expected a complete frame, got {:?}", other),
                }
            }
            prop_assert!(rest.is_empty());
        }

        #[test]
        fn every_strict_prefix_is_incomplete((key, event, append, payload) in arb_record(), cut in any::<prop::sample::Index>()) {
            let mut bytes = Vec::new();
            encode_frame(&Record { key, event_time_us: event, append_time_us: append, payload: &payload }, &mut bytes);
            let cut = cut.index(bytes.len());
            prop_assert_eq!(decode_frame(&bytes[..cut], MAX_BODY), FrameDecode::Incomplete);
        }

        #[test]
        fn corrupted_frames_never_decode_to_a_different_record(
            (key, event, append, payload) in arb_record(),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
        ) {
            let mut bytes = Vec::new();
            encode_frame(&Record { key, event_time_us: event, append_time_us: append, payload: &payload }, &mut bytes);
            for (index, mask) in flips {
                let at = index.index(bytes.len());
                bytes[at] ^= mask;
            }
            // Enough room that a corrupted length can still be "complete" if it shrank.
            if let FrameDecode::Complete { body, .. } = decode_frame(&bytes, MAX_BODY) {
                // Only possible if the flips cancelled out.
                prop_assert_eq!(body.key, key);
                prop_assert_eq!(body.event_time_us, event);
                prop_assert_eq!(body.append_time_us, append);
                prop_assert_eq!(body.payload, &payload[..]);
            }
        }
    }
}
