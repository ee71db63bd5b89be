//! The event generator: a discrete-event simulation over [`Store`] that writes one
//! CloudEvent per step.
//!
//! Each step either runs the earliest *due* follow-up (payment after an order,
//! fulfilment stages, picks, restocks, refunds, line restarts) or, when none is due, a
//! *spontaneous* action drawn by weight: a web session takes its next funnel step, an
//! API request is served, a POS or marketplace order comes in, a cycle count, a
//! production report or a queue sample. Follow-ups are scheduled in *events* (not
//! microseconds), so the simulated processes keep their shape at any
//! `events_per_second`, and the number of orders in flight stays bounded.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::GeneratorConfig;
use crate::json::{push_escaped, push_hex, push_i64, push_money, push_u64};
use crate::rng::{Rng, splitmix64};
use crate::store::{
    Channel, Intent, Line, LineStatus, Order, Person, Phase, REORDER_POINT, Segment, Session, Store,
};
use crate::time::CachedTimeFormatter;

/// Payment gateways: (name, share of web orders, failure rate per mille).
const GATEWAYS: [(&str, u32, u32); 3] = [("stripe", 55, 35), ("adyen", 30, 28), ("paypal", 15, 60)];
const GATEWAY_WEIGHTS: [u32; 3] = [GATEWAYS[0].1, GATEWAYS[1].1, GATEWAYS[2].1];
const ADYEN: usize = 1;
const PAYMENT_FAILURES: &[(&str, u32)] = &[
    ("card_declined", 45),
    ("insufficient_funds", 20),
    ("authentication_failed", 15),
    ("processing_error", 10),
    ("expired_card", 10),
];
const STAGES: [&str; 5] = ["received", "picking", "packing", "shipped", "delivered"];

/// Concurrent web sessions.
const SESSION_POOL: usize = 512;
/// The order must be shipped within this many events after payment.
const DEADLINE_EVENTS: u64 = 4_000;

/// Weights of the spontaneous actions (when no follow-up is due).
const SPONTANEOUS: [u32; 6] = [
    650, // web session step
    235, // api.request
    10,  // POS / marketplace order
    18,  // inventory.counted (cycle count)
    40,  // production line report
    30,  // queue.depth sample
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum RefundKind {
    /// Order cancelled after payment: full amount.
    Cancelled,
    /// Items sent back after delivery: one line, goods return to stock.
    Return,
    /// Goodwill or partial refund of an order not shipped by us.
    Partial,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Task {
    Payment(u32),
    CancelUnpaid(u32),
    Fulfill(u32),
    Refund(u32, RefundKind),
    Adjust {
        sku: u32,
        warehouse: u8,
        delta: i32,
        restock: bool,
    },
    LineRestart(u8),
    /// Timed mode only: a cycle count of one (sku, warehouse) reporting the level as it
    /// is (no shrinkage), e.g. the zero of a stockout.
    Count {
        sku: u32,
        warehouse: u8,
    },
    /// Timed mode only: reports a line's current status (an incident's fault and its end).
    LineStatus(u8),
}

/// How events are placed in time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Clock {
    /// [`EventGenerator::next_event`]: the n-th event is at `start + n / events_per_second`
    /// and follow-ups are due a number of *events* later.
    Paced,
    /// [`TimedGenerator`]: the caller says when each spontaneous action happens, and
    /// follow-ups are due at an event time (µs): their delays in events are converted at
    /// the nominal `events_per_second`, so a payment still follows its order within
    /// seconds when the traffic around it is thin.
    Timed,
}

/// What a [`TimedGenerator`] writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Traffic {
    /// Every kind of event.
    #[default]
    Full,
    /// History: only what the historical KPIs read — orders (web orders without their
    /// page views, carts and checkouts), payments and their failures, cancellations,
    /// refunds and production. No fulfilment, stock movements, API requests or queue
    /// samples; production reports are fewer and [`LEAN_PRODUCTION_BATCH`] times larger.
    Lean,
    /// Older history: [`Traffic::Lean`] without payments, failures and the cancellations
    /// that follow them (orders are paid unseen). What reads payments keeps only minute
    /// windows, which history forgets after days, and a payment costs as much to count
    /// as an order.
    Sparse,
}

/// Production reports of lean and sparse traffic stand for this many of full traffic.
pub const LEAN_PRODUCTION_BATCH: u64 = 60;

/// A spontaneous action of a [`TimedGenerator`], happening at a time its caller chose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// A web session takes its next funnel step (page view, cart, checkout or order).
    SessionStep,
    /// A buying web session's order alone, for [`Traffic::Lean`]: the session is drawn
    /// as `SessionStep` draws them, its funnel steps are not written.
    WebOrder,
    ApiRequest,
    /// A POS sale or a marketplace order.
    DirectOrder,
    CycleCount,
    ProductionReport,
    QueueSample,
}

/// Disturbances in effect (see `scenario`): each changes how the world behaves while it
/// lasts. The default, none, leaves the generator's behaviour untouched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Conditions {
    /// Index into the payment gateways ([`GATEWAY_NAMES`]) whose payments mostly fail.
    pub gateway_outage: Option<usize>,
    /// SKU index out of stock in every warehouse: counted at 0, restocks held back.
    pub stockout_sku: Option<u32>,
    /// Production line index in fault: no output, no restart.
    pub line_fault: Option<usize>,
    /// API endpoint index answering slowly and with many 5xx.
    pub slow_endpoint: Option<usize>,
    /// Fulfilment stuck before shipping: picking, packing and shipping do not advance.
    pub shipping_backlog: bool,
}

/// Names of the payment gateways, in the order [`Conditions::gateway_outage`] indexes.
pub const GATEWAY_NAMES: [&str; 3] = [GATEWAYS[0].0, GATEWAYS[1].0, GATEWAYS[2].0];
/// Failed payments per mille at a gateway in an outage.
const OUTAGE_FAILURES_PER_MILLE: u32 = 900;
/// 5xx per mille at an endpoint in a latency spike.
const SPIKE_SERVER_ERRORS_PER_MILLE: u32 = 150;
/// Restock lead time of a SKU with a slow supplier (µs): it stays low for hours.
const SLOW_RESTOCK_US: (u64, u64) = (3_600_000_000, 6 * 3_600_000_000);
/// How long an action held back by an incident waits before it is tried again (µs).
const RETRY_AFTER_US: (u64, u64) = (3_000_000, 15_000_000);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Scheduled {
    due: u64,
    seq: u64,
    task: Task,
}

/// Deterministic generator of realistic Sightline v1 CloudEvents.
///
/// ```
/// use sightline_generator::{EventGenerator, GeneratorConfig};
/// let mut g = EventGenerator::new(GeneratorConfig { seed: 7, ..Default::default() });
/// let mut line = String::new();
/// g.next_event(&mut line);
/// assert!(line.starts_with(r#"{"specversion":"1.0","id":""#));
/// ```
#[derive(Debug)]
pub struct EventGenerator {
    config: GeneratorConfig,
    clock: Clock,
    /// Abandoned checkouts that leave a `payment.failed` behind, per mille.
    abandoned_checkout_failures_per_mille: u32,
    traffic: Traffic,
    conditions: Conditions,
    /// Per SKU: restocks take hours (timed mode; empty otherwise).
    slow_supply: Vec<bool>,
    rng: Rng,
    store: Store,
    schedule: BinaryHeap<Reverse<Scheduled>>,
    seq: u64,
    count: u64,
    /// Picoseconds of event time between consecutive events.
    step_ps: u128,
    deadline_us: i64,
    /// Simulation time of the current event.
    now_us: i64,
    /// `time` attribute of the current event (`now_us` minus disorder jitter).
    event_time_us: i64,
    /// Hex tag derived from the seed, in every generated id.
    tag: String,
    /// `","source":"<escaped source>","type":"`.
    source_part: String,
    /// Escaped currency code.
    currency: String,
    time_fmt: CachedTimeFormatter,
    next_session: u64,
    next_visitor: u64,
    next_order: u64,
    next_checkout: u64,
}

impl EventGenerator {
    pub fn new(config: GeneratorConfig) -> Self {
        let mut seed_state = config.seed ^ 0x7461_6721_7461_6721;
        let tag_bits = splitmix64(&mut seed_state) >> 32;
        let mut tag = String::with_capacity(8);
        push_hex(&mut tag, tag_bits, 8);
        let mut source_part = String::from(r#"","source":""#);
        push_escaped(&mut source_part, &config.source);
        source_part.push_str(r#"","type":""#);
        let mut currency = String::new();
        push_escaped(&mut currency, &config.currency);
        let rate = if config.events_per_second.is_finite() && config.events_per_second > 0.0 {
            config.events_per_second
        } else {
            1.0
        };
        let step_ps = (1e12 / rate).round() as u128;
        let deadline_us = (u128::from(DEADLINE_EVENTS) * step_ps / 1_000_000) as i64;
        let mut g = EventGenerator {
            clock: Clock::Paced,
            abandoned_checkout_failures_per_mille: 350,
            traffic: Traffic::Full,
            conditions: Conditions::default(),
            slow_supply: Vec::new(),
            rng: Rng::new(config.seed),
            store: Store::new(config.sku_count),
            schedule: BinaryHeap::new(),
            seq: 0,
            count: 0,
            step_ps,
            deadline_us,
            now_us: config.start_time_us,
            event_time_us: config.start_time_us,
            tag,
            source_part,
            currency,
            time_fmt: CachedTimeFormatter::default(),
            next_session: 0,
            next_visitor: 0,
            next_order: 0,
            next_checkout: 0,
            config,
        };
        for _ in 0..SESSION_POOL {
            let s = g.new_session();
            g.store.sessions.push(s);
        }
        g
    }

    /// Appends the next event as one structured-mode CloudEvent JSON object on one
    /// line, without a trailing newline.
    pub fn next_event(&mut self, out: &mut String) {
        let idx = self.count;
        self.count += 1;
        self.now_us = self.time_at(idx);
        self.event_time_us = if self.config.disorder_us > 0 {
            self.now_us - self.rng.below(self.config.disorder_us as u64 + 1) as i64
        } else {
            self.now_us
        };
        if let Some(Reverse(next)) = self.schedule.peek()
            && next.due <= idx
        {
            let Reverse(next) = self.schedule.pop().expect("peeked");
            self.run_task(next.task, out);
            return;
        }
        match self.rng.weighted(&SPONTANEOUS) {
            0 => self.session_step(out),
            1 => self.api_request(out),
            2 => self.direct_order(out),
            3 => self.inventory_count(out),
            4 => self.production_tick(out),
            _ => self.queue_depth(out),
        }
    }

    /// Appends `n` events as NDJSON: each followed by `\n`.
    pub fn write_ndjson(&mut self, out: &mut String, n: usize) {
        for _ in 0..n {
            self.next_event(out);
            out.push('\n');
        }
    }

    /// Number of events generated so far.
    pub fn events_generated(&self) -> u64 {
        self.count
    }

    /// The `time` of the last generated event, in µs since the epoch (the start time
    /// before the first event).
    pub fn last_event_time_us(&self) -> i64 {
        self.event_time_us
    }

    /// The tag (8 hex digits derived from the seed) that makes this run's ids distinct.
    pub fn run_tag(&self) -> &str {
        &self.tag
    }

    pub fn config(&self) -> &GeneratorConfig {
        &self.config
    }

    /// The simulated world.
    pub fn store(&self) -> &Store {
        &self.store
    }

    fn time_at(&self, idx: u64) -> i64 {
        self.config.start_time_us + (u128::from(idx) * self.step_ps / 1_000_000) as i64
    }

    fn schedule(&mut self, after_events: u64, task: Task) {
        let due = match self.clock {
            Clock::Paced => self.count + after_events,
            Clock::Timed => {
                self.now_us.max(0) as u64
                    + (u128::from(after_events) * self.step_ps / 1_000_000) as u64
            }
        };
        self.schedule_at(due, task);
    }

    /// Timed mode: `task` again a few seconds from now (an incident holds it back).
    fn retry_later(&mut self, task: Task) {
        let delay_us = self.rng.range(RETRY_AFTER_US.0, RETRY_AFTER_US.1);
        self.schedule_at(self.now_us.max(0) as u64 + delay_us, task);
    }

    fn schedule_at(&mut self, due: u64, task: Task) {
        self.seq += 1;
        self.schedule.push(Reverse(Scheduled {
            due,
            seq: self.seq,
            task,
        }));
    }

    fn run_task(&mut self, task: Task, out: &mut String) {
        match task {
            Task::Payment(o) => self.payment(o, out),
            Task::CancelUnpaid(o) => {
                self.begin(out, "order.cancelled");
                out.push_str(r#""order_id":""#);
                self.push_order_id(out, self.store.orders[o as usize].num);
                out.push_str(r#"","reason":"payment_failed"}}"#);
                self.store.free_order(o);
            }
            Task::Fulfill(o) => self.fulfill(o, out),
            Task::Refund(o, kind) => self.refund(o, kind, out),
            Task::Adjust {
                sku,
                warehouse,
                delta,
                restock,
            } => {
                // A stocked-out SKU moves no stock until its restock: picks, returns and
                // restocks wait (the cancelled orders never pick).
                if self.conditions.stockout_sku == Some(sku) {
                    return self.retry_later(task);
                }
                self.adjust(sku, usize::from(warehouse), i64::from(delta), restock, out);
            }
            Task::LineRestart(line) => {
                let line = usize::from(line);
                if self.conditions.line_fault == Some(line) {
                    return self.retry_later(task);
                }
                self.store.lines[line].status = LineStatus::Running;
                self.write_line_status(line, out);
            }
            Task::Count { sku, warehouse } => {
                self.write_count(sku, usize::from(warehouse), out);
            }
            Task::LineStatus(line) => self.write_line_status(usize::from(line), out),
        }
    }

    // ---- envelope and ids -------------------------------------------------------

    /// Writes the envelope up to and including `"data":{`.
    fn begin(&mut self, out: &mut String, ty: &str) {
        out.push_str(r#"{"specversion":"1.0","id":""#);
        out.push_str(&self.tag);
        out.push('-');
        push_u64(out, self.count - 1);
        out.push_str(&self.source_part);
        out.push_str(ty);
        out.push_str(r#"","time":""#);
        self.time_fmt.write(out, self.event_time_us);
        out.push_str(r#"","data":{"#);
    }

    fn push_tagged(&self, out: &mut String, prefix: &str, n: u64) {
        out.push_str(prefix);
        out.push_str(&self.tag);
        out.push('-');
        push_u64(out, n);
    }

    fn push_order_id(&self, out: &mut String, n: u64) {
        self.push_tagged(out, "o-", n);
    }

    fn push_session_id(&self, out: &mut String, n: u64) {
        self.push_tagged(out, "s-", n);
    }

    fn push_person(&self, out: &mut String, prefix: &str, p: Person) {
        match p {
            Person::Base(n) => {
                out.push_str(prefix);
                push_u64(out, u64::from(n));
            }
            Person::New(n) => self.push_tagged(out, prefix, n),
        }
    }

    fn push_currency(&self, out: &mut String) {
        out.push_str(r#","currency":""#);
        out.push_str(&self.currency);
        out.push('"');
    }

    // ---- web sessions -------------------------------------------------------------

    fn new_session(&mut self) -> Session {
        let num = self.next_session;
        self.next_session += 1;
        let returning = self.rng.chance(400);
        let (visitor, segment) = if returning {
            let n = self.rng.below(u64::from(self.store.customer_base)) as u32;
            (Person::Base(n), Segment::Returning)
        } else {
            self.next_visitor += 1;
            (Person::New(self.next_visitor - 1), Segment::New)
        };
        let region = self.store.region(&mut self.rng);
        const INTENTS: [Intent; 4] = [
            Intent::Bounce,
            Intent::AbandonCart,
            Intent::AbandonCheckout,
            Intent::Buy,
        ];
        let weights = if returning {
            [430, 110, 120, 340]
        } else {
            [600, 130, 120, 150]
        };
        let intent = INTENTS[self.rng.weighted(&weights)];
        let (views_left, items_target) = if intent == Intent::Bounce {
            (self.rng.range(1, 4) as u32, 0)
        } else {
            (
                self.rng.range(1, 5) as u32,
                1 + self.rng.weighted(&[650, 250, 70, 30]) as u8,
            )
        };
        Session {
            num,
            visitor,
            segment,
            region,
            intent,
            phase: Phase::Browsing,
            views_done: 0,
            views_left,
            items_target,
            cart: [Line::default(); 4],
            cart_len: 0,
            last_viewed_sku: None,
            checkout_num: 0,
        }
    }

    fn replace_session(&mut self, slot: usize) {
        let s = self.new_session();
        self.store.sessions[slot] = s;
    }

    fn session_step(&mut self, out: &mut String) {
        let slot = self.rng.below(self.store.sessions.len() as u64) as usize;
        loop {
            let s = &self.store.sessions[slot];
            match s.phase {
                Phase::Browsing => {
                    if s.views_left > 0 {
                        return self.page_view(slot, out);
                    }
                    if s.cart_len < s.items_target {
                        return self.cart_add(slot, out);
                    }
                    if matches!(s.intent, Intent::AbandonCheckout | Intent::Buy) {
                        return self.checkout_started(slot, out);
                    }
                    // Bounced, or left a full cart behind: the session ends silently.
                    self.replace_session(slot);
                }
                Phase::CheckingOut => {
                    if s.intent == Intent::Buy {
                        return self.web_order(slot, out);
                    }
                    // Abandoned checkout; some after a declined card.
                    if self.rng.chance(self.abandoned_checkout_failures_per_mille) {
                        let gateway = GATEWAYS[self.rng.weighted(&GATEWAY_WEIGHTS)].0;
                        let reason = *self.rng.pick(PAYMENT_FAILURES);
                        let checkout = self.store.sessions[slot].checkout_num;
                        self.begin(out, "payment.failed");
                        out.push_str(r#""gateway":""#);
                        out.push_str(gateway);
                        self.push_tagged(out, r#"","checkout_id":"co-"#, checkout);
                        out.push_str(r#"","reason":""#);
                        out.push_str(reason);
                        out.push_str("\"}}");
                        self.replace_session(slot);
                        return;
                    }
                    self.replace_session(slot);
                }
            }
        }
    }

    fn page_view(&mut self, slot: usize, out: &mut String) {
        let (landing, has_cart) = {
            let s = &self.store.sessions[slot];
            (s.views_done == 0, s.cart_len > 0)
        };
        // 0 home, 1 product, 2 category, 3 search, 4 cart
        let kind = if landing {
            self.rng.weighted(&[30, 45, 20, 5])
        } else {
            self.rng
                .weighted(&[5, 55, 20, 10, if has_cart { 10 } else { 0 }])
        };
        let sku = self.store.popular_sku(&mut self.rng);
        let s = &mut self.store.sessions[slot];
        s.views_left -= 1;
        s.views_done += 1;
        if kind == 1 {
            s.last_viewed_sku = Some(sku);
        }
        let (num, visitor) = (s.num, s.visitor);
        self.begin(out, "page.viewed");
        out.push_str(r#""session_id":""#);
        self.push_session_id(out, num);
        out.push_str(r#"","visitor_id":""#);
        self.push_person(out, "v-", visitor);
        out.push_str(r#"","path":""#);
        let sku = &self.store.skus[sku as usize];
        match kind {
            0 => out.push('/'),
            1 => {
                out.push_str("/products/");
                out.push_str(&sku.id);
            }
            2 => {
                out.push_str("/c/");
                out.push_str(sku.category);
            }
            3 => {
                out.push_str("/search?q=");
                out.push_str(sku.slug);
            }
            _ => out.push_str("/cart"),
        }
        out.push_str("\"}}");
    }

    fn cart_add(&mut self, slot: usize, out: &mut String) {
        let viewed = self.store.sessions[slot].last_viewed_sku.take();
        let sku = match viewed {
            Some(sku) => sku,
            None => self.store.popular_sku(&mut self.rng),
        };
        let quantity = match self.rng.weighted(&[800, 150, 40, 10]) {
            i @ 0..=2 => i as u32 + 1,
            _ => self.rng.range(4, 6) as u32,
        };
        let more_views = {
            let s = &self.store.sessions[slot];
            if s.cart_len + 1 < s.items_target {
                self.rng.range(1, 3)
            } else {
                self.rng.range(0, 2)
            }
        };
        let s = &mut self.store.sessions[slot];
        let len = usize::from(s.cart_len);
        if let Some(line) = s.cart[..len].iter_mut().find(|l| l.sku == sku) {
            line.quantity += quantity;
        } else {
            s.cart[len] = Line { sku, quantity };
            s.cart_len += 1;
        }
        s.views_left = more_views as u32;
        let num = s.num;
        self.begin(out, "cart.item_added");
        out.push_str(r#""session_id":""#);
        self.push_session_id(out, num);
        out.push_str(r#"","sku":""#);
        out.push_str(&self.store.skus[sku as usize].id);
        out.push_str(r#"","quantity":"#);
        push_u64(out, u64::from(quantity));
        out.push_str("}}");
    }

    fn checkout_started(&mut self, slot: usize, out: &mut String) {
        let checkout = self.next_checkout;
        self.next_checkout += 1;
        let s = &mut self.store.sessions[slot];
        s.phase = Phase::CheckingOut;
        s.checkout_num = checkout;
        let num = s.num;
        self.begin(out, "checkout.started");
        out.push_str(r#""session_id":""#);
        self.push_session_id(out, num);
        self.push_tagged(out, r#"","checkout_id":"co-"#, checkout);
        out.push_str("\"}}");
    }

    // ---- orders -------------------------------------------------------------------

    fn web_order(&mut self, slot: usize, out: &mut String) {
        let s = &self.store.sessions[slot];
        let customer = s.visitor;
        let (session, region, segment, lines, n_lines) =
            (s.num, s.region, s.segment, s.cart, s.cart_len);
        self.create_order(
            Channel::Web,
            Some(session),
            region,
            segment,
            Some(customer),
            lines,
            n_lines,
            out,
        );
        self.replace_session(slot);
    }

    /// A buying web session's order without its funnel steps ([`Action::WebOrder`]): the
    /// session is drawn as live ones are, so buyers' regions, segments and baskets keep
    /// their shares.
    fn lean_web_order(&mut self, out: &mut String) {
        let session = loop {
            let session = self.new_session();
            if session.intent == Intent::Buy {
                break session;
            }
        };
        let mut lines = [Line::default(); 4];
        let mut n_lines = 0usize;
        for _ in 0..session.items_target {
            let sku = self.store.popular_sku(&mut self.rng);
            let quantity = match self.rng.weighted(&[800, 150, 40, 10]) {
                i @ 0..=2 => i as u32 + 1,
                _ => self.rng.range(4, 6) as u32,
            };
            if let Some(line) = lines[..n_lines].iter_mut().find(|l| l.sku == sku) {
                line.quantity += quantity;
            } else {
                lines[n_lines] = Line { sku, quantity };
                n_lines += 1;
            }
        }
        self.create_order(
            Channel::Web,
            None,
            session.region,
            session.segment,
            Some(session.visitor),
            lines,
            n_lines as u8,
            out,
        );
    }

    /// A POS sale in one of the shops, or an order from a marketplace.
    fn direct_order(&mut self, out: &mut String) {
        let pos = self.rng.chance(550);
        let (channel, region, segment, customer, max_lines) = if pos {
            let shops = &self.store.retail_stores;
            let weights: [u32; 4] = std::array::from_fn(|i| shops.get(i).map_or(0, |s| s.weight));
            let region = shops[self.rng.weighted(&weights[..shops.len().min(4)])].region;
            if self.rng.chance(400) {
                let n = self.rng.below(u64::from(self.store.customer_base)) as u32;
                (
                    Channel::Pos,
                    region,
                    Segment::Returning,
                    Some(Person::Base(n)),
                    2,
                )
            } else {
                (Channel::Pos, region, Segment::New, None, 2)
            }
        } else {
            let region = self.store.region(&mut self.rng);
            if self.rng.chance(300) {
                let n = self.rng.below(u64::from(self.store.customer_base)) as u32;
                (
                    Channel::Marketplace,
                    region,
                    Segment::Returning,
                    Some(Person::Base(n)),
                    3,
                )
            } else {
                self.next_visitor += 1;
                let p = Person::New(self.next_visitor - 1);
                (Channel::Marketplace, region, Segment::New, Some(p), 3)
            }
        };
        let wanted = 1 + self.rng.weighted(&[700, 220, 80][..max_lines]);
        let mut lines = [Line::default(); 4];
        let mut n = 0usize;
        for _ in 0..wanted {
            let sku = self.store.popular_sku(&mut self.rng);
            let quantity = if self.rng.chance(850) {
                1
            } else {
                self.rng.range(2, 3) as u32
            };
            if let Some(l) = lines[..n].iter_mut().find(|l| l.sku == sku) {
                l.quantity += quantity;
            } else {
                lines[n] = Line { sku, quantity };
                n += 1;
            }
        }
        self.create_order(
            channel, None, region, segment, customer, lines, n as u8, out,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn create_order(
        &mut self,
        channel: Channel,
        session: Option<u64>,
        region: usize,
        segment: Segment,
        customer: Option<Person>,
        lines: [Line; 4],
        n_lines: u8,
        out: &mut String,
    ) {
        let num = self.next_order;
        self.next_order += 1;
        let total_cents: i64 = lines[..usize::from(n_lines)]
            .iter()
            .map(|l| self.store.skus[l.sku as usize].price_cents * i64::from(l.quantity))
            .sum();
        let gateway = match channel {
            Channel::Pos => ADYEN,
            _ => self.rng.weighted(&GATEWAY_WEIGHTS),
        };
        let money_as_number = self.rng.chance(50);
        let order = Order {
            num,
            channel,
            session,
            lines,
            n_lines,
            total_cents,
            gateway,
            attempts: 0,
            warehouse: self.store.regions[region].warehouse,
            ship_by_us: 0,
            stage: 0,
            money_as_number,
        };
        let slot = self.store.alloc_order(order);
        if self.traffic == Traffic::Sparse {
            self.after_unseen_payment(slot);
        } else {
            let delay = match channel {
                Channel::Web => self.rng.range(5, 80),
                Channel::Marketplace => self.rng.range(1, 20),
                Channel::Pos => self.rng.range(1, 3),
            };
            self.schedule(delay, Task::Payment(slot));
        }

        self.begin(out, "order.created");
        out.push_str(r#""order_id":""#);
        self.push_order_id(out, num);
        out.push_str(r#"","total":"#);
        push_money(out, total_cents, money_as_number);
        self.push_currency(out);
        if let Some(c) = customer {
            out.push_str(r#","customer_id":""#);
            self.push_person(out, "c-", c);
            out.push('"');
        }
        if let Some(s) = session {
            out.push_str(r#","session_id":""#);
            self.push_session_id(out, s);
            out.push('"');
        }
        out.push_str(r#","region":""#);
        out.push_str(self.store.regions[region].code);
        out.push_str(r#"","channel":""#);
        out.push_str(channel.as_str());
        out.push_str(r#"","segment":""#);
        out.push_str(segment.as_str());
        out.push_str(r#"","lines":["#);
        for (i, l) in lines[..usize::from(n_lines)].iter().enumerate() {
            let sku = &self.store.skus[l.sku as usize];
            if i > 0 {
                out.push(',');
            }
            out.push_str(r#"{"sku":""#);
            out.push_str(&sku.id);
            out.push_str(r#"","name":""#);
            out.push_str(&sku.name);
            out.push_str(r#"","quantity":"#);
            push_u64(out, u64::from(l.quantity));
            out.push_str(r#","price":"#);
            push_money(out, sku.price_cents, money_as_number);
            out.push('}');
        }
        out.push_str("]}}");
    }

    fn payment(&mut self, slot: u32, out: &mut String) {
        let o = &mut self.store.orders[slot as usize];
        o.attempts += 1;
        let fail_per_mille = if self.conditions.gateway_outage == Some(o.gateway) {
            OUTAGE_FAILURES_PER_MILLE
        } else if o.channel == Channel::Pos {
            15
        } else {
            GATEWAYS[o.gateway].2
        };
        let (num, attempts, channel, session, gateway, total, as_number) = (
            o.num,
            o.attempts,
            o.channel,
            o.session,
            o.gateway,
            o.total_cents,
            o.money_as_number,
        );
        if self.rng.chance(fail_per_mille) {
            let reason = *self.rng.pick(PAYMENT_FAILURES);
            self.begin(out, "payment.failed");
            out.push_str(r#""gateway":""#);
            out.push_str(GATEWAYS[gateway].0);
            out.push_str(r#"","order_id":""#);
            self.push_order_id(out, num);
            out.push_str(r#"","reason":""#);
            out.push_str(reason);
            out.push_str("\"}}");
            if attempts < 3 && self.rng.chance(600) {
                if channel != Channel::Pos && self.rng.chance(300) {
                    self.store.orders[slot as usize].gateway = self.rng.weighted(&GATEWAY_WEIGHTS);
                }
                let delay = self.rng.range(20, 300);
                self.schedule(delay, Task::Payment(slot));
            } else {
                let delay = self.rng.range(50, 500);
                self.schedule(delay, Task::CancelUnpaid(slot));
            }
            return;
        }

        self.begin(out, "order.paid");
        out.push_str(r#""order_id":""#);
        self.push_order_id(out, num);
        out.push_str(r#"","amount":"#);
        push_money(out, total, as_number);
        self.push_currency(out);
        out.push_str(r#","gateway":""#);
        out.push_str(GATEWAYS[gateway].0);
        out.push('"');
        if let Some(s) = session {
            out.push_str(r#","session_id":""#);
            self.push_session_id(out, s);
            out.push('"');
        }
        out.push_str("}}");

        if self.traffic != Traffic::Full {
            return self.after_unseen_payment(slot);
        }

        // What happens next: our warehouses ship most web orders and some marketplace
        // orders; POS sales are carried out of the shop.
        let fulfil_per_mille = match channel {
            Channel::Web => 750,
            Channel::Marketplace => 500,
            Channel::Pos => 0,
        };
        if self.rng.chance(fulfil_per_mille) {
            let ship_by = self.now_us + self.deadline_us;
            let o = &mut self.store.orders[slot as usize];
            o.ship_by_us = ship_by;
            o.stage = 0;
            let delay = self.rng.range(20, 200);
            self.schedule(delay, Task::Fulfill(slot));
        } else if self.rng.chance(30) {
            let delay = self.rng.range(500, 5000);
            self.schedule(delay, Task::Refund(slot, RefundKind::Partial));
        } else {
            self.store.free_order(slot);
        }
    }

    /// History carries no fulfilment (see `Traffic::Lean`): a paid order's life ends, but
    /// for the refunds that keep `refunds_today` alive.
    fn after_unseen_payment(&mut self, slot: u32) {
        if self.rng.chance(40) {
            let delay = self.rng.range(500, 5000);
            self.schedule(delay, Task::Refund(slot, RefundKind::Partial));
        } else {
            self.store.free_order(slot);
        }
    }

    fn fulfill(&mut self, slot: u32, out: &mut String) {
        let o = &self.store.orders[slot as usize];
        let (num, stage, ship_by, warehouse, lines, n_lines) = (
            o.num,
            o.stage,
            o.ship_by_us,
            o.warehouse,
            o.lines,
            o.n_lines,
        );
        let lines = &lines[..usize::from(n_lines)];
        // A backlog lets orders in (received) but holds picking, packing and shipping.
        if self.conditions.shipping_backlog && (1..=3).contains(&stage) {
            return self.retry_later(Task::Fulfill(slot));
        }
        if stage == 1 {
            let short = lines.iter().any(|l| {
                self.store.stock[self.store.stock_index(l.sku, warehouse)] < i64::from(l.quantity)
            });
            let stocked_out = self
                .conditions
                .stockout_sku
                .is_some_and(|sku| lines.iter().any(|l| l.sku == sku));
            let reason = if short && (stocked_out || self.rng.chance(500)) {
                Some("out_of_stock")
            } else if self.rng.chance(30) {
                Some("customer_request")
            } else {
                None
            };
            if let Some(reason) = reason {
                self.begin(out, "order.cancelled");
                out.push_str(r#""order_id":""#);
                self.push_order_id(out, num);
                out.push_str(r#"","reason":""#);
                out.push_str(reason);
                out.push_str("\"}}");
                let delay = self.rng.range(10, 300);
                self.schedule(delay, Task::Refund(slot, RefundKind::Cancelled));
                return;
            }
        }

        self.begin(out, "fulfillment.stage_changed");
        out.push_str(r#""order_id":""#);
        self.push_order_id(out, num);
        out.push_str(r#"","stage":""#);
        out.push_str(STAGES[usize::from(stage)]);
        out.push_str(r#"","ship_by":""#);
        crate::time::write_rfc3339_millis(out, ship_by);
        out.push_str("\"}}");

        self.store.orders[slot as usize].stage = stage + 1;
        let next = match stage {
            // Some orders stall before picking and miss their ship-by deadline.
            0 => {
                self.rng.range(200, 2000)
                    + if self.rng.chance(80) {
                        self.rng.range(3000, 8000)
                    } else {
                        0
                    }
            }
            1 => {
                for l in lines {
                    let delay = self.rng.range(1, 40);
                    let task = Task::Adjust {
                        sku: l.sku,
                        warehouse: warehouse as u8,
                        delta: -(l.quantity as i32),
                        restock: false,
                    };
                    self.schedule(delay, task);
                }
                self.rng.range(100, 1000)
            }
            2 => self.rng.range(100, 1000),
            3 => self.rng.range(5000, 20000),
            _ => {
                if self.rng.chance(80) {
                    let delay = self.rng.range(2000, 20000);
                    self.schedule(delay, Task::Refund(slot, RefundKind::Return));
                } else {
                    self.store.free_order(slot);
                }
                return;
            }
        };
        self.schedule(next, Task::Fulfill(slot));
    }

    fn refund(&mut self, slot: u32, kind: RefundKind, out: &mut String) {
        let o = &self.store.orders[slot as usize];
        let (num, total, as_number, warehouse) =
            (o.num, o.total_cents, o.money_as_number, o.warehouse);
        let lines = o.lines;
        let n_lines = u64::from(o.n_lines);
        let amount = match kind {
            RefundKind::Cancelled => total,
            RefundKind::Return => {
                let l = lines[self.rng.below(n_lines) as usize];
                let delay = self.rng.range(100, 1000);
                let task = Task::Adjust {
                    sku: l.sku,
                    warehouse: warehouse as u8,
                    delta: l.quantity as i32,
                    restock: false,
                };
                self.schedule(delay, task);
                self.store.skus[l.sku as usize].price_cents * i64::from(l.quantity)
            }
            // 10–30 % goodwill, in whole cents.
            RefundKind::Partial => total * self.rng.range(10, 30) as i64 / 100,
        };
        self.begin(out, "refund.created");
        out.push_str(r#""order_id":""#);
        self.push_order_id(out, num);
        out.push_str(r#"","amount":"#);
        push_money(out, amount.max(1), as_number);
        self.push_currency(out);
        out.push_str("}}");
        self.store.free_order(slot);
    }

    // ---- inventory ----------------------------------------------------------------

    fn adjust(&mut self, sku: u32, warehouse: usize, delta: i64, restock: bool, out: &mut String) {
        let idx = self.store.stock_index(sku, warehouse);
        self.store.stock[idx] += delta;
        if restock {
            self.store.restock_pending[idx] = false;
        }
        self.begin(out, "inventory.adjusted");
        out.push_str(r#""sku":""#);
        out.push_str(&self.store.skus[sku as usize].id);
        out.push_str(r#"","warehouse":""#);
        out.push_str(self.store.warehouses[warehouse].code);
        out.push_str(r#"","delta":"#);
        push_i64(out, delta);
        out.push_str("}}");
        self.check_reorder(sku, warehouse);
    }

    fn check_reorder(&mut self, sku: u32, warehouse: usize) {
        let idx = self.store.stock_index(sku, warehouse);
        if self.store.stock[idx] < REORDER_POINT && !self.store.restock_pending[idx] {
            self.store.restock_pending[idx] = true;
            let delta = self.rng.range(10, 50) as i32 * 10;
            let task = Task::Adjust {
                sku,
                warehouse: warehouse as u8,
                delta,
                restock: true,
            };
            if self.slow_supply.get(sku as usize).copied().unwrap_or(false) {
                let delay_us = self.rng.range(SLOW_RESTOCK_US.0, SLOW_RESTOCK_US.1);
                return self.schedule_at(self.now_us.max(0) as u64 + delay_us, task);
            }
            let delay = self.rng.range(2000, 10000);
            self.schedule(delay, task);
        }
    }

    /// Cycle count: walks all (sku, warehouse) pairs in turn.
    fn inventory_count(&mut self, out: &mut String) {
        let idx = self.store.count_cursor;
        self.store.count_cursor = (idx + 1) % self.store.stock.len();
        let mut level = self.store.stock[idx].max(0);
        if level > 0 && self.rng.chance(40) {
            level -= self.rng.range(1, level.min(3) as u64) as i64; // shrinkage found
        }
        self.store.stock[idx] = level;
        let n_wh = self.store.warehouses.len();
        let (sku, warehouse) = ((idx / n_wh) as u32, idx % n_wh);
        self.write_count(sku, warehouse, out);
    }

    /// `inventory.counted` with the level the store holds, then a restock if it is low.
    fn write_count(&mut self, sku: u32, warehouse: usize, out: &mut String) {
        let level = self.store.stock[self.store.stock_index(sku, warehouse)];
        self.begin(out, "inventory.counted");
        out.push_str(r#""sku":""#);
        out.push_str(&self.store.skus[sku as usize].id);
        out.push_str(r#"","warehouse":""#);
        out.push_str(self.store.warehouses[warehouse].code);
        out.push_str(r#"","on_hand":"#);
        push_i64(out, level);
        out.push_str("}}");
        self.check_reorder(sku, warehouse);
    }

    // ---- production ---------------------------------------------------------------

    fn production_tick(&mut self, out: &mut String) {
        let n = self.store.lines.len();
        let start = self.rng.below(n as u64) as usize;
        let Some(line) = (0..n)
            .map(|i| (start + i) % n)
            .find(|&i| self.store.lines[i].status == LineStatus::Running)
        else {
            return self.queue_depth(out);
        };
        if self.rng.chance(15) {
            let (status, delay) = match self.rng.weighted(&[45, 30, 25]) {
                0 => (LineStatus::Idle, self.rng.range(300, 2000)),
                1 => (LineStatus::Stopped, self.rng.range(500, 3000)),
                _ => (LineStatus::Fault, self.rng.range(1000, 5000)),
            };
            self.store.lines[line].status = status;
            self.schedule(delay, Task::LineRestart(line as u8));
            return self.write_line_status(line, out);
        }
        let (lo, hi) = self.store.lines[line].units;
        let units = self.rng.range(lo, hi) * self.units_per_report();
        self.begin(out, "production.output");
        out.push_str(r#""line_id":""#);
        out.push_str(self.store.lines[line].id);
        out.push_str(r#"","units":"#);
        push_u64(out, units);
        out.push_str("}}");
    }

    fn units_per_report(&self) -> u64 {
        match self.traffic {
            Traffic::Full => 1,
            Traffic::Lean | Traffic::Sparse => LEAN_PRODUCTION_BATCH,
        }
    }

    fn write_line_status(&mut self, line: usize, out: &mut String) {
        self.begin(out, "production.status_changed");
        out.push_str(r#""line_id":""#);
        out.push_str(self.store.lines[line].id);
        out.push_str(r#"","status":""#);
        out.push_str(self.store.lines[line].status.as_str());
        out.push_str("\"}}");
    }

    // ---- technology ---------------------------------------------------------------

    fn api_request(&mut self, out: &mut String) {
        let e = self.rng.weighted(&self.store.endpoint_weights);
        let spike = self.conditions.slow_endpoint == Some(e);
        let ep = &mut self.store.endpoints[e];
        let incident = if ep.incident_left > 0 {
            ep.incident_left -= 1;
            true
        } else {
            if self.rng.below(20_000) == 0 {
                ep.incident_left = self.rng.range(300, 2000) as u32;
            }
            false
        };
        let ep = &self.store.endpoints[e];
        let method = *self.rng.pick(ep.methods);
        let server_errors_per_mille = if spike {
            SPIKE_SERVER_ERRORS_PER_MILLE
        } else if incident {
            180
        } else {
            3
        };
        let roll = self.rng.below(1000) as u32;
        let status: u16 = if roll < server_errors_per_mille {
            *self.rng.pick(&[(500u16, 3), (502, 2), (503, 4), (504, 1)])
        } else if roll < server_errors_per_mille + 25 {
            *self.rng.pick(ep.client_errors)
        } else {
            200
        };
        let mut ms = ep.median_latency_ms * crate::rng::exp(0.55 * self.rng.normalish());
        if self.rng.chance(8) {
            ms *= self.rng.range(2, 10) as f64; // long tail
        }
        if spike {
            ms *= 5.0 + 5.0 * self.rng.unit();
        } else if incident {
            ms *= 3.0 + 4.0 * self.rng.unit();
        }
        if status == 504 {
            ms = 30_000.0 + 100.0 * self.rng.unit();
        }
        let tenths = ((ms * 10.0) as u64).max(1);
        let path = ep.path;
        self.begin(out, "api.request");
        out.push_str(r#""endpoint":""#);
        out.push_str(path);
        out.push_str(r#"","status":"#);
        push_u64(out, u64::from(status));
        out.push_str(r#","latency_ms":"#);
        push_u64(out, tenths / 10);
        out.push('.');
        out.push((b'0' + (tenths % 10) as u8) as char);
        out.push_str(r#","method":""#);
        out.push_str(method);
        out.push_str("\"}}");
    }

    fn queue_depth(&mut self, out: &mut String) {
        let q = self.rng.below(self.store.queues.len() as u64) as usize;
        let (baseline, depth) = (self.store.queues[q].baseline, self.store.queues[q].depth);
        let noise = self.rng.below(baseline as u64 / 2 + 1) as i64 - baseline / 4;
        let mut d = depth + (baseline - depth) / 8 + noise;
        if self.rng.chance(10) {
            d += baseline * self.rng.range(2, 8) as i64; // spike
        }
        let d = d.max(0);
        self.store.queues[q].depth = d;
        self.begin(out, "queue.depth");
        out.push_str(r#""queue":""#);
        out.push_str(self.store.queues[q].name);
        out.push_str(r#"","depth":"#);
        push_i64(out, d);
        out.push_str("}}");
    }
}

/// The generator on an explicit clock, for live traffic and history (`sightline demo`):
/// the caller decides when each spontaneous [`Action`] happens (at a rate of its
/// choosing, see `scenario`), follow-ups happen at their own due times, and
/// [`Conditions`] disturb the world while an incident lasts.
///
/// Output is a pure function of the configuration and the sequence of calls. Event times
/// never go backwards: an action asked for before the current time happens at it.
#[derive(Debug)]
pub struct TimedGenerator {
    inner: EventGenerator,
}

impl TimedGenerator {
    /// The clock starts at `config.start_time_us`; `config.events_per_second` is the
    /// nominal rate at which follow-up delays (counted in events) become durations.
    pub fn new(config: GeneratorConfig) -> Self {
        let mut inner = EventGenerator::new(config);
        inner.clock = Clock::Timed;
        // The paced generator's 35 % (pinned by its golden output) puts every gateway's
        // failure rate above 20 % at rest, so a dashboard's thresholds would show red all
        // day. A real store's rate at rest is a few per cent; an outage is what stands out.
        inner.abandoned_checkout_failures_per_mille = 60;
        TimedGenerator { inner }
    }

    /// The time of the last event (the start time before the first one), µs.
    pub fn now_us(&self) -> i64 {
        self.inner.now_us
    }

    /// When the earliest pending follow-up is due, µs.
    pub fn next_due_us(&self) -> Option<i64> {
        let Reverse(next) = self.inner.schedule.peek()?;
        Some(i64::try_from(next.due).unwrap_or(i64::MAX))
    }

    /// Runs the earliest pending follow-up at its due time (or now, if that is later).
    /// Returns whether it wrote an event: one held back by an incident writes nothing.
    pub fn run_due(&mut self, out: &mut String) -> bool {
        let Some(Reverse(next)) = self.inner.schedule.pop() else {
            return false;
        };
        let due_us = i64::try_from(next.due).unwrap_or(i64::MAX);
        self.advance_to(due_us);
        let written_before = out.len();
        self.inner.run_task(next.task, out);
        out.len() > written_before
    }

    /// Writes `action` happening at `time_us` (or now, if that is later). Returns whether
    /// it wrote an event.
    pub fn act_at(&mut self, time_us: i64, action: Action, out: &mut String) -> bool {
        self.advance_to(time_us);
        let written_before = out.len();
        let g = &mut self.inner;
        match action {
            Action::SessionStep => g.session_step(out),
            Action::WebOrder => g.lean_web_order(out),
            Action::ApiRequest => g.api_request(out),
            Action::DirectOrder => g.direct_order(out),
            Action::CycleCount => g.inventory_count(out),
            Action::ProductionReport => g.production_tick(out),
            Action::QueueSample => g.queue_depth(out),
        }
        out.len() > written_before
    }

    pub fn traffic(&self) -> Traffic {
        self.inner.traffic
    }

    pub fn set_traffic(&mut self, traffic: Traffic) {
        self.inner.traffic = traffic;
    }

    pub fn conditions(&self) -> Conditions {
        self.inner.conditions
    }

    /// Puts `conditions` in effect now. What a change makes visible at once is due now:
    /// a stockout's zero counts and, when it ends, the restocks; a line's fault and its
    /// return to running.
    pub fn set_conditions(&mut self, conditions: Conditions) {
        let before = self.inner.conditions;
        self.inner.conditions = conditions;
        let now = self.inner.now_us.max(0) as u64;
        let warehouses = self.inner.store.warehouses.len();
        if before.stockout_sku != conditions.stockout_sku {
            if let Some(sku) = before.stockout_sku {
                for warehouse in 0..warehouses {
                    let delta = self.inner.rng.range(20, 60) as i32 * 10;
                    let restock = Task::Adjust {
                        sku,
                        warehouse: warehouse as u8,
                        delta,
                        restock: true,
                    };
                    self.inner.schedule_at(now, restock);
                }
            }
            if let Some(sku) = conditions.stockout_sku {
                for warehouse in 0..warehouses {
                    let index = self.inner.store.stock_index(sku, warehouse);
                    self.inner.store.stock[index] = 0;
                    // The restock comes when the stockout ends, not from the reorder rule.
                    self.inner.store.restock_pending[index] = true;
                    let count = Task::Count {
                        sku,
                        warehouse: warehouse as u8,
                    };
                    self.inner.schedule_at(now, count);
                }
            }
        }
        if before.line_fault != conditions.line_fault {
            if let Some(line) = before.line_fault {
                self.inner.store.lines[line].status = LineStatus::Running;
                self.inner.schedule_at(now, Task::LineStatus(line as u8));
            }
            if let Some(line) = conditions.line_fault {
                self.inner.store.lines[line].status = LineStatus::Fault;
                self.inner.schedule_at(now, Task::LineStatus(line as u8));
            }
        }
    }

    /// Counts every (SKU, warehouse) now, so the stock KPIs know every level at once.
    pub fn count_all_stock(&mut self) {
        let now = self.inner.now_us.max(0) as u64;
        let warehouses = self.inner.store.warehouses.len();
        for sku in 0..self.inner.store.skus.len() as u32 {
            for warehouse in 0..warehouses {
                let count = Task::Count {
                    sku,
                    warehouse: warehouse as u8,
                };
                self.inner.schedule_at(now, count);
            }
        }
    }

    /// Gives about `per_mille` of the SKUs a slow supplier: their stock starts low in
    /// every warehouse (0 to twice the reorder point) and restocks take hours, so some
    /// levels are always low or out, as in a real store.
    pub fn constrain_supply(&mut self, per_mille: u32) {
        let g = &mut self.inner;
        let sku_count = g.store.skus.len();
        g.slow_supply = (0..sku_count).map(|_| g.rng.chance(per_mille)).collect();
        for sku in 0..sku_count {
            if !g.slow_supply[sku] {
                continue;
            }
            for warehouse in 0..g.store.warehouses.len() {
                let index = g.store.stock_index(sku as u32, warehouse);
                g.store.stock[index] = g.rng.below(2 * REORDER_POINT as u64) as i64;
            }
        }
    }

    /// Number of events written so far.
    pub fn events_generated(&self) -> u64 {
        self.inner.count
    }

    /// The tag (8 hex digits derived from the seed) that makes this run's ids distinct.
    pub fn run_tag(&self) -> &str {
        &self.inner.tag
    }

    /// The simulated world.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Moves the clock to `time_us` (never back) without writing anything: conditions
    /// set afterwards take effect from then.
    pub fn advance_clock(&mut self, time_us: i64) {
        let g = &mut self.inner;
        g.now_us = g.now_us.max(time_us);
        g.event_time_us = g.now_us;
    }

    fn advance_to(&mut self, time_us: i64) {
        self.advance_clock(time_us);
        // Ids number the steps, as in paced mode.
        self.inner.count += 1;
    }
}
