//! The x86 VM tests: `vm=hello` runs the smoke image's built-in 32-bit guest in a VM
//! on the boot CPU (crates/arch/x86_64/src/hello), on either vendor's engine. Every
//! line the guest and the hypervisor print about it is checked, in order.

use super::cases::line;
use super::machine::{Emulator, CPUS};
use crate::console::{Console, Pattern};
use crate::systest::Timeouts;
use anyhow::Result;

/// The lines of one hello run, in order (the contract with src/hello).
pub fn hello_lines(emu: Emulator) -> Vec<Pattern> {
    let engine = match emu {
        Emulator::Qemu => r"svm, npt, asid 1",
        Emulator::Bochs => r"vmx, ept, vpid 1",
    };
    let vm = |s: &str| Pattern::regex(&format!(r"^\[rtvisor\] vm hello: {s}$"));
    let guest = |s: &str| Pattern::contains(format!("[guest] {s}"));
    vec![
        vm(&format!(
            r"{engine}, 2 MiB ram at hpa 0x[0-9a-f]+, entry 0x1000"
        )),
        guest("hello from the guest"),
        guest("pvh entry: 32-bit protected mode, paging off, ebx ok"),
        guest("cpuid: hypervisor bit set"),
        vm(r"hypercall 1 \(0x12345678\) answered 0xedcba987"),
        guest("hypercall answered"),
        vm(r"16 null hypercalls in \d+ ns: \d+ ns each"),
        guest("null hypercalls done"),
        vm(r"read of 0x40000000 outside ram \(4 bytes\): all-ones"),
        vm(r"write of 0x40000000 outside ram \(4 bytes\): dropped"),
        vm(r"read of unclaimed port 0x510 \(4 bytes\): all-ones"),
        guest("outside ram and unclaimed port read all-ones"),
        vm(r"hlt at rip 0x[0-9a-f]+"),
        guest("halt returned; own gdt and idt loaded"),
        vm(r"vmx/svm instruction at rip 0x[0-9a-f]+: exception 6 injected"),
        guest("vmx/svm instruction raised #UD"),
        vm(r"rdmsr of unknown msr 0xc001dead at rip 0x[0-9a-f]+: exception 13 injected"),
        guest("rdmsr of a missing msr raised #GP; triple fault next"),
        vm(r"triple fault at rip 0x[0-9a-f]+: vm stopped after \d+ exits"),
    ]
}

/// Anything of these fails a VM test at once.
const VM_FAILURES: &[&str] = &[
    "[guest] FAIL",
    "vm hello failed",
    "not decoded",
    "unhandled exit",
    "no next rip",
    "exits: vm stopped",
];

pub fn hello(con: &mut Console, t: &Timeouts, emu: Emulator) -> Result<()> {
    for f in VM_FAILURES {
        con.fail_on(Pattern::contains(*f));
    }
    con.expect(&line::all_online(CPUS), t.boot)?;
    for l in hello_lines(emu) {
        con.expect(&l, t.step)?;
    }
    super::cases::powered_off(con, t, emu)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_patterns_match_what_the_image_prints() {
        let l = hello_lines(Emulator::Qemu);
        assert!(l[0].is_match(
            "[rtvisor] vm hello: svm, npt, asid 1, 2 MiB ram at hpa 0x7fc00000, entry 0x1000"
        ));
        assert!(!l[0].is_match(
            "[rtvisor] vm hello: vmx, ept, vpid 1, 2 MiB ram at hpa 0x7fc00000, entry 0x1000"
        ));
        assert!(l[16].is_match(
            "[rtvisor] vm hello: rdmsr of unknown msr 0xc001dead at rip 0x10a2: exception 13 injected"
        ));
        assert!(l[18].is_match(
            "[rtvisor] vm hello: triple fault at rip 0x10a2: vm stopped after 216 exits"
        ));
        assert!(l[6].is_match("[rtvisor] vm hello: 16 null hypercalls in 10894 ns: 680 ns each"));
        assert!(hello_lines(Emulator::Bochs)[0].is_match(
            "[rtvisor] vm hello: vmx, ept, vpid 1, 2 MiB ram at hpa 0xfc00000, entry 0x1000"
        ));
    }
}
