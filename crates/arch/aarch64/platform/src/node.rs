//! The nodes of a device tree that `validate::check` accepted: a node's name, its
//! properties by name, its children. The hypervisor's only device-tree reader.
//!
//! Every read is bounds-checked and ends the walk (`None`, or no more items) on
//! anything unexpected, so even a tree the check had not seen could not make it panic;
//! on a checked tree nothing unexpected occurs. Nothing allocates.

use super::validate::{be32, c_str, BEGIN_NODE, END_NODE, NOP, PROP};

/// The structure and strings blocks of a checked tree.
#[derive(Clone, Copy)]
pub(super) struct Tree<'a> {
    /// The structure block.
    pub st: &'a [u8],
    /// The strings block.
    pub strings: &'a [u8],
}

/// One node: its name and where its properties start in the structure block.
#[derive(Clone, Copy)]
pub(super) struct Node<'a> {
    /// The name with its unit address (`"/"` for the root).
    pub name: &'a str,
    tree: Tree<'a>,
    /// Offset of the first token after the node's name.
    body: usize,
}

/// One property: `(name, value)`.
type Prop<'a> = (&'a str, &'a [u8]);

impl<'a> Tree<'a> {
    /// The root node.
    pub fn root(self) -> Option<Node<'a>> {
        let mut pos = 0;
        while be32(self.st, pos)? == NOP {
            pos += 4;
        }
        self.node_at(pos)
    }

    /// The node whose BEGIN_NODE token is at `pos`.
    fn node_at(self, pos: usize) -> Option<Node<'a>> {
        if be32(self.st, pos)? != BEGIN_NODE {
            return None;
        }
        let (name, len) = c_str(self.st, pos.checked_add(4)?)?;
        let body = align4(pos.checked_add(5)?.checked_add(len)?)?;
        let name = if name.is_empty() { "/" } else { name };
        Some(Node {
            name,
            tree: self,
            body,
        })
    }

    /// The property whose PROP token is at `pos`, and the offset after it.
    fn prop_at(self, pos: usize) -> Option<(Prop<'a>, usize)> {
        let len = usize::try_from(be32(self.st, pos.checked_add(4)?)?).ok()?;
        let name_off = usize::try_from(be32(self.st, pos.checked_add(8)?)?).ok()?;
        let start = pos.checked_add(12)?;
        let value = self.st.get(start..start.checked_add(len)?)?;
        let (name, _) = c_str(self.strings, name_off)?;
        Some(((name, value), align4(start + len)?))
    }

    /// The offset after the node whose BEGIN_NODE token is at `pos` (its END_NODE).
    fn skip_node(self, mut pos: usize) -> Option<usize> {
        let mut depth = 0usize;
        loop {
            match be32(self.st, pos)? {
                BEGIN_NODE => {
                    let (_, len) = c_str(self.st, pos.checked_add(4)?)?;
                    pos = align4(pos.checked_add(5)?.checked_add(len)?)?;
                    depth += 1;
                }
                PROP => pos = self.prop_at(pos)?.1,
                NOP => pos += 4,
                END_NODE => {
                    pos += 4;
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        return Some(pos);
                    }
                }
                _ => return None,
            }
        }
    }
}

impl<'a> Node<'a> {
    /// The node's properties in tree order.
    fn props(self) -> impl Iterator<Item = Prop<'a>> {
        let (tree, mut pos) = (self.tree, self.body);
        core::iter::from_fn(move || loop {
            match be32(tree.st, pos)? {
                NOP => pos += 4,
                PROP => {
                    let (p, next) = tree.prop_at(pos)?;
                    pos = next;
                    return Some(p);
                }
                _ => return None,
            }
        })
    }

    /// The value of the node's first property called `name`.
    pub fn property(self, name: &str) -> Option<&'a [u8]> {
        self.props().find(|&(n, _)| n == name).map(|(_, v)| v)
    }

    /// The node's children in tree order.
    pub fn children(self) -> impl Iterator<Item = Node<'a>> {
        let mut pos = self.body;
        let tree = self.tree;
        // Past the properties (an unreadable one ends the node here).
        while let Some(token) = be32(tree.st, pos) {
            match token {
                NOP => pos += 4,
                PROP => match tree.prop_at(pos) {
                    Some((_, next)) => pos = next,
                    None => break,
                },
                _ => break,
            }
        }
        let mut next = Some(pos);
        core::iter::from_fn(move || loop {
            let pos = next?;
            match be32(tree.st, pos)? {
                NOP => next = Some(pos + 4),
                BEGIN_NODE => {
                    next = tree.skip_node(pos);
                    return tree.node_at(pos);
                }
                _ => return None,
            }
        })
    }
}

fn align4(x: usize) -> Option<usize> {
    Some(x.checked_add(3)? & !3)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::super::validate;
    use std::vec::Vec;

    /// `/ { a = "x"; n1 { p = <1>; c { }; }; n2 { }; }` through vm-fdt.
    fn tree() -> Vec<u8> {
        let mut w = vm_fdt::FdtWriter::new().unwrap();
        let root = w.begin_node("").unwrap();
        w.property_string("a", "x").unwrap();
        let n1 = w.begin_node("n1@10").unwrap();
        w.property_u32("p", 1).unwrap();
        let c = w.begin_node("c").unwrap();
        w.end_node(c).unwrap();
        w.end_node(n1).unwrap();
        let n2 = w.begin_node("n2").unwrap();
        w.end_node(n2).unwrap();
        w.end_node(root).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn names_properties_and_children_in_tree_order() {
        let dtb = tree();
        let root = validate::check(&dtb).unwrap().root().unwrap();
        assert_eq!(root.name, "/");
        assert_eq!(root.property("a"), Some(&b"x\0"[..]));
        assert_eq!(root.property("p"), None);
        let kids: Vec<_> = root.children().collect();
        assert_eq!(
            kids.iter().map(|n| n.name).collect::<Vec<_>>(),
            ["n1@10", "n2"]
        );
        assert_eq!(kids[0].property("p"), Some(&[0, 0, 0, 1][..]));
        let grand: Vec<_> = kids[0].children().map(|n| n.name).collect();
        assert_eq!(grand, ["c"]);
        assert_eq!(kids[1].children().count(), 0);
    }

    #[test]
    fn a_cut_tree_ends_the_walk_without_a_panic() {
        let dtb = tree();
        let t = validate::check(&dtb).unwrap();
        for cut in 0..t.st.len() {
            let short = super::Tree {
                st: &t.st[..cut],
                strings: t.strings,
            };
            if let Some(root) = short.root() {
                let _ = root.property("a");
                for n in root.children() {
                    let _ = n.children().count();
                }
            }
        }
    }
}
