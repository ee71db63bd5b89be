//! The redb file that holds final windows.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use sightline_engine::ClosedWindow;
use sightline_engine::aggregate::AggregateValue;
use sightline_engine::window::Resolution;

use crate::error::HistoryError;

/// (KPI, window label, window start) → the window's end and values.
const WINDOWS: TableDefinition<(&str, &str, i64), &[u8]> = TableDefinition::new("windows_v1");
/// (KPI, window label) → its resolution and longest window, for reads and retention.
const DEFINITIONS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("definitions_v1");

const FILE: &str = "history.redb";

/// How long windows are kept, per resolution; `None` keeps them forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub minute_us: Option<i64>,
    pub hourly_us: Option<i64>,
    pub daily_us: Option<i64>,
}

impl Default for RetentionPolicy {
    /// The defaults of the `[history]` configuration: 8 days, 400 days, forever.
    fn default() -> Self {
        const DAY_US: i64 = 86_400_000_000;
        RetentionPolicy {
            minute_us: Some(8 * DAY_US),
            hourly_us: Some(400 * DAY_US),
            daily_us: None,
        }
    }
}

impl RetentionPolicy {
    fn keep_for(&self, resolution: Resolution) -> Option<i64> {
        match resolution {
            Resolution::Minute => self.minute_us,
            Resolution::Hourly => self.hourly_us,
            Resolution::Daily => self.daily_us,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct StoredWindow {
    end_us: i64,
    values: Vec<(Vec<(String, String)>, AggregateValue)>,
}

#[derive(Serialize, Deserialize)]
struct StoredDefinition {
    resolution: Resolution,
    max_length_us: i64,
}

/// Final windows on disk. Readers never wait for the writer (redb's MVCC).
pub struct HistoryStore {
    database: Database,
    retention: RetentionPolicy,
}

impl std::fmt::Debug for HistoryStore {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("HistoryStore")
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

impl HistoryStore {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path, retention: RetentionPolicy) -> Result<HistoryStore, HistoryError> {
        let open_error = |message: String| HistoryError::Open {
            path: dir.join(FILE).display().to_string(),
            message,
        };
        std::fs::create_dir_all(dir).map_err(|error| open_error(error.to_string()))?;
        let database =
            Database::create(dir.join(FILE)).map_err(|error| open_error(error.to_string()))?;
        // Create the tables up front so that reads before the first write find them.
        let transaction = database
            .begin_write()
            .map_err(|error| open_error(error.to_string()))?;
        transaction
            .open_table(WINDOWS)
            .map_err(|error| open_error(error.to_string()))?;
        transaction
            .open_table(DEFINITIONS)
            .map_err(|error| open_error(error.to_string()))?;
        transaction
            .commit()
            .map_err(|error| open_error(error.to_string()))?;
        Ok(HistoryStore {
            database,
            retention,
        })
    }

    /// Stores `windows` durably in one transaction; a window already stored under the
    /// same (KPI, window, start) is replaced.
    pub fn write(&self, windows: &[ClosedWindow]) -> Result<(), HistoryError> {
        self.write_windows(windows, true)
    }

    /// Stores the `windows` not stored yet, in one transaction, and leaves a window
    /// already stored under the same (KPI, window, start) as it is: for a replay that may
    /// have seen only part of the events of the windows history already has.
    pub fn write_missing(&self, windows: &[ClosedWindow]) -> Result<(), HistoryError> {
        self.write_windows(windows, false)
    }

    fn write_windows(&self, windows: &[ClosedWindow], replace: bool) -> Result<(), HistoryError> {
        if windows.is_empty() {
            return Ok(());
        }
        let transaction = self.database.begin_write().map_err(HistoryError::storage)?;
        {
            let mut table = transaction
                .open_table(WINDOWS)
                .map_err(HistoryError::storage)?;
            let mut definitions = transaction
                .open_table(DEFINITIONS)
                .map_err(HistoryError::storage)?;
            let mut last_definition: Option<(&str, &str)> = None;
            for window in windows {
                let definition_key = (window.kpi.as_str(), window.window.as_str());
                if last_definition != Some(definition_key) {
                    let definition = StoredDefinition {
                        resolution: window.resolution,
                        max_length_us: window.max_length_us,
                    };
                    let bytes = postcard::to_stdvec(&definition).map_err(HistoryError::storage)?;
                    definitions
                        .insert(definition_key, bytes.as_slice())
                        .map_err(HistoryError::storage)?;
                    last_definition = Some(definition_key);
                }
                let key = (window.kpi.as_str(), window.window.as_str(), window.start_us);
                if !replace && table.get(key).map_err(HistoryError::storage)?.is_some() {
                    continue;
                }
                let stored = StoredWindow {
                    end_us: window.end_us,
                    values: window.values.clone(),
                };
                let bytes = postcard::to_stdvec(&stored).map_err(HistoryError::storage)?;
                table
                    .insert(key, bytes.as_slice())
                    .map_err(HistoryError::storage)?;
            }
        }
        transaction.commit().map_err(HistoryError::storage)
    }

    /// The stored windows of `kpi` that overlap `[from, to)` and whose label `include`
    /// accepts, oldest first (by start, then end).
    pub fn windows(
        &self,
        kpi: &str,
        from_us: i64,
        to_us: i64,
        include: impl Fn(&str) -> bool,
    ) -> Result<Vec<ClosedWindow>, HistoryError> {
        let transaction = self.database.begin_read().map_err(HistoryError::storage)?;
        let definitions = transaction
            .open_table(DEFINITIONS)
            .map_err(HistoryError::storage)?;
        let table = transaction
            .open_table(WINDOWS)
            .map_err(HistoryError::storage)?;
        let mut found = Vec::new();
        let of_kpi = definitions
            .range((kpi, "")..)
            .map_err(HistoryError::storage)?;
        for entry in of_kpi {
            let (key, value) = entry.map_err(HistoryError::storage)?;
            let (definition_kpi, label) = key.value();
            if definition_kpi != kpi {
                break;
            }
            if !include(label) {
                continue;
            }
            let definition: StoredDefinition = postcard::from_bytes(value.value())
                .map_err(|error| HistoryError::Decode(error.to_string()))?;
            // A window overlapping `from` starts less than its length before it.
            let lowest_start = from_us
                .saturating_sub(definition.max_length_us)
                .saturating_add(1);
            let rows = table
                .range((kpi, label, lowest_start)..(kpi, label, to_us))
                .map_err(HistoryError::storage)?;
            for row in rows {
                let (key, value) = row.map_err(HistoryError::storage)?;
                let (_, _, start_us) = key.value();
                let stored: StoredWindow = postcard::from_bytes(value.value())
                    .map_err(|error| HistoryError::Decode(error.to_string()))?;
                if stored.end_us <= from_us {
                    continue;
                }
                found.push(ClosedWindow {
                    kpi: kpi.to_owned(),
                    window: label.to_owned(),
                    resolution: definition.resolution,
                    max_length_us: definition.max_length_us,
                    start_us,
                    end_us: stored.end_us,
                    values: stored.values,
                });
            }
        }
        found.sort_by(|left, right| {
            (left.start_us, left.end_us, &left.window).cmp(&(
                right.start_us,
                right.end_us,
                &right.window,
            ))
        });
        Ok(found)
    }

    /// Deletes the windows that ended longer ago than their resolution's retention, as
    /// of `now_us`; returns how many.
    pub fn enforce_retention(&self, now_us: i64) -> Result<u64, HistoryError> {
        let transaction = self.database.begin_write().map_err(HistoryError::storage)?;
        let mut removed = 0;
        {
            let definitions = transaction
                .open_table(DEFINITIONS)
                .map_err(HistoryError::storage)?;
            let mut table = transaction
                .open_table(WINDOWS)
                .map_err(HistoryError::storage)?;
            let mut expiring = Vec::new();
            for entry in definitions.iter().map_err(HistoryError::storage)? {
                let (key, value) = entry.map_err(HistoryError::storage)?;
                let definition: StoredDefinition = postcard::from_bytes(value.value())
                    .map_err(|error| HistoryError::Decode(error.to_string()))?;
                let Some(keep_for) = self.retention.keep_for(definition.resolution) else {
                    continue;
                };
                let (kpi, label) = key.value();
                // Every window starting before this has ended before `now - keep_for`.
                let cut = now_us
                    .saturating_sub(keep_for)
                    .saturating_sub(definition.max_length_us);
                expiring.push((kpi.to_owned(), label.to_owned(), cut));
            }
            for (kpi, label, cut) in &expiring {
                let range =
                    (kpi.as_str(), label.as_str(), i64::MIN)..(kpi.as_str(), label.as_str(), *cut);
                let mut doomed = 0_u64;
                table
                    .retain_in(range, |_, _| {
                        doomed += 1;
                        false
                    })
                    .map_err(HistoryError::storage)?;
                removed += doomed;
            }
        }
        transaction.commit().map_err(HistoryError::storage)?;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    const MINUTE: i64 = 60_000_000;
    const DAY: i64 = 86_400_000_000;

    fn window(
        kpi: &str,
        label: &str,
        resolution: Resolution,
        start_us: i64,
        length: i64,
        value: u64,
    ) -> ClosedWindow {
        ClosedWindow {
            kpi: kpi.to_owned(),
            window: label.to_owned(),
            resolution,
            max_length_us: length,
            start_us,
            end_us: start_us + length,
            values: vec![(Vec::new(), AggregateValue::Count(value))],
        }
    }

    #[test]
    fn windows_survive_reopening_and_are_read_by_overlap() {
        let dir = tempfile::tempdir().expect("temp dir");
        {
            let store = HistoryStore::open(dir.path(), RetentionPolicy::default()).expect("open");
            let windows: Vec<_> = (0..10)
                .map(|index| {
                    window(
                        "orders",
                        "1m",
                        Resolution::Minute,
                        index * MINUTE,
                        MINUTE,
                        index as u64,
                    )
                })
                .chain([window(
                    "orders",
                    "1h",
                    Resolution::Hourly,
                    0,
                    60 * MINUTE,
                    45,
                )])
                .chain([window("ordersx", "1m", Resolution::Minute, 0, MINUTE, 7)])
                .collect();
            store.write(&windows).expect("write");
        }
        let store = HistoryStore::open(dir.path(), RetentionPolicy::default()).expect("reopen");
        // [2m30s, 5m): the windows starting at 2, 3 and 4 minutes, and the hour.
        let found = store
            .windows("orders", 2 * MINUTE + MINUTE / 2, 5 * MINUTE, |_| true)
            .expect("read");
        let described: Vec<_> = found
            .iter()
            .map(|window| (window.window.as_str(), window.start_us / MINUTE))
            .collect();
        assert_eq!(described, vec![("1h", 0), ("1m", 2), ("1m", 3), ("1m", 4)]);
        let only_minutes = store
            .windows("orders", 0, 60 * MINUTE, |label| label == "1m")
            .expect("read");
        assert_eq!(only_minutes.len(), 10);
        assert!(
            store
                .windows("order", 0, DAY, |_| true)
                .expect("read")
                .is_empty()
        );
    }

    #[test]
    fn a_window_written_twice_is_stored_once_with_the_last_values() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = HistoryStore::open(dir.path(), RetentionPolicy::default()).expect("open");
        store
            .write(&[window("orders", "1m", Resolution::Minute, 0, MINUTE, 1)])
            .expect("write");
        store
            .write(&[window("orders", "1m", Resolution::Minute, 0, MINUTE, 1)])
            .expect("write");
        let found = store.windows("orders", 0, MINUTE, |_| true).expect("read");
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].values,
            vec![(Vec::new(), AggregateValue::Count(1))]
        );
    }

    #[test]
    fn writing_missing_windows_keeps_the_stored_ones() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = HistoryStore::open(dir.path(), RetentionPolicy::default()).expect("open");
        store
            .write(&[window("orders", "1m", Resolution::Minute, 0, MINUTE, 9)])
            .expect("write");
        store
            .write_missing(&[
                window("orders", "1m", Resolution::Minute, 0, MINUTE, 6),
                window("orders", "1m", Resolution::Minute, MINUTE, MINUTE, 2),
            ])
            .expect("write missing");
        let counts: Vec<_> = store
            .windows("orders", 0, 2 * MINUTE, |_| true)
            .expect("read")
            .into_iter()
            .map(|window| window.values)
            .collect();
        assert_eq!(
            counts,
            vec![
                vec![(Vec::new(), AggregateValue::Count(9))],
                vec![(Vec::new(), AggregateValue::Count(2))],
            ]
        );
    }

    #[test]
    fn retention_is_per_resolution() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = HistoryStore::open(dir.path(), RetentionPolicy::default()).expect("open");
        let now = 1_000 * DAY;
        let mut windows = Vec::new();
        for age_days in [1, 7, 9, 300, 500] {
            let start = now - age_days * DAY;
            windows.push(window("k", "1m", Resolution::Minute, start, MINUTE, 1));
            windows.push(window("k", "1h", Resolution::Hourly, start, 60 * MINUTE, 1));
            windows.push(window("k", "day", Resolution::Daily, start, DAY, 1));
        }
        store.write(&windows).expect("write");
        let removed = store.enforce_retention(now).expect("retention");
        let kept = |label: &str| -> Vec<i64> {
            store
                .windows("k", 0, now, |candidate| candidate == label)
                .expect("read")
                .iter()
                .map(|window| (now - window.start_us) / DAY)
                .collect()
        };
        assert_eq!(kept("1m"), vec![7, 1], "minute windows: 8 days");
        assert_eq!(kept("1h"), vec![300, 9, 7, 1], "hourly windows: 400 days");
        assert_eq!(kept("day"), vec![500, 300, 9, 7, 1], "days: forever");
        assert_eq!(removed, 3 + 1);
    }

    /// A comparison's hidden series is summed for the windows compared with it, so it is
    /// kept as long as they are: the minutes of a day that history keeps forever stay.
    #[test]
    fn a_comparison_series_is_kept_as_long_as_the_windows_compared_with_it() {
        use sightline_engine::{Calendar, Engine, EngineOptions, KpiPack};
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
        let mut engine = Engine::new(kpis, EngineOptions::default());
        let now = 1_000 * DAY;
        // Two orders 20 days ago, then one now that closes their windows.
        for (time, total) in [(now - 20 * DAY, 5), (now - 20 * DAY + MINUTE, 7), (now, 1)] {
            let order = format!(
                r#"{{"type":"order.created","data":{{"total":{total},"currency":"EUR"}}}}"#
            );
            engine.process(time, &order, now);
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let store = HistoryStore::open(dir.path(), RetentionPolicy::default()).expect("open");
        store.write(&engine.take_closed()).expect("write");
        store.enforce_retention(now).expect("retention");
        let mut kept: Vec<String> = store
            .windows("revenue_today", now - 21 * DAY, now - 19 * DAY, |_| true)
            .expect("read")
            .into_iter()
            .map(|window| window.window)
            .collect();
        kept.sort();
        assert_eq!(kept, vec!["day", "series/1m", "series/1m"]);
    }

    #[test]
    fn money_values_round_trip_exactly() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = HistoryStore::open(dir.path(), RetentionPolicy::default()).expect("open");
        let exact: Decimal = "12345678901234567.0123456789".parse().expect("decimal");
        let mut stored = window("revenue", "day", Resolution::Daily, 0, DAY, 0);
        stored.values = vec![(
            vec![("segment".to_owned(), "new".to_owned())],
            AggregateValue::Decimal(exact),
        )];
        store.write(std::slice::from_ref(&stored)).expect("write");
        let found = store.windows("revenue", 0, DAY, |_| true).expect("read");
        assert_eq!(found, vec![stored]);
    }
}
