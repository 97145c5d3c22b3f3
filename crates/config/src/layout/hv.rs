//! The hypervisor's own memory: where it goes (the first RAM bank + 2 MiB, where a
//! boot loader puts the image, or the scenario's `[hypervisor] memory.base`), and whether the image fits there once it embeds every
//! VM's kernel, initrd and device tree.

use super::guest;
use crate::contract::aarch64::HV_FLASH_POOL_PER_VM;
use crate::diag::Diagnostic;
use crate::load::Inputs;
use crate::plan::{HypervisorPlan, Plan, UartPlan};
use crate::schema::{BoardFile, LogLevelSpec, ScenarioFile};
use crate::size::{align_up, human, MIB};
use crate::tables::{HvPages, LogLevel, MemRegion};
use rtvisor_addr::Hpa;

/// The hypervisor's region: `[hypervisor] memory.base`, by default the first RAM bank
/// base + 2 MiB (on x86_64 0x20_0000, where its ELF is linked and GRUB loads it), and
/// `[hypervisor] memory.size`. `None` when the board has no usable first bank (empty, or running past the end of
/// the address space): the board rules report that, and no rule may derive another
/// error from it.
pub(crate) fn hv_region(board: &BoardFile, s: &ScenarioFile) -> Option<(u64, u64)> {
    let bank = board.ram.first()?;
    let bank_size = bank.size.get_ref().0;
    if bank_size == 0 || bank.base.get_ref().checked_add(bank_size).is_none() {
        return None;
    }
    let arch = board.arch();
    let mem = s.hypervisor.memory.as_ref();
    let size = mem.map_or(guest::hv_default_memory(arch), |m| m.size.get_ref().0);
    let fixed = mem.and_then(|m| m.base.as_ref()).map(|b| *b.get_ref());
    let base = match (arch, fixed) {
        (_, Some(b)) => b,
        (_, None) => guest::hv_base(arch, *bank.base.get_ref())?,
    };
    Some((base, size))
}

/// The hypervisor's settings, once its console UART is known to exist.
pub(super) fn hypervisor(
    inp: &Inputs,
    (base, size): (u64, u64),
    tables: Option<HvPages>,
) -> Option<HypervisorPlan> {
    let name = inp.scenario.hypervisor.console.get_ref();
    let uart = inp.board.uart.iter().find(|u| u.name.get_ref() == name)?;
    Some(HypervisorPlan {
        memory: MemRegion {
            base: Hpa::new(base),
            size,
        },
        text_offset: inp
            .board
            .ram
            .first()
            .map_or(0, |b| base.saturating_sub(*b.base.get_ref())),
        log_level: match inp.scenario.hypervisor.log_level {
            LogLevelSpec::Error => LogLevel::Error,
            LogLevelSpec::Warn => LogLevel::Warn,
            LogLevelSpec::Info => LogLevel::Info,
            LogLevelSpec::Debug => LogLevel::Debug,
        },
        console: UartPlan {
            name: name.clone(),
            base: Hpa::new(uart.base.as_ref().map_or(0, |b| *b.get_ref())),
            size: uart.size.as_ref().map_or(0, |s| s.get_ref().0),
            port: uart.port.as_ref().map(|p| *p.get_ref()),
            irq: *uart.irq.get_ref(),
        },
        board_cpus: inp.board.cpu.len() as u32,
        board_mpidrs: inp
            .board
            .cpu
            .iter()
            .filter_map(|c| Some(*c.mpidr.as_ref()?.get_ref()))
            .collect(),
        board_apic_ids: inp
            .board
            .cpu
            .iter()
            .filter_map(|c| Some(*c.apic_id.as_ref()?.get_ref()))
            .collect(),
        console_input: inp
            .scenario
            .hypervisor
            .console_input
            .as_ref()
            .and_then(|name| {
                inp.scenario
                    .vm
                    .iter()
                    .position(|v| v.name.get_ref() == name.get_ref())
            }),
        semihosting: inp.board.qemu.as_ref().is_some_and(|q| q.semihosting),
        accounting: inp.scenario.hypervisor.accounting,
        shell: inp
            .scenario
            .hypervisor
            .shell
            .as_ref()
            .is_none_or(|s| *s.get_ref()),
        tables,
    })
}

/// What the hypervisor image needs: every embedded blob plus its fixed part (code and
/// data allowance, stacks, translation tables, each VM's flash page pool; see the
/// machine contract).
pub fn image_estimate(plan: &Plan) -> (u64, u64) {
    let blobs: u64 = plan
        .vms
        .iter()
        .map(|vm| {
            let initrd = vm.initrd.as_ref().map_or(0, |i| i.bytes.len());
            let flash: usize = vm.flash.iter().flatten().map(|f| f.bytes.len()).sum();
            (vm.kernel.bytes.len() + initrd + vm.dtb.len() + flash) as u64
        })
        .sum();
    // The flash pools are aarch64's (QEMU virt's flash); x86 VMs have none.
    let pools = match plan.arch {
        crate::contract::Arch::Aarch64 => HV_FLASH_POOL_PER_VM * plan.vms.len() as u64,
        crate::contract::Arch::X86_64 => 0,
    };
    (blobs, guest::hv_fixed_size(plan.arch) + pools)
}

/// The hypervisor's memory holds its image, which embeds the guests: otherwise the
/// image runs into the first VM's RAM (or the hypervisor stops at boot).
pub(super) fn image_fits(inp: &Inputs, plan: &Plan, out: &mut Vec<Diagnostic>) {
    let (blobs, fixed) = image_estimate(plan);
    let need = blobs.saturating_add(fixed);
    let have = plan.hypervisor.memory.size;
    if need <= have {
        return;
    }
    let src = &inp.scenario_src;
    let msg = format!(
        "the hypervisor's memory ({}) cannot hold its image: about {:.1} MiB (the VMs' \
         kernels, initrds, device trees and flash images it embeds: {:.1} MiB; its code, \
         stacks, page tables and flash pools: {:.1} MiB)",
        human(have),
        need as f64 / MIB as f64,
        blobs as f64 / MIB as f64,
        fixed as f64 / MIB as f64
    );
    let up = align_up(need, 2 * MIB).unwrap_or(need);
    let hint = format!(
        "set memory = {{ size = \"{}MiB\" }} in [hypervisor] (a multiple of 2 MiB)",
        up / MIB
    );
    let at = match &inp.scenario.hypervisor.memory {
        Some(m) => m.size.span(),
        None => header(&src.text, "[hypervisor]")
            .unwrap_or_else(|| inp.scenario.hypervisor.console.span()),
    };
    out.push(src.diag(at, msg, hint));
}

/// The span of a table header line, e.g. `[hypervisor]`.
fn header(text: &str, name: &str) -> Option<std::ops::Range<usize>> {
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if line.trim_start().starts_with(name) {
            let start = at + (line.len() - line.trim_start().len());
            return Some(start..start + name.len());
        }
        at += line.len();
    }
    None
}
