//! The processes a load run or a fault scenario needs, each killed when dropped so that no
//! scenario leaves one behind: a private nats-server with JetStream, a private PostgreSQL
//! cluster (Debian's `initdb` + `pg_ctl`, on a free loopback port, in a temporary
//! directory), a fresh database on an existing server, and the service itself as a child
//! process (`loadgen serve`, the same `referral::Application` the `referral` binary serves).
//!
//! Loopback only: every server listens on 127.0.0.1.

use anyhow::{bail, Context, Result};
use sqlx::Connection;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn wait_port(port: u16, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn kill(child: &mut Option<Child>) {
    if let Some(mut c) = child.take() {
        c.kill().ok();
        c.wait().ok();
    }
}

/// A private nats-server with JetStream on a free port; killed when dropped.
pub struct Nats {
    child: Option<Child>,
    port: u16,
    dir: TempDir,
}

impl Nats {
    /// Starts one (`NATS_SERVER_BIN` or `nats-server` on `PATH` or `/usr/sbin/nats-server`).
    pub fn start() -> Result<Self> {
        let mut n = Self {
            child: None,
            port: free_port(),
            dir: tempfile::tempdir()?,
        };
        n.spawn()?;
        Ok(n)
    }

    fn spawn(&mut self) -> Result<()> {
        let bin = std::env::var("NATS_SERVER_BIN").unwrap_or_else(|_| {
            std::env::var_os("PATH")
                .and_then(|p| {
                    std::env::split_paths(&p)
                        .map(|d| d.join("nats-server"))
                        .find(|c| c.is_file())
                })
                .map_or_else(
                    || "/usr/sbin/nats-server".to_owned(),
                    |p| p.display().to_string(),
                )
        });
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
            .with_context(|| format!("starting {bin}"))?;
        self.child = Some(child);
        if !wait_port(self.port, Duration::from_secs(15)) {
            bail!("nats-server did not listen on {} within 15 s", self.port);
        }
        std::thread::sleep(Duration::from_millis(150));
        Ok(())
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills it (its JetStream directory stays).
    pub fn stop(&mut self) {
        kill(&mut self.child);
    }

    /// Starts it again on the same port and directory.
    pub fn start_again(&mut self) -> Result<()> {
        self.stop();
        self.spawn()
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A private PostgreSQL cluster on a free loopback port, stopped (immediate) and removed
/// when dropped. Needs Debian's `/usr/lib/postgresql/<v>/bin`; run as root it runs the
/// server as the `postgres` user.
pub struct PgCluster {
    bin: PathBuf,
    dir: TempDir,
    port: u16,
    as_postgres: bool,
    running: bool,
}

fn pg_bin() -> Result<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .context("PostgreSQL binaries under /usr/lib/postgresql")?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").is_file())
        .collect();
    found.sort();
    found
        .pop()
        .context("no initdb under /usr/lib/postgresql/*/bin")
}

fn is_root() -> bool {
    // SAFETY-free check: the effective uid via `id -u`.
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl PgCluster {
    /// `initdb` and start a cluster with user `referral` (password `referral`) as superuser.
    pub fn start() -> Result<Self> {
        let bin = pg_bin()?;
        let dir = tempfile::tempdir()?;
        let as_postgres = is_root();
        if as_postgres {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path()))?;
        }
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "referral\n")?;
        if as_postgres {
            run(Command::new("chown").arg("postgres:postgres").arg(&pw))?;
        }
        let mut c = Self {
            bin,
            port: free_port(),
            dir,
            as_postgres,
            running: false,
        };
        let data = c.data();
        c.pg(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "referral",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                &format!("--pwfile={}", pw.display()),
            ],
        )?;
        c.start_server()?;
        Ok(c)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn pg(&self, tool: &str, args: &[&str]) -> Result<()> {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.args(args);
        run(&mut cmd)
    }

    fn start_server(&mut self) -> Result<()> {
        let data = self.data();
        let log = self.dir.path().join("log").display().to_string();
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories={} -c fsync=off -c max_connections=100",
            self.port,
            self.dir.path().display()
        );
        self.pg(
            "pg_ctl",
            &["-D", &data, "-l", &log, "-o", &opts, "-w", "start"],
        )?;
        self.running = true;
        Ok(())
    }

    /// `postgres://referral:referral@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!(
            "postgres://referral:referral@127.0.0.1:{}/postgres",
            self.port
        )
    }

    /// `pg_ctl restart -m fast`: every connection is cut, the server comes back.
    pub fn restart(&mut self) -> Result<()> {
        let data = self.data();
        self.pg("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"])?;
        self.running = false;
        self.start_server()
    }

    fn stop(&mut self) {
        if self.running {
            let data = self.data();
            self.pg("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"])
                .ok();
            self.running = false;
        }
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(cmd: &mut Command) -> Result<()> {
    let out = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// A fresh database on an existing PostgreSQL server (`admin_url`), dropped (FORCE) when
/// this guard is dropped unless kept.
pub struct PgDatabase {
    /// Its URL.
    pub url: String,
    admin: String,
    name: String,
    keep: bool,
}

impl PgDatabase {
    /// Creates `loadgen_<random>`.
    pub async fn create(admin_url: &str) -> Result<Self> {
        let name = format!("loadgen_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(admin_url)
            .await
            .context("connecting to PostgreSQL")?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await?;
        conn.close().await.ok();
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url, |(b, _)| b)
            .to_owned();
        Ok(Self {
            url: format!("{base}/{name}"),
            admin: admin_url.to_owned(),
            name,
            keep: false,
        })
    }

    /// Leaves the database in place when dropped.
    pub fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        let (admin, name) = (self.admin.clone(), self.name.clone());
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

/// The service as a child process: `<loadgen> serve` with the given database and NATS, on a
/// fixed loopback port (so a restart keeps the address). Killed (`SIGKILL`) when dropped.
pub struct Service {
    exe: PathBuf,
    root: PathBuf,
    database_url: String,
    nats_url: String,
    port: u16,
    child: Option<Child>,
}

impl Service {
    /// Starts `exe serve …` from the repository `root` (for the config files) and waits
    /// until `/readyz` answers.
    pub fn start(exe: &Path, root: &Path, database_url: &str, nats_url: &str) -> Result<Self> {
        let mut s = Self {
            exe: exe.to_owned(),
            root: root.to_owned(),
            database_url: database_url.to_owned(),
            nats_url: nats_url.to_owned(),
            port: free_port(),
            child: None,
        };
        s.spawn()?;
        Ok(s)
    }

    /// The HTTP address.
    pub fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn spawn(&mut self) -> Result<()> {
        let child = Command::new(&self.exe)
            .current_dir(&self.root)
            .args([
                "serve",
                "--database-url",
                &self.database_url,
                "--nats-url",
                &self.nats_url,
                "--http-addr",
                &format!("127.0.0.1:{}", self.port),
            ])
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting the service")?;
        self.child = Some(child);
        if !wait_port(self.port, Duration::from_secs(30)) {
            self.kill9();
            bail!("the service did not listen within 30 s");
        }
        Ok(())
    }

    /// `kill -9`: no shutdown, no flush; whatever was between commit and publish stays there.
    pub fn kill9(&mut self) {
        kill(&mut self.child);
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) -> Result<()> {
        self.kill9();
        self.spawn()
    }

    /// The child's peak resident set (VmHWM, kB) while it runs.
    pub fn peak_rss_kb(&self) -> Option<u64> {
        let pid = self.child.as_ref()?.id();
        peak_rss_kb_of(&format!("/proc/{pid}/status"))
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// VmHWM (peak RSS, kB) from a `/proc/<pid>/status` file.
pub fn peak_rss_kb_of(status_file: &str) -> Option<u64> {
    let text = std::fs::read_to_string(status_file).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// This process's peak RSS in kB.
pub fn own_peak_rss_kb() -> Option<u64> {
    peak_rss_kb_of("/proc/self/status")
}
