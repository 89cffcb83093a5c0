//! Connecting to NATS and making sure the `REFERRAL` stream exists as this service expects.

use async_nats::jetstream::{self, stream::StorageType};
use contracts::{Subject, STREAM_NAME};
use std::time::Duration;

/// What can go wrong on the bus.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// Could not connect.
    #[error("cannot connect to NATS at {url}: {reason}")]
    Connect {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The server has no JetStream.
    #[error("the NATS server has no JetStream ({0}); start nats-server with -js (see deploy/nats/single.conf)")]
    NoJetStream(String),
    /// A stream of that name exists with another configuration.
    #[error("stream {stream} exists but {problem}; fix the server or delete the stream")]
    StreamMismatch {
        /// The stream.
        stream: String,
        /// What differs.
        problem: String,
    },
    /// A JetStream request failed.
    #[error("JetStream: {0}")]
    JetStream(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] eventstore::StoreError),
}

impl BusError {
    pub(crate) fn js(e: impl std::fmt::Display) -> Self {
        Self::JetStream(e.to_string())
    }
}

/// Settings of the `REFERRAL` stream.
#[derive(Debug, Clone)]
pub struct StreamSettings {
    /// Stream name (`REFERRAL`).
    pub name: String,
    /// JetStream's de-duplication window for `Nats-Msg-Id`.
    pub duplicate_window: Duration,
    /// Replicas (1 for a single server, 3 for the production cluster).
    pub replicas: usize,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            name: STREAM_NAME.to_owned(),
            duplicate_window: Duration::from_secs(120),
            replicas: 1,
        }
    }
}

/// Connects to `url` and returns the client and its JetStream context.
pub async fn connect(url: &str) -> Result<(async_nats::Client, jetstream::Context), BusError> {
    let client = async_nats::ConnectOptions::new()
        .name("referral")
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .map_err(|e| BusError::Connect {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
    let js = jetstream::new(client.clone());
    Ok((client, js))
}

/// Asks the server for JetStream's account info. Parsed loosely on purpose: the reply's
/// shape differs between nats-server 2.9 and current releases.
async fn check_jetstream(js: &jetstream::Context) -> Result<(), BusError> {
    let reply = tokio::time::timeout(
        Duration::from_secs(5),
        js.client().request("$JS.API.INFO", bytes::Bytes::new()),
    )
    .await
    .map_err(|_| BusError::NoJetStream("no answer to $JS.API.INFO within 5 s".into()))?
    .map_err(|e| BusError::NoJetStream(e.to_string()))?;
    let info: serde_json::Value =
        serde_json::from_slice(&reply.payload).map_err(|e| BusError::NoJetStream(e.to_string()))?;
    if let Some(err) = info.get("error") {
        return Err(BusError::NoJetStream(err.to_string()));
    }
    Ok(())
}

/// Creates the stream, or checks an existing one holds `referral.>`, is file-backed and
/// de-duplicates. Fails fast with a message that says what to fix.
pub async fn ensure_stream(
    js: &jetstream::Context,
    settings: &StreamSettings,
) -> Result<jetstream::stream::Stream, BusError> {
    check_jetstream(js).await?;
    let subject = Subject::all();
    match js.get_stream(&settings.name).await {
        Ok(mut stream) => {
            let info = stream.info().await.map_err(BusError::js)?;
            let cfg = &info.config;
            if !cfg.subjects.iter().any(|s| s == &subject) {
                return Err(BusError::StreamMismatch {
                    stream: settings.name.clone(),
                    problem: format!("holds {:?} instead of {subject}", cfg.subjects),
                });
            }
            if cfg.storage != StorageType::File {
                return Err(BusError::StreamMismatch {
                    stream: settings.name.clone(),
                    problem: "is kept in memory; events must survive a restart (file storage)"
                        .into(),
                });
            }
            if cfg.duplicate_window.is_zero() {
                return Err(BusError::StreamMismatch {
                    stream: settings.name.clone(),
                    problem: "has no duplicate window; Nats-Msg-Id de-duplication is needed".into(),
                });
            }
            Ok(stream)
        }
        Err(e)
            if matches!(
                e.kind(),
                jetstream::context::GetStreamErrorKind::JetStream(inner)
                    if inner.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
            ) =>
        {
            let config = jetstream::stream::Config {
                name: settings.name.clone(),
                subjects: vec![subject],
                storage: StorageType::File,
                duplicate_window: settings.duplicate_window,
                num_replicas: settings.replicas,
                ..Default::default()
            };
            js.get_or_create_stream(config).await.map_err(BusError::js)
        }
        Err(e) => Err(BusError::js(e)),
    }
}
