//! `sightline-loadgen`: writes generated traffic to files and drives a Sightline server
//! for the project's benchmarks (bulk ingest throughput, ack latency under load).

mod bodies;
mod fanout;
mod generate;
mod http;
mod ingest;
mod latency;
mod odoo;
mod push;
mod shopify;
mod stats;

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use sightline_generator::GeneratorConfig;
use sightline_generator::time::parse_rfc3339;

#[derive(Parser, Debug)]
#[command(
    name = "sightline-loadgen",
    version,
    about = "Generates Sightline traffic and benchmarks a server with it"
)]
struct Cli {
    /// Print the summary as one JSON line on stdout (the human summary goes to stderr).
    #[arg(long, global = true)]
    json: bool,
    /// Tokio worker threads for ingest/latency [default: number of cores].
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write generated events as NDJSON (one CloudEvent per line) to a file.
    Generate(GenerateArgs),
    /// Measure bulk ingest throughput: POST pre-generated NDJSON batches over many connections.
    Ingest(IngestArgs),
    /// Measure single-event ack latency while a paced background load runs.
    Latency(LatencyArgs),
    /// Measure Shopify webhooks per second: signed orders/create deliveries, one per request.
    Shopify(ShopifyArgs),
    /// Measure the Odoo PostgreSQL outbox: rows per second drained into the log, and the
    /// delay from an Odoo commit to the KPI update. The server's [sources.odoo.postgres]
    /// must point at the same database and schema.
    OdooOutbox(OdooOutboxArgs),
    /// Measure live push fan-out: many GET /v1/stream clients at once, each timing when
    /// probes reach it. The server must load bench/push-probe.toml ([kpis] files).
    Fanout(FanoutArgs),
}

#[derive(Args, Debug)]
struct FanoutArgs {
    /// The running server, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    url: String,
    /// Stream clients connected at once (each is a socket here and one on the server:
    /// mind `ulimit -n` on both sides).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    clients: u64,
    /// Probes posted while every client is connected.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    probes: u64,
    /// Probes per second.
    #[arg(long, default_value_t = 10.0)]
    probe_rate: f64,
    /// The server's process id, when it runs here: its CPU and RSS are reported.
    #[arg(long)]
    server_pid: Option<u32>,
}

#[derive(Args, Debug)]
struct OdooOutboxArgs {
    /// The running server, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    url: String,
    /// PostgreSQL connection string of the Odoo database (with the same search_path as
    /// the server's), e.g. "host=127.0.0.1 user=sightline dbname=odoo".
    #[arg(long)]
    postgres: String,
    /// Drop and create the minimal Odoo tables and install the outbox first.
    #[arg(long)]
    setup: bool,
    /// Orders loaded in one transaction for the throughput run (two outbox rows each).
    #[arg(long, default_value_t = 50_000, value_parser = clap::value_parser!(u64).range(1..))]
    orders: u64,
    /// Single-order commits whose commit-to-KPI delay is measured.
    #[arg(long, default_value_t = 300)]
    latency_orders: u64,
    /// Pause between two measured commits, in milliseconds.
    #[arg(long, default_value_t = 20)]
    pause_ms: u64,
}

#[derive(Args, Debug)]
struct ShopifyArgs {
    /// The webhook endpoint, e.g. http://127.0.0.1:8080/v1/sources/shopify.
    #[arg(long)]
    url: String,
    /// Keep-alive HTTP/1.1 connections (Shopify's deliveries arrive concurrently).
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    connections: u64,
    /// Webhooks to send.
    #[arg(long, default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1..))]
    webhooks: u64,
    /// The shop's domain (configured on the server).
    #[arg(long, default_value = "acme.myshopify.com")]
    shop: String,
    /// The shop's webhook secret, to sign with.
    #[arg(long)]
    secret: String,
}

/// What traffic to generate (all subcommands).
#[derive(Args, Debug, Clone)]
struct TrafficArgs {
    /// Traffic seed. It also tags every id, so runs with different seeds are not
    /// duplicates of each other [default: 1 for generate, from the clock otherwise].
    #[arg(long)]
    seed: Option<u64>,
    /// CloudEvents `source` of the events.
    #[arg(long, default_value = "web/shop")]
    source: String,
    /// ISO 4217 currency of money fields.
    #[arg(long, default_value = "EUR")]
    currency: String,
    /// Number of SKUs in the simulated catalogue.
    #[arg(long, default_value_t = 1000)]
    skus: u32,
    /// Maximum random backwards jitter of event times, in milliseconds.
    #[arg(long, default_value_t = 0)]
    disorder_ms: u64,
}

/// Event-time placement of a finite stream.
#[derive(Args, Debug, Clone)]
struct TimeArgs {
    /// Event time of the first event: RFC 3339 or `now` [default: such that the last
    /// event's time is the present]. Fix it to make the output byte-identical.
    #[arg(long)]
    start: Option<String>,
    /// Event-time rate: events per second of event time (spacing of `time`).
    #[arg(long, default_value_t = 10_000.0)]
    rate: f64,
}

#[derive(Args, Debug)]
struct GenerateArgs {
    /// Number of events.
    #[arg(long)]
    events: u64,
    /// gzip the file.
    #[arg(long)]
    gzip: bool,
    /// gzip level 0–9.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=9))]
    gzip_level: u32,
    /// Output file.
    #[arg(long, short)]
    output: PathBuf,
    #[command(flatten)]
    time: TimeArgs,
    #[command(flatten)]
    traffic: TrafficArgs,
}

#[derive(Args, Debug)]
struct IngestArgs {
    /// Server base URL; requests go to its /v1/events unless the URL has a path.
    #[arg(long)]
    url: String,
    /// Keep-alive HTTP/1.1 connections.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    connections: u64,
    /// Events per request.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    batch: u64,
    /// Total events to send.
    #[arg(long, default_value_t = 2_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    events: u64,
    /// gzip request bodies (Content-Encoding: gzip).
    #[arg(long)]
    gzip: bool,
    /// gzip level 0–9.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=9))]
    gzip_level: u32,
    #[command(flatten)]
    time: TimeArgs,
    #[command(flatten)]
    traffic: TrafficArgs,
}

#[derive(Args, Debug)]
struct LatencyArgs {
    /// Server base URL; requests go to its /v1/events unless the URL has a path.
    #[arg(long)]
    url: String,
    /// Background load in events per second (0: none).
    #[arg(long, default_value_t = 10_000.0)]
    background_rate: f64,
    /// Events per background request.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    background_batch: u64,
    /// Connections carrying the background load.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=1000))]
    background_connections: u64,
    /// Number of single-event probes.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..))]
    probes: u64,
    /// Probes per second.
    #[arg(long, default_value_t = 100.0)]
    probe_rate: f64,
    /// Stop probing after this many seconds even if --probes are not all sent.
    #[arg(long)]
    duration_secs: Option<f64>,
    /// Seconds of background load before the first probe.
    #[arg(long, default_value_t = 1.0)]
    warmup_secs: f64,
    /// CloudEvents `source` of the probes.
    #[arg(long, default_value = "loadgen/probe")]
    probe_source: String,
    /// Also measure event → browser latency: probes become `loadgen.probe` events
    /// numbered in `data.n`, and a client of GET /v1/stream?kpis=push_probe times when
    /// each probe's number arrives after its POST was acknowledged. The server must load
    /// `bench/push-probe.toml` (`[kpis] files`).
    #[arg(long)]
    push: bool,
    #[command(flatten)]
    traffic: TrafficArgs,
}

pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

fn clock_seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    // Keep it short enough to type back in.
    (nanos as u64) % 1_000_000_000_000
}

fn positive(name: &str, v: f64) -> Result<f64> {
    if !(v.is_finite() && v > 0.0) {
        bail!("{name} must be a positive number, not {v}");
    }
    Ok(v)
}

impl TrafficArgs {
    fn config(&self, seed: u64, start_time_us: i64, events_per_second: f64) -> GeneratorConfig {
        GeneratorConfig {
            seed,
            start_time_us,
            events_per_second,
            source: self.source.clone(),
            currency: self.currency.clone(),
            sku_count: self.skus,
            disorder_us: i64::try_from(self.disorder_ms.saturating_mul(1000)).unwrap_or(i64::MAX),
        }
    }
}

impl TimeArgs {
    /// Start time of a stream of `events` events.
    fn start_us(&self, events: u64) -> Result<i64> {
        let rate = positive("--rate", self.rate)?;
        match self.start.as_deref() {
            None => Ok(now_us() - (events as f64 / rate * 1e6) as i64),
            Some("now") => Ok(now_us()),
            Some(s) => parse_rfc3339(s)
                .with_context(|| format!("--start {s:?} is neither RFC 3339 nor `now`")),
        }
    }
}

/// Prints a report: the human text on stdout, or with `--json` the JSON line on stdout
/// and the human text on stderr.
fn report(json: bool, human: &str, machine: &serde_json::Value) {
    use std::io::Write as _;
    // A closed stdout (e.g. `| head`) is not worth a panic.
    if json {
        eprintln!("{human}");
        let _ = writeln!(std::io::stdout().lock(), "{machine}");
    } else {
        let _ = writeln!(std::io::stdout().lock(), "{human}");
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Generate(args) => {
            let (human, machine) = generate::run(&args)?;
            report(cli.json, &human, &machine);
        }
        Command::Ingest(args) => {
            let (human, machine) = runtime(cli.threads)?.block_on(ingest::run(&args))?;
            report(cli.json, &human, &machine);
        }
        Command::Latency(args) => {
            let (human, machine) = runtime(cli.threads)?.block_on(latency::run(&args))?;
            report(cli.json, &human, &machine);
        }
        Command::Shopify(args) => {
            let (human, machine) = runtime(cli.threads)?.block_on(shopify::run(&args))?;
            report(cli.json, &human, &machine);
        }
        Command::Fanout(args) => {
            let (human, machine) = runtime(cli.threads)?.block_on(fanout::run(&args))?;
            report(cli.json, &human, &machine);
        }
        Command::OdooOutbox(args) => {
            let (human, machine) = runtime(cli.threads)?.block_on(odoo::run(&args))?;
            report(cli.json, &human, &machine);
        }
    }
    Ok(())
}

fn runtime(threads: Option<usize>) -> Result<tokio::runtime::Runtime> {
    let mut b = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = threads {
        b.worker_threads(n.max(1));
    }
    b.enable_all().build().context("starting the tokio runtime")
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_subcommands_with_defaults() -> Result<()> {
        let cli = Cli::try_parse_from([
            "sightline-loadgen",
            "generate",
            "--events",
            "1000",
            "--output",
            "/tmp/x.ndjson",
        ])?;
        let Command::Generate(g) = cli.command else {
            bail!("not generate")
        };
        assert_eq!(
            (g.events, g.gzip, g.time.rate, g.traffic.seed),
            (1000, false, 10_000.0, None)
        );

        let cli = Cli::try_parse_from([
            "sightline-loadgen",
            "ingest",
            "--url",
            "http://127.0.0.1:8080",
            "--gzip",
            "--seed",
            "7",
            "--json",
        ])?;
        assert!(cli.json);
        let Command::Ingest(i) = cli.command else {
            bail!("not ingest")
        };
        assert_eq!(
            (i.connections, i.batch, i.events, i.gzip),
            (32, 1000, 2_000_000, true)
        );
        assert_eq!(i.traffic.seed, Some(7));

        let cli = Cli::try_parse_from([
            "sightline-loadgen",
            "latency",
            "--url",
            "http://h:1",
            "--probe-rate",
            "50",
            "--duration-secs",
            "3",
        ])?;
        let Command::Latency(l) = cli.command else {
            bail!("not latency")
        };
        assert_eq!(
            (l.background_rate, l.background_batch, l.probes),
            (10_000.0, 100, 2000)
        );
        assert_eq!((l.probe_rate, l.duration_secs), (50.0, Some(3.0)));

        assert!(
            Cli::try_parse_from(["sightline-loadgen", "ingest", "--url", "x", "--batch", "0"])
                .is_err()
        );
        assert!(Cli::try_parse_from(["sightline-loadgen", "generate", "--output", "x"]).is_err());
        Ok(())
    }

    #[test]
    fn start_times() -> Result<()> {
        let t = TimeArgs {
            start: Some("2026-11-27T14:03:11.120Z".into()),
            rate: 10.0,
        };
        assert_eq!(t.start_us(5)?, 1_795_788_191_120_000);
        let t = TimeArgs {
            start: None,
            rate: 10.0,
        };
        let start = t.start_us(100)?; // 10 s of event time ending now
        assert!((now_us() - start - 10_000_000).abs() < 1_000_000);
        assert!(
            TimeArgs {
                start: Some("yesterday".into()),
                rate: 1.0
            }
            .start_us(1)
            .is_err()
        );
        assert!(
            TimeArgs {
                start: None,
                rate: 0.0
            }
            .start_us(1)
            .is_err()
        );
        Ok(())
    }
}
