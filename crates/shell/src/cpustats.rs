//! `cpu stats [reset]`: the interference accounting of every physical CPU
//! ([`crate::account`]): entries into the hypervisor by cause, the owning VM's causes
//! left of the bar and everyone else's right of it, and the time spent on behalf of
//! each side. Only in a hypervisor built with the accounting; otherwise it says so.

use crate::text::Line;
use crate::ShellOps;
use core::fmt::Write;
use rtvisor_core::account::Cause;
use rtvisor_core::ids::CpuId;

/// What `cpu stats` says in a hypervisor built without the accounting.
pub const NOT_BUILT: &str =
    "cpu stats: interference accounting is not built in (`[hypervisor] accounting = true`)";

pub(super) fn cpu_stats(args: &[&str], ops: &dyn ShellOps) {
    match args.first() {
        Some(&"reset") | None if !ops.accounting_built() => {
            ops.out(format_args!("{NOT_BUILT}"));
            return;
        }
        Some(&"reset") => {
            ops.reset_cpu_stats();
            ops.out(format_args!("cpu stats: every CPU counts from zero again"));
            return;
        }
        Some(other) => {
            ops.out(format_args!(
                "cpu stats: `{other}`? usage: cpu stats [reset]"
            ));
            return;
        }
        None => {}
    }
    let mut head = Line::new();
    let _ = write!(head, "{:<4} {:<12}", "cpu", "runs");
    for c in Cause::ALL {
        if c == Cause::Kick {
            let _ = write!(head, " |");
        }
        let _ = write!(head, " {:>6}", c.name());
    }
    let _ = write!(head, " {:>12} {:>12}", "own-ns", "other-ns");
    ops.out(format_args!("{}", head.as_str()));
    for cpu in (0..ops.cpu_count()).map(CpuId::new) {
        let a = ops.cpu_account(cpu);
        let mut l = Line::new();
        let _ = write!(l, "{cpu:<4} {:<12}", crate::view::runs(cpu, ops));
        for c in Cause::ALL {
            if c == Cause::Kick {
                let _ = write!(l, " |");
            }
            let _ = write!(l, " {:>6}", a.of(c));
        }
        let _ = write!(l, " {:>12} {:>12}", a.own_ns, a.other_ns);
        ops.out(format_args!("{}", l.as_str()));
    }
    ops.out(format_args!(
        "(entries from the guest since boot or `cpu stats reset`; own = the VM the CPU runs)"
    ));
}
