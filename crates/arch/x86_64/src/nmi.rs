//! NMIs as the hypervisor's kick on the cores of direct-mode VMs. Such a core's
//! fixed interrupts belong to its guest (they do not exit it), so another CPU that
//! wants it back sends an NMI, which no guest can mask: it exits the guest (VMX NMI
//! exiting; the SVM NMI intercept, the NMI itself then taken by the host after STGI)
//! or, in the hypervisor, lands here. On a CPU marked with [`take_as_kicks`] an NMI
//! is a kick ([`crate::irq::PENDING_KICK`]); anywhere else, or while the machine is
//! halting, it goes on to the exception stub (`crate::idt`: the halt request or a
//! fatal NMI), as before. An NMI a direct-mode guest raised on its own core (an LVT
//! entry with NMI delivery) is a kick too: a spurious exit, nothing more.

use crate::acpi::madt::MAX_CPUS;
use core::arch::global_asm;
use core::sync::atomic::{AtomicBool, Ordering};

static AS_KICKS: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];

global_asm!(
    r#"
.text
.global x86_nmi
x86_nmi:
"#,
    push_scratch!(),
    r#"
    cld
    call x86_nmi_kick
"#,
    pop_scratch_but_rax!(),
    r#"
    test %al, %al
    pop %rax
    jz 1f
    iretq
1:
    jmp *(x86_isr_table + 16)(%rip)
"#,
    options(att_syntax)
);

unsafe extern "C" {
    fn x86_nmi();
}

/// Whether the NMI that just arrived is a kick (then it is recorded as one).
#[unsafe(no_mangle)]
extern "C" fn x86_nmi_kick() -> bool {
    if crate::idt::halting() {
        return false;
    }
    let Some(i) = crate::smp::index_of(crate::apic::id()) else {
        return false;
    };
    if !AS_KICKS.get(i).is_some_and(|k| k.load(Ordering::Acquire)) {
        return false;
    }
    crate::irq::pend(i, crate::irq::PENDING_KICK);
    true
}

/// Installs the NMI gate (BSP, before the APs start; `irq::init`).
pub(crate) fn init() {
    // SAFETY: the BSP before any AP runs; the stub returns with IRETQ or continues at
    // the NMI's exception stub with the CPU's frame untouched.
    unsafe { crate::idt::set_nmi_gate(x86_nmi as unsafe extern "C" fn() as usize as u64) };
}

/// From now on NMIs on CPU `index` are kicks (`on`), or fatal again.
pub fn take_as_kicks(index: usize, on: bool) {
    if let Some(k) = AS_KICKS.get(index) {
        k.store(on, Ordering::Release);
    }
}

/// Kicks the CPU with APIC id `apic_id` by an NMI.
pub fn kick(apic_id: u32) -> bool {
    crate::apic::send_nmi(apic_id)
}
