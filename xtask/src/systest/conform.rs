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

/// The interrupt modes an allowance holds in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modes {
    Both,
    Virtual,
    Direct,
}

/// A check whose value may differ from bare QEMU's, and why.
pub struct Allowed {
    pub check: &'static str,
    pub modes: Modes,
    pub why: &'static str,
}

/// The checks a VM may legitimately differ in (the same list, with the same reasons,
/// is in docs/architecture.md, "Conformance").
pub const ALLOWED: &[Allowed] = &[
    Allowed {
        check: "gic.gicd.iidr",
        modes: Modes::Both,
        why: "the GIC's implementer and revision: the VM's distributor is rtvisor's",
    },
    Allowed {
        check: "gic.gicr.iidr",
        modes: Modes::Virtual,
        why: "the redistributor's implementer and revision, as for GICD_IIDR",
    },
    Allowed {
        check: "gic.gicd.typer.itlines",
        modes: Modes::Virtual,
        why: "the vGIC has SPIs 32-127 (the VM's devices), QEMU's GIC 32-287",
    },
    Allowed {
        check: "gic.gicd.typer.lpis",
        modes: Modes::Both,
        why: "a VM has no ITS and no LPIs",
    },
    Allowed {
        check: "gic.gicr.lpis",
        modes: Modes::Both,
        why: "a VM has no ITS and no LPIs",
    },
    Allowed {
        check: "gic.gicd.typer.other",
        modes: Modes::Virtual,
        why: "the vGIC's routing: Aff3 always 0 (A3V = 0), 1-of-N routing to vCPU 0 (No1N = 0)",
    },
    Allowed {
        check: "dt.psci.compatible",
        modes: Modes::Both,
        why: "the VM's tree names the PSCI bindings it implements (1.0, 0.2), not the 0.1 binding `arm,psci`, whose function ids QEMU gives in properties",
    },
    Allowed {
        check: "psci.affinity-info.level1",
        modes: Modes::Both,
        why: "PSCI 1.0 makes affinity levels above 0 optional: QEMU answers them, rtvisor returns INVALID_PARAMETERS",
    },
    Allowed {
        check: "dt.cpu0",
        modes: Modes::Direct,
        why: "in direct mode a vCPU is its physical core: its MPIDR is the core's",
    },
    Allowed {
        check: "dt.cpu",
        modes: Modes::Direct,
        why: "as dt.cpu0",
    },
    Allowed {
        check: "gic.gicr.typer.processor",
        modes: Modes::Direct,
        why: "in direct mode the redistributor is the physical core's",
    },
    Allowed {
        check: "gic.gicr.typer-affinity",
        modes: Modes::Direct,
        why: "in direct mode the redistributor is the physical core's",
    },
    Allowed {
        check: "gic.sgi.priority-bits",
        modes: Modes::Direct,
        why: "in direct mode priorities go through the Non-secure view of the physical GIC, which has one bit fewer (the hypervisor's interrupts keep the upper half)",
    },
    Allowed {
        check: "gic.ppi.priority-bits",
        modes: Modes::Direct,
        why: "as gic.sgi.priority-bits",
    },
    Allowed {
        check: "gic.spi.priority-bits",
        modes: Modes::Direct,
        why: "as gic.sgi.priority-bits",
    },
    Allowed {
        check: "gic.spi.icfgr",
        modes: Modes::Direct,
        why: "in direct mode the hypervisor sets a passed-through SPI's trigger from the board (edge for virtio-mmio)",
    },
    Allowed {
        check: "gic.spi.irouter-own",
        modes: Modes::Direct,
        why: "the guest routes the SPI to its own MPIDR, which in direct mode is its physical core's",
    },
    Allowed {
        check: "gic.spi.irouter-any",
        modes: Modes::Direct,
        why: "direct mode routes a VM's SPIs to its own cores only: IRM (any CPU) is refused and the route stays",
    },
];

/// Why `check` may differ in this mode, if it may.
fn allowed(check: &str, direct: bool) -> Option<&'static str> {
    ALLOWED
        .iter()
        .find(|a| {
            a.check == check
                && match a.modes {
                    Modes::Both => true,
                    Modes::Virtual => !direct,
                    Modes::Direct => direct,
                }
        })
        .map(|a| a.why)
}

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
pub fn differences(
    bare: &[(String, String)],
    vm: &[(String, String)],
    direct: bool,
) -> Vec<String> {
    let mut out = Vec::new();
    let len = bare.len().max(vm.len());
    for i in 0..len {
        match (bare.get(i), vm.get(i)) {
            (Some((bn, bv)), Some((vn, vv))) if bn == vn => {
                if bv != vv && allowed(bn, direct).is_none() {
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

/// The VM's checks (the console `c` of its scenario) against bare QEMU's: those of
/// its second run, after the first left its debug unit armed and its PMU counting
/// and restarted the VM (bootarg `then=reset`), so the restart's reset is checked too.
fn against_bare(c: &mut Console, t: &Timeouts, test: &str, direct: bool) -> Result<()> {
    let done = Pattern::regex(&format!(r"^\[{VM}\] conform: done checks=\d+$"));
    c.expect(&done, t.boot)?;
    let restart = c.expect(&hv::restarting(VM), t.step)?;
    let second = c.expect(&done, t.boot)?;
    let prefix = format!("[{VM}] ");
    let ours = checks(c.log()[restart..second].iter().map(String::as_str), &prefix);
    let bare = bare_checks(t, test)?;
    for ((n, bv), (_, vv)) in bare.iter().zip(&ours) {
        if let Some(why) = allowed(n, direct).filter(|_| bv != vv) {
            say(format!("{test}: {n}: bare {bv}, vm {vv}: allowed ({why})"));
        }
    }
    let diffs = differences(&bare, &ours, direct);
    if diffs.is_empty() {
        say(format!(
            "{test}: {} checks after a restart the same as bare QEMU",
            ours.len()
        ));
        return Ok(());
    }
    Err(c.fail(
        &format!("the {} checks of bare QEMU", bare.len()),
        &format!("{} differ:\n  {}", diffs.len(), diffs.join("\n  ")),
    ))
}

/// The VM in virtual interrupt mode (the vGIC).
pub fn virtual_mode(c: &mut Console, t: &Timeouts) -> Result<()> {
    against_bare(c, t, "conform-virtual", false)
}

/// The VM in direct interrupt mode (the physical GIC, filtered).
pub fn direct_mode(c: &mut Console, t: &Timeouts) -> Result<()> {
    against_bare(c, t, "conform-direct", true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
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
        assert_eq!(
            checks(["conform: el = 1", "other"], ""),
            pairs(&[("el", "1")])
        );
    }

    #[test]
    fn only_allowed_checks_may_differ() {
        let bare = pairs(&[
            ("el", "1"),
            ("gic.gicd.iidr", "0x43b"),
            ("vtimer.irq", "27"),
        ]);
        let same_but_iidr = pairs(&[("el", "1"), ("gic.gicd.iidr", "0x1"), ("vtimer.irq", "27")]);
        assert!(differences(&bare, &same_but_iidr, false).is_empty());
        let wrong = pairs(&[("el", "1"), ("gic.gicd.iidr", "0x43b"), ("vtimer.irq", "0")]);
        assert_eq!(
            differences(&bare, &wrong, false),
            ["vtimer.irq: bare \"27\", vm \"0\""]
        );
        let short = pairs(&[("el", "1"), ("gic.gicd.iidr", "0x43b")]);
        assert_eq!(differences(&bare, &short, false).len(), 1);
        let reordered = pairs(&[
            ("el", "1"),
            ("vtimer.irq", "27"),
            ("gic.gicd.iidr", "0x43b"),
        ]);
        assert_eq!(differences(&bare, &reordered, false).len(), 1);
        // A direct-mode allowance does not hold in virtual mode.
        let bare = pairs(&[("dt.cpu0", "reg=<0x0> enable-method=psci")]);
        let moved = pairs(&[("dt.cpu0", "reg=<0x1> enable-method=psci")]);
        assert!(differences(&bare, &moved, true).is_empty());
        assert_eq!(differences(&bare, &moved, false).len(), 1);
        for a in ALLOWED {
            assert!(!a.why.is_empty(), "{} needs a reason", a.check);
        }
    }
}
