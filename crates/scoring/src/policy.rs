//! A region's policy (high-risk threshold, alert deadlines per trigger, follow-up cadence,
//! green-channel timeout) and the region file that selects it together with a catalogue set.
//!
//! This module owns the policy's shape, its parsing and validation from a region file's bytes,
//! and the pure question "which alert deadline does this assessment start?". It does no IO (the
//! file is read by [`crate::load`]), reads no clock (deadlines are durations; the caller adds
//! them to the assessment time) and knows nothing of NATS or SQL.

use crate::catalogue::{content_sha256, line_of, toml_problem, VersionId};
use crate::engine::Assessment;
use crate::error::{LoadError, LoadProblem};
use contracts::Colour;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A region: its catalogue set and its policy, from one file.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    /// Region id, e.g. `default`.
    pub id: String,
    /// Human name.
    pub name: String,
    /// The catalogue set the region grades with.
    pub catalogues: CatalogueSelection,
    /// The policy.
    pub policy: Policy,
}

/// Which catalogue set a region uses, and the id@version it must carry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogueSelection {
    /// Folder of the set; relative paths are relative to the region file (resolved by
    /// [`Region::load`]).
    pub dir: PathBuf,
    /// The set's id as its manifest says.
    pub id: String,
    /// The set's version as its manifest says.
    pub version: u32,
}

/// The rules of one region, with its identity (id@version plus the region file's sha256).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// Identity, recorded in every assessment.
    pub identity: VersionId,
    /// When a woman is high-risk (专案).
    pub high_risk: HighRiskRule,
    /// Alert deadlines per trigger.
    pub alerts: Vec<AlertRule>,
    /// Follow-up cadence.
    pub follow_up: FollowUp,
    /// Green-channel referral timing.
    pub green_channel: GreenChannel,
}

/// High-risk when the colour is one of `colours` (purple: infectious) or the score reaches
/// `min_score`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HighRiskRule {
    /// Colours that make her high-risk; purple means "infectious", carried alongside.
    pub colours: Vec<Colour>,
    /// Total score that makes her high-risk; `None`: the score never does.
    pub min_score: Option<u32>,
}

/// What starts a district alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "trigger", rename_all = "snake_case")]
pub enum AlertTrigger {
    /// The assessment makes her high-risk and the previous one (if any) did not.
    BecameHighRisk,
    /// The grade colour is higher than the previous assessment's (needs a previous one).
    ColourRaised,
    /// The assessment reaches at least `colour` and the previous one (if any) did not; purple
    /// means she is newly infectious.
    Colour {
        /// The colour reached.
        colour: Colour,
    },
    /// A maternal death was reported: the death report is due this many hours after the
    /// death (the rule book: within 2 days).
    MaternalDeath,
    /// Follow-up lost her (missed months in a row): due this many hours after it was found.
    LostToFollowUp,
}

/// A deadline for one trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRule {
    /// What starts the alert.
    #[serde(flatten)]
    pub trigger: AlertTrigger,
    /// Acknowledgement due this many hours after the assessment time (0 = at once).
    pub deadline_hours: u32,
}

/// An alert an assessment starts, with the shortest deadline among the triggers that apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertDue {
    /// Every trigger that applied.
    pub triggers: Vec<AlertTrigger>,
    /// Hours after the assessment time (the shortest of the applying rules).
    pub deadline_hours: u32,
}

/// Follow-up cadence for high-risk women.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowUp {
    /// Phone contacts due per calendar month.
    pub contacts_per_month: u32,
    /// The calendar's offset from UTC in hours (China: 8).
    pub utc_offset_hours: i8,
    /// Call attempts per month before the month counts as missed.
    pub attempts_per_month: u32,
    /// Hours between attempts.
    pub attempt_gap_hours: u32,
    /// Missed months in a row that make her lost to follow-up.
    pub missed_months_lost: u32,
    /// A face-to-face visit is due by this gestational week.
    pub face_to_face_by_week: u32,
    /// Postpartum visit within this many days of discharge.
    pub postpartum_visit_days: u32,
    /// The postnatal check, this many days after the end of pregnancy.
    pub postnatal_check_days: u32,
    /// Expected delivery date plus this many days without an outcome: "outcome unknown" task.
    pub outcome_unknown_after_edd_days: u32,
}

/// Green-channel referral timing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GreenChannel {
    /// Minutes a rescue centre has to accept before the referral escalates one level.
    pub acceptance_timeout_minutes: u32,
    /// Escalation levels, lowest first.
    pub levels: Vec<String>,
    /// Minutes between re-notifications of the top rung while nobody has accepted; 0 (the
    /// default when absent): the acceptance timeout.
    #[serde(default)]
    pub renotify_interval_minutes: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegionFile {
    id: String,
    name: String,
    catalogues: CatalogueSelection,
    policy: PolicyFile,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    id: String,
    version: u32,
    high_risk: HighRiskRule,
    alert: Vec<toml::Spanned<AlertRule>>,
    follow_up: FollowUp,
    green_channel: GreenChannel,
}

impl Region {
    /// Parses a region file's bytes; `file` names it in messages. The catalogue folder is kept
    /// as written (see [`Region::load`] for resolving it). The policy's identity hashes the whole
    /// file, so any edit gives a different identity.
    pub fn from_toml(file: &str, bytes: &[u8]) -> Result<Self, LoadError> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| LoadError::one(LoadProblem::new(file, None, "not valid UTF-8".into())))?;
        let raw: RegionFile =
            toml::from_str(text).map_err(|e| LoadError::one(toml_problem(file, text, &e)))?;
        let mut problems = Vec::new();
        let p = raw.policy;
        if p.high_risk.colours.contains(&Colour::Green) {
            problems.push(LoadProblem::new(
                file,
                None,
                "policy.high_risk.colours must not contain green (everyone would be high-risk)"
                    .into(),
            ));
        }
        if p.alert.is_empty() {
            problems.push(LoadProblem::new(
                file,
                None,
                "policy needs at least one [[policy.alert]]".into(),
            ));
        }
        let mut seen = Vec::new();
        for a in &p.alert {
            if seen.contains(&a.get_ref().trigger) {
                problems.push(LoadProblem::new(
                    file,
                    Some(line_of(text, a.span().start)),
                    format!("duplicate alert trigger {:?}", a.get_ref().trigger),
                ));
            }
            seen.push(a.get_ref().trigger);
        }
        let f = &p.follow_up;
        for (name, v) in [
            ("contacts_per_month", f.contacts_per_month),
            ("attempts_per_month", f.attempts_per_month),
            ("missed_months_lost", f.missed_months_lost),
            ("face_to_face_by_week", f.face_to_face_by_week),
            ("postpartum_visit_days", f.postpartum_visit_days),
            ("postnatal_check_days", f.postnatal_check_days),
        ] {
            if v == 0 {
                problems.push(LoadProblem::new(
                    file,
                    None,
                    format!("policy.follow_up.{name} must be above 0"),
                ));
            }
        }
        if !(-12..=14).contains(&f.utc_offset_hours) {
            problems.push(LoadProblem::new(
                file,
                None,
                "policy.follow_up.utc_offset_hours must be between -12 and 14".into(),
            ));
        }
        if p.green_channel.acceptance_timeout_minutes == 0 || p.green_channel.levels.is_empty() {
            problems.push(LoadProblem::new(
                file,
                None,
                "policy.green_channel needs a timeout above 0 and at least one level".into(),
            ));
        }
        if !problems.is_empty() {
            return Err(LoadError(problems));
        }
        Ok(Self {
            id: raw.id,
            name: raw.name,
            catalogues: raw.catalogues,
            policy: Policy {
                identity: VersionId {
                    id: p.id,
                    version: p.version,
                    sha256: content_sha256(bytes),
                },
                high_risk: p.high_risk,
                alerts: p.alert.into_iter().map(toml::Spanned::into_inner).collect(),
                follow_up: p.follow_up,
                green_channel: p.green_channel,
            },
        })
    }
}

/// The part of an assessment the alert rules look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grade {
    /// Grade colour (never purple).
    pub colour: Colour,
    /// Purple carried alongside.
    pub infectious: bool,
    /// Total score.
    pub score: u32,
    /// High-risk under the policy.
    pub high_risk: bool,
}

impl From<&Assessment> for Grade {
    fn from(a: &Assessment) -> Self {
        Self {
            colour: a.colour,
            infectious: a.infectious,
            score: a.score,
            high_risk: a.high_risk,
        }
    }
}

impl Policy {
    /// The alert `current` starts, given the woman's `previous` assessment (if any): the
    /// triggers that apply and the shortest of their deadlines, or `None` when no trigger applies.
    pub fn alert_due(
        &self,
        previous: Option<&Assessment>,
        current: &Assessment,
    ) -> Option<AlertDue> {
        self.alert_due_for(previous.map(Grade::from), Grade::from(current))
    }

    /// The deadline (hours) of an alert an event rather than an assessment starts
    /// ([`AlertTrigger::MaternalDeath`], [`AlertTrigger::LostToFollowUp`]); `None` when the
    /// policy has no rule for it (then no such alert is raised).
    pub fn event_alert_hours(&self, trigger: AlertTrigger) -> Option<u32> {
        self.alerts
            .iter()
            .filter(|a| a.trigger == trigger)
            .map(|a| a.deadline_hours)
            .min()
    }

    /// [`Policy::alert_due`] on grades alone.
    pub fn alert_due_for(&self, previous: Option<Grade>, current: Grade) -> Option<AlertDue> {
        let reached = |a: &Grade, c: Colour| match c.rank() {
            Some(r) => a.colour.rank().unwrap_or(0) >= r,
            None => a.infectious,
        };
        let previous = previous.as_ref();
        let current = &current;
        let mut triggers = Vec::new();
        let mut deadline: Option<u32> = None;
        for rule in &self.alerts {
            let applies = match rule.trigger {
                AlertTrigger::BecameHighRisk => {
                    current.high_risk && !previous.is_some_and(|p| p.high_risk)
                }
                AlertTrigger::ColourRaised => {
                    previous.is_some_and(|p| current.colour.rank() > p.colour.rank())
                }
                AlertTrigger::Colour { colour } => {
                    reached(current, colour) && !previous.is_some_and(|p| reached(p, colour))
                }
                // Not assessment triggers: see [`Policy::event_alert_hours`].
                AlertTrigger::MaternalDeath | AlertTrigger::LostToFollowUp => false,
            };
            if applies {
                triggers.push(rule.trigger);
                deadline =
                    Some(deadline.map_or(rule.deadline_hours, |d| d.min(rule.deadline_hours)));
            }
        }
        deadline.map(|deadline_hours| AlertDue {
            triggers,
            deadline_hours,
        })
    }
}
