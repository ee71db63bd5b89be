//! The simulated store: catalogue, customers, sessions, orders in flight, stock per
//! warehouse, production lines, API endpoints and queues.
//!
//! The catalogue (SKUs, names, prices, popularity) is derived from a fixed catalogue
//! seed and `sku_count` only, so `SKU-00042` is the same product in every run whatever
//! the traffic seed; everything that moves (sessions, orders, stock, line states,
//! incidents, queue depths) is state that the generator's flows mutate.

use crate::rng::Rng;

/// Seed of the catalogue: independent of the traffic seed, never change it.
const CATALOGUE_SEED: u64 = 0x5167_6874_6c69_6e65; // "Sightline"

/// A product kind: the noun of a SKU's name, its category and its price band (whole
/// currency units).
struct ProductKind {
    noun: &'static str,
    slug: &'static str,
    category: &'static str,
    price_lo: u64,
    price_hi: u64,
}

const fn kind(
    noun: &'static str,
    slug: &'static str,
    category: &'static str,
    price_lo: u64,
    price_hi: u64,
) -> ProductKind {
    ProductKind {
        noun,
        slug,
        category,
        price_lo,
        price_hi,
    }
}

const KINDS: &[ProductKind] = &[
    kind("Mug", "mug", "home", 8, 24),
    kind("Tee", "tee", "apparel", 15, 39),
    kind("Hoodie", "hoodie", "apparel", 39, 89),
    kind("Cap", "cap", "accessories", 12, 29),
    kind("Tote Bag", "tote-bag", "accessories", 9, 35),
    kind("Notebook", "notebook", "stationery", 4, 19),
    kind("Water Bottle", "water-bottle", "accessories", 14, 45),
    kind("Socks", "socks", "apparel", 6, 18),
    kind("Backpack", "backpack", "accessories", 45, 149),
    kind("Sneakers", "sneakers", "footwear", 59, 179),
    kind("Candle", "candle", "home", 9, 34),
    kind("Headphones", "headphones", "tech", 39, 249),
    kind("Phone Case", "phone-case", "tech", 12, 39),
    kind("Desk Lamp", "desk-lamp", "home", 24, 119),
    kind("Scarf", "scarf", "apparel", 19, 59),
    kind("Sunglasses", "sunglasses", "accessories", 25, 159),
    kind("Jacket", "jacket", "apparel", 79, 299),
    kind("Teapot", "teapot", "home", 19, 69),
    kind("Cutting Board", "cutting-board", "home", 17, 59),
    kind("Blanket", "blanket", "home", 34, 119),
    kind("Charger", "charger", "tech", 15, 49),
    kind("Pen Set", "pen-set", "stationery", 6, 29),
    kind("Beanie", "beanie", "apparel", 12, 32),
    kind("Planner", "planner", "stationery", 9, 29),
];

const ADJECTIVES: &[&str] = &[
    "Classic", "Ceramic", "Organic", "Linen", "Recycled", "Vintage", "Minimal", "Everyday",
    "Travel", "Premium", "Cozy", "Urban", "Alpine", "Coastal", "Studio", "Nordic",
];

/// Price endings in cents and their weights: .99, .90, .00, .50.
const PRICE_ENDINGS: [(i64, u32); 4] = [(99, 50), (90, 15), (0, 20), (50, 15)];

/// One sellable product.
#[derive(Clone, Debug)]
pub struct Sku {
    /// `SKU-00042`.
    pub id: String,
    /// `Classic Mug`.
    pub name: String,
    /// Search slug of the product kind, e.g. `mug`.
    pub slug: &'static str,
    /// `home`, `apparel`, …
    pub category: &'static str,
    /// Unit price in minor units.
    pub price_cents: i64,
}

/// A fulfilment location holding stock.
#[derive(Clone, Debug)]
pub struct Warehouse {
    pub code: &'static str,
}

/// A customer region: ISO 3166-1 alpha-2 country or ISO 3166-2 subdivision.
#[derive(Clone, Debug)]
pub struct Region {
    pub code: &'static str,
    /// Relative share of web and marketplace traffic.
    pub weight: u32,
    /// Index into [`Store::warehouses`] of the warehouse that ships there.
    pub warehouse: usize,
}

/// Physical store running POS tills.
#[derive(Clone, Debug)]
pub struct RetailStore {
    /// Region of the shop (index into [`Store::regions`]).
    pub region: usize,
    pub weight: u32,
}

/// Status of a production line, as in `production.status_changed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineStatus {
    Running,
    Idle,
    Stopped,
    Fault,
}

impl LineStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LineStatus::Running => "running",
            LineStatus::Idle => "idle",
            LineStatus::Stopped => "stopped",
            LineStatus::Fault => "fault",
        }
    }
}

/// A production line reporting output.
#[derive(Clone, Debug)]
pub struct ProductionLine {
    /// `line-1` …
    pub id: &'static str,
    pub status: LineStatus,
    /// Units per output report, inclusive range.
    pub units: (u64, u64),
}

/// An HTTP endpoint of the shop's backend, as in `api.request`.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub path: &'static str,
    pub weight: u32,
    /// Methods and their weights.
    pub methods: &'static [(&'static str, u32)],
    /// Median latency in ms when healthy (latencies are log-normal around it).
    pub median_latency_ms: f64,
    /// Client errors typical of this endpoint and their weights.
    pub client_errors: &'static [(u16, u32)],
    /// Requests left in the current incident (elevated 5xx and latency); 0 = healthy.
    pub incident_left: u32,
}

/// A work queue whose depth is sampled, as in `queue.depth`.
#[derive(Clone, Debug)]
pub struct WorkQueue {
    pub name: &'static str,
    /// Depth it reverts to.
    pub baseline: i64,
    pub depth: i64,
}

/// Sales channel of an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    Web,
    Pos,
    Marketplace,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Web => "web",
            Channel::Pos => "pos",
            Channel::Marketplace => "marketplace",
        }
    }
}

/// Customer segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Segment {
    New,
    Returning,
}

impl Segment {
    pub fn as_str(self) -> &'static str {
        match self {
            Segment::New => "new",
            Segment::Returning => "returning",
        }
    }
}

/// A person: either one of the store's existing customer base (ids stable across runs)
/// or someone new in this run (ids carry the run tag).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Person {
    Base(u32),
    New(u64),
}

/// One order or cart line. The unit price is the SKU's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Line {
    /// Index into [`Store::skus`].
    pub sku: u32,
    pub quantity: u32,
}

/// What a session will end up doing (decided at its start, revealed step by step).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Intent {
    Bounce,
    AbandonCart,
    AbandonCheckout,
    Buy,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Browsing,
    CheckingOut,
}

/// A visitor's web session walking the funnel.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    pub num: u64,
    pub visitor: Person,
    pub segment: Segment,
    pub region: usize,
    pub intent: Intent,
    pub phase: Phase,
    pub views_done: u32,
    pub views_left: u32,
    pub items_target: u8,
    pub cart: [Line; 4],
    pub cart_len: u8,
    pub last_viewed_sku: Option<u32>,
    pub checkout_num: u64,
}

/// An order in flight between creation and its last event.
#[derive(Clone, Debug)]
pub(crate) struct Order {
    pub num: u64,
    pub channel: Channel,
    pub session: Option<u64>,
    pub lines: [Line; 4],
    pub n_lines: u8,
    pub total_cents: i64,
    /// Index into `GATEWAYS`.
    pub gateway: usize,
    pub attempts: u8,
    pub warehouse: usize,
    pub ship_by_us: i64,
    /// Next fulfilment stage to emit (index into `STAGES`).
    pub stage: u8,
    /// This source writes money as JSON numbers rather than decimal strings.
    pub money_as_number: bool,
}

/// The world the generator simulates.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) skus: Vec<Sku>,
    /// Cumulative Zipf weights (exponent 1) over `skus`.
    popularity: Vec<u64>,
    pub(crate) warehouses: Vec<Warehouse>,
    pub(crate) regions: Vec<Region>,
    region_weights: Vec<u32>,
    pub(crate) retail_stores: Vec<RetailStore>,
    pub(crate) lines: Vec<ProductionLine>,
    pub(crate) endpoints: Vec<Endpoint>,
    pub(crate) endpoint_weights: Vec<u32>,
    pub(crate) queues: Vec<WorkQueue>,
    /// Size of the pre-existing customer base (`c-0` … `c-{n-1}`).
    pub(crate) customer_base: u32,
    /// Stock level per (sku, warehouse): index `sku * warehouses + warehouse`.
    pub(crate) stock: Vec<i64>,
    /// A restock is on its way for this (sku, warehouse).
    pub(crate) restock_pending: Vec<bool>,
    /// Next (sku, warehouse) pair of the cycle count.
    pub(crate) count_cursor: usize,
    pub(crate) sessions: Vec<Session>,
    /// Slab of orders in flight; `free_orders` lists unused slots.
    pub(crate) orders: Vec<Order>,
    pub(crate) free_orders: Vec<u32>,
}

/// Stock level below which a restock is ordered.
pub(crate) const REORDER_POINT: i64 = 25;

impl Store {
    /// Builds the store with `sku_count` SKUs (at least 1). Sessions are added by the
    /// generator.
    pub fn new(sku_count: u32) -> Self {
        let sku_count = sku_count.max(1);
        let mut rng = Rng::new(CATALOGUE_SEED);
        let ending_weights: Vec<u32> = PRICE_ENDINGS.iter().map(|e| e.1).collect();
        let mut skus = Vec::with_capacity(sku_count as usize);
        let mut popularity = Vec::with_capacity(sku_count as usize);
        let mut cumulative = 0u64;
        for i in 0..sku_count {
            let k = &KINDS[rng.below(KINDS.len() as u64) as usize];
            let adj = ADJECTIVES[rng.below(ADJECTIVES.len() as u64) as usize];
            let units = rng.range(k.price_lo, k.price_hi) as i64;
            let ending = PRICE_ENDINGS[rng.weighted(&ending_weights)].0;
            let mut id = String::with_capacity(9);
            id.push_str("SKU-");
            let digits = i + 1;
            for p in [10_000, 1000, 100, 10, 1] {
                id.push((b'0' + (digits / p % 10) as u8) as char);
            }
            if digits >= 100_000 {
                id.clear();
                id.push_str("SKU-");
                crate::json::push_u64(&mut id, u64::from(digits));
            }
            skus.push(Sku {
                id,
                name: format!("{adj} {}", k.noun),
                slug: k.slug,
                category: k.category,
                price_cents: units * 100 + ending,
            });
            cumulative += (1u64 << 40) / u64::from(i + 1);
            popularity.push(cumulative);
        }

        let warehouses: Vec<Warehouse> = ["BER-1", "AMS-1", "EWR-1", "LAX-1"]
            .into_iter()
            .map(|code| Warehouse { code })
            .collect();
        let regions: Vec<Region> = [
            ("DE", 10, 0),
            ("DE-BY", 7, 0),
            ("DE-BE", 6, 0),
            ("DE-NW", 7, 0),
            ("DE-HH", 3, 0),
            ("AT", 3, 0),
            ("CH", 2, 0),
            ("PL", 2, 0),
            ("SE", 2, 0),
            ("DK", 1, 0),
            ("FR", 6, 1),
            ("FR-IDF", 4, 1),
            ("NL", 5, 1),
            ("BE", 2, 1),
            ("GB", 5, 1),
            ("GB-LND", 2, 1),
            ("ES", 3, 1),
            ("IT", 3, 1),
            ("US", 3, 2),
            ("US-NY", 5, 2),
            ("US-MA", 2, 2),
            ("US-TX", 3, 3),
            ("US-CA", 6, 3),
            ("US-WA", 2, 3),
        ]
        .into_iter()
        .map(|(code, weight, warehouse)| Region {
            code,
            weight,
            warehouse,
        })
        .collect();
        let region_weights = regions.iter().map(|r| r.weight).collect();
        let region_index = |code: &str| regions.iter().position(|r| r.code == code).unwrap_or(0);
        let retail_stores = vec![
            RetailStore {
                region: region_index("DE-BE"),
                weight: 4,
            },
            RetailStore {
                region: region_index("DE-BY"),
                weight: 3,
            },
            RetailStore {
                region: region_index("NL"),
                weight: 2,
            },
            RetailStore {
                region: region_index("US-NY"),
                weight: 2,
            },
        ];
        let lines = vec![
            ProductionLine {
                id: "line-1",
                status: LineStatus::Running,
                units: (40, 60),
            },
            ProductionLine {
                id: "line-2",
                status: LineStatus::Running,
                units: (20, 35),
            },
            ProductionLine {
                id: "line-3",
                status: LineStatus::Running,
                units: (80, 120),
            },
            ProductionLine {
                id: "line-4",
                status: LineStatus::Running,
                units: (5, 12),
            },
        ];
        let endpoints = vec![
            Endpoint {
                path: "/product",
                weight: 40,
                methods: &[("GET", 1)],
                median_latency_ms: 22.0,
                client_errors: &[(404, 6), (400, 1)],
                incident_left: 0,
            },
            Endpoint {
                path: "/search",
                weight: 25,
                methods: &[("GET", 9), ("POST", 1)],
                median_latency_ms: 48.0,
                client_errors: &[(400, 3), (429, 1)],
                incident_left: 0,
            },
            Endpoint {
                path: "/cart",
                weight: 20,
                methods: &[("GET", 5), ("POST", 4), ("DELETE", 1)],
                median_latency_ms: 30.0,
                client_errors: &[(409, 2), (422, 2), (401, 1)],
                incident_left: 0,
            },
            Endpoint {
                path: "/checkout",
                weight: 15,
                methods: &[("POST", 1)],
                median_latency_ms: 140.0,
                client_errors: &[(402, 3), (422, 2), (401, 1)],
                incident_left: 0,
            },
        ];
        let endpoint_weights = endpoints.iter().map(|e| e.weight).collect();
        let queues = [
            ("orders", 20),
            ("payments", 6),
            ("emails", 150),
            ("webhooks", 40),
            ("fulfillment", 30),
        ]
        .into_iter()
        .map(|(name, baseline)| WorkQueue {
            name,
            baseline,
            depth: baseline,
        })
        .collect();
        let pairs = skus.len() * warehouses.len();
        let stock = (0..pairs).map(|_| rng.range(40, 400) as i64).collect();
        Store {
            skus,
            popularity,
            warehouses,
            regions,
            region_weights,
            retail_stores,
            lines,
            endpoints,
            endpoint_weights,
            queues,
            customer_base: 50_000,
            stock,
            restock_pending: vec![false; pairs],
            count_cursor: 0,
            sessions: Vec::new(),
            orders: Vec::new(),
            free_orders: Vec::new(),
        }
    }

    pub fn skus(&self) -> &[Sku] {
        &self.skus
    }
    pub fn warehouses(&self) -> &[Warehouse] {
        &self.warehouses
    }
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }
    pub fn retail_stores(&self) -> &[RetailStore] {
        &self.retail_stores
    }
    pub fn production_lines(&self) -> &[ProductionLine] {
        &self.lines
    }
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }
    pub fn queues(&self) -> &[WorkQueue] {
        &self.queues
    }
    /// Current stock of `sku` (index) in `warehouse` (index).
    pub fn stock(&self, sku: usize, warehouse: usize) -> i64 {
        self.stock[sku * self.warehouses.len() + warehouse]
    }
    /// Number of web sessions currently browsing.
    pub fn active_sessions(&self) -> usize {
        self.sessions.len()
    }
    /// Number of orders created whose life (payment, fulfilment, refund) is not over.
    pub fn orders_in_flight(&self) -> usize {
        self.orders.len() - self.free_orders.len()
    }

    /// A SKU index drawn with Zipf (1/rank) popularity.
    pub(crate) fn popular_sku(&self, rng: &mut Rng) -> u32 {
        let total = *self
            .popularity
            .last()
            .expect("catalogue has at least one SKU");
        let r = rng.below(total);
        self.popularity.partition_point(|&c| c <= r) as u32
    }

    /// A region index weighted by traffic share.
    pub(crate) fn region(&self, rng: &mut Rng) -> usize {
        rng.weighted(&self.region_weights)
    }

    pub(crate) fn stock_index(&self, sku: u32, warehouse: usize) -> usize {
        sku as usize * self.warehouses.len() + warehouse
    }

    pub(crate) fn alloc_order(&mut self, order: Order) -> u32 {
        if let Some(slot) = self.free_orders.pop() {
            self.orders[slot as usize] = order;
            slot
        } else {
            self.orders.push(order);
            (self.orders.len() - 1) as u32
        }
    }

    pub(crate) fn free_order(&mut self, slot: u32) {
        self.free_orders.push(slot);
    }
}
