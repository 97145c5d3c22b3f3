//! The world-switch loop of each CPU: entering a vCPU resets the CPU's stack and
//! makes the CPU's engine (its VMCB or VMCS) afresh for the vCPU's start state; each
//! exit is adapted to the core's exit (`rtvisor_arch_x86_64::adapt`) and handed to
//! `run::handle` with the vCPU as the core answers it (`answer::Exited`). What only
//! the x86 ABI knows is answered here: CPUID (the guest's view of the CPU,
//! `guestcpuid.rs`), EFER, and the hypervisor's own interrupts; COM1 is the core's
//! (its port table).
//!
//! A vCPU starts as its VM's boot CPU at the PVH entry (vCPU 0: 32-bit protected
//! mode, EBX the start info) or as an application processor in real mode at the page
//! of the start-up IPI that started it.

use super::guestcpuid;
use crate::percpu::{self, PerCpu};
use crate::{account, log, run, vms};
use core::sync::atomic::Ordering;
use rtvisor_addr::Ipa;
use rtvisor_arch_x86_64::adapt::{self, adapt, Adapted};
use rtvisor_arch_x86_64::answer::{self, Exited};
use rtvisor_arch_x86_64::engines::{self, Engine};
use rtvisor_arch_x86_64::exit::{AccessKind, Answer, Decoded, RawExit, GP};
use rtvisor_arch_x86_64::insn::{decode_mov, MemMov};
use rtvisor_arch_x86_64::irq::{self, FreshStack};
use rtvisor_arch_x86_64::vcpu::VcpuEngine;
use rtvisor_arch_x86_64::{entry, gwalk, light, memory, msrs};
use rtvisor_core::account::Cause;
use rtvisor_core::exit::VcpuExit;
use rtvisor_core::hypercall;
use rtvisor_core::ids::{CpuId, VcpuId, VmId};
use rtvisor_core::seam::{ArchVcpu, Reply, VcpuStart};

/// The longest x86 instruction.
const INSN_MAX: usize = 15;

/// What the loop does before the next entry after an exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Delivers the vCPU's pending interrupt (or asks for the window), as always.
    Deliver,
    /// Enters at once: nothing to deliver changed since the last delivery (the
    /// light path's CPUID, `light`), or the delivery is done already (a halted
    /// vCPU's timer wake in the accounting build, which holds before it returns).
    Enter,
    /// Holds the CPU until the host TSC reaches this deadline, then enters: the
    /// delivery is done already (a halted vCPU's early timer wake, `wake::halt`).
    Hold(u64),
}

/// How the hypervisor enters a vCPU: on this CPU's fresh stack, into [`world`].
#[derive(Debug)]
pub struct Resume;

impl answer::Resume for Resume {
    type Entry = FreshStack;

    fn resume(entry: FreshStack, start: &VcpuStart) -> ! {
        match percpu::this_cpu().and_then(percpu::of) {
            Some(me) => *me.arch.start.lock() = Some(*start),
            None => log::fatal(format_args!("vCPU entry on an unknown CPU")),
        }
        entry.run(world)
    }
}

/// The CPU, its state, and the VM and vCPU it runs: made once by the loop
/// ([`world`]) and passed by value to the functions of its exits.
#[derive(Debug, Clone, Copy)]
pub(super) struct Seat {
    pub cpu: CpuId,
    pub me: &'static PerCpu,
    pub vm: VmId,
    pub vcpu: VcpuId,
}

/// The seat of the guest this CPU runs.
fn hosted() -> Seat {
    let cpu = percpu::this_cpu();
    match cpu.and_then(|c| Some((c, percpu::of(c)?))) {
        Some((c, me)) => match me.hosts() {
            Some((vm, vcpu)) => Seat {
                cpu: c,
                me,
                vm,
                vcpu,
            },
            None => log::fatal(format_args!("cpu {c} runs a guest but hosts no vCPU")),
        },
        None => log::fatal(format_args!(
            "guest entry on cpu {}, which boot did not record",
            percpu::this_index()
        )),
    }
}

/// The loop of this CPU's vCPU, on a fresh stack: its engine, then exit after exit.
extern "C" fn world() -> ! {
    let seat = hosted();
    let Seat { cpu, me, vm, vcpu } = seat;
    let start = me.arch.start.lock().take();
    let (Some(start), Some(caps), Some(s2)) = (start, me.arch.caps.get(), vms::rt(vm).stage2.get())
    else {
        log::fatal(format_args!(
            "cpu {cpu}: vm {} vcpu {vcpu} entered without a start, an engine or tables",
            vms::cfg(vm).name
        ))
    };
    let state = if vcpu.index() == 0 {
        entry::pvh(start.entry as u32, start.arg as u32)
    } else {
        entry::sipi(start.entry)
    };
    // SAFETY: this CPU's own engine pages; the engine of its previous vCPU run lived
    // on the stack this loop was just given afresh, and is gone.
    let made = unsafe {
        engines::engine(
            cpu.index(),
            *caps,
            &s2.paging(),
            &state,
            start.counter_offset,
        )
    };
    let mut engine = made.unwrap_or_else(|e| {
        log::fatal(format_args!(
            "cpu {cpu}: vm {} vcpu {vcpu}: engine: {e:?}",
            vms::cfg(vm).name
        ))
    });
    // The accounting counts every entry: with it, every exit goes the full way.
    engine.set_light(!account::BUILT);
    let direct = super::direct::is_direct(vm);
    if direct {
        super::direct::setup(cpu, vm, &mut engine);
    }
    // The loop's light path (`light`), off where the accounting counts every entry
    // and in direct mode (whose entries look at the NMI kick first).
    let light = !account::BUILT && !direct;
    let apic_id = vms::guest_cpu_id(vm, vcpu) as u32;
    let mut next = Next::Deliver;
    loop {
        if let Next::Hold(at) = next {
            super::timers::hold(me, at);
        }
        if direct {
            super::direct::before_run(seat, &mut engine);
        } else {
            if next == Next::Deliver {
                super::guestirq::deliver(vm, vcpu, &mut engine);
            }
            engine.exit_by(super::timers::next(me));
        }
        let d = engine.run();
        if !direct {
            super::guestirq::taken(vm, vcpu, &mut engine);
        }
        next = Next::Deliver;
        if light && light_exit(&mut engine, d, apic_id) {
            next = Next::Enter;
        } else if !(direct && super::direct::exit(seat, &mut engine, d)) {
            next = exit(seat, &mut engine, d);
        }
    }
}

/// Handles exit `d` of the vCPU on `engine`; says whether the delivery before the
/// next entry is done already (a halted vCPU's timer wake, `wake::halt`, which also
/// names the deadline to hold the CPU until).
fn exit(seat: Seat, engine: &mut Engine, d: Decoded) -> Next {
    let Seat { me, vm, vcpu, .. } = seat;
    let t = account::start();
    crate::stats::exit();
    let rip = engine.rip();
    me.arch.guest_rip.store(rip, Ordering::Relaxed);
    if d.exit == RawExit::ExternalInterrupt {
        // The interrupt that exited the guest is still pending at the APIC.
        irq::window();
        super::wake::interrupted(seat, engine, d, t);
        return Next::Deliver;
    }
    if let RawExit::StringIo(s) = d.exit {
        t.count(Cause::Mmio);
        super::strio::step(seat, engine, d, s);
        t.finish(Cause::Mmio);
        return Next::Deliver;
    }
    if d.exit == RawExit::InterruptWindow {
        // The guest can take its pending interrupt: the next entry injects it.
        t.done(Cause::Trap);
        return Next::Deliver;
    }
    if let RawExit::VirtualEoi { vector } = d.exit {
        super::guestirq::virtual_eoi(vm, vcpu, vector);
        t.done(Cause::SysReg);
        return Next::Deliver;
    }
    if null_call(engine, d) {
        t.done(Cause::Call);
        return Next::Deliver;
    }
    let mov = match d.exit {
        RawExit::Stage2Fault { access, .. } if access != AccessKind::Fetch => mov_at(vm, engine),
        _ => None,
    };
    if let RawExit::Msr {
        id: msrs::EFER,
        write,
        value,
    } = d.exit
    {
        efer(engine, d, write, value);
        t.done(Cause::SysReg);
        return Next::Deliver;
    }
    if let RawExit::Xsetbv { xcr, value } = d.exit {
        if engine.xsetbv(xcr, value) {
            Exited::<Engine, Resume>::new(engine, d, None).skip();
        } else {
            engine.inject(GP, Some(0));
        }
        t.done(Cause::SysReg);
        return Next::Deliver;
    }
    if let RawExit::CrWrite { .. } | RawExit::CrRead { .. } = d.exit {
        super::cr::access(vm, vcpu, engine, d);
        t.done(Cause::SysReg);
        return Next::Deliver;
    }
    let gprs = *engine.gprs();
    let apic_id = crate::vms::guest_cpu_id(vm, vcpu) as u32;
    let icr_high = || {
        vms::rt(vm)
            .chip
            .apic(vcpu)
            .map_or(0, |a| a.lock().icr_high())
    };
    let power = match mov {
        Some(_) => adapt::xapic_icr(&d.exit, &gprs, mov, icr_high(), apic_id),
        None => None,
    };
    let e = match power.map_or_else(|| adapt(&d.exit, &gprs, mov, apic_id), Adapted::Exit) {
        Adapted::Exit(e) => e,
        Adapted::Own(a) => {
            match a {
                Answer::Inject { vector, error } => engine.inject(vector, error),
                // INVD, WBINVD: stepped over.
                Answer::Complete { .. } => Exited::<Engine, Resume>::new(engine, d, None).skip(),
                Answer::Caller => {
                    let apic = guestcpuid::apic_bits(vm);
                    guestcpuid::answer(engine, d, apic_id, apic)
                }
            }
            t.done(Cause::Trap);
            return Next::Deliver;
        }
    };
    if let Some(load) = super::pci::access(vm, &e) {
        let mut v = Exited::<Engine, Resume>::new(engine, d, mov);
        if let Some(x) = load {
            v.complete_load(x);
        }
        v.skip();
        t.done(Cause::Mmio);
        return Next::Deliver;
    }
    let cause = account::of_exit(&e);
    t.count(cause);
    handle(seat, engine, d, mov, e);
    let mut woken = Next::Deliver;
    if e == VcpuExit::Halt && !super::guestirq::wakes(vm, vcpu, engine) {
        // HLT: this CPU sleeps until the hypervisor has something for it.
        woken = super::wake::halt(seat, engine, d);
    }
    if let (true, Next::Hold(at)) = (account::BUILT, woken) {
        // The accounting counts the hold in the HLT's entry, as it counts the sleep.
        super::timers::hold(me, at);
        woken = Next::Enter;
    }
    t.finish(cause);
    woken
}

/// The loop's light path (`rtvisor_arch_x86_64::light::loop_answers`): CPUID
/// answered right after the exit by the full path's own answer, without the
/// accounting, the counts, the core or a delivery. Returns whether `d` was one.
fn light_exit(engine: &mut Engine, d: Decoded, apic_id: u32) -> bool {
    if !light::loop_answers(&d.exit) {
        return false;
    }
    guestcpuid::answer(engine, d, apic_id, guestcpuid::EMULATED_APIC);
    true
}

/// The VERSION hypercall (a VM's null call) answered here, without the core's exit
/// handler: it only reads the core's constant (what `rtvisor_call` answers) and steps
/// the guest past the instruction. Returns whether `d` was that call.
fn null_call(engine: &mut Engine, d: Decoded) -> bool {
    if d.exit != RawExit::Hypercall {
        return false;
    }
    let Adapted::Exit(VcpuExit::Hypercall {
        nr: hypercall::NR_VERSION,
        ..
    }) = adapt(&d.exit, engine.gprs(), None, 0)
    else {
        return false;
    };
    Exited::<Engine, Resume>::new(engine, d, None).set_return(Ok(Reply::Value(hypercall::VERSION)));
    true
}

/// Runs the core's exit handler on `e`; a vCPU that parks does not come back.
pub(super) fn handle(
    seat: Seat,
    engine: &mut Engine,
    d: Decoded,
    mov: Option<MemMov>,
    e: VcpuExit,
) {
    let Seat { cpu, me, vm, vcpu } = seat;
    let mut v = Exited::<Engine, Resume>::new(engine, d, mov);
    run::handle(cpu, me, vm, vcpu, &mut v, e, || super::fresh_stack(cpu));
}

/// RDMSR or WRMSR of EFER: the guest's own (SCE, LME, NXE), kept in its VMCB or
/// VMCS; anything else is #GP. The read's EDX:EAX and the step past the instruction
/// are the vCPU answer's ([`Exited`]).
fn efer(engine: &mut Engine, d: Decoded, write: bool, value: u64) {
    let read = if write {
        match msrs::efer_write(engine.efer(), value) {
            Some(v) => engine.set_efer(v),
            None => return engine.inject(GP, Some(0)),
        }
        None
    } else {
        Some(engine.efer())
    };
    let mut v = Exited::<Engine, Resume>::new(engine, d, None);
    if let Some(x) = read {
        v.complete_load(x);
    }
    v.skip();
}

/// The MOV at the guest's CS:RIP (`rip`) of VM `vm`, if it is in its RAM and decodes
/// in the guest's current mode.
fn mov_at(vm: VmId, engine: &Engine) -> Option<MemMov> {
    let (bytes, len) = insn_at_rip(vm, engine)?;
    decode_mov(&bytes[..len], engine.code())
}

/// [`insn_at`] the guest's RIP (`Engine::linear_rip`).
pub(super) fn insn_at_rip(vm: VmId, engine: &Engine) -> Option<([u8; INSN_MAX], usize)> {
    insn_at(vm, engine, engine.linear_rip())
}

/// The bytes (up to the longest instruction) at guest linear address `pc` of VM `vm`
/// (translated by the guest's own page tables when it pages: Linux runs high), and
/// how many there are: those up to the first that is not in its RAM or not mapped.
pub(super) fn insn_at(vm: VmId, engine: &Engine, pc: u64) -> Option<([u8; INSN_MAX], usize)> {
    let ram = vms::cfg(vm).ram;
    let paging = engine.paging();
    let mut bytes = [0u8; INSN_MAX];
    let mut got = 0;
    while got < INSN_MAX {
        let at = pc.wrapping_add(got as u64);
        let Some(gpa) = gwalk::translate(paging, at, |a| read_u64(vm, a)) else {
            break;
        };
        // The rest of this page at most (the next one may map elsewhere).
        let room = (0x1000 - (at & 0xfff)).min((INSN_MAX - got) as u64);
        let Some((hpa, n)) = ram
            .piece(Ipa::new(gpa), room)
            .or_else(|| ram.piece(Ipa::new(gpa), 1))
        else {
            break;
        };
        let n = n as usize;
        // SAFETY: `hpa..hpa+n` is RAM of this VM (`piece`), mapped by the hypervisor's
        // identity map; the bytes are only read.
        unsafe { memory::read(hpa.raw(), &mut bytes[got..got + n]) };
        got += n;
    }
    (got > 0).then_some((bytes, got))
}

/// The 8 bytes of VM `vm`'s RAM at guest-physical `gpa` (a page-table entry), if they
/// are RAM.
pub(super) fn read_u64(vm: VmId, gpa: u64) -> Option<u64> {
    let (hpa, n) = vms::cfg(vm).ram.piece(Ipa::new(gpa), 8)?;
    let mut b = [0u8; 8];
    if n < 8 {
        return None;
    }
    // SAFETY: as in `insn_at`: 8 bytes of this VM's RAM, only read.
    unsafe { memory::read(hpa.raw(), &mut b) };
    Some(u64::from_le_bytes(b))
}
