//! Events handed to the KPI engine by the ingest that wrote them, so it need not read
//! them back from the log.
//!
//! A backfill (`sightline import`) validates every event and then the engine reads it
//! again from the log: the bytes copied back, checksummed and walked a second time. Fed
//! batches skip that. The workers that validate collect, per accepted event, its stored
//! payload and the fields its KPIs need, picked out of the validation walk
//! ([`FieldCapture`]); once the writer has made a batch durable, its events go to the
//! engine with the offsets the log gave them ([`KpiFeed::send`]).
//!
//! The log stays the source of truth: the engine takes a fed batch only when it starts
//! exactly where the engine is; any other records (those before the first fed batch, or
//! a batch the feed did not deliver) are read from the log as usual. So a fed engine
//! counts exactly the log's records, in the log's order, as a following one does.

use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender, SyncSender};

use sightline_engine::{FieldCapture, FieldReader, FieldsColumn, ReadFields};
use sightline_ingest::{AcceptObserver, CommitOutcome};
use sightline_model::{MemberPlace, MemberSink};

/// Accepted events of one commit, with their fields read.
#[derive(Debug, Default)]
pub struct FedBatch {
    /// The log offset of the first event; the others follow one by one.
    pub(crate) first_offset: u64,
    /// Every payload, one after another.
    pub(crate) text: String,
    pub(crate) events: Vec<FedEvent>,
    /// The fields of `events[i]` are `fields.get(i)`.
    pub(crate) fields: FieldsColumn,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct FedEvent {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) event_time_us: i64,
}

impl FedBatch {
    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The offset after the last event.
    pub(crate) fn end(&self) -> u64 {
        self.first_offset + self.events.len() as u64
    }

    /// Makes room for `events` events of `bytes` in all (a batch grown step by step
    /// would copy its text each time).
    pub fn reserve(&mut self, events: usize, bytes: usize) {
        self.text.reserve(bytes);
        self.events.reserve(events);
        self.fields
            .reserve(events.saturating_sub(self.fields.len()));
    }

    fn clear(&mut self) {
        self.first_offset = 0;
        self.text.clear();
        self.events.clear();
        self.fields.clear();
    }

    /// Drops the events the commit found to be duplicates and takes the offsets the log
    /// gave the others: then the batch holds exactly what the commit appended.
    pub fn committed_as(&mut self, outcome: &CommitOutcome) {
        if !outcome.duplicate_indices.is_empty() {
            let mut duplicates = outcome.duplicate_indices.iter().peekable();
            let keep: Vec<bool> = (0..self.events.len())
                .map(|index| duplicates.next_if_eq(&&index).is_none())
                .collect();
            let mut index = 0;
            self.events.retain(|_| {
                index += 1;
                keep[index - 1]
            });
            self.fields.retain(|index| keep[index]);
        }
        self.first_offset = outcome.first_offset.unwrap_or(0);
    }
}

/// The sending side of a fed engine (see `KpiService::start_fed`).
#[derive(Debug)]
pub struct KpiFeed {
    pub(crate) batches: SyncSender<FedBatch>,
    pub(crate) spares: Mutex<Receiver<FedBatch>>,
}

impl KpiFeed {
    /// An empty batch, reusing one the engine is done with when there is one.
    pub fn empty_batch(&self) -> FedBatch {
        let spare = self
            .spares
            .lock()
            .ok()
            .and_then(|spares| spares.try_recv().ok());
        let mut batch = spare.unwrap_or_default();
        batch.clear();
        batch
    }

    /// Hands the engine the events of a durable commit (see [`FedBatch::committed_as`]);
    /// waits while the engine is more than a few batches behind. An empty batch is not
    /// sent. False when the engine has stopped.
    pub fn send(&self, batch: FedBatch) -> bool {
        if batch.is_empty() {
            return true;
        }
        self.batches.send(batch).is_ok()
    }
}

/// Builds a [`FedBatch`] while a batch is validated: the [`AcceptObserver`] of
/// `IngestService::prepare_observed`.
pub struct FeedCollector<'r> {
    capture: FieldCapture<'r>,
    /// For events whose members the validation walk could not tell (the serde walk
    /// decided them, or their time was stamped): read from the payload.
    fallback: &'r mut FieldReader,
    batch: FedBatch,
    /// One event's fields, before they join the batch's column.
    scratch: ReadFields,
}

impl<'r> FeedCollector<'r> {
    /// Collects into `batch` the fields `reader` reads; `fallback` (a copy of `reader`)
    /// reads those of events the validation walk could not tell.
    pub fn new(
        reader: &'r FieldReader,
        fallback: &'r mut FieldReader,
        batch: FedBatch,
    ) -> FeedCollector<'r> {
        FeedCollector {
            capture: reader.capture(),
            fallback,
            batch,
            scratch: ReadFields::default(),
        }
    }

    /// The batch collected, for `committed_as` once the commit answered.
    pub fn into_batch(self) -> FedBatch {
        self.batch
    }
}

impl MemberSink for FeedCollector<'_> {
    fn member(&mut self, place: MemberPlace, name: &str, value: &str, value_at: usize) {
        self.capture.member(place, name, value, value_at);
    }
}

impl AcceptObserver for FeedCollector<'_> {
    fn start(&mut self) {
        self.capture.start();
    }

    fn accepted(&mut self, payload: &str, event_time_us: i64, members_complete: bool) {
        let batch = &mut self.batch;
        if members_complete {
            self.capture.finish(&mut self.scratch);
        } else {
            self.capture.start();
            self.fallback.read(payload, &mut self.scratch);
        }
        batch.fields.push(&self.scratch);
        let start = batch.text.len();
        batch.text.push_str(payload);
        batch.events.push(FedEvent {
            start,
            end: batch.text.len(),
            event_time_us,
        });
    }
}

/// Creates the two ends of a feed.
pub(crate) fn channel(depth: usize) -> (KpiFeed, Receiver<FedBatch>, Sender<FedBatch>) {
    let (batches, fed) = std::sync::mpsc::sync_channel(depth);
    let (spare_sender, spares) = std::sync::mpsc::channel();
    let feed = KpiFeed {
        batches,
        spares: Mutex::new(spares),
    };
    (feed, fed, spare_sender)
}
