//! The typed parse of one file, reporting every error in one run: TOML syntax, then
//! every unknown key (`keys`), then every value of the wrong type.
//!
//! serde stops at the first wrong value. So each one is reported and then replaced in
//! a working copy of the text by a placeholder of the type serde asked for (`""`,
//! `0`, `[]`, `false`, the first variant of an enum, a table with the fields it
//! needs), and the parse runs again, until it succeeds or a bound is reached. Errors
//! inside a placeholder are the placeholder's own and are repaired silently. Spans
//! are mapped back to the original text, so each error points at what the user wrote.
//! A file with any error yields no value: the semantic rules never see placeholders.

use crate::diag::{closest, Diagnostic, Source};
use crate::keys::{self, Shape};
use serde::de::DeserializeOwned;
use std::ops::Range;

/// Parse attempts per file: enough for dozens of wrong values.
const MAX_ROUNDS: usize = 200;

/// Syntax, then every unknown key, then every wrong type.
pub(crate) fn parse_file<T: DeserializeOwned>(
    src: &Source,
    shape: &Shape,
) -> (Option<T>, Vec<Diagnostic>) {
    let doc = match toml_edit::ImDocument::parse(src.text.as_str()) {
        Ok(doc) => doc,
        Err(e) => return (None, vec![syntax_diag(src, &e)]),
    };
    let unknown = keys::check(src, doc.as_table(), shape);
    let mut diags = unknown.diags;
    let text = keys::blank(&src.text, &unknown.blanks);
    if !diags.is_empty() && toml_edit::ImDocument::parse(text.as_str()).is_err() {
        return (None, diags);
    }
    let mut work = Patched::new(text);
    let typed_errors_before = diags.len();
    for _ in 0..MAX_ROUNDS {
        let e = match toml::from_str::<T>(&work.text) {
            Ok(value) if diags.len() == typed_errors_before => return (Some(value), diags),
            Ok(_) => return (None, diags),
            Err(e) => e,
        };
        let Some(span) = e.span() else {
            diags.push(serde_diag(src, &e, 0..0));
            break;
        };
        let (start, in_placeholder) = work.origin(span.start);
        let (end, _) = work.origin(span.end);
        let message = e.message().trim();
        if !in_placeholder {
            // An unknown field was already reported (and blanked) by `keys`.
            if !(message.starts_with("unknown field") && typed_errors_before > 0) {
                diags.push(serde_diag(src, &e, start..end.max(start)));
            }
        }
        let Some(with) = placeholder(message, &work.text[span.clone()], in_placeholder) else {
            break;
        };
        work.replace(span, &with);
    }
    (None, diags)
}

/// The text with placeholders, and how to map its offsets back.
struct Patched {
    text: String,
    /// Each replacement as (start, old length, new length), in the order made.
    edits: Vec<(usize, usize, usize)>,
}

impl Patched {
    fn new(text: String) -> Self {
        Patched {
            text,
            edits: Vec::new(),
        }
    }

    /// The original offset of `pos`, and whether `pos` lies inside a placeholder.
    fn origin(&self, mut pos: usize) -> (usize, bool) {
        let mut inside = false;
        for &(start, old, new) in self.edits.iter().rev() {
            if pos >= start + new {
                pos = pos - new + old;
            } else if pos >= start {
                pos = start;
                inside = true;
            }
        }
        (pos, inside)
    }

    fn replace(&mut self, span: Range<usize>, with: &str) {
        self.edits.push((span.start, span.len(), with.len()));
        self.text.replace_range(span, with);
    }
}

/// A value of the type `message` asks for, in place of `got`; `None` when there is no
/// sensible one (the parse stops there).
fn placeholder(message: &str, got: &str, in_placeholder: bool) -> Option<String> {
    if let Some(field) = message.strip_prefix("missing field ") {
        // Only in a table this module made up: the user's own tables stay as written.
        let field = field.trim().trim_matches('`');
        let inner = got.strip_prefix('{')?.strip_suffix('}')?.trim();
        if !in_placeholder {
            return None;
        }
        let sep = if inner.is_empty() { "" } else { ", " };
        return Some(format!("{{ {inner}{sep}{field} = 0 }}"));
    }
    if message.starts_with("unknown variant") {
        let expected = message.split_once("expected").map_or("", |(_, e)| e);
        let first = backticked(expected).into_iter().next()?;
        return Some(format!("\"{first}\""));
    }
    let expected = message.split_once("expected ").map_or("", |(_, e)| e);
    let value = if message == "wanted string or table" || expected.starts_with("a string") {
        "\"\"" // an enum given a non-string first becomes "", then its first variant
    } else if expected.starts_with("a boolean") {
        "false"
    } else if expected.starts_with("a sequence") {
        "[]"
    } else if expected.starts_with("struct") || expected.starts_with("a table") {
        "{}"
    } else if expected.starts_with("a size")
        || expected.starts_with('u')
        || expected.starts_with('i')
        || expected.starts_with("an integer")
    {
        "0"
    } else if expected.starts_with("a compatible string") {
        "\"x\""
    } else {
        return None;
    };
    Some(value.to_owned())
}

fn syntax_diag(src: &Source, e: &toml_edit::TomlError) -> Diagnostic {
    let msg = e.message().trim().replace('\n', "; ");
    let span = e.span().unwrap_or(0..0);
    if msg.contains("number too large") {
        let end = src.text[span.start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(src.text.len(), |n| span.start + n);
        let number = &src.text[span.start..end];
        let msg = format!(
            "`{number}` is too large for a TOML integer (signed 64 bits: at most \
             0x7fff_ffff_ffff_ffff)"
        );
        let hint = "no address or size rtvisor takes is that large (physical addresses have at \
                    most 52 bits): check the digits; a size can also be a string with a unit, \
                    such as \"64GiB\""
            .to_owned();
        return src.diag(span, msg, hint);
    }
    let hint = "fix the TOML syntax (https://toml.io)".to_owned();
    src.diag(span, msg, hint)
}

fn serde_diag(src: &Source, e: &toml::de::Error, span: Range<usize>) -> Diagnostic {
    let msg = e.message().trim().replace('\n', "; ");
    let expected = backticked(msg.split_once("expected").map_or("", |(_, rest)| rest));
    let hint = if let Some(field) = msg.strip_prefix("missing field ") {
        format!("add {} to this table; see docs/scenario.md", field.trim())
    } else if msg.starts_with("unknown variant") || msg.starts_with("unknown field") {
        let got = backticked(&msg).into_iter().next().unwrap_or_default();
        match closest(&got, expected.iter().map(String::as_str)) {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!("use one of: {}", expected.join(", ")),
        }
    } else if msg == "wanted string or table" {
        "write one of the words this key takes, in double quotes (docs/scenario.md lists them)"
            .to_owned()
    } else if msg.starts_with("invalid type") || msg.starts_with("invalid value") {
        type_hint(&msg, key_at(&src.text, span.start))
    } else {
        "see docs/scenario.md for the schema".to_owned()
    };
    // The schema's Rust type names mean nothing to the reader: a struct is a table.
    let msg = match msg.split_once(", expected struct ") {
        Some((head, _)) => format!("{head}, expected a table"),
        None => msg,
    };
    src.diag(span, msg, hint)
}

/// The key whose value starts at `at` (`key = value` on that line), if there is one.
fn key_at(text: &str, at: usize) -> Option<&str> {
    let line =
        &text[text[..at.min(text.len())].rfind('\n').map_or(0, |n| n + 1)..at.min(text.len())];
    let (key, _) = line.rsplit_once('=')?;
    let key = key.trim().trim_start_matches('{').trim();
    let key = key.rsplit([',', '{', '.']).next()?.trim().trim_matches('"');
    (!key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    .then_some(key)
}

/// An example table for the keys whose value is one.
fn table_example(key: &str) -> Option<&'static str> {
    Some(match key {
        "memory" => "memory = { size = \"64MiB\" }",
        "kernel" => "kernel = { path = \"guest.elf\", format = \"elf\" }",
        "initrd" => "initrd = { path = \"initrd.cpio\" }",
        "flash" => "flash = { bank0 = \"firmware.bin\" }",
        _ => return None,
    })
}

/// What a value of the expected type looks like, for key `key` when known.
fn type_hint(msg: &str, key: Option<&str>) -> String {
    let expected = msg.split_once("expected ").map_or("", |(_, e)| e);
    let k = key.unwrap_or("key");
    let hint = match expected {
        e if e.starts_with("a string") => {
            return format!("write it in double quotes, e.g. {k} = \"...\"")
        }
        e if e.starts_with("a sequence") => {
            return format!("write a list in brackets, e.g. {k} = [1, 2]")
        }
        e if e.starts_with("a boolean") => "write true or false",
        e if e.starts_with("a size") => {
            "a size is an integer number of bytes or a string with a binary unit, e.g. \"64MiB\""
        }
        e if e.starts_with("struct") => {
            return match key.and_then(table_example) {
                Some(ex) => format!("write a table, e.g. {ex}"),
                None => {
                    format!("write a table, e.g. {k} = {{ ... }} (docs/scenario.md lists its keys)")
                }
            }
        }
        "u32" if msg.starts_with("invalid value") => {
            "INTIDs, CPU indices and GIC versions are integers from 0 to 4294967295"
        }
        "u64" if msg.starts_with("invalid value") => {
            "addresses are integers from 0 (write them in hex: 0x4000_0000)"
        }
        _ => "addresses, INTIDs and CPU indices are integers, e.g. 0x4000_0000 or 33",
    };
    hint.to_owned()
}

/// The words of `text` written between backticks.
fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_back_through_nested_placeholders() {
        let mut p = Patched::new("a = 1\nb = 2\n".to_owned());
        p.replace(4..5, "\"\""); // a = ""
        assert_eq!(p.origin(11), (10, false)); // the `2`
        assert_eq!(p.origin(5), (4, true));
        p.replace(4..6, "{ x = 0 }");
        assert_eq!(p.origin(18), (10, false));
        assert_eq!(p.origin(10), (4, true));
    }

    #[test]
    fn type_hints_name_the_key_and_no_rust_type() {
        let text = "[[vm]]\nkernel = \"path\"\nbootargs = [\"a\"]\nmemory = { size = 5, x = 1 }\n";
        let at = |needle: &str| text.find(needle).unwrap();
        assert_eq!(key_at(text, at("\"path")), Some("kernel"));
        assert_eq!(key_at(text, at("[\"a")), Some("bootargs"));
        assert_eq!(key_at(text, at("5,")), Some("size"));
        assert_eq!(key_at(text, 0), None);
        let kernel = type_hint(
            "invalid type: string \"path\", expected struct KernelSpec",
            Some("kernel"),
        );
        assert!(kernel.contains("kernel = { path = "), "{kernel}");
        let args = type_hint(
            "invalid type: sequence, expected a string",
            Some("bootargs"),
        );
        assert!(args.contains("bootargs = \"...\""), "{args}");
        assert!(!args.contains("console"), "{args}");
    }

    #[test]
    fn placeholders_follow_what_serde_expected() {
        let p = |m: &str, got: &str| placeholder(m, got, false);
        assert_eq!(
            p("invalid type: integer `1`, expected a string", "1"),
            Some("\"\"".into())
        );
        assert_eq!(
            p("unknown variant ``, expected `rt` or `general`", "\"\""),
            Some("\"rt\"".into())
        );
        assert_eq!(
            p(
                "invalid type: integer `5`, expected struct VmMemorySpec",
                "5"
            ),
            Some("{}".into())
        );
        assert_eq!(p("missing field `size`", "{}"), None);
        assert_eq!(
            placeholder("missing field `size`", "{}", true),
            Some("{ size = 0 }".into())
        );
        assert_eq!(p("something else", "x"), None);
    }
}
