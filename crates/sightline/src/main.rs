//! `sightline`: one binary for the server, backfill and configuration checks.

mod alerts;
mod check;
mod demo;
mod import;
mod kpis;
mod odoo;
mod serve;
mod shopify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sightline_config::Config;

/// The engine allocates and frees small group keys and window states on several threads
/// at once, where glibc's allocator spends a tenth of the engine's time (measured on the
/// 1 M event import).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Real-time operations and sales analytics: business events in, live KPIs out.
#[derive(Parser)]
#[command(name = "sightline", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (defaults: built-in KPI pack, data in ./sightline-data, 127.0.0.1:8080).
    Serve {
        /// Configuration file (TOML); see sightline.example.toml.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Where the event log and all state live (overrides storage.data_dir).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Address to listen on, e.g. 127.0.0.1:8080 (overrides server.listen).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
    },
    /// The server plus built-in store traffic with incidents every few minutes, and weeks
    /// of history generated on first start (data in ./sightline-demo-data).
    Demo {
        /// Address to listen on [default: 127.0.0.1:8080, or server.listen].
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Where the demo's events and state live [default: ./sightline-demo-data; never
        /// the configuration's storage.data_dir, so demo events never mix with real ones].
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Configuration file (TOML): time zone, KPI files, reorder points, …
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Backfill events from NDJSON files (gzip too) into a data directory.
    Import {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        data_dir: PathBuf,
        /// NDJSON files, one CloudEvent per line; `.gz` or gzip content is decompressed.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Do not draw a progress bar (it is also off when stderr is not a terminal).
        #[arg(long)]
        no_progress: bool,
        /// Only store the events: skip the KPI engine during the import (the server then
        /// computes the KPIs when it starts, replaying what was imported). Faster for big
        /// backfills; the summary cannot count late events.
        #[arg(long)]
        no_kpis: bool,
    },
    /// Validate a configuration and print what it defines.
    Check {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Shopify: recover orders whose webhooks never arrived.
    Shopify {
        #[command(subcommand)]
        command: ShopifyCommand,
    },
    /// Alerting: the tuning report.
    Alerts {
        #[command(subcommand)]
        command: AlertsCommand,
    },
    /// Odoo: poll once, or print the outbox SQL script.
    Odoo {
        #[command(subcommand)]
        command: OdooCommand,
    },
}

#[derive(Subcommand)]
enum AlertsCommand {
    /// Per rule: times fired, median time to acknowledge, share acted on and
    /// auto-resolved; rules never acted on first, the noisiest next. Reads the alert
    /// journal of the data directory (the server may be running).
    Report {
        /// How far back, e.g. 30d or 7d.
        #[arg(long, default_value = "30d")]
        since: String,
        #[arg(long)]
        config: Option<PathBuf>,
        /// Overrides storage.data_dir.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// One JSON document instead of the table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum OdooCommand {
    /// Read what changed in Odoo since the cursors (or --since) through the external API
    /// and store the events in the data directory, then exit. The server must be stopped
    /// (inside `sightline serve` the poller runs on its own every `interval`).
    Poll {
        /// One pass, then exit (required: the continuous poller runs inside serve).
        #[arg(long, required = true)]
        once: bool,
        #[arg(long)]
        config: Option<PathBuf>,
        /// Overrides storage.data_dir.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Read rows written since this RFC 3339 time instead of the cursors (a backfill).
        #[arg(long)]
        since: Option<String>,
    },
    /// Print the SQL script that installs the outbox table and triggers into Odoo's
    /// PostgreSQL database (for [sources.odoo.postgres]).
    OutboxSql,
}

#[derive(Subcommand)]
enum ShopifyCommand {
    /// Read the orders updated since a time from each shop's Admin API and post the events
    /// the webhooks would have produced to the running server; the ones that did arrive
    /// are duplicates and are not counted again.
    Reconcile {
        /// RFC 3339 time, e.g. the start of an outage: 2026-11-27T08:00:00Z.
        #[arg(long)]
        since: String,
        #[arg(long)]
        config: Option<PathBuf>,
        /// Only this shop (its domain) [default: every configured shop].
        #[arg(long)]
        shop: Option<String>,
        /// The running server [default: from server.listen].
        #[arg(long)]
        url: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let outcome = match cli.command {
        Command::Serve {
            config,
            data_dir,
            listen,
        } => load_config(config.as_deref())
            .and_then(|config| {
                // Fail before binding when a shop's webhook secret cannot be read.
                sightline_sources::shopify::Shops::from_config(&config.sources.shopify)?;
                // ... or one of Odoo's tokens, password or connection string.
                sightline_sources::odoo::check_secrets(&config.sources.odoo)?;
                Ok(config)
            })
            .and_then(|config| serve::run(config, data_dir, listen)),
        Command::Demo {
            listen,
            data_dir,
            config,
        } => load_config(config.as_deref()).and_then(|config| demo::run(config, data_dir, listen)),
        Command::Import {
            config,
            data_dir,
            files,
            no_progress,
            no_kpis,
        } => load_config(config.as_deref())
            .and_then(|config| import::run(&config, &data_dir, &files, !no_progress, !no_kpis)),
        Command::Check { config } => check::run(config.as_deref()),
        Command::Shopify {
            command:
                ShopifyCommand::Reconcile {
                    since,
                    config,
                    shop,
                    url,
                },
        } => load_config(config.as_deref()).and_then(|config| {
            shopify::reconcile(&config, &since, shop.as_deref(), url.as_deref())
        }),
        Command::Odoo {
            command:
                OdooCommand::Poll {
                    once: _,
                    config,
                    data_dir,
                    since,
                },
        } => load_config(config.as_deref())
            .and_then(|config| odoo::poll_once(config, data_dir, since.as_deref())),
        Command::Odoo {
            command: OdooCommand::OutboxSql,
        } => odoo::outbox_sql(),
        Command::Alerts {
            command:
                AlertsCommand::Report {
                    since,
                    config,
                    data_dir,
                    json,
                },
        } => load_config(config.as_deref())
            .and_then(|config| alerts::report(config, data_dir, &since, json)),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", describe(&error));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes in one line, without repeating a cause that an outer
/// message already quotes.
fn describe(error: &anyhow::Error) -> String {
    let mut message = error.to_string();
    for cause in error.chain().skip(1) {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
    }
    message
}

fn load_config(path: Option<&std::path::Path>) -> anyhow::Result<Config> {
    let config = match path {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    Ok(config)
}

/// Human-readable logs by default; `SIGHTLINE_LOG_FORMAT=json` for log shippers.
/// Levels follow `RUST_LOG` (default `info`).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("SIGHTLINE_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}
