//! Which cores a direct-mode VM's interrupt message reaches (`interrupt-mode =
//! "direct"`, LAPIC pass-through): plain code, tested on the host, that the
//! hypervisor asks before it sends anything on the hardware.
//!
//! Two kinds of message come here: a guest's ICR write (the only APIC register the
//! hypervisor keeps), and a message of the VM's emulated I/O APIC (COM1, doorbells),
//! which the VM's cores take as a physical fixed IPI, as their own APIC's.
//!
//! The rules, one table of cases in the tests:
//! - only fixed and lowest-priority messages are sent, with a vector of 16 or more
//!   (0-15 are exceptions; the APIC refuses them); NMI, SMI, INIT, start-up, ExtINT
//!   and the reserved modes are dropped here (INIT and start-up IPIs the hypervisor
//!   turns into CPU calls before it asks);
//! - a shorthand is read inside the VM: self, all of the VM's cores, or all of them
//!   but the sender (a message with no sender, the I/O APIC's, has no self);
//! - with no shorthand, a physical destination reaches the core whose APIC id it is,
//!   if that core is one of the VM's; the broadcast id (0xFF for an xAPIC and for
//!   the I/O APIC's 8 bits, 0xFFFF_FFFF for an x2APIC) reaches every core of the VM;
//!   a logical destination is dropped (the LDRs are the hardware's, not the VM's);
//! - a lowest-priority message reaches one core, the first of its targets (the other
//!   cores' priorities are not visible from here).
//!
//! Whatever a guest writes, the result names only indices into the VM's own list of
//! APIC ids: nothing else can be reached.

/// Delivery modes (ICR and redirection entry bits 10:8).
const FIXED: u32 = 0;
const LOWEST: u32 = 1;
/// Destination mode: logical.
const LOGICAL: u32 = 1 << 11;

/// A message's destination field, by its width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dest {
    /// An x2APIC ICR's 32-bit destination (broadcast: 0xFFFF_FFFF).
    X2Apic(u32),
    /// An xAPIC ICR's or an I/O APIC entry's 8-bit destination (broadcast: 0xFF).
    Short(u8),
}

/// What to send: `vector` to each vCPU whose bit is set in `targets` (bit n: vCPU
/// n, an index into the APIC ids the caller gave).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sends {
    pub vector: u8,
    pub targets: u64,
}

impl Sends {
    /// The targeted vCPU indices, lowest first: one step per target (the IPI path
    /// runs this on every ICR write; a scan of all 64 bits cost about 250
    /// instructions there).
    pub fn indices(self) -> impl Iterator<Item = usize> {
        let mut left = self.targets;
        core::iter::from_fn(move || {
            let i = left.trailing_zeros();
            left &= left.wrapping_sub(1);
            (i < 64).then_some(i as usize)
        })
    }
}

/// The ICR low word (or an I/O APIC entry's low half) `low` to `dest`, from vCPU
/// `me` (`None`: the I/O APIC), in a VM whose vCPU n has APIC id `ids[n]` (at most
/// 64 are looked at): what is sent, or `None` when nothing is.
///
/// Inlined into its callers: on the ICR path the sender and the destination's kind
/// are known there, and the call alone cost the round trip about 50 instructions a
/// side (VT-x pass-through IPI 630 -> 535 ticks).
#[inline]
pub fn route(low: u32, dest: Dest, me: Option<usize>, ids: &[u32]) -> Option<Sends> {
    let vector = low & 0xff;
    let mode = low >> 8 & 7;
    // Vectors below 32 are the exceptions': below 16 the APIC refuses them, and 16
    // to 31 at a core the hypervisor holds would reach its exception gates.
    if !(mode == FIXED || mode == LOWEST) || vector < 32 {
        return None;
    }
    let n = ids.len().min(64);
    let all = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
    let own = me.filter(|&m| m < n).map_or(0, |m| 1u64 << m);
    let mut targets = match low >> 18 & 3 {
        1 => own,
        2 => all,
        3 => all & !own,
        _ if low & LOGICAL != 0 => 0,
        _ => match dest {
            Dest::X2Apic(u32::MAX) | Dest::Short(0xff) => all,
            Dest::X2Apic(id) => of_id(ids, n, id),
            Dest::Short(id) => of_id(ids, n, u32::from(id)),
        },
    };
    if mode == LOWEST {
        // The first of them.
        targets &= targets.wrapping_neg();
    }
    (targets != 0).then_some(Sends {
        vector: vector as u8,
        targets,
    })
}

/// The bit of the vCPU (among the first `n`) whose APIC id is `id`.
fn of_id(ids: &[u32], n: usize, id: u32) -> u64 {
    ids.iter()
        .take(n)
        .position(|&x| x == id)
        .map_or(0, |i| 1u64 << i)
}

pub mod vdeadline;

#[cfg(test)]
mod tests;
