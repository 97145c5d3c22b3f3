//! Reading device-tree properties: cells, strings, compatible lists, GIC INTIDs.

use fdt::node::FdtNode;

/// GIC device-tree interrupt specifier -> INTID.
pub fn intid(kind: u32, n: u32) -> u32 {
    if kind == 1 {
        16 + n
    } else {
        32 + n
    }
}

pub fn cells(b: &[u8], per: usize) -> impl Iterator<Item = Vec<u64>> + '_ {
    let per = per.max(1);
    b.chunks_exact(4 * per).map(|c| {
        c.chunks_exact(4)
            .map(|w| u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]])))
            .collect()
    })
}

pub fn join(c: &[u64]) -> u64 {
    c.iter().fold(0u64, |acc, &w| (acc << 32) | w)
}

pub fn prop_u32(n: &FdtNode<'_, '_>, name: &str) -> Option<u32> {
    let v = n.property(name)?.value;
    (v.len() == 4).then(|| u32::from_be_bytes([v[0], v[1], v[2], v[3]]))
}

pub fn prop_str<'a>(n: &FdtNode<'_, 'a>, name: &str) -> Option<&'a str> {
    let v = n.property(name)?.value;
    std::str::from_utf8(v.strip_suffix(&[0]).unwrap_or(v)).ok()
}

pub fn compat(n: &FdtNode<'_, '_>) -> Vec<String> {
    n.property("compatible")
        .map(|p| {
            p.value
                .split(|&b| b == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// `"linux,dummy-virt"` -> `"linux-dummy-virt"`.
pub fn slug(text: &str) -> String {
    let mut s = String::new();
    for ch in text.chars() {
        if ch.is_ascii_alphanumeric() {
            s.push(ch.to_ascii_lowercase());
        } else if !s.ends_with('-') && !s.is_empty() {
            s.push('-');
        }
    }
    let s = s.trim_end_matches('-').to_owned();
    if s.is_empty() {
        "board".to_owned()
    } else {
        s
    }
}
