//! x86_64: the machine every VM sees (a small PVH machine), where its boot data goes,
//! the I/O ports and interrupts it has, and the layout of the hypervisor image.
//!
//! ```text
//!   guest-physical                                  I/O ports (emulated)
//!                                                   0x0040  8254 PIT (4 ports), no IRQ
//!                                                   0x0061  port B: PIT gate 2, OUT2
//!   0x0000_0000 +---------------------------+       0x0064  keyboard controller: reset
//!                                                   0x0070  RTC and CMOS RAM, no IRQ
//!               | RAM, from 0, at most 3 GiB |      0x03f8  COM1, a 16550 (8 ports), GSI 4
//!   0x000a_0000 |  legacy hole (reserved)   |       0x0600  ACPI sleep control, status
//!   0x000e_0000 |  boot data (ACPI, ebx)    |       0x0604  ACPI PM1a control
//!   0x000f_fff0 |  reset vector: 0xcf9 <- 6 |       0x0cf9  reset control
//!   0x0010_0000 |  kernel (ELF >= 1 MiB,    |
//!               |  raw image here), initrd  |       every other port reads all-ones
//!   0xc000_0000 +---------------------------+
//!               | shared-memory window      |
//!   0xe000_0000 | PCI ECAM (with PCI only)  |
//!   0xf000_0000 | PCI BARs (with PCI only)  |
//!   0xfeb0_0000 | doorbell page             |
//!   0xfeb0_1000 | PCI BARs (with PCI only)  |
//!   0xfec0_0000 | I/O APIC (48 pins)        |
//!   0xfee0_0000 | local APIC (xAPIC page;   |
//!               | x2APIC MSRs 0x800-0x8ff)  |
//!   0x1_0000_0000 end of the guest map: everything a scenario places is below 4 GiB
//! ```
//!
//! Boot data, generated on the host like an aarch64 VM's device tree (the `dtb` blob
//! and `dtb_ipa` of its tables) and copied to [`BOOT_DATA_GPA`] at every (re)start:
//! the PVH `hvm_start_info` first (ebx points at it at the 32-bit PVH entry), then the
//! module list (the initrd), the memory map, the command line and the ACPI tables
//! (RSDP v2 on a 16-byte boundary of the BIOS area, where a guest that scans finds it
//! too; XSDT, a hardware-reduced FADT, MADT, DSDT, MCFG when the VM has PCI).
//!
//! Power: the DSDT's `\_S5` gives sleep type [`SLP_TYP_S5`]; writing it with SLP_EN to
//! the hardware-reduced sleep control register (what the FADT names and Linux uses)
//! or to the PM1a control register (for guests that ignore the hardware-reduced flag)
//! stops the VM. The FADT's reset register is port 0xcf9, value [`RESET_VALUE`].

use super::MAX_CPUS;
pub use super::{DeviceKind, EmulatedDevice, Space};

/// Guest RAM starts at guest-physical 0 (no identity mapping on x86 yet).
pub const GUEST_RAM_GPA: u64 = 0;
/// Guest RAM ends at or below this: the 32-bit hole above it holds the shared-memory
/// window, the PCI hook and the interrupt controllers.
pub const GUEST_RAM_LIMIT: u64 = 0xc000_0000;
/// Guest-physical address bits a scenario may use: the whole guest map is 32-bit.
pub const GPA_BITS: u32 = 32;
/// First guest-physical address beyond the guest map.
pub const GPA_LIMIT: u64 = 1 << GPA_BITS;

/// Conventional memory ends here; up to [`BOOT_DATA_GPA`] the memory map says
/// reserved (the legacy video and ROM hole).
pub const LOW_RAM_END: u64 = 0xa_0000;
/// The boot data: `hvm_start_info` at offset 0 (ebx at entry), then the rest (see the
/// module docs). The memory map marks `[BOOT_DATA_GPA, KERNEL_MIN_GPA)` ACPI.
pub const BOOT_DATA_GPA: u64 = 0xe_0000;
/// The largest boot data: up to the reset stub.
pub const BOOT_DATA_MAX: u64 = RESET_STUB_GPA - BOOT_DATA_GPA;
/// The reset vector of real mode (F000:FFF0), where a guest that restarts "through the
/// BIOS" jumps (Linux's `reboot=bios`, its fallback when the EFI and ACPI methods
/// return): the hypervisor writes [`RESET_STUB`] there at every (re)start, as the VM
/// has no firmware. The memory map gives its 16 bytes type reserved.
pub const RESET_STUB_GPA: u64 = 0xf_fff0;
/// The reset vector's code (16-bit): `mov dx, RESET_PORT; mov al, RESET_VALUE;
/// out dx, al`, then `hlt` and a jump back to it, so the restart is the FADT's reset
/// register write (a `SystemReset` of this VM alone).
pub const RESET_STUB: [u8; 9] = [
    0xba,
    RESET_PORT as u8,
    (RESET_PORT >> 8) as u8,
    0xb0,
    RESET_VALUE,
    0xee,
    0xf4,
    0xeb,
    0xfd,
];
/// Images load at or above 1 MiB (an ELF's segments; a raw image is placed here).
pub const KERNEL_MIN_GPA: u64 = 0x10_0000;
/// Where a raw image goes; it is entered there like a PVH entry point.
pub const RAW_LOAD_GPA: u64 = KERNEL_MIN_GPA;
/// Longest command line in bytes, without its NUL (Linux's x86 COMMAND_LINE_SIZE
/// is 2048 with the NUL).
pub const CMDLINE_MAX: usize = 2047;

/// Start of the per-VM guest-physical window for shared memory without an `ipa`.
pub const SHM_WINDOW_GPA: u64 = GUEST_RAM_LIMIT;
/// End (exclusive) of that window.
pub const SHM_WINDOW_END: u64 = PCI_ECAM_GPA;
/// Where a VM with PCI has its configuration space (the MCFG table names it): 256
/// buses of 1 MiB (the MCFG lists the buses of the VM's functions).
pub const PCI_ECAM_GPA: u64 = 0xe000_0000;
/// Size of the ECAM window.
pub const PCI_ECAM_SIZE: u64 = 0x1000_0000;
/// The 32-bit memory windows of a VM with PCI: `(base, end)`, end exclusive. The
/// DSDT's host bridge `PCI0` gives them in its `_CRS`, and every BAR of the VM's
/// functions must lie inside one (the hypervisor refuses a function whose BAR does
/// not: its BARs stay where the host firmware put them, mapped 1:1, and the guest
/// claims them as they are). They are the top of the 32-bit hole above the ECAM
/// window, where PC firmware puts BARs (SeaBIOS on q35 from 0xfebf_ffff down), less
/// the doorbell page; they end at the I/O APIC. Nothing else of the VM's map is in
/// them, and they are not reserved in its memory map (Linux would clip reserved
/// ranges out of a host bridge window).
pub const PCI_MMIO_WINDOWS: [(u64, u64); 2] = [
    (PCI_ECAM_GPA + PCI_ECAM_SIZE, DOORBELL_GPA),
    (DOORBELL_GPA + 0x1000, IOAPIC_GPA),
];

/// The emulated doorbell page (a 32-bit write of a shared-memory region's number to
/// offset 0 rings its other peers, as the DOORBELL_RING hypercall does).
pub const DOORBELL_GPA: u64 = 0xfeb0_0000;
/// The emulated I/O APIC.
pub const IOAPIC_GPA: u64 = 0xfec0_0000;
/// Its ID in the MADT and its ID register.
pub const IOAPIC_ID: u8 = 0;
/// Its redirection entries: GSIs 0 to 47 (device GSIs below [`DEVICE_GSIS`], the
/// doorbells above).
pub const IOAPIC_PINS: u32 = 48;
/// A passed-through device's GSIs must be below this (the doorbells take the rest).
pub const DEVICE_GSIS: u32 = 32;
/// Doorbell GSI of shared-memory region 0; region k uses this minus k.
pub const DOORBELL_TOP_GSI: u32 = IOAPIC_PINS - 1;
/// The local APIC page of every vCPU (xAPIC MMIO; the x2APIC MSRs reach the same
/// registers).
pub const LAPIC_GPA: u64 = 0xfee0_0000;

/// COM1: the VM's emulated 16550.
pub const COM1_PORT: u16 = 0x3f8;
/// Its interrupt: ISA IRQ 4, GSI 4 (no source override needed).
pub const COM1_GSI: u32 = 4;
/// The keyboard controller's command port: writing 0xfe resets the VM.
pub const KBC_PORT: u16 = 0x64;
/// The 8254 PIT's first port (counters 0-2, then the control word at 0x43).
pub const PIT_PORT: u16 = 0x40;
/// System control port B (the PIT's channel 2 gate and output, the speaker).
pub const PORT_B: u16 = 0x61;
/// The RTC's index port (its data port follows).
pub const RTC_PORT: u16 = 0x70;
/// The hardware-reduced sleep control register (8 bits: SLP_TYP in bits 2-4, SLP_EN
/// bit 5); the sleep status register follows it.
pub const SLEEP_CONTROL_PORT: u16 = 0x600;
/// The hardware-reduced sleep status register (WAK_STS, bit 7).
pub const SLEEP_STATUS_PORT: u16 = 0x601;
/// The PM1a control register (16 bits: SLP_TYP in bits 10-12, SLP_EN bit 13).
pub const PM1A_CNT_PORT: u16 = 0x604;
/// The reset control register the FADT names.
pub const RESET_PORT: u16 = 0xcf9;
/// The most PCI functions one VM is given (the size of its emulated configuration
/// space's function table).
pub const PCI_FUNCTIONS: usize = 8;
/// CONFIG_ADDRESS and CONFIG_DATA of the emulated configuration space (0xCF8 to 0xCFF;
/// a byte access at [`RESET_PORT`] is the reset control register).
pub const PCI_CONFIG_PORT: u16 = 0xcf8;
/// What a guest writes to [`RESET_PORT`] to reset (the FADT's RESET_VALUE).
pub const RESET_VALUE: u8 = 0x06;
/// The sleep type of S5 (soft off), as the DSDT's `\_S5` package says.
pub const SLP_TYP_S5: u8 = 5;
/// SLP_EN in the sleep control register.
pub const SLEEP_CONTROL_SLP_EN: u8 = 1 << 5;
/// Shift of SLP_TYP in the sleep control register.
pub const SLEEP_CONTROL_SLP_TYP_SHIFT: u32 = 2;
/// SLP_EN in PM1a control.
pub const PM1_CNT_SLP_EN: u16 = 1 << 13;
/// Shift of SLP_TYP in PM1a control.
pub const PM1_CNT_SLP_TYP_SHIFT: u32 = 10;

/// The doorbell GSI of shared-memory region `index` (see [`DOORBELL_TOP_GSI`]): an
/// I/O APIC pin, edge-triggered, which the guest routes by its redirection entry
/// (the DSDT gives it in the region's `_CRS`).
pub const fn doorbell_gsi(index: usize) -> u32 {
    DOORBELL_TOP_GSI.saturating_sub(index as u32)
}

/// The APIC ID of vCPU `index` of a VM whose interrupts are emulated (in direct mode,
/// LAPIC pass-through, a vCPU has its core's own APIC ID).
pub const fn virtual_apic_id(index: usize) -> u32 {
    index as u32
}

/// Every x86 VM's emulated devices: the memory-mapped ones by address, then the I/O
/// ports by port (the hypervisor's dispatch tables are built from this, in this
/// order).
pub const EMULATED: [EmulatedDevice; 11] = [
    EmulatedDevice {
        kind: DeviceKind::Doorbell,
        name: "doorbell page",
        space: Space::Mmio,
        base: DOORBELL_GPA,
        size: 0x1000,
        per_vcpu: false,
        line: None,
    },
    EmulatedDevice {
        kind: DeviceKind::IoApic,
        name: "emulated I/O APIC",
        space: Space::Mmio,
        base: IOAPIC_GPA,
        size: 0x1000,
        per_vcpu: false,
        line: None,
    },
    EmulatedDevice {
        kind: DeviceKind::LocalApic,
        name: "emulated local APIC",
        space: Space::Mmio,
        base: LAPIC_GPA,
        size: 0x1000,
        per_vcpu: false,
        line: None,
    },
    EmulatedDevice {
        kind: DeviceKind::Pit,
        name: "8254 PIT",
        space: Space::Io,
        base: PIT_PORT as u64,
        size: 4,
        per_vcpu: false,
        line: None,
    },
    EmulatedDevice {
        kind: DeviceKind::PortB,
        name: "system control port B",
        space: Space::Io,
        base: PORT_B as u64,
        size: 1,
        per_vcpu: false,
        line: None,
    },
    EmulatedDevice {
        kind: DeviceKind::KeyboardReset,
        name: "keyboard controller (reset)",
        space: Space::Io,
        base: KBC_PORT as u64,
        size: 1,
        per_vcpu: false,
        line: None,
    },
    EmulatedDevice {
        kind: DeviceKind::Rtc,
        name: "real-time clock and CMOS RAM",
        space: Space::Io,
        base: RTC_PORT as u64,
        size: 2,
        per_vcpu: false,
        line: None,
    },
    EmulatedDevice {
        kind: DeviceKind::Uart16550,
        name: "emulated 16550 (COM1)",
        space: Space::Io,
        base: COM1_PORT as u64,
        size: 8,
        per_vcpu: false,
        line: Some(COM1_GSI),
    },
    EmulatedDevice {
        kind: DeviceKind::SleepControl,
        name: "ACPI sleep control and status",
        space: Space::Io,
        base: SLEEP_CONTROL_PORT as u64,
        size: 2,
        per_vcpu: false,
        line: None,
    },
    EmulatedDevice {
        kind: DeviceKind::Pm1aControl,
        name: "ACPI PM1a control",
        space: Space::Io,
        base: PM1A_CNT_PORT as u64,
        size: 2,
        per_vcpu: false,
        line: None,
    },
    EmulatedDevice {
        kind: DeviceKind::ResetControl,
        name: "reset control",
        space: Space::Io,
        base: RESET_PORT as u64,
        size: 1,
        per_vcpu: false,
        line: None,
    },
];

/// The limits that differ from aarch64's, for the docs (the architecture-independent
/// ones are in [`super::LIMITS`]).
pub const LIMITS: [super::Limit; 5] = [
    super::Limit {
        what: "bytes of a VM's RAM (from guest-physical 0)",
        max: GUEST_RAM_LIMIT,
        key: "`[[vm]] memory`",
    },
    super::Limit {
        what: "guest-physical address bits",
        max: GPA_BITS as u64,
        key: "`devices`, `peers.ipa`",
    },
    super::Limit {
        what: "highest device GSI a VM receives",
        max: DEVICE_GSIS as u64 - 1,
        key: "`[[vm]] devices` (board `[[device]] irqs`)",
    },
    super::Limit {
        what: "bytes of a VM's command line",
        max: CMDLINE_MAX as u64,
        key: "`[[vm]] bootargs`",
    },
    super::Limit {
        what: "bytes of a VM's boot data (start info, memory map, command line, ACPI)",
        max: BOOT_DATA_MAX,
        key: "`[[vm]] bootargs`, `devices`, `[[shared-memory]]`",
    },
];

/// The tables of docs/scenario.md for x86_64 ("Limits" and "What a VM sees").
pub fn render_markdown(out: &mut dyn core::fmt::Write) -> core::fmt::Result {
    writeln!(out, "| limit (x86_64) | at most | set by |")?;
    writeln!(out, "|---|---:|---|")?;
    for l in &LIMITS {
        write!(out, "| {} | ", l.what)?;
        match l.max {
            m if m >= 1 << 30 && m % (1 << 30) == 0 => write!(out, "{} GiB", m >> 30)?,
            m if m >= 64 << 10 && m % (1 << 10) == 0 => write!(out, "{} KiB", m >> 10)?,
            m => write!(out, "{m}")?,
        }
        writeln!(out, " | {} |", l.key)?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "| emulated device (x86_64) | address or port | size | GSI |"
    )?;
    writeln!(out, "|---|---|---|---|")?;
    for d in &EMULATED {
        write!(out, "| {} | ", d.name)?;
        match d.space {
            Space::Mmio => {
                super::hex_grouped(out, d.base)?;
                write!(out, " | {} KiB", d.size >> 10)?;
            }
            Space::Io => write!(out, "port 0x{:04x} | {} port", d.base, d.size)?,
        }
        if d.space == Space::Io && d.size > 1 {
            write!(out, "s")?;
        }
        match d.line {
            Some(g) => writeln!(out, " | {g} |")?,
            None => writeln!(out, " | - |")?,
        }
    }
    Ok(())
}

/// Where GRUB loads the hypervisor (its Multiboot2 ELF is linked there): the first
/// RAM bank must hold it, and the hypervisor's memory starts there.
pub const HV_LOAD: u64 = 0x20_0000;
/// `[hypervisor] memory` when the scenario does not say.
pub const HV_DEFAULT_MEMORY: u64 = 32 << 20;
/// One CPU's stack, with its guard page.
pub const HV_STACK_SIZE: u64 = (16 << 10) + 0x1000;
/// Stacks in the image: one per CPU.
pub const HV_STACKS: u64 = MAX_CPUS as u64;
/// The page-table pool (the hypervisor's and every VM's EPT/NPT), with the per-CPU
/// VMXON and host-save pages.
pub const HV_POOL_SIZE: u64 = 2 << 20;
/// What the validator reserves for the hypervisor's code and data, next to the guest
/// images it embeds.
pub const HV_CODE_ALLOWANCE: u64 = 1 << 20;

/// The hypervisor's memory needs beyond the guest images it embeds.
pub const fn hv_fixed_size() -> u64 {
    HV_CODE_ALLOWANCE + HV_STACK_SIZE * HV_STACKS + HV_POOL_SIZE
}

// The map is ordered, and the doorbells are GSIs the I/O APIC has, above every
// device GSI and COM1's.
const _: () = assert!(GUEST_RAM_LIMIT <= SHM_WINDOW_GPA && SHM_WINDOW_END <= DOORBELL_GPA);
const _: () = assert!(PCI_ECAM_GPA + PCI_ECAM_SIZE <= DOORBELL_GPA);
const _: () = assert!(PCI_ECAM_GPA + PCI_ECAM_SIZE <= PCI_MMIO_WINDOWS[0].0);
const _: () = assert!(PCI_MMIO_WINDOWS[0].1 <= DOORBELL_GPA);
const _: () = assert!(DOORBELL_GPA + 0x1000 <= PCI_MMIO_WINDOWS[1].0);
const _: () = assert!(PCI_MMIO_WINDOWS[1].1 <= IOAPIC_GPA);
const _: () = assert!(DOORBELL_GPA < IOAPIC_GPA && IOAPIC_GPA < LAPIC_GPA);
const _: () = assert!(LAPIC_GPA + 0x1000 <= GPA_LIMIT);
const _: () = assert!(doorbell_gsi(super::MAX_SHARED_REGIONS - 1) >= DEVICE_GSIS);
const _: () = assert!(COM1_GSI < DEVICE_GSIS && DOORBELL_TOP_GSI < IOAPIC_PINS);
const _: () = assert!(LOW_RAM_END <= BOOT_DATA_GPA && BOOT_DATA_GPA < KERNEL_MIN_GPA);
const _: () = assert!(HV_LOAD >= KERNEL_MIN_GPA);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulated_devices_are_sorted_and_disjoint_per_space() {
        for w in EMULATED.windows(2) {
            if w[0].space == w[1].space {
                let end = w[0].base + w[0].size;
                assert!(end <= w[1].base, "{} overlaps {}", w[0].name, w[1].name);
            } else {
                assert_eq!((w[0].space, w[1].space), (Space::Mmio, Space::Io));
            }
        }
        for d in EMULATED.iter().filter(|d| d.space == Space::Mmio) {
            assert!(d.base >= SHM_WINDOW_END && d.base + d.size <= GPA_LIMIT);
        }
        for d in EMULATED.iter().filter(|d| d.space == Space::Io) {
            assert!(d.base + d.size <= 0x1_0000, "{}", d.name);
        }
    }

    #[test]
    fn the_reset_stub_writes_the_reset_register_below_1_mib_after_the_boot_data() {
        // mov dx, imm16 (BA iw); mov al, imm8 (B0 ib); out dx, al (EE); hlt; jmp -3.
        assert_eq!(RESET_STUB[0], 0xba);
        assert_eq!(
            u16::from_le_bytes([RESET_STUB[1], RESET_STUB[2]]),
            RESET_PORT
        );
        assert_eq!(&RESET_STUB[3..6], &[0xb0, RESET_VALUE, 0xee]);
        assert_eq!(
            &RESET_STUB[6..],
            &[0xf4, 0xeb, 0xfd],
            "hlt, then back to it"
        );
        // F000:FFF0, and the whole stub in the reserved range below the kernel.
        assert_eq!(RESET_STUB_GPA, (0xf000 << 4) + 0xfff0);
        assert!(RESET_STUB_GPA + RESET_STUB.len() as u64 <= KERNEL_MIN_GPA);
        assert_eq!(BOOT_DATA_GPA + BOOT_DATA_MAX, RESET_STUB_GPA);
    }

    #[test]
    fn doorbells_count_down_from_the_top_pin() {
        assert_eq!(doorbell_gsi(0), 47);
        assert_eq!(doorbell_gsi(15), 32);
        assert_eq!(virtual_apic_id(3), 3);
    }
}
