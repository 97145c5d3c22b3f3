//! T0: what a VM's machine looks like beyond its memory map: the virtual counter's
//! offset.

mod support;

use rtvisor_config::tables::CounterOffset;
use support::{rules_tree, scenario, vm, Tree};

fn plan(t: &Tree, s: &str) -> rtvisor_config::Plan {
    let path = t.write("s.toml", s);
    match rtvisor_config::check(&path) {
        Ok(p) => p,
        Err(d) => panic!("unexpected errors: {:#?}", d.0),
    }
}

#[test]
fn the_virtual_counter_offset_is_zero_unless_asked() {
    let t = rules_tree();
    let mem = "{ size = \"16MiB\" }";
    let s = scenario(&[
        vm("a", "general", "[1]", mem, ""),
        vm(
            "b",
            "general",
            "[2]",
            mem,
            "counter-offset = \"vm-start\"\n",
        ),
    ]);
    let p = plan(&t, &s);
    assert_eq!(p.vms[0].counter_offset, CounterOffset::Zero);
    assert_eq!(p.vms[1].counter_offset, CounterOffset::VmStart);
    let map = p.map();
    assert_eq!(
        map.matches("counter  virtual = physical - the count at each VM start")
            .count(),
        1,
        "{map}"
    );
}
