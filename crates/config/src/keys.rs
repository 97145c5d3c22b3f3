//! Unknown keys, all of them in one run, each with the closest known key.
//!
//! serde's `deny_unknown_fields` stops at the first unknown key. So before the typed
//! parse, this walks the span-keeping `toml_edit` tree against the key lists that the
//! schema's serde derives themselves declare (read through [`fields_of`], so the two
//! cannot drift), reports every unknown key, and returns the byte ranges to blank out
//! so that the typed parse can still run and the semantic rules can report the rest.

use crate::diag::{closest, Diagnostic, Source};
use crate::schema::*;
use serde::de::{self, Deserialize, Deserializer, Visitor};
use std::fmt;
use std::ops::Range;
use toml_edit::{InlineTable, Item, Key, Table, Value};

/// The known keys of one table, and the shapes of its sub-tables.
pub(crate) struct Shape {
    what: &'static str,
    fields: &'static [&'static str],
    children: Vec<(&'static str, Shape)>,
}

impl Shape {
    fn of<T: for<'de> Deserialize<'de>>(
        what: &'static str,
        children: Vec<(&'static str, Shape)>,
    ) -> Self {
        Shape {
            what,
            fields: fields_of::<T>(),
            children,
        }
    }

    fn leaf<T: for<'de> Deserialize<'de>>(what: &'static str) -> Self {
        Self::of::<T>(what, Vec::new())
    }
}

/// The shape of a scenario file.
pub(crate) fn scenario_shape() -> Shape {
    let hv = Shape::of::<HypervisorSpec>(
        "[hypervisor]",
        vec![("memory", Shape::leaf::<HvMemorySpec>("[hypervisor] memory"))],
    );
    let vm = Shape::of::<VmSpec>(
        "[[vm]]",
        vec![
            ("memory", Shape::leaf::<VmMemorySpec>("[[vm]] memory")),
            ("kernel", Shape::leaf::<KernelSpec>("[[vm]] kernel")),
            ("flash", Shape::leaf::<FlashSpec>("[[vm]] flash")),
        ],
    );
    let shm = Shape::of::<SharedMemorySpec>(
        "[[shared-memory]]",
        vec![("peers", Shape::leaf::<PeerSpec>("[[shared-memory]] peers"))],
    );
    Shape::of::<ScenarioFile>(
        "the top level",
        vec![
            ("hypervisor", hv),
            ("vm", vm),
            ("shared-memory", shm),
            (
                "qemu-device",
                Shape::leaf::<QemuDeviceSpec>("[[qemu-device]]"),
            ),
        ],
    )
}

/// The shape of a board file.
pub(crate) fn board_shape() -> Shape {
    let gic = Shape::of::<GicSpec>(
        "[gic]",
        vec![
            (
                "distributor",
                Shape::leaf::<RegionSpec>("[gic] distributor"),
            ),
            (
                "redistributors",
                Shape::leaf::<RedistSpec>("[gic] redistributors"),
            ),
        ],
    );
    let window = |what| Shape::leaf::<crate::pcie::WindowSpec>(what);
    let pcie = Shape::of::<PcieSpec>(
        "[[pcie]]",
        vec![
            ("ecam", Shape::leaf::<RegionSpec>("[[pcie]] ecam")),
            ("pio", window("[[pcie]] pio")),
            ("mmio32", window("[[pcie]] mmio32")),
            ("mmio64", window("[[pcie]] mmio64")),
        ],
    );
    let children = vec![
        ("cpu", Shape::leaf::<CpuSpec>("[[cpu]]")),
        ("ram", Shape::leaf::<RegionSpec>("[[ram]]")),
        ("gic", gic),
        ("timer", Shape::leaf::<TimerSpec>("[timer]")),
        ("local-apic", Shape::leaf::<LocalApicSpec>("[local-apic]")),
        ("io-apic", Shape::leaf::<IoApicSpec>("[[io-apic]]")),
        ("uart", Shape::leaf::<UartSpec>("[[uart]]")),
        ("device", Shape::leaf::<DeviceSpec>("[[device]]")),
        ("pcie", pcie),
        ("qemu", Shape::leaf::<QemuBoardSpec>("[qemu]")),
        ("llc", Shape::leaf::<LlcSpec>("[llc]")),
    ];
    Shape::of::<BoardFile>("the top level", children)
}

/// Unknown keys found, and the byte ranges that remove them.
#[derive(Default)]
pub(crate) struct Unknown {
    pub diags: Vec<Diagnostic>,
    pub blanks: Vec<Range<usize>>,
}

/// Checks every table of `root` against `shape`.
pub(crate) fn check(src: &Source, root: &Table, shape: &Shape) -> Unknown {
    let mut out = Unknown::default();
    walk_table(src, root, shape, &mut out);
    out
}

fn walk_table(src: &Source, t: &Table, shape: &Shape, out: &mut Unknown) {
    for (name, item) in t.iter() {
        let Some(key) = t.key(name) else { continue };
        if !shape.fields.contains(&name) {
            report(src, key, shape, out);
            let end = match item {
                Item::Value(v) => v.span().map(|s| s.end),
                _ => None,
            };
            match (key.span(), end) {
                (Some(k), Some(e)) => out.blanks.push(dotted_start(&src.text, k.start)..e),
                _ => blank_item(item, out),
            }
            continue;
        }
        if let Some((_, child)) = shape.children.iter().find(|(n, _)| *n == name) {
            walk_item(src, item, child, out);
        }
    }
}

fn walk_inline(src: &Source, t: &InlineTable, shape: &Shape, out: &mut Unknown) {
    for (name, value) in t.iter() {
        let Some(key) = t.key(name) else { continue };
        if !shape.fields.contains(&name) {
            report(src, key, shape, out);
            if let (Some(k), Some(v)) = (key.span(), value.span()) {
                out.blanks.push(inline_entry(&src.text, k.start, v.end));
            }
            continue;
        }
        if let Some((_, child)) = shape.children.iter().find(|(n, _)| *n == name) {
            walk_value(src, value, child, out);
        }
    }
}

fn walk_item(src: &Source, item: &Item, shape: &Shape, out: &mut Unknown) {
    match item {
        Item::Table(t) => walk_table(src, t, shape, out),
        Item::ArrayOfTables(a) => a.iter().for_each(|t| walk_table(src, t, shape, out)),
        Item::Value(v) => walk_value(src, v, shape, out),
        Item::None => {}
    }
}

fn walk_value(src: &Source, v: &Value, shape: &Shape, out: &mut Unknown) {
    match v {
        Value::InlineTable(t) => walk_inline(src, t, shape, out),
        Value::Array(a) => a.iter().for_each(|v| walk_value(src, v, shape, out)),
        _ => {}
    }
}

fn report(src: &Source, key: &Key, shape: &Shape, out: &mut Unknown) {
    let name = key.get();
    let known = shape.fields.join(", ");
    let hint = match closest(name, shape.fields.iter().copied()) {
        Some(best) => format!("did you mean `{best}`? (keys here: {known})"),
        None => format!("keys here: {known}"),
    };
    let span = key.span().unwrap_or(0..0);
    out.diags.push(src.diag(
        span,
        format!("unknown key `{name}` in {}", shape.what),
        hint,
    ));
}

/// Blanks a whole unknown table: its header and every entry below it.
fn blank_item(item: &Item, out: &mut Unknown) {
    let mut table = |t: &Table| {
        if !t.is_dotted() {
            out.blanks.extend(t.span());
        }
        for (name, item) in t.iter() {
            match (t.key(name).and_then(Key::span), item) {
                (Some(k), Item::Value(v)) => {
                    out.blanks.push(k.start..v.span().map_or(k.end, |s| s.end))
                }
                _ => blank_item(item, out),
            }
        }
    };
    match item {
        Item::Table(t) => table(t),
        Item::ArrayOfTables(a) => a.iter().for_each(table),
        _ => {}
    }
}

/// Where the line holding the key at `at` starts, when only (dotted) key text precedes
/// it (`memory.sise = 1`): blanking from there leaves no dangling `memory.`.
fn dotted_start(text: &str, at: usize) -> usize {
    let line = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let keyish = |c: char| c.is_ascii_alphanumeric() || " \t.-_\"'".contains(c);
    if text[line..at].chars().all(keyish) {
        line
    } else {
        at
    }
}

/// The range of `key = value` inside `{ ... }` together with one neighbouring comma,
/// so that what is left still parses.
fn inline_entry(text: &str, start: usize, end: usize) -> Range<usize> {
    let bytes = text.as_bytes();
    let mut after = end;
    while after < bytes.len() && (bytes[after] == b' ' || bytes[after] == b'\t') {
        after += 1;
    }
    if bytes.get(after) == Some(&b',') {
        return start..after + 1;
    }
    let mut before = start;
    while before > 0 && (bytes[before - 1] == b' ' || bytes[before - 1] == b'\t') {
        before -= 1;
    }
    if before > 0 && bytes[before - 1] == b',' {
        return before - 1..end;
    }
    start..end
}

/// Replaces each range with spaces (keeping newlines) so every other span stays put.
pub(crate) fn blank(text: &str, ranges: &[Range<usize>]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for r in ranges {
        for b in &mut bytes[r.start.min(text.len())..r.end.min(text.len())] {
            if *b != b'\n' && *b != b'\r' {
                *b = b' ';
            }
        }
    }
    // Spans start and end on character boundaries, so every multi-byte character is
    // either kept whole or replaced whole by spaces: the result is valid UTF-8.
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The field names a serde-derived struct declares, by asking it to deserialize from
/// a probe that only answers `deserialize_struct`.
pub(crate) fn fields_of<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    match T::deserialize(Probe) {
        Err(Found(fields)) => fields,
        Ok(_) => &[],
    }
}

struct Probe;

#[derive(Debug)]
struct Found(&'static [&'static str]);

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fields {:?}", self.0)
    }
}

impl std::error::Error for Found {}

impl de::Error for Found {
    fn custom<M: fmt::Display>(_: M) -> Self {
        Found(&[])
    }
}

impl<'de> Deserializer<'de> for Probe {
    type Error = Found;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Found> {
        Err(Found(&[]))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Found> {
        Err(Found(fields))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
        identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_reads_serde_field_lists() {
        assert_eq!(fields_of::<VmMemorySpec>(), &["size", "base", "identity"]);
        assert!(fields_of::<VmSpec>().contains(&"interrupt-mode"));
        assert!(fields_of::<TimerSpec>().contains(&"virtual-intid"));
    }

    #[test]
    fn blanking_keeps_inline_tables_valid() {
        let t = "m = { a = 1, zz = 2 , b = 3 }\nn = { a = 1, zz = 2 }\n";
        let first = inline_entry(t, t.find("zz").unwrap(), t.find("2").unwrap() + 1);
        let second_at = t.rfind("zz").unwrap();
        let second = inline_entry(t, second_at, second_at + 6);
        let out = blank(t, &[first, second]);
        assert_eq!(
            out,
            "m = { a = 1,          b = 3 }\nn = { a = 1         }\n"
        );
        assert!(out.parse::<toml::Table>().is_ok());
    }
}
