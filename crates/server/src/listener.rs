//! Connections: accept, per-connection timeouts, a cap on open connections, and a
//! graceful stop that lets in-flight requests get their (durable) answers.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use sightline_config::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::error::ServerError;
use crate::state::AppState;

/// How long a graceful stop waits for in-flight requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves the API on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    config: &ServerConfig,
    state: AppState,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let http_metrics = Arc::clone(&state.http_metrics);
    let router = crate::router(state);
    let connection_slots = Arc::new(Semaphore::new(config.max_connections));
    let (stop_connections, stop_signal) = watch::channel(false);
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_timeout.0)
        .keep_alive(true);
    tokio::pin!(shutdown);

    loop {
        // Waiting for a slot before accepting leaves excess clients in the kernel's
        // backlog instead of spending memory on them.
        let permit = tokio::select! {
            permit = Arc::clone(&connection_slots).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Running out of file descriptors is transient: back off, keep serving.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let http_metrics = Arc::clone(&http_metrics);
        let mut stop_signal = stop_signal.clone();
        http_metrics
            .open_connections
            .fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            tokio::pin!(connection);
            let outcome = tokio::select! {
                outcome = connection.as_mut() => outcome,
                _ = stop_signal.changed() => {
                    // Finish the request in flight (its answer may be an acknowledgement),
                    // then close instead of waiting for the next one.
                    connection.as_mut().graceful_shutdown();
                    connection.as_mut().await
                }
            };
            if let Err(error) = outcome {
                tracing::debug!(%error, "connection ended with an error");
            }
            http_metrics
                .open_connections
                .fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
    }

    drop(listener);
    let _ = stop_connections.send(true);
    let all_slots = u32::try_from(config.max_connections).unwrap_or(u32::MAX);
    tokio::select! {
        _ = connection_slots.acquire_many(all_slots) => tracing::info!("all connections closed"),
        () = tokio::time::sleep(DRAIN_TIMEOUT) => tracing::warn!("connections still open after {DRAIN_TIMEOUT:?}; closing them"),
    }
    Ok(())
}

/// Binds the configured address with a clear error.
pub async fn bind(address: std::net::SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| ServerError::Bind { address, source })
}
