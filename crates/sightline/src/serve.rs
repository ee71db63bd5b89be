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
    let engine = crate::kpis::build_engine(&config)?;
    let data_dir = config.storage.data_dir.clone();
    let options = IngestOptions::from_config(&config);
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
    let kpis = KpiService::start(
        engine,
        ingest.log().clone(),
        Arc::clone(ingest.dead_letters()),
        Arc::clone(ingest.metrics()),
        crate::kpis::runner_storage(&config, &config.storage.data_dir)?,
    )
    .context("cannot start the KPI engine thread")?;
    let listener = sightline_server::bind(config.server.listen).await?;
    let address = listener
        .local_addr()
        .context("cannot read the bound address")?;
    tracing::info!(%address, data_dir = %config.storage.data_dir.display(), "sightline is serving");
    // One plain line on stdout: for people, and for scripts that start us on port 0.
    println!("sightline listening on http://{address}");

    let state = AppState::new(Arc::clone(&ingest), Arc::clone(&kpis), &config);
    sightline_server::odoo::start(&state, &config);
    let stop_reconciling = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Not joined at shutdown: a run waiting on the Admin API must not hold the stop up,
    // and whatever it posted is either acknowledged (durable) or not (posted again by
    // the next run: the identities make that a duplicate).
    let _reconciling = crate::shopify::start_periodic(
        &config,
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
    let stopping = async move {
        shutdown_signal().await;
        // Streams never end by themselves: told to, they let the graceful stop finish.
        if let Some(hub) = push {
            hub.close();
        }
    };
    sightline_server::serve(listener, &config.server, state, stopping).await?;
    stop_pushing.store(true, std::sync::atomic::Ordering::Relaxed);
    stop_reconciling.store(true, std::sync::atomic::Ordering::Relaxed);
    tracing::info!("stopping: making everything received durable");
    ingest.shutdown_async().await;
    let _ = tokio::task::spawn_blocking(move || kpis.shutdown()).await;
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        ) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops the server");
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {},
            _ = terminate.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
