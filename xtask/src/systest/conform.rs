//! The conformance guest (guests/conform) booted bare by QEMU and as a VM, once in
//! each interrupt mode: every `conform: <name> = <value>` line must be the same in
//! the same order, but for the checks of [`ALLOWED`], whose values a VM may
//! legitimately differ in (docs/architecture.md, "Conformance").

use super::{hv, Timeouts};
use crate::console::{Console, Pattern};
use crate::qemu;
use crate::util::{out_dir, root, say};
use anyhow::Result;
use rtvisor::qemu::{Boot, ConsoleMode, QemuCommand};

/// The VM of tests/scenarios/conform-*.toml: its name, vCPUs and RAM.
const VM: &str = "conform";
const VCPUS: u32 = 2;
const VM_MIB: u64 = 64;

/// Checks whose values may differ from bare QEMU, each with the reason.
pub const ALLOWED: &[(&str, &str)] = &[
    (
        "gic.gicd.iidr",
        "implementer and revision of the GIC: the VM's is rtvisor's model (or, in direct mode, the hardware's), not QEMU's",
    ),
    (
        "gic.gicr.iidr",
        "implementer and revision of the redistributor, as for GICD_IIDR",
    ),
];

/// The `(name, value)` pairs of the lines `conform: <name> = <value>`, in order,
/// after stripping `prefix` from each line.
pub fn checks<'a>(lines: impl IntoIterator<Item = &'a str>, prefix: &str) -> Vec<(String, String)> {
    lines
        .into_iter()
        .filter_map(|l| l.strip_prefix(prefix)?.strip_prefix("conform: "))
        .filter_map(|l| l.split_once(" = "))
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// Every difference between the bare checks and the VM's, but for [`ALLOWED`]: a
/// different value, a check missing on one side, or the order changed.
pub fn differences(bare: &[(String, String)], vm: &[(String, String)]) -> Vec<String> {
    let allowed = |n: &str| ALLOWED.iter().any(|(a, _)| *a == n);
    let mut out = Vec::new();
    let len = bare.len().max(vm.len());
    for i in 0..len {
        match (bare.get(i), vm.get(i)) {
            (Some((bn, bv)), Some((vn, vv))) if bn == vn => {
                if bv != vv && !allowed(bn) {
                    out.push(format!("{bn}: bare {bv:?}, vm {vv:?}"));
                }
            }
            (Some((bn, bv)), Some((vn, vv))) => {
                out.push(format!("check {i}: bare {bn} = {bv:?}, vm {vn} = {vv:?}"));
                break;
            }
            (Some((bn, bv)), None) => out.push(format!("{bn}: bare {bv:?}, vm has no such line")),
            (None, Some((vn, vv))) => out.push(format!("{vn}: vm {vv:?}, bare has no such line")),
            (None, None) => {}
        }
    }
    out
}

/// `conform` booted bare by QEMU on a machine of the VM's size: its checks.
fn bare_checks(t: &Timeouts, test: &str) -> Result<Vec<(String, String)>> {
    let bin = root().join("target/guests/conform.bin");
    let mut q = QemuCommand::bare(VCPUS, VM_MIB, Boot::kernel(&bin));
    q.console = ConsoleMode::Captured;
    say(format!("booting conform bare: {}", q.line()));
    let mut c = Console::spawn("conform-bare", qemu::spawn_captured(&q)?);
    c.set_log_file(out_dir("systest")?.join(format!("{test}-bare.log")));
    let done = c.expect(&Pattern::regex(r"^conform: done checks=\d+$"), t.boot)?;
    let found = checks(c.log()[..done].iter().map(String::as_str), "");
    c.expect_exit(0, t.step)?;
    Ok(found)
}

/// The VM's checks (the console `c` of its scenario) against bare QEMU's.
fn against_bare(c: &mut Console, t: &Timeouts, test: &str) -> Result<()> {
    let done = c.expect(
        &Pattern::regex(&format!(r"^\[{VM}\] conform: done checks=\d+$")),
        t.boot,
    )?;
    let prefix = format!("[{VM}] ");
    let ours = checks(c.log()[..done].iter().map(String::as_str), &prefix);
    c.expect(&hv::stopped(VM), t.step)?;
    let bare = bare_checks(t, test)?;
    let diffs = differences(&bare, &ours);
    if diffs.is_empty() {
        say(format!("{test}: {} checks the same as bare QEMU", ours.len()));
        return Ok(());
    }
    Err(c.fail(
        &format!("the {} checks of bare QEMU", bare.len()),
        &format!("{} differ:\n  {}", diffs.len(), diffs.join("\n  ")),
    ))
}

/// The VM in virtual interrupt mode (the vGIC).
pub fn virtual_mode(c: &mut Console, t: &Timeouts) -> Result<()> {
    against_bare(c, t, "conform-virtual")
}

/// The VM in direct interrupt mode (the physical GIC, filtered).
pub fn direct_mode(c: &mut Console, t: &Timeouts) -> Result<()> {
    against_bare(c, t, "conform-direct")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn lines_are_read_with_and_without_the_vm_prefix() {
        let log = [
            "[conform] conform: el = 1",
            "[rtvisor] vm conform: started",
            "[conform] conform: debug.step = ec=0x33 elr=expected ran=2",
            "[conform] conform: done checks=2",
        ];
        assert_eq!(
            checks(log, "[conform] "),
            pairs(&[("el", "1"), ("debug.step", "ec=0x33 elr=expected ran=2")])
        );
        assert_eq!(checks(["conform: el = 1", "other"], ""), pairs(&[("el", "1")]));
    }

    #[test]
    fn only_allowed_checks_may_differ() {
        let bare = pairs(&[("el", "1"), ("gic.gicd.iidr", "0x43b"), ("vtimer.irq", "27")]);
        let same_but_iidr = pairs(&[("el", "1"), ("gic.gicd.iidr", "0x1"), ("vtimer.irq", "27")]);
        assert!(differences(&bare, &same_but_iidr).is_empty());
        let wrong = pairs(&[("el", "1"), ("gic.gicd.iidr", "0x43b"), ("vtimer.irq", "0")]);
        assert_eq!(differences(&bare, &wrong), ["vtimer.irq: bare \"27\", vm \"0\""]);
        let short = pairs(&[("el", "1"), ("gic.gicd.iidr", "0x43b")]);
        assert_eq!(differences(&bare, &short).len(), 1);
        let reordered = pairs(&[("el", "1"), ("vtimer.irq", "27"), ("gic.gicd.iidr", "0x43b")]);
        assert_eq!(differences(&bare, &reordered).len(), 1);
        for (name, why) in ALLOWED {
            assert!(!why.is_empty(), "{name} needs a reason");
        }
    }
}
