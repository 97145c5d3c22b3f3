//! The VM's own interrupt path, which the other cases must not have broken: its I/O
//! APIC at 0xFEC0_0000 answers (the version register), and COM1's
//! transmitter-empty interrupt, routed by redirection entry 4 (ISA IRQ 4: edge,
//! active high, fixed, physical destination this vCPU), arrives here as the vector
//! programmed, once (other vectors an earlier case left pending are counted, not
//! judged). Contained when it does; a lost or wrong interrupt is reported
//! as a LEAK (the VM's interrupts went somewhere else). Afterwards the entry is
//! masked and COM1's interrupts are off again (the console polls).

use core::sync::atomic::{AtomicU32, Ordering};

use guest_common::arch::cpu::{apic_id, inb, outb};
use guest_common::irq::{self, Stamp};
use guest_common::timer;

use super::mmio::{load32, store32};
use super::How;
use crate::report::{contained, leak, Outcome};

const CASE: &str = "ioapic-com1";
const IOAPIC: usize = 0xfec0_0000;
const IOREGSEL: usize = IOAPIC;
const IOWIN: usize = IOAPIC + 0x10;
const VERSION: u32 = 0x01;
/// Redirection entry of ISA IRQ 4 (COM1), low half; the high half follows.
const COM1_ENTRY: u32 = 0x10 + 2 * 4;
const MASKED: u32 = 1 << 16;
const VECTOR: u32 = 0x64;
const COM1: u16 = 0x3f8;
const IER: u16 = COM1 + 1;
const IIR: u16 = COM1 + 2;
const MCR: u16 = COM1 + 4;
/// IER: transmitter holding register empty.
const IER_THRE: u8 = 1 << 1;
/// MCR: DTR, RTS and OUT2 (which gates the line to the interrupt controller on a PC).
const MCR_OUT2: u8 = 0x0b;
const MCR_PLAIN: u8 = 0x03;

/// COM1's interrupts taken, and the others (vectors an earlier case left pending).
static TAKEN: AtomicU32 = AtomicU32::new(0);
static OTHERS: AtomicU32 = AtomicU32::new(0);

fn on_interrupt(vector: u32, _: Stamp) {
    if vector == VECTOR {
        TAKEN.fetch_add(1, Ordering::Relaxed);
        // Reading IIR acknowledges the transmitter-empty interrupt.
        let _ = inb(IIR);
    } else {
        OTHERS.fetch_add(1, Ordering::Relaxed);
    }
}

fn get(index: u32) -> Result<u32, guest_common::exception::Fault> {
    store32(IOREGSEL, index)?;
    load32(IOWIN)
}

fn put(index: u32, v: u32) -> Result<(), guest_common::exception::Fault> {
    store32(IOREGSEL, index)?;
    store32(IOWIN, v)
}

pub fn com1_through_ioapic() -> Outcome {
    irq::set_handler(on_interrupt);
    if irq::init_cpu(&[VECTOR]).is_err() {
        return leak(CASE, format_args!("no local APIC"));
    }
    let version = match get(VERSION) {
        Ok(v) => v,
        Err(f) => return leak(CASE, format_args!("I/O APIC version read: {}", How(&f))),
    };
    let entries = ((version >> 16) & 0xff) + 1;
    let me = apic_id() as u32;
    let routed = put(COM1_ENTRY + 1, me << 24).and_then(|()| put(COM1_ENTRY, VECTOR));
    if let Err(f) = routed {
        return leak(CASE, format_args!("redirection entry 4: {}", How(&f)));
    }
    let entry = get(COM1_ENTRY).unwrap_or(0);
    // The line rises with THRE enabled (the transmitter is idle).
    outb(MCR, MCR_OUT2);
    outb(IER, IER_THRE);
    let end = timer::counter() + timer::frequency() / 10;
    irq::enable();
    while TAKEN.load(Ordering::Relaxed) == 0 && timer::counter() < end {
        core::hint::spin_loop();
    }
    // A little longer: a second interrupt would be a stray.
    let settle = timer::counter() + timer::frequency() / 100;
    while timer::counter() < settle {
        core::hint::spin_loop();
    }
    irq::disable();
    outb(IER, 0);
    outb(MCR, MCR_PLAIN);
    let _ = put(COM1_ENTRY, MASKED | VECTOR);
    let (taken, others) = (
        TAKEN.load(Ordering::Relaxed),
        OTHERS.load(Ordering::Relaxed),
    );
    if taken == 1 {
        contained(
            CASE,
            format_args!(
                "I/O APIC version {version:#010x} ({entries} entries); COM1 via entry 4 ({entry:#x}) to APIC id {me}: vector {VECTOR:#x} taken once, {others} other vectors"
            ),
        )
    } else {
        leak(
            CASE,
            format_args!(
                "I/O APIC version {version:#010x}, entry 4 {entry:#x}: vector {VECTOR:#x} taken {taken} times, {others} other vectors"
            ),
        )
    }
}
