//! String port I/O of a vCPU (INS, OUTS, with or without REP): the exit's
//! [`StringIo`] is stepped element by element, at most [`MAX_PER_EXIT`] per exit
//! (the guest runs the instruction again for the rest), each element one port access
//! adapted and handled exactly as a plain IN or OUT of that value would be (so a
//! string written to COM1 is printed, and power ports act). The data comes from, or
//! goes to, the VM's RAM at RSI or RDI, linear addresses translated through the
//! guest's own page tables when it pages, as the RIP of a faulting MOV is
//! (`rtvisor_arch_x86_64::gwalk`, `rtvisor_arch_x86_64::strio`). An element outside
//! the VM's RAM, not mapped, or across a page boundary of a paging guest injects
//! #GP(0) there, with the registers moved past the elements done, as the CPU itself
//! would fault (a CPU would take the page-crossing element and give #PF for an
//! unmapped one: neither reaches outside the VM).

use super::world::{read_u64, Resume, Seat};
use crate::{run, vms};
use rtvisor_addr::Ipa;
use rtvisor_arch_x86_64::adapt::{adapt, Adapted};
use rtvisor_arch_x86_64::answer::Resume as _;
use rtvisor_arch_x86_64::engines::Engine;
use rtvisor_arch_x86_64::exit::{Decoded, RawExit, GP};
use rtvisor_arch_x86_64::insn::Code;
use rtvisor_arch_x86_64::irq::FreshStack;
use rtvisor_arch_x86_64::regs::Gprs;
use rtvisor_arch_x86_64::strio::{StringIo, StringRegs, MAX_PER_EXIT};
use rtvisor_arch_x86_64::vcpu::VcpuEngine;
use rtvisor_arch_x86_64::{gwalk, memory};
use rtvisor_config::contract::x86_64::virtual_apic_id;
use rtvisor_core::exit::VcpuExit;
use rtvisor_core::seam::{ArchVcpu, CallError, Fault, Reply, VcpuStart};

/// CR0.PG: the vCPU pages.
const CR0_PG: u64 = 1 << 31;

/// One element's port access as the core answers it: the value an IN loaded.
#[derive(Debug, Default)]
struct Element {
    loaded: Option<u64>,
}

impl ArchVcpu for Element {
    type Entry = FreshStack;

    fn skip(&mut self) {}
    fn set_return(&mut self, _r: Result<Reply, CallError>) {}
    fn complete_load(&mut self, value: u64) {
        self.loaded = Some(value);
    }
    fn inject(&mut self, _fault: Fault) {}
    fn enter(entry: FreshStack, start: &VcpuStart) -> ! {
        Resume::resume(entry, start)
    }
}

/// Steps string I/O `s` (exit `d`) of the vCPU of `seat` on `engine`.
pub(super) fn step(seat: Seat, engine: &mut Engine, d: Decoded, s: StringIo) {
    // The default address size is the code's: 8 bytes in 64-bit mode only (a
    // compatibility-mode INS/OUTS uses ESI/EDI, whatever RSI's upper half holds).
    let s = s.in_mode(engine.code() == Code::Bits64);
    let g = *engine.gprs();
    let regs = StringRegs {
        rsi: g.rsi,
        rdi: g.rdi,
        rcx: g.rcx,
        rflags: engine.rflags(),
    };
    let plan = s.plan(&regs, MAX_PER_EXIT);
    let ram = vms::cfg(seat.vm).ram;
    let paging = engine.paging();
    let width = s.width as u64;
    let mut done = 0;
    while done < plan.count {
        let at = s.address(&regs, done);
        if paging.cr0 & CR0_PG != 0 && (at & 0xfff) + width > 0x1000 {
            break;
        }
        let Some(gpa) = gwalk::translate(paging, at, |a| read_u64(seat.vm, a)) else {
            break;
        };
        let Some((hpa, n)) = ram.piece(Ipa::new(gpa), width).filter(|&(_, n)| n >= width) else {
            break;
        };
        let _ = n;
        let mut bytes = [0u8; 4];
        let bytes = &mut bytes[..width as usize];
        if s.write {
            // SAFETY: `hpa..hpa+width` is RAM of this VM (`piece`), mapped by the
            // hypervisor's identity map; it is only read.
            unsafe { memory::read(hpa.raw(), bytes) };
        }
        let mut value = [0u8; 4];
        value[..bytes.len()].copy_from_slice(bytes);
        let io = RawExit::Io {
            port: s.port,
            width: s.width,
            write: s.write,
            value: u32::from_le_bytes(value),
        };
        let loaded = element(seat, &g, io);
        if !s.write {
            let v = (loaded.unwrap_or(u64::MAX) as u32).to_le_bytes();
            // SAFETY: as above; the guest's own RAM, written as its INS would.
            unsafe { memory::write(hpa.raw(), &v[..width as usize]) };
        }
        done += 1;
    }
    let after = s.advance(&regs, done);
    let gp = engine.gprs();
    (gp.rsi, gp.rdi, gp.rcx) = (after.rsi, after.rdi, after.rcx);
    if done < plan.count {
        engine.inject(GP, Some(0));
    } else if plan.done {
        if let Some(rip) = d.next_rip {
            engine.step_to(rip);
        }
    }
}

/// One element as a plain IN or OUT `io` through the core's exit handler; the value
/// an IN loaded.
fn element(seat: Seat, g: &Gprs, io: RawExit) -> Option<u64> {
    let Seat { cpu, me, vm, vcpu } = seat;
    let e = match adapt(&io, g, None, virtual_apic_id(vcpu.index())) {
        Adapted::Exit(e) => e,
        Adapted::Own(_) => return None,
    };
    // The PCI configuration ports of a VM with PCI functions, as a plain IN or OUT
    // finds them (`world::exit`).
    if let Some(load) = super::pci::access(vm, &e) {
        return load;
    }
    let mut v = Element::default();
    run::handle(cpu, me, vm, vcpu, &mut v, e, || super::fresh_stack(cpu));
    if matches!(e, VcpuExit::Pio { .. }) {
        v.loaded
    } else {
        None
    }
}
