//! Where the initrd and the device tree go once the kernel image is placed: QEMU 7.2's
//! rules for `-kernel` (hw/arm/boot.c, `arm_setup_direct_kernel_boot`), so a guest
//! finds them where it would on bare QEMU:
//!
//! ```text
//! initrd  at RAM + min(RAM size / 2, 128 MiB), or right after the image if it ends
//!         higher; 4 KiB aligned
//! dtb     an Image or headerless binary: the first 2 MiB boundary after the initrd
//!         (after the initrd's start when there is none)
//!         an ELF: the start of RAM, below the image; when the image itself starts
//!         there, the last 2 MiB of RAM (QEMU would use address 0, its flash)
//!         `dtb-ipa` in the scenario: there
//! ```
//!
//! QEMU loads no initrd with an ELF; rtvisor places one by the same rule.

use crate::contract::x86_64 as x86;
use crate::image::Placed;
use crate::size::{align_up, range, MIB, PAGE};

/// QEMU puts the initrd at most this far into RAM.
const INITRD_MAX_OFFSET: u64 = 128 * MIB;
/// The device tree of an Image or headerless binary is aligned to this (QEMU: "some
/// AArch64 kernels on early bootup map the fdt region" by 2 MiB blocks).
const DTB_ALIGN: u64 = 2 * MIB;

/// Where the initrd and the device tree of one VM go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Boot {
    /// Guest-physical load address of the initrd, if there is one.
    pub initrd: Option<u64>,
    /// Guest-physical address of the device tree (x0 at entry).
    pub dtb: u64,
    /// Bytes free at `dtb` before the next thing placed or the end of RAM.
    pub dtb_room: u64,
}

/// Why it does not fit: which key to point at, and the sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Misfit {
    /// The initrd does not fit in RAM after the image.
    Initrd {
        /// Where it would go.
        load: u64,
        /// RAM end (or where the device tree sits).
        limit: u64,
    },
    /// No room for the device tree where the rules put it.
    NoDtbRoom {
        /// Where it would go.
        at: u64,
    },
    /// `dtb-ipa` is outside RAM, misaligned or inside the image or initrd.
    BadDtbIpa(String),
}

/// Lays out the initrd (of `initrd_len` bytes, if any) and the device tree for an image
/// `img` in RAM `[ram, ram + size)`; `dtb_ipa` is the scenario's override.
pub fn place(
    ram: u64,
    size: u64,
    img: &Placed,
    initrd_len: Option<u64>,
    dtb_ipa: Option<u64>,
) -> Result<Boot, Misfit> {
    let ram_end = ram + size;
    let initrd_at = (ram + (size / 2).min(INITRD_MAX_OFFSET)).max(img.end);
    let initrd_at = align_up(initrd_at, PAGE).unwrap_or(u64::MAX);
    let initrd_end = initrd_at.saturating_add(initrd_len.unwrap_or(0));
    let covers_start = img.load <= ram;
    // An ELF that starts at RAM base keeps its device tree in the last 2 MiB.
    let top_dtb = (!img.linux() && covers_start && dtb_ipa.is_none()).then(|| ram_end - DTB_ALIGN);
    let initrd_limit = top_dtb.unwrap_or(ram_end);
    if initrd_len.is_some() && initrd_end > initrd_limit {
        return Err(Misfit::Initrd {
            load: initrd_at,
            limit: initrd_limit,
        });
    }
    let initrd = initrd_len.map(|_| initrd_at);
    let taken = [(img.load, img.end), (initrd_at, initrd_end)];
    let (dtb, room) = if let Some(at) = dtb_ipa {
        check_override(
            at,
            ram,
            ram_end,
            &taken[..1 + usize::from(initrd.is_some())],
        )?
    } else if let Some(at) = top_dtb {
        if img.end > at {
            return Err(Misfit::NoDtbRoom { at });
        }
        (at, DTB_ALIGN)
    } else if img.linux() {
        let at = align_up(initrd_end, DTB_ALIGN).unwrap_or(u64::MAX);
        if at >= ram_end {
            return Err(Misfit::NoDtbRoom { at });
        }
        (at, ram_end - at)
    } else {
        // An ELF above RAM base: the device tree at RAM base, below the image.
        (ram, img.load - ram)
    };
    Ok(Boot {
        initrd,
        dtb,
        dtb_room: room,
    })
}

/// The same for an x86_64 VM: its boot data (ACPI tables and start info) has a fixed
/// place below 1 MiB ([`x86::BOOT_DATA_GPA`]), the initrd follows the image, 4 KiB
/// aligned, and must end inside RAM.
pub fn place_x86(
    ram: u64,
    size: u64,
    img: &Placed,
    initrd_len: Option<u64>,
) -> Result<Boot, Misfit> {
    let ram_end = ram + size;
    let initrd = match initrd_len {
        None => None,
        Some(len) => {
            let load = align_up(img.end, PAGE).unwrap_or(u64::MAX);
            if load.saturating_add(len) > ram_end {
                return Err(Misfit::Initrd {
                    load,
                    limit: ram_end,
                });
            }
            Some(load)
        }
    };
    Ok(Boot {
        initrd,
        dtb: x86::BOOT_DATA_GPA,
        dtb_room: x86::BOOT_DATA_MAX,
    })
}

/// A `dtb-ipa` must be in RAM, 8-byte aligned (the arm64 boot protocol) and clear of
/// the image and initrd; its room runs to the next of them or to the end of RAM.
fn check_override(
    at: u64,
    ram: u64,
    ram_end: u64,
    taken: &[(u64, u64)],
) -> Result<(u64, u64), Misfit> {
    if !at.is_multiple_of(8) {
        return Err(Misfit::BadDtbIpa(
            "is not 8-byte aligned, as the arm64 boot protocol requires".into(),
        ));
    }
    if at < ram || at >= ram_end {
        return Err(Misfit::BadDtbIpa(format!(
            "is outside the VM's RAM ({})",
            range(ram, ram_end - ram)
        )));
    }
    if let Some(&(b, e)) = taken.iter().find(|&&(b, e)| at >= b && at < e) {
        return Err(Misfit::BadDtbIpa(format!(
            "is inside the kernel image or initrd ({})",
            range(b, e - b)
        )));
    }
    let next = taken
        .iter()
        .map(|&(b, _)| b)
        .filter(|&b| b > at)
        .min()
        .unwrap_or(ram_end);
    Ok((at, next - at))
}

#[cfg(test)]
mod tests;
