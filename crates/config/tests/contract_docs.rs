//! T1: docs/scenario.md carries the machine contract's tables (limits and emulated
//! devices) exactly as `contract::render_markdown` renders them, between the
//! `<!-- contract:begin -->` and `<!-- contract:end -->` markers. Regenerate with
//! `RTVISOR_BLESS=1 cargo test -p rtvisor-config --test contract_docs`.

mod support;

use rtvisor_config::contract;

const BEGIN: &str = "<!-- contract:begin (generated from crates/config/src/contract; see tests/contract_docs.rs) -->\n";
const END: &str = "<!-- contract:end -->";

#[test]
fn the_docs_show_the_contract_the_code_enforces() {
    let mut tables = String::new();
    contract::render_markdown(&mut tables).unwrap();
    let path = support::repo().join("docs/scenario.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let (Some(b), Some(e)) = (doc.find(BEGIN), doc.find(END)) else {
        panic!("docs/scenario.md has no contract markers");
    };
    let current = &doc[b + BEGIN.len()..e];
    if support::bless() {
        let new = format!("{}{BEGIN}{tables}{}", &doc[..b], &doc[e..]);
        std::fs::write(&path, new).unwrap();
        return;
    }
    assert_eq!(
        current, tables,
        "docs/scenario.md shows another contract than crates/config/src/contract; rerun \
         with RTVISOR_BLESS=1"
    );
}
