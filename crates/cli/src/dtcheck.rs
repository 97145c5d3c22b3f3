//! A full structural check of a flattened device tree before the `fdt` crate sees it.
//!
//! `fdt` 0.1.5 panics on some malformed trees, and the workspace builds with
//! `panic = "abort"`, so `catch_unwind` cannot save us: every token, name, property
//! length and string offset is checked here first, in the strict shape `fdt` walks
//! (properties before child nodes, no `FDT_NOP`).

use anyhow::{bail, ensure, Result};

const BEGIN_NODE: u32 = 1;
const END_NODE: u32 = 2;
const PROP: u32 = 3;
const NOP: u32 = 4;
const END: u32 = 9;
const MAX_DEPTH: usize = 64;
/// Size of the FDT header (version 17).
const HEADER: usize = 40;

fn be32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at.checked_add(4)?)
        .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
}

/// NUL-terminated UTF-8 at `b[at..]`; returns its length without the NUL.
fn cstr(b: &[u8], at: usize) -> Option<usize> {
    let rest = b.get(at..)?;
    let len = rest.iter().position(|&c| c == 0)?;
    std::str::from_utf8(&rest[..len]).ok()?;
    Some(len)
}

fn align4(v: usize) -> usize {
    (v + 3) & !3
}

/// Checks header, structure block and strings; an error says what is wrong.
pub fn check(b: &[u8]) -> Result<()> {
    let word = |i: usize| be32(b, i * 4).unwrap_or(0) as usize;
    ensure!(
        word(0) == 0xd00d_feed,
        "not a flattened device tree (no 0xd00dfeed magic); give a .dtb, not a .dts"
    );
    ensure!(
        b.len() >= HEADER,
        "the device tree is truncated: the file has {} bytes, fewer than its {HEADER}-byte header",
        b.len()
    );
    let total = word(1);
    ensure!(
        total <= b.len(),
        "the device tree is truncated: header says {total} bytes, file has {}",
        b.len()
    );
    ensure!(
        word(5) >= 17,
        "device tree version {} is too old (need 17)",
        word(5)
    );
    let (soff, stroff, strsize, ssize) = (word(2), word(3), word(8), word(9));
    let Some(structs) = soff
        .checked_add(ssize)
        .and_then(|e| b[..total].get(soff..e))
    else {
        bail!("the device tree's structure block lies outside the file");
    };
    let Some(strings) = stroff
        .checked_add(strsize)
        .and_then(|e| b[..total].get(stroff..e))
    else {
        bail!("the device tree's strings block lies outside the file");
    };
    let bad = |at: usize, what: &str| {
        anyhow::anyhow!("malformed device tree: {what} at structure offset {at:#x}")
    };
    let mut at = 0;
    let mut depth = 0usize;
    // Per open node: whether a child node has started (no properties after that).
    let mut seen_child: Vec<bool> = Vec::new();
    loop {
        let Some(tok) = be32(structs, at) else {
            return Err(bad(at, "structure block ends without FDT_END"));
        };
        match tok {
            BEGIN_NODE => {
                if let Some(last) = seen_child.last_mut() {
                    *last = true;
                } else if at != 0 {
                    return Err(bad(at, "a second root node"));
                }
                let len = cstr(structs, at + 4)
                    .ok_or_else(|| bad(at, "a node name that is not NUL-terminated UTF-8"))?;
                depth += 1;
                ensure!(depth <= MAX_DEPTH, bad(at, "nodes nested too deep"));
                seen_child.push(false);
                at = align4(at + 4 + len + 1);
            }
            END_NODE => {
                ensure!(depth > 0, bad(at, "FDT_END_NODE without a node"));
                depth -= 1;
                seen_child.pop();
                at += 4;
            }
            PROP => {
                ensure!(depth > 0, bad(at, "a property outside any node"));
                ensure!(
                    seen_child.last() == Some(&false),
                    bad(at, "a property after a child node")
                );
                let len =
                    be32(structs, at + 4).ok_or_else(|| bad(at, "a truncated property"))? as usize;
                let name =
                    be32(structs, at + 8).ok_or_else(|| bad(at, "a truncated property"))? as usize;
                let pname_len = cstr(strings, name)
                    .ok_or_else(|| bad(at, "a property name offset outside the strings block"))?;
                ensure!(
                    (at + 12)
                        .checked_add(len)
                        .is_some_and(|e| e <= structs.len()),
                    bad(at, "a property value running past the structure block")
                );
                let pname = &strings[name..name + pname_len];
                if matches!(
                    pname,
                    b"#address-cells" | b"#size-cells" | b"#interrupt-cells" | b"phandle"
                ) {
                    ensure!(
                        len == 4,
                        bad(at, "a cell-count or phandle property that is not 4 bytes")
                    );
                }
                at = align4(at + 12 + len);
            }
            NOP => {
                bail!("the device tree contains FDT_NOP tokens; repack it with `dtc -I dtb -O dtb`")
            }
            END => {
                ensure!(depth == 0 && at != 0, bad(at, "FDT_END inside a node"));
                return Ok(());
            }
            other => return Err(bad(at, &format!("unknown token {other:#x}"))),
        }
        ensure!(
            depth > 0 || tok == END_NODE,
            bad(at, "content after the root node")
        );
        if depth == 0 {
            ensure!(
                be32(structs, at) == Some(END),
                bad(at, "content after the root node")
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_errors() {
        assert!(check(b"").unwrap_err().to_string().contains("magic"));
        let mut h = vec![0u8; 40];
        h[..4].copy_from_slice(&0xd00d_feedu32.to_be_bytes());
        h[4..8].copy_from_slice(&1000u32.to_be_bytes());
        assert!(check(&h).unwrap_err().to_string().contains("truncated"));
    }
}
