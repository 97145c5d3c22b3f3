//! `pci-msix`: the given function (a modern virtio-blk-pci, `pci=`) reads sector 0
//! through one small virtqueue, its completion signalled by MSI-X entry 0. The entry
//! is first aimed where a guest must not reach: each foreign APIC id
//! (`foreign-apic-ids=`), NMI, SMI, INIT and ExtINT delivery to itself, a vector
//! below 16, a logical destination. Each request completes (the used ring) but no
//! interrupt may arrive here (the hypervisor leaves such an entry masked on the
//! device), and the other VMs must not notice. Then the entry names this vCPU's own
//! APIC id with a fixed vector: in a direct-mode VM the interrupt arrives in this
//! guest's own IDT, once per request, waking it from HLT (a timer wakes it after
//! 100 ms if none comes: a stray), and the sector holds the disk's signature
//! (`disk-magic=`, its first 8 bytes as a little-endian number).
//!
//! The rings and buffers are in this guest's RAM, which is identity-mapped (its
//! addresses are the device's DMA addresses).

use core::sync::atomic::{AtomicU32, Ordering};

use guest_common::arch::cpu::apic_id;
use guest_common::irq::{self, Stamp};
use guest_common::{timer, BootInfo};

use super::mmio::{load32, store32};
use super::pci::{read16, read32, read8, write16, Bdf};
use crate::report::{contained, leak, number, Outcome};

const CASE: &str = "pci-msix";
/// The guest's vector for the device.
const VECTOR: u32 = 0x61;
/// Queue size used (the device's may be larger).
const QSIZE: u32 = 4;

static TAKEN: AtomicU32 = AtomicU32::new(0);
static OTHERS: AtomicU32 = AtomicU32::new(0);

fn on_interrupt(vector: u32, _: Stamp) {
    match vector {
        VECTOR => TAKEN.fetch_add(1, Ordering::Relaxed),
        _ => OTHERS.fetch_add(1, Ordering::Relaxed),
    };
}

/// The queue's memory, in 32-bit words: descriptors at 0, the available ring at
/// 0x100, the used ring at 0x200, the request header at 0x300, its status at 0x310,
/// the sector at 0x400.
#[repr(C, align(4096))]
struct Dma([AtomicU32; 1024]);

static DMA: Dma = Dma([const { AtomicU32::new(0) }; 1024]);

const DESC: usize = 0;
const AVAIL: usize = 0x100;
const USED: usize = 0x200;
const HEADER: usize = 0x300;
const STATUS: usize = 0x310;
const SECTOR: usize = 0x400;

fn put(byte: usize, v: u32) {
    DMA.0[byte / 4].store(v, Ordering::SeqCst);
}

fn get(byte: usize) -> u32 {
    DMA.0[byte / 4].load(Ordering::SeqCst)
}

fn phys(byte: usize) -> u64 {
    core::ptr::addr_of!(DMA) as u64 + byte as u64
}

/// MMIO of the function's BARs, with the width the register has (the pages are
/// the device's, mapped straight through).
fn w8(at: usize, v: u8) {
    // SAFETY: a register of the given function's BAR (its capability says so).
    unsafe { core::ptr::write_volatile(at as *mut u8, v) }
}
fn w16(at: usize, v: u16) {
    // SAFETY: as in `w8`.
    unsafe { core::ptr::write_volatile(at as *mut u16, v) }
}
fn w32(at: usize, v: u32) {
    // SAFETY: as in `w8`.
    unsafe { core::ptr::write_volatile(at as *mut u32, v) }
}
fn r8(at: usize) -> u8 {
    // SAFETY: as in `w8`.
    unsafe { core::ptr::read_volatile(at as *const u8) }
}
fn r16(at: usize) -> u16 {
    // SAFETY: as in `w8`.
    unsafe { core::ptr::read_volatile(at as *const u16) }
}
fn r32(at: usize) -> u32 {
    // SAFETY: as in `w8`.
    unsafe { core::ptr::read_volatile(at as *const u32) }
}

/// Where the function's structures are.
pub struct Virtio {
    common: usize,
    notify: usize,
    msix_cap: u16,
    table: usize,
}

/// The common configuration's registers.
const STATUS_REG: usize = 0x14;
const NUM_QUEUES: usize = 0x12;

impl Virtio {
    /// Finds the common configuration, notify and MSI-X structures of `own`.
    pub fn find(own: Bdf) -> Option<Self> {
        let bar = |i: u8| -> Option<usize> {
            let reg = 0x10 + 4 * u16::from(i);
            let lo = read32(own, reg);
            let hi = match lo & 6 {
                4 => read32(own, reg + 4),
                _ => 0,
            };
            (lo & 1 == 0).then_some(((u64::from(hi) << 32) | u64::from(lo & !0xf)) as usize)
        };
        let (mut common, mut notify, mut msix) = (None, None, None);
        let mut cap = u16::from(read8(own, 0x34) & 0xfc);
        for _ in 0..48 {
            if cap < 0x40 {
                break;
            }
            let id = read8(own, cap);
            if id == 0x09 {
                let kind = read8(own, cap + 3);
                let at = bar(read8(own, cap + 4))? + read32(own, cap + 8) as usize;
                match kind {
                    1 => common = Some(at),
                    2 => notify = Some((at, read32(own, cap + 16) as usize)),
                    _ => {}
                }
            } else if id == 0x11 {
                let t = read32(own, cap + 4);
                msix = Some((cap, bar((t & 7) as u8)? + (t & !7) as usize));
            }
            cap = u16::from(read8(own, cap + 1) & 0xfc);
        }
        let common = common?;
        let (notify, mult) = notify?;
        let (msix_cap, table) = msix?;
        // Queue 0's notify address.
        w16(common + 0x16, 0);
        let notify = notify + usize::from(r16(common + 0x1e)) * mult;
        Some(Self {
            common,
            notify,
            msix_cap,
            table,
        })
    }

    /// Whether the function answers at its BAR (a plausible number of queues).
    pub fn alive(&self) -> bool {
        (1..=256).contains(&r16(self.common + NUM_QUEUES))
    }

    /// Resets the device and brings queue 0 up, its interrupts to MSI-X entry 0;
    /// `false` if the device refuses.
    pub(super) fn start(&self, own: Bdf) -> bool {
        let c = self.common;
        write16(own, 0x04, 0x0006);
        w8(c + STATUS_REG, 0);
        while r8(c + STATUS_REG) != 0 {}
        w8(c + STATUS_REG, 1 | 2);
        // VIRTIO_F_VERSION_1 (bit 32), and VIRTIO_F_ACCESS_PLATFORM (bit 33) when the
        // device offers it (its DMA goes through the machine's IOMMU; the device
        // refuses a driver that does not take it).
        w32(c, 1);
        let offered = r32(c + 0x04) & 2;
        w32(c + 0x08, 1);
        w32(c + 0x0c, 1 | offered);
        w32(c + 0x08, 0);
        w32(c + 0x0c, 0);
        w8(c + STATUS_REG, 1 | 2 | 8);
        if r8(c + STATUS_REG) & 8 == 0 {
            return false;
        }
        // The rings start empty: a used index left from before the reset would read
        // as the next request's completion.
        put(AVAIL, 0);
        put(USED, 0);
        w16(c + 0x10, 0xffff);
        w16(c + 0x16, 0);
        w16(c + 0x18, QSIZE as u16);
        w16(c + 0x1a, 0);
        for (reg, at) in [(0x20, DESC), (0x28, AVAIL), (0x30, USED)] {
            w32(c + reg, phys(at) as u32);
            w32(c + reg + 4, (phys(at) >> 32) as u32);
        }
        w16(c + 0x1c, 1);
        w8(c + STATUS_REG, 1 | 2 | 4 | 8);
        // MSI-X on, the function not masked.
        let ctl = read16(own, self.msix_cap + 2);
        write16(own, self.msix_cap + 2, (ctl | 1 << 15) & !(1 << 14));
        r16(c + 0x1a) == 0
    }

    /// Sets MSI-X entry 0 to `address`/`data`, unmasked (through the trapped table).
    fn entry(&self, address: u32, data: u32) {
        let _ = store32(self.table + 12, 1);
        let _ = store32(self.table, address);
        let _ = store32(self.table + 4, 0);
        let _ = store32(self.table + 8, data);
        let _ = store32(self.table + 12, 0);
    }

    /// Reads sector 0 (request `n`, from 0); `true` when the device completed it.
    pub(super) fn read_sector(&self, n: u32) -> bool {
        self.submit(n);
        self.completed(n)
    }

    /// Asks for sector 0 (request `n`, from 0).
    fn submit(&self, n: u32) {
        for w in 0..128 {
            put(SECTOR + 4 * w, 0);
        }
        self.submit_into(n, phys(SECTOR));
    }

    /// Asks for sector 0 into DMA address `data` (request `n`, from 0); the header,
    /// status and rings stay in this guest's RAM.
    pub(super) fn submit_into(&self, n: u32, data: u64) {
        self.submit_split(n, 0, data, 512);
    }

    /// Asks for sector `sector`, its first `head` bytes into DMA address `data` and
    /// the rest into this guest's own buffer (request `n`, from 0).
    pub(super) fn submit_split(&self, n: u32, sector: u32, data: u64, head: u32) {
        put(HEADER, 0); // VIRTIO_BLK_T_IN
        put(HEADER + 4, 0);
        put(HEADER + 8, sector);
        put(HEADER + 12, 0);
        put(STATUS, 0xff);
        // Descriptors: header (read), the sector's head and rest (write), status
        // (write), chained.
        let rest = (head < 512).then_some((phys(SECTOR), 512 - head, 1 | 2));
        let descs = [(phys(HEADER), 16, 1), (data, head, 1 | 2)]
            .into_iter()
            .chain(rest)
            .chain([(phys(STATUS), 1, 2)]);
        for (i, (at, len, flags)) in descs.enumerate() {
            let d = DESC + 16 * i;
            put(d, at as u32);
            put(d + 4, (at >> 32) as u32);
            put(d + 8, len);
            put(d + 12, flags | ((i as u32 + 1) << 16));
        }
        // Available ring: flags 0, idx n + 1, ring[n % QSIZE] = descriptor 0.
        let slot = (n % QSIZE) as usize;
        let pair = AVAIL + 4 + 4 * (slot / 2);
        let keep = get(pair)
            & if slot.is_multiple_of(2) {
                0xffff_0000
            } else {
                0xffff
            };
        put(pair, keep);
        put(AVAIL, (n + 1) << 16);
        w16(self.notify, 0);
    }

    /// The used ring's index, the last request's status byte and the device status
    /// (for a leak's report).
    pub(super) fn state(&self) -> (u32, u32, u8) {
        (
            get(USED) >> 16,
            get(STATUS) & 0xff,
            r8(self.common + STATUS_REG),
        )
    }

    /// Sector 0's first 8 bytes as the last read into this guest's buffer left them.
    pub(super) fn magic() -> u64 {
        u64::from(get(SECTOR)) | u64::from(get(SECTOR + 4)) << 32
    }

    /// Whether request `n` completed (waits for it up to 200 ms).
    pub(super) fn completed(&self, n: u32) -> bool {
        let end = timer::counter() + timer::frequency() / 5;
        while get(USED) >> 16 != (n + 1) & 0xffff && timer::counter() < end {
            core::hint::spin_loop();
        }
        get(USED) >> 16 == (n + 1) & 0xffff && get(STATUS) & 0xff == 0
    }
}

/// The messages a guest must not get through, each with what it tries.
fn hostile(boot: &BootInfo, me: u32) -> impl Iterator<Item = (u32, u32, &'static str)> {
    let at = |id: u32| 0xfee0_0000 | (id & 0xff) << 12;
    let foreign = super::foreign_ids(boot)
        .filter(move |&id| id != me)
        .map(move |id| (at(id), VECTOR, "a foreign APIC id"));
    let own = [
        (at(me), VECTOR | 4 << 8, "NMI"),
        (at(me), VECTOR | 2 << 8, "SMI"),
        (at(me), VECTOR | 5 << 8, "INIT"),
        (at(me), VECTOR | 7 << 8, "ExtINT"),
        (at(me), 0x0e, "vector 14"),
        (at(me) | 4, VECTOR, "a logical destination"),
        (0xfec0_0000, VECTOR, "not the APICs"),
        (at(0xff), VECTOR, "the broadcast id"),
    ];
    foreign.chain(own)
}

pub fn msix(boot: &BootInfo, own: Bdf, v: &Virtio) -> Outcome {
    irq::set_handler(on_interrupt);
    if irq::init_cpu(&[VECTOR]).is_err() {
        return leak(CASE, format_args!("no local APIC"));
    }
    if !v.start(own) {
        return leak(CASE, format_args!("the device did not start"));
    }
    let me = apic_id() as u32;
    irq::enable();
    let mut n = 0;
    let mut refused = 0;
    for (address, data, what) in hostile(boot, me) {
        v.entry(address, data);
        let done = v.read_sector(n);
        n += 1;
        timer::delay_us(2000);
        let (t, o) = (
            TAKEN.load(Ordering::Relaxed),
            OTHERS.load(Ordering::Relaxed),
        );
        if !done {
            irq::disable();
            return leak(CASE, format_args!("request {n} ({what}) not completed"));
        }
        if t + o != 0 {
            irq::disable();
            return leak(
                CASE,
                format_args!("{what} ({address:#x}/{data:#x}): {t} interrupts here, {o} others"),
            );
        }
        refused += 1;
    }
    // A valid entry: a message left pending by the masked ones may come at once.
    v.entry(0xfee0_0000 | me << 12, VECTOR);
    timer::delay_us(2000);
    let pending = TAKEN.load(Ordering::Relaxed);
    let mut delivered = 0;
    for _ in 0..3 {
        let before = TAKEN.load(Ordering::Relaxed);
        // Halted until the device's interrupt wakes this core (HLT is the guest's in
        // direct mode); the timer wakes it after 100 ms if none comes (a stray here).
        let end = timer::counter() + timer::frequency() / 10;
        timer::arm(end);
        v.submit(n);
        irq::wait_masked(|| TAKEN.load(Ordering::Relaxed) != before || timer::counter() >= end);
        timer::stop();
        irq::enable();
        let done = v.completed(n);
        n += 1;
        if done && TAKEN.load(Ordering::Relaxed) == before + 1 {
            delivered += 1;
        }
    }
    irq::disable();
    let entry = load32(v.table + 8).unwrap_or(0);
    v.entry(0, 0);
    let _ = store32(v.table + 12, 1);
    let magic = Virtio::magic();
    let want = number(boot, "disk-magic");
    let others = OTHERS.load(Ordering::Relaxed);
    match (delivered, others, want) {
        (3, 0, Some(w)) if w == magic => contained(
            CASE,
            format_args!("{refused} hostile entries: no interrupt; {VECTOR:#x} to APIC id {me}: 3 reads, each woke HLT by 1 IDT interrupt ({pending} pending); sector 0 {magic:#x}; entry {entry:#x}"),
        ),
        _ => leak(
            CASE,
            format_args!("{delivered} of 3 reads interrupted, {others} other vectors, sector 0 {magic:#x} (want {want:x?})"),
        ),
    }
}
