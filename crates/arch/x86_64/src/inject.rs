//! Injecting the emulated x2APIC's interrupts, as plain code over each vendor's
//! fields (tested on the host); the engines read and write the fields.
//!
//! An external interrupt is injected at the next entry when the guest can take it:
//! RFLAGS.IF set, no interrupt shadow (STI, MOV SS), no event already queued for the
//! entry (an exception the hypervisor injects, or an event whose delivery an exit
//! interrupted). Otherwise the engine asks for an exit at the interrupt window (VMX:
//! interrupt-window exiting; SVM: a virtual interrupt, V_IRQ, with the VINTR
//! intercept) and injects then. An event whose delivery an exit cut short is queued
//! again for the next entry ([`svm_reinject`], [`vmx_reinject`]); software
//! interrupts and exceptions are not (the guest executes their instruction again).

/// RFLAGS.IF.
pub const RFLAGS_IF: u64 = 1 << 9;

/// What decides whether an interrupt can be injected now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Interruptible {
    /// RFLAGS.IF.
    pub if_set: bool,
    /// Blocking by STI or MOV SS.
    pub shadow: bool,
    /// An event is already queued for the next entry.
    pub queued: bool,
}

/// What the engine does before the next entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Inject the pending vector now.
    Inject,
    /// Ask for an exit as soon as the guest can take it.
    Window,
    /// Nothing pending: no injection, no window.
    Idle,
}

/// The decision for a vCPU with (`pending`) or without an interrupt to take.
pub const fn decide(pending: bool, s: Interruptible) -> Delivery {
    if !pending {
        Delivery::Idle
    } else if s.if_set && !s.shadow && !s.queued {
        Delivery::Inject
    } else {
        Delivery::Window
    }
}

/// The event fields' valid bit (EVENTINJ, EXITINTINFO, the VMCS interruption
/// information fields).
pub const EVENT_VALID: u64 = 1 << 31;
const TYPE_SHIFT: u32 = 8;
const TYPE_MASK: u64 = 7 << TYPE_SHIFT;
/// Event types: external interrupt, hardware exception (both vendors: 0 and 3).
const TYPE_EXTERNAL: u64 = 0;
const TYPE_EXCEPTION: u64 = 3;

/// SVM: the guest's state from the save area's RFLAGS, the interrupt shadow word
/// and EVENTINJ.
pub const fn svm_state(rflags: u64, int_shadow: u64, event_inj: u64) -> Interruptible {
    Interruptible {
        if_set: rflags & RFLAGS_IF != 0,
        shadow: int_shadow & 1 != 0,
        queued: event_inj & EVENT_VALID != 0,
    }
}

/// VMX: the guest's state from GUEST_RFLAGS, the interruptibility state and the
/// VM-entry interruption information.
pub const fn vmx_state(rflags: u64, interruptibility: u64, entry_info: u64) -> Interruptible {
    Interruptible {
        if_set: rflags & RFLAGS_IF != 0,
        // Blocking by STI (bit 0) or by MOV SS (bit 1).
        shadow: interruptibility & 3 != 0,
        queued: entry_info & EVENT_VALID != 0,
    }
}

/// HLT's opcode (one byte, no operand).
pub const HLT: u8 = 0xF4;

/// How far RIP moves before an interrupt pending for a guest in state `s` at
/// privilege level `cpl` is injected, when `code` is what the guest runs next: past a
/// HLT that a shadow covers (STI;HLT stopped between the two: the HLT completes and the
/// interrupt wakes it), else not at all (0). With IF clear, an event queued or outside
/// ring 0 (where HLT faults; virtual-8086 mode is ring 3) the HLT runs in the guest.
pub fn halt_first(s: Interruptible, cpl: u8, code: &[u8]) -> u64 {
    if s.shadow && s.if_set && !s.queued && cpl == 0 && code.first() == Some(&HLT) {
        1
    } else {
        0
    }
}

/// EVENTINJ or the VM-entry interruption information of external interrupt
/// `vector` (the same layout on both vendors).
pub const fn external(vector: u8) -> u64 {
    EVENT_VALID | TYPE_EXTERNAL << TYPE_SHIFT | vector as u64
}

/// Whether an interrupted event of this type is queued again.
const fn redelivered(info: u64) -> bool {
    info & EVENT_VALID != 0
        && matches!(
            (info & TYPE_MASK) >> TYPE_SHIFT,
            TYPE_EXTERNAL | TYPE_EXCEPTION
        )
}

/// SVM: EVENTINJ for the next entry from EXITINTINFO (same layout, error code in
/// bits 63:32), if its event is redelivered.
pub const fn svm_reinject(exit_int_info: u64) -> Option<u64> {
    if redelivered(exit_int_info) {
        Some(exit_int_info)
    } else {
        None
    }
}

/// VMX: the VM-entry interruption information (and exception error code, when bit
/// 11 says it is delivered) from the IDT-vectoring information, if its event is
/// redelivered. Reserved bits 30:12 are cleared, as the entry checks want.
pub const fn vmx_reinject(vectoring: u64, error: u64) -> Option<(u64, Option<u64>)> {
    if !redelivered(vectoring) {
        return None;
    }
    let info = vectoring & (EVENT_VALID | 0xFFF);
    let code = if info & (1 << 11) != 0 {
        Some(error)
    } else {
        None
    };
    Some((info, code))
}

#[cfg(test)]
mod tests;
