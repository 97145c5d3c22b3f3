//! Direct mode (`interrupt-mode = "direct"`, LAPIC pass-through) on x86: the VM's
//! cores take their physical interrupts through the guest's own IDT and the guest
//! drives its cores' local APICs and TSC-deadline timers, with no hypervisor code on
//! the timer path. What stays with the hypervisor:
//!
//! - **the ICR**: every IPI the guest sends is checked here and re-sent only to the
//!   VM's own cores (`rtvisor_arch_x86_64::passthru`, host-tested: fixed and
//!   lowest-priority IPIs; self, a physical destination, the broadcast id,
//!   all-including/excluding-self, all within the VM), INIT and start-up IPIs become
//!   the core's CPU calls (`adapt`, by APIC id); NMI, SMI, logical destinations and
//!   anything aimed outside the VM are dropped. VT-x: WRMSR of the x2APIC ICR exits (the MSR bitmap
//!   passes every other x2APIC MSR and IA32_TSC_DEADLINE). AMD-V (xAPIC only under
//!   QEMU's TCG): the host's APIC page is mapped read-only at 0xFEE0_0000 in the VM's
//!   nested tables, so reads reach the hardware and every write exits; the write is
//!   performed on the physical APIC here (TPR, EOI, SVR, ESR, the LVT, the timer's
//!   count and divider), ICR and ICR_HI are the IPI path above, ID, LDR and DFR
//!   writes are dropped. That costs one exit per EOI and per timer arm on AMD-V;
//!   the interrupt itself still arrives with no hypervisor code in between.
//! - **TSC-deadline mode where the core has none** (QEMU 7.2's TCG xAPIC,
//!   [`virtual_deadline`]): CPUID offers it, IA32_TSC_DEADLINE exits and is armed on
//!   the core's one-shot timer from the absolute deadline (`passthru::vdeadline`), so
//!   the arming exit does not delay the timer as a one-shot count's would.
//! - **IA32_APIC_BASE**: reads the core's value (BSP on vCPU 0 only); a write that
//!   changes it is #GP.
//! - **its way back**: the kick to a direct core is an NMI (`nmi`), which exits the
//!   guest whatever it masks; INIT exits too. When the vCPU parks, its APIC is taken
//!   back (`apic::take_back`): timer stopped, LVT masked, in-service vectors ended.
//! - **its emulated devices' interrupts** (COM1, doorbells): the VM's emulated I/O
//!   APIC routes them as the guest programmed it, and they reach its cores as
//!   physical fixed IPIs ([`send_to_core`]), checked by the same rules as the ICR's.
//! - **the watchdog**: the core's APIC timer is the guest's, so a direct core's
//!   watchdog is watched by the boot CPU ([`WATCHER`], which no x86 VM may use), and
//!   the expiry takes the core back with the NMI kick.

use super::wake;
use super::world::{self, Seat};
use crate::percpu::MAX_CPUS;
use crate::{account, config::CONFIG, log, vms};
use core::sync::atomic::{AtomicU32, Ordering};
use rtvisor_arch_x86_64::adapt::{adapt, Adapted};
use rtvisor_arch_x86_64::answer::Exited;
use rtvisor_arch_x86_64::engines::{self, Engine};
use rtvisor_arch_x86_64::exit::{AccessKind, Decoded, RawExit, GP};
use rtvisor_arch_x86_64::insn::{decode_store32, StoreSrc};
use rtvisor_arch_x86_64::passthru::vdeadline::{Arm, VirtualDeadline};
use rtvisor_arch_x86_64::passthru::{self, Dest};
use rtvisor_arch_x86_64::vcpu::VcpuEngine;
use rtvisor_arch_x86_64::{apic, irq, nmi};
use rtvisor_config::contract::MAX_VCPUS;
use rtvisor_config::tables::InterruptMode;
use rtvisor_core::account::Cause;
use rtvisor_core::exit::VcpuExit;
use rtvisor_core::ids::{CpuId, VcpuId, VmId};
use rtvisor_core::seam::ArchVcpu;
use rtvisor_core::sync::Mutex;

/// The CPU whose timer watches the watchdogs of direct-mode VMs.
pub const WATCHER: CpuId = CpuId::new(0);

/// Where a direct-mode VM sees its local APIC (and the host's xAPIC page is mapped).
pub const APIC_GPA: u64 = 0xFEE0_0000;
const APIC_PAGE: u64 = 0x1000;

const IA32_APIC_BASE: u32 = 0x1B;
const IA32_TSC_DEADLINE: u32 = 0x6E0;
const APIC_BASE_BSP: u64 = 1 << 8;
const X2APIC_ICR: u32 = 0x830;

// xAPIC register offsets a direct-mode guest may write (performed on the hardware).
const WRITABLE: [u32; 11] = [
    0x80,  // TPR
    0xB0,  // EOI
    0xF0,  // SVR
    0x280, // ESR
    0x320, // LVT timer
    0x330, // LVT thermal
    0x340, // LVT performance counters
    0x350, // LVT LINT0
    0x360, // LVT LINT1
    0x370, // LVT error
    0x380, // timer initial count
];
const DIVIDE: u32 = 0x3E0;
const ICR: u32 = 0x300;
const ICR_HI: u32 = 0x310;
const LVT_TIMER: u32 = 0x320;
const INITIAL_COUNT: u32 = 0x380;

/// Each CPU's guest ICR_HI (xAPIC): the destination of its next ICR write.
static ICR_HIGH: [AtomicU32; MAX_CPUS] = [const { AtomicU32::new(0) }; MAX_CPUS];

/// Each CPU's guest TSC-deadline timer where the core's APIC has none
/// ([`virtual_deadline`]); only that CPU locks its entry.
static DEADLINE: [Mutex<VirtualDeadline>; MAX_CPUS] =
    [const { Mutex::new(VirtualDeadline::new()) }; MAX_CPUS];

/// Whether a direct-mode guest's TSC-deadline mode is the hypervisor's
/// (`passthru::vdeadline`): the cores' APICs have no such mode and are xAPICs, whose
/// page the guest writes through exits (QEMU 7.2's TCG). Its CPUID then offers
/// the mode, and IA32_TSC_DEADLINE is intercepted (`engines::make_direct`).
pub fn virtual_deadline() -> bool {
    !apic::has_tsc_deadline() && !apic::is_x2apic()
}

/// The APIC bits of CPUID leaf 1 ECX that a direct-mode guest sees set beyond the
/// host's: TSC-deadline (bit 24) where the hypervisor provides it.
pub fn cpuid_apic_bits() -> u32 {
    if virtual_deadline() {
        1 << 24
    } else {
        0
    }
}

/// Whether VM `vm` runs in direct mode (a constant `false` in an image whose scenario
/// has no direct-mode VM: the direct-mode code is then left out).
pub fn is_direct(vm: VmId) -> bool {
    crate::config::ANY_DIRECT && vms::cfg(vm).interrupt_mode == InterruptMode::Direct
}

/// Whether CPU `cpu` is a direct-mode VM's (from the configuration: such a CPU is
/// never shared, so this does not change while the hypervisor runs).
pub fn cpu_is_direct(cpu: CpuId) -> bool {
    crate::config::ANY_DIRECT
        && CONFIG.vms.iter().any(|vm| {
            vm.interrupt_mode == InterruptMode::Direct
                && vm.cpus.iter().any(|&c| c as usize == cpu.index())
        })
}

/// CPU `cpu` goes online: on a direct-mode VM's core, NMIs are kicks.
pub fn init_cpu(cpu: CpuId) {
    if cpu_is_direct(cpu) {
        nmi::take_as_kicks(cpu.index(), true);
    }
}

/// Makes the engine just made for `vm`'s vCPU on this CPU a direct-mode one, and
/// leaves the APIC to the guest: the hypervisor's timer disarmed and masked.
pub fn setup(cpu: CpuId, vm: VmId, engine: &mut Engine) {
    // SAFETY: this CPU's engine, just made by `engines::engine` on it.
    if let Err(e) = unsafe { engines::make_direct(cpu.index(), engine) } {
        log::fatal(format_args!(
            "cpu {cpu}: vm {}: direct mode: {e:?}",
            vms::cfg(vm).name
        ));
    }
    apic::timer_arm(0);
    apic::write_reg(0x320, 1 << 16);
    ICR_HIGH[cpu.index()].store(0, Ordering::Relaxed);
    if let Some(d) = DEADLINE.get(cpu.index()) {
        *d.lock() = VirtualDeadline::new();
    }
}

/// The vCPU on CPU `cpu` parked: its APIC back to the hypervisor.
pub fn park(cpu: CpuId) {
    if cpu_is_direct(cpu) {
        apic::take_back(irq::TIMER);
    }
}

/// Before each entry: a kick whose NMI the hypervisor itself took (it came while
/// the exit was handled) is handled now.
pub(super) fn before_run(seat: Seat, engine: &mut Engine) {
    if wake::interrupts(seat.cpu, seat.me, &mut None) {
        let d = Decoded {
            exit: RawExit::ExternalInterrupt,
            next_rip: None,
        };
        world::handle(seat, engine, d, None, VcpuExit::Interrupt);
    }
}

/// Handles exit `d` of a direct-mode vCPU if it is one only direct mode has; returns
/// whether it did.
pub(super) fn exit(seat: Seat, engine: &mut Engine, d: Decoded) -> bool {
    let Seat { cpu, vm, vcpu, .. } = seat;
    let t = account::start();
    match d.exit {
        // The NMI kick (or an NMI or INIT of the guest's own making).
        RawExit::ExternalInterrupt | RawExit::Init => {
            wake::interrupted(seat, engine, d, t);
        }
        RawExit::Msr {
            id: X2APIC_ICR,
            write: true,
            value,
        } => {
            if starts_cpu(value as u32) {
                // INIT and start-up IPIs are the core's CPU calls (`adapt`).
                return false;
            }
            ipi(vm, vcpu, Dest::X2Apic((value >> 32) as u32), value as u32);
            Exited::<Engine, world::Resume>::new(engine, d, None).skip();
            t.done(Cause::SysReg);
        }
        RawExit::Msr {
            id: IA32_APIC_BASE,
            write,
            value,
        } => {
            apic_base(vcpu, engine, d, write, value);
            t.done(Cause::SysReg);
        }
        RawExit::Msr {
            id: IA32_TSC_DEADLINE,
            write,
            value,
        } if virtual_deadline() => {
            tsc_deadline(cpu, vm, engine, d, write, value);
            t.done(Cause::SysReg);
        }
        RawExit::Stage2Fault {
            gpa,
            access: AccessKind::Write,
        } if (APIC_GPA..APIC_GPA + APIC_PAGE).contains(&gpa) => {
            xapic_write(seat, engine, (gpa - APIC_GPA) as u32);
            t.done(Cause::Mmio);
        }
        _ => return false,
    }
    true
}

/// Whether ICR low word `low` is an INIT or a start-up IPI.
fn starts_cpu(low: u32) -> bool {
    matches!(low >> 8 & 7, 5 | 6)
}

/// The guest of `vcpu` wrote its ICR: `low` to `dest`. Re-sent to the VM's own
/// cores only, as `passthru::route` decides.
fn ipi(vm: VmId, vcpu: VcpuId, dest: Dest, low: u32) {
    let n = vms::cfg(vm).cpus.len().min(MAX_VCPUS);
    let mut ids = [u32::MAX; MAX_VCPUS];
    for (v, id) in ids.iter_mut().enumerate().take(n) {
        *id = core_apic_id(vm, VcpuId::new(v)).unwrap_or(u32::MAX);
    }
    if let Some(s) = passthru::route(low, dest, Some(vcpu.index()), &ids[..n]) {
        for v in s.indices() {
            send(ids[v], s.vector);
        }
    }
}

/// Sends `vector` to APIC id `id` as a fixed, physical, edge IPI: the one kind the
/// hypervisor sends for a direct-mode guest.
fn send(id: u32, vector: u8) {
    const ASSERT: u32 = 1 << 14;
    apic::send_raw(id, u32::from(vector) | ASSERT);
}

/// The APIC id of the core of vCPU `vcpu` of direct-mode VM `vm` (what its guest
/// reads as its own); `None` when the VM has no such vCPU or its core is not online
/// (an id is never guessed).
pub fn core_apic_id(vm: VmId, vcpu: VcpuId) -> Option<u32> {
    let cpu = vms::cpu_of(vm, vcpu)?;
    crate::percpu::of(cpu).map(|c| c.hw_id() as u32)
}

/// An interrupt of direct-mode VM `vm`'s emulated devices (its I/O APIC's message,
/// routed by `rtvisor_arch_x86_64::chip`): `vector` to the core of vCPU `vcpu`, whose
/// guest takes it through its own IDT. Sent while the vCPU is parked, it is taken
/// by the hypervisor's stray gate and dropped.
pub fn send_to_core(vm: VmId, vcpu: VcpuId, vector: u8) {
    if let Some(id) = core_apic_id(vm, vcpu) {
        send(id, vector);
    }
}

/// RDMSR/WRMSR of IA32_APIC_BASE: the core's value, BSP on vCPU 0 only; a write
/// of anything else is #GP(0).
fn apic_base(vcpu: VcpuId, engine: &mut Engine, d: Decoded, write: bool, value: u64) {
    let mut base = apic::base_msr() & !APIC_BASE_BSP;
    if vcpu.index() == 0 {
        base |= APIC_BASE_BSP;
    }
    if write && value != base {
        return engine.inject(GP, Some(0));
    }
    let mut v = Exited::<Engine, world::Resume>::new(engine, d, None);
    if !write {
        v.complete_load(base);
    }
    v.skip();
}

/// RDMSR/WRMSR of IA32_TSC_DEADLINE where the hypervisor provides the mode
/// ([`virtual_deadline`]): a deadline is armed on the core's one-shot timer (at the
/// rate measured at boot, `apic::one_shot_at`) as a count from the moment it is written, so
/// the exit's length does not delay it; a read gives the armed deadline until it
/// passes. Guest TSC = host TSC - the VM's offset.
fn tsc_deadline(cpu: CpuId, vm: VmId, engine: &mut Engine, d: Decoded, write: bool, value: u64) {
    let Some(state) = DEADLINE.get(cpu.index()) else {
        return engine.inject(GP, Some(0));
    };
    let offset = vms::rt(vm).counter_offset.load(Ordering::Relaxed);
    let mut v = Exited::<Engine, world::Resume>::new(engine, d, None);
    if write {
        match state.lock().write(value) {
            Arm::Ignore => {}
            Arm::Disarm => apic::timer_arm(0),
            Arm::At(at) => apic::one_shot_at(at.saturating_add(offset).max(1)),
        }
    } else {
        let now = irq::rdtsc().wrapping_sub(offset);
        v.complete_load(state.lock().read(now));
    }
    v.skip();
}

/// Whether the direct-mode guest on `cpu` has its timer in the TSC-deadline mode the
/// hypervisor provides.
fn deadline_on(cpu: CpuId) -> bool {
    DEADLINE.get(cpu.index()).is_some_and(|s| s.lock().on())
}

/// The guest's write of `value` to timer register `reg` (the LVT timer or the
/// initial count) where the hypervisor provides TSC-deadline mode: what reaches
/// the core (`passthru::vdeadline`).
fn timer_write(cpu: CpuId, reg: u32, value: u32) {
    let Some(state) = DEADLINE.get(cpu.index()) else {
        return;
    };
    let mut s = state.lock();
    if reg == LVT_TIMER {
        let w = s.lvt(value);
        if w.disarm {
            apic::write_reg(INITIAL_COUNT, 0);
        }
        apic::write_reg(LVT_TIMER, w.value);
    } else if s.initial_count() {
        apic::write_reg(INITIAL_COUNT, value);
    }
}

/// A store into the xAPIC page at `offset` (AMD-V; the guest's RIP taken as
/// guest-physical, as for every decoded MOV): performed on the hardware if the
/// register is one the guest may write, the ICR's an IPI (INIT and start-up IPIs as
/// the x2APIC ICR's, through `adapt`), else dropped; a store that does not decode
/// (`insn::decode_store32`) is #GP(0).
fn xapic_write(seat: Seat, engine: &mut Engine, offset: u32) {
    let Seat { cpu, vm, vcpu, .. } = seat;
    let store = world::insn_at_rip(vm, engine).and_then(|(b, n)| decode_store32(&b[..n]));
    let Some((len, src)) = store else {
        return engine.inject(GP, Some(0));
    };
    let value = match src {
        StoreSrc::Imm(v) => v,
        StoreSrc::Reg(r) => engine.gprs().get_mut(r).map_or(0, |r| *r as u32),
    };
    let next = engine.rip().wrapping_add(u64::from(len));
    let reg = offset & !0xF;
    if reg == ICR_HI {
        ICR_HIGH[cpu.index()].store(value, Ordering::Relaxed);
    } else if reg == ICR {
        let dest = ICR_HIGH[cpu.index()].load(Ordering::Relaxed) >> 24;
        // The 8-bit xAPIC destination.
        if starts_cpu(value) {
            // As the x2APIC ICR's WRMSR would be: the core's CPU calls.
            let d = Decoded {
                exit: RawExit::Msr {
                    id: X2APIC_ICR,
                    write: true,
                    value: u64::from(dest) << 32 | u64::from(value),
                },
                next_rip: Some(next),
            };
            let own = vms::guest_cpu_id(vm, vcpu) as u32;
            if let Adapted::Exit(e) = adapt(&d.exit, engine.gprs(), None, own) {
                engine.step_to(next);
                world::handle(seat, engine, d, None, e);
                return;
            }
        } else {
            ipi(vm, vcpu, Dest::Short(dest as u8), value);
        }
    } else if (reg == LVT_TIMER || reg == INITIAL_COUNT) && virtual_deadline() {
        timer_write(cpu, reg, value);
    } else if reg == DIVIDE && virtual_deadline() && deadline_on(cpu) {
        // The core's divider times the armed deadline (`apic::one_shot_at`); in the
        // emulated TSC-deadline mode the guest's divider means nothing (SDM: it is
        // not used in that mode).
    } else if WRITABLE.contains(&reg) || reg == DIVIDE {
        apic::write_reg(reg, value);
    }
    engine.step_to(next);
}
