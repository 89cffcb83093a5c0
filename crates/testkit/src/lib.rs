//! Test support, real parts only: a nats-server with JetStream started on a free loopback
//! port with its own store directory, a fresh PostgreSQL database per test on the local
//! server, and SQLite files in temporary directories. Dev-dependency only; nothing in the
//! service links it.
//!
//! Environment: `REFERRAL_TEST_PG` (admin URL, default
//! `postgres://postgres@127.0.0.1:5432/postgres`) and `NATS_SERVER_BIN` (default: the first
//! `nats-server` on `PATH`, then `/usr/sbin/nats-server`).

use anyhow::{bail, Context, Result};
use sqlx::Connection;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn nats_binary() -> PathBuf {
    if let Ok(p) = std::env::var("NATS_SERVER_BIN") {
        return PathBuf::from(p);
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join("nats-server");
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    PathBuf::from("/usr/sbin/nats-server")
}

/// A private nats-server with JetStream; killed when dropped.
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    dir: TempDir,
}

impl NatsServer {
    /// Starts a server on a free port with a fresh JetStream directory.
    pub fn start() -> Result<Self> {
        let mut server = Self {
            child: None,
            port: free_port(),
            dir: tempfile::tempdir()?,
        };
        server.spawn()?;
        Ok(server)
    }

    fn spawn(&mut self) -> Result<()> {
        let bin = nats_binary();
        let child = Command::new(&bin)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                // JetStream needs a moment after the listener opens.
                std::thread::sleep(Duration::from_millis(150));
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!(
            "nats-server did not listen on port {} within 15 s",
            self.port
        )
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server (the JetStream directory stays).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }

    /// Stops and starts the server on the same port and directory.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.spawn()
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The admin URL of the local PostgreSQL server used for throwaway databases.
pub fn postgres_admin_url() -> String {
    std::env::var("REFERRAL_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database created for one test; dropped (with FORCE) when this guard is dropped.
pub struct PgDatabase {
    /// Its URL.
    pub url: String,
    name: String,
}

impl PgDatabase {
    /// Creates `referral_test_<random>` on the local server.
    pub async fn create() -> Result<Self> {
        let admin = postgres_admin_url();
        let name = format!("referral_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&admin).await.with_context(|| {
            "connecting to PostgreSQL for a test database (is it running? see deploy/test.sh)"
        })?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await?;
        conn.close().await.ok();
        let base = admin
            .rsplit_once('/')
            .map_or(admin.as_str(), |(b, _)| b)
            .to_owned();
        Ok(Self {
            url: format!("{base}/{name}"),
            name,
        })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        let admin = postgres_admin_url();
        // Dropping runs on its own thread and runtime: Drop cannot await.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&admin).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await?;
                Ok::<_, anyhow::Error>(())
            })
        })
        .join();
    }
}

/// A SQLite database file in a fresh temporary directory (removed when dropped).
pub struct SqliteFile {
    /// `sqlite:<path>`.
    pub url: String,
    /// The directory.
    pub dir: TempDir,
}

impl SqliteFile {
    /// A new, not yet existing, database file.
    pub fn create() -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite:{}", dir.path().join("events.db").display());
        Ok(Self { url, dir })
    }
}
