//! A small HTTP/1.1 client for the service's JSON API (hyper, pooled keep-alive
//! connections), loopback only. Callers retry; this module does not.

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use std::net::SocketAddr;

/// A JSON client bound to one service address.
#[derive(Clone)]
pub struct Api {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

impl Api {
    /// A client for `addr`; refuses any address that is not loopback.
    pub fn new(addr: SocketAddr) -> Result<Self> {
        if !addr.ip().is_loopback() {
            bail!("the load generator talks to loopback only, not {addr}");
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(64)
            .build(connector);
        Ok(Self {
            client,
            base: format!("http://{addr}"),
        })
    }

    /// Sends `method path` with a bearer `key` and an optional JSON body; returns the status
    /// and the JSON answer (`Null` when the body is not JSON).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        key: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value)> {
        let bytes = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        let req = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(Full::new(bytes))
            .context("building a request")?;
        let resp = self.client.request(req).await.context("HTTP request")?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .context("reading the answer")?
            .to_bytes();
        Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
    }
}
