//! The VM's I/O APIC at 0xFEC0_0000 (the MADT's; the hypervisor's machine contract
//! puts it there): routing a device line (a GSI, one pin) to a vector at one CPU.
//! Its registers are reached through the index and window registers, one access of
//! 32 bits each.

const IOAPIC: usize = 0xfec0_0000;
const IOREGSEL: usize = IOAPIC;
const IOWIN: usize = IOAPIC + 0x10;
/// Redirection entry of pin n: low half at 0x10 + 2n, high half after it.
const REDIR0: u32 = 0x10;
/// Entry bits: masked.
const MASKED: u32 = 1 << 16;

fn put(index: u32, v: u32) {
    // SAFETY: the I/O APIC's window registers, in the identity-mapped first 4 GiB;
    // these two writes have no effect on memory. The caller's CPU runs with
    // interrupts masked or owns the entry it programs, so the pair is not split by
    // another access of this CPU.
    unsafe {
        (IOREGSEL as *mut u32).write_volatile(index);
        (IOWIN as *mut u32).write_volatile(v);
    }
}

/// Routes pin `pin` to `vector` at APIC id `dest`: fixed, physical destination,
/// edge-triggered, active high, unmasked (the high half first, so the entry is
/// never live with a stale destination).
pub fn route(pin: u32, vector: u8, dest: u32) {
    let entry = REDIR0 + 2 * pin;
    put(entry, MASKED | u32::from(vector));
    put(entry + 1, dest << 24);
    put(entry, u32::from(vector));
}
