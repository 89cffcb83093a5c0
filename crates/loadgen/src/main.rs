//! `loadgen`: the load generator, the replay figure, the invariant checker, and `serve` (the
//! service, for the fault suite). See the README section "Load and fault testing".

use anyhow::Context;
use clap::{Parser, Subcommand};
use loadgen::run::{Backend, RunConfig};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "loadgen",
    about = "Load generator, replay figure and invariant checker"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A measured run per backend (table on stdout; JSON with --json).
    Run {
        /// `sqlite`, `postgres` or `both`.
        #[arg(long, default_value = "both")]
        backend: String,
        /// PostgreSQL admin URL (a fresh database is created and dropped).
        #[arg(
            long,
            env = "REFERRAL_LOADGEN_PG",
            default_value = "postgres://referral:referral@127.0.0.1:5432/postgres"
        )]
        pg: String,
        /// Cards in the batch phase.
        #[arg(long, default_value_t = 5_000)]
        count: usize,
        /// Cards per batch request (at most 1,000).
        #[arg(long, default_value_t = 500)]
        batch: usize,
        /// Cards in the single-card phase.
        #[arg(long, default_value_t = 2_000)]
        single_count: usize,
        /// Single cards per second.
        #[arg(long, default_value_t = 500.0)]
        rate: f64,
        /// Upper bound per backend, seconds.
        #[arg(long, default_value_t = 300)]
        max_seconds: u64,
        /// Seed of the synthetic cards.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Write the figures as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Load about N events into a fresh database, then time `referral replay`'s rebuild
    /// (in a fresh process, for its peak RSS) beside a raw sequential read.
    Replay {
        /// `sqlite` or `postgres`.
        #[arg(long, default_value = "postgres")]
        backend: String,
        /// PostgreSQL admin URL.
        #[arg(
            long,
            env = "REFERRAL_LOADGEN_PG",
            default_value = "postgres://referral:referral@127.0.0.1:5432/postgres"
        )]
        pg: String,
        /// Events to load.
        #[arg(long, default_value_t = 1_000_000)]
        events: i64,
        /// Passes the replay makes over the log (`referral replay --passes`).
        #[arg(long, default_value_t = 4)]
        passes: usize,
        /// Write the figures as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Time the rebuild of an existing database (used by `replay`).
    ReplayOnly {
        /// The database URL.
        #[arg(long)]
        database_url: String,
        /// Passes over the log.
        #[arg(long, default_value_t = 4)]
        passes: usize,
    },
    /// Check every invariant over a database's log and read models; exit 1 on violations.
    Check {
        /// The database URL.
        #[arg(long, env = "REFERRAL_DATABASE_URL")]
        database_url: String,
        /// Seconds of slack for deadlines just passed.
        #[arg(long, default_value_t = 10)]
        grace: i64,
    },
    /// Run the service (the same `referral::Application` as `referral serve`).
    Serve {
        /// Database URL.
        #[arg(long)]
        database_url: String,
        /// NATS URL.
        #[arg(long)]
        nats_url: String,
        /// HTTP address (loopback).
        #[arg(long, default_value = "127.0.0.1:8080")]
        http_addr: String,
    },
}

fn root() -> PathBuf {
    std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
}

fn policy() -> anyhow::Result<scoring::Policy> {
    Ok(scoring::Region::load(root().join("config/regions/default.toml"))?.policy)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Run {
            backend,
            pg,
            count,
            batch,
            single_count,
            rate,
            max_seconds,
            seed,
            json,
        } => {
            let backends = match backend.as_str() {
                "sqlite" => vec![Backend::Sqlite],
                "postgres" => vec![Backend::Postgres(pg)],
                _ => vec![Backend::Postgres(pg), Backend::Sqlite],
            };
            let mut figures = Vec::new();
            for b in backends {
                let cfg = RunConfig {
                    backend: b,
                    root: root(),
                    exe: std::env::current_exe()?,
                    count,
                    batch: batch.clamp(1, 1000),
                    single_count,
                    rate,
                    max_seconds,
                    seed,
                };
                eprintln!("running {:?} …", cfg.backend);
                figures.push(loadgen::run::run(&cfg).await?);
            }
            println!("{}", loadgen::run::table(&figures));
            if let Some(path) = json {
                std::fs::write(&path, serde_json::to_string_pretty(&figures)?)?;
            }
            let bad: usize = figures.iter().map(|f| f.violations + f.wrong_answers).sum();
            if bad > 0 {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Replay {
            backend,
            pg,
            events,
            passes,
            json,
        } => {
            let region = scoring::Region::load(root().join("config/regions/default.toml"))?;
            let catalogues = region.load_catalogues()?;
            let reference =
                reference::ReferenceData::load(root().join("config/reference/demo-city.toml"))?;
            let dir = tempfile::tempdir()?;
            let mut _guard = None;
            let url = if backend == "sqlite" {
                format!("sqlite:{}", dir.path().join("events.db").display())
            } else {
                let db = loadgen::procs::PgDatabase::create(&pg).await?;
                let url = db.url.clone();
                _guard = Some(db);
                url
            };
            let store = eventstore::Store::connect(&url, Arc::new(contracts::SystemClock)).await?;
            store.migrate().await?;
            let escalation = escalation::Escalation::new(
                store.clone(),
                &region.policy.green_channel,
                Arc::new(reference.clone()),
                Arc::new(escalation::NearMissCatalogue::load(
                    root().join("config/catalogues/near-miss/who-2011.toml"),
                )?),
            );
            let t = std::time::Instant::now();
            let loaded = loadgen::replay::load(
                &store,
                &reference,
                &catalogues,
                &region.policy,
                &escalation,
                events,
                7,
                |h| {
                    if h % 100_000 < 1_500 {
                        eprintln!("loaded {h} events");
                    }
                },
            )
            .await?;
            eprintln!(
                "loaded {loaded} events in {:.0} s",
                t.elapsed().as_secs_f64()
            );
            drop(store);
            let out = std::process::Command::new(std::env::current_exe()?)
                .args([
                    "replay-only",
                    "--database-url",
                    &url,
                    "--passes",
                    &passes.to_string(),
                ])
                .output()
                .context("the replaying process")?;
            anyhow::ensure!(
                out.status.success(),
                "replay-only failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            let f: loadgen::replay::ReplayFigures = serde_json::from_str(&text)?;
            println!(
                "backend {}: {} events, {} cases, {} pass(es)",
                f.backend, f.events, f.cases, f.passes
            );
            println!(
                "replay (all projections)   {:>10.0} events/s  ({:.1} s: read and fold {:.1} s, write {:.1} s)",
                f.replay_events_per_s, f.replay_secs, f.replay_read_secs, f.replay_write_secs
            );
            let parts: Vec<String> = f.parts.iter().map(|(p, n)| format!("{p} {n}")).collect();
            println!(
                "documents written          {:>10}  ({})",
                f.documents,
                parts.join(", ")
            );
            println!(
                "raw sequential read        {:>10.0} rows/s    ({:.1} s)",
                f.raw_read_rows_per_s, f.raw_read_secs
            );
            println!("ratio replay ÷ raw read    {:>10.3}", f.ratio);
            println!("peak RSS of the replay     {:>10.0} MB", f.peak_rss_mb);
            if let Some(path) = json {
                std::fs::write(&path, text)?;
            }
            Ok(())
        }
        Command::ReplayOnly {
            database_url,
            passes,
        } => {
            let review = review::ReviewPolicy::load(root().join("config/review/default.toml"))?;
            let f = loadgen::replay::measure(&database_url, policy()?, review, passes).await?;
            println!("{}", serde_json::to_string_pretty(&f)?);
            Ok(())
        }
        Command::Check {
            database_url,
            grace,
        } => {
            let store =
                eventstore::Store::connect(&database_url, Arc::new(contracts::SystemClock)).await?;
            let report = loadgen::check::check_store(
                &store,
                &policy()?,
                &loadgen::check::CheckOptions {
                    now: time::OffsetDateTime::now_utc(),
                    grace: time::Duration::seconds(grace),
                    accepted_cards: None,
                },
            )
            .await?;
            for v in &report.violations {
                println!("{v}");
            }
            println!(
                "{} events, {} cards, {} assessments, {} alerts ({} acknowledged, {} overdue), {} follow-up cases, {} referrals: {} violations",
                report.events, report.cards, report.assessments, report.alerts, report.acknowledged,
                report.overdue, report.followup_cases, report.referrals, report.violations.len()
            );
            if !report.violations.is_empty() {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Serve {
            database_url,
            nats_url,
            http_addr,
        } => {
            let r = root();
            let config = referral::Config {
                database_url,
                nats_url,
                http_addr,
                scheduler_interval_ms: 200,
                region_file: r.join("config/regions/default.toml").display().to_string(),
                reference_file: r
                    .join("config/reference/demo-city.toml")
                    .display()
                    .to_string(),
                near_miss_file: r
                    .join("config/catalogues/near-miss/who-2011.toml")
                    .display()
                    .to_string(),
                ..referral::Config::default()
            };
            let app =
                referral::Application::build(config, Arc::new(contracts::SystemClock)).await?;
            let (stop, shutdown) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                let mut term =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
                }
                stop.send(true).ok();
            });
            app.run_until_stopped(shutdown).await
        }
    }
}
