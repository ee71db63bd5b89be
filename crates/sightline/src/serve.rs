//! `sightline serve`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use sightline_config::Config;
use sightline_ingest::{IngestOptions, IngestService};
use sightline_server::AppState;
use sightline_server::kpis::KpiService;

pub fn run(
    mut config: Config,
    data_dir: Option<PathBuf>,
    listen: Option<std::net::SocketAddr>,
) -> anyhow::Result<()> {
    if let Some(data_dir) = data_dir {
        config.storage.data_dir = data_dir;
    }
    if let Some(listen) = listen {
        config.server.listen = listen;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("sightline-worker")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(config))
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let opened = open(&config, Following::Log).await?;
    let stop = shutdown_signal();
    let (listener, address) = bind(&config).await?;
    run_server(
        &config,
        Running {
            ingest: opened.ingest,
            kpis: opened.kpis,
            listener,
            address,
        },
        stop,
        async {},
    )
    .await
}

/// How the KPI engine learns of new events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Following {
    /// It reads them from the log (the server).
    Log,
    /// This process hands it what it commits through `Opened::feed` first (a backfill in
    /// the server's process, as `sightline import` does), then it reads the log.
    FedThenLog,
}

/// A data directory's log and KPI engine, opened.
pub(crate) struct Opened {
    pub ingest: Arc<IngestService>,
    pub kpis: Arc<KpiService>,
    /// With `Following::FedThenLog`: drop it once done feeding.
    pub feed: Option<sightline_server::feed::KpiFeed>,
}

/// Opens (and recovers) the data directory and starts the KPI engine on it.
pub(crate) async fn open(config: &Config, following: Following) -> anyhow::Result<Opened> {
    let engine = crate::kpis::build_server_engine(config)?;
    let data_dir = config.storage.data_dir.clone();
    let options = IngestOptions::from_config(config);
    let ingest = tokio::task::spawn_blocking(move || IngestService::start(&data_dir, options))
        .await
        .context("start-up task failed")?
        .with_context(|| {
            format!(
                "cannot open the data directory {}",
                config.storage.data_dir.display()
            )
        })?;
    let ingest = Arc::new(ingest);
    let log = ingest.log().clone();
    let dead_letters = Arc::clone(ingest.dead_letters());
    let metrics = Arc::clone(ingest.metrics());
    let storage = crate::kpis::runner_storage(config, &config.storage.data_dir)?;
    let (kpis, feed) = match following {
        Following::Log => {
            KpiService::start(engine, log, dead_letters, metrics, storage).map(|kpis| (kpis, None))
        }
        Following::FedThenLog => KpiService::start_fed(engine, log, dead_letters, metrics, storage)
            .map(|(kpis, feed)| (kpis, Some(feed))),
    }
    .context("cannot start the KPI engine thread")?;
    Ok(Opened { ingest, kpis, feed })
}

/// Binds the listening socket and says where on stdout.
pub(crate) async fn bind(
    config: &Config,
) -> anyhow::Result<(tokio::net::TcpListener, std::net::SocketAddr)> {
    let listener = sightline_server::bind(config.server.listen).await?;
    let address = listener
        .local_addr()
        .context("cannot read the bound address")?;
    tracing::info!(%address, data_dir = %config.storage.data_dir.display(), "sightline is serving");
    // One plain line on stdout: for people, and for scripts that start us on port 0.
    println!("sightline listening on http://{address}");
    Ok((listener, address))
}

/// What `run_server` serves.
pub(crate) struct Running {
    pub ingest: Arc<IngestService>,
    pub kpis: Arc<KpiService>,
    pub listener: tokio::net::TcpListener,
    pub address: std::net::SocketAddr,
}

/// Serves until `stop_signal`, then stops: `wind_down` (say, in-process traffic that
/// commits through `ingest`) runs after the listener stopped and before the log is made
/// durable and closed, so whatever it had acknowledged is kept.
pub(crate) async fn run_server(
    config: &Config,
    running: Running,
    stop_signal: impl std::future::Future<Output = ()>,
    wind_down: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let Running {
        ingest,
        kpis,
        listener,
        address,
    } = running;
    let state = AppState::new(Arc::clone(&ingest), Arc::clone(&kpis), config);
    sightline_server::odoo::start(&state, config);
    let stop_reconciling = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Not joined at shutdown: a run waiting on the Admin API must not hold the stop up,
    // and whatever it posted is either acknowledged (durable) or not (posted again by
    // the next run: the identities make that a duplicate).
    let _reconciling = crate::shopify::start_periodic(
        config,
        crate::shopify::url_of(address),
        Arc::clone(&stop_reconciling),
    );
    let stop_pushing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let push = state.push.clone();
    if let Some(hub) = &push {
        sightline_server::push::start_publisher(
            Arc::clone(hub),
            Arc::clone(&kpis),
            config.push.coalesce.0,
            Arc::clone(&stop_pushing),
        )
        .context("cannot start the live update thread")?;
    }
    let stop_alerting = Arc::new(std::sync::atomic::AtomicBool::new(false));
    if let Some(alerts) = &state.alerts {
        alerts.read_history_from(Arc::clone(&kpis));
        sightline_server::alerting::start_evaluator(
            Arc::clone(alerts),
            Arc::clone(&kpis),
            config.alerts.evaluate_every.0,
            Arc::clone(&stop_alerting),
        )
        .context("cannot start the alert evaluation thread")?;
    }
    let stopping = async move {
        stop_signal.await;
        // Streams never end by themselves: told to, they let the graceful stop finish.
        if let Some(hub) = push {
            hub.close();
        }
    };
    sightline_server::serve(listener, &config.server, state, stopping).await?;
    stop_pushing.store(true, std::sync::atomic::Ordering::Relaxed);
    stop_alerting.store(true, std::sync::atomic::Ordering::Relaxed);
    stop_reconciling.store(true, std::sync::atomic::Ordering::Relaxed);
    wind_down.await;
    tracing::info!("stopping: making everything received durable");
    ingest.shutdown_async().await;
    let _ = tokio::task::spawn_blocking(move || kpis.shutdown()).await;
    Ok(())
}

/// Ctrl-C or SIGTERM. The handlers are installed when this is called, not when the
/// future is first polled: call it before the address is printed, so that a stop sent the
/// moment a script reads the address is a graceful stop, not the default kill.
pub(crate) fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {},
                        _ = terminate.recv() => {},
                    }
                }
                (Ok(mut only), Err(error)) | (Err(error), Ok(mut only)) => {
                    tracing::warn!(%error, "cannot listen for one of SIGINT and SIGTERM; the other stops the server");
                    only.recv().await;
                }
                (Err(error), Err(_)) => {
                    tracing::warn!(%error, "cannot listen for SIGINT or SIGTERM; stop the server with SIGKILL (what it acknowledged is durable)");
                    std::future::pending::<()>().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
