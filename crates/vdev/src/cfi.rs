//! Emulated CFI parallel flash with the Intel/Sharp command set, as QEMU's
//! `pflash_cfi01` behaves on QEMU `virt` (hw/block/pflash_cfi01.c, hw/arm/virt.c):
//! two banks of 64 MiB, each two x16 devices side by side (bank width 4 bytes, device
//! width 2), 256 KiB erase blocks, manufacturer 0x89, device 0x18. Firmware built for
//! `virt` (U-Boot's environment in the second bank, EDK2's variables) finds it.
//!
//! Model, per bank: a write cycle counter and the current command decide what a read
//! returns ([`READS`]) and what a write does ([`WRITES`], first matching row wins,
//! anything else returns to read-array mode, as QEMU's `error_flash` does):
//! - read array (reset state): the contents, little-endian;
//! - status (after program, erase, lock, clear, `0x70`): the status register, repeated
//!   for each device of the bank (bit 7 ready, 4 program error, 5 erase error);
//! - `0x90` device ID, `0x98` CFI query: the identifier and the CFI table at
//!   offset / 4, repeated for each device;
//! - program (`0x10`/`0x40`, then the data), block erase (`0x20`: QEMU erases at once,
//!   `0xd0` confirms), write to buffer (`0xe8`, count, data words, `0xd0`), block
//!   (un)lock (`0x60`, `0x01`/`0xd0`: accepted, no lock is kept).
//!
//! Accesses wider than the bank (64-bit) are two 32-bit accesses, low word first, as
//! QEMU's memory core splits them. Contents live in a [`Store`]: erased (0xFF) unless
//! written, the per-VM page pool in [`store`]; a write the store has no room for sets
//! the program-error bit, as on a write-protected part.

use crate::{MmioError, Width};

pub mod store;
pub use store::{Store, PAGE};

/// Bytes in one bank.
pub const BANK_SIZE: u64 = 64 << 20;
/// Banks: QEMU `virt` maps two, at 0 and at [`BANK_SIZE`].
pub const BANKS: usize = 2;
/// The erase block.
pub const SECTOR: u64 = 256 << 10;
/// Manufacturer (Intel) and device ID, as QEMU `virt` sets them.
pub const IDENT: [u32; 2] = [0x89, 0x18];
/// Status register bits.
pub mod status {
    /// Write state machine ready.
    pub const READY: u8 = 0x80;
    /// Erase failed.
    pub const ERASE_ERROR: u8 = 0x20;
    /// Program failed.
    pub const PROGRAM_ERROR: u8 = 0x10;
}

/// The CFI query table of one x16 device of a virt bank (QEMU's
/// `pflash_cfi01_fill_cfi_table` for 256 blocks of 128 KiB per device, 2 devices).
pub const CFI_TABLE: [u8; 0x52] = cfi_table();

const fn cfi_table() -> [u8; 0x52] {
    let mut t = [0u8; 0x52];
    // Every other byte is 0.
    let fixed: [(usize, u8); 27] = [
        (0x10, b'Q'),
        (0x11, b'R'),
        (0x12, b'Y'),
        (0x13, 0x01), // Intel command set
        (0x15, 0x31), // primary extended table at 0x31
        (0x1b, 0x45), // Vcc min
        (0x1c, 0x55), // Vcc max
        (0x1f, 0x07),
        (0x20, 0x07),
        (0x21, 0x0a),
        (0x23, 0x04),
        (0x24, 0x04),
        (0x25, 0x04),
        (0x27, 25),   // device size 2^25: 32 MiB per device
        (0x28, 0x02), // x8/x16 interface
        (0x2a, 0x0b), // 2 KiB write buffer per device
        (0x2c, 0x01), // one erase block region
        (0x2d, 0xff), // 256 blocks ...
        (0x2f, 0x00), // ... of 128 KiB (0x200 x 256)
        (0x30, 0x02),
        (0x31, b'P'),
        (0x32, b'R'),
        (0x33, b'I'),
        (0x34, b'1'),
        (0x35, b'0'),
        (0x3f, 0x01), // one protection field
        (0x2e, 0x00),
    ];
    let mut i = 0;
    while i < fixed.len() {
        t[fixed[i].0] = fixed[i].1;
        i += 1;
    }
    t
}

/// What a read returns in a command mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    /// The contents.
    Array,
    /// The status register, once per device.
    Status,
    /// Manufacturer / device ID.
    DeviceId,
    /// The CFI table.
    Query,
}

/// Read behaviour by current command (QEMU's `pflash_read`).
const READS: &[(u8, Read)] = &[
    (0x00, Read::Array),
    (0x10, Read::Status),
    (0x20, Read::Status),
    (0x28, Read::Status),
    (0x40, Read::Status),
    (0x50, Read::Status),
    (0x60, Read::Status),
    (0x70, Read::Status),
    (0x90, Read::DeviceId),
    (0x98, Read::Query),
    (0xe8, Read::Status),
];

/// What a write does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    /// Back to read-array mode.
    ReadArray,
    /// Enter a multi-cycle command: the written byte is the command, next cycle.
    Begin,
    /// Enter a one-cycle read mode (status, device ID): the command, cycle 0.
    Mode,
    /// Erase the block at once (QEMU) and wait for the confirm.
    Erase,
    /// Clear the status register, then read array.
    ClearStatus,
    /// Write-to-buffer setup: ready, next cycle.
    Buffer,
    /// Program the data written.
    Program,
    /// Confirmed: ready, cycle 0 (the command stays: reads give the status).
    Ready,
    /// The word count of a buffer write.
    Count,
    /// A data word of a buffer write.
    BufferData,
    /// Nothing changes (any write but read-array while in query mode).
    Stay,
}

/// One rule: in write cycle `cycle`, with current command `cmd` (`None`: any), a
/// written byte `value` (`None`: any) does `act`.
struct Rule {
    cycle: u8,
    cmd: Option<u8>,
    value: Option<u8>,
    act: Act,
}

const fn r(cycle: u8, cmd: Option<u8>, value: Option<u8>, act: Act) -> Rule {
    Rule {
        cycle,
        cmd,
        value,
        act,
    }
}

/// The command set (QEMU's `pflash_write`), first match wins; no match: read array.
const WRITES: &[Rule] = &[
    r(0, None, Some(0x00), Act::ReadArray),
    r(0, None, Some(0x10), Act::Begin),
    r(0, None, Some(0x40), Act::Begin),
    r(0, None, Some(0x20), Act::Erase),
    r(0, None, Some(0x50), Act::ClearStatus),
    r(0, None, Some(0x60), Act::Begin),
    r(0, None, Some(0x70), Act::Mode),
    r(0, None, Some(0x90), Act::Mode),
    r(0, None, Some(0x98), Act::Begin),
    r(0, None, Some(0xe8), Act::Buffer),
    r(0, None, Some(0xf0), Act::ReadArray),
    r(0, None, Some(0xff), Act::ReadArray),
    r(1, Some(0x10), None, Act::Program),
    r(1, Some(0x40), None, Act::Program),
    r(1, Some(0x20), Some(0xd0), Act::Ready),
    r(1, Some(0x28), Some(0xd0), Act::Ready),
    r(1, Some(0xe8), None, Act::Count),
    r(1, Some(0x60), Some(0xd0), Act::Ready),
    r(1, Some(0x60), Some(0x01), Act::Ready),
    r(1, Some(0x98), Some(0xff), Act::ReadArray),
    r(1, Some(0x98), None, Act::Stay),
    r(2, Some(0xe8), None, Act::BufferData),
    r(3, Some(0xe8), Some(0xd0), Act::Ready),
];

/// The command state of one bank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bank {
    cycle: u8,
    cmd: u8,
    status: u8,
    count: u64,
}

impl Bank {
    /// Before [`Bank::reset`]: all zero, so that a static of banks costs no image bytes.
    pub const fn new() -> Self {
        Self {
            cycle: 0,
            cmd: 0,
            status: 0,
            count: 0,
        }
    }

    /// Power-on state: read array, status ready.
    pub fn reset(&mut self) {
        *self = Self {
            status: status::READY,
            ..Self::new()
        };
    }

    /// The status register.
    pub fn status(&self) -> u8 {
        self.status
    }

    /// Whether the bank is in read-array mode.
    pub fn reading_array(&self) -> bool {
        self.cmd == 0
    }

    fn read32(&self, store: &impl Store, bank: usize, off: u64, len: u64) -> u64 {
        let mode = READS
            .iter()
            .find(|(c, _)| *c == self.cmd)
            .map_or(Read::Array, |(_, m)| *m);
        let per_device = |v: u32| u64::from(v | v << 16);
        match mode {
            Read::Array => store.read(flash_offset(bank, off), len),
            Read::Status => {
                let s = u64::from(self.status);
                if len > 2 {
                    s | s << 16
                } else {
                    s
                }
            }
            Read::DeviceId => match (off >> 2) & 0xff {
                i @ 0..=1 => per_device(IDENT[i as usize]),
                _ => 0,
            },
            Read::Query => {
                let byte = CFI_TABLE.get((off >> 2) as usize).copied().unwrap_or(0);
                per_device(u32::from(byte))
            }
        }
    }

    fn write32(&mut self, store: &mut impl Store, bank: usize, off: u64, len: u64, value: u64) {
        let byte = value as u8;
        let act = WRITES
            .iter()
            .find(|w| {
                w.cycle == self.cycle
                    && w.cmd.is_none_or(|c| c == self.cmd)
                    && w.value.is_none_or(|v| v == byte)
            })
            .map_or(Act::ReadArray, |w| w.act);
        match act {
            Act::ReadArray => (self.cycle, self.cmd) = (0, 0),
            Act::Begin => (self.cycle, self.cmd) = (self.cycle + 1, byte),
            Act::Mode => self.cmd = byte,
            Act::Erase => {
                let at = flash_offset(bank, off & !(SECTOR - 1));
                if !store.erase(at, SECTOR) {
                    self.status |= status::ERASE_ERROR;
                }
                self.status |= status::READY;
                (self.cycle, self.cmd) = (self.cycle + 1, byte);
            }
            Act::ClearStatus => {
                self.status = 0;
                (self.cycle, self.cmd) = (0, 0);
            }
            Act::Buffer => {
                self.status |= status::READY;
                (self.cycle, self.cmd) = (self.cycle + 1, byte);
            }
            Act::Program => {
                self.program(store, bank, off, len, value);
                self.cycle = 0;
            }
            Act::Ready => {
                self.status |= status::READY;
                self.cycle = 0;
            }
            Act::Count => {
                self.count = value & 0xffff;
                self.cycle += 1;
            }
            Act::BufferData => {
                self.program(store, bank, off, len, value);
                if self.count == 0 {
                    self.cycle += 1;
                }
                self.count = self.count.wrapping_sub(1);
            }
            Act::Stay => {}
        }
    }

    fn program(&mut self, store: &mut impl Store, bank: usize, off: u64, len: u64, value: u64) {
        if !store.write(flash_offset(bank, off), len, value) {
            self.status |= status::PROGRAM_ERROR;
        }
        self.status |= status::READY;
    }
}

/// Offset in the whole flash (both banks) of `off` in `bank`.
fn flash_offset(bank: usize, off: u64) -> u64 {
    bank as u64 * BANK_SIZE + off
}

/// Both banks of a VM's flash and their contents.
#[derive(Debug)]
pub struct CfiFlash<S> {
    banks: [Bank; BANKS],
    /// The contents.
    pub store: S,
}

impl<S: Store> CfiFlash<S> {
    /// Banks not reset yet over `store` (see [`Bank::new`]).
    pub const fn new(store: S) -> Self {
        Self {
            banks: [Bank::new(); BANKS],
            store,
        }
    }

    /// Power-on: both banks in read-array mode and ready; the contents back to the
    /// initial image (erased where it has none).
    pub fn reset(&mut self) {
        for b in &mut self.banks {
            b.reset();
        }
        self.store.reset();
    }

    /// Bank `i`'s command state.
    pub fn bank(&self, i: usize) -> Option<&Bank> {
        self.banks.get(i)
    }

    /// Reads `w` at `off` from the start of the first bank.
    pub fn read(&mut self, off: u64, w: Width) -> Result<u64, MmioError> {
        let parts = split(off, w)?;
        let mut v = 0;
        for (i, &(bank, o, len)) in parts.iter().flatten().enumerate() {
            let part = self.banks[bank].read32(&self.store, bank, o, len) & mask(len);
            v |= part << (32 * i);
        }
        Ok(v)
    }

    /// Writes `value` of width `w` at `off` from the start of the first bank.
    pub fn write(&mut self, off: u64, w: Width, value: u64) -> Result<(), MmioError> {
        let parts = split(off, w)?;
        for (i, &(bank, o, len)) in parts.iter().flatten().enumerate() {
            let part = (value >> (32 * i)) & mask(len);
            self.banks[bank].write32(&mut self.store, bank, o, len, part);
        }
        Ok(())
    }
}

fn mask(len: u64) -> u64 {
    (1u64 << (len * 8)) - 1
}

/// (bank, offset in the bank, bytes) of one access of at most 4 bytes.
type Piece = (usize, u64, u64);

/// One access as (bank, offset in bank, bytes) pieces of at most 4 bytes: a 64-bit
/// access is two. Misaligned accesses and offsets past both banks are refused.
fn split(off: u64, w: Width) -> Result<[Option<Piece>; 2], MmioError> {
    let n = w.bytes();
    if !off.is_multiple_of(n) {
        return Err(MmioError::BadWidth);
    }
    let piece = |o: u64, len: u64| {
        let bank = (o / BANK_SIZE) as usize;
        (bank < BANKS).then_some((bank, o % BANK_SIZE, len))
    };
    let first = piece(off, n.min(4)).ok_or(MmioError::NoRegister)?;
    let second = match n {
        8 => Some(piece(off + 4, 4).ok_or(MmioError::NoRegister)?),
        _ => None,
    };
    Ok([Some(first), second])
}

#[cfg(test)]
mod tests;
