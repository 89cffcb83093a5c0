//! `referral`: the one binary. `serve` runs the service; `migrate` prepares the database;
//! `audit verify` recomputes the log's hash chain.

use anyhow::Context;
use clap::{Parser, Subcommand};
use contracts::SystemClock;
use eventstore::{audit, EventStore, Store};
use referral::{Application, Config};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::watch;

#[derive(Parser)]
#[command(
    name = "referral",
    version,
    about = "High-risk pregnancy referral service"
)]
struct Cli {
    /// Configuration file (TOML); default: ./referral.toml when present.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service: relay, deadline scheduler, HTTP endpoints.
    Serve,
    /// Create or update the database schema.
    Migrate,
    /// Audit the event log.
    Audit {
        #[command(subcommand)]
        what: AuditCommand,
    },
    /// Inspect a region file and the catalogues it selects.
    Catalogue {
        #[command(subcommand)]
        what: CatalogueCommand,
    },
}

#[derive(Subcommand)]
enum CatalogueCommand {
    /// Validate a region file, its policy and its catalogues; print their versions.
    Check {
        /// The region file, e.g. config/regions/default.toml.
        file: PathBuf,
    },
    /// Print the catalogues a region file selects.
    Show {
        /// The region file.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the hash chain and report the first position that does not match.
    Verify {
        /// Rows read per batch.
        #[arg(long, default_value_t = 5000)]
        batch: u32,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref(), std::env::vars())?;
    init_tracing(&config);
    match cli.command {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            let store = Store::connect(&config.database_url, Arc::new(SystemClock)).await?;
            store.migrate().await.context("migrating")?;
            println!("migrated ({})", store.backend());
            Ok(())
        }
        Command::Audit {
            what: AuditCommand::Verify { batch },
        } => verify(config, batch).await,
        Command::Catalogue { what } => catalogue(what),
    }
}

fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = Application::build(config, Arc::new(SystemClock)).await?;
    println!("referral listening on http://{}", app.local_addr());
    let (stop, shutdown) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        stop.send(true).ok();
    });
    app.run_until_stopped(shutdown).await
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    ctrl_c.await.ok();
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await.ok();
}

async fn verify(config: Config, batch: u32) -> anyhow::Result<()> {
    let store = Store::connect(&config.database_url, Arc::new(SystemClock)).await?;
    let (head, _) = store.head().await?;
    let bar = indicatif::ProgressBar::new(u64::try_from(head).unwrap_or(0));
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} events {per_sec} eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let report = audit::verify(&store, batch, |checked, _| {
        bar.set_position(u64::try_from(checked).unwrap_or(0))
    })
    .await?;
    bar.finish_and_clear();
    println!("{}", serde_json::to_string_pretty(&report)?);
    match report.first_bad {
        None => {
            println!(
                "the log verifies: {} events, head hash {}",
                report.checked, report.head_hash
            );
            Ok(())
        }
        Some((position, reason)) => {
            eprintln!("TAMPERED: first bad position {position}: {reason}");
            std::process::exit(1)
        }
    }
}

fn catalogue(what: CatalogueCommand) -> anyhow::Result<()> {
    let file = match &what {
        CatalogueCommand::Check { file } | CatalogueCommand::Show { file } => file,
    };
    let loaded = scoring::Region::load(file).and_then(|r| r.load_catalogues().map(|c| (r, c)));
    let (region, cats) = match loaded {
        Ok(ok) => ok,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1)
        }
    };
    let v = cats.versions();
    if let CatalogueCommand::Show { .. } = what {
        println!("# five-colour ({})", v.five_colour.label());
        for e in cats.five_colour() {
            println!(
                "{}\t{}\t{}\t{}\t{}",
                e.code, e.item, e.colour, e.condition_zh, e.condition_en
            );
        }
        println!("\n# score ({})", v.score.label());
        for e in cats.score_items() {
            println!("{}\t{}\t{}\t{}", e.code, e.points, e.category, e.item_zh);
        }
        println!("\n# screening ({})", v.screening.label());
        for e in cats.screening_items() {
            println!("{}", e.code);
        }
        println!();
    }
    println!(
        "region {} ({}): policy {}; catalogues {} ({} five-colour, {} score, {} screening entries, {} rules): OK",
        region.id,
        region.name,
        region.policy.identity.label(),
        v.set.label(),
        cats.five_colour().len(),
        cats.score_items().len(),
        cats.screening_items().len(),
        cats.rules().len()
    );
    Ok(())
}
