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
    /// Run the service with the demo city: issue demo keys, load a generated history through
    /// the service's own API (once per database), print the URL and the keys.
    Demo {
        /// Risk cards in the history.
        #[arg(long, default_value_t = 600)]
        cards: usize,
        /// The generator's seed.
        #[arg(long, default_value_t = 2026)]
        seed: u64,
    },
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
    /// Rebuild every read model (warning, follow-up, escalation, review) from the log. Stop
    /// the service first.
    Replay {
        /// Passes over the log: each keeps 1/passes of the cases in memory (about 10 KB a
        /// case with one pass).
        #[arg(long, default_value_t = 4)]
        passes: usize,
    },
    /// Administration: API keys.
    Admin {
        #[command(subcommand)]
        what: AdminCommand,
    },
    /// Import risk cards from a CSV file (the columns of `POST /v1/risk-cards:import`).
    Import {
        /// The reporting institution (every row must be its own).
        #[arg(long)]
        institution: String,
        /// The CSV file.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// API keys: stored hashed; the key itself is printed once, at creation.
    Key {
        #[command(subcommand)]
        what: KeyCommand,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Issue a key for an institution or office (its district comes from the reference data).
    Create {
        /// hospital, district_office, city_office, rescue_centre, reviewer or admin.
        #[arg(long)]
        role: String,
        /// The institution or office code, as in the reference data.
        #[arg(long)]
        institution: String,
    },
    /// List keys (ids, roles, institutions; never the keys).
    List,
    /// Revoke a key by its id.
    Revoke {
        /// The key id (`key-…`).
        key_id: String,
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
        /// Check only this case's rows (and their links to the neighbouring rows), and print
        /// the case digest and chain hash a review pack records.
        #[arg(long)]
        case: Option<String>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref(), std::env::vars())?;
    init_tracing(&config);
    match cli.command {
        Command::Serve => serve(config).await,
        Command::Demo { cards, seed } => {
            let app = Application::build(config, Arc::new(SystemClock)).await?;
            let options = referral::demo::DemoOptions {
                cards,
                seed,
                ..Default::default()
            };
            referral::demo::run(app, options, stop_on_signal()).await
        }
        Command::Migrate => {
            let store = Store::connect(&config.database_url, Arc::new(SystemClock)).await?;
            store.migrate().await.context("migrating")?;
            println!("migrated ({})", store.backend());
            Ok(())
        }
        Command::Audit {
            what: AuditCommand::Verify { batch, case: None },
        } => verify(config, batch).await,
        Command::Audit {
            what: AuditCommand::Verify {
                case: Some(case), ..
            },
        } => verify_case(config, &case).await,
        Command::Catalogue { what } => catalogue(what),
        Command::Admin {
            what: AdminCommand::Key { what },
        } => admin_key(config, what).await,
        Command::Import { institution, file } => import(config, &institution, &file).await,
        Command::Replay { passes } => replay(config, passes).await,
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
    app.run_until_stopped(stop_on_signal()).await
}

/// A shutdown flag that turns true on Ctrl-C or SIGTERM.
fn stop_on_signal() -> watch::Receiver<bool> {
    let (stop, shutdown) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        stop.send(true).ok();
    });
    shutdown
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

async fn verify_case(config: Config, case: &str) -> anyhow::Result<()> {
    let store = Store::connect(&config.database_url, Arc::new(SystemClock)).await?;
    let case = contracts::CaseId::parse(case)?;
    let report = review::verify::verify_case(&store, &case)
        .await?
        .with_context(|| format!("no events of case {case}"))?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    match report.first_bad {
        None => {
            println!(
                "case {case} verifies: {} events, positions {}–{}, case digest {}",
                report.events, report.first_position, report.last_position, report.case_digest
            );
            Ok(())
        }
        Some((position, reason)) => {
            eprintln!("TAMPERED: case {case}: first bad position {position}: {reason}");
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

async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let store = Store::connect(&config.database_url, Arc::new(SystemClock)).await?;
    store.migrate().await.context("migrating")?;
    Ok(store)
}

fn institution_of(config: &Config, code: &str) -> anyhow::Result<reference::Institution> {
    let reference = reference::ReferenceData::load(&config.reference_file)?;
    let code = contracts::InstitutionCode::parse(code)?;
    reference
        .institution(&code)
        .cloned()
        .with_context(|| format!("institution {code} is not in {}", config.reference_file))
}

async fn admin_key(config: Config, what: KeyCommand) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    match what {
        KeyCommand::Create { role, institution } => {
            let role: edge::Role = role.parse().map_err(|e: String| anyhow::anyhow!(e))?;
            let inst = institution_of(&config, &institution)?;
            let (principal, key) = edge::issue_key(&store, role, inst.code, inst.district).await?;
            println!("key id:  {}", principal.key_id);
            println!("role:    {}", principal.role.as_str());
            println!(
                "for:     {} ({})",
                principal.institution, principal.district
            );
            println!("key:     {key}");
            println!("(shown once; only its hash is stored)");
        }
        KeyCommand::List => {
            for k in edge::list_keys(&store, 10_000).await? {
                println!("{}", serde_json::to_string(&k)?);
            }
        }
        KeyCommand::Revoke { key_id } => {
            if edge::revoke_key(&store, &key_id).await? {
                println!("revoked {key_id}");
            } else {
                anyhow::bail!("no key {key_id}");
            }
        }
    }
    Ok(())
}

async fn import(config: Config, institution: &str, file: &std::path::Path) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    let inst = institution_of(&config, institution)?;
    let region = scoring::Region::load(&config.region_file)?;
    let state = intake::IntakeState {
        store,
        clock: Arc::new(SystemClock),
        reference: Arc::new(reference::ReferenceData::load(&config.reference_file)?),
        catalogues: Arc::new(region.load_catalogues()?),
    };
    let principal = edge::Principal {
        key_id: "cli-import".into(),
        role: edge::Role::Hospital,
        institution: inst.code,
        district: inst.district,
    };
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let bar = indicatif::ProgressBar::new(0);
    let mut progress = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    let report = intake::import_csv_with_progress(&state, &principal, &bytes, &mut progress)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    bar.finish_and_clear();
    println!("{}", serde_json::to_string_pretty(&report)?);
    if report.rejected > 0 {
        std::process::exit(2);
    }
    Ok(())
}

async fn replay(config: Config, passes: usize) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    let started = std::time::Instant::now();
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "replay {bar:40} {pos}/{len} events {per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let rebuilt = referral::replay::replay(&store, &config, passes, |done, head| {
        bar.set_length(head.max(0) as u64);
        bar.set_position(done.max(0) as u64);
    })
    .await?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let parts: Vec<String> = referral::replay::PARTS
        .iter()
        .zip(&rebuilt.states)
        .map(|(part, n)| format!("{part} {n}"))
        .collect();
    println!(
        "replayed {} events in one pass: {} documents ({}) rebuilt in {secs:.1} s ({:.0} events/s; read and fold {:.1} s, write {:.1} s)",
        rebuilt.head,
        rebuilt.documents,
        parts.join(", "),
        rebuilt.head as f64 / secs.max(1e-9),
        rebuilt.read_secs,
        rebuilt.write_secs,
    );
    Ok(())
}
