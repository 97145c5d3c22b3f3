//! Structural check of a flattened device tree before `node` reads it: the whole
//! structure block is walked once, and only trees of this shape are accepted (the
//! reader never panics on any input, but it ends a walk at the first thing it does
//! not expect, so a malformed tree would lose nodes silently instead of being
//! refused):
//!
//! ```text
//! struct   := NOP* node NOP* END
//! node     := BEGIN_NODE name PROP* node* NOP* END_NODE     (root name is empty)
//! ```
//!
//! NOPs are accepted only after a node's properties and children (where the `fdt`
//! crate, which once read these trees, tolerated them); elsewhere the tree is refused
//! as `BadStructure`. Every
//! property's value must lie inside the structure block, its name inside the strings
//! block, NUL-terminated and UTF-8; `#address-cells`, `#size-cells` and
//! `#interrupt-cells` must be exactly one cell.

use super::node::Tree;
use super::PlatformError;

const MAGIC: u32 = 0xd00d_feed;
const HEADER_LEN: usize = 40;
/// The header layout this parser knows (v17 added `size_dt_struct`).
const VERSION: u32 = 17;
/// Deepest node nesting accepted (the root is depth 1).
pub(super) const MAX_DEPTH: usize = 16;

pub(super) const BEGIN_NODE: u32 = 1;
pub(super) const END_NODE: u32 = 2;
pub(super) const PROP: u32 = 3;
pub(super) const NOP: u32 = 4;
const END: u32 = 9;

/// Big-endian u32 at byte `at`, if the slice holds it.
pub(super) fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// The NUL-terminated UTF-8 string starting at `at`, and its length without the NUL.
pub(super) fn c_str(bytes: &[u8], at: usize) -> Option<(&str, usize)> {
    let rest = bytes.get(at..)?;
    let len = rest.iter().position(|&b| b == 0)?;
    let s = core::str::from_utf8(rest.get(..len)?).ok()?;
    Some((s, len))
}

fn align4(x: usize) -> Option<usize> {
    Some(x.checked_add(3)? & !3)
}

/// `[off, off + size)` of `data`, if it lies inside the first `total` bytes.
fn block(data: &[u8], off: u32, size: u32, total: usize) -> Result<&[u8], PlatformError> {
    let start = usize::try_from(off).map_err(|_| PlatformError::BadHeader)?;
    let len = usize::try_from(size).map_err(|_| PlatformError::BadHeader)?;
    let end = start.checked_add(len).ok_or(PlatformError::BadHeader)?;
    if end > total {
        return Err(PlatformError::BadHeader);
    }
    data.get(start..end).ok_or(PlatformError::BadHeader)
}

/// Checks the header and the structure block; returns the structure and strings
/// blocks.
pub(super) fn check(dtb: &[u8]) -> Result<Tree<'_>, PlatformError> {
    if dtb.len() < HEADER_LEN {
        return Err(PlatformError::BadHeader);
    }
    let field = |i: usize| be32(dtb, i * 4).ok_or(PlatformError::BadHeader);
    let total = usize::try_from(field(1)?).map_err(|_| PlatformError::BadHeader)?;
    if field(0)? != MAGIC || total < HEADER_LEN || total > dtb.len() {
        return Err(PlatformError::BadHeader);
    }
    if field(5)? < VERSION || field(6)? > VERSION {
        return Err(PlatformError::BadHeader);
    }
    let structs = block(dtb, field(2)?, field(9)?, total)?;
    let strings = block(dtb, field(3)?, field(8)?, total)?;
    block(dtb, field(4)?, 16, total)?;
    check_structure(structs, strings)?;
    Ok(Tree {
        st: structs,
        strings,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Outside the root node.
    Top,
    /// Inside a node, before any child or NOP.
    Props,
    /// Inside a node, after a child.
    Children,
    /// Inside a node, after a NOP: only NOPs and END_NODE may follow.
    Trailing,
}

fn check_structure(st: &[u8], strings: &[u8]) -> Result<(), PlatformError> {
    use PlatformError::BadStructure as Bad;
    let mut pos = 0usize;
    let mut depth = 0usize;
    let mut root_done = false;
    let mut state = State::Top;
    loop {
        let token = be32(st, pos).ok_or(Bad)?;
        pos = pos.checked_add(4).ok_or(Bad)?;
        match token {
            BEGIN_NODE => {
                if root_done || state == State::Trailing {
                    return Err(Bad);
                }
                let (name, len) = c_str(st, pos).ok_or(Bad)?;
                if depth == 0 && !name.is_empty() {
                    return Err(Bad);
                }
                pos = pos.checked_add(len + 1).and_then(align4).ok_or(Bad)?;
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(PlatformError::TooDeep);
                }
                state = State::Props;
            }
            PROP => {
                if state != State::Props {
                    return Err(Bad);
                }
                let len = usize::try_from(be32(st, pos).ok_or(Bad)?).map_err(|_| Bad)?;
                let name_off = usize::try_from(be32(st, pos + 4).ok_or(Bad)?).map_err(|_| Bad)?;
                pos = pos.checked_add(8).ok_or(Bad)?;
                let end = pos.checked_add(len).ok_or(Bad)?;
                if end > st.len() {
                    return Err(Bad);
                }
                let (name, _) = c_str(strings, name_off).ok_or(Bad)?;
                if let Some(cells) = cells_property(name) {
                    if len != 4 {
                        return Err(PlatformError::BadCells(cells));
                    }
                }
                pos = align4(end).ok_or(Bad)?;
            }
            NOP => {
                if depth > 0 {
                    state = State::Trailing;
                }
            }
            END_NODE => {
                depth = depth.checked_sub(1).ok_or(Bad)?;
                if depth == 0 {
                    root_done = true;
                    state = State::Top;
                } else {
                    state = State::Children;
                }
            }
            END if depth == 0 && root_done => return Ok(()),
            _ => return Err(Bad),
        }
    }
}

/// The static name of a cell-count property, if `name` is one.
fn cells_property(name: &str) -> Option<&'static str> {
    match name {
        "#address-cells" => Some("#address-cells"),
        "#size-cells" => Some("#size-cells"),
        "#interrupt-cells" => Some("#interrupt-cells"),
        _ => None,
    }
}
