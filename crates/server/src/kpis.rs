//! The KPI runner: follows the event log with the streaming engine on a thread of its own,
//! puts too-late events in the dead-letter store, and shares the engine with the query API.
//!
//! Without a checkpoint yet, the runner replays the retained log from its first offset at
//! start-up; `/readyz` reports not ready until the replay reached the end the log had at
//! start. Late dead letters are written once: the offset up to which they were written is
//! a committed consumer position (`engine-late`), and a replay does not write them again.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use sightline_engine::{Engine, Observation};
use sightline_ingest::{DeadLetter, DeadLetterStore, IngestMetrics};
use sightline_log::{LogError, LogHandle, StoredRecord};
use sightline_model::RejectionCode;
use sightline_model::time::{format_rfc3339, now_micros};

const LATE_POSITION: &str = "engine-late";
const BATCH: usize = 4096;
/// How often an idle runner lets the watermark follow the clock.
const IDLE_TICK: Duration = Duration::from_millis(100);

#[derive(Debug)]
pub struct KpiService {
    engine: Mutex<Engine>,
    caught_up: AtomicBool,
    position: AtomicU64,
    stop: AtomicBool,
    log: LogHandle,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl KpiService {
    /// Starts following `log` from its first retained offset.
    pub fn start(
        engine: Engine,
        log: LogHandle,
        dead_letters: Arc<DeadLetterStore>,
        metrics: Arc<IngestMetrics>,
    ) -> std::io::Result<Arc<KpiService>> {
        let service = Arc::new(KpiService {
            engine: Mutex::new(engine),
            caught_up: AtomicBool::new(false),
            position: AtomicU64::new(log.first_offset()),
            stop: AtomicBool::new(false),
            log: log.clone(),
            thread: Mutex::new(None),
        });
        let runner = Arc::clone(&service);
        let thread = std::thread::Builder::new()
            .name("sightline-engine".into())
            .spawn(move || {
                if let Err(error) = runner.run(&dead_letters, &metrics) {
                    tracing::error!(%error, "the KPI engine stopped reading the log; KPIs are no longer updated");
                }
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
        while self.position.load(Ordering::Relaxed) < offset && !self.stop.load(Ordering::Relaxed) {
            let thread_alive = lock(&self.thread)
                .as_ref()
                .is_some_and(|thread| !thread.is_finished());
            if !thread_alive {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Durable events the engine has not read yet.
    pub fn lag(&self) -> u64 {
        self.log
            .durable_end()
            .saturating_sub(self.position.load(Ordering::Relaxed))
    }

    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::Relaxed);
        let thread = lock(&self.thread).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }

    fn run(&self, dead_letters: &DeadLetterStore, metrics: &IngestMetrics) -> Result<(), LogError> {
        let end_at_start = self.log.durable_end();
        let late_written_up_to = self.log.committed_position(LATE_POSITION)?.unwrap_or(0);
        let mut reader = self.log.reader(self.log.first_offset())?;
        let mut batch: Vec<StoredRecord> = Vec::with_capacity(BATCH);
        while !self.stop.load(Ordering::Relaxed) {
            batch.clear();
            let count = reader.read_batch(BATCH, &mut batch)?;
            if count == 0 {
                self.mark_progress(reader.position(), end_at_start);
                self.engine().tick(now_micros());
                self.log
                    .wait_for_durable_beyond(reader.position(), IDLE_TICK);
                continue;
            }
            let mut late_letters = Vec::new();
            {
                let now = now_micros();
                let mut engine = self.engine();
                for record in &batch {
                    let Ok(payload) = std::str::from_utf8(&record.payload) else {
                        continue;
                    };
                    if engine.process(record.event_time_us, payload, now) == Observation::TooLate
                        && record.offset >= late_written_up_to
                    {
                        late_letters.push(late_letter(record, payload, engine.watermark(), now));
                    }
                }
            }
            // Progress is published only after the batch is in the engine, so "caught up"
            // never runs ahead of what queries can see.
            self.mark_progress(reader.position(), end_at_start);
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
            self.log.commit_position(LATE_POSITION, reader.position())?;
        }
        Ok(())
    }
}

impl KpiService {
    fn mark_progress(&self, position: u64, end_at_start: u64) {
        self.position.store(position, Ordering::Relaxed);
        if position >= end_at_start {
            self.caught_up.store(true, Ordering::Relaxed);
        }
    }
}

fn late_letter(record: &StoredRecord, payload: &str, watermark: i64, now: i64) -> DeadLetter {
    DeadLetter {
        code: RejectionCode::Late.as_str().to_owned(),
        reason: format!(
            "late: event time {} is behind the watermark {} by more than the allowed lateness; not counted",
            format_rfc3339(record.event_time_us),
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
