//! Table-driven register decoding.
//!
//! A device describes its register file once, as a sorted `&'static [RegDesc]`
//! wrapped in a [`RegTable`] constant. [`RegTable::new`] checks the table while the
//! constant is evaluated, so an unsorted or overlapping table is a compile error,
//! not a run-time surprise. Dispatch then finds the register by binary search and
//! calls the handler that the table names.
//!
//! Access rules applied by the dispatcher, before any handler runs:
//! - an offset inside no register is [`MmioError::NoRegister`];
//! - a width the register does not allow, wider than the register, or not
//!   naturally aligned within it is [`MmioError::BadWidth`];
//! - a write to an [`Access::Ro`] or [`Access::Fixed`] register is
//!   [`MmioError::ReadOnly`];
//! - a read of an [`Access::Wo`] register reads as zero (write-only registers
//!   such as interrupt-clear registers have no value to return).
//!
//! Narrow accesses address bytes inside a register: a read returns the selected
//! bytes of the full register value (the read handler still runs, with its side
//! effects); a write hands the handler the value shifted into place together with
//! a byte-lane mask ([`Write::merge`] applies it to the old value).

use crate::{MmioError, Width};

/// Reads register `index` of a bank (0 for a single register); returns its value.
pub type ReadFn<D> = fn(&mut D, usize) -> u64;
/// Applies a write; returns the device's side effect of type `E` (for example a
/// byte to transmit), so handlers stay pure state transitions.
pub type WriteFn<D, E> = fn(&mut D, Write) -> E;

/// One decoded write, as a handler sees it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Write {
    /// Register index within its bank (0 for a single register).
    pub index: usize,
    /// Written value, already shifted to the accessed byte lanes.
    pub value: u64,
    /// Byte lanes the access covers (`0xffff_ffff` for a full 32-bit write).
    pub mask: u64,
}

impl Write {
    /// `old` with the written lanes replaced.
    pub const fn merge(self, old: u64) -> u64 {
        (old & !self.mask) | (self.value & self.mask)
    }

    /// Whether the access wrote the lowest byte lane.
    pub const fn covers_low_byte(self) -> bool {
        self.mask & 0xff == 0xff
    }
}

/// Set of access widths a register accepts.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Widths(u8);

impl Widths {
    /// 8-bit accesses only.
    pub const BYTE: Self = Self(1);
    /// 16-bit accesses only.
    pub const HALF: Self = Self(2);
    /// 32-bit accesses only.
    pub const WORD: Self = Self(4);
    /// 64-bit accesses only.
    pub const DOUBLE: Self = Self(8);
    /// 8-, 16- and 32-bit accesses.
    pub const UP_TO_WORD: Self = Self(7);
    /// Every width.
    pub const ALL: Self = Self(15);

    /// Union of two sets.
    pub const fn or(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether `w` is in the set.
    pub const fn contains(self, w: Width) -> bool {
        // `bytes()` is 1, 2, 4 or 8, which is exactly the bit of its width.
        self.0 as u64 & w.bytes() != 0
    }

    /// Largest width in the set, in bytes (0 for the empty set).
    const fn max_bytes(self) -> u8 {
        if self.0 & 8 != 0 {
            8
        } else if self.0 & 4 != 0 {
            4
        } else if self.0 & 2 != 0 {
            2
        } else {
            self.0 & 1
        }
    }
}

/// What a register does on read and write, and which handlers do it.
pub enum Access<D: 'static, E: 'static> {
    /// Read-only: writes fail with [`MmioError::ReadOnly`].
    Ro(ReadFn<D>),
    /// Read-only, and its value depends only on what the device was reset with
    /// (identification and type registers): nothing a guest does changes it until the
    /// next reset, and its read handler has no side effect. A fast path may answer
    /// it from a copy of the device's own answer taken after the reset
    /// ([`RegTable::fixed_words`]).
    Fixed(ReadFn<D>),
    /// Write-only: reads return zero.
    Wo(WriteFn<D, E>),
    /// Read-write.
    Rw(ReadFn<D>, WriteFn<D, E>),
}

/// One register, or a bank of `count` consecutive registers of `size` bytes.
pub struct RegDesc<D: 'static, E: 'static> {
    /// Offset of the first byte from the device base.
    pub offset: u64,
    /// Size of one register in bytes: 1, 2, 4 or 8.
    pub size: u8,
    /// Number of consecutive registers (1 for a single register).
    pub count: u16,
    /// Access widths accepted.
    pub widths: Widths,
    /// Register mnemonic, for diagnostics.
    pub name: &'static str,
    /// Read/write behaviour and handlers.
    pub access: Access<D, E>,
}

impl<D: 'static, E: 'static> RegDesc<D, E> {
    /// A single 32-bit register.
    pub const fn reg32(
        offset: u64,
        name: &'static str,
        widths: Widths,
        access: Access<D, E>,
    ) -> Self {
        Self {
            offset,
            size: 4,
            count: 1,
            widths,
            name,
            access,
        }
    }

    /// A bank of `count` consecutive 32-bit registers.
    pub const fn bank32(
        offset: u64,
        count: u16,
        name: &'static str,
        widths: Widths,
        access: Access<D, E>,
    ) -> Self {
        Self {
            offset,
            size: 4,
            count,
            widths,
            name,
            access,
        }
    }

    /// One past the last byte (saturating; [`RegTable::new`] rejects overflow).
    pub const fn end(&self) -> u64 {
        self.offset
            .saturating_add(self.size as u64 * self.count as u64)
    }
}

impl<D, E> core::fmt::Debug for RegDesc<D, E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}@{:#x}", self.name, self.offset)?;
        if self.count > 1 {
            write!(f, "[{}]", self.count)?;
        }
        Ok(())
    }
}

/// A validated, sorted register table.
pub struct RegTable<D: 'static, E: 'static> {
    regs: &'static [RegDesc<D, E>],
}

impl<D, E> Clone for RegTable<D, E> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<D, E> Copy for RegTable<D, E> {}

impl<D: 'static, E: 'static> RegTable<D, E> {
    /// Wraps `regs` after checking it. Use it to initialise a `const`, so that the
    /// checks run at compile time: sizes are 1, 2, 4 or 8, offsets are aligned to the
    /// size, banks are not empty and do not overflow, every register accepts some
    /// width and none wider than itself, and registers are sorted without overlap.
    pub const fn new(regs: &'static [RegDesc<D, E>]) -> Self {
        let mut i = 0;
        while i < regs.len() {
            let r = &regs[i];
            assert!(
                matches!(r.size, 1 | 2 | 4 | 8),
                "register size must be 1, 2, 4 or 8"
            );
            assert!(
                r.offset & (r.size as u64 - 1) == 0,
                "register offset not aligned to its size"
            );
            assert!(r.count > 0, "empty register bank");
            let len = r.size as u64 * r.count as u64;
            assert!(
                r.offset.checked_add(len).is_some(),
                "register bank overflows"
            );
            let max = r.widths.max_bytes();
            assert!(
                max != 0 && max <= r.size,
                "register widths empty or wider than register"
            );
            if i + 1 < regs.len() {
                assert!(
                    r.end() <= regs[i + 1].offset,
                    "register table unsorted or overlapping"
                );
            }
            i += 1;
        }
        Self { regs }
    }

    /// The registers, in offset order.
    pub const fn regs(&self) -> &'static [RegDesc<D, E>] {
        self.regs
    }

    /// The number of 32-bit words [`RegTable::fixed_words`] yields (for sizing a
    /// table of copies at compile time).
    pub const fn fixed_word_count(&self) -> usize {
        let mut n = 0;
        let mut i = 0;
        while i < self.regs.len() {
            n += fixed_words_of(&self.regs[i]);
            i += 1;
        }
        n
    }

    /// The offsets of the 32-bit words a 32-bit read may address in the
    /// [`Access::Fixed`] registers, in offset order.
    pub fn fixed_words(&self) -> impl Iterator<Item = u64> {
        self.regs.iter().flat_map(|r| {
            let words = fixed_words_of(r) as u64;
            (0..words).map(move |k| r.offset.saturating_add(4 * k))
        })
    }

    /// The register holding byte `offset`, its index within its bank and the byte
    /// position of `offset` inside it.
    pub fn find(&self, offset: u64) -> Option<(&'static RegDesc<D, E>, usize, u64)> {
        let regs = self.regs;
        let at = regs
            .binary_search_by(|r| {
                if r.end() <= offset {
                    core::cmp::Ordering::Less
                } else if r.offset > offset {
                    core::cmp::Ordering::Greater
                } else {
                    core::cmp::Ordering::Equal
                }
            })
            .ok()?;
        let r = regs.get(at)?;
        let rel = offset.checked_sub(r.offset)?;
        let size = u64::from(r.size);
        let index = usize::try_from(rel.checked_div(size)?).ok()?;
        let byte = rel.checked_rem(size)?;
        Some((r, index, byte))
    }

    /// Decodes an access: the register, its bank index and the bit shift of the
    /// accessed lanes, after the width and alignment checks.
    fn decode(
        &self,
        offset: u64,
        width: Width,
    ) -> Result<(&'static RegDesc<D, E>, usize, u32), MmioError> {
        let (r, index, byte) = self.find(offset).ok_or(MmioError::NoRegister)?;
        let bytes = width.bytes();
        if !r.widths.contains(width) || bytes > u64::from(r.size) || byte % bytes != 0 {
            return Err(MmioError::BadWidth);
        }
        // `byte` < size <= 8, so the shift is at most 56.
        let shift = u32::try_from(byte * 8).map_err(|_| MmioError::BadWidth)?;
        Ok((r, index, shift))
    }

    /// Performs a read of `width` at `offset`.
    pub fn read(&self, dev: &mut D, offset: u64, width: Width) -> Result<u64, MmioError> {
        let (r, index, shift) = self.decode(offset, width)?;
        let full = match r.access {
            Access::Ro(read) | Access::Fixed(read) | Access::Rw(read, _) => read(dev, index),
            Access::Wo(_) => 0,
        };
        Ok(full.checked_shr(shift).unwrap_or(0) & width.mask())
    }

    /// Performs a write of `width` at `offset`; returns the handler's side effect.
    pub fn write(
        &self,
        dev: &mut D,
        offset: u64,
        width: Width,
        value: u64,
    ) -> Result<E, MmioError> {
        let (r, index, shift) = self.decode(offset, width)?;
        let write = match r.access {
            Access::Wo(write) | Access::Rw(_, write) => write,
            Access::Ro(_) | Access::Fixed(_) => return Err(MmioError::ReadOnly),
        };
        let lanes = width.mask().checked_shl(shift).unwrap_or(0);
        let value = (value & width.mask()).checked_shl(shift).unwrap_or(0);
        Ok(write(
            dev,
            Write {
                index,
                value,
                mask: lanes,
            },
        ))
    }
}

/// The 32-bit words of `r` a 32-bit read may address, if it is [`Access::Fixed`].
const fn fixed_words_of<D, E>(r: &RegDesc<D, E>) -> usize {
    match r.access {
        Access::Fixed(_) if r.widths.contains(Width::Word) => {
            r.size as usize * r.count as usize / 4
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests;
