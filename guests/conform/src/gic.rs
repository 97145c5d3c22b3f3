//! The GICv3 as a guest sees it (GICv3 architecture specification, chapters 8 and
//! 12): identification and type of the distributor and of this vCPU's
//! redistributor, its WAKER and PWRR, and for an SGI (INTID 5), a PPI (INTID 20)
//! and an SPI (INTID 48, QEMU virt's first virtio-mmio transport, which a VM has
//! passed through): enable, pending and active set and clear, the
//! priority bits implemented, the trigger, and IROUTER. Interrupts stay masked in
//! PSTATE and disabled in the GIC while they are made pending, so none is taken.

use core::sync::atomic::{AtomicUsize, Ordering};

use guest_common::arch::gic as common;
use guest_common::guard;

use crate::{check, Shown};

/// SGI/PPI frame, 64 KiB after RD_base.
pub const SGI_FRAME: usize = 0x1_0000;
const ISENABLER: usize = 0x100;
const ICENABLER: usize = 0x180;
pub const ISPENDR: usize = 0x200;
const ICPENDR: usize = 0x280;
const ISACTIVER: usize = 0x300;
const ICACTIVER: usize = 0x380;
const IPRIORITYR: usize = 0x400;
const ICFGR: usize = 0xc00;
const IROUTER: usize = 0x6000;

const SGI: u32 = 5;
const PPI: u32 = 20;
const SPI: u32 = 48;

static GICD: AtomicUsize = AtomicUsize::new(common::DEFAULT_GICD);

/// Takes the distributor base from the device tree, as the common driver does.
pub fn configure(boot: &guest_common::BootInfo) {
    let base = boot
        .fdt
        .as_ref()
        .and_then(|f| f.find_compatible(&["arm,gic-v3"]))
        .and_then(|n| n.reg())
        .and_then(|mut r| r.next())
        .map(|r| r.starting_address as usize);
    if let Some(b) = base {
        GICD.store(b, Ordering::Relaxed);
    }
}

fn gicd() -> usize {
    GICD.load(Ordering::Relaxed)
}

/// This vCPU's RD_base (0 when there is none: every access then faults).
pub fn rd() -> usize {
    common::find_redistributor().unwrap_or(0)
}

pub fn read(addr: usize) -> Shown {
    Shown(guard::read_u32(addr).map(u64::from))
}

pub fn write(addr: usize, v: u32) {
    // SAFETY: a 32-bit store to a GIC register of this vCPU or of the distributor;
    // the checks make pending only interrupts that are disabled and masked. A fault
    // is caught (and shows in the next read).
    let _ = unsafe { guard::write_u32(addr, v) };
}

fn bit_of(addr: usize, bit: u32) -> u64 {
    guard::read_u32(addr).map_or(u64::MAX, |v| u64::from(v >> bit & 1))
}

/// Sets, reads, clears and reads one bit of a set/clear register pair.
fn set_clear(name: &str, base: usize, set: usize, clear: usize, intid: u32) {
    let (word, bit) = (4 * (intid as usize / 32), intid % 32);
    write(base + set + word, 1 << bit);
    let after_set = bit_of(base + set + word, bit);
    write(base + clear + word, 1 << bit);
    let after_clear = bit_of(base + set + word, bit);
    check!(
        name,
        "set={} clear={}",
        after_set as i64,
        after_clear as i64
    );
}

/// Writes 0xff to the priority byte of `intid`, reads what stuck, restores it.
fn priority_bits(name: &str, base: usize, intid: u32) {
    let addr = base + IPRIORITYR + (intid as usize & !3);
    let shift = 8 * (intid % 4);
    let old = guard::read_u32(addr).unwrap_or(0);
    write(addr, old | 0xff << shift);
    let got = guard::read_u32(addr).map(|v| u64::from(v >> shift & 0xff));
    write(addr, old);
    check!(name, "{}", Shown(got));
}

fn interrupt(prefix: &str, base: usize, intid: u32) {
    let mut name = Name::new(prefix);
    set_clear(name.with("enable"), base, ISENABLER, ICENABLER, intid);
    set_clear(name.with("pending"), base, ISPENDR, ICPENDR, intid);
    set_clear(name.with("active"), base, ISACTIVER, ICACTIVER, intid);
    priority_bits(name.with("priority-bits"), base, intid);
    let cfg = guard::read_u32(base + ICFGR + 4 * (intid as usize / 16))
        .map(|v| u64::from(v >> (2 * (intid % 16)) & 3));
    check!(name.with("icfgr"), "{}", Shown(cfg));
}

/// GICR_CTLR.CES: EnableLPIs can be cleared (an LPI property).
const GICR_CTLR_CES: u64 = 1 << 1;

/// GICD_TYPER in three lines: the SPI range (ITLinesNumber), the LPI fields (LPIS,
/// MBIS, IDbits) and the rest (CPUNumber, ESPI, SecurityExtn, DVIS, A3V, No1N, RSS).
fn typer_fields(typer: Result<u64, guest_common::exception::Fault>) {
    check!(
        "gic.gicd.typer.itlines",
        "{}",
        Shown(typer.map(|v| v & 0x1f))
    );
    check!(
        "gic.gicd.typer.lpis",
        "lpis={} mbis={} idbits={}",
        Shown(typer.map(|v| v >> 17 & 1)),
        Shown(typer.map(|v| v >> 16 & 1)),
        Shown(typer.map(|v| v >> 19 & 0x1f))
    );
    let lpi_and_lines: u64 = 0x1f | 1 << 16 | 1 << 17 | 0x1f << 19;
    check!(
        "gic.gicd.typer.other",
        "{}",
        Shown(typer.map(|v| v & !lpi_and_lines))
    );
}

pub fn run() {
    let d = gicd();
    check!("gic.gicd.ctlr", "{}", read(d));
    typer_fields(guard::read_u32(d + 0x4).map(u64::from));
    check!("gic.gicd.iidr", "{}", read(d + 0x8));
    check!("gic.gicd.typer2", "{}", read(d + 0xc));
    let pidr2 = guard::read_u32(d + 0xffe8).map(|v| u64::from(v >> 4 & 0xf));
    check!("gic.gicd.pidr2.archrev", "{}", Shown(pidr2));
    let r = rd();
    let ctlr = guard::read_u32(r).map(u64::from);
    check!(
        "gic.gicr.ctlr",
        "{}",
        Shown(ctlr.map(|v| v & !GICR_CTLR_CES))
    );
    check!("gic.gicr.iidr", "{}", read(r + 0x4));
    let typer = guard::read_u32(r + 0x8).map(u64::from);
    check!(
        "gic.gicr.typer.processor",
        "{}",
        Shown(typer.map(|v| v >> 8 & 0xffff))
    );
    check!(
        "gic.gicr.typer.last",
        "{}",
        Shown(typer.map(|v| v >> 4 & 1))
    );
    check!(
        "gic.gicr.lpis",
        "plpis={} vlpis={} directlpi={} commonlpiaff={} ces={}",
        Shown(typer.map(|v| v & 1)),
        Shown(typer.map(|v| v >> 1 & 1)),
        Shown(typer.map(|v| v >> 3 & 1)),
        Shown(typer.map(|v| v >> 24 & 3)),
        Shown(ctlr.map(|v| v >> 1 & 1))
    );
    check!("gic.gicr.typer-affinity", "{}", read(r + 0xc));
    check!("gic.gicr.waker", "{}", read(r + 0x14));
    check!("gic.gicr.pwrr", "{}", read(r + 0x24));
    let pidr2 = guard::read_u32(r + 0xffe8).map(|v| u64::from(v >> 4 & 0xf));
    check!("gic.gicr.pidr2.archrev", "{}", Shown(pidr2));
    interrupt("gic.sgi", r + SGI_FRAME, SGI);
    interrupt("gic.ppi", r + SGI_FRAME, PPI);
    interrupt("gic.spi", d, SPI);
    let router = d + IROUTER + 8 * SPI as usize;
    let old = guard::read_u32(router).unwrap_or(0);
    let mpidr = guest_common::cpu::mpidr() & 0xff_ffff;
    write(router, mpidr as u32);
    check!("gic.spi.irouter-own", "{}", read(router));
    write(router, 1 << 31);
    check!("gic.spi.irouter-any", "{}", read(router));
    write(router, old);
}

/// `<prefix>.<what>` in a small buffer.
struct Name {
    buf: [u8; 48],
    len: usize,
}

impl Name {
    fn new(prefix: &str) -> Self {
        let mut n = Name {
            buf: [0; 48],
            len: 0,
        };
        n.push(prefix);
        n.push(".");
        n
    }

    fn push(&mut self, s: &str) {
        let end = (self.len + s.len()).min(self.buf.len());
        self.buf[self.len..end].copy_from_slice(&s.as_bytes()[..end - self.len]);
        self.len = end;
    }

    fn with(&mut self, what: &str) -> &str {
        let keep = self.buf[..self.len]
            .iter()
            .rposition(|&b| b == b'.')
            .map_or(0, |i| i + 1);
        self.len = keep;
        self.push(what);
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("?")
    }
}
