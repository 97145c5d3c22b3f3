//! The engines of the hypervisor's vCPUs: each CPU's own VMCB and host area (AMD-V)
//! or VMCS (VT-x) and its I/O and MSR intercept maps, one [`Engine`] over either
//! vendor, and each VM's second-stage table pool. A CPU hosts one vCPU at a time (the
//! partitioning is static), so its pages are its own; a VM's tables are taken once,
//! at boot.

use crate::cpuid::Vendor;
use crate::entry::EntryState;
use crate::exit::Decoded;
use crate::inject::{self, Delivery};
use crate::pt::Table;
use crate::regs::Gprs;
use crate::svm::engine::{SetupError, SvmSetup, SvmVcpu};
use crate::svm::maps::{Iopm, Msrpm};
use crate::svm::vmcb::Vmcb;
use crate::vcpu::VcpuEngine;
use crate::vendor::{SvmCaps, VmxCaps};
use crate::vmx::apicv::Apicv;
use crate::vmx::bitmaps::Bitmap;
use crate::vmx::engine::{Vmcs, VmxFail, VmxSetup, VmxVcpu};
use crate::vmx::vapic::{self, VapicPage};
use crate::vmx::VmxError;
use crate::{cpu, virt};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};
use rtvisor_addr::Hpa;
use rtvisor_config::contract::{MAX_CPUS, MAX_VMS};
use rtvisor_vdev::x2apic::X2Apic;

/// Second-stage tables of one VM: enough for 3 GiB of RAM in 2 MiB pages and a few
/// MiB in 4 KiB pages.
pub const VM_TABLES: usize = 64;

/// One CPU's engine pages, each 4 KiB aligned (`vm=hello` keeps a set of its own).
#[repr(C, align(4096))]
pub(crate) struct CpuPages {
    pub(crate) vmcb: Vmcb,
    pub(crate) host: Vmcb,
    pub(crate) iopm: Iopm,
    pub(crate) msrpm: Msrpm,
    pub(crate) vmcs: Vmcs,
    pub(crate) io_a: Bitmap,
    pub(crate) io_b: Bitmap,
    pub(crate) msr_bitmap: Bitmap,
    /// The MSR bitmap while virtual-interrupt delivery is on (`vmx::apicv`): the
    /// one above with the x2APIC's virtualized registers let through.
    pub(crate) msr_apicv: Bitmap,
    pub(crate) vapic: VapicPage,
}

/// Engine pages before use: all zero, so that the arrays of them are zero-initialised
/// (.bss, cleared at boot, not bytes of the image); [`CpuPages::intercept_all`] sets
/// the intercept maps before an engine uses them.
pub(crate) const CPU_PAGES: CpuPages = CpuPages {
    vmcb: Vmcb::ZERO,
    host: Vmcb::ZERO,
    iopm: Iopm([0; 3 * 4096]),
    msrpm: Msrpm([0; 2 * 4096]),
    vmcs: Vmcs([0; 4096]),
    io_a: Bitmap([0; 4096]),
    io_b: Bitmap([0; 4096]),
    msr_bitmap: Bitmap([0; 4096]),
    msr_apicv: Bitmap([0; 4096]),
    vapic: VapicPage::ZERO,
};

impl CpuPages {
    /// Every port and MSR intercepted, on both vendors' maps (in place).
    pub(crate) fn intercept_all(&mut self) {
        self.iopm.intercept_all();
        self.msrpm.intercept_all();
        self.io_a.exit_all();
        self.io_b.exit_all();
        self.msr_bitmap.exit_all();
    }
}

struct PerCpu(UnsafeCell<[CpuPages; MAX_CPUS]>);
// SAFETY: CPU `i` only ever touches entry `i` (the contract of `engine`).
unsafe impl Sync for PerCpu {}
static PAGES: PerCpu = PerCpu(UnsafeCell::new([CPU_PAGES; MAX_CPUS]));

#[repr(C, align(4096))]
struct VmPool([Table; VM_TABLES]);
struct Pools(UnsafeCell<[VmPool; MAX_VMS]>);
// SAFETY: each VM's pool is handed out once (`TAKEN`), to the one owner of its tables.
unsafe impl Sync for Pools {}
static POOLS: Pools = Pools(UnsafeCell::new(
    [const { VmPool([const { Table::EMPTY }; VM_TABLES]) }; MAX_VMS],
));
static TAKEN: [AtomicBool; MAX_VMS] = [const { AtomicBool::new(false) }; MAX_VMS];

/// VM `vm`'s second-stage table pool and its physical address, once.
pub fn vm_tables(vm: usize) -> Option<(&'static mut [Table], Hpa)> {
    if TAKEN.get(vm)?.swap(true, Ordering::AcqRel) {
        return None;
    }
    // SAFETY: in bounds (`TAKEN` had the index) and taken once: no other reference.
    let pool = unsafe { &mut (*POOLS.0.get())[vm] };
    let pa = Hpa::new(pool.0.as_ptr() as u64);
    Some((&mut pool.0[..], pa))
}

/// What a CPU's extension offers, found when it was turned on ([`enable`]).
#[derive(Debug, Clone, Copy)]
pub enum Caps {
    Vmx(VmxCaps),
    Svm(SvmCaps),
}

/// Why a CPU cannot run vCPUs.
#[derive(Debug, Clone, Copy)]
pub enum EngineError {
    /// Neither VMX nor SVM turned on.
    NoExtension(virt::Virt),
    /// VMXON after the probe failed.
    Vmxon(VmxError),
    Svm(SetupError),
    Vmx(VmxFail),
    /// The CPU index is past the pages there are.
    NoPages,
}

/// Turns the vendor's extension on for good on CPU `index` (the calling CPU).
pub fn enable(vendor: Vendor, index: usize) -> Result<Caps, EngineError> {
    match virt::probe(vendor, index) {
        virt::Virt::Svm(Ok(c)) => Ok(Caps::Svm(c)),
        virt::Virt::Vmx(Ok(c)) => {
            crate::vmx::on(index).map_err(EngineError::Vmxon)?;
            Ok(Caps::Vmx(c))
        }
        v => Err(EngineError::NoExtension(v)),
    }
}

/// A VM's translation as an engine needs it.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    /// NPT root (AMD-V).
    pub ncr3: Hpa,
    /// EPT pointer (VT-x).
    pub eptp: u64,
    /// ASID or VPID: 1.., one per VM.
    pub tag: u16,
}

/// The vCPU engine of one CPU, over either vendor.
pub enum Engine {
    Svm(SvmVcpu),
    Vmx(VmxVcpu),
}

/// A vCPU engine on CPU `index` for the VM `paging` describes, starting at `entry`
/// with its counter `tsc_offset` behind the host's.
///
/// # Safety
/// The calling CPU is `index`, its extension is on ([`enable`] gave `caps`), and no
/// engine this CPU made before is used any more (its pages are reset here).
pub unsafe fn engine(
    index: usize,
    caps: Caps,
    paging: &Paging,
    entry: &EntryState,
    tsc_offset: u64,
) -> Result<Engine, EngineError> {
    if index >= MAX_CPUS {
        return Err(EngineError::NoPages);
    }
    // SAFETY: in bounds; CPU `index` alone uses entry `index`, and by the caller's
    // contract no earlier engine of it refers to the pages any more.
    let p = unsafe { &mut (*PAGES.0.get())[index] };
    p.intercept_all();
    for m in crate::msrs::PASSTHROUGH {
        p.msrpm.pass(m.msr, m.svm, m.svm);
        p.msr_bitmap.pass_msr(m.msr, m.vmx, m.vmx);
    }
    let pa = |x: u64| Hpa::new(x);
    // Before the VMCS takes the host's CR4: OSXSAVE on, XCR0 back to x87.
    crate::cpu::reset_xcr0();
    match caps {
        Caps::Svm(caps) => {
            let setup = SvmSetup {
                iopm: pa(&p.iopm as *const Iopm as u64),
                msrpm: pa(&p.msrpm as *const Msrpm as u64),
                ncr3: paging.ncr3,
                asid: u32::from(paging.tag),
                caps,
                host_interrupts: true,
            };
            let mut v =
                SvmVcpu::new(&mut p.vmcb, &mut p.host, &setup, entry).map_err(EngineError::Svm)?;
            v.set_tsc_offset(tsc_offset.wrapping_neg());
            Ok(Engine::Svm(v))
        }
        Caps::Vmx(caps) => {
            for &(msr, v) in crate::msrs::HELD_BY_CPU {
                // SAFETY: STAR, LSTAR, CSTAR, SFMASK and KERNEL_GS_BASE exist on every
                // 64-bit CPU; the hypervisor uses none of them (no SYSCALL, no SWAPGS).
                unsafe { crate::cpu::wrmsr(msr, v) };
            }
            let setup = VmxSetup {
                io_a: pa(&p.io_a as *const Bitmap as u64),
                io_b: pa(&p.io_b as *const Bitmap as u64),
                msr_bitmap: pa(&p.msr_bitmap as *const Bitmap as u64),
                eptp: paging.eptp,
                vpid: paging.tag,
                caps,
            };
            p.msr_apicv.0 = p.msr_bitmap.0;
            for r in vapic::READS {
                for msr in r {
                    p.msr_apicv.pass_msr(msr, true, false);
                }
            }
            for msr in vapic::WRITES {
                p.msr_apicv.pass_msr(msr, false, true);
            }
            let apicv = Apicv::new(
                &mut p.vapic,
                setup.msr_bitmap,
                pa(&p.msr_apicv as *const Bitmap as u64),
            );
            let mut v =
                VmxVcpu::new(&mut p.vmcs, &setup, entry, apicv).map_err(EngineError::Vmx)?;
            v.set_tsc_offset(tsc_offset.wrapping_neg())
                .map_err(EngineError::Vmx)?;
            Ok(Engine::Vmx(v))
        }
    }
}

impl Engine {
    /// The vendor's name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Engine::Svm(_) => "svm",
            Engine::Vmx(_) => "vmx",
        }
    }

    /// Delivers the vCPU's pending interrupt `pending` (the vector it has to take, if
    /// any). VT-x: injected if the guest can take it now, else the exit at its
    /// interrupt window is asked for (`inject::decide`); `ack` moves the vector into
    /// service and is called only when it is injected. AMD-V: offered as the virtual
    /// interrupt, which the CPU delivers when the guest can take it; `ack` is not
    /// called (the caller takes it into service when [`Engine::taken_irq`] says).
    pub fn deliver(&mut self, pending: Option<u8>, ack: impl FnOnce(u8)) {
        if let Engine::Svm(v) = self {
            // AMD-V: the pending vector is offered as the virtual interrupt; the CPU
            // delivers it when the guest can take it, and `taken_irq` says when.
            v.offer_irq(pending);
            return;
        }
        let d = match pending {
            Some(_) => inject::decide(true, self.interruptible()),
            None => Delivery::Idle,
        };
        if let Engine::Vmx(v) = self {
            if let (Delivery::Inject, Some(x)) = (d, pending) {
                ack(x);
                v.inject_irq(x);
            }
            v.want_window(d == Delivery::Window);
        }
    }

    /// Before an entry, on VT-x with virtual-interrupt delivery (`vmx::apicv`): turns
    /// it on or off as the guest's APIC `a` is in x2APIC mode or not (the model
    /// hands its vectors over when it goes on), then requests what `a` posted since
    /// the last entry. Returns whether the delivery is done (the CPU delivers); when
    /// not, the caller delivers from `a` ([`Engine::deliver`]).
    pub fn hw_apic(&mut self, a: &mut X2Apic) -> bool {
        match self {
            Engine::Vmx(v) => v.apicv_deliver(a),
            Engine::Svm(_) => false,
        }
    }

    /// Whether the hardware would deliver an interrupt it holds to the guest now
    /// (VT-x's virtual-interrupt delivery; else never): a HLT then does not sleep.
    pub fn hw_wakes(&self) -> bool {
        match self {
            Engine::Vmx(v) => v.apicv_wakes(),
            Engine::Svm(_) => false,
        }
    }

    /// The vector the guest took since the last entry that its emulated APIC must
    /// now take into service (AMD-V's virtual interrupt; VT-x injects and takes at
    /// once, so never).
    pub fn taken_irq(&mut self) -> Option<u8> {
        match self {
            Engine::Svm(v) => v.taken_irq(),
            Engine::Vmx(_) => None,
        }
    }

    /// Ends the guest's next run no later than TSC `deadline` (0: no limit). The
    /// APIC timer's interrupt exits the guest on hardware; on VT-x the preemption
    /// timer does it too, where an emulator would not exit for the interrupt.
    pub fn exit_by(&mut self, deadline: u64) {
        if let Engine::Vmx(v) = self {
            let ticks = (deadline != 0).then(|| deadline.saturating_sub(crate::irq::rdtsc()));
            v.exit_within(ticks);
        }
    }

    /// Lets the world switch answer the null call without leaving it
    /// (`crate::light`), or not (every exit then takes the full path).
    pub fn set_light(&mut self, on: bool) {
        match self {
            Engine::Svm(v) => v.set_light(on),
            Engine::Vmx(v) => v.set_light(on),
        }
    }

    /// Whether the guest can take an interrupt at the next entry.
    pub fn interruptible(&self) -> inject::Interruptible {
        match self {
            Engine::Svm(v) => v.interruptible(),
            Engine::Vmx(v) => v.interruptible(),
        }
    }

    /// The guest's EFER, as it reads it.
    pub fn efer(&self) -> u64 {
        match self {
            Engine::Svm(v) => v.efer(),
            Engine::Vmx(v) => v.efer(),
        }
    }

    /// Sets the guest's EFER (checked by `msrs::efer_write`).
    pub fn set_efer(&mut self, efer: u64) {
        match self {
            Engine::Svm(v) => v.set_efer(efer),
            Engine::Vmx(v) => v.set_efer(efer),
        }
    }

    /// The base of the guest's code segment (RIP is relative to it).
    pub fn cs_base(&self) -> u64 {
        match self {
            Engine::Svm(v) => v.cs_base(),
            Engine::Vmx(v) => v.cs_base(),
        }
    }

    /// The guest's current privilege level.
    pub fn cpl(&self) -> u8 {
        match self {
            Engine::Svm(v) => v.cpl(),
            Engine::Vmx(v) => v.cpl(),
        }
    }

    /// The guest-linear address of its RIP: CS's base added outside 64-bit mode (in
    /// 64-bit mode the base is 0 whatever the descriptor says).
    pub fn linear_rip(&self) -> u64 {
        match self.code() {
            crate::insn::Code::Bits64 => self.rip(),
            _ => self.cs_base().wrapping_add(self.rip()) & 0xffff_ffff,
        }
    }

    /// The code the guest runs now, for decoding its instruction at RIP.
    pub fn code(&self) -> crate::insn::Code {
        let long = match self {
            Engine::Svm(v) => v.code64(),
            Engine::Vmx(v) => v.code64(),
        };
        if long {
            crate::insn::Code::Bits64
        } else {
            crate::insn::Code::Bits32
        }
    }

    /// The guest's CR4, as it reads it.
    pub fn cr4(&self) -> u64 {
        match self {
            Engine::Svm(v) => v.cr4(),
            Engine::Vmx(v) => v.cr4(),
        }
    }

    /// The guest's paging registers (`gwalk::translate` walks its tables with them).
    pub fn paging(&self) -> crate::gwalk::Paging {
        let (cr0, cr3) = match self {
            Engine::Svm(v) => v.cr0_cr3(),
            Engine::Vmx(v) => v.cr0_cr3(),
        };
        crate::gwalk::Paging {
            cr0,
            cr3,
            cr4: self.cr4(),
            efer: self.efer(),
        }
    }

    /// Answers a guest's XSETBV of `value` into `xcr`: writes XCR0 and returns `true`
    /// when `crate::xcr::xsetbv_ok` takes it for this CPU, else `false` (#GP(0) is
    /// the caller's). CPL and CR4.OSXSAVE the CPU checked before the exit (both
    /// vendors raise those faults ahead of the intercept).
    pub fn xsetbv(&mut self, xcr: u32, value: u64) -> bool {
        let l1 = crate::cpu::cpuid(1, 0)[2] & (1 << 26) != 0;
        let max = crate::cpu::cpuid(0, 0)[0];
        let supported = if l1 && max >= 0xD {
            crate::xcr::supported(crate::cpu::cpuid(0xD, 0))
        } else {
            0
        };
        if !crate::xcr::xsetbv_ok(xcr, value, supported) {
            return false;
        }
        // SAFETY: `reset_xcr0` turned OSXSAVE on when the engine was made (the CPU
        // has XSAVE: `supported` is not 0), and the value was checked above.
        unsafe { crate::cpu::xsetbv(value) };
        true
    }

    /// The guest's CR0 as it reads it. SVM traps every write of it; VMX only those
    /// that change NE (the CPU checks the others against its fixed bits).
    pub fn cr0(&self) -> u64 {
        match self {
            Engine::Svm(v) => v.cr0(),
            Engine::Vmx(v) => v.cr0(),
        }
    }

    /// Sets the guest's CR0 and EFER (checked by `cr::cr0_write`).
    pub fn set_cr0(&mut self, cr0: u64, efer: u64) {
        match self {
            Engine::Svm(v) => v.set_cr0(cr0, efer),
            Engine::Vmx(v) => v.set_cr0(cr0, efer),
        }
    }

    /// Sets the guest's CR4 (checked by `cr::cr4_write`).
    pub fn set_cr4(&mut self, cr4: u64) {
        match self {
            Engine::Svm(v) => v.set_cr4(cr4),
            Engine::Vmx(v) => v.set_cr4(cr4),
        }
    }
}

impl VcpuEngine for Engine {
    fn run(&mut self) -> Decoded {
        match self {
            Engine::Svm(v) => v.run(),
            Engine::Vmx(v) => v.run(),
        }
    }
    fn gprs(&mut self) -> &mut Gprs {
        match self {
            Engine::Svm(v) => v.gprs(),
            Engine::Vmx(v) => v.gprs(),
        }
    }
    fn rip(&self) -> u64 {
        match self {
            Engine::Svm(v) => v.rip(),
            Engine::Vmx(v) => v.rip(),
        }
    }
    fn rflags(&self) -> u64 {
        match self {
            Engine::Svm(v) => v.rflags(),
            Engine::Vmx(v) => v.rflags(),
        }
    }
    fn code64(&self) -> bool {
        match self {
            Engine::Svm(v) => VcpuEngine::code64(v),
            Engine::Vmx(v) => VcpuEngine::code64(v),
        }
    }
    fn set_rip(&mut self, rip: u64) {
        match self {
            Engine::Svm(v) => v.set_rip(rip),
            Engine::Vmx(v) => v.set_rip(rip),
        }
    }
    fn inject(&mut self, vector: u8, error: Option<u32>) {
        match self {
            Engine::Svm(v) => v.inject(vector, error),
            Engine::Vmx(v) => v.inject(vector, error),
        }
    }
    fn raw_exit(&self) -> (u64, u64, u64) {
        match self {
            Engine::Svm(v) => v.raw_exit(),
            Engine::Vmx(v) => v.raw_exit(),
        }
    }
}

/// The CPU's vendor, for choosing the second-stage format.
pub fn vendor() -> Vendor {
    cpu::vendor()
}

/// The x2APIC register MSRs (0x800 + xAPIC offset / 16).
const X2APIC_MSRS: core::ops::RangeInclusive<u32> = 0x800..=0x8FF;
/// The x2APIC ICR: its writes still exit (IPIs stay in the VM).
const X2APIC_ICR: u32 = 0x830;
/// IA32_TSC_DEADLINE: the guest's own timer in direct mode.
const TSC_DEADLINE: u32 = 0x6E0;

/// Makes CPU `index`'s engine a direct-mode one (LAPIC pass-through): the guest takes
/// its core's interrupts, reaches IA32_TSC_DEADLINE (where the APIC has that mode)
/// and (VT-x) every x2APIC MSR but the ICR's writes without an exit; NMI and INIT
/// still exit. IA32_APIC_BASE stays
/// intercepted. On AMD-V the xAPIC page is the caller's (second stage).
///
/// # Safety
/// As [`engine`]'s: the calling CPU is `index` and `v` is the engine it just made.
pub unsafe fn make_direct(index: usize, v: &mut Engine) -> Result<(), EngineError> {
    if index >= MAX_CPUS {
        return Err(EngineError::NoPages);
    }
    // SAFETY: in bounds; CPU `index` alone uses entry `index`. Only the two maps are
    // reached (through raw places, not the engine's VMCB or VMCS), which the CPU
    // reads at each MSR access: changing a bit takes effect at the next one.
    let (msrpm, bitmap) = unsafe {
        let p = PAGES.0.get();
        (
            &mut *core::ptr::addr_of_mut!((*p)[index].msrpm),
            &mut *core::ptr::addr_of_mut!((*p)[index].msr_bitmap),
        )
    };
    // Where the APIC has no TSC-deadline mode, the hypervisor provides it to the
    // guest (IA32_TSC_DEADLINE exits; `passthru::vdeadline`).
    let deadline = crate::apic::has_tsc_deadline();
    match v {
        Engine::Svm(s) => {
            msrpm.pass(TSC_DEADLINE, deadline, deadline);
            s.direct();
        }
        Engine::Vmx(x) => {
            bitmap.pass_msr(TSC_DEADLINE, deadline, deadline);
            for msr in X2APIC_MSRS {
                bitmap.pass_msr(msr, true, msr != X2APIC_ICR);
            }
            x.direct().map_err(EngineError::Vmx)?;
        }
    }
    Ok(())
}
