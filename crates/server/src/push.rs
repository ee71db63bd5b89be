//! Live push of KPI updates: the engine's changes, gathered and sent to every client
//! (`GET /v1/stream`), with no polling floor.
//!
//! A publisher thread wakes every `[push] coalesce` (100 ms by default), asks the engine
//! which windows the events and the clock changed since its last round
//! (`Engine::changed_windows`), and sends each window that differs from what it sent
//! before: a window that changed ten times in a round goes out once, with its latest
//! value. Each update is a frame with a sequence number; the hub keeps the last
//! `RESUME_FRAMES` so a client that reconnects with `Last-Event-ID` gets what it missed,
//! or a fresh snapshot when that is no longer held.
//!
//! A slow client never slows the engine or the others: frames reach clients through a
//! broadcast channel that never blocks the publisher and holds at most
//! `CLIENT_BACKLOG` frames per client. A client that falls further behind loses the
//! backlog and gets a snapshot instead (its windows' latest values: the backlog
//! conflated); one that keeps falling behind is told why and disconnected.
//!
//! A window with many groups (stock per SKU and warehouse, revenue per product) changes
//! a few groups at a time: sending all of them on every change would cost a dashboard
//! hundreds of kilobytes a round. So from `DELTA_MIN_GROUPS` groups on, a frame after
//! the first carries only the groups whose value changed, with `"partial": true` (and
//! `"removed"`: groups gone from the window). A client applies it to the window it holds.
//! That is safe because a client only ever holds what it was sent in order: resuming
//! replays every frame after the one it saw, and anything else starts with a snapshot,
//! which carries whole windows.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::broadcast;

use crate::kpis::{AnsweredWindow, KpiService};
use crate::routes::kpis::{GroupValue, WindowAnswer, answer};

/// Frames kept for clients that resume with `Last-Event-ID`.
const RESUME_FRAMES: usize = 10_000;
/// Frames a client may be behind before it is given a snapshot instead.
const CLIENT_BACKLOG: usize = 4_096;
/// Windows with at least this many groups are sent as changes after their first frame.
const DELTA_MIN_GROUPS: usize = 64;
/// Windows remembered as sent reach back this far behind the watermark; an older window
/// that changes (a late correction past it) is simply sent again.
const REMEMBER_SENT_US: i64 = 3 * 86_400_000_000;

/// One update: a window of a KPI, as `GET /v1/kpis/{name}` answers it, plus `"name"`.
#[derive(Debug)]
pub struct Frame {
    pub id: u64,
    pub kpi: String,
    /// The JSON of the window.
    pub data: String,
}

#[derive(Serialize)]
struct NamedWindow<'a> {
    name: &'a str,
    #[serde(flatten)]
    window: WindowAnswer,
}

/// A frame of only the groups that changed in a big window.
#[derive(Serialize)]
struct PartialWindow<'a> {
    name: &'a str,
    window: &'a str,
    start: &'a str,
    end: &'a str,
    #[serde(rename = "final")]
    is_final: bool,
    partial: bool,
    values: Vec<&'a GroupValue>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    removed: Vec<&'a serde_json::Map<String, serde_json::Value>>,
}

/// What was last sent of one window.
enum Sent {
    /// A hash of the whole frame.
    Whole(u64),
    /// Per group (a hash of its group fields): a hash of its value and the group fields.
    Groups(HashMap<u64, (u64, serde_json::Map<String, serde_json::Value>)>),
}

/// The frame to send for `window` of `kpi` given what was sent of it before (`None`:
/// unchanged), and what to remember as sent now.
fn next_frame(kpi: &str, window: &AnsweredWindow, before: Option<&Sent>) -> (Option<String>, Sent) {
    let named = NamedWindow {
        name: kpi,
        window: answer(window),
    };
    let was_grouped = matches!(before, Some(Sent::Groups(_)));
    if named.window.values.len() < DELTA_MIN_GROUPS && !was_grouped {
        let data = serde_json::to_string(&named).unwrap_or_default();
        let hash = xxhash_rust::xxh3::xxh3_64(data.as_bytes());
        let unchanged = matches!(before, Some(Sent::Whole(sent)) if *sent == hash);
        return (if unchanged { None } else { Some(data) }, Sent::Whole(hash));
    }
    let mut groups = HashMap::with_capacity(named.window.values.len());
    let mut changed = Vec::new();
    let previous = match before {
        Some(Sent::Groups(previous)) => Some(previous),
        _ => None,
    };
    for value in &named.window.values {
        let group_json = serde_json::to_string(&value.group).unwrap_or_default();
        let group_key = xxhash_rust::xxh3::xxh3_64(group_json.as_bytes());
        let value_json = serde_json::to_string(value).unwrap_or_default();
        let value_hash = xxhash_rust::xxh3::xxh3_64(value_json.as_bytes());
        let same = previous
            .and_then(|previous| previous.get(&group_key))
            .is_some_and(|(sent, _)| *sent == value_hash);
        if !same {
            changed.push(value);
        }
        groups.insert(group_key, (value_hash, value.group.clone()));
    }
    let Some(previous) = previous else {
        let data = serde_json::to_string(&named).unwrap_or_default();
        return (Some(data), Sent::Groups(groups));
    };
    let removed: Vec<&serde_json::Map<String, serde_json::Value>> = previous
        .iter()
        .filter(|(group_key, _)| !groups.contains_key(*group_key))
        .map(|(_, (_, group))| group)
        .collect();
    if changed.is_empty() && removed.is_empty() {
        return (None, Sent::Groups(groups));
    }
    let partial = PartialWindow {
        name: kpi,
        window: &named.window.window,
        start: &named.window.start,
        end: &named.window.end,
        is_final: named.window.is_final,
        partial: true,
        values: changed,
        removed,
    };
    let data = serde_json::to_string(&partial).unwrap_or_default();
    (Some(data), Sent::Groups(groups))
}

/// The JSON a frame carries for `window` of `kpi`.
pub fn frame_data(kpi: &str, window: &AnsweredWindow) -> String {
    let named = NamedWindow {
        name: kpi,
        window: answer(window),
    };
    serde_json::to_string(&named).unwrap_or_default()
}

#[derive(Debug)]
pub struct PushHub {
    frames: broadcast::Sender<Arc<Frame>>,
    recent: Mutex<VecDeque<Arc<Frame>>>,
    /// The id of the last frame published (the first id less one when none yet).
    last_id: AtomicU64,
    /// `last_id` before the first frame: frames published = `last_id - id_base`.
    id_base: u64,
    clients: AtomicUsize,
    pub heartbeat: Duration,
    /// Set when the server stops: streams say so and end (else a graceful stop would
    /// wait for them forever).
    closing: tokio::sync::watch::Sender<bool>,
}

impl PushHub {
    /// A hub whose frame ids start above every id an earlier run of the server gave out:
    /// they count on from the start time in microseconds. A browser that reconnects to
    /// a restarted server with the `Last-Event-ID` of the old process then always names
    /// an id this hub never held, and gets a snapshot, never a "resume" from frames that
    /// happen to carry the same numbers but different data. (A run would have to publish
    /// more than a million frames a second to catch up with the clock.)
    pub fn new(heartbeat: Duration) -> Arc<PushHub> {
        let started_us = u64::try_from(sightline_model::time::now_micros()).unwrap_or(0);
        PushHub::starting_after(heartbeat, started_us)
    }

    /// A hub whose first frame has id `last_id + 1`.
    pub fn starting_after(heartbeat: Duration, last_id: u64) -> Arc<PushHub> {
        let (frames, _) = broadcast::channel(CLIENT_BACKLOG);
        Arc::new(PushHub {
            frames,
            recent: Mutex::new(VecDeque::with_capacity(RESUME_FRAMES)),
            last_id: AtomicU64::new(last_id),
            id_base: last_id,
            clients: AtomicUsize::new(0),
            heartbeat,
            closing: tokio::sync::watch::Sender::new(false),
        })
    }

    /// A receiver of every frame published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Frame>> {
        self.frames.subscribe()
    }

    /// Tells every stream the server is stopping.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Changes to `true` when the server stops.
    pub fn closing(&self) -> tokio::sync::watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// The id of the last frame published.
    pub fn last_id(&self) -> u64 {
        self.last_id.load(Ordering::Acquire)
    }

    /// Frames published by this process (ids start at the start time, not at 1).
    pub fn frames_published(&self) -> u64 {
        self.last_id().saturating_sub(self.id_base)
    }

    /// The frames published after `id`, oldest first, when the hub still holds all of
    /// them; `None` when some are gone (or `id` was never published): the client needs a
    /// snapshot.
    pub fn since(&self, id: u64) -> Option<Vec<Arc<Frame>>> {
        let recent = self.recent.lock().ok()?;
        let last = recent.back().map_or(self.last_id(), |frame| frame.id);
        if id > last {
            return None;
        }
        if id == last {
            return Some(Vec::new());
        }
        let oldest = recent.front()?.id;
        if id + 1 < oldest {
            return None;
        }
        Some(
            recent
                .iter()
                .filter(|frame| frame.id > id)
                .cloned()
                .collect(),
        )
    }

    /// Connected stream clients (a gauge in `/metrics`).
    pub fn clients(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }

    pub(crate) fn client_connected(&self) {
        self.clients.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn client_gone(&self) {
        self.clients.fetch_sub(1, Ordering::Relaxed);
    }

    fn publish(&self, kpi: &str, data: String) {
        let Ok(mut recent) = self.recent.lock() else {
            return;
        };
        let id = self.last_id.load(Ordering::Relaxed) + 1;
        let frame = Arc::new(Frame {
            id,
            kpi: kpi.to_owned(),
            data,
        });
        if recent.len() == RESUME_FRAMES {
            recent.pop_front();
        }
        recent.push_back(Arc::clone(&frame));
        // Under the lock, so `since` and `last_id` agree with what was sent.
        self.last_id.store(id, Ordering::Release);
        // No receiver is not an error: nobody is watching.
        let _ = self.frames.send(frame);
    }
}

/// Starts the publisher thread; it ends when `stop` is set.
pub fn start_publisher(
    hub: Arc<PushHub>,
    kpis: Arc<KpiService>,
    every: Duration,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("sightline-push".into())
        .spawn(move || {
            let mut publisher = Publisher::new(&kpis);
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(every);
                publisher.round(&hub, &kpis);
            }
        })
}

/// What the publisher remembers between rounds.
struct Publisher {
    names: Vec<String>,
    watermark: i64,
    /// Per (KPI, window label, start): what was last sent.
    sent: HashMap<(String, String, i64), Sent>,
    rounds: u64,
}

impl Publisher {
    fn new(kpis: &KpiService) -> Publisher {
        let mut engine = kpis.engine();
        // What the engine counted before the publisher started (a backfill fed straight
        // to it, as `sightline demo` does) is not an update: clients get it in their
        // snapshot. Sent as updates, weeks of windows would burst past every client's
        // backlog at once and have them all dropped as too slow.
        drop(engine.take_touched());
        Publisher {
            names: engine.kpis().map(|kpi| kpi.name.clone()).collect(),
            watermark: engine.watermark(),
            sent: HashMap::new(),
            rounds: 0,
        }
    }

    /// Sends every window changed since the last round.
    fn round(&mut self, hub: &PushHub, kpis: &KpiService) {
        let (touched, watermark) = {
            let mut engine = kpis.engine();
            (engine.take_touched(), engine.watermark())
        };
        // While the engine replays the log at start-up, every window changes; clients
        // connecting then get snapshots, and live updates start once it has caught up.
        if !kpis.is_caught_up() {
            self.watermark = watermark;
            return;
        }
        for name in &self.names {
            let span = touched
                .iter()
                .find(|(kpi, _, _)| kpi == name)
                .map(|(_, first, last)| (*first, *last));
            if span.is_none() && watermark == self.watermark {
                continue;
            }
            let Some(windows) = kpis.changed_windows(name, span, self.watermark) else {
                continue;
            };
            for window in &windows {
                let key = (
                    name.clone(),
                    window.result.window.clone(),
                    window.result.start_us,
                );
                let (frame, sent) = next_frame(name, window, self.sent.get(&key));
                self.sent.insert(key, sent);
                if let Some(data) = frame {
                    hub.publish(name, data);
                }
            }
        }
        self.watermark = watermark;
        self.rounds += 1;
        if self.rounds.is_multiple_of(600) {
            let horizon = watermark.saturating_sub(REMEMBER_SENT_US);
            self.sent.retain(|(_, _, start), _| *start >= horizon);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_log::{LogOptions, Record, SegmentLog};

    use crate::kpis::RunnerStorage;
    use crate::kpis::tests::start_revenue;

    const DAY_US: i64 = 86_400_000_000;

    fn order(log: &mut SegmentLog, time_us: i64, total: &str) {
        let payload = format!(
            r#"{{"type":"order.created","data":{{"order_id":"o","total":"{total}","currency":"EUR"}}}}"#
        );
        log.append(&Record {
            key: 0,
            event_time_us: time_us,
            append_time_us: time_us,
            payload: payload.as_bytes(),
        })
        .expect("append");
        log.sync().expect("sync");
    }

    /// Every frame published since `after`, as (id, value of the first group).
    fn frames_after(hub: &PushHub, after: u64) -> Vec<(u64, f64)> {
        hub.since(after)
            .expect("held")
            .iter()
            .map(|frame| {
                let data: serde_json::Value = serde_json::from_str(&frame.data).expect("JSON");
                let value = data["values"][0]["value"].as_f64().expect("a number");
                (frame.id, value)
            })
            .collect()
    }

    /// Changes between two rounds go out once, with the latest value; a round with no
    /// change sends nothing.
    #[test]
    fn a_round_sends_each_changed_window_once_with_its_latest_value() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut log, _) =
            SegmentLog::open(&dir.path().join("log"), LogOptions::default()).expect("log");
        let day = 20_000 * DAY_US;
        let service = start_revenue(dir.path(), &log, RunnerStorage::default());
        let hub = PushHub::starting_after(Duration::from_secs(15), 0);
        let mut publisher = Publisher::new(&service);

        for (hour, total) in [(9, "10.00"), (10, "5.50"), (11, "4.50")] {
            order(&mut log, day + hour * 3_600_000_000, total);
        }
        service.wait_for_position(log.durable_end());
        publisher.round(&hub, &service);
        assert_eq!(frames_after(&hub, 0), vec![(1, 20.0)]);

        publisher.round(&hub, &service);
        assert_eq!(hub.last_id(), 1, "nothing changed, nothing sent");

        order(&mut log, day + 12 * 3_600_000_000, "1");
        service.wait_for_position(log.durable_end());
        publisher.round(&hub, &service);
        assert_eq!(frames_after(&hub, 1), vec![(2, 21.0)]);
        service.shutdown();
    }

    #[test]
    fn what_was_counted_before_the_publisher_started_is_not_sent_as_updates() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut log, _) =
            SegmentLog::open(&dir.path().join("log"), LogOptions::default()).expect("log");
        let day = 20_000 * DAY_US;
        let service = start_revenue(dir.path(), &log, RunnerStorage::default());
        for days_back in 0..30 {
            order(&mut log, day - days_back * DAY_US, "10");
        }
        service.wait_for_position(log.durable_end());
        let hub = PushHub::starting_after(Duration::from_secs(15), 0);
        let mut publisher = Publisher::new(&service);
        publisher.round(&hub, &service);
        assert_eq!(
            hub.last_id(),
            0,
            "a month of backfill is no burst of updates"
        );

        order(&mut log, day + 3_600_000_000, "1");
        service.wait_for_position(log.durable_end());
        publisher.round(&hub, &service);
        assert_eq!(frames_after(&hub, 0), vec![(1, 11.0)]);
        service.shutdown();
    }

    fn published(hub: &PushHub, count: usize) {
        for index in 0..count {
            hub.publish("orders", format!("{{\"n\":{index}}}"));
        }
    }

    #[test]
    fn a_client_resumes_from_any_frame_still_held() {
        let hub = PushHub::starting_after(Duration::from_secs(15), 0);
        assert_eq!(hub.since(0).map(|frames| frames.len()), Some(0));
        published(&hub, 5);
        let ids = |frames: Option<Vec<Arc<Frame>>>| {
            frames.map(|frames| frames.iter().map(|frame| frame.id).collect::<Vec<_>>())
        };
        assert_eq!(ids(hub.since(0)), Some(vec![1, 2, 3, 4, 5]));
        assert_eq!(ids(hub.since(3)), Some(vec![4, 5]));
        assert_eq!(ids(hub.since(5)), Some(vec![]));
        assert_eq!(ids(hub.since(6)), None, "an id never published: a snapshot");
    }

    fn stock_window(levels: &[(usize, u64)]) -> AnsweredWindow {
        AnsweredWindow {
            result: sightline_engine::WindowResult {
                window: "current".into(),
                start_us: 0,
                end_us: i64::MAX,
                is_final: false,
                values: levels
                    .iter()
                    .map(|(sku, level)| {
                        (
                            vec![("sku".to_owned(), format!("SKU-{sku}"))],
                            sightline_engine::aggregate::AggregateValue::Count(*level),
                        )
                    })
                    .collect(),
            },
            comparison: None,
        }
    }

    fn parsed(frame: Option<String>) -> serde_json::Value {
        serde_json::from_str(&frame.expect("a frame is sent")).expect("JSON")
    }

    /// Applies a frame to the window a client holds, as the dashboard does.
    fn apply(held: &mut Vec<serde_json::Value>, frame: &serde_json::Value) {
        let values = frame["values"].as_array().expect("values").clone();
        if frame["partial"] != true {
            *held = values;
            return;
        }
        for removed in frame["removed"].as_array().into_iter().flatten() {
            held.retain(|value| value["group"] != *removed);
        }
        for value in values {
            match held.iter_mut().find(|held| held["group"] == value["group"]) {
                Some(existing) => *existing = value,
                None => held.push(value),
            }
        }
    }

    #[test]
    fn a_big_window_is_sent_whole_once_then_as_the_groups_that_changed() {
        let mut levels: Vec<(usize, u64)> =
            (0..DELTA_MIN_GROUPS * 2).map(|sku| (sku, 100)).collect();
        let (first, mut sent) = next_frame("inventory_on_hand", &stock_window(&levels), None);
        let first = parsed(first);
        assert!(first.get("partial").is_none());
        assert_eq!(first["values"].as_array().map(Vec::len), Some(levels.len()));
        let mut held = Vec::new();
        apply(&mut held, &first);

        let (nothing, after) = next_frame("inventory_on_hand", &stock_window(&levels), Some(&sent));
        assert!(nothing.is_none(), "no change, no frame");
        sent = after;

        levels[3].1 = 0;
        levels[70].1 = 7;
        levels.remove(10);
        levels.push((9_999, 5));
        let (delta, _) = next_frame("inventory_on_hand", &stock_window(&levels), Some(&sent));
        let delta = parsed(delta);
        assert_eq!(delta["partial"], true);
        let changed: Vec<&str> = delta["values"]
            .as_array()
            .expect("values")
            .iter()
            .filter_map(|value| value["group"]["sku"].as_str())
            .collect();
        assert_eq!(changed, ["SKU-3", "SKU-70", "SKU-9999"]);
        assert_eq!(delta["removed"], serde_json::json!([{ "sku": "SKU-10" }]));
        apply(&mut held, &delta);

        // The window the client rebuilt is the window a new client would be sent whole.
        let (whole, _) = next_frame("inventory_on_hand", &stock_window(&levels), None);
        let mut expected = parsed(whole)["values"].as_array().expect("values").clone();
        let by_group =
            |value: &serde_json::Value| value["group"]["sku"].as_str().map(str::to_owned);
        expected.sort_by_key(by_group);
        held.sort_by_key(by_group);
        assert_eq!(held, expected);
    }

    #[test]
    fn a_small_window_is_always_sent_whole() {
        let levels = [(1, 5), (2, 6)];
        let (first, sent) = next_frame("queue_depth", &stock_window(&levels), None);
        assert!(first.is_some());
        let (changed, _) = next_frame("queue_depth", &stock_window(&[(1, 5), (2, 7)]), Some(&sent));
        let changed = parsed(changed);
        assert!(changed.get("partial").is_none());
        assert_eq!(changed["values"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn a_client_of_an_earlier_run_gets_a_snapshot_not_a_resume() {
        let earlier = PushHub::new(Duration::from_secs(15));
        published(&earlier, 50);
        let last_seen = earlier.last_id();
        std::thread::sleep(Duration::from_millis(2));
        let restarted = PushHub::new(Duration::from_secs(15));
        assert!(
            restarted.since(last_seen).is_none(),
            "nothing published yet: the old id is not this run's"
        );
        published(&restarted, 100);
        assert!(restarted.since(last_seen).is_none());
        let first = restarted.since(restarted.last_id() - 100).expect("held");
        assert!(first[0].id > last_seen);
    }

    #[test]
    fn frames_no_longer_held_mean_a_snapshot() {
        let hub = PushHub::starting_after(Duration::from_secs(15), 0);
        published(&hub, RESUME_FRAMES + 10);
        assert!(hub.since(5).is_none());
        assert_eq!(
            hub.since(10).map(|frames| frames.len()),
            Some(RESUME_FRAMES)
        );
        assert_eq!(
            hub.since(11).map(|frames| frames.len()),
            Some(RESUME_FRAMES - 1)
        );
    }

    /// The publisher never waits for a client: one that reads nothing misses frames
    /// (and is told so by its receiver) while the others get every one.
    #[test]
    fn a_client_that_reads_nothing_is_left_behind_not_waited_for() {
        let hub = PushHub::starting_after(Duration::from_secs(15), 0);
        let mut stalled = hub.subscribe();
        let mut reading = hub.subscribe();
        let mut seen = 0;
        for round in 0..(CLIENT_BACKLOG * 2) {
            hub.publish("orders", format!("{round}"));
            while let Ok(frame) = reading.try_recv() {
                seen += 1;
                assert_eq!(frame.id, seen);
            }
        }
        assert_eq!(seen, (CLIENT_BACKLOG * 2) as u64);
        assert!(matches!(
            stalled.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(_))
        ));
    }
}
