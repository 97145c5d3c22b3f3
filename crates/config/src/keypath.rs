//! Where a key is in a TOML file, by its path (`vm.1.memory.identity`), whatever
//! way it was written (a `[table]`, a `[[array]]` element, an inline table, a dotted
//! key). Rules on keys the typed schema keeps without a span (a plain `bool`, a
//! whole table) report at the key with this.

use std::ops::Range;
use toml_edit::{ImDocument, Item, Table, Value};

/// One step of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seg<'a> {
    /// A key of a table.
    Key(&'a str),
    /// An element of an array (of tables, or inline).
    Index(usize),
}

/// A key found: the key's span (the table's header for an array element), and its
/// value when the value is a plain one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    /// Where to report.
    pub at: Range<usize>,
    /// The value, if a string (without quotes), boolean or integer.
    pub value: Option<String>,
}

/// A parsed file to look keys up in.
pub(crate) struct Located<'a> {
    doc: Option<ImDocument<&'a str>>,
}

/// What a path step reaches.
enum Node<'d> {
    Table(&'d Table),
    Item(&'d Item),
    Value(&'d Value),
}

impl<'a> Located<'a> {
    /// Parses `text` (a file that does not parse has no keys).
    pub(crate) fn new(text: &'a str) -> Self {
        Located {
            doc: ImDocument::parse(text).ok(),
        }
    }

    /// Walks `path`: the node reached and the last key or header span on the way.
    fn walk(&self, path: &[Seg]) -> Option<(Node<'_>, Option<Range<usize>>)> {
        let doc = self.doc.as_ref()?;
        let mut node = Node::Table(doc.as_table());
        let mut at = None;
        for seg in path {
            let (next, span) = step(node, *seg)?;
            if span.is_some() {
                at = span;
            }
            node = next;
        }
        Some((node, at))
    }

    /// The key at `path`, if the file has it.
    pub(crate) fn find(&self, path: &[Seg]) -> Option<Found> {
        let (node, at) = self.walk(path)?;
        let value = match node {
            Node::Value(v) | Node::Item(Item::Value(v)) => match v {
                Value::String(s) => Some(s.value().clone()),
                Value::Boolean(b) => Some(b.value().to_string()),
                Value::Integer(i) => Some(i.value().to_string()),
                _ => None,
            },
            _ => None,
        };
        Some(Found { at: at?, value })
    }

    /// How many elements the array at `path` has (0 if none).
    pub(crate) fn len(&self, path: &[Seg]) -> usize {
        match self.walk(path) {
            Some((Node::Item(Item::ArrayOfTables(a)), _)) => a.len(),
            Some((Node::Item(Item::Value(Value::Array(a))) | Node::Value(Value::Array(a)), _)) => {
                a.len()
            }
            _ => 0,
        }
    }
}

/// One step down, with the span to report at when it is a key or a table header.
fn step<'d>(node: Node<'d>, seg: Seg) -> Option<(Node<'d>, Option<Range<usize>>)> {
    match (node, seg) {
        (Node::Table(t) | Node::Item(Item::Table(t)), Seg::Key(k)) => {
            let item = t.get(k)?;
            let span = t.key(k).and_then(|key| key.span()).or_else(|| match item {
                Item::Table(inner) => inner.span(),
                _ => None,
            });
            Some((Node::Item(item), span))
        }
        (Node::Item(Item::ArrayOfTables(a)), Seg::Index(i)) => {
            let t = a.get(i)?;
            Some((Node::Table(t), t.span()))
        }
        (Node::Item(Item::Value(v)) | Node::Value(v), seg) => value_step(v, seg),
        _ => None,
    }
}

fn value_step<'d>(v: &'d Value, seg: Seg) -> Option<(Node<'d>, Option<Range<usize>>)> {
    match (v, seg) {
        (Value::InlineTable(t), Seg::Key(k)) => {
            let value = t.get(k)?;
            Some((Node::Value(value), t.key(k).and_then(|key| key.span())))
        }
        (Value::Array(a), Seg::Index(i)) => {
            let value = a.get(i)?;
            Some((Node::Value(value), value.span()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_found_however_they_are_written() {
        let text = "a = 1\n[[vm]]\nname = \"x\"\n[[vm]]\nmemory = { size = 1, identity = true }\n\
                    [t]\nk.d = \"v\"\n[[u]]\n";
        let l = Located::new(text);
        let at = |path: &[Seg]| l.find(path).map(|f| (&text[f.at], f.value));
        use Seg::{Index as I, Key as K};
        assert_eq!(at(&[K("a")]), Some(("a", Some("1".into()))));
        assert_eq!(
            at(&[K("vm"), I(1), K("memory"), K("identity")]),
            Some(("identity", Some("true".into())))
        );
        assert_eq!(at(&[K("vm"), I(0), K("memory")]), None);
        assert_eq!(at(&[K("t"), K("k"), K("d")]), Some(("d", Some("v".into()))));
        assert_eq!(at(&[K("t")]).map(|(s, _)| s), Some("t"));
        assert_eq!(at(&[K("u"), I(0)]).map(|(s, _)| s), Some("[[u]]"));
        assert_eq!(l.len(&[K("vm")]), 2);
        assert_eq!(l.len(&[K("nope")]), 0);
        assert_eq!(Located::new("a = [").find(&[K("a")]), None);
    }
}
