//! Operational endpoints: `/healthz` (the process answers), `/readyz` (the database and
//! NATS answer), `/metrics` (Prometheus text: log head, relay lag, dead letters). Domain
//! routers are merged in by [`crate::app`].

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use eventstore::{EventStore, Store};
use serde_json::json;

/// What the operational endpoints need.
#[derive(Clone)]
pub struct OpsState {
    /// The store.
    pub store: Store,
    /// The NATS client.
    pub nats: async_nats::Client,
}

/// The router of the operational endpoints.
pub fn ops_router(state: OpsState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn readyz(State(s): State<OpsState>) -> Response {
    let database = s.store.ping().await.is_ok();
    let nats = s.nats.connection_state() == async_nats::connection::State::Connected;
    let status = if database && nats {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(json!({ "database": database, "nats": nats }))).into_response()
}

async fn metrics(State(s): State<OpsState>) -> Response {
    let gather = async {
        let head = s.store.head().await?.0;
        let relay = s.store.checkpoint("relay").await?;
        let dead = s.store.dead_letters(None).await?.len();
        Ok::<_, eventstore::StoreError>((head, relay, dead))
    };
    match gather.await {
        Ok((head, relay, dead)) => {
            let body = format!(
                "# HELP referral_log_head_position Last position of the event log.\n\
                 # TYPE referral_log_head_position gauge\nreferral_log_head_position {head}\n\
                 # HELP referral_relay_checkpoint Last position published to JetStream and acked.\n\
                 # TYPE referral_relay_checkpoint gauge\nreferral_relay_checkpoint {relay}\n\
                 # HELP referral_relay_lag Events committed but not yet acked by JetStream.\n\
                 # TYPE referral_relay_lag gauge\nreferral_relay_lag {}\n\
                 # HELP referral_dead_letters Messages consumers gave up on.\n\
                 # TYPE referral_dead_letters gauge\nreferral_dead_letters {dead}\n",
                head - relay
            );
            ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "metrics unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "metrics unavailable\n").into_response()
        }
    }
}
