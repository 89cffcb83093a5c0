//! The service's configuration: one typed struct, read once in `main` from a TOML file and
//! then the environment (`REFERRAL_DATABASE_URL`, `REFERRAL_NATS_URL`, `REFERRAL_HTTP_ADDR`,
//! `REFERRAL_LOG_FORMAT`), and passed down. Nothing else reads the environment.

use anyhow::Context;
use serde::Deserialize;
use std::path::Path;

/// Everything the service needs to start.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `sqlite:<path>` (embedded default) or `postgres://…`.
    pub database_url: String,
    /// The NATS server with JetStream.
    pub nats_url: String,
    /// Where the HTTP endpoints listen (loopback by default).
    pub http_addr: String,
    /// How often the deadline scheduler looks for due deadlines, in milliseconds.
    pub scheduler_interval_ms: u64,
    /// Events the relay publishes per batch.
    pub relay_batch: u32,
    /// JetStream's de-duplication window for the `REFERRAL` stream, in seconds.
    pub duplicate_window_secs: u64,
    /// Stream replicas (1 on one server, 3 on the production cluster).
    pub stream_replicas: usize,
    /// `text` or `json` logs.
    pub log_format: String,
    /// The region file: catalogues and policy (see `config/regions/`).
    pub region_file: String,
    /// Reference data: districts, institutions, rescue-centre ladders (`config/reference/`).
    pub reference_file: String,
    /// Near-miss criteria (WHO organ dysfunction) for the green channel.
    pub near_miss_file: String,
    /// How long a web UI session lasts after sign-in, in hours.
    pub web_session_hours: u32,
    /// Whether the web UI's cookies carry `Secure` (set when served over HTTPS).
    pub web_secure_cookies: bool,
    /// Review and indicator policy (`config/review/`); default: `../review/default.toml`
    /// beside the region file's folder.
    pub review_file: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "sqlite:data/referral.db".into(),
            nats_url: "nats://127.0.0.1:4222".into(),
            http_addr: "127.0.0.1:8080".into(),
            scheduler_interval_ms: 1000,
            relay_batch: 256,
            duplicate_window_secs: 120,
            stream_replicas: 1,
            log_format: "text".into(),
            region_file: "config/regions/default.toml".into(),
            reference_file: "config/reference/demo-city.toml".into(),
            near_miss_file: "config/catalogues/near-miss/who-2011.toml".into(),
            web_session_hours: 12,
            web_secure_cookies: false,
            review_file: None,
        }
    }
}

impl Config {
    /// Reads `file` (when given; `referral.toml` in the working directory when present),
    /// then applies the environment `env` (pass `std::env::vars()`).
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Self> {
        let default_file = Path::new("referral.toml");
        let path = file.or_else(|| default_file.exists().then_some(default_file));
        let mut config = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading {}", p.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing {}", p.display()))?
            }
            None => Config::default(),
        };
        for (key, value) in env {
            match key.as_str() {
                "REFERRAL_DATABASE_URL" => config.database_url = value,
                "REFERRAL_NATS_URL" => config.nats_url = value,
                "REFERRAL_HTTP_ADDR" => config.http_addr = value,
                "REFERRAL_LOG_FORMAT" => config.log_format = value,
                "REFERRAL_REGION_FILE" => config.region_file = value,
                "REFERRAL_REFERENCE_FILE" => config.reference_file = value,
                "REFERRAL_NEAR_MISS_FILE" => config.near_miss_file = value,
                "REFERRAL_REVIEW_FILE" => config.review_file = Some(value),
                _ => {}
            }
        }
        Ok(config)
    }

    /// The review policy file: `review_file`, or `../review/default.toml` relative to the
    /// region file's folder (`config/regions/x.toml` → `config/review/default.toml`).
    pub fn review_file(&self) -> String {
        self.review_file.clone().unwrap_or_else(|| {
            let region = Path::new(&self.region_file);
            let base = region
                .parent()
                .and_then(Path::parent)
                .unwrap_or(Path::new("."));
            base.join("review/default.toml").display().to_string()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.toml");
        std::fs::write(
            &path,
            "database_url = \"postgres://x/y\"\nrelay_batch = 10\n",
        )
        .unwrap();
        let c = Config::load(
            Some(&path),
            [(
                "REFERRAL_NATS_URL".to_owned(),
                "nats://127.0.0.1:5222".to_owned(),
            )],
        )
        .unwrap();
        assert_eq!(c.database_url, "postgres://x/y");
        assert_eq!(c.relay_batch, 10);
        assert_eq!(c.nats_url, "nats://127.0.0.1:5222");
        assert_eq!(c.http_addr, Config::default().http_addr);
        std::fs::write(&path, "databse_url = \"typo\"\n").unwrap();
        let err = Config::load(Some(&path), []).unwrap_err();
        assert!(format!("{err:#}").contains("databse_url"), "{err:#}");
    }
}
