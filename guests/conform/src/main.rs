//! conform: a guest that prints what it observes of the machine QEMU `virt` promises,
//! one value per line, so that the lines of a bare run and of a VM can be compared.
//!
//! Written from the Arm Architecture Reference Manual (generic timer, self-hosted
//! debug, PMU), the GICv3 architecture specification and PSCI (DEN0022), for a
//! 2-vCPU machine with the PL011 at 0x0900_0000. Every check prints
//!
//! ```text
//! conform: <name> = <value>
//! ```
//!
//! with a value, not a verdict (a register, an exception class, a return code), and
//! the run ends with `conform: done checks=<n>`, then PSCI SYSTEM_OFF; with the
//! bootarg `then=reset` it leaves a breakpoint, a watchpoint, debug exceptions, the OS
//! lock open and the PMU counting, and calls SYSTEM_RESET instead, so that the next run
//! shows whether a restart puts them back in their reset state. The checks, in
//! order (each group in its own module):
//! - `dt.*`: the device tree a virt guest relies on (memory, cpus, psci, timer
//!   interrupts, GIC registers, the UART);
//! - `debug.*`: the debug unit advertised, its state at start, and one breakpoint, one
//!   watchpoint and two software steps actually taken (one over a trapped SGI write);
//! - `pmu.*`: PMCR_EL0 and its N, the cycle counter counting, an event counter;
//! - `vtimer.*`, `ptimer.*`: the EL1 virtual and physical timers (CVAL/TVAL, ISTATUS,
//!   IMASK, the interrupt pending in the GIC while disabled there, then taken);
//! - `gic.*`: distributor and redistributor identification, WAKER, enable, pending
//!   and active set/clear for an SGI, a PPI and an SPI, priority bits, IROUTER;
//! - `psci.*`: every function's FEATURES, CPU_ON and its errors, AFFINITY_INFO,
//!   MIGRATE_INFO_TYPE, an unknown function.
//!
//! A register access that faults prints `fault ec=<class>` instead of a value.
#![no_std]
#![no_main]

mod debug;
mod dt;
mod gic;
mod pmu;
mod psci;
mod timers;

use core::fmt;
use core::sync::atomic::{AtomicU32, Ordering};

use guest_common::{cpu, irq, power, println, BootInfo};

guest_common::entry!(main);

/// Checks printed so far.
static CHECKS: AtomicU32 = AtomicU32::new(0);

/// Prints one check line: `conform: <name> = <value>`.
pub fn check(name: &str, value: fmt::Arguments<'_>) {
    CHECKS.fetch_add(1, Ordering::Relaxed);
    println!("conform: {} = {}", name, value);
}

/// `check` with format arguments.
#[macro_export]
macro_rules! check {
    ($name:expr, $($arg:tt)*) => {
        $crate::check($name, format_args!($($arg)*))
    };
}

/// Reads a system register by name.
#[macro_export]
macro_rules! mrs {
    ($reg:literal) => {{
        let v: u64;
        // SAFETY: reading a system register has no memory effects.
        unsafe {
            core::arch::asm!(concat!("mrs {}, ", $reg), out(reg) v,
                options(nomem, nostack, preserves_flags))
        };
        v
    }};
}

/// Writes a system register by name, then ISB.
#[macro_export]
macro_rules! msr {
    ($reg:literal, $v:expr) => {{
        let v: u64 = $v;
        // SAFETY: the caller writes a register of its own vCPU (timer, debug, PMU)
        // whose effects it handles; no memory is involved.
        unsafe {
            core::arch::asm!(concat!("msr ", $reg, ", {}"), "isb", in(reg) v,
                options(nomem, nostack, preserves_flags))
        };
    }};
}

/// A value or the class of the exception its access took.
pub struct Shown(pub Result<u64, guest_common::exception::Fault>);

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Ok(v) => write!(f, "{v:#x}"),
            Err(e) => write!(f, "fault ec={:#x}", e.ec()),
        }
    }
}

fn main(boot: &BootInfo) -> ! {
    check!("el", "{}", cpu::current_el());
    if let Err(e) = irq::init_global(boot).and_then(|()| irq::init_cpu(&[])) {
        check!("gic.init", "{}", e.name());
        power::system_off();
    }
    gic::configure(boot);
    dt::run(boot);
    debug::run();
    pmu::run();
    timers::run();
    gic::run();
    psci::run(boot);
    println!("conform: done checks={}", CHECKS.load(Ordering::Relaxed));
    if boot.args().get("then") == Some("reset") {
        // What the next run finds at start must not be what this one left.
        debug::leave_armed();
        pmu::leave_counting();
        power::system_reset()
    }
    power::system_off()
}
