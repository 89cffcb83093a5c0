//! The near-miss criteria as data (`config/catalogues/near-miss/who-2011.toml`, with `id` and
//! `version`, quoted as `id@version` in every `NearMissRecorded`). Pure but for
//! [`NearMissCatalogue::load`], called once at start.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::Path;

/// One criterion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Criterion {
    /// Stable code (`CV-SHOCK`).
    pub code: String,
    /// Organ system (`cardiovascular`, …).
    pub group: String,
    /// English wording.
    pub en: String,
    /// Chinese wording.
    pub zh: String,
}

/// A versioned set of near-miss criteria.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NearMissCatalogue {
    /// Id (`who-2011`).
    pub id: String,
    /// Version.
    pub version: u32,
    /// The criteria.
    pub criteria: Vec<Criterion>,
}

/// The catalogue file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    /// Unreadable.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not valid.
    #[error("{file}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// Why.
        message: String,
    },
}

impl NearMissCatalogue {
    /// Reads and checks a catalogue file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, CatalogueError> {
        let file = path.as_ref().display().to_string();
        let text = std::fs::read_to_string(path.as_ref()).map_err(|source| CatalogueError::Io {
            file: file.clone(),
            source,
        })?;
        Self::parse(&text, &file)
    }

    /// Parses and checks a catalogue's text: non-empty, unique codes, nothing blank.
    pub fn parse(text: &str, file: &str) -> Result<Self, CatalogueError> {
        let invalid = |message: String| CatalogueError::Invalid {
            file: file.to_owned(),
            message,
        };
        let c: Self = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if c.id.trim().is_empty() || c.criteria.is_empty() {
            return Err(invalid("needs an id and at least one criterion".into()));
        }
        let mut seen = BTreeSet::new();
        for k in &c.criteria {
            if k.code.trim().is_empty() || k.en.trim().is_empty() || k.zh.trim().is_empty() {
                return Err(invalid(format!("criterion `{}` has a blank field", k.code)));
            }
            if !seen.insert(k.code.as_str()) {
                return Err(invalid(format!("duplicate criterion `{}`", k.code)));
            }
        }
        Ok(c)
    }

    /// `id@version`.
    pub fn label(&self) -> String {
        format!("{}@{}", self.id, self.version)
    }

    /// Whether `code` is one of the criteria.
    pub fn contains(&self, code: &str) -> bool {
        self.criteria.iter().any(|c| c.code == code)
    }
}
