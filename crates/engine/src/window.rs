//! Window shapes and their panes. Windows are half-open `[start, end)` and aligned to the
//! epoch (kpis.md), so a 1-minute window starts on the minute.

use crate::calendar::Calendar;

/// A window definition, in microseconds.
#[derive(Debug, Clone, PartialEq)]
pub enum WindowSpec {
    Tumbling {
        size_us: i64,
    },
    /// `size_us` is a whole multiple of `slide_us` (checked when definitions load).
    Sliding {
        size_us: i64,
        slide_us: i64,
    },
    /// Local midnight to local midnight in the business time zone.
    Day(Calendar),
    /// No time window: one pane for all time, never final (the current state).
    Current,
}

/// The retention classes of history: windows stepping by less than an hour, by hours,
/// by days.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Resolution {
    Minute,
    Hourly,
    Daily,
}

impl Resolution {
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Minute => "minute",
            Resolution::Hourly => "hourly",
            Resolution::Daily => "daily",
        }
    }
}

/// The start and end reported for the current-state window.
pub const CURRENT_START_US: i64 = 0;
pub const CURRENT_END_US: i64 = 253_402_300_799_999_999;

impl WindowSpec {
    /// The pane (its start) that holds an event at `time_us`.
    pub fn pane_of(&self, time_us: i64) -> i64 {
        match self {
            WindowSpec::Day(calendar) => calendar.day_start(time_us),
            WindowSpec::Current => CURRENT_START_US,
            fixed => {
                let pane = fixed.pane_us();
                time_us.saturating_sub(time_us.rem_euclid(pane))
            }
        }
    }

    /// The end of the window (or pane) that starts at `start_us`.
    pub fn window_end(&self, start_us: i64) -> i64 {
        match self {
            WindowSpec::Tumbling { size_us } | WindowSpec::Sliding { size_us, .. } => {
                start_us.saturating_add(*size_us)
            }
            WindowSpec::Day(calendar) => calendar.next_day_start(start_us),
            WindowSpec::Current => CURRENT_END_US,
        }
    }

    /// The end of the pane that starts at `pane_start`.
    pub fn pane_end(&self, pane_start: i64) -> i64 {
        match self {
            WindowSpec::Day(calendar) => calendar.next_day_start(pane_start),
            WindowSpec::Current => CURRENT_END_US,
            fixed => pane_start.saturating_add(fixed.pane_us()),
        }
    }

    /// The step between window starts of a fixed-size window, which is its pane size.
    fn pane_us(&self) -> i64 {
        match *self {
            WindowSpec::Tumbling { size_us } => size_us,
            WindowSpec::Sliding { slide_us, .. } => slide_us,
            WindowSpec::Day(_) => 86_400_000_000,
            WindowSpec::Current => CURRENT_END_US,
        }
    }

    /// Starts of the windows that contain the pane starting at `pane_start`, oldest first.
    pub fn windows_of_pane(&self, pane_start: i64) -> Vec<i64> {
        match *self {
            WindowSpec::Sliding { size_us, slide_us } => {
                let first = pane_start.saturating_sub(size_us).saturating_add(slide_us);
                (0..size_us / slide_us)
                    .map(|step| first.saturating_add(step * slide_us))
                    .collect()
            }
            _ => vec![pane_start],
        }
    }

    /// Starts of the windows that overlap `[from, to)`, oldest first.
    pub fn windows_overlapping(&self, from_us: i64, to_us: i64) -> Vec<i64> {
        match self {
            WindowSpec::Day(calendar) => {
                let mut starts = Vec::new();
                let mut start = calendar.day_start(from_us);
                while start < to_us {
                    starts.push(start);
                    start = calendar.next_day_start(start);
                }
                starts
            }
            WindowSpec::Current => vec![CURRENT_START_US],
            WindowSpec::Tumbling { size_us } | WindowSpec::Sliding { size_us, .. } => {
                let pane = self.pane_us();
                // The first window ending after `from`: start > from - size.
                let lowest = from_us.saturating_sub(*size_us) + 1;
                let first = lowest + (pane - lowest.rem_euclid(pane)) % pane;
                let count = if to_us <= first {
                    0
                } else {
                    (to_us - first + pane - 1) / pane
                };
                (0..count).map(|step| first + step * pane).collect()
            }
        }
    }

    /// A short label: `1m`, `1h/1m` (size/slide), `day`.
    /// How finely the windows step, which decides how long their history is kept.
    pub fn resolution(&self) -> Resolution {
        const HOUR_US: i64 = 3_600_000_000;
        const DAY_US: i64 = 86_400_000_000;
        match self {
            WindowSpec::Day(_) | WindowSpec::Current => Resolution::Daily,
            fixed => match fixed.pane_us() {
                step if step < HOUR_US => Resolution::Minute,
                step if step < DAY_US => Resolution::Hourly,
                _ => Resolution::Daily,
            },
        }
    }

    /// The longest a window can be (a calendar day: 25 hours).
    pub fn max_length_us(&self) -> i64 {
        match self {
            WindowSpec::Tumbling { size_us } | WindowSpec::Sliding { size_us, .. } => *size_us,
            WindowSpec::Day(_) => 25 * 3_600_000_000,
            WindowSpec::Current => CURRENT_END_US,
        }
    }

    pub fn label(&self) -> String {
        match *self {
            WindowSpec::Tumbling { size_us } => short_duration(size_us),
            WindowSpec::Sliding { size_us, slide_us } => {
                format!("{}/{}", short_duration(size_us), short_duration(slide_us))
            }
            WindowSpec::Day(_) => "day".to_owned(),
            WindowSpec::Current => "current".to_owned(),
        }
    }
}

fn short_duration(micros: i64) -> String {
    const UNITS: [(&str, i64); 5] = [
        ("d", 86_400_000_000),
        ("h", 3_600_000_000),
        ("m", 60_000_000),
        ("s", 1_000_000),
        ("ms", 1_000),
    ];
    for (suffix, size) in UNITS {
        if micros >= size && micros % size == 0 {
            return format!("{}{suffix}", micros / size);
        }
    }
    format!("{micros}us")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MINUTE: i64 = 60_000_000;

    #[test]
    fn tumbling_windows_align_to_the_epoch() {
        let spec = WindowSpec::Tumbling { size_us: MINUTE };
        assert_eq!(spec.pane_of(90_000_000), MINUTE);
        assert_eq!(spec.pane_of(-1), -MINUTE);
        assert_eq!(spec.windows_of_pane(MINUTE), vec![MINUTE]);
        assert_eq!(spec.label(), "1m");
    }

    #[test]
    fn sliding_windows_cover_each_pane_size_over_slide_times() {
        let spec = WindowSpec::Sliding {
            size_us: 5 * MINUTE,
            slide_us: MINUTE,
        };
        let starts: Vec<i64> = spec.windows_of_pane(10 * MINUTE);
        assert_eq!(
            starts,
            vec![6 * MINUTE, 7 * MINUTE, 8 * MINUTE, 9 * MINUTE, 10 * MINUTE]
        );
        assert_eq!(spec.label(), "5m/1m");
    }

    proptest! {
        #[test]
        fn overlapping_windows_are_exactly_those_that_overlap(
            size_panes in 1i64..6, pane in 1i64..50, from in -500i64..500, length in 0i64..300
        ) {
            let spec = if size_panes == 1 {
                WindowSpec::Tumbling { size_us: pane }
            } else {
                WindowSpec::Sliding { size_us: pane * size_panes, slide_us: pane }
            };
            let to = from + length;
            let listed: Vec<i64> = spec.windows_overlapping(from, to);
            let expected: Vec<i64> = (-2000i64..2000)
                .filter(|start| start.rem_euclid(pane) == 0)
                .filter(|start| *start < to && spec.window_end(*start) > from)
                .collect();
            prop_assert_eq!(listed, expected);
        }

        #[test]
        fn an_event_belongs_to_the_windows_of_its_pane(size_panes in 1i64..6, pane in 1i64..50, time in -1000i64..1000) {
            let spec = WindowSpec::Sliding { size_us: pane * size_panes, slide_us: pane };
            for start in spec.windows_of_pane(spec.pane_of(time)) {
                prop_assert!(start <= time && time < spec.window_end(start));
            }
            let containing = (-3000i64..3000)
                .filter(|start| start.rem_euclid(pane) == 0 && *start <= time && time < spec.window_end(*start))
                .count() as i64;
            prop_assert_eq!(containing, size_panes);
        }
    }
}
