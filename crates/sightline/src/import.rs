//! `sightline import`: backfill NDJSON files through the same validation, dedup and log
//! as HTTP ingest.
//!
//! Pipeline: one reader thread cuts files into chunks at line ends → parse workers (one
//! per core) validate chunks in parallel → the submitter re-orders them and commits in
//! file order, so the log holds events in the order of the files (as a live arrival in
//! that order would) and "first copy wins" for duplicates is deterministic.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use sightline_config::Config;
use sightline_engine::FieldReader;
use sightline_ingest::{
    IngestOptions, IngestService, Origin, PendingCommit, PreparedBatch, RawEvent,
};
use sightline_model::time::now_micros;
use sightline_server::feed::{FedBatch, FeedCollector, KpiFeed};
use sightline_server::kpis::KpiService;

const CHUNK_BYTES: usize = 2 << 20;
/// Commits handed to the writer and not yet answered; bounds memory, keeps it busy.
const COMMITS_IN_FLIGHT: usize = 4;
/// Rejections shown with their line in the summary.
const EXAMPLES_SHOWN: usize = 5;

struct Chunk {
    sequence: u64,
    file: usize,
    bytes: Vec<u8>,
}

struct PreparedChunk {
    sequence: u64,
    file: usize,
    /// Lines in the chunk, counted by the worker so the reader only moves bytes.
    lines: u64,
    input_bytes: u64,
    batch: PreparedBatch,
    /// The accepted events and their fields, for the KPI engine (when it runs).
    fed: Option<FedBatch>,
}

#[derive(Default)]
struct Summary {
    read: u64,
    accepted: u64,
    duplicates: u64,
    rejected_by_code: BTreeMap<&'static str, u64>,
    examples: Vec<String>,
    /// Events the engine found behind the watermark by more than the allowed lateness.
    late: Option<u64>,
    /// Group commits and the time spent writing and syncing them.
    syncs: (u64, std::time::Duration),
}

pub fn run(
    config: &Config,
    data_dir: &Path,
    files: &[PathBuf],
    progress: bool,
    with_kpis: bool,
) -> anyhow::Result<()> {
    let total_bytes: u64 = files
        .iter()
        .map(|path| {
            std::fs::metadata(path)
                .map(|meta| meta.len())
                .with_context(|| format!("cannot read {}", path.display()))
        })
        .sum::<anyhow::Result<u64>>()?;
    let ingest = IngestService::start(data_dir, IngestOptions::from_config(config))
        .with_context(|| format!("cannot open the data directory {}", data_dir.display()))?;
    let ingest = Arc::new(ingest);
    // The engine follows the log as it grows, as in the server: the import runs the whole
    // KPI pipeline, judges lateness, and leaves the late dead letters written once.
    let engine = crate::kpis::build_engine(config)?;
    // The engine is fed what the import commits (fields read during validation), rather
    // than reading it back from the log; see `sightline_server::feed`.
    let field_reader = engine.field_reader();
    let (kpis, feed) = match with_kpis {
        false => (None, None),
        true => {
            let (kpis, feed) = KpiService::start_fed(
                engine,
                ingest.log().clone(),
                Arc::clone(ingest.dead_letters()),
                Arc::clone(ingest.metrics()),
                crate::kpis::runner_storage(config, data_dir)?,
            )
            .context("cannot start the KPI engine thread")?;
            (Some(kpis), Some(Arc::new(feed)))
        }
    };
    let bar = progress_bar(total_bytes, progress);
    let started = Instant::now();

    let workers = std::thread::available_parallelism().map_or(2, |count| count.get());
    let (chunk_sender, chunk_receiver) = sync_channel::<Chunk>(workers * 2);
    let (prepared_sender, prepared_receiver) = sync_channel::<PreparedChunk>(workers * 2);
    let chunk_receiver = Arc::new(Mutex::new(chunk_receiver));
    let (recycle_sender, recycled) = std::sync::mpsc::channel::<Vec<u8>>();

    let reader = {
        let files = files.to_vec();
        std::thread::Builder::new()
            .name("import-reader".into())
            .spawn(move || read_files(&files, chunk_sender, recycled))?
    };
    let mut worker_threads = Vec::new();
    for worker in 0..workers {
        let receiver = Arc::clone(&chunk_receiver);
        let sender = prepared_sender.clone();
        let recycle = recycle_sender.clone();
        let ingest = Arc::clone(&ingest);
        let feeding = feed
            .as_ref()
            .map(|feed| (Arc::clone(feed), field_reader.clone(), field_reader.clone()));
        worker_threads.push(
            std::thread::Builder::new()
                .name(format!("import-parse-{worker}"))
                .spawn(move || prepare_chunks(&receiver, &sender, &recycle, &ingest, feeding))?,
        );
    }
    drop(prepared_sender);
    drop(recycle_sender);

    let summary = submit_in_order(&ingest, prepared_receiver, files, &bar, feed.as_deref());
    // Anything left after the feed goes is read from the log.
    drop(feed);
    let read_outcome = reader
        .join()
        .map_err(|_| anyhow::anyhow!("the file reader thread panicked"))?;
    for thread in worker_threads {
        thread
            .join()
            .map_err(|_| anyhow::anyhow!("a parse worker panicked"))?;
    }
    if let Some(kpis) = &kpis {
        kpis.wait_for_position(ingest.log().durable_end());
        kpis.shutdown();
    }
    ingest.shutdown();
    bar.finish_and_clear();
    read_outcome?;
    let mut summary = summary?;
    let fsyncs = &ingest.metrics().fsync_seconds;
    summary.syncs = (fsyncs.count(), fsyncs.sum());
    summary.late = kpis.is_some().then(|| {
        ingest
            .metrics()
            .rejected(sightline_model::RejectionCode::Late)
    });
    // The engine's state is millions of small allocations; the process is about to end
    // and the checkpoint holds the state, so freeing them one by one would only delay the
    // exit (about 0.1 s per million events).
    std::mem::forget(kpis);
    print_summary(&summary, started.elapsed());
    Ok(())
}

fn progress_bar(total_bytes: u64, enabled: bool) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total_bytes);
    let style = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta}) {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

/// Cuts every file into chunks that end at a line end. Chunk buffers come back from the
/// parse workers through `recycled` (fresh megabytes would each cost page faults).
fn read_files(
    files: &[PathBuf],
    chunks: SyncSender<Chunk>,
    recycled: Receiver<Vec<u8>>,
) -> anyhow::Result<()> {
    let mut sequence = 0;
    for (file_index, path) in files.iter().enumerate() {
        let mut input = open_input(path)?;
        let mut carry: Vec<u8> = Vec::new();
        loop {
            let mut buffer = recycled.try_recv().unwrap_or_default();
            buffer.clear();
            buffer.reserve(carry.len() + CHUNK_BYTES);
            buffer.append(&mut carry);
            let wanted = CHUNK_BYTES as u64;
            let count = (&mut input)
                .take(wanted)
                .read_to_end(&mut buffer)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let at_end = (count as u64) < wanted;
            if !at_end {
                // Keep the unfinished last line for the next chunk; a line longer than a
                // chunk simply keeps growing the carry.
                match memchr::memrchr(b'\n', &buffer) {
                    Some(last_newline) => {
                        carry.extend_from_slice(&buffer[last_newline + 1..]);
                        buffer.truncate(last_newline + 1);
                    }
                    None => {
                        carry = buffer;
                        continue;
                    }
                }
            }
            if !buffer.is_empty() {
                let chunk = Chunk {
                    sequence,
                    file: file_index,
                    bytes: buffer,
                };
                sequence += 1;
                if chunks.send(chunk).is_err() {
                    return Ok(());
                }
            }
            if at_end {
                break;
            }
        }
    }
    Ok(())
}

fn open_input(path: &Path) -> anyhow::Result<Box<dyn Read + Send>> {
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut magic = [0u8; 2];
    let is_gzip = file
        .read(&mut magic)
        .map(|count| count == 2 && magic == [0x1f, 0x8b])
        .unwrap_or(false);
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    if is_gzip {
        return Ok(Box::new(flate2::read::MultiGzDecoder::new(
            BufReader::with_capacity(1 << 20, file),
        )));
    }
    Ok(Box::new(file))
}

fn prepare_chunks(
    chunks: &Mutex<Receiver<Chunk>>,
    prepared: &SyncSender<PreparedChunk>,
    recycle: &std::sync::mpsc::Sender<Vec<u8>>,
    ingest: &IngestService,
    mut feeding: Option<(Arc<KpiFeed>, FieldReader, FieldReader)>,
) {
    loop {
        let next = chunks.lock().map(|receiver| receiver.recv());
        let Ok(Ok(chunk)) = next else {
            return;
        };
        let mut pieces = 0u64;
        let raw_events: Vec<RawEvent<'_>> = lines_of(&chunk.bytes)
            .enumerate()
            .inspect(|_| pieces += 1)
            .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
            .map(|(index, bytes)| RawEvent {
                index,
                bytes,
                decode_error: None,
            })
            .collect();
        let this_feed = feeding
            .as_mut()
            .map(|(feed, reader, fallback)| (&**feed, &*reader, fallback));
        let (batch, fed) = prepare_for_feed(ingest, &raw_events, chunk.bytes.len(), this_feed);
        drop(raw_events);
        // A chunk ends at a line end except at the end of its file: n newlines make n + 1
        // pieces, the last one empty.
        let lines = if chunk.bytes.ends_with(b"\n") {
            pieces - 1
        } else {
            pieces
        };
        let done = PreparedChunk {
            sequence: chunk.sequence,
            file: chunk.file,
            lines,
            input_bytes: chunk.bytes.len() as u64,
            batch,
            fed,
        };
        // The reader may be gone (end of input); the buffer is then simply freed.
        let _ = recycle.send(chunk.bytes);
        if prepared.send(done).is_err() {
            return;
        }
    }
}

/// Validates `raw_events` (`bytes` long in all); with a feed, also collects the accepted
/// events and the fields their KPIs read, for the engine once the batch is durable.
pub(crate) fn prepare_for_feed(
    ingest: &IngestService,
    raw_events: &[RawEvent<'_>],
    bytes: usize,
    feeding: Option<(&KpiFeed, &FieldReader, &mut FieldReader)>,
) -> (PreparedBatch, Option<FedBatch>) {
    let Some((feed, reader, fallback)) = feeding else {
        return (ingest.prepare(raw_events, now_micros()), None);
    };
    let mut fed = feed.empty_batch();
    fed.reserve(raw_events.len(), bytes);
    let mut collector = FeedCollector::new(reader, fallback, fed);
    let batch = ingest.prepare_observed(raw_events, now_micros(), &mut collector);
    (batch, Some(collector.into_batch()))
}

/// Waits for a commit and hands the engine what it appended (see `FedBatch::committed_as`).
pub(crate) fn settle_fed(
    pending: PendingCommit,
    fed: Option<FedBatch>,
    feed: Option<&KpiFeed>,
) -> anyhow::Result<sightline_ingest::CommitOutcome> {
    let outcome = pending.wait_blocking()?;
    if let (Some(mut fed), Some(feed)) = (fed, feed) {
        fed.committed_as(&outcome);
        // A stopped engine is reported at the end, by its wait.
        feed.send(fed);
    }
    Ok(outcome)
}

/// The pieces of `bytes` between newlines (as `split` gives them: n newlines, n + 1
/// pieces), found with `memchr` rather than byte by byte.
fn lines_of(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    let mut newlines = memchr::memchr_iter(b'\n', bytes);
    let mut finished = false;
    std::iter::from_fn(move || {
        if finished {
            return None;
        }
        match newlines.next() {
            Some(end) => {
                let line = &bytes[start..end];
                start = end + 1;
                Some(line)
            }
            None => {
                finished = true;
                Some(&bytes[start..])
            }
        }
    })
}

/// Commits prepared chunks in their original order and totals the outcomes.
fn submit_in_order(
    ingest: &IngestService,
    prepared: Receiver<PreparedChunk>,
    files: &[PathBuf],
    bar: &ProgressBar,
    feed: Option<&KpiFeed>,
) -> anyhow::Result<Summary> {
    let mut summary = Summary::default();
    let mut waiting: BTreeMap<u64, PreparedChunk> = BTreeMap::new();
    let mut next_sequence = 0;
    let mut in_flight = VecDeque::new();
    let mut current_file = 0;
    let mut first_line_of_chunk = 0u64;
    for chunk in prepared {
        waiting.insert(chunk.sequence, chunk);
        while let Some(chunk) = waiting.remove(&next_sequence) {
            next_sequence += 1;
            if chunk.file != current_file {
                current_file = chunk.file;
                first_line_of_chunk = 0;
            }
            summary.read += (chunk.batch.valid_count() + chunk.batch.rejected().len()) as u64;
            for rejected in chunk.batch.rejected() {
                *summary
                    .rejected_by_code
                    .entry(rejected.code.as_str())
                    .or_default() += 1;
                if summary.examples.len() < EXAMPLES_SHOWN {
                    let line = first_line_of_chunk + rejected.index as u64 + 1;
                    summary.examples.push(format!(
                        "{}:{line}: {}",
                        files[chunk.file].display(),
                        rejected.reason
                    ));
                }
            }
            bar.inc(chunk.input_bytes);
            first_line_of_chunk += chunk.lines;
            in_flight.push_back((
                ingest.submit_blocking(chunk.batch, Origin::Import)?,
                chunk.fed,
            ));
            if in_flight.len() >= COMMITS_IN_FLIGHT
                && let Some((pending, fed)) = in_flight.pop_front()
            {
                settle(pending, fed, feed, &mut summary)?;
            }
        }
    }
    for (pending, fed) in in_flight {
        settle(pending, fed, feed, &mut summary)?;
    }
    Ok(summary)
}

/// Waits for a commit, counts it, and feeds what it appended to the engine.
fn settle(
    pending: PendingCommit,
    fed: Option<FedBatch>,
    feed: Option<&KpiFeed>,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let outcome = settle_fed(pending, fed, feed)?;
    summary.accepted += outcome.accepted as u64;
    summary.duplicates += outcome.duplicates as u64;
    Ok(())
}

fn print_summary(summary: &Summary, elapsed: std::time::Duration) {
    let rejected: u64 = summary.rejected_by_code.values().sum();
    let seconds = elapsed.as_secs_f64().max(1e-9);
    println!("import finished in {:.2} s", seconds);
    println!("  read        {}", summary.read);
    println!("  accepted    {}", summary.accepted);
    println!("  duplicates  {}", summary.duplicates);
    println!("  rejected    {rejected}");
    for (code, count) in &summary.rejected_by_code {
        println!("    {code:<24} {count}");
    }
    for example in &summary.examples {
        println!("    e.g. {example}");
    }
    match summary.late {
        Some(0) => println!("  late        0"),
        Some(late) => {
            println!(
                "  late        {late} (not counted by KPIs; see /v1/dead-letters?reason=late)"
            );
            // The usual cause is a file in the wrong order, not data that was late.
            println!(
                "              events are judged in file order against the newest time seen so far: sort the file by event time, oldest first, and import it into a fresh data directory so every event counts"
            );
        }
        None => println!(
            "  late        not judged (--no-kpis: the server judges lateness when it replays the log)"
        ),
    }
    println!("  events/s    {:.0}", summary.read as f64 / seconds);
    println!(
        "  durable     {} group commits, {:.2} s writing and syncing",
        summary.syncs.0,
        summary.syncs.1.as_secs_f64()
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn lines_are_the_pieces_between_newlines() {
        for text in ["", "a", "a\n", "a\nb", "\n\n", "ab\n\ncd\n"] {
            let expected: Vec<&[u8]> = text.as_bytes().split(|byte| *byte == b'\n').collect();
            let found: Vec<&[u8]> = super::lines_of(text.as_bytes()).collect();
            assert_eq!(found, expected, "{text:?}");
        }
    }
}
