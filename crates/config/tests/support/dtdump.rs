//! A flattened-device-tree to text dumper (dts-like), so goldens are reviewable.

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

fn cstr(b: &[u8], at: usize) -> &str {
    let end = b[at..].iter().position(|&c| c == 0).unwrap() + at;
    std::str::from_utf8(&b[at..end]).unwrap()
}

fn value(v: &[u8]) -> String {
    if v.is_empty() {
        return String::new();
    }
    let printable = v.last() == Some(&0)
        && v[..v.len() - 1]
            .split(|&c| c == 0)
            .all(|s| !s.is_empty() && s.iter().all(|&c| (0x20..0x7f).contains(&c)));
    if printable {
        let parts: Vec<String> = v[..v.len() - 1]
            .split(|&c| c == 0)
            .map(|s| format!("\"{}\"", std::str::from_utf8(s).unwrap()))
            .collect();
        return format!(" = {}", parts.join(", "));
    }
    if v.len().is_multiple_of(4) {
        let cells: Vec<String> = v.chunks(4).map(|c| format!("{:#x}", be32(c, 0))).collect();
        return format!(" = <{}>", cells.join(" "));
    }
    let bytes: Vec<String> = v.iter().map(|b| format!("{b:02x}")).collect();
    format!(" = [{}]", bytes.join(" "))
}

/// Renders `dtb` as text; panics on a malformed blob (that is a test failure).
pub fn dump(dtb: &[u8]) -> String {
    assert_eq!(be32(dtb, 0), 0xd00d_feed, "bad FDT magic");
    assert_eq!(be32(dtb, 4) as usize, dtb.len(), "totalsize");
    let (structs, strings) = (be32(dtb, 8) as usize, be32(dtb, 12) as usize);
    let mut out = format!("/dts-v{}/; // {} bytes\n", be32(dtb, 20), dtb.len());
    let mut at = structs;
    let mut depth = 0usize;
    loop {
        let token = be32(dtb, at);
        at += 4;
        match token {
            1 => {
                let name = cstr(dtb, at);
                at = (at + name.len() + 1 + 3) & !3;
                let shown = if name.is_empty() { "/" } else { name };
                out += &format!("{}{shown} {{\n", "\t".repeat(depth));
                depth += 1;
            }
            2 => {
                depth -= 1;
                out += &format!("{}}};\n", "\t".repeat(depth));
            }
            3 => {
                let len = be32(dtb, at) as usize;
                let name = cstr(dtb, strings + be32(dtb, at + 4) as usize);
                let v = &dtb[at + 8..at + 8 + len];
                at = (at + 8 + len + 3) & !3;
                out += &format!("{}{name}{};\n", "\t".repeat(depth), value(v));
            }
            4 => {}
            9 => break,
            t => panic!("bad FDT token {t:#x}"),
        }
    }
    assert_eq!(depth, 0, "unbalanced nodes");
    out
}
