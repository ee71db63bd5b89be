//! The single writer thread: dedup, append, one fdatasync per group, then the answers.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sightline_config::Config;
use sightline_log::{LogHandle, LogOptions, RetentionPolicy, SegmentLog};
use sightline_model::time::now_micros;
use sightline_model::{CurrencyCode, CurrencyPolicy};
use tokio::sync::{mpsc, oneshot};

use crate::dead_letters::{DeadLetter, DeadLetterStore};
use crate::dedup::DedupIndex;
use crate::error::IngestError;
use crate::frame_pool::FramePool;
use crate::metrics::IngestMetrics;
use crate::prepare::{
    AcceptObserver, PreparedBatch, RawEvent, RejectedEvent, prepare, prepare_observed,
};

/// A group stops growing at this many events so one fdatasync never waits on a huge write.
const MAX_GROUP_EVENTS: usize = 64 * 1024;
/// Requests that may wait for the writer; beyond it, callers wait (backpressure).
const QUEUE_DEPTH: usize = 512;
/// Keys whose dedup slots are loaded together before they are probed: enough misses to
/// overlap, few enough lines to stay in the L1/L2 caches.
const DEDUP_WARM_AHEAD: usize = 256;
/// How often the writer expires dedup keys and applies retention.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(30);

/// Where a batch came from, recorded with its dead letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Http,
    Import,
}

impl Origin {
    fn as_str(self) -> &'static str {
        match self {
            Origin::Http => "http",
            Origin::Import => "import",
        }
    }
}

#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub currencies: CurrencyPolicy,
    pub max_event_bytes: usize,
    pub dedup_horizon: Duration,
    pub dedup_max_keys: u64,
    pub log: LogOptions,
    pub dead_letters: LogOptions,
}

impl IngestOptions {
    pub fn from_config(config: &Config) -> IngestOptions {
        let reporting = CurrencyCode::parse(config.currency.reporting.get_ref())
            .unwrap_or_else(|| CurrencyCode::parse("EUR").expect("EUR is a valid code"));
        let convertible = config
            .currency
            .rates
            .keys()
            .filter_map(|code| CurrencyCode::parse(code.get_ref()))
            .collect();
        let max_event_bytes = config.server.max_body.0 as usize;
        // Any event a request may carry, stamped with a receive time, fits one record.
        let max_record_bytes = u32::try_from(max_event_bytes + crate::prepare::STAMP_BYTES)
            .unwrap_or(u32::MAX)
            .max(LogOptions::default().max_record_bytes);
        let log = LogOptions {
            segment_max_bytes: config.log.segment_size.0,
            max_record_bytes,
            retention: RetentionPolicy {
                max_age: config.log.retention_age.map(|age| age.0),
                max_bytes: config.log.retention_size.map(|size| size.0),
            },
        };
        let dead_letters = LogOptions {
            segment_max_bytes: (config.dead_letters.retention_size.0 / 8)
                .clamp(64 * 1024, 64 << 20),
            retention: RetentionPolicy {
                max_age: Some(config.dead_letters.retention_age.0),
                max_bytes: Some(config.dead_letters.retention_size.0),
            },
            ..LogOptions::default()
        };
        IngestOptions {
            currencies: CurrencyPolicy {
                reporting,
                convertible,
            },
            max_event_bytes,
            dedup_horizon: config.dedup.horizon.0,
            dedup_max_keys: config.dedup.max_keys,
            log,
            dead_letters,
        }
    }
}

/// What one commit did.
#[derive(Debug, Clone, Default)]
pub struct CommitOutcome {
    pub accepted: usize,
    pub duplicates: usize,
    /// The log offset of the first accepted event; the others follow it one by one, in
    /// the batch's order (nothing else is appended between them).
    pub first_offset: Option<u64>,
    /// Which of the batch's valid events (by their order among them) were duplicates,
    /// ascending.
    pub duplicate_indices: Vec<usize>,
    pub rejected: Vec<RejectedEvent>,
}

enum Command {
    Write {
        batch: PreparedBatch,
        origin: Origin,
        reply: oneshot::Sender<Result<CommitOutcome, IngestError>>,
    },
    Shutdown,
}

/// A commit handed to the writer, not yet answered.
pub struct PendingCommit(oneshot::Receiver<Result<CommitOutcome, IngestError>>);

impl PendingCommit {
    pub fn wait_blocking(self) -> Result<CommitOutcome, IngestError> {
        self.0
            .blocking_recv()
            .map_err(|_| IngestError::WriterStopped)?
    }
}

#[derive(Debug)]
pub struct IngestService {
    commands: mpsc::Sender<Command>,
    metrics: Arc<IngestMetrics>,
    dead_letters: Arc<DeadLetterStore>,
    log: LogHandle,
    currencies: CurrencyPolicy,
    max_event_bytes: usize,
    failed: Arc<AtomicBool>,
    /// Set once the dedup identities are reloaded and writes are taken.
    loaded: Arc<AtomicBool>,
    frame_pool: Arc<FramePool>,
    writer: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl IngestService {
    /// Opens (and recovers) the event log and the dead-letter store under `data_dir` and
    /// starts the writer, which first reloads the dedup identities of the horizon from the
    /// log (writes wait for it; `is_ready` says when it is done). The reload runs on the
    /// writer's thread so that a restart can restore the KPI engine at the same time.
    pub fn start(data_dir: &Path, options: IngestOptions) -> Result<IngestService, IngestError> {
        std::fs::create_dir_all(data_dir).map_err(|source| IngestError::DataDir {
            path: data_dir.to_owned(),
            source,
        })?;
        let (log, report) = SegmentLog::open(&data_dir.join("log"), options.log.clone())?;
        tracing::info!(?report, "event log opened");
        let dead_letters = Arc::new(
            DeadLetterStore::open(&data_dir.join("dead-letters"), options.dead_letters.clone())
                .map_err(IngestError::DeadLetters)?,
        );
        let handle = log.handle();

        let metrics = Arc::new(IngestMetrics::default());
        let failed = Arc::new(AtomicBool::new(false));
        let loaded = Arc::new(AtomicBool::new(false));
        let frame_pool = Arc::new(FramePool::default());
        let (commands, receiver) = mpsc::channel(QUEUE_DEPTH);
        let mut writer = Writer {
            frame_pool: Arc::clone(&frame_pool),
            appended: Vec::new(),
            log,
            dedup: DedupIndex::new(options.dedup_horizon, options.dedup_max_keys),
            dead_letters: Arc::clone(&dead_letters),
            metrics: Arc::clone(&metrics),
            failed: Arc::clone(&failed),
            last_housekeeping: Instant::now(),
        };
        let writer_loaded = Arc::clone(&loaded);
        let thread = std::thread::Builder::new()
            .name("sightline-log-writer".into())
            .spawn(move || {
                if let Err(error) = writer.reload_dedup() {
                    // Taking writes without the identities would store duplicates.
                    tracing::error!(%error, "cannot reload the dedup identities from the log; refusing writes");
                    writer.failed.store(true, Ordering::Relaxed);
                    return;
                }
                writer.publish_gauges();
                writer_loaded.store(true, Ordering::Relaxed);
                writer.run(receiver)
            })
            .map_err(|source| IngestError::DataDir {
                path: data_dir.to_owned(),
                source,
            })?;
        Ok(IngestService {
            commands,
            metrics,
            dead_letters,
            log: handle,
            currencies: options.currencies,
            max_event_bytes: options.max_event_bytes,
            failed,
            loaded,
            frame_pool,
            writer: std::sync::Mutex::new(Some(thread)),
        })
    }

    /// True once the writer has reloaded the dedup identities and takes writes.
    pub fn is_ready(&self) -> bool {
        self.loaded.load(Ordering::Relaxed) && self.is_healthy()
    }

    /// Validates raw events into a batch (CPU only; run it on the caller's thread).
    pub fn prepare(&self, raw_events: &[RawEvent<'_>], receive_time_us: i64) -> PreparedBatch {
        prepare(
            raw_events,
            &self.currencies,
            self.max_event_bytes,
            receive_time_us,
            self.frame_pool.take(),
        )
    }

    /// [`IngestService::prepare`], telling `observer` every event it accepts.
    pub fn prepare_observed(
        &self,
        raw_events: &[RawEvent<'_>],
        receive_time_us: i64,
        observer: &mut dyn AcceptObserver,
    ) -> PreparedBatch {
        prepare_observed(
            raw_events,
            &self.currencies,
            self.max_event_bytes,
            receive_time_us,
            self.frame_pool.take(),
            observer,
        )
    }

    /// Hands a batch to the writer and waits until it is durable.
    pub async fn commit(
        &self,
        batch: PreparedBatch,
        origin: Origin,
    ) -> Result<CommitOutcome, IngestError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Write {
                batch,
                origin,
                reply,
            })
            .await
            .map_err(|_| IngestError::WriterStopped)?;
        answer.await.map_err(|_| IngestError::WriterStopped)?
    }

    /// Hands a batch to the writer from a non-async thread; wait on the returned handle.
    pub fn submit_blocking(
        &self,
        batch: PreparedBatch,
        origin: Origin,
    ) -> Result<PendingCommit, IngestError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .blocking_send(Command::Write {
                batch,
                origin,
                reply,
            })
            .map_err(|_| IngestError::WriterStopped)?;
        Ok(PendingCommit(answer))
    }

    /// Stops the writer after it has made everything queued before this call durable.
    pub fn shutdown(&self) {
        let _ = self
            .commands
            .try_send(Command::Shutdown)
            .or_else(|_| self.commands.blocking_send(Command::Shutdown));
        let thread = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }

    /// Async-friendly variant of [`IngestService::shutdown`].
    pub async fn shutdown_async(self: &Arc<Self>) {
        let _ = self.commands.send(Command::Shutdown).await;
        let service = Arc::clone(self);
        let _ = tokio::task::spawn_blocking(move || service.shutdown()).await;
    }

    pub fn metrics(&self) -> &Arc<IngestMetrics> {
        &self.metrics
    }

    pub fn dead_letters(&self) -> &Arc<DeadLetterStore> {
        &self.dead_letters
    }

    pub fn log(&self) -> &LogHandle {
        &self.log
    }

    /// False once a storage failure made the writer refuse further writes.
    pub fn is_healthy(&self) -> bool {
        !self.failed.load(Ordering::Relaxed)
    }
}

struct Writer {
    log: SegmentLog,
    dedup: DedupIndex,
    dead_letters: Arc<DeadLetterStore>,
    metrics: Arc<IngestMetrics>,
    failed: Arc<AtomicBool>,
    last_housekeeping: Instant,
    frame_pool: Arc<FramePool>,
    /// The frames of a batch that are not duplicates (kept to be reused).
    appended: Vec<usize>,
}

struct GroupMember {
    origin: Origin,
    batch: PreparedBatch,
    reply: oneshot::Sender<Result<CommitOutcome, IngestError>>,
}

impl Writer {
    /// Remembers every identity appended within the dedup horizon.
    fn reload_dedup(&mut self) -> Result<(), IngestError> {
        let started = Instant::now();
        let since = self.dedup.horizon_start(now_micros());
        // Sized once for what the horizon holds: growing step by step would copy the
        // table each time and hold two copies at once.
        self.dedup
            .reserve(self.log.handle().records_since_at_most(since));
        let dedup = &mut self.dedup;
        self.log
            .handle()
            .scan_keys(since, &mut |key, append_time_us| {
                if append_time_us >= since {
                    dedup.check_and_insert(key, append_time_us);
                }
            })?;
        tracing::info!(
            identities = self.dedup.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "dedup identities reloaded from the log"
        );
        Ok(())
    }

    fn run(mut self, mut receiver: mpsc::Receiver<Command>) {
        let mut shutting_down = false;
        while !shutting_down {
            let Some(first) = receiver.blocking_recv() else {
                break;
            };
            let mut group = Vec::new();
            let mut events_in_group = 0;
            let mut next = Some(first);
            while let Some(command) = next.take() {
                match command {
                    Command::Shutdown => shutting_down = true,
                    Command::Write {
                        batch,
                        origin,
                        reply,
                    } => {
                        events_in_group += batch.frames.len();
                        group.push(GroupMember {
                            origin,
                            batch,
                            reply,
                        });
                    }
                }
                if shutting_down || events_in_group >= MAX_GROUP_EVENTS {
                    break;
                }
                next = receiver.try_recv().ok();
            }
            if !group.is_empty() {
                self.commit_group(group);
            }
            if self.last_housekeeping.elapsed() >= HOUSEKEEPING_EVERY {
                self.housekeeping();
            }
        }
        // Whatever is still queued was never answered: tell those callers.
        receiver.close();
        while let Ok(command) = receiver.try_recv() {
            if let Command::Write { reply, .. } = command {
                let _ = reply.send(Err(IngestError::WriterStopped));
            }
        }
        if self.failed.load(Ordering::Relaxed) {
            tracing::warn!(
                "not syncing the log at shutdown: the writer stopped after a failed commit"
            );
        } else if let Err(error) = self.log.sync() {
            tracing::error!(%error, "final sync of the event log failed");
        }
        tracing::info!("log writer stopped");
    }

    fn commit_group(&mut self, group: Vec<GroupMember>) {
        if self.failed.load(Ordering::Relaxed) {
            for member in group {
                let _ = member.reply.send(Err(IngestError::CommitFailed(
                    "an earlier commit failed and the writer stopped".into(),
                )));
            }
            return;
        }
        let now = now_micros();
        let mut outcomes = Vec::with_capacity(group.len());
        let mut failure = None;
        let mut wrote_dead_letters = false;
        for member in &group {
            let mut outcome = CommitOutcome::default();
            let frames = &member.batch.frames;
            let mut appended = std::mem::take(&mut self.appended);
            appended.clear();
            for first in (0..frames.len()).step_by(DEDUP_WARM_AHEAD) {
                let keys = first..(first + DEDUP_WARM_AHEAD).min(frames.len());
                self.dedup.warm(keys.clone().map(|index| frames.key(index)));
                for index in keys {
                    if self.dedup.check_and_insert(frames.key(index), now) {
                        outcome.duplicates += 1;
                        outcome.duplicate_indices.push(index);
                    } else {
                        appended.push(index);
                    }
                }
            }
            match self.log.append_frames(frames, &appended) {
                Ok(first_offset) => {
                    outcome.first_offset = first_offset;
                    outcome.accepted = appended.len();
                }
                Err(error) => failure = Some(IngestError::Log(error)),
            }
            self.appended = appended;
            for rejected in &member.batch.rejected {
                wrote_dead_letters = true;
                let letter = DeadLetter {
                    code: rejected.code.as_str().to_owned(),
                    reason: rejected.reason.clone(),
                    time_us: now,
                    origin: member.origin.as_str().to_owned(),
                    raw: String::from_utf8_lossy(&rejected.raw).into_owned(),
                };
                if let Err(error) = self.dead_letters.append(rejected.code, &letter) {
                    failure = Some(IngestError::DeadLetters(error));
                    break;
                }
            }
            if failure.is_some() {
                break;
            }
            outcomes.push(outcome);
        }

        if failure.is_none() {
            let started = Instant::now();
            if let Err(error) = self.log.sync() {
                failure = Some(IngestError::Log(error));
            } else if wrote_dead_letters && let Err(error) = self.dead_letters.sync() {
                failure = Some(IngestError::DeadLetters(error));
            }
            self.metrics.fsync_seconds.record(started.elapsed());
        }

        if let Some(error) = failure {
            // Records of this group may already be in the file (buffers spill), so the
            // writer stops for good: no later sync may make them durable behind an answer
            // that said they were not. A restart recovers what is on disk, and the dedup
            // reload then turns the clients' retries into duplicates.
            tracing::error!(%error, "commit group failed; nothing in it is acknowledged and the writer stops until a restart");
            self.failed.store(true, Ordering::Relaxed);
            let message = error.to_string();
            for member in group {
                let _ = member
                    .reply
                    .send(Err(IngestError::CommitFailed(message.clone())));
            }
            return;
        }

        // Gauges first: a client that reads /metrics after its answer sees its events.
        self.publish_gauges();
        let metrics = &self.metrics;
        metrics.commit_groups.fetch_add(1, Ordering::Relaxed);
        for (member, mut outcome) in group.into_iter().zip(outcomes) {
            metrics
                .events_accepted
                .fetch_add(outcome.accepted as u64, Ordering::Relaxed);
            metrics
                .events_duplicate
                .fetch_add(outcome.duplicates as u64, Ordering::Relaxed);
            metrics
                .dead_letters_total
                .fetch_add(member.batch.rejected.len() as u64, Ordering::Relaxed);
            for rejected in &member.batch.rejected {
                metrics.count_rejection(rejected.code);
            }
            outcome.rejected = member.batch.rejected;
            self.frame_pool.give_back(member.batch.frames);
            let _ = member.reply.send(Ok(outcome));
        }
    }

    fn housekeeping(&mut self) {
        self.last_housekeeping = Instant::now();
        let now = now_micros();
        self.dedup.expire(now);
        if let Err(error) = self.log.enforce_retention(now) {
            tracing::warn!(%error, "event log retention failed");
        }
        if let Err(error) = self.dead_letters.enforce_retention(now) {
            tracing::warn!(%error, "dead-letter retention failed");
        }
        self.publish_gauges();
    }

    fn publish_gauges(&self) {
        let stats = self.log.stats();
        let metrics = &self.metrics;
        metrics
            .log_bytes
            .store(stats.total_bytes, Ordering::Relaxed);
        metrics
            .log_segments
            .store(stats.segment_count as u64, Ordering::Relaxed);
        metrics
            .log_next_offset
            .store(stats.next_offset, Ordering::Relaxed);
        metrics
            .dedup_keys
            .store(self.dedup.len() as u64, Ordering::Relaxed);
        metrics
            .dedup_evicted_keys
            .store(self.dedup.evicted(), Ordering::Relaxed);
    }
}
