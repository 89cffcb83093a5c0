//! `Application::build(config)` then `run_until_stopped()`: loads the region (catalogues and
//! policy), connects the store (migrating it) and NATS (checking the stream), and runs the
//! relay, the deadline scheduler, the components (scoring, warning, follow-up, escalation, review) and the HTTP server (the
//! JSON API and the web UI, which calls the API's routers in-process) until the shutdown
//! signal, which every task receives.

use crate::config::Config;
use crate::http::{ops_router, OpsState};
use anyhow::Context;
use bus::{Consumer, Relay, StreamSettings};
use contracts::Clock;
use eventstore::scheduler::Scheduler;
use eventstore::Store;
use scoring::component::ScoringHandler;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The running service, built but not yet serving.
pub struct Application {
    listener: TcpListener,
    store: Store,
    nats: async_nats::Client,
    js: async_nats::jetstream::Context,
    config: Config,
    catalogues: Arc<scoring::Catalogues>,
    policy: Arc<scoring::Policy>,
    reference: Arc<reference::ReferenceData>,
    near_miss: Arc<escalation::NearMissCatalogue>,
    review_policy: Arc<review::ReviewPolicy>,
    green_channel: scoring::GreenChannel,
    clock: Arc<dyn Clock>,
}

impl Application {
    /// Connects everything and binds the HTTP port (`:0` picks a free one).
    pub async fn build(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let region = scoring::Region::load(&config.region_file)
            .with_context(|| format!("loading the region file {}", config.region_file))?;
        let catalogues = Arc::new(region.load_catalogues().context("loading the catalogues")?);
        let policy = Arc::new(region.policy.clone());
        let reference = Arc::new(
            reference::ReferenceData::load(&config.reference_file)
                .with_context(|| format!("loading the reference data {}", config.reference_file))?,
        );
        let near_miss = Arc::new(
            escalation::NearMissCatalogue::load(&config.near_miss_file).with_context(|| {
                format!("loading the near-miss criteria {}", config.near_miss_file)
            })?,
        );
        let review_policy = Arc::new(
            review::ReviewPolicy::load(config.review_file())
                .with_context(|| format!("loading the review policy {}", config.review_file()))?,
        );
        let green_channel = region.policy.green_channel.clone();
        let store = Store::connect(&config.database_url, clock.clone())
            .await
            .with_context(|| {
                format!("opening the event store ({})", redact(&config.database_url))
            })?;
        store.migrate().await.context("migrating the event store")?;
        let (nats, js) = bus::connect(&config.nats_url).await?;
        let settings = StreamSettings {
            duplicate_window: Duration::from_secs(config.duplicate_window_secs),
            replicas: config.stream_replicas,
            ..StreamSettings::default()
        };
        bus::ensure_stream(&js, &settings).await?;
        let listener = TcpListener::bind(&config.http_addr)
            .await
            .with_context(|| format!("binding {}", config.http_addr))?;
        Ok(Self {
            listener,
            store,
            nats,
            js,
            config,
            catalogues,
            policy,
            reference,
            near_miss,
            review_policy,
            green_channel,
            clock,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The reference data (districts, institutions, ladders).
    pub fn reference(&self) -> &Arc<reference::ReferenceData> {
        &self.reference
    }

    /// The catalogues the region grades with.
    pub fn catalogues(&self) -> &Arc<scoring::Catalogues> {
        &self.catalogues
    }

    /// The service's clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The store (for tests and tools running beside the service).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Every HTTP route the service serves: ops (`/healthz`, `/readyz`, `/metrics`), the JSON
    /// API of each component and the web UI, over the same store. Built by
    /// [`Application::run_until_stopped`]; `referral demo` drives the same routes in process.
    pub fn router(&self) -> axum::Router {
        let followup = followup::FollowUpService::new(
            self.store.clone(),
            Arc::new(self.policy.follow_up.clone()),
        );
        let escalation = escalation::Escalation::new(
            self.store.clone(),
            &self.green_channel,
            self.reference.clone(),
            self.near_miss.clone(),
        );
        let review = review::ReviewService::new(
            self.store.clone(),
            self.review_policy.clone(),
            Some(self.near_miss.clone()),
        );
        let api = intake::router(intake::IntakeState {
            store: self.store.clone(),
            clock: self.clock.clone(),
            reference: self.reference.clone(),
            catalogues: self.catalogues.clone(),
        })
        .merge(warning::http::router(warning::http::WarningState {
            warning: warning::Warning::new(self.store.clone(), self.policy.clone()),
            clock: self.clock.clone(),
        }))
        .merge(followup::http::router(followup::http::FollowUpState {
            service: followup,
            clock: self.clock.clone(),
        }))
        .merge(escalation::http::router(
            escalation::http::EscalationState {
                escalation,
                clock: self.clock.clone(),
            },
        ))
        .merge(review::http::router(review::http::ReviewState {
            service: review,
            clock: self.clock.clone(),
        }));
        let ui = web::router(web::WebState {
            store: self.store.clone(),
            api: api.clone(),
            clock: self.clock.clone(),
            reference: self.reference.clone(),
            catalogues: self.catalogues.clone(),
            warning: warning::Warning::new(self.store.clone(), self.policy.clone()),
            settings: web::WebSettings {
                session_ttl: time::Duration::hours(i64::from(self.config.web_session_hours)),
                secure_cookies: self.config.web_secure_cookies,
                display_offset: time::UtcOffset::from_hms(
                    self.policy.follow_up.utc_offset_hours,
                    0,
                    0,
                )
                .unwrap_or(time::UtcOffset::UTC),
            },
        });
        ops_router(OpsState {
            store: self.store.clone(),
            nats: self.nats.clone(),
        })
        .merge(api)
        .merge(ui)
    }

    /// Serves until `shutdown` turns true, then stops every task and returns.
    pub async fn run_until_stopped(self, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        let relay = Relay::new(self.store.clone(), self.js.clone()).batch(self.config.relay_batch);
        let relay = tokio::spawn(relay.run(shutdown.clone()));
        let scheduler = Scheduler::new(
            self.store.clone(),
            Duration::from_millis(self.config.scheduler_interval_ms),
        );
        let scheduler = tokio::spawn(scheduler.run(shutdown.clone()));
        let scoring = Consumer::new(
            self.store.clone(),
            self.js.clone(),
            scoring::component::consumer_config(),
            ScoringHandler::new(
                self.store.clone(),
                self.catalogues.clone(),
                self.policy.clone(),
            ),
        );
        let scoring = tokio::spawn(scoring.run(shutdown.clone()));
        let warning = warning::Warning::new(self.store.clone(), self.policy.clone());
        let warning: Vec<_> = warning::component::consumer_configs()
            .into_iter()
            .map(|config| {
                let consumer =
                    Consumer::new(self.store.clone(), self.js.clone(), config, warning.clone());
                tokio::spawn(consumer.run(shutdown.clone()))
            })
            .collect();
        let followup = followup::FollowUpService::new(
            self.store.clone(),
            Arc::new(self.policy.follow_up.clone()),
        );
        let followup_consumers: Vec<_> = followup::consumer_configs()
            .into_iter()
            .map(|config| {
                let consumer = Consumer::new(
                    self.store.clone(),
                    self.js.clone(),
                    config,
                    followup.clone(),
                );
                tokio::spawn(consumer.run(shutdown.clone()))
            })
            .collect();
        let escalation = escalation::Escalation::new(
            self.store.clone(),
            &self.green_channel,
            self.reference.clone(),
            self.near_miss.clone(),
        );
        let escalation_consumers: Vec<_> = escalation::consumer_configs()
            .into_iter()
            .map(|config| {
                let consumer = Consumer::new(
                    self.store.clone(),
                    self.js.clone(),
                    config,
                    escalation.clone(),
                );
                tokio::spawn(consumer.run(shutdown.clone()))
            })
            .collect();
        let review = review::ReviewService::new(
            self.store.clone(),
            self.review_policy.clone(),
            Some(self.near_miss.clone()),
        );
        let review_consumer = tokio::spawn(
            Consumer::new(
                self.store.clone(),
                self.js.clone(),
                review::consumer_config(),
                review.clone(),
            )
            .run(shutdown.clone()),
        );
        let router = self.router();
        let mut stop = shutdown.clone();
        tracing::info!(addr = %self.local_addr(), backend = eventstore::EventStore::backend(&self.store), "serving");
        axum::serve(self.listener, router)
            .with_graceful_shutdown(async move {
                while !*stop.borrow() {
                    if stop.changed().await.is_err() {
                        break;
                    }
                }
            })
            .await
            .context("HTTP server")?;
        relay.await.ok();
        scheduler.await.ok();
        scoring.await.ok();
        review_consumer.await.ok();
        for w in warning
            .into_iter()
            .chain(followup_consumers)
            .chain(escalation_consumers)
        {
            w.await.ok();
        }
        Ok(())
    }
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://…@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}
