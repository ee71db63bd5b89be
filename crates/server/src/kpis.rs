//! The KPI runner: follows the event log with the streaming engine on two threads of its
//! own (one reads the log and each event's fields, the other counts them), puts too-late
//! events in the dead-letter store, and shares the engine with the query API.
//!
//! Every few seconds, and when it stops, the runner writes a checkpoint: the engine's
//! whole state with the log offset it reflects, in one file replaced atomically (write,
//! fsync, rename, fsync the directory). At start-up it restores the checkpoint and replays
//! only the log after that offset, so every event is counted exactly once across restarts
//! and crashes; without a usable checkpoint it replays the retained log from the start.
//! `/readyz` reports not ready until the replay reached the end the log had at start.
//! Late dead letters are written once: the offset up to which they were written is a
//! committed consumer position (`engine-late`), and a replay does not write them again.
//!
//! Windows the engine closes go to the history store *before* the checkpoint that no
//! longer holds them is written (see `sightline-history` for why a crash between the two
//! loses nothing). Queries read both: history for the past, the engine for recent and
//! open windows, the engine winning where both have a window.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use sightline_engine::aggregate::AggregateValue;
use sightline_engine::{
    ClosedWindow, Engine, FieldReader, FieldsColumn, FieldsRef, Observation, ReadFields,
    WindowResult,
};

use crate::feed::{FedBatch, KpiFeed};
use sightline_history::HistoryStore;
use sightline_ingest::{DeadLetter, DeadLetterStore, IngestMetrics};
use sightline_log::{LogError, LogHandle, RecordBatch};
use sightline_model::RejectionCode;
use sightline_model::time::{format_rfc3339, now_micros};

const LATE_POSITION: &str = "engine-late";
/// The offset the engine's state counts the log from: 0, or the first retained offset
/// when it started without a usable checkpoint after retention deleted the log's start.
const COUNTED_FROM_POSITION: &str = "engine-counted-from";
const BATCH: usize = 4096;
/// How often an idle runner lets the watermark follow the clock.
const IDLE_TICK: Duration = Duration::from_millis(100);
const CHECKPOINT_FILE: &str = "checkpoint";
/// Closed windows wait for the next checkpoint to be written to history, unless this many
/// pile up first (a backfill closes thousands a second).
const HISTORY_FLUSH_AT: usize = 20_000;
/// How often expired history is deleted.
const RETENTION_EVERY: Duration = Duration::from_secs(600);

/// Where the runner keeps what survives a restart.
#[derive(Debug, Default)]
pub struct RunnerStorage {
    /// The directory of the engine checkpoint; `None` replays the whole log at start.
    pub checkpoint_dir: Option<PathBuf>,
    pub checkpoint_every: Duration,
    /// Closed windows; `None` keeps them only as long as the engine does.
    pub history: Option<HistoryStore>,
}

/// One window as the query API answers it: the engine's result, and for a KPI with
/// `compare` the same span earlier, per group.
#[derive(Debug, Clone)]
pub struct AnsweredWindow {
    pub result: WindowResult,
    pub comparison: Option<Comparison>,
}

#[derive(Debug, Clone)]
pub struct Comparison {
    pub from_us: i64,
    pub to_us: i64,
    pub values: Vec<(Vec<(String, String)>, AggregateValue)>,
}

#[derive(Debug)]
pub struct KpiService {
    engine: Mutex<Engine>,
    caught_up: AtomicBool,
    position: AtomicU64,
    /// Shared with the log reading thread, which must stop at once too (see `shutdown`).
    stop: Arc<AtomicBool>,
    log: LogHandle,
    checkpoint_dir: Option<PathBuf>,
    checkpoint_every: Duration,
    history: Option<HistoryStore>,
    /// Whether the engine's state counts the log from its first record ever (offset 0;
    /// see `COUNTED_FROM_POSITION`). A replay without a checkpoint of a log whose start
    /// retention deleted sees only part of the events of the oldest windows, so it (and
    /// every restart from its checkpoints) only adds the windows history lacks.
    complete_replay: AtomicBool,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Notified whenever `position` moves and when the engine thread ends; waiters check
    /// their condition under `progress_lock`.
    progress_lock: Mutex<()>,
    progressed: std::sync::Condvar,
}

impl KpiService {
    /// Starts following `log`: from the checkpoint in `checkpoint_dir` if there is a
    /// usable one, else from the first retained offset.
    pub fn start(
        engine: Engine,
        log: LogHandle,
        dead_letters: Arc<DeadLetterStore>,
        metrics: Arc<IngestMetrics>,
        storage: RunnerStorage,
    ) -> std::io::Result<Arc<KpiService>> {
        KpiService::start_with(engine, log, dead_letters, metrics, storage, None)
    }

    /// [`KpiService::start`] for the process that writes the log: it hands the engine
    /// the events it commits through the returned feed, so they are not read back from
    /// the log (see [`crate::feed`]). Whatever the feed does not hand over is still read
    /// from the log; once the feed is dropped, the engine follows the log as usual.
    pub fn start_fed(
        engine: Engine,
        log: LogHandle,
        dead_letters: Arc<DeadLetterStore>,
        metrics: Arc<IngestMetrics>,
        storage: RunnerStorage,
    ) -> std::io::Result<(Arc<KpiService>, KpiFeed)> {
        let (feed, fed, spares) = crate::feed::channel(READ_AHEAD);
        let service = KpiService::start_with(
            engine,
            log,
            dead_letters,
            metrics,
            storage,
            Some(FedInput { fed, spares }),
        )?;
        Ok((service, feed))
    }

    fn start_with(
        engine: Engine,
        log: LogHandle,
        dead_letters: Arc<DeadLetterStore>,
        metrics: Arc<IngestMetrics>,
        storage: RunnerStorage,
        fed: Option<FedInput>,
    ) -> std::io::Result<Arc<KpiService>> {
        let service = Arc::new(KpiService {
            engine: Mutex::new(engine),
            caught_up: AtomicBool::new(false),
            position: AtomicU64::new(log.first_offset()),
            stop: Arc::new(AtomicBool::new(false)),
            log: log.clone(),
            checkpoint_dir: storage.checkpoint_dir,
            checkpoint_every: storage.checkpoint_every,
            history: storage.history,
            complete_replay: AtomicBool::new(false),
            thread: Mutex::new(None),
            progress_lock: Mutex::new(()),
            progressed: std::sync::Condvar::new(),
        });
        let runner = Arc::clone(&service);
        let thread = std::thread::Builder::new()
            .name("sightline-engine".into())
            .spawn(move || {
                if let Err(error) = runner.run(&dead_letters, &metrics, fed) {
                    tracing::error!(%error, "the KPI engine stopped reading the log; KPIs are no longer updated");
                }
                runner.announce_progress();
            })?;
        *lock(&service.thread) = Some(thread);
        Ok(service)
    }

    pub fn engine(&self) -> MutexGuard<'_, Engine> {
        lock(&self.engine)
    }

    /// True once the engine has read everything that was in the log when it started.
    pub fn is_caught_up(&self) -> bool {
        self.caught_up.load(Ordering::Relaxed)
    }

    /// Blocks until the engine has processed everything up to `offset` (or stopped).
    pub fn wait_for_position(&self, offset: u64) {
        self.wait_for_progress(|position| position >= offset);
    }

    fn wait_for_progress(&self, reached: impl Fn(u64) -> bool) {
        let mut guard = lock(&self.progress_lock);
        while !reached(self.position.load(Ordering::Relaxed)) && !self.stop.load(Ordering::Relaxed)
        {
            let thread_alive = lock(&self.thread)
                .as_ref()
                .is_some_and(|thread| !thread.is_finished());
            if !thread_alive {
                return;
            }
            // The timeout only bounds the wait should the engine thread end between the
            // check above and the wait; progress itself is announced.
            guard = self
                .progressed
                .wait_timeout(guard, IDLE_TICK)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }

    fn announce_progress(&self) {
        // Taking the lock orders this after a waiter's check, so no wake-up is lost.
        drop(lock(&self.progress_lock));
        self.progressed.notify_all();
    }

    /// Durable events the engine has not read yet.
    pub fn lag(&self) -> u64 {
        self.log
            .durable_end()
            .saturating_sub(self.position.load(Ordering::Relaxed))
    }

    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::Relaxed);
        // The reading thread may be waiting for the log to grow; woken, it sees `stop` and
        // hangs up, which ends the engine thread's wait for a batch as well.
        self.log.wake_waiters();
        let thread = lock(&self.thread).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }

    /// Follows the log: a reading thread reads batches and the fields each event's KPIs
    /// need (`FieldReader`), this thread counts them in the engine, so the two halves of
    /// the work run on two cores. Progress, checkpoints and late letters go by the offset
    /// of the last record this thread has counted.
    fn run(
        &self,
        dead_letters: &DeadLetterStore,
        metrics: &IngestMetrics,
        fed: Option<FedInput>,
    ) -> Result<(), LogError> {
        let end_at_start = self.log.durable_end();
        let late_written_up_to = self.log.committed_position(LATE_POSITION)?.unwrap_or(0);
        let start = self.restore_checkpoint();
        let log_reader = self.log.reader(start)?;
        // Expired history goes before the first answer from it.
        self.enforce_history_retention();
        // A checkpoint at the end of the log is caught up at once.
        self.mark_progress(start, end_at_start);
        let field_reader = self.engine().field_reader();
        let (batches, read) = std::sync::mpsc::sync_channel::<Read>(READ_AHEAD);
        let (recycle, recycled) = std::sync::mpsc::channel::<ReadBatch>();
        let stop_reading = Arc::new(AtomicBool::new(false));
        let (fed, spares) = match fed {
            Some(FedInput { fed, spares }) => (Some(fed), Some(spares)),
            None => (None, None),
        };
        let reading = {
            let log = self.log.clone();
            let stops = [Arc::clone(&stop_reading), Arc::clone(&self.stop)];
            let follower = LogFollower {
                log,
                reader: log_reader,
                position: start,
                fields_of: field_reader,
                batches,
                recycled,
                spare: None,
                scratch: ReadFields::default(),
            };
            std::thread::Builder::new()
                .name("kpi-log-reader".into())
                .spawn(move || read_ahead(follower, fed, &stops))
                .map_err(|source| LogError::Io {
                    action: "start the KPI engine's log reading thread",
                    path: std::path::PathBuf::new(),
                    source,
                })?
        };
        let outcome = self.count_batches(
            start,
            end_at_start,
            late_written_up_to,
            &read,
            (&recycle, spares.as_ref()),
            dead_letters,
            metrics,
        );
        stop_reading.store(true, Ordering::Relaxed);
        // The reading thread stops at its next wait or send.
        drop(read);
        let _ = reading.join();
        let position = outcome?;
        self.write_checkpoint(position);
        Ok(())
    }

    /// The engine thread's loop; returns the position reached when asked to stop.
    #[allow(clippy::too_many_arguments)]
    fn count_batches(
        &self,
        start: u64,
        end_at_start: u64,
        late_written_up_to: u64,
        read: &std::sync::mpsc::Receiver<Read>,
        (recycle, spares): (
            &std::sync::mpsc::Sender<ReadBatch>,
            Option<&std::sync::mpsc::Sender<FedBatch>>,
        ),
        dead_letters: &DeadLetterStore,
        metrics: &IngestMetrics,
    ) -> Result<u64, LogError> {
        let mut position = start;
        let mut last_checkpoint = std::time::Instant::now();
        let mut last_retention = std::time::Instant::now();
        while !self.stop.load(Ordering::Relaxed) {
            if last_checkpoint.elapsed() >= self.checkpoint_every {
                self.write_checkpoint(position);
                last_checkpoint = std::time::Instant::now();
            }
            if last_retention.elapsed() >= RETENTION_EVERY {
                self.enforce_history_retention();
                last_retention = std::time::Instant::now();
            }
            let batch = match read.recv_timeout(IDLE_TICK) {
                Ok(Read::Batch(batch)) => Counted::Read(batch),
                Ok(Read::Fed(batch)) => Counted::Fed(batch),
                Ok(Read::Idle { position: reached }) => {
                    position = reached;
                    self.mark_progress(position, end_at_start);
                    self.engine().tick(now_micros());
                    continue;
                }
                Ok(Read::Failed(error)) => return Err(error),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    self.engine().tick(now_micros());
                    continue;
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected)
                    if self.stop.load(Ordering::Relaxed) =>
                {
                    break;
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(LogError::Io {
                        action: "follow the log: the KPI engine's reading thread stopped",
                        path: std::path::PathBuf::new(),
                        source: std::io::Error::other("reading thread gone"),
                    });
                }
            };
            let mut late_letters = Vec::new();
            {
                let now = now_micros();
                let mut engine = self.engine();
                let events = (0..batch.len())
                    .filter_map(|index| batch.event(index))
                    .map(|(_, event_time_us, payload, fields)| (event_time_us, payload, fields));
                engine.process_read_all(events, now, |index, observed, watermark| {
                    if observed != Observation::TooLate {
                        return;
                    }
                    if let Some((offset, event_time_us, payload, _)) = batch.event(index)
                        && offset >= late_written_up_to
                    {
                        late_letters.push(late_letter(event_time_us, payload, watermark, now));
                    }
                });
            }
            match batch {
                Counted::Read(batch) => {
                    position = batch.end;
                    let _ = recycle.send(batch);
                }
                Counted::Fed(batch) => {
                    position = batch.end();
                    if let Some(spares) = spares {
                        let _ = spares.send(batch);
                    }
                }
            }
            if self.engine().closed_pending() >= HISTORY_FLUSH_AT {
                // Failing here only delays the windows to the next try.
                let _ = self.flush_history();
            }
            // Progress is published only after the batch is in the engine, so "caught up"
            // never runs ahead of what queries can see.
            self.mark_progress(position, end_at_start);
            if late_letters.is_empty() {
                continue;
            }
            for letter in &late_letters {
                dead_letters.append(RejectionCode::Late, letter)?;
                metrics.count_rejection(RejectionCode::Late);
            }
            metrics
                .dead_letters_total
                .fetch_add(late_letters.len() as u64, Ordering::Relaxed);
            dead_letters.sync()?;
            self.log.commit_position(LATE_POSITION, position)?;
        }
        Ok(position)
    }

    /// The offset to start reading at: after the checkpoint, or the log's first offset.
    /// Also settles whether closed windows may replace stored ones (`complete_replay`).
    fn restore_checkpoint(&self) -> u64 {
        let first = self.log.first_offset();
        if let Some(offset) = self.restored_checkpoint(first) {
            // The restored state counts the log from where the engine that wrote the
            // checkpoint started; unknown, nothing is replaced (which loses nothing).
            let counted_from = match self.log.committed_position(COUNTED_FROM_POSITION) {
                Ok(position) => position.unwrap_or(0),
                Err(_) => u64::MAX,
            };
            self.complete_replay
                .store(counted_from == 0, Ordering::Relaxed);
            return offset;
        }
        // Committed before this engine writes any checkpoint, so that a restart from one
        // of them still knows how its state began.
        if let Err(error) = self.log.commit_position(COUNTED_FROM_POSITION, first) {
            tracing::warn!(%error, "cannot record the offset the KPI engine counts from");
        }
        self.complete_replay.store(first == 0, Ordering::Relaxed);
        first
    }

    /// Restores the checkpoint if there is a usable one and returns its offset; otherwise
    /// the engine is left fresh.
    fn restored_checkpoint(&self, first: u64) -> Option<u64> {
        let dir = self.checkpoint_dir.as_ref()?;
        let path = dir.join(CHECKPOINT_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "cannot read the engine checkpoint; replaying the log");
                return None;
            }
        };
        let mut engine = self.engine();
        let restored = engine.restore(&bytes);
        match restored {
            Ok(offset) if offset >= first && offset <= self.log.durable_end() => {
                tracing::info!(offset, "engine state restored from its checkpoint");
                Some(offset)
            }
            Ok(offset) => {
                tracing::warn!(
                    offset,
                    first,
                    "the engine checkpoint does not match the retained log; replaying the log"
                );
                *engine = engine.fresh();
                None
            }
            Err(error) => {
                tracing::warn!(%error, "engine checkpoint not used");
                *engine = engine.fresh();
                None
            }
        }
    }

    /// Writes the windows the engine closed to history. On failure they go back to the
    /// engine, to be tried again, and `Err` says that no checkpoint may be written (it
    /// would no longer hold them).
    fn flush_history(&self) -> Result<(), ()> {
        let Some(history) = &self.history else {
            // Without a history store closed windows live only in memory: drop the queue.
            drop(self.engine().take_closed());
            return Ok(());
        };
        // A copy: until history has them, queries still find them in the engine. Only
        // this thread adds closed windows, so none arrive while the copy is written.
        let closed = self.engine().closed_to_persist();
        if closed.is_empty() {
            return Ok(());
        }
        let written = if self.complete_replay.load(Ordering::Relaxed) {
            history.write(&closed)
        } else {
            history.write_missing(&closed)
        };
        if let Err(error) = written {
            tracing::warn!(%error, windows = closed.len(), "cannot write closed windows to history; retrying at the next checkpoint");
            return Err(());
        }
        self.engine().forget_closed(closed.len());
        Ok(())
    }

    fn enforce_history_retention(&self) {
        let Some(history) = &self.history else {
            return;
        };
        match history.enforce_retention(now_micros()) {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "expired windows removed from history"),
            Err(error) => tracing::warn!(%error, "cannot apply the history retention"),
        }
    }

    /// Writes the engine state at `offset` atomically, after the windows it closed are in
    /// history; a failure costs only replay time at the next start, so it is logged, not
    /// fatal.
    fn write_checkpoint(&self, offset: u64) {
        if self.flush_history().is_err() {
            return;
        }
        let Some(dir) = &self.checkpoint_dir else {
            return;
        };
        let bytes = self.engine().checkpoint(offset);
        if let Err(error) = write_atomically(dir, CHECKPOINT_FILE, &bytes) {
            tracing::warn!(dir = %dir.display(), %error, "cannot write the engine checkpoint");
        }
    }
}

/// The window of definition `label` that is the KPI's value now: of those containing
/// `now_us`, the one ending soonest (for a sliding `1h/1m` that is the one covering the
/// last hour; tumbling, calendar and `current` windows have one). `None` when no window of
/// that definition contains now.
pub fn window_at<'a>(
    windows: &'a [AnsweredWindow],
    label: &str,
    now_us: i64,
) -> Option<&'a AnsweredWindow> {
    windows
        .iter()
        .filter(|window| window.result.window == label)
        .filter(|window| window.result.start_us <= now_us && now_us < window.result.end_us)
        .min_by_key(|window| window.result.start_us)
}

impl KpiService {
    /// The windows of `kpi` overlapping `[from, to)`, from history and from the engine,
    /// oldest first, each with its comparison when the KPI has `compare`; `None` for an
    /// unknown KPI.
    pub fn windows(&self, kpi: &str, from_us: i64, to_us: i64) -> Option<Vec<AnsweredWindow>> {
        self.answer(kpi, from_us, to_us, true)
    }

    /// As `windows`, for the newest windows of each definition (`GET /v1/kpis`): history
    /// is read only when a window definition has nothing in memory in the range, since
    /// history holds only windows older than the engine's.
    pub fn recent_windows(
        &self,
        kpi: &str,
        from_us: i64,
        to_us: i64,
    ) -> Option<Vec<AnsweredWindow>> {
        self.answer(kpi, from_us, to_us, false)
    }

    fn answer(
        &self,
        kpi: &str,
        from_us: i64,
        to_us: i64,
        always_read_history: bool,
    ) -> Option<Vec<AnsweredWindow>> {
        let (results, watermark) = self.collect(kpi, None, from_us, to_us, always_read_history)?;
        Some(self.compared(kpi, watermark, results))
    }

    /// The windows of definition `label` of `kpi` overlapping `[from, to)`, from the
    /// engine and history, oldest first, without comparisons: what alert baselines read
    /// (history is read for that one definition only). `None` for an unknown KPI.
    pub fn windows_of_label(
        &self,
        kpi: &str,
        label: &str,
        from_us: i64,
        to_us: i64,
    ) -> Option<Vec<WindowResult>> {
        self.collect(kpi, Some(label), from_us, to_us, true)
            .map(|(results, _)| results)
    }

    /// The windows of `kpi` (of definition `only_label` when given) overlapping
    /// `[from, to)`, from the engine and history, oldest first, and the watermark.
    fn collect(
        &self,
        kpi: &str,
        only_label: Option<&str>,
        from_us: i64,
        to_us: i64,
        always_read_history: bool,
    ) -> Option<(Vec<WindowResult>, i64)> {
        let wanted = |label: &str| only_label.is_none_or(|only| only == label);
        let (mut results, watermark, labels) = {
            let engine = self.engine();
            let mut results = engine.windows(kpi, from_us, to_us)?;
            results.retain(|result| wanted(&result.window));
            let labels: Vec<String> = engine
                .kpis()
                .find(|candidate| candidate.name == kpi)
                .map(|candidate| {
                    candidate
                        .windows
                        .iter()
                        .map(|spec| spec.label())
                        .filter(|label| wanted(label))
                        .collect()
                })
                .unwrap_or_default();
            (results, engine.watermark(), labels)
        };
        let history_needed = always_read_history
            || labels
                .iter()
                .any(|label| !results.iter().any(|result| &result.window == label));
        let stored = if history_needed {
            self.history_windows(kpi, from_us, to_us, |label| {
                !label.starts_with("series/") && wanted(label)
            })
        } else {
            Vec::new()
        };
        let in_memory: std::collections::HashSet<(String, i64)> = results
            .iter()
            .map(|result| (result.window.clone(), result.start_us))
            .collect();
        results.extend(
            stored
                .into_iter()
                .filter(|window| !in_memory.contains(&(window.window.clone(), window.start_us)))
                .map(|window| WindowResult {
                    window: window.window,
                    start_us: window.start_us,
                    end_us: window.end_us,
                    is_final: true,
                    values: window.values,
                }),
        );
        results.sort_by(|left, right| {
            (left.start_us, left.end_us, &left.window).cmp(&(
                right.start_us,
                right.end_us,
                &right.window,
            ))
        });
        Some((results, watermark))
    }

    /// The windows a push must send again (see `Engine::changed_windows`), with their
    /// comparisons; `None` for an unknown KPI.
    pub fn changed_windows(
        &self,
        kpi: &str,
        touched: Option<(i64, i64)>,
        previous_watermark: i64,
    ) -> Option<Vec<AnsweredWindow>> {
        let (results, watermark) = {
            let engine = self.engine();
            let results = engine.changed_windows(kpi, touched, previous_watermark)?;
            (results, engine.watermark())
        };
        Some(self.compared(kpi, watermark, results))
    }

    /// Each window with the same span earlier, for a KPI with `compare`.
    fn compared(
        &self,
        kpi: &str,
        watermark: i64,
        results: Vec<WindowResult>,
    ) -> Vec<AnsweredWindow> {
        let compare = self
            .engine()
            .kpis()
            .find(|candidate| candidate.name == kpi)
            .and_then(|candidate| candidate.compare.clone());
        results
            .into_iter()
            .map(|result| {
                let comparison = compare.as_ref().map(|compare| {
                    // A final window (history's among them) compares its whole span,
                    // whatever the watermark (it lags while the engine replays).
                    let until = if result.is_final {
                        result.end_us
                    } else {
                        result.end_us.min(watermark.max(result.start_us))
                    };
                    let (from_us, to_us) = compare.previous_span(result.start_us, until);
                    Comparison {
                        from_us,
                        to_us,
                        values: self.series_sum(kpi, from_us, to_us),
                    }
                });
                AnsweredWindow { result, comparison }
            })
            .collect()
    }

    /// Per group, the sum of a comparison series' windows that lie wholly in
    /// `[from, to)`: from the engine where it still has them, else from history.
    fn series_sum(
        &self,
        kpi: &str,
        from_us: i64,
        to_us: i64,
    ) -> Vec<(Vec<(String, String)>, AggregateValue)> {
        let in_memory = self
            .engine()
            .series_windows(kpi, from_us, to_us)
            .unwrap_or_default();
        let mut seen: std::collections::HashSet<i64> = std::collections::HashSet::new();
        let mut sums: std::collections::BTreeMap<Vec<(String, String)>, AggregateValue> =
            std::collections::BTreeMap::new();
        let mut add =
            |start_us: i64, end_us: i64, values: &[(Vec<(String, String)>, AggregateValue)]| {
                if start_us < from_us || end_us > to_us || !seen.insert(start_us) {
                    return;
                }
                for (group, value) in values {
                    let sum = sums.entry(group.clone()).or_insert(AggregateValue::Empty);
                    *sum = sum.plus(value);
                }
            };
        for window in &in_memory {
            add(window.start_us, window.end_us, &window.values);
        }
        for window in
            self.history_windows(kpi, from_us, to_us, |label| label.starts_with("series/"))
        {
            add(window.start_us, window.end_us, &window.values);
        }
        sums.into_iter().collect()
    }

    fn history_windows(
        &self,
        kpi: &str,
        from_us: i64,
        to_us: i64,
        include: impl Fn(&str) -> bool,
    ) -> Vec<ClosedWindow> {
        let Some(history) = &self.history else {
            return Vec::new();
        };
        history
            .windows(kpi, from_us, to_us, include)
            .unwrap_or_else(|error| {
                tracing::warn!(%error, kpi, "cannot read history; answering from memory only");
                Vec::new()
            })
    }

    fn mark_progress(&self, position: u64, end_at_start: u64) {
        self.position.store(position, Ordering::Relaxed);
        if position >= end_at_start {
            self.caught_up.store(true, Ordering::Relaxed);
        }
        self.announce_progress();
    }
}

/// Batches read ahead of the engine, at most.
const READ_AHEAD: usize = 2;

/// What the reading thread hands the engine thread.
enum Read {
    Batch(ReadBatch),
    /// Events the ingest handed over, starting where the engine is.
    Fed(FedBatch),
    /// Nothing new in the log: everything before `position` has been handed over.
    Idle {
        position: u64,
    },
    Failed(LogError),
}

/// A batch of records with their payloads as text and the fields of each read.
struct ReadBatch {
    records: RecordBatch,
    text: String,
    fields: FieldsColumn,
    /// The offset after the batch's last record.
    end: u64,
}

/// A batch the engine thread counts.
enum Counted {
    Read(ReadBatch),
    Fed(FedBatch),
}

impl Counted {
    fn len(&self) -> usize {
        match self {
            Counted::Read(batch) => batch.records.len(),
            Counted::Fed(batch) => batch.len(),
        }
    }

    /// Event `index` of the batch, in log order: its offset, event time, payload (empty
    /// when unreadable: it then counts as no event) and fields.
    fn event(&self, index: usize) -> Option<(u64, i64, &str, FieldsRef<'_>)> {
        match self {
            Counted::Read(batch) => {
                let record = batch.records.records().get(index)?;
                let payload = batch.text.get(record.range()).unwrap_or_default();
                Some((
                    record.offset,
                    record.event_time_us,
                    payload,
                    batch.fields.get(index)?,
                ))
            }
            Counted::Fed(batch) => {
                let event = batch.events.get(index)?;
                let payload = batch.text.get(event.start..event.end).unwrap_or_default();
                let offset = batch.first_offset + index as u64;
                Some((
                    offset,
                    event.event_time_us,
                    payload,
                    batch.fields.get(index)?,
                ))
            }
        }
    }
}

/// The engine's end of a feed: fed batches, and where they go back once counted.
struct FedInput {
    fed: std::sync::mpsc::Receiver<FedBatch>,
    spares: std::sync::mpsc::Sender<FedBatch>,
}

/// The reading thread's state: where in the log the engine will be once it has counted
/// everything handed to it.
struct LogFollower {
    log: LogHandle,
    /// Behind `position` while fed batches are handed over; moved up before it reads.
    reader: sightline_log::LogReader,
    position: u64,
    fields_of: FieldReader,
    batches: std::sync::mpsc::SyncSender<Read>,
    recycled: std::sync::mpsc::Receiver<ReadBatch>,
    /// A batch read empty, kept for the next read.
    spare: Option<ReadBatch>,
    /// One event's fields, before they join their batch's column.
    scratch: ReadFields,
}

/// What reading the log gave.
enum Step {
    /// A batch was handed over.
    Handed,
    /// The log has nothing after `position` (yet).
    AtEnd,
    /// The engine thread hung up, or reading failed (and the failure was handed over).
    Finished,
}

/// The reading thread: hands the engine batches from the log (each event's fields read),
/// or the fed batches the ingest sends while there is a feed, until one of `stops` is set
/// or the engine thread hangs up.
fn read_ahead(
    mut follower: LogFollower,
    mut fed: Option<std::sync::mpsc::Receiver<FedBatch>>,
    stops: &[Arc<AtomicBool>],
) {
    while !stops.iter().any(|stop| stop.load(Ordering::Relaxed)) {
        let Some(feed) = &fed else {
            match follower.read_from_log(u64::MAX) {
                Step::Handed => {}
                Step::Finished => return,
                Step::AtEnd => {
                    let position = follower.position;
                    if follower.batches.send(Read::Idle { position }).is_err() {
                        return;
                    }
                    follower.log.wait_for_durable_beyond(position, IDLE_TICK);
                }
            }
            continue;
        };
        match feed.recv_timeout(IDLE_TICK) {
            Ok(batch) => {
                // Records before the batch that were not fed (those from before this
                // process, or of a batch the feed lost) come from the log first.
                while follower.position < batch.first_offset {
                    if stops.iter().any(|stop| stop.load(Ordering::Relaxed)) {
                        return;
                    }
                    match follower.read_from_log(batch.first_offset) {
                        Step::Handed => {}
                        Step::Finished => return,
                        // Fed batches are durable before they are sent.
                        Step::AtEnd => {
                            follower
                                .log
                                .wait_for_durable_beyond(follower.position, IDLE_TICK);
                        }
                    }
                }
                // A batch the log reading already covered is dropped.
                if batch.first_offset == follower.position {
                    follower.position = batch.end();
                    if follower.batches.send(Read::Fed(batch)).is_err() {
                        return;
                    }
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                // The clock goes on while nothing is fed: the idle tick as when following.
                let position = follower.position;
                if follower.batches.send(Read::Idle { position }).is_err() {
                    return;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => fed = None,
        }
    }
}

impl LogFollower {
    /// Reads the next batch from the log, up to `until` (exclusive), and hands it over.
    fn read_from_log(&mut self, until: u64) -> Step {
        if self.reader.position() != self.position {
            match self.log.reader(self.position) {
                Ok(reader) => self.reader = reader,
                Err(error) => {
                    let _ = self.batches.send(Read::Failed(error));
                    return Step::Finished;
                }
            }
        }
        let recycled = self.spare.take().or_else(|| self.recycled.try_recv().ok());
        let mut batch = recycled.unwrap_or_else(|| ReadBatch {
            records: RecordBatch::default(),
            text: String::new(),
            fields: FieldsColumn::default(),
            end: 0,
        });
        batch
            .records
            .restore_bytes(std::mem::take(&mut batch.text).into_bytes());
        let wanted = usize::try_from(until.saturating_sub(self.position))
            .unwrap_or(usize::MAX)
            .min(BATCH);
        match self.reader.read_into_batch(wanted, &mut batch.records) {
            Err(error) => {
                let _ = self.batches.send(Read::Failed(error));
                return Step::Finished;
            }
            Ok(0) => {
                self.spare = Some(batch);
                return Step::AtEnd;
            }
            Ok(_) => {}
        }
        batch.text = text_of(&mut batch.records);
        batch.fields.clear();
        batch.fields.reserve(batch.records.len());
        for record in batch.records.records() {
            match batch.text.get(record.range()) {
                Some(payload) => self.fields_of.read(payload, &mut self.scratch),
                None => self.scratch = ReadFields::default(),
            }
            batch.fields.push(&self.scratch);
        }
        self.position = self.reader.position();
        batch.end = self.position;
        if self.batches.send(Read::Batch(batch)).is_err() {
            return Step::Finished;
        }
        Step::Handed
    }
}

/// The batch's payloads as one text. Stored events were valid UTF-8 when accepted; a
/// record that is not any more (a damaged disk) is blanked, so it reads as no event
/// rather than shifting the others.
fn text_of(records: &mut RecordBatch) -> String {
    let bytes = records.take_bytes();
    match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            let mut bytes = error.into_bytes();
            for record in records.records() {
                let range = record.range();
                if let Some(payload) = bytes.get_mut(range)
                    && std::str::from_utf8(payload).is_err()
                {
                    tracing::warn!(
                        offset = record.offset,
                        "a stored event is not UTF-8 text; skipped"
                    );
                    payload.fill(b' ');
                }
            }
            String::from_utf8(bytes).unwrap_or_default()
        }
    }
}

fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let temporary = dir.join(format!("{name}.tmp"));
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_data()?;
    drop(file);
    std::fs::rename(&temporary, dir.join(name))?;
    std::fs::File::open(dir)?.sync_all()
}

fn late_letter(event_time_us: i64, payload: &str, watermark: i64, now: i64) -> DeadLetter {
    DeadLetter {
        code: RejectionCode::Late.as_str().to_owned(),
        reason: format!(
            "late: event time {} is behind the watermark {} by more than the allowed lateness; not counted",
            format_rfc3339(event_time_us),
            format_rfc3339(watermark)
        ),
        time_us: now,
        origin: "engine".to_owned(),
        raw: payload.to_owned(),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use sightline_engine::{Calendar, EngineOptions, KpiPack};
    use sightline_log::{LogOptions, Record, RetentionPolicy, SegmentLog};

    use super::*;

    const HOUR: i64 = 3_600_000_000;
    const DAY: i64 = 24 * HOUR;
    /// The day of the orders.
    const ORDER_DAY: i64 = 10 * DAY;

    /// An engine of one KPI, `revenue_today` (a day's order totals).
    pub(crate) fn engine() -> Engine {
        let kpis = KpiPack::from_toml(
            r#"
[[kpi]]
name = "revenue_today"
events = ["order.created"]
value = "data.total"
aggregate = "sum"
windows = [{ calendar = "day" }]
"#,
            "test",
        )
        .and_then(|pack| pack.compile(&Calendar::utc()))
        .expect("valid pack");
        // Final windows leave memory at once: past days are answered by history.
        let options = EngineOptions {
            keep_final_for_us: 0,
            ..EngineOptions::default()
        };
        Engine::new(kpis, options)
    }

    /// A final day from history is compared with the whole day a week earlier, also while
    /// the engine's watermark is still behind it (replaying, or no event yet).
    #[test]
    fn a_day_from_history_is_compared_with_the_whole_earlier_day() {
        let dir = tempfile::tempdir().expect("temp dir");
        let kpis = KpiPack::from_toml(
            r#"
[[kpi]]
name = "revenue_today"
events = ["order.created"]
value = "data.total"
aggregate = "sum"
windows = [{ calendar = "day" }]
compare = { days_back = 7 }
"#,
            "test",
        )
        .and_then(|pack| pack.compile(&Calendar::utc()))
        .expect("valid pack");
        let mut complete = Engine::new(kpis.clone(), EngineOptions::default());
        // 10 EUR in the morning and 10 EUR in the evening a week before the day.
        for hours in [9, 18, 7 * 24 + 9, 12 * 24] {
            let (time_us, _, payload) = order(ORDER_DAY - 7 * DAY + hours * HOUR, 0);
            complete.process(time_us, &payload, 0);
        }
        let history =
            HistoryStore::open(&dir.path().join("history"), Default::default()).expect("history");
        history
            .write(&complete.take_closed())
            .expect("write history");
        let (log, _) =
            SegmentLog::open(&dir.path().join("log"), LogOptions::default()).expect("log");
        let dead_letters =
            DeadLetterStore::open(&dir.path().join("dead-letters"), LogOptions::default())
                .expect("dead letters");
        let service = KpiService::start(
            Engine::new(kpis, EngineOptions::default()),
            log.handle(),
            Arc::new(dead_letters),
            Arc::new(IngestMetrics::default()),
            RunnerStorage {
                checkpoint_dir: None,
                checkpoint_every: Duration::from_secs(3600),
                history: Some(history),
            },
        )
        .expect("runner");
        service.shutdown();
        let days = service
            .windows("revenue_today", ORDER_DAY, ORDER_DAY + 1)
            .expect("known KPI");
        let comparison = days[0].comparison.as_ref().expect("a comparison");
        assert_eq!(
            (comparison.from_us, comparison.to_us),
            (ORDER_DAY - 7 * DAY, ORDER_DAY - 6 * DAY)
        );
        assert_eq!(comparison.values[0].1.to_json(), "20");
    }

    /// An order of 10 EUR at `time_us`, appended at `appended_us`, 400 bytes long (so
    /// that three fill a smallest segment).
    fn order(time_us: i64, appended_us: i64) -> (i64, i64, String) {
        let padding = "x".repeat(330);
        let payload = format!(
            r#"{{"type":"order.created","note":"{padding}","data":{{"total":"10.00","currency":"EUR"}}}}"#
        );
        (time_us, appended_us, payload)
    }

    /// The order that closes the orders' day, four days on.
    fn closing_order() -> (i64, i64, String) {
        order(ORDER_DAY + 4 * DAY, ORDER_DAY + 4 * DAY)
    }

    fn append(log: &mut SegmentLog, records: &[(i64, i64, String)]) {
        for (event_time_us, append_time_us, payload) in records {
            log.append(&Record {
                key: 0,
                event_time_us: *event_time_us,
                append_time_us: *append_time_us,
                payload: payload.as_bytes(),
            })
            .expect("append");
        }
        log.sync().expect("sync");
    }

    /// Nine orders of 10 EUR on one day (three appended that day, six backfilled three
    /// and a half days later) in a log of three records a segment, and the history a run
    /// that counted them all wrote (90 EUR that day); then retention deletes the first
    /// segment, three of the day's orders.
    fn truncated_log_and_history(dir: &Path) -> (SegmentLog, HistoryStore) {
        let orders: Vec<_> = (0..9)
            .map(|index| {
                let appended = if index < 3 {
                    ORDER_DAY + index * HOUR
                } else {
                    ORDER_DAY + 84 * HOUR
                };
                order(ORDER_DAY + index * HOUR, appended)
            })
            .collect();
        let frame_len = (sightline_log::FRAME_OVERHEAD + orders[0].2.len()) as u64;
        let options = LogOptions {
            segment_max_bytes: 16 + 3 * frame_len,
            retention: RetentionPolicy {
                max_age: Some(Duration::from_secs(86_400)),
                max_bytes: None,
            },
            ..LogOptions::default()
        };
        let (mut log, _) = SegmentLog::open(&dir.join("log"), options).expect("log");
        append(&mut log, &orders);
        let history =
            HistoryStore::open(&dir.join("history"), Default::default()).expect("history");
        let mut complete = engine();
        for (event_time_us, _, payload) in orders.iter().chain([&closing_order()]) {
            complete.process(*event_time_us, payload, 0);
        }
        history
            .write(&complete.take_closed())
            .expect("write history");
        log.enforce_retention(ORDER_DAY + 4 * DAY)
            .expect("retention");
        assert_eq!(log.handle().first_offset(), 3);
        (log, history)
    }

    /// Runs the KPI runner over the whole log, then stops it (flushing history and, with a
    /// checkpoint directory, writing a checkpoint).
    fn run_to_the_end(
        dir: &Path,
        log: &SegmentLog,
        history: HistoryStore,
        checkpoint_dir: Option<PathBuf>,
    ) -> Arc<KpiService> {
        let storage = RunnerStorage {
            checkpoint_dir,
            checkpoint_every: Duration::from_secs(3600),
            history: Some(history),
        };
        let service = start_revenue(dir, log, storage);
        service.wait_for_position(log.durable_end());
        service.shutdown();
        service
    }

    /// A runner of [`engine`] following `log`, its dead letters under `dir`.
    pub(crate) fn start_revenue(
        dir: &Path,
        log: &SegmentLog,
        storage: RunnerStorage,
    ) -> Arc<KpiService> {
        let dead_letters = DeadLetterStore::open(&dir.join("dead-letters"), LogOptions::default())
            .expect("dead letters");
        KpiService::start(
            engine(),
            log.handle(),
            Arc::new(dead_letters),
            Arc::new(IngestMetrics::default()),
            storage,
        )
        .expect("runner")
    }

    fn revenue_that_day(service: &KpiService) -> Vec<String> {
        service
            .windows("revenue_today", ORDER_DAY, ORDER_DAY + 1)
            .expect("known KPI")
            .iter()
            .flat_map(|day| day.result.values.iter().map(|(_, value)| value.to_json()))
            .collect()
    }

    /// A replay without a checkpoint of a log whose first segment was deleted sees only
    /// part of the events of that time: it must not replace the windows history kept from
    /// the run that saw them all.
    #[test]
    fn a_replay_of_a_log_missing_its_start_keeps_what_history_has() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut log, history) = truncated_log_and_history(dir.path());
        append(&mut log, &[closing_order()]);
        let service = run_to_the_end(dir.path(), &log, history, None);
        assert_eq!(revenue_that_day(&service), vec!["90"]);
    }

    /// The same when the day closes only after a restart from a checkpoint that such a
    /// replay wrote: the checkpoint's state is as partial.
    #[test]
    fn a_checkpoint_of_such_a_replay_keeps_what_history_has() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut log, history) = truncated_log_and_history(dir.path());
        let checkpoint_dir = dir.path().join("engine");
        let service = run_to_the_end(dir.path(), &log, history, Some(checkpoint_dir.clone()));
        drop(service);
        append(&mut log, &[closing_order()]);
        let history =
            HistoryStore::open(&dir.path().join("history"), Default::default()).expect("history");
        let service = run_to_the_end(dir.path(), &log, history, Some(checkpoint_dir));
        assert_eq!(revenue_that_day(&service), vec!["90"]);
    }
}
