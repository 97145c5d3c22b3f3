//! What a console line must contain or match.

use regex::Regex;
use std::fmt;

/// What a line must contain or match.
#[derive(Debug, Clone)]
pub enum Pattern {
    Contains(String),
    Regex(Regex),
}

impl Pattern {
    pub fn contains(s: impl Into<String>) -> Pattern {
        Pattern::Contains(s.into())
    }
    /// Panics on an invalid regex: patterns are written in the test table, not by users.
    pub fn regex(re: &str) -> Pattern {
        Pattern::Regex(Regex::new(re).unwrap_or_else(|e| panic!("bad test regex {re:?}: {e}")))
    }
    pub fn is_match(&self, line: &str) -> bool {
        match self {
            Pattern::Contains(s) => line.contains(s.as_str()),
            Pattern::Regex(r) => r.is_match(line),
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Contains(s) => write!(f, "a line containing {s:?}"),
            Pattern::Regex(r) => write!(f, "a line matching /{}/", r.as_str()),
        }
    }
}
