//! T1: docs/scenario.md carries the machine contract's tables (limits and emulated
//! devices, aarch64's and x86_64's) exactly as `contract::render_markdown` and
//! `contract::x86_64::render_markdown` render them, between their
//! `<!-- contract...:begin -->` and `<!-- contract...:end -->` markers. Regenerate with
//! `RTVISOR_BLESS=1 cargo test -p rtvisor-config --test contract_docs`.

mod support;

use rtvisor_config::contract;

/// Compares (or with RTVISOR_BLESS=1 rewrites) the block between `tag`'s markers.
fn block(tag: &str, render: fn(&mut dyn std::fmt::Write) -> std::fmt::Result) {
    let begin = format!(
        "<!-- {tag}:begin (generated from crates/config/src/contract; see tests/contract_docs.rs) -->\n"
    );
    let end = format!("<!-- {tag}:end -->");
    let mut tables = String::new();
    render(&mut tables).unwrap();
    let path = support::repo().join("docs/scenario.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let (Some(b), Some(e)) = (doc.find(&begin), doc.find(&end)) else {
        panic!("docs/scenario.md has no {tag} markers");
    };
    let current = &doc[b + begin.len()..e];
    if support::bless() {
        let new = format!("{}{begin}{tables}{}", &doc[..b], &doc[e..]);
        std::fs::write(&path, new).unwrap();
        return;
    }
    assert_eq!(
        current, tables,
        "docs/scenario.md shows another {tag} than crates/config/src/contract; rerun with \
         RTVISOR_BLESS=1"
    );
}

/// One test for both blocks: blessing rewrites the one file.
#[test]
fn the_docs_show_the_contract_the_code_enforces() {
    block("contract", contract::render_markdown);
    block("contract-x86_64", contract::x86_64::render_markdown);
}
