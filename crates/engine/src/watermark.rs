//! Event-time progress: the watermark and the lateness of each event.

/// The configured time semantics (kpis.md, "Time").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimePolicy {
    /// How far behind the newest event time an event may arrive and still be on time.
    pub disorder_bound_us: i64,
    /// How far behind the watermark an event may arrive and still update its windows.
    pub allowed_lateness_us: i64,
    /// After this much wall-clock time without events, the watermark follows the clock.
    pub idle_timeout_us: i64,
}

impl Default for TimePolicy {
    fn default() -> Self {
        TimePolicy {
            disorder_bound_us: 5_000_000,
            allowed_lateness_us: 3_600_000_000,
            idle_timeout_us: 5_000_000,
        }
    }
}

/// How an event's time relates to the watermark when it arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lateness {
    OnTime,
    /// Behind the watermark, within the allowed lateness: counted, windows corrected.
    Late,
    /// Behind the watermark by more than the allowed lateness: not counted.
    TooLate,
}

/// Two clocks: the *event* watermark moves only with event times and judges lateness; the
/// *current* watermark also follows the wall clock when the stream is idle and decides
/// which windows are final. Keeping them apart means an idle evening never turns the next
/// morning's backfill of older events into "late" data: those events are judged against
/// the events seen, and windows already shown final are corrected.
#[derive(Debug, Clone)]
pub struct Watermark {
    policy: TimePolicy,
    event_watermark: i64,
    current: i64,
    last_arrival_wall_us: Option<i64>,
}

impl Watermark {
    pub fn new(policy: TimePolicy) -> Watermark {
        Watermark {
            policy,
            event_watermark: i64::MIN,
            current: i64::MIN,
            last_arrival_wall_us: None,
        }
    }

    pub fn policy(&self) -> TimePolicy {
        self.policy
    }

    /// The watermark: every window ending at or before it is final.
    pub fn current(&self) -> i64 {
        self.current
    }

    /// The watermark from event times alone, which judges lateness.
    pub fn event_watermark(&self) -> i64 {
        self.event_watermark
    }

    /// Classifies an event by the watermark *before* it, then lets it move the watermark.
    pub fn observe(&mut self, event_time_us: i64, now_wall_us: i64) -> Lateness {
        self.last_arrival_wall_us = Some(now_wall_us);
        let lateness = self.classify(event_time_us);
        if lateness == Lateness::TooLate {
            return lateness;
        }
        self.event_watermark = self
            .event_watermark
            .max(event_time_us.saturating_sub(self.policy.disorder_bound_us));
        self.current = self.current.max(self.event_watermark);
        lateness
    }

    /// What an event at `event_time_us` would be, without observing it.
    pub fn classify(&self, event_time_us: i64) -> Lateness {
        if event_time_us >= self.event_watermark {
            return Lateness::OnTime;
        }
        if event_time_us
            >= self
                .event_watermark
                .saturating_sub(self.policy.allowed_lateness_us)
        {
            return Lateness::Late;
        }
        Lateness::TooLate
    }

    /// Idle advance: with no event for the idle timeout, follow the wall clock (less the
    /// disorder bound, so an event that was merely delayed is still on time). Returns
    /// whether the watermark moved. A replay keeps events flowing, so it is never idle and
    /// backfill gives the results of live arrival.
    pub fn tick(&mut self, now_wall_us: i64) -> bool {
        // The first tick starts the idle clock as if an event had just arrived.
        let last = *self.last_arrival_wall_us.get_or_insert(now_wall_us);
        if now_wall_us.saturating_sub(last) < self.policy.idle_timeout_us {
            return false;
        }
        let candidate = now_wall_us.saturating_sub(self.policy.disorder_bound_us);
        if candidate <= self.current {
            return false;
        }
        self.current = candidate;
        true
    }

    /// Restores a checkpointed watermark.
    pub fn restore(&mut self, event_watermark: i64, current: i64) {
        self.event_watermark = event_watermark;
        self.current = current.max(event_watermark);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i64 = 1_000_000;

    fn policy() -> TimePolicy {
        TimePolicy {
            disorder_bound_us: 5 * SECOND,
            allowed_lateness_us: 60 * SECOND,
            idle_timeout_us: 10 * SECOND,
        }
    }

    #[test]
    fn trails_the_newest_event_by_the_bound_and_never_goes_back() {
        let mut watermark = Watermark::new(policy());
        assert_eq!(watermark.observe(100 * SECOND, 0), Lateness::OnTime);
        assert_eq!(watermark.current(), 95 * SECOND);
        assert_eq!(watermark.observe(97 * SECOND, 0), Lateness::OnTime);
        assert_eq!(watermark.current(), 95 * SECOND);
        assert_eq!(watermark.observe(90 * SECOND, 0), Lateness::Late);
        assert_eq!(watermark.observe(30 * SECOND, 0), Lateness::TooLate);
        assert_eq!(watermark.current(), 95 * SECOND);
    }

    #[test]
    fn idle_stream_follows_the_wall_clock() {
        let mut watermark = Watermark::new(policy());
        watermark.observe(100 * SECOND, 1_000 * SECOND);
        assert!(!watermark.tick(1_005 * SECOND), "not idle yet");
        assert!(watermark.tick(1_010 * SECOND));
        assert_eq!(watermark.current(), 1_005 * SECOND);
        assert!(
            !watermark.tick(1_004 * SECOND),
            "a clock step back never moves it back"
        );
    }
}
