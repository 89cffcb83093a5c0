//! Load errors: every problem found while loading a catalogue set or a region file, each naming
//! its file and, where it has one, its line.
//!
//! This module owns only the error values; it does no IO and knows nothing of cards or
//! assessments (their errors live in [`crate::validate`]).

use std::fmt;

/// One thing wrong with a data file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadProblem {
    /// The file, as given to the loader (normally a path).
    pub file: String,
    /// 1-based line, where the problem has one.
    pub line: Option<usize>,
    /// What is wrong, and where useful how to fix it.
    pub message: String,
}

impl LoadProblem {
    /// A problem in `file` at `line`.
    pub fn new(file: &str, line: Option<usize>, message: String) -> Self {
        Self {
            file: file.to_string(),
            line,
            message,
        }
    }
}

impl fmt::Display for LoadProblem {
    /// `file:line: message`, or `file: message` without a line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.file, l, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Loading failed: every problem found, in file order (never empty).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LoadError(pub Vec<LoadProblem>);

impl LoadError {
    /// An error with a single problem.
    pub fn one(p: LoadProblem) -> Self {
        Self(vec![p])
    }

    /// The problems.
    pub fn problems(&self) -> &[LoadProblem] {
        &self.0
    }
}

impl fmt::Display for LoadError {
    /// One problem per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}
