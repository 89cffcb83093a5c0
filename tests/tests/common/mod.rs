//! What the end-to-end tests share: the service's configuration on a test NATS and database
//! with the repository's config files, a raw HTTP/1.1 client, API keys and resident IDs.
#![allow(dead_code)] // each test binary uses part of it

use contracts::{DistrictCode, InstitutionCode};
use edge::Role;
use eventstore::Store;
use referral::Config;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The service on `nats_url` and `database_url`, on a free port, with the repository's
/// region, reference data and near-miss catalogue, and a 20 ms scheduler.
pub fn service_config(nats_url: String, database_url: String) -> Config {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    Config {
        database_url,
        nats_url,
        http_addr: "127.0.0.1:0".into(),
        scheduler_interval_ms: 20,
        region_file: format!("{root}/config/regions/default.toml"),
        reference_file: format!("{root}/config/reference/demo-city.toml"),
        near_miss_file: format!("{root}/config/catalogues/near-miss/who-2011.toml"),
        ..Config::default()
    }
}

/// A key for `role` at `institution` in `district`.
pub async fn key(store: &Store, role: Role, institution: &str, district: &str) -> String {
    edge::issue_key(
        store,
        role,
        InstitutionCode::parse(institution).unwrap(),
        DistrictCode::parse(district).unwrap(),
    )
    .await
    .unwrap()
    .1
}

/// One request over a fresh connection: the status and the JSON answer (`Null` if none).
pub async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    key: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let buf = String::from_utf8_lossy(&buf).into_owned();
    let status = buf[9..12].parse().unwrap();
    let raw = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    // Chunked bodies: take the JSON between the first '{' and the last '}'.
    let json = match (raw.find('{'), raw.rfind('}')) {
        (Some(a), Some(b)) => serde_json::from_str(&raw[a..=b]).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    (status, json)
}

/// A valid resident ID: `first17` and its GB 11643 check character.
pub fn resident_id(first17: &str) -> String {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17
        .bytes()
        .zip(W)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    format!("{first17}{}", b"10X98765432"[(sum % 11) as usize] as char)
}
