//! The slow tier (`cargo xtask test --slow`): x86 system tests too slow for every CI
//! run, each on a Bochs machine of its own size and clock. Without `--slow` they are
//! listed but not run.

use super::cases::X86Test;
use super::machine::{BochsSpec, Emulator};

/// One slow test: an x86 test and the Bochs machine it needs.
pub struct SlowTest {
    pub test: X86Test,
    /// Bochs' RAM and clock (QEMU tests take the default machine).
    pub bochs: BochsSpec,
}

pub const TESTS: &[SlowTest] = &[SlowTest {
    test: X86Test {
        name: "linux-x86-intel",
        emulator: Emulator::Bochs,
        cmdline: "",
        scenario: Some(super::linux::SCENARIO),
        about: "T3, slow tier: linux-x86 on Bochs (Intel VT-x, VMX with EPT): the same ISO and checks (shell, Linux's TSC rate the hypervisor's, nproc = 2, LOC counting on both CPUs, poweroff -f leaving rt counting)",
        run: super::linux::run,
    },
    bochs: super::linux::BOCHS,
}];
