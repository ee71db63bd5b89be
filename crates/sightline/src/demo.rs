//! `sightline demo`: the server plus built-in traffic of a store and its operations, so a
//! first-time user sees every widget alive within a minute.
//!
//! 1. The data directory (its own, `./sightline-demo-data`, never the configured one) is
//!    opened with a fed KPI engine, and the listening line is printed.
//! 2. History is backfilled in this process, before the server answers, through the
//!    path `sightline import` uses: validated, committed by the ingest writer, and fed to
//!    the engine once durable. The first time it starts at the beginning of the previous
//!    calendar month (at least five weeks back) so month-to-date, weekly comparisons and
//!    baselines have data at once; after a restart it starts where the log ends, so
//!    nothing is generated twice and there is no hole. Older history is lean (orders,
//!    payments, refunds, production: what the historical KPIs read; payments only as far
//!    back as history keeps minute windows, see `Traffic::Sparse`), the last two hours
//!    are full traffic so the sliding windows are warm.
//! 3. Live traffic follows the clock, committed every 200 ms through the same
//!    `IngestService` as `POST /v1/events` (in-process, so each event is durable and
//!    counted once), with an incident every few minutes.
//!
//! Every run draws a new seed, which tags every id: a restart never repeats an id of an
//! earlier run (the dedup index would drop it) and never collides with one.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use sightline_config::Config;
use sightline_engine::{Calendar, FieldReader};
use sightline_generator::scenario::{Change, IncidentSchedule, Rates, Rhythm, Scenario};
use sightline_generator::time::format_rfc3339_millis;
use sightline_generator::{GeneratorConfig, Traffic};
use sightline_ingest::{IngestService, Origin, RawEvent};
use sightline_log::LogHandle;
use sightline_model::time::{civil_from_days, days_from_civil, now_micros};
use sightline_server::feed::KpiFeed;

use crate::serve::{Following, Running};

/// Where the demo keeps its data unless `--data-dir` says otherwise: apart from
/// `serve`'s, so demo events never mix with real ones.
pub const DEFAULT_DATA_DIR: &str = "./sightline-demo-data";

const US_PER_SECOND: i64 = 1_000_000;
const US_PER_HOUR: i64 = 3_600 * US_PER_SECOND;
const US_PER_DAY: i64 = 24 * US_PER_HOUR;
/// History before this much before now is lean (see `Traffic::Lean`).
const FULL_TRAFFIC_FOR_US: i64 = 2 * US_PER_HOUR;
/// At least this much history on the first start: four full weeks for baselines of the
/// same hour of the week, and the same weekday last week.
const MIN_HISTORY_US: i64 = 35 * US_PER_DAY;
/// Catalogue size: a small shop, so a dashboard's inventory table stays readable.
const DEMO_SKUS: u32 = 200;
/// The nominal event rate: follow-up delays (payment, picking, restocks, the ship-by
/// deadline) are counted in events at this rate.
const NOMINAL_EVENTS_PER_SECOND: f64 = 25.0;
/// How often live traffic is committed: often enough that a dashboard moves smoothly.
const LIVE_EVERY: Duration = Duration::from_millis(200);
/// Backfill commits of about this many bytes of NDJSON.
const BACKFILL_CHUNK_BYTES: usize = 4 << 20;
/// Backfill commits handed to the writer and not yet answered.
const COMMITS_IN_FLIGHT: usize = 4;
/// Backfill generation steps through event time this far at a time.
const BACKFILL_STEP_US: i64 = 5 * 60 * US_PER_SECOND;

/// The alert rules the demo runs with when the configuration names no alerting file.
pub const DEMO_ALERT_RULES: &str = include_str!("demo_alerts.toml");

pub fn run(
    mut config: Config,
    data_dir: Option<PathBuf>,
    listen: Option<std::net::SocketAddr>,
) -> anyhow::Result<()> {
    config.storage.data_dir = data_dir.unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
    // The incidents fire real alerts: the demo's rules, unless the user gave their own.
    if config.alerts.file.is_none() {
        config.alerts.builtin_rules = Some(DEMO_ALERT_RULES);
    }
    if let Some(listen) = listen {
        config.server.listen = listen;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("sightline-worker")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(demo(config))
}

async fn demo(config: Config) -> anyhow::Result<()> {
    let started = Instant::now();
    let calendar = Calendar::new(&config.time.zone)
        .map_err(|message| anyhow::anyhow!("time.zone: {message}"))?;
    let opened = crate::serve::open(&config, Following::FedThenLog).await?;
    let signal = crate::serve::shutdown_signal();
    let (listener, address) = crate::serve::bind(&config).await?;

    // Ctrl-C or SIGTERM: during the backfill it stops generating (what was committed
    // stays, a restart continues from there); then it stops the server.
    let stop = Arc::new(AtomicBool::new(false));
    let (stopped_sender, mut stopped) = tokio::sync::watch::channel(false);
    {
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            signal.await;
            stop.store(true, Ordering::Relaxed);
            let _ = stopped_sender.send(true);
        });
    }

    let now_us = now_micros();
    let last_event_us = {
        let log = opened.ingest.log().clone();
        tokio::task::spawn_blocking(move || newest_event_time(&log))
            .await
            .context("start-up task failed")??
    };
    let mut plan = BackfillPlan::new(now_us, last_event_us, &calendar);
    if let Some(minute_windows_us) = config.history.minute_windows.as_micros() {
        plan.lean_from_us = (now_us - minute_windows_us).clamp(plan.from_us, plan.full_from_us);
    }
    println!("demo: {}", plan.describe());

    let feed = opened.feed;
    let field_reader = opened.kpis.engine().field_reader();
    let backfill = {
        let ingest = Arc::clone(&opened.ingest);
        let stop = Arc::clone(&stop);
        tokio::task::spawn_blocking(move || backfill(&ingest, feed, field_reader, plan, &stop))
            .await
            .context("the backfill task failed")??
    };
    let Backfilled {
        mut scenario,
        events,
        elapsed,
    } = backfill;
    tracing::info!(
        events,
        seconds = elapsed.as_secs_f64(),
        "demo history backfilled"
    );
    if !stop.load(Ordering::Relaxed) {
        // From now: the backfill took a few seconds, and the first incident must come
        // soon after the user can look.
        scenario.set_incidents(IncidentSchedule::new(
            seed_of_run(now_us) ^ 0x1c1d,
            now_micros(),
        ));
        println!(
            "demo: {events} events of history in {:.1} s; ready in {:.1} s",
            elapsed.as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
        println!("demo: open http://{address}/ (live traffic, ~25 events/s)");
        if let Some(next) = scenario.next_incident() {
            println!(
                "demo: an incident every 4 minutes; first in {} s: {}",
                (next.start_us - now_micros()).max(0) / US_PER_SECOND,
                scenario.describe(&next)
            );
        }
    }

    let live = {
        let ingest = Arc::clone(&opened.ingest);
        let stop = Arc::clone(&stop);
        tokio::spawn(live_traffic(ingest, scenario, stop))
    };
    let stop_signal = async move {
        let _ = stopped.wait_for(|stopped| *stopped).await;
    };
    let wind_down = async move {
        stop.store(true, Ordering::Relaxed);
        match live.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "demo traffic stopped"),
            Err(error) => tracing::warn!(%error, "demo traffic task failed"),
        }
    };
    crate::serve::run_server(
        &config,
        Running {
            ingest: opened.ingest,
            kpis: opened.kpis,
            listener,
            address,
        },
        stop_signal,
        wind_down,
    )
    .await
}

/// What history to generate.
#[derive(Debug, Clone, Copy)]
struct BackfillPlan {
    /// The generator's clock starts here: a day start the first time, just after the
    /// newest stored event after a restart.
    from_us: i64,
    /// Lean traffic (with payments) from here on; sparse before.
    lean_from_us: i64,
    /// Full traffic from here on.
    full_from_us: i64,
    to_us: i64,
    rhythm: Rhythm,
    first_start: bool,
}

impl BackfillPlan {
    fn new(now_us: i64, newest_stored_us: Option<i64>, calendar: &Calendar) -> BackfillPlan {
        let utc_offset_us = utc_offset_us(calendar, now_us);
        let rhythm = Rhythm {
            utc_offset_minutes: (utc_offset_us / (60 * US_PER_SECOND)) as i32,
        };
        let (from_us, first_start) = match newest_stored_us {
            // Continue just after what is there: no second history, no hole.
            Some(newest) => ((newest + 1).min(now_us), false),
            None => {
                let month_start = start_of_previous_month(calendar, now_us, utc_offset_us);
                let weeks_back = calendar.day_start(now_us - MIN_HISTORY_US);
                (month_start.min(weeks_back), true)
            }
        };
        let full_from_us = (now_us - FULL_TRAFFIC_FOR_US).max(from_us);
        BackfillPlan {
            from_us,
            lean_from_us: full_from_us,
            full_from_us,
            to_us: now_us,
            rhythm,
            first_start,
        }
    }

    /// The traffic of history at `time_us`, and where it ends.
    fn traffic_at(&self, time_us: i64) -> (Traffic, i64) {
        if time_us < self.lean_from_us {
            return (Traffic::Sparse, self.lean_from_us);
        }
        if time_us < self.full_from_us {
            return (Traffic::Lean, self.full_from_us);
        }
        (Traffic::Full, self.to_us)
    }

    fn describe(&self) -> String {
        let from = format_rfc3339_millis(self.from_us);
        let days = (self.to_us - self.from_us) as f64 / US_PER_DAY as f64;
        match self.first_start {
            true => format!("generating history since {from} ({days:.0} days)…"),
            false if days >= 1.0 => {
                format!("filling the gap since the last event, {from} ({days:.0} days)…")
            }
            false => {
                let minutes = (self.to_us - self.from_us) / (60 * US_PER_SECOND);
                format!("filling the gap since the last event, {from} ({minutes} min)…")
            }
        }
    }
}

/// The zone's offset from UTC at `time_us` (local minus UTC), from where its day starts.
fn utc_offset_us(calendar: &Calendar, time_us: i64) -> i64 {
    let local_time_of_day = time_us - calendar.day_start(time_us);
    let mut offset = local_time_of_day - time_us.rem_euclid(US_PER_DAY);
    // Local and UTC may be on different dates: offsets lie within -12 h .. +14 h.
    if offset > 14 * US_PER_HOUR {
        offset -= US_PER_DAY;
    } else if offset < -12 * US_PER_HOUR {
        offset += US_PER_DAY;
    }
    offset
}

/// Midnight (business time) of the first day of the month before `time_us`'s.
fn start_of_previous_month(calendar: &Calendar, time_us: i64, utc_offset_us: i64) -> i64 {
    let local_day = (time_us + utc_offset_us).div_euclid(US_PER_DAY);
    let (year, month, _) = civil_from_days(local_day);
    let (year, month) = match month {
        1 => (year - 1, 12),
        month => (year, month - 1),
    };
    // Local noon of that first day is on that day whatever the offset was then (DST).
    let noon_us = days_from_civil(year, month, 1) * US_PER_DAY + 12 * US_PER_HOUR - utc_offset_us;
    calendar.day_start(noon_us)
}

/// The newest event time among the log's last records (the demo writes in time order;
/// events posted by hand may be older, never newer than now), `None` for an empty log.
fn newest_event_time(log: &LogHandle) -> anyhow::Result<Option<i64>> {
    const TAIL: u64 = 4096;
    let end = log.durable_end();
    let from = end.saturating_sub(TAIL).max(log.first_offset());
    if from >= end {
        return Ok(None);
    }
    let mut reader = log
        .reader(from)
        .context("cannot read the event log's end")?;
    let mut records = Vec::new();
    let mut newest = None;
    loop {
        records.clear();
        let count = reader
            .read_batch(1024, &mut records)
            .context("cannot read the event log's end")?;
        if count == 0 {
            return Ok(newest);
        }
        for record in &records {
            newest = newest.max(Some(record.event_time_us));
        }
    }
}

/// A seed of its own for every run, from the clock: ids never repeat an earlier run's.
fn seed_of_run(now_us: i64) -> u64 {
    let mut state = now_us as u64 ^ 0x5167_6874_6c69_6e65;
    sightline_generator::rng::splitmix64(&mut state)
}

struct Backfilled {
    scenario: Scenario,
    events: u64,
    elapsed: Duration,
}

/// Generates the plan's history and commits it as `sightline import` does: validated
/// with the KPI fields collected, committed in order (a few commits in flight), each fed
/// to the engine once durable. Drops the feed at the end: the engine then follows the log.
fn backfill(
    ingest: &IngestService,
    feed: Option<KpiFeed>,
    field_reader: FieldReader,
    plan: BackfillPlan,
    stop: &AtomicBool,
) -> anyhow::Result<Backfilled> {
    let started = Instant::now();
    let generator_config = GeneratorConfig {
        seed: seed_of_run(plan.to_us),
        start_time_us: plan.from_us,
        events_per_second: NOMINAL_EVENTS_PER_SECOND,
        source: "demo/shop".to_string(),
        currency: "EUR".to_string(),
        sku_count: DEMO_SKUS,
        disorder_us: 0,
    };
    let mut scenario = Scenario::new(generator_config, plan.rhythm, Rates::default());
    let mut fallback_reader = field_reader.clone();
    let mut in_flight = std::collections::VecDeque::new();
    let mut text = String::with_capacity(BACKFILL_CHUNK_BYTES + (64 << 10));
    let mut changes = Vec::new();
    let mut events = 0;
    let mut until_us = plan.from_us;
    while until_us < plan.to_us && !stop.load(Ordering::Relaxed) {
        let (traffic, traffic_ends_us) = plan.traffic_at(until_us);
        if scenario.generator().traffic() != traffic {
            scenario.set_traffic(traffic);
        }
        until_us = (until_us + BACKFILL_STEP_US).min(traffic_ends_us);
        events += scenario.generate_until(until_us, &mut text, &mut changes);
        if text.len() < BACKFILL_CHUNK_BYTES && until_us < plan.to_us {
            continue;
        }
        let raw_events: Vec<RawEvent<'_>> = text
            .lines()
            .enumerate()
            .map(|(index, line)| RawEvent {
                index,
                bytes: line.as_bytes(),
                decode_error: None,
            })
            .collect();
        let feeding = feed
            .as_ref()
            .map(|feed| (feed, &field_reader, &mut fallback_reader));
        let (batch, fed) =
            crate::import::prepare_for_feed(ingest, &raw_events, text.len(), feeding);
        if let Some(rejected) = batch.rejected().first() {
            // The generator writes valid events only: a rejection is a bug, said loudly.
            anyhow::bail!(
                "a generated event was rejected ({}); please report this",
                rejected.reason
            );
        }
        drop(raw_events);
        text.clear();
        in_flight.push_back((ingest.submit_blocking(batch, Origin::Import)?, fed));
        if in_flight.len() >= COMMITS_IN_FLIGHT
            && let Some((pending, fed)) = in_flight.pop_front()
        {
            crate::import::settle_fed(pending, fed, feed.as_ref())?;
        }
    }
    for (pending, fed) in in_flight {
        crate::import::settle_fed(pending, fed, feed.as_ref())?;
    }
    Ok(Backfilled {
        scenario,
        events,
        elapsed: started.elapsed(),
    })
}

/// Live traffic: every `LIVE_EVERY`, the events up to now, committed as one batch and
/// awaited (acknowledged = durable), until `stop`. Incidents are announced on stdout.
async fn live_traffic(
    ingest: Arc<IngestService>,
    mut scenario: Scenario,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let mut ticks = tokio::time::interval(LIVE_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut text = String::new();
    let mut changes = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        ticks.tick().await;
        text.clear();
        changes.clear();
        scenario.generate_until(now_micros(), &mut text, &mut changes);
        for change in &changes {
            announce(&scenario, change);
        }
        if text.is_empty() {
            continue;
        }
        let raw_events: Vec<RawEvent<'_>> = text
            .lines()
            .enumerate()
            .map(|(index, line)| RawEvent {
                index,
                bytes: line.as_bytes(),
                decode_error: None,
            })
            .collect();
        let batch = ingest.prepare(&raw_events, now_micros());
        drop(raw_events);
        // The same commit as POST /v1/events; the writer stopping ends the traffic.
        ingest
            .commit(batch, Origin::Http)
            .await
            .context("the demo's live traffic could not be stored")?;
    }
    Ok(())
}

fn announce(scenario: &Scenario, change: &Change) {
    match change {
        Change::IncidentStarted(incident) => println!(
            "demo: incident: {} (see {})",
            scenario.describe(incident),
            incident.kind.kpi()
        ),
        Change::IncidentEnded(incident) => {
            println!("demo: resolved: {}", scenario.describe(incident))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previous_month_starts_at_local_midnight() {
        let utc = Calendar::utc();
        // 2026-11-28T08:00:00Z → 2026-10-01T00:00:00Z.
        let now = 1_795_852_800_000_000 + 8 * US_PER_HOUR;
        assert_eq!(
            start_of_previous_month(&utc, now, 0),
            days_from_civil(2026, 10, 1) * US_PER_DAY
        );
        // January → December of the year before.
        let january = days_from_civil(2027, 1, 15) * US_PER_DAY;
        assert_eq!(
            start_of_previous_month(&utc, january, 0),
            days_from_civil(2026, 12, 1) * US_PER_DAY
        );
        let berlin = Calendar::new("Europe/Berlin").expect("a tzdb zone");
        let offset = utc_offset_us(&berlin, now);
        assert_eq!(offset, US_PER_HOUR);
        // 2026-10-01 00:00 in Berlin is 2026-09-30T22:00:00Z (summer time).
        assert_eq!(
            start_of_previous_month(&berlin, now, offset),
            days_from_civil(2026, 10, 1) * US_PER_DAY - 2 * US_PER_HOUR
        );
    }

    #[test]
    fn a_restart_continues_after_the_newest_event() {
        let utc = Calendar::utc();
        let now = 1_795_852_800_000_000;
        let first = BackfillPlan::new(now, None, &utc);
        assert!(first.first_start && first.from_us <= now - MIN_HISTORY_US);
        assert_eq!(first.full_from_us, now - FULL_TRAFFIC_FOR_US);
        let again = BackfillPlan::new(now, Some(now - 10 * 60 * US_PER_SECOND), &utc);
        assert!(!again.first_start);
        assert_eq!(again.from_us, now - 10 * 60 * US_PER_SECOND + 1);
        assert_eq!(again.full_from_us, again.from_us);
    }

    #[test]
    fn the_demo_alert_rules_read_kpis_and_windows_of_the_built_in_pack() {
        let mut config = sightline_config::Config::default();
        config.alerts.builtin_rules = Some(DEMO_ALERT_RULES);
        // check_alerting refuses a rule over a KPI or window the pack does not define.
        let kpis = crate::kpis::compile_kpis(&config).expect("the pack compiles");
        crate::kpis::check_alerting(&config, &kpis).expect("the demo's rules fit the pack");
        let alerts = sightline_server::alerting::load_config(&config).expect("valid rules");
        assert_eq!(alerts.rules.len(), 4);
    }
}
