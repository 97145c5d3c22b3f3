//! The x86_64 [`IrqChip`]: the emulated local APIC of each vCPU of a VM
//! (`rtvisor_vdev::x2apic`) and the VM's I/O APIC (`rtvisor_vdev::ioapic`), plain
//! code over [`ApicHw`], the hardware side the hypervisor implements, so all of it is
//! tested on the host.
//!
//! - The x2APIC MSRs (0x800-0x8FF), IA32_TSC_DEADLINE and IA32_APIC_BASE reach it as
//!   registers; the local APIC page (`LAPIC_GPA`) and the I/O APIC page
//!   (`IOAPIC_GPA`) as MMIO. Every APIC starts in x2APIC mode (as firmware that
//!   pre-enables it leaves it); IA32_APIC_BASE switches modes as the SDM allows
//!   (x2APIC to disabled, disabled to xAPIC, xAPIC to x2APIC; the others and a move
//!   of the page are #GP). In xAPIC mode the page answers and the MSRs are #GP; in
//!   the other modes the page reads as all-ones and ignores writes. In the page, a
//!   gap reads as zero and ignores writes, a write to a read-only register is
//!   ignored, and an access that is not a whole aligned 32-bit one is refused.
//! - IPIs never leave their VM: a fixed IPI (delivered to its physical destination,
//!   every vCPU whose logical ID matches in the APIC's mode, or by shorthand) is
//!   accepted by the target vCPUs' models, a lowest-priority one by the target whose
//!   processor priority is lowest; each target is told ([`ApicHw::pending`]), and
//!   injects the vector before it runs guest code again. A destination that is not
//!   a vCPU of the VM is dropped.
//!   NMIs, INIT and start-up IPIs left here (those the exit decoder did not turn into
//!   CPU on/off calls: shorthands, foreign destinations) are dropped.
//! - The I/O APIC: device lines ([`IrqChip::set_level`], COM1 on its GSI) and
//!   doorbells ([`IrqChip::pulse`]) drive its pins; its fixed and lowest-priority
//!   messages are delivered as IPIs are (from no vCPU), level-triggered ones with
//!   the APIC's TMR bit, so their EOI comes back to the I/O APIC (EOI broadcast),
//!   which clears remote IRR and sends again while the line is high. Other delivery
//!   modes are dropped. The lock order is the I/O APIC's, then an APIC's.
//! - The timer runs on the guest's TSC ([`ApicHw::guest_tsc`]: the physical TSC with
//!   the VM's offset); when a write changes its deadline the hypervisor's own timer
//!   is programmed for that vCPU ([`ApicHw::timer`]); when it fires, the backend calls
//!   [`Lapics::expire`].
//! - A pulse ([`IrqChip::pulse`]: a doorbell, on its GSI) is an edge on that I/O
//!   APIC pin, routed as the guest programmed the pin's redirection entry (masked
//!   until it does).
//! - Forwarded pins (`IoApic::forward`: a passed-through function's INTx): after an
//!   EOI or an I/O APIC write, each forwarded pin that an EOI ended or whose entry the
//!   guest wrote is told to the hypervisor ([`ApicHw::forwarded`]), outside the I/O
//!   APIC's lock, which unmasks or reprograms the host's pin.
//! - A direct-mode VM (LAPIC pass-through) has no emulated local APIC in use: what
//!   its I/O APIC sends goes to its own cores as physical fixed IPIs
//!   (`passthru::route` decides which; [`ApicHw::send_to_core`] sends).

use crate::adapt::APIC_BASE;
use route::Route;
use rtvisor_config::contract::x86_64::{virtual_apic_id, IOAPIC_ID, IOAPIC_PINS};
use rtvisor_config::contract::MAX_VCPUS;
use rtvisor_config::tables::VmConfig;
use rtvisor_core::handler::{Host, VmCtx};
use rtvisor_core::ids::{VcpuId, VmId};
use rtvisor_core::mmio::DeviceKind;
use rtvisor_core::seam::{IrqChip, Refused};
use rtvisor_core::sync::Mutex;
use rtvisor_vdev::ioapic::{IoApic, MAX_PINS};
use rtvisor_vdev::x2apic::{Effect, Mode, X2Apic};
use rtvisor_vdev::{MmioError, Width};

/// The hardware side of a VM's local APICs, which the hypervisor provides. Every
/// method concerns VM `vm`'s own vCPUs only.
pub trait ApicHw {
    /// The guest TSC of VM `vm` now.
    fn guest_tsc(&self, vm: VmId) -> u64;
    /// vCPU `vcpu` has an interrupt to take: it injects it before running guest code
    /// again (kicked if it runs on another CPU).
    fn pending(&self, vm: VmId, vcpu: VcpuId);
    /// Programs the hypervisor's timer of vCPU `vcpu` for guest TSC `at` (`None`:
    /// cancels it).
    fn timer(&self, vm: VmId, vcpu: VcpuId, at: Option<u64>);
    /// A direct-mode VM's vCPU `vcpu`: the APIC id of its core, which its guest reads
    /// as its own (`None`: no such vCPU).
    fn core_apic_id(&self, vm: VmId, vcpu: VcpuId) -> Option<u32>;
    /// A direct-mode VM: sends `vector` to the core of vCPU `vcpu` as a physical fixed
    /// IPI, which the guest takes through its own IDT and ends at its own APIC.
    fn send_to_core(&self, vm: VmId, vcpu: VcpuId, vector: u8);
    /// Forwarded I/O APIC pin `pin` of VM `vm` changed: the guest's EOI ended it
    /// (`ended`: its input was lowered), or the guest wrote its redirection entry,
    /// which is now `entry`. Nothing by default (no pin is forwarded).
    fn forwarded(&self, vm: VmId, pin: u32, entry: u64, ended: bool) {
        let _ = (vm, pin, entry, ended);
    }
}

/// What an access did to one APIC.
enum Done {
    Loaded(u64),
    Wrote(Effect),
}

/// One VM's local APICs and the hardware side.
#[derive(Debug)]
pub struct Lapics<W> {
    apics: [Mutex<X2Apic>; MAX_VCPUS],
    ioapic: Mutex<IoApic>,
    hw: W,
}

impl<W> Lapics<W> {
    /// Every APIC in reset state over hardware side `hw`.
    pub const fn new(hw: W) -> Self {
        let mut i = 0;
        let mut apics = [const { Mutex::new(X2Apic::new(0)) }; MAX_VCPUS];
        while i < MAX_VCPUS {
            apics[i] = Mutex::new(X2Apic::new(virtual_apic_id(i)));
            i += 1;
        }
        Self {
            apics,
            ioapic: Mutex::new(IoApic::new(IOAPIC_ID, IOAPIC_PINS as usize)),
            hw,
        }
    }

    /// The hardware side.
    pub fn hw(&self) -> &W {
        &self.hw
    }

    /// The APIC of vCPU `v`.
    pub fn apic(&self, v: VcpuId) -> Option<&Mutex<X2Apic>> {
        self.apics.get(v.index())
    }

    /// The vector vCPU `v` takes now, moved into service (the backend injects it).
    pub fn ack(&self, v: VcpuId) -> Option<u8> {
        self.apic(v)?.lock().ack()
    }

    /// The I/O APIC.
    pub fn ioapic(&self) -> &Mutex<IoApic> {
        &self.ioapic
    }
}

impl<W: ApicHw> Lapics<W> {
    /// The hypervisor's timer of vCPU `v` of VM `vm` fired: its APIC's timer expires
    /// (re-armed when periodic).
    pub fn expire(&self, vm: VmId, v: VcpuId) {
        let Some(apic) = self.apic(v) else {
            return;
        };
        let now = self.hw.guest_tsc(vm);
        let (next, pending) = {
            let mut a = apic.lock();
            let next = a.expire(now);
            (next, a.pending().is_some())
        };
        self.hw.timer(vm, v, next);
        if pending {
            self.hw.pending(vm, v);
        }
    }

    /// [`expire`](Self::expire) for the vCPU the calling CPU runs: whether a vector
    /// became pending is not asked, as the vCPU injects its pending vector before
    /// it runs guest code again anyway and has no other CPU to be kicked on.
    pub fn expire_here(&self, vm: VmId, v: VcpuId) {
        let Some(apic) = self.apic(v) else {
            return;
        };
        let now = self.hw.guest_tsc(vm);
        let next = apic.lock().expire(now);
        self.hw.timer(vm, v, next);
    }

    /// The TPR of vCPU `v` of VM `vm` (what CR8 reads, `cr::cr8_read`), after writing
    /// `write` to it first when given (a MOV to CR8, `cr::cr8_write`); a write that
    /// lets a held-back interrupt through tells the vCPU. `None`: no such vCPU. The
    /// same in every APIC mode (CR8 is not an APIC register).
    pub fn tpr(&self, vm: VmId, v: VcpuId, write: Option<u32>) -> Option<u32> {
        let apic = self.apic(v)?;
        let (tpr, pending) = {
            let mut a = apic.lock();
            if let Some(t) = write {
                a.set_tpr(t);
            }
            (a.tpr(), a.pending().is_some())
        };
        if pending && write.is_some() {
            self.hw.pending(vm, v);
        }
        Some(tpr)
    }

    /// The hardware retired `vector` at vCPU `me`'s EOI (VT-x's virtual-interrupt
    /// delivery, `X2Apic::hw_eoi`): a level-triggered vector's EOI reaches the I/O
    /// APIC as an EOI write's does.
    pub fn hw_eoi(&self, vm: &VmCtx<'_, Self>, me: VcpuId, vector: u8) {
        let Some(apic) = self.apic(me) else {
            return;
        };
        let e = apic.lock().hw_eoi(vector);
        self.effect(vm, me, e);
    }

    fn effect(&self, vm: &VmCtx<'_, Self>, me: VcpuId, e: Effect) {
        match e {
            Effect::None => {}
            Effect::Eoi(v) => {
                let mut io = self.ioapic.lock();
                io.eoi(v, &mut self.sink(vm));
                self.changes(vm.id, io);
            }
            Effect::Ipi(icr) => self.route(vm, Some(me), Route::of_icr(icr)),
            Effect::Timer(at) => self.hw.timer(vm.id, me, at),
        }
    }
}

impl<W: ApicHw> IrqChip for Lapics<W> {
    fn owns(kind: DeviceKind) -> bool {
        matches!(kind, DeviceKind::LocalApic | DeviceKind::IoApic)
    }

    fn mmio<H: Host>(
        &self,
        vm: &VmCtx<'_, Self>,
        _: &H,
        me: VcpuId,
        kind: DeviceKind,
        off: u64,
        w: Width,
        value: Option<u64>,
    ) -> Result<Option<u64>, Refused> {
        let done = match kind {
            DeviceKind::LocalApic => return self.page(vm, me, off, w, value),
            DeviceKind::IoApic => {
                let mut io = self.ioapic.lock();
                match value {
                    None => io.read(off, w).map(Some),
                    Some(v) => {
                        let done = io.write(off, w, v, &mut self.sink(vm)).map(|()| None);
                        self.changes(vm.id, io);
                        done
                    }
                }
            }
            _ => return Err(Refused),
        };
        policy(done, value)
    }

    fn register<H: Host>(
        &self,
        vm: &VmCtx<'_, Self>,
        _: &H,
        me: VcpuId,
        id: u32,
        value: Option<u64>,
    ) -> Result<Option<u64>, Refused> {
        let apic = self.apic(me).ok_or(Refused)?;
        if id == APIC_BASE {
            let mut a = apic.lock();
            return match value {
                None => Ok(Some(a.base(me.index() == 0))),
                Some(v) => a.set_base(v).map(|()| None).map_err(|_| Refused),
            };
        }
        let now = self.hw.guest_tsc(vm.id);
        let (done, pending) = {
            let mut a = apic.lock();
            let done = match value {
                None => a.read(id, now).map(Done::Loaded),
                Some(v) => a.write(id, v, now).map(Done::Wrote),
            };
            (done.map_err(|_| Refused)?, a.pending().is_some())
        };
        if pending {
            self.hw.pending(vm.id, me);
        }
        match done {
            Done::Loaded(v) => Ok(Some(v)),
            Done::Wrote(e) => {
                self.effect(vm, me, e);
                Ok(None)
            }
        }
    }

    fn set_level<H: Host>(
        &self,
        vm: &VmCtx<'_, Self>,
        _: &H,
        _: Option<VcpuId>,
        line: u32,
        level: bool,
    ) {
        self.ioapic.lock().set_line(line, level, &mut self.sink(vm));
    }

    /// An edge on I/O APIC pin `line` (a doorbell's GSI, or any other pin).
    fn pulse<H: Host>(&self, vm: &VmCtx<'_, Self>, _: &H, line: u32) {
        self.ioapic.lock().pulse(line, &mut self.sink(vm));
    }

    fn reset(&self, cfg: &VmConfig) {
        for (i, apic) in self.apics.iter().enumerate().take(cfg.cpus.len()) {
            *apic.lock() = X2Apic::new(virtual_apic_id(i));
        }
        self.ioapic.lock().reset(IOAPIC_ID);
    }
}

impl<W: ApicHw> Lapics<W> {
    /// Tells the hardware side of the forwarded pins the last I/O APIC operation
    /// changed, after `io`'s lock is dropped.
    fn changes(&self, vm: VmId, mut io: spin::mutex::MutexGuard<'_, IoApic>) {
        let (ended, written) = io.take_changes();
        let pins = ended | written;
        if pins == 0 {
            return;
        }
        let mut entries = [0u64; MAX_PINS];
        for (pin, e) in entries.iter_mut().enumerate() {
            if pins & (1 << pin) != 0 {
                *e = io.entry(pin).unwrap_or(0);
            }
        }
        drop(io);
        for (pin, &e) in entries.iter().enumerate() {
            if pins & (1 << pin) != 0 {
                self.hw
                    .forwarded(vm, pin as u32, e, ended & (1 << pin) != 0);
            }
        }
    }

    /// Drives forwarded pin `pin` of VM `vm`'s I/O APIC (see `IoApic::forward`): high
    /// while the host device asserts its line.
    pub fn forward_line(&self, vm: &VmCtx<'_, Self>, pin: u32, high: bool) {
        self.ioapic.lock().set_line(pin, high, &mut self.sink(vm));
    }

    /// An access of vCPU `me` to its xAPIC page.
    fn page(
        &self,
        vm: &VmCtx<'_, Self>,
        me: VcpuId,
        off: u64,
        w: Width,
        value: Option<u64>,
    ) -> Result<Option<u64>, Refused> {
        let apic = self.apic(me).ok_or(Refused)?;
        let now = self.hw.guest_tsc(vm.id);
        let (done, pending) = {
            let mut a = apic.lock();
            if a.apic_mode() != Mode::XApic {
                // Not the xAPIC: no page here.
                return Ok(value.is_none().then_some(w.mask()));
            }
            let done = match value {
                None => a.mmio_read(off, w, now).map(Done::Loaded),
                Some(v) => a.mmio_write(off, w, v, now).map(Done::Wrote),
            };
            (done, a.pending().is_some())
        };
        if pending {
            self.hw.pending(vm.id, me);
        }
        match done {
            Ok(Done::Wrote(e)) => {
                self.effect(vm, me, e);
                Ok(None)
            }
            Ok(Done::Loaded(v)) => Ok(Some(v)),
            Err(e) => policy(Err(e), value),
        }
    }
}

/// A register file's answer as the guest sees it: a missing register reads as zero
/// and ignores writes, so does a write to a read-only one; a width it does not take
/// is refused.
fn policy(r: Result<Option<u64>, MmioError>, value: Option<u64>) -> Result<Option<u64>, Refused> {
    match r {
        Ok(v) => Ok(v),
        Err(MmioError::BadWidth) => Err(Refused),
        Err(MmioError::NoRegister | MmioError::ReadOnly) => Ok(value.is_none().then_some(0)),
    }
}

mod route;
#[cfg(test)]
mod tests;
