//! Virtual-interrupt delivery on VT-x ("APICv") for a vCPU whose emulated APIC is in
//! x2APIC mode: the guest's IRR, ISR and TPR live in its virtual-APIC page
//! (`vapic.rs`), the CPU delivers a requested vector when the guest can take it and
//! retires it at the guest's EOI without an exit (only a level-triggered vector's EOI
//! exits, for its source), and the guest reads TPR, PPR, ISR, TMR and IRR and writes
//! TPR, EOI and SELF IPI without one. The model (`rtvisor_vdev::x2apic`) hands its
//! vectors over when it starts and posts each new one before an entry
//! (`Engine::hw_apic`). Outside x2APIC mode the model does all of it, as without
//! APICv: injection at the interrupt window, CR8 exits to the model's TPR.

use super::engine::VmxVcpu;
use super::fields::*;
use super::vapic::{self, VapicPage};
use super::vmcs::{vmread, vmwrite};
use rtvisor_addr::Hpa;
use rtvisor_vdev::x2apic::{HwVectors, Mode, Vectors, X2Apic};

/// What a vCPU's virtual-interrupt delivery needs.
pub struct Apicv {
    page: &'static mut VapicPage,
    /// The MSR bitmap without and with the x2APIC's passes (`vapic::READS`,
    /// `vapic::WRITES`).
    plain: Hpa,
    with: Hpa,
    /// The EOI-exit bitmap as last written.
    eoi_exit: [u64; 4],
    /// The controls are on (the model is in x2APIC mode).
    on: bool,
}

/// The secondary controls APICv turns on.
pub(super) const PROC2_APICV: u32 =
    proc2::VIRTUALIZE_X2APIC | proc2::APIC_REGISTERS | proc2::VIRTUAL_INTERRUPTS;

impl Apicv {
    /// For `page` (zeroed here) and the two MSR bitmaps.
    pub fn new(page: &'static mut VapicPage, plain: Hpa, with: Hpa) -> Self {
        page.0.fill(0);
        Self {
            page,
            plain,
            with,
            eoi_exit: [0; 4],
            on: false,
        }
    }

    /// The page's physical address (identity-mapped).
    pub(super) fn page_pa(&self) -> u64 {
        &*self.page as *const VapicPage as u64
    }
}

fn write_eoi_exits(b: &[u64; 4]) {
    for (i, w) in b.iter().enumerate() {
        let _ = vmwrite(EOI_EXIT_BITMAP0 + 2 * i as u32, *w);
    }
}

impl VmxVcpu {
    /// Before an entry (`Engine::hw_apic`): turns virtual-interrupt delivery on or
    /// off as the guest's APIC `a` is in x2APIC mode or not (the model hands its
    /// vectors over when it goes on), then requests what `a` posted since the last
    /// entry. Returns whether the CPU delivers; `false` without the feature, outside
    /// x2APIC mode, or when the controls could not be written.
    pub fn apicv_deliver(&mut self, a: &mut X2Apic) -> bool {
        let Some(on) = self.apicv.as_ref().map(|v| v.on) else {
            return false;
        };
        let want = a.apic_mode() == Mode::X2Apic;
        if want && !on {
            let hw = a.hand_over();
            if !self.apicv_start(&hw) {
                // The controls could not be written: the model takes its vectors back.
                a.take_back(&hw);
                return false;
            }
        } else if !want && on {
            self.apicv_stop();
        }
        if want {
            if let Some((irr, level)) = a.take_posted() {
                self.apicv_post(&irr, &level);
            }
        }
        want
    }

    /// Turns it on with the vectors the model hands over: the page, the guest
    /// interrupt status, the EOI-exit bitmap, the controls (CR8 no longer exits: it
    /// is the page's TPR; no interrupt-window exit is left asked for, which would
    /// hold back every virtual interrupt) and, only once the controls are in, the
    /// bitmap with the x2APIC's passes (without "virtualize x2APIC mode" those MSRs
    /// would be the host's). Returns whether it is on; when a VMWRITE fails the
    /// vCPU keeps the model's delivery for good.
    fn apicv_start(&mut self, hw: &HwVectors) -> bool {
        let Some(a) = self.apicv.as_mut() else {
            return false;
        };
        let status = a.page.load(hw);
        a.eoi_exit = vapic::eoi_exits_of(hw);
        write_eoi_exits(&a.eoi_exit);
        let off = proc::CR8_LOAD | proc::CR8_STORE | proc::INTERRUPT_WINDOW;
        let procs = vmread(PROC_CONTROLS) & !u64::from(off);
        let with = a.with.raw();
        let done = vmwrite(GUEST_INTR_STATUS, u64::from(status))
            .and_then(|()| vmwrite(PROC_CONTROLS, procs))
            .and_then(|()| {
                vmwrite(
                    PROC_CONTROLS2,
                    vmread(PROC_CONTROLS2) | u64::from(PROC2_APICV),
                )
            })
            .and_then(|()| vmwrite(MSR_BITMAP, with));
        if done.is_err() {
            self.apicv_stop();
            self.apicv = None;
            return false;
        }
        a.on = true;
        true
    }

    /// Turns it off (the model left x2APIC mode, which dropped every vector): every
    /// x2APIC MSR exits again (first), the page emptied, CR8 exits again.
    fn apicv_stop(&mut self) {
        let Some(a) = self.apicv.as_mut() else {
            return;
        };
        let _ = vmwrite(MSR_BITMAP, a.plain.raw());
        a.page.0.fill(0);
        a.eoi_exit = [0; 4];
        write_eoi_exits(&a.eoi_exit);
        let _ = vmwrite(GUEST_INTR_STATUS, 0);
        let procs = vmread(PROC_CONTROLS) | u64::from(proc::CR8_LOAD | proc::CR8_STORE);
        let _ = vmwrite(PROC_CONTROLS, procs);
        let _ = vmwrite(
            PROC_CONTROLS2,
            vmread(PROC_CONTROLS2) & !u64::from(PROC2_APICV),
        );
        a.on = false;
    }

    /// Requests the vectors the model posted (`level`: the level-triggered ones,
    /// whose EOI exits); the CPU delivers them from the next entry on.
    fn apicv_post(&mut self, irr: &Vectors, level: &Vectors) {
        let Some(a) = self.apicv.as_mut() else {
            return;
        };
        let status = vmread(GUEST_INTR_STATUS) as u16;
        let _ = vmwrite(
            GUEST_INTR_STATUS,
            u64::from(a.page.post(irr, level, status)),
        );
        if let Some(b) = vapic::eoi_exits(a.eoi_exit, irr, level) {
            a.eoi_exit = b;
            write_eoi_exits(&b);
        }
    }

    /// Whether the CPU would deliver a requested vector to the guest now, if it can
    /// take one (a HLT then does not sleep).
    pub fn apicv_wakes(&self) -> bool {
        self.apicv
            .as_ref()
            .is_some_and(|a| a.on && a.page.deliverable(vmread(GUEST_INTR_STATUS) as u16))
    }
}
