//! Located diagnostics, rendered like rustc's.
//!
//! ```text
//! error: CPU 2 is given to both VM `a` and VM `b`
//!  --> scenarios/demo.toml:14:11
//!   = hint: vCPUs are pinned 1:1 to physical CPUs; give each VM its own CPUs
//! ```
//!
//! A warning is a diagnostic that does not stop the build: something that is legal
//! but almost certainly not what the scenario means (it comes back in
//! [`crate::Plan::warnings`], or next to the errors).

use std::fmt;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};

/// Whether a diagnostic stops the build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The scenario cannot be built.
    Error,
    /// It can, but probably does not do what it says.
    Warning,
}

/// One error or warning, located in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The file, as the user named it (lexically normalised).
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{label}: {}\n --> {}:{}:{}\n  = hint: {}",
            self.message,
            self.file.display(),
            self.line,
            self.column,
            self.hint
        )
    }
}

/// Every error (and warning) found in one run, sorted by file and position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub(crate) fn sorted(mut list: Vec<Diagnostic>) -> Self {
        list.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        list.dedup();
        Diagnostics(list)
    }
}

/// Whether `list` holds an error (not only warnings).
pub(crate) fn has_errors(list: &[Diagnostic]) -> bool {
    list.iter().any(|d| d.severity == Severity::Error)
}

impl Diagnostics {
    /// The errors, without the warnings.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Error)
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}\n")?;
        }
        match self.errors().count() {
            1 => write!(f, "error: aborting due to 1 previous error"),
            n => write!(f, "error: aborting due to {n} previous errors"),
        }
    }
}

/// A loaded text file: its display path, its directory for resolving relative paths,
/// and its bytes.
#[derive(Debug, Clone)]
pub struct Source {
    /// Path for messages.
    pub path: PathBuf,
    /// Directory that relative paths inside the file are resolved against.
    pub dir: PathBuf,
    /// Contents.
    pub text: String,
}

impl Source {
    /// Reads `path`.
    pub fn read(path: &Path) -> std::io::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        Ok(Self::new(path, text))
    }

    /// A source with the given text (tests, generated files).
    pub fn new(path: &Path, text: String) -> Self {
        let path = normalize(path);
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Source { path, dir, text }
    }

    /// `rel` as named inside this file: relative to the file's directory.
    pub fn resolve(&self, rel: &str) -> PathBuf {
        normalize(&self.dir.join(rel))
    }

    /// 1-based line and column of byte offset `at`.
    pub fn line_col(&self, at: usize) -> (usize, usize) {
        let at = at.min(self.text.len());
        let before = &self.text[..at];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        (line, col)
    }

    /// An error at `span`.
    pub fn diag(&self, span: Range<usize>, message: String, hint: String) -> Diagnostic {
        self.located(Severity::Error, span, message, hint)
    }

    /// A warning at `span`.
    pub fn warn(&self, span: Range<usize>, message: String, hint: String) -> Diagnostic {
        self.located(Severity::Warning, span, message, hint)
    }

    fn located(
        &self,
        severity: Severity,
        span: Range<usize>,
        message: String,
        hint: String,
    ) -> Diagnostic {
        let (line, column) = self.line_col(span.start);
        Diagnostic {
            severity,
            file: self.path.clone(),
            line,
            column,
            message,
            hint,
        }
    }
}

/// Removes `.` and folds `dir/..` without touching the file system, so messages show
/// `boards/x.toml` rather than `scenarios/../boards/x.toml`.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                let last = out.components().next_back();
                if matches!(last, Some(Component::Normal(_))) {
                    out.pop();
                } else if !matches!(last, Some(Component::RootDir | Component::Prefix(_))) {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a
/// likely typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| {
            (
                edit_distance(&word.to_ascii_lowercase().replace('_', "-"), c),
                c,
            )
        })
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != cb);
            cur[j + 1] = subst.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_rustc() {
        let src = Source::new(
            Path::new("./scenarios/../x.toml"),
            "a = 1\n  bb = 2\n".into(),
        );
        let d = src.diag(8..10, "bad".into(), "fix it".into());
        assert_eq!(
            d.to_string(),
            "error: bad\n --> x.toml:2:3\n  = hint: fix it"
        );
        let all = Diagnostics(vec![d.clone(), d]);
        assert!(all
            .to_string()
            .ends_with("\n\nerror: aborting due to 2 previous errors"));
    }

    #[test]
    fn normalizes_and_suggests() {
        assert_eq!(normalize(Path::new("a/./b/../../c")), PathBuf::from("c"));
        assert_eq!(
            normalize(Path::new("../a/../../b")),
            PathBuf::from("../../b")
        );
        assert_eq!(normalize(Path::new("/x/../../y")), PathBuf::from("/y"));
        assert_eq!(closest("sise", ["size", "base", "identity"]), Some("size"));
        assert_eq!(
            closest("log_level", ["console", "log-level"]),
            Some("log-level")
        );
        assert_eq!(closest("zzzz", ["size", "base"]), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
