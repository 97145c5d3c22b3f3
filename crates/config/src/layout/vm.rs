//! Placing one VM: its host RAM, its images, its devices, and the checks on its
//! guest-physical map.

use super::{boot, first_fit, guest, BLOCK, IPA_LIMIT, VUART_IPA};
use super::{FLASH_BANK_SIZE, FLASH_IPA};
use crate::coloring::Coloring;
use crate::contract::{x86_64 as x86, Arch};
use crate::diag::Diagnostic;
use crate::image::{self, Kind, Placed};
use crate::load::Inputs;
use crate::plan::{DevicePlan, ImagePlan, VmPlan};
use crate::schema::{
    CounterOffsetSpec, FormatSpec, KindSpec, ModeSpec, RestartSpec, TrustSpec, VmSpec,
};
use crate::size::{align_up, hex, human, overlaps, range, within, PAGE};
use crate::tables::{
    CounterOffset, DirectTrust, InterruptMode, RamMap, RestartPolicy, VmKind, LOW_PRIVATE,
};
use rtvisor_addr::{Hpa, Ipa};
use std::ops::Range;

pub(super) fn place_vm(
    inp: &Inputs,
    vm: &VmSpec,
    colored: Option<(u64, Coloring)>,
    banks: &[(u64, u64)],
    taken: &mut Vec<(u64, u64)>,
    out: &mut Vec<Diagnostic>,
) -> Option<VmPlan> {
    let src = &inp.scenario_src;
    let n = vm.name.get_ref();
    let mem = &vm.memory;
    let size = mem.size.get_ref().0;
    let arch = inp.board.arch();
    if size == 0
        || !size.is_multiple_of(BLOCK)
        || (arch == Arch::X86_64 && size > x86::GUEST_RAM_LIMIT)
    {
        return None; // reported by validate
    }
    let x86_identity = arch == Arch::X86_64 && mem.identity;
    // An identity-mapped x86_64 VM: its RAM from 1 MiB is the host's (reserved in
    // `resolve`), its first MiB private pages of their own.
    let low = match x86_identity {
        true => Some(super::identity::low(inp, vm, banks, taken, out)?),
        false => None,
    };
    let hpa = match (&mem.base, colored) {
        _ if x86_identity => 0,
        // In the colored area, which `colored::place` took from the banks.
        (_, Some((first, _))) => first,
        (Some(b), None) => *b.get_ref(),
        (None, None) => {
            let Some(at) = first_fit(banks, taken, size, BLOCK) else {
                let msg = format!(
                    "no room for the {} of VM `{n}` in the board's RAM",
                    human(size)
                );
                let hint =
                    "give it less memory, or the others less; `rtvisor check` prints the map"
                        .to_owned();
                out.push(src.diag(mem.size.span(), msg, hint));
                return None;
            };
            taken.push((at, size));
            at
        }
    };
    let host = match x86_identity {
        true => (LOW_PRIVATE, size.saturating_sub(LOW_PRIVATE)),
        false => (hpa, size),
    };
    let in_bank = banks.iter().any(|&(b, s)| within(host.0, host.1, b, s));
    if colored.is_none() && (hpa % BLOCK != 0 || !in_bank) {
        return None; // reported by validate
    }
    let ipa = match arch {
        Arch::Aarch64 if mem.identity => hpa,
        // x86_64 RAM starts at 0 either way; identity shows in `RamMap::low`.
        _ => guest::ram_base(arch),
    };
    if arch == Arch::Aarch64 && mem.base.is_none() && ipa.saturating_add(size) > IPA_LIMIT {
        // Placed automatically in a high bank (a fixed base is reported by validate).
        let span = mem.size.span();
        out.push(crate::validate::limits::beyond_ipa(
            inp, vm, ipa, size, span,
        ));
        return None;
    }
    let kernel_spec = &vm.kernel;
    let kernel_path = src.resolve(kernel_spec.path.get_ref());
    // A missing file, or one that is not a regular file (a directory, /dev/zero), is
    // reported by validate; never read the latter.
    let file = std::fs::read(kernel_path.is_file().then_some(&kernel_path)?).ok()?;
    let format = kernel_spec
        .format
        .as_ref()
        .map_or(FormatSpec::Auto, |f| *f.get_ref());
    if arch == Arch::X86_64 && format == FormatSpec::LinuxImage {
        return None; // refused at its key by validate::arch
    }
    if let Some(c) = image::contradiction(format, &file).filter(|_| arch == Arch::Aarch64) {
        let span = kernel_spec
            .format
            .as_ref()
            .map_or(kernel_spec.path.span(), |f| f.span());
        let msg = format!(
            "kernel image `{}` of VM `{n}` {}",
            kernel_spec.path.get_ref(),
            c.message
        );
        out.push(src.warn(span, msg, c.hint));
    }
    let placed = match arch {
        Arch::Aarch64 => image::place(format, file, ipa, size),
        Arch::X86_64 => crate::image_x86::place(format, file, ipa, size),
    };
    let placed: Placed = match placed {
        Ok(p) => p,
        Err(e) => {
            let msg = format!(
                "kernel image `{}` of VM `{n}` {}",
                kernel_spec.path.get_ref(),
                e.message
            );
            out.push(src.diag(kernel_spec.path.span(), msg, e.hint));
            return None;
        }
    };
    if placed.kind == Kind::Headerless {
        if let Some(w) = link_address(inp, vm, &kernel_path, placed.load, (ipa, size)) {
            out.push(w);
        }
    }
    let initrd_file = match &vm.initrd {
        None => None,
        Some(rel) => {
            let path = src.resolve(rel.get_ref());
            Some((
                rel,
                path.clone(),
                std::fs::read(path.is_file().then_some(&path)?).ok()?,
            ))
        }
    };
    let initrd_len = initrd_file.as_ref().map(|(_, _, b)| b.len() as u64);
    let dtb_at = vm.dtb_ipa.as_ref().map(|d| *d.get_ref());
    let boot = match arch {
        Arch::Aarch64 => boot::place(ipa, size, &placed, initrd_len, dtb_at),
        Arch::X86_64 => boot::place_x86(ipa, size, &placed, initrd_len),
    };
    let boot = match boot {
        Ok(b) => b,
        Err(m) => {
            out.push(misfit(inp, vm, m, (ipa, size), initrd_len.unwrap_or(0)));
            return None;
        }
    };
    let initrd = initrd_file
        .zip(boot.initrd)
        .map(|((_, path, bytes), load)| ImagePlan {
            path,
            format: None,
            bytes,
            load: Ipa::new(load),
        });
    let dtb_ipa = boot.dtb;
    let flash = match arch {
        Arch::Aarch64 => flash_images(inp, vm, out)?,
        Arch::X86_64 => [None, None], // QEMU virt's flash; x86 VMs have none
    };
    let mut devices = devices(inp, vm);
    let pcie = crate::pcie::plans(inp, vm);
    for (p, span) in &pcie {
        devices.extend(p.device_plans().into_iter().map(|d| (d, span.clone())));
    }
    ipa_clashes(inp, vm, ipa, size, &devices, out);
    let devices = devices.into_iter().map(|(d, _)| d).collect();
    let pcie = pcie.into_iter().map(|(p, _)| p).collect();
    let pci = crate::pcie::functions(inp, vm);
    Some(VmPlan {
        name: n.clone(),
        kind: match vm.kind.get_ref() {
            KindSpec::Rt => VmKind::Rt,
            KindSpec::General => VmKind::General,
        },
        cpus: vm.cpus.get_ref().iter().map(|c| *c.get_ref()).collect(),
        ram: RamMap {
            ipa: Ipa::new(ipa),
            hpa: Hpa::new(hpa),
            size,
            colors: colored.map(|(_, c)| c),
            low: low.map(Hpa::new),
        },
        kernel: ImagePlan {
            path: kernel_path,
            format: Some(match placed.kind {
                Kind::Elf => FormatSpec::Elf,
                Kind::Image => FormatSpec::LinuxImage,
                Kind::Headerless => FormatSpec::Raw,
            }),
            bytes: placed.bytes,
            load: Ipa::new(placed.load),
        },
        initrd,
        dtb: Vec::new(),
        dtb_ipa: Ipa::new(dtb_ipa),
        dtb_room: boot.dtb_room,
        entry: Ipa::new(placed.entry),
        uart: Ipa::new(match arch {
            Arch::Aarch64 => VUART_IPA,
            // On x86_64 the tables' `uart` is COM1's first I/O port.
            Arch::X86_64 => u64::from(x86::COM1_PORT),
        }),
        interrupt_mode: match vm.interrupt_mode.as_ref().map(|m| *m.get_ref()) {
            Some(ModeSpec::Direct) => InterruptMode::Direct,
            _ => InterruptMode::Virtual,
        },
        direct_trust: match vm.direct_trust.as_ref().map(|t| *t.get_ref()) {
            Some(TrustSpec::Trusted) => DirectTrust::Trusted,
            _ => DirectTrust::Untrusted,
        },
        restart: match vm.restart {
            RestartSpec::Never => RestartPolicy::Never,
            RestartSpec::OnCrash => RestartPolicy::OnCrash,
            RestartSpec::Always => RestartPolicy::Always,
        },
        devices,
        pcie,
        pci_windows: match pci.is_empty() {
            true => Vec::new(),
            false => crate::contract::x86_64::PCI_MMIO_WINDOWS
                .iter()
                .map(|&(base, end)| (base, end - base))
                .collect(),
        },
        pci,
        shared: Vec::new(),
        bootargs: vm.bootargs.as_ref().map(|b| b.get_ref().clone()),
        console: vm
            .console
            .as_ref()
            .unwrap_or(&inp.scenario.hypervisor.console)
            .get_ref()
            .clone(),
        flash,
        counter_offset: match vm.counter_offset {
            CounterOffsetSpec::Zero => CounterOffset::Zero,
            CounterOffsetSpec::VmStart => CounterOffset::VmStart,
        },
    })
}

/// The files a VM's flash banks start with, each at most a bank.
fn flash_images(
    inp: &Inputs,
    vm: &VmSpec,
    out: &mut Vec<Diagnostic>,
) -> Option<[Option<ImagePlan>; 2]> {
    let src = &inp.scenario_src;
    let Some(spec) = &vm.flash else {
        return Some([None, None]);
    };
    let mut banks = [None, None];
    let mut ok = true;
    for (b, rel) in [&spec.bank0, &spec.bank1].into_iter().enumerate() {
        let Some(rel) = rel else { continue };
        let path = src.resolve(rel.get_ref());
        let load = FLASH_IPA + b as u64 * FLASH_BANK_SIZE;
        // Never read what is not a regular file (a directory, /dev/zero).
        let read = match path.is_file() {
            true => std::fs::read(&path).map_err(|e| e.to_string()),
            false => Err("it is not a file".to_owned()),
        };
        match read {
            Ok(bytes) if bytes.len() as u64 <= FLASH_BANK_SIZE => {
                banks[b] = Some(ImagePlan {
                    path,
                    format: None,
                    bytes,
                    load: Ipa::new(load),
                });
            }
            Ok(bytes) => {
                let msg = format!(
                    "flash bank{b} image `{}` of VM `{}` ({}) is larger than the bank ({})",
                    rel.get_ref(),
                    vm.name.get_ref(),
                    human(bytes.len() as u64),
                    human(FLASH_BANK_SIZE)
                );
                out.push(src.diag(rel.span(), msg, "use a file of at most 64 MiB".into()));
                ok = false;
            }
            Err(e) => {
                let msg = format!(
                    "flash bank{b} image `{}` of VM `{}` cannot be read: {e}",
                    rel.get_ref(),
                    vm.name.get_ref()
                );
                let hint = format!(
                    "looked for {}; paths are relative to the scenario file",
                    path.display()
                );
                out.push(src.diag(rel.span(), msg, hint));
                ok = false;
            }
        }
    }
    ok.then_some(banks)
}

/// The diagnostic for an initrd or device tree that does not fit.
fn misfit(
    inp: &Inputs,
    vm: &VmSpec,
    m: boot::Misfit,
    (ram, size): (u64, u64),
    initrd_len: u64,
) -> Diagnostic {
    let src = &inp.scenario_src;
    let n = vm.name.get_ref();
    let kernel = &vm.kernel.path;
    let more = |need: u64| format!("give the VM at least {} of memory", human(need));
    match m {
        boot::Misfit::Initrd { load, limit } => {
            let rel = vm.initrd.as_ref().unwrap_or(kernel);
            let msg = format!(
                "initrd `{}` of VM `{n}` ({}) does not fit in its RAM at {} (free: {})",
                rel.get_ref(),
                human(initrd_len),
                hex(load),
                range(load, limit.saturating_sub(load))
            );
            let need = (load + initrd_len + (ram + size - limit) - ram).div_ceil(BLOCK) * BLOCK;
            src.diag(rel.span(), msg, more(need))
        }
        boot::Misfit::NoDtbRoom { at } => {
            let msg = format!(
                "kernel image `{}` of VM `{n}` leaves no room for the device tree, which QEMU's \
                 rules put at {} (RAM ends at {})",
                kernel.get_ref(),
                hex(at),
                hex(ram + size)
            );
            let need = (at + BLOCK - ram).div_ceil(BLOCK) * BLOCK;
            let hint = format!("{}, or place it with `dtb-ipa`", more(need));
            src.diag(kernel.span(), msg, hint)
        }
        boot::Misfit::BadDtbIpa(why) => {
            let span = vm.dtb_ipa.as_ref().map_or(vm.name.span(), |d| d.span());
            let at = vm.dtb_ipa.as_ref().map_or(0, |d| *d.get_ref());
            let msg = format!("dtb-ipa {} of VM `{n}` {why}", hex(at));
            let hint = "put the device tree in free RAM of the VM, 8-byte aligned (`rtvisor \
                        check` prints where the image and initrd go)"
                .to_owned();
            src.diag(span, msg, hint)
        }
    }
}

/// A raw binary runs only where it was linked, and the file does not say where that
/// is. When the ELF it was made from lies beside it (`k.elf` next to `k.bin`, as
/// `cargo xtask build` leaves the guests), the link address is known: a warning when
/// the image is loaded elsewhere (typically an identity-mapped VM, whose RAM is at
/// its host address, not at 0x4000_0000).
fn link_address(
    inp: &Inputs,
    vm: &VmSpec,
    path: &std::path::Path,
    load: u64,
    (ram, ram_size): (u64, u64),
) -> Option<Diagnostic> {
    let elf_path = path.with_extension("elf");
    if elf_path == path || !elf_path.is_file() {
        return None;
    }
    let bytes = std::fs::read(&elf_path).ok()?;
    let elf = crate::elf::parse(&bytes).ok()?;
    let linked = elf.low();
    if elf.segments.is_empty() || linked == load {
        return None;
    }
    let spec = &vm.kernel.path;
    let elf_name = elf_path.file_name()?.to_string_lossy();
    let msg = format!(
        "raw image `{}` of VM `{}` is loaded at IPA {}, but `{elf_name}` beside it is linked \
         at {}",
        spec.get_ref(),
        vm.name.get_ref(),
        hex(load),
        hex(linked)
    );
    let ram_note = match vm.memory.identity {
        true => "identity-mapped at",
        false => "at",
    };
    let fix = if within(linked, elf.high() - linked, ram, ram_size) {
        format!("use the ELF instead: path = \"{elf_name}\", format = \"elf\"")
    } else {
        format!("link the guest for {}", hex(load))
    };
    let hint = format!(
        "a raw binary runs only where it was linked, and this VM's RAM is {ram_note} {}; {fix}",
        range(ram, ram_size)
    );
    Some(inp.scenario_src.warn(spec.span(), msg, hint))
}

/// The VM's devices that exist on the board, with the span that names each.
fn devices(inp: &Inputs, vm: &VmSpec) -> Vec<(DevicePlan, Range<usize>)> {
    vm.devices
        .iter()
        .filter_map(|name| {
            let d = inp
                .board
                .device
                .iter()
                .find(|d| d.name.get_ref() == name.get_ref())?;
            Some((d, name.span()))
        })
        .map(|(d, span)| {
            let (base, size) = (*d.base.get_ref(), d.size.get_ref().0);
            let page_base = base & !(PAGE - 1);
            let page_end = align_up(base.saturating_add(size), PAGE).unwrap_or(!(PAGE - 1));
            let plan = DevicePlan {
                name: d.name.get_ref().clone(),
                compatible: d.compatible.0.clone(),
                base: Hpa::new(base),
                size,
                page_base: Hpa::new(page_base),
                page_size: page_end - page_base,
                irqs: d.irqs.iter().map(|i| *i.get_ref()).collect(),
                trigger: d.irq_trigger,
                dma_coherent: d.dma_coherent,
                bridge: None,
            };
            (plan, span)
        })
        .collect()
}

/// The emulated devices in a VM's guest-physical map (the contract's table): (what,
/// base, size).
pub(super) fn emulated(arch: Arch, ncpu: u64) -> Vec<(String, u64, u64)> {
    guest::emulated(arch, ncpu)
}

/// A VM's guest-physical map must not put two things at one address.
fn ipa_clashes(
    inp: &Inputs,
    vm: &VmSpec,
    ipa: u64,
    size: u64,
    devs: &[(DevicePlan, Range<usize>)],
    out: &mut Vec<Diagnostic>,
) {
    let n = vm.name.get_ref();
    let fixed = emulated(inp.board.arch(), vm.cpus.get_ref().len() as u64);
    let mem = &vm.memory;
    for (what, b, s) in &fixed {
        let (b, s) = (*b, *s);
        if overlaps(ipa, size, b, s) {
            let msg = format!(
                "RAM of VM `{n}` at IPA {} overlaps {what} at {}",
                range(ipa, size),
                hex(b)
            );
            let hint = "an identity-mapped VM needs host RAM away from the emulated devices; pick another `base`".to_owned();
            out.push(inp.scenario_src.diag(
                mem.base.as_ref().map_or(mem.size.span(), |b| b.span()),
                msg,
                hint,
            ));
        }
    }
    let mut taken = fixed;
    taken.push(("its RAM".to_owned(), ipa, size));
    for (d, span) in devs {
        let (db, ds) = (d.page_base.raw(), d.page_size);
        if let Some((what, b, _)) = taken.iter().find(|&&(_, b, s)| overlaps(db, ds, b, s)) {
            let msg = format!(
                "device `{}` of VM `{n}` (IPA {}) overlaps {what} at {}",
                d.name,
                range(db, ds),
                hex(*b)
            );
            let hint = "devices are mapped at their host addresses; this one cannot be passed through to this VM".to_owned();
            out.push(inp.scenario_src.diag(span.clone(), msg, hint));
        }
    }
}
