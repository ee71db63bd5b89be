//! Exact percentiles and run totals.

/// Nearest-rank percentile (`p` in 0..=100) of an ascending slice; 0 when empty.
pub fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let n = sorted.len();
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    sorted[rank.clamp(1, n) - 1]
}

/// Latency summary in milliseconds of per-request latencies in microseconds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LatencySummary {
    pub count: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl LatencySummary {
    /// Sorts `latencies_us` in place and summarises it.
    pub fn from_us(latencies_us: &mut [u32]) -> Self {
        latencies_us.sort_unstable();
        let ms = |us: u32| f64::from(us) / 1000.0;
        LatencySummary {
            count: latencies_us.len(),
            p50_ms: ms(percentile(latencies_us, 50.0)),
            p90_ms: ms(percentile(latencies_us, 90.0)),
            p99_ms: ms(percentile(latencies_us, 99.0)),
            p999_ms: ms(percentile(latencies_us, 99.9)),
            max_ms: ms(latencies_us.last().copied().unwrap_or(0)),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "count": self.count,
            "p50_ms": round3(self.p50_ms),
            "p90_ms": round3(self.p90_ms),
            "p99_ms": round3(self.p99_ms),
            "p999_ms": round3(self.p999_ms),
            "max_ms": round3(self.max_ms),
        })
    }
}

pub fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// The server's answer to a POST: `{"accepted": N, "duplicates": N, "rejected": [...]}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ack {
    pub accepted: u64,
    pub duplicates: u64,
    pub rejected: u64,
}

/// Parses an ack body; `rejected` may be an array (its length counts) or a number.
pub fn parse_ack(body: &[u8]) -> Option<Ack> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let count = |key: &str| match v.get(key) {
        None | Some(serde_json::Value::Null) => Some(0),
        Some(serde_json::Value::Array(a)) => Some(a.len() as u64),
        Some(other) => other.as_u64(),
    };
    v.get("accepted")?;
    Some(Ack {
        accepted: count("accepted")?,
        duplicates: count("duplicates")?,
        rejected: count("rejected")?,
    })
}

/// What a set of connections did.
#[derive(Clone, Debug, Default)]
pub struct Totals {
    pub requests: u64,
    pub events_sent: u64,
    pub body_bytes: u64,
    pub ack: Ack,
    /// 2xx responses whose body was not an ack, and the events they carried.
    pub unparsed_requests: u64,
    pub unparsed_events: u64,
    pub latencies_us: Vec<u32>,
}

impl Totals {
    pub fn record(&mut self, events: u64, body_bytes: u64, latency_us: u32, response: &[u8]) {
        self.requests += 1;
        self.events_sent += events;
        self.body_bytes += body_bytes;
        self.latencies_us.push(latency_us);
        match parse_ack(response) {
            Some(a) => {
                self.ack.accepted += a.accepted;
                self.ack.duplicates += a.duplicates;
                self.ack.rejected += a.rejected;
            }
            None => {
                self.unparsed_requests += 1;
                self.unparsed_events += events;
            }
        }
    }

    pub fn merge(&mut self, other: Totals) {
        self.requests += other.requests;
        self.events_sent += other.events_sent;
        self.body_bytes += other.body_bytes;
        self.ack.accepted += other.ack.accepted;
        self.ack.duplicates += other.ack.duplicates;
        self.ack.rejected += other.ack.rejected;
        self.unparsed_requests += other.unparsed_requests;
        self.unparsed_events += other.unparsed_events;
        self.latencies_us.extend(other.latencies_us);
    }

    /// Events the server acknowledged (accepted + duplicates + rejected), plus those sent
    /// in 2xx requests whose response was not an ack.
    pub fn events_done(&self) -> u64 {
        self.ack.accepted + self.ack.duplicates + self.ack.rejected + self.unparsed_events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 99.9), 100);
        assert_eq!(percentile(&v, 0.0), 1);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
        let mut lat = vec![3000, 1000, 2000, 4000];
        let s = LatencySummary::from_us(&mut lat);
        assert_eq!((s.p50_ms, s.p90_ms, s.max_ms, s.count), (2.0, 4.0, 4.0, 4));
    }

    #[test]
    fn acks() {
        let a =
            parse_ack(br#"{"accepted":998,"duplicates":1,"rejected":[{"index":3,"reason":"x"}]}"#);
        assert_eq!(
            a,
            Some(Ack {
                accepted: 998,
                duplicates: 1,
                rejected: 1
            })
        );
        assert_eq!(
            parse_ack(br#"{"accepted":5}"#),
            Some(Ack {
                accepted: 5,
                ..Ack::default()
            })
        );
        assert_eq!(parse_ack(b"OK"), None);
        assert_eq!(parse_ack(br#"{"status":"ok"}"#), None);
        let mut t = Totals::default();
        t.record(
            10,
            100,
            5,
            br#"{"accepted":9,"duplicates":1,"rejected":[]}"#,
        );
        t.record(10, 100, 5, b"");
        assert_eq!(t.events_done(), 20);
        assert_eq!(t.unparsed_requests, 1);
    }
}
