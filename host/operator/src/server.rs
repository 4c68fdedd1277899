//! The operator's HTTP endpoints: `/healthz` (the process is alive), `/readyz` (it reached the API server and
//! our CRDs are served; a standby replica is ready too) and `/metrics` (Prometheus, OpenMetrics text).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::Context;

/// Serves the endpoints on `address` until the process ends; returns the bound address through `bound`.
pub(crate) async fn serve(address: SocketAddr, context: Arc<Context>) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(address).await?;
    let bound = listener.local_addr()?;
    let router = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(context);
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(%error, "the metrics and health server stopped");
        }
    });
    Ok(bound)
}

async fn readyz(State(context): State<Arc<Context>>) -> impl IntoResponse {
    match context.readiness() {
        Ok(()) => (StatusCode::OK, "ok\n".to_owned()),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {reason}\n")),
    }
}

async fn metrics(State(context): State<Arc<Context>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], {
        context.observe_caches();
        context.metrics.encode()
    })
}
