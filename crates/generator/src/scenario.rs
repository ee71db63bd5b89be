//! The demo's scenario: when things happen. A [`Rhythm`] of the day and the week sets the
//! rate of every spontaneous action, an [`IncidentSchedule`] disturbs the world every few
//! minutes, and a [`Scenario`] drives a [`TimedGenerator`] with both up to a given time.
//!
//! Everything here is a pure function of a seed and times: the same seed, start and
//! sequence of `generate_until` calls give the same events.

use crate::generator::{Action, Conditions, GATEWAY_NAMES, TimedGenerator, Traffic};
use crate::rng::{Rng, splitmix64};
use crate::{GeneratorConfig, Store};

const US_PER_SECOND: i64 = 1_000_000;
const US_PER_MINUTE: i64 = 60 * US_PER_SECOND;
const US_PER_DAY: i64 = 24 * 60 * US_PER_MINUTE;

/// Traffic through a weekday, per local hour (linear in between), relative to the
/// midday level. Never below a quarter: a shop still sells a few orders a minute at
/// night.
const WEEKDAY_CURVE: [f64; 24] = [
    0.40, 0.32, 0.27, 0.25, 0.25, 0.28, 0.36, 0.52, 0.68, 0.80, 0.88, 0.95, //
    1.00, 0.98, 0.94, 0.94, 0.98, 1.08, 1.25, 1.45, 1.55, 1.45, 1.10, 0.65,
];
/// A weekend day: later mornings, a long busy afternoon.
const WEEKEND_CURVE: [f64; 24] = [
    0.48, 0.38, 0.30, 0.27, 0.25, 0.25, 0.27, 0.33, 0.48, 0.70, 0.92, 1.08, //
    1.18, 1.22, 1.22, 1.20, 1.20, 1.24, 1.34, 1.45, 1.50, 1.40, 1.15, 0.75,
];
/// Monday first.
const DAY_OF_WEEK_FACTOR: [f64; 7] = [0.95, 0.97, 1.0, 1.0, 1.05, 1.15, 1.2];

/// The daily and weekly shape of the traffic, in the shop's local time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rhythm {
    /// Local time minus UTC, in minutes (the business time zone's offset).
    pub utc_offset_minutes: i32,
}

impl Rhythm {
    /// Traffic at `time_us` relative to a Wednesday midday (about 0.25 at night to 1.8
    /// on a weekend evening).
    pub fn factor(&self, time_us: i64) -> f64 {
        let local_us = time_us + i64::from(self.utc_offset_minutes) * US_PER_MINUTE;
        let day = local_us.div_euclid(US_PER_DAY);
        let minute_of_day = local_us.rem_euclid(US_PER_DAY) / US_PER_MINUTE;
        // 1970-01-01 was a Thursday (index 3, Monday first).
        let day_of_week = (day + 3).rem_euclid(7) as usize;
        let curve = if day_of_week >= 5 {
            &WEEKEND_CURVE
        } else {
            &WEEKDAY_CURVE
        };
        let hour = (minute_of_day / 60) as usize;
        let within_hour = (minute_of_day % 60) as f64 / 60.0;
        let level = curve[hour] + (curve[(hour + 1) % 24] - curve[hour]) * within_hour;
        level * DAY_OF_WEEK_FACTOR[day_of_week]
    }
}

/// What goes wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IncidentKind {
    /// One payment gateway fails most payments.
    GatewayOutage,
    /// A top SKU is out of stock in every warehouse.
    Stockout,
    /// A production line faults: no output until it is repaired.
    LineFault,
    /// One API endpoint gets 5–10 times slower and answers many 5xx.
    LatencySpike,
    /// Fulfilment stops advancing: orders pile up before shipping and miss their
    /// ship-by deadline.
    ShippingBacklog,
}

impl IncidentKind {
    /// The order incidents come in.
    pub const CYCLE: [IncidentKind; 5] = [
        IncidentKind::GatewayOutage,
        IncidentKind::Stockout,
        IncidentKind::LineFault,
        IncidentKind::LatencySpike,
        IncidentKind::ShippingBacklog,
    ];

    /// How long it lasts: long enough to be seen on a dashboard whose windows are a few
    /// minutes long; a backlog longer than the ship-by deadline so orders miss it.
    pub fn duration_us(self) -> i64 {
        let seconds = match self {
            IncidentKind::GatewayOutage => 90,
            IncidentKind::Stockout => 120,
            IncidentKind::LineFault => 120,
            IncidentKind::LatencySpike => 90,
            IncidentKind::ShippingBacklog => 150,
        };
        seconds * US_PER_SECOND
    }

    /// The KPI that shows it.
    pub fn kpi(self) -> &'static str {
        match self {
            IncidentKind::GatewayOutage => "payment_failure_rate",
            IncidentKind::Stockout => "inventory_on_hand",
            IncidentKind::LineFault => "production_line_status",
            IncidentKind::LatencySpike => "api_latency",
            IncidentKind::ShippingBacklog => "shipping_delays",
        }
    }
}

/// One incident: what, when, and what it hits (an index into the gateways, the SKUs,
/// the production lines or the endpoints, by kind; unused for a backlog).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Incident {
    pub kind: IncidentKind,
    pub start_us: i64,
    pub end_us: i64,
    pub target: usize,
}

impl Incident {
    /// The world's conditions while it lasts.
    pub fn conditions(&self) -> Conditions {
        let mut conditions = Conditions::default();
        match self.kind {
            IncidentKind::GatewayOutage => conditions.gateway_outage = Some(self.target),
            IncidentKind::Stockout => conditions.stockout_sku = Some(self.target as u32),
            IncidentKind::LineFault => conditions.line_fault = Some(self.target),
            IncidentKind::LatencySpike => conditions.slow_endpoint = Some(self.target),
            IncidentKind::ShippingBacklog => conditions.shipping_backlog = true,
        }
        conditions
    }

    /// A short description for people, e.g. `payment gateway outage (stripe)`.
    pub fn describe(&self, store: &Store) -> String {
        let target = match self.kind {
            IncidentKind::GatewayOutage => GATEWAY_NAMES.get(self.target).copied(),
            IncidentKind::Stockout => store.skus().get(self.target).map(|sku| sku.id.as_str()),
            IncidentKind::LineFault => store.production_lines().get(self.target).map(|l| l.id),
            IncidentKind::LatencySpike => store.endpoints().get(self.target).map(|e| e.path),
            IncidentKind::ShippingBacklog => return "shipping backlog".to_string(),
        };
        let what = match self.kind {
            IncidentKind::GatewayOutage => "payment gateway outage",
            IncidentKind::Stockout => "stockout of a top SKU",
            IncidentKind::LineFault => "production line fault",
            IncidentKind::LatencySpike => "API latency spike",
            IncidentKind::ShippingBacklog => "shipping backlog",
        };
        format!("{what} ({})", target.unwrap_or("?"))
    }
}

/// Incidents every few minutes from an origin (the start of live traffic), cycling
/// through the five kinds; the first soon after the origin so a newcomer sees one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IncidentSchedule {
    pub seed: u64,
    pub origin_us: i64,
    /// From the origin to the first incident.
    pub first_after_us: i64,
    /// From one incident's start to the next one's.
    pub period_us: i64,
}

impl IncidentSchedule {
    /// The first incident 40 s after `origin_us`, then one every 4 minutes.
    pub fn new(seed: u64, origin_us: i64) -> IncidentSchedule {
        IncidentSchedule {
            seed,
            origin_us,
            first_after_us: 40 * US_PER_SECOND,
            period_us: 4 * US_PER_MINUTE,
        }
    }

    /// The `n`-th incident (from 0).
    pub fn nth(&self, n: u64, store: &Store) -> Incident {
        let mut state = self.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let draw = splitmix64(&mut state);
        // The cycle starts at a kind the seed picks; every kind comes once per round.
        let first_kind = (self.seed % IncidentKind::CYCLE.len() as u64) as usize;
        let kind = IncidentKind::CYCLE[(first_kind + n as usize) % IncidentKind::CYCLE.len()];
        let choices = match kind {
            IncidentKind::GatewayOutage => GATEWAY_NAMES.len(),
            // One of the five most popular SKUs (popularity falls with the index).
            IncidentKind::Stockout => store.skus().len().min(5),
            IncidentKind::LineFault => store.production_lines().len(),
            IncidentKind::LatencySpike => store.endpoints().len(),
            IncidentKind::ShippingBacklog => 1,
        };
        let start_us = self.origin_us + self.first_after_us + n as i64 * self.period_us;
        Incident {
            kind,
            start_us,
            end_us: start_us + kind.duration_us(),
            target: (draw % choices.max(1) as u64) as usize,
        }
    }

    /// The incident going on at `time_us`, if any.
    pub fn at(&self, time_us: i64, store: &Store) -> Option<Incident> {
        let since_first = time_us - self.origin_us - self.first_after_us;
        if since_first < 0 {
            return None;
        }
        let incident = self.nth((since_first / self.period_us) as u64, store);
        (time_us < incident.end_us).then_some(incident)
    }

    /// The first incident that starts after `time_us`.
    pub fn next_after(&self, time_us: i64, store: &Store) -> Incident {
        let since_first = time_us - self.origin_us - self.first_after_us;
        if since_first < 0 {
            return self.nth(0, store);
        }
        self.nth((since_first / self.period_us) as u64 + 1, store)
    }
}

/// Spontaneous actions per second at rhythm 1.0 (a Wednesday midday), for full traffic.
/// Production, cycle counts and queue samples run around the clock.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rates {
    pub session_steps: f64,
    pub api_requests: f64,
    pub direct_orders: f64,
    pub cycle_counts: f64,
    pub production_reports: f64,
    pub queue_samples: f64,
}

impl Default for Rates {
    /// About 25 events a second at midday (20 on average) and 13 orders a minute (3 at
    /// night). Every order costs the backfill, which must take seconds.
    fn default() -> Self {
        Rates {
            session_steps: 3.5,
            api_requests: 20.0,
            direct_orders: 0.06,
            cycle_counts: 0.4,
            production_reports: 0.3,
            queue_samples: 0.5,
        }
    }
}

/// Web orders per web session step, as full traffic's session pool produces them
/// (measured; `lean_history_orders_match_full_traffic` holds [`Traffic::Lean`] to it).
pub const WEB_ORDERS_PER_SESSION_STEP: f64 = 0.046;

/// SKUs with a slow supplier, per mille: some stock is always low or out.
const SLOW_SUPPLY_PER_MILLE: u32 = 60;

const ACTIONS: [Action; 7] = [
    Action::SessionStep,
    Action::WebOrder,
    Action::ApiRequest,
    Action::DirectOrder,
    Action::CycleCount,
    Action::ProductionReport,
    Action::QueueSample,
];

/// What changed while generating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    IncidentStarted(Incident),
    IncidentEnded(Incident),
}

/// Drives a [`TimedGenerator`]: each spontaneous action arrives at its own rate (scaled
/// by the rhythm where people cause it), follow-ups at their due times, and incidents
/// start and end on their schedule.
#[derive(Debug)]
pub struct Scenario {
    generator: TimedGenerator,
    rhythm: Rhythm,
    rates: Rates,
    incidents: Option<IncidentSchedule>,
    current_incident: Option<Incident>,
    rng: Rng,
    /// Per entry of `ACTIONS`: when it next happens (`i64::MAX`: not in this traffic).
    next_action_us: [i64; ACTIONS.len()],
}

impl Scenario {
    /// A scenario whose clock starts at `config.start_time_us`, in full traffic, with
    /// every stock level counted. Some SKUs have slow suppliers, so some stock is always
    /// low.
    pub fn new(config: GeneratorConfig, rhythm: Rhythm, rates: Rates) -> Scenario {
        let mut state = config.seed ^ 0x5ce0_a710;
        let rng = Rng::new(splitmix64(&mut state));
        let start_us = config.start_time_us;
        let mut generator = TimedGenerator::new(config);
        generator.constrain_supply(SLOW_SUPPLY_PER_MILLE);
        // Every level known from the start, as after a stocktake.
        generator.count_all_stock();
        let mut scenario = Scenario {
            generator,
            rhythm,
            rates,
            incidents: None,
            current_incident: None,
            rng,
            next_action_us: [i64::MAX; ACTIONS.len()],
        };
        scenario.restart_arrivals(start_us);
        scenario
    }

    pub fn generator(&self) -> &TimedGenerator {
        &self.generator
    }

    pub fn now_us(&self) -> i64 {
        self.generator.now_us()
    }

    /// Switches between history and full traffic from now on. Going to full traffic
    /// counts all stock, so the stock KPIs know every level at once.
    pub fn set_traffic(&mut self, traffic: Traffic) {
        if traffic == self.generator.traffic() {
            return;
        }
        self.generator.set_traffic(traffic);
        if traffic == Traffic::Full {
            // History moved no stock (and its slow restocks all came): the slow suppliers'
            // shortage starts again with the traffic that moves stock.
            self.generator.constrain_supply(SLOW_SUPPLY_PER_MILLE);
            self.generator.count_all_stock();
        }
        self.restart_arrivals(self.generator.now_us());
    }

    /// Puts `conditions` in effect now, outside any incident schedule.
    pub fn set_conditions(&mut self, conditions: Conditions) {
        self.generator.set_conditions(conditions);
    }

    /// Incidents from now on, on `schedule`.
    pub fn set_incidents(&mut self, schedule: IncidentSchedule) {
        self.incidents = Some(schedule);
    }

    /// The incident going on, if any.
    pub fn current_incident(&self) -> Option<Incident> {
        self.current_incident
    }

    /// The next incident to start after now (none without a schedule).
    pub fn next_incident(&self) -> Option<Incident> {
        let schedule = self.incidents?;
        Some(schedule.next_after(self.now_us(), self.generator.store()))
    }

    /// A short description of `incident` in this world.
    pub fn describe(&self, incident: &Incident) -> String {
        incident.describe(self.generator.store())
    }

    /// Appends every event up to `until_us` to `out`, one NDJSON line each, and notes
    /// incidents starting or ending in `changes`. Returns the number of events.
    pub fn generate_until(
        &mut self,
        until_us: i64,
        out: &mut String,
        changes: &mut Vec<Change>,
    ) -> u64 {
        let mut written = 0;
        loop {
            let (action_index, action_us) = self
                .next_action_us
                .iter()
                .copied()
                .enumerate()
                .min_by_key(|&(_, time)| time)
                .expect("there are actions");
            let due_us = self.generator.next_due_us().unwrap_or(i64::MAX);
            let change_us = self.next_incident_change_us();
            let next_us = action_us.min(due_us).min(change_us);
            if next_us > until_us {
                return written;
            }
            if change_us == next_us {
                self.apply_incident_change(change_us, changes);
                continue;
            }
            let wrote = if due_us <= action_us {
                self.generator.run_due(out)
            } else {
                let action = ACTIONS[action_index];
                self.next_action_us[action_index] = self.next_arrival(action, action_us);
                self.generator.act_at(action_us, action, out)
            };
            if wrote {
                out.push('\n');
                written += 1;
            }
        }
    }

    fn next_incident_change_us(&self) -> i64 {
        if let Some(incident) = self.current_incident {
            return incident.end_us;
        }
        let Some(schedule) = self.incidents else {
            return i64::MAX;
        };
        let now_us = self.generator.now_us();
        match schedule.at(now_us, self.generator.store()) {
            // Began while the clock was not running (a gap): it starts now.
            Some(incident) => incident.start_us.max(now_us),
            None => schedule.next_after(now_us, self.generator.store()).start_us,
        }
    }

    fn apply_incident_change(&mut self, at_us: i64, changes: &mut Vec<Change>) {
        if let Some(incident) = self.current_incident.take() {
            self.generator.advance_clock(at_us);
            self.generator.set_conditions(Conditions::default());
            changes.push(Change::IncidentEnded(incident));
            return;
        }
        let Some(schedule) = self.incidents else {
            return;
        };
        let incident = schedule
            .at(at_us, self.generator.store())
            .unwrap_or_else(|| schedule.next_after(at_us - 1, self.generator.store()));
        self.generator.advance_clock(at_us);
        self.generator.set_conditions(incident.conditions());
        self.current_incident = Some(incident);
        changes.push(Change::IncidentStarted(incident));
    }

    fn restart_arrivals(&mut self, from_us: i64) {
        for (index, action) in ACTIONS.into_iter().enumerate() {
            self.next_action_us[index] = self.next_arrival(action, from_us);
        }
    }

    /// Actions per second of `action` at `time_us` in the current traffic.
    fn rate(&self, action: Action, time_us: i64) -> f64 {
        let rates = &self.rates;
        let people = self.rhythm.factor(time_us);
        match (self.generator.traffic(), action) {
            (Traffic::Full, Action::SessionStep) => rates.session_steps * people,
            (Traffic::Full, Action::ApiRequest) => rates.api_requests * people,
            (Traffic::Full, Action::CycleCount) => rates.cycle_counts,
            (Traffic::Full, Action::ProductionReport) => rates.production_reports,
            (Traffic::Full, Action::QueueSample) => rates.queue_samples,
            (Traffic::Full, Action::WebOrder) => 0.0,
            (_, Action::DirectOrder) => rates.direct_orders * people,
            (Traffic::Lean | Traffic::Sparse, Action::WebOrder) => {
                rates.session_steps * WEB_ORDERS_PER_SESSION_STEP * people
            }
            (Traffic::Lean | Traffic::Sparse, Action::ProductionReport) => {
                rates.production_reports / crate::LEAN_PRODUCTION_BATCH as f64
            }
            (Traffic::Lean | Traffic::Sparse, _) => 0.0,
        }
    }

    /// When `action` next happens after one at `after_us`: a mean gap of one over its
    /// rate, jittered by ±50 % so arrivals do not tick like a clock.
    fn next_arrival(&mut self, action: Action, after_us: i64) -> i64 {
        let rate = self.rate(action, after_us);
        if rate <= 0.0 {
            return i64::MAX;
        }
        let gap_us = (0.5 + self.rng.unit()) * 1e6 / rate;
        after_us + (gap_us as i64).max(1)
    }
}
