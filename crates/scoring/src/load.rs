//! The crate's only IO: reading a catalogue folder and a region file from disk.
//!
//! This module owns file access and path resolution only; every parse and check is done by the
//! pure [`crate::catalogue`] and [`crate::policy`] modules on the bytes read here. It does not
//! watch files, cache, read environment variables or talk to NATS or SQL; it is called once at
//! start by whoever owns the configuration.

use crate::catalogue::Catalogues;
use crate::error::{LoadError, LoadProblem};
use crate::policy::Region;
use std::path::Path;

impl Catalogues {
    /// Loads and validates the catalogue set in `dir` (its `manifest.toml` and the files it
    /// names). Returns every problem found, each naming its file and line.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self, LoadError> {
        let dir = dir.as_ref();
        let label = dir.display().to_string();
        Self::from_sources(&label, &mut |name| {
            std::fs::read(dir.join(name)).map_err(|e| format!("cannot read: {e}"))
        })
    }
}

impl Region {
    /// Loads a region file; a relative catalogue folder is resolved against the file's folder.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        let path = path.as_ref();
        let label = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| {
            LoadError::one(LoadProblem::new(&label, None, format!("cannot read: {e}")))
        })?;
        let mut region = Self::from_toml(&label, &bytes)?;
        if region.catalogues.dir.is_relative() {
            let base = path.parent().unwrap_or(Path::new("."));
            region.catalogues.dir = base.join(&region.catalogues.dir);
        }
        Ok(region)
    }

    /// Loads the catalogue set the region selects, and checks it carries the id@version the
    /// region names.
    pub fn load_catalogues(&self) -> Result<Catalogues, LoadError> {
        let c = Catalogues::load(&self.catalogues.dir)?;
        let set = &c.versions().set;
        if set.id != self.catalogues.id || set.version != self.catalogues.version {
            return Err(LoadError::one(LoadProblem::new(
                &self
                    .catalogues
                    .dir
                    .join(crate::catalogue::MANIFEST_FILE)
                    .display()
                    .to_string(),
                None,
                format!(
                    "region `{}` selects {}@{} but the folder holds {}",
                    self.id,
                    self.catalogues.id,
                    self.catalogues.version,
                    set.label()
                ),
            )));
        }
        Ok(c)
    }
}
